//! [`ToSql`] and [`FromSql`] for chrono's date and time types, and the [`Timestamp`] and [`Date`]
//! wrappers that add PostgreSQL's `infinity` and `-infinity`.
//!
//! | Rust                                      | SQL           |
//! |-------------------------------------------|---------------|
//! | `chrono::NaiveDate`                       | `date`        |
//! | `chrono::NaiveTime`                       | `time`        |
//! | `chrono::NaiveDateTime`                   | `timestamp`   |
//! | `chrono::DateTime<Utc / FixedOffset / Local>` | `timestamptz` |
//!
//! Binary formats (the server's `date_send`, `time_send`, `timestamp_send`, built with 64-bit integer
//! datetimes, the only kind since PostgreSQL 10): a `date` is an `i32` count of days since
//! 2000-01-01; a `time` is an `i64` count of microseconds since midnight (up to and including
//! `24:00:00`); a `timestamp` is an `i64` count of microseconds since 2000-01-01 00:00:00, and a
//! `timestamptz` is the same count for 2000-01-01 00:00:00 UTC. `infinity` and `-infinity` are the
//! largest and smallest value of the integer (`i32::MAX`/`MIN` for `date`, `i64::MAX`/`MIN` for
//! timestamps).
//!
//! Details:
//! - Dates are proleptic Gregorian in both chrono and PostgreSQL; chrono's year 0 is 1 BC, year -1
//!   is 2 BC, and so on.
//! - Values are written with microsecond precision, **rounded** to the nearest microsecond, ties to
//!   even, as the server rounds fractional seconds of text input (`rint`). A rounding may carry into
//!   the next second, day or year.
//! - A `time` of `24:00:00` (which the server allows, and which rounding `23:59:59.9999995` gives)
//!   reads as chrono's leap-second form of `23:59:59` with 1 000 000 000 nanoseconds, which sorts
//!   after every other time of day and writes back as `24:00:00`.
//! - Reading `infinity`/`-infinity` into a chrono type fails with [`Infinite`]; read into
//!   [`Timestamp<T>`]/[`Date<T>`] to accept them. Reading a value outside chrono's range (about
//!   ±262 000 years) fails with [`OutOfRange`]; nothing panics on any input.
//! - `DateTime<FixedOffset>` reads with offset `+00:00`, whatever format the value arrived in;
//!   `DateTime<Local>` reads in the process's local time zone.
//! - Text formats (for values that arrive as text, such as from the simple query protocol) are
//!   parsed in the `ISO` `DateStyle`, the server's default: `2000-01-31`, `13:45:00.25`,
//!   `2000-01-31 13:45:00.25`, `2000-01-31 13:45:00.25+05:30`, with a trailing ` BC` for BC years.

use std::error::Error as StdError;
use std::fmt;

use bytes::{BufMut, BytesMut};
use chrono::{
    DateTime, Datelike, FixedOffset, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc,
};

use crate::types::builtin::{InvalidText, OutOfRange, check_type, read_i32, read_i64};
use crate::types::{BoxError, Format, FromSql, IsNull, ToSql, Type};

/// Seconds from 1970-01-01 (Unix epoch) to 2000-01-01 (PostgreSQL epoch).
const PG_EPOCH_UNIX_SECS: i64 = 946_684_800;
/// chrono's `num_days_from_ce` of 2000-01-01 (0001-01-01 is day 1).
const PG_EPOCH_DAYS_FROM_CE: i32 = 730_120;
const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_DAY: i64 = 86_400 * USECS_PER_SEC;
const NANOS_PER_USEC: u32 = 1_000;

// ---------------------------------------------------------------------------------------------
// Infinity wrappers
// ---------------------------------------------------------------------------------------------

/// A `timestamp` or `timestamptz` that may be `infinity` or `-infinity`.
///
/// `T` is the finite value's type (`NaiveDateTime`, `DateTime<Utc>`, ...). The variants are ordered
/// as the server orders the values: `NegInfinity < Value(_) < PosInfinity`.
///
/// ```
/// use chrono::NaiveDateTime;
/// use pg_wire::types::{FromSql, Timestamp, Type};
///
/// let raw = i64::MAX.to_be_bytes();
/// let ts = Timestamp::<NaiveDateTime>::from_sql(&Type::TIMESTAMP, &raw).unwrap();
/// assert_eq!(ts, Timestamp::PosInfinity);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timestamp<T> {
    /// `-infinity`: earlier than every other timestamp.
    NegInfinity,
    /// A finite timestamp.
    Value(T),
    /// `infinity`: later than every other timestamp.
    PosInfinity,
}

/// A `date` that may be `infinity` or `-infinity`.
///
/// `T` is the finite value's type (`NaiveDate`). The variants are ordered as the server orders the
/// values: `NegInfinity < Value(_) < PosInfinity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Date<T> {
    /// `-infinity`: earlier than every other date.
    NegInfinity,
    /// A finite date.
    Value(T),
    /// `infinity`: later than every other date.
    PosInfinity,
}

impl<T> Timestamp<T> {
    /// The finite value, or `None` for an infinity.
    pub fn into_value(self) -> Option<T> {
        match self {
            Timestamp::Value(value) => Some(value),
            Timestamp::NegInfinity | Timestamp::PosInfinity => None,
        }
    }
}

impl<T> Date<T> {
    /// The finite value, or `None` for an infinity.
    pub fn into_value(self) -> Option<T> {
        match self {
            Date::Value(value) => Some(value),
            Date::NegInfinity | Date::PosInfinity => None,
        }
    }
}

impl<T> From<T> for Timestamp<T> {
    fn from(value: T) -> Self {
        Timestamp::Value(value)
    }
}

impl<T> From<T> for Date<T> {
    fn from(value: T) -> Self {
        Date::Value(value)
    }
}

/// An `infinity` or `-infinity` read into a Rust type that has no such value.
#[derive(Debug, Clone)]
pub struct Infinite {
    /// The SQL type (`date`, `timestamp` or `timestamptz`).
    pub ty: Type,
    /// The Rust type's name.
    pub rust: &'static str,
    /// Whether the value was `-infinity` (rather than `infinity`).
    pub negative: bool,
}

impl Infinite {
    fn new<T: ?Sized>(ty: &Type, negative: bool) -> Self {
        Infinite {
            ty: ty.clone(),
            rust: std::any::type_name::<T>(),
            negative,
        }
    }
}

impl fmt::Display for Infinite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.negative { "-" } else { "" };
        let wrapper = if self.ty == Type::DATE {
            "Date"
        } else {
            "Timestamp"
        };
        write!(
            f,
            "the {} value is {sign}infinity, which Rust type `{}` cannot hold; read it as types::{wrapper}<_>",
            self.ty, self.rust
        )
    }
}

impl StdError for Infinite {}

fn is_timestamp(ty: &Type) -> bool {
    matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ)
}

/// Writes `infinity` (largest `i64`) or `-infinity` (smallest) for a timestamp type.
impl<T: ToSql> ToSql for Timestamp<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let raw = match self {
            Timestamp::Value(value) => {
                check_type::<Self>(is_timestamp(ty), ty)?;
                return value.to_sql(ty, out);
            }
            Timestamp::NegInfinity => i64::MIN,
            Timestamp::PosInfinity => i64::MAX,
        };
        check_type::<Self>(is_timestamp(ty), ty)?;
        out.put_i64(raw);
        Ok(IsNull::No)
    }

    fn accepts(&self, ty: &Type) -> bool {
        is_timestamp(ty)
            && match self {
                Timestamp::Value(value) => value.accepts(ty),
                Timestamp::NegInfinity | Timestamp::PosInfinity => true,
            }
    }

    fn encode_format(&self, ty: &Type) -> Format {
        match self {
            Timestamp::Value(value) => value.encode_format(ty),
            Timestamp::NegInfinity | Timestamp::PosInfinity => Format::Binary,
        }
    }
}

