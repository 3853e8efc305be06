//! `Content-Disposition` of an uploaded file: its file name (which becomes the name in
//! the ASiC) and its `name` (the title). RFC 6266 with RFC 5987's `filename*` /
//! `name*` (UTF-8 or ISO-8859-1), which take precedence over the plain forms.

use super::query::decode;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disposition {
    pub filename: Option<String>,
    pub name: Option<String>,
}

/// A file name that cannot be used as one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not a plain file name: it must not be empty, '.' or '..', or hold '/', '\\\\' or control characters"
)]
pub struct BadFilename(pub String);

impl Disposition {
    pub fn parse(header: &str) -> Disposition {
        let mut d = Disposition { filename: None, name: None };
        let mut extended_filename = None;
        let mut extended_name = None;
        for part in split_params(header).into_iter().skip(1) {
            let Some((key, value)) = part.split_once('=') else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                "filename" => d.filename = Some(unquote(value)),
                "name" => d.name = Some(unquote(value)),
                "filename*" => extended_filename = ext_value(value),
                "name*" => extended_name = ext_value(value),
                _ => {}
            }
        }
        d.filename = extended_filename.or(d.filename);
        d.name = extended_name.or(d.name);
        d
    }
}

/// Check that `name` is a plain file name: it goes into a zip entry name and, on the
/// receiving side, onto a disk, so nothing that could climb out of a folder passes.
pub fn plain_filename(name: &str) -> Result<&str, BadFilename> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.len() > 255
        || name.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if bad { Err(BadFilename(name.to_owned())) } else { Ok(name) }
}

/// Split on `;` outside quotes.
fn split_params(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => v.to_owned(),
    }
}

/// `charset'language'percent-encoded`.
fn ext_value(v: &str) -> Option<String> {
    let mut parts = v.splitn(3, '\'');
    let charset = parts.next()?.to_ascii_lowercase();
    let _language = parts.next()?;
    let encoded = parts.next()?;
    match charset.as_str() {
        "utf-8" => decode(encoded).ok(),
        "iso-8859-1" => {
            // Each decoded byte is the code point of the same value.
            let bytes = percent_bytes(encoded)?;
            Some(bytes.into_iter().map(char::from).collect())
        }
        _ => None,
    }
}

fn percent_bytes(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The MIME type of an attachment: the client's, unless it sent none or
/// `application/octet-stream`; then the file's extension decides, and no extension
/// means PDF, as in the reference.
pub fn mime_type(content_type: Option<&str>, filename: &str) -> String {
    let given = content_type.map(str::trim).filter(|c| !c.is_empty());
    if let Some(c) = given.filter(|c| !c.eq_ignore_ascii_case("application/octet-stream")) {
        return c.to_owned();
    }
    let ext = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let by_ext = match ext.as_deref() {
        None | Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("xml") => "application/xml",
        Some("json") => "application/json",
        Some("html" | "htm") => "text/html",
        Some("doc") => "application/msword",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("xls") => "application/vnd.ms-excel",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("odt") => "application/vnd.oasis.opendocument.text",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("tif" | "tiff") => "image/tiff",
        Some("zip") => "application/zip",
        Some(_) => "application/octet-stream",
    };
    by_ext.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_quoted_and_extended_forms() {
        let d =
            Disposition::parse(r#"attachment; name="Before The Law"; filename=before_the_law.txt"#);
        assert_eq!(d.filename.as_deref(), Some("before_the_law.txt"));
        assert_eq!(d.name.as_deref(), Some("Before The Law"));
        let d = Disposition::parse(
            r#"attachment; filename="a; \"b\".pdf"; filename*=UTF-8''%C3%A6%C3%B8%C3%A5.pdf"#,
        );
        assert_eq!(d.filename.as_deref(), Some("æøå.pdf"));
        let d = Disposition::parse(
            "attachment; filename*=iso-8859-1'no'%E6%F8%E5.txt; name*=UTF-8''Tittel%20%C3%A6",
        );
        assert_eq!(d.filename.as_deref(), Some("æøå.txt"));
        assert_eq!(d.name.as_deref(), Some("Tittel æ"));
        assert_eq!(Disposition::parse("attachment").filename, None);
    }

    #[test]
    fn file_names_that_climb_out_are_refused() {
        for bad in ["../etc/passwd", "a/b", "a\\b", "..", ".", "", "a\u{0}b", "line\nbreak"] {
            assert!(plain_filename(bad).is_err(), "{bad:?}");
        }
        assert_eq!(plain_filename("vedtak 2019.pdf"), Ok("vedtak 2019.pdf"));
    }

    #[test]
    fn mime_types() {
        assert_eq!(mime_type(Some("text/plain"), "x.pdf"), "text/plain");
        assert_eq!(mime_type(Some("application/octet-stream"), "x.txt"), "text/plain");
        assert_eq!(mime_type(None, "noext"), "application/pdf");
        assert_eq!(mime_type(Some(""), "x.XML"), "application/xml");
    }
}
