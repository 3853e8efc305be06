//! Defaults, the TOML file, and the environment over the file.

use std::net::SocketAddr;
use std::path::PathBuf;

use efm_config::{
    ApiAuth, ByteSize, Config, Interval, Keystore, Mail, Secret, Service, ServiceSet, SourceText,
    Sources, load, render,
};

fn toml(text: &str) -> Option<SourceText> {
    Some(SourceText { path: "efm.toml".into(), text: text.into() })
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn ok(sources: &Sources) -> Config {
    match load(sources) {
        Ok(loaded) => {
            assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
            loaded.config
        }
        Err(problems) => panic!("{problems}"),
    }
}

#[test]
fn defaults_start_on_loopback_with_nothing_enabled() {
    let c = ok(&Sources::default());
    assert_eq!(c, Config::default());
    assert_eq!(c.listen, "127.0.0.1:9093".parse::<SocketAddr>().unwrap());
    assert_eq!(c.data_dir, PathBuf::from("./efm-data"));
    assert_eq!(c.org, None);
    assert_eq!(c.keystore, None);
    assert_eq!(c.registry_url.as_str(), "https://test.eformidling.no/adressetjeneste");
    assert_eq!(c.api_auth, ApiAuth::GeneratePassword { user: "user".into() });
    assert_eq!(c.tls, None);
    assert!(c.services.enabled().is_empty());
    assert_eq!(c.mail, Mail::off());
    assert!(!c.mail.on_feil && !c.mail.svarinn_on_error && c.mail.smtp.is_none());
    assert_eq!(c.messages.lock_timeout, Interval::mins(5));
    assert_eq!(c.messages.status_services, ServiceSet::of(&[Service::Dpo, Service::Dpe]));
    assert!(c.messages.status_queue_includes.is_empty());
    assert_eq!(c.services.dpo_message_channel, None);
    let limits: Vec<String> =
        Service::ALL.iter().map(|s| c.services.get(*s).upload_size_limit.to_string()).collect();
    assert_eq!(limits, ["1GB", "250MB", "1GB", "2MB", "50MB", "18MB"]);
    let polls: Vec<Option<String>> = Service::ALL
        .iter()
        .map(|s| c.services.get(*s).polling_interval.map(|i| i.to_string()))
        .collect();
    let want = [Some("15s"), None, Some("15m"), Some("20s"), Some("10s"), Some("30s")];
    assert_eq!(polls, want.map(|w| w.map(str::to_owned)));
    for s in Service::ALL {
        assert_eq!(c.ttl_hours(s).get(), 24);
    }
}

/// The defaults are valid input: rendering them and reading the text back gives them again.
#[test]
fn rendered_defaults_read_back() {
    let text = render(&Config::default(), None);
    let back = ok(&Sources { toml: toml(&text), ..Sources::default() });
    assert_eq!(back, Config::default());
}

const FULL: &str = r#"
listen = "0.0.0.0:8443"
data_dir = "/var/lib/efm"
org = "910076787"
registry_url = "http://127.0.0.1:9099/sr"

[keystore]
path = "/etc/efm/business.p12"
alias = "business"
password = "changeit"

[api]
user = "fagsystem"
password = "s3cret"

[tls]
cert = "/etc/efm/tls.crt"
key = "/etc/efm/tls.key"

[messages]
ttl_hours = 48
lock_timeout = "2m"
ttl_check_interval = "10s"
status_services = ["DPO"]
status_queue_includes = ["dpi", "DPE"]

[status_polling]
interval = "30s"
page_size = 500
backoff_threshold_days = 10
backoff_max_interval = "2h"

[webhooks]
connect_timeout = "3s"
read_timeout = "1500ms"

[mail]
enabled = true
smtp_host = "smtp.example.no"
smtp_port = 2525
sender = "efm@example.no"
receiver = "drift@example.no"
username = "efm"
password = "mailpw"

[dpo]
enabled = true
ttl_hours = 12
upload_size_limit = "512MB"
polling_interval = "5s"
message_channel = "arkiv-1"

[dpe]
enabled = true
upload_size_limit = 4194304
"#;

#[test]
fn a_full_toml_file() {
    let c = ok(&Sources { toml: toml(FULL), ..Sources::default() });
    assert_eq!(c.listen.to_string(), "0.0.0.0:8443");
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/efm"));
    assert_eq!(c.org.as_ref().map(|o| o.as_str()), Some("910076787"));
    assert_eq!(c.registry_url.as_str(), "http://127.0.0.1:9099/sr");
    assert_eq!(
        c.keystore,
        Some(Keystore {
            path: "/etc/efm/business.p12".into(),
            alias: Some("business".into()),
            password: Secret::new("changeit"),
        })
    );
    assert_eq!(
        c.api_auth,
        ApiAuth::Basic { user: "fagsystem".into(), password: Secret::new("s3cret") }
    );
    assert_eq!(c.tls.as_ref().map(|t| t.key.clone()), Some("/etc/efm/tls.key".into()));
    assert_eq!(c.messages.default_ttl_hours.get(), 48);
    assert_eq!(c.messages.lock_timeout, Interval::mins(2));
    assert_eq!(c.messages.status_services.to_string(), "DPO");
    assert_eq!(c.messages.status_queue_includes.to_string(), "DPE,DPI");
    assert_eq!(c.status_polling.page_size.get(), 500);
    assert_eq!(c.status_polling.backoff_max_interval, Interval::mins(120));
    assert_eq!(c.webhooks.read_timeout.millis(), 1500);
    assert!(c.mail.on_feil && !c.mail.svarinn_on_error);
    let Some(smtp) = &c.mail.smtp else { panic!("no mail server") };
    assert_eq!(smtp.starttls, efm_config::StartTls::Opportunistic);
    assert_eq!((smtp.host.as_str(), smtp.port), ("smtp.example.no", 2525));
    assert_eq!(smtp.auth.as_ref().map(|a| a.password.expose()), Some("mailpw"));
    assert_eq!(c.services.enabled().to_string(), "DPO,DPE");
    assert_eq!(c.ttl_hours(Service::Dpo).get(), 12);
    assert_eq!(c.ttl_hours(Service::Dpe).get(), 48, "inherits messages.ttl_hours");
    assert_eq!(c.services.get(Service::Dpo).upload_size_limit, ByteSize::mib(512));
    assert_eq!(c.services.get(Service::Dpe).upload_size_limit, ByteSize::mib(4));
    assert_eq!(c.services.get(Service::Dpo).polling_interval, Some(Interval::secs(5)));
    assert_eq!(c.services.dpo_message_channel.as_ref().map(|m| m.as_str()), Some("arkiv-1"));
}

#[test]
fn rendering_masks_secrets_and_reads_back() {
    let c = ok(&Sources { toml: toml(FULL), ..Sources::default() });
    let text = render(&c, None);
    for secret in ["changeit", "s3cret", "mailpw"] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
    assert!(text.contains("password = \"****\""));
    assert!(!format!("{c:?}").contains("changeit"));
    let back = ok(&Sources { toml: toml(&text), ..Sources::default() });
    assert_eq!(back.services, c.services);
    assert_eq!(back.messages, c.messages);
    assert_eq!(back.listen, c.listen);
}

#[test]
fn environment_overrides_the_file() {
    let c = ok(&Sources {
        toml: toml(FULL),
        env: env(&[
            ("EFM_LISTEN", "127.0.0.1:0"),
            ("EFM_DATA_DIR", "/tmp/efm-test"),
            ("EFM_ORG", "991825827"),
            ("EFM_KEYSTORE", "/tmp/k.p12"),
            ("EFM_KEYSTORE_PASSWORD", "envpw"),
            ("EFM_KEYSTORE_ALIAS", "other"),
            ("EFM_REGISTRY_URL", "http://localhost:8080"),
            ("EFM_API_USER", "harness"),
            ("EFM_API_PASSWORD", "pw2"),
            ("EFM_ENABLE", " dpv, DPI "),
            ("PATH", "/usr/bin"),
        ]),
        ..Sources::default()
    });
    assert_eq!(c.listen.to_string(), "127.0.0.1:0");
    assert_eq!(c.data_dir, PathBuf::from("/tmp/efm-test"));
    assert_eq!(c.org.as_ref().map(|o| o.as_str()), Some("991825827"));
    let k = c.keystore.as_ref().unwrap();
    assert_eq!(
        (k.path.to_str(), k.alias.as_deref(), k.password.expose()),
        (Some("/tmp/k.p12"), Some("other"), "envpw")
    );
    assert_eq!(c.registry_url.as_str(), "http://localhost:8080");
    assert_eq!(c.api_auth, ApiAuth::Basic { user: "harness".into(), password: Secret::new("pw2") });
    assert_eq!(c.services.enabled().to_string(), "DPV,DPI", "EFM_ENABLE replaces the file's set");
    // Settings the environment does not name keep the file's value.
    assert_eq!(c.services.get(Service::Dpo).upload_size_limit, ByteSize::mib(512));
}

#[test]
fn empty_enable_turns_every_service_off_and_auth_can_be_off() {
    let c = ok(&Sources {
        toml: toml("[dpo]\nenabled = true\n"),
        env: env(&[("EFM_ENABLE", ""), ("EFM_API_AUTH", "false"), ("EFM_API_PASSWORD", "ignored")]),
        ..Sources::default()
    });
    assert!(c.services.enabled().is_empty());
    assert_eq!(c.api_auth, ApiAuth::Off);
}

#[test]
fn a_password_alone_keeps_the_default_user() {
    let c = ok(&Sources { env: env(&[("EFM_API_PASSWORD", "pw")]), ..Sources::default() });
    assert_eq!(c.api_auth, ApiAuth::Basic { user: "user".into(), password: Secret::new("pw") });
}

#[test]
fn localhost_and_file_prefixes() {
    let c = ok(&Sources {
        toml: toml(
            "listen = \"localhost:9100\"\n[keystore]\npath = \"file:crt/ks.p12\"\npassword = \"x\"\n",
        ),
        ..Sources::default()
    });
    assert_eq!(c.listen.to_string(), "127.0.0.1:9100");
    assert_eq!(c.keystore.unwrap().path, PathBuf::from("crt/ks.p12"));
}

#[test]
fn unknown_efm_variables_are_warnings_with_a_suggestion() {
    let loaded = load(&Sources {
        env: env(&[("EFM_LISTN", "127.0.0.1:1"), ("EFM_LOG", "debug"), ("EFM_WHATEVER", "1")]),
        ..Sources::default()
    })
    .unwrap();
    let shown: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "environment: unknown variable EFM_LISTN (did you mean EFM_LISTEN?)",
            "environment: unknown variable EFM_WHATEVER",
        ]
    );
}

