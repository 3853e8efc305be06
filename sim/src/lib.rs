//! efm-sim: a deterministic simulator of a whole eFormidling network. Several
//! `efm-core` nodes, the service registry, the Altinn Broker (DPO) and Azure
//! Service Bus (DPE) as sans-IO fakes, and the fagsystems on both sides, all on one
//! virtual clock, over a simulated network that loses, delays, duplicates and
//! reorders, with partitions, failing stores, clock jumps and node crashes. No
//! threads, sockets, sleeping or files: hours of simulated time take milliseconds,
//! and a seed reproduces its run exactly.
//!
//! A reference model ([`model`]) is checked after every event: every outgoing
//! message ends with a final status by its TTL; statuses only move forward; a
//! message is never offered to its fagsystem after it was deleted there, and
//! reaches it exactly once when the network heals in time; no byte of a file
//! differs end to end; nothing acknowledged as stored is lost, and nothing is
//! acknowledged to a message service before it is stored.

#![forbid(unsafe_code)]

mod calls;
mod fagsystem;
pub mod fuzzing;
mod host;
mod messages;
pub mod model;
mod network;
pub mod plan;
mod rng;
mod runtime;
pub mod sealing;
mod services;
pub mod store;
mod world;

pub use plan::{Action, Plan};
pub use world::{Report, StoreCall, StoreCallKind};

/// Run the plan `seed` makes, keeping the last `trace_lines` lines of its trace.
pub fn run_seed(seed: u64, trace_lines: usize) -> Report {
    run_plan(&Plan::generate(seed), seed, trace_lines)
}

/// Run `plan`, with `seed` for everything the plan does not say (latencies, ids).
pub fn run_plan(plan: &Plan, seed: u64, trace_lines: usize) -> Report {
    world::World::new(plan, seed, trace_lines, false).run(plan)
}

/// Run the plan `seed` makes and log every store operation (`Report::store_log`).
pub fn record_seed(seed: u64) -> Report {
    let plan = Plan::generate(seed);
    world::World::new(&plan, seed, 0, true).run(&plan)
}
