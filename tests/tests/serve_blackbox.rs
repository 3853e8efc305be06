//! `efm serve` driven over HTTP like a fagsystem, against a local registry serving
//! the project's example records. These cover what the blocking runtime serves so
//! far: create (routed by the registry) and get of outgoing messages, auth, health,
//! hostile input, and durability across `kill -9`.

/// `efm serve` with DPO switched on, routed by `registry`, with a fresh keystore.
fn serve(dir: &std::path::Path, registry: &LocalRegistry, runtime: &str) -> Served {
    serve_enabling(dir, registry, runtime, "DPO")
}

/// `efm serve` with the `enable` services switched on.
fn serve_enabling(
    dir: &std::path::Path,
    registry: &LocalRegistry,
    runtime: &str,
    enable: &str,
) -> Served {
    serve_with_args(dir, registry, runtime, enable, &[])
}

/// `efm serve` with the `enable` services switched on, a fresh keystore, and `args`.
fn serve_with_args(
    dir: &std::path::Path,
    registry: &LocalRegistry,
    runtime: &str,
    enable: &str,
    args: &[&str],
) -> Served {
    let key = efm_tests::keys::TestKey::generate("serve");
    let p12 = dir.join("keystore.p12");
    std::fs::copy(key.pkcs12("changeit"), &p12).unwrap();
    Served::start_with_args(
        dir,
        &[
            ("EFM_REGISTRY_URL", &registry.url),
            ("EFM_ENABLE", enable),
            ("EFM_KEYSTORE", p12.to_str().unwrap()),
            ("EFM_KEYSTORE_PASSWORD", "changeit"),
            ("EFM_RUNTIME", runtime),
        ],
        args,
    )
}

use efm_tests::http::{raw, request};
use efm_tests::server::{LocalRegistry, Served};
use efm_tests::workspace;
use serde_json::{Value, json};

const AUTH: Option<(&str, &str)> = Some(("efm", "secret"));
/// Every test runs against both runtimes: they must behave the same.
const RUNTIMES: [&str; 2] = ["blocking", "async"];
const ID: &str = "5a0f3e7c-2d4b-4e8f-9c1a-7b6d5e4f3a21";

fn example() -> Vec<u8> {
    std::fs::read(workspace().join("examples/sbd/arkivmelding.json")).unwrap()
}

fn create(addr: &str, body: &[u8]) -> efm_tests::http::Reply {
    request(addr, "POST", "/api/messages/out", AUTH, Some("application/json"), body)
}

#[test]
fn create_then_get_survives_kill_9() {
    for runtime in RUNTIMES {
        create_then_get_survives_kill_9_on(runtime);
    }
}

fn create_then_get_survives_kill_9_on(runtime: &str) {
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, runtime);
    let created = create(&server.addr, &example());
    assert_eq!(created.status, 200, "{}", String::from_utf8_lossy(&created.body));
    let sbd = created.json();
    assert_eq!(
        sbd["standardBusinessDocumentHeader"]["documentIdentification"]["instanceIdentifier"],
        ID
    );
    assert!(
        sbd["standardBusinessDocumentHeader"]["documentIdentification"]["creationDateAndTime"]
            .is_string()
    );
    // Killed right after the 200: nothing may be lost.
    server.kill_9();

    let server = serve(dir.path(), &registry, runtime);
    let got = request(&server.addr, "GET", &format!("/api/messages/out/{ID}"), AUTH, None, b"");
    assert_eq!(got.status, 200);
    assert_eq!(got.json(), sbd);
    // The same create again (a client retrying a lost answer) is the stored message.
    let again = create(&server.addr, &example());
    assert_eq!((again.status, again.json()), (200, sbd));
    // A different SBD under the same messageId is a conflict.
    let mut other: Value = serde_json::from_slice(&example()).unwrap();
    other["arkivmelding"]["hoveddokument"] = json!("annet.pdf");
    let clash = create(&server.addr, &serde_json::to_vec(&other).unwrap());
    assert_eq!(clash.status, 409);
    assert_eq!(
        clash.json()["exception"],
        "no.difi.meldingsutveksling.exceptions.MessageAlreadyExistsException"
    );
}

#[test]
fn the_api_needs_credentials_but_health_does_not() {
    for runtime in RUNTIMES {
        the_api_needs_credentials_but_health_does_not_on(runtime);
    }
}

fn the_api_needs_credentials_but_health_does_not_on(runtime: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(dir.path(), &[("EFM_RUNTIME", runtime)]);
    let r = request(
        &server.addr,
        "POST",
        "/api/messages/out",
        None,
        Some("application/json"),
        &example(),
    );
    assert_eq!(r.status, 401);
    assert!(r.header("WWW-Authenticate").is_some());
    let r = request(
        &server.addr,
        "POST",
        "/api/messages/out",
        Some(("efm", "wrong")),
        Some("application/json"),
        &example(),
    );
    assert_eq!(r.status, 401);
    let r = request(&server.addr, "POST", "/manage/shutdown", None, None, b"");
    assert_eq!(r.status, 401);
    let r = request(&server.addr, "GET", "/manage/health", None, None, b"");
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("UP")));
    for probe in ["/manage/health/liveness", "/manage/health/readiness"] {
        assert_eq!(request(&server.addr, "GET", probe, None, None, b"").status, 200);
    }
    let r = request(&server.addr, "GET", "/manage/info", AUTH, None, b"");
    assert!(r.json()["build"]["version"].is_string());
}

