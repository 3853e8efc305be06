//! Why a call to a message service did not succeed, sorted by what the node should do
//! next: try again later, or give up on the message.

use serde::Deserialize;

use crate::node::TransportError;

/// How long an answer body may be quoted in a reason (the reasons end up in status
/// descriptions and logs).
const QUOTE_LIMIT: usize = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Worth retrying: no answer, the service is overloaded or down, or our credentials
    /// need renewing.
    #[error("{0}")]
    Transient(String),
    /// Retrying the same request cannot help: the service refused it.
    #[error("{0}")]
    Permanent(String),
}

impl Failure {
    pub fn is_transient(&self) -> bool {
        matches!(self, Failure::Transient(_))
    }

    pub fn reason(&self) -> &str {
        match self {
            Failure::Transient(r) | Failure::Permanent(r) => r,
        }
    }

    /// A 2xx answer we could not read. Transient: the reference retries these like any
    /// other failed call (the message goes back on its queue), and a proxy or a
    /// half-rolled-out service can produce one that the next attempt does not.
    pub(crate) fn bad_answer(what: &str, detail: impl std::fmt::Display) -> Failure {
        Failure::Transient(format!("unexpected answer from {what}: {detail}"))
    }
}

/// A request that got no HTTP answer is always worth retrying.
impl From<&TransportError> for Failure {
    fn from(e: &TransportError) -> Self {
        Failure::Transient(e.to_string())
    }
}

/// RFC 7807 problem details, with the `errors` map ASP.NET adds for validation failures
/// (Altinn's answer to a bad request names the offending fields there).
#[derive(Deserialize)]
struct ProblemDetails {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    errors: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Sorts a non-2xx answer. Transient: 408, 425, 429, every 5xx, and 401, because an
/// expired or rotated token or SAS key is fixed by fetching a new one (the caller should
/// drop its cached credential on 401). Every other status is permanent.
pub fn classify(status: u16, body: &[u8]) -> Failure {
    let reason = reason(status, body);
    match status {
        401 | 408 | 425 | 429 | 500..=599 => Failure::Transient(reason),
        _ => Failure::Permanent(reason),
    }
}

/// `HTTP 400 Bad Request: <title>: <detail> (<field>: <message>, ...)`, or the start of
/// the body when it is not problem details.
fn reason(status: u16, body: &[u8]) -> String {
    let mut out = format!("HTTP {status}");
    if let Some(phrase) = http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason())
    {
        out.push(' ');
        out.push_str(phrase);
    }
    let problem: Option<ProblemDetails> = serde_json::from_slice(body).ok();
    let mut said = false;
    if let Some(p) = problem {
        for text in [p.title, p.detail].into_iter().flatten() {
            let text = text.trim();
            if !text.is_empty() {
                out.push_str(": ");
                out.push_str(&quote(text));
                said = true;
            }
        }
        if let Some(errors) = p.errors.filter(|e| !e.is_empty()) {
            let list: Vec<String> =
                errors.iter().map(|(field, msg)| format!("{field}: {}", flatten(msg))).collect();
            out.push_str(" (");
            out.push_str(&quote(&list.join(", ")));
            out.push(')');
            said = true;
        }
    }
    if !said {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if !text.is_empty() {
            out.push_str(": ");
            out.push_str(&quote(text));
        }
    }
    out
}

fn flatten(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items.iter().map(flatten).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

/// Shortened to [`QUOTE_LIMIT`] characters, control characters replaced, so that an
/// answer cannot flood a status description or forge log lines.
fn quote(s: &str) -> String {
    let mut out: String =
        s.chars().take(QUOTE_LIMIT).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if s.chars().nth(QUOTE_LIMIT).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_sort_into_transient_and_permanent() {
        for s in [401, 408, 425, 429, 500, 502, 503, 504, 599] {
            assert!(classify(s, b"").is_transient(), "{s}");
        }
        for s in [300, 400, 403, 404, 409, 410, 413, 422] {
            assert!(!classify(s, b"").is_transient(), "{s}");
        }
        assert!(Failure::from(&TransportError::Timeout).is_transient());
        assert!(Failure::from(&TransportError::Connect("refused".into())).is_transient());
    }

    #[test]
    fn reasons_quote_problem_details() {
        let body = br#"{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "title":"One or more validation errors occurred.","status":400,
            "errors":{"Sender":["The Sender field is not a valid organization number"]}}"#;
        assert_eq!(
            classify(400, body),
            Failure::Permanent(
                "HTTP 400 Bad Request: One or more validation errors occurred. \
                 (Sender: The Sender field is not a valid organization number)"
                    .into()
            )
        );
        let body = br#"{"title":"Forbidden","detail":"Not a recipient of this file transfer"}"#;
        assert_eq!(
            classify(403, body).reason(),
            "HTTP 403 Forbidden: Forbidden: Not a recipient of this file transfer"
        );
    }

    #[test]
    fn reasons_quote_other_bodies_shortened_and_on_one_line() {
        assert_eq!(classify(503, b"").reason(), "HTTP 503 Service Unavailable");
        assert_eq!(
            classify(502, b"<html>\nbad gateway</html>").reason(),
            "HTTP 502 Bad Gateway: <html> bad gateway</html>"
        );
        let long = "x".repeat(1000);
        let r = classify(500, long.as_bytes());
        assert!(r.reason().ends_with('…'));
        assert!(r.reason().chars().count() < QUOTE_LIMIT + 40);
        assert_eq!(classify(599, &[0xff, 0xfe]).reason(), "HTTP 599: \u{fffd}\u{fffd}");
    }
}
