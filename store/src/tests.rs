use efm_core::node::{ApiCall, ApiResponse, CallId, Config, HttpResponse, Input, Node, Output};
use efm_core::registry::model::ServiceIdentifier;

use super::*;

const NOW: Timestamp = Timestamp::from_unix_millis(1_553_510_303_000);
const ID: &str = "e99e5cd1-74de-4cce-b902-cecdf97dc4f3";

fn sbd_json(hoveddokument: &str) -> String {
    serde_json::json!({
        "standardBusinessDocumentHeader": {
            "headerVersion": "1.0",
            "receiver": [{"identifier": {"value": "0192:910075918", "authority": "iso6523-actorid-upis"}}],
            "documentIdentification": {"standard": "urn:no:difi:arkivmelding:xsd::arkivmelding", "typeVersion": "1.0",
                "instanceIdentifier": ID, "type": "arkivmelding"},
            "businessScope": {"scope": [{"type": "ConversationId", "instanceIdentifier": "b4567a25-672c-4c2e-9a0f-08c52c54254b",
                "identifier": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0"}]}
        },
        "arkivmelding": {"hoveddokument": hoveddokument}
    })
    .to_string()
}

fn node(seed: u8) -> Node {
    let mut config = Config::new("910077473");
    config.enabled_services = vec![ServiceIdentifier::Dpo];
    Node::new(config, [seed; 32], NOW)
}

/// The registry's answer: the receiver takes arkivmelding by DPO.
fn registry_answer() -> HttpResponse {
    let body = serde_json::json!({"serviceRecords": [{
        "process": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0",
        "documentTypes": ["urn:no:difi:arkivmelding:xsd::arkivmelding"],
        "service": {"identifier": "DPO"}
    }]});
    HttpResponse { status: 200, headers: vec![], body: body.to_string().into() }
}

/// Drive a node against the store, as a runtime does, and return the answer.
fn call(node: &mut Node, store: &mut Store, call: ApiCall) -> ApiResponse {
    node.handle_input(Input::Api(CallId(1), call), NOW);
    let mut answer = None;
    loop {
        match node.poll_output() {
            Output::Idle { .. } => break,
            Output::Load(id, q) => node.handle_input(Input::Loaded(id, store.load(&q)), NOW),
            Output::Persist(id, w) => {
                node.handle_input(Input::Persisted(id, store.persist(&w)), NOW)
            }
            Output::Http(id, _) => node.handle_input(Input::Http(id, Ok(registry_answer())), NOW),
            Output::Respond(_, r) => answer = Some(r),
            Output::Status(_) | Output::Notice(_) | Output::Mail(_) => {}
            Output::Job(..) => panic!("no payload work expected"),
        }
    }
    answer.expect("an answer")
}

fn create(body: String) -> ApiCall {
    ApiCall::CreateMessage { body: body.into() }
}

#[test]
fn a_created_message_survives_reopening_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let mut store = Store::open(dir.path(), NOW).unwrap();
        let mut node = node(1);
        let ApiResponse::Json(v) = call(&mut node, &mut store, create(sbd_json("a.pdf"))) else {
            panic!()
        };
        v
    };
    // A new process: a new store handle and a new node, same folder.
    let mut store = Store::open(dir.path(), NOW).unwrap();
    let mut node = node(2);
    let got = call(&mut node, &mut store, ApiCall::GetOutgoing { message_id: ID.parse().unwrap() });
    assert_eq!(got, ApiResponse::Json(first.clone()));
    // The same create again is answered from the store; a different one is refused.
    assert_eq!(call(&mut node, &mut store, create(sbd_json("a.pdf"))), ApiResponse::Json(first));
    let ApiResponse::Error(e) = call(&mut node, &mut store, create(sbd_json("b.pdf"))) else {
        panic!()
    };
    assert_eq!(e.status, 409);
    let Ok(Loaded::OutgoingMessage(Some(m))) =
        store.load(&Query::OutgoingMessage(ID.parse().unwrap()))
    else {
        panic!()
    };
    assert_eq!(m.lifecycle.current(), Status::Opprettet);
    assert_eq!(m.service, ServiceIdentifier::Dpo);
}

#[test]
fn the_store_refuses_a_second_message_with_the_same_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    let mut node = node(1);
    call(&mut node, &mut store, create(sbd_json("a.pdf")));
    let Ok(Loaded::OutgoingMessage(Some(m))) =
        store.load(&Query::OutgoingMessage(ID.parse().unwrap()))
    else {
        panic!()
    };
    let status = StatusRecord {
        queued: false,
        message_id: ID.parse().unwrap(),
        status: Status::Opprettet,
        description: None,
        at: NOW,
    };
    assert_eq!(
        store.persist(&Write::CreateOutgoing { message: m, status }),
        Err(StoreError::Conflict)
    );
}

