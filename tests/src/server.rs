//! Starting, sharing and cleaning up throwaway PostgreSQL servers.
//!
//! Each [`TestServer`] gets a fresh directory `pg-harness-<pid>-<counter>-<time>` under the system
//! temporary directory, holding the data directory (`data/`), the server log (`server.log`) and the
//! Unix socket. The server listens on that socket and on a free TCP port of 127.0.0.1, with
//! `pg_hba.conf` allowing exactly one [`AuthMethod`] for every user and database.
//!
//! Cleanup has two layers. An owned server is stopped (`pg_ctl stop -m immediate`) and its directory
//! removed when it is dropped. Servers shared per process ([`TestServer::shared`],
//! [`TestServer::shared_version`]) live in statics and
//! are never dropped, and a test process can be killed at any point, so every server also has a
//! watchdog: a small `sh` process that blocks reading a pipe whose only writer is the test process.
//! When the test process ends, however it ends, the kernel closes that pipe; the watchdog then sends
//! the postmaster SIGQUIT (PostgreSQL's immediate shutdown), waits for it to exit and removes the
//! directory. The pipe is created close-on-exec, so no other child keeps it open, and reading it
//! needs no polling and cannot be fooled by a reused process id.

use std::fmt;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::account::Account;
use crate::error::HarnessError;
use crate::locate::{self, MajorLookupError};
use crate::sql::{clean_environment, conf_string};
use md5::{Digest, Md5};

/// The superuser `initdb` creates.
const SUPERUSER: &str = "postgres";

/// How many times to pick a new port when the server could not bind the one picked before (another
/// process took it between our probe and the server's bind).
const START_ATTEMPTS: u32 = 5;

/// Seconds `pg_ctl` waits for the server to start or stop.
const PG_CTL_TIMEOUT: &str = "60";

/// Lines of the server log quoted in an error.
const LOG_TAIL_LINES: usize = 40;

/// The longest Unix socket path (`sun_path` is 108 bytes on Linux, including the final NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The socket file name PostgreSQL creates in its socket directory, at its longest.
const SOCKET_FILE_MAX: &str = "/.s.PGSQL.65535";

/// Run by `sh -c` as the watchdog; `$1` is the server's directory. It waits for end-of-file on its
/// standard input (the test process's end of the pipe closing), then stops the postmaster whose pid
/// is on the first line of `postmaster.pid` and removes the directory. SIGQUIT is PostgreSQL's
/// immediate shutdown; SIGKILL follows if the postmaster is still there after 10 seconds. The loop
/// watches the pid file too, as the postmaster removes it on exit, so an unreaped (zombie) postmaster
/// does not hold the watchdog up.
const WATCHDOG_SCRIPT: &str = r#"
trap '' HUP INT TERM PIPE
while read -r _line; do :; done
dir=$1
pidfile="$dir/data/postmaster.pid"
pid=
if [ -f "$pidfile" ]; then
  pid=$(head -n 1 "$pidfile" 2>/dev/null)
  case $pid in *[!0-9]*) pid= ;; esac
fi
if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
  n=0
  while [ -f "$pidfile" ] && kill -0 "$pid" 2>/dev/null && [ "$n" -lt 100 ]; do
    sleep 0.1
    n=$((n + 1))
  done
  if [ -f "$pidfile" ]; then kill -KILL "$pid" 2>/dev/null; fi
fi
rm -rf -- "$dir"
"#;

/// A process-wide counter making directory names, passwords and object names unique.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The next value of the process-wide counter.
fn next_count() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Nanoseconds since the Unix epoch (0 if the clock is before it).
fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The authentication method a server requires, for every user, over the socket and TCP alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// `trust`: no password asked.
    Trust,
    /// `password`: the password is sent in clear text (stored as SCRAM).
    Password,
    /// `md5`: the MD5 challenge; `password_encryption = md5`, so passwords are stored as MD5.
    Md5,
    /// `scram-sha-256`: SASL with SCRAM-SHA-256; passwords stored as SCRAM.
    ScramSha256,
}

impl AuthMethod {
    /// Every method, in declaration order.
    pub const ALL: [AuthMethod; 4] = [
        AuthMethod::Trust,
        AuthMethod::Password,
        AuthMethod::Md5,
        AuthMethod::ScramSha256,
    ];

