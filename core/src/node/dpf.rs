//! DPF over KS FIKS.
//!
//! Sending (SvarUt): the receiver's service record (SvarUt's certificate and the
//! receiver's info record) and the sender's info record from the registry, the
//! message's arkivmelding.xml from the store, mapped to a forsendelse; a named
//! forsendelseType is checked against `retreiveForsendelseTyper` first; the runtime
//! assembles the request body with each document CMS-encrypted to SvarUt; SvarUt's
//! acceptance is SENDT and LEVERT at once (it guarantees delivery from there), and
//! the forsendelse is watched until SvarUt reports it LEST.
//!
//! Receiving (SvarInn): new forsendelser are listed at the poll interval; each is
//! downloaded, opened by the runtime (decrypted with our key, unzipped, packed as an
//! ASiC with a generated arkivmelding.xml) and stored as an incoming DPF message by
//! the common receive path, and only then acknowledged. A forsendelse that cannot be
//! taken is handed to [`Node::svarinn_undeliverable`] and left unacknowledged.

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;

use super::delivery::{Outbound, receiver_lookup};
use super::http::{HttpRequest, HttpResponse, TransportError};
use super::jobs::{Job, JobError, JobResult, SvarInnJob, SvarUtSealJob};
use super::receive::Ack;
use super::store::{IncomingMessage, Loaded, Query, StagedFile, StoreError, Watch, Write};
use super::{JobId, Node, Output, Pending, ReqId};
use crate::Timestamp;
use crate::package::eformidling_manifest::{EformidlingManifest, PrimaryDocument};
use crate::registry::answer::LookupError;
use crate::registry::model::{IdentifierResource, InfoRecord, ServiceIdentifier};
use crate::registry::request::IdentifierLookup;
use crate::sbd::status_reply::ARKIVMELDING_RECEIPT_PROCESS;
use crate::sbd::{BusinessMessage, DateTime, Sbd, ScopeType};
use crate::status::{Status, expiry};
use crate::transport::failure::Failure;
use crate::transport::svarinn::{self, Forsendelse as Incoming};
use crate::transport::svarut::{self, Forsendelse, Mapping};
use serde_json::json;

/// What the registry told about the receiver.
#[derive(Debug)]
pub(super) struct Receiver {
    certificate: String,
    info: Option<InfoRecord>,
}

/// A SvarUt send on its way: what it has gathered so far.
#[derive(Debug)]
pub(super) struct Outgoing {
    out: Outbound,
    receiver: Receiver,
    sender_info: Option<InfoRecord>,
}

#[derive(Debug)]
pub(super) enum Step {
    /// SvarUt: the receiver's service record.
    Lookup { out: Outbound, lookup: IdentifierLookup },
    /// SvarUt: the sender's info record (for svarSendesTil).
    SenderLookup { send: Box<Outgoing>, lookup: IdentifierLookup },
    /// SvarUt: the message's arkivmelding.xml.
    Arkivmelding { send: Box<Outgoing> },
    /// SvarUt: the known forsendelse types, to check the one named.
    Types { send: Box<Outgoing>, forsendelse: Box<Forsendelse>, wanted: String },
    /// SvarUt: the runtime assembles the request body.
    Sealing { out: Outbound, forsendelses_id: String, parts: svarut::MtomParts },
    /// SvarUt: the forsendelse is being sent.
    Sending { out: Outbound, forsendelses_id: String },
    /// SvarInn: the listing.
    List,
    /// SvarInn: a forsendelse's zip is downloading; its arkivmelding is made.
    Download { forsendelse: Box<Incoming>, staged: String, arkivmelding: Bytes },
    /// SvarInn: the runtime opens the download into an ASiC.
    Open { forsendelse: Box<Incoming>, sbd: Bytes },
    /// SvarInn: the acknowledgement.
    Ack { forsendelse: String },
    /// SvarUt: the statuses of these watched forsendelser.
    Statuses { watches: Vec<Watch> },
}

impl Step {
    pub(super) fn lookup(&self) -> Option<&IdentifierLookup> {
        match self {
            Step::Lookup { lookup, .. } | Step::SenderLookup { lookup, .. } => Some(lookup),
            _ => None,
        }
    }
}

/// The SvarInn side's state in the node.
#[derive(Debug, Default)]
pub(super) struct Dpf {
    pub next_poll: Option<Timestamp>,
    pub listing: bool,
    /// Forsendelser being taken now, so a listing does not take them twice.
    pub in_flight: HashSet<String>,
    /// Listed, waiting for a free slot.
    pub backlog: VecDeque<Incoming>,
    /// Undeliverable forsendelser mailed about in this run.
    pub mailed: HashSet<String>,
}

