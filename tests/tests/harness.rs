//! Tests of the throwaway-server harness itself: every authentication method end to end through
//! `psql`, parallel servers, the shared servers, the watchdog cleaning up after a killed process,
//! and servers of a requested major version (found, missing, skipped, or the wrong version).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use harness::{AuthMethod, TestServer};

/// Runs one statement through the server's `psql` with `conninfo`, unaligned and tuples only.
fn psql(server: &TestServer, conninfo: &str, sql: &str) -> Output {
    let mut command = Command::new(server.bindir().join("psql"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            command.env_remove(key);
        }
    }
    command
        .args([
            "-X",
            "-q",
            "-t",
            "-A",
            "-w",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            conninfo,
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .output()
        .expect("psql runs")
}

/// `psql` that must succeed; returns its trimmed standard output.
fn psql_ok(server: &TestServer, conninfo: &str, sql: &str) -> String {
    let output = psql(server, conninfo, sql);
    assert!(
        output.status.success(),
        "psql {conninfo:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A superuser query over the socket.
fn superuser_query(server: &TestServer, sql: &str) -> String {
    let conninfo = server.connection_string(
        server.superuser(),
        Some(server.superuser_password()),
        "postgres",
        false,
    );
    psql_ok(server, &conninfo, sql)
}

/// Whether `pid` is a live process (a zombie counts as gone).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.trim_start().chars().next());
            !matches!(state, Some('Z' | 'X') | None)
        }
        Err(_) => false,
    }
}

/// The postmaster's pid from `postmaster.pid`.
fn postmaster_pid(data_dir: &Path) -> u32 {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).expect("postmaster.pid");
    text.lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("a pid on line 1")
}

/// Waits up to `limit` for `dir` to be gone and `pid` to have exited.
fn wait_gone(dir: &Path, pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !dir.exists() && !process_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Starts a server with `auth`, creates a role and databases, and checks logins over both
/// transports with the right and a wrong password, and how the password was stored.
async fn check_auth_method(auth: AuthMethod) {
    let server = TestServer::start(auth).unwrap();
    assert_eq!(server.auth(), auth);
    assert!(server.port() > 0);
    assert!(
        server
            .socket_dir()
            .join(format!(".s.PGSQL.{}", server.port()))
            .exists()
    );
    let version = server.server_version();
    assert!(
        !version.is_empty() && version.chars().all(|c| c.is_ascii_digit()),
        "{version:?}"
    );
    assert!(server.log_path().exists());

    // Names and passwords that need quoting everywhere.
    let role = format!("Role \"{}\" x", TestServer::unique_name("r"));
    let password = "p'w\\d \"$1 x";
    server.create_role(&role, Some(password)).await.unwrap();
    let owned_db = format!("Db '{}'", TestServer::unique_name("d"));
    server
        .create_database(&owned_db, Some(&role))
        .await
        .unwrap();
    let fresh = server.fresh_database().await.unwrap();
    assert!(fresh.starts_with("db_"));

    for tcp in [false, true] {
        let conninfo = server.connection_string(&role, Some(password), &owned_db, tcp);
        let got = psql_ok(
            &server,
            &conninfo,
            "SELECT current_user || '|' || current_database()",
        );
        assert_eq!(got, format!("{role}|{owned_db}"));
        // The owner can create tables in its database.
        psql_ok(&server, &conninfo, "CREATE TABLE t (id int); DROP TABLE t;");

        let conninfo = server.connection_string(&role, Some(password), &fresh, tcp);
        assert_eq!(
            psql_ok(&server, &conninfo, "SELECT current_database()"),
            fresh
        );

        let wrong = server.connection_string(&role, Some("wrong"), &owned_db, tcp);
        let output = psql(&server, &wrong, "SELECT 1");
        if auth == AuthMethod::Trust {
            assert!(output.status.success());
        } else {
            assert!(
                !output.status.success(),
                "{auth}: a wrong password was accepted (tcp={tcp})"
            );
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains("password authentication failed"),
                "{stderr}"
            );
        }

        let superuser = server.connection_string(
            server.superuser(),
            Some(server.superuser_password()),
            "postgres",
            tcp,
        );
        assert_eq!(
            psql_ok(&server, &superuser, "SELECT current_user"),
            "postgres"
        );
    }

    // Every pg_hba rule uses the method, and passwords are stored the way the method implies.
    let methods = superuser_query(
        &server,
        "SELECT DISTINCT auth_method FROM pg_hba_file_rules",
    );
    assert_eq!(methods, auth.hba_keyword());
    for user in [role.as_str(), "postgres"] {
        let stored = superuser_query(
            &server,
            &format!(
                "SELECT rolpassword FROM pg_authid WHERE rolname = '{}'",
                user.replace('\'', "''")
            ),
        );
        if auth == AuthMethod::Md5 {
            assert!(stored.starts_with("md5"), "{user}: {stored}");
        } else {
            assert!(stored.starts_with("SCRAM-SHA-256$"), "{user}: {stored}");
        }
    }
    if auth == AuthMethod::Md5 {
        // The role's hash is md5(password || name), the form the MD5 exchange needs.
        let computed = superuser_query(
            &server,
            &format!(
                "SELECT 'md5' || md5('{}' || 'postgres')",
                server.superuser_password()
            ),
        );
        let stored = superuser_query(
            &server,
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'",
        );
        assert_eq!(stored, computed);
    }

    // Errors from the server come back with psql's message.
    let err = server.create_role(&role, None).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");

    let dir = server.socket_dir().to_path_buf();
    let pid = postmaster_pid(server.data_dir());
    drop(server);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(
        wait_gone(&dir, pid, Duration::from_secs(5)),
        "postmaster {pid} still running"
    );
}

