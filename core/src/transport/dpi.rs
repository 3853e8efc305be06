//! DPI, digital post to citizens over the REST "corner 2" API (the reference's
//! dpi-client and post-til-private): the DPI SBD a message becomes, its manifest,
//! the signed forretningsmelding, the multipart `POST /messages/out`, the status
//! and receipt listings and the read acknowledgement.
//!
//! The payload work (ASiC-E with an XAdES signature, CMS to the mailbox provider,
//! the fingerprint over the CMS, the JWS over the SBD with the Maskinporten token in
//! it) is done by the runtime through [`finalize`], [`forretningsmelding`] and the
//! multipart framing here; the node builds the rest.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SecureRandom;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::failure::{Failure, classify};
use super::percent::{path_segment, query_value};
use crate::Timestamp;
use crate::crypto::keys::Identity;
use crate::jose::jws::{CompactJws, JwsError, SignHeader, sign_rs256};
use crate::node::{Credential, HttpRequest, Method};
use crate::package::xml_escape;
use crate::sbd::{BusinessMessage, PostAddress, PostalCategory, PrintColor, ReturnHandling, Sbd};
use crate::status::Status;

/// The Maskinporten scope of the corner 2 API (`difi.move.dpi.oidc.scopes`).
pub const SCOPE: &str = "digitalpostinnbygger:send";
/// `dokumentpakkefingeravtrykk.digestMethod`.
pub const DIGEST_METHOD: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// The reference's default channel (`difi.move.dpi.mpcId`).
pub const DEFAULT_MPC_ID: &str = "no.difi.move.integrasjonspunkt";
/// Receipts asked for per listing (the reference's dpi-client page size, 100).
pub const PAGE_SIZE: u32 = 100;
const AUTHORITY: &str = "iso6523-actorid-upis";
const MANIFEST_NS: &str = "http://begrep.difi.no/sdp/schema_v10";

/// The two outgoing DPI business messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Digital,
    Utskrift,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Digital => "digital",
            Kind::Utskrift => "utskrift",
        }
    }

    pub fn standard(self) -> String {
        format!(
            "urn:fdc:digdir.no:2020:innbyggerpost:xsd::innbyggerpost##urn:fdc:digdir.no:2020:innbyggerpost:schema:{}::1.0",
            self.name()
        )
    }

    pub fn process(self) -> String {
        format!("urn:fdc:digdir.no:2020:profile:egovernment:innbyggerpost:{}:ver1.0", self.name())
    }
}

/// The channel (`kanal`) of an mpcId: dots become underscores.
pub fn channel(mpc_id: &str) -> String {
    mpc_id.replace('.', "_")
}

/// A document of the dokumentpakke as the manifest names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub filename: String,
    pub mime: String,
    pub title: String,
    /// A metadata document (`data`) describing it: file name and type.
    pub metadata: Option<(String, String)>,
}

/// What the DPI message is made of, besides the files' bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Shipment {
    pub kind: Kind,
    /// The DPI SBD, without fingerprint and token yet.
    pub sbd: Value,
    /// `manifest.xml` of the dokumentpakke.
    pub manifest: String,
    /// The files in container order (main document, its metadata, attachments):
    /// their stored names.
    pub files: Vec<String>,
}

/// What the mapping needs beyond the message.
#[derive(Clone, Debug)]
pub struct ShipmentInput<'a> {
    pub sbd: &'a Sbd,
    /// The stored files: name, media type, title, primary.
    pub files: &'a [(String, String, Option<String>, bool)],
    /// The mailbox (or print) provider's organisation number.
    pub provider: &'a str,
    /// The citizen's mailbox address (digital).
    pub postkasseadresse: Option<&'a str>,
    /// Notification addresses from the record (KRR).
    pub email: Option<&'a str>,
    pub mobile: Option<&'a str>,
    /// `difi.move.dpi.language`, for print (the record names none).
    pub default_language: &'a str,
    pub now: Timestamp,
}

/// Why a message cannot go as DPI (permanent).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShipmentError(pub String);

