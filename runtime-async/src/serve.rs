//! `efm serve --runtime async`: connections are tasks on one smol executor, each
//! running core's HTTP framing over a `smol::net` socket (in TLS when configured,
//! with the same rustls session the blocking runtime drives). The node and the
//! store are [`Api`]'s, called through `smol::unblock`; an upload's body is written
//! to `staging/` as it arrives, in batches on the blocking pool.

use std::io::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

use efm_blocking::http_server::{Answering, Body, BodyPlan, BodyWriter, Received, Service as _};
use efm_blocking::serve::{Api, ServeError, ServeOptions, Serving};
use efm_blocking::staged_body::StagedBody;
use efm_blocking::tls::TlsSession;
use efm_core::http_framing::{Event, Limits, ServerConnection, declared_length};
use http::Request;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};

/// Open the data folder, start the node, and serve on a smol executor in a thread of
/// its own. Returns once listening.
pub fn start(opts: ServeOptions) -> Result<Serving, ServeError> {
    let api = Arc::new(Api::open(&opts)?);
    api.start_ticker()
        .map_err(|source| ServeError::Listen { addr: opts.listen.clone(), source })?;
    let serving_api = api.clone();
    let listener = smol::block_on(TcpListener::bind(opts.listen.as_str()))
        .map_err(|source| ServeError::Listen { addr: opts.listen.clone(), source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Listen { addr: opts.listen.clone(), source })?;
    let tls = opts.tls.clone();
    std::thread::Builder::new()
        .name("efm-async".into())
        .spawn(move || {
            let ex = smol::Executor::new();
            smol::block_on(ex.run(accept_loop(&ex, listener, api, tls)));
        })
        .map_err(|source| ServeError::Listen { addr: opts.listen, source })?;
    Ok(Serving::new(addr, serving_api))
}

async fn accept_loop(
    ex: &smol::Executor<'_>,
    listener: TcpListener,
    api: Arc<Api>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // As in the blocking server: without it, the last piece of an answer waits
        // for the client's delayed ACK (about 40 ms).
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("efm: a connection without TCP_NODELAY: {e}");
        }
        let api = api.clone();
        let tls = tls.clone();
        ex.spawn(async move {
            let socket = match tls {
                None => Ok(Socket::Plain(stream)),
                Some(config) => TlsSession::new(config).map(|session| Socket::Tls {
                    tcp: stream,
                    session: Box::new(session),
                    buf: vec![0; 16 * 1024],
                }),
            };
            // A failed connection ends; there is nobody to tell but the log.
            let served = match socket {
                Ok(mut socket) => serve_connection(&mut socket, api).await,
                Err(e) => Err(e),
            };
            if let Err(e) = served
                && !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::BrokenPipe
                )
            {
                eprintln!("http: connection ended: {e}");
            }
        })
        .detach();
    }
}

/// Idle time after which a connection is dropped, as on the blocking runtime.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a lingering close reads at most, and how long it waits for a byte.
const LINGER: Duration = Duration::from_secs(5);
const LINGER_IDLE: Duration = Duration::from_secs(1);

/// A connection's socket: plain, or TLS over it.
enum Socket {
    Plain(TcpStream),
    Tls { tcp: TcpStream, session: Box<TlsSession>, buf: Vec<u8> },
}

/// `future`, or a `TimedOut` error after `after`.
async fn timeout<T>(
    after: Duration,
    future: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    smol::future::or(future, async {
        smol::Timer::after(after).await;
        Err(io::Error::new(io::ErrorKind::TimedOut, "the client sent nothing for too long"))
    })
    .await
}

impl Socket {
    fn tcp(&mut self) -> &mut TcpStream {
        match self {
            Socket::Plain(s) => s,
            Socket::Tls { tcp, .. } => tcp,
        }
    }

