//! Identifier newtypes, parsed once at the edge.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Why a string is not a UUID in the form the reference accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a UUID.")]
pub struct NotAUuid(pub String);

/// Parse a UUID the way the reference's `@UUID` constraint does: the hyphenated
/// 8-4-4-4-12 form, any case.
pub fn parse_uuid(s: &str) -> Result<Uuid, NotAUuid> {
    let hyphens_ok = s.len() == 36 && [8, 13, 18, 23].iter().all(|&i| s.as_bytes()[i] == b'-');
    if !hyphens_ok {
        return Err(NotAUuid(s.to_owned()));
    }
    Uuid::parse_str(s).map_err(|_| NotAUuid(s.to_owned()))
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            pub const fn from_uuid(u: Uuid) -> Self {
                $name(u)
            }
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
            /// A version-4 UUID made from caller-supplied random bytes.
            pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
                $name(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }
        }

        impl FromStr for $name {
            type Err = NotAUuid;
            fn from_str(s: &str) -> Result<Self, NotAUuid> {
                parse_uuid(s).map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<str>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_id!(
    /// `documentIdentification.instanceIdentifier`: one message.
    MessageId
);
uuid_id!(
    /// The ConversationId scope's `instanceIdentifier`: messages that belong together.
    ConversationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hyphenated_any_case() {
        let id: MessageId = "FF88849C-e281-4809-8555-7cd54952b916".parse().unwrap();
        assert_eq!(id.to_string(), "ff88849c-e281-4809-8555-7cd54952b916");
    }

    #[test]
    fn rejects_other_forms() {
        for s in [
            "",
            "ff88849ce28148098555 7cd54952b916",
            "ff88849ce281480985557cd54952b916",
            "{ff88849c-e281-4809-8555-7cd54952b916}",
            "ff88849c-e281-4809-8555-7cd54952b91g",
        ] {
            assert!(s.parse::<MessageId>().is_err(), "{s}");
        }
    }

    #[test]
    fn random_bytes_give_v4() {
        let id = MessageId::from_random_bytes([7; 16]);
        assert_eq!(id.as_uuid().get_version_num(), 4);
    }
}
