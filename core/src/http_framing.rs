//! HTTP/1.1 server framing as a state machine: bytes in, requests out, responses in,
//! bytes out. Both runtimes run the same connection logic over their own sockets
//! (a thread with `std::net`, a task with `smol::net`) by shuttling bytes; none of
//! the protocol lives in a runtime. Built on `ureq-proto`'s sans-IO server states.

use http::{HeaderValue, Request, Response, StatusCode, header};
use ureq_proto::server::state::{Cleanup, ProvideResponse, RecvBody, RecvRequest, SendBody};
use ureq_proto::server::{RecvRequestResult, Reply, SendResponseResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head buffered before refusing with 431.
    pub max_head: usize,
    /// Largest request body accepted before refusing with 413.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_head: 64 * 1024, max_body: 64 * 1024 * 1024 }
    }
}

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

// One per connection; boxing the request-carrying state would buy nothing.
#[allow(clippy::large_enum_variant)]
enum State {
    RecvRequest(Reply<RecvRequest>),
    RecvBody(Reply<RecvBody>, Request<()>, Vec<u8>),
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

pub struct ServerConnection {
    state: State,
    input: Vec<u8>,
    output: Vec<u8>,
    limits: Limits,
    eof: bool,
    refusal: Option<Refusal>,
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

    pub fn step(&mut self) -> Step {
        loop {
            match std::mem::replace(&mut self.state, State::Closed) {
                State::Closed => return Step::Close,
                // Answering comes before reading more: a runtime that calls `step`
                // again without `respond` gets nothing new.
                State::Respond(p) => {
                    self.state = State::Respond(p);
                    return Step::NeedInput;
                }
                State::SendBody(b) => {
                    self.state = State::SendBody(b);
                    return Step::NeedInput;
                }
                State::RecvRequest(mut r) => {
                    let (used, request) = match r.try_request(&self.input) {
                        Ok(x) => x,
                        Err(e) => return self.refuse(400, Refusal::Malformed(e.to_string())),
                    };
                    let Some(request) = request else {
                        if self.input.len() > self.limits.max_head {
                            return self.refuse(431, Refusal::HeadTooLarge);
                        }
                        if self.eof {
                            // A clean close between requests is no refusal.
                            return if self.input.is_empty() {
                                Step::Close
                            } else {
                                self.refuse(400, Refusal::Truncated)
                            };
                        }
                        self.state = State::RecvRequest(r);
                        return Step::NeedInput;
                    };
                    self.input.drain(..used);
                    match r.proceed() {
                        None => return self.refuse(400, Refusal::Truncated),
                        Some(RecvRequestResult::ProvideResponse(p)) => {
                            self.state = State::Respond(p);
                            return Step::Request(request, Vec::new());
                        }
                        Some(RecvRequestResult::Send100(s)) => {
                            let mut buf = [0u8; 256];
                            match s.accept(&mut buf) {
                                Ok((n, b)) => {
                                    self.output.extend_from_slice(&buf[..n]);
                                    self.state = State::RecvBody(b, request, Vec::new());
                                }
                                Err(e) => {
                                    return self.refuse(400, Refusal::Malformed(e.to_string()));
                                }
                            }
                        }
                        Some(RecvRequestResult::RecvBody(b)) => {
                            self.state = State::RecvBody(b, request, Vec::new());
                        }
                    }
                }
                State::RecvBody(mut b, request, mut body) => {
                    let mut chunk = [0u8; 16 * 1024];
                    while !b.is_ended() {
                        let (used, n) = match b.read(&self.input, &mut chunk) {
                            Ok(x) => x,
                            Err(e) => return self.refuse(400, Refusal::Malformed(e.to_string())),
                        };
                        self.input.drain(..used);
                        body.extend_from_slice(&chunk[..n]);
                        if body.len() > self.limits.max_body {
                            return self.refuse(413, Refusal::BodyTooLarge);
                        }
                        if used == 0 && n == 0 {
                            break;
                        }
                    }
                    if !b.is_ended() {
                        if self.eof {
                            return self.refuse(400, Refusal::Truncated);
                        }
                        self.state = State::RecvBody(b, request, body);
                        return Step::NeedInput;
                    }
                    match b.proceed() {
                        Ok(p) => {
                            self.state = State::Respond(p);
                            return Step::Request(request, body);
                        }
                        Err(e) => return self.refuse(400, Refusal::Malformed(e.to_string())),
                    }
                }
            }
        }
    }

    /// Answer the request `step` handed out. The body is sent with a known length.
    pub fn respond(&mut self, response: Response<Vec<u8>>) {
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

    /// Answer the request `step` handed out with a body sent as it is produced
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

    fn refuse(&mut self, status: u16, why: Refusal) -> Step {
        let reason =
            StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
        self.output.extend_from_slice(
            format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        );
        self.refusal = Some(why);
        self.state = State::Closed;
        Step::Close
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
