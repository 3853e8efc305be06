//! DPF sending over KS FIKS SvarUt, in the reference's default wire form
//! (`difi.move.fiks.ut.type=ws`): SOAP 1.2 with MTOM to
//! `{endpoint}/tjenester/forsendelseservice/ForsendelsesServiceV9`, namespace
//! [`NAMESPACE`], pre-emptive HTTP Basic.
//!
//! Four operations: `sendForsendelseMedId` (the forsendelse with its documents, each
//! CMS-encrypted to SvarUt's certificate and carried as an MTOM attachment),
//! `retreiveForsendelseTyper` (checked before a send that names a forsendelseType),
//! `retrieveForsendelseStatuser` (receipt polling; only `LEST` means anything) and
//! the fault rules: the five faults the reference treats as final are
//! [`Failure::Permanent`], every other fault is retried.
//!
//! [`forsendelse`] maps an arkivmelding message to the forsendelse as the reference's
//! `FiksWebServiceMapper` does. The request body is assembled by the runtime from
//! [`MtomParts`] and the encrypted documents, streamed from disk.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

use super::failure::{Failure, classify};
use crate::arkivmelding::{JournalPost, Korrespondansepart};
use crate::node::{HttpRequest, Method};
use crate::registry::model::InfoRecord;

/// The service's XML namespace (its child elements are unqualified).
pub const NAMESPACE: &str = "http://www.ks.no/svarut/servicesV9";
/// Appended to `difi.move.fiks.ut.endpointUrl` (`ws.endpointUrl`'s default).
pub const WS_PATH: &str = "/tjenester/forsendelseservice/ForsendelsesServiceV9";
/// `difi.move.fiks.ut.endpointUrl`'s default.
pub const DEFAULT_ENDPOINT: &str = "https://test.svarut.ks.no";
const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
const XOP: &str = "http://www.w3.org/2004/08/xop/include";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The root part's Content-ID.
const ROOT_ID: &str = "root.message@efm";

/// Faults that will not go away by sending again (`SvarUtFaultInterceptor`).
const PERMANENT_FAULTS: [&str; 5] = [
    "Duplikat",
    "Forsendelse med samme mottaker",
    "Ugyldig innhold",
    "Feil under lesing av",
    "Kan ikke lagre tomt dokument",
];

/// Where SvarUt's web service is and who we are to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SvarUtEndpoint {
    /// The service URL itself (`ws.endpointUrl`).
    pub url: String,
    pub username: String,
    pub password: String,
}

/// What the forsendelse takes from configuration (`difi.move.fiks.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SvarUtOptions {
    /// `fiks.kryptert` (true).
    pub kryptert: bool,
    /// `fiks.ut.kun-digital-levering` (false).
    pub kun_digital_levering: bool,
    /// `fiks.ut.konteringsKode` (none).
    pub konteringskode: Option<String>,
    /// `fiks.ut.ekskluderesFraPrint`: file extensions (or `*`) left out of print.
    pub ekskluderes_fra_print: Vec<String>,
}

impl Default for SvarUtOptions {
    fn default() -> Self {
        SvarUtOptions {
            kryptert: true,
            kun_digital_levering: false,
            konteringskode: None,
            ekskluderes_fra_print: Vec::new(),
        }
    }
}

/// A postal address as SvarUt takes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PostAdresse {
    pub adresse1: Option<String>,
    pub land: Option<String>,
    pub navn: Option<String>,
    pub postnr: Option<String>,
    pub poststed: Option<String>,
}

/// An organisation's digital and postal address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Adresse {
    pub orgnr: Option<String>,
    pub post: PostAdresse,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dokument {
    pub filnavn: String,
    pub mimetype: String,
    pub ekskluderes_fra_print: bool,
}

/// `noarkMetadataFraAvleverendeSakssystem`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    pub dokumentets_dato: Option<String>,
    pub ekstra: Vec<(String, String)>,
    pub journalaar: i64,
    pub journaldato: Option<String>,
    pub journalpostnummer: i64,
    pub journalposttype: String,
    pub journalsekvensnummer: i64,
    pub journalstatus: String,
    pub saksaar: i64,
    pub saksbehandler: Option<String>,
    pub sakssekvensnummer: i64,
    pub tittel: Option<String>,
}

/// The forsendelse of `sendForsendelseMedId`, fields in the schema's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forsendelse {
    pub dokumenter: Vec<Dokument>,
    pub eksternref: String,
    pub forsendelse_type: Option<String>,
    pub konteringskode: Option<String>,
    pub krev_niva4_innlogging: bool,
    pub kryptert: bool,
    pub kun_digital_levering: bool,
    pub metadata: Metadata,
    pub mottaker: Adresse,
    pub svar_pa_forsendelse: Option<String>,
    pub svar_sendes_til: Adresse,
    pub tittel: Option<String>,
}

/// What a DPF message says besides its arkivmelding.xml.
#[derive(Clone, Debug, Default)]
pub struct Mapping<'a> {
    pub message_id: String,
    /// `arkivmelding.dpf.forsendelseType`.
    pub forsendelse_type: Option<String>,
    /// The SBD's ReceiverRef scope.
    pub receiver_ref: Option<String>,
    pub security_level: Option<i64>,
    /// Our (the sender's) organisation number.
    pub sender_org: String,
    pub receiver_info: Option<&'a InfoRecord>,
    pub sender_info: Option<&'a InfoRecord>,
    /// The message's files: name and MIME type.
    pub files: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("File '{file}' referenced in '{message_id}' not found")]
    MissingFile { file: String, message_id: String },
}

