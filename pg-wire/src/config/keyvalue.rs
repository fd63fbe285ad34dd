//! The `key=value` form of a libpq connection string.
//!
//! Follows libpq's `conninfo_parse`: pairs separated by whitespace, optional whitespace around `=`,
//! and values either bare (ending at whitespace) or in single quotes; in both, a backslash takes the
//! next character literally (`\'`, `\\`, `\ `). Later keywords override earlier ones.
//!
//! One deliberate difference: libpq quotes the offending word in its errors, and a password typed
//! without the quoting it needs ends up in other words (`password=correct horse` makes `horse` a
//! keyword; `port= password=x` gives `port` the value `password=x`; `password='it's'` ends the value
//! early). So errors quote nothing once the text may hold part of a password: after a password
//! value, and in and after any other word containing `password`. They give a position instead.

use std::iter::Peekable;
use std::str::CharIndices;

use crate::config::Config;
use crate::config::error::{ConfigError, Echo};
use crate::config::options::{self, Origin, is_c_space};

/// Keywords whose values are secret.
fn is_secret(keyword: &str) -> bool {
    keyword == "password" || keyword == "sslpassword"
}

/// Parses `key=value` pairs into a new [`Config`].
pub(crate) fn parse(s: &str) -> Result<Config, ConfigError> {
    let mut config = Config::new();
    let mut chars = s.char_indices().peekable();
    // Whether the text read so far may have spilled part of a password into what follows.
    let mut spilled = false;
    loop {
        skip_blanks(&mut chars);
        let Some(&(key_start, _)) = chars.peek() else {
            break;
        };
        let mut keyword = String::new();
        while let Some((_, c)) = chars.next_if(|&(_, c)| c != '=' && !is_c_space(c)) {
            keyword.push(c);
        }
        let mut echo = if spilled || (keyword.contains("password") && !is_secret(&keyword)) {
            Echo::Hide
        } else {
            Echo::Show
        };
        skip_blanks(&mut chars);
        if chars.next_if(|&(_, c)| c == '=').is_none() {
            return Err(ConfigError::syntax(match echo {
                Echo::Show => {
                    format!("missing \"=\" after \"{keyword}\" in connection info string")
                }
                Echo::Hide => format!(
                    "missing \"=\" after the word at position {} in connection info string (the \
                     word is not shown: it may be part of a password; quote values that contain \
                     spaces or quotes, and escape quotes in them as \\')",
                    char_position(s, key_start)
                ),
            }));
        }
        skip_blanks(&mut chars);
        let value = read_value(&mut chars).ok_or_else(|| {
            ConfigError::syntax(format!(
                "unterminated quoted string in connection info string (in the value of {})",
                echo.quote(&keyword)
            ))
        })?;
        if is_secret(&keyword) {
            // Unquoted, it ended at a blank that may belong to it; quoted, at a quote that may.
            spilled = true;
        } else if value.contains("password") {
            // A value that swallowed a `password=...` assignment (`port= password=x`).
            echo = Echo::Hide;
            spilled = true;
        }
        spilled |= echo == Echo::Hide;
        options::apply(
            &mut config,
            &keyword,
            value.as_bytes(),
            echo,
            Origin::KeyValue,
        )?;
    }
    Ok(config)
}

fn skip_blanks(chars: &mut Peekable<CharIndices<'_>>) {
    while chars.next_if(|&(_, c)| is_c_space(c)).is_some() {}
}

/// Reads a value, bare or single-quoted, unescaping backslashes. `None` for an unterminated quote.
fn read_value(chars: &mut Peekable<CharIndices<'_>>) -> Option<String> {
    let mut value = String::new();
    if chars.next_if(|&(_, c)| c == '\'').is_some() {
        loop {
            match chars.next()?.1 {
                '\\' => {
                    if let Some((_, c)) = chars.next() {
                        value.push(c);
                    }
                }
                '\'' => return Some(value),
                c => value.push(c),
            }
        }
    }
    while let Some((_, c)) = chars.next_if(|&(_, c)| !is_c_space(c)) {
        if c == '\\' {
            // A trailing backslash escapes nothing and is dropped, as in libpq.
            if let Some((_, escaped)) = chars.next() {
                value.push(escaped);
            }
        } else {
            value.push(c);
        }
    }
    Some(value)
}

