//! The reference's DPF cucumber scenarios, read from `../shared/reference/cucumber` at
//! test time and run black-box against `efm serve` on both runtimes, with the KS FIKS
//! work-alike (`efm fiks serve`) as SvarUt and SvarInn: the registry serves the
//! reference's recorded answers and nodes hold their keys from the reference's test
//! keystore. Without the reference folder these tests say NOT RUN and pass. Plus a
//! SvarInn forsendelse encrypted with the openssl CLI, received on a generated
//! network (which needs no reference material).
//!
//! Sending: the fagsystem steps of the feature, then what SvarUt received — the
//! `retreiveForsendelseTyper` call when the message names a forsendelseType, and the
//! `sendForsendelseMedId` forsendelse compared element by element with the feature's
//! (its documents decrypted with openssl and the key of the certificate the
//! receiver's DPF service record carries, standing in for SvarUt's) — and the
//! statuses SENDT, LEVERT (at once) and LEST (from polling SvarUt).
//! Receiving: the feature's forsendelse offered on SvarInn with its files zipped and
//! encrypted to the node's certificate, then what the node offers (peek, pop,
//! delete), the generated arkivmelding.xml, its status page, and the
//! acknowledgement to SvarInn.
//!
//! Where we differ from the reference, on purpose, the test says why:
//! - The feature writes the SOAP body with a default namespace; on the wire the
//!   schema's children are unqualified, so elements are compared by local name.
//!   The document data are MTOM attachments (the feature elides them).
//! - Times we cannot fix (the SBD's creation and expiry, `lastUpdate`) and the
//!   random systemIDs of the generated arkivmelding are checked for form only.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use efm_core::transport::svarut::{XmlNode, parse_tree};
use efm_tests::cucumber::{Feature, Scenario, compress_whitespace, move_expiry};
use efm_tests::feature_steps::{
    assert_json, assert_status_page, message_id, peek, pop, post_message, remove, send,
    status_names, status_page, upload, wait_for_statuses,
};
use efm_tests::http::request;
use efm_tests::keys::run;
use efm_tests::network::{self, AUTH, Fiks, Org, Services, temp, wait_for};
use efm_tests::recording::Recorded;
use efm_tests::reference_dir;
use efm_tests::reference_network::{ReferenceNetwork, asic_documents};
use serde_json::{Value, json};

/// The reference's cucumber node.
const SENDER: &str = "910077473";

efm_tests::on_both_runtimes!(
    send_dpf,
    send_dpf_with_refs,
    send_dpf_multipart,
    receive_dpf,
    receive_svarinn_encrypted_with_openssl,
);

/// The SvarUt calls recorded, by operation (the SOAP body's element).
fn svarut_calls<'a>(reqs: &'a [Recorded], op: &str) -> Vec<&'a Recorded> {
    reqs.iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/ForsendelsesServiceV9"))
        .filter(|r| {
            let body = match &r.body_file {
                Some(f) => {
                    std::fs::read_to_string(f.parent().expect("a folder").join("forsendelse.xml"))
                        .unwrap_or_default()
                }
                None => String::from_utf8_lossy(&r.bytes()).into_owned(),
            };
            body.contains(&format!(":{op}")) || body.contains(&format!("<{op}"))
        })
        .collect()
}

/// An element tree as JSON for comparison: local names, trimmed text of leaves,
/// `xsi:nil`; the children of `data` (the MTOM include, or the feature's comment)
/// left out.
fn normal(n: &XmlNode) -> Value {
    let mut v = json!({ "name": n.name });
    if n.nil {
        v["nil"] = json!(true);
    }
    if n.name == "data" {
        return v;
    }
    if n.children.is_empty() {
        v["text"] = json!(n.text.trim());
    } else {
        v["children"] = Value::Array(n.children.iter().map(normal).collect());
    }
    v
}

/// Start a node as `org` on the reference network, sending and receiving DPF through
/// `fiks`.
fn dpf_node(
    net: &ReferenceNetwork,
    fiks: &Fiks,
    org: &str,
    runtime: &str,
) -> efm_tests::server::Served {
    net.node_with(org, "data", runtime, |env| fiks.wire(env))
}

