//! The mail paths against a local SMTP sink, each mail read back with Python's
//! `email` package, an independent MIME parser:
//! - two nodes on each runtime: A, with mail on FEIL, sends one message that B
//!   receives and one to an organisation whose registry certificate is unusable,
//!   which ends FEIL; the sink gets exactly one mail, for the FEIL, worded as the
//!   reference words it;
//! - the SvarInn mailOnError mail at security levels 3 (files attached) and 4 (a
//!   notice only), rendered and sent as the runtime does.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use efm_blocking::local_smtp::SmtpSink;
use efm_core::mail::{
    AttachmentContent, ForsendelseFile, MailSettings, UndeliverableForsendelse, svarinn_mail,
};
use efm_tests::http::request;
use efm_tests::network::{
    ARKIVMELDING_PROCESS, ARKIVMELDING_STANDARD, AUTH, Org, Services, create, ok, registry_dir,
    send, statuses, temp, upload, wait_for,
};
use serde_json::{Value, json};

/// An organisation in the registry whose certificate cannot be read: what is sent
/// to it fails for good.
const BROKEN: &str = "910000003";

/// The mail at `path` as Python's `email` package reads it (policy.default).
fn parsed(path: &Path) -> Value {
    const SCRIPT: &str = r#"
import base64, email, json, sys
from email import policy
m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=policy.default)
body = m.get_body(preferencelist=('plain',))
print(json.dumps({
    'from': str(m['From']), 'to': str(m['To']), 'subject': str(m['Subject']),
    'date': m['Date'] is not None, 'message_id': m['Message-ID'] is not None,
    'content_type': m.get_content_type(),
    'defects': [str(d) for d in m.defects],
    'body': body.get_content() if body is not None else None,
    'attachments': [{'filename': p.get_filename(), 'mime': p.get_content_type(),
                     'content': base64.b64encode(p.get_payload(decode=True)).decode()}
                    for p in m.iter_attachments()],
}))
"#;
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .expect("python3 runs (the independent MIME parser)");
    assert!(out.status.success(), "python3: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON from python3")
}

/// The names of the files an arkivmelding references.
fn referenced(xml: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(xml);
    text.split("<referanseDokumentfil>")
        .skip(1)
        .filter_map(|s| s.split("</referanseDokumentfil>").next().map(str::to_owned))
        .collect()
}

fn mails(sink: &SmtpSink) -> Vec<std::path::PathBuf> {
    sink.mails().expect("the sink's folder")
}

#[test]
fn one_mail_per_feil_blocking() {
    one_mail_per_feil("blocking");
}

#[test]
fn one_mail_per_feil_async() {
    one_mail_per_feil("async");
}

