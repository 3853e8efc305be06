//! The Maskinporten JWT bearer grant (RFC 7523), the token answer, a token cache, and
//! the Altinn token exchange.
//!
//! Claims follow the reference's `JwtTokenClient`: `aud`, `iss` = client id, `scope`
//! (space separated), `jti`, `iat`, `exp` = `iat` + 120 s, and `consumer_org` when acting
//! for another organisation. The header carries `x5c` with our business certificate.

use ring::rand::SecureRandom;
use serde::Deserialize;

use super::jws::{JwsError, Rs256Key, SignHeader, sign_rs256};
use crate::{Duration, Timestamp};

/// The grant type of RFC 7523 §2.1.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What the assertion says about us. Static for one integration point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantConfig {
    /// Maskinporten client id, e.g. `MOVE_IP_910077473`; becomes `iss`.
    pub client_id: String,
    /// Maskinporten issuer URL, e.g. `https://test.maskinporten.no/`; becomes `aud`.
    pub audience: String,
    pub scopes: Vec<String>,
    /// ISO 6523 org the token is for when sending on behalf of another org.
    pub consumer_org: Option<String>,
    /// `exp - iat`; the reference uses 120 s.
    pub lifetime: Duration,
    /// Altinn's `authorization_details` claim, for tokens that act as a system user
    /// (DPO): see [`systemuser_authorization_details`].
    pub authorization_details: Option<serde_json::Value>,
}

impl GrantConfig {
    pub fn new(client_id: &str, audience: &str, scopes: &[&str]) -> Self {
        GrantConfig {
            client_id: client_id.to_owned(),
            audience: audience.to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            consumer_org: None,
            lifetime: Duration::from_secs(120),
            authorization_details: None,
        }
    }

    /// The same grant, acting as the Altinn system user `name` of organisation
    /// `org_id` (`0192:<orgnr>`).
    pub fn with_systemuser(mut self, org_id: &str, name: &str) -> Self {
        self.authorization_details = Some(systemuser_authorization_details(org_id, name));
        self
    }

    /// The claims of the assertion, in the order the reference writes them.
    pub fn claims(&self, now: Timestamp, jti: uuid::Uuid) -> serde_json::Value {
        let iat = now.as_unix_millis().div_euclid(1000);
        let exp = (now + self.lifetime).as_unix_millis().div_euclid(1000);
        let mut m = serde_json::Map::new();
        m.insert("aud".into(), self.audience.clone().into());
        m.insert("iss".into(), self.client_id.clone().into());
        m.insert("scope".into(), self.scopes.join(" ").into());
        m.insert("jti".into(), jti.hyphenated().to_string().into());
        m.insert("iat".into(), iat.into());
        m.insert("exp".into(), exp.into());
        if let Some(org) = &self.consumer_org {
            m.insert("consumer_org".into(), org.clone().into());
        }
        if let Some(details) = &self.authorization_details {
            m.insert("authorization_details".into(), details.clone());
        }
        serde_json::Value::Object(m)
    }

    /// The signed assertion. `jti_random` are 16 bytes from the runtime's entropy;
    /// `cert_chain_der` is our certificate (leaf first) for `x5c`.
    pub fn assertion(
        &self,
        now: Timestamp,
        jti_random: [u8; 16],
        cert_chain_der: &[Vec<u8>],
        key: &dyn Rs256Key,
        rng: &dyn SecureRandom,
    ) -> Result<String, JwsError> {
        let jti = uuid::Builder::from_random_bytes(jti_random).into_uuid();
        let payload = self.claims(now, jti).to_string();
        let header = SignHeader { kid: None, x5c: cert_chain_der.to_vec() };
        sign_rs256(&header, payload.as_bytes(), key, rng)
    }
}

/// The claim that makes a Maskinporten token act for an Altinn system user:
/// `[{"type": "urn:altinn:systemuser", "systemuser_org": {"authority":
/// "iso6523-actorid-upis", "ID": <org_id>}, "externalRef": <name>}]`. Altinn's broker
/// requires it; `org_id` is `0192:<orgnr>`, and `name` the system user's external
/// reference, by default [`default_systemuser_name`].
pub fn systemuser_authorization_details(org_id: &str, name: &str) -> serde_json::Value {
    serde_json::json!([{
        "type": "urn:altinn:systemuser",
        "systemuser_org": { "authority": "iso6523-actorid-upis", "ID": org_id },
        "externalRef": name,
    }])
}

