//! The integration point as a state machine.
//!
//! The contract, after str0m: feed one input with [`Node::handle_input`], then call
//! [`Node::poll_output`] until it returns [`Output::Idle`]; only then feed the next
//! input. Every effect (store reads and writes, HTTP requests, API answers) is an
//! output carrying an id that the runtime echoes in the matching input. An API call
//! that changes state is answered only after its write is reported durable.

mod api;
mod delivery;
mod dpf;
mod dpi;
mod dpv;
mod http;
mod incoming;
mod io;
mod jobs;
mod mails;
mod multipart;
mod pushes;
mod reads;
mod receive;
mod records;
mod sas;
mod send;
mod services;
mod store;
mod subscriptions;
mod upload;
mod watch;

pub use api::{
    ApiCall, ApiResponse, BODY_LIMIT, BodyPlan, ConversationKey, Dispatch, MULTIPART_BODY_LIMIT,
    StagedUpload, Upload, UploadAllowance, UploadHead, body_plan, body_too_large, dispatch,
};
pub use http::{BodyPart, Credential, HttpRequest, HttpResponse, Method, TransportError};
pub use io::{Body, CallId, Input, JobId, LoadId, Output, ReqId, StatusEvent, WriteId};
pub use jobs::{
    DpiSeal, Job, JobError, JobResult, SealForm, SealJob, SvarInnJob, SvarUtSealJob, UnpackJob,
};
pub use records::{ConversationRow, StatusRow, direction_name};
pub use sas::SAS_SCOPE;
pub use send::{ARKIVMELDING_FILE, EXPIRED_DESCRIPTION};
pub use services::{
    DpeSettings, DpfSettings, DpiSettings, DpoSettings, DpvSettings, Pacing, PrintProvider,
};
pub use store::{
    IncomingMessage, Loaded, OutgoingMessage, Push, Query, StagedFile, StatusRecord, StatusReply,
    StoreError, StoredConversationKey, StoredFile, StoredIncoming, Watch, Write,
};
pub use watch::WatchSettings;

use std::collections::{HashMap, VecDeque};

use crate::api::{ApiError, Exception};
use crate::entropy::Entropy;
use crate::ids::MessageId;
use crate::jose::jwks_cache::{JWKS_PATH, JwksCache, PendingVerification};
use crate::registry;
use crate::registry::answer::{
    Body as RegistryBody, LookupError, classify, parse_identifier_resource,
};
use crate::registry::cache::LookupCache;
use crate::registry::capabilities::capabilities;
use crate::registry::model::{IdentifierResource, ServiceIdentifier};
use crate::registry::request::{
    ClientOptions, IdentifierLookup, Lookup, request as registry_request,
};
use crate::routing::{self, SelectError};
use crate::sbd::Sbd;
use crate::sbd::validate::{CreateContext, prepare_for_create};
use crate::status::{DEFAULT_TTL, Direction, Lifecycle, Status, expiry};
use crate::{Duration, Timestamp};

/// The reference's service registry in production.
pub const DEFAULT_REGISTRY_URL: &str = "https://meldingsutveksling.difi.no/serviceregistry";

/// What the node is told at start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our organisation number, nine digits. Without one, messages must name their
    /// sender.
    pub own_org: Option<String>,
    pub default_ttl: Duration,
    /// The service registry's base URL, without a trailing slash.
    pub registry_url: String,
    pub registry: ClientOptions,
    /// How long a registry answer is reused.
    pub registry_cache_ttl: Duration,
    /// The message services this integration point may send with; as in the
    /// reference, none unless switched on.
    pub enabled_services: Vec<ServiceIdentifier>,
    /// The largest total size of a message's files, per service.
    pub upload_limits: Vec<(ServiceIdentifier, u64)>,
    /// When our own certificate expires, for the health check.
    pub own_certificate_expiry: Option<Timestamp>,
    /// The services whose statuses join the status queue (`statusQueueIncludes`,
    /// none by default, as in the reference).
    pub status_queue_includes: Vec<ServiceIdentifier>,
    /// How long a peek leases an incoming message (`lockTimeoutMinutes`, 5).
    pub lock_timeout: Duration,
    /// The services whose senders get MOTTATT and LEVERT back (`status-services`,
    /// DPO and DPE).
    pub status_services: Vec<ServiceIdentifier>,
    /// How often expired incoming messages are looked for at the latest
    /// (`ttlPollingrate`, 30 s).
    pub ttl_check_interval: Duration,
    /// DPO over the Altinn 3 Broker, when configured.
    pub dpo: Option<DpoSettings>,
    /// DPE over Azure Service Bus, when configured.
    pub dpe: Option<DpeSettings>,
    /// DPI over the corner 2 API, when configured.
    pub dpi: Option<DpiSettings>,
    /// DPV over Altinn 3 Correspondence, when configured.
    pub dpv: Option<DpvSettings>,
    /// DPF over KS FIKS SvarUt and SvarInn, when configured.
    pub dpf: Option<DpfSettings>,
    pub pacing: Pacing,
    /// Where mail goes, and which paths send it (none unless configured).
    pub mail: Option<crate::mail::MailSettings>,
    /// How often the receipts of handed-off DPV, DPF and DPI messages are polled for.
    pub watch: WatchSettings,
}

