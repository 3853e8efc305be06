//! `efm package` / `efm unpackage` end to end: round trips (0 bytes, small, 20 MB), the
//! DPO parcel, and the refusals a user meets first.

mod package_support;

use std::path::Path;
use std::process::Command;

use package_support::{efm, fixtures, noise, run, scratch};
use serde_json::Value;

/// `efm package --sbd … --keystore KEYSTORE [--password PASSWORD] --to-cert TO_CERT`;
/// the caller adds `--out` and the documents.
fn package_command(keystore: &Path, password: Option<&str>, to_cert: &Path) -> Command {
    let mut c = Command::new(efm());
    c.arg("package").arg("--sbd").arg(&fixtures().sbd).arg("--keystore").arg(keystore);
    if let Some(p) = password {
        c.args(["--password", p]);
    }
    c.arg("--to-cert").arg(to_cert);
    c
}

/// Alice packages for Bob, and it must work.
fn package(args: &[&str]) -> std::process::Output {
    let f = fixtures();
    run(package_command(&f.alice.p12, Some("changeit"), &f.bob.cert).args(args))
}

fn unpackage(
    input: &std::path::Path,
    out: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    let f = fixtures();
    let mut c = Command::new(efm());
    c.arg("unpackage")
        .arg("--keystore")
        .arg(&f.bob.p12)
        .args(["--password", "changeit", "--out"])
        .arg(out)
        .args(extra)
        .arg(input);
    c.output().expect("runs efm")
}

#[test]
fn round_trip_of_empty_small_and_20_mb_files_is_identical() {
    let d = scratch("roundtrip");
    let files = [
        ("arkivmelding.xml", b"<?xml version=\"1.0\"?><arkivmelding/>".to_vec()),
        ("empty.bin", Vec::new()),
        ("text.txt", b"Hei verden. ".repeat(100_000)),
        ("big.bin", noise(20 * 1024 * 1024, 42)),
    ];
    let mut paths = Vec::new();
    for (n, data) in &files {
        let p = d.join(n);
        std::fs::write(&p, data).expect("write input");
        paths.push(p.to_str().expect("utf8").to_owned());
    }
    let cms = d.join("msg.cms");
    let mut args = vec!["--out", cms.to_str().expect("utf8"), "--primary", "arkivmelding.xml"];
    args.extend(paths.iter().map(String::as_str));
    package(&args);
    let out = d.join("out");
    let res = unpackage(&cms, &out, &[]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    for (n, data) in &files {
        let got = std::fs::read(out.join(n)).expect("extracted file");
        assert!(&got == data, "{n} differs after the round trip");
    }
    let report: Value = serde_json::from_slice(&res.stdout).expect("JSON report");
    assert_eq!(report["kind"], "cms");
    assert_eq!(report["keyTransport"], "rsaes-oaep-sha256");
    assert_eq!(report["primary"], "arkivmelding.xml");
    assert_eq!(report["signer"]["digest"], "SHA-256");
    assert!(report["signer"]["subject"].as_str().unwrap_or("").contains("alice"));
    let names: Vec<&str> = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["manifest.xml", "arkivmelding.xml", "empty.bin", "text.txt", "big.bin"]);
    // Incompressible data must not grow beyond framing (stored deflate blocks).
    let size = std::fs::metadata(&cms).expect("cms").len();
    assert!(size < 20 * 1024 * 1024 + 1_400_000, "CMS is {size} bytes");
}

#[test]
fn dpo_parcel_round_trips_and_unzip_accepts_it() {
    let d = scratch("parcel");
    let doc = d.join("arkivmelding.xml");
    std::fs::write(&doc, b"<arkivmelding/>").expect("doc");
    let parcel = d.join("sbd.zip");
    package(&[
        "--dpo-parcel",
        "--out",
        parcel.to_str().expect("utf8"),
        doc.to_str().expect("utf8"),
    ]);
    let t = run(Command::new("unzip").arg("-t").arg(&parcel));
    let listing = String::from_utf8_lossy(&t.stdout);
    assert!(listing.contains("sbd.json") && listing.contains("asic.zip"), "{listing}");
    let res = unpackage(&parcel, &d.join("out"), &[]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let report: Value = serde_json::from_slice(&res.stdout).expect("JSON report");
    assert_eq!(report["kind"], "dpo-parcel");
    let sbd: Value =
        serde_json::from_slice(&std::fs::read(&fixtures().sbd).expect("sbd")).expect("sbd json");
    assert_eq!(report["sbd"], sbd);
}

#[test]
fn pkcs1_key_transport_for_dpe_round_trips() {
    let d = scratch("pkcs1");
    let doc = d.join("a.txt");
    std::fs::write(&doc, b"DPE payload").expect("doc");
    let cms = d.join("msg.cms");
    package(&[
        "--key-transport",
        "pkcs1",
        "--out",
        cms.to_str().expect("utf8"),
        doc.to_str().expect("utf8"),
    ]);
    let res = unpackage(&cms, &d.join("out"), &[]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let report: Value = serde_json::from_slice(&res.stdout).expect("JSON report");
    assert_eq!(report["keyTransport"], "rsa-pkcs1-v1_5");
}

#[test]
fn wrong_sender_certificate_is_refused_and_nothing_is_left_behind() {
    let d = scratch("wrong-sender");
    let doc = d.join("a.txt");
    std::fs::write(&doc, b"x").expect("doc");
    let cms = d.join("msg.cms");
    package(&["--out", cms.to_str().expect("utf8"), doc.to_str().expect("utf8")]);
    let out = d.join("out");
    let bob_cert = fixtures().bob.cert.to_str().expect("utf8").to_owned();
    let res = unpackage(&cms, &out, &["--from-cert", &bob_cert]);
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("signed by"));
    assert!(!out.join("a.txt").exists());
}

#[test]
fn a_message_for_someone_else_says_so() {
    let d = scratch("not-for-us");
    let doc = d.join("a.txt");
    std::fs::write(&doc, b"x").expect("doc");
    let cms = d.join("msg.cms");
    package(&["--out", cms.to_str().expect("utf8"), doc.to_str().expect("utf8")]);
    let f = fixtures();
    let res = Command::new(efm())
        .arg("unpackage")
        .arg("--keystore")
        .arg(&f.alice.p12)
        .args(["--password", "changeit", "--out"])
        .arg(d.join("out"))
        .arg(&cms)
        .output()
        .expect("runs");
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("not addressed to our certificate"), "{err}");
}

