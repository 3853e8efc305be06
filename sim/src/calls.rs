//! The fagsystems' API calls: made on a node (refused at once while it is down),
//! answered when the node says so, and checked against the model the moment the
//! node answers, against the store as it is then.

use efm_core::ids::MessageId;
use efm_core::node::{ApiResponse, CallId, Input};
use serde_json::Value;

use crate::fagsystem::{CallKind, Client, Next, Reply};
use crate::messages::receipt;
use crate::model::Service;
use crate::sealing;
use crate::world::{Event, World};

fn message_id_of(sbd: &Value) -> Option<MessageId> {
    sbd["standardBusinessDocumentHeader"]["documentIdentification"]["instanceIdentifier"]
        .as_str()
        .and_then(|s| s.parse().ok())
}

impl World {
    /// The client makes its next call.
    pub fn call(&mut self, client: Client) {
        let (node, call) = match client {
            Client::Sender(i) => {
                let Some(s) = self.senders.get(i) else { return };
                let Some(call) = s.call() else { return };
                (s.node, call)
            }
            Client::Consumer(i) => {
                let Some(c) = self.consumers.get_mut(i) else { return };
                (c.node, c.call())
            }
        };
        let (api, kind) = call;
        if self.hosts[node].node.is_none() {
            let at = self.now + self.rng.range(1, 50);
            return self.schedule(at, Event::Answer { client, kind, reply: Reply::Lost });
        }
        let host = &mut self.hosts[node];
        host.next_call += 1;
        let id = host.next_call;
        host.calls.insert(id, (client, kind.clone()));
        self.note(|| format!("node {node}: {client:?} calls {kind:?}"));
        self.feed(node, Input::Api(CallId(id), api));
    }

    /// The node answered a call: check the answer, then pass it on.
    pub fn responded(&mut self, h: usize, call: CallId, r: ApiResponse) {
        let Some((client, kind)) = self.hosts[h].calls.remove(&call.0) else {
            return self
                .model
                .violations
                .push(format!("node {h}: answered call {call:?}, which no one made"));
        };
        let store = &self.hosts[h].store;
        let sender_message = match client {
            Client::Sender(i) => self.senders.get(i).map(|s| s.message_id),
            Client::Consumer(_) => None,
        };
        let reply = match &r {
            ApiResponse::Json(v) => Reply::Ok(message_id_of(v)),
            ApiResponse::Empty
            | ApiResponse::Asic { .. }
            | ApiResponse::Down(_)
            | ApiResponse::Allowance(_)
            | ApiResponse::Metrics(_) => Reply::Ok(None),
            ApiResponse::Bare(s) if *s < 300 => Reply::Ok(None),
            ApiResponse::Bare(s) => {
                Reply::Refused { status: *s, exception: efm_core::api::Exception::Internal }
            }
            ApiResponse::Error(e) => Reply::Refused { status: e.status, exception: e.exception },
        };
        // A repeated create of a message already handed off cannot be told from a
        // clash (its request is gone): 409 is the node's answer then, and right.
        let reply = match (&kind, sender_message, &reply) {
            (
                CallKind::Create | CallKind::Multipart,
                Some(id),
                Reply::Refused {
                    exception: efm_core::api::Exception::MessageAlreadyExists, ..
                },
            ) if store.has_conversation(&id.to_string(), false) && !store.has_outgoing_row(id) => {
                Reply::Gone
            }
            _ => reply,
        };
        let ok = matches!(reply, Reply::Ok(_));
        match (&kind, sender_message) {
            (CallKind::Create, Some(id)) if ok => self.model.on_created(h, id, None, store),
            (CallKind::Upload(name), Some(id)) if ok => self.model.on_uploaded(h, id, name, store),
            (CallKind::Send, Some(id)) if ok => self.model.on_sent(h, id, store),
            (CallKind::Multipart, Some(id)) if ok => {
                self.model.on_created(h, id, None, store);
                let names: Vec<String> = self
                    .model
                    .messages
                    .get(&id)
                    .map(|m| m.files.iter().map(|f| f.name.clone()).collect())
                    .unwrap_or_default();
                for name in names {
                    self.model.on_uploaded(h, id, &name, store);
                }
                self.model.on_sent(h, id, store);
            }
            (CallKind::Peek, _) => {
                if let Reply::Ok(Some(id)) = reply {
                    self.model.on_offered(h, id, "peek");
                }
            }
            (CallKind::Pop(id), _) => match &r {
                ApiResponse::Asic { path } => {
                    let opened = match store.blob(path) {
                        Some(bytes) => {
                            sealing::open(&self.hosts[h].org, bytes).map_err(|e| e.to_string())
                        }
                        None => Err(format!("the stored ASiC {path} is missing")),
                    };
                    self.model.on_popped(h, *id, opened);
                }
                ApiResponse::Bare(204) => self.model.on_popped(h, *id, Ok(Vec::new())),
                _ => {}
            },
            (CallKind::Delete(id), _) if ok => self.model.on_deleted(h, *id, store),
            (CallKind::Statuses(id), _) => {
                if let ApiResponse::Json(page) = &r {
                    let statuses: Vec<String> = page["content"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s["status"].as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                    self.model.on_statuses_shown(h, *id, &statuses);
                }
            }
            (CallKind::Find, _) => {
                if let ApiResponse::Json(page) = &r {
                    let ids: Vec<MessageId> = page["content"]
                        .as_array()
                        .map(|a| a.iter().filter_map(message_id_of).collect())
                        .unwrap_or_default();
                    for id in ids {
                        self.model.on_offered(h, id, "find");
                    }
                }
            }
            _ => {}
        }
        self.note(|| format!("node {h}: {client:?} {kind:?} -> {reply:?}"));
        let at = self.now + 1;
        self.schedule(at, Event::Answer { client, kind, reply });
    }

    /// The client reads its answer and decides what to do next.
    pub fn client_answer(&mut self, client: Client, kind: &CallKind, reply: &Reply) {
        let now = self.now;
        let next = match client {
            Client::Sender(i) => {
                let Some(s) = self.senders.get_mut(i) else { return };
                s.answered(reply, now, &mut self.rng)
            }
            Client::Consumer(i) => {
                let Some(c) = self.consumers.get_mut(i) else { return };
                c.answered(kind, reply)
            }
        };
        match next {
            Next::Call { after_ms } => self.schedule(now + after_ms, Event::Wake { client }),
            Next::Idle => {}
            Next::Violation(v) => self.model.violations.push(v),
        }
        if let (Client::Consumer(_), CallKind::Delete(id), Reply::Ok(_)) = (client, kind, reply) {
            self.maybe_receipt(*id);
        }
    }

    /// Now and then the archive that took an arkivmelding sends its receipt back.
    fn maybe_receipt(&mut self, id: MessageId) {
        let Some(m) = self.model.messages.get(&id) else { return };
        if m.service != Service::Dpo || m.files.is_empty() || !self.rng.chance(300) {
            return;
        }
        let (from, to) = (m.to, m.from);
        let (from_org, to_org) = (self.hosts[from].org.clone(), self.hosts[to].org.clone());
        let kind = if self.rng.chance(100) { "ERROR" } else { "OK" };
        let d = receipt(&mut self.rng, &from_org, &to_org, id, kind);
        self.launch(from, to, Service::Dpo, d, false, None);
    }
}
