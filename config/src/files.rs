//! Checks that the files a configuration names exist, so that a wrong path is
//! reported at start-up with the other problems rather than at first use.

use std::fs::File;
use std::path::Path;

use crate::expected::Expected;
use crate::model::Config;
use crate::problem::Problem;
use crate::provenance::Origins;

pub fn check(config: &Config, origins: &Origins, errors: &mut Vec<Problem>) {
    if let Some(k) = &config.keystore {
        readable_file(&k.path, "keystore.path", origins, errors);
    }
    if let Some(t) = &config.tls {
        readable_file(&t.cert, "tls.cert", origins, errors);
        readable_file(&t.key, "tls.key", origins, errors);
    }
    // A data folder that does not exist yet is created by the store; only something
    // else in its place is an error.
    if config.data_dir.exists() && !config.data_dir.is_dir() {
        report(
            &config.data_dir,
            "data_dir",
            Expected::because("a folder", "it is a file"),
            origins,
            errors,
        );
    }
}

fn readable_file(path: &Path, key: &str, origins: &Origins, errors: &mut Vec<Problem>) {
    let problem = match File::open(path).and_then(|f| f.metadata()) {
        Ok(m) if m.is_file() => return,
        Ok(_) => Expected::because("a readable file", "not a file"),
        Err(e) => Expected::because("a readable file", e),
    };
    report(path, key, problem, origins, errors);
}

fn report(
    path: &Path,
    key: &str,
    expected: Expected,
    origins: &Origins,
    errors: &mut Vec<Problem>,
) {
    // Paths only come from a source, so the provenance is there; the fallback names
    // the efm.toml key all the same.
    let (origin, shown_key) = match origins.get(key) {
        Some(p) => (p.origin.clone(), p.key.clone()),
        None => (crate::problem::Origin::Env, key.to_owned()),
    };
    errors.push(Problem::BadValue {
        origin,
        key: shown_key,
        value: format!("{:?}", path.display().to_string()),
        expected,
    });
}
