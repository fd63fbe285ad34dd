//! The ORM layer: models declared once, `create_all`, a Session with a unit of work and an identity
//! map, typed queries (in progress).
//!
//! A model is a struct with `#[derive(Model)]`: its `#[orm(...)]` attributes describe the table
//! (a static [`Table`], printable as SQLAlchemy prints `Article.__table__`), and the derive adds
//! typed column constants (`Article::SLUG`) for queries. [`Metadata`] gathers the models' tables
//! and creates or drops them in foreign-key order, emitting the DDL SQLAlchemy emits.
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

pub mod ddl;
pub mod error;
pub mod expr;
pub mod ident;
pub mod model;
pub mod schema;
pub mod value;

#[cfg(test)]
mod test_models;

#[doc(hidden)]
#[path = "derive_support.rs"]
pub mod __private;

pub use ddl::Metadata;
pub use error::OrmError;
pub use expr::Column;
pub use model::Model;
/// `#[derive(Model)]`: see [`orm_derive::Model`](macro@orm_derive::Model) for the attributes.
pub use orm_derive::Model;
pub use schema::{ClientDefault, ColumnDef, DefaultKind, ForeignKey, SqlType, Table};
pub use value::{ColumnType, Value, now, utc_now};