#[test]
fn migrations_are_recorded_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path(), NOW).unwrap());
    let history = || -> Vec<(i64, i64)> {
        let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        conn.prepare("SELECT version, applied_at FROM schema_migrations")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    // Every migration, in order, once, with the time it ran.
    let expected: Vec<(i64, i64)> =
        (1..=migrations::MIGRATIONS.len() as i64).map(|v| (v, NOW.as_unix_millis())).collect();
    assert_eq!(history(), expected);
    // Reopening applies nothing twice.
    drop(Store::open(dir.path(), NOW).unwrap());
    assert_eq!(history(), expected);
    let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    conn.execute("INSERT INTO schema_migrations VALUES (99, 0)", []).unwrap();
    drop(conn);
    let Err(OpenError::Migration { source: MigrationError::TooNew { found: 99, .. }, .. }) =
        Store::open(dir.path(), NOW)
    else {
        panic!("a newer schema must be refused")
    };
}

#[test]
fn a_second_process_is_refused_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    // The open store has read and written: it holds the database's lock.
    store.load(&Query::Health).unwrap();
    let other = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    other.busy_timeout(std::time::Duration::from_millis(50)).unwrap();
    let read =
        other.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get::<_, i64>(0));
    assert!(read.is_err(), "another connection read the folder of an open store: {read:?}");
    drop(store);
    drop(other);
    // Once the store is closed, the folder opens again.
    drop(Store::open(dir.path(), NOW).unwrap());
}

#[test]
fn statuses_are_unique_per_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    let mut node = node(1);
    call(&mut node, &mut store, create(sbd_json("a.pdf")));
    let dup = store.conn.execute(
        "INSERT INTO message_status (conversation, status, last_update) SELECT id, 'OPPRETTET', 0 FROM conversation",
        [],
    );
    assert!(dup.is_err(), "the schema must refuse a repeated status");
}

#[test]
fn status_pages_sort_and_count() {
    use efm_core::api::{Pageable, Sort, SortDirection, StatusFilter};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    let mut node = node(1);
    let ids = [
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000002",
        "00000000-0000-4000-8000-000000000003",
    ];
    for id in ids {
        let body = sbd_json("a.pdf").replace(ID, id);
        assert!(matches!(call(&mut node, &mut store, create(body)), ApiResponse::Json(_)));
    }
    let page = |page: u32, direction| Pageable {
        page,
        size: 2,
        sort: vec![Sort { property: "messageId".into(), direction }],
    };
    let q = |p| Query::Statuses { filter: StatusFilter::default(), page: p };
    let Ok(Loaded::Statuses { rows, total }) = store.load(&q(page(0, SortDirection::Desc))) else {
        panic!()
    };
    assert_eq!(total, 3);
    let got: Vec<&str> = rows.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(got, [ids[2], ids[1]]);
    let Ok(Loaded::Statuses { rows, .. }) = store.load(&q(page(1, SortDirection::Desc))) else {
        panic!()
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].message_id, ids[0]);
    let by_id = Query::Statuses {
        filter: StatusFilter { message_id: Some(ids[1].into()), ..StatusFilter::default() },
        page: Pageable::default(),
    };
    let Ok(Loaded::Statuses { rows, total }) = store.load(&by_id) else { panic!() };
    assert_eq!((total, rows[0].message_id.as_str()), (1, ids[1]));
}

#[test]
fn due_outgoing_takes_the_oldest_not_in_flight_and_says_when_more_are_due() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    let mut node = node(3);
    let ids: Vec<efm_core::ids::MessageId> = [
        "11111111-74de-4cce-b902-cecdf97dc4f3",
        "22222222-74de-4cce-b902-cecdf97dc4f3",
        "33333333-74de-4cce-b902-cecdf97dc4f3",
        "44444444-74de-4cce-b902-cecdf97dc4f3",
    ]
    .iter()
    .map(|id| id.parse().unwrap())
    .collect();
    for (i, id) in ids.iter().enumerate() {
        let body = sbd_json("a.pdf").replace(ID, &id.to_string());
        assert!(matches!(call(&mut node, &mut store, create(body)), ApiResponse::Json(_)));
        // Queued one millisecond apart: the queue's order is 0, 1, 2, 3.
        let at = NOW + efm_core::Duration::from_millis(i as i64);
        store.persist(&Write::QueueOutgoing { message_id: *id, at }).unwrap();
    }
    let later = NOW + efm_core::Duration::from_secs(1);
    let mut due = |limit: u32, skip: Vec<efm_core::ids::MessageId>| match store
        .load(&Query::DueOutgoing { now: later, limit, skip })
        .unwrap()
    {
        Loaded::DueOutgoing { due, next } => {
            (due.iter().map(|(m, _)| m.message_id().unwrap()).collect::<Vec<_>>(), next)
        }
        other => panic!("{other:?}"),
    };
    // The first in flight: the next two, and more are due at once.
    assert_eq!(due(2, vec![ids[0]]), (vec![ids[1], ids[2]], Some(later)));
    // Two in flight, room for all: the rest, and nothing more queued.
    assert_eq!(due(5, vec![ids[0], ids[2]]), (vec![ids[1], ids[3]], None));
    assert_eq!(due(1, vec![]), (vec![ids[0]], Some(later)));
}

