//! Schema DDL: `CREATE TABLE`, `CREATE INDEX` and `DROP TABLE` text exactly as SQLAlchemy 2
//! compiles it for PostgreSQL, and [`Metadata`], the set of tables that `create_all` creates in
//! foreign-key order and `drop_all` drops in reverse.
//!
//! The text functions are pure. What SQLAlchemy does and this module follows:
//!
//! - `CREATE TABLE` starts with a newline and ends with `\n)\n\n`; each column or constraint is on
//!   its own line after a tab, the lines separated by `, ` (so each but the last ends in a space).
//! - A column is `name TYPE [DEFAULT server_default] [NOT NULL]`; the autoincrement integer
//!   primary key is `SERIAL` (`BIGSERIAL`, `SMALLSERIAL`) and takes no `DEFAULT`.
//! - `PRIMARY KEY (...)` comes first (its autoincrement column first), then, column by column,
//!   `UNIQUE (c)` and `FOREIGN KEY(c) REFERENCES t (c)`. A column both `unique` and `index` gets a
//!   unique index instead of a constraint.
//! - Indexes are separate statements named `ix_<table>_<column>`, cut to 63 characters with an
//!   md5 suffix as SQLAlchemy's naming convention does.
//! - Identifiers are quoted only where needed ([`crate::ident`]).
//!
//! `create_all` asks the server which tables exist in one query (names as a bound parameter),
//! then sends all the DDL in one simple-query message, which PostgreSQL runs as one implicit
//! transaction (or inside the caller's open transaction): a failure leaves no table half created.

use pg_wire::Client;

use crate::error::OrmError;
use crate::ident::quote_identifier;
use crate::model::Model;
use crate::schema::{ColumnDef, Table};

/// PostgreSQL's longest identifier, in SQLAlchemy's count (characters).
const MAX_IDENTIFIER_LENGTH: usize = 63;

/// The column that is SERIAL: the autoincrement integer primary key without a client default.
fn is_serial(column: &ColumnDef) -> bool {
    column.primary_key
        && column.autoincrement
        && column.default.is_none()
        && column.sql_type.is_integer()
}

/// A column's line in `CREATE TABLE`.
fn column_spec(column: &ColumnDef) -> String {
    let serial = is_serial(column);
    let mut spec = format!(
        "{} {}",
        quote_identifier(column.name),
        column.sql_type.ddl(serial)
    );
    if let (false, Some(default)) = (serial, column.server_default) {
        spec.push_str(" DEFAULT ");
        spec.push_str(default);
    }
    if !column.nullable {
        spec.push_str(" NOT NULL");
    }
    spec
}

