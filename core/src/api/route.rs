//! The route table: which endpoint a request is for, with its path and query
//! parameters parsed into typed values. Both runtimes' HTTP layers use it, so no
//! routing lives in a runtime.

use time::Date;
use time::macros::format_description;

use super::page::{BadParam, Pageable};
use super::query::Query;
use super::{ApiError, Exception};
use crate::Timestamp;
use crate::ids::MessageId;
use crate::registry::model::ServiceIdentifier;
use crate::sbd::DateTime;
use crate::status::Direction;

/// A messageId from a path. A value that is not a UUID names no message; endpoints
/// answer for it as for any unknown message (404, or 200 where the reference is
/// idempotent), so it is kept rather than refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageRef {
    Id(MessageId),
    NoSuchMessage(String),
}

impl MessageRef {
    fn parse(s: &str) -> Self {
        s.parse().map(MessageRef::Id).unwrap_or_else(|_| MessageRef::NoSuchMessage(s.to_owned()))
    }
}

impl std::fmt::Display for MessageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MessageRef::Id(id) => id.fmt(f),
            MessageRef::NoSuchMessage(s) => f.write_str(s),
        }
    }
}

/// `GET /api/messages/out` filters (exact match, AND).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutgoingFilter {
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    pub process_identifier: Option<String>,
    pub receiver_identifier: Option<String>,
    pub sender_identifier: Option<String>,
    pub service_identifier: Option<ServiceIdentifier>,
}

/// `GET /api/messages/in[/peek]` filters (exact match, AND).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncomingFilter {
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    pub receiver_identifier: Option<String>,
    pub sender_identifier: Option<String>,
    pub service_identifier: Option<ServiceIdentifier>,
    pub process: Option<String>,
}

/// `GET /api/statuses` filters. The time range applies only when both ends are given,
/// as in the reference.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusFilter {
    pub id: Option<i64>,
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    pub status: Option<String>,
    pub between: Option<(Timestamp, Timestamp)>,
}

/// `GET /api/conversations` filters. `last_update` bounds are whole days, inclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConversationFilter {
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    pub receiver: Option<String>,
    pub receiver_identifier: Option<String>,
    pub sender: Option<String>,
    pub sender_identifier: Option<String>,
    pub service_identifier: Option<ServiceIdentifier>,
    pub message_reference: Option<String>,
    pub message_title: Option<String>,
    pub pollable: Option<bool>,
    pub finished: Option<bool>,
    pub direction: Option<Direction>,
    pub last_update_from: Option<Date>,
    pub last_update_to: Option<Date>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    // Outgoing messages.
    CreateMessage,
    CreateMultipart,
    UploadFile { message: MessageRef, title: Option<String> },
    SendMessage { message: MessageRef },
    FindOutgoing { filter: OutgoingFilter, page: Pageable },
    GetOutgoing { message: MessageRef },
    DeleteOutgoing { message: MessageRef },
    // Incoming messages.
    FindIncoming { filter: IncomingFilter, page: Pageable },
    PeekIncoming { filter: IncomingFilter },
    PopIncoming { message: MessageRef },
    DeleteIncoming { message: MessageRef },
    // Statuses.
    FindStatuses { filter: StatusFilter, page: Pageable },
    StatusesOfMessage { message: MessageRef, page: Pageable },
    PeekStatus,
    DeleteStatus { id: i64 },
    // Conversations.
    FindConversations { filter: ConversationFilter, page: Pageable },
    GetConversation { id: i64 },
    GetConversationByMessage { message: MessageRef },
    DeleteConversation { id: i64 },
    DeleteConversationByMessage { message: MessageRef },
    ConversationQueue { page: Pageable },
    // Capabilities.
    Capabilities { receiver: String, security_level: Option<i32>, process: Option<String> },
    // Webhook subscriptions.
    FindSubscriptions { page: Pageable },
    GetSubscription { id: i64 },
    CreateSubscription,
    UpdateSubscription { id: i64 },
    DeleteSubscription { id: i64 },
    DeleteAllSubscriptions,
    // Operations.
    Health,
    Liveness,
    Readiness,
    Info,
    Prometheus,
    Shutdown,
}

