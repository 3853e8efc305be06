//! The local registry signs with a PKCS#12 keystore, as an integration point's own
//! keystore is kept, and `efm capabilities --signed` verifies what it signs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use efm_tests::keys::TestKey;
use efm_tests::{efm, efm_bin, workspace};

#[test]
fn signs_with_a_pkcs12_keystore() {
    let key = TestKey::generate("registry-p12");
    let p12 = key.pkcs12("changeit");
    let records = workspace().join("examples/registry");
    let mut child = Command::new(efm_bin())
        .args([
            "registry",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--sign-password",
            "changeit",
            "--dir",
        ])
        .arg(&records)
        .arg("--sign-keystore")
        .arg(&p12)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().replace("listening on ", "");
    let out = efm(&["capabilities", "123456785", "--registry", &url, "--signed"]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let caps: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(caps["capabilities"][0]["serviceIdentifier"], "DPO");

    // The wrong password is refused at start, with the file named.
    let out = Command::new(efm_bin())
        .args(["registry", "serve", "--listen", "127.0.0.1:0", "--sign-password", "wrong", "--dir"])
        .arg(&records)
        .arg("--sign-keystore")
        .arg(&p12)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("keystore.p12"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