    /// The method's keyword in `pg_hba.conf`, e.g. `scram-sha-256`.
    pub fn hba_keyword(self) -> &'static str {
        match self {
            AuthMethod::Trust => "trust",
            AuthMethod::Password => "password",
            AuthMethod::Md5 => "md5",
            AuthMethod::ScramSha256 => "scram-sha-256",
        }
    }

    /// The server's `password_encryption` setting for this method: how new passwords are stored.
    fn password_encryption(self) -> &'static str {
        match self {
            AuthMethod::Md5 => "md5",
            _ => "scram-sha-256",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hba_keyword())
    }
}

/// A running throwaway PostgreSQL server.
///
/// Dropping it stops the server and removes its directory; a watchdog process does the same if the
/// test process dies first (see the module docs).
pub struct TestServer {
    auth: AuthMethod,
    /// The server's own directory: socket, log, and `data/`.
    dir: PathBuf,
    data_dir: PathBuf,
    /// 0 until the server has started.
    port: u16,
    password: String,
    /// The major version from `PG_VERSION`, empty until `initdb` has run.
    version: String,
    bindir: PathBuf,
    /// The user the server runs as, when that is not the current user (the tests run as root).
    account: Option<Account>,
    /// Declared last so that it is dropped after `Drop::drop` has stopped the server.
    _watchdog: Watchdog,
}

impl TestServer {
    /// Starts a new server requiring `auth`, blocking until it accepts connections (typically one
    /// to three seconds, most of it `initdb`).
    ///
    /// # Errors
    ///
    /// If no PostgreSQL binaries are found, if the directory cannot be prepared, or if `initdb` or
    /// the server fails; the error quotes the command output or the server log's tail.
    pub fn start(auth: AuthMethod) -> Result<TestServer, HarnessError> {
        TestServer::start_in(auth, locate::find_bindir()?)
    }

    /// Starts a new server requiring `auth` with the binaries of PostgreSQL `major` (10 or later),
    /// found through `PG<major>_BINDIR`, `/usr/lib/postgresql/<major>/bin`, or
    /// `target/pg<major>/*/bin` under the workspace root (see the crate docs).
    ///
    /// # Errors
    ///
    /// As [`TestServer::start`]; also if no binaries of that version are found (the error says how
    /// to get them), or if the ones found are another version.
    pub fn start_version(auth: AuthMethod, major: u32) -> Result<TestServer, HarnessError> {
        let bindir = locate::find_major_bindir(major).map_err(|e| match e {
            MajorLookupError::Missing(e) | MajorLookupError::Misconfigured(e) => e,
        })?;
        TestServer::start_major_in(auth, major, bindir)
    }

    /// Starts a server with the binaries in `bindir`, after checking they are PostgreSQL `major`.
    fn start_major_in(
        auth: AuthMethod,
        major: u32,
        bindir: PathBuf,
    ) -> Result<TestServer, HarnessError> {
        let found = locate::major_version_of(&bindir)?;
        if found != major {
            return Err(HarnessError::new(format!(
                "PostgreSQL {major} was asked for, but the binaries found in {} are PostgreSQL \
                 {found}; check PG{major}_BINDIR",
                bindir.display()
            )));
        }
        TestServer::start_in(auth, bindir)
    }

    /// Starts a server with the binaries in `bindir`.
    fn start_in(auth: AuthMethod, bindir: PathBuf) -> Result<TestServer, HarnessError> {
        let account = Account::for_server()?;
        let dir = create_server_dir(account.as_ref())?;
        // From here on, dropping `server` (on any error below) stops whatever was started and removes
        // the directory.
        let watchdog = Watchdog::spawn(&dir)?;
        let mut server = TestServer {
            auth,
            data_dir: dir.join("data"),
            dir,
            port: 0,
            password: format!("pw{}", random_hex()),
            version: String::new(),
            bindir,
            account,
            _watchdog: watchdog,
        };
        server.init_cluster()?;
        server.configure()?;
        server.start_postmaster()?;
        Ok(server)
    }

