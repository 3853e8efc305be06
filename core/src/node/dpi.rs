//! DPI: digital post (and print) to citizens over the corner 2 REST API.
//!
//! Sending: the receiver's service record names the mailbox provider (its
//! certificate, organisation number and the citizen's mailbox address); the
//! runtime packs the dokumentpakke and the signed forretningsmelding into one
//! multipart body; one `POST /messages/out` hands it off (SENDT).
//!
//! Receipts: every `receipt_interval` (10 s, as the reference) the channel's
//! receipts are listed; each is acknowledged (`read`) and only then recorded on the
//! outgoing conversation it names, as the reference's DpiReceiptHandler does, with a
//! MOTTATT just before a LEVERT that came without one.

use super::delivery::Outbound;
use super::http::{HttpResponse, TransportError};
use super::jobs::{DpiSeal, Job, JobError, JobResult, SealForm, SealJob};
use super::store::{Loaded, Query, StatusRecord, StoreError, Watch, Write};
use super::{JobId, Node, Output, Pending, ReqId};
use crate::api::{ConversationFilter, Pageable};
use crate::crypto::key_unwrap::KeyTransport;
use crate::package::eformidling_manifest::EformidlingManifest;
use crate::registry::model::{ServiceIdentifier, ServiceRecord};
use crate::sbd::BusinessMessage;
use crate::status::{Direction, Status};
use crate::transport::Failure;
use crate::transport::dpi::{self, Receipt, ShipmentInput};
use crate::{Duration, Timestamp};

/// Where one DPI exchange is.
#[derive(Debug)]
pub(super) enum Step {
    /// The runtime is packing the multipart body.
    Sealing { out: Outbound, boundary: String },
    /// `POST /messages/out`.
    Sending { out: Outbound },
    /// The receipt listing.
    ReceiptList,
    /// A receipt being acknowledged.
    ReceiptRead { receipt: Receipt },
    /// The conversation a receipt names is being looked up.
    ReceiptConversation { receipt: Receipt },
    /// A receipt's status being recorded.
    ReceiptRecorded,
    /// A handed-off message's statuses at corner 2.
    Statuses { watch: Box<Watch> },
    /// KRR's print provider, for a print message.
    PrintDetails { out: Outbound, record: Option<Box<ServiceRecord>> },
}

/// How long KRR's print provider is reused.
const PRINT_DETAILS_TTL: Duration = Duration::from_hours(1);

/// The receipt poll's state.
#[derive(Debug, Default)]
pub(super) struct DpiReceipts {
    /// Receipts (and the listing) not yet settled; the poll is over at zero.
    outstanding: usize,
    running: bool,
    next: Option<Timestamp>,
    /// KRR's print provider (organisation number, certificate), and when asked.
    print: Option<(String, String, Timestamp)>,
}

impl DpiReceipts {
    pub(super) fn wake_at(&self) -> Option<Timestamp> {
        if self.running { None } else { self.next }
    }
}

impl Node {
    fn dpi_enabled(&self) -> bool {
        self.config.enabled_services.contains(&ServiceIdentifier::Dpi) && self.config.dpi.is_some()
    }

    /// A DPI message to deliver: print without a receiver goes to the configured
    /// print provider at once; everything else after the receiver's lookup.
    pub(super) fn deliver_dpi(&mut self, out: Outbound) {
        let Outbound::Message { message, .. } = &out else { return };
        if message.sbd.header.receiver.is_some() {
            return self.lookup_receiver(out);
        }
        self.dpi_record(out, None);
    }

