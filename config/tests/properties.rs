//! Reading an existing installation's integrasjonspunkt-local.properties.

use std::path::PathBuf;

use efm_config::{
    ApiAuth, ByteSize, Interval, Secret, Service, SourceText, Sources, Warning, load,
};

/// A local file as an installation of the reference might have it (invented values).
const LOCAL: &str = r#"# Integrasjonspunkt for Eksempel kommune
server.port=9094

## ORGANIZATION
difi.move.org.number = 910076787
difi.move.org.keystore.path=file:/opt/ip/crt/eksempel-kommune.p12
difi.move.org.keystore.alias: eksempel
difi.move.org.keystore.password=hemmelig\u00e6\u00f8\u00e5
difi.move.org.keystore.type=PKCS12

difi.move.serviceregistryEndpoint=https://eformidling.no/adressetjeneste

# services
difi.move.feature.enableDPO=true
difi.move.feature.enable-dpe=TRUE
difi.move.feature.enableDPV=false
difi.move.feature.statusQueueIncludes=DPO,\
                                      DPE
difi.move.feature.mailErrorStatus=true

difi.move.nextmove.default-ttl-hours=72
difi.move.dpo.default-ttl-hours=${difi.move.nextmove.default-ttl-hours}
difi.move.nextmove.lockTimeoutMinutes=10
difi.move.nextmove.serviceBus.pollingrate=60000
difi.move.dpv.upload-size-limit=100MB
difi.move.dpo.messageChannel=eksempel-arkiv

difi.move.mail.smtpHost=smtp.eksempel.kommune.no
difi.move.mail.smtpPort=25
difi.move.mail.senderAddress=integrasjonspunkt@eksempel.kommune.no
difi.move.mail.receiverAddress=${IP_MAIL_TO:drift@eksempel.kommune.no}
difi.move.mail.enableAuth=false
difi.move.mail.username=ignored-without-auth
difi.move.fiks.inn.mailOnError=true
difi.move.fiks.inn.mailSubject=Melding fra SvarInn

difi.security.enable=true
difi.security.user.name=arkivsystem
difi.security.user.password=${IP_API_PASSWORD}

difi.move.dpo.systemUser.name=910076787_integrasjonspunkt_systembruker_910076787
difi.move.oidc.clientId=MOVE_IP_910076787

# Things efm does not do
difi.datasource.url=jdbc:mysql://db:3306/ip
difi.move.dpo.systemName=910076787_integrasjonspunkt
difi.datasource.url=jdbc:mysql://db:3306/ip2
difi.ssl.enabled=false
difi.move.org.keystore.lockProvider=false
"#;

fn sources(text: &str, env: &[(&str, &str)]) -> Sources {
    Sources {
        properties: Some(SourceText {
            path: "integrasjonspunkt-local.properties".into(),
            text: text.into(),
        }),
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Sources::default()
    }
}

#[test]
fn a_local_properties_file_maps_onto_the_config() {
    let loaded = match load(&sources(LOCAL, &[("IP_API_PASSWORD", "fra-miljøet")])) {
        Ok(l) => l,
        Err(p) => panic!("{p}"),
    };
    let c = loaded.config;
    assert_eq!(c.listen.to_string(), "127.0.0.1:9094");
    assert_eq!(c.org.as_ref().map(|o| o.as_str()), Some("910076787"));
    let k = c.keystore.as_ref().unwrap();
    assert_eq!(k.path, PathBuf::from("/opt/ip/crt/eksempel-kommune.p12"));
    assert_eq!(k.alias.as_deref(), Some("eksempel"));
    assert_eq!(k.password.expose(), "hemmeligæøå");
    assert_eq!(c.registry_url.as_str(), "https://eformidling.no/adressetjeneste");
    assert_eq!(c.services.enabled().to_string(), "DPO,DPE");
    assert_eq!(c.messages.status_queue_includes.to_string(), "DPO,DPE");
    assert_eq!(c.messages.default_ttl_hours.get(), 72);
    assert_eq!(c.ttl_hours(Service::Dpo).get(), 72);
    assert_eq!(c.messages.lock_timeout, Interval::mins(10));
    assert_eq!(c.services.get(Service::Dpe).polling_interval, Some(Interval::mins(1)));
    assert_eq!(c.services.get(Service::Dpv).upload_size_limit, ByteSize::mib(100));
    assert_eq!(c.services.dpo_message_channel.as_ref().map(|m| m.as_str()), Some("eksempel-arkiv"));
    assert_eq!(
        c.transports.dpo.system_user_name.as_deref(),
        Some("910076787_integrasjonspunkt_systembruker_910076787")
    );
    assert_eq!(c.transports.oidc.client_id.as_deref(), Some("MOVE_IP_910076787"));
    assert!(c.mail.on_feil && c.mail.svarinn_on_error);
    assert_eq!(c.mail.svarinn_subject.as_deref(), Some("Melding fra SvarInn"));
    let Some(smtp) = &c.mail.smtp else { panic!("mail off") };
    assert_eq!(smtp.port, 25);
    assert_eq!(smtp.auth, None, "enableAuth=false: no login");
    assert_eq!(smtp.receiver, "drift@eksempel.kommune.no");
    assert_eq!(
        c.api_auth,
        ApiAuth::Basic { user: "arkivsystem".into(), password: Secret::new("fra-miljøet") }
    );

    let shown: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "integrasjonspunkt-local.properties:2: server.port: sets the port only: efm listens on 127.0.0.1 unless server.address or EFM_LISTEN says otherwise (the reference listens on every interface)",
            "integrasjonspunkt-local.properties: ignored 2 settings that efm does not support: difi.datasource.url, difi.move.dpo.systemName",
        ]
    );
}

