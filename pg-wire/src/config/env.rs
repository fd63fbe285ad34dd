//! Filling unset settings from the `PG*` environment variables, as libpq does.
//!
//! The variables are those of libpq's option table ([libpq-envars]); each fills its keyword only when
//! the keyword has not been given, and its value is checked exactly like the keyword's (an error names
//! the variable). An empty variable counts as unset. Besides the variables pg-wire implements, those
//! that would demand something pg-wire cannot do (`PGCHANNELBINDING=require`, `PGSERVICE`,
//! `PGTARGETSESSIONATTRS=read-write`, ...) are checked too, so that such a demand is refused rather
//! than silently dropped.
//!
//! [libpq-envars]: https://www.postgresql.org/docs/current/libpq-envars.html

use crate::config::error::{ConfigError, Echo};
use crate::config::options::{self, Origin};
use crate::config::{Config, SslMode};

/// Environment variable and the keyword it fills, in libpq's order.
const VARIABLES: [(&str, &str); 23] = [
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGPASSFILE", "passfile"),
    ("PGCHANNELBINDING", "channel_binding"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGDATABASE", "dbname"),
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGCLIENTENCODING", "client_encoding"),
    ("PGOPTIONS", "options"),
    ("PGAPPNAME", "application_name"),
    ("PGSSLMODE", "sslmode"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGREQUIREPEER", "requirepeer"),
    ("PGREQUIREAUTH", "require_auth"),
    ("PGMINPROTOCOLVERSION", "min_protocol_version"),
    ("PGMAXPROTOCOLVERSION", "max_protocol_version"),
    ("PGGSSENCMODE", "gssencmode"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGLOADBALANCEHOSTS", "load_balance_hosts"),
    ("PGSERVICE", "service"),
    // libpq's pre-9.3 variable, handled below: it only applies when PGSSLMODE is not set.
    ("PGREQUIRESSL", "requiressl"),
];

impl Config {
    /// Fills every setting that is still unset from the process environment (`PGHOST`, `PGPORT`,
    /// `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, ...), as libpq does.
    pub fn with_env(self) -> Result<Config, ConfigError> {
        self.with_env_from(|name| std::env::var(name).ok())
    }

    /// [`with_env`](Config::with_env) with the variables looked up by `lookup`: pure, for tests and
    /// for callers with their own environment.
    ///
    /// ```
    /// use pg_wire::config::{Config, Host};
    ///
    /// let config: Config = "dbname=app".parse().unwrap();
    /// let config = config
    ///     .with_env_from(|name| match name {
    ///         "PGHOST" => Some("db.internal".to_owned()),
    ///         "PGDATABASE" => Some("ignored: dbname is set".to_owned()),
    ///         _ => None,
    ///     })
    ///     .unwrap();
    /// assert_eq!(config.get_hosts(), &[Host::Tcp("db.internal".into())]);
    /// assert_eq!(config.get_dbname(), Some("app"));
    /// ```
    pub fn with_env_from(
        mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        for (variable, keyword) in VARIABLES {
            if options::is_set(&self, keyword) {
                continue;
            }
            let Some(value) = lookup(variable).filter(|v| !v.is_empty()) else {
                continue;
            };
            if keyword == "requiressl" {
                // libpq: a value starting with "1" means sslmode=require; anything else is ignored.
                if value.starts_with('1') {
                    self.ssl_mode = Some(SslMode::Require);
                }
                continue;
            }
            options::apply(
                &mut self,
                keyword,
                value.as_bytes(),
                Echo::Show,
                Origin::KeyValue,
            )
            .map_err(|e| e.context(&format!("environment variable {variable}")))?;
        }
        Ok(self)
    }

    /// The configuration a program gets with no connection string of its own: `DATABASE_URL` parsed
    /// if it is set (a URI or key=value string), then [`with_env`](Config::with_env).
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_env_with(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Config::from_env) with a given lookup.
    pub(crate) fn from_env_with(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let base = match lookup("DATABASE_URL").filter(|v| !v.is_empty()) {
            Some(url) => url
                .parse::<Config>()
                .map_err(|e| e.context("environment variable DATABASE_URL"))?,
            None => Config::new(),
        };
        base.with_env_from(lookup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthMethod, ConfigErrorKind, Host, ProtocolVersion};
    use std::collections::HashMap;
    use std::path::Path;
    use std::time::Duration;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn everything() -> Vec<(&'static str, &'static str)> {
        vec![
            ("PGHOST", "envhost1,/envsock"),
            ("PGHOSTADDR", "10.1.1.1,10.1.1.2"),
            ("PGPORT", "6001,6002"),
            ("PGUSER", "envuser"),
            ("PGPASSWORD", "envpass"),
            ("PGDATABASE", "envdb"),
            ("PGAPPNAME", "envapp"),
            ("PGOPTIONS", "-c work_mem=1MB"),
            ("PGCONNECT_TIMEOUT", "7"),
            ("PGPASSFILE", "/env/pgpass"),
            ("PGSSLMODE", "disable"),
            ("PGREQUIREAUTH", "scram-sha-256"),
            ("PGMINPROTOCOLVERSION", "3.0"),
            ("PGMAXPROTOCOLVERSION", "3.2"),
        ]
    }

    #[test]
    fn fills_everything_unset() {
        let c = Config::new().with_env_from(env(&everything())).unwrap();
        assert_eq!(
            c.get_hosts(),
            &[Host::Tcp("envhost1".into()), Host::Unix("/envsock".into())]
        );
        assert_eq!(c.get_hostaddrs().len(), 2);
        assert_eq!(c.get_ports(), &[6001, 6002]);
        assert_eq!(c.get_user(), Some("envuser"));
        assert_eq!(c.get_password(), Some(&b"envpass"[..]));
        assert_eq!(c.get_dbname(), Some("envdb"));
        assert_eq!(c.get_application_name(), Some("envapp"));
        assert_eq!(c.get_options(), Some("-c work_mem=1MB"));
        assert_eq!(c.get_connect_timeout(), Some(Duration::from_secs(7)));
        assert_eq!(c.get_passfile(), Some(Path::new("/env/pgpass")));
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
        assert!(!c.get_require_auth().allows(AuthMethod::Md5));
        assert_eq!(c.get_min_protocol_version(), ProtocolVersion::V3_0);
        assert_eq!(c.get_max_protocol_version(), ProtocolVersion::V3_2);
    }

    #[test]
    fn explicit_settings_win() {
        let c: Config = "host=h hostaddr=127.0.0.1 port=1 user=u password=p dbname=d \
                         application_name=a options=o connect_timeout=3 passfile=/pf \
                         sslmode=require require_auth=md5 min_protocol_version=3.2 \
                         max_protocol_version=latest"
            .parse()
            .unwrap();
        let merged = c.clone().with_env_from(env(&everything())).unwrap();
        assert_eq!(merged, c);
    }

    #[test]
    fn empty_values() {
        // An empty variable is unset...
        let c = Config::new()
            .with_env_from(env(&[("PGHOST", ""), ("PGPORT", "")]))
            .unwrap();
        assert_eq!(c, Config::new());
        // ...while an empty keyword is set, and blocks the variable (as in libpq).
        let c: Config = "host='' user=''".parse().unwrap();
        let c = c.with_env_from(env(&everything())).unwrap();
        assert!(c.get_hosts().is_empty());
        assert_eq!(c.get_user(), Some(""));
        assert_eq!(c.get_dbname(), Some("envdb"));
    }

    #[test]
    fn uri_multi_host_blocks_pgport_like_libpq() {
        let c: Config = "postgresql://a,b/db".parse().unwrap();
        let c = c.with_env_from(env(&[("PGPORT", "7777")])).unwrap();
        assert_eq!(c.get_ports(), &[5432, 5432]);
        let c: Config = "postgresql://a/db".parse().unwrap();
        let c = c.with_env_from(env(&[("PGPORT", "7777")])).unwrap();
        assert_eq!(c.get_ports(), &[7777]);
    }

    #[test]
    fn errors_name_the_variable() {
        let e = Config::new()
            .with_env_from(env(&[("PGPORT", "seven")]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable PGPORT: invalid integer value \"seven\" for connection option \
             \"port\""
        );
        assert_eq!(e.kind(), ConfigErrorKind::InvalidValue);
        let e = Config::new()
            .with_env_from(env(&[("PGSSLMODE", "bogus")]))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("environment variable PGSSLMODE: invalid sslmode value: \"bogus\"")
        );
        let e = Config::new()
            .with_env_from(env(&[("PGCONNECT_TIMEOUT", "-1")]))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("environment variable PGCONNECT_TIMEOUT")
        );
    }

    #[test]
    fn unsupported_demands_are_refused() {
        for (var, value) in [
            ("PGCHANNELBINDING", "require"),
            ("PGSERVICE", "prod"),
            ("PGTARGETSESSIONATTRS", "read-write"),
            ("PGCLIENTENCODING", "LATIN1"),
            ("PGGSSENCMODE", "require"),
        ] {
            let e = Config::new()
                .with_env_from(env(&[(var, value)]))
                .unwrap_err();
            assert_eq!(e.kind(), ConfigErrorKind::Unsupported, "{var}");
            assert!(
                e.to_string()
                    .starts_with(&format!("environment variable {var}: "))
            );
        }
        // ...unless the connection string already decided.
        let c: Config = "channel_binding=disable".parse().unwrap();
        assert!(
            c.with_env_from(env(&[("PGCHANNELBINDING", "require")]))
                .is_ok()
        );
        // Harmless values pass.
        let c = Config::new()
            .with_env_from(env(&[
                ("PGCHANNELBINDING", "prefer"),
                ("PGCLIENTENCODING", "UTF8"),
            ]))
            .unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Prefer);
    }

    #[test]
    fn legacy_and_rootcert() {
        let c = Config::new()
            .with_env_from(env(&[("PGREQUIRESSL", "1")]))
            .unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Require);
        let c = Config::new()
            .with_env_from(env(&[("PGREQUIRESSL", "0")]))
            .unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Prefer);
        let c = Config::new()
            .with_env_from(env(&[("PGREQUIRESSL", "1"), ("PGSSLMODE", "allow")]))
            .unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Allow);
        let c = Config::new()
            .with_env_from(env(&[("PGSSLROOTCERT", "system")]))
            .unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::VerifyFull);
        let c = Config::new()
            .with_env_from(env(&[
                ("PGSSLROOTCERT", "system"),
                ("PGSSLMODE", "require"),
            ]))
            .unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Require);
    }

    #[test]
    fn password_not_echoed_from_env() {
        let c = Config::new()
            .with_env_from(env(&[("PGPASSWORD", "MARKER secret")]))
            .unwrap();
        assert!(!format!("{c:?}").contains("MARKER"));
    }

    #[test]
    fn from_env_uses_database_url() {
        let c = Config::from_env_with(env(&[
            ("DATABASE_URL", "postgresql://u@h/db"),
            ("PGUSER", "other"),
            ("PGPORT", "6000"),
        ]))
        .unwrap();
        assert_eq!(c.get_user(), Some("u"));
        assert_eq!(c.get_hosts(), &[Host::Tcp("h".into())]);
        assert_eq!(c.get_ports(), &[6000]);
        let c = Config::from_env_with(env(&[("DATABASE_URL", "host=/sock dbname=x")])).unwrap();
        assert_eq!(c.get_hosts(), &[Host::Unix("/sock".into())]);
        let c = Config::from_env_with(env(&[("PGHOST", "h")])).unwrap();
        assert_eq!(c.get_hosts(), &[Host::Tcp("h".into())]);
        let e = Config::from_env_with(env(&[("DATABASE_URL", "postgresql://u:MARKER@h:x/db")]))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("environment variable DATABASE_URL: "),
            "{e}"
        );
        assert!(!e.to_string().contains("MARKER"));
    }

    #[test]
    fn real_environment_smoke() {
        // Whatever the test process's environment holds, these must not panic.
        let _ = Config::new().with_env();
        let _ = Config::from_env();
    }
}
