//! `efm serve` on threads: the HTTP server hands each request to the node, and the
//! node's store outputs are carried out against the data folder before the answer
//! goes back. One lock around node and store keeps the node's single-mutation
//! contract (feed one input, drain to idle) across connection threads.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use efm_core::Timestamp;
use efm_core::api::{ApiError, Exception, MessageRef, Route};
use efm_core::node::{ApiCall, ApiResponse, CallId, Config, Input, Node, Output};
use efm_store::Store;
use http::{HeaderValue, Request, Response, StatusCode, header};
use ring::rand::SecureRandom;

use crate::http_server::{self, ServerConfig};

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
    /// Our organisation number.
    pub own_org: String,
    pub auth: ApiAuth,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] efm_store::OpenError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("the operating system gave no randomness")]
    Randomness,
}

/// A running integration point.
pub struct Serving {
    addr: SocketAddr,
}

impl Serving {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

struct Engine {
    node: Node,
    store: Store,
    next_call: u64,
}

pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Timestamp::from_unix_millis(ms)
}

/// Open the data folder, start the node and listen. Returns once listening.
pub fn start(opts: ServeOptions) -> Result<Serving, ServeError> {
    let started = now();
    let store = Store::open(&opts.data_dir, started)?;
    let mut seed = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| ServeError::Randomness)?;
    let node = Node::new(Config::new(opts.own_org.clone()), seed, started);
    let engine = Arc::new(Mutex::new(Engine {
        node,
        store,
        next_call: 0,
    }));
    let auth = opts.auth.clone();
    let handler = move |req: &Request<()>, body: &[u8]| handle(&engine, &auth, req, body);
    let server = http_server::spawn(&opts.listen, ServerConfig::default(), Arc::new(handler))
        .map_err(|source| ServeError::Listen {
            addr: opts.listen.clone(),
            source,
        })?;
    Ok(Serving {
        addr: server.local_addr(),
    })
}

fn handle(
    engine: &Mutex<Engine>,
    auth: &ApiAuth,
    req: &Request<()>,
    body: &[u8],
) -> Response<Vec<u8>> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("");
    let route = match Route::parse(req.method().as_str(), &path, query) {
        Ok(r) => r,
        Err(e) => return error_response(&e, &path),
    };
    if route.requires_auth() && !authorized(auth, req) {
        return unauthorized(&path);
    }
    let call = match route {
        Route::Health | Route::Liveness | Route::Readiness => {
            return json_response(StatusCode::OK, &serde_json::json!({"status": "UP"}));
        }
        Route::Info => {
            let info =
                serde_json::json!({"build": {"name": "efm", "version": env!("CARGO_PKG_VERSION")}});
            return json_response(StatusCode::OK, &info);
        }
        Route::CreateMessage => ApiCall::CreateMessage {
            body: body.to_vec().into(),
        },
        Route::GetOutgoing {
            message: MessageRef::Id(message_id),
        } => ApiCall::GetOutgoing { message_id },
        Route::GetOutgoing {
            message: MessageRef::NoSuchMessage(raw),
        } => {
            return error_response(&ApiError::message_not_found(raw), &path);
        }
        other => {
            let e = ApiError {
                status: 501,
                ..ApiError::new(
                    Exception::Internal,
                    format!("{other:?} is not available in this version of efm yet"),
                )
            };
            return error_response(&e, &path);
        }
    };
    match run(engine, call) {
        ApiResponse::Json(v) => json_response(StatusCode::OK, &v),
        ApiResponse::Error(e) => error_response(&e, &path),
    }
}

/// Feed one API call and drain the node, carrying out its store outputs, until idle.
fn run(engine: &Mutex<Engine>, call: ApiCall) -> ApiResponse {
    // A poisoned lock means a thread panicked mid-drain; the node and store hold no
    // half-applied state across inputs (writes are transactions), so carry on.
    let mut guard = engine.lock().unwrap_or_else(|p| p.into_inner());
    let e = &mut *guard;
    e.next_call += 1;
    let id = CallId(e.next_call);
    e.node.handle_input(Input::Api(id, call), now());
    let mut answer = None;
    loop {
        match e.node.poll_output() {
            Output::Idle { .. } => break,
            Output::Load(lid, q) => {
                let r = e.store.load(&q);
                e.node.handle_input(Input::Loaded(lid, r), now());
            }
            Output::Persist(wid, w) => {
                let r = e.store.persist(&w);
                e.node.handle_input(Input::Persisted(wid, r), now());
            }
            Output::Respond(c, r) if c == id => answer = Some(r),
            // Statuses go to webhooks and the status queue once those exist; the
            // record itself is already in the store.
            Output::Respond(..) | Output::Status(_) | Output::Http(..) => {}
        }
    }
    answer.unwrap_or_else(|| {
        ApiResponse::Error(ApiError::new(
            Exception::Internal,
            "the node gave no answer to the call",
        ))
    })
}

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
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
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
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"efm\""),
    );
    r
}

fn error_response(e: &ApiError, path: &str) -> Response<Vec<u8>> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &e.to_json(now(), path))
}

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<Vec<u8>> {
    let body = serde_json::to_vec_pretty(v).unwrap_or_default();
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
