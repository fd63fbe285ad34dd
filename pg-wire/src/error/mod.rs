//! The one error type of pg-wire.
//!
//! [`Error::kind`] says which class of failure happened (I/O, protocol violation, authentication,
//! configuration, connection closed, timeout, type conversion, server error); a server error keeps
//! its SQLSTATE and every field the server sent ([`DbError`]). `Display` says one level; the cause
//! (an `io::Error`, a conversion error, ...) is available through `source()`.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;

use crate::config::ConfigError;
use crate::proto::backend::ErrorFields;
use crate::proto::startup::{AuthError, StartupError};
use crate::proto::{EncodeError, ProtocolError};

mod db;
mod sqlstate;

pub use db::{DbError, ErrorPosition, Severity};
pub use sqlstate::SqlState;

/// The class of an [`Error`], for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading from or writing to the socket failed, or connecting did.
    Io,
    /// The server broke the protocol; the connection was closed.
    Protocol,
    /// Authentication was refused by the client (a method `require_auth` does not allow, a SCRAM
    /// signature that does not verify, a missing password, ...). A wrong password is a server
    /// error with SQLSTATE 28P01.
    Authentication,
    /// The connection settings are invalid.
    Config,
    /// The connection is closed (by [`crate::Client::close`], by the server, or after an earlier
    /// fatal error, which is the source), or the [`crate::Pool`] is.
    Closed,
    /// An operation did not finish in time.
    Timeout,
    /// A value could not be converted between Rust and SQL (a parameter or a column).
    Conversion,
    /// A request could not be encoded (a string containing NUL, a value too large for the
    /// protocol, too many parameters).
    Encode,
    /// The server reported an error; see [`Error::as_db_error`].
    Db,
    /// The request was used wrongly (wrong number of parameters, no row where one was required...).
    Usage,
    /// `COMMIT` found the transaction already aborted by an earlier error: the server rolled it
    /// back instead of committing.
    RolledBack,
    /// A statement of a batch was not executed: an earlier statement in the same sync group
    /// failed, and the server skipped the rest of the group.
    Skipped,
    /// The connection was lost, or the server ended the session, while `COMMIT` was on its way or
    /// being answered: the transaction may or may not have been committed (SQLSTATE 08007,
    /// transaction resolution unknown). The driver never retries it; check the data before
    /// doing the work again. The source is what broke the connection.
    CommitOutcomeUnknown,
}

/// The SQLSTATE reported for [`ErrorKind::CommitOutcomeUnknown`].
static TRANSACTION_RESOLUTION_UNKNOWN: SqlState = SqlState::TRANSACTION_RESOLUTION_UNKNOWN;

