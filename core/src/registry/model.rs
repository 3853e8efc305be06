//! The registry's answer `{infoRecord, serviceRecords[]}` as the integration point reads it.
//!
//! Reading is lenient the way the reference's Jackson model is: unknown fields are
//! ignored, unknown service identifiers become [`ServiceIdentifier::Unknown`], `null` is
//! accepted almost everywhere, and absent fields take the reference's defaults (which
//! matter: an absent `postAddress` is an empty address, a `null` one is no address).

use serde::{Deserialize, Deserializer, Serialize};

/// `service.identifier`. Anything else the registry may add later reads as `Unknown`,
/// the reference's `@JsonEnumDefaultValue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ServiceIdentifier {
    #[serde(rename = "DPO")]
    Dpo,
    #[serde(rename = "DPV")]
    Dpv,
    #[serde(rename = "DPI")]
    Dpi,
    #[serde(rename = "DPF")]
    Dpf,
    #[serde(rename = "DPE")]
    Dpe,
    #[serde(rename = "DPH")]
    Dph,
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

impl ServiceIdentifier {
    pub fn from_name(s: &str) -> Self {
        match s {
            "DPO" => Self::Dpo,
            "DPV" => Self::Dpv,
            "DPI" => Self::Dpi,
            "DPF" => Self::Dpf,
            "DPE" => Self::Dpe,
            "DPH" => Self::Dph,
            _ => Self::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dpo => "DPO",
            Self::Dpv => "DPV",
            Self::Dpi => "DPI",
            Self::Dpf => "DPF",
            Self::Dpe => "DPE",
            Self::Dph => "DPH",
            Self::Unknown => "UNKNOWN",
        }
    }
}

impl<'de> Deserialize<'de> for ServiceIdentifier {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(Self::from_name(&s))
    }
}

/// Accepts a string, a number or a boolean as text: the registry's own fixtures mix
/// `"4192"` and `4192`, and `herId` is a number in some versions and a string in others.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        other => {
            return Err(serde::de::Error::custom(format!("expected a string, found {other}")));
        }
    })
}

/// `null` reads as `false`, as Jackson does for a Java `boolean`.
fn null_as_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

/// `null` reads as empty: the reference would throw on a null list later on.
fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Present-and-`null` gives `None`; an absent member keeps the field's default.
fn present_nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

fn empty_address() -> Option<PostAddress> {
    Some(PostAddress::empty())
}

fn empty_string() -> Option<String> {
    Some(String::new())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentifierResource {
    #[serde(default)]
    pub info_record: Option<InfoRecord>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub service_records: Vec<ServiceRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InfoRecord {
    #[serde(default, deserialize_with = "lenient_string")]
    pub identifier: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub parent_her_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub parent_organization_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub her_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub organization_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub organization_number: Option<String>,
    #[serde(default)]
    pub entity_type: Option<EntityType>,
    #[serde(default)]
    pub postadresse: Option<BrregPostadresse>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct EntityType {
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub acronym: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct BrregPostadresse {
    #[serde(default, deserialize_with = "lenient_string")]
    pub adresse: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub postnummer: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub poststed: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub land: Option<String>,
}

/// A DPI print address (`postAddress`, `returnAddress`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostAddress {
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub postal_area: Option<String>,
    #[serde(default, deserialize_with = "lenient_string", skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl PostAddress {
    /// The reference's `PostAddress.EMPTY`: every member an empty string.
    pub fn empty() -> Self {
        let e = || Some(String::new());
        PostAddress { name: e(), street: e(), postal_code: e(), postal_area: e(), country: e() }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    #[serde(default, deserialize_with = "lenient_string")]
    pub fnr: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub middle_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub last_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    #[serde(default)]
    pub identifier: Option<ServiceIdentifier>,
    /// The reference defaults an absent endpoint to `""`.
    #[serde(default = "empty_string", deserialize_with = "lenient_string")]
    pub endpoint_url: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub service_code: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub service_edition_code: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub security_level: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub resource: Option<String>,
}

impl Default for Service {
    fn default() -> Self {
        Service {
            identifier: None,
            endpoint_url: empty_string(),
            service_code: None,
            service_edition_code: None,
            security_level: None,
            resource: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRecord {
    #[serde(default = "empty_string", deserialize_with = "lenient_string")]
    pub organisation_number: Option<String>,
    #[serde(default = "empty_string", deserialize_with = "lenient_string")]
    pub pem_certificate: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub orgnr_postkasse: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub postkasse_adresse: Option<String>,
    #[serde(default = "empty_string", deserialize_with = "lenient_string")]
    pub epost_adresse: Option<String>,
    #[serde(default = "empty_string", deserialize_with = "lenient_string")]
    pub mobilnummer: Option<String>,
    #[serde(default, deserialize_with = "null_as_false")]
    pub fysisk_post: bool,
    #[serde(default, deserialize_with = "null_as_false")]
    pub kan_varsles: bool,
    #[serde(default = "empty_address", deserialize_with = "present_nullable")]
    pub post_address: Option<PostAddress>,
    #[serde(default = "empty_address", deserialize_with = "present_nullable")]
    pub return_address: Option<PostAddress>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub spraak: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub process: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub document_types: Vec<String>,
    #[serde(default, deserialize_with = "present_nullable_service")]
    pub service: Service,
    #[serde(default, deserialize_with = "lenient_string")]
    pub her_id: Option<String>,
    #[serde(default)]
    pub patient: Option<Patient>,
}

/// A `null` service reads as the empty default rather than failing the whole answer.
fn present_nullable_service<'de, D: Deserializer<'de>>(d: D) -> Result<Service, D::Error> {
    Ok(Option::<Service>::deserialize(d)?.unwrap_or_default())
}

impl ServiceRecord {
    pub fn service_identifier(&self) -> ServiceIdentifier {
        self.service.identifier.unwrap_or(ServiceIdentifier::Unknown)
    }

    pub fn process(&self) -> &str {
        self.process.as_deref().unwrap_or("")
    }

    /// The PEM with BEGIN/END lines added when the registry sent bare base64, as the
    /// reference's `getPemCertificate` does. `None` when there is no certificate.
    pub fn pem_certificate(&self) -> Option<String> {
        let pem = self.pem_certificate.as_deref()?.trim();
        if pem.is_empty() {
            return None;
        }
        if pem.contains("-----BEGIN CERTIFICATE-----") {
            Some(pem.to_owned())
        } else {
            Some(format!("-----BEGIN CERTIFICATE-----\n{pem}\n-----END CERTIFICATE-----\n"))
        }
    }
}
