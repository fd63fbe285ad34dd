//! [`Interval`]: PostgreSQL's `interval`, as its three separate fields.
//!
//! The binary format is the server's `interval_send`/`interval_recv`: 16 bytes, big-endian,
//!
//! ```text
//! microseconds: i64   the time part
//! days:         i32
//! months:       i32
//! ```
//!
//! The fields are kept apart because they are not convertible into each other: a month has 28 to
//! 31 days and a day 23 to 25 hours across a daylight-saving change. PostgreSQL 17 added
//! `infinity` (every field at its maximum) and `-infinity` (every field at its minimum).
//! The text form written by [`Interval`]'s `Display` (and parsed by its `FromStr`) is the server's
//! default `IntervalStyle`, `postgres`: `1 year 2 mons -3 days +04:05:06.5`.

use std::fmt;
use std::str::FromStr;

use bytes::{BufMut, BytesMut};
use chrono::TimeDelta;

use crate::types::builtin::{InvalidText, OutOfRange, check_type};
use crate::types::reader::Reader;
use crate::types::{BoxError, FromSql, IsNull, ToSql, Type};

const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_MINUTE: i64 = 60 * USECS_PER_SEC;
const USECS_PER_HOUR: i64 = 60 * USECS_PER_MINUTE;
const USECS_PER_DAY: i64 = 24 * USECS_PER_HOUR;
const MONTHS_PER_YEAR: i32 = 12;

/// A PostgreSQL `interval`: months, days and microseconds, each with its own sign.
///
/// Equality compares the three fields (`1 mon` and `30 days` differ here, while the server's `=`
/// calls them equal after converting a month to 30 days).
///
/// ```
/// use pg_wire::types::Interval;
///
/// let i = Interval::new(14, -3, 4 * 3_600_000_000 + 500_000);
/// assert_eq!(i.to_string(), "1 year 2 mons -3 days +04:00:00.5");
/// assert_eq!("1 year 2 mons -3 days +04:00:00.5".parse::<Interval>().unwrap(), i);
/// assert_eq!(Interval::default().to_string(), "00:00:00");
/// let hour = chrono::TimeDelta::try_from(Interval::new(0, 0, 3_600_000_000)).unwrap();
/// assert_eq!(hour, chrono::TimeDelta::hours(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interval {
    /// Months (a year is 12 months).
    pub months: i32,
    /// Days.
    pub days: i32,
    /// Microseconds: the time part, which may exceed a day.
    pub microseconds: i64,
}

impl Interval {
    /// `infinity` (PostgreSQL 17 and later): every field at its maximum.
    pub const INFINITY: Interval = Interval::new(i32::MAX, i32::MAX, i64::MAX);
    /// `-infinity` (PostgreSQL 17 and later): every field at its minimum.
    pub const NEG_INFINITY: Interval = Interval::new(i32::MIN, i32::MIN, i64::MIN);

    /// The interval of `months` months, `days` days and `microseconds` microseconds.
    pub const fn new(months: i32, days: i32, microseconds: i64) -> Interval {
        Interval {
            months,
            days,
            microseconds,
        }
    }

    /// Whether this is neither `infinity` nor `-infinity`.
    pub fn is_finite(&self) -> bool {
        *self != Interval::INFINITY && *self != Interval::NEG_INFINITY
    }

    pub(crate) fn decode(ty: &Type, raw: &[u8]) -> Result<Interval, BoxError> {
        let mut r = Reader::new(ty, raw);
        let microseconds = r.i64()?;
        let days = r.i32()?;
        let months = r.i32()?;
        r.finish()?;
        Ok(Interval::new(months, days, microseconds))
    }
}

/// The text of a binary `interval`, as the server's `interval_out` writes it in the default
/// `IntervalStyle`.
pub(crate) fn interval_text(ty: &Type, raw: &[u8]) -> Result<String, BoxError> {
    Interval::decode(ty, raw).map(|i| i.to_string())
}