#[test]
fn health_shows_queues_and_the_certificate() {
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, "blocking");
    assert_eq!(create(&server.addr, &example()).status, 200);
    let h = request(&server.addr, "GET", "/manage/health", None, None, b"").json();
    assert_eq!(h["status"], "UP");
    assert_eq!(h["components"]["nextMoveQueue"]["details"]["outgoing"], 1);
    assert_eq!(h["components"]["messageStatus"]["details"]["pollable"], 0);
    let m = request(&server.addr, "GET", "/manage/prometheus", AUTH, None, b"");
    assert_eq!(m.status, 200);
    assert!(m.header("Content-Type").unwrap().starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(m.body).unwrap();
    assert!(text.contains("\nefm_outgoing_messages 1\n"), "{text}");
    assert!(text.contains("# TYPE efm_certificate_expiry_seconds gauge"), "{text}");
    assert_eq!(request(&server.addr, "GET", "/manage/prometheus", None, None, b"").status, 401);
    // The test keystore's certificate runs for two days.
    let days = h["components"]["certificate"]["details"]["daysToExpiry"].as_i64().unwrap();
    assert!((1..=2).contains(&days), "{h}");

    // A keystore that does not open is a start-up error.
    let out = std::process::Command::new(efm_tests::efm_bin())
        .arg("serve")
        .env("EFM_LISTEN", "127.0.0.1:0")
        .env("EFM_DATA_DIR", dir.path())
        .env("EFM_ORG", "987654321")
        .env("EFM_API_AUTH", "false")
        .env("EFM_KEYSTORE", dir.path().join("keystore.p12"))
        .env("EFM_KEYSTORE_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("keystore.p12"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn hostile_input_is_a_4xx_with_the_error_json() {
    for runtime in RUNTIMES {
        hostile_input_is_a_4xx_with_the_error_json_on(runtime);
    }
}

fn hostile_input_is_a_4xx_with_the_error_json_on(runtime: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(dir.path(), &[("EFM_RUNTIME", runtime)]);
    let a = &server.addr;
    let cases: Vec<(efm_tests::http::Reply, u16, &str)> = vec![
        (
            create(a, b"{\"standardBusinessDocumentHeader\":"),
            400,
            "org.springframework.http.converter.HttpMessageNotReadableException",
        ),
        (
            create(a, b"[1,2,3]"),
            400,
            "org.springframework.http.converter.HttpMessageNotReadableException",
        ),
        (
            create(a, &[0xff, 0xfe, 0x00, 0x01]),
            400,
            "org.springframework.http.converter.HttpMessageNotReadableException",
        ),
        (
            request(a, "GET", "/api/messages/out/not-a-uuid", AUTH, None, b""),
            404,
            "no.difi.meldingsutveksling.exceptions.MessageNotFoundException",
        ),
        (
            request(a, "GET", &format!("/api/messages/out/{ID}"), AUTH, None, b""),
            404,
            "no.difi.meldingsutveksling.exceptions.MessageNotFoundException",
        ),
        (
            request(a, "GET", "/api/../../etc/passwd", AUTH, None, b""),
            404,
            "org.springframework.web.servlet.NoHandlerFoundException",
        ),
        (
            request(a, "PATCH", "/api/messages/out", AUTH, None, b""),
            405,
            "org.springframework.web.HttpRequestMethodNotSupportedException",
        ),
        (
            request(a, "GET", "/api/messages/in?serviceIdentifier=NOPE", AUTH, None, b""),
            400,
            "org.springframework.web.method.annotation.MethodArgumentTypeMismatchException",
        ),
        (
            request(a, "GET", "/api/messages/in?x=%ZZ", AUTH, None, b""),
            400,
            "org.springframework.web.method.annotation.MethodArgumentTypeMismatchException",
        ),
    ];
    for (i, (reply, status, exception)) in cases.into_iter().enumerate() {
        assert_eq!(reply.status, status, "case {i}: {}", String::from_utf8_lossy(&reply.body));
        let j = reply.json();
        assert_eq!(j["exception"], exception, "case {i}");
        assert_eq!(j["status"], status, "case {i}");
    }
    // A header far larger than any client sends is refused, and the server lives on.
    let huge =
        format!("GET /manage/health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(200_000));
    let r = raw(a, huge.as_bytes());
    assert_eq!(r.status, 431);
    let r = request(a, "GET", "/manage/health", None, None, b"");
    assert_eq!(r.status, 200);
}

#[test]
fn create_is_routed_by_the_registry() {
    for runtime in RUNTIMES {
        create_is_routed_by_the_registry_on(runtime);
    }
}

fn create_is_routed_by_the_registry_on(runtime: &str) {
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    // DPE is not switched on here.
    let server = serve(dir.path(), &registry, runtime);
    let innsyn = efm_tests::http::request(
        &server.addr,
        "POST",
        "/api/messages/out",
        AUTH,
        Some("application/json"),
        &serde_json::to_vec(&innsynskrav()).unwrap(),
    );
    assert_eq!(innsyn.status, 400);
    assert_eq!(innsyn.json()["message"], "Service DPE is not enabled");

    // A receiver the registry does not know.
    let mut unknown: Value = serde_json::from_slice(&example()).unwrap();
    unknown["standardBusinessDocumentHeader"]["receiver"][0]["identifier"]["value"] =
        json!("0192:111111111");
    let r = create(&server.addr, &serde_json::to_vec(&unknown).unwrap());
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["exception"],
        "no.difi.meldingsutveksling.exceptions.ReceiverDoesNotAcceptProcessException"
    );
    assert!(r.json()["description"].is_string());

    // No registry at all: the reference's 500, and nothing stored.
    drop(registry);
    let r = create(&server.addr, &example());
    assert_eq!(r.status, 500);
    let got = request(&server.addr, "GET", &format!("/api/messages/out/{ID}"), AUTH, None, b"");
    assert_eq!(got.status, 404);
}

/// The project's innsynskrav example, as JSON.
fn innsynskrav() -> Value {
    let out = efm_tests::efm(&[
        "sbd",
        "validate",
        workspace().join("examples/sbd/innsynskrav.xml").to_str().unwrap(),
    ]);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn statuses_and_conversations() {
    for runtime in RUNTIMES {
        statuses_and_conversations_on(runtime);
    }
}

fn statuses_and_conversations_on(runtime: &str) {
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, runtime);
    let a = &server.addr;
    let get = |target: &str| request(a, "GET", target, AUTH, None, b"");
    assert_eq!(create(a, &example()).status, 200);

    // The status of the new message, by its messageId and by filter.
    let page = get(&format!("/api/statuses/{ID}")).json();
    assert_eq!(page["totalElements"], 1);
    assert_eq!(page["pageable"]["sort"]["sorted"], true);
    let s = &page["content"][0];
    assert_eq!((s["status"].as_str(), s["messageId"].as_str()), (Some("OPPRETTET"), Some(ID)));
    assert_eq!(s["conversationId"], "0d9c8b7a-6f5e-4d3c-8b2a-190817263544");
    assert!(s.get("description").is_none(), "null fields are left out: {s}");
    assert_eq!(get("/api/statuses?status=OPPRETTET").json()["totalElements"], 1);
    assert_eq!(get("/api/statuses?status=LEVERT").json()["totalElements"], 0);
    // An unknown messageId is an empty page, not a 404.
    let unknown = get("/api/statuses/not-a-message");
    assert_eq!((unknown.status, unknown.json()["totalElements"].as_u64()), (200, Some(0)));

    // The conversation, by its number and by messageId.
    let list = get("/api/conversations?direction=OUTGOING&serviceIdentifier=DPO").json();
    assert_eq!(list["totalElements"], 1);
    let c = &list["content"][0];
    assert_eq!(c["messageId"], ID);
    assert_eq!(c["sender"], "0192:987654321");
    assert_eq!(c["senderIdentifier"], "987654321");
    assert_eq!(c["receiverIdentifier"], "123456785");
    assert_eq!(c["messageReference"], "0d9c8b7a-6f5e-4d3c-8b2a-190817263544");
    assert_eq!(c["messageStatuses"][0]["status"], "OPPRETTET");
    assert!(c.get("pollable").is_none());
    let id = c["id"].as_i64().unwrap();
    assert_eq!(get(&format!("/api/conversations/{id}")).json(), *c);
    assert_eq!(get(&format!("/api/conversations/messageId/{ID}")).json(), *c);
    assert_eq!(get("/api/conversations?direction=INCOMING").json()["totalElements"], 0);
    assert_eq!(get("/api/conversations/queue").json()["totalElements"], 0);
    let missing = get("/api/conversations/999999");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["message"], "Conversation with id = 999999 was not found");

    // Delete, twice: both 200; then it is gone.
    let del = request(a, "DELETE", &format!("/api/conversations/{id}"), AUTH, None, b"");
    assert_eq!((del.status, del.body.len()), (200, 0));
    assert_eq!(
        request(a, "DELETE", &format!("/api/conversations/{id}"), AUTH, None, b"").status,
        200
    );
    assert_eq!(get(&format!("/api/conversations/{id}")).status, 404);
    assert_eq!(get(&format!("/api/statuses/{ID}")).json()["totalElements"], 0);
}

