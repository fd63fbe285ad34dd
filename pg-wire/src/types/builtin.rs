//! [`ToSql`] and [`FromSql`] for Rust's primitive types, strings, byte strings and `Option`.
//!
//! Binary formats follow the server's `*send`/`*recv` functions: integers and floats are big-endian
//! two's complement / IEEE 754, `bool` and `"char"` are one byte, text-like types and `bytea` are the
//! raw bytes. Text formats follow the `*out` functions, for values that arrive as text (for example
//! from the simple query protocol).
//!
//! | Rust                 | writes (parameter types)               | reads (column types)               |
//! |----------------------|----------------------------------------|------------------------------------|
//! | `bool`               | `bool`                                 | `bool`                             |
//! | `i8`                 | `"char"`                               | `"char"`                           |
//! | `i16`, `i32`, `i64`, `u32` | `int2`, `int4`, `int8`, `oid`, when the value fits | see below        |
//! | `f32`                | `float4`, `float8`                     | `float4`                           |
//! | `f64`                | `float8`, `float4` (rounded, as the server casts) | `float4`, `float8`      |
//! | `&str`, `String`     | any type, in text format               | text-like types, `json`, `jsonb`; any type in text; `String` also more (below) |
//! | `&[u8]`, `Vec<u8>`   | `bytea`                                | `bytea`                            |
//! | `Option<T>`          | `None` is NULL for any type            | NULL is `None`                     |
//!
//! Reading integers widens losslessly and never narrows: `i16` reads `int2`; `i32` reads `int2`
//! and `int4`; `i64` reads `int2`, `int4` and `int8`; `u32` reads `oid`. Writing an integer
//! into any integer parameter type is allowed when the value fits; when it does not, the
//! conversion fails with [`OutOfRange`] naming the value (the server is never sent a truncation).
//!
//! `String` also reads the binary values of `numeric`, `uuid`, `interval`, `inet`, `cidr`, and of
//! arrays of every type with a binary decoder except `timestamptz`, converted to the text the
//! server's output function writes: these columns arrived in text format before the driver
//! decoded them in binary, and read as `String` then. (`&str` cannot borrow a conversion.)
//!
//! Strings are written in text format, so a `&str` feeds a parameter of any type through that
//! type's input function (`numeric`, enums, `jsonb`, `inet`, ...). A string containing a NUL byte is
//! refused (PostgreSQL text cannot hold one). Strings read must be valid UTF-8 (the client encoding
//! is expected to be `UTF8`).

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use bytes::{BufMut, BytesMut};

use crate::types::{BoxError, Format, FromSql, IsNull, ToSql, Type, text};

/// Whether this module (with the date/time, `numeric`, `interval`, network and `uuid` mappings)
/// decodes scalar values of `ty` in binary format (arrays are decided from their element type).
///
/// Columns of these types are requested in binary; every other type is requested in text, so it
/// can at least be read as a `String`.
pub(crate) fn has_binary_decoder(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::JSON
            | Type::JSONB
            | Type::NUMERIC
            | Type::UUID
            | Type::INTERVAL
            | Type::INET
            | Type::CIDR
            | Type::BOOL
            | Type::CHAR
            | Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::OID
            | Type::FLOAT4
            | Type::FLOAT8
            | Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::UNKNOWN
            | Type::BYTEA
            | Type::DATE
            | Type::TIME
            | Type::TIMESTAMP
            | Type::TIMESTAMPTZ
    )
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A Rust type and a SQL type that this module does not convert into each other.
#[derive(Debug, Clone)]
pub struct WrongType {
    /// The Rust type's name.
    pub rust: &'static str,
    /// The SQL type.
    pub ty: Type,
}

impl WrongType {
    pub(crate) fn new<T: ?Sized>(ty: &Type) -> Self {
        WrongType {
            rust: std::any::type_name::<T>(),
            ty: ty.clone(),
        }
    }
}

impl fmt::Display for WrongType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot convert between Rust type `{}` and SQL type {}",
            self.rust, self.ty
        )
    }
}

impl StdError for WrongType {}

/// A binary value whose length is not the fixed length of its type (a 3-byte `int4`, say).
#[derive(Debug, Clone)]
pub struct WrongLength {
    /// The SQL type.
    pub ty: Type,
    /// The length the type's binary format has.
    pub expected: usize,
    /// The length received.
    pub actual: usize,
}

impl fmt::Display for WrongLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a binary {} value is {} bytes long, got {}",
            self.ty, self.expected, self.actual
        )
    }
}

impl StdError for WrongLength {}

/// A value that does not fit the type it is converted to: an `i64` too large for an `int4`
/// parameter, a timestamp beyond chrono's range, ...
#[derive(Debug, Clone)]
pub struct OutOfRange {
    /// The value, as text.
    pub value: String,
    /// The SQL type.
    pub ty: Type,
    /// The Rust type's name.
    pub rust: &'static str,
}

impl OutOfRange {
    pub(crate) fn new<T: ?Sized>(value: impl fmt::Display, ty: &Type) -> Self {
        OutOfRange {
            value: value.to_string(),
            ty: ty.clone(),
            rust: std::any::type_name::<T>(),
        }
    }
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "value {} is out of range converting between SQL type {} and Rust type `{}`",
            self.value, self.ty, self.rust
        )
    }
}

impl StdError for OutOfRange {}

/// A text-format value that is not a valid text form of its type.
#[derive(Debug, Clone)]
pub struct InvalidText {
    /// The SQL type.
    pub ty: Type,
    /// The text received (cut after 64 characters).
    pub text: String,
}

impl InvalidText {
    pub(crate) fn new(ty: &Type, text: &str) -> Self {
        const SHOWN: usize = 64;
        let text = match text.char_indices().nth(SHOWN) {
            Some((cut, _)) => format!("{}...", text.get(..cut).unwrap_or_default()),
            None => text.to_owned(),
        };
        InvalidText {
            ty: ty.clone(),
            text,
        }
    }
}

impl fmt::Display for InvalidText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid text value for type {}: {:?}",
            self.ty, self.text
        )
    }
}

impl StdError for InvalidText {}

/// A binary value that is not a valid binary form of its type: a count that claims more bytes
/// than the value has, an array of the wrong element type, a `numeric` digit of 10000 or more, ...
#[derive(Debug, Clone)]
pub struct InvalidBinary {
    /// The SQL type.
    pub ty: Type,
    /// What is wrong with the value.
    pub reason: String,
}

impl InvalidBinary {
    pub(crate) fn new(ty: &Type, reason: impl Into<String>) -> Self {
        InvalidBinary {
            ty: ty.clone(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for InvalidBinary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid binary {} value: {}", self.ty, self.reason)
    }
}

impl StdError for InvalidBinary {}

/// A string parameter that contains a NUL byte, which no PostgreSQL text value can hold.
#[derive(Debug, Clone)]
pub struct NulInString {
    /// The byte offset of the first NUL.
    pub position: usize,
}

impl fmt::Display for NulInString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "string parameter contains a NUL byte at offset {}; PostgreSQL text cannot hold one",
            self.position
        )
    }
}

