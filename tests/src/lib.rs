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
mod locate;
mod server;
mod sql;

pub use error::HarnessError;
pub use server::{AuthMethod, TestServer};