#[test]
fn find_and_delete_outgoing() {
    for runtime in RUNTIMES {
        find_and_delete_outgoing_on(runtime);
    }
}

fn find_and_delete_outgoing_on(runtime: &str) {
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, runtime);
    let a = &server.addr;
    let get = |target: &str| request(a, "GET", target, AUTH, None, b"");
    let sbd = create(a, &example()).json();
    let page = get("/api/messages/out?receiverIdentifier=123456785&serviceIdentifier=DPO").json();
    assert_eq!(page["totalElements"], 1);
    assert_eq!(page["content"][0], sbd);
    assert_eq!(get("/api/messages/out?receiverIdentifier=111111111").json()["totalElements"], 0);
    // Delete the message: idempotent, and its conversation and statuses stay.
    for _ in 0..2 {
        let r = request(a, "DELETE", &format!("/api/messages/out/{ID}"), AUTH, None, b"");
        assert_eq!(r.status, 200);
    }
    assert_eq!(get(&format!("/api/messages/out/{ID}")).status, 404);
    assert_eq!(get("/api/messages/out").json()["totalElements"], 0);
    assert_eq!(get(&format!("/api/statuses/{ID}")).json()["totalElements"], 1);
    assert_eq!(request(a, "DELETE", "/api/messages/out/not-a-uuid", AUTH, None, b"").status, 200);
}

