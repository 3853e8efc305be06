//! The status SBD an integration point sends back to the sender of a message it
//! received: `MOTTATT` when it has stored the message, `LEVERT` when its fagsystem
//! has fetched it. Built as the reference's `SBDFactory.createStatusFrom` builds it.

use super::Sbd;
use super::business::{BusinessMessage, Extra, StatusMessage};
use super::datetime::DateTime;
use super::header::ScopeType;
use super::header::{CorrelationInformation, DocumentIdentification, Header, Partner, Scope};
use super::message_type::MessageType;
use crate::ids::MessageId;
use crate::status::{DEFAULT_TTL, Status};
use crate::{Duration, Timestamp};

/// The document type of status SBDs (`difi.move.nextmove.status-document-type`).
pub const STATUS_STANDARD: &str = "urn:no:difi:eformidling:xsd::status";
/// The type version the reference writes on the SBDs it makes itself.
pub const STATUS_TYPE_VERSION: &str = "2.0";
/// The receipt processes (`difi.move.<kind>.receipt-process`).
pub const ARKIVMELDING_RECEIPT_PROCESS: &str = "urn:no:difi:profile:arkivmelding:response:ver1.0";
pub const EINNSYN_RECEIPT_PROCESS: &str = "urn:no:difi:profile:einnsyn:response:ver1.0";
pub const AVTALT_RECEIPT_PROCESS: &str = "urn:no:difi:profile:avtalt:response:ver1.0";

/// The reference dates its own SBDs a little in the past, so that a peer's
/// `@Past` check on the creation time holds despite clock skew.
const BACKDATE: Duration = Duration::from_secs(-5);

/// The status SBD for `incoming`: sender and receiver swapped, the same
/// conversationId, `message_id` as its messageId (the reference uses the incoming
/// message's own), `type` status with `standard`
/// `urn:no:difi:eformidling:xsd::status` and `typeVersion` 2.0, the receipt process
/// of the incoming message's kind (arkivmelding, eInnsyn or avtalt; none for
/// others), a time to live of the default 24 hours from `now`, and the incoming
/// message's MessageChannel scope if it has one.
pub fn status_reply(incoming: &Sbd, status: Status, message_id: MessageId, now: Timestamp) -> Sbd {
    let h = &incoming.header;
    let conversation = Scope {
        kind: ScopeType::ConversationId,
        instance_identifier: h
            .scope(ScopeType::ConversationId)
            .and_then(|s| s.instance_identifier.clone()),
        identifier: receipt_process(incoming.message_type()).map(str::to_owned),
        scope_information: vec![CorrelationInformation {
            expected_response_date_time: Some(DateTime::oslo(now + DEFAULT_TTL)),
            ..CorrelationInformation::default()
        }],
    };
    let mut scopes = vec![conversation];
    scopes.extend(h.scope(ScopeType::MessageChannel).cloned());
    Sbd {
        header: Header {
            header_version: "1.0".to_owned(),
            sender: h.receiver.as_ref().map(canonical),
            receiver: h.sender.as_ref().map(canonical),
            document: DocumentIdentification {
                standard: STATUS_STANDARD.to_owned(),
                type_version: STATUS_TYPE_VERSION.to_owned(),
                instance_identifier: Some(message_id),
                multiple_type: None,
                creation_date_and_time: Some(DateTime::oslo(now + BACKDATE)),
            },
            manifest: None,
            scopes,
        },
        message: BusinessMessage::Status(StatusMessage {
            hoveddokument: None,
            status: Some(status),
            extra: Extra::new(),
        }),
    }
}

/// The process a status about a message of this kind is sent under.
pub fn receipt_process(kind: MessageType) -> Option<&'static str> {
    match kind {
        MessageType::Arkivmelding | MessageType::ArkivmeldingKvittering => {
            Some(ARKIVMELDING_RECEIPT_PROCESS)
        }
        MessageType::Innsynskrav | MessageType::Publisering | MessageType::EinnsynKvittering => {
            Some(EINNSYN_RECEIPT_PROCESS)
        }
        MessageType::Avtalt => Some(AVTALT_RECEIPT_PROCESS),
        _ => None,
    }
}

