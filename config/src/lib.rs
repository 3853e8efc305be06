//! efm's configuration.
//!
//! Three layers over embedded defaults, each overriding the one before:
//! the reference's `integrasjonspunkt-local.properties` (for installations moving
//! from the reference), an efm.toml file, and `EFM_*` environment variables. Every
//! problem in every layer is collected and returned at once ([`Problems`]), each
//! naming its file and line (or variable), key, value and what was expected.
//!
//! Parsing is pure: the environment comes in as pairs and files as text, so tests
//! need no process state. [`load_files`] is the one function that reads files.
//!
//! ```
//! use efm_config::{ApiAuth, Sources, load};
//!
//! let env = vec![("EFM_LISTEN".to_owned(), "127.0.0.1:0".to_owned())];
//! let loaded = load(&Sources { env, ..Sources::default() }).expect("a valid configuration");
//! assert_eq!(loaded.config.listen.port(), 0);
//! // No password configured: the runtime generates one and prints it once.
//! assert!(matches!(loaded.config.api_auth, ApiAuth::GeneratePassword { .. }));
//! ```
#![forbid(unsafe_code)]

mod byte_size;
mod draft;
mod env;
mod expected;
mod files;
mod http_url;
mod interval;
mod keys;
mod listen;
mod model;
mod org_nr;
mod problem;
pub mod properties;
mod provenance;
mod raw;
mod render;
mod secret;
mod service;
mod suggest;
mod toml_file;
mod transports;
mod unit_amount;

use std::path::Path;

pub use byte_size::ByteSize;
pub use env::{ENABLE as ENV_ENABLE, POLL_INTERVAL as ENV_POLL_INTERVAL, VARS as ENV_VARS};
pub use expected::Expected;
pub use http_url::HttpUrl;
pub use interval::Interval;
pub use model::{
    ApiAuth, Config, DEFAULT_API_USER, DEFAULT_REGISTRY_URL, Hours, Keystore, Mail, Messages,
    ServiceSettings, Services, Smtp, SmtpAuth, StartTls, StatusPolling, Tls, Webhooks,
};
pub use org_nr::OrgNr;
pub use problem::{Origin, Problem, Problems, Warning};
pub use provenance::{Origins, Provenance};
pub use render::render;
pub use secret::Secret;
pub use service::{MessageChannel, Service, ServiceSet};
pub use transports::{
    DEFAULT_ALTINN_EXCHANGE_URL, DEFAULT_BROKER_RESOURCE, DEFAULT_BROKER_URL,
    DEFAULT_CORRESPONDENCE_URL, DEFAULT_MASKINPORTEN_AUDIENCE, DEFAULT_MASKINPORTEN_URL,
    DEFAULT_SAS_KEY_NAME, DEFAULT_SERVICE_BUS_URL, DEFAULT_SVARINN_URL, DEFAULT_SVARUT_URL,
    DpeMode, DpeTransport, DpfTransport, DpoTransport, DpvTransport, Oidc, Retry, Transports,
};

/// A file's name (as it should appear in messages) and its text.
#[derive(Clone, Debug)]
pub struct SourceText {
    pub path: String,
    pub text: String,
}

/// Everything a configuration is built from.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub properties: Option<SourceText>,
    pub toml: Option<SourceText>,
    /// The process environment (or a test's). Only `EFM_*` names are read as settings;
    /// all of them can answer `${...}` placeholders in a properties file.
    pub env: Vec<(String, String)>,
}

/// A usable configuration and what was ignored on the way.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Warning>,
    /// Where each setting that is not a default came from.
    pub origins: Origins,
}

/// Builds the configuration: defaults, then properties, then TOML, then environment.
pub fn load(sources: &Sources) -> Result<Loaded, Problems> {
    let (loaded, errors) = assemble(sources);
    if errors.is_empty() { Ok(loaded) } else { Err(Problems { errors, warnings: loaded.warnings }) }
}

/// The configuration as far as it could be built, and every error found on the way.
fn assemble(sources: &Sources) -> (Loaded, Vec<Problem>) {
    let mut draft = draft::Draft::default();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    if let Some(p) = &sources.properties {
        let lookup =
            |name: &str| sources.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        properties::apply(&mut draft, &p.path, &p.text, &lookup, &mut errors, &mut warnings);
    }
    if let Some(t) = &sources.toml {
        toml_file::apply(&mut draft, &t.path, &t.text, &mut errors);
    }
    env::apply(&mut draft, sources.env.iter().cloned(), &mut errors, &mut warnings);
    let origins = std::mem::take(&mut draft.origins);
    let config = draft.finish(&mut errors);
    let loaded = Loaded { config, warnings, origins };
    (loaded, errors)
}

/// Reads the files (if given) and builds the configuration, then checks that the
/// files it names can be opened. A file that cannot be read is one more problem; the
/// other sources are still checked.
pub fn load_files(
    toml: Option<&Path>,
    properties: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, Problems> {
    let mut errors = Vec::new();
    let mut read = |path: Option<&Path>| {
        let path = path?;
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Some(SourceText { path: shown, text }),
            Err(e) => {
                errors.push(Problem::Unreadable { path: shown, reason: e.to_string() });
                None
            }
        }
    };
    let sources =
        Sources { toml: read(toml), properties: read(properties), env: env.into_iter().collect() };
    let (loaded, mut found) = assemble(&sources);
    errors.append(&mut found);
    files::check(&loaded.config, &loaded.origins, &mut errors);
    if errors.is_empty() { Ok(loaded) } else { Err(Problems { errors, warnings: loaded.warnings }) }
}
