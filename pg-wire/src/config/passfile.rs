//! The password file (`~/.pgpass`, or `passfile` / `PGPASSFILE`), as libpq reads it.
//!
//! Each line is `hostname:port:database:username:password`. A field that is exactly `*` matches
//! anything; `\:` and `\\` stand for `:` and `\`; lines starting with `#` are comments; the first
//! matching line wins. A Unix-socket connection to the default socket directory matches `localhost`,
//! and a connection with only a `hostaddr` matches that address. A line with fewer than five fields
//! never matches. As in libpq, the file is ignored, with a warning on stderr, unless it is a regular
//! file without group or world permissions (mode `0600` or less).

use std::path::Path;

use crate::config::target::{Host, Target, default_socket_dir};
use crate::config::{Config, osuser};

/// The first password in the password-file text `contents` whose line matches the connection
/// (`host`, `port`, `dbname`, `user`), or `None`.
///
/// Pure: give `host` as the password file sees it, which is `localhost` for the default socket
/// directory (see [`Config::password_for`]).
///
/// ```
/// use pg_wire::config::find_password;
///
/// let file = b"# comment\ndb.example.com:5432:*:alice:s\\:cret\n*:*:*:*:fallback\n";
/// assert_eq!(
///     find_password(file, "db.example.com", 5432, "app", "alice"),
///     Some(b"s:cret".to_vec())
/// );
/// assert_eq!(
///     find_password(file, "other", 5432, "app", "bob"),
///     Some(b"fallback".to_vec())
/// );
/// ```
pub fn find_password(
    contents: &[u8],
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> Option<Vec<u8>> {
    let port = port.to_string();
    let wanted = [
        host.as_bytes(),
        port.as_bytes(),
        dbname.as_bytes(),
        user.as_bytes(),
    ];
    contents.split(|&b| b == b'\n').find_map(|line| {
        // libpq strips any trailing CR and LF characters.
        let end = line
            .iter()
            .rposition(|&b| b != b'\r' && b != b'\n')
            .map_or(0, |i| i + 1);
        let line = line.get(..end)?;
        if line.is_empty() || line.first() == Some(&b'#') {
            return None;
        }
        let mut rest = line;
        for want in wanted {
            let (field, after) = split_field(rest)?;
            if field.raw != b"*" && field.value != want {
                return None;
            }
            rest = after?;
        }
        Some(split_field(rest)?.0.value)
    })
}

/// A field of a password-file line: its raw text and its value with escapes removed.
struct Field<'a> {
    raw: &'a [u8],
    value: Vec<u8>,
}

/// Splits off the first field of `line` at an unescaped `:`; the rest is `None` when the line ends
/// with this field. A trailing lone backslash is kept.
fn split_field(line: &[u8]) -> Option<(Field<'_>, Option<&[u8]>)> {
    let mut value = Vec::new();
    let mut i = 0;
    while let Some(&b) = line.get(i) {
        match b {
            b'\\' => match line.get(i + 1) {
                Some(&escaped) => {
                    value.push(escaped);
                    i += 2;
                }
                None => {
                    value.push(b'\\');
                    i += 1;
                }
            },
            b':' => {
                let field = Field {
                    raw: line.get(..i)?,
                    value,
                };
                return Some((field, line.get(i + 1..)));
            }
            _ => {
                value.push(b);
                i += 1;
            }
        }
    }
    Some((Field { raw: line, value }, None))
}

/// Reads the password file at `path` if libpq would: it must exist, be a regular file, and (on Unix)
/// have no group or world permission bits. Otherwise `None`, with libpq's warning on stderr for a
/// file that exists but is unusable.
pub(crate) fn read_passfile(path: &Path) -> Option<Vec<u8>> {
    // stat() follows symbolic links, as libpq's does.
    let metadata = std::fs::metadata(path).ok()?;
    if !metadata.is_file() {
        eprintln!(
            "WARNING: password file \"{}\" is not a plain file",
            path.display()
        );
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "WARNING: password file \"{}\" has group or world access; permissions should be \
                 u=rw (0600) or less",
                path.display()
            );
            return None;
        }
    }
    std::fs::read(path).ok()
}

/// The host name a password-file line must match for `target`.
pub(crate) fn passfile_host(target: &Target, default_dir: &Path) -> String {
    match &target.host {
        Host::Tcp(name) => name.clone(),
        Host::Unix(dir) if dir.as_path() == default_dir || dir.as_os_str().is_empty() => {
            "localhost".to_owned()
        }
        Host::Unix(dir) => dir.display().to_string(),
    }
}

