//! A local service registry for demos and tests: serves the registry's lookup API from a
//! folder laid out like the reference's recorded answers:
//!
//! ```text
//! DIR/identifier/{id}.json             GET identifier/{id}
//! DIR/identifier/{id}-{anything}.json  more records for process lookups
//! DIR/info/{id}.json                   GET info/{id} (else the infoRecord of identifier/{id}.json)
//! DIR/virksert/{id}                    GET virksert/{id} (PEM)
//! ```
//!
//! `identifier/{id}/process/{p}` answers the records for `p` found in `{id}.json` and
//! `{id}-*.json`, in that order, without duplicates; none gives the registry's 404.
//! With a signing key, `Accept: application/jose` gets a compact RS256 JWS and `/jwk`
//! serves the key. Errors are never signed, as in the real registry. An optional
//! `/adressetjeneste` prefix (the real registry's context path) is accepted.

use std::path::{Path, PathBuf};

use efm_core::jose::jwk::{JwkSet, RsaPublicJwk};
use efm_core::jose::jws::{SignHeader, load_rsa_key, pem_blocks, sign_rs256};
use efm_core::registry::request::decode_segment;
use http::{Method, Request, Response, header};
use ring::rand::SystemRandom;
use ring::signature::RsaKeyPair;
use serde_json::{Value, json};

use crate::http_server::response;

/// The key the registry signs answers with.
pub struct Signer {
    key: RsaKeyPair,
    jwk: RsaPublicJwk,
    chain: Vec<Vec<u8>>,
    rng: SystemRandom,
}

impl Signer {
    /// `key_file` holds the private key (PEM PKCS#8/PKCS#1 or PKCS#8 DER) and optionally
    /// the certificate chain as PEM; `cert_file` may add the chain separately.
    pub fn load(key_file: &[u8], cert_file: Option<&[u8]>) -> Result<Self, String> {
        let key = load_rsa_key(key_file).map_err(|e| e.to_string())?;
        let mut chain = pem_blocks(key_file, "CERTIFICATE");
        if let Some(c) = cert_file {
            chain.extend(pem_blocks(c, "CERTIFICATE"));
        }
        let jwk = RsaPublicJwk::from_key_pair(&key, &chain);
        Ok(Signer { key, jwk, chain, rng: SystemRandom::new() })
    }

    pub fn jwk_set(&self) -> JwkSet {
        JwkSet { keys: vec![self.jwk.clone()] }
    }

    pub fn sign(&self, payload: &[u8]) -> Result<String, String> {
        let header = SignHeader { kid: self.jwk.kid.clone(), x5c: self.chain.clone() };
        sign_rs256(&header, payload, &self.key, &self.rng).map_err(|e| e.to_string())
    }
}

pub struct LocalRegistry {
    dir: PathBuf,
    signer: Option<Signer>,
}

impl LocalRegistry {
    pub fn new(dir: &Path, signer: Option<Signer>) -> Self {
        LocalRegistry { dir: dir.to_owned(), signer }
    }

