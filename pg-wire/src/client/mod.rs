//! The client: the public face of a connection.
//!
//! Every method takes `&self` (except starting a transaction, which needs the connection to
//! itself), so requests from several tasks (or `join`ed futures) share one connection and are
//! pipelined: each request's messages go out without waiting for earlier replies, and each reply
//! reaches its own caller.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::config::{Config, Target};
use crate::connection::{self, Connection, NoticeHandler, Receiver};
use crate::error::{DbError, Error, SqlState};
use crate::proto::ProtocolError;
use crate::proto::backend::{BackendMessage, Notification, TransactionStatus};
use crate::proto::frontend;
use crate::row::{Column, Row};
use crate::simple_query::{SimpleQueryMessage, SimpleQueryStream};
use crate::statement::{Statement, StatementKind, StatementRef, ToStatement};
use crate::types::{ToSql, Type};

mod batch;
mod cache;
mod cancel;
mod copy;
mod execute;
mod notifications;
mod transaction;

pub use batch::{Batch, BatchResult};
pub use cancel::CancelToken;
pub use copy::{BinaryCopyInWriter, CopyInWriter, CopyOutStream};
pub use execute::RowStream;
pub use notifications::Notifications;
pub use transaction::{IsolationLevel, Portal, Transaction, TransactionBuilder};

use cache::StatementCache;
use execute::{Execution, ExecutionResponse, check_params, encode_execution, result_format};

/// A connection to a PostgreSQL server.
///
/// ```no_run
/// # async fn demo() -> Result<(), pg_wire::Error> {
/// let config: pg_wire::Config = "host=/var/run/postgresql user=postgres".parse()?;
/// let client = pg_wire::Client::connect(&config).await?;
/// let row = client.query_one("SELECT $1::int4 + 1", &[&41i32]).await?;
/// assert_eq!(row.get::<_, i32>(0), 42);
/// client.close().await?;
/// # Ok(()) }
/// ```
pub struct Client {
    conn: Arc<Connection>,
    next_name: AtomicU64,
    cache: Mutex<StatementCache>,
    named_statements: bool,
    query_timeout: Mutex<Option<Duration>>,
    /// `connect_timeout`, which also bounds a cancel request's connection.
    connect_timeout: Option<Duration>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("target", self.conn.target())
            .field("process_id", &self.process_id())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Never blocks: Terminate is written only if the socket takes it right away.
        self.conn.close_without_waiting();
    }
}

/// Connects with a connection string (a `postgresql://` URI or `key=value` pairs, as libpq takes).
/// Environment variables are not read; see [`Config::with_env`] for that.
pub async fn connect(connection_string: &str) -> Result<Client, Error> {
    let config: Config = connection_string.parse().map_err(Error::config)?;
    Client::connect(&config).await
}

/// Reads the next message of a request; an ErrorResponse ends it: the rest is read up to
/// ReadyForQuery and the server's error is returned.
async fn next_or_db_error(receiver: &mut Receiver<'_>) -> Result<BackendMessage, Error> {
    match receiver.next().await? {
        BackendMessage::ErrorResponse(fields) => {
            let error = Error::db(fields);
            // A FATAL error is followed by the end of the stream, not ReadyForQuery: the server's
            // error is what the user needs to see, with the end of the stream as its cause.
            match receiver.finish().await {
                Ok(()) => Err(error),
                Err(closed) => Err(error.with_cause(closed)),
            }
        }
        message => Ok(message),
    }
}

/// Closes the connection after a message the request could not receive at this point.
fn unexpected(receiver: &Receiver<'_>, expected: &'static str, got: &BackendMessage) -> Error {
    receiver
        .connection()
        .fail(Error::protocol(ProtocolError::UnexpectedMessage {
            expected,
            got: got.name(),
        }))
}

