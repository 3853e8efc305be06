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
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=bench",
        ])
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
    Keys {
        me: Identity::new(k, certs).expect("identity"),
        receiver,
    }
}

/// Packages `data` as one document; hands each output chunk to `sink`.
pub fn package(keys: &Keys, data: &[u8], mut sink: impl FnMut(&[u8])) {
    let rng = SystemRandom::new();
    let mut cms =
        CmsEncryptor::new(&keys.receiver, KeyTransport::RsaOaepSha256, &rng).expect("cms");
    let mut asic = AsicWriter::new(Some(b"<manifest/>"), DosDateTime::EPOCH).expect("asic");
    let mut a = vec![0u8; CHUNK + 1024];
    let mut c = vec![0u8; CHUNK + 1024];
    let mut put = |cms: &mut CmsEncryptor, mut bytes: &[u8], c: &mut [u8]| loop {
        if bytes.is_empty() && cms.pending_len() == 0 {
            break;
        }
        let p = cms.encrypt(bytes, c).expect("encrypt");
        sink(&c[..p.written]);
        bytes = &bytes[p.consumed..];
    };
    asic.start_file("data.bin", "application/octet-stream")
        .expect("start");
    for chunk in data.chunks(CHUNK) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let p = asic.write(rest, &mut a).expect("write");
            put(&mut cms, &a[..p.written], &mut c);
            rest = &rest[p.consumed..];
        }
    }
    asic.finish_file().expect("finish file");
    let now = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
    asic.finish(
        &keys.me,
        uuid::Uuid::from_u128(1),
        now,
        Some("data.bin"),
        &rng,
    )
    .expect("finish");
    loop {
        let n = asic.drain(&mut a);
        if n == 0 {
            break;
        }
        put(&mut cms, &a[..n], &mut c);
    }
    cms.finish().expect("cms finish");
    loop {
        let n = cms.drain(&mut c);
        if n == 0 {
            break;
        }
        sink(&c[..n]);
    }
}

/// Decrypts and verifies a packaged message; returns the document bytes seen.
pub fn unpackage(keys: &Keys, cms_bytes: &[u8]) -> u64 {
    let rng = SystemRandom::new();
    let unwrap = RsaKeyUnwrap {
        key: keys.me.key.unwrapper(),
    };
    let me = keys.receiver.issuer_and_serial().expect("ias");
    let mut d = CmsDecryptor::new(&unwrap, me, &rng);
    let mut r = AsicReader::new(ZipLimits::default());
    let mut plain = vec![0u8; CHUNK + 64];
    let mut doc = vec![0u8; CHUNK];
    let mut total = 0u64;
    let mut feed = |r: &mut AsicReader, mut bytes: &[u8], doc: &mut [u8]| loop {
        let s = r.read(bytes, doc).expect("asic read");
        total += s.written as u64;
        bytes = &bytes[s.consumed..];
        if bytes.is_empty() && s.event.is_none() && s.written == 0 {
            break;
        }
    };
    for chunk in cms_bytes.chunks(CHUNK) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let p = d.decrypt(rest, &mut plain).expect("decrypt");
            feed(&mut r, &plain[..p.written], &mut doc);
            rest = &rest[p.consumed..];
        }
    }
    let mut tail = [0u8; 16];
    let n = d.finish(&mut tail).expect("cms finish");
    feed(&mut r, &tail[..n], &mut doc);
    feed(&mut r, &[], &mut doc);
    r.finish(None).expect("verifies");
    total
}
