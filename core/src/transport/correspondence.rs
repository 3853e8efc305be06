//! DPV over Altinn 3 Correspondence, reached through Digdir's Altinn proxy: the
//! upload of a correspondence as a `multipart/form-data` request, the look-up of a
//! correspondence by our own reference after a 409, and the overview whose
//! timestamps tell how far a correspondence has come.
//!
//! The form is the reference's (`CorrespondenceFactory`, `NotificationFactory`,
//! `DotNotationFlattener`): the `InitializeCorrespondencesExt` object flattened to
//! dotted and indexed field names (`correspondence.content.messageTitle`,
//! `recipients[0]`, …) in the order its JSON mapper writes them, nulls left out, then
//! one `attachments` file part per file. The form fields are small and built here;
//! the files are named by [`BodyPart::StoredFile`] and streamed by the runtime.

use bytes::Bytes;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::failure::{Failure, classify};
use super::json_object;
use super::percent::{path_segment, query_value};
use crate::Timestamp;
use crate::ids::MessageId;
use crate::node::{BodyPart, Credential, HttpRequest, Method};
use crate::sbd::{DpvSettings, DpvVarselTransportType, DpvVarselType};
use crate::status::Status;

/// The scope of the Maskinporten token the proxy takes (exchanged at Altinn).
pub const SCOPE: &str = "eformidling:dpv";
/// `difi.move.dpv.correspondenceServiceUrl` in the reference's test environment.
pub const DEFAULT_BASE_URL: &str = "https://test.eformidling.no/altinn-proxy/correspondence/api/v1";
/// `difi.move.dpv.sensitiveResource`: correspondences under it are confidential.
pub const DEFAULT_SENSITIVE_RESOURCE: &str = "eformidling-dpv-taushetsbelagt";
/// `difi.move.dpv.notification-text`.
pub const DEFAULT_NOTIFICATION_TEXT: &str =
    "$correspondenceRecipientName$: Du har mottatt en melding fra $reporterName$.";
/// `difi.move.dpv.sensitive-notification-text`.
pub const DEFAULT_SENSITIVE_NOTIFICATION_TEXT: &str = "$correspondenceRecipientName$, har mottatt en taushetsbelagt melding fra $reporterName$. For å få tilgang til meldingen, er det nødvendig at noen i $correspondenceRecipientName$ har fått tildelt tilgang til tjenesten «eformidling-dpv-taushetsbelagt» i Altinn. Dersom dere er usikre på om noen har slik tilgang, anbefaler vi sterkt at dette sjekkes. Les mer om å gi tilgang til tjenester på Altinns nettsider.";
/// `difi.move.dpv.email-subject`.
pub const DEFAULT_EMAIL_SUBJECT: &str = "Melding mottatt i Altinn";
/// `difi.move.dpv.daysToReply`.
pub const DEFAULT_DAYS_TO_REPLY: u32 = 7;
/// Every attachment's `sendersReference`: the reference writes this constant.
pub const ATTACHMENT_REFERENCE: &str = "AttachmentReference_as123452";
/// The placeholder the notification texts name the sender with.
const REPORTER_NAME: &str = "$reporterName$";
/// What a correspondence says when a `digital_dpv` message has no `innhold`.
const NO_CONTENT: &str = "Ingen innhold";
/// The status text recorded when the correspondence is gone (404/410).
pub const DELETED_DESCRIPTION: &str = "Melding slettet i Altinn, stopper polling.";

/// Where the Correspondence API (or the proxy in front of it) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrespondenceEndpoint {
    /// E.g. [`DEFAULT_BASE_URL`]; a trailing `/` is ignored.
    pub base_url: String,
}

impl CorrespondenceEndpoint {
    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url.trim_end_matches('/'), path)
    }
}

/// The integration point's `difi.move.dpv.*` settings that shape a correspondence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormSettings {
    pub notify_email: bool,
    pub notify_sms: bool,
    /// Days to the due date when the message does not say (`daysToReply`).
    pub days_to_reply: u32,
    /// Without a `dagerTilSvarfrist`, set a due date at all (`enableDueDate`).
    pub enable_due_date: bool,
    pub sensitive_resource: String,
    pub notification_text: String,
    pub sensitive_notification_text: String,
    pub email_subject: String,
}

