//! Partner identifiers: who sends and who receives.
//!
//! Under the authority `iso6523-actorid-upis` a value is an ISO 6523 organisation
//! (`0192:910077473`, the older `9908:910077473`, a bare nine-digit number, or
//! `0192:<org>:<onBehalfOfOrg>`), an 11-digit Norwegian person number, or a FIKS IO
//! account (a UUID). Under `nhn-actorid` it is a Norsk helsenett HER-id.

use std::fmt;

use crate::ids::parse_uuid;

pub const AUTHORITY_ISO6523: &str = "iso6523-actorid-upis";
pub const AUTHORITY_NHN: &str = "nhn-actorid";

/// The ICD the reference writes for Norwegian organisation numbers.
pub const ICD_NO_ORG: &str = "0192";
/// The ICD older peers still write for the same register.
pub const ICD_NO_ORG_LEGACY: &str = "9908";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PartnerIdentifier {
    Organization(OrgIdentifier),
    Person(PersonNumber),
    FiksIo(uuid::Uuid),
    Nhn(String),
}

/// An ISO 6523 organisation identifier.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OrgIdentifier {
    icd: String,
    org: String,
    /// The organisation the message is sent on behalf of (`0192:<org>:<part>`).
    on_behalf_of: Option<String>,
    source_indicator: Option<u8>,
}

/// An 11-digit Norwegian national identity number (fødselsnummer or D-number).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PersonNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("Unknown authority = {0}")]
    UnknownAuthority(String),
    #[error("Invalid identifier: '{0}'")]
    Invalid(String),
    #[error("Invalid SSN='{0}': check digit does not match")]
    CheckDigit(String),
}

impl PartnerIdentifier {
    /// Parse `value` as the given authority reads it.
    pub fn parse(value: &str, authority: &str) -> Result<Self, IdentifierError> {
        match authority {
            AUTHORITY_ISO6523 => Self::parse_iso6523_authority(value),
            AUTHORITY_NHN => parse_nhn(value).map(PartnerIdentifier::Nhn),
            other => Err(IdentifierError::UnknownAuthority(other.to_owned())),
        }
    }

    fn parse_iso6523_authority(value: &str) -> Result<Self, IdentifierError> {
        if let Some(org) = OrgIdentifier::parse(value) {
            return Ok(PartnerIdentifier::Organization(org));
        }
        if value.len() == 11 && value.bytes().all(|b| b.is_ascii_digit()) {
            return PersonNumber::parse(value).map(PartnerIdentifier::Person);
        }
        // A person number under the Norwegian organisation ICD: the reference takes
        // it (its digital DPV feature addresses a person as `0192:17912099997`) and
        // routes by the number.
        if let Some(n) = value.strip_prefix("0192:")
            && n.len() == 11
            && n.bytes().all(|b| b.is_ascii_digit())
        {
            return PersonNumber::parse(n).map(PartnerIdentifier::Person);
        }
        if let Ok(u) = parse_uuid(value) {
            return Ok(PartnerIdentifier::FiksIo(u));
        }
        Err(IdentifierError::Invalid(value.to_owned()))
    }

    /// The identifier the registry and the routing look up: the organisation number
    /// for organisations (without ICD), the person number for persons.
    pub fn primary(&self) -> String {
        match self {
            PartnerIdentifier::Organization(o) => o.org.clone(),
            PartnerIdentifier::Person(p) => p.0.clone(),
            PartnerIdentifier::FiksIo(u) => u.hyphenated().to_string(),
            PartnerIdentifier::Nhn(h) => h.clone(),
        }
    }

    pub fn is_person(&self) -> bool {
        matches!(self, PartnerIdentifier::Person(_))
    }
}

impl fmt::Display for PartnerIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartnerIdentifier::Organization(o) => o.fmt(f),
            PartnerIdentifier::Person(p) => f.write_str(&p.0),
            PartnerIdentifier::FiksIo(u) => u.hyphenated().fmt(f),
            PartnerIdentifier::Nhn(h) => f.write_str(h),
        }
    }
}

impl OrgIdentifier {
    /// `icd:org[:part[:source]]`, or a bare Norwegian nine-digit organisation number.
    ///
    /// Norwegian ICDs (0192, 9908) must carry nine-digit numbers, also in the
    /// on-behalf-of part: anything else cannot be routed and is better refused here.
    pub fn parse(value: &str) -> Option<Self> {
        if is_nine_digits(value) {
            return Some(OrgIdentifier::norwegian(value));
        }
        let mut parts = value.split(':');
        let icd = parts.next()?;
        let org = parts.next()?;
        let part = parts.next();
        let source = parts.next();
        if parts.next().is_some() || icd.len() != 4 || !icd.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !valid_org_text(org) {
            return None;
        }
        if let Some(p) = part
            && (p.is_empty() || p.len() > 35 || p.chars().any(char::is_whitespace))
        {
            return None;
        }
        let source_indicator = match source {
            None => None,
            Some(s) if s.len() == 1 && s.as_bytes()[0].is_ascii_digit() => {
                Some(s.as_bytes()[0] - b'0')
            }
            Some(_) => return None,
        };
        // "0:0" after the organisation is how NHN identifiers look; not ISO 6523.
        if part == Some("0") && source_indicator == Some(0) {
            return None;
        }
        let norwegian = icd == ICD_NO_ORG || icd == ICD_NO_ORG_LEGACY;
        if norwegian && (!is_nine_digits(org) || part.is_some_and(|p| !is_nine_digits(p))) {
            return None;
        }
        Some(OrgIdentifier {
            icd: icd.to_owned(),
            org: org.to_owned(),
            on_behalf_of: part.map(str::to_owned),
            source_indicator,
        })
    }