#[test]
fn a_repeat_attempts_sendt_after_the_receivers_answer_is_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    let mut node = node(4);
    assert!(matches!(call(&mut node, &mut store, create(sbd_json("a.pdf"))), ApiResponse::Json(_)));
    let message_id: efm_core::ids::MessageId = ID.parse().unwrap();
    store.persist(&Write::QueueOutgoing { message_id, at: NOW }).unwrap();
    let record =
        |status| StatusRecord { message_id, status, description: None, at: NOW, queued: false };
    // The first attempt's copy arrived and was answered; the repeat's SENDT comes last.
    store.persist(&Write::ApplyReceivedStatus(record(Status::Mottatt))).unwrap();
    store.persist(&Write::HandOff(record(Status::Sendt))).unwrap();
    let statuses: Vec<String> = store
        .conn
        .prepare(
            "SELECT s.status FROM message_status s JOIN conversation c ON s.conversation = c.id
             WHERE c.message_id = ?1 AND c.direction = 'OUTGOING' ORDER BY s.id",
        )
        .unwrap()
        .query_map(params![ID], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(statuses, ["OPPRETTET", "MOTTATT"]);
    let queued: i64 = store
        .conn
        .query_row(
            "SELECT COUNT(*) FROM outgoing_message WHERE message_id = ?1",
            params![ID],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(queued, 0, "the message left the queue all the same");
}

#[test]
fn a_staged_upload_is_moved_into_place_and_a_wrong_one_is_refused() {
    use efm_core::node::{StagedFile, StagedUpload, UploadHead};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    let mut node = node(1);
    call(&mut node, &mut store, create(sbd_json("a.pdf")));
    let message = efm_core::api::MessageRef::Id(ID.parse().unwrap());
    let staging = store.staging_dir();
    let stage = |name: &str, content: &[u8], size: u64| {
        std::fs::write(staging.join(name), content).unwrap();
        StagedUpload {
            head: UploadHead {
                filename: "a.pdf".into(),
                title: None,
                mime: "application/pdf".into(),
            },
            file: StagedFile { name: name.into(), size },
            sha256: "00".repeat(32),
        }
    };
    // A staged file shorter than announced is not recorded.
    let short = stage("upload-0.part", b"%PDF", 9);
    let ApiResponse::Error(e) = call(
        &mut node,
        &mut store,
        ApiCall::UploadStaged { message: message.clone(), upload: short },
    ) else {
        panic!()
    };
    assert_eq!(e.status, 500);
    assert!(!dir.path().join("files").join(ID).join("0").exists());
    // A name that leaves staging is refused outright.
    let mut escape = stage("upload-1.part", b"%PDF", 4);
    escape.file.name = "../efm.sqlite".into();
    let ApiResponse::Error(e) = call(
        &mut node,
        &mut store,
        ApiCall::UploadStaged { message: message.clone(), upload: escape },
    ) else {
        panic!()
    };
    assert_eq!(e.status, 500);
    // A good one moves into place and its row names it.
    let good = stage("upload-2.part", b"%PDF-1.7", 8);
    let answer = call(&mut node, &mut store, ApiCall::UploadStaged { message, upload: good });
    assert_eq!(answer, ApiResponse::Empty);
    assert!(!store.staging_dir().join("upload-2.part").exists());
    let placed = store.file_path(ID.parse().unwrap(), "a.pdf").unwrap().unwrap();
    assert_eq!(std::fs::read(placed).unwrap(), b"%PDF-1.7");
    let Ok(Loaded::OutgoingMessage(Some(m))) =
        store.load(&Query::OutgoingMessage(ID.parse().unwrap()))
    else {
        panic!()
    };
    assert_eq!((m.files.len(), m.files[0].size), (1, 8));
}

/// Statuses only move forward, whatever order the writes telling of them come in:
/// a delivery whose answer was lost is retried and handed off after the receiver's
/// MOTTATT and LEVERT came back (found by efm-sim), and an expiry after LEVERT.
#[test]
fn a_status_behind_the_current_one_is_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    let mut node = node(1);
    assert!(matches!(call(&mut node, &mut store, create(sbd_json("a.pdf"))), ApiResponse::Json(_)));
    let id: MessageId = ID.parse().unwrap();
    let record =
        |status| StatusRecord { message_id: id, status, description: None, at: NOW, queued: false };
    store.persist(&Write::ApplyReceivedStatus(record(Status::Mottatt))).unwrap();
    store.persist(&Write::HandOff(record(Status::Sendt))).unwrap();
    store.persist(&Write::ApplyReceivedStatus(record(Status::Levert))).unwrap();
    store
        .persist(&Write::ExpireConversations { now: NOW + efm_core::Duration::from_hours(48) })
        .unwrap();
    assert_eq!(
        store.statuses(ID, Direction::Outgoing).unwrap(),
        [Status::Opprettet, Status::Mottatt, Status::Levert]
    );
}

