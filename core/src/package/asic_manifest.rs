//! `META-INF/ASiCManifest.xml`: the list of signed files with their SHA-256 digests, the
//! bytes the CAdES signature covers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use thiserror::Error;

use super::xml_escape;

/// The namespace we write (ETSI TS 102 918 v1.2.1).
pub const NAMESPACE: &str = "http://uri.etsi.org/02918/v1.2.1#";
/// Older namespaces the reference rewrites on read, so we accept them too.
pub const OLD_NAMESPACES: [&str; 2] =
    ["http://uri.etsi.org/02918/v1.1.1#", "http://uri.etsi.org/2918/v1.2.1#"];
const XMLDSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const SHA256_URI: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const SIGNATURE_MIME: &str = "application/x-pkcs7-signature";

/// Digest algorithms a DataObjectReference may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlg {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    fn from_uri(uri: &str) -> Option<Self> {
        Some(match uri {
            "http://www.w3.org/2000/09/xmldsig#sha1" => DigestAlg::Sha1,
            SHA256_URI | "http://www.w3.org/2000/09/xmldsig#sha256" => DigestAlg::Sha256,
            "http://www.w3.org/2001/04/xmldsig-more#sha384"
            | "http://www.w3.org/2000/09/xmldsig#sha384" => DigestAlg::Sha384,
            "http://www.w3.org/2001/04/xmlenc#sha512"
            | "http://www.w3.org/2000/09/xmldsig#sha512" => DigestAlg::Sha512,
            _ => return None,
        })
    }

    pub fn ring(self) -> &'static ring::digest::Algorithm {
        match self {
            DigestAlg::Sha1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            DigestAlg::Sha256 => &ring::digest::SHA256,
            DigestAlg::Sha384 => &ring::digest::SHA384,
            DigestAlg::Sha512 => &ring::digest::SHA512,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataObjectReference {
    pub uri: String,
    pub mime: String,
    pub alg: DigestAlg,
    pub digest: Vec<u8>,
    pub rootfile: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AsicManifest {
    /// URI of the signature file this manifest is signed by.
    pub sig_reference: Option<String>,
    pub references: Vec<DataObjectReference>,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AsicManifestError {
    #[error("ASiCManifest.xml is not well-formed XML: {0}")]
    Xml(String),
    #[error("ASiCManifest.xml root is not ASiCManifest in a known ETSI namespace")]
    BadRoot,
    #[error("ASiCManifest.xml names an unknown digest algorithm {0:?}")]
    UnknownDigest(String),
    #[error("ASiCManifest.xml has a DataObjectReference without {0}")]
    Missing(&'static str),
    #[error("ASiCManifest.xml has a digest value that is not base64")]
    BadDigestValue,
}

impl AsicManifest {
    /// Writes the manifest the way the reference's library lays it out (JAXB-style
    /// indentation); verifiers check the signature over whatever bytes we write.
    pub fn to_xml(&self) -> String {
        let mut x = String::with_capacity(256 + self.references.len() * 320);
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n");
        x.push_str("<ASiCManifest xmlns=\"");
        x.push_str(NAMESPACE);
        x.push_str("\" xmlns:ds=\"");
        x.push_str(XMLDSIG);
        x.push_str("\">\n");
        if let Some(sig) = &self.sig_reference {
            x.push_str("    <SigReference URI=\"");
            xml_escape(sig, &mut x);
            x.push_str("\" MimeType=\"");
            x.push_str(SIGNATURE_MIME);
            x.push_str("\"/>\n");
        }
        for r in &self.references {
            x.push_str("    <DataObjectReference URI=\"");
            xml_escape(&r.uri, &mut x);
            x.push_str("\" MimeType=\"");
            xml_escape(&r.mime, &mut x);
            if r.rootfile {
                x.push_str("\" Rootfile=\"true");
            }
            x.push_str("\">\n        <ds:DigestMethod Algorithm=\"");
            x.push_str(SHA256_URI);
            x.push_str("\"/>\n        <ds:DigestValue>");
            x.push_str(&B64.encode(&r.digest));
            x.push_str("</ds:DigestValue>\n    </DataObjectReference>\n");
        }
        x.push_str("</ASiCManifest>\n");
        x
    }

    pub fn parse(xml: &[u8]) -> Result<Self, AsicManifestError> {
        let mut reader = NsReader::from_reader(xml);
        let mut m = AsicManifest::default();
        let mut seen_root = false;
        let mut current: Option<(String, String, Option<DigestAlg>, bool)> = None;
        let mut digest: Option<Vec<u8>> = None;
        let mut in_digest_value = false;
        let mut text = String::new();
        loop {
            let (ns, ev) =
                reader.read_resolved_event().map_err(|e| AsicManifestError::Xml(e.to_string()))?;
            let ns_is = |want: &[&str]| match &ns {
                ResolveResult::Bound(n) => want.iter().any(|w| n.as_ref() == *w),
                _ => false,
            };
            let etsi = ns_is(&[NAMESPACE, OLD_NAMESPACES[0], OLD_NAMESPACES[1]]);
            match ev {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let empty = matches!(ev, Event::Empty(_));
                    let local = e.local_name();
                    let local = local.as_ref();
                    if !seen_root {
                        if local != "ASiCManifest" || !etsi {
                            return Err(AsicManifestError::BadRoot);
                        }
                        seen_root = true;
                        continue;
                    }
                    match local {
                        "SigReference" if etsi => m.sig_reference = attr(e, "URI")?,
                        "DataObjectReference" if etsi => {
                            let uri = attr(e, "URI")?.ok_or(AsicManifestError::Missing("URI"))?;
                            let mime = attr(e, "MimeType")?.unwrap_or_default();
                            let root =
                                attr(e, "Rootfile")?.is_some_and(|v| v == "true" || v == "1");
                            current = Some((uri, mime, None, root));
                            digest = None;
                        }
                        "DigestMethod" => {
                            let alg = attr(e, "Algorithm")?
                                .ok_or(AsicManifestError::Missing("Algorithm"))?;
                            let parsed = DigestAlg::from_uri(&alg)
                                .ok_or(AsicManifestError::UnknownDigest(alg.clone()))?;
                            if let Some(c) = current.as_mut() {
                                c.2 = Some(parsed);
                            }
                        }
                        "DigestValue" if !empty => {
                            in_digest_value = true;
                            text.clear();
                        }
                        _ => {}
                    }
                }
                Event::Text(t) if in_digest_value => text.push_str(&t.xml10_content()),
                Event::End(e) => match e.local_name().as_ref() {
                    "DigestValue" if in_digest_value => {
                        in_digest_value = false;
                        let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                        digest =
                            Some(B64.decode(clean).map_err(|_| AsicManifestError::BadDigestValue)?);
                    }
                    "DataObjectReference" => {
                        let Some((uri, mime, alg, rootfile)) = current.take() else {
                            continue;
                        };
                        m.references.push(DataObjectReference {
                            uri,
                            mime,
                            alg: alg.ok_or(AsicManifestError::Missing("DigestMethod"))?,
                            digest: digest
                                .take()
                                .ok_or(AsicManifestError::Missing("DigestValue"))?,
                            rootfile,
                        });
                    }
                    _ => {}
                },
                Event::Eof => break,
                _ => {}
            }
        }
        if !seen_root {
            return Err(AsicManifestError::BadRoot);
        }
        Ok(m)
    }
}

fn attr(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, AsicManifestError> {
    for a in e.attributes() {
        let a = a.map_err(|err| AsicManifestError::Xml(err.to_string()))?;
        if a.key.local_name().as_ref() == name {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|err| AsicManifestError::Xml(err.to_string()))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AsicManifest {
        AsicManifest {
            sig_reference: Some("META-INF/signature-1.p7s".into()),
            references: vec![
                DataObjectReference {
                    uri: "manifest.xml".into(),
                    mime: "application/xml".into(),
                    alg: DigestAlg::Sha256,
                    digest: vec![1; 32],
                    rootfile: false,
                },
                DataObjectReference {
                    uri: "a & b.pdf".into(),
                    mime: "application/pdf".into(),
                    alg: DigestAlg::Sha256,
                    digest: vec![2; 32],
                    rootfile: true,
                },
            ],
        }
    }

    #[test]
    fn round_trips() {
        let m = sample();
        assert_eq!(AsicManifest::parse(m.to_xml().as_bytes()), Ok(m));
    }

    #[test]
    fn reads_the_old_namespace_and_xmldsig_sha1() {
        let xml = r#"<?xml version="1.0"?><asic:ASiCManifest xmlns:asic="http://uri.etsi.org/2918/v1.2.1#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><asic:SigReference URI="META-INF/signature.p7s"/><asic:DataObjectReference URI="x.txt" MimeType="text/plain"><ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/><ds:DigestValue>AAAA</ds:DigestValue></asic:DataObjectReference></asic:ASiCManifest>"#;
        let m = AsicManifest::parse(xml.as_bytes()).expect("parses");
        assert_eq!(m.references.len(), 1);
        assert_eq!(m.references.first().map(|r| r.alg), Some(DigestAlg::Sha1));
    }

    #[test]
    fn rejects_a_foreign_root() {
        assert_eq!(
            AsicManifest::parse(b"<ASiCManifest xmlns=\"urn:x\"/>"),
            Err(AsicManifestError::BadRoot)
        );
    }
}
