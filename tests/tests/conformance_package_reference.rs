//! Conformance against the reference's own material in ../shared/reference (read, never
//! copied): the real SvarInn CMS vector, the cucumber keystore, and the exact
//! manifest.xml of nextmove_send_dpo.feature. Each test says SKIPPED and passes when the
//! material is absent.

mod package_support;

use std::path::PathBuf;

use efm_core::crypto::cert::{CertError, Certificate, KeyUse};
use efm_core::crypto::keys::{Identity, PrivateKey};
use efm_core::crypto::signed_data::{sign_detached, verify_detached};
use efm_core::package::eformidling_manifest::{EformidlingManifest, PrimaryDocument};
use efm_core::package::zip_read::{ZipEvent, ZipLimits, ZipReader};
use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
use package_support::{decrypt, now, zip_entries};

fn reference() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference");
    if p.is_dir() {
        Some(p)
    } else {
        println!("SKIPPED: {} is absent (conformance material is not in the repo)", p.display());
        None
    }
}

fn identities(p12: &std::path::Path) -> Vec<(String, Identity)> {
    let data = std::fs::read(p12).expect("read p12");
    let ks =
        KeyStore::from_pkcs12(&data, "changeit", Pkcs12ImportPolicy::Relaxed).expect("p12 opens");
    ks.entries()
        .filter_map(|(alias, e)| match e {
            KeyStoreEntry::PrivateKeyChain(c) => Some((alias.clone(), c)),
            _ => None,
        })
        .map(|(alias, c)| {
            let key = PrivateKey::from_pkcs8_der(c.key().as_der()).expect("key");
            let certs = c
                .certs()
                .iter()
                .map(|x| Certificate::from_der(x.as_der()).expect("cert"))
                .collect();
            (alias, Identity::from_unordered(key, certs).expect("identity"))
        })
        .collect()
}

#[test]
fn conformance_svarinn_vector_decrypts_to_the_expected_zip() {
    let Some(r) = reference() else { return };
    let dir = r.join("svarinn");
    let ids = identities(&dir.join("somdalen.p12"));
    let (_, me) = ids.first().expect("one key");
    let cms = std::fs::read(dir.join("somdalen-dokumenter-ae68b33d.zip")).expect("vector");
    let expected = std::fs::read(dir.join("decrypted-dokumenter-ae68b33d.zip")).expect("expected");
    for piece in [1, 100, usize::MAX] {
        let plain = decrypt(&cms, me, piece).unwrap_or_else(|e| panic!("piece {piece}: {e}"));
        assert_eq!(zip_entries(&plain), zip_entries(&expected), "piece {piece}");
    }
    // The certificate expired in 2022: packaging to it must be refused, clearly.
    let cert = me.certificate().expect("cert");
    assert!(matches!(
        cert.check_usable(now(), KeyUse::KeyTransport),
        Err(CertError::Expired { .. })
    ));
}

#[test]
fn conformance_cucumber_keystore_keys_sign_and_verify() {
    let Some(r) = reference() else { return };
    let ids = identities(&r.join("keys/cucumber.p12"));
    assert!(ids.len() >= 5, "the test org keys: {}", ids.len());
    for (alias, id) in &ids {
        let sig = sign_detached(id, b"<ASiCManifest/>", now()).expect("signs");
        let signer =
            verify_detached(&sig, b"<ASiCManifest/>").unwrap_or_else(|e| panic!("{alias}: {e}"));
        assert_eq!(Some(&signer.certificate), id.certificate(), "{alias}");
    }
}

