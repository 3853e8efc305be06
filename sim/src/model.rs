//! The reference model: what the fagsystems were promised, and the checks that it
//! holds. It is told of every acknowledged API call, every offer to a receiving
//! fagsystem, every change the stores journal and every acknowledgement a node
//! gives a message service, and says what went wrong the moment it goes wrong.

use std::collections::BTreeMap;

use efm_core::Timestamp;
use efm_core::ids::MessageId;
use efm_core::status::{Direction, Lifecycle, Outcome, Status};

use crate::sealing::Document;
use crate::store::{Change, MemStore};

/// How long after its expiry an outgoing message may go on without a final status:
/// the expiry sweep runs every 30 s, and a node may have been down or its store
/// failing meanwhile.
pub const TTL_GRACE_MS: i64 = 5 * 60_000;
/// A message that expires at least this long after the network heals must reach its
/// receiving fagsystem exactly once.
pub const SETTLE_MS: i64 = 25 * 60_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Dpo,
    Dpe,
}

/// One message a sending fagsystem made, and what became of it.
#[derive(Debug)]
pub struct Expected {
    pub from: usize,
    pub to: usize,
    pub service: Service,
    /// Every file, as it must arrive: name, MIME type, bytes.
    pub files: Vec<Document>,
    pub create_acked: bool,
    pub send_acked: bool,
    /// The expiry the sending node gave it (in that node's time), once created.
    pub expiry: Option<Timestamp>,
    /// `DeleteIncoming`s the receiving store carried out: the fagsystem has it.
    pub delivered: u32,
    /// Pops that handed its files to the receiving fagsystem.
    pub popped: u32,
}

#[derive(Default)]
pub struct Model {
    pub messages: BTreeMap<MessageId, Expected>,
    /// Each conversation's lifecycle as the model follows it from the statuses its
    /// store recorded: (node, incoming, messageId).
    lifecycles: BTreeMap<(usize, bool, String), Lifecycle>,
    /// FEIL mails each node sent, by (node, incoming, messageId).
    mails: BTreeMap<(usize, bool, String), u32>,
    pub violations: Vec<String>,
}

impl Model {
    fn fail(&mut self, v: String) {
        self.violations.push(v);
    }

    pub fn expect(&mut self, id: MessageId, e: Expected) {
        self.messages.insert(id, e);
    }

    /// A change a node's store journalled.
    pub fn on_change(&mut self, node: usize, change: &Change) {
        match change {
            Change::StatusAdded { message_id, direction, status } => {
                let key = (node, *direction == Direction::Incoming, message_id.clone());
                let outcome = match self.lifecycles.get_mut(&key) {
                    Some(l) => l.apply(*status),
                    None if *status == Status::Opprettet => {
                        self.lifecycles.insert(key, Lifecycle::new(*direction));
                        return;
                    }
                    None => Outcome::Illegal,
                };
                if !matches!(outcome, Outcome::Advanced | Outcome::Noted) {
                    let history = self.history(node, *direction, message_id);
                    self.fail(format!(
                        "node {node}: {direction:?} {message_id} recorded {status} after {history}: {outcome:?}; statuses must only move forward and never repeat"
                    ));
                }
            }
            Change::IncomingStored { .. } => {}
            Change::IncomingDelivered { message_id } => {
                let Some(m) = self.messages.get_mut(message_id) else { return };
                m.delivered += 1;
                let (to, delivered) = (m.to, m.delivered);
                if to != node {
                    self.fail(format!(
                        "{message_id} was delivered at node {node}, not its receiver {to}"
                    ));
                }
                if delivered > 1 {
                    self.fail(format!(
                        "{message_id} was delivered to the fagsystem {delivered} times"
                    ));
                }
            }
        }
    }

    fn history(&self, node: usize, direction: Direction, message_id: &str) -> String {
        let key = (node, direction == Direction::Incoming, message_id.to_owned());
        match self.lifecycles.get(&key) {
            Some(l) => format!("{} (current)", l.current()),
            None => "nothing".to_owned(),
        }
    }

