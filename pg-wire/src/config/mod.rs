//! Connection settings: what to connect to, as whom, and how.
//!
//! [`Config`] is built with tokio-postgres-style setters, or parsed from the strings psql accepts (libpq's
//! [connection strings]): a URI (`postgresql://user@host:5432/db?sslmode=disable`) or `key=value`
//! pairs (`host=/var/run/postgresql dbname=app`). Parsing is pure. Everything that looks outside the
//! string is a separate, explicit step:
//!
//! - [`Config::with_env`] fills what is still unset from `PGHOST`, `PGPORT`, `PGUSER`, ... as libpq
//!   does ([`Config::with_env_from`] takes the lookup as a closure, for tests);
//! - [`Config::effective_user`], [`Config::effective_dbname`] and [`Config::targets`] apply libpq's
//!   defaults (the operating-system user, the default socket directory, port 5432) at connect time,
//!   without storing them;
//! - [`Config::password_for`] consults the password file (`~/.pgpass`) for one target.
//!
//! `Debug` never shows the password, and no [`ConfigError`] ever contains one.
//!
//! # Keywords
//!
//! Implemented: `host`, `hostaddr`, `port`, `dbname`, `user`, `password`, `passfile`,
//! `connect_timeout`, `application_name`, `fallback_application_name`, `options`, `sslmode` (and the
//! old `requiressl`), `require_auth`, `min_protocol_version`, `max_protocol_version`, and in URIs
//! `ssl=true` (= `sslmode=require`).
//!
//! Accepted only with the values that ask for nothing pg-wire lacks: `client_encoding` (UTF8),
//! `target_session_attrs` (`any`), `channel_binding` and `gssencmode` (`disable`, `prefer`),
//! `load_balance_hosts` (`disable`), `replication` (false), `requirepeer` (empty). `sslrootcert` is
//! accepted; `system` makes `verify-full` the default `sslmode`, as in libpq.
//!
//! Accepted and ignored, since they only tune what pg-wire does not do yet and cannot weaken a
//! connection: `keepalives`, `keepalives_idle`, `keepalives_interval`, `keepalives_count`,
//! `tcp_user_timeout`, `sslcompression`, `sslsni`, `sslcert`, `sslkey`, `sslpassword`,
//! `sslcertmode`, `sslcrl`, `sslcrldir`, `ssl_min_protocol_version`, `ssl_max_protocol_version`,
//! `sslnegotiation`, `sslkeylogfile`, `krbsrvname`, `gsslib`, `gssdelegation`.
//!
//! Refused as not supported: `service` and the OAuth keywords. Any other keyword is an error
//! (`invalid connection option "foo"`), as in libpq. A `dbname` that is itself a connection string is
//! not expanded.
//!
//! ```
//! use pg_wire::config::{Config, Host};
//!
//! let config: Config = "postgresql://app:s3cret@db.example.com:6432/orders?application_name=api"
//!     .parse()
//!     .unwrap();
//! assert_eq!(config.get_user(), Some("app"));
//! assert_eq!(config.get_hosts(), &[Host::Tcp("db.example.com".into())]);
//! assert_eq!(config.get_ports(), &[6432]);
//! assert!(!format!("{config:?}").contains("s3cret"));
//! ```
//!
//! [connection strings]: https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING

mod auth;
mod env;
mod error;
mod keyvalue;
mod options;
mod osuser;
mod passfile;
mod percent;
mod protocol;
mod sslmode;
mod target;
#[cfg(test)]
mod testutil;
mod uri;
mod url;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub use auth::{AuthMethod, RequireAuth};
pub use error::{ConfigError, ConfigErrorKind};
pub use passfile::find_password;
pub use protocol::ProtocolVersion;
pub use sslmode::SslMode;
pub use target::{Host, Target};
pub use url::Url;

/// The port used when none is given (libpq's `DEF_PGPORT`).
pub const DEFAULT_PORT: u16 = 5432;

/// The statement cache capacity unless [`Config::statement_cache_capacity`] says otherwise.
pub const DEFAULT_STATEMENT_CACHE_CAPACITY: usize = 256;

