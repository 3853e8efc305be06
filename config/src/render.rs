//! The effective configuration as efm.toml text, secrets masked, for `efm config check`.

use std::fmt::Write;

use crate::model::{ApiAuth, Config, Mail};
use crate::service::{Service, ServiceSet};

/// Every setting, defaults included, in a form `efm serve --config` reads back
/// (once the masked passwords are filled in).
pub fn render(config: &Config) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let w = &mut out;
    let _ = writeln!(w, "listen = {}", quote(&config.listen.to_string()));
    let _ = writeln!(
        w,
        "data_dir = {}",
        quote(&config.data_dir.display().to_string())
    );
    match &config.org {
        Some(org) => _ = writeln!(w, "org = {}", quote(org.as_str())),
        None => _ = writeln!(w, "# org is not set"),
    }
    let _ = writeln!(w, "registry_url = {}", quote(config.registry_url.as_str()));

    let _ = writeln!(w, "\n[keystore]");
    match &config.keystore {
        Some(k) => {
            let _ = writeln!(w, "path = {}", quote(&k.path.display().to_string()));
            if let Some(alias) = &k.alias {
                let _ = writeln!(w, "alias = {}", quote(alias));
            }
            let _ = writeln!(w, "password = {}", quote(&k.password.to_string()));
        }
        None => _ = writeln!(w, "# not set"),
    }

    let _ = writeln!(w, "\n[api]");
    match &config.api_auth {
        ApiAuth::Off => _ = writeln!(w, "auth = false"),
        ApiAuth::Basic { user, password } => {
            let _ = writeln!(
                w,
                "auth = true\nuser = {}\npassword = {}",
                quote(user),
                quote(&password.to_string())
            );
        }
        ApiAuth::GeneratePassword { user } => {
            let _ = writeln!(
                w,
                "auth = true\nuser = {}\n# password: generated at start-up",
                quote(user)
            );
        }
    }

    let _ = writeln!(w, "\n[tls]");
    match &config.tls {
        Some(t) => {
            let _ = writeln!(w, "cert = {}", quote(&t.cert.display().to_string()));
            let _ = writeln!(w, "key = {}", quote(&t.key.display().to_string()));
        }
        None => _ = writeln!(w, "# off: plain HTTP"),
    }

    let m = &config.messages;
    let _ = writeln!(w, "\n[messages]");
    let _ = writeln!(w, "ttl_hours = {}", m.default_ttl_hours.get());
    let _ = writeln!(w, "lock_timeout = {}", quote(&m.lock_timeout.to_string()));
    let _ = writeln!(
        w,
        "ttl_check_interval = {}",
        quote(&m.ttl_check_interval.to_string())
    );
    let _ = writeln!(w, "status_services = {}", list(m.status_services));
    let _ = writeln!(
        w,
        "status_queue_includes = {}",
        list(m.status_queue_includes)
    );

    let p = &config.status_polling;
    let _ = writeln!(w, "\n[status_polling]");
    let _ = writeln!(w, "interval = {}", quote(&p.interval.to_string()));
    let _ = writeln!(w, "page_size = {}", p.page_size);
    let _ = writeln!(w, "backoff_threshold_days = {}", p.backoff_threshold_days);
    let _ = writeln!(
        w,
        "backoff_max_interval = {}",
        quote(&p.backoff_max_interval.to_string())
    );

    let _ = writeln!(w, "\n[webhooks]");
    let _ = writeln!(
        w,
        "connect_timeout = {}",
        quote(&config.webhooks.connect_timeout.to_string())
    );
    let _ = writeln!(
        w,
        "read_timeout = {}",
        quote(&config.webhooks.read_timeout.to_string())
    );

    let _ = writeln!(w, "\n[mail]");
    match &config.mail {
        Mail::Off => _ = writeln!(w, "enabled = false"),
        Mail::OnError(s) => {
            let _ = writeln!(w, "enabled = true");
            let _ = writeln!(w, "smtp_host = {}\nsmtp_port = {}", quote(&s.host), s.port);
            let _ = writeln!(
                w,
                "sender = {}\nreceiver = {}",
                quote(&s.sender),
                quote(&s.receiver)
            );
            if let Some(a) = &s.auth {
                let _ = writeln!(w, "username = {}", quote(&a.username));
                let _ = writeln!(w, "password = {}", quote(&a.password.to_string()));
            }
            if let Some(t) = &s.trust {
                let _ = writeln!(w, "trust = {}", quote(t));
            }
        }
    }

    for svc in Service::ALL {
        let s = config.services.get(svc);
        let _ = writeln!(w, "\n[{}]", svc.table());
        let _ = writeln!(w, "enabled = {}", s.enabled);
        match s.ttl_hours {
            Some(h) => _ = writeln!(w, "ttl_hours = {}", h.get()),
            None => {
                _ = writeln!(
                    w,
                    "# ttl_hours = {} (messages.ttl_hours)",
                    config.ttl_hours(svc).get()
                )
            }
        }
        let _ = writeln!(
            w,
            "upload_size_limit = {}",
            quote(&s.upload_size_limit.to_string())
        );
        if let Some(i) = s.polling_interval {
            let _ = writeln!(w, "polling_interval = {}", quote(&i.to_string()));
        }
        if svc == Service::Dpo
            && let Some(c) = &config.services.dpo_message_channel
        {
            let _ = writeln!(w, "message_channel = {}", quote(c.as_str()));
        }
    }
    out
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
