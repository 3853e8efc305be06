//! `efm serve`: the integration point.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use efm_blocking::serve::{ApiAuth, ServeOptions, start};
use efm_core::registry::model::ServiceIdentifier;
use ring::rand::SecureRandom;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "EFM_LISTEN", default_value = "127.0.0.1:9093")]
    listen: String,
    /// The data folder: the database and the message files.
    #[arg(long, env = "EFM_DATA_DIR", default_value = "./efm-data")]
    data_dir: PathBuf,
    /// Our organisation number.
    #[arg(long, env = "EFM_ORG", default_value = "987654321")]
    org: String,
    /// API user for HTTP Basic.
    #[arg(long, env = "EFM_API_USER", default_value = "efm")]
    user: String,
    /// API password; when none is given one is generated and printed once.
    #[arg(long, env = "EFM_API_PASSWORD")]
    password: Option<String>,
    /// Turn API authentication off (for a loopback-only test set-up).
    #[arg(long)]
    no_auth: bool,
    /// The service registry's base URL.
    #[arg(long, env = "EFM_REGISTRY_URL", default_value = efm_core::node::DEFAULT_REGISTRY_URL)]
    registry: String,
    /// Message services to switch on, comma-separated (DPO,DPV,DPF,DPE,DPI,DPH).
    #[arg(long, env = "EFM_ENABLE", value_delimiter = ',')]
    enable: Vec<String>,
}

pub fn run(args: ServeArgs) -> ExitCode {
    if args.org.len() != 9 || !args.org.bytes().all(|b| b.is_ascii_digit()) {
        eprintln!(
            "efm serve: --org / EFM_ORG = {:?}: expected a nine-digit organisation number",
            args.org
        );
        return ExitCode::from(2);
    }
    let auth = if args.no_auth {
        ApiAuth::Open
    } else {
        let password = match args.password {
            Some(p) => p,
            None => match generated_password() {
                Some(p) => {
                    eprintln!("efm serve: no API password set; generated one for this run: {p}");
                    p
                }
                None => {
                    eprintln!("efm serve: the operating system gave no randomness for a password");
                    return ExitCode::from(1);
                }
            },
        };
        ApiAuth::Basic {
            user: args.user,
            password,
        }
    };
    let mut enabled = Vec::new();
    for name in &args.enable {
        let service = ServiceIdentifier::from_name(name.trim());
        if service == ServiceIdentifier::Unknown {
            eprintln!(
                "efm serve: --enable / EFM_ENABLE: {name:?} is not a message service; \
                 expected DPO, DPV, DPF, DPE, DPI or DPH"
            );
            return ExitCode::from(2);
        }
        enabled.push(service);
    }
    let opts = ServeOptions {
        listen: args.listen,
        data_dir: args.data_dir,
        own_org: args.org,
        auth,
        registry_url: args.registry,
        enabled,
    };
    match start(opts) {
        Ok(serving) => {
            // The first line on stdout, so that scripts and tests can find the port.
            println!("listening on http://{}", serving.local_addr());
            loop {
                std::thread::park();
            }
        }
        Err(e) => {
            eprintln!("efm serve: {e}");
            ExitCode::from(1)
        }
    }
}

fn generated_password() -> Option<String> {
    let mut bytes = [0u8; 18];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    use base64::Engine as _;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
