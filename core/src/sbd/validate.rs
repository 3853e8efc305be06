//! The rules a message must pass at create, beyond the structural ones the reader
//! applies, and the defaults the reference fills in. Rules that need a registry
//! answer or stored state (routing, duplicates, file checks) live with the node.

use serde_json::Value;
use time::UtcOffset;

use super::header::{CorrelationInformation, Partner, Scope, ScopeType};
use super::identifier::{AUTHORITY_ISO6523, ICD_NO_ORG, OrgIdentifier, PartnerIdentifier};
use super::{DateTime, MessageType, Sbd, Violation};
use crate::api::{ApiError, Exception};
use crate::entropy::Entropy;
use crate::ids::MessageId;
use crate::{Duration, Timestamp};

/// What create needs to know besides the SBD.
#[derive(Clone, Copy, Debug)]
pub struct CreateContext<'a> {
    pub now: Timestamp,
    /// Our organisation number (nine digits), when one is configured.
    pub own_org: Option<&'a str>,
    /// The TTL when the SBD gives none.
    pub default_ttl: Duration,
}

/// Check the create-time rules that need neither the registry nor the store, in the
/// reference's order, and fill in the reference's defaults. `ids` supplies any id the
/// SBD lacks.
pub fn prepare_for_create(
    mut sbd: Sbd,
    ctx: &CreateContext<'_>,
    ids: &mut Entropy,
) -> Result<Sbd, ApiError> {
    let t = sbd.message_type();
    expected_response_in_future(&sbd, ctx.now)?;
    if !t.is_sendable() {
        let sendable: Vec<&str> = MessageType::ALL
            .iter()
            .filter(|t| t.is_sendable() && !t.is_receipt())
            .map(|t| t.name())
            .collect();
        return Err(ApiError::new(
            Exception::UnknownMessageType,
            format!(
                "Unknown NextMove document type {t}. Expected one of the following values: {}",
                sendable.join(", ")
            ),
        ));
    }
    if sbd.header.scope(ScopeType::ConversationId).is_none() {
        // The reference fails here with an internal error; a 400 tells the client why.
        return Err(ApiError::violations(vec![Violation::new(
            "standardBusinessDocumentHeader.businessScope.scope",
            "ConversationId",
            "a scope of type ConversationId is required",
            None,
        )]));
    }
    if !t.fits_standard(sbd.standard()) {
        return Err(ApiError::new(
            Exception::MessageTypeDoesNotFitDocumentType,
            format!("Message type {t} does not match the document type {}", sbd.standard()),
        ));
    }
    if sbd.header.sender.is_none() && ctx.own_org.is_none() {
        return Err(ApiError::violations(vec![Violation::new(
            "standardBusinessDocumentHeader.sender",
            "NotNull",
            "no sender given, and this integration point has no organisation number configured (EFM_ORG)",
            None,
        )]));
    }
    fill_defaults(&mut sbd, ctx, ids);
    Ok(sbd)
}

fn expected_response_in_future(sbd: &Sbd, now: Timestamp) -> Result<(), ApiError> {
    let mut violations = Vec::new();
    for (i, scope) in sbd.header.scopes.iter().enumerate() {
        for (j, info) in scope.scope_information.iter().enumerate() {
            if let Some(ttl) = info.expected_response_date_time
                && ttl.timestamp() <= now
            {
                violations.push(Violation::new(
                        format!(
                            "standardBusinessDocumentHeader.businessScope.scope[{i}].scopeInformation[{j}].expectedResponseDateTime"
                        ),
                        "Future",
                        "must be a future date",
                        Some(Value::String(ttl.to_rfc3339())),
                    ));
            }
        }
    }
    if violations.is_empty() { Ok(()) } else { Err(ApiError::violations(violations)) }
}

fn fill_defaults(sbd: &mut Sbd, ctx: &CreateContext<'_>, ids: &mut Entropy) {
    let own = ctx.own_org.map(OrgIdentifier::norwegian);
    match (&mut sbd.header.sender, own) {
        (_, None) => {}
        (None, Some(own)) => {
            sbd.header.sender = Some(Partner {
                value: own.to_string(),
                authority: AUTHORITY_ISO6523.to_owned(),
                identifier: PartnerIdentifier::Organization(own),
                contact_information: Vec::new(),
            });
        }
        // On behalf of: a sender that is another Norwegian organisation is sent as
        // `0192:<own>:<other>`.
        (Some(p), Some(own)) => {
            if let PartnerIdentifier::Organization(o) = &p.identifier {
                let norwegian = o.icd() == ICD_NO_ORG || o.icd() == super::ICD_NO_ORG_LEGACY;
                if norwegian && o.on_behalf_of().is_none() && o.org() != own.org() {
                    let rewritten = own.with_on_behalf_of(o.org());
                    p.value = rewritten.to_string();
                    p.identifier = PartnerIdentifier::Organization(rewritten);
                }
            }
        }
    }
    let doc = &mut sbd.header.document;
    if doc.instance_identifier.is_none() {
        doc.instance_identifier = Some(MessageId::from_random_bytes(ids.uuid_bytes()));
    }
    if doc.creation_date_and_time.is_none() {
        doc.creation_date_and_time = Some(DateTime::oslo(ctx.now));
    }
    for scope in &mut sbd.header.scopes {
        if scope.instance_identifier.is_none() {
            scope.instance_identifier = Some(ids.uuid().hyphenated().to_string());
        }
    }
    if let Some(Scope { scope_information, .. }) = sbd.header.scope_mut(ScopeType::ConversationId) {
        let ttl = DateTime::from_timestamp(ctx.now + ctx.default_ttl, oslo_offset_of(ctx.now));
        match scope_information.first_mut() {
            Some(first) if first.expected_response_date_time.is_none() => {
                first.expected_response_date_time = Some(ttl)
            }
            Some(_) => {}
            None => scope_information.push(CorrelationInformation {
                expected_response_date_time: Some(ttl),
                ..CorrelationInformation::default()
            }),
        }
    }
}

