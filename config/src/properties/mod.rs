//! The reference's `integrasjonspunkt-local.properties`, read so that an existing
//! installation can point efm at the file it has.
//!
//! Supported keys (see [`mapping`]) set the matching efm setting; keys efm has no use
//! for are listed once in a warning; values efm cannot honour are errors.

pub mod mapping;
mod service_bus;
pub mod syntax;

use std::net::IpAddr;

use crate::draft::Draft;
use crate::expected::Expected;
use crate::keys::{self, KeyError};
use crate::listen::parse_port;
use crate::problem::{Origin, Problem, Warning};
use crate::raw::Raw;
use mapping::{Target, Unit};
use service_bus::ServiceBusParts;

/// Applies the properties file `text` at `path`. `env` answers `${NAME}` placeholders
/// that the file itself does not define, as Spring does with the environment.
pub fn apply(
    draft: &mut Draft,
    path: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<Problem>,
    warnings: &mut Vec<Warning>,
) {
    let (entries, syntax_errors) = syntax::parse(text);
    for e in syntax_errors {
        errors.push(Problem::Syntax { origin: Origin::file(path, e.line), message: e.message });
    }
    let defined = |name: &str| {
        entries
            .iter()
            .rev()
            .find(|e| e.key == name)
            .map(|e| e.value.clone())
            .or_else(|| env(name))
            .or_else(|| env(&name.replace(['.', '-'], "_").to_ascii_uppercase()))
            .or_else(|| mapping::reference_default(name).map(str::to_owned))
    };
    let sets_address = entries.iter().any(|e| mapping::target(&e.key) == Some(Target::Address));
    let mut unsupported: Vec<String> = Vec::new();
    let mut service_bus = ServiceBusParts::default();
    for entry in &entries {
        let origin = Origin::file(path, entry.line);
        let Some(target) = mapping::target(&entry.key) else {
            if !unsupported.contains(&entry.key) {
                unsupported.push(entry.key.clone());
            }
            continue;
        };
        let efm_key = match target {
            Target::Key(k, _) => k,
            _ => "",
        };
        let bad = |expected: Expected| Problem::BadValue {
            origin: origin.clone(),
            key: entry.key.clone(),
            value: Raw::Text(entry.value.clone()).shown_for(efm_key),
            expected,
        };
        let value = match resolve(&entry.value, &defined) {
            Ok(v) => v,
            Err(e) => {
                errors.push(bad(e));
                continue;
            }
        };
        let is_secret = keys::is_secret(efm_key);
        // Only secrets keep surrounding blanks: Java keeps trailing blanks in every
        // value, but in a number, a path or a URL they are a copy-paste accident.
        let value = if is_secret { value } else { value.trim().to_owned() };
        let result = match target {
            Target::Key(key, unit) => match convert(&value, unit) {
                Ok(raw) => match keys::apply(draft, key, &raw, &origin, &entry.key) {
                    Ok(()) => Ok(()),
                    Err(KeyError::Bad(e)) => Err(e),
                    Err(KeyError::Unknown) => Err(Expected::new("a setting efm knows")),
                },
                Err(e) => Err(e),
            },
            Target::Port => match parse_port(&value) {
                Ok(port) => {
                    draft.config.listen.set_port(port);
                    draft.origins.record("listen", &origin, &entry.key);
                    if !sets_address {
                        warnings.push(Warning::Note {
                            origin: origin.clone(),
                            key: entry.key.clone(),
                            note: "sets the port only: efm listens on 127.0.0.1 unless server.address or EFM_LISTEN says otherwise (the reference listens on every interface)",
                        });
                    }
                    Ok(())
                }
                Err(why) => Err(Expected::because("a port from 0 to 65535", why)),
            },
            Target::Address => match value.parse::<IpAddr>() {
                Ok(ip) => {
                    draft.config.listen.set_ip(ip);
                    draft.origins.record("listen", &origin, &entry.key);
                    Ok(())
                }
                Err(_) => Err(Expected::new("an IP address like 0.0.0.0")),
            },
            Target::KeystoreType => match value.eq_ignore_ascii_case("PKCS12") {
                true => Ok(()),
                false => Err(Expected::because(
                    "PKCS12",
                    "efm reads PKCS#12 keystores only; convert with keytool -importkeystore",
                )),
            },
            Target::ServiceBusHost => {
                service_bus.host = Draft::set(value, &origin, &entry.key);
                Ok(())
            }
            Target::ServiceBusHttps => Raw::Text(value).bool().map(|on| {
                service_bus.https = Draft::set(on, &origin, &entry.key);
            }),
            Target::Only(accepted) => {
                if !value.eq_ignore_ascii_case(accepted) && !unsupported.contains(&entry.key) {
                    unsupported.push(entry.key.clone());
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            errors.push(bad(e));
        }
    }
    service_bus.apply(draft, errors);
    if !unsupported.is_empty() {
        warnings.push(Warning::UnsupportedKeys { path: path.to_owned(), keys: unsupported });
    }
}

/// Replaces `${name}` and `${name:default}` as Spring does, one level deep.
fn resolve(value: &str, defined: &dyn Fn(&str) -> Option<String>) -> Result<String, Expected> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| {
            Expected::because("a value with complete ${...} placeholders", "no closing }")
        })?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(':') {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match defined(name).filter(|v| !v.contains("${")).or(default.map(str::to_owned)) {
            Some(v) => out.push_str(&v),
            None => {
                return Err(Expected::because(
                    "a value whose ${...} placeholders are set",
                    format!("{name} is not set in this file or the environment"),
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn convert(value: &str, unit: Unit) -> Result<Raw, Expected> {
    let number = |what: &str| {
        value.parse::<u64>().map_err(|_| Expected::new(format!("a whole number of {what}")))
    };
    Ok(Raw::Text(match unit {
        Unit::Same => value.to_owned(),
        Unit::Millis => format!("{}ms", number("milliseconds")?),
        Unit::Minutes => format!("{}m", number("minutes")?),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        let defined = |n: &str| match n {
            "a" => Some("1".to_owned()),
            "loop" => Some("${loop}".to_owned()),
            _ => None,
        };
        assert_eq!(resolve("x${a}y", &defined).unwrap(), "x1y");
        assert_eq!(resolve("${b:2}", &defined).unwrap(), "2");
        assert_eq!(resolve("${b:}", &defined).unwrap(), "");
        assert!(resolve("${b}", &defined).is_err());
        assert!(resolve("${a", &defined).is_err());
        assert!(resolve("${loop}", &defined).is_err());
    }

    #[test]
    fn every_mapped_key_exists() {
        let known = keys::known_keys();
        for (_, target) in mapping::mapped_keys() {
            if let Target::Key(k, _) = target {
                assert!(known.iter().any(|x| x == k), "{k}");
            }
        }
    }
}
