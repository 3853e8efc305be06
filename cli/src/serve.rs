//! `efm serve`: the integration point, configured by efm-config (embedded defaults,
//! then --properties, then --config, then `EFM_*` variables).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use efm_blocking::credentials::TokenSettings;
use efm_blocking::serve::{ApiAuth, Notices, ServeOptions, start};
use efm_config::{ApiAuth as ConfiguredAuth, Config};
use efm_core::node::{
    DpeSettings, DpfSettings, DpiSettings, DpoSettings, DpvSettings, Pacing, WatchSettings,
};
use efm_core::registry::model::ServiceIdentifier;
use efm_core::transport::altinn_broker::BrokerEndpoint;
use efm_core::transport::correspondence::{CorrespondenceEndpoint, FormSettings};
use efm_core::transport::service_bus::{QueueMode, ServiceBusEndpoint};
use efm_core::transport::svarinn::{self, SvarInnEndpoint};
use efm_core::transport::svarut::{self, SvarUtEndpoint, SvarUtOptions};
use ring::rand::SecureRandom;

use crate::config_cmd::process_env;

#[derive(Args)]
pub struct ServeArgs {
    /// An efm.toml file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The reference's integrasjonspunkt-local.properties.
    #[arg(long, value_name = "FILE")]
    properties: Option<PathBuf>,
    /// Threads per connection (blocking) or tasks on one smol executor (async).
    #[arg(long, value_enum, env = "EFM_RUNTIME", default_value_t = Runtime::Blocking)]
    runtime: Runtime,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Runtime {
    Blocking,
    Async,
}

pub fn run(args: ServeArgs) -> ExitCode {
    let loaded = match efm_config::load_files(
        args.config.as_deref(),
        args.properties.as_deref(),
        process_env(),
    ) {
        Ok(l) => l,
        Err(problems) => {
            eprint!("{problems}");
            return ExitCode::from(1);
        }
    };
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let opts = match options(&loaded.config) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("efm serve: {e}");
            return ExitCode::from(1);
        }
    };
    if opts.own_org.is_none() {
        eprintln!(
            "efm serve: no organisation number set (EFM_ORG): messages must name their sender"
        );
    }
    if opts.enabled.is_empty() {
        eprintln!(
            "efm serve: no message service is switched on (EFM_ENABLE): creating a message is refused"
        );
    }
    let scheme = if opts.tls.is_some() { "https" } else { "http" };
    let started = match args.runtime {
        Runtime::Blocking => start(opts),
        Runtime::Async => efm_async::serve::start(opts),
    };
    match started {
        Ok(serving) => {
            // The first line on stdout, so that scripts and tests can find the port.
            println!("listening on {scheme}://{}", serving.local_addr());
            let serving = std::sync::Arc::new(serving);
            if let Err(e) = on_signal(serving.clone()) {
                eprintln!("efm serve: cannot listen for SIGTERM/SIGINT: {e}");
                return ExitCode::from(1);
            }
            serving.wait_for_shutdown_request();
            eprintln!("efm serve: shutting down: finishing calls in flight");
            if serving.drain(SHUTDOWN_GRACE) {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "efm serve: calls still in flight after {SHUTDOWN_GRACE:?}; stopping anyway"
                );
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("efm serve: {e}");
            ExitCode::from(1)
        }
    }
}

