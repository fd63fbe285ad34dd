//! ORM queries against a real server: every comparison and condition (`==`, `!=`, `<`, `<=`,
//! `>`, `>=`, like, ilike, in, is null, between, and, or, not), `filter_by`, `order_by` over
//! several columns, limit and offset, positional access, `first`/`one`/`one_or_none` and their
//! errors, `count`, `exists`, column-subset tuples, joins along relationships, lazy iteration,
//! raw SQL with bound parameters, and bulk `update`/`delete_where` synchronising the identity map.
//!
//! Models and helpers: `orm_common/mod.rs`.

mod orm_common;

use orm::{Obj, ObjectState, OrmError, Select, Session, Value, count, select, select_columns};
use orm_common::*;

/// The rows every test here starts from (committed):
///
/// | `articles[i]` | slug | views | content | author |
/// |---|---|---|---|---|
/// | 0 | clean-python | 10 | Lorem ipsum | ezz |
/// | 1 | postgresql-system-catalogs | 25 | NULL | ezz |
/// | 2 | sqlalchemy-postgres | 5 | Lorem ipsum | ahmed |
/// | 3 | rust-orm | 25 | Lorem ipsum | ahmed |
/// | 4 | orphan | 0 | 100% pure | NULL |
///
/// and a third author, omar, without articles. The articles' ids follow this order (a table's rows
/// are inserted in the order they were added; see orm_flush.rs).
struct Data {
    ezz: Obj<Author>,
    ahmed: Obj<Author>,
    articles: Vec<Obj<Article>>,
}

async fn seed(session: &mut Session) -> Data {
    let ezz = author("ezz");
    let ahmed = author("ahmed");
    let omar = author("omar");
    let rows = [
        (
            "clean-python",
            "How to Write Clean Python",
            10,
            Some("Lorem ipsum"),
            Some(&ezz),
        ),
        (
            "postgresql-system-catalogs",
            "How to Get Metadata from PostgreSQL System Catalogs",
            25,
            None,
            Some(&ezz),
        ),
        (
            "sqlalchemy-postgres",
            "Interacting with Databases using SQLAlchemy with PostgreSQL",
            5,
            Some("Lorem ipsum"),
            Some(&ahmed),
        ),
        (
            "rust-orm",
            "Writing an ORM in Rust",
            25,
            Some("Lorem ipsum"),
            Some(&ahmed),
        ),
        (
            "orphan",
            "An Article Without Author",
            0,
            Some("100% pure"),
            None,
        ),
    ];
    let mut articles = Vec::new();
    for (slug, title, views, content, parent) in rows {
        let a = article(slug, title);
        a.write().views = views;
        a.write().content = content.map(str::to_owned);
        if let Some(parent) = parent {
            a.set(Article::AUTHOR, parent);
        }
        session.add(&a);
        articles.push(a);
    }
    session.add(&omar);
    session.commit().await.unwrap();
    Data {
        ezz,
        ahmed,
        articles,
    }
}

/// The slugs a query finds, in its order.
async fn slugs(session: &mut Session, query: &Select<Article>) -> Vec<String> {
    session
        .all(query)
        .await
        .unwrap()
        .iter()
        .map(|a| a.read().slug.clone())
        .collect()
}

/// The slugs a query finds, sorted (for queries without an order).
async fn sorted_slugs(session: &mut Session, query: Select<Article>) -> Vec<String> {
    let mut out = slugs(session, &query).await;
    out.sort();
    out
}

