//! A local work-alike of the Altinn 3 Broker ("formidling", DPO's message service),
//! with a Maskinporten token endpoint and the Altinn token exchange in front of it, for
//! demos and tests of integration points exchanging messages on one machine.
//!
//! Routes (the Broker's under `/broker/api/v1`, as Altinn serves them):
//!
//! ```text
//! POST /maskinporten/token            (also /token) JWT grant -> {"access_token", "token_type", "expires_in", "scope"}
//! GET  /authentication/api/v1/exchange/maskinporten  Bearer <Maskinporten token> -> Altinn token (text/plain)
//! POST /broker/api/v1/filetransfer/                   initialise -> {"fileTransferId"}
//! POST /broker/api/v1/filetransfer/{id}/upload        the file (application/octet-stream) -> {"fileTransferId"}
//! GET  /broker/api/v1/filetransfer?resourceId=&status=&recipientStatus=&from=&to=   -> ["<id>", ...]
//! GET  /broker/api/v1/filetransfer/{id}               overview (FileTransferOverviewExt)
//! GET  /broker/api/v1/filetransfer/{id}/details       overview plus status histories
//! GET  /broker/api/v1/filetransfer/{id}/download      the file
//! POST /broker/api/v1/filetransfer/{id}/confirmdownload
//! ```
//!
//! The caller is the organisation its Altinn token names (see `token.rs`); the Broker
//! refuses Maskinporten tokens, as Altinn does. Rules follow the real Broker where
//! they show on the wire: only recipients download and confirm, a download sets the
//! recipient's status to `DownloadStarted` (so `recipientStatus=Initialized` no longer
//! lists it), a confirm needs a download first and is only accepted while the
//! transfer is `Published`, lists are newest first and at most 100 long. Uploads
//! publish at once (no virus scan); files are kept after all recipients confirm.
//!
//! State lives in a folder (`store.rs`) and survives a restart, the token key included.

mod store;
/// Shared with the Correspondence work-alike, which takes the tokens issued here.
pub(crate) mod token;
mod wire;

use std::path::Path;
use std::sync::Mutex;

use efm_core::entropy::Entropy;
use http::{HeaderValue, Method, Request, Response, header};
use serde_json::{Value, json};

use crate::clock;
use crate::http_server::response;
use crate::local_service::files::{self, FileError};
use crate::local_service::{
    Outcome, Problem, Service, authorization, form_pairs, json_response, media_type,
    method_not_allowed, problem, unauthorized,
};
use store::{RecipientStatus, StoreError, Transfer, TransferStatus, Transfers, org_part};
use token::{Claims, Kind, Tokens};
use wire::{Initiate, ListQuery, overview_json};

/// The resource eFormidling's DPO uses.
pub const DEFAULT_RESOURCE: &str = "eformidling-dpo-meldingsutveksling";

const API: &str = "/broker/api/v1/";
const READ: &str = "altinn:broker.read";
const WRITE: &str = "altinn:broker.write";
/// The most ids one list answer holds, as in the real Broker.
const LIST_LIMIT: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    File(#[from] FileError),
}

pub struct LocalBroker {
    transfers: Transfers,
    tokens: Tokens,
    resources: Vec<String>,
    ids: Mutex<Entropy>,
}

/// A response, or the problem answer that replaces it.
type Answer = Result<Response<Vec<u8>>, Problem>;

impl LocalBroker {
    /// Opens (or starts) the broker kept in `dir`, serving the Altinn `resources`.
    pub fn open(dir: &Path, resources: Vec<String>) -> Result<Self, BrokerError> {
        files::ensure_dir(dir)?;
        let secret = files::secret(&dir.join("token-secret"))?;
        Ok(LocalBroker {
            transfers: Transfers::open(dir)?,
            tokens: Tokens::new(&secret),
            resources,
            ids: Mutex::new(Entropy::from_seed(files::os_seed())),
        })
    }

