//! The CAdES signature of an ASiC-E: a detached CMS SignedData over the exact bytes of
//! `META-INF/ASiCManifest.xml`, signed with our key on AWS-LC (never with the `rsa`
//! crate, whose private-key operations are not constant time, RUSTSEC-2023-0071), and
//! checked with `ring`.

use ring::signature::{self, UnparsedPublicKey};
use thiserror::Error;

use super::ber::{self, BerError, Tlv};
use super::cert::{CertError, Certificate};
use super::der_write::{
    GENERALIZED_TIME, INTEGER, NULL, OCTET_STRING, SEQUENCE, SET, UTC_TIME, alg_id, cons, oid,
    set_of, tlv,
};
use super::keys::Identity;
use super::oid as o;
use crate::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignError {
    #[error("our certificate cannot name the signer: {0}")]
    Cert(#[from] CertError),
    #[error("our identity has no certificate")]
    NoCertificate,
    #[error("RSA signing failed (random source or key)")]
    Sign,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("signature file is not a CMS SignedData: {0}")]
    Malformed(&'static str),
    #[error("signature file is not valid BER: {0}")]
    Ber(#[from] BerError),
    #[error("signature has no signer")]
    NoSigner,
    #[error("signer certificate is not in the signature file")]
    SignerCertificateMissing,
    #[error("signature uses an unsupported algorithm")]
    UnsupportedAlgorithm,
    #[error("the signed message digest does not match META-INF/ASiCManifest.xml")]
    DigestMismatch,
    #[error("the RSA signature does not verify")]
    BadSignature,
    #[error("signer certificate: {0}")]
    Cert(#[from] CertError),
}

/// Who signed, as found in a verified SignedData.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub certificate: Certificate,
    /// Every certificate the signature file carried (the chain).
    pub certificates: Vec<Certificate>,
    /// "SHA-256" or "SHA-1".
    pub digest: &'static str,
}

fn time_value(at: Timestamp) -> Vec<u8> {
    let dt = at.to_datetime();
    let y = dt.year();
    // RFC 5652 11.3: UTCTime for 1950..=2049, GeneralizedTime otherwise.
    let (tag, text) = if (1950..2050).contains(&y) {
        (
            UTC_TIME,
            format!(
                "{:02}{:02}{:02}{:02}{:02}{:02}Z",
                y % 100,
                u8::from(dt.month()),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second()
            ),
        )
    } else {
        (
            GENERALIZED_TIME,
            format!(
                "{:04}{:02}{:02}{:02}{:02}{:02}Z",
                y,
                u8::from(dt.month()),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second()
            ),
        )
    };
    tlv(tag, text.as_bytes())
}

fn attribute(oid_content: &[u8], value: &[u8]) -> Vec<u8> {
    cons(SEQUENCE, &[&oid(oid_content), &cons(SET, &[value])])
}

/// Signs `content` (detached) with SHA-256 with RSA; the chain goes in `certificates`.
pub fn sign_detached(
    me: &Identity,
    content: &[u8],
    signing_time: Timestamp,
) -> Result<Vec<u8>, SignError> {
    let cert = me.certificate().ok_or(SignError::NoCertificate)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, content);
    let attrs = set_of(vec![
        attribute(o::ATTR_CONTENT_TYPE, &oid(o::DATA)),
        attribute(o::ATTR_SIGNING_TIME, &time_value(signing_time)),
        attribute(o::ATTR_MESSAGE_DIGEST, &tlv(OCTET_STRING, digest.as_ref())),
    ]);
    let sig = me.key.sign_pkcs1_sha256(&attrs).map_err(|_| SignError::Sign)?;
    // In SignerInfo the attributes are [0] IMPLICIT; the signature covers them as SET.
    let mut signed_attrs = attrs;
    if let Some(tag) = signed_attrs.first_mut() {
        *tag = 0xa0;
    }
    let sha256 = alg_id(o::SHA256, None);
    let signer_info = cons(
        SEQUENCE,
        &[
            &tlv(INTEGER, &[1]),
            &cert.issuer_and_serial()?,
            &sha256,
            &signed_attrs,
            &alg_id(o::RSA_ENCRYPTION, Some(&[NULL, 0])),
            &tlv(OCTET_STRING, &sig),
        ],
    );
    let certs: Vec<&[u8]> = me.chain.iter().map(Certificate::der).collect();
    let signed_data = cons(
        SEQUENCE,
        &[
            &tlv(INTEGER, &[1]),
            &cons(SET, &[&sha256]),
            &cons(SEQUENCE, &[&oid(o::DATA)]),
            &tlv(0xa0, &certs.concat()),
            &cons(SET, &[&signer_info]),
        ],
    );
    Ok(cons(SEQUENCE, &[&oid(o::SIGNED_DATA), &cons(0xa0, &[&signed_data])]))
}

fn next<'a>(
    it: &mut impl Iterator<Item = Result<Tlv<'a>, BerError>>,
    what: &'static str,
) -> Result<Tlv<'a>, VerifyError> {
    Ok(it.next().ok_or(VerifyError::Malformed(what))??)
}

fn oid_of(alg: &Tlv<'_>) -> Result<Vec<u8>, VerifyError> {
    let first = alg.children().next().ok_or(VerifyError::Malformed("algorithm"))??;
    if first.tag != 0x06 {
        return Err(VerifyError::Malformed("algorithm"));
    }
    Ok(first.value.to_vec())
}

