//! The demo's eFormidling network, all in this process and on loopback: a service
//! registry naming both organisations with the certificates made for them, the
//! Altinn 3 Broker work-alike (DPO, with its Maskinporten and Altinn token
//! stand-ins), the Service Bus work-alike (DPE), the Altinn 3 Correspondence
//! work-alike (DPV), the KS FIKS work-alike (DPF), the DPI corner 2 work-alike,
//! and an integration point for each organisation, configured in code. The
//! registry also names a receiver on DPV, one on DPF and a citizen on DPI, whom
//! A sends to as well.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use efm_blocking::credentials::TokenSettings;
use efm_blocking::http_server::{self, ServerConfig};
use efm_blocking::local_broker::{DEFAULT_RESOURCE, LocalBroker};
use efm_blocking::local_correspondence::LocalCorrespondence;
use efm_blocking::local_dpi::LocalDpi;
use efm_blocking::local_fiks::{FiksConfig, LocalFiks};
use efm_blocking::local_registry::LocalRegistry;
use efm_blocking::local_service::{self, FaultPlan, Faults, Host, Recorder, Service};
use efm_blocking::local_service_bus::{LocalServiceBus, ServiceBusConfig};
use efm_blocking::serve::{ApiAuth, Notices, ServeOptions, Serving};
use efm_core::crypto::cert::Certificate;
use efm_core::crypto::issue;
use efm_core::crypto::keys::{Identity, PrivateKey};
use efm_core::http_framing::Limits;
use efm_core::node::{
    DpeSettings, DpfSettings, DpiSettings, DpoSettings, DpvSettings, Pacing, WatchSettings,
};
use efm_core::registry::model::ServiceIdentifier;
use efm_core::sbd::MessageType;
use efm_core::transport::altinn_broker::BrokerEndpoint;
use efm_core::transport::correspondence::{CorrespondenceEndpoint, FormSettings};
use efm_core::transport::service_bus::{QueueMode, ServiceBusEndpoint};
use efm_core::transport::svarinn;
use efm_core::transport::svarut::{self, SvarUtEndpoint, SvarUtOptions};
use ring::rand::SecureRandom;
use serde_json::{Value, json};

use super::DemoError;
use super::messages::{
    ARKIVMELDING_PROCESS, DIGITAL_POST_PROCESS, EINNSYN_RESPONSE_PROCESS, INNSYNSKRAV_PROCESS,
    RECEIPT_PROCESS, Side,
};
use crate::serve::Runtime;

/// How often each node looks for incoming messages and receipts: far below the
/// reference's 15-20 s, so that a round trip takes a second, not a minute.
const POLL_INTERVAL: efm_core::Duration = efm_core::Duration::from_millis(250);
/// The first retry's delay after a failed delivery (the reference's is 20 s).
const RETRY_BASE: efm_core::Duration = efm_core::Duration::from_millis(500);
const RETRY_CAP: efm_core::Duration = efm_core::Duration::from_secs(5);
/// How long the certificates made for the demo are valid.
const CERTIFICATE_DAYS: u32 = 30;
/// The API user of both nodes; the password is drawn for each run.
pub const API_USER: &str = "demo";
/// The receiver on DPV: a person with an Altinn inbox.
pub const DPV_RECEIVER: (&str, &str) = ("17912099997", "Demo mottaker (DPV)");
/// The receiver on DPF: a county reading its post in KS FIKS.
pub const DPF_RECEIVER: (&str, &str) = ("910075924", "Demo fylkeskommune (DPF)");
/// The citizen on DPI, and the mailbox provider whose certificate their record carries.
pub const CITIZEN: (&str, &str) = ("09118532322", "Demo innbygger (DPI)");
const MAILBOX_PROVIDER: &str = "987464291";
/// The Altinn resource the DPV record names.
const DPV_RESOURCE: &str = "eformidling-dpv-administrasjon";
/// Correspondence reads a correspondence, and SvarUt a forsendelse, this long after
/// it arrived: as its receiver would, only sooner.
const READ_AFTER: Duration = Duration::from_secs(1);

/// One organisation: its number, name, the Service Bus queue it reads, and the key
/// and certificate made for it.
pub struct Org {
    pub side: Side,
    pub number: &'static str,
    pub name: &'static str,
    pub mode: QueueMode,
    pub identity: Arc<Identity>,
    pub certificate_pem: String,
}