/// The system user name an integration point registers by default for `orgnr`:
/// `<orgnr>_integrasjonspunkt_systembruker_<orgnr>`.
pub fn default_systemuser_name(orgnr: &str) -> String {
    format!("{orgnr}_integrasjonspunkt_systembruker_{orgnr}")
}

/// A POST the runtime sends to Maskinporten's token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub content_type: &'static str,
    pub accept: &'static str,
    pub body: String,
}

/// The form body `grant_type=…&assertion=…`.
pub fn token_request(assertion: &str) -> TokenRequest {
    TokenRequest {
        content_type: "application/x-www-form-urlencoded",
        accept: "application/json",
        body: format!(
            "grant_type={}&assertion={}",
            form_encode(JWT_BEARER_GRANT),
            form_encode(assertion)
        ),
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Maskinporten's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    /// Seconds.
    pub expires_in: i64,
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("token endpoint answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("token answer is not the expected JSON: {0}")]
    BadAnswer(String),
}

/// Parses the token endpoint's answer. Error bodies are kept (shortened) for the log,
/// since Maskinporten explains refusals there.
pub fn parse_token_answer(status: u16, body: &[u8]) -> Result<TokenAnswer, TokenError> {
    if !(200..300).contains(&status) {
        return Err(TokenError::Refused { status, body: shorten(body) });
    }
    serde_json::from_slice(body).map_err(|e| TokenError::BadAnswer(e.to_string()))
}

fn shorten(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    s.chars().take(500).collect()
}

/// One cached access token, renewed `renew_before` ahead of its expiry so that a request
/// never leaves with a token that expires in flight.
#[derive(Debug, Clone)]
pub struct TokenCache {
    token: Option<(String, Timestamp)>,
    renew_before: Duration,
}

impl Default for TokenCache {
    fn default() -> Self {
        // The reference's reactive client caches for expires_in - 10 s.
        TokenCache::new(Duration::from_secs(10))
    }
}

impl TokenCache {
    pub fn new(renew_before: Duration) -> Self {
        TokenCache { token: None, renew_before }
    }

    /// The token, if it is still good at `now`; `None` means: fetch a new one.
    pub fn get(&self, now: Timestamp) -> Option<&str> {
        let (token, expires) = self.token.as_ref()?;
        (now < *expires + Duration::from_millis(-self.renew_before.as_millis()))
            .then_some(token.as_str())
    }

    /// When the cached token must be renewed, for the runtime's timer.
    pub fn renew_at(&self) -> Option<Timestamp> {
        self.token.as_ref().map(|(_, e)| *e + Duration::from_millis(-self.renew_before.as_millis()))
    }

    pub fn store(&mut self, answer: &TokenAnswer, received: Timestamp) {
        let expires = received + Duration::from_secs(answer.expires_in.max(0));
        self.token = Some((answer.access_token.clone(), expires));
    }

    pub fn clear(&mut self) {
        self.token = None;
    }
}

/// The Altinn token exchange: a GET to e.g.
/// `https://platform.tt02.altinn.no/authentication/api/v1/exchange/maskinporten` with the
/// Maskinporten token as bearer; the body is the Altinn token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AltinnExchangeRequest {
    pub url: String,
    pub authorization: String,
}

pub fn altinn_exchange_request(
    exchange_url: &str,
    maskinporten_token: &str,
) -> AltinnExchangeRequest {
    AltinnExchangeRequest {
        url: exchange_url.to_owned(),
        authorization: format!("Bearer {maskinporten_token}"),
    }
}

/// The Altinn token from the exchange answer. Altinn answers `text/plain`; some
/// deployments wrap the token in JSON quotes, which are removed.
pub fn parse_altinn_exchange_answer(status: u16, body: &[u8]) -> Result<String, TokenError> {
    if !(200..300).contains(&status) {
        return Err(TokenError::Refused { status, body: shorten(body) });
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| TokenError::BadAnswer("Altinn token is not UTF-8".into()))?
        .trim();
    let token = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(TokenError::BadAnswer(format!(
            "Altinn exchange answer is not a token: {}",
            shorten(body)
        )));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_follow_the_reference() {
        let mut cfg = GrantConfig::new(
            "MOVE_IP_910077473",
            "https://test.maskinporten.no/",
            &["eformidling:dpo", "eformidling:dpe"],
        );
        cfg.consumer_org = Some("0192:910075935".into());
        let now = Timestamp::from_unix_millis(1_700_000_000_999);
        let jti = uuid::Builder::from_random_bytes([1; 16]).into_uuid();
        let c = cfg.claims(now, jti);
        assert_eq!(
            c.to_string(),
            format!(
                r#"{{"aud":"https://test.maskinporten.no/","iss":"MOVE_IP_910077473","scope":"eformidling:dpo eformidling:dpe","jti":"{jti}","iat":1700000000,"exp":1700000120,"consumer_org":"0192:910075935"}}"#
            )
        );
    }

    #[test]
    fn systemuser_claim() {
        let cfg = GrantConfig::new(
            "MOVE_IP_311780735",
            "https://test.maskinporten.no/",
            &["altinn:broker.read"],
        )
        .with_systemuser("0192:311780735", &default_systemuser_name("311780735"));
        let jti = uuid::Builder::from_random_bytes([2; 16]).into_uuid();
        let c = cfg.claims(Timestamp::from_unix_millis(0), jti);
        assert_eq!(
            c["authorization_details"].to_string(),
            r#"[{"type":"urn:altinn:systemuser","systemuser_org":{"authority":"iso6523-actorid-upis","ID":"0192:311780735"},"externalRef":"311780735_integrasjonspunkt_systembruker_311780735"}]"#
        );
        assert_eq!(c["scope"], "altinn:broker.read");
        let plain = GrantConfig::new("c", "a", &[]).claims(Timestamp::from_unix_millis(0), jti);
        assert!(plain.get("authorization_details").is_none());
    }

    #[test]
    fn token_request_is_form_encoded() {
        let r = token_request("a.b-c_d");
        assert_eq!(
            r.body,
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b-c_d"
        );
        assert_eq!(r.content_type, "application/x-www-form-urlencoded");
        assert_eq!(form_encode("a b/ø"), "a+b%2F%C3%B8");
    }

    #[test]
    fn token_answer_and_cache_renew_before_expiry() {
        let a = parse_token_answer(
            200,
            br#"{"access_token":"tok","token_type":"Bearer","expires_in":120,"scope":"s"}"#,
        )
        .unwrap();
        assert_eq!(a.expires_in, 120);
        let t0 = Timestamp::from_unix_millis(0);
        let mut cache = TokenCache::default();
        assert_eq!(cache.get(t0), None);
        cache.store(&a, t0);
        assert_eq!(cache.get(t0 + Duration::from_secs(109)), Some("tok"));
        assert_eq!(cache.get(t0 + Duration::from_secs(110)), None);
        assert_eq!(cache.renew_at(), Some(t0 + Duration::from_secs(110)));
        cache.clear();
        assert_eq!(cache.get(t0), None);
        assert!(matches!(
            parse_token_answer(400, br#"{"error":"invalid_grant"}"#),
            Err(TokenError::Refused { status: 400, body }) if body.contains("invalid_grant")
        ));
        assert!(matches!(parse_token_answer(200, b"{}"), Err(TokenError::BadAnswer(_))));
    }

    #[test]
    fn altinn_exchange() {
        let r = altinn_exchange_request("https://platform.tt02.altinn.no/x", "mp");
        assert_eq!(r.authorization, "Bearer mp");
        assert_eq!(parse_altinn_exchange_answer(200, b"eyJ.a.b\n").unwrap(), "eyJ.a.b");
        assert_eq!(parse_altinn_exchange_answer(200, b"\"eyJ.a.b\"").unwrap(), "eyJ.a.b");
        assert!(parse_altinn_exchange_answer(401, b"").is_err());
        assert!(parse_altinn_exchange_answer(200, b"a b").is_err());
    }
}