/// The reference's ShipmentFactory and MeldingsformidlerRequestFactory, together.
pub fn shipment(input: &ShipmentInput<'_>) -> Result<Shipment, ShipmentError> {
    let sbd = input.sbd;
    let err = |s: &str| ShipmentError(s.to_owned());
    let sender = sbd.header.sender.as_ref().map(|p| p.value.clone()).ok_or(err("no sender"))?;
    let sender = qualified(&sender);
    let message_id = sbd.message_id().ok_or(err("no messageId"))?;
    let conversation_id = sbd.header.conversation_id().map(|c| c.to_string()).unwrap_or_default();
    let (kind, avsender_id, faktura, language, metadata_files) = match &sbd.message {
        BusinessMessage::Digital(d) => (
            Kind::Digital,
            d.avsender_id.clone(),
            d.faktura_referanse.clone(),
            d.spraak.clone().unwrap_or_else(|| input.default_language.to_owned()),
            d.metadata_filer.clone().unwrap_or_default(),
        ),
        BusinessMessage::Print(p) => (
            Kind::Utskrift,
            p.avsender_id.clone(),
            p.faktura_referanse.clone(),
            input.default_language.to_owned(),
            Map::new(),
        ),
        _ => return Err(err("only digital and print messages go as DPI")),
    };

    // Parcel: the primary document, then the rest that are not metadata files.
    let is_metadata = |name: &str| metadata_files.values().any(|v| v.as_str() == Some(name));
    let doc = |f: &(String, String, Option<String>, bool)| {
        let metadata = metadata_files.get(&f.0).and_then(Value::as_str).and_then(|m| {
            input.files.iter().find(|g| g.0 == m).map(|g| (g.0.clone(), g.1.clone()))
        });
        Document {
            filename: f.0.clone(),
            mime: f.1.clone(),
            title: f.2.clone().filter(|t| !t.trim().is_empty()).unwrap_or("Missing title".into()),
            metadata,
        }
    };
    let main = input
        .files
        .iter()
        .find(|f| f.3)
        .map(doc)
        .ok_or(err("No primary documents found, aborting send"))?;
    for (file, meta) in &metadata_files {
        if let Some(m) = meta.as_str()
            && input.files.iter().any(|f| &f.0 == file)
            && !input.files.iter().any(|f| f.0 == m)
        {
            return Err(ShipmentError(format!(
                "Metadata document {m} specified for {file}, but is not attached"
            )));
        }
    }
    let attachments: Vec<Document> =
        input.files.iter().filter(|f| !f.3 && !is_metadata(&f.0)).map(doc).collect();
    let mut files = vec![main.filename.clone()];
    files.extend(main.metadata.iter().map(|m| m.0.clone()));
    for a in &attachments {
        files.push(a.filename.clone());
        files.extend(a.metadata.iter().map(|m| m.0.clone()));
    }

    let mut avsender = Map::new();
    avsender.insert(
        "virksomhetsidentifikator".into(),
        json!({ "authority": AUTHORITY, "value": sender }),
    );
    if let Some(a) = &avsender_id {
        avsender.insert("avsenderidentifikator".into(), a.clone().into());
    }
    if let Some(f) = &faktura {
        avsender.insert("fakturaReferanse".into(), f.clone().into());
    }

    let body = match &sbd.message {
        BusinessMessage::Digital(d) => {
            let info = d.digital_post_info.clone().unwrap_or_default();
            let virkning = match info.virkningsdato.as_deref() {
                Some(date) => {
                    let fmt = time::macros::format_description!("[year]-[month]-[day]");
                    let date = time::Date::parse(date, &fmt).map_err(|_| {
                        ShipmentError(format!("virkningsdato {date:?} is not a date"))
                    })?;
                    crate::sbd::oslo_midnight(date)
                }
                None => input.now,
            };
            let mut varsler = Map::new();
            let texts = d.varsler.clone().unwrap_or_default();
            if let (Some(addr), Some(t)) =
                (nonempty(input.email), nonempty(texts.epost_tekst.as_deref()))
            {
                varsler.insert(
                    "epostvarsel".into(),
                    json!({"epostadresse": addr, "varslingstekst": t, "repetisjoner": [0, 7]}),
                );
            }
            if let (Some(nr), Some(t)) =
                (nonempty(input.mobile), nonempty(texts.sms_tekst.as_deref()))
            {
                varsler.insert(
                    "smsvarsel".into(),
                    json!({"mobiltelefonnummer": nr, "varslingstekst": t, "repetisjoner": [0, 7]}),
                );
            }
            let mut m = Map::new();
            m.insert("avsender".into(), Value::Object(avsender));
            m.insert(
                "mottaker".into(),
                json!({ "postkasseadresse": input.postkasseadresse.unwrap_or_default() }),
            );
            m.insert("sikkerhetsnivaa".into(), d.sikkerhetsnivaa.into());
            m.insert("virkningstidspunkt".into(), utc(virkning).into());
            m.insert("aapningskvittering".into(), info.aapningskvittering.unwrap_or(false).into());
            if let Some(t) = &d.tittel {
                m.insert("ikkesensitivtittel".into(), t.clone().into());
            }
            m.insert("spraak".into(), language.clone().into());
            m.insert("varsler".into(), Value::Object(varsler));
            m
        }
        BusinessMessage::Print(p) => {
            let empty = PostAddress::default();
            let retur = p.retur.clone().unwrap_or_default();
            let mut m = Map::new();
            m.insert("avsender".into(), Value::Object(avsender));
            m.insert("mottaker".into(), address(p.mottaker.as_ref().unwrap_or(&empty)));
            m.insert(
                "utskriftstype".into(),
                match p.utskriftsfarge {
                    Some(PrintColor::Farge) => "FARGE",
                    _ => "SORT_HVIT",
                }
                .into(),
            );
            m.insert(
                "retur".into(),
                json!({
                    "mottaker": address(retur.mottaker.as_ref().unwrap_or(&empty)),
                    "returposthaandtering": match retur.returhaandtering {
                        Some(ReturnHandling::MakuleringMedMelding) => "MAKULERING_MED_MELDING",
                        _ => "DIREKTE_RETUR",
                    },
                }),
            );
            m.insert(
                "posttype".into(),
                match p.posttype {
                    Some(PostalCategory::APrioritert) => "A",
                    _ => "B",
                }
                .into(),
            );
            m
        }
        _ => return Err(err("only digital and print messages go as DPI")),
    };

    let mut scope = json!({
        "type": "ConversationId",
        "instanceIdentifier": conversation_id,
        "identifier": kind.process(),
    });
    if let Some(e) = sbd.header.expected_response() {
        scope["scopeInformation"] = json!([{ "expectedResponseDateTime": utc(e.timestamp()) }]);
    }
    let header = json!({
        "headerVersion": "1.0",
        "sender": [{ "identifier": { "value": sender, "authority": AUTHORITY } }],
        "receiver": [{ "identifier": { "value": qualified(input.provider), "authority": AUTHORITY } }],
        "documentIdentification": {
            "standard": kind.standard(),
            "typeVersion": "1.0",
            "instanceIdentifier": message_id.to_string(),
            "type": kind.name(),
            "creationDateAndTime": utc(input.now),
        },
        "businessScope": { "scope": [scope] },
    });
    let mut doc = Map::new();
    doc.insert("standardBusinessDocumentHeader".into(), header);
    doc.insert(kind.name().into(), Value::Object(body));

    let manifest = manifest_xml(
        kind,
        input.postkasseadresse,
        &sender,
        avsender_id.as_deref(),
        faktura.as_deref(),
        &main,
        &attachments,
        &language,
    );
    Ok(Shipment { kind, sbd: Value::Object(doc), manifest, files })
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// `0192:<orgnr>` for a bare organisation number.
fn qualified(org: &str) -> String {
    if org.contains(':') { org.to_owned() } else { format!("0192:{org}") }
}

/// UTC, whole seconds, as the reference's mapper writes instants in the features.
pub fn utc(t: Timestamp) -> String {
    let d = t.to_datetime();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

/// A print address as the reference maps it: a Norwegian one keeps postnummer and
/// poststed; a foreign one gets them folded into the first free address line and
/// names its country.
fn address(a: &PostAddress) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(k.into(), v.clone().into());
        }
    };
    put("navn", &a.navn);
    put("adresselinje1", &a.adresselinje1);
    let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    let norway = !has(&a.land)
        || a.land
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case("norway") || l.eq_ignore_ascii_case("norge"));
    if norway {
        put("adresselinje2", &a.adresselinje2);
        put("adresselinje3", &a.adresselinje3);
        put("adresselinje4", &a.adresselinje4);
        put("postnummer", &a.postnummer);
        put("poststed", &a.poststed);
        return Value::Object(m);
    }
    let postal = match (has(&a.postnummer), has(&a.poststed)) {
        (true, true) => Some(format!(
            "{} {}",
            a.postnummer.as_deref().unwrap_or_default(),
            a.poststed.as_deref().unwrap_or_default()
        )),
        (true, false) => a.postnummer.clone(),
        (false, true) => a.poststed.clone(),
        (false, false) => None,
    };
    let (mut l2, mut l3, mut l4) =
        (a.adresselinje2.clone(), a.adresselinje3.clone(), a.adresselinje4.clone());
    if let Some(postal) = postal {
        if !has(&l2) {
            l2 = Some(postal);
        } else if !has(&l3) {
            l3 = Some(postal);
        } else if has(&l4) {
            l4 = Some(format!("{} {postal}", l4.unwrap_or_default()));
        } else {
            l4 = Some(postal);
        }
    }
    put("adresselinje2", &l2);
    put("adresselinje3", &l3);
    put("adresselinje4", &l4);
    put("land", &a.land);
    Value::Object(m)
}

