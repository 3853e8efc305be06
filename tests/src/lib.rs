//! Shared harness for the black-box and conformance suites: where the `efm` binary
//! and the reference material are, and how to compare SBDs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub mod cucumber;
pub mod dpi_checks;
pub mod feature_steps;
pub mod http;
pub mod keys;
pub mod network;
pub mod recording;
pub mod reference_network;
pub mod restdocs;
pub mod server;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `efm` binary of this build: `target/<profile>/efm`, beside the `deps` folder
/// that holds this test executable. `scripts/test` builds it before the tests run.
pub fn efm_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join(format!("efm{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build --workspace --bins`, as scripts/test does)",
        bin.display()
    );
    bin
}

/// Run `efm` with `args` and return its output.
pub fn efm(args: &[&str]) -> Output {
    Command::new(efm_bin()).args(args).output().expect("efm runs")
}

/// `../shared/reference` beside the checkout, where CI keeps the reference's public
/// material. A clone without it skips the conformance tests, saying so plainly.
pub fn reference_dir() -> Option<PathBuf> {
    let dir = workspace().join("../shared/reference");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "NOT RUN: {} is absent; conformance tests need the reference material beside the checkout",
            dir.display()
        );
        None
    }
}

/// JSON equality where strings that are both ISO 8601 date-times compare as instants
/// with their offsets (so `Z` and `+00:00` are equal), and object key order does not
/// matter. Returns the path of the first difference.
pub fn json_diff(a: &Value, b: &Value) -> Option<String> {
    fn walk(a: &Value, b: &Value, path: &str) -> Option<String> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for k in x.keys().chain(y.keys()) {
                    let p = format!("{path}.{k}");
                    match (x.get(k), y.get(k)) {
                        (Some(u), Some(v)) => {
                            if let Some(d) = walk(u, v, &p) {
                                return Some(d);
                            }
                        }
                        _ => return Some(format!("{p}: present on one side only")),
                    };
                }
                None
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
                .iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (u, v))| walk(u, v, &format!("{path}[{i}]"))),
            (Value::String(x), Value::String(y)) => {
                let same = x == y
                    || matches!(
                        (efm_core::sbd::DateTime::parse(x), efm_core::sbd::DateTime::parse(y)),
                        (Ok(p), Ok(q)) if p.inner() == q.inner() && p.inner().offset() == q.inner().offset()
                    );
                (!same).then(|| format!("{path}: {x:?} != {y:?}"))
            }
            _ if a == b => None,
            _ => Some(format!("{path}: {a} != {b}")),
        }
    }
    walk(a, b, "$")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn json_diff_looks_past_the_first_equal_member() {
        assert_eq!(super::json_diff(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})), None);
        assert_eq!(
            super::json_diff(&json!({"a": 1, "b": 2}), &json!({"a": 1, "b": 3})).as_deref(),
            Some("$.b: 2 != 3")
        );
        assert_eq!(
            super::json_diff(
                &json!({"t": "2019-05-09T23:31:52Z"}),
                &json!({"t": "2019-05-09T23:31:52+00:00"})
            ),
            None
        );
    }
}
