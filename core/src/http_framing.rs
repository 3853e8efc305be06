//! HTTP/1.1 server framing as a state machine: bytes in, requests out, responses in,
//! bytes out. Both runtimes run the same connection logic over their own sockets
//! (a thread with `std::net`, a task with `smol::net`) by shuttling bytes; none of
//! the protocol lives in a runtime. Built on `ureq-proto`'s sans-IO server states.
//!
//! Two ways to take requests. [`ServerConnection::step`] hands out each request
//! with its whole body in memory, up to [`Limits::max_body`]: enough for small
//! services. [`ServerConnection::poll`] hands out the head of a request with a body
//! first ([`Event::Head`]), so that the runtime can decide from it what to do with
//! the body: answer at once without reading it (a refusal, which closes the
//! connection), or [`read_body`](ServerConnection::read_body) and take it piece by
//! piece ([`Event::Body`]), writing it to disk as it comes, so that a body of any
//! size costs a piece of memory. A client that sent `Expect: 100-continue` is only
//! told to go on once the runtime reads the body.

use http::{HeaderValue, Request, Response, StatusCode, header};
use ureq_proto::server::state::{
    Cleanup, ProvideResponse, RecvBody, RecvRequest, Send100, SendBody,
};
use ureq_proto::server::{RecvRequestResult, Reply, SendResponseResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head buffered before refusing with 431.
    pub max_head: usize,
    /// Largest request body [`ServerConnection::step`] takes before refusing with
    /// 413. [`ServerConnection::poll`] leaves the limit to the runtime.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_head: 64 * 1024, max_body: 64 * 1024 * 1024 }
    }
}

/// The most decoded body bytes one [`Event::Body`] carries.
pub const BODY_PIECE: usize = 64 * 1024;

/// What the connection needs from its runtime next. A `Step` is handed over and
/// consumed at once, so the size of its request variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Step {
    /// Read from the socket and `receive` the bytes (an empty slice at end of stream).
    NeedInput,
    /// A whole request: answer it with `respond`.
    Request(Request<()>, Vec<u8>),
    /// Write what `take_output` holds, then close the socket.
    Close,
}

/// What [`ServerConnection::poll`] has for its runtime.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Event {
    /// Read from the socket and `receive` the bytes (an empty slice at end of stream).
    NeedInput,
    /// A request without a body: answer it with `respond`.
    Request(Request<()>),
    /// The head of a request with a body. Either [`read_body`](ServerConnection::read_body)
    /// (the body then comes as [`Event::Body`] pieces and an [`Event::BodyEnd`]) or
    /// answer at once with `respond`, which closes the connection after the answer.
    Head(Request<()>),
    /// The next piece of the body, decoded (no chunk framing), at most [`BODY_PIECE`]
    /// bytes. The runtime may answer with `respond` between pieces, which stops
    /// reading and closes the connection after the answer.
    Body(Vec<u8>),
    /// The body is complete: answer the request with `respond`.
    BodyEnd,
    /// Write what `take_output` holds, then close the socket (lingering first if
    /// [`lingers`](ServerConnection::lingers)).
    Close,
}

/// Why a connection ended early; the answer that says so is already in the output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    Malformed(String),
    HeadTooLarge,
    BodyTooLarge,
    Truncated,
    /// Our own answer could not be framed.
    Unsendable,
}

/// A body the runtime has not (fully) read yet.
enum Unread {
    /// The client waits for `100 Continue` before sending it.
    Expecting(Reply<Send100>),
    Body(Reply<RecvBody>),
}

// One per connection; boxing the request-carrying state would buy nothing.
#[allow(clippy::large_enum_variant)]
enum State {
    RecvRequest(Reply<RecvRequest>),
    /// A head with a body was handed out; `read_body` or `respond` must come next.
    Decide(Unread),
    /// The body is being read.
    RecvBody(Reply<RecvBody>),
    /// A request was handed out; `respond` must come next.
    Respond(Reply<ProvideResponse>),
    /// A streamed body is being sent.
    SendBody(Reply<SendBody>),
    Closed,
}

