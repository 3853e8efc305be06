//! A local work-alike of the DPI corner 2 REST API (the reference's dpi-client
//! talks to it; its production is `https://edi.edigard.com/api/v2/dpi`):
//!
//! ```text
//! POST [/prefix]/messages/out[?kanal=]            multipart: forretningsmelding (JWT) + dokumentpakke (CMS) -> 200
//! GET  [/prefix]/messages/out/{messageId}/statuses  [{status, timestamp}] (OPPRETTET, SENDT)
//! GET  [/prefix]/messages/in?kanal=&page_size=      [{forretningsmelding, downloadurl}]: receipts
//! POST [/prefix]/messages/in/{messageId}/read       acknowledge a receipt -> 200, 404 unknown
//! GET  [/prefix]/printSertifikat                    KRR's print details: this service as print provider
//! ```
//!
//! Every call needs a bearer token (only its form is checked). A message is taken
//! when its forretningsmelding is a JWS that verifies with its own `x5c`
//! certificate, names a messageId, and its `dokumentpakkefingeravtrykk` is the
//! SHA-256 of the dokumentpakke; it is stored under `messages/<messageId>/`
//! (`sbd.jwt`, `asic.cms`). Each message then gets its receipts, signed with this
//! service's own key (made on first start, kept in the folder): digital post a
//! leveringskvittering and then an aapningskvittering, print a mottakskvittering.
//! A receipt is offered once the one before it was read, so they arrive in order.
//! Receipts and statuses live in memory: a restart forgets those not yet read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use efm_core::Timestamp;
use efm_core::api::multipart;
use efm_core::crypto::cert::Certificate;
use efm_core::crypto::issue;
use efm_core::crypto::keys::{Identity, PrivateKey};
use efm_core::entropy::Entropy;
use efm_core::jose::jws::{CompactJws, SignHeader, sign_rs256};
use efm_core::transport::dpi::utc;
use http::{Method, Request};
use ring::rand::SystemRandom;
use serde_json::{Value, json};

use crate::clock;
use crate::local_service::files::{self, FileError};
use crate::local_service::{
    Outcome, Service, form_pairs, json_response, method_not_allowed, problem, unauthorized,
};

/// The organisation number corner 2 signs receipts as (the features' mailbox provider).
pub const CORNER2_ORG: &str = "987464291";

#[derive(Debug, thiserror::Error)]
pub enum LocalDpiError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("the service's key: {0}")]
    Key(String),
}