    fn next_u64(&self) -> u64 {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).next_u64()
    }

    fn new_id(&self) -> String {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).uuid().hyphenated().to_string()
    }

    /// `POST /maskinporten/token`: the JWT grant (see [`token::grant`]).
    fn maskinporten_token(&self, req: &Request<()>, body: &[u8], now: i64) -> Outcome {
        let refuse = |status: u16, code: &str, description: &str| {
            let problem = problem(status, description)
                .with("error", json!(code))
                .with("error_description", json!(description));
            Outcome::new(problem)
        };
        if req.method() != Method::POST {
            return Outcome::new(method_not_allowed("POST"));
        }
        if media_type(req).as_deref() != Some("application/x-www-form-urlencoded") {
            return refuse(
                400,
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            );
        }
        let Some(form) = std::str::from_utf8(body).ok().and_then(form_pairs) else {
            return refuse(400, "invalid_request", "the form is not well encoded");
        };
        match token::grant(&form, now / 1000) {
            Err(e) => refuse(400, e.code(), &e.to_string()),
            Ok(claims) => {
                let access_token = self.tokens.issue(&claims, self.next_u64());
                let answer = json!({
                    "access_token": access_token,
                    "token_type": "Bearer",
                    "expires_in": token::MASKINPORTEN_LIFETIME_SECS,
                    "scope": claims.scopes.join(" "),
                });
                Outcome::new(json_response(200, &answer)).caller(&claims.org)
            }
        }
    }

    /// `GET /authentication/api/v1/exchange/maskinporten`: an Altinn token for a
    /// Maskinporten token, as plain text.
    fn exchange(&self, req: &Request<()>, now: i64) -> Outcome {
        if req.method() != Method::GET {
            return Outcome::new(method_not_allowed("GET"));
        }
        let Some(bearer) = authorization(req, "Bearer") else {
            return Outcome::new(unauthorized("Bearer", "a Bearer Maskinporten token is required"));
        };
        let claims = match self.tokens.check(bearer, now / 1000) {
            Ok(c) if c.kind == Kind::Maskinporten => c,
            Ok(_) => {
                let detail = "the exchange takes a Maskinporten token, not an Altinn token";
                return Outcome::new(unauthorized("Bearer", detail));
            }
            Err(e) => return Outcome::new(unauthorized("Bearer", &e.to_string())),
        };
        let altinn = Claims {
            kind: Kind::Altinn,
            expires: now / 1000 + token::ALTINN_LIFETIME_SECS,
            ..claims.clone()
        };
        let text = self.tokens.issue(&altinn, self.next_u64());
        Outcome::new(response(200, "text/plain; charset=utf-8", text.into_bytes()))
            .caller(&claims.org)
    }

    /// The caller of a Broker route: the organisation of a valid Altinn token.
    fn caller(&self, req: &Request<()>, now: i64) -> Result<Claims, Problem> {
        let bearer = authorization(req, "Bearer")
            .ok_or_else(|| unauthorized("Bearer", "a Bearer Altinn token is required"))?;
        let claims = self
            .tokens
            .check(bearer, now / 1000)
            .map_err(|e| unauthorized("Bearer", &e.to_string()))?;
        if claims.kind != Kind::Altinn {
            return Err(unauthorized(
                "Bearer",
                "this is a Maskinporten token; the Broker takes the Altinn token that \
                 GET /authentication/api/v1/exchange/maskinporten gives for it",
            ));
        }
        Ok(claims)
    }

    fn initiate(&self, caller: &Claims, req: &Request<()>, body: &[u8], now: i64) -> Answer {
        if media_type(req).as_deref() != Some("application/json") {
            return Err(problem(415, "the body must be application/json"));
        }
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| problem(400, &format!("the body is not JSON: {e}")))?;
        let init = Initiate::validate(&v).map_err(|errors| {
            problem(400, "One or more validation errors occurred.")
                .with("errors", Value::Object(errors))
        })?;
        if org_part(&init.sender) != caller.org {
            return Err(no_access(&format!(
                "the token is for {}, the sender is {}",
                caller.org, init.sender
            )));
        }
        if !self.resources.contains(&init.resource_id) {
            return Err(unknown_resource(&init.resource_id));
        }
        if init.disable_virus_scan {
            return Err(problem(
                400,
                "In order to use file transfers without virus scan the service resource needs to be approved by Altinn.",
            ));
        }
        let id = self.new_id();
        let mut t = Transfer {
            file_transfer_id: id.clone(),
            resource_id: init.resource_id,
            file_name: init.file_name,
            senders_file_transfer_reference: init.reference,
            sender: init.sender,
            recipients: init
                .recipients
                .into_iter()
                .map(|recipient| store::Recipient {
                    recipient,
                    status: RecipientStatus::Initialized,
                    changed: now,
                })
                .collect(),
            property_list: init.properties,
            checksum: init.checksum,
            created: now,
            status: TransferStatus::Initialized,
            status_changed: now,
            size: 0,
            history: Vec::new(),
            recipient_history: Vec::new(),
        };
        t.set_status(TransferStatus::Initialized, now);
        let mut map = self.transfers.lock();
        self.transfers.save(&mut map, t).map_err(|e| server_error(&e))?;
        Ok(json_response(200, &json!({ "fileTransferId": id })))
    }

    fn upload(
        &self,
        caller: &Claims,
        id: &str,
        req: &Request<()>,
        body: &[u8],
        duplicate: bool,
        now: i64,
    ) -> Answer {
        if media_type(req).as_deref() != Some("application/octet-stream") {
            return Err(problem(415, "the file must be sent as application/octet-stream"));
        }
        if body.is_empty() {
            return Err(problem(400, "the uploaded file is empty"));
        }
        {
            let mut map = self.transfers.lock();
            let t = map.get(id).ok_or_else(not_found)?;
            if !t.is_sender(&caller.org) {
                return Err(no_access("only the sender uploads"));
            }
            if t.status != TransferStatus::Initialized {
                return Err(problem(
                    409,
                    "A file transfer has already been, or attempted to be, created. Create a new file transfer resource to try again.",
                ));
            }
            let mut started = t.clone();
            started.set_status(TransferStatus::UploadStarted, now);
            self.transfers.save(&mut map, started).map_err(|e| server_error(&e))?;
        }
        // The file is written outside the lock; the status keeps a second upload out.
        // No temporary name and rename: until the line that publishes it, a file
        // cut short by a crash belongs to a transfer still in UploadStarted (or, for
        // the duplicate, to none), which nobody downloads.
        let written = files::write_unnamed(&self.transfers.payload_path(id), body);
        let copy_id = duplicate.then(|| self.new_id());
        let copy_written = match &copy_id {
            Some(c) => files::write_unnamed(&self.transfers.payload_path(c), body),
            None => Ok(()),
        };
        let mut map = self.transfers.lock();
        let mut t = map.get(id).cloned().ok_or_else(not_found)?;
        if let Err(e) = written.and(copy_written) {
            t.set_status(TransferStatus::Failed, now);
            let _ = self.transfers.save(&mut map, t);
            return Err(server_error(&e));
        }
        t.size = body.len() as u64;
        t.set_status(TransferStatus::Published, now);
        if let Some(copy_id) = copy_id {
            // The duplicate fault: the same upload published a second time.
            let copy = Transfer { file_transfer_id: copy_id, ..t.clone() };
            self.transfers.save(&mut map, copy).map_err(|e| server_error(&e))?;
        }
        self.transfers.save(&mut map, t).map_err(|e| server_error(&e))?;
        Ok(json_response(200, &json!({ "fileTransferId": id })))
    }

    fn list(&self, caller: &Claims, query: &str) -> Answer {
        let q = ListQuery::parse(query)?;
        if !self.resources.contains(&q.resource_id) {
            return Err(unknown_resource(&q.resource_id));
        }
        let map = self.transfers.lock();
        let mut found: Vec<&Transfer> = map
            .values()
            .filter(|t| t.resource_id == q.resource_id)
            .filter(|t| q.status.is_none_or(|s| t.status == s))
            .filter(|t| match (q.from, q.to) {
                (Some(f), Some(to)) => (f..=to).contains(&t.created),
                (Some(f), None) => t.created > f,
                (None, Some(to)) => t.created < to,
                (None, None) => true,
            })
            .filter(|t| match q.recipient_status {
                Some(rs) => t.recipient(&caller.org).is_some_and(|r| r.status == rs),
                None => t.is_sender(&caller.org) || t.recipient(&caller.org).is_some(),
            })
            .collect();
        found.sort_by(|a, b| {
            b.created.cmp(&a.created).then(a.file_transfer_id.cmp(&b.file_transfer_id))
        });
        let ids: Vec<&str> =
            found.iter().take(LIST_LIMIT).map(|t| t.file_transfer_id.as_str()).collect();
        Ok(json_response(200, &json!(ids)))
    }

    fn overview(&self, caller: &Claims, id: &str, history: bool) -> Answer {
        let map = self.transfers.lock();
        let t = map.get(id).ok_or_else(not_found)?;
        if !t.is_sender(&caller.org) && t.recipient(&caller.org).is_none() {
            return Err(no_access("only the sender and the recipients see a transfer"));
        }
        Ok(json_response(200, &overview_json(t, history)))
    }

    fn download(&self, caller: &Claims, id: &str, now: i64) -> Answer {
        let mut map = self.transfers.lock();
        let t = map.get(id).ok_or_else(not_found)?;
        if !matches!(t.status, TransferStatus::Published | TransferStatus::AllConfirmedDownloaded) {
            return Err(problem(
                403,
                "The requested file transfer's file is not ready for download. See file transfer status.",
            ));
        }
        let Some(recipient) = t.recipient(&caller.org) else {
            // The Broker does not tell others that the transfer exists.
            return Err(not_found());
        };
        let path = self.transfers.payload_path(id);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(problem(400, "No file uploaded yet"));
            }
            Err(e) => return Err(server_error(&FileError::at(&path)(e))),
        };
        if recipient.status < RecipientStatus::DownloadStarted {
            let mut t = t.clone();
            t.set_recipient_status(&caller.org, RecipientStatus::DownloadStarted, now);
            self.transfers.save(&mut map, t).map_err(|e| server_error(&e))?;
        }
        let file_name = map.get(id).map(|t| t.file_name.clone()).unwrap_or_default();
        let mut r = response(200, "application/octet-stream", bytes);
        let disposition = format!("attachment; filename=\"{}\"", file_name.replace('"', ""));
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
        Ok(r)
    }

    fn confirm(&self, caller: &Claims, id: &str, now: i64) -> Answer {
        let mut map = self.transfers.lock();
        let t = map.get(id).ok_or_else(not_found)?;
        let Some(recipient) = t.recipient(&caller.org) else {
            return Err(no_access("only a recipient confirms a download"));
        };
        if t.size == 0 {
            return Err(problem(400, "No file uploaded yet"));
        }
        if t.status != TransferStatus::Published {
            return Err(problem(
                400,
                "A file transfer can only be confirmed to be downloaded when it is published. See file transfer status.",
            ));
        }
        match recipient.status {
            RecipientStatus::DownloadConfirmed => return Ok(empty_ok()),
            RecipientStatus::Initialized => {
                return Err(problem(400, "Cannot confirm before the files have been downloaded"));
            }
            RecipientStatus::DownloadStarted => {}
        }
        let mut t = t.clone();
        t.set_recipient_status(&caller.org, RecipientStatus::DownloadConfirmed, now);
        if t.recipients.iter().all(|r| r.status == RecipientStatus::DownloadConfirmed) {
            t.set_status(TransferStatus::AllConfirmedDownloaded, now);
        }
        self.transfers.save(&mut map, t).map_err(|e| server_error(&e))?;
        Ok(empty_ok())
    }

    /// A Broker route, after the caller is known.
    fn broker_route(
        &self,
        caller: &Claims,
        route: &Route,
        req: &Request<()>,
        body: &[u8],
        duplicate: bool,
        now: i64,
    ) -> Answer {
        match route {
            Route::Collection if req.method() == Method::POST => {
                need_scope(caller, &[WRITE])?;
                self.initiate(caller, req, body, now)
            }
            Route::Collection => {
                need_scope(caller, &[READ, WRITE])?;
                self.list(caller, req.uri().query().unwrap_or(""))
            }
            Route::Transfer(id, action) => {
                let id = transfer_id(id)?;
                match action {
                    Action::Overview => {
                        need_scope(caller, &[READ, WRITE])?;
                        self.overview(caller, &id, false)
                    }
                    Action::Details => {
                        need_scope(caller, &[READ, WRITE])?;
                        self.overview(caller, &id, true)
                    }
                    Action::Upload => {
                        need_scope(caller, &[WRITE])?;
                        self.upload(caller, &id, req, body, duplicate, now)
                    }
                    Action::Download => {
                        need_scope(caller, &[READ])?;
                        self.download(caller, &id, now)
                    }
                    Action::Confirm => {
                        need_scope(caller, &[READ])?;
                        self.confirm(caller, &id, now)
                    }
                }
            }
        }
    }
}

