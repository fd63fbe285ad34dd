//! Target `values`: every binary and text value decoder, arrays included.

use std::fmt::Debug;
use std::net::IpAddr;
use std::str::FromStr;

use bytes::BytesMut;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use crate::types::{
    Array, Cidr, Date, Format, FromSql, Inet, Interval, IsNull, Numeric, Timestamp, ToSql, Type,
};

/// The column types the control byte picks from: every type with a decoder, their arrays, some
/// types without one, and a user type (an enum, say) with its array type.
pub const VALUE_TYPES: &[Type] = &[
    Type::BOOL,
    Type::BYTEA,
    Type::CHAR,
    Type::NAME,
    Type::INT8,
    Type::INT2,
    Type::INT4,
    Type::TEXT,
    Type::OID,
    Type::JSON,
    Type::FLOAT4,
    Type::FLOAT8,
    Type::BPCHAR,
    Type::VARCHAR,
    Type::DATE,
    Type::TIME,
    Type::TIMESTAMP,
    Type::TIMESTAMPTZ,
    Type::INTERVAL,
    Type::NUMERIC,
    Type::UUID,
    Type::INET,
    Type::CIDR,
    Type::JSONB,
    Type::UNKNOWN,
    Type::XML,
    Type::TIMETZ,
    Type::MONEY,
    Type::from_oid(16_390),
    Type::BOOL_ARRAY,
    Type::BYTEA_ARRAY,
    Type::CHAR_ARRAY,
    Type::NAME_ARRAY,
    Type::INT8_ARRAY,
    Type::INT2_ARRAY,
    Type::INT4_ARRAY,
    Type::TEXT_ARRAY,
    Type::OID_ARRAY,
    Type::JSON_ARRAY,
    Type::FLOAT4_ARRAY,
    Type::FLOAT8_ARRAY,
    Type::BPCHAR_ARRAY,
    Type::VARCHAR_ARRAY,
    Type::DATE_ARRAY,
    Type::TIME_ARRAY,
    Type::TIMESTAMP_ARRAY,
    Type::TIMESTAMPTZ_ARRAY,
    Type::INTERVAL_ARRAY,
    Type::NUMERIC_ARRAY,
    Type::UUID_ARRAY,
    Type::INET_ARRAY,
    Type::CIDR_ARRAY,
    Type::JSONB_ARRAY,
    Type::XML_ARRAY,
    Type::TIMETZ_ARRAY,
    Type::from_oid(16_389),
];

/// Input: a type byte (an index into the list of column types), a format byte (bit 0: text), then
/// the value's bytes.
///
/// Every Rust type that accepts the column type reads the value (binary: [`FromSql::from_sql`];
/// text: [`FromSql::from_sql_text`], if the bytes are UTF-8), alone, in `Option`, and for array
/// columns as `Vec<T>`, `Vec<Option<T>>` and `Array<Option<T>>`. Checks:
///
/// - decoding gives a value or an error, never a panic or an allocation beyond the value's size;
/// - a decoded value that writes itself in binary reads back equal (binary and text decoders
///   agree with the encoder; an `f64` written to a `float4` column, or a time with nanoseconds
///   written as microseconds, is rounded once, then stable);
/// - where `String` reads a binary value as the server's text (`numeric`, `interval`, `inet`,
///   arrays, ...), the text decoder reads that text back to the value the binary decoder gave;
/// - `numeric`, `interval`, `inet` and `cidr` text that parses prints as text that parses to the
///   same value.
pub fn values(data: &[u8]) {
    let [type_byte, format, raw @ ..] = data else {
        return;
    };
    let Some(ty) = VALUE_TYPES.get(usize::from(*type_byte) % VALUE_TYPES.len()) else {
        return;
    };
    if format & 1 == 0 {
        let _ = (
            <&str as FromSql>::accepts(ty).then(|| <&str as FromSql>::from_sql(ty, raw)),
            <&[u8] as FromSql>::accepts(ty).then(|| <&[u8] as FromSql>::from_sql(ty, raw)),
            <Vec<&str> as FromSql>::accepts(ty).then(|| <Vec<&str> as FromSql>::from_sql(ty, raw)),
        );
        each_type!(binary, ty, raw);
        // serde_json's default float parsing may round the last digit of a number (unless its
        // `float_roundtrip` feature is on), so JSON values are only decoded.
        #[cfg(feature = "serde_json")]
        each_type!(@all decode_binary, (ty, raw); serde_json::Value);
    } else if let Ok(text) = std::str::from_utf8(raw) {
        let _ = (
            <&str as FromSql>::accepts_text(ty).then(|| <&str as FromSql>::from_sql_text(ty, text)),
            <Vec<&str> as FromSql>::accepts_text(ty)
                .then(|| <Vec<&str> as FromSql>::from_sql_text(ty, text)),
        );
        each_type!(text_value, ty, text);
        #[cfg(feature = "serde_json")]
        each_type!(@all decode_text, (ty, text); serde_json::Value);
        display_round_trip::<Numeric>(text);
        display_round_trip::<Interval>(text);
        display_round_trip::<Inet>(text);
        display_round_trip::<Cidr>(text);
    }
}