// Catches: a comparison operator written as another (`<` for `<=`, `=` for `!=`, operands
// swapped), or a bound value of the wrong type.
#[tokio::test]
async fn comparisons() {
    let engine = engine().await;
    let mut s = engine.session();
    seed(&mut s).await;
    let q = select::<Article>;
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::VIEWS.eq(10))).await,
        ["clean-python"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::VIEWS.ne(25))).await,
        ["clean-python", "orphan", "sqlalchemy-postgres"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::VIEWS.lt(10))).await,
        ["orphan", "sqlalchemy-postgres"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::VIEWS.le(10))).await,
        ["clean-python", "orphan", "sqlalchemy-postgres"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::VIEWS.gt(10))).await,
        ["postgresql-system-catalogs", "rust-orm"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::VIEWS.ge(10))).await,
        ["clean-python", "postgresql-system-catalogs", "rust-orm"]
    );
    // Strings and nullable columns compare with plain values.
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::SLUG.gt("r"))).await,
        ["rust-orm", "sqlalchemy-postgres"]
    );
    let ahmed = s
        .one(&select::<Author>().filter(Author::EMAIL.eq("ahmed@example.com")))
        .await
        .unwrap();
    let ahmed_id = ahmed.read().id.unwrap();
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::AUTHOR_ID.eq(ahmed_id))).await,
        ["rust-orm", "sqlalchemy-postgres"]
    );
}

// Catches: LIKE that is not case-sensitive or ILIKE that is, a pattern spliced into the SQL
// instead of bound, IN lists losing values or an empty list that is an SQL error, IS NULL and
// IS NOT NULL swapped, and BETWEEN not inclusive.
#[tokio::test]
async fn matching_membership_null_and_ranges() {
    let engine = engine().await;
    let mut s = engine.session();
    seed(&mut s).await;
    let q = select::<Article>;
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::TITLE.like("How to%"))).await,
        ["clean-python", "postgresql-system-catalogs"]
    );
    assert!(
        sorted_slugs(&mut s, q().filter(Article::TITLE.like("how to%")))
            .await
            .is_empty()
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::TITLE.ilike("how TO%"))).await,
        ["clean-python", "postgresql-system-catalogs"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::CONTENT.like("100\\%%"))).await,
        ["orphan"]
    );
    assert!(
        sorted_slugs(&mut s, q().filter(Article::TITLE.like("x' OR '1'='1")))
            .await
            .is_empty(),
        "the pattern is a bound value"
    );
    assert_eq!(
        sorted_slugs(
            &mut s,
            q().filter(Article::SLUG.in_(["rust-orm", "orphan", "missing"]))
        )
        .await,
        ["orphan", "rust-orm"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::VIEWS.in_([0, 25]))).await,
        ["orphan", "postgresql-system-catalogs", "rust-orm"]
    );
    assert!(
        sorted_slugs(&mut s, q().filter(Article::SLUG.in_(Vec::<&str>::new())))
            .await
            .is_empty()
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::CONTENT.is_null())).await,
        ["postgresql-system-catalogs"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::AUTHOR_ID.is_null())).await,
        ["orphan"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::CONTENT.is_not_null()))
            .await
            .len(),
        4
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(Article::VIEWS.between(5, 10))).await,
        ["clean-python", "sqlalchemy-postgres"]
    );
}

// Catches: AND and OR without parentheses (precedence changes the result), NOT applied to the
// wrong operand, several filter() calls not combined with AND, or the method forms differing
// from the operators.
#[tokio::test]
async fn and_or_not() {
    let engine = engine().await;
    let mut s = engine.session();
    seed(&mut s).await;
    let q = select::<Article>;
    let busy = || Article::VIEWS.ge(10);
    let python = || Article::SLUG.like("%python%");
    let orphan = || Article::AUTHOR_ID.is_null();
    assert_eq!(
        sorted_slugs(&mut s, q().filter(busy() & python())).await,
        ["clean-python"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(busy().and(python()))).await,
        ["clean-python"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(busy()).filter(python())).await,
        ["clean-python"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(python() | orphan())).await,
        ["clean-python", "orphan"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(python().or(orphan()))).await,
        ["clean-python", "orphan"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(!busy())).await,
        ["orphan", "sqlalchemy-postgres"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(busy().not())).await,
        ["orphan", "sqlalchemy-postgres"]
    );
    // (A OR B) AND C differs from A OR (B AND C).
    assert_eq!(
        sorted_slugs(&mut s, q().filter((python() | orphan()) & busy())).await,
        ["clean-python"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(python() | (orphan() & busy()))).await,
        ["clean-python"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(orphan() | (python() & !busy()))).await,
        ["orphan"]
    );
    assert_eq!(
        sorted_slugs(&mut s, q().filter(!(python() | orphan()) & busy())).await,
        ["postgresql-system-catalogs", "rust-orm"]
    );
}

