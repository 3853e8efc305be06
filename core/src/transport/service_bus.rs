//! DPE over Azure Service Bus REST: the queues, the shared-access signature every call
//! carries, the payload format, and the three calls (send, peek-lock, complete).
//!
//! Each organisation reads one queue, `nextbestqueue<orgnr><mode>`. Sending posts a
//! JSON payload to the receiver's queue; receiving peek-locks the head of our own
//! queue, stores the message, then completes (deletes) it with its lock token.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use bytes::Bytes;
use ring::hmac;
use serde::Deserialize;
use serde_json::Value;

use super::failure::{Failure, classify};
use super::json_object;
use super::percent::{form, path_segment};
use crate::node::{HttpRequest, Method};
use crate::sbd::{BusinessMessage, EinnsynType, Sbd};
use crate::{Duration, Timestamp};

/// What every queue name starts with.
pub const QUEUE_PREFIX: &str = "nextbestqueue";
/// How long a signature stays valid. The reference signs for 20 s per call; a new
/// signature is made for every request, so this only has to cover one round trip and
/// some clock skew.
pub const SAS_LIFETIME: Duration = Duration::from_secs(20);
/// The reference's default limit on a DPE payload (`upload-size-limit`).
pub const DEFAULT_UPLOAD_LIMIT: usize = 2 * 1024 * 1024;

/// A Service Bus namespace and the shared-access key to sign with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceBusEndpoint {
    /// `http(s)://host[/prefix]`, e.g. `https://efm-dpe-qa.servicebus.windows.net`; a
    /// trailing `/` is ignored. See [`base_url`].
    pub base_url: String,
    /// The policy name, e.g. `MoveDPE-pilotPolicy`.
    pub key_name: String,
    /// The key, used as it is (its UTF-8 bytes are the HMAC key; it is not decoded).
    pub key: String,
}

impl ServiceBusEndpoint {
    fn url(&self, queue: &str, rest: &str) -> String {
        format!("{}/{}/{rest}", self.base_url.trim_end_matches('/'), path_segment(queue))
    }

    fn signed(&self, method: Method, url: String, now: Timestamp) -> HttpRequest {
        let expiry = (now + SAS_LIFETIME).as_unix_millis().div_euclid(1000);
        let auth = sas_authorization(&url, &self.key_name, &self.key, expiry);
        HttpRequest::new(method, url).header("Authorization", auth)
    }
}

/// The base URL from the reference's two settings: the namespace host (optionally
/// with a path, e.g. `localhost:8001/dpe`) and whether to use https. A host that
/// already names its scheme is kept as it is.
pub fn base_url(host: &str, use_https: bool) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.starts_with("http://") || host.starts_with("https://") {
        return host.to_owned();
    }
    format!("{}://{host}", if use_https { "https" } else { "http" })
}

/// Which of an organisation's queues: the eInnsyn client's (`innsyn`), the archive
/// side's (`data`), or the meeting-publishing side's (`meeting`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueMode {
    Innsyn,
    Data,
    Meeting,
}

impl QueueMode {
    /// The queue name suffix, also the configuration value.
    pub const fn suffix(self) -> &'static str {
        match self {
            QueueMode::Innsyn => "innsyn",
            QueueMode::Data => "data",
            QueueMode::Meeting => "meeting",
        }
    }

    /// The mode a configuration value names (exact, lower case, as the reference).
    pub fn from_name(name: &str) -> Option<Self> {
        [QueueMode::Innsyn, QueueMode::Data, QueueMode::Meeting]
            .into_iter()
            .find(|m| m.suffix() == name)
    }
}

/// `nextbestqueue<org><mode>`; `org` is the bare organisation number.
pub fn queue_name(org: &str, mode: QueueMode) -> String {
    format!("{QUEUE_PREFIX}{org}{}", mode.suffix())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the SBD has no receiver to address a Service Bus queue to")]
    NoReceiver,
    #[error("No endpointUrl defined for process {process}")]
    NoEndpoint { process: String },
}