impl fmt::Display for Interval {
    /// The server's output in `IntervalStyle` `postgres` (its default), as its `EncodeInterval`
    /// writes it: years, `mons` and days, then the time as `[+-]HH:MM:SS[.ffffff]` (omitted when
    /// zero, unless everything is), trailing fractional zeros removed; a field after a negative
    /// one carries an explicit `+`. `infinity` and `-infinity` as such.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Interval::INFINITY {
            return f.write_str("infinity");
        }
        if *self == Interval::NEG_INFINITY {
            return f.write_str("-infinity");
        }
        let mut out = String::new();
        let mut is_zero = true;
        let mut is_before = false;
        let year = self.months / MONTHS_PER_YEAR;
        let mon = self.months % MONTHS_PER_YEAR;
        for (value, unit) in [
            (i64::from(year), "year"),
            (i64::from(mon), "mon"),
            (i64::from(self.days), "day"),
        ] {
            if value == 0 {
                continue;
            }
            let space = if is_zero { "" } else { " " };
            let plus = if is_before && value > 0 { "+" } else { "" };
            let plural = if value == 1 { "" } else { "s" };
            out.push_str(&format!("{space}{plus}{value} {unit}{plural}"));
            is_before = value < 0;
            is_zero = false;
        }
        let time = self.microseconds;
        if is_zero || time != 0 {
            let hours = (time / USECS_PER_HOUR).unsigned_abs();
            let minutes = (time % USECS_PER_HOUR / USECS_PER_MINUTE).unsigned_abs();
            let seconds = (time % USECS_PER_MINUTE / USECS_PER_SEC).unsigned_abs();
            let fraction = (time % USECS_PER_SEC).unsigned_abs();
            let space = if is_zero { "" } else { " " };
            let sign = if time < 0 {
                "-"
            } else if is_before {
                "+"
            } else {
                ""
            };
            out.push_str(&format!(
                "{space}{sign}{hours:02}:{minutes:02}:{seconds:02}"
            ));
            if fraction != 0 {
                let digits = format!("{fraction:06}");
                out.push('.');
                out.push_str(digits.trim_end_matches('0'));
            }
        }
        f.write_str(&out)
    }
}

/// Text that is not an interval in the `postgres` output style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIntervalError(());

impl fmt::Display for ParseIntervalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid interval: expected the `postgres` IntervalStyle output form")
    }
}

impl std::error::Error for ParseIntervalError {}

/// `[+-]HH:MM:SS[.f]` in microseconds.
fn parse_time(token: &str) -> Option<i64> {
    let (negative, body) = match token.as_bytes().first()? {
        b'-' => (true, token.get(1..)?),
        b'+' => (false, token.get(1..)?),
        _ => (false, token),
    };
    let mut parts = body.split(':');
    let hours = parts.next()?;
    let minutes = parts.next()?;
    let seconds = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (seconds, fraction) = match seconds.split_once('.') {
        Some((_, "")) => return None,
        Some(split) => split,
        None => (seconds, ""),
    };
    if !digits(hours) || minutes.len() != 2 || !digits(minutes) || seconds.len() != 2 {
        return None;
    }
    if !digits(seconds) || (!fraction.is_empty() && (!digits(fraction) || fraction.len() > 6)) {
        return None;
    }
    let minutes: i64 = minutes.parse().ok()?;
    let seconds: i64 = seconds.parse().ok()?;
    if minutes >= 60 || seconds >= 60 {
        return None;
    }
    let micros = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<6}").parse::<i64>().ok()?
    };
    let hours = hours.parse::<i64>().ok()?;
    let rest = minutes * USECS_PER_MINUTE + seconds * USECS_PER_SEC + micros;
    // A negative time is summed as a negative number: its magnitude can be one more than the
    // largest positive one (`-2562047788:00:54.775808` is i64::MIN microseconds).
    if negative {
        hours.checked_mul(-USECS_PER_HOUR)?.checked_sub(rest)
    } else {
        hours.checked_mul(USECS_PER_HOUR)?.checked_add(rest)
    }
}

fn parse_interval(s: &str) -> Option<Interval> {
    match s {
        "infinity" => return Some(Interval::INFINITY),
        "-infinity" => return Some(Interval::NEG_INFINITY),
        _ => {}
    }
    let mut months: i64 = 0;
    let mut days: i64 = 0;
    let mut microseconds: i64 = 0;
    let mut tokens = s.split_ascii_whitespace().peekable();
    tokens.peek()?;
    while let Some(token) = tokens.next() {
        if token.contains(':') {
            microseconds = parse_time(token)?;
            if tokens.next().is_some() {
                return None;
            }
            break;
        }
        if token.starts_with("++") || token.starts_with("+-") {
            return None;
        }
        let value: i64 = token.parse().ok()?;
        match tokens.next()? {
            "year" | "years" => months = months.checked_add(value.checked_mul(12)?)?,
            "mon" | "mons" => months = months.checked_add(value)?,
            "day" | "days" => days = days.checked_add(value)?,
            _ => return None,
        }
    }
    Some(Interval::new(
        i32::try_from(months).ok()?,
        i32::try_from(days).ok()?,
        microseconds,
    ))
}

impl FromStr for Interval {
    type Err = ParseIntervalError;

