//! The services the nodes talk to, as sans-IO fakes: each takes a request as the
//! node wrote it (method, URL, headers, body), parses it as the real service would,
//! and answers. Tokens and signatures are the runtime's business, so a request that
//! carries a credential is taken to come from the node that sent it.

pub mod broker;
pub mod registry;
pub mod service_bus;

use bytes::Bytes;
use efm_core::node::{HttpResponse, Method};
use serde_json::Value;

/// A request as a service sees it.
pub struct Call<'a> {
    /// The organisation of the node that sent it.
    pub caller: &'a str,
    pub method: Method,
    /// The path below the service's base, without a leading `/`.
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// The service's clock, in Unix milliseconds.
    pub now: i64,
}

impl Call<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The value of a query parameter (no percent-decoding: the values used here
    /// need none).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    }
}

pub fn empty(status: u16) -> HttpResponse {
    HttpResponse { status, headers: Vec::new(), body: Bytes::new() }
}

pub fn json(status: u16, v: &Value) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: Bytes::from(v.to_string()),
    }
}

/// RFC 7807 problem details, as Altinn answers errors.
pub fn problem(status: u16, title: &str) -> HttpResponse {
    json(status, &serde_json::json!({ "status": status, "title": title }))
}
