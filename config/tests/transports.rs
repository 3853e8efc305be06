//! The settings of the DPO, DPV and DPE transports, Maskinporten and send retries, from
//! every layer, and `EFM_POLL_INTERVAL`.

use efm_config::{
    Config, DpeMode, Interval, Problems, Secret, Service, SourceText, Sources, Transports, load,
    render,
};

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

const PROPS: &str = "integrasjonspunkt-local.properties";

fn properties(text: &str) -> Sources {
    Sources {
        properties: Some(SourceText { path: PROPS.into(), text: text.into() }),
        ..Sources::default()
    }
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

fn problems(sources: &Sources) -> Problems {
    match load(sources) {
        Ok(loaded) => panic!("expected errors, got {:?}", loaded.config.transports),
        Err(p) => p,
    }
}

/// The only error, as the CLI prints it.
fn one(sources: &Sources) -> String {
    let mut all: Vec<String> = problems(sources).errors.iter().map(ToString::to_string).collect();
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

#[test]
fn defaults_are_the_reference_test_environment() {
    let t = ok(&Sources::default()).transports;
    assert_eq!(t, Transports::default());
    assert_eq!(t.oidc.token_url.as_str(), "https://test.maskinporten.no/token");
    assert_eq!(t.oidc.audience, "https://test.maskinporten.no/");
    assert_eq!(t.oidc.client_id, None);
    assert_eq!(t.dpo.broker_url.as_str(), "https://platform.tt02.altinn.no/broker/api/v1");
    assert_eq!(t.dpo.resource, "eformidling-dpo-meldingsutveksling");
    assert_eq!(
        t.dpo.token_exchange_url.as_str(),
        "https://platform.tt02.altinn.no/authentication/api/v1/exchange/maskinporten"
    );
    assert_eq!((t.dpo.system_user_org, t.dpo.system_user_name), (None, None));
    assert_eq!(t.dpe.service_bus_url.as_str(), "https://efm-dpe-qa.servicebus.windows.net");
    assert_eq!(t.dpe.sas_key_name, "MoveDPE-pilotPolicy");
    assert_eq!(t.dpe.sas_key, None);
    assert_eq!(t.dpe.mode, DpeMode::Innsyn);
    assert_eq!(t.dpe.mode.name(), "innsyn");
    assert_eq!(t.dpe.receipt_queue, None);
    assert_eq!(t.dpe.read_max.get(), 50);
    assert_eq!(t.retry.base, Interval::secs(20));
    assert_eq!(t.retry.cap, Interval::mins(60));
}

const TOML: &str = r#"
[oidc]
url = "http://127.0.0.1:8090/maskinporten/token"
audience = "http://127.0.0.1:8090/"
client_id = "my-client"

[retry]
base = "100ms"
cap = "2s"

[dpo]
broker_url = "http://127.0.0.1:8090/broker/api/v1"
resource = "my-resource"
token_exchange_url = "http://127.0.0.1:8090/authentication/api/v1/exchange/maskinporten"
system_user_org = "0192:991825827"
system_user_name = "my-system-user"

[dpe]
service_bus_url = "http://localhost:8001/dpe"
sas_key_name = "MoveDPE-prodPolicy"
sas_key = "c2FzLWtleQ=="
mode = "Meeting"
receipt_queue = "data"
read_max = 5
"#;

#[test]
fn every_toml_key() {
    let t = ok(&toml(TOML)).transports;
    assert_eq!(t.oidc.token_url.as_str(), "http://127.0.0.1:8090/maskinporten/token");
    assert_eq!(t.oidc.audience, "http://127.0.0.1:8090/");
    assert_eq!(t.oidc.client_id.as_deref(), Some("my-client"));
    assert_eq!(t.retry.base.millis(), 100);
    assert_eq!(t.retry.cap, Interval::secs(2));
    assert_eq!(t.dpo.broker_url.as_str(), "http://127.0.0.1:8090/broker/api/v1");
    assert_eq!(t.dpo.resource, "my-resource");
    assert_eq!(
        t.dpo.token_exchange_url.as_str(),
        "http://127.0.0.1:8090/authentication/api/v1/exchange/maskinporten"
    );
    assert_eq!(t.dpo.system_user_org.as_deref(), Some("0192:991825827"));
    assert_eq!(t.dpo.system_user_name.as_deref(), Some("my-system-user"));
    assert_eq!(t.dpe.service_bus_url.as_str(), "http://localhost:8001/dpe");
    assert!(!t.dpe.service_bus_url.is_https());
    assert_eq!(t.dpe.sas_key_name, "MoveDPE-prodPolicy");
    assert_eq!(t.dpe.sas_key, Some(Secret::new("c2FzLWtleQ==")));
    assert_eq!(t.dpe.mode, DpeMode::Meeting);
    assert_eq!(t.dpe.receipt_queue.as_deref(), Some("data"));
    assert_eq!(t.dpe.read_max.get(), 5);
}

#[test]
fn rendering_masks_the_sas_key_and_reads_back() {
    let c = ok(&toml(TOML));
    let text = render(&c, None);
    assert!(!text.contains("c2FzLWtleQ=="), "{text}");
    assert!(text.contains("\nsas_key = \"****\"\n"), "{text}");
    assert!(!format!("{c:?}").contains("c2FzLWtleQ=="));
    assert!(text.contains("\n[oidc]\nurl = \"http://127.0.0.1:8090/maskinporten/token\"\n"));
    assert!(text.contains("\n[retry]\nbase = \"100ms\"\ncap = \"2s\"\n"), "{text}");
    assert!(text.contains("mode = \"meeting\"\nreceipt_queue = \"data\"\nread_max = 5\n"));
    let back = ok(&toml(&text)).transports;
    let mut want = c.transports.clone();
    want.dpe.sas_key = Some(Secret::new("****"));
    assert_eq!(back, want);
}

#[test]
fn rendered_defaults_name_what_is_derived_from_org() {
    let bare = render(&Config::default(), None);
    assert!(bare.contains("# client_id: MOVE_IP_<org>\n"), "{bare}");
    assert!(bare.contains("# sas_key: not set\n"), "{bare}");
    let c = ok(&env(&[("EFM_ORG", "910076787")]));
    let text = render(&c, None);
    assert!(text.contains("# client_id = \"MOVE_IP_910076787\" (from org)\n"), "{text}");
    assert!(text.contains("# system_user_org = \"0192:910076787\" (from org)\n"), "{text}");
    assert!(
        text.contains(
            "# system_user_name = \"910076787_integrasjonspunkt_systembruker_910076787\" (from org)\n"
        ),
        "{text}"
    );
}

#[test]
fn environment_overrides() {
    let mut sources = toml(TOML);
    sources.env = env(&[
        ("EFM_MASKINPORTEN_URL", "http://127.0.0.1:1/token"),
        ("EFM_DPO_BROKER_URL", "http://127.0.0.1:2/broker/api/v1"),
        ("EFM_ALTINN_EXCHANGE_URL", "http://127.0.0.1:3/exchange"),
        ("EFM_DPE_URL", "http://127.0.0.1:4/dpe"),
        ("EFM_DPE_SAS_KEY", "from-env"),
        ("EFM_RETRY_BASE", "50ms"),
        ("EFM_RETRY_CAP", "500ms"),
    ])
    .env;
    let loaded = load(&sources).unwrap_or_else(|p| panic!("{p}"));
    let t = &loaded.config.transports;
    assert_eq!(t.oidc.token_url.as_str(), "http://127.0.0.1:1/token");
    assert_eq!(t.dpo.broker_url.as_str(), "http://127.0.0.1:2/broker/api/v1");
    assert_eq!(t.dpo.token_exchange_url.as_str(), "http://127.0.0.1:3/exchange");
    assert_eq!(t.dpe.service_bus_url.as_str(), "http://127.0.0.1:4/dpe");
    assert_eq!(t.dpe.sas_key.as_ref().map(Secret::expose), Some("from-env"));
    assert_eq!((t.retry.base.millis(), t.retry.cap.millis()), (50, 500));
    // What the environment does not name keeps the file's value.
    assert_eq!(t.dpe.read_max.get(), 5);
    let shown = |k: &str| loaded.origins.get(k).map(ToString::to_string);
    assert_eq!(shown("dpe.sas_key").as_deref(), Some("environment EFM_DPE_SAS_KEY"));
    assert_eq!(shown("dpe.mode").as_deref(), Some("efm.toml:22 dpe.mode"));
}

#[test]
fn poll_interval_sets_every_service_that_polls() {
    let mut sources = toml("[dpf]\npolling_interval = \"1h\"\n");
    sources.env = env(&[("EFM_POLL_INTERVAL", "1s")]).env;
    let loaded = load(&sources).unwrap_or_else(|p| panic!("{p}"));
    for svc in Service::ALL {
        let want = (svc != Service::Dpv).then_some(Interval::secs(1));
        assert_eq!(loaded.config.services.get(svc).polling_interval, want, "{svc}");
    }
    assert_eq!(
        loaded.origins.get("dpe.polling_interval").map(ToString::to_string).as_deref(),
        Some("environment EFM_POLL_INTERVAL")
    );
    assert_eq!(loaded.origins.get("dpv.polling_interval"), None);
    let text = render(&loaded.config, Some(&loaded.origins));
    assert!(
        text.contains("polling_interval = \"1s\"  # environment EFM_POLL_INTERVAL\n"),
        "{text}"
    );
    assert_eq!(
        one(&env(&[("EFM_POLL_INTERVAL", "1")])),
        "environment: EFM_POLL_INTERVAL = \"1\": expected a duration like 30s (units ms, s, m, h, d) (no unit)"
    );
}

#[test]
fn a_misspelt_variable_is_a_warning_with_a_suggestion() {
    let loaded = load(&env(&[("EFM_POLL_INTERVALL", "1s"), ("EFM_DPE_SAS_KY", "k")])).unwrap();
    let shown: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "environment: unknown variable EFM_DPE_SAS_KY (did you mean EFM_DPE_SAS_KEY?)",
            "environment: unknown variable EFM_POLL_INTERVALL (did you mean EFM_POLL_INTERVAL?)",
        ]
    );
}

