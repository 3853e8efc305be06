//! Sending over DPV: an Altinn 3 correspondence, uploaded through Digdir's proxy.
//!
//! After the receiver's service record (which names the Altinn resource), the sender's
//! name is looked up in the registry (the correspondence shows it), an arkivmelding's
//! `arkivmelding.xml` is read for the texts, and the correspondence goes up as one
//! multipart form with the files streamed from the store. A 409 means an earlier
//! attempt got through: the correspondence is then found by our reference. The
//! correspondence id is kept to poll its overview for LEVERT and LEST; a published
//! arkivmelding is answered with an OK arkivmelding_kvittering in our own incoming
//! queue (`messages.arkivmelding_receipts`), as Altinn sends the archive none.
//!
//! Receipts (arkivmelding_kvittering and the like) have no place in Altinn: as in the
//! reference they are not sent, and recorded as SENDT, LEVERT and LEST at once.

use super::delivery::{Outbound, Step};
use super::http::{HttpResponse, TransportError};
use super::records::ConversationRow;
use super::store::{
    IncomingMessage, Loaded, OutgoingMessage, Query, StoreError, StoredConversationKey, Watch,
    Write,
};
use super::{Node, Output, Pending, ReqId};
use crate::Timestamp;
use crate::ids::MessageId;
use crate::registry::answer::LookupError;
use crate::registry::model::ServiceIdentifier;
use crate::registry::model::{IdentifierResource, ServiceRecord};
use crate::registry::request::IdentifierLookup;
use crate::sbd::status_reply::ARKIVMELDING_RECEIPT_PROCESS;
use crate::sbd::{BusinessMessage, DateTime, MessageType, PartnerIdentifier, Sbd};
use crate::status::DEFAULT_TTL;
use crate::status::Status;
use crate::transport::correspondence::{
    self, Attachment, Content, NewCorrespondence, Progress, Uploaded,
};
use crate::transport::failure::Failure;
use serde_json::json;

/// The digitalpost info process: a `digital_dpv` message under it ignores the
/// recipient's reservation against digital mail.
const INFO_PROCESS: &str = "urn:no:difi:profile:digitalpost:info:ver1.0";

/// Where one poll of a DPV correspondence is.
#[derive(Debug)]
pub(super) enum Polling {
    /// Asking for the overview.
    Overview(Watch),
    /// Published: reading the conversation, to answer an arkivmelding.
    Conversation { watch: Watch, progress: Progress },
    /// Storing the arkivmelding's receipt.
    Receipt { watch: Watch, progress: Progress },
}

