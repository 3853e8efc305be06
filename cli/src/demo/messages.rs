//! What the two fagsystems send: the SBDs, the `arkivmelding.xml` each arkivmelding
//! carries, the files, and B's receipt. Every id is drawn before anything is sent,
//! so that the timeline can name each status as soon as it appears.

use std::fmt;

use efm_core::sbd::MessageType;
use efm_core::sbd::status_reply::{ARKIVMELDING_RECEIPT_PROCESS, EINNSYN_RECEIPT_PROCESS};
use ring::rand::SecureRandom;
use serde_json::{Value, json};

use super::DemoError;

pub const ARKIVMELDING_PROCESS: &str = "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0";
pub const INNSYNSKRAV_PROCESS: &str = "urn:no:difi:profile:einnsyn-innsynskrav:ver1.0";
pub const RECEIPT_PROCESS: &str = ARKIVMELDING_RECEIPT_PROCESS;
pub const EINNSYN_RESPONSE_PROCESS: &str = EINNSYN_RECEIPT_PROCESS;
/// The process of digital post: to a citizen over DPI, and `digital_dpv` over DPV.
pub const DIGITAL_POST_PROCESS: &str = "urn:no:difi:profile:digitalpost:info:ver1.0";

/// The file every arkivmelding carries, naming the others.
const ARKIVMELDING_XML: &str = "arkivmelding.xml";

/// One side of the exchange: its integration point and its fagsystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    A,
    B,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::A => "A",
            Side::B => "B",
        })
    }
}

/// What a message is in the demo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The arkivmelding with a primary document and two attachments, over DPO; B
    /// answers it with a receipt.
    Documents,
    /// The innsynskrav with its order file, over DPE.
    Innsynskrav,
    /// One of the small arkivmeldinger that follow.
    Stream,
    /// B's arkivmelding_kvittering for [`Role::Documents`], back to A.
    Kvittering,
    /// A's `digital_dpv` to a receiver on DPV (Altinn 3 Correspondence).
    Dpv,
    /// A's arkivmelding to a receiver on DPF (KS FIKS SvarUt).
    Dpf,
    /// A's digital post to a citizen on DPI.
    Dpi,
}

impl Role {
    /// Who sends a message of this role.
    pub fn sender(self) -> Side {
        match self {
            Role::Kvittering => Side::B,
            _ => Side::A,
        }
    }

    /// The service a leg to a receiver other than B goes over.
    pub fn other_service(self) -> Option<&'static str> {
        match self {
            Role::Dpv => Some("DPV"),
            Role::Dpf => Some("DPF"),
            Role::Dpi => Some("DPI"),
            _ => None,
        }
    }

    /// Whether B receives a message of this role.
    pub fn to_b(self) -> bool {
        matches!(self, Role::Documents | Role::Innsynskrav | Role::Stream)
    }
}

pub struct File {
    pub name: String,
    pub mime: &'static str,
    pub content: Vec<u8>,
}

/// A message as A's fagsystem sends it.
pub struct Message {
    pub id: String,
    pub role: Role,
    pub sbd: Value,
    pub files: Vec<File>,
}

impl Message {
    pub fn file_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.content.len() as u64).sum()
    }

    /// How the timeline names it: its type and how many files it carries.
    pub fn label(&self) -> String {
        let kind = self.sbd["standardBusinessDocumentHeader"]["documentIdentification"]["type"]
            .as_str()
            .unwrap_or("message");
        // The legs to other receivers name their service: the kinds repeat.
        let kind = match self.role.other_service() {
            Some(service) => format!("{service} {kind}"),
            None => kind.to_owned(),
        };
        match self.files.len() {
            0 => kind,
            1 => format!("{kind}, 1 file"),
            n => format!("{kind}, {n} files"),
        }
    }
}

/// Every message of one run.
pub struct Plan {
    pub documents: Message,
    pub innsynskrav: Message,
    pub stream: Vec<Message>,
    /// B's receipt for `documents`: built when B has taken that message.
    pub kvittering: Message,
    /// The legs to the receivers on DPV, DPF and DPI, in that order.
    pub others: Vec<Message>,
}

/// The two organisations, and the receivers on DPV, DPF and DPI, by number.
#[derive(Clone, Copy)]
pub struct Parties<'a> {
    pub a: &'a str,
    pub b: &'a str,
    pub dpv: &'a str,
    pub dpf: &'a str,
    pub citizen: &'a str,
}

