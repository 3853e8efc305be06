//! Webhook subscriptions on the API: CRUD, a ping to the push endpoint before a new
//! (or moved) subscription is stored, and the reference's refusals.

use bytes::Bytes;
use serde_json::json;

use super::api::{ApiCall, ApiResponse};
use super::http::{HttpRequest, HttpResponse, Method, TransportError};
use super::store::{Loaded, Query, StoreError, Write};
use super::{CallId, Node, Output, Pending, ReqId};
use crate::api::subscription::{Subscription, SubscriptionInput, SubscriptionSpec};
use crate::api::{ApiError, Exception, Pageable, page_json};
use crate::sbd::DateTime;

/// Where a subscription call is.
#[derive(Debug)]
pub(super) enum Step {
    Find(Pageable),
    Get(i64),
    /// Create: checked for a namesake.
    CreateCheck(SubscriptionSpec),
    /// Create or update: pinged the endpoint.
    Ping {
        id: Option<i64>,
        spec: SubscriptionSpec,
    },
    /// Create: stored; reading it back for its id.
    CreateReload,
    /// Update: loaded the current one.
    Update {
        id: i64,
        input: SubscriptionInput,
    },
    /// Delete: checked that it exists.
    Delete(i64),
    /// A write whose success is answered with 200 and no body.
    Written,
}

fn exists() -> ApiError {
    ApiError::new(
        Exception::SubscriptionExists,
        "Subscription with same name and push endpoint already exists.",
    )
}

fn not_found(id: i64) -> ApiError {
    ApiError::new(
        Exception::SubscriptionNotFound,
        format!("Subscription with id = {id} was not found"),
    )
}

fn input(body: &[u8]) -> Result<SubscriptionInput, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(Exception::MessageNotReadable, format!("JSON parse error: {e}")))
}

impl Node {
    pub(super) fn subscription_call(&mut self, call: CallId, api: ApiCall) {
        let step = match api {
            ApiCall::FindSubscriptions { page } => {
                return self.sub_load(
                    call,
                    Query::Subscriptions { page: page.clone() },
                    Step::Find(page),
                );
            }
            ApiCall::GetSubscription { id } => {
                return self.sub_load(call, Query::Subscription(id), Step::Get(id));
            }
            ApiCall::CreateSubscription { body } => {
                match input(&body).and_then(SubscriptionInput::validate) {
                    Ok(spec) => {
                        let q = Query::SubscriptionNamed {
                            name: spec.name.clone(),
                            push_endpoint: spec.push_endpoint.clone(),
                        };
                        return self.sub_load(call, q, Step::CreateCheck(spec));
                    }
                    Err(e) => return self.respond(call, ApiResponse::Error(e)),
                }
            }
            ApiCall::UpdateSubscription { id, body } => match input(&body) {
                Ok(input) => Step::Update { id, input },
                Err(e) => return self.respond(call, ApiResponse::Error(e)),
            },
            ApiCall::DeleteSubscription { id: Some(id) } => Step::Delete(id),
            ApiCall::DeleteSubscription { id: None } => {
                return self.sub_write(call, Write::DeleteSubscriptions(None), Step::Written);
            }
            _ => {
                return self.respond(
                    call,
                    ApiResponse::Error(ApiError::new(
                        Exception::Internal,
                        "not a subscription call",
                    )),
                );
            }
        };
        let id = match &step {
            Step::Update { id, .. } | Step::Delete(id) => *id,
            _ => return,
        };
        self.sub_load(call, Query::Subscription(id), step);
    }

    fn sub_load(&mut self, call: CallId, q: Query, step: Step) {
        let id = self.load(q);
        self.loads.insert(id, Pending::Subscription { call, step });
    }

    fn sub_write(&mut self, call: CallId, w: Write, step: Step) {
        let id = self.persist(w);
        self.writes.insert(id, Pending::Subscription { call, step });
    }

    /// POST the reference's ping event to the endpoint.
    fn ping(&mut self, call: CallId, id: Option<i64>, spec: SubscriptionSpec) {
        let body = json!({"createdTs": DateTime::oslo(self.now).to_rfc3339(), "event": "ping"});
        let request = HttpRequest::new(Method::Post, spec.push_endpoint.clone())
            .header("Content-Type", "application/json")
            .body(Bytes::from(body.to_string()));
        let rid = ReqId(self.next());
        self.outputs.push_back(Output::Http(rid, request));
        self.requests.insert(rid, Pending::Subscription { call, step: Step::Ping { id, spec } });
    }