/// The SDP `manifest.xml`, as the reference's SDPBuilder fills it and the features
/// show it (four-space indentation).
#[allow(clippy::too_many_arguments)]
fn manifest_xml(
    kind: Kind,
    postkasseadresse: Option<&str>,
    sender: &str,
    avsender_id: Option<&str>,
    faktura: Option<&str>,
    main: &Document,
    attachments: &[Document],
    language: &str,
) -> String {
    let mut x = String::with_capacity(1024);
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!("<manifest xmlns=\"{MANIFEST_NS}\">\n"));
    if kind == Kind::Digital {
        x.push_str("    <mottaker>\n        <person>\n            <postkasseadresse>");
        xml_escape(postkasseadresse.unwrap_or_default(), &mut x);
        x.push_str("</postkasseadresse>\n        </person>\n    </mottaker>\n");
    }
    x.push_str("    <avsender>\n        <organisasjon authority=\"");
    x.push_str(AUTHORITY);
    x.push_str("\">");
    xml_escape(sender, &mut x);
    x.push_str("</organisasjon>\n");
    for (tag, v) in [("avsenderidentifikator", avsender_id), ("fakturaReferanse", faktura)] {
        if let Some(v) = v {
            x.push_str(&format!("        <{tag}>"));
            xml_escape(v, &mut x);
            x.push_str(&format!("</{tag}>\n"));
        }
    }
    x.push_str("    </avsender>\n");
    let mut document = |tag: &str, d: &Document| {
        x.push_str(&format!("    <{tag} href=\""));
        xml_escape(&d.filename, &mut x);
        x.push_str("\" mime=\"");
        xml_escape(&d.mime, &mut x);
        x.push_str("\">\n        <tittel lang=\"");
        xml_escape(language, &mut x);
        x.push_str("\">");
        xml_escape(&d.title, &mut x);
        x.push_str("</tittel>\n");
        if let Some((href, mime)) = &d.metadata {
            x.push_str("        <data href=\"");
            xml_escape(href, &mut x);
            x.push_str("\" mime=\"");
            xml_escape(mime, &mut x);
            x.push_str("\"/>\n");
        }
        x.push_str(&format!("    </{tag}>\n"));
    };
    document("hoveddokument", main);
    for a in attachments {
        document("vedlegg", a);
    }
    x.push_str("</manifest>\n");
    x
}

