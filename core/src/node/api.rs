//! API calls as the node sees them, and its answers.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::api::{
    ApiError, ConversationFilter, Exception, MessageRef, OutgoingFilter, Pageable, Route,
    StatusFilter,
};
use crate::ids::MessageId;

#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum ApiCall {
    /// `POST /api/messages/out` with the SBD JSON body.
    CreateMessage { body: Bytes },
    /// `GET /api/messages/out/{messageId}`.
    GetOutgoing { message_id: MessageId },
    /// `GET /api/messages/out`.
    FindOutgoing {
        filter: OutgoingFilter,
        page: Pageable,
    },
    /// `DELETE /api/messages/out/{messageId}`.
    DeleteOutgoing { message: MessageRef },
    /// `GET /api/statuses`.
    FindStatuses {
        filter: StatusFilter,
        page: Pageable,
    },
    /// `GET /api/statuses/{messageId}`.
    StatusesOfMessage { message: MessageRef, page: Pageable },
    /// `GET /api/conversations`, and `GET /api/conversations/queue` (pollable only).
    FindConversations {
        filter: ConversationFilter,
        page: Pageable,
    },
    /// `GET /api/conversations/{id}` and `/messageId/{messageId}`: outgoing only.
    GetConversation { key: ConversationKey },
    /// `DELETE /api/conversations/{id}` and `/messageId/{messageId}`.
    DeleteConversation { key: ConversationKey },
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
    /// An error answer; rendered with the request path by the HTTP layer.
    Error(ApiError),
}

/// What to do with a routed request.
#[derive(Debug, PartialEq)]
pub enum Dispatch {
    /// Hand this call to the node.
    Node(ApiCall),
    /// Answered without the node.
    Answer(ApiResponse),
}

/// The call for a route, so that no runtime decides what an endpoint does. `body`
/// is the request body, for the routes that take one.
pub fn dispatch(route: Route, body: Bytes) -> Dispatch {
    use Dispatch::{Answer, Node};
    match route {
        Route::Health | Route::Liveness | Route::Readiness => {
            Answer(ApiResponse::Json(json!({"status": "UP"})))
        }
        Route::Info => Answer(ApiResponse::Json(
            json!({"build": {"name": "efm", "version": env!("CARGO_PKG_VERSION")}}),
        )),
        Route::CreateMessage => Node(ApiCall::CreateMessage { body }),
        Route::GetOutgoing {
            message: MessageRef::Id(message_id),
        } => Node(ApiCall::GetOutgoing { message_id }),
        Route::GetOutgoing {
            message: MessageRef::NoSuchMessage(raw),
        } => Answer(ApiResponse::Error(ApiError::message_not_found(raw))),
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
            filter: ConversationFilter {
                pollable: Some(true),
                ..ConversationFilter::default()
            },
            page,
        }),
        Route::GetConversation { id } => Node(ApiCall::GetConversation {
            key: ConversationKey::Id(id),
        }),
        Route::GetConversationByMessage { message } => Node(ApiCall::GetConversation {
            key: ConversationKey::Message(message),
        }),
        Route::DeleteConversation { id } => Node(ApiCall::DeleteConversation {
            key: ConversationKey::Id(id),
        }),
        Route::DeleteConversationByMessage { message } => Node(ApiCall::DeleteConversation {
            key: ConversationKey::Message(message),
        }),
        other => Answer(ApiResponse::Error(ApiError {
            status: 501,
            ..ApiError::new(
                Exception::Internal,
                format!("{other:?} is not available in this version of efm yet"),
            )
        })),
    }
}