const MB: u64 = 1024 * 1024;

/// The reference's `*.upload-size-limit` defaults (Spring sizes: 1GB = 2^30 bytes).
pub const DEFAULT_UPLOAD_LIMITS: [(ServiceIdentifier, u64); 6] = [
    (ServiceIdentifier::Dpo, 1024 * MB),
    (ServiceIdentifier::Dpv, 250 * MB),
    (ServiceIdentifier::Dpi, 50 * MB),
    (ServiceIdentifier::Dpf, 1024 * MB),
    (ServiceIdentifier::Dpe, 2 * MB),
    (ServiceIdentifier::Dph, 18 * MB),
];

impl Config {
    pub fn new(own_org: impl Into<String>) -> Self {
        Config {
            own_org: Some(own_org.into()),
            default_ttl: DEFAULT_TTL,
            registry_url: DEFAULT_REGISTRY_URL.to_owned(),
            registry: ClientOptions::default(),
            registry_cache_ttl: Duration::from_mins(5),
            enabled_services: Vec::new(),
            upload_limits: DEFAULT_UPLOAD_LIMITS.to_vec(),
            own_certificate_expiry: None,
            status_queue_includes: Vec::new(),
            lock_timeout: Duration::from_mins(5),
            status_services: vec![ServiceIdentifier::Dpo, ServiceIdentifier::Dpe],
            ttl_check_interval: Duration::from_secs(30),
            dpo: None,
            dpe: None,
            dpi: None,
            dpv: None,
            dpf: None,
            pacing: Pacing::default(),
            mail: None,
            watch: WatchSettings::default(),
        }
    }
}

/// Registry answers kept at most; the oldest goes first.
const REGISTRY_CACHE_CAPACITY: usize = 10_000;

/// Work waiting for a store or HTTP answer.
#[derive(Debug)]
enum Pending {
    /// Create: looked up the messageId; `attempts` counts conflict retries.
    CreateLookup {
        call: CallId,
        message: OutgoingMessage,
        attempts: u8,
    },
    /// Create: asked the registry which service the receiver takes the message by.
    CreateRoute {
        call: CallId,
        message: OutgoingMessage,
        lookup: IdentifierLookup,
        attempts: u8,
    },
    CreateWrite {
        call: CallId,
        message: OutgoingMessage,
        attempts: u8,
    },
    Get {
        call: CallId,
        message_id: MessageId,
    },
    /// An upload: the message is being loaded to check the file against it.
    UploadLookup {
        call: CallId,
        message_id: MessageId,
        file: upload::NewFile,
    },
    /// An upload's allowance: the message is being loaded.
    UploadAllowance {
        call: CallId,
        message_id: MessageId,
    },
    /// A staged arkivmelding.xml is being read for the conversation's fields.
    UploadArkivmelding {
        call: CallId,
        message_id: MessageId,
        file: upload::NewFile,
        stored: StoredFile,
    },
    /// `GET /api/capabilities/{id}`: waiting for the registry.
    Capabilities {
        call: CallId,
        lookup: IdentifierLookup,
    },
    /// A look at the push outbox.
    Pushes,
    /// A push posted to its subscriber.
    Push {
        id: i64,
        attempts: u32,
    },
    /// A push's outcome recorded.
    PushWritten,
    /// A subscription call, at `step`.
    Subscription {
        call: CallId,
        step: subscriptions::Step,
    },
    /// A subscription stored; `next` says how to answer, `reload` reads it back.
    SubscriptionSaved {
        call: CallId,
        next: subscriptions::Step,
        reload: Query,
    },
    /// A read-only call: the answer is the loaded rows, rendered.
    Read {
        call: CallId,
        answer: reads::Answer,
    },
    Delete {
        call: CallId,
    },
    UploadWrite {
        call: CallId,
        filename: String,
    },
    SendLookup {
        call: CallId,
        message_id: MessageId,
    },
    /// Send: the message is not queued; was it handed off already?
    SendHandedOff {
        call: CallId,
        message_id: MessageId,
    },
    /// Send: waiting for the message's arkivmelding.xml.
    SendArkivmelding {
        call: CallId,
        message: Box<OutgoingMessage>,
    },
    /// A write whose success is answered with `answer` (which may be an error the
    /// write was recorded for, as an expired TTL is).
    Answered {
        call: CallId,
        answer: ApiResponse,
    },
    /// An incoming-message call, or the expiry sweep.
    Incoming(incoming::Step),
    /// A step of sending (see `delivery`).
    Delivery(Box<delivery::Step>),
    /// A step of receiving (see `receive`).
    Receive(Box<receive::Step>),
    /// A step of DPF sending, receiving or status polling (see `dpf`).
    Dpf(Box<dpf::Step>),
    /// A step of DPI sending or receipt polling (see `dpi`).
    Dpi(Box<dpi::Step>),
    /// A step of polling for receipts (see `watch`).
    Watch(Box<watch::Step>),
    /// A step of polling a DPV correspondence (see `dpv`).
    Dpv(Box<dpv::Polling>),
    /// The expiry sweep of outgoing conversations.
    Swept,
    /// The Service Bus key, from the service registry.
    SasKey,
    /// A FEIL was recorded: its conversation is read for the mail.
    FeilMail(mails::FeilMail),
    /// A status the receiving side sent back was written; a FEIL among them is
    /// mailed if this write recorded it.
    ReceivedStatus(Option<mails::FeilMail>),
    /// The registry's key set, for a signed answer to `lookup`; `then` waits for it.
    Jwks {
        pending: PendingVerification,
        lookup: IdentifierLookup,
        then: Box<Pending>,
    },
}