/// Puts the fingerprint of the CMS and the Maskinporten token into the DPI SBD.
pub fn finalize(sbd: &mut Value, cms_sha256: &[u8], token: &str) {
    for kind in [Kind::Digital, Kind::Utskrift] {
        if let Some(Value::Object(m)) = sbd.get_mut(kind.name()) {
            m.insert(
                "dokumentpakkefingeravtrykk".into(),
                json!({ "digestMethod": DIGEST_METHOD, "digestValue": STANDARD.encode(cms_sha256) }),
            );
            m.insert("maskinportentoken".into(), token.into());
        }
    }
}

/// The forretningsmelding: the SBD as a compact JWS, RS256, `x5c` our certificate.
pub fn forretningsmelding(
    sbd: &Value,
    me: &Identity,
    rng: &dyn SecureRandom,
) -> Result<String, JwsError> {
    let cert = me.certificate().map(|c| c.der().to_vec()).into_iter().collect();
    let header = SignHeader { kid: None, x5c: cert };
    sign_rs256(&header, sbd.to_string().as_bytes(), &me.key, rng)
}

/// The multipart body up to the CMS's bytes.
pub fn multipart_head(boundary: &str, jwt: &str) -> String {
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"forretningsmelding\"; filename=\"sbd.jwt\"\r\nContent-Type: application/jwt\r\n\r\n{jwt}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"dokumentpakke\"; filename=\"asic.cms\"\r\nContent-Type: application/cms\r\n\r\n"
    )
}

/// The multipart body after the CMS's bytes.
pub fn multipart_tail(boundary: &str) -> String {
    format!("\r\n--{boundary}--\r\n")
}

fn bearer() -> Option<Credential> {
    Some(Credential::Maskinporten { scopes: vec![SCOPE.to_owned()] })
}

fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// `POST {base}/messages/out[?kanal=]` with the staged multipart body `body_file`.
pub fn send(base_url: &str, kanal: Option<&str>, boundary: &str, body_file: String) -> HttpRequest {
    let mut url = format!("{}/messages/out", base(base_url));
    if let Some(k) = kanal {
        url.push_str(&format!("?kanal={}", query_value(k)));
    }
    let mut req = HttpRequest::new(Method::Post, url)
        .header("Content-Type", format!("multipart/form-data; boundary={boundary}"));
    req.body_file = Some(body_file);
    req.auth = bearer();
    req
}

/// The answer to a send: any 2xx is taken; 4xx is the message's fault (the
/// reference blames the client), 5xx the server's.
pub fn parse_sent(status: u16, body: &[u8]) -> Result<(), Failure> {
    if (200..300).contains(&status) { Ok(()) } else { Err(classify(status, body)) }
}

/// `GET {base}/messages/out/{messageId}/statuses`.
pub fn statuses(base_url: &str, message_id: &str) -> HttpRequest {
    let mut req = HttpRequest::new(
        Method::Get,
        format!("{}/messages/out/{}/statuses", base(base_url), path_segment(message_id)),
    )
    .header("Accept", "application/json");
    req.auth = bearer();
    req
}

#[derive(Deserialize)]
struct WireStatus {
    status: String,
    #[serde(default)]
    timestamp: Option<String>,
}

/// The statuses corner 2 reports, mapped as the reference's MessageStatusMapper
/// does: (status, description, when, if given). Unknown ones are left out (the
/// reference maps them to ANNET, which its status filter drops).
pub fn parse_statuses(
    status: u16,
    body: &[u8],
) -> Result<Vec<(Status, String, Option<Timestamp>)>, Failure> {
    if !(200..300).contains(&status) {
        return Err(classify(status, body));
    }
    let list: Vec<WireStatus> =
        serde_json::from_slice(body).map_err(|e| Failure::bad_answer("the DPI statuses", e))?;
    Ok(list
        .into_iter()
        .filter_map(|s| {
            let at = s.timestamp.as_deref().and_then(|t| crate::sbd::DateTime::parse(t).ok());
            let (st, text) = match s.status.as_str() {
                "OPPRETTET" => (Status::Sendt, "Hjørne 2 har mottatt meldingen"),
                "SENDT" => (Status::Mottatt, "Hjørne 3 har mottatt meldingen"),
                "FEILET" => (Status::Feil, "Generell melding om at det har skjedd en feil"),
                _ => return None,
            };
            Some((st, text.to_owned(), at.map(|d| d.timestamp())))
        })
        .collect())
}