#[test]
fn wrong_keystore_password_is_a_clear_error() {
    let d = scratch("bad-password");
    let doc = d.join("a.txt");
    std::fs::write(&doc, b"x").expect("doc");
    let f = fixtures();
    let res = package_command(&f.alice.p12, Some("nope"), &f.bob.cert)
        .arg("--out")
        .arg(d.join("x.cms"))
        .arg(&doc)
        .output()
        .expect("runs");
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("wrong password"));
}

#[test]
fn a_receiver_certificate_without_key_encipherment_is_refused() {
    let d = scratch("key-usage");
    let key = d.join("carol.key");
    let crt = d.join("carol.crt");
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=carol",
        ])
        .args(["-addext", "keyUsage=digitalSignature", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&crt));
    let doc = d.join("a.txt");
    std::fs::write(&doc, b"x").expect("doc");
    let f = fixtures();
    let res = package_command(&f.alice.p12, Some("changeit"), &crt)
        .arg("--out")
        .arg(d.join("x.cms"))
        .arg(&doc)
        .output()
        .expect("runs");
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("receiver certificate") && err.contains("keyEncipherment"), "{err}");
    assert!(!d.join("x.cms").exists() && !d.join("x.partial").exists());
}

#[test]
fn pem_keystore_works_like_pkcs12() {
    let d = scratch("pem-keystore");
    let f = fixtures();
    let pem = d.join("alice.pem");
    let mut both = std::fs::read(&f.alice.key).expect("key");
    both.extend(std::fs::read(&f.alice.cert).expect("cert"));
    std::fs::write(&pem, both).expect("pem");
    let doc = d.join("a.txt");
    std::fs::write(&doc, b"pem").expect("doc");
    let cms = d.join("x.cms");
    run(package_command(&pem, None, &f.bob.cert).arg("--out").arg(&cms).arg(&doc));
    let res = unpackage(&cms, &d.join("out"), &[]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert_eq!(std::fs::read(d.join("out/a.txt")).expect("out"), b"pem");
}

#[test]
fn a_failed_package_leaves_no_partial_output() {
    let d = scratch("partial");
    let cms = d.join("x.cms");
    let f = fixtures();
    // Two documents with the same name: refused after the output was opened.
    let a = d.join("a");
    let b = d.join("b");
    std::fs::create_dir_all(&a).expect("dir");
    std::fs::create_dir_all(&b).expect("dir");
    std::fs::write(a.join("same.txt"), b"1").expect("doc");
    std::fs::write(b.join("same.txt"), b"2").expect("doc");
    let res = package_command(&f.alice.p12, Some("changeit"), &f.bob.cert)
        .arg("--out")
        .arg(&cms)
        .arg(a.join("same.txt"))
        .arg(b.join("same.txt"))
        .output()
        .expect("runs");
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("same.txt"), "{err}");
    assert!(!cms.exists() && !d.join("x.partial").exists());
}

#[test]
fn a_parcel_without_asic_reports_the_sbd_and_no_files() {
    let d = scratch("no-asic");
    let sbd = d.join("sbd.json");
    std::fs::copy(&fixtures().sbd, &sbd).expect("sbd");
    let parcel = d.join("sbd.zip");
    // Made by Info-ZIP, an independent writer (DEFLATED, sizes in the local header).
    run(Command::new("zip").arg("-jq").arg(&parcel).arg(&sbd));
    let res = unpackage(&parcel, &d.join("out"), &[]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let report: Value = serde_json::from_slice(&res.stdout).expect("JSON report");
    assert_eq!(report["kind"], "dpo-parcel");
    assert_eq!(report["files"], serde_json::json!([]));
    assert_eq!(report["signer"], Value::Null);
    assert_eq!(
        report["sbd"]["standardBusinessDocumentHeader"]["sender"][0]["identifier"]["value"],
        "0192:910077473"
    );
}
