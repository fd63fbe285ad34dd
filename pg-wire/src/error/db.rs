//! A server error (ErrorResponse) or notice (NoticeResponse) with all of its fields.
//!
//! Field codes follow "Error and Notice Message Fields" in the protocol chapter.

use std::fmt;

use super::sqlstate::SqlState;
use crate::proto::backend::ErrorFields;

/// The severity of a server error or notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// `ERROR`: the statement failed.
    Error,
    /// `FATAL`: the session ends.
    Fatal,
    /// `PANIC`: every session ends.
    Panic,
    /// `WARNING`.
    Warning,
    /// `NOTICE`.
    Notice,
    /// `DEBUG`.
    Debug,
    /// `INFO`.
    Info,
    /// `LOG`.
    Log,
}

impl Severity {
    /// Parses the non-localized severity (field `V`), such as `ERROR`.
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "ERROR" => Severity::Error,
            "FATAL" => Severity::Fatal,
            "PANIC" => Severity::Panic,
            "WARNING" => Severity::Warning,
            "NOTICE" => Severity::Notice,
            "DEBUG" => Severity::Debug,
            "INFO" => Severity::Info,
            "LOG" => Severity::Log,
            _ => return None,
        })
    }
}

/// Where in a query an error occurred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorPosition {
    /// A 1-based character position in the query the client sent (field `P`).
    Original(u32),
    /// A position in an internally generated query (fields `p` and `q`).
    Internal {
        /// The 1-based character position.
        position: u32,
        /// The internal query.
        query: String,
    },
}

/// An error or notice reported by the server, with every field it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    fields: ErrorFields,
    code: SqlState,
}

impl DbError {
    /// Builds a `DbError` from the fields of an ErrorResponse or NoticeResponse.
    pub fn from_fields(fields: ErrorFields) -> DbError {
        // The protocol says the code is always present; an empty code stands in if a server omits it.
        let code = SqlState::from_code(fields.get(b'C').unwrap_or(""));
        DbError { fields, code }
    }

    /// The SQLSTATE (field `C`).
    pub fn code(&self) -> &SqlState {
        &self.code
    }

    /// The localized severity as sent (field `S`), such as `ERROR` or `FEHLER`.
    pub fn severity(&self) -> &str {
        self.fields.get(b'S').unwrap_or("")
    }

    /// The non-localized severity (field `V`, servers 9.6 and later), parsed.
    pub fn parsed_severity(&self) -> Option<Severity> {
        self.fields
            .get(b'V')
            .or_else(|| self.fields.get(b'S'))
            .and_then(Severity::parse)
    }

    /// The primary message (field `M`).
    pub fn message(&self) -> &str {
        self.fields.get(b'M').unwrap_or("")
    }

    /// An optional secondary message with more detail (field `D`).
    pub fn detail(&self) -> Option<&str> {
        self.fields.get(b'D')
    }

    /// An optional suggestion what to do about the problem (field `H`).
    pub fn hint(&self) -> Option<&str> {
        self.fields.get(b'H')
    }

    /// Where in the query the error occurred (fields `P`, or `p` with `q`).
    pub fn position(&self) -> Option<ErrorPosition> {
        if let Some(position) = self.fields.get(b'P').and_then(|p| p.parse().ok()) {
            return Some(ErrorPosition::Original(position));
        }
        let position = self.fields.get(b'p')?.parse().ok()?;
        Some(ErrorPosition::Internal {
            position,
            query: self.fields.get(b'q').unwrap_or("").to_owned(),
        })
    }

    /// The context in which the error occurred, such as a call stack of functions (field `W`).
    pub fn where_(&self) -> Option<&str> {
        self.fields.get(b'W')
    }

    /// The schema of the object the error concerns (field `s`).
    pub fn schema(&self) -> Option<&str> {
        self.fields.get(b's')
    }

    /// The table the error concerns (field `t`).
    pub fn table(&self) -> Option<&str> {
        self.fields.get(b't')
    }

    /// The column the error concerns (field `c`).
    pub fn column(&self) -> Option<&str> {
        self.fields.get(b'c')
    }

    /// The data type the error concerns (field `d`).
    pub fn datatype(&self) -> Option<&str> {
        self.fields.get(b'd')
    }

    /// The constraint the error concerns (field `n`).
    pub fn constraint(&self) -> Option<&str> {
        self.fields.get(b'n')
    }

    /// The server source file that reported the error (field `F`).
    pub fn file(&self) -> Option<&str> {
        self.fields.get(b'F')
    }

    /// The line in that file (field `L`).
    pub fn line(&self) -> Option<u32> {
        self.fields.get(b'L').and_then(|l| l.parse().ok())
    }

    /// The server routine that reported the error (field `R`).
    pub fn routine(&self) -> Option<&str> {
        self.fields.get(b'R')
    }

    /// Every field as received, including codes this type has no accessor for.
    pub fn fields(&self) -> &ErrorFields {
        &self.fields
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (SQLSTATE {})",
            self.severity(),
            self.message(),
            self.code.code()
        )
    }
}

impl std::error::Error for DbError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_read_every_field() {
        let db = DbError::from_fields(ErrorFields::from_pairs([
            (b'S', "FEHLER"),
            (b'V', "ERROR"),
            (b'C', "42703"),
            (b'M', "column \"x\" does not exist"),
            (b'D', "detail"),
            (b'H', "hint"),
            (b'P', "8"),
            (b'W', "where"),
            (b's', "public"),
            (b't', "t"),
            (b'c', "x"),
            (b'd', "int4"),
            (b'n', "t_x_check"),
            (b'F', "parse_relation.c"),
            (b'L', "3651"),
            (b'R', "errorMissingColumn"),
        ]));
        assert_eq!(db.code(), &SqlState::UNDEFINED_COLUMN);
        assert_eq!(db.severity(), "FEHLER");
        assert_eq!(db.parsed_severity(), Some(Severity::Error));
        assert_eq!(db.detail(), Some("detail"));
        assert_eq!(db.hint(), Some("hint"));
        assert_eq!(db.position(), Some(ErrorPosition::Original(8)));
        assert_eq!(db.where_(), Some("where"));
        assert_eq!(db.schema(), Some("public"));
        assert_eq!(db.table(), Some("t"));
        assert_eq!(db.column(), Some("x"));
        assert_eq!(db.datatype(), Some("int4"));
        assert_eq!(db.constraint(), Some("t_x_check"));
        assert_eq!(db.file(), Some("parse_relation.c"));
        assert_eq!(db.line(), Some(3651));
        assert_eq!(db.routine(), Some("errorMissingColumn"));
    }

    #[test]
    fn internal_position() {
        let db = DbError::from_fields(ErrorFields::from_pairs([(b'p', "3"), (b'q', "SELECT 1/0")]));
        assert_eq!(
            db.position(),
            Some(ErrorPosition::Internal {
                position: 3,
                query: "SELECT 1/0".into()
            })
        );
    }
}
