//! Webhook subscriptions: what a fagsystem registers to be told of statuses, the
//! filter grammar, and the rules a subscription must meet.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{ApiError, Exception};
use crate::sbd::Violation;

/// A subscription as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    pub spec: SubscriptionSpec,
}

/// Everything of a subscription but its id, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionSpec {
    pub name: String,
    pub push_endpoint: String,
    /// `all` or `messages`.
    pub resource: String,
    /// `all` or `status`.
    pub event: String,
    pub filter: Option<String>,
}

/// The JSON a client sends, every field optional (validation says what is missing).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionInput {
    pub id: Option<i64>,
    pub name: Option<String>,
    pub push_endpoint: Option<String>,
    pub resource: Option<String>,
    pub event: Option<String>,
    pub filter: Option<String>,
}

/// One part of a filter: `name=v1,v2`, values compared case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterPart {
    pub name: FilterName,
    pub values: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterName {
    Status,
    ServiceIdentifier,
    Direction,
}

/// Parse `status=FEIL,LEVETID_UTLOPT&direction=INCOMING`: parts AND'ed, values OR'ed.
pub fn parse_filter(filter: &str) -> Result<Vec<FilterPart>, ApiError> {
    let mut parts = Vec::new();
    for part in filter.split('&').filter(|p| !p.trim().is_empty()) {
        let Some((name, values)) = part.split_once('=') else {
            let op = part
                .trim_start_matches(|c: char| c.is_alphanumeric())
                .chars()
                .next()
                .unwrap_or(' ');
            return Err(ApiError::new(
                Exception::WebhookUnknownFilterOperation,
                format!("Unknown filter operator: {op}."),
            ));
        };
        let name = match name.trim() {
            "status" => FilterName::Status,
            "serviceIdentifier" => FilterName::ServiceIdentifier,
            "direction" => FilterName::Direction,
            other => {
                return Err(ApiError::new(
                    Exception::WebhookUnknownFilter,
                    format!("Unknown filter name: {other}."),
                ));
            }
        };
        let values =
            values.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect();
        parts.push(FilterPart { name, values });
    }
    Ok(parts)
}

/// Whether an event with these fields passes the filter.
pub fn filter_matches(parts: &[FilterPart], status: &str, service: &str, direction: &str) -> bool {
    parts.iter().all(|p| {
        let field = match p.name {
            FilterName::Status => status,
            FilterName::ServiceIdentifier => service,
            FilterName::Direction => direction,
        };
        p.values.iter().any(|v| v.eq_ignore_ascii_case(field))
    })
}

impl SubscriptionInput {
    /// The rules of a new subscription: every field but `filter` required, `id`
    /// absent, a URL to push to, known `resource` and `event`, a filter that parses.
    pub fn validate(self) -> Result<SubscriptionSpec, ApiError> {
        let mut v = Vec::new();
        if let Some(id) = self.id {
            v.push(Violation::new("id", "Null", "must be null", Some(json!(id))));
        }
        let mut need = |field: &str, value: &Option<String>| {
            if value.as_deref().is_none_or(str::is_empty) {
                v.push(Violation::new(field, "NotNull", "must not be null", None));
            }
        };
        need("name", &self.name);
        need("pushEndpoint", &self.push_endpoint);
        need("resource", &self.resource);
        need("event", &self.event);
        if let Some(url) = &self.push_endpoint {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && url.len() > 8
                && !url.contains(' ');
            if !url.is_empty() && !ok {
                v.push(Violation::new(
                    "pushEndpoint",
                    "URL",
                    "must be a valid URL",
                    Some(json!(url)),
                ));
            }
        }
        one_of(&mut v, "resource", &self.resource, &["all", "messages"]);
        one_of(&mut v, "event", &self.event, &["all", "status"]);
        if !v.is_empty() {
            return Err(ApiError::violations(v));
        }
        if let Some(f) = &self.filter {
            parse_filter(f)?;
        }
        Ok(SubscriptionSpec {
            name: self.name.unwrap_or_default(),
            push_endpoint: self.push_endpoint.unwrap_or_default(),
            resource: self.resource.unwrap_or_default(),
            event: self.event.unwrap_or_default(),
            filter: self.filter.filter(|f| !f.is_empty()),
        })
    }

