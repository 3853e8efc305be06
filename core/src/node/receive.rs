//! Receiving: DPO's broker and DPE's queue are polled; each message is stored
//! durably, and only then acknowledged to its message service, so a crash between
//! the two brings it again, and the store's refusal of a known messageId drops the
//! repeat. Status SBDs from receivers move our outgoing conversations forward.

use bytes::Bytes;

use super::delivery::min_time;
use super::http::{HttpRequest, HttpResponse, TransportError};
use super::jobs::{Job, JobError, JobResult, UnpackJob};
use super::store::{IncomingMessage, StagedFile, StatusRecord, StatusReply, StoreError, Write};
use super::{JobId, Node, Output, Pending, ReqId};
use crate::Timestamp;
use crate::registry::model::ServiceIdentifier;
use crate::sbd::{BusinessMessage, Sbd};
use crate::status::{Status, expiry};
use crate::transport::altinn_broker;
use crate::transport::failure::Failure;
use crate::transport::service_bus;

/// How a received message is acknowledged to its message service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Ack {
    /// DPO: confirm the download of this file transfer.
    Dpo { transfer: String },
    /// DPE: complete the peek-locked message.
    Dpe { message_id: String, lock_token: String },
    /// DPF: acknowledge this SvarInn forsendelse (`kvitterMottak`).
    Dpf { forsendelse: String },
}

#[derive(Debug)]
pub(super) enum Step {
    DpoList,
    DpoDetails {
        transfer: String,
    },
    DpoDownload {
        transfer: String,
        staged: String,
    },
    DpoUnpack {
        transfer: String,
    },
    DpePeek,
    DpeStage {
        sbd: Bytes,
        ack: Ack,
    },
    /// The received message (or its effect) is being stored.
    Storing {
        ack: Ack,
        /// A FEIL the received status SBD carries, to mail once recorded.
        feil: Option<super::mails::FeilMail>,
    },
    Acking {
        ack: Ack,
    },
}

/// The receiving side's state in the node.
#[derive(Debug, Default)]
pub(super) struct Receive {
    pub dpo_next: Option<Timestamp>,
    /// Listings under way (a poll makes two: new transfers, and downloads started
    /// but never confirmed).
    pub dpo_listing: u8,
    /// Transfers being fetched now, so a poll does not take them twice.
    pub dpo_in_flight: std::collections::HashSet<String>,
    /// Transfers listed but not yet taken (no free slot).
    pub dpo_backlog: std::collections::VecDeque<String>,
    /// A transfer of this poll was stored. A listing holds one page (at most 100 in
    /// Altinn's Broker), so more may be waiting: the next poll comes as soon as this
    /// one's transfers are done, not after the interval. Only a newly stored
    /// message counts, so transfers that fail or are not ours cannot make the polls
    /// run back to back.
    pub dpo_progress: bool,
    pub dpe_next: Option<Timestamp>,
    /// DPE lanes under way in this round: each peeks a message, stores it,
    /// completes it and peeks the next, until the queue is empty. Up to
    /// `pacing.parallel` run at once, as DPO receives that many transfers; one lane
    /// alone waits out every round trip of every message in turn.
    pub dpe_lanes: usize,
    /// Messages read in this DPE round, by all its lanes.
    pub dpe_round: u32,
    /// A lane of this round stopped at the round's limit (`read_max`) rather than
    /// at an empty queue: the next round starts at once, not after the interval.
    pub dpe_more: bool,
}

impl Receive {
    pub(super) fn wake_at(&self) -> Option<Timestamp> {
        let dpo = if self.dpo_listing > 0 { None } else { self.dpo_next };
        let dpe = if self.dpe_lanes > 0 { None } else { self.dpe_next };
        min_time(dpo, dpe)
    }
}

impl Node {
    fn receiving(&self, service: ServiceIdentifier) -> bool {
        self.config.enabled_services.contains(&service)
            && match service {
                ServiceIdentifier::Dpo => self.config.dpo.is_some(),
                ServiceIdentifier::Dpe => self.config.dpe.is_some(),
                _ => false,
            }
    }