/// Reads `infinity` and `-infinity` of a timestamp type, and finite values as `T` reads them.
impl<'a, T: FromSql<'a>> FromSql<'a> for Timestamp<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        check_type::<Self>(<Self as FromSql>::accepts(ty), ty)?;
        match read_i64(ty, raw)? {
            i64::MIN => Ok(Timestamp::NegInfinity),
            i64::MAX => Ok(Timestamp::PosInfinity),
            _ => T::from_sql(ty, raw).map(Timestamp::Value),
        }
    }

    fn accepts(ty: &Type) -> bool {
        is_timestamp(ty) && T::accepts(ty)
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<Self>(<Self as FromSql>::accepts_text(ty), ty)?;
        match raw {
            "-infinity" => Ok(Timestamp::NegInfinity),
            "infinity" => Ok(Timestamp::PosInfinity),
            _ => T::from_sql_text(ty, raw).map(Timestamp::Value),
        }
    }

    fn accepts_text(ty: &Type) -> bool {
        is_timestamp(ty) && T::accepts_text(ty)
    }
}

/// Writes `infinity` (largest `i32`) or `-infinity` (smallest) for `date`.
impl<T: ToSql> ToSql for Date<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let raw = match self {
            Date::Value(value) => {
                check_type::<Self>(*ty == Type::DATE, ty)?;
                return value.to_sql(ty, out);
            }
            Date::NegInfinity => i32::MIN,
            Date::PosInfinity => i32::MAX,
        };
        check_type::<Self>(*ty == Type::DATE, ty)?;
        out.put_i32(raw);
        Ok(IsNull::No)
    }

    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::DATE
            && match self {
                Date::Value(value) => value.accepts(ty),
                Date::NegInfinity | Date::PosInfinity => true,
            }
    }

    fn encode_format(&self, ty: &Type) -> Format {
        match self {
            Date::Value(value) => value.encode_format(ty),
            Date::NegInfinity | Date::PosInfinity => Format::Binary,
        }
    }
}

/// Reads `infinity` and `-infinity` of `date`, and finite values as `T` reads them.
impl<'a, T: FromSql<'a>> FromSql<'a> for Date<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        check_type::<Self>(<Self as FromSql>::accepts(ty), ty)?;
        match read_i32(ty, raw)? {
            i32::MIN => Ok(Date::NegInfinity),
            i32::MAX => Ok(Date::PosInfinity),
            _ => T::from_sql(ty, raw).map(Date::Value),
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::DATE && T::accepts(ty)
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<Self>(<Self as FromSql>::accepts_text(ty), ty)?;
        match raw {
            "-infinity" => Ok(Date::NegInfinity),
            "infinity" => Ok(Date::PosInfinity),
            _ => T::from_sql_text(ty, raw).map(Date::Value),
        }
    }

    fn accepts_text(ty: &Type) -> bool {
        *ty == Type::DATE && T::accepts_text(ty)
    }
}

// ---------------------------------------------------------------------------------------------
// Conversions between chrono values and PostgreSQL's integers
// ---------------------------------------------------------------------------------------------

/// Nanoseconds to microseconds, rounded to nearest, ties to even (the server's `rint`).
fn round_nanos(nanos: u32) -> u32 {
    let micros = nanos / NANOS_PER_USEC;
    let rest = nanos % NANOS_PER_USEC;
    if rest > NANOS_PER_USEC / 2 || (rest == NANOS_PER_USEC / 2 && micros % 2 == 1) {
        micros + 1
    } else {
        micros
    }
}

/// Microseconds since 2000-01-01 00:00:00 of a date and time (taken as UTC), or `None` on overflow.
fn naive_to_micros(value: &NaiveDateTime) -> Option<i64> {
    let utc = value.and_utc();
    // `timestamp_subsec_nanos` exceeds 999 999 999 during a leap second: it then rolls into the
    // next second, as the server does with a seconds field of 60.
    utc.timestamp()
        .checked_sub(PG_EPOCH_UNIX_SECS)?
        .checked_mul(USECS_PER_SEC)?
        .checked_add(i64::from(round_nanos(utc.timestamp_subsec_nanos())))
}

/// The date and time `micros` microseconds after 2000-01-01 00:00:00, or `None` outside chrono's
/// range.
fn micros_to_naive(micros: i64) -> Option<NaiveDateTime> {
    let secs = micros
        .div_euclid(USECS_PER_SEC)
        .checked_add(PG_EPOCH_UNIX_SECS)?;
    let sub_micros = u32::try_from(micros.rem_euclid(USECS_PER_SEC)).ok()?;
    DateTime::from_timestamp(secs, sub_micros.checked_mul(NANOS_PER_USEC)?).map(|dt| dt.naive_utc())
}

/// Days since 2000-01-01.
fn date_to_days(value: NaiveDate) -> Option<i32> {
    value.num_days_from_ce().checked_sub(PG_EPOCH_DAYS_FROM_CE)
}

/// The date `days` days after 2000-01-01, or `None` outside chrono's range.
pub(crate) fn days_to_date(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(PG_EPOCH_DAYS_FROM_CE)?)
}

/// Microseconds since midnight; up to `USECS_PER_DAY` (24:00:00) after rounding or for chrono's
/// leap-second form of 23:59:59.
fn time_to_micros(value: NaiveTime) -> Option<i64> {
    i64::from(value.num_seconds_from_midnight())
        .checked_mul(USECS_PER_SEC)?
        .checked_add(i64::from(round_nanos(value.nanosecond())))
}

/// The time `micros` microseconds after midnight; `24:00:00` as the leap-second form of 23:59:59.
fn micros_to_time(micros: i64) -> Option<NaiveTime> {
    if micros == USECS_PER_DAY {
        return NaiveTime::from_hms_nano_opt(23, 59, 59, 1_000_000_000);
    }
    if !(0..USECS_PER_DAY).contains(&micros) {
        return None;
    }
    let secs = u32::try_from(micros / USECS_PER_SEC).ok()?;
    let nanos = u32::try_from(micros % USECS_PER_SEC)
        .ok()?
        .checked_mul(NANOS_PER_USEC)?;
    NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)
}

/// Describes a raw timestamp for an error message.
struct Micros(i64);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} microseconds from 2000-01-01 00:00:00", self.0)
    }
}

/// Reads a binary timestamp of type `ty` for Rust type `R`: the count of microseconds, refusing
/// the infinities and values outside chrono's range.
fn read_timestamp<R: ?Sized>(ty: &Type, raw: &[u8]) -> Result<NaiveDateTime, BoxError> {
    match read_i64(ty, raw)? {
        i64::MIN => Err(Box::new(Infinite::new::<R>(ty, true))),
        i64::MAX => Err(Box::new(Infinite::new::<R>(ty, false))),
        micros => micros_to_naive(micros)
            .ok_or_else(|| Box::new(OutOfRange::new::<R>(Micros(micros), ty)) as BoxError),
    }
}

/// Writes a timestamp as microseconds since 2000-01-01 00:00:00.
fn write_timestamp<R: ?Sized>(
    value: &NaiveDateTime,
    ty: &Type,
    out: &mut BytesMut,
) -> Result<IsNull, BoxError> {
    let micros = naive_to_micros(value)
        .ok_or_else(|| Box::new(OutOfRange::new::<R>(value, ty)) as BoxError)?;
    out.put_i64(micros);
    Ok(IsNull::No)
}

// ---------------------------------------------------------------------------------------------
// Text formats (DateStyle ISO)
// ---------------------------------------------------------------------------------------------

/// A forward-only reader over ASCII text.
struct Text<'a> {
    rest: &'a [u8],
}

impl<'a> Text<'a> {
    fn new(text: &'a str) -> Self {
        Text {
            rest: text.as_bytes(),
        }
    }

