//! The unit of work against a real server: INSERTs ordered by foreign keys across three levels
//! (author → article → comment, new and existing objects mixed) and in a self-referential table,
//! generated ids and foreign keys filled after a flush, UPDATEs of the changed columns only (plus
//! `onupdate` ones), client-side and server defaults, DELETEs children first, and a flush of a
//! thousand objects.
//!
//! Which columns an UPDATE set is observed with `UPDATE OF column` triggers (see
//! `orm_common::log_updates`). Models and helpers: `orm_common/mod.rs`.

mod orm_common;

use chrono::NaiveDate;
use orm::{ObjectState, OrmError, select};
use orm_common::*;

// Catches: ids not written back into the objects after a flush, or written into the wrong
// objects (the RETURNING rows of one pipelined batch matched to the wrong statements).
#[tokio::test]
async fn a_flush_gives_every_object_its_generated_id() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let authors: Vec<_> = (0..5).map(|i| author(&format!("a{i}"))).collect();
    session.add_all(&authors);
    session.flush().await.unwrap();
    let ids: Vec<Option<i32>> = authors.iter().map(|a| a.read().id).collect();
    assert_eq!(ids, [Some(1), Some(2), Some(3), Some(4), Some(5)]);
    session.commit().await.unwrap();
    for a in &authors {
        let (id, email) = (a.read().id.unwrap(), a.read().email.clone());
        let stored: String = db
            .query_one("SELECT email FROM authors WHERE id = $1", &[&id])
            .await
            .unwrap()
            .get(0);
        assert_eq!(stored, email, "object {id} holds its own row's id");
    }
}

// Catches: INSERTs sent in the order objects were added rather than parents first (a foreign
// key violation), a parent's generated id not reaching its children's foreign keys, a child of
// an existing (persistent) parent not getting that parent's id, or `belongs_to` links ignored.
#[tokio::test]
async fn inserts_follow_foreign_keys_across_three_levels() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let existing = author("existing");
    session.add(&existing);
    session.commit().await.unwrap();

    let new_author = author("new");
    let on_existing = article("on-existing", "On the existing author");
    on_existing.set(Article::AUTHOR, &existing);
    let on_new = article("on-new", "On the new author");
    on_new.set(Article::AUTHOR, &new_author);
    let c1 = comment("c1 on the first article, by the new author");
    c1.set(Comment::ARTICLE, &on_existing);
    c1.set(Comment::COMMENTER, &new_author);
    let c2 = comment("c2 on the second article, by the existing author");
    c2.set(Comment::ARTICLE, &on_new);
    c2.set(Comment::COMMENTER, &existing);
    // Only the grandchildren are added, children first: adding cascades to their parents.
    session.add(&c2);
    session.add(&c1);
    assert_eq!(session.state(&new_author), ObjectState::Pending);
    assert_eq!(session.state(&on_new), ObjectState::Pending);
    session.commit().await.unwrap();

    let rows = db
        .query(
            "SELECT c.body, a.slug, w.email, v.email FROM comments c \
             JOIN articles a ON a.id = c.article_id JOIN authors w ON w.id = a.author_id \
             JOIN authors v ON v.id = c.author_id ORDER BY c.id",
            &[],
        )
        .await
        .unwrap();
    let rows: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(rows.len(), 2);
    let expected = [
        (
            "c1 on the first article, by the new author",
            "on-existing",
            "existing@example.com",
            "new@example.com",
        ),
        (
            "c2 on the second article, by the existing author",
            "on-new",
            "new@example.com",
            "existing@example.com",
        ),
    ];
    let mut sorted = rows.clone();
    sorted.sort();
    for (row, want) in sorted.iter().zip(expected) {
        assert_eq!(
            (
                row.0.as_str(),
                row.1.as_str(),
                row.2.as_str(),
                row.3.as_str()
            ),
            want
        );
    }
    // The objects hold the same foreign keys as the rows.
    assert_eq!(on_new.read().author_id, new_author.read().id);
    assert_eq!(c1.read().article_id, on_existing.read().id);
    assert_eq!(c1.read().author_id, new_author.read().id);
    assert_eq!(c2.read().author_id, existing.read().id);
}

