//! Registry answers: status, media type and body in; records, certificate or a typed
//! error out.

use serde::Deserialize;

use super::model::{IdentifierResource, InfoRecord};
use crate::jose::jws::{CompactJws, JwsError};

/// Why a lookup gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// 404: the reference's `NotFoundInServiceRegistryException`.
    #[error("not found in the service registry{}", describe(.description))]
    NotFound { description: Option<String> },
    /// Another 4xx; `description` is `error_description` or `message` from the body.
    #[error("the service registry refused the lookup with status {status}{}", describe(.description))]
    Refused { status: u16, error_code: Option<String>, description: Option<String> },
    /// 5xx: the registry is down or broken. The reference lets this propagate as a 500.
    #[error("the service registry failed with status {status}{}", describe(.description))]
    Unavailable { status: u16, description: Option<String> },
    /// No answer at all (connect or read failure), from the runtime.
    #[error("the service registry could not be reached: {0}")]
    Transport(String),
    /// The signed answer did not verify: the reference's
    /// "Bad signature in response from service registry".
    #[error("bad signature in response from service registry: {0}")]
    BadSignature(#[from] JwsError),
    /// 2xx with a body that is not the expected JSON.
    #[error("the service registry's answer is not valid: {0}")]
    BadAnswer(String),
}

fn describe(d: &Option<String>) -> String {
    d.as_ref().map(|d| format!(": {d}")).unwrap_or_default()
}

impl LookupError {
    /// The registry's own explanation, when it gave one.
    pub fn description(&self) -> Option<&str> {
        match self {
            LookupError::NotFound { description }
            | LookupError::Refused { description, .. }
            | LookupError::Unavailable { description, .. } => description.as_deref(),
            _ => None,
        }
    }
}

/// Both error shapes the registry uses: `{error_code, error_description}` from its
/// exception handler, and `{message}` for a citizen without records.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// The body of a 2xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Plain(Vec<u8>),
    /// `application/jose`: verify (see [`crate::jose::jwks_cache`]) before reading.
    Signed(CompactJws),
}

/// Sorts an HTTP answer into a body to read or a typed error. Errors are never signed.
pub fn classify(status: u16, content_type: Option<&str>, body: &[u8]) -> Result<Body, LookupError> {
    if (200..300).contains(&status) {
        let jose = content_type
            .is_some_and(|c| c.trim().to_ascii_lowercase().starts_with("application/jose"));
        if jose {
            let text = std::str::from_utf8(body)
                .map_err(|_| JwsError::BadBase64("serialization (not UTF-8)"))?;
            return Ok(Body::Signed(CompactJws::parse(text)?));
        }
        return Ok(Body::Plain(body.to_vec()));
    }
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let error_code = parsed.as_ref().and_then(|e| e.error_code.clone()).filter(|s| !s.is_empty());
    let description =
        parsed.and_then(|e| e.error_description.or(e.message)).filter(|s| !s.is_empty());
    Err(match status {
        404 => LookupError::NotFound { description },
        400..=499 => LookupError::Refused { status, error_code, description },
        _ => LookupError::Unavailable { status, description },
    })
}

/// Reads an `identifier/…` or `info/…` answer body (after any signature check).
pub fn parse_identifier_resource(body: &[u8]) -> Result<IdentifierResource, LookupError> {
    serde_json::from_slice(body).map_err(|e| LookupError::BadAnswer(e.to_string()))
}

/// Reads an `info/…` answer body.
pub fn parse_info(body: &[u8]) -> Result<InfoRecord, LookupError> {
    parse_identifier_resource(body)?
        .info_record
        .ok_or_else(|| LookupError::BadAnswer("no infoRecord".into()))
}

