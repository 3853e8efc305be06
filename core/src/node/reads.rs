//! The read-only calls (statuses, conversations) and conversation deletes: each is
//! one store query or write, answered with the rows rendered as the reference shows
//! them.

use serde_json::json;

use super::api::{ApiCall, ApiResponse, ConversationKey};
use super::store::{Loaded, Query, StoreError, StoredConversationKey, Write};
use super::{CallId, Node, Pending};
use crate::api::{
    ApiError, Exception, MessageRef, Pageable, Sort, SortDirection, StatusFilter, page_json,
};

/// How to answer once the rows are in.
#[derive(Debug)]
pub enum Answer {
    PeekedStatus,
    /// Dequeue the status when it is there; 404 with no body when it is not.
    Dequeue(i64),
    Health,
    Metrics,
    SbdPage(Pageable),
    StatusPage(Pageable),
    ConversationPage(Pageable),
    /// One conversation, or this error when there is none.
    Conversation(ApiError),
}

/// A page with the endpoint's default order when the caller gave none, so that the
/// answer says `sorted: true` as the reference's does.
fn with_default_sort(mut page: Pageable, property: &str, direction: SortDirection) -> Pageable {
    if page.sort.is_empty() {
        page.sort.push(Sort { property: property.to_owned(), direction });
    }
    page
}

impl Node {
    /// The reference's health indicators, and our certificate's remaining days:
    /// DOWN once it has expired, since nothing can be sent or opened then.
    fn health(&self, outgoing: u64, incoming: u64, pollable: u64) -> ApiResponse {
        let mut components = json!({
            "db": {"status": "UP"},
            "nextMoveQueue": {"status": "UP", "details": {"outgoing": outgoing, "incoming": incoming}},
            "messageStatus": {"status": "UP", "details": {"pollable": pollable}},
        });
        let mut up = true;
        if let Some(expiry) = self.config.own_certificate_expiry {
            let days = (expiry - self.now).as_millis().div_euclid(86_400_000);
            up = days >= 0;
            components["certificate"] = json!({
                "status": if up { "UP" } else { "DOWN" },
                "details": {"daysToExpiry": days, "expires": crate::sbd::DateTime::oslo(expiry).to_rfc3339()}
            });
        }
        let body = json!({"status": if up { "UP" } else { "DOWN" }, "components": components});
        if up { ApiResponse::Json(body) } else { ApiResponse::Down(body) }
    }

