//! DPO over the Altinn 3 Broker ("formidling") REST API: the six calls an integration
//! point makes, as requests, and readers for their answers.
//!
//! Sending is `initiate` (metadata, answers a `fileTransferId`) then `upload` (the
//! `sbd.zip` parcel as the body). Receiving is `list_published` (and
//! `list_download_started`, the same call for downloads never confirmed), `details`
//! for each id (to apply the message-channel filter and order by creation), `download`, and
//! `confirm_download` once the message is stored. Every call carries an Altinn token
//! (Maskinporten token exchanged at Altinn, scope [`WRITE_SCOPE`] or [`READ_SCOPE`]).

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::failure::{Failure, classify};
use super::json_object;
use super::percent::{path_segment, query_value};
use crate::node::{Credential, HttpRequest, Method};

/// The Altinn resource eFormidling's DPO traffic runs under.
pub const DEFAULT_RESOURCE_ID: &str = "eformidling-dpo-meldingsutveksling";
/// The parcel's file name in the broker.
pub const PARCEL_FILE_NAME: &str = "sbd.zip";
/// Scope for `initiate` and `upload`.
pub const WRITE_SCOPE: &str = "altinn:broker.write";
/// Scope for listing, details, download and confirm.
pub const READ_SCOPE: &str = "altinn:broker.read";

/// Where the broker is and which resource our transfers belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEndpoint {
    /// E.g. `https://platform.tt02.altinn.no/broker/api/v1`; a trailing `/` is ignored.
    pub base_url: String,
    pub resource_id: String,
}

impl BrokerEndpoint {
    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url.trim_end_matches('/'), path)
    }
}

/// The metadata of one outgoing transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewFileTransfer<'a> {
    /// The SBD's sender as Altinn wants it: `0192:<orgnr>`.
    pub sender: &'a str,
    /// The SBD's receiver, same form.
    pub recipient: &'a str,
    /// A fresh UUID, or for a status or receipt the receiver's message channel (which
    /// routes it to that channel's consumer; see [`wanted`]).
    pub senders_reference: &'a str,
}

/// The initiate body. Field order and the explicit `null`s are what the reference's
/// client writes (its JSON mapper includes nulls); the broker accepts both.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Initialize<'a> {
    file_name: &'a str,
    resource_id: &'a str,
    senders_file_transfer_reference: &'a str,
    sender: &'a str,
    recipients: [&'a str; 1],
    property_list: serde_json::Map<String, serde_json::Value>,
    checksum: Option<&'a str>,
    disable_virus_scan: Option<bool>,
}

/// A broker request. Its bearer token is an Altinn token for `scope`, which the
/// runtime obtains and adds: only the runtime holds the key that signs the grant.
fn request(method: Method, url: String, scope: &str, accept_json: bool) -> HttpRequest {
    let mut r = HttpRequest::new(method, url);
    if accept_json {
        r.headers.push(("Accept".to_owned(), "application/json".to_owned()));
    }
    r.auth = Some(Credential::Altinn { scopes: vec![scope.to_owned()] });
    r
}