#[test]
fn a_grouped_store_counts_its_commits_and_keeps_them_once_synced() {
    let dir = tempfile::tempdir().unwrap();
    let synchronous =
        |s: &Store| -> i64 { s.conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap() };
    {
        let mut store = Store::open_with(dir.path(), NOW, Durability::Grouped).unwrap();
        // NORMAL (1): commits are not fsynced by SQLite, but by the group sync.
        assert_eq!(synchronous(&store), 1);
        let group = store.group_sync().expect("a WAL to sync");
        let before = group.written();
        let mut node = node(5);
        let answer = call(&mut node, &mut store, create(sbd_json("a.pdf")));
        assert!(matches!(answer, ApiResponse::Json(_)), "{answer:?}");
        assert!(group.written() > before, "the create was counted");
        group.sync_through(group.written()).unwrap();
    }
    // Opened as usual (FULL, 2), the message is there.
    let mut store = Store::open(dir.path(), NOW).unwrap();
    assert_eq!(synchronous(&store), 2);
    assert!(store.group_sync().is_none());
    let Ok(Loaded::OutgoingMessage(Some(_))) =
        store.load(&Query::OutgoingMessage(ID.parse().unwrap()))
    else {
        panic!("the message written by the grouped store")
    };
}

#[test]
fn the_sending_queue_is_read_by_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), NOW).unwrap();
    let plan: Vec<String> = store
        .conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT message_id, attempts, COALESCE(next_attempt, queued_at) AS due
             FROM outgoing_message WHERE queued_at IS NOT NULL
             ORDER BY COALESCE(next_attempt, queued_at), message_id LIMIT 10",
        )
        .unwrap()
        .query_map([], |r| r.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(plan.iter().any(|p| p.contains("outgoing_message_queue")), "{plan:?}");
    assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "no sort: {plan:?}");
}