fn options(c: &Config) -> Result<ServeOptions, String> {
    // A certificate or key that does not load is a start-up error naming the file.
    let tls = match &c.tls {
        None => None,
        Some(t) => {
            Some(efm_blocking::tls::server_config(&t.cert, &t.key).map_err(|e| e.to_string())?)
        }
    };
    let auth = match &c.api_auth {
        ConfiguredAuth::Off => ApiAuth::Open,
        ConfiguredAuth::Basic { user, password } => {
            ApiAuth::Basic { user: user.clone(), password: password.expose().to_owned() }
        }
        ConfiguredAuth::GeneratePassword { user } => {
            let password = generated_password()
                .ok_or("the operating system gave no randomness for a password")?;
            eprintln!(
                "efm serve: no API password set; generated one for this run (user {user}): {password}"
            );
            ApiAuth::Basic { user: user.clone(), password }
        }
    };
    // Open the keystore now: a wrong path or password is a start-up error, not a
    // surprise at the first send.
    let identity = match &c.keystore {
        None => None,
        Some(k) => Some(std::sync::Arc::new(
            crate::package::keystore::load_identity(
                &k.path,
                k.password.expose(),
                k.alias.as_deref(),
            )
            .map_err(|e| e.to_string())?,
        )),
    };
    let own_certificate_expiry = match &identity {
        None => None,
        Some(identity) => {
            let cert = identity.certificate().ok_or("the keystore's key has no certificate")?;
            Some(cert.not_after().map_err(|e| e.to_string())?)
        }
    };
    let services = |set: efm_config::ServiceSet| -> Vec<ServiceIdentifier> {
        set.iter().map(|s| ServiceIdentifier::from_name(s.name())).collect()
    };
    let transports = transports(c);
    let enabled =
        c.services.enabled().iter().map(|s| ServiceIdentifier::from_name(s.name())).collect();
    Ok(ServeOptions {
        listen: c.listen.to_string(),
        data_dir: c.data_dir.clone(),
        own_org: c.org.as_ref().map(|o| o.as_str().to_owned()),
        auth,
        registry_url: c.registry_url.as_str().to_owned(),
        registry_signed: c.registry_signed,
        enabled,
        default_ttl: efm_core::Duration::from_hours(i64::from(c.messages.default_ttl_hours.get())),
        upload_limits: efm_config::Service::ALL
            .into_iter()
            .map(|s| {
                let limit = c.services.get(s).upload_size_limit.bytes();
                (ServiceIdentifier::from_name(s.name()), limit)
            })
            .collect(),
        own_certificate_expiry,
        status_queue_includes: services(c.messages.status_queue_includes),
        identity,
        lock_timeout: duration(c.messages.lock_timeout),
        status_services: services(c.messages.status_services),
        ttl_check_interval: duration(c.messages.ttl_check_interval),
        dpo: transports.dpo,
        dpe: transports.dpe,
        dpi: transports.dpi,
        dpv: transports.dpv,
        dpf: transports.dpf,
        pacing: transports.pacing,
        watch: transports.watch,
        tokens: transports.tokens,
        notices: Notices::Stderr,
        mail: mail(&c.mail),
        tls,
    })
}

/// The node's mail settings: none unless a mail path is switched on (the
/// configuration then has a server).
fn mail(m: &efm_config::Mail) -> Option<efm_core::mail::MailSettings> {
    use efm_core::mail::{MailSettings, SmtpLogin, StartTls};
    let smtp = m.smtp.as_ref()?;
    let mut s = MailSettings::new(smtp.host.clone(), smtp.sender.clone(), smtp.receiver.clone());
    s.smtp_port = smtp.port;
    s.starttls = match smtp.starttls {
        efm_config::StartTls::Opportunistic => StartTls::Opportunistic,
        efm_config::StartTls::Required => StartTls::Required,
        efm_config::StartTls::Off => StartTls::Off,
    };
    s.login = smtp.auth.as_ref().map(|a| SmtpLogin {
        username: a.username.clone(),
        password: a.password.expose().to_owned(),
    });
    s.trust = smtp.trust.clone();
    s.mail_error_status = m.on_feil;
    s.svarinn_on_error = m.svarinn_on_error;
    s.svarinn_subject = m.svarinn_subject.clone();
    Some(s)
}

/// The transport settings of the node and the runtime, from the configuration.
struct Transports {
    dpo: Option<DpoSettings>,
    dpe: Option<DpeSettings>,
    dpi: Option<DpiSettings>,
    dpv: Option<DpvSettings>,
    dpf: Option<DpfSettings>,
    pacing: Pacing,
    watch: WatchSettings,
    tokens: Option<TokenSettings>,
}

fn duration(i: efm_config::Interval) -> efm_core::Duration {
    efm_core::Duration::from_millis(i64::try_from(i.millis()).unwrap_or(i64::MAX))
}