struct Sent {
    statuses: Vec<(&'static str, Timestamp)>,
}

struct Receipt {
    message_id: String,
    kanal: Option<String>,
    jwt: String,
    /// The receipt before it, which must be read first.
    after: Option<String>,
}

#[derive(Default)]
struct State {
    sent: HashMap<String, Sent>,
    /// In the order they were made.
    receipts: Vec<Receipt>,
    read: std::collections::HashSet<String>,
}

pub struct LocalDpi {
    dir: PathBuf,
    identity: Identity,
    state: Mutex<State>,
    ids: Mutex<Entropy>,
    rng: SystemRandom,
}

impl LocalDpi {
    /// State and the key in `dir`.
    pub fn open(dir: &Path) -> Result<Self, LocalDpiError> {
        files::ensure_dir(dir)?;
        let key_path = dir.join("corner2.key.pem");
        let cert_path = dir.join("corner2.cert.pem");
        let rng = SystemRandom::new();
        if !key_path.exists() || !cert_path.exists() {
            let issued =
                issue::self_signed(CORNER2_ORG, "Local DPI corner 2", clock::now(), 3650, &rng)
                    .map_err(|e| LocalDpiError::Key(e.to_string()))?;
            files::write_atomic(&key_path, issued.private_key_pem().as_bytes())?;
            files::write_atomic(&cert_path, issued.certificate_pem().as_bytes())?;
        }
        let read = |p: &Path| std::fs::read(p).map_err(|e| LocalDpiError::Key(e.to_string()));
        let key = PrivateKey::from_pem(&read(&key_path)?)
            .map_err(|e| LocalDpiError::Key(e.to_string()))?;
        let certs = Certificate::from_pem(&read(&cert_path)?)
            .map_err(|e| LocalDpiError::Key(e.to_string()))?;
        let identity = Identity::new(key, certs).map_err(|e| LocalDpiError::Key(e.to_string()))?;
        Ok(LocalDpi {
            dir: dir.to_owned(),
            identity,
            state: Mutex::new(State::default()),
            ids: Mutex::new(Entropy::from_seed(files::os_seed())),
            rng,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn new_id(&self) -> String {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).uuid().hyphenated().to_string()
    }

    fn send(&self, req: &Request<()>, body: &[u8], kanal: Option<String>) -> Outcome {
        let bad = |detail: &str| Outcome::new(problem(400, detail));
        let content_type =
            req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let Some(boundary) = content_type.and_then(|c| multipart::boundary(c).ok()) else {
            return bad("the body must be multipart/form-data with a boundary");
        };
        let parts = match multipart::parse(body, &boundary) {
            Ok(p) => p,
            Err(e) => return bad(&format!("multipart: {e}")),
        };
        let part = |name: &str| parts.iter().find(|p| p.name.as_deref() == Some(name));
        let (Some(fm), Some(cms)) = (part("forretningsmelding"), part("dokumentpakke")) else {
            return bad("parts forretningsmelding and dokumentpakke are required");
        };
        let jwt = String::from_utf8_lossy(fm.body).trim().to_owned();
        let sbd = match verified_payload(&jwt) {
            Ok(v) => v,
            Err(e) => return bad(&format!("forretningsmelding: {e}")),
        };
        let header = &sbd["standardBusinessDocumentHeader"];
        let kind = header["documentIdentification"]["type"].as_str().unwrap_or_default();
        let Some(message_id) = header["documentIdentification"]["instanceIdentifier"].as_str()
        else {
            return bad("the SBD has no messageId");
        };
        if !message_id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return bad("the messageId is not a UUID");
        }
        let business = &sbd[kind];
        let fingerprint = ring::digest::digest(&ring::digest::SHA256, cms.body);
        if business["dokumentpakkefingeravtrykk"]["digestValue"].as_str()
            != Some(STANDARD.encode(fingerprint.as_ref()).as_str())
        {
            return bad("dokumentpakkefingeravtrykk is not the SHA-256 of the dokumentpakke");
        }
        if business["maskinportentoken"].as_str().is_none_or(str::is_empty) {
            return bad("the SBD has no maskinportentoken");
        }
        let folder = self.dir.join("messages").join(message_id);
        let stored = files::ensure_dir(&folder)
            .and_then(|()| files::write_atomic(&folder.join("sbd.jwt"), jwt.as_bytes()))
            .and_then(|()| files::write_atomic(&folder.join("asic.cms"), cms.body));
        if let Err(e) = stored {
            return Outcome::new(problem(500, &e.to_string()));
        }
        let now = clock::now();
        let mut state = self.state();
        if !state.sent.contains_key(message_id) {
            state.sent.insert(
                message_id.to_owned(),
                Sent { statuses: vec![("OPPRETTET", now), ("SENDT", now)] },
            );
            let kinds: &[&str] = if kind == "utskrift" {
                &["mottakskvittering"]
            } else {
                &["leveringskvittering", "aapningskvittering"]
            };
            let mut after = None;
            for k in kinds {
                let id = self.new_id();
                let jwt = match self.receipt(&sbd, k, &id, now) {
                    Ok(j) => j,
                    Err(e) => return Outcome::new(problem(500, &e)),
                };
                state.receipts.push(Receipt {
                    message_id: id.clone(),
                    kanal: kanal.clone(),
                    jwt,
                    after: after.replace(id),
                });
            }
        }
        let sender = header["sender"][0]["identifier"]["value"].as_str().unwrap_or_default();
        let caller = sender.rsplit(':').next().unwrap_or_default().to_owned();
        Outcome::new(json_response(200, &json!({})))
            .caller(&caller)
            .body_file(format!("messages/{message_id}"))
    }

    /// A receipt of `kind` on the message `sbd`, as a JWT signed by corner 2.
    fn receipt(&self, sbd: &Value, kind: &str, id: &str, now: Timestamp) -> Result<String, String> {
        let header = &sbd["standardBusinessDocumentHeader"];
        let doc = &header["documentIdentification"];
        let scope = header["businessScope"]["scope"].get(0).cloned().unwrap_or_default();
        let original = &sbd[doc["type"].as_str().unwrap_or_default()];
        let receipt = json!({
            "standardBusinessDocumentHeader": {
                "headerVersion": "1.0",
                "sender": header["receiver"],
                "receiver": header["sender"],
                "documentIdentification": {
                    "standard": format!("urn:fdc:digdir.no:2020:innbyggerpost:xsd::innbyggerpost##urn:fdc:digdir.no:2020:innbyggerpost:schema:{kind}::1.0"),
                    "typeVersion": "1.0",
                    "instanceIdentifier": id,
                    "type": kind,
                    "creationDateAndTime": utc(now),
                },
                "businessScope": { "scope": [{
                    "type": "ConversationId",
                    "instanceIdentifier": scope["instanceIdentifier"],
                    "identifier": scope["identifier"],
                }]}
            },
            kind: {
                "avsender": original["avsender"],
                "mottaker": original["mottaker"],
                "tidspunkt": utc(now),
            }
        });
        let header = SignHeader {
            kid: None,
            x5c: self.identity.chain.iter().map(|c| c.der().to_vec()).collect(),
        };
        sign_rs256(&header, receipt.to_string().as_bytes(), &self.identity.key, &self.rng)
            .map_err(|e| e.to_string())
    }

    /// KRR's print details, naming this service (its key opens what print sends).
    fn print_details(&self) -> Outcome {
        let cert =
            self.identity.chain.first().map(|c| STANDARD.encode(c.der())).unwrap_or_default();
        let body = json!({"postkasseleverandoerAdresse": CORNER2_ORG, "x509Sertifikat": cert});
        Outcome::new(json_response(200, &body))
    }

    fn statuses(&self, message_id: &str) -> Outcome {
        let state = self.state();
        match state.sent.get(message_id) {
            None => Outcome::new(problem(404, &format!("no message {message_id}"))),
            Some(s) => {
                let list: Vec<Value> = s
                    .statuses
                    .iter()
                    .map(|(st, at)| json!({"status": st, "timestamp": utc(*at)}))
                    .collect();
                Outcome::new(json_response(200, &Value::Array(list)))
            }
        }
    }

    fn messages_in(&self, kanal: Option<&str>, page_size: usize) -> Outcome {
        let state = self.state();
        let list: Vec<Value> = state
            .receipts
            .iter()
            .filter(|r| !state.read.contains(&r.message_id))
            .filter(|r| r.after.as_ref().is_none_or(|a| state.read.contains(a)))
            .filter(|r| kanal.is_none_or(|k| r.kanal.as_deref() == Some(k)))
            .take(page_size)
            .map(|r| json!({"forretningsmelding": r.jwt, "downloadurl": null}))
            .collect();
        Outcome::new(json_response(200, &Value::Array(list)))
    }

    fn mark_read(&self, id: &str) -> Outcome {
        let mut state = self.state();
        if !state.receipts.iter().any(|r| r.message_id == id) {
            return Outcome::new(problem(404, &format!("no message {id}")));
        }
        state.read.insert(id.to_owned());
        Outcome::new(json_response(200, &json!({})))
    }
}

/// The payload of a compact JWS that verifies with the first certificate of its
/// own `x5c`.
fn verified_payload(jwt: &str) -> Result<Value, String> {
    let jws = CompactJws::parse(jwt).map_err(|e| e.to_string())?;
    let der = jws
        .header()
        .x5c
        .as_ref()
        .and_then(|c| c.first())
        .and_then(|c| STANDARD.decode(c).ok())
        .ok_or("no x5c certificate")?;
    let cert = Certificate::from_der(&der).map_err(|e| e.to_string())?;
    let key = cert.rsa_public_key().map_err(|e| e.to_string())?;
    let payload = jws.verify_with_rsa_der(&key).map_err(|e| e.to_string())?;
    serde_json::from_slice(payload).map_err(|e| e.to_string())
}

impl Service for LocalDpi {
    fn handle(&self, req: &Request<()>, body: &[u8], _duplicate: bool) -> Outcome {
        if req.uri().path().ends_with("/printSertifikat") && req.method() == Method::GET {
            return self.print_details();
        }
        if crate::local_service::authorization(req, "Bearer").is_none() {
            return Outcome::new(unauthorized("Bearer", "a bearer token is required"));
        }
        let path = req.uri().path();
        let query = form_pairs(req.uri().query().unwrap_or_default()).unwrap_or_default();
        let param = |n: &str| query.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let at = segs.iter().rposition(|s| *s == "messages");
        let tail: Vec<&str> = at.map(|i| segs[i + 1..].to_vec()).unwrap_or_default();
        let method = req.method();
        match (at.is_some(), tail.as_slice()) {
            (true, ["out"]) if method == Method::POST => self.send(req, body, param("kanal")),
            (true, ["out"]) => Outcome::new(method_not_allowed("POST")),
            (true, ["out", id, "statuses"]) if method == Method::GET => self.statuses(id),
            (true, ["in"]) if method == Method::GET => {
                let size = param("page_size").and_then(|s| s.parse().ok()).unwrap_or(100);
                self.messages_in(param("kanal").as_deref(), size)
            }
            (true, ["in", id, "read"]) if method == Method::POST => self.mark_read(id),
            _ => Outcome::new(problem(404, &format!("no such resource: {path}"))),
        }
    }
}
