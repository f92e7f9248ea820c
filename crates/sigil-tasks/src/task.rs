//! The task record (its own module so that the store and the list cache both depend on it, not on
//! each other).

use serde::Serialize;

/// A task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Random 32-character id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// 1 to 200 characters.
    pub title: String,
    /// 0 to 1000 characters.
    pub description: String,
    /// Done or not.
    pub completed: bool,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
}

/// Which tasks to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// Every task.
    All,
    /// Not completed.
    Pending,
    /// Completed.
    Completed,
}

/// A time in ms as RFC 3339 with milliseconds, UTC (`2026-11-30T12:00:00.000Z`).
pub(crate) fn rfc3339(ms: i64) -> String {
    let mut buf = [0; RFC3339_LEN];
    match rfc3339_into(ms, &mut buf) {
        Some(text) => text.to_owned(),
        None => rfc3339_slow(ms),
    }
}

/// A time in ms as RFC 3339 (see [`rfc3339`]), serialized without an allocation: the hot path of
/// a task list (two per task).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rfc3339Ms(pub(crate) i64);

impl Serialize for Rfc3339Ms {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0; RFC3339_LEN];
        match rfc3339_into(self.0, &mut buf) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.serialize_str(&rfc3339_slow(self.0)),
        }
    }
}

const RFC3339_LEN: usize = 24;

/// Formats `ms` into `buf` for the years 1970 to 9999 (every time Sigil stamps); `None` outside
/// them, where [`rfc3339_slow`] answers. The date is the proleptic Gregorian calendar's
/// (days-from-civil inverted, as in Howard Hinnant's `civil_from_days`), checked against the
/// `time` crate in the tests.
fn rfc3339_into(ms: i64, buf: &mut [u8; RFC3339_LEN]) -> Option<&str> {
    const LAST: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    if !(0..=LAST).contains(&ms) {
        return None;
    }
    let days = ms / 86_400_000;
    let in_day = ms % 86_400_000;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (hour, minute) = (in_day / 3_600_000, in_day / 60_000 % 60);
    let (second, milli) = (in_day / 1_000 % 60, in_day % 1_000);
    let mut put = |at: usize, value: i64, width: usize| {
        let mut v = value;
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, month, 2);
    put(8, day, 2);
    put(11, hour, 2);
    put(14, minute, 2);
    put(17, second, 2);
    put(20, milli, 3);
    for (at, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ] {
        buf[at] = c;
    }
    std::str::from_utf8(buf).ok()
}

/// [`rfc3339`] through the `time` crate: every representable time (an empty string beyond it).
fn rfc3339_slow(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast formatter writes what the `time` crate writes, at the edges of its range, around
    /// leap days and century years, and at a spread of times in between.
    #[test]
    fn the_fast_format_is_the_time_crates() {
        let mut samples = vec![
            0,
            1,
            999,
            86_399_999,
            86_400_000,
            951_782_400_000,     // 2000-02-29
            951_868_800_000,     // 2000-03-01
            4_107_456_000_000,   // 2100-02-28
            4_107_542_400_000,   // 2100-03-01
            1_796_083_200_000,   // 2026-12-01
            253_402_300_799_999, // the last millisecond of 9999
        ];
        // A deterministic spread (an LCG), every day-of-year and time-of-day over the range.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            samples.push((x >> 16) as i64 % 253_402_300_800_000);
        }
        for ms in samples {
            let mut buf = [0; RFC3339_LEN];
            let fast = rfc3339_into(ms, &mut buf).map(str::to_owned);
            assert_eq!(fast.as_deref(), Some(rfc3339_slow(ms).as_str()), "{ms}");
            assert_eq!(rfc3339(ms), rfc3339_slow(ms));
            let json = serde_json::to_string(&Rfc3339Ms(ms)).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", rfc3339_slow(ms)));
        }
        // Outside the fast range: the time crate's answer.
        for ms in [-1, -86_400_001, 253_402_300_800_000, i64::MAX, i64::MIN] {
            let mut buf = [0; RFC3339_LEN];
            assert!(rfc3339_into(ms, &mut buf).is_none());
            assert_eq!(rfc3339(ms), rfc3339_slow(ms), "{ms}");
        }
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
