//! The Altinn 3 Broker, as DPO uses it: initiate, upload, list, details, download,
//! confirm, with the recipient statuses Initialized -> DownloadStarted ->
//! DownloadConfirmed of the real service (a download takes the transfer out of
//! `recipientStatus=Initialized` listings) and its rules: only the sender uploads,
//! once; only a recipient downloads and confirms, and only after a download, and only
//! while the transfer is Published.

use std::collections::BTreeMap;

use bytes::Bytes;
use efm_core::Timestamp;
use efm_core::node::{HttpResponse, Method};
use serde_json::{Value, json};

use super::{Call, empty, json, problem};
use crate::rng::Rng;

pub const RESOURCE: &str = "eformidling-dpo-meldingsutveksling";
const LIST_LIMIT: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RecipientStatus {
    Initialized,
    DownloadStarted,
    DownloadConfirmed,
}

impl RecipientStatus {
    fn name(self) -> &'static str {
        match self {
            RecipientStatus::Initialized => "Initialized",
            RecipientStatus::DownloadStarted => "DownloadStarted",
            RecipientStatus::DownloadConfirmed => "DownloadConfirmed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferStatus {
    Initialized,
    Published,
    AllConfirmedDownloaded,
}

impl TransferStatus {
    fn name(self) -> &'static str {
        match self {
            TransferStatus::Initialized => "Initialized",
            TransferStatus::Published => "Published",
            TransferStatus::AllConfirmedDownloaded => "AllConfirmedDownloaded",
        }
    }
}

pub struct Transfer {
    pub sender: String,
    pub recipient: String,
    pub reference: String,
    pub status: TransferStatus,
    pub recipient_status: RecipientStatus,
    pub created: i64,
    /// Creation order, for a stable sort among transfers made the same millisecond.
    pub seq: u64,
    pub payload: Option<Bytes>,
}

/// What a call did that the reference model checks.
pub enum Effect {
    None,
    /// A recipient confirmed a download of this payload: the message must be in its
    /// store by now.
    Confirmed {
        recipient: String,
        payload: Bytes,
    },
}

pub struct Broker {
    pub transfers: BTreeMap<String, Transfer>,
    seq: u64,
    ids: Rng,
}

/// `0192:<org>` as the broker names parties.
fn party(org: &str) -> String {
    format!("0192:{org}")
}

impl Broker {
    pub fn new(ids: Rng) -> Broker {
        Broker { transfers: BTreeMap::new(), seq: 0, ids }
    }

    /// Published transfers some recipient has not confirmed: work left in the network.
    pub fn unconfirmed(&self) -> usize {
        self.transfers
            .values()
            .filter(|t| {
                t.status == TransferStatus::Published
                    && t.recipient_status != RecipientStatus::DownloadConfirmed
            })
            .count()
    }

    pub fn handle(&mut self, c: &Call) -> (HttpResponse, Effect) {
        let segments: Vec<&str> = c.path.trim_end_matches('/').split('/').collect();
        let answer = match (c.method, segments.as_slice()) {
            (Method::Post, ["broker", "api", "v1", "filetransfer"]) => self.initiate(c),
            (Method::Get, ["broker", "api", "v1", "filetransfer"]) => self.list(c),
            (Method::Get, ["broker", "api", "v1", "filetransfer", id]) => self.overview(c, id),
            (Method::Post, ["broker", "api", "v1", "filetransfer", id, "upload"]) => {
                self.upload(c, id)
            }
            (Method::Get, ["broker", "api", "v1", "filetransfer", id, "download"]) => {
                self.download(c, id)
            }
            (Method::Post, ["broker", "api", "v1", "filetransfer", id, "confirmdownload"]) => {
                return self.confirm(c, id);
            }
            _ => problem(404, &format!("no such resource: {}", c.path)),
        };
        (answer, Effect::None)
    }

    fn initiate(&mut self, c: &Call) -> HttpResponse {
        if c.header("content-type") != Some("application/json") {
            return problem(415, "the body must be application/json");
        }
        let Ok(v) = serde_json::from_slice::<Value>(c.body) else {
            return problem(400, "the body is not JSON");
        };
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let (Some(resource), Some(sender), Some(reference)) =
            (text("resourceId"), text("sender"), text("sendersFileTransferReference"))
        else {
            return problem(400, "One or more validation errors occurred.");
        };
        let recipients: Vec<String> = v
            .get("recipients")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let [recipient] = recipients.as_slice() else {
            return problem(400, "One or more validation errors occurred.");
        };
        if resource != RESOURCE {
            return problem(403, "The resource needs to be registered as an Altinn 3 resource");
        }
        if sender != party(c.caller) {
            return problem(401, "the token is for another organisation than the sender");
        }
        let id = self.ids.uuid().hyphenated().to_string();
        self.seq += 1;
        self.transfers.insert(
            id.clone(),
            Transfer {
                sender,
                recipient: recipient.clone(),
                reference,
                status: TransferStatus::Initialized,
                recipient_status: RecipientStatus::Initialized,
                created: c.now,
                seq: self.seq,
                payload: None,
            },
        );
        json(200, &json!({ "fileTransferId": id }))
    }