    /// A message was offered to the fagsystem of `node` (peek, pop or find).
    pub fn on_offered(&mut self, node: usize, id: MessageId, how: &str) {
        let Some(m) = self.messages.get(&id) else {
            return self.fail(format!("node {node}: {how} offered {id}, which no fagsystem sent"));
        };
        if m.to != node {
            let to = m.to;
            return self.fail(format!("node {node}: {how} offered {id}, addressed to node {to}"));
        }
        if m.delivered > 0 {
            self.fail(format!("node {node}: {how} offered {id} after the fagsystem deleted it"));
        }
    }

    /// A pop handed these documents (or failed to open them).
    pub fn on_popped(&mut self, node: usize, id: MessageId, got: Result<Vec<Document>, String>) {
        self.on_offered(node, id, "pop");
        let Some(m) = self.messages.get_mut(&id) else { return };
        m.popped += 1;
        let mut want = m.files.clone();
        let mut got = match got {
            Ok(docs) => docs,
            Err(e) => return self.fail(format!("node {node}: pop of {id}: {e}")),
        };
        want.sort_by(|a, b| a.name.cmp(&b.name));
        got.sort_by(|a, b| a.name.cmp(&b.name));
        if want != got {
            let names = |d: &[Document]| {
                d.iter()
                    .map(|d| format!("{} ({} bytes)", d.name, d.content.len()))
                    .collect::<Vec<_>>()
            };
            self.fail(format!(
                "node {node}: pop of {id} gave {:?}, but {:?} was sent",
                names(&got),
                names(&want)
            ));
        }
    }

    /// The fagsystem of the sending `node` was shown these statuses of `id`, oldest
    /// first: each must move the message forward, none twice.
    pub fn on_statuses_shown(&mut self, node: usize, id: MessageId, shown: &[String]) {
        let mut lifecycle: Option<Lifecycle> = None;
        for name in shown {
            let Some(status) = Status::from_name(name) else {
                return self.fail(format!("node {node}: {id} shows the unknown status {name}"));
            };
            let outcome = match lifecycle.as_mut() {
                None if status == Status::Opprettet => {
                    lifecycle = Some(Lifecycle::new(Direction::Outgoing));
                    continue;
                }
                None => Outcome::Illegal,
                Some(l) => l.apply(status),
            };
            if !matches!(outcome, Outcome::Advanced | Outcome::Noted) {
                return self.fail(format!(
                    "node {node}: GET /api/statuses/{id} shows {shown:?}: {status} is {outcome:?} there"
                ));
            }
        }
    }

    /// The node told of a status (for webhooks and the status queue): it must be
    /// recorded already, or be one the store rightly did not record (the message
    /// had moved past it).
    pub fn on_status_event(
        &mut self,
        node: usize,
        e: &efm_core::node::StatusEvent,
        store: &MemStore,
    ) {
        let incoming = e.direction == Direction::Incoming;
        let history = store.statuses_of(&e.message_id.to_string(), incoming);
        if history.contains(&e.status) {
            return;
        }
        let mut later = Lifecycle::replay(e.direction, history.iter().copied().skip(1));
        if !history.is_empty() && !later.apply(e.status).is_recorded() {
            return;
        }
        self.fail(format!(
            "node {node}: told of {} {} before the store recorded it (it holds {history:?})",
            e.message_id, e.status
        ));
    }

    /// The node sent a mail on FEIL: the FEIL must be recorded, and it is mailed
    /// at most once (a crash between the write and the mail loses the mail; nothing
    /// may repeat it).
    pub fn on_mail(&mut self, node: usize, mail: &efm_core::mail::Mail, store: &MemStore) {
        const PREFIX: &str = "Integrasjonspunkt: status FEIL registrert for forsendelse ";
        let Some(rest) = mail.subject.strip_prefix(PREFIX) else {
            return self.fail(format!("node {node}: a mail that is not a FEIL mail: {mail:?}"));
        };
        let id = rest.split(" / ").next().unwrap_or_default().to_owned();
        let incoming = mail.body.starts_with("Innkommende");
        if !store.statuses_of(&id, incoming).contains(&Status::Feil) {
            self.fail(format!("node {node}: mailed FEIL on {id}, which its store does not hold"));
        }
        let count = self.mails.entry((node, incoming, id.clone())).or_default();
        *count += 1;
        let count = *count;
        if count > 1 {
            self.fail(format!("node {node}: mailed FEIL on {id} {count} times"));
        }
    }