/// Where sending a response head left the answer.
enum Head {
    /// The body comes next.
    Body(Reply<SendBody>),
    /// The answer has no body and is complete.
    Done(Reply<Cleanup>),
    /// Nothing could be sent (or a refusal was).
    Failed,
}

/// Frame `input` (empty: the end of the body) into `output`.
fn write_body(b: &mut Reply<SendBody>, input: &[u8], output: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 16 * 1024];
    if input.is_empty() {
        return match b.write(&[], &mut buf) {
            Ok((_, n)) => {
                output.extend_from_slice(buf.get(..n).unwrap_or_default());
                true
            }
            Err(_) => false,
        };
    }
    let mut pos = 0;
    while pos < input.len() {
        match b.write(input.get(pos..).unwrap_or_default(), &mut buf) {
            // No progress would loop forever: the framing takes no more.
            Ok((0, 0)) | Err(_) => return false,
            Ok((used, n)) => {
                pos += used;
                output.extend_from_slice(buf.get(..n).unwrap_or_default());
            }
        }
    }
    true
}

/// The body length a request declares with `Content-Length`, if it does (and is
/// not chunked, where the length would not count).
pub fn declared_length(request: &Request<()>) -> Option<u64> {
    if request.headers().contains_key(header::TRANSFER_ENCODING) {
        return None;
    }
    request.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

pub struct ServerConnection {
    state: State,
    input: Vec<u8>,
    output: Vec<u8>,
    limits: Limits,
    eof: bool,
    refusal: Option<Refusal>,
    /// The request whose body [`step`](Self::step) is gathering, and the body so far.
    gathering: Option<(Request<()>, Vec<u8>)>,
    /// Where body pieces are decoded before they are handed out.
    scratch: Vec<u8>,
    /// Closing while the client may still be sending: see [`lingers`](Self::lingers).
    linger: bool,
}

impl ServerConnection {
    pub fn new(limits: Limits) -> Self {
        let state = Reply::new().map(State::RecvRequest).unwrap_or(State::Closed);
        ServerConnection {
            state,
            input: Vec::new(),
            output: Vec::new(),
            limits,
            eof: false,
            refusal: None,
            gathering: None,
            scratch: Vec::new(),
            linger: false,
        }
    }

    /// Bytes read from the socket; an empty slice means the peer closed its side.
    pub fn receive(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            self.eof = true;
        }
        self.input.extend_from_slice(bytes);
    }

    /// Bytes to write to the socket (a `100 Continue`, responses, refusals).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Why the connection was refused, if it was.
    pub fn refusal(&self) -> Option<&Refusal> {
        self.refusal.as_ref()
    }

    /// Whether the connection closes with a request body not read to its end, so
    /// that the client may still be sending. Closing a socket with unread input
    /// makes the operating system reset the connection, and a client that is still
    /// writing may then never read the answer. A runtime that sees this shuts down
    /// its writing side after the answer and reads and discards what comes, for a
    /// short while, before it closes (as web servers call "lingering close").
    pub fn lingers(&self) -> bool {
        self.linger && !self.eof
    }

    /// The next request with its whole body (up to [`Limits::max_body`]). Use either
    /// this or [`poll`](Self::poll) on a connection, not both.
    pub fn step(&mut self) -> Step {
        loop {
            match self.poll() {
                Event::NeedInput => return Step::NeedInput,
                Event::Close => return Step::Close,
                Event::Request(request) => return Step::Request(request, Vec::new()),
                Event::Head(request) => {
                    // A declared length over the limit is refused before the client
                    // is told to send the body.
                    let max = u64::try_from(self.limits.max_body).unwrap_or(u64::MAX);
                    if declared_length(&request).is_some_and(|n| n > max) {
                        self.refuse(413, Refusal::BodyTooLarge);
                        return Step::Close;
                    }
                    self.gathering = Some((request, Vec::new()));
                    self.read_body();
                }
                Event::Body(piece) => {
                    let Some((_, body)) = self.gathering.as_mut() else {
                        // Only a runtime mixing `poll` and `step` gets here.
                        self.refuse(500, Refusal::Unsendable);
                        return Step::Close;
                    };
                    body.extend_from_slice(&piece);
                    if body.len() > self.limits.max_body {
                        self.gathering = None;
                        self.refuse(413, Refusal::BodyTooLarge);
                        return Step::Close;
                    }
                }
                Event::BodyEnd => {
                    let Some((request, body)) = self.gathering.take() else {
                        self.refuse(500, Refusal::Unsendable);
                        return Step::Close;
                    };
                    return Step::Request(request, body);
                }
            }
        }
    }

    /// The next thing the runtime must do: see [`Event`].
    pub fn poll(&mut self) -> Event {
        loop {
            match std::mem::replace(&mut self.state, State::Closed) {
                State::Closed => return Event::Close,
                // Answering (or deciding about a body) comes before reading more: a
                // runtime that polls again without doing so gets nothing new.
                s @ (State::Respond(_) | State::SendBody(_) | State::Decide(_)) => {
                    self.state = s;
                    return Event::NeedInput;
                }
                State::RecvRequest(mut r) => {
                    let (used, request) = match r.try_request(&self.input) {
                        Ok(x) => x,
                        Err(e) => {
                            self.refuse(400, Refusal::Malformed(e.to_string()));
                            return Event::Close;
                        }
                    };
                    let Some(request) = request else {
                        if self.input.len() > self.limits.max_head {
                            self.refuse(431, Refusal::HeadTooLarge);
                            return Event::Close;
                        }
                        if self.eof {
                            // A clean close between requests is no refusal.
                            if !self.input.is_empty() {
                                self.refuse(400, Refusal::Truncated);
                            }
                            return Event::Close;
                        }
                        self.state = State::RecvRequest(r);
                        return Event::NeedInput;
                    };
                    self.input.drain(..used);
                    match r.proceed() {
                        None => {
                            self.refuse(400, Refusal::Truncated);
                            return Event::Close;
                        }
                        Some(RecvRequestResult::ProvideResponse(p)) => {
                            self.state = State::Respond(p);
                            return Event::Request(request);
                        }
                        Some(RecvRequestResult::Send100(s)) => {
                            self.state = State::Decide(Unread::Expecting(s));
                            return Event::Head(request);
                        }
                        Some(RecvRequestResult::RecvBody(b)) => {
                            self.state = State::Decide(Unread::Body(b));
                            return Event::Head(request);
                        }
                    }
                }
                State::RecvBody(b) => {
                    if let Some(event) = self.read_piece(b) {
                        return event;
                    }
                }
            }
        }
    }

    /// Decode what input there is of the body: a piece, its end, a wait for more,
    /// or a refusal; `None` to look at the state again.
    fn read_piece(&mut self, mut b: Reply<RecvBody>) -> Option<Event> {
        if b.is_ended() {
            return Some(match b.proceed() {
                Ok(p) => {
                    self.state = State::Respond(p);
                    Event::BodyEnd
                }
                Err(e) => {
                    self.refuse(400, Refusal::Malformed(e.to_string()));
                    Event::Close
                }
            });
        }
        self.scratch.resize(BODY_PIECE, 0);
        let mut filled = 0;
        while filled < BODY_PIECE && !b.is_ended() {
            let out = self.scratch.get_mut(filled..).unwrap_or_default();
            let (used, n) = match b.read(&self.input, out) {
                Ok(x) => x,
                Err(e) => {
                    self.refuse(400, Refusal::Malformed(e.to_string()));
                    return Some(Event::Close);
                }
            };
            self.input.drain(..used);
            filled += n;
            if used == 0 && n == 0 {
                break;
            }
        }
        let ended = b.is_ended();
        self.state = State::RecvBody(b);
        if filled > 0 {
            return Some(Event::Body(self.scratch.get(..filled).unwrap_or_default().to_vec()));
        }
        if ended {
            return None;
        }
        if self.eof {
            self.refuse(400, Refusal::Truncated);
            return Some(Event::Close);
        }
        Some(Event::NeedInput)
    }

    /// Take the body of the request [`Event::Head`] handed out: tell a client that
    /// waits for it to go on, and hand out the body as it comes.
    pub fn read_body(&mut self) {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Decide(Unread::Body(b)) => self.state = State::RecvBody(b),
            State::Decide(Unread::Expecting(s)) => {
                let mut buf = [0u8; 64];
                match s.accept(&mut buf) {
                    Ok((n, b)) => {
                        self.output.extend_from_slice(buf.get(..n).unwrap_or_default());
                        self.state = State::RecvBody(b);
                    }
                    Err(e) => self.refuse(500, Refusal::Malformed(e.to_string())),
                }
            }
            // No body waits for a decision: nothing to do.
            other => self.state = other,
        }
    }

    /// Answer the request `step` or `poll` handed out. The body is sent with a known
    /// length. Before the request's body has been read to its end (after
    /// [`Event::Head`] or between [`Event::Body`] pieces), the answer says
    /// `connection: close` and the connection closes after it: the rest of the body
    /// is not read.
    pub fn respond(&mut self, response: Response<Vec<u8>>) {
        if matches!(self.state, State::Decide(_) | State::RecvBody(_)) {
            return self.answer_early(response);
        }
        let (mut parts, payload) = response.into_parts();
        parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(payload.len()));
        let mut b = match self.send_head(Response::from_parts(parts, ())) {
            Head::Body(b) => b,
            Head::Done(cleanup) => return self.cleanup(&cleanup),
            Head::Failed => return,
        };
        if write_body(&mut b, &payload, &mut self.output)
            && write_body(&mut b, &[], &mut self.output)
        {
            self.finished(b);
        }
    }

    /// An answer while the body is unread. The protocol state can frame an answer
    /// only after the body, so this one is framed here: a status line, the headers,
    /// the length, `connection: close`.
    fn answer_early(&mut self, response: Response<Vec<u8>>) {
        let (parts, payload) = response.into_parts();
        let status = parts.status;
        if status.is_informational() {
            // Not an answer that ends a request: a bug on our side.
            return self.refuse(500, Refusal::Unsendable);
        }
        let reason = status.canonical_reason().unwrap_or("Error");
        let mut out = format!("HTTP/1.1 {} {reason}\r\n", status.as_u16()).into_bytes();
        for (name, value) in &parts.headers {
            if name == header::CONTENT_LENGTH
                || name == header::TRANSFER_ENCODING
                || name == header::CONNECTION
            {
                continue;
            }
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let bodiless = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
        if !bodiless {
            out.extend_from_slice(format!("content-length: {}\r\n", payload.len()).as_bytes());
        }
        out.extend_from_slice(b"connection: close\r\n\r\n");
        if !bodiless {
            out.extend_from_slice(&payload);
        }
        self.output.extend_from_slice(&out);
        self.state = State::Closed;
        self.linger = true;
    }

    /// Answer the request `step` or `poll` handed out with a body sent as it is produced
    /// (chunked transfer coding): the head goes to the output now, then each
    /// [`send_body`](Self::send_body) adds a piece and
    /// [`finish_body`](Self::finish_body) ends it. If the body cannot be finished
    /// (the source failed), the runtime closes the connection instead: the client
    /// sees a cut-off answer, never a complete wrong one. False when there is no
    /// body to stream (the answer is complete, or was refused).
    pub fn respond_streaming(&mut self, head: Response<()>) -> bool {
        let (mut parts, ()) = head.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        match self.send_head(Response::from_parts(parts, ())) {
            Head::Body(b) => {
                self.state = State::SendBody(b);
                true
            }
            Head::Done(cleanup) => {
                self.cleanup(&cleanup);
                false
            }
            Head::Failed => false,
        }
    }

    /// A piece of a streamed body, framed into the output. False when no streamed
    /// answer is under way (a runtime bug) or the piece cannot be framed.
    pub fn send_body(&mut self, data: &[u8]) -> bool {
        if data.is_empty() {
            return matches!(self.state, State::SendBody(_));
        }
        let State::SendBody(b) = &mut self.state else {
            return false;
        };
        if write_body(b, data, &mut self.output) {
            true
        } else {
            self.state = State::Closed;
            false
        }
    }

    /// End a streamed body; the connection then takes the next request.
    pub fn finish_body(&mut self) {
        let State::SendBody(mut b) = std::mem::replace(&mut self.state, State::Closed) else {
            return;
        };
        if write_body(&mut b, &[], &mut self.output) {
            self.finished(b);
        }
    }

    /// Frame and queue the response head.
    fn send_head(&mut self, head: Response<()>) -> Head {
        let State::Respond(p) = std::mem::replace(&mut self.state, State::Closed) else {
            // No request is waiting for an answer: a runtime bug. Close rather than
            // send a response nobody asked for.
            return Head::Failed;
        };
        // A response the framing cannot send (a body on a 204, say) is a bug on our
        // side: answer 500 and close rather than leave the client without an answer.
        let Ok(mut sending) = p.provide(head) else {
            self.refuse(500, Refusal::Unsendable);
            return Head::Failed;
        };
        let mut buf = vec![0u8; 16 * 1024];
        while !sending.is_finished() {
            match sending.write(&mut buf) {
                Ok(n) => self.output.extend_from_slice(&buf[..n]),
                Err(_) => return Head::Failed,
            }
        }
        match sending.proceed() {
            SendResponseResult::Cleanup(c) => Head::Done(c),
            SendResponseResult::SendBody(b) => Head::Body(b),
        }
    }

    /// The body is complete: on to the next request, unless the connection must close.
    fn finished(&mut self, b: Reply<SendBody>) {
        if b.is_finished() {
            self.cleanup(&b.proceed());
        }
    }

    fn cleanup(&mut self, c: &Reply<Cleanup>) {
        if !c.must_close_connection()
            && let Ok(r) = Reply::new()
        {
            self.state = State::RecvRequest(r);
        }
    }

    /// Answer with `status` and no body, and close.
    fn refuse(&mut self, status: u16, why: Refusal) {
        let reason =
            StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
        self.output.extend_from_slice(
            format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        );
        // The client may still be sending what we refused to read.
        self.linger = matches!(why, Refusal::HeadTooLarge | Refusal::BodyTooLarge);
        self.refusal = Some(why);
        self.state = State::Closed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `input` in pieces of `piece` bytes; answer each request with its method,
    /// path and body length. Returns everything written.
    fn converse(input: &[u8], piece: usize, limits: Limits) -> (String, Option<Refusal>) {
        let mut c = ServerConnection::new(limits);
        let mut rest = input;
        let mut out = Vec::new();
        loop {
            match c.step() {
                Step::NeedInput => {
                    let n = piece.min(rest.len());
                    c.receive(&rest[..n]);
                    rest = &rest[n..];
                }
                Step::Request(req, body) => {
                    let text = format!("{} {} {}", req.method(), req.uri(), body.len());
                    c.respond(Response::new(text.into_bytes()));
                }
                Step::Close => {
                    out.extend(c.take_output());
                    return (String::from_utf8_lossy(&out).into_owned(), c.refusal().cloned());
                }
            }
            out.extend(c.take_output());
        }
    }

    #[test]
    fn keep_alive_pipelining_chunked_and_continue_in_any_split() {
        let input = b"GET /a HTTP/1.1\r\nhost: t\r\n\r\n\
POST /b HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\nhello\
POST /c HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
PUT /d HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi";
        for piece in [1, 3, 7, 64, 4096] {
            let (out, refusal) = converse(input, piece, Limits::default());
            assert_eq!(refusal, None, "piece {piece}");
            for expected in ["GET /a 0", "POST /b 5", "POST /c 3", "PUT /d 2", "100 Continue"] {
                assert!(out.contains(expected), "piece {piece}: {expected} missing from {out}");
            }
            assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 4, "piece {piece}");
        }
    }

    #[test]
    fn refusals() {
        let small = Limits { max_head: 64, max_body: 4 };
        let (out, r) = converse(
            b"POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n0123456789",
            1024,
            small,
        );
        assert_eq!(r, Some(Refusal::BodyTooLarge));
        assert!(out.starts_with("HTTP/1.1 413"), "{out}");
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(200));
        let (out, r) = converse(long.as_bytes(), 16, small);
        assert_eq!(r, Some(Refusal::HeadTooLarge));
        assert!(out.starts_with("HTTP/1.1 431"), "{out}");
        let (out, r) = converse(b"\x00\x01garbage\r\n\r\n", 1024, Limits::default());
        assert!(matches!(r, Some(Refusal::Malformed(_))), "{r:?}");
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        let (_, r) = converse(
            b"POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n01",
            1024,
            Limits::default(),
        );
        assert_eq!(r, Some(Refusal::Truncated));
        let (out, r) = converse(b"", 1024, Limits::default());
        assert_eq!((out.as_str(), r), ("", None), "a silent close is no error");
    }

    /// Drive `poll` over `input` fed in pieces of `piece` bytes: each request is
    /// answered with its method, path and the length of its body, which is read
    /// whole unless `early` says to answer after that many body bytes.
    fn converse_polling(input: &[u8], piece: usize, early: Option<usize>) -> (String, bool) {
        let mut c = ServerConnection::new(Limits::default());
        let mut rest = input;
        let mut out = Vec::new();
        let mut current: Option<(String, usize)> = None;
        loop {
            match c.poll() {
                Event::NeedInput => {
                    let n = piece.min(rest.len());
                    c.receive(&rest[..n]);
                    rest = &rest[n..];
                }
                Event::Request(req) => {
                    c.respond(Response::new(format!("{} {} 0", req.method(), req.uri()).into()));
                }
                Event::Head(req) => {
                    current = Some((format!("{} {}", req.method(), req.uri()), 0));
                    if early == Some(0) {
                        c.respond(Response::new(b"early".to_vec()));
                    } else {
                        c.read_body();
                    }
                }
                Event::Body(b) => {
                    assert!(!b.is_empty() && b.len() <= BODY_PIECE);
                    let (_, seen) = current.as_mut().unwrap();
                    *seen += b.len();
                    if early.is_some_and(|e| *seen >= e) {
                        c.respond(Response::new(b"early".to_vec()));
                    }
                }
                Event::BodyEnd => {
                    let (what, seen) = current.take().unwrap();
                    c.respond(Response::new(format!("{what} {seen}").into_bytes()));
                }
                Event::Close => {
                    out.extend(c.take_output());
                    return (String::from_utf8_lossy(&out).into_owned(), c.lingers());
                }
            }
            out.extend(c.take_output());
        }
    }

    #[test]
    fn polling_hands_out_heads_then_bodies_in_pieces() {
        let big = vec![b'z'; 3 * BODY_PIECE + 7];
        let mut input = b"GET /a HTTP/1.1\r\nhost: t\r\n\r\n".to_vec();
        input.extend_from_slice(
            format!("PUT /big HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n", big.len())
                .as_bytes(),
        );
        input.extend_from_slice(&big);
        input.extend_from_slice(
            b"POST /c HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
POST /e HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n\
PUT /d HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi",
        );
        for piece in [1, 7, 1000, 70_000, 1 << 20] {
            let (out, lingers) = converse_polling(&input, piece, None);
            for expected in [
                "GET /a 0",
                &format!("PUT /big {}", big.len()),
                "POST /c 3",
                "POST /e 0",
                "PUT /d 2",
            ] {
                assert!(out.contains(expected), "piece {piece}: {expected} missing");
            }
            assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 5, "piece {piece}");
            assert_eq!(out.matches("100 Continue").count(), 1, "piece {piece}");
            assert!(!lingers, "everything was read");
        }
    }

    #[test]
    fn an_early_answer_closes_and_lingers() {
        // Refused at the head: a client waiting for 100 Continue never hears it.
        let input =
            b"PUT /x HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 9\r\n\r\n";
        let (out, lingers) = converse_polling(input, 1024, Some(0));
        assert!(!out.contains("100 Continue"), "{out}");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("connection: close\r\n"), "{out}");
        assert!(out.ends_with("content-length: 5\r\nconnection: close\r\n\r\nearly"), "{out}");
        assert!(lingers, "the client may be sending the body");
        // Refused in the middle of the body: the rest is not read, nothing follows.
        let mut input =
            format!("PUT /x HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n", 4 * BODY_PIECE)
                .into_bytes();
        input.extend(vec![b'a'; 4 * BODY_PIECE]);
        input.extend_from_slice(b"GET /next HTTP/1.1\r\nhost: t\r\n\r\n");
        for piece in [100, 16 * 1024] {
            let (out, lingers) = converse_polling(&input, piece, Some(BODY_PIECE));
            assert_eq!(out.matches("HTTP/1.1").count(), 1, "{out}");
            assert!(out.ends_with("\r\n\r\nearly") && lingers, "{out}");
        }
        // A body cut off by the client is refused as truncated.
        let mut c = ServerConnection::new(Limits::default());
        c.receive(b"PUT /x HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n0123");
        assert!(matches!(c.poll(), Event::Head(_)));
        c.read_body();
        assert!(matches!(c.poll(), Event::Body(b) if b == b"0123"));
        assert!(matches!(c.poll(), Event::NeedInput));
        c.receive(b"");
        assert!(matches!(c.poll(), Event::Close));
        assert_eq!((c.refusal(), c.lingers()), (Some(&Refusal::Truncated), false));
    }

    #[test]
    fn step_refuses_a_declared_length_over_the_limit_before_continuing() {
        let small = Limits { max_head: 1024, max_body: 4 };
        let (out, r) = converse(
            b"PUT /x HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n",
            1024,
            small,
        );
        assert_eq!(r, Some(Refusal::BodyTooLarge));
        assert!(out.starts_with("HTTP/1.1 413"), "{out}");
        assert!(!out.contains("100 Continue"), "{out}");
    }

    #[test]
    fn an_answer_that_cannot_be_framed_is_a_500() {
        let mut c = ServerConnection::new(Limits::default());
        c.receive(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n");
        let Step::Request(..) = c.step() else { panic!() };
        let mut r = Response::new(b"body".to_vec());
        *r.status_mut() = StatusCode::NO_CONTENT;
        c.respond(r);
        let out = String::from_utf8(c.take_output()).unwrap();
        assert!(out.starts_with("HTTP/1.1 500"), "{out}");
        assert_eq!(c.refusal(), Some(&Refusal::Unsendable));
    }
    #[test]
    fn a_streamed_body_is_chunked_and_the_connection_goes_on() {
        let mut c = ServerConnection::new(Limits::default());
        c.receive(b"GET /a HTTP/1.1\r\nhost: t\r\n\r\nGET /b HTTP/1.1\r\nhost: t\r\n\r\n");
        assert!(!c.send_body(b"early"), "no answer is under way yet");
        let Step::Request(..) = c.step() else { panic!() };
        let mut head = Response::new(());
        head.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(99));
        assert!(c.respond_streaming(head));
        // Asking for the next request mid-answer gives nothing new.
        assert!(matches!(c.step(), Step::NeedInput));
        assert!(c.send_body(b"hello "));
        assert!(c.send_body(b""));
        assert!(c.send_body(b"world"));
        c.finish_body();
        let out = String::from_utf8(c.take_output()).unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("transfer-encoding: chunked\r\n"), "{out}");
        assert!(!out.contains("content-length"), "a length would contradict the chunks: {out}");
        assert!(out.ends_with("\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"), "{out}");
        let Step::Request(req, _) = c.step() else { panic!("the next request") };
        assert_eq!(req.uri(), "/b");
        c.respond(Response::new(b"x".to_vec()));
        assert!(
            String::from_utf8(c.take_output()).unwrap().ends_with("content-length: 1\r\n\r\nx")
        );
        assert!(!c.send_body(b"late"), "the streamed answer is over");
    }

    #[test]
    fn a_large_streamed_piece_is_framed_whole() {
        let mut c = ServerConnection::new(Limits::default());
        c.receive(b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
        let Step::Request(..) = c.step() else { panic!() };
        assert!(c.respond_streaming(Response::new(())));
        let piece: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        assert!(c.send_body(&piece));
        c.finish_body();
        let out = c.take_output();
        let body_at = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        // Undo the chunking and compare.
        let mut rest = &out[body_at..];
        let mut body = Vec::new();
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let n =
                usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
            rest = &rest[line_end + 2..];
            if n == 0 {
                break;
            }
            body.extend_from_slice(&rest[..n]);
            rest = &rest[n + 2..];
        }
        assert_eq!(body, piece);
        assert!(matches!(c.step(), Step::Close), "connection: close is honoured");
    }
}
