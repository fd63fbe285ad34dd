//! Transactions: `BEGIN` with options, commit, rollback, nested savepoints, and portals (cursors of
//! the extended protocol) that return rows in chunks.
//!
//! A [`Transaction`] borrows its client exclusively, so nothing else can slip statements into it.
//! Dropped without [`Transaction::commit`] or [`Transaction::rollback`], it rolls back: the
//! `ROLLBACK` is queued at once (and written if the socket takes it) and its reply is read by the
//! next request on the connection.

use std::ops::Deref;
use std::sync::{Arc, Weak};

use crate::client::execute::{
    Execution, ExecutionResponse, check_params, encode_bind, encode_parse_unnamed,
};
use crate::client::{Client, RowStream, next_or_db_error, quote_identifier, unexpected};
use crate::connection::Connection;
use crate::error::Error;
use crate::proto::backend::BackendMessage;
use crate::proto::frontend;
use crate::row::{Column, Row};
use crate::statement::{Statement, StatementKind, ToStatement};

use crate::types::{Format, ToSql};

/// The isolation level of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationLevel {
    /// `READ UNCOMMITTED` (PostgreSQL runs it as read committed).
    ReadUncommitted,
    /// `READ COMMITTED`, PostgreSQL's default.
    ReadCommitted,
    /// `REPEATABLE READ`.
    RepeatableRead,
    /// `SERIALIZABLE`.
    Serializable,
}

impl IsolationLevel {
    fn sql(self) -> &'static str {
        match self {
            IsolationLevel::ReadUncommitted => "ISOLATION LEVEL READ UNCOMMITTED",
            IsolationLevel::ReadCommitted => "ISOLATION LEVEL READ COMMITTED",
            IsolationLevel::RepeatableRead => "ISOLATION LEVEL REPEATABLE READ",
            IsolationLevel::Serializable => "ISOLATION LEVEL SERIALIZABLE",
        }
    }
}

/// Options of a transaction, from [`Client::build_transaction`].
///
/// ```no_run
/// # async fn demo(client: &mut pg_wire::Client) -> Result<(), pg_wire::Error> {
/// use pg_wire::IsolationLevel;
/// let tx = client
///     .build_transaction()
///     .isolation_level(IsolationLevel::Serializable)
///     .read_only(true)
///     .deferrable(true)
///     .start()
///     .await?;
/// let n: i64 = tx.query_one("SELECT count(*) FROM pg_class", &[]).await?.get(0);
/// tx.commit().await?;
/// # let _ = n; Ok(()) }
/// ```
#[derive(Debug)]
pub struct TransactionBuilder<'c> {
    client: &'c mut Client,
    isolation_level: Option<IsolationLevel>,
    read_only: Option<bool>,
    deferrable: Option<bool>,
}

impl<'c> TransactionBuilder<'c> {
    pub(crate) fn new(client: &'c mut Client) -> TransactionBuilder<'c> {
        TransactionBuilder {
            client,
            isolation_level: None,
            read_only: None,
            deferrable: None,
        }
    }

    /// Sets the isolation level.
    pub fn isolation_level(mut self, level: IsolationLevel) -> Self {
        self.isolation_level = Some(level);
        self
    }

    /// Makes the transaction read only (`true`) or read write (`false`).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = Some(read_only);
        self
    }

    /// Makes a serializable read-only transaction deferrable.
    pub fn deferrable(mut self, deferrable: bool) -> Self {
        self.deferrable = Some(deferrable);
        self
    }

    /// The `BEGIN` statement for these options.
    fn begin_sql(&self) -> String {
        let mut modes = Vec::new();
        if let Some(level) = self.isolation_level {
            modes.push(level.sql());
        }
        match self.read_only {
            Some(true) => modes.push("READ ONLY"),
            Some(false) => modes.push("READ WRITE"),
            None => {}
        }
        match self.deferrable {
            Some(true) => modes.push("DEFERRABLE"),
            Some(false) => modes.push("NOT DEFERRABLE"),
            None => {}
        }
        if modes.is_empty() {
            "BEGIN".to_owned()
        } else {
            format!("BEGIN {}", modes.join(", "))
        }
    }

    /// Starts the transaction.
    pub async fn start(self) -> Result<Transaction<'c>, Error> {
        let sql = self.begin_sql();
        // Made before BEGIN is sent: if this future is dropped once BEGIN is on its way, the
        // transaction's drop queues the ROLLBACK, so the connection is not left inside it.
        let mut transaction = Transaction {
            client: self.client,
            savepoint: None,
            done: false,
        };
        if let Err(e) = transaction.client.batch_execute(&sql).await {
            // BEGIN failed: there is no transaction to roll back.
            transaction.done = true;
            return Err(e);
        }
        Ok(transaction)
    }
}

/// A transaction, or a savepoint inside one. It derefs to [`Client`] for queries.
///
/// ```no_run
/// # async fn demo(client: &mut pg_wire::Client) -> Result<(), pg_wire::Error> {
/// let mut tx = client.transaction().await?;
/// tx.execute("INSERT INTO accounts (id, balance) VALUES ($1, $2)", &[&1i32, &100i64]).await?;
/// {
///     let sp = tx.transaction().await?; // SAVEPOINT
///     sp.execute("UPDATE accounts SET balance = 0", &[]).await?;
///     // dropped: ROLLBACK TO SAVEPOINT
/// }
/// tx.commit().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Transaction<'c> {
    client: &'c mut Client,
    /// The savepoint this transaction stands for; `None` for the top-level transaction.
    savepoint: Option<String>,
    done: bool,
}

impl Deref for Transaction<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let sql = self.rollback_sql();
        let conn = self.client.connection();
        conn.enqueue_detached(1, |buf| frontend::query(buf, &sql).map_err(Error::encode));
        conn.flush_now();
    }
}

