//! Prepared statements.
//!
//! A [`Statement`] is a server-side prepared statement with its parameter and result types. A named
//! statement is closed on the server when the last clone is dropped (the Close is queued and sent
//! with the next request; nothing waits for it). When named statements are turned off (PgBouncer's
//! transaction pooling), a statement only records the SQL and the described types, and every
//! execution parses it again as the unnamed statement in the same round trip.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use crate::connection::Connection;
use crate::error::Error;
use crate::proto::frontend;
use crate::row::Column;
use crate::types::Type;

/// A prepared statement, made by [`Client::prepare`](crate::Client::prepare).
#[derive(Clone)]
pub struct Statement(Arc<Inner>);

/// How a statement lives on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatementKind {
    /// A named statement kept until the last handle is dropped.
    Named,
    /// A named statement prepared for one execution, closed in the same round trip.
    OneShot,
    /// Not kept on the server: each execution parses the SQL as the unnamed statement.
    Unnamed,
}

struct Inner {
    conn: Weak<Connection>,
    name: String,
    sql: Arc<str>,
    params: Vec<Type>,
    columns: Arc<[Column]>,
    /// Set once the server has closed the statement, so `Drop` does not close it again.
    closed: AtomicBool,
    kind: StatementKind,
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Statement")
            .field("name", &self.0.name)
            .field("params", &self.0.params)
            .field("columns", &self.0.columns)
            .finish()
    }
}

impl Statement {
    pub(crate) fn new(
        conn: Weak<Connection>,
        name: String,
        sql: Arc<str>,
        params: Vec<Type>,
        columns: Vec<Column>,
        kind: StatementKind,
    ) -> Statement {
        Statement(Arc::new(Inner {
            conn,
            name,
            sql,
            params,
            columns: columns.into(),
            closed: AtomicBool::new(kind == StatementKind::Unnamed),
            kind,
        }))
    }

    /// The server-side name of the statement (empty when named statements are turned off).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.0.sql
    }

    /// The types of the parameters (`$1`, `$2`, ...), as the server inferred or was told.
    pub fn params(&self) -> &[Type] {
        &self.0.params
    }

    /// The result columns (empty for a statement that returns no rows).
    pub fn columns(&self) -> &[Column] {
        &self.0.columns
    }

    pub(crate) fn shared_columns(&self) -> Arc<[Column]> {
        self.0.columns.clone()
    }

    pub(crate) fn kind(&self) -> StatementKind {
        self.0.kind
    }

    /// Records that the server closed the statement.
    pub(crate) fn mark_closed(&self) {
        self.0.closed.store(true, Ordering::Release);
    }

    /// Whether both handles are the same statement.
    pub(crate) fn same(&self, other: &Statement) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Whether the statement belongs to this connection.
    pub(crate) fn belongs_to(&self, conn: &Arc<Connection>) -> bool {
        std::ptr::eq(self.0.conn.as_ptr(), Arc::as_ptr(conn))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        if let Some(conn) = self.conn.upgrade() {
            let name = &self.name;
            conn.enqueue_detached(1, |buf| {
                frontend::close(buf, frontend::Target::Statement, name).map_err(Error::encode)?;
                frontend::sync(buf);
                Ok(())
            });
        }
    }
}

/// Something that can be executed: SQL text (prepared for one execution) or a [`Statement`].
pub trait ToStatement: sealed::Sealed {
    /// The SQL text or the prepared statement.
    #[doc(hidden)]
    fn to_statement(&self) -> StatementRef<'_>;
}

/// What a [`ToStatement`] designates.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum StatementRef<'a> {
    /// SQL text, prepared for one execution.
    Sql(&'a str),
    /// A prepared statement.
    Prepared(&'a Statement),
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for str {}
    impl Sealed for String {}
    impl Sealed for super::Statement {}
}

impl ToStatement for str {
    fn to_statement(&self) -> StatementRef<'_> {
        StatementRef::Sql(self)
    }
}

impl ToStatement for String {
    fn to_statement(&self) -> StatementRef<'_> {
        StatementRef::Sql(self)
    }
}

impl ToStatement for Statement {
    fn to_statement(&self) -> StatementRef<'_> {
        StatementRef::Prepared(self)
    }
}
