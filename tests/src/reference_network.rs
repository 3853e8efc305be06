//! A local eFormidling network made of the reference's own test material, for the
//! cucumber conformance suites: the registry serves the reference's recorded answers
//! (`service-registry/`, copied to a temporary folder at test time), every node's key
//! is its entry in the reference's test keystore (`keys/cucumber.p12`, whose
//! certificates those answers carry), and the broker and Service Bus work-alikes
//! record what they receive.
//!
//! Also the other side of a scenario: packaging a message as a remote integration
//! point would and handing it to the broker or the Service Bus, and opening what a
//! node sent with openssl and the receiver's key from the keystore.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::http::{Reply, request_with};
use crate::keys::run;
use crate::network::{Services, temp};
use crate::recording::{self, Recorded};
use crate::server::{LocalRegistry, LocalService, Served};

/// The reference keystore's password (its README).
pub const PASSWORD: &str = "changeit";
/// The Altinn resource DPO runs under.
pub const DPO_RESOURCE: &str = "eformidling-dpo-meldingsutveksling";
/// Well formed; the Service Bus work-alike checks signatures only when asked to.
const ANY_SAS: &str =
    "SharedAccessSignature sr=http%3A%2F%2Fx&sig=c2ln&se=1&skn=MoveDPE-pilotPolicy";

pub struct ReferenceNetwork {
    pub services: Services,
    /// The registry's folder (a copy: tests may change its answers).
    pub registry_dir: PathBuf,
    pub broker_dir: PathBuf,
    pub bus_dir: PathBuf,
    keystore: PathBuf,
    /// Keys and certificates taken out of the keystore, as PEM, by alias.
    pem_dir: PathBuf,
}

/// How a packaged message is wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrapping {
    /// DPO's `sbd.zip` (sbd.json and the CMS as asic.zip), RSAES-OAEP key transport.
    DpoParcel,
    /// DPE's bare CMS, RSA PKCS#1 v1.5 key transport.
    DpeCms,
}

impl ReferenceNetwork {
    /// The registry on a copy of `<reference>/service-registry`, a broker and a Service
    /// Bus, each in a fresh folder.
    pub fn start(reference: &Path) -> ReferenceNetwork {
        let registry = temp("ref-registry");
        copy_dir(&reference.join("service-registry"), &registry);
        let broker_dir = temp("ref-broker");
        let bus_dir = temp("ref-bus");
        let services = Services::of(
            LocalRegistry::start(&registry),
            LocalService::broker(&broker_dir, &[]),
            LocalService::service_bus(&bus_dir, &[]),
        );
        ReferenceNetwork {
            services,
            registry_dir: registry,
            broker_dir,
            bus_dir,
            keystore: reference.join("keys/cucumber.p12"),
            pem_dir: temp("ref-pem"),
        }
    }

    /// `efm serve` as organisation `org` (its key: the keystore entry of that name),
    /// reading its `dpe_mode` Service Bus queue.
    pub fn node(&self, org: &str, dpe_mode: &str, runtime: &str) -> Served {
        self.node_with(org, dpe_mode, runtime, |_| {})
    }

    /// As [`node`](Self::node), with its environment changed by `edit` first.
    pub fn node_with(
        &self,
        org: &str,
        dpe_mode: &str,
        runtime: &str,
        edit: impl FnOnce(&mut Vec<(String, String)>),
    ) -> Served {
        let mut env = self.services.env_for(org, &self.keystore, Some(org), dpe_mode, runtime);
        edit(&mut env);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Served::start(&temp(&format!("node-{org}")), &env)
    }

    pub fn dpi_requests(&self) -> Vec<Recorded> {
        recording::read(&self.services.dpi_dir)
    }