#[test]
fn upload_files() {
    for runtime in RUNTIMES {
        upload_files_on(runtime);
    }
}

fn upload_files_on(runtime: &str) {
    use efm_tests::http::request_with;
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, runtime);
    let a = &server.addr;
    assert_eq!(create(a, &example()).status, 200);
    let target = format!("/api/messages/out/{ID}");
    let put = |headers: &[(&str, &str)], body: &[u8]| {
        request_with(a, "PUT", &target, AUTH, headers, body)
    };
    let pdf = [
        ("Content-Type", "application/pdf"),
        ("Content-Disposition", "attachment; name=\"Vedtak\"; filename=vedtak.pdf"),
    ];

    let r = put(&pdf, b"%PDF-1.7 vedtak");
    assert_eq!((r.status, r.body.len()), (200, 0), "{}", String::from_utf8_lossy(&r.body));
    // The same file again is a no-op; other content under the same name is refused.
    assert_eq!(put(&pdf, b"%PDF-1.7 vedtak").status, 200);
    let r = put(&pdf, b"%PDF-1.7 annet");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["exception"],
        "no.difi.meldingsutveksling.exceptions.DuplicateFilenameException"
    );
    assert_eq!(r.json()["message"], "Filename already exists in message: vedtak.pdf.");

    // RFC 5987 names, and a type taken from the extension.
    let r = put(
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Disposition", "attachment; filename*=UTF-8''vedlegg%20%C3%A6.txt"),
        ],
        b"vedlegg",
    );
    assert_eq!(r.status, 200);

    // Refusals.
    let r = put(&[("Content-Type", "text/plain")], b"x");
    assert_eq!(
        r.json()["exception"],
        "no.difi.meldingsutveksling.exceptions.MissingHttpHeaderException"
    );
    assert_eq!(r.json()["message"], "Expected a HTTP header named 'content-disposition'");
    for bad in [
        "attachment; filename=../../etc/passwd",
        "attachment; filename=\"a\\\\b\"",
        "attachment; filename*=UTF-8''a%2Fb",
    ] {
        let r = put(&[("Content-Type", "text/plain"), ("Content-Disposition", bad)], b"x");
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json()["exception"], "javax.validation.ConstraintViolationException", "{bad}");
    }
    let r = request_with(
        a,
        "PUT",
        "/api/messages/out/00000000-0000-4000-8000-00000000abcd",
        AUTH,
        &pdf,
        b"x",
    );
    assert_eq!(r.status, 404);

    // The files are on disk with their content, and survive kill -9.
    server.kill_9();
    let first = dir.path().join("files").join(ID).join("0");
    assert_eq!(std::fs::read(first).unwrap(), b"%PDF-1.7 vedtak");
    let server = serve(dir.path(), &registry, runtime);
    let again = request_with(&server.addr, "PUT", &target, AUTH, &pdf, b"%PDF-1.7 vedtak");
    assert_eq!(again.status, 200, "still the same file after a restart");
    // Deleting the message removes its files.
    assert_eq!(request(&server.addr, "DELETE", &target, AUTH, None, b"").status, 200);
    assert!(!dir.path().join("files").join(ID).exists());
}

#[test]
fn upload_size_follows_the_service_limit() {
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let server = serve_enabling(dir.path(), &registry, "blocking", "DPO,DPE");
    let a = &server.addr;
    let innsyn = serde_json::to_vec(&innsynskrav()).unwrap();
    assert_eq!(create(a, &innsyn).status, 200);
    let target = "/api/messages/out/8e1d2c3b-4a59-4687-b6a5-c4d3e2f1a0b9";
    let put = |name: &str, size: usize| {
        let disposition = format!("attachment; filename={name}");
        efm_tests::http::request_with(
            a,
            "PUT",
            target,
            AUTH,
            &[("Content-Type", "application/pdf"), ("Content-Disposition", &disposition)],
            &vec![b'x'; size],
        )
    };
    // DPE takes 2 MiB in all: one file of 1.5 MiB fits, a second does not.
    assert_eq!(put("a.pdf", 1536 * 1024).status, 200);
    let r = put("b.pdf", 1024 * 1024);
    // 413 where the reference answers 400: the body is refused unread.
    assert_eq!(r.status, 413);
    assert_eq!(
        r.json()["exception"],
        "no.difi.meldingsutveksling.exceptions.MaxFileSizeExceededException"
    );
    assert!(r.json()["message"].as_str().unwrap().contains("(DPE, 2097152 bytes)"), "{}", r.json());
}