/// `POST {base}/filetransfer/` with the transfer's metadata.
pub fn initiate(ep: &BrokerEndpoint, t: &NewFileTransfer) -> HttpRequest {
    let body = Initialize {
        file_name: PARCEL_FILE_NAME,
        resource_id: &ep.resource_id,
        senders_file_transfer_reference: t.senders_reference,
        sender: t.sender,
        recipients: [t.recipient],
        property_list: serde_json::Map::new(),
        checksum: None,
        disable_virus_scan: None,
    };
    let mut r = request(Method::Post, ep.url("filetransfer/"), WRITE_SCOPE, true);
    r.headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    // Serialising a struct of strings and nulls cannot fail.
    r.body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    r
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Initialized {
    #[serde(default)]
    file_transfer_id: Option<String>,
}

/// The `fileTransferId` from the initiate answer, checked to be a UUID (it goes into
/// the next URLs) and written in lower-case hyphenated form.
pub fn parse_initiated(status: u16, body: &[u8]) -> Result<String, Failure> {
    ok_status(status, body)?;
    let answer: Initialized =
        json_object(body).map_err(|e| Failure::bad_answer("broker initiate", e))?;
    let id = answer
        .file_transfer_id
        .ok_or_else(|| Failure::bad_answer("broker initiate", "no fileTransferId"))?;
    uuid_text(&id)
        .ok_or_else(|| Failure::bad_answer("broker initiate", "fileTransferId is not a UUID"))
}

/// `POST {base}/filetransfer/{id}/upload`, `application/octet-stream`. The body is left
/// empty: the runtime streams the parcel as the body.
pub fn upload(ep: &BrokerEndpoint, file_transfer_id: &str) -> HttpRequest {
    let url = ep.url(&format!("filetransfer/{}/upload", path_segment(file_transfer_id)));
    let mut r = request(Method::Post, url, WRITE_SCOPE, true);
    r.headers.push(("Content-Type".to_owned(), "application/octet-stream".to_owned()));
    r
}

/// Any 2xx is success; the answer's overview of the transfer is not needed.
pub fn parse_uploaded(status: u16, body: &[u8]) -> Result<(), Failure> {
    ok_status(status, body)
}

/// `GET {base}/filetransfer?resourceId=…&status=Published&recipientStatus=Initialized`:
/// the transfers published to us that we have not started to download.
pub fn list_published(ep: &BrokerEndpoint) -> HttpRequest {
    list_with_recipient_status(ep, "Initialized")
}

/// `…&recipientStatus=DownloadStarted`: transfers we started to download and never
/// confirmed. A download moves us out of the `Initialized` listing, so a transfer
/// whose download answer was lost, or whose message we had not stored when we
/// stopped, is found only here; without this look it would never be fetched again.
pub fn list_download_started(ep: &BrokerEndpoint) -> HttpRequest {
    list_with_recipient_status(ep, "DownloadStarted")
}

fn list_with_recipient_status(ep: &BrokerEndpoint, status: &str) -> HttpRequest {
    let url = ep.url(&format!(
        "filetransfer?resourceId={}&status=Published&recipientStatus={status}",
        query_value(&ep.resource_id)
    ));
    request(Method::Get, url, READ_SCOPE, true)
}

/// The ids of the listing, each checked to be a UUID. One bad id spoils the answer, as
/// in the reference, rather than being skipped silently.
pub fn parse_list(status: u16, body: &[u8]) -> Result<Vec<String>, Failure> {
    ok_status(status, body)?;
    let ids: Vec<String> =
        serde_json::from_slice(body).map_err(|e| Failure::bad_answer("broker listing", e))?;
    ids.iter()
        .map(|id| {
            uuid_text(id).ok_or_else(|| {
                Failure::bad_answer("broker listing", format!("{:?} is not a UUID", shorten(id)))
            })
        })
        .collect()
}

/// `GET {base}/filetransfer/{id}`: the transfer's overview.
pub fn details(ep: &BrokerEndpoint, id: &str) -> HttpRequest {
    request(Method::Get, ep.url(&format!("filetransfer/{}", path_segment(id))), READ_SCOPE, true)
}

/// What the receiving side needs from a transfer's overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTransferDetails {
    /// Lower-case hyphenated UUID.
    pub id: String,
    pub senders_reference: Option<String>,
    pub sender: Option<String>,
    /// RFC 3339 as the broker wrote it; see [`sort_by_created`].
    pub created: Option<String>,
    pub file_size: Option<u64>,
    /// `fileTransferStatus`, e.g. `Published`.
    pub status: Option<String>,
}