fn oslo_offset_of(t: Timestamp) -> UtcOffset {
    DateTime::oslo(t).inner().offset()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: Timestamp = Timestamp::from_unix_millis(1_553_510_303_000); // 2019-03-25T10:38:23Z

    fn sbd(ttl: Option<&str>, sender: Option<&str>, standard: &str, t: &str) -> Sbd {
        let mut scope = json!({"type": "ConversationId", "identifier": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0"});
        if let Some(ttl) = ttl {
            scope["scopeInformation"] = json!([{"expectedResponseDateTime": ttl}]);
        }
        let mut header = json!({
            "headerVersion": "1.0",
            "receiver": [{"identifier": {"value": "0192:910075918", "authority": "iso6523-actorid-upis"}}],
            "documentIdentification": {"standard": standard, "typeVersion": "1.0", "type": t},
            "businessScope": {"scope": [scope, {"type": "SenderRef"}]}
        });
        if let Some(s) = sender {
            header["sender"] =
                json!([{"identifier": {"value": s, "authority": "iso6523-actorid-upis"}}]);
        }
        let doc = json!({"standardBusinessDocumentHeader": header, t: {}});
        Sbd::from_json(doc.to_string().as_bytes()).unwrap()
    }

    fn ctx() -> CreateContext<'static> {
        CreateContext {
            now: NOW,
            own_org: Some("910077473"),
            default_ttl: crate::status::DEFAULT_TTL,
        }
    }

    #[test]
    fn fills_the_reference_defaults() {
        let s = sbd(None, None, "urn:no:difi:arkivmelding:xsd::arkivmelding", "arkivmelding");
        let s = prepare_for_create(s, &ctx(), &mut Entropy::from_seed([3; 32])).unwrap();
        assert_eq!(s.header.sender.as_ref().unwrap().value, "0192:910077473");
        assert!(s.message_id().is_some());
        assert!(s.header.conversation_id().is_some());
        assert!(s.header.scopes.iter().all(|sc| sc.instance_identifier.is_some()));
        assert_eq!(
            s.header.document.creation_date_and_time.unwrap().to_rfc3339(),
            "2019-03-25T11:38:23+01:00"
        );
        assert_eq!(s.header.expected_response().unwrap().to_rfc3339(), "2019-03-26T11:38:23+01:00");
    }

    #[test]
    fn rewrites_a_foreign_sender_to_on_behalf_of() {
        let s = sbd(
            None,
            Some("0192:910075935"),
            "urn:no:difi:arkivmelding:xsd::arkivmelding",
            "arkivmelding",
        );
        let s = prepare_for_create(s, &ctx(), &mut Entropy::from_seed([3; 32])).unwrap();
        assert_eq!(s.header.sender.unwrap().value, "0192:910077473:910075935");
        let own = sbd(
            None,
            Some("0192:910077473"),
            "urn:no:difi:arkivmelding:xsd::arkivmelding",
            "arkivmelding",
        );
        let own = prepare_for_create(own, &ctx(), &mut Entropy::from_seed([3; 32])).unwrap();
        assert_eq!(own.header.sender.unwrap().value, "0192:910077473");
    }

    #[test]
    fn refuses_a_past_ttl_a_mismatched_standard_and_unsendable_types() {
        let past = sbd(
            Some("2019-03-25T11:38:22+01:00"),
            None,
            "urn:no:difi:arkivmelding:xsd::arkivmelding",
            "arkivmelding",
        );
        let e = prepare_for_create(past, &ctx(), &mut Entropy::from_seed([0; 32])).unwrap_err();
        assert_eq!(e.exception, Exception::ConstraintViolation);
        assert_eq!(e.errors[0].code, "Future");

        let mismatch = sbd(None, None, "urn:no:difi:avtalt:xsd::avtalt", "arkivmelding");
        let e = prepare_for_create(mismatch, &ctx(), &mut Entropy::from_seed([0; 32])).unwrap_err();
        assert_eq!(e.exception, Exception::MessageTypeDoesNotFitDocumentType);
        assert_eq!(
            e.message,
            "Message type arkivmelding does not match the document type urn:no:difi:avtalt:xsd::avtalt"
        );

        let feil = sbd(None, None, "urn:no:difi:eformidling:xsd::feil", "feil");
        let e = prepare_for_create(feil, &ctx(), &mut Entropy::from_seed([0; 32])).unwrap_err();
        assert_eq!(e.exception, Exception::UnknownMessageType);
        assert_eq!(e.status, 400);
    }
}
