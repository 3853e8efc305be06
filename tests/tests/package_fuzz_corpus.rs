//! Replays the committed fuzz corpus of the packaging targets (zip_read, cms_parse) so a
//! plain `cargo test` catches a panic that a fuzzer once found.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = std::fs::read(&p).expect("corpus file");
            (p, data)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn zip_read_corpus_and_its_prefixes_never_panic() {
    let files = corpus("zip_read");
    assert!(!files.is_empty());
    for (_, data) in &files {
        efm_core::package::fuzzing::zip_read(data);
        for cut in (0..data.len()).step_by(97) {
            efm_core::package::fuzzing::zip_read(&data[..cut]);
        }
    }
}

#[test]
fn cms_parse_corpus_and_its_prefixes_never_panic() {
    let files = corpus("cms_parse");
    assert!(!files.is_empty());
    for (_, data) in &files {
        efm_core::package::fuzzing::cms_parse(data);
        for cut in (0..data.len()).step_by(31) {
            efm_core::package::fuzzing::cms_parse(&data[..cut]);
        }
    }
}
