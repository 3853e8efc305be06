//! Throwaway RSA keys and self-signed certificates made with `openssl` at test time, so
//! that nothing secret is checked in.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct TestKey {
    pub dir: PathBuf,
    /// PKCS#8 PEM private key.
    pub key_pem: PathBuf,
    /// Self-signed certificate for the key.
    pub cert_pem: PathBuf,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestKey {
    /// A fresh 2048-bit key in its own temporary folder. Panics when `openssl` is missing.
    pub fn generate(name: &str) -> TestKey {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("efm-test-{}-{name}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let key_pem = dir.join("key.pem");
        let cert_pem = dir.join("cert.pem");
        run(Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
            .arg(&key_pem));
        run(Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-new",
                "-days",
                "2",
                "-subj",
                &format!("/CN=efm test {name}"),
                "-key",
            ])
            .arg(&key_pem)
            .arg("-out")
            .arg(&cert_pem));
        TestKey { dir, key_pem, cert_pem }
    }

    /// The key and certificate as a PKCS#12 keystore (`keystore.p12`) under
    /// `password`, as an integration point is configured with.
    pub fn pkcs12(&self, password: &str) -> PathBuf {
        let p12 = self.dir.join("keystore.p12");
        run(Command::new("openssl")
            .args(["pkcs12", "-export", "-name", "efm", "-passout"])
            .arg(format!("pass:{password}"))
            .arg("-inkey")
            .arg(&self.key_pem)
            .arg("-in")
            .arg(&self.cert_pem)
            .arg("-out")
            .arg(&p12));
        p12
    }

    pub fn key_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.key_pem).expect("key file")
    }

    pub fn cert_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.cert_pem).expect("cert file")
    }
}

impl Drop for TestKey {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a command and panics with its stderr when it fails.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("openssl is needed for this test");
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}
