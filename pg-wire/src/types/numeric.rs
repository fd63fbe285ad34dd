//! [`Numeric`]: PostgreSQL's exact decimal type `numeric`, held as the server holds it.
//!
//! The binary format is the server's `numeric_send`/`numeric_recv`: four big-endian 16-bit fields
//! and then the digits,
//!
//! ```text
//! ndigits: u16   number of base-10000 digits that follow
//! weight:  i16   the first digit is worth 10000^weight
//! sign:    u16   0x0000 positive, 0x4000 negative, 0xC000 NaN,
//!                0xD000 +Infinity, 0xF000 -Infinity (the infinities since PostgreSQL 14)
//! dscale:  u16   display scale: decimal digits after the point (at most 0x3FFF)
//! digits:  ndigits × i16, each in 0..=9999
//! ```
//!
//! so `1.50` is `ndigits 2, weight 0, sign 0, dscale 2, digits [1, 5000]`. Values are never
//! converted through a float. The text format is the server's `numeric_in`/`numeric_out`.

use std::cmp::Ordering;
use std::error::Error as StdError;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use bytes::{BufMut, BytesMut};

use crate::types::builtin::{InvalidText, OutOfRange, check_type};
use crate::types::reader::Reader;
use crate::types::{BoxError, FromSql, IsNull, ToSql, Type};

/// The base of the digits.
const NBASE: u16 = 10_000;
/// Decimal digits per base-10000 digit.
const DEC_DIGITS: usize = 4;
const SIGN_POS: u16 = 0x0000;
const SIGN_NEG: u16 = 0x4000;
const SIGN_NAN: u16 = 0xC000;
const SIGN_PINF: u16 = 0xD000;
const SIGN_NINF: u16 = 0xF000;
/// The largest display scale the server stores (`NUMERIC_DSCALE_MAX`).
const DSCALE_MAX: u16 = 0x3FFF;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Finite,
    NaN,
    PosInfinity,
    NegInfinity,
}

/// An exact decimal number as PostgreSQL's `numeric` holds it: a sign, base-10000 digits with a
/// weight, and a display scale (the number of decimal digits after the point), or one of the
/// special values `NaN`, `Infinity` and `-Infinity`.
///
/// Text conversion is exact and keeps the scale: `"1.50".parse::<Numeric>()` displays as `1.50`
/// and is sent with scale 2, as the server would store the literal `1.50`. The scale can be up to
/// 16383 and the value up to about 10^131072, as on the server.
///
/// **Equality and order are by value**, as the server compares numerics: `1.50 == 1.5`, the scale
/// is not compared (use [`Numeric::scale`] or the text form to tell them apart). As on the server,
/// `NaN` equals `NaN` and sorts above every other value, so `Numeric` is `Eq`, `Ord` and `Hash`
/// (with hashing consistent with equality).
///
/// ```
/// use pg_wire::types::Numeric;
///
/// let price: Numeric = "19.90".parse().unwrap();
/// assert_eq!(price.to_string(), "19.90");
/// assert_eq!(price.scale(), 2);
/// assert_eq!(price, "19.9".parse::<Numeric>().unwrap());
/// assert_eq!(Numeric::from(42i64).to_string(), "42");
/// assert_eq!(i64::try_from(&"42.000".parse::<Numeric>().unwrap()), Ok(42));
/// assert!(i64::try_from(&price).is_err());
/// assert_eq!("-1e3".parse::<Numeric>().unwrap().to_string(), "-1000");
/// assert!("NaN".parse::<Numeric>().unwrap().is_nan());
/// ```
#[derive(Clone)]
pub struct Numeric {
    kind: Kind,
    /// Whether a finite non-zero value is negative (never set for zero).
    negative: bool,
    /// The first digit is worth `10000^weight`; 0 for zero and the special values.
    weight: i16,
    /// Decimal digits after the point; 0 for the special values.
    scale: u16,
    /// Base-10000 digits, each below 10000, without leading or trailing zero digits, and without
    /// non-zero decimal digits past `scale`. Empty for zero and the special values.
    digits: Vec<u16>,
}

impl Numeric {
    /// Zero, with scale 0.
    pub const ZERO: Numeric = Numeric::special(Kind::Finite);
    /// `NaN`, "not a number".
    pub const NAN: Numeric = Numeric::special(Kind::NaN);
    /// `Infinity` (PostgreSQL 14 and later).
    pub const INFINITY: Numeric = Numeric::special(Kind::PosInfinity);
    /// `-Infinity` (PostgreSQL 14 and later).
    pub const NEG_INFINITY: Numeric = Numeric::special(Kind::NegInfinity);

