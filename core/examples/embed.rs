//! A minimal host for efm-core, without either runtime: the store is a map, the
//! registry a canned answer, the network a print. It creates a message, adds a file,
//! sends it, and seals the file the way it travels (ASiC-E in CMS) for the receiver.
//!
//! Run: `cargo run -p efm-core --example embed -- KEY.pem CERT.pem [OUT.cms]` (an RSA
//! key and its certificate, used here as both ours and the receiver's; the sealed
//! message is written to OUT.cms when given).

// This file is the host, not core: it is where the clock and the randomness come from.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::HashMap;

use bytes::Bytes;
use efm_core::Timestamp;
use efm_core::crypto::cert::Certificate;
use efm_core::crypto::envelope_write::CmsEncryptor;
use efm_core::crypto::key_unwrap::KeyTransport;
use efm_core::crypto::keys::{Identity, PrivateKey};
use efm_core::ids::MessageId;
use efm_core::node::{
    ApiCall, ApiResponse, CallId, Config, HttpResponse, Input, JobError, Loaded, Node,
    OutgoingMessage, Output, Query, StoreError, Upload, Write,
};
use efm_core::package::asic::AsicWriter;
use efm_core::package::dos_time::DosDateTime;
use efm_core::package::pipeline::Sealer;
use efm_core::registry::model::ServiceIdentifier;

const MESSAGE: &str = "5a0f3e7c-2d4b-4e8f-9c1a-7b6d5e4f3a21";
const SBD: &str = r#"{"standardBusinessDocumentHeader": {"headerVersion": "1.0",
  "receiver": [{"identifier": {"value": "0192:123456785", "authority": "iso6523-actorid-upis"}}],
  "documentIdentification": {"standard": "urn:no:difi:arkivmelding:xsd::arkivmelding", "typeVersion": "2.0",
    "instanceIdentifier": "5a0f3e7c-2d4b-4e8f-9c1a-7b6d5e4f3a21", "type": "arkivmelding"},
  "businessScope": {"scope": [{"type": "ConversationId",
    "identifier": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0"}]}},
  "arkivmelding": {"hoveddokument": "vedtak.pdf"}}"#;
const ARKIVMELDING: &str = r#"<arkivmelding xmlns="http://www.arkivverket.no/standarder/noark5/arkivmelding"><mappe>
  <basisregistrering><dokumentbeskrivelse><dokumentobjekt><referanseDokumentfil>vedtak.pdf</referanseDokumentfil>
  </dokumentobjekt></dokumentbeskrivelse></basisregistrering></mappe></arkivmelding>"#;
const REGISTRY_ANSWER: &str = r#"{"serviceRecords": [{"process": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0",
  "documentTypes": ["urn:no:difi:arkivmelding:xsd::arkivmelding"], "service": {"identifier": "DPO"}}]}"#;

/// The host's whole world: a clock, a map for a store, files kept in memory.
struct Host {
    node: Node,
    messages: HashMap<MessageId, OutgoingMessage>,
    contents: HashMap<(MessageId, String), Vec<u8>>,
    next_call: u64,
}

fn now() -> Timestamp {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    Timestamp::from_unix_millis(since.map_or(0, |d| d.as_millis() as i64))
}

fn unserved(what: impl std::fmt::Debug) -> StoreError {
    StoreError::Unavailable(format!("this host does not serve {what:?}"))
}

impl Host {
    /// One API call: feed it, then carry out every output until the node is idle.
    fn call(&mut self, call: ApiCall) -> ApiResponse {
        self.next_call += 1;
        let id = CallId(self.next_call);
        self.node.handle_input(Input::Api(id, call), now());
        let mut answer = None;
        loop {
            let input = match self.node.poll_output() {
                Output::Idle { .. } => break,
                Output::Respond(call, r) if call == id => {
                    answer = Some(r);
                    continue;
                }
                Output::Respond(..) | Output::Status(_) | Output::Notice(_) | Output::Mail(_) => {
                    continue;
                }
                Output::Job(job, _) => Input::JobDone(job, Err(JobError::Io("no payloads".into()))),
                Output::Http(req, http) => {
                    println!("  node asks: GET {}", http.url);
                    let body = Bytes::from_static(REGISTRY_ANSWER.as_bytes());
                    Input::Http(req, Ok(HttpResponse { status: 200, headers: vec![], body }))
                }
                Output::Load(load, q) => Input::Loaded(load, self.load(&q)),
                Output::Persist(write, w) => Input::Persisted(write, self.persist(w)),
            };
            self.node.handle_input(input, now());
        }
        answer.expect("every call is answered")
    }

