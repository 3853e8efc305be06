//! The request record: one JSON line per request a local service received, in
//! `<dir>/requests.jsonl`, so a test can see what an integration point sent.
//!
//! ```json
//! {"time":"2026-01-01T10:00:00.123Z","method":"POST","path":"/broker/api/v1/filetransfer/",
//!  "query":null,"content_type":"application/json","caller":"910077473","status":200,
//!  "faults":[],"body_size":212,"body":{...}}
//! ```
//!
//! The body is given as `body_file` when the service stored it (relative to the
//! folder), else as `body` when it is JSON or short text, else only by `body_size`.
//! `status` is null for a request dropped by a fault; `faults` names the faults that
//! happened to it (`drop`, `lose-answer`, `duplicate` when the service stored it
//! twice, `delay` with `delay_ms`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use http::{Request, header};
use serde_json::{Value, json};

use super::Outcome;
use super::faults::Decision;
use super::files::FileError;

/// Bodies up to this size are copied into the record.
const INLINE_LIMIT: usize = 64 * 1024;

pub struct Recorder {
    file: Mutex<File>,
}

impl Recorder {
    /// Appends to `<dir>/requests.jsonl`.
    pub fn open(dir: &Path) -> Result<Self, FileError> {
        let path = dir.join("requests.jsonl");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(FileError::at(&path))?;
        Ok(Recorder { file: Mutex::new(file) })
    }

    pub fn record(
        &self,
        req: &Request<()>,
        body: &[u8],
        outcome: Option<&Outcome>,
        decision: &Decision,
    ) {
        let mut line = entry(req, body, outcome, decision).to_string();
        line.push('\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // One write per line keeps lines whole even when two services share the file.
        if let Err(e) = f.write_all(line.as_bytes()) {
            eprintln!("local service: could not record a request: {e}");
        }
    }
}

/// The faults that happened: the duplicate knob only counts where it was acted on.
fn faults(decision: &Decision, outcome: Option<&Outcome>) -> Vec<&'static str> {
    let duplicated = outcome.is_some_and(|o| o.duplicated);
    decision.names().into_iter().filter(|n| *n != "duplicate" || duplicated).collect()
}

fn entry(req: &Request<()>, body: &[u8], outcome: Option<&Outcome>, decision: &Decision) -> Value {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let mut e = json!({
        "time": crate::clock::now().to_rfc3339(),
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query(),
        "content_type": content_type,
        "caller": outcome.and_then(|o| o.caller.as_deref()),
        "status": outcome.map(|o| o.response.status().as_u16()),
        "faults": faults(decision, outcome),
        "body_size": body.len(),
    });
    let Value::Object(m) = &mut e else { return e };
    if !decision.delay.is_zero() {
        m.insert("delay_ms".into(), json!(decision.delay.as_millis() as u64));
    }
    if let Some(file) = outcome.and_then(|o| o.body_file.as_deref()) {
        m.insert("body_file".into(), json!(file));
    } else if !body.is_empty() && body.len() <= INLINE_LIMIT {
        if let Ok(v) = serde_json::from_slice::<Value>(body) {
            m.insert("body".into(), v);
        } else if let Ok(text) = std::str::from_utf8(body) {
            m.insert("body".into(), json!(text));
        }
    }
    e
}