    /// Prometheus' text format: gauges from the store, counters from the node.
    fn metrics(&self, outgoing: u64, pollable: u64) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
        };
        metric(
            "efm_outgoing_messages",
            "gauge",
            "Outgoing messages not yet handed off.",
            outgoing.to_string(),
        );
        metric(
            "efm_pollable_conversations",
            "gauge",
            "Conversations whose status is polled.",
            pollable.to_string(),
        );
        metric(
            "efm_stale_answers_total",
            "counter",
            "Answers to requests the node had not made or had settled.",
            self.stale_answers.to_string(),
        );
        if let Some(expiry) = self.config.own_certificate_expiry {
            let seconds = (expiry - self.now).as_millis() / 1000;
            metric(
                "efm_certificate_expiry_seconds",
                "gauge",
                "Seconds until our own certificate expires.",
                seconds.to_string(),
            );
        }
        out.push_str(&format!(
            "# HELP efm_build_info The running version.\n# TYPE efm_build_info gauge\nefm_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        ));
        out
    }

    pub(super) fn read_call(&mut self, call: CallId, api: ApiCall) {
        let (query, answer) = match api {
            ApiCall::PeekStatus => (Query::PeekStatus, Answer::PeekedStatus),
            ApiCall::DequeueStatus { id } => (Query::QueuedStatus(id), Answer::Dequeue(id)),
            ApiCall::Health => (Query::Health, Answer::Health),
            ApiCall::Prometheus => (Query::Health, Answer::Metrics),
            ApiCall::FindOutgoing { filter, page } => {
                let page = with_default_sort(page, "lastUpdated", SortDirection::Asc);
                (Query::OutgoingMessages { filter, page: page.clone() }, Answer::SbdPage(page))
            }
            ApiCall::DeleteOutgoing { message } => {
                let MessageRef::Id(id) = message else {
                    return self.respond(call, ApiResponse::Empty);
                };
                let id = self.persist(Write::DeleteOutgoing(id));
                self.writes.insert(id, Pending::Delete { call });
                return;
            }
            ApiCall::FindStatuses { filter, page } => {
                let page = with_default_sort(page, "id", SortDirection::Asc);
                (Query::Statuses { filter, page: page.clone() }, Answer::StatusPage(page))
            }
            ApiCall::StatusesOfMessage { message, page } => {
                let page = with_default_sort(page, "id", SortDirection::Asc);
                // An id no message can have matches nothing: an empty page, as the
                // reference answers for unknown ids.
                let filter = StatusFilter {
                    message_id: Some(message.to_string()),
                    ..StatusFilter::default()
                };
                (Query::Statuses { filter, page: page.clone() }, Answer::StatusPage(page))
            }
            ApiCall::FindConversations { filter, page } => {
                let page = with_default_sort(page, "lastUpdate", SortDirection::Desc);
                (
                    Query::Conversations { filter, page: page.clone() },
                    Answer::ConversationPage(page),
                )
            }
            ApiCall::GetConversation { key } => {
                let not_found = match &key {
                    ConversationKey::Id(id) => ApiError::new(
                        Exception::ConversationNotFound,
                        format!("Conversation with id = {id} was not found"),
                    ),
                    ConversationKey::Message(m) => ApiError::message_not_found(m),
                };
                let Some(key) = stored_key(key) else {
                    return self.respond(call, ApiResponse::Error(not_found));
                };
                (Query::OutgoingConversation(key), Answer::Conversation(not_found))
            }
            ApiCall::DeleteConversation { key } => {
                // Deleting what does not exist is done already.
                let Some(key) = stored_key(key) else {
                    return self.respond(call, ApiResponse::Empty);
                };
                let id = self.persist(Write::DeleteConversations(key));
                self.writes.insert(id, Pending::Delete { call });
                return;
            }
            ApiCall::CreateMessage { .. }
            | ApiCall::GetOutgoing { .. }
            | ApiCall::UploadFile { .. }
            | ApiCall::UploadAllowance { .. }
            | ApiCall::UploadStaged { .. }
            | ApiCall::SendMessage { .. }
            | ApiCall::CreateMultipart { .. }
            | ApiCall::Capabilities { .. }
            | ApiCall::FindSubscriptions { .. }
            | ApiCall::GetSubscription { .. }
            | ApiCall::CreateSubscription { .. }
            | ApiCall::UpdateSubscription { .. }
            | ApiCall::DeleteSubscription { .. }
            | ApiCall::FindIncoming { .. }
            | ApiCall::PeekIncoming { .. }
            | ApiCall::PopIncoming { .. }
            | ApiCall::DeleteIncoming { .. } => {
                // Routed by handle_input; reaching here is a bug, not a panic.
                let e = ApiError::new(Exception::Internal, "call routed to the wrong handler");
                return self.respond(call, ApiResponse::Error(e));
            }
        };
        let id = self.load(query);
        self.loads.insert(id, Pending::Read { call, answer });
    }

    pub(super) fn on_read(
        &mut self,
        call: CallId,
        answer: Answer,
        result: Result<Loaded, StoreError>,
    ) {
        let response = match (answer, result) {
            (Answer::Health, Err(e)) => {
                // The store not answering is what a health check is for: DOWN, not 500.
                ApiResponse::Down(
                    json!({"status": "DOWN", "components": {"db": {"status": "DOWN", "details": {"error": e.to_string()}}}}),
                )
            }
            (_, Err(e)) => return self.store_failed(call, &e),
            (Answer::PeekedStatus, Ok(Loaded::Status(Some(row)))) => {
                ApiResponse::Json(row.to_json())
            }
            // The reference answers an empty queue with 204 and its error body.
            (Answer::PeekedStatus, Ok(Loaded::Status(None))) => {
                ApiResponse::Error(ApiError::new(Exception::NoContent, "No content"))
            }
            (Answer::Dequeue(id), Ok(Loaded::Status(Some(_)))) => {
                let wid = self.persist(Write::DequeueStatus(id));
                self.writes.insert(wid, Pending::Delete { call });
                return;
            }
            (Answer::Dequeue(_), Ok(Loaded::Status(None))) => ApiResponse::Bare(404),
            (Answer::Metrics, Ok(Loaded::Health { outgoing, pollable, .. })) => {
                ApiResponse::Metrics(self.metrics(outgoing, pollable))
            }
            (Answer::Health, Ok(Loaded::Health { outgoing, incoming, pollable })) => {
                self.health(outgoing, incoming, pollable)
            }
            (Answer::SbdPage(page), Ok(Loaded::OutgoingMessages { sbds, total })) => {
                let content = sbds.iter().map(|s| s.to_json_value()).collect();
                ApiResponse::Json(page_json(content, &page, total))
            }
            (Answer::StatusPage(page), Ok(Loaded::Statuses { rows, total })) => ApiResponse::Json(
                page_json(rows.iter().map(|r| r.to_json()).collect(), &page, total),
            ),
            (Answer::ConversationPage(page), Ok(Loaded::Conversations { rows, total })) => {
                ApiResponse::Json(page_json(
                    rows.iter().map(|r| r.to_json()).collect(),
                    &page,
                    total,
                ))
            }
            (Answer::Conversation(_), Ok(Loaded::Conversation(Some(c)))) => {
                ApiResponse::Json(c.to_json())
            }
            (Answer::Conversation(not_found), Ok(Loaded::Conversation(None))) => {
                ApiResponse::Error(not_found)
            }
            (_, Ok(_)) => {
                let e = StoreError::Unavailable("the store answered another query".into());
                return self.store_failed(call, &e);
            }
        };
        self.respond(call, response);
    }
}

fn stored_key(key: ConversationKey) -> Option<StoredConversationKey> {
    match key {
        ConversationKey::Id(id) => Some(StoredConversationKey::Id(id)),
        ConversationKey::Message(MessageRef::Id(m)) => Some(StoredConversationKey::MessageId(m)),
        ConversationKey::Message(MessageRef::NoSuchMessage(_)) => None,
    }
}
