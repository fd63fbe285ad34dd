//! Hosts, and the list of connection targets derived from hosts, host addresses and ports.
//!
//! Follows libpq's `pqConnectOptions2`: the number of targets is the number of `hostaddr` entries if
//! any, else of `host` entries, else one; a `host` list given next to a `hostaddr` list must be as long;
//! there is either one port for every host or one port per host; an empty host means the default
//! (the default socket directory, or the slot's `hostaddr`). A host starting with `/` (or `@`, Linux's
//! abstract socket namespace) is a Unix-socket directory.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::config::error::{ConfigError, ConfigErrorKind};
use crate::config::{Config, DEFAULT_PORT};

/// Where the default socket directory is looked for, in order: the first that exists is used, else the
/// last (libpq's compiled-in `DEFAULT_PGSOCKET_DIR` is `/tmp` upstream and `/var/run/postgresql` in
/// Debian and Red Hat builds).
const DEFAULT_SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

/// One host to connect to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A host name or an IP address, reached over TCP.
    Tcp(String),
    /// The directory holding the server's Unix socket (`<dir>/.s.PGSQL.<port>`). An empty path stands
    /// for an empty element of a host list: the default for that slot, resolved by
    /// [`Config::targets`].
    Unix(PathBuf),
}

impl Host {
    /// Whether this is the empty placeholder for "the default host".
    pub fn is_default(&self) -> bool {
        matches!(self, Host::Unix(dir) if dir.as_os_str().is_empty())
    }
}

impl From<String> for Host {
    /// Classifies as libpq does: `/dir` and `@name` are socket directories, the rest TCP hosts, and
    /// the empty string is the default placeholder.
    fn from(s: String) -> Host {
        if s.is_empty() || is_unix_socket_path(&s) {
            Host::Unix(PathBuf::from(s))
        } else {
            Host::Tcp(s)
        }
    }
}

impl From<&str> for Host {
    fn from(s: &str) -> Host {
        Host::from(s.to_owned())
    }
}

impl fmt::Display for Host {
    /// The host name, or the socket directory.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Tcp(name) => f.write_str(name),
            Host::Unix(dir) => write!(f, "{}", dir.display()),
        }
    }
}

/// libpq's `is_unixsock_path`.
pub(crate) fn is_unix_socket_path(s: &str) -> bool {
    s.starts_with('/') || s.starts_with('@')
}

/// One concrete place to try, in the order [`Config::targets`] lists them.
///
/// When `hostaddr` is set the connection goes over TCP to that address and port, whatever `host` says;
/// `host` then only names the server (for the password file and, later, TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host: never the empty placeholder (that has been resolved).
    pub host: Host,
    /// The numeric address to connect to instead of resolving `host`.
    pub hostaddr: Option<IpAddr>,
    /// The TCP port, which also names the Unix socket.
    pub port: u16,
}

impl Target {
    /// The socket file, `<dir>/.s.PGSQL.<port>`, for a Unix-socket target; `None` for TCP. A directory
    /// starting with `@` gives a path in Linux's abstract namespace, which the caller must open as such.
    pub fn socket_path(&self) -> Option<PathBuf> {
        match (&self.host, self.hostaddr) {
            (Host::Unix(dir), None) => Some(dir.join(format!(".s.PGSQL.{}", self.port))),
            _ => None,
        }
    }

    /// A name for messages: the socket path, or `host:port` (`[v6addr]:port`), using the `hostaddr`
    /// when one is set.
    pub fn display_name(&self) -> String {
        if let Some(path) = self.socket_path() {
            return path.display().to_string();
        }
        let host = match (self.hostaddr, &self.host) {
            (Some(addr), _) => addr.to_string(),
            (None, Host::Tcp(name)) => name.clone(),
            (None, Host::Unix(dir)) => dir.display().to_string(),
        };
        if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_name())
    }
}

/// The default socket directory: `/var/run/postgresql` if that directory exists, else `/tmp`.
pub(crate) fn default_socket_dir() -> PathBuf {
    DEFAULT_SOCKET_DIRS
        .iter()
        .map(Path::new)
        .find(|dir| dir.is_dir())
        .unwrap_or(Path::new("/tmp"))
        .to_path_buf()
}