#[test]
fn conformance_manifest_xml_is_byte_equal_to_nextmove_send_dpo_feature() {
    let Some(r) = reference() else { return };
    let feature =
        std::fs::read_to_string(r.join("cucumber/nextmove_send_dpo.feature")).expect("feature");
    let start =
        feature.find("the content of the file named \"manifest.xml\" is:").expect("manifest step");
    let after = &feature[start..];
    let open = after.find("\"\"\"").expect("docstring open");
    let body = &after[open + 3..];
    let close = body.find("\"\"\"").expect("docstring close");
    // Gherkin: drop the newline after the opening quotes and the indentation of the
    // quotes from every line; the last line (before the closing quotes) is not content.
    let indent = after[..open].rsplit('\n').next().map(str::len).unwrap_or(0);
    let lines: Vec<&str> = body[..close].split('\n').collect();
    let content: Vec<&str> =
        lines[1..lines.len() - 1].iter().map(|l| l.get(indent..).unwrap_or("")).collect();
    let expected = content.join("\n");
    let ours = EformidlingManifest {
        receiver: "0192:910075918".into(),
        sender: "0192:910077473".into(),
        primary: Some(PrimaryDocument {
            href: "arkivmelding.xml".into(),
            mime: "application/xml".into(),
        }),
    }
    .to_xml();
    // The docstring cannot show the final newline MOXy writes (see the next test).
    assert_eq!(ours, format!("{expected}\n"));
}

#[test]
fn conformance_manifest_xml_is_byte_equal_to_one_the_reference_wrote() {
    let Some(r) = reference() else { return };
    // sbd/buggyAsic.asic was written by the reference; only its first local header is
    // damaged, so read the entries that follow it.
    let data = std::fs::read(r.join("sbd/buggyAsic.asic")).expect("buggy asic");
    let second = data
        .windows(4)
        .skip(1)
        .position(|w| w == b"PK\x03\x04")
        .map(|p| p + 1)
        .expect("second local header");
    let mut reader = ZipReader::new(ZipLimits::default());
    let mut out = vec![0u8; 4096];
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut rest = &data[second..];
    while !rest.is_empty() {
        let s = reader.read(rest, &mut out).expect("entries after the damaged one read");
        if let Some(f) = files.last_mut() {
            f.1.extend_from_slice(&out[..s.written]);
        }
        if let Some(ZipEvent::EntryStart(m)) = &s.event {
            files.push((m.name.clone(), Vec::new()));
        }
        rest = &rest[s.consumed..];
    }
    let theirs = &files.iter().find(|f| f.0 == "manifest.xml").expect("manifest.xml").1;
    let ours = EformidlingManifest {
        receiver: "9908:974761076".into(),
        sender: "9908:991825827".into(),
        primary: Some(PrimaryDocument { href: "order.xml".into(), mime: "text/xml".into() }),
    }
    .to_xml();
    assert_eq!(ours.as_bytes(), &theirs[..]);

    // Its CAdES signature (BouncyCastle's) verifies with our verifier, and its
    // ASiCManifest (lowercase name, ns2 prefix) parses and lists the files.
    let manifest =
        &files.iter().find(|f| f.0 == "META-INF/asicmanifest.xml").expect("asicmanifest").1;
    let parsed = efm_core::package::asic_manifest::AsicManifest::parse(manifest).expect("parses");
    let sig_name = parsed.sig_reference.clone().expect("SigReference");
    let sig = &files.iter().find(|f| f.0 == sig_name).expect("signature").1;
    let signer = verify_detached(sig, manifest).expect("the reference's signature verifies");
    println!("reference signature: {} by {}", signer.digest, signer.certificate.subject());
    let uris: Vec<&str> = parsed.references.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(uris, ["manifest.xml", "order.xml"]);
    for r in &parsed.references {
        let data = &files.iter().find(|f| f.0 == r.uri).expect("listed file").1;
        assert_eq!(ring::digest::digest(&ring::digest::SHA256, data).as_ref(), &r.digest[..]);
    }
}

#[test]
fn conformance_the_references_buggy_asic_is_a_clear_error() {
    let Some(r) = reference() else { return };
    // sbd/buggyAsic.asic: its first local header is overwritten (unzip: "bad zipfile
    // offset (local header sig)"); the reference's tests use it as a broken container.
    let data = std::fs::read(r.join("sbd/buggyAsic.asic")).expect("buggy asic");
    let err = package_support::read_asic(&data).expect_err("must fail");
    assert!(err.contains("not a zip local header at offset 0"), "{err}");
}
