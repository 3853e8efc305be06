//! Sends the node's `Output::Mail` over SMTP, on a thread of its own so that no
//! node lock or worker waits for a mail server.
//!
//! lettre builds each message whole in memory before it is sent (it has no
//! streaming body), so a store file attached to a mail is read into memory, up to
//! [`MAX_ATTACHMENTS`] together; core already turns larger SvarInn mails into
//! notices (`MailSettings::max_attachment_bytes`). A mail that cannot be sent is
//! reported once as a notice and dropped, as the reference only logs it.

use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use efm_core::mail::{AttachmentContent, Mail, MailSettings, StartTls};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use crate::serve::Notices;

/// The most the attachments of one mail may hold together in memory.
pub const MAX_ATTACHMENTS: u64 = 32 * 1024 * 1024;

/// Mails waiting for the mail thread; beyond this a mail is dropped with a
/// notice rather than let a dead mail server grow memory without bound.
const QUEUE: usize = 1000;

/// How long one SMTP command may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("bad address {address:?}: {reason}")]
    Address { address: String, reason: String },
    #[error("attachment {name}: {reason}")]
    Attachment { name: String, reason: String },
    #[error("attachments of {size} bytes exceed the {MAX_ATTACHMENTS}-byte limit for mail")]
    TooLarge { size: u64 },
    #[error("cannot build the mail: {0}")]
    Build(String),
    #[error("TLS settings for {host}: {reason}")]
    Tls { host: String, reason: String },
    #[error("SMTP {host}:{port}: {reason}")]
    Smtp { host: String, port: u16, reason: String },
    #[error("too many mails waiting to be sent")]
    QueueFull,
    #[error("the mail thread has stopped")]
    Stopped,
}

/// The mail thread's inbox. Dropping it ends the thread once the queue is sent.
pub struct Mailer {
    tx: mpsc::SyncSender<Mail>,
}

impl Mailer {
    /// Start the thread that sends with `settings`, reading store files under
    /// `data_dir`, and telling failures to `notices`.
    pub fn start(
        settings: MailSettings,
        data_dir: PathBuf,
        notices: Notices,
    ) -> std::io::Result<Mailer> {
        let (tx, rx) = mpsc::sync_channel::<Mail>(QUEUE);
        std::thread::Builder::new().name("efm-mailer".into()).spawn(move || {
            while let Ok(mail) = rx.recv() {
                if let Err(e) = send(&settings, &data_dir, &mail) {
                    notices.notice(&format!("mail {:?} not sent: {e}", mail.subject));
                }
            }
        })?;
        Ok(Mailer { tx })
    }

    /// Queue `mail`; it is sent in the order queued.
    pub fn queue(&self, mail: Mail) -> Result<(), MailError> {
        self.tx.try_send(mail).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => MailError::QueueFull,
            mpsc::TrySendError::Disconnected(_) => MailError::Stopped,
        })
    }
}

/// Send `mail` now, blocking until the server has taken it.
pub fn send(settings: &MailSettings, data_dir: &Path, mail: &Mail) -> Result<(), MailError> {
    let message = render(mail, data_dir)?;
    transport(settings)?.send(&message).map(|_| ()).map_err(|e| MailError::Smtp {
        host: settings.smtp_host.clone(),
        port: settings.smtp_port,
        reason: e.to_string(),
    })
}

/// The SMTP client `settings` describe: STARTTLS as configured, with rustls; a
/// host named in `trust` has its certificate accepted unchecked, as JavaMail's
/// `mail.smtp.ssl.trust` does.
pub fn transport(settings: &MailSettings) -> Result<SmtpTransport, MailError> {
    let host = settings.smtp_host.clone();
    let params = || {
        let trusted = settings.trusts(&host);
        TlsParameters::builder(host.clone())
            .dangerous_accept_invalid_certs(trusted)
            .dangerous_accept_invalid_hostnames(trusted)
            .build_rustls()
            .map_err(|e| MailError::Tls { host: host.clone(), reason: e.to_string() })
    };
    let tls = match settings.starttls {
        StartTls::Off => Tls::None,
        StartTls::Opportunistic => Tls::Opportunistic(params()?),
        StartTls::Required => Tls::Required(params()?),
    };
    let mut builder = SmtpTransport::builder_dangerous(host.as_str())
        .port(settings.smtp_port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT));
    if let Some(login) = &settings.login {
        builder =
            builder.credentials(Credentials::new(login.username.clone(), login.password.clone()));
    }
    Ok(builder.build())
}

