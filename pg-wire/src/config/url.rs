//! [`Url`]: a connection-URI builder in the spirit of SQLAlchemy's `URL.create`.
//!
//! Each part is given as plain text and percent-encoded on rendering, so a password with `@`, `/` or
//! `:` in it needs no care. `Display` masks the password as `***` (as SQLAlchemy's `repr` does);
//! [`Url::render_with_password`] gives the real URI, and parsing that gives the same [`Config`] as
//! [`Url::to_config`].

use std::fmt;

use crate::config::error::{ConfigError, Echo};
use crate::config::options::{self, Origin};
use crate::config::percent::encode;
use crate::config::target::is_unix_socket_path;
use crate::config::{Config, ConfigErrorKind};

/// A connection URI built from its parts.
///
/// ```
/// use pg_wire::config::{Config, Url};
///
/// let url = Url::create("postgresql")
///     .username("scott")
///     .password("ti:g@r")
///     .host("localhost")
///     .port(5432)
///     .database("test")
///     .query("application_name", "my app");
/// assert_eq!(
///     url.to_string(),
///     "postgresql://scott:***@localhost:5432/test?application_name=my%20app"
/// );
/// assert_eq!(
///     url.render_with_password(),
///     "postgresql://scott:ti%3Ag%40r@localhost:5432/test?application_name=my%20app"
/// );
/// let config = url.to_config().unwrap();
/// assert_eq!(config.get_password(), Some(&b"ti:g@r"[..]));
/// assert_eq!(url.render_with_password().parse::<Config>().unwrap(), config);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Url {
    drivername: String,
    username: Option<String>,
    password: Option<Vec<u8>>,
    host: Option<String>,
    port: Option<u16>,
    database: Option<String>,
    query: Vec<(String, String)>,
}

/// Query keys whose values are secrets, masked by `Display` like the password.
const SECRET_KEYS: [&str; 2] = ["password", "sslpassword"];

impl Url {
    /// Starts a URL for `drivername`: `"postgresql"` or `"postgres"`. (Any other name is kept, and
    /// reported as an error by [`to_config`](Url::to_config).)
    pub fn create(drivername: &str) -> Url {
        Url {
            drivername: drivername.to_owned(),
            username: None,
            password: None,
            host: None,
            port: None,
            database: None,
            query: Vec::new(),
        }
    }

    /// Sets the user name.
    pub fn username(mut self, username: impl Into<String>) -> Url {
        self.username = Some(username.into());
        self
    }

    /// Sets the password.
    pub fn password(mut self, password: impl Into<Vec<u8>>) -> Url {
        self.password = Some(password.into());
        self
    }

    /// Sets the host: a name, an IP address (IPv6 is bracketed on rendering), or a Unix-socket
    /// directory starting with `/` (rendered as the `host` query parameter).
    pub fn host(mut self, host: impl Into<String>) -> Url {
        self.host = Some(host.into());
        self
    }

    /// Sets the port.
    pub fn port(mut self, port: u16) -> Url {
        self.port = Some(port);
        self
    }

    /// Sets the database name.
    pub fn database(mut self, database: impl Into<String>) -> Url {
        self.database = Some(database.into());
        self
    }

    /// Appends a query parameter: any libpq connection keyword (`sslmode`, `application_name`, ...).
    /// Later parameters override earlier ones and the parts above.
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Url {
        self.query.push((key.into(), value.into()));
        self
    }

    /// The driver name given to [`create`](Url::create).
    pub fn drivername(&self) -> &str {
        &self.drivername
    }

    /// The settings this URL stands for.
    pub fn to_config(&self) -> Result<Config, ConfigError> {
        if self.drivername != "postgresql" && self.drivername != "postgres" {
            return Err(ConfigError::new(
                ConfigErrorKind::InvalidValue,
                format!(
                    "unsupported drivername \"{}\": expected \"postgresql\" or \"postgres\"",
                    self.drivername
                ),
            ));
        }
        let mut config = Config::new();
        let set = |config: &mut Config, key: &str, value: &[u8]| {
            options::apply(config, key, value, Echo::Show, Origin::UriQuery)
        };
        // The same order, and the same "empty means unset", as parsing the rendered URI.
        if let Some(user) = non_empty(&self.username) {
            set(&mut config, "user", user.as_bytes())?;
        }
        if let Some(password) = self.password.as_deref().filter(|p| !p.is_empty()) {
            set(&mut config, "password", password)?;
        }
        if let Some(host) = non_empty(&self.host) {
            set(&mut config, "host", host.as_bytes())?;
        }
        if let Some(port) = self.port {
            set(&mut config, "port", port.to_string().as_bytes())?;
        }
        if let Some(database) = non_empty(&self.database) {
            set(&mut config, "dbname", database.as_bytes())?;
        }
        for (key, value) in &self.query {
            if key == "ssl" && value == "true" {
                set(&mut config, "sslmode", b"require")?;
            } else {
                set(&mut config, key, value.as_bytes())?;
            }
        }
        config.check_protocol_range()?;
        Ok(config)
    }