/// The sending scenarios: create, upload, send; SENDT and LEVERT at once, LEST once
/// SvarUt says so; then what SvarUt received against the feature.
fn send_and_check(scenario: &Scenario, runtime: &str, types_expected: bool, what: &str) {
    let Some(reference) = reference_dir() else { return };
    let net = ReferenceNetwork::start(&reference);
    let fiks = Fiks::start(&["--lest-after", "1s"]);
    let node = dpf_node(&net, &fiks, SENDER, runtime);
    let addr = node.addr.as_str();

    // The features' expiry dates lie in 2019 (the reference fixes its clock then).
    let mut sbd = scenario.step("I POST the following message:").json();
    move_expiry(&mut sbd, "2099");
    let id = message_id(&sbd);
    let created = post_message(addr, &sbd);
    assert_eq!(created.status, 200, "{what}: the response status is OK: {created:?}");
    for step in scenario.steps_starting("I upload a file named") {
        upload(addr, &id, step);
    }
    let sent = send(addr, &id);
    assert_eq!(sent.status, 200, "{what}: I send the message: {sent:?}");
    wait_for_statuses(addr, &id, &["SENDT", "LEVERT", "LEST"]);
    let names = status_names(&status_page(addr, &id));
    assert_eq!(names, ["OPPRETTET", "SENDT", "LEVERT", "LEST"], "{what}: statuses");

    let reqs = fiks.requests();
    let steps: Vec<_> = scenario.steps_starting("an upload to Fiks is initiated with:").collect();
    let types = svarut_calls(&reqs, "retreiveForsendelseTyper");
    if types_expected {
        assert_eq!(types.len(), 1, "{what}: one retreiveForsendelseTyper: {reqs:?}");
        assert!(types[0].accepted());
        assert_eq!(types[0].caller.as_deref(), Some(SENDER), "{what}: Basic user");
    } else {
        assert!(types.is_empty(), "{what}: no forsendelseType, no type check");
    }
    let sends = svarut_calls(&reqs, "sendForsendelseMedId");
    assert_eq!(sends.len(), 1, "{what}: one sendForsendelseMedId: {reqs:?}");
    let content_type = sends[0].content_type.clone().unwrap_or_default();
    assert!(content_type.starts_with("multipart/related"), "{what}: MTOM: {content_type}");
    let summary = sends[0].json();
    let folder = sends[0].body_file.as_ref().and_then(|f| f.parent()).expect("stored");
    let xml = std::fs::read(folder.join("forsendelse.xml")).expect("forsendelse.xml");
    let tree = parse_tree(&xml).expect("the SOAP part parses");
    let ours = tree.find("sendForsendelseMedId").expect("sendForsendelseMedId");
    let step = steps.last().expect("the feature pins the forsendelse");
    let expected = parse_tree(step.doc().as_bytes()).expect("the feature's XML parses");
    assert_json(&normal(ours), &normal(&expected), &format!("{what}: the forsendelse"));

    // Its document, decrypted with the key of the certificate in the receiver's DPF
    // record (openssl, an implementation independent of ours).
    let docs = summary["documents"].as_array().expect("documents");
    for step in scenario.steps_starting("the content of the file named") {
        let name = &step.quoted()[0];
        let doc = docs.iter().find(|d| d["filnavn"] == name.as_str()).expect("document");
        let file = fiks.dir.join(doc["file"].as_str().expect("file"));
        let receiver = efm_tests::feature_steps::party(&sbd, "receiver");
        let plain = net.decrypt(&std::fs::read(file).expect("cms"), &receiver);
        assert_eq!(
            compress_whitespace(&String::from_utf8_lossy(&plain)),
            compress_whitespace(step.doc()),
            "{what}: content of {name}"
        );
    }
    // LEST came from polling SvarUt for the forsendelse's id.
    let reqs = fiks.requests();
    let polled = svarut_calls(&reqs, "retrieveForsendelseStatuser");
    assert!(!polled.is_empty(), "{what}: statuses were polled");
    let forsendelsesid = ours.child("forsendelsesid").map(|n| n.text.clone()).unwrap_or_default();
    assert!(
        String::from_utf8_lossy(&polled[0].bytes()).contains(&forsendelsesid),
        "{what}: polled for {forsendelsesid}"
    );
}

fn send_dpf(runtime: &str) {
    let Some(reference) = reference_dir() else { return };
    let feature = Feature::load(&reference, "nextmove_send_dpf.feature");
    send_and_check(feature.only(), runtime, true, "send DPF");
}

fn send_dpf_with_refs(runtime: &str) {
    let Some(reference) = reference_dir() else { return };
    let feature = Feature::load(&reference, "nextmove_send_dpf_with_refs.feature");
    send_and_check(feature.only(), runtime, false, "send DPF with refs");
}

