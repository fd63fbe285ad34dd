//! The ORM session against a real server: every object state transition (transient, pending,
//! persistent, deleted, detached; expunge; close; a detached object added again), the identity
//! map (one row, one object; `get` without a query when the object is there), autoflush before
//! queries, commit reloading objects, rollback restoring them, a failed flush (UNIQUE and NOT NULL
//! violations) naming what failed and leaving the session usable after `rollback()`, `refresh`,
//! and an engine that does not connect before it is used.
//!
//! Models and helpers: `orm_common/mod.rs`.

mod orm_common;

use orm::{ObjectState, OrmError, select};
use orm_common::*;
use pg_wire::SqlState;

// Catches: a state reported wrongly at any step of an object's life (add not making it pending,
// a flush not making it persistent or not giving it its generated id, delete not marking it, a
// commit not detaching a deleted object), or a DELETE that is not sent.
#[tokio::test]
async fn an_object_goes_through_every_state() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let a = author("ezz");
    assert_eq!(session.state(&a), ObjectState::Transient);
    session.add(&a);
    assert_eq!(session.state(&a), ObjectState::Pending);
    assert_eq!(a.read().id, None, "nothing is sent before the flush");
    session.flush().await.unwrap();
    assert_eq!(session.state(&a), ObjectState::Persistent);
    let id = a
        .read()
        .id
        .expect("the flush gives the object its generated id");
    session.commit().await.unwrap();
    assert_eq!(session.state(&a), ObjectState::Persistent);
    assert_eq!(
        committed_i32(&db, "SELECT id FROM authors").await,
        [Some(id)]
    );

    session.delete(&a);
    assert_eq!(session.state(&a), ObjectState::Deleted);
    session.flush().await.unwrap();
    assert_eq!(
        session.state(&a),
        ObjectState::Deleted,
        "deleted until the transaction commits"
    );
    assert_eq!(
        session.get::<orm_common::Author, _>(id).await.unwrap(),
        None,
        "get() does not hand back a deleted object"
    );
    session.commit().await.unwrap();
    assert_eq!(session.state(&a), ObjectState::Detached);
    assert!(
        committed_i32(&db, "SELECT id FROM authors")
            .await
            .is_empty()
    );
    assert_eq!(a.read().id, Some(id), "a detached object keeps its values");
}

// Catches: deleting a pending object leaving it in the session (it would be inserted at the next
// flush) or in a state other than transient.
#[tokio::test]
async fn deleting_a_pending_object_makes_it_transient() {
    let engine = engine().await;
    let mut session = engine.session();
    let a = author("ezz");
    session.add(&a);
    session.delete(&a);
    assert_eq!(session.state(&a), ObjectState::Transient);
    session.commit().await.unwrap();
    assert_eq!(session.count(&select::<Author>()).await.unwrap(), 0);
    assert_eq!(a.read().id, None);
}

// Catches: expunge not detaching (later changes would still be flushed), an expunged pending
// object still being inserted, or the identity map still handing back an expunged object.
#[tokio::test]
async fn expunge_detaches_an_object() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let kept = author("ezz");
    let dropped = author("ahmed");
    session.add(&kept);
    session.add(&dropped);
    session.expunge(&dropped);
    assert_eq!(session.state(&dropped), ObjectState::Transient);
    session.commit().await.unwrap();
    assert_eq!(
        committed_strings(&db, "SELECT email FROM authors").await,
        ["ezz@example.com"],
        "an expunged pending object is not inserted"
    );

    session.expunge(&kept);
    assert_eq!(session.state(&kept), ObjectState::Detached);
    kept.write().firstname = Some("Changed".into());
    session.commit().await.unwrap();
    assert_eq!(
        committed_strings(&db, "SELECT firstname FROM authors").await,
        ["ezz"],
        "changes to a detached object are not flushed"
    );
    let loaded = session.one(&select::<Author>()).await.unwrap();
    assert!(
        loaded != kept,
        "the identity map no longer holds the expunged object"
    );
    assert_eq!(loaded.read().firstname.as_deref(), Some("ezz"));
    assert_eq!(kept.read().firstname.as_deref(), Some("Changed"));
}

