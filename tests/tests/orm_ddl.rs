//! The ORM's schema DDL against a real server: `create_all` creates the tutorial's tables in
//! foreign-key order with the columns, types, NOT NULL, UNIQUE and FOREIGN KEY constraints
//! SQLAlchemy would create, skips tables that exist, runs as one transaction; `drop_all` drops
//! them in reverse order. A model with every type and attribute is created, filled through its
//! column values and read back; identifiers that need quotes are quoted as the server needs.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use harness::{AuthMethod, TestServer};
use orm::{Metadata, Model, Value};
use pg_wire::Client;
use pg_wire::types::{Numeric, ToSql};

async fn client() -> Client {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let conninfo = server.connection_string(server.superuser(), None, &db, false);
    Client::connect(&conninfo.parse().unwrap()).await.unwrap()
}

#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "authors")]
struct Author {
    #[orm(primary_key)]
    id: Option<i32>,
    #[orm(length = 100)]
    firstname: Option<String>,
    #[orm(length = 100)]
    lastname: Option<String>,
    #[orm(length = 255)]
    email: String,
    #[orm(default = orm::now)]
    joined: Option<NaiveDateTime>,
}

#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "articles")]
struct Article {
    #[orm(primary_key)]
    id: Option<i32>,
    #[orm(length = 100, unique)]
    slug: String,
    #[orm(length = 100)]
    title: String,
    #[orm(default = orm::now)]
    created_on: Option<NaiveDateTime>,
    #[orm(default = orm::now, onupdate = orm::now)]
    updated_on: Option<NaiveDateTime>,
    content: Option<String>,
    #[orm(foreign_key = "authors.id")]
    author_id: Option<i32>,
}

/// `(column, type, NOT NULL, default)` for each column of `table`, in order.
async fn columns(client: &Client, table: &str) -> Vec<(String, String, bool, Option<String>)> {
    client
        .query(
            "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
             a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid) \
             FROM pg_catalog.pg_attribute a \
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&table],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect()
}

