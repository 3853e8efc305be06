//! The eFormidling `manifest.xml` every ASiC-E starts with: receiver, sender and the
//! primary document.
//!
//! The reference marshals it with EclipseLink MOXy, formatted: an XML declaration without
//! `standalone`, three-space indentation, and a final newline. We write the same bytes:
//! the text of nextmove_send_dpo.feature (whose docstring cannot show the final newline)
//! and, byte for byte, the manifest.xml inside a container the reference wrote
//! (shared/reference/sbd/buggyAsic.asic; see the conformance tests in tests/).

use super::xml_escape;

/// The identifier scheme the reference always writes (ISO 6523 via PEPPOL).
pub const AUTHORITY: &str = "iso6523-actorid-upis";

/// The primary document as the manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryDocument {
    pub href: String,
    pub mime: String,
}

/// Inputs of the manifest. Party ids are ISO 6523 strings such as `0192:910075918`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EformidlingManifest {
    pub receiver: String,
    pub sender: String,
    pub primary: Option<PrimaryDocument>,
}

impl EformidlingManifest {
    pub fn to_xml(&self) -> String {
        let mut x = String::with_capacity(512);
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<manifest>\n");
        for (tag, party) in [("mottaker", &self.receiver), ("avsender", &self.sender)] {
            x.push_str("   <");
            x.push_str(tag);
            x.push_str(">\n      <organisasjon authority=\"");
            x.push_str(AUTHORITY);
            x.push_str("\">");
            xml_escape(party, &mut x);
            x.push_str("</organisasjon>\n   </");
            x.push_str(tag);
            x.push_str(">\n");
        }
        if let Some(p) = &self.primary {
            x.push_str("   <hoveddokument href=\"");
            xml_escape(&p.href, &mut x);
            x.push_str("\" mime=\"");
            xml_escape(&p.mime, &mut x);
            // The reference hard-codes title and language (ManifestFactory).
            x.push_str(
                "\">\n      <tittel lang=\"no\">Hoveddokument</tittel>\n   </hoveddokument>\n",
            );
        }
        x.push_str("</manifest>\n");
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The docstring of "the content of the file named manifest.xml" in the reference's
    /// nextmove_send_dpo.feature, with Gherkin's indentation removed.
    const FEATURE_MANIFEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<manifest>
   <mottaker>
      <organisasjon authority="iso6523-actorid-upis">0192:910075918</organisasjon>
   </mottaker>
   <avsender>
      <organisasjon authority="iso6523-actorid-upis">0192:910077473</organisasjon>
   </avsender>
   <hoveddokument href="arkivmelding.xml" mime="application/xml">
      <tittel lang="no">Hoveddokument</tittel>
   </hoveddokument>
</manifest>"#;

    fn dpo_example() -> EformidlingManifest {
        EformidlingManifest {
            receiver: "0192:910075918".into(),
            sender: "0192:910077473".into(),
            primary: Some(PrimaryDocument {
                href: "arkivmelding.xml".into(),
                mime: "application/xml".into(),
            }),
        }
    }

    #[test]
    fn matches_the_reference_feature_byte_for_byte() {
        // Gherkin docstrings end before the final newline.
        assert_eq!(dpo_example().to_xml(), format!("{FEATURE_MANIFEST}\n"));
    }

    #[test]
    fn escapes_markup_in_names() {
        let mut m = dpo_example();
        m.primary =
            Some(PrimaryDocument { href: "a&b\"<c>.pdf".into(), mime: "application/pdf".into() });
        assert!(m.to_xml().contains(r#"href="a&amp;b&quot;&lt;c&gt;.pdf""#));
    }

    #[test]
    fn omits_hoveddokument_without_a_primary_document() {
        let mut m = dpo_example();
        m.primary = None;
        let x = m.to_xml();
        assert!(!x.contains("hoveddokument"));
        assert!(x.ends_with("   </avsender>\n</manifest>\n"));
    }
}
