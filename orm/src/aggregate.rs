//! Aggregates for column-subset queries with `group_by` and `having`: `count()`, and
//! `sum`/`min`/`max`/`avg` of a column.
//!
//! ```no_run
//! # use orm::*;
//! # async fn demo<M: Model>(session: &mut Session, author_id: Column<M, Option<i32>>) -> Result<(), OrmError> {
//! // Authors with more than one article: SELECT author_id, count(*) ... GROUP BY author_id HAVING count(*) > 1
//! let query = select_columns::<M, _>((author_id, count::<M>()))
//!     .group_by(author_id)
//!     .having(count::<M>().gt(1i64));
//! for (author, articles) in session.all_columns(&query).await? {
//!     println!("{author:?}: {articles}");
//! }
//! # Ok(()) }
//! ```

use std::marker::PhantomData;

use chrono::{NaiveDate, NaiveDateTime};
use pg_wire::types::Numeric;

use crate::expr::{BinOp, Column, Condition, Expr};
use crate::model::Model;
use crate::schema::SqlType;
use crate::value::{ColumnType, Value};

/// Something a column-subset query can select: a column, or an aggregate.
pub trait Selectable<M> {
    /// The Rust type of its values.
    type Output: ColumnType;
    /// The expression.
    fn expr(&self) -> Expr;
    /// The SQL type the values are read as.
    fn sql_type(&self) -> SqlType;
}

impl<M: Model, T: ColumnType> Selectable<M> for Column<M, T> {
    type Output = T;

    fn expr(&self) -> Expr {
        Column::expr(self)
    }

    fn sql_type(&self) -> SqlType {
        M::TABLE
            .columns
            .get(self.index())
            .map(|c| c.sql_type)
            .unwrap_or(T::SQL_TYPE)
    }
}

/// An aggregate over the rows of a group, with Rust type `T`.
pub struct Aggregate<M, T> {
    expr: Expr,
    sql_type: SqlType,
    _types: PhantomData<fn() -> (M, T)>,
}

impl<M, T> Clone for Aggregate<M, T> {
    fn clone(&self) -> Self {
        Aggregate {
            expr: self.expr.clone(),
            sql_type: self.sql_type,
            _types: PhantomData,
        }
    }
}

impl<M, T> std::fmt::Debug for Aggregate<M, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Aggregate({:?})", self.expr)
    }
}

impl<M: Model, T: ColumnType> Selectable<M> for Aggregate<M, T> {
    type Output = T;

    fn expr(&self) -> Expr {
        self.expr.clone()
    }

    fn sql_type(&self) -> SqlType {
        self.sql_type
    }
}

impl<M, T: ColumnType> Aggregate<M, T> {
    fn new(name: &'static str, arg: Option<Expr>, sql_type: SqlType) -> Aggregate<M, T> {
        let expr = Expr::Function {
            name,
            arg: arg.map(Box::new),
        };
        // The result's type is fixed with a cast, so reading it cannot depend on the argument.
        Aggregate {
            expr: Expr::Cast {
                expr: Box::new(expr),
                sql_type,
            },
            sql_type,
            _types: PhantomData,
        }
    }

    fn compare(&self, op: BinOp, value: Value) -> Condition {
        Condition(Expr::Binary {
            op,
            left: Box::new(self.expr.clone()),
            right: Box::new(Expr::Value(value)),
        })
    }

    /// `aggregate = value` (for `having`).
    pub fn eq(&self, value: impl crate::expr::Comparable<T>) -> Condition {
        self.compare(BinOp::Eq, value.into_value())
    }

    /// `aggregate != value`.
    pub fn ne(&self, value: impl crate::expr::Comparable<T>) -> Condition {
        self.compare(BinOp::Ne, value.into_value())
    }

    /// `aggregate < value`.
    pub fn lt(&self, value: impl crate::expr::Comparable<T>) -> Condition {
        self.compare(BinOp::Lt, value.into_value())
    }

    /// `aggregate <= value`.
    pub fn le(&self, value: impl crate::expr::Comparable<T>) -> Condition {
        self.compare(BinOp::Le, value.into_value())
    }

    /// `aggregate > value`.
    pub fn gt(&self, value: impl crate::expr::Comparable<T>) -> Condition {
        self.compare(BinOp::Gt, value.into_value())
    }

    /// `aggregate >= value`.
    pub fn ge(&self, value: impl crate::expr::Comparable<T>) -> Condition {
        self.compare(BinOp::Ge, value.into_value())
    }