// Catches: close() leaving objects attached or the transaction open (uncommitted rows would stay
// visible to the session, or be committed later), or a closed session that cannot be used again.
#[tokio::test]
async fn close_rolls_back_and_detaches_everything() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let committed = author("ezz");
    session.add(&committed);
    session.commit().await.unwrap();
    let uncommitted = author("ahmed");
    session.add(&uncommitted);
    session.flush().await.unwrap();
    assert!(uncommitted.read().id.is_some());
    session.close().await.unwrap();
    assert_eq!(session.state(&committed), ObjectState::Detached);
    assert_eq!(
        session.state(&uncommitted),
        ObjectState::Transient,
        "the row inserted in the rolled-back transaction is gone, so the object is transient"
    );
    assert_eq!(uncommitted.read().id, None);
    assert_eq!(
        committed_strings(&db, "SELECT email FROM authors").await,
        ["ezz@example.com"]
    );

    // The session works after close, with a new transaction and an empty identity map.
    let again = session.one(&select::<Author>()).await.unwrap();
    assert!(again != committed);
    session.add(&author("omar"));
    session.commit().await.unwrap();
    assert_eq!(session.count(&select::<Author>()).await.unwrap(), 2);
}

// Catches: add() of a detached object inserting it again (a duplicate key error) instead of
// attaching it as persistent, or changes made after re-adding not being flushed.
#[tokio::test]
async fn a_detached_object_added_again_is_persistent() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let a = author("ezz");
    session.add(&a);
    session.commit().await.unwrap();
    session.close().await.unwrap();
    assert_eq!(session.state(&a), ObjectState::Detached);

    let mut second = engine.session();
    second.add(&a);
    assert_eq!(second.state(&a), ObjectState::Persistent);
    a.write().lastname = Some("Abdullah".into());
    second.commit().await.unwrap();
    assert_eq!(
        committed_strings(&db, "SELECT lastname FROM authors").await,
        ["Abdullah"]
    );
    let id = a.read().id.unwrap();
    assert!(
        second.get::<Author, _>(id).await.unwrap() == Some(a.clone()),
        "the re-added object is the one in the identity map"
    );
}

// Catches: changes made to an object while it was detached being lost when it is added again
// (SQLAlchemy tracks them and flushes them after `session.add(obj)`).
#[tokio::test]
async fn changes_made_while_detached_are_flushed_after_adding_again() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let a = author("ezz");
    session.add(&a);
    session.commit().await.unwrap();
    session.expunge(&a);
    a.write().lastname = Some("Abdullah".into());
    session.add(&a);
    session.commit().await.unwrap();
    assert_eq!(
        committed_strings(&db, "SELECT lastname FROM authors").await,
        ["Abdullah"],
        "the change made while detached reaches the database"
    );
    assert_eq!(a.read().lastname.as_deref(), Some("Abdullah"));
}

// Catches: a detached object whose row the session already holds as another object being made
// pending (its flush would INSERT a duplicate row) instead of being refused (SQLAlchemy raises
// "another instance with key ... is already present in this session").
#[tokio::test]
async fn a_detached_copy_of_a_loaded_row_is_not_inserted_again() {
    let engine = engine().await;
    let mut session = engine.session();
    let a = author("ezz");
    session.add(&a);
    session.commit().await.unwrap();
    session.expunge(&a);
    let loaded = session.one(&select::<Author>()).await.unwrap();
    assert!(loaded != a);
    session.add(&a);
    assert_ne!(
        session.state(&a),
        ObjectState::Pending,
        "its row exists: it must not be inserted again"
    );
    session.flush().await.unwrap();
    match session.try_add(&a) {
        Err(OrmError::Usage(message)) => {
            assert!(message.contains("already in this session"), "{message}")
        }
        other => panic!("expected a usage error, got {other:?}"),
    }
    assert_eq!(session.state(&a), ObjectState::Detached);
    // Once the session's own object for the row is gone, the detached one can come back.
    session.expunge(&loaded);
    session.try_add(&a).unwrap();
    assert_eq!(session.state(&a), ObjectState::Persistent);
}

