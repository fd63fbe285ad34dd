//! Queries: [`Select`] for whole objects and [`SelectColumns`] for tuples of columns, built without
//! a session and run by one (`session.all(&query)`, or `query.all(&mut session)`).
//!
//! ```no_run
//! # use orm::*;
//! # async fn demo<M: Model>(session: &mut Session, slug: Column<M, String>, title: Column<M, String>)
//! # -> Result<(), OrmError> {
//! let query = select::<M>().filter(slug.eq("clean-python")).order_by(title.desc());
//! let first = session.first(&query).await?;
//! # let _ = first; Ok(()) }
//! ```

use std::marker::PhantomData;

use crate::expr::{Condition, Expr, IntoOrdering, Ordering};
use crate::model::Model;
use crate::sql::SqlBuilder;
use crate::value::{ColumnType, Value};

/// The clauses shared by every query of one model's table.
#[derive(Debug, Clone, Default)]
pub(crate) struct Clauses {
    pub(crate) filters: Vec<Condition>,
    pub(crate) order: Vec<Ordering>,
    pub(crate) group_by: Vec<Expr>,
    pub(crate) having: Vec<Condition>,
    pub(crate) limit: Option<i64>,
    pub(crate) offset: Option<i64>,
    pub(crate) joins: Vec<Join>,
}

/// `JOIN table ON table.column = other.column`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Join {
    pub(crate) table: &'static str,
    pub(crate) on: Condition,
}

impl Clauses {
    /// Writes `FROM table [JOIN ...] [WHERE ...] [GROUP BY ...] [HAVING ...] [ORDER BY ...]
    /// [LIMIT ...] [OFFSET ...]`.
    pub(crate) fn write(&self, table: &str, out: &mut SqlBuilder, with_order_and_limits: bool) {
        out.push(" \nFROM ").push_ident(table);
        for join in &self.joins {
            out.push(" JOIN ").push_ident(join.table).push(" ON ");
            join.on.expr().write(out);
        }
        write_conditions(" \nWHERE ", &self.filters, out);
        if !self.group_by.is_empty() {
            out.push(" GROUP BY ");
            for (i, expr) in self.group_by.iter().enumerate() {
                if i > 0 {
                    out.push(", ");
                }
                expr.write(out);
            }
        }
        write_conditions(" \nHAVING ", &self.having, out);
        if !with_order_and_limits {
            return;
        }
        if !self.order.is_empty() {
            out.push(" ORDER BY ");
            for (i, ordering) in self.order.iter().enumerate() {
                if i > 0 {
                    out.push(", ");
                }
                ordering.write(out);
            }
        }
        if let Some(limit) = self.limit {
            out.push(" \n LIMIT ").push_bind(Value::I64(limit));
        }
        if let Some(offset) = self.offset {
            out.push(" OFFSET ").push_bind(Value::I64(offset));
        }
    }

    /// The tables and conditions of a bulk UPDATE (`keyword` is `FROM`) or DELETE (`USING`):
    /// the joined tables listed after `keyword`, and their join conditions with the filters in
    /// the WHERE clause.
    pub(crate) fn write_bulk(&self, keyword: &str, out: &mut SqlBuilder) {
        let mut conditions = Vec::with_capacity(self.joins.len() + self.filters.len());
        for (i, join) in self.joins.iter().enumerate() {
            out.push(if i == 0 { keyword } else { ", " });
            out.push_ident(join.table);
            conditions.push(join.on.clone());
        }
        conditions.extend(self.filters.iter().cloned());
        write_conditions(" WHERE ", &conditions, out);
    }
}

fn write_conditions(keyword: &str, conditions: &[Condition], out: &mut SqlBuilder) {
    for (i, condition) in conditions.iter().enumerate() {
        out.push(if i == 0 { keyword } else { " AND " });
        condition.expr().write(out);
    }
}

/// A query for whole objects of model `M`: `select::<Article>()`.
#[derive(Debug)]
pub struct Select<M> {
    pub(crate) clauses: Clauses,
    _model: PhantomData<fn() -> M>,
}

impl<M> Clone for Select<M> {
    fn clone(&self) -> Self {
        Select {
            clauses: self.clauses.clone(),
            _model: PhantomData,
        }
    }
}

/// A query for objects of model `M`, as SQLAlchemy's `select(Article)` or `session.query(Article)`.
pub fn select<M: Model>() -> Select<M> {
    Select {
        clauses: Clauses::default(),
        _model: PhantomData,
    }
}