    /// Start the polls that are due.
    pub(super) fn poll_services(&mut self) {
        if self.receiving(ServiceIdentifier::Dpo)
            && self.receive.dpo_listing == 0
            && self.receive.dpo_next.is_none_or(|t| t <= self.now)
        {
            self.list_dpo();
        }
        if self.receiving(ServiceIdentifier::Dpe)
            && self.receive.dpe_lanes == 0
            && self.receive.dpe_next.is_none_or(|t| t <= self.now)
        {
            self.receive.dpe_round = 0;
            self.receive.dpe_more = false;
            let lanes = self.config.pacing.parallel.max(1);
            self.receive.dpe_lanes = lanes;
            for _ in 0..lanes {
                self.peek_dpe();
            }
        }
    }

    fn list_dpo(&mut self) {
        let Some(settings) = self.config.dpo.clone() else { return };
        self.receive.dpo_listing = 2;
        let req = altinn_broker::list_published(&settings.broker);
        self.receive_request(req, Step::DpoList);
        let req = altinn_broker::list_download_started(&settings.broker);
        self.receive_request(req, Step::DpoList);
    }

    fn receive_request(&mut self, req: HttpRequest, step: Step) {
        let id = ReqId(self.next());
        self.outputs.push_back(Output::Http(id, req));
        self.requests.insert(id, Pending::Receive(Box::new(step)));
    }

    /// Take listed transfers while slots are free.
    fn take_dpo_backlog(&mut self) {
        let Some(settings) = self.config.dpo.clone() else { return };
        while self.receive.dpo_in_flight.len() < self.config.pacing.parallel {
            let Some(transfer) = self.receive.dpo_backlog.pop_front() else { break };
            if !self.receive.dpo_in_flight.insert(transfer.clone()) {
                continue;
            }
            let req = altinn_broker::details(&settings.broker, &transfer);
            self.receive_request(req, Step::DpoDetails { transfer });
        }
    }

    pub(super) fn receive_http(
        &mut self,
        step: Step,
        result: Result<HttpResponse, TransportError>,
    ) {
        let answer = result.map_err(|e| Failure::from(&e));
        let Some(dpo) = self.config.dpo.clone() else {
            // Only DPO steps need its settings; DPE's are below.
            return self.receive_http_dpe(step, answer);
        };
        match step {
            Step::DpoList => {
                self.receive.dpo_listing = self.receive.dpo_listing.saturating_sub(1);
                match answer.and_then(|r| altinn_broker::parse_list(r.status, &r.body)) {
                    Ok(ids) => {
                        // The broker lists newest first; take the oldest first, so
                        // one message's statuses (MOTTATT, then LEVERT) mostly
                        // apply in the order they were sent: a MOTTATT after the
                        // LEVERT is no longer news and is not recorded.
                        for id in ids.into_iter().rev() {
                            if !self.receive.dpo_in_flight.contains(&id)
                                && !self.receive.dpo_backlog.contains(&id)
                            {
                                self.receive.dpo_backlog.push_back(id);
                            }
                        }
                        self.take_dpo_backlog();
                    }
                    Err(f) => self.note_failure(format!("DPO poll failed: {}", f.reason())),
                }
                if self.receive.dpo_listing == 0 {
                    self.receive.dpo_next = Some(self.now + dpo.poll_interval);
                    self.dpo_poll_again();
                }
            }
            Step::DpoDetails { transfer } => {
                match answer.and_then(|r| altinn_broker::parse_details(r.status, &r.body)) {
                    Ok(details)
                        if altinn_broker::wanted(&details, dpo.message_channel.as_deref())
                            && details.published() =>
                    {
                        let staged = format!("dl-{}-{}", self.next(), safe_name(&transfer));
                        let mut req = altinn_broker::download(&dpo.broker, &transfer);
                        req.save_to = Some(staged.clone());
                        self.receive_request(req, Step::DpoDownload { transfer, staged });
                    }
                    // Another consumer's channel: not ours to take or confirm.
                    // Or no longer published: confirmed meanwhile (a listing
                    // answered just before our own confirm), nothing to take again.
                    Ok(_) => self.dpo_done(&transfer),
                    Err(f) => {
                        self.note_failure(format!("DPO transfer {transfer}: {}", f.reason()));
                        self.dpo_done(&transfer);
                    }
                }
            }
            Step::DpoDownload { transfer, staged } => match answer {
                Ok(r) if (200..300).contains(&r.status) => {
                    let job = UnpackJob { staged, asic_to: format!("in-{}", self.next()) };
                    let id = JobId(self.next());
                    self.outputs.push_back(Output::Job(id, Job::Unpack(job)));
                    self.jobs.insert(id, Pending::Receive(Box::new(Step::DpoUnpack { transfer })));
                }
                Ok(r) => {
                    let f = crate::transport::failure::classify(r.status, &r.body);
                    self.note_failure(format!("DPO download {transfer}: {}", f.reason()));
                    self.dpo_done(&transfer);
                }
                Err(f) => {
                    self.note_failure(format!("DPO download {transfer}: {}", f.reason()));
                    self.dpo_done(&transfer);
                }
            },
            Step::Acking { ack: Ack::Dpo { transfer } } => {
                if let Err(f) =
                    answer.and_then(|r| altinn_broker::parse_confirmed(r.status, &r.body))
                {
                    // Stored already; the repeat it causes is dropped by messageId.
                    self.note_failure(format!("DPO confirm {transfer}: {}", f.reason()));
                }
                self.dpo_done(&transfer);
            }
            other => self.receive_http_dpe(other, answer),
        }
    }

