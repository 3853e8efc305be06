//! Every setting efm reads, by its efm.toml name, and how each is checked.
//!
//! The environment and the properties reader translate their names into these, so
//! a value is checked the same way whichever source wrote it.

use crate::draft::Draft;
use crate::expected::Expected;
use crate::listen::{parse_listen, parse_port};
use crate::model::Hours;
use crate::problem::Origin;
use crate::raw::Raw;
use crate::secret::Secret;
use crate::service::Service;
use crate::transports::{SAS_KEY_PLACEHOLDER, party_id, queue_suffix};

/// Keys outside any table.
const TOP: [&str; 5] = ["listen", "data_dir", "org", "registry_url", "registry_signed"];

/// Tables and their keys (service tables are added from [`SERVICE_KEYS`]).
const TABLES: &[(&str, &[&str])] = &[
    ("keystore", &["path", "alias", "password"]),
    ("api", &["auth", "user", "password"]),
    ("tls", &["cert", "key"]),
    (
        "messages",
        &[
            "ttl_hours",
            "lock_timeout",
            "ttl_check_interval",
            "status_services",
            "status_queue_includes",
            "arkivmelding_receipts",
        ],
    ),
    (
        "status_polling",
        &["interval", "page_size", "backoff_threshold_days", "backoff_max_interval"],
    ),
    ("webhooks", &["connect_timeout", "read_timeout"]),
    (
        "mail",
        &[
            "enabled",
            "smtp_host",
            "smtp_port",
            "sender",
            "receiver",
            "username",
            "password",
            "trust",
            "starttls",
            "auth",
            "svarinn_on_error",
            "svarinn_subject",
        ],
    ),
    ("oidc", &["url", "audience", "client_id"]),
    ("retry", &["base", "cap"]),
    ("receipts", &["min_interval", "max_interval"]),
];

const SERVICE_KEYS: [&str; 4] = ["enabled", "ttl_hours", "upload_size_limit", "polling_interval"];

/// Keys only one service's table has: how its transport is reached.
const TRANSPORT_KEYS: &[(Service, &[&str])] = &[
    (
        Service::Dpo,
        &[
            "message_channel",
            "broker_url",
            "resource",
            "token_exchange_url",
            "system_user_org",
            "system_user_name",
        ],
    ),
    (
        Service::Dpe,
        &["service_bus_url", "sas_key_name", "sas_key", "mode", "receipt_queue", "read_max"],
    ),
    (Service::Dpi, &["url", "mpc_id", "krr_print_url"]),
    (
        Service::Dpv,
        &[
            "correspondence_url",
            "notify_email",
            "notify_sms",
            "days_to_reply",
            "enable_due_date",
            "sensitive_resource",
            "notification_text",
            "sensitive_notification_text",
            "email_subject",
        ],
    ),
    (
        Service::Dpf,
        &[
            "svarut_url",
            "svarut_username",
            "svarut_password",
            "svarinn_url",
            "svarinn_username",
            "svarinn_password",
            "receive",
        ],
    ),
];

/// The names of every table.
pub fn tables() -> Vec<&'static str> {
    TABLES.iter().map(|(t, _)| *t).chain(Service::ALL.iter().map(|s| s.table())).collect()
}

/// Every key, dotted: `listen`, `keystore.path`, `dpo.enabled`, ...
pub fn known_keys() -> Vec<String> {
    let mut keys: Vec<String> = TOP.iter().map(|k| k.to_string()).collect();
    for (table, names) in TABLES {
        keys.extend(names.iter().map(|k| format!("{table}.{k}")));
    }
    for svc in Service::ALL {
        for k in SERVICE_KEYS {
            if svc.polls() || k != "polling_interval" {
                keys.push(format!("{}.{k}", svc.table()));
            }
        }
    }
    for (svc, names) in TRANSPORT_KEYS {
        keys.extend(names.iter().map(|k| format!("{}.{k}", svc.table())));
    }
    keys
}

/// Keys whose values are never printed.
pub fn is_secret(key: &str) -> bool {
    key.ends_with("password") || key == "dpe.sas_key"
}

/// Why a key could not be applied.
#[derive(Debug)]
pub enum KeyError {
    Unknown,
    Bad(Expected),
}

impl From<Expected> for KeyError {
    fn from(e: Expected) -> Self {
        KeyError::Bad(e)
    }
}

/// Puts `raw` under `key` (an efm.toml name). `shown_key` is how the source spells
/// the key, for messages about this setting that can only be given later.
pub fn apply(
    draft: &mut Draft,
    key: &str,
    raw: &Raw,
    origin: &Origin,
    shown_key: &str,
) -> Result<(), KeyError> {
    let result = set(draft, key, raw, origin, shown_key);
    if result.is_ok() {
        draft.origins.record(key, origin, shown_key);
    }
    if let (Err(KeyError::Bad(_)), Some(known)) =
        (&result, REPORTED_MISSING.iter().find(|k| **k == key))
    {
        draft.failed.push(known);
    }
    result
}

