//! A deliberately plain HTTP/1.1 client for black-box tests: one request per
//! connection, raw bytes on the wire, so tests can also send what no well-behaved
//! client would.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body of a chunked answer with the chunking undone; None when the chunks
    /// are malformed or the body ends before its last (empty) chunk.
    pub fn dechunked(&self) -> Option<Vec<u8>> {
        let mut rest = self.body.as_slice();
        let mut out = Vec::new();
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
            let size = std::str::from_utf8(&rest[..line_end]).ok()?;
            let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
            rest = &rest[line_end + 2..];
            if size == 0 {
                return rest.starts_with(b"\r\n").then_some(out);
            }
            out.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size..)?.strip_prefix(b"\r\n")?;
        }
    }
}

/// Send raw request bytes to `addr` and read the whole reply.
pub fn raw(addr: &str, request: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).expect("send");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse(&buf)
}

/// A request with `Connection: close`, optional Basic credentials and a body.
pub fn request(
    addr: &str,
    method: &str,
    target: &str,
    auth: Option<(&str, &str)>,
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    let headers: Vec<(&str, &str)> =
        content_type.map(|c| ("Content-Type", c)).into_iter().collect();
    request_with(addr, method, target, auth, &headers, body)
}

/// As [`request`], with any headers.
pub fn request_with(
    addr: &str,
    method: &str,
    target: &str,
    auth: Option<(&str, &str)>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some((u, p)) = auth {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        head.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes)
}

/// As [`request_with`], but `None` when the connection closes without a complete
/// answer head (a server that drops the request), instead of panicking.
pub fn try_request_with(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Reply> {
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // A server that closes early may reset the connection under a large body.
    let _ = s.write_all(&bytes);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf.windows(4).any(|w| w == b"\r\n\r\n").then(|| parse(&buf))
}

fn parse(buf: &[u8]) -> Reply {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete reply head: {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply { status, headers, body: buf[split + 4..].to_vec() }
}
