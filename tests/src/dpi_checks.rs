//! Checks of what a node sent to DPI corner 2, with tools independent of ours:
//! openssl (the JWS, the fingerprint, the CMS), unzip, and xmlsec1 (the XAdES
//! signature of the dokumentpakke).

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;

use crate::keys::run;
use crate::network::temp;
use crate::recording::Recorded;

/// The multipart `POST /messages/out` corner 2 took: (query, JWT, CMS).
pub fn sent_to_corner2(
    reqs: &[Recorded],
    sender: &str,
    id: &str,
) -> (Option<String>, String, Vec<u8>) {
    let posts: Vec<&Recorded> = reqs
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages/out") && r.accepted())
        .collect();
    assert_eq!(posts.len(), 1, "a DPI message is sent to corner2, once: {reqs:?}");
    let post = posts[0];
    assert_eq!(post.caller.as_deref(), Some(sender));
    let content_type = post.content_type.as_deref().unwrap_or_default();
    assert!(content_type.starts_with("multipart/form-data"), "{post:?}");
    let folder = post.body_file.clone().expect("corner 2 kept the message");
    assert!(folder.ends_with(id), "stored under the messageId: {folder:?}");
    let jwt = std::fs::read_to_string(folder.join("sbd.jwt")).expect("sbd.jwt");
    let cms = std::fs::read(folder.join("asic.cms")).expect("asic.cms");
    (post.query.clone(), jwt, cms)
}

/// The JWS checked with openssl, as anyone holding only the JWT would: the signing
/// input verified with the key of the `x5c` certificate. The header and the payload.
pub fn verify_jws_with_openssl(jwt: &str, sender: &str) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("header b64url"))
            .expect("header JSON");
    assert_eq!(header["alg"], "RS256", "{header}");
    let x5c = header["x5c"].as_array().expect("x5c");
    assert_eq!(x5c.len(), 1, "our certificate alone: {header}");
    let dir = temp("jws");
    let der = STANDARD.decode(x5c[0].as_str().expect("x5c entry")).expect("x5c base64");
    std::fs::write(dir.join("cert.der"), &der).expect("cert");
    let pubkey = run(Command::new("openssl")
        .args(["x509", "-inform", "DER", "-pubkey", "-noout", "-in"])
        .arg(dir.join("cert.der")));
    std::fs::write(dir.join("pub.pem"), pubkey).expect("pub");
    let subject = run(Command::new("openssl")
        .args(["x509", "-inform", "DER", "-noout", "-subject", "-in"])
        .arg(dir.join("cert.der")));
    assert!(
        String::from_utf8_lossy(&subject).contains(sender),
        "x5c is the sender's certificate: {}",
        String::from_utf8_lossy(&subject)
    );
    std::fs::write(dir.join("input"), format!("{}.{}", parts[0], parts[1])).expect("input");
    std::fs::write(dir.join("sig"), URL_SAFE_NO_PAD.decode(parts[2]).expect("signature b64url"))
        .expect("sig");
    let out = run(Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(dir.join("pub.pem"))
        .arg("-signature")
        .arg(dir.join("sig"))
        .arg(dir.join("input")));
    assert!(String::from_utf8_lossy(&out).contains("Verified OK"), "openssl: {out:?}");
    let payload = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("payload"))
        .expect("payload JSON");
    (header, payload)
}

/// The fingerprint recomputed with openssl over the CMS as uploaded.
pub fn openssl_sha256_base64(data: &[u8]) -> String {
    let dir = temp("digest");
    std::fs::write(dir.join("in"), data).expect("write");
    let digest =
        run(Command::new("openssl").args(["dgst", "-sha256", "-binary"]).arg(dir.join("in")));
    STANDARD.encode(digest)
}

/// The CMS's key transport, as openssl prints the envelope.
pub fn check_oaep(cms: &[u8]) {
    let dir = temp("cms-print");
    std::fs::write(dir.join("in.cms"), cms).expect("write");
    let printed = run(Command::new("openssl")
        .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in"])
        .arg(dir.join("in.cms")));
    let text = String::from_utf8_lossy(&printed);
    assert!(text.contains("rsaesOaep"), "RSAES-OAEP key transport: {text}");
    assert!(text.contains("aes-256-cbc"), "AES-256-CBC content: {text}");
}

/// `unzip -t` on the ASiC-E.
pub fn unzip_test(asic: &[u8]) {
    let dir = temp("unzip-t");
    std::fs::write(dir.join("a.zip"), asic).expect("write");
    let out = run(Command::new("unzip").arg("-t").arg(dir.join("a.zip")));
    assert!(String::from_utf8_lossy(&out).contains("No errors detected"), "{out:?}");
}

/// `META-INF/signatures.xml` verified by xmlsec1 (libxmlsec1, independent of ours):
/// the signature value over SignedInfo with the key of the certificate we name, and
/// every reference: each file of the container and the XAdES SignedProperties.
pub fn verify_xades_with_xmlsec1(entries: &[(String, Vec<u8>)], cert_der: &[u8]) {
    if Command::new("xmlsec1").arg("--version").output().is_err() {
        eprintln!("NOT RUN: xmlsec1 is not installed (scripts/install-test-deps installs it)");
        return;
    }
    let dir = temp("xades");
    for (name, content) in entries {
        let path = dir.join("container").join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("folder");
        std::fs::write(&path, content).expect("entry");
    }
    // References are relative to the container's root.
    let sig = entries
        .iter()
        .find(|(n, _)| n == "META-INF/signatures.xml")
        .map(|(_, c)| c.clone())
        .expect("META-INF/signatures.xml");
    let at_root = dir.join("container").join("signatures.xml");
    std::fs::write(&at_root, &sig).expect("signature at the root");
    std::fs::write(dir.join("cert.der"), cert_der).expect("cert");
    let pem = run(Command::new("openssl")
        .args(["x509", "-inform", "DER", "-in"])
        .arg(dir.join("cert.der")));
    std::fs::write(dir.join("cert.pem"), pem).expect("cert pem");
    let out = Command::new("xmlsec1")
        .args([
            "--verify",
            // Relative file references count as "remote" to xmlsec1.
            "--enabled-reference-uris",
            "empty,same-doc,local,remote",
            "--id-attr:Id",
            "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
            // Our certificate is self-signed: trusting it is what makes the chain.
            "--trusted-pem",
        ])
        .arg(dir.join("cert.pem"))
        .arg(&at_root)
        .current_dir(dir.join("container"))
        .output()
        .expect("xmlsec1");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let references =
        format!("SignedInfo References (ok/all): {0}/{0}", entries_signed(entries) + 1);
    assert!(
        out.status.success() && text.starts_with("OK") && text.contains(&references),
        "xmlsec1 --verify ({references}): {text}"
    );
}

/// The container's files the signature covers: all but `mimetype` and META-INF.
pub fn entries_signed(entries: &[(String, Vec<u8>)]) -> usize {
    entries.iter().filter(|(n, _)| n != "mimetype" && !n.starts_with("META-INF/")).count()
}
