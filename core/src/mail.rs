//! E-mail as the integration point describes it: who, what, and which files. The
//! runtime renders a [`Mail`] as MIME and sends it over SMTP with [`MailSettings`];
//! nothing here opens a socket or a file.
//!
//! Two paths lead to a mail, both off unless configured:
//! - [`feil_mail`]: every FEIL recorded on a conversation, as the reference's
//!   `difi.move.feature.mailErrorStatus` (`DefaultConversationService.trySendMail`);
//! - [`svarinn_mail`]: a SvarInn forsendelse that could not be handed to the
//!   fagsystem (`difi.move.fiks.inn.mailOnError`).

use bytes::Bytes;

use crate::status::Direction;

/// One mail to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Mail {
    pub to: String,
    pub from: String,
    /// One line: no line breaks (see [`one_line`]).
    pub subject: String,
    /// Plain text.
    pub body: String,
    pub attachments: Vec<MailAttachment>,
}

/// A file sent along with a mail.
#[derive(Clone, Debug, PartialEq)]
pub struct MailAttachment {
    pub filename: String,
    pub mime: String,
    pub content: AttachmentContent,
}

/// Where an attachment's bytes are.
#[derive(Clone, Debug, PartialEq)]
pub enum AttachmentContent {
    /// In memory, small.
    Bytes(Bytes),
    /// A file the store keeps, by its path relative to the data folder; the runtime
    /// reads it when it sends. `size` is what the store recorded, for limits.
    StoreFile { path: String, size: u64 },
}

impl AttachmentContent {
    pub fn size(&self) -> u64 {
        match self {
            AttachmentContent::Bytes(b) => b.len() as u64,
            AttachmentContent::StoreFile { size, .. } => *size,
        }
    }
}

/// Whether the SMTP session is upgraded with STARTTLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartTls {
    /// Upgrade when the server offers it, else go on in plain text: what the
    /// reference's `mail.smtp.starttls.enable=true` does.
    #[default]
    Opportunistic,
    /// Refuse a server that does not offer it.
    Required,
    /// Never upgrade (a local server without TLS).
    Off,
}

impl StartTls {
    pub fn from_name(name: &str) -> Option<StartTls> {
        match name.trim().to_ascii_lowercase().as_str() {
            "opportunistic" => Some(StartTls::Opportunistic),
            "required" => Some(StartTls::Required),
            "off" => Some(StartTls::Off),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StartTls::Opportunistic => "opportunistic",
            StartTls::Required => "required",
            StartTls::Off => "off",
        }
    }
}

/// An SMTP login.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpLogin {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for SmtpLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpLogin").field("username", &self.username).finish_non_exhaustive()
    }
}

/// Attachments larger than this together are not mailed (see [`svarinn_mail`]):
/// common mail servers refuse messages over 25 MB, and base64 adds a third.
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 15 * 1024 * 1024;

/// The reference's `difi.move.mail.*`, with the two switches that use it. Every
/// mail path is off until switched on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailSettings {
    pub smtp_host: String,
    /// 25 unless set, as JavaMail's default.
    pub smtp_port: u16,
    pub starttls: StartTls,
    /// Log in with these (`enableAuth` + `username`/`password`).
    pub login: Option<SmtpLogin>,
    /// Hosts whose certificates are accepted unchecked, space-separated, or `*`
    /// for all (JavaMail's `mail.smtp.ssl.trust`, the reference's `mail.trust`).
    pub trust: Option<String>,
    /// From (`senderAddress`).
    pub sender: String,
    /// To (`receiverAddress`).
    pub receiver: String,
    /// Mail on every FEIL (`difi.move.feature.mailErrorStatus`).
    pub mail_error_status: bool,
    /// Mail undeliverable SvarInn forsendelser (`difi.move.fiks.inn.mailOnError`).
    pub svarinn_on_error: bool,
    /// Their subject (`difi.move.fiks.inn.mailSubject`); a default naming the
    /// forsendelse when unset.
    pub svarinn_subject: Option<String>,
    /// The most a mail's attachments may hold together; more is sent as a notice.
    pub max_attachment_bytes: u64,
}

