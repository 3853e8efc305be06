//! Start the real `efm serve` binary on loopback, and stop it (gently or with -9).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `efm registry serve` on a free loopback port.
pub struct LocalRegistry {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub url: String,
}

impl LocalRegistry {
    /// Serve the records in `dir` (laid out as `identifier/<id>.json`).
    pub fn start(dir: &Path) -> LocalRegistry {
        let dir = dir.to_str().expect("a UTF-8 path");
        let (child, addr) =
            spawn(&["registry", "serve", "--listen", "127.0.0.1:0", "--dir", dir], &[]);
        LocalRegistry { child, url: format!("http://{addr}") }
    }

    /// The project's example records (`examples/registry`).
    /// A registry that signs its answers with `key` (PEM key, or key and chain).
    pub fn start_signed(dir: &Path, key: &Path) -> LocalRegistry {
        let dir = dir.to_str().expect("a UTF-8 path");
        let key = key.to_str().expect("a UTF-8 path");
        let args =
            ["registry", "serve", "--listen", "127.0.0.1:0", "--dir", dir, "--sign-keystore", key];
        let (child, addr) = spawn(&args, &[]);
        LocalRegistry { child, url: format!("http://{addr}") }
    }

    pub fn examples() -> LocalRegistry {
        LocalRegistry::start(&crate::workspace().join("examples/registry"))
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `efm <args>` with `env` set and read the `listening on http://ADDR` line.
fn spawn(args: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(crate::efm_bin())
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("efm starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("efm prints its address");
    let line = line.trim();
    let addr = line
        .strip_prefix("listening on http://")
        .or_else(|| line.strip_prefix("listening on https://"))
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    (child, addr)
}

pub struct Served {
    child: Child,
    /// `127.0.0.1:<port>`
    pub addr: String,
}

impl Served {
    /// `efm serve` on a free loopback port, on `data_dir`, as organisation 987654321
    /// with Basic auth `efm:secret`, configured by `EFM_*` variables (`extra` adds
    /// or overrides some).
    pub fn start(data_dir: &Path, extra: &[(&str, &str)]) -> Served {
        Served::start_with_args(data_dir, extra, &[])
    }

    /// As [`Served::start`], with command-line arguments after `serve`.
    pub fn start_with_args(data_dir: &Path, extra: &[(&str, &str)], args: &[&str]) -> Served {
        let data = data_dir.to_str().expect("a UTF-8 temporary path");
        let mut env: Vec<(&str, &str)> = vec![
            ("EFM_LISTEN", "127.0.0.1:0"),
            ("EFM_DATA_DIR", data),
            ("EFM_ORG", "987654321"),
            ("EFM_API_USER", "efm"),
            ("EFM_API_PASSWORD", "secret"),
        ];
        for &(k, v) in extra {
            env.retain(|(known, _)| *known != k);
            env.push((k, v));
        }
        let mut argv = vec!["serve"];
        argv.extend_from_slice(args);
        let (child, addr) = spawn(&argv, &env);
        Served { child, addr }
    }

    /// The process id, to look at the server from outside (`/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait for the process to end; its exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("efm serve ends")
    }

    /// Wait for the process to end by itself; its exit status.
    pub fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().expect("efm serve ends")
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `efm broker serve`, `efm servicebus serve` or `efm dpi serve` on a free
/// loopback port.
/// A running `efm broker serve`, `efm correspondence serve` or `efm servicebus serve`
/// on a free loopback port.
pub struct LocalService {
    child: Child,
    /// `127.0.0.1:<port>`
    pub addr: String,
    /// `http://127.0.0.1:<port>`
    pub url: String,
}

impl LocalService {
    /// `efm broker serve --dir <dir>` with `args` added (fault knobs, `--resource`).
    pub fn broker(dir: &Path, args: &[&str]) -> LocalService {
        LocalService::start("broker", dir, args)
    }

    /// `efm servicebus serve --dir <dir>` with `args` added (`--check-sas`,
    /// `--lock-duration`, fault knobs).
    pub fn service_bus(dir: &Path, args: &[&str]) -> LocalService {
        LocalService::start("servicebus", dir, args)
    }

    /// `efm dpi serve --dir <dir>`: the DPI corner 2.
    pub fn dpi(dir: &Path) -> LocalService {
        LocalService::start("dpi", dir, &[])
    }

    /// `efm correspondence serve --dir <dir>`, taking the Altinn tokens of the broker
    /// kept in `broker_dir`, with `args` added (`--read-after`, fault knobs).
    pub fn correspondence(dir: &Path, broker_dir: &Path, args: &[&str]) -> LocalService {
        let secret = broker_dir.join("token-secret");
        let secret = secret.to_str().expect("a UTF-8 path");
        let mut all = vec!["--token-secret", secret];
        all.extend_from_slice(args);
        LocalService::start("correspondence", dir, &all)
    }

    /// `efm fiks serve --dir <dir>` with `args` added (`--lest-after`,
    /// `--forsendelse-type`, `--credentials`, fault knobs).
    pub fn fiks(dir: &Path, args: &[&str]) -> LocalService {
        LocalService::start("fiks", dir, args)
    }

    fn start(command: &str, dir: &Path, args: &[&str]) -> LocalService {
        let dir = dir.to_str().expect("a UTF-8 path");
        let mut argv = vec![command, "serve", "--listen", "127.0.0.1:0", "--dir", dir];
        argv.extend_from_slice(args);
        let (child, addr) = spawn(&argv, &[]);
        LocalService { url: format!("http://{addr}"), child, addr }
    }

    /// SIGKILL and wait: the state on disk is all that is left.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LocalService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