    const fn special(kind: Kind) -> Numeric {
        Numeric {
            kind,
            negative: false,
            weight: 0,
            scale: 0,
            digits: Vec::new(),
        }
    }

    /// Builds a finite value from possibly unnormalized parts, as the server's `make_result`
    /// does: digits past `scale` are dropped (`trunc_var`), leading and trailing zero digits are
    /// stripped, and zero is made positive. `None` when the weight does not fit an `i16` or the
    /// scale exceeds 16383 (the server's "value overflows numeric format").
    fn finite(negative: bool, weight: i64, scale: u64, mut digits: Vec<u16>) -> Option<Numeric> {
        let scale = u16::try_from(scale).ok().filter(|s| *s <= DSCALE_MAX)?;
        // Keep the digits down to the one holding the last decimal place of `scale`.
        let frac_digits = usize::from(scale).div_ceil(DEC_DIGITS);
        let keep = weight
            .checked_add(i64::try_from(frac_digits).ok()?)?
            .checked_add(1)?;
        let keep = usize::try_from(keep.max(0)).ok()?;
        if digits.len() >= keep {
            digits.truncate(keep);
            let partial = usize::from(scale) % DEC_DIGITS;
            if partial != 0 {
                if let Some(last) = digits.last_mut() {
                    // Only the first `partial` decimal digits of the last one are within scale.
                    let drop = 10u16.pow(u32::try_from(DEC_DIGITS - partial).ok()?);
                    *last -= *last % drop;
                }
            }
        }
        let leading = digits.iter().take_while(|d| **d == 0).count();
        let trailing = digits.iter().rev().take_while(|d| **d == 0).count();
        if leading == digits.len() {
            return Some(Numeric {
                scale,
                ..Numeric::ZERO
            });
        }
        digits.truncate(digits.len() - trailing);
        digits.drain(..leading);
        let weight = weight.checked_sub(i64::try_from(leading).ok()?)?;
        Some(Numeric {
            kind: Kind::Finite,
            negative,
            weight: i16::try_from(weight).ok()?,
            scale,
            digits,
        })
    }

    /// The display scale: the number of decimal digits after the point (`2` for `1.50`); 0 for
    /// `NaN` and the infinities.
    pub fn scale(&self) -> u16 {
        self.scale
    }

    /// Whether this is `NaN`.
    pub fn is_nan(&self) -> bool {
        self.kind == Kind::NaN
    }

    /// Whether this is `Infinity` or `-Infinity`.
    pub fn is_infinite(&self) -> bool {
        matches!(self.kind, Kind::PosInfinity | Kind::NegInfinity)
    }

    /// Whether this is neither `NaN` nor an infinity.
    pub fn is_finite(&self) -> bool {
        self.kind == Kind::Finite
    }

    /// Whether this is zero (of any scale).
    pub fn is_zero(&self) -> bool {
        self.kind == Kind::Finite && self.digits.is_empty()
    }

    /// Whether this is less than zero (`-Infinity` included; zero is never negative).
    pub fn is_sign_negative(&self) -> bool {
        self.kind == Kind::NegInfinity || (self.kind == Kind::Finite && self.negative)
    }