impl Route {
    /// Whether the route needs an authenticated caller when auth is on. The health
    /// endpoints stay open so that load balancers and KOSMOS can probe them.
    pub fn requires_auth(&self) -> bool {
        !matches!(self, Route::Health | Route::Liveness | Route::Readiness)
    }

    /// Find the route for `method path?query`. The path is the raw request path,
    /// without the query string.
    pub fn parse(method: &str, path: &str, query: &str) -> Result<Route, ApiError> {
        let q = Query::parse(query)
            .map_err(|e| ApiError::new(Exception::BadParameter, e.to_string()))?;
        let segments: Vec<String> = match path.strip_prefix('/') {
            Some(rest) => rest
                .split('/')
                .map(super::query::decode)
                .collect::<Result<_, _>>()
                .map_err(|e| ApiError::new(Exception::BadParameter, e.to_string()))?,
            None => return Err(no_handler(method, path)),
        };
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        // No empty segments: the reference refuses trailing slashes (unless a
        // deprecated switch is on), and `//` names nothing.
        if s.iter().any(|seg| seg.is_empty()) {
            return Err(no_handler(method, path));
        }
        if let Some(route) = Route::lookup(method, &s, &q)? {
            return Ok(route);
        }
        // A path some other method serves is a 405, not a 404.
        let empty = Query::default();
        let other_method = ["GET", "POST", "PUT", "DELETE"]
            .iter()
            .any(|m| matches!(Route::lookup(m, &s, &empty), Ok(Some(_))));
        if other_method {
            Err(ApiError::new(
                Exception::MethodNotAllowed,
                format!("Request method '{method}' is not supported"),
            ))
        } else {
            Err(no_handler(method, path))
        }
    }