// Catches: rows of one table inserted in another order than the objects were added (SQLAlchemy
// inserts a table's rows in add order, and the session's own records keep that order), so ids
// would not follow it.
#[tokio::test]
async fn rows_of_one_table_are_inserted_in_the_order_added() {
    let engine = engine().await;
    let mut session = engine.session();
    let with_parent = article("first", "Added first, with a new author");
    with_parent.set(Article::AUTHOR, &author("ezz"));
    let without = article("second", "Added second, without an author");
    let third = article("third", "Added third, with another new author");
    third.set(Article::AUTHOR, &author("ahmed"));
    session.add(&with_parent);
    session.add(&without);
    session.add(&third);
    // In a self-referential table, rows go in rounds, parents first (as SQLAlchemy's
    // topological sort does), in add order within a round: root (added with child, through
    // the link) and loose, then child.
    let root = node("root");
    let child = node("child");
    child.set(Node::PARENT, &root);
    let loose = node("loose");
    session.add(&child);
    session.add(&loose);
    session.flush().await.unwrap();
    let ids: Vec<Option<i32>> = [&with_parent, &without, &third]
        .iter()
        .map(|a| a.read().id)
        .collect();
    assert_eq!(ids, [Some(1), Some(2), Some(3)]);
    let ids: Vec<Option<i32>> = [&root, &loose, &child]
        .iter()
        .map(|n| n.read().id)
        .collect();
    assert_eq!(ids, [Some(1), Some(2), Some(3)]);
}

// Catches: a self-referential table inserted in one level (a child before its parent violates
// the foreign key) or with parent ids not filled, and siblings ordered wrongly.
#[tokio::test]
async fn a_self_referential_tree_is_inserted_parents_first() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let root = node("root");
    let left = node("left");
    let right = node("right");
    let leaf = node("leaf");
    leaf.set(Node::PARENT, &left);
    left.set(Node::PARENT, &root);
    root.push(Node::CHILDREN, &right);
    // The deepest node first; the rest come through the links.
    session.add(&leaf);
    assert_eq!(session.state(&root), ObjectState::Pending);
    assert_eq!(session.state(&right), ObjectState::Pending);
    session.commit().await.unwrap();
    let rows = db
        .query(
            "SELECT n.name, p.name FROM nodes n LEFT JOIN nodes p ON p.id = n.parent_id \
             ORDER BY n.name",
            &[],
        )
        .await
        .unwrap();
    let tree: Vec<(String, Option<String>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        tree,
        [
            ("leaf".to_owned(), Some("left".to_owned())),
            ("left".to_owned(), Some("root".to_owned())),
            ("right".to_owned(), Some("root".to_owned())),
            ("root".to_owned(), None),
        ]
    );
    assert_eq!(leaf.read().parent_id, left.read().id);
}

// Catches: new objects that point at each other in a cycle being sent anyway (in some order
// one INSERT must fail) or looping forever, instead of a usage error saying what to do.
#[tokio::test]
async fn a_cycle_among_new_objects_is_a_usage_error() {
    let engine = engine().await;
    let mut session = engine.session();
    let a = node("a");
    let b = node("b");
    a.set(Node::PARENT, &b);
    b.set(Node::PARENT, &a);
    session.add(&a);
    match session.flush().await {
        Err(OrmError::Usage(message)) => assert!(message.contains("cycle"), "{message}"),
        other => panic!("expected a usage error about a cycle, got {other:?}"),
    }
    session.rollback().await.unwrap();
    // Breaking the cycle: insert one side first.
    b.unset(Node::PARENT);
    session.add(&a);
    session.commit().await.unwrap();
    assert_eq!(a.read().parent_id, b.read().id);
    assert_eq!(b.read().parent_id, None);
}

