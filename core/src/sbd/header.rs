//! The StandardBusinessDocumentHeader: the typed model, and the lenient wire form it
//! is read from and written to.
//!
//! Reading goes wire -> model. The wire structs accept whatever the reference's JSON
//! reader accepts (every field optional, scalars coerced); the step to the model then
//! applies the reference's bean-validation constraints and reports every violation at
//! once, with the reference's property paths.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::coerce;
use super::datetime::DateTime;
use super::identifier::{IdentifierError, PartnerIdentifier};
use super::message_type::MessageType;
use super::violation::Violation;
use crate::ids::{ConversationId, MessageId, parse_uuid};

const HEADER: &str = "standardBusinessDocumentHeader";

#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub header_version: String,
    pub sender: Option<Partner>,
    pub receiver: Option<Partner>,
    pub document: DocumentIdentification,
    /// Carried through untouched; the API does not use it.
    pub manifest: Option<Value>,
    pub scopes: Vec<Scope>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Partner {
    /// The value as the client wrote it (`9908:…`, a bare number), written back as is.
    pub value: String,
    pub authority: String,
    pub identifier: PartnerIdentifier,
    pub contact_information: Vec<ContactInformation>,
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactInformation {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub fax_number: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub telephone_number: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub contact_type_identifier: Option<String>,
}

/// `documentIdentification`. Its `type` is not stored here: it is the business
/// message's type, so the two cannot disagree.
#[derive(Clone, Debug, PartialEq)]
pub struct DocumentIdentification {
    pub standard: String,
    pub type_version: String,
    /// The messageId; generated at create when absent.
    pub instance_identifier: Option<MessageId>,
    pub multiple_type: Option<bool>,
    pub creation_date_and_time: Option<DateTime>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scope {
    pub kind: ScopeType,
    pub instance_identifier: Option<String>,
    pub identifier: Option<String>,
    pub scope_information: Vec<CorrelationInformation>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScopeType {
    JournalpostId,
    ConversationId,
    ParentId,
    SenderRef,
    ReceiverRef,
    MessageChannel,
}

impl ScopeType {
    pub const ALL: [ScopeType; 6] = [
        ScopeType::JournalpostId,
        ScopeType::ConversationId,
        ScopeType::ParentId,
        ScopeType::SenderRef,
        ScopeType::ReceiverRef,
        ScopeType::MessageChannel,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            ScopeType::JournalpostId => "JournalpostId",
            ScopeType::ConversationId => "ConversationId",
            ScopeType::ParentId => "ParentId",
            ScopeType::SenderRef => "SenderRef",
            ScopeType::ReceiverRef => "ReceiverRef",
            ScopeType::MessageChannel => "MessageChannel",
        }
    }

    /// The Java enum constant's name, which the reference also accepts.
    const fn enum_name(self) -> &'static str {
        match self {
            ScopeType::JournalpostId => "JOURNALPOST_ID",
            ScopeType::ConversationId => "CONVERSATION_ID",
            ScopeType::ParentId => "PARENT_ID",
            ScopeType::SenderRef => "SENDER_REF",
            ScopeType::ReceiverRef => "RECEIVER_REF",
            ScopeType::MessageChannel => "MESSAGE_CHANNEL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == s || t.enum_name() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct CorrelationInformation {
    pub requesting_document_creation_date_time: Option<DateTime>,
    pub requesting_document_instance_identifier: Option<String>,
    /// The message's time to live.
    pub expected_response_date_time: Option<DateTime>,
}

// ---------------------------------------------------------------------------------
// The wire form.

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireHeader {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    header_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sender: Option<Vec<WirePartner>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receiver: Option<Vec<WirePartner>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) document_identification: Option<WireDocumentIdentification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    manifest: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    business_scope: Option<WireBusinessScope>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePartner {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identifier: Option<WirePartnerIdentification>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    contact_information: Vec<ContactInformation>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct WirePartnerIdentification {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    authority: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireDocumentIdentification {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    standard: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    type_version: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    instance_identifier: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub(super) r#type: Option<String>,
    #[serde(
        default,
        deserialize_with = "coerce::boolean",
        skip_serializing_if = "Option::is_none"
    )]
    multiple_type: Option<bool>,
    #[serde(default, deserialize_with = "date_time", skip_serializing_if = "Option::is_none")]
    creation_date_and_time: Option<DateTime>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct WireBusinessScope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<Vec<WireScope>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireScope {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    r#type: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    instance_identifier: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scope_information: Vec<WireCorrelationInformation>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCorrelationInformation {
    #[serde(default, deserialize_with = "date_time", skip_serializing_if = "Option::is_none")]
    requesting_document_creation_date_time: Option<DateTime>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    requesting_document_instance_identifier: Option<String>,
    #[serde(default, deserialize_with = "date_time", skip_serializing_if = "Option::is_none")]
    expected_response_date_time: Option<DateTime>,
}

impl Serialize for DateTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

fn date_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime>, D::Error> {
    match coerce::string(d)? {
        None => Ok(None),
        Some(s) => DateTime::parse(&s).map(Some).map_err(serde::de::Error::custom),
    }
}

impl WireHeader {
    /// Apply the reference's constraints. Every violation is collected; the model is
    /// returned only when there are none.
    pub(super) fn into_model(
        self,
        message_type: MessageType,
        out: &mut Vec<Violation>,
    ) -> Option<Header> {
        let before = out.len();
        let header_version = required(self.header_version, format!("{HEADER}.headerVersion"), out);
        let sender = partner(self.sender, "sender", out);
        let receiver = partner(self.receiver, "receiver", out);
        if matches!(receiver, Some(None)) && message_type.requires_receiver() {
            out.push(Violation::not_null(format!("{HEADER}.receiver")));
        }
        let document = match self.document_identification {
            None => {
                out.push(Violation::not_null(format!("{HEADER}.documentIdentification")));
                None
            }
            Some(d) => d.into_model(out),
        };
        let scopes = match self.business_scope {
            None => {
                out.push(Violation::not_null(format!("{HEADER}.businessScope")));
                None
            }
            Some(b) => scopes(b, out),
        };
        if out.len() != before {
            return None;
        }
        Some(Header {
            header_version: header_version?,
            sender: sender.flatten(),
            receiver: receiver.flatten(),
            document: document?,
            manifest: self.manifest,
            scopes: scopes?,
        })
    }

    pub(super) fn from_model(h: &Header, message_type: MessageType) -> Self {
        let partner = |p: &Option<Partner>| {
            p.as_ref().map(|p| {
                vec![WirePartner {
                    identifier: Some(WirePartnerIdentification {
                        value: Some(p.value.clone()),
                        authority: Some(p.authority.clone()),
                    }),
                    contact_information: p.contact_information.clone(),
                }]
            })
        };
        WireHeader {
            header_version: Some(h.header_version.clone()),
            sender: partner(&h.sender),
            receiver: partner(&h.receiver),
            document_identification: Some(WireDocumentIdentification {
                standard: Some(h.document.standard.clone()),
                type_version: Some(h.document.type_version.clone()),
                instance_identifier: h.document.instance_identifier.map(|m| m.to_string()),
                r#type: Some(message_type.name().to_owned()),
                multiple_type: h.document.multiple_type,
                creation_date_and_time: h.document.creation_date_and_time,
            }),
            manifest: h.manifest.clone(),
            business_scope: Some(WireBusinessScope {
                scope: Some(
                    h.scopes
                        .iter()
                        .map(|s| WireScope {
                            r#type: Some(s.kind.name().to_owned()),
                            instance_identifier: s.instance_identifier.clone(),
                            identifier: s.identifier.clone(),
                            scope_information: s
                                .scope_information
                                .iter()
                                .map(|c| WireCorrelationInformation {
                                    requesting_document_creation_date_time: c
                                        .requesting_document_creation_date_time,
                                    requesting_document_instance_identifier: c
                                        .requesting_document_instance_identifier
                                        .clone(),
                                    expected_response_date_time: c.expected_response_date_time,
                                })
                                .collect(),
                        })
                        .collect(),
                ),
            }),
        }
    }
}

impl WireDocumentIdentification {
    fn into_model(self, out: &mut Vec<Violation>) -> Option<DocumentIdentification> {
        let path = format!("{HEADER}.documentIdentification");
        let standard = required(self.standard, format!("{path}.standard"), out);
        let type_version = required(self.type_version, format!("{path}.typeVersion"), out);
        let instance_identifier = match self.instance_identifier {
            None => Some(None),
            Some(s) => match s.parse::<MessageId>() {
                Ok(id) => Some(Some(id)),
                Err(_) => {
                    out.push(Violation::uuid(format!("{path}.instanceIdentifier"), &s));
                    None
                }
            },
        };
        Some(DocumentIdentification {
            standard: standard?,
            type_version: type_version?,
            instance_identifier: instance_identifier?,
            multiple_type: self.multiple_type,
            creation_date_and_time: self.creation_date_and_time,
        })
    }
}

fn required(v: Option<String>, field: String, out: &mut Vec<Violation>) -> Option<String> {
    if v.is_none() {
        out.push(Violation::not_null(field));
    }
    v
}

/// `Some(None)` when the list is absent or empty; `None` when it is invalid.
fn partner(
    list: Option<Vec<WirePartner>>,
    role: &str,
    out: &mut Vec<Violation>,
) -> Option<Option<Partner>> {
    let list = list.unwrap_or_default();
    let path = format!("{HEADER}.{role}");
    if list.len() > 1 {
        out.push(Violation::new(path, "Size", "size must be between 0 and 1", None));
        return None;
    }
    let Some(p) = list.into_iter().next() else {
        return Some(None);
    };
    let path = format!("{path}[0].identifier");
    let Some(id) = p.identifier else {
        out.push(Violation::not_null(path));
        return None;
    };
    let before = out.len();
    let value = required(id.value, format!("{path}.value"), out);
    let authority = required(id.authority, format!("{path}.authority"), out);
    let (Some(value), Some(authority)) = (value, authority) else {
        debug_assert!(out.len() > before);
        return None;
    };
    match PartnerIdentifier::parse(&value, &authority) {
        Ok(identifier) => Some(Some(Partner {
            value,
            authority,
            identifier,
            contact_information: p.contact_information,
        })),
        Err(e) => {
            let (field, code) = match e {
                IdentifierError::UnknownAuthority(_) => ("authority", "Authority"),
                _ => ("value", "PartnerIdentifier"),
            };
            let rejected = if field == "value" { value } else { authority };
            out.push(Violation::new(
                format!("{path}.{field}"),
                code,
                e.to_string(),
                Some(Value::String(rejected)),
            ));
            None
        }
    }
}

fn scopes(b: WireBusinessScope, out: &mut Vec<Violation>) -> Option<Vec<Scope>> {
    let path = format!("{HEADER}.businessScope.scope");
    let Some(list) = b.scope else {
        out.push(Violation::not_null(path));
        return None;
    };
    if list.is_empty() {
        out.push(Violation::new(path, "Size", "size must be between 1 and 2147483647", None));
        return None;
    }
    let before = out.len();
    let mut scopes = Vec::with_capacity(list.len());
    for (i, s) in list.into_iter().enumerate() {
        let path = format!("{path}[{i}]");
        let kind = match s.r#type {
            None => {
                out.push(Violation::not_null(format!("{path}.type")));
                continue;
            }
            Some(t) => match ScopeType::parse(&t) {
                Some(k) => k,
                None => {
                    let allowed: Vec<&str> = ScopeType::ALL.iter().map(|t| t.name()).collect();
                    out.push(Violation::new(
                        format!("{path}.type"),
                        "OneOf",
                        format!(
                            "'{t}' is not expected. Allowed values are: [{}]",
                            allowed.join(", ")
                        ),
                        Some(Value::String(t)),
                    ));
                    continue;
                }
            },
        };
        if kind == ScopeType::ConversationId
            && let Some(id) = &s.instance_identifier
            && parse_uuid(id).is_err()
        {
            out.push(Violation::uuid(format!("{path}.instanceIdentifier"), id));
        }
        scopes.push(Scope {
            kind,
            instance_identifier: s.instance_identifier,
            identifier: s.identifier,
            scope_information: s
                .scope_information
                .into_iter()
                .map(|c| CorrelationInformation {
                    requesting_document_creation_date_time: c
                        .requesting_document_creation_date_time,
                    requesting_document_instance_identifier: c
                        .requesting_document_instance_identifier,
                    expected_response_date_time: c.expected_response_date_time,
                })
                .collect(),
        });
    }
    (out.len() == before).then_some(scopes)
}

impl Header {
    pub fn scope(&self, kind: ScopeType) -> Option<&Scope> {
        self.scopes.iter().find(|s| s.kind == kind)
    }

    pub fn scope_mut(&mut self, kind: ScopeType) -> Option<&mut Scope> {
        self.scopes.iter_mut().find(|s| s.kind == kind)
    }

    /// The ConversationId scope's `instanceIdentifier` (validated as a UUID on read).
    pub fn conversation_id(&self) -> Option<ConversationId> {
        self.scope(ScopeType::ConversationId)?.instance_identifier.as_deref()?.parse().ok()
    }

    /// The process URN: the ConversationId scope's `identifier`.
    pub fn process(&self) -> Option<&str> {
        self.scope(ScopeType::ConversationId)?.identifier.as_deref()
    }

    /// The TTL: the first `expectedResponseDateTime` of the ConversationId scope.
    pub fn expected_response(&self) -> Option<DateTime> {
        self.scope(ScopeType::ConversationId)?
            .scope_information
            .first()?
            .expected_response_date_time
    }
}