/// The largest SCRAM iteration count accepted unless [`Config::max_scram_iterations`] says
/// otherwise. PostgreSQL's default is 4096; far more makes the client burn CPU for the server.
pub const DEFAULT_MAX_SCRAM_ITERATIONS: u32 = crate::proto::auth::scram::DEFAULT_MAX_ITERATIONS;

/// The largest backend message accepted unless [`Config::max_message_size`] says otherwise: 256 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

/// libpq's shortest effective `connect_timeout`: smaller non-zero values are raised to this.
pub const MIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Connection settings.
///
/// Every field starts unset; getters return what was set (`None` or an empty slice if nothing was),
/// except those with a fixed default ([`get_ssl_mode`](Config::get_ssl_mode),
/// [`get_require_auth`](Config::get_require_auth), the protocol versions and the message size limit).
/// List-valued settings (hosts, host addresses, ports) are appended to by their setters and replaced
/// as a whole by a connection-string keyword.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    user: Option<String>,
    password: Option<Vec<u8>>,
    dbname: Option<String>,
    /// `Some(vec![])` is "set, but empty" (`host=`): the default, and the environment does not apply.
    hosts: Option<Vec<Host>>,
    hostaddrs: Option<Vec<IpAddr>>,
    ports: Option<Vec<u16>>,
    application_name: Option<String>,
    fallback_application_name: Option<String>,
    options: Option<String>,
    connect_timeout: Option<Duration>,
    require_auth: Option<RequireAuth>,
    ssl_mode: Option<SslMode>,
    /// `sslrootcert=system` was given: libpq then defaults `sslmode` to `verify-full`.
    sslrootcert_system: bool,
    passfile: Option<PathBuf>,
    max_message_size: usize,
    statement_cache_capacity: usize,
    named_statements: bool,
    query_timeout: Option<Duration>,
    max_scram_iterations: u32,
    min_protocol_version: Option<ProtocolVersion>,
    max_protocol_version: Option<ProtocolVersion>,
    /// Keywords that were accepted and checked but are not stored (`channel_binding=disable`,
    /// `keepalives=1`, ...), so that the environment does not override them.
    other_keywords: Vec<&'static str>,
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

impl Config {
    /// An empty configuration: everything unset.
    pub fn new() -> Config {
        Config {
            user: None,
            password: None,
            dbname: None,
            hosts: None,
            hostaddrs: None,
            ports: None,
            application_name: None,
            fallback_application_name: None,
            options: None,
            connect_timeout: None,
            require_auth: None,
            ssl_mode: None,
            sslrootcert_system: false,
            passfile: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            statement_cache_capacity: DEFAULT_STATEMENT_CACHE_CAPACITY,
            named_statements: true,
            query_timeout: None,
            max_scram_iterations: DEFAULT_MAX_SCRAM_ITERATIONS,
            min_protocol_version: None,
            max_protocol_version: None,
            other_keywords: Vec::new(),
        }
    }

    // ---- setters -------------------------------------------------------------------------------

    /// Sets the user name to log in as (`user`).
    pub fn user(&mut self, user: impl Into<String>) -> &mut Config {
        self.user = Some(user.into());
        self
    }

    /// Sets the password (`password`). It is bytes: PostgreSQL does not require passwords to be UTF-8.
    pub fn password(&mut self, password: impl Into<Vec<u8>>) -> &mut Config {
        self.password = Some(password.into());
        self
    }

    /// Sets the database name (`dbname`).
    pub fn dbname(&mut self, dbname: impl Into<String>) -> &mut Config {
        self.dbname = Some(dbname.into());
        self
    }

    /// Appends a host. A value starting with `/` (or `@`, Linux's abstract namespace) is a Unix-socket
    /// directory, anything else a host name or IP address, as in libpq. The value is one host: commas
    /// are not split here (they are in a connection string's `host=a,b`).
    pub fn host(&mut self, host: impl Into<String>) -> &mut Config {
        let host = Host::from(host.into());
        self.hosts.get_or_insert_with(Vec::new).push(host);
        self
    }

    /// Appends a Unix-socket directory as a host.
    pub fn host_path(&mut self, dir: impl AsRef<Path>) -> &mut Config {
        let host = Host::Unix(dir.as_ref().to_path_buf());
        self.hosts.get_or_insert_with(Vec::new).push(host);
        self
    }

