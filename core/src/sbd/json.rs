//! SBD JSON: exactly two keys, the header and a business message named after the
//! document's `type`, in either order; written back header first.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::header::WireHeader;
use super::{BusinessMessage, MessageType, Sbd, SbdError, Violation};

pub(super) const HEADER_KEY: &str = "standardBusinessDocumentHeader";

/// The top-level object with its keys in order, duplicates kept, so that an extra or
/// repeated key is seen rather than silently merged.
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an SBD object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = map.next_entry::<String, Value>()? {
                    if v.len() == 2 {
                        return Err(de::Error::custom(format!(
                            "unexpected key '{k}': an SBD has exactly two keys, {HEADER_KEY} and the business message"
                        )));
                    }
                    v.push((k, val));
                }
                Ok(Entries(v))
            }
        }
        d.deserialize_map(V)
    }
}

fn unreadable(e: impl fmt::Display) -> SbdError {
    SbdError::Unreadable(format!("JSON parse error: {e}"))
}

/// Which of the reference's constraints a read applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Checks {
    /// All: the header's and the business message's `@NotNull`s, as on the API.
    Created,
    /// The header's only. The reference validates the business message of what its
    /// fagsystem creates (the API's `@Valid`), not of what a peer sends it: a received
    /// innsynskrav without `orgnr` is delivered as it came.
    Received,
}

impl Sbd {
    pub fn from_json(bytes: &[u8]) -> Result<Self, SbdError> {
        Sbd::read_json(bytes, Checks::Created)
    }

    /// An SBD another integration point sent (or one stored as received): read as
    /// [`Sbd::from_json`] reads, without the business message's constraints.
    pub fn from_json_received(bytes: &[u8]) -> Result<Self, SbdError> {
        Sbd::read_json(bytes, Checks::Received)
    }

    fn read_json(bytes: &[u8], checks: Checks) -> Result<Self, SbdError> {
        let Entries(entries) = serde_json::from_slice(bytes).map_err(unreadable)?;
        let mut header = None;
        let mut business = None;
        for (k, v) in entries {
            if k == HEADER_KEY {
                if header.replace(v).is_some() {
                    return Err(unreadable(format!("duplicate key '{HEADER_KEY}'")));
                }
            } else if business.replace((k, v)).is_some() {
                return Err(unreadable(format!("missing '{HEADER_KEY}'")));
            }
        }
        let header = header.ok_or_else(|| unreadable(format!("missing '{HEADER_KEY}'")))?;
        let (key, body) = business.ok_or_else(|| unreadable("missing the business message"))?;
        Sbd::from_parts(header, &key, body, true, checks)
    }

    /// Shared by the JSON and XML readers: the header as JSON, the business message's
    /// key, and its body. `strict_type` makes a header `type` that is not a message
    /// type an error; the XML reader relaxes it for the legacy form (see `xml.rs`).
    pub(super) fn from_parts(
        header: Value,
        key: &str,
        body: Value,
        strict_type: bool,
        checks: Checks,
    ) -> Result<Self, SbdError> {
        let header: WireHeader = from_value(HEADER_KEY, header)?;
        let declared = header.document_identification.as_ref().and_then(|d| d.r#type.clone());
        let from_key = MessageType::from_name(key);
        let message_type = match (declared.as_deref(), from_key) {
            (Some(t), Some(k)) => match MessageType::from_name(t) {
                Some(d) if d == k => k,
                Some(d) => {
                    return Err(unreadable(format!(
                        "the business message is '{key}', but documentIdentification.type is '{d}'"
                    )));
                }
                None if !strict_type => k,
                None => return Err(SbdError::Invalid(vec![unknown_type(t)])),
            },
            (Some(t), None) => {
                return Err(match MessageType::from_name(t) {
                    Some(d) => unreadable(format!(
                        "the business message is '{key}', but documentIdentification.type is '{d}'"
                    )),
                    None => SbdError::Invalid(vec![unknown_type(t)]),
                });
            }
            (None, _) => {
                return Err(SbdError::Invalid(vec![Violation::not_null(format!(
                    "{HEADER_KEY}.documentIdentification.type"
                ))]));
            }
        };
        if !body.is_object() {
            return Err(unreadable(format!("'{key}' must be a JSON object")));
        }
        let message = BusinessMessage::from_value(message_type, body)
            .map_err(|e| unreadable(format!("{}.{e}", message_type.name())))?;
        let mut violations = Vec::new();
        let header = header.into_model(message_type, &mut violations);
        if checks == Checks::Created {
            violations.extend(message.violations());
        }
        match header {
            Some(header) if violations.is_empty() => Ok(Sbd { header, message }),
            _ => Err(SbdError::Invalid(violations)),
        }
    }

    /// The SBD as a JSON value, header first, null fields left out.
    pub fn to_json_value(&self) -> Value {
        let t = self.message_type();
        let header = WireHeader::from_model(&self.header, t);
        let mut m = Map::new();
        // Serializing the wire structs cannot fail (string keys, no fallible fields).
        m.insert(HEADER_KEY.to_owned(), serde_json::to_value(header).unwrap_or(Value::Null));
        m.insert(t.name().to_owned(), self.message.to_value());
        Value::Object(m)
    }

    /// Pretty-printed JSON, as the reference answers.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.to_json_value()).unwrap_or_default()
    }
}

