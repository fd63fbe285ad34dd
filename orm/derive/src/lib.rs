//! `#[derive(Model)]` for the `orm` crate: declares a table once, in Rust, as SQLAlchemy's
//! declarative classes do.
//!
//! Use it through `orm` (which re-exports it as `orm::Model`); the generated code names
//! `::orm::...` paths. See [`Model`](macro@Model) for the attributes.

mod attrs;
mod expand;

use proc_macro::TokenStream;

/// Maps a struct to a table: implements `orm::Model` (a static `orm::Table`, the fields as
/// `orm::Value`s and back) and adds one typed column constant per field, named after the field in
/// upper case (`Article::SLUG: orm::Column<Article, String>`), for queries.
///
/// ```
/// use orm::Model;
///
/// #[derive(Model, Debug, Clone, Default)]
/// #[orm(table = "articles")]
/// pub struct Article {
///     #[orm(primary_key)]
///     pub id: Option<i32>, // SERIAL: the single integer primary key
///     #[orm(length = 100, unique)]
///     pub slug: String, // VARCHAR(100) NOT NULL, UNIQUE (slug)
///     #[orm(length = 100)]
///     pub title: String,
///     #[orm(default = orm::now)]
///     pub created_on: Option<chrono::NaiveDateTime>, // TIMESTAMP WITHOUT TIME ZONE
///     #[orm(default = orm::now, onupdate = orm::now)]
///     pub updated_on: Option<chrono::NaiveDateTime>,
///     pub content: Option<String>, // TEXT
///     #[orm(foreign_key = "authors.id")]
///     pub author_id: Option<i32>,
/// }
///
/// assert_eq!(Article::TABLE.name, "articles");
/// assert_eq!(Article::SLUG.name(), "slug");
/// ```
///
/// # The struct
///
/// - `#[orm(table = "name")]` (required): the table name.
/// - `#[orm(relationship(name = "articles", target = Article, foreign_key = author_id, backref =
///   "author"))]`: a one-to-many relationship to the `target` model's rows whose `foreign_key`
///   field points here, as `Self::ARTICLES: orm::OneToMany<Self, Article>`; with `backref`, the
///   same declaration also gives `Article::AUTHOR: orm::ManyToOne<Article, Self>`. Add
///   `cascade_delete` to delete the children with the parent (by default their foreign key is set
///   to NULL), however they were attached and whether or not they are loaded; the declarations
///   are listed in `orm::Model::RELATIONSHIPS`.
/// - `#[orm(belongs_to(name = "author", target = Author, foreign_key = author_id))]`: the
///   many-to-one side alone, `Self::AUTHOR`, through this model's own `foreign_key` field.
/// - `#[orm(many_to_many(name = "tags", target = Tag, through = ArticleTag, foreign_key =
///   article_id, remote = tag_id, backref = "articles"))]`: a many-to-many relationship through
///   the association model `through`, whose `foreign_key` field points here and `remote` field to
///   `target`: `Self::TAGS: orm::ManyToMany<Self, Tag>` (and `Tag::ARTICLES` with `backref`).
///
/// Every named field is a column, in declaration order. The struct cannot be generic, and at
/// least one field must be a primary key (the session identifies rows by it, as SQLAlchemy's
/// mapper does).
///
/// # Fields
///
/// A field's Rust type implements `orm::ColumnType`, which gives the column's SQL type (`i32` is
/// Integer, `String` is Text, `chrono::NaiveDateTime` is DateTime, ...) and nullability:
/// `Option<T>` is nullable, anything else is `NOT NULL`.
///
/// | attribute | meaning |
/// |---|---|
/// | `primary_key` | part of the primary key (never nullable). A single integer primary key without a default or foreign key is autoincrement (`SERIAL`), as in SQLAlchemy. |
/// | `autoincrement = false` / `true` | turns that off, or marks one column of a composite key |
/// | `length = n` | `String(n)` (`VARCHAR(n)`) instead of `Text` |
/// | `unique` | a `UNIQUE` constraint (a unique index when combined with `index`) |
/// | `index` | an index named `ix_<table>_<column>` |
/// | `nullable = false` | `NOT NULL` for an `Option` field that has a default (None means "fill in on INSERT") |
/// | `default = path` | a client-side default, a `fn() -> orm::Value` such as `orm::now` |
/// | `default_value = expr` | a constant client-side default, converted with `ColumnType::to_value` |
/// | `onupdate = path`, `onupdate_value = expr` | the same, for every UPDATE of the row |
/// | `server_default = "sql"` | `DEFAULT sql` in the DDL (SQL text, as SQLAlchemy's `text(...)`) |
/// | `foreign_key = "table.column"` | a `FOREIGN KEY ... REFERENCES table (column)` |
/// | `sql_type = T` | Text, String, Integer, BigInteger, SmallInteger, Boolean, Float, Numeric, Date, DateTime, LargeBinary, Uuid or Json, where it differs from the Rust type's own (it must hold the same kind of value) |
/// | `numeric(precision = p, scale = s)` | `NUMERIC(p, s)` |
/// | `timezone` | `TIMESTAMP WITH TIME ZONE` |
/// | `column = "name"` | the column name, when it differs from the field name |
///
/// # Errors
///
/// Mistakes are compile errors pointing at the attribute. A struct without a table name:
///
/// ```compile_fail
/// #[derive(orm::Model)]
/// struct Article {
///     #[orm(primary_key)]
///     id: Option<i32>,
/// }
/// ```
///
/// An `Option` field declared `NOT NULL` with nothing to fill in a `None`:
///
/// ```compile_fail
/// #[derive(orm::Model)]
/// #[orm(table = "articles")]
/// struct Article {
///     #[orm(primary_key)]
///     id: Option<i32>,
///     #[orm(nullable = false)]
///     title: Option<String>,
/// }
/// ```
///
/// A foreign key that does not name one column:
///
/// ```compile_fail
/// #[derive(orm::Model)]
/// #[orm(table = "articles")]
/// struct Article {
///     #[orm(primary_key)]
///     id: Option<i32>,
///     #[orm(foreign_key = "authors")]
///     author_id: Option<i32>,
/// }
/// ```
///
/// `length` on a column that is not a string (checked against the field type's `ColumnType`):
///
/// ```compile_fail
/// #[derive(orm::Model)]
/// #[orm(table = "articles")]
/// struct Article {
///     #[orm(primary_key)]
///     id: Option<i32>,
///     #[orm(length = 10)]
///     views: i64,
/// }
/// ```
///
/// A `sql_type` that does not hold the field's values:
///
/// ```compile_fail
/// #[derive(orm::Model)]
/// #[orm(table = "articles")]
/// struct Article {
///     #[orm(primary_key)]
///     id: Option<i32>,
///     #[orm(timezone)]
///     created_on: Option<chrono::NaiveDateTime>,
/// }
/// ```
///
/// The same model without the mistake compiles:
///
/// ```
/// #[derive(orm::Model)]
/// #[orm(table = "articles")]
/// struct Article {
///     #[orm(primary_key)]
///     id: Option<i32>,
///     #[orm(length = 10, nullable = false, default_value = "draft")]
///     title: Option<String>,
///     #[orm(foreign_key = "authors.id")]
///     author_id: Option<i32>,
///     views: i64,
///     #[orm(timezone)]
///     created_on: Option<chrono::DateTime<chrono::Utc>>,
/// }
/// ```
#[proc_macro_derive(Model, attributes(orm))]
pub fn derive_model(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