fn one_mail_per_feil(runtime: &str) {
    let sink = SmtpSink::start("127.0.0.1:0", temp("smtp")).expect("SMTP sink");
    let org_a = Org::new("910077473", "innsyn");
    let org_b = Org::new("910075918", "data");
    let registry = registry_dir(&[&org_a, &org_b]);
    let broken = json!({
        "infoRecord": {"identifier": BROKEN, "organizationName": "Broken", "entityType": {"name": "ORGL"}},
        "serviceRecords": [{
            "organisationNumber": BROKEN,
            "pemCertificate": "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
            "process": ARKIVMELDING_PROCESS,
            "documentTypes": [ARKIVMELDING_STANDARD],
            "service": {"identifier": "DPO", "endpointUrl": "", "securityLevel": 3}
        }]
    });
    std::fs::write(registry.join(format!("identifier/{BROKEN}.json")), broken.to_string())
        .expect("registry answer");
    let services = Services::start_in(&registry, &[], &[]);
    let port = sink.local_addr().port().to_string();
    let node_a = services.node_with(&org_a, runtime, &temp("a"), |env| {
        for (k, v) in [
            ("EFM_MAIL_ERROR_STATUS", "true"),
            ("EFM_MAIL_SMTP_HOST", "127.0.0.1"),
            ("EFM_MAIL_SMTP_PORT", port.as_str()),
            ("EFM_MAIL_SENDER", "integrasjonspunkt@example.no"),
            ("EFM_MAIL_RECEIVER", "drift@example.no"),
        ] {
            env.push((k.into(), v.into()));
        }
    });
    let node_b = services.node(&org_b, runtime, &temp("b"));
    let a = node_a.addr.as_str();

    let xml = std::fs::read(efm_tests::workspace().join("examples/files/arkivmelding.xml"))
        .expect("the example arkivmelding");
    let arkivmelding = |to: &str| {
        let (id, message) = efm_tests::network::sbd(
            org_a.number,
            to,
            ARKIVMELDING_PROCESS,
            ARKIVMELDING_STANDARD,
            "arkivmelding",
            json!({ "hoveddokument": "arkivmelding.xml", "sikkerhetsnivaa": 3 }),
        );
        ok(&create(a, &message), "create");
        ok(&upload(a, &id, "arkivmelding.xml", "application/xml", &xml), "upload");
        for name in referenced(&xml) {
            ok(&upload(a, &id, &name, "text/plain", name.as_bytes()), "upload");
        }
        ok(&send(a, &id), "send");
        id
    };
    let good = arkivmelding(org_b.number);
    let failing = arkivmelding(BROKEN);

    wait_for("FEIL on the message to the broken receiver", Duration::from_secs(30), || {
        statuses(a, &failing).contains(&"FEIL".to_owned())
    });
    wait_for("SENDT and MOTTATT on the good message", Duration::from_secs(30), || {
        let s = statuses(a, &good);
        s.contains(&"SENDT".to_owned()) && s.contains(&"MOTTATT".to_owned())
    });
    wait_for("the FEIL mail", Duration::from_secs(15), || !mails(&sink).is_empty());
    // Time for a second mail to arrive, were one (wrongly) sent.
    std::thread::sleep(Duration::from_secs(2));
    let received = mails(&sink);
    assert_eq!(received.len(), 1, "exactly one mail, for the one FEIL: {received:?}");
    drop(node_b);

    // What the conversation says, from the API, to compare the mail with.
    let r = request(a, "GET", &format!("/api/conversations?messageId={failing}"), AUTH, None, b"");
    ok(&r, "conversation");
    let conversation = &r.json()["content"][0];
    let conversation_id = conversation["conversationId"].as_str().expect("conversationId");
    let reference = conversation["messageReference"].as_str().expect("messageReference");

    let m = parsed(&received[0]);
    assert_eq!(m["defects"], json!([]), "{m}");
    assert_eq!(m["from"], "integrasjonspunkt@example.no");
    assert_eq!(m["to"], "drift@example.no");
    assert_eq!(m["date"], true);
    assert_eq!(m["content_type"], "text/plain");
    assert_eq!(
        m["subject"],
        format!(
            "Integrasjonspunkt: status FEIL registrert for forsendelse {failing} / {reference}"
        )
    );
    assert_eq!(
        m["body"].as_str().map(str::trim_end),
        Some(
            format!(
                "Utgående forsendelse med conversationId {conversation_id} (messageId {failing}) og messageReference {reference} har registrert status 'FEIL'. Se statusgrensesnitt for detaljer."
            )
            .as_str()
        ),
        "{m}"
    );
    assert_eq!(m["attachments"], json!([]));
}

fn settings(sink: &SmtpSink) -> MailSettings {
    let mut s = MailSettings::new("127.0.0.1", "efm@example.no", "arkiv@example.no");
    s.smtp_port = sink.local_addr().port();
    s.svarinn_on_error = true;
    s.svarinn_subject = Some("Melding hentet fra SvarInn som ikke kunne leveres".into());
    s
}

fn forsendelse(level: u8, pdf: &[u8]) -> UndeliverableForsendelse {
    UndeliverableForsendelse {
        id: "5f0e2c1d-0000-4000-8000-000000000007".into(),
        title: Some("Byggesak 12/345 – vedtak".into()),
        sender: Some("Eksempel kommune (910075918)".into()),
        security_level: Some(level),
        files: vec![
            ForsendelseFile {
                filename: "vedtak.pdf".into(),
                mime: "application/pdf".into(),
                content: AttachmentContent::StoreFile {
                    path: "svarinn/f7/vedtak.pdf".into(),
                    size: pdf.len() as u64,
                },
            },
            ForsendelseFile {
                filename: "merknad æøå.txt".into(),
                mime: "text/plain".into(),
                content: AttachmentContent::Bytes(Bytes::from("Merknad: åpent\n")),
            },
        ],
        reason: "no fagsystem takes DPF".into(),
        kept_at: Some("svarinn/f7".into()),
    }
}

