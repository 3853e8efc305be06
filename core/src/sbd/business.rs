//! Business messages: the second key of an SBD.
//!
//! Each type keeps the fields the reference knows, typed, and every other field in
//! `extra`, in order, so that a newer peer's fields survive a trip through efm (the
//! reference drops them).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::coerce;
use super::message_type::MessageType;
use super::violation::Violation;
use crate::status::Status;

pub type Extra = Map<String, Value>;

// One per SBD and never in a hot collection: boxing the larger variants would only
// add indirection to every access.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum BusinessMessage {
    Arkivmelding(Arkivmelding),
    ArkivmeldingKvittering(ArkivmeldingKvittering),
    Avtalt(Avtalt),
    Digital(Digital),
    DigitalDpv(DigitalDpv),
    Print(Print),
    Innsynskrav(Innsynskrav),
    Publisering(Publisering),
    EinnsynKvittering(EinnsynKvittering),
    Status(StatusMessage),
    Feil(Extra),
    Dialogmelding(Dialogmelding),
    DialogmeldingKvittering(DialogmeldingKvittering),
}

/// Attributes shared by every optional string field.
macro_rules! business_struct {
    ($(#[$m:meta])* $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            $($body)*
            #[serde(flatten)]
            pub extra: Extra,
        }
    };
}

business_struct!(Arkivmelding {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub hoveddokument: Option<String>,
    #[serde(default, deserialize_with = "coerce::int", skip_serializing_if = "Option::is_none")]
    pub sikkerhetsnivaa: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpv: Option<DpvSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpf: Option<DpfSettings>,
});