#[test]
fn every_properties_key() {
    let text = "\
difi.move.org.number=910076787
difi.move.oidc.url=https://maskinporten.no/token
difi.move.oidc.audience=https://maskinporten.no/
difi.move.oidc.clientId=${difi.move.oidc.clientIdPrefix}${difi.move.org.number}
difi.move.dpo.brokerserviceUrl=https://platform.altinn.no/broker/api/v1
difi.move.dpo.resource=eformidling-dpo-meldingsutveksling-prod
difi.move.dpo.altinnTokenExchangeUrl=https://platform.altinn.no/authentication/api/v1/exchange/maskinporten
difi.move.dpo.systemUser.orgId=0192:${difi.move.org.number}
difi.move.dpo.systemUser.name=${difi.move.org.number}_integrasjonspunkt_systembruker_${difi.move.org.number}
difi.move.nextmove.service-bus.base-url=efm-dpe-prod.servicebus.windows.net
difi.move.nextmove.serviceBus.sasKeyName=MoveDPE-prodPolicy
difi.move.nextmove.serviceBus.sasToken=hemmelig
difi.move.nextmove.serviceBus.mode=data
difi.move.nextmove.serviceBus.receiptQueue=innsyn
difi.move.nextmove.serviceBus.readMaxMessages=10
difi.move.nextmove.serviceBus.batchRead=false
";
    let loaded = load(&properties(text)).unwrap_or_else(|p| panic!("{p}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let t = &loaded.config.transports;
    assert_eq!(t.oidc.token_url.as_str(), "https://maskinporten.no/token");
    assert_eq!(t.oidc.audience, "https://maskinporten.no/");
    assert_eq!(t.oidc.client_id.as_deref(), Some("MOVE_IP_910076787"));
    assert_eq!(t.dpo.broker_url.as_str(), "https://platform.altinn.no/broker/api/v1");
    assert_eq!(t.dpo.resource, "eformidling-dpo-meldingsutveksling-prod");
    assert_eq!(
        t.dpo.token_exchange_url.as_str(),
        "https://platform.altinn.no/authentication/api/v1/exchange/maskinporten"
    );
    assert_eq!(t.dpo.system_user_org.as_deref(), Some("0192:910076787"));
    assert_eq!(
        t.dpo.system_user_name.as_deref(),
        Some("910076787_integrasjonspunkt_systembruker_910076787")
    );
    assert_eq!(t.dpe.service_bus_url.as_str(), "https://efm-dpe-prod.servicebus.windows.net");
    assert_eq!(t.dpe.sas_key_name, "MoveDPE-prodPolicy");
    assert_eq!(t.dpe.sas_key.as_ref().map(Secret::expose), Some("hemmelig"));
    assert_eq!(t.dpe.mode, DpeMode::Data);
    assert_eq!(t.dpe.receipt_queue.as_deref(), Some("innsyn"));
    assert_eq!(t.dpe.read_max.get(), 10);
    assert_eq!(
        loaded.origins.get("dpe.service_bus_url").map(ToString::to_string).as_deref(),
        Some(&*format!("{PROPS}:10 difi.move.nextmove.service-bus.base-url"))
    );
}

#[test]
fn base_url_and_use_https_make_one_url() {
    let url = |text: &str| ok(&properties(text)).transports.dpe.service_bus_url.to_string();
    let mock = "difi.move.nextmove.serviceBus.baseUrl=localhost:8001/dpe\n";
    let plain = "difi.move.nextmove.serviceBus.useHttps=false\n";
    assert_eq!(url(&format!("{mock}{plain}")), "http://localhost:8001/dpe");
    assert_eq!(url(&format!("{plain}{mock}")), "http://localhost:8001/dpe", "in either order");
    assert_eq!(url(mock), "https://localhost:8001/dpe");
    assert_eq!(url(plain), "http://efm-dpe-qa.servicebus.windows.net");
    // The TOML file and the environment, which come later, write a whole URL.
    let mut sources = properties(&format!("{mock}{plain}"));
    sources.toml = toml("[dpe]\nservice_bus_url = \"https://bus.example.no\"\n").toml;
    assert_eq!(ok(&sources).transports.dpe.service_bus_url.as_str(), "https://bus.example.no");
    sources.env = env(&[("EFM_DPE_URL", "http://127.0.0.1:9/x")]).env;
    assert_eq!(ok(&sources).transports.dpe.service_bus_url.as_str(), "http://127.0.0.1:9/x");
}

#[test]
fn the_sas_token_placeholder_is_unset() {
    let c = ok(&properties("difi.move.nextmove.serviceBus.sasToken=<token>\n"));
    assert_eq!(c.transports.dpe.sas_key, None);
    let c = ok(&toml("[dpe]\nsas_key = \"<token>\"\n"));
    assert_eq!(c.transports.dpe.sas_key, None);
    // A placeholder in a later layer unsets a key an earlier one set.
    let mut sources = properties("difi.move.nextmove.serviceBus.sasToken=real\n");
    assert!(ok(&sources).transports.dpe.sas_key.is_some());
    sources.env = env(&[("EFM_DPE_SAS_KEY", "<token>")]).env;
    assert_eq!(ok(&sources).transports.dpe.sas_key, None);
}

#[test]
fn a_blank_receipt_queue_is_unset() {
    let c = ok(&properties("difi.move.nextmove.serviceBus.receiptQueue=\n"));
    assert_eq!(c.transports.dpe.receipt_queue, None);
    let c = ok(&toml("[dpe]\nreceipt_queue = \" \"\n"));
    assert_eq!(c.transports.dpe.receipt_queue, None);
}

#[test]
fn bad_toml_values() {
    let url = "expected an http(s) URL like https://example.no/path";
    let cases = [
        (
            "[dpe]\nmode = \"foo\"",
            "efm.toml:2: dpe.mode = \"foo\": expected one of innsyn, data, meeting".to_owned(),
        ),
        (
            "[dpe]\nread_max = 0",
            "efm.toml:2: dpe.read_max = 0: expected a whole number from 1 to 10000".to_owned(),
        ),
        (
            "[dpe]\nread_max = \"50\"",
            "efm.toml:2: dpe.read_max = \"50\": expected a whole number from 1 to 10000".to_owned(),
        ),
        (
            "[dpe]\nservice_bus_url = \"localhost:8001/dpe\"",
            format!("efm.toml:2: dpe.service_bus_url = \"localhost:8001/dpe\": {url} (no scheme)"),
        ),
        (
            "[dpe]\nreceipt_queue = \"a/b\"",
            "efm.toml:2: dpe.receipt_queue = \"a/b\": expected a queue suffix like innsyn (letters, digits, ., - and _) (other characters)".to_owned(),
        ),
        (
            "[dpe]\nsas_key_name = \"\"",
            "efm.toml:2: dpe.sas_key_name = \"\": expected a non-empty string".to_owned(),
        ),
        (
            "[dpo]\nbroker_url = \"ftp://altinn.no\"",
            format!("efm.toml:2: dpo.broker_url = \"ftp://altinn.no\": {url} (scheme ftp)"),
        ),
        (
            "[dpo]\ntoken_exchange_url = \"https://\"",
            format!("efm.toml:2: dpo.token_exchange_url = \"https://\": {url} (no host)"),
        ),
        (
            "[dpo]\nsystem_user_org = \"910076787\"",
            "efm.toml:2: dpo.system_user_org = \"910076787\": expected an organisation id like 0192:910076787 (no scheme before a colon)".to_owned(),
        ),
        (
            "[dpo]\nsystem_user_org = \"0192:123\"",
            "efm.toml:2: dpo.system_user_org = \"0192:123\": expected an organisation id like 0192:910076787 (a nine-digit organisation number like 910076787 (3 digits))".to_owned(),
        ),
        (
            "[dpo]\nresource = 7",
            "efm.toml:2: dpo.resource = 7: expected a string, not an integer".to_owned(),
        ),
        (
            "[oidc]\nurl = \"maskinporten.no/token\"",
            format!("efm.toml:2: oidc.url = \"maskinporten.no/token\": {url} (no scheme)"),
        ),
        (
            "[oidc]\nclient_id = \"\"",
            "efm.toml:2: oidc.client_id = \"\": expected a non-empty string".to_owned(),
        ),
        (
            "[retry]\nbase = 20",
            "efm.toml:2: retry.base = 20: expected a duration like 30s (units ms, s, m, h, d), as a string with a unit".to_owned(),
        ),
        (
            "[retry]\ncap = \"0s\"",
            "efm.toml:2: retry.cap = \"0s\": expected a duration like 30s (units ms, s, m, h, d) (must be more than zero)".to_owned(),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(one(&toml(text)), want, "for {text:?}");
    }
}

#[test]
fn the_sas_key_is_not_shown_in_errors() {
    assert_eq!(
        one(&toml("[dpe]\nsas_key = 12345")),
        "efm.toml:2: dpe.sas_key = \"****\": expected a string, not an integer"
    );
    assert_eq!(
        one(&properties("difi.move.nextmove.serviceBus.sasToken=\n")),
        format!(
            "{PROPS}:1: difi.move.nextmove.serviceBus.sasToken = \"\": expected a non-empty string"
        )
    );
}

#[test]
fn the_cap_is_not_shorter_than_the_first_delay() {
    assert_eq!(
        one(&toml("[retry]\nbase = \"1m\"\ncap = \"30s\"")),
        "efm.toml:3: retry.cap = \"30s\": expected a duration no shorter than retry.base (1m)"
    );
    assert_eq!(
        one(&env(&[("EFM_RETRY_BASE", "2h")])),
        "environment: EFM_RETRY_BASE = \"2h\": expected a duration no longer than retry.cap (1h)"
    );
    let c = ok(&env(&[("EFM_RETRY_BASE", "2h"), ("EFM_RETRY_CAP", "2h")]));
    assert_eq!(c.transports.retry.base, c.transports.retry.cap);
}

#[test]
fn unknown_keys_in_the_new_tables_are_reported() {
    let cases = [
        (
            "[dpe]\nsas_keys = \"x\"",
            "efm.toml:2: unknown key dpe.sas_keys (did you mean dpe.sas_key?)",
        ),
        ("[oidc]\ntoken_url = \"https://x.no\"", "efm.toml:2: unknown key oidc.token_url"),
        ("[retri]\nbase = \"1s\"", "efm.toml:1: unknown key retri (did you mean retry?)"),
        // Transport keys belong to their own service's table only.
        ("[dpi]\nbroker_url = \"https://x.no\"", "efm.toml:2: unknown key dpi.broker_url"),
    ];
    for (text, want) in cases {
        assert_eq!(one(&toml(text)), want, "for {text:?}");
    }
}

#[test]
fn bad_properties_values_name_the_line_and_key() {
    let text = "\
difi.move.nextmove.serviceBus.mode=foo
difi.move.nextmove.serviceBus.readMaxMessages=0
difi.move.dpo.brokerserviceUrl=platform.altinn.no/broker/api/v1
difi.move.nextmove.serviceBus.useHttps=maybe
difi.move.nextmove.serviceBus.baseUrl=https://efm-dpe-prod.servicebus.windows.net
difi.move.oidc.url=${MISSING}
";
    let shown: Vec<String> =
        problems(&properties(text)).errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            format!(
                "{PROPS}:1: difi.move.nextmove.serviceBus.mode = \"foo\": expected one of innsyn, data, meeting"
            ),
            format!(
                "{PROPS}:2: difi.move.nextmove.serviceBus.readMaxMessages = \"0\": expected a whole number from 1 to 10000"
            ),
            format!(
                "{PROPS}:3: difi.move.dpo.brokerserviceUrl = \"platform.altinn.no/broker/api/v1\": expected an http(s) URL like https://example.no/path (no scheme)"
            ),
            format!(
                "{PROPS}:4: difi.move.nextmove.serviceBus.useHttps = \"maybe\": expected true or false"
            ),
            format!(
                "{PROPS}:6: difi.move.oidc.url = \"${{MISSING}}\": expected a value whose ${{...}} placeholders are set (MISSING is not set in this file or the environment)"
            ),
            format!(
                "{PROPS}:5: difi.move.nextmove.serviceBus.baseUrl = \"https://efm-dpe-prod.servicebus.windows.net\": expected a host like efm-dpe-qa.servicebus.windows.net, optionally with :port and /path (no scheme: useHttps chooses it)"
            ),
        ]
    );
    assert_eq!(
        one(&properties("difi.move.nextmove.serviceBus.baseUrl=local host:8001\n")),
        format!(
            "{PROPS}:1: difi.move.nextmove.serviceBus.baseUrl = \"local host:8001\": expected a host like efm-dpe-qa.servicebus.windows.net, optionally with :port and /path (contains whitespace)"
        )
    );
}

#[test]
fn batch_read_is_not_supported() {
    let loaded = load(&properties("difi.move.nextmove.serviceBus.batchRead=true\n")).unwrap();
    assert_eq!(
        loaded.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [format!(
            "{PROPS}: ignored 1 setting that efm does not support: difi.move.nextmove.serviceBus.batchRead"
        )]
    );
}

#[test]
fn dpv_settings_from_every_layer() {
    let d = Transports::default().dpv;
    assert_eq!(d.correspondence_url.as_str(), efm_config::DEFAULT_CORRESPONDENCE_URL);
    assert!(d.notify_email && d.notify_sms && d.enable_due_date);
    assert_eq!(d.days_to_reply, 7);
    assert!(d.notification_text.contains("$reporterName$"));

    let c = ok(&toml(
        "[dpv]\ncorrespondence_url = \"http://127.0.0.1:9096/correspondence/api/v1\"\nnotify_sms = false\ndays_to_reply = 14\n",
    ));
    assert_eq!(
        c.transports.dpv.correspondence_url.as_str(),
        "http://127.0.0.1:9096/correspondence/api/v1"
    );
    assert!(!c.transports.dpv.notify_sms);
    assert_eq!(c.transports.dpv.days_to_reply, 14);

    let c = ok(&env(&[("EFM_DPV_URL", "http://localhost:1/dpv")]));
    assert_eq!(c.transports.dpv.correspondence_url.as_str(), "http://localhost:1/dpv");

    let c = ok(&properties(
        "difi.move.dpv.correspondenceServiceUrl=http://proxy.test/correspondence/api/v1\n\
         difi.move.dpv.notifyEmail=false\n\
         difi.move.dpv.daysToReply=3\n\
         difi.move.dpv.enableDueDate=false\n\
         difi.move.dpv.sensitiveResource=sensitive\n\
         difi.move.dpv.notification-text=Hei fra $reporterName$\n\
         difi.move.dpv.email-subject=Ny melding\n",
    ));
    let d = &c.transports.dpv;
    assert_eq!(d.correspondence_url.as_str(), "http://proxy.test/correspondence/api/v1");
    assert!(!d.notify_email && !d.enable_due_date);
    assert_eq!((d.days_to_reply, d.sensitive_resource.as_str()), (3, "sensitive"));
    assert_eq!(d.notification_text, "Hei fra $reporterName$");
    assert_eq!(d.email_subject, "Ny melding");

    assert!(load(&toml("[dpv]\ndays_to_reply = 0\n")).is_err());
}