    /// The base-10000 digit at `index` (0 is the one worth `10000^weight`), 0 past either end.
    fn digit(&self, index: i64) -> u16 {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.digits.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// The integer value, when finite, without a fractional part and within `i128`.
    fn to_i128(&self) -> Result<i128, NumericToIntReason> {
        if self.kind != Kind::Finite {
            return Err(NumericToIntReason::NotFinite);
        }
        let int_digits = i64::from(self.weight) + 1;
        if i64::try_from(self.digits.len()).unwrap_or(i64::MAX) > int_digits.max(0) {
            return Err(NumericToIntReason::Fraction);
        }
        let mut acc: i128 = 0;
        for index in 0..int_digits {
            let digit = i128::from(self.digit(index));
            acc = acc
                .checked_mul(i128::from(NBASE))
                .and_then(|acc| {
                    if self.negative {
                        acc.checked_sub(digit)
                    } else {
                        acc.checked_add(digit)
                    }
                })
                .ok_or(NumericToIntReason::Overflow)?;
        }
        Ok(acc)
    }

    fn from_magnitude(negative: bool, mut magnitude: u128) -> Numeric {
        let mut digits = Vec::new();
        while magnitude > 0 {
            // The remainder is below 10000.
            digits.push(u16::try_from(magnitude % u128::from(NBASE)).unwrap_or_default());
            magnitude /= u128::from(NBASE);
        }
        digits.reverse();
        let weight = i64::try_from(digits.len()).unwrap_or(0) - 1;
        // At most 10 digits: the weight fits, so this is never `None`.
        Numeric::finite(negative, weight, 0, digits).unwrap_or(Numeric::ZERO)
    }

    /// Decodes the binary form (`numeric_recv`), validating every field.
    pub(crate) fn decode(ty: &Type, raw: &[u8]) -> Result<Numeric, BoxError> {
        let mut r = Reader::new(ty, raw);
        let ndigits = r.u16()?;
        let weight = r.i16()?;
        let sign = r.u16()?;
        let scale = r.u16()?;
        if usize::from(ndigits) * 2 != r.remaining() {
            return Err(r.error(format!(
                "{ndigits} digits announced, {} bytes follow",
                r.remaining()
            )));
        }
        if scale > DSCALE_MAX {
            return Err(r.error(format!("invalid scale {scale:#06x}")));
        }
        let mut digits = Vec::with_capacity(usize::from(ndigits));
        for _ in 0..ndigits {
            let digit = r.i16()?;
            match u16::try_from(digit) {
                Ok(d) if d < NBASE => digits.push(d),
                _ => return Err(r.error(format!("invalid digit {digit}"))),
            }
        }
        let kind = match sign {
            SIGN_POS | SIGN_NEG => None,
            SIGN_NAN => Some(Kind::NaN),
            SIGN_PINF => Some(Kind::PosInfinity),
            SIGN_NINF => Some(Kind::NegInfinity),
            _ => return Err(r.error(format!("invalid sign {sign:#06x}"))),
        };
        let value = match kind {
            Some(_) if ndigits != 0 => return Err(r.error("digits in a special value")),
            Some(kind) => Numeric::special(kind),
            None => Numeric::finite(
                sign == SIGN_NEG,
                i64::from(weight),
                u64::from(scale),
                digits,
            )
            .ok_or_else(|| r.error("value overflows numeric format"))?,
        };
        r.finish()?;
        Ok(value)
    }

    /// Writes the binary form (`numeric_send`).
    fn encode(&self, ty: &Type, out: &mut BytesMut) -> Result<(), BoxError> {
        let sign = match self.kind {
            Kind::Finite if self.negative => SIGN_NEG,
            Kind::Finite => SIGN_POS,
            Kind::NaN => SIGN_NAN,
            Kind::PosInfinity => SIGN_PINF,
            Kind::NegInfinity => SIGN_NINF,
        };
        let ndigits = u16::try_from(self.digits.len()).map_err(|_| {
            Box::new(OutOfRange::new::<Numeric>(
                format_args!("with {} base-10000 digits", self.digits.len()),
                ty,
            )) as BoxError
        })?;
        out.reserve(8 + 2 * self.digits.len());
        out.put_u16(ndigits);
        out.put_i16(self.weight);
        out.put_u16(sign);
        out.put_u16(self.scale);
        for digit in &self.digits {
            out.put_u16(*digit);
        }
        Ok(())
    }

    fn class(&self) -> u8 {
        match self.kind {
            Kind::NegInfinity => 0,
            Kind::Finite => 1,
            Kind::PosInfinity => 2,
            Kind::NaN => 3,
        }
    }

    /// -1, 0 or 1 for a finite value.
    fn signum(&self) -> i8 {
        if self.digits.is_empty() {
            0
        } else if self.negative {
            -1
        } else {
            1
        }
    }
}

/// The text of a binary `numeric`, as the server's `numeric_out` writes it.
pub(crate) fn numeric_text(ty: &Type, raw: &[u8]) -> Result<String, BoxError> {
    Numeric::decode(ty, raw).map(|n| n.to_string())
}

impl Default for Numeric {
    /// Zero.
    fn default() -> Self {
        Numeric::ZERO
    }
}

impl PartialEq for Numeric {
    /// Equality by value: `1.50 == 1.5`; `NaN == NaN`, as on the server.
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Numeric {}

impl PartialOrd for Numeric {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Numeric {
    /// The server's order: `-Infinity` < finite values < `Infinity` < `NaN`.
    fn cmp(&self, other: &Self) -> Ordering {
        let by_class = self.class().cmp(&other.class());
        if by_class != Ordering::Equal || self.kind != Kind::Finite {
            return by_class;
        }
        let by_sign = self.signum().cmp(&other.signum());
        if by_sign != Ordering::Equal {
            return by_sign;
        }
        // Normalized digits: the larger weight is the larger magnitude; at equal weights the
        // digits compare lexicographically (a longer run has a non-zero digit further on).
        let magnitude = self
            .weight
            .cmp(&other.weight)
            .then_with(|| self.digits.cmp(&other.digits));
        if self.negative {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl Hash for Numeric {
    /// Hashes the value without its scale, consistently with `Eq`.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.negative.hash(state);
        self.weight.hash(state);
        self.digits.hash(state);
    }
}

impl fmt::Display for Numeric {
    /// The exact decimal text, with `scale` digits after the point, as `numeric_out` writes it:
    /// `1.50`, `-0.001`, `100`, `NaN`, `Infinity`, `-Infinity`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::NaN => return f.write_str("NaN"),
            Kind::PosInfinity => return f.write_str("Infinity"),
            Kind::NegInfinity => return f.write_str("-Infinity"),
            Kind::Finite => {}
        }
        let mut text = String::new();
        if self.negative {
            text.push('-');
        }
        if self.weight < 0 {
            text.push('0');
        } else {
            text.push_str(&self.digit(0).to_string());
            for index in 1..=i64::from(self.weight) {
                text.push_str(&format!("{:04}", self.digit(index)));
            }
        }
        if self.scale > 0 {
            text.push('.');
            let start = text.len();
            let groups = usize::from(self.scale).div_ceil(DEC_DIGITS);
            for group in 1..=groups {
                let index = i64::from(self.weight) + i64::try_from(group).unwrap_or(0);
                text.push_str(&format!("{:04}", self.digit(index)));
            }
            text.truncate(start + usize::from(self.scale));
        }
        f.write_str(&text)
    }
}

impl fmt::Debug for Numeric {
    /// `Numeric(1.50)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Numeric({self})")
    }
}

/// Text that is not a `numeric` literal, or one beyond `numeric`'s range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseNumericError {
    reason: &'static str,
}

impl fmt::Display for ParseNumericError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid numeric literal: {}", self.reason)
    }
}

