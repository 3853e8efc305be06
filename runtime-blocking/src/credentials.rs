//! The bearer tokens the node's requests name ([`Credential`]): a Maskinporten grant
//! signed with our key, exchanged at Altinn, cached until shortly before it
//! expires. The node says which token; only the runtime holds the key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use efm_core::crypto::keys::Identity;
use efm_core::jose::maskinporten::{
    GrantConfig, altinn_exchange_request, parse_altinn_exchange_answer, parse_token_answer,
    token_request,
};
use efm_core::node::Credential;
use ring::rand::{SecureRandom, SystemRandom};

use crate::clock::now;

/// Where tokens come from.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    /// Maskinporten's token endpoint (`difi.move.oidc.url`).
    pub token_url: String,
    /// Maskinporten's issuer, the grant's audience.
    pub audience: String,
    /// Our client id, `MOVE_IP_<org>`.
    pub client_id: String,
    /// Altinn's token exchange (`difi.move.dpo.altinnTokenExchangeUrl`).
    pub exchange_url: String,
    /// The systemuser the broker knows us by (`0192:<org>`), for its claim.
    pub system_user_org: String,
    /// The systemuser's name (`<org>_integrasjonspunkt_systembruker_<org>`).
    pub system_user_name: String,
}

/// Altinn tokens live 30 minutes; renew well before.
const ALTINN_TOKEN_REUSE: Duration = Duration::from_secs(20 * 60);

/// An Altinn token's scopes, and whether its grant named our systemuser.
type TokenKey = (Vec<String>, bool);

pub struct Credentials {
    settings: TokenSettings,
    identity: Arc<Identity>,
    agent: ureq::Agent,
    rng: SystemRandom,
    cache: Mutex<HashMap<TokenKey, (String, Instant)>>,
}

impl Credentials {
    pub fn new(settings: TokenSettings, identity: Arc<Identity>) -> Self {
        let agent = crate::outbound::agent(crate::outbound::SHORT);
        Credentials {
            settings,
            identity,
            agent,
            rng: SystemRandom::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The bare token for `credential` (DPI puts it inside the message as well).
    pub fn token(&self, credential: &Credential) -> Result<String, String> {
        let value = self.authorization(credential)?;
        Ok(value.strip_prefix("Bearer ").unwrap_or(&value).to_owned())
    }

    /// The `Authorization` value for `credential`.
    pub fn authorization(&self, credential: &Credential) -> Result<String, String> {
        match credential {
            Credential::Altinn { scopes } => Ok(format!("Bearer {}", self.altinn(scopes, true)?)),
            Credential::AltinnProxy { scopes } => {
                Ok(format!("Bearer {}", self.altinn(scopes, false)?))
            }
            Credential::Maskinporten { scopes } => {
                Ok(format!("Bearer {}", self.maskinporten(scopes, true)?))
            }
        }
    }

    /// Forget a token the service refused (a 401), so the next request gets a new one.
    pub fn refused(&self, credential: &Credential) {
        let key = match credential {
            Credential::Altinn { scopes } => (scopes.clone(), true),
            Credential::AltinnProxy { scopes } => (scopes.clone(), false),
            Credential::Maskinporten { .. } => return,
        };
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
    }

    fn altinn(&self, scopes: &[String], systemuser: bool) -> Result<String, String> {
        let key = (scopes.to_vec(), systemuser);
        if let Some((t, at)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key)
            && at.elapsed() < ALTINN_TOKEN_REUSE
        {
            return Ok(t.clone());
        }
        let maskinporten = self.maskinporten(scopes, systemuser)?;
        let req = altinn_exchange_request(&self.settings.exchange_url, &maskinporten);
        let mut resp = self
            .agent
            .get(&req.url)
            .header("Authorization", &req.authorization)
            .call()
            .map_err(|e| format!("Altinn token exchange {}: {e}", req.url))?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_vec().map_err(|e| e.to_string())?;
        let token = parse_altinn_exchange_answer(status, &body).map_err(|e| e.to_string())?;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (token.clone(), Instant::now()));
        Ok(token)
    }

    /// A Maskinporten token; `systemuser`: the grant acts as our Altinn systemuser.
    fn maskinporten(&self, scopes: &[String], systemuser: bool) -> Result<String, String> {
        let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let mut grant =
            GrantConfig::new(&self.settings.client_id, &self.settings.audience, &scopes);
        if systemuser {
            grant = grant
                .with_systemuser(&self.settings.system_user_org, &self.settings.system_user_name);
        }
        let mut jti = [0u8; 16];
        self.rng.fill(&mut jti).map_err(|_| "no OS randomness".to_owned())?;
        let chain: Vec<Vec<u8>> = self.identity.chain.iter().map(|c| c.der().to_vec()).collect();
        let assertion = grant
            .assertion(now(), jti, &chain, &self.identity.key, &self.rng)
            .map_err(|e| format!("could not sign the Maskinporten grant: {e}"))?;
        let req = token_request(&assertion);
        let mut resp = self
            .agent
            .post(&self.settings.token_url)
            .header("Content-Type", req.content_type)
            .header("Accept", req.accept)
            .send(req.body.as_bytes())
            .map_err(|e| format!("Maskinporten {}: {e}", self.settings.token_url))?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_vec().map_err(|e| e.to_string())?;
        parse_token_answer(status, &body).map(|a| a.access_token).map_err(|e| e.to_string())
    }
}