/// The constraints of `table` as the server prints them, sorted.
async fn constraints(client: &Client, table: &str) -> Vec<String> {
    let mut out: Vec<String> = client
        .query(
            "SELECT pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint \
             WHERE conrelid = $1::text::regclass AND contype IN ('p', 'u', 'f')",
            &[&table],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    out.sort();
    out
}

/// The index definitions of `table` other than those of constraints, sorted.
async fn indexes(client: &Client, table: &str) -> Vec<String> {
    let mut out: Vec<String> = client
        .query(
            "SELECT pg_catalog.pg_get_indexdef(i.indexrelid) FROM pg_catalog.pg_index i \
             WHERE i.indrelid = $1::text::regclass AND NOT EXISTS \
             (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = i.indexrelid)",
            &[&table],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    out.sort();
    out
}

/// The oids of the tables named, by name, in the current schema (absent ones left out).
async fn oids(client: &Client, names: &[&str]) -> Vec<(String, u32)> {
    client
        .query(
            "SELECT relname::text, oid FROM pg_catalog.pg_class \
             WHERE relname = ANY($1::text[]) AND relnamespace = 'public'::regnamespace \
             AND relkind = 'r' ORDER BY relname",
            &[&names],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

fn owned(
    columns: &[(&str, &str, bool, Option<&str>)],
) -> Vec<(String, String, bool, Option<String>)> {
    columns
        .iter()
        .map(|(n, t, nn, d)| (n.to_string(), t.to_string(), *nn, d.map(str::to_owned)))
        .collect()
}

#[tokio::test]
async fn create_all_creates_the_tutorial_tables_in_foreign_key_order() {
    let client = client().await;
    // Article is declared first, as in the tutorial: it references authors, which must exist
    // first, or its CREATE TABLE would fail.
    let metadata = Metadata::new(&[Article::TABLE, Author::TABLE]);
    metadata.create_all(&client).await.unwrap();

    assert_eq!(
        columns(&client, "authors").await,
        owned(&[
            (
                "id",
                "integer",
                true,
                Some("nextval('authors_id_seq'::regclass)")
            ),
            ("firstname", "character varying(100)", false, None),
            ("lastname", "character varying(100)", false, None),
            ("email", "character varying(255)", true, None),
            ("joined", "timestamp without time zone", false, None),
        ])
    );
    assert_eq!(
        columns(&client, "articles").await,
        owned(&[
            (
                "id",
                "integer",
                true,
                Some("nextval('articles_id_seq'::regclass)")
            ),
            ("slug", "character varying(100)", true, None),
            ("title", "character varying(100)", true, None),
            ("created_on", "timestamp without time zone", false, None),
            ("updated_on", "timestamp without time zone", false, None),
            ("content", "text", false, None),
            ("author_id", "integer", false, None),
        ])
    );
    assert_eq!(constraints(&client, "authors").await, ["PRIMARY KEY (id)"]);
    assert_eq!(
        constraints(&client, "articles").await,
        [
            "FOREIGN KEY (author_id) REFERENCES authors(id)",
            "PRIMARY KEY (id)",
            "UNIQUE (slug)",
        ]
    );
    assert!(indexes(&client, "articles").await.is_empty());

    // The constraints hold.
    client
        .batch_execute(
            "INSERT INTO authors (email) VALUES ('a@example.com'); \
             INSERT INTO articles (slug, title, author_id) VALUES ('s', 't', 1)",
        )
        .await
        .unwrap();
    let error = client
        .execute(
            "INSERT INTO articles (slug, title) VALUES ('s', 'again')",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&pg_wire::SqlState::UNIQUE_VIOLATION));
    let error = client
        .execute(
            "INSERT INTO articles (slug, title, author_id) VALUES ('x', 'y', 99)",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        Some(&pg_wire::SqlState::FOREIGN_KEY_VIOLATION)
    );
}

#[tokio::test]
async fn create_all_skips_existing_tables_and_drop_all_removes_them() {
    let client = client().await;
    let metadata = Metadata::new(&[Article::TABLE, Author::TABLE]);
    metadata.create_all(&client).await.unwrap();
    let before = oids(&client, &["articles", "authors"]).await;
    assert_eq!(before.len(), 2);
    client
        .batch_execute("INSERT INTO authors (email) VALUES ('kept@example.com')")
        .await
        .unwrap();

    // A second create_all is a no-op: the same tables, the data still there.
    metadata.create_all(&client).await.unwrap();
    assert_eq!(oids(&client, &["articles", "authors"]).await, before);
    let row = client
        .query_one("SELECT count(*) FROM authors", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);

    // With one table gone, create_all creates only that one.
    client.batch_execute("DROP TABLE articles").await.unwrap();
    metadata.create_all(&client).await.unwrap();
    let after = oids(&client, &["articles", "authors"]).await;
    assert_eq!(after[1], before[1], "authors untouched");
    assert_ne!(after[0], before[0], "articles created again");

    // drop_all drops articles first (authors is referenced by it, and holds a row it references).
    client
        .batch_execute("INSERT INTO articles (slug, title, author_id) VALUES ('s', 't', 1)")
        .await
        .unwrap();
    metadata.drop_all(&client).await.unwrap();
    assert!(oids(&client, &["articles", "authors"]).await.is_empty());
    // And again: nothing to drop, no error.
    metadata.drop_all(&client).await.unwrap();

    // Only authors exists: drop_all drops it and leaves the rest alone.
    Metadata::new(&[Author::TABLE])
        .create_all(&client)
        .await
        .unwrap();
    metadata.drop_all(&client).await.unwrap();
    assert!(oids(&client, &["articles", "authors"]).await.is_empty());
}

#[tokio::test]
async fn create_all_inside_a_transaction_and_in_another_schema() {
    let mut client = client().await;
    // Inside the caller's transaction: rolled back with it.
    let transaction = client.transaction().await.unwrap();
    Metadata::new(&[Author::TABLE])
        .create_all(&transaction)
        .await
        .unwrap();
    assert_eq!(oids(&transaction, &["authors"]).await.len(), 1);
    transaction.rollback().await.unwrap();
    assert!(oids(&client, &["authors"]).await.is_empty());

    // The check looks at the current schema: a table of that name elsewhere does not count.
    client
        .batch_execute(
            "CREATE SCHEMA other; CREATE TABLE other.authors (x int); \
             SET search_path = public, other",
        )
        .await
        .unwrap();
    Metadata::new(&[Author::TABLE])
        .create_all(&client)
        .await
        .unwrap();
    assert_eq!(oids(&client, &["authors"]).await.len(), 1);
}

#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "broken")]
struct Broken {
    #[orm(primary_key)]
    id: Option<i32>,
    #[orm(foreign_key = "nowhere.id")]
    nowhere_id: Option<i32>,
}

#[tokio::test]
async fn a_failing_create_all_creates_nothing() {
    let client = client().await;
    let error = Metadata::new(&[Author::TABLE, Broken::TABLE])
        .create_all(&client)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&pg_wire::SqlState::UNDEFINED_TABLE));
    // authors was created in the same implicit transaction, and rolled back with it.
    assert!(oids(&client, &["authors", "broken"]).await.is_empty());
}

#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "parents")]
struct Parent {
    #[orm(primary_key)]
    id: Option<i64>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "every")]