#[test]
fn send_after_upload() {
    for runtime in RUNTIMES {
        send_after_upload_on(runtime);
    }
}

fn send_after_upload_on(runtime: &str) {
    use efm_tests::http::request_with;
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, runtime);
    let a = &server.addr;
    let target = format!("/api/messages/out/{ID}");
    assert_eq!(create(a, &example()).status, 200);
    let send = || request(a, "POST", &target, AUTH, None, b"");
    let r = send();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "There must always be at least one attachment");
    let pdf = [
        ("Content-Type", "application/pdf"),
        ("Content-Disposition", "attachment; filename=vedtak.pdf"),
    ];
    assert_eq!(request_with(a, "PUT", &target, AUTH, &pdf, b"%PDF").status, 200);
    // An arkivmelding needs its arkivmelding.xml, and every file that names.
    let r = send();
    assert_eq!(
        r.json()["exception"],
        "no.difi.meldingsutveksling.exceptions.MissingArkivmeldingException"
    );
    let xml = [
        ("Content-Type", "application/xml"),
        ("Content-Disposition", "attachment; filename=arkivmelding.xml"),
    ];
    let arkivmelding =
        std::fs::read_to_string(workspace().join("examples/files/arkivmelding.xml")).unwrap();
    let naming_more = arkivmelding.replace(
        "</dokumentbeskrivelse>",
        "</dokumentbeskrivelse><dokumentbeskrivelse><dokumentobjekt><referanseDokumentfil>kart.pdf</referanseDokumentfil></dokumentobjekt></dokumentbeskrivelse>",
    );
    assert_eq!(request_with(a, "PUT", &target, AUTH, &xml, naming_more.as_bytes()).status, 200);
    let r = send();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "File(s) defined in arkivmelding, but not found in message: kart.pdf"
    );
    let kart = [
        ("Content-Type", "application/pdf"),
        ("Content-Disposition", "attachment; filename=kart.pdf"),
    ];
    assert_eq!(request_with(a, "PUT", &target, AUTH, &kart, b"%PDF kart").status, 200);
    // The conversation took its title from the arkivmelding's journal post.
    let c =
        request(a, "GET", &format!("/api/conversations/messageId/{ID}"), AUTH, None, b"").json();
    assert_eq!(c["messageTitle"], "Vedtak i eksempelsaken");
    // Sent, and sending again is a no-op.
    assert_eq!(send().status, 200);
    assert_eq!(send().status, 200);
    assert_eq!(request(a, "POST", "/api/messages/out/not-a-uuid", AUTH, None, b"").status, 404);
}

#[test]
fn send_after_the_ttl_records_levetid_utlopt() {
    use efm_tests::http::request_with;
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, "blocking");
    let a = &server.addr;
    // A TTL two seconds ahead: valid at create, passed at send.
    let ttl =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 2;
    let ttl =
        efm_core::sbd::DateTime::oslo(efm_core::Timestamp::from_unix_millis(ttl as i64 * 1000))
            .to_rfc3339();
    let mut sbd: Value = serde_json::from_slice(&example()).unwrap();
    sbd["standardBusinessDocumentHeader"]["businessScope"]["scope"][0]["scopeInformation"][0]["expectedResponseDateTime"] =
        json!(ttl);
    assert_eq!(create(a, &serde_json::to_vec(&sbd).unwrap()).status, 200);
    let target = format!("/api/messages/out/{ID}");
    let pdf = [
        ("Content-Type", "application/pdf"),
        ("Content-Disposition", "attachment; filename=vedtak.pdf"),
    ];
    assert_eq!(request_with(a, "PUT", &target, AUTH, &pdf, b"%PDF").status, 200);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let r = request(a, "POST", &target, AUTH, None, b"");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["exception"], "no.difi.meldingsutveksling.exceptions.TimeToLiveException");
    assert_eq!(
        r.json()["message"],
        format!("ExpectedResponseDateTime {ttl} has been exceeded. Please resend the message")
    );
    let statuses = request(a, "GET", &format!("/api/statuses/{ID}"), AUTH, None, b"").json();
    let seen: Vec<&str> = statuses["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(seen, ["OPPRETTET", "LEVETID_UTLOPT"]);
    assert_eq!(
        statuses["content"][1]["description"],
        "Levetiden for meldingen er utgått. Må sendes på nytt"
    );
    // A second attempt answers the same and records nothing more.
    assert_eq!(request(a, "POST", &target, AUTH, None, b"").status, 400);
    let again = request(a, "GET", &format!("/api/statuses/{ID}"), AUTH, None, b"").json();
    assert_eq!(again["totalElements"], 2);
}

#[test]
fn one_step_multipart_send() {
    for runtime in RUNTIMES {
        one_step_multipart_send_on(runtime);
    }
}