impl Default for FormSettings {
    fn default() -> Self {
        FormSettings {
            notify_email: true,
            notify_sms: true,
            days_to_reply: DEFAULT_DAYS_TO_REPLY,
            enable_due_date: true,
            sensitive_resource: DEFAULT_SENSITIVE_RESOURCE.to_owned(),
            notification_text: DEFAULT_NOTIFICATION_TEXT.to_owned(),
            sensitive_notification_text: DEFAULT_SENSITIVE_NOTIFICATION_TEXT.to_owned(),
            email_subject: DEFAULT_EMAIL_SUBJECT.to_owned(),
        }
    }
}

/// The texts a correspondence shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub body: Option<String>,
}

impl Content {
    /// From an arkivmelding's journal post: the public title (else the title) as
    /// title and summary, the title as body.
    pub fn from_journal_post(title: Option<String>, public_title: Option<String>) -> Self {
        let shown = public_title.or_else(|| title.clone());
        Content { title: shown.clone(), summary: shown, body: title }
    }

    /// From a `digital_dpv` business message; a blank `innhold` becomes a fixed text,
    /// as the Correspondence API requires a body.
    pub fn from_digital_dpv(
        tittel: Option<String>,
        sammendrag: Option<String>,
        innhold: Option<String>,
    ) -> Self {
        let body = innhold.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| NO_CONTENT.into());
        Content { title: tittel, summary: sammendrag, body: Some(body) }
    }
}

/// One file of the correspondence: a stored file of the outgoing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub file_name: String,
    /// The file's title, shown as its name (`displayName`).
    pub display_name: Option<String>,
    pub content_type: String,
}

/// What one correspondence says, as the node knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCorrespondence<'a> {
    /// `service.resource` of the receiver's service record.
    pub resource_id: &'a str,
    /// The SBD's sender, `0192:<orgnr>`.
    pub sender: &'a str,
    /// The on-behalf-of organisation if any, else the sender's (`propertyList`).
    pub sender_org_number: &'a str,
    /// The sender's name from the registry (`messageSender`, `$reporterName$`).
    pub sender_name: &'a str,
    /// The receiver's organisation number (9 digits) or person number (11).
    pub receiver: &'a str,
    pub message_id: MessageId,
    pub now: Timestamp,
    pub content: &'a Content,
    /// The business message's `dpv` settings.
    pub dpv: Option<&'a DpvSettings>,
    /// A `digital_dpv` message under the digitalpost info process.
    pub ignore_reservation: bool,
    pub attachments: &'a [Attachment],
}

/// The Altinn recipient URN: persons by their 11-digit number, others as
/// organisations.
pub fn recipient_urn(receiver: &str) -> String {
    if receiver.len() == 11 {
        format!("urn:altinn:person:identifier-no:{receiver}")
    } else {
        format!("urn:altinn:organization:identifier-no:{receiver}")
    }
}