// Catches: an object whose row was deleted (and committed) being added again as if its row
// existed (an UPDATE of nothing), or an object of another live session being shared by two
// identity maps (SQLAlchemy raises in both cases).
#[tokio::test]
async fn deleted_objects_and_objects_of_another_session_are_refused() {
    let engine = engine().await;
    let mut session = engine.session();
    let gone = author("ezz");
    let kept = author("ahmed");
    session.add_all([&gone, &kept]);
    session.commit().await.unwrap();
    session.delete(&gone);
    session.commit().await.unwrap();
    assert_eq!(session.state(&gone), ObjectState::Detached);
    match session.try_add(&gone) {
        Err(OrmError::Usage(message)) => assert!(message.contains("deleted"), "{message}"),
        other => panic!("expected a usage error, got {other:?}"),
    }
    session.add(&gone);
    assert_eq!(session.state(&gone), ObjectState::Detached);

    let mut second = engine.session();
    assert_eq!(second.state(&kept), ObjectState::Detached);
    match second.try_add(&kept) {
        Err(OrmError::Usage(message)) => {
            assert!(message.contains("another session"), "{message}")
        }
        other => panic!("expected a usage error, got {other:?}"),
    }
    // Dropping the first session detaches its objects: they can move.
    drop(session);
    kept.write().lastname = Some("Moved".into());
    second.try_add(&kept).unwrap();
    second.commit().await.unwrap();
    assert_eq!(
        second
            .one(&select::<Author>())
            .await
            .unwrap()
            .read()
            .lastname
            .as_deref(),
        Some("Moved")
    );
}

// Catches: an object made with its primary key already set (a natural key, or a chosen id)
// taken for a detached row and never inserted (SQLAlchemy inserts a new object whatever its
// key).
#[tokio::test]
async fn a_new_object_with_its_key_set_is_inserted() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let a = author("ezz");
    a.write().id = Some(50);
    assert_eq!(session.state(&a), ObjectState::Transient);
    session.add(&a);
    assert_eq!(session.state(&a), ObjectState::Pending);
    session.commit().await.unwrap();
    assert_eq!(
        committed_i32(&db, "SELECT id FROM authors").await,
        [Some(50)]
    );
}

// Catches: an identity map that hands back a new object for a row already loaded (a change made
// through one handle would not be seen through the other, and two UPDATEs could race), across
// `all`, `first`, `one`, `get` and `query_raw`.
#[tokio::test]
async fn one_row_is_one_object() {
    let engine = engine().await;
    let mut session = engine.session();
    let a = article("clean-python", "How to Write Clean Python");
    session.add(&a);
    session.add(&article("other", "Other"));
    session.commit().await.unwrap();
    let id = a.read().id.unwrap();

    let query = select::<Article>().filter(Article::SLUG.eq("clean-python"));
    let first = session.first(&query).await.unwrap().unwrap();
    let one = session.one(&query).await.unwrap();
    let from_all = session
        .all(&select::<Article>().order_by(Article::ID.asc()))
        .await
        .unwrap();
    let got = session.get::<Article, _>(id).await.unwrap().unwrap();
    let raw = session
        .query_raw::<Article>(
            "SELECT id, slug, title, created_on, updated_on, content, views, status, author_id \
             FROM articles WHERE id = $1",
            &[orm::Value::I32(id)],
        )
        .await
        .unwrap();
    assert!(first == a && one == a && from_all[0] == a && got == a && raw[0] == a);
    assert!(from_all[1] != a);

    first.write().title = "Clean Python".into();
    assert_eq!(a.read().title, "Clean Python");
    assert_eq!(got.read().title, "Clean Python");
    session.commit().await.unwrap();
    assert_eq!(
        session.one(&query).await.unwrap().read().title,
        "Clean Python"
    );
}

