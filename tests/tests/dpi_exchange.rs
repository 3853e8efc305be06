//! DPI end to end without the reference material: an organisation sends digital post
//! to a citizen through `efm dpi serve`, on both runtimes; the registry names the
//! citizen's mailbox provider with a certificate made here. What corner 2 received
//! is opened as the provider would (openssl), checked with openssl, unzip and xmlsec1,
//! and the sender's statuses run to LEST as status polling and receipts bring them.

use std::time::Duration;

use efm_tests::dpi_checks::{
    check_oaep, openssl_sha256_base64, sent_to_corner2, unzip_test, verify_jws_with_openssl,
    verify_xades_with_xmlsec1,
};
use efm_tests::feature_steps::{status_names, status_page, wait_for_statuses};
use efm_tests::http::request_with;
use efm_tests::network::{
    CITIZEN, DPI_INFO_PROCESS, Org, Provider, Services, citizen_record, create, ok, random_uuid,
    registry_dir, send, temp, wait_for,
};
use efm_tests::recording;
use efm_tests::reference_network::zip_entries;
use efm_tests::server::{LocalRegistry, LocalService};
use serde_json::json;

efm_tests::on_both_runtimes!(
    digital_post_reaches_the_citizen_and_is_read,
    print_without_a_receiver_goes_to_krrs_print_provider
);

const AUTH: Option<(&str, &str)> = Some(("efm", "secret"));