#[tokio::test]
async fn trust_server_works() {
    check_auth_method(AuthMethod::Trust).await;
}

#[tokio::test]
async fn password_server_works() {
    check_auth_method(AuthMethod::Password).await;
}

#[tokio::test]
async fn md5_server_works() {
    check_auth_method(AuthMethod::Md5).await;
}

#[tokio::test]
async fn scram_server_works() {
    check_auth_method(AuthMethod::ScramSha256).await;
}

#[test]
fn servers_start_in_parallel() {
    let servers: Vec<TestServer> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| TestServer::start(AuthMethod::ScramSha256)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    let mut ports: Vec<u16> = servers.iter().map(TestServer::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), servers.len());
    let mut passwords: Vec<&str> = servers.iter().map(TestServer::superuser_password).collect();
    passwords.sort_unstable();
    passwords.dedup();
    assert_eq!(passwords.len(), servers.len());
    for server in &servers {
        assert_eq!(superuser_query(server, "SELECT 1"), "1");
    }
    let dirs: Vec<PathBuf> = servers
        .iter()
        .map(|s| s.socket_dir().to_path_buf())
        .collect();
    drop(servers);
    for dir in dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[tokio::test]
async fn shared_server_is_started_once() {
    let first = TestServer::shared(AuthMethod::Md5);
    let second = TestServer::shared(AuthMethod::Md5);
    assert!(std::ptr::eq(first, second));
    let db = first.fresh_database().await.unwrap();
    let conninfo = first.connection_string(
        first.superuser(),
        Some(first.superuser_password()),
        &db,
        true,
    );
    assert_eq!(psql_ok(first, &conninfo, "SELECT current_database()"), db);
}

#[test]
fn unique_names_are_distinct_identifiers() {
    let a = TestServer::unique_name("My-Table");
    let b = TestServer::unique_name("My-Table");
    assert_ne!(a, b);
    assert!(
        a.starts_with(&format!("my_table_{}_", std::process::id())),
        "{a}"
    );
    assert!(TestServer::unique_name("9lives").starts_with("x9lives_"));
    let long = TestServer::unique_name(&"x".repeat(100));
    assert!(long.len() <= 63, "{long}");
    for name in [a, b, long] {
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
    }
}

/// The environment variable that makes `child_helper` do something.
const CHILD_MODE: &str = "HARNESS_TEST_CHILD_MODE";

/// Runs this test binary again, running only `child_helper` in `mode`.
fn spawn_child(mode: &str, extra_env: &[(&str, &str)]) -> std::process::Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "child_helper", "--nocapture", "--test-threads=1"])
        .env(CHILD_MODE, mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, value) in extra_env {
        command.env(key, value);
    }
    command.spawn().unwrap()
}

/// Runs `child_helper` in `mode` to completion, capturing its stdout and stderr (where a panic
/// message goes).
fn run_child(mode: &str, extra_env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "child_helper", "--nocapture", "--test-threads=1"])
        .env(CHILD_MODE, mode)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null());
    for (key, value) in extra_env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// Reads the child's stdout until a line holding `marker`, and returns what follows it (libtest
/// prints `test child_helper ... ` before the test's own output on the same line).
fn read_marker(child: &mut std::process::Child, marker: &str) -> String {
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some((_, rest)) = line.split_once(marker) {
                    // Keep reading, so that the child's last lines do not meet a closed pipe.
                    std::thread::spawn(move || lines.for_each(drop));
                    return rest.to_owned();
                }
            }
            _ => panic!("the child exited without printing {marker}"),
        }
    }
}