// Catches: get() sending a SELECT for an object the identity map already holds, or not loading
// an absent one (counted with the session's table scans, see orm_common).
#[tokio::test]
async fn get_uses_the_identity_map_before_the_database() {
    let engine = engine().await;
    let mut session = engine.session();
    let a = author("ezz");
    session.add(&a);
    session.commit().await.unwrap();
    let id = a.read().id.unwrap();

    let mut fresh = engine.session();
    let before = scans(&mut fresh, "authors").await;
    let loaded = fresh.get::<Author, _>(id).await.unwrap().unwrap();
    assert_eq!(
        scans(&mut fresh, "authors").await - before,
        1,
        "an absent object is loaded"
    );
    assert_eq!(loaded.read().email, "ezz@example.com");
    for _ in 0..3 {
        let again = fresh.get::<Author, _>(id).await.unwrap().unwrap();
        assert!(again == loaded);
    }
    assert_eq!(
        scans(&mut fresh, "authors").await - before,
        1,
        "a present object is handed back without a query"
    );
    assert!(fresh.get::<Author, _>(id + 1000).await.unwrap().is_none());
}

// Catches: a query that does not flush first, so it misses pending objects and unflushed
// changes (SQLAlchemy's autoflush); and set_autoflush(false) still flushing.
#[tokio::test]
async fn queries_flush_first() {
    let engine = engine().await;
    let mut session = engine.session();
    let a = article("clean-python", "How to Write Clean Python");
    session.add(&a);
    let found = session
        .first(&select::<Article>().filter(Article::SLUG.eq("clean-python")))
        .await
        .unwrap();
    assert!(found == Some(a.clone()), "the pending object was flushed");
    assert_eq!(session.state(&a), ObjectState::Persistent);

    a.write().title = "Clean Python".into();
    assert_eq!(
        session
            .count(&select::<Article>().filter(Article::TITLE.eq("Clean Python")))
            .await
            .unwrap(),
        1,
        "count() sees the unflushed change"
    );
    session.add(&article("second", "Second"));
    assert!(
        session
            .exists(&select::<Article>().filter(Article::SLUG.eq("second")))
            .await
            .unwrap()
    );
    let third = article("third", "Third");
    third.set(Article::AUTHOR, &author("ezz"));
    session.add(&third);
    let authors = session.all(&select::<Author>()).await.unwrap();
    assert_eq!(authors.len(), 1, "the cascaded author was flushed as well");

    session.set_autoflush(false);
    let fourth = article("fourth", "Fourth");
    session.add(&fourth);
    assert_eq!(
        session.count(&select::<Article>()).await.unwrap(),
        3,
        "with autoflush off, the pending object is not sent"
    );
    assert_eq!(session.state(&fourth), ObjectState::Pending);
    session.flush().await.unwrap();
    assert_eq!(session.count(&select::<Article>()).await.unwrap(), 4);
}

// Catches: commit not reloading objects (they would keep values another transaction changed, or
// values the server computed), and set_expire_on_commit(false) reloading anyway. Before the
// commit, a query must not overwrite the object in the identity map (as SQLAlchemy).
#[tokio::test]
async fn commit_reloads_the_objects() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let a = article("clean-python", "How to Write Clean Python");
    session.add(&a);
    session.commit().await.unwrap();
    let id = a.read().id.unwrap();

    // The session's transaction is open (autobegin) and has loaded the row.
    let loaded = session.get::<Article, _>(id).await.unwrap().unwrap();
    assert!(loaded == a);
    db.execute(
        "UPDATE articles SET title = 'Changed elsewhere', views = 7 WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap();
    let again = session
        .one(&select::<Article>().filter(Article::ID.eq(id)))
        .await
        .unwrap();
    assert!(again == a);
    assert_eq!(
        a.read().title,
        "How to Write Clean Python",
        "a query does not overwrite the object the identity map holds"
    );
    session.commit().await.unwrap();
    assert_eq!(a.read().title, "Changed elsewhere", "commit reloads");
    assert_eq!(a.read().views, 7);

    session.set_expire_on_commit(false);
    db.execute(
        "UPDATE articles SET title = 'Changed again' WHERE id = $1",
        &[&id],
    )
    .await
    .unwrap();
    session.commit().await.unwrap();
    assert_eq!(a.read().title, "Changed elsewhere");
}

