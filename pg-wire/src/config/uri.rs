//! The URI form of a libpq connection string.
//!
//! `postgresql://[userspec@][hostspec][/dbname][?paramspec]` (or `postgres://`), following libpq's
//! `conninfo_uri_parse_options`:
//!
//! - the user info is everything before the first `@` that comes before any `/`; the user name ends at
//!   the first `:`, the rest is the password;
//! - the host spec is a comma-separated list of `host[:port]`, where a host may be an IPv6 address in
//!   brackets (`[::1]:5432`); the hosts and the ports are gathered into two lists and then
//!   percent-decoded, so `%2Ftmp` is the socket directory `/tmp`;
//! - query parameters are any connection keywords and override the parts before them (`ssl=true` is
//!   read as `sslmode=require`, for JDBC users);
//! - every part is percent-decoded, and an empty part (`postgresql:///db`) leaves its setting unset.
//!
//! libpq quotes the whole URI in its errors, password included; here an error names the part and the
//! offending token, never the password. When an `@` appears after the user info, or a `?` inside it,
//! a password may have been split in the wrong place (an unencoded `/` or `@` in it, or a
//! `?password=` value with an `@`), so errors then quote nothing.

use crate::config::Config;
use crate::config::error::{ConfigError, Echo};
use crate::config::options::{self, Origin};
use crate::config::percent::{self, Part};

const PREFIXES: [&str; 2] = ["postgresql://", "postgres://"];

/// Whether `s` starts with a URI scheme libpq recognizes (case-sensitively).
pub(crate) fn has_uri_prefix(s: &str) -> bool {
    PREFIXES.iter().any(|p| s.starts_with(p))
}

/// Parses a connection URI into a new [`Config`].
pub(crate) fn parse(uri: &str) -> Result<Config, ConfigError> {
    let Some((prefix_len, rest)) = PREFIXES
        .iter()
        .find_map(|p| uri.strip_prefix(p).map(|rest| (p.len(), rest)))
    else {
        return Err(ConfigError::syntax(
            "a connection URI must start with \"postgresql://\" or \"postgres://\"",
        ));
    };
    let mut config = Config::new();

    // User info: up to the first '@' that precedes any '/'.
    let userinfo_end = rest
        .find(['@', '/'])
        .filter(|&i| rest.as_bytes().get(i) == Some(&b'@'));
    let (userinfo, after, after_offset) = match userinfo_end {
        Some(at) => (
            rest.get(..at),
            rest.get(at + 1..).unwrap_or(""),
            prefix_len + at + 1,
        ),
        None => (None, rest, prefix_len),
    };
    // A password split in the wrong place shows as an '@' after the user info (an unencoded '@' or
    // '/' in the password) or as a '?' inside it (`?password=a@b` read as user info, as libpq does).
    let echo = if after.contains('@') || userinfo.is_some_and(|u| u.contains('?')) {
        Echo::Hide
    } else {
        Echo::Show
    };

    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            store(&mut config, "user", user, Part::User, echo)?;
        }
        if let Some(password) = password.filter(|p| !p.is_empty()) {
            store(&mut config, "password", password, Part::Password, echo)?;
        }
    }

    // As in libpq, the lists are decoded whole, so "%2C" separates hosts like ",".
    let spec = scan_hosts(uri, after, after_offset, echo)?;
    let echo = spec.echo;
    if !spec.hosts.is_empty() {
        store(&mut config, "host", &spec.hosts, Part::Hosts, echo)?;
    }
    if !spec.ports.is_empty() {
        store(&mut config, "port", &spec.ports, Part::Ports, echo)?;
    }

    // Database name: after '/', up to '?'.
    let query = match spec.terminator {
        Some((b'/', at)) => {
            let tail = after.get(at + 1..).unwrap_or("");
            let (dbname, query) = match tail.split_once('?') {
                Some((dbname, query)) => (dbname, Some(query)),
                None => (tail, None),
            };
            if !dbname.is_empty() {
                store(&mut config, "dbname", dbname, Part::Dbname, echo)?;
            }
            query
        }
        Some((_, at)) => after.get(at + 1..),
        None => None,
    };

    if let Some(query) = query {
        parse_query(&mut config, query, echo)?;
    }
    Ok(config)
}