    /// The URI with the password in it (percent-encoded). Keep it out of logs.
    pub fn render_with_password(&self) -> String {
        self.render(false)
    }

    fn render(&self, mask: bool) -> String {
        let mut out = format!("{}://", self.drivername);
        let user = non_empty(&self.username);
        let password = self.password.as_deref().filter(|p| !p.is_empty());
        if user.is_some() || password.is_some() {
            out.push_str(&encode(user.unwrap_or("").as_bytes(), b""));
            if let Some(password) = password {
                out.push(':');
                out.push_str(&if mask {
                    "***".to_owned()
                } else {
                    encode(password, b"")
                });
            }
            out.push('@');
        }
        let mut params: Vec<(&str, String)> = Vec::new();
        let port = self.port.map(|p| p.to_string());
        match non_empty(&self.host) {
            Some(dir) if is_unix_socket_path(dir) => {
                params.push(("host", dir.to_owned()));
                if let Some(port) = &port {
                    params.push(("port", port.clone()));
                }
            }
            host => {
                if let Some(host) = host {
                    if host.contains(':') {
                        out.push('[');
                        out.push_str(&encode(host.as_bytes(), b":"));
                        out.push(']');
                    } else {
                        out.push_str(&encode(host.as_bytes(), b""));
                    }
                }
                if let Some(port) = &port {
                    out.push(':');
                    out.push_str(port);
                }
            }
        }
        if let Some(database) = non_empty(&self.database) {
            out.push('/');
            out.push_str(&encode(database.as_bytes(), b""));
        }
        params.extend(self.query.iter().map(|(k, v)| {
            let value = if mask && SECRET_KEYS.contains(&k.as_str()) {
                "***".to_owned()
            } else {
                v.clone()
            };
            (k.as_str(), value)
        }));
        for (i, (key, value)) in params.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(&encode(key.as_bytes(), b""));
            out.push('=');
            out.push_str(&encode(value.as_bytes(), b""));
        }
        out
    }
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

impl fmt::Display for Url {
    /// The URI with the password shown as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(true))
    }
}

/// As `Display`: the password is masked.
impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Url").field(&self.render(true)).finish()
    }
}

impl TryFrom<&Url> for Config {
    type Error = ConfigError;

