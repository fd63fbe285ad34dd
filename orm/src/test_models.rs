//! The tutorial's models written out by hand, for the crate's unit tests (the derive macro writes
//! the same).

use chrono::NaiveDateTime;

use crate::error::OrmError;
use crate::expr::Column;
use crate::model::Model;
use crate::relationship::{ManyToOne, OneToMany};
use crate::schema::{ClientDefault, ColumnDef, ForeignKey, SqlType, Table};
use crate::value::{ColumnType, Value, now};

const NOW: ClientDefault = ClientDefault {
    name: "now",
    make: now,
};

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Author {
    pub(crate) id: Option<i32>,
    pub(crate) firstname: Option<String>,
    pub(crate) lastname: Option<String>,
    pub(crate) email: String,
    pub(crate) joined: Option<NaiveDateTime>,
}

static AUTHOR_COLUMNS: [ColumnDef; 5] = [
    ColumnDef {
        nullable: false,
        primary_key: true,
        autoincrement: true,
        ..ColumnDef::new("id", SqlType::Integer)
    },
    ColumnDef::new("firstname", SqlType::String(Some(100))),
    ColumnDef::new("lastname", SqlType::String(Some(100))),
    ColumnDef {
        nullable: false,
        ..ColumnDef::new("email", SqlType::String(Some(255)))
    },
    ColumnDef {
        default: Some(NOW),
        ..ColumnDef::new("joined", SqlType::DateTime { timezone: false })
    },
];

static AUTHORS: Table = Table {
    name: "authors",
    columns: &AUTHOR_COLUMNS,
};

impl Author {
    pub(crate) const ID: Column<Author, Option<i32>> = Column::new(0, "id");
    pub(crate) const EMAIL: Column<Author, String> = Column::new(3, "email");
    pub(crate) const ARTICLES: OneToMany<Author, Article> = OneToMany::new("articles", 6, "author");
}

impl Model for Author {
    const TABLE: &'static Table = &AUTHORS;

    fn values(&self) -> Vec<Value> {
        vec![
            self.id.to_value(),
            self.firstname.to_value(),
            self.lastname.to_value(),
            self.email.to_value(),
            self.joined.to_value(),
        ]
    }

    fn set_value(&mut self, index: usize, value: Value) -> Result<(), OrmError> {
        match index {
            0 => self.id = ColumnType::from_value(value)?,
            1 => self.firstname = ColumnType::from_value(value)?,
            2 => self.lastname = ColumnType::from_value(value)?,
            3 => self.email = ColumnType::from_value(value)?,
            4 => self.joined = ColumnType::from_value(value)?,
            _ => return Err(OrmError::value(format!("authors has no column {index}"))),
        }
        Ok(())
    }

    fn from_values(values: Vec<Value>) -> Result<Self, OrmError> {
        let mut author = Author::default();
        for (i, value) in values.into_iter().enumerate() {
            author.set_value(i, value)?;
        }
        Ok(author)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Article {
    pub(crate) id: Option<i32>,
    pub(crate) slug: String,
    pub(crate) title: String,
    pub(crate) created_on: Option<NaiveDateTime>,
    pub(crate) updated_on: Option<NaiveDateTime>,
    pub(crate) content: Option<String>,
    pub(crate) author_id: Option<i32>,
}

static ARTICLE_COLUMNS: [ColumnDef; 7] = [
    ColumnDef {
        nullable: false,
        primary_key: true,
        autoincrement: true,
        ..ColumnDef::new("id", SqlType::Integer)
    },
    ColumnDef {
        nullable: false,
        unique: true,
        ..ColumnDef::new("slug", SqlType::String(Some(100)))
    },
    ColumnDef {
        nullable: false,
        ..ColumnDef::new("title", SqlType::String(Some(100)))
    },
    ColumnDef {
        default: Some(NOW),
        ..ColumnDef::new("created_on", SqlType::DateTime { timezone: false })
    },
    ColumnDef {
        default: Some(NOW),
        onupdate: Some(NOW),
        ..ColumnDef::new("updated_on", SqlType::DateTime { timezone: false })
    },
    ColumnDef::new("content", SqlType::Text),
    ColumnDef {
        foreign_key: Some(ForeignKey {
            table: "authors",
            column: "id",
        }),
        ..ColumnDef::new("author_id", SqlType::Integer)
    },
];

static ARTICLES: Table = Table {
    name: "articles",
    columns: &ARTICLE_COLUMNS,
};

impl Article {
    pub(crate) const ID: Column<Article, Option<i32>> = Column::new(0, "id");
    pub(crate) const SLUG: Column<Article, String> = Column::new(1, "slug");
    pub(crate) const TITLE: Column<Article, String> = Column::new(2, "title");
    pub(crate) const CONTENT: Column<Article, Option<String>> = Column::new(5, "content");
    pub(crate) const AUTHOR: ManyToOne<Article, Author> = ManyToOne::new("author", 6);
}

impl Model for Article {
    const TABLE: &'static Table = &ARTICLES;

    fn values(&self) -> Vec<Value> {
        vec![
            self.id.to_value(),
            self.slug.to_value(),
            self.title.to_value(),
            self.created_on.to_value(),
            self.updated_on.to_value(),
            self.content.to_value(),
            self.author_id.to_value(),
        ]
    }

    fn set_value(&mut self, index: usize, value: Value) -> Result<(), OrmError> {
        match index {
            0 => self.id = ColumnType::from_value(value)?,
            1 => self.slug = ColumnType::from_value(value)?,
            2 => self.title = ColumnType::from_value(value)?,
            3 => self.created_on = ColumnType::from_value(value)?,
            4 => self.updated_on = ColumnType::from_value(value)?,
            5 => self.content = ColumnType::from_value(value)?,
            6 => self.author_id = ColumnType::from_value(value)?,
            _ => return Err(OrmError::value(format!("articles has no column {index}"))),
        }
        Ok(())
    }

    fn from_values(values: Vec<Value>) -> Result<Self, OrmError> {
        let mut article = Article::default();
        for (i, value) in values.into_iter().enumerate() {
            article.set_value(i, value)?;
        }
        Ok(article)
    }
}
