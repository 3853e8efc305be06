//! Drivers shared by the benchmarks: package (ASiC-E + CMS) and unpackage through fixed
//! buffers, the way `efm package` streams, with the output counted or kept.

use efm_core::Timestamp;
use efm_core::crypto::cert::Certificate;
use efm_core::crypto::envelope_read::CmsDecryptor;
use efm_core::crypto::envelope_write::CmsEncryptor;
use efm_core::crypto::key_unwrap::{KeyTransport, RsaKeyUnwrap};
use efm_core::crypto::keys::{Identity, PrivateKey};
use efm_core::package::asic::{AsicReader, AsicWriter};
use efm_core::package::dos_time::DosDateTime;
use efm_core::package::pipeline::{Opener, Sealer};
use efm_core::package::zip_read::ZipLimits;
use ring::rand::SystemRandom;

pub const CHUNK: usize = 256 * 1024;

/// Keys made with openssl into a temporary directory.
pub struct Keys {
    pub me: Identity,
    pub receiver: Certificate,
}

pub fn keys() -> Keys {
    let dir = std::env::temp_dir().join(format!("efm-bench-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let key = dir.join("k.pem");
    let crt = dir.join("c.pem");
    let ok = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=bench"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("openssl runs")
        .status
        .success();
    assert!(ok, "openssl req failed");
    let k = PrivateKey::from_pem(&std::fs::read(&key).expect("key")).expect("key");
    let certs = Certificate::from_pem(&std::fs::read(&crt).expect("crt")).expect("crt");
    let receiver = certs[0].clone();
    let _ = std::fs::remove_dir_all(&dir);
    Keys { me: Identity::new(k, certs).expect("identity"), receiver }
}

/// Packages `data` as one document through [`Sealer`]; hands each output chunk to `sink`.
pub fn package(keys: &Keys, data: &[u8], mut sink: impl FnMut(&[u8])) {
    let rng = SystemRandom::new();
    let cms = CmsEncryptor::new(&keys.receiver, KeyTransport::RsaOaepSha256, &rng).expect("cms");
    let asic = AsicWriter::new(Some(b"<manifest/>"), DosDateTime::EPOCH).expect("asic");
    let mut s = Sealer::new(asic, cms);
    let mut out = vec![0u8; CHUNK + 1024];
    s.start_file("data.bin", "application/octet-stream").expect("start");
    for chunk in data.chunks(CHUNK) {
        let mut rest = chunk;
        loop {
            let p = s.write(rest, &mut out).expect("write");
            sink(&out[..p.written]);
            rest = &rest[p.consumed..];
            if rest.is_empty() && p.written == 0 {
                break;
            }
        }
    }
    s.finish_file().expect("finish file");
    let now = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
    s.finish(&keys.me, uuid::Uuid::from_u128(1), now, Some("data.bin")).expect("finish");
    while !s.is_done() {
        let n = s.flush(&mut out).expect("flush");
        sink(&out[..n]);
    }
}

/// Decrypts and verifies a packaged message through [`Opener`]; returns the document
/// bytes seen.
pub fn unpackage(keys: &Keys, cms_bytes: &[u8]) -> u64 {
    let rng = SystemRandom::new();
    let unwrap = RsaKeyUnwrap { key: keys.me.key.unwrapper() };
    let me = keys.receiver.issuer_and_serial().expect("ias");
    let mut o =
        Opener::new(CmsDecryptor::new(&unwrap, me, &rng), AsicReader::new(ZipLimits::default()));
    let mut doc = vec![0u8; CHUNK];
    let mut total = 0u64;
    let mut rest = cms_bytes;
    let mut ended = false;
    loop {
        let s = o.read(&rest[..rest.len().min(CHUNK)], &mut doc).expect("read");
        total += s.written as u64;
        rest = &rest[s.consumed..];
        if rest.is_empty() && s.consumed == 0 && s.written == 0 && s.event.is_none() {
            if ended {
                break;
            }
            o.end_of_input().expect("end");
            ended = true;
        }
    }
    o.verify(None).expect("verifies");
    total
}
