//! API calls as the node sees them, and its answers.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::api::multipart;
use crate::api::{
    ApiError, ConversationFilter, Disposition, Exception, IncomingFilter, MessageRef,
    OutgoingFilter, Pageable, Route, StatusFilter, mime_type, plain_filename,
};
use crate::ids::MessageId;
use crate::registry::model::ServiceIdentifier;
use crate::sbd::Violation;

use super::store::StagedFile;

#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum ApiCall {
    /// `POST /api/messages/out` with the SBD JSON body.
    CreateMessage { body: Bytes },
    /// `GET /api/messages/out/{messageId}`.
    GetOutgoing { message_id: MessageId },
    /// `POST /api/messages/out/{messageId}`.
    SendMessage { message: MessageRef },
    /// `GET /manage/health`.
    Health,
    /// `GET /manage/prometheus`.
    Prometheus,
    /// `GET /api/statuses/peek`.
    PeekStatus,
    /// `GET /api/subscriptions`.
    FindSubscriptions { page: Pageable },
    /// `GET /api/subscriptions/{id}`.
    GetSubscription { id: i64 },
    /// `POST /api/subscriptions`.
    CreateSubscription { body: Bytes },
    /// `PUT /api/subscriptions/{id}`.
    UpdateSubscription { id: i64, body: Bytes },
    /// `DELETE /api/subscriptions/{id}`, or all of them.
    DeleteSubscription { id: Option<i64> },
    /// `DELETE /api/statuses/{id}`.
    DequeueStatus { id: i64 },
    /// `GET /api/capabilities/{receiverIdentifier}`.
    Capabilities { receiver: String, security_level: Option<i32>, process: Option<String> },
    /// `POST /api/messages/out/multipart`: create, add the files, send, in one call.
    CreateMultipart { sbd: Bytes, files: Vec<Upload> },
    /// `PUT /api/messages/out/{messageId}`, with the file in memory.
    UploadFile { message: MessageRef, upload: Upload },
    /// Before the body of `PUT /api/messages/out/{messageId}` is read: how many
    /// bytes the message's files may still grow by. Answered with
    /// [`ApiResponse::Allowance`].
    UploadAllowance { message: MessageRef },
    /// `PUT /api/messages/out/{messageId}`, with the file written to staging by the
    /// runtime as it arrived (see [`BodyPlan::Stage`]).
    UploadStaged { message: MessageRef, upload: StagedUpload },
    /// `GET /api/messages/out`.
    FindOutgoing { filter: OutgoingFilter, page: Pageable },
    /// `DELETE /api/messages/out/{messageId}`.
    DeleteOutgoing { message: MessageRef },
    /// `GET /api/statuses`.
    FindStatuses { filter: StatusFilter, page: Pageable },
    /// `GET /api/statuses/{messageId}`.
    StatusesOfMessage { message: MessageRef, page: Pageable },
    /// `GET /api/conversations`, and `GET /api/conversations/queue` (pollable only).
    FindConversations { filter: ConversationFilter, page: Pageable },
    /// `GET /api/conversations/{id}` and `/messageId/{messageId}`: outgoing only.
    GetConversation { key: ConversationKey },
    /// `DELETE /api/conversations/{id}` and `/messageId/{messageId}`.
    DeleteConversation { key: ConversationKey },
    /// `GET /api/messages/in`.
    FindIncoming { filter: IncomingFilter, page: Pageable },
    /// `GET /api/messages/in/peek`.
    PeekIncoming { filter: IncomingFilter },
    /// `GET /api/messages/in/pop/{messageId}`.
    PopIncoming { message: MessageRef },
    /// `DELETE /api/messages/in/{messageId}`.
    DeleteIncoming { message: MessageRef },
}

/// A file as the client sent it, its headers already read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub filename: String,
    pub title: Option<String>,
    pub mime: String,
    pub content: Bytes,
}

/// What an upload's headers say about its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadHead {
    pub filename: String,
    pub title: Option<String>,
    pub mime: String,
}

/// An uploaded file the runtime wrote to staging as it arrived, hashing and
/// counting it on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedUpload {
    pub head: UploadHead,
    /// The content; its size is the file's.
    pub file: StagedFile,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
}