// Catches: UPDATEs that set every column (or columns that did not change), an UPDATE sent for
// an object whose value was set to what it already was, or a missing `onupdate` column.
#[tokio::test]
async fn updates_set_only_the_changed_columns() {
    let engine = engine().await;
    let db = other(&engine).await;
    log_updates(&db, "articles").await;
    log_updates(&db, "authors").await;
    let mut session = engine.session();
    let a = article("clean-python", "Clean Python");
    let b = article("other", "Other");
    let w = author("ezz");
    session.add_all([&a, &b]);
    session.add(&w);
    session.commit().await.unwrap();
    assert_eq!(update_statements(&db, "articles").await, 0);

    a.write().title = "Cleaner Python".into();
    session.commit().await.unwrap();
    assert_eq!(
        updated_columns(&db, "articles").await,
        ["title", "updated_on"]
    );
    assert_eq!(update_statements(&db, "articles").await, 1);

    // Set to the values they already have: nothing to send.
    a.write().title = "Cleaner Python".into();
    b.write().views = 0;
    w.write().email = "ezz@example.com".into();
    session.commit().await.unwrap();
    assert_eq!(update_statements(&db, "articles").await, 0);
    assert_eq!(update_statements(&db, "authors").await, 0);

    // Two objects, different columns: one UPDATE each, each with its own columns.
    a.write().views = 10;
    b.write().content = None;
    b.write().slug = "renamed".into();
    w.write().lastname = Some("Abdullah".into());
    session.commit().await.unwrap();
    assert_eq!(update_statements(&db, "articles").await, 2);
    let per_row = db
        .query(
            "SELECT a.slug, string_agg(l.col, ',' ORDER BY l.col) FROM update_log l \
             JOIN articles a ON a.id = l.row_id WHERE l.tbl = 'articles' GROUP BY a.slug \
             ORDER BY a.slug",
            &[],
        )
        .await
        .unwrap();
    let per_row: Vec<(String, String)> = per_row.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        per_row,
        [
            ("clean-python".to_owned(), "updated_on,views".to_owned()),
            ("renamed".to_owned(), "content,slug,updated_on".to_owned()),
        ]
    );
    // Authors have no onupdate column.
    assert_eq!(updated_columns(&db, "authors").await, ["lastname"]);
}

// Catches: an `onupdate` column not refreshed on UPDATE (or refreshed on INSERT only), a
// created_on changed by an UPDATE, or an explicit value of an onupdate column overwritten.
#[tokio::test]
async fn onupdate_columns_are_set_by_every_update() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let a = article("clean-python", "Clean Python");
    session.add(&a);
    session.commit().await.unwrap();
    let (created, updated) = (a.read().created_on, a.read().updated_on);
    assert!(created.is_some() && updated.is_some());

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    a.write().title = "Cleaner Python".into();
    session.commit().await.unwrap();
    assert_eq!(a.read().created_on, created);
    assert!(
        a.read().updated_on > updated,
        "{:?} > {updated:?}",
        a.read().updated_on
    );
    let stored: Option<chrono::NaiveDateTime> = db
        .query_one("SELECT updated_on FROM articles", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, a.read().updated_on);

    // A value the user sets explicitly wins over the onupdate function.
    let chosen = NaiveDate::from_ymd_opt(2000, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0);
    a.write().views = 1;
    a.write().updated_on = chosen;
    session.commit().await.unwrap();
    assert_eq!(a.read().updated_on, chosen);
}

// Catches: client-side defaults not applied on INSERT (or overwriting a value given), server
// defaults not read back into the object, or an explicit value for a server-defaulted column
// replaced by the default.
#[tokio::test]
async fn client_and_server_defaults_fill_new_rows() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let plain = article("plain", "Plain");
    let dated = article("dated", "Dated");
    let day = NaiveDate::from_ymd_opt(2022, 8, 29)
        .unwrap()
        .and_hms_opt(0, 0, 0);
    dated.write().created_on = day;
    dated.write().status = Some("published".into());
    let w = author("ezz");
    session.add_all([&plain, &dated]);
    session.add(&w);
    let before = chrono::Local::now().naive_local() - chrono::Duration::seconds(5);
    session.flush().await.unwrap();

    // Read back before the commit: these are the values the flush wrote into the objects.
    assert!(plain.read().created_on.unwrap() > before);
    assert!(plain.read().updated_on.unwrap() > before);
    assert!(w.read().joined.unwrap() > before);
    assert_eq!(
        plain.read().status.as_deref(),
        Some("draft"),
        "the server default, read back with RETURNING"
    );
    assert_eq!(dated.read().created_on, day, "a given value is kept");
    assert_eq!(dated.read().status.as_deref(), Some("published"));
    session.commit().await.unwrap();
    let rows = db
        .query(
            "SELECT slug, status, created_on FROM articles ORDER BY slug",
            &[],
        )
        .await
        .unwrap();
    let rows: Vec<(String, String, Option<chrono::NaiveDateTime>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(rows[0], ("dated".into(), "published".into(), day));
    assert_eq!((rows[1].0.as_str(), rows[1].1.as_str()), ("plain", "draft"));
    assert!(rows[1].2.is_some());
}

