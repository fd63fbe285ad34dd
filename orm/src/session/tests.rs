//! The session against a real server, with the tutorial's models written out by hand.

use harness::{AuthMethod, TestServer};

use crate::Model;
use crate::Obj;
use crate::engine::Engine;
use crate::query::{select, select_columns};
use crate::session::{ObjectState, Session};
use crate::test_models::{Article, ArticleTag, Author, Tag};

async fn engine() -> Engine {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let conninfo = server.connection_string(server.superuser(), None, &db, false);
    let engine = crate::create_engine(&conninfo).unwrap();
    let client = engine.pool().get().await.unwrap();
    crate::Metadata::new(&[Author::TABLE, Article::TABLE, Tag::TABLE, ArticleTag::TABLE])
        .create_all(&client)
        .await
        .unwrap();
    drop(client);
    engine
}

fn article(slug: &str, title: &str) -> Obj<Article> {
    Obj::new(Article {
        slug: slug.into(),
        title: title.into(),
        content: Some("Lorem ipsum".into()),
        ..Default::default()
    })
}

fn author(name: &str) -> Obj<Author> {
    Obj::new(Author {
        firstname: Some(name.into()),
        email: format!("{name}@example.com"),
        ..Default::default()
    })
}

/// The tutorial's steps, with what each must print.
#[tokio::test]
async fn the_tutorial_sequence() {
    let engine = engine().await;
    let mut session = engine.session();
    let ezz = author("ezz");
    let ahmed = author("ahmed");
    let article1 = article("clean-python", "How to Write Clean Python");
    article1.set(Article::AUTHOR, &ezz);
    session.add(&article1);
    // Adding the article cascades to its unsaved author.
    assert_eq!(session.state(&ezz), ObjectState::Pending);
    session.commit().await.unwrap();
    assert_eq!(article1.read().title, "How to Write Clean Python");
    assert_eq!(article1.read().id, Some(1));
    assert_eq!(article1.read().author_id, ezz.read().id);
    assert!(
        ezz.read().joined.is_some(),
        "the client-side default was applied"
    );

    let article2 = article(
        "postgresql-system-catalogs-metadata",
        "How to Get Metadata from PostgreSQL System Catalogs",
    );
    article2.write().created_on = chrono::NaiveDate::from_ymd_opt(2022, 8, 29)
        .unwrap()
        .and_hms_opt(0, 0, 0);
    article2.set(Article::AUTHOR, &ezz);
    let article3 = article(
        "sqlalchemy-postgres",
        "Interacting with Databases using SQLAlchemy with PostgreSQL",
    );
    article3.set(Article::AUTHOR, &ahmed);
    session.add(&article2);
    session.add(&article3);
    session.flush().await.unwrap();
    assert_eq!(article1.read().id, Some(1));
    assert_eq!(article3.read().author_id, ahmed.read().id);
    assert!(ahmed.read().id.is_some());

    article2.write().slug = "postgresql-system-catalogs".into();
    let clean = session
        .first(&select::<Article>().filter(Article::SLUG.eq("clean-python")))
        .await
        .unwrap()
        .unwrap();
    assert!(
        clean == article1,
        "the identity map hands back the same object"
    );
    clean.write().title = "Clean Python".into();
    assert_eq!(article1.read().title, "Clean Python");

    let query = select::<Article>().filter(Article::SLUG.eq("clean-python"));
    let updated = session
        .update(&query, &[Article::TITLE.set("Cleaner Python")])
        .await
        .unwrap();
    assert_eq!(updated, 1);
    assert_eq!(
        session.first(&query).await.unwrap().unwrap().read().title,
        "Cleaner Python"
    );

    let titles: Vec<String> = session
        .all(&select::<Article>())
        .await
        .unwrap()
        .iter()
        .map(|a| a.read().title.clone())
        .collect();
    assert_eq!(
        titles,
        [
            "Interacting with Databases using SQLAlchemy with PostgreSQL",
            "How to Get Metadata from PostgreSQL System Catalogs",
            "Cleaner Python"
        ]
    );
    let mut stream = session.stream(&select::<Article>()).await.unwrap();
    let mut streamed = Vec::new();
    while let Some(a) = stream.next().await {
        streamed.push(a.unwrap().read().title.clone());
    }
    drop(stream);
    assert_eq!(streamed, titles);
    let third = session
        .nth_columns(
            &select_columns::<Article, _>((Article::SLUG, Article::TITLE)),
            2,
        )
        .await
        .unwrap();
    assert_eq!(
        third,
        Some(("clean-python".to_owned(), "Cleaner Python".to_owned()))
    );
    assert_eq!(
        session
            .first(&select::<Article>())
            .await
            .unwrap()
            .unwrap()
            .read()
            .id,
        Some(3)
    );
    let ordered: Vec<String> = session
        .all(&select::<Article>().order_by(Article::TITLE.desc()))
        .await
        .unwrap()
        .iter()
        .map(|a| a.read().title.clone())
        .collect();
    assert_eq!(
        ordered[0],
        "Interacting with Databases using SQLAlchemy with PostgreSQL"
    );
    session.commit().await.unwrap();
}

