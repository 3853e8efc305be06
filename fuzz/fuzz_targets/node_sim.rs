//! Whole-node fuzzing: the bytes are a plan for the simulator (nodes, messages,
//! crashes, partitions, network faults, failing stores, clock jumps, waits), run
//! against the reference model; a broken invariant panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| efm_sim::fuzzing::node_sim(data));
