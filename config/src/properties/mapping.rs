//! Which reference properties efm reads, and as which efm.toml key.

/// What to do with a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Set this efm.toml key; the value converted as said.
    Key(&'static str, Unit),
    /// `server.port`: the port of `listen`.
    Port,
    /// `server.address`: the host of `listen`.
    Address,
    /// `difi.move.org.keystore.type`: must be PKCS12, the only kind efm reads.
    KeystoreType,
    /// `difi.move.nextmove.serviceBus.baseUrl`: the host (and optional path) of
    /// `dpe.service_bus_url`, whose scheme [`Target::ServiceBusHttps`] chooses.
    ServiceBusHost,
    /// `difi.move.nextmove.serviceBus.useHttps`: `https` or `http` for [`Target::ServiceBusHost`].
    ServiceBusHttps,
    /// A setting whose only value efm can honour is this one (the reference's
    /// default, or what efm does anyway): that value is accepted, any other is
    /// reported as unsupported.
    Only(&'static str),
}

/// How the reference writes a number whose efm key wants a unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Same syntax on both sides.
    Same,
    Millis,
    Minutes,
}

use Target::{Key, Only};
use Unit::{Millis, Minutes, Same};

/// Keys in Spring's relaxed form (see [`canonical`]).
const MAP: &[(&str, Target)] = &[
    ("server.port", Target::Port),
    ("server.address", Target::Address),
    ("difi.move.org.number", Key("org", Same)),
    ("difi.move.org.keystore.path", Key("keystore.path", Same)),
    ("difi.move.org.keystore.alias", Key("keystore.alias", Same)),
    ("difi.move.org.keystore.password", Key("keystore.password", Same)),
    ("difi.move.org.keystore.type", Target::KeystoreType),
    ("difi.move.org.keystore.lockprovider", Only("false")),
    ("difi.move.serviceregistryendpoint", Key("registry_url", Same)),
    ("difi.move.sign.enable", Key("registry_signed", Same)),
    ("difi.security.enable", Key("api.auth", Same)),
    ("difi.move.feature.enableauth", Key("api.auth", Same)),
    ("difi.security.user.name", Key("api.user", Same)),
    ("spring.security.user.name", Key("api.user", Same)),
    ("difi.security.user.password", Key("api.password", Same)),
    ("spring.security.user.password", Key("api.password", Same)),
    ("difi.ssl.enabled", Only("false")),
    ("difi.move.feature.enabledpo", Key("dpo.enabled", Same)),
    ("difi.move.feature.enabledpv", Key("dpv.enabled", Same)),
    ("difi.move.feature.enabledpf", Key("dpf.enabled", Same)),
    ("difi.move.feature.enabledpe", Key("dpe.enabled", Same)),
    ("difi.move.feature.enabledpi", Key("dpi.enabled", Same)),
    ("difi.move.feature.enabledph", Key("dph.enabled", Same)),
    ("difi.move.feature.statusqueueincludes", Key("messages.status_queue_includes", Same)),
    ("difi.move.feature.mailerrorstatus", Key("mail.enabled", Same)),
    ("difi.move.nextmove.defaultttlhours", Key("messages.ttl_hours", Same)),
    ("difi.move.nextmove.locktimeoutminutes", Key("messages.lock_timeout", Minutes)),
    ("difi.move.nextmove.ttlpollingrate", Key("messages.ttl_check_interval", Millis)),
    ("difi.move.nextmove.statusservices", Key("messages.status_services", Same)),
    ("difi.move.nextmove.statuspollingcron", Only("0 * * * * *")),
    ("difi.move.nextmove.statuspollingpagesize", Key("status_polling.page_size", Same)),
    (
        "difi.move.nextmove.statuspollingbackoffthresholddays",
        Key("status_polling.backoff_threshold_days", Same),
    ),
    (
        "difi.move.nextmove.statuspollingbackoffmaxintervalminutes",
        Key("status_polling.backoff_max_interval", Minutes),
    ),
    ("difi.move.dpo.defaultttlhours", Key("dpo.ttl_hours", Same)),
    ("difi.move.dpv.defaultttlhours", Key("dpv.ttl_hours", Same)),
    ("difi.move.fiks.ut.defaultttlhours", Key("dpf.ttl_hours", Same)),
    ("difi.move.nextmove.servicebus.defaultttlhours", Key("dpe.ttl_hours", Same)),
    ("difi.move.dpi.defaultttlhours", Key("dpi.ttl_hours", Same)),
    ("difi.move.dph.defaultttlhours", Key("dph.ttl_hours", Same)),
    ("difi.move.dpo.uploadsizelimit", Key("dpo.upload_size_limit", Same)),
    ("difi.move.dpv.uploadsizelimit", Key("dpv.upload_size_limit", Same)),
    ("difi.move.fiks.ut.uploadsizelimit", Key("dpf.upload_size_limit", Same)),
    ("difi.move.nextmove.servicebus.uploadsizelimit", Key("dpe.upload_size_limit", Same)),
    ("difi.move.dpi.uploadsizelimit", Key("dpi.upload_size_limit", Same)),
    ("difi.move.dph.uploadsizelimit", Key("dph.upload_size_limit", Same)),
    ("difi.move.fiks.pollingrate", Key("dpf.polling_interval", Millis)),
    ("difi.move.nextmove.servicebus.pollingrate", Key("dpe.polling_interval", Millis)),
    ("difi.move.dpi.pollingrate", Key("dpi.polling_interval", Millis)),
    ("difi.move.dph.pollingrate", Key("dph.polling_interval", Millis)),
    ("difi.move.dpo.messagechannel", Key("dpo.message_channel", Same)),
    ("difi.move.webhooks.connecttimeout", Key("webhooks.connect_timeout", Millis)),
    ("difi.move.webhooks.readtimeout", Key("webhooks.read_timeout", Millis)),
    ("difi.move.mail.smtphost", Key("mail.smtp_host", Same)),
    ("difi.move.mail.smtpport", Key("mail.smtp_port", Same)),
    ("difi.move.mail.senderaddress", Key("mail.sender", Same)),
    ("difi.move.mail.receiveraddress", Key("mail.receiver", Same)),
    ("difi.move.mail.username", Key("mail.username", Same)),
    ("difi.move.mail.password", Key("mail.password", Same)),
    ("difi.move.mail.trust", Key("mail.trust", Same)),
    ("difi.move.mail.enableauth", Key("mail.auth", Same)),
    // Gone from the reference since 2023 (with BEST/EDU); efm still honours them.
    ("difi.move.fiks.inn.mailonerror", Key("mail.svarinn_on_error", Same)),
    ("difi.move.fiks.inn.mailsubject", Key("mail.svarinn_subject", Same)),
    ("difi.move.oidc.url", Key("oidc.url", Same)),
    ("difi.move.oidc.audience", Key("oidc.audience", Same)),
    ("difi.move.oidc.clientid", Key("oidc.client_id", Same)),
    ("difi.move.dpo.brokerserviceurl", Key("dpo.broker_url", Same)),
    ("difi.move.dpo.resource", Key("dpo.resource", Same)),
    ("difi.move.dpo.altinntokenexchangeurl", Key("dpo.token_exchange_url", Same)),
    ("difi.move.dpo.systemuser.orgid", Key("dpo.system_user_org", Same)),
    ("difi.move.dpo.systemuser.name", Key("dpo.system_user_name", Same)),
    (
        "difi.move.arkivmelding.generatearkivmeldingreceipts",
        Key("messages.arkivmelding_receipts", Same),
    ),
    ("difi.move.dpv.correspondenceserviceurl", Key("dpv.correspondence_url", Same)),
    ("difi.move.dpv.notifyemail", Key("dpv.notify_email", Same)),
    ("difi.move.dpv.notifysms", Key("dpv.notify_sms", Same)),
    ("difi.move.dpv.daystoreply", Key("dpv.days_to_reply", Same)),
    ("difi.move.dpv.enableduedate", Key("dpv.enable_due_date", Same)),
    ("difi.move.dpv.sensitiveresource", Key("dpv.sensitive_resource", Same)),
    ("difi.move.dpv.notificationtext", Key("dpv.notification_text", Same)),
    ("difi.move.dpv.sensitivenotificationtext", Key("dpv.sensitive_notification_text", Same)),
    ("difi.move.dpv.emailsubject", Key("dpv.email_subject", Same)),
    ("difi.move.nextmove.servicebus.baseurl", Target::ServiceBusHost),
    ("difi.move.nextmove.servicebus.usehttps", Target::ServiceBusHttps),
    ("difi.move.nextmove.servicebus.saskeyname", Key("dpe.sas_key_name", Same)),
    ("difi.move.nextmove.servicebus.sastoken", Key("dpe.sas_key", Same)),
    ("difi.move.nextmove.servicebus.mode", Key("dpe.mode", Same)),
    ("difi.move.nextmove.servicebus.receiptqueue", Key("dpe.receipt_queue", Same)),
    ("difi.move.nextmove.servicebus.readmaxmessages", Key("dpe.read_max", Same)),
    ("difi.move.fiks.ut.endpointurl", Key("dpf.svarut_url", Same)),
    ("difi.move.fiks.ut.username", Key("dpf.svarut_username", Same)),
    ("difi.move.fiks.ut.password", Key("dpf.svarut_password", Same)),
    ("difi.move.fiks.inn.baseurl", Key("dpf.svarinn_url", Same)),
    ("difi.move.fiks.inn.username", Key("dpf.svarinn_username", Same)),
    ("difi.move.fiks.inn.password", Key("dpf.svarinn_password", Same)),
    ("difi.move.fiks.inn.enable", Key("dpf.receive", Same)),
    // efm speaks SvarUt's web service, the reference's default.
    ("difi.move.fiks.ut.type", Only("ws")),
    ("difi.move.dpi.uri", Key("dpi.url", Same)),
    ("difi.move.dpi.mpcid", Key("dpi.mpc_id", Same)),
    ("difi.move.dpi.krrprinturl", Key("dpi.krr_print_url", Same)),
    // efm reads the queue over REST (peek-lock), the reference's default.
    ("difi.move.nextmove.servicebus.batchread", Only("false")),
];