    /// The receiver's record is in (`None`: print without a receiver).
    pub(super) fn dpi_record(&mut self, out: Outbound, record: Option<ServiceRecord>) {
        let Some(settings) = self.config.dpi.clone() else {
            return self.retry(out, "DPI is not configured".into());
        };
        let Outbound::Message { message, .. } = &out else { return };
        let print = matches!(message.sbd.message, BusinessMessage::Print(_));
        let krr = self.dpi.print.as_ref().filter(|(_, _, at)| self.now < *at + PRINT_DETAILS_TTL);
        let provider = match (print, &settings.print, krr, &settings.krr_print_url, &record) {
            (true, Some(p), _, _, _) => Some((p.orgnr.clone(), p.certificate.clone())),
            (true, None, Some((org, cert, _)), _, _) => Some((org.clone(), cert.clone())),
            (true, None, None, Some(url), _) => {
                let req = dpi::print_details(url);
                return self
                    .dpi_request(req, Step::PrintDetails { out, record: record.map(Box::new) });
            }
            (_, _, _, _, Some(r)) => r.orgnr_postkasse.clone().zip(r.pem_certificate.clone()),
            _ => None,
        };
        let Some((provider, certificate)) = provider else {
            let reason = "No mailbox or print provider (organisation number and certificate) \
                          for the receiver";
            return self.finish(out, Status::Feil, Some(reason.into()));
        };
        let files: Vec<(String, String, Option<String>, bool)> = message
            .files
            .iter()
            .map(|f| (f.filename.clone(), f.mime.clone(), f.title.clone(), f.primary))
            .collect();
        let input = ShipmentInput {
            sbd: &message.sbd,
            files: &files,
            provider: &provider,
            postkasseadresse: record.as_ref().and_then(|r| r.postkasse_adresse.as_deref()),
            email: record.as_ref().and_then(|r| r.epost_adresse.as_deref()),
            mobile: record.as_ref().and_then(|r| r.mobilnummer.as_deref()),
            default_language: &settings.language,
            now: self.now,
        };
        let shipment = match dpi::shipment(&input) {
            Ok(s) => s,
            Err(e) => return self.finish(out, Status::Feil, Some(e.0)),
        };
        let Some(message_id) = message.message_id() else { return };
        let ordered = shipment
            .files
            .iter()
            .filter_map(|n| message.files.iter().find(|f| &f.filename == n).cloned())
            .collect();
        let boundary = format!("efm-{}", self.entropy.uuid().simple());
        let job = SealJob {
            message_id,
            files: ordered,
            receiver_certificate: certificate,
            key_transport: KeyTransport::RsaOaepSha256,
            manifest: EformidlingManifest {
                receiver: String::new(),
                sender: String::new(),
                primary: None,
            },
            form: SealForm::Dpi(Box::new(DpiSeal {
                sbd: shipment.sbd,
                manifest: shipment.manifest.into_bytes().into(),
                credential: super::http::Credential::Maskinporten {
                    scopes: vec![dpi::SCOPE.to_owned()],
                },
                boundary: boundary.clone(),
                name: format!("dpi-{}-{}", message_id, self.next()),
            })),
        };
        let id = JobId(self.next());
        self.outputs.push_back(Output::Job(id, Job::Seal(job)));
        self.jobs.insert(id, Pending::Dpi(Box::new(Step::Sealing { out, boundary })));
    }

    pub(super) fn dpi_job_done(&mut self, step: Step, result: Result<JobResult, JobError>) {
        let Step::Sealing { out, boundary } = step else {
            self.stale_answers += 1;
            return;
        };
        let Some(settings) = self.config.dpi.clone() else {
            return self.retry(out, "DPI is not configured".into());
        };
        match result {
            Ok(JobResult::Staged { name, .. }) => {
                let kanal = settings.mpc_id.as_deref().map(dpi::channel);
                let req = dpi::send(&settings.base_url, kanal.as_deref(), &boundary, name);
                self.dpi_request(req, Step::Sending { out });
            }
            Ok(other) => self.retry(out, format!("sealing gave an unexpected result: {other:?}")),
            Err(JobError::Invalid(e)) => {
                self.finish(out, Status::Feil, Some(format!("Could not package the message: {e}")))
            }
            Err(JobError::Io(e)) => self.retry(out, format!("could not package the message: {e}")),
        }
    }

