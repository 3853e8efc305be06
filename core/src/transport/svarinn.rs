//! DPF receiving over KS FIKS SvarInn (REST, HTTP Basic): list new forsendelser,
//! download each one's CMS-encrypted zip, and acknowledge it once stored.
//!
//! A forsendelse becomes an arkivmelding message: an SBD ([`sbd_json`]) and an
//! ASiC holding a generated `arkivmelding.xml` ([`arkivmelding_xml`]) followed by
//! the zip's files, both as the reference's `SvarInnNextMoveConverter` makes them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::failure::{Failure, classify};
use crate::node::{HttpRequest, Method};
use crate::sbd::DateTime;
use crate::{Duration, Timestamp};

/// `difi.move.fiks.inn.baseUrl`'s default.
pub const DEFAULT_BASE_URL: &str = "https://test.svarut.ks.no/tjenester/svarinn";
/// `fiks.inn.process` and `fiks.inn.document-type`.
pub const PROCESS: &str = "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0";
pub const DOCUMENT_TYPE: &str = "urn:no:difi:arkivmelding:xsd::arkivmelding";
/// `fiks.inn.fallback-sender-org-nr`.
pub const FALLBACK_SENDER: &str = "999999999";

/// Where SvarInn is and who we are to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SvarInnEndpoint {
    pub base_url: String,
    pub username: String,
    pub password: String,
}

impl SvarInnEndpoint {
    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url.trim_end_matches('/'), path.trim_start_matches('/'))
    }

    fn request(&self, method: Method, url: String) -> HttpRequest {
        let pair = format!("{}:{}", self.username, self.password);
        HttpRequest::new(method, url)
            .header("Authorization", format!("Basic {}", STANDARD.encode(pair.as_bytes())))
    }
}

/// `GET {base}/mottaker/hentNyeForsendelser`.
pub fn list(endpoint: &SvarInnEndpoint) -> HttpRequest {
    endpoint
        .request(Method::Get, endpoint.url("mottaker/hentNyeForsendelser"))
        .header("Accept", "application/json")
}

/// `GET <downloadUrl>`: absolute, or relative to the base URL.
pub fn download(endpoint: &SvarInnEndpoint, download_url: &str) -> HttpRequest {
    let url = if download_url.starts_with("http://") || download_url.starts_with("https://") {
        download_url.to_owned()
    } else {
        endpoint.url(download_url)
    };
    endpoint.request(Method::Get, url)
}

/// `POST {base}/kvitterMottak/forsendelse/{id}`.
pub fn acknowledge(endpoint: &SvarInnEndpoint, id: &str) -> HttpRequest {
    let path = format!("kvitterMottak/forsendelse/{}", super::percent::path_segment(id));
    endpoint.request(Method::Post, endpoint.url(&path))
}

/// Any 2xx acknowledges.
pub fn parse_acknowledged(status: u16, body: &[u8]) -> Result<(), Failure> {
    if (200..300).contains(&status) { Ok(()) } else { Err(classify(status, body)) }
}

/// A party of a forsendelse (`mottaker`, `svarSendesTil`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Party {
    pub adresse1: Option<String>,
    pub postnr: Option<String>,
    pub poststed: Option<String>,
    pub navn: Option<String>,
    pub land: Option<String>,
    pub orgnr: Option<String>,
    pub fnr: Option<String>,
}

/// A number SvarInn may send as a JSON number or a string.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Number {
    Int(i64),
    Text(String),
}

impl Number {
    fn text(&self) -> String {
        match self {
            Number::Int(i) => i.to_string(),
            Number::Text(s) => s.clone(),
        }
    }

