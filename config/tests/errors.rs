//! Every kind of configuration error, with its exact message, and many at once.

use efm_config::{Problems, SourceText, Sources, load, load_files};

fn toml(text: &str) -> Sources {
    Sources {
        toml: Some(SourceText { path: "efm.toml".into(), text: text.into() }),
        ..Sources::default()
    }
}

fn env(pairs: &[(&str, &str)]) -> Sources {
    Sources {
        env: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Sources::default()
    }
}

fn problems(sources: &Sources) -> Problems {
    match load(sources) {
        Ok(loaded) => panic!("expected errors, got {:?}", loaded.config),
        Err(p) => p,
    }
}

/// The error lines, as the CLI prints them.
fn lines(sources: &Sources) -> Vec<String> {
    problems(sources).errors.iter().map(ToString::to_string).collect()
}

fn one(sources: &Sources) -> String {
    let mut all = lines(sources);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

#[test]
fn bad_values_name_file_line_key_value_and_expectation() {
    let cases = [
        (
            "\nlisten = \"localhost:99999\"",
            "efm.toml:2: listen = \"localhost:99999\": expected an address like 127.0.0.1:9093 (port out of range)",
        ),
        (
            "listen = \"example.no:80\"",
            "efm.toml:1: listen = \"example.no:80\": expected an address like 127.0.0.1:9093 (the host must be an IP address or localhost)",
        ),
        ("org = 910076787", "efm.toml:1: org = 910076787: expected a string, not an integer"),
        (
            "org = \"91007678\"",
            "efm.toml:1: org = \"91007678\": expected a nine-digit organisation number like 910076787 (8 digits)",
        ),
        (
            "org = \"91007678X\"",
            "efm.toml:1: org = \"91007678X\": expected a nine-digit organisation number like 910076787 (digits only)",
        ),
        (
            "registry_url = \"test.eformidling.no\"",
            "efm.toml:1: registry_url = \"test.eformidling.no\": expected an http(s) URL like https://example.no/path (no scheme)",
        ),
        ("data_dir = \"\"", "efm.toml:1: data_dir = \"\": expected a non-empty string"),
        (
            "[messages]\nttl_hours = 0",
            "efm.toml:2: messages.ttl_hours = 0: expected a whole number from 1 to 87600",
        ),
        (
            "[messages]\nlock_timeout = 5",
            "efm.toml:2: messages.lock_timeout = 5: expected a duration like 30s (units ms, s, m, h, d), as a string with a unit",
        ),
        (
            "[messages]\nlock_timeout = \"5 minutes\"",
            "efm.toml:2: messages.lock_timeout = \"5 minutes\": expected a duration like 30s (units ms, s, m, h, d) (unknown unit minutes)",
        ),
        (
            "[messages]\nstatus_services = [\"DPO\", \"DPX\"]",
            "efm.toml:2: messages.status_services = [\"DPO\", \"DPX\"]: expected a list of services from DPO, DPV, DPF, DPE, DPI, DPH (unknown service DPX)",
        ),
        ("[dpo]\nenabled = \"yes\"", "efm.toml:2: dpo.enabled = \"yes\": expected true or false"),
        (
            "[dpv]\nupload_size_limit = \"1PB\"",
            "efm.toml:2: dpv.upload_size_limit = \"1PB\": expected a size like 250MB (units B, KB, MB, GB, TB) (unknown unit PB)",
        ),
        (
            "[dpo]\nmessage_channel = \"no spaces please\"",
            "efm.toml:2: dpo.message_channel = \"no spaces please\": expected 1 to 25 characters from A-Z, a-z, 0-9, - and _ (other characters)",
        ),
        (
            "[mail]\nsmtp_port = 70000",
            "efm.toml:2: mail.smtp_port = 70000: expected a port from 1 to 65535 (port out of range)",
        ),
        (
            "[mail]\nsender = \"nobody\"",
            "efm.toml:2: mail.sender = \"nobody\": expected an e-mail address like efm@example.no",
        ),
        (
            "[api]\nuser = \"a:b\"",
            "efm.toml:2: api.user = \"a:b\": expected a user name (no colon allowed in HTTP Basic)",
        ),
        (
            "[status_polling]\npage_size = 1.5",
            "efm.toml:2: status_polling.page_size = 1.5: expected a whole number from 1 to 100000",
        ),
        ("keystore = \"x.p12\"", "efm.toml:1: keystore = \"x.p12\": expected a table [keystore]"),
    ];
    for (text, want) in cases {
        assert_eq!(one(&toml(text)), want, "for {text:?}");
    }
}

#[test]
fn bad_environment_values_name_the_variable() {
    assert_eq!(
        one(&env(&[("EFM_LISTEN", "localhost:99999")])),
        "environment: EFM_LISTEN = \"localhost:99999\": expected an address like 127.0.0.1:9093 (port out of range)"
    );
    assert_eq!(
        one(&env(&[("EFM_ENABLE", "DPO,FIKSIO")])),
        "environment: EFM_ENABLE = \"DPO,FIKSIO\": expected a list of services from DPO, DPV, DPF, DPE, DPI, DPH (unknown service FIKSIO)"
    );
    assert_eq!(
        one(&env(&[("EFM_API_AUTH", "nope")])),
        "environment: EFM_API_AUTH = \"nope\": expected true or false"
    );
}

#[test]
fn unknown_keys_suggest_the_closest_known_one() {
    assert_eq!(
        one(&toml("lisen = \"127.0.0.1:1\"")),
        "efm.toml:1: unknown key lisen (did you mean listen?)"
    );
    assert_eq!(
        lines(&toml("[keystore]\npath = \"a\"\npasword = \"b\"")),
        [
            "efm.toml:3: unknown key keystore.pasword (did you mean keystore.password?)",
            "efm.toml:2: keystore.path is set but keystore.password (EFM_KEYSTORE_PASSWORD) is not (a keystore needs its path and its password)",
        ]
    );
    assert_eq!(
        one(&toml("[dpo]\nttl = 4")),
        "efm.toml:2: unknown key dpo.ttl (did you mean dpo.ttl_hours?)"
    );
    assert_eq!(one(&toml("frobnicate = 1")), "efm.toml:1: unknown key frobnicate");
    // An unknown table is one error, not one per key inside it.
    assert_eq!(
        one(&toml("[keystor]\npath = \"a\"\npassword = \"b\"")),
        "efm.toml:1: unknown key keystor (did you mean keystore?)"
    );
    assert_eq!(
        one(&toml("[dpv]\npolling_interval = \"1m\"")),
        "efm.toml:2: unknown key dpv.polling_interval"
    );
    assert_eq!(one(&toml("[dpo.extra]\nx = 1")), "efm.toml:1: unknown key dpo.extra");
}

#[test]
fn settings_that_go_together() {
    assert_eq!(
        one(&toml("[keystore]\npath = \"k.p12\"")),
        "efm.toml:2: keystore.path is set but keystore.password (EFM_KEYSTORE_PASSWORD) is not (a keystore needs its path and its password)"
    );
    assert_eq!(
        one(&env(&[("EFM_KEYSTORE_PASSWORD", "pw")])),
        "environment: EFM_KEYSTORE_PASSWORD is set but keystore.path (EFM_KEYSTORE) is not (a keystore needs its path and its password)"
    );
    assert_eq!(
        one(&env(&[("EFM_KEYSTORE_ALIAS", "a")])),
        "environment: EFM_KEYSTORE_ALIAS is set but keystore.path (EFM_KEYSTORE) is not (a keystore needs its path and its password)"
    );
    assert_eq!(
        one(&toml("[tls]\nkey = \"k.pem\"")),
        "efm.toml:2: tls.key is set but tls.cert (EFM_TLS_CERT) is not (TLS needs a certificate and its key)"
    );
    assert_eq!(
        lines(&toml("[mail]\nenabled = true\nsmtp_host = \"smtp.example.no\"\nusername = \"u\"")),
        [
            "efm.toml:2: mail.enabled is set but mail.sender (EFM_MAIL_SENDER) is not (mail on errors needs a server, a sender and a receiver)",
            "efm.toml:2: mail.enabled is set but mail.receiver (EFM_MAIL_RECEIVER) is not (mail on errors needs a server, a sender and a receiver)",
            "efm.toml:4: mail.username is set but mail.password (EFM_MAIL_PASSWORD) is not (SMTP login needs a user name and a password)",
        ]
    );
    // The SvarInn mail needs the same server; a login asked for needs both halves.
    assert_eq!(
        lines(&env(&[
            ("EFM_MAIL_SVARINN_ON_ERROR", "true"),
            ("EFM_MAIL_SMTP_HOST", "smtp.example.no"),
            ("EFM_MAIL_SENDER", "efm@example.no"),
            ("EFM_MAIL_AUTH", "true"),
            ("EFM_MAIL_USERNAME", "u"),
        ])),
        [
            "environment: EFM_MAIL_SVARINN_ON_ERROR is set but mail.receiver (EFM_MAIL_RECEIVER) is not (mail on errors needs a server, a sender and a receiver)",
            "environment: EFM_MAIL_AUTH is set but mail.password (EFM_MAIL_PASSWORD) is not (SMTP login needs a user name and a password)",
        ]
    );
    assert_eq!(
        one(&env(&[("EFM_MAIL_STARTTLS", "sometimes")])),
        "environment: EFM_MAIL_STARTTLS = \"sometimes\": expected opportunistic, required or off"
    );
    assert_eq!(
        lines(&env(&[("EFM_ENABLE", "DPE")])),
        [
            "environment: EFM_ENABLE is set but org (EFM_ORG) is not (enabled services act for our organisation with its business certificate)",
            "environment: EFM_ENABLE is set but keystore.path (EFM_KEYSTORE) is not (enabled services act for our organisation with its business certificate)",
        ]
    );
}

#[test]
fn syntax_errors_have_their_line() {
    let line = one(&toml("listen = \"127.0.0.1:1\"\norg = \"unterminated\n"));
    assert!(line.starts_with("efm.toml:2: not valid TOML: "), "{line}");
}

#[test]
fn unreadable_files_are_reported_with_the_other_problems() {
    let problems = load_files(
        Some(std::path::Path::new("/nonexistent/efm.toml")),
        None,
        [("EFM_ORG".to_owned(), "12".to_owned())],
    )
    .unwrap_err();
    let shown: Vec<String> = problems.errors.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert!(shown[0].starts_with("/nonexistent/efm.toml: cannot read the file ("), "{}", shown[0]);
    assert_eq!(
        shown[1],
        "environment: EFM_ORG = \"12\": expected a nine-digit organisation number like 910076787 (2 digits)"
    );
}

/// A bad `org` is reported once: not again as missing for the enabled DPO.
#[test]
fn every_problem_is_reported_at_once() {
    let sources = Sources {
        toml: Some(SourceText {
            path: "/etc/efm/efm.toml".into(),
            text: "listen = \"localhost:99999\"\norg = \"12345\"\ndata_dri = \"/x\"\n\n[dpo]\nenabled = true\nupload_size_limit = \"0MB\"\n\n[tls]\ncert = \"c.pem\"\n".into(),
        }),
        properties: Some(SourceText {
            path: "integrasjonspunkt-local.properties".into(),
            text: "difi.move.nextmove.lockTimeoutMinutes=five\nsome.unknown.key=1\n".into(),
        }),
        env: vec![("EFM_REGISTRY_URL".into(), "ftp://sr".into())],
    };
    let problems = problems(&sources);
    let want = "\
8 configuration errors:
integrasjonspunkt-local.properties:1: difi.move.nextmove.lockTimeoutMinutes = \"five\": expected a whole number of minutes
/etc/efm/efm.toml:1: listen = \"localhost:99999\": expected an address like 127.0.0.1:9093 (port out of range)
/etc/efm/efm.toml:2: org = \"12345\": expected a nine-digit organisation number like 910076787 (5 digits)
/etc/efm/efm.toml:3: unknown key data_dri (did you mean data_dir?)
/etc/efm/efm.toml:7: dpo.upload_size_limit = \"0MB\": expected a size like 250MB (units B, KB, MB, GB, TB) (must be more than zero)
environment: EFM_REGISTRY_URL = \"ftp://sr\": expected an http(s) URL like https://example.no/path (scheme ftp)
/etc/efm/efm.toml:10: tls.cert is set but tls.key (EFM_TLS_KEY) is not (TLS needs a certificate and its key)
/etc/efm/efm.toml:6: dpo.enabled is set but keystore.path (EFM_KEYSTORE) is not (enabled services act for our organisation with its business certificate)
warning: integrasjonspunkt-local.properties: ignored 1 setting that efm does not support: some.unknown.key
";
    assert_eq!(problems.to_string(), want);
}

#[test]
fn passwords_are_not_shown_in_errors() {
    assert_eq!(
        one(&toml("[api]\npassword = 12345")),
        "efm.toml:2: api.password = \"****\": expected a string, not an integer"
    );
    assert_eq!(
        one(&toml("[keystore]\npath = \"k.p12\"\npassword = \"\"")).split(": expected").next(),
        Some("efm.toml:3: keystore.password = \"\"")
    );
}

#[test]
fn tables_where_values_belong() {
    assert_eq!(
        one(&toml("[keystore.path]\nx = 1")),
        "efm.toml:1: keystore.path = {...}: expected a string, not a table"
    );
    assert_eq!(
        one(&toml("[[dpo]]\nenabled = true")),
        "efm.toml:1: dpo = [{...}]: expected a table [dpo]"
    );
    assert_eq!(
        one(&toml("[api]\nauth = { on = true }")),
        "efm.toml:2: api.auth = {...}: expected true or false"
    );
}

#[test]
fn files_named_by_the_configuration_must_exist() {
    let dir = std::env::temp_dir().join(format!("efm-config-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml_path = dir.join("efm.toml");
    let present = dir.join("present.pem");
    std::fs::write(&present, "x").unwrap();
    let text = format!(
        "data_dir = {:?}\n[keystore]\npath = \"/nonexistent/k.p12\"\npassword = \"pw\"\n[tls]\ncert = {:?}\nkey = {:?}\n",
        present.display().to_string(),
        present.display().to_string(),
        dir.display().to_string(),
    );
    std::fs::write(&toml_path, text).unwrap();
    let problems = load_files(Some(&toml_path), None, Vec::new()).unwrap_err();
    let t = toml_path.display();
    let shown: Vec<String> = problems.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            format!(
                "{t}:3: keystore.path = \"/nonexistent/k.p12\": expected a readable file (No such file or directory (os error 2))"
            ),
            format!(
                "{t}:7: tls.key = {:?}: expected a readable file (not a file)",
                dir.display().to_string()
            ),
            format!(
                "{t}:1: data_dir = {:?}: expected a folder (it is a file)",
                present.display().to_string()
            ),
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