    /// `0192:<orgnr>`.
    pub fn norwegian(orgnr: &str) -> Self {
        OrgIdentifier {
            icd: ICD_NO_ORG.to_owned(),
            org: orgnr.to_owned(),
            on_behalf_of: None,
            source_indicator: None,
        }
    }

    pub fn icd(&self) -> &str {
        &self.icd
    }
    pub fn org(&self) -> &str {
        &self.org
    }
    pub fn on_behalf_of(&self) -> Option<&str> {
        self.on_behalf_of.as_deref()
    }

    /// `0192:<own>:<other>`: the form the reference rewrites a foreign sender into.
    pub fn with_on_behalf_of(&self, other: &str) -> Self {
        OrgIdentifier { on_behalf_of: Some(other.to_owned()), ..self.clone() }
    }
}

impl fmt::Display for OrgIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.icd, self.org)?;
        if let Some(p) = &self.on_behalf_of {
            write!(f, ":{p}")?;
            if let Some(s) = self.source_indicator {
                write!(f, ":{s}")?;
            }
        }
        Ok(())
    }
}

impl PersonNumber {
    const WEIGHTS1: [u32; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
    const WEIGHTS2: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

    /// Eleven digits whose two mod-11 check digits hold.
    pub fn parse(value: &str) -> Result<Self, IdentifierError> {
        let digits: Vec<u32> = value.chars().filter_map(|c| c.to_digit(10)).collect();
        if value.len() != 11 || digits.len() != 11 {
            return Err(IdentifierError::Invalid(value.to_owned()));
        }
        let check = |weights: &[u32], at: usize| {
            let sum: u32 = weights.iter().zip(&digits).map(|(w, d)| w * d).sum();
            let expected = match 11 - sum % 11 {
                11 => 0,
                n => n,
            };
            expected == digits[at]
        };
        if check(&Self::WEIGHTS1, 9) && check(&Self::WEIGHTS2, 10) {
            Ok(PersonNumber(value.to_owned()))
        } else {
            Err(IdentifierError::CheckDigit(value.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn parse_nhn(value: &str) -> Result<String, IdentifierError> {
    let ok = !value.is_empty() && value.len() <= 64 && !value.chars().any(char::is_whitespace);
    if ok { Ok(value.to_owned()) } else { Err(IdentifierError::Invalid(value.to_owned())) }
}

fn is_nine_digits(s: &str) -> bool {
    s.len() == 9 && s.bytes().all(|b| b.is_ascii_digit())
}

/// ISO 6523 organisation identifier text: 3 to 35 characters, no colon, no space at
/// either end.
fn valid_org_text(s: &str) -> bool {
    let n = s.chars().count();
    (3..=35).contains(&n)
        && !s.contains(':')
        && !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(v: &str) -> Result<PartnerIdentifier, IdentifierError> {
        PartnerIdentifier::parse(v, AUTHORITY_ISO6523)
    }

    #[test]
    fn organisations() {
        for (input, shown, primary) in [
            ("0192:910077473", "0192:910077473", "910077473"),
            ("9908:910077473", "9908:910077473", "910077473"),
            ("910077473", "0192:910077473", "910077473"),
            ("0192:910077473:910075918", "0192:910077473:910075918", "910077473"),
        ] {
            let id = iso(input).unwrap();
            assert_eq!(id.to_string(), shown);
            assert_eq!(id.primary(), primary);
        }
        let PartnerIdentifier::Organization(o) = iso("0192:910077473:910075918").unwrap() else {
            panic!("not an organisation")
        };
        assert_eq!(o.on_behalf_of(), Some("910075918"));
    }

    #[test]
    fn refuses_bad_organisations() {
        for v in [
            "0192:91007747",
            "0192:9100774730",
            "0192:91007747a",
            "0192:910077473:12",
            "192:910077473",
            "",
            "0192:",
            "0192: 910077473",
            "0192:910077473:910075918:1:2",
        ] {
            assert!(iso(v).is_err(), "{v}");
        }
    }

    #[test]
    fn person_numbers_check_mod_11() {
        // Test persons from the reference's registry recordings.
        for v in ["09118532322", "17912099997", "30878199614"] {
            assert!(matches!(iso(v), Ok(PartnerIdentifier::Person(_))), "{v}");
        }
        assert_eq!(iso("09118532323"), Err(IdentifierError::CheckDigit("09118532323".into())));
        assert!(iso("0911853232").is_err());
        // Under the Norwegian organisation ICD, as the reference's DPV feature writes one.
        let p = iso("0192:17912099997").unwrap();
        assert!(p.is_person());
        assert_eq!(p.primary(), "17912099997");
        assert!(iso("0192:17912099998").is_err(), "the check digits still count");
        assert!(iso("9908:17912099997").is_err());
    }

    #[test]
    fn authorities() {
        assert!(PartnerIdentifier::parse("8143060", AUTHORITY_NHN).is_ok());
        assert_eq!(
            PartnerIdentifier::parse("910077473", "foo"),
            Err(IdentifierError::UnknownAuthority("foo".into()))
        );
    }
}