impl Plan {
    pub fn new(
        parties: Parties<'_>,
        stream: u32,
        now: &str,
        rng: &dyn SecureRandom,
    ) -> Result<Plan, DemoError> {
        let Parties { a, b, dpv, dpf, citizen } = parties;
        let documents = documents(a, b, now, rng)?;
        let innsynskrav = innsynskrav(a, b, rng)?;
        let stream =
            (1..=stream).map(|n| small(a, b, n, stream, now, rng)).collect::<Result<_, _>>()?;
        let kvittering = kvittering(b, a, &documents.id, rng)?;
        let others =
            vec![to_dpv(a, dpv, rng)?, to_dpf(a, dpf, now, rng)?, to_citizen(a, citizen, rng)?];
        Ok(Plan { documents, innsynskrav, stream, kvittering, others })
    }

    /// Everything A sends, in the order it sends it: the legs to other receivers
    /// right after the first two, so that they go alongside the stream.
    pub fn sent_by_a(&self) -> impl Iterator<Item = &Message> {
        [&self.documents, &self.innsynskrav].into_iter().chain(&self.others).chain(&self.stream)
    }

    /// What A sends B.
    pub fn to_b(&self) -> impl Iterator<Item = &Message> {
        self.sent_by_a().filter(|m| m.role.to_b())
    }

    pub fn all(&self) -> impl Iterator<Item = &Message> {
        self.sent_by_a().chain([&self.kvittering])
    }

    pub fn by_id(&self, id: &str) -> Option<&Message> {
        self.all().find(|m| m.id == id)
    }
}

/// `n small arkivmeldinger`, in the singular for one.
pub fn small_arkivmeldinger(n: usize) -> String {
    let plural = if n == 1 { "" } else { "er" };
    format!("{n} small arkivmelding{plural}")
}

fn uuid(rng: &dyn SecureRandom) -> Result<String, DemoError> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes).map_err(|_| DemoError::Randomness)?;
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid().to_string())
}

/// An SBD from `from` to `to` with a new conversation, as a fagsystem writes one.
fn sbd(
    from: &str,
    to: &str,
    process: &str,
    kind: MessageType,
    message_id: &str,
    body: Value,
    rng: &dyn SecureRandom,
) -> Result<Value, DemoError> {
    // An organisation goes by its ICD; a person (11 digits) by the number alone.
    let party = |id: &str| {
        let value = if id.len() == 11 { id.to_owned() } else { format!("0192:{id}") };
        json!([{ "identifier": { "authority": "iso6523-actorid-upis", "value": value } }])
    };
    Ok(json!({
        "standardBusinessDocumentHeader": {
            "businessScope": { "scope": [{
                "identifier": process,
                "instanceIdentifier": uuid(rng)?,
                "type": "ConversationId"
            }]},
            "documentIdentification": {
                "instanceIdentifier": message_id,
                "standard": kind.default_standard(),
                "type": kind.name(),
                "typeVersion": "2.0"
            },
            "headerVersion": "1.0",
            "receiver": party(to),
            "sender": party(from)
        },
        kind.name(): body
    }))
}