// Catches: rollback leaving changed values in persistent objects, leaving objects inserted in
// the transaction persistent (with ids of rows that no longer exist), or breaking the session.
#[tokio::test]
async fn rollback_restores_persistent_objects_and_makes_inserted_ones_transient() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let kept = article("kept", "Kept");
    session.add(&kept);
    session.commit().await.unwrap();

    kept.write().title = "Changed".into();
    kept.write().views = 3;
    let inserted = article("inserted", "Inserted");
    let never_flushed = article("never", "Never");
    session.add(&inserted);
    session.flush().await.unwrap();
    session.add(&never_flushed);
    assert!(inserted.read().id.is_some());
    session.rollback().await.unwrap();

    assert_eq!(kept.read().title, "Kept");
    assert_eq!(kept.read().views, 0);
    assert_eq!(session.state(&kept), ObjectState::Persistent);
    assert_eq!(session.state(&inserted), ObjectState::Transient);
    assert_eq!(inserted.read().id, None);
    assert_eq!(
        inserted.read().status,
        None,
        "server-generated values go too"
    );
    assert_eq!(session.state(&never_flushed), ObjectState::Transient);
    assert_eq!(
        committed_strings(&db, "SELECT slug FROM articles").await,
        ["kept"]
    );
    // Nothing is left to flush for the restored object, and the rest can be added again.
    session.add(&inserted);
    session.commit().await.unwrap();
    assert_eq!(
        committed_strings(&db, "SELECT title FROM articles ORDER BY id").await,
        ["Kept", "Inserted"]
    );
    assert!(inserted.read().id.is_some());
}

// Catches: rollback of a flushed DELETE leaving the object out of the identity map (a query of
// its row would then hand back a second object for it) or not persistent.
#[tokio::test]
async fn rollback_of_a_flushed_delete_restores_the_object() {
    let engine = engine().await;
    let mut session = engine.session();
    let a = author("ezz");
    session.add(&a);
    session.commit().await.unwrap();
    let id = a.read().id.unwrap();
    session.delete(&a);
    session.flush().await.unwrap();
    session.rollback().await.unwrap();
    assert_eq!(session.state(&a), ObjectState::Persistent);
    let loaded = session.get::<Author, _>(id).await.unwrap().unwrap();
    assert!(loaded == a, "one row, one object, after the rollback too");
}

// Catches: a rolled-back child still listed by its persistent parent (SQLAlchemy's expired
// collection would not list it when reloaded), or the child losing the link that lets it be
// added again.
#[tokio::test]
async fn rollback_takes_new_children_out_of_persistent_collections() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let w = author("ezz");
    session.add(&w);
    session.commit().await.unwrap();
    let flushed = article("flushed", "Flushed");
    let unflushed = article("unflushed", "Unflushed");
    w.push(Author::ARTICLES, &flushed);
    session.flush().await.unwrap();
    w.push(Author::ARTICLES, &unflushed);
    session.rollback().await.unwrap();
    assert!(w.children(Author::ARTICLES).is_empty());
    for a in [&flushed, &unflushed] {
        assert_eq!(session.state(a), ObjectState::Transient);
        assert!(a.related(Article::AUTHOR) == Some(w.clone()));
    }
    session.add(&flushed);
    session.commit().await.unwrap();
    assert_eq!(
        committed_i32(&db, "SELECT author_id FROM articles").await,
        [w.read().id]
    );
}

// Catches: rollback leaving a relationship link made in the rolled-back transaction (the object
// would still point to a parent that is not its parent in the database).
#[tokio::test]
async fn rollback_restores_relationship_links() {
    let engine = engine().await;
    let mut session = engine.session();
    let first = author("ezz");
    let a = article("clean-python", "Clean Python");
    a.set(Article::AUTHOR, &first);
    session.add(&a);
    session.commit().await.unwrap();

    let second = author("ahmed");
    a.set(Article::AUTHOR, &second);
    session.flush().await.unwrap();
    session.rollback().await.unwrap();
    assert_eq!(a.read().author_id, first.read().id);
    assert_eq!(session.state(&second), ObjectState::Transient);
    let parent = a.related(Article::AUTHOR);
    assert!(
        parent.is_none() || parent == Some(first.clone()),
        "the article's parent is its author in the database again"
    );
    assert!(second.children(Author::ARTICLES).is_empty());
}