#[test]
fn origins_say_where_each_setting_came_from() {
    let mut sources = Sources {
        toml: toml("listen = \"127.0.0.1:1\"\n[dpo]\nupload_size_limit = \"1MB\"\n"),
        env: env(&[("EFM_LISTEN", "127.0.0.1:2"), ("EFM_ENABLE", "")]),
        ..Sources::default()
    };
    sources.properties = Some(SourceText {
        path: "local.properties".into(),
        text: "difi.move.nextmove.lockTimeoutMinutes=7\n".into(),
    });
    let loaded = load(&sources).unwrap();
    let o = &loaded.origins;
    let shown = |k: &str| o.get(k).map(ToString::to_string);
    assert_eq!(shown("listen").as_deref(), Some("environment EFM_LISTEN"));
    assert_eq!(shown("dpo.upload_size_limit").as_deref(), Some("efm.toml:3 dpo.upload_size_limit"));
    assert_eq!(
        shown("messages.lock_timeout").as_deref(),
        Some("local.properties:1 difi.move.nextmove.lockTimeoutMinutes")
    );
    assert_eq!(shown("dph.enabled").as_deref(), Some("environment EFM_ENABLE"));
    assert_eq!(shown("data_dir"), None, "a default");
    let text = render(&loaded.config, Some(o));
    assert!(text.contains("listen = \"127.0.0.1:2\"  # environment EFM_LISTEN\n"), "{text}");
    assert!(text.contains("\n[dpo]\nenabled = false  # environment EFM_ENABLE\n"), "{text}");
    assert!(text.contains("data_dir = \"./efm-data\"\n"), "{text}");
}