    /// A create was answered 200: the message must be in the store.
    pub fn on_created(
        &mut self,
        node: usize,
        id: MessageId,
        expiry: Option<Timestamp>,
        store: &MemStore,
    ) {
        if !store.has_conversation(&id.to_string(), false) {
            self.fail(format!("node {node}: create of {id} answered 200, but it is not stored"));
        }
        if let Some(m) = self.messages.get_mut(&id) {
            m.create_acked = true;
            m.expiry = expiry.or_else(|| store.outgoing_expiry(&id.to_string()));
        }
    }

    pub fn on_uploaded(&mut self, node: usize, id: MessageId, filename: &str, store: &MemStore) {
        if store.has_outgoing_row(id) && !store.outgoing_has_file(id, filename) {
            self.fail(format!(
                "node {node}: upload of {filename} to {id} answered 200, but it is not stored"
            ));
        }
    }

    pub fn on_sent(&mut self, node: usize, id: MessageId, store: &MemStore) {
        if !store.is_queued_or_gone(id) || !store.has_conversation(&id.to_string(), false) {
            self.fail(format!("node {node}: send of {id} answered 200, but it is not queued"));
        }
        if let Some(m) = self.messages.get_mut(&id) {
            m.send_acked = true;
            if m.expiry.is_none() {
                m.expiry = store.outgoing_expiry(&id.to_string());
            }
        }
    }

    pub fn on_deleted(&mut self, node: usize, id: MessageId, store: &MemStore) {
        let levert = store.statuses_of(&id.to_string(), true).contains(&Status::InnkommendeLevert);
        if store.has_incoming(id) || !levert {
            self.fail(format!(
                "node {node}: delete of {id} answered 200, but the store does not show it"
            ));
        }
    }

    /// `node` acknowledged a received message to its message service (a DPO confirm, a
    /// DPE complete): by then it must be stored.
    pub fn on_service_ack(&mut self, node: usize, id: MessageId, store: &MemStore, via: &str) {
        if !store.has_conversation(&id.to_string(), true) {
            self.fail(format!(
                "node {node}: acknowledged {id} to {via} before storing it: a crash now would lose it"
            ));
        }
    }

    /// Outgoing conversations of `store` still open `TTL_GRACE_MS` past their expiry.
    pub fn check_ttl(&mut self, node: usize, store: &MemStore, node_now: Timestamp) {
        for (id, expiry) in store.unfinished_outgoing() {
            let Some(expiry) = expiry else { continue };
            if node_now.as_unix_millis() > expiry.as_unix_millis() + TTL_GRACE_MS {
                let statuses = store.statuses_of(&id, false);
                self.fail(format!(
                    "node {node}: {id} expired at {expiry} and has no final status at {node_now}: {statuses:?}"
                ));
            }
        }
    }

    /// At the end of a run: every message whose create was answered 200 is still
    /// there (the workload deletes no conversation), and every one whose send was
    /// answered 200 is queued or has left the queue.
    pub fn check_durable(&mut self, stores: &[&MemStore]) {
        let mut found = Vec::new();
        for (id, m) in &self.messages {
            let Some(store) = stores.get(m.from) else { continue };
            let key = id.to_string();
            if m.create_acked && !store.has_conversation(&key, false) {
                found.push(format!("node {}: {id} was created, and is gone", m.from));
            }
            if m.send_acked && !store.is_queued_or_gone(*id) {
                found.push(format!("node {}: {id} was sent, and is no longer queued", m.from));
            }
        }
        for f in found {
            self.fail(f);
        }
    }