    async fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Plain(s) => timeout(READ_TIMEOUT, s.read(out)).await,
            Socket::Tls { tcp, session, buf } => loop {
                match session.read(out) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    other => return other,
                }
                // Handshake messages (or an alert) to send before more comes.
                send_tls(tcp, session).await?;
                let n = timeout(READ_TIMEOUT, tcp.read(buf)).await?;
                let received = session.received(buf.get(..n).unwrap_or_default());
                if received.is_err() {
                    // Tell the peer why, if we can; the error is what counts.
                    let _ = send_tls(tcp, session).await;
                }
                received?;
            },
        }
    }

    async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Socket::Plain(s) => s.write_all(data).await,
            Socket::Tls { tcp, session, .. } => {
                session.write(data)?;
                send_tls(tcp, session).await
            }
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.tcp().flush().await
    }

    /// Close after an answer while the client may still be sending (see
    /// [`ServerConnection::lingers`]): say we are done, then read and discard what
    /// comes, for a little while, so that the answer is not lost to a reset.
    async fn linger(&mut self) {
        if let Socket::Tls { tcp, session, .. } = self {
            session.close();
            let _ = send_tls(tcp, session).await;
        }
        let tcp = self.tcp();
        let _ = tcp.shutdown(std::net::Shutdown::Write);
        let mut sink = vec![0u8; 16 * 1024];
        let drain = async {
            loop {
                match timeout(LINGER_IDLE, tcp.read(&mut sink)).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        let give_up = async {
            smol::Timer::after(LINGER).await;
        };
        smol::future::or(drain, give_up).await;
    }
}

async fn send_tls(tcp: &mut TcpStream, session: &mut TlsSession) -> io::Result<()> {
    while session.wants_output() {
        tcp.write_all(&session.take_output()).await?;
    }
    Ok(())
}

async fn serve_connection(socket: &mut Socket, api: Arc<Api>) -> io::Result<()> {
    let mut conn = ServerConnection::new(Limits::default());
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let event = conn.poll();
        send_output(&mut conn, socket).await?;
        let (request, received, _answering) = match event {
            Event::NeedInput => {
                let n = socket.read(&mut buf).await?;
                conn.receive(buf.get(..n).unwrap_or_default());
                continue;
            }
            Event::Request(request) => {
                let answering = Answering::start(api.answering());
                (request, Received::Whole(Vec::new()), answering)
            }
            Event::Head(request) => {
                let answering = Answering::start(api.answering());
                let planner = api.clone();
                let (request, plan) = smol::unblock(move || {
                    let plan = planner.plan(&request);
                    (request, plan)
                })
                .await;
                let received = match plan {
                    BodyPlan::Answer(r) => {
                        send_answer(&mut conn, socket, r).await?;
                        continue;
                    }
                    BodyPlan::Memory { limit } => {
                        read_whole(&mut conn, socket, &mut buf, &request, limit).await?
                    }
                    BodyPlan::Stage(staged) => {
                        read_staged(&mut conn, socket, &mut buf, &request, staged).await?
                    }
                };
                // None: the connection ended in the middle of the body.
                let Some(received) = received else { continue };
                (request, received, answering)
            }
            Event::Body(_) | Event::BodyEnd => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a body outside its request",
                ));
            }
            Event::Close => {
                socket.flush().await?;
                if conn.lingers() {
                    socket.linger().await;
                }
                return Ok(());
            }
        };
        let answerer = api.clone();
        let response = smol::unblock(move || answerer.answer(&request, received)).await;
        send_answer(&mut conn, socket, response).await?;
    }
}

async fn send_output(conn: &mut ServerConnection, socket: &mut Socket) -> io::Result<()> {
    let out = conn.take_output();
    if !out.is_empty() {
        socket.write_all(&out).await?;
    }
    Ok(())
}

