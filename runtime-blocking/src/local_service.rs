//! What the local work-alikes of the message services ([`crate::local_broker`],
//! [`crate::local_service_bus`]) share: a serving loop that can misbehave on purpose
//! (the seeded fault knobs of [`faults`]), a record of every request ([`record`]),
//! files written atomically ([`files`]), and RFC 7807 problem answers.
//!
//! The loop is core's [`ServerConnection`] over a `TcpStream`, as in
//! [`crate::http_server`], with one difference that needs its own loop: a fault may
//! close the connection without any answer, before or after the request is handled.
//! Like `http_server`, it hands the handler a whole request body, bounded by
//! [`Host::limits`]; streaming bodies waits for the server framing to support it.

pub mod faults;
pub mod files;
pub mod journal;
pub mod record;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use efm_core::http_framing::{Limits, Refusal, ServerConnection, Step};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use serde_json::{Map, Value, json};

pub use faults::{Decision, FaultPlan, Faults};
pub use record::Recorder;

/// One local service: answers a whole request. Must not panic.
pub trait Service: Send + Sync {
    /// `duplicate` is the fault knob's verdict for this request: a service that can
    /// store something twice (an upload, a sent message) does so when it is set.
    fn handle(&self, req: &Request<()>, body: &[u8], duplicate: bool) -> Outcome;
}

/// An answer, with what the request record should say about it.
pub struct Outcome {
    pub response: Response<Vec<u8>>,
    /// The organisation number the caller authenticated as, when known.
    pub caller: Option<String>,
    /// Where the service stored the request body, relative to its folder.
    pub body_file: Option<String>,
    /// True when the service stored the request twice (the duplicate fault).
    pub duplicated: bool,
}

impl Outcome {
    pub fn new(response: impl Into<Response<Vec<u8>>>) -> Self {
        Outcome { response: response.into(), caller: None, body_file: None, duplicated: false }
    }

    pub fn caller(mut self, org: &str) -> Self {
        self.caller = Some(org.to_owned());
        self
    }

    pub fn body_file(mut self, path: String) -> Self {
        self.body_file = Some(path);
        self
    }

    pub fn duplicated(mut self, duplicated: bool) -> Self {
        self.duplicated = duplicated;
        self
    }
}

/// A service with its faults, its record and its connection limits.
pub struct Host {
    pub service: Arc<dyn Service>,
    pub faults: Faults,
    pub recorder: Recorder,
    pub limits: Limits,
    /// Idle time after which a connection is dropped.
    pub read_timeout: Duration,
}

/// Accepts forever on `listener`, one thread per connection.
pub fn accept_loop(listener: TcpListener, host: Arc<Host>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let host = host.clone();
        let spawned = std::thread::Builder::new()
            .name("local-service-conn".into())
            .spawn(move || serve_connection(stream, &host));
        if spawned.is_err() {
            eprintln!("local service: could not start a connection thread");
        }
    }
}

/// Serves requests on one connection until the client, the protocol or a fault ends it.
fn serve_connection(mut stream: TcpStream, host: &Host) {
    if let Err(e) = connection_loop(&mut stream, host)
        && e.kind() != io::ErrorKind::UnexpectedEof
    {
        // Timeouts and resets are a client's business; protocol refusals are logged.
        if e.kind() == io::ErrorKind::InvalidData {
            eprintln!("local service: connection ended: {e}");
        }
    }
}

fn connection_loop(stream: &mut TcpStream, host: &Host) -> io::Result<()> {
    stream.set_read_timeout(Some(host.read_timeout))?;
    // Answers go out as a head and a body: without this the body waits for the
    // client's delayed ACK (see `http_server::serve_socket`).
    stream.set_nodelay(true)?;
    let mut conn = ServerConnection::new(host.limits);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let step = conn.step();
        let out = conn.take_output();
        if !out.is_empty() {
            stream.write_all(&out)?;
        }
        match step {
            Step::NeedInput => {
                let n = stream.read(&mut buf)?;
                conn.receive(&buf[..n]);
            }
            Step::Request(request, body) => {
                let decision = host.faults.decide();
                if !decision.delay.is_zero() {
                    std::thread::sleep(decision.delay);
                }
                if decision.drop {
                    host.recorder.record(&request, &body, None, &decision);
                    // Returning drops the stream: the client sees the connection close.
                    return Ok(());
                }
                let outcome = host.service.handle(&request, &body, decision.duplicate);
                host.recorder.record(&request, &body, Some(&outcome), &decision);
                if decision.lose_answer {
                    return Ok(());
                }
                conn.respond(outcome.response);
                stream.write_all(&conn.take_output())?;
                stream.flush()?;
            }
            Step::Close => {
                stream.flush()?;
                return match conn.refusal() {
                    None | Some(Refusal::Truncated) => Ok(()),
                    Some(r) => Err(io::Error::new(io::ErrorKind::InvalidData, format!("{r:?}"))),
                };
            }
        }
    }
}

