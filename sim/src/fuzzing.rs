//! The whole-node fuzz target's entry point: the fuzzer's bytes are a plan (nodes,
//! messages, faults, clock jumps, waits), run against the model. An invariant that
//! fails is a finding.

use crate::plan::Plan;

/// Panics, with the violations, when the plan breaks an invariant.
pub fn node_sim(data: &[u8]) {
    let plan = Plan::decode(data);
    let report = crate::run_plan(&plan, 0, 0);
    assert!(
        report.violations.is_empty(),
        "invariants broken by plan {plan:?}:\n{}",
        report.violations.join("\n")
    );
}
