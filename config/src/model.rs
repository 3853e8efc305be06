//! The typed configuration and its embedded defaults.
//!
//! Every value here is already checked: a `Config` that exists is one `efm serve`
//! can start with. The defaults are the reference's (`application.properties`),
//! except where efm chooses safer ones: it listens on loopback without TLS and
//! without a keystore, so a bare `efm serve` starts on a developer machine.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::path::PathBuf;

use crate::byte_size::ByteSize;
use crate::http_url::HttpUrl;
use crate::interval::Interval;
use crate::org_nr::OrgNr;
use crate::secret::Secret;
use crate::service::{MessageChannel, Service, ServiceSet};
use crate::transports::Transports;

/// The reference's test service registry; production is `https://eformidling.no/adressetjeneste`.
pub const DEFAULT_REGISTRY_URL: &str = "https://test.eformidling.no/adressetjeneste";

/// The user name Spring Security uses when only a password is configured, kept so
/// that fagsystem clients of the reference need no change.
pub const DEFAULT_API_USER: &str = "user";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where the REST API listens. Default `127.0.0.1:9093` (the reference's port, but
    /// loopback only: exposing the API is a decision, not a default).
    pub listen: SocketAddr,
    /// The store's folder. Default `./efm-data`.
    pub data_dir: PathBuf,
    /// Our organisation number. None until configured: the API still serves, but
    /// nothing can be sent or received for an organisation.
    pub org: Option<OrgNr>,
    /// The business certificate. None until configured.
    pub keystore: Option<Keystore>,
    pub registry_url: HttpUrl,
    /// Ask the registry for signed answers and verify them against its `/jwk`
    /// keys (`difi.move.sign.enable`). Default off: signed answers that arrive
    /// anyway are always verified.
    pub registry_signed: bool,
    pub api_auth: ApiAuth,
    /// None: plain HTTP.
    pub tls: Option<Tls>,
    pub services: Services,
    pub messages: Messages,
    pub status_polling: StatusPolling,
    pub webhooks: Webhooks,
    pub mail: Mail,
    /// Where DPO and DPE are reached, and how failed sends are retried.
    pub transports: Transports,
}

/// A PKCS#12 keystore holding our business certificate and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keystore {
    pub path: PathBuf,
    /// None: the keystore's only key entry.
    pub alias: Option<String>,
    pub password: Secret,
}