/// Whether a cached statement failed because the server no longer accepts it as prepared: its
/// result type changed under it ("cached plan must not change result type"), or it no longer
/// exists (`DISCARD ALL`, a pooler that moved the session).
///
/// A statement of the unnamed-statement mode is parsed again at every execution, so its cached
/// description (parameter types, result formats) can go stale instead: the server then refuses
/// the Bind (08P01, such as a result format count that no longer matches the columns).
pub(crate) fn is_stale_statement(error: &Error, statement: &Statement) -> bool {
    if error.is_stale_description() {
        return true;
    }
    let Some(db) = error.as_db_error() else {
        return false;
    };
    (db.code() == &SqlState::FEATURE_NOT_SUPPORTED && db.routine() == Some("RevalidateCachedQuery"))
        || db.code() == &SqlState::INVALID_SQL_STATEMENT_NAME
        || (statement.kind() == StatementKind::Unnamed
            && db.code() == &SqlState::PROTOCOL_VIOLATION)
}

impl Client {
    /// Opens a connection: socket, startup, authentication, up to the first ReadyForQuery, all
    /// within `connect_timeout` when one is set.
    pub async fn connect(config: &Config) -> Result<Client, Error> {
        let conn = connection::connect(config).await?;
        Ok(Client {
            conn: Arc::new(conn),
            next_name: AtomicU64::new(0),
            cache: Mutex::new(StatementCache::new(config.get_statement_cache_capacity())),
            named_statements: config.get_named_statements(),
            query_timeout: Mutex::new(config.get_query_timeout()),
            connect_timeout: config.effective_connect_timeout(),
        })
    }

    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn connection_arc(&self) -> &Arc<Connection> {
        &self.conn
    }

