//! Models for the crate's own tests: the tutorial's Author and Article, a model using every
//! attribute and type, and tables that exercise quoting, composite keys and index names. Each
//! mirrors a SQLAlchemy declaration whose compiled DDL and repr the tests compare against (the
//! Python is in the comments).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use pg_wire::types::Numeric;

use crate::Model;

/// ```python
/// class Author(Base):
///     __tablename__ = 'authors'
///     id = Column(Integer(), primary_key=True)
///     firstname = Column(String(100))
///     lastname = Column(String(100))
///     email = Column(String(255), nullable=False)
///     joined = Column(DateTime(), default=datetime.now)
/// ```
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
    #[orm(length = 255)]
    pub email: String,
    #[orm(default = orm::now)]
    pub joined: Option<NaiveDateTime>,
}

/// ```python
/// class Article(Base):
///     __tablename__ = 'articles'
///     id = Column(Integer(), primary_key=True)
///     slug = Column(String(100), nullable=False, unique=True)
///     title = Column(String(100), nullable=False)
///     created_on = Column(DateTime(), default=datetime.now)
///     updated_on = Column(DateTime(), default=datetime.now, onupdate=datetime.now)
///     content = Column(Text)
///     author_id = Column(Integer(), ForeignKey('authors.id'))
/// ```
#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "articles")]
#[orm(many_to_many(name = "tags", target = Tag, through = ArticleTag, foreign_key = article_id, remote = tag_id, backref = "articles"))]
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
    #[orm(foreign_key = "authors.id")]
    pub author_id: Option<i32>,
}

/// ```python
/// class Parent(Base):
///     __tablename__ = 'parents'
///     id = Column(BigInteger(), primary_key=True)
/// ```
#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "parents")]
pub struct Parent {
    #[orm(primary_key)]
    pub id: Option<i64>,
}

/// Every attribute and every SQL type.
///
/// ```python
/// class Every(Base):
///     __tablename__ = 'every'
///     id = Column(SmallInteger(), primary_key=True)
///     flag = Column(Boolean(), nullable=False, default=True)
///     ratio = Column(Float())
///     price = Column(Numeric(10, 2), server_default=text("0"))
///     amount = Column(Numeric(12))
///     num = Column(Numeric())
///     code = Column(String(20), unique=True, index=True)
///     name = Column(String(50), index=True)
///     vs = Column(String())
///     body = Column(Text(), server_default=text("'draft'"))
///     day = Column(Date())
///     at = Column(DateTime(timezone=True), server_default=text("now()"))
///     data = Column(LargeBinary())
///     uid = Column(Uuid())
///     doc = Column(JSON())
///     big = Column(BigInteger(), ForeignKey('parents.id'), nullable=False, unique=True)
///     user = Column("User", Integer(), default=5)
///     order = Column(Text(), default="it's")
///     select = Column("select", Integer(), onupdate=7)
///     stamp = Column(DateTime(), nullable=False, default=datetime.now)
///     type = Column(Float(), default=1.5)
///     Kind = Column(String(8), default="x", server_default=text("'y'"), index=True)
/// ```
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "every")]
pub struct Every {
    #[orm(primary_key)]
    pub id: Option<i16>,
    #[orm(default_value = true)]
    pub flag: bool,
    pub ratio: Option<f64>,
    #[orm(numeric(precision = 10, scale = 2), server_default = "0")]
    pub price: Option<Numeric>,
    #[orm(numeric(precision = 12))]
    pub amount: Option<Numeric>,
    pub num: Option<Numeric>,
    #[orm(length = 20, unique, index)]
    pub code: Option<String>,
    #[orm(length = 50, index)]
    pub name: Option<String>,
    #[orm(sql_type = String)]
    pub vs: Option<String>,
    #[orm(sql_type = Text, server_default = "'draft'")]
    pub body: Option<String>,
    pub day: Option<NaiveDate>,
    #[orm(timezone, server_default = "now()")]
    pub at: Option<DateTime<Utc>>,
    pub data: Option<Vec<u8>>,
    pub uid: Option<uuid::Uuid>,
    pub doc: Option<serde_json::Value>,
    #[orm(foreign_key = "parents.id", unique)]
    pub big: i64,
    #[orm(column = "User", default_value = 5)]
    pub user: Option<i32>,
    #[orm(default_value = "it's")]
    pub order: Option<String>,
    #[orm(onupdate_value = 7)]
    pub select: Option<i32>,
    #[orm(nullable = false, default = orm::now)]
    pub stamp: Option<NaiveDateTime>,
    #[orm(default_value = 1.5)]
    pub r#type: Option<f64>,
    #[orm(
        column = "Kind",
        length = 8,
        default_value = "x",
        server_default = "'y'",
        index
    )]
    pub kind: Option<String>,
}

/// Identifiers that need quotes, a long index name, a composite key without autoincrement.
///
/// ```python
/// Table('Weird Table', m, Column('User', Integer, index=True),
///       Column('a'*60, Integer, index=True), Column('x"y', Integer, index=True, unique=True),
///       Column('id', Integer, primary_key=True, autoincrement=False),
///       Column('id2', Integer, primary_key=True))
/// ```
#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "Weird Table")]
pub struct Weird {
    #[orm(column = "User", index)]
    pub user: Option<i32>,
    #[orm(index)]
    pub aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: Option<i32>,
    #[orm(column = "x\"y", index, unique)]
    pub xy: Option<i32>,
    #[orm(primary_key, autoincrement = false)]
    pub id: i32,
    #[orm(primary_key)]
    pub id2: i32,
}

/// A composite key with an explicit autoincrement column, and foreign keys to a quoted table and
/// to itself.
///
/// ```python
/// Table('t2', m, Column('a', Integer, primary_key=True),
///       Column('b', BigInteger, primary_key=True, autoincrement=True),
///       Column('c', Integer, ForeignKey('Weird Table.User')), Column('d', Integer, ForeignKey('t2.a')))
/// ```
#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "t2")]
pub struct Composite {
    #[orm(primary_key)]
    pub a: i32,
    #[orm(primary_key, autoincrement = true)]
    pub b: Option<i64>,
    #[orm(foreign_key = "Weird Table.User")]
    pub c: Option<i32>,
    #[orm(foreign_key = "t2.a")]
    pub d: Option<i32>,
}

/// A string primary key: not autoincrement.
///
/// ```python
/// Table('t3', m, Column('a', String(10), primary_key=True))
/// ```
#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "t3")]
pub struct Keyed {
    #[orm(primary_key, length = 10)]
    pub a: String,
}

/// A tag of articles, related to them many-to-many through `article_tags`.
#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "tags")]
pub struct Tag {
    #[orm(primary_key)]
    pub id: Option<i32>,
    #[orm(length = 50, unique)]
    pub name: String,
}

/// The association table of articles and tags.
#[derive(Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "article_tags")]
pub struct ArticleTag {
    #[orm(primary_key, foreign_key = "articles.id")]
    pub article_id: i32,
    #[orm(primary_key, foreign_key = "tags.id")]
    pub tag_id: i32,
}