fn multipart_body(boundary: &str, sbd: &[u8], files: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=sbd\r\nContent-Type: application/json\r\n\r\n").as_bytes());
    body.extend_from_slice(sbd);
    for (title, filename, content) in files {
        body.extend_from_slice(
            format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"{title}\"; filename=\"{filename}\"\r\nContent-Type: text/plain\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(content);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

fn one_step_multipart_send_on(runtime: &str) {
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, runtime);
    let a = &server.addr;
    let b = "6o2knFse3p53ty9dmcQvWAIx1zInP11uCfbm";
    let ct = format!("multipart/form-data; boundary={b}");
    let arkivmelding = std::fs::read(workspace().join("examples/files/arkivmelding.xml")).unwrap();
    let body = multipart_body(
        b,
        &example(),
        &[
            ("Vedtak", "vedtak.pdf", b"%PDF"),
            ("Vedlegg", "vedlegg.txt", b"tekst"),
            ("Arkivmelding", "arkivmelding.xml", &arkivmelding),
        ],
    );
    let r = request(a, "POST", "/api/messages/out/multipart", AUTH, Some(&ct), &body);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["standardBusinessDocumentHeader"]["documentIdentification"]["instanceIdentifier"],
        ID
    );
    // Handed to delivery at once: the example registry gives the receiver no
    // certificate, so it ends in FEIL, which says so.
    let statuses =
        || request(a, "GET", &format!("/api/statuses?messageId={ID}"), AUTH, None, b"").json();
    let start = std::time::Instant::now();
    while statuses()["content"].as_array().map_or(0, Vec::len) < 2 {
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "{}", statuses());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let s = statuses();
    assert_eq!(s["content"][1]["status"], "FEIL", "{s}");
    assert!(s["content"][1]["description"].as_str().unwrap_or("").contains("certificate"), "{s}");
    // Sent: sending again is a no-op.
    assert_eq!(request(a, "POST", &format!("/api/messages/out/{ID}"), AUTH, None, b"").status, 200);

    // Without files the send step refuses, and says why.
    let mut other: Value = serde_json::from_slice(&example()).unwrap();
    other["standardBusinessDocumentHeader"]["documentIdentification"]["instanceIdentifier"] =
        json!("00000000-0000-4000-8000-0000000000aa");
    let body = multipart_body(b, &serde_json::to_vec(&other).unwrap(), &[]);
    let r = request(a, "POST", "/api/messages/out/multipart", AUTH, Some(&ct), &body);
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (400, Some("There must always be at least one attachment"))
    );

    // A part over 5 MiB, a missing sbd part, a body that is not multipart.
    let big = vec![b'x'; 5 * 1024 * 1024 + 1];
    let body = multipart_body(b, &example(), &[("Stor", "stor.txt", &big)]);
    let r = request(a, "POST", "/api/messages/out/multipart", AUTH, Some(&ct), &body);
    assert_eq!(
        r.json()["exception"],
        "no.difi.meldingsutveksling.exceptions.MultipartFileToLargeException"
    );
    let no_sbd = format!("--{b}\r\nContent-Disposition: form-data; name=x\r\n\r\ny\r\n--{b}--\r\n");
    let r = request(a, "POST", "/api/messages/out/multipart", AUTH, Some(&ct), no_sbd.as_bytes());
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "Required part 'sbd' is not present.");
    let r = request(
        a,
        "POST",
        "/api/messages/out/multipart",
        AUTH,
        Some("application/json"),
        &example(),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn capabilities_through_the_api() {
    for runtime in RUNTIMES {
        capabilities_through_the_api_on(runtime);
    }
}

fn capabilities_through_the_api_on(runtime: &str) {
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, runtime);
    let r = request(&server.addr, "GET", "/api/capabilities/123456785", AUTH, None, b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let caps = r.json();
    let services: Vec<&str> = caps["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serviceIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["DPO", "DPE"]);
    assert_eq!(caps["capabilities"][0]["documentTypes"][0]["type"], "arkivmelding");
    let r = request(&server.addr, "GET", "/api/capabilities/111111111", AUTH, None, b"");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["exception"],
        "no.difi.meldingsutveksling.exceptions.IdentifierNotFoundException"
    );
}

#[test]
fn graceful_shutdown() {
    for runtime in RUNTIMES {
        graceful_shutdown_on(runtime);
    }
}

fn graceful_shutdown_on(runtime: &str) {
    let registry = LocalRegistry::examples();
    // SIGTERM: the process ends by itself, successfully, and what it stored stays.
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, runtime);
    assert_eq!(create(&server.addr, &example()).status, 200);
    assert!(server.terminate().success(), "{runtime}: SIGTERM ends efm serve cleanly");
    let server = serve(dir.path(), &registry, runtime);
    let got = request(&server.addr, "GET", &format!("/api/messages/out/{ID}"), AUTH, None, b"");
    assert_eq!(got.status, 200);

    // POST /manage/shutdown: needs credentials, answers, then the process ends.
    assert_eq!(request(&server.addr, "POST", "/manage/shutdown", None, None, b"").status, 401);
    let r = request(&server.addr, "POST", "/manage/shutdown", AUTH, None, b"");
    assert_eq!((r.status, r.json()["message"].as_str()), (200, Some("Shutting down, bye...")));
    assert!(server.wait().success());
}