fn transports(c: &Config) -> Transports {
    let t = &c.transports;
    let interval = |s: efm_config::Service, default_secs: i64| {
        c.services
            .get(s)
            .polling_interval
            .map_or(efm_core::Duration::from_secs(default_secs), duration)
    };
    let dpo = Some(DpoSettings {
        broker: BrokerEndpoint {
            base_url: t.dpo.broker_url.as_str().trim_end_matches('/').to_owned(),
            resource_id: t.dpo.resource.clone(),
        },
        message_channel: c.services.dpo_message_channel.as_ref().map(|m| m.as_str().to_owned()),
        poll_interval: interval(efm_config::Service::Dpo, 15),
    });
    let dpe = Some(DpeSettings {
        service_bus: ServiceBusEndpoint {
            base_url: t.dpe.service_bus_url.as_str().trim_end_matches('/').to_owned(),
            key_name: t.dpe.sas_key_name.clone(),
            key: t.dpe.sas_key.as_ref().map(|k| k.expose().to_owned()).unwrap_or_default(),
        },
        mode: QueueMode::from_name(t.dpe.mode.name()).unwrap_or(QueueMode::Innsyn),
        receipt_queue: t.dpe.receipt_queue.clone(),
        poll_interval: interval(efm_config::Service::Dpe, 20),
        read_max: t.dpe.read_max.get(),
    });
    let dpi = Some(DpiSettings {
        mpc_id: Some(t.dpi.mpc_id.clone()),
        receipt_interval: interval(efm_config::Service::Dpi, 10),
        krr_print_url: t.dpi.krr_print_url.as_ref().map(|u| u.as_str().to_owned()),
        ..DpiSettings::new(t.dpi.url.as_str().trim_end_matches('/'))
    });
    let dpv = Some(DpvSettings {
        endpoint: CorrespondenceEndpoint {
            base_url: t.dpv.correspondence_url.as_str().trim_end_matches('/').to_owned(),
        },
        form: FormSettings {
            notify_email: t.dpv.notify_email,
            notify_sms: t.dpv.notify_sms,
            days_to_reply: t.dpv.days_to_reply,
            enable_due_date: t.dpv.enable_due_date,
            sensitive_resource: t.dpv.sensitive_resource.clone(),
            notification_text: t.dpv.notification_text.clone(),
            sensitive_notification_text: t.dpv.sensitive_notification_text.clone(),
            email_subject: t.dpv.email_subject.clone(),
        },
        arkivmelding_receipts: c.messages.arkivmelding_receipts,
    });
    let f = &t.dpf;
    let receive = f.receive.unwrap_or(true);
    let dpf = Some(DpfSettings {
        svarut: SvarUtEndpoint {
            url: format!("{}{}", f.svarut_url.as_str().trim_end_matches('/'), svarut::WS_PATH),
            username: f.svarut_username.clone().unwrap_or_default(),
            password: f.svarut_password.as_ref().map(|p| p.expose().to_owned()).unwrap_or_default(),
        },
        options: SvarUtOptions::default(),
        // As the reference: SvarInn is polled for our org only with a user name set.
        svarinn: (receive && f.svarinn_username.is_some()).then(|| SvarInnEndpoint {
            base_url: f.svarinn_url.as_str().trim_end_matches('/').to_owned(),
            username: f.svarinn_username.clone().unwrap_or_default(),
            password: f
                .svarinn_password
                .as_ref()
                .map(|p| p.expose().to_owned())
                .unwrap_or_default(),
        }),
        poll_interval: interval(efm_config::Service::Dpf, 900),
        fallback_sender: svarinn::FALLBACK_SENDER.to_owned(),
        generate_receipts: c.messages.arkivmelding_receipts,
    });
    let pacing = Pacing {
        retry_base: duration(t.retry.base),
        retry_cap: duration(t.retry.cap),
        ..Pacing::default()
    };
    let watch = WatchSettings {
        min_interval: duration(t.receipts.min_interval),
        max_interval: duration(t.receipts.max_interval),
        ..WatchSettings::default()
    };
    let tokens = c.org.as_ref().map(|org| TokenSettings {
        token_url: t.oidc.token_url.as_str().to_owned(),
        audience: t.oidc.audience.clone(),
        client_id: t.oidc.client_id.clone().unwrap_or_else(|| t.oidc.client_id_for(org)),
        exchange_url: t.dpo.token_exchange_url.as_str().to_owned(),
        system_user_org: t
            .dpo
            .system_user_org
            .clone()
            .unwrap_or_else(|| t.dpo.system_user_org_for(org)),
        system_user_name: t
            .dpo
            .system_user_name
            .clone()
            .unwrap_or_else(|| t.dpo.system_user_name_for(org)),
    });
    Transports { dpo, dpe, dpi, dpv, dpf, pacing, watch, tokens }
}

/// How long a shutdown waits for calls in flight.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// SIGTERM or SIGINT asks for a shutdown, as `POST /manage/shutdown` does.
fn on_signal(serving: std::sync::Arc<efm_blocking::serve::Serving>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        if signals.forever().next().is_some() {
            serving.request_shutdown();
        }
    })?;
    Ok(())
}

fn generated_password() -> Option<String> {
    let mut bytes = [0u8; 18];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    use base64::Engine as _;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
