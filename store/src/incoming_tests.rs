//! Incoming messages in the store: arrival, leases, delete, expiry, status replies.

use efm_core::api::subscription::SubscriptionSpec;
use efm_core::api::{IncomingFilter, Pageable, StatusFilter};
use efm_core::node::{IncomingMessage, StagedFile, StatusReply};
use efm_core::sbd::{Sbd, status_reply};

use super::*;

const NOW: Timestamp = Timestamp::from_unix_millis(1_553_510_303_000);
const HOUR: efm_core::Duration = efm_core::Duration::from_hours(1);
const A: &str = "00000000-0000-4000-8000-00000000000a";
const B: &str = "00000000-0000-4000-8000-00000000000b";

fn sbd(message_id: &str, process: &str) -> Sbd {
    let body = serde_json::json!({
        "standardBusinessDocumentHeader": {
            "headerVersion": "1.0",
            "sender": [{"identifier": {"value": "0192:910077473", "authority": "iso6523-actorid-upis"}}],
            "receiver": [{"identifier": {"value": "0192:910075918", "authority": "iso6523-actorid-upis"}}],
            "documentIdentification": {"standard": "urn:no:difi:arkivmelding:xsd::arkivmelding",
                "typeVersion": "1.0", "instanceIdentifier": message_id, "type": "arkivmelding",
                "creationDateAndTime": "2019-03-25T11:38:23+02:00"},
            "businessScope": {"scope": [{"type": "ConversationId",
                "instanceIdentifier": "b4567a25-672c-4c2e-9a0f-08c52c54254b", "identifier": process}]}
        },
        "arkivmelding": {"hoveddokument": "a.pdf"}
    });
    Sbd::from_json(body.to_string().as_bytes()).unwrap()
}

const PROCESS: &str = "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0";

/// Stage `content` under `name`, as a runtime does before `CreateIncoming`.
fn stage(store: &Store, name: &str, content: &[u8]) -> StagedFile {
    std::fs::write(store.staging_dir().join(name), content).unwrap();
    StagedFile { name: name.into(), size: content.len() as u64 }
}

fn arrival(store: &Store, id: &str, content: Option<&[u8]>, expiry: Timestamp) -> Write {
    let sbd = sbd(id, PROCESS);
    let reply = StatusReply {
        sbd: status_reply(&sbd, Status::Mottatt, id.parse().unwrap(), NOW),
        service: ServiceIdentifier::Dpo,
    };
    Write::CreateIncoming {
        message: Box::new(IncomingMessage {
            sbd,
            service: ServiceIdentifier::Dpo,
            received: NOW,
            expiry,
            asic: content.map(|c| stage(store, &format!("{id}.part"), c)),
        }),
        reply: Some(reply),
    }
}

fn statuses(store: &mut Store, id: &str) -> Vec<(Status, Option<String>)> {
    let q = Query::Statuses {
        filter: StatusFilter { message_id: Some(id.into()), ..StatusFilter::default() },
        page: Pageable::default(),
    };
    let Ok(Loaded::Statuses { rows, .. }) = store.load(&q) else { panic!() };
    rows.into_iter().map(|r| (r.status, r.description)).collect()
}

fn one(store: &mut Store, id: &str) -> Option<Box<efm_core::node::StoredIncoming>> {
    let Ok(Loaded::IncomingMessage(m)) = store.load(&Query::IncomingMessage(id.parse().unwrap()))
    else {
        panic!()
    };
    m
}

fn leasable(store: &mut Store, now: Timestamp) -> Vec<String> {
    let q = Query::LeasableIncoming { filter: IncomingFilter::default(), now, limit: 20 };
    let Ok(Loaded::Leasable(rows)) = store.load(&q) else { panic!() };
    rows.iter().map(|m| m.message_id().unwrap().to_string()).collect()
}

fn replies(store: &mut Store, now: Timestamp) -> Vec<(i64, Status, u32)> {
    let Ok(Loaded::Replies { due, .. }) = store.load(&Query::DueReplies { now, limit: 10 }) else {
        panic!()
    };
    due.into_iter()
        .map(|(id, r, attempts)| {
            let efm_core::sbd::BusinessMessage::Status(s) = r.sbd.message else { panic!() };
            (id, s.status.unwrap(), attempts)
        })
        .collect()
}

