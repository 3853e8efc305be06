//! Conformance with the reference's REST docs (`api/eformidling2-api-restdocs.txt` in
//! `../shared/reference`): every documented example is replayed against real
//! `efm serve` nodes on loopback, once per runtime, and each answer must have the
//! documented status code and the documented JSON shape (the same keys,
//! recursively, with the same JSON types; values are compared only where they are
//! names a client branches on: statuses, services, directions, error classes).
//!
//! The examples name organisation 910077473 sending to 910075918, so node A is
//! 910077473 and node B 910075918, exchanging over the local broker (DPO) and
//! Service Bus (DPE); the registry also knows the capability examples' 987654321
//! and the person 01017012345. Before the replay, real exchanges seed what the
//! examples read: messages A sent (statuses, conversations), messages B received
//! (incoming), messages A created and did not send (outgoing), and webhook
//! subscriptions. Each example's ids are then mapped onto the seeded ones, its
//! 2019 dates moved to the future, and every such adjustment is printed with the
//! example, as is each documented behaviour the running reference no longer has
//! (the page documents API 2.8.2). Examples that cannot be replayed would be in
//! `SKIPPED`, with the reason; none are.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use efm_tests::http::{Reply, request, request_with};
use efm_tests::keys::TestKey;
use efm_tests::network::{AUTH, Org, Services, ok, random_uuid, statuses, temp, upload, wait_for};
use efm_tests::restdocs::{DocRequest, DocResponse, Example, ShapeRules, parse, shape_diff};
use efm_tests::server::{LocalRegistry, LocalService, Served};
use serde_json::{Value, json};

const A: &str = "910077473";
const B: &str = "910075918";
const ORG_C: &str = "987654321";
const PERSON: &str = "01017012345";

const PLAN_PROCESS: &str = "urn:no:difi:profile:arkivmelding:planByggOgGeodata:ver1.0";
const ARKIVMELDING_RESPONSE_PROCESS: &str = "urn:no:difi:profile:arkivmelding:response:ver1.0";
const INNSYNSKRAV_PROCESS: &str = "urn:no:difi:profile:einnsyn:innsynskrav:ver1.0";
const JOURNALPOST_PROCESS: &str = "urn:no:difi:profile:einnsyn:journalpost:ver1.0";
const DIGITAL_INFO_PROCESS: &str = "urn:no:difi:profile:digitalpost:info:ver1.0";
const DIGITAL_VEDTAK_PROCESS: &str = "urn:no:difi:profile:digitalpost:vedtak:ver1.0";
/// The process the capability examples filter on.
const ADMIN_PROCESS: &str = "admin-process";

const ARKIVMELDING: &str = "urn:no:difi:arkivmelding:xsd::arkivmelding";
const INNSYNSKRAV: &str = "urn:no:difi:einnsyn:xsd::innsynskrav";
const PUBLISERING: &str = "urn:no:difi:einnsyn:xsd::publisering";
const DIGITAL: &str = "urn:no:difi:digitalpost:xsd:digital::digital";
const DIGITAL_DPV: &str = "urn:no:difi:digitalpost:xsd:digital::digital_dpv";
const PRINT: &str = "urn:no:difi:digitalpost:xsd:fysisk::print";

/// The examples on the page, and their "Request" and "Response" blocks; a change to
/// the page shows here first.
const EXAMPLES: usize = 62;
const REQUESTS: usize = 54;
const RESPONSES: usize = 60;

/// The examples that are not replayed, and why: none at present. An entry names an
/// example by its title.
const SKIPPED: &[(&str, &str)] = &[];

/// The reference's `ReceiptStatus` names.
const STATUSES: &[&str] = &[
    "OPPRETTET",
    "SENDT",
    "MOTTATT",
    "LEVERT",
    "LEST",
    "FEIL",
    "ANNET",
    "INNKOMMENDE_MOTTATT",
    "INNKOMMENDE_LEVERT",
    "LEVETID_UTLOPT",
];
const SERVICES: &[&str] = &["DPO", "DPV", "DPI", "DPF", "DPFIO", "DPE", "DPH", "UNKNOWN"];
const DIRECTIONS: &[&str] = &["INCOMING", "OUTGOING"];

#[test]
fn conformance_restdocs_blocking() {
    replay_all("blocking");
}

#[test]
fn conformance_restdocs_async() {
    replay_all("async");
}

fn replay_all(runtime: &str) {
    let Some(reference) = efm_tests::reference_dir() else {
        println!("NOT RUN: ../shared/reference absent");
        return;
    };
    let text = std::fs::read_to_string(reference.join("api/eformidling2-api-restdocs.txt"))
        .expect("the REST docs");
    let examples = parse(&text).unwrap_or_else(|e| panic!("the REST docs do not parse: {e}"));
    assert_eq!(examples.len(), EXAMPLES, "examples on the page");
    let requests = examples.iter().filter(|e| e.request.is_some()).count();
    let responses = examples.iter().filter(|e| e.response.is_some()).count();
    assert_eq!((requests, responses), (REQUESTS, RESPONSES), "request and response blocks");
    for ex in &examples {
        let json_declared = |t: Option<&str>| t.is_some_and(|t| t.contains("application/json"));
        if let Some(r) = &ex.response {
            let declared = json_declared(r.header("content-type"));
            assert_eq!(declared, r.json().is_some(), "{}: a JSON body iff declared", ex.title());
        }
        if let Some(r) = &ex.request {
            let declared = json_declared(r.header("content-type"));
            assert_eq!(declared, r.json().is_some(), "{}: a JSON body iff declared", ex.title());
        }
    }
    for (title, _) in SKIPPED {
        assert!(
            examples.iter().any(|e| e.title() == *title),
            "skip entry {title:?} names no example"
        );
    }

    let net = Network::start(runtime);
    let mut state = State::seed(&net, &examples);
    let mut report = Report::default();
    for ex in &examples {
        let title = ex.title();
        if let Some((_, reason)) = SKIPPED.iter().find(|(t, _)| *t == title) {
            report.outcomes.push((title, Outcome::Skipped(reason)));
            continue;
        }
        let outcome = match plan(ex, &net, &mut state) {
            Ok(Plan::Call(case)) => run(ex, &net, case),
            Ok(Plan::Push(case)) => check_push(ex, &net, case),
            Err(why) => Outcome::Mismatch { notes: Vec::new(), diffs: vec![why] },
        };
        report.outcomes.push((title, outcome));
    }
    report.print(runtime);
    let failed: Vec<&String> = report
        .outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Mismatch { .. }))
        .map(|(t, _)| t)
        .collect();
    assert!(failed.is_empty(), "{runtime}: examples that do not match: {failed:#?}");
}

