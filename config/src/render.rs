//! The effective configuration as efm.toml text, secrets masked, for `efm config check`.

use std::fmt::Write;

use crate::model::{ApiAuth, Config};
use crate::provenance::Origins;
use crate::service::{Service, ServiceSet};

/// Every setting, defaults included, in a form `efm serve --config` reads back
/// (once the masked passwords are filled in). With `origins`, a setting that is not
/// the default says where it came from in a trailing comment.
pub fn render(config: &Config, origins: Option<&Origins>) -> String {
    let mut w = Writer { out: String::new(), table: "", origins };
    w.value("listen", quote(&config.listen.to_string()));
    w.value("data_dir", quote(&config.data_dir.display().to_string()));
    match &config.org {
        Some(org) => w.value("org", quote(org.as_str())),
        None => w.comment("org is not set"),
    }
    w.value("registry_url", quote(config.registry_url.as_str()));
    w.value("registry_signed", config.registry_signed.to_string());

    w.table("keystore");
    match &config.keystore {
        Some(k) => {
            w.value("path", quote(&k.path.display().to_string()));
            if let Some(alias) = &k.alias {
                w.value("alias", quote(alias));
            }
            w.value("password", quote(&k.password.to_string()));
        }
        None => w.comment("not set"),
    }

    w.table("api");
    match &config.api_auth {
        ApiAuth::Off => w.value("auth", "false".into()),
        ApiAuth::Basic { user, password } => {
            w.value("auth", "true".into());
            w.value("user", quote(user));
            w.value("password", quote(&password.to_string()));
        }
        ApiAuth::GeneratePassword { user } => {
            w.value("auth", "true".into());
            w.value("user", quote(user));
            w.comment("password: generated at start-up");
        }
    }

    w.table("tls");
    match &config.tls {
        Some(t) => {
            w.value("cert", quote(&t.cert.display().to_string()));
            w.value("key", quote(&t.key.display().to_string()));
        }
        None => w.comment("off: plain HTTP"),
    }

    let m = &config.messages;
    w.table("messages");
    w.value("ttl_hours", m.default_ttl_hours.get().to_string());
    w.value("lock_timeout", quote(&m.lock_timeout.to_string()));
    w.value("ttl_check_interval", quote(&m.ttl_check_interval.to_string()));
    w.value("status_services", list(m.status_services));
    w.value("status_queue_includes", list(m.status_queue_includes));
    w.value("arkivmelding_receipts", m.arkivmelding_receipts.to_string());

    let p = &config.status_polling;
    w.table("status_polling");
    w.value("interval", quote(&p.interval.to_string()));
    w.value("page_size", p.page_size.to_string());
    w.value("backoff_threshold_days", p.backoff_threshold_days.to_string());
    w.value("backoff_max_interval", quote(&p.backoff_max_interval.to_string()));

    w.table("webhooks");
    w.value("connect_timeout", quote(&config.webhooks.connect_timeout.to_string()));
    w.value("read_timeout", quote(&config.webhooks.read_timeout.to_string()));

    w.table("mail");
    let mail = &config.mail;
    w.value("enabled", mail.on_feil.to_string());
    w.value("svarinn_on_error", mail.svarinn_on_error.to_string());
    if let Some(subject) = &mail.svarinn_subject {
        w.value("svarinn_subject", quote(subject));
    }
    if let Some(s) = &mail.smtp {
        w.value("smtp_host", quote(&s.host));
        w.value("smtp_port", s.port.to_string());
        w.value("starttls", quote(s.starttls.name()));
        w.value("sender", quote(&s.sender));
        w.value("receiver", quote(&s.receiver));
        w.value("auth", s.auth.is_some().to_string());
        if let Some(a) = &s.auth {
            w.value("username", quote(&a.username));
            w.value("password", quote(&a.password.to_string()));
        }
        if let Some(t) = &s.trust {
            w.value("trust", quote(t));
        }
    }

    let t = &config.transports;
    w.table("oidc");
    w.value("url", quote(t.oidc.token_url.as_str()));
    w.value("audience", quote(&t.oidc.audience));
    let org = config.org.as_ref();
    from_org(
        &mut w,
        "client_id",
        &t.oidc.client_id,
        org.map(|o| t.oidc.client_id_for(o)),
        "MOVE_IP_<org>",
    );

    w.table("retry");
    w.value("base", quote(&t.retry.base.to_string()));
    w.value("cap", quote(&t.retry.cap.to_string()));

    w.table("receipts");
    w.value("min_interval", quote(&t.receipts.min_interval.to_string()));
    w.value("max_interval", quote(&t.receipts.max_interval.to_string()));

    for svc in Service::ALL {
        let s = config.services.get(svc);
        w.table(svc.table());
        w.value("enabled", s.enabled.to_string());
        match s.ttl_hours {
            Some(h) => w.value("ttl_hours", h.get().to_string()),
            None => w.comment(&format!(
                "ttl_hours = {} (messages.ttl_hours)",
                config.ttl_hours(svc).get()
            )),
        }
        w.value("upload_size_limit", quote(&s.upload_size_limit.to_string()));
        if let Some(i) = s.polling_interval {
            w.value("polling_interval", quote(&i.to_string()));
        }
        if svc == Service::Dpo
            && let Some(c) = &config.services.dpo_message_channel
        {
            w.value("message_channel", quote(c.as_str()));
        }
        match svc {
            Service::Dpo => dpo(&mut w, config),
            Service::Dpe => dpe(&mut w, config),
            Service::Dpv => dpv(&mut w, config),
            Service::Dpf => dpf(&mut w, config),
            _ => {}
        }
    }
    w.out
}