impl StdError for ParseNumericError {}

fn parse_error(reason: &'static str) -> ParseNumericError {
    ParseNumericError { reason }
}

impl FromStr for Numeric {
    type Err = ParseNumericError;

    /// Parses what the server's `numeric_in` accepts in decimal: optional surrounding whitespace,
    /// an optional sign, digits with an optional decimal point, an optional exponent (`1.5e-3`),
    /// and, in any letter case, `NaN`, `Infinity`/`inf` with an optional sign. The scale is the
    /// number of digits after the point, less the exponent (never below 0), as on the server.
    /// (Underscores between digits and `0x`/`0o`/`0b` integers, which PostgreSQL 16 added, are
    /// not accepted.)
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim_matches(|c: char| c.is_ascii_whitespace());
        let (negative, body) = match s.as_bytes().first() {
            Some(b'-') => (true, s.get(1..).unwrap_or_default()),
            Some(b'+') => (false, s.get(1..).unwrap_or_default()),
            _ => (false, s),
        };
        if body.eq_ignore_ascii_case("infinity") || body.eq_ignore_ascii_case("inf") {
            return Ok(if negative {
                Numeric::NEG_INFINITY
            } else {
                Numeric::INFINITY
            });
        }
        if s.eq_ignore_ascii_case("nan") {
            return Ok(Numeric::NAN);
        }

        let bytes = body.as_bytes();
        let int_len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        let rest = bytes.get(int_len..).unwrap_or_default();
        let (frac, rest) = match rest.split_first() {
            Some((b'.', after)) => {
                let n = after.iter().take_while(|b| b.is_ascii_digit()).count();
                after.split_at_checked(n).unwrap_or((after, &[]))
            }
            _ => (&[][..], rest),
        };
        if int_len == 0 && frac.is_empty() {
            return Err(parse_error("no digits"));
        }
        let exponent: i64 = match rest.split_first() {
            None => 0,
            Some((b'e' | b'E', exp)) => {
                let exp = std::str::from_utf8(exp).map_err(|_| parse_error("bad exponent"))?;
                let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(parse_error("bad exponent"));
                }
                exp.parse()
                    .map_err(|_| parse_error("exponent out of range"))?
            }
            Some(_) => return Err(parse_error("unexpected character")),
        };

        let int = bytes.get(..int_len).unwrap_or_default();
        let frac_len = i64::try_from(frac.len()).map_err(|_| parse_error("too long"))?;
        let scale = frac_len.saturating_sub(exponent).max(0);
        // The decimal digits without the point; `point` of them come before it.
        let all: Vec<u8> = int.iter().chain(frac).map(|b| b - b'0').collect();
        let lead = all.iter().take_while(|d| **d == 0).count();
        let digits10 = all.get(lead..).unwrap_or_default();
        let point = i64::try_from(int_len)
            .map_err(|_| parse_error("too long"))?
            .checked_add(exponent)
            .and_then(|p| p.checked_sub(i64::try_from(lead).ok()?))
            .ok_or_else(|| parse_error("exponent out of range"))?;
        let out_of_range = || parse_error("value overflows numeric format");
        let scale = u64::try_from(scale).map_err(|_| out_of_range())?;
        if digits10.is_empty() {
            return Numeric::finite(false, 0, scale, Vec::new()).ok_or_else(out_of_range);
        }
        // The first decimal digit is worth 10^(point - 1); its base-10000 digit has weight
        // floor((point - 1) / 4) and needs `pad` zeros in front to fill its four places.
        let first_place = point.checked_sub(1).ok_or_else(out_of_range)?;
        let weight = first_place.div_euclid(4);
        let pad = usize::try_from(3 - first_place.rem_euclid(4)).map_err(|_| out_of_range())?;
        let mut digits = Vec::with_capacity((pad + digits10.len()).div_ceil(DEC_DIGITS));
        let mut group = 0u16;
        let mut filled = pad;
        for d in digits10 {
            group = group * 10 + u16::from(*d);
            filled += 1;
            if filled == DEC_DIGITS {
                digits.push(group);
                group = 0;
                filled = 0;
            }
        }
        if filled > 0 {
            digits.push(group * 10u16.pow(u32::try_from(DEC_DIGITS - filled).unwrap_or(0)));
        }
        if weight < i64::from(i16::MIN) || weight > i64::from(i16::MAX) {
            return Err(out_of_range());
        }
        Numeric::finite(negative, weight, scale, digits).ok_or_else(out_of_range)
    }
}