    fn lock_cache(&self) -> MutexGuard<'_, StatementCache> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new name for a statement or portal, unique on this connection.
    pub(crate) fn new_name(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.next_name.fetch_add(1, Ordering::Relaxed))
    }

    /// Sets the time limit of each query on this client (see [`Config::query_timeout`]); `None`
    /// removes it.
    pub fn set_query_timeout(&self, timeout: Option<Duration>) {
        *self
            .query_timeout
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = timeout;
    }

    /// The time limit of each query, if any.
    pub fn query_timeout(&self) -> Option<Duration> {
        *self
            .query_timeout
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `request` within the query timeout. When it passes, the request is dropped and the
    /// server is asked to cancel it. That is only safe while nothing else can be running when the
    /// cancel arrives, so the cancel is sent while the writer is held and only when the dropped
    /// request is the one outstanding; the connection is then brought back in step before the
    /// timeout error is returned. Otherwise (other requests pipelined behind it, or a server that
    /// does not stop) the connection is closed instead.
    ///
    /// Every query method applies it; use this for work the methods do not cover whole, such as
    /// reading a [`RowStream`] or a [`SimpleQueryStream`] to its end.
    ///
    /// ```no_run
    /// # async fn demo(client: &pg_wire::Client) -> Result<(), pg_wire::Error> {
    /// client.set_query_timeout(Some(std::time::Duration::from_secs(5)));
    /// let total = client
    ///     .with_timeout(async {
    ///         let mut rows = client.query_raw("SELECT g FROM generate_series(1, 10) g", &[]).await?;
    ///         let mut total = 0;
    ///         while let Some(row) = rows.next().await {
    ///             total += row?.get::<_, i32>(0);
    ///         }
    ///         Ok(total)
    ///     })
    ///     .await?;
    /// # let _ = total; Ok(()) }
    /// ```
    pub async fn with_timeout<T>(
        &self,
        request: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let Some(limit) = self.query_timeout() else {
            return request.await;
        };
        if let Ok(result) = tokio::time::timeout(limit, request).await {
            return result;
        }
        let message = format!(
            "the query did not finish within {} s and was cancelled",
            limit.as_secs_f64()
        );
        let grace = limit.max(Duration::from_secs(1));
        if self.conn.is_idle() {
            return Err(Error::timeout(message));
        }
        let cancelled = async {
            let writer = self.conn.hold_writer().await;
            if !self.conn.only_abandoned_outstanding() {
                return false;
            }
            // Waits until the server has taken the cancel, then lets other requests write again.
            let delivered = self.cancel_token().cancel().await.is_ok();
            drop(writer);
            delivered && self.ping().await.is_ok()
        };
        if matches!(tokio::time::timeout(grace, cancelled).await, Ok(true)) {
            return Err(Error::timeout(message));
        }
        self.conn.close_without_waiting();
        Err(Error::timeout(format!(
            "{message}; the connection was closed because the query could not be cancelled alone"
        )))
    }

    /// A round trip with nothing to run (a Sync): it drains what earlier dropped requests left and
    /// returns the transaction status. A cheap health check.
    pub async fn ping(&self) -> Result<TransactionStatus, Error> {
        let ticket = self.conn.enqueue(1, |buf| {
            frontend::sync(buf);
            Ok(())
        })?;
        let mut rx = self.conn.send(ticket).await?;
        match rx.next().await? {
            BackendMessage::ReadyForQuery(status) => Ok(status),
            other => Err(unexpected(&rx, "ReadyForQuery", &other)),
        }
    }

    /// Runs one or more SQL statements with the simple query protocol and collects every result.
    /// An error in one statement ends the batch with that error (the statements after it are not
    /// run) and leaves the connection usable.
    ///
    /// Values are not escaped here: use [`Client::query`] with parameters for user input.
    pub async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.with_timeout(async { self.simple_query_stream(sql).await?.collect().await })
            .await
    }

    /// Runs a simple query and returns its results as a stream, message by message; results of
    /// the statements before a failing one arrive before the error.
    pub async fn simple_query_stream(&self, sql: &str) -> Result<SimpleQueryStream<'_>, Error> {
        // A simple query may turn into COPY FROM STDIN, after which the server takes nothing but
        // COPY messages: no other request's bytes may follow it until it ends.
        let (ticket, writer) = self
            .conn
            .enqueue_exclusive(1, |buf| frontend::query(buf, sql).map_err(Error::encode))
            .await?;
        let receiver = self.conn.receive(ticket).await?;
        Ok(SimpleQueryStream::new(receiver, writer))
    }

    /// Runs one or more SQL statements with the simple query protocol, ignoring any rows.
    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.with_timeout(async {
            let mut stream = self.simple_query_stream(sql).await?;
            while let Some(message) = stream.next().await {
                message?;
            }
            Ok(())
        })
        .await
    }

    /// Prepares a statement; the server infers the parameter types.
    pub async fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        self.prepare_typed(sql, &[]).await
    }

    /// Prepares a statement with the types of its first parameters given (the server infers the
    /// rest).
    pub async fn prepare_typed(&self, sql: &str, types: &[Type]) -> Result<Statement, Error> {
        let kind = if self.named_statements {
            StatementKind::Named
        } else {
            StatementKind::Unnamed
        };
        self.with_timeout(self.prepare_inner(sql, types, kind))
            .await
    }

    /// Parses and describes `sql`: as a named statement, or (for `Unnamed`) as the unnamed one,
    /// keeping only the description.
    async fn prepare_inner(
        &self,
        sql: &str,
        types: &[Type],
        kind: StatementKind,
    ) -> Result<Statement, Error> {
        let name = match kind {
            StatementKind::Unnamed => String::new(),
            StatementKind::Named | StatementKind::OneShot => self.new_name("pgw_s"),
        };
        let oids: Vec<u32> = types.iter().map(Type::oid).collect();
        let ticket = self.conn.enqueue(1, |buf| {
            frontend::parse(buf, &name, sql, &oids).map_err(Error::encode)?;
            frontend::describe(buf, frontend::Target::Statement, &name).map_err(Error::encode)?;
            frontend::sync(buf);
            Ok(())
        })?;
        let mut rx = self.conn.send(ticket).await?;

        match next_or_db_error(&mut rx).await? {
            BackendMessage::ParseComplete => {}
            other => return Err(unexpected(&rx, "ParseComplete", &other)),
        }
        let params = match next_or_db_error(&mut rx).await? {
            BackendMessage::ParameterDescription(description) => description
                .types
                .into_iter()
                .map(Type::from_oid)
                .collect::<Vec<_>>(),
            other => return Err(unexpected(&rx, "ParameterDescription", &other)),
        };
        let columns = match next_or_db_error(&mut rx).await? {
            BackendMessage::RowDescription(description) => description
                .fields
                .iter()
                .map(|field| Column::new(field, result_format(&Type::from_oid(field.type_oid))))
                .collect(),
            BackendMessage::NoData => Vec::new(),
            other => return Err(unexpected(&rx, "RowDescription or NoData", &other)),
        };
        match next_or_db_error(&mut rx).await? {
            BackendMessage::ReadyForQuery(_) => {}
            other => return Err(unexpected(&rx, "ReadyForQuery", &other)),
        }
        Ok(Statement::new(
            Arc::downgrade(&self.conn),
            name,
            Arc::from(sql),
            params,
            columns,
            kind,
        ))
    }

    /// The statement to execute for SQL text: from the cache, else prepared (and cached). With the
    /// cache off, a statement prepared for one execution.
    async fn cached_statement(&self, sql: &str) -> Result<(Statement, bool), Error> {
        if let Some(statement) = self.lock_cache().get(sql) {
            return Ok((statement, true));
        }
        let caching = self.config_cache_enabled();
        let kind = match (self.named_statements, caching) {
            (false, _) => StatementKind::Unnamed,
            (true, true) => StatementKind::Named,
            (true, false) => StatementKind::OneShot,
        };
        let statement = self.prepare_inner(sql, &[], kind).await?;
        if caching {
            self.lock_cache().insert(sql, statement.clone());
        }
        Ok((statement, caching))
    }

    fn config_cache_enabled(&self) -> bool {
        self.lock_cache().capacity() > 0
    }

    /// Forgets the cached statement for `sql` if it is `statement`.
    pub(crate) fn evict_cached(&self, sql: &str, statement: &Statement) {
        self.lock_cache().remove(sql, statement);
    }

    /// Forgets every cached statement (they are closed on the server as their handles go). Useful
    /// after `DISCARD ALL` or schema changes; stale statements are also re-prepared automatically.
    pub fn clear_statement_cache(&self) {
        self.lock_cache().clear();
    }

    /// The prepared statement for `statement`, and whether it came from the cache (so it may be
    /// re-prepared if the server finds it stale).
    async fn resolve<T: ?Sized + ToStatement>(
        &self,
        statement: &T,
    ) -> Result<(Statement, bool), Error> {
        self.resolve_ref(statement.to_statement()).await
    }

    /// [`Client::resolve`] for an already taken reference.
    pub(crate) async fn resolve_ref(
        &self,
        statement: StatementRef<'_>,
    ) -> Result<(Statement, bool), Error> {
        match statement {
            StatementRef::Sql(sql) => self.cached_statement(sql).await,
            StatementRef::Prepared(statement) => {
                if !statement.belongs_to(&self.conn) {
                    return Err(Error::usage(format!(
                        "statement {} was prepared on another connection",
                        statement.name()
                    )));
                }
                Ok((statement.clone(), false))
            }
        }
    }

    /// Sends one execution of `statement` and reads up to its first row.
    async fn start(
        &self,
        execution: Execution<'_>,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<RowStream<'_>, Error> {
        check_params(execution.statement, params)?;
        let ticket = self.conn.enqueue(1, |buf| {
            encode_execution(buf, execution, params)?;
            frontend::sync(buf);
            Ok(())
        })?;
        let receiver = self.conn.send(ticket).await?;
        let mut stream = RowStream::new(receiver, ExecutionResponse::new(execution));
        stream.bind().await?;
        Ok(stream)
    }

    /// Runs a statement and returns its rows as a stream, read from the connection as they are
    /// consumed (see [`RowStream`]). `statement` is SQL text (prepared once and cached) or a
    /// [`Statement`].
    pub async fn query_raw<T: ?Sized + ToStatement>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<RowStream<'_>, Error> {
        let (prepared, cached) = self.resolve(statement).await?;
        match self.start(Execution::all(&prepared), params).await {
            Err(e)
                if cached
                    && is_stale_statement(&e, &prepared)
                    && self.transaction_status() == TransactionStatus::Idle =>
            {
                // Re-prepared and re-run once: outside a transaction nothing was done yet.
                if let StatementRef::Sql(sql) = statement.to_statement() {
                    self.lock_cache().remove(sql, &prepared);
                }
                let (fresh, _) = self.resolve(statement).await?;
                self.start(Execution::all(&fresh), params).await
            }
            result => result,
        }
    }

    /// Runs a statement with parameters and returns its rows.
    ///
    /// Parameters travel as bound values (binary where the driver has an encoder, text for
    /// strings), never as SQL text. `statement` is SQL text or a [`Statement`].
    pub async fn query<T: ?Sized + ToStatement>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.with_timeout(async {
            self.query_raw(statement, params)
                .await?
                .collect_rows()
                .await
        })
        .await
    }

    /// Runs a statement that must return exactly one row.
    pub async fn query_one<T: ?Sized + ToStatement>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        let mut rows = self.query(statement, params).await?;
        match rows.len() {
            1 => rows
                .pop()
                .ok_or_else(|| Error::usage("query returned no rows")),
            0 => Err(Error::usage(
                "query returned no rows where exactly one was expected",
            )),
            n => Err(Error::usage(format!(
                "query returned {n} rows where exactly one was expected"
            ))),
        }
    }

    /// Runs a statement that returns at most one row.
    pub async fn query_opt<T: ?Sized + ToStatement>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        let mut rows = self.query(statement, params).await?;
        match rows.len() {
            0 | 1 => Ok(rows.pop()),
            n => Err(Error::usage(format!(
                "query returned {n} rows where at most one was expected"
            ))),
        }
    }

    /// Runs a statement and returns the number of rows it affected (or returned).
    pub async fn execute<T: ?Sized + ToStatement>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        self.with_timeout(async { self.query_raw(statement, params).await?.finish().await })
            .await
    }

    /// Sends `COMMIT` for a transaction begun by hand (`BEGIN` through
    /// [`Client::batch_execute`]), reporting its outcome as [`Transaction::commit`] does: a
    /// transaction the server had aborted is an error of kind
    /// [`ErrorKind::RolledBack`](crate::ErrorKind::RolledBack), and a connection lost while
    /// `COMMIT` was in flight one of kind
    /// [`ErrorKind::CommitOutcomeUnknown`](crate::ErrorKind::CommitOutcomeUnknown). If the
    /// connection was already closed before `COMMIT` could be sent, the transaction was not
    /// committed and the error is the connection's.
    ///
    /// ```no_run
    /// # async fn demo(client: &pg_wire::Client) -> Result<(), pg_wire::Error> {
    /// client.batch_execute("BEGIN").await?;
    /// client.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 1", &[]).await?;
    /// match client.commit_transaction().await {
    ///     Err(e) if e.is_commit_outcome_unknown() => { /* check before retrying */ }
    ///     other => other?,
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn commit_transaction(&self) -> Result<(), Error> {
        if let Some(closed) = self.conn.closed_error() {
            // Nothing was sent: the server rolls the transaction back when the session ends.
            return Err(closed);
        }
        let messages = match self.simple_query("COMMIT").await {
            Ok(messages) => messages,
            Err(e) if e.leaves_commit_unknown() => return Err(Error::commit_outcome_unknown(e)),
            Err(e) => return Err(e),
        };
        let rolled_back = messages.iter().any(
            |m| matches!(m, SimpleQueryMessage::CommandComplete(tag) if tag.as_str() == "ROLLBACK"),
        );
        if rolled_back {
            return Err(Error::rolled_back(
                "COMMIT found the transaction aborted by an earlier error; the server rolled it back",
            ));
        }
        Ok(())
    }

    /// Starts a transaction (`BEGIN`). It rolls back when dropped without
    /// [`Transaction::commit`].
    pub async fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        self.build_transaction().start().await
    }

    /// A transaction with options: isolation level, read only, deferrable.
    pub fn build_transaction(&mut self) -> TransactionBuilder<'_> {
        TransactionBuilder::new(self)
    }

    /// A batch of statements sent in one round trip (see [`Batch`]).
    pub fn batch(&self) -> Batch<'_, '_> {
        Batch::new(self)
    }

    /// A token that cancels the query running on this connection, from any task.
    pub fn cancel_token(&self) -> CancelToken {
        CancelToken::new(
            self.conn.target().clone(),
            self.conn.backend_key().cloned(),
            self.connect_timeout,
        )
    }

    /// The LISTEN notifications of this connection as a stream; it also reads from the socket
    /// while the connection is idle (see [`Notifications`]).
    pub fn notifications(&self) -> Notifications<'_> {
        Notifications::new(&self.conn)
    }

    /// Starts listening on `channel` (`LISTEN`, with the name quoted as an identifier).
    pub async fn listen(&self, channel: &str) -> Result<(), Error> {
        self.batch_execute(&format!("LISTEN {}", quote_identifier(channel)?))
            .await
    }

    /// Stops listening on `channel` (`UNLISTEN`).
    pub async fn unlisten(&self, channel: &str) -> Result<(), Error> {
        self.batch_execute(&format!("UNLISTEN {}", quote_identifier(channel)?))
            .await
    }

    /// Sends a notification on `channel` with `payload` (`pg_notify`, with both as parameters).
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), Error> {
        self.execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
            .await?;
        Ok(())
    }

    /// Runs `COPY ... FROM STDIN` and returns a writer for its data (see [`CopyInWriter`]).
    pub async fn copy_in(&self, sql: &str) -> Result<CopyInWriter<'_>, Error> {
        CopyInWriter::start(self, sql).await
    }

    /// Runs `COPY ... TO STDOUT` and returns its data as a stream of chunks (see
    /// [`CopyOutStream`]).
    pub async fn copy_out(&self, sql: &str) -> Result<CopyOutStream<'_>, Error> {
        CopyOutStream::start(self, sql).await
    }

    /// Sends Terminate and closes the connection.
    pub async fn close(self) -> Result<(), Error> {
        self.conn.close().await
    }

    /// Whether the connection is closed (by [`Client::close`], by the server, or after an error).
    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// A run-time parameter the server reported, such as `server_version`, `TimeZone` or
    /// `application_name`; kept up to date as the server reports changes.
    pub fn parameter(&self, name: &str) -> Option<String> {
        self.conn.parameter(name)
    }

    /// Every run-time parameter the server reported.
    pub fn parameters(&self) -> HashMap<String, String> {
        self.conn.parameters()
    }

    /// The server's version string (`server_version`), such as `15.18 (Debian 15.18-0+deb12u1)`.
    pub fn server_version(&self) -> Option<String> {
        self.parameter("server_version")
    }

    /// The transaction status of the last ReadyForQuery.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.conn.transaction_status()
    }

    /// Whether requests are still outstanding: sent (or dropped) with responses not yet all read.
    pub fn has_pending_requests(&self) -> bool {
        self.conn.has_pending_requests()
    }

    /// The server process id serving this connection.
    pub fn process_id(&self) -> Option<i32> {
        self.conn.backend_key().map(|key| key.process_id)
    }

    /// The negotiated protocol version as (major, minor), such as (3, 0).
    pub fn protocol_version(&self) -> (i32, i32) {
        (3, self.conn.protocol_minor())
    }

    /// The host (or socket) and port this client is connected to.
    pub fn target(&self) -> &Target {
        self.conn.target()
    }

    /// Replaces the handler for notices and warnings the server sends (default: one line on
    /// standard error).
    pub fn set_notice_handler<F>(&self, handler: F)
    where
        F: Fn(&DbError) + Send + Sync + 'static,
    {
        let handler: NoticeHandler = Arc::new(handler);
        self.conn.set_notice_handler(handler);
    }

    /// Takes the LISTEN notifications received so far without waiting.
    pub fn take_notifications(&self) -> Vec<Notification> {
        self.conn.take_notifications()
    }
}

/// `name` quoted as an SQL identifier.
pub(crate) fn quote_identifier(name: &str) -> Result<String, Error> {
    if name.contains('\0') {
        return Err(Error::usage("an identifier cannot contain a NUL character"));
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("ch").unwrap(), "\"ch\"");
        assert_eq!(quote_identifier("a\"b; DROP").unwrap(), "\"a\"\"b; DROP\"");
        assert!(quote_identifier("a\0").is_err());
    }
}