fn digital_post_reaches_the_citizen_and_is_read(runtime: &str) {
    let org = Org::new("910077473", "innsyn");
    let provider = Provider::issue();
    let registry = registry_dir(&[&org]);
    std::fs::write(
        registry.join("identifier").join(format!("{CITIZEN}.json")),
        citizen_record(&provider.cert()).to_string(),
    )
    .expect("citizen record");
    let services = Services::of(
        LocalRegistry::start(&registry),
        LocalService::broker(&temp("broker"), &[]),
        LocalService::service_bus(&temp("bus"), &[]),
    );
    let node = services.node_with(&org, runtime, &temp("node"), |env| {
        env.retain(|(k, _)| k != "EFM_ENABLE");
        env.push(("EFM_ENABLE".into(), "DPO,DPE,DPI".into()));
        env.push(("EFM_RECEIPT_POLL_MIN".into(), "1s".into()));
    });

    let id = random_uuid();
    let sbd = json!({
        "standardBusinessDocumentHeader": {
            "headerVersion": "1.0",
            "sender": [{"identifier": {"authority": "iso6523-actorid-upis", "value": "0192:910077473"}}],
            "receiver": [{"identifier": {"authority": "iso6523-actorid-upis", "value": CITIZEN}}],
            "documentIdentification": {
                "instanceIdentifier": id, "standard": "urn:no:difi:digitalpost:xsd:digital::digital",
                "type": "digital", "typeVersion": "2.0"
            },
            "businessScope": {"scope": [{"type": "ConversationId", "identifier": DPI_INFO_PROCESS,
                "instanceIdentifier": random_uuid()}]}
        },
        "digital": {
            "sikkerhetsnivaa": 3, "hoveddokument": "brev.pdf", "tittel": "Vedtak", "spraak": "NO",
            "digitalPostInfo": {"virkningsdato": "2030-01-01", "aapningskvittering": true},
            "varsler": {"epostTekst": "Du har post"}
        }
    });
    ok(&create(&node.addr, &sbd), "create");
    let files: [(&str, &str, &str, &[u8]); 2] = [
        ("brev.pdf", "application/pdf", "Vedtak", b"%PDF-1.4 a letter"),
        ("vedlegg 1.txt", "text/plain", "Vedlegg", b"an attachment"),
    ];
    for (name, mime, title, body) in files {
        let disposition = format!("attachment; name=\"{title}\"; filename=\"{name}\"");
        let r = request_with(
            &node.addr,
            "PUT",
            &format!("/api/messages/out/{id}?title={title}"),
            AUTH,
            &[("Content-Type", mime), ("Content-Disposition", &disposition)],
            body,
        );
        ok(&r, "upload");
    }
    ok(&send(&node.addr, &id), "send");
    let all = ["OPPRETTET", "SENDT", "MOTTATT", "LEVERT", "LEST"];
    wait_for_statuses(&node.addr, &id, &all);
    assert_eq!(status_names(&status_page(&node.addr, &id)), all);

    let reqs = recording::read(&services.dpi_dir);
    let (query, jwt, cms) = sent_to_corner2(&reqs, "910077473", &id);
    assert_eq!(query.as_deref(), Some("kanal=no_difi_move_integrasjonspunkt"));
    let (header, payload) = verify_jws_with_openssl(&jwt, "910077473");
    let digital = &payload["digital"];
    assert_eq!(digital["mottaker"]["postkasseadresse"], "citizen#1");
    assert_eq!(digital["aapningskvittering"], true);
    assert_eq!(digital["ikkesensitivtittel"], "Vedtak");
    assert_eq!(digital["virkningstidspunkt"], "2029-12-31T23:00:00Z");
    // No e-mail address in the record: no e-mail notification.
    assert_eq!(digital["varsler"], json!({}));
    assert_eq!(
        digital["dokumentpakkefingeravtrykk"]["digestValue"].as_str(),
        Some(openssl_sha256_base64(&cms).as_str())
    );
    let receiver = &payload["standardBusinessDocumentHeader"]["receiver"][0]["identifier"];
    assert_eq!(receiver["value"], "0192:987464291");

    check_oaep(&cms);
    let asic = provider.decrypt(&cms);
    unzip_test(&asic);
    let entries = zip_entries(&asic);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "mimetype",
            "manifest.xml",
            "brev.pdf",
            "vedlegg 1.txt",
            "META-INF/signatures.xml",
            "META-INF/manifest.xml"
        ]
    );
    let manifest = String::from_utf8_lossy(&entries[1].1).into_owned();
    assert!(manifest.contains("<postkasseadresse>citizen#1</postkasseadresse>"), "{manifest}");
    assert!(
        manifest.contains(
            "<vedlegg href=\"vedlegg 1.txt\" mime=\"text/plain\">\n        <tittel lang=\"NO\">Vedlegg</tittel>"
        ),
        "{manifest}"
    );
    assert_eq!(entries[2].1, b"%PDF-1.4 a letter");
    let cert = base64_der(&header);
    verify_xades_with_xmlsec1(&entries, &cert);

    // Nothing is left unread at corner 2, and polling has stopped asking.
    wait_for("both receipts acknowledged", Duration::from_secs(20), || {
        recording::read(&services.dpi_dir)
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/read") && r.accepted())
            .count()
            == 2
    });
}

fn base64_der(header: &serde_json::Value) -> Vec<u8> {
    use base64::Engine as _;
    let x5c = header["x5c"][0].as_str().unwrap_or_default();
    base64::engine::general_purpose::STANDARD.decode(x5c).expect("x5c")
}

