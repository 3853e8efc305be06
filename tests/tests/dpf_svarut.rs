//! DPF sending on a generated network, both runtimes: a receiver whose registry
//! record names DPF, `efm fiks serve` as SvarUt. A message goes SENDT and LEVERT at
//! once and LEST when SvarUt says so (with an OK arkivmelding_kvittering offered to
//! the fagsystem, as the reference makes one); a second message under the same SenderRef
//! (the same forsendelsesid) meets SvarUt's "Duplikat" fault, which is final: FEIL
//! with the fault's text, and no retry.

use std::time::Duration;

use efm_tests::network::{
    self, ARKIVMELDING_PROCESS, ARKIVMELDING_STANDARD, Fiks, Org, Services, create, ok, send,
    statuses, temp, upload, wait_for,
};
use serde_json::{Value, json};

efm_tests::on_both_runtimes!(svarut_takes_a_message_and_refuses_its_duplicate);

const ARKIVMELDING: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<arkivmelding xmlns="http://www.arkivverket.no/standarder/noark5/arkivmelding" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <mappe xsi:type="saksmappe"><basisregistrering xsi:type="journalpost">
    <dokumentbeskrivelse><tilknyttetRegistreringSom>Hoveddokument</tilknyttetRegistreringSom>
      <dokumentobjekt><referanseDokumentfil>vedtak.txt</referanseDokumentfil></dokumentobjekt>
    </dokumentbeskrivelse>
    <offentligTittel>Vedtak</offentligTittel>
  </basisregistrering></mappe>
</arkivmelding>"#;

/// The registry of `orgs`, with `dpf_receiver`'s arkivmelding record turned to DPF.
fn services(orgs: &[&Org], dpf_receiver: &str) -> Services {
    let dir = network::registry_dir(orgs);
    let path = dir.join("identifier").join(format!("{dpf_receiver}.json"));
    let mut answer: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("record")).expect("JSON");
    for record in answer["serviceRecords"].as_array_mut().expect("records") {
        if record["process"] == ARKIVMELDING_PROCESS {
            record["service"] = json!({ "identifier": "DPF", "securityLevel": 3 });
        }
    }
    std::fs::write(&path, answer.to_string()).expect("record");
    Services::start_in(&dir, &[], &[])
}

fn send_one(addr: &str, from: &str, to: &str, sender_ref: &str) -> String {
    let body = json!({ "hoveddokument": "arkivmelding.xml", "sikkerhetsnivaa": 3 });
    let (id, mut sbd) =
        network::sbd(from, to, ARKIVMELDING_PROCESS, ARKIVMELDING_STANDARD, "arkivmelding", body);
    sbd["standardBusinessDocumentHeader"]["businessScope"]["scope"]
        .as_array_mut()
        .expect("scopes")
        .push(json!({ "type": "SenderRef", "instanceIdentifier": sender_ref }));
    ok(&create(addr, &sbd), "create");
    ok(&upload(addr, &id, "arkivmelding.xml", "application/xml", ARKIVMELDING.as_bytes()), "up");
    ok(&upload(addr, &id, "vedtak.txt", "text/plain", b"Innvilget."), "upload");
    ok(&send(addr, &id), "send");
    id
}

fn svarut_takes_a_message_and_refuses_its_duplicate(runtime: &str) {
    let a = Org::new("910077473", "data");
    let b = Org::new("910075924", "data");
    let services = services(&[&a, &b], b.number);
    let fiks = Fiks::start(&["--lest-after", "1s"]);
    let node = services.node_with(&a, runtime, &temp("dpf-a"), |env| fiks.wire(env));
    let addr = node.addr.as_str();
    let sender_ref = network::random_uuid();

    let first = send_one(addr, a.number, b.number, &sender_ref);
    wait_for("LEST", Duration::from_secs(30), || statuses(addr, &first).contains(&"LEST".into()));
    assert_eq!(statuses(addr, &first), ["OPPRETTET", "SENDT", "LEVERT", "LEST"]);
    // As the reference, SvarUt's LEST also gives the fagsystem an OK receipt.
    let receipt = efm_tests::feature_steps::peek(addr).expect("an arkivmelding_kvittering");
    assert_eq!(receipt["arkivmelding_kvittering"]["receiptType"], "OK", "{receipt}");
    assert_eq!(receipt["arkivmelding_kvittering"]["relatedToMessageId"], first.as_str());
    let h = &receipt["standardBusinessDocumentHeader"];
    assert_eq!(h["sender"][0]["identifier"]["value"], format!("0192:{}", b.number));
    assert_eq!(h["receiver"][0]["identifier"]["value"], format!("0192:{}", a.number));

    let second = send_one(addr, a.number, b.number, &sender_ref);
    wait_for("FEIL", Duration::from_secs(30), || statuses(addr, &second).contains(&"FEIL".into()));
    assert_eq!(statuses(addr, &second), ["OPPRETTET", "FEIL"]);
    let page = efm_tests::feature_steps::status_page(addr, &second);
    let description = page["content"][1]["description"].as_str().unwrap_or_default();
    assert!(description.contains("Duplikat"), "the fault's text: {page}");
    // Final: sent once, refused once, not again.
    std::thread::sleep(Duration::from_secs(2));
    let sends = fiks
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/ForsendelsesServiceV9"))
        .filter(|r| r.content_type.as_deref().is_some_and(|c| c.starts_with("multipart/")))
        .count();
    assert_eq!(sends, 2, "one send each, no retry of the refused one");
    // The forsendelse went to SvarUt under the SenderRef, with the receiver's name.
    let stored = fiks.dir.join("svarut").join(&sender_ref).join("forsendelse.xml");
    let xml = std::fs::read_to_string(stored).expect("the first send is kept");
    assert!(xml.contains(&format!("<eksternref>{first}</eksternref>")), "{xml}");
    assert!(xml.contains(&format!("<navn>Org {}</navn>", b.number)), "{xml}");
}
