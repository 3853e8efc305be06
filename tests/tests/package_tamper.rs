//! Tampering is caught with an error naming what failed, never a panic: a flipped byte
//! anywhere in the CMS, an altered document, digest, signature or mimetype.

mod package_support;

use efm_core::crypto::key_unwrap::KeyTransport;
use efm_core::package::dos_time::DosDateTime;
use efm_core::package::zip_write::{Method, ZipWriter, drain_to_vec};
use package_support::{
    asic_bytes, certificate, decrypt, encrypt, fixtures, identity, noise, read_asic, zip_entries,
};

/// Rebuilds a well-formed zip with `change` applied to one entry, so only the ASiC
/// checks (not the zip CRC) can catch it.
fn rezip(zip: &[u8], change: impl Fn(&str, &mut Vec<u8>)) -> Vec<u8> {
    let mut w = ZipWriter::new(DosDateTime::EPOCH);
    for (name, mut data) in zip_entries(zip) {
        change(&name, &mut data);
        let m = if name == "mimetype" { Method::Stored } else { Method::Deflate };
        w.add_entry(&name, &data, m).expect("add");
    }
    w.finish(b"mimetype=application/vnd.etsi.asic-e+zip").expect("finish");
    let mut out = Vec::new();
    drain_to_vec(&mut w, &mut out);
    out
}

fn sample_asic() -> Vec<u8> {
    asic_bytes(
        &identity(&fixtures().alice),
        &[("hoved.pdf", &noise(40_000, 5)), ("vedlegg.txt", &b"vedlegg ".repeat(500))],
    )
}

#[test]
fn untouched_rezip_still_verifies() {
    let asic = sample_asic();
    read_asic(&rezip(&asic, |_, _| {})).expect("a faithful rezip verifies");
}

#[test]
fn an_altered_document_is_named() {
    let bad = rezip(&sample_asic(), |n, d| {
        if n == "vedlegg.txt" {
            d[3] ^= 1;
        }
    });
    let err = read_asic(&bad).expect_err("must fail");
    assert!(err.contains("vedlegg.txt") && err.contains("digest"), "{err}");
}

#[test]
fn an_altered_digest_value_breaks_the_signature() {
    let bad = rezip(&sample_asic(), |n, d| {
        if n == "META-INF/ASiCManifest.xml" {
            let s = String::from_utf8(d.clone()).expect("utf8");
            let at = s.find("<ds:DigestValue>").expect("digest") + "<ds:DigestValue>".len();
            d[at] = if d[at] == b'A' { b'B' } else { b'A' };
        }
    });
    let err = read_asic(&bad).expect_err("must fail");
    assert!(err.contains("signature") && err.contains("digest"), "{err}");
}

#[test]
fn an_altered_signature_is_named() {
    let bad = rezip(&sample_asic(), |n, d| {
        if n.ends_with(".p7s") {
            let last = d.len() - 10; // inside the RSA signature value
            d[last] ^= 0x40;
        }
    });
    let err = read_asic(&bad).expect_err("must fail");
    assert!(err.contains("signature") && err.contains("does not verify"), "{err}");
}

#[test]
fn an_altered_mimetype_is_refused() {
    let bad = rezip(&sample_asic(), |n, d| {
        if n == "mimetype" {
            d[0] = b'x';
        }
    });
    let err = read_asic(&bad).expect_err("must fail");
    assert!(err.contains("mimetype"), "{err}");
}

#[test]
fn an_extra_file_is_refused() {
    let asic = sample_asic();
    let mut w = ZipWriter::new(DosDateTime::EPOCH);
    for (name, data) in zip_entries(&asic) {
        let m = if name == "mimetype" { Method::Stored } else { Method::Deflate };
        w.add_entry(&name, &data, m).expect("add");
        if name == "vedlegg.txt" {
            w.add_entry("smuggled.exe", b"MZ", Method::Deflate).expect("add");
        }
    }
    w.finish(b"").expect("finish");
    let mut out = Vec::new();
    drain_to_vec(&mut w, &mut out);
    let err = read_asic(&out).expect_err("must fail");
    assert!(err.contains("smuggled.exe") && err.contains("not listed"), "{err}");
}

