//! The client: the public face of a connection.
//!
//! Every method takes `&self`, so requests from several tasks (or `join`ed futures) share one
//! connection and are pipelined: each request's messages go out without waiting for earlier
//! replies, and each reply reaches its own caller.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;

use crate::config::{Config, Target};
use crate::connection::{self, Connection, NoticeHandler, Receiver};
use crate::error::{DbError, Error};
use crate::proto::ProtocolError;
use crate::proto::backend::{BackendMessage, Notification, TransactionStatus};
use crate::proto::frontend::{self, BindError, BindValue};
use crate::row::{Column, Row};
use crate::simple_query::{SimpleQueryMessage, SimpleQueryStream};
use crate::statement::{Statement, StatementRef, ToStatement};
use crate::types::{Format, IsNull, ToSql, Type, has_binary_decoder};

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
    next_statement: AtomicU64,
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
            receiver.finish().await?;
            Err(Error::db(fields))
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

/// The formats list for Bind: empty when all are text, one entry when all agree.
fn compact_formats(formats: &[i16]) -> Vec<i16> {
    match formats.split_first() {
        None => Vec::new(),
        Some((&first, rest)) if rest.iter().all(|&f| f == first) => {
            if first == Format::Text.code() {
                Vec::new()
            } else {
                vec![first]
            }
        }
        Some(_) => formats.to_vec(),
    }
}

impl Client {
    /// Opens a connection: socket, startup, authentication, up to the first ReadyForQuery, all
    /// within `connect_timeout` when one is set.
    pub async fn connect(config: &Config) -> Result<Client, Error> {
        let conn = connection::connect(config).await?;
        Ok(Client {
            conn: Arc::new(conn),
            next_statement: AtomicU64::new(0),
        })
    }

