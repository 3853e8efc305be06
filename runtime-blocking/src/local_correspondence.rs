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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local_broker::token::Claims;

    const BOUNDARY: &str = "b0undary";
    const KEY: &str = "abc8849c-e281-4809-8555-7cd54952b926";

    struct Fixture {
        _dir: tempfile::TempDir,
        service: LocalCorrespondence,
        tokens: Tokens,
        secret: PathBuf,
    }

    fn fixture(read_after: Option<Duration>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("token-secret");
        let tokens = Tokens::new(&files::secret(&secret).unwrap());
        let service =
            LocalCorrespondence::open(&dir.path().join("c"), Some(&secret), read_after).unwrap();
        Fixture { _dir: dir, service, tokens, secret }
    }

    impl Fixture {
        fn token(&self, org: &str, kind: Kind, scope: &str) -> String {
            let claims = Claims {
                org: org.into(),
                kind,
                scopes: vec![scope.into()],
                expires: clock::now().as_unix_millis() / 1000 + 600,
            };
            self.tokens.issue(&claims, 1)
        }

        fn call(&self, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, Value) {
            let mut b = Request::builder().method(method).uri(path);
            if let Some(t) = token {
                b = b.header("Authorization", format!("Bearer {t}"));
            }
            if method == "POST" {
                b = b.header("Content-Type", format!("multipart/form-data; boundary={BOUNDARY}"));
            }
            let outcome = self.service.handle(&b.body(()).unwrap(), body, false);
            let status = outcome.response.status().as_u16();
            (status, serde_json::from_slice(outcome.response.body()).unwrap_or(Value::Null))
        }
    }

    fn form(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in fields {
            out.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        for (name, content) in files {
            out.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"{name}\"\r\nContent-Type: text/plain\r\n\r\n").as_bytes());
            out.extend_from_slice(content);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        out
    }

    fn fields(key: &str) -> Vec<(&'static str, String)> {
        vec![
            ("correspondence.resourceId", "eformidling-dpv-administrasjon".into()),
            ("correspondence.sender", "0192:910077473".into()),
            ("correspondence.sendersReference", key.into()),
            ("correspondence.content.language", "nb".into()),
            ("correspondence.content.messageTitle", "T".into()),
            ("correspondence.content.messageSummary", "S".into()),
            ("correspondence.content.messageBody", "B".into()),
            ("correspondence.content.attachments[0].fileName", "a.txt".into()),
            ("recipients[0]", "urn:altinn:organization:identifier-no:910075946".into()),
            ("idempotentKey", key.into()),
        ]
    }

    fn upload_body(key: &str) -> Vec<u8> {
        let f = fields(key);
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form(&f, &[("a.txt", b"Testing 1 2 3")])
    }

    const UPLOAD: &str = "/correspondence/api/v1/correspondence/upload";

    #[test]
    fn an_upload_is_kept_published_found_and_not_repeated() {
        let f = fixture(None);
        let token = f.token("910077473", Kind::Altinn, SCOPE);
        let (status, answer) = f.call("POST", UPLOAD, Some(&token), &upload_body(KEY));
        assert_eq!(status, 200, "{answer}");
        let id = answer["correspondences"][0]["correspondenceId"].as_str().unwrap().to_owned();
        assert_eq!(answer["attachmentIds"].as_array().map(Vec::len), Some(1));
        // Kept: the fields in order and the file on disk.
        let dir = f.service.dir.clone();
        let record: Value = serde_json::from_slice(
            &std::fs::read(dir.join(format!("correspondences/{id}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            record["fields"][0],
            json!(["correspondence.resourceId", "eformidling-dpv-administrasjon"])
        );
        let stored = record["attachments"][0]["file"].as_str().unwrap();
        assert_eq!(std::fs::read(dir.join(stored)).unwrap(), b"Testing 1 2 3");
        assert!(dir.join(format!("uploads/{id}.form")).exists());

        let path = format!("/correspondence/api/v1/correspondence/{id}");
        let (status, o) = f.call("GET", &path, Some(&token), b"");
        assert_eq!(status, 200);
        assert_eq!(o["status"], "Published");
        assert!(o["published"].is_string() && o.get("read").is_none(), "{o}");

        // The same idempotentKey again: 409; found by its reference.
        let (status, _) = f.call("POST", UPLOAD, Some(&token), &upload_body(KEY));
        assert_eq!(status, 409);
        let search = format!("/correspondence/api/v1/correspondence?sendersReference={KEY}");
        let (status, found) = f.call("GET", &search, Some(&token), b"");
        assert_eq!((status, found), (200, json!({ "ids": [id.clone()] })));
        // Another organisation sees none of it.
        let other = f.token("910075946", Kind::Altinn, SCOPE);
        assert_eq!(f.call("GET", &search, Some(&other), b"").1, json!({"ids": []}));
        assert_eq!(f.call("GET", &path, Some(&other), b"").0, 404);

        // Read when marked so; kept across a restart.
        let (status, _) = f.call("POST", &format!("{path}/markasread"), None, b"");
        assert_eq!(status, 200);
        let again = LocalCorrespondence::open(&dir, Some(&f.secret), None).unwrap();
        let f2 = Fixture { service: again, ..f };
        let (_, o) = f2.call("GET", &path, Some(&token), b"");
        assert_eq!(o["status"], "Read");
        assert!(o["read"].is_string());
    }

    #[test]
    fn read_after_a_delay() {
        let f = fixture(Some(Duration::ZERO));
        let token = f.token("910077473", Kind::Altinn, SCOPE);
        let (_, answer) = f.call("POST", UPLOAD, Some(&token), &upload_body(KEY));
        let id = answer["correspondences"][0]["correspondenceId"].as_str().unwrap().to_owned();
        let (_, o) = f.call(
            "GET",
            &format!("/correspondence/api/v1/correspondence/{id}"),
            Some(&token),
            b"",
        );
        assert_eq!(o["status"], "Read");
        assert_eq!(o["read"], o["published"]);
    }

    #[test]
    fn refusals() {
        let f = fixture(None);
        let token = f.token("910077473", Kind::Altinn, SCOPE);
        assert_eq!(f.call("POST", UPLOAD, None, &upload_body(KEY)).0, 401);
        let maskinporten = f.token("910077473", Kind::Maskinporten, SCOPE);
        assert_eq!(f.call("POST", UPLOAD, Some(&maskinporten), &upload_body(KEY)).0, 401);
        let broker = f.token("910077473", Kind::Altinn, "altinn:broker.write");
        assert_eq!(f.call("POST", UPLOAD, Some(&broker), &upload_body(KEY)).0, 403);
        let someone_else = f.token("910075946", Kind::Altinn, SCOPE);
        assert_eq!(f.call("POST", UPLOAD, Some(&someone_else), &upload_body(KEY)).0, 401);

        // A missing field, and a file without its metadata.
        let mut missing = fields(KEY);
        missing.retain(|(k, _)| *k != "correspondence.resourceId");
        let missing: Vec<(&str, &str)> = missing.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, p) = f.call("POST", UPLOAD, Some(&token), &form(&missing, &[("a.txt", b"x")]));
        assert_eq!(status, 400);
        assert!(p["errors"]["correspondence.resourceId"].is_array(), "{p}");
        let all = fields(KEY);
        let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, p) = f.call("POST", UPLOAD, Some(&token), &form(&all, &[("b.txt", b"x")]));
        assert_eq!(status, 400);
        assert!(p["errors"]["correspondence.content.attachments[0].fileName"].is_array(), "{p}");
        let (status, p) = f.call("POST", UPLOAD, Some(&token), &form(&all, &[]));
        assert_eq!(status, 400, "metadata of a file never sent: {p}");
        assert_eq!(f.call("POST", UPLOAD, Some(&token), b"not a form").0, 400);
        assert_eq!(f.call("GET", "/correspondence/api/v1/nothing", Some(&token), b"").0, 404);
    }
}
