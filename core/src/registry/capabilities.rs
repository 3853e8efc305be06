//! The answer of `GET /api/capabilities/{id}?securityLevel&process`, built from the
//! registry's records exactly as the reference shapes it: one capability per record,
//! `null` members left out (the reference's Jackson is `NON_NULL`), document types with
//! the suffix after `::` as `type`, and DPI address fields on DPI records only.

use serde::Serialize;

use super::model::{PostAddress, ServiceIdentifier, ServiceRecord};

/// The message types the reference knows, in its enum order, which decides the match
/// when several suffixes fit.
pub const MESSAGE_TYPES: [&str; 13] = [
    "status",
    "feil",
    "arkivmelding",
    "arkivmelding_kvittering",
    "avtalt",
    "digital",
    "digital_dpv",
    "print",
    "dialogmelding",
    "dialogmelding_kvittering",
    "innsynskrav",
    "publisering",
    "einnsyn_kvittering",
];

/// The message type of a document type (`…::arkivmelding` → `arkivmelding`), if known.
pub fn message_type(document_type: &str) -> Option<&'static str> {
    MESSAGE_TYPES
        .iter()
        .copied()
        .find(|t| document_type.strip_suffix(t).is_some_and(|rest| rest.ends_with("::")))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    pub capabilities: Vec<Capability>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capability {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_identifier: Option<ServiceIdentifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_address: Option<PostAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_address: Option<PostAddress>,
    pub document_types: Vec<DocumentType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digital_post_address: Option<DigitalPostAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentType {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub standard: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigitalPostAddress {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl Capability {
    pub fn from_record(record: &ServiceRecord) -> Self {
        let dpi = record.service.identifier == Some(ServiceIdentifier::Dpi);
        Capability {
            process: record.process.clone(),
            service_identifier: record.service.identifier,
            post_address: if dpi { record.post_address.clone() } else { None },
            return_address: if dpi { record.return_address.clone() } else { None },
            document_types: record
                .document_types
                .iter()
                .map(|standard| DocumentType {
                    kind: message_type(standard),
                    standard: standard.clone(),
                })
                .collect(),
            digital_post_address: dpi.then(|| DigitalPostAddress {
                supplier: record.orgnr_postkasse.clone(),
                address: record.postkasse_adresse.clone(),
            }),
        }
    }
}

pub fn capabilities(records: &[ServiceRecord]) -> Capabilities {
    Capabilities { capabilities: records.iter().map(Capability::from_record).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::answer::parse_identifier_resource;

    #[test]
    fn message_types_by_suffix() {
        assert_eq!(
            message_type("urn:no:difi:arkivmelding:xsd::arkivmelding"),
            Some("arkivmelding")
        );
        assert_eq!(
            message_type("urn:no:difi:arkivmelding:xsd::arkivmelding_kvittering"),
            Some("arkivmelding_kvittering")
        );
        assert_eq!(message_type("urn:x::digital_dpv"), Some("digital_dpv"));
        assert_eq!(message_type("urn:x:digital"), None);
        assert_eq!(message_type("no.ks.fiks.v1"), None);
    }

    #[test]
    fn dpi_gets_addresses_others_do_not() {
        let body = br#"{"serviceRecords":[
          {"process":"p1","documentTypes":["x::digital","x::unknown"],"orgnrPostkasse":"987464291",
           "postkasseAdresse":null,"service":{"identifier":"DPI"}},
          {"process":"p2","documentTypes":["x::arkivmelding"],"service":{"identifier":"DPO"}},
          {"process":"p3","documentTypes":[],"postAddress":null,"service":{"identifier":"DPI"}}]}"#;
        let r = parse_identifier_resource(body).unwrap();
        let json = serde_json::to_value(capabilities(&r.service_records)).unwrap();
        let empty =
            serde_json::json!({"name":"","street":"","postalCode":"","postalArea":"","country":""});
        assert_eq!(
            json,
            serde_json::json!({"capabilities":[
              {"process":"p1","serviceIdentifier":"DPI","postAddress":empty,"returnAddress":empty,
               "documentTypes":[{"type":"digital","standard":"x::digital"},{"standard":"x::unknown"}],
               "digitalPostAddress":{"supplier":"987464291"}},
              {"process":"p2","serviceIdentifier":"DPO","documentTypes":[{"type":"arkivmelding","standard":"x::arkivmelding"}]},
              {"process":"p3","serviceIdentifier":"DPI","returnAddress":empty,"documentTypes":[],"digitalPostAddress":{}}
            ]})
        );
    }
}