    /// Appends a numeric host address (`hostaddr`). With host addresses, connections go over TCP to
    /// these addresses, and the host names (if any) only serve the password file and, later, TLS.
    pub fn hostaddr(&mut self, addr: IpAddr) -> &mut Config {
        self.hostaddrs.get_or_insert_with(Vec::new).push(addr);
        self
    }

    /// Appends a port. Give one port for all hosts, or one per host.
    pub fn port(&mut self, port: u16) -> &mut Config {
        self.ports.get_or_insert_with(Vec::new).push(port);
        self
    }

    /// Sets `application_name`, reported to the server.
    pub fn application_name(&mut self, name: impl Into<String>) -> &mut Config {
        self.application_name = Some(name.into());
        self
    }

    /// Sets `fallback_application_name`, used when no `application_name` is set.
    pub fn fallback_application_name(&mut self, name: impl Into<String>) -> &mut Config {
        self.fallback_application_name = Some(name.into());
        self
    }

    /// Sets `options`: command-line options for the server, such as `-c search_path=app`.
    pub fn options(&mut self, options: impl Into<String>) -> &mut Config {
        self.options = Some(options.into());
        self
    }

    /// Sets the time allowed for connecting to each host. Zero means no limit; see
    /// [`effective_connect_timeout`](Config::effective_connect_timeout) for libpq's 2-second floor.
    pub fn connect_timeout(&mut self, timeout: Duration) -> &mut Config {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sets which authentication methods the server may ask for (`require_auth`).
    pub fn require_auth(&mut self, require: RequireAuth) -> &mut Config {
        self.require_auth = Some(require);
        self
    }

    /// Sets `sslmode`.
    pub fn ssl_mode(&mut self, mode: SslMode) -> &mut Config {
        self.ssl_mode = Some(mode);
        self
    }

    /// Sets the password file to consult instead of `~/.pgpass` (`passfile`).
    pub fn passfile(&mut self, path: impl AsRef<Path>) -> &mut Config {
        self.passfile = Some(path.as_ref().to_path_buf());
        self
    }

    /// Sets the largest backend message, in bytes, the connection accepts before reporting an error
    /// (a pg-wire setting, not libpq's). Default: [`DEFAULT_MAX_MESSAGE_SIZE`].
    pub fn max_message_size(&mut self, bytes: usize) -> &mut Config {
        self.max_message_size = bytes;
        self
    }

    /// Sets how many prepared statements each connection keeps for SQL given as text, least
    /// recently used evicted first (a pg-wire setting). 0 turns the cache off. Default:
    /// [`DEFAULT_STATEMENT_CACHE_CAPACITY`].
    pub fn statement_cache_capacity(&mut self, statements: usize) -> &mut Config {
        self.statement_cache_capacity = statements;
        self
    }

    /// Whether the driver may create named prepared statements on the server (a pg-wire setting).
    /// With `false` it only uses the unnamed statement, re-parsing each query in the same round
    /// trip as its execution, so it works through PgBouncer in transaction pooling mode. Default:
    /// `true`.
    pub fn named_statements(&mut self, enabled: bool) -> &mut Config {
        self.named_statements = enabled;
        self
    }

    /// Sets a time limit for each query (a pg-wire setting): when it passes, the driver sends a
    /// cancel request, waits for the server to stop, and returns a timeout error; the connection
    /// stays usable. Default: none. For a streamed query (`query_raw`) the limit covers the wait
    /// for its first response, not the reading of its rows, which goes at the caller's pace.
    pub fn query_timeout(&mut self, timeout: Duration) -> &mut Config {
        self.query_timeout = Some(timeout);
        self
    }

    /// Sets the largest SCRAM iteration count accepted from a server (a pg-wire setting); a higher
    /// count is refused before any work is done. Default: [`DEFAULT_MAX_SCRAM_ITERATIONS`].
    pub fn max_scram_iterations(&mut self, iterations: u32) -> &mut Config {
        self.max_scram_iterations = iterations;
        self
    }

    /// Sets the oldest protocol version accepted (`min_protocol_version`). Default: 3.0.
    pub fn min_protocol_version(&mut self, version: ProtocolVersion) -> &mut Config {
        self.min_protocol_version = Some(version);
        self
    }

    /// Sets the protocol version requested (`max_protocol_version`). Default: 3.0, or the latest when
    /// the minimum is above 3.0 (as libpq 18).
    pub fn max_protocol_version(&mut self, version: ProtocolVersion) -> &mut Config {
        self.max_protocol_version = Some(version);
        self
    }

    // ---- getters -------------------------------------------------------------------------------

    /// The user name, if set.
    pub fn get_user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The password, if set.
    pub fn get_password(&self) -> Option<&[u8]> {
        self.password.as_deref()
    }

    /// The database name, if set.
    pub fn get_dbname(&self) -> Option<&str> {
        self.dbname.as_deref()
    }

    /// The hosts, in order. An empty [`Host::Unix`] path stands for an empty list element
    /// (`host=a,,b`): the default for that slot.
    pub fn get_hosts(&self) -> &[Host] {
        self.hosts.as_deref().unwrap_or(&[])
    }

    /// The numeric host addresses, in order.
    pub fn get_hostaddrs(&self) -> &[IpAddr] {
        self.hostaddrs.as_deref().unwrap_or(&[])
    }

    /// The ports, in order. An empty element of a `port=` list is stored as [`DEFAULT_PORT`].
    pub fn get_ports(&self) -> &[u16] {
        self.ports.as_deref().unwrap_or(&[])
    }

    /// `application_name`, if set.
    pub fn get_application_name(&self) -> Option<&str> {
        self.application_name.as_deref()
    }

    /// `fallback_application_name`, if set.
    pub fn get_fallback_application_name(&self) -> Option<&str> {
        self.fallback_application_name.as_deref()
    }

    /// `options`, if set.
    pub fn get_options(&self) -> Option<&str> {
        self.options.as_deref()
    }

    /// The connect timeout as set (zero meaning "no limit").
    pub fn get_connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// The accepted authentication methods ([`RequireAuth::any`] unless set).
    pub fn get_require_auth(&self) -> &RequireAuth {
        self.require_auth.as_ref().unwrap_or(&auth::ANY_AUTH)
    }

    /// `sslmode`: as set, else `verify-full` if `sslrootcert=system` was given (as libpq), else
    /// [`SslMode::Prefer`].
    pub fn get_ssl_mode(&self) -> SslMode {
        match self.ssl_mode {
            Some(mode) => mode,
            None if self.sslrootcert_system => SslMode::VerifyFull,
            None => SslMode::Prefer,
        }
    }

    /// The password file, if set (see [`password_for`](Config::password_for) for the default).
    pub fn get_passfile(&self) -> Option<&Path> {
        self.passfile.as_deref()
    }

    /// The largest backend message accepted, in bytes.
    pub fn get_max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The capacity of each connection's statement cache.
    pub fn get_statement_cache_capacity(&self) -> usize {
        self.statement_cache_capacity
    }

    /// Whether named prepared statements may be used.
    pub fn get_named_statements(&self) -> bool {
        self.named_statements
    }

    /// The per-query time limit, if set.
    pub fn get_query_timeout(&self) -> Option<Duration> {
        self.query_timeout
    }

    /// The largest SCRAM iteration count accepted.
    pub fn get_max_scram_iterations(&self) -> u32 {
        self.max_scram_iterations
    }

    /// The oldest protocol version accepted: as set, else 3.0.
    pub fn get_min_protocol_version(&self) -> ProtocolVersion {
        self.min_protocol_version.unwrap_or(ProtocolVersion::V3_0)
    }

    /// The protocol version to request: as set, else 3.0, or the latest when the minimum is above
    /// 3.0 (libpq 18's rule).
    pub fn get_max_protocol_version(&self) -> ProtocolVersion {
        match self.max_protocol_version {
            Some(v) => v,
            None if self.get_min_protocol_version() > ProtocolVersion::V3_0 => {
                ProtocolVersion::LATEST
            }
            None => ProtocolVersion::V3_0,
        }
    }

    // ---- derived values ----------------------------------------------------------------------

    /// The application name to report: a non-empty `application_name`, else a non-empty
    /// `fallback_application_name` (as libpq).
    pub fn effective_application_name(&self) -> Option<&str> {
        fn non_empty(s: &Option<String>) -> Option<&str> {
            s.as_deref().filter(|s| !s.is_empty())
        }
        non_empty(&self.application_name).or_else(|| non_empty(&self.fallback_application_name))
    }

    /// The time limit per host as libpq applies it: `None` if unset or zero, else at least
    /// [`MIN_CONNECT_TIMEOUT`].
    pub fn effective_connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
            .filter(|t| !t.is_zero())
            .map(|t| t.max(MIN_CONNECT_TIMEOUT))
    }