/// Whether `s` reads as a UUID (the reference's `UUID.fromString` check).
fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// The forsendelsesid to send under: the SenderRef scope when it is a UUID, else the
/// messageId (`SvarUtService.getForsendelseId`).
pub fn forsendelses_id(message_id: &str, sender_ref: Option<&str>) -> String {
    match sender_ref {
        Some(r) if is_uuid(r) => r.to_owned(),
        _ => message_id.to_owned(),
    }
}

/// Noark 5 journal post types to SvarUt's codes; unknown ones are `I`.
fn journalposttype_code(text: Option<&str>) -> &'static str {
    match text {
        Some("Utgående dokument") => "U",
        Some("Saksframlegg") => "S",
        Some("Organinternt dokument for oppfølging") => "N",
        Some("Organinternt dokument uten oppfølging") => "X",
        _ => "I",
    }
}

/// Noark 5 journal statuses to SvarUt's codes; unknown ones are `R`.
fn journalstatus_code(text: Option<&str>) -> &'static str {
    match text {
        Some("Ekspedert") => "E",
        Some("Arkivert") => "A",
        Some("Godkjent av leder") => "F",
        Some("Journalført") => "J",
        Some("Utgår") => "U",
        _ => "R",
    }
}

/// The Noark 5 korrespondanseparttype values (anything else is no type at all, as
/// JAXB reads an unknown enum value).
const PARTY_TYPES: [&str; 7] = [
    "Avsender",
    "Mottaker",
    "Kopimottaker",
    "Gruppemottaker",
    "Intern avsender",
    "Intern mottaker",
    "Intern kopimottaker",
];

/// A date at the start of its day, as `DateTimeUtil.atStartOfDay` prints it:
/// `2017-05-23` -> `2017-05-23T00:00:00`, keeping a timezone if there is one.
fn start_of_day(date: &str) -> String {
    let date = date.trim();
    let (day, rest) = date.split_at(date.len().min(10));
    let zone = match rest.strip_prefix('T') {
        // A dateTime: its zone follows the time.
        Some(time) => time.find(['Z', '+', '-']).map_or("", |i| &time[i..]),
        None => rest,
    };
    format!("{day}T00:00:00{zone}")
}

fn int(v: Option<&str>) -> i64 {
    v.and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

fn address_from_info(info: Option<&InfoRecord>, orgnr: &str) -> Adresse {
    let post = match info.and_then(|i| i.postadresse.as_ref()) {
        Some(p) => PostAdresse {
            adresse1: p.adresse.clone(),
            land: p.land.clone(),
            navn: info.and_then(|i| i.organization_name.clone()),
            postnr: p.postnummer.clone(),
            poststed: p.poststed.clone(),
        },
        None => PostAdresse {
            adresse1: None,
            land: Some("Norge".into()),
            navn: info.and_then(|i| i.organization_name.clone()),
            postnr: Some("0192".into()),
            poststed: Some("Oslo".into()),
        },
    };
    let orgnr = info.and_then(|i| i.identifier.clone()).unwrap_or_else(|| orgnr.to_owned());
    Adresse { orgnr: Some(orgnr), post }
}

fn address_from_party(k: &Korrespondansepart, orgnr: &str) -> Adresse {
    Adresse {
        orgnr: Some(orgnr.to_owned()),
        post: PostAdresse {
            adresse1: Some(k.address_lines.join(" ")),
            land: k.country.clone(),
            navn: k.name.clone(),
            postnr: k.postal_code.clone(),
            poststed: k.postal_area.clone(),
        },
    }
}

/// The forsendelse for a DPF message, from its arkivmelding's first journal post.
pub fn forsendelse(
    jp: &JournalPost,
    m: &Mapping<'_>,
    options: &SvarUtOptions,
) -> Result<Forsendelse, MappingError> {
    // One party without a known type voids them all, as in the reference.
    let parties: &[Korrespondansepart] = if jp
        .korrespondanseparter
        .iter()
        .any(|k| !k.kind.as_deref().is_some_and(|t| PARTY_TYPES.contains(&t)))
    {
        &[]
    } else {
        &jp.korrespondanseparter
    };
    let sender_party = parties.iter().find(|k| k.kind.as_deref() == Some("Avsender"));
    let svar_sendes_til = match sender_party {
        Some(k) => address_from_party(k, &m.sender_org),
        None => address_from_info(m.sender_info, &m.sender_org),
    };
    let receiver_org = m.receiver_info.and_then(|i| i.identifier.clone()).unwrap_or_default();
    let mottaker = address_from_info(m.receiver_info, &receiver_org);
    // Main document first; the rest keep their order.
    let mut beskrivelser: Vec<_> = jp.dokumenter.iter().collect();
    beskrivelser.sort_by_key(|d| d.role.as_deref() != Some("Hoveddokument"));
    let mut dokumenter = Vec::new();
    for name in beskrivelser.iter().flat_map(|d| d.files.iter()) {
        let Some((filnavn, mime)) = m.files.iter().find(|(f, _)| f == name) else {
            return Err(MappingError::MissingFile {
                file: name.clone(),
                message_id: m.message_id.clone(),
            });
        };
        dokumenter.push(Dokument {
            filnavn: filnavn.clone(),
            mimetype: mime.clone(),
            ekskluderes_fra_print: excluded_from_print(filnavn, &options.ekskluderes_fra_print),
        });
    }
    let metadata = Metadata {
        dokumentets_dato: jp.dokumentets_dato.as_deref().map(start_of_day),
        ekstra: jp.extra.clone(),
        journalaar: int(jp.journalaar.as_deref()),
        journaldato: jp.journaldato.as_deref().map(start_of_day),
        journalpostnummer: int(jp.journalpostnummer.as_deref()),
        journalposttype: journalposttype_code(jp.journalposttype.as_deref()).to_owned(),
        journalsekvensnummer: int(jp.journalsekvensnummer.as_deref()),
        journalstatus: journalstatus_code(jp.journalstatus.as_deref()).to_owned(),
        saksaar: int(jp.saksaar.as_deref()),
        saksbehandler: sender_party.and_then(|k| k.case_officer.clone()),
        sakssekvensnummer: int(jp.sakssekvensnummer.as_deref()),
        tittel: jp.offentlig_tittel.clone(),
    };
    Ok(Forsendelse {
        dokumenter,
        eksternref: m.message_id.clone(),
        forsendelse_type: m.forsendelse_type.clone().filter(|t| !t.trim().is_empty()),
        konteringskode: options.konteringskode.clone(),
        krev_niva4_innlogging: m.security_level == Some(4),
        kryptert: options.kryptert,
        kun_digital_levering: options.kun_digital_levering,
        metadata,
        mottaker,
        svar_pa_forsendelse: m.receiver_ref.clone().filter(|r| is_uuid(r)),
        svar_sendes_til,
        tittel: jp.offentlig_tittel.clone(),
    })
}

/// `ekskluderesFraPrint`: PDFs always print; others not if their extension (or `*`)
/// is configured so.
fn excluded_from_print(filename: &str, excluded: &[String]) -> bool {
    let ext = filename.rsplit('.').next().unwrap_or("pdf");
    if ext.eq_ignore_ascii_case("pdf") {
        return false;
    }
    excluded.iter().any(|e| e == "*" || e == ext)
}

fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

fn element(out: &mut String, name: &str, value: &str) {
    out.push_str(&format!("<{name}>{}</{name}>", escape(value)));
}

fn opt_element(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        element(out, name, v);
    }
}