/// The party as the reference writes one it names itself: the identifier in its
/// canonical form (`0192:<org>`), no contact information.
fn canonical(p: &Partner) -> Partner {
    Partner {
        value: p.identifier.to_string(),
        authority: p.authority.clone(),
        identifier: p.identifier.clone(),
        contact_information: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: Timestamp = Timestamp::from_unix_millis(1_553_510_303_000); // 2019-03-25T10:38:23Z
    const ID: &str = "e99e5cd1-74de-4cce-b902-cecdf97dc4f3";

    fn incoming(kind: &str, process: &str, channel: bool) -> Sbd {
        let mut scopes = vec![json!({"type": "ConversationId",
            "instanceIdentifier": "b4567a25-672c-4c2e-9a0f-08c52c54254b",
            "identifier": process,
            "scopeInformation": [{"expectedResponseDateTime": "2019-04-25T11:38:23+02:00"}]})];
        if channel {
            scopes.push(json!({"type": "MessageChannel", "identifier": "arkiv-1"}));
        }
        let standard = format!("urn:no:difi:{kind}:xsd::{kind}");
        let body = json!({
            "standardBusinessDocumentHeader": {
                "headerVersion": "1.0",
                "sender": [{"identifier": {"value": "9908:910077473", "authority": "iso6523-actorid-upis"},
                    "contactInformation": [{"contact": "Arkivet"}]}],
                "receiver": [{"identifier": {"value": "0192:910075918", "authority": "iso6523-actorid-upis"}}],
                "documentIdentification": {"standard": standard, "typeVersion": "1.0",
                    "instanceIdentifier": ID, "type": kind,
                    "creationDateAndTime": "2019-03-25T11:38:23+02:00"},
                "businessScope": {"scope": scopes}
            },
            kind: {}
        });
        Sbd::from_json(body.to_string().as_bytes()).expect("a valid incoming SBD")
    }

    #[test]
    fn a_levert_reply_to_an_arkivmelding_is_the_references_status_sbd() {
        let sbd = incoming(
            "arkivmelding",
            "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0",
            true,
        );
        let reply = status_reply(&sbd, Status::Levert, ID.parse().unwrap(), NOW);
        assert_eq!(
            reply.to_json_value(),
            json!({
                "standardBusinessDocumentHeader": {
                    "headerVersion": "1.0",
                    "sender": [{"identifier": {"value": "0192:910075918", "authority": "iso6523-actorid-upis"}}],
                    "receiver": [{"identifier": {"value": "9908:910077473", "authority": "iso6523-actorid-upis"}}],
                    "documentIdentification": {
                        "standard": "urn:no:difi:eformidling:xsd::status",
                        "typeVersion": "2.0",
                        "instanceIdentifier": ID,
                        "type": "status",
                        "creationDateAndTime": "2019-03-25T11:38:18+01:00"
                    },
                    "businessScope": {"scope": [
                        {"type": "ConversationId",
                         "instanceIdentifier": "b4567a25-672c-4c2e-9a0f-08c52c54254b",
                         "identifier": "urn:no:difi:profile:arkivmelding:response:ver1.0",
                         "scopeInformation": [{"expectedResponseDateTime": "2019-03-26T11:38:23+01:00"}]},
                        {"type": "MessageChannel", "identifier": "arkiv-1"}
                    ]}
                },
                "status": {"status": "LEVERT"}
            })
        );
        // It reads back as what it is.
        let back = Sbd::from_json(reply.to_json_value().to_string().as_bytes()).unwrap();
        assert_eq!(back, reply);
    }

    #[test]
    fn the_process_follows_the_kind_of_message() {
        let cases = [
            ("innsynskrav", Some(EINNSYN_RECEIPT_PROCESS)),
            ("publisering", Some(EINNSYN_RECEIPT_PROCESS)),
            ("avtalt", Some(AVTALT_RECEIPT_PROCESS)),
            ("arkivmelding_kvittering", Some(ARKIVMELDING_RECEIPT_PROCESS)),
            ("dialogmelding", None),
        ];
        for (kind, process) in cases {
            let t = MessageType::from_name(kind).unwrap();
            assert_eq!(receipt_process(t), process, "{kind}");
        }
        let sbd = incoming("avtalt", "urn:no:difi:profile:avtalt:avtalt:ver1.0", false);
        let reply = status_reply(&sbd, Status::Mottatt, ID.parse().unwrap(), NOW);
        assert_eq!(reply.header.process(), Some(AVTALT_RECEIPT_PROCESS));
        assert_eq!(reply.header.scopes.len(), 1, "no channel scope unless the message had one");
        assert_eq!(reply.message_type(), MessageType::Status);
    }
}