macro_rules! numeric_from_int {
    ($($int:ty),*) => {$(
        impl From<$int> for Numeric {
            #[doc = concat!("The `", stringify!($int), "` exactly, with scale 0.")]
            #[allow(unused_comparisons)] // for the unsigned types
            fn from(value: $int) -> Self {
                Numeric::from_magnitude(value < 0, value.unsigned_abs().into())
            }
        }
    )*};
}

macro_rules! numeric_from_uint {
    ($($int:ty),*) => {$(
        impl From<$int> for Numeric {
            #[doc = concat!("The `", stringify!($int), "` exactly, with scale 0.")]
            fn from(value: $int) -> Self {
                Numeric::from_magnitude(false, value.into())
            }
        }
    )*};
}

numeric_from_int!(i8, i16, i32, i64, i128);
numeric_from_uint!(u8, u16, u32, u64, u128);

/// Why a [`Numeric`] does not convert to an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumericToIntReason {
    NotFinite,
    Fraction,
    Overflow,
}

/// A [`Numeric`] converted to an integer type that cannot hold it exactly: `NaN`, an infinity, a
/// value with a non-zero fractional part, or one out of the integer's range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryFromNumericError {
    value: String,
    target: &'static str,
    reason: NumericToIntReason,
}

impl fmt::Display for TryFromNumericError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.reason {
            NumericToIntReason::NotFinite => "is not a finite number",
            NumericToIntReason::Fraction => "has a fractional part",
            NumericToIntReason::Overflow => "is out of range",
        };
        write!(
            f,
            "numeric value {} {why} for Rust type `{}`",
            self.value, self.target
        )
    }
}

impl StdError for TryFromNumericError {}

macro_rules! int_try_from_numeric {
    ($($int:ty),*) => {$(
        impl TryFrom<&Numeric> for $int {
            type Error = TryFromNumericError;

            #[doc = concat!(
                "The value as `", stringify!($int), "` when it is an integer in range (`42.00` ",
                "converts; `42.5`, `NaN` and out-of-range values do not)."
            )]
            fn try_from(value: &Numeric) -> Result<Self, Self::Error> {
                let error = |reason| TryFromNumericError {
                    value: value.to_string(),
                    target: stringify!($int),
                    reason,
                };
                let wide = value.to_i128().map_err(error)?;
                <$int>::try_from(wide).map_err(|_| error(NumericToIntReason::Overflow))
            }
        }

        impl TryFrom<Numeric> for $int {
            type Error = TryFromNumericError;

            #[doc = concat!("As `TryFrom<&Numeric>` for `", stringify!($int), "`.")]
            fn try_from(value: Numeric) -> Result<Self, Self::Error> {
                <$int>::try_from(&value)
            }
        }
    )*};
}

int_try_from_numeric!(i16, i32, i64, i128, u32, u64);

/// `numeric`, in binary format.
impl ToSql for Numeric {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        check_type::<Numeric>(*ty == Type::NUMERIC, ty)?;
        self.encode(ty, out)?;
        Ok(IsNull::No)
    }

    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// `numeric`, binary or text.
