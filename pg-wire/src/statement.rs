//! Prepared statements.
//!
//! A [`Statement`] is a named server-side prepared statement with its parameter and result types.
//! It is closed on the server when the last clone is dropped (the Close is queued and sent with the
//! next request; nothing waits for it).

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

struct Inner {
    conn: Weak<Connection>,
    name: String,
    params: Vec<Type>,
    columns: Arc<[Column]>,
    /// Set once the server has closed the statement, so `Drop` does not close it again.
    closed: AtomicBool,
    /// Prepared for a single execution (a query given as a string).
    one_shot: bool,
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
        params: Vec<Type>,
        columns: Vec<Column>,
        one_shot: bool,
    ) -> Statement {
        Statement(Arc::new(Inner {
            conn,
            name,
            params,
            columns: columns.into(),
            closed: AtomicBool::new(false),
            one_shot,
        }))
    }

    /// The server-side name of the statement.
    pub fn name(&self) -> &str {
        &self.0.name
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

    pub(crate) fn is_one_shot(&self) -> bool {
        self.0.one_shot
    }

    /// Records that the server closed the statement.
    pub(crate) fn mark_closed(&self) {
        self.0.closed.store(true, Ordering::Release);
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
#[derive(Debug)]
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
