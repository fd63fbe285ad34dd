//! Mapping between Rust values and PostgreSQL values.
//!
//! [`ToSql`] writes a Rust value as a bound parameter, [`FromSql`] reads a column value. Both work on
//! the binary wire format by default; a type the driver has no binary decoder for arrives in text
//! format and can still be read as a `String` or `&str` (see [`FromSql::from_sql_text`]).
//!
//! Every decoder checks the exact width it expects: a 3-byte `int4` is an error, never a panic.
//!
//! | SQL                                  | Rust (read and written)                                   |
//! |--------------------------------------|-----------------------------------------------------------|
//! | `bool`, `"char"`, integers, floats   | `bool`, `i8`, `i16`/`i32`/`i64`/`u32`, `f32`/`f64`        |
//! | `text`, `varchar`, `name`, ...       | `String`, `&str`                                          |
//! | `bytea`                              | `Vec<u8>`, `&[u8]`                                        |
//! | `date`, `time`, `timestamp[tz]`      | chrono types, [`Date`], [`Timestamp`]                     |
//! | `interval`                           | [`Interval`]                                              |
//! | `numeric`                            | [`Numeric`] (exact; also read as `String`)                |
//! | `json`, `jsonb`                      | `String`, `&str`; `serde_json::Value` (feature `serde_json`) |
//! | `uuid`                               | `uuid::Uuid` (feature `uuid`); read as `String` always    |
//! | `inet`, `cidr`                       | `std::net::IpAddr`, [`Inet`], [`Cidr`]                    |
//! | arrays of the above                  | `Vec<T>`, `&[T]`, [`Array<T>`] (`T = Option<_>` for NULLs) |
//! | enums, domains, other types          | `String`/`&str` in text format, or your own type (below)  |
//!
//! Columns of the types in the table, and arrays of them, are requested in binary format (see
//! [`has_binary_decoder`]); whether a feature is enabled never changes that. `String` reads the
//! binary values of `numeric`, `uuid`, `interval`, `inet`, `cidr`, and of arrays of these or of
//! text-like types, converted to the text the server would have sent (`&str` cannot borrow such a
//! conversion: read them as `String`).
//!
//! # Enums, domains and other types without a binary decoder
//!
//! A column whose type the driver does not decode in binary (a user enum, a composite, a domain
//! over such a type, an extension type) arrives in text format: `String`/`&str` read it, and
//! `String`/`&str` parameters are sent in text format and accepted for every type, so the server
//! parses them with the type's input function. A domain over a known type needs nothing special:
//! the server describes a domain column with its base type's OID, so it decodes as the base type.
//!
//! To map your own Rust type, write the text form in both directions. User types have OIDs that
//! differ from one database to another, so the example accepts any type and lets the server check
//! the label:
//!
//! ```
//! use bytes::{BufMut, BytesMut};
//! use pg_wire::types::{BoxError, Format, FromSql, IsNull, ToSql, Type, has_binary_decoder};
//!
//! /// `CREATE TYPE mood AS ENUM ('happy', 'sad')`
//! #[derive(Debug, PartialEq)]
//! enum Mood {
//!     Happy,
//!     Sad,
//! }
//!
//! impl ToSql for Mood {
//!     fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
//!         out.put_slice(match self {
//!             Mood::Happy => b"happy",
//!             Mood::Sad => b"sad",
//!         });
//!         Ok(IsNull::No)
//!     }
//!
//!     fn accepts(&self, _ty: &Type) -> bool {
//!         true
//!     }
//!
//!     fn encode_format(&self, _ty: &Type) -> Format {
//!         Format::Text
//!     }
//! }
//!
//! impl<'a> FromSql<'a> for Mood {
//!     fn from_sql(ty: &Type, _raw: &'a [u8]) -> Result<Self, BoxError> {
//!         Err(format!("a {ty} value arrives in text format").into())
//!     }
//!
//!     fn accepts(_ty: &Type) -> bool {
//!         false
//!     }
//!
//!     fn from_sql_text(_ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
//!         match raw {
//!             "happy" => Ok(Mood::Happy),
//!             "sad" => Ok(Mood::Sad),
//!             other => Err(format!("unknown mood {other:?}").into()),
//!         }
//!     }
//!
//!     /// Any type the driver does not know (the enum's OID is not a built-in one).
//!     fn accepts_text(ty: &Type) -> bool {
//!         ty.name().is_none()
//!     }
//! }
//!
//! // The OIDs come from the server (RowDescription, ParameterDescription).
//! let mood = Type::from_oid(16_390);
//! let mood_array = Type::from_oid(16_389);
//! assert!(!has_binary_decoder(&mood));
//!
//! let mut buf = BytesMut::new();
//! Mood::Sad.to_sql(&mood, &mut buf).unwrap();
//! assert_eq!(&buf[..], b"sad");
//! assert_eq!(Mood::from_sql_text(&mood, "happy").unwrap(), Mood::Happy);
//!
//! // `mood[]` works through the text array format, in both directions.
//! let mut buf = BytesMut::new();
//! assert_eq!(vec![Mood::Happy, Mood::Sad].encode_format(&mood_array), Format::Text);
//! vec![Mood::Happy, Mood::Sad].to_sql(&mood_array, &mut buf).unwrap();
//! assert_eq!(&buf[..], b"{happy,sad}");
//! let read = Vec::<Mood>::from_sql_text(&mood_array, "{sad,happy}").unwrap();
//! assert_eq!(read, [Mood::Sad, Mood::Happy]);
//! let names = Vec::<String>::from_sql_text(&mood_array, "{sad,NULL}");
//! assert!(names.is_err()); // a NULL element needs Vec<Option<String>>
//! ```

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

