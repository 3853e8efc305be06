//! The reference's DPI cucumber scenarios (digital post and print, JSON), read from
//! `../shared/reference/cucumber` at test time and run black-box against `efm serve`
//! on both runtimes, with `efm dpi serve` as corner 2. Without the reference folder
//! these tests say NOT RUN and pass.
//!
//! Sending: the fagsystem steps against a node as 910077473, then what corner 2
//! received: the forretningsmelding's SBD compared with the feature's exactly (after
//! masking what differs per run), the dokumentpakke's files, manifest.xml and
//! documents; then the statuses as status polling and receipts bring them. The
//! print scenarios without addresses are refused at create (400).
//!
//! Checked with tools independent of ours: the JWS with `openssl dgst -verify` over
//! its signing input and the `x5c` certificate's key; the fingerprint with `openssl
//! dgst -sha256` of the CMS as uploaded; the CMS with `openssl cms -decrypt` (and its
//! key transport named RSAES-OAEP by `openssl cms -cmsout -print`); the ASiC-E with
//! `unzip -t`; the XAdES signature with `xmlsec1 --verify`, every reference (the
//! files and the SignedProperties) and the signature value.
//!
//! Deliberate differences, asserted as ours:
//! - The registry's DPI records get a mailbox provider certificate made here
//!   (`core::crypto::issue`): the recorded one belongs to a key the reference
//!   material lacks. The provider's organisation number stays 987464291.
//! - Expiry dates of 2019 move to 2099 (the reference's runs fix the clock in 2019);
//!   `creationDateAndTime` is the node's clock, checked for form.
//! - `maskinportentoken` is a real token from the local Maskinporten, not the
//!   reference's mock string; the fingerprint is the real one (the feature's
//!   `dummy` is its mock's), and is checked against the CMS.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use efm_tests::cucumber::{Feature, Scenario, move_expiry};
use efm_tests::dpi_checks::{
    check_oaep, openssl_sha256_base64, sent_to_corner2, unzip_test, verify_jws_with_openssl,
    verify_xades_with_xmlsec1,
};
use efm_tests::feature_steps::{
    message_id, post_message, send, status_names, status_page, upload, wait_for_statuses,
};
use efm_tests::network::{Provider, wait_for};
use efm_tests::reference_dir;
use efm_tests::reference_network::{ReferenceNetwork, zip_entries};
use serde_json::Value;
use std::time::Duration;

/// The reference's cucumber node.
const SENDER: &str = "910077473";
const FUTURE: &str = "2099";

efm_tests::on_both_runtimes!(send_dpi_digital, send_dpi_print, print_without_addresses_is_refused);

struct Setup {
    net: ReferenceNetwork,
    provider: Provider,
    node: efm_tests::server::Served,
}

fn setup(runtime: &str) -> Option<(Setup, std::path::PathBuf)> {
    let reference = reference_dir()?;
    let net = ReferenceNetwork::start(&reference);
    let provider = Provider::issue();
    net.use_dpi_provider(&provider.cert());
    let node = net.node_with(SENDER, "innsyn", runtime, |env| {
        env.retain(|(k, _)| k != "EFM_ENABLE");
        env.push(("EFM_ENABLE".into(), "DPO,DPE,DPI".into()));
        // Status polls soon after the hand-off, not after a minute.
        env.push(("EFM_RECEIPT_POLL_MIN".into(), "1s".into()));
    });
    Some((Setup { net, provider, node }, reference))
}

/// Create, upload and send as the scenario does; the messageId.
fn create_and_send(addr: &str, scenario: &Scenario) -> String {
    let mut sbd = scenario.step("I POST the following message:").json();
    move_expiry(&mut sbd, FUTURE);
    let id = message_id(&sbd);
    let created = post_message(addr, &sbd);
    assert_eq!(created.status, 200, "the response status is OK: {created:?}");
    for step in scenario.steps_starting("I upload a file named") {
        upload(addr, &id, step);
    }
    let sent = send(addr, &id);
    assert_eq!(sent.status, 200, "I send the message: {sent:?}");
    id
}

