//! No input makes loading panic: it returns a config or problems.

use efm_config::{SourceText, Sources, load, render};
use proptest::prelude::*;

/// Pieces of real syntax, so that generated files get past the first parse error.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("listen = ".to_owned()),
        Just("[dpo]\n".to_owned()),
        Just("[keystore]\npath = \"k\"\n".to_owned()),
        Just("enabled = true\n".to_owned()),
        Just("difi.move.org.number=".to_owned()),
        Just("server.port:".to_owned()),
        Just("difi.move.nextmove.serviceBus.baseUrl=".to_owned()),
        Just("difi.move.nextmove.serviceBus.useHttps=".to_owned()),
        Just("[retry]\ncap = \"1s\"\n".to_owned()),
        Just("\\u00".to_owned()),
        Just("\\\n".to_owned()),
        Just("${".to_owned()),
        Just("\"".to_owned()),
        Just("=".to_owned()),
        Just("\n".to_owned()),
        "[a-zA-Z0-9_.:=\\[\\]\" -]{0,12}",
        any::<String>(),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..24).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn loading_never_panics(toml in text(), props in text(), value in any::<String>(), name in "EFM_[A-Z_]{0,16}") {
        let sources = Sources {
            toml: Some(SourceText { path: "efm.toml".into(), text: toml }),
            properties: Some(SourceText { path: "ip.properties".into(), text: props }),
            env: vec![(name, value.clone()), ("EFM_LISTEN".into(), value.clone()), ("EFM_POLL_INTERVAL".into(), value.clone()), ("EFM_ENABLE".into(), value)],
        };
        match load(&sources) {
            Ok(loaded) => { let _ = render(&loaded.config, Some(&loaded.origins)); }
            Err(problems) => prop_assert!(!problems.errors.is_empty()),
        }
    }
}
