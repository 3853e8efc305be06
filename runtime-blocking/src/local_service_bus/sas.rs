//! The Service Bus `SharedAccessSignature` authorization header:
//! `SharedAccessSignature sr=<url-encoded resource URI>&sig=<url-encoded base64
//! HMAC-SHA256>&se=<expiry, unix s>&skn=<key name>`, where the HMAC, keyed with the
//! shared access key, is over `<sr as sent> "\n" <se>`.
//!
//! Without a key the header only has to be well formed (like the reference's mock);
//! with one, the signature, the expiry and the resource are checked.

use ring::hmac;

use crate::local_service::form_decode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SasRejected {
    #[error("a SharedAccessSignature authorization is required")]
    Missing,
    #[error("the SharedAccessSignature lacks {0}")]
    Lacks(&'static str),
    #[error("the SharedAccessSignature's {0} is malformed")]
    Malformed(&'static str),
    #[error("the SharedAccessSignature expired")]
    Expired,
    #[error("the SharedAccessSignature does not verify with this service's key")]
    BadSignature,
    #[error("the SharedAccessSignature is for {0}, not for this resource")]
    OtherResource(String),
}

/// Checks `header` (the whole Authorization value) for a request to `path` at `now`
/// (unix seconds); with `key`, also the signature. Returns the key name.
pub fn check(
    header: Option<&str>,
    key: Option<&str>,
    path: &str,
    now: i64,
) -> Result<String, SasRejected> {
    let header = header.ok_or(SasRejected::Missing)?;
    let (scheme, params) = header.split_once(' ').ok_or(SasRejected::Missing)?;
    if !scheme.eq_ignore_ascii_case("SharedAccessSignature") {
        return Err(SasRejected::Missing);
    }
    let field = |name: &'static str| {
        params
            .split('&')
            .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
            .ok_or(SasRejected::Lacks(name))
    };
    let (sr, sig, se, skn) = (field("sr")?, field("sig")?, field("se")?, field("skn")?);
    let expiry: i64 = se.parse().map_err(|_| SasRejected::Malformed("se"))?;
    let resource = form_decode(sr).ok_or(SasRejected::Malformed("sr"))?;
    let signature = form_decode(sig)
        .and_then(|s| efm_core::jose::b64std_decode(&s))
        .ok_or(SasRejected::Malformed("sig"))?;
    let key_name = form_decode(skn).ok_or(SasRejected::Malformed("skn"))?;
    let Some(key) = key else { return Ok(key_name) };
    let hkey = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
    hmac::verify(&hkey, format!("{sr}\n{se}").as_bytes(), &signature)
        .map_err(|_| SasRejected::BadSignature)?;
    if expiry < now {
        return Err(SasRejected::Expired);
    }
    // A token is good for its resource and everything under it; the host is not
    // compared, since a local service is reached under many names.
    if !path.to_ascii_lowercase().starts_with(&resource_path(&resource).to_ascii_lowercase()) {
        return Err(SasRejected::OtherResource(resource));
    }
    Ok(key_name)
}

/// The path of a resource URI: `/q/messages` of `http://host:8001/q/messages`.
fn resource_path(uri: &str) -> &str {
    let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    match rest.find('/') {
        Some(i) => &rest[i..],
        None => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signs as the reference's `createAuthorizationHeader` does.
    fn header(uri: &str, key: &str, se: i64) -> String {
        let enc = java_url_encode(uri);
        let k = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
        let mac = hmac::sign(&k, format!("{enc}\n{se}").as_bytes());
        let sig = java_url_encode(&efm_core::jose::b64std(mac.as_ref()));
        format!("SharedAccessSignature sr={enc}&sig={sig}&se={se}&skn=MoveDPE-pilotPolicy")
    }

    fn java_url_encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    #[test]
    fn signatures_are_checked_only_with_a_key() {
        let h = header("http://localhost:8001/nextbestqueue910077473innsyn/messages", "k3y", 1000);
        let path = "/nextbestqueue910077473innsyn/messages";
        assert_eq!(check(Some(&h), None, path, 2000).as_deref(), Ok("MoveDPE-pilotPolicy"));
        assert_eq!(check(Some(&h), Some("k3y"), path, 999).as_deref(), Ok("MoveDPE-pilotPolicy"));
        assert_eq!(
            check(Some(&h), Some("k3y"), "/nextbestqueue910077473innsyn/messages/head", 999)
                .as_deref(),
            Ok("MoveDPE-pilotPolicy")
        );
        assert_eq!(check(Some(&h), Some("other"), path, 999), Err(SasRejected::BadSignature));
        assert_eq!(check(Some(&h), Some("k3y"), path, 1001), Err(SasRejected::Expired));
        assert!(matches!(
            check(Some(&h), Some("k3y"), "/otherqueue/messages", 999),
            Err(SasRejected::OtherResource(_))
        ));
        assert_eq!(check(None, None, path, 0), Err(SasRejected::Missing));
        assert_eq!(check(Some("Bearer x"), None, path, 0), Err(SasRejected::Missing));
        assert_eq!(
            check(Some("SharedAccessSignature sr=a&sig=b"), None, path, 0),
            Err(SasRejected::Lacks("se"))
        );
        assert_eq!(
            check(Some("SharedAccessSignature sr=a&sig=%%&se=1&skn=n"), None, path, 0),
            Err(SasRejected::Malformed("sig"))
        );
    }
}