/// An error from pg-wire.
#[derive(Clone)]
pub struct Error(Box<Inner>);

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    /// A prepared statement's description no longer matches its table (see `stale_statement`).
    stale: bool,
    message: String,
    db: Option<DbError>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl Error {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error(Box::new(Inner {
            stale: false,
            kind,
            message: message.into(),
            db: None,
            source: None,
        }))
    }

    fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Error {
        self.0.source = Some(Arc::new(source));
        self
    }

    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The server's error, when the server reported one.
    pub fn as_db_error(&self) -> Option<&DbError> {
        self.0.db.as_ref()
    }

    /// The SQLSTATE of a server error; for [`ErrorKind::CommitOutcomeUnknown`], 08007
    /// (transaction resolution unknown), as libpq-based drivers report it.
    pub fn code(&self) -> Option<&SqlState> {
        if self.0.kind == ErrorKind::CommitOutcomeUnknown {
            return Some(&TRANSACTION_RESOLUTION_UNKNOWN);
        }
        self.0.db.as_ref().map(DbError::code)
    }

    /// Whether the outcome of a `COMMIT` is unknown (see [`ErrorKind::CommitOutcomeUnknown`]).
    pub fn is_commit_outcome_unknown(&self) -> bool {
        self.0.kind == ErrorKind::CommitOutcomeUnknown
    }

    /// Whether the connection is closed and cannot be used again.
    pub fn is_closed(&self) -> bool {
        self.0.kind == ErrorKind::Closed
    }

    /// Whether an operation timed out.
    pub fn is_timeout(&self) -> bool {
        self.0.kind == ErrorKind::Timeout
    }

    /// An I/O error with what was being done (`connecting to ...`, `reading from the server`).
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::new(ErrorKind::Io, context).with_source(source)
    }

    /// The server broke the protocol.
    pub(crate) fn protocol(e: ProtocolError) -> Error {
        let message = match e {
            ProtocolError::Refused(_) => "the client refused what the server sent",
            _ => "protocol violation by the server",
        };
        Error::new(ErrorKind::Protocol, message).with_source(e)
    }

    pub(crate) fn encode(e: EncodeError) -> Error {
        Error::new(ErrorKind::Encode, "could not encode the request").with_source(e)
    }

    pub(crate) fn config(e: ConfigError) -> Error {
        Error::new(ErrorKind::Config, "invalid connection settings").with_source(e)
    }

    /// Settings that parse but ask for something pg-wire cannot do (TLS, for now).
    pub(crate) fn unsupported_setting(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    pub(crate) fn auth(e: AuthError) -> Error {
        Error::new(ErrorKind::Authentication, "authentication failed").with_source(e)
    }

    /// The connection is closed; `cause` is what closed it, if known.
    pub(crate) fn closed(cause: Option<Error>) -> Error {
        let error = Error::new(ErrorKind::Closed, "the connection is closed");
        match cause {
            Some(cause) => error.with_source(cause),
            None => error,
        }
    }

    /// A checkout from a [`crate::Pool`] that was closed (before or while waiting).
    pub(crate) fn pool_closed() -> Error {
        Error::new(ErrorKind::Closed, "the connection pool is closed")
    }

    pub(crate) fn timeout(what: impl Into<String>) -> Error {
        Error::new(ErrorKind::Timeout, what)
    }

    pub(crate) fn conversion(
        message: impl Into<String>,
        source: Option<Box<dyn StdError + Send + Sync>>,
    ) -> Error {
        let mut error = Error::new(ErrorKind::Conversion, message);
        error.0.source = source.map(Arc::from);
        error
    }

    pub(crate) fn rolled_back(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::RolledBack, message)
    }

    /// `COMMIT` failed in a way that leaves its outcome unknown (see
    /// [`Error::leaves_commit_unknown`]); `cause` says what happened.
    pub(crate) fn commit_outcome_unknown(cause: Error) -> Error {
        Error::new(
            ErrorKind::CommitOutcomeUnknown,
            "the connection was lost while COMMIT was in flight: the transaction may or may not have been committed",
        )
        .with_cause(cause)
    }

    /// For an error of a `COMMIT` that was sent: whether the server may have committed without
    /// the client hearing of it (the connection broke, the server ended the session with a
    /// FATAL error, or the wait timed out). An ordinary server error is a known failure: the
    /// transaction was rolled back.
    pub(crate) fn leaves_commit_unknown(&self) -> bool {
        match self.0.kind {
            ErrorKind::Io | ErrorKind::Closed | ErrorKind::Protocol | ErrorKind::Timeout => true,
            ErrorKind::Db => self.0.db.as_ref().is_some_and(|db| {
                matches!(
                    db.parsed_severity(),
                    Some(Severity::Fatal | Severity::Panic)
                )
            }),
            _ => false,
        }
    }

    pub(crate) fn skipped(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Skipped, message)
    }

    /// Records what led to this error as its `source()`.
    pub(crate) fn with_cause(self, cause: Error) -> Error {
        self.with_source(cause)
    }

    /// A statement whose columns changed since it was described (its table was altered).
    pub(crate) fn stale_statement() -> Error {
        let mut error = Error::new(
            ErrorKind::Usage,
            "the statement's result columns changed since it was prepared (its table was altered); prepare it again",
        );
        error.0.stale = true;
        error
    }

    /// Whether this is [`Error::stale_statement`].
    pub(crate) fn is_stale_description(&self) -> bool {
        self.0.stale
    }

    pub(crate) fn usage(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Usage, message)
    }

    /// A server error from an ErrorResponse's fields.
    pub(crate) fn db(fields: ErrorFields) -> Error {
        let db = DbError::from_fields(fields);
        let mut error = Error::new(ErrorKind::Db, String::new());
        error.0.db = Some(db);
        error
    }

    /// An error of startup, mapped to its class.
    pub(crate) fn startup(e: StartupError) -> Error {
        match e {
            StartupError::Protocol(e) => Error::protocol(e),
            StartupError::Encode(e) => Error::encode(e),
            StartupError::Server(fields) => Error::db(fields),
            StartupError::Auth(e) => Error::auth(e),
            StartupError::Unsupported(message) => Error::unsupported_setting(message),
        }
    }

    /// Adds where the error happened in front of the message (`connecting to host:5432`).
    pub(crate) fn context(mut self, context: impl fmt::Display) -> Error {
        self.0.message = if self.0.message.is_empty() {
            context.to_string()
        } else {
            format!("{context}: {}", self.0.message)
        };
        self
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Error {
        Error::config(e)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Error");
        s.field("kind", &self.0.kind);
        if !self.0.message.is_empty() {
            s.field("message", &self.0.message);
        }
        if let Some(db) = &self.0.db {
            s.field("db", db);
        }
        if let Some(source) = &self.0.source {
            s.field("source", source);
        }
        s.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.0.db, self.0.message.is_empty()) {
            (Some(db), true) => fmt::Display::fmt(db, f),
            (Some(db), false) => write!(f, "{}: {db}", self.0.message),
            (None, _) => f.write_str(&self.0.message),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// Formats an error with its chain of causes, `outer: inner: innermost`, for logs and examples.
pub fn report(error: &dyn StdError) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_level_and_report_follows_the_chain() {
        let e = Error::io(
            "could not connect to /tmp/x/.s.PGSQL.5432",
            io::Error::new(io::ErrorKind::NotFound, "No such file or directory"),
        );
        assert_eq!(e.to_string(), "could not connect to /tmp/x/.s.PGSQL.5432");
        assert_eq!(
            report(&e),
            "could not connect to /tmp/x/.s.PGSQL.5432: No such file or directory"
        );
        assert_eq!(e.kind(), ErrorKind::Io);
    }

    #[test]
    fn server_errors_keep_their_fields() {
        let e = Error::db(ErrorFields::from_pairs([
            (b'S', "ERROR"),
            (b'V', "ERROR"),
            (b'C', "23505"),
            (
                b'M',
                "duplicate key value violates unique constraint \"t_pkey\"",
            ),
            (b'n', "t_pkey"),
        ]));
        assert_eq!(e.kind(), ErrorKind::Db);
        assert_eq!(e.code(), Some(&SqlState::UNIQUE_VIOLATION));
        assert_eq!(
            e.as_db_error().and_then(DbError::constraint),
            Some("t_pkey")
        );
        assert_eq!(
            e.to_string(),
            "ERROR: duplicate key value violates unique constraint \"t_pkey\" (SQLSTATE 23505)"
        );
    }

    #[test]
    fn closed_keeps_its_cause() {
        let cause = Error::protocol(ProtocolError::UnknownMessageType { tag: b'x' });
        let e = Error::closed(Some(cause));
        assert!(e.is_closed());
        assert!(report(&e).contains("unknown backend message type 'x'"));
    }
}