/// Percent-decodes `raw`, the text of `part`, and stores it as `keyword`.
fn store(
    config: &mut Config,
    keyword: &str,
    raw: &str,
    part: Part<'_>,
    echo: Echo,
) -> Result<(), ConfigError> {
    let value = percent::decode(raw, part, echo)?;
    options::apply(config, keyword, &value, echo, Origin::KeyValue)
}

/// The host spec of a URI, split up.
struct HostSpec {
    /// The hosts, comma-separated, still percent-encoded (brackets removed from IPv6 addresses).
    hosts: String,
    /// The ports, one (possibly empty) slot per host once there is any, still percent-encoded.
    ports: String,
    /// The character that ended the host spec (`/` or `?`) and its index in `after`.
    terminator: Option<(u8, usize)>,
    /// Whether errors may quote the rest of the URI: not after an IPv6 bracket that ran past the
    /// end of the host spec, which may have swallowed a `?password=` parameter.
    echo: Echo,
}

/// Scans `host[:port]` pairs separated by commas from the start of `after` (the URI past the user
/// info, which starts at byte `after_offset` of `uri`), up to `/`, `?` or the end.
fn scan_hosts(
    uri: &str,
    after: &str,
    after_offset: usize,
    mut echo: Echo,
) -> Result<HostSpec, ConfigError> {
    let bytes = after.as_bytes();
    let mut hosts = String::new();
    let mut ports = String::new();
    let mut p = 0;
    loop {
        let host_end = if bytes.get(p) == Some(&b'[') {
            let start = p + 1;
            let Some(close) = after.get(start..).and_then(|s| s.find(']')) else {
                return Err(ConfigError::syntax(
                    "end of string reached when looking for matching \"]\" in IPv6 host address \
                     in URI",
                ));
            };
            if close == 0 {
                return Err(ConfigError::syntax(
                    "IPv6 host address may not be empty in URI",
                ));
            }
            let inside = after.get(start..start + close).unwrap_or("");
            if inside.contains(['/', '?', '&', '=']) {
                echo = Echo::Hide;
            }
            hosts.push_str(inside);
            let host_end = start + close + 1;
            let next = bytes.get(host_end).copied();
            if next.is_some_and(|c| !matches!(c, b':' | b'/' | b'?' | b',')) {
                let found: String = after
                    .get(host_end..)
                    .and_then(|s| s.chars().next())
                    .map(String::from)
                    .unwrap_or_default();
                let position = uri
                    .get(..after_offset + host_end)
                    .map_or(0, |s| s.chars().count())
                    + 1;
                return Err(ConfigError::syntax(format!(
                    "unexpected character {} at position {position} in URI (expected \":\", \
                     \"/\", \"?\" or \",\" after an IPv6 address)",
                    echo.quote(&found)
                )));
            }
            host_end
        } else {
            let host_end = find_from(bytes, p, b":/?,");
            hosts.push_str(after.get(p..host_end).unwrap_or(""));
            host_end
        };
        let mut end = host_end;
        if bytes.get(end) == Some(&b':') {
            let port_end = find_from(bytes, end + 1, b"/?,");
            ports.push_str(after.get(end + 1..port_end).unwrap_or(""));
            end = port_end;
        }
        match bytes.get(end) {
            Some(b',') => {
                hosts.push(',');
                ports.push(',');
                p = end + 1;
            }
            other => {
                return Ok(HostSpec {
                    hosts,
                    ports,
                    terminator: other.map(|&c| (c, end)),
                    echo,
                });
            }
        }
    }
}

/// The index of the first byte at or after `from` that is in `stops`, or the length.
fn find_from(bytes: &[u8], from: usize, stops: &[u8]) -> usize {
    bytes
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, b)| stops.contains(b))
        .map_or(bytes.len(), |(i, _)| i)
}

