//! Shared by the packaging suites: keys and certificates made with `openssl` at test
//! time, the `efm` binary, and in-memory drivers over the core streaming API.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use efm_core::Timestamp;
use efm_core::crypto::cert::Certificate;
use efm_core::crypto::envelope_read::CmsDecryptor;
use efm_core::crypto::envelope_write::CmsEncryptor;
use efm_core::crypto::key_unwrap::{KeyTransport, RsaKeyUnwrap};
use efm_core::crypto::keys::{Identity, PrivateKey};
use efm_core::package::asic::{AsicEvent, AsicReader, AsicWriter, VerifiedAsic};
use efm_core::package::dos_time::DosDateTime;
use efm_core::package::eformidling_manifest::{EformidlingManifest, PrimaryDocument};
use efm_core::package::zip_read::{ZipEvent, ZipLimits, ZipReader};
use ring::rand::SystemRandom;

pub struct Party {
    pub key: PathBuf,
    pub cert: PathBuf,
    pub p12: PathBuf,
}

pub struct Fixtures {
    pub dir: PathBuf,
    pub alice: Party,
    pub bob: Party,
    pub sbd: PathBuf,
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn make_party(dir: &Path, name: &str) -> Party {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.crt"));
    let p12 = dir.join(format!("{name}.p12"));
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30"])
        .args([
            "-subj",
            &format!("/CN={name} efm test/O=efm"),
            "-addext",
            "keyUsage=digitalSignature,keyEncipherment",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ]));
    run(Command::new("openssl").args([
        "pkcs12",
        "-export",
        "-inkey",
        key.to_str().unwrap(),
        "-in",
        cert.to_str().unwrap(),
        "-out",
        p12.to_str().unwrap(),
        "-passout",
        "pass:changeit",
    ]));
    Party { key, cert, p12 }
}

/// Keys for a sender (alice) and a receiver (bob), made once per test binary.
pub fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let exe = std::env::current_exe().expect("current exe");
        let stem = exe.file_stem().and_then(|s| s.to_str()).unwrap_or("t").to_owned();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("efm-pack-{stem}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let alice = make_party(&dir, "alice");
        let bob = make_party(&dir, "bob");
        let sbd = dir.join("sbd.json");
        std::fs::write(
            &sbd,
            r#"{"standardBusinessDocumentHeader":{"headerVersion":"1.0","sender":[{"identifier":{"value":"0192:910077473","authority":"iso6523-actorid-upis"}}],"receiver":[{"identifier":{"value":"0192:910075918","authority":"iso6523-actorid-upis"}}]},"arkivmelding":{"sikkerhetsnivaa":3}}"#,
        )
        .expect("sbd");
        Fixtures { dir, alice, bob, sbd }
    })
}

/// A fresh directory under the fixtures directory.
pub fn scratch(name: &str) -> PathBuf {
    let d = fixtures().dir.join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// The `efm` binary next to the test executable (target/<profile>/efm). Under cargo we
/// first run `cargo build -p efm-cli --bin efm` (a no-op when fresh), so a test never
/// runs a stale binary; outside cargo the binary must already be there.
pub fn efm() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("current exe");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
        let bin = profile_dir.join("efm");
        if let Ok(cargo) = std::env::var("CARGO") {
            let mut c = Command::new(cargo);
            c.args(["build", "--quiet", "-p", "efm-cli", "--bin", "efm"]);
            // Drop what cargo set for this test process: build scripts that track such
            // variables would otherwise rebuild on every switch between the two.
            for (k, _) in std::env::vars_os() {
                let k = k.to_string_lossy().into_owned();
                let set_by_cargo = k.starts_with("CARGO_PKG_")
                    || k.starts_with("CARGO_MANIFEST_")
                    || k.starts_with("CARGO_CRATE_")
                    || k.starts_with("CARGO_BIN_")
                    || [
                        "CARGO_TARGET_TMPDIR",
                        "CARGO_PRIMARY_PACKAGE",
                        "OUT_DIR",
                        "LD_LIBRARY_PATH",
                    ]
                    .contains(&k.as_str());
                if set_by_cargo {
                    c.env_remove(&k);
                }
            }
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                c.arg("--release");
            }
            run(&mut c);
        }
        assert!(bin.exists(), "efm binary missing at {}: cargo build -p efm-cli", bin.display());
        bin
    })
    .clone()
}

pub fn identity(p: &Party) -> Identity {
    let key = PrivateKey::from_pem(&std::fs::read(&p.key).expect("key")).expect("key parses");
    let certs = Certificate::from_pem(&std::fs::read(&p.cert).expect("cert")).expect("cert parses");
    Identity::new(key, certs).expect("identity")
}

pub fn certificate(p: &Party) -> Certificate {
    Certificate::from_pem(&std::fs::read(&p.cert).expect("cert")).expect("cert parses").remove(0)
}

pub fn now() -> Timestamp {
    Timestamp::from_datetime(time::OffsetDateTime::now_utc())
}

