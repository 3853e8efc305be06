//! The Service Bus key DPE requests are signed with: configured, or fetched from
//! the service registry's `sastoken` resource (with a Maskinporten token) when the
//! configuration leaves it out, and fetched again after the Service Bus refuses it
//! (a 401: the key was rotated).

use bytes::Bytes;

use super::delivery::Outbound;
use super::http::{Credential, HttpRequest, HttpResponse, Method, TransportError};
use super::{Node, Output, Pending, ReqId};
use crate::transport::service_bus::ServiceBusEndpoint;

/// The scope the registry's `sastoken` resource asks for.
pub const SAS_SCOPE: &str = "eformidling:dpe";

/// A DPE send waiting for the key.
#[derive(Debug)]
pub(super) struct Deferred {
    pub out: Outbound,
    pub queue: Option<String>,
    pub cms: Option<Bytes>,
}

#[derive(Debug, Default)]
pub(super) struct SasKey {
    /// The key fetched from the registry, once there is one.
    fetched: Option<String>,
    fetching: bool,
    pub waiting: Vec<Deferred>,
}

impl Node {
    /// The Service Bus endpoint with a key to sign with, or none while the key is
    /// being fetched (the fetch is started if it is not under way).
    pub(super) fn service_bus(&mut self) -> Option<ServiceBusEndpoint> {
        let configured = self.config.dpe.as_ref()?.service_bus.clone();
        if !configured.key.is_empty() {
            return Some(configured);
        }
        if let Some(key) = &self.sas.fetched {
            return Some(ServiceBusEndpoint { key: key.clone(), ..configured });
        }
        if !self.sas.fetching {
            self.sas.fetching = true;
            let url = format!("{}/sastoken", self.config.registry_url.trim_end_matches('/'));
            let mut req = HttpRequest::new(Method::Get, url).header("Accept", "text/plain");
            req.auth = Some(Credential::Maskinporten { scopes: vec![SAS_SCOPE.to_owned()] });
            let id = ReqId(self.next());
            self.outputs.push_back(Output::Http(id, req));
            self.requests.insert(id, Pending::SasKey);
        }
        None
    }

    /// The Service Bus refused our signature: a fetched key is stale.
    pub(super) fn sas_refused(&mut self, status: u16) {
        if status == 401 {
            self.sas.fetched = None;
        }
    }

    pub(super) fn on_sas_key(&mut self, result: Result<HttpResponse, TransportError>) {
        self.sas.fetching = false;
        let key = match result {
            Ok(r) if (200..300).contains(&r.status) => {
                let text = String::from_utf8_lossy(&r.body).trim().trim_matches('"').to_owned();
                (!text.is_empty()).then_some(text)
            }
            Ok(r) => {
                self.note_failure(format!("service registry sastoken: HTTP {}", r.status));
                None
            }
            Err(e) => {
                self.note_failure(format!("service registry sastoken: {e}"));
                None
            }
        };
        let waiting = std::mem::take(&mut self.sas.waiting);
        match key {
            Some(key) => {
                self.sas.fetched = Some(key);
                for d in waiting {
                    self.send_dpe(d.out, d.queue, d.cms);
                }
                self.poll_services();
            }
            // No key: the deliveries try again later, as for any transient failure.
            None => {
                for d in waiting {
                    self.retry(d.out, "no Service Bus key from the service registry".into());
                }
            }
        }
    }
}
