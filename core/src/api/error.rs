//! API errors with the reference's semantics: HTTP status, the Java exception class
//! name that clients branch on (`exception`), and the message text, rendered as the
//! reference's error JSON `{timestamp,status,error,exception,message,path}`.

use serde_json::{Map, Value, json};

use crate::Timestamp;
use crate::routing::{self, RoutingError};
use crate::sbd::{DateTime, SbdError, Violation};

/// The exceptions the reference reports, by the class name it puts in `exception`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Exception {
    ConstraintViolation,
    MessageNotReadable,
    MessageAlreadyExists,
    MessageNotFound,
    MessageNotLocked,
    MessageTypeDoesNotFitDocumentType,
    UnknownMessageType,
    TimeToLive,
    ServiceNotEnabled,
    ReceiverDoesNotAcceptProcess,
    IdentifierNotFound,
    ConversationNotFound,
    NoContent,
    SubscriptionNotFound,
    DuplicateFilename,
    MaxFileSizeExceeded,
    MissingFile,
    InvalidCertificate,
    MissingArkivmelding,
    MissingArkivmeldingFile,
    /// The reference's wrapper for an arkivmelding.xml it cannot read (a 500).
    NextMoveRuntime,
    MultipartFileTooLarge,
    WebhookUnknownFilter,
    WebhookUnknownFilterOperation,
    WebhookPingFailed,
    SubscriptionExists,
    /// A multipart request without its `sbd` part.
    MissingPart,
    MissingPrimaryDocument,
    FileNotFound,
    MissingFileTitle,
    MissingHttpHeader,
    /// A path or query parameter of the wrong type or form.
    BadParameter,
    /// No endpoint at this path.
    NoHandler,
    /// The path exists, but not for this method.
    MethodNotAllowed,
    /// The reference's wrapper for unexpected registry failures.
    MeldingsUtvekslingRuntime,
    /// The registry answered 5xx (Spring's exception, which the reference lets out).
    RegistryServerError,
    /// The registry could not be reached.
    RegistryUnreachable,
    /// An incoming message's stored ASiC cannot be read or decrypted.
    AsicRead,
    /// Our store or another dependency failed; not the caller's fault.
    Internal,
}