business_struct!(
    /// Notification settings for Altinn correspondence (DPV).
    DpvSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub varsel_type: Option<DpvVarselType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub varsel_transport_type: Option<DpvVarselTransportType>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub varsel_tekst: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub taushetsbelagt_varsel_tekst: Option<String>,
    #[serde(default, deserialize_with = "coerce::int", skip_serializing_if = "Option::is_none")]
    pub dager_til_svarfrist: Option<i32>,
});

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DpvVarselType {
    #[serde(rename = "VarselDPVUtenRevarsel")]
    UtenRevarsel,
    #[serde(rename = "VarselDPVMedRevarsel")]
    MedRevarsel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DpvVarselTransportType {
    Epost,
    #[serde(rename = "SMS")]
    Sms,
    #[serde(rename = "EpostOgSMS")]
    EpostOgSms,
}

business_struct!(
    /// KS SvarUt settings (DPF).
    DpfSettings {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub forsendelse_type: Option<String>,
});

business_struct!(ArkivmeldingKvittering {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub receipt_type: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub related_to_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<KvitteringStatusMessage>>,
});

business_struct!(KvitteringStatusMessage {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
});

business_struct!(Avtalt {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub hoveddokument: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// Free JSON agreed between the parties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
});

business_struct!(
    /// Digital post to a citizen (DPI).
    Digital {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub hoveddokument: Option<String>,
    #[serde(default, deserialize_with = "coerce::int", skip_serializing_if = "Option::is_none")]
    pub sikkerhetsnivaa: Option<i32>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub avsender_id: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub faktura_referanse: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub tittel: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub spraak: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digital_post_info: Option<DigitalPostInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub varsler: Option<DpiNotification>,
    /// Attachment file name -> the file name of its metadata document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_filer: Option<Map<String, Value>>,
});

business_struct!(DigitalPostInfo {
    /// `yyyy-MM-dd`.
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub virkningsdato: Option<String>,
    #[serde(default, deserialize_with = "coerce::boolean", skip_serializing_if = "Option::is_none")]
    pub aapningskvittering: Option<bool>,
});

business_struct!(DpiNotification {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub epost_tekst: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub sms_tekst: Option<String>,
});

business_struct!(
    /// Physical mail through DPI.
    Print {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub hoveddokument: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub avsender_id: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub faktura_referanse: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mottaker: Option<PostAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utskriftsfarge: Option<PrintColor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posttype: Option<PostalCategory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retur: Option<MailReturn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printinstruksjoner: Option<Map<String, Value>>,
});

business_struct!(PostAddress {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub navn: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub adresselinje1: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub adresselinje2: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub adresselinje3: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub adresselinje4: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub postnummer: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub poststed: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub land: Option<String>,
});

business_struct!(MailReturn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mottaker: Option<PostAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returhaandtering: Option<ReturnHandling>,
});

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PrintColor {
    SortHvit,
    Farge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PostalCategory {
    #[serde(rename = "A_PRIORITERT")]
    APrioritert,
    #[serde(rename = "B_OEKONOMI")]
    BOekonomi,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReturnHandling {
    DirekteRetur,
    MakuleringMedMelding,
}

business_struct!(
    /// Altinn correspondence to a person (DPV).
    DigitalDpv {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub hoveddokument: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub tittel: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub sammendrag: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub innhold: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpv: Option<DpvSettings>,
});

business_struct!(Innsynskrav {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub hoveddokument: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub orgnr: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub epost: Option<String>,
});

business_struct!(Publisering {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub hoveddokument: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub orgnr: Option<String>,
});

business_struct!(EinnsynKvittering {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub hoveddokument: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub dokument_id: Option<String>,
    /// A JSON document encoded as a string.
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referanse_type: Option<EinnsynType>,
});

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EinnsynType {
    Innsynskrav,
    Publisering,
}

business_struct!(
    /// A status sent back by the receiving integration point (MOTTATT, LEVERT).
    StatusMessage {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub hoveddokument: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
});

business_struct!(
    /// A message to a GP or health institution (DPH).
    Dialogmelding {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub hoveddokument: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pasient: Option<Pasient>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_filer: Option<Map<String, Value>>,
});

business_struct!(Pasient {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub fnr: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub fornavn: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub mellomnavn: Option<String>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub etternavn: Option<String>,
});

business_struct!(DialogmeldingKvittering {
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub related_to_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DialogmeldingKvitteringStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<KvitteringStatusMessage>>,
    #[serde(default, deserialize_with = "coerce::string", skip_serializing_if = "Option::is_none")]
    pub raw_receipt: Option<String>,
});

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DialogmeldingKvitteringStatus {
    Ok,
    Rejected,
    OkErrorInMessagePart,
}

impl BusinessMessage {
    /// Decode the business-message object of the given type. The error names the
    /// failing field's path.
    pub fn from_value(kind: MessageType, value: Value) -> Result<Self, String> {
        fn de<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
            serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                if path == "." {
                    e.into_inner().to_string()
                } else {
                    format!("{path}: {}", e.into_inner())
                }
            })
        }
        Ok(match kind {
            MessageType::Arkivmelding => BusinessMessage::Arkivmelding(de(value)?),
            MessageType::ArkivmeldingKvittering => {
                BusinessMessage::ArkivmeldingKvittering(de(value)?)
            }
            MessageType::Avtalt => BusinessMessage::Avtalt(de(value)?),
            MessageType::Digital => BusinessMessage::Digital(de(value)?),
            MessageType::DigitalDpv => BusinessMessage::DigitalDpv(de(value)?),
            MessageType::Print => BusinessMessage::Print(de(value)?),
            MessageType::Innsynskrav => BusinessMessage::Innsynskrav(de(value)?),
            MessageType::Publisering => BusinessMessage::Publisering(de(value)?),
            MessageType::EinnsynKvittering => BusinessMessage::EinnsynKvittering(de(value)?),
            MessageType::Status => BusinessMessage::Status(de(value)?),
            MessageType::Feil => BusinessMessage::Feil(de(value)?),
            MessageType::Dialogmelding => BusinessMessage::Dialogmelding(de(value)?),
            MessageType::DialogmeldingKvittering => {
                BusinessMessage::DialogmeldingKvittering(de(value)?)
            }
        })
    }

    pub fn to_value(&self) -> Value {
        let v = match self {
            BusinessMessage::Arkivmelding(m) => serde_json::to_value(m),
            BusinessMessage::ArkivmeldingKvittering(m) => serde_json::to_value(m),
            BusinessMessage::Avtalt(m) => serde_json::to_value(m),
            BusinessMessage::Digital(m) => serde_json::to_value(m),
            BusinessMessage::DigitalDpv(m) => serde_json::to_value(m),
            BusinessMessage::Print(m) => serde_json::to_value(m),
            BusinessMessage::Innsynskrav(m) => serde_json::to_value(m),
            BusinessMessage::Publisering(m) => serde_json::to_value(m),
            BusinessMessage::EinnsynKvittering(m) => serde_json::to_value(m),
            BusinessMessage::Status(m) => serde_json::to_value(m),
            BusinessMessage::Feil(m) => Ok(Value::Object(m.clone())),
            BusinessMessage::Dialogmelding(m) => serde_json::to_value(m),
            BusinessMessage::DialogmeldingKvittering(m) => serde_json::to_value(m),
        };
        // Serializing these plain structs cannot fail: keys are strings, no maps with
        // non-string keys, no custom serializers that error.
        v.unwrap_or(Value::Null)
    }

    pub fn message_type(&self) -> MessageType {
        match self {
            BusinessMessage::Arkivmelding(_) => MessageType::Arkivmelding,
            BusinessMessage::ArkivmeldingKvittering(_) => MessageType::ArkivmeldingKvittering,
            BusinessMessage::Avtalt(_) => MessageType::Avtalt,
            BusinessMessage::Digital(_) => MessageType::Digital,
            BusinessMessage::DigitalDpv(_) => MessageType::DigitalDpv,
            BusinessMessage::Print(_) => MessageType::Print,
            BusinessMessage::Innsynskrav(_) => MessageType::Innsynskrav,
            BusinessMessage::Publisering(_) => MessageType::Publisering,
            BusinessMessage::EinnsynKvittering(_) => MessageType::EinnsynKvittering,
            BusinessMessage::Status(_) => MessageType::Status,
            BusinessMessage::Feil(_) => MessageType::Feil,
            BusinessMessage::Dialogmelding(_) => MessageType::Dialogmelding,
            BusinessMessage::DialogmeldingKvittering(_) => MessageType::DialogmeldingKvittering,
        }
    }

    /// The file name of the primary document, where the type has one.
    pub fn hoveddokument(&self) -> Option<&str> {
        match self {
            BusinessMessage::Arkivmelding(m) => m.hoveddokument.as_deref(),
            BusinessMessage::Avtalt(m) => m.hoveddokument.as_deref(),
            BusinessMessage::Digital(m) => m.hoveddokument.as_deref(),
            BusinessMessage::DigitalDpv(m) => m.hoveddokument.as_deref(),
            BusinessMessage::Print(m) => m.hoveddokument.as_deref(),
            BusinessMessage::Innsynskrav(m) => m.hoveddokument.as_deref(),
            BusinessMessage::Publisering(m) => m.hoveddokument.as_deref(),
            BusinessMessage::EinnsynKvittering(m) => m.hoveddokument.as_deref(),
            BusinessMessage::Status(m) => m.hoveddokument.as_deref(),
            BusinessMessage::Dialogmelding(m) => m.hoveddokument.as_deref(),
            BusinessMessage::ArkivmeldingKvittering(_)
            | BusinessMessage::Feil(_)
            | BusinessMessage::DialogmeldingKvittering(_) => None,
        }
    }

    /// `sikkerhetsnivaa`, where the type has one: it narrows the registry lookup.
    pub fn security_level(&self) -> Option<i32> {
        match self {
            BusinessMessage::Arkivmelding(m) => m.sikkerhetsnivaa,
            BusinessMessage::Digital(m) => m.sikkerhetsnivaa,
            _ => None,
        }
    }

    /// The reference's `@NotNull` constraints that depend on the type alone (those that
    /// depend on the resolved service are checked once the service is known).
    pub fn violations(&self) -> Vec<Violation> {
        let t = self.message_type().name();
        let mut v = Vec::new();
        let mut need = |present: bool, field: &str| {
            if !present {
                v.push(Violation::not_null(format!("{t}.{field}")));
            }
        };
        match self {
            BusinessMessage::Digital(m) => {
                need(m.hoveddokument.is_some(), "hoveddokument");
                need(m.tittel.is_some(), "tittel");
                need(m.spraak.is_some(), "spraak");
                need(m.digital_post_info.is_some(), "digitalPostInfo");
                if let Some(info) = &m.digital_post_info {
                    need(info.virkningsdato.is_some(), "digitalPostInfo.virkningsdato");
                    need(info.aapningskvittering.is_some(), "digitalPostInfo.aapningskvittering");
                }
            }
            BusinessMessage::Print(m) => {
                need(m.hoveddokument.is_some(), "hoveddokument");
                need(m.mottaker.is_some(), "mottaker");
                need(m.retur.is_some(), "retur");
                if let Some(r) = &m.retur {
                    need(r.mottaker.is_some(), "retur.mottaker");
                    need(r.returhaandtering.is_some(), "retur.returhaandtering");
                }
            }
            BusinessMessage::DigitalDpv(m) => {
                need(m.tittel.is_some(), "tittel");
                need(m.sammendrag.is_some(), "sammendrag");
                need(m.innhold.is_some(), "innhold");
            }
            BusinessMessage::Innsynskrav(m) => {
                need(m.orgnr.is_some(), "orgnr");
                need(m.epost.is_some(), "epost");
            }
            BusinessMessage::Publisering(m) => need(m.orgnr.is_some(), "orgnr"),
            BusinessMessage::EinnsynKvittering(m) => {
                need(m.dokument_id.is_some(), "dokumentId");
                need(m.status.is_some(), "status");
                need(m.referanse_type.is_some(), "referanseType");
            }
            BusinessMessage::Dialogmelding(m) => {
                need(m.hoveddokument.is_some(), "hoveddokument");
                need(m.pasient.is_some(), "pasient");
                if let Some(p) = &m.pasient {
                    need(p.fnr.is_some(), "pasient.fnr");
                    need(p.fornavn.as_deref().is_some_and(|s| !s.is_empty()), "pasient.fornavn");
                    need(
                        p.etternavn.as_deref().is_some_and(|s| !s.is_empty()),
                        "pasient.etternavn",
                    );
                }
            }
            _ => {}
        }
        // A print address needs its name, first line, postal code, place and country
        // (the reference's `@NotNull`s on PostAddress; it fills blank ones from the
        // registry's address, which the registry's citizens' records do not carry,
        // so a blank one is refused here as the reference ends up refusing it).
        if let BusinessMessage::Print(m) = self {
            let addresses = [
                ("mottaker", m.mottaker.as_ref()),
                ("retur.mottaker", m.retur.as_ref().and_then(|r| r.mottaker.as_ref())),
            ];
            for (path, a) in addresses {
                let Some(a) = a else { continue };
                let fields = [
                    ("navn", &a.navn),
                    ("adresselinje1", &a.adresselinje1),
                    ("postnummer", &a.postnummer),
                    ("poststed", &a.poststed),
                    ("land", &a.land),
                ];
                for (name, value) in fields {
                    if value.as_deref().is_none_or(|s| s.trim().is_empty()) {
                        v.push(Violation::new(
                            format!("{t}.{path}.{name}"),
                            "NotBlank",
                            "must not be blank",
                            value.clone().map(Value::String),
                        ));
                    }
                }
            }
        }
        if let BusinessMessage::Dialogmelding(Dialogmelding {
            pasient: Some(Pasient { fnr: Some(fnr), .. }),
            ..
        }) = self
            && super::identifier::PersonNumber::parse(fnr).is_err()
        {
            v.push(Violation::new(
                format!("{t}.pasient.fnr"),
                "PersonIdentifier",
                format!("'{fnr}' is not a valid person identifier"),
                Some(Value::String(fnr.clone())),
            ));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_survive() {
        let input = json!({"hoveddokument": "a.pdf", "sikkerhetsnivaa": "4", "nyttFelt": {"x": [1, 2]}, "dpv": {"varselType": "VarselDPVMedRevarsel", "ekstra": true}});
        let m = BusinessMessage::from_value(MessageType::Arkivmelding, input).unwrap();
        assert_eq!(m.security_level(), Some(4));
        assert_eq!(
            m.to_value(),
            json!({"hoveddokument": "a.pdf", "sikkerhetsnivaa": 4, "dpv": {"varselType": "VarselDPVMedRevarsel", "ekstra": true}, "nyttFelt": {"x": [1, 2]}})
        );
    }

    #[test]
    fn enums_refuse_unknown_values() {
        assert!(
            BusinessMessage::from_value(MessageType::Print, json!({"posttype": "C_SAKTE"}))
                .is_err()
        );
        assert!(
            BusinessMessage::from_value(MessageType::Status, json!({"status": "NESTEN"})).is_err()
        );
        let m =
            BusinessMessage::from_value(MessageType::Status, json!({"status": "LEVERT"})).unwrap();
        assert_eq!(m.to_value(), json!({"status": "LEVERT"}));
    }

    #[test]
    fn type_constraints() {
        let m =
            BusinessMessage::from_value(MessageType::Innsynskrav, json!({"orgnr": "1"})).unwrap();
        let v = m.violations();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].field, "innsynskrav.epost");
        let address = json!({"navn": "A", "adresselinje1": "G 1", "postnummer": "0001",
            "poststed": "OSLO", "land": "Norge"});
        let mut blank = address.clone();
        blank["postnummer"] = json!("");
        let m = BusinessMessage::from_value(
            MessageType::Print,
            json!({"hoveddokument": "a", "mottaker": {"navn": "A", "land": "Norway"},
                "retur": {"mottaker": blank, "returhaandtering": "DIREKTE_RETUR"}}),
        )
        .unwrap();
        let fields: Vec<(String, &str)> =
            m.violations().into_iter().map(|v| (v.field, v.code)).collect();
        assert_eq!(
            fields,
            [
                ("print.mottaker.adresselinje1".to_owned(), "NotBlank"),
                ("print.mottaker.postnummer".to_owned(), "NotBlank"),
                ("print.mottaker.poststed".to_owned(), "NotBlank"),
                ("print.retur.mottaker.postnummer".to_owned(), "NotBlank"),
            ]
        );
        let m = BusinessMessage::from_value(
            MessageType::Print,
            json!({"hoveddokument": "a", "mottaker": address.clone(),
                "retur": {"mottaker": address, "returhaandtering": "DIREKTE_RETUR"}}),
        )
        .unwrap();
        assert!(m.violations().is_empty());
        let m =
            BusinessMessage::from_value(MessageType::Print, json!({"hoveddokument": "a"})).unwrap();
        let fields: Vec<String> = m.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["print.mottaker", "print.retur"]);
        let m = BusinessMessage::from_value(MessageType::Dialogmelding, json!({"hoveddokument": "a", "pasient": {"fnr": "12345678901", "fornavn": "A", "etternavn": "B"}})).unwrap();
        assert_eq!(m.violations()[0].code, "PersonIdentifier");
    }
}
