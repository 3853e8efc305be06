//! Tokens of the local broker: the Maskinporten stand-in's access tokens and the Altinn
//! tokens the exchange gives for them.
//!
//! A token names its organisation in clear and is otherwise opaque:
//!
//! ```text
//! efm-local:<orgnr>:<kind>:<expiry, unix s>:<scopes, base64url>:<nonce>:<mac>
//! ```
//!
//! `kind` is `maskinporten` or `altinn`; `mac` is HMAC-SHA256 over everything before
//! it, keyed with a secret kept in the broker's folder, so tokens survive a restart
//! and a token that was not issued here (or was edited) is refused.

use ring::hmac;
use serde_json::Value;

use efm_core::jose::jws::CompactJws;
use efm_core::jose::{b64url, b64url_decode};

const PREFIX: &str = "efm-local";

/// Lifetime of a Maskinporten token, as Maskinporten answers (`expires_in`).
pub const MASKINPORTEN_LIFETIME_SECS: i64 = 120;
/// Lifetime of an Altinn token (Altinn's are valid for 30 minutes).
pub const ALTINN_LIFETIME_SECS: i64 = 30 * 60;
/// The longest `exp - iat` Maskinporten accepts in a grant.
const MAX_GRANT_LIFETIME_SECS: i64 = 120;
/// Clock difference tolerated between a client and us.
const SKEW_SECS: i64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Maskinporten,
    Altinn,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Maskinporten => "maskinporten",
            Kind::Altinn => "altinn",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        [Kind::Maskinporten, Kind::Altinn].into_iter().find(|k| k.name() == s)
    }
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// Nine-digit organisation number.
    pub org: String,
    pub kind: Kind,
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub expires: i64,
}

impl Claims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejected {
    #[error("the token was not issued by this service (or was altered)")]
    Unknown,
    #[error("the token expired")]
    Expired,
}

/// Why a JWT grant is refused. The message is the OAuth `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantRefused {
    #[error("grant_type must be urn:ietf:params:oauth:grant-type:jwt-bearer")]
    UnsupportedGrantType,
    #[error("the form has no assertion")]
    NoAssertion,
    #[error("the assertion is not a compact RS256 JWT: {0}")]
    NotAJwt(String),
    #[error("the assertion's claims are not a JSON object")]
    BadClaims,
    #[error("the assertion lacks the numeric claim {0}")]
    MissingClaim(&'static str),
    #[error("the assertion expired")]
    Expired,
    #[error("the assertion lives longer than {MAX_GRANT_LIFETIME_SECS} s (exp - iat)")]
    TooLong,
    #[error(
        "cannot tell the organisation: no systemuser authorization_details with ID 0192:<orgnr>, and iss is not MOVE_IP_<orgnr>"
    )]
    NoOrganisation,
}

impl GrantRefused {
    /// The OAuth 2 error code (RFC 6749 §5.2).
    pub fn code(&self) -> &'static str {
        match self {
            GrantRefused::UnsupportedGrantType => "unsupported_grant_type",
            GrantRefused::NoAssertion => "invalid_request",
            GrantRefused::NoOrganisation => "invalid_client",
            _ => "invalid_grant",
        }
    }
}

pub struct Tokens {
    key: hmac::Key,
}