/// The flattened form fields, in the order the reference writes them.
pub fn form_fields(c: &NewCorrespondence, s: &FormSettings) -> Vec<(String, String)> {
    let mut f = Fields(Vec::new());
    let confidential = c.resource_id == s.sensitive_resource;
    // Written in the sender's local time, as the reference's clock does; later
    // times keep that offset (an OffsetDateTime plus days), across a DST change too.
    let now = crate::sbd::DateTime::oslo(c.now).inner();
    let at = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();

    let p = "correspondence.";
    f.put(&format!("{p}resourceId"), c.resource_id);
    f.put(&format!("{p}sender"), c.sender);
    f.put(&format!("{p}sendersReference"), &c.message_id.to_string());
    f.put(&format!("{p}messageSender"), c.sender_name);
    let content = "correspondence.content.";
    f.put(&format!("{content}language"), "nb");
    f.opt(&format!("{content}messageTitle"), c.content.title.as_deref());
    f.opt(&format!("{content}messageSummary"), c.content.summary.as_deref());
    f.opt(&format!("{content}messageBody"), c.content.body.as_deref());
    for (i, a) in c.attachments.iter().enumerate() {
        let a_ = format!("{content}attachments[{i}].");
        f.put(&format!("{a_}fileName"), &a.file_name);
        f.opt(&format!("{a_}displayName"), a.display_name.as_deref());
        f.put(&format!("{a_}isEncrypted"), "false");
        f.put(&format!("{a_}sendersReference"), ATTACHMENT_REFERENCE);
    }
    f.put(&format!("{p}requestedPublishTime"), &at(now));
    if let Some(days) = due_days(c.dpv, s) {
        f.put(&format!("{p}dueDateTime"), &at(now + time::Duration::days(i64::from(days))));
    }
    f.put(&format!("{p}propertyList.senderOrgNumber"), c.sender_org_number);

    let n = "correspondence.notification.";
    let channel = channel(c.dpv, s);
    let text = notification_text(c.dpv, s, confidential).replace(REPORTER_NAME, c.sender_name);
    let reminder = c.dpv.and_then(|d| d.varsel_type) != Some(DpvVarselType::UtenRevarsel);
    f.put(&format!("{n}notificationTemplate"), "CustomMessage");
    f.put(&format!("{n}emailSubject"), &s.email_subject);
    f.put(&format!("{n}emailBody"), &text);
    f.put(&format!("{n}emailContentType"), "Plain");
    f.put(&format!("{n}smsBody"), &text);
    f.put(&format!("{n}sendReminder"), if reminder { "true" } else { "false" });
    if reminder {
        f.put(&format!("{n}reminderEmailSubject"), &s.email_subject);
        f.put(&format!("{n}reminderEmailBody"), &text);
        f.put(&format!("{n}reminderEmailContentType"), "Plain");
        f.put(&format!("{n}reminderSmsBody"), &text);
    }
    f.put(&format!("{n}notificationChannel"), channel);
    if reminder {
        f.put(&format!("{n}reminderNotificationChannel"), channel);
    }
    f.put(&format!("{n}requestedSendTime"), &at(now + time::Duration::minutes(5)));

    f.put(&format!("{p}ignoreReservation"), bool_text(c.ignore_reservation));
    f.put(&format!("{p}isConfirmationNeeded"), "false");
    f.put(&format!("{p}isConfidential"), bool_text(confidential));
    f.put("recipients[0]", &recipient_urn(c.receiver));
    f.put("idempotentKey", &c.message_id.to_string());
    f.0
}

struct Fields(Vec<(String, String)>);

impl Fields {
    fn put(&mut self, name: &str, value: &str) {
        self.0.push((name.to_owned(), value.to_owned()));
    }

    /// Absent values are left out, as the reference leaves out nulls.
    fn opt(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.put(name, v);
        }
    }
}

fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// The due date's distance in days: the message's `dagerTilSvarfrist` when given (no
/// due date unless positive), else `daysToReply` when due dates are enabled.
fn due_days(dpv: Option<&DpvSettings>, s: &FormSettings) -> Option<u32> {
    match dpv.and_then(|d| d.dager_til_svarfrist) {
        Some(days) => u32::try_from(days).ok().filter(|d| *d > 0),
        None => s.enable_due_date.then_some(s.days_to_reply),
    }
}

fn channel(dpv: Option<&DpvSettings>, s: &FormSettings) -> &'static str {
    match dpv.and_then(|d| d.varsel_transport_type) {
        Some(DpvVarselTransportType::Epost) => "Email",
        Some(DpvVarselTransportType::Sms) => "Sms",
        Some(DpvVarselTransportType::EpostOgSms) => "EmailAndSms",
        None => match (s.notify_email, s.notify_sms) {
            (false, true) => "Sms",
            (true, false) => "Email",
            _ => "EmailAndSms",
        },
    }
}

fn notification_text<'a>(
    dpv: Option<&'a DpvSettings>,
    s: &'a FormSettings,
    confidential: bool,
) -> &'a str {
    let own = dpv.and_then(|d| {
        if confidential {
            d.taushetsbelagt_varsel_tekst.as_deref()
        } else {
            d.varsel_tekst.as_deref()
        }
    });
    match own.filter(|t| !t.is_empty()) {
        Some(t) => t,
        None if confidential => &s.sensitive_notification_text,
        None => &s.notification_text,
    }
}

