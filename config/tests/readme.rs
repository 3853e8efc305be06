//! The efm.toml block in README.md is the defaults, and every variable it lists exists.

use efm_config::{Config, ENV_ENABLE, ENV_POLL_INTERVAL, ENV_VARS, SourceText, Sources, load};

const README: &str = include_str!("../README.md");

#[test]
fn the_documented_defaults_are_the_defaults() {
    let start = README.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + README[start..].find("```").expect("its end");
    let loaded = load(&Sources {
        toml: Some(SourceText { path: "README.md".into(), text: README[start..end].into() }),
        ..Sources::default()
    })
    .unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(loaded.config, Config::default());
}

#[test]
fn every_variable_is_documented() {
    for (var, key) in ENV_VARS {
        assert!(
            README.contains(&format!("`{var}`")) || README.contains(var),
            "{var} ({key}) is not in README.md"
        );
    }
    assert!(README.contains(ENV_ENABLE));
    assert!(README.contains(ENV_POLL_INTERVAL));
}
