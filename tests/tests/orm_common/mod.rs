//! Models and helpers shared by the ORM integration tests (`orm_session.rs`, `orm_flush.rs`,
//! `orm_queries.rs`, `orm_relationships.rs`). Each test gets a fresh database with these tables.
//!
//! The models, in SQLAlchemy's terms:
//!
//! - `Author` (`authors`): the tutorial's author, `email` unique; `Author::ARTICLES` is a
//!   one-to-many to `Article` with the backref `Article::AUTHOR` (no delete cascade: deleting an
//!   author sets its articles' `author_id` to NULL, loading them if need be).
//! - `Article` (`articles`): the tutorial's article plus `views` and a server-defaulted `status`;
//!   `Article::COMMENTS` is a one-to-many to `Comment` with the backref `Comment::ARTICLE` and
//!   `cascade_delete` (SQLAlchemy's `cascade="all, delete-orphan"`).
//! - `Comment` (`comments`): the third level (author → article → comment), and a second foreign key
//!   to `authors` declared from the child side with `belongs_to` (`Comment::COMMENTER`).
//! - `Node` (`nodes`): a self-referential tree, `Node::CHILDREN` / `Node::PARENT`, cascading
//!   deletes.
//! - `Tag` (`tags`): related to articles many-to-many through the association model `ArticleTag`
//!   (`article_tags`): `Article::TAGS`, with the backref `Tag::ARTICLES`.
//!
//! Counting statements: the server has no `pg_stat_statements` here, and the engine's echo goes to
//! standard error only. The tests count *table scans* instead, with `pg_stat_xact_user_tables`:
//! the current transaction's per-table counters of the backend that runs it, exact and updated at
//! once (unlike `pg_stat_user_tables`, which is flushed at intervals). Asked through the session,
//! it is the session's own transaction: every SELECT the ORM sends for a model scans that model's
//! table once (one sequential or index scan), so the difference before and after an operation is
//! the number of SELECTs it sent to that table.
//!
//! Which columns an UPDATE sets: `UPDATE OF column` triggers (see [`log_updates`]) fire when the
//! column is in the statement's SET list, whether or not its value changes, so they record exactly
//! the columns the ORM sent, and a statement-level trigger counts the UPDATE statements.

#![allow(dead_code)]

use chrono::NaiveDateTime;
use harness::{AuthMethod, TestServer};
use orm::{Engine, Metadata, Model, Obj, Session, Value};
use pg_wire::pool::PooledClient;

#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "authors")]
#[orm(relationship(name = "articles", target = Article, foreign_key = author_id, backref = "author"))]
pub struct Author {
    #[orm(primary_key)]
    pub id: Option<i32>,
    #[orm(length = 100)]
    pub firstname: Option<String>,
    #[orm(length = 100)]
    pub lastname: Option<String>,
    #[orm(length = 255, unique)]
    pub email: String,
    #[orm(default = orm::now)]
    pub joined: Option<NaiveDateTime>,
}

#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "articles")]
#[orm(many_to_many(
    name = "tags",
    target = Tag,
    through = ArticleTag,
    foreign_key = article_id,
    remote = tag_id,
    backref = "articles"
))]
#[orm(relationship(
    name = "comments",
    target = Comment,
    foreign_key = article_id,
    backref = "article",
    cascade_delete
))]
pub struct Article {
    #[orm(primary_key)]
    pub id: Option<i32>,
    #[orm(length = 100, unique)]
    pub slug: String,
    #[orm(length = 100)]
    pub title: String,
    #[orm(default = orm::now)]
    pub created_on: Option<NaiveDateTime>,
    #[orm(default = orm::now, onupdate = orm::now)]
    pub updated_on: Option<NaiveDateTime>,
    pub content: Option<String>,
    pub views: i32,
    #[orm(length = 20, server_default = "'draft'")]
    pub status: Option<String>,
    #[orm(foreign_key = "authors.id")]
    pub author_id: Option<i32>,
}

#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "comments")]
#[orm(belongs_to(name = "commenter", target = Author, foreign_key = author_id))]
pub struct Comment {
    #[orm(primary_key)]
    pub id: Option<i32>,
    pub body: String,
    #[orm(foreign_key = "articles.id")]
    pub article_id: Option<i32>,
    #[orm(foreign_key = "authors.id")]
    pub author_id: Option<i32>,
}

#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "nodes")]
#[orm(relationship(
    name = "children",
    target = Node,
    foreign_key = parent_id,
    backref = "parent",
    cascade_delete
))]
pub struct Node {
    #[orm(primary_key)]
    pub id: Option<i32>,
    #[orm(length = 50)]
    pub name: String,
    #[orm(foreign_key = "nodes.id")]
    pub parent_id: Option<i32>,
}

#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "tags")]
pub struct Tag {
    #[orm(primary_key)]
    pub id: Option<i32>,
    #[orm(length = 50, unique)]
    pub name: String,
}