pub struct Node {
    config: Config,
    entropy: Entropy,
    outputs: VecDeque<Output>,
    loads: HashMap<LoadId, Pending>,
    writes: HashMap<WriteId, Pending>,
    requests: HashMap<ReqId, Pending>,
    /// A look at the push outbox is under way.
    pushes_loading: bool,
    /// Pushes posted and not yet answered.
    pushes_in_flight: std::collections::HashSet<i64>,
    /// When the next push retry is due.
    push_next: Option<Timestamp>,
    /// Multi-step calls waiting for the answer to their current step.
    composites: HashMap<CallId, multipart::Composite>,
    registry_cache: LookupCache<IdentifierResource>,
    /// The expiry sweep of incoming messages.
    incoming: incoming::Sweep,
    /// Payload jobs handed to the runtime.
    jobs: HashMap<JobId, Pending>,
    delivery: delivery::Delivery,
    receive: receive::Receive,
    dpf: dpf::Dpf,
    dpi: dpi::DpiReceipts,
    watching: watch::Watching,
    sas: sas::SasKey,
    /// The registry's signing keys.
    jwks: JwksCache,
    next_id: u64,
    now: Timestamp,
    stale_answers: u64,
}

impl Node {
    /// `seed` comes from the runtime's OS randomness (a fixed value in tests).
    pub fn new(config: Config, seed: [u8; 32], now: Timestamp) -> Self {
        let registry_cache = LookupCache::new(config.registry_cache_ttl, REGISTRY_CACHE_CAPACITY);
        Node {
            config,
            entropy: Entropy::from_seed(seed),
            outputs: VecDeque::new(),
            loads: HashMap::new(),
            writes: HashMap::new(),
            requests: HashMap::new(),
            composites: HashMap::new(),
            pushes_loading: false,
            pushes_in_flight: std::collections::HashSet::new(),
            push_next: None,
            registry_cache,
            incoming: incoming::Sweep::default(),
            jobs: HashMap::new(),
            delivery: delivery::Delivery::default(),
            receive: receive::Receive::default(),
            dpf: dpf::Dpf::default(),
            dpi: dpi::DpiReceipts::default(),
            watching: watch::Watching::default(),
            sas: sas::SasKey::default(),
            jwks: JwksCache::new(),
            next_id: 0,
            now,
            stale_answers: 0,
        }
    }

