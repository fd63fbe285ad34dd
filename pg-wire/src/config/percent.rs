//! Percent-encoding for connection URIs (RFC 3986 section 2.1), as libpq decodes it.
//!
//! Decoding follows libpq's `conninfo_uri_decode`: `%` must be followed by two hex digits (either
//! case), `%00` is forbidden, and everything else is copied unchanged (a `+` stays a `+`). Decoding
//! yields bytes, since a percent-encoded password need not be UTF-8.

use crate::config::error::{ConfigError, Echo};

/// Which part of a URI is being decoded: named in errors; a password is never quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part<'a> {
    /// The user name.
    User,
    /// The password (its text never appears in an error).
    Password,
    /// The host list.
    Hosts,
    /// The port list.
    Ports,
    /// The database name.
    Dbname,
    /// A query parameter's name.
    QueryKey,
    /// The value of the named query parameter.
    QueryValue(&'a str),
}

impl Part<'_> {
    fn describe(self, echo: Echo) -> String {
        match self {
            Part::User => "the user name".to_owned(),
            Part::Password => "the password".to_owned(),
            Part::Hosts => "the host list".to_owned(),
            Part::Ports => "the port list".to_owned(),
            Part::Dbname => "the database name".to_owned(),
            Part::QueryKey => "a query parameter name".to_owned(),
            Part::QueryValue(key) => match echo {
                Echo::Show => format!("the value of query parameter \"{key}\""),
                Echo::Hide => "the value of a query parameter".to_owned(),
            },
        }
    }

    fn is_secret(self) -> bool {
        matches!(
            self,
            Part::Password | Part::QueryValue("password") | Part::QueryValue("sslpassword")
        )
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%xx` escapes in `s`, which is the raw text of `part`.
pub(crate) fn decode(s: &str, part: Part<'_>, echo: Echo) -> Result<Vec<u8>, ConfigError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let hi = bytes.get(i + 1).copied().and_then(hex_value);
        let lo = bytes.get(i + 2).copied().and_then(hex_value);
        let (Some(hi), Some(lo)) = (hi, lo) else {
            return Err(ConfigError::syntax(if part.is_secret() {
                format!(
                    "invalid percent-encoded token in {} (not shown)",
                    part.describe(echo)
                )
            } else {
                // The token: the '%' and up to two following characters.
                let token: String = s.get(i..).unwrap_or("").chars().take(3).collect();
                format!(
                    "invalid percent-encoded token: {} in {}",
                    echo.quote(&token),
                    part.describe(echo)
                )
            }));
        };
        let value = (hi << 4) | lo;
        if value == 0 {
            return Err(ConfigError::syntax(format!(
                "forbidden value %00 in percent-encoded value in {}",
                part.describe(echo)
            )));
        }
        out.push(value);
        i += 3;
    }
    Ok(out)
}

/// Characters RFC 3986 calls unreserved: never encoded.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes every byte but the unreserved ones, and those in `keep`.
pub(crate) fn encode(bytes: &[u8], keep: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if is_unreserved(b) || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Result<Vec<u8>, String> {
        decode(s, Part::Dbname, Echo::Show).map_err(|e| e.to_string())
    }

    #[test]
    fn decodes() {
        assert_eq!(dec("abc").unwrap(), b"abc");
        assert_eq!(dec("%2Fvar%2flib").unwrap(), b"/var/lib");
        assert_eq!(dec("a+b%20c").unwrap(), b"a+b c");
        assert_eq!(dec("%C3%A9").unwrap(), "é".as_bytes());
        assert_eq!(dec("%FF").unwrap(), [0xff]);
        assert_eq!(dec("").unwrap(), b"");
    }

    #[test]
    fn rejects_bad_tokens() {
        assert_eq!(
            dec("ab%zzc").unwrap_err(),
            "invalid percent-encoded token: \"%zz\" in the database name"
        );
        assert_eq!(
            dec("ab%4").unwrap_err(),
            "invalid percent-encoded token: \"%4\" in the database name"
        );
        assert_eq!(
            dec("%").unwrap_err(),
            "invalid percent-encoded token: \"%\" in the database name"
        );
        assert_eq!(
            dec("%éé").unwrap_err(),
            "invalid percent-encoded token: \"%éé\" in the database name"
        );
        assert_eq!(
            dec("x%00").unwrap_err(),
            "forbidden value %00 in percent-encoded value in the database name"
        );
    }

    #[test]
    fn never_shows_secrets() {
        for part in [
            Part::Password,
            Part::QueryValue("password"),
            Part::QueryValue("sslpassword"),
        ] {
            let e = decode("MARKER%zz", part, Echo::Show)
                .unwrap_err()
                .to_string();
            assert!(!e.contains("MARKER") && !e.contains("%zz"), "{e}");
        }
        let e = decode("%zMARKER", Part::Hosts, Echo::Hide)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("%zM"), "{e}");
    }

    #[test]
    fn encodes() {
        assert_eq!(encode(b"a-b.c_d~e", b""), "a-b.c_d~e");
        assert_eq!(encode(b"/tmp/s p", b""), "%2Ftmp%2Fs%20p");
        assert_eq!(encode(b"::1", b":"), "::1");
        assert_eq!(encode(&[0xff, b'@', b'%'], b""), "%FF%40%25");
        for s in ["p@ss:w/rd?&=#%+ é", "\u{1F600}"] {
            let e = encode(s.as_bytes(), b"");
            assert_eq!(decode(&e, Part::User, Echo::Show).unwrap(), s.as_bytes());
        }
    }
}