fn dpo(w: &mut Writer<'_>, config: &Config) {
    let d = &config.transports.dpo;
    w.value("broker_url", quote(d.broker_url.as_str()));
    w.value("resource", quote(&d.resource));
    w.value("token_exchange_url", quote(d.token_exchange_url.as_str()));
    let org = config.org.as_ref();
    let user_org = org.map(|o| d.system_user_org_for(o));
    from_org(w, "system_user_org", &d.system_user_org, user_org, "0192:<org>");
    let user_name = org.map(|o| d.system_user_name_for(o));
    let rule = "<org>_integrasjonspunkt_systembruker_<org>";
    from_org(w, "system_user_name", &d.system_user_name, user_name, rule);
}

/// A setting whose default is made from `org`: its value if set, else (as a comment)
/// what the default comes to, or the rule when `org` is not set either.
fn from_org(
    w: &mut Writer<'_>,
    key: &str,
    set: &Option<String>,
    derived: Option<String>,
    rule: &str,
) {
    match (set, derived) {
        (Some(v), _) => w.value(key, quote(v)),
        (None, Some(d)) => w.comment(&format!("{key} = {} (from org)", quote(&d))),
        (None, None) => w.comment(&format!("{key}: {rule}")),
    }
}

fn dpv(w: &mut Writer<'_>, config: &Config) {
    let d = &config.transports.dpv;
    w.value("correspondence_url", quote(d.correspondence_url.as_str()));
    w.value("notify_email", d.notify_email.to_string());
    w.value("notify_sms", d.notify_sms.to_string());
    w.value("days_to_reply", d.days_to_reply.to_string());
    w.value("enable_due_date", d.enable_due_date.to_string());
    w.value("sensitive_resource", quote(&d.sensitive_resource));
    w.value("notification_text", quote(&d.notification_text));
    w.value("sensitive_notification_text", quote(&d.sensitive_notification_text));
    w.value("email_subject", quote(&d.email_subject));
}

fn dpe(w: &mut Writer<'_>, config: &Config) {
    let d = &config.transports.dpe;
    w.value("service_bus_url", quote(d.service_bus_url.as_str()));
    w.value("sas_key_name", quote(&d.sas_key_name));
    match &d.sas_key {
        Some(key) => w.value("sas_key", quote(&key.to_string())),
        None => w.comment("sas_key: not set"),
    }
    w.value("mode", quote(d.mode.name()));
    match &d.receipt_queue {
        Some(q) => w.value("receipt_queue", quote(q)),
        None => w.comment("receipt_queue: not set (chosen from mode and message)"),
    }
    w.value("read_max", d.read_max.to_string());
}

fn dpf(w: &mut Writer<'_>, config: &Config) {
    let d = &config.transports.dpf;
    w.value("svarut_url", quote(d.svarut_url.as_str()));
    let opt = |w: &mut Writer<'_>, key: &str, v: Option<String>| match v {
        Some(v) => w.value(key, quote(&v)),
        None => w.comment(&format!("{key}: not set")),
    };
    opt(w, "svarut_username", d.svarut_username.clone());
    opt(w, "svarut_password", d.svarut_password.as_ref().map(|p| p.to_string()));
    w.value("svarinn_url", quote(d.svarinn_url.as_str()));
    opt(w, "svarinn_username", d.svarinn_username.clone());
    opt(w, "svarinn_password", d.svarinn_password.as_ref().map(|p| p.to_string()));
    match d.receive {
        Some(r) => w.value("receive", r.to_string()),
        None => w.comment("receive: when DPF is enabled"),
    }
}

struct Writer<'a> {
    out: String,
    table: &'static str,
    origins: Option<&'a Origins>,
}

// Writing to a String cannot fail; the `fmt::Result`s below are ignored for that reason.
impl Writer<'_> {
    fn table(&mut self, name: &'static str) {
        self.table = name;
        let _ = writeln!(self.out, "\n[{name}]");
    }

    fn value(&mut self, key: &str, value: String) {
        let full = match self.table {
            "" => key.to_owned(),
            table => format!("{table}.{key}"),
        };
        let _ = write!(self.out, "{key} = {value}");
        if let Some(p) = self.origins.and_then(|o| o.get(&full)) {
            let _ = write!(self.out, "  # {p}");
        }
        self.out.push('\n');
    }

    fn comment(&mut self, text: &str) {
        let _ = writeln!(self.out, "# {text}");
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => _ = write!(out, "\\u{:04X}", c as u32),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(set: ServiceSet) -> String {
    let items: Vec<String> = set.iter().map(|s| quote(s.name())).collect();
    format!("[{}]", items.join(", "))
}