impl MailSettings {
    /// A server and the two addresses, every path off.
    pub fn new(
        smtp_host: impl Into<String>,
        sender: impl Into<String>,
        receiver: impl Into<String>,
    ) -> Self {
        MailSettings {
            smtp_host: smtp_host.into(),
            smtp_port: 25,
            starttls: StartTls::default(),
            login: None,
            trust: None,
            sender: sender.into(),
            receiver: receiver.into(),
            mail_error_status: false,
            svarinn_on_error: false,
            svarinn_subject: None,
            max_attachment_bytes: DEFAULT_MAX_ATTACHMENT_BYTES,
        }
    }

    /// Whether `host`'s certificate is accepted without checking it.
    pub fn trusts(&self, host: &str) -> bool {
        self.trust
            .as_deref()
            .is_some_and(|t| t.split_whitespace().any(|h| h == "*" || h.eq_ignore_ascii_case(host)))
    }

    fn mail(&self, subject: &str, body: String, attachments: Vec<MailAttachment>) -> Mail {
        Mail {
            to: self.receiver.clone(),
            from: self.sender.clone(),
            subject: one_line(subject),
            body,
            attachments,
        }
    }
}

/// Line breaks and other control characters become spaces: a subject is one header
/// line, and a value from a message must not add headers of its own.
pub fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The conversation a FEIL was recorded on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeilConversation<'a> {
    pub direction: Direction,
    pub conversation_id: Option<&'a str>,
    pub message_id: &'a str,
    pub message_reference: Option<&'a str>,
}

/// The mail on a FEIL, worded as the reference's `DefaultConversationService`.
pub fn feil_mail(settings: &MailSettings, c: &FeilConversation<'_>) -> Mail {
    let reference = c.message_reference.filter(|r| !r.is_empty());
    let mut subject =
        format!("Integrasjonspunkt: status FEIL registrert for forsendelse {}", c.message_id);
    if let Some(r) = reference {
        subject.push_str(&format!(" / {r}"));
    }
    let direction = match c.direction {
        Direction::Incoming => "Innkommende",
        Direction::Outgoing => "Utgående",
    };
    let reference_part = reference.map(|r| format!("og messageReference {r} ")).unwrap_or_default();
    // The reference prints Java's "null" for a missing conversationId.
    let body = format!(
        "{direction} forsendelse med conversationId {} (messageId {}) {reference_part}har registrert status 'FEIL'. Se statusgrensesnitt for detaljer.",
        c.conversation_id.unwrap_or("null"),
        c.message_id,
    );
    settings.mail(&subject, body, Vec::new())
}

/// A file of a SvarInn forsendelse.
#[derive(Clone, Debug, PartialEq)]
pub struct ForsendelseFile {
    pub filename: String,
    pub mime: String,
    pub content: AttachmentContent,
}

/// A SvarInn forsendelse that could not be handed to the fagsystem.
#[derive(Clone, Debug, PartialEq)]
pub struct UndeliverableForsendelse {
    /// SvarInn's forsendelse id.
    pub id: String,
    pub title: Option<String>,
    /// Who sent it, as it should be shown (name and organisation number).
    pub sender: Option<String>,
    /// The forsendelse's security level (`sikkerhetsnivaa`, 3 or 4); unknown is
    /// treated as 4.
    pub security_level: Option<u8>,
    pub files: Vec<ForsendelseFile>,
    /// Why it could not be delivered.
    pub reason: String,
    /// Where the integration point keeps its files, for the notice (a folder of
    /// the data folder, say); the files' own store paths are named as well.
    pub kept_at: Option<String>,
}

