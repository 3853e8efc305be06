//! The `EFM_*` environment layer.

use crate::draft::Draft;
use crate::keys::{self, KeyError};
use crate::problem::{Origin, Problem, Warning};
use crate::raw::Raw;
use crate::suggest::closest;

/// Each variable and the efm.toml key it sets. `EFM_ENABLE` and `EFM_POLL_INTERVAL`
/// are handled on their own: each sets one key of several services at once.
pub const VARS: &[(&str, &str)] = &[
    ("EFM_LISTEN", "listen"),
    ("EFM_DATA_DIR", "data_dir"),
    ("EFM_ORG", "org"),
    ("EFM_KEYSTORE", "keystore.path"),
    ("EFM_KEYSTORE_PASSWORD", "keystore.password"),
    ("EFM_KEYSTORE_ALIAS", "keystore.alias"),
    ("EFM_REGISTRY_URL", "registry_url"),
    ("EFM_REGISTRY_SIGNED", "registry_signed"),
    ("EFM_API_AUTH", "api.auth"),
    ("EFM_API_USER", "api.user"),
    ("EFM_API_PASSWORD", "api.password"),
    ("EFM_TLS_CERT", "tls.cert"),
    ("EFM_TLS_KEY", "tls.key"),
    ("EFM_LOCK_TIMEOUT", "messages.lock_timeout"),
    ("EFM_TTL_HOURS", "messages.ttl_hours"),
    ("EFM_DPO_MESSAGE_CHANNEL", "dpo.message_channel"),
    ("EFM_MASKINPORTEN_URL", "oidc.url"),
    ("EFM_DPO_BROKER_URL", "dpo.broker_url"),
    ("EFM_ALTINN_EXCHANGE_URL", "dpo.token_exchange_url"),
    ("EFM_DPE_URL", "dpe.service_bus_url"),
    ("EFM_DPE_SAS_KEY", "dpe.sas_key"),
    ("EFM_DPE_MODE", "dpe.mode"),
    ("EFM_DPI_URL", "dpi.url"),
    ("EFM_DPI_KRR_PRINT_URL", "dpi.krr_print_url"),
    ("EFM_DPV_URL", "dpv.correspondence_url"),
    ("EFM_SVARUT_URL", "dpf.svarut_url"),
    ("EFM_SVARUT_USERNAME", "dpf.svarut_username"),
    ("EFM_SVARUT_PASSWORD", "dpf.svarut_password"),
    ("EFM_SVARINN_URL", "dpf.svarinn_url"),
    ("EFM_SVARINN_USERNAME", "dpf.svarinn_username"),
    ("EFM_SVARINN_PASSWORD", "dpf.svarinn_password"),
    ("EFM_RETRY_BASE", "retry.base"),
    ("EFM_RETRY_CAP", "retry.cap"),
    ("EFM_RECEIPT_POLL_MIN", "receipts.min_interval"),
    ("EFM_MAIL_ERROR_STATUS", "mail.enabled"),
    ("EFM_MAIL_SMTP_HOST", "mail.smtp_host"),
    ("EFM_MAIL_SMTP_PORT", "mail.smtp_port"),
    ("EFM_MAIL_STARTTLS", "mail.starttls"),
    ("EFM_MAIL_AUTH", "mail.auth"),
    ("EFM_MAIL_USERNAME", "mail.username"),
    ("EFM_MAIL_PASSWORD", "mail.password"),
    ("EFM_MAIL_TRUST", "mail.trust"),
    ("EFM_MAIL_SENDER", "mail.sender"),
    ("EFM_MAIL_RECEIVER", "mail.receiver"),
    ("EFM_MAIL_SVARINN_ON_ERROR", "mail.svarinn_on_error"),
    ("EFM_MAIL_SVARINN_SUBJECT", "mail.svarinn_subject"),
];

/// Sets every `<service>.enabled`.
pub const ENABLE: &str = "EFM_ENABLE";

/// Sets every `<service>.polling_interval` (all services but DPV).
pub const POLL_INTERVAL: &str = "EFM_POLL_INTERVAL";

/// Variables other parts of efm read, so they are not reported as unknown here.
const NOT_CONFIG: [&str; 2] = ["EFM_LOG", "EFM_RUNTIME"];

/// Applies the `EFM_*` pairs of `env`, in name order so that the result does not
/// depend on the order the process environment happens to list them.
pub fn apply(
    draft: &mut Draft,
    env: impl IntoIterator<Item = (String, String)>,
    errors: &mut Vec<Problem>,
    warnings: &mut Vec<Warning>,
) {
    let mut vars: Vec<(String, String)> =
        env.into_iter().filter(|(k, _)| k.starts_with("EFM_")).collect();
    vars.sort();
    let origin = Origin::Env;
    for (var, value) in vars {
        let raw = Raw::Text(value);
        let key = VARS.iter().find(|(v, _)| *v == var).map_or("", |(_, k)| *k);
        let result = if var == ENABLE {
            keys::apply_enable(draft, &raw, &origin, &var).map_err(KeyError::Bad)
        } else if var == POLL_INTERVAL {
            keys::apply_poll_interval(draft, &raw, &origin, &var).map_err(KeyError::Bad)
        } else if !key.is_empty() {
            keys::apply(draft, key, &raw, &origin, &var)
        } else {
            Err(KeyError::Unknown)
        };
        match result {
            Ok(()) => {}
            Err(KeyError::Bad(expected)) => errors.push(Problem::BadValue {
                origin: origin.clone(),
                value: raw.shown_for(key),
                key: var,
                expected,
            }),
            Err(KeyError::Unknown) if NOT_CONFIG.contains(&var.as_str()) => {}
            Err(KeyError::Unknown) => warnings.push(Warning::UnknownEnv {
                suggestion: closest(
                    &var,
                    VARS.iter().map(|(v, _)| *v).chain([ENABLE, POLL_INTERVAL]),
                ),
                var,
            }),
        }
    }
}
