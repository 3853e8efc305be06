//! Outbound HTTP as data: the node says what to send, the runtime sends it.

use super::io::Body;
use crate::ids::MessageId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Send this staged file as the body instead of `body`: payloads are streamed
    /// from disk by the runtime, never held here.
    pub body_file: Option<String>,
    /// When not empty, the body is these pieces in order, streamed by the runtime
    /// (a multipart form around stored files); `body` and `body_file` are unused.
    pub body_parts: Vec<BodyPart>,
    /// On a 2xx answer, write the body to this staged file (durably) instead of
    /// returning it; the answer's body is then empty.
    pub save_to: Option<String>,
    /// A credential the runtime adds: it holds the keys that obtain it.
    pub auth: Option<Credential>,
}

impl HttpRequest {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        HttpRequest {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Body::new(),
            body_file: None,
            body_parts: Vec::new(),
            save_to: None,
            auth: None,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A piece of a streamed body ([`HttpRequest::body_parts`]).
#[derive(Clone, Debug, PartialEq)]
pub enum BodyPart {
    Bytes(Body),
    /// A stored file of an outgoing message, read from the store as it is sent.
    StoredFile {
        message_id: MessageId,
        filename: String,
    },
}

/// A bearer token the runtime obtains and adds as `Authorization`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// An Altinn token: a Maskinporten grant for `scopes` (with the systemuser
    /// claim), exchanged at Altinn.
    Altinn { scopes: Vec<String> },
    /// An Altinn token for Digdir's Altinn proxy (DPV): as `Altinn`, but the grant
    /// names no systemuser, as the reference's DPV token producer asks for none.
    AltinnProxy { scopes: Vec<String> },
    /// A Maskinporten token for `scopes` (the service registry's protected
    /// resources).
    Maskinporten { scopes: Vec<String> },
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

/// The request did not get an HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Io(String),
    /// The runtime could not obtain the request's credential.
    #[error("no credential: {0}")]
    Credential(String),
    /// The runtime could not read or write the request's staged file.
    #[error("staged file: {0}")]
    Staging(String),
}