/// Read a body into memory, up to `limit` bytes. `None` if the connection ended
/// first.
async fn read_whole(
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
        send_output(conn, socket).await?;
        match event {
            Event::NeedInput => {
                let n = socket.read(buf).await?;
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
const STAGING_BATCH: usize = 256 * 1024;

/// A batch being written on the blocking pool; it gives the file and the buffer back.
type Writing = smol::Task<io::Result<(std::fs::File, Vec<u8>)>>;

/// Write a body to its staging file as it arrives, up to its limit: pieces are
/// gathered into batches, each written on the blocking pool while the next
/// gathers. `None` if the connection ended first (the staged file goes with
/// `staged`).
async fn read_staged(
    conn: &mut ServerConnection,
    socket: &mut Socket,
    buf: &mut [u8],
    request: &Request<()>,
    mut staged: StagedBody,
) -> io::Result<Option<Received>> {
    if let Some(declared) = declared_length(request).filter(|n| *n > staged.limit()) {
        return Ok(Some(Received::StagedTooLarge { body: staged, seen: declared, cut: false }));
    }
    let path = staged.path().to_owned();
    let mut file = match smol::unblock(move || std::fs::File::create(path)).await {
        Ok(f) => Some(f),
        Err(e) => return Ok(Some(staging_failed(&staged, &e))),
    };
    conn.read_body();
    let mut batch = Vec::with_capacity(STAGING_BATCH);
    let mut spare = Vec::with_capacity(STAGING_BATCH);
    let mut writing: Option<Writing> = None;
    loop {
        let event = conn.poll();
        send_output(conn, socket).await?;
        let last = match event {
            Event::NeedInput => {
                let n = socket.read(buf).await?;
                conn.receive(buf.get(..n).unwrap_or_default());
                continue;
            }
            Event::Body(piece) => {
                if let Err(over) = staged.take(&piece) {
                    finish_writing(writing).await;
                    let received =
                        Received::StagedTooLarge { body: staged, seen: over.seen, cut: true };
                    return Ok(Some(received));
                }
                batch.extend_from_slice(&piece);
                false
            }
            Event::BodyEnd => true,
            Event::Request(_) | Event::Head(_) | Event::Close => {
                finish_writing(writing).await;
                return Ok(None);
            }
        };
        if batch.len() < STAGING_BATCH && !last {
            continue;
        }
        // One batch at a time, in order: the one before must be written first.
        if let Some(w) = writing.take() {
            match w.await {
                Ok((f, mut used)) => {
                    used.clear();
                    spare = used;
                    file = Some(f);
                }
                Err(e) => return Ok(Some(staging_failed(&staged, &e))),
            }
        }
        let Some(mut f) = file.take() else {
            return Ok(Some(Received::StagingFailed("the staging file was lost".into())));
        };
        let next = std::mem::replace(&mut batch, std::mem::take(&mut spare));
        writing = Some(smol::unblock(move || {
            f.write_all(&next)?;
            Ok((f, next))
        }));
        if last {
            break;
        }
    }
    match writing {
        // The file closes as it is dropped here; the store flushes it to disk.
        Some(w) => match w.await {
            Ok(_) => Ok(Some(Received::Staged(staged))),
            Err(e) => Ok(Some(staging_failed(&staged, &e))),
        },
        None => Ok(Some(Received::Staged(staged))),
    }
}

/// Let a write under way end (the file is about to be removed).
async fn finish_writing(writing: Option<Writing>) {
    if let Some(w) = writing {
        let _ = w.await;
    }
}

fn staging_failed(staged: &StagedBody, e: &io::Error) -> Received {
    Received::StagingFailed(format!("{}: {e}", staged.path().display()))
}

/// Send an answer, in memory or streamed.
async fn send_answer(
    conn: &mut ServerConnection,
    socket: &mut Socket,
    response: http::Response<Body>,
) -> io::Result<()> {
    let (parts, body) = response.into_parts();
    match body {
        Body::Full(bytes) => conn.respond(http::Response::from_parts(parts, bytes)),
        Body::Stream(produce) => {
            if conn.respond_streaming(http::Response::from_parts(parts, ())) {
                socket.write_all(&conn.take_output()).await?;
                stream_body(conn, socket, produce).await?;
                conn.finish_body();
            }
        }
    }
    socket.write_all(&conn.take_output()).await?;
    socket.flush().await
}

/// Pieces of a streamed body in flight between the thread producing them and the
/// connection's task: memory stays at this many pieces, however large the body.
const PIECES_IN_FLIGHT: usize = 4;

/// Run the body's producer on a blocking thread and send what it writes as it
/// comes. An error from either side ends the body early (the connection closes).
async fn stream_body(
    conn: &mut ServerConnection,
    socket: &mut Socket,
    produce: BodyWriter,
) -> io::Result<()> {
    let (tx, rx) = smol::channel::bounded::<Vec<u8>>(PIECES_IN_FLIGHT);
    let producer = smol::unblock(move || produce(&mut ChannelSink(tx)));
    while let Ok(piece) = rx.recv().await {
        if !conn.send_body(&piece) {
            return Err(io::Error::other("the answer's body cannot be framed"));
        }
        // A failed write drops `rx`, which stops the producer at its next piece.
        socket.write_all(&conn.take_output()).await?;
    }
    producer.await
}

/// What the producer writes, handed to the connection's task piece by piece.
struct ChannelSink(smol::channel::Sender<Vec<u8>>);

impl std::io::Write for ChannelSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.0
            .send_blocking(buf.to_vec())
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client is gone"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
