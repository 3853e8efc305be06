//! `efm serve` from exec to a healthy answer: a fresh data folder each time (so the
//! schema migrations run), embedded defaults, the first `GET /manage/health` that
//! answers 200. Needs the release binary: `cargo build --release -p efm-cli` first.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn main() {
    divan::main();
}

fn efm() -> PathBuf {
    let exe = std::env::current_exe().expect("bench path");
    let bin = exe.parent().and_then(|d| d.parent()).expect("target/release").join("efm");
    assert!(bin.exists(), "{} is missing: cargo build --release -p efm-cli", bin.display());
    bin
}

fn healthy(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let req = format!("GET /manage/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200") && reply.contains("\"UP\"")
}

#[divan::bench(args = ["blocking", "async"], sample_count = 20, sample_size = 1)]
fn exec_to_health_up(bencher: divan::Bencher, runtime: &str) {
    let bin = efm();
    bencher.with_inputs(|| tempfile::tempdir().expect("temp dir")).bench_local_values(|dir| {
        let mut child = Command::new(&bin)
            .arg("serve")
            .env("EFM_LISTEN", "127.0.0.1:0")
            .env("EFM_DATA_DIR", dir.path())
            .env("EFM_API_AUTH", "false")
            .env("EFM_RUNTIME", runtime)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("efm serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("address line");
        let addr = line.trim().trim_start_matches("listening on http://").to_owned();
        while !healthy(&addr) {}
        let _ = child.kill();
        let _ = child.wait();
        dir
    });
}