#[tokio::test]
async fn rollback_restores_and_a_failed_flush_names_the_constraint() {
    let engine = engine().await;
    let mut session = engine.session();
    let a = article("one", "One");
    session.add(&a);
    session.commit().await.unwrap();

    a.write().title = "Changed".into();
    let b = article("two", "Two");
    session.add(&b);
    session.flush().await.unwrap();
    assert!(b.read().id.is_some());
    session.rollback().await.unwrap();
    assert_eq!(
        a.read().title,
        "One",
        "persistent objects get their database values back"
    );
    assert_eq!(
        b.read().id,
        None,
        "an object inserted in the rolled-back transaction is transient again"
    );
    assert_eq!(session.state(&b), ObjectState::Transient);

    let duplicate = article("one", "Duplicate");
    session.add(&duplicate);
    let err = session.flush().await.unwrap_err();
    assert_eq!(err.code(), Some(&pg_wire::SqlState::UNIQUE_VIOLATION));
    assert!(err.to_string().contains("articles_slug_key"), "{err}");
    assert!(
        session.all(&select::<Article>()).await.is_err(),
        "the session needs a rollback first"
    );
    session.rollback().await.unwrap();
    assert_eq!(session.state(&duplicate), ObjectState::Transient);
    let n = session.count(&select::<Article>()).await.unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_flush_is_one_round_trip_per_level_and_relationships_load() {
    let engine = engine().await;
    let mut session: Session = engine.session();
    let authors: Vec<Obj<Author>> = (0..20).map(|i| author(&format!("a{i}"))).collect();
    for (i, author) in authors.iter().enumerate() {
        for j in 0..5 {
            let a = article(&format!("s{i}-{j}"), "T");
            author.push(Author::ARTICLES, &a);
        }
        session.add(author);
    }
    session.commit().await.unwrap();
    assert_eq!(session.count(&select::<Article>()).await.unwrap(), 100);
    let mut fresh = engine.session();
    let loaded_authors = fresh
        .all(&select::<Author>().order_by(Author::ID.asc()))
        .await
        .unwrap();
    let children = fresh
        .load_many(&loaded_authors, Author::ARTICLES)
        .await
        .unwrap();
    assert!(children.iter().all(|c| c.len() == 5));
    assert_eq!(loaded_authors[3].children(Author::ARTICLES).len(), 5);
    let child = &children[3][0];
    assert!(child.related(Article::AUTHOR).unwrap() == loaded_authors[3]);
    // Deleting a parent without cascade sets the loaded children's foreign key to NULL.
    fresh.delete(&loaded_authors[0]);
    fresh.commit().await.unwrap();
    let orphans = fresh
        .count(&select::<Article>().filter(Article::CONTENT.is_not_null()))
        .await
        .unwrap();
    assert_eq!(orphans, 100);
}

#[tokio::test]
async fn group_by_having_and_aggregates() {
    use crate::aggregate::count;
    let engine = engine().await;
    let mut session = engine.session();
    let authors: Vec<Obj<Author>> = (0..3).map(|i| author(&format!("g{i}"))).collect();
    // Author 0 gets 3 articles, author 1 gets 1, author 2 none.
    for (i, n) in [(0usize, 3), (1, 1)] {
        for j in 0..n {
            let a = article(&format!("g{i}-{j}"), &format!("T{j}"));
            authors[i].push(Author::ARTICLES, &a);
        }
    }
    session.add_all(&authors);
    session.commit().await.unwrap();
    let ids: Vec<i32> = authors.iter().map(|a| a.read().id.unwrap()).collect();

    let query = select_columns::<Article, _>((Article::AUTHOR_ID, count::<Article>()))
        .group_by(Article::AUTHOR_ID)
        .having(count::<Article>().gt(1i64));
    let groups = session.all_columns(&query).await.unwrap();
    assert_eq!(groups, [(Some(ids[0]), 3)]);

    let query = select_columns::<Article, _>((
        Article::ID.count(),
        Article::ID.min(),
        Article::ID.max(),
        Article::ID.sum(),
        Article::ID.avg(),
    ));
    let (n, min, max, sum, avg) = session.first_columns(&query).await.unwrap().unwrap();
    assert_eq!((n, min, max, sum), (4, Some(1), Some(4), Some(10)));
    assert_eq!(avg.unwrap().to_string(), "2.5000000000000000");
    let ordered = select_columns::<Article, _>((Article::AUTHOR_ID, count::<Article>()))
        .group_by(Article::AUTHOR_ID)
        .order_by(count::<Article>().desc());
    let groups = session.all_columns(&ordered).await.unwrap();
    assert_eq!(groups, [(Some(ids[0]), 3), (Some(ids[1]), 1)]);
}

#[tokio::test]
async fn many_to_many_through_an_association_table() {
    let engine = engine().await;
    let mut session = engine.session();
    let rust = Obj::new(Tag {
        id: None,
        name: "rust".into(),
    });
    let sql = Obj::new(Tag {
        id: None,
        name: "sql".into(),
    });
    let a = article("m2m-a", "A");
    let b = article("m2m-b", "B");
    a.link(Article::TAGS, &rust);
    a.link(Article::TAGS, &sql);
    b.link(Article::TAGS, &sql);
    // Both sides list each other in memory.
    assert_eq!(sql.associated(Tag::ARTICLES).len(), 2);
    // Adding the articles cascades to their tags; the association rows follow both inserts.
    session.add(&a);
    session.add(&b);
    session.commit().await.unwrap();
    let rows = session
        .execute_raw("SELECT count(*) FROM article_tags", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 3);

    let mut fresh = engine.session();
    let articles = fresh
        .all(&select::<Article>().order_by(Article::SLUG.asc()))
        .await
        .unwrap();
    let tags = fresh
        .load_associated(&articles, Article::TAGS)
        .await
        .unwrap();
    let names = |objs: &Vec<Obj<Tag>>| {
        let mut n: Vec<String> = objs.iter().map(|t| t.read().name.clone()).collect();
        n.sort();
        n
    };
    assert_eq!(names(&tags[0]), ["rust", "sql"]);
    assert_eq!(names(&tags[1]), ["sql"]);
    assert!(articles[0].is_associated_loaded(Article::TAGS));
    // Unlinking deletes the association row; deleting a tag deletes its rows first.
    articles[0].unlink(
        Article::TAGS,
        &tags[0]
            .iter()
            .find(|t| t.read().name == "rust")
            .unwrap()
            .clone(),
    );
    let sql_tag = tags[1][0].clone();
    fresh.delete(&sql_tag);
    fresh.commit().await.unwrap();
    let rows = fresh
        .execute_raw("SELECT count(*) FROM article_tags", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 0);
    assert_eq!(fresh.count(&select::<Tag>()).await.unwrap(), 1);
}

/// A loaded object keeps its row's values itself until it is first written: every path that
/// needs them (flush, rollback, close, detach and add again, bulk update, refresh) finds them.
#[tokio::test]
async fn loaded_objects_keep_their_row_values_until_changed() {
    let engine = engine().await;
    let mut session = engine.session();
    for (slug, title) in [("one", "One"), ("two", "Two"), ("three", "Three")] {
        session.add(&article(slug, title));
    }
    session.commit().await.unwrap();
    session.close().await.unwrap();

    let titles = |objects: &[Obj<Article>]| -> Vec<String> {
        objects.iter().map(|a| a.read().title.clone()).collect()
    };
    let by_slug = select::<Article>().order_by(Article::SLUG.asc());

    // Written, then closed: the row's values come back.
    let mut session = engine.session();
    let loaded = session.all(&by_slug).await.unwrap();
    loaded[0].write().title = "Changed".into();
    loaded[0].write().title = "Changed twice".into();
    session.close().await.unwrap();
    assert_eq!(titles(&loaded), ["One", "Three", "Two"]);
    assert_eq!(session.state(&loaded[0]), ObjectState::Detached);

    // Written while detached, added to another session: the change is flushed.
    loaded[1].write().title = "Three, detached".into();
    let mut other = engine.session();
    other.add(&loaded[1]);
    other.commit().await.unwrap();
    let mut check = engine.session();
    let stored = check.all(&by_slug).await.unwrap();
    assert_eq!(titles(&stored), ["One", "Three, detached", "Two"]);
    check.close().await.unwrap();

    // Written and flushed, then rolled back.
    let mut session = engine.session();
    let loaded = session.all(&by_slug).await.unwrap();
    loaded[2].write().title = "Two, flushed".into();
    session.flush().await.unwrap();
    loaded[2].write().title = "Two, flushed and written".into();
    session.rollback().await.unwrap();
    assert_eq!(titles(&loaded), ["One", "Three, detached", "Two"]);
    session.flush().await.unwrap();
    assert_eq!(
        session
            .count(&select::<Article>().filter(Article::TITLE.eq("Two")))
            .await
            .unwrap(),
        1,
        "a restored object has nothing to flush"
    );

    // A bulk update brings the objects up to date; a rollback restores what the transaction
    // began with, and a refresh reads the row again.
    let changed = session
        .update(
            &select::<Article>().filter(Article::SLUG.eq("one")),
            &[Article::TITLE.set("One, bulk")],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);
    assert_eq!(loaded[0].read().title, "One, bulk");
    session.rollback().await.unwrap();
    assert_eq!(loaded[0].read().title, "One");
    loaded[0].write().title = "Unflushed".into();
    session.refresh(&loaded[0]).await.unwrap();
    assert_eq!(loaded[0].read().title, "One");

    // Deleted in bulk, then rolled back.
    let gone = session
        .delete_where(&select::<Article>().filter(Article::SLUG.eq("two")))
        .await
        .unwrap();
    assert_eq!(gone, 1);
    assert_eq!(session.state(&loaded[2]), ObjectState::Deleted);
    session.rollback().await.unwrap();
    assert_eq!(session.state(&loaded[2]), ObjectState::Persistent);
    assert_eq!(loaded[2].read().title, "Two");
    let again = session.all(&by_slug).await.unwrap();
    assert!(
        again.iter().zip(&loaded).all(|(a, b)| a == b),
        "one row, one object"
    );
    session.close().await.unwrap();
}

/// Relationship loads and reloads bind their keys as one array (`= ANY($1)`), so they take more
/// parents than the protocol's 65,535 parameters, and group the rows by key, with a parent given
/// twice getting its children twice.
#[tokio::test]
async fn relationship_loads_take_any_number_of_parents() {
    const AUTHORS: i32 = 70_000;
    let engine = engine().await;
    let mut session = engine.session();
    session
        .execute_raw(
            "INSERT INTO authors (email) SELECT 'a' || g || '@example.com' \
             FROM generate_series(1, $1) AS g",
            &[crate::Value::I32(AUTHORS)],
        )
        .await
        .unwrap();
    session
        .execute_raw(
            "INSERT INTO articles (slug, title, author_id) \
             SELECT 's' || g, 'T' || g, (g - 1) % 3 + 1 FROM generate_series(1, 7) AS g",
            &[],
        )
        .await
        .unwrap();
    session.commit().await.unwrap();

    let mut session = engine.session();
    let mut authors = session
        .all(&select::<Author>().order_by(Author::ID.asc()))
        .await
        .unwrap();
    assert_eq!(authors.len(), AUTHORS as usize);
    authors.push(authors[0].clone());
    let children = session.load_many(&authors, Author::ARTICLES).await.unwrap();
    let counts: Vec<usize> = children.iter().take(4).map(Vec::len).collect();
    assert_eq!(counts, [3, 2, 2, 0]);
    assert_eq!(
        children.last().map(Vec::len),
        Some(3),
        "a parent given twice"
    );
    assert!(children[4..AUTHORS as usize].iter().all(Vec::is_empty));
    assert_eq!(authors[1].children(Author::ARTICLES).len(), 2);
    for (author, articles) in authors.iter().zip(&children) {
        for article in articles {
            assert!(article.related(Article::AUTHOR).as_ref() == Some(author));
        }
    }

    // The default commit reloads every object in one query per table.
    authors[5].write().lastname = Some("Changed".into());
    session.commit().await.unwrap();
    assert_eq!(authors[5].read().lastname.as_deref(), Some("Changed"));
    session.close().await.unwrap();
}

/// Closing a session detaches linked objects as it does unlinked ones: their row values come
/// back, their links stay, and a change made while detached is flushed by the next session.
#[tokio::test]
async fn closing_detaches_linked_objects_with_their_row_values() {
    let engine = engine().await;
    let mut session = engine.session();
    let ezz = author("ezz");
    session.add(&ezz);
    for slug in ["a", "b"] {
        let article = article(slug, "Title");
        ezz.push(Author::ARTICLES, &article);
        session.add(&article);
    }
    session.commit().await.unwrap();
    session.close().await.unwrap();

    let mut session = engine.session();
    let authors = session.all(&select::<Author>()).await.unwrap();
    let articles = session.load_many(&authors, Author::ARTICLES).await.unwrap();
    let article = articles[0][0].clone();
    article.write().title = "Written, then closed".into();
    session.close().await.unwrap();
    assert_eq!(session.state(&article), ObjectState::Detached);
    assert_eq!(session.state(&authors[0]), ObjectState::Detached);
    assert_eq!(article.read().title, "Title");
    assert!(article.related(Article::AUTHOR).as_ref() == Some(&authors[0]));
    assert_eq!(authors[0].children(Author::ARTICLES).len(), 2);

    article.write().title = "Written while detached".into();
    let mut other = engine.session();
    other.add(&article);
    other.commit().await.unwrap();
    other.close().await.unwrap();
    let mut check = engine.session();
    let changed = check
        .count(&select::<Article>().filter(Article::TITLE.eq("Written while detached")))
        .await
        .unwrap();
    assert_eq!(changed, 1);
    check.close().await.unwrap();
}

/// A row read into a model fails as the row's values converted by `from_values` would: a column
/// the driver cannot read first, whichever column comes first; then a NULL where the field
/// takes none, naming the column.
#[tokio::test]
async fn rows_that_do_not_fit_the_model_are_errors_naming_the_column() {
    let engine = engine().await;
    let mut session = engine.session();
    session.add(&author("ann"));
    session.commit().await.unwrap();
    let columns = "SELECT id, firstname, lastname, email, joined FROM authors";
    let fit = session.query_raw::<Author>(columns, &[]).await.unwrap();
    assert_eq!(fit.len(), 1);

    let mut fresh = engine.session();
    let null_email = "SELECT id, firstname, lastname, NULL::varchar, joined FROM authors";
    let error = fresh
        .query_raw::<Author>(null_email, &[])
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "column authors.email: expected a Text value for a String field, got Null"
    );
    // A column of the wrong type after the NULL: reading comes first.
    let wrong_type = "SELECT id, firstname, lastname, NULL::varchar, 5 FROM authors";
    let error = fresh
        .query_raw::<Author>(wrong_type, &[])
        .await
        .unwrap_err();
    assert!(matches!(error, crate::OrmError::Driver(_)), "{error}");
    // The object the session holds comes back whatever the rest of its row holds.
    let held = session.query_raw::<Author>(null_email, &[]).await.unwrap();
    assert!(held[0] == fit[0]);
    fresh.close().await.unwrap();
    session.close().await.unwrap();
}