/// A watch is written with its hand-off, comes due at its time, is rescheduled or
/// dropped by a poll, and ends with its conversation by whatever write ends it.
#[test]
fn a_watch_follows_its_hand_off_until_the_conversation_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    let mut node = node(1);
    assert!(matches!(call(&mut node, &mut store, create(sbd_json("a.pdf"))), ApiResponse::Json(_)));
    let id: MessageId = ID.parse().unwrap();
    let record =
        |status| StatusRecord { message_id: id, status, description: None, at: NOW, queued: false };
    let minute = efm_core::Duration::from_mins(1);
    let due = |store: &mut Store, now: Timestamp| match store.load(&Query::DueWatches {
        service: ServiceIdentifier::Dpf,
        now,
        limit: 10,
        skip: Vec::new(),
    }) {
        Ok(Loaded::Watches { due, next }) => (due, next),
        other => panic!("{other:?}"),
    };
    store
        .persist(&Write::HandOffWatched {
            statuses: vec![record(Status::Sendt), record(Status::Levert)],
            service: ServiceIdentifier::Dpf,
            reference: Some("forsendelse-1".into()),
            next_poll: NOW + minute,
        })
        .unwrap();
    // Out of the queue, both statuses recorded, watched from a minute on.
    assert!(matches!(store.load(&Query::OutgoingMessage(id)), Ok(Loaded::OutgoingMessage(None))));
    assert_eq!(
        store.statuses(ID, Direction::Outgoing).unwrap(),
        [Status::Opprettet, Status::Sendt, Status::Levert]
    );
    assert_eq!(due(&mut store, NOW), (Vec::new(), Some(NOW + minute)));
    let (watches, _) = due(&mut store, NOW + minute);
    assert_eq!(watches.len(), 1);
    let w = &watches[0];
    assert_eq!(
        (w.message_id, w.reference.as_deref(), w.handed_off, w.receiver.as_str()),
        (id, Some("forsendelse-1"), NOW, "910075918")
    );
    // Another service's look does not see it; one being polled is skipped.
    let Ok(Loaded::Watches { due: other, .. }) = store.load(&Query::DueWatches {
        service: ServiceIdentifier::Dpv,
        now: NOW + minute,
        limit: 10,
        skip: Vec::new(),
    }) else {
        panic!()
    };
    assert!(other.is_empty());
    let Ok(Loaded::Watches { due: skipped, .. }) = store.load(&Query::DueWatches {
        service: ServiceIdentifier::Dpf,
        now: NOW + minute,
        limit: 10,
        skip: vec![id],
    }) else {
        panic!()
    };
    assert!(skipped.is_empty());
    // A poll with nothing new reschedules it.
    store
        .persist(&Write::Watched {
            message_id: id,
            statuses: Vec::new(),
            next_poll: Some(NOW + efm_core::Duration::from_mins(3)),
        })
        .unwrap();
    assert_eq!(
        due(&mut store, NOW + efm_core::Duration::from_mins(2)),
        (Vec::new(), Some(NOW + efm_core::Duration::from_mins(3)))
    );
    // LEST by any path ends the watch.
    store.persist(&Write::ApplyReceivedStatus(record(Status::Lest))).unwrap();
    assert_eq!(due(&mut store, NOW + efm_core::Duration::from_mins(10)), (Vec::new(), None));
    // A poll answering after that changes nothing.
    store
        .persist(&Write::Watched {
            message_id: id,
            statuses: vec![record(Status::Feil)],
            next_poll: Some(NOW),
        })
        .unwrap();
    assert_eq!(due(&mut store, NOW + efm_core::Duration::from_mins(10)), (Vec::new(), None));
    assert_eq!(
        store.statuses(ID, Direction::Outgoing).unwrap(),
        [Status::Opprettet, Status::Sendt, Status::Levert, Status::Lest]
    );
}

/// A poll that says there is nothing more to learn ends the watch, and an expired
/// conversation is never watched.
#[test]
fn a_watch_ends_when_its_service_has_nothing_more_and_never_starts_after_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    let mut node = node(1);
    assert!(matches!(call(&mut node, &mut store, create(sbd_json("a.pdf"))), ApiResponse::Json(_)));
    let id: MessageId = ID.parse().unwrap();
    let record =
        |status| StatusRecord { message_id: id, status, description: None, at: NOW, queued: false };
    let hand_off = Write::HandOffWatched {
        statuses: vec![record(Status::Sendt)],
        service: ServiceIdentifier::Dpv,
        reference: None,
        next_poll: NOW,
    };
    store.persist(&hand_off).unwrap();
    store
        .persist(&Write::Watched {
            message_id: id,
            statuses: vec![record(Status::Levert)],
            next_poll: None,
        })
        .unwrap();
    let due = Query::DueWatches {
        service: ServiceIdentifier::Dpv,
        now: NOW,
        limit: 10,
        skip: Vec::new(),
    };
    assert_eq!(store.load(&due).unwrap(), Loaded::Watches { due: Vec::new(), next: None });
    assert_eq!(
        store.statuses(ID, Direction::Outgoing).unwrap(),
        [Status::Opprettet, Status::Sendt, Status::Levert]
    );
    // An expired conversation: a late hand-off records nothing and watches nothing.
    let dir2 = tempfile::tempdir().unwrap();
    let mut store2 = Store::open(dir2.path(), NOW).unwrap();
    let mut node2 = self::node(2);
    assert!(matches!(
        call(&mut node2, &mut store2, create(sbd_json("a.pdf"))),
        ApiResponse::Json(_)
    ));
    store2
        .persist(&Write::ExpireConversations { now: NOW + efm_core::Duration::from_hours(48) })
        .unwrap();
    store2.persist(&hand_off).unwrap();
    assert_eq!(store2.load(&due).unwrap(), Loaded::Watches { due: Vec::new(), next: None });
    assert_eq!(
        store2.statuses(ID, Direction::Outgoing).unwrap(),
        [Status::Opprettet, Status::LevetidUtlopt]
    );
}
