//! `efm demo`, the README's main command, run as a user runs it: it must exit 0 on
//! both runtimes with nothing set up, show the statuses both nodes record (LEVERT,
//! and LEST for the arkivmelding B answers with a receipt), each of the five
//! services delivering — DPO and DPE to B, DPV, DPF and DPI to receivers of their
//! own, read — and end with its summary.

use std::process::Command;

fn demo(runtime: &str) {
    let out = Command::new(efm_tests::efm_bin())
        .args(["demo", "--runtime", runtime, "--messages", "5"])
        .output()
        .expect("efm demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert!(out.status.success(), "efm demo --runtime {runtime} failed ({}):\n{shown}", out.status);

    let summary = stdout.lines().find(|l| l.starts_with("summary: ")).unwrap_or_else(|| {
        panic!("no summary line:\n{shown}");
    });
    // 5 small ones, the arkivmelding with documents and the innsynskrav from A to
    // B; one each over DPV, DPF and DPI; the receipt from B.
    assert!(
        summary.starts_with(
            "summary: 11 messages (7 from A to B, 3 from A over DPV, DPF and DPI, 1 from B to \
             A) over all five services, "
        ),
        "{summary}"
    );
    assert!(summary.ends_with(" messages/s"), "{summary}");

    let timeline: Vec<&str> = stdout.lines().filter(|l| l.trim_start().starts_with('+')).collect();
    let at = |side: &str, what: &str, status: &str| {
        timeline.iter().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.get(1) == Some(&side) && l.contains(what) && l.contains(status)
        })
    };
    assert!(
        at("A", "arkivmelding, 4 files", "LEST"),
        "the answered arkivmelding is read:\n{shown}"
    );
    assert!(at("A", "innsynskrav, 1 file", "LEVERT"), "the innsynskrav is delivered:\n{shown}");
    assert!(at("A", "5 small arkivmeldinger", "LEVERT 5"), "the stream is delivered:\n{shown}");
    assert!(
        at("B", "5 small arkivmeldinger", "INNKOMMENDE_LEVERT 5"),
        "B took the whole stream:\n{shown}"
    );
    assert!(at("B", "arkivmelding_kvittering", "LEVERT"), "B's receipt is delivered:\n{shown}");
    // The legs to other receivers: each status A records, in order, up to LEST.
    let statuses = |what: &str| -> Vec<String> {
        timeline
            .iter()
            .filter(|l| l.split_whitespace().nth(1) == Some("A") && l.contains(what))
            .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
            .collect()
    };
    let dpv = statuses("DPV digital_dpv, 1 file");
    assert_eq!(dpv, ["OPPRETTET", "SENDT", "LEVERT", "LEST"], "DPV delivers:\n{shown}");
    let dpf = statuses("DPF arkivmelding, 2 files");
    assert_eq!(dpf, ["OPPRETTET", "SENDT", "LEVERT", "LEST"], "DPF delivers:\n{shown}");
    let dpi = statuses("DPI digital, 1 file");
    assert_eq!(dpi, ["OPPRETTET", "SENDT", "MOTTATT", "LEVERT", "LEST"], "DPI delivers:\n{shown}");
    assert!(
        at("B", "arkivmelding, 4 files", "byte-equal"),
        "B checked the files it popped:\n{shown}"
    );
    // The nodes' notices are for a failed run only.
    assert!(!stderr.contains("efm: "), "notices leaked onto stderr:\n{shown}");
}

#[test]
fn demo_blocking() {
    demo("blocking");
}

#[test]
fn demo_async() {
    demo("async");
}

/// A run that cannot finish in time fails with exit 1 and says what was not through;
/// it leaves no data folder behind.
#[test]
fn demo_out_of_time_says_what_is_outstanding() {
    let out = Command::new(efm_tests::efm_bin())
        .args(["demo", "--messages", "1", "--timeout", "100ms"])
        .output()
        .expect("efm demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        stderr.contains("efm demo: failed: not through after 100ms: 7 message(s) not through: "),
        "{shown}"
    );
    assert!(!stdout.contains("summary: "), "{shown}");
    let data = stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("data "))
        .map(|rest| rest.trim_start().split(" (").next().unwrap_or_default().to_owned())
        .unwrap_or_else(|| panic!("no data folder line:\n{shown}"));
    assert!(!std::path::Path::new(&data).exists(), "{data} is removed:\n{shown}");
}