/// The keys whose absence [`Draft::finish`] reports: once one was given a bad value,
/// that error is enough.
const REPORTED_MISSING: [&str; 10] = [
    "org",
    "keystore.path",
    "keystore.password",
    "tls.cert",
    "tls.key",
    "mail.smtp_host",
    "mail.sender",
    "mail.receiver",
    "mail.username",
    "mail.password",
];

fn set(
    draft: &mut Draft,
    key: &str,
    raw: &Raw,
    origin: &Origin,
    shown_key: &str,
) -> Result<(), KeyError> {
    let c = &mut draft.config;
    match key {
        "listen" => c.listen = parse_listen(&raw.non_empty()?)?,
        "data_dir" => c.data_dir = raw.path()?,
        "org" => c.org = Some(raw.parse()?),
        "registry_url" => c.registry_url = raw.parse()?,
        "registry_signed" => c.registry_signed = raw.bool()?,
        "keystore.path" => {
            draft.keystore_path = Draft::set(raw.path()?, origin, shown_key).map(strip_file_prefix)
        }
        "keystore.alias" => draft.keystore_alias = Draft::set(raw.non_empty()?, origin, shown_key),
        "keystore.password" => {
            draft.keystore_password = Draft::set(secret(raw)?, origin, shown_key)
        }
        "api.auth" => draft.api_auth = Draft::set(raw.bool()?, origin, shown_key),
        "api.user" => draft.api_user = Draft::set(user_name(raw)?, origin, shown_key),
        "api.password" => draft.api_password = Draft::set(secret(raw)?, origin, shown_key),
        "tls.cert" => draft.tls_cert = Draft::set(raw.path()?, origin, shown_key),
        "tls.key" => draft.tls_key = Draft::set(raw.path()?, origin, shown_key),
        "messages.ttl_hours" => c.messages.default_ttl_hours = hours(raw)?,
        "messages.lock_timeout" => c.messages.lock_timeout = raw.interval()?,
        "messages.ttl_check_interval" => c.messages.ttl_check_interval = raw.interval()?,
        "messages.status_services" => c.messages.status_services = raw.services()?,
        "messages.status_queue_includes" => c.messages.status_queue_includes = raw.services()?,
        "messages.arkivmelding_receipts" => c.messages.arkivmelding_receipts = raw.bool()?,
        "status_polling.interval" => c.status_polling.interval = raw.interval()?,
        "status_polling.page_size" => c.status_polling.page_size = raw.positive(100_000)?,
        "status_polling.backoff_threshold_days" => {
            c.status_polling.backoff_threshold_days = raw.positive(3650)?
        }
        "status_polling.backoff_max_interval" => {
            c.status_polling.backoff_max_interval = raw.interval()?
        }
        "webhooks.connect_timeout" => c.webhooks.connect_timeout = raw.interval()?,
        "webhooks.read_timeout" => c.webhooks.read_timeout = raw.interval()?,
        "mail.enabled" => draft.mail_enabled = Draft::set(raw.bool()?, origin, shown_key),
        "mail.smtp_host" => draft.mail_host = Draft::set(host(raw)?, origin, shown_key),
        "mail.smtp_port" => draft.mail_port = Draft::set(port(raw)?, origin, shown_key),
        "mail.sender" => draft.mail_sender = Draft::set(email(raw)?, origin, shown_key),
        "mail.receiver" => draft.mail_receiver = Draft::set(email(raw)?, origin, shown_key),
        "mail.username" => draft.mail_username = Draft::set(raw.non_empty()?, origin, shown_key),
        "mail.password" => draft.mail_password = Draft::set(secret(raw)?, origin, shown_key),
        "mail.trust" => draft.mail_trust = Draft::set(raw.non_empty()?, origin, shown_key),
        "mail.starttls" => draft.mail_starttls = Draft::set(starttls(raw)?, origin, shown_key),
        "mail.auth" => draft.mail_auth = Draft::set(raw.bool()?, origin, shown_key),
        "mail.svarinn_on_error" => draft.mail_svarinn = Draft::set(raw.bool()?, origin, shown_key),
        "mail.svarinn_subject" => c.mail.svarinn_subject = Some(raw.non_empty()?),
        "dpo.message_channel" => c.services.dpo_message_channel = Some(raw.parse()?),
        "oidc.url" => c.transports.oidc.token_url = raw.parse()?,
        "oidc.audience" => c.transports.oidc.audience = raw.non_empty()?,
        "oidc.client_id" => c.transports.oidc.client_id = Some(raw.non_empty()?),
        "dpo.broker_url" => c.transports.dpo.broker_url = raw.parse()?,
        "dpo.resource" => c.transports.dpo.resource = raw.non_empty()?,
        "dpo.token_exchange_url" => c.transports.dpo.token_exchange_url = raw.parse()?,
        "dpo.system_user_org" => {
            c.transports.dpo.system_user_org = Some(party_id(raw.non_empty()?.trim())?)
        }
        "dpo.system_user_name" => c.transports.dpo.system_user_name = Some(raw.non_empty()?),
        "dpe.service_bus_url" => c.transports.dpe.service_bus_url = raw.parse()?,
        "dpe.sas_key_name" => c.transports.dpe.sas_key_name = raw.non_empty()?,
        "dpe.sas_key" => c.transports.dpe.sas_key = sas_key(raw)?,
        "dpe.mode" => c.transports.dpe.mode = raw.parse()?,
        "dpe.receipt_queue" => c.transports.dpe.receipt_queue = receipt_queue(raw)?,
        "dpe.read_max" => c.transports.dpe.read_max = raw.positive(10_000)?,
        "dpi.url" => c.transports.dpi.url = raw.parse()?,
        "dpi.mpc_id" => c.transports.dpi.mpc_id = raw.non_empty()?,
        "dpi.krr_print_url" => c.transports.dpi.krr_print_url = Some(raw.parse()?),
        "dpv.correspondence_url" => c.transports.dpv.correspondence_url = raw.parse()?,
        "dpv.notify_email" => c.transports.dpv.notify_email = raw.bool()?,
        "dpv.notify_sms" => c.transports.dpv.notify_sms = raw.bool()?,
        "dpv.days_to_reply" => c.transports.dpv.days_to_reply = raw.positive(3650)?.get(),
        "dpv.enable_due_date" => c.transports.dpv.enable_due_date = raw.bool()?,
        "dpv.sensitive_resource" => c.transports.dpv.sensitive_resource = raw.non_empty()?,
        "dpv.notification_text" => c.transports.dpv.notification_text = raw.non_empty()?,
        "dpv.sensitive_notification_text" => {
            c.transports.dpv.sensitive_notification_text = raw.non_empty()?
        }
        "dpv.email_subject" => c.transports.dpv.email_subject = raw.non_empty()?,
        "dpf.svarut_url" => c.transports.dpf.svarut_url = raw.parse()?,
        "dpf.svarut_username" => c.transports.dpf.svarut_username = Some(raw.non_empty()?),
        "dpf.svarut_password" => c.transports.dpf.svarut_password = Some(secret(raw)?),
        "dpf.svarinn_url" => c.transports.dpf.svarinn_url = raw.parse()?,
        "dpf.svarinn_username" => c.transports.dpf.svarinn_username = Some(raw.non_empty()?),
        "dpf.svarinn_password" => c.transports.dpf.svarinn_password = Some(secret(raw)?),
        "dpf.receive" => c.transports.dpf.receive = Some(raw.bool()?),
        "retry.base" => {
            c.transports.retry.base = raw.interval()?;
            draft.retry_base = Draft::set(raw.shown(), origin, shown_key);
        }
        "retry.cap" => {
            c.transports.retry.cap = raw.interval()?;
            draft.retry_cap = Draft::set(raw.shown(), origin, shown_key);
        }
        "receipts.min_interval" => c.transports.receipts.min_interval = raw.interval()?,
        "receipts.max_interval" => c.transports.receipts.max_interval = raw.interval()?,
        _ => return apply_service(draft, key, raw, origin, shown_key),
    }
    Ok(())
}