    fn dpo_done(&mut self, transfer: &str) {
        self.receive.dpo_in_flight.remove(transfer);
        self.take_dpo_backlog();
        self.dpo_poll_again();
    }

    /// Once this poll's transfers are all done, poll again at once if it brought
    /// anything new (see [`Receive::dpo_progress`]): now, not at the next tick.
    fn dpo_poll_again(&mut self) {
        let r = &mut self.receive;
        if r.dpo_progress
            && r.dpo_listing == 0
            && r.dpo_in_flight.is_empty()
            && r.dpo_backlog.is_empty()
        {
            r.dpo_progress = false;
            self.list_dpo();
        }
    }

    /// The next peek of a lane (see [`Receive::dpe_lanes`]).
    fn peek_dpe(&mut self) {
        let Some(settings) = self.config.dpe.clone() else {
            return self.dpe_lane_over();
        };
        let Some(org) = self.config.own_org.clone() else {
            return self.dpe_lane_over();
        };
        // Without a key yet: polled again once it arrives.
        let Some(endpoint) = self.service_bus() else {
            return self.dpe_lane_over();
        };
        let queue = service_bus::queue_name(&org, settings.mode);
        let req = service_bus::peek_lock(&endpoint, &queue, self.now);
        self.receive_request(req, Step::DpePeek);
    }

    /// A DPE lane ends (an empty queue, a failure, or the round's limit). When the
    /// last one ends, so does the round: the next comes at the poll interval, or
    /// at once if the limit, not an empty queue, ended a lane.
    fn dpe_lane_over(&mut self) {
        self.receive.dpe_lanes = self.receive.dpe_lanes.saturating_sub(1);
        if self.receive.dpe_lanes > 0 {
            return;
        }
        let interval = self.config.dpe.as_ref().map(|d| d.poll_interval).unwrap_or_default();
        let next = if self.receive.dpe_more { self.now } else { self.now + interval };
        self.receive.dpe_next = Some(next);
    }

    /// One DPE message is settled: the lane reads the next, while the round lasts.
    fn dpe_next_message(&mut self) {
        self.receive.dpe_round += 1;
        let max = self.config.dpe.as_ref().map_or(1, |d| d.read_max);
        if self.receive.dpe_round >= max {
            // A full round: come back at once (at the next tick) for the rest.
            self.receive.dpe_more = true;
            self.dpe_lane_over();
        } else {
            self.peek_dpe();
        }
    }

