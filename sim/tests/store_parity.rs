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
