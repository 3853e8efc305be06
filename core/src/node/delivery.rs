//! Sending: queued outgoing messages and status replies are handed to their message
//! service. A message is taken from the queue only by the write that records its
//! outcome (SENDT, FEIL or LEVETID_UTLOPT), so a crash anywhere before leaves it
//! queued and it is sent again: at least once, and the receiving side drops
//! repeats by messageId.
//!
//! Per message: the receiver's service record (certificate, queue) from the
//! registry; the payload sealed by the runtime; then DPO's initiate and upload, or
//! DPE's one send. Transient failures retry with backoff until the expiry; a
//! permanent one (a 4xx) is FEIL at once with the reason.

use bytes::Bytes;

use super::http::{HttpRequest, HttpResponse, TransportError};
use super::jobs::{Job, JobError, JobResult, SealForm, SealJob};
use super::store::{Loaded, OutgoingMessage, Query, StatusRecord, StatusReply, StoreError, Write};
use super::{JobId, Node, Output, Pending, ReqId};
use crate::crypto::key_unwrap::KeyTransport;
use crate::ids::MessageId;
use crate::package::eformidling_manifest::{EformidlingManifest, PrimaryDocument};
use crate::registry::answer::LookupError;
use crate::registry::model::{IdentifierResource, ServiceIdentifier, ServiceRecord};
use crate::registry::request::IdentifierLookup;
use crate::routing;
use crate::sbd::Sbd;
use crate::status::Status;
use crate::transport::altinn_broker::{self, NewFileTransfer};
use crate::transport::failure::Failure;
use crate::transport::service_bus;

/// DPE's payload limit (`service-bus.upload-size-limit`, 2 MB), for the CMS.
const DPE_LIMIT: u64 = 2 * 1024 * 1024;

/// What is being delivered: a fagsystem's message, or a status reply to a sender.
#[derive(Debug)]
pub(super) enum Outbound {
    Message { message: Box<OutgoingMessage>, attempts: u32 },
    Reply { id: i64, reply: Box<StatusReply>, attempts: u32 },
}

impl Outbound {
    pub(super) fn sbd(&self) -> &Sbd {
        match self {
            Outbound::Message { message, .. } => &message.sbd,
            Outbound::Reply { reply, .. } => &reply.sbd,
        }
    }

    pub(super) fn service(&self) -> ServiceIdentifier {
        match self {
            Outbound::Message { message, .. } => message.service,
            Outbound::Reply { reply, .. } => reply.service,
        }
    }

    fn attempts(&self) -> u32 {
        match self {
            Outbound::Message { attempts, .. } | Outbound::Reply { attempts, .. } => *attempts,
        }
    }