// ---------------------------------------------------------------------------------
// The network.

#[derive(Clone, Copy, Debug)]
enum Side {
    A,
    B,
}

/// What a push endpoint was sent.
#[derive(Clone, Debug)]
struct Push {
    path: String,
    content_type: Option<String>,
    body: Value,
}

struct Network {
    node_a: Served,
    node_b: Served,
    /// `http://127.0.0.1:<port>`: webhook pushes land here.
    listener: String,
    pushes: Arc<Mutex<Vec<Push>>>,
    _services: Services,
}

impl Network {
    fn start(runtime: &str) -> Network {
        let org_a = Org::new(A, "innsyn");
        let org_b = Org::new(B, "data");
        let services = Services::of(
            LocalRegistry::start(&registry_dir(&org_a, &org_b)),
            LocalService::broker(&temp("broker"), &[]),
            LocalService::service_bus(&temp("bus"), &[]),
        );
        // The status queue is off by default, as in the reference
        // (`statusQueueIncludes` empty); the status peek examples need it on.
        let config = temp("config").join("efm.toml");
        std::fs::write(&config, "[messages]\nstatus_queue_includes = [\"DPO\", \"DPE\"]\n")
            .expect("efm.toml");
        let config = config.to_str().expect("a UTF-8 path");
        let node = |org: &Org, name: &str, enable: &str| {
            let mut env = services.node_env(org, runtime);
            env.retain(|(k, _)| k != "EFM_ENABLE");
            env.push(("EFM_ENABLE".into(), enable.into()));
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            Served::start_with_args(&temp(name), &env, &["--config", config])
        };
        // A creates the examples' DPI and DPV messages too (it never sends them: efm
        // cannot deliver over DPI or DPV yet); B has neither, for the example of a
        // service that is not enabled.
        let node_a = node(&org_a, "a", "DPO,DPE,DPI,DPV");
        let node_b = node(&org_b, "b", "DPO,DPE");
        let (listener, pushes) = push_listener();
        Network { node_a, node_b, listener, pushes, _services: services }
    }

    fn addr(&self, side: Side) -> &str {
        match side {
            Side::A => &self.node_a.addr,
            Side::B => &self.node_b.addr,
        }
    }
}

/// A loopback endpoint that answers 200 and records every push.
fn push_listener() -> (String, Arc<Mutex<Vec<Push>>>) {
    let seen: Arc<Mutex<Vec<Push>>> = Arc::default();
    let record = seen.clone();
    let handler = move |req: &http::Request<()>, body: &[u8]| {
        if let Ok(v) = serde_json::from_slice(body) {
            let content_type = req
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            record.lock().expect("push record").push(Push {
                path: req.uri().path().to_owned(),
                content_type,
                body: v,
            });
        }
        efm_blocking::http_server::response(200, "text/plain", Vec::new())
    };
    let server = efm_blocking::http_server::spawn(
        "127.0.0.1:0",
        efm_blocking::http_server::ServerConfig::default(),
        Arc::new(handler),
    )
    .expect("push listener");
    (format!("http://{}", server.local_addr()), seen)
}

/// A registry folder for the examples' parties: A and B reached over DPO
/// (arkivmelding), DPE (innsynskrav, publisering) and DPI (digital; for B also DPI
/// print and DPV, which the create examples address to it); 987654321 and the
/// person 01017012345 with the capability examples' processes.
fn registry_dir(org_a: &Org, org_b: &Org) -> std::path::PathBuf {
    let dir = temp("registry");
    let identifiers = dir.join("identifier");
    std::fs::create_dir_all(&identifiers).expect("registry folder");
    let pem = |key: &TestKey| std::fs::read_to_string(&key.cert_pem).expect("certificate");
    let record =
        |org: &str, pem: &str, process: &str, docs: &[&str], service: &str, endpoint: &str| {
            json!({
                "organisationNumber": org,
                "pemCertificate": pem,
                "process": process,
                "documentTypes": docs,
                "service": { "identifier": service, "endpointUrl": endpoint, "securityLevel": 3 }
            })
        };
    let write = |id: &str, entity: &str, records: Vec<Value>| {
        let answer = json!({
            "infoRecord": {
                "identifier": id,
                "organizationName": format!("Org {id}"),
                "entityType": { "name": entity }
            },
            "serviceRecords": records
        });
        std::fs::write(
            identifiers.join(format!("{id}.json")),
            serde_json::to_vec_pretty(&answer).expect("JSON"),
        )
        .expect("registry record");
    };
    for (org, mode) in [(org_a, "innsyn"), (org_b, "data")] {
        let (n, p) = (org.number, pem(&org.key));
        let mut records = vec![
            record(n, &p, PLAN_PROCESS, &[ARKIVMELDING], "DPO", ""),
            record(n, &p, INNSYNSKRAV_PROCESS, &[INNSYNSKRAV], "DPE", mode),
            record(n, &p, JOURNALPOST_PROCESS, &[PUBLISERING], "DPE", mode),
        ];
        records.push(record(n, &p, DIGITAL_INFO_PROCESS, &[DIGITAL], "DPI", ""));
        if org.number == B {
            records.push(record(n, &p, DIGITAL_INFO_PROCESS, &[DIGITAL_DPV], "DPV", ""));
            records.push(record(n, &p, DIGITAL_VEDTAK_PROCESS, &[PRINT], "DPI", ""));
        }
        write(n, "ORGL", records);
    }
    let other = TestKey::generate(ORG_C);
    let p = pem(&other);
    write(
        ORG_C,
        "ORGL",
        vec![
            record(ORG_C, &p, PLAN_PROCESS, &[ARKIVMELDING], "DPO", ""),
            record(
                ORG_C,
                &p,
                ARKIVMELDING_RESPONSE_PROCESS,
                &[
                    "urn:no:difi:arkivmelding:xsd::arkivmelding_kvittering",
                    "urn:no:difi:arkivmelding:xsd::status",
                    "urn:no:difi:arkivmelding:xsd::feil",
                ],
                "DPO",
                "",
            ),
            record(ORG_C, &p, ADMIN_PROCESS, &[ARKIVMELDING], "DPO", ""),
        ],
    );
    let address = json!({
        "name": "Kari Nordmann", "street": "Utsikten 1", "postalCode": "2900",
        "postalArea": "FJELLHEIMEN", "country": "Norway"
    });
    let person = |process: &str| {
        let mut r = record(PERSON, &p, process, &[DIGITAL], "DPI", "");
        r["postAddress"] = address.clone();
        r["returnAddress"] = address.clone();
        r
    };
    write(
        PERSON,
        "FNR",
        vec![person(DIGITAL_INFO_PROCESS), person(DIGITAL_VEDTAK_PROCESS), person(ADMIN_PROCESS)],
    );
    dir
}