    fn load(&self, q: &Query) -> Result<Loaded, StoreError> {
        Ok(match q {
            Query::OutgoingMessage(id) => {
                Loaded::OutgoingMessage(self.messages.get(id).cloned().map(Box::new))
            }
            Query::FileContent { message_id, filename } => {
                let content = self.contents.get(&(*message_id, filename.clone()));
                Loaded::FileContent(content.map(|c| Bytes::from(c.clone())))
            }
            other => return Err(unserved(other)),
        })
    }

    fn persist(&mut self, w: Write) -> Result<(), StoreError> {
        match w {
            Write::CreateOutgoing { message, status } => {
                self.messages.insert(status.message_id, *message);
            }
            Write::AddFile { message_id: id, file, content, .. } => {
                self.contents.insert((id, file.filename.clone()), content.to_vec());
                self.messages.get_mut(&id).ok_or(StoreError::Conflict)?.files.push(file);
            }
            Write::QueueOutgoing { message_id: id, at } => {
                self.messages.get_mut(&id).ok_or(StoreError::Conflict)?.queued = Some(at);
            }
            other => return Err(unserved(other)),
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (key_path, cert_path, out_path) = match args.as_slice() {
        [k, c] => (k, c, None),
        [k, c, o] => (k, c, Some(o)),
        _ => return Err("usage: embed KEY.pem CERT.pem [OUT.cms]".into()),
    };
    let rng = ring::rand::SystemRandom::new();
    let mut seed = [0u8; 32];
    ring::rand::SecureRandom::fill(&rng, &mut seed).map_err(|_| "no randomness")?;
    let mut config = Config::new("987654321");
    config.enabled_services = vec![ServiceIdentifier::Dpo];
    let node = Node::new(config, seed, now());
    let (messages, contents) = (HashMap::new(), HashMap::new());
    let mut host = Host { node, messages, contents, next_call: 0 };

    let created = host.call(ApiCall::CreateMessage { body: SBD.as_bytes().to_vec().into() });
    println!(
        "create: {}",
        if matches!(created, ApiResponse::Json(_)) { "created" } else { "refused" }
    );
    let message = efm_core::api::MessageRef::Id(MESSAGE.parse()?);
    // The document, and the archive metadata an arkivmelding carries, naming it.
    let files = [
        ("vedtak.pdf", "application/pdf", &b"%PDF-1.7 a decision"[..]),
        ("arkivmelding.xml", "application/xml", ARKIVMELDING.as_bytes()),
    ];
    for (filename, mime, content) in files {
        let upload = Upload {
            filename: filename.into(),
            title: None,
            mime: mime.into(),
            content: content.to_vec().into(),
        };
        println!(
            "upload {filename}: {:?}",
            host.call(ApiCall::UploadFile { message: message.clone(), upload })
        );
    }
    println!("send: {:?}", host.call(ApiCall::SendMessage { message }));

    // Seal what was queued: ASiC-E, signed with our key, encrypted to the receiver.
    let key = PrivateKey::from_pem(&std::fs::read(key_path)?)?;
    let certs = Certificate::from_pem(&std::fs::read(cert_path)?)?;
    let receiver = certs.first().ok_or("no certificate")?.clone();
    let me = Identity::from_unordered(key, certs)?;
    let asic = AsicWriter::new(None, DosDateTime::from_timestamp(now()))?;
    let cms = CmsEncryptor::new(&receiver, KeyTransport::RsaOaepSha256, &rng)?;
    let mut sealer = Sealer::new(asic, cms);
    let (mut sealed, mut out) = (Vec::new(), vec![0u8; 64 * 1024]);
    for ((id, name), content) in &host.contents {
        let stored = host.messages[id]
            .files
            .iter()
            .find(|f| &f.filename == name)
            .ok_or("file without record")?;
        sealer.start_file(name, &stored.mime)?;
        let mut rest = content.as_slice();
        while !rest.is_empty() {
            let p = sealer.write(rest, &mut out)?;
            sealed.extend_from_slice(&out[..p.written]);
            rest = &rest[p.consumed..];
        }
        sealer.finish_file()?;
    }
    let signature_id = uuid::Uuid::from_bytes(seed[..16].try_into()?);
    sealer.finish(&me, signature_id, now(), Some("vedtak.pdf"))?;
    while !sealer.is_done() {
        let n = sealer.flush(&mut out)?;
        sealed.extend_from_slice(&out[..n]);
    }
    // The network stand-in: a transport would upload these bytes to the broker.
    println!("sealed: {} bytes of CMS EnvelopedData, ready for the message service", sealed.len());
    if let Some(path) = out_path {
        std::fs::write(path, &sealed)?;
    }
    Ok(())
}
