//! Opening our keystore (PKCS#12, or PEM with key and certificates) into a core
//! `Identity`. PKCS#12 lives here rather than in core because `p12-keystore` is built on
//! the new RustCrypto generation (der 0.8, cms 0.3-pre, sha2 0.11) while core pins the
//! old one (the spec: do not mix generations in core), and it pulls `rand` 0.10 with an
//! OS generator for writing keystores.

use efm_core::crypto::cert::Certificate;
use efm_core::crypto::keys::{Identity, PrivateKey};
use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};

use super::CliError;

pub fn load_identity(
    path: &std::path::Path,
    password: &str,
    alias: Option<&str>,
) -> Result<Identity, CliError> {
    let data = std::fs::read(path).map_err(|e| CliError::io(path, e))?;
    let ctx = |m: String| CliError::Keystore {
        path: path.display().to_string(),
        detail: m,
    };
    if data.starts_with(b"-----BEGIN") {
        let key = PrivateKey::from_pem(&data).map_err(|e| ctx(e.to_string()))?;
        let certs = Certificate::from_pem(&data).map_err(|e| ctx(e.to_string()))?;
        return Identity::from_unordered(key, certs).map_err(|e| ctx(e.to_string()));
    }
    let ks = KeyStore::from_pkcs12(&data, password, Pkcs12ImportPolicy::Relaxed)
        .map_err(|e| ctx(format!("cannot open PKCS#12 (wrong password?): {e}")))?;
    let chain = match alias {
        Some(a) => match ks.entry(a) {
            Some(KeyStoreEntry::PrivateKeyChain(c)) => c,
            _ => return Err(ctx(format!("no private key entry with alias {a:?}"))),
        },
        None => {
            let keys: Vec<_> = ks
                .entries()
                .filter_map(|(n, e)| {
                    matches!(e, KeyStoreEntry::PrivateKeyChain(_)).then_some(n.clone())
                })
                .collect();
            if keys.len() > 1 {
                return Err(ctx(format!(
                    "several private keys ({}); choose one with --alias",
                    keys.join(", ")
                )));
            }
            ks.private_key_chain()
                .map(|(_, c)| c)
                .ok_or_else(|| ctx("no private key in the keystore".into()))?
        }
    };
    let key = PrivateKey::from_pkcs8_der(chain.key().as_der()).map_err(|e| ctx(e.to_string()))?;
    let certs = chain
        .certs()
        .iter()
        .map(|c| Certificate::from_der(c.as_der()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ctx(e.to_string()))?;
    Identity::from_unordered(key, certs).map_err(|e| ctx(e.to_string()))
}

/// A certificate file in PEM or DER.
pub fn load_certificate(path: &std::path::Path) -> Result<Certificate, CliError> {
    let data = std::fs::read(path).map_err(|e| CliError::io(path, e))?;
    let ctx = |m: String| CliError::Keystore {
        path: path.display().to_string(),
        detail: m,
    };
    if data.starts_with(b"-----BEGIN") {
        let mut certs = Certificate::from_pem(&data).map_err(|e| ctx(e.to_string()))?;
        Ok(certs.remove(0))
    } else {
        Certificate::from_der(&data).map_err(|e| ctx(e.to_string()))
    }
}
