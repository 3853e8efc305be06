//! A local eFormidling network for black-box tests: a registry naming the
//! organisations (each with a generated key and certificate, reachable over DPO
//! for arkivmelding and DPE for innsynskrav), the broker and Service Bus
//! work-alikes, and one `efm serve` per organisation, all on loopback. Plus the
//! fagsystem side of the API: create, upload, send, statuses, peek, pop, delete.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{Reply, request, request_with};
use crate::keys::TestKey;
use crate::server::{LocalRegistry, LocalService, Served};

pub const ARKIVMELDING_PROCESS: &str = "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0";
pub const ARKIVMELDING_STANDARD: &str = "urn:no:difi:arkivmelding:xsd::arkivmelding";
pub const INNSYNSKRAV_PROCESS: &str = "urn:no:difi:profile:einnsyn-innsynskrav:ver1.0";
pub const INNSYNSKRAV_STANDARD: &str = "urn:no:difi:einnsyn:xsd:innsyn::innsynskrav";
pub const AUTH: Option<(&str, &str)> = Some(("efm", "secret"));
/// The Service Bus key the local registry hands out.
pub const REGISTRY_SAS_KEY: &str = "registry-sas-key";

/// A fresh temporary folder.
pub fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "efm-net-{}-{name}-{}",
        std::process::id(),
        random_uuid()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn random_uuid() -> String {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("OS randomness");
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// One organisation of the network: its number, key and DPE mode (which of its
/// Service Bus queues it reads: `innsyn` for an eInnsyn client, `data` for an
/// archive).
pub struct Org {
    pub number: &'static str,
    pub key: TestKey,
    pub dpe_mode: &'static str,
}

impl Org {
    pub fn new(number: &'static str, dpe_mode: &'static str) -> Org {
        Org { number, key: TestKey::generate(number), dpe_mode }
    }
}

/// A registry folder naming every org, each reachable over DPO (arkivmelding) and
/// DPE (innsynskrav, to its own queue) with its certificate.
pub fn registry_dir(orgs: &[&Org]) -> PathBuf {
    let dir = temp("registry");
    std::fs::create_dir_all(dir.join("identifier")).expect("registry folder");
    // The Service Bus key for nodes that take it from the registry.
    std::fs::write(dir.join("sastoken"), REGISTRY_SAS_KEY).expect("sastoken");
    for org in orgs {
        let pem = std::fs::read_to_string(&org.key.cert_pem).expect("certificate");
        let record = |process: &str, doc: &str, service: &str, endpoint: &str| {
            json!({
                "organisationNumber": org.number,
                "pemCertificate": pem,
                "process": process,
                "documentTypes": [doc],
                "service": { "identifier": service, "endpointUrl": endpoint, "securityLevel": 3 }
            })
        };
        let answer = json!({
            "infoRecord": {
                "identifier": org.number,
                "organizationName": format!("Org {}", org.number),
                "entityType": { "name": "ORGL" }
            },
            "serviceRecords": [
                record(ARKIVMELDING_PROCESS, ARKIVMELDING_STANDARD, "DPO", ""),
                record(INNSYNSKRAV_PROCESS, INNSYNSKRAV_STANDARD, "DPE", org.dpe_mode),
            ]
        });
        std::fs::write(
            dir.join("identifier").join(format!("{}.json", org.number)),
            serde_json::to_vec_pretty(&answer).expect("JSON"),
        )
        .expect("registry answer");
    }
    dir
}

/// The mailbox provider the registry's citizens have (the features' 987464291).
pub const MAILBOX_PROVIDER: &str = "987464291";
/// A citizen reachable over DPI, digital and print, through [`MAILBOX_PROVIDER`].
pub const CITIZEN: &str = "09118532322";
/// The process of digital post to a citizen.
pub const DPI_INFO_PROCESS: &str = "urn:no:difi:profile:digitalpost:info:ver1.0";

/// The mailbox provider's key and certificate, made with `efm_core::crypto::issue`
/// (PEM files), so a test can open what corner 2 received as corner 3 would.
pub struct Provider {
    pub key_pem: PathBuf,
    pub cert_pem: PathBuf,
}

impl Provider {
    pub fn issue() -> Provider {
        let dir = temp("provider");
        let rng = ring::rand::SystemRandom::new();
        let now = efm_core::Timestamp::from_unix_millis(
            i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis()),
            )
            .unwrap_or(0),
        );
        let issued = efm_core::crypto::issue::self_signed(
            MAILBOX_PROVIDER,
            "efm test mailbox provider",
            now,
            30,
            &rng,
        )
        .expect("issue the provider's certificate");
        let (key_pem, cert_pem) = (dir.join("provider.key.pem"), dir.join("provider.cert.pem"));
        std::fs::write(&key_pem, issued.private_key_pem()).expect("provider key");
        std::fs::write(&cert_pem, issued.certificate_pem()).expect("provider certificate");
        Provider { key_pem, cert_pem }
    }

    pub fn cert(&self) -> String {
        std::fs::read_to_string(&self.cert_pem).expect("provider certificate")
    }

    /// Decrypt a CMS sent to the provider with openssl.
    pub fn decrypt(&self, cms: &[u8]) -> Vec<u8> {
        let dir = temp("provider-decrypt");
        let (input, output) = (dir.join("in.cms"), dir.join("out.bin"));
        std::fs::write(&input, cms).expect("write CMS");
        crate::keys::run(
            std::process::Command::new("openssl")
                .args(["cms", "-decrypt", "-binary", "-inform", "DER", "-in"])
                .arg(&input)
                .arg("-inkey")
                .arg(&self.key_pem)
                .arg("-recip")
                .arg(&self.cert_pem)
                .arg("-out")
                .arg(&output),
        );
        std::fs::read(&output).expect("decrypted ASiC")
    }
}

