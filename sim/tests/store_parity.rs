//! The simulated store against the real one: every store operation of whole
//! simulated runs (the node's own reads and writes, in the order it made them,
//! crashes and all) is replayed against `efm-store` on SQLite, and each answer must
//! be the same (errors by kind). What the simulator proves about the node holds
//! only as far as its store behaves like the one the node really runs on.

use std::fmt::Debug;

use efm_core::node::StoreError;
use efm_sim::StoreCallKind;
use efm_store::Store;

fn same<T: PartialEq>(a: &Result<T, StoreError>, b: &Result<T, StoreError>) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x == y,
        (Err(StoreError::Conflict), Err(StoreError::Conflict)) => true,
        (Err(StoreError::Unavailable(_)), Err(StoreError::Unavailable(_))) => true,
        _ => false,
    }
}

fn short(v: &impl Debug) -> String {
    let text = format!("{v:?}");
    text.chars().take(3_000).collect()
}

/// A folder in memory where there is one: SQLite syncs every write.
fn folder() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }
        .expect("a temporary folder")
}

/// The variant name of a query or write, from its debug form.
fn kind(v: &impl Debug) -> String {
    format!("{v:?}").split([' ', '(', '{']).next().unwrap_or_default().to_owned()
}

fn replay(seed: u64, kinds: &mut std::collections::BTreeSet<String>) -> usize {
    let report = efm_sim::record_seed(seed);
    assert!(report.violations.is_empty(), "seed {seed}: {:?}", report.violations);
    let start = efm_core::Timestamp::from_unix_millis(0);
    let dirs: Vec<tempfile::TempDir> = (0..report.nodes).map(|_| folder()).collect();
    let mut stores: Vec<Store> =
        dirs.iter().map(|d| Store::open(d.path(), start).expect("store opens")).collect();
    for (i, call) in report.store_log.iter().enumerate() {
        let store = &mut stores[call.node];
        kinds.insert(match &call.op {
            StoreCallKind::Load(q, _) => kind(q),
            StoreCallKind::Persist(w, _) => kind(w),
        });
        match &call.op {
            StoreCallKind::Load(q, want) => {
                let got = store.load(q);
                assert!(
                    same(&got, want.as_ref()),
                    "seed {seed}, operation {i} on node {}: {}\n  simulated: {}\n  efm-store: {}",
                    call.node,
                    short(q),
                    short(want),
                    short(&got)
                );
            }
            StoreCallKind::Persist(w, want) => {
                if let Some((name, bytes)) = &call.staged {
                    std::fs::write(store.staging_dir().join(name), bytes).expect("staged file");
                }
                let got = store.persist(w);
                assert!(
                    same(&got, want),
                    "seed {seed}, operation {i} on node {}: {}\n  simulated: {want:?}\n  efm-store: {got:?}",
                    call.node,
                    short(w)
                );
            }
        }
    }
    report.store_log.len()
}

#[test]
fn the_simulated_store_answers_as_efm_store() {
    let mut operations = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..6 {
        operations += replay(seed, &mut kinds);
    }
    assert!(operations > 1_000, "only {operations} store operations replayed");
    eprintln!("{operations} store operations of {} kinds answered alike: {kinds:?}", kinds.len());
    // What a run of the mixed workload makes the node do, at the least.
    for k in [
        "CreateOutgoing",
        "AddFile",
        "QueueOutgoing",
        "HandOff",
        "CreateIncoming",
        "LeaseIncoming",
        "DeleteIncoming",
        "ApplyReceivedStatus",
        "DueOutgoing",
        "DueReplies",
        "LeasableIncoming",
    ] {
        assert!(kinds.contains(k), "no {k} replayed");
    }
}

