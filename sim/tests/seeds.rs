//! The simulator as a test: seeds of the mixed workload (two to four nodes, DPO and
//! DPE, random faults) must all keep every invariant. `EFM_SIM_SEEDS=N` runs N
//! seeds (100 by default: a debug build is about ten times slower than release;
//! the 10,000 of CI run in release, see the README's "Simulation" section).

fn seeds() -> u64 {
    std::env::var("EFM_SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(100)
}

#[test]
fn every_seed_keeps_every_invariant() {
    let n = seeds();
    let (mut sent, mut delivered, mut crashes, mut requests) = (0, 0, 0, 0);
    let mut failed = Vec::new();
    for seed in 0..n {
        let r = efm_sim::run_seed(seed, 0);
        sent += r.sent;
        delivered += r.delivered;
        crashes += r.crashes;
        requests += r.requests;
        if !r.violations.is_empty() {
            failed.push(format!(
                "seed {seed} (cargo run -p efm-sim --release -- --seed {seed} --trace):\n  {}",
                r.violations.join("\n  ")
            ));
        }
    }
    assert!(failed.is_empty(), "{} of {n} seeds failed:\n{}", failed.len(), failed.join("\n"));
    eprintln!(
        "{n} seeds: {sent} messages sent, {delivered} delivered, {crashes} crashes, {requests} requests"
    );
    // The workload is not vacuous: nodes crash, and most messages arrive although
    // they do.
    assert!(n < 20 || crashes > 0, "no seed crashed a node");
    assert!(delivered * 10 >= sent * 9, "only {delivered} of {sent} messages arrived");
}

#[test]
fn a_seed_reproduces_exactly() {
    let a = efm_sim::run_seed(42, 10_000);
    let b = efm_sim::run_seed(42, 10_000);
    assert!(a.events > 1_000, "seed 42 did little: {a:?}");
    assert_eq!(
        (a.events, a.virtual_ms, a.requests, a.delivered),
        (b.events, b.virtual_ms, b.requests, b.delivered)
    );
    assert_eq!(a.trace, b.trace);
}

#[test]
fn the_fuzz_entry_point_takes_any_bytes() {
    for data in [&b""[..], b"\x00", b"\xff\xff\xff\xff", b"\x01\x02\x00\x01\x00\x05\x03\x10\x00"] {
        efm_sim::fuzzing::node_sim(data);
    }
}