    /// Consumes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        match self.rest.split_first() {
            Some((first, rest)) if *first == byte => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }

    /// Consumes between `min` and `max` ASCII digits and returns them with their count.
    fn digits(&mut self, min: usize, max: usize) -> Option<(u32, usize)> {
        let count = self
            .rest
            .iter()
            .take(max)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if count < min {
            return None;
        }
        let (digits, rest) = self.rest.split_at_checked(count)?;
        self.rest = rest;
        let value = digits.iter().try_fold(0u32, |acc, digit| {
            acc.checked_mul(10)?
                .checked_add(u32::from(digit.checked_sub(b'0')?))
        })?;
        Some((value, count))
    }

    /// Consumes exactly `n` digits.
    fn fixed(&mut self, n: usize) -> Option<u32> {
        self.digits(n, n).map(|(value, _)| value)
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// Removes a trailing ` BC` era marker.
fn strip_bc(text: &str) -> (&str, bool) {
    match text.strip_suffix(" BC") {
        Some(rest) => (rest, true),
        None => (text, false),
    }
}

/// `YYYY-MM-DD` (four or more year digits), in the given era.
fn parse_date(text: &mut Text<'_>, bc: bool) -> Option<NaiveDate> {
    let (year, _) = text.digits(1, 9)?;
    let year = i32::try_from(year).ok()?;
    // 1 BC is year 0 of the proleptic Gregorian calendar, 2 BC is year -1, ...
    let year = if bc { 1i32.checked_sub(year)? } else { year };
    if year <= 0 && !bc {
        return None;
    }
    if !text.eat(b'-') {
        return None;
    }
    let month = text.fixed(2)?;
    if !text.eat(b'-') {
        return None;
    }
    let day = text.fixed(2)?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// `HH:MM:SS[.fraction]`; `24:00:00` as the leap-second form of 23:59:59. A fraction of more than
/// six digits keeps nanosecond precision (the server never sends one).
fn parse_time(text: &mut Text<'_>) -> Option<NaiveTime> {
    let hour = text.fixed(2)?;
    if !text.eat(b':') {
        return None;
    }
    let minute = text.fixed(2)?;
    if !text.eat(b':') {
        return None;
    }
    let second = text.fixed(2)?;
    let nanos = if text.eat(b'.') {
        let (fraction, count) = text.digits(1, 9)?;
        let scale = 10u32.checked_pow(u32::try_from(9usize.checked_sub(count)?).ok()?)?;
        fraction.checked_mul(scale)?
    } else {
        0
    };
    if (hour, minute, second, nanos) == (24, 0, 0, 0) {
        return micros_to_time(USECS_PER_DAY);
    }
    NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
}

/// A UTC offset `+HH`, `+HH:MM` or `+HH:MM:SS` (or with `-`), in seconds east of UTC.
fn parse_offset(text: &mut Text<'_>) -> Option<i32> {
    let sign = if text.eat(b'+') {
        1
    } else if text.eat(b'-') {
        -1
    } else {
        return None;
    };
    let hours = text.fixed(2)?;
    let minutes = if text.eat(b':') { text.fixed(2)? } else { 0 };
    let seconds = if text.eat(b':') { text.fixed(2)? } else { 0 };
    if minutes >= 60 || seconds >= 60 {
        return None;
    }
    let total = hours
        .checked_mul(3600)?
        .checked_add(minutes.checked_mul(60)?)?
        .checked_add(seconds)?;
    i32::try_from(total).ok()?.checked_mul(sign)
}

fn parse_date_text(raw: &str) -> Option<NaiveDate> {
    let (body, bc) = strip_bc(raw);
    let mut text = Text::new(body);
    let date = parse_date(&mut text, bc)?;
    text.is_empty().then_some(date)
}

fn parse_time_text(raw: &str) -> Option<NaiveTime> {
    let mut text = Text::new(raw);
    let time = parse_time(&mut text)?;
    text.is_empty().then_some(time)
}

/// A `timestamp` (`with_offset` false) or `timestamptz` (true, converted to UTC) in ISO style.
fn parse_timestamp_text(raw: &str, with_offset: bool) -> Option<NaiveDateTime> {
    let (body, bc) = strip_bc(raw);
    let mut text = Text::new(body);
    let date = parse_date(&mut text, bc)?;
    if !text.eat(b' ') {
        return None;
    }
    let time = parse_time(&mut text)?;
    // In a timestamp `24:00:00` is midnight of the next day, as the server reads it: the
    // leap-second form that stands for it in a `time` would write as that instant anyway, but would
    // not compare equal to the value read back.
    let local = if time.nanosecond() >= 1_000_000_000 {
        date.succ_opt()?.and_time(NaiveTime::MIN)
    } else {
        date.and_time(time)
    };
    let utc = if with_offset {
        let offset = FixedOffset::east_opt(parse_offset(&mut text)?)?;
        offset.from_local_datetime(&local).single()?.naive_utc()
    } else {
        local
    };
    text.is_empty().then_some(utc)
}

/// Parses the text of a value of type `ty` read into Rust type `R`, failing with [`Infinite`] for
/// the infinities and [`InvalidText`] for anything else that does not parse.
fn parse_finite<R: ?Sized, V>(
    ty: &Type,
    raw: &str,
    parse: impl FnOnce(&str) -> Option<V>,
) -> Result<V, BoxError> {
    match raw {
        "infinity" => Err(Box::new(Infinite::new::<R>(ty, false))),
        "-infinity" => Err(Box::new(Infinite::new::<R>(ty, true))),
        _ => parse(raw).ok_or_else(|| Box::new(InvalidText::new(ty, raw)) as BoxError),
    }
}

// ---------------------------------------------------------------------------------------------
// chrono impls
// ---------------------------------------------------------------------------------------------

/// `date`: days since 2000-01-01.
impl ToSql for NaiveDate {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        check_type::<NaiveDate>(*ty == Type::DATE, ty)?;
        let days = date_to_days(*self)
            .ok_or_else(|| Box::new(OutOfRange::new::<NaiveDate>(self, ty)) as BoxError)?;
        out.put_i32(days);
        Ok(IsNull::No)
    }

    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::DATE
    }
}

/// `date`; `infinity`/`-infinity` are an [`Infinite`] error (see [`Date`]).
impl<'a> FromSql<'a> for NaiveDate {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        check_type::<NaiveDate>(*ty == Type::DATE, ty)?;
        match read_i32(ty, raw)? {
            i32::MIN => Err(Box::new(Infinite::new::<NaiveDate>(ty, true))),
            i32::MAX => Err(Box::new(Infinite::new::<NaiveDate>(ty, false))),
            days => days_to_date(days).ok_or_else(|| {
                Box::new(OutOfRange::new::<NaiveDate>(
                    format_args!("{days} days from 2000-01-01"),
                    ty,
                )) as BoxError
            }),
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::DATE
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<NaiveDate>(*ty == Type::DATE, ty)?;
        parse_finite::<NaiveDate, _>(ty, raw, parse_date_text)
    }

    fn accepts_text(ty: &Type) -> bool {
        *ty == Type::DATE
    }
}

/// `time`: microseconds since midnight (rounded).
impl ToSql for NaiveTime {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        check_type::<NaiveTime>(*ty == Type::TIME, ty)?;
        // A leap second other than the one at the end of the day would exceed 24:00:00, which the
        // server refuses.
        let micros = time_to_micros(*self)
            .filter(|micros| *micros <= USECS_PER_DAY)
            .ok_or_else(|| Box::new(OutOfRange::new::<NaiveTime>(self, ty)) as BoxError)?;
        out.put_i64(micros);
        Ok(IsNull::No)
    }

    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::TIME
    }
}

/// `time`; `24:00:00` reads as the leap-second form of 23:59:59.
impl<'a> FromSql<'a> for NaiveTime {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        check_type::<NaiveTime>(*ty == Type::TIME, ty)?;
        let micros = read_i64(ty, raw)?;
        micros_to_time(micros).ok_or_else(|| {
            Box::new(OutOfRange::new::<NaiveTime>(
                format_args!("{micros} microseconds from midnight"),
                ty,
            )) as BoxError
        })
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIME
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<NaiveTime>(*ty == Type::TIME, ty)?;
        parse_time_text(raw).ok_or_else(|| Box::new(InvalidText::new(ty, raw)) as BoxError)
    }

    fn accepts_text(ty: &Type) -> bool {
        *ty == Type::TIME
    }
}