/// Print with no receiver: KRR's print details (here `efm dpi serve` itself) name the
/// provider and its certificate; the dokumentpakke opens with corner 2's own key.
fn print_without_a_receiver_goes_to_krrs_print_provider(runtime: &str) {
    let org = Org::new("910077473", "innsyn");
    let services = Services::start(&[&org], &[], &[]);
    let krr = format!("{}/printSertifikat", services.dpi.url);
    let node = services.node_with(&org, runtime, &temp("node"), |env| {
        env.retain(|(k, _)| k != "EFM_ENABLE");
        env.push(("EFM_ENABLE".into(), "DPO,DPE,DPI".into()));
        env.push(("EFM_RECEIPT_POLL_MIN".into(), "1s".into()));
        env.push(("EFM_DPI_KRR_PRINT_URL".into(), krr));
    });
    let id = random_uuid();
    let address = json!({"navn": "Kari Nordmann", "adresselinje1": "Storgata 1",
        "postnummer": "2000", "poststed": "LILLESTRØM", "land": "Norge"});
    let abroad = json!({"navn": "Firma AB", "adresselinje1": "Gatan 2",
        "postnummer": "111 22", "poststed": "Stockholm", "land": "Sverige"});
    let sbd = json!({
        "standardBusinessDocumentHeader": {
            "headerVersion": "1.0",
            "sender": [{"identifier": {"authority": "iso6523-actorid-upis", "value": "0192:910077473"}}],
            "documentIdentification": {
                "instanceIdentifier": id, "standard": "urn:no:difi:digitalpost:xsd:fysisk::print",
                "type": "print", "typeVersion": "2.0"
            },
            "businessScope": {"scope": [{"type": "ConversationId", "identifier": DPI_INFO_PROCESS,
                "instanceIdentifier": random_uuid()}]}
        },
        "print": {
            "hoveddokument": "brev.pdf", "mottaker": address, "utskriftsfarge": "FARGE",
            "posttype": "A_PRIORITERT",
            "retur": {"mottaker": abroad, "returhaandtering": "MAKULERING_MED_MELDING"}
        }
    });
    ok(&create(&node.addr, &sbd), "create");
    let r = request_with(
        &node.addr,
        "PUT",
        &format!("/api/messages/out/{id}?title=Brev"),
        AUTH,
        &[
            ("Content-Type", "application/pdf"),
            ("Content-Disposition", "attachment; name=\"Brev\"; filename=\"brev.pdf\""),
        ],
        b"%PDF-1.4 print me",
    );
    ok(&r, "upload");
    ok(&send(&node.addr, &id), "send");
    let all = ["OPPRETTET", "SENDT", "MOTTATT", "LEVERT"];
    wait_for_statuses(&node.addr, &id, &all);
    assert_eq!(status_names(&status_page(&node.addr, &id)), all);

    let reqs = recording::read(&services.dpi_dir);
    assert!(reqs.iter().any(|r| r.path.ends_with("/printSertifikat")), "KRR asked: {reqs:?}");
    let (_, jwt, cms) = sent_to_corner2(&reqs, "910077473", &id);
    let (_, payload) = verify_jws_with_openssl(&jwt, "910077473");
    let receiver = &payload["standardBusinessDocumentHeader"]["receiver"][0]["identifier"];
    assert_eq!(receiver["value"], "0192:987464291", "KRR's print provider");
    let utskrift = &payload["utskrift"];
    assert_eq!(utskrift["utskriftstype"], "FARGE");
    assert_eq!(utskrift["posttype"], "A");
    assert_eq!(utskrift["retur"]["returposthaandtering"], "MAKULERING_MED_MELDING");
    assert_eq!(
        utskrift["mottaker"],
        json!({"navn": "Kari Nordmann", "adresselinje1": "Storgata 1", "postnummer": "2000", "poststed": "LILLESTRØM"})
    );
    // Abroad: postal code and place folded into the first free line, the country kept.
    assert_eq!(
        utskrift["retur"]["mottaker"],
        json!({"navn": "Firma AB", "adresselinje1": "Gatan 2", "adresselinje2": "111 22 Stockholm", "land": "Sverige"})
    );
    let corner2 = Provider {
        key_pem: services.dpi_dir.join("corner2.key.pem"),
        cert_pem: services.dpi_dir.join("corner2.cert.pem"),
    };
    check_oaep(&cms);
    let asic = corner2.decrypt(&cms);
    unzip_test(&asic);
    let entries = zip_entries(&asic);
    let manifest = String::from_utf8_lossy(&entries[1].1).into_owned();
    assert!(!manifest.contains("<mottaker>"), "print names no mailbox: {manifest}");
    assert_eq!(entries[2], ("brev.pdf".to_owned(), b"%PDF-1.4 print me".to_vec()));
}