impl Org {
    /// A new RSA key and a self-signed business certificate for `number`.
    pub fn new(
        side: Side,
        number: &'static str,
        name: &'static str,
        mode: QueueMode,
        rng: &dyn SecureRandom,
    ) -> Result<Org, DemoError> {
        let keys = |detail: String| DemoError::Keys { org: number, detail };
        let issued =
            issue::self_signed(number, name, efm_blocking::clock::now(), CERTIFICATE_DAYS, rng)
                .map_err(|e| keys(e.to_string()))?;
        let key = PrivateKey::from_pkcs8_der(&issued.private_key_pkcs8)
            .map_err(|e| keys(e.to_string()))?;
        let cert = Certificate::from_der(&issued.certificate).map_err(|e| keys(e.to_string()))?;
        let identity = Identity::new(key, vec![cert]).map_err(|e| keys(e.to_string()))?;
        Ok(Org {
            side,
            number,
            name,
            mode,
            identity: Arc::new(identity),
            certificate_pem: issued.certificate_pem(),
        })
    }

    /// The registry's answer for this organisation: arkivmelding and its receipts
    /// over DPO; over DPE, innsynskrav to an archive's `data` queue, and eInnsyn
    /// receipts to a client's `innsyn` queue.
    fn registry_record(&self) -> Value {
        let record = |process: &str, types: &[MessageType], service: &str, endpoint: &str| {
            let standards: Vec<&str> = types.iter().map(|t| t.default_standard()).collect();
            json!({
                "organisationNumber": self.number,
                "pemCertificate": self.certificate_pem,
                "process": process,
                "documentTypes": standards,
                "service": { "identifier": service, "endpointUrl": endpoint, "securityLevel": 3 }
            })
        };
        let receipts =
            [MessageType::ArkivmeldingKvittering, MessageType::Status, MessageType::Feil];
        let mut records = vec![
            record(ARKIVMELDING_PROCESS, &[MessageType::Arkivmelding], "DPO", ""),
            record(RECEIPT_PROCESS, &receipts, "DPO", ""),
        ];
        records.push(match self.mode {
            QueueMode::Data => {
                record(INNSYNSKRAV_PROCESS, &[MessageType::Innsynskrav], "DPE", "data")
            }
            _ => record(
                EINNSYN_RESPONSE_PROCESS,
                &[MessageType::EinnsynKvittering, MessageType::Status, MessageType::Feil],
                "DPE",
                "innsyn",
            ),
        });
        json!({
            "infoRecord": {
                "identifier": self.number,
                "organizationName": self.name,
                "entityType": { "name": "ORGL" }
            },
            "serviceRecords": records
        })
    }
}

/// An integration point of the demo.
pub struct Node {
    pub addr: SocketAddr,
    pub serving: Serving,
}

/// The running network.
pub struct Network {
    pub registry: SocketAddr,
    pub broker: SocketAddr,
    pub bus: SocketAddr,
    pub correspondence: SocketAddr,
    pub fiks: SocketAddr,
    pub dpi: SocketAddr,
    pub a: Node,
    pub b: Node,
}

/// What the nodes need that the demo draws for each run.
pub struct Secrets {
    pub api_password: String,
    pub sas_key: String,
}

impl Network {
    /// Start everything under `dir`; returns once all are listening.
    pub fn start(
        dir: &Path,
        orgs: [&Org; 2],
        runtime: Runtime,
        secrets: &Secrets,
        notices: [Notices; 2],
    ) -> Result<Network, DemoError> {
        let registry = start_registry(&dir.join("registry"), &orgs)?;
        let broker_dir = dir.join("broker");
        let broker = LocalBroker::open(&broker_dir, vec![DEFAULT_RESOURCE.to_owned()])
            .map_err(|e| start_failed("broker", e))?;
        let broker = start_local_service("broker", &broker_dir, Arc::new(broker))?;
        let bus_dir = dir.join("servicebus");
        let config = ServiceBusConfig {
            sas_key: Some(secrets.sas_key.clone()),
            ..ServiceBusConfig::default()
        };
        let bus =
            LocalServiceBus::open(&bus_dir, config).map_err(|e| start_failed("Service Bus", e))?;
        let bus = start_local_service("Service Bus", &bus_dir, Arc::new(bus))?;
        // Correspondence takes the Altinn tokens the broker's stand-in issues.
        let correspondence_dir = dir.join("correspondence");
        let correspondence = LocalCorrespondence::open(
            &correspondence_dir,
            Some(&broker_dir.join("token-secret")),
            Some(READ_AFTER),
        )
        .map_err(|e| start_failed("Correspondence", e))?;
        let correspondence =
            start_local_service("Correspondence", &correspondence_dir, Arc::new(correspondence))?;
        let fiks_dir = dir.join("fiks");
        let config = FiksConfig { lest_after: Some(READ_AFTER), ..FiksConfig::default() };
        let fiks = LocalFiks::open(&fiks_dir, config).map_err(|e| start_failed("KS FIKS", e))?;
        let fiks = start_local_service("KS FIKS", &fiks_dir, Arc::new(fiks))?;
        let dpi_dir = dir.join("dpi");
        let dpi = LocalDpi::open(&dpi_dir).map_err(|e| start_failed("DPI corner 2", e))?;
        let dpi = start_local_service("DPI corner 2", &dpi_dir, Arc::new(dpi))?;
        let services = Services { registry, broker, bus, correspondence, fiks, dpi };
        let [na, nb] = notices;
        let a = start_node(dir, orgs[0], &services, runtime, secrets, na)?;
        let b = start_node(dir, orgs[1], &services, runtime, secrets, nb)?;
        Ok(Network { registry, broker, bus, correspondence, fiks, dpi, a, b })
    }
}