/// A refused request, answered as an RFC 7807 problem document: `title` is the
/// status's reason phrase, `detail` says what was wrong with this request.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: u16,
    pub detail: String,
    /// Extension members (for example a validation `errors` map, OAuth `error`).
    pub extra: Option<Box<Map<String, Value>>>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        Problem { status, detail: detail.into(), extra: None, headers: Vec::new() }
    }

    /// Adds an extension member.
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.extra.get_or_insert_with(Default::default).insert(name.to_owned(), value);
        self
    }

    /// Adds a header to the answer (ignored when `value` is not a valid header value).
    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    pub fn response(self) -> Response<Vec<u8>> {
        let code = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = Map::new();
        body.insert("type".into(), json!("about:blank"));
        body.insert("title".into(), json!(code.canonical_reason().unwrap_or("Error")));
        body.insert("status".into(), json!(code.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        if let Some(extra) = self.extra {
            body.extend(*extra);
        }
        let mut r = Response::new(Value::Object(body).to_string().into_bytes());
        *r.status_mut() = code;
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        for (name, value) in self.headers {
            r.headers_mut().insert(name, value);
        }
        r
    }
}

impl From<Problem> for Response<Vec<u8>> {
    fn from(p: Problem) -> Self {
        p.response()
    }
}

/// A [`Problem`] with `status` and `detail`.
pub fn problem(status: u16, detail: &str) -> Problem {
    Problem::new(status, detail)
}

/// A 401 problem that also names the scheme to use, as RFC 6750 §3 asks.
pub fn unauthorized(scheme: &str, detail: &str) -> Problem {
    Problem::new(401, detail).header(header::WWW_AUTHENTICATE, scheme)
}

/// A 405 problem with the `Allow` header.
pub fn method_not_allowed(allowed: &str) -> Problem {
    Problem::new(405, format!("allowed: {allowed}")).header(header::ALLOW, allowed)
}

/// A JSON answer.
pub fn json_response(status: u16, body: &Value) -> Response<Vec<u8>> {
    crate::http_server::response(status, "application/json", body.to_string().into_bytes())
}

/// Decodes one `application/x-www-form-urlencoded` value (also query strings): `+` is
/// a space, `%XX` a byte. `None` when the escapes or the UTF-8 are broken.
pub fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The decoded `name=value` pairs of a query string or form body, in order. `None`
/// when an escape is broken.
pub fn form_pairs(s: &str) -> Option<Vec<(String, String)>> {
    s.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Some((form_decode(k)?, form_decode(v)?))
        })
        .collect()
}

/// The token of an `Authorization: <scheme> <token>` header, scheme matched in any case.
pub fn authorization<'a>(req: &'a Request<()>, scheme: &str) -> Option<&'a str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (given, token) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The media type of the request body, without parameters, lower case.
pub fn media_type(req: &Request<()>) -> Option<String> {
    let value = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_decode_like_a_browser_sends_them() {
        assert_eq!(form_decode("a+b%3Ac%2B").as_deref(), Some("a b:c+"));
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%4"), None);
        assert_eq!(form_decode("%ff"), None, "not UTF-8");
        let pairs = form_pairs("x=1&&y&z=%41").unwrap();
        assert_eq!(
            pairs,
            vec![("x".into(), "1".into()), ("y".into(), "".into()), ("z".into(), "A".into())]
        );
    }

    #[test]
    fn problems_are_rfc7807() {
        let r = problem(404, "no such transfer").with("errors", json!({"x": ["y"]})).response();
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/problem+json");
        let v: Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["title"], "Not Found");
        assert_eq!(v["status"], 404);
        assert_eq!(v["detail"], "no such transfer");
        assert_eq!(v["errors"]["x"][0], "y");
        let r = unauthorized("Bearer", "who?").response();
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