// Catches: a UNIQUE violation that does not name its constraint, a session that goes on working
// in an aborted transaction (or half-applies the failed flush to the objects), or a session that
// stays unusable after rollback().
#[tokio::test]
async fn a_failed_flush_names_the_constraint_and_needs_a_rollback() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let kept = article("clean-python", "Clean Python");
    session.add(&kept);
    session.commit().await.unwrap();

    kept.write().title = "Changed".into();
    let earlier = article("earlier", "Flushed before the failure");
    session.add(&earlier);
    session.flush().await.unwrap();
    let duplicate = article("clean-python", "Duplicate");
    session.add(&duplicate);
    let err = session.flush().await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION));
    let db_error = err.as_driver_error().and_then(|e| e.as_db_error()).unwrap();
    assert_eq!(db_error.constraint(), Some("articles_slug_key"));
    assert!(err.to_string().contains("articles_slug_key"), "{err}");
    assert_eq!(
        duplicate.read().id,
        None,
        "the failed flush changed nothing"
    );
    assert_eq!(session.state(&duplicate), ObjectState::Pending);

    // Every way of using the session is refused until rollback().
    let refusals = [
        session.all(&select::<Article>()).await.map(|_| ()),
        session.count(&select::<Article>()).await.map(|_| ()),
        session.flush().await,
        session.commit().await,
        session.execute_raw("SELECT 1", &[]).await.map(|_| ()),
    ];
    for refusal in refusals {
        match refusal {
            Err(OrmError::Usage(message)) => assert!(message.contains("rollback"), "{message}"),
            other => panic!("expected a usage error asking for rollback(), got {other:?}"),
        }
    }
    session.rollback().await.unwrap();
    assert_eq!(session.state(&duplicate), ObjectState::Transient);
    assert_eq!(session.state(&earlier), ObjectState::Transient);
    assert_eq!(earlier.read().id, None);
    assert_eq!(kept.read().title, "Clean Python");
    assert_eq!(session.state(&kept), ObjectState::Persistent);

    // Fully usable again.
    duplicate.write().slug = "duplicate".into();
    session.add(&duplicate);
    session.add(&earlier);
    kept.write().views = 5;
    session.commit().await.unwrap();
    assert_eq!(
        committed_strings(&db, "SELECT slug FROM articles ORDER BY slug").await,
        ["clean-python", "duplicate", "earlier"]
    );
    assert_eq!(
        committed_i32(
            &db,
            "SELECT views FROM articles WHERE slug = 'clean-python'"
        )
        .await,
        [Some(5)]
    );
}

// Catches: a NOT NULL violation that does not say which column, or a flush that fails in its
// second level (the children) leaving the first level's generated ids in the objects.
#[tokio::test]
async fn a_not_null_violation_in_a_later_level_leaves_the_objects_unchanged() {
    let engine = engine().await;
    let db = other(&engine).await;
    // The model says `content` may be NULL; the database disagrees.
    db.batch_execute("ALTER TABLE articles ALTER COLUMN content SET NOT NULL")
        .await
        .unwrap();
    let mut session = engine.session();
    let a = author("ezz");
    let bad = article("bad", "No content");
    bad.write().content = None;
    bad.set(Article::AUTHOR, &a);
    session.add(&bad);
    let err = session.flush().await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::NOT_NULL_VIOLATION));
    let db_error = err.as_driver_error().and_then(|e| e.as_db_error()).unwrap();
    assert_eq!(db_error.column(), Some("content"));
    assert!(err.to_string().contains("\"content\""), "{err}");
    assert_eq!(
        a.read().id,
        None,
        "the author's INSERT succeeded, but its id is not kept after the failure"
    );
    assert_eq!(bad.read().author_id, None);
    session.rollback().await.unwrap();
    assert_eq!(session.state(&a), ObjectState::Transient);

    bad.write().content = Some("Now with content".into());
    session.add(&bad);
    session.commit().await.unwrap();
    assert_eq!(bad.read().author_id, a.read().id);
    assert_eq!(
        committed_i32(&db, "SELECT count(*)::int4 FROM authors").await,
        [Some(1)]
    );
}

