//! Time to live: when an unfinished message gets `LEVETID_UTLOPT`.

use crate::{Duration, Timestamp};

/// The reference's `default-ttl-hours` for every service.
pub const DEFAULT_TTL: Duration = Duration::from_hours(24);

/// When a message expires: the SBD's `expectedResponseDateTime` when it has one,
/// otherwise `created` plus the service's default TTL.
pub fn expiry(
    expected_response: Option<Timestamp>,
    created: Timestamp,
    default_ttl: Duration,
) -> Timestamp {
    expected_response.unwrap_or(created + default_ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_ttl_wins_over_the_default() {
        let created = Timestamp::from_unix_millis(1_000);
        assert_eq!(
            expiry(None, created, DEFAULT_TTL),
            Timestamp::from_unix_millis(1_000 + 86_400_000)
        );
        let explicit = Timestamp::from_unix_millis(5_000);
        assert_eq!(expiry(Some(explicit), created, DEFAULT_TTL), explicit);
    }
}