// Catches: filter_by comparing another column, or not combining with AND.
#[tokio::test]
async fn filter_by_is_equality() {
    let engine = engine().await;
    let mut s = engine.session();
    let data = seed(&mut s).await;
    let ahmed_id = data.ahmed.read().id.unwrap();
    let query = select::<Article>()
        .filter_by(Article::VIEWS, 25)
        .filter_by(Article::AUTHOR_ID, ahmed_id);
    assert_eq!(sorted_slugs(&mut s, query).await, ["rust-orm"]);
    let query = select::<Article>().filter_by(Article::SLUG, "orphan");
    assert!(s.one(&query).await.unwrap() == data.articles[4]);
}

// Catches: order_by keys applied in the wrong order, a direction ignored, limit and offset
// swapped, or positional access (`query[2]`) off by one or ignoring the query's own offset.
#[tokio::test]
async fn ordering_limits_and_positions() {
    let engine = engine().await;
    let mut s = engine.session();
    seed(&mut s).await;
    let by_views = select::<Article>()
        .order_by(Article::VIEWS.desc())
        .order_by(Article::SLUG.asc());
    assert_eq!(
        slugs(&mut s, &by_views).await,
        [
            "postgresql-system-catalogs",
            "rust-orm",
            "clean-python",
            "sqlalchemy-postgres",
            "orphan"
        ]
    );
    let by_views_then_slug_desc = select::<Article>()
        .order_by(Article::VIEWS.desc())
        .order_by(Article::SLUG.desc());
    assert_eq!(
        slugs(&mut s, &by_views_then_slug_desc).await[..2],
        ["rust-orm", "postgresql-system-catalogs"]
    );
    // A bare column is ascending.
    let by_slug = select::<Article>().order_by(Article::SLUG);
    assert_eq!(
        slugs(&mut s, &by_slug).await,
        [
            "clean-python",
            "orphan",
            "postgresql-system-catalogs",
            "rust-orm",
            "sqlalchemy-postgres"
        ]
    );
    assert_eq!(
        slugs(&mut s, &by_slug.clone().limit(2).offset(1)).await,
        ["orphan", "postgresql-system-catalogs"]
    );
    assert_eq!(
        slugs(&mut s, &by_slug.clone().offset(4)).await,
        ["sqlalchemy-postgres"]
    );
    assert!(slugs(&mut s, &by_slug.clone().limit(0)).await.is_empty());

    let third = s.nth(&by_slug, 2).await.unwrap().unwrap();
    assert_eq!(third.read().slug, "postgresql-system-catalogs");
    let third_after_one = s.nth(&by_slug.clone().offset(1), 2).await.unwrap().unwrap();
    assert_eq!(third_after_one.read().slug, "rust-orm");
    assert!(s.nth(&by_slug, 5).await.unwrap().is_none());
    assert_eq!(
        s.first(&by_views).await.unwrap().unwrap().read().slug,
        "postgresql-system-catalogs"
    );
}