// Catches: refresh() keeping unflushed changes (or flushing them first), or not reading what
// another transaction committed.
#[tokio::test]
async fn refresh_discards_unflushed_changes() {
    let engine = engine().await;
    let db = other(&engine).await;
    log_updates(&db, "articles").await;
    let mut session = engine.session();
    let a = article("clean-python", "Clean Python");
    session.add(&a);
    session.commit().await.unwrap();

    a.write().title = "Unflushed".into();
    db.execute("UPDATE articles SET views = 9", &[])
        .await
        .unwrap();
    assert_eq!(update_statements(&db, "articles").await, 1);
    session.refresh(&a).await.unwrap();
    assert_eq!(a.read().title, "Clean Python");
    assert_eq!(a.read().views, 9);
    assert_eq!(session.state(&a), ObjectState::Persistent);
    session.commit().await.unwrap();
    assert_eq!(
        update_statements(&db, "articles").await,
        0,
        "nothing was left to flush"
    );

    db.execute("DELETE FROM articles", &[]).await.unwrap();
    assert!(matches!(
        session.refresh(&a).await,
        Err(OrmError::NotFound(_))
    ));
}

// Catches: an engine or a session that connects when made (SQLAlchemy's create_engine does
// not), and sessions from one sessionmaker sharing state.
#[tokio::test]
async fn engines_and_sessions_connect_lazily() {
    // Nothing listens on port 1: creating the engine and a session must still succeed.
    let engine = orm::create_engine("postgresql://nobody@127.0.0.1:1/nothing").unwrap();
    let factory = orm::sessionmaker(&engine);
    let mut session = factory.session();
    assert_eq!(engine.pool().status().size, 0);
    assert!(session.count(&select::<Author>()).await.is_err());

    let engine = orm_common::engine().await;
    let factory = orm::sessionmaker(&engine);
    let mut one = factory.session();
    let mut two = factory.session();
    let a = author("ezz");
    one.add(&a);
    assert_eq!(two.count(&select::<Author>()).await.unwrap(), 0);
    one.commit().await.unwrap();
    let seen = two.one(&select::<Author>()).await.unwrap();
    assert!(seen != a, "each session has its own identity map");
}

// Catches: the values an object holds after a flush differing from what the database stored
// (a client-side `now()` default with nanoseconds, stored with microseconds), which would make
// the object disagree with a refresh or another session.
#[tokio::test]
async fn a_flushed_object_holds_what_the_database_stored() {
    let engine = engine().await;
    let mut session = engine.session();
    let a = article("clean-python", "Clean Python");
    session.add(&a);
    session.flush().await.unwrap();
    let in_memory = a.read().created_on;
    let rows = session
        .execute_raw("SELECT created_on FROM articles", &[])
        .await
        .unwrap();
    let stored: Option<chrono::NaiveDateTime> = rows[0].get(0);
    assert_eq!(in_memory, stored);
}

// Catches: commit() reporting success for a transaction the server had already aborted (after a
// failed statement outside a flush, PostgreSQL answers COMMIT with a ROLLBACK tag, not an error),
// which would leave objects persistent whose rows were never stored.
#[tokio::test]
async fn commit_after_a_failed_statement_is_an_error() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let a = author("ezz");
    session.add(&a);
    session.flush().await.unwrap();
    let err = session.execute_raw("SELECT 1 / 0", &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO));
    let committed = session.commit().await;
    let stored = committed_strings(&db, "SELECT email FROM authors").await;
    assert!(stored.is_empty(), "the server rolled the transaction back");
    assert!(
        committed.is_err(),
        "commit() must not report success for a rolled-back transaction"
    );
    session.rollback().await.unwrap();
    assert_eq!(session.state(&a), ObjectState::Transient);
    session.add(&a);
    session.commit().await.unwrap();
    assert_eq!(
        committed_strings(&db, "SELECT email FROM authors").await,
        ["ezz@example.com"]
    );
}

