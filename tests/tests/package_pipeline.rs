//! The one-object pipelines (`Sealer`, `Opener`) against the layer-by-layer helpers and
//! OpenSSL, with awkward buffer sizes.

mod package_support;

use std::process::Command;

use efm_core::crypto::envelope_read::CmsDecryptor;
use efm_core::crypto::envelope_write::CmsEncryptor;
use efm_core::crypto::key_unwrap::{KeyTransport, RsaKeyUnwrap};
use efm_core::package::asic::{AsicEvent, AsicReader, AsicWriter};
use efm_core::package::dos_time::DosDateTime;
use efm_core::package::pipeline::{Opener, Sealer};
use efm_core::package::zip_read::ZipLimits;
use package_support::{
    Documents, certificate, decrypt, fixtures, identity, noise, now, read_asic, run, scratch,
};
use ring::rand::SystemRandom;

fn seal(files: &[(&str, Vec<u8>)], piece: usize, out_len: usize) -> Vec<u8> {
    let f = fixtures();
    let rng = SystemRandom::new();
    let me = identity(&f.alice);
    let asic = AsicWriter::new(Some(b"<manifest/>"), DosDateTime::EPOCH).expect("asic");
    let cms =
        CmsEncryptor::new(&certificate(&f.bob), KeyTransport::RsaOaepSha256, &rng).expect("cms");
    let mut s = Sealer::new(asic, cms);
    let mut out = vec![0u8; out_len];
    let mut cms_bytes = Vec::new();
    for (name, data) in files {
        s.start_file(name, "application/octet-stream").expect("start");
        let mut rest = &data[..];
        loop {
            let p = s.write(&rest[..rest.len().min(piece)], &mut out).expect("write");
            cms_bytes.extend_from_slice(&out[..p.written]);
            rest = &rest[p.consumed..];
            if rest.is_empty() && p.written == 0 {
                break;
            }
        }
        s.finish_file().expect("finish file");
    }
    s.finish(&me, uuid::Uuid::from_u128(7), now(), files.first().map(|f| f.0)).expect("finish");
    while !s.is_done() {
        let n = s.flush(&mut out).expect("flush");
        cms_bytes.extend_from_slice(&out[..n]);
    }
    cms_bytes
}

fn open(cms: &[u8], piece: usize, out_len: usize) -> Result<Documents, String> {
    let f = fixtures();
    let rng = SystemRandom::new();
    let me = identity(&f.bob);
    let unwrap = RsaKeyUnwrap { key: me.key.unwrapper() };
    let id = me.certificate().expect("cert").issuer_and_serial().expect("ias");
    let mut o =
        Opener::new(CmsDecryptor::new(&unwrap, id, &rng), AsicReader::new(ZipLimits::default()));
    let mut out = vec![0u8; out_len];
    let mut docs: Documents = Vec::new();
    let mut open_doc = false;
    let mut rest = cms;
    let mut ended = false;
    loop {
        let step = o.read(&rest[..rest.len().min(piece)], &mut out).map_err(|e| e.to_string())?;
        if open_doc && let Some(d) = docs.last_mut() {
            d.1.extend_from_slice(&out[..step.written]);
        }
        match &step.event {
            Some(AsicEvent::FileStart { name }) => {
                docs.push((name.clone(), Vec::new()));
                open_doc = true;
            }
            Some(AsicEvent::FileEnd { .. }) => open_doc = false,
            None => {}
        }
        rest = &rest[step.consumed..];
        let idle = step.consumed == 0 && step.written == 0 && step.event.is_none();
        if rest.is_empty() && idle {
            if ended {
                break;
            }
            o.end_of_input().map_err(|e| e.to_string())?;
            ended = true;
        }
    }
    let v = o.verify(None).map_err(|e| e.to_string())?;
    assert_eq!(v.files.len(), docs.len());
    Ok(docs)
}

#[test]
fn sealer_and_opener_round_trip_with_awkward_buffers() {
    let files = [
        ("a.bin".to_string(), noise(200_000, 11)),
        ("empty".to_string(), Vec::new()),
        ("b.txt".to_string(), b"tekst ".repeat(30_000)),
    ];
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    let mut expected = vec![("manifest.xml".to_string(), b"<manifest/>".to_vec())];
    expected.extend(files.iter().cloned());
    for (piece, out_len) in [(1 << 20, 1 << 16), (777, 64), (64, 100), (5000, 333)] {
        let cms = seal(&refs, piece, out_len);
        // The layered helpers agree that this is a valid signed ASiC-E in a CMS.
        let plain = decrypt(&cms, &identity(&fixtures().bob), 4096).expect("decrypts");
        read_asic(&plain).expect("verifies");
        for (p2, o2) in [(1 << 20, 1 << 16), (999, 64), (13, 200)] {
            let docs = open(&cms, p2, o2)
                .unwrap_or_else(|e| panic!("seal {piece}/{out_len} open {p2}/{o2}: {e}"));
            assert!(docs == expected, "seal {piece}/{out_len} open {p2}/{o2}: documents differ");
        }
    }
}

#[test]
fn openssl_decrypts_the_sealer_output() {
    let cms = seal(&[("x.bin", noise(50_000, 3))], 4096, 4096);
    let d = scratch("sealer-openssl");
    std::fs::write(d.join("x.cms"), &cms).expect("write");
    run(Command::new("openssl")
        .args(["cms", "-decrypt", "-binary", "-inform", "DER", "-in"])
        .arg(d.join("x.cms"))
        .arg("-inkey")
        .arg(&fixtures().bob.key)
        .arg("-out")
        .arg(d.join("x.zip")));
    run(Command::new("unzip").arg("-t").arg(d.join("x.zip")));
}

#[test]
fn opener_names_a_tampered_byte() {
    let mut cms = seal(&[("x.bin", noise(50_000, 4))], 4096, 4096);
    let at = cms.len() / 2;
    cms[at] ^= 0x08;
    let err = open(&cms, 4096, 4096).expect_err("must fail");
    assert!(!err.is_empty());
}
