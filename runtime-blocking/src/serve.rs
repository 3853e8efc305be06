//! `efm serve` on threads: the HTTP server hands each request to the node, and the
//! node's store outputs are carried out against the data folder before the answer
//! goes back. An upload's body goes to `staging/` as it arrives (`impl Service for
//! Api`); the node gets the staged file. One lock around node and store keeps the
//! node's single-mutation contract (feed one input, drain to idle) across
//! connection threads. The node's HTTP requests and payload jobs run outside the
//! lock on a pool of worker threads (see [`Workers`]), several at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use efm_core::api::{ApiError, Exception, Route};
use efm_core::crypto::keys::Identity;
use efm_core::node::{
    ApiCall, ApiResponse, BodyPart, BodyPlan as NodeBodyPlan, CallId, Config, Dispatch,
    DpeSettings, DpfSettings, DpoSettings, DpvSettings, HttpRequest, HttpResponse, Input, JobId,
    Method, Node, Output, Pacing, ReqId, TransportError, WatchSettings, body_plan, body_too_large,
    dispatch,
};
use efm_core::registry::model::ServiceIdentifier;
use efm_store::{Durability, GroupSync, Store};
use http::{HeaderValue, Request, Response, StatusCode, header};
use ring::rand::SecureRandom;

use crate::asic_stream;
use crate::credentials::{Credentials, TokenSettings};
use crate::http_server::{self, Body, BodyPlan, Received, ServerConfig, Service};
use crate::payloads::{self, Prepared};
use crate::staged_body::{PlannedUpload, StagedBody};
use crate::workers::Workers;

/// Who may call the API.
#[derive(Clone, Debug)]
pub enum ApiAuth {
    /// No authentication (`difi.move.feature.enable-auth=false`).
    Open,
    /// HTTP Basic with these credentials.
    Basic { user: String, password: String },
}

#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: String,
    pub data_dir: PathBuf,
    /// Our organisation number, when one is configured.
    pub own_org: Option<String>,
    pub auth: ApiAuth,
    /// The service registry's base URL.
    pub registry_url: String,
    /// Ask the registry for signed answers (all signed answers are verified).
    pub registry_signed: bool,
    /// The message services switched on.
    pub enabled: Vec<ServiceIdentifier>,
    /// The time to live of a message whose SBD gives none.
    pub default_ttl: efm_core::Duration,
    /// The largest total size of a message's files, per service.
    pub upload_limits: Vec<(ServiceIdentifier, u64)>,
    /// When our own certificate expires, for the health check.
    pub own_certificate_expiry: Option<efm_core::Timestamp>,
    /// The services whose statuses join the status queue.
    pub status_queue_includes: Vec<ServiceIdentifier>,
    /// Our key and certificate, from the keystore: they sign what we send, and
    /// incoming ASiCs are decrypted with them when popped (none: pop answers 500).
    pub identity: Option<Arc<Identity>>,
    /// How long a peek leases an incoming message.
    pub lock_timeout: efm_core::Duration,
    /// The services whose senders get MOTTATT and LEVERT back.
    pub status_services: Vec<ServiceIdentifier>,
    /// How often expired messages are looked for at the latest.
    pub ttl_check_interval: efm_core::Duration,
    pub dpo: Option<DpoSettings>,
    pub dpe: Option<DpeSettings>,
    /// DPI over the corner 2 API.
    pub dpi: Option<efm_core::node::DpiSettings>,
    pub dpv: Option<DpvSettings>,
    pub dpf: Option<DpfSettings>,
    pub pacing: Pacing,
    /// How often the receipts of DPV, DPF and DPI messages are polled for.
    pub watch: WatchSettings,
    /// Where the Altinn tokens DPO needs come from.
    pub tokens: Option<TokenSettings>,
    /// Where the node's notices go.
    pub notices: Notices,
    /// Where mail goes and which paths send it (none: no mail).
    pub mail: Option<efm_core::mail::MailSettings>,
    /// Serve HTTPS with this configuration (see [`crate::tls::server_config`]);
    /// plain HTTP without.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Where the node's notices go: problems no API call answers, such as why a delivery
/// is retried or a received message was dropped.
#[derive(Clone, Default)]
pub enum Notices {
    /// `efm: <text>` on stderr, the log of `efm serve`.
    #[default]
    Stderr,
    /// Handed to this function, so that a host running nodes in its own process (`efm
    /// demo`) decides what to show. It is called while the node is locked: keep it short.
    To(Arc<dyn Fn(&str) + Send + Sync>),
}