impl Config {
    /// The password to use for `target`: the configured password if set and not empty, else the
    /// first match in the password file (`passfile`, which [`with_env`](Config::with_env) fills from
    /// `PGPASSFILE`, else `$HOME/.pgpass`), matched against the target's host and port and the
    /// [effective](Config::effective_dbname) database and user. `None` if there is none.
    ///
    /// The file is read on every call, and only if it is a regular file with no group or world
    /// permissions (otherwise a warning goes to stderr and it is ignored, as in libpq).
    pub fn password_for(&self, target: &Target) -> Option<Vec<u8>> {
        if let Some(password) = self.password.as_ref().filter(|p| !p.is_empty()) {
            return Some(password.clone());
        }
        let path = match &self.passfile {
            Some(path) if !path.as_os_str().is_empty() => path.clone(),
            _ => osuser::home_dir()?.join(".pgpass"),
        };
        self.password_from_file(target, &path, &default_socket_dir())
    }

    /// The password-file part of [`password_for`](Config::password_for), with the file and the default
    /// socket directory given.
    pub(crate) fn password_from_file(
        &self,
        target: &Target,
        path: &Path,
        default_dir: &Path,
    ) -> Option<Vec<u8>> {
        let user = self.effective_user().ok()?;
        let dbname = self.effective_dbname().ok()?;
        let contents = read_passfile(path)?;
        let host = passfile_host(target, default_dir);
        find_password(&contents, &host, target.port, &dbname, &user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn find(contents: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
        find_password(contents.as_bytes(), host, port, db, user)
            .map(|p| String::from_utf8(p).unwrap())
    }

    #[test]
    fn matching() {
        let file = "\
# hostname:port:database:username:password
db1:5432:app:alice:one
db1:*:app:alice:two
*:5432:*:bob:three
*:*:*:*:four
";
        assert_eq!(
            find(file, "db1", 5432, "app", "alice").as_deref(),
            Some("one")
        );
        assert_eq!(
            find(file, "db1", 6000, "app", "alice").as_deref(),
            Some("two")
        );
        assert_eq!(
            find(file, "db2", 5432, "x", "bob").as_deref(),
            Some("three")
        );
        assert_eq!(find(file, "db2", 5433, "x", "bob").as_deref(), Some("four"));
        assert_eq!(find("", "h", 1, "d", "u"), None);
        assert_eq!(find("h:1:d:u:p", "h", 1, "d", "v"), None);
        // Case matters; the port compares as a number's text.
        assert_eq!(find("H:1:d:u:p", "h", 1, "d", "u"), None);
        assert_eq!(find("h:01:d:u:p", "h", 1, "d", "u"), None);
    }

    #[test]
    fn escapes_and_wildcards() {
        assert_eq!(
            find(r"\:\:1:5432:*:u:pa\:ss\\word", "::1", 5432, "d", "u").as_deref(),
            Some(r"pa:ss\word")
        );
        // Only a field that is exactly '*' is a wildcard.
        assert_eq!(find("h*:1:d:u:p", "hx", 1, "d", "u"), None);
        assert_eq!(find(r"\*:1:d:u:p", "x", 1, "d", "u"), None);
        assert_eq!(find(r"\*:1:d:u:p", "*", 1, "d", "u").as_deref(), Some("p"));
        assert_eq!(find("*:*:*:*:", "h", 1, "d", "u").as_deref(), Some(""));
        // The password ends at the next unescaped ':'.
        assert_eq!(
            find("h:1:d:u:p:extra", "h", 1, "d", "u").as_deref(),
            Some("p")
        );
        // A trailing backslash is kept.
        assert_eq!(
            find("h:1:d:u:p\\", "h", 1, "d", "u").as_deref(),
            Some("p\\")
        );
        // Escaped characters in a field compare as themselves.
        assert_eq!(
            find(r"h:1:d\b:u:p", "h", 1, "db", "u").as_deref(),
            Some("p")
        );
    }

    #[test]
    fn line_handling() {
        let file = "#h:1:d:u:commented\r\n\r\n  \nh:1:d:u:crlf\r\nh:1:d:u:second\n";
        assert_eq!(find(file, "h", 1, "d", "u").as_deref(), Some("crlf"));
        // Four fields never match, even with wildcards.
        assert_eq!(find("*:*:*:*", "h", 1, "d", "u"), None);
        assert_eq!(find("*:*:*", "h", 1, "d", "u"), None);
        // No final newline.
        assert_eq!(
            find("h:1:d:u:last", "h", 1, "d", "u").as_deref(),
            Some("last")
        );
        // Passwords are bytes.
        assert_eq!(
            find_password(b"h:1:d:u:\xff\xfe\n", "h", 1, "d", "u"),
            Some(vec![0xff, 0xfe])
        );
    }

    #[test]
    fn host_names_for_targets() {
        let default_dir = Path::new("/var/run/postgresql");
        let t = |host: Host| Target {
            host,
            hostaddr: None,
            port: 5432,
        };
        assert_eq!(
            passfile_host(&t(Host::Unix(default_dir.into())), default_dir),
            "localhost"
        );
        assert_eq!(
            passfile_host(&t(Host::Unix("/tmp".into())), default_dir),
            "/tmp"
        );
        assert_eq!(passfile_host(&t(Host::Tcp("db".into())), default_dir), "db");
        // A hostaddr-only target carries its address as the host name.
        let config: Config = "hostaddr=10.0.0.9".parse().unwrap();
        let target = config.targets_with_default_dir(default_dir).unwrap();
        assert_eq!(passfile_host(&target[0], default_dir), "10.0.0.9");
    }

    /// A file under the temp directory, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(contents: &str, mode: u32) -> TempFile {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "pg-wire-pgpass-test-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, contents).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            #[cfg(not(unix))]
            let _ = mode;
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn config_with(passfile: &Path) -> Config {
        let mut c = Config::new();
        c.user("alice").dbname("app").passfile(passfile);
        c
    }

    fn tcp_target(host: &str, port: u16) -> Target {
        Target {
            host: Host::Tcp(host.into()),
            hostaddr: None,
            port,
        }
    }

    #[test]
    fn reads_a_private_file() {
        let file = TempFile::new("db:5432:app:alice:from-file\n", 0o600);
        let c = config_with(&file.0);
        assert_eq!(
            c.password_for(&tcp_target("db", 5432)),
            Some(b"from-file".to_vec())
        );
        assert_eq!(c.password_for(&tcp_target("db", 5433)), None);
        // A configured password wins; an empty one does not count.
        let mut with_pw = c.clone();
        with_pw.password("explicit");
        assert_eq!(
            with_pw.password_for(&tcp_target("db", 5432)),
            Some(b"explicit".to_vec())
        );
        with_pw.password("");
        assert_eq!(
            with_pw.password_for(&tcp_target("db", 5432)),
            Some(b"from-file".to_vec())
        );
    }

    #[cfg(unix)]
    #[test]
    fn ignores_a_file_others_can_read() {
        let file = TempFile::new("*:*:*:*:leaked\n", 0o644);
        assert_eq!(
            config_with(&file.0).password_for(&tcp_target("db", 5432)),
            None
        );
        let file = TempFile::new("*:*:*:*:leaked\n", 0o640);
        assert_eq!(
            config_with(&file.0).password_for(&tcp_target("db", 5432)),
            None
        );
        let file = TempFile::new("*:*:*:*:ok\n", 0o400);
        assert_eq!(
            config_with(&file.0).password_for(&tcp_target("db", 5432)),
            Some(b"ok".to_vec())
        );
    }

    #[test]
    fn ignores_missing_files_and_directories() {
        let missing = std::env::temp_dir().join("pg-wire-pgpass-test-does-not-exist");
        assert_eq!(
            config_with(&missing).password_for(&tcp_target("db", 5432)),
            None
        );
        let dir = std::env::temp_dir();
        assert_eq!(
            config_with(&dir).password_for(&tcp_target("db", 5432)),
            None
        );
    }

    #[test]
    fn socket_targets_match_localhost() {
        let file = TempFile::new(
            "localhost:5432:app:alice:local\n/custom:5432:app:alice:custom\n",
            0o600,
        );
        let c = config_with(&file.0);
        let default_dir = Path::new("/var/run/postgresql");
        let socket = |dir: &str| Target {
            host: Host::Unix(dir.into()),
            hostaddr: None,
            port: 5432,
        };
        assert_eq!(
            c.password_from_file(&socket("/var/run/postgresql"), &file.0, default_dir),
            Some(b"local".to_vec())
        );
        assert_eq!(
            c.password_from_file(&socket("/custom"), &file.0, default_dir),
            Some(b"custom".to_vec())
        );
        assert_eq!(
            c.password_from_file(&socket("/elsewhere"), &file.0, default_dir),
            None
        );
        // Through targets(): the default socket directory resolves to "localhost".
        let targets = Config::new().targets().unwrap();
        assert_eq!(c.password_for(&targets[0]), Some(b"local".to_vec()));
    }

    #[test]
    fn defaults_user_and_dbname() {
        // user and dbname default as libpq: the dbname follows the user.
        let file = TempFile::new("h:5432:carol:carol:pw\n", 0o600);
        let mut c = Config::new();
        c.user("carol").passfile(&file.0);
        assert_eq!(c.password_for(&tcp_target("h", 5432)), Some(b"pw".to_vec()));
    }
}