    pub fn handle(&self, req: &Request<()>) -> Response<Vec<u8>> {
        if req.method() != Method::GET {
            return error(405, "Method not allowed");
        }
        let wants_jose = req
            .headers()
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("application/jose"));
        let path = req.uri().path();
        let path = path.strip_prefix("/adressetjeneste").unwrap_or(path);
        let segments: Option<Vec<String>> =
            path.trim_start_matches('/').split('/').map(decode_segment).collect();
        let Some(segments) = segments else {
            return error(400, "Bad path encoding");
        };
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        if segs.iter().skip(1).any(|s| !safe_name(s)) {
            return error(400, "Bad identifier");
        }
        let answer = match segs.as_slice() {
            ["jwk"] => {
                return match &self.signer {
                    Some(s) => json_response(200, s.jwk_set().to_json().to_string().into_bytes()),
                    None => error(404, "This registry does not sign"),
                };
            }
            ["identifier", id] => self.identifier(id),
            ["identifier", id, "process", p] => self.process(id, p),
            ["info", id] => self.info(id),
            // The Service Bus key, from DIR/sastoken, as the registry hands it to
            // DPE integration points (plain text).
            ["sastoken"] => match std::fs::read(self.dir.join("sastoken")) {
                Ok(key) => Ok(("text/plain", key)),
                Err(_) => return error(404, "This registry has no sastoken"),
            },
            ["virksert", id] => self.virksert(id),
            _ => return error(404, "No such resource"),
        };
        match answer {
            Err(resp) => *resp,
            Ok((content_type, body)) => match (&self.signer, wants_jose) {
                (Some(signer), true) => match signer.sign(&body) {
                    Ok(jws) => response(200, "application/jose", jws.into_bytes()),
                    Err(e) => error(500, &e),
                },
                _ => response(200, content_type, body),
            },
        }
    }

    fn read_json(&self, rel: &str) -> Option<Value> {
        let bytes = std::fs::read(self.dir.join(rel)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn identifier(&self, id: &str) -> Answer {
        match std::fs::read(self.dir.join(format!("identifier/{id}.json"))) {
            Ok(bytes) => Ok(("application/json", bytes)),
            Err(_) => Err(Box::new(not_found_entity(id))),
        }
    }

    /// Every record file for `id`: the main one first, then the others by name.
    fn record_files(&self, id: &str) -> Vec<Value> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.join("identifier"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| n.starts_with(&format!("{id}-")) && n.ends_with(".json"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let mut files = Vec::new();
        files.extend(self.read_json(&format!("identifier/{id}.json")));
        for n in names {
            files.extend(self.read_json(&format!("identifier/{n}")));
        }
        files
    }

    fn process(&self, id: &str, process: &str) -> Answer {
        let files = self.record_files(id);
        if files.is_empty() {
            return Err(Box::new(not_found_entity(id)));
        }
        let info = files.iter().find_map(|f| f.get("infoRecord").cloned()).unwrap_or(Value::Null);
        let mut records: Vec<Value> = Vec::new();
        for f in &files {
            let Some(list) = f.get("serviceRecords").and_then(Value::as_array) else {
                continue;
            };
            for r in list {
                let matches = r.get("process").and_then(Value::as_str) == Some(process);
                if matches && !records.contains(r) {
                    records.push(r.clone());
                }
            }
        }
        if records.is_empty() {
            let text = format!("Process {process} not found for receiver {id}");
            return Err(Box::new(error(404, &text)));
        }
        let body = json!({"infoRecord": info, "serviceRecords": records});
        Ok(("application/json", body.to_string().into_bytes()))
    }

    fn info(&self, id: &str) -> Answer {
        if let Ok(bytes) = std::fs::read(self.dir.join(format!("info/{id}.json"))) {
            return Ok(("application/json", bytes));
        }
        match self
            .read_json(&format!("identifier/{id}.json"))
            .and_then(|v| v.get("infoRecord").cloned())
        {
            Some(info) => Ok((
                "application/json",
                json!({"infoRecord": info, "serviceRecords": []}).to_string().into_bytes(),
            )),
            // The real registry answers an empty 404 here.
            None => Err(Box::new(response(404, "application/json", Vec::new()))),
        }
    }

    fn virksert(&self, id: &str) -> Answer {
        match std::fs::read(self.dir.join(format!("virksert/{id}"))) {
            Ok(bytes) => Ok(("text/plain", bytes)),
            Err(_) => {
                let text = format!("Unable to find DPO certificate for: {id}");
                Err(Box::new(error(404, &text)))
            }
        }
    }
}

/// A body with its content type, or an error response (boxed: it is large and rare).
type Answer = Result<(&'static str, Vec<u8>), Box<Response<Vec<u8>>>>;

/// Identifiers and process URNs only: no path separators or dot-dot, so a request can
/// never leave `DIR`.
fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || ":._-".contains(c))
}

fn json_response(status: u16, body: Vec<u8>) -> Response<Vec<u8>> {
    response(status, "application/json", body)
}

/// The registry's error shape.
fn error(status: u16, description: &str) -> Response<Vec<u8>> {
    let body = json!({"error_code": "", "error_description": description});
    json_response(status, body.to_string().into_bytes())
}

fn not_found_entity(id: &str) -> Response<Vec<u8>> {
    error(404, &format!("Entity with identifier '{id}' not found."))
}
