//! A local SMTP sink for tests and `efm smtp serve`: plain SMTP (RFC 5321's
//! minimum: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), no TLS (STARTTLS is
//! answered 454, so a client in opportunistic mode goes on in plain text) and no
//! login. Each accepted mail is written, as received, to `<n>.eml` in a folder:
//! written to a temporary name, flushed and renamed, so a reader never sees half
//! a mail.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The largest mail accepted (announced as `SIZE`).
pub const MAX_MAIL: usize = 64 * 1024 * 1024;

/// The longest command line accepted.
const MAX_LINE: u64 = 4096;

/// A running sink; dropping it stops accepting connections.
pub struct SmtpSink {
    addr: SocketAddr,
    dir: PathBuf,
    stop: Arc<AtomicBool>,
}

impl SmtpSink {
    /// Listen on `listen` (port 0 picks one) and write mails to `dir`, which is
    /// created if missing.
    pub fn start(listen: &str, dir: impl Into<PathBuf>) -> std::io::Result<SmtpSink> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Shared { dir: dir.clone(), count: AtomicU64::new(0) });
        let stopping = stop.clone();
        std::thread::Builder::new().name("efm-smtp-sink".into()).spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let state = state.clone();
                        let _ = std::thread::Builder::new().name("efm-smtp-session".into()).spawn(
                            move || {
                                let _ = session(stream, &state);
                            },
                        );
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })?;
        Ok(SmtpSink { addr, dir, stop })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The mails received so far, oldest first.
    pub fn mails(&self) -> std::io::Result<Vec<PathBuf>> {
        received(&self.dir)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The `.eml` files in `dir`, in the order they were received.
pub fn received(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut mails: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let n = p.file_name()?.to_str()?.strip_suffix(".eml")?.parse().ok()?;
            Some((n, p))
        })
        .collect();
    mails.sort();
    Ok(mails.into_iter().map(|(_, p)| p).collect())
}

struct Shared {
    dir: PathBuf,
    count: AtomicU64,
}

/// One SMTP conversation.
fn session(stream: TcpStream, state: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    reply(&mut out, "220 efm-local-smtp ESMTP ready")?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    loop {
        let Some(line) = read_line(&mut reader)? else { return Ok(()) };
        let (verb, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => reply(
                &mut out,
                &format!(
                    "250-efm-local-smtp\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE {MAX_MAIL}"
                ),
            )?,
            "HELO" => reply(&mut out, "250 efm-local-smtp")?,
            "MAIL" => {
                from = Some(rest.to_owned());
                to.clear();
                reply(&mut out, "250 OK")?
            }
            "RCPT" if from.is_some() => {
                to.push(rest.to_owned());
                reply(&mut out, "250 OK")?
            }
            "RCPT" => reply(&mut out, "503 MAIL first")?,
            "DATA" if to.is_empty() => reply(&mut out, "503 RCPT first")?,
            "DATA" => {
                reply(&mut out, "354 End data with <CR><LF>.<CR><LF>")?;
                match read_data(&mut reader)? {
                    Some(mail) => {
                        save(state, &mail)?;
                        reply(&mut out, "250 OK: queued")?;
                    }
                    None => reply(&mut out, "552 Too much mail data")?,
                }
                from = None;
                to.clear();
            }
            "RSET" => {
                from = None;
                to.clear();
                reply(&mut out, "250 OK")?
            }
            "NOOP" => reply(&mut out, "250 OK")?,
            "QUIT" => {
                reply(&mut out, "221 Bye")?;
                return Ok(());
            }
            "STARTTLS" => reply(&mut out, "454 TLS not available")?,
            _ => reply(&mut out, "502 Command not implemented")?,
        }
    }
}

fn reply(out: &mut TcpStream, text: &str) -> std::io::Result<()> {
    out.write_all(text.as_bytes())?;
    out.write_all(b"\r\n")?;
    out.flush()
}

/// One command line without its line ending; none at the end of the stream.
fn read_line(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = r.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// The mail after DATA, up to the lone dot, dot-stuffing undone; none if it is
/// larger than [`MAX_MAIL`] (read to its end all the same, to stay in step).
fn read_data(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    let mut mail = Vec::new();
    let mut too_large = false;
    loop {
        let mut line = Vec::new();
        let n = r.by_ref().take(1024 * 1024).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok((!too_large).then_some(mail));
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        if mail.len() + line.len() > MAX_MAIL {
            too_large = true;
            mail.clear();
        }
        if !too_large {
            mail.extend_from_slice(line);
        }
    }
}

fn save(state: &Shared, mail: &[u8]) -> std::io::Result<()> {
    let n = state.count.fetch_add(1, Ordering::SeqCst) + 1;
    // The clock in the name keeps a restarted sink from reusing a number.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let id = stamp * 1000 + u128::from(n % 1000);
    let tmp = state.dir.join(format!(".{id}.eml.part"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(mail)?;
    file.sync_all()?;
    std::fs::rename(&tmp, state.dir.join(format!("{id}.eml")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailer;
    use efm_core::mail::{Mail, MailSettings, StartTls};

    #[test]
    fn a_mail_sent_with_lettre_lands_as_one_eml_file() {
        let dir = tempfile::tempdir().unwrap();
        let sink = SmtpSink::start("127.0.0.1:0", dir.path().join("mail")).unwrap();
        for starttls in [StartTls::Opportunistic, StartTls::Off] {
            let mut settings = MailSettings::new("127.0.0.1", "efm@example.no", "arkiv@example.no");
            settings.smtp_port = sink.local_addr().port();
            settings.starttls = starttls;
            let mail = Mail {
                to: settings.receiver.clone(),
                from: settings.sender.clone(),
                subject: "hei".into(),
                body: "line one\n.line with a dot\n".into(),
                attachments: Vec::new(),
            };
            mailer::send(&settings, dir.path(), &mail).unwrap();
        }
        let mails = sink.mails().unwrap();
        assert_eq!(mails.len(), 2);
        let text = std::fs::read_to_string(&mails[0]).unwrap();
        assert!(text.contains("Subject: hei\r\n"), "{text}");
        assert!(text.contains("\r\n.line with a dot"), "dot-stuffing undone: {text}");
    }

    #[test]
    fn starttls_required_is_refused_by_the_plain_sink() {
        let dir = tempfile::tempdir().unwrap();
        let sink = SmtpSink::start("127.0.0.1:0", dir.path()).unwrap();
        let mut settings = MailSettings::new("127.0.0.1", "efm@example.no", "arkiv@example.no");
        settings.smtp_port = sink.local_addr().port();
        settings.starttls = StartTls::Required;
        let mail = Mail {
            to: settings.receiver.clone(),
            from: settings.sender.clone(),
            subject: "x".into(),
            body: "y".into(),
            attachments: Vec::new(),
        };
        assert!(matches!(
            mailer::send(&settings, dir.path(), &mail),
            Err(mailer::MailError::Smtp { .. })
        ));
        assert!(sink.mails().unwrap().is_empty());
    }
}
