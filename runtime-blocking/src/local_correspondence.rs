//! A local work-alike of Altinn 3 Correspondence as Digdir's proxy serves it (DPV's
//! message service), for demos and tests.
//!
//! Routes, under `/correspondence/api/v1/`:
//!
//! ```text
//! POST correspondence/upload                 multipart form (fields + `attachments` files) -> {"correspondences":[{"correspondenceId",…}],"attachmentIds":[…]}
//! GET  correspondence?sendersReference=<r>   -> {"ids":[…]} (the caller's, newest first)
//! GET  correspondence/{id}                   overview: created, published, read, status, statusChanged
//! POST correspondence/{id}/markasread        the recipient reads it (a test hook: no token asked)
//! ```
//!
//! The caller is the organisation of an Altinn token issued by the local broker's
//! token exchange (the work-alike is given the broker's token secret) with the scope
//! `eformidling:dpv`; without a secret any Bearer token is taken and the caller is
//! the form's `correspondence.sender`. A correspondence is published at once; it is
//! read when marked so, or by itself `read_after` its publishing when that is set. A
//! repeated `idempotentKey` is answered 409, as Altinn does.
//!
//! Every correspondence is kept as `correspondences/<id>.json` (its form fields in
//! order, its files' names, types and stored paths) with its files under
//! `files/<id>/`, and survives a restart. Each upload's whole body is also kept, as
//! `uploads/<id>.form`, and named by the request record.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use efm_core::api::multipart;
use efm_core::entropy::Entropy;
use http::{Method, Request, Response};
use serde_json::{Map, Value, json};

use crate::clock;
use crate::local_broker::token::{Kind, Tokens};
use crate::local_service::files::{self, FileError};
use crate::local_service::{
    Outcome, Problem, Service, authorization, json_response, method_not_allowed, problem,
    unauthorized,
};

const API: &str = "/correspondence/api/v1/";
const SCOPE: &str = "eformidling:dpv";

/// The form fields a correspondence cannot go without.
const REQUIRED: [&str; 7] = [
    "correspondence.resourceId",
    "correspondence.sendersReference",
    "correspondence.content.language",
    "correspondence.content.messageTitle",
    "correspondence.content.messageSummary",
    "correspondence.content.messageBody",
    "recipients[0]",
];

#[derive(Debug, thiserror::Error)]
pub enum CorrespondenceError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{0}: {1}")]
    Record(PathBuf, String),
}

pub struct LocalCorrespondence {
    dir: PathBuf,
    tokens: Option<Tokens>,
    read_after: Option<Duration>,
    state: Mutex<BTreeMap<String, Value>>,
    ids: Mutex<Entropy>,
}

type Answer = Result<Response<Vec<u8>>, Problem>;