    pub(super) fn subscription_loaded(
        &mut self,
        call: CallId,
        step: Step,
        result: Result<Loaded, StoreError>,
    ) {
        let loaded = match result {
            Ok(l) => l,
            Err(e) => return self.store_failed(call, &e),
        };
        let answer = match (step, loaded) {
            (Step::Find(page), Loaded::Subscriptions { rows, total }) => ApiResponse::Json(
                page_json(rows.iter().map(Subscription::to_json).collect(), &page, total),
            ),
            (Step::Get(_) | Step::CreateReload, Loaded::Subscription(Some(s))) => {
                ApiResponse::Json(s.to_json())
            }
            (Step::Get(id), Loaded::Subscription(None)) => ApiResponse::Error(not_found(id)),
            (Step::CreateCheck(_), Loaded::Subscription(Some(_))) => ApiResponse::Error(exists()),
            (Step::CreateCheck(spec), Loaded::Subscription(None)) => {
                return self.ping(call, None, spec);
            }
            (Step::Update { id, .. } | Step::Delete(id), Loaded::Subscription(None)) => {
                ApiResponse::Error(not_found(id))
            }
            (Step::Update { id, input }, Loaded::Subscription(Some(current))) => {
                return match input.apply_to(&current.spec) {
                    // A new endpoint is pinged first, as on create.
                    Ok(spec) if spec.push_endpoint != current.spec.push_endpoint => {
                        self.ping(call, Some(id), spec)
                    }
                    Ok(spec) => self.sub_write(
                        call,
                        Write::SaveSubscription { id: Some(id), spec },
                        Step::Written,
                    ),
                    Err(e) => self.respond(call, ApiResponse::Error(e)),
                };
            }
            (Step::Delete(id), Loaded::Subscription(Some(_))) => {
                return self.sub_write(call, Write::DeleteSubscriptions(Some(id)), Step::Written);
            }
            _ => {
                return self.store_failed(
                    call,
                    &StoreError::Unavailable("the store answered another query".into()),
                );
            }
        };
        self.respond(call, answer);
    }

    pub(super) fn subscription_pinged(
        &mut self,
        call: CallId,
        step: Step,
        result: Result<HttpResponse, TransportError>,
    ) {
        let Step::Ping { id, spec } = step else {
            return self.stale_answers += 1;
        };
        match result {
            // The endpoint answered, but with an error: refused, as the reference does.
            Ok(r) if r.status >= 400 => {
                let e = ApiError::new(
                    Exception::WebhookPingFailed,
                    format!("Ping failed with: {}.", r.status),
                );
                self.respond(call, ApiResponse::Error(e));
            }
            // Answered, or not reachable (the reference only logs that): store it.
            Ok(_) | Err(_) => {
                let named = Query::SubscriptionNamed {
                    name: spec.name.clone(),
                    push_endpoint: spec.push_endpoint.clone(),
                };
                let next = if id.is_none() { Step::CreateReload } else { Step::Written };
                let wid = self.persist(Write::SaveSubscription { id, spec });
                self.writes.insert(wid, Pending::SubscriptionSaved { call, next, reload: named });
            }
        }
    }

    pub(super) fn subscription_saved(
        &mut self,
        call: CallId,
        next: Step,
        reload: Query,
        result: Result<(), StoreError>,
    ) {
        match (result, next) {
            (Ok(()), Step::CreateReload) => self.sub_load(call, reload, Step::CreateReload),
            (Ok(()), _) => self.respond(call, ApiResponse::Empty),
            (Err(StoreError::Conflict), _) => self.respond(call, ApiResponse::Error(exists())),
            (Err(e), _) => self.store_failed(call, &e),
        }
    }

    pub(super) fn subscription_written(&mut self, call: CallId, result: Result<(), StoreError>) {
        match result {
            Ok(()) => self.respond(call, ApiResponse::Empty),
            Err(StoreError::Conflict) => self.respond(call, ApiResponse::Error(exists())),
            Err(e) => self.store_failed(call, &e),
        }
    }
}