fn levert(id: &str, at: Timestamp) -> StatusRecord {
    StatusRecord {
        message_id: id.parse().unwrap(),
        status: Status::InnkommendeLevert,
        description: None,
        at,
        queued: false,
    }
}

#[test]
fn an_arrival_is_stored_leased_once_at_a_time_and_deleted_with_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    store
        .persist(&Write::SaveSubscription {
            id: None,
            spec: SubscriptionSpec {
                name: "all".into(),
                push_endpoint: "http://hook.test/".into(),
                resource: "all".into(),
                event: "all".into(),
                filter: None,
            },
        })
        .unwrap();
    store.persist(&arrival(&store, A, Some(b"cms bytes"), NOW + HOUR)).unwrap();
    // The staged file moved into place, under the path the row names.
    assert!(!store.staging_dir().join(format!("{A}.part")).exists());
    let m = one(&mut store, A).expect("stored");
    let path = m.asic.clone().expect("an ASiC");
    assert_eq!(std::fs::read(dir.path().join(&path)).unwrap(), b"cms bytes");
    assert_eq!((m.service, m.lease_until), (ServiceIdentifier::Dpo, None));
    assert_eq!(
        statuses(&mut store, A),
        [(Status::Opprettet, None), (Status::InnkommendeMottatt, None)]
    );
    // Each status has its push, in the same transaction.
    let Ok(Loaded::Pushes { due, .. }) = store.load(&Query::DuePushes { now: NOW, limit: 10 })
    else {
        panic!()
    };
    assert_eq!(due.len(), 2);
    assert!(due[1].body.contains("INNKOMMENDE_MOTTATT") && due[1].body.contains("INCOMING"));
    // The MOTTATT reply to the sender waits in its outbox.
    assert_eq!(replies(&mut store, NOW).iter().map(|r| r.1).collect::<Vec<_>>(), [Status::Mottatt]);

    // One lease at a time; a running lease hides the message from peeks.
    assert_eq!(leasable(&mut store, NOW), [A]);
    let lease = |now: Timestamp| Write::LeaseIncoming {
        message_id: A.parse().unwrap(),
        now,
        until: now + efm_core::Duration::from_mins(5),
    };
    store.persist(&lease(NOW)).unwrap();
    assert_eq!(store.persist(&lease(NOW)), Err(StoreError::Conflict));
    assert!(leasable(&mut store, NOW).is_empty());
    // Find shows leased messages too.
    let find = Query::IncomingMessages {
        filter: IncomingFilter::default(),
        page: Pageable::default(),
        now: NOW,
    };
    let Ok(Loaded::IncomingMessages { total: 1, .. }) = store.load(&find) else { panic!() };
    // A lapsed lease can be taken again.
    let later = NOW + efm_core::Duration::from_mins(6);
    assert_eq!(leasable(&mut store, later), [A]);
    store.persist(&lease(later)).unwrap();
    assert!(one(&mut store, A).unwrap().leased(later));

    let reply = StatusReply {
        sbd: status_reply(&sbd(A, PROCESS), Status::Levert, A.parse().unwrap(), later),
        service: ServiceIdentifier::Dpo,
    };
    store.persist(&Write::DeleteIncoming { status: levert(A, later), reply: Some(reply) }).unwrap();
    assert!(one(&mut store, A).is_none());
    assert!(!dir.path().join(&path).exists(), "the ASiC goes with the row");
    assert_eq!(statuses(&mut store, A).last().unwrap().0, Status::InnkommendeLevert);
    let kinds: Vec<Status> = replies(&mut store, later).iter().map(|r| r.1).collect();
    assert_eq!(kinds, [Status::Mottatt, Status::Levert]);
    // Deleting again finds nothing.
    let again = Write::DeleteIncoming { status: levert(A, later), reply: None };
    assert_eq!(store.persist(&again), Err(StoreError::Conflict));
    // Health counts what waits.
    let Ok(Loaded::Health { incoming: 0, .. }) = store.load(&Query::Health) else { panic!() };
}

