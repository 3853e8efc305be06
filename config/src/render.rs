//! The effective configuration as efm.toml text, secrets masked, for `efm config check`.

use std::fmt::Write;

use crate::model::{ApiAuth, Config, Mail};
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
    match &config.mail {
        Mail::Off => w.value("enabled", "false".into()),
        Mail::OnError(s) => {
            w.value("enabled", "true".into());
            w.value("smtp_host", quote(&s.host));
            w.value("smtp_port", s.port.to_string());
            w.value("sender", quote(&s.sender));
            w.value("receiver", quote(&s.receiver));
            if let Some(a) = &s.auth {
                w.value("username", quote(&a.username));
                w.value("password", quote(&a.password.to_string()));
            }
            if let Some(t) = &s.trust {
                w.value("trust", quote(t));
            }
        }
    }

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
    }
    w.out
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
