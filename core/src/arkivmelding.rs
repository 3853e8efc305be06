//! The Noark 5 `arkivmelding.xml` an arkivmelding message carries: what the
//! integration point reads from it. Only what is needed is read, with the same
//! refusals as the SBD reader (no DTDs, no entities but the predefined ones).

use quick_xml::events::Event;
use quick_xml::reader::Reader;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Unable to unmarshal arkivmelding: {0}")]
pub struct ArkivmeldingError(pub String);

/// The file names its `dokumentobjekt/referanseDokumentfil` elements name, in order.
pub fn referenced_files(xml: &[u8]) -> Result<Vec<String>, ArkivmeldingError> {
    let text = std::str::from_utf8(xml).map_err(|_| ArkivmeldingError("not UTF-8".into()))?;
    let mut reader = Reader::from_str(text);
    let mut files = Vec::new();
    let mut in_reference = false;
    let mut current = String::new();
    let mut depth = 0usize;
    let mut saw_root = false;
    loop {
        match reader.read_event().map_err(|e| ArkivmeldingError(e.to_string()))? {
            Event::DocType(_) => return Err(ArkivmeldingError("DTDs are not accepted".into())),
            Event::Start(e) => {
                if !saw_root && e.local_name().as_ref() != "arkivmelding" {
                    return Err(ArkivmeldingError(format!(
                        "the root element is {}",
                        e.local_name().as_ref()
                    )));
                }
                saw_root = true;
                depth += 1;
                in_reference = e.local_name().as_ref() == "referanseDokumentfil";
                current.clear();
            }
            Event::End(_) => {
                if in_reference {
                    files.push(current.trim().to_owned());
                }
                in_reference = false;
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) if in_reference => current.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let c = crate::xml_reference::resolve(&r).map_err(ArkivmeldingError)?;
                if in_reference {
                    current.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root || depth != 0 {
        return Err(ArkivmeldingError("truncated or empty document".into()));
    }
    Ok(files)
}

/// What the conversation shows of an arkivmelding: the journal post's public title,
/// and `<saksmappe systemID>-<journalpostnummer>` when the post has a number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConversationFields {
    pub title: Option<String>,
    pub reference: Option<String>,
}

/// Read the case folder's id and the first journal post's title and number.
pub fn conversation_fields(xml: &[u8]) -> Result<ConversationFields, ArkivmeldingError> {
    let text = std::str::from_utf8(xml).map_err(|_| ArkivmeldingError("not UTF-8".into()))?;
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut current = String::new();
    let (mut folder_id, mut title, mut number) = (None, None, None);
    loop {
        match reader.read_event().map_err(|e| ArkivmeldingError(e.to_string()))? {
            Event::DocType(_) => return Err(ArkivmeldingError("DTDs are not accepted".into())),
            Event::Start(e) => {
                path.push(e.local_name().as_ref().to_owned());
                current.clear();
            }
            Event::Text(t) => current.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                current.push(crate::xml_reference::resolve(&r).map_err(ArkivmeldingError)?)
            }
            Event::End(_) => {
                let names: Vec<&str> = path.iter().map(String::as_str).collect();
                let value = || Some(current.trim().to_owned()).filter(|v| !v.is_empty());
                match names.as_slice() {
                    ["arkivmelding", "mappe", "systemID"] if folder_id.is_none() => {
                        folder_id = value()
                    }
                    ["arkivmelding", "mappe", "basisregistrering", "offentligTittel"]
                        if title.is_none() =>
                    {
                        title = value()
                    }
                    ["arkivmelding", "mappe", "basisregistrering", "journalpostnummer"]
                        if number.is_none() =>
                    {
                        number = value()
                    }
                    _ => {}
                }
                path.pop();
                current.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !path.is_empty() {
        return Err(ArkivmeldingError("truncated document".into()));
    }
    let reference = folder_id.zip(number).map(|(f, n)| format!("{f}-{n}"));
    Ok(ConversationFields { title, reference })
}

/// The first journal post's `tittel` and `offentligTittel` (a DPV correspondence's
/// texts), as the reference takes them: from the case folder's first
/// `basisregistrering`, or a `registrering` straight under the root.
pub fn journal_post_titles(
    xml: &[u8],
) -> Result<(Option<String>, Option<String>), ArkivmeldingError> {
    let text = std::str::from_utf8(xml).map_err(|_| ArkivmeldingError("not UTF-8".into()))?;
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut current = String::new();
    let (mut title, mut public_title) = (None, None);
    // Set once the first journal post has ended: later ones are not read.
    let mut done = false;
    loop {
        match reader.read_event().map_err(|e| ArkivmeldingError(e.to_string()))? {
            Event::DocType(_) => return Err(ArkivmeldingError("DTDs are not accepted".into())),
            Event::Start(e) => {
                path.push(e.local_name().as_ref().to_owned());
                current.clear();
            }
            Event::Text(t) => current.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                current.push(crate::xml_reference::resolve(&r).map_err(ArkivmeldingError)?)
            }
            Event::End(_) => {
                let names: Vec<&str> = path.iter().map(String::as_str).collect();
                let value = || Some(current.trim().to_owned()).filter(|v| !v.is_empty());
                let post = matches!(
                    names.as_slice(),
                    ["arkivmelding", "mappe", "basisregistrering", ..]
                        | ["arkivmelding", "registrering", ..]
                );
                if post && !done {
                    match names.as_slice() {
                        [.., "basisregistrering" | "registrering", "tittel"] => title = value(),
                        [.., "basisregistrering" | "registrering", "offentligTittel"] => {
                            public_title = value()
                        }
                        [.., "basisregistrering" | "registrering"] => done = true,
                        _ => {}
                    }
                }
                path.pop();
                current.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !path.is_empty() {
        return Err(ArkivmeldingError("truncated document".into()));
    }
    Ok((title, public_title))
}

/// A korrespondansepart of a journal post.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Korrespondansepart {
    /// As written; `None` when absent.
    pub kind: Option<String>,
    pub name: Option<String>,
    /// Every `postadresse` line, in order.
    pub address_lines: Vec<String>,
    pub postal_code: Option<String>,
    pub postal_area: Option<String>,
    pub country: Option<String>,
    pub case_officer: Option<String>,
}

/// A dokumentbeskrivelse: whether it is the main document, and the files its
/// dokumentobjekt elements name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dokumentbeskrivelse {
    pub role: Option<String>,
    pub files: Vec<String>,
}

/// What a message service that carries archive metadata (SvarUt) reads of an
/// arkivmelding: the first case folder's numbers and its first journal post.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalPost {
    pub saksaar: Option<String>,
    pub sakssekvensnummer: Option<String>,
    pub journalaar: Option<String>,
    pub journalsekvensnummer: Option<String>,
    pub journalpostnummer: Option<String>,
    pub journalposttype: Option<String>,
    pub journalstatus: Option<String>,
    pub journaldato: Option<String>,
    pub dokumentets_dato: Option<String>,
    pub tittel: Option<String>,
    pub offentlig_tittel: Option<String>,
    pub korrespondanseparter: Vec<Korrespondansepart>,
    /// The simple children (text only) of `virksomhetsspesifikkeMetadata`, in order;
    /// children with elements of their own or no text are left out, as the reference
    /// leaves them out.
    pub extra: Vec<(String, String)>,
    pub dokumenter: Vec<Dokumentbeskrivelse>,
}

/// Read the first case folder and its first journal post.
pub fn journal_post(xml: &[u8]) -> Result<JournalPost, ArkivmeldingError> {
    let text = std::str::from_utf8(xml).map_err(|_| ArkivmeldingError("not UTF-8".into()))?;
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut out = JournalPost::default();
    // Which basisregistrering we are in: only the first counts.
    let mut registrations = 0usize;
    let mut folders = 0usize;
    // A virksomhetsspesifikkeMetadata child: (raw name, had element children).
    let mut extra_child: Option<(String, bool)> = None;
    let mut saw_root = false;
    loop {
        let event = reader.read_event().map_err(|e| ArkivmeldingError(e.to_string()))?;
        match event {
            Event::DocType(_) => return Err(ArkivmeldingError("DTDs are not accepted".into())),
            Event::Start(e) => {
                if path.is_empty() && e.local_name().as_ref() != "arkivmelding" {
                    return Err(ArkivmeldingError("the root element is not arkivmelding".into()));
                }
                saw_root = true;
                let name = e.local_name().as_ref().to_owned();
                let depth = path.len();
                if depth == 1 && name == "mappe" {
                    folders += 1;
                }
                if depth == 2 && name == "basisregistrering" && path[1] == "mappe" {
                    registrations += 1;
                }
                let in_first = folders == 1 && registrations == 1;
                if in_first && depth == 3 && path[2] == "basisregistrering" {
                    match name.as_str() {
                        "korrespondansepart" => {
                            out.korrespondanseparter.push(Korrespondansepart::default())
                        }
                        "dokumentbeskrivelse" => {
                            out.dokumenter.push(Dokumentbeskrivelse::default())
                        }
                        _ => {}
                    }
                }
                if in_first && depth == 4 && path[3] == "virksomhetsspesifikkeMetadata" {
                    extra_child = Some((e.name().as_ref().to_owned(), false));
                } else if depth > 4
                    && path.get(3).is_some_and(|p| p == "virksomhetsspesifikkeMetadata")
                    && let Some((_, nested)) = extra_child.as_mut()
                {
                    *nested = true;
                }
                path.push(name);
                current.clear();
            }
            Event::Empty(_) => {
                if path.is_empty() {
                    return Err(ArkivmeldingError("the document is empty".into()));
                }
                if path.len() > 4
                    && path.get(3).is_some_and(|p| p == "virksomhetsspesifikkeMetadata")
                    && let Some((_, nested)) = extra_child.as_mut()
                {
                    *nested = true;
                }
            }
            Event::Text(t) => current.push_str(&t.xml10_content()),
            Event::CData(t) => current.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                current.push(crate::xml_reference::resolve(&r).map_err(ArkivmeldingError)?)
            }
            Event::End(_) => {
                let value = current.trim().to_owned();
                let some = || Some(value.clone()).filter(|v| !v.is_empty());
                let names: Vec<&str> = path.iter().map(String::as_str).collect();
                let in_first = folders == 1 && registrations == 1;
                match names.as_slice() {
                    ["arkivmelding", "mappe", "saksaar"] if folders == 1 => out.saksaar = some(),
                    ["arkivmelding", "mappe", "sakssekvensnummer"] if folders == 1 => {
                        out.sakssekvensnummer = some()
                    }
                    ["arkivmelding", "mappe", "basisregistrering", field] if in_first => {
                        let v = some();
                        match *field {
                            "journalaar" => out.journalaar = v,
                            "journalsekvensnummer" => out.journalsekvensnummer = v,
                            "journalpostnummer" => out.journalpostnummer = v,
                            "journalposttype" => out.journalposttype = v,
                            "journalstatus" => out.journalstatus = v,
                            "journaldato" => out.journaldato = v,
                            "dokumentetsDato" => out.dokumentets_dato = v,
                            "tittel" => out.tittel = v,
                            "offentligTittel" => out.offentlig_tittel = v,
                            _ => {}
                        }
                    }
                    ["arkivmelding", "mappe", "basisregistrering", "korrespondansepart", field]
                        if in_first =>
                    {
                        if let Some(k) = out.korrespondanseparter.last_mut() {
                            match *field {
                                "korrespondanseparttype" => k.kind = Some(value.clone()),
                                "korrespondansepartNavn" => k.name = Some(value.clone()),
                                "postadresse" => k.address_lines.push(value.clone()),
                                "postnummer" => k.postal_code = Some(value.clone()),
                                "poststed" => k.postal_area = Some(value.clone()),
                                "land" => k.country = Some(value.clone()),
                                "saksbehandler" => k.case_officer = Some(value.clone()),
                                _ => {}
                            }
                        }
                    }
                    [
                        "arkivmelding",
                        "mappe",
                        "basisregistrering",
                        "dokumentbeskrivelse",
                        "tilknyttetRegistreringSom",
                    ] if in_first => {
                        if let Some(d) = out.dokumenter.last_mut() {
                            d.role = some();
                        }
                    }
                    [
                        "arkivmelding",
                        "mappe",
                        "basisregistrering",
                        "dokumentbeskrivelse",
                        "dokumentobjekt",
                        "referanseDokumentfil",
                    ] if in_first => {
                        if let Some(d) = out.dokumenter.last_mut() {
                            d.files.push(value.clone());
                        }
                    }
                    [
                        "arkivmelding",
                        "mappe",
                        "basisregistrering",
                        "virksomhetsspesifikkeMetadata",
                        _,
                    ] if in_first => {
                        if let Some((name, nested)) = extra_child.take()
                            && !nested
                            && !current.is_empty()
                        {
                            out.extra.push((name, current.clone()));
                        }
                    }
                    _ => {}
                }
                path.pop();
                current.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root || !path.is_empty() {
        return Err(ArkivmeldingError("truncated or empty document".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<arkivmelding xmlns="http://www.arkivverket.no/standarder/noark5/arkivmelding">
  <mappe><basisregistrering>
    <dokumentbeskrivelse><dokumentobjekt><referanseDokumentfil>vedtak.pdf</referanseDokumentfil></dokumentobjekt></dokumentbeskrivelse>
    <dokumentbeskrivelse><dokumentobjekt><referanseDokumentfil>vedlegg &amp; kart.pdf</referanseDokumentfil></dokumentobjekt></dokumentbeskrivelse>
  </basisregistrering></mappe>
</arkivmelding>"#;

    #[test]
    fn finds_the_referenced_files() {
        assert_eq!(referenced_files(DOC.as_bytes()).unwrap(), ["vedtak.pdf", "vedlegg & kart.pdf"]);
    }

    #[test]
    fn conversation_fields_from_the_journal_post() {
        let with_number = DOC.replacen(
            "<mappe>",
            "<mappe><systemID>sak-1</systemID>",
            1,
        )
        .replacen(
            "<basisregistrering>",
            "<basisregistrering><journalpostnummer>7</journalpostnummer><offentligTittel>Vedtak &amp; kart</offentligTittel>",
            1,
        );
        let f = conversation_fields(with_number.as_bytes()).unwrap();
        assert_eq!(f.title.as_deref(), Some("Vedtak & kart"));
        assert_eq!(f.reference.as_deref(), Some("sak-1-7"));
        assert_eq!(conversation_fields(DOC.as_bytes()).unwrap(), ConversationFields::default());
    }

    #[test]
    fn refuses_what_is_not_an_arkivmelding() {
        assert!(referenced_files(b"<other/>").is_err());
        assert!(referenced_files(&DOC.as_bytes()[..DOC.len() / 2]).is_err());
        assert!(referenced_files(b"").is_err());
        let dtd = DOC.replacen("?>", "?><!DOCTYPE x [<!ENTITY e \"boom\">]>", 1);
        assert!(referenced_files(dtd.as_bytes()).is_err());
        let entity = DOC.replacen("<mappe>", "<mappe>&xxe;", 1);
        assert!(referenced_files(entity.as_bytes()).is_err());
    }

    #[test]
    fn the_first_journal_posts_titles() {
        let xml = br#"<arkivmelding xmlns="x"><mappe><tittel>Mappe</tittel>
            <basisregistrering><dokumentbeskrivelse><tittel>Dok</tittel></dokumentbeskrivelse>
            <tittel>Nye lysr&#248;r</tittel><offentligTittel>Offentlig</offentligTittel></basisregistrering>
            <basisregistrering><tittel>Second</tittel></basisregistrering></mappe></arkivmelding>"#;
        assert_eq!(
            journal_post_titles(xml).unwrap(),
            (Some("Nye lysrør".into()), Some("Offentlig".into()))
        );
        let bare = b"<arkivmelding><registrering><tittel>T</tittel></registrering></arkivmelding>";
        assert_eq!(journal_post_titles(bare).unwrap(), (Some("T".into()), None));
        assert_eq!(journal_post_titles(b"<arkivmelding/>").unwrap(), (None, None));
        assert!(journal_post_titles(b"<arkivmelding><mappe>").is_err());
        assert!(journal_post_titles(&[0xff]).is_err());
    }
}