/// The registry answer for [`CITIZEN`]: DPI, digital and print, through the provider.
pub fn citizen_record(provider_cert: &str) -> Value {
    json!({
        "infoRecord": {
            "identifier": CITIZEN,
            "organizationName": "efm test citizen",
            "entityType": { "name": "ORGL" }
        },
        "serviceRecords": [{
            "organisationNumber": CITIZEN,
            "pemCertificate": provider_cert,
            "orgnrPostkasse": MAILBOX_PROVIDER,
            "postkasseAdresse": "citizen#1",
            "process": DPI_INFO_PROCESS,
            "documentTypes": [
                "urn:no:difi:digitalpost:xsd:digital::digital",
                "urn:no:difi:digitalpost:xsd:fysisk::print"
            ],
            "service": { "identifier": "DPI", "serviceCode": "4192", "serviceEditionCode": "270815" }
        }]
    })
}

/// The shared services of a network.
pub struct Services {
    pub registry: LocalRegistry,
    pub broker: LocalService,
    pub bus: LocalService,
    /// The DPI corner 2, and the folder it records into.
    pub dpi: LocalService,
    pub dpi_dir: PathBuf,
}

impl Services {
    /// The registry for `orgs`, and the broker and Service Bus started with
    /// `broker_args` / `bus_args` (fault knobs, say).
    pub fn start(orgs: &[&Org], broker_args: &[&str], bus_args: &[&str]) -> Services {
        Services::with_registry(LocalRegistry::start(&registry_dir(orgs)), broker_args, bus_args)
    }

    /// As [`start`](Self::start), with a registry folder made by the caller (from
    /// [`registry_dir`], with answers of its own added, say).
    pub fn start_in(
        registry: &std::path::Path,
        broker_args: &[&str],
        bus_args: &[&str],
    ) -> Services {
        Services::with_registry(LocalRegistry::start(registry), broker_args, bus_args)
    }

    /// As [`start`](Self::start), with a registry that signs its answers with
    /// `signer`'s key.
    pub fn start_signed(orgs: &[&Org], signer: &TestKey) -> Services {
        let registry = LocalRegistry::start_signed(&registry_dir(orgs), &signer.key_pem);
        Services::with_registry(registry, &[], &[])
    }

    fn with_registry(registry: LocalRegistry, broker_args: &[&str], bus_args: &[&str]) -> Services {
        Services::of(
            registry,
            LocalService::broker(&temp("broker"), broker_args),
            LocalService::service_bus(&temp("bus"), bus_args),
        )
    }

    /// A network of these services, with a DPI corner 2 of its own.
    pub fn of(registry: LocalRegistry, broker: LocalService, bus: LocalService) -> Services {
        let dpi_dir = temp("dpi");
        Services { registry, broker, bus, dpi: LocalService::dpi(&dpi_dir), dpi_dir }
    }

