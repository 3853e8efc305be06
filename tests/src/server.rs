//! Start the real `efm serve` binary on loopback, and stop it (gently or with -9).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Served {
    child: Child,
    /// `127.0.0.1:<port>`
    pub addr: String,
}

impl Served {
    /// `efm serve` on a free loopback port, on `data_dir`, with Basic auth
    /// `efm:secret` and `extra` arguments.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Served {
        let mut child = Command::new(crate::efm_bin())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--password",
                "secret",
                "--org",
                "910077473",
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("efm serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("efm serve prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Served { child, addr }
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