/// `timestamp`: microseconds since 2000-01-01 00:00:00 (rounded).
impl ToSql for NaiveDateTime {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        check_type::<NaiveDateTime>(*ty == Type::TIMESTAMP, ty)?;
        write_timestamp::<NaiveDateTime>(self, ty, out)
    }

    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::TIMESTAMP
    }
}

/// `timestamp`; `infinity`/`-infinity` are an [`Infinite`] error (see [`Timestamp`]).
impl<'a> FromSql<'a> for NaiveDateTime {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        check_type::<NaiveDateTime>(*ty == Type::TIMESTAMP, ty)?;
        read_timestamp::<NaiveDateTime>(ty, raw)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMP
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<NaiveDateTime>(*ty == Type::TIMESTAMP, ty)?;
        parse_finite::<NaiveDateTime, _>(ty, raw, |raw| parse_timestamp_text(raw, false))
    }

    fn accepts_text(ty: &Type) -> bool {
        *ty == Type::TIMESTAMP
    }
}

/// `timestamptz`: the instant, as microseconds since 2000-01-01 00:00:00 UTC (rounded), in any
/// time zone.
impl<Tz: TimeZone> ToSql for DateTime<Tz> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        check_type::<Self>(*ty == Type::TIMESTAMPTZ, ty)?;
        write_timestamp::<Self>(&self.naive_utc(), ty, out)
    }

    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ
    }
}

/// Reads a `timestamptz` (binary or ISO text) as a UTC date and time, for Rust type `R`.
fn timestamptz_from_binary<R: ?Sized>(ty: &Type, raw: &[u8]) -> Result<NaiveDateTime, BoxError> {
    check_type::<R>(*ty == Type::TIMESTAMPTZ, ty)?;
    read_timestamp::<R>(ty, raw)
}

fn timestamptz_from_text<R: ?Sized>(ty: &Type, raw: &str) -> Result<NaiveDateTime, BoxError> {
    check_type::<R>(*ty == Type::TIMESTAMPTZ, ty)?;
    parse_finite::<R, _>(ty, raw, |raw| parse_timestamp_text(raw, true))
}

/// Implements `FromSql` for `DateTime<$tz>` from `timestamptz`, building the value from the UTC
/// date and time with `$from_utc`.
macro_rules! timestamptz_from_sql {
    ($tz:ty, $doc:literal, $from_utc:expr) => {
        #[doc = $doc]
        impl<'a> FromSql<'a> for DateTime<$tz> {
            fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
                timestamptz_from_binary::<Self>(ty, raw).map($from_utc)
            }

            fn accepts(ty: &Type) -> bool {
                *ty == Type::TIMESTAMPTZ
            }

            fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
                timestamptz_from_text::<Self>(ty, raw).map($from_utc)
            }

            fn accepts_text(ty: &Type) -> bool {
                *ty == Type::TIMESTAMPTZ
            }
        }
    };
}

timestamptz_from_sql!(
    Utc,
    "`timestamptz`; `infinity`/`-infinity` are an [`Infinite`] error (see [`Timestamp`]).",
    |utc: NaiveDateTime| utc.and_utc()
);
timestamptz_from_sql!(
    FixedOffset,
    "`timestamptz`, with offset `+00:00`; `infinity`/`-infinity` are an [`Infinite`] error.",
    |utc: NaiveDateTime| utc.and_utc().fixed_offset()
);
timestamptz_from_sql!(
    Local,
    "`timestamptz`, in the local time zone; `infinity`/`-infinity` are an [`Infinite`] error.",
    |utc: NaiveDateTime| Local.from_utc_datetime(&utc)
);

// ---------------------------------------------------------------------------------------------
// Text of binary values (for `String` reading arrays of these types)
// ---------------------------------------------------------------------------------------------

/// `YYYY-MM-DD` (four or more year digits) and whether the year is BC, as `EncodeDateOnly` writes
/// it in DateStyle ISO.
fn iso_date(date: NaiveDate) -> (String, bool) {
    let year = date.year();
    let (year, bc) = if year <= 0 {
        (1i64 - i64::from(year), true)
    } else {
        (i64::from(year), false)
    };
    (
        format!("{year:04}-{:02}-{:02}", date.month(), date.day()),
        bc,
    )
}

/// `HH:MM:SS[.ffffff]` of `micros` since midnight (up to 24:00:00), trailing fractional zeros
/// removed, as `EncodeTimeOnly` writes it.
fn iso_time(micros: i64) -> String {
    let hours = micros / (3_600 * USECS_PER_SEC);
    let minutes = micros / (60 * USECS_PER_SEC) % 60;
    let seconds = micros / USECS_PER_SEC % 60;
    let fraction = micros % USECS_PER_SEC;
    let mut out = format!("{hours:02}:{minutes:02}:{seconds:02}");
    if fraction != 0 {
        out.push('.');
        out.push_str(format!("{fraction:06}").trim_end_matches('0'));
    }
    out
}

/// The text of a binary `date`, as `date_out` writes it in DateStyle ISO.
pub(crate) fn date_text(ty: &Type, raw: &[u8]) -> Result<String, BoxError> {
    match read_i32(ty, raw)? {
        i32::MIN => Ok("-infinity".to_owned()),
        i32::MAX => Ok("infinity".to_owned()),
        days => {
            let date = days_to_date(days).ok_or_else(|| {
                Box::new(OutOfRange::new::<String>(
                    format_args!("{days} days from 2000-01-01"),
                    ty,
                )) as BoxError
            })?;
            let (text, bc) = iso_date(date);
            Ok(if bc { format!("{text} BC") } else { text })
        }
    }
}

/// The text of a binary `time`, as `time_out` writes it.
pub(crate) fn time_text(ty: &Type, raw: &[u8]) -> Result<String, BoxError> {
    let micros = read_i64(ty, raw)?;
    if !(0..=USECS_PER_DAY).contains(&micros) {
        return Err(Box::new(OutOfRange::new::<String>(
            format_args!("{micros} microseconds from midnight"),
            ty,
        )));
    }
    Ok(iso_time(micros))
}