fn start_failed(what: &'static str, e: impl std::fmt::Display) -> DemoError {
    DemoError::Start { what, detail: e.to_string() }
}

/// The registry, serving a folder with a record file per organisation.
fn start_registry(dir: &Path, orgs: &[&Org]) -> Result<SocketAddr, DemoError> {
    let identifiers = dir.join("identifier");
    std::fs::create_dir_all(&identifiers).map_err(|e| start_failed("registry", e))?;
    for org in orgs {
        let body = serde_json::to_vec_pretty(&org.registry_record())
            .map_err(|e| start_failed("registry", e))?;
        let file = identifiers.join(format!("{}.json", org.number));
        std::fs::write(&file, body)
            .map_err(|e| start_failed("registry", format!("{}: {e}", file.display())))?;
    }
    // SvarUt encrypts to the DPF receiver's certificate: the demo lends it B's,
    // rather than make a third key no one here decrypts with.
    let others = [
        (DPV_RECEIVER.0, dpv_record()),
        (DPF_RECEIVER.0, dpf_record(&orgs[1].certificate_pem)),
        (CITIZEN.0, citizen_record(&provider_certificate()?)),
    ];
    for (id, record) in others {
        let file = identifiers.join(format!("{id}.json"));
        std::fs::write(&file, record.to_string())
            .map_err(|e| start_failed("registry", format!("{}: {e}", file.display())))?;
    }
    let registry = LocalRegistry::new(dir, None);
    let handler = Arc::new(move |req: &http::Request<()>, _body: &[u8]| registry.handle(req));
    http_server::spawn("127.0.0.1:0", ServerConfig::default(), handler)
        .map(|s| s.local_addr())
        .map_err(|e| start_failed("registry", e))
}

fn info_record(id: &str, name: &str) -> Value {
    json!({ "identifier": id, "organizationName": name, "entityType": { "name": "ORGL" } })
}

/// The DPV receiver: `digital_dpv` and arkivmelding over DPV, naming the Altinn
/// resource (DPV records carry no certificate).
fn dpv_record() -> Value {
    let (id, name) = DPV_RECEIVER;
    let record = |process: &str, kind: MessageType| {
        json!({
            "organisationNumber": id, "process": process,
            "documentTypes": [kind.default_standard()],
            "service": { "identifier": "DPV", "resource": DPV_RESOURCE }
        })
    };
    json!({
        "infoRecord": info_record(id, name),
        "serviceRecords": [
            record(ARKIVMELDING_PROCESS, MessageType::Arkivmelding),
            record(DIGITAL_POST_PROCESS, MessageType::DigitalDpv),
        ]
    })
}

/// The DPF receiver: arkivmelding over DPF, with the certificate SvarUt encrypts to.
fn dpf_record(certificate_pem: &str) -> Value {
    let (id, name) = DPF_RECEIVER;
    json!({
        "infoRecord": info_record(id, name),
        "serviceRecords": [{
            "organisationNumber": id,
            "pemCertificate": certificate_pem,
            "process": ARKIVMELDING_PROCESS,
            "documentTypes": [MessageType::Arkivmelding.default_standard()],
            "service": { "identifier": "DPF", "securityLevel": 3 }
        }]
    })
}

