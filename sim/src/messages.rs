//! What the sending fagsystems send: an arkivmelding over DPO (its
//! `arkivmelding.xml` naming the other files) or an innsynskrav over DPE, each with
//! files of random names, sizes and bytes.

use bytes::Bytes;
use efm_core::Timestamp;
use efm_core::ids::MessageId;
use serde_json::{Value, json};

use crate::model::Service;
use crate::rng::Rng;
use crate::sealing::Document;
use crate::services::registry::{
    ARKIVMELDING_PROCESS, ARKIVMELDING_STANDARD, INNSYNSKRAV_PROCESS, INNSYNSKRAV_STANDARD,
    RECEIPT_PROCESS, RECEIPT_STANDARD,
};

/// A message as its fagsystem makes it.
pub struct Draft {
    pub message_id: MessageId,
    pub sbd: Bytes,
    /// In upload order.
    pub files: Vec<Document>,
}

fn party(org: &str) -> Value {
    json!([{ "identifier": { "authority": "iso6523-actorid-upis", "value": format!("0192:{org}") } }])
}

/// A new message from `from` to `to`; `expires` sets `expectedResponseDateTime`
/// (otherwise the node's default TTL applies).
pub fn draft(
    rng: &mut Rng,
    from: &str,
    to: &str,
    service: Service,
    file_count: usize,
    expires: Option<Timestamp>,
) -> Draft {
    let message_id = MessageId::from_uuid(rng.uuid());
    let conversation_id = rng.uuid().hyphenated().to_string();
    let (process, standard, kind, body) = match service {
        Service::Dpo => (
            ARKIVMELDING_PROCESS,
            ARKIVMELDING_STANDARD,
            "arkivmelding",
            json!({ "hoveddokument": "arkivmelding.xml", "sikkerhetsnivaa": 3 }),
        ),
        Service::Dpe => (
            INNSYNSKRAV_PROCESS,
            INNSYNSKRAV_STANDARD,
            "innsynskrav",
            json!({ "orgnr": from, "epost": "innsyn@example.org" }),
        ),
    };
    let mut scope = json!({
        "identifier": process,
        "instanceIdentifier": conversation_id,
        "type": "ConversationId"
    });
    if let Some(t) = expires {
        scope["scopeInformation"] =
            json!([{ "expectedResponseDateTime": efm_core::sbd::DateTime::oslo(t).to_rfc3339() }]);
    }
    let sbd = json!({
        "standardBusinessDocumentHeader": {
            "businessScope": { "scope": [scope] },
            "documentIdentification": {
                "instanceIdentifier": message_id.to_string(),
                "standard": standard,
                "type": kind,
                "typeVersion": "2.0"
            },
            "headerVersion": "1.0",
            "receiver": party(to),
            "sender": party(from)
        },
        kind: body
    });
    let mut files: Vec<Document> = (0..file_count.max(1))
        .map(|i| {
            // Mostly small, now and then empty or some tens of kilobytes.
            let size = match rng.below(20) {
                0 => rng.range(0, 16),
                1 => rng.range(16_000, 40_000),
                _ => rng.range(16, 3000),
            } as usize;
            let (ext, mime) =
                if rng.chance(500) { ("pdf", "application/pdf") } else { ("txt", "text/plain") };
            Document {
                name: format!("doc-{i}-{}.{ext}", rng.below(1000)),
                mime: mime.into(),
                content: Bytes::from(rng.bytes(size)),
            }
        })
        .collect();
    if service == Service::Dpo {
        let xml = arkivmelding_xml(&files);
        files.insert(
            0,
            Document {
                name: "arkivmelding.xml".into(),
                mime: "application/xml".into(),
                content: xml,
            },
        );
    }
    Draft { message_id, sbd: Bytes::from(sbd.to_string()), files }
}

/// The receiving archive's receipt for the arkivmelding `related` (an
/// `arkivmelding_kvittering`, no files), from `from` back to its sender `to`:
/// `OK` gives the sender LEST, `ERROR` FEIL.
pub fn receipt(
    rng: &mut Rng,
    from: &str,
    to: &str,
    related: MessageId,
    receipt_type: &str,
) -> Draft {
    let message_id = MessageId::from_uuid(rng.uuid());
    let sbd = json!({
        "standardBusinessDocumentHeader": {
            "businessScope": { "scope": [{
                "identifier": RECEIPT_PROCESS,
                "instanceIdentifier": rng.uuid().hyphenated().to_string(),
                "type": "ConversationId"
            }]},
            "documentIdentification": {
                "instanceIdentifier": message_id.to_string(),
                "standard": RECEIPT_STANDARD,
                "type": "arkivmelding_kvittering",
                "typeVersion": "2.0"
            },
            "headerVersion": "1.0",
            "receiver": party(to),
            "sender": party(from)
        },
        "arkivmelding_kvittering": { "receiptType": receipt_type, "relatedToMessageId": related.to_string() }
    });
    Draft { message_id, sbd: Bytes::from(sbd.to_string()), files: Vec::new() }
}

/// An arkivmelding naming `files`, so that the node's send-time check passes.
fn arkivmelding_xml(files: &[Document]) -> Bytes {
    let refs: String = files
        .iter()
        .map(|f| {
            format!(
                "<dokumentbeskrivelse><tittel>{0}</tittel><dokumentobjekt><referanseDokumentfil>{0}</referanseDokumentfil></dokumentobjekt></dokumentbeskrivelse>",
                f.name
            )
        })
        .collect();
    Bytes::from(format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<arkivmelding xmlns="http://www.arkivverket.no/standarder/noark5/arkivmelding"><system>efm-sim</system><antallFiler>{}</antallFiler><mappe><tittel>Simulert sak</tittel><basisregistrering><tittel>Simulert journalpost</tittel>{refs}</basisregistrering></mappe></arkivmelding>"#,
        files.len()
    ))
}