    fn receive_http_dpe(&mut self, step: Step, answer: Result<HttpResponse, Failure>) {
        match step {
            Step::DpePeek => {
                let peeked = answer.and_then(|r| {
                    self.sas_refused(r.status);
                    service_bus::parse_peeked(r.status, &r.headers, &r.body)
                });
                match peeked {
                    Ok(Some(p)) => {
                        let ack = Ack::Dpe { message_id: p.message_id, lock_token: p.lock_token };
                        match service_bus::decode_payload(&p.body) {
                            Ok(payload) => {
                                let sbd = Bytes::from(payload.sbd.to_string());
                                match payload.cms {
                                    Some(cms) => {
                                        let name = format!("in-{}", self.next());
                                        let id = JobId(self.next());
                                        self.outputs.push_back(Output::Job(
                                            id,
                                            Job::Stage { name, content: Bytes::from(cms) },
                                        ));
                                        self.jobs.insert(
                                            id,
                                            Pending::Receive(Box::new(Step::DpeStage { sbd, ack })),
                                        );
                                    }
                                    None => self.received(&sbd, None, ServiceIdentifier::Dpe, ack),
                                }
                            }
                            Err(e) => {
                                // Unreadable: acknowledged and dropped, or it would
                                // block the queue forever.
                                self.note_failure(format!("DPE message dropped: {e}"));
                                self.acknowledge(ack);
                            }
                        }
                    }
                    Ok(None) => self.dpe_lane_over(),
                    Err(f) => {
                        self.note_failure(format!("DPE poll failed: {}", f.reason()));
                        self.dpe_lane_over();
                    }
                }
            }
            Step::Acking { ack: Ack::Dpe { message_id, .. } } => {
                if let Err(f) = answer.and_then(|r| service_bus::parse_completed(r.status, &r.body))
                {
                    self.note_failure(format!("DPE complete {message_id}: {}", f.reason()));
                }
                self.dpe_next_message();
            }
            _ => self.stale_answers += 1,
        }
    }

    pub(super) fn receive_job_done(&mut self, step: Step, result: Result<JobResult, JobError>) {
        match (step, result) {
            (Step::DpoUnpack { transfer }, Ok(JobResult::Unpacked { sbd, asic })) => {
                let asic = asic.map(|(name, size)| StagedFile { name, size });
                self.received(&sbd, asic, ServiceIdentifier::Dpo, Ack::Dpo { transfer });
            }
            // A parcel that cannot be opened will not open next time either.
            (Step::DpoUnpack { transfer }, Err(JobError::Invalid(e))) => {
                self.note_failure(format!("DPO transfer {transfer} discarded: {e}"));
                self.acknowledge(Ack::Dpo { transfer });
            }
            (Step::DpoUnpack { transfer }, _) => {
                self.note_failure(format!("DPO transfer {transfer}: could not unpack"));
                self.dpo_done(&transfer);
            }
            (Step::DpeStage { sbd, ack }, Ok(JobResult::Staged { name, size })) => {
                self.received(&sbd, Some(StagedFile { name, size }), ServiceIdentifier::Dpe, ack);
            }
            // Not staged: leave it locked; the lock runs out and it comes again.
            (Step::DpeStage { .. }, _) => {
                self.note_failure("DPE message could not be staged".into());
                self.dpe_lane_over();
            }
            _ => self.stale_answers += 1,
        }
    }

    /// A message arrived: decide what it is and store it (or its effect).
    pub(super) fn received(
        &mut self,
        sbd: &[u8],
        asic: Option<StagedFile>,
        service: ServiceIdentifier,
        ack: Ack,
    ) {
        let sbd = match Sbd::from_json_received(sbd) {
            Ok(s) if s.message_id().is_some() => s,
            Ok(_) | Err(_) => {
                self.note_failure(format!(
                    "{} message dropped: not a readable SBD",
                    service.as_str()
                ));
                return self.acknowledge(ack);
            }
        };
        let message_id =
            sbd.message_id().unwrap_or(crate::ids::MessageId::from_uuid(uuid::Uuid::nil()));
        let mut feil = None;
        let write = match &sbd.message {
            BusinessMessage::Status(s) => match s.status {
                Some(status) => {
                    let record = StatusRecord {
                        message_id,
                        status,
                        description: None,
                        at: self.now,
                        queued: self.config.status_queue_includes.contains(&service),
                    };
                    feil = self.received_feil(&record);
                    Write::ApplyReceivedStatus(record)
                }
                None => return self.acknowledge(ack),
            },
            _ if sbd.header.expected_response().is_some_and(|d| d.timestamp() <= self.now) => {
                Write::RecordIncomingExpired { sbd: Box::new(sbd), service, at: self.now }
            }
            _ => {
                if let BusinessMessage::ArkivmeldingKvittering(k) = &sbd.message {
                    self.apply_kvittering(k);
                }
                let ttl = sbd.header.expected_response().map(|d| d.timestamp());
                let reply = self.config.status_services.contains(&service).then(|| StatusReply {
                    sbd: crate::sbd::status_reply::status_reply(
                        &sbd,
                        Status::Mottatt,
                        message_id,
                        self.now,
                    ),
                    service,
                });
                Write::CreateIncoming {
                    message: Box::new(IncomingMessage {
                        expiry: expiry(ttl, self.now, self.config.default_ttl),
                        sbd,
                        service,
                        received: self.now,
                        asic,
                    }),
                    reply,
                }
            }
        };
        let wid = self.persist(write);
        self.writes.insert(wid, Pending::Receive(Box::new(Step::Storing { ack, feil })));
    }

