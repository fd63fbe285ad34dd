//! Writing SQL text: identifiers quoted where needed (by the same rule as the DDL, see
//! [`crate::ident`]), values always as `$n` parameters.

use crate::value::Value;

/// SQL text under construction with its parameters.
#[derive(Debug, Default, Clone)]
pub struct SqlBuilder {
    sql: String,
    params: Vec<Value>,
}

pub use crate::ident::{needs_quotes, quote_identifier as quote_ident};

impl SqlBuilder {
    /// An empty builder.
    pub fn new() -> SqlBuilder {
        SqlBuilder::default()
    }

    /// Appends SQL text written by the ORM itself (key words, punctuation).
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends an identifier, quoted where needed.
    pub fn push_ident(&mut self, ident: &str) -> &mut Self {
        crate::ident::push_identifier(&mut self.sql, ident);
        self
    }

    /// Appends `table.column`.
    pub fn push_column(&mut self, table: &str, column: &str) -> &mut Self {
        self.push_ident(table).push(".").push_ident(column)
    }

    /// Appends a parameter placeholder (`$n`) bound to `value`.
    pub fn push_bind(&mut self, value: Value) -> &mut Self {
        self.params.push(value);
        let n = self.params.len();
        self.sql.push('$');
        self.sql.push_str(&n.to_string());
        self
    }

    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The parameters, in `$n` order.
    pub fn params(&self) -> &[Value] {
        &self.params
    }

    /// The text and the parameters.
    pub fn finish(self) -> (String, Vec<Value>) {
        (self.sql, self.params)
    }
}

/// The parameters as the driver takes them.
pub(crate) fn as_params(values: &[Value]) -> Vec<&(dyn pg_wire::types::ToSql + Sync)> {
    values
        .iter()
        .map(|v| v as &(dyn pg_wire::types::ToSql + Sync))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_only_when_needed() {
        assert_eq!(quote_ident("articles"), "articles");
        assert_eq!(quote_ident("author_id"), "author_id");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("Mixed"), "\"Mixed\"");
        assert_eq!(quote_ident("has space"), "\"has space\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("1abc"), "\"1abc\"");
    }

    #[test]
    fn values_become_parameters() {
        let mut b = SqlBuilder::new();
        b.push("SELECT * FROM ")
            .push_ident("order")
            .push(" WHERE ")
            .push_column("order", "id")
            .push(" = ")
            .push_bind(Value::I32(1))
            .push(" AND name = ")
            .push_bind(Value::Text("x'; DROP TABLE t; --".into()));
        let (sql, params) = b.finish();
        assert_eq!(
            sql,
            "SELECT * FROM \"order\" WHERE \"order\".id = $1 AND name = $2"
        );
        assert_eq!(params.len(), 2);
    }
}
