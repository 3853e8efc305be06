//! A local work-alike of KS FIKS for DPF: SvarUt's web service (sending) and
//! SvarInn's REST API (receiving), matched by the end of the path so any prefix works:
//!
//! ```text
//! POST .../ForsendelsesServiceV9            SOAP 1.2 (MTOM for a send), by body element:
//!      sendForsendelseMedId                 stored in svarut/<id>/, answers the id
//!      retreiveForsendelseTyper             the configured types
//!      retrieveForsendelseStatuser          LEST once `lest_after` has passed, else MOTTATT
//! GET  .../mottaker/hentNyeForsendelser     svarinn/<id>/forsendelse.json not yet acknowledged
//! GET  .../forsendelse/<id>                 svarinn/<id>/dokumenter.zip.cms as it is, or
//!                                           dokumenter.zip encrypted now to certs/<orgnr>.pem
//! POST .../kvitterMottak/forsendelse/<id>   marks it received (svarinn/<id>/kvittert)
//! POST .../mottakFeilet/forsendelse/<id>    marks it failed (svarinn/<id>/feilet)
//! ```
//!
//! A send is kept as `svarut/<forsendelsesid>/forsendelse.xml` (the SOAP part as
//! received), `summary.json` (ids, caller, time, documents) and one `<n>.cms` per
//! document as received (encrypted to SvarUt's certificate); the request record
//! points at `summary.json`. The same forsendelsesid twice is the fault SvarUt gives
//! ("Duplikat"). Every call takes HTTP Basic; with credentials configured they must
//! match. A SvarInn listing names the forsendelser whose `mottaker.orgnr` is the
//! Basic user name when that is an organisation number, else all.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use efm_core::crypto::cert::Certificate;
use efm_core::crypto::envelope_write::CmsEncryptor;
use efm_core::crypto::key_unwrap::KeyTransport;
use efm_core::transport::svarut::{self, NAMESPACE, XmlNode};
use http::{Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::clock;
use crate::local_service::files::{self, FileError};
use crate::local_service::{Outcome, Problem, Service, json_response, problem, unauthorized};

const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";

#[derive(Debug, Clone)]
pub struct FiksConfig {
    /// What `retreiveForsendelseTyper` answers.
    pub types: Vec<String>,
    /// A forsendelse reads as LEST this long after it was sent; `None`: never.
    pub lest_after: Option<Duration>,
    /// The Basic credentials every call must carry; `None` accepts any.
    pub credentials: Option<(String, String)>,
}

impl Default for FiksConfig {
    fn default() -> Self {
        FiksConfig {
            types: vec!["forsendelsetype-1".into()],
            lest_after: Some(Duration::from_secs(2)),
            credentials: None,
        }
    }
}

pub struct LocalFiks {
    dir: PathBuf,
    config: FiksConfig,
    /// One send at a time, so a duplicate is told from a new one.
    sending: Mutex<()>,
}

fn soap(status: u16, body: &str) -> Response<Vec<u8>> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"{SOAP12}\">\
         <soap:Body>{body}</soap:Body></soap:Envelope>"
    );
    crate::http_server::response(status, "application/soap+xml; charset=utf-8", xml.into_bytes())
}

