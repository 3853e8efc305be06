//! `efm-sim --seed N` runs one seed; `--seeds A..B` runs a range and prints a
//! summary; `--input FILE` runs the plan a fuzz input decodes to (a crash the fuzzer
//! found, say). `--trace [LINES]` prints the end of a single run's trace. Exit
//! status 1 if any run breaks an invariant.

use std::process::ExitCode;
use std::time::Instant;

fn usage() -> ExitCode {
    eprintln!("usage: efm-sim (--seed N | --seeds A..B | --input FUZZ_INPUT) [--trace [LINES]]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut trace = 0;
    let mut seeds = None;
    let mut input = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--seed" => {
                let Some(n) = args.get(i + 1).and_then(|s| s.parse::<u64>().ok()) else {
                    return usage();
                };
                seeds = Some(n..n + 1);
                i += 1;
            }
            "--seeds" => {
                let range = args.get(i + 1).and_then(|s| s.split_once(".."));
                let Some((a, b)) =
                    range.and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                else {
                    return usage();
                };
                seeds = Some(a..b);
                i += 1;
            }
            "--input" => {
                let Some(path) = args.get(i + 1) else { return usage() };
                match std::fs::read(path) {
                    Ok(data) => input = Some(data),
                    Err(e) => {
                        eprintln!("{path}: {e}");
                        return ExitCode::from(2);
                    }
                }
                i += 1;
            }
            "--trace" => {
                trace = 400;
                if let Some(n) = args.get(i + 1).and_then(|s| s.parse::<usize>().ok()) {
                    trace = n;
                    i += 1;
                }
            }
            _ => return usage(),
        }
        i += 1;
    }
    if let Some(data) = input {
        let plan = efm_sim::Plan::decode(&data);
        println!("plan: {plan:?}");
        let report = efm_sim::run_plan(&plan, 0, trace);
        for line in &report.trace {
            println!("  {line}");
        }
        println!(
            "{} messages ({} sent, {} delivered), {} events, {:.1} simulated minutes",
            report.messages,
            report.sent,
            report.delivered,
            report.events,
            report.virtual_ms as f64 / 60_000.0
        );
        for v in &report.violations {
            println!("  {v}");
        }
        return if report.violations.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    let Some(seeds) = seeds else { return usage() };
    let single = seeds.end - seeds.start == 1;
    let started = Instant::now();
    let (mut failed, mut runs, mut messages, mut delivered, mut events, mut virtual_ms) =
        (0, 0, 0, 0, 0, 0);
    let mut outcomes = std::collections::BTreeMap::new();
    for seed in seeds {
        let report = efm_sim::run_seed(seed, if single { trace } else { 0 });
        runs += 1;
        messages += report.messages;
        delivered += report.delivered;
        events += report.events;
        virtual_ms += report.virtual_ms;
        for (status, n) in &report.outcomes {
            *outcomes.entry(*status).or_insert(0) += n;
        }
        if single {
            println!(
                "seed {seed}: {} nodes, {} messages ({} sent, {} delivered), {} crashes, {} requests, {} events, {:.1} simulated minutes",
                report.nodes,
                report.messages,
                report.sent,
                report.delivered,
                report.crashes,
                report.requests,
                report.events,
                report.virtual_ms as f64 / 60_000.0
            );
            for line in &report.trace {
                println!("  {line}");
            }
        }
        if !report.violations.is_empty() {
            failed += 1;
            println!(
                "seed {seed} FAILED (reproduce: cargo run -p efm-sim --release -- --seed {seed} --trace):"
            );
            for v in &report.violations {
                println!("  {v}");
            }
        }
    }
    println!(
        "{runs} seeds, {failed} failed: {messages} messages, {delivered} delivered, {events} events, {:.1} simulated hours in {:.1} s",
        virtual_ms as f64 / 3_600_000.0,
        started.elapsed().as_secs_f64()
    );
    let ends: Vec<String> = outcomes.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!("outgoing messages ended in: {}", ends.join(", "));
    if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