// Catches: one()/one_or_none() accepting several rows or one() accepting none, and first()
// failing on an empty result.
#[tokio::test]
async fn first_one_and_one_or_none() {
    let engine = engine().await;
    let mut s = engine.session();
    let data = seed(&mut s).await;
    let none = select::<Article>().filter(Article::SLUG.eq("missing"));
    let single = select::<Article>().filter(Article::SLUG.eq("rust-orm"));
    let several = select::<Article>().filter(Article::VIEWS.eq(25));
    assert!(s.first(&none).await.unwrap().is_none());
    assert!(matches!(s.one(&none).await, Err(OrmError::NotFound(_))));
    assert!(s.one_or_none(&none).await.unwrap().is_none());
    assert!(s.one(&single).await.unwrap() == data.articles[3]);
    assert!(s.one_or_none(&single).await.unwrap() == Some(data.articles[3].clone()));
    assert!(matches!(
        s.one(&several).await,
        Err(OrmError::MultipleRows(_))
    ));
    assert!(matches!(
        s.one_or_none(&several).await,
        Err(OrmError::MultipleRows(_))
    ));
    assert!(s.first(&several).await.unwrap().is_some());
    // The errors are ordinary results: the session goes on.
    assert_eq!(s.count(&several).await.unwrap(), 2);
}

// Catches: count() ignoring filters or limits, and exists() true for an empty result.
#[tokio::test]
async fn count_and_exists() {
    let engine = engine().await;
    let mut s = engine.session();
    seed(&mut s).await;
    assert_eq!(s.count(&select::<Article>()).await.unwrap(), 5);
    assert_eq!(s.count(&select::<Author>()).await.unwrap(), 3);
    assert_eq!(
        s.count(&select::<Article>().filter(Article::VIEWS.gt(5)))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        s.count(&select::<Article>().order_by(Article::ID).limit(2).offset(1))
            .await
            .unwrap(),
        2
    );
    assert!(
        s.exists(&select::<Article>().filter(Article::SLUG.eq("orphan")))
            .await
            .unwrap()
    );
    assert!(
        !s.exists(&select::<Article>().filter(Article::SLUG.eq("missing")))
            .await
            .unwrap()
    );
}

// Catches: tuples in the wrong column order, NULLs not read as None, column queries ignoring
// filter/order/offset, and `[2]` on a column query off by one.
#[tokio::test]
async fn column_subsets_return_tuples() {
    let engine = engine().await;
    let mut s = engine.session();
    let data = seed(&mut s).await;
    let pairs = s
        .all_columns(
            &select_columns::<Article, _>((Article::SLUG, Article::VIEWS))
                .filter(Article::VIEWS.ge(10))
                .order_by(Article::SLUG.desc()),
        )
        .await
        .unwrap();
    assert_eq!(
        pairs,
        [
            ("rust-orm".to_owned(), 25),
            ("postgresql-system-catalogs".to_owned(), 25),
            ("clean-python".to_owned(), 10)
        ]
    );
    let nullable = s
        .all_columns(
            &select_columns::<Article, _>((Article::ID, Article::CONTENT, Article::AUTHOR_ID))
                .order_by(Article::SLUG),
        )
        .await
        .unwrap();
    assert_eq!(nullable.len(), 5);
    assert_eq!(nullable[2].1, None);
    let orphan_id = data.articles[4].read().id;
    assert_eq!(nullable[1], (orphan_id, Some("100% pure".to_owned()), None));
    let by_slug =
        select_columns::<Article, _>((Article::SLUG, Article::TITLE)).order_by(Article::SLUG);
    assert_eq!(
        s.nth_columns(&by_slug, 2).await.unwrap(),
        Some((
            "postgresql-system-catalogs".to_owned(),
            "How to Get Metadata from PostgreSQL System Catalogs".to_owned()
        ))
    );
    assert_eq!(
        s.first_columns(&by_slug).await.unwrap().unwrap().0,
        "clean-python"
    );
    assert_eq!(s.nth_columns(&by_slug, 9).await.unwrap(), None);
    let single = s
        .all_columns(&select_columns::<Author, _>((Author::EMAIL,)).order_by(Author::EMAIL))
        .await
        .unwrap();
    assert_eq!(
        single,
        [
            ("ahmed@example.com".to_owned(),),
            ("ezz@example.com".to_owned(),),
            ("omar@example.com".to_owned(),)
        ]
    );
}