    /// Parses the `postgres` output style (what `Display` writes and what the server sends by
    /// default): `1 year 2 mons 3 days 04:05:06.789`, `-1 days +02:00:00`, `00:00:00`,
    /// `infinity`. The other `IntervalStyle`s and the free-form input syntax are not accepted.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_interval(s).ok_or(ParseIntervalError(()))
    }
}

impl TryFrom<Interval> for TimeDelta {
    type Error = OutOfRange;

    /// The interval as an exact duration when it has no months (whose length varies), counting a
    /// day as 24 hours; fails for months, the infinities, and values beyond `TimeDelta`'s range.
    fn try_from(value: Interval) -> Result<Self, Self::Error> {
        let error = || OutOfRange::new::<TimeDelta>(value, &Type::INTERVAL);
        if value.months != 0 || !value.is_finite() {
            return Err(error());
        }
        let micros = i64::from(value.days)
            .checked_mul(USECS_PER_DAY)
            .and_then(|d| d.checked_add(value.microseconds))
            .ok_or_else(error)?;
        Ok(TimeDelta::microseconds(micros))
    }
}

impl TryFrom<TimeDelta> for Interval {
    type Error = OutOfRange;

    /// The duration as microseconds (no days or months); fails when it is not a whole number of
    /// microseconds or does not fit in an `i64` of them.
    fn try_from(value: TimeDelta) -> Result<Self, Self::Error> {
        let error = || OutOfRange::new::<TimeDelta>(value, &Type::INTERVAL);
        if value.subsec_nanos() % 1_000 != 0 {
            return Err(error());
        }
        let micros = value.num_microseconds().ok_or_else(error)?;
        Ok(Interval::new(0, 0, micros))
    }
}

/// `interval`, in binary format.
impl ToSql for Interval {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        check_type::<Interval>(*ty == Type::INTERVAL, ty)?;
        out.put_i64(self.microseconds);
        out.put_i32(self.days);
        out.put_i32(self.months);
        Ok(IsNull::No)
    }

    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// `interval`: binary, or text in the default `postgres` style.
