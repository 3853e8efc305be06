//! Two integration points exchange messages end to end over the local message
//! services: org A sends to org B over DPO (the broker work-alike) and DPE (the
//! Service Bus work-alike); B receives, and its fagsystem side peeks, pops and
//! deletes; A sees SENDT, MOTTATT and LEVERT come back. Run on both runtimes.

use std::time::Duration;

use efm_tests::network::{
    ARKIVMELDING_PROCESS, ARKIVMELDING_STANDARD, INNSYNSKRAV_PROCESS, INNSYNSKRAV_STANDARD, Org,
    Services, asic_files, create, delete, ok, peek, pop, send, statuses, temp, upload, wait_for,
};
use serde_json::json;

fn arkivmelding_xml() -> Vec<u8> {
    std::fs::read(efm_tests::workspace().join("examples/files/arkivmelding.xml")).unwrap()
}

/// The names of the files the arkivmelding example references.
fn referenced(xml: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(xml);
    text.split("<referanseDokumentfil>")
        .skip(1)
        .filter_map(|s| s.split("</referanseDokumentfil>").next().map(str::to_owned))
        .collect()
}

#[test]
fn dpo_and_dpe_end_to_end_blocking() {
    end_to_end("blocking");
}

#[test]
fn dpo_and_dpe_end_to_end_async() {
    end_to_end("async");
}

fn end_to_end(runtime: &str) {
    // A is an eInnsyn client (mode innsyn), B an archive (mode data): innsynskrav
    // go to B's data queue, and B's status replies come back to A's innsyn queue.
    let org_a = Org::new("910077473", "innsyn");
    let org_b = Org::new("910075918", "data");
    // The Service Bus checks every signature against the key.
    let services = Services::start(
        &[&org_a, &org_b],
        &[],
        &["--check-sas", efm_tests::network::REGISTRY_SAS_KEY],
    );
    let node_a = services.node(&org_a, runtime, &temp("a"));
    // B has no Service Bus key configured: it takes one from the registry.
    let node_b = services.node_with(&org_b, runtime, &temp("b"), |env| {
        env.retain(|(k, _)| k != "EFM_DPE_SAS_KEY");
    });
    let (a, b) = (node_a.addr.as_str(), node_b.addr.as_str());
    let sbd = |process, standard, kind, body| {
        efm_tests::network::sbd(org_a.number, org_b.number, process, standard, kind, body)
    };

    // DPO: an arkivmelding with its files.
    let (dpo_id, message) = sbd(
        ARKIVMELDING_PROCESS,
        ARKIVMELDING_STANDARD,
        "arkivmelding",
        json!({ "hoveddokument": "arkivmelding.xml", "sikkerhetsnivaa": 3 }),
    );
    ok(&create(a, &message), "create DPO");
    let xml = arkivmelding_xml();
    ok(&upload(a, &dpo_id, "arkivmelding.xml", "application/xml", &xml), "upload");
    let mut sent_files = vec![("arkivmelding.xml".to_owned(), xml.clone())];
    for name in referenced(&xml) {
        let content = format!("content of {name}\n").repeat(1000).into_bytes();
        ok(&upload(a, &dpo_id, &name, "text/plain", &content), "upload");
        sent_files.push((name, content));
    }
    ok(&send(a, &dpo_id), "send DPO");

    // DPE: an innsynskrav with one file.
    let (dpe_id, message) = sbd(
        INNSYNSKRAV_PROCESS,
        INNSYNSKRAV_STANDARD,
        "innsynskrav",
        json!({ "orgnr": "987654321", "epost": "innsyn@example.org" }),
    );
    ok(&create(a, &message), "create DPE");
    ok(
        &upload(a, &dpe_id, "order.xml", "application/xml", b"<innsynskrav>1</innsynskrav>"),
        "upload",
    );
    ok(&send(a, &dpe_id), "send DPE");

    for id in [&dpo_id, &dpe_id] {
        wait_for(&format!("{id} SENDT and MOTTATT at A"), Duration::from_secs(30), || {
            let s = statuses(a, id);
            s.contains(&"SENDT".to_owned()) && s.contains(&"MOTTATT".to_owned())
        });
        wait_for(&format!("{id} INNKOMMENDE_MOTTATT at B"), Duration::from_secs(10), || {
            statuses(b, id).contains(&"INNKOMMENDE_MOTTATT".to_owned())
        });
    }

    // B's fagsystem takes both: peek, pop, delete.
    let mut taken = Vec::new();
    while let Some(id) = peek(b) {
        let files = asic_files(&pop(b, &id));
        if id == dpo_id {
            for (name, content) in &sent_files {
                let got = files.iter().find(|(n, _)| n == name);
                assert_eq!(got.map(|g| &g.1), Some(content), "{name} arrives intact");
            }
        } else {
            assert!(
                files.iter().any(|(n, c)| n == "order.xml" && c == b"<innsynskrav>1</innsynskrav>")
            );
        }
        ok(&delete(b, &id), "delete");
        taken.push(id);
    }
    taken.sort();
    let mut expected = vec![dpo_id.clone(), dpe_id.clone()];
    expected.sort();
    assert_eq!(taken, expected);

    for id in [&dpo_id, &dpe_id] {
        wait_for(&format!("{id} LEVERT at A"), Duration::from_secs(30), || {
            statuses(a, id).contains(&"LEVERT".to_owned())
        });
        assert_eq!(statuses(a, id), ["OPPRETTET", "SENDT", "MOTTATT", "LEVERT"], "{id} at A");
        assert_eq!(
            statuses(b, id),
            ["OPPRETTET", "INNKOMMENDE_MOTTATT", "INNKOMMENDE_LEVERT"],
            "{id} at B"
        );
    }
}

/// With signed registry answers required, lookups are verified against the
/// registry's key set, and an unsigned registry is refused.
#[test]
fn signed_registry_answers_are_verified() {
    let org_a = Org::new("910077473", "innsyn");
    let org_b = Org::new("910075918", "data");
    let signer = efm_tests::keys::TestKey::generate("registry");
    let signed = Services::start_signed(&[&org_a, &org_b], &signer);
    let unsigned = Services::start(&[&org_a, &org_b], &[], &[]);
    for (services, works) in [(&signed, true), (&unsigned, false)] {
        let node = services.node_with(&org_a, "blocking", &temp("a"), |env| {
            env.push(("EFM_REGISTRY_SIGNED".into(), "true".into()));
        });
        let (id, message) = efm_tests::network::sbd(
            org_a.number,
            org_b.number,
            ARKIVMELDING_PROCESS,
            ARKIVMELDING_STANDARD,
            "arkivmelding",
            json!({ "hoveddokument": "arkivmelding.xml" }),
        );
        let r = create(&node.addr, &message);
        if works {
            ok(&r, "create with a signed registry");
            assert_eq!(statuses(&node.addr, &id), ["OPPRETTET"]);
        } else {
            assert!(r.status >= 400, "an unsigned answer must be refused: {}", r.status);
            assert!(statuses(&node.addr, &id).is_empty());
        }
    }
}