// Catches: a join along a relationship on the wrong columns, filters on the joined table not
// applied, or a one-to-many join returning a parent once per child.
#[tokio::test]
async fn joins_along_relationships() {
    let engine = engine().await;
    let mut s = engine.session();
    let data = seed(&mut s).await;
    let by_ezz = select::<Article>()
        .join(Article::AUTHOR)
        .filter(Author::EMAIL.eq("ezz@example.com"));
    assert_eq!(
        sorted_slugs(&mut s, by_ezz.clone()).await,
        ["clean-python", "postgresql-system-catalogs"]
    );
    assert_eq!(s.count(&by_ezz).await.unwrap(), 2);
    let mixed = select::<Article>()
        .join(Article::AUTHOR)
        .filter(Author::FIRSTNAME.eq("ahmed") & Article::VIEWS.lt(10));
    assert_eq!(sorted_slugs(&mut s, mixed).await, ["sqlalchemy-postgres"]);

    // Authors with a popular article: each author once, however many articles match.
    let popular = select::<Author>()
        .join_many(Author::ARTICLES)
        .filter(Article::VIEWS.ge(10));
    let authors = s.all(&popular).await.unwrap();
    assert_eq!(authors.len(), 2);
    assert!(authors.contains(&data.ezz) && authors.contains(&data.ahmed));
    assert_eq!(s.count(&popular).await.unwrap(), 2);
    let without_articles = select::<Author>()
        .join_many(Author::ARTICLES)
        .filter(Author::EMAIL.eq("omar@example.com"));
    assert!(s.all(&without_articles).await.unwrap().is_empty());
}

// Catches: a joined query that cannot be ordered by the joined table's columns (SQLAlchemy
// allows `select(Article).join(Article.author).order_by(Author.lastname)`), or a one-to-many join
// handing back a parent once per child (in all, first, one_or_none, count or stream).
#[tokio::test]
async fn a_join_can_be_ordered_by_the_joined_table() {
    let engine = engine().await;
    let mut s = engine.session();
    seed(&mut s).await;
    let query = select::<Article>()
        .join(Article::AUTHOR)
        .order_by(Author::FIRSTNAME.asc())
        .order_by(Article::SLUG.asc());
    assert_eq!(
        slugs(&mut s, &query).await,
        [
            "rust-orm",
            "sqlalchemy-postgres",
            "clean-python",
            "postgresql-system-catalogs"
        ]
    );

    // A one-to-many join ordered by the children: each parent once, where it first appears.
    let by_views = select::<Author>()
        .join_many(Author::ARTICLES)
        .order_by(Article::VIEWS.asc());
    let authors = s.all(&by_views).await.unwrap();
    let names: Vec<String> = authors
        .iter()
        .map(|a| a.read().firstname.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        ["ahmed", "ezz"],
        "ahmed's 5 views come before ezz's 10"
    );
    assert_eq!(s.count(&by_views).await.unwrap(), 2);
    let first = s.first(&by_views).await.unwrap().unwrap();
    assert!(first == authors[0]);
    assert!(matches!(
        s.one_or_none(&by_views).await,
        Err(OrmError::MultipleRows(_))
    ));
    let only_ezz = by_views.clone().filter(Author::FIRSTNAME.eq("ezz"));
    assert!(
        s.one_or_none(&only_ezz).await.unwrap() == Some(authors[1].clone()),
        "two rows of one object are one object"
    );
    let mut stream = s.stream(&by_views).await.unwrap();
    let mut streamed = Vec::new();
    while let Some(a) = stream.next().await {
        streamed.push(a.unwrap());
    }
    drop(stream);
    assert!(streamed == authors, "streaming dedupes the same way");
}