struct Every {
    #[orm(primary_key)]
    id: Option<i16>,
    #[orm(default_value = true)]
    flag: bool,
    ratio: Option<f64>,
    #[orm(numeric(precision = 10, scale = 2), server_default = "0")]
    price: Option<Numeric>,
    #[orm(numeric(precision = 12))]
    amount: Option<Numeric>,
    num: Option<Numeric>,
    #[orm(length = 20, unique, index)]
    code: Option<String>,
    #[orm(length = 50, index)]
    name: Option<String>,
    #[orm(sql_type = String)]
    vs: Option<String>,
    #[orm(sql_type = Text, server_default = "'draft'")]
    body: Option<String>,
    day: Option<NaiveDate>,
    #[orm(timezone, server_default = "now()")]
    at: Option<DateTime<Utc>>,
    data: Option<Vec<u8>>,
    uid: Option<uuid::Uuid>,
    doc: Option<serde_json::Value>,
    #[orm(foreign_key = "parents.id", unique)]
    big: i64,
    #[orm(column = "User", default_value = 5)]
    user: Option<i32>,
    #[orm(default_value = "it's")]
    order: Option<String>,
    #[orm(onupdate_value = 7)]
    select: Option<i32>,
    #[orm(nullable = false, default = orm::now)]
    stamp: Option<NaiveDateTime>,
    #[orm(default_value = 1.5)]
    r#type: Option<f64>,
    #[orm(
        column = "Kind",
        length = 8,
        default_value = "x",
        server_default = "'y'",
        index
    )]
    kind: Option<String>,
}

#[tokio::test]
async fn every_type_and_attribute_is_created_and_holds_its_values() {
    let client = client().await;
    let metadata = Metadata::new(&[Every::TABLE, Parent::TABLE]);
    metadata.create_all(&client).await.unwrap();
    assert_eq!(
        columns(&client, "every").await,
        owned(&[
            (
                "id",
                "smallint",
                true,
                Some("nextval('every_id_seq'::regclass)")
            ),
            ("flag", "boolean", true, None),
            ("ratio", "double precision", false, None),
            ("price", "numeric(10,2)", false, Some("0")),
            ("amount", "numeric(12,0)", false, None),
            ("num", "numeric", false, None),
            ("code", "character varying(20)", false, None),
            ("name", "character varying(50)", false, None),
            ("vs", "character varying", false, None),
            ("body", "text", false, Some("'draft'::text")),
            ("day", "date", false, None),
            ("at", "timestamp with time zone", false, Some("now()")),
            ("data", "bytea", false, None),
            ("uid", "uuid", false, None),
            ("doc", "json", false, None),
            ("big", "bigint", true, None),
            ("User", "integer", false, None),
            ("order", "text", false, None),
            ("select", "integer", false, None),
            ("stamp", "timestamp without time zone", true, None),
            ("type", "double precision", false, None),
            (
                "Kind",
                "character varying(8)",
                false,
                Some("'y'::character varying")
            ),
        ])
    );
    assert_eq!(
        columns(&client, "parents").await,
        owned(&[(
            "id",
            "bigint",
            true,
            Some("nextval('parents_id_seq'::regclass)")
        )])
    );
    assert_eq!(
        constraints(&client, "every").await,
        [
            "FOREIGN KEY (big) REFERENCES parents(id)",
            "PRIMARY KEY (id)",
            "UNIQUE (big)",
        ]
    );
    assert_eq!(
        indexes(&client, "every").await,
        [
            "CREATE INDEX \"ix_every_Kind\" ON public.every USING btree (\"Kind\")",
            "CREATE INDEX ix_every_name ON public.every USING btree (name)",
            "CREATE UNIQUE INDEX ix_every_code ON public.every USING btree (code)",
        ]
    );

    // Every column's value binds as a parameter of the column's type and reads back as itself.
    client
        .batch_execute("INSERT INTO parents DEFAULT VALUES")
        .await
        .unwrap();
    let every = Every {
        id: None,
        flag: false,
        ratio: Some(0.25),
        price: Some("12.50".parse().unwrap()),
        amount: Some("123456789012".parse().unwrap()),
        num: Some("-1.000001".parse().unwrap()),
        code: Some("c".into()),
        name: None,
        vs: Some("v".into()),
        body: None,
        day: NaiveDate::from_ymd_opt(2024, 2, 29),
        at: Some(Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap()),
        data: Some(vec![0, 255]),
        uid: Some(uuid::Uuid::from_u128(42)),
        doc: Some(serde_json::json!({"k": [1, 2]})),
        big: 1,
        user: Some(5),
        order: Some("it's".into()),
        select: None,
        stamp: NaiveDate::from_ymd_opt(2022, 8, 29)
            .unwrap()
            .and_hms_opt(0, 0, 0),
        r#type: Some(1.5),
        kind: Some("x".into()),
    };
    let table = Every::TABLE;
    // All columns but the SERIAL id.
    let values = every.values();
    let names: Vec<String> = table.columns[1..]
        .iter()
        .map(|c| orm::ident::quote_identifier(c.name).into_owned())
        .collect();
    let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO every ({}) VALUES ({}) RETURNING *",
        names.join(", "),
        placeholders.join(", ")
    );
    let params: Vec<&(dyn ToSql + Sync)> = values[1..]
        .iter()
        .map(|v| v as &(dyn ToSql + Sync))
        .collect();
    let row = client.query_one(sql.as_str(), &params).await.unwrap();
    let read: Vec<Value> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| Value::from_row(&row, i, c.sql_type).unwrap())
        .collect();
    let back = Every::from_values(read).unwrap();
    assert_eq!(
        back,
        Every {
            id: Some(1),
            ..every
        }
    );
}

