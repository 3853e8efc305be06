//! `efm config check` prints the effective configuration with secrets masked, or every
//! problem with exit 1. The environment is set explicitly so the suite does not
//! depend on the caller's.

use std::path::PathBuf;
use std::process::{Command, Output};

use efm_tests::efm_bin;

fn check(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(efm_bin())
        .args(["config", "check"])
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("efm runs")
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("efm-config-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn no_configuration_prints_the_defaults() {
    let out = check(&[], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("listen = \"127.0.0.1:9093\"\n"), "{stdout}");
    assert!(stdout.contains("data_dir = \"./efm-data\"\n"), "{stdout}");
    assert!(stdout.contains("[dpo]\nenabled = false\n"), "{stdout}");
}

#[test]
fn secrets_are_masked() {
    let keystore = temp_file("business.p12", "not really PKCS#12: config check only opens it");
    let props = temp_file(
        "local.properties",
        &format!(
            "difi.move.org.number=910076787\ndifi.move.org.keystore.path={}\ndifi.move.org.keystore.password=ks-secret\ndifi.datasource.url=jdbc:h2:mem:x\n",
            keystore.display()
        ),
    );
    let out = check(
        &["--properties", props.to_str().unwrap()],
        &[("EFM_API_PASSWORD", "api-secret"), ("EFM_ENABLE", "DPE")],
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stdout.contains("ks-secret") && !stdout.contains("api-secret"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "org = \"910076787\"  # {}:1 difi.move.org.number\n",
            props.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("[dpe]\nenabled = true  # environment EFM_ENABLE\n"), "{stdout}");
    assert!(stdout.contains("password = \"****\"  # environment EFM_API_PASSWORD\n"), "{stdout}");
    assert!(
        stderr.contains("warning: ")
            && stderr.contains("ignored 1 setting that efm does not support: difi.datasource.url"),
        "{stderr}"
    );
}

#[test]
fn problems_are_printed_together_with_exit_1() {
    let toml = temp_file("bad.toml", "listen = \"localhost:99999\"\n[keystor]\npath = \"x\"\n");
    let out = check(&["--config", toml.to_str().unwrap()], &[("EFM_ORG", "123")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let path = toml.display();
    assert_eq!(
        stderr,
        format!(
            "3 configuration errors:\n\
             {path}:1: listen = \"localhost:99999\": expected an address like 127.0.0.1:9093 (port out of range)\n\
             {path}:2: unknown key keystor (did you mean keystore?)\n\
             environment: EFM_ORG = \"123\": expected a nine-digit organisation number like 910076787 (3 digits)\n"
        )
    );
    assert!(out.stdout.is_empty());
}
