//! Date-times in SBDs: ISO 8601 with an offset. A value without one is read in
//! Europe/Oslo time, as the reference does.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Month, OffsetDateTime, PrimitiveDateTime, UtcOffset, Weekday};

use crate::Timestamp;

/// A date-time as the client wrote it: the instant and its offset are both kept, so
/// that a round trip gives the client's own text back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime(OffsetDateTime);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an ISO 8601 date-time")]
pub struct BadDateTime(pub String);

impl DateTime {
    /// Years 0000 to 9999 only: RFC 3339 (and so our output) cannot write others.
    pub fn parse(s: &str) -> Result<Self, BadDateTime> {
        let dt = Self::parse_any_year(s)?;
        let writable =
            (0..=9999).contains(&dt.0.year()) && dt.0.offset().seconds_past_minute() == 0;
        if writable { Ok(dt) } else { Err(BadDateTime(s.to_owned())) }
    }

    fn parse_any_year(s: &str) -> Result<Self, BadDateTime> {
        let bad = || BadDateTime(s.to_owned());
        if let Ok(dt) = OffsetDateTime::parse(s, &Rfc3339) {
            return Ok(DateTime(dt));
        }
        // Offsets without seconds but also without a colon (`+0100`), and local times.
        let with_offset = format_description!(
            version = 2,
            "[year]-[month]-[day]T[hour]:[minute][optional [:[second][optional [.[subsecond]]]]][offset_hour sign:mandatory][optional [:]][offset_minute]"
        );
        if let Ok(dt) = OffsetDateTime::parse(s, &with_offset) {
            return Ok(DateTime(dt));
        }
        let local = format_description!(
            version = 2,
            "[year]-[month]-[day]T[hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
        );
        let p = PrimitiveDateTime::parse(s, &local).map_err(|_| bad())?;
        Ok(DateTime(p.assume_offset(oslo_offset(p))))
    }

    pub fn from_timestamp(t: Timestamp, offset: UtcOffset) -> Self {
        DateTime(t.to_datetime().to_offset(offset))
    }

    /// `t` in Europe/Oslo time, the way the reference renders its own times.
    pub fn oslo(t: Timestamp) -> Self {
        let utc = t.to_datetime();
        let offset = oslo_offset_at_utc(utc);
        DateTime(utc.to_offset(offset))
    }

    pub fn timestamp(&self) -> Timestamp {
        Timestamp::from_datetime(self.0)
    }

    pub fn inner(&self) -> OffsetDateTime {
        self.0
    }

    /// RFC 3339, with the offset it was written in.
    pub fn to_rfc3339(&self) -> String {
        // Formatting only fails for years outside 0..=9999, which parsing never gives.
        self.0.format(&Rfc3339).unwrap_or_default()
    }
}

/// The instant a calendar day starts in Oslo: the bound of the API's whole-day date
/// filters.
pub fn oslo_midnight(date: time::Date) -> Timestamp {
    let local = PrimitiveDateTime::new(date, time::Time::MIDNIGHT);
    Timestamp::from_datetime(local.assume_offset(oslo_offset(local)))
}

/// Central European summer time runs from 01:00 UTC on the last Sunday of March to
/// 01:00 UTC on the last Sunday of October (EU rule, in force since 1996).
fn oslo_offset_at_utc(utc: OffsetDateTime) -> UtcOffset {
    let year = utc.year();
    let start = last_sunday_0100_utc(year, Month::March);
    let end = last_sunday_0100_utc(year, Month::October);
    let summer = matches!((start, end), (Some(s), Some(e)) if utc >= s && utc < e);
    let hours = if summer { 2 } else { 1 };
    UtcOffset::from_hms(hours, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// The offset for a local Oslo wall-clock time. In the autumn hour that occurs twice
/// the earlier (summer) reading is taken; times in the spring gap read as winter time.
fn oslo_offset(local: PrimitiveDateTime) -> UtcOffset {
    let summer = UtcOffset::from_hms(2, 0, 0).unwrap_or(UtcOffset::UTC);
    let winter = UtcOffset::from_hms(1, 0, 0).unwrap_or(UtcOffset::UTC);
    if oslo_offset_at_utc(local.assume_offset(summer)) == summer { summer } else { winter }
}

fn last_sunday_0100_utc(year: i32, month: Month) -> Option<OffsetDateTime> {
    let last_day = time::util::days_in_month(month, year);
    let date = time::Date::from_calendar_date(year, month, last_day).ok()?;
    let back = date.weekday().number_days_from_sunday();
    let sunday = date - time::Duration::days(back.into());
    debug_assert_eq!(sunday.weekday(), Weekday::Sunday);
    Some(sunday.with_hms(1, 0, 0).ok()?.assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_written_offset() {
        for s in
            ["2016-04-11T15:29:58.753+02:00", "2003-05-10T00:31:52Z", "2019-04-25T11:38:23+02:00"]
        {
            assert_eq!(DateTime::parse(s).unwrap().to_rfc3339(), s);
        }
        assert_eq!(
            DateTime::parse("2019-04-25T11:38:23+0200").unwrap().to_rfc3339(),
            "2019-04-25T11:38:23+02:00"
        );
        assert_eq!(
            DateTime::parse("2019-04-25T11:38+02:00").unwrap().to_rfc3339(),
            "2019-04-25T11:38:00+02:00"
        );
    }

    #[test]
    fn local_times_are_oslo_time() {
        assert_eq!(
            DateTime::parse("2019-01-10T12:00:00").unwrap().to_rfc3339(),
            "2019-01-10T12:00:00+01:00"
        );
        assert_eq!(
            DateTime::parse("2019-07-10T12:00:00").unwrap().to_rfc3339(),
            "2019-07-10T12:00:00+02:00"
        );
        // 2019: summer time from 31 March 01:00 UTC to 27 October 01:00 UTC.
        assert_eq!(
            DateTime::parse("2019-03-31T01:59:59").unwrap().to_rfc3339(),
            "2019-03-31T01:59:59+01:00"
        );
        assert_eq!(
            DateTime::parse("2019-03-31T03:00:00").unwrap().to_rfc3339(),
            "2019-03-31T03:00:00+02:00"
        );
        assert_eq!(
            DateTime::parse("2019-10-27T02:30:00").unwrap().to_rfc3339(),
            "2019-10-27T02:30:00+02:00"
        );
        assert_eq!(
            DateTime::parse("2019-10-27T03:00:00").unwrap().to_rfc3339(),
            "2019-10-27T03:00:00+01:00"
        );
    }

    #[test]
    fn oslo_midnight_follows_summer_time() {
        let winter = time::macros::date!(2019 - 01 - 10);
        let summer = time::macros::date!(2019 - 07 - 10);
        assert_eq!(oslo_midnight(winter).to_rfc3339(), "2019-01-09T23:00:00Z");
        assert_eq!(oslo_midnight(summer).to_rfc3339(), "2019-07-09T22:00:00Z");
    }

    #[test]
    fn oslo_rendering() {
        let t = Timestamp::from_unix_millis(1_553_510_303_000); // 2019-03-25T10:38:23Z
        assert_eq!(DateTime::oslo(t).to_rfc3339(), "2019-03-25T11:38:23+01:00");
    }

    #[test]
    fn refuses_garbage() {
        for s in ["", "2019", "2019-13-01T00:00:00Z", "yesterday", "2019-01-01T25:00:00Z"] {
            assert!(DateTime::parse(s).is_err(), "{s}");
        }
    }
}