    /// The environment of a node for `org` in this network.
    pub fn node_env(&self, org: &Org, runtime: &str) -> Vec<(String, String)> {
        let keystore = org.key.pkcs12("changeit");
        self.env_for(org.number, &keystore, None, org.dpe_mode, runtime)
    }

    /// The environment of a node for organisation `org` whose key is in the PKCS#12
    /// `keystore` (password `changeit`), entry `alias` when it holds several.
    pub fn env_for(
        &self,
        org: &str,
        keystore: &std::path::Path,
        alias: Option<&str>,
        dpe_mode: &str,
        runtime: &str,
    ) -> Vec<(String, String)> {
        let broker = &self.broker.url;
        let mut env: Vec<(String, String)> = vec![
            ("EFM_ORG".into(), org.into()),
            ("EFM_KEYSTORE".into(), keystore.display().to_string()),
            ("EFM_KEYSTORE_PASSWORD".into(), "changeit".into()),
            ("EFM_REGISTRY_URL".into(), self.registry.url.clone()),
            ("EFM_ENABLE".into(), "DPO,DPE".into()),
            ("EFM_DPO_BROKER_URL".into(), format!("{broker}/broker/api/v1")),
            ("EFM_MASKINPORTEN_URL".into(), format!("{broker}/maskinporten/token")),
            (
                "EFM_ALTINN_EXCHANGE_URL".into(),
                format!("{broker}/authentication/api/v1/exchange/maskinporten"),
            ),
            ("EFM_DPE_URL".into(), self.bus.url.clone()),
            ("EFM_DPE_SAS_KEY".into(), REGISTRY_SAS_KEY.into()),
            ("EFM_DPE_MODE".into(), dpe_mode.into()),
            ("EFM_DPI_URL".into(), self.dpi.url.clone()),
            ("EFM_POLL_INTERVAL".into(), "1s".into()),
            ("EFM_RETRY_BASE".into(), "1s".into()),
            ("EFM_RUNTIME".into(), runtime.into()),
        ];
        if let Some(alias) = alias {
            env.push(("EFM_KEYSTORE_ALIAS".into(), alias.into()));
        }
        env
    }

    /// Start a node for `org` on `data` (a folder kept across restarts).
    pub fn node(&self, org: &Org, runtime: &str, data: &std::path::Path) -> Served {
        self.node_with(org, runtime, data, |_| {})
    }

    /// As [`node`](Self::node), with its environment changed by `edit` first.
    pub fn node_with(
        &self,
        org: &Org,
        runtime: &str,
        data: &std::path::Path,
        edit: impl FnOnce(&mut Vec<(String, String)>),
    ) -> Served {
        let mut env = self.node_env(org, runtime);
        edit(&mut env);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Served::start(data, &env)
    }
}

/// The Altinn resource DPV records name in these tests (the reference's).
pub const DPV_RESOURCE: &str = "eformidling-dpv-administrasjon";
pub const DIGITAL_DPV_PROCESS: &str = "urn:no:difi:profile:digitalpost:info:ver1.0";
pub const DIGITAL_DPV_STANDARD: &str = "urn:no:difi:digitalpost:xsd:digital::digital_dpv";

/// Adds to a registry folder a receiver `id` (an organisation or a person) that
/// takes arkivmelding and `digital_dpv` over DPV, under [`DPV_RESOURCE`], named
/// `name`: DPV records carry no certificate, and must name their Altinn resource.
pub fn add_dpv_receiver(dir: &std::path::Path, id: &str, name: &str) {
    let record = |process: &str, doc: &str| {
        json!({
            "organisationNumber": id, "process": process, "documentTypes": [doc],
            "service": { "identifier": "DPV", "resource": DPV_RESOURCE }
        })
    };
    let answer = json!({
        "infoRecord": { "identifier": id, "organizationName": name, "entityType": { "name": "ORGL" } },
        "serviceRecords": [
            record(ARKIVMELDING_PROCESS, ARKIVMELDING_STANDARD),
            record(DIGITAL_DPV_PROCESS, DIGITAL_DPV_STANDARD),
        ]
    });
    let folder = dir.join("identifier");
    std::fs::create_dir_all(&folder).expect("registry folder");
    std::fs::write(folder.join(format!("{id}.json")), answer.to_string()).expect("registry answer");
}