impl StdError for NulInString {}

// ---------------------------------------------------------------------------------------------
// Checked readers shared with the date/time mappings
// ---------------------------------------------------------------------------------------------

/// `raw` as exactly `N` bytes, or [`WrongLength`].
pub(crate) fn fixed<const N: usize>(ty: &Type, raw: &[u8]) -> Result<[u8; N], BoxError> {
    <[u8; N]>::try_from(raw).map_err(|_| {
        Box::new(WrongLength {
            ty: ty.clone(),
            expected: N,
            actual: raw.len(),
        }) as BoxError
    })
}

/// A big-endian `i32` of exactly 4 bytes.
pub(crate) fn read_i32(ty: &Type, raw: &[u8]) -> Result<i32, BoxError> {
    fixed::<4>(ty, raw).map(i32::from_be_bytes)
}

/// A big-endian `i64` of exactly 8 bytes.
pub(crate) fn read_i64(ty: &Type, raw: &[u8]) -> Result<i64, BoxError> {
    fixed::<8>(ty, raw).map(i64::from_be_bytes)
}

/// Fails with [`WrongType`] unless `accepted`.
pub(crate) fn check_type<T: ?Sized>(accepted: bool, ty: &Type) -> Result<(), BoxError> {
    if accepted {
        Ok(())
    } else {
        Err(Box::new(WrongType::new::<T>(ty)))
    }
}

/// Parses the text form of a value with `FromStr`, mapping failure to [`InvalidText`].
fn parse_text<T: std::str::FromStr>(ty: &Type, raw: &str) -> Result<T, BoxError> {
    raw.parse::<T>()
        .map_err(|_| Box::new(InvalidText::new(ty, raw)) as BoxError)
}

// ---------------------------------------------------------------------------------------------
// Forwarding impls
// ---------------------------------------------------------------------------------------------

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        (**self).to_sql(ty, out)
    }

    fn accepts(&self, ty: &Type) -> bool {
        (**self).accepts(ty)
    }

    fn encode_format(&self, ty: &Type) -> Format {
        (**self).encode_format(ty)
    }

    fn type_name(&self) -> &'static str {
        (**self).type_name()
    }
}

impl<T: ToSql + ?Sized> ToSql for Box<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        (**self).to_sql(ty, out)
    }

    fn accepts(&self, ty: &Type) -> bool {
        (**self).accepts(ty)
    }

    fn encode_format(&self, ty: &Type) -> Format {
        (**self).encode_format(ty)
    }

    fn type_name(&self) -> &'static str {
        (**self).type_name()
    }
}

impl<T> ToSql for Cow<'_, T>
where
    T: ToSql + ToOwned + ?Sized,
    T::Owned: fmt::Debug,
{
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.as_ref().to_sql(ty, out)
    }

    fn accepts(&self, ty: &Type) -> bool {
        self.as_ref().accepts(ty)
    }

    fn encode_format(&self, ty: &Type) -> Format {
        self.as_ref().encode_format(ty)
    }

    fn type_name(&self) -> &'static str {
        self.as_ref().type_name()
    }
}

// ---------------------------------------------------------------------------------------------
// Option: NULL
// ---------------------------------------------------------------------------------------------

/// `None` is SQL NULL and is accepted for a parameter of every type.
impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Some(value) => value.to_sql(ty, out),
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(&self, ty: &Type) -> bool {
        match self {
            Some(value) => value.accepts(ty),
            None => true,
        }
    }

    fn encode_format(&self, ty: &Type) -> Format {
        match self {
            Some(value) => value.encode_format(ty),
            None => Format::Binary,
        }
    }
}

/// SQL NULL reads as `None`; other values as `Some` of what `T` reads.
impl<'a, T: FromSql<'a>> FromSql<'a> for Option<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        T::from_sql(ty, raw).map(Some)
    }

    fn accepts(ty: &Type) -> bool {
        T::accepts(ty)
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        T::from_sql_text(ty, raw).map(Some)
    }

    fn accepts_text(ty: &Type) -> bool {
        T::accepts_text(ty)
    }

    fn from_sql_null(_ty: &Type) -> Result<Self, BoxError> {
        Ok(None)
    }

    fn from_sql_text_owned(ty: &Type, raw: String) -> Result<Self, BoxError> {
        T::from_sql_text_owned(ty, raw).map(Some)
    }
}

// ---------------------------------------------------------------------------------------------
// bool
// ---------------------------------------------------------------------------------------------

/// `bool`: one byte, `1` or `0`.
impl ToSql for bool {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        check_type::<bool>(<bool as ToSql>::accepts(self, ty), ty)?;
        out.put_u8(u8::from(*self));
        Ok(IsNull::No)
    }

    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::BOOL
    }
}

/// `bool`: one byte; any non-zero byte is `true`, as the server's `boolrecv` reads it. Text: `t`/`f`.
impl<'a> FromSql<'a> for bool {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        check_type::<bool>(<bool as FromSql>::accepts(ty), ty)?;
        let [byte] = fixed::<1>(ty, raw)?;
        Ok(byte != 0)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::BOOL
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<bool>(<bool as FromSql>::accepts_text(ty), ty)?;
        match raw {
            "t" => Ok(true),
            "f" => Ok(false),
            _ => Err(Box::new(InvalidText::new(ty, raw))),
        }
    }

    fn accepts_text(ty: &Type) -> bool {
        *ty == Type::BOOL
    }
}

// ---------------------------------------------------------------------------------------------
// "char" as i8
// ---------------------------------------------------------------------------------------------

/// `"char"`: the single byte, as `i8`.
impl ToSql for i8 {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        check_type::<i8>(<i8 as ToSql>::accepts(self, ty), ty)?;
        out.put_i8(*self);
        Ok(IsNull::No)
    }

    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::CHAR
    }
}

/// `"char"`: the single byte, as `i8`. Text: the character itself, empty for the zero byte, or
/// `\ooo` (three octal digits) for a byte with the high bit set, as the server's `charout` writes it.
impl<'a> FromSql<'a> for i8 {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        check_type::<i8>(<i8 as FromSql>::accepts(ty), ty)?;
        fixed::<1>(ty, raw).map(i8::from_be_bytes)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::CHAR
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<i8>(<i8 as FromSql>::accepts_text(ty), ty)?;
        let byte = match raw.as_bytes() {
            [] => Some(0),
            [byte] => Some(*byte),
            [b'\\', digits @ ..] if digits.len() == 3 => {
                digits.iter().try_fold(0u8, |acc, digit| match digit {
                    b'0'..=b'7' => acc.checked_mul(8)?.checked_add(digit.checked_sub(b'0')?),
                    _ => None,
                })
            }
            _ => None,
        };
        match byte {
            Some(byte) => Ok(i8::from_be_bytes([byte])),
            None => Err(Box::new(InvalidText::new(ty, raw))),
        }
    }

    fn accepts_text(ty: &Type) -> bool {
        *ty == Type::CHAR
    }

    fn from_sql_text_owned(ty: &Type, raw: String) -> Result<Self, BoxError> {
        <i8 as FromSql<'_>>::from_sql_text(ty, &raw)
    }
}

