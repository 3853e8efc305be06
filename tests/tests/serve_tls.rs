//! `efm serve` over TLS (`tls.cert`, `tls.key`): a client that trusts the
//! certificate gets the API over HTTPS, uploads included; plain HTTP on the same
//! port gets no answer; a certificate or key that does not load stops the start
//! with an error naming the file. Both runtimes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use efm_tests::keys::run;
use efm_tests::server::{LocalRegistry, Served};
use efm_tests::workspace;

const RUNTIMES: [&str; 2] = ["blocking", "async"];
/// The messageId of examples/sbd/arkivmelding.json, a DPO message.
const ID: &str = "5a0f3e7c-2d4b-4e8f-9c1a-7b6d5e4f3a21";

/// A server certificate for `localhost` and 127.0.0.1 (self-signed, not a CA, for
/// TLS servers), and its key, made with `openssl` in `dir`.
fn server_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("tls-cert.pem");
    let key = dir.join("tls-key.pem");
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    (cert, key)
}

/// An HTTPS client that trusts `cert` and nothing else.
fn client(cert: &Path) -> ureq::Agent {
    let pem = std::fs::read(cert).unwrap();
    let root = ureq::tls::Certificate::from_pem(&pem).unwrap();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![root])))
        .build();
    ureq::Agent::config_builder().tls_config(tls).http_status_as_error(false).build().new_agent()
}

fn basic() -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("efm:secret"))
}

#[test]
fn the_api_is_served_over_tls() {
    for runtime in RUNTIMES {
        the_api_is_served_over_tls_on(runtime);
    }
}

fn the_api_is_served_over_tls_on(runtime: &str) {
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = server_certificate(dir.path());
    let keystore = efm_tests::keys::TestKey::generate("tls");
    let p12 = dir.path().join("keystore.p12");
    std::fs::copy(keystore.pkcs12("changeit"), &p12).unwrap();
    let server = Served::start(
        dir.path(),
        &[
            ("EFM_TLS_CERT", cert.to_str().unwrap()),
            ("EFM_TLS_KEY", key.to_str().unwrap()),
            ("EFM_REGISTRY_URL", &registry.url),
            ("EFM_ENABLE", "DPO"),
            ("EFM_KEYSTORE", p12.to_str().unwrap()),
            ("EFM_KEYSTORE_PASSWORD", "changeit"),
            ("EFM_RUNTIME", runtime),
        ],
    );
    let port = server.addr.rsplit(':').next().unwrap();
    let base = format!("https://localhost:{port}");
    let agent = client(&cert);

    let mut r = agent.get(format!("{base}/manage/health")).call().unwrap();
    assert_eq!(r.status(), 200, "{runtime}");
    let health: serde_json::Value =
        serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap();
    assert_eq!(health["status"], "UP", "{runtime}");

    // Refused at the head over TLS too, and the next call goes on.
    let r = agent.post(format!("{base}/api/messages/out")).send(&b"{}"[..]).unwrap();
    assert_eq!(r.status(), 401, "{runtime}");

    // A message and a file of a few MiB, streamed through TLS to disk.
    let sbd = std::fs::read(workspace().join("examples/sbd/arkivmelding.json")).unwrap();
    let r = agent
        .post(format!("{base}/api/messages/out"))
        .header("Authorization", basic())
        .header("Content-Type", "application/json")
        .send(&sbd[..])
        .unwrap();
    assert_eq!(r.status(), 200, "{runtime}");
    let file: Vec<u8> =
        (0..5 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let r = agent
        .put(format!("{base}/api/messages/out/{ID}"))
        .header("Authorization", basic())
        .header("Content-Type", "application/pdf")
        .header("Content-Disposition", "attachment; filename=vedlegg.pdf")
        .send(&file[..])
        .unwrap();
    assert_eq!(r.status(), 200, "{runtime}");
    let stored = std::fs::read(dir.path().join("files").join(ID).join("0")).unwrap();
    assert!(stored == file, "{runtime}: the stored file differs");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /manage/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(!out.starts_with(b"HTTP/"), "{runtime}: {:?}", String::from_utf8_lossy(&out));
    // Nor does a client that does not trust the certificate.
    let stranger = ureq::Agent::config_builder().build().new_agent();
    assert!(stranger.get(format!("{base}/manage/health")).call().is_err(), "{runtime}");
    // The server is still there for those who speak TLS.
    assert_eq!(agent.get(format!("{base}/manage/health")).call().unwrap().status(), 200);
}

#[test]
fn a_bad_certificate_or_key_stops_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = server_certificate(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not PEM at all\n").unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let (_, other_key) = server_certificate(other_dir.path());
    for (cert, key, named) in [
        (&garbage, &key, "garbage.pem"),
        (&cert, &garbage, "garbage.pem"),
        (&cert, &other_key, "tls-cert.pem"),
    ] {
        let out = Command::new(efm_tests::efm_bin())
            .arg("serve")
            .env("EFM_LISTEN", "127.0.0.1:0")
            .env("EFM_DATA_DIR", dir.path().join("data"))
            .env("EFM_API_AUTH", "false")
            .env("EFM_TLS_CERT", cert)
            .env("EFM_TLS_KEY", key)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(named), "{named}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "it never listened: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