mod array;
mod builtin;
mod datetime;
mod interval;
#[cfg(feature = "serde_json")]
mod json;
mod kind;
mod net;
mod numeric;
mod reader;
mod text;
mod uuid_type;

pub use array::{Array, ArrayShapeError, Dimension, MAX_DIMENSIONS, WrongDimensions};
pub use builtin::{InvalidBinary, InvalidText, NulInString, OutOfRange, WrongLength, WrongType};
pub use datetime::{Date, Infinite, Timestamp};
pub use interval::{Interval, ParseIntervalError};
pub use kind::{Oid, Type};
pub use net::{Cidr, Inet, InvalidNetwork, ParseNetworkError};
pub use numeric::{Numeric, ParseNumericError, TryFromNumericError};

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

    /// Decodes a non-NULL text-format value held in a temporary string rather than in the row: an
    /// element of a text-format array that contained `"` or `\` and had to be unescaped. A type
    /// that owns its data can forward to [`FromSql::from_sql_text`] (`String`, `Option<T>`,
    /// `i8` and `serde_json::Value` do); the default refuses, as a borrowed `&'a str` cannot point
    /// into a temporary.
    fn from_sql_text_owned(ty: &Type, raw: String) -> Result<Self, BoxError> {
        Err(format!(
            "the text array element {raw:?} of type {ty} had to be unescaped, which Rust type `{}` \
             cannot hold; read the array as Vec<String>",
            std::any::type_name::<Self>()
        )
        .into())
    }
}

/// A [`FromSql`] type that owns its data, so it can be read from a row of any lifetime.
pub trait FromSqlOwned: for<'a> FromSql<'a> {}

impl<T> FromSqlOwned for T where T: for<'a> FromSql<'a> {}

/// Whether the driver decodes values of `ty` in binary format. Columns of other types are requested
/// in text format so they stay readable as text.
///
/// True for `bool`, `"char"`, the integers, `oid`, the floats, the text-like types, `bytea`,
/// `json`, `jsonb`, `numeric`, `uuid`, `date`, `time`, `timestamp`, `timestamptz`, `interval`,
/// `inet`, `cidr`, and the array types of all of these. It does not depend on the crate's features.
///
/// ```
/// use pg_wire::types::{Type, has_binary_decoder};
///
/// assert!(has_binary_decoder(&Type::NUMERIC));
/// assert!(has_binary_decoder(&Type::INT4_ARRAY));
/// assert!(!has_binary_decoder(&Type::TIMETZ_ARRAY));
/// assert!(!has_binary_decoder(&Type::from_oid(16_390))); // a user enum
/// ```
pub fn has_binary_decoder(ty: &Type) -> bool {
    match ty.array_element() {
        Some(element) => builtin::has_binary_decoder(&element),
        None => builtin::has_binary_decoder(ty),
    }
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
