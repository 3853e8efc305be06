//! The service registry: `identifier/{id}[/process/{p}]` answered with the
//! organisation's records. Every organisation takes arkivmelding and its receipts
//! over DPO and innsynskrav over DPE, to the queue of its own DPE mode; the certificate in
//! each record is the simulated one only that organisation can open.

use efm_core::node::{HttpResponse, Method};
use serde_json::json;

use super::{Call, json, problem};
use crate::sealing::certificate_pem;

pub const ARKIVMELDING_PROCESS: &str = "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0";
pub const ARKIVMELDING_STANDARD: &str = "urn:no:difi:arkivmelding:xsd::arkivmelding";
pub const INNSYNSKRAV_PROCESS: &str = "urn:no:difi:profile:einnsyn-innsynskrav:ver1.0";
pub const INNSYNSKRAV_STANDARD: &str = "urn:no:difi:einnsyn:xsd:innsyn::innsynskrav";
pub const RECEIPT_PROCESS: &str = "urn:no:difi:profile:arkivmelding:response:ver1.0";
pub const RECEIPT_STANDARD: &str = "urn:no:difi:arkivmelding:xsd::arkivmelding_kvittering";

pub struct Registry {
    /// Each organisation with its DPE queue suffix.
    pub orgs: Vec<(String, String)>,
}

impl Registry {
    pub fn handle(&self, c: &Call) -> HttpResponse {
        let segments: Vec<&str> = c.path.split('/').filter(|s| !s.is_empty()).collect();
        let id = match (c.method, segments.as_slice()) {
            (Method::Get, ["identifier", id, ..]) => *id,
            _ => return problem(404, "no such resource"),
        };
        let Some((org, mode)) = self.orgs.iter().find(|(o, _)| o == id) else {
            return problem(404, &format!("identifier {id} not found"));
        };
        let pem = certificate_pem(org);
        let record = |process: &str, doc: &str, service: &str, endpoint: &str| {
            json!({
                "organisationNumber": org,
                "pemCertificate": pem,
                "process": process,
                "documentTypes": [doc],
                "service": { "identifier": service, "endpointUrl": endpoint, "securityLevel": 3 }
            })
        };
        json(
            200,
            &json!({
                "infoRecord": {
                    "identifier": org,
                    "organizationName": format!("Org {org}"),
                    "entityType": { "name": "ORGL" }
                },
                "serviceRecords": [
                    record(ARKIVMELDING_PROCESS, ARKIVMELDING_STANDARD, "DPO", ""),
                    record(RECEIPT_PROCESS, RECEIPT_STANDARD, "DPO", ""),
                    record(INNSYNSKRAV_PROCESS, INNSYNSKRAV_STANDARD, "DPE", mode),
                ]
            }),
        )
    }
}