/// The mail that stands in for an undeliverable SvarInn forsendelse, when
/// `difi.move.fiks.inn.mailOnError` is on (else none).
///
/// At security level 3 its files ride along as attachments. At level 4 (or an
/// unknown level) the mail is only a notice of which forsendelse it is and where
/// its files are kept, and the files stay in the store: level-4 content must not
/// travel by ordinary e-mail. Files larger together than
/// [`MailSettings::max_attachment_bytes`] are not attached either, as the
/// reference's old mail sender fell back to a notice for mails over the server's
/// size limit.
///
/// The reference removed this path with BEST/EDU in October 2023 (a62c902); it is
/// kept here because receiving SvarInn without it loses a forsendelse the
/// fagsystem cannot take.
pub fn svarinn_mail(settings: &MailSettings, f: &UndeliverableForsendelse) -> Option<Mail> {
    if !settings.svarinn_on_error {
        return None;
    }
    let subject = settings.svarinn_subject.clone().unwrap_or_else(|| {
        format!("Integrasjonspunkt: forsendelse {} fra SvarInn kunne ikke leveres", f.id)
    });
    let mut body = format!(
        "Forsendelse {} ble hentet fra SvarInn, men kunne ikke leveres til fagsystemet.\n",
        f.id
    );
    if let Some(t) = &f.title {
        body.push_str(&format!("Tittel: {t}\n"));
    }
    if let Some(s) = &f.sender {
        body.push_str(&format!("Avsender: {s}\n"));
    }
    let level = f.security_level.unwrap_or(4);
    body.push_str(&format!("Sikkerhetsnivå: {level}\n"));
    body.push_str(&format!("Årsak: {}\n\n", f.reason));
    let total: u64 = f.files.iter().map(|file| file.content.size()).sum();
    let attach = level <= 3 && total <= settings.max_attachment_bytes;
    if attach {
        body.push_str("Filene ligger ved denne e-posten:\n");
    } else {
        if level > 3 {
            body.push_str(
                "Forsendelsen har sikkerhetsnivå 4: filene sendes ikke med e-post, men er lagret i integrasjonspunktet.\n",
            );
        } else {
            body.push_str(&format!(
                "Filene er for store til å sendes med e-post ({total} byte), og er lagret i integrasjonspunktet.\n",
            ));
        }
        if let Some(k) = &f.kept_at {
            body.push_str(&format!("Lagret i: {k}\n"));
        }
        body.push_str("Filer:\n");
    }
    for file in &f.files {
        body.push_str(&format!(
            "- {} ({}, {} byte)",
            one_line(&file.filename),
            file.mime,
            file.content.size()
        ));
        if let (false, AttachmentContent::StoreFile { path, .. }) = (attach, &file.content) {
            body.push_str(&format!(": {path}"));
        }
        body.push('\n');
    }
    let attachments = if attach {
        f.files
            .iter()
            .map(|file| MailAttachment {
                filename: file.filename.clone(),
                mime: file.mime.clone(),
                content: file.content.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    Some(settings.mail(&subject, body, attachments))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> MailSettings {
        let mut s = MailSettings::new("smtp.example.no", "efm@example.no", "arkiv@example.no");
        s.mail_error_status = true;
        s.svarinn_on_error = true;
        s
    }

    #[test]
    fn feil_mail_is_worded_as_the_reference() {
        let c = FeilConversation {
            direction: Direction::Outgoing,
            conversation_id: Some("c-1"),
            message_id: "m-1",
            message_reference: Some("ref-9"),
        };
        let m = feil_mail(&settings(), &c);
        assert_eq!(
            m.subject,
            "Integrasjonspunkt: status FEIL registrert for forsendelse m-1 / ref-9"
        );
        assert_eq!(
            m.body,
            "Utgående forsendelse med conversationId c-1 (messageId m-1) og messageReference ref-9 har registrert status 'FEIL'. Se statusgrensesnitt for detaljer."
        );
        assert_eq!((m.from.as_str(), m.to.as_str()), ("efm@example.no", "arkiv@example.no"));
        assert!(m.attachments.is_empty());
    }

    #[test]
    fn feil_mail_without_a_reference_leaves_it_out() {
        for reference in [None, Some("")] {
            let c = FeilConversation {
                direction: Direction::Incoming,
                conversation_id: Some("c-2"),
                message_id: "m-2",
                message_reference: reference,
            };
            let m = feil_mail(&settings(), &c);
            assert_eq!(m.subject, "Integrasjonspunkt: status FEIL registrert for forsendelse m-2");
            assert_eq!(
                m.body,
                "Innkommende forsendelse med conversationId c-2 (messageId m-2) har registrert status 'FEIL'. Se statusgrensesnitt for detaljer."
            );
        }
    }

    #[test]
    fn a_reference_cannot_add_headers() {
        let c = FeilConversation {
            direction: Direction::Outgoing,
            conversation_id: None,
            message_id: "m",
            message_reference: Some("x\r\nBcc: evil@example.no"),
        };
        let m = feil_mail(&settings(), &c);
        assert!(!m.subject.contains(['\r', '\n']), "{}", m.subject);
        assert!(m.body.contains("conversationId null"));
    }

    fn forsendelse(level: Option<u8>) -> UndeliverableForsendelse {
        UndeliverableForsendelse {
            id: "f-7".into(),
            title: Some("Byggesak 12".into()),
            sender: Some("Kommune 910075918".into()),
            security_level: level,
            files: vec![
                ForsendelseFile {
                    filename: "vedtak.pdf".into(),
                    mime: "application/pdf".into(),
                    content: AttachmentContent::StoreFile {
                        path: "svarinn/f-7/vedtak.pdf".into(),
                        size: 1234,
                    },
                },
                ForsendelseFile {
                    filename: "note.txt".into(),
                    mime: "text/plain".into(),
                    content: AttachmentContent::Bytes(Bytes::from_static(b"hei")),
                },
            ],
            reason: "the fagsystem refused it".into(),
            kept_at: Some("svarinn/f-7".into()),
        }
    }

    #[test]
    fn level_3_sends_the_files_along() {
        let m = svarinn_mail(&settings(), &forsendelse(Some(3))).expect("on");
        assert_eq!(m.subject, "Integrasjonspunkt: forsendelse f-7 fra SvarInn kunne ikke leveres");
        assert_eq!(m.attachments.len(), 2);
        assert_eq!(m.attachments[0].filename, "vedtak.pdf");
        assert_eq!(m.attachments[0].mime, "application/pdf");
        assert_eq!(
            m.attachments[0].content,
            AttachmentContent::StoreFile { path: "svarinn/f-7/vedtak.pdf".into(), size: 1234 }
        );
        assert_eq!(m.attachments[1].content, AttachmentContent::Bytes(Bytes::from_static(b"hei")));
        assert!(m.body.contains("Forsendelse f-7 ble hentet fra SvarInn"), "{}", m.body);
        assert!(m.body.contains("Tittel: Byggesak 12\n"));
        assert!(m.body.contains("Avsender: Kommune 910075918\n"));
        assert!(m.body.contains("Årsak: the fagsystem refused it\n"));
        assert!(m.body.contains("Filene ligger ved denne e-posten"));
        assert!(!m.body.contains("svarinn/f-7/vedtak.pdf"), "no store paths when attached");
    }

    #[test]
    fn level_4_sends_a_notice_only() {
        for level in [Some(4), None] {
            let m = svarinn_mail(&settings(), &forsendelse(level)).expect("on");
            assert!(m.attachments.is_empty(), "level {level:?} mails no files");
            assert!(m.body.contains("Sikkerhetsnivå: 4\n"), "{}", m.body);
            assert!(m.body.contains("sikkerhetsnivå 4: filene sendes ikke med e-post"));
            assert!(m.body.contains("Lagret i: svarinn/f-7\n"));
            assert!(
                m.body.contains(
                    "- vedtak.pdf (application/pdf, 1234 byte): svarinn/f-7/vedtak.pdf\n"
                )
            );
            assert!(m.body.contains("- note.txt (text/plain, 3 byte)\n"));
        }
    }

    #[test]
    fn level_3_over_the_size_limit_sends_a_notice() {
        let mut s = settings();
        s.max_attachment_bytes = 1000;
        let m = svarinn_mail(&s, &forsendelse(Some(3))).expect("on");
        assert!(m.attachments.is_empty());
        assert!(m.body.contains("for store til å sendes med e-post (1237 byte)"), "{}", m.body);
        assert!(m.body.contains(": svarinn/f-7/vedtak.pdf\n"));
    }

    #[test]
    fn svarinn_mail_is_off_unless_switched_on_and_takes_the_configured_subject() {
        let mut s = settings();
        s.svarinn_on_error = false;
        assert_eq!(svarinn_mail(&s, &forsendelse(Some(3))), None);
        s.svarinn_on_error = true;
        s.svarinn_subject = Some("Melding fra SvarInn\r\n".into());
        let m = svarinn_mail(&s, &forsendelse(Some(3))).expect("on");
        assert_eq!(m.subject, "Melding fra SvarInn  ");
    }

    #[test]
    fn defaults_are_off_and_trust_matches_hosts() {
        let mut s = MailSettings::new("h", "a@b.no", "c@d.no");
        assert!(!s.mail_error_status && !s.svarinn_on_error);
        assert_eq!((s.smtp_port, s.starttls), (25, StartTls::Opportunistic));
        assert!(!s.trusts("smtp.example.no"));
        s.trust = Some("other.no SMTP.example.no".into());
        assert!(s.trusts("smtp.example.no") && !s.trusts("x.no"));
        s.trust = Some("*".into());
        assert!(s.trusts("anything"));
        assert_eq!(StartTls::from_name(" Required "), Some(StartTls::Required));
        assert_eq!(StartTls::from_name("maybe"), None);
    }
}