    /// Ascending order by the aggregate.
    pub fn asc(&self) -> crate::expr::Ordering {
        crate::expr::Ordering {
            expr: self.expr.clone(),
            descending: false,
        }
    }

    /// Descending order by the aggregate.
    pub fn desc(&self) -> crate::expr::Ordering {
        crate::expr::Ordering {
            expr: self.expr.clone(),
            descending: true,
        }
    }
}

/// `count(*)`: the number of rows of the group.
pub fn count<M>() -> Aggregate<M, i64> {
    Aggregate::new("count", None, SqlType::BigInteger)
}

/// The type of a field without its `Option`: `i32` for both `i32` and `Option<i32>` fields.
pub trait BaseType: ColumnType {
    /// The non-optional type.
    type Base: ColumnType;
}

/// The type `sum` gives for a field type, as PostgreSQL's `sum`: `bigint` for `int2`/`int4`,
/// `numeric` for `int8` and `numeric`, `double precision` for floats.
pub trait Summable: BaseType {
    /// The sum's Rust type.
    type Sum: ColumnType;
    /// The sum's SQL type.
    const SUM_TYPE: SqlType;
}

/// The type `avg` gives: `numeric` for integers and numeric, `double precision` for floats.
pub trait Averageable: BaseType {
    /// The average's Rust type.
    type Avg: ColumnType;
    /// The average's SQL type.
    const AVG_TYPE: SqlType;
}

macro_rules! base_types {
    ($($t:ty),*) => {$(
        impl BaseType for $t {
            type Base = $t;
        }
    )*};
}

base_types!(
    bool,
    i16,
    i32,
    i64,
    f64,
    Numeric,
    String,
    Vec<u8>,
    NaiveDate,
    NaiveDateTime
);

impl<T: BaseType> BaseType for Option<T> {
    type Base = T::Base;
}

const NUMERIC: SqlType = SqlType::Numeric {
    precision: None,
    scale: None,
};

macro_rules! summable {
    ($($t:ty => $sum:ty, $sum_type:expr, $avg:ty, $avg_type:expr;)*) => {$(
        impl Summable for $t {
            type Sum = $sum;
            const SUM_TYPE: SqlType = $sum_type;
        }

        impl Averageable for $t {
            type Avg = $avg;
            const AVG_TYPE: SqlType = $avg_type;
        }
    )*};
}

summable! {
    i16 => i64, SqlType::BigInteger, Numeric, NUMERIC;
    i32 => i64, SqlType::BigInteger, Numeric, NUMERIC;
    i64 => Numeric, NUMERIC, Numeric, NUMERIC;
    f64 => f64, SqlType::Float, f64, SqlType::Float;
    Numeric => Numeric, NUMERIC, Numeric, NUMERIC;
}

impl<T: Summable> Summable for Option<T> {
    type Sum = T::Sum;
    const SUM_TYPE: SqlType = T::SUM_TYPE;
}

impl<T: Averageable> Averageable for Option<T> {
    type Avg = T::Avg;
    const AVG_TYPE: SqlType = T::AVG_TYPE;
}

impl<M: Model, T: ColumnType> Column<M, T> {
    /// `count(column)`: the rows of the group where the column is not NULL.
    pub fn count(&self) -> Aggregate<M, i64> {
        Aggregate::new("count", Some(self.expr()), SqlType::BigInteger)
    }

    /// `min(column)`; NULL for an empty group.
    pub fn min(&self) -> Aggregate<M, Option<T::Base>>
    where
        T: BaseType,
    {
        Aggregate::new("min", Some(self.expr()), self.selected_type())
    }

    /// `max(column)`; NULL for an empty group.
    pub fn max(&self) -> Aggregate<M, Option<T::Base>>
    where
        T: BaseType,
    {
        Aggregate::new("max", Some(self.expr()), self.selected_type())
    }

    /// `sum(column)`; NULL for an empty group.
    pub fn sum(&self) -> Aggregate<M, Option<T::Sum>>
    where
        T: Summable,
    {
        Aggregate::new("sum", Some(self.expr()), T::SUM_TYPE)
    }

    /// `avg(column)`; NULL for an empty group.
    pub fn avg(&self) -> Aggregate<M, Option<T::Avg>>
    where
        T: Averageable,
    {
        Aggregate::new("avg", Some(self.expr()), T::AVG_TYPE)
    }

    fn selected_type(&self) -> SqlType {
        Selectable::<M>::sql_type(self)
    }
}