impl FileTransferDetails {
    /// Whether the transfer is still there to download: `Published`, or a status
    /// not given. After every recipient confirmed it is `AllConfirmedDownloaded`,
    /// and a confirm would be refused.
    pub fn published(&self) -> bool {
        self.status.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("Published"))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Overview {
    #[serde(default)]
    file_transfer_id: Option<String>,
    #[serde(default)]
    senders_file_transfer_reference: Option<String>,
    #[serde(default)]
    sender: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    file_transfer_size: Option<u64>,
    #[serde(default)]
    file_transfer_status: Option<String>,
}

pub fn parse_details(status: u16, body: &[u8]) -> Result<FileTransferDetails, Failure> {
    ok_status(status, body)?;
    let o: Overview = json_object(body).map_err(|e| Failure::bad_answer("broker details", e))?;
    let id = o
        .file_transfer_id
        .as_deref()
        .and_then(uuid_text)
        .ok_or_else(|| Failure::bad_answer("broker details", "no fileTransferId UUID"))?;
    Ok(FileTransferDetails {
        id,
        senders_reference: o.senders_file_transfer_reference,
        sender: o.sender,
        created: o.created,
        file_size: o.file_transfer_size,
        status: o.file_transfer_status,
    })
}

/// The message-channel rule. With a channel configured, take only transfers whose
/// sender's reference is that channel. Without one, leave alone the transfers whose
/// reference looks like a channel name (`^[a-zA-Z0-9_-]{0,25}$`), since another
/// consumer of the same organisation reads those; ordinary transfers carry a UUID
/// (36 characters) and pass.
pub fn wanted(details: &FileTransferDetails, message_channel: Option<&str>) -> bool {
    let reference = details.senders_reference.as_deref();
    match message_channel.filter(|c| !c.is_empty()) {
        Some(channel) => reference == Some(channel),
        None => !reference.is_some_and(looks_like_channel),
    }
}

fn looks_like_channel(s: &str) -> bool {
    s.len() <= 25 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Oldest first, transfers without a readable `created` last (stable otherwise), so
/// messages are taken in the order they were sent.
pub fn sort_by_created(transfers: &mut [FileTransferDetails]) {
    transfers.sort_by_cached_key(|d| {
        let at = d.created.as_deref().and_then(|c| OffsetDateTime::parse(c, &Rfc3339).ok());
        (at.is_none(), at)
    });
}

/// `GET {base}/filetransfer/{id}/download`: the parcel. The runtime streams the answer
/// body to a file and through [`ParcelReader`](super::dpo_parcel::ParcelReader).
pub fn download(ep: &BrokerEndpoint, id: &str) -> HttpRequest {
    request(
        Method::Get,
        ep.url(&format!("filetransfer/{}/download", path_segment(id))),
        READ_SCOPE,
        false,
    )
}

/// `POST {base}/filetransfer/{id}/confirmdownload`, empty body: the transfer is ours.
pub fn confirm_download(ep: &BrokerEndpoint, id: &str) -> HttpRequest {
    let url = ep.url(&format!("filetransfer/{}/confirmdownload", path_segment(id)));
    request(Method::Post, url, READ_SCOPE, true)
}

pub fn parse_confirmed(status: u16, body: &[u8]) -> Result<(), Failure> {
    ok_status(status, body)
}

fn ok_status(status: u16, body: &[u8]) -> Result<(), Failure> {
    if (200..300).contains(&status) { Ok(()) } else { Err(classify(status, body)) }
}

fn uuid_text(s: &str) -> Option<String> {
    uuid::Uuid::try_parse(s).ok().map(|u| u.hyphenated().to_string())
}

fn shorten(s: &str) -> String {
    s.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0e1b7a5c-7c2f-4f6e-9d7b-2c1f0e9a8b7c";

    fn ep() -> BrokerEndpoint {
        BrokerEndpoint {
            base_url: "http://localhost:9099/broker/api/v1/".into(),
            resource_id: DEFAULT_RESOURCE_ID.into(),
        }
    }

    fn header<'a>(r: &'a HttpRequest, name: &str) -> Option<&'a str> {
        r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    #[test]
    fn initiate_writes_what_the_reference_writes() {
        let t = NewFileTransfer {
            sender: "0192:910077473",
            recipient: "0192:910075918",
            senders_reference: "19efbd4c-413d-4e2c-bbc5-257ef4a65b38",
        };
        let r = initiate(&ep(), &t);
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.url, "http://localhost:9099/broker/api/v1/filetransfer/");
        assert_eq!(r.auth, Some(Credential::Altinn { scopes: vec![WRITE_SCOPE.into()] }));
        assert_eq!(header(&r, "Content-Type"), Some("application/json"));
        assert_eq!(header(&r, "Accept"), Some("application/json"));
        // The body the reference's acceptance test pins for this message.
        let expected = r#"{"fileName":"sbd.zip","resourceId":"eformidling-dpo-meldingsutveksling","sendersFileTransferReference":"19efbd4c-413d-4e2c-bbc5-257ef4a65b38","sender":"0192:910077473","recipients":["0192:910075918"],"propertyList":{},"checksum":null,"disableVirusScan":null}"#;
        assert_eq!(std::str::from_utf8(&r.body).unwrap(), expected);
    }

