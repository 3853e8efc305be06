//! Entry points for the fuzz targets and for the corpus replay in the test suite.
//! Each one runs a parser on arbitrary bytes and asserts the properties that must
//! hold for every input; a panic is a finding.

use crate::sbd::Sbd;

/// Parse `data` as an SBD. Whatever parses must write back to JSON that parses to
/// the same SBD, and to XML that reads without a panic.
pub fn sbd_parse(data: &[u8]) {
    let Ok((sbd, _)) = Sbd::parse(data) else {
        return;
    };
    let json = sbd.to_json_pretty();
    match Sbd::from_json(json.as_bytes()) {
        Ok(again) => assert_eq!(again, sbd, "JSON round trip changed the SBD"),
        Err(e) => panic!("our own JSON does not read back: {e}\n{json}"),
    }
    let _ = Sbd::from_xml(sbd.to_xml().as_bytes());
}

/// Feed `data` to an HTTP/1.1 server connection, split where the first byte says,
/// answering every request. Whatever the bytes, the connection ends in a request or a
/// close, never a panic, and it never produces output after a close.
pub fn http_request(data: &[u8]) {
    use crate::http_framing::{Limits, ServerConnection, Step};
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let piece = usize::from(split).max(1);
    let mut conn = ServerConnection::new(Limits { max_head: 4096, max_body: 4096 });
    let mut input = rest;
    // Each round consumes input or ends; bound the rounds all the same.
    for _ in 0..(rest.len() + 64) * 4 {
        match conn.step() {
            Step::NeedInput => {
                let n = piece.min(input.len());
                conn.receive(&input[..n]);
                input = &input[n..];
            }
            Step::Request(_, body) => {
                assert!(body.len() <= 4096, "body over the limit was handed out");
                conn.respond(http::Response::new(b"ok".to_vec()));
            }
            Step::Close => {
                let _ = conn.take_output();
                assert!(matches!(conn.step(), Step::Close), "a closed connection reopened");
                assert!(conn.take_output().is_empty());
                return;
            }
        }
        let _ = conn.take_output();
    }
    panic!("the connection neither finished nor asked for input it could get");
}

/// Split `data` as a multipart body: the first byte sets the boundary's length.
/// Whatever parses must hand out parts that lie inside the body.
pub fn multipart(data: &[u8]) {
    use crate::api::multipart::parse;
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 16) + 1;
    let Some(boundary) = rest.get(..n).and_then(|b| std::str::from_utf8(b).ok()) else {
        return;
    };
    let body = &rest[n..];
    if let Ok(parts) = parse(body, boundary) {
        for p in parts {
            let inside = body.as_ptr_range();
            assert!(
                p.body.is_empty() || inside.contains(&p.body.as_ptr()),
                "a part outside the body"
            );
        }
    }
}