// ---------------------------------------------------------------------------------------------
// Integers
// ---------------------------------------------------------------------------------------------

/// Whether `ty` is one of the integer types any Rust integer may be written into.
fn is_integer_param(ty: &Type) -> bool {
    matches!(*ty, Type::INT2 | Type::INT4 | Type::INT8 | Type::OID)
}

/// Writes `value` (of Rust type `R`) as a parameter of integer type `ty`, failing with
/// [`OutOfRange`] when it does not fit.
fn write_integer<R: ?Sized>(value: i64, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
    let out_of_range = |_| Box::new(OutOfRange::new::<R>(value, ty)) as BoxError;
    match *ty {
        Type::INT2 => out.put_i16(i16::try_from(value).map_err(out_of_range)?),
        Type::INT4 => out.put_i32(i32::try_from(value).map_err(out_of_range)?),
        Type::INT8 => out.put_i64(value),
        Type::OID => out.put_u32(u32::try_from(value).map_err(out_of_range)?),
        _ => return Err(Box::new(WrongType::new::<R>(ty))),
    }
    Ok(IsNull::No)
}

/// Reads a binary `int2`, `int4`, `int8` or `oid`, checking its exact width.
fn read_integer(ty: &Type, raw: &[u8]) -> Result<i64, BoxError> {
    match *ty {
        Type::INT2 => fixed::<2>(ty, raw).map(|b| i64::from(i16::from_be_bytes(b))),
        Type::INT4 => read_i32(ty, raw).map(i64::from),
        Type::INT8 => read_i64(ty, raw),
        Type::OID => fixed::<4>(ty, raw).map(|b| i64::from(u32::from_be_bytes(b))),
        _ => Err(Box::new(WrongType::new::<i64>(ty))),
    }
}

macro_rules! integer {
    ($rust:ty, $own:ident, $put:ident, $doc_to:literal, $doc_from:literal, [$($reads:ident),+]) => {
        #[doc = $doc_to]
        impl ToSql for $rust {
            fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
                // The type of the same width first: no conversion, no range check.
                if *ty == Type::$own {
                    out.$put(*self);
                    return Ok(IsNull::No);
                }
                write_integer::<$rust>(i64::from(*self), ty, out)
            }

            fn accepts(&self, ty: &Type) -> bool {
                is_integer_param(ty)
            }
        }

        #[doc = $doc_from]
        impl<'a> FromSql<'a> for $rust {
            fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
                check_type::<$rust>(<$rust as FromSql>::accepts(ty), ty)?;
                let value = read_integer(ty, raw)?;
                // Cannot fail for the accepted types (they only widen); checked all the same.
                <$rust>::try_from(value)
                    .map_err(|_| Box::new(OutOfRange::new::<$rust>(value, ty)) as BoxError)
            }

            fn accepts(ty: &Type) -> bool {
                matches!(*ty, $(Type::$reads)|+)
            }

            fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
                check_type::<$rust>(<$rust as FromSql>::accepts_text(ty), ty)?;
                parse_text(ty, raw)
            }

            fn accepts_text(ty: &Type) -> bool {
                <$rust as FromSql>::accepts(ty)
            }
        }
    };
}

integer!(
    i16,
    INT2,
    put_i16,
    "Writes `int2`, `int4`, `int8` or `oid` (a negative value does not fit `oid`).",
    "Reads `int2`.",
    [INT2]
);
integer!(
    i32,
    INT4,
    put_i32,
    "Writes `int4`, `int8`, or `int2`/`oid` when the value fits.",
    "Reads `int4`, and `int2` (widened).",
    [INT2, INT4]
);
integer!(
    i64,
    INT8,
    put_i64,
    "Writes `int8`, or `int2`/`int4`/`oid` when the value fits.",
    "Reads `int8`, and `int2`/`int4` (widened).",
    [INT2, INT4, INT8]
);
integer!(
    u32,
    OID,
    put_u32,
    "Writes `oid` (unsigned 4 bytes), `int8`, or `int2`/`int4` when the value fits.",
    "Reads `oid`.",
    [OID]
);

// ---------------------------------------------------------------------------------------------
// Floating point
// ---------------------------------------------------------------------------------------------

/// `float4`, or `float8` (widened exactly).
impl ToSql for f32 {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match *ty {
            Type::FLOAT4 => out.put_f32(*self),
            Type::FLOAT8 => out.put_f64(f64::from(*self)),
            _ => return Err(Box::new(WrongType::new::<f32>(ty))),
        }
        Ok(IsNull::No)
    }

    fn accepts(&self, ty: &Type) -> bool {
        matches!(*ty, Type::FLOAT4 | Type::FLOAT8)
    }
}

/// `float8`, or `float4` rounded to nearest as the server's `float8`-to-`float4` cast does, and
/// like it failing with [`OutOfRange`] when a finite value overflows to infinity or a non-zero value
/// underflows to zero.
impl ToSql for f64 {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match *ty {
            Type::FLOAT8 => out.put_f64(*self),
            Type::FLOAT4 => {
                #[allow(clippy::cast_possible_truncation)] // rounding is the intent; checked below
                let narrowed = *self as f32;
                let overflow = narrowed.is_infinite() && self.is_finite();
                let underflow = narrowed == 0.0 && *self != 0.0;
                if overflow || underflow {
                    return Err(Box::new(OutOfRange::new::<f64>(self, ty)));
                }
                out.put_f32(narrowed);
            }
            _ => return Err(Box::new(WrongType::new::<f64>(ty))),
        }
        Ok(IsNull::No)
    }

    fn accepts(&self, ty: &Type) -> bool {
        matches!(*ty, Type::FLOAT4 | Type::FLOAT8)
    }
}

/// `float4`. Text: as the server writes it, including `NaN`, `Infinity`, `-Infinity`.
impl<'a> FromSql<'a> for f32 {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        check_type::<f32>(<f32 as FromSql>::accepts(ty), ty)?;
        fixed::<4>(ty, raw).map(f32::from_be_bytes)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::FLOAT4
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<f32>(<f32 as FromSql>::accepts_text(ty), ty)?;
        parse_text(ty, raw)
    }

    fn accepts_text(ty: &Type) -> bool {
        *ty == Type::FLOAT4
    }
}

