//! API calls as the node sees them, and its answers.

use bytes::Bytes;
use serde_json::Value;

use crate::api::ApiError;
use crate::ids::MessageId;

#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum ApiCall {
    /// `POST /api/messages/out` with the SBD JSON body.
    CreateMessage { body: Bytes },
    /// `GET /api/messages/out/{messageId}`.
    GetOutgoing { message_id: MessageId },
}

#[derive(Debug, PartialEq)]
pub enum ApiResponse {
    /// 200 with a JSON body.
    Json(Value),
    /// An error answer; rendered with the request path by the HTTP layer.
    Error(ApiError),
}