    fn dpi_request(&mut self, req: super::HttpRequest, step: Step) {
        let id = ReqId(self.next());
        self.outputs.push_back(Output::Http(id, req));
        self.requests.insert(id, Pending::Dpi(Box::new(step)));
    }

    pub(super) fn dpi_http(&mut self, step: Step, result: Result<HttpResponse, TransportError>) {
        let answer = result.map_err(|e| Failure::from(&e));
        match step {
            Step::Sending { out } => {
                match answer.and_then(|r| dpi::parse_sent(r.status, &r.body)) {
                    Ok(()) => self.handed_off_watched(out, None, &[]),
                    Err(f) => self.failed(out, f),
                }
            }
            Step::ReceiptList => {
                match answer.and_then(|r| dpi::parse_messages_in(r.status, &r.body)) {
                    Ok(list) => {
                        for jwt in list {
                            match dpi::unwrap_receipt(&jwt) {
                                Ok(receipt) => self.read_receipt(receipt),
                                // Left unacknowledged, as the reference leaves it.
                                Err(e) => self.note_failure(format!("DPI receipt skipped: {e}")),
                            }
                        }
                    }
                    Err(f) => self.note_failure(format!("DPI receipts: {}", f.reason())),
                }
                self.receipt_settled();
            }
            Step::ReceiptRead { receipt } => {
                match answer.and_then(|r| dpi::parse_read(r.status, &r.body)) {
                    Ok(()) => {
                        let filter = ConversationFilter {
                            conversation_id: Some(receipt.conversation_id.clone()),
                            direction: Some(Direction::Outgoing),
                            ..ConversationFilter::default()
                        };
                        let id =
                            self.load(Query::Conversations { filter, page: Pageable::default() });
                        self.loads.insert(
                            id,
                            Pending::Dpi(Box::new(Step::ReceiptConversation { receipt })),
                        );
                    }
                    Err(f) => {
                        self.note_failure(format!("DPI receipt not acknowledged: {}", f.reason()));
                        self.receipt_settled();
                    }
                }
            }
            Step::PrintDetails { out, record } => {
                match answer.and_then(|r| dpi::parse_print_details(r.status, &r.body)) {
                    Ok((org, cert)) => {
                        self.dpi.print = Some((org, cert, self.now));
                        self.dpi_record(out, record.map(|r| *r));
                    }
                    Err(f) => self.retry(out, format!("KRR's print details: {}", f.reason())),
                }
            }
            Step::Statuses { watch } => {
                match answer.and_then(|r| dpi::parse_statuses(r.status, &r.body)) {
                    Ok(list) => {
                        // Polling ends once corner 3 has it (MOTTATT) or it was
                        // delivered, as the reference's DpiStatusStrategy stops.
                        let keep = !list
                            .iter()
                            .any(|(s, _, _)| matches!(s, Status::Mottatt | Status::Levert));
                        let now = self.now;
                        let statuses = list
                            .into_iter()
                            .map(|(s, d, at)| (s, Some(d), at.unwrap_or(now)))
                            .collect();
                        self.watch_answered(*watch, statuses, keep);
                    }
                    Err(f) => {
                        self.note_failure(format!(
                            "DPI statuses of {}: {}",
                            watch.message_id,
                            f.reason()
                        ));
                        self.watch_answered(*watch, Vec::new(), true);
                    }
                }
            }
            _ => self.stale_answers += 1,
        }
    }

    /// Ask corner 2 for the statuses of handed-off messages.
    pub(super) fn poll_dpi(&mut self, due: Vec<Watch>) {
        let Some(settings) = self.config.dpi.clone() else {
            for watch in due {
                self.watch_answered(watch, Vec::new(), true);
            }
            return;
        };
        for watch in due {
            let req = dpi::statuses(&settings.base_url, &watch.message_id.to_string());
            self.dpi_request(req, Step::Statuses { watch: Box::new(watch) });
        }
    }