    /// Runs one or more SQL statements with the simple query protocol and collects every result.
    /// An error in one statement ends the batch with that error (the statements after it are not
    /// run) and leaves the connection usable.
    ///
    /// Values are not escaped here: use [`Client::query`] with parameters for user input.
    pub async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.simple_query_stream(sql).await?.collect().await
    }

    /// Runs a simple query and returns its results as a stream, message by message; results of
    /// the statements before a failing one arrive before the error.
    pub async fn simple_query_stream(&self, sql: &str) -> Result<SimpleQueryStream<'_>, Error> {
        let ticket = self
            .conn
            .enqueue(1, |buf| frontend::query(buf, sql).map_err(Error::encode))?;
        self.conn.flush().await?;
        let receiver = self.conn.receive(ticket).await?;
        Ok(SimpleQueryStream::new(receiver))
    }

    /// Runs one or more SQL statements with the simple query protocol, ignoring any rows.
    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        let mut stream = self.simple_query_stream(sql).await?;
        while let Some(message) = stream.next().await {
            message?;
        }
        Ok(())
    }

    /// Prepares a statement; the server infers the parameter types.
    pub async fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        self.prepare_typed(sql, &[]).await
    }

    /// Prepares a statement with the types of its first parameters given (the server infers the
    /// rest).
    pub async fn prepare_typed(&self, sql: &str, types: &[Type]) -> Result<Statement, Error> {
        self.prepare_inner(sql, types, false).await
    }

    async fn prepare_inner(
        &self,
        sql: &str,
        types: &[Type],
        one_shot: bool,
    ) -> Result<Statement, Error> {
        let name = format!(
            "pgw_{}",
            self.next_statement.fetch_add(1, Ordering::Relaxed)
        );
        let oids: Vec<u32> = types.iter().map(Type::oid).collect();
        let ticket = self.conn.enqueue(1, |buf| {
            frontend::parse(buf, &name, sql, &oids).map_err(Error::encode)?;
            frontend::describe(buf, frontend::Target::Statement, &name).map_err(Error::encode)?;
            frontend::sync(buf);
            Ok(())
        })?;
        self.conn.flush().await?;
        let mut rx = self.conn.receive(ticket).await?;

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
                .map(|field| {
                    let ty = Type::from_oid(field.type_oid);
                    let format = if has_binary_decoder(&ty) {
                        Format::Binary
                    } else {
                        Format::Text
                    };
                    Column::new(field, format)
                })
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
            params,
            columns,
            one_shot,
        ))
    }

    /// The prepared statement for `statement`: prepares SQL text for one execution.
    async fn resolve<T: ?Sized + ToStatement>(&self, statement: &T) -> Result<Statement, Error> {
        match statement.to_statement() {
            StatementRef::Sql(sql) => self.prepare_inner(sql, &[], true).await,
            StatementRef::Prepared(statement) => {
                if !statement.belongs_to(&self.conn) {
                    return Err(Error::usage(format!(
                        "statement {} was prepared on another connection",
                        statement.name()
                    )));
                }
                Ok(statement.clone())
            }
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
        let mut rows = Vec::new();
        self.execute_inner(statement, params, |row| rows.push(row))
            .await?;
        Ok(rows)
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
        self.execute_inner(statement, params, |_| {}).await
    }

    /// Binds and executes a statement, handing each row to `on_row`; returns the row count of the
    /// command tag.
    async fn execute_inner<T: ?Sized + ToStatement>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
        mut on_row: impl FnMut(Row),
    ) -> Result<u64, Error> {
        let statement = self.resolve(statement).await?;
        let types = statement.params();
        if params.len() != types.len() {
            return Err(Error::usage(format!(
                "the statement has {} parameter(s) but {} value(s) were given",
                types.len(),
                params.len()
            )));
        }
        for (i, (param, ty)) in params.iter().zip(types).enumerate() {
            if !param.accepts(ty) {
                return Err(Error::conversion(
                    format!(
                        "cannot send Rust type {} as parameter ${} of SQL type {ty}",
                        param.type_name(),
                        i + 1
                    ),
                    None,
                ));
            }
        }
        let param_formats: Vec<i16> = params
            .iter()
            .zip(types)
            .map(|(param, ty)| param.encode_format(ty).code())
            .collect();
        let param_formats = compact_formats(&param_formats);
        let result_formats: Vec<i16> = statement
            .columns()
            .iter()
            .map(|c| c.format().code())
            .collect();
        let result_formats = compact_formats(&result_formats);
        let close_after = statement.is_one_shot();

        let ticket = self.conn.enqueue(1, |buf: &mut BytesMut| {
            let write_param = |i: usize, buf: &mut BytesMut| -> Result<BindValue, Error> {
                let (Some(param), Some(ty)) = (params.get(i), types.get(i)) else {
                    return Err(Error::usage("parameter index out of range"));
                };
                match param.to_sql(ty, buf) {
                    Ok(IsNull::No) => Ok(BindValue::Written),
                    Ok(IsNull::Yes) => Ok(BindValue::Null),
                    Err(e) => Err(Error::conversion(
                        format!(
                            "could not encode parameter ${} (Rust type {} as SQL type {ty})",
                            i + 1,
                            param.type_name()
                        ),
                        Some(e),
                    )),
                }
            };
            frontend::bind(
                buf,
                "",
                statement.name(),
                &param_formats,
                params.len(),
                write_param,
                &result_formats,
            )
            .map_err(|e| match e {
                BindError::Encode(e) => Error::encode(e),
                BindError::Param { error, .. } => error,
            })?;
            frontend::execute(buf, "", 0).map_err(Error::encode)?;
            if close_after {
                frontend::close(buf, frontend::Target::Statement, statement.name())
                    .map_err(Error::encode)?;
            }
            frontend::sync(buf);
            Ok(())
        })?;
        self.conn.flush().await?;
        let mut rx = self.conn.receive(ticket).await?;

        match next_or_db_error(&mut rx).await? {
            BackendMessage::BindComplete => {}
            other => return Err(unexpected(&rx, "BindComplete", &other)),
        }
        let columns = statement.shared_columns();
        let rows = loop {
            match next_or_db_error(&mut rx).await? {
                BackendMessage::DataRow(data) => match Row::new(columns.clone(), data) {
                    Ok(row) => on_row(row),
                    Err(e) => return Err(rx.connection().fail(Error::protocol(e))),
                },
                BackendMessage::CommandComplete(complete) => break complete.rows().unwrap_or(0),
                BackendMessage::EmptyQueryResponse => break 0,
                other => return Err(unexpected(&rx, "DataRow or CommandComplete", &other)),
            }
        };
        if close_after {
            match next_or_db_error(&mut rx).await? {
                BackendMessage::CloseComplete => statement.mark_closed(),
                other => return Err(unexpected(&rx, "CloseComplete", &other)),
            }
        }
        match next_or_db_error(&mut rx).await? {
            BackendMessage::ReadyForQuery(_) => {}
            other => return Err(unexpected(&rx, "ReadyForQuery", &other)),
        }
        Ok(rows)
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

    /// Takes the LISTEN notifications received so far.
    pub fn take_notifications(&self) -> Vec<Notification> {
        self.conn.take_notifications()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_compacted() {
        assert_eq!(compact_formats(&[]), Vec::<i16>::new());
        assert_eq!(compact_formats(&[0, 0]), Vec::<i16>::new());
        assert_eq!(compact_formats(&[1, 1, 1]), vec![1]);
        assert_eq!(compact_formats(&[1, 0]), vec![1, 0]);
    }
}