#[test]
fn a_known_message_id_is_refused_also_after_delete_or_expiry_on_arrival() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    store.persist(&arrival(&store, A, Some(b"first"), NOW + HOUR)).unwrap();
    // Again while stored: refused, and the second staged copy is discarded.
    let again = arrival(&store, A, Some(b"second"), NOW + HOUR);
    assert_eq!(store.persist(&again), Err(StoreError::Conflict));
    assert!(!store.staging_dir().join(format!("{A}.part")).exists());
    let path = one(&mut store, A).unwrap().asic.unwrap();
    assert_eq!(std::fs::read(dir.path().join(path)).unwrap(), b"first", "never overwritten");
    // Delivered and deleted: its conversation remains, and it does not come back.
    store
        .persist(&Write::LeaseIncoming {
            message_id: A.parse().unwrap(),
            now: NOW,
            until: NOW + HOUR,
        })
        .unwrap();
    store.persist(&Write::DeleteIncoming { status: levert(A, NOW), reply: None }).unwrap();
    assert_eq!(store.persist(&arrival(&store, A, None, NOW + HOUR)), Err(StoreError::Conflict));
    assert_eq!(replies(&mut store, NOW).len(), 1, "only the first arrival's reply");

    // Arrived expired: recorded, nothing kept, and refused when it comes again.
    let expired = Write::RecordIncomingExpired {
        sbd: Box::new(sbd(B, PROCESS)),
        service: ServiceIdentifier::Dpo,
        at: NOW,
    };
    store.persist(&expired).unwrap();
    store.persist(&expired).unwrap();
    assert_eq!(
        statuses(&mut store, B),
        [
            (Status::Opprettet, None),
            (Status::LevetidUtlopt, Some(efm_core::node::EXPIRED_DESCRIPTION.to_owned()))
        ]
    );
    assert!(one(&mut store, B).is_none());
    assert_eq!(store.persist(&arrival(&store, B, None, NOW + HOUR)), Err(StoreError::Conflict));
}

#[test]
fn a_staged_file_of_the_wrong_size_fails_the_arrival_and_stays() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    let Write::CreateIncoming { mut message, reply } =
        arrival(&store, A, Some(b"12345"), NOW + HOUR)
    else {
        panic!()
    };
    if let Some(f) = message.asic.as_mut() {
        f.size = 6;
    }
    let w = Write::CreateIncoming { message, reply };
    assert!(matches!(store.persist(&w), Err(StoreError::Unavailable(_))));
    assert!(store.staging_dir().join(format!("{A}.part")).exists(), "kept for a retry");
    assert!(one(&mut store, A).is_none());
    assert!(statuses(&mut store, A).is_empty());
    // A name that leaves the staging folder is refused outright.
    let Write::CreateIncoming { mut message, reply } = arrival(&store, B, Some(b"x"), NOW + HOUR)
    else {
        panic!()
    };
    if let Some(f) = message.asic.as_mut() {
        f.name = "../efm.sqlite".into();
    }
    assert!(matches!(
        store.persist(&Write::CreateIncoming { message, reply }),
        Err(StoreError::Unavailable(_))
    ));
    assert!(dir.path().join(DATABASE_FILE).exists());
}

#[test]
fn expired_messages_are_not_offered_and_the_sweep_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    store.persist(&arrival(&store, A, Some(b"a"), NOW + HOUR)).unwrap();
    store.persist(&arrival(&store, B, Some(b"b"), NOW + HOUR + HOUR)).unwrap();
    let after_a = NOW + HOUR;
    assert_eq!(leasable(&mut store, after_a), [B], "A expires at exactly this time");
    let lease_a = Write::LeaseIncoming {
        message_id: A.parse().unwrap(),
        now: after_a,
        until: after_a + HOUR,
    };
    assert_eq!(store.persist(&lease_a), Err(StoreError::Conflict));
    let find = |now| Query::IncomingMessages {
        filter: IncomingFilter::default(),
        page: Pageable::default(),
        now,
    };
    let Ok(Loaded::IncomingMessages { total: 1, sbds }) = store.load(&find(after_a)) else {
        panic!()
    };
    assert_eq!(sbds[0].message_id().unwrap().to_string(), B);

    let Ok(Loaded::ExpiredIncoming { due, next }) =
        store.load(&Query::ExpiredIncoming { now: after_a, limit: 10 })
    else {
        panic!()
    };
    assert_eq!(due.len(), 1);
    assert_eq!(next, Some(NOW + HOUR + HOUR), "when B expires");
    let path = due[0].asic.clone().unwrap();
    let expire = |id: &str, at| {
        Write::ExpireIncoming(StatusRecord {
            message_id: id.parse().unwrap(),
            status: Status::LevetidUtlopt,
            description: None,
            at,
            queued: false,
        })
    };
    // B is not expired yet: the write leaves it alone.
    store.persist(&expire(B, after_a)).unwrap();
    assert!(one(&mut store, B).is_some());
    assert_eq!(statuses(&mut store, B).len(), 2);
    store.persist(&expire(A, after_a)).unwrap();
    assert!(one(&mut store, A).is_none());
    assert!(!dir.path().join(path).exists());
    assert_eq!(statuses(&mut store, A).last().unwrap().0, Status::LevetidUtlopt);
}

