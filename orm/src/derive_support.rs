//! Support for the code `#[derive(Model)]` generates: const helpers for the table description and
//! the conversions of column values with the table and column named in errors. Not a public API.

use crate::error::OrmError;
use crate::schema::{SqlType, Table};
use crate::value::{ColumnType, Value};

pub use crate::model::RowRead;
pub use pg_wire::Row;

/// Whether `length` applies to a column of this type.
pub const fn is_textual(sql_type: &SqlType) -> bool {
    matches!(sql_type, SqlType::String(_) | SqlType::Text)
}

/// Whether the type is an integer (an autoincrement primary key is SERIAL).
pub const fn is_integer(sql_type: &SqlType) -> bool {
    matches!(
        sql_type,
        SqlType::Integer | SqlType::BigInteger | SqlType::SmallInteger
    )
}

/// `String(Some(length))` for a textual type; other types are left alone (the derive asserts
/// [`is_textual`] first).
pub const fn with_length(sql_type: SqlType, length: u32) -> SqlType {
    match sql_type {
        SqlType::String(_) | SqlType::Text => SqlType::String(Some(length)),
        other => other,
    }
}

/// Whether two SQL types are read and written as the same kind of [`Value`] (so a field whose
/// Rust type maps to `b` can be declared as `a`).
pub const fn same_values(a: &SqlType, b: &SqlType) -> bool {
    match (a, b) {
        (SqlType::String(_) | SqlType::Text, SqlType::String(_) | SqlType::Text)
        | (SqlType::Numeric { .. }, SqlType::Numeric { .. })
        | (SqlType::Integer, SqlType::Integer)
        | (SqlType::BigInteger, SqlType::BigInteger)
        | (SqlType::SmallInteger, SqlType::SmallInteger)
        | (SqlType::Boolean, SqlType::Boolean)
        | (SqlType::Float, SqlType::Float)
        | (SqlType::Date, SqlType::Date)
        | (SqlType::LargeBinary, SqlType::LargeBinary)
        | (SqlType::Uuid, SqlType::Uuid)
        | (SqlType::Json, SqlType::Json) => true,
        (SqlType::DateTime { timezone: x }, SqlType::DateTime { timezone: y }) => *x == *y,
        _ => false,
    }
}

/// A field from a column value; a value of the wrong kind is an error naming the column.
pub fn from_value<T: ColumnType>(value: Value, table: &str, column: &str) -> Result<T, OrmError> {
    T::from_value(value).map_err(|e| name_column(e, table, column))
}

/// A value error naming the column.
fn name_column(error: OrmError, table: &str, column: &str) -> OrmError {
    match error {
        OrmError::Value(message) => OrmError::Value(format!("column {table}.{column}: {message}")),
        other => other,
    }
}

/// The error for a column position past the end of the table.
pub fn no_column(table: &str, index: usize, count: usize) -> OrmError {
    OrmError::Usage(format!(
        "table {table} has {count} columns; there is no column {index}"
    ))
}

/// The values of a whole row, exactly one per column.
pub fn exact_values<const N: usize>(
    values: Vec<Value>,
    table: &str,
) -> Result<[Value; N], OrmError> {
    <[Value; N]>::try_from(values).map_err(|values| {
        OrmError::Usage(format!(
            "table {table} has {N} columns, but {} values were given",
            values.len()
        ))
    })
}

/// Column `index` of a row of `table`, read as the column's SQL type into a field of type `T`
/// (see [`ColumnType::read_column`]).
#[allow(clippy::type_complexity)]
#[inline(always)]
pub fn read_column<T: ColumnType>(
    row: &Row,
    index: usize,
    table: &'static Table,
) -> Result<Option<Result<T, OrmError>>, OrmError> {
    let column = table
        .columns
        .get(index)
        .ok_or_else(|| no_column(table.name, index, table.columns.len()))?;
    T::read_column(row, index, column.sql_type)
}

/// A primary key column's value, as read by [`read_column`] (NULL where it is NULL or could not
/// be converted).
#[inline]
pub fn key_value<T: ColumnType>(read: &Option<Result<T, OrmError>>) -> Value {
    match read {
        Some(Ok(field)) => field.to_value(),
        _ => Value::Null,
    }
}

/// The field from what [`read_column`] read: a conversion error names the column, as
/// [`from_value`]'s do.
#[inline]
pub fn field<T: ColumnType>(
    read: Option<Result<T, OrmError>>,
    table: &str,
    column: &str,
) -> Result<T, OrmError> {
    match read {
        None => from_value(Value::Null, table, column),
        Some(Ok(field)) => Ok(field),
        Some(Err(e)) => Err(name_column(e, table, column)),
    }
}