/// `GET {base}/messages/in?kanal=&page_size=`.
pub fn messages_in(base_url: &str, kanal: Option<&str>, page_size: u32) -> HttpRequest {
    let mut url = format!("{}/messages/in?", base(base_url));
    if let Some(k) = kanal {
        url.push_str(&format!("kanal={}&", query_value(k)));
    }
    url.push_str(&format!("page_size={page_size}"));
    let mut req = HttpRequest::new(Method::Get, url).header("Accept", "application/json");
    req.auth = bearer();
    req
}

#[derive(Deserialize)]
struct WireMessage {
    forretningsmelding: String,
}

/// The forretningsmeldinger (JWTs) of a listing.
pub fn parse_messages_in(status: u16, body: &[u8]) -> Result<Vec<String>, Failure> {
    if !(200..300).contains(&status) {
        return Err(classify(status, body));
    }
    let list: Vec<WireMessage> =
        serde_json::from_slice(body).map_err(|e| Failure::bad_answer("the DPI listing", e))?;
    Ok(list.into_iter().map(|m| m.forretningsmelding).collect())
}

/// `POST {base}/messages/in/{messageId}/read`.
pub fn mark_read(base_url: &str, message_id: &str) -> HttpRequest {
    let mut req = HttpRequest::new(
        Method::Post,
        format!("{}/messages/in/{}/read", base(base_url), path_segment(message_id)),
    );
    req.auth = bearer();
    req
}

/// A read acknowledgement: 2xx, and 404 (already gone) are fine.
pub fn parse_read(status: u16, body: &[u8]) -> Result<(), Failure> {
    if (200..300).contains(&status) || status == 404 { Ok(()) } else { Err(classify(status, body)) }
}

