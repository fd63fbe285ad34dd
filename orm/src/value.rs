//! Column values as the ORM moves them: an owned [`Value`] per column, and [`ColumnType`], which
//! maps a model field's Rust type to its SQL type and to and from a `Value`.
//!
//! Snapshots of loaded objects are vectors of values; a flush compares them to the objects'
//! current values to find the changed columns.

use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SubsecRound, Utc};
use pg_wire::Row;
use pg_wire::types::{BoxError, IsNull, Numeric, ToSql, Type};

use crate::error::OrmError;
use crate::schema::SqlType;

/// One column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// `BOOLEAN`.
    Bool(bool),
    /// `SMALLINT`.
    I16(i16),
    /// `INTEGER`.
    I32(i32),
    /// `BIGINT`.
    I64(i64),
    /// `FLOAT`.
    F64(f64),
    /// `NUMERIC`.
    Numeric(Numeric),
    /// `VARCHAR` and `TEXT`.
    Text(String),
    /// `BYTEA`.
    Bytes(Vec<u8>),
    /// `DATE`.
    Date(NaiveDate),
    /// `TIMESTAMP WITHOUT TIME ZONE`.
    Timestamp(NaiveDateTime),
    /// `TIMESTAMP WITH TIME ZONE`.
    TimestampTz(DateTime<Utc>),
    /// `UUID`.
    Uuid(uuid::Uuid),
    /// `JSON`.
    Json(serde_json::Value),
}

impl Value {
    /// Whether the value is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether two values are the same for change detection: like `==`, except that a float is
    /// compared by its bits (a NaN is unchanged when it stays NaN; `0.0` and `-0.0` differ) and a
    /// numeric by its exact digits and scale (`1.5` to `1.50` is a change).
    pub fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::F64(a), Value::F64(b)) => a.to_bits() == b.to_bits(),
            (Value::Numeric(a), Value::Numeric(b)) => a.to_string() == b.to_string(),
            (a, b) => a == b,
        }
    }

    /// Reads column `index` of `row` as a value of `sql_type`.
    pub fn from_row(row: &Row, index: usize, sql_type: SqlType) -> Result<Value, OrmError> {
        fn get<T: pg_wire::types::FromSqlOwned>(
            row: &Row,
            index: usize,
        ) -> Result<Option<T>, OrmError> {
            row.try_get::<_, Option<T>>(index).map_err(OrmError::Driver)
        }
        let value = match sql_type {
            SqlType::Boolean => get::<bool>(row, index)?.map(Value::Bool),
            SqlType::SmallInteger => get::<i16>(row, index)?.map(Value::I16),
            SqlType::Integer => get::<i32>(row, index)?.map(Value::I32),
            SqlType::BigInteger => get::<i64>(row, index)?.map(Value::I64),
            SqlType::Float => get::<f64>(row, index)?.map(Value::F64),
            SqlType::Numeric { .. } => get::<Numeric>(row, index)?.map(Value::Numeric),
            SqlType::String(_) | SqlType::Text => get::<String>(row, index)?.map(Value::Text),
            SqlType::LargeBinary => get::<Vec<u8>>(row, index)?.map(Value::Bytes),
            SqlType::Date => get::<NaiveDate>(row, index)?.map(Value::Date),
            SqlType::DateTime { timezone: false } => {
                get::<NaiveDateTime>(row, index)?.map(Value::Timestamp)
            }
            SqlType::DateTime { timezone: true } => {
                get::<DateTime<Utc>>(row, index)?.map(Value::TimestampTz)
            }
            SqlType::Uuid => get::<uuid::Uuid>(row, index)?.map(Value::Uuid),
            SqlType::Json => get::<serde_json::Value>(row, index)?.map(Value::Json),
        };
        Ok(value.unwrap_or(Value::Null))
    }

    /// The value as a parameter.
    fn as_param(&self) -> Option<&(dyn ToSql + Sync)> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(v) => v,
            Value::I16(v) => v,
            Value::I32(v) => v,
            Value::I64(v) => v,
            Value::F64(v) => v,
            Value::Numeric(v) => v,
            Value::Text(v) => v,
            Value::Bytes(v) => v,
            Value::Date(v) => v,
            Value::Timestamp(v) => v,
            Value::TimestampTz(v) => v,
            Value::Uuid(v) => v,
            Value::Json(v) => v,
        })
    }
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self.as_param() {
            None => Ok(IsNull::Yes),
            Some(param) => param.to_sql(ty, out),
        }
    }

    fn accepts(&self, ty: &Type) -> bool {
        self.as_param().is_none_or(|param| param.accepts(ty))
    }

    fn encode_format(&self, ty: &Type) -> pg_wire::types::Format {
        match self.as_param() {
            None => pg_wire::types::Format::Binary,
            Some(param) => param.encode_format(ty),
        }
    }
}