#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "article_tags")]
pub struct ArticleTag {
    #[orm(primary_key, foreign_key = "articles.id")]
    pub article_id: i32,
    #[orm(primary_key, foreign_key = "tags.id")]
    pub tag_id: i32,
}

/// An engine on a fresh database holding the tables of every model.
pub async fn engine() -> Engine {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let conninfo = server.connection_string(server.superuser(), None, &db, false);
    let engine = orm::create_engine(&conninfo).unwrap();
    Metadata::new(&[
        Node::TABLE,
        Comment::TABLE,
        Article::TABLE,
        Author::TABLE,
        Tag::TABLE,
        ArticleTag::TABLE,
    ])
    .create_all(&engine.pool().get().await.unwrap())
    .await
    .unwrap();
    engine
}

/// A connection of its own (not the session's), for looking at committed data.
pub async fn other(engine: &Engine) -> PooledClient {
    engine.pool().get().await.unwrap()
}

pub fn author(name: &str) -> Obj<Author> {
    Obj::new(Author {
        firstname: Some(name.into()),
        lastname: Some(format!("{name}son")),
        email: format!("{name}@example.com"),
        ..Default::default()
    })
}

pub fn article(slug: &str, title: &str) -> Obj<Article> {
    Obj::new(Article {
        slug: slug.into(),
        title: title.into(),
        content: Some("Lorem ipsum".into()),
        ..Default::default()
    })
}

pub fn comment(body: &str) -> Obj<Comment> {
    Obj::new(Comment {
        body: body.into(),
        ..Default::default()
    })
}

pub fn tag(name: &str) -> Obj<Tag> {
    Obj::new(Tag {
        name: name.into(),
        ..Default::default()
    })
}

pub fn node(name: &str) -> Obj<Node> {
    Obj::new(Node {
        name: name.into(),
        ..Default::default()
    })
}

/// The number of scans of `table` in the session's current transaction (see the module docs):
/// the number of SELECTs the session sent to it so far in this transaction.
pub async fn scans(session: &mut Session, table: &str) -> i64 {
    let rows = session
        .execute_raw(
            "SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0)::int8 \
             FROM pg_stat_xact_user_tables WHERE relname::text = $1",
            &[Value::Text(table.into())],
        )
        .await
        .unwrap();
    rows[0].get(0)
}

/// Installs, on `table`, an `AFTER UPDATE OF <column>` row trigger per column that records
/// `(table, column, id)` in `update_log`, and a statement-level trigger that counts UPDATE
/// statements in `update_statements`. See [`updated_columns`] and [`update_statements`].
pub async fn log_updates(client: &PooledClient, table: &str) {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS update_log (n serial, tbl text, col text, row_id int); \
             CREATE TABLE IF NOT EXISTS update_statements (n serial, tbl text); \
             CREATE OR REPLACE FUNCTION log_column() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN INSERT INTO update_log (tbl, col, row_id) VALUES (TG_TABLE_NAME, TG_ARGV[0], NEW.id); \
             RETURN NEW; END $$; \
             CREATE OR REPLACE FUNCTION log_statement() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN INSERT INTO update_statements (tbl) VALUES (TG_TABLE_NAME); RETURN NULL; END $$;",
        )
        .await
        .unwrap();
    let columns: Vec<String> = client
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = $1::text::regclass \
             AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&table],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut sql = format!(
        "CREATE TRIGGER count_updates AFTER UPDATE ON {table} \
         FOR EACH STATEMENT EXECUTE FUNCTION log_statement();"
    );
    for column in columns {
        sql.push_str(&format!(
            "CREATE TRIGGER log_{column} AFTER UPDATE OF {column} ON {table} \
             FOR EACH ROW EXECUTE FUNCTION log_column('{column}');"
        ));
    }
    client.batch_execute(&sql).await.unwrap();
}

/// The columns the UPDATEs of `table` set so far (committed), sorted and deduplicated, and
/// forgets them.
pub async fn updated_columns(client: &PooledClient, table: &str) -> Vec<String> {
    let columns = client
        .query(
            "SELECT DISTINCT col FROM update_log WHERE tbl = $1 ORDER BY col",
            &[&table],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    client
        .execute("DELETE FROM update_log WHERE tbl = $1", &[&table])
        .await
        .unwrap();
    columns
}

/// The number of UPDATE statements run on `table` so far (committed), and forgets them.
pub async fn update_statements(client: &PooledClient, table: &str) -> i64 {
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM update_statements WHERE tbl = $1",
            &[&table],
        )
        .await
        .unwrap()
        .get(0);
    client
        .execute("DELETE FROM update_statements WHERE tbl = $1", &[&table])
        .await
        .unwrap();
    n
}

/// Every row of `table` as seen by another connection: `SELECT <columns> ... ORDER BY id`.
pub async fn committed_i32(client: &PooledClient, sql: &str) -> Vec<Option<i32>> {
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The values of one `String` column, as another connection sees them.
pub async fn committed_strings(client: &PooledClient, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}