fn apply_service(
    draft: &mut Draft,
    key: &str,
    raw: &Raw,
    origin: &Origin,
    shown_key: &str,
) -> Result<(), KeyError> {
    let (table, name) = key.split_once('.').ok_or(KeyError::Unknown)?;
    let svc = Service::ALL.into_iter().find(|s| s.table() == table).ok_or(KeyError::Unknown)?;
    let settings = draft.config.services.get_mut(svc);
    match name {
        "enabled" => {
            let on = raw.bool()?;
            settings.enabled = on;
            draft.enabled_by[svc.index()] =
                on.then(|| Draft::set(true, origin, shown_key)).flatten();
        }
        "ttl_hours" => settings.ttl_hours = Some(hours(raw)?),
        "upload_size_limit" => settings.upload_size_limit = raw.byte_size()?,
        "polling_interval" if svc.polls() => settings.polling_interval = Some(raw.interval()?),
        _ => return Err(KeyError::Unknown),
    }
    Ok(())
}

/// Turns every service on or off at once, as `EFM_ENABLE=DPO,DPE` does.
pub fn apply_enable(
    draft: &mut Draft,
    raw: &Raw,
    origin: &Origin,
    shown_key: &str,
) -> Result<(), Expected> {
    let on = raw.services()?;
    for svc in Service::ALL {
        let enabled = on.contains(svc);
        draft.config.services.get_mut(svc).enabled = enabled;
        draft.origins.record(&format!("{}.enabled", svc.table()), origin, shown_key);
        draft.enabled_by[svc.index()] =
            enabled.then(|| Draft::set(true, origin, shown_key)).flatten();
    }
    Ok(())
}

