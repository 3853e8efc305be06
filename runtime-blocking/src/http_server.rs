//! A small blocking HTTP/1.1 server: one thread per connection, each running the
//! `ureq-proto` server state machine over a `TcpStream`.
//!
//! The handler sees a whole request (head plus body, up to a limit) and returns a
//! response whose body is either in memory or produced while it is sent (chunked
//! transfer coding), so that a large answer such as a popped ASiC never has to be
//! held whole.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use efm_core::http_framing::{Limits, Refusal, ServerConnection, Step};
use http::{HeaderValue, Request, Response, StatusCode, header};

/// Answers one request. Must not panic; a panic ends only that connection's thread.
pub type Handler = dyn Fn(&Request<()>, &[u8]) -> Response<Vec<u8>> + Send + Sync;

/// Answers one request, with a body in memory or streamed.
pub type StreamingHandler = dyn Fn(&Request<()>, &[u8]) -> Response<Body> + Send + Sync;

/// Writes a streamed body to the sink it is given, piece by piece. An error ends
/// the answer: the connection is closed without the end of the chunked body, so
/// the client sees a cut-off answer, never a complete wrong one.
pub type BodyWriter = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

/// A response body.
pub enum Body {
    Full(Vec<u8>),
    Stream(BodyWriter),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Full(b) => write!(f, "Body::Full({} bytes)", b.len()),
            Body::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

/// A handler of whole responses as a streaming one.
fn full_bodies(handler: Arc<Handler>) -> Arc<StreamingHandler> {
    Arc::new(move |req: &Request<()>, body: &[u8]| handler(req, body).map(Body::Full))
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request head we buffer before refusing.
    pub max_head: usize,
    /// Largest request body we accept.
    pub max_body: usize,
    /// Idle time after which a connection is dropped.
    pub read_timeout: Duration,
    /// Requests handed to the handler whose answer is not yet written: a shutdown
    /// waits for this to reach zero.
    pub answering: Arc<AtomicUsize>,
}

/// Counts one request from hand-over to the last byte of its answer written, also
/// when writing fails.
pub struct Answering(Arc<AtomicUsize>);

impl Answering {
    pub fn start(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Answering(count.clone())
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_head: 64 * 1024,
            max_body: 64 * 1024 * 1024,
            read_timeout: Duration::from_secs(30),
            answering: Arc::new(AtomicUsize::new(0)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("request head larger than {0} bytes")]
    HeadTooLarge(usize),
    #[error("request body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("connection closed in the middle of a request")]
    Truncated,
}

/// A running server: its address, and the accept thread.
pub struct Server {
    addr: SocketAddr,
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Binds `addr` and serves in background threads; returns once listening.
pub fn spawn(addr: &str, config: ServerConfig, handler: Arc<Handler>) -> io::Result<Server> {
    spawn_streaming(addr, config, full_bodies(handler))
}

/// As [`spawn`], for a handler that may stream its answers.
pub fn spawn_streaming(
    addr: &str,
    config: ServerConfig,
    handler: Arc<StreamingHandler>,
) -> io::Result<Server> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new()
        .name("http-accept".into())
        .spawn(move || accept_loop_streaming(listener, config, handler))?;
    Ok(Server { addr: local })
}

/// Accepts forever on `listener`, one thread per connection.
pub fn accept_loop(listener: TcpListener, config: ServerConfig, handler: Arc<Handler>) {
    accept_loop_streaming(listener, config, full_bodies(handler));
}

/// As [`accept_loop`], for a handler that may stream its answers.
pub fn accept_loop_streaming(
    listener: TcpListener,
    config: ServerConfig,
    handler: Arc<StreamingHandler>,
) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let handler = handler.clone();
        let config = config.clone();
        let spawned = std::thread::Builder::new().name("http-conn".into()).spawn(move || {
            // Errors end the connection; there is nobody to report them to but the log.
            if let Err(e) = serve_connection(stream, &config, &*handler)
                && !matches!(e, ServerError::Io(_))
            {
                eprintln!("http: connection ended: {e}");
            }
        });
        if spawned.is_err() {
            eprintln!("http: could not start a connection thread");
        }
    }
}