/// How much an outgoing message's files may still grow, under its service's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadAllowance {
    pub service: ServiceIdentifier,
    /// The service's limit on the total size of a message's files.
    pub limit: u64,
    /// The size of the files the message has.
    pub used: u64,
}

impl UploadAllowance {
    /// The bytes one more file may have.
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }

    /// The refusal of a file that brings the total to `total` bytes; `cut` when the
    /// body was not read to its end, so the total is only known to be at least that.
    pub fn exceeded(&self, total: u64, cut: bool) -> ApiError {
        let total = if cut { format!("over {total} bytes") } else { format!("{total} bytes") };
        // 413, where the reference answers 400: efm refuses to read the rest of
        // the body, which is what 413 says; `exception` is the reference's.
        ApiError {
            status: 413,
            ..ApiError::new(
                Exception::MaxFileSizeExceeded,
                format!(
                    "The combined file size for all attachments ({total}) exceeds the maximum allowed upload size for the target service ({}, {} bytes)",
                    self.service.as_str(),
                    self.limit
                ),
            )
        }
    }
}

/// The largest body taken into memory for a call that is not an upload (JSON).
pub const BODY_LIMIT: usize = 5 * 1024 * 1024;

/// The largest one-step multipart body: several files of up to
/// [`MULTIPART_PART_LIMIT`] each, held in memory while the call runs.
pub const MULTIPART_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// How the runtime takes a request's body, decided from its route and headers
/// before any of it is read.
#[derive(Debug, PartialEq)]
pub enum BodyPlan {
    /// Into memory, up to `limit` bytes; more is refused with [`body_too_large`].
    Memory { limit: usize },
    /// An upload, streamed to a staging file as it arrives. The runtime first asks
    /// the node for the message's [`ApiCall::UploadAllowance`] and refuses a body
    /// that exceeds it (with [`UploadAllowance::exceeded`]), reading no further;
    /// then hands the staged file over with [`ApiCall::UploadStaged`].
    Stage { message: MessageRef, head: UploadHead },
    /// Refused without reading the body.
    Refuse(ApiError),
}

/// The plan for the body of a request to `route`.
pub fn body_plan(route: &Route, headers: &http::HeaderMap) -> BodyPlan {
    match route {
        Route::UploadFile { message: MessageRef::NoSuchMessage(raw), .. } => {
            BodyPlan::Refuse(ApiError::message_not_found(raw))
        }
        Route::UploadFile { message, title } => match upload_head(headers, title.clone()) {
            Ok(head) => BodyPlan::Stage { message: message.clone(), head },
            Err(e) => BodyPlan::Refuse(e),
        },
        Route::CreateMultipart => BodyPlan::Memory { limit: MULTIPART_BODY_LIMIT },
        _ => BodyPlan::Memory { limit: BODY_LIMIT },
    }
}

/// The refusal of a body larger than a [`BodyPlan::Memory`] limit.
pub fn body_too_large(limit: usize) -> ApiError {
    ApiError {
        status: 413,
        ..ApiError::new(
            Exception::MessageNotReadable,
            format!("The request body is larger than the {limit} bytes this endpoint takes"),
        )
    }
}

/// A conversation by its number, or by its messageId.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConversationKey {
    Id(i64),
    Message(MessageRef),
}

#[derive(Debug, PartialEq)]
pub enum ApiResponse {
    /// 200 with a JSON body.
    Json(Value),
    /// 200 with no body.
    Empty,
    /// 503 with a JSON body: a health check that is DOWN.
    Down(Value),
    /// 200 with Prometheus' text exposition format.
    Metrics(String),
    /// An answer with this status and no body (the status queue's 404).
    Bare(u16),
    /// An error answer; rendered with the request path by the HTTP layer.
    Error(ApiError),
    /// 200 with an incoming message's ASiC-E (`application/vnd.etsi.asic-e+zip`,
    /// `Content-Disposition: attachment; filename=asic.zip`). `path` names the
    /// stored CMS envelope, relative to the data folder: the runtime decrypts it with
    /// our key while it streams the answer, never holding it whole.
    Asic { path: String },
    /// The answer to [`ApiCall::UploadAllowance`], for the runtime: never sent.
    Allowance(UploadAllowance),
}