    /// At the end of a run: every message that was sent and expires well after the
    /// network healed reached its fagsystem exactly once; none more than once.
    pub fn check_delivery(&mut self, heal: i64, offsets: &[i64], stores: &[&MemStore]) {
        let mut found = Vec::new();
        for (id, m) in &self.messages {
            if m.delivered > 1 {
                continue; // Reported when it happened.
            }
            if !m.send_acked || m.delivered == 1 {
                continue;
            }
            let failed = stores
                .get(m.from)
                .is_some_and(|s| s.statuses_of(&id.to_string(), false).contains(&Status::Feil));
            let heal_there = heal + offsets.get(m.from).copied().unwrap_or(0);
            let in_time = m.expiry.is_some_and(|e| e.as_unix_millis() >= heal_there + SETTLE_MS);
            if in_time && !failed {
                let sender = stores.get(m.from).map(|s| s.statuses_of(&id.to_string(), false));
                let receiver = stores.get(m.to).map(|s| s.statuses_of(&id.to_string(), true));
                found.push(format!(
                    "{id} ({:?}, node {} to node {}) was sent and the network healed long before it expired, but it never reached the receiving fagsystem (sender: {sender:?}, receiver: {receiver:?})",
                    m.service, m.from, m.to
                ));
            }
        }
        for f in found {
            self.fail(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const ID: &str = "5a0f3e7c-2d4b-4e8f-9c1a-7b6d5e4f3a21";

    fn model() -> (Model, MessageId) {
        let id: MessageId = ID.parse().unwrap();
        let mut m = Model::default();
        let file = Document {
            name: "a.txt".into(),
            mime: "text/plain".into(),
            content: Bytes::from("abc"),
        };
        m.expect(
            id,
            Expected {
                from: 0,
                to: 1,
                service: Service::Dpo,
                files: vec![file],
                create_acked: true,
                send_acked: true,
                expiry: Some(Timestamp::from_unix_millis(10 * SETTLE_MS)),
                delivered: 0,
                popped: 0,
            },
        );
        (m, id)
    }

    fn added(status: Status) -> Change {
        Change::StatusAdded { message_id: ID.into(), direction: Direction::Outgoing, status }
    }

    #[test]
    fn a_status_behind_the_current_one_is_caught() {
        let (mut m, _) = model();
        for s in [Status::Opprettet, Status::Sendt, Status::Levert] {
            m.on_change(0, &added(s));
        }
        assert!(m.violations.is_empty(), "{:?}", m.violations);
        m.on_change(0, &added(Status::Mottatt));
        assert_eq!(m.violations.len(), 1, "MOTTATT after LEVERT");
        m.on_statuses_shown(
            0,
            ID.parse().unwrap(),
            &["OPPRETTET".into(), "SENDT".into(), "SENDT".into()],
        );
        assert_eq!(m.violations.len(), 2, "SENDT twice");
    }

    #[test]
    fn an_offer_after_delete_and_a_second_delivery_are_caught() {
        let (mut m, id) = model();
        m.on_offered(1, id, "peek");
        assert!(m.violations.is_empty());
        m.on_change(1, &Change::IncomingDelivered { message_id: id });
        m.on_offered(1, id, "peek");
        assert_eq!(m.violations.len(), 1);
        m.on_change(1, &Change::IncomingDelivered { message_id: id });
        assert_eq!(m.violations.len(), 2);
    }

    #[test]
    fn a_changed_or_missing_byte_is_caught() {
        let (mut m, id) = model();
        let good = vec![Document {
            name: "a.txt".into(),
            mime: "text/plain".into(),
            content: Bytes::from("abc"),
        }];
        m.on_popped(1, id, Ok(good));
        assert!(m.violations.is_empty(), "{:?}", m.violations);
        let bad = vec![Document {
            name: "a.txt".into(),
            mime: "text/plain".into(),
            content: Bytes::from("abd"),
        }];
        m.on_popped(1, id, Ok(bad));
        m.on_popped(1, id, Ok(Vec::new()));
        m.on_popped(1, id, Err("checksum mismatch".into()));
        assert_eq!(m.violations.len(), 3);
    }

    #[test]
    fn a_message_that_never_arrives_is_caught() {
        let (mut m, _) = model();
        let stores = [MemStore::new(), MemStore::new()];
        m.check_delivery(0, &[0, 0], &[&stores[0], &stores[1]]);
        assert_eq!(m.violations.len(), 1, "sent long before its expiry, never delivered");
        let (mut m, id) = model();
        m.on_change(1, &Change::IncomingDelivered { message_id: id });
        m.check_delivery(0, &[0, 0], &[&stores[0], &stores[1]]);
        assert!(m.violations.is_empty(), "{:?}", m.violations);
    }

    #[test]
    fn acknowledging_before_storing_is_caught() {
        let (mut m, id) = model();
        m.on_service_ack(1, id, &MemStore::new(), "the broker");
        assert_eq!(m.violations.len(), 1);
    }
}