#[test]
fn status_queue() {
    for runtime in RUNTIMES {
        status_queue_on(runtime);
    }
}

fn status_queue_on(runtime: &str) {
    let registry = LocalRegistry::examples();
    // As in the reference, no service's statuses are queued by default.
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, runtime);
    assert_eq!(create(&server.addr, &example()).status, 200);
    let peek = request(&server.addr, "GET", "/api/statuses/peek", AUTH, None, b"");
    assert_eq!(peek.status, 204);
    assert_eq!(request(&server.addr, "DELETE", "/api/statuses/1", AUTH, None, b"").status, 404);
    drop(server);

    // With DPO in statusQueueIncludes: peek, delete, until 204.
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("efm.toml");
    std::fs::write(&toml, "[messages]\nstatus_queue_includes = [\"DPO\"]\n").unwrap();
    let server = serve_with_args(
        dir.path(),
        &registry,
        runtime,
        "DPO",
        &["--config", toml.to_str().unwrap()],
    );
    let a = &server.addr;
    assert_eq!(create(a, &example()).status, 200);
    let peek = request(a, "GET", "/api/statuses/peek", AUTH, None, b"");
    assert_eq!(peek.status, 200, "{}", String::from_utf8_lossy(&peek.body));
    let status = peek.json();
    assert_eq!(
        (status["status"].as_str(), status["messageId"].as_str()),
        (Some("OPPRETTET"), Some(ID))
    );
    // Peeking does not consume.
    assert_eq!(request(a, "GET", "/api/statuses/peek", AUTH, None, b"").json(), status);
    let id = status["id"].as_i64().unwrap();
    let del = request(a, "DELETE", &format!("/api/statuses/{id}"), AUTH, None, b"");
    assert_eq!((del.status, del.body.len()), (200, 0));
    assert_eq!(request(a, "DELETE", &format!("/api/statuses/{id}"), AUTH, None, b"").status, 404);
    assert_eq!(request(a, "GET", "/api/statuses/peek", AUTH, None, b"").status, 204);
    // The status itself stays in the history.
    assert_eq!(
        request(a, "GET", &format!("/api/statuses/{ID}"), AUTH, None, b"").json()["totalElements"],
        1
    );
}

/// A push endpoint on loopback that records what it is sent; `/fail` answers 500.
fn push_endpoint() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let record = seen.clone();
    let handler = move |req: &http::Request<()>, body: &[u8]| {
        if let Ok(v) = serde_json::from_slice(body) {
            record.lock().unwrap().push(v);
        }
        let status = if req.uri().path() == "/fail" { 500 } else { 200 };
        efm_blocking::http_server::response(status, "text/plain", Vec::new())
    };
    let server = efm_blocking::http_server::spawn(
        "127.0.0.1:0",
        efm_blocking::http_server::ServerConfig::default(),
        std::sync::Arc::new(handler),
    )
    .unwrap();
    (format!("http://{}", server.local_addr()), seen)
}

#[test]
fn webhook_subscriptions() {
    for runtime in RUNTIMES {
        webhook_subscriptions_on(runtime);
    }
}

fn webhook_subscriptions_on(runtime: &str) {
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, runtime);
    let a = &server.addr;
    let (endpoint, seen) = push_endpoint();
    let post = |v: Value| {
        request(
            a,
            "POST",
            "/api/subscriptions",
            AUTH,
            Some("application/json"),
            v.to_string().as_bytes(),
        )
    };
    let sub = json!({"name": "Alt", "pushEndpoint": format!("{endpoint}/push"), "resource": "all", "event": "all",
        "filter": "status=FEIL,LEVETID_UTLOPT&direction=INCOMING"});
    let r = post(sub.clone());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let created = r.json();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["filter"], sub["filter"]);
    let pings = seen.lock().unwrap().clone();
    assert_eq!(pings.len(), 1);
    assert_eq!(pings[0]["event"], "ping");
    assert!(pings[0]["createdTs"].is_string());

    // The same name and endpoint again; broken input; an endpoint that fails the ping.
    assert_eq!(
        post(sub.clone()).json()["message"],
        "Subscription with same name and push endpoint already exists."
    );
    let r = post(
        json!({"name": "x", "pushEndpoint": "not a url", "resource": "files", "event": "all"}),
    );
    assert_eq!((r.status, r.json()["errors"].as_array().map(Vec::len)), (400, Some(2)));
    let r = post(
        json!({"name": "x", "pushEndpoint": format!("{endpoint}/push"), "resource": "all", "event": "all", "filter": "colour=red"}),
    );
    assert_eq!(
        r.json()["exception"],
        "no.difi.meldingsutveksling.exceptions.WebhookUnknownFilterException"
    );
    let r = post(
        json!({"name": "x", "pushEndpoint": format!("{endpoint}/fail"), "resource": "all", "event": "all"}),
    );
    assert_eq!((r.status, r.json()["message"].as_str()), (400, Some("Ping failed with: 500.")));
    // Nobody listening: only logged by the reference, so the subscription is kept.
    let r = post(
        json!({"name": "y", "pushEndpoint": "http://127.0.0.1:9/none", "resource": "messages", "event": "status"}),
    );
    assert_eq!(r.status, 200);

    let get = |t: &str| request(a, "GET", t, AUTH, None, b"");
    assert_eq!(get("/api/subscriptions").json()["totalElements"], 2);
    assert_eq!(get(&format!("/api/subscriptions/{id}")).json(), created);
    let put = request(
        a,
        "PUT",
        &format!("/api/subscriptions/{id}"),
        AUTH,
        Some("application/json"),
        br#"{"name": "Nytt navn"}"#,
    );
    assert_eq!((put.status, put.body.len()), (200, 0));
    assert_eq!(get(&format!("/api/subscriptions/{id}")).json()["name"], "Nytt navn");
    assert_eq!(
        request(a, "DELETE", &format!("/api/subscriptions/{id}"), AUTH, None, b"").status,
        200
    );
    let gone = get(&format!("/api/subscriptions/{id}"));
    assert_eq!(
        (gone.status, gone.json()["message"].as_str()),
        (404, Some(format!("Subscription with id = {id} was not found").as_str()))
    );
    assert_eq!(request(a, "DELETE", "/api/subscriptions", AUTH, None, b"").status, 200);
    assert_eq!(get("/api/subscriptions").json()["totalElements"], 0);
}