macro_rules! clause_methods {
    () => {
        /// Adds a condition (combined with AND with the others).
        pub fn filter(mut self, condition: Condition) -> Self {
            self.clauses.filters.push(condition);
            self
        }

        /// Adds a sort key; call again for further keys.
        pub fn order_by(mut self, ordering: impl IntoOrdering) -> Self {
            self.clauses.order.push(ordering.into_ordering());
            self
        }

        /// Returns at most `n` rows.
        pub fn limit(mut self, n: i64) -> Self {
            self.clauses.limit = Some(n);
            self
        }

        /// Skips the first `n` rows.
        pub fn offset(mut self, n: i64) -> Self {
            self.clauses.offset = Some(n);
            self
        }

        /// Groups rows by a column (call again for more columns).
        pub fn group_by<S: crate::aggregate::Selectable<M>>(mut self, expr: S) -> Self {
            self.clauses.group_by.push(expr.expr());
            self
        }

        /// A condition on the groups (combined with AND with the others).
        pub fn having(mut self, condition: Condition) -> Self {
            self.clauses.having.push(condition);
            self
        }
    };
}

impl<M: Model> Select<M> {
    clause_methods!();

    /// Adds an equality condition: `filter_by(Article::SLUG, "x")` is
    /// `filter(Article::SLUG.eq("x"))`.
    pub fn filter_by<T, V: crate::expr::Comparable<T>>(
        self,
        column: crate::expr::Column<M, T>,
        value: V,
    ) -> Self {
        let condition = column.eq(value);
        self.filter(condition)
    }

    /// Joins another model's table along a relationship (`join(Article::AUTHOR)`), so filters
    /// can use its columns.
    pub fn join<P: Model>(mut self, relation: crate::relationship::ManyToOne<M, P>) -> Self {
        if let Some(on) = join_condition::<M, P>(relation.column()) {
            self.clauses.joins.push(Join {
                table: P::TABLE.name,
                on,
            });
        }
        self
    }

    /// Joins the children's table of a one-to-many relationship (`join_many(Author::ARTICLES)`).
    pub fn join_many<C: Model>(mut self, relation: crate::relationship::OneToMany<M, C>) -> Self {
        if let Some(on) = join_condition::<C, M>(relation.column()) {
            self.clauses.joins.push(Join {
                table: C::TABLE.name,
                on,
            });
        }
        self
    }

    /// `SELECT table.col1, ... FROM ...` with every clause. A join can repeat a row of `M`'s
    /// table (once per matching child of a one-to-many join); the session hands back each object
    /// once, at its first row, as SQLAlchemy does. (`SELECT DISTINCT` would forbid ordering by
    /// the joined table's columns, and cannot compare JSON columns.)
    pub(crate) fn sql(&self) -> (String, Vec<Value>) {
        let mut out = SqlBuilder::new();
        out.push("SELECT ");
        write_column_list::<M>(&mut out);
        self.clauses.write(M::TABLE.name, &mut out, true);
        out.finish()
    }

    /// Whether the query joins other tables (so its rows can repeat an object).
    pub(crate) fn has_joins(&self) -> bool {
        !self.clauses.joins.is_empty()
    }

    /// `SELECT count(*) FROM (the query)`: the number of objects the query finds, so with joins
    /// the number of distinct primary keys among its rows.
    pub(crate) fn count_sql(&self) -> (String, Vec<Value>) {
        let (inner, params) = self.sql();
        if !self.has_joins() {
            return (
                format!("SELECT count(*) AS count_1 \nFROM ({inner}) AS anon_1"),
                params,
            );
        }
        let mut keys = SqlBuilder::new();
        for (n, i) in M::TABLE.primary_key().enumerate() {
            if n > 0 {
                keys.push(", ");
            }
            keys.push_column(
                "anon_2",
                M::TABLE.columns.get(i).map(|c| c.name).unwrap_or(""),
            );
        }
        (
            format!(
                "SELECT count(*) AS count_1 \nFROM (SELECT DISTINCT {} \nFROM ({inner}) AS anon_2) AS anon_1",
                keys.sql()
            ),
            params,
        )
    }
}

/// `child.fk = parent.referenced column` for the child's foreign key column at `fk`.
fn join_condition<C: Model, P: Model>(fk: usize) -> Option<Condition> {
    let column = C::TABLE.columns.get(fk)?;
    let target = column.foreign_key.map(|fk| fk.column).unwrap_or("id");
    Some(Condition(Expr::Binary {
        op: crate::expr::BinOp::Eq,
        left: Box::new(Expr::Column {
            table: C::TABLE.name,
            column: column.name,
        }),
        right: Box::new(Expr::Column {
            table: P::TABLE.name,
            column: target,
        }),
    }))
}

