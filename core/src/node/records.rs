//! Stored statuses and conversations, as the store returns them and the API shows
//! them.

use serde_json::{Map, Value, json};

use crate::Timestamp;
use crate::registry::model::ServiceIdentifier;
use crate::sbd::DateTime;
use crate::status::{Direction, Status};

/// One recorded status.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusRow {
    pub id: i64,
    /// The conversation's number.
    pub conv_id: i64,
    pub conversation_id: Option<String>,
    pub message_id: String,
    pub status: Status,
    pub description: Option<String>,
    pub raw_receipt: Option<String>,
    pub last_update: Timestamp,
}

/// One conversation: a message's record in one direction, with its statuses.
#[derive(Clone, Debug, PartialEq)]
pub struct ConversationRow {
    pub id: i64,
    pub conversation_id: Option<String>,
    pub message_id: String,
    /// The full identifier (`0192:<org>[:<on behalf of>]`).
    pub sender: Option<String>,
    /// The on-behalf-of organisation when there is one, else the sender's number.
    pub sender_identifier: Option<String>,
    pub receiver: Option<String>,
    pub receiver_identifier: Option<String>,
    pub process_identifier: Option<String>,
    pub document_identifier: Option<String>,
    pub message_reference: Option<String>,
    pub message_title: Option<String>,
    pub last_update: Timestamp,
    pub finished: bool,
    pub expiry: Option<Timestamp>,
    pub direction: Direction,
    pub service_identifier: ServiceIdentifier,
    pub statuses: Vec<StatusRow>,
}

/// Times are shown in Oslo time, as the reference shows them.
fn time(t: Timestamp) -> Value {
    Value::String(DateTime::oslo(t).to_rfc3339())
}

fn put(m: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(key.to_owned(), Value::String(v.clone()));
    }
}

pub fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Outgoing => "OUTGOING",
        Direction::Incoming => "INCOMING",
    }
}

impl StatusRow {
    /// `GET /api/statuses` JSON; null fields left out.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("lastUpdate".into(), time(self.last_update));
        m.insert("status".into(), json!(self.status.name()));
        put(&mut m, "description", &self.description);
        put(&mut m, "rawReceipt", &self.raw_receipt);
        m.insert("convId".into(), json!(self.conv_id));
        put(&mut m, "conversationId", &self.conversation_id);
        m.insert("messageId".into(), json!(self.message_id));
        Value::Object(m)
    }
}

impl ConversationRow {
    /// `GET /api/conversations` JSON; null fields left out, `pollable` never shown.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        put(&mut m, "conversationId", &self.conversation_id);
        m.insert("messageId".into(), json!(self.message_id));
        put(&mut m, "sender", &self.sender);
        put(&mut m, "senderIdentifier", &self.sender_identifier);
        put(&mut m, "receiver", &self.receiver);
        put(&mut m, "receiverIdentifier", &self.receiver_identifier);
        put(&mut m, "processIdentifier", &self.process_identifier);
        put(&mut m, "documentIdentifier", &self.document_identifier);
        put(&mut m, "messageReference", &self.message_reference);
        put(&mut m, "messageTitle", &self.message_title);
        m.insert("lastUpdate".into(), time(self.last_update));
        m.insert("finished".into(), json!(self.finished));
        if let Some(e) = self.expiry {
            m.insert("expiry".into(), time(e));
        }
        m.insert("direction".into(), json!(direction_name(self.direction)));
        m.insert("serviceIdentifier".into(), json!(self.service_identifier.as_str()));
        let statuses = self
            .statuses
            .iter()
            .map(|s| {
                let mut e = Map::new();
                e.insert("id".into(), json!(s.id));
                e.insert("lastUpdate".into(), time(s.last_update));
                e.insert("status".into(), json!(s.status.name()));
                put(&mut e, "description", &s.description);
                Value::Object(e)
            })
            .collect();
        m.insert("messageStatuses".into(), Value::Array(statuses));
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_json_leaves_out_nulls() {
        let row = StatusRow {
            id: 1,
            conv_id: 2,
            conversation_id: Some("cc3740ec-c6c1-474f-a93d-7e73816ca34b".into()),
            message_id: "1cc3fb67-b776-4730-b017-1028b86a8b8b".into(),
            status: Status::Mottatt,
            description: Some("Mottatt".into()),
            raw_receipt: None,
            last_update: Timestamp::from_unix_millis(1_572_948_274_000),
        };
        // The reference's restdocs example (its time is shown in Oslo time here).
        assert_eq!(
            row.to_json(),
            json!({"id": 1, "lastUpdate": "2019-11-05T11:04:34+01:00", "status": "MOTTATT", "description": "Mottatt",
                "convId": 2, "conversationId": "cc3740ec-c6c1-474f-a93d-7e73816ca34b",
                "messageId": "1cc3fb67-b776-4730-b017-1028b86a8b8b"})
        );
    }
}