    pub fn handle_input(&mut self, input: Input, now: Timestamp) {
        // Time never runs backwards inside the node, whatever the host clock does.
        self.now = self.now.max(now);
        match input {
            Input::Api(call, ApiCall::CreateMessage { body }) => self.create(call, &body),
            Input::Api(call, ApiCall::GetOutgoing { message_id }) => {
                let id = self.load(Query::OutgoingMessage(message_id));
                self.loads.insert(id, Pending::Get { call, message_id });
            }
            Input::Api(call, ApiCall::UploadFile { message, upload }) => {
                self.upload(call, message, upload::NewFile::held(upload))
            }
            Input::Api(call, ApiCall::UploadStaged { message, upload }) => {
                self.upload(call, message, upload::NewFile::staged(upload))
            }
            Input::Api(call, ApiCall::UploadAllowance { message }) => {
                self.upload_allowance(call, message)
            }
            Input::Api(call, ApiCall::SendMessage { message }) => self.send(call, message),
            Input::Api(call, ApiCall::Capabilities { receiver, security_level, process }) => {
                self.capabilities(call, &receiver, security_level, process.as_deref())
            }
            Input::Api(call, ApiCall::CreateMultipart { sbd, files }) => {
                self.multipart(call, sbd, files)
            }
            Input::Api(
                call,
                api @ (ApiCall::FindSubscriptions { .. }
                | ApiCall::GetSubscription { .. }
                | ApiCall::CreateSubscription { .. }
                | ApiCall::UpdateSubscription { .. }
                | ApiCall::DeleteSubscription { .. }),
            ) => self.subscription_call(call, api),
            Input::Api(
                call,
                api @ (ApiCall::FindIncoming { .. }
                | ApiCall::PeekIncoming { .. }
                | ApiCall::PopIncoming { .. }
                | ApiCall::DeleteIncoming { .. }),
            ) => self.incoming_call(call, api),
            Input::Api(call, other) => self.read_call(call, other),
            Input::Loaded(id, result) => match self.loads.remove(&id) {
                Some(Pending::Pushes) => self.on_pushes(result),
                Some(Pending::Incoming(step)) => self.incoming_loaded(step, result),
                Some(Pending::Delivery(step)) => self.delivery_loaded(*step, result),
                Some(Pending::Dpf(step)) => self.dpf_loaded(*step, result),
                Some(Pending::Dpi(step)) => self.dpi_loaded(*step, result),
                Some(Pending::Watch(step)) => self.watches_loaded(*step, result),
                Some(Pending::Dpv(p)) => self.dpv_conversation_loaded(*p, result),
                Some(Pending::SendArkivmelding { call, message }) => {
                    self.on_send_arkivmelding(call, message, result)
                }
                Some(Pending::Read { call, answer }) => self.on_read(call, answer, result),
                Some(Pending::FeilMail(feil)) => self.feil_mail_loaded(feil, result),
                Some(Pending::Subscription { call, step }) => {
                    self.subscription_loaded(call, step, result)
                }
                Some(Pending::SendLookup { call, message_id }) => {
                    self.on_send_lookup(call, message_id, result)
                }
                Some(Pending::SendHandedOff { call, message_id }) => {
                    self.on_send_handed_off(call, message_id, result)
                }
                Some(Pending::UploadLookup { call, message_id, file }) => {
                    self.on_upload_lookup(call, message_id, file, result)
                }
                Some(Pending::UploadAllowance { call, message_id }) => {
                    self.on_upload_allowance(call, message_id, result)
                }
                Some(Pending::UploadArkivmelding { call, message_id, file, stored }) => {
                    self.on_staged_arkivmelding(call, message_id, file, stored, result)
                }
                Some(p) => self.on_loaded(p, result),
                None => self.stale_answers += 1,
            },
            Input::Persisted(id, result) => match self.writes.remove(&id) {
                // A failed outcome write leaves the push due again: delivered at least once.
                Some(Pending::PushWritten) => {}
                Some(Pending::ReceivedStatus(feil)) => {
                    if let (Ok(()), Some(feil)) = (result, feil) {
                        self.mail_if_recorded(feil)
                    }
                }
                Some(Pending::Incoming(step)) => self.incoming_persisted(step, result),
                Some(Pending::Delivery(step)) => self.delivery_persisted(*step, result),
                Some(Pending::Dpi(step)) => self.dpi_persisted(*step, result),
                Some(Pending::Receive(step)) => self.receive_persisted(*step, result),
                Some(Pending::Watch(step)) => self.watch_persisted(*step, result),
                Some(Pending::Dpv(p)) => self.dpv_receipt_written(*p, result),
                Some(Pending::Swept) => {
                    if result.is_ok() {
                        self.deliver_pushes();
                    }
                }
                Some(Pending::Subscription { call, .. }) => self.subscription_written(call, result),
                Some(Pending::SubscriptionSaved { call, next, reload }) => {
                    self.subscription_saved(call, next, reload, result)
                }
                Some(Pending::Answered { call, answer }) => match result {
                    Ok(()) => {
                        self.respond(call, answer);
                        // The write may have recorded a status with pushes to send,
                        // or queued a message to deliver.
                        self.deliver_pushes();
                        self.kick_delivery();
                    }
                    Err(e) => self.store_failed(call, &e),
                },
                Some(Pending::Delete { call }) => match result {
                    Ok(()) => self.respond(call, ApiResponse::Empty),
                    Err(e) => self.store_failed(call, &e),
                },
                Some(Pending::UploadWrite { call, filename }) => {
                    self.on_upload_written(call, &filename, result)
                }
                Some(p) => self.on_persisted(p, result),
                None => self.stale_answers += 1,
            },
            Input::Http(id, result) => match self.requests.remove(&id) {
                Some(Pending::Subscription { call, step }) => {
                    self.subscription_pinged(call, step, result)
                }
                Some(Pending::Push { id, attempts }) => self.on_pushed(id, attempts, result),
                Some(Pending::Delivery(step)) if step.lookup().is_none() => {
                    self.delivery_http(*step, result)
                }
                Some(Pending::Receive(step)) => self.receive_http(*step, result),
                Some(Pending::Dpi(step)) => self.dpi_http(*step, result),
                Some(Pending::Dpv(p)) => self.dpv_polled(*p, result),
                Some(Pending::Dpf(step)) if step.lookup().is_none() => self.dpf_http(*step, result),
                Some(Pending::SasKey) => self.on_sas_key(result),
                Some(Pending::Jwks { pending, lookup, then }) => {
                    self.on_jwks(pending, lookup, *then, result)
                }
                Some(p) => self.on_http(p, result),
                None => self.stale_answers += 1,
            },
            Input::JobDone(id, result) => match self.jobs.remove(&id) {
                Some(Pending::Delivery(step)) => self.delivery_job_done(*step, result),
                Some(Pending::Receive(step)) => self.receive_job_done(*step, result),
                Some(Pending::Dpf(step)) => self.dpf_job_done(*step, result),
                Some(Pending::Dpi(step)) => self.dpi_job_done(*step, result),
                _ => self.stale_answers += 1,
            },
            // Ticks come at `wake_at` (and at start, to resume after a restart).
            Input::Tick => self.tick(),
        }
    }