// Catches: a changed many-to-one link not turned into an UPDATE of the foreign key (or one that
// runs before the new parent's INSERT), and unset() not writing NULL.
#[tokio::test]
async fn moving_a_child_updates_its_foreign_key() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let first = author("ezz");
    let a = article("clean-python", "Clean Python");
    a.set(Article::AUTHOR, &first);
    session.add(&a);
    session.commit().await.unwrap();

    // A new parent, added explicitly (see the next test for the cascade).
    let second = author("ahmed");
    a.set(Article::AUTHOR, &second);
    session.add(&second);
    session.commit().await.unwrap();
    assert_eq!(session.state(&second), ObjectState::Persistent);
    let stored = committed_strings(
        &db,
        "SELECT w.email FROM articles a JOIN authors w ON w.id = a.author_id",
    )
    .await;
    assert_eq!(stored, ["ahmed@example.com"]);
    assert_eq!(a.read().author_id, second.read().id);

    a.unset(Article::AUTHOR);
    session.commit().await.unwrap();
    assert_eq!(
        committed_i32(&db, "SELECT author_id FROM articles").await,
        [None]
    );
}

// Catches: a new parent linked to an object already in the session not being inserted with it
// (SQLAlchemy's save-update cascade applies to `article.author = Author(...)` on a persistent
// article), which silently keeps the old foreign key.
#[tokio::test]
async fn a_new_parent_linked_after_add_is_inserted() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let first = author("ezz");
    let a = article("clean-python", "Clean Python");
    a.set(Article::AUTHOR, &first);
    session.add(&a);
    session.commit().await.unwrap();

    let second = author("ahmed");
    a.set(Article::AUTHOR, &second);
    session.commit().await.unwrap();
    assert_eq!(session.state(&second), ObjectState::Persistent);
    assert_eq!(
        committed_strings(
            &db,
            "SELECT w.email FROM articles a JOIN authors w ON w.id = a.author_id",
        )
        .await,
        ["ahmed@example.com"]
    );
}

// Catches: a foreign key column changed directly being overwritten at flush by the relationship
// link loaded earlier (SQLAlchemy flushes the column change when the relationship itself was not
// changed).
#[tokio::test]
async fn a_foreign_key_set_directly_is_flushed() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let first = author("ezz");
    let second = author("ahmed");
    let a = article("clean-python", "Clean Python");
    a.set(Article::AUTHOR, &first);
    session.add(&a);
    session.add(&second);
    session.commit().await.unwrap();

    let mut fresh = engine.session();
    let loaded = fresh.one(&select::<Article>()).await.unwrap();
    let parent = fresh
        .load_parent(&loaded, Article::AUTHOR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parent.read().email, "ezz@example.com");
    loaded.write().author_id = second.read().id;
    fresh.commit().await.unwrap();
    assert_eq!(
        committed_i32(&db, "SELECT author_id FROM articles").await,
        [second.read().id]
    );
    // The loaded link no longer describes the row: it is gone from both sides.
    assert!(loaded.related(Article::AUTHOR).is_none());
    assert!(parent.children(Author::ARTICLES).is_empty());
    let now = fresh
        .load_parent(&loaded, Article::AUTHOR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.read().email, "ahmed@example.com");

    // A link set explicitly still wins over the column.
    loaded.write().author_id = None;
    loaded.set(Article::AUTHOR, &parent);
    fresh.commit().await.unwrap();
    assert_eq!(
        committed_i32(&db, "SELECT author_id FROM articles").await,
        [first.read().id]
    );
}

// Catches: DELETEs sent parents first (a foreign key violation) when objects of three levels are
// deleted in one flush in the parents' order.
#[tokio::test]
async fn deletes_go_children_first() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let w = author("ezz");
    let a = article("clean-python", "Clean Python");
    let c = comment("Nice");
    a.set(Article::AUTHOR, &w);
    c.set(Comment::ARTICLE, &a);
    c.set(Comment::COMMENTER, &w);
    session.add(&c);
    session.commit().await.unwrap();

    session.delete(&w);
    session.delete(&a);
    session.delete(&c);
    session.commit().await.unwrap();
    for table in ["authors", "articles", "comments"] {
        let n = committed_i32(&db, &format!("SELECT count(*)::int4 FROM {table}")).await;
        assert_eq!(n, [Some(0)], "{table}");
    }
    for state in [session.state(&w), session.state(&a), session.state(&c)] {
        assert_eq!(state, ObjectState::Detached);
    }
}

