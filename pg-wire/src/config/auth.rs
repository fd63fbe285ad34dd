//! `require_auth`: which authentication methods the client accepts from the server.
//!
//! Follows libpq's `require_auth` option (PostgreSQL 16+): a comma-separated list of method names,
//! either all plain (`md5,scram-sha-256`: only these) or all negated (`!password,!md5`: anything but
//! these). `none` stands for "the server asked for no authentication at all" (trust, or a certificate).
//! Mixing plain and negated names, repeating a name, or an unknown name is an error, as in libpq.

use std::fmt;
use std::str::FromStr;

use crate::config::error::ConfigError;

/// An authentication method, by its libpq `require_auth` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// `password`: the cleartext password exchange.
    Password,
    /// `md5`: the MD5-hashed password exchange.
    Md5,
    /// `scram-sha-256`: SASL with SCRAM-SHA-256.
    ScramSha256,
    /// `gss`: Kerberos / GSSAPI.
    Gss,
    /// `sspi`: Windows SSPI.
    Sspi,
    /// `none`: the server completed authentication without asking the client for anything.
    None,
}

impl AuthMethod {
    /// Every method, in the order `RequireAuth`'s `Display` lists them.
    pub const ALL: [AuthMethod; 6] = [
        AuthMethod::Password,
        AuthMethod::Md5,
        AuthMethod::ScramSha256,
        AuthMethod::Gss,
        AuthMethod::Sspi,
        AuthMethod::None,
    ];

    /// The libpq name (`scram-sha-256`, `none`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Password => "password",
            AuthMethod::Md5 => "md5",
            AuthMethod::ScramSha256 => "scram-sha-256",
            AuthMethod::Gss => "gss",
            AuthMethod::Sspi => "sspi",
            AuthMethod::None => "none",
        }
    }

    fn from_name(name: &str) -> Option<AuthMethod> {
        AuthMethod::ALL.into_iter().find(|m| m.as_str() == name)
    }

    const fn bit(self) -> u8 {
        match self {
            AuthMethod::Password => 1,
            AuthMethod::Md5 => 1 << 1,
            AuthMethod::ScramSha256 => 1 << 2,
            AuthMethod::Gss => 1 << 3,
            AuthMethod::Sspi => 1 << 4,
            AuthMethod::None => 1 << 5,
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of authentication methods the client accepts (libpq's `require_auth`).
///
/// The default, [`RequireAuth::any`], accepts everything. Parsing follows libpq:
///
/// ```
/// use pg_wire::config::{AuthMethod, RequireAuth};
///
/// let only: RequireAuth = "scram-sha-256".parse().unwrap();
/// assert!(only.allows(AuthMethod::ScramSha256));
/// assert!(!only.allows(AuthMethod::Md5));
/// assert!(!only.allows(AuthMethod::None)); // the server must ask for something
///
/// let not: RequireAuth = "!password,!md5".parse().unwrap();
/// assert!(!not.allows(AuthMethod::Password));
/// assert!(not.allows(AuthMethod::None));
///
/// assert!("md5,!password".parse::<RequireAuth>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequireAuth {
    /// One bit per [`AuthMethod`] (see `AuthMethod::bit`).
    allowed: u8,
}

const ALL_BITS: u8 = (1 << 6) - 1;

/// The value `Config::get_require_auth` lends out when nothing was set.
pub(crate) static ANY_AUTH: RequireAuth = RequireAuth { allowed: ALL_BITS };

impl RequireAuth {
    /// Every method allowed, including no authentication at all (the default).
    pub fn any() -> RequireAuth {
        ANY_AUTH
    }

    /// Exactly the given methods. Include [`AuthMethod::None`] to also accept a server that asks for
    /// no authentication. `only(&[])` accepts nothing.
    pub fn only(methods: &[AuthMethod]) -> RequireAuth {
        RequireAuth {
            allowed: methods.iter().fold(0, |bits, m| bits | m.bit()),
        }
    }

    /// Whether `method` is acceptable.
    pub fn allows(&self, method: AuthMethod) -> bool {
        self.allowed & method.bit() != 0
    }

    /// Whether every method is allowed (no restriction).
    pub fn is_any(&self) -> bool {
        self.allowed == ALL_BITS
    }
}

impl Default for RequireAuth {
    fn default() -> RequireAuth {
        RequireAuth::any()
    }
}

impl FromStr for RequireAuth {
    type Err = ConfigError;

    /// Parses libpq's `require_auth` syntax. An empty string means no restriction.
    fn from_str(s: &str) -> Result<RequireAuth, ConfigError> {
        if s.is_empty() {
            return Ok(RequireAuth::any());
        }
        let mut negated = false;
        let mut allowed = 0u8;
        // libpq 18 knows `oauth`, which pg-wire cannot do: `!oauth` is harmless and accepted.
        let mut oauth_seen = false;
        for (i, part) in s.split(',').enumerate() {
            let (neg, name) = match part.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, part),
            };
            if i == 0 {
                negated = neg;
                allowed = if neg { ALL_BITS } else { 0 };
            } else if neg && !negated {
                return Err(ConfigError::invalid(format!(
                    "negative require_auth method \"{part}\" cannot be mixed with non-negative methods"
                )));
            } else if !neg && negated {
                return Err(ConfigError::invalid(format!(
                    "require_auth method \"{part}\" cannot be mixed with negative methods"
                )));
            }
            let duplicate = || {
                ConfigError::invalid(format!(
                    "require_auth method \"{part}\" is specified more than once"
                ))
            };
            if name == "oauth" {
                if !negated {
                    return Err(ConfigError::unsupported(
                        "require_auth method \"oauth\" is not supported by pg-wire",
                    ));
                }
                if oauth_seen {
                    return Err(duplicate());
                }
                oauth_seen = true;
                continue;
            }
            let Some(method) = AuthMethod::from_name(name) else {
                return Err(ConfigError::invalid(format!(
                    "invalid require_auth value: \"{name}\" (expected password, md5, \
                     scram-sha-256, gss, sspi or none, optionally each preceded by \"!\")"
                )));
            };
            let bit = method.bit();
            if negated {
                if allowed & bit == 0 {
                    return Err(duplicate());
                }
                allowed &= !bit;
            } else {
                if allowed & bit != 0 {
                    return Err(duplicate());
                }
                allowed |= bit;
            }
        }
        Ok(RequireAuth { allowed })
    }
}