    /// Every DPI record of the registry's answers gets `cert` (PEM) as its mailbox
    /// provider's certificate: the recorded ones name a provider whose key the
    /// reference material lacks, so nothing sent to it could be opened here.
    pub fn use_dpi_provider(&self, cert: &str) {
        let dir = self.registry_dir.join("identifier");
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = e.expect("folder entry").path();
            let text = std::fs::read_to_string(&path).expect("registry answer");
            let Ok(mut answer) = serde_json::from_str::<Value>(&text) else { continue };
            let mut changed = false;
            if let Some(records) = answer["serviceRecords"].as_array_mut() {
                for r in records.iter_mut().filter(|r| r["service"]["identifier"] == "DPI") {
                    r["pemCertificate"] = Value::from(cert);
                    changed = true;
                }
            }
            if changed {
                std::fs::write(&path, serde_json::to_vec_pretty(&answer).expect("JSON"))
                    .expect("write registry answer");
            }
        }
    }

    pub fn broker_requests(&self) -> Vec<Recorded> {
        recording::read(&self.broker_dir)
    }

    pub fn bus_requests(&self) -> Vec<Recorded> {
        recording::read(&self.bus_dir)
    }

    /// The private key and certificate of keystore entry `alias`, as PEM files.
    pub fn pem(&self, alias: &str) -> (PathBuf, PathBuf) {
        let key = self.pem_dir.join(format!("{alias}.key.pem"));
        let cert = self.pem_dir.join(format!("{alias}.cert.pem"));
        if key.exists() && cert.exists() {
            return (key, cert);
        }
        let out = run(Command::new("openssl")
            .args(["pkcs12", "-nodes", "-passin"])
            .arg(format!("pass:{PASSWORD}"))
            .arg("-in")
            .arg(&self.keystore));
        let text = String::from_utf8_lossy(&out);
        let block = |kind: &str| {
            entry_block(&text, alias, kind).unwrap_or_else(|| {
                panic!("{}: no {kind} for alias {alias}", self.keystore.display())
            })
        };
        std::fs::write(&key, block("PRIVATE KEY")).expect("write key");
        std::fs::write(&cert, block("CERTIFICATE")).expect("write certificate");
        (key, cert)
    }

    /// Decrypt a CMS enveloped for keystore entry `alias` with openssl: an
    /// implementation independent of ours.
    pub fn decrypt(&self, cms: &[u8], alias: &str) -> Vec<u8> {
        let (key, cert) = self.pem(alias);
        let dir = temp("decrypt");
        let (input, output) = (dir.join("in.cms"), dir.join("out.bin"));
        std::fs::write(&input, cms).expect("write CMS");
        run(Command::new("openssl")
            .args(["cms", "-decrypt", "-binary", "-inform", "DER", "-in"])
            .arg(&input)
            .arg("-inkey")
            .arg(&key)
            .arg("-recip")
            .arg(&cert)
            .arg("-out")
            .arg(&output));
        std::fs::read(&output).expect("decrypted ASiC")
    }

    /// `sbd` and `files` (the first is the primary document) as integration point
    /// `from` would send them to `to`: an ASiC-E signed with `from`'s key, encrypted to
    /// `to`'s certificate, wrapped as `wrapping` says. `efm package` plays the remote
    /// integration point; what the node under test does with it is what is tested.
    pub fn package(
        &self,
        sbd: &Value,
        files: &[(String, Vec<u8>)],
        from: &str,
        to: &str,
        wrapping: Wrapping,
    ) -> Vec<u8> {
        let dir = temp("package");
        let sbd_file = dir.join("sbd.json");
        std::fs::write(&sbd_file, sbd.to_string()).expect("write SBD");
        let docs = dir.join("docs");
        std::fs::create_dir_all(&docs).expect("docs folder");
        let out = dir.join("out");
        let (_, to_cert) = self.pem(to);
        let mut cmd = Command::new(crate::efm_bin());
        cmd.arg("package")
            .arg("--sbd")
            .arg(&sbd_file)
            .arg("--keystore")
            .arg(&self.keystore)
            .args(["--password", PASSWORD, "--alias", from, "--to-cert"])
            .arg(&to_cert)
            .arg("--out")
            .arg(&out);
        match wrapping {
            Wrapping::DpoParcel => cmd.arg("--dpo-parcel"),
            Wrapping::DpeCms => cmd.args(["--key-transport", "pkcs1"]),
        };
        if let Some((primary, _)) = files.first() {
            cmd.args(["--primary", primary]);
        }
        for (name, content) in files {
            let path = docs.join(name);
            std::fs::write(&path, content).expect("write document");
            cmd.arg(path);
        }
        run(&mut cmd);
        std::fs::read(&out).expect("packaged message")
    }

    /// An Altinn token for `org`, as its integration point gets one: a Maskinporten
    /// grant (the work-alike does not check its signature), then the exchange.
    pub fn altinn_token(&self, org: &str) -> String {
        let addr = &self.services.broker.addr;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let claims = json!({"aud": "https://test.maskinporten.no/", "iss": format!("MOVE_IP_{org}"),
            "scope": "altinn:broker.write altinn:broker.read", "iat": now, "exp": now + 120, "jti": "1"});
        let header = efm_core::jose::b64url(br#"{"alg":"RS256"}"#);
        let grant = format!(
            "{header}.{}.c2lnbmF0dXJl",
            efm_core::jose::b64url(claims.to_string().as_bytes())
        );
        let form = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={grant}"
        );
        let ct = [("Content-Type", "application/x-www-form-urlencoded")];
        let r = request_with(addr, "POST", "/maskinporten/token", None, &ct, form.as_bytes());
        let token = expect_ok(&r, "Maskinporten token").json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        let auth = format!("Bearer {token}");
        let r = request_with(
            addr,
            "GET",
            "/authentication/api/v1/exchange/maskinporten",
            None,
            &[("Authorization", &auth)],
            b"",
        );
        String::from_utf8(expect_ok(&r, "Altinn exchange").body.clone()).expect("token text")
    }

    /// Publish `parcel` from `from` to `to` on the broker as the reference's client
    /// does (initiate, then upload); the file transfer id.
    pub fn broker_send(&self, from: &str, to: &str, parcel: &[u8]) -> String {
        let addr = &self.services.broker.addr;
        let auth = format!("Bearer {}", self.altinn_token(from));
        let initiate = json!({
            "fileName": "sbd.zip", "resourceId": DPO_RESOURCE,
            "sendersFileTransferReference": crate::network::random_uuid(),
            "sender": format!("0192:{from}"), "recipients": [format!("0192:{to}")],
            "propertyList": {}, "checksum": null, "disableVirusScan": null
        });
        let h = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
        let r = request_with(
            addr,
            "POST",
            "/broker/api/v1/filetransfer/",
            None,
            &h,
            initiate.to_string().as_bytes(),
        );
        let id = expect_ok(&r, "broker initiate").json()["fileTransferId"]
            .as_str()
            .expect("fileTransferId")
            .to_owned();
        let h = [("Authorization", auth.as_str()), ("Content-Type", "application/octet-stream")];
        let target = format!("/broker/api/v1/filetransfer/{id}/upload");
        expect_ok(&request_with(addr, "POST", &target, None, &h, parcel), "broker upload");
        id
    }

    /// Put a DPE payload (`{"sbd": …, "asic": …}`) on `queue`.
    pub fn bus_send(&self, queue: &str, payload: &[u8]) {
        let h = [
            ("Authorization", ANY_SAS),
            ("BrokerProperties", "{}"),
            ("Content-Type", "application/octet-stream"),
        ];
        let target = format!("/{queue}/messages");
        let r = request_with(&self.services.bus.addr, "POST", &target, None, &h, payload);
        expect_ok(&r, "Service Bus send");
    }
}

