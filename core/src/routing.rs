//! Which registry record an outgoing message goes by, and what the API says when the
//! lookup fails, as the reference's `ServiceRegistryLookup`, `ServiceRecordProvider`,
//! `CapabilitiesController` and `NextMoveValidator` do it.
//!
//! Errors carry the reference's exception class name and HTTP status so that the API
//! layer can render the reference's error body without knowing about the registry.

use crate::registry::answer::LookupError;
use crate::registry::model::{ServiceIdentifier, ServiceRecord};
use crate::registry::request::IdentifierLookup;

/// The reference's `difi.move.arkivmelding.default-process`.
pub const DEFAULT_ARKIVMELDING_PROCESS: &str =
    "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0";

pub const RECEIVER_DOES_NOT_ACCEPT_PROCESS: &str =
    "no.difi.meldingsutveksling.exceptions.ReceiverDoesNotAcceptProcessException";
pub const IDENTIFIER_NOT_FOUND: &str =
    "no.difi.meldingsutveksling.exceptions.IdentifierNotFoundException";
pub const SERVICE_NOT_ENABLED: &str =
    "no.difi.meldingsutveksling.exceptions.ServiceNotEnabledException";
pub const MELDINGSUTVEKSLING_RUNTIME: &str =
    "no.difi.meldingsutveksling.domain.MeldingsUtvekslingRuntimeException";
/// Spring's exception for a 5xx from the registry, which the reference does not catch.
pub const HTTP_SERVER_ERROR: &str = "org.springframework.web.client.HttpServerErrorException";
/// Spring's exception for a connect or read failure, likewise uncaught.
pub const RESOURCE_ACCESS: &str = "org.springframework.web.client.ResourceAccessException";

/// A routing failure in the shape of the reference's API error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {exception}: {message}{}", self.description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
pub struct RoutingError {
    pub status: u16,
    /// The Java class name the reference reports.
    pub exception: &'static str,
    pub message: String,
    /// The reference's `ErrorDescriber` text, when the exception has one.
    pub description: Option<String>,
}

/// Why no record was chosen, before mapping to the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The registry answered, but no record carries the document type.
    #[error(
        "Error looking up service record with document type '{document_type}' and parameters: {lookup}"
    )]
    NoRecordForDocumentType { document_type: String, lookup: IdentifierLookup },
    #[error("Error looking up service record with parameters: {0}")]
    NoDefaultRecord(IdentifierLookup),
}

/// The first record whose document types contain `document_type` (the SBD's
/// `standard`), in the registry's order.
pub fn select_by_document_type<'a>(
    records: &'a [ServiceRecord],
    lookup: &IdentifierLookup,
    document_type: &str,
) -> Result<&'a ServiceRecord, SelectError> {
    records.iter().find(|r| r.document_types.iter().any(|d| d == document_type)).ok_or_else(|| {
        SelectError::NoRecordForDocumentType {
            document_type: document_type.to_owned(),
            lookup: lookup.clone(),
        }
    })
}

/// Without a document type: a DPI record, else the record of the default arkivmelding
/// process, else a DPE record.
pub fn select_default<'a>(
    records: &'a [ServiceRecord],
    lookup: &IdentifierLookup,
    default_process: &str,
) -> Result<&'a ServiceRecord, SelectError> {
    records
        .iter()
        .find(|r| r.service_identifier() == ServiceIdentifier::Dpi)
        .or_else(|| records.iter().find(|r| r.process() == default_process))
        .or_else(|| records.iter().find(|r| r.service_identifier() == ServiceIdentifier::Dpe))
        .ok_or_else(|| SelectError::NoDefaultRecord(lookup.clone()))
}

/// The text of the reference's `ServiceRegistryLookupException` for a failed lookup.
pub fn lookup_exception_text(lookup: &IdentifierLookup, error: &LookupError) -> String {
    match error {
        LookupError::NotFound { .. } => {
            format!("Service record not found for parameters: {lookup}")
        }
        LookupError::Refused { status, description, .. } => match description {
            Some(d) => format!(
                "Caught exception when looking up service record with parameter {lookup}, http status {status}: {d}"
            ),
            None => format!(
                "Caught exception when looking up service record with parameter {lookup}, http status: {status}"
            ),
        },
        LookupError::BadSignature(_) => "Bad signature in response from service registry".into(),
        LookupError::BadAnswer(e) => {
            format!("Parsing response as a IdentifierResource JSON object failed: {e}")
        }
        other => other.to_string(),
    }
}

/// Registry down (5xx, no connection): the reference lets Spring's exception escape,
/// which the API reports as 500.
fn registry_down(error: &LookupError) -> Option<RoutingError> {
    let exception = match error {
        LookupError::Unavailable { .. } => HTTP_SERVER_ERROR,
        LookupError::Transport(_) => RESOURCE_ACCESS,
        _ => return None,
    };
    Some(RoutingError { status: 500, exception, message: error.to_string(), description: None })
}

/// Creating or validating a message: any lookup failure but a registry outage is
/// `ReceiverDoesNotAcceptProcessException` (400) with the lookup text as description.
pub fn send_error(process: &str, error: &SelectError) -> RoutingError {
    let (lookup_text, down) = match error {
        SelectError::Lookup(e) => (None, registry_down(e)),
        other => (Some(other.to_string()), None),
    };
    if let Some(down) = down {
        return down;
    }
    let description = lookup_text.or_else(|| match error {
        SelectError::Lookup(e) => Some(e.to_string()),
        _ => None,
    });
    RoutingError {
        status: 400,
        exception: RECEIVER_DOES_NOT_ACCEPT_PROCESS,
        message: format!("Receiver do not accept the document process {process}"),
        description,
    }
}