    /// The key it is tracked under while in flight.
    pub(super) fn key(&self) -> InFlight {
        match self {
            Outbound::Message { message, .. } => InFlight::Message(
                message.message_id().unwrap_or(MessageId::from_uuid(uuid::Uuid::nil())),
            ),
            Outbound::Reply { id, .. } => InFlight::Reply(*id),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum InFlight {
    Message(MessageId),
    Reply(i64),
}

/// Where one delivery is.
#[derive(Debug)]
pub(super) enum Step {
    /// Looking at the queue.
    DueMessages,
    DueReplies,
    /// Asking the registry for the receiver's service record.
    Lookup {
        out: Outbound,
        lookup: IdentifierLookup,
    },
    /// The runtime is sealing the payload.
    Sealing {
        out: Outbound,
        queue: Option<String>,
    },
    /// DPO: the file transfer is being initiated.
    Initiating {
        out: Outbound,
        parcel: String,
    },
    /// DPO: the parcel is being uploaded.
    Uploading {
        out: Outbound,
    },
    /// DPE: the payload is being sent to the receiver's queue.
    Sending {
        out: Outbound,
    },
    /// DPV: its own steps (`dpv.rs`).
    Dpv(Box<super::dpv::DpvStep>),
    /// The outcome is being recorded; `events` tell of it once it is durable.
    Recording {
        key: InFlight,
        events: Vec<super::StatusEvent>,
    },
}

impl Step {
    pub(super) fn lookup(&self) -> Option<&IdentifierLookup> {
        match self {
            Step::Lookup { lookup, .. } => Some(lookup),
            Step::Dpv(s) => s.lookup(),
            _ => None,
        }
    }
}

impl Node {
    /// Look for due work, unless a look is under way or no slot is free.
    pub(super) fn kick_delivery(&mut self) {
        if self.delivery.looking || self.delivery.in_flight.len() >= self.config.pacing.parallel {
            return;
        }
        self.delivery.looking = true;
        self.delivery.next = None;
        let limit = self.config.pacing.parallel - self.delivery.in_flight.len();
        let skip = self
            .delivery
            .in_flight
            .iter()
            .filter_map(|k| match k {
                InFlight::Message(m) => Some(*m),
                InFlight::Reply(_) => None,
            })
            .collect();
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let id = self.load(Query::DueOutgoing { now: self.now, limit, skip });
        self.loads.insert(id, Pending::Delivery(Box::new(Step::DueMessages)));
        let id = self.load(Query::DueReplies { now: self.now, limit });
        self.loads.insert(id, Pending::Delivery(Box::new(Step::DueReplies)));
    }

    pub(super) fn delivery_loaded(&mut self, step: Step, result: Result<Loaded, StoreError>) {
        match (step, result) {
            (Step::Dpv(s), result) => self.dpv_loaded(*s, result),
            (Step::DueMessages, Ok(Loaded::DueOutgoing { due, next })) => {
                self.delivery.next = min_time(self.delivery.next, next);
                for (message, attempts) in due {
                    self.start(Outbound::Message { message: Box::new(message), attempts });
                }
            }
            (Step::DueReplies, Ok(Loaded::Replies { due, next })) => {
                self.delivery.looking = false;
                self.delivery.next = min_time(self.delivery.next, next);
                for (id, reply, attempts) in due {
                    if !self.delivery.in_flight.contains(&InFlight::Reply(id)) {
                        self.start(Outbound::Reply { id, reply: Box::new(reply), attempts });
                    }
                }
            }
            (step, result) => {
                // A store failure: look again at the next sweep.
                if matches!(step, Step::DueReplies) {
                    self.delivery.looking = false;
                }
                let retry = self.now + self.config.ttl_check_interval;
                self.delivery.next = min_time(self.delivery.next, Some(retry));
                if let Err(e) = result {
                    self.note_failure(format!("delivery: the store failed: {e}"));
                }
            }
        }
    }

    fn start(&mut self, out: Outbound) {
        let key = out.key();
        if !self.delivery.in_flight.insert(key) {
            return;
        }
        if let Outbound::Message { message, .. } = &out
            && self.now >= message.expiry
        {
            return self.finish(
                out,
                Status::LevetidUtlopt,
                Some(super::send::EXPIRED_DESCRIPTION.to_owned()),
            );
        }
        match (&out, out.service()) {
            // Replies carry no files: nothing to look up or encrypt.
            (Outbound::Reply { .. }, ServiceIdentifier::Dpo) => self.seal(out, None, None),
            (Outbound::Reply { .. }, ServiceIdentifier::Dpe) => {
                match self.dpe_queue(out.sbd(), None) {
                    Ok(queue) => self.send_dpe(out, Some(queue), None),
                    Err(e) => self.finish(out, Status::Feil, Some(e)),
                }
            }
            // Altinn has no place for receipts: recorded as if delivered and read.
            (Outbound::Message { message, .. }, ServiceIdentifier::Dpv)
                if message.sbd.message_type().is_receipt() =>
            {
                self.handed_off_watched(out, None, &[Status::Levert, Status::Lest])
            }
            (
                Outbound::Message { .. },
                ServiceIdentifier::Dpo | ServiceIdentifier::Dpe | ServiceIdentifier::Dpv,
            ) => {
                let Some(lookup) = receiver_lookup(out.sbd()) else {
                    return self.finish(
                        out,
                        Status::Feil,
                        Some("The message has no receiver".into()),
                    );
                };
                let step = Step::Lookup { out, lookup: lookup.clone() };
                self.registry_lookup(lookup, Pending::Delivery(Box::new(step)));
            }
            (Outbound::Message { .. }, ServiceIdentifier::Dpf) => self.deliver_dpf(out),
            (Outbound::Message { .. }, ServiceIdentifier::Dpi) => self.deliver_dpi(out),
            (_, other) => {
                let reason =
                    format!("Sending over {} is not supported by this version", other.as_str());
                self.finish(out, Status::Feil, Some(reason))
            }
        }
    }

    /// Ask the registry for the receiver's service record.
    pub(super) fn lookup_receiver(&mut self, out: Outbound) {
        let Some(lookup) = receiver_lookup(out.sbd()) else {
            return self.finish(out, Status::Feil, Some("The message has no receiver".into()));
        };
        let step = Step::Lookup { out, lookup: lookup.clone() };
        self.registry_lookup(lookup, Pending::Delivery(Box::new(step)));
    }

    /// The receiver's record for the message's document type and service, from the
    /// registry's answer; or `None` once the message is settled: FEIL when the
    /// receiver now takes it over another service, a retry when the registry could
    /// not answer.
    pub(super) fn receiver_record(
        &mut self,
        out: Outbound,
        lookup: &IdentifierLookup,
        answer: Result<IdentifierResource, LookupError>,
    ) -> Option<(Outbound, ServiceRecord)> {
        let service = out.service();
        let record = answer.map_err(routing::SelectError::from).and_then(|resource| {
            routing::select_by_document_type(
                &resource.service_records,
                lookup,
                out.sbd().standard(),
            )
            .cloned()
        });
        match record {
            Ok(r) if r.service_identifier() == service => Some((out, r)),
            Ok(r) => {
                let reason = format!(
                    "The receiver now takes this message over {}, not {}",
                    r.service_identifier().as_str(),
                    service.as_str()
                );
                self.finish(out, Status::Feil, Some(reason));
                None
            }
            // The registry unreachable is for later; a refusal is final.
            Err(routing::SelectError::Lookup(LookupError::Transport(e))) => {
                self.retry(out, format!("service registry unreachable: {e}"));
                None
            }
            Err(e) => {
                self.retry(out, format!("service registry: {e}"));
                None
            }
        }
    }

    /// The receiver's service record is in (or the lookup failed).
    pub(super) fn delivery_looked_up(
        &mut self,
        step: Step,
        answer: Result<IdentifierResource, LookupError>,
    ) {
        let (out, lookup) = match step {
            Step::Lookup { out, lookup } => (out, lookup),
            Step::Dpv(s) => return self.dpv_looked_up(*s, answer),
            _ => return,
        };
        let Some((out, record)) = self.receiver_record(out, &lookup, answer) else {
            return;
        };
        let service = out.service();
        if service == ServiceIdentifier::Dpi {
            return self.dpi_record(out, Some(record));
        }
        if service == ServiceIdentifier::Dpv {
            return self.deliver_dpv(out, &record);
        }
        let Some(certificate) = record.pem_certificate() else {
            return self.finish(
                out,
                Status::Feil,
                Some("The receiver's service record has no certificate".into()),
            );
        };
        let queue = match service {
            ServiceIdentifier::Dpe => {
                match self.dpe_queue(out.sbd(), record.service.endpoint_url.as_deref()) {
                    Ok(q) => Some(q),
                    Err(e) => return self.finish(out, Status::Feil, Some(e)),
                }
            }
            _ => None,
        };
        self.seal(out, Some(certificate), queue);
    }

    /// Hand the payload to the runtime to seal; with no files, go straight on.
    fn seal(&mut self, out: Outbound, certificate: Option<String>, queue: Option<String>) {
        let files = match &out {
            Outbound::Message { message, .. } => {
                let mut files = message.files.clone();
                // The primary document leads the container, as the reference's does.
                files.sort_by_key(|f| !f.primary);
                files
            }
            Outbound::Reply { .. } => Vec::new(),
        };
        let service = out.service();
        if files.is_empty() && service == ServiceIdentifier::Dpe {
            return self.send_dpe(out, queue, None);
        }
        let Some(message_id) = out.sbd().message_id() else {
            return self.finish(out, Status::Feil, Some("The message has no messageId".into()));
        };
        let sbd = out.sbd();
        let manifest = EformidlingManifest {
            receiver: sbd.header.receiver.as_ref().map(|p| p.value.clone()).unwrap_or_default(),
            sender: sbd.header.sender.as_ref().map(|p| p.value.clone()).unwrap_or_default(),
            // The first document is the manifest's hoveddokument, primary or not, as
            // in the reference (AsicHandlerImpl: `documents.getFirst()`): an avtalt or
            // innsynskrav message names none, and its manifest still has one.
            primary: files
                .first()
                .map(|f| PrimaryDocument { href: f.filename.clone(), mime: f.mime.clone() }),
        };
        let form = match service {
            ServiceIdentifier::Dpe => SealForm::Cms { limit: DPE_LIMIT },
            _ => SealForm::DpoParcel {
                sbd_json: Bytes::from(sbd.to_json_value().to_string()),
                name: format!("out-{}-{}", message_id, self.next()),
            },
        };
        let job = SealJob {
            message_id,
            files,
            receiver_certificate: certificate.unwrap_or_default(),
            key_transport: match service {
                ServiceIdentifier::Dpe => KeyTransport::RsaPkcs1v15,
                _ => KeyTransport::RsaOaepSha256,
            },
            manifest,
            form,
        };
        let id = JobId(self.next());
        self.outputs.push_back(Output::Job(id, Job::Seal(job)));
        self.jobs.insert(id, Pending::Delivery(Box::new(Step::Sealing { out, queue })));
    }

    pub(super) fn delivery_job_done(&mut self, step: Step, result: Result<JobResult, JobError>) {
        let Step::Sealing { out, queue } = step else {
            return;
        };
        match result {
            Ok(JobResult::Staged { name, .. }) => self.initiate_dpo(out, name),
            Ok(JobResult::Bytes(cms)) => self.send_dpe(out, queue, Some(cms)),
            Ok(other) => self.retry(out, format!("sealing gave an unexpected result: {other:?}")),
            Err(JobError::Invalid(e)) => {
                self.finish(out, Status::Feil, Some(format!("Could not package the message: {e}")))
            }
            Err(JobError::Io(e)) => self.retry(out, format!("could not package the message: {e}")),
        }
    }

    fn initiate_dpo(&mut self, out: Outbound, parcel: String) {
        let Some(settings) = self.config.dpo.clone() else {
            return self.retry(out, "DPO is not configured".into());
        };
        let sbd = out.sbd();
        let sender = sbd.header.sender.as_ref().map(|p| p.identifier.primary()).unwrap_or_default();
        let recipient =
            sbd.header.receiver.as_ref().map(|p| p.identifier.primary()).unwrap_or_default();
        let reference = self.entropy.uuid().hyphenated().to_string();
        let transfer = NewFileTransfer {
            sender: &broker_party(&sender),
            recipient: &broker_party(&recipient),
            senders_reference: &reference,
        };
        let req = altinn_broker::initiate(&settings.broker, &transfer);
        self.request(req, Step::Initiating { out, parcel });
    }

    pub(super) fn send_dpe(&mut self, out: Outbound, queue: Option<String>, cms: Option<Bytes>) {
        if self.config.dpe.is_none() {
            return self.retry(out, "DPE is not configured".into());
        }
        let Some(queue) = queue else {
            return self.finish(out, Status::Feil, Some("No DPE queue for the receiver".into()));
        };
        let Some(endpoint) = self.service_bus() else {
            self.sas.waiting.push(super::sas::Deferred { out, queue: Some(queue), cms });
            return;
        };
        let payload = service_bus::encode_payload(&out.sbd().to_json_value(), cms.as_deref());
        let req = service_bus::send(&endpoint, &queue, payload, self.now);
        self.request(req, Step::Sending { out });
    }

    pub(super) fn request(&mut self, req: HttpRequest, step: Step) {
        let id = ReqId(self.next());
        self.outputs.push_back(Output::Http(id, req));
        self.requests.insert(id, Pending::Delivery(Box::new(step)));
    }

    pub(super) fn delivery_http(
        &mut self,
        step: Step,
        result: Result<HttpResponse, TransportError>,
    ) {
        let answer = result.map_err(|e| Failure::from(&e));
        match step {
            Step::Initiating { out, parcel } => {
                match answer.and_then(|r| altinn_broker::parse_initiated(r.status, &r.body)) {
                    Ok(transfer_id) => {
                        let Some(settings) = self.config.dpo.clone() else {
                            return self.retry(out, "DPO is not configured".into());
                        };
                        let mut req = altinn_broker::upload(&settings.broker, &transfer_id);
                        req.body_file = Some(parcel);
                        self.request(req, Step::Uploading { out });
                    }
                    Err(f) => self.failed(out, f),
                }
            }
            Step::Uploading { out } => {
                let conflict = matches!(&answer, Ok(r) if r.status == 409);
                match answer.and_then(|r| altinn_broker::parse_uploaded(r.status, &r.body)) {
                    Ok(()) => self.handed_off(out),
                    // The transfer has had an upload already: ours, sent twice on the
                    // way (a retrying proxy), or a failed one. Not a refusal of the
                    // message: as the broker says, a new transfer tries again (and the
                    // receiver drops a repeat by its messageId).
                    Err(f) if conflict => self.retry(out, f.reason().to_owned()),
                    Err(f) => self.failed(out, f),
                }
            }
            Step::Sending { out } => {
                match answer.and_then(|r| {
                    self.sas_refused(r.status);
                    service_bus::parse_sent(r.status, &r.body)
                }) {
                    Ok(()) => self.handed_off(out),
                    Err(f) => self.failed(out, f),
                }
            }
            Step::Dpv(s) => self.dpv_http(*s, answer),
            _ => self.stale_answers += 1,
        }
    }

    pub(super) fn failed(&mut self, out: Outbound, failure: Failure) {
        match failure {
            Failure::Transient(reason) => self.retry(out, reason),
            Failure::Permanent(reason) => self.finish(out, Status::Feil, Some(reason)),
        }
    }

    /// The message service has it: SENDT (a reply is simply done).
    pub(super) fn handed_off(&mut self, out: Outbound) {
        match out {
            Outbound::Reply { id, .. } => {
                let wid = self.persist(Write::ReplyDone(id));
                self.writes.insert(
                    wid,
                    Pending::Delivery(Box::new(Step::Recording {
                        key: InFlight::Reply(id),
                        events: Vec::new(),
                    })),
                );
            }
            out @ Outbound::Message { .. } => self.finish(out, Status::Sendt, None),
        }
    }

    /// Record the message's outcome, which takes it from the queue.
    pub(super) fn finish(&mut self, out: Outbound, status: Status, description: Option<String>) {
        let key = out.key();
        match out {
            Outbound::Message { message, .. } => {
                let Some(message_id) = message.message_id() else {
                    self.delivery.in_flight.remove(&key);
                    return;
                };
                let record = StatusRecord {
                    message_id,
                    status,
                    description,
                    at: self.now,
                    queued: self.config.status_queue_includes.contains(&message.service),
                };
                let event = super::StatusEvent {
                    message_id,
                    conversation_id: message.sbd.header.conversation_id(),
                    direction: crate::status::Direction::Outgoing,
                    status,
                    description: record.description.clone(),
                    at: self.now,
                };
                let wid = self.persist(Write::HandOff(record));
                let step = Step::Recording { key, events: vec![event] };
                self.writes.insert(wid, Pending::Delivery(Box::new(step)));
            }
            // A reply that cannot be sent is dropped: the sender's own expiry
            // settles its message.
            Outbound::Reply { id, .. } => {
                if let Some(d) = description {
                    self.note_failure(format!("status reply {id} dropped: {d}"));
                }
                let wid = self.persist(Write::ReplyDone(id));
                let step = Step::Recording { key, events: Vec::new() };
                self.writes.insert(wid, Pending::Delivery(Box::new(step)));
            }
        }
    }

    /// Try again later, counting the attempt.
    pub(super) fn retry(&mut self, out: Outbound, reason: String) {
        let key = out.key();
        let attempts = out.attempts().saturating_add(1);
        let delay = self.config.pacing.backoff(attempts, self.entropy.next_u64());
        let mut at = self.now + delay;
        if let Outbound::Message { message, .. } = &out {
            // No point waiting past the expiry: the next attempt records it.
            at = at.min(message.expiry);
        }
        self.note_failure(format!("delivery attempt {attempts} failed: {reason}"));
        let write = match &out {
            Outbound::Message { message, .. } => match message.message_id() {
                Some(message_id) => Write::RetryOutgoing { message_id, at },
                None => {
                    self.delivery.in_flight.remove(&key);
                    return;
                }
            },
            Outbound::Reply { id, .. } => Write::ReplyRetry { id: *id, at },
        };
        let wid = self.persist(write);
        self.writes
            .insert(wid, Pending::Delivery(Box::new(Step::Recording { key, events: Vec::new() })));
        self.delivery.next = min_time(self.delivery.next, Some(at));
    }

    pub(super) fn delivery_persisted(&mut self, step: Step, result: Result<(), StoreError>) {
        let Step::Recording { key, events } = step else {
            self.stale_answers += 1;
            return;
        };
        self.delivery.in_flight.remove(&key);
        match result {
            Ok(()) => {
                // Told only now: an outcome that was not recorded is tried again,
                // and told of then.
                for event in events {
                    self.status_recorded(event);
                }
                self.deliver_pushes();
                // A slot is free: more may be waiting.
                self.kick_delivery();
            }
            // Not recorded: the message stays queued as it was and comes round
            // again at the next look.
            Err(e) => {
                self.note_failure(format!("delivery outcome not recorded: {e}"));
                let retry = self.now + self.config.ttl_check_interval;
                self.delivery.next = min_time(self.delivery.next, Some(retry));
            }
        }
    }

    /// The DPE queue `sbd` goes to; `endpoint` is the receiver's service record's
    /// `endpointUrl` (replies and receipts need none).
    fn dpe_queue(&self, sbd: &Sbd, endpoint: Option<&str>) -> Result<String, String> {
        let settings = self.config.dpe.as_ref().ok_or("DPE is not configured")?;
        service_bus::target_queue(sbd, settings.mode, settings.receipt_queue.as_deref(), endpoint)
            .map_err(|e| e.to_string())
    }
}

/// The registry question for a message's receiver, as at create.
pub(super) fn receiver_lookup(sbd: &Sbd) -> Option<IdentifierLookup> {
    let receiver = sbd.header.receiver.as_ref()?;
    let mut lookup = IdentifierLookup::new(&receiver.identifier.primary());
    if let Some(p) = sbd.header.process() {
        lookup = lookup.process(p);
    }
    if let Some(level) = sbd.message.security_level().and_then(|l| u8::try_from(l).ok()) {
        lookup = lookup.security_level(level);
    }
    if let Some(c) = sbd.header.conversation_id() {
        lookup = lookup.conversation_id(&c.to_string());
    }
    Some(lookup)
}

/// The broker names organisations `0192:<orgnr>`.
fn broker_party(org: &str) -> String {
    if org.contains(':') { org.to_owned() } else { format!("0192:{org}") }
}

pub(super) fn min_time(
    a: Option<crate::Timestamp>,
    b: Option<crate::Timestamp>,
) -> Option<crate::Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The delivery side's state in the node.
#[derive(Debug, Default)]
pub(super) struct Delivery {
    /// A look at the queue is under way.
    pub looking: bool,
    pub in_flight: std::collections::HashSet<InFlight>,
    /// When the next queued message or retry is due.
    pub next: Option<crate::Timestamp>,
}

impl Delivery {
    /// When the node wants a tick for sending: never while a look is under way or
    /// every slot is taken, since a tick could do nothing then (the look's answer, or
    /// the write that frees a slot, looks again); asking anyway would have the
    /// runtime spin on a time already past.
    pub(super) fn wake_at(&self, parallel: usize) -> Option<crate::Timestamp> {
        if self.looking || self.in_flight.len() >= parallel { None } else { self.next }
    }
}