/// `float8`, and `float4` (widened exactly). Text: as the server writes it, including `NaN`,
/// `Infinity`, `-Infinity`.
impl<'a> FromSql<'a> for f64 {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        match *ty {
            Type::FLOAT4 => fixed::<4>(ty, raw).map(|b| f64::from(f32::from_be_bytes(b))),
            Type::FLOAT8 => fixed::<8>(ty, raw).map(f64::from_be_bytes),
            _ => Err(Box::new(WrongType::new::<f64>(ty))),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::FLOAT4 | Type::FLOAT8)
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        check_type::<f64>(<f64 as FromSql>::accepts_text(ty), ty)?;
        parse_text(ty, raw)
    }

    fn accepts_text(ty: &Type) -> bool {
        matches!(*ty, Type::FLOAT4 | Type::FLOAT8)
    }
}

// ---------------------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------------------

/// The text-like types whose binary format is the text itself (the server's `textsend`,
/// `json_send`, `xml_send`, ...).
fn is_text_binary(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::UNKNOWN
            | Type::JSON
            | Type::XML
            | Type::REFCURSOR
    )
}

/// The version byte that starts a binary `jsonb` value (the server's `jsonb_send`).
const JSONB_VERSION: u8 = 1;

/// The UTF-8 text of a binary value of a text-like type (for `jsonb`, after its version byte).
fn text_from_binary<'a, R: ?Sized>(ty: &Type, raw: &'a [u8]) -> Result<&'a str, BoxError> {
    let bytes = match (ty, raw) {
        (&Type::JSONB, [JSONB_VERSION, rest @ ..]) => rest,
        (&Type::JSONB, _) => return Err(Box::new(InvalidText::new(ty, "unknown jsonb version"))),
        _ if is_text_binary(ty) => raw,
        _ => return Err(Box::new(WrongType::new::<R>(ty))),
    };
    Ok(std::str::from_utf8(bytes)?)
}

/// The position of the first NUL byte in `bytes`, if any. Eight bytes at a time: a word has a
/// zero byte exactly when subtracting one from each byte borrows into a byte whose high bit was
/// clear (the classic `(v - 0x01..) & !v & 0x80..` test).
fn nul_position(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut words = bytes.chunks_exact(8);
    let has_nul = words.by_ref().any(|word| match <[u8; 8]>::try_from(word) {
        Ok(word) => {
            let v = u64::from_ne_bytes(word);
            v.wrapping_sub(ONES) & !v & HIGHS != 0
        }
        // Never taken (the chunks are exact); the byte scan below decides.
        Err(_) => true,
    }) || words.remainder().contains(&0);
    if has_nul {
        bytes.iter().position(|&b| b == 0)
    } else {
        None
    }
}

/// Writes the string as a text-format parameter; the server parses it with the input function of
/// the parameter's type, so every type is accepted.
impl ToSql for str {
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if let Some(position) = nul_position(self.as_bytes()) {
            return Err(Box::new(NulInString { position }));
        }
        out.put_slice(self.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(&self, _ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    fn type_name(&self) -> &'static str {
        "&str"
    }
}

/// As `str`: text format, any type.
impl ToSql for String {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.as_str().to_sql(ty, out)
    }

    fn accepts(&self, _ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }
}

/// Borrows the text of `text`, `varchar`, `bpchar`, `name`, `unknown`, `json`, `jsonb`, `xml` and
/// `refcursor` binary values, and a text-format value of any type. Fails on invalid UTF-8.
impl<'a> FromSql<'a> for &'a str {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        text_from_binary::<&str>(ty, raw)
    }

    fn accepts(ty: &Type) -> bool {
        is_text_binary(ty) || *ty == Type::JSONB
    }

    fn from_sql_text(_ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        Ok(raw)
    }

    fn accepts_text(_ty: &Type) -> bool {
        true
    }
}

/// As `&str`, owned; and also the binary values of `numeric`, `uuid`, `interval`, `inet`,
/// `cidr`, and of arrays of these or of text-like types, converted to the text the server's output
/// functions write (`1.50`, `a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11`, `1 day 02:00:00`,
/// `{"a b",NULL}`), so they read as they did when they arrived in text format.
impl<'a> FromSql<'a> for String {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        if text::converts(ty, text_binary_or_jsonb) {
            text::to_text(ty, raw, owned_text_from_binary)
        } else {
            owned_text_from_binary(ty, raw)
        }
    }

    fn accepts(ty: &Type) -> bool {
        <&str as FromSql>::accepts(ty) || text::converts(ty, text_binary_or_jsonb)
    }

    fn from_sql_text(_ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        Ok(raw.to_owned())
    }

    fn accepts_text(_ty: &Type) -> bool {
        true
    }

    fn from_sql_text_owned(_ty: &Type, raw: String) -> Result<Self, BoxError> {
        Ok(raw)
    }
}

/// The types whose binary value is their text (`jsonb` after its version byte).
fn text_binary_or_jsonb(ty: &Type) -> bool {
    is_text_binary(ty) || *ty == Type::JSONB
}

fn owned_text_from_binary(ty: &Type, raw: &[u8]) -> Result<String, BoxError> {
    text_from_binary::<String>(ty, raw).map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------
// Byte strings
// ---------------------------------------------------------------------------------------------

/// `bytea`, in binary format (the bytes themselves).
impl ToSql for [u8] {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        check_type::<[u8]>(*ty == Type::BYTEA, ty)?;
        out.put_slice(self);
        Ok(IsNull::No)
    }

    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::BYTEA
    }

    fn type_name(&self) -> &'static str {
        "&[u8]"
    }
}

/// As `[u8]`: `bytea`.
impl ToSql for Vec<u8> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.as_slice().to_sql(ty, out)
    }

    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::BYTEA
    }
}

/// As `[u8]`: `bytea`.
impl<const N: usize> ToSql for [u8; N] {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.as_slice().to_sql(ty, out)
    }

    fn accepts(&self, ty: &Type) -> bool {
        *ty == Type::BYTEA
    }
}

/// Borrows a binary `bytea` value. (Text-format `bytea` is not decoded.)
impl<'a> FromSql<'a> for &'a [u8] {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        check_type::<&[u8]>(*ty == Type::BYTEA, ty)?;
        Ok(raw)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::BYTEA
    }
}