/// Writes every column of `M`'s table, qualified.
pub(crate) fn write_column_list<M: Model>(out: &mut SqlBuilder) {
    for (i, column) in M::TABLE.columns.iter().enumerate() {
        if i > 0 {
            out.push(", ");
        }
        out.push_column(M::TABLE.name, column.name);
    }
}

/// A tuple of columns and aggregates of one model, for column-subset queries: `(Article::SLUG,
/// Article::TITLE)` gives `(String, String)` rows, `(Article::AUTHOR_ID, count())` gives
/// `(Option<i32>, i64)`.
pub trait ColumnTuple<M> {
    /// The Rust type of one row.
    type Output;
    /// The column expressions, in order.
    fn exprs(&self) -> Vec<Expr>;
    /// The SQL types, to read the row.
    fn sql_types(&self) -> Vec<crate::schema::SqlType>;
    /// A row's values as the output tuple.
    fn from_values(values: Vec<Value>) -> Result<Self::Output, crate::error::OrmError>;
}

macro_rules! column_tuples {
    ($(($($t:ident $i:tt),+))*) => {$(
        impl<M: Model, $($t: crate::aggregate::Selectable<M>),+> ColumnTuple<M> for ($($t,)+) {
            type Output = ($($t::Output,)+);

            fn exprs(&self) -> Vec<Expr> {
                vec![$(self.$i.expr()),+]
            }

            fn sql_types(&self) -> Vec<crate::schema::SqlType> {
                vec![$(self.$i.sql_type()),+]
            }

            fn from_values(values: Vec<Value>) -> Result<Self::Output, crate::error::OrmError> {
                let mut values = values.into_iter();
                Ok(($(<$t::Output as ColumnType>::from_value(values.next().unwrap_or(Value::Null))?,)+))
            }
        }
    )*};
}

column_tuples! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
}

/// A query for some columns of model `M`, returning tuples: SQLAlchemy's
/// `session.query(Article.slug, Article.title)`.
#[derive(Debug)]
pub struct SelectColumns<M, C> {
    pub(crate) columns: C,
    pub(crate) clauses: Clauses,
    _model: PhantomData<fn() -> M>,
}

impl<M, C: Clone> Clone for SelectColumns<M, C> {
    fn clone(&self) -> Self {
        SelectColumns {
            columns: self.columns.clone(),
            clauses: self.clauses.clone(),
            _model: PhantomData,
        }
    }
}

/// A query for a tuple of columns of one model.
pub fn select_columns<M: Model, C: ColumnTuple<M>>(columns: C) -> SelectColumns<M, C> {
    SelectColumns {
        columns,
        clauses: Clauses::default(),
        _model: PhantomData,
    }
}

impl<M: Model, C: ColumnTuple<M>> SelectColumns<M, C> {
    clause_methods!();

    pub(crate) fn sql(&self) -> (String, Vec<Value>) {
        let mut out = SqlBuilder::new();
        out.push("SELECT ");
        for (i, expr) in self.columns.exprs().iter().enumerate() {
            if i > 0 {
                out.push(", ");
            }
            expr.write(&mut out);
        }
        self.clauses.write(M::TABLE.name, &mut out, true);
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_models::Article;

    #[test]
    fn select_sql_binds_every_value() {
        let query = select::<Article>()
            .filter(Article::SLUG.eq("clean-python"))
            .order_by(Article::TITLE.desc())
            .limit(1);
        let (sql, params) = query.sql();
        assert_eq!(
            sql,
            "SELECT articles.id, articles.slug, articles.title, articles.created_on, articles.updated_on, \
             articles.content, articles.author_id \nFROM articles \nWHERE articles.slug = $1 \
             ORDER BY articles.title DESC \n LIMIT $2"
        );
        assert_eq!(params, [Value::Text("clean-python".into()), Value::I64(1)]);
    }

    #[test]
    fn column_subset_and_conditions() {
        let query = select_columns::<Article, _>((Article::SLUG, Article::TITLE))
            .filter(Article::ID.in_([1, 2]) | Article::CONTENT.is_null())
            .offset(2)
            .limit(1);
        let (sql, params) = query.sql();
        assert_eq!(
            sql,
            "SELECT articles.slug, articles.title \nFROM articles \nWHERE (articles.id IN ($1, $2) OR \
             articles.content IS NULL) \n LIMIT $3 OFFSET $4"
        );
        assert_eq!(params.len(), 4);
    }
}