/// `mail` as a MIME message: plain text alone, or multipart/mixed with the
/// attachments after the text.
pub fn render(mail: &Mail, data_dir: &Path) -> Result<Message, MailError> {
    let address = |a: &str| {
        a.parse().map_err(|e: lettre::address::AddressError| MailError::Address {
            address: a.to_owned(),
            reason: e.to_string(),
        })
    };
    let builder =
        Message::builder().from(address(&mail.from)?).to(address(&mail.to)?).subject(&mail.subject);
    let built = if mail.attachments.is_empty() {
        builder.singlepart(SinglePart::plain(mail.body.clone()))
    } else {
        let total: u64 = mail.attachments.iter().map(|a| a.content.size()).sum();
        if total > MAX_ATTACHMENTS {
            return Err(MailError::TooLarge { size: total });
        }
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(mail.body.clone()));
        for a in &mail.attachments {
            let bad = |reason: String| MailError::Attachment { name: a.filename.clone(), reason };
            let content_type = ContentType::parse(&a.mime)
                .or_else(|_| ContentType::parse("application/octet-stream"))
                .map_err(|e| bad(e.to_string()))?;
            let bytes = match &a.content {
                AttachmentContent::Bytes(b) => b.to_vec(),
                AttachmentContent::StoreFile { path, .. } => {
                    read_store_file(data_dir, path).map_err(bad)?
                }
            };
            parts = parts.singlepart(Attachment::new(a.filename.clone()).body(bytes, content_type));
        }
        builder.multipart(parts)
    };
    built.map_err(|e| MailError::Build(e.to_string()))
}

/// A store file by its path under the data folder: a plain relative path only,
/// and no larger than [`MAX_ATTACHMENTS`] as it is read.
fn read_store_file(data_dir: &Path, relative: &str) -> Result<Vec<u8>, String> {
    let rel = Path::new(relative);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!("{relative:?} is not a path under the data folder"));
    }
    let path = data_dir.join(rel);
    let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    use std::io::Read as _;
    file.take(MAX_ATTACHMENTS + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_ATTACHMENTS {
        return Err(format!("larger than {MAX_ATTACHMENTS} bytes"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use efm_core::mail::MailAttachment;

    fn mail(attachments: Vec<MailAttachment>) -> Mail {
        Mail {
            to: "arkiv@example.no".into(),
            from: "efm@example.no".into(),
            subject: "Integrasjonspunkt: status FEIL".into(),
            body: "Utgående forsendelse".into(),
            attachments,
        }
    }

    #[test]
    fn a_plain_mail_has_its_headers_and_text() {
        let m = render(&mail(Vec::new()), Path::new("/nonexistent")).unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("From: efm@example.no\r\n"), "{text}");
        assert!(text.contains("To: arkiv@example.no\r\n"), "{text}");
        assert!(text.contains("Subject: Integrasjonspunkt: status FEIL\r\n"), "{text}");
        assert!(text.contains("Content-Type: text/plain; charset=utf-8"), "{text}");
    }

    #[test]
    fn store_files_are_read_from_the_data_folder_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("svarinn")).unwrap();
        std::fs::write(dir.path().join("svarinn/a.txt"), b"hello file").unwrap();
        let attach = |path: &str| MailAttachment {
            filename: "a.txt".into(),
            mime: "text/plain".into(),
            content: AttachmentContent::StoreFile { path: path.into(), size: 10 },
        };
        let m = render(&mail(vec![attach("svarinn/a.txt")]), dir.path()).unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("multipart/mixed"), "{text}");
        assert!(text.contains("filename=\"a.txt\""), "{text}");
        assert!(text.contains("hello file"), "{text}");
        for bad in ["../a.txt", "/etc/passwd", "svarinn/missing.txt"] {
            assert!(
                matches!(
                    render(&mail(vec![attach(bad)]), dir.path()),
                    Err(MailError::Attachment { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn oversized_attachments_are_refused_before_reading() {
        let a = MailAttachment {
            filename: "big.bin".into(),
            mime: "application/octet-stream".into(),
            content: AttachmentContent::StoreFile {
                path: "big.bin".into(),
                size: MAX_ATTACHMENTS + 1,
            },
        };
        assert!(matches!(
            render(&mail(vec![a]), Path::new("/nonexistent")),
            Err(MailError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_bad_address_is_an_error_not_a_panic() {
        let mut m = mail(Vec::new());
        m.to = "not an address".into();
        assert!(matches!(render(&m, Path::new("/")), Err(MailError::Address { .. })));
    }
}
