//! `sslmode`: whether and how the connection negotiates TLS.
//!
//! The six values are libpq's. pg-wire has no TLS yet: the connection code treats `disable`, `allow`
//! and `prefer` as plaintext and refuses the stricter modes, but every mode parses so that a connection
//! string written for psql is understood (and a demand for TLS is never silently dropped).

use std::fmt;
use std::str::FromStr;

use crate::config::error::ConfigError;

/// libpq's `sslmode`. The default is [`SslMode::Prefer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum SslMode {
    /// `disable`: never use TLS.
    Disable,
    /// `allow`: plaintext first, TLS if the server insists.
    Allow,
    /// `prefer`: TLS if the server offers it, else plaintext (the default).
    #[default]
    Prefer,
    /// `require`: TLS, without checking the server's certificate.
    Require,
    /// `verify-ca`: TLS with a certificate signed by a trusted authority.
    VerifyCa,
    /// `verify-full`: as `verify-ca`, and the certificate must name the host.
    VerifyFull,
}

impl SslMode {
    /// Every mode, weakest first.
    pub const ALL: [SslMode; 6] = [
        SslMode::Disable,
        SslMode::Allow,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ];

    /// The libpq spelling (`verify-full`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether the connection must not proceed without TLS (`require` and stricter).
    pub fn requires_tls(self) -> bool {
        self >= SslMode::Require
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = ConfigError;

    /// Exact, lower-case names as libpq (`strcmp`).
    fn from_str(s: &str) -> Result<SslMode, ConfigError> {
        SslMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                ConfigError::invalid(format!(
                    "invalid sslmode value: \"{s}\" (expected disable, allow, prefer, require, \
                     verify-ca or verify-full)"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        for m in SslMode::ALL {
            assert_eq!(m.as_str().parse::<SslMode>().unwrap(), m);
            assert_eq!(m.to_string(), m.as_str());
        }
        assert_eq!(SslMode::default(), SslMode::Prefer);
        assert!(!SslMode::Prefer.requires_tls());
        assert!(SslMode::Require.requires_tls());
        assert!(SslMode::VerifyFull.requires_tls());
    }

    #[test]
    fn rejects_unknown() {
        let e = "Require".parse::<SslMode>().unwrap_err().to_string();
        assert!(e.starts_with("invalid sslmode value: \"Require\""), "{e}");
        assert!("".parse::<SslMode>().is_err());
    }
}
