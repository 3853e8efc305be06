//! `multipart/form-data` (RFC 7578) request bodies, as `POST /api/messages/out/multipart`
//! takes them: an `sbd` part with the SBD JSON and one part per file.

use super::disposition::Disposition;

/// One part: its form name, file name (for file parts), content type and bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: Option<String>,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub body: &'a [u8],
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    #[error("the Content-Type has no multipart boundary")]
    NoBoundary,
    #[error("the body does not start with the boundary")]
    NoFirstBoundary,
    #[error("a part has no end of its headers")]
    UnterminatedHeaders,
    #[error("the body ends before its closing boundary")]
    Truncated,
}

/// The boundary of a `multipart/form-data; boundary=…` content type.
pub fn boundary(content_type: &str) -> Result<String, MultipartError> {
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return Err(MultipartError::NoBoundary);
    }
    parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or(MultipartError::NoBoundary)
}

/// Split `body` into its parts. Parts borrow from the body: nothing is copied.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, MultipartError> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let start = find(body, d).ok_or(MultipartError::NoFirstBoundary)?;
    let mut rest = &body[start + d.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or(MultipartError::Truncated)?;
        let head_end = find(rest, b"\r\n\r\n").ok_or(MultipartError::UnterminatedHeaders)?;
        let head = String::from_utf8_lossy(&rest[..head_end]);
        let content = &rest[head_end + 4..];
        let next = format!("\r\n{delimiter}");
        let end = find(content, next.as_bytes()).ok_or(MultipartError::Truncated)?;
        let mut part =
            Part { name: None, filename: None, content_type: None, body: &content[..end] };
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    let disposition = Disposition::parse(v.trim());
                    part.name = disposition.name;
                    part.filename = disposition.filename;
                }
                "content-type" => part.content_type = Some(v.trim().to_owned()),
                _ => {}
            }
        }
        parts.push(part);
        rest = &content[end + next.len()..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's REST documentation example, in shape.
    const BODY: &[u8] = b"--6o2knFse3p53ty9dmcQvWAIx1zInP11uCfbm\r\n\
Content-Disposition: form-data; name=sbd\r\n\
Content-Type: application/json\r\n\r\n\
{\"a\":1}\r\n\
--6o2knFse3p53ty9dmcQvWAIx1zInP11uCfbm\r\n\
Content-Disposition: form-data; name=Before The Law; filename=before_the_law.txt\r\n\
Content-Type: text/plain\r\n\r\n\
Before the law sits a gatekeeper.\r\n\
--6o2knFse3p53ty9dmcQvWAIx1zInP11uCfbm--\r\n";

    #[test]
    fn parses_the_documented_example() {
        let b = boundary(
            "multipart/form-data;charset=UTF-8; boundary=6o2knFse3p53ty9dmcQvWAIx1zInP11uCfbm",
        )
        .unwrap();
        let parts = parse(BODY, &b).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name.as_deref(), Some("sbd"));
        assert_eq!(parts[0].body, b"{\"a\":1}");
        assert_eq!(parts[1].name.as_deref(), Some("Before The Law"));
        assert_eq!(parts[1].filename.as_deref(), Some("before_the_law.txt"));
        assert_eq!(parts[1].content_type.as_deref(), Some("text/plain"));
        assert_eq!(parts[1].body, b"Before the law sits a gatekeeper.");
    }

    #[test]
    fn refuses_broken_bodies() {
        assert_eq!(boundary("application/json"), Err(MultipartError::NoBoundary));
        assert_eq!(boundary("multipart/form-data"), Err(MultipartError::NoBoundary));
        let b = "6o2knFse3p53ty9dmcQvWAIx1zInP11uCfbm";
        assert_eq!(parse(b"nothing", b), Err(MultipartError::NoFirstBoundary));
        for cut in [45, 80, BODY.len() - 60] {
            assert!(parse(&BODY[..cut], b).is_err(), "{cut}");
        }
    }
}