impl Dpf {
    pub(super) fn wake_at(&self) -> Option<Timestamp> {
        if self.listing { None } else { self.next_poll }
    }
}

impl Node {
    fn dpf_request(&mut self, req: HttpRequest, step: Step) {
        let id = ReqId(self.next());
        self.outputs.push_back(Output::Http(id, req));
        self.requests.insert(id, Pending::Dpf(Box::new(step)));
    }

    fn dpf_job(&mut self, job: Job, step: Step) {
        let id = JobId(self.next());
        self.outputs.push_back(Output::Job(id, job));
        self.jobs.insert(id, Pending::Dpf(Box::new(step)));
    }

    /// Start sending a DPF message (from `delivery::start`).
    pub(super) fn deliver_dpf(&mut self, out: Outbound) {
        if self.config.dpf.is_none() {
            return self.retry(out, "DPF is not configured".into());
        }
        // SvarUt carries no receipts: as the reference, one is recorded as gone all
        // the way (SENDT, LEVERT, LEST) and not sent.
        if out.sbd().message_type().is_receipt() {
            return self.handed_off_watched(out, None, &[Status::Levert, Status::Lest]);
        }
        let Some(lookup) = receiver_lookup(out.sbd()) else {
            return self.finish(out, Status::Feil, Some("The message has no receiver".into()));
        };
        let step = Step::Lookup { out, lookup: lookup.clone() };
        self.registry_lookup(lookup, Pending::Dpf(Box::new(step)));
    }

    pub(super) fn dpf_looked_up(
        &mut self,
        step: Step,
        answer: Result<IdentifierResource, LookupError>,
    ) {
        match step {
            Step::Lookup { out, lookup } => {
                let info = answer.as_ref().ok().and_then(|r| r.info_record.clone());
                let Some((out, record)) = self.receiver_record(out, &lookup, answer) else {
                    return;
                };
                let Some(certificate) = record.pem_certificate() else {
                    let reason = "The receiver's service record has no certificate".to_owned();
                    return self.finish(out, Status::Feil, Some(reason));
                };
                let sender = out
                    .sbd()
                    .header
                    .sender
                    .as_ref()
                    .map(|p| p.identifier.primary())
                    .or_else(|| self.config.own_org.clone())
                    .unwrap_or_default();
                let send = Box::new(Outgoing {
                    out,
                    receiver: Receiver { certificate, info },
                    sender_info: None,
                });
                let lookup = IdentifierLookup::new(&sender);
                let step = Step::SenderLookup { send, lookup: lookup.clone() };
                self.registry_lookup(lookup, Pending::Dpf(Box::new(step)));
            }
            Step::SenderLookup { mut send, .. } => match answer {
                Ok(resource) => {
                    send.sender_info = resource.info_record;
                    self.load_dpf_arkivmelding(send);
                }
                Err(e) => self.retry(send.out, format!("service registry (sender): {e}")),
            },
            _ => self.stale_answers += 1,
        }
    }

    fn load_dpf_arkivmelding(&mut self, send: Box<Outgoing>) {
        let Some(message_id) = send.out.sbd().message_id() else {
            let reason = "The message has no messageId".to_owned();
            return self.finish(send.out, Status::Feil, Some(reason));
        };
        let query =
            Query::FileContent { message_id, filename: super::send::ARKIVMELDING_FILE.into() };
        let id = self.load(query);
        self.loads.insert(id, Pending::Dpf(Box::new(Step::Arkivmelding { send })));
    }