#[test]
fn toml_and_environment_override_the_properties_file() {
    let mut s = sources(LOCAL, &[("IP_API_PASSWORD", "x"), ("EFM_LISTEN", "0.0.0.0:9093")]);
    s.toml = Some(SourceText {
        path: "efm.toml".into(),
        text: "org = \"991825827\"\n[messages]\nlock_timeout = \"1m\"\n".into(),
    });
    let c = load(&s).unwrap().config;
    assert_eq!(c.org.as_ref().map(|o| o.as_str()), Some("991825827"));
    assert_eq!(c.messages.lock_timeout, Interval::mins(1));
    assert_eq!(c.listen.to_string(), "0.0.0.0:9093");
    assert_eq!(c.messages.default_ttl_hours.get(), 72, "kept from the properties file");
}

#[test]
fn auth_can_be_turned_off_as_in_the_reference_sample() {
    let text = "difi.security.enable=false\ndifi.security.user.name=myusername\ndifi.security.user.password=mypassword\nserver.address=0.0.0.0\n";
    let c = load(&sources(text, &[])).unwrap().config;
    assert_eq!(c.api_auth, ApiAuth::Off);
    assert_eq!(c.listen.to_string(), "0.0.0.0:9093");
}

#[test]
fn bad_values_in_properties_are_errors_with_their_line() {
    let text = "\
difi.move.org.number=91007678
difi.move.org.keystore.type=JKS
difi.move.nextmove.lockTimeoutMinutes=5m
difi.move.feature.enableDPO=ja
server.port=99999
difi.move.dpv.upload-size-limit=lots
difi.security.user.password=${NOT_SET}
difi.move.nextmove.status-services=DPO,FIKS
bad.escape=\\u00zz
difi.move.fiks.ut.rest.kontoid= # account for the REST client
";
    let problems = load(&sources(text, &[])).unwrap_err();
    let shown: Vec<String> = problems.errors.iter().map(ToString::to_string).collect();
    let p = "integrasjonspunkt-local.properties";
    assert_eq!(
        shown,
        [
            format!("{p}:9: malformed \\uXXXX escape \\u00zz"),
            format!(
                "{p}:1: difi.move.org.number = \"91007678\": expected a nine-digit organisation number like 910076787 (8 digits)"
            ),
            format!(
                "{p}:2: difi.move.org.keystore.type = \"JKS\": expected PKCS12 (efm reads PKCS#12 keystores only; convert with keytool -importkeystore)"
            ),
            format!(
                "{p}:3: difi.move.nextmove.lockTimeoutMinutes = \"5m\": expected a whole number of minutes"
            ),
            format!("{p}:4: difi.move.feature.enableDPO = \"ja\": expected true or false"),
            format!(
                "{p}:5: server.port = \"99999\": expected a port from 0 to 65535 (port out of range)"
            ),
            format!(
                "{p}:6: difi.move.dpv.upload-size-limit = \"lots\": expected a size like 250MB (units B, KB, MB, GB, TB)"
            ),
            format!(
                "{p}:7: difi.security.user.password = \"${{NOT_SET}}\": expected a value whose ${{...}} placeholders are set (NOT_SET is not set in this file or the environment)"
            ),
            format!(
                "{p}:8: difi.move.nextmove.status-services = \"DPO,FIKS\": expected a list of services from DPO, DPV, DPF, DPE, DPI, DPH (unknown service FIKS)"
            ),
        ]
    );
    // The reference's own sample writes comments after values; in Java they are values.
    assert_eq!(
        problems.warnings,
        [Warning::UnsupportedKeys {
            path: p.into(),
            keys: vec!["difi.move.fiks.ut.rest.kontoid".into()],
        }]
    );
}

#[test]
fn unsupported_keys_are_listed_once_and_unusual_values_of_known_ones_too() {
    let text = "a.b=1\na.b=2\ndifi.ssl.enabled=true\ndifi.move.nextmove.statusPollingCron=0 */5 * * * *\ndifi.move.nextmove.statusPollingCron=0 * * * * *\n";
    let loaded = load(&sources(text, &[])).unwrap();
    assert_eq!(
        loaded.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "integrasjonspunkt-local.properties: ignored 3 settings that efm does not support: a.b, difi.ssl.enabled, difi.move.nextmove.statusPollingCron"
        ]
    );
}

#[test]
fn placeholders_fall_back_to_the_reference_defaults() {
    let text = "difi.move.dph.default-ttl-hours=${difi.move.nextmove.default-ttl-hours}\n";
    let c = load(&sources(text, &[])).unwrap().config;
    assert_eq!(c.ttl_hours(Service::Dph).get(), 24);
    let from_env = load(&sources(
        "difi.move.org.number=${DIFI_MOVE_ORG_NUMBER}\n",
        &[("DIFI_MOVE_ORG_NUMBER", "910076787")],
    ))
    .unwrap()
    .config;
    assert_eq!(from_env.org.map(|o| o.to_string()).as_deref(), Some("910076787"));
    let relaxed = load(&sources(
        "difi.move.org.number=${difi.move.org.number-x}\n",
        &[("DIFI_MOVE_ORG_NUMBER_X", "910076787")],
    ))
    .unwrap()
    .config;
    assert!(relaxed.org.is_some(), "dots and dashes become underscores, upper case");
}

#[test]
fn port_and_address_together_need_no_note() {
    let loaded = load(&sources("server.port=8080\nserver.address=0.0.0.0\n", &[])).unwrap();
    assert_eq!(loaded.config.listen.to_string(), "0.0.0.0:8080");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}