    /// An arkivmelding receipt settles the message it answers: LEST, or FEIL for
    /// ERROR and NOTSUPPORTED.
    fn apply_kvittering(&mut self, k: &crate::sbd::ArkivmeldingKvittering) {
        let Some(related) = k.related_to_message_id.as_deref().and_then(|r| r.parse().ok()) else {
            return;
        };
        let kind = k.receipt_type.clone().unwrap_or_default();
        let status = match kind.as_str() {
            "ERROR" | "NOTSUPPORTED" => Status::Feil,
            _ => Status::Lest,
        };
        let record = StatusRecord {
            message_id: related,
            status,
            description: Some(format!("ArkivmeldingKvittering: {kind}")),
            at: self.now,
            queued: false,
        };
        let feil = self.received_feil(&record);
        let wid = self.persist(Write::ApplyReceivedStatus(record));
        self.writes.insert(wid, Pending::ReceivedStatus(feil));
    }

    pub(super) fn receive_persisted(&mut self, step: Step, result: Result<(), StoreError>) {
        let Step::Storing { ack, feil } = step else {
            self.stale_answers += 1;
            return;
        };
        match result {
            // Stored now, or before (a repeat): either way ours, so acknowledge.
            Ok(()) | Err(StoreError::Conflict) => {
                if let Some(feil) = feil {
                    self.mail_if_recorded(feil);
                }
                if result.is_ok() && matches!(ack, Ack::Dpo { .. }) {
                    self.receive.dpo_progress = true;
                }
                self.deliver_pushes();
                self.kick_delivery();
                self.acknowledge(ack);
            }
            // Not stored: not acknowledged, so it comes again.
            Err(e) => {
                self.note_failure(format!("received message not stored: {e}"));
                match ack {
                    Ack::Dpo { transfer } => self.dpo_done(&transfer),
                    Ack::Dpe { .. } => self.dpe_lane_over(),
                    Ack::Dpf { forsendelse } => self.svarinn_done(&forsendelse),
                }
            }
        }
    }

    fn acknowledge(&mut self, ack: Ack) {
        match &ack {
            Ack::Dpf { forsendelse } => self.acknowledge_svarinn(forsendelse.clone()),
            Ack::Dpo { transfer } => {
                let Some(dpo) = self.config.dpo.clone() else { return };
                let req = altinn_broker::confirm_download(&dpo.broker, transfer);
                self.receive_request(req, Step::Acking { ack });
            }
            Ack::Dpe { message_id, lock_token } => {
                let Some(dpe) = self.config.dpe.clone() else { return };
                let Some(org) = self.config.own_org.clone() else { return };
                // Without a key the lock runs out and the message comes again; the
                // store drops the repeat.
                let Some(endpoint) = self.service_bus() else {
                    return self.dpe_lane_over();
                };
                let queue = service_bus::queue_name(&org, dpe.mode);
                let req =
                    service_bus::complete(&endpoint, &queue, message_id, lock_token, self.now);
                self.receive_request(req, Step::Acking { ack });
            }
        }
    }
}

/// A transfer id as part of a file name: only what is safe there.
fn safe_name(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(64).collect()
}