/// A list of quoted column names, `a, b`.
fn column_list<'a>(columns: impl Iterator<Item = &'a ColumnDef>) -> String {
    columns
        .map(|c| quote_identifier(c.name).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `CREATE TABLE` statement for `table`, byte for byte as SQLAlchemy compiles
/// `CreateTable(table)` for PostgreSQL (leading newline and trailing blank line included).
///
/// ```
/// use orm::{ColumnDef, SqlType, Table};
///
/// static COLUMNS: [ColumnDef; 2] = [
///     ColumnDef {
///         nullable: false,
///         primary_key: true,
///         autoincrement: true,
///         ..ColumnDef::new("id", SqlType::Integer)
///     },
///     ColumnDef::new("name", SqlType::String(Some(50))),
/// ];
/// static TAGS: Table = Table { name: "tags", columns: &COLUMNS };
/// assert_eq!(
///     orm::ddl::create_table_sql(&TAGS),
///     "\nCREATE TABLE tags (\n\tid SERIAL NOT NULL, \n\tname VARCHAR(50), \n\tPRIMARY KEY (id)\n)\n\n"
/// );
/// ```
pub fn create_table_sql(table: &Table) -> String {
    let mut lines: Vec<String> = table.columns.iter().map(column_spec).collect();
    // The primary key, its autoincrement column first (SQLAlchemy's `columns_autoinc_first`).
    let (autoincrement, rest): (Vec<&ColumnDef>, Vec<&ColumnDef>) = table
        .columns
        .iter()
        .filter(|c| c.primary_key)
        .partition(|c| c.autoincrement && c.sql_type.is_integer());
    if !autoincrement.is_empty() || !rest.is_empty() {
        let columns = autoincrement.into_iter().chain(rest);
        lines.push(format!("PRIMARY KEY ({})", column_list(columns)));
    }
    // Then each column's constraints in column order, as SQLAlchemy creates them when it attaches
    // the column to the table: UNIQUE (unless a unique index stands for it), then FOREIGN KEY.
    for column in table.columns {
        let name = quote_identifier(column.name);
        if column.unique && !column.index {
            lines.push(format!("UNIQUE ({name})"));
        }
        if let Some(fk) = column.foreign_key {
            lines.push(format!(
                "FOREIGN KEY({name}) REFERENCES {} ({})",
                quote_identifier(fk.table),
                quote_identifier(fk.column)
            ));
        }
    }
    format!(
        "\nCREATE TABLE {} (\n\t{}\n)\n\n",
        quote_identifier(table.name),
        lines.join(", \n\t")
    )
}

/// The name of the index on `column` of `table`: `ix_<table>_<column>` (SQLAlchemy's default
/// naming convention `ix_%(column_0_label)s`). A name longer than 63 characters is cut to 55 and
/// given `_` and the last four hex digits of the md5 of the whole name, as SQLAlchemy does.
pub fn index_name(table: &str, column: &str) -> String {
    let name = format!("ix_{table}_{column}");
    if name.chars().count() <= MAX_IDENTIFIER_LENGTH {
        return name;
    }
    use md5::Digest;
    let digest = md5::Md5::digest(name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let kept: String = name.chars().take(MAX_IDENTIFIER_LENGTH - 8).collect();
    format!("{kept}_{}", &hex[hex.len() - 4..])
}

/// The `CREATE INDEX` statements for the indexed columns of `table`, in column order:
/// `CREATE [UNIQUE ]INDEX ix_articles_title ON articles (title)`.
pub fn create_index_sql(table: &Table) -> Vec<String> {
    table
        .columns
        .iter()
        .filter(|c| c.index)
        .map(|c| {
            format!(
                "CREATE {}INDEX {} ON {} ({})",
                if c.unique { "UNIQUE " } else { "" },
                quote_identifier(&index_name(table.name, c.name)),
                quote_identifier(table.name),
                quote_identifier(c.name)
            )
        })
        .collect()
}

/// The `DROP TABLE` statement for `table`, as SQLAlchemy compiles `DropTable(table)`
/// (with its leading newline). Its indexes go with it.
pub fn drop_table_sql(table: &Table) -> String {
    format!("\nDROP TABLE {}", quote_identifier(table.name))
}

/// The tables of a set of models, as SQLAlchemy's `MetaData`: the unit that `create_all` and
/// `drop_all` work on.
///
/// ```
/// use orm::{Metadata, Model};
///
/// #[derive(Model)]
/// #[orm(table = "articles")]
/// struct Article {
///     #[orm(primary_key)]
///     id: Option<i32>,
///     #[orm(foreign_key = "authors.id")]
///     author_id: Option<i32>,
/// }
///
/// #[derive(Model)]
/// #[orm(table = "authors")]
/// struct Author {
///     #[orm(primary_key)]
///     id: Option<i32>,
/// }
///
/// let metadata = Metadata::new(&[Article::TABLE, Author::TABLE]);
/// let order: Vec<&str> = metadata.sorted().unwrap().iter().map(|t| t.name).collect();
/// assert_eq!(order, ["authors", "articles"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    tables: Vec<&'static Table>,
}

impl Metadata {
    /// Metadata of these tables, in declaration order (which breaks ties in the foreign-key
    /// order). A table given twice is kept once.
    pub fn new(tables: &[&'static Table]) -> Metadata {
        let mut metadata = Metadata::default();
        for &table in tables {
            metadata.add(table);
        }
        metadata
    }

    /// Adds a table (once: adding the same table again does nothing).
    pub fn add(&mut self, table: &'static Table) -> &mut Metadata {
        if !self.tables.iter().any(|t| std::ptr::eq(*t, table)) {
            self.tables.push(table);
        }
        self
    }

    /// Adds the table of model `M`: `Metadata::default().with::<Author>().with::<Article>()`.
    pub fn with<M: Model>(mut self) -> Metadata {
        self.add(M::TABLE);
        self
    }

    /// The tables in declaration order.
    pub fn tables(&self) -> &[&'static Table] {
        &self.tables
    }

    /// The table named `name`.
    pub fn table(&self, name: &str) -> Option<&'static Table> {
        self.tables.iter().copied().find(|t| t.name == name)
    }

    /// The tables in dependency levels: the first level references no other table of the
    /// metadata, each later level references only tables of earlier levels. Within a level,
    /// declaration order. References to tables outside the metadata and to the table itself do
    /// not count.
    ///
    /// A foreign-key cycle between tables is an error naming them (SQLAlchemy would break it with
    /// `ALTER TABLE ... ADD CONSTRAINT`; this ORM does not). So are two different tables with one
    /// name.
    pub fn levels(&self) -> Result<Vec<Vec<&'static Table>>, OrmError> {
        let tables = &self.tables;
        for (i, table) in tables.iter().enumerate() {
            if tables[..i].iter().any(|t| t.name == table.name) {
                return Err(OrmError::usage(format!(
                    "two different tables are named {} in one Metadata",
                    table.name
                )));
            }
        }
        // parents[i]: the positions of the tables that table i references.
        let parents: Vec<Vec<usize>> = tables
            .iter()
            .map(|table| {
                table
                    .references()
                    .filter_map(|name| tables.iter().position(|t| t.name == name))
                    .collect()
            })
            .collect();
        // SQLAlchemy's `sort_as_subsets`: each pass takes every remaining table whose parents
        // are all taken, in declaration order.
        let mut remaining: Vec<usize> = (0..tables.len()).collect();
        let mut levels = Vec::new();
        while !remaining.is_empty() {
            let (level, rest): (Vec<usize>, Vec<usize>) = remaining
                .iter()
                .partition(|&&i| parents[i].iter().all(|p| !remaining.contains(p)));
            if level.is_empty() {
                return Err(cycle_error(tables, &parents, rest));
            }
            levels.push(level.iter().map(|&i| tables[i]).collect());
            remaining = rest;
        }
        Ok(levels)
    }

    /// The tables in foreign-key order: every table after the tables it references (the order
    /// `create_all` creates them in, as SQLAlchemy's `sort_tables`).
    pub fn sorted(&self) -> Result<Vec<&'static Table>, OrmError> {
        Ok(self.levels()?.into_iter().flatten().collect())
    }

    /// Every statement `create_all` sends when no table exists yet: for each table in
    /// foreign-key order, its `CREATE TABLE` and then its `CREATE INDEX`es.
    pub fn create_statements(&self) -> Result<Vec<String>, OrmError> {
        Ok(create_statements(&self.sorted()?))
    }

    /// Every statement `drop_all` sends when all the tables exist: `DROP TABLE` in reverse
    /// foreign-key order.
    pub fn drop_statements(&self) -> Result<Vec<String>, OrmError> {
        Ok(self
            .sorted()?
            .into_iter()
            .rev()
            .map(drop_table_sql)
            .collect())
    }

    /// Creates the tables that do not exist yet in the current schema, in foreign-key order,
    /// with their indexes (SQLAlchemy's `metadata.create_all(engine)`, `checkfirst=True`).
    /// Tables that exist are left as they are, even if their columns differ.
    pub async fn create_all(&self, client: &Client) -> Result<(), OrmError> {
        let sorted = self.sorted()?;
        let existing = existing_tables(client, &sorted).await?;
        let missing: Vec<&Table> = sorted
            .into_iter()
            .filter(|t| !existing.iter().any(|name| name == t.name))
            .collect();
        execute_all(client, &create_statements(&missing)).await
    }

    /// Drops the tables that exist in the current schema, in reverse foreign-key order
    /// (SQLAlchemy's `metadata.drop_all(engine)`, `checkfirst=True`).
    pub async fn drop_all(&self, client: &Client) -> Result<(), OrmError> {
        let sorted = self.sorted()?;
        let existing = existing_tables(client, &sorted).await?;
        let statements: Vec<String> = sorted
            .into_iter()
            .rev()
            .filter(|t| existing.iter().any(|name| name == t.name))
            .map(drop_table_sql)
            .collect();
        execute_all(client, &statements).await
    }
}

