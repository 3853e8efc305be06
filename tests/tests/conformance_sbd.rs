//! Conformance: `efm sbd validate` accepts every SBD the reference ships (its sample
//! SBDs and every SBD request example of its REST documentation) and round-trips each
//! to semantically equal JSON. Reads ../shared/reference; says NOT RUN without it.

use std::path::Path;

use efm_tests::{efm, json_diff, reference_dir};
use serde_json::Value;

fn validate(file: &Path) -> Value {
    let out = efm(&["sbd", "validate", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{} was refused: {}",
        file.display(),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).expect("validate prints JSON")
}

fn validate_text(name: &str, text: &str) -> Value {
    let dir = std::env::temp_dir().join(format!("efm-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    validate(&file)
}

/// The normalised output reads back to itself: the round trip is stable.
fn assert_stable(name: &str, normalised: &Value) {
    let again = validate_text(&format!("{name}.again.json"), &normalised.to_string());
    if let Some(d) = json_diff(normalised, &again) {
        panic!("{name}: second round differs at {d}");
    }
}

#[test]
fn sample_sbds_round_trip() {
    let Some(reference) = reference_dir() else {
        return;
    };
    let dir = reference.join("sbd");
    let mut checked = 0;
    for name in ["StandardBusinessDocument.json", "StandardBusinessDocument-unordered.json"] {
        let path = dir.join(name);
        let input: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let output = validate(&path);
        if let Some(d) = json_diff(&input, &output) {
            panic!("{name}: output differs from input at {d}");
        }
        assert_stable(name, &output);
        checked += 1;
    }

    // The XML sample is the pre-NextMove form: Type names the service (DPO) and the
    // business element names the message type. Its content must survive, and the
    // JSON we make of it must be stable.
    let xml = validate(&dir.join("StandardBusinessDocument.xml"));
    let h = &xml["standardBusinessDocumentHeader"];
    assert_eq!(h["sender"][0]["identifier"]["value"], "9908:910077473");
    assert_eq!(h["receiver"][0]["identifier"]["value"], "9908:910075918");
    assert_eq!(
        h["documentIdentification"]["instanceIdentifier"],
        "ff88849c-e281-4809-8555-7cd54952b916"
    );
    assert_eq!(h["documentIdentification"]["creationDateAndTime"], "2016-04-11T15:29:58.753+02:00");
    assert_eq!(
        h["businessScope"]["scope"][0]["scopeInformation"][0]["expectedResponseDateTime"],
        "2003-05-10T00:31:52Z"
    );
    assert_eq!(xml["arkivmelding"]["sikkerhetsnivaa"], 3);
    assert_stable("StandardBusinessDocument.xml", &xml);
    // And through our own XML writer: the XML we write reads back to the same SBD.
    let out = efm(&[
        "sbd",
        "validate",
        "--to",
        "xml",
        dir.join("StandardBusinessDocument.xml").to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let rewritten = validate_text("rewritten.xml", std::str::from_utf8(&out.stdout).unwrap());
    if let Some(d) = json_diff(&xml, &rewritten) {
        panic!("StandardBusinessDocument.xml: our XML of it differs at {d}");
    }
    checked += 1;

    // The docs' template has `<placeholders>` where values go; filled in, it is valid.
    let template = std::fs::read_to_string(dir.join("docs-sbd-template.json")).unwrap();
    let filled = template
        .replace("<avsenderidentifikator>", "0192:910077473")
        .replace("<mottakeridentifikator>", "0192:910075918")
        .replace("<dokumenttype>", "urn:no:difi:arkivmelding:xsd::arkivmelding")
        .replace("<meldingsidentifikator>", "ff88849c-e281-4809-8555-7cd54952b916")
        .replace("<forretningsmeldingnavn>", "arkivmelding")
        .replace("<konversasjonsIdentifikator>", "37efbd4c-413d-4e2c-bbc5-257ef4a65a45")
        .replace("<prosessidentifikator>", "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0")
        .replace("<leveringsfrist>", "2030-05-10T00:31:52+02:00")
        .replace("<UUID>", "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d");
    let out = validate_text("template.json", &filled);
    assert_eq!(
        out["standardBusinessDocumentHeader"]["businessScope"]["scope"].as_array().unwrap().len(),
        3
    );
    checked += 1;
    assert_eq!(checked, 4);
}

/// The JSON bodies of `POST /api/messages/out` requests and the `sbd` part of the
/// multipart example, cut out of the REST documentation's text.
fn restdocs_request_sbds(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let starts_body = *line == "POST /api/messages/out HTTP/1.1"
            || line.starts_with("Content-Disposition: form-data; name=sbd");
        if !starts_body {
            continue;
        }
        let Some(open) = (i..lines.len()).find(|&j| lines[j] == "{") else {
            continue;
        };
        let Some(close) = (open..lines.len()).find(|&j| lines[j] == "}") else {
            continue;
        };
        found.push(lines[open..=close].join("\n"));
    }
    found
}

#[test]
fn restdocs_request_examples_round_trip() {
    let Some(reference) = reference_dir() else {
        return;
    };
    let text =
        std::fs::read_to_string(reference.join("api/eformidling2-api-restdocs.txt")).unwrap();
    let bodies = restdocs_request_sbds(&text);
    // Six create examples (arkivmelding, DPI digital and print, DPV, innsynskrav,
    // publisering) and the multipart one.
    assert_eq!(bodies.len(), 7, "the documentation's examples were not all found");
    for (i, body) in bodies.iter().enumerate() {
        let input: Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("example {i} is not JSON: {e}"));
        let output = validate_text(&format!("restdocs-{i}.json"), body);
        if let Some(d) = json_diff(&input, &output) {
            panic!("restdocs example {i}: output differs from input at {d}");
        }
        assert_stable(&format!("restdocs-{i}"), &output);
    }
}
