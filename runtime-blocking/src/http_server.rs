//! A small blocking HTTP/1.1 server: one thread per connection, each running core's
//! HTTP framing over a `TcpStream`, in plain text or TLS.
//!
//! A [`Service`] answers the requests. It sees the head of a request with a body
//! before the body, and says how to take the body ([`BodyPlan`]): into memory up
//! to a limit, to a staging file as it arrives (an upload of any size then costs
//! a piece of memory), or not at all (a refusal). Its answers have a body either
//! in memory or produced while it is sent (chunked transfer coding), so that a
//! large answer such as a popped ASiC never has to be held whole either.

use std::io::{self, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use efm_core::http_framing::{Event, Limits, Refusal, ServerConnection, declared_length};
use http::{HeaderValue, Request, Response, StatusCode, header};

use crate::staged_body::StagedBody;
use crate::tls::TlsStream;

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

/// How to take the body of a request, decided from its head. One per request,
/// handed over at once: its size costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum BodyPlan {
    /// Answer at once without reading the body; the connection closes after.
    Answer(Response<Body>),
    /// Into memory, up to `limit` bytes.
    Memory { limit: usize },
    /// To this staging file, as it arrives, up to its limit.
    Stage(StagedBody),
}

/// A request's body as received, for [`Service::answer`]; one per request, as
/// [`BodyPlan`].
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Received {
    /// The whole body (empty for a request without one).
    Whole(Vec<u8>),
    /// The whole body, written to its staging file and closed.
    Staged(StagedBody),
    /// More than the [`BodyPlan::Memory`] limit: the rest is not read.
    TooLarge { limit: usize },
    /// More than the staged body's limit: `seen` bytes were counted (or declared,
    /// when `cut` is false and nothing was read), and the rest is not read.
    StagedTooLarge { body: StagedBody, seen: u64, cut: bool },
    /// The staging file could not be written.
    StagingFailed(String),
}

/// What a server serves.
pub trait Service: Send + Sync {
    /// How to take the body of `request`, which has one.
    fn plan(&self, request: &Request<()>) -> BodyPlan;
    /// The answer to `request`. After a refusal of the body (too large), the
    /// connection closes after the answer.
    fn answer(&self, request: &Request<()>, body: Received) -> Response<Body>;
}

/// A handler of whole requests as a [`Service`]: bodies in memory, up to a limit.
struct WholeBodies {
    handler: Arc<StreamingHandler>,
    max_body: usize,
}

impl Service for WholeBodies {
    fn plan(&self, _: &Request<()>) -> BodyPlan {
        BodyPlan::Memory { limit: self.max_body }
    }