/// Watches (DPV, DPF, DPI receipts polled for) are not yet made by any simulated
/// message service, so their writes and reads are replayed here by hand against
/// both stores: hand-off, due looks, polls, an ending status by another path, and
/// a hand-off after expiry.
#[test]
fn watches_are_kept_alike() {
    use bytes::Bytes;
    use efm_core::node::{Loaded, OutgoingMessage, Query, StatusRecord, Write};
    use efm_core::registry::model::ServiceIdentifier;
    use efm_core::sbd::Sbd;
    use efm_core::status::{Direction, Lifecycle, Status};
    use efm_core::{Duration, Timestamp};

    let start = Timestamp::from_unix_millis(1_700_000_000_000);
    let dir = folder();
    let mut sql = Store::open(dir.path(), start).expect("store opens");
    let mut mem = efm_sim::store::MemStore::new();
    let mut staging = std::collections::BTreeMap::<String, Bytes>::new();
    let ids = [
        "0b2f4a4c-6f0e-4b87-9d59-4c0b7f7d3a01",
        "1c3e5b5d-7a1f-4c98-8e6a-5d1c8a8e4b02",
        "2d4f6c6e-8b2a-4da9-9f7b-6e2d9b9f5c03",
    ];
    let message = |id: &str, service: ServiceIdentifier| {
        let sbd = serde_json::json!({
            "standardBusinessDocumentHeader": {
                "headerVersion": "1.0",
                "sender": [{"identifier": {"value": "0192:910077473", "authority": "iso6523-actorid-upis"}}],
                "receiver": [{"identifier": {"value": "0192:910075918", "authority": "iso6523-actorid-upis"}}],
                "documentIdentification": {"standard": "urn:no:difi:arkivmelding:xsd::arkivmelding",
                    "typeVersion": "1.0", "instanceIdentifier": id, "type": "arkivmelding",
                    "creationDateAndTime": "2023-11-14T22:13:20Z"},
                "businessScope": {"scope": [{"type": "ConversationId", "instanceIdentifier": id,
                    "identifier": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0",
                    "scopeInformation": [{"expectedResponseDateTime": "2023-11-16T22:13:20Z"}]}]}
            },
            "arkivmelding": {"hoveddokument": "a.pdf"}
        });
        let sbd = Sbd::from_json(sbd.to_string().as_bytes()).expect("an SBD");
        OutgoingMessage {
            request: sbd.to_json_value().to_string(),
            sbd,
            created: start,
            expiry: start + Duration::from_hours(48),
            service,
            files: Vec::new(),
            queued: None,
            lifecycle: Lifecycle::new(Direction::Outgoing),
        }
    };
    let record = |id: &str, status, at| StatusRecord {
        message_id: id.parse().unwrap(),
        status,
        description: None,
        at,
        queued: false,
    };
    let mut write = |w: Write| {
        let (a, b) = (mem.persist(&w, &mut staging), sql.persist(&w));
        assert!(same(&a, &b), "{w:?}\n  simulated: {a:?}\n  efm-store: {b:?}");
    };
    for (id, service) in [
        (ids[0], ServiceIdentifier::Dpf),
        (ids[1], ServiceIdentifier::Dpf),
        (ids[2], ServiceIdentifier::Dpv),
    ] {
        write(Write::CreateOutgoing {
            message: Box::new(message(id, service)),
            status: record(id, Status::Opprettet, start),
        });
        write(Write::QueueOutgoing { message_id: id.parse().unwrap(), at: start });
    }
    let minute = Duration::from_mins(1);
    write(Write::HandOffWatched {
        statuses: vec![record(ids[0], Status::Sendt, start), record(ids[0], Status::Levert, start)],
        service: ServiceIdentifier::Dpf,
        reference: Some("f-1".into()),
        next_poll: start + minute,
    });
    write(Write::HandOffWatched {
        statuses: vec![record(ids[1], Status::Sendt, start)],
        service: ServiceIdentifier::Dpf,
        reference: None,
        next_poll: start + minute,
    });
    write(Write::ExpireConversations { now: start + Duration::from_hours(49) });
    write(Write::HandOffWatched {
        statuses: vec![record(ids[2], Status::Sendt, start)],
        service: ServiceIdentifier::Dpv,
        reference: Some("c-3".into()),
        next_poll: start,
    });
    let mut looks = 0;
    let mut look = |mem: &efm_sim::store::MemStore, sql: &mut Store, q: Query| {
        let (a, b) = (mem.load(&q), sql.load(&q));
        assert!(same(&a, &b), "{q:?}\n  simulated: {a:?}\n  efm-store: {b:?}");
        looks += 1;
        a.expect("the load answers")
    };
    let due = |service, now, limit, skip: Vec<&str>| Query::DueWatches {
        service,
        now,
        limit,
        skip: skip.iter().map(|s| s.parse().unwrap()).collect(),
    };
    for now in [start, start + minute, start + Duration::from_mins(2)] {
        for limit in [0, 1, 5] {
            look(&mem, &mut sql, due(ServiceIdentifier::Dpf, now, limit, vec![]));
            look(&mem, &mut sql, due(ServiceIdentifier::Dpf, now, limit, vec![ids[0]]));
            look(&mem, &mut sql, due(ServiceIdentifier::Dpv, now, limit, vec![]));
        }
    }
    let Loaded::Watches { due: watched, .. } =
        look(&mem, &mut sql, due(ServiceIdentifier::Dpf, start + minute, 5, vec![]))
    else {
        panic!("no watches")
    };
    // The one with LEVERT is finished and outlives the expiry; the other expired.
    assert_eq!(watched.len(), 1, "one DPF hand-off is watched");
    let mut write = |w: Write| {
        let (a, b) = (mem.persist(&w, &mut staging), sql.persist(&w));
        assert!(same(&a, &b), "{w:?}\n  simulated: {a:?}\n  efm-store: {b:?}");
    };
    write(Write::Watched {
        message_id: ids[0].parse().unwrap(),
        statuses: vec![],
        next_poll: Some(start + Duration::from_mins(5)),
    });
    write(Write::ApplyReceivedStatus(record(ids[1], Status::Lest, start + minute)));
    write(Write::Watched {
        message_id: ids[1].parse().unwrap(),
        statuses: vec![record(ids[1], Status::Feil, start + minute)],
        next_poll: Some(start),
    });
    write(Write::Watched {
        message_id: ids[0].parse().unwrap(),
        statuses: vec![record(ids[0], Status::Lest, start + Duration::from_mins(5))],
        next_poll: Some(start + Duration::from_mins(9)),
    });
    for now in [
        start + Duration::from_mins(4),
        start + Duration::from_mins(6),
        start + Duration::from_mins(10),
    ] {
        look(&mem, &mut sql, due(ServiceIdentifier::Dpf, now, 5, vec![]));
        look(&mem, &mut sql, due(ServiceIdentifier::Dpv, now, 5, vec![]));
    }
    for id in ids {
        look(
            &mem,
            &mut sql,
            Query::OutgoingConversation(efm_core::node::StoredConversationKey::MessageId(
                id.parse().unwrap(),
            )),
        );
    }
    look(&mem, &mut sql, Query::Health);
    assert!(looks > 30);
}