    pub(super) fn dpf_loaded(&mut self, step: Step, result: Result<Loaded, StoreError>) {
        let Step::Arkivmelding { send } = step else {
            self.stale_answers += 1;
            return;
        };
        let xml = match result {
            Ok(Loaded::FileContent(Some(xml))) => xml,
            Ok(_) => {
                let reason = "DPF requires an arkivmelding.xml attachment".to_owned();
                return self.finish(send.out, Status::Feil, Some(reason));
            }
            Err(e) => return self.retry(send.out, format!("the store failed: {e}")),
        };
        let journal_post = match crate::arkivmelding::journal_post(&xml) {
            Ok(j) => j,
            Err(e) => return self.finish(send.out, Status::Feil, Some(e.to_string())),
        };
        let Some(settings) = self.config.dpf.clone() else {
            return self.retry(send.out, "DPF is not configured".into());
        };
        let (forsendelse, wanted) = {
            let sbd = send.out.sbd();
            let arkivmelding = match &sbd.message {
                BusinessMessage::Arkivmelding(a) => Some(a),
                _ => None,
            };
            let wanted = arkivmelding
                .and_then(|a| a.dpf.as_ref())
                .and_then(|d| d.forsendelse_type.clone())
                .filter(|t| !t.trim().is_empty());
            let scope = |kind| sbd.header.scope(kind).and_then(|s| s.instance_identifier.clone());
            let files = match &send.out {
                Outbound::Message { message, .. } => {
                    message.files.iter().map(|f| (f.filename.clone(), f.mime.clone())).collect()
                }
                Outbound::Reply { .. } => Vec::new(),
            };
            let mapping = Mapping {
                message_id: sbd.message_id().map(|m| m.to_string()).unwrap_or_default(),
                forsendelse_type: wanted.clone(),
                receiver_ref: scope(ScopeType::ReceiverRef),
                security_level: sbd.message.security_level().map(i64::from),
                sender_org: sbd
                    .header
                    .sender
                    .as_ref()
                    .map(|p| p.identifier.primary())
                    .unwrap_or_default(),
                receiver_info: send.receiver.info.as_ref(),
                sender_info: send.sender_info.as_ref(),
                files,
            };
            (svarut::forsendelse(&journal_post, &mapping, &settings.options), wanted)
        };
        let forsendelse = match forsendelse {
            Ok(f) => f,
            Err(e) => return self.finish(send.out, Status::Feil, Some(e.to_string())),
        };
        match wanted {
            Some(wanted) => {
                let req = svarut::types_request(&settings.svarut);
                let step = Step::Types { send, forsendelse: Box::new(forsendelse), wanted };
                self.dpf_request(req, step);
            }
            None => self.seal_svarut(*send, forsendelse),
        }
    }

    fn seal_svarut(&mut self, send: Outgoing, forsendelse: Forsendelse) {
        let Outgoing { out, receiver, .. } = send;
        let sbd = out.sbd();
        let Some(message_id) = sbd.message_id() else {
            return self.finish(out, Status::Feil, Some("The message has no messageId".into()));
        };
        let sender_ref =
            sbd.header.scope(ScopeType::SenderRef).and_then(|s| s.instance_identifier.clone());
        let forsendelses_id =
            svarut::forsendelses_id(&message_id.to_string(), sender_ref.as_deref());
        let boundary = format!("uuid:{}", self.entropy.uuid().hyphenated());
        let parts = svarut::send_parts(&forsendelse, &forsendelses_id, &boundary);
        let documents = match &out {
            Outbound::Message { message, .. } => forsendelse
                .dokumenter
                .iter()
                .filter_map(|d| message.files.iter().find(|f| f.filename == d.filnavn).cloned())
                .collect(),
            Outbound::Reply { .. } => Vec::new(),
        };
        let job = SvarUtSealJob {
            message_id,
            documents,
            receiver_certificate: receiver.certificate,
            parts: parts.clone(),
            name: format!("svarut-{}-{}", message_id, self.next()),
        };
        self.dpf_job(Job::SealSvarUt(job), Step::Sealing { out, forsendelses_id, parts });
    }

    pub(super) fn dpf_job_done(&mut self, step: Step, result: Result<JobResult, JobError>) {
        match step {
            Step::Sealing { out, forsendelses_id, parts } => match result {
                Ok(JobResult::Staged { name, .. }) => {
                    let Some(settings) = self.config.dpf.clone() else {
                        return self.retry(out, "DPF is not configured".into());
                    };
                    let mut req = svarut::send_request(&settings.svarut, &parts);
                    req.body_file = Some(name);
                    self.dpf_request(req, Step::Sending { out, forsendelses_id });
                }
                Ok(other) => {
                    self.retry(out, format!("sealing gave an unexpected result: {other:?}"))
                }
                Err(JobError::Invalid(e)) => self.finish(
                    out,
                    Status::Feil,
                    Some(format!("Could not package the message: {e}")),
                ),
                Err(JobError::Io(e)) => {
                    self.retry(out, format!("could not package the message: {e}"))
                }
            },
            Step::Open { forsendelse, sbd } => match result {
                Ok(JobResult::Staged { name, size }) => {
                    let ack = Ack::Dpf { forsendelse: forsendelse.id.clone() };
                    self.received(
                        &sbd,
                        Some(StagedFile { name, size }),
                        ServiceIdentifier::Dpf,
                        ack,
                    );
                }
                Err(JobError::Invalid(e)) => {
                    self.svarinn_undeliverable(&forsendelse, &format!("cannot be opened: {e}"));
                    self.svarinn_done(&forsendelse.id);
                }
                Ok(_) | Err(JobError::Io(_)) => {
                    let why = match result {
                        Err(e) => e.to_string(),
                        Ok(other) => format!("unexpected result {other:?}"),
                    };
                    self.note_failure(format!("SvarInn forsendelse {}: {why}", forsendelse.id));
                    self.svarinn_done(&forsendelse.id);
                }
            },
            _ => self.stale_answers += 1,
        }
    }