/// Verifies a detached SignedData over `content` (SHA-1 or SHA-256 with RSA, with or
/// without signed attributes). Does not judge the signer; the caller checks the
/// certificate against whom it expects.
pub fn verify_detached(p7s: &[u8], content: &[u8]) -> Result<Signer, VerifyError> {
    let (ci, rest) = ber::read(p7s)?;
    if ci.tag != SEQUENCE || !rest.is_empty() {
        return Err(VerifyError::Malformed("ContentInfo"));
    }
    let mut it = ci.children();
    let ty = next(&mut it, "content type")?;
    if ty.tag != 0x06 || ty.value != o::SIGNED_DATA {
        return Err(VerifyError::Malformed("not signedData"));
    }
    let wrapper = next(&mut it, "content")?;
    if wrapper.tag != 0xa0 {
        return Err(VerifyError::Malformed("content"));
    }
    let sd = wrapper.children().next().ok_or(VerifyError::Malformed("SignedData"))??;
    let mut it = sd.children();
    let _version = next(&mut it, "version")?;
    let _digest_algs = next(&mut it, "digestAlgorithms")?;
    let encap = next(&mut it, "encapContentInfo")?;
    let mut encap_it = encap.children();
    let encap_type = next(&mut encap_it, "eContentType")?;
    if encap_type.value != o::DATA {
        return Err(VerifyError::Malformed("eContentType is not data"));
    }
    if encap_it.next().is_some() {
        return Err(VerifyError::Malformed("signature is not detached"));
    }
    let mut certificates = Vec::new();
    let mut signer_infos = None;
    for t in it {
        let t = t?;
        match t.tag {
            0xa0 => {
                for c in t.children() {
                    let c = c?;
                    if c.tag == SEQUENCE {
                        certificates.push(Certificate::from_der(c.raw)?);
                    }
                }
            }
            0xa1 => {}
            SET => signer_infos = Some(t),
            _ => return Err(VerifyError::Malformed("SignedData field")),
        }
    }
    let si = signer_infos
        .ok_or(VerifyError::NoSigner)?
        .children()
        .next()
        .ok_or(VerifyError::NoSigner)??;
    let mut it = si.children();
    let _version = next(&mut it, "SignerInfo version")?;
    let sid = next(&mut it, "sid")?;
    if sid.tag != SEQUENCE {
        // subjectKeyIdentifier signers: neither the reference nor we write them.
        return Err(VerifyError::UnsupportedAlgorithm);
    }
    let digest_alg = oid_of(&next(&mut it, "digestAlgorithm")?)?;
    let mut field = next(&mut it, "signatureAlgorithm")?;
    let signed_attrs = if field.tag == 0xa0 {
        let a = field;
        field = next(&mut it, "signatureAlgorithm")?;
        Some(a)
    } else {
        None
    };
    let sig_alg = oid_of(&field)?;
    let sig = next(&mut it, "signature")?;
    if sig.tag != OCTET_STRING {
        return Err(VerifyError::Malformed("signature"));
    }
    let sig = sig.octets()?;
    let (digest, digest_name, verify_alg): (_, _, &dyn signature::VerificationAlgorithm) =
        match digest_alg.as_slice() {
            d if d == o::SHA256 => (
                ring::digest::digest(&ring::digest::SHA256, content),
                "SHA-256",
                &signature::RSA_PKCS1_2048_8192_SHA256,
            ),
            d if d == o::SHA1 => (
                ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, content),
                "SHA-1",
                &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            ),
            _ => return Err(VerifyError::UnsupportedAlgorithm),
        };
    let sig_ok = sig_alg == o::RSA_ENCRYPTION
        || (sig_alg == o::SHA256_WITH_RSA && digest_name == "SHA-256")
        || (sig_alg == o::SHA1_WITH_RSA && digest_name == "SHA-1");
    if !sig_ok {
        return Err(VerifyError::UnsupportedAlgorithm);
    }
    let certificate = certificates
        .iter()
        .find(|c| c.issuer_and_serial().ok().as_deref() == Some(sid.raw))
        .cloned()
        .ok_or(VerifyError::SignerCertificateMissing)?;
    let public_key = certificate.rsa_public_key()?;
    let message: Vec<u8> = match signed_attrs {
        Some(a) => {
            if a.indefinite {
                return Err(VerifyError::Malformed("signed attributes not DER"));
            }
            let mut found_digest = false;
            for attr in a.children() {
                let attr = attr?;
                let mut ai = attr.children();
                let ty = next(&mut ai, "attribute type")?;
                let values = next(&mut ai, "attribute values")?;
                if ty.value == o::ATTR_MESSAGE_DIGEST {
                    let v = values
                        .children()
                        .next()
                        .ok_or(VerifyError::Malformed("messageDigest"))??;
                    if v.octets()? != digest.as_ref() {
                        return Err(VerifyError::DigestMismatch);
                    }
                    found_digest = true;
                } else if ty.value == o::ATTR_CONTENT_TYPE {
                    let v =
                        values.children().next().ok_or(VerifyError::Malformed("contentType"))??;
                    if v.value != o::DATA {
                        return Err(VerifyError::Malformed("contentType attribute is not data"));
                    }
                }
            }
            if !found_digest {
                return Err(VerifyError::Malformed("no messageDigest attribute"));
            }
            let mut m = a.raw.to_vec();
            if let Some(tag) = m.first_mut() {
                *tag = SET;
            }
            m
        }
        None => content.to_vec(),
    };
    UnparsedPublicKey::new(verify_alg, &public_key)
        .verify(&message, &sig)
        .map_err(|_| VerifyError::BadSignature)?;
    Ok(Signer { certificate, certificates, digest: digest_name })
}