/// `CREATE TABLE` and `CREATE INDEX` statements for `tables`, in the order given.
fn create_statements(tables: &[&Table]) -> Vec<String> {
    tables
        .iter()
        .flat_map(|t| std::iter::once(create_table_sql(t)).chain(create_index_sql(t)))
        .collect()
}

/// The error for tables whose foreign keys form a cycle. `stuck` are the tables left unsorted:
/// the cycles and the tables that depend on them; the latter are pruned away so the message names
/// the tables of the cycles, sorted by name as SQLAlchemy names them.
fn cycle_error(tables: &[&Table], parents: &[Vec<usize>], mut stuck: Vec<usize>) -> OrmError {
    loop {
        // A stuck table that no other stuck table references is not on a cycle.
        let before = stuck.len();
        let kept: Vec<usize> = stuck
            .iter()
            .copied()
            .filter(|&i| stuck.iter().any(|&j| parents[j].contains(&i)))
            .collect();
        stuck = kept;
        if stuck.len() == before {
            break;
        }
    }
    let mut names: Vec<&str> = stuck.iter().map(|&i| tables[i].name).collect();
    names.sort_unstable();
    OrmError::usage(format!(
        "can't sort tables: an unresolvable foreign key dependency exists between tables: {}",
        names.join(", ")
    ))
}

