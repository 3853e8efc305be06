//! `META-INF/signatures.xml`: the XAdES signature a DPI (SDP) ASiC-E carries, in the
//! shape the reference's ASiC library writes (an `XAdESSignatures` root, one
//! `ds:Signature Id="Signature"` with a reference per file, a reference to the
//! XAdES `SignedProperties`, our certificate in `KeyInfo`).
//!
//! We write the XML ourselves, so we write it already canonical: no whitespace
//! between elements, attributes in canonical order, empty elements as start-end
//! pairs, text and attribute values escaped as inclusive C14N 1.0 escapes them.
//! The canonical form of `SignedInfo` and of `SignedProperties` is then the emitted
//! text with the in-scope namespace declarations put on the element itself, which
//! is what any verifier computes; nothing has to be parsed back.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};

use crate::Timestamp;
use crate::crypto::keys::Identity;

const ASIC_NS: &str = "http://uri.etsi.org/02918/v1.2.1#";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XADES_NS: &str = "http://uri.etsi.org/01903/v1.3.2#";
const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256_URI: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const SHA1_URI: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const SIGNED_PROPERTIES_TYPE: &str = "http://uri.etsi.org/01903#SignedProperties";

/// One signed file of the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedFile {
    pub name: String,
    pub mime: String,
    pub sha256: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XadesError {
    #[error("no certificate to sign with")]
    NoCertificate,
    #[error("RSA signing failed")]
    SigningFailed,
}

/// `signatures.xml` over `files`, signed with `me` at `signing_time`.
pub fn signatures_xml(
    files: &[SignedFile],
    me: &Identity,
    signing_time: Timestamp,
) -> Result<String, XadesError> {
    let cert = me.certificate().ok_or(XadesError::NoCertificate)?;
    let b64 = |b: &[u8]| STANDARD.encode(b);

    // SignedProperties, as it appears in the document (inside QualifyingProperties,
    // which declares the xades prefix).
    let mut props = String::with_capacity(1024);
    props.push_str("<xades:SignedProperties");
    let props_attrs_at = props.len();
    props.push_str(" Id=\"SignedProperties\"><xades:SignedSignatureProperties><xades:SigningTime>");
    text(&xs_datetime(signing_time), &mut props);
    props.push_str("</xades:SigningTime><xades:SigningCertificate><xades:Cert><xades:CertDigest>");
    props.push_str("<ds:DigestMethod Algorithm=\"");
    props.push_str(SHA1_URI);
    props.push_str("\"></ds:DigestMethod><ds:DigestValue>");
    props.push_str(&b64(digest(&SHA1_FOR_LEGACY_USE_ONLY, cert.der()).as_ref()));
    props.push_str("</ds:DigestValue></xades:CertDigest><xades:IssuerSerial><ds:X509IssuerName>");
    text(&cert.issuer(), &mut props);
    props.push_str("</ds:X509IssuerName><ds:X509SerialNumber>");
    props.push_str(&decimal(&hex_bytes(&cert.serial_hex())));
    props.push_str("</ds:X509SerialNumber></xades:IssuerSerial></xades:Cert>");
    props.push_str("</xades:SigningCertificate></xades:SignedSignatureProperties>");
    props.push_str("<xades:SignedDataObjectProperties>");
    for (i, f) in files.iter().enumerate() {
        props.push_str("<xades:DataObjectFormat ObjectReference=\"#ID_");
        props.push_str(&i.to_string());
        props.push_str("\"><xades:MimeType>");
        text(&f.mime, &mut props);
        props.push_str("</xades:MimeType></xades:DataObjectFormat>");
    }
    props.push_str("</xades:SignedDataObjectProperties></xades:SignedProperties>");
    // Its canonical form: every namespace in scope declared on the apex, default
    // first, then by prefix; no ancestor is in the node set.
    let mut canonical_props = props.clone();
    canonical_props.insert_str(
        props_attrs_at,
        &format!(" xmlns=\"{ASIC_NS}\" xmlns:ds=\"{DS_NS}\" xmlns:xades=\"{XADES_NS}\""),
    );
    let props_digest = digest(&SHA256, canonical_props.as_bytes());

    let mut info = String::with_capacity(1024);
    info.push_str("<ds:SignedInfo");
    let info_attrs_at = info.len();
    info.push_str("><ds:CanonicalizationMethod Algorithm=\"");
    info.push_str(C14N);
    info.push_str("\"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm=\"");
    info.push_str(RSA_SHA256);
    info.push_str("\"></ds:SignatureMethod>");
    for (i, f) in files.iter().enumerate() {
        info.push_str("<ds:Reference Id=\"ID_");
        info.push_str(&i.to_string());
        info.push_str("\" URI=\"");
        attr(&uri_encode(&f.name), &mut info);
        info.push_str("\"><ds:DigestMethod Algorithm=\"");
        info.push_str(SHA256_URI);
        info.push_str("\"></ds:DigestMethod><ds:DigestValue>");
        info.push_str(&b64(&f.sha256));
        info.push_str("</ds:DigestValue></ds:Reference>");
    }
    info.push_str("<ds:Reference Type=\"");
    info.push_str(SIGNED_PROPERTIES_TYPE);
    info.push_str("\" URI=\"#SignedProperties\"><ds:Transforms><ds:Transform Algorithm=\"");
    info.push_str(C14N);
    info.push_str("\"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"");
    info.push_str(SHA256_URI);
    info.push_str("\"></ds:DigestMethod><ds:DigestValue>");
    info.push_str(&b64(props_digest.as_ref()));
    info.push_str("</ds:DigestValue></ds:Reference></ds:SignedInfo>");
    let mut canonical_info = info.clone();
    canonical_info.insert_str(info_attrs_at, &format!(" xmlns=\"{ASIC_NS}\" xmlns:ds=\"{DS_NS}\""));

    let sig = me
        .key
        .sign_pkcs1_sha256(canonical_info.as_bytes())
        .map_err(|_| XadesError::SigningFailed)?;

    let mut x = String::with_capacity(info.len() + props.len() + 4096);
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    x.push_str(&format!("<XAdESSignatures xmlns=\"{ASIC_NS}\" xmlns:ds=\"{DS_NS}\">"));
    x.push_str("<ds:Signature Id=\"Signature\">");
    x.push_str(&info);
    x.push_str("<ds:SignatureValue>");
    x.push_str(&b64(&sig));
    x.push_str("</ds:SignatureValue><ds:KeyInfo><ds:X509Data>");
    for c in &me.chain {
        x.push_str("<ds:X509Certificate>");
        x.push_str(&b64(c.der()));
        x.push_str("</ds:X509Certificate>");
    }
    x.push_str("</ds:X509Data></ds:KeyInfo><ds:Object>");
    x.push_str(&format!(
        "<xades:QualifyingProperties xmlns:xades=\"{XADES_NS}\" Target=\"#Signature\">"
    ));
    x.push_str(&props);
    x.push_str("</xades:QualifyingProperties></ds:Object></ds:Signature></XAdESSignatures>");
    Ok(x)
}

/// Element text as C14N writes it.
fn text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
}