    fn try_from(url: &Url) -> Result<Config, ConfigError> {
        url.to_config()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testutil::Pieces;
    use crate::config::{Host, SslMode};

    fn round_trip(url: &Url) -> Config {
        let direct = url.to_config().unwrap();
        let text = url.render_with_password();
        let parsed: Config = text.parse().unwrap();
        assert_eq!(parsed, direct, "{text}");
        assert_eq!(Config::try_from(url).unwrap(), direct);
        direct
    }

    #[test]
    fn renders_and_round_trips() {
        let url = Url::create("postgresql")
            .username("scott")
            .password("tiger")
            .host("localhost")
            .port(5432)
            .database("test");
        assert_eq!(
            url.to_string(),
            "postgresql://scott:***@localhost:5432/test"
        );
        assert_eq!(
            url.render_with_password(),
            "postgresql://scott:tiger@localhost:5432/test"
        );
        let c = round_trip(&url);
        assert_eq!(c.get_user(), Some("scott"));
        assert_eq!(c.get_password(), Some(&b"tiger"[..]));
        assert_eq!(c.get_hosts(), &[Host::Tcp("localhost".into())]);
        assert_eq!(c.get_ports(), &[5432]);
        assert_eq!(c.get_dbname(), Some("test"));
    }

    #[test]
    fn awkward_characters() {
        let url = Url::create("postgres")
            .username("us@r:name")
            .password(&b"p@ss/w:rd?#&=%\xff "[..])
            .host("db.example.com")
            .database("my/db?x")
            .query("options", "-c search_path=a,b&c")
            .query("application_name", "naïve app");
        let text = url.render_with_password();
        assert_eq!(text.matches('@').count(), 1, "{text}");
        assert_eq!(text.matches('?').count(), 1, "{text}");
        let c = round_trip(&url);
        assert_eq!(c.get_user(), Some("us@r:name"));
        assert_eq!(c.get_password(), Some(&b"p@ss/w:rd?#&=%\xff "[..]));
        assert_eq!(c.get_dbname(), Some("my/db?x"));
        assert_eq!(c.get_options(), Some("-c search_path=a,b&c"));
        assert_eq!(c.get_application_name(), Some("naïve app"));
        assert!(!url.to_string().contains("p%40ss"));
    }

    #[test]
    fn ipv6_and_sockets() {
        let url = Url::create("postgresql").host("::1").port(5433);
        assert_eq!(url.to_string(), "postgresql://[::1]:5433");
        assert_eq!(round_trip(&url).get_hosts(), &[Host::Tcp("::1".into())]);

        let url = Url::create("postgresql").host("fe80::1%eth0");
        assert_eq!(url.to_string(), "postgresql://[fe80::1%25eth0]");
        assert_eq!(
            round_trip(&url).get_hosts(),
            &[Host::Tcp("fe80::1%eth0".into())]
        );

        let url = Url::create("postgresql")
            .username("u")
            .host("/var/run/postgresql")
            .port(5433)
            .database("db");
        assert_eq!(
            url.to_string(),
            "postgresql://u@/db?host=%2Fvar%2Frun%2Fpostgresql&port=5433"
        );
        let c = round_trip(&url);
        assert_eq!(c.get_hosts(), &[Host::Unix("/var/run/postgresql".into())]);
        assert_eq!(c.get_ports(), &[5433]);

        let url = Url::create("postgresql").host("/tmp");
        assert_eq!(url.to_string(), "postgresql://?host=%2Ftmp");
        round_trip(&url);
    }

    #[test]
    fn sparse_urls() {
        let url = Url::create("postgresql");
        assert_eq!(url.to_string(), "postgresql://");
        assert_eq!(round_trip(&url), Config::new());

        let url = Url::create("postgresql").port(6000);
        assert_eq!(url.to_string(), "postgresql://:6000");
        assert_eq!(round_trip(&url).get_ports(), &[6000]);

        let url = Url::create("postgresql").password("pw").database("d");
        assert_eq!(url.to_string(), "postgresql://:***@/d");
        assert_eq!(round_trip(&url).get_user(), None);

        let url = Url::create("postgresql")
            .username("")
            .password("")
            .host("")
            .database("");
        assert_eq!(url.to_string(), "postgresql://");
        assert_eq!(round_trip(&url), Config::new());

        let url = Url::create("postgresql").host("a,b").port(1);
        let c = round_trip(&url);
        assert_eq!(c.get_hosts().len(), 2);
    }

    #[test]
    fn query_parameters() {
        let url = Url::create("postgresql")
            .host("h")
            .query("ssl", "true")
            .query("sslmode", "disable")
            .query("password", "MARKER");
        let c = round_trip(&url);
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
        assert_eq!(c.get_password(), Some(&b"MARKER"[..]));
        assert!(!url.to_string().contains("MARKER"));
        assert!(!format!("{url:?}").contains("MARKER"));
        let url = Url::create("postgresql").host("h").query("ssl", "true");
        assert_eq!(round_trip(&url).get_ssl_mode(), SslMode::Require);
        let url = Url::create("postgresql").host("/a").query("host", "b");
        assert_eq!(round_trip(&url).get_hosts(), &[Host::Tcp("b".into())]);
    }

    #[test]
    fn errors() {
        let e = Url::create("mysql").host("h").to_config().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported drivername \"mysql\": expected \"postgresql\" or \"postgres\""
        );
        assert_eq!(Url::create("mysql").drivername(), "mysql");
        let e = Url::create("postgresql")
            .query("bogus", "1")
            .to_config()
            .unwrap_err();
        assert_eq!(e.to_string(), "invalid URI query parameter: \"bogus\"");
        let url = Url::create("postgresql").port(0).password("MARKER");
        let e = url.to_config().unwrap_err().to_string();
        assert!(e.contains("invalid port number"), "{e}");
        let e2 = url
            .render_with_password()
            .parse::<Config>()
            .unwrap_err()
            .to_string();
        assert_eq!(e, e2);
        assert!(!e.contains("MARKER"));
    }

    #[test]
    fn debug_masks_password() {
        let url = Url::create("postgresql").username("u").password("MARKER");
        let dbg = format!("{url:?}");
        assert!(!dbg.contains("MARKER"), "{dbg}");
        assert_eq!(dbg, "Url(\"postgresql://u:***@\")");
    }

    /// Random parts: the rendered URI parses to the same settings as `to_config`, or both fail
    /// with the same error.
    #[test]
    fn random_round_trips() {
        const PIECES: &[&str] = &[
            "@", "/", ":", "?", "&", "=", "%", "[", "]", ",", "h", "5", "x", "é", " ", "'", "\\",
            "#", "+", "::1",
        ];
        let mut pieces = Pieces::new(7, PIECES);
        for i in 0..20_000u16 {
            let mut url = Url::create(if i % 3 == 0 { "postgres" } else { "postgresql" })
                .username(pieces.take(3))
                .password(pieces.take(3))
                .database(pieces.take(3))
                .query("application_name", pieces.take(3));
            url = match pieces.below(3) {
                0 => url.host(pieces.take(2)),
                1 => url.host(format!("/{}", pieces.take(2))),
                _ => url,
            };
            if i % 2 == 0 {
                url = url.port(i);
            }
            let text = url.render_with_password();
            match (url.to_config(), text.parse::<Config>()) {
                (Ok(direct), Ok(parsed)) => assert_eq!(direct, parsed, "{text}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text}"),
                (a, b) => panic!("{text}: {a:?} vs {b:?}"),
            }
        }
    }
}
