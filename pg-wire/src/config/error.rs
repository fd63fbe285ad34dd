//! The one error type of the `config` module.
//!
//! Messages follow libpq's wording where libpq has one (so a message can be searched for), but they
//! never contain a password: not the value of a `password` option, not the password part of a URI, and
//! not text that might be a fragment of a password that ended up in the wrong place (the parsers
//! decide that with `Echo`).

use std::fmt;

/// What kind of problem a [`ConfigError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The connection string or URI is malformed (a missing `=`, an unterminated quote, a bad
    /// percent-escape, an unbalanced `[`).
    Syntax,
    /// A keyword that libpq does not know (`invalid connection option "foo"`).
    UnknownOption,
    /// A known keyword with a value that is not valid for it (a port of `70000`, `sslmode=sometimes`).
    InvalidValue,
    /// A valid libpq setting that pg-wire does not implement yet (`target_session_attrs=read-write`,
    /// `service=...`).
    Unsupported,
    /// The host, hostaddr and port lists cannot be paired up (`could not match 3 port numbers to 2
    /// hosts`).
    HostMismatch,
    /// No user name was configured and none could be found for the operating-system user.
    NoUser,
}

/// An error in connection settings: parsing a connection string, reading the environment, or
/// deriving the connection targets.
///
/// `Display` says exactly what is wrong and names the offending keyword, position or character. It
/// never includes a password.
///
/// ```
/// use pg_wire::config::{Config, ConfigErrorKind};
///
/// let err = "host=db port=70000".parse::<Config>().unwrap_err();
/// assert_eq!(err.kind(), ConfigErrorKind::InvalidValue);
/// assert_eq!(err.to_string(), r#"invalid port number: "70000" (expected 1 to 65535)"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    message: String,
}

impl ConfigError {
    pub(crate) fn new(kind: ConfigErrorKind, message: impl Into<String>) -> ConfigError {
        ConfigError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn syntax(message: impl Into<String>) -> ConfigError {
        ConfigError::new(ConfigErrorKind::Syntax, message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> ConfigError {
        ConfigError::new(ConfigErrorKind::InvalidValue, message)
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> ConfigError {
        ConfigError::new(ConfigErrorKind::Unsupported, message)
    }

    /// Puts `context` in front of the message (`environment variable PGPORT: ...`).
    pub(crate) fn context(self, context: &str) -> ConfigError {
        ConfigError {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
        }
    }

    /// The kind of problem.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Whether an error message may quote text from the input.
///
/// When a password may have been split in the wrong place (an unencoded `@` or `/` in a URI's
/// password, an unquoted space in a `password=` value), the fragments land in other fields, and a
/// message quoting those fields would print part of the password. In that state the parsers describe
/// the problem without quoting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Echo {
    /// Quoting input text is safe.
    Show,
    /// Input text might hold a fragment of a password: describe, do not quote.
    Hide,
}

impl Echo {
    /// `"text"` (quoted as libpq does), or a note that the text is withheld.
    pub(crate) fn quote(self, text: &str) -> String {
        match self {
            Echo::Show => format!("\"{text}\""),
            Echo::Hide => "(not shown: it may contain part of a password)".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_kind() {
        let e = ConfigError::invalid("bad").context("environment variable PGPORT");
        assert_eq!(e.kind(), ConfigErrorKind::InvalidValue);
        assert_eq!(e.to_string(), "environment variable PGPORT: bad");
    }

    #[test]
    fn echo_hides() {
        assert_eq!(Echo::Show.quote("x"), "\"x\"");
        assert!(!Echo::Hide.quote("secret").contains("secret"));
    }
}