impl LocalCorrespondence {
    /// Opens (or starts) the service kept in `dir`. `token_secret`: the local
    /// broker's `token-secret` file, to check the Altinn tokens it issues.
    pub fn open(
        dir: &Path,
        token_secret: Option<&Path>,
        read_after: Option<Duration>,
    ) -> Result<Self, CorrespondenceError> {
        for sub in ["correspondences", "files", "uploads"] {
            files::ensure_dir(&dir.join(sub))?;
        }
        files::sweep_temporaries(&dir.join("correspondences"));
        let tokens = match token_secret {
            Some(p) => Some(Tokens::new(&files::secret(p)?)),
            None => None,
        };
        let mut state = BTreeMap::new();
        let records = dir.join("correspondences");
        let entries = std::fs::read_dir(&records).map_err(FileError::at(&records))?;
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(FileError::at(&path))?;
            let v: Value = serde_json::from_slice(&bytes)
                .map_err(|err| CorrespondenceError::Record(path.clone(), err.to_string()))?;
            if let Some(id) = v["correspondenceId"].as_str() {
                state.insert(id.to_owned(), v);
            }
        }
        Ok(LocalCorrespondence {
            dir: dir.to_owned(),
            tokens,
            read_after,
            state: Mutex::new(state),
            ids: Mutex::new(Entropy::from_seed(files::os_seed())),
        })
    }

    fn new_id(&self) -> String {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).uuid().hyphenated().to_string()
    }

    /// The caller's organisation, from its Altinn token.
    fn caller(&self, req: &Request<()>, now: i64) -> Result<Option<String>, Problem> {
        let bearer = authorization(req, "Bearer")
            .ok_or_else(|| unauthorized("Bearer", "a Bearer Altinn token is required"))?;
        let Some(tokens) = &self.tokens else { return Ok(None) };
        let claims =
            tokens.check(bearer, now / 1000).map_err(|e| unauthorized("Bearer", &e.to_string()))?;
        if claims.kind != Kind::Altinn {
            return Err(unauthorized("Bearer", "the proxy takes an Altinn token"));
        }
        if !claims.has_scope(SCOPE) {
            return Err(problem(403, &format!("the token lacks the scope {SCOPE}")));
        }
        Ok(Some(claims.org))
    }

    fn upload(&self, caller: Option<&str>, req: &Request<()>, body: &[u8], now: i64) -> Answer {
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let boundary = multipart::boundary(content_type)
            .map_err(|_| problem(415, "the body must be multipart/form-data with a boundary"))?;
        let parts = multipart::parse(body, &boundary)
            .map_err(|e| problem(400, &format!("the form does not parse: {e}")))?;
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut uploads = Vec::new();
        for p in &parts {
            let name = p.name.clone().unwrap_or_default();
            if p.filename.is_some() {
                if name != "attachments" {
                    return Err(problem(400, &format!("a file in the field {name:?}")));
                }
                uploads.push(p);
            } else {
                let value = std::str::from_utf8(p.body)
                    .map_err(|_| problem(400, &format!("the field {name:?} is not UTF-8")))?;
                fields.push((name, value.to_owned()));
            }
        }
        let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let mut errors = Map::new();
        for k in REQUIRED {
            if field(k).is_none_or(str::is_empty) {
                errors.insert(k.to_owned(), json!([format!("The {k} field is required.")]));
            }
        }
        // Every file has its metadata, in order, by file name.
        for (i, f) in uploads.iter().enumerate() {
            let key = format!("correspondence.content.attachments[{i}].fileName");
            if field(&key) != f.filename.as_deref() {
                errors.insert(key, json!(["does not name the uploaded file"]));
            }
        }
        let meta = format!("correspondence.content.attachments[{}].fileName", uploads.len());
        if field(&meta).is_some() {
            errors.insert(meta, json!(["names a file that was not uploaded"]));
        }
        if !errors.is_empty() {
            return Err(problem(400, "One or more validation errors occurred.")
                .with("errors", Value::Object(errors)));
        }
        let sender = field("correspondence.sender").unwrap_or_default();
        let sender_org = sender.rsplit(':').next().unwrap_or_default();
        if let Some(org) = caller
            && org != sender_org
        {
            return Err(unauthorized(
                "Bearer",
                &format!("the token is for {org}, the sender is {sender}"),
            ));
        }
        let key = field("idempotentKey").map(str::to_owned);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = &key
            && state.values().any(|c| c["idempotentKey"].as_str() == Some(k))
        {
            return Err(problem(409, "A correspondence with this idempotentKey already exists")
                .with("errorCode", json!("CORR-2021")));
        }
        let id = self.new_id();
        let folder = self.dir.join("files").join(&id);
        files::ensure_dir(&folder).map_err(|e| server_error(&e))?;
        let mut attachments = Vec::new();
        let mut attachment_ids = Vec::new();
        for (i, f) in uploads.iter().enumerate() {
            let stored = format!("files/{id}/{i}");
            files::write_atomic(&self.dir.join(&stored), f.body).map_err(|e| server_error(&e))?;
            let attachment_id = self.new_id();
            attachments.push(json!({
                "attachmentId": attachment_id,
                "fileName": f.filename,
                "contentType": f.content_type,
                "size": f.body.len(),
                "file": stored,
            }));
            attachment_ids.push(attachment_id);
        }
        files::write_atomic(&self.dir.join("uploads").join(format!("{id}.form")), body)
            .map_err(|e| server_error(&e))?;
        let at = time_text(now);
        let record = json!({
            "correspondenceId": id,
            "resourceId": field("correspondence.resourceId"),
            "sender": sender,
            "sendersReference": field("correspondence.sendersReference"),
            "recipient": field("recipients[0]"),
            "idempotentKey": key,
            "created": at,
            "published": at,
            "read": null,
            "status": "Published",
            "statusChanged": at,
            "fields": fields.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "attachments": attachments,
        });
        self.save(&id, &record)?;
        state.insert(id.clone(), record);
        let answer = json!({
            "correspondences": [{
                "correspondenceId": id,
                "status": "Initialized",
                "recipient": field("recipients[0]"),
                "notifications": null,
            }],
            "attachmentIds": attachment_ids,
        });
        Ok(json_response(200, &answer))
    }

    fn save(&self, id: &str, record: &Value) -> Result<(), Problem> {
        let path = self.dir.join("correspondences").join(format!("{id}.json"));
        let bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
        files::write_atomic(&path, &bytes).map_err(|e| server_error(&e))
    }

    /// The record as it is `now`: read by itself once `read_after` has passed.
    fn current(&self, record: &Value, now: i64) -> Value {
        let mut r = record.clone();
        if let (Some(after), true) = (self.read_after, r["read"].is_null()) {
            let published = r["published"].as_str().and_then(parse_millis);
            let after = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
            if let Some(p) = published
                && now >= p.saturating_add(after)
            {
                let at = time_text(p.saturating_add(after));
                r["read"] = json!(at);
                r["status"] = json!("Read");
                r["statusChanged"] = json!(at);
            }
        }
        r
    }

    fn overview(&self, caller: Option<&str>, id: &str, now: i64) -> Answer {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let record = state.get(id).filter(|r| owned_by(r, caller)).ok_or_else(not_found)?;
        let r = self.current(record, now);
        let mut o = Map::new();
        for k in [
            "correspondenceId",
            "resourceId",
            "sender",
            "sendersReference",
            "recipient",
            "created",
            "published",
            "read",
            "status",
            "statusChanged",
        ] {
            if !r[k].is_null() {
                o.insert(k.to_owned(), r[k].clone());
            }
        }
        o.insert("statusText".into(), r["status"].clone());
        Ok(json_response(200, &Value::Object(o)))
    }

    fn search(&self, caller: Option<&str>, query: &str) -> Answer {
        let pairs = crate::local_service::form_pairs(query)
            .ok_or_else(|| problem(400, "the query is not well encoded"))?;
        let reference = pairs.iter().find(|(k, _)| k == "sendersReference").map(|(_, v)| v);
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut found: Vec<&Value> = state
            .values()
            .filter(|r| owned_by(r, caller))
            .filter(|r| reference.is_none_or(|s| r["sendersReference"].as_str() == Some(s)))
            .collect();
        found.sort_by(|a, b| b["created"].as_str().cmp(&a["created"].as_str()));
        let ids: Vec<&Value> = found.iter().map(|r| &r["correspondenceId"]).collect();
        Ok(json_response(200, &json!({ "ids": ids })))
    }

    fn mark_read(&self, id: &str, now: i64) -> Answer {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let record = state.get(id).ok_or_else(not_found)?;
        let mut r = self.current(record, now);
        if r["read"].is_null() {
            let at = time_text(now);
            r["read"] = json!(at);
            r["status"] = json!("Read");
            r["statusChanged"] = json!(at);
        }
        self.save(id, &r)?;
        state.insert(id.to_owned(), r);
        Ok(json_response(200, &json!(id)))
    }
}

