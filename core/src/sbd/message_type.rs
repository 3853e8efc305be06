//! The business message types an SBD can carry.

use std::fmt;

/// `documentIdentification.type`, and the name of the SBD's business-message key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageType {
    Arkivmelding,
    ArkivmeldingKvittering,
    Avtalt,
    Digital,
    DigitalDpv,
    Print,
    Innsynskrav,
    Publisering,
    EinnsynKvittering,
    Status,
    /// Error reports from DPI; received only, never sent through the API.
    Feil,
    Dialogmelding,
    DialogmeldingKvittering,
}

impl MessageType {
    pub const ALL: [MessageType; 13] = [
        MessageType::Arkivmelding,
        MessageType::ArkivmeldingKvittering,
        MessageType::Avtalt,
        MessageType::Digital,
        MessageType::DigitalDpv,
        MessageType::Print,
        MessageType::Innsynskrav,
        MessageType::Publisering,
        MessageType::EinnsynKvittering,
        MessageType::Status,
        MessageType::Feil,
        MessageType::Dialogmelding,
        MessageType::DialogmeldingKvittering,
    ];

    /// The JSON key and `type` value, as the reference writes them.
    pub const fn name(self) -> &'static str {
        match self {
            MessageType::Arkivmelding => "arkivmelding",
            MessageType::ArkivmeldingKvittering => "arkivmelding_kvittering",
            MessageType::Avtalt => "avtalt",
            MessageType::Digital => "digital",
            MessageType::DigitalDpv => "digital_dpv",
            MessageType::Print => "print",
            MessageType::Innsynskrav => "innsynskrav",
            MessageType::Publisering => "publisering",
            MessageType::EinnsynKvittering => "einnsyn_kvittering",
            MessageType::Status => "status",
            MessageType::Feil => "feil",
            MessageType::Dialogmelding => "dialogmelding",
            MessageType::DialogmeldingKvittering => "dialogmelding_kvittering",
        }
    }

    /// Case-insensitive lookup, as the reference does it.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(s))
    }

    /// Receipts carry no ASiC: pop answers 204 for them.
    pub const fn is_receipt(self) -> bool {
        matches!(
            self,
            MessageType::ArkivmeldingKvittering
                | MessageType::EinnsynKvittering
                | MessageType::DialogmeldingKvittering
                | MessageType::Status
        )
    }

    /// Whether a fagsystem may create this type through the API.
    pub const fn is_sendable(self) -> bool {
        !matches!(self, MessageType::Feil)
    }

    /// Whether a message of this type must reach a named receiver. Only physical
    /// mail may leave the receiver out: its address is in the business message.
    pub const fn requires_receiver(self) -> bool {
        !matches!(self, MessageType::Print)
    }

    /// The document type URN the reference uses for this message type.
    pub const fn default_standard(self) -> &'static str {
        match self {
            MessageType::Arkivmelding => "urn:no:difi:arkivmelding:xsd::arkivmelding",
            MessageType::ArkivmeldingKvittering => {
                "urn:no:difi:arkivmelding:xsd::arkivmelding_kvittering"
            }
            MessageType::Avtalt => "urn:no:difi:avtalt:xsd::avtalt",
            MessageType::Digital => "urn:no:difi:digitalpost:xsd:digital::digital",
            MessageType::DigitalDpv => "urn:no:difi:digitalpost:xsd:digital::digital_dpv",
            MessageType::Print => "urn:no:difi:digitalpost:xsd:fysisk::print",
            MessageType::Innsynskrav => "urn:no:difi:einnsyn:xsd::innsynskrav",
            MessageType::Publisering => "urn:no:difi:einnsyn:xsd::publisering",
            MessageType::EinnsynKvittering => "urn:no:difi:einnsyn:xsd::einnsyn_kvittering",
            MessageType::Status => "urn:no:difi:eformidling:xsd::status",
            MessageType::Feil => "urn:no:difi:eformidling:xsd::feil",
            MessageType::Dialogmelding => "urn:no:difi:helse:xsd:schema::dialogmelding",
            MessageType::DialogmeldingKvittering => {
                "urn:no:difi:helse:xsd::dialogmelding_kvittering"
            }
        }
    }

    /// The reference's only rule tying a document type to a message type: the
    /// `standard` URN ends with `::<type>`.
    pub fn fits_standard(self, standard: &str) -> bool {
        standard.strip_suffix(self.name()).is_some_and(|head| head.ends_with("::"))
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for t in MessageType::ALL {
            assert_eq!(MessageType::from_name(t.name()), Some(t));
            assert_eq!(MessageType::from_name(&t.name().to_uppercase()), Some(t));
            assert!(t.fits_standard(t.default_standard()), "{t}");
        }
        assert_eq!(MessageType::from_name("fiksio"), None);
        assert_eq!(MessageType::from_name("DPO"), None);
    }

    #[test]
    fn standard_suffix_needs_the_double_colon() {
        let t = MessageType::Arkivmelding;
        assert!(t.fits_standard("urn:x::arkivmelding"));
        assert!(!t.fits_standard("urn:x:arkivmelding"));
        assert!(!t.fits_standard("urn:x::arkivmelding_kvittering"));
        assert!(
            !MessageType::Digital.fits_standard("urn:no:difi:digitalpost:xsd:digital::digital_dpv")
        );
    }
}