// ---------------------------------------------------------------------------------
// Seeding: real exchanges first, so that the examples have something to read.

/// The seeded ids, and what earlier examples made that later ones use.
#[derive(Default)]
struct State {
    /// Publisering messages A sent and B received, oldest first.
    publisering: Vec<String>,
    /// Arkivmelding messages A sent and B received, oldest first.
    arkivmelding: Vec<String>,
    /// Arkivmelding messages A created and did not send.
    unsent: Vec<String>,
    /// The subscriptions A has, by the documented id they stand for.
    subscriptions: Vec<(&'static str, i64)>,
    /// The arkivmelding "Create message / Example 1" made.
    created: Option<String>,
    /// The arkivmelding B leased before the pop and delete examples.
    leased: Option<String>,
    /// The SBDs of the create examples, by type, for the examples without a body.
    templates: Vec<(&'static str, Value)>,
    /// The text the upload example sends.
    before_the_law: Vec<u8>,
}

/// The request body of the example titled `title`.
fn request_body(examples: &[Example], title: &str) -> Value {
    examples
        .iter()
        .find(|e| e.title() == title)
        .and_then(|e| e.request.as_ref())
        .and_then(DocRequest::json)
        .unwrap_or_else(|| panic!("the docs have a JSON request for {title:?}"))
}

/// An arkivmelding.xml for the examples' message: the project's example, its one
/// document the examples' `before_the_law.txt`. A DPO arkivmelding needs one (the
/// reference's `NextMoveValidator`: MissingArkivmeldingException without).
fn arkivmelding_xml() -> Vec<u8> {
    let xml =
        std::fs::read_to_string(efm_tests::workspace().join("examples/files/arkivmelding.xml"))
            .expect("examples/files/arkivmelding.xml");
    xml.replace("vedtak.pdf", "before_the_law.txt").into_bytes()
}

/// A month from now, as the examples write times.
fn future() -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let t = t.replace_nanosecond(0).expect("whole seconds");
    t.format(&time::format_description::well_known::Rfc3339).expect("RFC 3339")
}

/// `template` with a fresh messageId and conversationId and an expected response a
/// month away (the examples' 2019 dates have passed); returns the messageId.
fn fresh(template: &Value) -> (String, Value) {
    let mut sbd = template.clone();
    let id = random_uuid();
    let header = &mut sbd["standardBusinessDocumentHeader"];
    header["documentIdentification"]["instanceIdentifier"] = json!(id);
    let scope = &mut header["businessScope"]["scope"][0];
    scope["instanceIdentifier"] = json!(random_uuid());
    if let Some(info) = scope["scopeInformation"].get_mut(0) {
        info["expectedResponseDateTime"] = json!(future());
    }
    (id, sbd)
}

fn post_json(addr: &str, target: &str, body: &Value) -> Reply {
    request(addr, "POST", target, AUTH, Some("application/json"), body.to_string().as_bytes())
}

fn get(addr: &str, target: &str) -> Reply {
    request(addr, "GET", target, AUTH, None, b"")
}

fn has(addr: &str, id: &str, status: &str) -> bool {
    statuses(addr, id).iter().any(|s| s == status)
}

impl State {
    fn seed(net: &Network, examples: &[Example]) -> State {
        let (a, b) = (net.addr(Side::A), net.addr(Side::B));
        let mut st = State {
            before_the_law: examples
                .iter()
                .find(|e| e.title() == "Upload attachment")
                .and_then(|e| e.request.as_ref())
                .map(|r| r.body.clone().into_bytes())
                .expect("the upload example's text"),
            ..State::default()
        };
        for (kind, title) in [
            ("arkivmelding", "Create message / Example 1 - Creating an arkivmelding message"),
            ("digital", "Create message / Example 2 - Creating a DPI digital message"),
            ("publisering", "Create message / Example 6 - Creating a DPE publisering message"),
        ] {
            st.templates.push((kind, request_body(examples, title)));
        }
        let subscription =
            request_body(examples, "Create a subscription / Example 1 - Create a subscription");
        st.templates.push(("subscription", subscription.clone()));

        // Subscriptions first, so that every status of the seeding is pushed: one for
        // everything, and the two the list example shows (their name and endpoint
        // together must be unique, so each gets its own path).
        let every = json!({"name": "Every status", "pushEndpoint": format!("{}/push/every", net.listener),
            "resource": "all", "event": "all", "filter": "direction=INCOMING,OUTGOING"});
        ok(&post_json(a, "/api/subscriptions", &every), "subscribe");
        for (doc_id, filter) in [
            ("84", "status=INNKOMMENDE_MOTTAT&direction=INCOMING"),
            ("32", "status=FEIL,LEVETID_UTLOPT"),
        ] {
            let mut s = subscription.clone();
            s["pushEndpoint"] = json!(format!("{}/push/{doc_id}", net.listener));
            s["filter"] = json!(filter);
            let r = post_json(a, "/api/subscriptions", &s);
            ok(&r, "subscribe");
            st.subscriptions.push((doc_id, r.json()["id"].as_i64().expect("subscription id")));
        }

        // Two publisering first, one at a time so that B receives them in this
        // order, then three arkivmelding: peek takes the oldest, and the peek
        // examples show publisering.
        for _ in 0..2 {
            let (id, sbd) = fresh(st.template("publisering"));
            ok(&post_json(a, "/api/messages/out", &sbd), "create publisering");
            ok(&upload(a, &id, "journalpost.xml", "application/xml", b"<journalpost/>"), "upload");
            ok(&efm_tests::network::send(a, &id), "send publisering");
            wait_for(&format!("{id} received by B"), Duration::from_secs(30), || {
                has(b, &id, "INNKOMMENDE_MOTTATT")
            });
            st.publisering.push(id);
        }
        for _ in 0..3 {
            let (id, sbd) = fresh(st.template("arkivmelding"));
            ok(&post_json(a, "/api/messages/out", &sbd), "create arkivmelding");
            ok(&upload(a, &id, "before_the_law.txt", "text/plain", &st.before_the_law), "upload");
            ok(
                &upload(a, &id, "arkivmelding.xml", "application/xml", &arkivmelding_xml()),
                "upload",
            );
            ok(&efm_tests::network::send(a, &id), "send arkivmelding");
            st.arkivmelding.push(id);
        }
        for id in st.publisering.iter().chain(&st.arkivmelding) {
            wait_for(&format!("{id} received by B"), Duration::from_secs(30), || {
                has(b, id, "INNKOMMENDE_MOTTATT")
            });
            wait_for(&format!("{id} MOTTATT at A"), Duration::from_secs(30), || {
                has(a, id, "MOTTATT")
            });
        }
        // Outgoing messages live until they are sent: four created, not sent.
        for _ in 0..4 {
            let (id, sbd) = fresh(st.template("arkivmelding"));
            ok(&post_json(a, "/api/messages/out", &sbd), "create unsent");
            st.unsent.push(id);
        }
        st
    }

