//! The Broker API's wire shapes: the body of `POST filetransfer/`
//! (`FileTransferInitalizeExt`) with its validation, the query of `GET filetransfer`,
//! and the overview answer (`FileTransferOverviewExt`).

use efm_core::Timestamp;
use serde_json::{Map, Value, json};

use super::store::{RecipientStatus, Transfer, TransferStatus, org_part};
use super::token;
use crate::local_service::{Problem, form_pairs, problem};

/// How long Altinn keeps a transfer by default (shown as `expirationTime`).
const TIME_TO_LIVE_MS: i64 = 30 * 24 * 3600 * 1000;

/// The validated body of `POST filetransfer/` (`FileTransferInitalizeExt`).
pub struct Initiate {
    pub file_name: String,
    pub resource_id: String,
    pub reference: Option<String>,
    pub sender: String,
    pub recipients: Vec<String>,
    pub properties: Map<String, Value>,
    pub checksum: Option<String>,
    pub disable_virus_scan: bool,
}

impl Initiate {
    /// The fields, or the validation errors by field name.
    pub fn validate(v: &Value) -> Result<Initiate, Map<String, Value>> {
        let mut errors = Errors::default();
        let Some(o) = v.as_object() else {
            errors.add("$", "the body must be a JSON object");
            return Err(errors.0);
        };
        let file_name = errors.required_text(o, "fileName", 255);
        let resource_id = errors.required_text(o, "resourceId", 255);
        let sender = errors.required_text(o, "sender", 255);
        let mut fail = |field: &str, message: &str| errors.add(field, message);
        if !sender.is_empty() && !is_actor(&sender) {
            fail("sender", "must look like 0192:<organisation number>");
        }
        let reference = match o.get("sendersFileTransferReference") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 4096 => Some(s.clone()),
            Some(_) => {
                fail("sendersFileTransferReference", "must be 1 to 4096 characters, or null");
                None
            }
        };
        let mut recipients: Vec<String> = Vec::new();
        match o.get("recipients").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => {
                for r in list {
                    match r.as_str() {
                        Some(s) if is_actor(s) => {
                            if !recipients.iter().any(|known| org_part(known) == org_part(s)) {
                                recipients.push(s.to_owned());
                            }
                        }
                        _ => fail("recipients", "each must look like 0192:<organisation number>"),
                    }
                }
            }
            _ => fail("recipients", "is required: a list of at least one recipient"),
        }
        let properties = match o.get("propertyList") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => {
                let ok = m.len() <= 10
                    && m.iter().all(|(k, v)| {
                        (1..=50).contains(&k.chars().count())
                            && v.as_str().is_some_and(|s| s.chars().count() <= 300)
                    });
                if !ok {
                    fail(
                        "propertyList",
                        "at most 10 string values, keys 1-50 and values up to 300 characters",
                    );
                }
                m.clone()
            }
            Some(_) => {
                fail("propertyList", "must be an object or null");
                Map::new()
            }
        };
        let checksum = match o.get("checksum") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                fail("checksum", "must be a string or null");
                None
            }
        };
        let disable_virus_scan = match o.get("disableVirusScan") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                fail("disableVirusScan", "must be true, false or null");
                false
            }
        };
        if !errors.0.is_empty() {
            return Err(errors.0);
        }
        Ok(Initiate {
            file_name,
            resource_id,
            reference,
            sender,
            recipients,
            properties,
            checksum,
            disable_virus_scan,
        })
    }
}

/// Validation errors: messages by field name, as ASP.NET's `errors` member.
#[derive(Default)]
struct Errors(Map<String, Value>);

impl Errors {
    fn add(&mut self, field: &str, message: &str) {
        let list = self.0.entry(field.to_owned()).or_insert_with(|| json!([]));
        if let Value::Array(a) = list {
            a.push(json!(message));
        }
    }

    /// The string member `name` of 1 to `max` characters; empty (and an error) if not.
    fn required_text(&mut self, o: &Map<String, Value>, name: &str, max: usize) -> String {
        match o.get(name).and_then(Value::as_str) {
            Some(s) if !s.is_empty() && s.chars().count() <= max => s.to_owned(),
            Some(_) => {
                self.add(name, &format!("must be 1 to {max} characters"));
                String::new()
            }
            None => {
                self.add(name, "is required (a string)");
                String::new()
            }
        }
    }
}

/// `dddd:ddddddddd`: an ISO 6523 code and a nine-digit organisation number.
fn is_actor(s: &str) -> bool {
    match s.split_once(':') {
        Some((icd, org)) => {
            icd.len() == 4 && icd.bytes().all(|b| b.is_ascii_digit()) && token::is_org_number(org)
        }
        None => false,
    }
}