impl Service for LocalBroker {
    fn handle(&self, req: &Request<()>, body: &[u8], duplicate: bool) -> Outcome {
        let now = clock::now().as_unix_millis();
        let path = req.uri().path();
        if path == "/maskinporten/token" || path == "/token" {
            return self.maskinporten_token(req, body, now);
        }
        if path == "/authentication/api/v1/exchange/maskinporten" {
            return self.exchange(req, now);
        }
        let Some(route) = path.strip_prefix(API).and_then(Route::parse) else {
            return Outcome::new(problem(404, &format!("no such resource: {path}")));
        };
        if !route.allows(req.method()) {
            return Outcome::new(method_not_allowed(route.allowed()));
        }
        let caller = match self.caller(req, now) {
            Ok(c) => c,
            Err(r) => return Outcome::new(r),
        };
        let answer = self.broker_route(&caller, &route, req, body, duplicate, now);
        let ok = answer.is_ok();
        let outcome = Outcome::new(answer.unwrap_or_else(Problem::response)).caller(&caller.org);
        match &route {
            Route::Transfer(id, Action::Upload) if ok => outcome
                .body_file(Transfers::payload_name(&id.to_ascii_lowercase()))
                .duplicated(duplicate),
            _ => outcome,
        }
    }
}

enum Route {
    /// `filetransfer` (POST initialise, GET list).
    Collection,
    Transfer(String, Action),
}

