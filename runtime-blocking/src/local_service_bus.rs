//! A local work-alike of the Azure Service Bus REST API, as DPE (eInnsyn) uses it:
//!
//! ```text
//! POST   [/prefix]/{queue}/messages                       send: body stored as sent -> 201
//! POST   [/prefix]/{queue}/messages/head                  peek-lock -> 201 + BrokerProperties + body, or 204
//! DELETE [/prefix]/{queue}/messages/{messageId}/{lockToken}   complete -> 200, or 404 when the lock is not held
//! ```
//!
//! Every call needs a `SharedAccessSignature` authorization (`sas.rs`); it is only
//! checked for form unless the service has the key. Queues are made on first use and
//! any path prefix is accepted (the reference's mock lives under `/dpe`). A lock lasts
//! [`ServiceBusConfig::lock_duration`] on the wall clock; once it expires the message
//! is offered again with a higher `DeliveryCount`, and after
//! [`ServiceBusConfig::max_delivery_count`] deliveries it is dead-lettered (kept on
//! disk, never offered). A send may name its `MessageId` in its `BrokerProperties`
//! header; otherwise one is made. Peek-lock answers at once (no long polling).
//!
//! State lives in a folder (`queues.rs`) and survives a restart; locks do not.

mod queues;
mod sas;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use efm_core::Timestamp;
use efm_core::entropy::Entropy;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::clock;
use crate::local_service::files::{self, FileError};
use crate::local_service::{Outcome, Problem, Service, method_not_allowed, problem, unauthorized};
use queues::{QueueError, Queues, is_queue_name};

#[derive(Debug, Clone)]
pub struct ServiceBusConfig {
    /// The shared access key; `None` accepts any well-formed signature.
    pub sas_key: Option<String>,
    /// How long a peek-lock holds a message (Azure's default is 30 s).
    pub lock_duration: Duration,
    /// Deliveries before a message is dead-lettered (Azure's default is 10).
    pub max_delivery_count: u32,
}