/// A request to the proxy, with the Altinn token for [`SCOPE`] the runtime adds (its
/// grant names no systemuser: the proxy serves the organisation itself).
fn request(method: Method, url: String) -> HttpRequest {
    let mut r = HttpRequest::new(method, url);
    r.headers.push(("Accept".to_owned(), "application/json".to_owned()));
    r.auth = Some(Credential::AltinnProxy { scopes: vec![SCOPE.to_owned()] });
    r
}

/// `POST {base}/correspondence/upload`: `fields`, then one `attachments` part per
/// file, each streamed by the runtime from the message's stored file of that name.
/// `boundary` must not occur in the content: a random UUID is never in it by chance.
pub fn upload(
    ep: &CorrespondenceEndpoint,
    fields: &[(String, String)],
    message_id: MessageId,
    attachments: &[Attachment],
    boundary: &str,
) -> HttpRequest {
    let mut r = request(Method::Post, ep.url("correspondence/upload"));
    r.headers
        .push(("Content-Type".to_owned(), format!("multipart/form-data; boundary={boundary}")));
    let mut text = String::new();
    for (name, value) in fields {
        text.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\
             Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{value}\r\n",
            quoted(name),
            value.len()
        ));
    }
    for a in attachments {
        text.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"attachments\"; \
             filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
            quoted(&a.file_name),
            a.content_type.replace(['\r', '\n'], "")
        ));
        r.body_parts.push(BodyPart::Bytes(Bytes::from(std::mem::take(&mut text))));
        r.body_parts.push(BodyPart::StoredFile { message_id, filename: a.file_name.clone() });
        text.push_str("\r\n");
    }
    text.push_str(&format!("--{boundary}--\r\n"));
    r.body_parts.push(BodyPart::Bytes(Bytes::from(text)));
    r
}

/// A name or file name inside a quoted `Content-Disposition` parameter, escaped as
/// browsers do (HTML's form encoding): `"` and line breaks percent-encoded.
fn quoted(s: &str) -> String {
    s.replace('"', "%22").replace('\r', "%0D").replace('\n', "%0A")
}