/// Serves requests on one connection until the client or the protocol closes it.
/// The protocol is core's [`ServerConnection`]; this only moves bytes.
pub fn serve_connection(
    mut stream: TcpStream,
    config: &ServerConfig,
    handler: &StreamingHandler,
) -> Result<(), ServerError> {
    stream.set_read_timeout(Some(config.read_timeout))?;
    let mut conn =
        ServerConnection::new(Limits { max_head: config.max_head, max_body: config.max_body });
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
                let _answering = Answering::start(&config.answering);
                let (parts, body) = handler(&request, &body).into_parts();
                match body {
                    Body::Full(bytes) => conn.respond(Response::from_parts(parts, bytes)),
                    Body::Stream(produce) => {
                        if conn.respond_streaming(Response::from_parts(parts, ())) {
                            stream.write_all(&conn.take_output())?;
                            produce(&mut ChunkSink { conn: &mut conn, stream: &mut stream })?;
                            conn.finish_body();
                        }
                    }
                }
                stream.write_all(&conn.take_output())?;
                stream.flush()?;
            }
            Step::Close => {
                stream.flush()?;
                return match conn.refusal() {
                    None => Ok(()),
                    Some(Refusal::HeadTooLarge) => Err(ServerError::HeadTooLarge(config.max_head)),
                    Some(Refusal::BodyTooLarge) => Err(ServerError::BodyTooLarge(config.max_body)),
                    Some(Refusal::Truncated) => Err(ServerError::Truncated),
                    Some(Refusal::Unsendable) => {
                        Err(ServerError::Malformed("an answer could not be framed".into()))
                    }
                    Some(Refusal::Malformed(m)) => Err(ServerError::Malformed(m.clone())),
                };
            }
        }
    }
}

/// Frames what a streamed body writes and sends it on at once.
struct ChunkSink<'a> {
    conn: &'a mut ServerConnection,
    stream: &'a mut TcpStream,
}

impl Write for ChunkSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.conn.send_body(buf) {
            return Err(io::Error::other("the answer's body cannot be framed"));
        }
        self.stream.write_all(&self.conn.take_output())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// A response with a body and a content type.
pub fn response(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo() -> Arc<Handler> {
        Arc::new(|req: &Request<()>, body: &[u8]| {
            let text = format!("{} {} {}", req.method(), req.uri(), body.len());
            response(200, "text/plain", text.into_bytes())
        })
    }

    fn roundtrip(addr: SocketAddr, raw: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(raw).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_get_post_chunked_and_keep_alive() {
        let server = spawn("127.0.0.1:0", ServerConfig::default(), echo()).unwrap();
        let a = server.local_addr();
        let out = roundtrip(a, b"GET /x?y=1 HTTP/1.1\r\nhost: t\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("content-length: 12"), "{out}");
        assert!(out.ends_with("GET /x?y=1 0"), "{out}");

        let out = roundtrip(
            a,
            b"POST /p HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\nhelloGET /q HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        );
        assert!(out.contains("POST /p 5"), "{out}");
        assert!(out.contains("GET /q 0"), "{out}");

        let out = roundtrip(
            a,
            b"POST /c HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\nexpect: 100-continue\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        );
        assert!(out.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"), "{out}");
        assert!(out.ends_with("POST /c 3"), "{out}");
    }

    #[test]
    fn refuses_garbage_and_oversized_bodies() {
        let config = ServerConfig { max_body: 4, ..ServerConfig::default() };
        let server = spawn("127.0.0.1:0", config, echo()).unwrap();
        let a = server.local_addr();
        let out =
            roundtrip(a, b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n0123456789");
        assert!(out.starts_with("HTTP/1.1 413"), "{out}");
        // Not HTTP at all: the connection is dropped without an answer.
        let out = roundtrip(a, b"\x00\x01\x02 nonsense\r\n\r\n");
        assert!(!out.contains("200 OK"), "{out}");
        // A truncated head: refused, nothing served.
        let out = roundtrip(a, b"GET / HTTP/1.1\r\nhost");
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    }
    #[test]
    fn streamed_bodies_are_chunked_and_a_failed_one_is_cut_off() {
        let handler: Arc<StreamingHandler> = Arc::new(|req: &Request<()>, _: &[u8]| {
            let fail = req.uri().path() == "/fail";
            Response::new(Body::Stream(Box::new(move |out: &mut dyn Write| {
                out.write_all(b"abc")?;
                if fail {
                    return Err(io::Error::other("the source broke"));
                }
                out.write_all(b"defg")
            })))
        });
        let server = spawn_streaming("127.0.0.1:0", ServerConfig::default(), handler).unwrap();
        let a = server.local_addr();
        let out = roundtrip(a, b"GET /ok HTTP/1.1\r\nhost: t\r\n\r\nGET /ok HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
        assert_eq!(out.matches("transfer-encoding: chunked").count(), 2, "{out}");
        assert_eq!(out.matches("\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n").count(), 2, "{out}");
        let out = roundtrip(
            a,
            b"GET /fail HTTP/1.1\r\nhost: t\r\n\r\nGET /ok HTTP/1.1\r\nhost: t\r\n\r\n",
        );
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(
            out.ends_with("\r\n\r\n3\r\nabc\r\n"),
            "cut off, no end chunk, nothing after: {out}"
        );
    }
}
