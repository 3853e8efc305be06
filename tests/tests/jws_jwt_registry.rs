//! JWS, JWK refetch and the Maskinporten grant against real RSA keys made by `openssl`
//! at test time, and checked by `openssl` as an independent verifier.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use efm_blocking::http_server::{self, ServerConfig, response};
use efm_blocking::local_registry::{LocalRegistry, Signer};
use efm_blocking::registry_client::RegistryClient;
use efm_core::Timestamp;
use efm_core::jose::jwk::{JwkSet, RsaPublicJwk};
use efm_core::jose::jwks_cache::{JwksCache, Verification};
use efm_core::jose::jws::{CompactJws, JwsError, SignHeader, load_rsa_key, pem_blocks, sign_rs256};
use efm_core::jose::maskinporten::{GrantConfig, token_request};
use efm_core::jose::{b64url, b64url_decode};
use efm_core::registry::answer::LookupError;
use efm_core::registry::request::{ClientOptions, IdentifierLookup};
use efm_tests::keys::{TestKey, run};
use ring::rand::SystemRandom;
use ring::signature::RsaKeyPair;

fn key_pair(k: &TestKey) -> RsaKeyPair {
    load_rsa_key(&k.key_bytes()).expect("PKCS#8 PEM key")
}

fn jwk_of(k: &RsaKeyPair) -> RsaPublicJwk {
    RsaPublicJwk::from_key_pair(k, &[])
}

fn signed(payload: &[u8], key: &RsaKeyPair, kid: Option<String>) -> String {
    let header = SignHeader { kid, x5c: vec![] };
    sign_rs256(&header, payload, key, &SystemRandom::new()).expect("sign")
}