    /// The process's shared server for `auth`, started on first use and kept until the process
    /// exits (then the watchdog removes it).
    ///
    /// Tests sharing a server should work in their own databases and roles (see
    /// [`TestServer::fresh_database`] and [`TestServer::unique_name`]).
    ///
    /// # Panics
    ///
    /// If the server cannot start, with the [`HarnessError`] text. Meant for tests only.
    pub fn shared(auth: AuthMethod) -> &'static TestServer {
        static SHARED: [OnceLock<TestServer>; 4] = [const { OnceLock::new() }; 4];
        let slot = match auth {
            AuthMethod::Trust => &SHARED[0],
            AuthMethod::Password => &SHARED[1],
            AuthMethod::Md5 => &SHARED[2],
            AuthMethod::ScramSha256 => &SHARED[3],
        };
        slot.get_or_init(|| match TestServer::start(auth) {
            Ok(server) => server,
            Err(err) => panic!("could not start the shared {auth} test server: {err}"),
        })
    }

    /// The process's shared server for `auth` running PostgreSQL `major`, started on first use and
    /// kept until the process exits, like [`TestServer::shared`]. When the default binaries (those
    /// [`TestServer::shared`] uses) are the ones found for `major`, it is the same server.
    ///
    /// # Panics
    ///
    /// If no binaries of that version are found, with a message saying how to get them (for
    /// PostgreSQL 18: `bash .ci/install-pg18`), whatever `PG_TEST_SKIP_MISSING_VERSIONS` says: a
    /// test that cannot run must not pass. See [`TestServer::shared_version_or_skip`] for tests a
    /// developer may skip. Also if the server cannot start.
    pub fn shared_version(auth: AuthMethod, major: u32) -> &'static TestServer {
        match TestServer::shared_version_lookup(auth, major) {
            Ok(server) => server,
            Err(MajorLookupError::Missing(err) | MajorLookupError::Misconfigured(err)) => {
                panic!("no shared PostgreSQL {major} {auth} test server: {err}")
            }
        }
    }

    /// [`TestServer::shared_version`], or `None` when no PostgreSQL `major` binaries are found and
    /// the environment variable `PG_TEST_SKIP_MISSING_VERSIONS` is `1`: the test should then return
    /// at once (a line on standard error says it was skipped). Without that variable, a missing
    /// version panics as in [`TestServer::shared_version`], so CI, which does not set it, cannot
    /// pass without running the test.
    ///
    /// ```no_run
    /// # use harness::{AuthMethod, TestServer};
    /// let Some(server) = TestServer::shared_version_or_skip(AuthMethod::Trust, 18) else {
    ///     return;
    /// };
    /// # let _ = server;
    /// ```
    ///
    /// # Panics
    ///
    /// As [`TestServer::shared_version`], except for missing binaries when skipping is allowed. A
    /// wrong `PG<major>_BINDIR` always panics.
    pub fn shared_version_or_skip(auth: AuthMethod, major: u32) -> Option<&'static TestServer> {
        match TestServer::shared_version_lookup(auth, major) {
            Ok(server) => Some(server),
            Err(MajorLookupError::Missing(err)) if skip_missing_versions() => {
                eprintln!(
                    "skipped (PG_TEST_SKIP_MISSING_VERSIONS=1): {}",
                    err.message()
                );
                None
            }
            Err(MajorLookupError::Missing(err) | MajorLookupError::Misconfigured(err)) => {
                panic!("no shared PostgreSQL {major} {auth} test server: {err}")
            }
        }
    }

    /// The shared server for `auth` and `major`; an error when no binaries are found or
    /// `PG<major>_BINDIR` is wrong. Panics if they are found but the server cannot start.
    fn shared_version_lookup(
        auth: AuthMethod,
        major: u32,
    ) -> Result<&'static TestServer, MajorLookupError> {
        /// One slot per (method, major version) asked for; leaked, as they live as long as the
        /// process anyway.
        type Slots = Vec<((AuthMethod, u32), &'static OnceLock<TestServer>)>;
        static SLOTS: Mutex<Slots> = Mutex::new(Vec::new());
        /// The default binaries' directory, canonical, if there are any.
        static DEFAULT_BINDIR: OnceLock<Option<PathBuf>> = OnceLock::new();

        let bindir = locate::find_major_bindir(major)?;
        let default = DEFAULT_BINDIR.get_or_init(|| {
            locate::find_bindir()
                .ok()
                .and_then(|dir| dir.canonicalize().ok())
        });
        if default.is_some() && bindir.canonicalize().ok() == *default {
            let server = TestServer::shared(auth);
            // `PG<major>_BINDIR` may name the default binaries while they are another version.
            if server.version != major.to_string() {
                panic!(
                    "PostgreSQL {major} was asked for, but the binaries found in {} are \
                     PostgreSQL {}; check PG{major}_BINDIR",
                    server.bindir.display(),
                    server.version
                );
            }
            return Ok(server);
        }
        let slot = {
            let mut slots = SLOTS.lock().unwrap_or_else(PoisonError::into_inner);
            match slots.iter().find(|(key, _)| *key == (auth, major)) {
                Some((_, slot)) => *slot,
                None => {
                    let slot: &'static OnceLock<TestServer> = Box::leak(Box::default());
                    slots.push(((auth, major), slot));
                    slot
                }
            }
        };
        Ok(
            slot.get_or_init(|| match TestServer::start_major_in(auth, major, bindir) {
                Ok(server) => server,
                Err(err) => {
                    panic!(
                        "could not start the shared PostgreSQL {major} {auth} test server: {err}"
                    )
                }
            }),
        )
    }

    /// The authentication method this server requires.
    pub fn auth(&self) -> AuthMethod {
        self.auth
    }

    /// The directory holding the server's Unix socket (`.s.PGSQL.<port>`); use it as `host`.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The server's data directory (`postmaster.pid`, `postgresql.conf`, `pg_hba.conf`, ...).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The TCP port the server listens on at 127.0.0.1 (also the number in the socket's name).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's name: `postgres`.
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// The superuser's password, different for every server. Stored as MD5 on an
    /// [`AuthMethod::Md5`] server and as SCRAM on the others.
    pub fn superuser_password(&self) -> &str {
        &self.password
    }

    /// The server's major version, from the data directory's `PG_VERSION` file, e.g. `"15"`.
    pub fn server_version(&self) -> String {
        self.version.clone()
    }

    /// The directory of the PostgreSQL binaries this server was started with.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// The server log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// A name unique across processes and calls, usable as an unquoted identifier: `prefix` made
    /// lowercase (characters other than ASCII letters, digits and `_` become `_`), then the process
    /// id and a per-process counter, e.g. `unique_name("Orders")` gives `orders_4242_7`. Shortened to
    /// fit PostgreSQL's 63-byte identifiers.
    pub fn unique_name(prefix: &str) -> String {
        let suffix = format!("_{}_{}", std::process::id(), next_count());
        let mut name: String = prefix
            .chars()
            .map(|c| match c {
                'a'..='z' | '0'..='9' | '_' => c,
                'A'..='Z' => c.to_ascii_lowercase(),
                _ => '_',
            })
            .collect();
        if !name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
            name.insert(0, 'x');
        }
        // All characters are ASCII here, so any byte index is a character boundary.
        name.truncate(63_usize.saturating_sub(suffix.len()));
        name + &suffix
    }

    /// A command for one of the server binaries, run as the server's account, in the server's
    /// directory (the account may not be able to enter the current one), with no `PG*` variables
    /// from the environment and the C locale.
    fn server_command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bindir.join(program));
        clean_environment(&mut command);
        command
            .env("LC_ALL", "C")
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        if let Some(account) = &self.account {
            account.apply(&mut command);
        }
        command
    }

    /// Runs a prepared server command to completion, failing unless it exits successfully.
    fn run(&self, mut command: Command, what: &str) -> Result<(), HarnessError> {
        let output = command
            .output()
            .map_err(|e| HarnessError::io(format_args!("could not run {what}"), e))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(HarnessError::command(
                format_args!("{what} failed"),
                &output,
            ))
        }
    }

    /// Writes a file the server account owns, readable by it alone.
    fn write_private(&self, path: &Path, contents: &str) -> Result<(), HarnessError> {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, contents.as_bytes()))
            .map_err(|e| HarnessError::io(format_args!("could not write {}", path.display()), e))?;
        match &self.account {
            Some(account) => account.chown(path),
            None => Ok(()),
        }
    }

    /// Runs `initdb`, with the superuser password from a file that is removed right after.
    fn init_cluster(&mut self) -> Result<(), HarnessError> {
        let pwfile = self.dir.join("pwfile");
        let stored_password = match self.auth {
            // initdb stores the --pwfile password with SCRAM whatever the server's settings, but a
            // password already in MD5 form ("md5" + hex(md5(password || user))) is stored as given,
            // so the superuser too authenticates with MD5 on an md5 server.
            AuthMethod::Md5 => {
                let digest = Md5::digest(format!("{}{SUPERUSER}", self.password).as_bytes());
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                format!("md5{hex}")
            }
            _ => self.password.clone(),
        };
        self.write_private(&pwfile, &stored_password)?;
        let mut initdb = self.server_command("initdb");
        initdb
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-U", SUPERUSER, "-A", self.auth.hba_keyword()])
            .arg(format!("--pwfile={}", pwfile.display()))
            .args(["-E", "UTF8", "--locale=C", "--no-sync"]);
        let result = self.run(initdb, "initdb");
        // Best effort: the directory is removed with the server anyway.
        let _ = fs::remove_file(&pwfile);
        result?;
        let version_file = self.data_dir.join("PG_VERSION");
        self.version = fs::read_to_string(&version_file)
            .map_err(|e| {
                HarnessError::io(format_args!("could not read {}", version_file.display()), e)
            })?
            .trim()
            .to_owned();
        Ok(())
    }

    /// Appends the harness's settings to `postgresql.conf` and replaces `pg_hba.conf`.
    fn configure(&self) -> Result<(), HarnessError> {
        let settings = format!(
            "\n# Added by the pg-tests harness: a throwaway server, fast and crash-unsafe.\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = {socket_dir}\n\
             unix_socket_permissions = 0777\n\
             max_connections = 200\n\
             shared_buffers = 32MB\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             password_encryption = '{encryption}'\n\
             timezone = 'UTC'\n\
             log_timezone = 'UTC'\n\
             # The port is chosen anew for each start attempt.\n\
             include 'harness_port.conf'\n",
            socket_dir = conf_string(&self.dir.to_string_lossy()),
            encryption = self.auth.password_encryption(),
        );
        let conf = self.data_dir.join("postgresql.conf");
        fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .and_then(|mut file| std::io::Write::write_all(&mut file, settings.as_bytes()))
            .map_err(|e| {
                HarnessError::io(format_args!("could not append to {}", conf.display()), e)
            })?;

        let method = self.auth.hba_keyword();
        let hba = format!(
            "# Written by the pg-tests harness: one method for everyone.\n\
             # TYPE  DATABASE     USER  ADDRESS       METHOD\n\
             local   all          all                 {method}\n\
             host    all          all   127.0.0.1/32  {method}\n\
             host    all          all   ::1/128       {method}\n\
             local   replication  all                 {method}\n\
             host    replication  all   127.0.0.1/32  {method}\n\
             host    replication  all   ::1/128       {method}\n"
        );
        let hba_path = self.data_dir.join("pg_hba.conf");
        // Truncating an existing file keeps its owner (the server account).
        fs::write(&hba_path, hba).map_err(|e| {
            HarnessError::io(format_args!("could not write {}", hba_path.display()), e)
        })
    }

    /// Starts the postmaster with `pg_ctl start -w`, on a new free port each attempt for as long as
    /// the log says the port was taken.
    fn start_postmaster(&mut self) -> Result<(), HarnessError> {
        let log = self.log_path();
        let port_conf = self.data_dir.join("harness_port.conf");
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port()?;
            let _ = fs::remove_file(&port_conf);
            self.write_private(&port_conf, &format!("port = {port}\n"))?;
            let log_start = fs::metadata(&log).map_or(0, |m| m.len());

            let mut pg_ctl = self.server_command("pg_ctl");
            pg_ctl
                .arg("start")
                .arg("-D")
                .arg(&self.data_dir)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", PG_CTL_TIMEOUT, "-s"]);
            let output = pg_ctl
                .output()
                .map_err(|e| HarnessError::io("could not run pg_ctl start", e))?;
            if output.status.success() {
                self.port = port;
                return Ok(());
            }
            let new_log = read_from(&log, log_start);
            if attempt < START_ATTEMPTS && new_log.contains("Address already in use") {
                continue;
            }
            return Err(HarnessError::command(
                format_args!(
                    "the PostgreSQL server in {} did not start (pg_ctl start, attempt {attempt})",
                    self.dir.display()
                ),
                &output,
            )
            .with_detail("server log (tail)", &log_tail(&log)));
        }
        // The loop returns on its last attempt whatever happens.
        Err(HarnessError::new("the PostgreSQL server did not start"))
    }
}