/// An attribute value as C14N writes it.
fn attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
}

/// A file name as a relative URI reference: RFC 3986 unreserved characters and `/`
/// as they are, the rest percent-encoded (UTF-8), so a name with spaces or
/// non-ASCII letters still resolves to the entry.
fn uri_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `xs:dateTime` in UTC, whole seconds.
fn xs_datetime(t: Timestamp) -> String {
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

fn hex_bytes(hex: &str) -> Vec<u8> {
    hex.as_bytes()
        .chunks(2)
        .filter_map(|p| std::str::from_utf8(p).ok().and_then(|s| u8::from_str_radix(s, 16).ok()))
        .collect()
}

/// An unsigned big-endian integer in decimal (certificate serials run to 20 bytes).
fn decimal(be: &[u8]) -> String {
    let mut n: Vec<u8> = be.iter().copied().skip_while(|b| *b == 0).collect();
    if n.is_empty() {
        return "0".into();
    }
    let mut digits = Vec::new();
    while !n.is_empty() {
        let mut rem = 0u32;
        let mut next = Vec::with_capacity(n.len());
        for b in &n {
            let cur = (rem << 8) | u32::from(*b);
            let q = cur / 10;
            rem = cur % 10;
            if !(next.is_empty() && q == 0) {
                next.push(u8::try_from(q).unwrap_or(0));
            }
        }
        digits.push(char::from(b'0' + u8::try_from(rem).unwrap_or(0)));
        n = next;
    }
    digits.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_in_decimal() {
        assert_eq!(decimal(&[]), "0");
        assert_eq!(decimal(&[0, 0]), "0");
        assert_eq!(decimal(&[0x5c, 0x87, 0xb8, 0x27]), "1552398375");
        assert_eq!(decimal(&[0x01, 0x00]), "256");
        assert_eq!(decimal(&[0xff; 9]), "4722366482869645213695");
    }

    #[test]
    fn names_become_uri_references() {
        assert_eq!(uri_encode("arkivmelding.xml"), "arkivmelding.xml");
        assert_eq!(uri_encode("a b/æ.pdf"), "a%20b/%C3%A6.pdf");
    }

    #[test]
    fn escaping_is_canonical() {
        let mut s = String::new();
        text("a<b>&\"'\r", &mut s);
        assert_eq!(s, "a&lt;b&gt;&amp;\"'&#xD;");
        let mut s = String::new();
        attr("a<b>&\"'\t\n", &mut s);
        assert_eq!(s, "a&lt;b>&amp;&quot;'&#x9;&#xA;");
    }
}