// Catches: the rows of a self-referential tree deleted parent first (each DELETE must come
// after the DELETEs of the rows that reference it, within one table too).
#[tokio::test]
async fn a_self_referential_tree_is_deleted_children_first() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let root = node("root");
    let child = node("child");
    let grandchild = node("grandchild");
    child.set(Node::PARENT, &root);
    grandchild.set(Node::PARENT, &child);
    session.add(&root);
    session.commit().await.unwrap();

    // Deleting the root cascades (Node::CHILDREN has cascade_delete) to the loaded descendants.
    let mut fresh = engine.session();
    let roots = fresh
        .all(&select::<Node>().filter(Node::PARENT_ID.is_null()))
        .await
        .unwrap();
    let children = fresh.load(&roots[0], Node::CHILDREN).await.unwrap();
    fresh.load(&children[0], Node::CHILDREN).await.unwrap();
    fresh.delete(&roots[0]);
    fresh.commit().await.unwrap();
    assert_eq!(
        committed_i32(&db, "SELECT count(*)::int4 FROM nodes").await,
        [Some(0)]
    );
}

// Catches: the delete cascade stopping at the first level of a tree that is not loaded (each
// level's children are only found by loading them, round after round).
#[tokio::test]
async fn an_unloaded_self_referential_tree_is_deleted_whole() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let root = node("root");
    let mut parent = root.clone();
    for depth in 0..4 {
        let next = node(&format!("n{depth}"));
        next.set(Node::PARENT, &parent);
        next.push(Node::CHILDREN, &node(&format!("leaf{depth}")));
        parent = next;
    }
    let other_root = node("other");
    other_root.push(Node::CHILDREN, &node("other-child"));
    session.add(&root);
    session.add(&other_root);
    session.commit().await.unwrap();

    let mut fresh = engine.session();
    let loaded = fresh
        .one(&select::<Node>().filter(Node::NAME.eq("root")))
        .await
        .unwrap();
    fresh.delete(&loaded);
    fresh.commit().await.unwrap();
    assert_eq!(
        committed_strings(&db, "SELECT name FROM nodes ORDER BY name").await,
        ["other", "other-child"]
    );
}

// Catches: a large flush losing objects, giving two objects one id, or mixing up which parent's
// id goes into which child (1,100 INSERTs in two pipelined levels).
#[tokio::test]
async fn a_thousand_new_objects_in_one_flush() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let mut authors = Vec::new();
    let mut articles = Vec::new();
    for i in 0..100 {
        let w = author(&format!("author{i}"));
        for j in 0..10 {
            let a = article(&format!("a{i}-{j}"), &format!("Article {j} of author {i}"));
            w.push(Author::ARTICLES, &a);
            articles.push(a);
        }
        authors.push(w);
    }
    session.add_all(&authors);
    session.flush().await.unwrap();
    let mut ids: Vec<i32> = articles.iter().map(|a| a.read().id.unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1000, "every article has an id of its own");
    for (i, w) in authors.iter().enumerate() {
        let id = w.read().id;
        assert!(id.is_some());
        for a in &articles[i * 10..i * 10 + 10] {
            assert_eq!(a.read().author_id, id);
        }
    }
    session.commit().await.unwrap();
    let wrong: i64 = db
        .query_one(
            "SELECT count(*) FROM articles a JOIN authors w ON w.id = a.author_id \
             WHERE a.slug NOT LIKE 'a' || substr(w.email, 7, length(w.email) - 18) || '-%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let total: i64 = db
        .query_one(
            "SELECT count(*) FROM articles WHERE author_id IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!((total, wrong), (1000, 0));
}

// Catches: an UPDATE that matched no row (another transaction deleted it) passing silently; the
// change would be lost without a word.
#[tokio::test]
async fn an_update_of_a_row_deleted_elsewhere_is_stale_data() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let a = article("clean-python", "Clean Python");
    session.add(&a);
    session.commit().await.unwrap();
    db.execute("DELETE FROM articles", &[]).await.unwrap();
    a.write().title = "Cleaner Python".into();
    match session.flush().await {
        Err(OrmError::StaleData(message)) => assert!(message.contains("articles"), "{message}"),
        other => panic!("expected stale data, got {other:?}"),
    }
    session.rollback().await.unwrap();
    assert_eq!(a.read().title, "Clean Python");
}
