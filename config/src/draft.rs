//! A configuration being assembled from its layers, and the checks that need all of
//! them (settings that only make sense together).

use std::path::PathBuf;

use crate::model::{ApiAuth, Config, DEFAULT_API_USER, Keystore, Mail, Smtp, SmtpAuth, Tls};
use crate::problem::{Origin, Problem};
use crate::secret::Secret;
use crate::service::Service;

/// A value and who set it, kept for settings whose errors can only be found once
/// every layer is in.
#[derive(Clone, Debug)]
pub struct Set<T> {
    pub value: T,
    pub origin: Origin,
    /// The key as its source spells it.
    pub key: String,
}

/// Later layers overwrite earlier ones field by field. Settings that stand alone go
/// straight into `config`; the ones in groups wait for [`Draft::finish`].
#[derive(Debug, Default)]
pub struct Draft {
    pub config: Config,
    pub keystore_path: Option<Set<PathBuf>>,
    pub keystore_alias: Option<Set<String>>,
    pub keystore_password: Option<Set<Secret>>,
    pub api_auth: Option<Set<bool>>,
    pub api_user: Option<Set<String>>,
    pub api_password: Option<Set<Secret>>,
    pub tls_cert: Option<Set<PathBuf>>,
    pub tls_key: Option<Set<PathBuf>>,
    pub mail_enabled: Option<Set<bool>>,
    pub mail_host: Option<Set<String>>,
    pub mail_port: Option<Set<u16>>,
    pub mail_sender: Option<Set<String>>,
    pub mail_receiver: Option<Set<String>>,
    pub mail_username: Option<Set<String>>,
    pub mail_password: Option<Set<Secret>>,
    pub mail_trust: Option<Set<String>>,
    /// Who turned each service on, to point at it when the service lacks something.
    pub enabled_by: [Option<Set<bool>>; 6],
}

/// SMTP submission with STARTTLS, which the reference always uses.
const DEFAULT_SMTP_PORT: u16 = 587;

impl Draft {
    pub fn set<T>(value: T, origin: &Origin, key: &str) -> Option<Set<T>> {
        Some(Set {
            value,
            origin: origin.clone(),
            key: key.to_owned(),
        })
    }

    pub fn finish(self, errors: &mut Vec<Problem>) -> Config {
        let mut config = self.config;

        config.keystore = both(
            &self.keystore_path,
            &self.keystore_password,
            (
                "keystore.path (EFM_KEYSTORE)",
                "keystore.password (EFM_KEYSTORE_PASSWORD)",
            ),
            "a keystore needs its path and its password",
            errors,
        )
        .map(|(path, password)| Keystore {
            path,
            alias: self.keystore_alias.as_ref().map(|s| s.value.clone()),
            password,
        });
        if config.keystore.is_none()
            && let Some(alias) = &self.keystore_alias
            && self.keystore_path.is_none()
            && self.keystore_password.is_none()
        {
            errors.push(incomplete(
                alias,
                "keystore.path (EFM_KEYSTORE)",
                "a keystore needs its path and its password",
            ));
        }

        config.tls = both(
            &self.tls_cert,
            &self.tls_key,
            ("tls.cert", "tls.key"),
            "TLS needs a certificate and its key",
            errors,
        )
        .map(|(cert, key)| Tls { cert, key });

        let auth_on = self.api_auth.as_ref().is_none_or(|s| s.value);
        config.api_auth = if !auth_on {
            ApiAuth::Off
        } else {
            let user = self
                .api_user
                .map(|s| s.value)
                .unwrap_or_else(|| DEFAULT_API_USER.to_owned());
            match self.api_password {
                Some(p) => ApiAuth::Basic {
                    user,
                    password: p.value,
                },
                None => ApiAuth::GeneratePassword { user },
            }
        };

        config.mail = match &self.mail_enabled {
            Some(on) if on.value => {
                let mut need = |field: &Option<Set<String>>, name: &str| match field {
                    Some(s) => Some(s.value.clone()),
                    None => {
                        errors.push(incomplete(
                            on,
                            name,
                            "mail on errors needs a server, a sender and a receiver",
                        ));
                        None
                    }
                };
                let host = need(&self.mail_host, "mail.smtp_host");
                let sender = need(&self.mail_sender, "mail.sender");
                let receiver = need(&self.mail_receiver, "mail.receiver");
                let auth = both(
                    &self.mail_username,
                    &self.mail_password,
                    ("mail.username", "mail.password"),
                    "SMTP login needs a user name and a password",
                    errors,
                )
                .map(|(username, password)| SmtpAuth { username, password });
                match (host, sender, receiver) {
                    (Some(host), Some(sender), Some(receiver)) => Mail::OnError(Smtp {
                        host,
                        port: self.mail_port.map_or(DEFAULT_SMTP_PORT, |p| p.value),
                        sender,
                        receiver,
                        auth,
                        trust: self.mail_trust.map(|t| t.value),
                    }),
                    _ => Mail::Off,
                }
            }
            _ => Mail::Off,
        };

        // A service works for an organisation with its business certificate; say so
        // once, at the first service that was turned on without them.
        let first_enabled = Service::ALL
            .into_iter()
            .filter(|s| config.services.get(*s).enabled)
            .find_map(|s| self.enabled_by[s.index()].as_ref());
        if let Some(by) = first_enabled {
            let hint = "enabled services act for our organisation with its business certificate";
            if config.org.is_none() {
                errors.push(incomplete(by, "org (EFM_ORG)", hint));
            }
            if config.keystore.is_none()
                && self.keystore_path.is_none()
                && self.keystore_password.is_none()
            {
                errors.push(incomplete(by, "keystore.path (EFM_KEYSTORE)", hint));
            }
        }
        config
    }
}

fn incomplete<T>(set: &Set<T>, missing: &str, hint: &'static str) -> Problem {
    Problem::Incomplete {
        origin: set.origin.clone(),
        key: set.key.clone(),
        missing: missing.to_owned(),
        hint,
    }
}

/// Two settings that go together: both or neither. One alone is an error at the
/// place it was set.
fn both<A: Clone, B: Clone>(
    a: &Option<Set<A>>,
    b: &Option<Set<B>>,
    names: (&str, &str),
    hint: &'static str,
    errors: &mut Vec<Problem>,
) -> Option<(A, B)> {
    match (a, b) {
        (Some(a), Some(b)) => Some((a.value.clone(), b.value.clone())),
        (Some(a), None) => {
            errors.push(incomplete(a, names.1, hint));
            None
        }
        (None, Some(b)) => {
            errors.push(incomplete(b, names.0, hint));
            None
        }
        (None, None) => None,
    }
}