/// Lets a node with environment `env` send over DPV to `correspondence` (an `efm
/// correspondence serve` taking this network's broker's tokens), and poll its
/// receipts every second.
pub fn with_dpv(env: &mut Vec<(String, String)>, correspondence: &LocalService) {
    let enabled = env.iter().find(|(k, _)| k == "EFM_ENABLE").map(|(_, v)| v.clone());
    env.retain(|(k, _)| k != "EFM_ENABLE");
    let enabled = match enabled.filter(|e| !e.is_empty()) {
        Some(e) => format!("{e},DPV"),
        None => "DPV".to_owned(),
    };
    env.push(("EFM_ENABLE".into(), enabled));
    env.push(("EFM_DPV_URL".into(), format!("{}/correspondence/api/v1", correspondence.url)));
    env.push(("EFM_RECEIPT_POLL_MIN".into(), "1s".into()));
}

/// The KS FIKS work-alike (SvarUt and SvarInn) for DPF, in its own folder.
pub struct Fiks {
    pub service: LocalService,
    pub dir: PathBuf,
}

/// The SvarUt and SvarInn user names and password the nodes log in with.
pub const FIKS_PASSWORD: &str = "fiks-secret";

impl Fiks {
    /// `efm fiks serve` with `args` added.
    pub fn start(args: &[&str]) -> Fiks {
        let dir = temp("fiks");
        Fiks { service: LocalService::fiks(&dir, args), dir }
    }

    /// A node's environment changed to send and receive DPF through this FIKS: its
    /// URLs and credentials (the user name is the org, as SvarInn's inbox), and DPF
    /// among the enabled services.
    pub fn wire(&self, env: &mut Vec<(String, String)>) {
        let org = env.iter().find(|(k, _)| k == "EFM_ORG").map(|(_, v)| v.clone());
        let org = org.unwrap_or_default();
        for (k, v) in env.iter_mut() {
            if k == "EFM_ENABLE" && !v.split(',').any(|s| s == "DPF") {
                v.push_str(",DPF");
            }
        }
        let url = &self.service.url;
        env.extend([
            ("EFM_SVARUT_URL".to_owned(), format!("{url}/svarut")),
            ("EFM_SVARUT_USERNAME".to_owned(), org.clone()),
            ("EFM_SVARUT_PASSWORD".to_owned(), FIKS_PASSWORD.to_owned()),
            ("EFM_SVARINN_URL".to_owned(), format!("{url}/tjenester/svarinn")),
            ("EFM_SVARINN_USERNAME".to_owned(), org),
            ("EFM_SVARINN_PASSWORD".to_owned(), FIKS_PASSWORD.to_owned()),
            ("EFM_RECEIPT_POLL_MIN".to_owned(), "1s".to_owned()),
        ]);
    }

    pub fn requests(&self) -> Vec<crate::recording::Recorded> {
        crate::recording::read(&self.dir)
    }

    /// Offer a forsendelse on SvarInn: its listing JSON, and its documents as a zip
    /// (encrypted on download to `certs/<mottaker>.pem`), or as `cms` already
    /// encrypted.
    pub fn offer(&self, forsendelse: &Value, zip: Option<&[u8]>, cms: Option<&[u8]>) {
        let id = forsendelse["id"].as_str().expect("a forsendelse id");
        let folder = self.dir.join("svarinn").join(id);
        std::fs::create_dir_all(&folder).expect("svarinn folder");
        if let Some(zip) = zip {
            std::fs::write(folder.join("dokumenter.zip"), zip).expect("zip");
        }
        if let Some(cms) = cms {
            std::fs::write(folder.join("dokumenter.zip.cms"), cms).expect("cms");
        }
        // The listing last: the forsendelse is complete once it is listed.
        std::fs::write(folder.join("forsendelse.json"), forsendelse.to_string()).expect("json");
    }

    /// The certificate SvarInn encrypts to for `org`.
    pub fn add_certificate(&self, org: &str, pem: &[u8]) {
        std::fs::write(self.dir.join("certs").join(format!("{org}.pem")), pem).expect("cert");
    }