/// The SBD as the feature pins it, against the forretningsmelding's payload: the
/// per-run values checked for form and then put in on both sides.
fn check_sbd(payload: &Value, scenario: &Scenario, kind: &str, cms: &[u8]) {
    let mut expected = scenario.step("the sent message's SBD is:").json();
    move_expiry(&mut expected, FUTURE);
    let mut actual = payload.clone();
    let body = &actual[kind];
    assert_eq!(
        body["dokumentpakkefingeravtrykk"]["digestValue"].as_str(),
        Some(openssl_sha256_base64(cms).as_str()),
        "dokumentpakkefingeravtrykk is the SHA-256 of the CMS uploaded"
    );
    let token = body["maskinportentoken"].as_str().unwrap_or_default();
    // The local Maskinporten's tokens name their scope (base64url): the token is one
    // for corner 2's scope.
    let scope = URL_SAFE_NO_PAD.encode("digitalpostinnbygger:send");
    assert!(token.contains(&scope), "maskinportentoken is a corner 2 token: {token:?}");
    let created =
        actual["standardBusinessDocumentHeader"]["documentIdentification"]["creationDateAndTime"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    assert!(
        created.ends_with('Z') && efm_core::sbd::DateTime::parse(&created).is_ok(),
        "creationDateAndTime in UTC: {created}"
    );
    actual[kind]["dokumentpakkefingeravtrykk"]["digestValue"] = Value::from("dummy");
    actual[kind]["maskinportentoken"] = Value::from("DummyMaskinportenToken");
    actual["standardBusinessDocumentHeader"]["documentIdentification"]["creationDateAndTime"] =
        expected["standardBusinessDocumentHeader"]["documentIdentification"]["creationDateAndTime"]
            .clone();
    assert_eq!(
        actual,
        expected,
        "the sent message's SBD\n ours: {}\n feature: {}",
        serde_json::to_string_pretty(&actual).unwrap_or_default(),
        serde_json::to_string_pretty(&expected).unwrap_or_default()
    );
}

/// The dokumentpakke: decrypted by the provider with openssl, its documents (in
/// order), manifest.xml and contents as the feature says, its META-INF, its
/// signature checked by xmlsec1.
fn check_dokumentpakke(setup: &Setup, scenario: &Scenario, cms: &[u8], cert_der: &[u8]) {
    check_oaep(cms);
    let asic = setup.provider.decrypt(cms);
    unzip_test(&asic);
    let entries = zip_entries(&asic);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    let documents: Vec<&str> =
        names.iter().copied().filter(|n| *n != "mimetype" && !n.starts_with("META-INF/")).collect();
    let expected: Vec<&str> = scenario
        .step("the sent message contains the following files:")
        .rows()
        .iter()
        .map(|r| r[0].as_str())
        .collect();
    assert_eq!(documents, expected, "the sent message contains the following files");
    assert_eq!(names.first(), Some(&"mimetype"), "{names:?}");
    for meta in ["META-INF/signatures.xml", "META-INF/manifest.xml"] {
        assert!(names.contains(&meta), "{meta} in {names:?}");
    }
    let entry = |name: &str| {
        let (_, c) = entries.iter().find(|(n, _)| n == name).expect("entry");
        String::from_utf8_lossy(c).into_owned()
    };
    let step = scenario.step("the XML content of the file named \"manifest.xml\" is:");
    assert_eq!(entry("manifest.xml").trim_end(), step.doc().trim_end(), "manifest.xml");
    let step = scenario.step("the XML content of the file named \"arkivmelding.xml\" is:");
    assert_eq!(entry("arkivmelding.xml").trim_end(), step.doc().trim_end(), "arkivmelding.xml");
    let step = scenario.step("the content of the file named \"test.txt\" is:");
    assert_eq!(entry("test.txt").trim_end(), step.doc().trim_end(), "test.txt");
    verify_xades_with_xmlsec1(&entries, cert_der);
}

fn send_and_check(runtime: &str, file: &str, kind: &str, statuses: &[&str]) {
    let Some((setup, reference)) = setup(runtime) else { return };
    let feature = Feature::load(&reference, file);
    let scenario = feature.scenario("As a user I want to send a DPI");
    let addr = &setup.node.addr;
    let id = create_and_send(addr, scenario);
    wait_for_statuses(addr, &id, statuses);
    assert_eq!(status_names(&status_page(addr, &id)), statuses, "the statuses, in order");

    let reqs = setup.net.dpi_requests();
    let (query, jwt, cms) = sent_to_corner2(&reqs, SENDER, &id);
    assert_eq!(query.as_deref(), Some("kanal=no_difi_move_integrasjonspunkt"), "the channel");
    let (header, payload) = verify_jws_with_openssl(&jwt, SENDER);
    check_sbd(&payload, scenario, kind, &cms);
    let cert_der = STANDARD.decode(header["x5c"][0].as_str().unwrap_or_default()).expect("x5c");
    check_dokumentpakke(&setup, scenario, &cms, &cert_der);

    // Status polling asks corner 2 (the receipts may have come first), and every
    // receipt was acknowledged before its status was recorded.
    let statuses_path = format!("/messages/out/{id}/statuses");
    wait_for("the statuses polled at corner 2", Duration::from_secs(30), || {
        let reqs = setup.net.dpi_requests();
        reqs.iter().any(|r| r.method == "GET" && r.path.ends_with(&statuses_path) && r.accepted())
    });
    let reads = reqs.iter().filter(|r| r.method == "POST" && r.path.ends_with("/read")).count();
    let receipts = if kind == "digital" { 2 } else { 1 };
    assert!(reads >= receipts, "{reads} receipts acknowledged");
}

fn send_dpi_digital(runtime: &str) {
    send_and_check(
        runtime,
        "nextmove_send_dpi_digital_json.feature",
        "digital",
        &["OPPRETTET", "SENDT", "MOTTATT", "LEVERT", "LEST"],
    );
}

fn send_dpi_print(runtime: &str) {
    send_and_check(
        runtime,
        "nextmove_send_dpi_utskrift_json.feature",
        "utskrift",
        &["OPPRETTET", "SENDT", "MOTTATT", "LEVERT"],
    );
}

fn print_without_addresses_is_refused(runtime: &str) {
    let Some((setup, reference)) = setup(runtime) else { return };
    let feature = Feature::load(&reference, "nextmove_send_dpi_utskrift_json.feature");
    for name in ["without return address", "without receiver address"] {
        let scenario = feature.scenario(name);
        let mut sbd = scenario.step("I POST the following message:").json();
        move_expiry(&mut sbd, FUTURE);
        let r = post_message(&setup.node.addr, &sbd);
        assert_eq!(r.status, 400, "{name}: the response status is BAD_REQUEST: {r:?}");
        let id = message_id(&sbd);
        let page = status_page(&setup.node.addr, &id);
        assert!(status_names(&page).is_empty(), "{name}: nothing created: {page}");
    }
    assert!(setup.net.dpi_requests().iter().all(|r| r.method != "POST"), "nothing sent");
}