    fn millis(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            Number::Text(s) => s.trim().parse().ok(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExtraMetadata {
    pub key: String,
    pub value: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Metadata {
    pub sakssekvensnummer: Option<Number>,
    pub saksaar: Option<Number>,
    pub journalaar: Option<Number>,
    pub journalsekvensnummer: Option<Number>,
    pub journalpostnummer: Option<Number>,
    pub journalposttype: Option<String>,
    pub journalstatus: Option<String>,
    pub journaldato: Option<Number>,
    pub dokumentets_dato: Option<Number>,
    pub tittel: Option<String>,
    pub saks_behandler: Option<String>,
    pub ekstra_metadata: Option<Vec<ExtraMetadata>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FileMetadata {
    pub filnavn: String,
    pub mimetype: Option<String>,
    pub sha256hash: Option<String>,
    pub size: Option<u64>,
}

/// One forsendelse as `hentNyeForsendelser` lists it (the fields we use).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Forsendelse {
    pub id: String,
    #[serde(default)]
    pub tittel: Option<String>,
    pub download_url: String,
    pub mottaker: Party,
    #[serde(default)]
    pub svar_sendes_til: Option<Party>,
    #[serde(default)]
    pub svar_pa_forsendelse: Option<String>,
    #[serde(default)]
    pub metadata_fra_avleverende_system: Option<Metadata>,
    #[serde(default)]
    pub filmetadata: Vec<FileMetadata>,
}

impl Forsendelse {
    /// A file's MIME type as the forsendelse names it.
    pub fn mime_of(&self, name: &str) -> Option<&str> {
        self.filmetadata.iter().find(|f| f.filnavn == name).and_then(|f| f.mimetype.as_deref())
    }
}

/// A listed forsendelse we cannot take: its id when it has one, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub id: Option<String>,
    pub reason: String,
}

/// The listing: each forsendelse read on its own, so one malformed entry does not
/// stop the rest.
pub fn parse_list(
    status: u16,
    body: &[u8],
) -> Result<Vec<Result<Forsendelse, Malformed>>, Failure> {
    if !(200..300).contains(&status) {
        return Err(classify(status, body));
    }
    let items: Vec<serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| Failure::bad_answer("SvarInn", e))?;
    Ok(items
        .into_iter()
        .map(|item| {
            let id = item.get("id").and_then(|v| v.as_str()).map(str::to_owned);
            let parsed: Result<Forsendelse, _> = serde_json::from_value(item);
            match parsed {
                Ok(f) if f.mottaker.orgnr.as_deref().is_none_or(|o| o.trim().is_empty()) => {
                    Err(Malformed { id, reason: "the forsendelse names no receiver".into() })
                }
                Ok(f) if f.id.trim().is_empty() => {
                    Err(Malformed { id, reason: "the forsendelse has no id".into() })
                }
                Ok(f) => Ok(f),
                Err(e) => Err(Malformed { id, reason: e.to_string() }),
            }
        })
        .collect())
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.filter(|v| !v.trim().is_empty())
}

/// The SBD of the arkivmelding a forsendelse becomes: sender `svarSendesTil.orgnr`
/// (or `fallback_sender`), receiver `mottaker.orgnr`, the forsendelse id as both
/// messageId and conversationId, the administrasjon process, and a ReceiverRef
/// scope when it answers another forsendelse.
pub fn sbd_json(
    f: &Forsendelse,
    fallback_sender: &str,
    now: Timestamp,
    ttl: Duration,
) -> serde_json::Value {
    let sender = nonempty(f.svar_sendes_til.as_ref().and_then(|s| s.orgnr.as_deref()))
        .unwrap_or(fallback_sender);
    let receiver = f.mottaker.orgnr.as_deref().unwrap_or_default();
    let party = |org: &str| {
        serde_json::json!([{ "identifier": {
            "authority": "iso6523-actorid-upis", "value": format!("0192:{}", org.trim()) } }])
    };
    let mut scopes = vec![serde_json::json!({
        "type": "ConversationId",
        "instanceIdentifier": f.id,
        "identifier": PROCESS,
        "scopeInformation": [ {
            "expectedResponseDateTime": DateTime::oslo(now + ttl).to_rfc3339() } ],
    })];
    if let Some(r) = nonempty(f.svar_pa_forsendelse.as_deref()) {
        scopes.push(serde_json::json!({ "type": "ReceiverRef", "instanceIdentifier": r }));
    }
    serde_json::json!({
        "standardBusinessDocumentHeader": {
            "headerVersion": "1.0",
            "sender": party(sender),
            "receiver": party(receiver),
            "documentIdentification": {
                "standard": DOCUMENT_TYPE,
                "typeVersion": "2.0",
                "instanceIdentifier": f.id,
                "type": "arkivmelding",
                "creationDateAndTime": DateTime::oslo(now).to_rfc3339(),
            },
            "businessScope": { "scope": scopes },
        },
        "arkivmelding": {},
    })
}

fn journalposttype_text(code: Option<&str>) -> &'static str {
    match code {
        Some("U") => "Utgående dokument",
        Some("S") => "Saksframlegg",
        Some("N") => "Organinternt dokument for oppfølging",
        Some("X") => "Organinternt dokument uten oppfølging",
        _ => "Inngående dokument",
    }
}

fn journalstatus_text(code: Option<&str>) -> &'static str {
    match code {
        Some("E") => "Ekspedert",
        Some("A") => "Arkivert",
        Some("F") => "Godkjent av leder",
        Some("J") => "Journalført",
        Some("U") => "Utgår",
        _ => "Ferdigstilt fra saksbehandler",
    }
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// An XML element name that is safe to write (ekstraMetadata keys become names).
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.to_ascii_lowercase().starts_with("xml")
}

