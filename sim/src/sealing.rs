//! Stand-ins for the payload formats the runtime makes with real crypto (the CMS
//! envelope around the ASiC-E, DPO's `sbd.zip`): cheap, but exact. Every file's
//! name, type and bytes travel unchanged, the envelope names the party it is
//! sealed for, and a SHA-256 over everything makes any corruption or mix-up an
//! error when it is opened. Crypto and packaging are tested elsewhere; here only
//! the bytes' journey matters.

use bytes::Bytes;

const ENVELOPE: &[u8; 8] = b"SIMSEAL1";
const PARCEL: &[u8; 8] = b"SIMPRCL1";
const CERT_PREFIX: &str = "sim-certificate-of-";

/// One document in a sealed envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub name: String,
    pub mime: String,
    pub content: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    Truncated,
    BadMagic,
    BadChecksum,
    NotForUs { sealed_for: String },
    NotUtf8,
    TrailingBytes,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Truncated => f.write_str("truncated"),
            OpenError::BadMagic => f.write_str("not a simulated envelope or parcel"),
            OpenError::BadChecksum => f.write_str("checksum mismatch: the bytes were changed"),
            OpenError::NotForUs { sealed_for } => write!(f, "sealed for {sealed_for}"),
            OpenError::NotUtf8 => f.write_str("a name is not UTF-8"),
            OpenError::TrailingBytes => f.write_str("bytes after the end"),
        }
    }
}

/// The PEM "certificate" the registry publishes for `org`: only its holder can open
/// what is sealed to it.
pub fn certificate_pem(org: &str) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(format!("{CERT_PREFIX}{org}"));
    format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n")
}

/// The organisation a certificate from [`certificate_pem`] names.
pub fn certificate_org(pem: &str) -> Option<String> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let text = base64::engine::general_purpose::STANDARD.decode(body.trim()).ok()?;
    String::from_utf8(text).ok()?.strip_prefix(CERT_PREFIX).map(str::to_owned)
}

fn put(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u32).to_be_bytes());
    out.extend_from_slice(field);
}

fn seal_with_checksum(mut out: Vec<u8>) -> Vec<u8> {
    let digest = ring::digest::digest(&ring::digest::SHA256, &out);
    out.extend_from_slice(digest.as_ref());
    out
}

/// The envelope (CMS stand-in) for `receiver` around `documents`.
pub fn seal(receiver: &str, documents: &[Document]) -> Vec<u8> {
    let mut out = ENVELOPE.to_vec();
    put(&mut out, receiver.as_bytes());
    out.extend_from_slice(&(documents.len() as u32).to_be_bytes());
    for d in documents {
        put(&mut out, d.name.as_bytes());
        put(&mut out, d.mime.as_bytes());
        put(&mut out, &d.content);
    }
    seal_with_checksum(out)
}

/// A reader over checked bytes.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Result<u32, OpenError> {
        let (head, rest) = self.rest.split_first_chunk::<4>().ok_or(OpenError::Truncated)?;
        self.rest = rest;
        Ok(u32::from_be_bytes(*head))
    }

    fn field(&mut self) -> Result<&'a [u8], OpenError> {
        let len = self.u32()? as usize;
        if self.rest.len() < len {
            return Err(OpenError::Truncated);
        }
        let (field, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(field)
    }

    fn text(&mut self) -> Result<String, OpenError> {
        String::from_utf8(self.field()?.to_vec()).map_err(|_| OpenError::NotUtf8)
    }
}

/// The body of `bytes` after its magic, once the checksum holds.
fn checked<'a>(bytes: &'a [u8], magic: &[u8; 8]) -> Result<Reader<'a>, OpenError> {
    if bytes.len() < magic.len() + 32 {
        return Err(OpenError::Truncated);
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if ring::digest::digest(&ring::digest::SHA256, body).as_ref() != digest {
        return Err(OpenError::BadChecksum);
    }
    let rest = body.strip_prefix(magic.as_slice()).ok_or(OpenError::BadMagic)?;
    Ok(Reader { rest })
}

/// Open an envelope sealed for `me`.
pub fn open(me: &str, sealed: &[u8]) -> Result<Vec<Document>, OpenError> {
    let mut r = checked(sealed, ENVELOPE)?;
    let sealed_for = r.text()?;
    if sealed_for != me {
        return Err(OpenError::NotForUs { sealed_for });
    }
    let count = r.u32()?;
    let mut documents = Vec::new();
    for _ in 0..count {
        let name = r.text()?;
        let mime = r.text()?;
        let content = Bytes::copy_from_slice(r.field()?);
        documents.push(Document { name, mime, content });
    }
    if !r.rest.is_empty() {
        return Err(OpenError::TrailingBytes);
    }
    Ok(documents)
}

/// DPO's parcel (`sbd.zip` stand-in): the SBD JSON and, for a message with files,
/// the envelope.
pub fn parcel(sbd_json: &[u8], envelope: Option<&[u8]>) -> Vec<u8> {
    let mut out = PARCEL.to_vec();
    put(&mut out, sbd_json);
    match envelope {
        Some(e) => {
            out.push(1);
            put(&mut out, e);
        }
        None => out.push(0),
    }
    seal_with_checksum(out)
}

/// A parcel's SBD JSON and envelope.
pub fn unparcel(bytes: &[u8]) -> Result<(Bytes, Option<Bytes>), OpenError> {
    let mut r = checked(bytes, PARCEL)?;
    let sbd = Bytes::copy_from_slice(r.field()?);
    let (flag, rest) = r.rest.split_first().ok_or(OpenError::Truncated)?;
    r.rest = rest;
    let envelope = match flag {
        0 => None,
        _ => Some(Bytes::copy_from_slice(r.field()?)),
    };
    if !r.rest.is_empty() {
        return Err(OpenError::TrailingBytes);
    }
    Ok((sbd, envelope))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs() -> Vec<Document> {
        vec![
            Document {
                name: "a.pdf".into(),
                mime: "application/pdf".into(),
                content: "%PDF".into(),
            },
            Document { name: "b.txt".into(), mime: "text/plain".into(), content: Bytes::new() },
        ]
    }

    #[test]
    fn envelopes_round_trip_and_catch_any_change() {
        let sealed = seal("910075918", &docs());
        assert_eq!(open("910075918", &sealed).unwrap(), docs());
        assert_eq!(
            open("910077473", &sealed),
            Err(OpenError::NotForUs { sealed_for: "910075918".into() })
        );
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(open("910075918", &bad).is_err(), "flip at {i} not caught");
        }
        assert_eq!(open("910075918", &sealed[..sealed.len() - 1]), Err(OpenError::BadChecksum));
    }

    #[test]
    fn parcels_round_trip() {
        let sealed = seal("1", &docs());
        let p = parcel(b"{\"sbd\":1}", Some(&sealed));
        let (sbd, envelope) = unparcel(&p).unwrap();
        assert_eq!(&sbd[..], b"{\"sbd\":1}");
        assert_eq!(envelope.as_deref(), Some(&sealed[..]));
        assert_eq!(unparcel(&parcel(b"{}", None)).unwrap().1, None);
        assert!(unparcel(&sealed).is_err(), "an envelope is not a parcel");
    }

    #[test]
    fn certificates_name_their_holder() {
        assert_eq!(certificate_org(&certificate_pem("910075918")).as_deref(), Some("910075918"));
        assert_eq!(certificate_org("-----BEGIN CERTIFICATE-----\nAAAA\n-----END"), None);
    }
}