#[test]
fn find_filters_sorts_and_pages() {
    use efm_core::api::{Sort, SortDirection};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    let ids: Vec<String> =
        (1..=3).map(|i| format!("00000000-0000-4000-8000-00000000000{i}")).collect();
    for id in &ids {
        store.persist(&arrival(&store, id, None, NOW + HOUR)).unwrap();
    }
    let page = |page, sort: Vec<Sort>| Pageable { page, size: 2, sort };
    let q = |filter, page| Query::IncomingMessages { filter, page, now: NOW };
    let got = |l: Loaded| match l {
        Loaded::IncomingMessages { sbds, total } => {
            (sbds.iter().map(|s| s.message_id().unwrap().to_string()).collect::<Vec<_>>(), total)
        }
        _ => panic!(),
    };
    let first = got(store.load(&q(IncomingFilter::default(), page(0, vec![]))).unwrap());
    assert_eq!(first, (vec![ids[0].clone(), ids[1].clone()], 3), "arrival order");
    let desc = vec![Sort { property: "messageId".into(), direction: SortDirection::Desc }];
    let second = got(store.load(&q(IncomingFilter::default(), page(1, desc))).unwrap());
    assert_eq!(second, (vec![ids[0].clone()], 3));
    let mut by = |f: IncomingFilter| got(store.load(&q(f, Pageable::default())).unwrap()).1;
    let f = IncomingFilter::default;
    assert_eq!(by(IncomingFilter { process: Some(PROCESS.into()), ..f() }), 3);
    assert_eq!(by(IncomingFilter { process: Some("urn:other".into()), ..f() }), 0);
    assert_eq!(by(IncomingFilter { sender_identifier: Some("910077473".into()), ..f() }), 3);
    assert_eq!(by(IncomingFilter { receiver_identifier: Some("910077473".into()), ..f() }), 0);
    assert_eq!(by(IncomingFilter { service_identifier: Some(ServiceIdentifier::Dpe), ..f() }), 0);
    assert_eq!(by(IncomingFilter { message_id: Some(ids[2].clone()), ..f() }), 1);
    assert_eq!(
        by(IncomingFilter {
            conversation_id: Some("b4567a25-672c-4c2e-9a0f-08c52c54254b".into()),
            service_identifier: Some(ServiceIdentifier::Dpo),
            ..f()
        }),
        3
    );
}

#[test]
fn status_replies_wait_retry_and_go() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), NOW).unwrap();
    store.persist(&arrival(&store, A, None, NOW + HOUR)).unwrap();
    let [(id, Status::Mottatt, 0)] = replies(&mut store, NOW)[..] else { panic!() };
    let Ok(Loaded::Replies { due, .. }) = store.load(&Query::DueReplies { now: NOW, limit: 1 })
    else {
        panic!()
    };
    assert_eq!(due[0].1.service, ServiceIdentifier::Dpo);
    assert_eq!(due[0].1.sbd.message_id().unwrap().to_string(), A);
    let at = NOW + efm_core::Duration::from_secs(20);
    store.persist(&Write::ReplyRetry { id, at }).unwrap();
    let Ok(Loaded::Replies { due, next }) = store.load(&Query::DueReplies { now: NOW, limit: 10 })
    else {
        panic!()
    };
    assert!(due.is_empty());
    assert_eq!(next, Some(at));
    assert_eq!(replies(&mut store, at), [(id, Status::Mottatt, 1)]);
    store.persist(&Write::ReplyDone(id)).unwrap();
    assert!(replies(&mut store, at).is_empty());
}
