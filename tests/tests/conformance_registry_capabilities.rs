//! Conformance against the reference's recorded registry answers and its capabilities
//! feature, read from `../shared/reference` beside the workspace. Without that folder
//! these tests say so and pass.
//!
//! The CLI tests run the `efm` binary next to this test executable; build it first with
//! `cargo build --workspace --bins`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use efm_core::registry::answer::{parse_identifier_resource, parse_virksert};
use efm_core::registry::model::ServiceIdentifier;
use serde_json::Value;

/// A running `efm registry serve`, stopped on drop.
struct Registry {
    child: Child,
    url: String,
}

impl Registry {
    fn start(dir: &Path, extra: &[&str]) -> Registry {
        let mut child = Command::new(efm_tests::efm_bin())
            .args(["registry", "serve", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir)
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start efm registry serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the listening line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Registry { child, url }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The expected JSON of each "I request all capabilities for \"ID\"" scenario.
fn expected_capabilities(feature: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut id = None;
    let mut doc: Option<String> = None;
    for line in feature.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Given I request all capabilities for \"") {
            id = rest.strip_suffix('"').map(str::to_owned);
        } else if t == "\"\"\"" {
            match doc.take() {
                None => doc = Some(String::new()),
                Some(text) => {
                    let v: Value = serde_json::from_str(&text).expect("feature JSON");
                    out.push((id.take().expect("scenario id"), v));
                }
            }
        } else if let Some(d) = doc.as_mut() {
            d.push_str(line);
            d.push('\n');
        }
    }
    out
}

#[test]
fn conformance_every_registry_file_parses() {
    let Some(reference) = efm_tests::reference_dir() else {
        return;
    };
    let dir = reference.join("service-registry");
    let mut parsed = 0;
    for sub in ["identifier", "info"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("fixture folder") {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("read fixture");
            let r = parse_identifier_resource(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(r.info_record.is_some(), "{}", path.display());
            for rec in &r.service_records {
                assert_ne!(
                    rec.service_identifier(),
                    ServiceIdentifier::Unknown,
                    "{}",
                    path.display()
                );
                assert!(!rec.process().is_empty(), "{}", path.display());
                let pem = rec.pem_certificate();
                assert!(
                    pem.is_none_or(|p| p.contains("-----BEGIN CERTIFICATE-----")),
                    "{}",
                    path.display()
                );
            }
            parsed += 1;
        }
    }
    for entry in std::fs::read_dir(dir.join("virksert")).expect("virksert folder") {
        let path = entry.expect("entry").path();
        let pem = parse_virksert(&std::fs::read(&path).expect("read")).expect("PEM");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        parsed += 1;
    }
    assert_eq!(parsed, 29, "every recorded answer was read");
}

fn run_capabilities(registry: &Registry, id: &str, extra: &[&str]) -> Value {
    let out = Command::new(efm_tests::efm_bin())
        .args(["capabilities", id, "--registry", &registry.url])
        .args(extra)
        .output()
        .expect("run efm capabilities");
    assert!(
        out.status.success(),
        "efm capabilities {id}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("capabilities JSON")
}

#[test]
fn conformance_capabilities_feature() {
    let Some(reference) = efm_tests::reference_dir() else {
        return;
    };
    let feature = std::fs::read_to_string(reference.join("cucumber/capabilities.feature"))
        .expect("capabilities.feature");
    let expected = expected_capabilities(&feature);
    let ids: Vec<&str> = expected.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["910077473", "910075935", "09118532322"]);
    let registry = Registry::start(&reference.join("service-registry"), &[]);
    for (id, want) in &expected {
        assert_eq!(&run_capabilities(&registry, id, &[]), want, "capabilities of {id}");
    }
}

#[test]
fn conformance_capabilities_through_signed_answers() {
    let Some(reference) = efm_tests::reference_dir() else {
        return;
    };
    let key = efm_tests::keys::TestKey::generate("signed-registry");
    let registry = Registry::start(
        &reference.join("service-registry"),
        &[
            "--sign-keystore",
            key.key_pem.to_str().expect("utf-8 path"),
            "--sign-cert",
            key.cert_pem.to_str().expect("utf-8 path"),
        ],
    );
    let feature = std::fs::read_to_string(reference.join("cucumber/capabilities.feature"))
        .expect("capabilities.feature");
    for (id, want) in expected_capabilities(&feature) {
        assert_eq!(
            run_capabilities(&registry, &id, &["--signed"]),
            want,
            "signed capabilities of {id}"
        );
    }
}

#[test]
fn conformance_capabilities_errors_and_process_filter() {
    let Some(reference) = efm_tests::reference_dir() else {
        return;
    };
    let registry = Registry::start(&reference.join("service-registry"), &[]);
    let one = run_capabilities(
        &registry,
        "910077473",
        &["--process", "urn:no:difi:profile:einnsyn:response:ver1.0"],
    );
    let caps = one["capabilities"].as_array().expect("list");
    assert_eq!(caps.len(), 1);
    assert_eq!(caps[0]["serviceIdentifier"], "DPE");
    let out = Command::new(efm_tests::efm_bin())
        .args(["capabilities", "123456789", "--registry", &registry.url])
        .output()
        .expect("run efm capabilities");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("IdentifierNotFoundException"), "{err}");
    assert!(err.contains("identifier=123456789"), "{err}");
}
