//! The ORM's error type: the driver's errors, plus the ORM's own cases.

use std::fmt;

/// An error from the ORM.
#[derive(Debug)]
#[non_exhaustive]
pub enum OrmError {
    /// The driver or the server reported an error (a constraint violation keeps its SQLSTATE and
    /// constraint name: see [`pg_wire::Error::as_db_error`]).
    Driver(pg_wire::Error),
    /// A query that had to find a row found none (`one`, `get` of a required row).
    NotFound(String),
    /// A query that had to find at most one row found several (`one`, `one_or_none`).
    MultipleRows(String),
    /// A row changed or disappeared under the session (an UPDATE or DELETE of a flushed object
    /// matched no row).
    StaleData(String),
    /// A value did not fit a model field.
    Value(String),
    /// The ORM was used in a way it does not support; the text says how.
    Usage(String),
    /// The server rolled the transaction back instead of committing it (it had been aborted by
    /// an earlier error, so PostgreSQL answered `COMMIT` with `ROLLBACK`).
    RolledBack(String),
}

impl OrmError {
    pub(crate) fn value(message: impl Into<String>) -> OrmError {
        OrmError::Value(message.into())
    }

    pub(crate) fn usage(message: impl Into<String>) -> OrmError {
        OrmError::Usage(message.into())
    }

    /// The driver's error, if this is one.
    pub fn as_driver_error(&self) -> Option<&pg_wire::Error> {
        match self {
            OrmError::Driver(e) => Some(e),
            _ => None,
        }
    }

    /// The SQLSTATE of a server error.
    pub fn code(&self) -> Option<&pg_wire::SqlState> {
        self.as_driver_error().and_then(pg_wire::Error::code)
    }
}

impl fmt::Display for OrmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrmError::Driver(e) => match e.as_db_error().and_then(|db| db.constraint()) {
                Some(constraint) => write!(f, "{e} (constraint {constraint})"),
                None => fmt::Display::fmt(e, f),
            },
            OrmError::NotFound(what) => write!(f, "no row found: {what}"),
            OrmError::MultipleRows(what) => write!(f, "more than one row found: {what}"),
            OrmError::StaleData(what) => write!(f, "stale data: {what}"),
            OrmError::Value(message) | OrmError::Usage(message) => f.write_str(message),
            OrmError::RolledBack(what) => write!(f, "transaction rolled back: {what}"),
        }
    }
}

impl std::error::Error for OrmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OrmError::Driver(e) => e.source(),
            _ => None,
        }
    }
}

impl From<pg_wire::Error> for OrmError {
    fn from(e: pg_wire::Error) -> OrmError {
        OrmError::Driver(e)
    }
}
