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