impl Tokens {
    pub fn new(secret: &[u8]) -> Self {
        Tokens { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    pub fn issue(&self, claims: &Claims, nonce: u64) -> String {
        let body = format!(
            "{PREFIX}:{}:{}:{}:{}:{nonce:016x}",
            claims.org,
            claims.kind.name(),
            claims.expires,
            b64url(claims.scopes.join(" ").as_bytes())
        );
        let mac = b64url(hmac::sign(&self.key, body.as_bytes()).as_ref());
        format!("{body}:{mac}")
    }

    /// The claims of a token this service issued and that has not expired at `now`
    /// (unix seconds).
    pub fn check(&self, token: &str, now: i64) -> Result<Claims, TokenRejected> {
        let (body, mac) = token.rsplit_once(':').ok_or(TokenRejected::Unknown)?;
        let mac = b64url_decode(mac).ok_or(TokenRejected::Unknown)?;
        hmac::verify(&self.key, body.as_bytes(), &mac).map_err(|_| TokenRejected::Unknown)?;
        let parts: Vec<&str> = body.split(':').collect();
        let [PREFIX, org, kind, expires, scopes, _nonce] = parts.as_slice() else {
            return Err(TokenRejected::Unknown);
        };
        let scopes = b64url_decode(scopes)
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(TokenRejected::Unknown)?;
        let claims = Claims {
            org: (*org).to_owned(),
            kind: Kind::parse(kind).ok_or(TokenRejected::Unknown)?,
            scopes: scopes.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            expires: expires.parse().map_err(|_| TokenRejected::Unknown)?,
        };
        if claims.expires <= now {
            return Err(TokenRejected::Expired);
        }
        Ok(claims)
    }
}

/// The claims of a Maskinporten token for the JWT grant in `form` (the decoded pairs of
/// the token request), at `now` (unix seconds).
///
/// The assertion's signature is NOT verified: this is a local stand-in, and what it
/// needs from the grant is only who is asking. It reads the organisation from the
/// Altinn systemuser claim (`authorization_details[].systemuser_org.ID` =
/// `0192:<orgnr>`) or else from `iss` = `MOVE_IP_<orgnr>`, and checks the claims
/// Maskinporten checks for freshness (`iat`, `exp`, at most 120 s apart).
pub fn grant(form: &[(String, String)], now: i64) -> Result<Claims, GrantRefused> {
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if field("grant_type") != Some(efm_core::jose::maskinporten::JWT_BEARER_GRANT) {
        return Err(GrantRefused::UnsupportedGrantType);
    }
    let assertion =
        field("assertion").filter(|a| !a.is_empty()).ok_or(GrantRefused::NoAssertion)?;
    let jws = CompactJws::parse(assertion).map_err(|e| GrantRefused::NotAJwt(e.to_string()))?;
    let claims: Value =
        serde_json::from_slice(jws.unverified_payload()).map_err(|_| GrantRefused::BadClaims)?;
    if !claims.is_object() {
        return Err(GrantRefused::BadClaims);
    }
    let number = |name: &'static str| {
        claims.get(name).and_then(Value::as_i64).ok_or(GrantRefused::MissingClaim(name))
    };
    let (iat, exp) = (number("iat")?, number("exp")?);
    if exp + SKEW_SECS <= now {
        return Err(GrantRefused::Expired);
    }
    if exp - iat > MAX_GRANT_LIFETIME_SECS {
        return Err(GrantRefused::TooLong);
    }
    let org = org_of(&claims).ok_or(GrantRefused::NoOrganisation)?;
    let scopes = claims.get("scope").and_then(Value::as_str).unwrap_or("");
    Ok(Claims {
        org,
        kind: Kind::Maskinporten,
        scopes: scopes.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        expires: now + MASKINPORTEN_LIFETIME_SECS,
    })
}

/// The organisation a grant is for: the systemuser claim's, else the client id's.
fn org_of(claims: &Value) -> Option<String> {
    let systemuser = claims
        .get("authorization_details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|d| d.get("type").and_then(Value::as_str) == Some("urn:altinn:systemuser"))
        .find_map(|d| d.pointer("/systemuser_org/ID").and_then(Value::as_str))
        .and_then(|id| id.strip_prefix("0192:"));
    let client = claims.get("iss").and_then(Value::as_str).and_then(|i| i.strip_prefix("MOVE_IP_"));
    systemuser.or(client).filter(|o| is_org_number(o)).map(str::to_owned)
}

/// Nine ASCII digits.
pub fn is_org_number(s: &str) -> bool {
    s.len() == 9 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(kind: Kind, expires: i64) -> Claims {
        Claims {
            org: "910077473".into(),
            kind,
            scopes: vec!["altinn:broker.read".into(), "altinn:broker.write".into()],
            expires,
        }
    }

    #[test]
    fn issued_tokens_check_and_altered_ones_do_not() {
        let tokens = Tokens::new(&[7; 32]);
        let t = tokens.issue(&claims(Kind::Altinn, 1000), 42);
        assert!(t.starts_with("efm-local:910077473:altinn:1000:"), "{t}");
        assert_eq!(tokens.check(&t, 999), Ok(claims(Kind::Altinn, 1000)));
        assert_eq!(tokens.check(&t, 1000), Err(TokenRejected::Expired));
        let forged = t.replace("910077473", "910075918");
        assert_eq!(tokens.check(&forged, 0), Err(TokenRejected::Unknown));
        let other = Tokens::new(&[8; 32]);
        assert_eq!(other.check(&t, 0), Err(TokenRejected::Unknown));
        for junk in ["", ":", "efm-local", "a:b:c:d:e:f:g", "efm-local:1:altinn:x:y:z:"] {
            assert_eq!(tokens.check(junk, 0), Err(TokenRejected::Unknown), "{junk:?}");
        }
    }

    fn form(claims: &Value) -> Vec<(String, String)> {
        let header = b64url(br#"{"alg":"RS256"}"#);
        let jwt = format!("{header}.{}.c2ln", b64url(claims.to_string().as_bytes()));
        vec![
            ("grant_type".into(), efm_core::jose::maskinporten::JWT_BEARER_GRANT.into()),
            ("assertion".into(), jwt),
        ]
    }

    #[test]
    fn the_grant_names_the_org_by_systemuser_or_client_id() {
        let by_iss = json!({"iss": "MOVE_IP_910077473", "iat": 100, "exp": 220, "scope": "a b"});
        let c = grant(&form(&by_iss), 150).unwrap();
        assert_eq!((c.org.as_str(), c.scopes.len(), c.expires), ("910077473", 2, 270));
        let by_systemuser = json!({"iss": "MOVE_IP_910077473", "iat": 100, "exp": 220,
            "authorization_details": [{"type": "urn:altinn:systemuser",
                "systemuser_org": {"authority": "iso6523-actorid-upis", "ID": "0192:910075918"}}]});
        assert_eq!(grant(&form(&by_systemuser), 150).unwrap().org, "910075918");
        let nobody = json!({"iss": "someone", "iat": 100, "exp": 220});
        assert_eq!(grant(&form(&nobody), 150), Err(GrantRefused::NoOrganisation));
        let stale = json!({"iss": "MOVE_IP_910077473", "iat": 100, "exp": 220});
        assert_eq!(grant(&form(&stale), 300), Err(GrantRefused::Expired));
        let long = json!({"iss": "MOVE_IP_910077473", "iat": 100, "exp": 400});
        assert_eq!(grant(&form(&long), 150), Err(GrantRefused::TooLong));
        let no_exp = json!({"iss": "MOVE_IP_910077473", "iat": 100});
        assert_eq!(grant(&form(&no_exp), 150), Err(GrantRefused::MissingClaim("exp")));
        assert_eq!(grant(&[], 0), Err(GrantRefused::UnsupportedGrantType));
    }
}
