//! Registry lookups as request values: the path and query the reference sends, and the
//! headers. The runtime joins the path to the configured base URL
//! (e.g. `https://test.eformidling.no/adressetjeneste/`).

use std::fmt;

/// `identifier/{id}[/process/{p}]` with its optional query parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdentifierLookup {
    pub identifier: String,
    pub process: Option<String>,
    pub security_level: Option<u8>,
    /// For the registry's logs only; not part of the cache key.
    pub conversation_id: Option<String>,
    /// `Some(false)` sends `print=false` (skip the print address lookup); the registry's
    /// default is `true`, so `Some(true)` sends nothing, like the reference.
    pub print: Option<bool>,
}

impl IdentifierLookup {
    pub fn new(identifier: &str) -> Self {
        IdentifierLookup {
            identifier: identifier.to_owned(),
            process: None,
            security_level: None,
            conversation_id: None,
            print: None,
        }
    }

    pub fn process(mut self, process: &str) -> Self {
        self.process = (!process.is_empty()).then(|| process.to_owned());
        self
    }

    pub fn security_level(mut self, level: u8) -> Self {
        self.security_level = Some(level);
        self
    }

    pub fn conversation_id(mut self, id: &str) -> Self {
        self.conversation_id = (!id.is_empty()).then(|| id.to_owned());
        self
    }

    pub fn print(mut self, print: bool) -> Self {
        self.print = Some(print);
        self
    }
}

/// Lombok's `toString` of the reference's `SRParameter`, because it is part of the
/// reference's error texts (`Service record not found for parameters: SRParameter(…)`).
impl fmt::Display for IdentifierLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn or_null<T: fmt::Display>(v: &Option<T>) -> String {
            v.as_ref().map_or_else(|| "null".to_owned(), T::to_string)
        }
        write!(
            f,
            "SRParameter(identifier={}, process={}, securityLevel={}, print={}, infoOnly=false, conversationId={})",
            self.identifier,
            or_null(&self.process),
            or_null(&self.security_level),
            or_null(&self.print),
            or_null(&self.conversation_id),
        )
    }
}

/// One registry lookup.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lookup {
    Identifier(IdentifierLookup),
    /// `info/{id}`: the info record only.
    Info(String),
    /// `virksert/{id}`: the business certificate as PEM.
    Virksert(String),
}

/// What makes two lookups the same for the cache: everything but `conversationId`
/// (the reference's `@EqualsAndHashCode.Exclude`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(String);

impl Lookup {
    /// The path and query, relative to the registry base, with the query parameters in
    /// the reference's order: `securityLevel`, `conversationId`, `print=false`.
    pub fn path_and_query(&self) -> String {
        match self {
            Lookup::Info(id) => format!("info/{}", encode_segment(id)),
            Lookup::Virksert(id) => format!("virksert/{}", encode_segment(id)),
            Lookup::Identifier(l) => {
                let mut s = format!("identifier/{}", encode_segment(&l.identifier));
                if let Some(p) = &l.process {
                    s.push_str("/process/");
                    s.push_str(&encode_segment(p));
                }
                let mut query = Vec::new();
                if let Some(level) = l.security_level {
                    query.push(format!("securityLevel={level}"));
                }
                if let Some(c) = &l.conversation_id {
                    query.push(format!("conversationId={}", encode_query(c)));
                }
                if l.print == Some(false) {
                    query.push("print=false".to_owned());
                }
                if !query.is_empty() {
                    s.push('?');
                    s.push_str(&query.join("&"));
                }
                s
            }
        }
    }

    pub fn cache_key(&self) -> CacheKey {
        match self {
            Lookup::Identifier(l) => {
                let mut without = l.clone();
                without.conversation_id = None;
                CacheKey(Lookup::Identifier(without).path_and_query())
            }
            other => CacheKey(other.path_and_query()),
        }
    }
}

/// How we talk to the registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// Ask for `application/jose` and verify (`difi.move.sign.enable`).
    pub signed: bool,
    /// Send `X-Enable-Beta-Features: true` (needed for DPH).
    pub beta_features: bool,
}

