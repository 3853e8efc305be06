//! Uploads (`PUT /api/messages/out/{messageId}`) stream to disk as they arrive: a
//! body far larger than the server's memory passes through it, one over the
//! message's limit is refused with 413 and the error JSON without being read, and
//! a client that goes away in the middle leaves nothing behind. Both runtimes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use efm_tests::http::{request, request_with};
use efm_tests::server::{LocalRegistry, Served};
use efm_tests::workspace;

const AUTH: Option<(&str, &str)> = Some(("efm", "secret"));
const RUNTIMES: [&str; 2] = ["blocking", "async"];
/// The messageId of examples/sbd/arkivmelding.json, a DPO message.
const ID: &str = "5a0f3e7c-2d4b-4e8f-9c1a-7b6d5e4f3a21";
const MIB: u64 = 1024 * 1024;

/// `efm serve` with DPO on, routed by `registry`, with a fresh keystore and `args`.
fn serve(dir: &Path, registry: &LocalRegistry, runtime: &str, args: &[&str]) -> Served {
    let p12 = dir.join("keystore.p12");
    if !p12.exists() {
        let key = efm_tests::keys::TestKey::generate("upload");
        std::fs::copy(key.pkcs12("changeit"), &p12).unwrap();
    }
    Served::start_with_args(
        dir,
        &[
            ("EFM_REGISTRY_URL", &registry.url),
            ("EFM_ENABLE", "DPO"),
            ("EFM_KEYSTORE", p12.to_str().unwrap()),
            ("EFM_KEYSTORE_PASSWORD", "changeit"),
            ("EFM_RUNTIME", runtime),
        ],
        args,
    )
}

fn create_message(addr: &str) {
    let sbd = std::fs::read(workspace().join("examples/sbd/arkivmelding.json")).unwrap();
    let r = request(addr, "POST", "/api/messages/out", AUTH, Some("application/json"), &sbd);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// The head of an upload of `filename` to the example message; `length` none
/// sends the body chunked.
fn upload_head(addr: &str, filename: &str, length: Option<u64>, expect: bool) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode("efm:secret");
    let framing = match length {
        Some(n) => format!("Content-Length: {n}\r\n"),
        None => "Transfer-Encoding: chunked\r\n".to_owned(),
    };
    let expect = if expect { "Expect: 100-continue\r\n" } else { "" };
    format!(
        "PUT /api/messages/out/{ID} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Basic {token}\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename={filename}\r\n{framing}{expect}\r\n"
    )
}

/// Deterministic bytes that do not compress or repeat: xorshift64*.
struct Pattern(u64);

impl Pattern {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// `VmRSS` and `VmHWM` (peak) of a process, in bytes.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn file_sha256(path: &Path) -> (u64, String) {
    let mut f = std::fs::File::open(path).unwrap();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; MIB as usize];
    let mut size = 0;
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        size += n as u64;
        ctx.update(&buf[..n]);
    }
    (size, hex(ctx.finish().as_ref()))
}

/// Read an answer to its end (the server closes after it).
fn answer(mut s: TcpStream) -> efm_tests::http::Reply {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse(&buf)
}

fn parse(buf: &[u8]) -> efm_tests::http::Reply {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer head: {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..split]);
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    efm_tests::http::Reply { status, headers, body: buf[split + 4..].to_vec() }
}

/// The files waiting in `staging/`.
fn staged(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("staging")) else { return Vec::new() };
    entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// Wait until `check` holds, for at most `secs` seconds.
fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_large_upload_passes_through_in_bounded_memory() {
    for runtime in RUNTIMES {
        a_large_upload_passes_through_in_bounded_memory_on(runtime);
    }
}

/// The upload's size: far more than the memory the server may use for it.
const LARGE: u64 = 300 * MIB;
/// The most resident memory the server may reach while taking `LARGE`.
const MEMORY_CEILING: u64 = 64 * MIB;