impl Exception {
    pub const fn class_name(self) -> &'static str {
        match self {
            Exception::ConstraintViolation => "javax.validation.ConstraintViolationException",
            Exception::MessageNotReadable => {
                "org.springframework.http.converter.HttpMessageNotReadableException"
            }
            Exception::MessageAlreadyExists => {
                "no.difi.meldingsutveksling.exceptions.MessageAlreadyExistsException"
            }
            Exception::MessageNotFound => {
                "no.difi.meldingsutveksling.exceptions.MessageNotFoundException"
            }
            Exception::MessageNotLocked => {
                "no.difi.meldingsutveksling.exceptions.MessageNotLockedException"
            }
            Exception::MessageTypeDoesNotFitDocumentType => {
                "no.difi.meldingsutveksling.exceptions.MessageTypeDoesNotFitDocumentTypeException"
            }
            Exception::UnknownMessageType => {
                "no.difi.meldingsutveksling.exceptions.UnknownMessageTypeException"
            }
            Exception::TimeToLive => "no.difi.meldingsutveksling.exceptions.TimeToLiveException",
            Exception::ServiceNotEnabled => {
                "no.difi.meldingsutveksling.exceptions.ServiceNotEnabledException"
            }
            Exception::ReceiverDoesNotAcceptProcess => {
                "no.difi.meldingsutveksling.exceptions.ReceiverDoesNotAcceptProcessException"
            }
            Exception::IdentifierNotFound => {
                "no.difi.meldingsutveksling.exceptions.IdentifierNotFoundException"
            }
            Exception::ConversationNotFound => {
                "no.difi.meldingsutveksling.exceptions.ConversationNotFoundException"
            }
            Exception::NoContent => "no.difi.meldingsutveksling.exceptions.NoContentException",
            Exception::SubscriptionNotFound => {
                "no.difi.meldingsutveksling.exceptions.SubscriptionNotFoundException"
            }
            Exception::DuplicateFilename => {
                "no.difi.meldingsutveksling.exceptions.DuplicateFilenameException"
            }
            Exception::MissingFile => "no.difi.meldingsutveksling.exceptions.MissingFileException",
            Exception::InvalidCertificate => {
                "no.difi.meldingsutveksling.exceptions.InvalidCertificateException"
            }
            Exception::MissingArkivmelding => {
                "no.difi.meldingsutveksling.exceptions.MissingArkivmeldingException"
            }
            Exception::MissingArkivmeldingFile => {
                "no.difi.meldingsutveksling.exceptions.MissingArkivmeldingFileException"
            }
            Exception::NextMoveRuntime => {
                "no.difi.meldingsutveksling.nextmove.NextMoveRuntimeException"
            }
            Exception::WebhookUnknownFilter => {
                "no.difi.meldingsutveksling.exceptions.WebhookUnknownFilterException"
            }
            Exception::WebhookUnknownFilterOperation => {
                "no.difi.meldingsutveksling.exceptions.WebhookUnknownFilterOperationException"
            }
            Exception::WebhookPingFailed => {
                "no.difi.meldingsutveksling.exceptions.WebhookPushEndpointPingFailedException"
            }
            Exception::SubscriptionExists => {
                "no.difi.meldingsutveksling.exceptions.SubscriptionWithSameNameAndPushEndpointAlreadyExists"
            }
            Exception::MissingPart => {
                "org.springframework.web.multipart.support.MissingServletRequestPartException"
            }
            // The reference's class name, spelling and all.
            Exception::MultipartFileTooLarge => {
                "no.difi.meldingsutveksling.exceptions.MultipartFileToLargeException"
            }
            Exception::MissingPrimaryDocument => {
                "no.difi.meldingsutveksling.exceptions.MissingPrimaryDocumentException"
            }
            Exception::FileNotFound => {
                "no.difi.meldingsutveksling.exceptions.FileNotFoundException"
            }
            Exception::MaxFileSizeExceeded => {
                "no.difi.meldingsutveksling.exceptions.MaxFileSizeExceededException"
            }
            Exception::MissingFileTitle => {
                "no.difi.meldingsutveksling.exceptions.MissingFileTitleException"
            }
            Exception::MissingHttpHeader => {
                "no.difi.meldingsutveksling.exceptions.MissingHttpHeaderException"
            }
            Exception::BadParameter => {
                "org.springframework.web.method.annotation.MethodArgumentTypeMismatchException"
            }
            Exception::NoHandler => "org.springframework.web.servlet.NoHandlerFoundException",
            Exception::MethodNotAllowed => {
                "org.springframework.web.HttpRequestMethodNotSupportedException"
            }
            Exception::MeldingsUtvekslingRuntime => routing::MELDINGSUTVEKSLING_RUNTIME,
            Exception::RegistryServerError => routing::HTTP_SERVER_ERROR,
            Exception::RegistryUnreachable => routing::RESOURCE_ACCESS,
            Exception::AsicRead => "no.difi.meldingsutveksling.exceptions.AsicReadException",
            Exception::Internal => "java.lang.RuntimeException",
        }
    }

    /// The status the reference answers with.
    pub const fn status(self) -> u16 {
        match self {
            Exception::MessageNotFound
            | Exception::IdentifierNotFound
            | Exception::ConversationNotFound
            | Exception::SubscriptionNotFound
            | Exception::FileNotFound
            | Exception::NoHandler => 404,
            Exception::MethodNotAllowed => 405,
            Exception::MessageAlreadyExists => 409,
            Exception::NoContent => 204,
            Exception::Internal
            | Exception::AsicRead
            | Exception::NextMoveRuntime
            | Exception::MeldingsUtvekslingRuntime
            | Exception::RegistryServerError
            | Exception::RegistryUnreachable => 500,
            _ => 400,
        }
    }
}

/// An error answer.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{status} {exception:?}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub exception: Exception,
    pub message: String,
    /// Extra detail; today only a registry lookup failure behind
    /// `ReceiverDoesNotAcceptProcessException` carries one.
    pub description: Option<String>,
    /// One entry per failed field constraint.
    pub errors: Vec<Violation>,
}

impl ApiError {
    pub fn new(exception: Exception, message: impl Into<String>) -> Self {
        ApiError {
            status: exception.status(),
            exception,
            message: message.into(),
            description: None,
            errors: Vec::new(),
        }
    }

    pub fn with_description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }

    pub fn violations(errors: Vec<Violation>) -> Self {
        let message = errors
            .iter()
            .map(|v| format!("{}: {}", v.field, v.message))
            .collect::<Vec<_>>()
            .join(", ");
        ApiError { errors, ..ApiError::new(Exception::ConstraintViolation, message) }
    }

    pub fn message_not_found(message_id: impl std::fmt::Display) -> Self {
        ApiError::new(
            Exception::MessageNotFound,
            format!("Message with messageId = {message_id} was not found"),
        )
    }

    pub fn message_already_exists(message_id: impl std::fmt::Display) -> Self {
        ApiError::new(
            Exception::MessageAlreadyExists,
            format!("Message with messageId = {message_id} already exists"),
        )
    }

    /// The HTTP reason phrase of `status`, as the reference's `error` field has it.
    pub fn reason(&self) -> &'static str {
        match self.status {
            204 => "No Content",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            413 => "Payload Too Large",
            415 => "Unsupported Media Type",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        }
    }

    /// The reference's error JSON. `now` is rendered in Oslo time, as the reference
    /// does; `path` is the request path (or, for CLI tools, the file).
    pub fn to_json(&self, now: Timestamp, path: &str) -> Value {
        let mut m = Map::new();
        m.insert("timestamp".into(), json!(DateTime::oslo(now).to_rfc3339()));
        m.insert("status".into(), json!(self.status));
        m.insert("error".into(), json!(self.reason()));
        m.insert("exception".into(), json!(self.exception.class_name()));
        m.insert("message".into(), json!(self.message));
        m.insert("path".into(), json!(path));
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        if !self.errors.is_empty() {
            let errors = self
                .errors
                .iter()
                .map(|v| {
                    let mut e = Map::new();
                    e.insert("codes".into(), json!([v.code]));
                    e.insert("defaultMessage".into(), json!(v.message));
                    e.insert("objectName".into(), json!(v.field));
                    e.insert("field".into(), json!(v.field));
                    if let Some(r) = &v.rejected {
                        e.insert("rejectedValue".into(), r.clone());
                    }
                    e.insert("bindingFailure".into(), json!(false));
                    e.insert("code".into(), json!(v.code));
                    Value::Object(e)
                })
                .collect();
            m.insert("errors".into(), Value::Array(errors));
        }
        Value::Object(m)
    }
}