/// Not a test on its own: does what `CHILD_MODE` says when run by `spawn_child`, nothing otherwise.
#[test]
fn child_helper() {
    match std::env::var(CHILD_MODE).as_deref() {
        Ok("hold-shared-server") => {
            let server = TestServer::shared(AuthMethod::Trust);
            println!(
                "SERVER {} {}",
                postmaster_pid(server.data_dir()),
                server.socket_dir().display()
            );
            // Wait to be killed.
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        Ok("start") => match TestServer::start(AuthMethod::Trust) {
            Ok(server) => println!("RESULT ok {}", server.port()),
            Err(err) => println!("RESULT err {}", err.to_string().replace('\n', " | ")),
        },
        Ok("start-version-99") => match TestServer::start_version(AuthMethod::Trust, 99) {
            Ok(server) => println!("RESULT ok {}", server.server_version()),
            Err(err) => println!("RESULT err {}", err.to_string().replace('\n', " | ")),
        },
        Ok("shared-version-or-skip-99") => {
            // A panic here is reported by the parent as a missing RESULT line.
            match TestServer::shared_version_or_skip(AuthMethod::Trust, 99) {
                Some(server) => println!("RESULT some {}", server.server_version()),
                None => println!("RESULT none"),
            }
        }
        _ => {}
    }
}

#[test]
fn watchdog_cleans_up_after_a_killed_process() {
    let mut child = spawn_child("hold-shared-server", &[]);
    let line = read_marker(&mut child, "SERVER ");
    let (pid, dir) = line.split_once(' ').unwrap();
    let pid: u32 = pid.parse().unwrap();
    let dir = PathBuf::from(dir);
    assert!(dir.exists() && process_alive(pid));

    child.kill().unwrap(); // SIGKILL: no destructor, no atexit.
    child.wait().unwrap();
    assert!(
        wait_gone(&dir, pid, Duration::from_secs(10)),
        "after the test process was killed, postmaster {pid} or {} is still there",
        dir.display()
    );
}

#[test]
fn wrong_pg_bindir_is_a_clear_error() {
    let mut child = spawn_child("start", &[("PG_BINDIR", "/nonexistent/pg/bin")]);
    let result = read_marker(&mut child, "RESULT ");
    child.wait().unwrap();
    assert!(
        result.starts_with("err PG_BINDIR is set to /nonexistent/pg/bin"),
        "{result}"
    );
}

#[test]
fn a_missing_version_says_how_to_get_it() {
    let mut child = spawn_child("start-version-99", &[]);
    let result = read_marker(&mut child, "RESULT ");
    child.wait().unwrap();
    assert!(
        result.starts_with("err no PostgreSQL 99 server binaries found")
            && result.contains("PG99_BINDIR")
            && result.contains("PG_TEST_SKIP_MISSING_VERSIONS=1"),
        "{result}"
    );
}

#[test]
fn a_missing_version_panics_unless_skipping_is_allowed() {
    let output = run_child(
        "shared-version-or-skip-99",
        &[("PG_TEST_SKIP_MISSING_VERSIONS", "1")],
    );
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("RESULT none"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("skipped (PG_TEST_SKIP_MISSING_VERSIONS=1): no PostgreSQL 99"),
        "{stderr}"
    );

    let output = run_child("shared-version-or-skip-99", &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the child should have panicked");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("RESULT"));
    assert!(
        stderr.contains("no PostgreSQL 99 server binaries found"),
        "{stderr}"
    );
}

#[test]
fn a_wrong_version_bindir_is_a_clear_error_even_when_skipping() {
    let mut child = spawn_child(
        "start-version-99",
        &[
            ("PG99_BINDIR", "/nonexistent/pg/bin"),
            ("PG_TEST_SKIP_MISSING_VERSIONS", "1"),
        ],
    );
    let result = read_marker(&mut child, "RESULT ");
    child.wait().unwrap();
    assert!(
        result.starts_with("err PG99_BINDIR is set to /nonexistent/pg/bin"),
        "{result}"
    );

    let output = run_child(
        "shared-version-or-skip-99",
        &[
            ("PG99_BINDIR", "/nonexistent/pg/bin"),
            ("PG_TEST_SKIP_MISSING_VERSIONS", "1"),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the child should have panicked");
    assert!(
        stderr.contains("PG99_BINDIR is set to /nonexistent/pg/bin"),
        "{stderr}"
    );
}

#[test]
fn binaries_of_another_version_are_refused() {
    let default_bindir = TestServer::shared(AuthMethod::Trust).bindir().to_owned();
    let mut child = spawn_child(
        "start-version-99",
        &[("PG99_BINDIR", default_bindir.to_str().unwrap())],
    );
    let result = read_marker(&mut child, "RESULT ");
    child.wait().unwrap();
    assert!(
        result.starts_with("err PostgreSQL 99 was asked for, but the binaries found in"),
        "{result}"
    );
}

#[test]
fn the_default_version_shares_the_default_server() {
    let default = TestServer::shared(AuthMethod::Trust);
    let major: u32 = default.server_version().parse().unwrap();
    let versioned = TestServer::shared_version(AuthMethod::Trust, major);
    assert_eq!(versioned.server_version(), default.server_version());
    let same_binaries =
        versioned.bindir().canonicalize().unwrap() == default.bindir().canonicalize().unwrap();
    assert_eq!(std::ptr::eq(default, versioned), same_binaries);
    assert!(std::ptr::eq(
        versioned,
        TestServer::shared_version(AuthMethod::Trust, major)
    ));
}