fn unknown_type(t: &str) -> Violation {
    Violation::new(
        format!("{HEADER_KEY}.documentIdentification.type"),
        "MessageType",
        "Must be a NextMove message type",
        Some(Value::String(t.to_owned())),
    )
}

/// Decode with the failing field's path in the message.
fn from_value<T: serde::de::DeserializeOwned>(root: &str, v: Value) -> Result<T, SbdError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." { root.to_owned() } else { format!("{root}.{path}") };
        unreadable(format!("{at}: {}", e.into_inner()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sbd(header_first: bool, t: &str, key: &str) -> Vec<u8> {
        let header = json!({
            "headerVersion": "1.0",
            "sender": [{"identifier": {"value": "0192:910077473", "authority": "iso6523-actorid-upis"}}],
            "receiver": [{"identifier": {"value": "0192:910075918", "authority": "iso6523-actorid-upis"}}],
            "documentIdentification": {"standard": "urn:no:difi:arkivmelding:xsd::arkivmelding", "typeVersion": "1.0",
                "instanceIdentifier": "e99e5cd1-74de-4cce-b902-cecdf97dc4f3", "type": t},
            "businessScope": {"scope": [{"type": "ConversationId", "instanceIdentifier": "b4567a25-672c-4c2e-9a0f-08c52c54254b",
                "identifier": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0",
                "scopeInformation": [{"expectedResponseDateTime": "2019-04-25T11:38:23+02:00"}]}]}
        });
        let body = json!({"hoveddokument": "a.pdf"});
        let (h, b) =
            (serde_json::to_string(&header).unwrap(), serde_json::to_string(&body).unwrap());
        if header_first {
            format!(r#"{{"{HEADER_KEY}":{h},"{key}":{b}}}"#)
        } else {
            format!(r#"{{"{key}":{b},"{HEADER_KEY}":{h}}}"#)
        }
        .into_bytes()
    }

    #[test]
    fn a_received_sbd_skips_only_the_business_messages_constraints() {
        // An innsynskrav without orgnr and epost, as the reference's DPE feature has one.
        let bytes = sbd(true, "innsynskrav", "innsynskrav");
        assert!(matches!(Sbd::from_json(&bytes), Err(SbdError::Invalid(v)) if v.len() == 2));
        let s = Sbd::from_json_received(&bytes).unwrap();
        assert_eq!(s.message_type(), MessageType::Innsynskrav);
        // The header's constraints still hold.
        let text = String::from_utf8(bytes).unwrap().replace("\"headerVersion\":\"1.0\",", "");
        assert!(matches!(Sbd::from_json_received(text.as_bytes()), Err(SbdError::Invalid(_))));
    }

    #[test]
    fn either_order_is_read_and_header_comes_first_on_output() {
        for first in [true, false] {
            let s = Sbd::from_json(&sbd(first, "Arkivmelding", "arkivmelding")).unwrap();
            assert_eq!(s.message_type(), MessageType::Arkivmelding);
            let out = s.to_json_pretty();
            assert!(
                out.trim_start().starts_with("{\n  \"standardBusinessDocumentHeader\""),
                "{out}"
            );
            assert_eq!(
                s.header.process(),
                Some("urn:no:difi:profile:arkivmelding:administrasjon:ver1.0")
            );
            assert_eq!(Sbd::from_json(out.as_bytes()).unwrap(), s);
        }
    }

    #[test]
    fn type_and_key_must_agree() {
        let e = Sbd::from_json(&sbd(true, "arkivmelding", "avtalt")).unwrap_err();
        assert!(matches!(e, SbdError::Unreadable(ref m) if m.contains("'avtalt'")), "{e:?}");
        let e = Sbd::from_json(&sbd(false, "strange", "arkivmelding")).unwrap_err();
        let SbdError::Invalid(v) = e else { panic!("{e:?}") };
        assert_eq!(v[0].code, "MessageType");
        assert_eq!(v[0].field, "standardBusinessDocumentHeader.documentIdentification.type");
    }

    #[test]
    fn extra_or_missing_keys_are_unreadable() {
        let ok = String::from_utf8(sbd(true, "arkivmelding", "arkivmelding")).unwrap();
        let extra = ok.replacen('{', r#"{"x":1,"#, 1);
        assert!(matches!(Sbd::from_json(extra.as_bytes()), Err(SbdError::Unreadable(_))));
        assert!(matches!(Sbd::from_json(br#"{"arkivmelding":{}}"#), Err(SbdError::Unreadable(_))));
        assert!(matches!(Sbd::from_json(b"[]"), Err(SbdError::Unreadable(_))));
        assert!(matches!(
            Sbd::from_json(&ok.as_bytes()[..ok.len() / 2]),
            Err(SbdError::Unreadable(_))
        ));
        let dup = ok.replacen("\"arkivmelding\":{", "\"standardBusinessDocumentHeader\":{", 1);
        assert!(matches!(Sbd::from_json(dup.as_bytes()), Err(SbdError::Unreadable(_))));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let ok = String::from_utf8(sbd(true, "arkivmelding", "arkivmelding")).unwrap();
        let bad = ok.replace(r#""headerVersion":"1.0""#, r#""headerVersion":{"a":1}"#);
        let Err(SbdError::Unreadable(m)) = Sbd::from_json(bad.as_bytes()) else { panic!() };
        assert!(m.contains("standardBusinessDocumentHeader.headerVersion"), "{m}");
    }
}