    fn template(&self, kind: &str) -> &Value {
        self.templates.iter().find(|(k, _)| *k == kind).map(|(_, v)| v).expect("a template")
    }

    fn subscription(&self, doc_id: &str) -> i64 {
        self.subscriptions.iter().find(|(d, _)| *d == doc_id).map(|(_, id)| *id).expect("seeded")
    }
}

// ---------------------------------------------------------------------------------
// Plans: what each example sends, to which node, with which ids.

/// A request to replay.
struct Call {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Call {
    /// The documented request; `Host` and `Content-Length` are the client's to set.
    fn from_doc(r: &DocRequest) -> Call {
        let headers = r
            .headers
            .iter()
            .filter(|(k, _)| {
                !k.eq_ignore_ascii_case("host") && !k.eq_ignore_ascii_case("content-length")
            })
            .cloned()
            .collect();
        Call {
            method: r.method.clone(),
            target: r.target.clone(),
            headers,
            body: r.body.clone().into_bytes(),
        }
    }

    /// A request the docs only imply (an error example shows only its answer).
    fn new(method: &str, target: &str) -> Call {
        Call {
            method: method.into(),
            target: target.into(),
            headers: vec![("Accept".into(), "application/json".into())],
            body: Vec::new(),
        }
    }

    fn json_body(mut self, body: &Value) -> Call {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
        self.headers.push(("Content-Type".into(), "application/json;charset=UTF-8".into()));
        self.body = serde_json::to_vec_pretty(body).expect("JSON");
        self
    }

    /// Replace `from` by `to` in the target and the body.
    fn replace(mut self, from: &str, to: &str) -> Call {
        self.target = self.target.replace(from, to);
        let body = String::from_utf8_lossy(&self.body).replace(from, to);
        self.body = body.into_bytes();
        self
    }