/// As `&[u8]`, owned.
impl<'a> FromSql<'a> for Vec<u8> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        <&[u8] as FromSql>::from_sql(ty, raw).map(<[u8]>::to_vec)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::BYTEA
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{TextNotSupported, WasNull};

    /// Encodes `value` for a parameter of type `ty`, checking `accepts` first as the client does.
    fn encode<T: ToSql + ?Sized>(value: &T, ty: &Type) -> Result<Vec<u8>, BoxError> {
        assert!(value.accepts(ty), "{value:?} should accept {ty}");
        let mut buf = BytesMut::new();
        match value.to_sql(ty, &mut buf)? {
            IsNull::No => Ok(buf.to_vec()),
            IsNull::Yes => {
                assert!(buf.is_empty());
                Ok(Vec::new())
            }
        }
    }

    fn round_trip<T>(value: T, ty: &Type) -> T
    where
        T: ToSql + for<'a> FromSql<'a>,
    {
        let bytes = encode(&value, ty).unwrap();
        assert!(<T as FromSql>::accepts(ty));
        T::from_sql(ty, &bytes).unwrap()
    }

    fn err_string<T: fmt::Debug>(result: Result<T, BoxError>) -> String {
        result.unwrap_err().to_string()
    }

    // Catches: the word-at-a-time NUL test missing a NUL (in any byte of a word, in the tail,
    // next to bytes of 0x01 or 0x80 and above) or reporting one where there is none.
    #[test]
    fn nul_position_agrees_with_a_byte_scan() {
        for len in 0..40 {
            for fill in [b'a', 0x01, 0x7f, 0x80, 0x81, 0xff] {
                let clean = vec![fill; len];
                assert_eq!(nul_position(&clean), None, "len {len} fill {fill:#x}");
                for at in 0..len {
                    let mut bytes = clean.clone();
                    bytes[at] = 0;
                    assert_eq!(nul_position(&bytes), Some(at), "len {len} fill {fill:#x}");
                    if at + 1 < len {
                        bytes[len - 1] = 0;
                        assert_eq!(nul_position(&bytes), Some(at), "two NULs, len {len}");
                    }
                }
            }
        }
        assert_eq!(nul_position("row number 12345".as_bytes()), None);
        let err = "a\0b".to_sql(&Type::TEXT, &mut BytesMut::new());
        assert!(err_string(err).contains("offset 1;"));
    }

    #[test]
    fn binary_decoder_list() {
        for ty in [
            Type::BOOL,
            Type::CHAR,
            Type::INT2,
            Type::INT4,
            Type::INT8,
            Type::OID,
            Type::FLOAT4,
            Type::FLOAT8,
            Type::TEXT,
            Type::VARCHAR,
            Type::BPCHAR,
            Type::NAME,
            Type::UNKNOWN,
            Type::BYTEA,
            Type::DATE,
            Type::TIME,
            Type::TIMESTAMP,
            Type::TIMESTAMPTZ,
            Type::JSON,
            Type::JSONB,
            Type::NUMERIC,
            Type::UUID,
            Type::INTERVAL,
            Type::INET,
            Type::CIDR,
        ] {
            assert!(has_binary_decoder(&ty), "{ty}");
            assert!(crate::types::has_binary_decoder(&ty), "{ty}");
            if let Some(array) = ty.array_of() {
                assert!(crate::types::has_binary_decoder(&array), "{array}");
                assert!(!has_binary_decoder(&array), "{array}");
            }
        }
        for ty in [
            Type::XML,
            Type::TIMETZ,
            Type::MONEY,
            Type::REGCLASS,
            Type::TIMETZ_ARRAY,
            Type::XML_ARRAY,
            Type::RECORD_ARRAY,
            Type::from_oid(16384),
        ] {
            assert!(!has_binary_decoder(&ty), "{ty}");
            assert!(!crate::types::has_binary_decoder(&ty), "{ty}");
        }
    }

    #[test]
    fn bool_encoding() {
        assert_eq!(encode(&true, &Type::BOOL).unwrap(), [1]);
        assert_eq!(encode(&false, &Type::BOOL).unwrap(), [0]);
        assert!(bool::from_sql(&Type::BOOL, &[1]).unwrap());
        assert!(!bool::from_sql(&Type::BOOL, &[0]).unwrap());
        assert!(bool::from_sql(&Type::BOOL, &[7]).unwrap());
        assert!(bool::from_sql(&Type::BOOL, &[]).is_err());
        assert!(bool::from_sql(&Type::BOOL, &[1, 0]).is_err());
        assert!(!ToSql::accepts(&true, &Type::INT4));
        assert!(true.to_sql(&Type::INT4, &mut BytesMut::new()).is_err());
        assert!(bool::from_sql(&Type::INT2, &[0, 1]).is_err());
        assert!(bool::from_sql_text(&Type::BOOL, "t").unwrap());
        assert!(!bool::from_sql_text(&Type::BOOL, "f").unwrap());
        assert!(bool::from_sql_text(&Type::BOOL, "yes").is_err());
    }

    #[test]
    fn char_encoding() {
        assert_eq!(encode(&65i8, &Type::CHAR).unwrap(), [0x41]);
        assert_eq!(encode(&-1i8, &Type::CHAR).unwrap(), [0xff]);
        assert_eq!(i8::from_sql(&Type::CHAR, &[0x72]).unwrap(), b'r' as i8);
        assert_eq!(i8::from_sql(&Type::CHAR, &[0x80]).unwrap(), i8::MIN);
        assert!(i8::from_sql(&Type::CHAR, &[]).is_err());
        assert!(i8::from_sql(&Type::CHAR, &[1, 2]).is_err());
        assert!(!ToSql::accepts(&1i8, &Type::INT2));
        assert_eq!(round_trip(i8::MIN, &Type::CHAR), i8::MIN);
        assert_eq!(i8::from_sql_text(&Type::CHAR, "r").unwrap(), b'r' as i8);
        assert_eq!(i8::from_sql_text(&Type::CHAR, "").unwrap(), 0);
        assert_eq!(i8::from_sql_text(&Type::CHAR, "\\377").unwrap(), -1);
        assert_eq!(i8::from_sql_text(&Type::CHAR, "\\200").unwrap(), i8::MIN);
        assert_eq!(i8::from_sql_text(&Type::CHAR, "\\").unwrap(), b'\\' as i8);
        assert!(i8::from_sql_text(&Type::CHAR, "\\400").is_err());
        assert!(i8::from_sql_text(&Type::CHAR, "\\38").is_err());
        assert!(i8::from_sql_text(&Type::CHAR, "ab").is_err());
        assert!(i8::from_sql_text(&Type::CHAR, "é").is_err());
    }

    #[test]
    fn integer_encodings() {
        assert_eq!(encode(&42i32, &Type::INT4).unwrap(), [0, 0, 0, 0x2a]);
        assert_eq!(
            encode(&-2i32, &Type::INT4).unwrap(),
            [0xff, 0xff, 0xff, 0xfe]
        );
        assert_eq!(encode(&42i16, &Type::INT2).unwrap(), [0, 0x2a]);
        assert_eq!(encode(&-1i16, &Type::INT2).unwrap(), [0xff, 0xff]);
        assert_eq!(
            encode(&0x0102_0304_0506_0708i64, &Type::INT8).unwrap(),
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(encode(&u32::MAX, &Type::OID).unwrap(), [0xff; 4]);
        assert_eq!(
            encode(&i64::MIN, &Type::INT8).unwrap(),
            [0x80, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            encode(&i64::MAX, &Type::INT8).unwrap(),
            [0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(i32::from_sql(&Type::INT4, &[0, 0, 0, 0x2a]).unwrap(), 42);
        assert_eq!(i16::from_sql(&Type::INT2, &[0x80, 0]).unwrap(), i16::MIN);
        assert_eq!(u32::from_sql(&Type::OID, &[0xff; 4]).unwrap(), u32::MAX);
    }

    #[test]
    fn integer_round_trips() {
        for v in [i16::MIN, -1, 0, 1, i16::MAX] {
            assert_eq!(round_trip(v, &Type::INT2), v);
        }
        for v in [i32::MIN, -1, 0, 1, i32::MAX] {
            assert_eq!(round_trip(v, &Type::INT4), v);
        }
        for v in [i64::MIN, -1, 0, 1, i64::MAX] {
            assert_eq!(round_trip(v, &Type::INT8), v);
        }
        for v in [0, 1, u32::MAX] {
            assert_eq!(round_trip(v, &Type::OID), v);
        }
    }

    #[test]
    fn integer_wrong_widths_are_errors() {
        let e = err_string(i32::from_sql(&Type::INT4, &[0, 0, 42]));
        assert_eq!(e, "a binary int4 value is 4 bytes long, got 3");
        assert!(i32::from_sql(&Type::INT4, &[]).is_err());
        assert!(i32::from_sql(&Type::INT4, &[0; 8]).is_err());
        assert!(i16::from_sql(&Type::INT2, &[0]).is_err());
        assert!(i64::from_sql(&Type::INT8, &[0; 4]).is_err());
        assert!(i64::from_sql(&Type::INT4, &[0; 8]).is_err());
        assert!(i64::from_sql(&Type::INT2, &[0; 4]).is_err());
        assert!(u32::from_sql(&Type::OID, &[0; 5]).is_err());
        let mut err = i32::from_sql(&Type::INT4, &[1]).unwrap_err();
        assert!(err.downcast_mut::<WrongLength>().is_some());
    }

    #[test]
    fn integer_widening_reads() {
        assert_eq!(i64::from_sql(&Type::INT2, &[0xff, 0xfe]).unwrap(), -2);
        assert_eq!(
            i64::from_sql(&Type::INT4, &[0x80, 0, 0, 0]).unwrap(),
            i64::from(i32::MIN)
        );
        assert_eq!(i32::from_sql(&Type::INT2, &[0x7f, 0xff]).unwrap(), 32767);
        assert!(<i64 as FromSql>::accepts(&Type::INT2));
        assert!(<i64 as FromSql>::accepts(&Type::INT4));
        assert!(<i32 as FromSql>::accepts(&Type::INT2));
        // Never narrowing, never changing signedness.
        assert!(!<i32 as FromSql>::accepts(&Type::INT8));
        assert!(!<i16 as FromSql>::accepts(&Type::INT4));
        assert!(!<u32 as FromSql>::accepts(&Type::INT4));
        assert!(!<i64 as FromSql>::accepts(&Type::OID));
        assert!(!<i32 as FromSql>::accepts(&Type::TEXT));
        let e = err_string(i32::from_sql(&Type::INT8, &[0; 8]));
        assert_eq!(
            e,
            "cannot convert between Rust type `i32` and SQL type int8"
        );
    }

    #[test]
    fn integer_widening_writes() {
        assert_eq!(
            encode(&42i32, &Type::INT8).unwrap(),
            [0, 0, 0, 0, 0, 0, 0, 42]
        );
        assert_eq!(encode(&-1i16, &Type::INT4).unwrap(), [0xff; 4]);
        assert_eq!(
            encode(&u32::MAX, &Type::INT8).unwrap(),
            [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(encode(&7i64, &Type::INT4).unwrap(), [0, 0, 0, 7]);
        assert_eq!(encode(&7i64, &Type::INT2).unwrap(), [0, 7]);
        assert_eq!(encode(&7i32, &Type::OID).unwrap(), [0, 0, 0, 7]);
        assert_eq!(
            encode(&i64::from(i32::MIN), &Type::INT4).unwrap(),
            [0x80, 0, 0, 0]
        );
    }

    #[test]
    fn integer_narrowing_writes_are_checked() {
        let e = encode(&3_000_000_000i64, &Type::INT4).unwrap_err();
        assert!(e.to_string().contains("3000000000"), "{e}");
        assert!(e.to_string().contains("int4"), "{e}");
        assert!(e.is::<OutOfRange>());
        assert!(encode(&(i64::from(i32::MAX) + 1), &Type::INT4).is_err());
        assert!(encode(&(i64::from(i32::MIN) - 1), &Type::INT4).is_err());
        assert!(encode(&40_000i32, &Type::INT2).is_err());
        assert!(encode(&-1i32, &Type::OID).is_err());
        assert!(encode(&u32::MAX, &Type::INT4).is_err());
        assert!(encode(&i64::MIN, &Type::INT2).is_err());
        // Nothing is written on failure.
        let mut buf = BytesMut::new();
        assert!(i64::MAX.to_sql(&Type::INT4, &mut buf).is_err());
        assert!(buf.is_empty());
        assert!(!ToSql::accepts(&1i32, &Type::FLOAT8));
        assert!(1i32.to_sql(&Type::TEXT, &mut BytesMut::new()).is_err());
    }

    #[test]
    fn integer_text() {
        assert_eq!(i32::from_sql_text(&Type::INT4, "-42").unwrap(), -42);
        assert_eq!(
            i64::from_sql_text(&Type::INT8, "-9223372036854775808").unwrap(),
            i64::MIN
        );
        assert_eq!(i64::from_sql_text(&Type::INT2, "7").unwrap(), 7);
        assert_eq!(
            u32::from_sql_text(&Type::OID, "4294967295").unwrap(),
            u32::MAX
        );
        assert!(i16::from_sql_text(&Type::INT2, "40000").is_err());
        assert!(i32::from_sql_text(&Type::INT4, "4x").is_err());
        assert!(i32::from_sql_text(&Type::INT4, "").is_err());
        assert!(i32::from_sql_text(&Type::INT8, "1").is_err());
        assert!(<i32 as FromSql>::accepts_text(&Type::INT4));
        assert!(!<i32 as FromSql>::accepts_text(&Type::TEXT));
        let e = err_string(i32::from_sql_text(&Type::INT4, "abc"));
        assert_eq!(e, "invalid text value for type int4: \"abc\"");
    }

    #[test]
    fn float_encodings() {
        assert_eq!(encode(&1.0f32, &Type::FLOAT4).unwrap(), [0x3f, 0x80, 0, 0]);
        assert_eq!(
            encode(&1.0f64, &Type::FLOAT8).unwrap(),
            [0x3f, 0xf0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            encode(&-2.0f64, &Type::FLOAT8).unwrap(),
            [0xc0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            encode(&f64::INFINITY, &Type::FLOAT8).unwrap(),
            [0x7f, 0xf0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            encode(&f64::NEG_INFINITY, &Type::FLOAT8).unwrap(),
            [0xff, 0xf0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            f32::from_sql(&Type::FLOAT4, &[0x3f, 0x80, 0, 0]).unwrap(),
            1.0
        );
        assert_eq!(
            f64::from_sql(&Type::FLOAT4, &[0x3f, 0x80, 0, 0]).unwrap(),
            1.0
        );
        assert_eq!(
            f64::from_sql(&Type::FLOAT8, &[0x3f, 0xf0, 0, 0, 0, 0, 0, 0]).unwrap(),
            1.0
        );
    }

    #[test]
    fn float_extremes() {
        for v in [
            f64::MIN,
            f64::MAX,
            f64::MIN_POSITIVE,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::EPSILON,
        ] {
            assert_eq!(round_trip(v, &Type::FLOAT8).to_bits(), v.to_bits());
        }
        for v in [f32::MIN, f32::MAX, -0.0, f32::INFINITY, f32::NEG_INFINITY] {
            assert_eq!(round_trip(v, &Type::FLOAT4).to_bits(), v.to_bits());
        }
        assert!(round_trip(f64::NAN, &Type::FLOAT8).is_nan());
        assert!(round_trip(f32::NAN, &Type::FLOAT4).is_nan());
        assert!(
            f64::from_sql(&Type::FLOAT4, &f32::NAN.to_be_bytes())
                .unwrap()
                .is_nan()
        );
    }

    #[test]
    fn float_conversions() {
        // f32 into float8: exact.
        let bytes = encode(&0.1f32, &Type::FLOAT8).unwrap();
        assert_eq!(
            f64::from_sql(&Type::FLOAT8, &bytes).unwrap(),
            f64::from(0.1f32)
        );
        // f64 into float4: rounded, like the server's cast.
        let bytes = encode(&0.1f64, &Type::FLOAT4).unwrap();
        assert_eq!(bytes, [0x3d, 0xcc, 0xcc, 0xcd]); // the server's float4send(0.1::float8::float4)
        assert_eq!(f32::from_sql(&Type::FLOAT4, &bytes).unwrap(), 0.1f32);
        assert!(
            f32::from_sql(&Type::FLOAT4, &encode(&f64::NAN, &Type::FLOAT4).unwrap())
                .unwrap()
                .is_nan()
        );
        assert_eq!(
            f32::from_sql(
                &Type::FLOAT4,
                &encode(&f64::INFINITY, &Type::FLOAT4).unwrap()
            )
            .unwrap(),
            f32::INFINITY
        );
        assert!(
            encode(&1e300f64, &Type::FLOAT4)
                .unwrap_err()
                .is::<OutOfRange>()
        );
        assert!(encode(&-1e300f64, &Type::FLOAT4).is_err());
        assert!(encode(&1e-300f64, &Type::FLOAT4).is_err());
        assert_eq!(encode(&0.0f64, &Type::FLOAT4).unwrap(), [0; 4]);
        // Reads never narrow.
        assert!(!<f32 as FromSql>::accepts(&Type::FLOAT8));
        assert!(f32::from_sql(&Type::FLOAT8, &[0; 8]).is_err());
        assert!(f64::from_sql(&Type::INT8, &[0; 8]).is_err());
        assert!(!ToSql::accepts(&1.0f64, &Type::NUMERIC));
    }

    #[test]
    fn float_wrong_widths() {
        assert!(f32::from_sql(&Type::FLOAT4, &[0; 3]).is_err());
        assert!(f64::from_sql(&Type::FLOAT8, &[0; 4]).is_err());
        assert!(f64::from_sql(&Type::FLOAT4, &[0; 8]).is_err());
    }

    #[test]
    fn float_text() {
        assert_eq!(f64::from_sql_text(&Type::FLOAT8, "1.5").unwrap(), 1.5);
        assert_eq!(f64::from_sql_text(&Type::FLOAT8, "1e+20").unwrap(), 1e20);
        assert_eq!(
            f64::from_sql_text(&Type::FLOAT8, "Infinity").unwrap(),
            f64::INFINITY
        );
        assert_eq!(
            f64::from_sql_text(&Type::FLOAT8, "-Infinity").unwrap(),
            f64::NEG_INFINITY
        );
        assert!(f64::from_sql_text(&Type::FLOAT8, "NaN").unwrap().is_nan());
        assert_eq!(f64::from_sql_text(&Type::FLOAT4, "0.1").unwrap(), 0.1);
        assert_eq!(f32::from_sql_text(&Type::FLOAT4, "-3.25").unwrap(), -3.25);
        assert!(f32::from_sql_text(&Type::FLOAT8, "1").is_err());
        assert!(f64::from_sql_text(&Type::FLOAT8, "one").is_err());
    }

    #[test]
    fn strings_write_text_for_any_type() {
        for ty in [
            Type::TEXT,
            Type::INT4,
            Type::NUMERIC,
            Type::JSONB,
            Type::from_oid(16384),
        ] {
            assert!(ToSql::accepts("x", &ty));
            assert_eq!("x".encode_format(&ty), Format::Text);
            assert_eq!(String::from("x").encode_format(&ty), Format::Text);
        }
        assert_eq!(encode("héllo", &Type::TEXT).unwrap(), "héllo".as_bytes());
        assert_eq!(encode(&String::from("42"), &Type::INT4).unwrap(), b"42");
        assert_eq!(encode("", &Type::TEXT).unwrap(), b"");
        assert_eq!(42i32.encode_format(&Type::INT4), Format::Binary);
        assert_eq!("x".type_name(), "&str");
    }

    #[test]
    fn strings_with_nul_are_refused() {
        let e = encode("a\0b", &Type::TEXT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "string parameter contains a NUL byte at offset 1; PostgreSQL text cannot hold one"
        );
        let mut buf = BytesMut::new();
        assert!(String::from("\0").to_sql(&Type::TEXT, &mut buf).is_err());
        assert!(buf.is_empty());
    }

    #[test]
    fn strings_read() {
        for ty in [
            Type::TEXT,
            Type::VARCHAR,
            Type::BPCHAR,
            Type::NAME,
            Type::UNKNOWN,
            Type::JSON,
            Type::XML,
            Type::REFCURSOR,
        ] {
            assert!(<&str as FromSql>::accepts(&ty));
            assert!(<String as FromSql>::accepts(&ty));
            assert_eq!(
                <&str>::from_sql(&ty, "日本語 ✓".as_bytes()).unwrap(),
                "日本語 ✓"
            );
            assert_eq!(String::from_sql(&ty, b"").unwrap(), "");
        }
        assert!(!<&str as FromSql>::accepts(&Type::INT4));
        assert!(!<String as FromSql>::accepts(&Type::BYTEA));
        assert!(!<String as FromSql>::accepts(&Type::CHAR));
        assert!(
            String::from_sql(&Type::INT4, &[0, 0, 0, 1])
                .unwrap_err()
                .is::<WrongType>()
        );
        // Borrowed, not copied.
        let raw = b"abc".to_vec();
        let s = <&str>::from_sql(&Type::TEXT, &raw).unwrap();
        assert_eq!(s.as_ptr(), raw.as_ptr());
    }

    #[test]
    fn jsonb_binary_reads_after_its_version_byte() {
        assert_eq!(
            <&str>::from_sql(&Type::JSONB, b"\x01{\"a\": 1}").unwrap(),
            "{\"a\": 1}"
        );
        assert!(String::from_sql(&Type::JSONB, b"\x02{}").is_err());
        assert!(String::from_sql(&Type::JSONB, b"").is_err());
    }

    #[test]
    fn strings_read_any_text_value() {
        for ty in [
            Type::INT4,
            Type::NUMERIC,
            Type::UUID,
            Type::from_oid(16384),
            Type::INT4_ARRAY,
        ] {
            assert!(<&str as FromSql>::accepts_text(&ty));
            assert!(<String as FromSql>::accepts_text(&ty));
            assert_eq!(<&str>::from_sql_text(&ty, "12.50").unwrap(), "12.50");
            assert_eq!(String::from_sql_text(&ty, "{1,2}").unwrap(), "{1,2}");
        }
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let e = <&str>::from_sql(&Type::TEXT, &[0x61, 0xff]).unwrap_err();
        assert!(e.is::<std::str::Utf8Error>());
        assert!(String::from_sql(&Type::VARCHAR, &[0xc3]).is_err());
        assert!(String::from_sql(&Type::NAME, &[0xed, 0xa0, 0x80]).is_err()); // a surrogate
    }

    #[test]
    fn bytea() {
        let data: &[u8] = &[0, 1, 0xff, 0];
        assert_eq!(encode(data, &Type::BYTEA).unwrap(), data);
        assert_eq!(encode(&data.to_vec(), &Type::BYTEA).unwrap(), data);
        assert_eq!(encode(&[1u8, 2, 3], &Type::BYTEA).unwrap(), [1, 2, 3]);
        assert_eq!(encode(&Vec::<u8>::new(), &Type::BYTEA).unwrap(), b"");
        assert_eq!(<&[u8]>::from_sql(&Type::BYTEA, data).unwrap(), data);
        assert_eq!(Vec::<u8>::from_sql(&Type::BYTEA, b"").unwrap(), b"");
        assert_eq!(round_trip(vec![0u8; 1000], &Type::BYTEA), vec![0u8; 1000]);
        assert!(!ToSql::accepts(data, &Type::TEXT));
        assert!(data.to_sql(&Type::TEXT, &mut BytesMut::new()).is_err());
        assert!(<&[u8]>::from_sql(&Type::TEXT, b"x").is_err());
        assert!(!<Vec<u8> as FromSql>::accepts(&Type::TEXT));
        assert!(!<Vec<u8> as FromSql>::accepts_text(&Type::BYTEA));
        let e = Vec::<u8>::from_sql_text(&Type::BYTEA, "\\x00").unwrap_err();
        assert!(e.is::<TextNotSupported>());
        assert_eq!(data.type_name(), "&[u8]");
    }

    #[test]
    fn option_is_null() {
        let none: Option<i32> = None;
        let mut buf = BytesMut::new();
        assert_eq!(none.to_sql(&Type::INT4, &mut buf).unwrap(), IsNull::Yes);
        assert!(buf.is_empty());
        for ty in [Type::INT4, Type::TEXT, Type::BOOL, Type::from_oid(99999)] {
            assert!(none.accepts(&ty));
        }
        assert!(!Some(1i32).accepts(&Type::TEXT));
        assert!(Some(1i32).accepts(&Type::INT4));
        assert_eq!(encode(&Some(1i32), &Type::INT4).unwrap(), [0, 0, 0, 1]);
        assert_eq!(Some("x").encode_format(&Type::INT4), Format::Text);
        assert_eq!(Option::<i32>::from_sql_null(&Type::INT4).unwrap(), None);
        assert_eq!(
            Option::<i32>::from_sql(&Type::INT4, &[0, 0, 0, 5]).unwrap(),
            Some(5)
        );
        assert_eq!(
            Option::<&str>::from_sql_text(&Type::NUMERIC, "1.0").unwrap(),
            Some("1.0")
        );
        assert!(<Option<&str> as FromSql>::accepts_text(&Type::NUMERIC));
        assert!(<Option<i32> as FromSql>::accepts(&Type::INT4));
        assert!(Option::<i32>::from_sql(&Type::INT4, &[0]).is_err());
    }

    #[test]
    fn null_into_non_option_is_an_error() {
        let e = i32::from_sql_null(&Type::INT4).unwrap_err();
        assert!(e.is::<WasNull>());
        assert!(String::from_sql_null(&Type::TEXT).is_err());
        assert!(<&str>::from_sql_null(&Type::TEXT).is_err());
        assert!(Vec::<u8>::from_sql_null(&Type::BYTEA).is_err());
    }

    #[test]
    fn text_not_supported_by_default() {
        assert!(!<Vec<u8> as FromSql>::accepts_text(&Type::BYTEA));
        assert!(
            <&[u8]>::from_sql_text(&Type::BYTEA, "x")
                .unwrap_err()
                .is::<TextNotSupported>()
        );
    }

    #[test]
    fn references_and_boxes_forward() {
        let boxed: Box<dyn ToSql + Sync> = Box::new(7i64);
        assert!(boxed.accepts(&Type::INT8));
        assert_eq!(
            encode(&boxed, &Type::INT8).unwrap(),
            [0, 0, 0, 0, 0, 0, 0, 7]
        );
        assert_eq!(boxed.type_name(), "i64");
        let s = String::from("v");
        let r: &String = &s;
        assert_eq!(encode(&r, &Type::TEXT).unwrap(), b"v");
        assert_eq!((&r).encode_format(&Type::INT4), Format::Text);
        let boxed_str: Box<str> = "b".into();
        assert_eq!(encode(&boxed_str, &Type::TEXT).unwrap(), b"b");
        let cow: Cow<'_, str> = Cow::Borrowed("c");
        assert_eq!(encode(&cow, &Type::TEXT).unwrap(), b"c");
        assert_eq!(cow.encode_format(&Type::TEXT), Format::Text);
        let cow_bytes: Cow<'_, [u8]> = Cow::Owned(vec![9]);
        assert_eq!(encode(&cow_bytes, &Type::BYTEA).unwrap(), [9]);
        // The object-safe form used for parameter lists.
        let params: &[&(dyn ToSql + Sync)] = &[&1i32, &"two", &None::<i64>, &vec![3u8]];
        let types = [Type::INT4, Type::TEXT, Type::INT8, Type::BYTEA];
        for (param, ty) in params.iter().zip(&types) {
            assert!(param.accepts(ty));
            param.to_sql(ty, &mut BytesMut::new()).unwrap();
        }
    }

    #[test]
    fn invalid_text_is_cut() {
        let long = "x".repeat(1000);
        let e = InvalidText::new(&Type::INT4, &long);
        assert_eq!(e.text.len(), 67);
        let multi = "é".repeat(100);
        let e = InvalidText::new(&Type::INT4, &multi);
        assert_eq!(e.text.chars().count(), 67);
    }
}