#[test]
fn statuses_are_pushed_to_subscribers() {
    for runtime in RUNTIMES {
        statuses_are_pushed_to_subscribers_on(runtime);
    }
}

/// Wait (bounded) until `seen` holds `n` values.
fn wait_for(seen: &std::sync::Mutex<Vec<Value>>, n: usize, secs: u64) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let got = seen.lock().unwrap().clone();
        if got.len() >= n || std::time::Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn statuses_are_pushed_to_subscribers_on(runtime: &str) {
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, runtime);
    let a = &server.addr;
    let (endpoint, seen) = push_endpoint();
    let subscribe = |name: &str, filter: &str| {
        let sub = json!({"name": name, "pushEndpoint": format!("{endpoint}/push"), "resource": "all", "event": "all", "filter": filter});
        request(
            a,
            "POST",
            "/api/subscriptions",
            AUTH,
            Some("application/json"),
            sub.to_string().as_bytes(),
        )
    };
    assert_eq!(subscribe("Utgående", "direction=OUTGOING").status, 200);
    assert_eq!(subscribe("Feil", "status=FEIL").status, 200);
    seen.lock().unwrap().clear(); // the two pings
    assert_eq!(create(a, &example()).status, 200);
    let pushes = wait_for(&seen, 1, 10);
    assert_eq!(pushes.len(), 1, "only the matching subscription is pushed to: {pushes:?}");
    let p = &pushes[0];
    assert_eq!((p["resource"].as_str(), p["event"].as_str()), (Some("messages"), Some("status")));
    assert_eq!((p["messageId"].as_str(), p["status"].as_str()), (Some(ID), Some("OPPRETTET")));
    assert_eq!(
        (p["direction"].as_str(), p["serviceIdentifier"].as_str()),
        (Some("OUTGOING"), Some("DPO"))
    );
    assert_eq!(p["conversationId"], "0d9c8b7a-6f5e-4d3c-8b2a-190817263544");
    assert!(p["createdTs"].is_string());
    // Delivered once: nothing more arrives.
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn a_push_that_fails_is_kept_across_a_crash_and_retried() {
    let registry = LocalRegistry::examples();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &registry, "blocking");
    let a = &server.addr;
    // Reserve a port, let it go: the subscriber is down when the status is recorded.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let sub = json!({"name": "Senere", "pushEndpoint": format!("http://127.0.0.1:{port}/push"), "resource": "all", "event": "all"});
    assert_eq!(
        request(
            a,
            "POST",
            "/api/subscriptions",
            AUTH,
            Some("application/json"),
            sub.to_string().as_bytes()
        )
        .status,
        200
    );
    assert_eq!(create(a, &example()).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(500));
    server.kill_9();
    // The subscriber comes up; efm restarts, and delivers at the retry (10 s).
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let record = seen.clone();
    let handler = move |_: &http::Request<()>, body: &[u8]| {
        if let Ok(v) = serde_json::from_slice(body) {
            record.lock().unwrap().push(v);
        }
        efm_blocking::http_server::response(200, "text/plain", Vec::new())
    };
    let _subscriber = efm_blocking::http_server::spawn(
        &format!("127.0.0.1:{port}"),
        efm_blocking::http_server::ServerConfig::default(),
        std::sync::Arc::new(handler),
    )
    .unwrap();
    let _server = serve(dir.path(), &registry, "blocking");
    let pushes = wait_for(&seen, 1, 20);
    assert_eq!(pushes.len(), 1, "the push outlived the crash");
    assert_eq!(pushes[0]["status"], "OPPRETTET");
}