/// How `pg_ctl` shuts a server down (its `-m` option), for [`TestServer::stop`] and
/// [`TestServer::restart`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShutdownMode {
    /// `smart`: waits for every client to disconnect.
    Smart,
    /// `fast`: terminates the sessions (each gets a FATAL 57P01 error), then shuts down cleanly.
    Fast,
    /// `immediate`: kills the server processes at once; the next start runs crash recovery.
    Immediate,
}

impl ShutdownMode {
    /// The mode's name for `pg_ctl -m`.
    pub fn keyword(self) -> &'static str {
        match self {
            ShutdownMode::Smart => "smart",
            ShutdownMode::Fast => "fast",
            ShutdownMode::Immediate => "immediate",
        }
    }
}

impl fmt::Display for ShutdownMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// Stopping and starting a server that was started before, for fault-injection tests. These block
/// (they wait for `pg_ctl`); call them from `tokio::task::spawn_blocking` in async tests. Meant for
/// a private server ([`TestServer::start`]): stopping a shared one breaks every other test using it.
impl TestServer {
    /// Stops the server with `pg_ctl stop -m <mode>`, waiting until it has exited. Its directory,
    /// data and port are kept for [`TestServer::start_again`].
    ///
    /// # Errors
    ///
    /// If `pg_ctl` fails (the server was not running, or did not stop within its timeout).
    pub fn stop(&self, mode: ShutdownMode) -> Result<(), HarnessError> {
        let mut pg_ctl = self.server_command("pg_ctl");
        pg_ctl.arg("stop").arg("-D").arg(&self.data_dir).args([
            "-m",
            mode.keyword(),
            "-w",
            "-t",
            PG_CTL_TIMEOUT,
            "-s",
        ]);
        self.run(pg_ctl, &format!("pg_ctl stop -m {mode}"))
    }

