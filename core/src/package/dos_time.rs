//! The MS-DOS date and time a zip entry header carries.

use crate::Timestamp;

/// Date and time in the two 16-bit MS-DOS words zip headers use (2-second resolution,
/// years 1980..=2107, no time zone: we write UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DosDateTime {
    pub date: u16,
    pub time: u16,
}

impl DosDateTime {
    /// 1980-01-01 00:00:00, the earliest DOS time: for reproducible archives.
    pub const EPOCH: DosDateTime = DosDateTime { date: (1 << 5) | 1, time: 0 };

    /// Converts a timestamp, clamping to the range DOS time can express.
    pub fn from_timestamp(ts: Timestamp) -> Self {
        let dt = ts.to_datetime();
        let year = dt.year();
        if year < 1980 {
            return Self::EPOCH;
        }
        if year > 2107 {
            return DosDateTime {
                date: (127 << 9) | (12 << 5) | 31,
                time: (23 << 11) | (59 << 5) | 29,
            };
        }
        // The casts below cannot truncate: every field was range-checked or is bounded
        // by the calendar (month 1..=12, day 1..=31, hour 0..=23, ...).
        let date =
            (((year - 1980) as u16) << 9) | ((u8::from(dt.month()) as u16) << 5) | dt.day() as u16;
        let time =
            ((dt.hour() as u16) << 11) | ((dt.minute() as u16) << 5) | (dt.second() as u16 / 2);
        DosDateTime { date, time }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_a_known_date() {
        // 2017-05-23T12:46:00Z
        let ts = Timestamp::from_datetime(time::macros::datetime!(2017-05-23 12:46:00 UTC));
        let d = DosDateTime::from_timestamp(ts);
        assert_eq!(d.date, ((2017 - 1980) << 9) | (5 << 5) | 23);
        assert_eq!(d.time, (12 << 11) | (46 << 5));
    }
}