/// The multipart scenario: its receiver, 910075918, takes arkivmelding over DPO in
/// the reference's registry answers (the feature's title says DPO), so the one thing
/// it pins is that the invalid korrespondanseparttype is accepted: the one-step
/// create answers OK and the message goes out.
fn send_dpf_multipart(runtime: &str) {
    let Some(reference) = reference_dir() else { return };
    let feature = Feature::load(&reference, "nextmove_send_dpf_multipart.feature");
    let scenario = feature.only();
    let net = ReferenceNetwork::start(&reference);
    let fiks = Fiks::start(&[]);
    let node = dpf_node(&net, &fiks, SENDER, runtime);
    let boundary = "efm-dpf-multipart-boundary";
    let mut body = Vec::new();
    let mut sbd = Value::Null;
    for step in scenario.steps_starting("I add a part named") {
        let q = step.quoted();
        let (name, filename, content_type) = match q.as_slice() {
            [n, ct] => (n.clone(), None, ct.clone()),
            [n, f, ct] => (n.clone(), Some(f.clone()), ct.clone()),
            _ => panic!("unexpected step {:?}", step.text),
        };
        let mut doc = step.doc().to_owned();
        if name == "sbd" {
            sbd = step.json();
            move_expiry(&mut sbd, "2099");
            doc = sbd.to_string();
        }
        let disposition = match filename {
            Some(f) => format!("form-data; name=\"{name}\"; filename=\"{f}\""),
            None => format!("form-data; name=\"{name}\""),
        };
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(doc.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    let r = request(&node.addr, "POST", "/api/messages/out/multipart", AUTH, Some(&ct), &body);
    assert_eq!(r.status, 200, "I post the multipart request and get a OK response: {r:?}");
    let id = message_id(&sbd);
    wait_for_statuses(&node.addr, &id, &["SENDT"]);
    assert!(svarut_calls(&fiks.requests(), "sendForsendelseMedId").is_empty(), "not DPF");
}

/// Zip `files` with Python's zipfile (not our writer).
fn zip_with_python(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let dir = temp("svarinn-zip");
    let mut names = Vec::new();
    for (name, content) in files {
        std::fs::write(dir.join(name), content).expect("file");
        names.push(name.clone());
    }
    let out = dir.join("dokumenter.zip");
    let script = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    for n in sys.argv[2:]:\n        z.write(n, arcname=n)\n";
    run(Command::new("python3").current_dir(&dir).args(["-c", script]).arg(&out).args(&names));
    std::fs::read(out).expect("zip")
}

/// Encrypt `plain` to `cert` as the reference's SvarInn mock does it:
/// `openssl smime -encrypt -binary -aes-256-cbc -outform DER`.
fn openssl_encrypt(plain: &[u8], cert: &Path) -> Vec<u8> {
    let dir = temp("svarinn-cms");
    let (input, output) = (dir.join("in.zip"), dir.join("out.cms"));
    std::fs::write(&input, plain).expect("write");
    run(Command::new("openssl")
        .args(["smime", "-encrypt", "-binary", "-aes-256-cbc", "-outform", "DER", "-in"])
        .arg(&input)
        .arg("-out")
        .arg(&output)
        .arg(cert));
    std::fs::read(output).expect("cms")
}

fn receive_dpf(runtime: &str) {
    let Some(reference) = reference_dir() else { return };
    let feature = Feature::load(&reference, "nextmove_receive_dpf.feature");
    let scenario = feature.only();
    let net = ReferenceNetwork::start(&reference);
    let fiks = Fiks::start(&[]);
    let listing = scenario.step("Fiks prepares a message with the following body:").json();
    let forsendelse = listing[0].clone();
    let id = forsendelse["id"].as_str().expect("id").to_owned();
    let receiver = forsendelse["mottaker"]["orgnr"].as_str().expect("mottaker").to_owned();
    let files: Vec<(String, Vec<u8>)> = scenario
        .steps_starting("appends a file named")
        .map(|s| (s.quoted()[0].clone(), s.doc().as_bytes().to_vec()))
        .collect();
    // Encrypted on download by the work-alike to the receiver's certificate.
    let (_, cert) = net.pem(&receiver);
    fiks.add_certificate(&receiver, &std::fs::read(cert).expect("certificate"));
    fiks.offer(&forsendelse, Some(&zip_with_python(&files)), None);
    let node = dpf_node(&net, &fiks, &receiver, runtime);
    let addr = node.addr.as_str();

    // the application checks for new DPF messages
    wait_for_statuses(addr, &id, &["INNKOMMENDE_MOTTATT"]);
    wait_for("kvitterMottak", Duration::from_secs(10), || fiks.acknowledged(&id));
    let peeked = peek(addr).expect("a message is offered");
    let asic = pop(addr, &id);
    assert_eq!(remove(addr, &id).status, 200, "remove");

    // the converted SBD is: … (its creation and expiry are now and now + 24 h)
    let mut expected = scenario.step("the converted SBD is:").json();
    let mut ours = peeked.clone();
    let doc = "/standardBusinessDocumentHeader/documentIdentification/creationDateAndTime";
    let exp = "/standardBusinessDocumentHeader/businessScope/scope/0/scopeInformation/0/expectedResponseDateTime";
    for pointer in [doc, exp] {
        let text = ours.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
        assert!(efm_core::sbd::DateTime::parse(&text).is_ok(), "{pointer}: {text:?}");
        *ours.pointer_mut(pointer).expect("present") = json!("(a date-time)");
        *expected.pointer_mut(pointer).expect("present") = json!("(a date-time)");
    }
    assert_json(&ours, &expected, "the converted SBD");

    // I have an ASIC that contains a file named …: the generated arkivmelding.xml
    // element by element (systemIDs are fresh UUIDs), the files as they were.
    let docs = asic_documents(&asic);
    let names: Vec<&str> = docs.iter().map(|d| d.name.as_str()).collect();
    // The eFormidling manifest.xml leads, as in every ASiC the reference makes.
    assert_eq!(names, ["manifest.xml", "arkivmelding.xml", "primary.html", "before_the_law.txt"]);
    for step in scenario.steps_starting("I have an ASIC that contains a file named") {
        let args = step.quoted();
        let d = docs.iter().find(|d| d.name == args[0]).expect("in the ASiC");
        assert_eq!(d.mime.as_deref(), Some(args[1].as_str()), "media type of {}", args[0]);
        if args[0] == "arkivmelding.xml" {
            let mut ours = normal(&parse_tree(&d.content).expect("our arkivmelding parses"));
            let mut theirs = normal(&parse_tree(step.doc().as_bytes()).expect("feature's"));
            for v in [&mut ours, &mut theirs] {
                mask_system_ids(v);
            }
            assert_json(&ours, &theirs, "the generated arkivmelding.xml");
            let text = String::from_utf8_lossy(&d.content);
            assert!(
                text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>")
            );
        } else {
            assert_eq!(
                compress_whitespace(&String::from_utf8_lossy(&d.content)),
                compress_whitespace(step.doc()),
                "content of {}",
                args[0]
            );
        }
    }

    // the message statuses for the conversation … are: …
    let step = scenario.step("the message statuses for the conversation with id");
    let expected = step.json();
    wait_for_statuses(addr, &id, &["INNKOMMENDE_LEVERT"]);
    assert_status_page(&status_page(addr, &id), &expected, "receive DPF");
    assert!(peek(addr).is_none(), "nothing more is offered");
}

/// systemID leaves become a placeholder once checked to be present.
fn mask_system_ids(v: &mut Value) {
    if v["name"] == "systemID" {
        assert!(!v["text"].as_str().unwrap_or_default().is_empty(), "an empty systemID");
        v["text"] = json!("(an id)");
    }
    if let Some(children) = v.get_mut("children").and_then(Value::as_array_mut) {
        for c in children {
            mask_system_ids(c);
        }
    }
}

/// A forsendelse encrypted with the openssl CLI to the node's certificate is
/// received, decrypted and offered with its files; beside it, one whose listing
/// entry is malformed and one whose download does not decrypt are reported and
/// left unacknowledged, and do not hold up the good one.
fn receive_svarinn_encrypted_with_openssl(runtime: &str) {
    let org = Org::new("910229028", "data");
    let services = Services::start(&[&org], &[], &[]);
    let fiks = Fiks::start(&[]);
    let id = network::random_uuid();
    let files = vec![
        ("vedtak.pdf".to_owned(), b"%PDF-1.4 not much of a PDF".to_vec()),
        ("notat.txt".to_owned(), "Før loven står en dørvokter.\n".as_bytes().to_vec()),
    ];
    let cms = openssl_encrypt(&zip_with_python(&files), &org.key.cert_pem);
    let listing = |id: &str| {
        json!({
            "id": id,
            "tittel": "Vedtak om tilskudd",
            "mottaker": { "orgnr": org.number, "navn": "Mottaker" },
            "svarSendesTil": { "orgnr": "910075924", "navn": "Kommunen", "adresse1": "Gate 1",
                               "postnr": "0150", "poststed": "Oslo", "land": "Norge" },
            "svarPaForsendelse": null,
            "metadataFraAvleverendeSystem": { "sakssekvensnummer": 7, "saksaar": 2026,
                "journalaar": 2026, "journalsekvensnummer": 3, "journalpostnummer": 2,
                "journalposttype": "I", "journalstatus": "J", "journaldato": 1_790_000_000_000_i64,
                "dokumentetsDato": null, "tittel": null, "ekstraMetadata": [
                    { "key": "saksnummer", "value": "2026/7" } ] },
            "filmetadata": [
                { "filnavn": "vedtak.pdf", "mimetype": "application/pdf" },
                { "filnavn": "notat.txt", "mimetype": "text/plain" } ],
            "downloadUrl": format!("/mottaker/forsendelse/{id}")
        })
    };
    fiks.offer(&listing(&id), None, Some(&cms));
    let broken = network::random_uuid();
    fiks.offer(&json!({ "id": broken, "mottaker": 7, "downloadUrl": "/x" }), None, None);
    let garbled = network::random_uuid();
    fiks.offer(&listing(&garbled), None, Some(b"not a CMS envelope"));

    let data = temp("svarinn-node");
    let node = services.node_with(&org, runtime, &data, |env| fiks.wire(env));
    let addr = node.addr.as_str();
    wait_for_statuses(addr, &id, &["INNKOMMENDE_MOTTATT"]);
    wait_for("kvitterMottak", Duration::from_secs(10), || fiks.acknowledged(&id));
    let sbd = peek(addr).expect("offered");
    assert_eq!(message_id(&sbd), id);
    let h = &sbd["standardBusinessDocumentHeader"];
    assert_eq!(h["sender"][0]["identifier"]["value"], "0192:910075924");
    assert_eq!(h["receiver"][0]["identifier"]["value"], format!("0192:{}", org.number));
    let docs = asic_documents(&pop(addr, &id));
    let got: Vec<(&str, Option<&str>)> =
        docs.iter().map(|d| (d.name.as_str(), d.mime.as_deref())).collect();
    assert_eq!(
        got,
        [
            ("manifest.xml", Some("application/xml")),
            ("arkivmelding.xml", Some("application/xml")),
            ("vedtak.pdf", Some("application/pdf")),
            ("notat.txt", Some("text/plain")),
        ]
    );
    for (name, content) in &files {
        let d = docs.iter().find(|d| &d.name == name).expect("file");
        assert_eq!(&d.content, content, "{name} arrives byte for byte");
    }
    let manifest = String::from_utf8_lossy(&docs[0].content).into_owned();
    assert!(
        manifest.contains("0192:910075924") && manifest.contains("arkivmelding.xml"),
        "{manifest}"
    );
    let arkivmelding = String::from_utf8_lossy(&docs[1].content).into_owned();
    for part in [
        "<journalposttype>Inngående dokument</journalposttype>",
        "<virksomhetsspesifikkeMetadata><saksnummer>2026/7</saksnummer></virksomhetsspesifikkeMetadata>",
        "<korrespondansepartNavn>Kommunen</korrespondansepartNavn><postadresse>Gate 1</postadresse>",
    ] {
        assert!(arkivmelding.contains(part), "{part} in {arkivmelding}");
    }
    assert_eq!(remove(addr, &id).status, 200);
    // The bad ones: polled again and again, never acknowledged, never offered.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!fiks.acknowledged(&broken) && !fiks.acknowledged(&garbled));
    assert!(peek(addr).is_none(), "only the good forsendelse is offered");
    let reqs = fiks.requests();
    let lists = reqs.iter().filter(|r| r.path.ends_with("/hentNyeForsendelser")).count();
    assert!(lists >= 2, "SvarInn polled again: {lists}");
    let downloads_of_garbled =
        reqs.iter().filter(|r| r.path.ends_with(&format!("/forsendelse/{garbled}"))).count();
    assert!(downloads_of_garbled >= 1, "the garbled one was tried");
}
