//! A configuration being assembled from its layers, and the checks that need all of
//! them (settings that only make sense together).

use std::path::PathBuf;

use crate::expected::Expected;
use crate::model::{ApiAuth, Config, DEFAULT_API_USER, Keystore, Smtp, SmtpAuth, StartTls, Tls};
use crate::problem::{Origin, Problem};
use crate::provenance::Origins;
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
    pub mail_starttls: Option<Set<StartTls>>,
    pub mail_auth: Option<Set<bool>>,
    pub mail_svarinn: Option<Set<bool>>,
    /// The retry delays as written (their values are in `config`), to point at the
    /// one that makes the cap shorter than the first delay.
    pub retry_base: Option<Set<String>>,
    pub retry_cap: Option<Set<String>>,
    /// Who turned each service on, to point at it when the service lacks something.
    pub enabled_by: [Option<Set<bool>>; 6],
    /// Keys given a bad value: already reported, so not reported again as missing.
    pub failed: Vec<&'static str>,
    /// Who set each key last.
    pub origins: Origins,
}

/// SMTP submission with STARTTLS, which the reference always uses.
const DEFAULT_SMTP_PORT: u16 = 587;

impl Draft {
    pub fn set<T>(value: T, origin: &Origin, key: &str) -> Option<Set<T>> {
        Some(Set { value, origin: origin.clone(), key: key.to_owned() })
    }

    pub fn finish(self, errors: &mut Vec<Problem>) -> Config {
        let mut config = self.config;
        let mut missing = Missing { errors, failed: &self.failed };

        config.keystore = missing
            .both(
                &self.keystore_path,
                &self.keystore_password,
                ("keystore.path", "keystore.password"),
                "a keystore needs its path and its password",
            )
            .map(|(path, password)| Keystore {
                path,
                alias: self.keystore_alias.as_ref().map(|s| s.value.clone()),
                password,
            });
        if let Some(alias) = &self.keystore_alias
            && self.keystore_path.is_none()
            && self.keystore_password.is_none()
        {
            missing.report(alias, "keystore.path", "a keystore needs its path and its password");
        }

        config.tls = missing
            .both(
                &self.tls_cert,
                &self.tls_key,
                ("tls.cert", "tls.key"),
                "TLS needs a certificate and its key",
            )
            .map(|(cert, key)| Tls { cert, key });

        let auth_on = self.api_auth.as_ref().is_none_or(|s| s.value);
        config.api_auth = if !auth_on {
            ApiAuth::Off
        } else {
            let user =
                self.api_user.map(|s| s.value).unwrap_or_else(|| DEFAULT_API_USER.to_owned());
            match self.api_password {
                Some(p) => ApiAuth::Basic { user, password: p.value },
                None => ApiAuth::GeneratePassword { user },
            }
        };

        config.mail.on_feil = self.mail_enabled.as_ref().is_some_and(|s| s.value);
        config.mail.svarinn_on_error = self.mail_svarinn.as_ref().is_some_and(|s| s.value);
        // The first path switched on is where a missing server setting is reported.
        let wanted_by =
            [&self.mail_enabled, &self.mail_svarinn].into_iter().flatten().find(|s| s.value);
        config.mail.smtp = match wanted_by {
            Some(on) => {
                let hint = "mail on errors needs a server, a sender and a receiver";
                let mut need = |field: &Option<Set<String>>, key: &'static str| match field {
                    Some(s) => Some(s.value.clone()),
                    None => {
                        missing.report(on, key, hint);
                        None
                    }
                };
                let host = need(&self.mail_host, "mail.smtp_host");
                let sender = need(&self.mail_sender, "mail.sender");
                let receiver = need(&self.mail_receiver, "mail.receiver");
                let auth = match &self.mail_auth {
                    // Switched off: no login, whatever else is set (`enableAuth=false`).
                    Some(a) if !a.value => None,
                    Some(a) => {
                        let hint = "SMTP login needs a user name and a password";
                        if self.mail_username.is_none() {
                            missing.report(a, "mail.username", hint);
                        }
                        if self.mail_password.is_none() {
                            missing.report(a, "mail.password", hint);
                        }
                        self.mail_username.as_ref().zip(self.mail_password.as_ref()).map(
                            |(u, p)| SmtpAuth {
                                username: u.value.clone(),
                                password: p.value.clone(),
                            },
                        )
                    }
                    None => missing
                        .both(
                            &self.mail_username,
                            &self.mail_password,
                            ("mail.username", "mail.password"),
                            "SMTP login needs a user name and a password",
                        )
                        .map(|(username, password)| SmtpAuth { username, password }),
                };
                match (host, sender, receiver) {
                    (Some(host), Some(sender), Some(receiver)) => Some(Smtp {
                        host,
                        port: self.mail_port.map_or(DEFAULT_SMTP_PORT, |p| p.value),
                        starttls: self.mail_starttls.map(|s| s.value).unwrap_or_default(),
                        sender,
                        receiver,
                        auth,
                        trust: self.mail_trust.map(|t| t.value),
                    }),
                    _ => None,
                }
            }
            None => None,
        };