fn adresse(out: &mut String, name: &str, a: &Adresse) {
    out.push_str(&format!("<{name}>"));
    out.push_str(&format!(
        "<digitalAdresse xmlns:xsi=\"{XSI}\" xsi:type=\"ns2:organisasjonDigitalAdresse\">"
    ));
    opt_element(out, "orgnr", a.orgnr.as_deref());
    out.push_str("</digitalAdresse><postAdresse>");
    let p = &a.post;
    opt_element(out, "adresse1", p.adresse1.as_deref());
    opt_element(out, "land", p.land.as_deref());
    opt_element(out, "navn", p.navn.as_deref());
    opt_element(out, "postnr", p.postnr.as_deref());
    opt_element(out, "poststed", p.poststed.as_deref());
    out.push_str(&format!("</postAdresse></{name}>"));
}

/// The Content-ID of document `i`'s attachment.
pub fn document_cid(i: usize) -> String {
    format!("dokument-{i}@efm")
}

/// The `sendForsendelseMedId` element, documents referenced as XOP includes.
pub fn send_xml(f: &Forsendelse, forsendelses_id: &str) -> String {
    let mut o = String::with_capacity(4096);
    o.push_str(&format!("<ns2:sendForsendelseMedId xmlns:ns2=\"{NAMESPACE}\"><forsendelse>"));
    o.push_str("<avgivendeSystem></avgivendeSystem>");
    for (i, d) in f.dokumenter.iter().enumerate() {
        o.push_str(&format!(
            "<dokumenter><data><xop:Include xmlns:xop=\"{XOP}\" href=\"cid:{}\"/></data>",
            document_cid(i)
        ));
        element(&mut o, "ekskluderesFraPrint", bool_text(d.ekskluderes_fra_print));
        element(&mut o, "filnavn", &d.filnavn);
        element(&mut o, "mimetype", &d.mimetype);
        element(&mut o, "skalSigneres", "false");
        o.push_str("</dokumenter>");
    }
    element(&mut o, "eksternref", &f.eksternref);
    opt_element(&mut o, "forsendelseType", f.forsendelse_type.as_deref());
    opt_element(&mut o, "konteringskode", f.konteringskode.as_deref());
    element(&mut o, "krevNiva4Innlogging", bool_text(f.krev_niva4_innlogging));
    element(&mut o, "kryptert", bool_text(f.kryptert));
    element(&mut o, "kunDigitalLevering", bool_text(f.kun_digital_levering));
    let m = &f.metadata;
    o.push_str("<metadataFraAvleverendeSystem>");
    opt_element(&mut o, "dokumentetsDato", m.dokumentets_dato.as_deref());
    for (k, v) in &m.ekstra {
        o.push_str("<ekstraMetadata>");
        element(&mut o, "key", k);
        element(&mut o, "value", v);
        o.push_str("</ekstraMetadata>");
    }
    element(&mut o, "journalaar", &m.journalaar.to_string());
    opt_element(&mut o, "journaldato", m.journaldato.as_deref());
    element(&mut o, "journalpostnummer", &m.journalpostnummer.to_string());
    element(&mut o, "journalposttype", &m.journalposttype);
    element(&mut o, "journalsekvensnummer", &m.journalsekvensnummer.to_string());
    element(&mut o, "journalstatus", &m.journalstatus);
    element(&mut o, "saksaar", &m.saksaar.to_string());
    opt_element(&mut o, "saksbehandler", m.saksbehandler.as_deref());
    element(&mut o, "sakssekvensnummer", &m.sakssekvensnummer.to_string());
    opt_element(&mut o, "tittel", m.tittel.as_deref());
    o.push_str("</metadataFraAvleverendeSystem>");
    adresse(&mut o, "mottaker", &f.mottaker);
    o.push_str(
        "<printkonfigurasjon><brevtype>BPOST</brevtype><fargePrint>false</fargePrint>\
         <tosidig>true</tosidig></printkonfigurasjon>",
    );
    o.push_str(&format!("<signaturtype xmlns:xsi=\"{XSI}\" xsi:nil=\"true\"/>"));
    o.push_str(&format!("<signeringUtloper xmlns:xsi=\"{XSI}\" xsi:nil=\"true\"/>"));
    opt_element(&mut o, "svarPaForsendelse", f.svar_pa_forsendelse.as_deref());
    element(&mut o, "svarPaForsendelseLink", "false");
    adresse(&mut o, "svarSendesTil", &f.svar_sendes_til);
    element(&mut o, "tittel", f.tittel.as_deref().unwrap_or_default());
    o.push_str("</forsendelse>");
    element(&mut o, "forsendelsesid", forsendelses_id);
    o.push_str("</ns2:sendForsendelseMedId>");
    o
}

fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"{SOAP12}\">\
         <soap:Header/><soap:Body>{body}</soap:Body></soap:Envelope>"
    )
}

/// The request body of `sendForsendelseMedId` around its documents: `root`, then
/// for each document `document_heads[i]` and its encrypted bytes, then `tail`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MtomParts {
    pub boundary: String,
    pub root: Vec<u8>,
    pub document_heads: Vec<Vec<u8>>,
    pub tail: Vec<u8>,
}

impl MtomParts {
    pub fn content_type(&self) -> String {
        format!(
            "multipart/related; type=\"application/xop+xml\"; boundary=\"{}\"; \
             start=\"<{ROOT_ID}>\"; start-info=\"application/soap+xml\"",
            self.boundary
        )
    }

    /// The whole body with `documents` in memory (tests and small messages).
    pub fn assemble(&self, documents: &[Vec<u8>]) -> Vec<u8> {
        let mut out = self.root.clone();
        for (head, doc) in self.document_heads.iter().zip(documents) {
            out.extend_from_slice(head);
            out.extend_from_slice(doc);
        }
        out.extend_from_slice(&self.tail);
        out
    }
}

/// The MTOM framing of a send; `boundary` must not occur in the documents (a
/// random UUID's worth of characters).
pub fn send_parts(f: &Forsendelse, forsendelses_id: &str, boundary: &str) -> MtomParts {
    let root = format!(
        "--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; \
         type=\"application/soap+xml\"\r\nContent-Transfer-Encoding: binary\r\n\
         Content-ID: <{ROOT_ID}>\r\n\r\n{}",
        envelope(&send_xml(f, forsendelses_id))
    );
    let document_heads = (0..f.dokumenter.len())
        .map(|i| {
            format!(
                "\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\
                 Content-Transfer-Encoding: binary\r\nContent-ID: <{}>\r\n\r\n",
                document_cid(i)
            )
            .into_bytes()
        })
        .collect();
    MtomParts {
        boundary: boundary.to_owned(),
        root: root.into_bytes(),
        document_heads,
        tail: format!("\r\n--{boundary}--\r\n").into_bytes(),
    }
}

fn basic(endpoint: &SvarUtEndpoint) -> String {
    let pair = format!("{}:{}", endpoint.username, endpoint.password);
    format!("Basic {}", STANDARD.encode(pair.as_bytes()))
}

/// The send's request; its body is the staged file the runtime assembled from
/// `parts` (set `body_file`).
pub fn send_request(endpoint: &SvarUtEndpoint, parts: &MtomParts) -> HttpRequest {
    HttpRequest::new(Method::Post, endpoint.url.clone())
        .header("Content-Type", parts.content_type())
        .header("Authorization", basic(endpoint))
}

fn plain_request(endpoint: &SvarUtEndpoint, body: &str) -> HttpRequest {
    HttpRequest::new(Method::Post, endpoint.url.clone())
        .header("Content-Type", "application/soap+xml; charset=utf-8")
        .header("Authorization", basic(endpoint))
        .body(envelope(body).into_bytes())
}

/// `retreiveForsendelseTyper` (sic).
pub fn types_request(endpoint: &SvarUtEndpoint) -> HttpRequest {
    plain_request(endpoint, &format!("<ns2:retreiveForsendelseTyper xmlns:ns2=\"{NAMESPACE}\"/>"))
}