/// `key=value` pairs separated by `&` (libpq's `conninfo_uri_parse_params`).
///
/// A password value with an unencoded `&` spills into the following pairs, so errors quote nothing
/// after a `password` parameter, nor in a pair that mentions `password` other than as its key.
fn parse_query(config: &mut Config, query: &str, mut echo: Echo) -> Result<(), ConfigError> {
    let mut rest = query;
    // As in libpq, a trailing '&' ends the list, but an empty pair in the middle is an error.
    while !rest.is_empty() {
        let (pair, next) = rest.split_once('&').unwrap_or((rest, ""));
        rest = next;
        let raw_key = pair.split('=').next().unwrap_or("");
        if !is_secret(raw_key) && pair.contains("password") {
            echo = Echo::Hide;
        }
        let Some((_, raw_value)) = pair.split_once('=') else {
            return Err(ConfigError::syntax(format!(
                "missing key/value separator \"=\" in URI query parameter: {}",
                echo.quote(raw_key)
            )));
        };
        if raw_value.contains('=') {
            return Err(ConfigError::syntax(format!(
                "extra key/value separator \"=\" in URI query parameter: {}",
                echo.quote(raw_key)
            )));
        }
        let key = percent::decode(raw_key, Part::QueryKey, echo)?;
        let Ok(key) = String::from_utf8(key) else {
            return Err(ConfigError::syntax(
                "a URI query parameter name is not valid UTF-8",
            ));
        };
        let value = percent::decode(raw_value, Part::QueryValue(&key), echo)?;
        if key == "ssl" && value == b"true" {
            options::apply(config, "sslmode", b"require", echo, Origin::UriQuery)?;
        } else {
            options::apply(config, &key, &value, echo, Origin::UriQuery)?;
        }
        if is_secret(&key) {
            echo = Echo::Hide;
        }
    }
    Ok(())
}