    /// Checks that the protocol version range is not empty.
    pub(crate) fn check_protocol_range(&self) -> Result<(), ConfigError> {
        if self.get_min_protocol_version() > self.get_max_protocol_version() {
            return Err(ConfigError::invalid(
                "\"min_protocol_version\" is greater than \"max_protocol_version\"",
            ));
        }
        Ok(())
    }
}

/// Shows every setting but the password, which appears as `Some(<redacted>)`.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Redacted;
        impl fmt::Debug for Redacted {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("<redacted>")
            }
        }
        f.debug_struct("Config")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .field("dbname", &self.dbname)
            .field("hosts", &self.hosts)
            .field("hostaddrs", &self.hostaddrs)
            .field("ports", &self.ports)
            .field("application_name", &self.application_name)
            .field("fallback_application_name", &self.fallback_application_name)
            .field("options", &self.options)
            .field("connect_timeout", &self.connect_timeout)
            .field("require_auth", &self.require_auth)
            .field("ssl_mode", &self.ssl_mode)
            .field("sslrootcert_system", &self.sslrootcert_system)
            .field("passfile", &self.passfile)
            .field("max_message_size", &self.max_message_size)
            .field("statement_cache_capacity", &self.statement_cache_capacity)
            .field("named_statements", &self.named_statements)
            .field("query_timeout", &self.query_timeout)
            .field("max_scram_iterations", &self.max_scram_iterations)
            .field("min_protocol_version", &self.min_protocol_version)
            .field("max_protocol_version", &self.max_protocol_version)
            .field("other_keywords", &self.other_keywords)
            .finish()
    }
}