    fn tick(&mut self) {
        self.deliver_pushes();
        self.sweep_incoming();
        if self.delivery.next.is_none_or(|t| t <= self.now) {
            self.kick_delivery();
        }
        self.poll_services();
        self.poll_svarinn();
        self.poll_dpi_receipts();
        self.kick_watches();
    }

    /// Something went wrong that no caller waits for: told to the operator.
    fn note_failure(&mut self, text: String) {
        self.outputs.push_back(Output::Notice(text));
    }

    /// Answers to requests this node never made or already settled (a runtime bug,
    /// or an answer that outlived a restart): counted and dropped, never a panic.
    pub fn stale_answers(&self) -> u64 {
        self.stale_answers
    }

    pub fn poll_output(&mut self) -> Output {
        // Only what a tick can act on: a look at the push outbox under way sets
        // `push_next` again when it is answered.
        let pushes = if self.pushes_loading { None } else { self.push_next };
        let wake_at = [
            pushes,
            self.incoming.wake_at(),
            self.delivery.wake_at(self.config.pacing.parallel),
            self.receive.wake_at(),
            self.dpf.wake_at(),
            self.dpi.wake_at(),
            self.watching.wake_at(),
        ]
        .into_iter()
        .flatten()
        .min();
        self.outputs.pop_front().unwrap_or(Output::Idle { wake_at })
    }

    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn load(&mut self, q: Query) -> LoadId {
        let id = LoadId(self.next());
        self.outputs.push_back(Output::Load(id, q));
        id
    }

    fn persist(&mut self, w: Write) -> WriteId {
        let id = WriteId(self.next());
        self.outputs.push_back(Output::Persist(id, w));
        id
    }

    fn respond(&mut self, call: CallId, r: ApiResponse) {
        match self.composites.remove(&call) {
            Some(c) => self.composite_step(c, r),
            None => self.outputs.push_back(Output::Respond(call, r)),
        }
    }

    fn create(&mut self, call: CallId, body: &[u8]) {
        let parsed = Sbd::from_json(body).map_err(ApiError::from).and_then(|sbd| {
            let request = sbd.to_json_value().to_string();
            let ctx = CreateContext {
                now: self.now,
                own_org: self.config.own_org.as_deref(),
                default_ttl: self.config.default_ttl,
            };
            prepare_for_create(sbd, &ctx, &mut self.entropy).map(|sbd| (sbd, request))
        });
        // As the reference's certificate check: with an expired certificate nothing
        // we send could be signed or opened, so refuse at create.
        let parsed = parsed.and_then(|p| match self.config.own_certificate_expiry {
            Some(expiry) if self.now > expiry => Err(ApiError::new(
                Exception::InvalidCertificate,
                format!(
                    "Our certificate expired at {}",
                    crate::sbd::DateTime::oslo(expiry).to_rfc3339()
                ),
            )),
            _ => Ok(p),
        });
        let (sbd, request) = match parsed {
            Ok(p) => p,
            Err(e) => return self.respond(call, ApiResponse::Error(e)),
        };
        let Some(message_id) = sbd.message_id() else {
            // prepare_for_create always sets one; answer rather than panic if not.
            let e = ApiError::new(Exception::Internal, "no messageId after defaults");
            return self.respond(call, ApiResponse::Error(e));
        };
        let ttl = sbd.header.expected_response().map(|d| d.timestamp());
        let message = OutgoingMessage {
            expiry: expiry(ttl, self.now, self.config.default_ttl),
            sbd,
            request,
            created: self.now,
            // Decided by the registry lookup once the messageId is known to be new.
            service: ServiceIdentifier::Unknown,
            files: Vec::new(),
            queued: None,
            lifecycle: Lifecycle::new(Direction::Outgoing),
        };
        let id = self.load(Query::OutgoingMessage(message_id));
        self.loads.insert(id, Pending::CreateLookup { call, message, attempts: 0 });
    }