// Catches: a bulk update or delete whose query joins another table sending SQL without that
// table (the join dropped: "missing FROM-clause entry") instead of UPDATE ... FROM and
// DELETE ... USING, or updating a row once per joined row.
#[tokio::test]
async fn a_bulk_update_filtered_through_a_join() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut s = engine.session();
    let data = seed(&mut s).await;
    let by_ezz = select::<Article>()
        .join(Article::AUTHOR)
        .filter(Author::EMAIL.eq("ezz@example.com"));
    let n = s.update(&by_ezz, &[Article::VIEWS.set(99)]).await.unwrap();
    assert_eq!(n, 2);
    // The objects of the matched rows are brought up to date, the others left alone.
    let views: Vec<i32> = data.articles.iter().map(|a| a.read().views).collect();
    assert_eq!(views, [99, 99, 5, 25, 0]);
    assert_eq!(
        s.count(&select::<Article>().filter(Article::VIEWS.eq(99)))
            .await
            .unwrap(),
        2
    );

    // A one-to-many join: each author's row is updated once, however many articles match.
    let popular = select::<Author>()
        .join_many(Author::ARTICLES)
        .filter(Article::VIEWS.ge(25));
    let n = s
        .update(&popular, &[Author::LASTNAME.set("Popular")])
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(data.ahmed.read().lastname.as_deref(), Some("Popular"));

    // A bulk delete through a join: DELETE ... USING.
    let by_ahmed = select::<Article>()
        .join(Article::AUTHOR)
        .filter(Author::FIRSTNAME.eq("ahmed") & Article::VIEWS.lt(10));
    assert_eq!(s.delete_where(&by_ahmed).await.unwrap(), 1);
    assert_eq!(s.state(&data.articles[2]), ObjectState::Deleted);
    s.commit().await.unwrap();
    assert_eq!(
        committed_strings(&db, "SELECT slug FROM articles ORDER BY slug").await,
        [
            "clean-python",
            "orphan",
            "postgresql-system-catalogs",
            "rust-orm"
        ]
    );
}

// Catches: lazy iteration returning other objects than all() (not through the identity map),
// rows in another order, or a stream dropped half way leaving the connection out of step.
#[tokio::test]
async fn streaming_returns_the_objects_all_returns() {
    let engine = engine().await;
    let mut s = engine.session();
    let data = seed(&mut s).await;
    let query = select::<Article>().order_by(Article::VIEWS.desc());
    let all = s.all(&query).await.unwrap();
    let mut streamed = Vec::new();
    let mut stream = s.stream(&query).await.unwrap();
    while let Some(a) = stream.next().await {
        streamed.push(a.unwrap());
    }
    drop(stream);
    assert_eq!(streamed.len(), 5);
    assert!(streamed == all, "the same objects, in the same order");
    assert!(streamed.contains(&data.articles[0]));

    // A fresh session: streamed objects are identity-mapped too (a later all() finds them).
    let mut fresh = engine.session();
    let mut stream = fresh.stream(&query).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    drop(stream);
    let again = fresh.first(&query).await.unwrap().unwrap();
    assert!(again == first);
    // Dropped after one row of five: the session still works.
    assert_eq!(fresh.count(&select::<Article>()).await.unwrap(), 5);
    first.write().views = 100;
    fresh.commit().await.unwrap();
    assert_eq!(
        s.count(&select::<Article>().filter(Article::VIEWS.eq(100)))
            .await
            .unwrap(),
        1,
        "a change to a streamed object is flushed"
    );
}