impl Transaction<'_> {
    fn rollback_sql(&self) -> String {
        match &self.savepoint {
            None => "ROLLBACK".to_owned(),
            Some(name) => format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"),
        }
    }

    /// Commits the transaction (or releases the savepoint).
    ///
    /// A transaction the server had already aborted (a statement failed in it) is not committed:
    /// PostgreSQL answers `COMMIT` with `ROLLBACK`, and this returns an error of kind
    /// [`ErrorKind::RolledBack`](crate::ErrorKind::RolledBack). If the connection is lost
    /// while `COMMIT` is in flight, the error is of kind
    /// [`ErrorKind::CommitOutcomeUnknown`](crate::ErrorKind::CommitOutcomeUnknown): the
    /// transaction may have been committed or not.
    pub async fn commit(mut self) -> Result<(), Error> {
        self.done = true;
        match &self.savepoint {
            None => self.client.commit_transaction().await,
            Some(name) => {
                self.client
                    .batch_execute(&format!("RELEASE SAVEPOINT {name}"))
                    .await
            }
        }
    }

    /// Rolls the transaction back (or back to the savepoint, which is then released).
    pub async fn rollback(mut self) -> Result<(), Error> {
        self.done = true;
        let sql = self.rollback_sql();
        self.client.batch_execute(&sql).await
    }

    /// Starts a nested transaction: a savepoint with a generated name.
    pub async fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        let name = self.client.new_name("pgw_sp");
        self.savepoint(&name).await
    }

    /// Starts a nested transaction: a savepoint named `name` (quoted as an identifier).
    pub async fn savepoint(&mut self, name: &str) -> Result<Transaction<'_>, Error> {
        let name = quote_identifier(name)?;
        self.client
            .batch_execute(&format!("SAVEPOINT {name}"))
            .await?;
        Ok(Transaction {
            client: &mut *self.client,
            savepoint: Some(name),
            done: false,
        })
    }

    /// Binds a statement to a portal, whose rows can then be fetched in chunks with
    /// [`Transaction::query_portal`]. The portal lives until the transaction ends or it is
    /// dropped.
    pub async fn bind<T: ?Sized + ToStatement>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Portal, Error> {
        let (statement, _) = self.client.resolve(statement).await?;
        check_params(&statement, params)?;
        let name = self.client.new_name("pgw_p");
        let conn = self.client.connection();
        let unnamed = statement.kind() == StatementKind::Unnamed;
        let ticket = conn.enqueue(1, |buf| {
            if unnamed {
                encode_parse_unnamed(buf, &statement)?;
            }
            encode_bind(buf, &statement, &name, params)?;
            frontend::describe(buf, frontend::Target::Portal, &name).map_err(Error::encode)?;
            frontend::sync(buf);
            Ok(())
        })?;
        let mut rx = conn.send(ticket).await?;
        if unnamed {
            match next_or_db_error(&mut rx).await? {
                BackendMessage::ParseComplete => {}
                other => return Err(unexpected(&rx, "ParseComplete", &other)),
            }
        }
        match next_or_db_error(&mut rx).await? {
            BackendMessage::BindComplete => {}
            other => return Err(unexpected(&rx, "BindComplete", &other)),
        }
        let columns: Vec<Column> = match next_or_db_error(&mut rx).await? {
            BackendMessage::RowDescription(description) => description
                .fields
                .iter()
                .map(|field| {
                    let format = if field.format == 1 {
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
        Ok(Portal(Arc::new(PortalInner {
            conn: Arc::downgrade(self.client.connection_arc()),
            name,
            statement,
            columns: columns.into(),
        })))
    }

    /// Fetches up to `max_rows` rows from a portal (0 for all that remain). Fewer rows than asked
    /// for means the portal is exhausted.
    pub async fn query_portal(&self, portal: &Portal, max_rows: u32) -> Result<Vec<Row>, Error> {
        self.client
            .with_timeout(async {
                self.query_portal_raw(portal, max_rows)
                    .await?
                    .collect_rows()
                    .await
            })
            .await
    }

    /// Fetches up to `max_rows` rows from a portal as a stream;
    /// [`RowStream::is_suspended`] says whether rows remain after it.
    pub async fn query_portal_raw(
        &self,
        portal: &Portal,
        max_rows: u32,
    ) -> Result<RowStream<'_>, Error> {
        let conn = self.client.connection();
        let ticket = conn.enqueue(1, |buf| {
            frontend::execute(buf, &portal.0.name, max_rows).map_err(Error::encode)?;
            frontend::sync(buf);
            Ok(())
        })?;
        let receiver = conn.send(ticket).await?;
        let response = ExecutionResponse::for_portal(
            Execution {
                statement: &portal.0.statement,
                portal: &portal.0.name,
                max_rows,
            },
            portal.0.columns.clone(),
        );
        Ok(RowStream::new(receiver, response))
    }
}

/// A portal: a statement bound to its parameters inside a transaction, from which rows are fetched
/// in chunks. Closed on the server when dropped.
#[derive(Debug, Clone)]
pub struct Portal(Arc<PortalInner>);

#[derive(Debug)]
struct PortalInner {
    conn: Weak<Connection>,
    name: String,
    statement: Statement,
    columns: Arc<[Column]>,
}

impl Portal {
    /// The columns of the portal's rows.
    pub fn columns(&self) -> &[Column] {
        &self.0.columns
    }
}

impl Drop for PortalInner {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.upgrade() {
            let name = &self.name;
            conn.enqueue_detached(1, |buf| {
                frontend::close(buf, frontend::Target::Portal, name).map_err(Error::encode)?;
                frontend::sync(buf);
                Ok(())
            });
        }
    }
}