/// The names, among `tables`, of the tables that exist in the current schema (tables, views and
/// foreign tables count, as in SQLAlchemy's `has_table`).
async fn existing_tables(client: &Client, tables: &[&Table]) -> Result<Vec<String>, OrmError> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = tables.iter().map(|t| t.name).collect();
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = pg_catalog.current_schema() \
             AND c.relname = ANY($1::text[]) \
             AND c.relkind IN ('r', 'p', 'f', 'v', 'm')",
            &[&names],
        )
        .await?;
    rows.iter()
        .map(|row| row.try_get::<_, String>(0).map_err(OrmError::from))
        .collect()
}

/// Sends `statements` as one simple-query message: one round trip, one implicit transaction.
async fn execute_all(client: &Client, statements: &[String]) -> Result<(), OrmError> {
    if statements.is_empty() {
        return Ok(());
    }
    client.batch_execute(&statements.join(";")).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ForeignKey, SqlType};

    fn table(name: &'static str, references: &[&'static str]) -> &'static Table {
        let mut columns = vec![ColumnDef {
            nullable: false,
            primary_key: true,
            autoincrement: true,
            ..ColumnDef::new("id", SqlType::Integer)
        }];
        for &target in references {
            let column: &'static str = Box::leak(format!("{target}_id").into_boxed_str());
            columns.push(ColumnDef {
                foreign_key: Some(ForeignKey {
                    table: target,
                    column: "id",
                }),
                ..ColumnDef::new(column, SqlType::Integer)
            });
        }
        Box::leak(Box::new(Table {
            name,
            columns: Box::leak(columns.into_boxed_slice()),
        }))
    }

    fn names(tables: &[&Table]) -> Vec<&'static str> {
        tables.iter().map(|t| t.name).collect()
    }

    #[test]
    fn sorted_puts_referenced_tables_first_and_keeps_declaration_order() {
        let c = table("c", &[]);
        let a = table("a", &["c"]);
        let b = table("b", &[]);
        let metadata = Metadata::new(&[c, a, b]);
        // SQLAlchemy's sort_as_subsets: level [c, b], then [a].
        assert_eq!(names(&metadata.sorted().unwrap()), ["c", "b", "a"]);
        let levels = metadata.levels().unwrap();
        assert_eq!(levels.len(), 2);
        assert_eq!(names(&levels[0]), ["c", "b"]);

        let metadata = Metadata::new(&[a, b, c]);
        assert_eq!(names(&metadata.sorted().unwrap()), ["b", "c", "a"]);
        assert_eq!(
            metadata.drop_statements().unwrap(),
            ["\nDROP TABLE a", "\nDROP TABLE c", "\nDROP TABLE b"]
        );
    }

    #[test]
    fn self_references_and_outside_tables_do_not_count() {
        let node = table("node", &["node", "elsewhere"]);
        let leaf = table("leaf", &["node"]);
        let metadata = Metadata::new(&[leaf, node, leaf]);
        assert_eq!(metadata.tables().len(), 2);
        assert_eq!(names(&metadata.sorted().unwrap()), ["node", "leaf"]);
    }

    #[test]
    fn cycles_are_errors_naming_the_tables() {
        let x = table("x", &["y"]);
        let y = table("y", &["z"]);
        let z = table("z", &["x"]);
        let free = table("free", &[]);
        let child = table("child", &["x"]);
        let metadata = Metadata::new(&[child, z, free, y, x]);
        let error = metadata.sorted().unwrap_err().to_string();
        assert_eq!(
            error,
            "can't sort tables: an unresolvable foreign key dependency exists between tables: \
             x, y, z"
        );
    }

    #[test]
    fn two_tables_with_one_name_are_an_error() {
        let one = table("same", &[]);
        let two = table("same", &[]);
        let error = Metadata::new(&[one, two]).sorted().unwrap_err();
        assert!(error.to_string().contains("same"), "{error}");
    }

    #[test]
    fn long_index_names_are_cut_as_sqlalchemy_cuts_them() {
        assert_eq!(index_name("articles", "title"), "ix_articles_title");
        // SQLAlchemy 2.0: CreateIndex on Column('a' * 60, index=True) of Table('Weird Table').
        assert_eq!(
            index_name("Weird Table", &"a".repeat(60)),
            "ix_Weird Table_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_b8a3"
        );
    }

    // The expected texts below are SQLAlchemy's own, printed by (SQLAlchemy 2.0.58 and 2.1.9 give
    // the same bytes):
    //
    //     from sqlalchemy.schema import CreateTable, CreateIndex, DropTable
    //     from sqlalchemy.dialects import postgresql
    //     print(repr(str(CreateTable(Article.__table__).compile(dialect=postgresql.dialect()))))
    //
    // for the Python declarations quoted on the models in `crate::test_models`.

    #[test]
    fn the_tutorial_tables_compile_as_in_sqlalchemy() {
        use crate::test_models::{Article, Author};
        // '\nCREATE TABLE authors (\n\tid SERIAL NOT NULL, \n\tfirstname VARCHAR(100), \n\tlastname
        // VARCHAR(100), \n\temail VARCHAR(255) NOT NULL, \n\tjoined TIMESTAMP WITHOUT TIME ZONE,
        // \n\tPRIMARY KEY (id)\n)\n\n'
        assert_eq!(
            create_table_sql(Author::TABLE),
            "\nCREATE TABLE authors (\n\t\
             id SERIAL NOT NULL, \n\t\
             firstname VARCHAR(100), \n\t\
             lastname VARCHAR(100), \n\t\
             email VARCHAR(255) NOT NULL, \n\t\
             joined TIMESTAMP WITHOUT TIME ZONE, \n\t\
             PRIMARY KEY (id)\n)\n\n"
        );
        // '\nCREATE TABLE articles (\n\tid SERIAL NOT NULL, \n\tslug VARCHAR(100) NOT NULL,
        // \n\ttitle VARCHAR(100) NOT NULL, \n\tcreated_on TIMESTAMP WITHOUT TIME ZONE,
        // \n\tupdated_on TIMESTAMP WITHOUT TIME ZONE, \n\tcontent TEXT, \n\tauthor_id INTEGER,
        // \n\tPRIMARY KEY (id), \n\tUNIQUE (slug), \n\tFOREIGN KEY(author_id) REFERENCES authors
        // (id)\n)\n\n'
        assert_eq!(
            create_table_sql(Article::TABLE),
            "\nCREATE TABLE articles (\n\t\
             id SERIAL NOT NULL, \n\t\
             slug VARCHAR(100) NOT NULL, \n\t\
             title VARCHAR(100) NOT NULL, \n\t\
             created_on TIMESTAMP WITHOUT TIME ZONE, \n\t\
             updated_on TIMESTAMP WITHOUT TIME ZONE, \n\t\
             content TEXT, \n\t\
             author_id INTEGER, \n\t\
             PRIMARY KEY (id), \n\t\
             UNIQUE (slug), \n\t\
             FOREIGN KEY(author_id) REFERENCES authors (id)\n)\n\n"
        );
        assert!(create_index_sql(Article::TABLE).is_empty());
        // '\nDROP TABLE articles'
        assert_eq!(drop_table_sql(Article::TABLE), "\nDROP TABLE articles");

        // Declared Article first, as the tutorial does; created authors first.
        let metadata = Metadata::new(&[Article::TABLE, Author::TABLE]);
        assert_eq!(
            metadata.create_statements().unwrap(),
            [
                create_table_sql(Author::TABLE),
                create_table_sql(Article::TABLE)
            ]
        );
        assert_eq!(
            metadata.drop_statements().unwrap(),
            ["\nDROP TABLE articles", "\nDROP TABLE authors"]
        );
    }

    #[test]
    fn every_type_and_attribute_compiles_as_in_sqlalchemy() {
        use crate::test_models::{Every, Parent};
        assert_eq!(
            create_table_sql(Parent::TABLE),
            "\nCREATE TABLE parents (\n\tid BIGSERIAL NOT NULL, \n\tPRIMARY KEY (id)\n)\n\n"
        );
        assert_eq!(
            create_table_sql(Every::TABLE),
            "\nCREATE TABLE every (\n\t\
             id SMALLSERIAL NOT NULL, \n\t\
             flag BOOLEAN NOT NULL, \n\t\
             ratio FLOAT, \n\t\
             price NUMERIC(10, 2) DEFAULT 0, \n\t\
             amount NUMERIC(12), \n\t\
             num NUMERIC, \n\t\
             code VARCHAR(20), \n\t\
             name VARCHAR(50), \n\t\
             vs VARCHAR, \n\t\
             body TEXT DEFAULT 'draft', \n\t\
             day DATE, \n\t\
             at TIMESTAMP WITH TIME ZONE DEFAULT now(), \n\t\
             data BYTEA, \n\t\
             uid UUID, \n\t\
             doc JSON, \n\t\
             big BIGINT NOT NULL, \n\t\
             \"User\" INTEGER, \n\t\
             \"order\" TEXT, \n\t\
             \"select\" INTEGER, \n\t\
             stamp TIMESTAMP WITHOUT TIME ZONE NOT NULL, \n\t\
             type FLOAT, \n\t\
             \"Kind\" VARCHAR(8) DEFAULT 'y', \n\t\
             PRIMARY KEY (id), \n\t\
             UNIQUE (big), \n\t\
             FOREIGN KEY(big) REFERENCES parents (id)\n)\n\n"
        );
        assert_eq!(
            create_index_sql(Every::TABLE),
            [
                "CREATE UNIQUE INDEX ix_every_code ON every (code)",
                "CREATE INDEX ix_every_name ON every (name)",
                "CREATE INDEX \"ix_every_Kind\" ON every (\"Kind\")",
            ]
        );
    }

    #[test]
    fn quoting_keys_and_index_names_compile_as_in_sqlalchemy() {
        use crate::test_models::{Composite, Keyed, Weird};
        assert_eq!(
            create_table_sql(Weird::TABLE),
            "\nCREATE TABLE \"Weird Table\" (\n\t\
             \"User\" INTEGER, \n\t\
             aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa INTEGER, \n\t\
             \"x\"\"y\" INTEGER, \n\t\
             id INTEGER NOT NULL, \n\t\
             id2 INTEGER NOT NULL, \n\t\
             PRIMARY KEY (id, id2)\n)\n\n"
        );
        assert_eq!(
            create_index_sql(Weird::TABLE),
            [
                "CREATE INDEX \"ix_Weird Table_User\" ON \"Weird Table\" (\"User\")",
                "CREATE INDEX \"ix_Weird Table_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_b8a3\" \
                 ON \"Weird Table\" (aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa)",
                "CREATE UNIQUE INDEX \"ix_Weird Table_x\"\"y\" ON \"Weird Table\" (\"x\"\"y\")",
            ]
        );
        assert_eq!(drop_table_sql(Weird::TABLE), "\nDROP TABLE \"Weird Table\"");
        // The explicit autoincrement column leads the primary key.
        assert_eq!(
            create_table_sql(Composite::TABLE),
            "\nCREATE TABLE t2 (\n\t\
             a INTEGER NOT NULL, \n\t\
             b BIGSERIAL NOT NULL, \n\t\
             c INTEGER, \n\t\
             d INTEGER, \n\t\
             PRIMARY KEY (b, a), \n\t\
             FOREIGN KEY(c) REFERENCES \"Weird Table\" (\"User\"), \n\t\
             FOREIGN KEY(d) REFERENCES t2 (a)\n)\n\n"
        );
        assert_eq!(
            create_table_sql(Keyed::TABLE),
            "\nCREATE TABLE t3 (\n\ta VARCHAR(10) NOT NULL, \n\tPRIMARY KEY (a)\n)\n\n"
        );
    }
}