impl<'a> FromSql<'a> for Numeric {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        check_type::<Numeric>(*ty == Type::NUMERIC, ty)?;
        Numeric::decode(ty, raw)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<Numeric>(*ty == Type::NUMERIC, ty)?;
        raw.parse()
            .map_err(|_| Box::new(InvalidText::new(ty, raw)) as BoxError)
    }

    fn accepts_text(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::builtin::InvalidBinary;

    fn n(s: &str) -> Numeric {
        s.parse().unwrap()
    }

    fn encode(value: &Numeric) -> Vec<u8> {
        let mut buf = BytesMut::new();
        assert_eq!(value.to_sql(&Type::NUMERIC, &mut buf).unwrap(), IsNull::No);
        buf.to_vec()
    }

    /// The binary form from its fields, as `numeric_send` writes them.
    fn wire(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&u16::try_from(digits.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    fn decode(raw: &[u8]) -> Result<Numeric, BoxError> {
        Numeric::from_sql(&Type::NUMERIC, raw)
    }

    #[test]
    fn encodings_match_numeric_send() {
        // Worked out by hand from numeric_send: ndigits, weight, sign, dscale, digits.
        let cases: &[(&str, Vec<u8>)] = &[
            ("0", wire(0, SIGN_POS, 0, &[])),
            ("0.00", wire(0, SIGN_POS, 2, &[])),
            ("-0", wire(0, SIGN_POS, 0, &[])),
            ("1", wire(0, SIGN_POS, 0, &[1])),
            ("1.50", wire(0, SIGN_POS, 2, &[1, 5000])),
            ("-1.5", wire(0, SIGN_NEG, 1, &[1, 5000])),
            ("12345.678", wire(1, SIGN_POS, 3, &[1, 2345, 6780])),
            ("10000", wire(1, SIGN_POS, 0, &[1])),
            ("0.0001", wire(-1, SIGN_POS, 4, &[1])),
            ("0.00001", wire(-2, SIGN_POS, 5, &[1000])),
            ("100000000.01", wire(2, SIGN_POS, 2, &[1, 0, 0, 100])),
            (
                "-9223372036854775808",
                wire(4, SIGN_NEG, 0, &[922, 3372, 368, 5477, 5808]),
            ),
            ("1e3", wire(0, SIGN_POS, 0, &[1000])),
            ("1.5e-3", wire(-1, SIGN_POS, 4, &[15])),
            ("NaN", wire(0, SIGN_NAN, 0, &[])),
            ("Infinity", wire(0, SIGN_PINF, 0, &[])),
            ("-Infinity", wire(0, SIGN_NINF, 0, &[])),
        ];
        for (text, bytes) in cases {
            let value = n(text);
            assert_eq!(&encode(&value), bytes, "{text}");
            let back = decode(bytes).unwrap();
            assert_eq!(back, value, "{text}");
            assert_eq!(back.scale(), value.scale(), "{text}");
        }
        assert_eq!(
            wire(0, SIGN_POS, 2, &[1, 5000]),
            [0, 2, 0, 0, 0, 0, 0, 2, 0, 1, 0x13, 0x88]
        );
    }

    #[test]
    fn display_matches_numeric_out() {
        for text in [
            "0",
            "0.00",
            "1",
            "1.50",
            "-1.5",
            "12345.678",
            "10000",
            "0.0001",
            "0.00001",
            "100000000.01",
            "-0.001",
            "99999999",
            "3.14159265358979323846264338327950288419716939937510",
            "NaN",
            "Infinity",
            "-Infinity",
        ] {
            assert_eq!(n(text).to_string(), text);
        }
        assert_eq!(n("-0.00").to_string(), "0.00");
        assert_eq!(n("007.50").to_string(), "7.50");
        assert_eq!(n(".5").to_string(), "0.5");
        assert_eq!(n("5.").to_string(), "5");
        assert_eq!(n("+5").to_string(), "5");
        assert_eq!(n("  12.0  ").to_string(), "12.0");
        assert_eq!(n("1.5E+2").to_string(), "150");
        assert_eq!(n("1.55e1").to_string(), "15.5");
        assert_eq!(n("12e-4").to_string(), "0.0012");
        assert_eq!(n("0e5").to_string(), "0");
        assert_eq!(n("0.000e2").to_string(), "0.0");
        assert_eq!(n("nan").to_string(), "NaN");
        assert_eq!(n("-inf").to_string(), "-Infinity");
        assert_eq!(n("+INFINITY").to_string(), "Infinity");
        assert_eq!(format!("{:?}", n("1.50")), "Numeric(1.50)");
    }

    #[test]
    fn invalid_text() {
        for bad in [
            "",
            " ",
            "-",
            "+",
            ".",
            "1.2.3",
            "1e",
            "1e+",
            "e5",
            "1x",
            "--1",
            "1 2",
            "0x10",
            "1_000",
            "-nan",
            "١",
            "1e99999999999999999999",
            "NaN1",
        ] {
            assert!(bad.parse::<Numeric>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "x".parse::<Numeric>().unwrap_err().to_string(),
            "invalid numeric literal: no digits"
        );
        // Beyond the server's limits: weight over i16, scale over 16383.
        assert!("1e131072".parse::<Numeric>().is_err());
        assert!("1e131071".parse::<Numeric>().is_ok());
        assert!(
            format!("0.{}", "0".repeat(16384))
                .parse::<Numeric>()
                .is_err()
        );
        assert_eq!(
            format!("0.{}", "0".repeat(16383))
                .parse::<Numeric>()
                .unwrap()
                .scale(),
            16383
        );
        assert!("1e-16384".parse::<Numeric>().is_err());
        assert!(
            Numeric::from_sql_text(&Type::NUMERIC, "abc")
                .unwrap_err()
                .is::<InvalidText>()
        );
    }

    #[test]
    fn extremes_round_trip() {
        let big = format!("{}.{}", "9".repeat(131_072), "9".repeat(16_383));
        let value = n(&big);
        assert_eq!(value.to_string(), big);
        let bytes = encode(&value);
        assert_eq!(decode(&bytes).unwrap().to_string(), big);
        let tiny = format!("-0.{}1", "0".repeat(16_382));
        assert_eq!(decode(&encode(&n(&tiny))).unwrap().to_string(), tiny);
        for v in [i64::MIN, -1, 0, 1, i64::MAX] {
            let num = Numeric::from(v);
            assert_eq!(num.to_string(), v.to_string());
            assert_eq!(i64::try_from(&decode(&encode(&num)).unwrap()), Ok(v));
        }
        for v in [i128::MIN, i128::MAX] {
            assert_eq!(Numeric::from(v).to_string(), v.to_string());
            assert_eq!(i128::try_from(Numeric::from(v)), Ok(v));
        }
        assert_eq!(Numeric::from(u128::MAX).to_string(), u128::MAX.to_string());
        assert_eq!(Numeric::from(i32::MIN).to_string(), "-2147483648");
        assert_eq!(Numeric::from(0u8), Numeric::ZERO);
    }

    #[test]
    fn integer_conversions() {
        assert_eq!(i64::try_from(&n("42.000")), Ok(42));
        assert_eq!(i32::try_from(n("-7")), Ok(-7));
        assert_eq!(u64::try_from(&n("0.00")), Ok(0));
        assert_eq!(i64::try_from(&n("9223372036854775807")), Ok(i64::MAX));
        assert!(i64::try_from(&n("9223372036854775808")).is_err());
        assert_eq!(i64::try_from(&n("-9223372036854775808")), Ok(i64::MIN));
        assert!(i32::try_from(&n("2147483648")).is_err());
        assert!(u32::try_from(&n("-1")).is_err());
        let e = i64::try_from(&n("1.5")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "numeric value 1.5 has a fractional part for Rust type `i64`"
        );
        assert!(i64::try_from(&n("0.5")).is_err());
        assert!(i64::try_from(&Numeric::NAN).is_err());
        assert!(i64::try_from(&Numeric::INFINITY).is_err());
        assert!(i64::try_from(&n("1e100")).is_err());
        assert!(i128::try_from(&n("1e32767")).is_err());
        assert_eq!(i16::try_from(&n("1e4")), Ok(10_000));
    }

    #[test]
    fn equality_is_by_value() {
        assert_eq!(n("1.50"), n("1.5"));
        assert_eq!(n("0"), n("-0.000"));
        assert_ne!(n("1.5"), n("-1.5"));
        assert_eq!(Numeric::NAN, Numeric::NAN);
        assert_ne!(Numeric::NAN, Numeric::INFINITY);
        let mut sorted = vec![
            Numeric::NAN,
            n("10"),
            Numeric::INFINITY,
            n("-1.5"),
            n("0"),
            n("9.99"),
            Numeric::NEG_INFINITY,
            n("-10"),
            n("0.001"),
            n("-0.001"),
        ];
        sorted.sort();
        let text: Vec<String> = sorted.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "-Infinity",
                "-10",
                "-1.5",
                "-0.001",
                "0",
                "0.001",
                "9.99",
                "10",
                "Infinity",
                "NaN"
            ]
        );
        use std::collections::HashSet;
        let set: HashSet<Numeric> = [n("1.50"), n("1.5"), n("1.500")].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert!(n("-1").is_sign_negative());
        assert!(!n("-0").is_sign_negative());
        assert!(Numeric::NEG_INFINITY.is_sign_negative());
        assert!(n("0.0").is_zero());
        assert!(Numeric::INFINITY.is_infinite());
        assert!(!Numeric::NAN.is_finite());
        assert_eq!(Numeric::default(), Numeric::ZERO);
    }

    #[test]
    fn decoder_normalizes_like_numeric_recv() {
        // Leading and trailing zero digits are stripped, digits past dscale truncated.
        let value = decode(&wire(1, SIGN_POS, 1, &[0, 1, 2345, 0])).unwrap();
        assert_eq!(value.to_string(), "1.2");
        assert_eq!(encode(&value), wire(0, SIGN_POS, 1, &[1, 2000]));
        assert_eq!(decode(&wire(5, SIGN_NEG, 0, &[])).unwrap().to_string(), "0");
        assert_eq!(
            decode(&wire(-3, SIGN_POS, 2, &[1])).unwrap().to_string(),
            "0.00"
        );
        // Any i16 weight is allowed.
        assert!(decode(&wire(i16::MAX, SIGN_POS, 0, &[1])).is_ok());
        assert!(decode(&wire(i16::MIN, SIGN_POS, 16383, &[1])).is_ok());
        // A leading zero digit lowers the weight.
        let value = decode(&wire(i16::MAX, SIGN_POS, 0, &[0, 1])).unwrap();
        assert_eq!(encode(&value), wire(i16::MAX - 1, SIGN_POS, 0, &[1]));
        // Digits far below the scale are truncated away.
        assert!(
            decode(&wire(i16::MIN, SIGN_POS, 16383, &[0, 1]))
                .unwrap()
                .is_zero()
        );
    }

    #[test]
    fn malformed_binary_is_an_error() {
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0; 7],
            wire(0, 0x8000, 0, &[]),
            wire(0, 0x4001, 0, &[]),
            wire(0, SIGN_POS, 0x4000, &[]),
            wire(0, SIGN_POS, 0, &[10_000]),
            wire(0, SIGN_POS, 0, &[-1]),
            wire(0, SIGN_NAN, 0, &[1]),
            {
                let mut v = wire(0, SIGN_POS, 0, &[1]);
                v.push(0);
                v
            },
            {
                let mut v = wire(0, SIGN_POS, 0, &[1, 2]);
                v.pop();
                v
            },
            // 65535 digits claimed, none sent.
            vec![0xff, 0xff, 0, 0, 0, 0, 0, 0],
        ];
        for raw in cases {
            let e = decode(&raw).unwrap_err();
            assert!(e.is::<InvalidBinary>(), "{raw:?}: {e}");
        }
        let e = decode(&wire(0, SIGN_POS, 0, &[10_000])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid binary numeric value: invalid digit 10000"
        );
        assert!(Numeric::from_sql(&Type::INT4, &[0; 4]).is_err());
    }

    #[test]
    fn decoder_never_panics() {
        for len in 0..=12usize {
            for fill in [0x00u8, 0x01, 0x27, 0x7f, 0x80, 0xc0, 0xd0, 0xf0, 0xff] {
                let _ = decode(&vec![fill; len]);
            }
        }
        for weight in [i16::MIN, -1, 0, 1, i16::MAX] {
            for scale in [0u16, 1, 3, 4, 5, 16383] {
                let raw = wire(weight, SIGN_NEG, scale, &[9999, 0, 1]);
                if let Ok(v) = decode(&raw) {
                    let again = decode(&encode(&v)).unwrap();
                    assert_eq!(again, v);
                    assert_eq!(again.to_string(), v.to_string());
                }
            }
        }
    }

    #[test]
    fn type_checks() {
        assert!(Numeric::ZERO.accepts(&Type::NUMERIC));
        assert!(!Numeric::ZERO.accepts(&Type::FLOAT8));
        assert!(
            Numeric::ZERO
                .to_sql(&Type::INT4, &mut BytesMut::new())
                .is_err()
        );
        assert!(<Numeric as FromSql>::accepts(&Type::NUMERIC));
        assert!(<Numeric as FromSql>::accepts_text(&Type::NUMERIC));
        assert!(!<Numeric as FromSql>::accepts_text(&Type::TEXT));
        assert_eq!(
            Numeric::from_sql_text(&Type::NUMERIC, "1.50")
                .unwrap()
                .to_string(),
            "1.50"
        );
        assert_eq!(
            numeric_text(&Type::NUMERIC, &wire(0, SIGN_POS, 2, &[1, 5000])).unwrap(),
            "1.50"
        );
    }
}
