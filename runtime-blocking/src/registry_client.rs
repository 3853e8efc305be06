//! The registry client for the blocking runtime: carries out core's lookup requests with
//! `ureq`, feeds the answers back, and keeps core's caches behind mutexes.

use std::sync::Mutex;

use efm_core::jose::jwks_cache::{JWKS_PATH, JwksCache};
use efm_core::registry::answer::{
    LookupError, parse_identifier_resource, parse_info, parse_virksert,
};
use efm_core::registry::cache::LookupCache;
use efm_core::registry::model::{IdentifierResource, InfoRecord};
use efm_core::registry::request::{ClientOptions, IdentifierLookup, Lookup, request};
use efm_core::registry::{Decoded, decode};

/// The wall clock as core's `Timestamp`.
pub use crate::clock::now;

pub struct RegistryClient {
    base: String,
    agent: ureq::Agent,
    options: ClientOptions,
    bearer: Option<String>,
    jwks: Mutex<JwksCache>,
    cache: Mutex<LookupCache<IdentifierResource>>,
    certificates: Mutex<LookupCache<String>>,
}

struct HttpAnswer {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl RegistryClient {
    /// `base` is the registry root, e.g. `http://127.0.0.1:9099` or
    /// `https://test.eformidling.no/adressetjeneste`.
    pub fn new(base: &str, options: ClientOptions) -> Self {
        // The reference's timeouts: connect 5 s, read 30 s.
        let agent = crate::outbound::agent(crate::outbound::SHORT);
        RegistryClient {
            base: base.trim_end_matches('/').to_owned(),
            agent,
            options,
            bearer: None,
            jwks: Mutex::new(JwksCache::new()),
            cache: Mutex::new(LookupCache::default()),
            certificates: Mutex::new(LookupCache::default()),
        }
    }

    /// A Maskinporten access token to send as `Authorization: Bearer`.
    pub fn with_bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.to_owned());
        self
    }

    /// How many times the JWK set was fetched (for tests and metrics).
    pub fn jwks_fetches(&self) -> u64 {
        self.jwks.lock().map(|j| j.fetches()).unwrap_or(0)
    }

    fn get(
        &self,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Result<HttpAnswer, LookupError> {
        let url = format!("{}/{}", self.base, path_and_query);
        let mut req = self.agent.get(&url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(t) = &self.bearer {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = req.call().map_err(|e| LookupError::Transport(format!("GET {url}: {e}")))?;
        let status = resp.status().as_u16();
        let content_type =
            resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = resp
            .body_mut()
            .read_to_vec()
            .map_err(|e| LookupError::Transport(format!("GET {url}: {e}")))?;
        Ok(HttpAnswer { status, content_type, body })
    }

    /// Performs `lookup` and returns the (verified) payload.
    fn payload(&self, lookup: &Lookup) -> Result<Vec<u8>, LookupError> {
        let r = request(lookup, self.options);
        let a = self.get(&r.path_and_query, &r.headers)?;
        let decoded = {
            let jwks = self.jwks.lock().map_err(|_| poisoned())?;
            decode(a.status, a.content_type.as_deref(), &a.body, self.options.signed, &jwks)?
        };
        match decoded {
            Decoded::Payload(p) => Ok(p),
            Decoded::NeedJwks(pending) => {
                let fetched = self.get(JWKS_PATH, &[]).and_then(|j| {
                    if (200..300).contains(&j.status) {
                        Ok(j.body)
                    } else {
                        Err(LookupError::Transport(format!("GET jwk answered {}", j.status)))
                    }
                });
                let mut jwks = self.jwks.lock().map_err(|_| poisoned())?;
                let body = fetched.map_err(|e| e.to_string());
                Ok(jwks.complete(pending, body.as_deref().map_err(Clone::clone))?)
            }
        }
    }

    /// `identifier/{id}[/process/{p}]`, cached for five minutes; errors are not cached.
    pub fn identifier(&self, lookup: &IdentifierLookup) -> Result<IdentifierResource, LookupError> {
        let l = Lookup::Identifier(lookup.clone());
        let key = l.cache_key();
        if let Some(hit) = self.cache.lock().map_err(|_| poisoned())?.get(&key, now()).cloned() {
            return Ok(hit);
        }
        let outcome = self.payload(&l).and_then(|p| parse_identifier_resource(&p));
        self.cache.lock().map_err(|_| poisoned())?.record(key, &outcome, now());
        outcome
    }

    pub fn info(&self, id: &str) -> Result<InfoRecord, LookupError> {
        parse_info(&self.payload(&Lookup::Info(id.to_owned()))?)
    }

    /// `virksert/{id}`, cached for five minutes like the reference; errors not cached.
    pub fn virksert(&self, id: &str) -> Result<String, LookupError> {
        let l = Lookup::Virksert(id.to_owned());
        let key = l.cache_key();
        let cached = self.certificates.lock().map_err(|_| poisoned())?.get(&key, now()).cloned();
        if let Some(hit) = cached {
            return Ok(hit);
        }
        let outcome = self.payload(&l).and_then(|p| parse_virksert(&p));
        self.certificates.lock().map_err(|_| poisoned())?.record(key, &outcome, now());
        outcome
    }
}

fn poisoned() -> LookupError {
    LookupError::Transport("registry client state poisoned by a panic".into())
}