/// Sets the polling interval of every service that polls, as `EFM_POLL_INTERVAL=1s` does.
pub fn apply_poll_interval(
    draft: &mut Draft,
    raw: &Raw,
    origin: &Origin,
    shown_key: &str,
) -> Result<(), Expected> {
    let interval = raw.interval()?;
    for svc in Service::ALL.into_iter().filter(|s| s.polls()) {
        draft.config.services.get_mut(svc).polling_interval = Some(interval);
        draft.origins.record(&format!("{}.polling_interval", svc.table()), origin, shown_key);
    }
    Ok(())
}

/// The reference reads keystore paths as Spring resources; `file:` is the only kind
/// that names a file efm can open.
fn strip_file_prefix(
    mut set: crate::draft::Set<std::path::PathBuf>,
) -> crate::draft::Set<std::path::PathBuf> {
    if let Some(rest) = set.value.to_str().and_then(|s| s.strip_prefix("file:")) {
        set.value = rest.into();
    }
    set
}

/// Up to ten years, which is longer than any message should wait.
fn hours(raw: &Raw) -> Result<Hours, Expected> {
    let n = raw.number(1, 87_600)?;
    Hours::new(n).ok_or_else(|| Expected::new("a whole number from 1 to 87600"))
}

fn secret(raw: &Raw) -> Result<Secret, Expected> {
    raw.non_empty().map(Secret::new)
}

/// The reference's default `<token>` is a placeholder for "not set".
fn sas_key(raw: &Raw) -> Result<Option<Secret>, Expected> {
    let key = secret(raw)?;
    Ok((key.expose().trim() != SAS_KEY_PLACEHOLDER).then_some(key))
}

/// Blank is unset, as the reference reads it (`StringUtils.hasText`).
fn receipt_queue(raw: &Raw) -> Result<Option<String>, Expected> {
    match raw {
        Raw::Text(s) | Raw::Str(s) if s.trim().is_empty() => Ok(None),
        _ => queue_suffix(raw.non_empty()?.trim()).map(Some),
    }
}

/// HTTP Basic cannot carry a colon in the user name.
fn user_name(raw: &Raw) -> Result<String, Expected> {
    let user = raw.non_empty()?;
    if user.contains(':') {
        return Err(Expected::because("a user name", "no colon allowed in HTTP Basic"));
    }
    Ok(user)
}

fn host(raw: &Raw) -> Result<String, Expected> {
    let h = raw.non_empty()?;
    if h.chars().any(|c| c.is_whitespace() || c == '/' || c == ':') {
        return Err(Expected::new("a host name like smtp.example.no"));
    }
    Ok(h)
}

fn port(raw: &Raw) -> Result<u16, Expected> {
    let text = match raw {
        Raw::Int(n) => n.to_string(),
        _ => raw.non_empty()?,
    };
    match parse_port(text.trim()) {
        Ok(0) => Err(Expected::because("a port from 1 to 65535", "port 0")),
        Ok(p) => Ok(p),
        Err(why) => Err(Expected::because("a port from 1 to 65535", why)),
    }
}

fn starttls(raw: &Raw) -> Result<crate::model::StartTls, Expected> {
    use crate::model::StartTls;
    match raw.non_empty()?.trim().to_ascii_lowercase().as_str() {
        "opportunistic" => Ok(StartTls::Opportunistic),
        "required" => Ok(StartTls::Required),
        "off" => Ok(StartTls::Off),
        _ => Err(Expected::new("opportunistic, required or off")),
    }
}

/// A plausible address; the SMTP server has the last word.
fn email(raw: &Raw) -> Result<String, Expected> {
    let a = raw.non_empty()?;
    match a.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !a.contains(char::is_whitespace) =>
        {
            Ok(a)
        }
        _ => Err(Expected::new("an e-mail address like efm@example.no")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list the "did you mean" suggestions come from matches what `apply` reads.
    #[test]
    fn every_known_key_is_applied() {
        let origin = Origin::Env;
        for key in known_keys() {
            let mut draft = Draft::default();
            let result = apply(&mut draft, &key, &Raw::Text("x".into()), &origin, &key);
            assert!(!matches!(result, Err(KeyError::Unknown)), "{key}");
        }
        let mut draft = Draft::default();
        assert!(matches!(
            apply(&mut draft, "dpv.polling_interval", &Raw::Text("1s".into()), &origin, "k"),
            Err(KeyError::Unknown)
        ));
    }
}
