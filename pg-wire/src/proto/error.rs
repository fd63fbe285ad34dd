//! Errors of the sans-IO core: a peer that broke the protocol, and a message the client could not
//! encode.

use std::fmt;

/// The server sent bytes that do not follow the protocol. The connection cannot be trusted after
/// this and is closed by the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// A message declared a length below 4 (the length counts itself).
    LengthTooShort {
        /// The message type byte.
        tag: u8,
        /// The declared length.
        len: i32,
    },
    /// A message declared a length above the limit for its type.
    MessageTooLarge {
        /// The message type byte.
        tag: u8,
        /// The declared length.
        len: usize,
        /// The largest length accepted for this type.
        limit: usize,
    },
    /// A message type byte that is not a backend message of protocol 3.0 or 3.2.
    UnknownMessageType {
        /// The message type byte.
        tag: u8,
    },
    /// A message ended before a field was complete.
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// A string field had no NUL terminator before the end of the message.
    MissingNul {
        /// The field being read.
        what: &'static str,
    },
    /// A text field was not valid UTF-8.
    InvalidUtf8 {
        /// The field being read.
        what: &'static str,
    },
    /// A message had bytes left after its last field.
    TrailingBytes {
        /// The message being read.
        what: &'static str,
        /// How many bytes were left.
        extra: usize,
    },
    /// A count that cannot fit in the rest of the message.
    CountExceedsBody {
        /// The counted items.
        what: &'static str,
        /// The count the peer sent.
        count: usize,
        /// The bytes left in the message.
        remaining: usize,
    },
    /// A field held a value the protocol does not allow.
    InvalidValue {
        /// The field being read.
        what: &'static str,
        /// The value received.
        value: i64,
    },
    /// A message arrived that the current state cannot receive.
    UnexpectedMessage {
        /// What the state expected.
        expected: &'static str,
        /// The message that came.
        got: &'static str,
    },
    /// A DataRow's field count differs from the RowDescription's.
    ColumnCountMismatch {
        /// Columns in the RowDescription.
        expected: usize,
        /// Fields in the DataRow.
        got: usize,
    },
    /// The server sent something the protocol allows but this client refuses, with the reason.
    Refused(String),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::LengthTooShort { tag, len } => write!(
                f,
                "message {} declares length {len}, below the minimum of 4",
                tag_name(*tag)
            ),
            ProtocolError::MessageTooLarge { tag, len, limit } => write!(
                f,
                "message {} declares length {len}, above the limit of {limit} bytes for this message type",
                tag_name(*tag)
            ),
            ProtocolError::UnknownMessageType { tag } => {
                write!(f, "unknown backend message type {}", tag_name(*tag))
            }
            ProtocolError::Truncated { what } => write!(f, "message ends inside {what}"),
            ProtocolError::MissingNul { what } => {
                write!(
                    f,
                    "{what} has no NUL terminator before the end of the message"
                )
            }
            ProtocolError::InvalidUtf8 { what } => write!(f, "{what} is not valid UTF-8"),
            ProtocolError::TrailingBytes { what, extra } => {
                write!(f, "{what} has {extra} unexpected trailing byte(s)")
            }
            ProtocolError::CountExceedsBody {
                what,
                count,
                remaining,
            } => write!(
                f,
                "{what}: count {count} cannot fit in the {remaining} byte(s) left in the message"
            ),
            ProtocolError::InvalidValue { what, value } => write!(f, "invalid {what}: {value}"),
            ProtocolError::UnexpectedMessage { expected, got } => {
                write!(f, "expected {expected}, received {got}")
            }
            ProtocolError::ColumnCountMismatch { expected, got } => write!(
                f,
                "DataRow has {got} field(s) but the RowDescription has {expected} column(s)"
            ),
            ProtocolError::Refused(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// A printable form of a message type byte: `'D'` for letters, `0x00` otherwise.
pub(crate) fn tag_name(tag: u8) -> String {
    if tag.is_ascii_graphic() {
        format!("'{}'", char::from(tag))
    } else {
        format!("0x{tag:02x}")
    }
}

/// A frontend message the client could not encode. Nothing was written to the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A value or count too large for its protocol field (a length that would not fit in an
    /// `Int32`, more than 65535 parameters, ...). Truncating it would let bytes of a value be read as
    /// a new message, so it is refused.
    TooLarge {
        /// The field.
        what: &'static str,
        /// The size that did not fit.
        size: usize,
    },
    /// A string sent as a NUL-terminated field contains a NUL byte.
    ContainsNul {
        /// The field.
        what: &'static str,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLarge { what, size } => {
                write!(f, "{what} is too large for the protocol ({size})")
            }
            EncodeError::ContainsNul { what } => write!(f, "{what} contains a NUL byte"),
        }
    }
}

impl std::error::Error for EncodeError {}