impl<'a> FromSql<'a> for Interval {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        check_type::<Interval>(*ty == Type::INTERVAL, ty)?;
        Interval::decode(ty, raw)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<Interval>(*ty == Type::INTERVAL, ty)?;
        raw.parse()
            .map_err(|_| Box::new(InvalidText::new(ty, raw)) as BoxError)
    }

    fn accepts_text(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::builtin::InvalidBinary;

    const H: i64 = USECS_PER_HOUR;

    fn encode(value: &Interval) -> Vec<u8> {
        let mut buf = BytesMut::new();
        value.to_sql(&Type::INTERVAL, &mut buf).unwrap();
        buf.to_vec()
    }

    #[test]
    fn binary_matches_interval_send() {
        // '1 year 2 mons 3 days 04:05:06.789': time, day, month.
        let value = Interval::new(14, 3, 4 * H + 5 * 60_000_000 + 6_789_000);
        let mut expected = Vec::new();
        expected.extend_from_slice(&14_706_789_000i64.to_be_bytes());
        expected.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 14]);
        assert_eq!(encode(&value), expected);
        assert_eq!(
            encode(&Interval::new(-1, -2, -3)),
            [
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff,
                0xff, 0xff
            ]
        );
        for v in [
            Interval::default(),
            value,
            Interval::INFINITY,
            Interval::NEG_INFINITY,
            Interval::new(i32::MIN, i32::MAX, -1),
        ] {
            assert_eq!(Interval::from_sql(&Type::INTERVAL, &encode(&v)).unwrap(), v);
        }
    }

    #[test]
    fn malformed_binary() {
        for len in [0usize, 8, 15, 17] {
            let e = Interval::from_sql(&Type::INTERVAL, &vec![0; len]).unwrap_err();
            assert!(e.is::<InvalidBinary>(), "{len}");
        }
        assert!(Interval::from_sql(&Type::TIME, &[0; 16]).is_err());
        assert!(!Interval::default().accepts(&Type::TIME));
        assert!(
            Interval::default()
                .to_sql(&Type::INT8, &mut BytesMut::new())
                .is_err()
        );
    }

    #[test]
    fn display_matches_interval_out() {
        // Outputs of `SELECT '...'::interval` with IntervalStyle postgres.
        let cases = [
            (Interval::new(0, 0, 0), "00:00:00"),
            (
                Interval::new(14, 3, 4 * H + 5 * 60_000_000 + 6_789_000),
                "1 year 2 mons 3 days 04:05:06.789",
            ),
            (Interval::new(1, 0, 0), "1 mon"),
            (Interval::new(-1, 0, 0), "-1 mons"),
            (Interval::new(12, 0, 0), "1 year"),
            (Interval::new(-13, 0, 0), "-1 years -1 mons"),
            (Interval::new(0, 1, 0), "1 day"),
            (Interval::new(0, -1, 2 * H), "-1 days +02:00:00"),
            (Interval::new(0, 1, -2 * H), "1 day -02:00:00"),
            (Interval::new(-1, 1, 0), "-1 mons +1 day"),
            (Interval::new(0, 0, -1), "-00:00:00.000001"),
            (Interval::new(0, 0, 500_000), "00:00:00.5"),
            (Interval::new(0, 0, 100 * H), "100:00:00"),
            (Interval::new(0, 0, 90 * 60_000_000), "01:30:00"),
            (Interval::new(0, 0, i64::MAX - 1), "2562047788:00:54.775806"),
            (
                Interval::new(0, 0, i64::MIN + 1),
                "-2562047788:00:54.775807",
            ),
            (Interval::new(i32::MAX, 0, 0), "178956970 years 7 mons"),
            (
                Interval::new(i32::MIN, i32::MIN, i64::MAX),
                "-178956970 years -8 mons -2147483648 days +2562047788:00:54.775807",
            ),
            (Interval::INFINITY, "infinity"),
            (Interval::NEG_INFINITY, "-infinity"),
        ];
        for (value, text) in cases {
            assert_eq!(value.to_string(), text);
            assert_eq!(text.parse::<Interval>().unwrap(), value, "{text}");
            assert_eq!(
                interval_text(&Type::INTERVAL, &encode(&value)).unwrap(),
                text
            );
            assert_eq!(
                Interval::from_sql_text(&Type::INTERVAL, text).unwrap(),
                value
            );
        }
    }

    #[test]
    fn extreme_times_read_back() {
        // Found by the `values` fuzz target: the server prints i64::MIN microseconds as
        // `-2562047788:00:54.775808`, whose magnitude does not fit in an i64.
        for value in [
            Interval::new(14_896, 0, i64::MIN),
            Interval::new(0, 0, i64::MIN),
            Interval::new(0, -1, i64::MAX),
            Interval::new(i32::MIN, 0, i64::MIN + 1),
        ] {
            let text = value.to_string();
            assert_eq!(text.parse::<Interval>(), Ok(value), "{text}");
        }
        assert_eq!(
            "-2562047788:00:54.775808".parse::<Interval>(),
            Ok(Interval::new(0, 0, i64::MIN))
        );
        assert!("-2562047788:00:54.775809".parse::<Interval>().is_err());
        assert!("2562047788:00:54.775808".parse::<Interval>().is_err());
    }

    #[test]
    fn invalid_text() {
        for bad in [
            "",
            " ",
            "1",
            "1 week",
            "1 day 2",
            "01:00",
            "1:2:3",
            "00:60:00",
            "00:00:60",
            "00:00:00.1234567",
            "00:00:00 1 day",
            "x days",
            "++1 day",
            "1 day ++01:00:00",
            "99999999999 years",
            "3000000000 days",
            "99999999999999:00:00",
            "00:00:00.",
            "infinity 1 day",
        ] {
            assert!(bad.parse::<Interval>().is_err(), "{bad:?}");
        }
        assert!(
            Interval::from_sql_text(&Type::INTERVAL, "P1D")
                .unwrap_err()
                .is::<InvalidText>()
        );
    }

    #[test]
    fn chrono_conversions() {
        let d = TimeDelta::try_from(Interval::new(0, 2, -H)).unwrap();
        assert_eq!(d, TimeDelta::hours(47));
        assert!(TimeDelta::try_from(Interval::new(1, 0, 0)).is_err());
        assert!(TimeDelta::try_from(Interval::INFINITY).is_err());
        assert_eq!(
            TimeDelta::try_from(Interval::new(0, 0, i64::MIN + 1)).unwrap(),
            TimeDelta::microseconds(i64::MIN + 1)
        );
        assert!(TimeDelta::try_from(Interval::new(0, -106_751_992, -1)).is_err());
        assert_eq!(
            Interval::try_from(TimeDelta::milliseconds(-1500)).unwrap(),
            Interval::new(0, 0, -1_500_000)
        );
        assert!(Interval::try_from(TimeDelta::nanoseconds(1)).is_err());
        assert!(Interval::try_from(TimeDelta::MAX).is_err());
        let e = TimeDelta::try_from(Interval::new(1, 0, 0)).unwrap_err();
        assert!(e.to_string().contains("1 mon"), "{e}");
    }
}