/// `retrieveForsendelseStatuser` for these forsendelse ids.
pub fn statuses_request(endpoint: &SvarUtEndpoint, ids: &[String]) -> HttpRequest {
    let mut body = format!("<ns2:retrieveForsendelseStatuser xmlns:ns2=\"{NAMESPACE}\">");
    for id in ids {
        element(&mut body, "forsendelseider", id);
    }
    body.push_str("</ns2:retrieveForsendelseStatuser>");
    plain_request(endpoint, &body)
}

/// An answer's SOAP envelope: the body itself, or the root part of a multipart
/// (MTOM) answer.
pub fn soap_part<'a>(content_type: Option<&str>, body: &'a [u8]) -> &'a [u8] {
    let Some(boundary) = content_type.and_then(multipart_boundary) else {
        return body;
    };
    let delimiter = format!("--{boundary}");
    let Some(start) = find(body, delimiter.as_bytes()) else { return body };
    let after = &body[start + delimiter.len()..];
    let Some(head_end) = find(after, b"\r\n\r\n") else { return body };
    let content = &after[head_end + 4..];
    let end = find(content, format!("\r\n{delimiter}").as_bytes()).unwrap_or(content.len());
    &content[..end]
}

/// The `boundary` parameter of a multipart Content-Type.
pub fn multipart_boundary(content_type: &str) -> Option<String> {
    if !content_type.trim_start().to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    content_type.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// One part of a multipart body: its headers (names lower case) and content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part<'a> {
    pub headers: Vec<(String, String)>,
    pub content: &'a [u8],
}

impl Part<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The Content-ID without its angle brackets.
    pub fn content_id(&self) -> Option<&str> {
        self.header("content-id").map(|v| v.trim().trim_start_matches('<').trim_end_matches('>'))
    }
}

/// The parts of a multipart body (a SvarUt request as a service receives it).
pub fn multipart_parts<'a>(content_type: &str, body: &'a [u8]) -> Result<Vec<Part<'a>>, String> {
    let boundary = multipart_boundary(content_type).ok_or("not a multipart body")?;
    let delimiter = format!("--{boundary}");
    let mut rest = body;
    let start = find(rest, delimiter.as_bytes()).ok_or("no first boundary")?;
    rest = &rest[start + delimiter.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        let rest_after_crlf =
            rest.strip_prefix(b"\r\n").ok_or("a boundary line not ended by CRLF")?;
        let head_end = find(rest_after_crlf, b"\r\n\r\n");
        let (head, content_start) = match head_end {
            Some(i) => (&rest_after_crlf[..i], &rest_after_crlf[i + 4..]),
            // A part with no headers at all.
            None if rest_after_crlf.starts_with(b"\r\n") => {
                (&rest_after_crlf[..0], &rest_after_crlf[2..])
            }
            None => return Err("a part's headers do not end".into()),
        };
        let next = find(content_start, format!("\r\n{delimiter}").as_bytes())
            .ok_or("a part does not end with a boundary")?;
        let headers = String::from_utf8_lossy(head)
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        parts.push(Part { headers, content: &content_start[..next] });
        rest = &content_start[next + 2 + delimiter.len()..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One element of an XML document: its local name, text and children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XmlNode {
    pub name: String,
    pub text: String,
    /// `xsi:nil="true"`.
    pub nil: bool,
    /// An `xop:Include`'s `href`.
    pub href: Option<String>,
    pub children: Vec<XmlNode>,
}

impl XmlNode {
    pub fn child(&self, name: &str) -> Option<&XmlNode> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a XmlNode> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first element named `name` at any depth (this one included).
    pub fn find(&self, name: &str) -> Option<&XmlNode> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

/// Parse XML into a tree of local names (no DTDs, predefined entities only).
pub fn parse_tree(xml: &[u8]) -> Result<XmlNode, String> {
    let text = std::str::from_utf8(xml).map_err(|_| "not UTF-8".to_owned())?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<XmlNode> = Vec::new();
    let mut root: Option<XmlNode> = None;
    let open = |e: &quick_xml::events::BytesStart<'_>| {
        let mut node = XmlNode { name: e.local_name().as_ref().to_owned(), ..XmlNode::default() };
        for a in e.attributes().flatten() {
            let key = a.key.local_name();
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| v.into_owned())
                .unwrap_or_default();
            match key.as_ref() {
                "nil" => node.nil = value == "true",
                "href" => node.href = Some(value),
                _ => {}
            }
        }
        node
    };
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::DocType(_) => return Err("DTDs are not accepted".into()),
            Event::Start(e) => stack.push(open(&e)),
            Event::Empty(e) => {
                let node = open(&e);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err("more than one root element".into()),
                }
            }
            Event::Text(t) => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = crate::xml_reference::resolve(&r)?;
                if let Some(n) = stack.last_mut() {
                    n.text.push(c);
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("unbalanced end tag")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err("more than one root element".into()),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("truncated document".into());
    }
    root.ok_or_else(|| "no root element".into())
}

/// Sort an answer: a SOAP fault (any status) by its text, other non-2xx by status,
/// and a 2xx body into its SOAP Body's first element.
fn answer(status: u16, content_type: Option<&str>, body: &[u8]) -> Result<XmlNode, Failure> {
    let xml = soap_part(content_type, body);
    let tree = parse_tree(xml);
    if let Ok(tree) = &tree
        && let Some(fault) = tree.find("Fault")
    {
        return Err(fault_failure(fault));
    }
    if !(200..300).contains(&status) {
        return Err(classify(status, body));
    }
    let tree = tree.map_err(|e| Failure::bad_answer("SvarUt", e))?;
    tree.find("Body")
        .and_then(|b| b.children.first())
        .cloned()
        .ok_or_else(|| Failure::bad_answer("SvarUt", "no SOAP body"))
}