    /// The route for a method and decoded path segments, if any.
    fn lookup(method: &str, s: &[&str], q: &Query) -> Result<Option<Route>, ApiError> {
        let route = match (method, s) {
            ("POST", ["api", "messages", "out"]) => Route::CreateMessage,
            ("POST", ["api", "messages", "out", "multipart"]) => Route::CreateMultipart,
            ("GET", ["api", "messages", "out"]) => Route::FindOutgoing {
                filter: OutgoingFilter {
                    conversation_id: text(q, "conversationId"),
                    message_id: text(q, "messageId"),
                    process_identifier: text(q, "processIdentifier"),
                    receiver_identifier: text(q, "receiverIdentifier"),
                    sender_identifier: text(q, "senderIdentifier"),
                    service_identifier: service(q)?,
                },
                page: page(q, OUTGOING_SORT)?,
            },
            ("PUT", ["api", "messages", "out", id]) => {
                Route::UploadFile { message: MessageRef::parse(id), title: text(q, "title") }
            }
            ("POST", ["api", "messages", "out", id]) => {
                Route::SendMessage { message: MessageRef::parse(id) }
            }
            ("GET", ["api", "messages", "out", id]) => {
                Route::GetOutgoing { message: MessageRef::parse(id) }
            }
            ("DELETE", ["api", "messages", "out", id]) => {
                Route::DeleteOutgoing { message: MessageRef::parse(id) }
            }

            ("GET", ["api", "messages", "in"]) => {
                Route::FindIncoming { filter: incoming(q)?, page: page(q, INCOMING_SORT)? }
            }
            ("GET", ["api", "messages", "in", "peek"]) => {
                Route::PeekIncoming { filter: incoming(q)? }
            }
            ("GET", ["api", "messages", "in", "pop", id]) => {
                Route::PopIncoming { message: MessageRef::parse(id) }
            }
            ("DELETE", ["api", "messages", "in", id]) => {
                Route::DeleteIncoming { message: MessageRef::parse(id) }
            }

            ("GET", ["api", "statuses"]) => Route::FindStatuses {
                filter: StatusFilter {
                    id: number(q, "id")?,
                    conversation_id: text(q, "conversationId"),
                    message_id: text(q, "messageId"),
                    status: text(q, "status"),
                    between: match (date_time(q, "fromDateTime")?, date_time(q, "toDateTime")?) {
                        (Some(from), Some(to)) => Some((from, to)),
                        _ => None,
                    },
                },
                page: record_page(q, STATUS_SORT)?,
            },
            ("GET", ["api", "statuses", "peek"]) => Route::PeekStatus,
            ("GET", ["api", "statuses", id]) => Route::StatusesOfMessage {
                message: MessageRef::parse(id),
                page: record_page(q, STATUS_SORT)?,
            },
            ("DELETE", ["api", "statuses", id]) => Route::DeleteStatus { id: path_number(id)? },

            ("GET", ["api", "conversations"]) => Route::FindConversations {
                filter: conversations(q)?,
                page: record_page(q, CONVERSATION_SORT)?,
            },
            ("GET", ["api", "conversations", "queue"]) => {
                Route::ConversationQueue { page: record_page(q, CONVERSATION_SORT)? }
            }
            ("GET", ["api", "conversations", "messageId", id]) => {
                Route::GetConversationByMessage { message: MessageRef::parse(id) }
            }
            ("DELETE", ["api", "conversations", "messageId", id]) => {
                Route::DeleteConversationByMessage { message: MessageRef::parse(id) }
            }
            ("GET", ["api", "conversations", id]) => {
                Route::GetConversation { id: path_number(id)? }
            }
            ("DELETE", ["api", "conversations", id]) => {
                Route::DeleteConversation { id: path_number(id)? }
            }

            ("GET", ["api", "capabilities", receiver]) => Route::Capabilities {
                receiver: (*receiver).to_owned(),
                security_level: number(q, "securityLevel")?,
                process: text(q, "process"),
            },

            ("GET", ["api", "subscriptions"]) => {
                Route::FindSubscriptions { page: page(q, SUBSCRIPTION_SORT)? }
            }
            ("POST", ["api", "subscriptions"]) => Route::CreateSubscription,
            ("DELETE", ["api", "subscriptions"]) => Route::DeleteAllSubscriptions,
            ("GET", ["api", "subscriptions", id]) => {
                Route::GetSubscription { id: path_number(id)? }
            }
            ("PUT", ["api", "subscriptions", id]) => {
                Route::UpdateSubscription { id: path_number(id)? }
            }
            ("DELETE", ["api", "subscriptions", id]) => {
                Route::DeleteSubscription { id: path_number(id)? }
            }

            ("GET", ["manage", "health"]) => Route::Health,
            ("GET", ["manage", "health", "liveness"]) => Route::Liveness,
            ("GET", ["manage", "health", "readiness"]) => Route::Readiness,
            ("GET", ["manage", "info"]) => Route::Info,
            ("GET", ["manage", "prometheus"]) => Route::Prometheus,
            ("POST", ["manage", "shutdown"]) => Route::Shutdown,

            _ => return Ok(None),
        };
        Ok(Some(route))
    }
}

const OUTGOING_SORT: &[&str] = &[
    "id",
    "conversationId",
    "messageId",
    "lastUpdated",
    "processIdentifier",
    "receiverIdentifier",
    "senderIdentifier",
    "serviceIdentifier",
];
const INCOMING_SORT: &[&str] = &[
    "id",
    "conversationId",
    "messageId",
    "lastUpdated",
    "processIdentifier",
    "receiverIdentifier",
    "senderIdentifier",
    "serviceIdentifier",
];
const STATUS_SORT: &[&str] =
    &["id", "lastUpdate", "lastUpdated", "status", "conversationId", "messageId"];
const CONVERSATION_SORT: &[&str] = &[
    "id",
    "lastUpdate",
    "lastUpdated",
    "conversationId",
    "messageId",
    "messageTitle",
    "messageReference",
    "direction",
    "serviceIdentifier",
    "finished",
];
const SUBSCRIPTION_SORT: &[&str] = &["id", "name"];