fn a_large_upload_passes_through_in_bounded_memory_on(runtime: &str) {
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, runtime, &[]);
    create_message(&server.addr);
    let (rss_before, _) = memory(server.pid());

    let started = Instant::now();
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.write_all(upload_head(&server.addr, "large.bin", Some(LARGE), false).as_bytes()).unwrap();
    let mut pattern = Pattern(0x9e37_79b9_7f4a_7c15);
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut piece = vec![0u8; MIB as usize];
    let mut rss_peak = 0;
    for i in 0..LARGE / MIB {
        pattern.fill(&mut piece);
        digest.update(&piece);
        s.write_all(&piece).unwrap();
        if i % 16 == 0 {
            rss_peak = rss_peak.max(memory(server.pid()).0);
        }
    }
    let reply = answer(s);
    let took = started.elapsed();
    assert_eq!(reply.status, 200, "{runtime}: {}", String::from_utf8_lossy(&reply.body));
    let (rss_after, hwm) = memory(server.pid());
    eprintln!(
        "{runtime}: {} MiB uploaded in {took:?}; server RSS before {} MiB, peak seen {} MiB, \
         after {} MiB, high-water mark {} MiB",
        LARGE / MIB,
        rss_before / MIB,
        rss_peak / MIB,
        rss_after / MIB,
        hwm / MIB
    );
    assert!(hwm < MEMORY_CEILING, "{runtime}: the server's memory peaked at {hwm} bytes");

    // The file in place is the one sent, and nothing is left in staging.
    let (size, sha) = file_sha256(&dir.path().join("files").join(ID).join("0"));
    assert_eq!((size, sha), (LARGE, hex(digest.finish().as_ref())), "{runtime}");
    assert_eq!(staged(dir.path()), Vec::<String>::new(), "{runtime}");
}

#[test]
fn an_upload_over_the_limit_is_refused_unread_with_413() {
    for runtime in RUNTIMES {
        an_upload_over_the_limit_is_refused_unread_with_413_on(runtime);
    }
}

fn assert_too_large(reply: &efm_tests::http::Reply, what: &str) {
    assert_eq!(reply.status, 413, "{what}: {}", String::from_utf8_lossy(&reply.body));
    let j = reply.json();
    assert_eq!(
        j["exception"], "no.difi.meldingsutveksling.exceptions.MaxFileSizeExceededException",
        "{what}"
    );
    assert_eq!(j["status"], 413, "{what}");
    assert_eq!(j["path"], format!("/api/messages/out/{ID}"), "{what}");
    assert!(j["message"].as_str().unwrap().contains("(DPO, 1048576 bytes)"), "{what}: {j}");
}