impl Notices {
    pub(crate) fn notice(&self, text: &str) {
        match self {
            Notices::Stderr => eprintln!("efm: {text}"),
            Notices::To(f) => f(text),
        }
    }
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Notices::Stderr => "Notices::Stderr",
            Notices::To(_) => "Notices::To(..)",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] efm_store::OpenError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("cannot start the mail thread: {source}")]
    Mailer { source: std::io::Error },
    #[error("the operating system gave no randomness")]
    Randomness,
}

/// A running integration point.
pub struct Serving {
    addr: SocketAddr,
    api: Arc<Api>,
}

impl Serving {
    pub fn new(addr: SocketAddr, api: Arc<Api>) -> Self {
        Serving { addr, api }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Block until `POST /manage/shutdown` is called, or `wake` is.
    pub fn wait_for_shutdown_request(&self) {
        let (lock, cvar) = &self.api.shutdown;
        let mut asked = lock.lock().unwrap_or_else(|p| p.into_inner());
        while !*asked {
            asked = cvar.wait(asked).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Ask `wait_for_shutdown_request` to return (from a signal, say).
    pub fn request_shutdown(&self) {
        self.api.request_shutdown();
    }

    /// Stop taking calls and wait, at most `grace`, for those in flight to be
    /// answered. Every answered call's writes are durable, so what is cut off after
    /// the grace is lost no more than a crash would lose.
    pub fn drain(&self, grace: Duration) -> bool {
        self.api.draining.store(true, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + grace;
        // This request's own answer (a shutdown call) counts too: wait for its bytes.
        while self.api.answering.load(Ordering::SeqCst) > 0 {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

struct Engine {
    node: Node,
    store: Store,
    /// Payload jobs whose files could not be resolved: answered at the next drain.
    failed_jobs: Vec<(JobId, efm_core::node::JobError)>,
    next_call: u64,
    /// Where each waiting API call's answer goes.
    waiting: HashMap<CallId, mpsc::Sender<ApiResponse>>,
    /// When the node last asked to be woken.
    wake_at: Option<efm_core::Timestamp>,
    notices: Notices,
}

/// How long an API call waits for the node's answer before giving up on it. Far
/// beyond any registry timeout; it only guards against a lost answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

pub use crate::clock::now;

/// The integration point behind its HTTP framing: the node and the store, driven by
/// whichever thread brings a request. Both runtimes serve through this.
pub struct Api {
    engine: Mutex<Engine>,
    /// The threads that carry out HTTP requests and payload jobs, from
    /// [`Api::start_ticker`] on.
    workers: OnceLock<Workers<Work>>,
    /// The store's group fsync (none: each write is durable when it returns).
    group_sync: Option<Arc<GroupSync>>,
    /// Sends the node's mails; none when mail is not configured. Fed by
    /// [`release`], after the writes the mails tell of are durable.
    mailer: Option<crate::mailer::Mailer>,
    /// Where a mail that cannot be queued is told.
    mail_notices: Notices,
    /// Threads the pool keeps however idle.
    min_workers: usize,
    credentials: Option<Credentials>,
    agent: ureq::Agent,
    auth: ApiAuth,
    /// The data folder, where popped ASiCs are read from.
    data_dir: PathBuf,
    identity: Option<Arc<Identity>>,
    /// Requests being answered now, counted by the servers until the answer is
    /// written.
    answering: Arc<AtomicUsize>,
    /// Set when shutting down: new calls are refused with 503.
    draining: AtomicBool,
    /// Set (and signalled) when a shutdown is asked for.
    shutdown: (Mutex<bool>, Condvar),
    /// Wakes the ticker when a drain moves the node's `wake_at` earlier.
    alarm: Arc<crate::clock::Alarm>,
}

impl Api {
    /// Open the data folder and start the node.
    pub fn open(opts: &ServeOptions) -> Result<Api, ServeError> {
        let started = now();
        // Grouped: many writes share one fsync, and nothing a write leads to
        // leaves the node before it is durable (see [`Drained`]).
        let store = Store::open_with(&opts.data_dir, started, Durability::Grouped)?;
        let group_sync = store.group_sync();
        let mut seed = [0u8; 32];
        ring::rand::SystemRandom::new().fill(&mut seed).map_err(|_| ServeError::Randomness)?;
        let mut config = Config::new(String::new());
        config.own_org = opts.own_org.clone();
        config.default_ttl = opts.default_ttl;
        config.registry_url = opts.registry_url.clone();
        config.registry.signed = opts.registry_signed;
        config.enabled_services = opts.enabled.clone();
        config.upload_limits = opts.upload_limits.clone();
        config.own_certificate_expiry = opts.own_certificate_expiry;
        config.status_queue_includes = opts.status_queue_includes.clone();
        config.lock_timeout = opts.lock_timeout;
        config.status_services = opts.status_services.clone();
        config.ttl_check_interval = opts.ttl_check_interval;
        config.dpo = opts.dpo.clone();
        config.dpe = opts.dpe.clone();
        config.dpi = opts.dpi.clone();
        config.dpv = opts.dpv.clone();
        config.dpf = opts.dpf.clone();
        config.pacing = opts.pacing.clone();
        config.watch = opts.watch.clone();
        config.mail = opts.mail.clone();
        let mailer = match &opts.mail {
            Some(settings) => Some(
                crate::mailer::Mailer::start(
                    settings.clone(),
                    opts.data_dir.clone(),
                    opts.notices.clone(),
                )
                .map_err(|source| ServeError::Mailer { source })?,
            ),
            None => None,
        };
        let node = Node::new(config, seed, started);
        let credentials = match (&opts.tokens, &opts.identity) {
            (Some(t), Some(id)) => Some(Credentials::new(t.clone(), id.clone())),
            _ => None,
        };
        // Keep a connection for every worker that may talk to the same service at
        // once (ureq keeps 3 per host by default), so that busy periods reuse
        // connections instead of opening one per request.
        let agent = crate::outbound::pooled_agent(
            crate::outbound::TRANSFER,
            MAX_WORKERS,
            MAX_IDLE_PER_HOST,
        );
        Ok(Api {
            credentials,
            agent,
            workers: OnceLock::new(),
            group_sync,
            // Deliveries and receptions may each have `parallel` requests in flight.
            min_workers: opts.pacing.parallel.saturating_mul(2).clamp(4, 64),
            engine: Mutex::new(Engine {
                node,
                store,
                failed_jobs: Vec::new(),
                next_call: 0,
                waiting: HashMap::new(),
                wake_at: None,
                notices: opts.notices.clone(),
            }),
            mailer,
            mail_notices: opts.notices.clone(),
            auth: opts.auth.clone(),
            data_dir: opts.data_dir.clone(),
            identity: opts.identity.clone(),
            answering: Arc::new(AtomicUsize::new(0)),
            draining: AtomicBool::new(false),
            shutdown: (Mutex::new(false), Condvar::new()),
            alarm: Arc::default(),
        })
    }

    /// Answer one request. Blocks while the node works (store writes, registry
    /// lookups); an async runtime calls it off its executor. A streamed body (a
    /// popped ASiC) blocks too while it is written.
    pub fn handle(&self, req: &Request<()>, body: &[u8]) -> Response<Body> {
        if self.draining.load(Ordering::SeqCst) {
            return full(draining(req.uri().path()));
        }
        match handle(self, req, body) {
            Answer::Full(r) => full(r),
            Answer::Asic { path } => self.asic(&path, req.uri().path()),
        }
    }

    /// An incoming message's ASiC, decrypted as it is sent; its absence is 204, as
    /// in the reference, and a file we cannot open is an error answer.
    fn asic(&self, relative: &str, request_path: &str) -> Response<Body> {
        let path = self.data_dir.join(relative);
        let known = match asic_stream::check(&path, self.identity.as_deref()) {
            Ok(Some(known)) => known,
            Ok(None) => {
                let mut r = Response::new(Body::Full(Vec::new()));
                *r.status_mut() = StatusCode::NO_CONTENT;
                return r;
            }
            Err(e) => {
                let e = ApiError::new(Exception::AsicRead, e.to_string());
                return full(error_response(&e, request_path));
            }
        };
        let Some(identity) = self.identity.clone() else {
            let e = ApiError::new(Exception::AsicRead, asic_stream::AsicError::NoKey.to_string());
            return full(error_response(&e, request_path));
        };
        let mut r = Response::new(Body::Stream(asic_stream::body(path, identity, known)));
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(efm_core::package::ASIC_E_MEDIA_TYPE),
        );
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=asic.zip"),
        );
        r
    }

    /// Start the node's own threads: the clock side (see [`ticker`]) and the pool
    /// that carries out its HTTP requests and payload jobs (see [`Workers`]). They
    /// end with the last reference to the `Api`. Until the pool runs, work is done
    /// by the thread that brought it.
    pub fn start_ticker(self: &Arc<Self>) -> std::io::Result<()> {
        let weak = Arc::downgrade(self);
        let _ =
            self.workers.set(Workers::new("efm-worker", self.min_workers, MAX_WORKERS, move |w| {
                let Some(api) = weak.upgrade() else { return };
                // The first piece of follow-up work (the next request of a
                // receiving lane, the delivery a seal leads to) stays on this
                // thread, which is free now: handing it to the pool would wake
                // another thread while this one went to sleep.
                let mut next = Some(w);
                while let Some(w) = next.take() {
                    let mut follow = perform_one(&api, w).into_iter();
                    next = follow.next();
                    submit(&api, follow.collect());
                }
            }));
        let weak = Arc::downgrade(self);
        let alarm = self.alarm.clone();
        std::thread::Builder::new()
            .name("efm-ticker".into())
            .spawn(move || ticker(weak, &alarm))?;
        Ok(())
    }

    /// The count the servers keep of requests being answered.
    pub fn answering(&self) -> &Arc<AtomicUsize> {
        &self.answering
    }

    fn request_shutdown(&self) {
        let (lock, cvar) = &self.shutdown;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cvar.notify_all();
    }
}

/// The API as the HTTP servers of both runtimes see it: bodies are taken as core's
/// [`body_plan`] says, an upload's streamed to `staging/` as it arrives.
impl Service for Api {
    fn plan(&self, req: &Request<()>) -> BodyPlan {
        let path = req.uri().path();
        if self.draining.load(Ordering::SeqCst) {
            return BodyPlan::Answer(full(draining(path)));
        }
        let route = match Route::parse(req.method().as_str(), path, req.uri().query().unwrap_or(""))
        {
            Ok(r) => r,
            Err(e) => return BodyPlan::Answer(full(error_response(&e, path))),
        };
        // Nobody unknown gets to send us a body.
        if route.requires_auth() && !authorized(&self.auth, req) {
            return BodyPlan::Answer(full(unauthorized(path)));
        }
        match body_plan(&route, req.headers()) {
            NodeBodyPlan::Memory { limit } => BodyPlan::Memory { limit },
            NodeBodyPlan::Refuse(e) => BodyPlan::Answer(full(error_response(&e, path))),
            NodeBodyPlan::Stage { message, head } => {
                match run(self, ApiCall::UploadAllowance { message: message.clone() }) {
                    ApiResponse::Allowance(allowance) => BodyPlan::Stage(StagedBody::new(
                        &self.data_dir.join(efm_store::STAGING_DIR),
                        PlannedUpload { message, head, allowance },
                    )),
                    other => BodyPlan::Answer(self.answer_of(other, path)),
                }
            }
        }
    }

    fn answer(&self, req: &Request<()>, body: Received) -> Response<Body> {
        let path = req.uri().path();
        match body {
            Received::Whole(bytes) => self.handle(req, &bytes),
            Received::TooLarge { limit } => full(error_response(&body_too_large(limit), path)),
            Received::StagedTooLarge { body, seen, cut } => {
                let allowance = body.upload.allowance;
                let e = allowance.exceeded(allowance.used.saturating_add(seen), cut);
                full(error_response(&e, path))
            }
            Received::StagingFailed(why) => {
                let e = ApiError::new(
                    Exception::Internal,
                    format!("The upload could not be staged: {why}"),
                );
                full(error_response(&e, path))
            }
            Received::Staged(staged) => {
                if self.draining.load(Ordering::SeqCst) {
                    return full(draining(path));
                }
                // Flushed here, outside the node's lock, so that the store's own
                // flush before it names the file finds nothing left to write.
                if let Err(e) = std::fs::File::open(staged.path()).and_then(|f| f.sync_data()) {
                    let e = ApiError::new(
                        Exception::Internal,
                        format!("The upload could not be staged: {e}"),
                    );
                    return full(error_response(&e, path));
                }
                let call = ApiCall::UploadStaged {
                    message: staged.upload.message.clone(),
                    upload: staged.upload(),
                };
                let answer = run(self, call);
                // The store has moved the file into place, or it is removed now.
                drop(staged);
                self.answer_of(answer, path)
            }
        }
    }
}

impl Api {
    fn answer_of(&self, answer: ApiResponse, path: &str) -> Response<Body> {
        match render(answer, path) {
            Answer::Full(r) => full(r),
            Answer::Asic { path: asic } => self.asic(&asic, path),
        }
    }
}

/// The refusal of calls during a shutdown.
fn draining(path: &str) -> Response<Vec<u8>> {
    let e = ApiError { status: 503, ..ApiError::new(Exception::Internal, "efm is shutting down") };
    error_response(&e, path)
}

/// Open the data folder, start the node and listen on threads. Returns once
/// listening.
pub fn start(opts: ServeOptions) -> Result<Serving, ServeError> {
    let api = Arc::new(Api::open(&opts)?);
    api.start_ticker()
        .map_err(|source| ServeError::Listen { addr: opts.listen.clone(), source })?;
    let serving_api = api.clone();
    let config = ServerConfig {
        answering: api.answering().clone(),
        tls: opts.tls.clone(),
        ..ServerConfig::default()
    };
    let server = http_server::spawn_service(&opts.listen, config, api)
        .map_err(|source| ServeError::Listen { addr: opts.listen.clone(), source })?;
    Ok(Serving::new(server.local_addr(), serving_api))
}

/// An answer ready to send, or the ASiC to stream.
enum Answer {
    Full(Response<Vec<u8>>),
    Asic { path: String },
}

fn full(r: Response<Vec<u8>>) -> Response<Body> {
    r.map(Body::Full)
}

fn handle(api: &Api, req: &Request<()>, body: &[u8]) -> Answer {
    let auth = &api.auth;
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("");
    let route = match Route::parse(req.method().as_str(), &path, query) {
        Ok(r) => r,
        Err(e) => return Answer::Full(error_response(&e, &path)),
    };
    if route.requires_auth() && !authorized(auth, req) {
        return Answer::Full(unauthorized(&path));
    }
    if route == Route::Shutdown {
        api.request_shutdown();
        return Answer::Full(json_response(
            StatusCode::OK,
            &serde_json::json!({"message": "Shutting down, bye..."}),
        ));
    }
    let call = match dispatch(route, req.headers(), body.to_vec().into()) {
        Dispatch::Node(call) => call,
        Dispatch::Answer(answer) => return render(answer, &path),
    };
    render(run(api, call), &path)
}

fn render(answer: ApiResponse, path: &str) -> Answer {
    Answer::Full(match answer {
        ApiResponse::Json(v) => json_response(StatusCode::OK, &v),
        ApiResponse::Empty => {
            let mut r = Response::new(Vec::new());
            *r.status_mut() = StatusCode::OK;
            r
        }
        ApiResponse::Down(v) => json_response(StatusCode::SERVICE_UNAVAILABLE, &v),
        ApiResponse::Bare(status) => {
            let mut r = Response::new(Vec::new());
            *r.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            r
        }
        ApiResponse::Metrics(text) => {
            let mut r = Response::new(text.into_bytes());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        ApiResponse::Error(e) => error_response(&e, path),
        ApiResponse::Asic { path } => return Answer::Asic { path },
        // An answer for the runtime, never one to send.
        ApiResponse::Allowance(_) => error_response(
            &ApiError::new(Exception::Internal, "the node answered with an upload allowance"),
            path,
        ),
    })
}

/// Feed one API call and wait for its answer. The calling thread drives the node
/// for as long as it holds the lock: store outputs are carried out at once (they are
/// local and short), HTTP requests and payload jobs go to the pool, so a slow
/// registry never stalls other callers and a send is answered once it is queued,
/// not after the deliveries it sets off. Answers reach their callers' threads from
/// whichever thread drains them.
fn run(api: &Api, call: ApiCall) -> ApiResponse {
    let (tx, rx) = mpsc::channel();
    let drained = {
        let mut e = lock(&api.engine);
        e.next_call += 1;
        let id = CallId(e.next_call);
        e.waiting.insert(id, tx);
        e.node.handle_input(Input::Api(id, call), now());
        drain(&mut e)
    };
    let work = release(api, drained);
    submit(api, work);
    rx.recv_timeout(ANSWER_TIMEOUT).unwrap_or_else(|_| {
        ApiResponse::Error(ApiError::new(
            Exception::Internal,
            "the node gave no answer to the call",
        ))
    })
}

/// Work the node asked for that runs outside the lock.
enum Work {
    Http(ReqId, HttpRequest),
    Job(JobId, Prepared),
}

/// The most pool threads: far more than the node keeps in flight, so only a
/// runaway could reach it.
const MAX_WORKERS: usize = 256;

/// Idle connections kept per service (host and port).
const MAX_IDLE_PER_HOST: usize = 64;

/// Hand work to the pool; before it is started, do it here.
fn submit(api: &Api, mut work: Vec<Work>) {
    if let Some(pool) = api.workers.get() {
        for w in work {
            pool.submit(w);
        }
        return;
    }
    while let Some(w) = work.pop() {
        work.extend(perform_one(api, w));
    }
}

/// Carry out one HTTP request or payload job, outside the lock, and feed its
/// outcome to the node; the work that follows from it.
fn perform_one(api: &Api, w: Work) -> Vec<Work> {
    let input = match w {
        Work::Http(id, req) => Input::Http(id, perform(api, &req)),
        Work::Job(id, job) => Input::JobDone(
            id,
            payloads::run(job, api.identity.as_deref(), api.credentials.as_ref(), now()),
        ),
    };
    let drained = {
        let mut e = lock(&api.engine);
        e.node.handle_input(input, now());
        drain(&mut e)
    };
    release(api, drained)
}

/// What a drain let out of the node, held until the writes it saw are durable.
struct Drained {
    work: Vec<Work>,
    answers: Vec<(mpsc::Sender<ApiResponse>, ApiResponse)>,
    mails: Vec<efm_core::mail::Mail>,
    /// The store's commit count when the drain ended (see [`GroupSync::written`]).
    written: u64,
    /// When the node wants waking, as the drain left it.
    wake_at: Option<efm_core::Timestamp>,
}

/// Once every write made so far is durable (one group fsync, outside the lock),
/// send the drain's API answers, queue its mails and return its work. Not only
/// its own writes: the node may answer from a write another thread made and has
/// not yet seen synced. An fsync that fails leaves no safe way on: what the node believes
/// stored may not be, and acknowledging it would break the promise made to the
/// fagsystem and the senders. The process ends at once, like a crash, and the
/// restart goes on from what is durable.
fn release(api: &Api, drained: Drained) -> Vec<Work> {
    api.alarm.wake_by(drained.wake_at);
    if let Some(g) = &api.group_sync
        && let Err(e) = g.sync_through(drained.written)
    {
        eprintln!("efm: {e}; stopping before acknowledging anything not durable");
        std::process::abort();
    }
    for (tx, answer) in drained.answers {
        // The caller may have timed out and gone; nothing to do then.
        let _ = tx.send(answer);
    }
    for mail in drained.mails {
        // Sent on the mail thread; the node waits for nothing.
        match &api.mailer {
            Some(mailer) => {
                let subject = mail.subject.clone();
                if let Err(err) = mailer.queue(mail) {
                    api.mail_notices.notice(&format!("mail {subject:?} not sent: {err}"));
                }
            }
            None => api
                .mail_notices
                .notice(&format!("mail {:?} not sent: no mail server configured", mail.subject)),
        }
    }
    drained.work
}

/// Feed the node a tick and hand on what follows (deliveries, polls, pushes).
fn tick(api: &Api) {
    let drained = {
        let mut e = lock(&api.engine);
        e.node.handle_input(Input::Tick, now());
        drain(&mut e)
    };
    let work = release(api, drained);
    submit(api, work);
}

/// How often the clock looks at the node's `wake_at` at the least, and at the most.
const TICK_LONGEST: Duration = Duration::from_millis(250);
const TICK_SHORTEST: Duration = Duration::from_millis(5);

/// The clock side of the node: a tick at start, to take up work left by a restart,
/// then whenever the node's `wake_at` comes: sleeping until then, but never longer
/// than [`TICK_LONGEST`], and woken by the [`Alarm`](crate::clock::Alarm) when an
/// input fed on another thread moves `wake_at` earlier. A
/// `wake_at` the tick left in the past is work waiting for a free slot, which an
/// answer will take up: the clock looks again after [`TICK_LONGEST`] rather than
/// spin on it.
fn ticker(api: std::sync::Weak<Api>, alarm: &crate::clock::Alarm) {
    let mut first = true;
    while let Some(api) = api.upgrade() {
        let wake_at = lock(&api.engine).wake_at;
        if first || wake_at.is_some_and(|w| w <= now()) {
            tick(&api);
            first = false;
        }
        let next = lock(&api.engine).wake_at;
        drop(api);
        let longest = TICK_LONGEST.as_millis() as i64;
        let until = next.map_or(longest, |w| match (w - now()).as_millis() {
            ms if ms <= 0 => longest,
            ms => ms.min(longest),
        });
        let until = Duration::from_millis(u64::try_from(until).unwrap_or(0));
        alarm.sleep(next, until.max(TICK_SHORTEST));
    }
}

/// A poisoned lock means a thread panicked while driving the node; node and store
/// hold no half-applied state across inputs (writes are transactions), so go on.
fn lock(engine: &Mutex<Engine>) -> std::sync::MutexGuard<'_, Engine> {
    engine.lock().unwrap_or_else(|p| p.into_inner())
}

/// Drain the node to idle; return the work it asked for that runs outside the
/// lock (HTTP requests, payload jobs) and its API answers, for [`release`].
fn drain(e: &mut Engine) -> Drained {
    let mut http = Vec::new();
    let mut answers = Vec::new();
    let mut mails = Vec::new();
    loop {
        if let Some((id, err)) = e.failed_jobs.pop() {
            e.node.handle_input(Input::JobDone(id, Err(err)), now());
            continue;
        }
        match e.node.poll_output() {
            Output::Idle { wake_at } => {
                e.wake_at = wake_at;
                let written = e.store.group_sync().map_or(0, |g| g.written());
                return Drained { work: http, answers, mails, written, wake_at };
            }
            Output::Job(id, job) => match payloads::prepare(&e.store, job) {
                Ok(p) => http.push(Work::Job(id, p)),
                Err(err) => e.failed_jobs.push((id, err)),
            },
            Output::Notice(text) => e.notices.notice(&text),
            Output::Load(lid, q) => {
                let r = e.store.load(&q);
                e.node.handle_input(Input::Loaded(lid, r), now());
            }
            Output::Persist(wid, w) => {
                let r = e.store.persist(&w);
                e.node.handle_input(Input::Persisted(wid, r), now());
            }
            Output::Http(id, req) => http.push(Work::Http(id, req)),
            Output::Respond(call, r) => {
                if let Some(tx) = e.waiting.remove(&call) {
                    answers.push((tx, r));
                }
            }
            // Statuses go to webhooks and the status queue once those exist; the
            // record itself is already in the store.
            Output::Status(_) => {}
            // Queued for the mail thread by `release`.
            Output::Mail(mail) => mails.push(mail),
        }
    }
}

/// Carry out one of the node's HTTP requests: add its credential, stream a staged
/// body from disk, and stream a saved answer to disk.
fn perform(api: &Api, req: &HttpRequest) -> Result<HttpResponse, TransportError> {
    let staging = lock(&api.engine).store.staging_dir();
    let mut builder = http::Request::builder().uri(&req.url).method(match req.method {
        Method::Get => http::Method::GET,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Delete => http::Method::DELETE,
    });
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    if let Some(c) = &req.auth {
        let credentials = api.credentials.as_ref().ok_or_else(|| {
            TransportError::Credential("no keystore or token settings configured".into())
        })?;
        let value = credentials.authorization(c).map_err(TransportError::Credential)?;
        builder = builder.header("Authorization", value);
    }
    let transport = |e: ureq::Error| match e {
        ureq::Error::Timeout(_) => TransportError::Timeout,
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
            TransportError::Connect(e.to_string())
        }
        other => TransportError::Io(other.to_string()),
    };
    let response = match &req.body_file {
        _ if !req.body_parts.is_empty() => {
            let (len, reader) = {
                let engine = lock(&api.engine);
                parts_reader(&engine.store, &req.body_parts)?
            };
            let builder = builder.header("Content-Length", len.to_string());
            let request = builder
                .body(ureq::SendBody::from_owned_reader(reader))
                .map_err(|e| TransportError::Io(e.to_string()))?;
            api.agent.run(request).map_err(transport)?
        }
        Some(name) => {
            let path = staging.join(name);
            let file = std::fs::File::open(&path)
                .map_err(|e| TransportError::Staging(format!("{}: {e}", path.display())))?;
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let builder = builder.header("Content-Length", len.to_string());
            let request = builder
                .body(ureq::SendBody::from_owned_reader(file))
                .map_err(|e| TransportError::Io(e.to_string()))?;
            api.agent.run(request).map_err(transport)?
        }
        None => {
            let request =
                builder.body(req.body.to_vec()).map_err(|e| TransportError::Io(e.to_string()))?;
            api.agent.run(request).map_err(transport)?
        }
    };
    let status = response.status().as_u16();
    if status == 401
        && let (Some(c), Some(credentials)) = (&req.auth, &api.credentials)
    {
        credentials.refused(c);
    }
    let headers = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    if let Some(name) = req.save_to.as_ref().filter(|_| (200..300).contains(&status)) {
        let path = staging.join(name);
        let staged =
            |e: std::io::Error| TransportError::Staging(format!("{}: {e}", path.display()));
        let mut file = std::fs::File::create(&path).map_err(staged)?;
        let mut body = response.into_body();
        // Not fsynced: what is kept of a download is the ASiC the unpack job
        // writes (and flushes) from it; staging does not outlive a restart.
        std::io::copy(&mut body.as_reader(), &mut file)
            .map_err(|e| TransportError::Io(e.to_string()))?;
        return Ok(HttpResponse { status, headers, body: bytes::Bytes::new() });
    }
    let body = response
        .into_body()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
        .map_err(|e| TransportError::Io(e.to_string()))?;
    Ok(HttpResponse { status, headers, body: body.into() })
}

/// A body of pieces ([`HttpRequest::body_parts`]) as one reader and its length: the
/// stored files are opened now (so a missing one fails before sending) and read as
/// the request goes out, never held in memory whole.
fn parts_reader(
    store: &Store,
    parts: &[BodyPart],
) -> Result<(u64, Box<dyn std::io::Read + Send + Sync>), TransportError> {
    use std::io::Read as _;
    let mut len = 0u64;
    let mut reader: Box<dyn std::io::Read + Send + Sync> = Box::new(std::io::empty());
    for part in parts {
        let next: Box<dyn std::io::Read + Send + Sync> = match part {
            BodyPart::Bytes(b) => {
                len += b.len() as u64;
                Box::new(std::io::Cursor::new(b.clone()))
            }
            BodyPart::StoredFile { message_id, filename } => {
                let missing =
                    || TransportError::Staging(format!("{message_id}/{filename}: not stored"));
                let path = store
                    .file_path(*message_id, filename)
                    .map_err(|e| TransportError::Staging(e.to_string()))?
                    .ok_or_else(missing)?;
                let file = std::fs::File::open(&path)
                    .map_err(|e| TransportError::Staging(format!("{}: {e}", path.display())))?;
                len += file.metadata().map(|m| m.len()).unwrap_or(0);
                Box::new(file)
            }
        };
        reader = Box::new(reader.chain(next));
    }
    Ok((len, reader))
}

/// The largest answer kept in memory; payloads are saved to disk instead.
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

fn authorized(auth: &ApiAuth, req: &Request<()>) -> bool {
    match auth {
        ApiAuth::Open => true,
        ApiAuth::Basic { user, password } => req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.decode(b.trim()).ok()
            })
            .and_then(|d| String::from_utf8(d).ok())
            .is_some_and(|cred| {
                // Compare digests, so the time taken says nothing about how much of
                // the secret a guess got right.
                let digest = |s: &str| ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
                digest(&cred).as_ref() == digest(&format!("{user}:{password}")).as_ref()
            }),
    }
}

fn unauthorized(path: &str) -> Response<Vec<u8>> {
    let body = serde_json::json!({
        "timestamp": efm_core::sbd::DateTime::oslo(now()).to_rfc3339(),
        "status": 401,
        "error": "Unauthorized",
        "path": path
    });
    let mut r = json_response(StatusCode::UNAUTHORIZED, &body);
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"efm\""));
    r
}

fn error_response(e: &ApiError, path: &str) -> Response<Vec<u8>> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::NO_CONTENT {
        // The reference puts its error JSON in a 204, which HTTP forbids (RFC 9110
        // 15.3.5) and the framing refuses to send; its clients must not rely on it.
        let mut r = Response::new(Vec::new());
        *r.status_mut() = status;
        return r;
    }
    json_response(status, &e.to_json(now(), path))
}

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<Vec<u8>> {
    let body = serde_json::to_vec_pretty(v).unwrap_or_default();
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}