/// What an upload came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uploaded {
    /// The new correspondence's id.
    Created(String),
    /// 409: a correspondence with our `idempotentKey` exists (an earlier attempt
    /// whose answer was lost). Sent, then; its id is found by [`find`].
    AlreadySent,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadAnswer {
    #[serde(default)]
    correspondences: Option<Vec<CreatedCorrespondence>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedCorrespondence {
    #[serde(default)]
    correspondence_id: Option<String>,
}

/// `correspondences[0].correspondenceId`; 409 is [`Uploaded::AlreadySent`].
pub fn parse_uploaded(status: u16, body: &[u8]) -> Result<Uploaded, Failure> {
    if status == 409 {
        return Ok(Uploaded::AlreadySent);
    }
    ok_status(status, body)?;
    let answer: UploadAnswer =
        json_object(body).map_err(|e| Failure::bad_answer("correspondence upload", e))?;
    let id = answer
        .correspondences
        .and_then(|c| c.into_iter().next())
        .and_then(|c| c.correspondence_id)
        .ok_or_else(|| Failure::bad_answer("correspondence upload", "no correspondenceId"))?;
    uuid_text(&id).map(Uploaded::Created).ok_or_else(|| {
        Failure::bad_answer("correspondence upload", "correspondenceId is not a UUID")
    })
}

/// `GET {base}/correspondence?sendersReference=<messageId>`.
pub fn find(ep: &CorrespondenceEndpoint, message_id: MessageId) -> HttpRequest {
    let url = ep
        .url(&format!("correspondence?sendersReference={}", query_value(&message_id.to_string())));
    request(Method::Get, url)
}

#[derive(Deserialize)]
struct Found {
    #[serde(default)]
    ids: Option<Vec<String>>,
}

/// The first id found, if any.
pub fn parse_found(status: u16, body: &[u8]) -> Result<Option<String>, Failure> {
    ok_status(status, body)?;
    let found: Found =
        json_object(body).map_err(|e| Failure::bad_answer("correspondence search", e))?;
    match found.ids.and_then(|ids| ids.into_iter().next()) {
        None => Ok(None),
        Some(id) => uuid_text(&id)
            .map(Some)
            .ok_or_else(|| Failure::bad_answer("correspondence search", "the id is not a UUID")),
    }
}

/// `GET {base}/correspondence/{id}`: the overview (cheap, unlike `/details`).
pub fn overview(ep: &CorrespondenceEndpoint, correspondence_id: &str) -> HttpRequest {
    request(Method::Get, ep.url(&format!("correspondence/{}", path_segment(correspondence_id))))
}

/// What the overview says for the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// New statuses with their description and time, in order.
    pub statuses: Vec<(Status, Option<String>, Timestamp)>,
    /// Poll again: false once the correspondence is purged or gone.
    pub keep: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Overview {
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    read: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    status_changed: Option<String>,
}

/// The reference's reading: `published` is LEVERT, `read` is LEST, a purge is ANNET
/// and ends the polling; the other states (Initialized, ReadyForPublish, Fetched, …)
/// say nothing. 404 and 410: the correspondence was deleted; ANNET, polling ends.
/// A timestamp that does not parse counts at `now`.
pub fn parse_overview(status: u16, body: &[u8], now: Timestamp) -> Result<Progress, Failure> {
    if status == 404 || status == 410 {
        return Ok(Progress {
            statuses: vec![(Status::Annet, Some(DELETED_DESCRIPTION.to_owned()), now)],
            keep: false,
        });
    }
    ok_status(status, body)?;
    let o: Overview =
        json_object(body).map_err(|e| Failure::bad_answer("correspondence overview", e))?;
    let at = |t: &Option<String>| t.as_deref().and_then(parse_time).unwrap_or(now);
    let mut statuses = Vec::new();
    if o.published.is_some() {
        statuses.push((Status::Levert, None, at(&o.published)));
    }
    if o.read.is_some() {
        statuses.push((Status::Lest, None, at(&o.read)));
    }
    let purged = matches!(o.status.as_deref(), Some("PurgedByRecipient" | "PurgedByAltinn"));
    if purged {
        statuses.push((Status::Annet, o.status.clone(), at(&o.status_changed)));
    }
    Ok(Progress { statuses, keep: !purged })
}

/// Altinn writes up to seven fraction digits and sometimes no offset (then UTC).
fn parse_time(s: &str) -> Option<Timestamp> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(Timestamp::from_datetime(t));
    }
    OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339).ok().map(Timestamp::from_datetime)
}

fn ok_status(status: u16, body: &[u8]) -> Result<(), Failure> {
    if (200..300).contains(&status) { Ok(()) } else { Err(classify(status, body)) }
}