    fn on_loaded(&mut self, p: Pending, result: Result<Loaded, StoreError>) {
        let found = match result {
            Ok(Loaded::OutgoingMessage(m)) => m,
            Ok(_) => {
                let e = StoreError::Unavailable("the store answered another query".into());
                return self.fail_pending(&p, &e);
            }
            Err(e) => return self.fail_pending(&p, &e),
        };
        match p {
            Pending::Get { call, message_id } => match found {
                Some(m) => self.respond(call, ApiResponse::Json(m.sbd.to_json_value())),
                None => {
                    self.respond(call, ApiResponse::Error(ApiError::message_not_found(message_id)))
                }
            },
            Pending::CreateLookup { call, message, attempts } => match found {
                // Same request again (a client retry after a lost answer): the stored
                // message is the answer.
                Some(existing) if existing.request == message.request => {
                    self.respond(call, ApiResponse::Json(existing.sbd.to_json_value()));
                }
                Some(existing) => {
                    let id = existing.message_id().map(|m| m.to_string()).unwrap_or_default();
                    self.respond(call, ApiResponse::Error(ApiError::message_already_exists(id)));
                }
                // The write conflicted, yet no message is there: its messageId belongs
                // to a conversation whose message has left the queue (sent, failed,
                // expired or deleted), and whose request went with it, so a repeat
                // cannot be told from a clash. Either way the messageId is taken;
                // writing again would only conflict again.
                None if attempts > 0 => {
                    let id = message.message_id().map(|m| m.to_string()).unwrap_or_default();
                    self.respond(call, ApiResponse::Error(ApiError::message_already_exists(id)));
                }
                // A message seen before needs no new lookup; a new one is routed.
                None if message.service != ServiceIdentifier::Unknown => {
                    self.write_new(call, message, attempts)
                }
                None => self.route(call, message, attempts),
            },
            other => {
                self.fail_pending(&other, &StoreError::Unavailable("unexpected load answer".into()))
            }
        }
    }

    /// Ask the registry (or its cache) which service takes the message.
    fn route(&mut self, call: CallId, mut message: OutgoingMessage, attempts: u8) {
        let Some(receiver) = message.sbd.header.receiver.as_ref() else {
            // Only physical mail goes without a receiver, and only DPI carries it.
            message.service = ServiceIdentifier::Dpi;
            return self.check_enabled_and_write(call, message, attempts);
        };
        let mut lookup = IdentifierLookup::new(&receiver.identifier.primary());
        if let Some(p) = message.sbd.header.process() {
            lookup = lookup.process(p);
        }
        if let Some(level) = message.sbd.message.security_level().and_then(|l| u8::try_from(l).ok())
        {
            lookup = lookup.security_level(level);
        }
        if let Some(c) = message.sbd.header.conversation_id() {
            lookup = lookup.conversation_id(&c.to_string());
        }
        let pending = Pending::CreateRoute { call, message, lookup: lookup.clone(), attempts };
        self.registry_lookup(lookup, pending);
    }

    /// Look `lookup` up in the registry, through the cache: a cached answer continues
    /// `pending` at once, otherwise an HTTP request goes out and the answer continues
    /// it in `on_http`.
    fn registry_lookup(&mut self, lookup: IdentifierLookup, pending: Pending) {
        let wrapped = Lookup::Identifier(lookup);
        if let Some(resource) = self.registry_cache.get(&wrapped.cache_key(), self.now).cloned() {
            return self.looked_up(pending, Ok(resource));
        }
        let req = registry_request(&wrapped, self.config.registry);
        let mut http = HttpRequest::new(
            Method::Get,
            format!(
                "{}/{}",
                self.config.registry_url.trim_end_matches('/'),
                req.path_and_query.trim_start_matches('/')
            ),
        );
        http.headers =
            req.headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let id = ReqId(self.next());
        self.outputs.push_back(Output::Http(id, http));
        self.requests.insert(id, pending);
    }