impl fmt::Display for RequireAuth {
    /// The libpq spelling: empty for [`RequireAuth::any`], the allowed methods otherwise (all of them
    /// negated when nothing is allowed). Parsing the output gives the same set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            return Ok(());
        }
        let nothing = self.allowed == 0;
        let mut first = true;
        for m in AuthMethod::ALL {
            if nothing || self.allows(m) {
                if !first {
                    f.write_str(",")?;
                }
                first = false;
                if nothing {
                    f.write_str("!")?;
                }
                f.write_str(m.as_str())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        match s.parse::<RequireAuth>() {
            Ok(r) => panic!("{s:?} parsed as {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn default_allows_everything() {
        let r = RequireAuth::default();
        assert!(r.is_any());
        for m in AuthMethod::ALL {
            assert!(r.allows(m), "{m}");
        }
        assert_eq!("".parse::<RequireAuth>().unwrap(), r);
    }

    #[test]
    fn positive_list() {
        let r: RequireAuth = "md5,scram-sha-256".parse().unwrap();
        assert_eq!(
            r,
            RequireAuth::only(&[AuthMethod::Md5, AuthMethod::ScramSha256])
        );
        assert!(!r.allows(AuthMethod::Password));
        assert!(!r.allows(AuthMethod::None));
        let r: RequireAuth = "none".parse().unwrap();
        assert!(r.allows(AuthMethod::None));
        assert!(!r.allows(AuthMethod::ScramSha256));
    }

    #[test]
    fn negative_list() {
        let r: RequireAuth = "!password,!md5".parse().unwrap();
        assert!(!r.allows(AuthMethod::Password));
        assert!(!r.allows(AuthMethod::Md5));
        assert!(r.allows(AuthMethod::ScramSha256));
        assert!(r.allows(AuthMethod::None));
        let r: RequireAuth = "!none".parse().unwrap();
        assert!(!r.allows(AuthMethod::None));
        assert!(r.allows(AuthMethod::Gss));
        let r: RequireAuth = "!oauth".parse().unwrap();
        assert!(r.is_any());
    }

    #[test]
    fn errors_match_libpq() {
        assert_eq!(
            err("md5,!md5"),
            "negative require_auth method \"!md5\" cannot be mixed with non-negative methods"
        );
        assert_eq!(
            err("!md5,password"),
            "require_auth method \"password\" cannot be mixed with negative methods"
        );
        assert_eq!(
            err("md5,md5"),
            "require_auth method \"md5\" is specified more than once"
        );
        assert_eq!(
            err("!none,!none"),
            "require_auth method \"!none\" is specified more than once"
        );
        assert!(err("kerberos").starts_with("invalid require_auth value: \"kerberos\""));
        assert!(err("md5,").starts_with("invalid require_auth value: \"\""));
        assert!(err("md5, scram-sha-256").starts_with("invalid require_auth value: \" scram"));
        assert!(err("MD5").starts_with("invalid require_auth value: \"MD5\""));
        assert_eq!(
            err("oauth"),
            "require_auth method \"oauth\" is not supported by pg-wire"
        );
        assert!(err("!oauth,!oauth").contains("more than once"));
    }

    #[test]
    fn display_round_trips() {
        let mut all = vec![RequireAuth::any(), RequireAuth::only(&[])];
        for bits in 0..=ALL_BITS {
            all.push(RequireAuth { allowed: bits });
        }
        for r in all {
            let text = r.to_string();
            assert_eq!(text.parse::<RequireAuth>().unwrap(), r, "{text:?}");
        }
        assert_eq!(RequireAuth::any().to_string(), "");
        assert_eq!(
            RequireAuth::only(&[AuthMethod::ScramSha256, AuthMethod::None]).to_string(),
            "scram-sha-256,none"
        );
        assert_eq!(
            RequireAuth::only(&[]).to_string(),
            "!password,!md5,!scram-sha-256,!gss,!sspi,!none"
        );
    }
}