/// Reads a `virksert/…` answer: the PEM certificate (BEGIN/END lines added when the
/// registry sent bare base64).
pub fn parse_virksert(body: &[u8]) -> Result<String, LookupError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| LookupError::BadAnswer("certificate is not UTF-8".into()))?
        .trim();
    if text.is_empty() {
        return Err(LookupError::BadAnswer("empty certificate".into()));
    }
    if text.contains("-----BEGIN CERTIFICATE-----") {
        Ok(format!("{text}\n"))
    } else {
        Ok(format!("-----BEGIN CERTIFICATE-----\n{text}\n-----END CERTIFICATE-----\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::model::ServiceIdentifier;

    #[test]
    fn both_error_shapes_are_typed() {
        let e = classify(
            400,
            Some("application/json"),
            br#"{"error_code":"","error_description":"Organization '0192:1' can not receive messages with security level '4'"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            LookupError::Refused {
                status: 400,
                error_code: None,
                description: Some(
                    "Organization '0192:1' can not receive messages with security level '4'".into()
                )
            }
        );
        let e = classify(404, None, br#"{"message":"No service record found for citizen: 1"}"#)
            .unwrap_err();
        assert_eq!(e.description(), Some("No service record found for citizen: 1"));
        assert!(matches!(e, LookupError::NotFound { .. }));
        let e = classify(404, None, b"").unwrap_err();
        assert_eq!(e, LookupError::NotFound { description: None });
        let e = classify(503, None, b"<html>").unwrap_err();
        assert_eq!(e, LookupError::Unavailable { status: 503, description: None });
        let e = classify(
            404,
            None,
            br#"{"error_code":"certificate_not_found","error_description":"x"}"#,
        );
        assert!(matches!(e, Err(LookupError::NotFound { description: Some(d) }) if d == "x"));
    }

    #[test]
    fn unknown_service_null_fields_and_defaults() {
        let body = br#"{"infoRecord":{"identifier":"1","herId":42,"entityType":{"name":"citizen"},"extra":1},
          "serviceRecords":[
            {"process":"p","documentTypes":null,"service":{"identifier":"DPFIO","endpointUrl":null}},
            {"process":"q","documentTypes":["a::print"],"fysiskPost":null,"postAddress":null,
             "service":{"identifier":"DPI","securityLevel":4}},
            {"service":null}
          ]}"#;
        let r = parse_identifier_resource(body).unwrap();
        let info = r.info_record.unwrap();
        assert_eq!(info.her_id.as_deref(), Some("42"));
        let recs = r.service_records;
        assert_eq!(recs[0].service_identifier(), ServiceIdentifier::Unknown);
        assert!(recs[0].document_types.is_empty());
        assert_eq!(recs[0].service.endpoint_url, None);
        assert_eq!(recs[0].post_address, Some(crate::registry::model::PostAddress::empty()));
        assert_eq!(recs[1].post_address, None);
        assert_eq!(recs[1].service.security_level.as_deref(), Some("4"));
        assert!(!recs[1].fysisk_post);
        assert_eq!(recs[2].service_identifier(), ServiceIdentifier::Unknown);
        assert_eq!(recs[2].service.endpoint_url.as_deref(), Some(""));
    }

    #[test]
    fn bad_json_is_a_typed_error() {
        assert!(matches!(
            parse_identifier_resource(b"{\"serviceRecords\":3}"),
            Err(LookupError::BadAnswer(_))
        ));
        assert!(matches!(parse_info(b"{}"), Err(LookupError::BadAnswer(_))));
    }

    #[test]
    fn virksert_gets_pem_markers() {
        assert_eq!(
            parse_virksert(b"MIIB\n").unwrap(),
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        );
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        assert_eq!(parse_virksert(pem.as_bytes()).unwrap(), format!("{pem}\n"));
        assert!(parse_virksert(b"  ").is_err());
    }

    #[test]
    fn jose_content_type_must_hold_a_jws() {
        assert!(matches!(
            classify(200, Some("application/jose"), b"{}"),
            Err(LookupError::BadSignature(_))
        ));
        // alg none is refused before any key is looked at
        let none = format!(
            "{}.{}.",
            crate::jose::b64url(br#"{"alg":"none"}"#),
            crate::jose::b64url(b"{}")
        );
        let e =
            classify(200, Some("application/jose; charset=UTF-8"), none.as_bytes()).unwrap_err();
        assert_eq!(
            e,
            LookupError::BadSignature(crate::jose::jws::JwsError::UnsupportedAlgorithm(
                "none".into()
            ))
        );
    }
}