    pub(super) fn dpf_http(&mut self, step: Step, result: Result<HttpResponse, TransportError>) {
        let answer = result.map_err(|e| Failure::from(&e));
        match step {
            Step::Types { send, forsendelse, wanted } => {
                match answer
                    .and_then(|r| svarut::parse_types(r.status, r.header("content-type"), &r.body))
                {
                    Ok(types) if types.contains(&wanted) => self.seal_svarut(*send, *forsendelse),
                    Ok(types) => {
                        let reason = format!(
                            "forsendelseType '{wanted}' is not one of SvarUt's: {}",
                            types.join(", ")
                        );
                        self.finish(send.out, Status::Feil, Some(reason))
                    }
                    Err(f) => self.failed(send.out, f),
                }
            }
            Step::Sending { out, forsendelses_id } => {
                match answer
                    .and_then(|r| svarut::parse_sent(r.status, r.header("content-type"), &r.body))
                {
                    Ok(_) => self.dpf_handed_off(out, forsendelses_id),
                    Err(f) => self.failed(out, f),
                }
            }
            Step::List => self.svarinn_listed(answer),
            Step::Statuses { watches } => self.dpf_statuses(watches, answer),
            Step::Download { forsendelse, staged, arkivmelding } => match answer {
                Ok(r) if (200..300).contains(&r.status) => {
                    self.open_svarinn(forsendelse, staged, arkivmelding)
                }
                Ok(r) => {
                    let f = crate::transport::failure::classify(r.status, &r.body);
                    self.note_failure(format!(
                        "SvarInn download {}: {}",
                        forsendelse.id,
                        f.reason()
                    ));
                    self.svarinn_done(&forsendelse.id);
                }
                Err(f) => {
                    self.note_failure(format!(
                        "SvarInn download {}: {}",
                        forsendelse.id,
                        f.reason()
                    ));
                    self.svarinn_done(&forsendelse.id);
                }
            },
            Step::Ack { forsendelse } => {
                if let Err(f) = answer.and_then(|r| svarinn::parse_acknowledged(r.status, &r.body))
                {
                    // Stored already: the repeat it causes is dropped by messageId.
                    self.note_failure(format!(
                        "SvarInn kvitterMottak {forsendelse}: {}",
                        f.reason()
                    ));
                }
                self.svarinn_done(&forsendelse);
            }
            _ => self.stale_answers += 1,
        }
    }

    /// SvarUt took the forsendelse: SENDT and LEVERT at once (SvarUt guarantees
    /// delivery from here), and watched under its forsendelsesId until LEST.
    fn dpf_handed_off(&mut self, out: Outbound, forsendelses_id: String) {
        self.handed_off_watched(out, Some(forsendelses_id), &[Status::Levert]);
    }

    /// Ask SvarUt how far the due forsendelser have got: one request for them all
    /// (the reference batches per sender; we have one SvarUt account).
    pub(super) fn poll_dpf(&mut self, due: Vec<Watch>) {
        let Some(settings) = self.config.dpf.clone() else {
            for w in due {
                self.watch_answered(w, Vec::new(), true);
            }
            return;
        };
        let (known, unknown): (Vec<Watch>, Vec<Watch>) =
            due.into_iter().partition(|w| w.reference.is_some());
        for w in unknown {
            // As the reference when SvarUt has no id for the message.
            let feil =
                (Status::Feil, Some("forsendelseId finnes ikke i SvarUt.".to_owned()), self.now);
            self.watch_answered(w, vec![feil], false);
        }
        if known.is_empty() {
            return;
        }
        let ids: Vec<String> = known.iter().filter_map(|w| w.reference.clone()).collect();
        let req = svarut::statuses_request(&settings.svarut, &ids);
        self.dpf_request(req, Step::Statuses { watches: known });
    }

    fn dpf_statuses(&mut self, watches: Vec<Watch>, answer: Result<HttpResponse, Failure>) {
        let parsed = answer
            .and_then(|r| svarut::parse_statuses(r.status, r.header("content-type"), &r.body));
        match parsed {
            Ok(results) => {
                for w in watches {
                    let read = results
                        .iter()
                        .any(|r| Some(&r.forsendelses_id) == w.reference.as_ref() && r.is_read());
                    if read {
                        if self.config.dpf.as_ref().is_some_and(|d| d.generate_receipts) {
                            self.offer_read_receipt(&w);
                        }
                        // LEST ends the conversation, and with it the watch.
                        self.watch_answered(w, vec![(Status::Lest, None, self.now)], false);
                    } else {
                        self.watch_answered(w, Vec::new(), true);
                    }
                }
            }
            Err(f) => {
                self.note_failure(format!("SvarUt status poll failed: {}", f.reason()));
                for w in watches {
                    self.watch_answered(w, Vec::new(), true);
                }
            }
        }
    }

