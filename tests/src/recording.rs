//! What a local message service received: its `requests.jsonl` (one JSON line per
//! request, written by the work-alikes' recorder) and the body files it kept, read
//! back so a test can compare an integration point's wire traffic with what the
//! reference's features pin.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    /// The organisation the caller authenticated as, when the service knows it.
    pub caller: Option<String>,
    /// The answer's status; none when a fault dropped the request.
    pub status: Option<u16>,
    /// The body as recorded inline (JSON, or short text as a JSON string).
    pub body: Option<Value>,
    /// The body as the service stored it.
    pub body_file: Option<PathBuf>,
}

impl Recorded {
    /// The body's bytes: the stored file when there is one, else the inline body.
    pub fn bytes(&self) -> Vec<u8> {
        if let Some(f) = &self.body_file {
            return std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        }
        match &self.body {
            Some(Value::String(s)) => s.clone().into_bytes(),
            Some(v) => v.to_string().into_bytes(),
            None => Vec::new(),
        }
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        match (&self.body, &self.body_file) {
            (Some(v), None) if !v.is_string() => v.clone(),
            _ => serde_json::from_slice(&self.bytes())
                .unwrap_or_else(|e| panic!("{} {}: body is not JSON: {e}", self.method, self.path)),
        }
    }

    /// Answered with a 2xx.
    pub fn accepted(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Every request recorded in `<dir>/requests.jsonl`, oldest first (none when the
/// service received nothing yet). A line that is not a record is a broken recorder.
pub fn read(dir: &Path) -> Vec<Recorded> {
    let text = std::fs::read_to_string(dir.join("requests.jsonl")).unwrap_or_default();
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("requests.jsonl: {e}: {line}"));
            let text = |k: &str| v[k].as_str().map(str::to_owned);
            Recorded {
                method: text("method").unwrap_or_default(),
                path: text("path").unwrap_or_default(),
                query: text("query"),
                content_type: text("content_type"),
                caller: text("caller"),
                status: v["status"].as_u64().and_then(|s| u16::try_from(s).ok()),
                body: v.get("body").cloned(),
                body_file: v["body_file"].as_str().map(|f| dir.join(f)),
            }
        })
        .collect()
}