fn no_handler(method: &str, path: &str) -> ApiError {
    ApiError::new(Exception::NoHandler, format!("No endpoint {method} {path}."))
}

fn bad(p: BadParam) -> ApiError {
    ApiError::new(
        Exception::BadParameter,
        format!(
            "Failed to convert value '{}' of parameter '{}': expected {}",
            p.value, p.name, p.expected
        ),
    )
}

fn text(q: &Query, name: &str) -> Option<String> {
    q.get(name).map(str::to_owned)
}

fn page(q: &Query, sortable: &[&str]) -> Result<Pageable, ApiError> {
    Pageable::from_query(q, sortable).map_err(bad)
}

/// A page of statuses or conversations. Their time property is `lastUpdate`, but the
/// reference's REST docs sort them by `lastUpdated` (the messages' name for it), so a
/// client written from the docs sends that: it is taken as `lastUpdate`.
fn record_page(q: &Query, sortable: &[&str]) -> Result<Pageable, ApiError> {
    let mut page = page(q, sortable)?;
    for s in &mut page.sort {
        if s.property == "lastUpdated" {
            s.property = "lastUpdate".to_owned();
        }
    }
    Ok(page)
}

fn number<T: std::str::FromStr>(q: &Query, name: &str) -> Result<Option<T>, ApiError> {
    q.get(name)
        .map(|v| {
            v.parse().map_err(|_| {
                bad(BadParam { name: name.into(), value: v.into(), expected: "a number" })
            })
        })
        .transpose()
}

fn path_number(s: &str) -> Result<i64, ApiError> {
    s.parse()
        .map_err(|_| bad(BadParam { name: "id".into(), value: s.into(), expected: "a number" }))
}

fn flag(q: &Query, name: &str) -> Result<Option<bool>, ApiError> {
    q.get(name)
        .map(|v| match v {
            _ if v.eq_ignore_ascii_case("true") => Ok(true),
            _ if v.eq_ignore_ascii_case("false") => Ok(false),
            _ => {
                Err(bad(BadParam { name: name.into(), value: v.into(), expected: "true or false" }))
            }
        })
        .transpose()
}

/// A service identifier must be one the reference knows; anything else is refused
/// (the reference fails the enum conversion).
fn service(q: &Query) -> Result<Option<ServiceIdentifier>, ApiError> {
    q.get("serviceIdentifier")
        .map(|v| {
            let s = ServiceIdentifier::from_name(v);
            if s.as_str() == v {
                Ok(s)
            } else {
                Err(bad(BadParam {
                    name: "serviceIdentifier".into(),
                    value: v.into(),
                    expected: "one of DPO, DPV, DPI, DPF, DPE, DPH, UNKNOWN",
                }))
            }
        })
        .transpose()
}

fn date_time(q: &Query, name: &str) -> Result<Option<Timestamp>, ApiError> {
    q.get(name)
        .map(|v| {
            DateTime::parse(v).map(|d| d.timestamp()).map_err(|_| {
                bad(BadParam {
                    name: name.into(),
                    value: v.into(),
                    expected: "an ISO 8601 date-time",
                })
            })
        })
        .transpose()
}

fn date(q: &Query, name: &str) -> Result<Option<Date>, ApiError> {
    q.get(name)
        .map(|v| {
            Date::parse(v, format_description!("[year]-[month]-[day]")).map_err(|_| {
                bad(BadParam { name: name.into(), value: v.into(), expected: "a date yyyy-MM-dd" })
            })
        })
        .transpose()
}

fn incoming(q: &Query) -> Result<IncomingFilter, ApiError> {
    Ok(IncomingFilter {
        conversation_id: text(q, "conversationId"),
        message_id: text(q, "messageId"),
        receiver_identifier: text(q, "receiverIdentifier"),
        sender_identifier: text(q, "senderIdentifier"),
        service_identifier: service(q)?,
        process: text(q, "process"),
    })
}