    /// The arkivmelding_kvittering (OK) the reference makes for the fagsystem when
    /// SvarUt reports a forsendelse read: from the receiver, in the same
    /// conversation, about the message. Stored as an incoming DPF message; should
    /// that write fail the receipt is not made again, but the LEST it stands for is
    /// recorded regardless.
    fn offer_read_receipt(&mut self, w: &Watch) {
        let party = |p: &str| {
            let org = p.rsplit(':').next().unwrap_or(p).trim();
            json!([{ "identifier": {
                "authority": "iso6523-actorid-upis", "value": format!("0192:{org}") } }])
        };
        let ttl = self.config.default_ttl;
        let receipt_id = self.entropy.uuid().hyphenated().to_string();
        let conversation = w.conversation_id.map(|c| c.to_string()).unwrap_or_default();
        let sbd = json!({
            "standardBusinessDocumentHeader": {
                "headerVersion": "1.0",
                "sender": party(&w.receiver),
                "receiver": party(&w.sender),
                "documentIdentification": {
                    "standard": "urn:no:difi:arkivmelding:xsd::arkivmelding_kvittering",
                    "typeVersion": "2.0",
                    "instanceIdentifier": receipt_id,
                    "type": "arkivmelding_kvittering",
                    "creationDateAndTime": DateTime::oslo(self.now).to_rfc3339(),
                },
                "businessScope": { "scope": [ {
                    "type": "ConversationId",
                    "instanceIdentifier": conversation,
                    "identifier": ARKIVMELDING_RECEIPT_PROCESS,
                    "scopeInformation": [ {
                        "expectedResponseDateTime": DateTime::oslo(self.now + ttl).to_rfc3339() } ],
                } ] },
            },
            "arkivmelding_kvittering": {
                "receiptType": "OK",
                "relatedToMessageId": w.message_id.to_string(),
                "messages": [],
            },
        });
        let sbd = match Sbd::from_json_received(sbd.to_string().as_bytes()) {
            Ok(s) => s,
            Err(e) => return self.note_failure(format!("DPF read receipt not made: {e}")),
        };
        let message = IncomingMessage {
            expiry: expiry(None, self.now, ttl),
            sbd,
            service: ServiceIdentifier::Dpf,
            received: self.now,
            asic: None,
        };
        let wid = self.persist(Write::CreateIncoming { message: Box::new(message), reply: None });
        self.writes.insert(wid, Pending::PushWritten);
    }

    /// Start a SvarInn poll when one is due.
    pub(super) fn poll_svarinn(&mut self) {
        let Some(settings) = self.config.dpf.clone() else { return };
        let Some(endpoint) = settings.svarinn else { return };
        if !self.config.enabled_services.contains(&ServiceIdentifier::Dpf)
            || self.dpf.listing
            || self.dpf.next_poll.is_some_and(|t| t > self.now)
        {
            return;
        }
        self.dpf.listing = true;
        self.dpf.next_poll = None;
        self.dpf_request(svarinn::list(&endpoint), Step::List);
    }

    fn svarinn_listed(&mut self, answer: Result<HttpResponse, Failure>) {
        self.dpf.listing = false;
        let interval = self.config.dpf.as_ref().map(|d| d.poll_interval).unwrap_or_default();
        self.dpf.next_poll = Some(self.now + interval);
        match answer.and_then(|r| svarinn::parse_list(r.status, &r.body)) {
            Ok(items) => {
                for item in items {
                    match item {
                        Ok(f) => {
                            if !self.dpf.in_flight.contains(&f.id)
                                && !self.dpf.backlog.iter().any(|b| b.id == f.id)
                            {
                                self.dpf.backlog.push_back(f);
                            }
                        }
                        Err(m) => self.svarinn_malformed(&m),
                    }
                }
                self.take_svarinn_backlog();
            }
            Err(f) => self.note_failure(format!("SvarInn poll failed: {}", f.reason())),
        }
    }