#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "Weird Table")]
struct Weird {
    #[orm(column = "User", index)]
    user: Option<i32>,
    #[orm(index)]
    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: Option<i32>,
    #[orm(column = "x\"y", index, unique)]
    xy: Option<i32>,
    #[orm(primary_key, autoincrement = false)]
    id: i32,
    #[orm(primary_key)]
    id2: i32,
}

#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "t2")]
struct Composite {
    #[orm(primary_key)]
    a: i32,
    #[orm(primary_key, autoincrement = true)]
    b: Option<i64>,
    #[orm(foreign_key = "Weird Table.User")]
    c: Option<i32>,
}

#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "order")]
struct Order {
    #[orm(primary_key, length = 10)]
    key: String,
    #[orm(foreign_key = "Weird Table.User")]
    select: Option<i32>,
    /// A reference to the table itself.
    #[orm(foreign_key = "order.key", length = 10)]
    parent: Option<String>,
}

#[tokio::test]
async fn quoted_identifiers_composite_keys_and_long_index_names() {
    let client = client().await;
    // Composite references "Weird Table".User, which must be unique for a foreign key: make it so
    // by hand first, then let create_all skip that table.
    let metadata = Metadata::new(&[Order::TABLE, Composite::TABLE, Weird::TABLE]);
    let order: Vec<&str> = metadata.sorted().unwrap().iter().map(|t| t.name).collect();
    // Weird Table first; then order and t2, both referencing it, in declaration order.
    assert_eq!(order, ["Weird Table", "order", "t2"]);
    Metadata::new(&[Weird::TABLE])
        .create_all(&client)
        .await
        .unwrap();
    client
        .batch_execute(
            "ALTER TABLE \"Weird Table\" ADD UNIQUE (\"User\"); \
             INSERT INTO \"Weird Table\" (\"User\", id, id2) VALUES (1, 1, 1)",
        )
        .await
        .unwrap();
    metadata.create_all(&client).await.unwrap();

    assert_eq!(
        indexes(&client, "\"Weird Table\"").await,
        [
            "CREATE INDEX \"ix_Weird Table_User\" ON public.\"Weird Table\" USING btree (\"User\")",
            "CREATE INDEX \"ix_Weird Table_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_b8a3\" ON \
             public.\"Weird Table\" USING btree \
             (aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa)",
            "CREATE UNIQUE INDEX \"ix_Weird Table_x\"\"y\" ON public.\"Weird Table\" USING btree \
             (\"x\"\"y\")",
        ]
    );
    assert_eq!(
        constraints(&client, "t2").await,
        [
            "FOREIGN KEY (c) REFERENCES \"Weird Table\"(\"User\")",
            "PRIMARY KEY (b, a)",
        ]
    );
    assert_eq!(
        constraints(&client, "\"order\"").await,
        [
            "FOREIGN KEY (\"select\") REFERENCES \"Weird Table\"(\"User\")",
            "FOREIGN KEY (parent) REFERENCES \"order\"(key)",
            "PRIMARY KEY (key)",
        ]
    );
    assert_eq!(
        columns(&client, "t2").await,
        owned(&[
            ("a", "integer", true, None),
            ("b", "bigint", true, Some("nextval('t2_b_seq'::regclass)")),
            ("c", "integer", false, None),
        ])
    );
    assert_eq!(
        columns(&client, "\"order\"").await,
        owned(&[
            ("key", "character varying(10)", true, None),
            ("select", "integer", false, None),
            ("parent", "character varying(10)", false, None),
        ])
    );
    metadata.drop_all(&client).await.unwrap();
    assert!(
        oids(&client, &["order", "t2", "Weird Table"])
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn every_word_the_server_reserves_is_quoted() {
    let client = client().await;
    // R: reserved; T: reserved, but can be a function or type name. Neither can name a column
    // unquoted.
    let rows = client
        .query(
            "SELECT word FROM pg_catalog.pg_get_keywords() WHERE catcode IN ('R', 'T')",
            &[],
        )
        .await
        .unwrap();
    assert!(rows.len() > 50);
    for row in rows {
        let word: String = row.get(0);
        assert!(
            orm::ident::needs_quotes(&word),
            "{word} is reserved by the server but not quoted"
        );
    }
}