/// `GET {krr-print-url}`: the print provider KRR names.
pub fn print_details(url: &str) -> HttpRequest {
    HttpRequest::new(Method::Get, url).header("Accept", "application/json")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KrrPrint {
    postkasseleverandoer_adresse: String,
    x509_sertifikat: String,
}

/// KRR's print details: the provider's organisation number and certificate (PEM;
/// bare base64 DER is armoured).
pub fn parse_print_details(status: u16, body: &[u8]) -> Result<(String, String), Failure> {
    if !(200..300).contains(&status) {
        return Err(classify(status, body));
    }
    let p: KrrPrint =
        super::json_object(body).map_err(|e| Failure::bad_answer("KRR's print details", e))?;
    let cert = p.x509_sertifikat.trim();
    let pem = if cert.contains("-----BEGIN") {
        cert.to_owned()
    } else {
        let b64: String = cert.chars().filter(|c| !c.is_whitespace()).collect();
        let lines: Vec<String> =
            b64.as_bytes().chunks(64).map(|l| String::from_utf8_lossy(l).into_owned()).collect();
        format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
    };
    Ok((p.postkasseleverandoer_adresse, pem))
}

/// A receipt from corner 2, unwrapped from its forretningsmelding.
#[derive(Clone, Debug, PartialEq)]
pub struct Receipt {
    /// The receipt's own messageId (what `read` names).
    pub message_id: String,
    /// The conversation it is about: our message's.
    pub conversation_id: String,
    /// The receipt type (`leveringskvittering`, ...).
    pub kind: String,
    /// `tidspunkt`, when it has one.
    pub at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    #[error("the forretningsmelding is not a JWS: {0}")]
    Jws(#[from] JwsError),
    #[error("the forretningsmelding's JWS does not verify with its own x5c certificate")]
    Signature,
    #[error("the forretningsmelding is not an SBD: {0}")]
    NotSbd(String),
}

/// Reads a receipt. The signature is checked against the JWS's own `x5c`
/// certificate (that the payload is what its signer signed); whether that signer is
/// corner 2's is a matter of the transport's TLS and the token.
pub fn unwrap_receipt(jwt: &str) -> Result<Receipt, ReceiptError> {
    let jws = CompactJws::parse(jwt)?;
    let cert = jws
        .header()
        .x5c
        .as_ref()
        .and_then(|c| c.first())
        .and_then(|c| STANDARD.decode(c).ok())
        .and_then(|der| crate::crypto::cert::Certificate::from_der(&der).ok())
        .ok_or(ReceiptError::Signature)?;
    let key = cert.rsa_public_key().map_err(|_| ReceiptError::Signature)?;
    let payload = jws.verify_with_rsa_der(&key).map_err(|_| ReceiptError::Signature)?;
    let sbd: Value =
        serde_json::from_slice(payload).map_err(|e| ReceiptError::NotSbd(e.to_string()))?;
    let header = &sbd["standardBusinessDocumentHeader"];
    let doc = &header["documentIdentification"];
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let message_id = text(&doc["instanceIdentifier"])
        .ok_or(ReceiptError::NotSbd("no instanceIdentifier".into()))?;
    let kind = text(&doc["type"]).ok_or(ReceiptError::NotSbd("no type".into()))?;
    let conversation_id = header["businessScope"]["scope"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["type"] == "ConversationId"))
        .and_then(|s| text(&s["instanceIdentifier"]))
        .ok_or(ReceiptError::NotSbd("no ConversationId scope".into()))?;
    let at = sbd
        .get(&kind)
        .and_then(|m| m["tidspunkt"].as_str())
        .and_then(|t| crate::sbd::DateTime::parse(t).ok())
        .map(|d| d.timestamp());
    Ok(Receipt { message_id, conversation_id, kind, at })
}

/// A receipt type's status, as the reference's MessageStatusMapper maps it.
pub fn receipt_status(kind: &str) -> (Status, &'static str) {
    match kind {
        "leveringskvittering" => (
            Status::Levert,
            "Kvittering på at digital post er tilgjengeliggjort eller at fysisk post er klargjort for utskrift",
        ),
        "aapningskvittering" => {
            (Status::Lest, "Kvittering fra Innbygger for at digital post er åpnet")
        }
        "varslingfeiletkvittering" => {
            (Status::Feil, "Kvittering for at en spesifisert varsling ikke har blitt sendt")
        }
        "mottakskvittering" => (
            Status::Levert,
            "Kvittering fra utskrift og forsendelsestjenesten om at melding er mottatt og lagt til print",
        ),
        "returpostkvittering" => (
            Status::Feil,
            "Kvittering fra utskrift og forsendelsestjenesten om at posten ikke har blitt levert til Mottaker.",
        ),
        "feil" => (Status::Feil, "Generell melding om at det har skjedd en feil"),
        _ => (Status::Annet, "Ukjent kvittering"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sbd(json: Value) -> Sbd {
        Sbd::from_json(json.to_string().as_bytes()).expect("an SBD")
    }

    fn header(standard: &str, kind: &str) -> Value {
        json!({
            "headerVersion": "1.0",
            "sender": [{"identifier": {"authority": "iso6523-actorid-upis", "value": "0192:910077473"}}],
            "receiver": [{"identifier": {"authority": "iso6523-actorid-upis", "value": "09118532322"}}],
            "documentIdentification": {
                "creationDateAndTime": "2019-03-25T11:35:00+01:00",
                "instanceIdentifier": "ff88849c-e281-4809-8555-7cd54952b921",
                "standard": standard, "type": kind, "typeVersion": "2.0"
            },
            "businessScope": {"scope": [{
                "type": "ConversationId",
                "instanceIdentifier": "97efbd4c-413d-4e2c-bbc5-257ef4a61212",
                "identifier": "urn:no:difi:profile:digitalpost:info:ver1.0",
                "scopeInformation": [{"expectedResponseDateTime": "2099-05-10T00:31:52+01:00"}]
            }]}
        })
    }

    fn files() -> Vec<(String, String, Option<String>, bool)> {
        vec![
            ("a.pdf".into(), "application/pdf".into(), Some("Brev".into()), true),
            ("meta.xml".into(), "application/xml".into(), None, false),
            ("b.txt".into(), "text/plain".into(), Some("  ".into()), false),
        ]
    }

    fn input<'a>(
        s: &'a Sbd,
        files: &'a [(String, String, Option<String>, bool)],
        email: Option<&'a str>,
    ) -> ShipmentInput<'a> {
        ShipmentInput {
            sbd: s,
            files,
            provider: "987464291",
            postkasseadresse: Some("ola#1"),
            email,
            mobile: Some("99999999"),
            default_language: "NO",
            now: Timestamp::from_unix_millis(1_700_000_000_000),
        }
    }

    #[test]
    fn digital_maps_as_the_reference() {
        let s = sbd(json!({
            "standardBusinessDocumentHeader": header("urn:no:difi:digitalpost:xsd:digital::digital", "digital"),
            "digital": {
                "sikkerhetsnivaa": 4, "hoveddokument": "a.pdf", "avsenderId": "avs", "tittel": "T",
                "spraak": "EN",
                "digitalPostInfo": {"virkningsdato": "2024-01-15", "aapningskvittering": true},
                "varsler": {"epostTekst": "E", "smsTekst": "S"},
                "metadataFiler": {"a.pdf": "meta.xml"}
            }
        }));
        let f = files();
        let sh = shipment(&input(&s, &f, Some("ola@example.com"))).expect("shipment");
        assert_eq!(sh.kind, Kind::Digital);
        assert_eq!(sh.files, ["a.pdf", "meta.xml", "b.txt"]);
        let d = &sh.sbd["digital"];
        assert_eq!(d["avsender"]["avsenderidentifikator"], "avs");
        assert!(d["avsender"].get("fakturaReferanse").is_none());
        assert_eq!(d["mottaker"]["postkasseadresse"], "ola#1");
        assert_eq!(d["sikkerhetsnivaa"], 4);
        // Midnight in Oslo (winter: UTC+1).
        assert_eq!(d["virkningstidspunkt"], "2024-01-14T23:00:00Z");
        assert_eq!(d["aapningskvittering"], true);
        assert_eq!(d["spraak"], "EN");
        assert_eq!(d["varsler"]["epostvarsel"]["epostadresse"], "ola@example.com");
        assert_eq!(d["varsler"]["smsvarsel"]["repetisjoner"], json!([0, 7]));
        let h = &sh.sbd["standardBusinessDocumentHeader"];
        assert_eq!(h["receiver"][0]["identifier"]["value"], "0192:987464291");
        assert_eq!(
            h["businessScope"]["scope"][0]["scopeInformation"][0]["expectedResponseDateTime"],
            "2099-05-09T23:31:52Z"
        );
        assert_eq!(h["documentIdentification"]["creationDateAndTime"], "2023-11-14T22:13:20Z");
        assert!(sh.manifest.contains("<data href=\"meta.xml\" mime=\"application/xml\"/>"));
        assert!(sh.manifest.contains("<tittel lang=\"EN\">Brev</tittel>"));
        // A blank title is the reference's "Missing title".
        assert!(sh.manifest.contains("<vedlegg href=\"b.txt\" mime=\"text/plain\">\n        <tittel lang=\"EN\">Missing title</tittel>"));
        // No address, no notification of that kind.
        let sh = shipment(&input(&s, &f, None)).expect("shipment");
        assert!(sh.sbd["digital"]["varsler"].get("epostvarsel").is_none());
    }

    #[test]
    fn a_missing_metadata_file_or_primary_document_is_refused() {
        let s = sbd(json!({
            "standardBusinessDocumentHeader": header("urn:no:difi:digitalpost:xsd:digital::digital", "digital"),
            "digital": {
                "sikkerhetsnivaa": 3, "hoveddokument": "a.pdf", "tittel": "T", "spraak": "NO",
                "digitalPostInfo": {"virkningsdato": "2024-01-15", "aapningskvittering": false},
                "metadataFiler": {"a.pdf": "gone.xml"}
            }
        }));
        let f = files();
        let e = shipment(&input(&s, &f, None)).expect_err("refused");
        assert!(e.0.contains("gone.xml"), "{e}");
        let no_primary: Vec<_> = f
            .iter()
            .cloned()
            .map(|mut x| {
                x.3 = false;
                x
            })
            .collect();
        assert!(shipment(&input(&s, &no_primary, None)).is_err());
    }

    #[test]
    fn print_addresses_fold_abroad() {
        let norway = PostAddress {
            navn: Some("A".into()),
            adresselinje1: Some("Gate 1".into()),
            postnummer: Some("0001".into()),
            poststed: Some("OSLO".into()),
            land: Some("Norge".into()),
            ..PostAddress::default()
        };
        assert_eq!(
            address(&norway),
            json!({"navn": "A", "adresselinje1": "Gate 1", "postnummer": "0001", "poststed": "OSLO"})
        );
        let abroad = PostAddress {
            adresselinje2: Some("Floor 2".into()),
            land: Some("Sverige".into()),
            ..norway.clone()
        };
        assert_eq!(
            address(&abroad),
            json!({"navn": "A", "adresselinje1": "Gate 1", "adresselinje2": "Floor 2",
                   "adresselinje3": "0001 OSLO", "land": "Sverige"})
        );
        let full = PostAddress {
            adresselinje3: Some("x".into()),
            adresselinje4: Some("y".into()),
            poststed: None,
            ..abroad
        };
        assert_eq!(address(&full)["adresselinje4"], "y 0001");
    }

    #[test]
    fn statuses_map_as_the_reference() {
        let body = br#"[{"status":"OPPRETTET","timestamp":"2021-06-29T05:49:47Z"},
            {"status":"SENDT","timestamp":"2021-06-29T07:12:40Z"},{"status":"FEILET"},{"status":"NOE"}]"#;
        let list = parse_statuses(200, body).expect("statuses");
        let names: Vec<Status> = list.iter().map(|s| s.0).collect();
        assert_eq!(names, [Status::Sendt, Status::Mottatt, Status::Feil]);
        assert_eq!(list[1].2.map(utc).as_deref(), Some("2021-06-29T07:12:40Z"));
        assert_eq!(list[2].2, None);
        assert!(parse_statuses(503, b"").is_err_and(|f| f.is_transient()));
        assert!(parse_statuses(404, b"").is_err_and(|f| !f.is_transient()));
        assert!(parse_statuses(200, b"{}").is_err());
    }

    #[test]
    fn receipts_map_and_reads_tolerate_404() {
        assert_eq!(receipt_status("leveringskvittering").0, Status::Levert);
        assert_eq!(receipt_status("mottakskvittering").0, Status::Levert);
        assert_eq!(receipt_status("aapningskvittering").0, Status::Lest);
        for k in ["varslingfeiletkvittering", "returpostkvittering", "feil"] {
            assert_eq!(receipt_status(k).0, Status::Feil);
        }
        assert_eq!(receipt_status("flyttet").0, Status::Annet);
        assert!(parse_read(404, b"").is_ok());
        assert!(parse_read(200, b"").is_ok());
        assert!(parse_read(500, b"").is_err());
    }

    #[test]
    fn requests_name_channel_and_scope() {
        assert_eq!(channel(DEFAULT_MPC_ID), "no_difi_move_integrasjonspunkt");
        let r = send("http://c2/api/", Some("a_b"), "XYZ", "body".into());
        assert_eq!(r.url, "http://c2/api/messages/out?kanal=a_b");
        assert_eq!(r.header_value("Content-Type"), Some("multipart/form-data; boundary=XYZ"));
        assert_eq!(r.body_file.as_deref(), Some("body"));
        assert_eq!(r.auth, Some(Credential::Maskinporten { scopes: vec![SCOPE.into()] }));
        let r = messages_in("http://c2", Some("k"), 100);
        assert_eq!(r.url, "http://c2/messages/in?kanal=k&page_size=100");
        let r = mark_read("http://c2", "a/b");
        assert_eq!(r.url, "http://c2/messages/in/a%2Fb/read");
        let head = multipart_head("B", "h.p.s");
        assert!(head.starts_with("--B\r\nContent-Disposition: form-data; name=\"forretningsmelding\"; filename=\"sbd.jwt\"\r\nContent-Type: application/jwt\r\n\r\nh.p.s\r\n--B\r\n"));
        assert!(head.ends_with("filename=\"asic.cms\"\r\nContent-Type: application/cms\r\n\r\n"));
        assert_eq!(multipart_tail("B"), "\r\n--B--\r\n");
    }

    #[test]
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
    fn receipts_unwrap_only_when_signed_by_their_x5c() {
        let rng = ring::rand::SystemRandom::new();
        let issued = crate::crypto::issue::self_signed(
            "987464291",
            "c2",
            Timestamp::from_unix_millis(1_700_000_000_000),
            1,
            &rng,
        )
        .expect("issue");
        let key = crate::crypto::keys::PrivateKey::from_pkcs8_der(&issued.private_key_pkcs8)
            .expect("key");
        let cert = crate::crypto::cert::Certificate::from_der(&issued.certificate).expect("cert");
        let me = Identity::new(key, vec![cert]).expect("identity");
        let receipt = json!({
            "standardBusinessDocumentHeader": {
                "documentIdentification": {"instanceIdentifier": "r1", "type": "leveringskvittering"},
                "businessScope": {"scope": [{"type": "ConversationId", "instanceIdentifier": "c1"}]}
            },
            "leveringskvittering": {"tidspunkt": "2021-01-01T07:00:00Z"}
        });
        let jwt = forretningsmelding(&receipt, &me, &rng).expect("signed");
        let r = unwrap_receipt(&jwt).expect("unwrapped");
        assert_eq!((r.message_id.as_str(), r.conversation_id.as_str()), ("r1", "c1"));
        assert_eq!(r.kind, "leveringskvittering");
        assert_eq!(r.at.map(utc).as_deref(), Some("2021-01-01T07:00:00Z"));
        // Another payload under the same signature does not pass.
        let parts: Vec<&str> = jwt.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            crate::jose::b64url(br#"{"standardBusinessDocumentHeader":{}}"#),
            parts[2]
        );
        assert_eq!(unwrap_receipt(&forged), Err(ReceiptError::Signature));
    }

    #[test]
    fn print_details_are_read_in_either_certificate_form() {
        let body =
            br#"{"postkasseleverandoerAdresse":"987464291","x509Sertifikat":"MIIB\nAAAA","x":1}"#;
        let (org, pem) = parse_print_details(200, body).unwrap();
        assert_eq!(org, "987464291");
        assert_eq!(pem, "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n");
        let body = json!({"postkasseleverandoerAdresse": "1", "x509Sertifikat": "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----"});
        assert!(
            parse_print_details(200, body.to_string().as_bytes())
                .unwrap()
                .1
                .starts_with("-----BEGIN")
        );
        assert!(parse_print_details(200, b"{}").is_err());
        assert!(parse_print_details(500, b"").is_err_and(|f| f.is_transient()));
    }

    #[test]
    fn finalize_sets_fingerprint_and_token() {
        let mut v = json!({"utskrift": {"avsender": {}}});
        finalize(&mut v, &[0u8; 32], "tok");
        assert_eq!(
            v["utskrift"]["dokumentpakkefingeravtrykk"],
            json!({"digestMethod": DIGEST_METHOD, "digestValue": STANDARD.encode([0u8; 32])})
        );
        assert_eq!(v["utskrift"]["maskinportentoken"], "tok");
    }
}