/// Streams an ASiC (unencrypted) through small buffers.
pub fn asic_bytes(me: &Identity, files: &[(&str, &[u8])]) -> Vec<u8> {
    let manifest = EformidlingManifest {
        receiver: "0192:910075918".into(),
        sender: "0192:910077473".into(),
        primary: files.first().map(|(n, _)| PrimaryDocument {
            href: (*n).into(),
            mime: "application/octet-stream".into(),
        }),
    }
    .to_xml();
    let mut w = AsicWriter::new(Some(manifest.as_bytes()), DosDateTime::EPOCH).expect("asic");
    let mut out = Vec::new();
    let mut buf = vec![0u8; 7000];
    let drain = |w: &mut AsicWriter, out: &mut Vec<u8>, buf: &mut [u8]| loop {
        let n = w.drain(buf);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    };
    for (name, data) in files {
        w.start_file(name, "application/octet-stream").expect("start");
        let mut rest: &[u8] = data;
        while !rest.is_empty() {
            let p = w.write(&rest[..rest.len().min(5000)], &mut buf).expect("write");
            out.extend_from_slice(&buf[..p.written]);
            rest = &rest[p.consumed..];
        }
        w.finish_file().expect("finish file");
        drain(&mut w, &mut out, &mut buf);
    }
    let id = uuid::Uuid::from_u128(0x1234);
    w.finish(me, id, now(), files.first().map(|f| f.0)).expect("finish");
    drain(&mut w, &mut out, &mut buf);
    out
}

/// CMS-encrypts `plain` to `to`, through small buffers.
pub fn encrypt(plain: &[u8], to: &Certificate, transport: KeyTransport) -> Vec<u8> {
    encrypt_with(plain, to, transport, &efm_core::crypto::envelope_write::PortableWrap)
}

/// As [`encrypt`], the content key wrapped by `wrap`.
pub fn encrypt_with(
    plain: &[u8],
    to: &Certificate,
    transport: KeyTransport,
    wrap: &dyn efm_core::crypto::envelope_write::KeyWrap,
) -> Vec<u8> {
    let rng = SystemRandom::new();
    let mut e = CmsEncryptor::with_wrap(to, transport, &rng, wrap).expect("encryptor");
    let mut out = Vec::new();
    let mut buf = vec![0u8; 3000];
    let mut rest = plain;
    loop {
        if rest.is_empty() && e.pending_len() == 0 {
            break;
        }
        let p = e.encrypt(&rest[..rest.len().min(4099)], &mut buf).expect("encrypt");
        out.extend_from_slice(&buf[..p.written]);
        rest = &rest[p.consumed..];
    }
    e.finish().expect("finish");
    loop {
        let n = e.drain(&mut buf);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// Decrypts a CMS to bytes (no ASiC processing), feeding `piece` bytes at a time.
pub fn decrypt(cms: &[u8], me: &Identity, piece: usize) -> Result<Vec<u8>, String> {
    let rng = SystemRandom::new();
    let unwrap = RsaKeyUnwrap { key: me.key.unwrapper() };
    let my_id = me.certificate().expect("cert").issuer_and_serial().expect("ias");
    let mut d = CmsDecryptor::new(&unwrap, my_id, &rng);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut rest = cms;
    while !rest.is_empty() {
        let p = d.decrypt(&rest[..rest.len().min(piece)], &mut buf).map_err(|e| e.to_string())?;
        out.extend_from_slice(&buf[..p.written]);
        if p.consumed == 0 && p.written == 0 {
            return Err("no progress".into());
        }
        rest = &rest[p.consumed..];
    }
    let mut tail = [0u8; 16];
    let n = d.finish(&mut tail).map_err(|e| e.to_string())?;
    out.extend_from_slice(&tail[..n]);
    Ok(out)
}

/// Reads and verifies an ASiC; returns the verification and the documents.
/// Documents by name, in container order.
pub type Documents = Vec<(String, Vec<u8>)>;

pub fn read_asic(asic: &[u8]) -> Result<(VerifiedAsic, Documents), String> {
    let mut r = AsicReader::new(ZipLimits::default());
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut buf = vec![0u8; 3333];
    let mut rest = asic;
    let mut open = false;
    loop {
        let step = r.read(&rest[..rest.len().min(6000)], &mut buf).map_err(|e| e.to_string())?;
        if open && let Some(f) = files.last_mut() {
            f.1.extend_from_slice(&buf[..step.written]);
        }
        match &step.event {
            Some(AsicEvent::FileStart { name }) => {
                files.push((name.clone(), Vec::new()));
                open = true;
            }
            Some(AsicEvent::FileEnd { .. }) => open = false,
            None => {}
        }
        rest = &rest[step.consumed..];
        if rest.is_empty() && step.event.is_none() && step.written == 0 {
            break;
        }
    }
    let manifest = files.iter().find(|f| f.0 == "manifest.xml").map(|f| f.1.clone());
    let v = r.finish(manifest.as_deref()).map_err(|e| e.to_string())?;
    Ok((v, files))
}

pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Every entry of a zip, with its content, read with core's streaming reader.
pub fn zip_entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut r = ZipReader::new(ZipLimits::default());
    let mut out = vec![0u8; 4096];
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut rest = zip;
    loop {
        let s = r.read(rest, &mut out).expect("zip reads");
        if let Some(f) = files.last_mut() {
            f.1.extend_from_slice(&out[..s.written]);
        }
        if let Some(ZipEvent::EntryStart(m)) = &s.event {
            files.push((m.name.clone(), Vec::new()));
        }
        rest = &rest[s.consumed..];
        if rest.is_empty() && s.event.is_none() && s.written == 0 {
            break;
        }
    }
    r.finish().expect("zip directory");
    files
}
