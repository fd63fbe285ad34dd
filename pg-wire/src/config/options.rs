//! The connection keywords: which ones exist, how each value is checked, and where it is stored.
//!
//! This is the one place that knows libpq's keyword list; the key=value parser, the URI parser, the
//! environment step and the [`Url`](crate::config::Url) builder all go through [`apply`].
//!
//! Besides the keywords pg-wire implements, a few libpq keywords are accepted and ignored because they
//! only tune things pg-wire does not do yet and ignoring them cannot weaken a connection
//! ([`IGNORED`]); a few are accepted only with the values that ask for nothing pg-wire lacks
//! (`channel_binding`, `gssencmode`, `target_session_attrs`, `load_balance_hosts`, `replication`,
//! `requirepeer`); and a few are refused as not supported yet (`service`, OAuth). A keyword libpq does
//! not know is an error, as in libpq.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::error::{ConfigError, ConfigErrorKind, Echo};
use crate::config::protocol::ProtocolVersion;
use crate::config::target::Host;
use crate::config::{Config, DEFAULT_PORT};

/// libpq keywords accepted and ignored: TCP keepalive tuning, and TLS / GSSAPI details that only
/// matter once those exist (a connection that demands TLS or GSSAPI fails anyway, through `sslmode`
/// or `gssencmode`).
pub(crate) const IGNORED: [&str; 20] = [
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslcompression",
    "sslsni",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslcrl",
    "sslcrldir",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "sslnegotiation",
    "sslkeylogfile",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
];

/// Keywords checked but not stored as a setting of their own (recorded in `other_keywords`).
const CHECKED: [&str; 9] = [
    "client_encoding",
    "target_session_attrs",
    "channel_binding",
    "gssencmode",
    "load_balance_hosts",
    "replication",
    "requirepeer",
    "sslrootcert",
    "service",
];

/// The OAuth keywords of libpq 18: refused, since pg-wire cannot do OAuth.
const OAUTH: [&str; 4] = [
    "oauth_issuer",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_scope",
];

/// Where a keyword came from: decides the wording of the unknown-keyword error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A `key=value` connection string, or an environment variable.
    KeyValue,
    /// A URI query parameter (or a [`Url`](crate::config::Url) query pair).
    UriQuery,
}

/// Checks `value` for `keyword` and stores it in `config`, overriding an earlier value.
///
/// `value` is bytes because a percent-decoded URI part need not be UTF-8; every keyword but `password`
/// requires UTF-8. `echo` says whether the error may quote the value; the value of `password` is never
/// quoted.
pub(crate) fn apply(
    config: &mut Config,
    keyword: &str,
    value: &[u8],
    echo: Echo,
    origin: Origin,
) -> Result<(), ConfigError> {
    if keyword == "password" {
        config.password = Some(value.to_vec());
        return Ok(());
    }
    let Ok(text) = std::str::from_utf8(value) else {
        return Err(ConfigError::invalid(format!(
            "the value of {} is not valid UTF-8",
            echo.quote(keyword)
        )));
    };
    let quoted = || echo.quote(text);
    match keyword {
        "user" => config.user = Some(text.to_owned()),
        "dbname" => config.dbname = Some(text.to_owned()),
        "host" => config.hosts = Some(split_list(text).map(Host::from).collect()),
        "hostaddr" => config.hostaddrs = Some(parse_hostaddrs(text, echo)?),
        "port" => config.ports = Some(parse_ports(text, echo)?),
        "passfile" => config.passfile = Some(PathBuf::from(text)),
        "connect_timeout" => {
            config.connect_timeout = Some(parse_connect_timeout(text, echo)?);
        }
        "application_name" => config.application_name = Some(text.to_owned()),
        "fallback_application_name" => {
            config.fallback_application_name = Some(text.to_owned());
        }
        "options" => config.options = Some(text.to_owned()),
        "sslmode" => {
            config.ssl_mode = Some(text.parse().map_err(|_| {
                ConfigError::invalid(format!(
                    "invalid sslmode value: {} (expected disable, allow, prefer, require, \
                     verify-ca or verify-full)",
                    quoted()
                ))
            })?);
        }
        // libpq's pre-9.3 spelling: a value starting with "1" is sslmode=require, anything else prefer.
        "requiressl" => {
            let mode = if text.starts_with('1') {
                crate::config::SslMode::Require
            } else {
                crate::config::SslMode::Prefer
            };
            config.ssl_mode = Some(mode);
        }
        "require_auth" => {
            // The require_auth messages quote method names, never anything from a password.
            config.require_auth = Some(text.parse().map_err(|e: ConfigError| match echo {
                Echo::Show => e,
                Echo::Hide => ConfigError::new(
                    e.kind(),
                    format!("invalid require_auth value: {}", quoted()),
                ),
            })?);
        }
        "min_protocol_version" | "max_protocol_version" => {
            let version = ProtocolVersion::parse_for(keyword, text).map_err(|_| {
                ConfigError::invalid(format!(
                    "invalid {keyword} value: {} (expected 3.0, 3.2 or latest)",
                    quoted()
                ))
            })?;
            if keyword == "min_protocol_version" {
                config.min_protocol_version = Some(version);
            } else {
                config.max_protocol_version = Some(version);
            }
        }
        _ => {
            if let Some(name) = IGNORED.iter().find(|k| **k == keyword) {
                remember(config, name);
            } else if let Some(name) = CHECKED.iter().find(|k| **k == keyword) {
                check_other(config, name, text, echo)?;
                remember(config, name);
            } else if OAUTH.contains(&keyword) {
                return Err(ConfigError::unsupported(format!(
                    "connection option \"{keyword}\" is not supported: pg-wire cannot do OAuth"
                )));
            } else {
                let name = echo.quote(keyword);
                return Err(ConfigError::new(
                    ConfigErrorKind::UnknownOption,
                    match origin {
                        Origin::KeyValue => format!("invalid connection option {name}"),
                        Origin::UriQuery => format!("invalid URI query parameter: {name}"),
                    },
                ));
            }
        }
    }
    Ok(())
}

