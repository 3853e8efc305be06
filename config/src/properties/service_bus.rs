//! The reference writes DPE's service bus address as two settings, a host with an
//! optional port and path (`serviceBus.baseUrl`) and a scheme switch
//! (`serviceBus.useHttps`); efm has one URL, `dpe.service_bus_url`.

use crate::draft::{Draft, Set};
use crate::problem::Problem;
use crate::raw::Raw;
use crate::transports::{DEFAULT_SERVICE_BUS_HOST, service_bus_url};

/// The two settings as the file wrote them (the last of each wins, as in Java).
#[derive(Debug, Default)]
pub struct ServiceBusParts {
    pub host: Option<Set<String>>,
    pub https: Option<Set<bool>>,
}

impl ServiceBusParts {
    /// Sets `dpe.service_bus_url` if the file set either part; a part it did not set
    /// keeps the reference's default (the test namespace, https). A bad host is
    /// reported at its line.
    pub fn apply(self, draft: &mut Draft, errors: &mut Vec<Problem>) {
        let https = self.https.as_ref().is_none_or(|s| s.value);
        let (origin, key, host) = match (&self.host, &self.https) {
            (Some(h), _) => (&h.origin, &h.key, h.value.as_str()),
            (None, Some(s)) => (&s.origin, &s.key, DEFAULT_SERVICE_BUS_HOST),
            (None, None) => return,
        };
        match service_bus_url(host, https) {
            Ok(url) => {
                draft.config.transports.dpe.service_bus_url = url;
                draft.origins.record("dpe.service_bus_url", origin, key);
            }
            Err(expected) => errors.push(Problem::BadValue {
                origin: origin.clone(),
                key: key.clone(),
                value: Raw::Text(host.to_owned()).shown(),
                expected,
            }),
        }
    }
}