/// The OK arkivmelding_kvittering for the arkivmelding `message_id` of `row`: from
/// its receiver to its sender, in its conversation, under the receipt process.
fn receipt_sbd(
    row: &ConversationRow,
    message_id: MessageId,
    now: Timestamp,
) -> Result<Sbd, String> {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("efm dpv arkivmelding receipt {message_id}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let party = |v: &Option<String>| json!([{"identifier": {"authority": "iso6523-actorid-upis", "value": v.clone().unwrap_or_default()}}]);
    let kind = MessageType::ArkivmeldingKvittering;
    let body = json!({
        "standardBusinessDocumentHeader": {
            "headerVersion": "1.0",
            "sender": party(&row.receiver),
            "receiver": party(&row.sender),
            "documentIdentification": {
                "standard": kind.default_standard(), "typeVersion": "2.0",
                "instanceIdentifier": id.hyphenated().to_string(), "type": kind.name(),
                "creationDateAndTime": DateTime::oslo(now).to_rfc3339()
            },
            "businessScope": {"scope": [{
                "type": "ConversationId",
                "instanceIdentifier": row.conversation_id,
                "identifier": ARKIVMELDING_RECEIPT_PROCESS,
                "scopeInformation": [{"expectedResponseDateTime": DateTime::oslo(now + DEFAULT_TTL).to_rfc3339()}]
            }]}
        },
        kind.name(): {"receiptType": "OK", "relatedToMessageId": message_id.to_string(), "messages": []}
    });
    Sbd::from_json(body.to_string().as_bytes()).map_err(|e| e.to_string())
}

/// Where one DPV delivery is.
#[derive(Debug)]
pub(super) enum DpvStep {
    /// Asking the registry for the sender's name.
    SenderName { out: Outbound, resource: String, lookup: IdentifierLookup },
    /// Reading the message's arkivmelding.xml.
    Arkivmelding { out: Outbound, resource: String, sender_name: String },
    /// The correspondence is being uploaded.
    Uploading { out: Outbound },
    /// After a 409: looking for the correspondence by our reference.
    Finding { out: Outbound },
}

impl DpvStep {
    pub(super) fn lookup(&self) -> Option<&IdentifierLookup> {
        match self {
            DpvStep::SenderName { lookup, .. } => Some(lookup),
            _ => None,
        }
    }
}

fn message(out: &Outbound) -> Option<&OutgoingMessage> {
    match out {
        Outbound::Message { message, .. } => Some(message),
        Outbound::Reply { .. } => None,
    }
}

impl Node {
    /// The receiver's service record is in: go on to the sender's name.
    pub(super) fn deliver_dpv(&mut self, out: Outbound, record: &ServiceRecord) {
        let resource = record.service.resource.clone().filter(|r| !r.trim().is_empty());
        let Some(resource) = resource else {
            let reason = "Service Registry returned empty Altinn resource id. Resource id cannot be null or blank, contact Digdir for support.";
            return self.finish(out, Status::Feil, Some(reason.into()));
        };
        let Some(org) = self.name_org(&out) else {
            return self.finish(out, Status::Feil, Some("The message has no sender".into()));
        };
        let lookup = IdentifierLookup::new(&org);
        let step = DpvStep::SenderName { out, resource, lookup: lookup.clone() };
        self.registry_lookup(lookup, Pending::Delivery(Box::new(Step::Dpv(Box::new(step)))));
    }

    /// Whose name the correspondence shows: the on-behalf-of organisation when the
    /// sender names one, else our own (as the reference), else the SBD's sender.
    fn name_org(&self, out: &Outbound) -> Option<String> {
        let sender = out.sbd().header.sender.as_ref()?;
        if let PartnerIdentifier::Organization(o) = &sender.identifier
            && let Some(part) = o.on_behalf_of()
        {
            return Some(part.to_owned());
        }
        self.config.own_org.clone().or_else(|| Some(sender.identifier.primary()))
    }

    pub(super) fn dpv_looked_up(
        &mut self,
        step: DpvStep,
        answer: Result<IdentifierResource, LookupError>,
    ) {
        let DpvStep::SenderName { out, resource, lookup } = step else {
            self.stale_answers += 1;
            return;
        };
        let name = match answer {
            Ok(r) => r.info_record.and_then(|i| i.organization_name),
            Err(e) => return self.retry(out, format!("service registry, sender's name: {e}")),
        };
        let Some(sender_name) = name.filter(|n| !n.is_empty()) else {
            let reason = format!("The registry has no name for {}", lookup.identifier);
            return self.retry(out, reason);
        };
        if matches!(out.sbd().message, BusinessMessage::Arkivmelding(_)) {
            let Some(message_id) = out.sbd().message_id() else {
                return self.finish(out, Status::Feil, Some("The message has no messageId".into()));
            };
            let q =
                Query::FileContent { message_id, filename: super::send::ARKIVMELDING_FILE.into() };
            let id = self.load(q);
            let step = DpvStep::Arkivmelding { out, resource, sender_name };
            self.loads.insert(id, Pending::Delivery(Box::new(Step::Dpv(Box::new(step)))));
            return;
        }
        match &out.sbd().message {
            BusinessMessage::DigitalDpv(d) => {
                let content = Content::from_digital_dpv(
                    d.tittel.clone(),
                    d.sammendrag.clone(),
                    d.innhold.clone(),
                );
                self.upload_dpv(out, &resource, &sender_name, &content, None)
            }
            other => {
                let reason = format!(
                    "A {} message cannot be sent over DPV (only arkivmelding and digital_dpv)",
                    other.message_type().name()
                );
                self.finish(out, Status::Feil, Some(reason))
            }
        }
    }

    pub(super) fn dpv_loaded(&mut self, step: DpvStep, result: Result<Loaded, StoreError>) {
        let DpvStep::Arkivmelding { out, resource, sender_name } = step else {
            self.stale_answers += 1;
            return;
        };
        let xml = match result {
            Ok(Loaded::FileContent(Some(xml))) => xml,
            Ok(_) => {
                let reason =
                    format!("{} not found for the message", super::send::ARKIVMELDING_FILE);
                return self.finish(out, Status::Feil, Some(reason));
            }
            Err(e) => return self.retry(out, format!("reading arkivmelding.xml: {e}")),
        };
        let parsed = crate::arkivmelding::journal_post_titles(&xml)
            .and_then(|t| crate::arkivmelding::referenced_files(&xml).map(|f| (t, f)));
        match parsed {
            Ok(((title, public_title), named)) => {
                let content = Content::from_journal_post(title, public_title);
                self.upload_dpv(out, &resource, &sender_name, &content, Some(&named))
            }
            Err(e) => {
                self.finish(out, Status::Feil, Some(format!("Failed to get Arkivmelding: {e}")))
            }
        }
    }

    /// Build the form and upload it; `named` limits the files to those the
    /// arkivmelding names (arkivmelding.xml itself is not one of them).
    fn upload_dpv(
        &mut self,
        out: Outbound,
        resource: &str,
        sender_name: &str,
        content: &Content,
        named: Option<&[String]>,
    ) {
        let Some(settings) = self.config.dpv.clone() else {
            return self.retry(out, "DPV is not configured".into());
        };
        let Some(m) = message(&out) else {
            return self.finish(out, Status::Feil, Some("A reply cannot go over DPV".into()));
        };
        let (Some(message_id), Some(sender), Some(receiver)) =
            (m.message_id(), m.sbd.header.sender.as_ref(), m.sbd.header.receiver.as_ref())
        else {
            let reason = "The message has no messageId, sender or receiver";
            return self.finish(out, Status::Feil, Some(reason.into()));
        };
        let attachments: Vec<Attachment> = m
            .files
            .iter()
            .filter(|f| named.is_none_or(|n| n.contains(&f.filename)))
            .map(|f| Attachment {
                file_name: f.filename.clone(),
                display_name: f.title.clone(),
                content_type: f.mime.clone(),
            })
            .collect();
        let sender_id = if sender.value.contains(':') {
            sender.value.clone()
        } else {
            format!("0192:{}", sender.value)
        };
        let sender_org = match &sender.identifier {
            PartnerIdentifier::Organization(o) => o.on_behalf_of().unwrap_or(o.org()).to_owned(),
            other => other.primary(),
        };
        let (dpv, ignore_reservation) = match &m.sbd.message {
            BusinessMessage::Arkivmelding(a) => (a.dpv.as_ref(), false),
            BusinessMessage::DigitalDpv(d) => {
                (d.dpv.as_ref(), m.sbd.header.process() == Some(INFO_PROCESS))
            }
            _ => (None, false),
        };
        let receiver = receiver.identifier.primary();
        let c = NewCorrespondence {
            resource_id: resource,
            sender: &sender_id,
            sender_org_number: &sender_org,
            sender_name,
            receiver: &receiver,
            message_id,
            now: self.now,
            content,
            dpv,
            ignore_reservation,
            attachments: &attachments,
        };
        let fields = correspondence::form_fields(&c, &settings.form);
        let boundary = self.entropy.uuid().simple().to_string();
        let req = correspondence::upload(
            &settings.endpoint,
            &fields,
            message_id,
            &attachments,
            &boundary,
        );
        self.request(req, Step::Dpv(Box::new(DpvStep::Uploading { out })));
    }

    pub(super) fn dpv_http(&mut self, step: DpvStep, answer: Result<HttpResponse, Failure>) {
        match step {
            DpvStep::Uploading { out } => {
                match answer.and_then(|r| correspondence::parse_uploaded(r.status, &r.body)) {
                    Ok(Uploaded::Created(id)) => self.dpv_handed_off(out, Some(id)),
                    Ok(Uploaded::AlreadySent) => {
                        let (Some(settings), Some(message_id)) =
                            (self.config.dpv.clone(), out.sbd().message_id())
                        else {
                            return self.dpv_handed_off(out, None);
                        };
                        let req = correspondence::find(&settings.endpoint, message_id);
                        self.request(req, Step::Dpv(Box::new(DpvStep::Finding { out })));
                    }
                    Err(f) => self.failed(out, f),
                }
            }
            DpvStep::Finding { out } => {
                match answer.and_then(|r| correspondence::parse_found(r.status, &r.body)) {
                    Ok(Some(id)) => self.dpv_handed_off(out, Some(id)),
                    // As the reference: sent, but with nothing to poll.
                    Ok(None) => {
                        self.note_failure(
                            "DPV: the correspondence exists (409) but was not found by its reference; its status will not be polled".into(),
                        );
                        self.dpv_handed_off(out, None)
                    }
                    Err(f) => {
                        self.note_failure(format!(
                            "DPV: the correspondence exists (409) but could not be looked up ({}); its status will not be polled",
                            f.reason()
                        ));
                        self.dpv_handed_off(out, None)
                    }
                }
            }
            _ => self.stale_answers += 1,
        }
    }

    /// Altinn has it: SENDT, and the correspondence is watched for LEVERT and LEST.
    /// Without its id there is nothing to poll: SENDT only, as the reference.
    fn dpv_handed_off(&mut self, out: Outbound, correspondence_id: Option<String>) {
        match correspondence_id {
            Some(id) => self.handed_off_watched(out, Some(id), &[]),
            None => self.handed_off(out),
        }
    }

    /// Ask for the overview of each due correspondence.
    pub(super) fn poll_dpv(&mut self, due: Vec<Watch>) {
        for watch in due {
            let (Some(settings), Some(id)) = (self.config.dpv.as_ref(), watch.reference.as_deref())
            else {
                // Sent without an id (or DPV no longer configured): nothing to ask.
                self.watch_answered(watch, Vec::new(), false);
                continue;
            };
            let req = correspondence::overview(&settings.endpoint, id);
            let rid = ReqId(self.next());
            self.outputs.push_back(Output::Http(rid, req));
            self.requests.insert(rid, Pending::Dpv(Box::new(Polling::Overview(watch))));
        }
    }

    pub(super) fn dpv_polled(
        &mut self,
        polling: Polling,
        result: Result<HttpResponse, TransportError>,
    ) {
        let Polling::Overview(watch) = polling else {
            self.stale_answers += 1;
            return;
        };
        let answer = result
            .map_err(|e| Failure::from(&e))
            .and_then(|r| correspondence::parse_overview(r.status, &r.body, self.now));
        match answer {
            Ok(progress) => {
                if !progress.keep {
                    self.note_failure(format!(
                        "DPV: correspondence {} of {} is gone or purged; its status is no longer polled",
                        watch.reference.as_deref().unwrap_or_default(),
                        watch.message_id
                    ));
                }
                let receipts = self.config.dpv.as_ref().is_some_and(|s| s.arkivmelding_receipts);
                if receipts && progress.statuses.iter().any(|(s, ..)| *s == Status::Levert) {
                    // Published: an arkivmelding gets its receipt, once (see below).
                    let q = Query::OutgoingConversation(StoredConversationKey::MessageId(
                        watch.message_id,
                    ));
                    let lid = self.load(q);
                    let p = Polling::Conversation { watch, progress };
                    self.loads.insert(lid, Pending::Dpv(Box::new(p)));
                    return;
                }
                self.watch_answered(watch, progress.statuses, progress.keep)
            }
            // As the reference: a failed look is logged, and the next one comes as
            // the message's age says.
            Err(f) => {
                self.note_failure(format!(
                    "DPV status of {} ({}): {}",
                    watch.message_id,
                    watch.reference.as_deref().unwrap_or_default(),
                    f.reason()
                ));
                self.watch_answered(watch, Vec::new(), true)
            }
        }
    }

    /// The reference's `generate-arkivmelding-receipts`: when an arkivmelding sent
    /// over DPV is published, an OK arkivmelding_kvittering from its receiver is put
    /// in our incoming queue, as the archive system expects an answer to every
    /// arkivmelding and Altinn sends none. Done before LEVERT is recorded, with a
    /// messageId drawn from the message's own, so a crash in between cannot make a
    /// second one (the store takes a messageId once).
    pub(super) fn dpv_conversation_loaded(
        &mut self,
        polling: Polling,
        result: Result<Loaded, StoreError>,
    ) {
        let Polling::Conversation { watch, progress } = polling else {
            self.stale_answers += 1;
            return;
        };
        let row = match result {
            Ok(Loaded::Conversation(Some(row))) => row,
            Ok(_) => return self.watch_answered(watch, progress.statuses, progress.keep),
            Err(e) => {
                self.note_failure(format!(
                    "DPV: the conversation of {} not read: {e}",
                    watch.message_id
                ));
                return self.watch_answered(watch, Vec::new(), true);
            }
        };
        let arkivmelding = row.document_identifier.as_deref()
            == Some(MessageType::Arkivmelding.default_standard());
        let levert_before = row.statuses.iter().any(|s| s.status == Status::Levert);
        if !arkivmelding || levert_before {
            return self.watch_answered(watch, progress.statuses, progress.keep);
        }
        let sbd = match receipt_sbd(&row, watch.message_id, self.now) {
            Ok(sbd) => sbd,
            Err(e) => {
                self.note_failure(format!("DPV: no receipt made for {}: {e}", watch.message_id));
                return self.watch_answered(watch, progress.statuses, progress.keep);
            }
        };
        let message = IncomingMessage {
            expiry: self.now + self.config.default_ttl,
            sbd,
            service: ServiceIdentifier::Dpv,
            received: self.now,
            asic: None,
        };
        let wid = self.persist(Write::CreateIncoming { message: Box::new(message), reply: None });
        self.writes.insert(wid, Pending::Dpv(Box::new(Polling::Receipt { watch, progress })));
    }

    pub(super) fn dpv_receipt_written(&mut self, polling: Polling, result: Result<(), StoreError>) {
        let Polling::Receipt { watch, progress } = polling else {
            self.stale_answers += 1;
            return;
        };
        match result {
            // Made now, or by an earlier poll that did not get to record LEVERT.
            Ok(()) | Err(StoreError::Conflict) => {
                self.deliver_pushes();
                self.watch_answered(watch, progress.statuses, progress.keep)
            }
            Err(e) => {
                self.note_failure(format!(
                    "DPV: the receipt of {} not stored: {e}",
                    watch.message_id
                ));
                self.watch_answered(watch, Vec::new(), true)
            }
        }
    }
}