/// Like [`send_error`] but with the lookup parameters in the text, as the reference
/// words it.
pub fn send_lookup_error(
    process: &str,
    lookup: &IdentifierLookup,
    error: &LookupError,
) -> RoutingError {
    if let Some(down) = registry_down(error) {
        return down;
    }
    RoutingError {
        status: 400,
        exception: RECEIVER_DOES_NOT_ACCEPT_PROCESS,
        message: format!("Receiver do not accept the document process {process}"),
        description: Some(lookup_exception_text(lookup, error)),
    }
}

/// `GET /api/capabilities/{id}`: a 404 from the registry is `IdentifierNotFoundException`
/// (404); anything else is wrapped as `MeldingsUtvekslingRuntimeException` (500).
pub fn capabilities_error(lookup: &IdentifierLookup, error: &LookupError) -> RoutingError {
    if let Some(down) = registry_down(error) {
        return down;
    }
    let text = lookup_exception_text(lookup, error);
    match error {
        LookupError::NotFound { .. } => RoutingError {
            status: 404,
            exception: IDENTIFIER_NOT_FOUND,
            message: text,
            description: None,
        },
        _ => RoutingError {
            status: 500,
            exception: MELDINGSUTVEKSLING_RUNTIME,
            message: text,
            description: None,
        },
    }
}

/// A service the registry routes to but this integration point has switched off.
pub fn service_not_enabled(service: ServiceIdentifier) -> RoutingError {
    RoutingError {
        status: 400,
        exception: SERVICE_NOT_ENABLED,
        message: format!("Service {} is not enabled", service.as_str()),
        description: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::answer::parse_identifier_resource;

    const ADM: &str = DEFAULT_ARKIVMELDING_PROCESS;

    fn records(json: &str) -> Vec<ServiceRecord> {
        parse_identifier_resource(json.as_bytes()).unwrap().service_records
    }

    #[test]
    fn first_record_with_the_document_type_wins() {
        let recs = records(
            r#"{"serviceRecords":[
            {"process":"a","documentTypes":["x::print"],"service":{"identifier":"DPI"}},
            {"process":"a","documentTypes":["x::digital_dpv"],"service":{"identifier":"DPV"}},
            {"process":"a","documentTypes":["x::digital_dpv"],"service":{"identifier":"DPO"}}]}"#,
        );
        let l = IdentifierLookup::new("1").process("a");
        let r = select_by_document_type(&recs, &l, "x::digital_dpv").unwrap();
        assert_eq!(r.service_identifier(), ServiceIdentifier::Dpv);
        let e = select_by_document_type(&recs, &l, "x::arkivmelding").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Error looking up service record with document type 'x::arkivmelding' and parameters: SRParameter(identifier=1, process=a, securityLevel=null, print=null, infoOnly=false, conversationId=null)"
        );
        let api = send_error("a", &e);
        assert_eq!((api.status, api.exception), (400, RECEIVER_DOES_NOT_ACCEPT_PROCESS));
        assert_eq!(api.message, "Receiver do not accept the document process a");
        assert_eq!(api.description.as_deref(), Some(e.to_string().as_str()));
    }

    #[test]
    fn default_preference_is_dpi_then_default_process_then_dpe() {
        let l = IdentifierLookup::new("1");
        let recs = records(&format!(
            r#"{{"serviceRecords":[
            {{"process":"e","service":{{"identifier":"DPE"}}}},
            {{"process":"{ADM}","service":{{"identifier":"DPO"}}}},
            {{"process":"i","service":{{"identifier":"DPI"}}}}]}}"#
        ));
        assert_eq!(select_default(&recs, &l, ADM).unwrap().process(), "i");
        assert_eq!(select_default(&recs[..2], &l, ADM).unwrap().process(), ADM);
        assert_eq!(select_default(&recs[..1], &l, ADM).unwrap().process(), "e");
        assert!(matches!(select_default(&[], &l, ADM), Err(SelectError::NoDefaultRecord(_))));
    }

    #[test]
    fn lookup_failures_map_to_the_reference_errors() {
        let l = IdentifierLookup::new("910077473").process(ADM);
        let nf = LookupError::NotFound { description: None };
        let e = send_lookup_error(ADM, &l, &nf);
        assert_eq!((e.status, e.exception), (400, RECEIVER_DOES_NOT_ACCEPT_PROCESS));
        assert_eq!(
            e.description.as_deref(),
            Some(format!("Service record not found for parameters: {l}").as_str())
        );
        let e = capabilities_error(&l, &nf);
        assert_eq!((e.status, e.exception), (404, IDENTIFIER_NOT_FOUND));
        let down = LookupError::Unavailable { status: 502, description: None };
        assert_eq!(send_lookup_error(ADM, &l, &down).status, 500);
        assert_eq!(capabilities_error(&l, &down).status, 500);
        assert_eq!(
            send_lookup_error(ADM, &l, &LookupError::Transport("refused".into())).exception,
            RESOURCE_ACCESS
        );
        let refused = LookupError::Refused {
            status: 400,
            error_code: None,
            description: Some("no level 4".into()),
        };
        let e = send_lookup_error(ADM, &l, &refused);
        assert!(e.description.unwrap().ends_with(": no level 4"));
        let bad = LookupError::BadSignature(crate::jose::jws::JwsError::NotCompact(1));
        assert_eq!(
            send_lookup_error(ADM, &l, &bad).description.as_deref(),
            Some("Bad signature in response from service registry")
        );
        let e = service_not_enabled(ServiceIdentifier::Dpf);
        assert_eq!((e.status, e.message.as_str()), (400, "Service DPF is not enabled"));
    }
}