/// The citizen: digital post over DPI through the mailbox provider, whose
/// certificate the ASiC-E is encrypted to.
fn citizen_record(provider_pem: &str) -> Value {
    let (id, name) = CITIZEN;
    json!({
        "infoRecord": info_record(id, name),
        "serviceRecords": [{
            "organisationNumber": id,
            "pemCertificate": provider_pem,
            "orgnrPostkasse": MAILBOX_PROVIDER,
            "postkasseAdresse": "demo.innbygger#1",
            "process": DIGITAL_POST_PROCESS,
            "documentTypes": [MessageType::Digital.default_standard()],
            "service": { "identifier": "DPI", "serviceCode": "4192", "serviceEditionCode": "270815" }
        }]
    })
}

/// A certificate for the mailbox provider; its key is not kept, as nothing here
/// opens what corner 2 is handed.
fn provider_certificate() -> Result<String, DemoError> {
    let rng = ring::rand::SystemRandom::new();
    let now = efm_blocking::clock::now();
    let issued =
        issue::self_signed(MAILBOX_PROVIDER, "Demo postkasse", now, CERTIFICATE_DAYS, &rng)
            .map_err(|e| DemoError::Keys { org: MAILBOX_PROVIDER, detail: e.to_string() })?;
    Ok(issued.certificate_pem())
}

/// A local message service on a port of its own, recording what it receives in
/// `dir/requests.jsonl`, with no faults.
fn start_local_service(
    what: &'static str,
    dir: &Path,
    service: Arc<dyn Service>,
) -> Result<SocketAddr, DemoError> {
    let recorder = Recorder::open(dir).map_err(|e| start_failed(what, e))?;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| start_failed(what, e))?;
    let addr = listener.local_addr().map_err(|e| start_failed(what, e))?;
    let host = Host {
        service,
        faults: Faults::new(FaultPlan::default()),
        recorder,
        limits: Limits { max_head: 64 * 1024, max_body: 64 * 1024 * 1024 },
        read_timeout: Duration::from_secs(30),
    };
    std::thread::Builder::new()
        .name(format!("demo-{what}"))
        .spawn(move || local_service::accept_loop(listener, Arc::new(host)))
        .map_err(|e| start_failed(what, e))?;
    Ok(addr)
}

struct Services {
    registry: SocketAddr,
    broker: SocketAddr,
    bus: SocketAddr,
    correspondence: SocketAddr,
    fiks: SocketAddr,
    dpi: SocketAddr,
}

fn start_node(
    dir: &Path,
    org: &Org,
    services: &Services,
    runtime: Runtime,
    secrets: &Secrets,
    notices: Notices,
) -> Result<Node, DemoError> {
    let what = match org.side {
        Side::A => "integration point A",
        Side::B => "integration point B",
    };
    let opts =
        options(dir.join(org.side.to_string().to_lowercase()), org, services, secrets, notices)
            .map_err(|e| start_failed(what, e))?;
    let serving = match runtime {
        Runtime::Blocking => efm_blocking::serve::start(opts),
        Runtime::Async => efm_async::serve::start(opts),
    }
    .map_err(|e| start_failed(what, e))?;
    Ok(Node { addr: serving.local_addr(), serving })
}