    fn take_svarinn_backlog(&mut self) {
        let Some(endpoint) = self.config.dpf.as_ref().and_then(|d| d.svarinn.clone()) else {
            return;
        };
        while self.dpf.in_flight.len() < self.config.pacing.parallel {
            let Some(forsendelse) = self.dpf.backlog.pop_front() else { break };
            if !self.dpf.in_flight.insert(forsendelse.id.clone()) {
                continue;
            }
            // The arkivmelding first: a forsendelse it cannot be made for is not
            // worth downloading.
            let now = self.now;
            let entropy = &mut self.entropy;
            let xml = svarinn::arkivmelding_xml(
                &forsendelse,
                || entropy.uuid().hyphenated().to_string(),
                now,
            );
            let arkivmelding = match xml {
                Ok(x) => Bytes::from(x),
                Err(e) => {
                    self.svarinn_undeliverable(&forsendelse, &e.to_string());
                    self.dpf.in_flight.remove(&forsendelse.id);
                    continue;
                }
            };
            let staged = format!("svarinn-{}-{}", self.next(), safe_name(&forsendelse.id));
            let mut req = svarinn::download(&endpoint, &forsendelse.download_url);
            req.save_to = Some(staged.clone());
            let forsendelse = Box::new(forsendelse);
            self.dpf_request(req, Step::Download { forsendelse, staged, arkivmelding });
        }
    }

    /// The zip is downloaded: have the runtime open it.
    fn open_svarinn(&mut self, forsendelse: Box<Incoming>, staged: String, arkivmelding: Bytes) {
        let fallback = self
            .config
            .dpf
            .as_ref()
            .map(|d| d.fallback_sender.clone())
            .unwrap_or_else(|| svarinn::FALLBACK_SENDER.to_owned());
        let now = self.now;
        let sbd = svarinn::sbd_json(&forsendelse, &fallback, now, self.config.default_ttl);
        let party =
            |org: Option<&str>| org.map(|o| format!("0192:{}", o.trim())).unwrap_or_default();
        let manifest = EformidlingManifest {
            receiver: party(forsendelse.mottaker.orgnr.as_deref()),
            sender: party(
                forsendelse
                    .svar_sendes_til
                    .as_ref()
                    .and_then(|s| s.orgnr.as_deref())
                    .filter(|o| !o.trim().is_empty())
                    .or(Some(fallback.as_str())),
            ),
            primary: Some(PrimaryDocument {
                href: super::send::ARKIVMELDING_FILE.to_owned(),
                mime: "application/xml".to_owned(),
            }),
        };
        let job = SvarInnJob {
            staged,
            manifest,
            arkivmelding,
            mime_types: forsendelse
                .filmetadata
                .iter()
                .filter_map(|f| Some((f.filnavn.clone(), f.mimetype.clone()?)))
                .collect(),
            asic_to: format!("in-{}", self.next()),
        };
        let sbd = Bytes::from(sbd.to_string());
        self.dpf_job(Job::OpenSvarInn(job), Step::Open { forsendelse, sbd });
    }

    /// The forsendelse is stored: acknowledge it (from `receive::acknowledge`).
    pub(super) fn acknowledge_svarinn(&mut self, forsendelse: String) {
        let Some(endpoint) = self.config.dpf.as_ref().and_then(|d| d.svarinn.clone()) else {
            return self.svarinn_done(&forsendelse);
        };
        let req = svarinn::acknowledge(&endpoint, &forsendelse);
        self.dpf_request(req, Step::Ack { forsendelse });
    }

    /// This forsendelse is settled for now: free its slot.
    pub(super) fn svarinn_done(&mut self, forsendelse: &str) {
        self.dpf.in_flight.remove(forsendelse);
        self.take_svarinn_backlog();
    }

    fn svarinn_malformed(&mut self, m: &svarinn::Malformed) {
        let id = m.id.as_deref().unwrap_or("(no id)");
        self.note_failure(format!(
            "SvarInn forsendelse {id} cannot be received: {}; left unacknowledged",
            m.reason
        ));
    }

    /// A forsendelse that cannot be handed to the fagsystem. It is reported and left
    /// unacknowledged: SvarInn keeps it (it is listed again at the next poll, and
    /// reported again), nothing is lost, and no conversation is made for a message
    /// we could not read. With `fiks.inn.mailOnError` a mail tells of it, once per
    /// run of the node: its files are not attached, as we hold none of them (it
    /// could not be opened, or was not downloaded), and they stay at SvarInn.
    pub(super) fn svarinn_undeliverable(&mut self, forsendelse: &Incoming, reason: &str) {
        self.note_failure(format!(
            "SvarInn forsendelse {} cannot be received: {reason}; left unacknowledged",
            forsendelse.id
        ));
        if self.dpf.mailed.contains(&forsendelse.id) {
            return;
        }
        let sender = forsendelse.svar_sendes_til.as_ref().map(|s| {
            let name = s.navn.clone().unwrap_or_default();
            match s.orgnr.as_deref().filter(|o| !o.trim().is_empty()) {
                Some(org) => format!("{name} ({org})").trim().to_owned(),
                None => name,
            }
        });
        let undeliverable = crate::mail::UndeliverableForsendelse {
            id: forsendelse.id.clone(),
            title: forsendelse.tittel.clone(),
            sender,
            security_level: forsendelse.niva.as_ref().and_then(|n| n.text().trim().parse().ok()),
            files: Vec::new(),
            reason: reason.to_owned(),
            kept_at: Some("SvarInn (not acknowledged)".to_owned()),
        };
        if self.mail_undeliverable(&undeliverable) {
            self.dpf.mailed.insert(forsendelse.id.clone());
        }
    }
}