// Catches: raw SQL parameters spliced into the text, raw queries bypassing the autoflush or the
// identity map.
#[tokio::test]
async fn raw_sql_with_bound_parameters() {
    let engine = engine().await;
    let mut s = engine.session();
    let data = seed(&mut s).await;
    let rows = s
        .execute_raw(
            "SELECT count(*) FROM articles WHERE slug = $1",
            &[Value::Text("x' OR '1'='1".into())],
        )
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 0);
    let rows = s
        .execute_raw(
            "SELECT slug FROM articles WHERE views > $1 AND content IS NOT DISTINCT FROM $2 \
             ORDER BY slug",
            &[Value::I32(5), Value::Null],
        )
        .await
        .unwrap();
    let found: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(found, ["postgresql-system-catalogs"]);

    let pending = article("pending", "Pending");
    s.add(&pending);
    let rows = s
        .execute_raw(
            "SELECT id FROM articles WHERE slug = $1",
            &[Value::Text("pending".into())],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "raw SQL autoflushes too");

    let objects = s
        .query_raw::<Article>(
            "SELECT id, slug, title, created_on, updated_on, content, views, status, author_id \
             FROM articles WHERE views = $1 ORDER BY id",
            &[Value::I32(25)],
        )
        .await
        .unwrap();
    assert_eq!(objects.len(), 2);
    assert!(objects[0] == data.articles[1] && objects[1] == data.articles[3]);
}

// Catches: a bulk update that does not bring the objects in the identity map up to date (the
// tutorial prints the new title through an object loaded before), skips `onupdate` columns,
// touches objects it did not match, or leaves them looking dirty (a second UPDATE at the next
// flush would overwrite a concurrent change).
#[tokio::test]
async fn a_bulk_update_synchronises_the_identity_map() {
    let engine = engine().await;
    let db = other(&engine).await;
    log_updates(&db, "articles").await;
    let mut s = engine.session();
    let data = seed(&mut s).await;
    let before: Vec<_> = data.articles.iter().map(|a| a.read().updated_on).collect();
    let ezz_id = data.ezz.read().id.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let n = s
        .update(
            &select::<Article>().filter(Article::AUTHOR_ID.eq(ezz_id)),
            &[Article::TITLE.set("Renamed"), Article::VIEWS.set(1)],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    for (i, a) in data.articles.iter().enumerate() {
        let a = a.read();
        if i < 2 {
            assert_eq!((a.title.as_str(), a.views), ("Renamed", 1));
            assert!(a.updated_on > before[i], "the onupdate column is set too");
        } else {
            assert_ne!(a.title, "Renamed");
            assert_eq!(a.updated_on, before[i]);
        }
    }
    // The objects agree with their rows (to the database's microsecond precision).
    let rows = s
        .execute_raw(
            "SELECT title, views, updated_on FROM articles WHERE author_id = $1 ORDER BY id",
            &[Value::I32(ezz_id)],
        )
        .await
        .unwrap();
    for (row, a) in rows.iter().zip(&data.articles) {
        let stored: chrono::NaiveDateTime = row.get(2);
        let held = a.read().updated_on.unwrap();
        assert_eq!(
            (row.get::<_, String>(0), row.get::<_, i32>(1)),
            (a.read().title.clone(), a.read().views)
        );
        assert!((stored - held).num_microseconds().unwrap().abs() <= 1);
    }
    s.commit().await.unwrap();
    assert_eq!(
        update_statements(&db, "articles").await,
        1,
        "the bulk UPDATE only: the synchronised objects are not dirty"
    );
    assert_eq!(
        updated_columns(&db, "articles").await,
        ["title", "updated_on", "views"]
    );
}

// Catches: a bulk delete that leaves the deleted rows' objects persistent (get() would hand them
// back, a later change would send an UPDATE of a missing row) or marks objects it did not match.
#[tokio::test]
async fn a_bulk_delete_marks_the_objects_deleted() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut s = engine.session();
    let data = seed(&mut s).await;
    let n = s
        .delete_where(&select::<Article>().filter(Article::VIEWS.lt(10)))
        .await
        .unwrap();
    assert_eq!(n, 2);
    let (gone, kept) = (&data.articles[2], &data.articles[0]);
    assert_eq!(s.state(gone), ObjectState::Deleted);
    assert_eq!(s.state(&data.articles[4]), ObjectState::Deleted);
    assert_eq!(s.state(kept), ObjectState::Persistent);
    let gone_id = gone.read().id.unwrap();
    assert!(s.get::<Article, _>(gone_id).await.unwrap().is_none());
    assert_eq!(s.count(&select::<Article>()).await.unwrap(), 3);
    gone.write().views = 1000;
    s.commit().await.unwrap();
    assert_eq!(s.state(gone), ObjectState::Detached);
    assert_eq!(
        committed_strings(&db, "SELECT slug FROM articles ORDER BY slug").await,
        ["clean-python", "postgresql-system-catalogs", "rust-orm"]
    );
}