/// Spring's relaxed binding: `enableDPO`, `enable-dpo` and `enable_dpo` are one key.
pub fn canonical(key: &str) -> String {
    key.chars().filter(|c| *c != '-' && *c != '_').flat_map(char::to_lowercase).collect()
}

pub fn target(key: &str) -> Option<Target> {
    let key = canonical(key);
    MAP.iter().find(|(k, _)| *k == key).map(|(_, t)| *t)
}

/// The efm.toml keys a properties file can set (for the README and tests).
pub fn mapped_keys() -> impl Iterator<Item = (&'static str, Target)> {
    MAP.iter().copied()
}

/// The reference's own defaults (its `application.properties`) for the keys a local
/// file's `${...}` placeholders most often name: its per-service TTLs, for one, are
/// written as `${difi.move.nextmove.default-ttl-hours}`, and a file copied from
/// there must still read.
const REFERENCE_DEFAULTS: &[(&str, &str)] = &[
    ("difi.move.nextmove.defaultttlhours", "24"),
    ("difi.move.nextmove.locktimeoutminutes", "5"),
    ("difi.move.serviceregistryendpoint", "https://test.eformidling.no/adressetjeneste"),
    ("difi.move.org.keystore.type", "PKCS12"),
    ("difi.move.feature.enabledpo", "false"),
    ("difi.move.feature.enabledpv", "false"),
    ("difi.move.feature.enabledpf", "false"),
    ("difi.move.feature.enabledpe", "false"),
    ("difi.move.feature.enabledpi", "false"),
    ("difi.move.feature.enabledph", "false"),
    ("difi.security.enable", "true"),
    ("server.port", "9093"),
    ("difi.move.oidc.clientidprefix", "MOVE_IP_"),
    ("difi.move.oidc.url", "https://test.maskinporten.no/token"),
    ("difi.move.oidc.audience", "https://test.maskinporten.no/"),
];

pub fn reference_default(key: &str) -> Option<&'static str> {
    let key = canonical(key);
    REFERENCE_DEFAULTS.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}