    /// Acknowledge a receipt before recording it, as the reference does.
    fn read_receipt(&mut self, receipt: Receipt) {
        let Some(settings) = self.config.dpi.clone() else { return };
        self.dpi.outstanding += 1;
        let req = dpi::mark_read(&settings.base_url, &receipt.message_id);
        self.dpi_request(req, Step::ReceiptRead { receipt });
    }

    pub(super) fn dpi_loaded(&mut self, step: Step, result: Result<Loaded, StoreError>) {
        let Step::ReceiptConversation { receipt } = step else {
            self.stale_answers += 1;
            return;
        };
        let row = match result {
            Ok(Loaded::Conversations { rows, .. }) => rows.into_iter().find(|r| {
                r.conversation_id.as_deref() == Some(receipt.conversation_id.as_str())
                    && r.direction == Direction::Outgoing
            }),
            Ok(_) => None,
            Err(e) => {
                self.note_failure(format!("DPI receipt not recorded: {e}"));
                return self.receipt_settled();
            }
        };
        let Some(row) = row else {
            self.note_failure(format!(
                "DPI receipt for unknown conversationId {}",
                receipt.conversation_id
            ));
            return self.receipt_settled();
        };
        let Ok(message_id) = row.message_id.parse() else {
            return self.receipt_settled();
        };
        let (status, description) = dpi::receipt_status(&receipt.kind);
        let at = receipt.at.unwrap_or(self.now);
        let queued = self.config.status_queue_includes.contains(&ServiceIdentifier::Dpi);
        let mut writes = Vec::new();
        let has = |s: Status| row.statuses.iter().any(|r| r.status == s);
        if status == Status::Levert && !has(Status::Mottatt) {
            writes.push(StatusRecord {
                message_id,
                status: Status::Mottatt,
                description: None,
                at: at + Duration::from_secs(-1),
                queued,
            });
        }
        writes.push(StatusRecord {
            message_id,
            status,
            description: Some(description.to_owned()),
            at,
            queued,
        });
        for w in writes {
            self.dpi.outstanding += 1;
            let wid = self.persist(Write::ApplyReceivedStatus(w));
            self.writes.insert(wid, Pending::Dpi(Box::new(Step::ReceiptRecorded)));
        }
        self.receipt_settled();
    }

    pub(super) fn dpi_persisted(&mut self, step: Step, result: Result<(), StoreError>) {
        if !matches!(step, Step::ReceiptRecorded) {
            self.stale_answers += 1;
            return;
        }
        match result {
            Ok(()) => self.deliver_pushes(),
            Err(e) => self.note_failure(format!("DPI receipt status not recorded: {e}")),
        }
        self.receipt_settled();
    }

    /// One part of the receipt poll is over; when all are, the next is scheduled.
    fn receipt_settled(&mut self) {
        self.dpi.outstanding = self.dpi.outstanding.saturating_sub(1);
        if self.dpi.outstanding == 0 {
            self.dpi.running = false;
            let interval =
                self.config.dpi.as_ref().map_or(Duration::from_secs(10), |s| s.receipt_interval);
            self.dpi.next = Some(self.now + interval);
        }
    }

    /// Start the receipt poll when due.
    pub(super) fn poll_dpi_receipts(&mut self) {
        if !self.dpi_enabled() || self.dpi.running || self.dpi.next.is_some_and(|t| t > self.now) {
            return;
        }
        let Some(settings) = self.config.dpi.clone() else { return };
        self.dpi.running = true;
        self.dpi.outstanding = 1;
        let kanal = settings.mpc_id.as_deref().map(dpi::channel);
        let req = dpi::messages_in(&settings.base_url, kanal.as_deref(), dpi::PAGE_SIZE);
        self.dpi_request(req, Step::ReceiptList);
    }
}