/// The query of `GET filetransfer`.
pub struct ListQuery {
    pub resource_id: String,
    pub status: Option<TransferStatus>,
    pub recipient_status: Option<RecipientStatus>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl ListQuery {
    pub fn parse(query: &str) -> Result<ListQuery, Problem> {
        let pairs =
            form_pairs(query).ok_or_else(|| problem(400, "the query is not well encoded"))?;
        let mut q = ListQuery {
            resource_id: String::new(),
            status: None,
            recipient_status: None,
            from: None,
            to: None,
        };
        for (k, v) in pairs {
            match k.to_ascii_lowercase().as_str() {
                "resourceid" => q.resource_id = v,
                "status" => {
                    q.status = Some(TransferStatus::parse(&v).ok_or_else(|| {
                        problem(400, &format!("status '{v}' is not a file transfer status"))
                    })?)
                }
                "recipientstatus" => {
                    q.recipient_status = Some(RecipientStatus::parse(&v).ok_or_else(|| {
                        problem(400, &format!("recipientStatus '{v}' is not a recipient status"))
                    })?)
                }
                "from" => q.from = Some(instant(&v)?),
                "to" => q.to = Some(instant(&v)?),
                _ => {}
            }
        }
        if q.resource_id.is_empty() {
            return Err(problem(400, "resourceId is required"));
        }
        Ok(q)
    }
}

fn instant(s: &str) -> Result<i64, Problem> {
    efm_core::sbd::DateTime::parse(s)
        .map(|d| Timestamp::from_datetime(d.inner()).as_unix_millis())
        .map_err(|_| problem(400, &format!("'{s}' is not a date-time")))
}

fn rfc3339(ms: i64) -> String {
    Timestamp::from_unix_millis(ms).to_rfc3339()
}

/// `FileTransferOverviewExt`, and with `history` the status histories of
/// `FileTransferStatusDetailsExt`.
pub fn overview_json(t: &Transfer, history: bool) -> Value {
    let recipients: Vec<Value> = t
        .recipients
        .iter()
        .map(|r| {
            json!({
                "recipient": r.recipient,
                "currentRecipientFileTransferStatusCode": r.status.name(),
                "currentRecipientFileTransferStatusText": r.status.text(),
                "currentRecipientFileTransferStatusChanged": rfc3339(r.changed),
            })
        })
        .collect();
    let mut v = json!({
        "fileTransferId": t.file_transfer_id,
        "resourceId": t.resource_id,
        "fileName": t.file_name,
        "sendersFileTransferReference": t.senders_file_transfer_reference,
        "checksum": t.checksum,
        "useVirusScan": true,
        "fileTransferSize": t.size,
        "fileTransferStatus": t.status.name(),
        "fileTransferStatusText": t.status.text(),
        "fileTransferStatusChanged": rfc3339(t.status_changed),
        "created": rfc3339(t.created),
        "expirationTime": rfc3339(t.created.saturating_add(TIME_TO_LIVE_MS)),
        "sender": t.sender,
        "recipients": recipients,
        "propertyList": t.property_list,
    });
    if history && let Value::Object(m) = &mut v {
        let events: Vec<Value> = t
            .history
            .iter()
            .map(|e| {
                json!({
                    "fileTransferStatus": e.status.name(),
                    "fileTransferStatusText": e.status.text(),
                    "fileTransferStatusChanged": rfc3339(e.at),
                })
            })
            .collect();
        let recipient_events: Vec<Value> = t
            .recipient_history
            .iter()
            .map(|e| {
                json!({
                    "recipient": e.recipient,
                    "recipientFileTransferStatusCode": e.status.name(),
                    "recipientFileTransferStatusText": e.status.text(),
                    "recipientFileTransferStatusChanged": rfc3339(e.at),
                })
            })
            .collect();
        m.insert("fileTransferStatusHistory".into(), json!(events));
        m.insert("recipientFileTransferStatusHistory".into(), json!(recipient_events));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialise_bodies_are_validated_field_by_field() {
        let ok = json!({"fileName": "sbd.zip", "resourceId": "r", "sender": "0192:910077473",
            "recipients": ["0192:910075918", "0192:910075918"], "propertyList": {"k": "v"},
            "checksum": null, "disableVirusScan": null});
        let init = Initiate::validate(&ok).unwrap();
        assert_eq!(init.recipients, ["0192:910075918"], "one entry per recipient");
        assert_eq!(init.properties["k"], "v");
        let bad = json!({"fileName": "", "sender": "910077473", "recipients": [7],
            "propertyList": {"k": 1}, "disableVirusScan": "no"});
        let errors = Initiate::validate(&bad).err().unwrap();
        let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            ["fileName", "resourceId", "sender", "recipients", "propertyList", "disableVirusScan"]
        );
        assert!(Initiate::validate(&json!([1])).is_err());
    }

    #[test]
    fn list_queries_need_a_resource_and_known_statuses() {
        let q = ListQuery::parse(
            "resourceId=r&status=published&recipientStatus=Initialized&from=2026-01-01T00%3A00%3A00Z",
        )
        .unwrap();
        assert_eq!(q.resource_id, "r");
        assert_eq!(q.status, Some(TransferStatus::Published));
        assert_eq!(q.recipient_status, Some(RecipientStatus::Initialized));
        assert_eq!(q.from, Some(1_767_225_600_000));
        for bad in [
            "status=Published",
            "resourceId=r&status=Sent",
            "resourceId=r&to=yesterday",
            "resourceId=%zz",
        ] {
            assert_eq!(ListQuery::parse(bad).err().map(|p| p.status), Some(400), "{bad}");
        }
    }
}