// Catches: aggregates computed wrongly or read as the wrong type (sum of an int4 is int8, avg is
// numeric, min/max keep the column's type), group_by grouping by the wrong column, having
// applied as a WHERE (before grouping) or not at all, or ordering by an aggregate not honoured.
#[tokio::test]
async fn group_by_and_having_with_aggregates() {
    let engine = engine().await;
    let mut s = engine.session();
    let data = seed(&mut s).await;
    let (ezz, ahmed) = (data.ezz.read().id, data.ahmed.read().id);

    // Views per author, for the authors with more than one article.
    let per_author = select_columns::<Article, _>((
        Article::AUTHOR_ID,
        Article::VIEWS.sum(),
        Article::VIEWS.min(),
        Article::VIEWS.max(),
        Article::VIEWS.avg(),
        count::<Article>(),
    ))
    .group_by(Article::AUTHOR_ID)
    .having(count::<Article>().gt(1i64))
    .order_by(Article::VIEWS.sum().desc());
    let rows = s.all_columns(&per_author).await.unwrap();
    let rows: Vec<_> = rows
        .into_iter()
        .map(|(author, sum, min, max, avg, n)| {
            let avg: f64 = avg.unwrap().to_string().parse().unwrap();
            (author, sum, min, max, avg, n)
        })
        .collect();
    assert_eq!(
        rows,
        [
            (ezz, Some(35), Some(10), Some(25), 17.5, 2),
            (ahmed, Some(30), Some(5), Some(25), 15.0, 2),
        ]
    );

    // HAVING filters groups, WHERE rows: the orphan's group (NULL author) has one article.
    let all_groups = select_columns::<Article, _>((Article::AUTHOR_ID, count::<Article>()))
        .group_by(Article::AUTHOR_ID)
        .order_by(count::<Article>().asc())
        .order_by(Article::AUTHOR_ID.asc());
    assert_eq!(
        s.all_columns(&all_groups).await.unwrap(),
        [(None, 1), (ezz, 2), (ahmed, 2)]
    );
    let busy = select_columns::<Article, _>((Article::AUTHOR_ID, count::<Article>()))
        .filter(Article::VIEWS.ge(10))
        .group_by(Article::AUTHOR_ID)
        .having(Article::VIEWS.max().eq(25));
    let mut busy = s.all_columns(&busy).await.unwrap();
    busy.sort();
    assert_eq!(busy, [(ezz, 2), (ahmed, 1)]);

    // Whole-table aggregates, and count(column) skipping NULLs.
    let totals = select_columns::<Article, _>((
        count::<Article>(),
        Article::CONTENT.count(),
        Article::VIEWS.sum(),
        Article::SLUG.min(),
        Article::SLUG.max(),
    ));
    assert_eq!(
        s.first_columns(&totals).await.unwrap(),
        Some((
            5,
            4,
            Some(65),
            Some("clean-python".to_owned()),
            Some("sqlalchemy-postgres".to_owned())
        ))
    );
    // Over no rows: count is 0, the others NULL.
    let none = select_columns::<Article, _>((count::<Article>(), Article::VIEWS.max()))
        .filter(Article::VIEWS.gt(1000));
    assert_eq!(s.first_columns(&none).await.unwrap(), Some((0, None)));
}
