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
    fn refuses_what_is_not_an_arkivmelding() {
        assert!(referenced_files(b"<other/>").is_err());
        assert!(referenced_files(&DOC.as_bytes()[..DOC.len() / 2]).is_err());
        assert!(referenced_files(b"").is_err());
        let dtd = DOC.replacen("?>", "?><!DOCTYPE x [<!ENTITY e \"boom\">]>", 1);
        assert!(referenced_files(dtd.as_bytes()).is_err());
        let entity = DOC.replacen("<mappe>", "<mappe>&xxe;", 1);
        assert!(referenced_files(entity.as_bytes()).is_err());
    }
}