/// Who may call the REST API (`/api/*` and `/manage/shutdown`; health stays open).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiAuth {
    /// Everything open (the reference's `difi.security.enable=false`).
    Off,
    /// HTTP Basic with configured credentials.
    Basic { user: String, password: Secret },
    /// HTTP Basic, no password configured: the runtime generates one and prints it
    /// once at start-up, as Spring Security does. This is the default.
    GeneratePassword { user: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tls {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Per-service settings, indexed by [`Service`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Services {
    by_service: [ServiceSettings; 6],
    /// DPO only: the channel this instance consumes (the reference's `dpo.messageChannel`).
    pub dpo_message_channel: Option<MessageChannel>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSettings {
    /// Off by default for every service, as in the reference.
    pub enabled: bool,
    /// None: [`Messages::default_ttl_hours`].
    pub ttl_hours: Option<Hours>,
    pub upload_size_limit: ByteSize,
    /// How often incoming messages (or, for DPI, receipts) are fetched. None for DPV,
    /// which has nothing to poll. `EFM_POLL_INTERVAL` sets it for every service that polls.
    pub polling_interval: Option<Interval>,
}

/// A positive number of hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hours(u32);

impl Hours {
    pub const fn get(self) -> u32 {
        self.0
    }

    pub(crate) fn new(n: u32) -> Option<Self> {
        (n > 0).then_some(Hours(n))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Messages {
    /// Time to live of a message without `expectedResponseDateTime`. Default 24.
    pub default_ttl_hours: Hours,
    /// How long a peeked incoming message stays locked. Default 5 minutes.
    pub lock_timeout: Interval,
    /// How often expired messages are looked for. Default 30 s.
    pub ttl_check_interval: Interval,
    /// Services that send MOTTATT/LEVERT status messages back. Default DPO, DPE.
    pub status_services: ServiceSet,
    /// Services whose statuses also go to the status queue. Default none.
    pub status_queue_includes: ServiceSet,
    /// An arkivmelding sent over DPV is answered, once published, with an OK
    /// arkivmelding_kvittering in our incoming queue. Default true (the reference's
    /// staging and production profiles turn it off).
    pub arkivmelding_receipts: bool,
}

/// Polling of outgoing messages' statuses at their services.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusPolling {
    /// Default 1 minute (the reference's cron `0 * * * * *`).
    pub interval: Interval,
    pub page_size: NonZeroU32,
    /// Age after which a message is polled only every `backoff_max_interval`.
    pub backoff_threshold_days: NonZeroU32,
    pub backoff_max_interval: Interval,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhooks {
    pub connect_timeout: Interval,
    pub read_timeout: Interval,
}

/// The mail paths, each off unless switched on; the server is set when one is on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mail {
    /// Mail on every FEIL status (`mail.enabled`, the reference's
    /// `feature.mailErrorStatus`).
    pub on_feil: bool,
    /// Mail a SvarInn forsendelse the fagsystem cannot take (the reference's
    /// `fiks.inn.mailOnError`, removed there in 2023).
    pub svarinn_on_error: bool,
    /// That mail's subject (`fiks.inn.mailSubject`); unset: one naming the forsendelse.
    pub svarinn_subject: Option<String>,
    pub smtp: Option<Smtp>,
}

impl Mail {
    pub fn off() -> Mail {
        Mail::default()
    }
}

/// Whether the SMTP session is upgraded with STARTTLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartTls {
    /// When the server offers it, as the reference's `starttls.enable=true`.
    #[default]
    Opportunistic,
    Required,
    Off,
}

impl StartTls {
    pub fn name(self) -> &'static str {
        match self {
            StartTls::Opportunistic => "opportunistic",
            StartTls::Required => "required",
            StartTls::Off => "off",
        }
    }
}

/// An SMTP server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub starttls: StartTls,
    pub sender: String,
    pub receiver: String,
    pub auth: Option<SmtpAuth>,
    /// Hosts whose certificates are trusted without checking (the reference's `mail.trust`).
    pub trust: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpAuth {
    pub username: String,
    pub password: Secret,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9093),
            data_dir: PathBuf::from("./efm-data"),
            org: None,
            keystore: None,
            registry_url: HttpUrl::known(DEFAULT_REGISTRY_URL),
            registry_signed: false,
            api_auth: ApiAuth::GeneratePassword { user: DEFAULT_API_USER.to_owned() },
            tls: None,
            services: Services::default(),
            messages: Messages {
                default_ttl_hours: Hours(24),
                lock_timeout: Interval::mins(5),
                ttl_check_interval: Interval::secs(30),
                status_services: ServiceSet::of(&[Service::Dpo, Service::Dpe]),
                status_queue_includes: ServiceSet::default(),
                arkivmelding_receipts: true,
            },
            status_polling: StatusPolling {
                interval: Interval::mins(1),
                page_size: NonZeroU32::new(2000).unwrap_or(NonZeroU32::MIN),
                backoff_threshold_days: NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
                backoff_max_interval: Interval::mins(60),
            },
            webhooks: Webhooks {
                connect_timeout: Interval::secs(10),
                read_timeout: Interval::secs(10),
            },
            mail: Mail::off(),
            transports: Transports::default(),
        }
    }
}

impl Default for Services {
    /// The reference's upload limits and incoming polling rates (DPO's 15 s is
    /// hard-coded there; DPF's 15 minutes is its production value).
    fn default() -> Self {
        let settings = |limit: ByteSize, poll: Option<Interval>| ServiceSettings {
            enabled: false,
            ttl_hours: None,
            upload_size_limit: limit,
            polling_interval: poll,
        };
        Services {
            by_service: [
                settings(ByteSize::gib(1), Some(Interval::secs(15))),
                settings(ByteSize::mib(250), None),
                settings(ByteSize::gib(1), Some(Interval::mins(15))),
                settings(ByteSize::mib(2), Some(Interval::secs(20))),
                settings(ByteSize::mib(50), Some(Interval::secs(10))),
                settings(ByteSize::mib(18), Some(Interval::secs(30))),
            ],
            dpo_message_channel: None,
        }
    }
}

impl Services {
    pub fn get(&self, service: Service) -> &ServiceSettings {
        &self.by_service[service.index()]
    }

    pub(crate) fn get_mut(&mut self, service: Service) -> &mut ServiceSettings {
        &mut self.by_service[service.index()]
    }

    pub fn enabled(&self) -> ServiceSet {
        let on: Vec<Service> = Service::ALL.into_iter().filter(|s| self.get(*s).enabled).collect();
        ServiceSet::of(&on)
    }
}

impl Config {
    /// The time to live for a message sent with `service`: its own setting, else the default.
    pub fn ttl_hours(&self, service: Service) -> Hours {
        self.services.get(service).ttl_hours.unwrap_or(self.messages.default_ttl_hours)
    }
}
