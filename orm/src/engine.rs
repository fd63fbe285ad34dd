//! The engine: where sessions get their connections (a pool), and whether the SQL they send is
//! logged, as SQLAlchemy's `create_engine(url, echo=True)`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use pg_wire::config::{Config, Url};
use pg_wire::pool::{Pool, PoolOptions};

use crate::error::OrmError;
use crate::session::Session;
use crate::value::Value;

/// A source of connections for sessions. Creating it does not connect: the pool opens connections
/// on first use. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pool: Pool,
    echo: Arc<AtomicBool>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("pool", &self.pool)
            .field("echo", &self.echo.load(Ordering::Relaxed))
            .finish()
    }
}

/// An engine for a connection string (a `postgresql://` URI or libpq `key=value` pairs).
pub fn create_engine(url: &str) -> Result<Engine, OrmError> {
    let config: Config = url.parse().map_err(pg_wire::Error::from)?;
    Ok(Engine::new(config, PoolOptions::new()))
}

impl Engine {
    /// An engine over a pool of connections made with `config`.
    pub fn new(config: Config, options: PoolOptions) -> Engine {
        Engine {
            pool: Pool::new(config, options),
            echo: Arc::new(AtomicBool::new(false)),
        }
    }

    /// An engine for a [`Url`] built as SQLAlchemy's `URL.create(...)`.
    pub fn from_url(url: &Url) -> Result<Engine, OrmError> {
        let config = url.to_config().map_err(pg_wire::Error::from)?;
        Ok(Engine::new(config, PoolOptions::new()))
    }

    /// Logs every statement and its parameters on standard error (SQLAlchemy's `echo=True`).
    pub fn echo(self, on: bool) -> Engine {
        self.echo.store(on, Ordering::Relaxed);
        self
    }

    /// Whether statements are logged.
    pub fn is_echo(&self) -> bool {
        self.echo.load(Ordering::Relaxed)
    }

    /// The connection pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A new session (as calling SQLAlchemy's `sessionmaker(bind=engine)()`).
    pub fn session(&self) -> Session {
        Session::new(self.clone())
    }

    /// A session factory bound to this engine, as SQLAlchemy's `sessionmaker(bind=engine)`.
    pub fn sessionmaker(&self) -> SessionMaker {
        SessionMaker {
            engine: self.clone(),
        }
    }

    /// Logs a statement when echo is on.
    pub(crate) fn log(&self, sql: &str, params: &[Value], started: Option<Instant>) {
        if !self.is_echo() {
            return;
        }
        eprintln!("{sql}");
        let elapsed = started
            .map(|t| format!("[{:.5}s] ", t.elapsed().as_secs_f64()))
            .unwrap_or_default();
        if params.is_empty() {
            eprintln!("{elapsed}()");
        } else {
            let shown: Vec<String> = params.iter().map(show_param).collect();
            eprintln!("{elapsed}({})", shown.join(", "));
        }
    }

    /// Logs a statement whose one parameter is an array (`= ANY($1)`) when echo is on.
    pub(crate) fn log_list(&self, sql: &str, list: &[Value], started: Option<Instant>) {
        if !self.is_echo() {
            return;
        }
        eprintln!("{sql}");
        let elapsed = started
            .map(|t| format!("[{:.5}s] ", t.elapsed().as_secs_f64()))
            .unwrap_or_default();
        let shown: Vec<String> = list.iter().map(show_param).collect();
        eprintln!("{elapsed}([{}])", shown.join(", "));
    }

    /// Logs a transaction event (`BEGIN (implicit)`, `COMMIT`, `ROLLBACK`) when echo is on.
    pub(crate) fn log_event(&self, event: &str) {
        if self.is_echo() {
            eprintln!("{event}");
        }
    }
}

/// A parameter as the echo log shows it.
fn show_param(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Text(s) if s.chars().count() > 40 => {
            let head: String = s.chars().take(37).collect();
            format!("'{head}...'")
        }
        Value::Text(s) => format!("'{s}'"),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::I16(v) => v.to_string(),
        Value::I32(v) => v.to_string(),
        Value::I64(v) => v.to_string(),
        Value::F64(v) => v.to_string(),
        Value::Numeric(v) => v.to_string(),
        Value::Bytes(b) => format!("<{} bytes>", b.len()),
        Value::Date(d) => d.to_string(),
        Value::Timestamp(t) => t.to_string(),
        Value::TimestampTz(t) => t.to_string(),
        Value::Uuid(u) => u.to_string(),
        Value::Json(j) => j.to_string(),
    }
}

/// Makes sessions bound to an engine, as SQLAlchemy's `sessionmaker(bind=engine)`.
#[derive(Debug, Clone)]
pub struct SessionMaker {
    engine: Engine,
}

impl SessionMaker {
    /// A new session.
    pub fn session(&self) -> Session {
        Session::new(self.engine.clone())
    }
}

/// A session factory bound to `engine` (SQLAlchemy's `sessionmaker(bind=engine)`).
pub fn sessionmaker(engine: &Engine) -> SessionMaker {
    engine.sessionmaker()
}