// Catches: a failed statement outside a flush (here a bulk update breaking a UNIQUE constraint)
// leaving the session working in an aborted transaction: every later statement would fail with
// "current transaction is aborted" instead of the session asking for rollback(), as after a
// failed flush.
#[tokio::test]
async fn a_failed_statement_outside_a_flush_needs_a_rollback() {
    let engine = engine().await;
    let mut session = engine.session();
    let a = author("ezz");
    let b = author("ahmed");
    session.add_all([&a, &b]);
    session.commit().await.unwrap();
    let err = session
        .update(
            &select::<Author>(),
            &[Author::EMAIL.set("same@example.com")],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION));
    match session.count(&select::<Author>()).await {
        Err(OrmError::Usage(message)) => assert!(message.contains("rollback"), "{message}"),
        other => panic!("expected a usage error asking for rollback(), got {other:?}"),
    }
    assert!(session.commit().await.is_err());
    session.rollback().await.unwrap();
    assert_eq!(session.count(&select::<Author>()).await.unwrap(), 2);
    // A client-side error (a value the column's type cannot take) does not abort anything.
    let err = session
        .execute_raw("SELECT $1::int4", &[orm::Value::Bool(true)])
        .await
        .unwrap_err();
    assert!(err.code().is_none(), "{err}");
    assert_eq!(session.count(&select::<Author>()).await.unwrap(), 2);
}

// Catches: a COMMIT the server refuses (a deferred constraint checked at commit time) reported as
// success, or a session that goes on as if the flushed rows were stored.
#[tokio::test]
async fn a_commit_the_server_refuses_is_an_error() {
    let engine = engine().await;
    let db = other(&engine).await;
    db.batch_execute(
        "ALTER TABLE articles ADD CONSTRAINT one_title UNIQUE (title) DEFERRABLE INITIALLY DEFERRED",
    )
    .await
    .unwrap();
    let mut session = engine.session();
    let a = article("a", "Same");
    let b = article("b", "Same");
    session.add_all([&a, &b]);
    let err = session.commit().await.unwrap_err();
    let db_error = err.as_driver_error().and_then(|e| e.as_db_error()).unwrap();
    assert_eq!(db_error.constraint(), Some("one_title"));
    assert!(matches!(session.flush().await, Err(OrmError::Usage(_))));
    session.rollback().await.unwrap();
    assert_eq!(session.state(&a), ObjectState::Transient);
    assert!(
        committed_strings(&db, "SELECT slug FROM articles")
            .await
            .is_empty()
    );
}

// Catches: a session dropped with its transaction open committing it, or returning the
// connection to the pool still inside that transaction (the next user would see its rows).
#[tokio::test]
async fn a_dropped_session_rolls_back() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    session.add(&author("ezz"));
    session.flush().await.unwrap();
    drop(session);
    assert!(
        committed_strings(&db, "SELECT email FROM authors")
            .await
            .is_empty()
    );
    drop(db);
    for _ in 0..3 {
        let mut next = engine.session();
        assert_eq!(next.count(&select::<Author>()).await.unwrap(), 0);
        next.add(&author("ahmed"));
        next.rollback().await.unwrap();
    }
}

// Catches: a changed primary key leaving the old key in the identity map (get() of the old key
// would hand back the object, whose row now has another key).
#[tokio::test]
async fn changing_a_primary_key_moves_the_object_in_the_identity_map() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let a = author("ezz");
    session.add(&a);
    session.commit().await.unwrap();
    let old = a.read().id.unwrap();
    a.write().id = Some(100);
    session.flush().await.unwrap();
    let moved = session.get::<Author, _>(100).await.unwrap();
    assert!(moved == Some(a.clone()));
    assert!(
        session.get::<Author, _>(old).await.unwrap().is_none(),
        "no row has the old key any more"
    );
    session.commit().await.unwrap();
    assert_eq!(
        committed_i32(&db, "SELECT id FROM authors").await,
        [Some(100)]
    );
}