    /// Whether forsendelse `id` was acknowledged (kvitterMottak).
    pub fn acknowledged(&self, id: &str) -> bool {
        self.dir.join("svarinn").join(id).join("kvittert").exists()
    }
}

/// A new SBD from `from` to `to`, with a fresh messageId (returned) and
/// conversationId.
pub fn sbd(
    from: &str,
    to: &str,
    process: &str,
    standard: &str,
    kind: &str,
    body: Value,
) -> (String, Value) {
    let message_id = random_uuid();
    let party = |org: &str| json!([{ "identifier": { "authority": "iso6523-actorid-upis", "value": format!("0192:{org}") } }]);
    let sbd = json!({
        "standardBusinessDocumentHeader": {
            "businessScope": { "scope": [{
                "identifier": process,
                "instanceIdentifier": random_uuid(),
                "type": "ConversationId"
            }]},
            "documentIdentification": {
                "instanceIdentifier": message_id,
                "standard": standard,
                "type": kind,
                "typeVersion": "2.0"
            },
            "headerVersion": "1.0",
            "receiver": party(to),
            "sender": party(from)
        },
        kind: body
    });
    (message_id, sbd)
}

pub fn ok(r: &Reply, what: &str) {
    assert!(r.status < 300, "{what}: {} {}", r.status, String::from_utf8_lossy(&r.body));
}

pub fn create(addr: &str, sbd: &Value) -> Reply {
    request(
        addr,
        "POST",
        "/api/messages/out",
        AUTH,
        Some("application/json"),
        sbd.to_string().as_bytes(),
    )
}

pub fn upload(addr: &str, id: &str, name: &str, mime: &str, body: &[u8]) -> Reply {
    request_with(
        addr,
        "PUT",
        &format!("/api/messages/out/{id}"),
        AUTH,
        &[
            ("Content-Type", mime),
            ("Content-Disposition", &format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
}

pub fn send(addr: &str, id: &str) -> Reply {
    request(addr, "POST", &format!("/api/messages/out/{id}"), AUTH, None, b"")
}

/// The statuses a node recorded for a message, oldest first.
pub fn statuses(addr: &str, id: &str) -> Vec<String> {
    let r =
        request(addr, "GET", &format!("/api/statuses?messageId={id}&size=100"), AUTH, None, b"");
    ok(&r, "statuses");
    r.json()["content"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["status"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Peek the next incoming message: its messageId, or none (204).
pub fn peek(addr: &str) -> Option<String> {
    let r = request(addr, "GET", "/api/messages/in/peek", AUTH, None, b"");
    if r.status == 204 {
        return None;
    }
    ok(&r, "peek");
    r.json()["standardBusinessDocumentHeader"]["documentIdentification"]["instanceIdentifier"]
        .as_str()
        .map(str::to_owned)
}

/// Pop a peeked message: the ASiC-E's bytes (empty for a message without files).
pub fn pop(addr: &str, id: &str) -> Vec<u8> {
    let r = request(addr, "GET", &format!("/api/messages/in/pop/{id}"), AUTH, None, b"");
    ok(&r, "pop");
    if r.status == 204 { Vec::new() } else { r.dechunked().unwrap_or_else(|| r.body.clone()) }
}

pub fn delete(addr: &str, id: &str) -> Reply {
    request(addr, "DELETE", &format!("/api/messages/in/{id}"), AUTH, None, b"")
}

/// Wait until `check` holds, polling; panics with `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The documents in an ASiC-E by name (META-INF and mimetype left out), read with
/// `unzip`: an independent reader.
pub fn asic_files(asic: &[u8]) -> Vec<(String, Vec<u8>)> {
    let dir = temp("asic");
    let zip = dir.join("m.asice");
    std::fs::write(&zip, asic).expect("write ASiC");
    let out = std::process::Command::new("unzip")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(dir.join("x"))
        .output()
        .expect("unzip runs");
    assert!(out.status.success(), "unzip: {}", String::from_utf8_lossy(&out.stderr));
    let mut files = Vec::new();
    collect(&dir.join("x"), &dir.join("x"), &mut files);
    files
}

fn collect(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, out);
        } else {
            let name = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            if !name.starts_with("META-INF") && name != "mimetype" {
                out.push((name, std::fs::read(&p).expect("read file")));
            }
        }
    }
}