/// A Rust type a model field can have: its SQL type, whether it is nullable, and its conversion to
/// and from a [`Value`]. `Option<T>` is the nullable form of `T`.
pub trait ColumnType: Sized {
    /// The SQL type a field of this Rust type gets unless the model says otherwise.
    const SQL_TYPE: SqlType;
    /// Whether the column allows NULL (true for `Option<T>`).
    const NULLABLE: bool = false;

    /// The field's value.
    fn to_value(&self) -> Value;

    /// The field from a value read from the database (or generated by it).
    fn from_value(value: Value) -> Result<Self, OrmError>;

    /// Reads column `index` of `row`, declared as `sql_type`: `None` for NULL, else the field or
    /// the error of converting the value to it (which [`Model::from_values`] reports only once
    /// every column of the row is read). As [`Value::from_row`] then [`ColumnType::from_value`];
    /// the built-in types read themselves without the `Value` in between. Support for
    /// `#[derive(Model)]`.
    ///
    /// [`Model::from_values`]: crate::Model::from_values
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    fn read_column(
        row: &Row,
        index: usize,
        sql_type: SqlType,
    ) -> Result<Option<Result<Self, OrmError>>, OrmError> {
        match Value::from_row(row, index, sql_type)? {
            Value::Null => Ok(None),
            value => Ok(Some(Self::from_value(value))),
        }
    }
}

macro_rules! column_types {
    ($($rust:ty => $variant:ident, $sql:expr;)*) => {$(
        impl ColumnType for $rust {
            const SQL_TYPE: SqlType = $sql;

            fn to_value(&self) -> Value {
                Value::$variant(self.clone())
            }

            fn from_value(value: Value) -> Result<Self, OrmError> {
                match value {
                    Value::$variant(v) => Ok(v),
                    other => Err(OrmError::value(format!(
                        "expected a {} value for a {} field, got {other:?}",
                        stringify!($variant),
                        stringify!($rust)
                    ))),
                }
            }

            #[inline(always)]
            fn read_column(
                row: &Row,
                index: usize,
                sql_type: SqlType,
            ) -> Result<Option<Result<Self, OrmError>>, OrmError> {
                if !crate::__private::same_values(&sql_type, &Self::SQL_TYPE) {
                    // Declared as a type read another way: as the declaration says.
                    return match Value::from_row(row, index, sql_type)? {
                        Value::Null => Ok(None),
                        value => Ok(Some(Self::from_value(value))),
                    };
                }
                // What `Value::from_row` reads for this declaration, without the `Value`.
                let value = row
                    .try_get::<_, Option<$rust>>(index)
                    .map_err(OrmError::Driver)?;
                Ok(value.map(Ok))
            }
        }
    )*};
}

