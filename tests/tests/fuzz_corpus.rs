//! Replays every committed fuzz corpus through the same entry points the fuzz targets
//! call, so that each input a fuzzer once found keeps passing in every test run.

use std::path::Path;

use efm_tests::workspace;

type Target = fn(&[u8]);

/// Every fuzz target with an entry point, by its corpus folder name.
const TARGETS: &[(&str, Target)] = &[
    ("sbd_parse", efm_core::fuzzing::sbd_parse),
    ("http_request", efm_core::fuzzing::http_request),
    ("multipart", efm_core::fuzzing::multipart),
    ("registry_json", efm_core::registry::fuzzing::registry_json),
    ("jws_parse", efm_core::jose::fuzzing::jws),
    ("zip_read", efm_core::package::fuzzing::zip_read),
    ("cms_parse", efm_core::package::fuzzing::cms_parse),
    ("transport_answers", efm_core::transport::fuzzing::transport_answers),
    ("node_sim", efm_sim::fuzzing::node_sim),
];

#[test]
fn every_corpus_replays() {
    let root = workspace().join("fuzz/corpus");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&root).expect("fuzz/corpus exists") {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let target = TARGETS
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("fuzz/corpus/{name} has no entry in TARGETS"))
            .1;
        replayed += replay(&dir, target);
    }
    assert!(replayed > 0, "no corpus inputs found under {}", root.display());
    eprintln!("replayed {replayed} corpus inputs");
}

fn replay(dir: &Path, target: Target) -> usize {
    let mut n = 0;
    for f in std::fs::read_dir(dir).unwrap() {
        let path = f.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        // The input, and prefixes of it: truncation is the commonest damage.
        for cut in (0..data.len()).step_by(97).chain([data.len()]) {
            let outcome = std::panic::catch_unwind(|| target(&data[..cut]));
            assert!(outcome.is_ok(), "{} cut at {cut} panics", path.display());
        }
        n += 1;
    }
    n
}
