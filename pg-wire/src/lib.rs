//! A PostgreSQL client written from scratch: the frontend/backend protocol (v3.0, and 3.2 where the
//! server offers it) over Unix sockets and TCP.
//!
//! The crate has two layers:
//!
//! - [`proto`], a sans-IO core: message framing, decoding and encoding, and the startup and
//!   authentication state machine (cleartext, MD5, SCRAM-SHA-256), all pure functions over bytes;
//! - [`Client`], a thin tokio shell that owns the socket and feeds the core;
//! - [`Pool`], a bounded pool of clients with a checkout timeout, a reset of connections that come
//!   back in a transaction, and a maximum lifetime.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pg_wire::Error> {
//! // libpq connection strings: URIs or key=value pairs. A host starting with `/` is a socket
//! // directory.
//! let client = pg_wire::connect("postgresql://app@%2Fvar%2Frun%2Fpostgresql/appdb").await?;
//!
//! client.batch_execute("CREATE TEMP TABLE t (id int4, name text)").await?;
//! client.execute("INSERT INTO t VALUES ($1, $2)", &[&1i32, &"one"]).await?;
//! for row in client.query("SELECT id, name FROM t", &[]).await? {
//!     let id: i32 = row.get(0);
//!     let name: &str = row.get("name");
//!     println!("{id} {name}");
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]
// Peer bytes must never panic: no unwrap, expect or panic outside the tests (the protocol core and
// the value decoders also forbid indexing).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod config;
pub mod error;
pub mod pool;
pub mod proto;
pub mod types;

mod client;
mod connection;
mod net;
mod row;
mod simple_query;
mod statement;

pub use client::{
    Batch, BatchResult, BinaryCopyInWriter, CancelToken, Client, CopyInWriter, CopyOutStream,
    IsolationLevel, Notifications, Portal, RowStream, Transaction, TransactionBuilder, connect,
};
pub use config::Config;
pub use error::{DbError, Error, ErrorKind, SqlState};
pub use pool::{Pool, PoolOptions, PoolStatus, PooledClient};
pub use proto::backend::{Notification, TransactionStatus};
pub use row::{Column, Row, RowIndex, SimpleColumn, SimpleQueryRow};
pub use simple_query::{CommandTag, SimpleQueryMessage, SimpleQueryStream};
pub use statement::{Statement, ToStatement};
