//! The blocking Maskinporten client against a fake token endpoint that verifies the
//! grant like Maskinporten would (signature with the x5c certificate's key, claims).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use efm_blocking::http_server::{self, ServerConfig, response};
use efm_blocking::maskinporten::{MaskinportenClient, TokenFetchError};
use efm_core::jose::jwk::RsaPublicJwk;
use efm_core::jose::jws::{CompactJws, load_rsa_key, pem_blocks};
use efm_core::jose::maskinporten::{GrantConfig, TokenError};
use efm_tests::keys::TestKey;

#[test]
fn jwt_grant_is_accepted_cached_and_exchanged_for_altinn() {
    let key = TestKey::generate("mp-client");
    let jwk = RsaPublicJwk::from_key_pair(&load_rsa_key(&key.key_bytes()).unwrap(), &[]);
    let chain = pem_blocks(&key.cert_bytes(), "CERTIFICATE");
    let posts = Arc::new(AtomicUsize::new(0));
    let seen_claims = Arc::new(Mutex::new(None));
    let (p, claims_slot) = (posts.clone(), seen_claims.clone());
    let handler = Arc::new(move |req: &http::Request<()>, body: &[u8]| match req.uri().path() {
        "/token" => {
            p.fetch_add(1, Ordering::SeqCst);
            let form = String::from_utf8_lossy(body).into_owned();
            let ok_type = req.headers().get("content-type").and_then(|v| v.to_str().ok())
                == Some("application/x-www-form-urlencoded");
            let assertion =
                form.split('&').find_map(|kv| kv.strip_prefix("assertion=")).unwrap_or("");
            let verified = CompactJws::parse(assertion)
                .ok()
                .and_then(|j| j.verify(&jwk).ok().map(<[u8]>::to_vec));
            match (
                ok_type,
                form.starts_with(
                    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&",
                ),
                verified,
            ) {
                (true, true, Some(claims)) => {
                    *claims_slot.lock().unwrap() = Some(claims);
                    response(200, "application/json", br#"{"access_token":"at-1","token_type":"Bearer","expires_in":120,"scope":"eformidling:dpo"}"#.to_vec())
                }
                _ => response(400, "application/json", br#"{"error":"invalid_grant"}"#.to_vec()),
            }
        }
        "/exchange" => {
            let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok());
            if auth == Some("Bearer at-1") {
                response(200, "text/plain", b"altinn-token\n".to_vec())
            } else {
                response(401, "text/plain", Vec::new())
            }
        }
        _ => response(404, "text/plain", Vec::new()),
    });
    let server = http_server::spawn("127.0.0.1:0", ServerConfig::default(), handler).unwrap();
    let base = format!("http://{}", server.local_addr());
    let grant = GrantConfig::new(
        "MOVE_IP_910077473",
        "https://test.maskinporten.no/",
        &["eformidling:dpo"],
    );
    let client = MaskinportenClient::new(
        &format!("{base}/token"),
        grant.clone(),
        load_rsa_key(&key.key_bytes()).unwrap(),
        chain,
    );
    assert_eq!(client.token().unwrap(), "at-1");
    assert_eq!(client.token().unwrap(), "at-1");
    assert_eq!(posts.load(Ordering::SeqCst), 1, "second call served from the cache");
    let claims: serde_json::Value =
        serde_json::from_slice(seen_claims.lock().unwrap().as_deref().unwrap()).unwrap();
    assert_eq!(claims["iss"], "MOVE_IP_910077473");
    assert_eq!(claims["scope"], "eformidling:dpo");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120);
    assert_eq!(client.altinn_token(&format!("{base}/exchange")).unwrap(), "altinn-token");

    // A grant signed with another key is refused by the endpoint, with its reason kept.
    let other = TestKey::generate("mp-other");
    let rogue = MaskinportenClient::new(
        &format!("{base}/token"),
        grant,
        load_rsa_key(&other.key_bytes()).unwrap(),
        vec![],
    );
    match rogue.token() {
        Err(TokenFetchError::Token(TokenError::Refused { status: 400, body })) => {
            assert!(body.contains("invalid_grant"))
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