    fn answer(&self, request: &Request<()>, body: Received) -> Response<Body> {
        match body {
            Received::Whole(bytes) => (self.handler)(request, &bytes),
            Received::TooLarge { .. } | Received::StagedTooLarge { .. } => {
                response(413, "text/plain", Vec::new()).map(Body::Full)
            }
            // This service stages nothing.
            Received::Staged(_) | Received::StagingFailed(_) => {
                response(500, "text/plain", Vec::new()).map(Body::Full)
            }
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
    /// Largest request body a handler of whole requests is given.
    pub max_body: usize,
    /// Idle time after which a connection is dropped.
    pub read_timeout: Duration,
    /// Requests handed to the handler whose answer is not yet written: a shutdown
    /// waits for this to reach zero.
    pub answering: Arc<AtomicUsize>,
    /// Serve HTTPS with this configuration; plain HTTP without.
    pub tls: Option<Arc<rustls::ServerConfig>>,
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
            tls: None,
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
    let service = Arc::new(WholeBodies { handler, max_body: config.max_body });
    spawn_service(addr, config, service)
}

/// As [`spawn`], for a [`Service`].
pub fn spawn_service(
    addr: &str,
    config: ServerConfig,
    service: Arc<dyn Service>,
) -> io::Result<Server> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new()
        .name("http-accept".into())
        .spawn(move || accept_loop_service(listener, config, service))?;
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
    let service = Arc::new(WholeBodies { handler, max_body: config.max_body });
    accept_loop_service(listener, config, service);
}

/// As [`accept_loop`], for a [`Service`].
pub fn accept_loop_service(listener: TcpListener, config: ServerConfig, service: Arc<dyn Service>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let service = service.clone();
        let config = config.clone();
        let spawned = std::thread::Builder::new().name("http-conn".into()).spawn(move || {
            // Errors end the connection; there is nobody to report them to but the log.
            if let Err(e) = serve_socket(stream, &config, &*service)
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

/// A connection's socket: plain, or TLS over it.
pub enum Socket {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Socket {
    fn tcp(&self) -> &TcpStream {
        match self {
            Socket::Plain(s) => s,
            Socket::Tls(t) => t.tcp(),
        }
    }

    /// Close after an answer while the client may still be sending (see
    /// [`ServerConnection::lingers`]): say we are done, then read and discard
    /// what comes, for a little while, so that the answer is not lost to a reset.
    fn linger(&mut self) {
        if let Socket::Tls(t) = self {
            let _ = t.close();
        }
        let tcp = self.tcp();
        let _ = tcp.shutdown(std::net::Shutdown::Write);
        let _ = tcp.set_read_timeout(Some(LINGER_IDLE));
        let until = Instant::now() + LINGER;
        let mut sink = [0u8; 16 * 1024];
        let mut tcp = tcp;
        while Instant::now() < until {
            match tcp.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

/// How long a lingering close reads at most, and how long it waits for a byte.
const LINGER: Duration = Duration::from_secs(5);
const LINGER_IDLE: Duration = Duration::from_secs(1);

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Plain(s) => s.read(buf),
            Socket::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Plain(s) => s.write(buf),
            Socket::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Socket::Plain(s) => s.flush(),
            Socket::Tls(t) => t.flush(),
        }
    }
}

/// Serve one accepted connection, in TLS if the configuration says so.
fn serve_socket(
    stream: TcpStream,
    config: &ServerConfig,
    service: &dyn Service,
) -> Result<(), ServerError> {
    stream.set_read_timeout(Some(config.read_timeout))?;
    // An answer goes out as a head and then its body (streamed ones in pieces): with
    // Nagle's algorithm the body's last small write waits for the client's delayed
    // ACK, some 40 ms per answer. Each write here is a whole piece, so send at once.
    stream.set_nodelay(true)?;
    let mut socket = match &config.tls {
        None => Socket::Plain(stream),
        Some(tls) => Socket::Tls(Box::new(TlsStream::new(tls.clone(), stream)?)),
    };
    serve_connection(&mut socket, config, service)
}

/// Serves requests on one connection until the client or the protocol closes it.
/// The protocol is core's [`ServerConnection`]; this moves bytes, and writes
/// staged bodies.
pub fn serve_connection(
    socket: &mut Socket,
    config: &ServerConfig,
    service: &dyn Service,
) -> Result<(), ServerError> {
    let mut conn =
        ServerConnection::new(Limits { max_head: config.max_head, max_body: config.max_body });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let event = conn.poll();
        send_output(&mut conn, socket)?;
        let (request, received, _answering) = match event {
            Event::NeedInput => {
                let n = socket.read(&mut buf)?;
                conn.receive(&buf[..n]);
                continue;
            }
            Event::Request(request) => {
                let answering = Answering::start(&config.answering);
                (request, Received::Whole(Vec::new()), answering)
            }
            Event::Head(request) => {
                let answering = Answering::start(&config.answering);
                let received = match service.plan(&request) {
                    BodyPlan::Answer(r) => {
                        send_answer(&mut conn, socket, r)?;
                        continue;
                    }
                    BodyPlan::Memory { limit } => {
                        read_whole(&mut conn, socket, &mut buf, &request, limit)?
                    }
                    BodyPlan::Stage(staged) => {
                        read_staged(&mut conn, socket, &mut buf, &request, staged)?
                    }
                };
                // None: the connection ended in the middle of the body.
                let Some(received) = received else { continue };
                (request, received, answering)
            }
            Event::Body(_) | Event::BodyEnd => {
                return Err(ServerError::Malformed("a body outside its request".into()));
            }
            Event::Close => {
                socket.flush()?;
                if conn.lingers() {
                    socket.linger();
                }
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
        };
        let response = service.answer(&request, received);
        send_answer(&mut conn, socket, response)?;
    }
}

fn send_output(conn: &mut ServerConnection, socket: &mut Socket) -> io::Result<()> {
    let out = conn.take_output();
    if !out.is_empty() {
        socket.write_all(&out)?;
    }
    Ok(())
}

/// Read a body into memory, up to `limit` bytes. `None` if the connection ended
/// first.
fn read_whole(
    conn: &mut ServerConnection,
    socket: &mut Socket,
    buf: &mut [u8],
    request: &Request<()>,
    limit: usize,
) -> io::Result<Option<Received>> {
    let max = u64::try_from(limit).unwrap_or(u64::MAX);
    if declared_length(request).is_some_and(|n| n > max) {
        return Ok(Some(Received::TooLarge { limit }));
    }
    conn.read_body();
    let mut body = Vec::new();
    loop {
        let event = conn.poll();
        send_output(conn, socket)?;
        match event {
            Event::NeedInput => {
                let n = socket.read(buf)?;
                conn.receive(buf.get(..n).unwrap_or_default());
            }
            Event::Body(piece) => {
                body.extend_from_slice(&piece);
                if body.len() > limit {
                    return Ok(Some(Received::TooLarge { limit }));
                }
            }
            Event::BodyEnd => return Ok(Some(Received::Whole(body))),
            Event::Request(_) | Event::Head(_) | Event::Close => return Ok(None),
        }
    }
}

/// How much of a staged body is gathered before it is written.
const STAGING_BUFFER: usize = 256 * 1024;

/// Write a body to its staging file as it arrives, up to its limit. `None` if the
/// connection ended first (the staged file goes with `staged`).
fn read_staged(
    conn: &mut ServerConnection,
    socket: &mut Socket,
    buf: &mut [u8],
    request: &Request<()>,
    mut staged: StagedBody,
) -> io::Result<Option<Received>> {
    if let Some(declared) = declared_length(request).filter(|n| *n > staged.limit()) {
        return Ok(Some(Received::StagedTooLarge { body: staged, seen: declared, cut: false }));
    }
    let mut file = match std::fs::File::create(staged.path()) {
        Ok(f) => BufWriter::with_capacity(STAGING_BUFFER, f),
        Err(e) => return Ok(Some(staging_failed(&staged, &e))),
    };
    conn.read_body();
    loop {
        let event = conn.poll();
        send_output(conn, socket)?;
        match event {
            Event::NeedInput => {
                let n = socket.read(buf)?;
                conn.receive(buf.get(..n).unwrap_or_default());
            }
            Event::Body(piece) => {
                if let Err(over) = staged.take(&piece) {
                    return Ok(Some(Received::StagedTooLarge {
                        body: staged,
                        seen: over.seen,
                        cut: true,
                    }));
                }
                if let Err(e) = file.write_all(&piece) {
                    return Ok(Some(staging_failed(&staged, &e)));
                }
            }
            Event::BodyEnd => {
                return Ok(Some(match file.into_inner().map_err(|e| e.into_error()) {
                    Ok(_closed) => Received::Staged(staged),
                    Err(e) => staging_failed(&staged, &e),
                }));
            }
            Event::Request(_) | Event::Head(_) | Event::Close => return Ok(None),
        }
    }
}

fn staging_failed(staged: &StagedBody, e: &io::Error) -> Received {
    Received::StagingFailed(format!("{}: {e}", staged.path().display()))
}

/// Send an answer, in memory or streamed.
fn send_answer(
    conn: &mut ServerConnection,
    socket: &mut Socket,
    response: Response<Body>,
) -> io::Result<()> {
    let (parts, body) = response.into_parts();
    match body {
        Body::Full(bytes) => conn.respond(Response::from_parts(parts, bytes)),
        Body::Stream(produce) => {
            if conn.respond_streaming(Response::from_parts(parts, ())) {
                socket.write_all(&conn.take_output())?;
                produce(&mut ChunkSink { conn, socket })?;
                conn.finish_body();
            }
        }
    }
    socket.write_all(&conn.take_output())?;
    socket.flush()
}

/// Frames what a streamed body writes and sends it on at once.
struct ChunkSink<'a> {
    conn: &'a mut ServerConnection,
    socket: &'a mut Socket,
}

impl Write for ChunkSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.conn.send_body(buf) {
            return Err(io::Error::other("the answer's body cannot be framed"));
        }
        self.socket.write_all(&self.conn.take_output())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
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