    /// Starts a stopped server again on the same port and socket, waiting until it accepts
    /// connections (after crash recovery, if it was stopped with [`ShutdownMode::Immediate`]).
    ///
    /// # Errors
    ///
    /// If `pg_ctl start` fails (the server is running already, or the port was taken meanwhile);
    /// the error quotes the server log's tail.
    pub fn start_again(&self) -> Result<(), HarnessError> {
        let log = self.log_path();
        let mut pg_ctl = self.server_command("pg_ctl");
        pg_ctl
            .arg("start")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", PG_CTL_TIMEOUT, "-s"]);
        self.run(pg_ctl, "pg_ctl start (again)")
            .map_err(|e| e.with_detail("server log (tail)", &log_tail(&log)))
    }

    /// Restarts the server with `pg_ctl restart -m <mode>` (same port and socket), waiting until
    /// it accepts connections again.
    ///
    /// # Errors
    ///
    /// If `pg_ctl` fails; the error quotes the server log's tail.
    pub fn restart(&self, mode: ShutdownMode) -> Result<(), HarnessError> {
        let log = self.log_path();
        let mut pg_ctl = self.server_command("pg_ctl");
        pg_ctl
            .arg("restart")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&log)
            .args(["-m", mode.keyword(), "-w", "-t", PG_CTL_TIMEOUT, "-s"]);
        self.run(pg_ctl, &format!("pg_ctl restart -m {mode}"))
            .map_err(|e| e.with_detail("server log (tail)", &log_tail(&log)))
    }

    /// Whether the postmaster is running: its `postmaster.pid` exists (it is removed on a clean
    /// exit, and by the next start after a crash).
    pub fn is_running(&self) -> bool {
        self.data_dir.join("postmaster.pid").exists()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.data_dir.join("postmaster.pid").exists() {
            let mut pg_ctl = self.server_command("pg_ctl");
            pg_ctl
                .arg("stop")
                .arg("-D")
                .arg(&self.data_dir)
                .args(["-m", "immediate", "-w", "-t", PG_CTL_TIMEOUT, "-s"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // If this fails the watchdog, dropped next, still stops the server by signal.
            let _ = pg_ctl.status();
        }
    }
}

impl fmt::Debug for TestServer {
    // Written out to leave the password out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("auth", &self.auth)
            .field("dir", &self.dir)
            .field("port", &self.port)
            .field("version", &self.version)
            .field("bindir", &self.bindir)
            .finish_non_exhaustive()
    }
}

