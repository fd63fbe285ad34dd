//! Mapping between Rust values and PostgreSQL values.
//!
//! [`ToSql`] writes a Rust value as a bound parameter, [`FromSql`] reads a column value. Both work on
//! the binary wire format by default; a type the driver has no binary decoder for arrives in text
//! format and can still be read as a `String` or `&str` (see [`FromSql::from_sql_text`]).
//!
//! Every decoder checks the exact width it expects: a 3-byte `int4` is an error, never a panic.

#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use std::error::Error as StdError;
use std::fmt;

use bytes::BytesMut;

mod builtin;
mod datetime;
mod kind;

pub use builtin::{InvalidText, NulInString, OutOfRange, WrongLength, WrongType};
pub use datetime::{Date, Infinite, Timestamp};
pub use kind::{Oid, Type};

/// The error type of a conversion: any error, boxed, so user implementations can return their own.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// The wire format of one value: text (`0`) or binary (`1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The type's text input/output form.
    Text,
    /// The type's binary send/receive form.
    Binary,
}

impl Format {
    /// The format code sent in Bind and received in RowDescription.
    pub fn code(self) -> i16 {
        match self {
            Format::Text => 0,
            Format::Binary => 1,
        }
    }
}

/// Whether [`ToSql::to_sql`] wrote a value or stands for SQL NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsNull {
    /// A value was written.
    No,
    /// The parameter is NULL; nothing was written.
    Yes,
}

/// A Rust value that can be sent to the server as a bound parameter.
///
/// The trait is object safe: parameters are passed as `&[&(dyn ToSql + Sync)]`.
///
/// ```
/// use bytes::BytesMut;
/// use pg_wire::types::{IsNull, ToSql, Type};
///
/// let mut buf = BytesMut::new();
/// assert!(42i32.accepts(&Type::INT4));
/// assert_eq!(42i32.to_sql(&Type::INT4, &mut buf).unwrap(), IsNull::No);
/// assert_eq!(&buf[..], &[0, 0, 0, 42]);
/// ```
pub trait ToSql: fmt::Debug {
    /// Writes the value for a parameter of type `ty`, in [`ToSql::encode_format`], into `out`.
    /// Returns [`IsNull::Yes`] (writing nothing) for SQL NULL.
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError>;

    /// Whether this value can be sent as a parameter of type `ty`. Checked before
    /// [`ToSql::to_sql`] is called; a NULL (`None`) accepts every type.
    fn accepts(&self, ty: &Type) -> bool;

    /// The format this value is written in for a parameter of type `ty`. Binary by default; string
    /// values use text so they can feed any type through its input function (enums, numeric, ...).
    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Binary
    }

    /// The Rust type's name, for error messages.
    fn type_name(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
}

/// A Rust value that can be read from a column value.
///
/// `'a` is the lifetime of the row's buffer, so `&'a str` and `&'a [u8]` borrow without copying.
pub trait FromSql<'a>: Sized {
    /// Decodes a non-NULL value of type `ty` sent in binary format.
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError>;

    /// Whether this Rust type can be read from a binary value of type `ty`.
    fn accepts(ty: &Type) -> bool;

    /// Decodes a non-NULL value of type `ty` sent in text format (used for column types that have
    /// no binary decoder in this driver). Refuses by default.
    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        let _ = raw;
        Err(Box::new(TextNotSupported { ty: ty.clone() }))
    }

    /// Whether this Rust type can be read from a text-format value of type `ty`.
    fn accepts_text(_ty: &Type) -> bool {
        false
    }

    /// The value for SQL NULL: an error unless the Rust type can stand for NULL (`Option`).
    fn from_sql_null(ty: &Type) -> Result<Self, BoxError> {
        Err(Box::new(WasNull { ty: ty.clone() }))
    }
}

/// A [`FromSql`] type that owns its data, so it can be read from a row of any lifetime.
pub trait FromSqlOwned: for<'a> FromSql<'a> {}

impl<T> FromSqlOwned for T where T: for<'a> FromSql<'a> {}

/// Whether the driver decodes values of `ty` in binary format. Columns of other types are requested
/// in text format so they stay readable as text.
pub fn has_binary_decoder(ty: &Type) -> bool {
    builtin::has_binary_decoder(ty)
}

/// A NULL was read into a Rust type that cannot hold NULL.
#[derive(Debug, Clone)]
pub struct WasNull {
    /// The column's SQL type.
    pub ty: Type,
}

impl fmt::Display for WasNull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a NULL {} was read into a non-Option Rust type", self.ty)
    }
}

impl StdError for WasNull {}

/// A text-format value was read into a Rust type that only decodes binary values.
#[derive(Debug, Clone)]
pub struct TextNotSupported {
    /// The column's SQL type.
    pub ty: Type,
}

impl fmt::Display for TextNotSupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "values of type {} arrive in text format; read them as String or &str",
            self.ty
        )
    }
}

impl StdError for TextNotSupported {}