/// A fault's text, sorted by the reference's rules.
fn fault_failure(fault: &XmlNode) -> Failure {
    let mut text = String::new();
    collect_text(fault, &mut text);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let reason = format!("SvarUt fault: {}", text.chars().take(300).collect::<String>());
    if PERMANENT_FAULTS.iter().any(|p| text.contains(p)) {
        Failure::Permanent(reason)
    } else {
        Failure::Transient(reason)
    }
}

fn collect_text(n: &XmlNode, out: &mut String) {
    if !n.text.trim().is_empty() {
        out.push(' ');
        out.push_str(n.text.trim());
    }
    for c in &n.children {
        collect_text(c, out);
    }
}

/// `sendForsendelseMedIdResponse`: the forsendelse's id as SvarUt has it.
pub fn parse_sent(status: u16, content_type: Option<&str>, body: &[u8]) -> Result<String, Failure> {
    let response = answer(status, content_type, body)?;
    if response.name != "sendForsendelseMedIdResponse" {
        return Err(Failure::bad_answer("SvarUt", format!("<{}> answered a send", response.name)));
    }
    Ok(response.child("return").map(|r| r.text.trim().to_owned()).unwrap_or_default())
}

/// `retreiveForsendelseTyperResponse`: the forsendelse types SvarUt knows.
pub fn parse_types(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<String>, Failure> {
    let response = answer(status, content_type, body)?;
    Ok(response.all("return").map(|r| r.text.trim().to_owned()).collect())
}

/// One forsendelse's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusResult {
    pub forsendelses_id: String,
    pub status: String,
    pub changed: Option<String>,
}

impl StatusResult {
    /// Only LEST is news: delivery is guaranteed once SvarUt took the forsendelse.
    pub fn is_read(&self) -> bool {
        self.status == "LEST"
    }
}

