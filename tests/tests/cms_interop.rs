//! Interop with an independent implementation (OpenSSL): it opens what we encrypt, we
//! open what it encrypts, it verifies our signatures and we verify its.

mod package_support;

use std::process::Command;

use efm_blocking::key_wrap::SystemWrap;
use efm_core::crypto::envelope_write::{KeyWrap, PortableWrap};
use efm_core::crypto::key_unwrap::KeyTransport;
use efm_core::crypto::signed_data::verify_detached;
use package_support::{
    asic_bytes, certificate, decrypt, encrypt, encrypt_with, fixtures, identity, noise, read_asic,
    run, scratch,
};

fn openssl_decrypt(cms: &[u8], name: &str) -> Vec<u8> {
    let d = scratch(name);
    let inp = d.join("in.cms");
    let out = d.join("out.bin");
    std::fs::write(&inp, cms).expect("write");
    run(Command::new("openssl")
        .args(["cms", "-decrypt", "-binary", "-inform", "DER", "-in"])
        .arg(&inp)
        .arg("-inkey")
        .arg(&fixtures().bob.key)
        .arg("-out")
        .arg(&out));
    std::fs::read(&out).expect("openssl output")
}

#[test]
fn openssl_decrypts_what_we_encrypt_with_oaep_sha256_and_pkcs1() {
    let f = fixtures();
    let asic =
        asic_bytes(&identity(&f.alice), &[("a.bin", &noise(100_000, 1)), ("b.txt", b"hello")]);
    for (t, name) in
        [(KeyTransport::RsaOaepSha256, "ossl-oaep"), (KeyTransport::RsaPkcs1v15, "ossl-pkcs1")]
    {
        // Core's portable wrap (the simulator's) and the runtimes' AWS-LC one.
        let wraps: [(&dyn KeyWrap, &str); 2] =
            [(&PortableWrap, "portable"), (&SystemWrap, "aws-lc")];
        for (wrap, how) in wraps {
            let name = format!("{name}-{how}");
            let cms = encrypt_with(&asic, &certificate(&f.bob), t, wrap);
            let plain = openssl_decrypt(&cms, &name);
            assert!(plain == asic, "{name}: openssl's plaintext differs");
            let zip = scratch(&name).join("asic.zip");
            std::fs::write(&zip, &plain).expect("write");
            run(Command::new("unzip").arg("-t").arg(&zip));
        }
    }
}

#[test]
fn openssl_decrypts_an_empty_payload() {
    let f = fixtures();
    let cms = encrypt(b"", &certificate(&f.bob), KeyTransport::RsaOaepSha256);
    assert!(openssl_decrypt(&cms, "ossl-empty").is_empty());
}

#[test]
fn we_decrypt_openssl_oaep_sha256_der_and_streamed_ber_and_pkcs1() {
    let f = fixtures();
    let d = scratch("from-openssl");
    let asic = asic_bytes(&identity(&f.alice), &[("a.bin", &noise(300_000, 2))]);
    let plain = d.join("asic.zip");
    std::fs::write(&plain, &asic).expect("write");
    let variants: [(&str, &[&str]); 3] = [
        (
            "oaep-der",
            &[
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
                "-keyopt",
                "rsa_mgf1_md:sha256",
            ],
        ),
        (
            "oaep-stream",
            &[
                "-stream",
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
                "-keyopt",
                "rsa_mgf1_md:sha256",
            ],
        ),
        ("pkcs1-der", &[]),
    ];
    let me = identity(&f.bob);
    for (name, extra) in variants {
        let out = d.join(format!("{name}.cms"));
        run(Command::new("openssl")
            .args(["cms", "-encrypt", "-binary", "-aes256", "-outform", "DER", "-in"])
            .arg(&plain)
            .arg("-out")
            .arg(&out)
            .arg("-recip")
            .arg(&f.bob.cert)
            .args(extra));
        let cms = std::fs::read(&out).expect("cms");
        for piece in [1, 17, 4096, usize::MAX] {
            let got =
                decrypt(&cms, &me, piece).unwrap_or_else(|e| panic!("{name} piece {piece}: {e}"));
            assert!(got == asic, "{name} piece {piece}: plaintext differs");
        }
        let (v, files) = read_asic(&asic).expect("verifies");
        assert_eq!(files.len(), 2);
        assert_eq!(v.primary.as_deref(), Some("a.bin"));
    }
}

#[test]
fn openssl_verifies_our_signature_over_the_asic_manifest() {
    let f = fixtures();
    let d = scratch("verify");
    let asic = asic_bytes(&identity(&f.alice), &[("a.txt", b"signed content")]);
    let zip = d.join("asic.zip");
    std::fs::write(&zip, &asic).expect("write");
    run(Command::new("unzip").arg("-q").arg("-o").arg(&zip).arg("-d").arg(&d));
    let sig = std::fs::read_dir(d.join("META-INF"))
        .expect("META-INF")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "p7s"))
        .expect("signature file");
    let out = run(Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any", "-in"])
        .arg(&sig)
        .arg("-content")
        .arg(d.join("META-INF/ASiCManifest.xml"))
        .arg("-CAfile")
        .arg(&f.alice.cert)
        .args(["-out", "/dev/null"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Verification successful"));
}

#[test]
fn we_verify_openssl_detached_signatures_sha256_and_sha1() {
    let f = fixtures();
    let d = scratch("ossl-sign");
    let content = d.join("ASiCManifest.xml");
    std::fs::write(&content, b"<ASiCManifest/>").expect("write");
    for md in ["sha256", "sha1"] {
        let sig = d.join(format!("{md}.p7s"));
        run(Command::new("openssl")
            .args(["cms", "-sign", "-binary", "-outform", "DER", "-md", md, "-in"])
            .arg(&content)
            .arg("-signer")
            .arg(&f.alice.cert)
            .arg("-inkey")
            .arg(&f.alice.key)
            .arg("-out")
            .arg(&sig));
        let p7s = std::fs::read(&sig).expect("sig");
        let s = verify_detached(&p7s, b"<ASiCManifest/>").unwrap_or_else(|e| panic!("{md}: {e}"));
        assert!(s.certificate.subject().contains("alice"));
        assert!(
            verify_detached(&p7s, b"<ASiCManifest />").is_err(),
            "{md}: other content must not verify"
        );
    }
}