column_types! {
    bool => Bool, SqlType::Boolean;
    i16 => I16, SqlType::SmallInteger;
    i32 => I32, SqlType::Integer;
    i64 => I64, SqlType::BigInteger;
    f64 => F64, SqlType::Float;
    Numeric => Numeric, SqlType::Numeric { precision: None, scale: None };
    String => Text, SqlType::Text;
    Vec<u8> => Bytes, SqlType::LargeBinary;
    NaiveDate => Date, SqlType::Date;
    NaiveDateTime => Timestamp, SqlType::DateTime { timezone: false };
    DateTime<Utc> => TimestampTz, SqlType::DateTime { timezone: true };
    uuid::Uuid => Uuid, SqlType::Uuid;
    serde_json::Value => Json, SqlType::Json;
}

impl<T: ColumnType> ColumnType for Option<T> {
    const SQL_TYPE: SqlType = T::SQL_TYPE;
    const NULLABLE: bool = true;

    fn to_value(&self) -> Value {
        match self {
            None => Value::Null,
            Some(v) => v.to_value(),
        }
    }

    fn from_value(value: Value) -> Result<Self, OrmError> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }

    #[inline(always)]
    fn read_column(
        row: &Row,
        index: usize,
        sql_type: SqlType,
    ) -> Result<Option<Result<Self, OrmError>>, OrmError> {
        Ok(Some(match T::read_column(row, index, sql_type)? {
            None => Ok(None),
            Some(value) => value.map(Some),
        }))
    }
}

/// The current local time without time zone, as Python's `datetime.now`: the usual client-side
/// default and `onupdate` of a `DateTime` column. Whole microseconds, the precision PostgreSQL
/// stores, so a flushed object holds exactly what its row holds.
pub fn now() -> Value {
    Value::Timestamp(chrono::Local::now().naive_local().trunc_subsecs(6))
}

/// The current time in UTC, for `DateTime` columns with a time zone (whole microseconds, as
/// [`now`]).
pub fn utc_now() -> Value {
    Value::TimestampTz(Utc::now().trunc_subsecs(6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_nullable_and_convert() {
        assert_eq!(
            (<Option<String>>::NULLABLE, String::NULLABLE),
            (true, false)
        );
        assert_eq!(Some(5i32).to_value(), Value::I32(5));
        assert_eq!(None::<i32>.to_value(), Value::Null);
        assert_eq!(<Option<i32>>::from_value(Value::Null).unwrap(), None);
        assert_eq!(<Option<i32>>::from_value(Value::I32(3)).unwrap(), Some(3));
        assert!(i32::from_value(Value::Text("x".into())).is_err());
        assert!(i32::from_value(Value::Null).is_err());
    }

    #[test]
    fn change_detection_compares_floats_by_bits_and_numerics_by_text() {
        assert!(Value::F64(f64::NAN).same_as(&Value::F64(f64::NAN)));
        assert!(!Value::F64(0.0).same_as(&Value::F64(-0.0)));
        let a: Numeric = "1.5".parse().unwrap();
        let b: Numeric = "1.50".parse().unwrap();
        assert!(!Value::Numeric(a.clone()).same_as(&Value::Numeric(b)));
        assert!(Value::Numeric(a.clone()).same_as(&Value::Numeric(a)));
        assert!(Value::Null.same_as(&Value::Null));
    }

    #[test]
    fn now_has_whole_microseconds() {
        use chrono::Timelike;
        for value in [now(), utc_now()] {
            let nanos = match value {
                Value::Timestamp(t) => t.nanosecond(),
                Value::TimestampTz(t) => t.nanosecond(),
                other => panic!("{other:?}"),
            };
            assert_eq!(nanos % 1000, 0, "{value:?}");
        }
    }

    #[test]
    fn values_bind_as_their_inner_type() {
        let mut buf = BytesMut::new();
        assert_eq!(
            Value::I32(7).to_sql(&Type::INT4, &mut buf).unwrap(),
            IsNull::No
        );
        assert_eq!(&buf[..], &[0, 0, 0, 7]);
        assert!(Value::Null.accepts(&Type::INT4));
        assert!(!Value::Bool(true).accepts(&Type::INT4));
    }
}
