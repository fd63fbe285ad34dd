//! What the examples share: where their database comes from.
//!
//! With `DATABASE_URL` or any of libpq's `PG*` connection variables set, the examples use that
//! server. With nothing set, they start a throwaway local PostgreSQL server (the test harness's),
//! say so on stderr, and remove it when they finish.

use harness::{AuthMethod, HarnessError, TestServer};
use pg_wire::config::{Config, ConfigError, Url};

/// The variables that point the examples at an existing server.
const SERVER_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
];

/// The database an example runs against.
pub enum Database {
    /// A server named by `DATABASE_URL` or the `PG*` variables.
    Existing(Config),
    /// A throwaway server started for this run; it is stopped when this value is dropped.
    Throwaway {
        /// The server.
        server: TestServer,
        /// The URL the example connects with, built as the tutorial builds it.
        url: Url,
    },
}

/// Why no database could be had.
#[derive(Debug)]
pub enum SetupError {
    /// `DATABASE_URL` or a `PG*` variable is invalid.
    Config(ConfigError),
    /// The throwaway server could not be started.
    Harness(HarnessError),
    /// The task starting the server failed.
    Task(tokio::task::JoinError),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::Config(e) => {
                write!(f, "invalid connection settings in the environment: {e}")
            }
            SetupError::Harness(e) => {
                write!(f, "could not start a throwaway PostgreSQL server: {e}")
            }
            SetupError::Task(e) => write!(f, "the task starting the throwaway server failed: {e}"),
        }
    }
}

impl std::error::Error for SetupError {}

impl Database {
    /// The server from the environment, or a new throwaway one with a role and a database named
    /// `user_and_database` (as the tutorial's `coderpad`).
    pub async fn from_env_or_throwaway(user_and_database: &str) -> Result<Database, SetupError> {
        let configured = SERVER_VARIABLES
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
        if configured {
            return Config::from_env()
                .map(Database::Existing)
                .map_err(SetupError::Config);
        }
        eprintln!("DATABASE_URL is not set: starting a throwaway PostgreSQL server for this run");
        let server = tokio::task::spawn_blocking(|| TestServer::start(AuthMethod::Trust))
            .await
            .map_err(SetupError::Task)?
            .map_err(SetupError::Harness)?;
        server
            .create_role(user_and_database, None)
            .await
            .map_err(SetupError::Harness)?;
        server
            .create_database(user_and_database, Some(user_and_database))
            .await
            .map_err(SetupError::Harness)?;
        let socket_dir = server.socket_dir().to_string_lossy().into_owned();
        eprintln!(
            "(server on socket directory {socket_dir}, port {})",
            server.port()
        );
        let url = Url::create("postgresql")
            .username(user_and_database)
            .host(socket_dir)
            .port(server.port())
            .database(user_and_database);
        Ok(Database::Throwaway { server, url })
    }

    /// The connection settings.
    pub fn config(&self) -> Result<Config, ConfigError> {
        match self {
            Database::Existing(config) => Ok(config.clone()),
            Database::Throwaway { url, .. } => url.to_config(),
        }
    }
}
