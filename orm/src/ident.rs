//! SQL identifiers as SQLAlchemy's PostgreSQL dialect writes them: bare where that is safe,
//! double-quoted otherwise.
//!
//! An identifier is quoted when it is a reserved word, starts with a digit or `$`, contains
//! anything but ASCII letters, digits, `_` and `$`, or has an upper-case letter (an unquoted
//! identifier would be folded to lower case). This is SQLAlchemy's `_requires_quotes`, so the DDL
//! and queries read byte for byte as SQLAlchemy's; inside quotes a `"` is doubled.

use std::borrow::Cow;

/// Words quoted as identifiers: SQLAlchemy's PostgreSQL `RESERVED_WORDS`, plus the five words
/// PostgreSQL reserves that SQLAlchemy's list lacks (`collation`, `concurrently`, `lateral`,
/// `system_user`, `tablesample`: SQLAlchemy would emit invalid SQL for a column so named).
/// Sorted, for a binary search.
#[rustfmt::skip]
const RESERVED: &[&str] = &[
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric",
    "authorization", "between", "binary", "both", "case", "cast", "check", "collate",
    "collation", "column", "concurrently", "constraint", "create", "cross", "current_catalog",
    "current_date", "current_role", "current_schema", "current_time", "current_timestamp",
    "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except",
    "false", "fetch", "for", "foreign", "freeze", "from", "full", "grant", "group", "having",
    "ilike", "in", "initially", "inner", "intersect", "into", "is", "isnull", "join", "lateral",
    "leading", "left", "like", "limit", "localtime", "localtimestamp", "natural", "new", "not",
    "notnull", "null", "of", "off", "offset", "old", "on", "only", "or", "order", "outer",
    "over", "overlaps", "placing", "primary", "references", "returning", "right", "select",
    "session_user", "similar", "some", "symmetric", "system_user", "table", "tablesample",
    "then", "to", "trailing", "true", "union", "unique", "user", "using", "variadic", "verbose",
    "when", "where", "window", "with",
];

/// Whether `ident` must be double-quoted to be read back as itself.
pub fn needs_quotes(ident: &str) -> bool {
    let Some(first) = ident.chars().next() else {
        return true;
    };
    first.is_ascii_digit()
        || first == '$'
        || !ident
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        || RESERVED.binary_search(&ident).is_ok()
}

/// `ident` as written in SQL: unchanged when it can be, else double-quoted with `"` doubled.
pub fn quote_identifier(ident: &str) -> Cow<'_, str> {
    if needs_quotes(ident) {
        Cow::Owned(format!("\"{}\"", ident.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(ident)
    }
}

/// Appends `ident` to `out`, quoted where needed.
pub fn push_identifier(out: &mut String, ident: &str) {
    out.push_str(&quote_identifier(ident));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_words_are_sorted() {
        assert!(RESERVED.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn quoting_follows_sqlalchemy() {
        for (ident, expected) in [
            ("articles", "articles"),
            ("author_id", "author_id"),
            ("a$b", "a$b"),
            ("_x1", "_x1"),
            ("User", "\"User\""),
            ("user", "\"user\""),
            ("order", "\"order\""),
            ("between", "\"between\""),
            ("lateral", "\"lateral\""),
            ("Weird Table", "\"Weird Table\""),
            ("x\"y", "\"x\"\"y\""),
            ("1abc", "\"1abc\""),
            ("$x", "\"$x\""),
            ("café", "\"café\""),
            ("", "\"\""),
        ] {
            assert_eq!(quote_identifier(ident), expected, "{ident}");
        }
    }
}