fn expect_ok<'a>(r: &'a Reply, what: &str) -> &'a Reply {
    assert!(r.status < 300, "{what}: {} {}", r.status, String::from_utf8_lossy(&r.body));
    r
}

/// The PEM block of `kind` that follows `friendlyName: <alias>` in `openssl pkcs12`'s
/// listing.
fn entry_block(listing: &str, alias: &str, kind: &str) -> Option<String> {
    let begin = format!("-----BEGIN {kind}-----");
    let end = format!("-----END {kind}-----");
    let mut rest = listing;
    loop {
        let at = rest.find("friendlyName: ")?;
        rest = &rest[at + "friendlyName: ".len()..];
        let name = rest.lines().next().unwrap_or_default().trim();
        let next_entry = rest.find("Bag Attributes").unwrap_or(rest.len());
        let Some(b) = rest[..next_entry].find(&begin) else { continue };
        if name != alias {
            continue;
        }
        let e = rest[b..].find(&end)? + b + end.len();
        return Some(format!("{}\n", &rest[b..e]));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let e = e.expect("folder entry");
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy file");
        }
    }
}

/// The entries of a zip in their order, read with Info-ZIP's `unzip` (an
/// implementation independent of ours).
pub fn zip_entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let dir = temp("zip");
    let path = dir.join("f.zip");
    std::fs::write(&path, zip).expect("write zip");
    let names = run(Command::new("unzip").arg("-Z1").arg(&path));
    String::from_utf8_lossy(&names)
        .lines()
        .filter(|n| !n.ends_with('/'))
        .map(|n| (n.to_owned(), run(Command::new("unzip").arg("-p").arg(&path).arg(n))))
        .collect()
}

/// A document in an ASiC-E: its name, the media type META-INF/manifest.xml gives it,
/// and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub name: String,
    pub mime: Option<String>,
    pub content: Vec<u8>,
}

/// The documents of an ASiC-E in container order (the `mimetype` and META-INF entries
/// left out), with their media types from META-INF/manifest.xml, as the reference's
/// AsicParser reads them.
pub fn asic_documents(asic: &[u8]) -> Vec<Document> {
    let entries = zip_entries(asic);
    let manifest = entries
        .iter()
        .find(|(n, _)| n == "META-INF/manifest.xml")
        .map(|(_, c)| String::from_utf8_lossy(c).into_owned())
        .unwrap_or_default();
    entries
        .into_iter()
        .filter(|(n, _)| n != "mimetype" && !n.starts_with("META-INF/"))
        .map(|(name, content)| Document { mime: media_type(&manifest, &name), name, content })
        .collect()
}

/// The `manifest:media-type` of the `manifest:file-entry` for `path`.
fn media_type(manifest: &str, path: &str) -> Option<String> {
    let attr = |entry: &str, name: &str| {
        let key = format!("{name}=\"");
        let at = entry.find(&key)? + key.len();
        entry[at..].split('"').next().map(str::to_owned)
    };
    manifest
        .split("<manifest:file-entry")
        .skip(1)
        .find(|e| attr(e, "manifest:full-path").as_deref() == Some(path))
        .and_then(|e| attr(e, "manifest:media-type"))
}