#[test]
fn jws_verifies_and_rejects_tampering_wrong_key_none_and_hs256() {
    let a = TestKey::generate("jws-a");
    let b = TestKey::generate("jws-b");
    let (ka, kb) = (key_pair(&a), key_pair(&b));
    let (ja, jb) = (jwk_of(&ka), jwk_of(&kb));
    let payload = br#"{"infoRecord":{"identifier":"910077473"},"serviceRecords":[]}"#;
    let jws = signed(payload, &ka, ja.kid.clone());

    let parsed = CompactJws::parse(&jws).expect("parse");
    assert_eq!(parsed.verify(&ja).expect("verifies"), payload);

    // Tampered payload: same header and signature, other claims.
    let parts: Vec<&str> = jws.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], b64url(br#"{"serviceRecords":[1]}"#), parts[2]);
    let e = CompactJws::parse(&forged).unwrap().verify(&ja).unwrap_err();
    assert_eq!(e, JwsError::BadSignature { kid: ja.kid.clone() });
    assert!(e.to_string().contains("does not verify"), "{e}");

    // Wrong key.
    assert!(matches!(parsed.verify(&jb), Err(JwsError::BadSignature { .. })));

    // alg none and HS256 (keyed with the public modulus, the classic confusion).
    let none = format!("{}.{}.", b64url(br#"{"alg":"none"}"#), parts[1]);
    assert_eq!(
        CompactJws::parse(&none).unwrap_err(),
        JwsError::UnsupportedAlgorithm("none".into())
    );
    let hs_input = format!("{}.{}", b64url(br#"{"alg":"HS256"}"#), parts[1]);
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &ja.n),
        hs_input.as_bytes(),
    );
    let hs = format!("{hs_input}.{}", b64url(mac.as_ref()));
    let e = CompactJws::parse(&hs).unwrap_err();
    assert_eq!(e, JwsError::UnsupportedAlgorithm("HS256".into()));
    assert!(e.to_string().contains("only RS256"));
}

#[test]
fn jws_unknown_kid_refetches_exactly_once() {
    let a = TestKey::generate("kid-a");
    let b = TestKey::generate("kid-b");
    let (ka, kb) = (key_pair(&a), key_pair(&b));
    let (ja, jb) = (jwk_of(&ka), jwk_of(&kb));
    let set_a = JwkSet { keys: vec![ja.clone()] }.to_json().to_string();
    let set_b = JwkSet { keys: vec![jb.clone()] }.to_json().to_string();

    // Cached set holds B; the answer is signed with A: one fetch, which brings A.
    let mut cache = JwksCache::with_set(JwkSet { keys: vec![jb.clone()] });
    let jws = CompactJws::parse(&signed(b"{}", &ka, ja.kid.clone())).unwrap();
    let Verification::FetchJwks(pending) = cache.verify(jws.clone()).unwrap() else {
        panic!("a kid miss must ask for the JWK set");
    };
    assert_eq!(cache.complete(pending, Ok(set_a.as_bytes())).unwrap(), b"{}");
    assert_eq!(cache.fetches(), 1);
    // Now cached: no further fetch.
    assert!(matches!(cache.verify(jws.clone()).unwrap(), Verification::Verified(p) if p == b"{}"));

    // The refetched set still lacks the kid: a final error, not another fetch.
    let mut cache = JwksCache::new();
    let Verification::FetchJwks(pending) = cache.verify(jws.clone()).unwrap() else {
        panic!("empty cache must fetch");
    };
    let e = cache.complete(pending, Ok(set_b.as_bytes())).unwrap_err();
    assert_eq!(e, JwsError::UnknownKid(ja.kid.clone()));
    let Verification::FetchJwks(pending) = cache.verify(jws).unwrap() else {
        panic!("still unknown");
    };
    assert!(matches!(
        cache.complete(pending, Err("connection refused".into())),
        Err(JwsError::JwksUnavailable(_))
    ));
}

/// A registry that signs with one key but publishes another under /jwk, counting the
/// JWK fetches: the client must fetch once per lookup and give up.
#[test]
fn jws_registry_with_unpublished_key_costs_one_fetch_per_lookup() {
    let a = TestKey::generate("rogue-a");
    let b = TestKey::generate("rogue-b");
    let ka = key_pair(&a);
    let kid = jwk_of(&ka).kid;
    let published = JwkSet { keys: vec![jwk_of(&key_pair(&b))] }.to_json().to_string();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let handler = Arc::new(move |req: &http::Request<()>, _: &[u8]| {
        if req.uri().path() == "/jwk" {
            counter.fetch_add(1, Ordering::SeqCst);
            return response(200, "application/json", published.clone().into_bytes());
        }
        let body = signed(br#"{"serviceRecords":[]}"#, &ka, kid.clone());
        response(200, "application/jose", body.into_bytes())
    });
    let server = http_server::spawn("127.0.0.1:0", ServerConfig::default(), handler).unwrap();
    let client = RegistryClient::new(
        &format!("http://{}", server.local_addr()),
        ClientOptions { signed: true, beta_features: false },
    );
    let e = client.identifier(&IdentifierLookup::new("910077473")).unwrap_err();
    assert!(matches!(e, LookupError::BadSignature(JwsError::UnknownKid(_))), "{e}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Errors are not cached, so the next lookup asks again, and again fetches once.
    assert!(client.identifier(&IdentifierLookup::new("910077473")).is_err());
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

/// The local registry signs, the client verifies, and the JWK set is fetched once for
/// many lookups.
#[test]
fn jws_local_registry_round_trip() {
    let key = TestKey::generate("local");
    let dir = key.dir.join("registry");
    std::fs::create_dir_all(dir.join("identifier")).unwrap();
    std::fs::create_dir_all(dir.join("virksert")).unwrap();
    let p = "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0";
    std::fs::write(
        dir.join("identifier/111111111.json"),
        format!(
            r#"{{"infoRecord":{{"identifier":"111111111"}},"serviceRecords":[
              {{"process":"{p}","documentTypes":["urn:no:difi:arkivmelding:xsd::arkivmelding"],
                "service":{{"identifier":"DPO"}}}},
              {{"process":"other","documentTypes":[],"service":{{"identifier":"DPX"}}}}]}}"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("identifier/111111111-extra.json"),
        format!(r#"{{"serviceRecords":[{{"process":"{p}","documentTypes":["x::y"],"service":{{"identifier":"DPV"}}}}]}}"#),
    )
    .unwrap();
    std::fs::write(dir.join("virksert/111111111"), "MIIBfake").unwrap();
    let signer = Signer::load(&key.key_bytes(), Some(&key.cert_bytes())).unwrap();
    let registry = LocalRegistry::new(&dir, Some(signer));
    let handler = Arc::new(move |req: &http::Request<()>, _: &[u8]| registry.handle(req));
    let server = http_server::spawn("127.0.0.1:0", ServerConfig::default(), handler).unwrap();
    let base = format!("http://{}", server.local_addr());
    let client = RegistryClient::new(&base, ClientOptions { signed: true, beta_features: false });

    let all = client.identifier(&IdentifierLookup::new("111111111")).unwrap();
    assert_eq!(all.service_records.len(), 2);
    assert_eq!(
        all.service_records[1].service_identifier(),
        efm_core::registry::model::ServiceIdentifier::Unknown
    );
    let one = client.identifier(&IdentifierLookup::new("111111111").process(p)).unwrap();
    assert_eq!(one.service_records.len(), 2, "records from both files");
    assert_eq!(
        client.virksert("111111111").unwrap(),
        "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    );
    assert_eq!(client.info("111111111").unwrap().identifier.as_deref(), Some("111111111"));
    assert_eq!(client.jwks_fetches(), 1);

    let missing =
        client.identifier(&IdentifierLookup::new("111111111").process("nope")).unwrap_err();
    assert_eq!(
        missing,
        LookupError::NotFound {
            description: Some("Process nope not found for receiver 111111111".into())
        }
    );
    assert!(matches!(
        client.identifier(&IdentifierLookup::new("../etc")),
        Err(LookupError::Refused { status: 400, .. })
    ));

    // An unsigned client reads the same registry as plain JSON.
    let plain = RegistryClient::new(&base, ClientOptions::default());
    assert_eq!(plain.identifier(&IdentifierLookup::new("111111111")).unwrap(), all);

    // The served JWK carries the RFC 7638 thumbprint as kid and the certificate as x5c.
    let jwk: serde_json::Value =
        serde_json::from_slice(&raw_get(server.local_addr(), "/jwk")).unwrap();
    let k = &jwk["keys"][0];
    assert_eq!(
        (k["kty"].as_str(), k["use"].as_str(), k["alg"].as_str()),
        (Some("RSA"), Some("sig"), Some("RS256"))
    );
    let expected = jwk_of(&key_pair(&key));
    assert_eq!(k["kid"].as_str(), expected.kid.as_deref());
    let cert_der = pem_blocks(&key.cert_bytes(), "CERTIFICATE");
    assert_eq!(k["x5c"][0].as_str(), Some(efm_core::jose::b64std(&cert_der[0]).as_str()));
}

/// The body of a GET, over a plain socket (the server closes after `connection: close`).
fn raw_get(addr: std::net::SocketAddr, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").expect("head end");
    all.split_off(split + 4)
}

#[test]
fn jwt_grant_verifies_with_openssl_and_carries_the_claims() {
    let key = TestKey::generate("grant");
    let kp = key_pair(&key);
    let chain = pem_blocks(&key.cert_bytes(), "CERTIFICATE");
    assert_eq!(chain.len(), 1);
    let mut cfg = GrantConfig::new(
        "MOVE_IP_910077473",
        "https://test.maskinporten.no/",
        &["eformidling:dpo", "eformidling:dpe"],
    );
    cfg.consumer_org = Some("0192:910075935".into());
    let now = Timestamp::from_unix_millis(1_763_900_000_000);
    let jwt = cfg.assertion(now, [9; 16], &chain, &kp, &SystemRandom::new()).expect("assertion");

    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: serde_json::Value =
        serde_json::from_slice(&b64url_decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["x5c"][0].as_str().unwrap(), efm_core::jose::b64std(&chain[0]));
    let claims: serde_json::Value =
        serde_json::from_slice(&b64url_decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["iss"], "MOVE_IP_910077473");
    assert_eq!(claims["aud"], "https://test.maskinporten.no/");
    assert_eq!(claims["scope"], "eformidling:dpo eformidling:dpe");
    assert_eq!(claims["consumer_org"], "0192:910075935");
    assert_eq!(claims["iat"], 1_763_900_000);
    assert_eq!(claims["exp"], 1_763_900_120);
    assert_eq!(claims["jti"].as_str().unwrap().len(), 36);

    // Independent check: openssl verifies the signature over the signing input with the
    // certificate's public key.
    let input = key.dir.join("input.txt");
    let sig = key.dir.join("sig.bin");
    let public = key.dir.join("pub.pem");
    std::fs::write(&input, format!("{}.{}", parts[0], parts[1])).unwrap();
    std::fs::write(&sig, b64url_decode(parts[2]).unwrap()).unwrap();
    let pubkey =
        run(Command::new("openssl").args(["x509", "-pubkey", "-noout", "-in"]).arg(&key.cert_pem));
    std::fs::write(&public, pubkey).unwrap();
    let out = run(Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&public)
        .arg("-signature")
        .arg(&sig)
        .arg(&input));
    assert_eq!(String::from_utf8_lossy(&out).trim(), "Verified OK");

    // And openssl rejects a tampered signing input, so the check above means something.
    std::fs::write(&input, format!("{}.{}", parts[0], b64url(b"{}"))).unwrap();
    let tampered = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&public)
        .arg("-signature")
        .arg(&sig)
        .arg(&input)
        .output()
        .unwrap();
    assert!(!tampered.status.success());

    let body = token_request(&jwt).body;
    assert!(body.starts_with(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJ"
    ));
    assert!(body.ends_with(parts[2]));
}