impl Config {
    /// The targets to try, in order, with libpq's defaults applied (nothing is stored).
    ///
    /// Errors when the lists cannot be paired (`could not match 3 port numbers to 2 hosts`), when a
    /// port is 0, or when the protocol version range is empty.
    ///
    /// ```
    /// use pg_wire::config::{Config, Host};
    ///
    /// let config: Config = "host=db1,db2 port=5433".parse().unwrap();
    /// let targets = config.targets().unwrap();
    /// assert_eq!(targets.len(), 2);
    /// assert_eq!(targets[1].host, Host::Tcp("db2".into()));
    /// assert_eq!(targets[1].port, 5433);
    /// assert_eq!(targets[1].display_name(), "db2:5433");
    /// ```
    pub fn targets(&self) -> Result<Vec<Target>, ConfigError> {
        self.targets_with_default_dir(&default_socket_dir())
    }

    /// [`targets`](Config::targets) with the default socket directory given: pure.
    pub(crate) fn targets_with_default_dir(
        &self,
        default_dir: &Path,
    ) -> Result<Vec<Target>, ConfigError> {
        self.check_protocol_range()?;
        let hosts = self.get_hosts();
        let addrs = self.get_hostaddrs();
        let ports = self.get_ports();
        let count = if !addrs.is_empty() {
            addrs.len()
        } else if !hosts.is_empty() {
            hosts.len()
        } else {
            1
        };
        if !addrs.is_empty() && !hosts.is_empty() && hosts.len() != addrs.len() {
            return Err(ConfigError::new(
                ConfigErrorKind::HostMismatch,
                format!(
                    "could not match {} host names to {} hostaddr values",
                    hosts.len(),
                    addrs.len()
                ),
            ));
        }
        if ports.len() > 1 && ports.len() != count {
            return Err(ConfigError::new(
                ConfigErrorKind::HostMismatch,
                format!(
                    "could not match {} port numbers to {count} hosts",
                    ports.len()
                ),
            ));
        }
        if ports.contains(&0) {
            return Err(ConfigError::invalid(
                "invalid port number: \"0\" (expected 1 to 65535)",
            ));
        }
        let mut targets = Vec::with_capacity(count);
        for i in 0..count {
            let hostaddr = addrs.get(i).copied();
            let port = match ports {
                [] => DEFAULT_PORT,
                [one] => *one,
                _ => ports.get(i).copied().unwrap_or(DEFAULT_PORT),
            };
            let host = match (hosts.get(i), hostaddr) {
                (Some(host), _) if !host.is_default() => host.clone(),
                // No name: the address names itself (libpq uses it for the password file too).
                (_, Some(addr)) => Host::Tcp(addr.to_string()),
                (_, None) => Host::Unix(default_dir.to_path_buf()),
            };
            targets.push(Target {
                host,
                hostaddr,
                port,
            });
        }
        Ok(targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(s: &str) -> Vec<Target> {
        let config: Config = s.parse().unwrap();
        config
            .targets_with_default_dir(Path::new("/var/run/postgresql"))
            .unwrap()
    }

    fn targets_err(s: &str) -> String {
        let config: Config = s.parse().unwrap();
        config
            .targets_with_default_dir(Path::new("/tmp"))
            .unwrap_err()
            .to_string()
    }

    fn tcp(host: &str, port: u16) -> Target {
        Target {
            host: Host::Tcp(host.into()),
            hostaddr: None,
            port,
        }
    }

    fn unix(dir: &str, port: u16) -> Target {
        Target {
            host: Host::Unix(dir.into()),
            hostaddr: None,
            port,
        }
    }

    #[test]
    fn host_classification() {
        assert_eq!(Host::from("db"), Host::Tcp("db".into()));
        assert_eq!(Host::from("10.1.2.3"), Host::Tcp("10.1.2.3".into()));
        assert_eq!(Host::from("::1"), Host::Tcp("::1".into()));
        assert_eq!(Host::from("/tmp"), Host::Unix("/tmp".into()));
        assert_eq!(Host::from("@abstract"), Host::Unix("@abstract".into()));
        assert!(Host::from("").is_default());
        assert!(!Host::from("/tmp").is_default());
        assert_eq!(Host::from("/tmp").to_string(), "/tmp");
        assert_eq!(Host::from("db").to_string(), "db");
    }

    #[test]
    fn defaults() {
        assert_eq!(targets(""), vec![unix("/var/run/postgresql", 5432)]);
        assert_eq!(
            targets("port=5433"),
            vec![unix("/var/run/postgresql", 5433)]
        );
        assert_eq!(targets("host="), vec![unix("/var/run/postgresql", 5432)]);
        let dir = default_socket_dir();
        assert!(dir == Path::new("/var/run/postgresql") || dir == Path::new("/tmp"));
        assert_eq!(
            Config::new().targets().unwrap(),
            vec![Target {
                host: Host::Unix(dir),
                hostaddr: None,
                port: 5432
            }]
        );
    }

    #[test]
    fn multi_host_ports() {
        assert_eq!(
            targets("host=a,b,c"),
            vec![tcp("a", 5432), tcp("b", 5432), tcp("c", 5432)]
        );
        assert_eq!(
            targets("host=a,b port=6000"),
            vec![tcp("a", 6000), tcp("b", 6000)]
        );
        assert_eq!(
            targets("host=a,b port=6000,6001"),
            vec![tcp("a", 6000), tcp("b", 6001)]
        );
        assert_eq!(
            targets("host=a,,/sock port=1,,3"),
            vec![
                tcp("a", 1),
                unix("/var/run/postgresql", 5432),
                unix("/sock", 3)
            ]
        );
        assert_eq!(
            targets("postgresql://a:1,b/db"),
            vec![tcp("a", 1), tcp("b", 5432)]
        );
        assert_eq!(
            targets("postgresql://a,b:2/db"),
            vec![tcp("a", 5432), tcp("b", 2)]
        );
        assert_eq!(
            targets_err("host=a,b port=1,2,3"),
            "could not match 3 port numbers to 2 hosts"
        );
        assert_eq!(
            targets_err("host=a,b,c port=,"),
            "could not match 2 port numbers to 3 hosts"
        );
        assert_eq!(
            targets_err("port=1,2"),
            "could not match 2 port numbers to 1 hosts"
        );
    }

    #[test]
    fn hostaddr_pairing() {
        let t = targets("hostaddr=127.0.0.1");
        assert_eq!(
            t,
            vec![Target {
                host: Host::Tcp("127.0.0.1".into()),
                hostaddr: Some("127.0.0.1".parse().unwrap()),
                port: 5432
            }]
        );
        assert_eq!(t[0].socket_path(), None);
        let t = targets("host=db.example.com,,/sock hostaddr=10.0.0.1,10.0.0.2,::1 port=7");
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].host, Host::Tcp("db.example.com".into()));
        assert_eq!(t[0].hostaddr, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(t[1].host, Host::Tcp("10.0.0.2".into()));
        assert_eq!(t[2].host, Host::Unix("/sock".into()));
        assert_eq!(t[2].socket_path(), None, "hostaddr wins over a socket dir");
        assert_eq!(t[2].display_name(), "[::1]:7");
        assert_eq!(
            targets_err("host=a,b hostaddr=10.0.0.1"),
            "could not match 2 host names to 1 hostaddr values"
        );
        assert_eq!(
            targets_err("hostaddr=10.0.0.1,10.0.0.2 port=1,2,3"),
            "could not match 3 port numbers to 2 hosts"
        );
    }

    #[test]
    fn socket_path_and_display_name() {
        let t = unix("/var/run/postgresql", 5432);
        assert_eq!(
            t.socket_path(),
            Some(PathBuf::from("/var/run/postgresql/.s.PGSQL.5432"))
        );
        assert_eq!(t.display_name(), "/var/run/postgresql/.s.PGSQL.5432");
        assert_eq!(tcp("db", 6432).display_name(), "db:6432");
        assert_eq!(tcp("db", 6432).socket_path(), None);
        assert_eq!(
            tcp("2001:db8::1", 5432).display_name(),
            "[2001:db8::1]:5432"
        );
        assert_eq!(tcp("db", 1).to_string(), "db:1");
        assert_eq!(
            unix("@pg", 5432).socket_path(),
            Some(PathBuf::from("@pg/.s.PGSQL.5432"))
        );
    }

    #[test]
    fn port_zero_from_setter() {
        let mut c = Config::new();
        c.port(0);
        let e = c.targets().unwrap_err();
        assert_eq!(e.kind(), ConfigErrorKind::InvalidValue);
        assert!(e.to_string().contains("\"0\""));
    }

    #[test]
    fn protocol_range_checked() {
        let mut c = Config::new();
        c.min_protocol_version(crate::config::ProtocolVersion::V3_2)
            .max_protocol_version(crate::config::ProtocolVersion::V3_0);
        assert!(c.targets().is_err());
    }
}
