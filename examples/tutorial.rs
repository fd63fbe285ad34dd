//! The SQLAlchemy ORM tutorial this project grew from, step by step, in Rust: connect through a
//! socket directory, declare `Article` and `Author`, `create_all`, add, commit, flush, update
//! attributes and rows, and query. Every `println!` matches a `print` of the tutorial, so run
//! against an empty database it prints what the Python program prints.
//!
//! ```text
//! cargo run --example tutorial                       # a throwaway local server
//! DATABASE_URL=postgresql://... cargo run --example tutorial
//! ECHO=1 cargo run --example tutorial               # and log the SQL, as echo=True
//! ```

use std::process::ExitCode;

use chrono::{NaiveDate, NaiveDateTime};
use orm::{Engine, Metadata, Model, Obj, select, select_columns, sessionmaker};
use pg_examples::Database;
use pg_wire::error::report;

/// `class Article(Base)`: `__tablename__ = 'articles'` and its columns.
#[derive(Model, Debug, Clone, Default)]
#[orm(table = "articles")]
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

/// `class Author(Base)`, with `articles = relationship('Article', backref='author')`: the one
/// declaration gives `Author::ARTICLES` and `Article::AUTHOR`.
#[derive(Model, Debug, Clone, Default)]
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

const LOREM: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // url = URL.create(drivername="postgresql", username="coderpad",
    //                  host="/tmp/postgresql/socket", database="coderpad")
    // engine = create_engine(url)
    let database = Database::from_env_or_throwaway("coderpad").await?;
    let engine = match &database {
        Database::Throwaway { url, .. } => Engine::from_url(url)?,
        Database::Existing(config) => Engine::new(config.clone(), Default::default()),
    };
    // create_engine(url, echo=True): ECHO=1 logs the SQL on standard error.
    let engine = engine.echo(std::env::var_os("ECHO").is_some_and(|v| v == "1"));

    // Base.metadata.create_all(engine)
    let metadata = Metadata::new(&[Author::TABLE, Article::TABLE]);
    metadata.create_all(&*engine.pool().get().await?).await?;

    // Session = sessionmaker(bind=engine); session = Session()
    let session_factory = sessionmaker(&engine);
    let mut session = session_factory.session();

    let ezz = Obj::new(Author {
        firstname: Some("Ezzeddin".into()),
        lastname: Some("Abdullah".into()),
        email: "ezzeddin@example.com".into(),
        ..Default::default()
    });
    let ahmed = Obj::new(Author {
        firstname: Some("Ahmed".into()),
        lastname: Some("Mohammed".into()),
        email: "ahmed@example.com".into(),
        ..Default::default()
    });

    let article1 = Obj::new(Article {
        slug: "clean-python".into(),
        title: "How to Write Clean Python".into(),
        content: Some(LOREM.into()),
        ..Default::default()
    });
    article1.set(Article::AUTHOR, &ezz);
    session.add(&article1);
    session.commit().await?;
    println!("{}", article1.read().title);

    let article2 = Obj::new(Article {
        slug: "postgresql-system-catalogs-metadata".into(),
        title: "How to Get Metadata from PostgreSQL System Catalogs".into(),
        content: Some(LOREM.into()),
        created_on: NaiveDate::from_ymd_opt(2022, 8, 29).and_then(|d| d.and_hms_opt(0, 0, 0)),
        ..Default::default()
    });
    article2.set(Article::AUTHOR, &ezz);
    let article3 = Obj::new(Article {
        slug: "sqlalchemy-postgres".into(),
        title: "Interacting with Databases using SQLAlchemy with PostgreSQL".into(),
        content: Some(LOREM.into()),
        ..Default::default()
    });
    article3.set(Article::AUTHOR, &ahmed);
    session.add(&article2);
    session.add(&article3);
    session.flush().await?;
    println!("{}", article1.read().id.unwrap_or_default());
    println!("{}", article2.read().title);
    println!("{}", article3.read().slug);

    // Update an object's attribute.
    article2.write().slug = "postgresql-system-catalogs".into();
    println!("{}", article2.read().slug);

    // article_query = session.query(Article)
    // clean_py_article = article_query.filter(Article.slug == "clean-python").first()
    let article_query = select::<Article>();
    let clean_py_article = session
        .first(
            &article_query
                .clone()
                .filter(Article::SLUG.eq("clean-python")),
        )
        .await?
        .ok_or("no clean-python article")?;
    clean_py_article.write().title = "Clean Python".into();
    println!("{}", clean_py_article.read().title);
    println!("{}", article1.read().title);

    // clean_py_query.update({Article.title: "Cleaner Python"})
    let clean_py_query = article_query
        .clone()
        .filter(Article::SLUG.eq("clean-python"));
    session
        .update(&clean_py_query, &[Article::TITLE.set("Cleaner Python")])
        .await?;
    let first = session
        .first(&clean_py_query)
        .await?
        .ok_or("no clean-python article")?;
    println!("{}", first.read().title);

    // articles = session.query(Article).all()
    for article in session.all(&select::<Article>()).await? {
        println!("{}", article.read().title);
    }

    // for article in session.query(Article): (lazy iteration)
    let mut articles_objs = session.stream(&select::<Article>()).await?;
    while let Some(article) = articles_objs.next().await {
        println!("{}", article?.read().title);
    }
    drop(articles_objs);

    // session.query(Article.slug, Article.title)[2]
    let third = session
        .nth_columns(
            &select_columns::<Article, _>((Article::SLUG, Article::TITLE)),
            2,
        )
        .await?
        .ok_or("no third article")?;
    println!("{third:?}");

    // session.query(Article).first().id
    let first = session
        .first(&select::<Article>())
        .await?
        .ok_or("no article")?;
    println!("{}", first.read().id.unwrap_or_default());

    // for article in session.query(Article).order_by(Article.title.desc()):
    for article in session
        .all(&select::<Article>().order_by(Article::TITLE.desc()))
        .await?
    {
        println!("{}", article.read().title);
    }

    session.commit().await?;
    session.close().await?;
    drop(database);
    Ok(())
}