impl Service for LocalCorrespondence {
    fn handle(&self, req: &Request<()>, body: &[u8], _duplicate: bool) -> Outcome {
        let now = clock::now().as_unix_millis();
        let path = req.uri().path();
        let Some(rest) = path.strip_prefix(API) else {
            return Outcome::new(problem(404, &format!("no such resource: {path}")));
        };
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        // The test hook needs no token: the recipient has none here.
        if let ["correspondence", id, "markasread"] = segments.as_slice() {
            if req.method() != Method::POST {
                return Outcome::new(method_not_allowed("POST"));
            }
            return Outcome::new(
                self.mark_read(&id.to_ascii_lowercase(), now).unwrap_or_else(Problem::response),
            );
        }
        let caller = match self.caller(req, now) {
            Ok(c) => c,
            Err(p) => return Outcome::new(p),
        };
        let answer = match (segments.as_slice(), req.method()) {
            (["correspondence", "upload"], &Method::POST) => {
                self.upload(caller.as_deref(), req, body, now)
            }
            (["correspondence", "upload"], _) => Err(method_not_allowed("POST")),
            (["correspondence"], &Method::GET) => {
                self.search(caller.as_deref(), req.uri().query().unwrap_or(""))
            }
            (["correspondence", id], &Method::GET) => {
                self.overview(caller.as_deref(), &id.to_ascii_lowercase(), now)
            }
            (["correspondence", ..], _) => Err(method_not_allowed("GET")),
            _ => Err(problem(404, &format!("no such resource: {path}"))),
        };
        let created = answer.as_ref().ok().filter(|r| r.status() == 200).and_then(|r| {
            let v: Value = serde_json::from_slice(r.body()).ok()?;
            v["correspondences"][0]["correspondenceId"].as_str().map(str::to_owned)
        });
        let mut outcome = Outcome::new(answer.unwrap_or_else(Problem::response));
        if let Some(org) = &caller {
            outcome = outcome.caller(org);
        }
        match created {
            Some(id) if segments.as_slice() == ["correspondence", "upload"] => {
                outcome.body_file(format!("uploads/{id}.form"))
            }
            _ => outcome,
        }
    }
}

/// Without token checks every correspondence is anyone's.
fn owned_by(record: &Value, caller: Option<&str>) -> bool {
    caller
        .is_none_or(|org| record["sender"].as_str().and_then(|s| s.rsplit(':').next()) == Some(org))
}

fn time_text(millis: i64) -> String {
    efm_core::Timestamp::from_unix_millis(millis).to_rfc3339()
}

fn parse_millis(s: &str) -> Option<i64> {
    efm_core::sbd::DateTime::parse(s).ok().map(|t| t.timestamp().as_unix_millis())
}

fn not_found() -> Problem {
    problem(404, "The requested correspondence was not found")
}

fn server_error(e: &dyn std::fmt::Display) -> Problem {
    eprintln!("efm correspondence: {e}");
    problem(500, &format!("the correspondence could not be stored: {e}"))
}