/// An id as part of a file name: only what is safe there.
fn safe_name(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::super::{Config, DpfSettings, Input};
    use super::*;
    use crate::Duration;
    use crate::node::HttpResponse;
    use crate::transport::svarinn::SvarInnEndpoint;
    use crate::transport::svarut::{SvarUtEndpoint, SvarUtOptions};

    const NOW: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);

    fn node() -> Node {
        let mut c = Config::new("910077473");
        c.enabled_services = vec![ServiceIdentifier::Dpf];
        c.dpf = Some(DpfSettings {
            svarut: SvarUtEndpoint {
                url: "http://fiks.test/svarut".into(),
                username: "u".into(),
                password: "p".into(),
            },
            options: SvarUtOptions::default(),
            svarinn: Some(SvarInnEndpoint {
                base_url: "http://fiks.test/svarinn".into(),
                username: "910077473".into(),
                password: "p".into(),
            }),
            poll_interval: Duration::from_mins(15),
            fallback_sender: svarinn::FALLBACK_SENDER.into(),
            generate_receipts: true,
        });
        Node::new(c, [7; 32], NOW)
    }

    fn drain(node: &mut Node) -> Vec<Output> {
        let mut out = Vec::new();
        loop {
            match node.poll_output() {
                Output::Idle { .. } => return out,
                o => out.push(o),
            }
        }
    }

    fn http(outputs: &[Output], part: &str) -> Option<(ReqId, HttpRequest)> {
        outputs.iter().find_map(|o| match o {
            Output::Http(id, r) if r.url.contains(part) => Some((*id, r.clone())),
            _ => None,
        })
    }

    fn ok(body: &str) -> Result<HttpResponse, TransportError> {
        Ok(HttpResponse { status: 200, headers: Vec::new(), body: Bytes::from(body.to_owned()) })
    }

    const LISTING: &str = r#"[
      {"id": "81264cfa-1ba5-4fb5-a95d-48c824ed3bbb", "tittel": "T",
       "mottaker": {"orgnr": "910077473"}, "svarSendesTil": {"orgnr": "910229028"},
       "filmetadata": [{"filnavn": "a.txt", "mimetype": "text/plain"}],
       "downloadUrl": "/mottaker/forsendelse/81264cfa-1ba5-4fb5-a95d-48c824ed3bbb"},
      {"id": "broken", "mottaker": "nobody"}
    ]"#;

    /// Up to the store write of the one good forsendelse; the outputs then.
    fn received(node: &mut Node) -> Vec<Output> {
        node.handle_input(Input::Tick, NOW);
        let out = drain(node);
        let (list, req) = http(&out, "hentNyeForsendelser").expect("a listing");
        assert!(req.header_value("Authorization").is_some_and(|a| a.starts_with("Basic ")));
        node.handle_input(Input::Http(list, ok(LISTING)), NOW);
        let out = drain(node);
        // The malformed one is reported, not downloaded.
        assert!(out.iter().any(|o| matches!(o, Output::Notice(n) if n.contains("broken"))));
        let downloads: Vec<_> = out
            .iter()
            .filter(|o| matches!(o, Output::Http(_, r) if r.url.contains("/forsendelse/")))
            .collect();
        assert_eq!(downloads.len(), 1, "{out:#?}");
        let (dl, req) = http(&out, "/mottaker/forsendelse/").expect("a download");
        assert_eq!(
            req.url,
            "http://fiks.test/svarinn/mottaker/forsendelse/81264cfa-1ba5-4fb5-a95d-48c824ed3bbb"
        );
        assert!(req.save_to.is_some());
        node.handle_input(Input::Http(dl, ok("")), NOW);
        let out = drain(node);
        let (job, open) = out
            .iter()
            .find_map(|o| match o {
                Output::Job(id, Job::OpenSvarInn(j)) => Some((*id, j.clone())),
                _ => None,
            })
            .expect("the download is opened");
        assert_eq!(open.mime_types, [("a.txt".to_owned(), "text/plain".to_owned())]);
        assert!(
            String::from_utf8_lossy(&open.arkivmelding).contains("<referanseDokumentfil>a.txt")
        );
        let staged = JobResult::Staged { name: open.asic_to.clone(), size: 10 };
        node.handle_input(Input::JobDone(job, Ok(staged)), NOW);
        let out = drain(node);
        assert!(http(&out, "kvitterMottak").is_none(), "not acknowledged before it is stored");
        out
    }

    #[test]
    fn a_forsendelse_is_acknowledged_only_once_stored() {
        let mut node = node();
        let out = received(&mut node);
        let (wid, message) = out
            .iter()
            .find_map(|o| match o {
                Output::Persist(id, Write::CreateIncoming { message, .. }) => Some((*id, message)),
                _ => None,
            })
            .expect("stored as an incoming message");
        assert_eq!(message.service, ServiceIdentifier::Dpf);
        assert_eq!(
            message.sbd.header.sender.as_ref().map(|p| p.value.as_str()),
            Some("0192:910229028")
        );
        node.handle_input(Input::Persisted(wid, Ok(())), NOW);
        let out = drain(&mut node);
        let (_, ack) = http(&out, "kvitterMottak").expect("acknowledged once stored");
        assert_eq!(
            ack.url,
            "http://fiks.test/svarinn/kvitterMottak/forsendelse/81264cfa-1ba5-4fb5-a95d-48c824ed3bbb"
        );
    }

    #[test]
    fn a_forsendelse_not_stored_is_not_acknowledged() {
        let mut node = node();
        let out = received(&mut node);
        let wid = out
            .iter()
            .find_map(|o| match o {
                Output::Persist(id, Write::CreateIncoming { .. }) => Some(*id),
                _ => None,
            })
            .expect("a store write");
        node.handle_input(Input::Persisted(wid, Err(StoreError::Unavailable("disk".into()))), NOW);
        let out = drain(&mut node);
        assert!(http(&out, "kvitterMottak").is_none(), "{out:#?}");
        assert!(node.dpf.in_flight.is_empty(), "its slot is free for the next poll");
    }

    #[test]
    fn a_forsendelse_no_arkivmelding_can_be_made_for_is_not_downloaded() {
        let mut node = node();
        node.handle_input(Input::Tick, NOW);
        let out = drain(&mut node);
        let (list, _) = http(&out, "hentNyeForsendelser").expect("a listing");
        let listing = r#"[{"id": "f-1", "mottaker": {"orgnr": "910077473"},
            "metadataFraAvleverendeSystem": {"ekstraMetadata": [{"key": "<bad", "value": "x"}]},
            "downloadUrl": "/mottaker/forsendelse/f-1"}]"#;
        node.handle_input(Input::Http(list, ok(listing)), NOW);
        let out = drain(&mut node);
        assert!(http(&out, "/forsendelse/").is_none(), "{out:#?}");
        assert!(out.iter().any(|o| matches!(o, Output::Notice(n) if n.contains("f-1"))));
        assert!(node.dpf.in_flight.is_empty());
        // Listed again at the next poll, not before.
        assert_eq!(node.dpf.wake_at(), Some(NOW + Duration::from_mins(15)));
    }

    #[test]
    fn an_undeliverable_forsendelse_is_mailed_once_with_mail_on_error() {
        let mut node = node();
        let mut mail =
            crate::mail::MailSettings::new("smtp.test", "efm@example.no", "arkiv@example.no");
        mail.svarinn_on_error = true;
        node.config.mail = Some(mail);
        let listing = r#"[{"id": "f-2", "tittel": "Søknad", "niva": "3", "mottaker": {"orgnr": "910077473"},
            "svarSendesTil": {"navn": "Kommunen", "orgnr": "910229028"},
            "metadataFraAvleverendeSystem": {"ekstraMetadata": [{"key": "<bad", "value": "x"}]},
            "downloadUrl": "/mottaker/forsendelse/f-2"}]"#;
        let mut mails = 0;
        for round in 0..2 {
            let at = NOW + Duration::from_mins(16 * round);
            node.handle_input(Input::Tick, at);
            let out = drain(&mut node);
            let (list, _) = http(&out, "hentNyeForsendelser").expect("a listing");
            node.handle_input(Input::Http(list, ok(listing)), at);
            let out = drain(&mut node);
            for o in &out {
                if let Output::Mail(m) = o {
                    assert!(m.subject.contains("f-2"), "{m:?}");
                    assert_eq!(m.to, "arkiv@example.no");
                    mails += 1;
                }
            }
            assert!(http(&out, "kvitterMottak").is_none());
        }
        assert_eq!(mails, 1, "mailed once, though listed twice");
    }
}