    fn upload(&mut self, c: &Call, id: &str) -> HttpResponse {
        if c.header("content-type") != Some("application/octet-stream") {
            return problem(415, "the file must be sent as application/octet-stream");
        }
        if c.body.is_empty() {
            return problem(400, "the uploaded file is empty");
        }
        let Some(t) = self.transfers.get_mut(&id.to_ascii_lowercase()) else {
            return problem(404, "The requested file transfer was not found");
        };
        if t.sender != party(c.caller) {
            return problem(401, "only the sender uploads");
        }
        if t.status != TransferStatus::Initialized {
            return problem(
                409,
                "A file transfer has already been, or attempted to be, created. Create a new file transfer resource to try again.",
            );
        }
        t.payload = Some(Bytes::copy_from_slice(c.body));
        t.status = TransferStatus::Published;
        json(200, &json!({ "fileTransferId": id }))
    }

    fn list(&self, c: &Call) -> HttpResponse {
        if c.query_param("resourceId") != Some(RESOURCE) {
            return problem(403, "unknown resource");
        }
        let status = c.query_param("status");
        let recipient_status = c.query_param("recipientStatus");
        let me = party(c.caller);
        let mut found: Vec<(&String, &Transfer)> = self
            .transfers
            .iter()
            .filter(|(_, t)| status.is_none_or(|s| s == t.status.name()))
            .filter(|(_, t)| match recipient_status {
                Some(rs) => t.recipient == me && t.recipient_status.name() == rs,
                None => t.sender == me || t.recipient == me,
            })
            .collect();
        // Newest first, as the real Broker lists.
        found.sort_by(|a, b| b.1.created.cmp(&a.1.created).then(b.1.seq.cmp(&a.1.seq)));
        let ids: Vec<&str> = found.iter().take(LIST_LIMIT).map(|(id, _)| id.as_str()).collect();
        json(200, &json!(ids))
    }

    fn overview(&self, c: &Call, id: &str) -> HttpResponse {
        let Some(t) = self.transfers.get(&id.to_ascii_lowercase()) else {
            return problem(404, "The requested file transfer was not found");
        };
        let me = party(c.caller);
        if t.sender != me && t.recipient != me {
            return problem(401, "only the sender and the recipients see a transfer");
        }
        json(
            200,
            &json!({
                "fileTransferId": id,
                "resourceId": RESOURCE,
                "fileName": "sbd.zip",
                "sendersFileTransferReference": t.reference,
                "sender": t.sender,
                "recipients": [{
                    "recipient": t.recipient,
                    "currentRecipientFileTransferStatusCode": t.recipient_status.name(),
                }],
                "created": Timestamp::from_unix_millis(t.created).to_rfc3339(),
                "fileTransferSize": t.payload.as_ref().map_or(0, |p| p.len()),
                "fileTransferStatus": t.status.name(),
                "propertyList": {},
            }),
        )
    }

    fn download(&mut self, c: &Call, id: &str) -> HttpResponse {
        let Some(t) = self.transfers.get_mut(&id.to_ascii_lowercase()) else {
            return problem(404, "The requested file transfer was not found");
        };
        if !matches!(t.status, TransferStatus::Published | TransferStatus::AllConfirmedDownloaded) {
            return problem(403, "The requested file transfer's file is not ready for download.");
        }
        if t.recipient != party(c.caller) {
            return problem(404, "The requested file transfer was not found");
        }
        let Some(payload) = t.payload.clone() else {
            return problem(400, "No file uploaded yet");
        };
        if t.recipient_status < RecipientStatus::DownloadStarted {
            t.recipient_status = RecipientStatus::DownloadStarted;
        }
        HttpResponse {
            status: 200,
            headers: vec![("Content-Type".into(), "application/octet-stream".into())],
            body: payload,
        }
    }

    fn confirm(&mut self, c: &Call, id: &str) -> (HttpResponse, Effect) {
        let Some(t) = self.transfers.get_mut(&id.to_ascii_lowercase()) else {
            return (problem(404, "The requested file transfer was not found"), Effect::None);
        };
        if t.recipient != party(c.caller) {
            return (problem(401, "only a recipient confirms a download"), Effect::None);
        }
        let Some(payload) = t.payload.clone() else {
            return (problem(400, "No file uploaded yet"), Effect::None);
        };
        if t.status != TransferStatus::Published {
            return (
                problem(
                    400,
                    "A file transfer can only be confirmed to be downloaded when it is published.",
                ),
                Effect::None,
            );
        }
        match t.recipient_status {
            RecipientStatus::Initialized => {
                return (
                    problem(400, "Cannot confirm before the files have been downloaded"),
                    Effect::None,
                );
            }
            RecipientStatus::DownloadStarted | RecipientStatus::DownloadConfirmed => {}
        }
        t.recipient_status = RecipientStatus::DownloadConfirmed;
        t.status = TransferStatus::AllConfirmedDownloaded;
        (empty(200), Effect::Confirmed { recipient: c.caller.to_owned(), payload })
    }
}