enum Action {
    Overview,
    Details,
    Upload,
    Download,
    Confirm,
}

impl Route {
    fn parse(rest: &str) -> Option<Route> {
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let action = match segments.as_slice() {
            ["filetransfer"] => return Some(Route::Collection),
            ["filetransfer", _] => Action::Overview,
            ["filetransfer", _, "details"] => Action::Details,
            ["filetransfer", _, "upload"] => Action::Upload,
            ["filetransfer", _, "download"] => Action::Download,
            ["filetransfer", _, "confirmdownload"] => Action::Confirm,
            _ => return None,
        };
        Some(Route::Transfer(segments.get(1)?.to_string(), action))
    }

    fn allowed(&self) -> &'static str {
        match self {
            Route::Collection => "GET, POST",
            Route::Transfer(_, Action::Upload | Action::Confirm) => "POST",
            Route::Transfer(..) => "GET",
        }
    }

    fn allows(&self, method: &Method) -> bool {
        self.allowed().split(", ").any(|m| m == method.as_str())
    }
}

/// A transfer id from the path: a UUID, compared in lower case.
fn transfer_id(s: &str) -> Result<String, Problem> {
    efm_core::ids::parse_uuid(s)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| problem(400, &format!("'{s}' is not a file transfer id (a UUID)")))
}

fn need_scope(caller: &Claims, any_of: &[&str]) -> Result<(), Problem> {
    if any_of.iter().any(|s| caller.has_scope(s)) {
        Ok(())
    } else {
        Err(problem(403, &format!("the token lacks the scope {}", any_of.join(" or "))))
    }
}

fn not_found() -> Problem {
    problem(404, "The requested file transfer was not found")
}

fn no_access(why: &str) -> Problem {
    unauthorized(
        "Bearer",
        &format!(
            "You must use a bearer token that represents a system user with access to the resource: {why}"
        ),
    )
}

fn unknown_resource(id: &str) -> Problem {
    problem(
        403,
        &format!(
            "The resource '{id}' needs to be registered as an Altinn 3 resource (this broker serves other resources)"
        ),
    )
}

fn server_error(e: &dyn std::fmt::Display) -> Problem {
    eprintln!("efm broker: {e}");
    problem(500, &format!("the broker could not store the change: {e}"))
}

fn empty_ok() -> Response<Vec<u8>> {
    let mut r = Response::new(Vec::new());
    *r.status_mut() = http::StatusCode::OK;
    r
}