    fn on_http(&mut self, p: Pending, result: Result<HttpResponse, TransportError>) {
        let lookup = match &p {
            Pending::CreateRoute { lookup, .. } | Pending::Capabilities { lookup, .. } => {
                lookup.clone()
            }
            Pending::Delivery(step) if step.lookup().is_some() => {
                step.lookup().cloned().unwrap_or_else(|| IdentifierLookup::new(""))
            }
            Pending::Dpf(step) if step.lookup().is_some() => {
                step.lookup().cloned().unwrap_or_else(|| IdentifierLookup::new(""))
            }
            _ => {
                self.stale_answers += 1;
                return;
            }
        };
        let decoded = result.map_err(|e| LookupError::Transport(e.to_string())).and_then(|r| {
            let content_type = r.header("content-type");
            // A signed answer is verified whether or not one was asked for: data
            // that says it is signed is never trusted unverified.
            let signed = self.config.registry.signed
                || matches!(classify(r.status, content_type, &r.body), Ok(RegistryBody::Signed(_)));
            registry::decode(r.status, content_type, &r.body, signed, &self.jwks)
        });
        match decoded {
            Ok(registry::Decoded::NeedJwks(pending)) => {
                // The signing key is not among those we hold: fetch the key set once.
                let url = format!("{}/{JWKS_PATH}", self.config.registry_url.trim_end_matches('/'));
                let req = HttpRequest::new(Method::Get, url).header("Accept", "application/json");
                let id = ReqId(self.next());
                self.outputs.push_back(Output::Http(id, req));
                self.requests.insert(id, Pending::Jwks { pending, lookup, then: Box::new(p) });
            }
            Ok(registry::Decoded::Payload(payload)) => {
                self.lookup_answered(p, lookup, parse_identifier_resource(&payload))
            }
            Err(e) => self.lookup_answered(p, lookup, Err(e)),
        }
    }

    /// The registry's key set arrived for a signed answer: verify it and go on.
    fn on_jwks(
        &mut self,
        pending: PendingVerification,
        lookup: IdentifierLookup,
        then: Pending,
        result: Result<HttpResponse, TransportError>,
    ) {
        let body = match &result {
            Ok(r) if (200..300).contains(&r.status) => Ok(r.body.as_ref()),
            Ok(r) => Err(format!("GET jwk answered {}", r.status)),
            Err(e) => Err(e.to_string()),
        };
        let answer = self
            .jwks
            .complete(pending, body)
            .map_err(LookupError::from)
            .and_then(|payload| parse_identifier_resource(&payload));
        self.lookup_answered(then, lookup, answer);
    }

    fn lookup_answered(
        &mut self,
        p: Pending,
        lookup: IdentifierLookup,
        answer: Result<IdentifierResource, LookupError>,
    ) {
        self.registry_cache.record(Lookup::Identifier(lookup).cache_key(), &answer, self.now);
        self.looked_up(p, answer);
    }

    /// Continue whatever waited for a registry answer.
    fn looked_up(&mut self, p: Pending, answer: Result<IdentifierResource, LookupError>) {
        match p {
            Pending::CreateRoute { call, message, lookup, attempts } => {
                self.routed(call, message, &lookup, answer, attempts)
            }
            Pending::Delivery(step) => self.delivery_looked_up(*step, answer),
            Pending::Dpf(step) => self.dpf_looked_up(*step, answer),
            Pending::Capabilities { call, lookup } => {
                let response = match answer {
                    Ok(resource) => {
                        let caps = capabilities(&resource.service_records);
                        ApiResponse::Json(serde_json::to_value(caps).unwrap_or_default())
                    }
                    Err(e) => {
                        ApiResponse::Error(ApiError::from(routing::capabilities_error(&lookup, &e)))
                    }
                };
                self.respond(call, response);
            }
            other => self.fail_pending(
                &other,
                &StoreError::Unavailable("unexpected registry answer".into()),
            ),
        }
    }

    /// `GET /api/capabilities/{id}`.
    fn capabilities(
        &mut self,
        call: CallId,
        receiver: &str,
        security_level: Option<i32>,
        process: Option<&str>,
    ) {
        let mut lookup = IdentifierLookup::new(receiver);
        if let Some(p) = process {
            lookup = lookup.process(p);
        }
        if let Some(level) = security_level.and_then(|l| u8::try_from(l).ok()) {
            lookup = lookup.security_level(level);
        }
        self.registry_lookup(lookup.clone(), Pending::Capabilities { call, lookup });
    }

    fn routed(
        &mut self,
        call: CallId,
        mut message: OutgoingMessage,
        lookup: &IdentifierLookup,
        answer: Result<IdentifierResource, LookupError>,
        attempts: u8,
    ) {
        let process = message.sbd.header.process().unwrap_or_default().to_owned();
        let selected = answer.map_err(SelectError::from).and_then(|resource| {
            routing::select_by_document_type(
                &resource.service_records,
                lookup,
                message.sbd.standard(),
            )
            .map(|record| record.service_identifier())
        });
        match selected {
            Ok(service) => {
                message.service = service;
                self.check_enabled_and_write(call, message, attempts);
            }
            Err(e) => {
                let e = ApiError::from(routing::send_error(&process, &e));
                self.respond(call, ApiResponse::Error(e));
            }
        }
    }

    fn check_enabled_and_write(&mut self, call: CallId, message: OutgoingMessage, attempts: u8) {
        if !self.config.enabled_services.contains(&message.service) {
            let e = ApiError::from(routing::service_not_enabled(message.service));
            return self.respond(call, ApiResponse::Error(e));
        }
        self.write_new(call, message, attempts);
    }