impl Default for ServiceBusConfig {
    fn default() -> Self {
        ServiceBusConfig {
            sas_key: None,
            lock_duration: Duration::from_secs(30),
            max_delivery_count: 10,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceBusError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    File(#[from] FileError),
}

/// `BrokerProperties` members the service sets; a sender's values for them are ignored.
const SERVER_OWNED: [&str; 8] = [
    "DeliveryCount",
    "EnqueuedSequenceNumber",
    "EnqueuedTimeUtc",
    "LockToken",
    "LockedUntilUtc",
    "MessageId",
    "SequenceNumber",
    "State",
];

pub struct LocalServiceBus {
    queues: Queues,
    config: ServiceBusConfig,
    ids: Mutex<Entropy>,
}

enum Route {
    Send { queue: String },
    PeekLock { queue: String },
    Complete { queue: String, id: String, lock: String },
}

impl Route {
    /// The route of `path`, matched from its end so that any prefix works.
    fn parse(method: &Method, path: &str) -> Result<Route, Problem> {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let tail = |n: usize| segs.len().checked_sub(n).and_then(|i| segs.get(i)).copied();
        let queue = |n: usize| tail(n).map(str::to_ascii_lowercase).unwrap_or_default();
        let route = match (tail(3), tail(2), tail(1)) {
            (_, _, Some("messages")) => (Method::POST, Route::Send { queue: queue(2) }),
            (_, Some("messages"), Some("head")) => {
                (Method::POST, Route::PeekLock { queue: queue(3) })
            }
            (Some("messages"), Some(id), Some(lock)) => (
                Method::DELETE,
                Route::Complete { queue: queue(4), id: id.to_owned(), lock: lock.to_owned() },
            ),
            _ => return Err(problem(404, &format!("no such resource: {path}"))),
        };
        if *method != route.0 {
            return Err(method_not_allowed(route.0.as_str()));
        }
        Ok(route.1)
    }

    fn queue(&self) -> &str {
        match self {
            Route::Send { queue } | Route::PeekLock { queue } | Route::Complete { queue, .. } => {
                queue
            }
        }
    }
}

impl LocalServiceBus {
    pub fn open(dir: &Path, config: ServiceBusConfig) -> Result<Self, ServiceBusError> {
        files::ensure_dir(dir)?;
        Ok(LocalServiceBus {
            queues: Queues::open(dir)?,
            config,
            ids: Mutex::new(Entropy::from_seed(files::os_seed())),
        })
    }

    fn new_id(&self) -> String {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).uuid().hyphenated().to_string()
    }

    fn send(&self, queue: &str, req: &Request<()>, body: &[u8], duplicate: bool) -> Outcome {
        let mut properties = match req.headers().get("BrokerProperties") {
            None => Map::new(),
            Some(v) => match v.to_str().ok().and_then(|s| serde_json::from_str::<Value>(s).ok()) {
                Some(Value::Object(m)) => m,
                _ => {
                    return Outcome::new(problem(
                        400,
                        "the BrokerProperties header is not a JSON object",
                    ));
                }
            },
        };
        let message_id = match properties.get("MessageId").and_then(Value::as_str) {
            Some(id) if !id.is_empty() && id.len() <= 128 => id.to_owned(),
            _ => self.new_id().replace('-', ""),
        };
        properties.retain(|k, _| !SERVER_OWNED.contains(&k.as_str()));
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let now = clock::now().as_unix_millis();
        let copies = if duplicate { 2 } else { 1 };
        let mut first = None;
        for _ in 0..copies {
            match self.queues.send(
                queue,
                &message_id,
                content_type.clone(),
                properties.clone(),
                body,
                now,
            ) {
                Ok(seq) => {
                    first.get_or_insert(seq);
                }
                Err(e) => return Outcome::new(server_error(&e)),
            }
        }
        let mut outcome = Outcome::new(status_only(StatusCode::CREATED)).duplicated(duplicate);
        if let Some(seq) = first {
            outcome = outcome.body_file(Queues::body_name(queue, seq));
        }
        outcome
    }

    fn peek_lock(&self, queue: &str, req: &Request<()>) -> Response<Vec<u8>> {
        let now = clock::now().as_unix_millis();
        let lock_ms = i64::try_from(self.config.lock_duration.as_millis()).unwrap_or(i64::MAX);
        let token = self.new_id();
        let locked =
            match self.queues.peek_lock(queue, now, lock_ms, self.config.max_delivery_count, token)
            {
                Ok(Some(l)) => l,
                Ok(None) => return status_only(StatusCode::NO_CONTENT),
                Err(e) => return server_error(&e),
            };
        let m = &locked.message;
        let mut props = m.properties.clone();
        props.insert("DeliveryCount".into(), json!(m.delivery_count));
        props.insert("EnqueuedSequenceNumber".into(), json!(0));
        props.insert("EnqueuedTimeUtc".into(), json!(http_date(m.enqueued)));
        props.insert("LockToken".into(), json!(locked.lock_token));
        props.insert("LockedUntilUtc".into(), json!(http_date(locked.locked_until)));
        props.insert("MessageId".into(), json!(m.message_id));
        props.insert("SequenceNumber".into(), json!(m.sequence_number));
        props.insert("State".into(), json!("Active"));
        let content_type = m.content_type.as_deref().unwrap_or("application/octet-stream");
        let mut r = crate::http_server::response(201, content_type, locked.body);
        if let Ok(v) = HeaderValue::from_str(&Value::Object(props).to_string()) {
            r.headers_mut().insert("BrokerProperties", v);
        }
        let host =
            req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        let base = req.uri().path().trim_end_matches('/').trim_end_matches("/head");
        let location = format!("http://{host}{base}/{}/{}", m.sequence_number, locked.lock_token);
        if let Ok(v) = HeaderValue::from_str(&location) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r
    }

    fn complete(&self, queue: &str, id: &str, lock: &str) -> Response<Vec<u8>> {
        let now = clock::now().as_unix_millis();
        match self.queues.complete(queue, id, lock, now) {
            Ok(true) => status_only(StatusCode::OK),
            Ok(false) => {
                let detail = format!(
                    "no message {id} locked with {lock} in {queue} (never, completed, or the lock expired)"
                );
                problem(404, &detail).response()
            }
            Err(e) => server_error(&e),
        }
    }
}

impl Service for LocalServiceBus {
    fn handle(&self, req: &Request<()>, body: &[u8], duplicate: bool) -> Outcome {
        let route = match Route::parse(req.method(), req.uri().path()) {
            Ok(r) => r,
            Err(r) => return Outcome::new(r),
        };
        let auth = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let now_s = clock::now().as_unix_millis() / 1000;
        let key_name =
            match sas::check(auth, self.config.sas_key.as_deref(), req.uri().path(), now_s) {
                Ok(k) => k,
                Err(e) => {
                    return Outcome::new(unauthorized("SharedAccessSignature", &e.to_string()));
                }
            };
        if !is_queue_name(route.queue()) {
            let detail = format!("'{}' is not a queue name this service accepts", route.queue());
            return Outcome::new(problem(400, &detail)).caller(&key_name);
        }
        let outcome = match &route {
            Route::Send { queue } => self.send(queue, req, body, duplicate),
            Route::PeekLock { queue } => Outcome::new(self.peek_lock(queue, req)),
            Route::Complete { queue, id, lock } => Outcome::new(self.complete(queue, id, lock)),
        };
        outcome.caller(&key_name)
    }
}

fn status_only(status: StatusCode) -> Response<Vec<u8>> {
    let mut r = Response::new(Vec::new());
    *r.status_mut() = status;
    r
}

fn server_error(e: &dyn std::fmt::Display) -> Response<Vec<u8>> {
    eprintln!("efm servicebus: {e}");
    problem(500, &format!("the service could not store the change: {e}")).response()
}

/// An HTTP date (RFC 7231 IMF-fixdate), as Service Bus writes its times.
fn http_date(ms: i64) -> String {
    let dt = Timestamp::from_unix_millis(ms).to_datetime();
    let (weekday, month) = (dt.weekday().to_string(), dt.month().to_string());
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        weekday.get(..3).unwrap_or(&weekday),
        dt.day(),
        month.get(..3).unwrap_or(&month),
        dt.year(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_763_000_000_000), "Thu, 13 Nov 2025 02:13:20 GMT");
    }

    #[test]
    fn routes_match_from_the_end() {
        let send = Route::parse(&Method::POST, "/dpe/NextBestQueue1/messages").ok();
        assert!(matches!(send, Some(Route::Send { queue }) if queue == "nextbestqueue1"));
        let peek = Route::parse(&Method::POST, "/q/messages/head").ok();
        assert!(matches!(peek, Some(Route::PeekLock { queue }) if queue == "q"));
        let done = Route::parse(&Method::DELETE, "/q/messages/m1/l1").ok();
        assert!(
            matches!(done, Some(Route::Complete { queue, id, lock }) if queue == "q" && id == "m1" && lock == "l1")
        );
        assert_eq!(
            Route::parse(&Method::GET, "/q/messages").err().map(|r| r.response().status()),
            Some(StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(
            Route::parse(&Method::POST, "/messages").ok().map(|r| r.queue().to_owned()),
            Some(String::new())
        );
        assert_eq!(
            Route::parse(&Method::POST, "/").err().map(|r| r.response().status()),
            Some(StatusCode::NOT_FOUND)
        );
    }
}