#[test]
fn svarinn_mail_carries_files_at_level_3_and_only_a_notice_at_level_4() {
    use base64::Engine as _;
    let sink = SmtpSink::start("127.0.0.1:0", temp("smtp")).expect("SMTP sink");
    let data = temp("data");
    std::fs::create_dir_all(data.join("svarinn/f7")).unwrap();
    // Binary content with every byte value, so any transfer encoding is exercised.
    let pdf: Vec<u8> =
        b"%PDF-1.7\n".iter().copied().chain((0..=255u8).cycle().take(70_000)).collect();
    std::fs::write(data.join("svarinn/f7/vedtak.pdf"), &pdf).unwrap();
    let s = settings(&sink);

    let level3 = svarinn_mail(&s, &forsendelse(3, &pdf)).expect("mailOnError is on");
    efm_blocking::mailer::send(&s, &data, &level3).expect("sent");
    let level4 = svarinn_mail(&s, &forsendelse(4, &pdf)).expect("mailOnError is on");
    efm_blocking::mailer::send(&s, &data, &level4).expect("sent");
    let received = mails(&sink);
    assert_eq!(received.len(), 2);

    let m = parsed(&received[0]);
    assert_eq!(m["defects"], json!([]), "{m}");
    assert_eq!(m["subject"], "Melding hentet fra SvarInn som ikke kunne leveres");
    assert_eq!(
        (m["from"].as_str(), m["to"].as_str()),
        (Some("efm@example.no"), Some("arkiv@example.no"))
    );
    assert_eq!(m["content_type"], "multipart/mixed");
    let body = m["body"].as_str().unwrap_or_default();
    assert!(body.contains("Tittel: Byggesak 12/345 – vedtak"), "{body}");
    assert!(body.contains("Sikkerhetsnivå: 3"), "{body}");
    let attachments = m["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 2, "{m}");
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(attachments[0]["filename"], "vedtak.pdf");
    assert_eq!(attachments[0]["mime"], "application/pdf");
    assert_eq!(b64.decode(attachments[0]["content"].as_str().unwrap()).unwrap(), pdf);
    assert_eq!(attachments[1]["filename"], "merknad æøå.txt");
    assert_eq!(attachments[1]["mime"], "text/plain");
    assert_eq!(
        b64.decode(attachments[1]["content"].as_str().unwrap()).unwrap(),
        "Merknad: åpent\n".as_bytes()
    );

    let m = parsed(&received[1]);
    assert_eq!(m["defects"], json!([]), "{m}");
    assert_eq!(m["content_type"], "text/plain");
    assert_eq!(m["attachments"], json!([]), "level 4: no files by mail");
    let body = m["body"].as_str().unwrap_or_default();
    assert!(body.contains("sikkerhetsnivå 4: filene sendes ikke med e-post"), "{body}");
    assert!(body.contains("Lagret i: svarinn/f7"), "{body}");
    assert!(
        body.contains("vedtak.pdf (application/pdf, 70009 byte): svarinn/f7/vedtak.pdf"),
        "{body}"
    );
    let raw = std::fs::read(&received[1]).unwrap();
    assert!(!raw.windows(8).any(|w| w == b"%PDF-1.7"), "the file's bytes are not in the mail");
}

/// `efm smtp serve` prints its address first and keeps each mail as an `.eml` file.
#[test]
fn efm_smtp_serve_keeps_what_it_is_sent() {
    use std::io::BufRead as _;
    let dir = temp("smtp-cli");
    let mut child = Command::new(efm_tests::efm_bin())
        .args(["smtp", "serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("efm starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("efm prints its address");
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("listening on smtp://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .parse()
        .expect("an address");
    let mut s = MailSettings::new("127.0.0.1", "efm@example.no", "arkiv@example.no");
    s.smtp_port = addr.port();
    let mail = efm_core::mail::Mail {
        to: s.receiver.clone(),
        from: s.sender.clone(),
        subject: "Integrasjonspunkt: prøve".into(),
        body: "hei\n".into(),
        attachments: Vec::new(),
    };
    efm_blocking::mailer::send(&s, &dir, &mail).expect("sent");
    wait_for("the mail on disk", Duration::from_secs(10), || {
        efm_blocking::local_smtp::received(&dir).is_ok_and(|m| m.len() == 1)
    });
    // Still serving after its reader went away.
    efm_blocking::mailer::send(&s, &dir, &mail).expect("sent again");
    let _ = child.kill();
    let _ = child.wait();
    let received = efm_blocking::local_smtp::received(&dir).expect("the folder");
    assert_eq!(received.len(), 2);
    let m = parsed(&received[0]);
    assert_eq!(m["subject"], "Integrasjonspunkt: prøve");
    // lettre ends the text with a line break of its own; the text is what counts.
    assert_eq!(m["body"].as_str().map(str::trim_end), Some("hei"));
}
