//! The ORM layer: models declared once, `create_all`, a [`Session`] with a unit of work and an
//! identity map, typed queries — in the spirit of SQLAlchemy's ORM, on pg-wire.
//!
//! See the [`session`] module for objects, states, the identity map and transactions, and
//! [`session`]'s flush for the unit of work (one pipelined round trip per level of the foreign-key
//! graph).

pub mod engine;
pub mod error;
pub mod expr;
pub mod model;
pub mod obj;
pub mod query;
pub mod relationship;
pub mod schema;
pub mod session;
pub mod sql;
pub mod value;

#[cfg(test)]
#[allow(dead_code)]
mod test_models;

pub use engine::{Engine, SessionMaker, create_engine, sessionmaker};
pub use error::OrmError;
pub use expr::{Assignment, Column, Comparable, Condition, Expr, Ordering};
pub use model::Model;
pub use obj::Obj;
pub use query::{ColumnTuple, Select, SelectColumns, select, select_columns};
pub use relationship::{ManyToOne, OneToMany, RelationKey};
pub use schema::{ClientDefault, ColumnDef, ForeignKey, SqlType, Table};
pub use session::{ObjectState, ObjectStream, Session};
pub use value::{ColumnType, Value, now, utc_now};