/// A GET the runtime performs. The bearer token, when configured, is added by the
/// runtime from the Maskinporten token cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRequest {
    pub path_and_query: String,
    pub headers: Vec<(&'static str, &'static str)>,
}

pub fn request(lookup: &Lookup, options: ClientOptions) -> RegistryRequest {
    let mut headers = Vec::new();
    if options.signed {
        headers.push(("Accept", "application/jose, application/json"));
    }
    if options.beta_features {
        headers.push(("X-Enable-Beta-Features", "true"));
    }
    RegistryRequest { path_and_query: lookup.path_and_query(), headers }
}

/// Percent-encodes what a path segment may not hold (RFC 3986 `pchar`), as Spring's
/// `UriTemplate` does: org numbers and process URNs pass unchanged.
pub fn encode_segment(s: &str) -> String {
    encode(s, |b| b":@!$&'()*+,;=".contains(&b))
}

fn encode_query(s: &str) -> String {
    encode(s, |b| b":@!$'()*,;/?".contains(&b))
}

fn encode(s: &str, also_allowed: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || also_allowed(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reverses [`encode_segment`] for the local registry's router; `None` on bad escapes
/// or non-UTF-8.
pub fn decode_segment(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADM: &str = "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0";

    #[test]
    fn paths_and_query_order_follow_the_reference() {
        let plain = Lookup::Identifier(IdentifierLookup::new("910077473"));
        assert_eq!(plain.path_and_query(), "identifier/910077473");
        let full = Lookup::Identifier(
            IdentifierLookup::new("910077473")
                .process(ADM)
                .print(false)
                .conversation_id("c6f5b7a2-8a9f-4e0b-9d6e-0d1c2b3a4f5e")
                .security_level(4),
        );
        assert_eq!(
            full.path_and_query(),
            format!(
                "identifier/910077473/process/{ADM}?securityLevel=4&conversationId=c6f5b7a2-8a9f-4e0b-9d6e-0d1c2b3a4f5e&print=false"
            )
        );
        let print_true = Lookup::Identifier(IdentifierLookup::new("1").print(true));
        assert_eq!(print_true.path_and_query(), "identifier/1");
        assert_eq!(Lookup::Info("974720760".into()).path_and_query(), "info/974720760");
        assert_eq!(Lookup::Virksert("910077473".into()).path_and_query(), "virksert/910077473");
    }

    #[test]
    fn conversation_id_is_not_part_of_the_cache_key() {
        let a = Lookup::Identifier(IdentifierLookup::new("1").conversation_id("x"));
        let b = Lookup::Identifier(IdentifierLookup::new("1").conversation_id("y"));
        let c = Lookup::Identifier(IdentifierLookup::new("1").security_level(3));
        assert_eq!(a.cache_key(), b.cache_key());
        assert_ne!(a.cache_key(), c.cache_key());
        assert_ne!(Lookup::Info("1".into()).cache_key(), a.cache_key());
    }

    #[test]
    fn segments_are_encoded_and_decoded() {
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(decode_segment("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(decode_segment("%zz"), None);
        assert_eq!(decode_segment("%"), None);
    }

    #[test]
    fn headers_for_signed_and_beta() {
        let r =
            request(&Lookup::Info("1".into()), ClientOptions { signed: true, beta_features: true });
        assert_eq!(
            r.headers,
            vec![
                ("Accept", "application/jose, application/json"),
                ("X-Enable-Beta-Features", "true")
            ]
        );
        assert!(request(&Lookup::Info("1".into()), ClientOptions::default()).headers.is_empty());
    }

    #[test]
    fn display_matches_lombok() {
        let l = IdentifierLookup::new("910077473").process(ADM);
        assert_eq!(
            l.to_string(),
            format!(
                "SRParameter(identifier=910077473, process={ADM}, securityLevel=null, print=null, infoOnly=false, conversationId=null)"
            )
        );
    }
}