    fn send(&self, addr: &str) -> Reply {
        let headers: Vec<(&str, &str)> =
            self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        request_with(addr, &self.method, &self.target, AUTH, &headers, &self.body)
    }
}

/// An example to replay: where, what, what was adjusted, and how to compare.
struct Case {
    side: Side,
    call: Call,
    notes: Vec<String>,
    rules: ShapeRules,
}

/// A webhook event efm sends: which push to compare with the documented request.
struct PushCase {
    pick: fn(&Push) -> bool,
    notes: Vec<String>,
    rules: ShapeRules,
}

enum Plan {
    Call(Case),
    Push(PushCase),
}

/// What every answer is held to: the documented names of statuses, services and
/// directions, and the documented `exception` class of an error, which clients
/// branch on.
///
/// A status's `description` may be absent: the reference records most statuses
/// without one (`MessageStatusFactory.getMessageStatus(status)`), and null fields are
/// left out.
fn base_rules() -> ShapeRules {
    ShapeRules {
        may_be_absent: vec!["description"],
        vocabulary: vec![
            ("status", STATUSES),
            ("serviceIdentifier", SERVICES),
            ("direction", DIRECTIONS),
        ],
        same_value: vec!["exception", "error"],
        ..ShapeRules::default()
    }
}

/// Conversations: the docs (API 2.8.2) still show `serviceCode` and
/// `serviceEditionCode`, which the reference has since dropped; `messageTitle` is
/// null (so left out) unless an arkivmelding.xml names it; the reference has added
/// `sender`, `receiver` and `documentIdentifier` since.
fn conversation_rules() -> ShapeRules {
    ShapeRules {
        may_be_absent: vec!["serviceCode", "serviceEditionCode", "messageTitle", "description"],
        may_be_added: vec!["sender", "receiver", "documentIdentifier"],
        ..base_rules()
    }
}

/// Capabilities: the reference has added `digitalPostAddress` to DPI capabilities
/// since the docs were made.
fn capability_rules() -> ShapeRules {
    ShapeRules { may_be_added: vec!["digitalPostAddress"], ..base_rules() }
}

fn doc_call(ex: &Example) -> Result<Call, String> {
    ex.request.as_ref().map(Call::from_doc).ok_or_else(|| "the example has no request".into())
}

/// The documented `path` of an error example: the request it answered.
fn doc_path(ex: &Example) -> Result<String, String> {
    ex.response
        .as_ref()
        .and_then(DocResponse::json)
        .and_then(|v| v["path"].as_str().map(str::to_owned))
        .ok_or_else(|| "the error example names no path".into())
}

/// Map the documented `size` of a paging example to 1, so that the documented page
/// 3 exists with the seeded data.
fn page_of_one(call: Call, notes: &mut Vec<String>) -> Call {
    notes.push("size=10 -> size=1, so that page 3 exists with the seeded data".into());
    call.replace("size=10", "size=1")
}

/// A page's number, pinned: the page asked for is the page answered.
fn page_number(n: u32) -> (String, Value) {
    ("$.number".into(), json!(n))
}

/// The SBD answered is this message.
fn message_id_is(id: &str) -> (String, Value) {
    ("$.standardBusinessDocumentHeader.documentIdentification.instanceIdentifier".into(), json!(id))
}

/// Every SBD of a page is of this message type: the filter did its work.
fn only_type(kind: &str) -> (String, Value) {
    ("$.content[].standardBusinessDocumentHeader.documentIdentification.type".into(), json!(kind))
}

fn mapped(notes: &mut Vec<String>, from: &str, to: &str, what: &str) {
    notes.push(format!("{from} -> {to} ({what})"));
}

/// The documented ids of the outgoing arkivmelding in the examples.
const DOC_MESSAGE: &str = "e99e5cd1-74de-4cce-b902-cecdf97dc4f3";

fn plan(ex: &Example, net: &Network, st: &mut State) -> Result<Plan, String> {
    let title = ex.title();
    let mut notes = Vec::new();
    let case = |side, call, notes, rules| Ok(Plan::Call(Case { side, call, notes, rules }));
    let (a, b) = (net.addr(Side::A), net.addr(Side::B));
    match title.as_str() {
        // Capabilities: any node asks the registry.
        t if t.starts_with("Get capabilities / ") => {
            case(Side::A, doc_call(ex)?, notes, capability_rules())
        }

        // Incoming messages, at B.
        "Find incoming messages / Example 1 - Get all incoming messages"
        | "Find incoming messages / Example 3 - Sorting" => {
            case(Side::B, doc_call(ex)?, notes, base_rules())
        }
        "Find incoming messages / Example 2 - Search for incoming DPO messages" => {
            let rules = ShapeRules { pins: vec![only_type("arkivmelding")], ..base_rules() };
            case(Side::B, doc_call(ex)?, notes, rules)
        }
        "Find incoming messages / Example 4 - Paging" => {
            let call = page_of_one(doc_call(ex)?, &mut notes);
            let rules = ShapeRules { pins: vec![page_number(3)], ..base_rules() };
            case(Side::B, call, notes, rules)
        }
        "Peek incoming messages / Example 1 - Peek incoming message" => {
            let rules =
                ShapeRules { pins: vec![message_id_is(&st.publisering[0])], ..base_rules() };
            notes.push("the oldest incoming message is leased: the first publisering".into());
            case(Side::B, doc_call(ex)?, notes, rules)
        }
        "Peek incoming messages / Example 2 - Peek incoming DPE message" => {
            let rules =
                ShapeRules { pins: vec![message_id_is(&st.publisering[1])], ..base_rules() };
            notes.push("the first is leased already: the second publisering".into());
            case(Side::B, doc_call(ex)?, notes, rules)
        }
        "Peek incoming messages / Example 3 - No more messages" => {
            notes.push(
                "request implied by the documented path; ?serviceIdentifier=DPE added: both DPE messages are leased, arkivmelding are not".into(),
            );
            let call = Call::new("GET", &format!("{}?serviceIdentifier=DPE", doc_path(ex)?));
            case(Side::B, call, notes, base_rules())
        }
        "Pop incoming messages / Example 1 - Download ASiC" => {
            // Lease an arkivmelding first, as a fagsystem does before it pops.
            let r = get(b, "/api/messages/in/peek?serviceIdentifier=DPO");
            if r.status != 200 {
                return Err(format!("setup: peek for DPO answered {}", r.status));
            }
            let id = r.json()["standardBusinessDocumentHeader"]["documentIdentification"]
                ["instanceIdentifier"]
                .as_str()
                .map(str::to_owned)
                .ok_or("setup: the peeked SBD has no messageId")?;
            mapped(&mut notes, DOC_MESSAGE, &id, "an arkivmelding leased by a peek first");
            let call = doc_call(ex)?.replace(DOC_MESSAGE, &id);
            st.leased = Some(id);
            case(Side::B, call, notes, base_rules())
        }
        "Delete incoming message / Example 1 - Delete an incoming message" => {
            let id = st.leased.clone().ok_or("setup: no message was leased before")?;
            mapped(&mut notes, DOC_MESSAGE, &id, "the leased arkivmelding just popped");
            let rules = ShapeRules { pins: vec![message_id_is(&id)], ..base_rules() };
            case(Side::B, doc_call(ex)?.replace(DOC_MESSAGE, &id), notes, rules)
        }

        // Outgoing messages, at A.
        "Find outgoing messages / Example 1 - Find all outgoing messages"
        | "Find outgoing messages / Example 3 - Sorting" => {
            case(Side::A, doc_call(ex)?, notes, base_rules())
        }
        "Find outgoing messages / Example 2 - Find all outgoing DPO messages" => {
            let rules = ShapeRules { pins: vec![only_type("arkivmelding")], ..base_rules() };
            case(Side::A, doc_call(ex)?, notes, rules)
        }
        "Find outgoing messages / Example 4 - Paging" => {
            let call = page_of_one(doc_call(ex)?, &mut notes);
            notes.push(
                "the documented page holds a DPI digital message, the seeded one an arkivmelding: the SBD header is compared".into(),
            );
            let rules = ShapeRules {
                business_may_differ: true,
                pins: vec![page_number(3)],
                ..base_rules()
            };
            case(Side::A, call, notes, rules)
        }
        "Get outgoing message" => {
            let id = st.unsent[0].clone();
            mapped(&mut notes, DOC_MESSAGE, &id, "a message created and not sent");
            case(Side::A, doc_call(ex)?.replace(DOC_MESSAGE, &id), notes, base_rules())
        }
        "Create message / Example 1 - Creating an arkivmelding message"
        | "Create message / Example 2 - Creating a DPI digital message"
        | "Create message / Example 3 - Creating a DPV digital message"
        | "Create message / Example 4 - Creating a DPI print message"
        | "Create message / Example 5 - Creating a DPE innsynskrav message"
        | "Create message / Example 6 - Creating a DPE publisering message"
        | "Send multipart message / Example 1 - Send a multipart arkivmelding" => {
            let doc = doc_call(ex)?;
            let sbd = if title.starts_with("Send multipart") {
                st.template("arkivmelding").clone()
            } else {
                ex.request.as_ref().and_then(DocRequest::json).ok_or("no JSON request")?
            };
            let header = &sbd["standardBusinessDocumentHeader"];
            let doc_id = header["documentIdentification"]["instanceIdentifier"]
                .as_str()
                .ok_or("no messageId")?
                .to_owned();
            let doc_conv = header["businessScope"]["scope"][0]["instanceIdentifier"]
                .as_str()
                .ok_or("no conversationId")?
                .to_owned();
            let doc_expiry = header["businessScope"]["scope"][0]["scopeInformation"][0]
                ["expectedResponseDateTime"]
                .as_str()
                .ok_or("no expectedResponseDateTime")?
                .to_owned();
            let (id, conv, expiry) = (random_uuid(), random_uuid(), future());
            mapped(&mut notes, &doc_id, &id, "a fresh messageId");
            mapped(&mut notes, &doc_conv, &conv, "a fresh conversationId");
            mapped(&mut notes, &doc_expiry, &expiry, "the documented time has passed");
            let mut call =
                doc.replace(&doc_id, &id).replace(&doc_conv, &conv).replace(&doc_expiry, &expiry);
            if title.starts_with("Send multipart") {
                // Multipart lines end in CRLF (RFC 7578); the page shows them with LF.
                let body = String::from_utf8_lossy(&call.body).replace('\n', "\r\n");
                let boundary = call
                    .headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                    .and_then(|(_, v)| v.split("boundary=").nth(1))
                    .map(|b| format!("--{}", b.trim()))
                    .ok_or("the multipart example has no boundary")?;
                let close = format!("{boundary}--");
                let Some(open) = body.rfind(&close) else {
                    return Err("the multipart example has no closing boundary".into());
                };
                let part = format!(
                    "{boundary}\r\nContent-Disposition: form-data; name=arkivmelding; filename=arkivmelding.xml\r\nContent-Type: application/xml\r\n\r\n{}\r\n",
                    String::from_utf8_lossy(&arkivmelding_xml())
                );
                call.body = format!("{}{part}{close}\r\n", &body[..open]).into_bytes();
                notes.push("line ends LF -> CRLF, as multipart requires".into());
                notes.push(
                    "an arkivmelding.xml part added: a DPO arkivmelding needs one (NextMoveValidator)".into(),
                );
            }
            if title.starts_with("Create message / Example 1") {
                st.created = Some(id.clone());
            }
            let rules = ShapeRules { pins: vec![message_id_is(&id)], ..base_rules() };
            case(Side::A, call, notes, rules)
        }
        "Create message / Example 7 - Validation error" => {
            // Service DPI is not enabled: B, which has not enabled DPI, creates a DPI
            // message to A, which the registry reaches over DPI.
            let (_, mut sbd) = fresh(st.template("digital"));
            let header = &mut sbd["standardBusinessDocumentHeader"];
            let party = |org: &str| json!([{"identifier": {"value": format!("0192:{org}"), "authority": "iso6523-actorid-upis"}}]);
            header["sender"] = party(B);
            header["receiver"] = party(A);
            notes.push(
                "request implied: the DPI digital example (fresh ids) from 910075918 to 910077473, at 910075918, which has not enabled DPI".into(),
            );
            let call = Call::new("POST", &doc_path(ex)?).json_body(&sbd);
            case(Side::B, call, notes, base_rules())
        }
        "Create message / Example 8 - Constraint violation" => {
            let (_, mut sbd) = fresh(st.template("arkivmelding"));
            sbd["standardBusinessDocumentHeader"]["documentIdentification"]["type"] =
                json!("strange");
            notes.push(
                "request implied: the arkivmelding example (fresh ids) with documentIdentification.type \"strange\", the documented rejectedValue".into(),
            );
            let call = Call::new("POST", &doc_path(ex)?).json_body(&sbd);
            case(Side::A, call, notes, base_rules())
        }
        "Upload attachment" | "Send message" => {
            let id = st.created.clone().ok_or("setup: Create message / Example 1 made nothing")?;
            mapped(&mut notes, DOC_MESSAGE, &id, "the message Create message / Example 1 made");
            if title == "Send message" {
                let r = upload(a, &id, "arkivmelding.xml", "application/xml", &arkivmelding_xml());
                if r.status != 200 {
                    return Err(format!("setup: upload arkivmelding.xml: {}", r.status));
                }
                notes.push(
                    "arkivmelding.xml uploaded first: a DPO arkivmelding needs one (NextMoveValidator)".into(),
                );
            }
            case(Side::A, doc_call(ex)?.replace(DOC_MESSAGE, &id), notes, base_rules())
        }
        "Delete message" => {
            let id = st.unsent[3].clone();
            mapped(&mut notes, DOC_MESSAGE, &id, "a message created and not sent");
            case(Side::A, doc_call(ex)?.replace(DOC_MESSAGE, &id), notes, base_rules())
        }

        // Conversations, at A (by id and by messageId only OUTGOING ones are found).
        "Find conversations / Example 1 - Get all conversations"
        | "Find conversations / Example 3 - Sorting" => {
            case(Side::A, doc_call(ex)?, notes, conversation_rules())
        }
        "Find conversations / Example 2 - Search for conversations" => {
            let rules = ShapeRules {
                pins: vec![("$.content[].serviceIdentifier".into(), json!("DPO"))],
                ..conversation_rules()
            };
            case(Side::A, doc_call(ex)?, notes, rules)
        }
        "Find conversations / Example 4 - Paging" => {
            let call = page_of_one(doc_call(ex)?, &mut notes);
            let rules = ShapeRules { pins: vec![page_number(3)], ..conversation_rules() };
            case(Side::A, call, notes, rules)
        }
        "Get conversation by id / Example 1 - Get conversation" => {
            let id = conversation_id(a, &st.arkivmelding[0])?;
            mapped(&mut notes, "49", &id.to_string(), "the conversation of a sent arkivmelding");
            let call = doc_call(ex)?.replace("/49", &format!("/{id}"));
            case(Side::A, call, notes, conversation_rules())
        }
        "Get conversation by id / Example 2 - Conversation not found"
        | "Get conversation by messageId / Example 2 - Conversation not found" => {
            notes.push("request implied by the documented path".into());
            let mut rules = base_rules();
            if title.contains("messageId") {
                // The reference's ConversationController throws
                // MessageNotFoundException here since the docs were made.
                rules.same_value.retain(|k| *k != "exception");
                rules.pins.push((
                    "$.exception".into(),
                    json!("no.difi.meldingsutveksling.exceptions.MessageNotFoundException"),
                ));
                notes.push(
                    "exception: the reference's code throws MessageNotFoundException, not the documented ConversationNotFoundException".into(),
                );
            }
            case(Side::A, Call::new("GET", &doc_path(ex)?), notes, rules)
        }
        "Get conversation by messageId / Example 1 - Get conversation by messageId" => {
            let doc_id = "ecfd35a3-3006-4757-b521-8524c56d0702";
            let id = st.arkivmelding[1].clone();
            mapped(&mut notes, doc_id, &id, "a sent arkivmelding");
            let rules = ShapeRules {
                pins: vec![("$.messageId".into(), json!(id))],
                ..conversation_rules()
            };
            case(Side::A, doc_call(ex)?.replace(doc_id, &id), notes, rules)
        }
        "Delete conversation by id / Example: delete conversation by id" => {
            let id = conversation_id(a, &st.unsent[1])?;
            mapped(&mut notes, "42", &id.to_string(), "the conversation of an unsent message");
            let call = doc_call(ex)?.replace("/42", &format!("/{id}"));
            case(Side::A, call, notes, base_rules())
        }
        "Delete conversation by messageId / Example: delete conversation by messageId" => {
            let doc_id = "b0142ac1-547f-4460-a3db-aa657e6f2681";
            let id = st.unsent[2].clone();
            mapped(&mut notes, doc_id, &id, "an unsent message");
            case(Side::A, doc_call(ex)?.replace(doc_id, &id), notes, base_rules())
        }
        "Queued conversations / Example 1 - Get queued conversations" => {
            let rules = ShapeRules { may_be_empty: vec!["content"], ..conversation_rules() };
            notes.push(
                "content may be empty: only DPV, DPF, DPI and DPH conversations are polled for status (the reference's status strategies), and DPO and DPE are what efm sends".into(),
            );
            case(Side::A, doc_call(ex)?, notes, rules)
        }

        // Statuses, at A.
        "Find message statuses / Example 1 - Get all message statuses"
        | "Find message statuses / Example 3 - Sorting" => {
            case(Side::A, doc_call(ex)?, notes, base_rules())
        }
        "Find message statuses / Example 2 - Search for message statuses" => {
            let doc_id = "1cc3fb67-b776-4730-b017-1028b86a8b8b";
            let id = st.arkivmelding[0].clone();
            mapped(&mut notes, doc_id, &id, "a sent arkivmelding");
            let rules = ShapeRules {
                pins: vec![
                    ("$.content[].messageId".into(), json!(id)),
                    ("$.content[].status".into(), json!("MOTTATT")),
                ],
                ..base_rules()
            };
            case(Side::A, doc_call(ex)?.replace(doc_id, &id), notes, rules)
        }
        "Find message statuses / Example 4 - Paging" => {
            let call = page_of_one(doc_call(ex)?, &mut notes);
            let rules = ShapeRules { pins: vec![page_number(3)], ..base_rules() };
            case(Side::A, call, notes, rules)
        }
        "Find message statuses / Example 5 - Time range" => {
            let mut call = doc_call(ex)?;
            if !call.target.starts_with('/') {
                call.target.insert(0, '/');
                notes.push("api/statuses -> /api/statuses (the page drops the slash)".into());
            }
            let (from, to) = ("2019-10-16T10:01:52.625-02:00", "2019-10-30T16:46:49.610-02:00");
            let (new_from, new_to) =
                ("2000-01-01T00:00:00.000-02:00", "2100-01-01T00:00:00.000-02:00");
            mapped(&mut notes, from, new_from, "a range around the seeded statuses");
            mapped(&mut notes, to, new_to, "a range around the seeded statuses");
            case(Side::A, call.replace(from, new_from).replace(to, new_to), notes, base_rules())
        }
        "Find message statuses by messageId / Example 1 - Find all message statuses by messageId" =>
        {
            let doc_id = "1cc3fb67-b776-4730-b017-1028b86a8b8b";
            let id = st.arkivmelding[0].clone();
            mapped(&mut notes, doc_id, &id, "a sent arkivmelding");
            let rules = ShapeRules {
                pins: vec![("$.content[].messageId".into(), json!(id))],
                ..base_rules()
            };
            case(Side::A, doc_call(ex)?.replace(doc_id, &id), notes, rules)
        }
        "Peek the latest message status / Example 1 - Successfull peek" => {
            case(Side::A, doc_call(ex)?, notes, base_rules())
        }
        "Peek the latest message status / Example 2 - Unsuccessful peek" => {
            // Empty the queue the way a fagsystem does: peek and delete until 204.
            let mut drained = 0;
            loop {
                let r = get(a, "/api/statuses/peek");
                if r.status == 204 {
                    break;
                }
                if r.status != 200 || drained > 500 {
                    return Err(format!("setup: draining the status queue: {}", r.status));
                }
                let id = r.json()["id"].as_i64().ok_or("setup: a status without id")?;
                let d = request(a, "DELETE", &format!("/api/statuses/{id}"), AUTH, None, b"");
                if d.status != 200 {
                    return Err(format!("setup: DELETE /api/statuses/{id}: {}", d.status));
                }
                drained += 1;
            }
            notes.push(format!(
                "request implied by the documented path; the queue emptied first (peek and delete of {drained} statuses)"
            ));
            case(Side::A, Call::new("GET", &doc_path(ex)?), notes, base_rules())
        }

        // Webhook events: what efm sent the listener.
        "Ping event" => Ok(Plan::Push(PushCase {
            pick: |p| p.body["event"] == "ping",
            notes: vec!["the ping efm sent when a subscription was made".into()],
            rules: ShapeRules { pins: vec![("$.event".into(), json!("ping"))], ..base_rules() },
        })),
        "Message status event" => Ok(Plan::Push(PushCase {
            pick: |p| p.body["event"] == "status" && p.body["status"] == "MOTTATT",
            notes: vec!["a MOTTATT status efm pushed while the seeding ran".into()],
            rules: ShapeRules {
                pins: vec![
                    ("$.resource".into(), json!("messages")),
                    ("$.event".into(), json!("status")),
                ],
                ..base_rules()
            },
        })),

        // Subscriptions, at A.
        "List all subscriptions / Example 1 - List all subscriptions" => {
            case(Side::A, doc_call(ex)?, notes, base_rules())
        }
        "List all subscriptions / Example 2 - Paging" => {
            let rules = ShapeRules { pins: vec![page_number(1)], ..base_rules() };
            case(Side::A, doc_call(ex)?, notes, rules)
        }
        "Get a subscription / Example 1 - Get a subscription" => {
            let id = st.subscription("84");
            mapped(&mut notes, "84", &id.to_string(), "the subscription seeded as the docs' 84");
            let rules = ShapeRules {
                pins: vec![("$.id".into(), json!(id))],
                same_value: vec!["name", "resource", "event", "filter"],
                ..base_rules()
            };
            let call = doc_call(ex)?.replace("/84", &format!("/{id}"));
            case(Side::A, call, notes, rules)
        }
        "Get a subscription / Example 2 - Subscription not found" => {
            let path = doc_path(ex)?;
            let fixed = path.replace("/api/subscription/", "/api/subscriptions/");
            notes.push(format!(
                "request implied by the documented path, {path} -> {fixed} (the page's typo)"
            ));
            case(Side::A, Call::new("GET", &fixed), notes, base_rules())
        }
        "Create a subscription / Example 1 - Create a subscription" => {
            let doc_url = "http://my.pushendpoint.no/messages/incoming";
            let url = format!("{}/push/created", net.listener);
            mapped(&mut notes, doc_url, &url, "efm pings it: a listener on loopback");
            let rules = ShapeRules {
                same_value: vec!["name", "resource", "event", "filter", "exception", "error"],
                ..base_rules()
            };
            case(Side::A, doc_call(ex)?.replace(doc_url, &url), notes, rules)
        }
        "Create a subscription / Example 2 - Constraint violation" => {
            let mut sub = st.template("subscription").clone();
            sub["pushEndpoint"] = json!(format!("{}/push/violation", net.listener));
            sub["event"] = json!("nonexistent");
            notes.push(
                "request implied: the create example with event \"nonexistent\", the documented rejectedValue".into(),
            );
            let call = Call::new("POST", &doc_path(ex)?).json_body(&sub);
            case(Side::A, call, notes, base_rules())
        }
        "Update a subscription / Example 1 - Update a subscription"
        | "Delete a subscription / Example 1 - Delete a subscription" => {
            let id = st.subscription("84");
            mapped(&mut notes, "84", &id.to_string(), "the subscription seeded as the docs' 84");
            let doc_url = "http://my.pushendpoint.no/messages/incoming";
            let url = format!("{}/push/updated", net.listener);
            let mut call = doc_call(ex)?.replace("/84", &format!("/{id}"));
            if !call.body.is_empty() {
                mapped(&mut notes, doc_url, &url, "efm pings a changed endpoint");
                call = call.replace(doc_url, &url);
            }
            case(Side::A, call, notes, base_rules())
        }
        "Delete all subscriptions / Example 1 - Delete all subscriptions" => {
            case(Side::A, doc_call(ex)?, notes, base_rules())
        }
        _ => Err("no plan for this example: a new or renamed one on the page".into()),
    }
}

/// The numeric id of the OUTGOING conversation of `message_id`, found through the API.
fn conversation_id(addr: &str, message_id: &str) -> Result<i64, String> {
    let r = get(addr, &format!("/api/conversations?messageId={message_id}&direction=OUTGOING"));
    if r.status != 200 {
        return Err(format!("setup: find conversation of {message_id}: {}", r.status));
    }
    r.json()["content"][0]["id"]
        .as_i64()
        .ok_or_else(|| format!("setup: no conversation of {message_id}"))
}

// ---------------------------------------------------------------------------------
// Replay and comparison.

enum Outcome {
    Matched { notes: Vec<String> },
    Mismatch { notes: Vec<String>, diffs: Vec<String> },
    Skipped(&'static str),
}

fn body_of(r: &Reply) -> Vec<u8> {
    let chunked = r.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked { r.dechunked().unwrap_or_else(|| r.body.clone()) } else { r.body.clone() }
}

/// The media type of a Content-Type value, without parameters.
fn media_type(v: &str) -> String {
    v.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

fn run(ex: &Example, net: &Network, mut case: Case) -> Outcome {
    let Some(doc) = ex.response.as_ref() else {
        return Outcome::Mismatch {
            notes: case.notes,
            diffs: vec!["the example has no documented response".into()],
        };
    };
    let reply = case.call.send(net.addr(case.side));
    let body = body_of(&reply);
    let mut diffs = Vec::new();
    if reply.status != doc.status {
        diffs.push(format!(
            "status {} where {} is documented: {}",
            reply.status,
            doc.status,
            String::from_utf8_lossy(&body).chars().take(400).collect::<String>()
        ));
        return Outcome::Mismatch { notes: case.notes, diffs };
    }
    match doc.json() {
        // HTTP forbids a body on a 204 (RFC 9110 15.3.5); the reference sends its
        // error JSON in one anyway, and its clients must not rely on it.
        Some(_) if doc.status == 204 => {
            case.notes.push("204 without the documented JSON body: HTTP forbids one".into());
            if !body.is_empty() {
                diffs.push(format!("a body on a 204: {}", String::from_utf8_lossy(&body)));
            }
        }
        Some(want) => {
            let got_type = reply.header("content-type").map(media_type);
            if got_type.as_deref() != Some("application/json") {
                diffs.push(format!(
                    "Content-Type {got_type:?} where application/json is documented"
                ));
            }
            match serde_json::from_slice::<Value>(&body) {
                Ok(got) => diffs.extend(shape_diff(&want, &got, &case.rules)),
                Err(e) => diffs.push(format!(
                    "not JSON ({e}): {}",
                    String::from_utf8_lossy(&body).chars().take(400).collect::<String>()
                )),
            }
        }
        None if doc.body.is_empty() => {
            if !body.is_empty() {
                diffs.push(format!(
                    "a body where none is documented: {}",
                    String::from_utf8_lossy(&body).chars().take(200).collect::<String>()
                ));
            }
        }
        // Bytes (the ASiC): the documented headers say what they are.
        None => {
            for name in ["Content-Type", "Content-Disposition"] {
                let want = doc.header(name);
                let got = reply.header(name);
                if want != got {
                    diffs.push(format!("{name} {got:?} where {want:?} is documented"));
                }
            }
            if !body.starts_with(b"PK\x03\x04") {
                diffs.push("the body is not a ZIP (an ASiC-E)".into());
            }
        }
    }
    if diffs.is_empty() {
        Outcome::Matched { notes: case.notes }
    } else {
        Outcome::Mismatch { notes: case.notes, diffs }
    }
}

fn check_push(ex: &Example, net: &Network, case: PushCase) -> Outcome {
    let Some(want) = ex.request.as_ref().and_then(DocRequest::json) else {
        return Outcome::Mismatch {
            notes: case.notes,
            diffs: vec!["the event has no documented JSON".into()],
        };
    };
    let doc_type = ex.request.as_ref().and_then(|r| r.header("content-type")).map(media_type);
    let pushes = net.pushes.lock().expect("pushes").clone();
    let Some(push) = pushes.iter().find(|p| (case.pick)(p)) else {
        return Outcome::Mismatch {
            notes: case.notes,
            diffs: vec![format!("no such push among the {} efm sent", pushes.len())],
        };
    };
    let mut diffs = shape_diff(&want, &push.body, &case.rules);
    let got_type = push.content_type.as_deref().map(media_type);
    if got_type != doc_type {
        diffs.push(format!("Content-Type {got_type:?} where {doc_type:?} is documented"));
    }
    let mut notes = case.notes;
    notes.push(format!("pushed to {}", push.path));
    if diffs.is_empty() { Outcome::Matched { notes } } else { Outcome::Mismatch { notes, diffs } }
}

#[derive(Default)]
struct Report {
    outcomes: Vec<(String, Outcome)>,
}

impl Report {
    fn print(&self, runtime: &str) {
        let (mut replayed, mut matched, mut skipped) = (0, 0, 0);
        println!("REST docs examples on the {runtime} runtime:");
        for (title, outcome) in &self.outcomes {
            match outcome {
                Outcome::Matched { notes } => {
                    replayed += 1;
                    matched += 1;
                    println!("  ok       {title}");
                    for n in notes {
                        println!("             {n}");
                    }
                }
                Outcome::Mismatch { notes, diffs } => {
                    replayed += 1;
                    println!("  MISMATCH {title}");
                    for n in notes {
                        println!("             {n}");
                    }
                    for d in diffs {
                        println!("             ! {d}");
                    }
                }
                Outcome::Skipped(reason) => {
                    skipped += 1;
                    println!("  skipped  {title}: {reason}");
                }
            }
        }
        println!(
            "{runtime}: {} examples, {replayed} replayed, {matched} matched, {skipped} skipped",
            self.outcomes.len()
        );
    }
}
