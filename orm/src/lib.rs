//! The ORM layer: models declared once, `create_all`, a Session with a unit of work and an identity
//! map, typed queries (in progress).

pub mod error;
pub mod expr;
pub mod model;
pub mod schema;
pub mod value;

pub use error::OrmError;
pub use expr::Column;
pub use model::Model;
pub use schema::{ClientDefault, ColumnDef, ForeignKey, SqlType, Table};
pub use value::{ColumnType, Value, now, utc_now};
