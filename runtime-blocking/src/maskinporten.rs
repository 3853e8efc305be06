//! Maskinporten and Altinn tokens for the blocking runtime: signs core's JWT grant with
//! OS randomness and the wall clock, POSTs it with `ureq`, and keeps the answer in
//! core's renewing [`TokenCache`].

use std::sync::Mutex;

use efm_core::jose::maskinporten::{
    GrantConfig, TokenAnswer, TokenCache, TokenError, altinn_exchange_request,
    parse_altinn_exchange_answer, parse_token_answer, token_request,
};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::RsaKeyPair;

use crate::registry_client::now;

#[derive(Debug, thiserror::Error)]
pub enum TokenFetchError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("could not sign the grant: {0}")]
    Sign(String),
    #[error("token endpoint {url} not reachable: {reason}")]
    Transport { url: String, reason: String },
}

pub struct MaskinportenClient {
    token_url: String,
    grant: GrantConfig,
    key: RsaKeyPair,
    chain: Vec<Vec<u8>>,
    agent: ureq::Agent,
    rng: SystemRandom,
    cache: Mutex<TokenCache>,
}

impl MaskinportenClient {
    /// `chain` is our business certificate (DER, leaf first) for the `x5c` header.
    pub fn new(token_url: &str, grant: GrantConfig, key: RsaKeyPair, chain: Vec<Vec<u8>>) -> Self {
        let agent = crate::outbound::agent(crate::outbound::SHORT);
        MaskinportenClient {
            token_url: token_url.to_owned(),
            grant,
            key,
            chain,
            agent,
            rng: SystemRandom::new(),
            cache: Mutex::new(TokenCache::default()),
        }
    }

    /// A valid access token: the cached one, or a fresh one when it is about to expire.
    pub fn token(&self) -> Result<String, TokenFetchError> {
        let mut cache =
            self.cache.lock().map_err(|_| TokenFetchError::Sign("token cache poisoned".into()))?;
        if let Some(t) = cache.get(now()) {
            return Ok(t.to_owned());
        }
        let answer = self.fetch()?;
        cache.store(&answer, now());
        Ok(answer.access_token)
    }

    /// Always asks Maskinporten (no cache).
    pub fn fetch(&self) -> Result<TokenAnswer, TokenFetchError> {
        let mut jti = [0u8; 16];
        self.rng.fill(&mut jti).map_err(|_| TokenFetchError::Sign("no randomness".into()))?;
        let assertion = self
            .grant
            .assertion(now(), jti, &self.chain, &self.key, &self.rng)
            .map_err(|e| TokenFetchError::Sign(e.to_string()))?;
        let req = token_request(&assertion);
        let transport = |e: ureq::Error| TokenFetchError::Transport {
            url: self.token_url.clone(),
            reason: e.to_string(),
        };
        let mut resp = self
            .agent
            .post(&self.token_url)
            .header("Content-Type", req.content_type)
            .header("Accept", req.accept)
            .send(req.body.as_bytes())
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_vec().map_err(transport)?;
        Ok(parse_token_answer(status, &body)?)
    }

    /// Exchanges a Maskinporten token for an Altinn token at `exchange_url`.
    pub fn altinn_token(&self, exchange_url: &str) -> Result<String, TokenFetchError> {
        let mp = self.token()?;
        let req = altinn_exchange_request(exchange_url, &mp);
        let transport = |e: ureq::Error| TokenFetchError::Transport {
            url: req.url.clone(),
            reason: e.to_string(),
        };
        let mut resp = self
            .agent
            .get(&req.url)
            .header("Authorization", &req.authorization)
            .call()
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_vec().map_err(transport)?;
        Ok(parse_altinn_exchange_answer(status, &body)?)
    }
}