/// Calls `$f::<T>($args)` for every owned Rust type with a decoder, alone, in `Option`, and in the
/// array types.
macro_rules! each_type {
    ($f:ident, $($arg:expr),*) => {
        each_type!(@all $f, ($($arg),*);
            bool, i8, i16, i32, i64, u32, f32, f64, String, Vec<u8>,
            NaiveDate, NaiveTime, NaiveDateTime, DateTime<Utc>, DateTime<FixedOffset>,
            Date<NaiveDate>, Timestamp<NaiveDateTime>, Timestamp<DateTime<Utc>>,
            Interval, Numeric, IpAddr, Inet, Cidr
        );
        #[cfg(feature = "uuid")]
        each_type!(@all $f, ($($arg),*); uuid::Uuid);
    };
    (@all $f:ident, $args:tt; $($t:ty),*) => {
        $(
            each_type!(@call $f, $args, $t);
            each_type!(@call $f, $args, Option<$t>);
            each_type!(@call $f, $args, Vec<$t>);
            each_type!(@call $f, $args, Vec<Option<$t>>);
            each_type!(@call $f, $args, Array<Option<$t>>);
        )*
    };
    (@call $f:ident, ($($arg:expr),*), $t:ty) => {
        $f::<$t>($($arg),*)
    };
}
use each_type;

/// Reads a binary value as `T`.
#[cfg(feature = "serde_json")]
fn decode_binary<T: for<'a> FromSql<'a>>(ty: &Type, raw: &[u8]) {
    if <T as FromSql>::accepts(ty) {
        let _ = T::from_sql(ty, raw).map_err(|e| e.to_string());
    }
}

/// Reads a text value as `T`.
#[cfg(feature = "serde_json")]
fn decode_text<T: for<'a> FromSql<'a>>(ty: &Type, text: &str) {
    if T::accepts_text(ty) {
        let _ = T::from_sql_text(ty, text).map_err(|e| e.to_string());
    }
}

/// Reads a binary value as `T`, then checks the round trip and the text form.
fn binary<T>(ty: &Type, raw: &[u8])
where
    T: for<'a> FromSql<'a> + ToSql + PartialEq + Debug,
{
    if !<T as FromSql>::accepts(ty) {
        return;
    }
    match T::from_sql(ty, raw) {
        Ok(value) => {
            round_trip(ty, &value);
            text_agrees(ty, raw, &value);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Reads a text value as `T`, then checks that its binary encoding reads back equal.
fn text_value<T>(ty: &Type, text: &str)
where
    T: for<'a> FromSql<'a> + ToSql + PartialEq + Debug,
{
    if !T::accepts_text(ty) {
        return;
    }
    match T::from_sql_text(ty, text) {
        Ok(value) => round_trip(ty, &value),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Equal, or (for NaN floats, which are never equal) printed the same.
fn same<T: PartialEq + Debug>(a: &T, b: &T) -> bool {
    a == b || format!("{a:?}") == format!("{b:?}")
}

/// A value that writes itself in binary for `ty` must read back equal.
fn round_trip<T>(ty: &Type, value: &T)
where
    T: for<'a> FromSql<'a> + ToSql + PartialEq + Debug,
{
    if !ToSql::accepts(value, ty)
        || value.encode_format(ty) != Format::Binary
        || !<T as FromSql>::accepts(ty)
    {
        return;
    }
    let mut buf = BytesMut::new();
    // Writing may refuse a value (out of the type's range): not a decoder's concern.
    if let Ok(IsNull::No) = value.to_sql(ty, &mut buf) {
        match T::from_sql(ty, &buf) {
            // An f64 written to a float4 column is rounded, and so is a time with nanoseconds
            // (from text with more than six fractional digits, which the server never sends)
            // written as microseconds: it must then stay as it was rounded.
            Ok(back) if !same(&back, value) && rounds(ty) => {
                let mut again = BytesMut::new();
                let _ = back.to_sql(ty, &mut again);
                assert_eq!(again, buf, "{ty}: {value:?} and {back:?} write differently");
            }
            Ok(back) => assert!(
                same(&back, value),
                "{ty}: {value:?} was written as {buf:?} and read back as {back:?}"
            ),
            Err(e) => panic!("{ty}: {value:?} was written as {buf:?}, which does not read: {e}"),
        }
    }
}

/// Whether writing a value of a Rust type that `ty` accepts may round it.
fn rounds(ty: &Type) -> bool {
    let ty = ty.array_element().unwrap_or_else(|| ty.clone());
    matches!(
        ty,
        Type::FLOAT4 | Type::TIME | Type::TIMESTAMP | Type::TIMESTAMPTZ
    )
}

/// Where `String` reads the binary value converted to the server's text, `T`'s text decoder must
/// read that text to the same value as its binary decoder.
fn text_agrees<T>(ty: &Type, raw: &[u8], value: &T)
where
    T: for<'a> FromSql<'a> + PartialEq + Debug,
{
    if !T::accepts_text(ty) || !<String as FromSql>::accepts(ty) {
        return;
    }
    let Ok(text) = <String as FromSql>::from_sql(ty, raw) else {
        return;
    };
    match T::from_sql_text(ty, &text) {
        Ok(from_text) => assert!(
            same(&from_text, value),
            "{ty}: binary {raw:?} reads as {value:?} but its text {text:?} as {from_text:?}"
        ),
        Err(e) => panic!("{ty}: binary {raw:?} reads as {value:?} but its text {text:?} not: {e}"),
    }
}

/// Text that parses prints as text that parses to the same value.
fn display_round_trip<T>(text: &str)
where
    T: FromStr + std::fmt::Display + PartialEq + Debug,
{
    let Ok(value) = text.parse::<T>() else {
        return;
    };
    let printed = value.to_string();
    match printed.parse::<T>() {
        Ok(again) => assert!(
            same(&again, &value),
            "{text:?} parses to {value:?}, printed {printed:?}, which parses to {again:?}"
        ),
        Err(_) => panic!("{text:?} parses to {value:?}, printed {printed:?}, which does not parse"),
    }
}