/// The queue an outgoing DPE message goes to: the receiver's organisation number
/// followed by a suffix chosen as the reference does.
/// - A status SBD goes back to the side that sent the message: `receipt_queue` when
///   configured, else from our own `mode` (meeting -> innsyn, innsyn -> data,
///   data -> innsyn).
/// - An eInnsyn receipt: `receipt_queue` when configured, else `data` when it answers
///   an innsynskrav and `innsyn` otherwise.
/// - Anything else: the receiver's service record's `endpointUrl` (required).
pub fn target_queue(
    sbd: &Sbd,
    mode: QueueMode,
    receipt_queue: Option<&str>,
    endpoint_url: Option<&str>,
) -> Result<String, TargetError> {
    let receiver = sbd.header.receiver.as_ref().ok_or(TargetError::NoReceiver)?;
    let prefix = format!("{QUEUE_PREFIX}{}", receiver.identifier.primary());
    let receipt_queue = receipt_queue.filter(|q| has_text(q));
    let suffix = match &sbd.message {
        BusinessMessage::Status(_) => receipt_queue.unwrap_or(match mode {
            QueueMode::Meeting => QueueMode::Innsyn.suffix(),
            QueueMode::Innsyn => QueueMode::Data.suffix(),
            QueueMode::Data => QueueMode::Innsyn.suffix(),
        }),
        BusinessMessage::EinnsynKvittering(k) => {
            receipt_queue.unwrap_or(if k.referanse_type == Some(EinnsynType::Innsynskrav) {
                QueueMode::Data.suffix()
            } else {
                QueueMode::Innsyn.suffix()
            })
        }
        _ => endpoint_url.filter(|e| has_text(e)).ok_or_else(|| TargetError::NoEndpoint {
            process: sbd.header.process().unwrap_or("null").to_owned(),
        })?,
    };
    Ok(format!("{prefix}{suffix}"))
}

fn has_text(s: &str) -> bool {
    !s.trim().is_empty()
}

/// The `Authorization` header value for a call to `resource_url` (the full URL of the
/// call, without a query), valid until `expiry_epoch_secs`:
/// `SharedAccessSignature sr=<enc>&sig=<sig>&se=<expiry>&skn=<key_name>`, where
/// `enc` is the URL in `java.net.URLEncoder` form, and `sig` the same encoding of
/// base64(HMAC-SHA256(key bytes, enc + "\n" + expiry)).
pub fn sas_authorization(
    resource_url: &str,
    key_name: &str,
    key: &str,
    expiry_epoch_secs: i64,
) -> String {
    let encoded = form(resource_url);
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
    let tag = hmac::sign(&key, format!("{encoded}\n{expiry_epoch_secs}").as_bytes());
    let sig = form(&STANDARD.encode(tag.as_ref()));
    format!("SharedAccessSignature sr={encoded}&sig={sig}&se={expiry_epoch_secs}&skn={key_name}")
}

/// `POST {base}/{queue}/messages` with the payload of [`encode_payload`].
pub fn send(
    ep: &ServiceBusEndpoint,
    queue: &str,
    payload_json: Bytes,
    now: Timestamp,
) -> HttpRequest {
    let mut r = ep.signed(Method::Post, ep.url(queue, "messages"), now);
    // No broker properties of our own; Content-Type as the reference's client sets it
    // for a byte body (receivers read the body whatever the type says).
    r.headers.push(("BrokerProperties".into(), "{}".into()));
    r.headers.push(("Content-Type".into(), "application/octet-stream".into()));
    r.body = payload_json;
    r
}

/// Any 2xx is success (Azure answers 201).
pub fn parse_sent(status: u16, body: &[u8]) -> Result<(), Failure> {
    ok_status(status, body)
}

