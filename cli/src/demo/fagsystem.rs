//! A fagsystem's side of the eFormidling 2 REST API, as the demo uses it: create,
//! upload and send outgoing messages; peek, pop and delete incoming ones; read the
//! statuses its integration point recorded.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use super::DemoError;
use super::messages::{Message, Side};

/// The largest answer read into memory: a popped demo container is far smaller.
const MAX_ANSWER: u64 = 64 * 1024 * 1024;

pub struct Fagsystem {
    side: Side,
    base: String,
    authorization: String,
    agent: ureq::Agent,
}

/// One recorded status, as `GET /api/statuses` gives it.
#[derive(Clone, Debug)]
pub struct StatusRow {
    pub id: i64,
    pub status: String,
    pub description: Option<String>,
    pub message_id: String,
}

impl Fagsystem {
    pub fn new(side: Side, addr: SocketAddr, user: &str, password: &str) -> Self {
        use base64::Engine as _;
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Fagsystem {
            side,
            base: format!("http://{addr}"),
            authorization: format!("Basic {credentials}"),
            agent,
        }
    }

    /// Create, upload every file, send.
    pub fn send_message(&self, m: &Message) -> Result<(), DemoError> {
        let body = m.sbd.to_string();
        let create = self
            .agent
            .post(format!("{}/api/messages/out", self.base))
            .header("Authorization", &self.authorization)
            .header("Content-Type", "application/json")
            .send(body.as_bytes());
        self.expect_ok(create, "create a message")?;
        for f in &m.files {
            let upload = self
                .agent
                .put(format!("{}/api/messages/out/{}{}", self.base, m.id, title(m, f)))
                .header("Authorization", &self.authorization)
                .header("Content-Type", f.mime)
                .header("Content-Disposition", format!("attachment; filename=\"{}\"", f.name))
                .send(&f.content[..]);
            self.expect_ok(upload, "upload a file")?;
        }
        let send = self
            .agent
            .post(format!("{}/api/messages/out/{}", self.base, m.id))
            .header("Authorization", &self.authorization)
            .send_empty();
        self.expect_ok(send, "send a message").map(drop)
    }

    /// The next incoming message's SBD, leased to us; none when there is nothing.
    pub fn peek(&self) -> Result<Option<Value>, DemoError> {
        let r = self.get("/api/messages/in/peek", "peek")?;
        if r.0 == 204 {
            return Ok(None);
        }
        serde_json::from_slice(&r.1).map(Some).map_err(|e| self.garbled("peek", &e.to_string()))
    }

    /// A peeked message's ASiC-E, decrypted; empty for a message without files.
    pub fn pop(&self, id: &str) -> Result<Vec<u8>, DemoError> {
        let (status, body) = self.get(&format!("/api/messages/in/pop/{id}"), "pop")?;
        Ok(if status == 204 { Vec::new() } else { body })
    }

    pub fn delete(&self, id: &str) -> Result<(), DemoError> {
        let r = self
            .agent
            .delete(format!("{}/api/messages/in/{id}", self.base))
            .header("Authorization", &self.authorization)
            .call();
        self.expect_ok(r, "delete a message").map(drop)
    }

    /// One page of every status recorded, oldest first.
    pub fn statuses(&self, page: u64, size: u64) -> Result<Vec<StatusRow>, DemoError> {
        let path = format!("/api/statuses?sort=id,asc&size={size}&page={page}");
        let (_, body) = self.get(&path, "read statuses")?;
        let page: Value = serde_json::from_slice(&body)
            .map_err(|e| self.garbled("read statuses", &e.to_string()))?;
        let rows = page["content"]
            .as_array()
            .ok_or_else(|| self.garbled("read statuses", "the answer has no \"content\" list"))?;
        rows.iter()
            .map(|r| {
                Some(StatusRow {
                    id: r["id"].as_i64()?,
                    status: r["status"].as_str()?.to_owned(),
                    description: r["description"].as_str().map(str::to_owned),
                    message_id: r["messageId"].as_str()?.to_owned(),
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                self.garbled("read statuses", "a status lacks its id, status or messageId")
            })
    }

    fn get(&self, path: &str, call: &'static str) -> Result<(u16, Vec<u8>), DemoError> {
        let r = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.authorization)
            .call();
        self.expect_ok(r, call)
    }

    /// The answer's status and body, or the refusal as an error.
    fn expect_ok(
        &self,
        r: Result<http::Response<ureq::Body>, ureq::Error>,
        call: &'static str,
    ) -> Result<(u16, Vec<u8>), DemoError> {
        let mut r =
            r.map_err(|e| DemoError::Unreachable { side: self.side, call, detail: e.to_string() })?;
        let status = r.status().as_u16();
        let body =
            r.body_mut().with_config().limit(MAX_ANSWER).read_to_vec().map_err(|e| {
                DemoError::Unreachable { side: self.side, call, detail: e.to_string() }
            })?;
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&body);
            // The API's error JSON names what was wrong; keep a long one readable.
            let answer: String = text.chars().take(600).collect();
            return Err(DemoError::Refused { side: self.side, call, status, answer });
        }
        Ok((status, body))
    }

    fn garbled(&self, call: &'static str, detail: &str) -> DemoError {
        DemoError::Unreachable {
            side: self.side,
            call,
            detail: format!("unreadable answer: {detail}"),
        }
    }
}

/// The `?title=` DPV and DPI require of each file (a correspondence's attachment,
/// a manifest's document): the file's name without its extension.
fn title(m: &Message, f: &super::messages::File) -> String {
    if m.role.other_service().is_none_or(|s| s == "DPF") {
        return String::new();
    }
    let stem = f.name.rsplit_once('.').map_or(f.name.as_str(), |(stem, _)| stem);
    // The demo's names are plain; anything else is percent-encoded.
    let encoded: String = stem
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("?title={encoded}")
}
