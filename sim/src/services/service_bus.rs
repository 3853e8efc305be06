//! Azure Service Bus REST, as DPE uses it: send, peek-lock (the head of a queue,
//! hidden for the lock's duration; offered again once the lock runs out), complete
//! with the lock token (404 once the lock is lost). Queues are made on first use.
//! Unlike Azure, nothing is dead-lettered after many deliveries: the simulated
//! network may drop the same answer many times over, and a message the service
//! itself throws away is no fault of the node.

use std::collections::BTreeMap;

use bytes::Bytes;
use efm_core::node::{HttpResponse, Method};
use serde_json::{Value, json};

use super::{Call, empty, problem};
use crate::rng::Rng;

pub struct Message {
    pub message_id: String,
    pub sequence: i64,
    pub body: Bytes,
    /// The lock token and when the lock runs out.
    pub lock: Option<(String, i64)>,
    pub deliveries: u32,
}

pub enum Effect {
    None,
    /// A message was completed by the reader of `queue`: it must be in that node's
    /// store by now.
    Completed {
        body: Bytes,
    },
}

pub struct ServiceBus {
    pub queues: BTreeMap<String, Vec<Message>>,
    pub lock_ms: i64,
    sequence: i64,
    ids: Rng,
}

impl ServiceBus {
    pub fn new(ids: Rng, lock_ms: i64) -> ServiceBus {
        ServiceBus { queues: BTreeMap::new(), lock_ms, sequence: 0, ids }
    }

    /// Messages not yet completed, in every queue.
    pub fn waiting(&self) -> usize {
        self.queues.values().map(Vec::len).sum()
    }

    pub fn handle(&mut self, c: &Call) -> (HttpResponse, Effect) {
        let Some(auth) = c.header("authorization") else {
            return (problem(401, "a SharedAccessSignature is required"), Effect::None);
        };
        if !auth.starts_with("SharedAccessSignature sr=") {
            return (problem(401, "not a SharedAccessSignature"), Effect::None);
        }
        let segments: Vec<&str> = c.path.split('/').filter(|s| !s.is_empty()).collect();
        match (c.method, segments.as_slice()) {
            (Method::Post, [.., queue, "messages"]) => (self.send(c, queue), Effect::None),
            (Method::Post, [.., queue, "messages", "head"]) => {
                (self.peek_lock(c, queue), Effect::None)
            }
            (Method::Delete, [.., queue, "messages", id, lock]) => {
                self.complete(c, queue, id, lock)
            }
            _ => (problem(404, &format!("no such resource: {}", c.path)), Effect::None),
        }
    }

    fn send(&mut self, c: &Call, queue: &str) -> HttpResponse {
        let named = c
            .header("BrokerProperties")
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .and_then(|p| p.get("MessageId").and_then(Value::as_str).map(str::to_owned))
            .filter(|id| !id.is_empty());
        let message_id = named.unwrap_or_else(|| self.ids.uuid().simple().to_string());
        self.sequence += 1;
        self.queues.entry(queue.to_ascii_lowercase()).or_default().push(Message {
            message_id,
            sequence: self.sequence,
            body: Bytes::copy_from_slice(c.body),
            lock: None,
            deliveries: 0,
        });
        empty(201)
    }

    fn peek_lock(&mut self, c: &Call, queue: &str) -> HttpResponse {
        let token = self.ids.uuid().hyphenated().to_string();
        let Some(messages) = self.queues.get_mut(&queue.to_ascii_lowercase()) else {
            return empty(204);
        };
        let Some(m) =
            messages.iter_mut().find(|m| m.lock.as_ref().is_none_or(|(_, until)| *until <= c.now))
        else {
            return empty(204);
        };
        m.lock = Some((token.clone(), c.now + self.lock_ms));
        m.deliveries += 1;
        let props = json!({
            "DeliveryCount": m.deliveries,
            "LockToken": token,
            "MessageId": m.message_id,
            "SequenceNumber": m.sequence,
            "State": "Active",
        });
        HttpResponse {
            status: 201,
            headers: vec![
                ("Content-Type".into(), "application/octet-stream".into()),
                ("BrokerProperties".into(), props.to_string()),
            ],
            body: m.body.clone(),
        }
    }

    fn complete(&mut self, c: &Call, queue: &str, id: &str, lock: &str) -> (HttpResponse, Effect) {
        let name = queue.to_ascii_lowercase();
        let Some(messages) = self.queues.get_mut(&name) else {
            return (problem(404, "no such message"), Effect::None);
        };
        let held = messages.iter().position(|m| {
            m.message_id == id
                && m.lock.as_ref().is_some_and(|(token, until)| token == lock && *until > c.now)
        });
        match held {
            Some(i) => {
                let m = messages.remove(i);
                (empty(200), Effect::Completed { body: m.body })
            }
            None => (
                problem(404, &format!("no message {id} locked with {lock} in {queue}")),
                Effect::None,
            ),
        }
    }
}