/// The 1-based character position of byte offset `at` in `s`.
fn char_position(s: &str, at: usize) -> usize {
    s.get(..at).map_or(0, |head| head.chars().count()) + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testutil::Pieces;
    use crate::config::{ConfigErrorKind, Host, SslMode};
    use std::time::Duration;

    fn err(s: &str) -> String {
        match parse(s) {
            Ok(c) => panic!("{s:?} parsed as {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn libpq_doc_example() {
        let c = parse("host=localhost port=5432 dbname=mydb connect_timeout=10").unwrap();
        assert_eq!(c.get_hosts(), &[Host::Tcp("localhost".into())]);
        assert_eq!(c.get_ports(), &[5432]);
        assert_eq!(c.get_dbname(), Some("mydb"));
        assert_eq!(c.get_connect_timeout(), Some(Duration::from_secs(10)));
    }

    #[test]
    fn whitespace_and_equals() {
        let c = parse("  host = localhost\tport=\n5433   user =bob ").unwrap();
        assert_eq!(c.get_hosts(), &[Host::Tcp("localhost".into())]);
        assert_eq!(c.get_ports(), &[5433]);
        assert_eq!(c.get_user(), Some("bob"));
        assert_eq!(parse("").unwrap(), Config::new());
        assert_eq!(parse(" \t\n").unwrap(), Config::new());
        // As in libpq, blanks after '=' are skipped, so an empty value needs quotes.
        let c = parse("host= user=x").unwrap();
        assert_eq!(c.get_hosts(), &[Host::Tcp("user=x".into())]);
        let c = parse("host='' user=x").unwrap();
        assert!(c.get_hosts().is_empty());
        assert_eq!(c.get_user(), Some("x"));
    }

    #[test]
    fn quoting() {
        let c = parse(r"password='it\'s a secret' options='-c search_path=a\\b' user=''").unwrap();
        assert_eq!(c.get_password(), Some(&b"it's a secret"[..]));
        assert_eq!(c.get_options(), Some(r"-c search_path=a\b"));
        assert_eq!(c.get_user(), Some(""));
        // Backslashes work outside quotes too, and a quote only opens at the start of a value.
        let c = parse(r"application_name=a\ b\'c dbname=x'y").unwrap();
        assert_eq!(c.get_application_name(), Some("a b'c"));
        assert_eq!(c.get_dbname(), Some("x'y"));
        let c = parse(r"dbname=db\").unwrap();
        assert_eq!(c.get_dbname(), Some("db"));
        // A closing quote ends the value even without a following space.
        let c = parse("dbname='a b'user=c").unwrap();
        assert_eq!(c.get_dbname(), Some("a b"));
        assert_eq!(c.get_user(), Some("c"));
        // Values may contain '='.
        let c = parse("options=-csearch_path=x").unwrap();
        assert_eq!(c.get_options(), Some("-csearch_path=x"));
    }

    #[test]
    fn later_keywords_override() {
        let c = parse("host=a port=1 host=b,c").unwrap();
        assert_eq!(
            c.get_hosts(),
            &[Host::Tcp("b".into()), Host::Tcp("c".into())]
        );
        assert_eq!(c.get_ports(), &[1]);
    }

    #[test]
    fn unicode() {
        let c = parse("dbname=données user='élodie'").unwrap();
        assert_eq!(c.get_dbname(), Some("données"));
        assert_eq!(c.get_user(), Some("élodie"));
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            err("mydb"),
            "missing \"=\" after \"mydb\" in connection info string"
        );
        assert_eq!(
            err("host=a port"),
            "missing \"=\" after \"port\" in connection info string"
        );
        assert_eq!(
            err("host=a port 5432"),
            "missing \"=\" after \"port\" in connection info string"
        );
        assert_eq!(
            err("host='abc"),
            "unterminated quoted string in connection info string (in the value of \"host\")"
        );
        assert_eq!(
            err("dbname='it\\'"),
            "unterminated quoted string in connection info string (in the value of \"dbname\")"
        );
        assert_eq!(err("foo=bar"), "invalid connection option \"foo\"");
        assert_eq!(err("=bar"), "invalid connection option \"\"");
        assert_eq!(parse("x").unwrap_err().kind(), ConfigErrorKind::Syntax);
        assert_eq!(
            parse("foo=1").unwrap_err().kind(),
            ConfigErrorKind::UnknownOption
        );
    }

    #[test]
    fn value_errors_name_the_keyword() {
        assert_eq!(
            err("port=5432x"),
            "invalid integer value \"5432x\" for connection option \"port\""
        );
        assert!(err("sslmode=maybe").starts_with("invalid sslmode value: \"maybe\""));
        assert_eq!(
            parse("sslmode=verify-full").unwrap().get_ssl_mode(),
            SslMode::VerifyFull
        );
    }

    #[test]
    fn password_fragments_never_echoed() {
        // An unquoted password with a space: libpq would print `missing "=" after "MARKER"`.
        let e = err("user=u password=abc MARKER host=h");
        assert!(!e.contains("MARKER"), "{e}");
        assert!(e.contains("position 21"), "{e}");
        let e = err("password=abc MARKER=1");
        assert!(!e.contains("MARKER"), "{e}");
        let e = err("password=abc port=MARKER");
        assert!(!e.contains("MARKER"), "{e}");
        let e = err("password='MARKER");
        assert!(!e.contains("MARKER"), "{e}");
        let e = err("password=MARKER port=x");
        assert!(!e.contains("MARKER"), "{e}");
        // Even a quoted password may have ended early (an unescaped quote in it).
        let e = err("password='it's secret' foo=1");
        assert!(!e.contains("secret"), "{e}");
        // A value that swallowed a password assignment.
        let e = err("port= password=MARKER");
        assert!(!e.contains("MARKER"), "{e}");
        let e = err("user='bob password='MARKER'");
        assert!(!e.contains("MARKER"), "{e}");
        // Before any password, words are quoted as in libpq.
        assert_eq!(
            err("foo=1 password='a b'"),
            "invalid connection option \"foo\""
        );
    }

    /// Random strings with a marker in a password value: parsing never panics, and no error ever
    /// shows the marker.
    #[test]
    fn random_strings_never_leak_the_password() {
        const PIECES: &[&str] = &[
            " ",
            "=",
            "'",
            "\\",
            "\\'",
            "password",
            "password=",
            "host=",
            "port=",
            "x",
            "5",
            "é",
            "\t",
            "foo=",
            "sslmode=",
        ];
        let mut pieces = Pieces::new(42, PIECES);
        for i in 0..50_000 {
            let (a, b, c, d) = (
                pieces.take(2),
                pieces.take(2),
                pieces.take(3),
                pieces.take(5),
            );
            let s = if i % 2 == 0 {
                format!("{a} password={b}SECRETPW{c} {d}")
            } else {
                format!("{a} password = '{b}SECRETPW{c}{d}")
            };
            if let Err(e) = parse(&s) {
                let text = e.to_string();
                assert!(
                    !text.contains("SECRET") && !text.contains("PW"),
                    "{s:?} -> {text}"
                );
            }
        }
    }
}