/// Query keys whose values are secret.
fn is_secret(key: &str) -> bool {
    key == "password" || key == "sslpassword"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testutil::Pieces;
    use crate::config::{ConfigErrorKind, Host, SslMode};
    use std::net::IpAddr;
    use std::time::Duration;

    fn ok(s: &str) -> Config {
        match parse(s) {
            Ok(c) => c,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    fn err(s: &str) -> String {
        match parse(s) {
            Ok(c) => panic!("{s:?} parsed as {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn tcp(h: &str) -> Host {
        Host::Tcp(h.into())
    }

    /// Every example of the libpq documentation's "Connection URIs" section.
    #[test]
    fn libpq_doc_examples() {
        assert_eq!(ok("postgresql://"), Config::new());
        assert_eq!(ok("postgres://"), Config::new());

        let c = ok("postgresql://localhost");
        assert_eq!(c.get_hosts(), &[tcp("localhost")]);
        assert!(c.get_ports().is_empty());

        let c = ok("postgresql://localhost:5433");
        assert_eq!(c.get_hosts(), &[tcp("localhost")]);
        assert_eq!(c.get_ports(), &[5433]);

        let c = ok("postgresql://localhost/mydb");
        assert_eq!(c.get_dbname(), Some("mydb"));

        let c = ok("postgresql://user@localhost");
        assert_eq!(c.get_user(), Some("user"));
        assert_eq!(c.get_password(), None);

        let c = ok("postgresql://user:secret@localhost");
        assert_eq!(c.get_user(), Some("user"));
        assert_eq!(c.get_password(), Some(&b"secret"[..]));
        assert_eq!(c.get_hosts(), &[tcp("localhost")]);

        let c =
            ok("postgresql://other@localhost/otherdb?connect_timeout=10&application_name=myapp");
        assert_eq!(c.get_user(), Some("other"));
        assert_eq!(c.get_dbname(), Some("otherdb"));
        assert_eq!(c.get_connect_timeout(), Some(Duration::from_secs(10)));
        assert_eq!(c.get_application_name(), Some("myapp"));

        let c = ok(
            "postgresql://host1:123,host2:456/somedb?target_session_attrs=any&application_name=myapp",
        );
        assert_eq!(c.get_hosts(), &[tcp("host1"), tcp("host2")]);
        assert_eq!(c.get_ports(), &[123, 456]);
        assert_eq!(c.get_dbname(), Some("somedb"));
        assert_eq!(c.get_application_name(), Some("myapp"));

        let c = ok("postgresql:///mydb?host=localhost&port=5433");
        assert_eq!(c.get_hosts(), &[tcp("localhost")]);
        assert_eq!(c.get_ports(), &[5433]);
        assert_eq!(c.get_dbname(), Some("mydb"));

        let c = ok("postgresql://user@localhost:5433/mydb?options=-c%20synchronous_commit%3Doff");
        assert_eq!(c.get_options(), Some("-c synchronous_commit=off"));
        assert_eq!(c.get_ports(), &[5433]);

        let c = ok("postgresql://[2001:db8::1234]/database");
        assert_eq!(c.get_hosts(), &[tcp("2001:db8::1234")]);
        assert_eq!(c.get_dbname(), Some("database"));

        let c = ok("postgresql:///dbname?host=/var/lib/postgresql");
        assert_eq!(c.get_hosts(), &[Host::Unix("/var/lib/postgresql".into())]);
        assert_eq!(c.get_dbname(), Some("dbname"));

        let c = ok("postgresql://%2Fvar%2Flib%2Fpostgresql/dbname");
        assert_eq!(c.get_hosts(), &[Host::Unix("/var/lib/postgresql".into())]);
        assert_eq!(c.get_dbname(), Some("dbname"));
    }

    #[test]
    fn ipv6() {
        let c = ok("postgresql://[::1]:5433/db");
        assert_eq!(c.get_hosts(), &[tcp("::1")]);
        assert_eq!(c.get_ports(), &[5433]);
        let c = ok("postgresql://[::1],[fe80::1%25eth0]:7?sslmode=disable");
        assert_eq!(c.get_hosts(), &[tcp("::1"), tcp("fe80::1%eth0")]);
        assert_eq!(c.get_ports(), &[5432, 7]);
        let c = ok("postgresql://u@[::1]");
        assert_eq!(c.get_user(), Some("u"));
        assert_eq!(c.get_hosts(), &[tcp("::1")]);
        let c = ok("postgresql://[::1]?port=1");
        assert_eq!(c.get_ports(), &[1]);
        let c = ok("postgresql:///db?hostaddr=%3A%3A1");
        assert_eq!(c.get_hostaddrs(), &["::1".parse::<IpAddr>().unwrap()]);

        assert_eq!(
            err("postgresql://[::1"),
            "end of string reached when looking for matching \"]\" in IPv6 host address in URI"
        );
        assert_eq!(
            err("postgresql://[]/db"),
            "IPv6 host address may not be empty in URI"
        );
        assert_eq!(
            err("postgresql://[::1]x/db"),
            "unexpected character \"x\" at position 19 in URI (expected \":\", \"/\", \"?\" or \
             \",\" after an IPv6 address)"
        );
        assert!(err("postgresql://u:p@[::1]é").contains("\"é\" at position 23"));
    }

    #[test]
    fn multi_host() {
        let c = ok("postgresql://a,b,c/db");
        assert_eq!(c.get_hosts(), &[tcp("a"), tcp("b"), tcp("c")]);
        // libpq keeps an (all-default) port slot per host, so PGPORT no longer applies.
        assert_eq!(c.get_ports(), &[5432, 5432, 5432]);
        let c = ok("postgresql://a:1,b/db");
        assert_eq!(c.get_ports(), &[1, 5432]);
        let c = ok("postgresql://a,/db");
        assert_eq!(c.get_hosts(), &[tcp("a"), Host::Unix("".into())]);
        // Percent-decoding comes before splitting, as in libpq.
        let c = ok("postgresql://a%2Cb/db");
        assert_eq!(c.get_hosts(), &[tcp("a"), tcp("b")]);
        let c = ok("postgresql://%2Ftmp,%2Frun%2Fpg:6000/db");
        assert_eq!(
            c.get_hosts(),
            &[Host::Unix("/tmp".into()), Host::Unix("/run/pg".into())]
        );
        assert_eq!(c.get_ports(), &[5432, 6000]);
    }

    #[test]
    fn empty_parts_are_unset() {
        let c = ok("postgresql://@/?");
        assert_eq!(c, Config::new());
        let c = ok("postgresql://:@:/");
        assert_eq!(c, Config::new());
        let c = ok("postgresql://u:@h");
        assert_eq!(c.get_password(), None);
        let c = ok("postgresql://:pw@h");
        assert_eq!(c.get_user(), None);
        assert_eq!(c.get_password(), Some(&b"pw"[..]));
        let c = ok("postgresql://h:/db");
        assert_eq!(c.get_hosts(), &[tcp("h")]);
        assert!(c.get_ports().is_empty());
        let c = ok("postgresql://h?");
        assert_eq!(c.get_hosts(), &[tcp("h")]);
    }

    #[test]
    fn percent_decoding_everywhere() {
        let c = ok("postgresql://us%40er:p%40ss%3Aw%2Frd@h%2Dx:5%34/d%62?applic%61tion_name=a%26b");
        assert_eq!(c.get_user(), Some("us@er"));
        assert_eq!(c.get_password(), Some(&b"p@ss:w/rd"[..]));
        assert_eq!(c.get_hosts(), &[tcp("h-x")]);
        assert_eq!(c.get_ports(), &[54]);
        assert_eq!(c.get_dbname(), Some("db"));
        assert_eq!(c.get_application_name(), Some("a&b"));
        // The password may contain ':' unencoded; '+' is not a space.
        let c = ok("postgresql://u:a:b+c@h");
        assert_eq!(c.get_password(), Some(&b"a:b+c"[..]));
        let c = ok("postgresql://u:%FF%FE@h");
        assert_eq!(c.get_password(), Some(&[0xff, 0xfe][..]));

        assert_eq!(
            err("postgresql://%zz@h"),
            "invalid percent-encoded token: \"%zz\" in the user name"
        );
        assert_eq!(
            err("postgresql://h/d%4"),
            "invalid percent-encoded token: \"%4\" in the database name"
        );
        assert_eq!(
            err("postgresql://h%/d"),
            "invalid percent-encoded token: \"%\" in the host list"
        );
        assert_eq!(
            err("postgresql://h:5%G/d"),
            "invalid percent-encoded token: \"%G\" in the port list"
        );
        assert_eq!(
            err("postgresql://h/d?sslmode=%q"),
            "invalid percent-encoded token: \"%q\" in the value of query parameter \"sslmode\""
        );
        assert_eq!(
            err("postgresql://h/d?a%=1"),
            "invalid percent-encoded token: \"%\" in a query parameter name"
        );
        assert_eq!(
            err("postgresql://h/%00"),
            "forbidden value %00 in percent-encoded value in the database name"
        );
        assert!(err("postgresql://h/%C3").contains("\"dbname\" is not valid UTF-8"));
    }

    #[test]
    fn query_parameters() {
        // Query parameters override the hierarchical part.
        let c = ok("postgresql://u@h:1/db?user=v&port=2&dbname=other&host=/sock");
        assert_eq!(c.get_user(), Some("v"));
        assert_eq!(c.get_ports(), &[2]);
        assert_eq!(c.get_dbname(), Some("other"));
        assert_eq!(c.get_hosts(), &[Host::Unix("/sock".into())]);
        let c = ok("postgresql://h?ssl=true");
        assert_eq!(c.get_ssl_mode(), SslMode::Require);
        let c = ok("postgresql://h?application_name=&");
        assert_eq!(c.get_application_name(), Some(""));
        let c = ok("postgresql://h?password=p%20w");
        assert_eq!(c.get_password(), Some(&b"p w"[..]));
        let c = ok("postgresql://h?keepalives=1&sslmode=verify-full");
        assert_eq!(c.get_ssl_mode(), SslMode::VerifyFull);

        assert_eq!(
            err("postgresql://h/db?foo=bar"),
            "invalid URI query parameter: \"foo\""
        );
        assert_eq!(
            parse("postgresql://h/db?foo=bar").unwrap_err().kind(),
            ConfigErrorKind::UnknownOption
        );
        assert_eq!(
            err("postgresql://h/?a=1=2"),
            "extra key/value separator \"=\" in URI query parameter: \"a\""
        );
        assert_eq!(
            err("postgresql://h/?sslmode"),
            "missing key/value separator \"=\" in URI query parameter: \"sslmode\""
        );
        assert_eq!(
            err("postgresql://h/?port=1&&user=u"),
            "missing key/value separator \"=\" in URI query parameter: \"\""
        );
        assert_eq!(
            err("postgresql://h/?ssl=false"),
            "invalid URI query parameter: \"ssl\""
        );
        assert!(err("postgresql://h/?sslmode=on").starts_with("invalid sslmode value: \"on\""));
    }

    #[test]
    fn port_errors() {
        assert_eq!(
            err("postgresql://h:abc/db"),
            "invalid integer value \"abc\" for connection option \"port\""
        );
        assert_eq!(
            err("postgresql://h:70000/db"),
            "invalid port number: \"70000\" (expected 1 to 65535)"
        );
        assert_eq!(
            err("postgresql://h:0"),
            "invalid port number: \"0\" (expected 1 to 65535)"
        );
    }

    #[test]
    fn passwords_never_in_errors() {
        const MARKER: &str = "MARKER7731";
        let cases = [
            // A bad escape in the password.
            format!("postgresql://u:{MARKER}%zz@h/db"),
            format!("postgresql://u:%zz{MARKER}@h/db"),
            // An unencoded '/' in the password: libpq reads "u:MARKER" as host:port.
            format!("postgresql://u:{MARKER}/x@h/db"),
            format!("postgresql://u:12/{MARKER}@h/db?foo=1"),
            format!("postgresql://u:12/{MARKER}%zz@h/db"),
            // An unencoded '@' in the password, landing in the host or port.
            format!("postgresql://u:a@{MARKER}:x@h/db"),
            format!("postgresql://u:a@b:{MARKER}@h/db"),
            format!("postgresql://u:a@[::1]{MARKER}@h/db"),
            format!("postgresql://u:a@[{MARKER}@h/db"),
            format!("postgresql://u:a@h%{MARKER}@h/db"),
            // Valid user info, bad later parts: the password is still not shown.
            format!("postgresql://u:{MARKER}@h:bad/db"),
            format!("postgresql://u:{MARKER}@[::1/db"),
            format!("postgresql://u:{MARKER}@h/db?foo=1"),
            format!("postgresql://u:{MARKER}@h/db?sslmode=x"),
            format!("postgresql://u:{MARKER}@h/%zz"),
            // Passwords in the query.
            format!("postgresql://h/db?password={MARKER}%zz"),
            format!("postgresql://h/db?password={MARKER}&foo=1"),
            format!("postgresql://h/db?sslpassword={MARKER}%q"),
            format!("postgresql://h/db?password=a@{MARKER}=1"),
            format!("postgresql://h?password=x@y:{MARKER}/db"),
            format!("postgresql://h?password=x@[{MARKER}/db"),
        ];
        for uri in &cases {
            let e = err(uri);
            assert!(!e.contains(MARKER), "{uri} -> {e}");
            assert!(!e.contains("MARK"), "{uri} -> {e}");
        }
    }

    /// Random URIs built from the characters that matter, with a marker in the password (in the
    /// user info or the query): parsing never panics, and no error ever shows the marker.
    #[test]
    fn random_uris_never_leak_the_password() {
        const PIECES: &[&str] = &[
            "@",
            "/",
            ":",
            "?",
            "&",
            "=",
            "%",
            "%2",
            "%41",
            "[",
            "]",
            ",",
            "h",
            "5432",
            "x",
            "é",
            " ",
            "'",
            "\\",
            "password=",
            "host=",
            "port=",
        ];
        let mut pieces = Pieces::new(0x9E37_79B9_7F4A_7C15, PIECES);
        for i in 0..50_000 {
            let (a, b, c, d) = (
                pieces.take(2),
                pieces.take(2),
                pieces.take(3),
                pieces.take(5),
            );
            let uri = if i % 2 == 0 {
                format!("postgresql://{a}:{b}SECRETPW{c}@{d}")
            } else {
                format!("postgres://{a}{d}?password={b}SECRETPW{c}")
            };
            if let Err(e) = parse(&uri) {
                let text = e.to_string();
                assert!(
                    !text.contains("SECRET") && !text.contains("PW"),
                    "{uri} -> {text}"
                );
            }
        }
    }
}