fn fault(text: &str) -> Response<Vec<u8>> {
    let text = esc(text);
    soap(
        500,
        &format!(
            "<soap:Fault><soap:Code><soap:Value>soap:Receiver</soap:Value></soap:Code>\
             <soap:Reason><soap:Text xml:lang=\"no\">{text}</soap:Text></soap:Reason></soap:Fault>"
        ),
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An id that is safe as a folder name.
fn safe_id(id: &str) -> Option<&str> {
    (!id.is_empty()
        && id.len() <= 100
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(id)
}

fn server_error(e: &FileError) -> Response<Vec<u8>> {
    problem(500, &e.to_string()).response()
}

impl LocalFiks {
    pub fn open(dir: &Path, config: FiksConfig) -> Result<Self, FileError> {
        files::ensure_dir(dir)?;
        files::ensure_dir(&dir.join("svarut"))?;
        files::ensure_dir(&dir.join("svarinn"))?;
        files::ensure_dir(&dir.join("certs"))?;
        Ok(LocalFiks { dir: dir.to_owned(), config, sending: Mutex::new(()) })
    }

    /// The Basic user, if the credentials are acceptable.
    fn caller(&self, req: &Request<()>) -> Result<String, Problem> {
        let refuse = || unauthorized("Basic realm=\"fiks\"", "HTTP Basic credentials needed");
        let token = crate::local_service::authorization(req, "Basic").ok_or_else(refuse)?;
        let decoded = STANDARD.decode(token).map_err(|_| refuse())?;
        let text = String::from_utf8(decoded).map_err(|_| refuse())?;
        let (user, password) = text.split_once(':').ok_or_else(refuse)?;
        match &self.config.credentials {
            Some((u, p)) if u != user || p != password => Err(refuse()),
            _ => Ok(user.to_owned()),
        }
    }

    fn svarut(&self, req: &Request<()>, body: &[u8], caller: &str) -> Outcome {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let xml = svarut::soap_part(Some(&content_type), body);
        let tree = match svarut::parse_tree(xml) {
            Ok(t) => t,
            Err(e) => return Outcome::new(fault(&format!("Ugyldig innhold: {e}"))).caller(caller),
        };
        let Some(op) = tree.find("Body").and_then(|b| b.children.first()) else {
            return Outcome::new(fault("Ugyldig innhold: no SOAP body")).caller(caller);
        };
        let outcome = match op.name.as_str() {
            "sendForsendelseMedId" => return self.send(op, xml, &content_type, body, caller),
            "retreiveForsendelseTyper" => {
                let returns: String = self
                    .config
                    .types
                    .iter()
                    .map(|t| format!("<return>{}</return>", esc(t)))
                    .collect();
                Outcome::new(soap(
                    200,
                    &format!(
                        "<ns2:retreiveForsendelseTyperResponse xmlns:ns2=\"{NAMESPACE}\">{returns}</ns2:retreiveForsendelseTyperResponse>"
                    ),
                ))
            }
            "retrieveForsendelseStatuser" => Outcome::new(self.statuses(op)),
            other => Outcome::new(fault(&format!("unsupported operation {other}"))),
        };
        outcome.caller(caller)
    }

    fn send(
        &self,
        op: &XmlNode,
        xml: &[u8],
        content_type: &str,
        body: &[u8],
        caller: &str,
    ) -> Outcome {
        let Some(id) = op.child("forsendelsesid").map(|n| n.text.trim().to_owned()) else {
            return Outcome::new(fault("Ugyldig innhold: no forsendelsesid")).caller(caller);
        };
        let Some(id) = safe_id(&id).map(str::to_owned) else {
            return Outcome::new(fault("Ugyldig innhold: a bad forsendelsesid")).caller(caller);
        };
        let Some(forsendelse) = op.child("forsendelse") else {
            return Outcome::new(fault("Ugyldig innhold: no forsendelse")).caller(caller);
        };
        let parts = svarut::multipart_parts(content_type, body).unwrap_or_default();
        let _guard = self.sending.lock().unwrap_or_else(|p| p.into_inner());
        let folder = self.dir.join("svarut").join(&id);
        if folder.join("summary.json").exists() {
            return Outcome::new(fault(&format!("Duplikat forsendelsesid {id}"))).caller(caller);
        }
        let mut documents = Vec::new();
        let mut contents = Vec::new();
        for (i, d) in forsendelse.all("dokumenter").enumerate() {
            let href =
                d.child("data").and_then(|x| x.child("Include")).and_then(|x| x.href.clone());
            let content: Vec<u8> = match href.as_deref().and_then(|h| h.strip_prefix("cid:")) {
                Some(cid) => match parts.iter().find(|p| p.content_id() == Some(cid)) {
                    Some(p) => p.content.to_vec(),
                    None => {
                        return Outcome::new(fault(&format!(
                            "Feil under lesing av dokument: no part {cid}"
                        )))
                        .caller(caller);
                    }
                },
                // Inline base64, as a client without MTOM sends it.
                None => {
                    match d.child("data").map(|x| x.text.split_whitespace().collect::<String>()) {
                        Some(b64) => match STANDARD.decode(b64) {
                            Ok(v) => v,
                            Err(_) => {
                                return Outcome::new(fault("Feil under lesing av dokument"))
                                    .caller(caller);
                            }
                        },
                        None => Vec::new(),
                    }
                }
            };
            if content.is_empty() {
                return Outcome::new(fault("Kan ikke lagre tomt dokument")).caller(caller);
            }
            let text = |name: &str| d.child(name).map(|n| n.text.clone()).unwrap_or_default();
            let file = format!("{i}.cms");
            documents.push(json!({
                "filnavn": text("filnavn"),
                "mimetype": text("mimetype"),
                "ekskluderesFraPrint": text("ekskluderesFraPrint"),
                "file": format!("svarut/{id}/{file}"),
                "size": content.len(),
            }));
            contents.push((file, content));
        }
        let write = || -> Result<(), FileError> {
            files::ensure_dir(&folder)?;
            files::write_atomic(&folder.join("forsendelse.xml"), xml)?;
            for (file, content) in &contents {
                files::write_atomic(&folder.join(file), content)?;
            }
            let summary = json!({
                "forsendelsesid": id,
                "eksternref": forsendelse.child("eksternref").map(|n| n.text.clone()),
                "caller": caller,
                "sent": clock::now().as_unix_millis(),
                "documents": documents,
                "forsendelse_xml": format!("svarut/{id}/forsendelse.xml"),
            });
            files::write_atomic(&folder.join("summary.json"), summary.to_string().as_bytes())
        };
        if let Err(e) = write() {
            return Outcome::new(server_error(&e)).caller(caller);
        }
        let answer = soap(
            200,
            &format!(
                "<ns2:sendForsendelseMedIdResponse xmlns:ns2=\"{NAMESPACE}\"><return>{}</return></ns2:sendForsendelseMedIdResponse>",
                esc(&id)
            ),
        );
        Outcome::new(answer).caller(caller).body_file(format!("svarut/{id}/summary.json"))
    }

    fn statuses(&self, op: &XmlNode) -> Response<Vec<u8>> {
        let now = clock::now().as_unix_millis();
        let mut returns = String::new();
        for id in op.all("forsendelseider").map(|n| n.text.trim()) {
            let Some(safe) = safe_id(id) else { continue };
            let Ok(text) = std::fs::read(self.dir.join("svarut").join(safe).join("summary.json"))
            else {
                continue;
            };
            let sent = serde_json::from_slice::<Value>(&text)
                .ok()
                .and_then(|v| v["sent"].as_i64())
                .unwrap_or(now);
            let lest = self.config.lest_after.is_some_and(|after| {
                now - sent >= i64::try_from(after.as_millis()).unwrap_or(i64::MAX)
            });
            let status = if lest { "LEST" } else { "MOTTATT" };
            returns.push_str(&format!(
                "<return><forsendelseStatus>{status}</forsendelseStatus><forsendelsesid>{}</forsendelsesid></return>",
                esc(id)
            ));
        }
        soap(
            200,
            &format!(
                "<ns2:retrieveForsendelseStatuserResponse xmlns:ns2=\"{NAMESPACE}\">{returns}</ns2:retrieveForsendelseStatuserResponse>"
            ),
        )
    }

    fn inbox(&self) -> PathBuf {
        self.dir.join("svarinn")
    }

    fn list(&self, caller: &str) -> Response<Vec<u8>> {
        let by_org = caller.len() == 9 && caller.bytes().all(|b| b.is_ascii_digit());
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.inbox()) else {
            return json_response(200, &json!([]));
        };
        let mut folders: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        folders.sort();
        for folder in folders {
            if folder.join("kvittert").exists() || folder.join("feilet").exists() {
                continue;
            }
            let Ok(text) = std::fs::read(folder.join("forsendelse.json")) else { continue };
            // Served as it is: a malformed forsendelse is the node's problem to isolate.
            let Ok(mut item) = serde_json::from_slice::<Value>(&text) else { continue };
            if by_org && item["mottaker"]["orgnr"].as_str().is_some_and(|o| o != caller) {
                continue;
            }
            if item.get("downloadUrl").is_none_or(Value::is_null)
                && let Some(id) = item["id"].as_str()
            {
                item["downloadUrl"] = json!(format!("/mottaker/forsendelse/{id}"));
            }
            out.push(item);
        }
        json_response(200, &Value::Array(out))
    }

    fn download(&self, id: &str) -> Response<Vec<u8>> {
        let Some(id) = safe_id(id) else { return problem(404, "no such forsendelse").response() };
        let folder = self.inbox().join(id);
        let bytes = if let Ok(cms) = std::fs::read(folder.join("dokumenter.zip.cms")) {
            cms
        } else {
            match self.encrypt_now(&folder) {
                Ok(cms) => cms,
                Err(p) => return p.response(),
            }
        };
        crate::http_server::response(200, "application/octet-stream", bytes)
    }

    /// The forsendelse's zip, encrypted now to its receiver's certificate.
    fn encrypt_now(&self, folder: &Path) -> Result<Vec<u8>, Problem> {
        let zip = std::fs::read(folder.join("dokumenter.zip"))
            .map_err(|_| problem(404, "no such forsendelse"))?;
        let meta: Value = std::fs::read(folder.join("forsendelse.json"))
            .ok()
            .and_then(|t| serde_json::from_slice(&t).ok())
            .unwrap_or_default();
        let org = meta["mottaker"]["orgnr"].as_str().and_then(safe_id).unwrap_or_default();
        let pem = std::fs::read(self.dir.join("certs").join(format!("{org}.pem")))
            .map_err(|_| problem(500, &format!("no certificate for {org} in certs/")))?;
        let cert = Certificate::from_pem(&pem)
            .ok()
            .and_then(|c| c.into_iter().next())
            .ok_or_else(|| problem(500, "a bad certificate in certs/"))?;
        let rng = ring::rand::SystemRandom::new();
        let mut cms = CmsEncryptor::new(&cert, KeyTransport::RsaPkcs1v15, &rng)
            .map_err(|e| problem(500, &e.to_string()))?;
        let mut out = Vec::with_capacity(zip.len() + 1024);
        let mut buf = vec![0u8; 64 * 1024];
        let mut rest = zip.as_slice();
        while !rest.is_empty() {
            let p = cms.encrypt(rest, &mut buf).map_err(|e| problem(500, &e.to_string()))?;
            out.extend_from_slice(buf.get(..p.written).unwrap_or_default());
            rest = rest.get(p.consumed..).unwrap_or_default();
        }
        cms.finish().map_err(|e| problem(500, &e.to_string()))?;
        while cms.pending_len() > 0 {
            let n = cms.drain(&mut buf);
            out.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        Ok(out)
    }

    fn mark(&self, id: &str, marker: &str) -> Response<Vec<u8>> {
        let Some(id) = safe_id(id) else { return problem(404, "no such forsendelse").response() };
        let folder = self.inbox().join(id);
        if !folder.join("forsendelse.json").exists() {
            return problem(404, "no such forsendelse").response();
        }
        let now = clock::now().as_unix_millis().to_string();
        match files::write_atomic(&folder.join(marker), now.as_bytes()) {
            Ok(()) => {
                let mut r = Response::new(Vec::new());
                *r.status_mut() = StatusCode::OK;
                r
            }
            Err(e) => server_error(&e),
        }
    }
}

impl Service for LocalFiks {
    fn handle(&self, req: &Request<()>, body: &[u8], _duplicate: bool) -> Outcome {
        let caller = match self.caller(req) {
            Ok(c) => c,
            Err(p) => return Outcome::new(p.response()),
        };
        let path = req.uri().path().to_owned();
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let tail = |n: usize| segs.len().checked_sub(n).and_then(|i| segs.get(i)).copied();
        let method = req.method();
        let response = match (method, tail(3), tail(2), tail(1)) {
            (&Method::POST, _, _, Some("ForsendelsesServiceV9")) => {
                return self.svarut(req, body, &caller);
            }
            (&Method::GET, _, Some("mottaker"), Some("hentNyeForsendelser")) => self.list(&caller),
            (&Method::GET, _, Some("forsendelse"), Some(id)) => self.download(id),
            (&Method::POST, Some("kvitterMottak"), Some("forsendelse"), Some(id)) => {
                self.mark(id, "kvittert")
            }
            (&Method::POST, Some("mottakFeilet"), Some("forsendelse"), Some(id)) => {
                self.mark(id, "feilet")
            }
            _ => problem(404, &format!("no such resource: {path}")).response(),
        };
        Outcome::new(response).caller(&caller)
    }
}