/// The text of a binary `timestamp`, as `timestamp_out` writes it in DateStyle ISO.
pub(crate) fn timestamp_text(ty: &Type, raw: &[u8]) -> Result<String, BoxError> {
    match read_i64(ty, raw)? {
        i64::MIN => Ok("-infinity".to_owned()),
        i64::MAX => Ok("infinity".to_owned()),
        micros => {
            let date = i32::try_from(micros.div_euclid(USECS_PER_DAY))
                .ok()
                .and_then(days_to_date)
                .ok_or_else(|| {
                    Box::new(OutOfRange::new::<String>(Micros(micros), ty)) as BoxError
                })?;
            let (text, bc) = iso_date(date);
            let time = iso_time(micros.rem_euclid(USECS_PER_DAY));
            let bc = if bc { " BC" } else { "" };
            Ok(format!("{text} {time}{bc}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::WrongType;
    use chrono::TimeDelta;

    fn encode<T: ToSql + ?Sized>(value: &T, ty: &Type) -> Result<Vec<u8>, BoxError> {
        assert!(value.accepts(ty), "{value:?} should accept {ty}");
        let mut buf = BytesMut::new();
        assert_eq!(value.to_sql(ty, &mut buf)?, IsNull::No);
        Ok(buf.to_vec())
    }

    fn round_trip<T>(value: T, ty: &Type) -> T
    where
        T: ToSql + for<'a> FromSql<'a>,
    {
        let bytes = encode(&value, ty).unwrap();
        assert!(<T as FromSql>::accepts(ty));
        T::from_sql(ty, &bytes).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn time(h: u32, m: u32, s: u32, micro: u32) -> NaiveTime {
        NaiveTime::from_hms_micro_opt(h, m, s, micro).unwrap()
    }

    fn datetime(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
        date(y, mo, d).and_hms_opt(h, mi, s).unwrap()
    }

    #[test]
    fn epoch_constants() {
        assert_eq!(date(2000, 1, 1).num_days_from_ce(), PG_EPOCH_DAYS_FROM_CE);
        assert_eq!(
            datetime(2000, 1, 1, 0, 0, 0).and_utc().timestamp(),
            PG_EPOCH_UNIX_SECS
        );
    }

    #[test]
    fn date_encodings() {
        assert_eq!(
            encode(&date(2000, 1, 1), &Type::DATE).unwrap(),
            [0, 0, 0, 0]
        );
        assert_eq!(encode(&date(1999, 12, 31), &Type::DATE).unwrap(), [0xff; 4]);
        assert_eq!(
            encode(&date(2000, 1, 2), &Type::DATE).unwrap(),
            [0, 0, 0, 1]
        );
        // 1970-01-01 is 10957 days before 2000-01-01 (30 years, 7 of them leap years).
        assert_eq!(
            encode(&date(1970, 1, 1), &Type::DATE).unwrap(),
            (-10_957i32).to_be_bytes()
        );
        assert_eq!(
            NaiveDate::from_sql(&Type::DATE, &[0, 0, 0, 0]).unwrap(),
            date(2000, 1, 1)
        );
        assert_eq!(
            NaiveDate::from_sql(&Type::DATE, &[0xff; 4]).unwrap(),
            date(1999, 12, 31)
        );
    }

    #[test]
    fn date_round_trips_and_bc() {
        for d in [
            date(2000, 1, 1),
            date(2000, 2, 29),
            date(1, 1, 1),
            date(0, 1, 1),       // 0001-01-01 BC
            date(-4713, 11, 24), // the server's earliest date, 4714-11-24 BC
            date(9999, 12, 31),
            date(200_000, 6, 30),
            NaiveDate::MIN,
            NaiveDate::MAX,
        ] {
            assert_eq!(round_trip(d, &Type::DATE), d);
        }
        // As the server's date_send gives for '0001-01-01' and '0001-01-01 BC' (year 0 is a leap year).
        assert_eq!(
            encode(&date(1, 1, 1), &Type::DATE).unwrap(),
            [0xff, 0xf4, 0xdb, 0xf9]
        );
        assert_eq!(
            encode(&date(0, 1, 1), &Type::DATE).unwrap(),
            [0xff, 0xf4, 0xda, 0x8b]
        );
        assert_eq!(
            NaiveDate::from_sql(&Type::DATE, &[0xff, 0xf4, 0xda, 0x8b]).unwrap(),
            date(0, 1, 1)
        );
        // 0001-01-01 AD is day 1 of the era, 0001-12-31 BC the day before.
        let ad1 = i32::from_be_bytes(
            encode(&date(1, 1, 1), &Type::DATE)
                .unwrap()
                .try_into()
                .unwrap(),
        );
        let bc1 = i32::from_be_bytes(
            encode(&date(0, 12, 31), &Type::DATE)
                .unwrap()
                .try_into()
                .unwrap(),
        );
        assert_eq!(ad1, 1 - PG_EPOCH_DAYS_FROM_CE);
        assert_eq!(bc1, ad1 - 1);
    }

    #[test]
    fn date_out_of_chrono_range_is_an_error() {
        // The server's last date, 5874897-12-31, is beyond chrono.
        let e = NaiveDate::from_sql(&Type::DATE, &(i32::MAX - 1).to_be_bytes()).unwrap_err();
        assert!(e.is::<OutOfRange>(), "{e}");
        assert!(e.to_string().contains("2147483646 days"), "{e}");
        assert!(NaiveDate::from_sql(&Type::DATE, &(i32::MIN + 1).to_be_bytes()).is_err());
        assert!(Date::<NaiveDate>::from_sql(&Type::DATE, &(i32::MAX - 1).to_be_bytes()).is_err());
    }

    #[test]
    fn date_infinity() {
        let e = NaiveDate::from_sql(&Type::DATE, &i32::MAX.to_be_bytes()).unwrap_err();
        assert!(e.is::<Infinite>());
        assert_eq!(
            e.to_string(),
            "the date value is infinity, which Rust type `chrono::naive::date::NaiveDate` cannot hold; \
             read it as types::Date<_>"
        );
        let e = NaiveDate::from_sql(&Type::DATE, &i32::MIN.to_be_bytes()).unwrap_err();
        assert!(e.to_string().contains("-infinity"), "{e}");

        type D = Date<NaiveDate>;
        assert_eq!(
            D::from_sql(&Type::DATE, &i32::MAX.to_be_bytes()).unwrap(),
            D::PosInfinity
        );
        assert_eq!(
            D::from_sql(&Type::DATE, &i32::MIN.to_be_bytes()).unwrap(),
            D::NegInfinity
        );
        assert_eq!(
            D::from_sql(&Type::DATE, &[0; 4]).unwrap(),
            D::Value(date(2000, 1, 1))
        );
        assert_eq!(
            encode(&D::PosInfinity, &Type::DATE).unwrap(),
            [0x7f, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            encode(&D::NegInfinity, &Type::DATE).unwrap(),
            [0x80, 0, 0, 0]
        );
        assert_eq!(
            encode(&D::from(date(2000, 1, 2)), &Type::DATE).unwrap(),
            [0, 0, 0, 1]
        );
        assert!(D::from_sql(&Type::DATE, &[0; 3]).is_err());
        assert!(D::from_sql(&Type::TIMESTAMP, &[0; 8]).is_err());
        assert!(!D::PosInfinity.accepts(&Type::TIMESTAMP));
        assert!(
            D::PosInfinity
                .to_sql(&Type::INT4, &mut BytesMut::new())
                .is_err()
        );
        assert!(D::NegInfinity < D::Value(NaiveDate::MIN));
        assert!(D::Value(NaiveDate::MAX) < D::PosInfinity);
        assert_eq!(
            D::Value(date(2000, 1, 1)).into_value(),
            Some(date(2000, 1, 1))
        );
        assert_eq!(D::PosInfinity.into_value(), None);
    }

    #[test]
    fn date_wrong_widths_and_types() {
        assert!(NaiveDate::from_sql(&Type::DATE, &[0; 3]).is_err());
        assert!(NaiveDate::from_sql(&Type::DATE, &[0; 8]).is_err());
        assert!(
            NaiveDate::from_sql(&Type::TIMESTAMP, &[0; 8])
                .unwrap_err()
                .is::<WrongType>()
        );
        assert!(!ToSql::accepts(&date(2000, 1, 1), &Type::TIMESTAMP));
        assert!(
            date(2000, 1, 1)
                .to_sql(&Type::TEXT, &mut BytesMut::new())
                .is_err()
        );
    }

    #[test]
    fn time_encodings() {
        assert_eq!(encode(&time(0, 0, 0, 0), &Type::TIME).unwrap(), [0; 8]);
        assert_eq!(
            encode(&time(0, 0, 1, 0), &Type::TIME).unwrap(),
            1_000_000i64.to_be_bytes()
        );
        assert_eq!(
            encode(&time(23, 59, 59, 999_999), &Type::TIME).unwrap(),
            (USECS_PER_DAY - 1).to_be_bytes()
        );
        assert_eq!(
            NaiveTime::from_sql(&Type::TIME, &45_296_000_007i64.to_be_bytes()).unwrap(),
            time(12, 34, 56, 7)
        );
        for t in [
            time(0, 0, 0, 0),
            time(12, 0, 0, 1),
            time(23, 59, 59, 999_999),
        ] {
            assert_eq!(round_trip(t, &Type::TIME), t);
        }
    }

    #[test]
    fn time_24_00_and_range() {
        let end = NaiveTime::from_sql(&Type::TIME, &USECS_PER_DAY.to_be_bytes()).unwrap();
        assert_eq!(
            end,
            NaiveTime::from_hms_nano_opt(23, 59, 59, 1_000_000_000).unwrap()
        );
        assert!(end > time(23, 59, 59, 999_999));
        assert_eq!(
            encode(&end, &Type::TIME).unwrap(),
            USECS_PER_DAY.to_be_bytes()
        );
        // Rounding up to 24:00:00, as the server does for text input.
        let almost = NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_600).unwrap();
        assert_eq!(
            encode(&almost, &Type::TIME).unwrap(),
            USECS_PER_DAY.to_be_bytes()
        );
        // Beyond 24:00:00 or negative: errors, on both sides.
        assert!(NaiveTime::from_sql(&Type::TIME, &(USECS_PER_DAY + 1).to_be_bytes()).is_err());
        assert!(NaiveTime::from_sql(&Type::TIME, &(-1i64).to_be_bytes()).is_err());
        assert!(NaiveTime::from_sql(&Type::TIME, &i64::MIN.to_be_bytes()).is_err());
        assert!(NaiveTime::from_sql(&Type::TIME, &i64::MAX.to_be_bytes()).is_err());
        let leap = NaiveTime::from_hms_nano_opt(12, 0, 59, 1_500_000_000).unwrap();
        assert!(encode(&leap, &Type::TIME).is_ok()); // 12:01:00.5, inside the day
        let late_leap = NaiveTime::from_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap();
        assert!(
            encode(&late_leap, &Type::TIME)
                .unwrap_err()
                .is::<OutOfRange>()
        );
        assert!(NaiveTime::from_sql(&Type::TIME, &[0; 4]).is_err());
        assert!(NaiveTime::from_sql(&Type::TIMETZ, &[0; 12]).is_err());
    }

    #[test]
    fn nanoseconds_round_to_microseconds_ties_to_even() {
        assert_eq!(round_nanos(0), 0);
        assert_eq!(round_nanos(499), 0);
        assert_eq!(round_nanos(500), 0);
        assert_eq!(round_nanos(501), 1);
        assert_eq!(round_nanos(1_500), 2);
        assert_eq!(round_nanos(2_500), 2);
        assert_eq!(round_nanos(2_501), 3);
        assert_eq!(round_nanos(999_999_999), 1_000_000);
        assert_eq!(round_nanos(1_999_999_999), 2_000_000);
        assert_eq!(round_nanos(u32::MAX), 4_294_967);

        let t = NaiveTime::from_hms_nano_opt(0, 0, 0, 1_600).unwrap();
        assert_eq!(round_trip(t, &Type::TIME), time(0, 0, 0, 2));
        // Carries into the next second and day.
        let ts = date(1999, 12, 31)
            .and_hms_nano_opt(23, 59, 59, 999_999_999)
            .unwrap();
        assert_eq!(encode(&ts, &Type::TIMESTAMP).unwrap(), [0; 8]);
        // Before the epoch the fraction is still rounded on the time line (nearest microsecond).
        let ts = date(1999, 12, 31)
            .and_hms_nano_opt(23, 59, 59, 999_998_600)
            .unwrap();
        assert_eq!(
            encode(&ts, &Type::TIMESTAMP).unwrap(),
            (-1i64).to_be_bytes()
        );
    }

    #[test]
    fn timestamp_encodings() {
        let epoch = datetime(2000, 1, 1, 0, 0, 0);
        assert_eq!(encode(&epoch, &Type::TIMESTAMP).unwrap(), [0; 8]);
        assert_eq!(
            encode(&datetime(1999, 12, 31, 0, 0, 0), &Type::TIMESTAMP).unwrap(),
            (-USECS_PER_DAY).to_be_bytes()
        );
        assert_eq!(
            encode(&(epoch + TimeDelta::microseconds(1)), &Type::TIMESTAMP).unwrap(),
            [0, 0, 0, 0, 0, 0, 0, 1]
        );
        // The Unix epoch.
        assert_eq!(
            encode(&datetime(1970, 1, 1, 0, 0, 0), &Type::TIMESTAMP).unwrap(),
            (-946_684_800_000_000i64).to_be_bytes()
        );
        assert_eq!(
            NaiveDateTime::from_sql(&Type::TIMESTAMP, &(-1i64).to_be_bytes()).unwrap(),
            date(1999, 12, 31)
                .and_hms_micro_opt(23, 59, 59, 999_999)
                .unwrap()
        );
    }

    #[test]
    fn timestamp_round_trips() {
        for ts in [
            datetime(2000, 1, 1, 0, 0, 0),
            date(2024, 2, 29)
                .and_hms_micro_opt(13, 14, 15, 161_718)
                .unwrap(),
            datetime(0, 1, 1, 0, 0, 0),            // 0001-01-01 BC
            datetime(-4713, 11, 24, 0, 0, 0),      // the server's earliest
            datetime(262_142, 12, 31, 23, 59, 59), // near chrono's end
            NaiveDateTime::MIN,
            NaiveDateTime::MAX.with_nanosecond(999_999_000).unwrap(),
        ] {
            assert_eq!(round_trip(ts, &Type::TIMESTAMP), ts);
        }
    }

    #[test]
    fn timestamp_out_of_chrono_range_is_an_error() {
        // The server allows timestamps up to 294276 AD; chrono stops at 262143.
        for micros in [
            i64::MAX - 1,
            i64::MIN + 1,
            9_000_000_000_000_000_000,
            -9_000_000_000_000_000_000,
        ] {
            let e = NaiveDateTime::from_sql(&Type::TIMESTAMP, &micros.to_be_bytes()).unwrap_err();
            assert!(e.is::<OutOfRange>(), "{e}");
            assert!(e.to_string().contains(&micros.to_string()), "{e}");
            assert!(DateTime::<Utc>::from_sql(&Type::TIMESTAMPTZ, &micros.to_be_bytes()).is_err());
            assert!(
                Timestamp::<NaiveDateTime>::from_sql(&Type::TIMESTAMP, &micros.to_be_bytes())
                    .is_err()
            );
        }
        // chrono's last instant rounds up past its own range: writable, not readable back.
        let bytes = encode(&NaiveDateTime::MAX, &Type::TIMESTAMP).unwrap();
        assert!(NaiveDateTime::from_sql(&Type::TIMESTAMP, &bytes).is_err());
    }

    #[test]
    fn timestamp_infinity() {
        let e = NaiveDateTime::from_sql(&Type::TIMESTAMP, &i64::MAX.to_be_bytes()).unwrap_err();
        assert!(e.is::<Infinite>());
        assert!(
            e.to_string().contains("the timestamp value is infinity"),
            "{e}"
        );
        assert!(e.to_string().contains("types::Timestamp<_>"), "{e}");
        let e = DateTime::<Utc>::from_sql(&Type::TIMESTAMPTZ, &i64::MIN.to_be_bytes()).unwrap_err();
        assert!(
            e.to_string().contains("the timestamptz value is -infinity"),
            "{e}"
        );

        type T = Timestamp<NaiveDateTime>;
        assert_eq!(
            T::from_sql(&Type::TIMESTAMP, &i64::MAX.to_be_bytes()).unwrap(),
            T::PosInfinity
        );
        assert_eq!(
            T::from_sql(&Type::TIMESTAMP, &i64::MIN.to_be_bytes()).unwrap(),
            T::NegInfinity
        );
        assert_eq!(
            T::from_sql(&Type::TIMESTAMP, &[0; 8]).unwrap(),
            T::Value(datetime(2000, 1, 1, 0, 0, 0))
        );
        assert_eq!(
            encode(&T::PosInfinity, &Type::TIMESTAMP).unwrap(),
            i64::MAX.to_be_bytes()
        );
        assert_eq!(
            encode(&T::NegInfinity, &Type::TIMESTAMPTZ).unwrap(),
            i64::MIN.to_be_bytes()
        );
        assert!(!T::Value(datetime(2000, 1, 1, 0, 0, 0)).accepts(&Type::TIMESTAMPTZ));
        assert!(!T::PosInfinity.accepts(&Type::DATE));
        assert!(!<T as FromSql>::accepts(&Type::TIMESTAMPTZ));
        assert!(T::from_sql(&Type::TIMESTAMP, &[0; 4]).is_err());

        type Tz = Timestamp<DateTime<Utc>>;
        assert_eq!(
            Tz::from_sql(&Type::TIMESTAMPTZ, &i64::MAX.to_be_bytes()).unwrap(),
            Tz::PosInfinity
        );
        let now = Utc::now().with_nanosecond(123_456_000).unwrap();
        assert_eq!(
            round_trip(Tz::Value(now), &Type::TIMESTAMPTZ),
            Tz::Value(now)
        );
        assert_eq!(
            round_trip(Tz::NegInfinity, &Type::TIMESTAMPTZ),
            Tz::NegInfinity
        );
        assert_eq!(round_trip(T::PosInfinity, &Type::TIMESTAMP), T::PosInfinity);
        assert_eq!(Tz::Value(now).into_value(), Some(now));
        assert_eq!(Tz::NegInfinity.into_value(), None);
        assert_eq!(Tz::from(now), Tz::Value(now));
        assert!(Tz::NegInfinity < Tz::Value(now) && Tz::Value(now) < Tz::PosInfinity);
        assert_eq!(
            Tz::PosInfinity.encode_format(&Type::TIMESTAMPTZ),
            Format::Binary
        );
    }

    #[test]
    fn timestamptz() {
        let utc = date(2000, 1, 1).and_hms_opt(0, 0, 0).unwrap().and_utc();
        assert_eq!(encode(&utc, &Type::TIMESTAMPTZ).unwrap(), [0; 8]);
        // The same instant in another zone encodes the same.
        let paris = FixedOffset::east_opt(3600).unwrap();
        let in_paris = utc.with_timezone(&paris);
        assert_eq!(encode(&in_paris, &Type::TIMESTAMPTZ).unwrap(), [0; 8]);
        assert_eq!(
            encode(&utc.with_timezone(&Local), &Type::TIMESTAMPTZ).unwrap(),
            [0; 8]
        );

        let read = DateTime::<FixedOffset>::from_sql(&Type::TIMESTAMPTZ, &[0; 8]).unwrap();
        assert_eq!(read, in_paris);
        assert_eq!(read.offset().local_minus_utc(), 0);
        assert_eq!(
            DateTime::<Utc>::from_sql(&Type::TIMESTAMPTZ, &[0; 8]).unwrap(),
            utc
        );
        assert_eq!(
            DateTime::<Local>::from_sql(&Type::TIMESTAMPTZ, &[0; 8]).unwrap(),
            utc
        );

        // Strict about with / without time zone.
        assert!(!ToSql::accepts(&utc, &Type::TIMESTAMP));
        assert!(!ToSql::accepts(&utc.naive_utc(), &Type::TIMESTAMPTZ));
        assert!(!<DateTime<Utc> as FromSql>::accepts(&Type::TIMESTAMP));
        assert!(!<NaiveDateTime as FromSql>::accepts(&Type::TIMESTAMPTZ));
        assert!(
            DateTime::<Utc>::from_sql(&Type::TIMESTAMP, &[0; 8])
                .unwrap_err()
                .is::<WrongType>()
        );
        assert!(utc.to_sql(&Type::TIMESTAMP, &mut BytesMut::new()).is_err());
        assert!(DateTime::<Utc>::from_sql(&Type::TIMESTAMPTZ, &[0; 7]).is_err());
        assert!(DateTime::<Local>::from_sql(&Type::TIMESTAMPTZ, &[0; 9]).is_err());
    }

    #[test]
    fn date_text() {
        let read = |s| NaiveDate::from_sql_text(&Type::DATE, s);
        assert_eq!(read("2000-01-31").unwrap(), date(2000, 1, 31));
        assert_eq!(read("0001-01-01 BC").unwrap(), date(0, 1, 1));
        assert_eq!(read("0044-03-15 BC").unwrap(), date(-43, 3, 15));
        assert_eq!(read("10000-01-01").unwrap(), date(10_000, 1, 1));
        assert!(read("infinity").unwrap_err().is::<Infinite>());
        assert!(read("-infinity").unwrap_err().is::<Infinite>());
        for bad in [
            "",
            "2000-1-31",
            "2000-02-30",
            "0000-01-01",
            "2000-01-31 ",
            "01/31/2000",
            "2000-01-31 AD",
            "x",
        ] {
            assert!(read(bad).unwrap_err().is::<InvalidText>(), "{bad}");
        }
        type D = Date<NaiveDate>;
        assert_eq!(
            D::from_sql_text(&Type::DATE, "infinity").unwrap(),
            D::PosInfinity
        );
        assert_eq!(
            D::from_sql_text(&Type::DATE, "-infinity").unwrap(),
            D::NegInfinity
        );
        assert_eq!(
            D::from_sql_text(&Type::DATE, "2000-01-01").unwrap(),
            D::Value(date(2000, 1, 1))
        );
        assert!(<D as FromSql>::accepts_text(&Type::DATE));
        assert!(!<D as FromSql>::accepts_text(&Type::TIMESTAMP));
    }

    #[test]
    fn timestamp_text_at_24_00_is_the_next_midnight() {
        // Found by the `values` fuzz target: `24:00:00` in a timestamp read as a leap second,
        // which wrote as the next midnight and read back as a different value.
        let next = NaiveDate::from_ymd_opt(44, 1, 16)
            .unwrap()
            .and_time(NaiveTime::MIN);
        assert_eq!(
            NaiveDateTime::from_sql_text(&Type::TIMESTAMP, "0044-01-15 24:00:00").unwrap(),
            next
        );
        assert_eq!(
            DateTime::<Utc>::from_sql_text(&Type::TIMESTAMPTZ, "0044-01-16 04:00:00+04").unwrap(),
            next.and_utc()
        );
        let value =
            DateTime::<Utc>::from_sql_text(&Type::TIMESTAMPTZ, "0044-01-15 24:00:00+04").unwrap();
        let mut buf = BytesMut::new();
        value.to_sql(&Type::TIMESTAMPTZ, &mut buf).unwrap();
        assert_eq!(
            DateTime::<Utc>::from_sql(&Type::TIMESTAMPTZ, &buf).unwrap(),
            value
        );
        assert!(NaiveDateTime::from_sql_text(&Type::TIMESTAMP, "0044-01-15 24:00:01").is_err());
    }

    #[test]
    fn time_text() {
        let read = |s| NaiveTime::from_sql_text(&Type::TIME, s);
        assert_eq!(read("13:45:00").unwrap(), time(13, 45, 0, 0));
        assert_eq!(read("13:45:00.25").unwrap(), time(13, 45, 0, 250_000));
        assert_eq!(read("00:00:00.000001").unwrap(), time(0, 0, 0, 1));
        assert_eq!(
            read("24:00:00").unwrap(),
            micros_to_time(USECS_PER_DAY).unwrap()
        );
        for bad in [
            "",
            "24:00:01",
            "13:45",
            "13:60:00",
            "1:45:00",
            "13:45:00.",
            "13:45:00+02",
        ] {
            assert!(read(bad).unwrap_err().is::<InvalidText>(), "{bad}");
        }
    }

    #[test]
    fn timestamp_text() {
        let read = |s| NaiveDateTime::from_sql_text(&Type::TIMESTAMP, s);
        assert_eq!(
            read("2000-01-31 13:45:00").unwrap(),
            datetime(2000, 1, 31, 13, 45, 0)
        );
        assert_eq!(
            read("2000-01-31 13:45:00.123456").unwrap(),
            date(2000, 1, 31)
                .and_hms_micro_opt(13, 45, 0, 123_456)
                .unwrap()
        );
        assert_eq!(
            read("0001-01-01 00:00:00 BC").unwrap(),
            datetime(0, 1, 1, 0, 0, 0)
        );
        assert!(read("infinity").unwrap_err().is::<Infinite>());
        for bad in [
            "2000-01-31",
            "2000-01-31T13:45:00",
            "2000-01-31 13:45:00+00",
            "2000-01-31  13:45:00",
        ] {
            assert!(read(bad).unwrap_err().is::<InvalidText>(), "{bad}");
        }
        type T = Timestamp<NaiveDateTime>;
        assert_eq!(
            T::from_sql_text(&Type::TIMESTAMP, "-infinity").unwrap(),
            T::NegInfinity
        );
        assert_eq!(
            T::from_sql_text(&Type::TIMESTAMP, "2000-01-01 00:00:00").unwrap(),
            T::Value(datetime(2000, 1, 1, 0, 0, 0))
        );
    }

    #[test]
    fn timestamptz_text() {
        let read = |s| DateTime::<Utc>::from_sql_text(&Type::TIMESTAMPTZ, s);
        let expected = datetime(2000, 1, 31, 8, 15, 0).and_utc();
        assert_eq!(read("2000-01-31 08:15:00+00").unwrap(), expected);
        assert_eq!(read("2000-01-31 13:45:00+05:30").unwrap(), expected);
        assert_eq!(read("2000-01-31 05:15:00-03").unwrap(), expected);
        assert_eq!(read("2000-01-31 08:14:59+00:00:-1").ok(), None);
        assert_eq!(
            read("1850-01-01 00:00:00+00:09:21").unwrap(),
            datetime(1849, 12, 31, 23, 50, 39).and_utc()
        );
        assert_eq!(
            read("0001-01-01 12:00:00+02 BC").unwrap(),
            datetime(0, 1, 1, 10, 0, 0).and_utc()
        );
        // Local mean time offsets have seconds, as the server prints them for old dates.
        assert_eq!(
            read("0001-01-01 15:53:28+05:53:28 BC").unwrap(),
            datetime(0, 1, 1, 10, 0, 0).and_utc()
        );
        let fixed =
            DateTime::<FixedOffset>::from_sql_text(&Type::TIMESTAMPTZ, "2000-01-31 13:45:00+05:30")
                .unwrap();
        assert_eq!(fixed, expected);
        assert_eq!(fixed.offset().local_minus_utc(), 0);
        let local =
            DateTime::<Local>::from_sql_text(&Type::TIMESTAMPTZ, "2000-01-31 13:45:00+05:30")
                .unwrap();
        assert_eq!(local, expected);
        assert!(read("infinity").unwrap_err().is::<Infinite>());
        for bad in [
            "2000-01-31 08:15:00",
            "2000-01-31 08:15:00+",
            "2000-01-31 08:15:00+0",
            "2000-01-31 08:15:00 UTC",
        ] {
            assert!(read(bad).unwrap_err().is::<InvalidText>(), "{bad}");
        }
        type Tz = Timestamp<DateTime<Utc>>;
        assert_eq!(
            Tz::from_sql_text(&Type::TIMESTAMPTZ, "infinity").unwrap(),
            Tz::PosInfinity
        );
        assert!(!<Tz as FromSql>::accepts_text(&Type::TIMESTAMP));
    }

    #[test]
    fn text_parsers_never_panic_on_odd_input() {
        let inputs = [
            "",
            " ",
            "-",
            "BC",
            " BC",
            "9999999999-01-01",
            "4294967295-01-01",
            "0000000001-01-01 BC",
            "2000-01-01 99:99:99",
            "2000-01-01 00:00:00.9999999999",
            "2000-01-01 00:00:00+99:99",
            "2000-01-01 00:00:00+99",
            "262143-12-31 23:59:59-14",
            "262144-01-01 00:00:00",
            "262143-12-31 23:59:59.999999-01",
            "é",
            "2000-01-01 00:00:00+00 BC BC",
        ];
        for input in inputs {
            let _ = NaiveDate::from_sql_text(&Type::DATE, input);
            let _ = NaiveTime::from_sql_text(&Type::TIME, input);
            let _ = NaiveDateTime::from_sql_text(&Type::TIMESTAMP, input);
            let _ = DateTime::<Utc>::from_sql_text(&Type::TIMESTAMPTZ, input);
        }
        assert!(
            DateTime::<Utc>::from_sql_text(&Type::TIMESTAMPTZ, "262143-12-31 23:59:59-14").is_err()
        );
    }

    #[test]
    fn binary_readers_never_panic() {
        // Every length up to 9 bytes, with patterns that hit the edges of each range.
        for len in 0..=9usize {
            for fill in [0x00u8, 0x7f, 0x80, 0xff, 0x55] {
                let raw = vec![fill; len];
                let _ = NaiveDate::from_sql(&Type::DATE, &raw);
                let _ = NaiveTime::from_sql(&Type::TIME, &raw);
                let _ = NaiveDateTime::from_sql(&Type::TIMESTAMP, &raw);
                let _ = DateTime::<Utc>::from_sql(&Type::TIMESTAMPTZ, &raw);
                let _ = DateTime::<FixedOffset>::from_sql(&Type::TIMESTAMPTZ, &raw);
                let _ = DateTime::<Local>::from_sql(&Type::TIMESTAMPTZ, &raw);
                let _ = Timestamp::<NaiveDateTime>::from_sql(&Type::TIMESTAMP, &raw);
                let _ = Date::<NaiveDate>::from_sql(&Type::DATE, &raw);
            }
        }
    }

    #[test]
    fn text_of_binary_values() {
        let date = |days: i32| super::date_text(&Type::DATE, &days.to_be_bytes()).unwrap();
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(-1), "1999-12-31");
        assert_eq!(date(i32::MAX), "infinity");
        assert_eq!(date(i32::MIN), "-infinity");
        // 1 BC is year 0; 0044-03-15 BC.
        let bc = date_to_days(NaiveDate::from_ymd_opt(-43, 3, 15).unwrap()).unwrap();
        assert_eq!(date(bc), "0044-03-15 BC");
        let far = date_to_days(NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap()).unwrap();
        assert_eq!(date(far), "10000-01-01");
        assert!(super::date_text(&Type::DATE, &(i32::MAX - 1).to_be_bytes()).is_err());
        assert!(super::date_text(&Type::DATE, &[0; 3]).is_err());

        let time = |micros: i64| super::time_text(&Type::TIME, &micros.to_be_bytes());
        assert_eq!(time(0).unwrap(), "00:00:00");
        assert_eq!(time(49_500_250_000).unwrap(), "13:45:00.25");
        assert_eq!(time(1).unwrap(), "00:00:00.000001");
        assert_eq!(time(USECS_PER_DAY).unwrap(), "24:00:00");
        assert!(time(USECS_PER_DAY + 1).is_err());
        assert!(time(-1).is_err());

        let ts = |micros: i64| super::timestamp_text(&Type::TIMESTAMP, &micros.to_be_bytes());
        assert_eq!(ts(0).unwrap(), "2000-01-01 00:00:00");
        assert_eq!(ts(-1).unwrap(), "1999-12-31 23:59:59.999999");
        assert_eq!(ts(i64::MAX).unwrap(), "infinity");
        assert_eq!(ts(i64::MIN).unwrap(), "-infinity");
        let bc = naive_to_micros(&datetime(-43, 3, 15, 12, 0, 0)).unwrap();
        assert_eq!(ts(bc).unwrap(), "0044-03-15 12:00:00 BC");
        assert!(ts(i64::MAX - 1).is_err());
        // Each text parses back with the text readers.
        for micros in [0, -1, bc, 123_456_789_012_345] {
            let text = ts(micros).unwrap();
            let parsed = NaiveDateTime::from_sql_text(&Type::TIMESTAMP, &text).unwrap();
            assert_eq!(naive_to_micros(&parsed), Some(micros), "{text}");
        }
    }

    #[test]
    fn option_of_datetime() {
        let none: Option<NaiveDate> = None;
        assert!(none.accepts(&Type::DATE));
        assert_eq!(
            none.to_sql(&Type::DATE, &mut BytesMut::new()).unwrap(),
            IsNull::Yes
        );
        assert_eq!(
            Option::<NaiveDate>::from_sql_null(&Type::DATE).unwrap(),
            None
        );
        assert!(NaiveDate::from_sql_null(&Type::DATE).is_err());
        assert_eq!(
            Option::<Timestamp<NaiveDateTime>>::from_sql(&Type::TIMESTAMP, &i64::MAX.to_be_bytes())
                .unwrap(),
            Some(Timestamp::PosInfinity)
        );
    }
}