/// `retrieveForsendelseStatuserResponse`.
pub fn parse_statuses(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<StatusResult>, Failure> {
    let response = answer(status, content_type, body)?;
    Ok(response
        .all("return")
        .filter_map(|r| {
            Some(StatusResult {
                forsendelses_id: r.child("forsendelsesid")?.text.trim().to_owned(),
                status: r.child("forsendelseStatus")?.text.trim().to_owned(),
                changed: r.child("sisteStatusEndring").map(|c| c.text.trim().to_owned()),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::model::InfoRecord;

    const ARKIVMELDING: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<arkivmelding xmlns="http://www.arkivverket.no/standarder/noark5/arkivmelding" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <mappe xsi:type="saksmappe">
    <systemID>43fbe161</systemID>
    <basisregistrering xsi:type="journalpost">
      <dokumentbeskrivelse>
        <tilknyttetRegistreringSom>Vedlegg</tilknyttetRegistreringSom>
        <dokumentobjekt><referanseDokumentfil>vedlegg.pdf</referanseDokumentfil></dokumentobjekt>
      </dokumentbeskrivelse>
      <dokumentbeskrivelse>
        <tilknyttetRegistreringSom>Hoveddokument</tilknyttetRegistreringSom>
        <dokumentobjekt><referanseDokumentfil>test.txt</referanseDokumentfil></dokumentobjekt>
      </dokumentbeskrivelse>
      <tittel>Intern</tittel>
      <offentligTittel>Nye lysrør &amp; pærer</offentligTittel>
      <virksomhetsspesifikkeMetadata>
        <forvaltningsnummer>20050</forvaltningsnummer>
        <nested><a>1</a></nested>
        <tom/>
        <objektnavn>Hauketo Skole</objektnavn>
      </virksomhetsspesifikkeMetadata>
      <journalposttype>Utgående dokument</journalposttype>
      <journalstatus>Journalført</journalstatus>
      <journaldato>2017-05-23</journaldato>
      <korrespondansepart>
        <korrespondanseparttype>Avsender</korrespondanseparttype>
        <korrespondansepartNavn>Etaten</korrespondansepartNavn>
        <postadresse>Gate 1</postadresse>
        <postadresse>Bygg B</postadresse>
        <postnummer>0150</postnummer>
        <poststed>Oslo</poststed>
        <saksbehandler>Kari</saksbehandler>
      </korrespondansepart>
    </basisregistrering>
    <saksaar>2017</saksaar>
    <sakssekvensnummer>12</sakssekvensnummer>
  </mappe>
</arkivmelding>"#;

    fn info(id: &str) -> InfoRecord {
        InfoRecord {
            identifier: Some(id.into()),
            organization_name: Some("TEST - C4".into()),
            ..InfoRecord::default()
        }
    }

    fn mapping<'a>(receiver: &'a InfoRecord, sender: &'a InfoRecord) -> Mapping<'a> {
        Mapping {
            message_id: "abc8849c-e281-4809-8555-7cd54952b946".into(),
            forsendelse_type: Some("forsendelsetype-1".into()),
            receiver_ref: Some("not-a-uuid".into()),
            security_level: Some(4),
            sender_org: "910077473".into(),
            receiver_info: Some(receiver),
            sender_info: Some(sender),
            files: vec![
                ("arkivmelding.xml".into(), "application/xml".into()),
                ("test.txt".into(), "text/plain".into()),
                ("vedlegg.pdf".into(), "application/pdf".into()),
            ],
        }
    }

    #[test]
    fn maps_the_journal_post() {
        let jp = crate::arkivmelding::journal_post(ARKIVMELDING.as_bytes()).unwrap();
        let (r, s) = (info("910075924"), info("910077473"));
        let options =
            SvarUtOptions { ekskluderes_fra_print: vec!["txt".into()], ..Default::default() };
        let f = forsendelse(&jp, &mapping(&r, &s), &options).unwrap();
        let names: Vec<_> = f.dokumenter.iter().map(|d| d.filnavn.as_str()).collect();
        assert_eq!(names, ["test.txt", "vedlegg.pdf"]);
        assert!(f.dokumenter[0].ekskluderes_fra_print);
        assert!(!f.dokumenter[1].ekskluderes_fra_print);
        assert_eq!(f.tittel.as_deref(), Some("Nye lysrør & pærer"));
        assert!(f.krev_niva4_innlogging);
        assert_eq!(f.svar_pa_forsendelse, None);
        assert_eq!(f.metadata.journalposttype, "U");
        assert_eq!(f.metadata.journalstatus, "J");
        assert_eq!(f.metadata.journaldato.as_deref(), Some("2017-05-23T00:00:00"));
        assert_eq!((f.metadata.saksaar, f.metadata.sakssekvensnummer), (2017, 12));
        assert_eq!(f.metadata.saksbehandler.as_deref(), Some("Kari"));
        assert_eq!(
            f.metadata.ekstra,
            [
                ("forvaltningsnummer".to_owned(), "20050".to_owned()),
                ("objektnavn".to_owned(), "Hauketo Skole".to_owned())
            ]
        );
        // The Avsender party answers, with our org number.
        assert_eq!(f.svar_sendes_til.orgnr.as_deref(), Some("910077473"));
        assert_eq!(f.svar_sendes_til.post.adresse1.as_deref(), Some("Gate 1 Bygg B"));
        assert_eq!(f.mottaker.post.navn.as_deref(), Some("TEST - C4"));
        assert_eq!(f.mottaker.post.postnr.as_deref(), Some("0192"));
    }

    #[test]
    fn an_unknown_party_type_voids_the_parties() {
        let xml = ARKIVMELDING.replace(
            "<korrespondanseparttype>Avsender</korrespondanseparttype>",
            "<korrespondanseparttype>Tull og tøys</korrespondanseparttype>",
        );
        let jp = crate::arkivmelding::journal_post(xml.as_bytes()).unwrap();
        let (r, s) = (info("910075924"), info("910077473"));
        let f = forsendelse(&jp, &mapping(&r, &s), &SvarUtOptions::default()).unwrap();
        assert_eq!(f.svar_sendes_til.post.navn.as_deref(), Some("TEST - C4"));
        assert_eq!(f.svar_sendes_til.post.poststed.as_deref(), Some("Oslo"));
        assert_eq!(f.metadata.saksbehandler, None);
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let jp = crate::arkivmelding::journal_post(ARKIVMELDING.as_bytes()).unwrap();
        let (r, s) = (info("1"), info("2"));
        let mut m = mapping(&r, &s);
        m.files.truncate(2);
        assert!(matches!(
            forsendelse(&jp, &m, &SvarUtOptions::default()),
            Err(MappingError::MissingFile { .. })
        ));
    }

    #[test]
    fn forsendelses_id_prefers_a_uuid_sender_ref() {
        let m = "abc8849c-e281-4809-8555-7cd54952b936";
        let r = "ec5e72a3-5772-4bd5-aa33-72094951ca4d";
        assert_eq!(forsendelses_id(m, Some(r)), r);
        assert_eq!(forsendelses_id(m, Some("ref-1")), m);
        assert_eq!(forsendelses_id(m, None), m);
    }

    #[test]
    fn the_send_body_parses_back() {
        let jp = crate::arkivmelding::journal_post(ARKIVMELDING.as_bytes()).unwrap();
        let (r, s) = (info("910075924"), info("910077473"));
        let f = forsendelse(&jp, &mapping(&r, &s), &SvarUtOptions::default()).unwrap();
        let parts = send_parts(&f, "id-1", "uuid:b0undary");
        let body = parts.assemble(&[b"one".to_vec(), b"two".to_vec()]);
        let ct = parts.content_type();
        let xml = soap_part(Some(&ct), &body);
        let tree = parse_tree(xml).unwrap();
        let send = tree.find("sendForsendelseMedId").unwrap();
        assert_eq!(send.child("forsendelsesid").unwrap().text, "id-1");
        let fs = send.child("forsendelse").unwrap();
        let docs: Vec<_> = fs.all("dokumenter").collect();
        assert_eq!(docs.len(), 2);
        let href = docs[1].child("data").unwrap().child("Include").unwrap().href.clone();
        assert_eq!(href, Some(format!("cid:{}", document_cid(1))));
        assert!(fs.child("signaturtype").unwrap().nil);
        assert_eq!(fs.child("tittel").unwrap().text, "Nye lysrør & pærer");
        let parsed = multipart_parts(&ct, &body).unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[2].content, b"two");
        assert_eq!(parsed[1].content_id(), Some(document_cid(0).as_str()));
        assert_eq!(parsed[0].content, xml);
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(&format!(
            "Content-ID: <{}>\r\n\r\ntwo\r\n--uuid:b0undary--",
            document_cid(1)
        )));
    }

    #[test]
    fn faults_sort_by_their_text() {
        let fault = |text: &str| {
            format!(
                "<soap:Envelope xmlns:soap=\"{SOAP12}\"><soap:Body><soap:Fault><soap:Code><soap:Value>soap:Receiver</soap:Value></soap:Code><soap:Reason><soap:Text xml:lang=\"en\">{text}</soap:Text></soap:Reason></soap:Fault></soap:Body></soap:Envelope>"
            )
        };
        let dup = fault("Duplikat forsendelse");
        assert!(matches!(parse_sent(500, None, dup.as_bytes()), Err(Failure::Permanent(_))));
        let other = fault("Database nede");
        assert!(matches!(parse_sent(500, None, other.as_bytes()), Err(Failure::Transient(_))));
        assert!(matches!(parse_sent(503, None, b"busy"), Err(Failure::Transient(_))));
        assert!(matches!(parse_sent(200, None, b"<x"), Err(Failure::Transient(_))));
    }

    #[test]
    fn reads_answers_plain_and_multipart() {
        let sent = envelope(&format!(
            "<ns2:sendForsendelseMedIdResponse xmlns:ns2=\"{NAMESPACE}\"><return>f-1</return></ns2:sendForsendelseMedIdResponse>"
        ));
        assert_eq!(parse_sent(200, None, sent.as_bytes()).unwrap(), "f-1");
        let mtom = format!("--b1\r\nContent-Type: application/xop+xml\r\n\r\n{sent}\r\n--b1--\r\n");
        let ct = "multipart/related; type=\"application/xop+xml\"; boundary=\"b1\"";
        assert_eq!(parse_sent(200, Some(ct), mtom.as_bytes()).unwrap(), "f-1");
        let types = envelope(&format!(
            "<ser:retreiveForsendelseTyperResponse xmlns:ser=\"{NAMESPACE}\"><return>a</return><return>b</return></ser:retreiveForsendelseTyperResponse>"
        ));
        assert_eq!(parse_types(200, None, types.as_bytes()).unwrap(), ["a", "b"]);
        let statuses = envelope(&format!(
            "<ns2:retrieveForsendelseStatuserResponse xmlns:ns2=\"{NAMESPACE}\"><return><forsendelseStatus>LEST</forsendelseStatus><forsendelsesid>f-1</forsendelsesid><sisteStatusEndring>2019-03-25T12:00:00+01:00</sisteStatusEndring></return><return><forsendelseStatus>MOTTATT</forsendelseStatus><forsendelsesid>f-2</forsendelsesid></return></ns2:retrieveForsendelseStatuserResponse>"
        ));
        let s = parse_statuses(200, None, statuses.as_bytes()).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s[0].is_read() && !s[1].is_read());
        assert_eq!(s[1].forsendelses_id, "f-2");
    }

    #[test]
    fn requests_carry_basic_auth() {
        let e = SvarUtEndpoint {
            url: "http://x/ws".into(),
            username: "u".into(),
            password: "p".into(),
        };
        let r = statuses_request(&e, &["a".into(), "b&c".into()]);
        assert_eq!(r.header_value("Authorization"), Some("Basic dTpw"));
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert!(body.contains(
            "<forsendelseider>a</forsendelseider><forsendelseider>b&amp;c</forsendelseider>"
        ));
        assert!(
            String::from_utf8_lossy(&types_request(&e).body).contains("retreiveForsendelseTyper")
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Whatever SvarUt (or a proxy) answers, and whatever a client sends the
        /// work-alike, the readers answer with a value or an error, never a panic.
        #[test]
        fn readers_never_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            status in 100u16..600,
            multipart in proptest::prelude::any::<bool>(),
        ) {
            let ct = multipart.then_some("multipart/related; boundary=\"b\"");
            let _ = parse_sent(status, ct, &body);
            let _ = parse_types(status, ct, &body);
            let _ = parse_statuses(status, ct, &body);
            let _ = multipart_parts("multipart/related; boundary=b", &body);
            let _ = parse_tree(&body);
            let _ = crate::arkivmelding::journal_post(&body);
            let _ = crate::transport::svarinn::parse_list(status, &body);
        }

        /// A framed body always splits back into its parts.
        #[test]
        fn mtom_framing_round_trips(
            docs in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 1..200), 0..4),
        ) {
            let f = Forsendelse {
                dokumenter: docs.iter().enumerate().map(|(i, _)| Dokument {
                    filnavn: format!("f{i}.bin"),
                    mimetype: "application/octet-stream".into(),
                    ekskluderes_fra_print: false,
                }).collect(),
                ..Forsendelse::default()
            };
            let parts = send_parts(&f, "id", "uuid:0b1d2a3c-4e5f-4061-8273-a4b5c6d7e8f9");
            let body = parts.assemble(&docs);
            let read = multipart_parts(&parts.content_type(), &body).unwrap();
            proptest::prop_assert_eq!(read.len(), docs.len() + 1);
            for (i, d) in docs.iter().enumerate() {
                proptest::prop_assert_eq!(read[i + 1].content, d.as_slice());
            }
        }
    }
}