/// Whether `keyword` has been given (by any earlier step): the environment leaves it alone then.
pub(crate) fn is_set(config: &Config, keyword: &str) -> bool {
    match keyword {
        "user" => config.user.is_some(),
        "password" => config.password.is_some(),
        "dbname" => config.dbname.is_some(),
        "host" => config.hosts.is_some(),
        "hostaddr" => config.hostaddrs.is_some(),
        "port" => config.ports.is_some(),
        "passfile" => config.passfile.is_some(),
        "connect_timeout" => config.connect_timeout.is_some(),
        "application_name" => config.application_name.is_some(),
        "fallback_application_name" => config.fallback_application_name.is_some(),
        "options" => config.options.is_some(),
        "sslmode" | "requiressl" => config.ssl_mode.is_some(),
        "require_auth" => config.require_auth.is_some(),
        "min_protocol_version" => config.min_protocol_version.is_some(),
        "max_protocol_version" => config.max_protocol_version.is_some(),
        other => config.other_keywords.contains(&other),
    }
}

fn remember(config: &mut Config, keyword: &'static str) {
    if !config.other_keywords.contains(&keyword) {
        config.other_keywords.push(keyword);
    }
}

/// The keywords that are checked but not stored: accept what pg-wire does anyway, refuse what it
/// cannot do (never silently drop a requirement).
fn check_other(
    config: &mut Config,
    keyword: &str,
    text: &str,
    echo: Echo,
) -> Result<(), ConfigError> {
    let invalid = |expected: &str| {
        ConfigError::invalid(format!(
            "invalid {keyword} value: {} (expected {expected})",
            echo.quote(text)
        ))
    };
    let not_yet = |what: &str| {
        ConfigError::unsupported(format!(
            "{keyword}={} is not supported yet: {what}",
            echo.quote(text)
        ))
    };
    match keyword {
        "client_encoding" => {
            // PostgreSQL ignores case and punctuation in encoding names (UTF8 = utf-8 = Utf_8).
            let normalized: String = text
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .collect();
            if normalized != "utf8" {
                return Err(ConfigError::unsupported(format!(
                    "client_encoding {} is not supported: pg-wire only speaks UTF8",
                    echo.quote(text)
                )));
            }
        }
        "target_session_attrs" => match text {
            "any" => {}
            "read-write" | "read-only" | "primary" | "standby" | "prefer-standby" => {
                return Err(not_yet(
                    "pg-wire only connects with target_session_attrs=any",
                ));
            }
            _ => {
                return Err(invalid(
                    "any, read-write, read-only, primary, standby or prefer-standby",
                ));
            }
        },
        "channel_binding" => match text {
            "disable" | "prefer" => {}
            "require" => return Err(not_yet("pg-wire has no TLS, so no channel to bind")),
            _ => return Err(invalid("disable, prefer or require")),
        },
        "gssencmode" => match text {
            "disable" | "prefer" => {}
            "require" => return Err(not_yet("pg-wire has no GSSAPI encryption")),
            _ => return Err(invalid("disable, prefer or require")),
        },
        "load_balance_hosts" => match text {
            "disable" => {}
            "random" => return Err(not_yet("pg-wire tries hosts in the order given")),
            _ => return Err(invalid("disable or random")),
        },
        "replication"
            if !matches!(
                text.to_ascii_lowercase().as_str(),
                "0" | "false" | "off" | "no"
            ) =>
        {
            return Err(not_yet("pg-wire has no replication connections"));
        }
        "requirepeer" if !text.is_empty() => {
            return Err(not_yet("pg-wire does not check the server's peer user"));
        }
        // libpq: with sslrootcert=system, the default sslmode becomes verify-full.
        "sslrootcert" => config.sslrootcert_system = text == "system",
        "service" => {
            return Err(not_yet(
                "connection service files are not read; give the settings directly",
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Splits a comma-separated list as libpq's `parse_comma_separated_list`: an empty string is an
/// empty list, otherwise every element counts, empty ones included.
fn split_list(text: &str) -> impl Iterator<Item = &str> {
    let mut parts = text.split(',');
    if text.is_empty() {
        // Drain the one empty element `split` would yield.
        parts.next();
    }
    parts
}

/// C's `isspace` in the "C" locale (which `char::is_ascii_whitespace` misses `\v` of).
pub(crate) fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')
}

/// libpq's `pqParseIntParam`: an optionally signed decimal integer with optional surrounding
/// whitespace, fitting an `int`.
fn parse_c_int(text: &str) -> Option<i32> {
    let t = text.trim_matches(is_c_space);
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    t.parse().ok()
}

fn parse_ports(text: &str, echo: Echo) -> Result<Vec<u16>, ConfigError> {
    split_list(text)
        .map(|item| {
            if item.is_empty() {
                return Ok(DEFAULT_PORT);
            }
            let Some(n) = parse_c_int(item) else {
                return Err(ConfigError::invalid(format!(
                    "invalid integer value {} for connection option \"port\"",
                    echo.quote(item)
                )));
            };
            u16::try_from(n).ok().filter(|p| *p != 0).ok_or_else(|| {
                ConfigError::invalid(format!(
                    "invalid port number: {} (expected 1 to 65535)",
                    echo.quote(item)
                ))
            })
        })
        .collect()
}

fn parse_hostaddrs(text: &str, echo: Echo) -> Result<Vec<IpAddr>, ConfigError> {
    split_list(text)
        .enumerate()
        .map(|(i, item)| {
            if item.is_empty() {
                return Err(ConfigError::unsupported(format!(
                    "empty element {} in the hostaddr list is not supported: give an address for \
                     every host",
                    i + 1
                )));
            }
            item.parse().map_err(|_| {
                ConfigError::invalid(format!(
                    "invalid hostaddr value: {} (expected a numeric IPv4 or IPv6 address)",
                    echo.quote(item)
                ))
            })
        })
        .collect()
}

fn parse_connect_timeout(text: &str, echo: Echo) -> Result<Duration, ConfigError> {
    let Some(seconds) = parse_c_int(text) else {
        return Err(ConfigError::invalid(format!(
            "invalid integer value {} for connection option \"connect_timeout\"",
            echo.quote(text)
        )));
    };
    let seconds = u64::try_from(seconds).map_err(|_| {
        ConfigError::invalid(format!(
            "invalid connect_timeout value: {} (expected a number of seconds, 0 for none)",
            echo.quote(text)
        ))
    })?;
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SslMode;

    fn set(keyword: &str, value: &str) -> Result<Config, String> {
        let mut c = Config::new();
        apply(
            &mut c,
            keyword,
            value.as_bytes(),
            Echo::Show,
            Origin::KeyValue,
        )
        .map(|()| c)
        .map_err(|e| e.to_string())
    }

    #[test]
    fn lists() {
        assert_eq!(split_list("").count(), 0);
        assert_eq!(split_list("a").collect::<Vec<_>>(), ["a"]);
        assert_eq!(split_list("a,,b").collect::<Vec<_>>(), ["a", "", "b"]);
        assert_eq!(split_list(",").collect::<Vec<_>>(), ["", ""]);
        assert_eq!(set("host", "").unwrap().hosts, Some(vec![]));
        assert_eq!(set("port", "").unwrap().ports, Some(vec![]));
        assert_eq!(
            set("port", "1,,3").unwrap().get_ports(),
            &[1, DEFAULT_PORT, 3]
        );
    }

    #[test]
    fn ports() {
        assert_eq!(set("port", " 5433 ").unwrap().get_ports(), &[5433]);
        assert_eq!(set("port", "+5433").unwrap().get_ports(), &[5433]);
        assert_eq!(set("port", "65535").unwrap().get_ports(), &[65535]);
        assert_eq!(
            set("port", "abc").unwrap_err(),
            "invalid integer value \"abc\" for connection option \"port\""
        );
        assert_eq!(
            set("port", "5432,x").unwrap_err(),
            "invalid integer value \"x\" for connection option \"port\""
        );
        for bad in ["0", "65536", "-1", "99999999999"] {
            let e = set("port", bad).unwrap_err();
            assert!(
                e == format!("invalid port number: \"{bad}\" (expected 1 to 65535)")
                    || e.starts_with("invalid integer value"),
                "{e}"
            );
        }
        assert_eq!(
            set("port", "70000").unwrap_err(),
            "invalid port number: \"70000\" (expected 1 to 65535)"
        );
        assert_eq!(
            set("port", "12a").unwrap_err(),
            "invalid integer value \"12a\" for connection option \"port\""
        );
    }

    #[test]
    fn hostaddrs() {
        let c = set("hostaddr", "10.0.0.1,::1").unwrap();
        assert_eq!(c.get_hostaddrs().len(), 2);
        assert_eq!(set("hostaddr", "").unwrap().hostaddrs, Some(vec![]));
        assert_eq!(
            set("hostaddr", "db.example.com").unwrap_err(),
            "invalid hostaddr value: \"db.example.com\" (expected a numeric IPv4 or IPv6 address)"
        );
        assert!(
            set("hostaddr", "10.0.0.1,,10.0.0.2")
                .unwrap_err()
                .contains("empty element 2")
        );
    }

    #[test]
    fn connect_timeout() {
        assert_eq!(
            set("connect_timeout", "10").unwrap().get_connect_timeout(),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            set("connect_timeout", "0").unwrap().get_connect_timeout(),
            Some(Duration::ZERO)
        );
        assert_eq!(
            set("connect_timeout", "1")
                .unwrap()
                .effective_connect_timeout(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            set("connect_timeout", "ten").unwrap_err(),
            "invalid integer value \"ten\" for connection option \"connect_timeout\""
        );
        assert_eq!(
            set("connect_timeout", "").unwrap_err(),
            "invalid integer value \"\" for connection option \"connect_timeout\""
        );
        assert_eq!(
            set("connect_timeout", "-5").unwrap_err(),
            "invalid connect_timeout value: \"-5\" (expected a number of seconds, 0 for none)"
        );
        assert!(set("connect_timeout", "3000000000").is_err());
    }

    #[test]
    fn ssl_and_auth() {
        assert_eq!(
            set("sslmode", "verify-ca").unwrap().get_ssl_mode(),
            SslMode::VerifyCa
        );
        assert!(
            set("sslmode", "on")
                .unwrap_err()
                .starts_with("invalid sslmode value: \"on\"")
        );
        assert_eq!(
            set("requiressl", "1").unwrap().get_ssl_mode(),
            SslMode::Require
        );
        assert_eq!(
            set("requiressl", "0").unwrap().get_ssl_mode(),
            SslMode::Prefer
        );
        assert_eq!(
            set("sslrootcert", "system").unwrap().get_ssl_mode(),
            SslMode::VerifyFull
        );
        assert_eq!(
            set("sslrootcert", "/etc/ca.pem").unwrap().get_ssl_mode(),
            SslMode::Prefer
        );
        assert!(
            set("require_auth", "md5,bogus")
                .unwrap_err()
                .contains("\"bogus\"")
        );
    }

    #[test]
    fn protocol_versions() {
        let c = set("max_protocol_version", "latest").unwrap();
        assert_eq!(c.get_max_protocol_version(), ProtocolVersion::V3_2);
        assert_eq!(
            set("min_protocol_version", "3.1").unwrap_err(),
            "invalid min_protocol_version value: \"3.1\" (expected 3.0, 3.2 or latest)"
        );
    }

    #[test]
    fn checked_keywords() {
        for ok in ["UTF8", "utf8", "UTF-8", "utf_8"] {
            assert!(set("client_encoding", ok).is_ok(), "{ok}");
        }
        assert_eq!(
            set("client_encoding", "LATIN1").unwrap_err(),
            "client_encoding \"LATIN1\" is not supported: pg-wire only speaks UTF8"
        );
        assert!(set("target_session_attrs", "any").is_ok());
        let e = set("target_session_attrs", "read-write").unwrap_err();
        assert!(e.contains("not supported yet"), "{e}");
        assert!(
            set("target_session_attrs", "rw")
                .unwrap_err()
                .starts_with("invalid target_session_attrs value: \"rw\"")
        );
        assert!(set("channel_binding", "prefer").is_ok());
        assert!(
            set("channel_binding", "require")
                .unwrap_err()
                .contains("not supported yet")
        );
        assert!(set("gssencmode", "disable").is_ok());
        assert!(set("gssencmode", "require").is_err());
        assert!(set("load_balance_hosts", "disable").is_ok());
        assert!(set("load_balance_hosts", "random").is_err());
        assert!(set("replication", "false").is_ok());
        assert!(set("replication", "database").is_err());
        assert!(set("requirepeer", "").is_ok());
        assert!(set("requirepeer", "postgres").is_err());
        assert!(set("service", "mydb").is_err());
        assert!(
            set("oauth_issuer", "https://x")
                .unwrap_err()
                .contains("OAuth")
        );
    }

    #[test]
    fn ignored_keywords_are_remembered() {
        for k in IGNORED {
            let c = set(k, "1").unwrap();
            assert!(is_set(&c, k), "{k}");
        }
        let c = set("channel_binding", "disable").unwrap();
        assert!(is_set(&c, "channel_binding"));
        assert!(!is_set(&c, "gssencmode"));
    }

    #[test]
    fn unknown_keywords() {
        assert_eq!(
            set("foo", "bar").unwrap_err(),
            "invalid connection option \"foo\""
        );
        let mut c = Config::new();
        let e = apply(&mut c, "foo", b"bar", Echo::Show, Origin::UriQuery).unwrap_err();
        assert_eq!(e.to_string(), "invalid URI query parameter: \"foo\"");
        assert_eq!(e.kind(), ConfigErrorKind::UnknownOption);
        let e = apply(&mut c, "MARKER", b"", Echo::Hide, Origin::KeyValue).unwrap_err();
        assert!(!e.to_string().contains("MARKER"));
        // Keywords are case-sensitive, as in libpq.
        assert!(set("Host", "x").is_err());
    }

    #[test]
    fn utf8_and_passwords() {
        let mut c = Config::new();
        apply(
            &mut c,
            "password",
            &[0xff, 0x00, b'x'],
            Echo::Show,
            Origin::KeyValue,
        )
        .unwrap();
        assert_eq!(c.get_password(), Some(&[0xff, 0x00, b'x'][..]));
        let e = apply(&mut c, "user", &[0xff], Echo::Show, Origin::KeyValue).unwrap_err();
        assert_eq!(e.to_string(), "the value of \"user\" is not valid UTF-8");
    }

    #[test]
    fn c_int() {
        assert_eq!(parse_c_int(" 42\t"), Some(42));
        assert_eq!(parse_c_int("-3"), Some(-3));
        assert_eq!(parse_c_int("+3"), Some(3));
        assert_eq!(parse_c_int("\u{0B}7"), Some(7));
        for bad in ["", " ", "+", "-", "1 2", "0x10", "2147483648", "++1", "+-1"] {
            assert_eq!(parse_c_int(bad), None, "{bad:?}");
        }
    }
}