/// The cleanup process described in the module docs. Dropping it closes the pipe, which makes the
/// watchdog stop the server (if still running) and remove the directory, and waits for that.
struct Watchdog {
    child: Child,
}

impl Watchdog {
    /// Starts the watchdog for `dir`. It runs as the current user, so that as root it can signal the
    /// server and remove the directory wherever it is.
    fn spawn(dir: &Path) -> Result<Watchdog, HarnessError> {
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("pg-harness-watchdog")
            .arg(dir)
            .current_dir("/")
            .stdin(Stdio::piped())
            // Not the test's output: a runner reading it to the end would wait for the watchdog.
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so Ctrl-C on the test run does not kill it before it cleans up.
            .process_group(0)
            .spawn();
        match spawned {
            Ok(child) => Ok(Watchdog { child }),
            Err(err) => {
                let _ = fs::remove_dir_all(dir);
                Err(HarnessError::io("could not start the watchdog (sh)", err))
            }
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Creates the server's directory under the first suitable base directory: the system temporary
/// directory, else `/tmp`. Suitable means short enough for the socket path and, when the server runs
/// as another user, reachable by that user.
fn create_server_dir(account: Option<&Account>) -> Result<PathBuf, HarnessError> {
    let name = format!(
        "pg-harness-{}-{}-{:x}",
        std::process::id(),
        next_count(),
        now_nanos()
    );
    let mut rejected = Vec::new();
    for base in [std::env::temp_dir(), PathBuf::from("/tmp")] {
        let dir = base.join(&name);
        if dir.as_os_str().len() + SOCKET_FILE_MAX.len() > MAX_SOCKET_PATH {
            rejected.push(format!(
                "{} (too long for a Unix socket path)",
                base.display()
            ));
            continue;
        }
        if let Some(account) = account {
            if !account.can_reach(&base) {
                rejected.push(format!(
                    "{} (user {} cannot reach it)",
                    base.display(),
                    account.name
                ));
                continue;
            }
        }
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&dir)
            .map_err(|e| HarnessError::io(format_args!("could not create {}", dir.display()), e))?;
        if let Some(account) = account {
            if let Err(err) = account.chown(&dir) {
                let _ = fs::remove_dir(&dir);
                return Err(err);
            }
        }
        return Ok(dir);
    }
    Err(HarnessError::new(format!(
        "no usable directory for the test server: {}; set TMPDIR to a short directory the server's \
         user can reach",
        rejected.join(", ")
    )))
}

/// Whether `PG_TEST_SKIP_MISSING_VERSIONS=1`: tests needing a PostgreSQL version that is not
/// installed may be skipped.
fn skip_missing_versions() -> bool {
    std::env::var_os("PG_TEST_SKIP_MISSING_VERSIONS").is_some_and(|v| v == "1")
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, HarnessError> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| HarnessError::io("could not find a free TCP port on 127.0.0.1", e))
}

/// 32 hex digits that differ between servers and processes: std's `RandomState` is seeded from the
/// operating system's random source, mixed with the time, the process id and the counter.
fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for _ in 0..2 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(now_nanos());
        hasher.write_u32(std::process::id());
        hasher.write_u64(next_count());
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out
}

/// The text of `path` from byte `offset` on (empty if unreadable).
fn read_from(path: &Path, offset: u64) -> String {
    let mut text = Vec::new();
    if let Ok(mut file) = fs::File::open(path) {
        if file.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = file.read_to_end(&mut text);
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// The last lines of the server log, or a note saying it could not be read.
fn log_tail(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
        }
        Err(err) => format!("(could not read {}: {err})", path.display()),
    }
}