    fn write_new(&mut self, call: CallId, message: OutgoingMessage, attempts: u8) {
        let Some(message_id) = message.message_id() else {
            return;
        };
        let status = StatusRecord {
            message_id,
            status: Status::Opprettet,
            description: None,
            at: self.now,
            queued: self.config.status_queue_includes.contains(&message.service),
        };
        let id = self.persist(Write::CreateOutgoing { message: Box::new(message.clone()), status });
        self.writes.insert(id, Pending::CreateWrite { call, message, attempts });
    }

    fn on_persisted(&mut self, p: Pending, result: Result<(), StoreError>) {
        match (p, result) {
            (Pending::CreateWrite { call, message, .. }, Ok(())) => {
                self.deliver_pushes();
                let body = message.sbd.to_json_value();
                if let Some(message_id) = message.message_id() {
                    self.status_recorded(StatusEvent {
                        message_id,
                        conversation_id: message.sbd.header.conversation_id(),
                        direction: Direction::Outgoing,
                        status: Status::Opprettet,
                        description: None,
                        at: message.created,
                    });
                }
                self.respond(call, ApiResponse::Json(body));
            }
            // Another create of the same messageId won the race: look again, and
            // answer as for a repeat (equal) or a clash (different). Once only.
            (Pending::CreateWrite { call, message, attempts: 0 }, Err(StoreError::Conflict)) => {
                if let Some(message_id) = message.message_id() {
                    let id = self.load(Query::OutgoingMessage(message_id));
                    self.loads.insert(id, Pending::CreateLookup { call, message, attempts: 1 });
                }
            }
            (p, Err(e)) => self.fail_pending(&p, &e),
            (p, Ok(())) => {
                self.fail_pending(&p, &StoreError::Unavailable("unexpected write answer".into()))
            }
        }
    }

    /// The outgoing message a load found, or the answer to give when it found none
    /// (404) or answered something else.
    fn found_outgoing(
        &mut self,
        call: CallId,
        message_id: MessageId,
        result: Result<Loaded, StoreError>,
    ) -> Option<Box<OutgoingMessage>> {
        match result {
            Ok(Loaded::OutgoingMessage(Some(m))) => Some(m),
            Ok(Loaded::OutgoingMessage(None)) => {
                self.respond(call, ApiResponse::Error(ApiError::message_not_found(message_id)));
                None
            }
            Ok(_) => {
                self.store_failed(
                    call,
                    &StoreError::Unavailable("the store answered another query".into()),
                );
                None
            }
            Err(e) => {
                self.store_failed(call, &e);
                None
            }
        }
    }

    /// A store failure for whatever waited: its call is answered 500; work of the
    /// node's own (pushes) is retried at the next tick.
    fn fail_pending(&mut self, p: &Pending, e: &StoreError) {
        match call_of(p) {
            Some(call) => self.store_failed(call, e),
            None => self.stale_answers += 1,
        }
    }

    fn store_failed(&mut self, call: CallId, e: &StoreError) {
        let e = ApiError::new(Exception::Internal, format!("The message store failed: {e}"));
        self.respond(call, ApiResponse::Error(e));
    }
}

fn call_of(p: &Pending) -> Option<CallId> {
    Some(match p {
        Pending::CreateLookup { call, .. }
        | Pending::CreateRoute { call, .. }
        | Pending::CreateWrite { call, .. }
        | Pending::Get { call, .. }
        | Pending::Read { call, .. }
        | Pending::Delete { call }
        | Pending::UploadLookup { call, .. }
        | Pending::UploadAllowance { call, .. }
        | Pending::UploadArkivmelding { call, .. }
        | Pending::UploadWrite { call, .. }
        | Pending::SendLookup { call, .. }
        | Pending::SendHandedOff { call, .. }
        | Pending::SendArkivmelding { call, .. }
        | Pending::Capabilities { call, .. }
        | Pending::Subscription { call, .. }
        | Pending::SubscriptionSaved { call, .. }
        | Pending::Answered { call, .. } => *call,
        Pending::Incoming(step) => return step.call(),
        Pending::Pushes
        | Pending::Push { .. }
        | Pending::PushWritten
        | Pending::FeilMail(_)
        | Pending::ReceivedStatus(_)
        | Pending::Delivery(_)
        | Pending::Receive(_)
        | Pending::Dpf(_)
        | Pending::Dpi(_)
        | Pending::Watch(_)
        | Pending::Dpv(_)
        | Pending::Swept
        | Pending::SasKey => return None,
        Pending::Jwks { then, .. } => return call_of(then),
    })
}

#[cfg(test)]
mod dpi_tests;
#[cfg(test)]
mod dpv_tests;
#[cfg(test)]
mod exchange_tests;
#[cfg(test)]
mod incoming_tests;
#[cfg(test)]
mod tests;