/// What to do with a routed request.
#[derive(Debug, PartialEq)]
pub enum Dispatch {
    /// Hand this call to the node.
    Node(ApiCall),
    /// Answered without the node.
    Answer(ApiResponse),
}

/// The call for a route, so that no runtime decides what an endpoint does. `headers`
/// and `body` are the request's.
pub fn dispatch(route: Route, headers: &http::HeaderMap, body: Bytes) -> Dispatch {
    use Dispatch::{Answer, Node};
    match route {
        Route::CreateMultipart => match multipart_request(headers, &body) {
            Ok((sbd, files)) => Node(ApiCall::CreateMultipart { sbd, files }),
            Err(e) => Answer(ApiResponse::Error(e)),
        },
        Route::UploadFile { message, title } => match upload(headers, title, body) {
            Ok(upload) => Node(ApiCall::UploadFile { message, upload }),
            Err(e) => Answer(ApiResponse::Error(e)),
        },
        Route::Health => Node(ApiCall::Health),
        Route::Prometheus => Node(ApiCall::Prometheus),
        Route::PeekStatus => Node(ApiCall::PeekStatus),
        Route::FindSubscriptions { page } => Node(ApiCall::FindSubscriptions { page }),
        Route::GetSubscription { id } => Node(ApiCall::GetSubscription { id }),
        Route::CreateSubscription => Node(ApiCall::CreateSubscription { body }),
        Route::UpdateSubscription { id } => Node(ApiCall::UpdateSubscription { id, body }),
        Route::DeleteSubscription { id } => Node(ApiCall::DeleteSubscription { id: Some(id) }),
        Route::DeleteAllSubscriptions => Node(ApiCall::DeleteSubscription { id: None }),
        Route::DeleteStatus { id } => Node(ApiCall::DequeueStatus { id }),
        Route::Liveness | Route::Readiness => Answer(ApiResponse::Json(json!({"status": "UP"}))),
        Route::Info => Answer(ApiResponse::Json(
            json!({"build": {"name": "efm", "version": env!("CARGO_PKG_VERSION")}}),
        )),
        Route::CreateMessage => Node(ApiCall::CreateMessage { body }),
        Route::GetOutgoing { message: MessageRef::Id(message_id) } => {
            Node(ApiCall::GetOutgoing { message_id })
        }
        Route::GetOutgoing { message: MessageRef::NoSuchMessage(raw) } => {
            Answer(ApiResponse::Error(ApiError::message_not_found(raw)))
        }
        Route::SendMessage { message } => Node(ApiCall::SendMessage { message }),
        Route::Capabilities { receiver, security_level, process } => {
            Node(ApiCall::Capabilities { receiver, security_level, process })
        }
        Route::FindOutgoing { filter, page } => Node(ApiCall::FindOutgoing { filter, page }),
        Route::DeleteOutgoing { message } => Node(ApiCall::DeleteOutgoing { message }),
        Route::FindStatuses { filter, page } => Node(ApiCall::FindStatuses { filter, page }),
        Route::StatusesOfMessage { message, page } => {
            Node(ApiCall::StatusesOfMessage { message, page })
        }
        Route::FindConversations { filter, page } => {
            Node(ApiCall::FindConversations { filter, page })
        }
        Route::ConversationQueue { page } => Node(ApiCall::FindConversations {
            filter: ConversationFilter { pollable: Some(true), ..ConversationFilter::default() },
            page,
        }),
        Route::GetConversation { id } => {
            Node(ApiCall::GetConversation { key: ConversationKey::Id(id) })
        }
        Route::GetConversationByMessage { message } => {
            Node(ApiCall::GetConversation { key: ConversationKey::Message(message) })
        }
        Route::DeleteConversation { id } => {
            Node(ApiCall::DeleteConversation { key: ConversationKey::Id(id) })
        }
        Route::DeleteConversationByMessage { message } => {
            Node(ApiCall::DeleteConversation { key: ConversationKey::Message(message) })
        }
        Route::FindIncoming { filter, page } => Node(ApiCall::FindIncoming { filter, page }),
        Route::PeekIncoming { filter } => Node(ApiCall::PeekIncoming { filter }),
        Route::PopIncoming { message } => Node(ApiCall::PopIncoming { message }),
        Route::DeleteIncoming { message } => Node(ApiCall::DeleteIncoming { message }),
        other => Answer(ApiResponse::Error(ApiError {
            status: 501,
            ..ApiError::new(
                Exception::Internal,
                format!("{other:?} is not available in this version of efm yet"),
            )
        })),
    }
}