fn conversations(q: &Query) -> Result<ConversationFilter, ApiError> {
    let direction = q
        .get("direction")
        .map(|v| match v {
            "INCOMING" => Ok(Direction::Incoming),
            "OUTGOING" => Ok(Direction::Outgoing),
            _ => Err(bad(BadParam {
                name: "direction".into(),
                value: v.into(),
                expected: "INCOMING or OUTGOING",
            })),
        })
        .transpose()?;
    Ok(ConversationFilter {
        conversation_id: text(q, "conversationId"),
        message_id: text(q, "messageId"),
        receiver: text(q, "receiver"),
        receiver_identifier: text(q, "receiverIdentifier"),
        sender: text(q, "sender"),
        sender_identifier: text(q, "senderIdentifier"),
        service_identifier: service(q)?,
        message_reference: text(q, "messageReference"),
        message_title: text(q, "messageTitle"),
        pollable: flag(q, "pollable")?,
        finished: flag(q, "finished")?,
        direction,
        last_update_from: date(q, "lastUpdateFrom")?,
        last_update_to: date(q, "lastUpdateTo")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::page::{Sort, SortDirection};

    const ID: &str = "e99e5cd1-74de-4cce-b902-cecdf97dc4f3";

    fn r(method: &str, target: &str) -> Result<Route, ApiError> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Route::parse(method, path, query)
    }

    #[test]
    fn every_documented_endpoint_routes() {
        let id = || MessageRef::Id(ID.parse().unwrap());
        let cases: Vec<(&str, String, Route)> = vec![
            ("POST", "/api/messages/out".into(), Route::CreateMessage),
            ("POST", "/api/messages/out/multipart".into(), Route::CreateMultipart),
            (
                "PUT",
                format!("/api/messages/out/{ID}?title=Vedtak%20om%20tilskudd"),
                Route::UploadFile { message: id(), title: Some("Vedtak om tilskudd".into()) },
            ),
            ("POST", format!("/api/messages/out/{ID}"), Route::SendMessage { message: id() }),
            ("GET", format!("/api/messages/out/{ID}"), Route::GetOutgoing { message: id() }),
            ("DELETE", format!("/api/messages/out/{ID}"), Route::DeleteOutgoing { message: id() }),
            ("GET", format!("/api/messages/in/pop/{ID}"), Route::PopIncoming { message: id() }),
            ("DELETE", format!("/api/messages/in/{ID}"), Route::DeleteIncoming { message: id() }),
            ("GET", "/api/statuses/peek".into(), Route::PeekStatus),
            ("DELETE", "/api/statuses/11".into(), Route::DeleteStatus { id: 11 }),
            ("GET", "/api/conversations/49".into(), Route::GetConversation { id: 49 }),
            (
                "GET",
                format!("/api/conversations/messageId/{ID}"),
                Route::GetConversationByMessage { message: id() },
            ),
            ("DELETE", "/api/conversations/42".into(), Route::DeleteConversation { id: 42 }),
            (
                "DELETE",
                format!("/api/conversations/messageId/{ID}"),
                Route::DeleteConversationByMessage { message: id() },
            ),
            (
                "GET",
                "/api/capabilities/987654321?securityLevel=4&process=urn:x".into(),
                Route::Capabilities {
                    receiver: "987654321".into(),
                    security_level: Some(4),
                    process: Some("urn:x".into()),
                },
            ),
            ("POST", "/api/subscriptions".into(), Route::CreateSubscription),
            ("PUT", "/api/subscriptions/84".into(), Route::UpdateSubscription { id: 84 }),
            ("DELETE", "/api/subscriptions".into(), Route::DeleteAllSubscriptions),
            ("GET", "/manage/health".into(), Route::Health),
            ("POST", "/manage/shutdown".into(), Route::Shutdown),
        ];
        for (m, t, expected) in cases {
            assert_eq!(r(m, &t).unwrap(), expected, "{m} {t}");
        }
    }

    #[test]
    fn filters_and_paging() {
        let Route::FindIncoming { filter, page } =
            r("GET", "/api/messages/in?serviceIdentifier=DPO&process=urn%3Ap&size=2&page=1")
                .unwrap()
        else {
            panic!()
        };
        assert_eq!(filter.service_identifier, Some(ServiceIdentifier::Dpo));
        assert_eq!(filter.process.as_deref(), Some("urn:p"));
        assert_eq!((page.page, page.size), (1, 2));

        let Route::FindStatuses { filter, .. } = r("GET", "/api/statuses?fromDateTime=2019-03-25T11:00:00%2B01:00&toDateTime=2019-03-26T11:00:00%2B01:00").unwrap() else { panic!() };
        assert!(filter.between.is_some());
        let Route::FindStatuses { filter, .. } =
            r("GET", "/api/statuses?fromDateTime=2019-03-25T11:00:00%2B01:00").unwrap()
        else {
            panic!()
        };
        assert_eq!(filter.between, None, "one end alone is ignored, as in the reference");

        let Route::FindConversations { filter, .. } = r(
            "GET",
            "/api/conversations?direction=INCOMING&finished=true&lastUpdateFrom=2019-03-01",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(filter.direction, Some(Direction::Incoming));
        assert_eq!(filter.finished, Some(true));
        assert!(filter.last_update_from.is_some());
    }

    #[test]
    fn statuses_and_conversations_sort_by_last_updated_as_the_docs_do() {
        let by_time = vec![Sort { property: "lastUpdate".into(), direction: SortDirection::Asc }];
        for target in
            ["/api/statuses", "/api/statuses/abc", "/api/conversations", "/api/conversations/queue"]
        {
            let page = match r("GET", &format!("{target}?sort=lastUpdated%2Casc")).unwrap() {
                Route::FindStatuses { page, .. }
                | Route::StatusesOfMessage { page, .. }
                | Route::FindConversations { page, .. }
                | Route::ConversationQueue { page } => page,
                other => panic!("{other:?}"),
            };
            assert_eq!(page.sort, by_time, "{target}");
        }
        assert_eq!(r("GET", "/api/statuses?sort=colour").unwrap_err().status, 400);
    }

    #[test]
    fn ids_that_cannot_exist_are_kept_for_a_not_found_answer() {
        assert_eq!(
            r("GET", "/api/messages/out/abc").unwrap(),
            Route::GetOutgoing { message: MessageRef::NoSuchMessage("abc".into()) }
        );
    }

    #[test]
    fn errors() {
        let e = r("GET", "/api/messages/in?serviceIdentifier=DPX").unwrap_err();
        assert_eq!((e.status, e.exception), (400, Exception::BadParameter));
        assert!(e.message.contains("serviceIdentifier"));
        assert_eq!(
            r("GET", "/api/conversations/abc").unwrap_err().exception,
            Exception::BadParameter
        );
        assert_eq!(r("GET", "/api/nothing").unwrap_err().status, 404);
        assert_eq!(r("GET", "/api/messages/out/").unwrap_err().status, 404, "no trailing slash");
        assert_eq!(r("PATCH", "/api/messages/out").unwrap_err().status, 405);
        assert_eq!(r("DELETE", "/manage/health").unwrap_err().status, 405);
        assert_eq!(r("GET", "/api/messages/in?size=x").unwrap_err().status, 400);
        assert_eq!(r("GET", "/api/messages/in?a=%zz").unwrap_err().status, 400);
        assert_eq!(r("GET", "relative").unwrap_err().status, 404);
    }

    #[test]
    fn health_is_open_everything_else_needs_auth() {
        assert!(!r("GET", "/manage/health").unwrap().requires_auth());
        assert!(r("POST", "/manage/shutdown").unwrap().requires_auth());
        assert!(r("GET", "/api/statuses").unwrap().requires_auth());
    }
}