fn an_upload_over_the_limit_is_refused_unread_with_413_on(runtime: &str) {
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("efm.toml");
    std::fs::write(&config, "[dpo]\nupload_size_limit = \"1MB\"\n").unwrap();
    let server = serve(dir.path(), &registry, runtime, &["--config", config.to_str().unwrap()]);
    let a = &server.addr;
    create_message(a);
    let body = vec![b'x'; 3 * MIB as usize];

    // A client that waits for 100 Continue is told no before it sends a byte.
    let mut s = TcpStream::connect(a).unwrap();
    s.write_all(upload_head(a, "a.bin", Some(2 * MIB), true).as_bytes()).unwrap();
    let reply = answer(s);
    assert_too_large(&reply, "expect 100-continue");
    assert_eq!(reply.header("connection"), Some("close"));

    // One that sends at once: refused from its length, the body drained unread, and
    // the answer arrives whole.
    let mut s = TcpStream::connect(a).unwrap();
    s.write_all(upload_head(a, "a.bin", Some(body.len() as u64), false).as_bytes()).unwrap();
    s.write_all(&body).unwrap();
    assert_too_large(&answer(s), "content-length");

    // A chunked body has no length to refuse: it is cut off once past the limit.
    let mut s = TcpStream::connect(a).unwrap();
    s.write_all(upload_head(a, "a.bin", None, false).as_bytes()).unwrap();
    for piece in body.chunks(256 * 1024) {
        // The server may stop reading after the answer; what it drains is enough.
        let _ = s.write_all(format!("{:x}\r\n", piece.len()).as_bytes());
        let _ = s.write_all(piece);
        let _ = s.write_all(b"\r\n");
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let reply = answer(s);
    assert_too_large(&reply, "chunked");
    assert!(reply.json()["message"].as_str().unwrap().contains("(over "), "{}", reply.json());

    // A JSON body past what a call takes in memory is refused alike.
    let sbd = vec![b' '; 6 * MIB as usize];
    let r = request(a, "POST", "/api/messages/out", AUTH, Some("application/json"), &sbd);
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["exception"],
        "org.springframework.http.converter.HttpMessageNotReadableException"
    );

    // Nothing was stored or left behind, and the server goes on: a file that fits
    // is taken.
    eventually(10, "staging to empty", || staged(dir.path()).is_empty());
    assert!(!dir.path().join("files").join(ID).join("0").exists());
    let fits = vec![b'y'; 512 * 1024];
    let r = request_with(
        a,
        "PUT",
        &format!("/api/messages/out/{ID}"),
        AUTH,
        &[
            ("Content-Type", "application/pdf"),
            ("Content-Disposition", "attachment; filename=a.bin"),
        ],
        &fits,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let (size, sha) = file_sha256(&dir.path().join("files").join(ID).join("0"));
    assert_eq!((size, sha), (fits.len() as u64, sha256_hex(&fits)));
}

#[test]
fn a_client_that_leaves_mid_body_leaves_nothing_behind() {
    for runtime in RUNTIMES {
        a_client_that_leaves_mid_body_leaves_nothing_behind_on(runtime);
    }
}

fn a_client_that_leaves_mid_body_leaves_nothing_behind_on(runtime: &str) {
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, runtime, &[]);
    create_message(&server.addr);
    let first = dir.path().join("files").join(ID).join("0");

    // Half a body, then the client is gone: the staged part was on disk while it
    // came, and is removed when the connection ends.
    let partial = |addr: &str| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(upload_head(addr, "cut.bin", Some(50 * MIB), false).as_bytes()).unwrap();
        s.write_all(&vec![b'z'; 10 * MIB as usize]).unwrap();
        s
    };
    let s = partial(&server.addr);
    let staged_size = || {
        staged(dir.path())
            .iter()
            .map(|n| std::fs::metadata(dir.path().join("staging").join(n)).map_or(0, |m| m.len()))
            .sum::<u64>()
    };
    eventually(10, "the body to reach staging", || staged_size() > 0);
    drop(s);
    eventually(10, "staging to empty", || staged(dir.path()).is_empty());
    assert!(!first.exists(), "{runtime}: no file was recorded");

    // A slow body, in small pieces with pauses, is taken whole.
    let slow: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.write_all(upload_head(&server.addr, "slow.bin", Some(slow.len() as u64), false).as_bytes())
        .unwrap();
    for piece in slow.chunks(4096) {
        s.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    let reply = answer(s);
    assert_eq!(reply.status, 200, "{runtime}: {}", String::from_utf8_lossy(&reply.body));
    assert_eq!(file_sha256(&first), (slow.len() as u64, sha256_hex(&slow)), "{runtime}");

    // The server killed in the middle of a body: after a restart, staging is empty
    // and no file of that name was recorded (a different one is taken).
    let _s = partial(&server.addr);
    eventually(10, "the body to reach staging", || staged_size() > 0);
    server.kill_9();
    let server = serve(dir.path(), &registry, runtime, &[]);
    assert_eq!(staged(dir.path()), Vec::<String>::new(), "{runtime}");
    let other = b"a different cut.bin".to_vec();
    let r = request_with(
        &server.addr,
        "PUT",
        &format!("/api/messages/out/{ID}"),
        AUTH,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Disposition", "attachment; filename=cut.bin"),
        ],
        &other,
    );
    assert_eq!(r.status, 200, "{runtime}: {}", String::from_utf8_lossy(&r.body));
    let second = dir.path().join("files").join(ID).join("1");
    assert_eq!(std::fs::read(second).unwrap(), other, "{runtime}");
}