/// Read an upload's headers: `Content-Type` and `Content-Disposition` are required,
/// the file name must be a plain one, and the `title` parameter overrides `name`.
fn upload(
    headers: &http::HeaderMap,
    title: Option<String>,
    content: Bytes,
) -> Result<Upload, ApiError> {
    let UploadHead { filename, title, mime } = upload_head(headers, title)?;
    Ok(Upload { filename, title, mime, content })
}

/// What an upload's headers say, or why they are refused.
pub fn upload_head(
    headers: &http::HeaderMap,
    title: Option<String>,
) -> Result<UploadHead, ApiError> {
    let header = |name: &'static str| -> Result<String, ApiError> {
        let value = headers.get(name).ok_or_else(|| {
            ApiError::new(
                Exception::MissingHttpHeader,
                format!("Expected a HTTP header named '{name}'"),
            )
        })?;
        // A file name that is not UTF-8 would be changed by any repair: refuse it.
        std::str::from_utf8(value.as_bytes()).map(str::to_owned).map_err(|_| {
            ApiError::violations(vec![Violation::new(
                name,
                "UTF8",
                "the header is not valid UTF-8; use filename*=UTF-8''... for names outside ASCII",
                None,
            )])
        })
    };
    let content_type = header("content-type")?;
    let disposition = Disposition::parse(&header("content-disposition")?);
    let filename = disposition.filename.ok_or_else(|| {
        ApiError::violations(vec![Violation::not_null("Content-Disposition.filename")])
    })?;
    plain_filename(&filename).map_err(|e| {
        ApiError::violations(vec![Violation::new(
            "Content-Disposition.filename",
            "Filename",
            e.to_string(),
            Some(Value::String(filename.clone())),
        )])
    })?;
    Ok(UploadHead {
        mime: mime_type(Some(&content_type), &filename),
        title: title.or(disposition.name).filter(|t| !t.is_empty()),
        filename,
    })
}

/// The largest file part the reference takes in a multipart request.
pub const MULTIPART_PART_LIMIT: usize = 5 * 1024 * 1024;

/// Split a multipart request into the SBD and the files. Every part with a file
/// name but the `sbd` part is a file, titled with its form name.
fn multipart_request(
    headers: &http::HeaderMap,
    body: &Bytes,
) -> Result<(Bytes, Vec<Upload>), ApiError> {
    let content_type = headers
        .get("content-type")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let unreadable =
        |e: multipart::MultipartError| ApiError::new(Exception::MessageNotReadable, e.to_string());
    let boundary = multipart::boundary(&content_type).map_err(unreadable)?;
    let parts = multipart::parse(body, &boundary).map_err(unreadable)?;
    let mut sbd = None;
    let mut files = Vec::new();
    for part in parts {
        if part.name.as_deref() == Some("sbd") {
            sbd = Some(body.slice_ref(part.body));
            continue;
        }
        let Some(filename) = part.filename else {
            continue;
        };
        if part.body.len() > MULTIPART_PART_LIMIT {
            return Err(ApiError::new(
                Exception::MultipartFileTooLarge,
                format!(
                    "The attachment named '{filename}' is too large. The maximum size for multipart requests is {MULTIPART_PART_LIMIT} bytes. Please use the non-multipart API to avoid such problems."
                ),
            ));
        }
        plain_filename(&filename).map_err(|e| {
            ApiError::violations(vec![Violation::new(
                "filename",
                "Filename",
                e.to_string(),
                Some(Value::String(filename.clone())),
            )])
        })?;
        files.push(Upload {
            mime: mime_type(part.content_type.as_deref(), &filename),
            title: part.name.filter(|n| !n.is_empty()),
            filename,
            content: body.slice_ref(part.body),
        });
    }
    let sbd = sbd.ok_or_else(|| {
        ApiError::new(Exception::MissingPart, "Required part 'sbd' is not present.")
    })?;
    Ok((sbd, files))
}