/// A Noark 5 arkivmelding naming `documents` (file name, and whether it is the
/// journal post's main document or an attachment).
fn arkivmelding_xml(id: &str, now: &str, title: &str, documents: &[(&str, bool)]) -> Vec<u8> {
    let mut described = String::new();
    for (name, main) in documents {
        let role = if *main { "Hoveddokument" } else { "Vedlegg" };
        described.push_str(&format!(
            "      <dokumentbeskrivelse>\n        <tittel>{name}</tittel>\n        \
             <tilknyttetRegistreringSom>{role}</tilknyttetRegistreringSom>\n        \
             <dokumentobjekt>\n          <referanseDokumentfil>{name}</referanseDokumentfil>\n        \
             </dokumentobjekt>\n      </dokumentbeskrivelse>\n"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <arkivmelding xmlns=\"http://www.arkivverket.no/standarder/noark5/arkivmelding\">\n  \
         <system>efm demo</system>\n  <meldingId>{id}</meldingId>\n  <tidspunkt>{now}</tidspunkt>\n  \
         <antallFiler>{count}</antallFiler>\n  <mappe>\n    <tittel>{title}</tittel>\n    \
         <basisregistrering>\n{described}      <tittel>{title}</tittel>\n      \
         <offentligTittel>{title}</offentligTittel>\n    </basisregistrering>\n  </mappe>\n\
         </arkivmelding>\n",
        count = documents.len()
    )
    .into_bytes()
}

/// `lines` numbered lines of `text`: content whose every byte B can check.
fn text(text: &str, lines: usize) -> Vec<u8> {
    (1..=lines).map(|n| format!("{n:05} {text}\n")).collect::<String>().into_bytes()
}

fn documents(a: &str, b: &str, now: &str, rng: &dyn SecureRandom) -> Result<Message, DemoError> {
    let id = uuid(rng)?;
    let sbd = sbd(
        a,
        b,
        ARKIVMELDING_PROCESS,
        MessageType::Arkivmelding,
        &id,
        json!({ "hoveddokument": ARKIVMELDING_XML, "sikkerhetsnivaa": 3 }),
        rng,
    )?;
    let xml = arkivmelding_xml(
        &id,
        now,
        "Vedtak om tilskudd",
        &[("vedtak.txt", true), ("vedlegg-1.txt", false), ("vedlegg-2.csv", false)],
    );
    let files = vec![
        File { name: ARKIVMELDING_XML.into(), mime: "application/xml", content: xml },
        File {
            name: "vedtak.txt".into(),
            mime: "text/plain",
            content: text("Vedtak: tilskudd innvilget etter søknad.", 1200),
        },
        File {
            name: "vedlegg-1.txt".into(),
            mime: "text/plain",
            content: text("Vedlegg 1: søknaden.", 400),
        },
        File {
            name: "vedlegg-2.csv".into(),
            mime: "text/csv",
            content: text("post;beløp;1000", 200),
        },
    ];
    Ok(Message { id, role: Role::Documents, sbd, files })
}

fn innsynskrav(a: &str, b: &str, rng: &dyn SecureRandom) -> Result<Message, DemoError> {
    let id = uuid(rng)?;
    let sbd = sbd(
        a,
        b,
        INNSYNSKRAV_PROCESS,
        MessageType::Innsynskrav,
        &id,
        json!({ "orgnr": b, "epost": "innsyn@example.org" }),
        rng,
    )?;
    let order = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<innsynskrav>\n  <id>{id}</id>\n  \
         <bestillingsdato>2026-01-01</bestillingsdato>\n  <dokumenter>\n    \
         <dokument journalnr=\"2026/1\" tittel=\"Vedtak om tilskudd\"/>\n  </dokumenter>\n\
         </innsynskrav>\n"
    );
    let files =
        vec![File { name: "order.xml".into(), mime: "application/xml", content: order.into() }];
    Ok(Message { id, role: Role::Innsynskrav, sbd, files })
}

fn small(
    a: &str,
    b: &str,
    n: u32,
    of: u32,
    now: &str,
    rng: &dyn SecureRandom,
) -> Result<Message, DemoError> {
    let id = uuid(rng)?;
    let sbd = sbd(
        a,
        b,
        ARKIVMELDING_PROCESS,
        MessageType::Arkivmelding,
        &id,
        json!({ "hoveddokument": ARKIVMELDING_XML, "sikkerhetsnivaa": 3 }),
        rng,
    )?;
    let note = format!("notat-{n:04}.txt");
    let xml = arkivmelding_xml(&id, now, &format!("Notat {n} av {of}"), &[(&note, true)]);
    let files = vec![
        File { name: ARKIVMELDING_XML.into(), mime: "application/xml", content: xml },
        File { name: note, mime: "text/plain", content: text(&format!("Notat {n}."), 2) },
    ];
    Ok(Message { id, role: Role::Stream, sbd, files })
}

/// A `digital_dpv` with a letter, to a receiver on DPV.
fn to_dpv(a: &str, to: &str, rng: &dyn SecureRandom) -> Result<Message, DemoError> {
    let id = uuid(rng)?;
    let body = json!({
        "tittel": "Svar på søknad",
        "sammendrag": "Søknaden er innvilget",
        "innhold": "Se vedlagte brev."
    });
    let sbd = sbd(a, to, DIGITAL_POST_PROCESS, MessageType::DigitalDpv, &id, body, rng)?;
    let files = vec![File {
        name: "brev.txt".into(),
        mime: "text/plain",
        content: text("Søknaden om tilskudd er innvilget.", 40),
    }];
    Ok(Message { id, role: Role::Dpv, sbd, files })
}

/// An arkivmelding with one document, to a receiver on DPF.
fn to_dpf(a: &str, to: &str, now: &str, rng: &dyn SecureRandom) -> Result<Message, DemoError> {
    let id = uuid(rng)?;
    let body = json!({ "hoveddokument": ARKIVMELDING_XML, "sikkerhetsnivaa": 3 });
    let sbd = sbd(a, to, ARKIVMELDING_PROCESS, MessageType::Arkivmelding, &id, body, rng)?;
    let xml = arkivmelding_xml(&id, now, "Melding om vedtak", &[("melding.txt", true)]);
    let files = vec![
        File { name: ARKIVMELDING_XML.into(), mime: "application/xml", content: xml },
        File {
            name: "melding.txt".into(),
            mime: "text/plain",
            content: text("Melding om vedtak i saken.", 100),
        },
    ];
    Ok(Message { id, role: Role::Dpf, sbd, files })
}

/// Digital post with a letter to a citizen, asking for an opening receipt.
fn to_citizen(a: &str, citizen: &str, rng: &dyn SecureRandom) -> Result<Message, DemoError> {
    let id = uuid(rng)?;
    let body = json!({
        "sikkerhetsnivaa": 3, "hoveddokument": "brev.pdf", "tittel": "Vedtak", "spraak": "NO",
        "digitalPostInfo": { "virkningsdato": "2026-01-01", "aapningskvittering": true }
    });
    let sbd = sbd(a, citizen, DIGITAL_POST_PROCESS, MessageType::Digital, &id, body, rng)?;
    let files = vec![File {
        name: "brev.pdf".into(),
        mime: "application/pdf",
        content: b"%PDF-1.4 Vedtak: tilskudd innvilget.".to_vec(),
    }];
    Ok(Message { id, role: Role::Dpi, sbd, files })
}

/// The receipt an archive sends when it has journaled a message: `OK`, naming the
/// message it answers. It carries no files.
fn kvittering(
    from: &str,
    to: &str,
    related: &str,
    rng: &dyn SecureRandom,
) -> Result<Message, DemoError> {
    let id = uuid(rng)?;
    let sbd = sbd(
        from,
        to,
        RECEIPT_PROCESS,
        MessageType::ArkivmeldingKvittering,
        &id,
        json!({ "receiptType": "OK", "relatedToMessageId": related }),
        rng,
    )?;
    Ok(Message { id, role: Role::Kvittering, sbd, files: Vec::new() })
}

/// The parties of the unit tests.
#[cfg(test)]
pub const PARTIES: Parties<'static> = Parties {
    a: "910077473",
    b: "910075918",
    dpv: "17912099997",
    dpf: "910075924",
    citizen: "09118532322",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_arkivmelding_names_exactly_its_other_files() {
        let rng = ring::rand::SystemRandom::new();
        let plan = Plan::new(PARTIES, 3, "2026-01-01T12:00:00", &rng).unwrap();
        assert_eq!(plan.stream.len(), 3);
        let arkivmeldinger = [Role::Documents, Role::Stream, Role::Dpf];
        for m in plan.sent_by_a().filter(|m| arkivmeldinger.contains(&m.role)) {
            let xml = &m.files[0];
            assert_eq!(xml.name, ARKIVMELDING_XML);
            let mut named = efm_core::arkivmelding::referenced_files(&xml.content).unwrap();
            named.sort();
            let mut others: Vec<String> = m.files[1..].iter().map(|f| f.name.clone()).collect();
            others.sort();
            assert_eq!(named, others, "{}", m.label());
        }
        let k = &plan.kvittering.sbd["arkivmelding_kvittering"];
        assert_eq!(k["relatedToMessageId"], plan.documents.id.as_str());
        assert_eq!(plan.kvittering.role.sender(), Side::B);
        let ids: std::collections::HashSet<&str> = plan.all().map(|m| m.id.as_str()).collect();
        assert_eq!(ids.len(), 9, "ids are distinct");
        assert_eq!(plan.to_b().count(), 5);
        let citizen = &plan.others[2].sbd["standardBusinessDocumentHeader"]["receiver"][0];
        assert_eq!(citizen["identifier"]["value"], PARTIES.citizen, "a person has no ICD");
        assert_eq!(plan.others[1].label(), "DPF arkivmelding, 2 files");
    }
}