/// `POST {base}/{queue}/messages/head`: locks the first message of the queue and
/// returns it (see [`parse_peeked`]).
pub fn peek_lock(ep: &ServiceBusEndpoint, queue: &str, now: Timestamp) -> HttpRequest {
    ep.signed(Method::Post, ep.url(queue, "messages/head"), now)
}

/// A locked message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peeked {
    pub message_id: String,
    pub lock_token: String,
    pub sequence_number: Option<i64>,
    /// The payload; read it with [`decode_payload`].
    pub body: Bytes,
}

/// The `BrokerProperties` answer header; `SequenceNumber` comes as a number from Azure
/// and as a string from some test doubles, so both are read.
#[derive(Deserialize)]
struct BrokerProperties {
    #[serde(rename = "MessageId", default)]
    message_id: Option<Value>,
    #[serde(rename = "LockToken", default)]
    lock_token: Option<Value>,
    #[serde(rename = "SequenceNumber", default)]
    sequence_number: Option<Value>,
}

/// 200 or 201: a message (its `BrokerProperties` header must name it and its lock).
/// Any other 1xx-3xx, notably 204: the queue is empty. 4xx and 5xx: a failure.
pub fn parse_peeked(
    status: u16,
    headers: &[(String, String)],
    body: &Bytes,
) -> Result<Option<Peeked>, Failure> {
    match status {
        200 | 201 => {}
        400..=599 => return Err(classify(status, body)),
        _ => return Ok(None),
    }
    let what = "Service Bus peek-lock";
    let props = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("BrokerProperties"))
        .map(|(_, v)| v)
        .ok_or_else(|| Failure::bad_answer(what, "no BrokerProperties header"))?;
    let props: BrokerProperties =
        json_object(props.as_bytes()).map_err(|e| Failure::bad_answer(what, e))?;
    let message_id =
        text(props.message_id).ok_or_else(|| Failure::bad_answer(what, "no MessageId"))?;
    let lock_token =
        text(props.lock_token).ok_or_else(|| Failure::bad_answer(what, "no LockToken"))?;
    let sequence_number = match props.sequence_number {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    Ok(Some(Peeked { message_id, lock_token, sequence_number, body: body.clone() }))
}

