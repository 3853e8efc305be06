//! `efm serve --runtime async`.

use std::sync::Arc;

use efm_blocking::http_server::{Answering, Body, BodyWriter};
use efm_blocking::serve::{Api, ServeError, ServeOptions, Serving};
use efm_core::http_framing::{Limits, ServerConnection, Step};
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
    std::thread::Builder::new()
        .name("efm-async".into())
        .spawn(move || {
            let ex = smol::Executor::new();
            smol::block_on(ex.run(accept_loop(&ex, listener, api)));
        })
        .map_err(|source| ServeError::Listen { addr: opts.listen, source })?;
    Ok(Serving::new(addr, serving_api))
}

async fn accept_loop(ex: &smol::Executor<'_>, listener: TcpListener, api: Arc<Api>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let api = api.clone();
        ex.spawn(async move {
            // A failed connection ends; there is nobody to tell but the log.
            if let Err(e) = serve_connection(stream, api).await
                && e.kind() != std::io::ErrorKind::ConnectionReset
            {
                eprintln!("http: connection ended: {e}");
            }
        })
        .detach();
    }
}

async fn serve_connection(mut stream: TcpStream, api: Arc<Api>) -> std::io::Result<()> {
    let mut conn = ServerConnection::new(Limits::default());
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let step = conn.step();
        let out = conn.take_output();
        if !out.is_empty() {
            stream.write_all(&out).await?;
        }
        match step {
            Step::NeedInput => {
                let n = stream.read(&mut buf).await?;
                conn.receive(&buf[..n]);
            }
            Step::Request(request, body) => {
                let _answering = Answering::start(api.answering());
                let api = api.clone();
                let response = smol::unblock(move || api.handle(&request, &body)).await;
                let (parts, body) = response.into_parts();
                match body {
                    Body::Full(bytes) => conn.respond(http::Response::from_parts(parts, bytes)),
                    Body::Stream(produce) => {
                        if conn.respond_streaming(http::Response::from_parts(parts, ())) {
                            stream.write_all(&conn.take_output()).await?;
                            stream_body(&mut conn, &mut stream, produce).await?;
                            conn.finish_body();
                        }
                    }
                }
                stream.write_all(&conn.take_output()).await?;
                stream.flush().await?;
            }
            Step::Close => {
                stream.flush().await?;
                return Ok(());
            }
        }
    }
}

/// Pieces of a streamed body in flight between the thread producing them and the
/// connection's task: memory stays at this many pieces, however large the body.
const PIECES_IN_FLIGHT: usize = 4;

/// Run the body's producer on a blocking thread and send what it writes as it
/// comes. An error from either side ends the body early (the connection closes).
async fn stream_body(
    conn: &mut ServerConnection,
    stream: &mut TcpStream,
    produce: BodyWriter,
) -> std::io::Result<()> {
    let (tx, rx) = smol::channel::bounded::<Vec<u8>>(PIECES_IN_FLIGHT);
    let producer = smol::unblock(move || produce(&mut ChannelSink(tx)));
    while let Ok(piece) = rx.recv().await {
        if !conn.send_body(&piece) {
            return Err(std::io::Error::other("the answer's body cannot be framed"));
        }
        // A failed write drops `rx`, which stops the producer at its next piece.
        stream.write_all(&conn.take_output()).await?;
    }
    producer.await
}

/// What the producer writes, handed to the connection's task piece by piece.
struct ChannelSink(smol::channel::Sender<Vec<u8>>);

impl std::io::Write for ChannelSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.0.send_blocking(buf.to_vec()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client is gone")
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