        // A cap shorter than the first delay: point at the cap if a source set it,
        // else at the base (the defaults, 20 s and 1 h, are in order).
        let retry = &config.transports.retry;
        let too_short = match (&self.retry_cap, &self.retry_base) {
            (Some(cap), _) => {
                Some((cap, format!("a duration no shorter than retry.base ({})", retry.base)))
            }
            (None, Some(base)) => {
                Some((base, format!("a duration no longer than retry.cap ({})", retry.cap)))
            }
            (None, None) => None,
        };
        if let Some((set, expected)) = too_short.filter(|_| retry.cap < retry.base) {
            missing.errors.push(Problem::BadValue {
                origin: set.origin.clone(),
                key: set.key.clone(),
                value: set.value.clone(),
                expected: Expected::new(expected),
            });
        }

        // A service works for an organisation with its business certificate; say so
        // once, at the first service that was turned on without them.
        let first_enabled = Service::ALL
            .into_iter()
            .filter(|s| config.services.get(*s).enabled)
            .find_map(|s| self.enabled_by[s.index()].as_ref());
        if let Some(by) = first_enabled {
            let hint = "enabled services act for our organisation with its business certificate";
            if config.org.is_none() {
                missing.report(by, "org", hint);
            }
            if self.keystore_path.is_none() && self.keystore_password.is_none() {
                missing.report(by, "keystore.path", hint);
            }
        }
        config
    }
}

/// Reports settings missing from a group, except those already reported as bad.
struct Missing<'a> {
    errors: &'a mut Vec<Problem>,
    failed: &'a [&'static str],
}

impl Missing<'_> {
    /// `set` is there but needs `key`, which is not.
    fn report<T>(&mut self, set: &Set<T>, key: &'static str, hint: &'static str) {
        if self.failed.contains(&key) {
            return;
        }
        self.errors.push(Problem::Incomplete {
            origin: set.origin.clone(),
            key: set.key.clone(),
            missing: display_name(key),
            hint,
        });
    }

    /// Two settings that go together: both or neither. One alone is an error at the
    /// place it was set.
    fn both<A: Clone, B: Clone>(
        &mut self,
        a: &Option<Set<A>>,
        b: &Option<Set<B>>,
        keys: (&'static str, &'static str),
        hint: &'static str,
    ) -> Option<(A, B)> {
        match (a, b) {
            (Some(a), Some(b)) => Some((a.value.clone(), b.value.clone())),
            (Some(a), None) => {
                self.report(a, keys.1, hint);
                None
            }
            (None, Some(b)) => {
                self.report(b, keys.0, hint);
                None
            }
            (None, None) => None,
        }
    }
}

/// An efm.toml key, with the variable that also sets it: `org (EFM_ORG)`.
fn display_name(key: &str) -> String {
    match crate::env::VARS.iter().find(|(_, k)| *k == key) {
        Some((var, _)) => format!("{key} ({var})"),
        None => key.to_owned(),
    }
}