impl From<SbdError> for ApiError {
    fn from(e: SbdError) -> Self {
        match e {
            SbdError::Unreadable(m) => ApiError::new(Exception::MessageNotReadable, m),
            SbdError::Invalid(v) => ApiError::violations(v),
        }
    }
}

impl From<RoutingError> for ApiError {
    fn from(e: RoutingError) -> Self {
        let exception = match e.exception {
            routing::RECEIVER_DOES_NOT_ACCEPT_PROCESS => Exception::ReceiverDoesNotAcceptProcess,
            routing::IDENTIFIER_NOT_FOUND => Exception::IdentifierNotFound,
            routing::SERVICE_NOT_ENABLED => Exception::ServiceNotEnabled,
            routing::MELDINGSUTVEKSLING_RUNTIME => Exception::MeldingsUtvekslingRuntime,
            routing::HTTP_SERVER_ERROR => Exception::RegistryServerError,
            routing::RESOURCE_ACCESS => Exception::RegistryUnreachable,
            _ => Exception::Internal,
        };
        ApiError {
            status: e.status,
            exception,
            message: e.message,
            description: e.description,
            errors: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_reference_error_json() {
        // The restdocs' "Validation error" example.
        let now = Timestamp::from_unix_millis(1_553_513_903_000); // 2019-03-25T11:38:23Z
        let e = ApiError::new(Exception::ServiceNotEnabled, "Service DPI is not enabled");
        assert_eq!(
            e.to_json(now, "/api/messages/out"),
            json!({
                "timestamp": "2019-03-25T12:38:23+01:00",
                "status": 400,
                "error": "Bad Request",
                "exception": "no.difi.meldingsutveksling.exceptions.ServiceNotEnabledException",
                "message": "Service DPI is not enabled",
                "path": "/api/messages/out"
            })
        );
    }

    #[test]
    fn routing_errors_keep_their_class_and_status() {
        use crate::registry::model::ServiceIdentifier;
        let e = ApiError::from(routing::service_not_enabled(ServiceIdentifier::Dpi));
        assert_eq!((e.status, e.exception), (400, Exception::ServiceNotEnabled));
        assert_eq!(e.message, "Service DPI is not enabled");
        for class in [
            routing::RECEIVER_DOES_NOT_ACCEPT_PROCESS,
            routing::IDENTIFIER_NOT_FOUND,
            routing::SERVICE_NOT_ENABLED,
            routing::MELDINGSUTVEKSLING_RUNTIME,
            routing::HTTP_SERVER_ERROR,
            routing::RESOURCE_ACCESS,
        ] {
            let e = RoutingError {
                status: 400,
                exception: class,
                message: String::new(),
                description: None,
            };
            assert_eq!(ApiError::from(e).exception.class_name(), class);
        }
    }

    #[test]
    fn renders_constraint_violations() {
        let v = Violation::new(
            "standardBusinessDocumentHeader.documentIdentification.type",
            "MessageType",
            "Must be a NextMove message type",
            Some(json!("strange")),
        );
        let j = ApiError::violations(vec![v])
            .to_json(Timestamp::from_unix_millis(0), "/api/messages/out");
        assert_eq!(j["exception"], "javax.validation.ConstraintViolationException");
        assert_eq!(
            j["message"],
            "standardBusinessDocumentHeader.documentIdentification.type: Must be a NextMove message type"
        );
        assert_eq!(
            j["errors"][0],
            json!({"codes": ["MessageType"], "defaultMessage": "Must be a NextMove message type",
                "objectName": "standardBusinessDocumentHeader.documentIdentification.type",
                "field": "standardBusinessDocumentHeader.documentIdentification.type",
                "rejectedValue": "strange", "bindingFailure": false, "code": "MessageType"})
        );
    }
}