/// A string, or a number written as one; empty counts as absent.
fn text(v: Option<Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `DELETE {base}/{queue}/messages/{message_id}/{lock_token}`: the message is ours.
pub fn complete(
    ep: &ServiceBusEndpoint,
    queue: &str,
    message_id: &str,
    lock_token: &str,
    now: Timestamp,
) -> HttpRequest {
    let rest = format!("messages/{}/{}", path_segment(message_id), path_segment(lock_token));
    ep.signed(Method::Delete, ep.url(queue, &rest), now)
}

/// Any 2xx is success. A 404 or 410 means the lock was lost: the message comes again
/// and is then recognised by its messageId.
pub fn parse_completed(status: u16, body: &[u8]) -> Result<(), Failure> {
    ok_status(status, body)
}

fn ok_status(status: u16, body: &[u8]) -> Result<(), Failure> {
    if (200..300).contains(&status) { Ok(()) } else { Err(classify(status, body)) }
}

/// `{"sbd": <SBD JSON>, "asic": "<base64(base64(cms))>"}`, `asic` left out when the
/// message has no documents (the reference's JSON writer omits nulls). The double
/// base64 is the reference's: it base64-encodes the CMS into bytes, and its JSON
/// writer encodes those bytes as base64 again.
pub fn encode_payload(sbd_json: &Value, cms: Option<&[u8]>) -> Bytes {
    let mut m = serde_json::Map::new();
    m.insert("sbd".into(), sbd_json.clone());
    if let Some(cms) = cms {
        m.insert("asic".into(), Value::String(STANDARD.encode(STANDARD.encode(cms))));
    }
    Bytes::from(Value::Object(m).to_string())
}

/// A received payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// The SBD as JSON; `Sbd::from_json` reads it.
    pub sbd: Value,
    /// The CMS, both base64 layers removed; `None` when the message has no documents.
    pub cms: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    #[error("Service Bus payload is not JSON of the expected shape: {0}")]
    NotJson(String),
    #[error("Service Bus payload has no sbd object")]
    NoSbd,
    #[error("Service Bus payload's asic is not base64 ({layer} layer)")]
    AsicNotBase64 { layer: &'static str },
    #[error("Service Bus payload's asic is empty")]
    EmptyAsic,
}

#[derive(Deserialize)]
struct WirePayload {
    #[serde(default)]
    sbd: Option<Value>,
    #[serde(default)]
    asic: Option<String>,
}

/// Reads a payload, undoing both base64 layers. Whitespace inside the base64 is
/// skipped and padding is optional, as the reference's decoders allow.
pub fn decode_payload(body: &[u8]) -> Result<Payload, PayloadError> {
    let wire: WirePayload = json_object(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let sbd = match wire.sbd {
        Some(v @ Value::Object(_)) => v,
        _ => return Err(PayloadError::NoSbd),
    };
    let cms = match wire.asic {
        None => None,
        Some(outer) => {
            let inner = unbase64(outer.as_bytes(), "outer")?;
            let cms = unbase64(&inner, "inner")?;
            if cms.is_empty() {
                return Err(PayloadError::EmptyAsic);
            }
            Some(cms)
        }
    };
    Ok(Payload { sbd, cms })
}

fn unbase64(text: &[u8], layer: &'static str) -> Result<Vec<u8>, PayloadError> {
    let compact: Vec<u8> = text.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    STANDARD_PAD_INDIFFERENT.decode(compact).map_err(|_| PayloadError::AsicNotBase64 { layer })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_NAME: &str = "MoveDPE-pilotPolicy";

    fn ep() -> ServiceBusEndpoint {
        ServiceBusEndpoint {
            base_url: "https://efm-dpe-qa.servicebus.windows.net/".into(),
            key_name: KEY_NAME.into(),
            key: "c2VjcmV0LWtleQ==".into(),
        }
    }

    fn header<'a>(r: &'a HttpRequest, name: &str) -> Option<&'a str> {
        r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Known answers computed outside this code, with the OpenSSL command line:
    /// `printf '%s\n%s' "$enc" 1700000020 | openssl dgst -sha256 -hmac "$key" -binary | base64`
    /// where `$enc` is the URLEncoder form of the URL (written out below by hand), then
    /// `+`, `/`, `=` percent-encoded by hand. The second key has a space and a non-ASCII
    /// letter, which the shell passes as UTF-8, as the reference's signer does.
    #[test]
    fn sas_signature_matches_an_independent_computation() {
        let url = "https://efm-dpe-qa.servicebus.windows.net/nextbestqueue910075935innsyn/messages";
        let enc = "https%3A%2F%2Fefm-dpe-qa.servicebus.windows.net%2Fnextbestqueue910075935innsyn%2Fmessages";
        assert_eq!(
            sas_authorization(url, KEY_NAME, "c2VjcmV0LWtleQ==", 1_700_000_020),
            format!(
                "SharedAccessSignature sr={enc}&sig=lSac%2F%2F%2Fc4MYe1XyQJIVPmHcxD%2BgoLlFXj7uDrA%2BjEuk%3D&se=1700000020&skn={KEY_NAME}"
            )
        );
        assert_eq!(
            sas_authorization(url, KEY_NAME, "sas key ø", 1_700_000_020),
            format!(
                "SharedAccessSignature sr={enc}&sig=AM1AFZmvXc0AXsoY0oL4PekYwVEMNN6NiPeJbxc7e8g%3D&se=1700000020&skn={KEY_NAME}"
            )
        );
    }

    #[test]
    fn send_signs_the_url_it_posts_to() {
        let now = Timestamp::from_unix_millis(1_700_000_000_999);
        let r = send(&ep(), "nextbestqueue910075935innsyn", Bytes::from_static(b"{}"), now);
        assert_eq!(r.method, Method::Post);
        assert_eq!(
            r.url,
            "https://efm-dpe-qa.servicebus.windows.net/nextbestqueue910075935innsyn/messages"
        );
        assert_eq!(header(&r, "BrokerProperties"), Some("{}"));
        assert_eq!(&r.body[..], b"{}");
        // Expiry is now + 20 s, in whole seconds.
        assert_eq!(
            header(&r, "Authorization"),
            Some(sas_authorization(&r.url, KEY_NAME, "c2VjcmV0LWtleQ==", 1_700_000_020).as_str())
        );
        assert_eq!(parse_sent(201, b""), Ok(()));
        assert!(parse_sent(401, b"").unwrap_err().is_transient());
        assert!(!parse_sent(403, b"").unwrap_err().is_transient());
    }

    #[test]
    fn peek_and_complete_urls() {
        let now = Timestamp::from_unix_millis(0);
        let p = peek_lock(&ep(), "nextbestqueue910077473innsyn", now);
        assert_eq!(p.method, Method::Post);
        assert_eq!(
            p.url,
            "https://efm-dpe-qa.servicebus.windows.net/nextbestqueue910077473innsyn/messages/head"
        );
        assert!(header(&p, "Authorization").unwrap().contains("%2Fmessages%2Fhead&sig="));
        assert!(p.body.is_empty());
        let c = complete(&ep(), "q", "a1b2", "7d0b1a0e-1c3f-4a5b-8c9d-0e1f2a3b4c5d", now);
        assert_eq!(c.method, Method::Delete);
        assert_eq!(
            c.url,
            "https://efm-dpe-qa.servicebus.windows.net/q/messages/a1b2/7d0b1a0e-1c3f-4a5b-8c9d-0e1f2a3b4c5d"
        );
        // Values from an answer cannot add path segments.
        assert!(
            complete(&ep(), "q", "a/../b", "t?x", now)
                .url
                .ends_with("/q/messages/a%2F..%2Fb/t%3Fx")
        );
        assert_eq!(parse_completed(200, b""), Ok(()));
        assert!(parse_completed(404, b"").is_err());
    }

    #[test]
    fn peeked_answers() {
        let body = Bytes::from_static(b"{\"sbd\":{}}");
        let h = |v: &str| vec![("brokerproperties".to_owned(), v.to_owned())];
        let azure = h(
            r#"{"DeliveryCount":1,"EnqueuedSequenceNumber":0,"LockToken":"7d0b1a0e-1c3f-4a5b-8c9d-0e1f2a3b4c5d","LockedUntilUtc":"Thu, 23 Nov 2026 10:00:30 GMT","MessageId":"5f1c","SequenceNumber":42,"State":"Active","TimeToLive":1209600}"#,
        );
        assert_eq!(
            parse_peeked(201, &azure, &body).unwrap(),
            Some(Peeked {
                message_id: "5f1c".into(),
                lock_token: "7d0b1a0e-1c3f-4a5b-8c9d-0e1f2a3b4c5d".into(),
                sequence_number: Some(42),
                body: body.clone(),
            })
        );
        // A test double's form: strings throughout.
        let double = h(r#"{ "MessageId" : "1", "LockToken" : "T1", "SequenceNumber" : "S1" }"#);
        let p = parse_peeked(200, &double, &body).unwrap().unwrap();
        assert_eq!(
            (p.message_id.as_str(), p.lock_token.as_str(), p.sequence_number),
            ("1", "T1", None)
        );
        assert_eq!(parse_peeked(204, &[], &Bytes::new()), Ok(None));
        assert!(parse_peeked(200, &[], &body).unwrap_err().is_transient());
        assert!(parse_peeked(200, &h(r#"{"MessageId":"1"}"#), &body).is_err());
        assert!(parse_peeked(200, &h("not json"), &body).is_err());
        assert!(parse_peeked(401, &[], &Bytes::new()).unwrap_err().is_transient());
        assert!(parse_peeked(500, &[], &Bytes::new()).unwrap_err().is_transient());
        assert!(!parse_peeked(404, &[], &Bytes::new()).unwrap_err().is_transient());
    }

    #[test]
    fn payload_is_double_base64_and_round_trips() {
        let sbd = serde_json::json!({"standardBusinessDocumentHeader": {"headerVersion": "1.0"}, "innsynskrav": {}});
        let cms = b"\x30\x80cms bytes\xff";
        let bytes = encode_payload(&sbd, Some(cms));
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["sbd", "asic"]);
        // base64("MIBjbXMgYnl0ZXP/") of base64(cms)
        assert_eq!(v["asic"], "TUlCamJYTWdZbmwwWlhQLw==");
        assert_eq!(
            decode_payload(&bytes).unwrap(),
            Payload { sbd: sbd.clone(), cms: Some(cms.to_vec()) }
        );

        let without = encode_payload(&sbd, None);
        assert_eq!(
            std::str::from_utf8(&without).unwrap(),
            r#"{"sbd":{"standardBusinessDocumentHeader":{"headerVersion":"1.0"},"innsynskrav":{}}}"#
        );
        assert_eq!(decode_payload(&without).unwrap().cms, None);
        let with_null = br#"{"sbd":{},"asic":null,"other":1}"#;
        assert_eq!(decode_payload(with_null).unwrap().cms, None);
    }

    #[test]
    fn payload_decoding_is_lenient_where_the_reference_is() {
        // Line breaks in either layer, padding left out.
        let p = decode_payload(b"{\"sbd\":{},\"asic\":\"TUlCamJYTWdZbmwwWlhQLw\\r\\n\"}").unwrap();
        assert_eq!(p.cms.as_deref(), Some(&b"\x30\x80cms bytes\xff"[..]));
        assert!(matches!(decode_payload(b"{\"sbd\":"), Err(PayloadError::NotJson(_))));
        assert!(matches!(decode_payload(b"[{}]"), Err(PayloadError::NotJson(_))));
        assert_eq!(decode_payload(br#"{"asic":null}"#), Err(PayloadError::NoSbd));
        assert_eq!(decode_payload(br#"{"sbd":"x"}"#), Err(PayloadError::NoSbd));
        assert_eq!(
            decode_payload(br#"{"sbd":{},"asic":"!!"}"#),
            Err(PayloadError::AsicNotBase64 { layer: "outer" })
        );
        // "ISE=" is base64 of "!!", which is not base64.
        assert_eq!(
            decode_payload(br#"{"sbd":{},"asic":"ISE="}"#),
            Err(PayloadError::AsicNotBase64 { layer: "inner" })
        );
        assert_eq!(decode_payload(br#"{"sbd":{},"asic":""}"#), Err(PayloadError::EmptyAsic));
    }

    #[test]
    fn queue_names_and_modes() {
        assert_eq!(queue_name("910075935", QueueMode::Innsyn), "nextbestqueue910075935innsyn");
        assert_eq!(queue_name("910075935", QueueMode::Data), "nextbestqueue910075935data");
        assert_eq!(queue_name("910075935", QueueMode::Meeting), "nextbestqueue910075935meeting");
        for m in [QueueMode::Innsyn, QueueMode::Data, QueueMode::Meeting] {
            assert_eq!(QueueMode::from_name(m.suffix()), Some(m));
        }
        assert_eq!(QueueMode::from_name("Innsyn"), None);
        assert_eq!(
            base_url("efm-dpe-qa.servicebus.windows.net", true),
            "https://efm-dpe-qa.servicebus.windows.net"
        );
        assert_eq!(base_url("localhost:8001/dpe/", false), "http://localhost:8001/dpe");
        assert_eq!(base_url("http://127.0.0.1:1", true), "http://127.0.0.1:1");
    }

    fn sbd(kind: &str, body: &str) -> Sbd {
        let json = format!(
            r#"{{"standardBusinessDocumentHeader":{{"headerVersion":"1.0",
            "sender":[{{"identifier":{{"value":"0192:910077473","authority":"iso6523-actorid-upis"}}}}],
            "receiver":[{{"identifier":{{"value":"0192:910075935","authority":"iso6523-actorid-upis"}}}}],
            "documentIdentification":{{"standard":"urn:no:difi:einnsyn:xsd::{kind}","typeVersion":"2.0",
              "instanceIdentifier":"20c8849c-e281-4809-8555-7cd54952b916","type":"{kind}",
              "creationDateAndTime":"2019-03-25T11:35:00+01:00"}},
            "businessScope":{{"scope":[{{"type":"ConversationId","instanceIdentifier":"21efbd4c-413d-4e2c-bbc5-257ef4a65a91",
              "identifier":"urn:no:difi:profile:einnsyn-innsynskrav:ver1.0"}}]}}}},
            "{kind}":{body}}}"#
        );
        Sbd::from_json(json.as_bytes()).unwrap()
    }

    fn kvittering(extra: &str) -> String {
        format!(
            r#"{{"dokumentId":"5ad82ad7-46e3-40d4-ac77-a98ad97f605f","status":"publisert"{extra}}}"#
        )
    }

    #[test]
    fn target_queues_follow_the_reference() {
        use QueueMode::*;
        let status = sbd("status", r#"{"status":"MOTTATT"}"#);
        assert_eq!(
            target_queue(&status, Innsyn, None, None).unwrap(),
            "nextbestqueue910075935data"
        );
        assert_eq!(
            target_queue(&status, Meeting, None, None).unwrap(),
            "nextbestqueue910075935innsyn"
        );
        assert_eq!(
            target_queue(&status, Data, None, None).unwrap(),
            "nextbestqueue910075935innsyn"
        );
        assert_eq!(
            target_queue(&status, Innsyn, Some("x"), None).unwrap(),
            "nextbestqueue910075935x"
        );
        assert_eq!(
            target_queue(&status, Innsyn, Some(" "), None).unwrap(),
            "nextbestqueue910075935data"
        );

        let about_krav =
            sbd("einnsyn_kvittering", &kvittering(",\"referanseType\":\"innsynskrav\""));
        let about_pub =
            sbd("einnsyn_kvittering", &kvittering(",\"referanseType\":\"publisering\""));
        // Validation requires referanseType, but the reference's rule is defined without.
        let mut about_none = about_pub.clone();
        if let BusinessMessage::EinnsynKvittering(k) = &mut about_none.message {
            k.referanse_type = None;
        }
        assert_eq!(
            target_queue(&about_krav, Data, None, None).unwrap(),
            "nextbestqueue910075935data"
        );
        assert_eq!(
            target_queue(&about_pub, Data, None, None).unwrap(),
            "nextbestqueue910075935innsyn"
        );
        assert_eq!(
            target_queue(&about_none, Data, None, None).unwrap(),
            "nextbestqueue910075935innsyn"
        );
        assert_eq!(
            target_queue(&about_krav, Data, Some("r"), None).unwrap(),
            "nextbestqueue910075935r"
        );

        let krav = sbd("innsynskrav", r#"{"orgnr":"98765432","epost":"a@b.no"}"#);
        assert_eq!(
            target_queue(&krav, Innsyn, Some("r"), Some("data")).unwrap(),
            "nextbestqueue910075935data"
        );
        assert_eq!(
            target_queue(&krav, Innsyn, None, Some("")),
            Err(TargetError::NoEndpoint {
                process: "urn:no:difi:profile:einnsyn-innsynskrav:ver1.0".into()
            })
        );
    }
}