impl FromStr for Config {
    type Err = ConfigError;

    /// Parses a libpq connection string: a URI when it starts with `postgresql://` or
    /// `postgres://`, else `key=value` pairs.
    fn from_str(s: &str) -> Result<Config, ConfigError> {
        let config = if uri::has_uri_prefix(s) {
            uri::parse(s)?
        } else {
            keyvalue::parse(s)?
        };
        config.check_protocol_range()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_is_empty() {
        let c = Config::new();
        assert_eq!(c, Config::default());
        assert_eq!(c.get_user(), None);
        assert_eq!(c.get_password(), None);
        assert_eq!(c.get_dbname(), None);
        assert!(c.get_hosts().is_empty());
        assert!(c.get_hostaddrs().is_empty());
        assert!(c.get_ports().is_empty());
        assert_eq!(c.get_application_name(), None);
        assert_eq!(c.get_options(), None);
        assert_eq!(c.get_connect_timeout(), None);
        assert!(c.get_require_auth().is_any());
        assert_eq!(c.get_ssl_mode(), SslMode::Prefer);
        assert_eq!(c.get_passfile(), None);
        assert_eq!(c.get_max_message_size(), DEFAULT_MAX_MESSAGE_SIZE);
        assert_eq!(c.get_max_message_size(), 268_435_456);
        assert_eq!(c.get_min_protocol_version(), ProtocolVersion::V3_0);
        assert_eq!(c.get_max_protocol_version(), ProtocolVersion::V3_0);
    }

    #[test]
    fn setters_chain_and_getters_return_them() {
        let mut c = Config::new();
        c.user("alice")
            .password("pw")
            .dbname("app")
            .host("db1")
            .host("/run/pg")
            .host_path("/tmp")
            .hostaddr("10.0.0.1".parse().unwrap())
            .port(5433)
            .port(5434)
            .application_name("svc")
            .options("-c x=1")
            .connect_timeout(Duration::from_secs(5))
            .require_auth(RequireAuth::only(&[AuthMethod::ScramSha256]))
            .ssl_mode(SslMode::Disable)
            .passfile("/etc/pgpass")
            .max_message_size(1024)
            .min_protocol_version(ProtocolVersion::V3_2)
            .max_protocol_version(ProtocolVersion::V3_2);
        assert_eq!(c.get_user(), Some("alice"));
        assert_eq!(c.get_password(), Some(&b"pw"[..]));
        assert_eq!(c.get_dbname(), Some("app"));
        assert_eq!(
            c.get_hosts(),
            &[
                Host::Tcp("db1".into()),
                Host::Unix("/run/pg".into()),
                Host::Unix("/tmp".into())
            ]
        );
        assert_eq!(c.get_hostaddrs(), &["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(c.get_ports(), &[5433, 5434]);
        assert_eq!(c.get_application_name(), Some("svc"));
        assert_eq!(c.get_options(), Some("-c x=1"));
        assert_eq!(c.get_connect_timeout(), Some(Duration::from_secs(5)));
        assert!(!c.get_require_auth().allows(AuthMethod::Md5));
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
        assert_eq!(c.get_passfile(), Some(Path::new("/etc/pgpass")));
        assert_eq!(c.get_max_message_size(), 1024);
        assert_eq!(c.get_min_protocol_version(), ProtocolVersion::V3_2);
        assert_eq!(c.get_max_protocol_version(), ProtocolVersion::V3_2);
    }

    #[test]
    fn debug_redacts_password() {
        let mut c = Config::new();
        c.user("bob").password("MARKER-hunter2");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("MARKER"), "{dbg}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("password: Some(<redacted>)"), "{dbg}");
        assert!(dbg.contains("\"bob\""), "{dbg}");
        let pretty = format!("{c:#?}");
        assert!(!pretty.contains("MARKER"), "{pretty}");
        let parsed: Config = "postgresql://u:MARKER-pw@h/db".parse().unwrap();
        assert!(!format!("{parsed:?}").contains("MARKER"));
        assert!(format!("{:?}", Config::new()).contains("password: None"));
    }

    #[test]
    fn application_name_fallback() {
        let mut c = Config::new();
        assert_eq!(c.effective_application_name(), None);
        c.fallback_application_name("fallback");
        assert_eq!(c.effective_application_name(), Some("fallback"));
        c.application_name("");
        assert_eq!(c.effective_application_name(), Some("fallback"));
        c.application_name("app");
        assert_eq!(c.effective_application_name(), Some("app"));
    }

    #[test]
    fn connect_timeout_floor() {
        let mut c = Config::new();
        assert_eq!(c.effective_connect_timeout(), None);
        c.connect_timeout(Duration::ZERO);
        assert_eq!(c.effective_connect_timeout(), None);
        c.connect_timeout(Duration::from_secs(1));
        assert_eq!(c.effective_connect_timeout(), Some(Duration::from_secs(2)));
        c.connect_timeout(Duration::from_secs(10));
        assert_eq!(c.effective_connect_timeout(), Some(Duration::from_secs(10)));
    }

    #[test]
    fn protocol_version_defaults_follow_libpq() {
        let mut c = Config::new();
        c.min_protocol_version(ProtocolVersion::V3_2);
        assert_eq!(c.get_max_protocol_version(), ProtocolVersion::V3_2);
        assert!(c.check_protocol_range().is_ok());
        c.max_protocol_version(ProtocolVersion::V3_0);
        assert_eq!(
            c.check_protocol_range().unwrap_err().to_string(),
            "\"min_protocol_version\" is greater than \"max_protocol_version\""
        );
    }

    #[test]
    fn from_str_dispatches() {
        let uri: Config = "postgres://h/db".parse().unwrap();
        let kv: Config = "host=h dbname=db".parse().unwrap();
        assert_eq!(uri, kv);
        assert_eq!("".parse::<Config>().unwrap(), Config::new());
        let e = "min_protocol_version=3.2 max_protocol_version=3.0"
            .parse::<Config>()
            .unwrap_err();
        assert!(e.to_string().contains("is greater than"));
        // The scheme is case-sensitive in libpq: this is a (malformed) key=value string.
        assert!("POSTGRESQL://h".parse::<Config>().is_err());
    }
}