#[test]
fn a_flipped_byte_anywhere_in_the_cms_is_an_error_never_a_panic() {
    let f = fixtures();
    let me = identity(&f.bob);
    let asic = sample_asic();
    let cms = encrypt(&asic, &certificate(&f.bob), KeyTransport::RsaOaepSha256);
    assert!(decrypt(&cms, &me, 1 << 20).is_ok_and(|p| p == asic));
    // The whole header (recipient, key, IV), a stride through the body, the tail.
    let mut positions: Vec<usize> = (0..700).step_by(3).collect();
    positions.extend((700..cms.len()).step_by(997));
    positions.extend(cms.len().saturating_sub(80)..cms.len());
    let mut errors = std::collections::BTreeMap::<String, usize>::new();
    for &i in &positions {
        let mut bad = cms.clone();
        bad[i] ^= 0x10;
        let outcome = decrypt(&bad, &me, 1 << 20).and_then(|plain| read_asic(&plain).map(|_| ()));
        match outcome {
            Err(e) => *errors.entry(e.split(':').next().unwrap_or("").to_owned()).or_default() += 1,
            Ok(()) => panic!(
                "flip at byte {i} of {} went unnoticed; bytes from {}: {:02x?}",
                cms.len(),
                i.saturating_sub(8),
                &cms[i.saturating_sub(8)..(i + 8).min(cms.len())]
            ),
        }
    }
    eprintln!("tamper outcomes over {} flips: {errors:#?}", positions.len());
}

#[test]
fn truncated_cms_is_an_error() {
    let f = fixtures();
    let me = identity(&f.bob);
    let cms = encrypt(&sample_asic(), &certificate(&f.bob), KeyTransport::RsaOaepSha256);
    for cut in [0, 1, 100, 500, cms.len() / 2, cms.len() - 17, cms.len() - 1] {
        assert!(decrypt(&cms[..cut], &me, 1 << 20).is_err(), "cut at {cut}");
    }
}

#[test]
fn the_reference_writers_lowercase_manifest_name_verifies() {
    // The reference's CadesAsicWriter names it META-INF/asicmanifest.xml.
    let asic = sample_asic();
    let mut w = ZipWriter::new(DosDateTime::EPOCH);
    for (name, data) in zip_entries(&asic) {
        let name = if name == "META-INF/ASiCManifest.xml" {
            "META-INF/asicmanifest.xml".to_string()
        } else {
            name
        };
        let m = if name == "mimetype" { Method::Stored } else { Method::Deflate };
        w.add_entry(&name, &data, m).expect("add");
    }
    w.finish(b"mimetype=application/vnd.etsi.asic-e+zip").expect("finish");
    let mut out = Vec::new();
    drain_to_vec(&mut w, &mut out);
    let (v, _) = read_asic(&out).expect("verifies");
    assert_eq!(v.primary.as_deref(), Some("hoved.pdf"));
}

#[test]
fn an_unknown_meta_inf_entry_is_refused() {
    let asic = sample_asic();
    let mut w = ZipWriter::new(DosDateTime::EPOCH);
    for (name, data) in zip_entries(&asic) {
        let m = if name == "mimetype" { Method::Stored } else { Method::Deflate };
        w.add_entry(&name, &data, m).expect("add");
    }
    w.add_entry("META-INF/evil.xml", b"<x/>", Method::Deflate).expect("add");
    w.finish(b"").expect("finish");
    let mut out = Vec::new();
    drain_to_vec(&mut w, &mut out);
    let err = read_asic(&out).expect_err("must fail");
    assert!(err.contains("META-INF/evil.xml"), "{err}");
}