    /// A partial update: only the fields given change, and the result must still be
    /// a valid subscription.
    pub fn apply_to(self, current: &SubscriptionSpec) -> Result<SubscriptionSpec, ApiError> {
        SubscriptionInput {
            id: None,
            name: self.name.or_else(|| Some(current.name.clone())),
            push_endpoint: self.push_endpoint.or_else(|| Some(current.push_endpoint.clone())),
            resource: self.resource.or_else(|| Some(current.resource.clone())),
            event: self.event.or_else(|| Some(current.event.clone())),
            filter: self.filter.or_else(|| current.filter.clone()),
        }
        .validate()
    }
}

fn one_of(v: &mut Vec<Violation>, field: &str, value: &Option<String>, allowed: &[&str]) {
    if let Some(x) = value.as_deref().filter(|x| !x.is_empty())
        && !allowed.contains(&x)
    {
        v.push(Violation::new(
            field,
            "OneOf",
            format!("'{x}' is not expected. Allowed values are: [{}]", allowed.join(", ")),
            Some(json!(x)),
        ));
    }
}

impl Subscription {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("name".into(), json!(self.spec.name));
        m.insert("pushEndpoint".into(), json!(self.spec.push_endpoint));
        m.insert("resource".into(), json!(self.spec.resource));
        m.insert("event".into(), json!(self.spec.event));
        if let Some(f) = &self.spec.filter {
            m.insert("filter".into(), json!(f));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let f = parse_filter("status=FEIL,levetid_utlopt&direction=INCOMING").unwrap();
        assert!(filter_matches(&f, "LEVETID_UTLOPT", "DPO", "INCOMING"));
        assert!(!filter_matches(&f, "LEVETID_UTLOPT", "DPO", "OUTGOING"));
        assert!(!filter_matches(&f, "LEVERT", "DPO", "INCOMING"));
        assert!(filter_matches(&parse_filter("").unwrap(), "X", "Y", "Z"));
        let e = parse_filter("colour=red").unwrap_err();
        assert_eq!(
            (e.exception, e.message.as_str()),
            (Exception::WebhookUnknownFilter, "Unknown filter name: colour.")
        );
        assert_eq!(
            parse_filter("status>FEIL").unwrap_err().exception,
            Exception::WebhookUnknownFilterOperation
        );
    }

    #[test]
    fn rules_of_a_new_subscription() {
        let ok: SubscriptionInput = serde_json::from_value(json!({"name": "n", "pushEndpoint": "http://127.0.0.1:9/x", "resource": "all", "event": "all"})).unwrap();
        assert!(ok.validate().is_ok());
        let bad: SubscriptionInput = serde_json::from_value(
            json!({"id": 3, "pushEndpoint": "nowhere", "resource": "files", "event": "all"}),
        )
        .unwrap();
        let e = bad.validate().unwrap_err();
        let fields: Vec<&str> = e.errors.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["id", "name", "pushEndpoint", "resource"]);
    }
}

/// What a status push says, as the reference posts it to a subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusPush<'a> {
    pub at: crate::Timestamp,
    pub message_id: &'a str,
    pub conversation_id: Option<&'a str>,
    pub direction: &'a str,
    pub service: &'a str,
    pub status: &'a str,
    pub description: Option<&'a str>,
}

impl StatusPush<'_> {
    /// Whether a subscription wants this push: every subscription covers status
    /// events of messages (`all`/`messages`, `all`/`status`), and its filter decides.
    pub fn wanted_by(&self, s: &SubscriptionSpec) -> bool {
        let filter =
            s.filter.as_deref().map(parse_filter).transpose().ok().flatten().unwrap_or_default();
        matches!(s.resource.as_str(), "all" | "messages")
            && matches!(s.event.as_str(), "all" | "status")
            && filter_matches(&filter, self.status, self.service, self.direction)
    }

    pub fn body(&self) -> Value {
        let mut m = Map::new();
        m.insert("createdTs".into(), json!(crate::sbd::DateTime::oslo(self.at).to_rfc3339()));
        m.insert("resource".into(), json!("messages"));
        m.insert("event".into(), json!("status"));
        m.insert("messageId".into(), json!(self.message_id));
        if let Some(c) = self.conversation_id {
            m.insert("conversationId".into(), json!(c));
        }
        m.insert("direction".into(), json!(self.direction));
        m.insert("serviceIdentifier".into(), json!(self.service));
        m.insert("status".into(), json!(self.status));
        if let Some(d) = self.description {
            m.insert("description".into(), json!(d));
        }
        Value::Object(m)
    }
}
