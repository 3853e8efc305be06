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
    let ctx = |m: String| CliError::Keystore { path: path.display().to_string(), detail: m };
    if data.starts_with(b"-----BEGIN") {
        let key = PrivateKey::from_pem(&data).map_err(|e| ctx(e.to_string()))?;
        let certs = Certificate::from_pem(&data).map_err(|e| ctx(e.to_string()))?;
        return Identity::from_unordered(key, certs).map_err(|e| ctx(e.to_string()));
    }
    let (key_der, cert_ders) = pkcs12_parts(&data, password, alias).map_err(ctx)?;
    let key = PrivateKey::from_pkcs8_der(&key_der).map_err(|e| ctx(e.to_string()))?;
    let certs = cert_ders
        .iter()
        .map(|c| Certificate::from_der(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ctx(e.to_string()))?;
    Identity::from_unordered(key, certs).map_err(|e| ctx(e.to_string()))
}

/// The PKCS#8 DER key and the DER certificates of one private-key entry of a PKCS#12
/// keystore: the one named `alias`, or the only one.
pub fn pkcs12_parts(
    data: &[u8],
    password: &str,
    alias: Option<&str>,
) -> Result<(Vec<u8>, Vec<Vec<u8>>), String> {
    let ks = KeyStore::from_pkcs12(data, password, Pkcs12ImportPolicy::Relaxed)
        .map_err(|e| format!("cannot open PKCS#12 (wrong password?): {e}"))?;
    let chain = match alias {
        Some(a) => match ks.entry(a) {
            Some(KeyStoreEntry::PrivateKeyChain(c)) => c,
            _ => return Err(format!("no private key entry with alias {a:?}")),
        },
        None => {
            let keys: Vec<_> = ks
                .entries()
                .filter_map(|(n, e)| {
                    matches!(e, KeyStoreEntry::PrivateKeyChain(_)).then_some(n.clone())
                })
                .collect();
            if keys.len() > 1 {
                return Err(format!(
                    "several private keys ({}); choose one with --alias",
                    keys.join(", ")
                ));
            }
            ks.private_key_chain()
                .map(|(_, c)| c)
                .ok_or_else(|| "no private key in the keystore".to_owned())?
        }
    };
    let certs = chain.certs().iter().map(|c| c.as_der().to_vec()).collect();
    Ok((chain.key().as_der().to_vec(), certs))
}

/// A certificate file in PEM or DER.
pub fn load_certificate(path: &std::path::Path) -> Result<Certificate, CliError> {
    let data = std::fs::read(path).map_err(|e| CliError::io(path, e))?;
    let ctx = |m: String| CliError::Keystore { path: path.display().to_string(), detail: m };
    if data.starts_with(b"-----BEGIN") {
        let mut certs = Certificate::from_pem(&data).map_err(|e| ctx(e.to_string()))?;
        Ok(certs.remove(0))
    } else {
        Certificate::from_der(&data).map_err(|e| ctx(e.to_string()))
    }
}
