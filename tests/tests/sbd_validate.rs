//! `efm sbd validate` refuses malformed SBDs with exit 1 and the reference's error JSON,
//! and never panics. Built on the project's own example SBDs.

use efm_tests::{efm, workspace};
use serde_json::{Value, json};

const NOT_READABLE: &str = "org.springframework.http.converter.HttpMessageNotReadableException";
const VIOLATION: &str = "javax.validation.ConstraintViolationException";

fn example() -> Value {
    let text = std::fs::read_to_string(workspace().join("examples/sbd/arkivmelding.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Run validate on `bytes`; return the exit code and the printed JSON.
fn run(name: &str, bytes: &[u8]) -> (i32, Value) {
    let dir = std::env::temp_dir().join(format!("efm-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, bytes).unwrap();
    let out = efm(&["sbd", "validate", file.to_str().unwrap()]);
    let code = out.status.code().expect("exited, not killed by a signal");
    let printed = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{name}: output is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
    });
    (code, printed)
}

fn refused(name: &str, bytes: &[u8], exception: &str) -> Value {
    let (code, err) = run(name, bytes);
    assert_eq!(code, 1, "{name}: {err:#}");
    assert_eq!(err["exception"], exception, "{name}: {err:#}");
    assert_eq!(err["status"], 400);
    assert_eq!(err["error"], "Bad Request");
    for k in ["timestamp", "message", "path"] {
        assert!(err.get(k).is_some(), "{name}: no {k}");
    }
    err
}

fn mutated(f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = example();
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn header(v: &mut Value) -> &mut Value {
    &mut v["standardBusinessDocumentHeader"]
}

#[test]
fn the_example_is_valid() {
    let (code, out) = run("ok.json", &serde_json::to_vec(&example()).unwrap());
    assert_eq!(code, 0);
    assert_eq!(out, example());
}

#[test]
fn missing_header_fields_are_constraint_violations() {
    for (field, path) in [
        ("headerVersion", "standardBusinessDocumentHeader.headerVersion"),
        ("documentIdentification", "standardBusinessDocumentHeader.documentIdentification"),
        ("businessScope", "standardBusinessDocumentHeader.businessScope"),
    ] {
        let bytes = mutated(|v| {
            header(v).as_object_mut().unwrap().remove(field);
        });
        // Without documentIdentification there is no type to check the key against.
        let err = refused(field, &bytes, VIOLATION);
        let fields: Vec<&str> = err["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        let expected = if field == "documentIdentification" {
            "standardBusinessDocumentHeader.documentIdentification.type"
        } else {
            path
        };
        assert!(fields.contains(&expected), "{field}: {fields:?}");
    }
    for field in ["standard", "typeVersion"] {
        let bytes = mutated(|v| {
            header(v)["documentIdentification"].as_object_mut().unwrap().remove(field);
        });
        let err = refused(field, &bytes, VIOLATION);
        assert_eq!(
            err["errors"][0]["field"],
            format!("standardBusinessDocumentHeader.documentIdentification.{field}")
        );
        assert_eq!(err["errors"][0]["code"], "NotNull");
    }
    let bytes = mutated(|v| header(v)["businessScope"]["scope"] = json!([]));
    refused("no-scope", &bytes, VIOLATION);
    let bytes = mutated(|v| header(v)["businessScope"]["scope"][0]["type"] = json!("Nonsense"));
    let err = refused("scope-type", &bytes, VIOLATION);
    assert_eq!(err["errors"][0]["code"], "OneOf");
}

#[test]
fn bad_identifiers() {
    for (name, value) in [
        ("short-org", "0192:12345678"),
        ("letters", "0192:abcdefghi"),
        ("bad-fnr", "09118532323"),
        ("empty", ""),
    ] {
        let bytes = mutated(|v| header(v)["receiver"][0]["identifier"]["value"] = json!(value));
        let err = refused(name, &bytes, VIOLATION);
        assert_eq!(
            err["errors"][0]["field"],
            "standardBusinessDocumentHeader.receiver[0].identifier.value",
            "{name}"
        );
    }
    let bytes = mutated(|v| header(v)["sender"][0]["identifier"]["authority"] = json!("somebody"));
    refused("authority", &bytes, VIOLATION);
    let bytes = mutated(|v| {
        let r = header(v)["receiver"][0].clone();
        header(v)["receiver"] = json!([r.clone(), r]);
    });
    let err = refused("two-receivers", &bytes, VIOLATION);
    assert_eq!(err["errors"][0]["code"], "Size");
    // An on-behalf-of sender is fine.
    let bytes = mutated(|v| {
        header(v)["sender"][0]["identifier"]["value"] = json!("0192:987654321:123456785")
    });
    assert_eq!(run("on-behalf-of", &bytes).0, 0);
}

#[test]
fn unknown_type_mismatch_and_extra_keys() {
    let bytes = mutated(|v| header(v)["documentIdentification"]["type"] = json!("strange"));
    let err = refused("unknown-type", &bytes, VIOLATION);
    assert_eq!(err["errors"][0]["code"], "MessageType");
    assert_eq!(err["errors"][0]["rejectedValue"], "strange");
    assert_eq!(
        err["message"],
        "standardBusinessDocumentHeader.documentIdentification.type: Must be a NextMove message type"
    );

    let bytes = mutated(|v| header(v)["documentIdentification"]["type"] = json!("avtalt"));
    refused("mismatch", &bytes, NOT_READABLE);

    let bytes = mutated(|v| {
        v.as_object_mut().unwrap().insert("extra".into(), json!({}));
    });
    refused("extra-key", &bytes, NOT_READABLE);

    let bytes = mutated(|v| {
        let body = v.as_object_mut().unwrap().remove("arkivmelding").unwrap();
        v.as_object_mut().unwrap().insert("avtalt".into(), body);
    });
    refused("key-mismatch", &bytes, NOT_READABLE);

    let bytes = mutated(|v| v["arkivmelding"] = json!("not an object"));
    refused("business-not-object", &bytes, NOT_READABLE);

    let bytes = mutated(|v| v["arkivmelding"]["sikkerhetsnivaa"] = json!("high"));
    let err = refused("wrong-field-type", &bytes, NOT_READABLE);
    assert!(err["message"].as_str().unwrap().contains("sikkerhetsnivaa"), "{err}");
}

#[test]
fn non_uuid_ids() {
    let bytes =
        mutated(|v| header(v)["documentIdentification"]["instanceIdentifier"] = json!("1234"));
    let err = refused("message-id", &bytes, VIOLATION);
    assert_eq!(err["errors"][0]["code"], "UUID");
    assert_eq!(err["errors"][0]["defaultMessage"], "'1234' is not a UUID.");
    let bytes =
        mutated(|v| header(v)["businessScope"]["scope"][0]["instanceIdentifier"] = json!("conv-1"));
    let err = refused("conversation-id", &bytes, VIOLATION);
    assert_eq!(
        err["errors"][0]["field"],
        "standardBusinessDocumentHeader.businessScope.scope[0].instanceIdentifier"
    );
}

#[test]
fn receiver_is_required_except_for_print() {
    let bytes = mutated(|v| {
        header(v).as_object_mut().unwrap().remove("receiver");
    });
    let err = refused("no-receiver", &bytes, VIOLATION);
    assert_eq!(err["errors"][0]["field"], "standardBusinessDocumentHeader.receiver");

    let print = mutated(|v| {
        header(v).as_object_mut().unwrap().remove("receiver");
        header(v)["documentIdentification"]["type"] = json!("print");
        header(v)["documentIdentification"]["standard"] =
            json!("urn:no:difi:digitalpost:xsd:fysisk::print");
        let m = v.as_object_mut().unwrap();
        m.remove("arkivmelding");
        // Print names its addresses (the reference's `@NotNull` mottaker and retur).
        let address = json!({"navn": "Ola Nordmann", "adresselinje1": "Gate 1",
            "postnummer": "0001", "poststed": "OSLO", "land": "Norge"});
        m.insert(
            "print".into(),
            json!({"hoveddokument": "brev.pdf", "mottaker": address,
                "retur": {"mottaker": address, "returhaandtering": "DIREKTE_RETUR"}}),
        );
    });
    assert_eq!(run("print.json", &print).0, 0);
}

#[test]
fn truncated_binary_and_hostile_xml() {
    let good = serde_json::to_vec(&example()).unwrap();
    for cut in [1, good.len() / 3, good.len() - 1] {
        refused(&format!("cut-{cut}"), &good[..cut], NOT_READABLE);
    }
    refused("empty", b"", NOT_READABLE);
    refused("binary", &[0x50, 0x4b, 0x03, 0x04, 0xff, 0x00, 0x81, 0x7f], NOT_READABLE);
    refused("bad-utf8", b"{\"standardBusinessDocumentHeader\": \"\xff\xfe\"}", NOT_READABLE);

    let xml = std::fs::read_to_string(workspace().join("examples/sbd/innsynskrav.xml")).unwrap();
    assert_eq!(run("ok.xml", xml.as_bytes()).0, 0);
    let with_dtd = xml.replacen("?>", "?>\n<!DOCTYPE x [<!ENTITY big \"boom\">]>", 1);
    let err = refused("dtd.xml", with_dtd.as_bytes(), NOT_READABLE);
    assert!(err["message"].as_str().unwrap().contains("DTD"), "{err}");
    let external = xml.replacen("innsyn@example.org", "&xxe;", 1);
    let err = refused("entity.xml", external.as_bytes(), NOT_READABLE);
    assert!(err["message"].as_str().unwrap().contains("entity"), "{err}");
    refused("cut.xml", &xml.as_bytes()[..xml.len() / 2], NOT_READABLE);
}

#[test]
fn xml_output_reads_back() {
    let xml_file = workspace().join("examples/sbd/innsynskrav.xml");
    let out = efm(&["sbd", "validate", "--to", "xml", xml_file.to_str().unwrap()]);
    assert!(out.status.success());
    let (code, again) = run("again.xml", &out.stdout);
    assert_eq!(code, 0);
    assert_eq!(again["innsynskrav"]["epost"], "innsyn@example.org");
}

#[test]
fn missing_file_is_a_usage_error_not_a_panic() {
    let out = efm(&["sbd", "validate", "/nonexistent/efm.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/efm.json"));
}
