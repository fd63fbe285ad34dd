//! The ORM layer: models declared once, `create_all`, a [`Session`] with a unit of work and an
//! identity map, typed queries — in the spirit of SQLAlchemy's ORM, on pg-wire.
//!
//! A model is a struct with `#[derive(Model)]`: its `#[orm(...)]` attributes describe the table
//! (a static [`Table`], printable as SQLAlchemy prints `Article.__table__`), and the derive adds
//! typed column constants (`Article::SLUG`) for queries. [`Metadata`] gathers the models' tables
//! and creates or drops them in foreign-key order, emitting the DDL SQLAlchemy emits.
//!
//! Objects are [`Obj`] handles shared by the caller and the [`Session`]'s identity map; reading an
//! attribute is a lock, never I/O, and everything that touches the database is an `.await` on the
//! session. See the [`session`] module for object states, the identity map, transactions and the
//! unit of work (one pipelined round trip per level of the foreign-key graph).
//!
//! ```
//! use orm::{Metadata, Model};
//!
//! #[derive(Model, Debug, Default)]
//! #[orm(table = "authors")]
//! pub struct Author {
//!     #[orm(primary_key)]
//!     pub id: Option<i32>,
//!     #[orm(length = 255)]
//!     pub email: String,
//! }
//!
//! let metadata = Metadata::new(&[Author::TABLE]);
//! assert_eq!(
//!     metadata.create_statements().unwrap(),
//!     ["\nCREATE TABLE authors (\n\tid SERIAL NOT NULL, \n\temail VARCHAR(255) NOT NULL, \
//!       \n\tPRIMARY KEY (id)\n)\n\n"]
//! );
//! ```

// The derive's generated code names `::orm::...`; this makes those paths work inside this crate
// (its own tests and doc examples) as they do in a user's crate.
extern crate self as orm;

pub mod aggregate;
pub mod ddl;
pub mod engine;
pub mod error;
pub mod expr;
pub mod ident;
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

#[doc(hidden)]
#[path = "derive_support.rs"]
pub mod __private;

pub use aggregate::{Aggregate, Selectable, count};
pub use ddl::Metadata;
pub use engine::{Engine, SessionMaker, create_engine, sessionmaker};
pub use error::OrmError;
pub use expr::{Assignment, Column, Comparable, Condition, Expr, Ordering};
pub use model::Model;
pub use obj::Obj;
/// `#[derive(Model)]`: see [`orm_derive::Model`](macro@orm_derive::Model) for the attributes.
pub use orm_derive::Model;
pub use query::{ColumnTuple, Select, SelectColumns, select, select_columns};
pub use relationship::{
    AssociationKey, ChildRelationship, ManyToMany, ManyToOne, OneToMany, RelationKey,
};
pub use schema::{ClientDefault, ColumnDef, DefaultKind, ForeignKey, SqlType, Table};
pub use session::{ObjectState, ObjectStream, Session};
pub use value::{ColumnType, Value, now, utc_now};
