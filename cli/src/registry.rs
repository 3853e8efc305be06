//! `efm registry serve`: the local service registry.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use efm_blocking::http_server::{self, ServerConfig};
use efm_blocking::local_registry::{LocalRegistry, Signer};

#[derive(Args)]
pub struct RegistryArgs {
    #[command(subcommand)]
    command: RegistryCommand,
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Serve identifier/, info/, virksert/ and jwk from a folder of recorded answers.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Folder with identifier/{id}.json, identifier/{id}-*.json, info/{id}.json, virksert/{id}.
    #[arg(long)]
    dir: PathBuf,
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:9099")]
    listen: String,
    /// The key to sign answers with when asked for application/jose: a PKCS#12
    /// keystore, or an RSA private key (PEM PKCS#8/PKCS#1 or PKCS#8 DER, optionally
    /// followed by the certificate chain in PEM).
    #[arg(long)]
    sign_keystore: Option<PathBuf>,
    /// The PKCS#12 keystore's password.
    #[arg(
        long,
        env = "EFM_REGISTRY_SIGN_PASSWORD",
        default_value = "",
        requires = "sign_keystore"
    )]
    sign_password: String,
    /// The PKCS#12 entry to sign with, when the keystore holds several keys.
    #[arg(long, requires = "sign_keystore")]
    sign_alias: Option<String>,
    /// Certificate chain (PEM) for the x5c header, when not in the key file.
    #[arg(long, requires = "sign_keystore")]
    sign_cert: Option<PathBuf>,
}

pub fn run(args: RegistryArgs) -> ExitCode {
    match args.command {
        RegistryCommand::Serve(a) => match serve(a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("efm registry serve: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn serve(a: ServeArgs) -> Result<(), String> {
    if !a.dir.is_dir() {
        return Err(format!("{} is not a folder", a.dir.display()));
    }
    let signer = match &a.sign_keystore {
        None => None,
        Some(path) => {
            let mut key = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut cert = match &a.sign_cert {
                Some(c) => Some(std::fs::read(c).map_err(|e| format!("{}: {e}", c.display()))?),
                None => None,
            };
            if is_pkcs12(&key) {
                let (pkcs8, chain) = crate::package::keystore::pkcs12_parts(
                    &key,
                    &a.sign_password,
                    a.sign_alias.as_deref(),
                )
                .map_err(|e| format!("{}: {e}", path.display()))?;
                key = pkcs8;
                let mut pem = cert.unwrap_or_default();
                for der in chain {
                    pem.extend_from_slice(pem_certificate(&der).as_bytes());
                }
                cert = Some(pem);
            }
            Some(
                Signer::load(&key, cert.as_deref())
                    .map_err(|e| format!("{}: {e}", path.display()))?,
            )
        }
    };
    let registry = LocalRegistry::new(&a.dir, signer);
    let handler = Arc::new(move |req: &http::Request<()>, _body: &[u8]| registry.handle(req));
    let listener =
        std::net::TcpListener::bind(&a.listen).map_err(|e| format!("{}: {e}", a.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Scripts and tests read this line to learn the port.
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    http_server::accept_loop(listener, ServerConfig::default(), handler);
    Ok(())
}

/// A PKCS#12 file is a DER SEQUENCE whose first element is the version INTEGER 3; a
/// PKCS#8 key's first element is version 0.
fn is_pkcs12(data: &[u8]) -> bool {
    let body = match data {
        [0x30, 0x82, _, _, rest @ ..] => rest,
        [0x30, 0x81, _, rest @ ..] => rest,
        [0x30, n, rest @ ..] if *n < 0x80 => rest,
        _ => return false,
    };
    body.starts_with(&[0x02, 0x01, 0x03])
}

fn pem_certificate(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> =
        b64.as_bytes().chunks(64).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}