/// The settings `efm serve` would read from its configuration, for this network:
/// the defaults, but for our own services, our key and quick polling.
fn options(
    data_dir: PathBuf,
    org: &Org,
    services: &Services,
    secrets: &Secrets,
    notices: Notices,
) -> Result<ServeOptions, String> {
    let defaults = efm_config::Config::default();
    let number = efm_config::OrgNr::from_str(org.number).map_err(|e| e.to_string())?;
    let t = &defaults.transports;
    let millis = |i: efm_config::Interval| {
        efm_core::Duration::from_millis(i64::try_from(i.millis()).unwrap_or(i64::MAX))
    };
    let services_of = |set: efm_config::ServiceSet| -> Vec<ServiceIdentifier> {
        set.iter().map(|s| ServiceIdentifier::from_name(s.name())).collect()
    };
    let certificate = org.identity.certificate().ok_or("the demo key has no certificate")?;
    let broker = format!("http://{}", services.broker);
    // A sends over DPV, DPF and DPI too; B only takes what A sends it.
    let a = org.side == Side::A;
    let mut enabled = vec![ServiceIdentifier::Dpo, ServiceIdentifier::Dpe];
    if a {
        enabled.extend([ServiceIdentifier::Dpv, ServiceIdentifier::Dpf, ServiceIdentifier::Dpi]);
    }
    let dpv = &t.dpv;
    let fiks = format!("http://{}", services.fiks);
    Ok(ServeOptions {
        listen: "127.0.0.1:0".into(),
        data_dir,
        own_org: Some(org.number.to_owned()),
        auth: ApiAuth::Basic { user: API_USER.into(), password: secrets.api_password.clone() },
        registry_url: format!("http://{}", services.registry),
        registry_signed: false,
        enabled,
        default_ttl: efm_core::Duration::from_hours(i64::from(
            defaults.messages.default_ttl_hours.get(),
        )),
        upload_limits: efm_config::Service::ALL
            .into_iter()
            .map(|s| {
                let limit = defaults.services.get(s).upload_size_limit.bytes();
                (ServiceIdentifier::from_name(s.name()), limit)
            })
            .collect(),
        mail: None,
        own_certificate_expiry: Some(certificate.not_after().map_err(|e| e.to_string())?),
        status_queue_includes: services_of(defaults.messages.status_queue_includes),
        identity: Some(org.identity.clone()),
        lock_timeout: millis(defaults.messages.lock_timeout),
        status_services: services_of(defaults.messages.status_services),
        ttl_check_interval: millis(defaults.messages.ttl_check_interval),
        dpo: Some(DpoSettings {
            broker: BrokerEndpoint {
                base_url: format!("{broker}/broker/api/v1"),
                resource_id: DEFAULT_RESOURCE.to_owned(),
            },
            message_channel: None,
            poll_interval: POLL_INTERVAL,
        }),
        dpe: Some(DpeSettings {
            service_bus: ServiceBusEndpoint {
                base_url: format!("http://{}", services.bus),
                key_name: t.dpe.sas_key_name.clone(),
                key: secrets.sas_key.clone(),
            },
            mode: org.mode,
            receipt_queue: None,
            poll_interval: POLL_INTERVAL,
            read_max: t.dpe.read_max.get(),
        }),
        dpi: a.then(|| DpiSettings {
            receipt_interval: POLL_INTERVAL,
            ..DpiSettings::new(format!("http://{}", services.dpi))
        }),
        dpv: a.then(|| DpvSettings {
            endpoint: CorrespondenceEndpoint {
                base_url: format!("http://{}/correspondence/api/v1", services.correspondence),
            },
            form: FormSettings {
                notify_email: dpv.notify_email,
                notify_sms: dpv.notify_sms,
                days_to_reply: dpv.days_to_reply,
                enable_due_date: dpv.enable_due_date,
                sensitive_resource: dpv.sensitive_resource.clone(),
                notification_text: dpv.notification_text.clone(),
                sensitive_notification_text: dpv.sensitive_notification_text.clone(),
                email_subject: dpv.email_subject.clone(),
            },
            arkivmelding_receipts: defaults.messages.arkivmelding_receipts,
        }),
        dpf: a.then(|| DpfSettings {
            svarut: SvarUtEndpoint {
                url: format!("{fiks}/svarut{}", svarut::WS_PATH),
                username: org.number.to_owned(),
                password: secrets.api_password.clone(),
            },
            options: SvarUtOptions::default(),
            // A only sends over DPF.
            svarinn: None,
            poll_interval: POLL_INTERVAL,
            fallback_sender: svarinn::FALLBACK_SENDER.to_owned(),
            // The reference offers an OK arkivmelding_kvittering when SvarUt says
            // read; the demo's fagsystem A expects only B's receipt, so LEST it is.
            generate_receipts: false,
        }),
        pacing: Pacing { retry_base: RETRY_BASE, retry_cap: RETRY_CAP, ..Pacing::default() },
        // Receipts and statuses (DPV, DPF, DPI) are asked for at the polling pace.
        watch: WatchSettings { min_interval: POLL_INTERVAL, ..WatchSettings::default() },
        tokens: Some(TokenSettings {
            token_url: format!("{broker}/maskinporten/token"),
            audience: t.oidc.audience.clone(),
            client_id: t.oidc.client_id_for(&number),
            exchange_url: format!("{broker}/authentication/api/v1/exchange/maskinporten"),
            system_user_org: t.dpo.system_user_org_for(&number),
            system_user_name: t.dpo.system_user_name_for(&number),
        }),
        notices,
        tls: None,
    })
}
