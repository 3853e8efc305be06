//! The StandardBusinessDocument (SBD): the envelope every eFormidling message travels
//! in, read from and written to JSON (the API's form) and XML (the older wire form).

mod business;
mod coerce;
mod datetime;
mod header;
mod identifier;
mod json;
mod message_type;
pub mod status_reply;
pub mod validate;
mod violation;
mod xml;

pub use business::*;
pub use datetime::{BadDateTime, DateTime, oslo_midnight};
pub use header::{
    ContactInformation, CorrelationInformation, DocumentIdentification, Header, Partner, Scope,
    ScopeType,
};
pub use identifier::{
    AUTHORITY_ISO6523, AUTHORITY_NHN, ICD_NO_ORG, ICD_NO_ORG_LEGACY, IdentifierError,
    OrgIdentifier, PartnerIdentifier, PersonNumber,
};
pub use message_type::MessageType;
pub use status_reply::status_reply;
pub use violation::Violation;

use crate::ids::MessageId;

/// A parsed, structurally valid SBD. The business message decides the document's
/// `type`, so header and body cannot disagree.
#[derive(Clone, Debug, PartialEq)]
pub struct Sbd {
    pub header: Header,
    pub message: BusinessMessage,
}

/// Why bytes are not an SBD.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SbdError {
    /// Not JSON or XML of the SBD's shape: the reference's
    /// `HttpMessageNotReadableException`.
    #[error("{0}")]
    Unreadable(String),
    /// Readable, but fields break the reference's constraints: its
    /// `ConstraintViolationException`, one entry per field.
    #[error("{}", violation_summary(.0))]
    Invalid(Vec<Violation>),
}

fn violation_summary(v: &[Violation]) -> String {
    v.iter().map(|v| format!("{}: {}", v.field, v.message)).collect::<Vec<_>>().join(", ")
}

/// The form an SBD was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Sbd {
    /// Read JSON or XML, told apart by the first non-blank byte.
    pub fn parse(bytes: &[u8]) -> Result<(Self, Format), SbdError> {
        // Skip blanks and a UTF-8 byte-order mark.
        let first = bytes
            .iter()
            .copied()
            .find(|b| !(b.is_ascii_whitespace() || matches!(b, 0xEF | 0xBB | 0xBF)));
        match first {
            Some(b'<') => Sbd::from_xml(bytes).map(|s| (s, Format::Xml)),
            Some(b'{') => Sbd::from_json(bytes).map(|s| (s, Format::Json)),
            Some(_) => Err(SbdError::Unreadable(
                "Not an SBD: expected a JSON object or an XML document".into(),
            )),
            None => Err(SbdError::Unreadable("Required request body is missing".into())),
        }
    }

    pub fn message_type(&self) -> MessageType {
        self.message.message_type()
    }

    pub fn message_id(&self) -> Option<MessageId> {
        self.header.document.instance_identifier
    }

    /// The document type URN (`documentIdentification.standard`).
    pub fn standard(&self) -> &str {
        &self.header.document.standard
    }
}