    #[test]
    fn initiate_answer_gives_a_normalised_uuid() {
        let body = format!(r#"{{"fileTransferId":"{}"}}"#, ID.to_uppercase());
        assert_eq!(parse_initiated(200, body.as_bytes()).unwrap(), ID);
        assert!(parse_initiated(200, b"{}").unwrap_err().is_transient());
        assert!(parse_initiated(200, br#"{"fileTransferId":"../x"}"#).is_err());
        assert!(parse_initiated(200, b"not json").is_err());
        let refused = parse_initiated(400, br#"{"title":"Bad sender"}"#).unwrap_err();
        assert_eq!(refused, Failure::Permanent("HTTP 400 Bad Request: Bad sender".into()));
        assert!(parse_initiated(503, b"").unwrap_err().is_transient());
    }

    #[test]
    fn upload_download_and_confirm_address_the_transfer() {
        let u = upload(&ep(), ID);
        assert_eq!(u.method, Method::Post);
        assert_eq!(u.url, format!("http://localhost:9099/broker/api/v1/filetransfer/{ID}/upload"));
        assert_eq!(header(&u, "Content-Type"), Some("application/octet-stream"));
        assert!(u.body.is_empty());
        assert_eq!(parse_uploaded(200, b"{}"), Ok(()));
        assert!(parse_uploaded(413, b"").is_err());

        let d = download(&ep(), ID);
        assert_eq!(d.method, Method::Get);
        assert_eq!(
            d.url,
            format!("http://localhost:9099/broker/api/v1/filetransfer/{ID}/download")
        );
        assert_eq!(d.auth, Some(Credential::Altinn { scopes: vec![READ_SCOPE.into()] }));

        let c = confirm_download(&ep(), ID);
        assert_eq!(c.method, Method::Post);
        assert_eq!(
            c.url,
            format!("http://localhost:9099/broker/api/v1/filetransfer/{ID}/confirmdownload")
        );
        assert!(c.body.is_empty());
        assert_eq!(parse_confirmed(200, b""), Ok(()));
        assert!(parse_confirmed(404, b"").is_err());

        // An id from outside cannot reach another resource.
        assert_eq!(
            details(&ep(), "../../x?y").url,
            "http://localhost:9099/broker/api/v1/filetransfer/..%2F..%2Fx%3Fy"
        );
    }

    #[test]
    fn listing() {
        let r = list_published(&ep());
        assert_eq!(r.method, Method::Get);
        assert_eq!(
            r.url,
            "http://localhost:9099/broker/api/v1/filetransfer?resourceId=eformidling-dpo-meldingsutveksling&status=Published&recipientStatus=Initialized"
        );
        assert_eq!(
            list_download_started(&ep()).url,
            "http://localhost:9099/broker/api/v1/filetransfer?resourceId=eformidling-dpo-meldingsutveksling&status=Published&recipientStatus=DownloadStarted"
        );
        let body = format!(r#"["{ID}","{}"]"#, ID.replace('0', "1"));
        assert_eq!(parse_list(200, body.as_bytes()).unwrap().len(), 2);
        assert_eq!(parse_list(200, b"[]").unwrap(), Vec::<String>::new());
        assert!(parse_list(200, br#"["x"]"#).is_err());
        assert!(parse_list(200, b"{}").is_err());
        assert!(parse_list(401, b"").unwrap_err().is_transient());
    }

    #[test]
    fn details_are_read_leniently() {
        let body = format!(
            r#"{{"fileTransferId":"{ID}","resourceId":"eformidling-dpo-meldingsutveksling",
            "fileName":"sbd.zip","sendersFileTransferReference":"ref","sender":"0192:910077473",
            "recipients":[{{"recipient":"0192:910075918","currentRecipientFileTransferStatusCode":"Initialized"}}],
            "created":"2025-01-02T10:00:00.1234567+00:00","fileTransferSize":1234,
            "fileTransferStatus":"Published","propertyList":{{}},"somethingNew":1}}"#
        );
        let d = parse_details(200, body.as_bytes()).unwrap();
        assert_eq!(
            d,
            FileTransferDetails {
                id: ID.into(),
                senders_reference: Some("ref".into()),
                sender: Some("0192:910077473".into()),
                created: Some("2025-01-02T10:00:00.1234567+00:00".into()),
                file_size: Some(1234),
                status: Some("Published".into()),
            }
        );
        assert!(d.published());
        let minimal = format!(r#"{{"fileTransferId":"{ID}"}}"#);
        assert_eq!(parse_details(200, minimal.as_bytes()).unwrap().senders_reference, None);
        assert!(parse_details(200, minimal.as_bytes()).unwrap().published());
        let done =
            format!(r#"{{"fileTransferId":"{ID}","fileTransferStatus":"AllConfirmedDownloaded"}}"#);
        assert!(!parse_details(200, done.as_bytes()).unwrap().published());
        assert!(parse_details(200, b"{}").is_err());
        // An array is not read as the fields in order.
        assert!(parse_details(200, format!(r#"["{ID}"]"#).as_bytes()).is_err());
        assert!(parse_details(200, br#"{"fileTransferId":"a","fileTransferSize":-1}"#).is_err());
    }

    fn with_reference(r: Option<&str>) -> FileTransferDetails {
        FileTransferDetails {
            id: ID.into(),
            senders_reference: r.map(str::to_owned),
            sender: None,
            created: None,
            file_size: None,
            status: None,
        }
    }

    #[test]
    fn channel_filter() {
        let uuid = with_reference(Some("19efbd4c-413d-4e2c-bbc5-257ef4a65b38"));
        let channel = with_reference(Some("saksbehandling_2"));
        let none = with_reference(None);
        let empty = with_reference(Some(""));
        let long = with_reference(Some("abcdefghijklmnopqrstuvwxyz")); // 26 characters
        let dotted = with_reference(Some("a.b"));
        // No channel of our own: skip what looks like someone else's channel.
        assert!(wanted(&uuid, None));
        assert!(wanted(&none, None));
        assert!(!wanted(&channel, None));
        assert!(!wanted(&empty, None));
        assert!(wanted(&long, None));
        assert!(wanted(&dotted, None));
        assert!(wanted(&uuid, Some("")), "an empty channel is no channel");
        // Our channel: only what is addressed to it.
        assert!(wanted(&channel, Some("saksbehandling_2")));
        assert!(!wanted(&uuid, Some("saksbehandling_2")));
        assert!(!wanted(&none, Some("saksbehandling_2")));
    }

    #[test]
    fn sorted_oldest_first_unreadable_last() {
        let mut list: Vec<FileTransferDetails> = [
            Some("2025-01-02T10:00:00Z"),
            None,
            Some("2025-01-02T11:30:00+02:00"), // 09:30Z: earlier despite sorting later as text
            Some("garbage"),
            Some("2025-01-01T23:00:00.5Z"),
        ]
        .iter()
        .enumerate()
        .map(|(i, c)| FileTransferDetails {
            id: i.to_string(),
            created: c.map(str::to_owned),
            ..with_reference(None)
        })
        .collect();
        sort_by_created(&mut list);
        let order: Vec<&str> = list.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(order, ["4", "2", "0", "1", "3"]);
    }
}