/// The Oslo date of `millis` as xs:date with its offset: `2016-03-21+01:00`.
fn oslo_date(millis: i64) -> String {
    let dt = DateTime::oslo(Timestamp::from_unix_millis(millis)).inner();
    let off = dt.offset();
    let (h, m) = (off.whole_hours(), off.minutes_past_hour().abs());
    let sign = if off.is_negative() { '-' } else { '+' };
    format!(
        "{:04}-{:02}-{:02}{sign}{:02}:{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        h.abs(),
        m
    )
}

/// The start of the Oslo day of `millis` as xs:dateTime: `2016-03-21T00:00:00+01:00`.
fn oslo_start_of_day(millis: i64) -> String {
    let date = oslo_date(millis);
    let (day, zone) = date.split_at(10);
    format!("{day}T00:00:00{zone}")
}

/// Why an arkivmelding could not be made of a forsendelse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConvertError(pub String);

/// The `arkivmelding.xml` for a forsendelse, as the reference's converter makes it
/// (JAXB's element order, a fresh `ids` UUID for each systemID, dates in Oslo
/// time). `now` stands in for missing dates, as the reference's "today".
pub fn arkivmelding_xml(
    f: &Forsendelse,
    mut next_id: impl FnMut() -> String,
    now: Timestamp,
) -> Result<String, ConvertError> {
    let empty = Metadata::default();
    let meta = f.metadata_fra_avleverende_system.as_ref().unwrap_or(&empty);
    let sst = f.svar_sendes_til.clone().unwrap_or_default();
    let number = |n: &Option<Number>, default: &str| -> Result<String, ConvertError> {
        let text = n.as_ref().map(Number::text).unwrap_or_else(|| default.to_owned());
        text.trim()
            .parse::<i64>()
            .map(|v| v.to_string())
            .map_err(|_| ConvertError(format!("not a number: {text}")))
    };
    let now_millis = now.as_unix_millis();
    let journaldato = meta.journaldato.as_ref().and_then(Number::millis).unwrap_or(now_millis);
    let dokumentets_dato = meta.dokumentets_dato.as_ref().and_then(Number::millis);
    let tidspunkt = match dokumentets_dato {
        Some(d) => oslo_start_of_day(d),
        None => DateTime::oslo(now).to_rfc3339(),
    };
    let title =
        nonempty(meta.tittel.as_deref()).or(f.tittel.as_deref()).unwrap_or_default().to_owned();
    let title = match nonempty(sst.fnr.as_deref()) {
        Some(fnr) => format!("{title} (eDialog fra {fnr})"),
        None => title,
    };
    let folder_id = next_id();
    let post_id = next_id();
    let mut o = String::with_capacity(2048);
    o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n");
    o.push_str("<arkivmelding xmlns=\"http://www.arkivverket.no/standarder/noark5/arkivmelding\">");
    o.push_str("<system>Integrasjonspunkt</system>");
    o.push_str(&format!("<meldingId>{}</meldingId>", esc(&f.id)));
    o.push_str(&format!("<tidspunkt>{tidspunkt}</tidspunkt>"));
    o.push_str("<antallFiler>0</antallFiler>");
    o.push_str(
        "<mappe xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"saksmappe\">",
    );
    o.push_str(&format!("<systemID>{folder_id}</systemID>"));
    o.push_str("<basisregistrering xsi:type=\"journalpost\">");
    o.push_str(&format!("<systemID>{post_id}</systemID>"));
    for file in &f.filmetadata {
        o.push_str(&format!(
            "<dokumentbeskrivelse><systemID>{}</systemID><tittel>{}</tittel>\
             <dokumentobjekt><referanseDokumentfil>{}</referanseDokumentfil></dokumentobjekt>\
             </dokumentbeskrivelse>",
            next_id(),
            esc(&file.filnavn),
            esc(&file.filnavn)
        ));
    }
    o.push_str(&format!("<tittel>{}</tittel>", esc(&title)));
    if let Some(t) = &f.tittel {
        o.push_str(&format!("<offentligTittel>{}</offentligTittel>", esc(t)));
    }
    if let Some(extra) = meta.ekstra_metadata.as_ref().filter(|e| !e.is_empty()) {
        o.push_str("<virksomhetsspesifikkeMetadata>");
        for e in extra {
            if !valid_name(&e.key) {
                return Err(ConvertError(format!(
                    "ekstraMetadata key {:?} cannot be an XML element",
                    e.key
                )));
            }
            let v = esc(e.value.as_deref().unwrap_or_default());
            o.push_str(&format!("<{k}>{v}</{k}>", k = e.key));
        }
        o.push_str("</virksomhetsspesifikkeMetadata>");
    }
    o.push_str(&format!("<journalaar>{}</journalaar>", {
        let year = DateTime::oslo(now).inner().year().to_string();
        number(&meta.journalaar, &year)?
    }));
    o.push_str(&format!(
        "<journalsekvensnummer>{}</journalsekvensnummer>",
        number(&meta.journalsekvensnummer, "0")?
    ));
    o.push_str(&format!(
        "<journalpostnummer>{}</journalpostnummer>",
        number(&meta.journalpostnummer, "0")?
    ));
    o.push_str(&format!(
        "<journalposttype>{}</journalposttype>",
        journalposttype_text(meta.journalposttype.as_deref())
    ));
    o.push_str(&format!(
        "<journalstatus>{}</journalstatus>",
        journalstatus_text(meta.journalstatus.as_deref())
    ));
    o.push_str(&format!("<journaldato>{}</journaldato>", oslo_date(journaldato)));
    if let Some(d) = dokumentets_dato {
        o.push_str(&format!("<dokumentetsDato>{}</dokumentetsDato>", oslo_date(d)));
    }
    o.push_str("<korrespondansepart><korrespondanseparttype>Avsender</korrespondanseparttype>");
    let opt = |o: &mut String, name: &str, v: &Option<String>| {
        if let Some(v) = v {
            o.push_str(&format!("<{name}>{}</{name}>", esc(v)));
        }
    };
    opt(&mut o, "korrespondansepartNavn", &sst.navn);
    opt(&mut o, "postadresse", &sst.adresse1);
    opt(&mut o, "postnummer", &sst.postnr);
    opt(&mut o, "poststed", &sst.poststed);
    opt(&mut o, "land", &sst.land);
    o.push_str("</korrespondansepart></basisregistrering>");
    o.push_str(&format!("<saksaar>{}</saksaar>", number(&meta.saksaar, "0")?));
    o.push_str(&format!(
        "<sakssekvensnummer>{}</sakssekvensnummer>",
        number(&meta.sakssekvensnummer, "0")?
    ));
    opt(&mut o, "saksansvarlig", &meta.saks_behandler);
    o.push_str("</mappe></arkivmelding>");
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = r#"[
      {"mottaker": {"orgnr": "910077473", "navn": "Sømådalen"},
       "id": "81264cfa-1ba5-4fb5-a95d-48c824ed3bbb", "tittel": "Test4",
       "metadataFraAvleverendeSystem": {"sakssekvensnummer": 1, "saksaar": 2016,
         "journalaar": 2016, "journalsekvensnummer": 25, "journalpostnummer": 13,
         "journalposttype": "U", "journalstatus": "F", "journaldato": 1458514800000,
         "dokumentetsDato": 1458514800000, "tittel": "Test4 - liten fil", "saksBehandler": null,
         "ekstraMetadata": []},
       "filmetadata": [{"filnavn": "primary.html", "mimetype": "text/html"},
                       {"filnavn": "b.txt", "mimetype": "text/plain"}],
       "svarSendesTil": {"adresse1": "Pb 253", "postnr": "9951", "poststed": "VARDØ",
         "navn": "Kontoret", "land": "", "orgnr": "910229028", "fnr": null},
       "svarPaForsendelse": null,
       "downloadUrl": "/mottaker/forsendelse/81264cfa-1ba5-4fb5-a95d-48c824ed3bbb"},
      {"id": "broken", "mottaker": 7},
      {"tittel": "no id at all"}
    ]"#;

    fn endpoint() -> SvarInnEndpoint {
        SvarInnEndpoint {
            base_url: "http://fiks/svarinn/".into(),
            username: "u".into(),
            password: "p".into(),
        }
    }

    #[test]
    fn a_malformed_entry_stands_alone() {
        let list = parse_list(200, LISTING.as_bytes()).unwrap();
        assert_eq!(list.len(), 3);
        let f = list[0].as_ref().unwrap();
        assert_eq!(f.mime_of("b.txt"), Some("text/plain"));
        assert_eq!(list[1].as_ref().unwrap_err().id.as_deref(), Some("broken"));
        assert_eq!(list[2].as_ref().unwrap_err().id, None);
        assert!(parse_list(401, b"").unwrap_err().is_transient());
        assert!(parse_list(200, b"{}").is_err());
    }

    #[test]
    fn requests() {
        let e = endpoint();
        assert_eq!(list(&e).url, "http://fiks/svarinn/mottaker/hentNyeForsendelser");
        assert_eq!(
            download(&e, "/mottaker/forsendelse/1").url,
            "http://fiks/svarinn/mottaker/forsendelse/1"
        );
        assert_eq!(download(&e, "https://x/y").url, "https://x/y");
        let ack = acknowledge(&e, "a/b");
        assert_eq!(ack.url, "http://fiks/svarinn/kvitterMottak/forsendelse/a%2Fb");
        assert_eq!(ack.method, Method::Post);
        assert_eq!(ack.header_value("Authorization"), Some("Basic dTpw"));
    }

    #[test]
    fn the_sbd() {
        let list = parse_list(200, LISTING.as_bytes()).unwrap();
        let f = list[0].as_ref().unwrap();
        let now = Timestamp::from_unix_millis(1_553_513_898_000);
        let sbd = sbd_json(f, FALLBACK_SENDER, now, Duration::from_hours(24));
        let h = &sbd["standardBusinessDocumentHeader"];
        assert_eq!(h["sender"][0]["identifier"]["value"], "0192:910229028");
        assert_eq!(h["receiver"][0]["identifier"]["value"], "0192:910077473");
        assert_eq!(h["documentIdentification"]["instanceIdentifier"], f.id.as_str());
        assert_eq!(h["documentIdentification"]["creationDateAndTime"], "2019-03-25T12:38:18+01:00");
        let scope = &h["businessScope"]["scope"][0];
        assert_eq!(
            scope["scopeInformation"][0]["expectedResponseDateTime"],
            "2019-03-26T12:38:18+01:00"
        );
        assert_eq!(h["businessScope"]["scope"].as_array().unwrap().len(), 1);
        let mut no_sender = f.clone();
        no_sender.svar_sendes_til = None;
        no_sender.svar_pa_forsendelse = Some("27991054-77b4-48ed-bf9b-ae36bb1b41d1".into());
        let sbd = sbd_json(&no_sender, FALLBACK_SENDER, now, Duration::from_hours(24));
        let h = &sbd["standardBusinessDocumentHeader"];
        assert_eq!(h["sender"][0]["identifier"]["value"], "0192:999999999");
        assert_eq!(h["businessScope"]["scope"][1]["type"], "ReceiverRef");
    }

    #[test]
    fn the_arkivmelding() {
        let list = parse_list(200, LISTING.as_bytes()).unwrap();
        let f = list[0].as_ref().unwrap();
        let mut n = 0;
        let xml = arkivmelding_xml(
            f,
            || {
                n += 1;
                format!("id-{n}")
            },
            Timestamp::from_unix_millis(0),
        )
        .unwrap();
        for part in [
            "<tidspunkt>2016-03-21T00:00:00+01:00</tidspunkt>",
            "<journaldato>2016-03-21+01:00</journaldato>",
            "<dokumentetsDato>2016-03-21+01:00</dokumentetsDato>",
            "<journalposttype>Utgående dokument</journalposttype>",
            "<journalstatus>Godkjent av leder</journalstatus>",
            "<tittel>Test4 - liten fil</tittel><offentligTittel>Test4</offentligTittel>",
            "<postadresse>Pb 253</postadresse><postnummer>9951</postnummer><poststed>VARDØ</poststed><land></land>",
            "<saksaar>2016</saksaar><sakssekvensnummer>1</sakssekvensnummer></mappe>",
            "<systemID>id-3</systemID><tittel>primary.html</tittel>",
        ] {
            assert!(xml.contains(part), "{part} not in {xml}");
        }
        assert!(
            crate::arkivmelding::referenced_files(xml.as_bytes()).unwrap()
                == ["primary.html", "b.txt"]
        );
        let mut bad = f.clone();
        if let Some(m) = bad.metadata_fra_avleverende_system.as_mut() {
            m.ekstra_metadata = Some(vec![ExtraMetadata { key: "<x".into(), value: None }]);
        }
        assert!(arkivmelding_xml(&bad, || "x".into(), Timestamp::from_unix_millis(0)).is_err());
    }
}