fn uuid_text(s: &str) -> Option<String> {
    uuid::Uuid::try_parse(s).ok().map(|u| u.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const ID: &str = "0198408f-979c-75e0-b23e-aef6e907015f";

    fn ep() -> CorrespondenceEndpoint {
        CorrespondenceEndpoint { base_url: "http://localhost:9099/correspondence/api/v1/".into() }
    }

    fn at(s: &str) -> Timestamp {
        Timestamp::from_datetime(OffsetDateTime::parse(s, &Rfc3339).unwrap())
    }

    fn test_txt() -> Vec<Attachment> {
        vec![Attachment {
            file_name: "test.txt".into(),
            display_name: Some("Test".into()),
            content_type: "text/plain".into(),
        }]
    }

    fn correspondence<'a>(
        content: &'a Content,
        attachments: &'a [Attachment],
        receiver: &'a str,
    ) -> NewCorrespondence<'a> {
        NewCorrespondence {
            resource_id: "eformidling-dpv-administrasjon",
            sender: "0192:910077473",
            sender_org_number: "910077473",
            sender_name: "TEST - C4",
            receiver,
            message_id: "abc8849c-e281-4809-8555-7cd54952b926".parse().unwrap(),
            now: at("2019-03-25T11:38:23Z"),
            content,
            dpv: None,
            ignore_reservation: false,
            attachments,
        }
    }

    fn as_map(fields: &[(String, String)]) -> BTreeMap<&str, &str> {
        let map: BTreeMap<&str, &str> =
            fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(map.len(), fields.len(), "no field twice");
        map
    }

    /// The form nextmove_send_dpv.feature pins, for its arkivmelding.
    #[test]
    fn the_arkivmelding_form_is_the_features() {
        let content =
            Content::from_journal_post(Some("Nye lysrør".into()), Some("Nye lysrør".into()));
        let files = test_txt();
        let c = correspondence(&content, &files, "910075946");
        let fields = form_fields(&c, &FormSettings::default());
        let text = "$correspondenceRecipientName$: Du har mottatt en melding fra TEST - C4.";
        let expected: BTreeMap<&str, &str> = [
            ("correspondence.content.messageTitle", "Nye lysrør"),
            ("correspondence.notification.notificationChannel", "EmailAndSms"),
            ("correspondence.notification.reminderSmsBody", text),
            ("correspondence.sendersReference", "abc8849c-e281-4809-8555-7cd54952b926"),
            ("correspondence.notification.reminderEmailContentType", "Plain"),
            ("correspondence.notification.smsBody", text),
            ("correspondence.notification.reminderEmailBody", text),
            ("correspondence.sender", "0192:910077473"),
            ("correspondence.requestedPublishTime", "2019-03-25T12:38:23+01:00"),
            ("correspondence.notification.requestedSendTime", "2019-03-25T12:43:23+01:00"),
            ("correspondence.isConfirmationNeeded", "false"),
            ("correspondence.content.language", "nb"),
            ("correspondence.notification.emailContentType", "Plain"),
            ("correspondence.messageSender", "TEST - C4"),
            ("correspondence.notification.emailBody", text),
            ("correspondence.notification.reminderNotificationChannel", "EmailAndSms"),
            // Seven days on, in the same offset though Oslo is on summer time then.
            ("correspondence.dueDateTime", "2019-04-01T12:38:23+01:00"),
            ("correspondence.content.attachments[0].sendersReference", ATTACHMENT_REFERENCE),
            ("correspondence.notification.sendReminder", "true"),
            ("recipients[0]", "urn:altinn:organization:identifier-no:910075946"),
            ("correspondence.content.attachments[0].isEncrypted", "false"),
            ("correspondence.isConfidential", "false"),
            ("correspondence.content.messageSummary", "Nye lysrør"),
            ("correspondence.content.attachments[0].fileName", "test.txt"),
            ("correspondence.content.messageBody", "Nye lysrør"),
            ("correspondence.content.attachments[0].displayName", "Test"),
            ("correspondence.notification.notificationTemplate", "CustomMessage"),
            ("correspondence.notification.emailSubject", "Melding mottatt i Altinn"),
            ("correspondence.notification.reminderEmailSubject", "Melding mottatt i Altinn"),
            ("correspondence.resourceId", "eformidling-dpv-administrasjon"),
            ("correspondence.propertyList.senderOrgNumber", "910077473"),
            ("correspondence.ignoreReservation", "false"),
            ("idempotentKey", "abc8849c-e281-4809-8555-7cd54952b926"),
        ]
        .into_iter()
        .collect();
        assert_eq!(as_map(&fields), expected);
        // The reference's mapper order: the correspondence's fields, then the rest.
        assert_eq!(fields[0].0, "correspondence.resourceId");
        assert_eq!(fields[fields.len() - 2].0, "recipients[0]");
        assert_eq!(fields[fields.len() - 1].0, "idempotentKey");
    }

    #[test]
    fn a_person_gets_a_person_urn_and_digital_dpv_content() {
        let content = Content::from_digital_dpv(Some("foo".into()), Some("bar".into()), None);
        assert_eq!(content.body.as_deref(), Some(NO_CONTENT));
        let content = Content::from_digital_dpv(
            Some("foo".into()),
            Some("bar".into()),
            Some("foobar".into()),
        );
        let mut c = correspondence(&content, &[], "17912099997");
        c.ignore_reservation = true;
        let fields = form_fields(&c, &FormSettings::default());
        let map = as_map(&fields);
        assert_eq!(map["recipients[0]"], "urn:altinn:person:identifier-no:17912099997");
        assert_eq!(map["correspondence.ignoreReservation"], "true");
        assert_eq!(map["correspondence.content.messageTitle"], "foo");
        assert_eq!(map["correspondence.content.messageSummary"], "bar");
        assert_eq!(map["correspondence.content.messageBody"], "foobar");
        assert!(!map.keys().any(|k| k.contains("attachments")), "no files, no attachment meta");
    }

    #[test]
    fn the_business_message_settings_win() {
        let content = Content::from_journal_post(Some("T".into()), None);
        assert_eq!(content.title.as_deref(), Some("T"), "the title when no public title");
        let dpv = DpvSettings {
            varsel_type: Some(DpvVarselType::UtenRevarsel),
            varsel_transport_type: Some(DpvVarselTransportType::Sms),
            varsel_tekst: Some("Hei fra $reporterName$".into()),
            dager_til_svarfrist: Some(0),
            ..Default::default()
        };
        let mut c = correspondence(&content, &[], "910075946");
        c.dpv = Some(&dpv);
        let fields = form_fields(&c, &FormSettings::default());
        let map = as_map(&fields);
        assert_eq!(map["correspondence.notification.notificationChannel"], "Sms");
        assert_eq!(map["correspondence.notification.smsBody"], "Hei fra TEST - C4");
        assert_eq!(map["correspondence.notification.sendReminder"], "false");
        assert!(!map.keys().any(|k| k.contains("reminderEmail")), "no reminder fields");
        assert!(!map.contains_key("correspondence.dueDateTime"), "0 days: no due date");

        // A sensitive resource: confidential, with the sensitive text.
        let mut c = correspondence(&content, &[], "910075946");
        c.resource_id = DEFAULT_SENSITIVE_RESOURCE;
        let s = FormSettings { notify_sms: false, enable_due_date: false, ..Default::default() };
        let fields = form_fields(&c, &s);
        let map = as_map(&fields);
        assert_eq!(map["correspondence.isConfidential"], "true");
        assert!(
            map["correspondence.notification.emailBody"]
                .contains("taushetsbelagt melding fra TEST - C4")
        );
        assert_eq!(map["correspondence.notification.notificationChannel"], "Email");
        assert!(!map.contains_key("correspondence.dueDateTime"), "due dates disabled");
    }

    #[test]
    fn the_upload_is_a_form_around_the_stored_files() {
        let message_id: MessageId = "abc8849c-e281-4809-8555-7cd54952b926".parse().unwrap();
        let fields =
            vec![("a.b".to_owned(), "æ".to_owned()), ("recipients[0]".to_owned(), "x".to_owned())];
        let mut files = test_txt();
        files.push(Attachment {
            file_name: "q\"uote.pdf".into(),
            display_name: None,
            content_type: "application/pdf".into(),
        });
        let r = upload(&ep(), &fields, message_id, &files, "BOUNDARY");
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.url, "http://localhost:9099/correspondence/api/v1/correspondence/upload");
        assert_eq!(r.auth, Some(Credential::AltinnProxy { scopes: vec![SCOPE.into()] }));
        assert_eq!(r.header_value("content-type"), Some("multipart/form-data; boundary=BOUNDARY"));
        // Rendered with stand-in contents, the body parses as the form it should be.
        let mut body = Vec::new();
        let mut stored = Vec::new();
        for p in &r.body_parts {
            match p {
                BodyPart::Bytes(b) => body.extend_from_slice(b),
                BodyPart::StoredFile { message_id: m, filename } => {
                    assert_eq!(*m, message_id);
                    stored.push(filename.clone());
                    body.extend_from_slice(format!("<{filename}>").as_bytes());
                }
            }
        }
        assert_eq!(stored, ["test.txt", "q\"uote.pdf"]);
        let parts = crate::api::multipart::parse(&body, "BOUNDARY").unwrap();
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0].name.as_deref(), Some("a.b"));
        assert_eq!(parts[0].body, "æ".as_bytes());
        assert_eq!(parts[1].name.as_deref(), Some("recipients[0]"));
        assert_eq!(parts[2].name.as_deref(), Some("attachments"));
        assert_eq!(parts[2].filename.as_deref(), Some("test.txt"));
        assert_eq!(parts[2].content_type.as_deref(), Some("text/plain"));
        assert_eq!(parts[2].body, b"<test.txt>");
        assert_eq!(parts[3].filename.as_deref(), Some("q%22uote.pdf"));
        assert_eq!(parts[3].body, b"<q\"uote.pdf>");
    }

    #[test]
    fn upload_answers() {
        let body = format!(
            r#"{{"correspondences":[{{"correspondenceId":"{}","status":"Initialized",
            "recipient":"urn:altinn:organization:identifier-no:314244370","notifications":null}}],
            "attachmentIds":["0198408f-9736-7048-a634-39138f4ccbdd"]}}"#,
            ID.to_uppercase()
        );
        assert_eq!(parse_uploaded(200, body.as_bytes()), Ok(Uploaded::Created(ID.into())));
        assert_eq!(parse_uploaded(409, b"{}"), Ok(Uploaded::AlreadySent));
        assert!(parse_uploaded(200, br#"{"correspondences":[]}"#).unwrap_err().is_transient());
        assert!(parse_uploaded(200, br#"{"correspondences":[{"correspondenceId":"x"}]}"#).is_err());
        assert!(parse_uploaded(200, b"[]").is_err());
        let refused =
            parse_uploaded(400, br#"{"title":"Bad Request","detail":"Resource not found"}"#);
        assert_eq!(
            refused,
            Err(Failure::Permanent("HTTP 400 Bad Request: Bad Request: Resource not found".into()))
        );
        assert!(parse_uploaded(503, b"").unwrap_err().is_transient());
    }

    #[test]
    fn finding_by_reference() {
        let id: MessageId = "abc8849c-e281-4809-8555-7cd54952b926".parse().unwrap();
        let r = find(&ep(), id);
        assert_eq!(r.method, Method::Get);
        assert_eq!(
            r.url,
            "http://localhost:9099/correspondence/api/v1/correspondence?sendersReference=abc8849c-e281-4809-8555-7cd54952b926"
        );
        let body = format!(r#"{{"ids":["{ID}","0198408f-9736-7048-a634-39138f4ccbdd"]}}"#);
        assert_eq!(parse_found(200, body.as_bytes()), Ok(Some(ID.into())));
        assert_eq!(parse_found(200, br#"{"ids":[]}"#), Ok(None));
        assert_eq!(parse_found(200, b"{}"), Ok(None));
        assert!(parse_found(200, br#"{"ids":["nope"]}"#).is_err());
        assert!(parse_found(403, b"").is_err());
    }

    #[test]
    fn overviews_give_levert_lest_and_stop_on_purge_or_deletion() {
        let now = at("2026-01-01T00:00:00Z");
        let r = overview(&ep(), "../x");
        assert_eq!(r.url, "http://localhost:9099/correspondence/api/v1/correspondence/..%2Fx");
        let created = br#"{"created":"2025-01-02T10:00:00.1234567+00:00","status":"Initialized"}"#;
        assert_eq!(
            parse_overview(200, created, now),
            Ok(Progress { statuses: vec![], keep: true })
        );
        let read = br#"{"created":"2025-01-02T10:00:00Z","published":"2025-01-02T10:00:01.5+00:00",
            "read":"2025-01-02T11:00:00","status":"Read","statusChanged":"2025-01-02T11:00:00Z"}"#;
        assert_eq!(
            parse_overview(200, read, now),
            Ok(Progress {
                statuses: vec![
                    (Status::Levert, None, at("2025-01-02T10:00:01.5Z")),
                    (Status::Lest, None, at("2025-01-02T11:00:00Z")),
                ],
                keep: true
            })
        );
        let purged = br#"{"published":"bad","status":"PurgedByAltinn","statusChanged":"2025-02-01T00:00:00Z"}"#;
        assert_eq!(
            parse_overview(200, purged, now),
            Ok(Progress {
                statuses: vec![
                    (Status::Levert, None, now),
                    (Status::Annet, Some("PurgedByAltinn".into()), at("2025-02-01T00:00:00Z")),
                ],
                keep: false
            })
        );
        for gone in [404, 410] {
            let p = parse_overview(gone, b"", now).unwrap();
            assert_eq!(p.statuses, vec![(Status::Annet, Some(DELETED_DESCRIPTION.into()), now)]);
            assert!(!p.keep);
        }
        assert!(parse_overview(500, b"", now).unwrap_err().is_transient());
        assert!(parse_overview(200, b"[1]", now).is_err());
    }
}
