//! ORM relationships against a real server: both sides of one foreign key kept consistent in
//! memory, `add` cascading to unsaved relatives, lazy loading (`load`, `load_parent`), eager
//! selectin loading (`load_many`: 100 authors' articles in one query, counted), deletes with and
//! without the delete cascade, `belongs_to`, and a self-referential relationship.
//!
//! Statements are counted as table scans of the session's transaction (see `orm_common`).
//! Models and helpers: `orm_common/mod.rs`.

mod orm_common;

use orm::{Obj, ObjectState, select};
use orm_common::*;

// Catches: one side of a foreign key not following the other in memory (setting a child's parent
// not listing it in the parent's collection, pushing a child not setting its parent, moving a
// child leaving it in the old parent's collection, unset() leaving the foreign key), or a child
// listed twice.
#[tokio::test]
async fn both_sides_of_a_relationship_stay_consistent() {
    let first = author("ezz");
    let second = author("ahmed");
    let a = article("a", "A");
    let b = article("b", "B");

    a.set(Article::AUTHOR, &first);
    assert!(a.related(Article::AUTHOR) == Some(first.clone()));
    assert!(first.children(Author::ARTICLES) == [a.clone()]);

    first.push(Author::ARTICLES, &b);
    assert!(b.related(Article::AUTHOR) == Some(first.clone()));
    assert!(first.children(Author::ARTICLES) == [a.clone(), b.clone()]);
    first.push(Author::ARTICLES, &b);
    a.set(Article::AUTHOR, &first);
    assert_eq!(first.children(Author::ARTICLES).len(), 2, "no child twice");

    a.set(Article::AUTHOR, &second);
    assert!(first.children(Author::ARTICLES) == [b.clone()]);
    assert!(second.children(Author::ARTICLES) == [a.clone()]);
    assert!(a.related(Article::AUTHOR) == Some(second.clone()));

    a.write().author_id = Some(42);
    a.unset(Article::AUTHOR);
    assert!(a.related(Article::AUTHOR).is_none());
    assert!(second.children(Author::ARTICLES).is_empty());
    assert_eq!(a.read().author_id, None);

    // Another foreign key into the same parent table is another relationship.
    let c = comment("c");
    c.set(Comment::COMMENTER, &first);
    c.set(Comment::ARTICLE, &b);
    assert!(first.children(Author::ARTICLES) == [b.clone()]);
    assert!(b.children(Article::COMMENTS) == [c.clone()]);
    assert!(c.related(Comment::COMMENTER) == Some(first.clone()));
}

// Catches: links lost once the objects are in the database (the session holds children weakly
// after a flush; the caller's handles must keep the collections working).
#[tokio::test]
async fn links_survive_a_commit() {
    let engine = engine().await;
    let mut session = engine.session();
    let w = author("ezz");
    let a = article("a", "A");
    let b = article("b", "B");
    w.push(Author::ARTICLES, &a);
    w.push(Author::ARTICLES, &b);
    session.add(&w);
    session.commit().await.unwrap();
    assert!(w.children(Author::ARTICLES) == [a.clone(), b.clone()]);
    assert!(a.related(Article::AUTHOR) == Some(w.clone()));
    assert_eq!(a.read().author_id, w.read().id);
}

// Catches: add() not cascading to unsaved parents (the INSERT of the child would fail or get a
// NULL foreign key) or to attached children (they would silently not be saved), to every
// level, and cascading wrongly to persistent relatives (an INSERT of an existing row).
#[tokio::test]
async fn add_cascades_to_unsaved_relatives() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();

    // Adding an article adds its unsaved author.
    let w = author("ezz");
    let a = article("a", "A");
    a.set(Article::AUTHOR, &w);
    session.add(&a);
    assert_eq!(session.state(&w), ObjectState::Pending);

    // Adding an author adds its attached children, and theirs.
    let v = author("ahmed");
    let b = article("b", "B");
    let c = comment("c");
    v.push(Author::ARTICLES, &b);
    b.push(Article::COMMENTS, &c);
    session.add(&v);
    assert_eq!(session.state(&b), ObjectState::Pending);
    assert_eq!(session.state(&c), ObjectState::Pending);

    // add_all of several children of one new parent.
    let u = author("omar");
    let more: Vec<Obj<Article>> = (0..3).map(|i| article(&format!("m{i}"), "M")).collect();
    for m in &more {
        m.set(Article::AUTHOR, &u);
    }
    session.add_all(&more);
    assert_eq!(session.state(&u), ObjectState::Pending);
    session.commit().await.unwrap();

    // A new child of persistent parents, added: the parents are not inserted again.
    let d = comment("d");
    d.set(Comment::ARTICLE, &a);
    d.set(Comment::COMMENTER, &v);
    session.add(&d);
    assert_eq!(session.state(&a), ObjectState::Persistent);
    session.commit().await.unwrap();

    let rows = db
        .query(
            "SELECT a.slug, w.email FROM articles a JOIN authors w ON w.id = a.author_id \
             ORDER BY a.slug",
            &[],
        )
        .await
        .unwrap();
    let rows: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        rows,
        [
            ("a".to_owned(), "ezz@example.com".to_owned()),
            ("b".to_owned(), "ahmed@example.com".to_owned()),
            ("m0".to_owned(), "omar@example.com".to_owned()),
            ("m1".to_owned(), "omar@example.com".to_owned()),
            ("m2".to_owned(), "omar@example.com".to_owned()),
        ]
    );
    assert_eq!(
        committed_i32(&db, "SELECT count(*)::int4 FROM authors").await,
        [Some(3)]
    );
    let comments = db
        .query(
            "SELECT c.body, a.slug, w.email FROM comments c JOIN articles a ON a.id = c.article_id \
             LEFT JOIN authors w ON w.id = c.author_id ORDER BY c.body",
            &[],
        )
        .await
        .unwrap();
    let comments: Vec<(String, String, Option<String>)> = comments
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        comments,
        [
            ("c".to_owned(), "b".to_owned(), None),
            (
                "d".to_owned(),
                "a".to_owned(),
                Some("ahmed@example.com".to_owned())
            ),
        ]
    );
}

// Catches: a new child attached to a parent already in the session not being saved (SQLAlchemy:
// `author.articles.append(Article(...)); session.commit()` inserts the article).
#[tokio::test]
async fn a_child_pushed_onto_a_persistent_parent_is_inserted() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let w = author("ezz");
    session.add(&w);
    session.commit().await.unwrap();
    let a = article("a", "A");
    w.push(Author::ARTICLES, &a);
    session.commit().await.unwrap();
    assert_eq!(session.state(&a), ObjectState::Persistent);
    assert_eq!(
        committed_strings(&db, "SELECT slug FROM articles").await,
        ["a"]
    );
}

// Catches: load() querying the wrong foreign key, not marking the collection loaded, handing
// back objects other than the identity map's, or not linking the children to their parent;
// load_parent() querying when the parent is already in the session, or not at all when it is
// not.
#[tokio::test]
async fn lazy_loading_on_explicit_access() {
    let engine = engine().await;
    let mut session = engine.session();
    let w = author("ezz");
    let v = author("ahmed");
    for (i, parent) in [&w, &w, &v].into_iter().enumerate() {
        parent.push(Author::ARTICLES, &article(&format!("a{i}"), "A"));
    }
    session.add_all([&w, &v]);
    session.add(&article("orphan", "No author"));
    session.commit().await.unwrap();
    let w_id = w.read().id.unwrap();

    let mut fresh = engine.session();
    let author = fresh.get::<Author, _>(w_id).await.unwrap().unwrap();
    assert!(!author.is_loaded(Author::ARTICLES));
    assert!(author.children(Author::ARTICLES).is_empty());
    let before = scans(&mut fresh, "articles").await;
    let articles = fresh.load(&author, Author::ARTICLES).await.unwrap();
    assert_eq!(scans(&mut fresh, "articles").await - before, 1);
    let mut slugs: Vec<String> = articles.iter().map(|a| a.read().slug.clone()).collect();
    slugs.sort();
    assert_eq!(slugs, ["a0", "a1"]);
    assert!(author.is_loaded(Author::ARTICLES));
    assert_eq!(author.children(Author::ARTICLES).len(), 2);
    for a in &articles {
        assert!(a.related(Article::AUTHOR) == Some(author.clone()));
    }
    let queried = fresh
        .one(&select::<Article>().filter(Article::SLUG.eq("a0")))
        .await
        .unwrap();
    assert!(articles.contains(&queried), "the identity map's objects");

    // load_parent: already linked, or in the identity map: no query.
    let before = scans(&mut fresh, "authors").await;
    let parent = fresh
        .load_parent(&queried, Article::AUTHOR)
        .await
        .unwrap()
        .unwrap();
    assert!(parent == author);
    let other_article = fresh
        .one(&select::<Article>().filter(Article::SLUG.eq("a2")))
        .await
        .unwrap();
    assert!(other_article.related(Article::AUTHOR).is_none());
    assert_eq!(scans(&mut fresh, "authors").await - before, 0);
    // Not in the session: one query, then linked.
    let parent = fresh
        .load_parent(&other_article, Article::AUTHOR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parent.read().email, "ahmed@example.com");
    assert_eq!(scans(&mut fresh, "authors").await - before, 1);
    assert!(other_article.related(Article::AUTHOR) == Some(parent.clone()));
    assert!(parent.children(Author::ARTICLES).contains(&other_article));
    // The parent loaded this way is the identity map's.
    let parent_id = parent.read().id.unwrap();
    assert!(fresh.get::<Author, _>(parent_id).await.unwrap() == Some(parent.clone()));
    // No foreign key: no parent, no query.
    let orphan = fresh
        .one(&select::<Article>().filter(Article::SLUG.eq("orphan")))
        .await
        .unwrap();
    assert!(
        fresh
            .load_parent(&orphan, Article::AUTHOR)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(scans(&mut fresh, "authors").await - before, 1);
}

// Catches: the N+1 problem: loading the articles of 100 authors must cost one query (selectin),
// not one per author; and load_many grouping children under the wrong parents. The scan counter
// is checked against a loop of load() (100 queries) so it is known to count queries.
#[tokio::test]
async fn selectin_loads_the_children_of_many_parents_in_one_query() {
    let engine = engine().await;
    let mut session = engine.session();
    let mut authors = Vec::new();
    for i in 0..100 {
        let w = author(&format!("w{i}"));
        for j in 0..3 {
            w.push(Author::ARTICLES, &article(&format!("w{i}-{j}"), "A"));
        }
        authors.push(w);
    }
    authors.push(author("without-articles"));
    session.add_all(&authors);
    session.commit().await.unwrap();

    let mut fresh = engine.session();
    let (authors0, articles0) = (
        scans(&mut fresh, "authors").await,
        scans(&mut fresh, "articles").await,
    );
    let loaded = fresh
        .all(&select::<Author>().order_by(Author::ID))
        .await
        .unwrap();
    let groups = fresh.load_many(&loaded, Author::ARTICLES).await.unwrap();
    assert_eq!(
        (
            scans(&mut fresh, "authors").await - authors0,
            scans(&mut fresh, "articles").await - articles0
        ),
        (1, 1),
        "two queries in all: the authors, then all their articles"
    );
    assert_eq!(groups.len(), 101);
    for (parent, group) in loaded.iter().zip(&groups) {
        let prefix = parent.read().email.split('@').next().unwrap().to_owned();
        if prefix == "without-articles" {
            assert!(group.is_empty());
        } else {
            assert_eq!(group.len(), 3, "{prefix}");
        }
        assert!(parent.is_loaded(Author::ARTICLES));
        assert_eq!(parent.children(Author::ARTICLES).len(), group.len());
        for child in group {
            assert!(child.read().slug.starts_with(&format!("{prefix}-")));
            assert!(child.related(Article::AUTHOR) == Some(parent.clone()));
        }
    }

    // The same with a loop of lazy loads: one query per author.
    let mut lazy = engine.session();
    let loaded = lazy.all(&select::<Author>()).await.unwrap();
    let before = scans(&mut lazy, "articles").await;
    for parent in &loaded {
        lazy.load(parent, Author::ARTICLES).await.unwrap();
    }
    assert_eq!(scans(&mut lazy, "articles").await - before, 101);
}

// Catches: deleting a parent without the delete cascade deleting its children, or leaving
// their foreign key pointing at the deleted row (a foreign key violation), in the database and
// in memory.
#[tokio::test]
async fn deleting_a_parent_sets_its_loaded_childrens_foreign_key_to_null() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let w = author("ezz");
    w.push(Author::ARTICLES, &article("a", "A"));
    w.push(Author::ARTICLES, &article("b", "B"));
    session.add(&w);
    session.add(&author("ahmed"));
    session.commit().await.unwrap();

    let mut fresh = engine.session();
    let loaded = fresh
        .one(&select::<Author>().filter(Author::EMAIL.eq("ezz@example.com")))
        .await
        .unwrap();
    let articles = fresh.load(&loaded, Author::ARTICLES).await.unwrap();
    fresh.delete(&loaded);
    fresh.commit().await.unwrap();
    assert_eq!(
        committed_i32(&db, "SELECT author_id FROM articles ORDER BY slug").await,
        [None, None]
    );
    assert_eq!(
        committed_strings(&db, "SELECT email FROM authors").await,
        ["ahmed@example.com"]
    );
    for a in &articles {
        assert_eq!(fresh.state(a), ObjectState::Persistent);
        assert_eq!(a.read().author_id, None);
        assert!(a.related(Article::AUTHOR).is_none());
    }
    assert_eq!(fresh.state(&loaded), ObjectState::Detached);
}

// Catches: the delete cascade not deleting loaded children (a foreign key violation, or orphans
// left behind), or deleting children of other parents.
#[tokio::test]
async fn deleting_a_parent_with_the_delete_cascade_deletes_its_loaded_children() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let doomed = article("doomed", "Doomed");
    let kept = article("kept", "Kept");
    for (i, parent) in [&doomed, &doomed, &kept].into_iter().enumerate() {
        parent.push(Article::COMMENTS, &comment(&format!("c{i}")));
    }
    session.add_all([&doomed, &kept]);
    session.commit().await.unwrap();

    let mut fresh = engine.session();
    let loaded = fresh
        .one(&select::<Article>().filter(Article::SLUG.eq("doomed")))
        .await
        .unwrap();
    let comments = fresh.load(&loaded, Article::COMMENTS).await.unwrap();
    assert_eq!(comments.len(), 2);
    fresh.delete(&loaded);
    for c in &comments {
        assert_eq!(fresh.state(c), ObjectState::Deleted);
    }
    fresh.commit().await.unwrap();
    assert_eq!(
        committed_strings(&db, "SELECT body FROM comments").await,
        ["c2"]
    );
    assert_eq!(
        committed_strings(&db, "SELECT slug FROM articles").await,
        ["kept"]
    );
    for c in &comments {
        assert_eq!(fresh.state(c), ObjectState::Detached);
    }
}

// Catches: the delete cascade depending on which side the children were attached from
// (`comment.set(Comment::ARTICLE, &a)` instead of `a.push(Article::COMMENTS, &comment)`).
#[tokio::test]
async fn the_delete_cascade_applies_to_children_attached_from_either_side() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let a = article("a", "A");
    let c = comment("c");
    c.set(Comment::ARTICLE, &a);
    session.add(&c);
    session.commit().await.unwrap();
    session.delete(&a);
    assert_eq!(session.state(&c), ObjectState::Deleted);
    session.commit().await.unwrap();
    assert_eq!(
        committed_i32(&db, "SELECT count(*)::int4 FROM comments").await,
        [Some(0)],
        "the comment is deleted with its article, not orphaned"
    );
}

// Catches: deleting a parent whose children were not loaded failing with a foreign key
// violation (SQLAlchemy loads the collection at flush to set the children's foreign key to
// NULL).
#[tokio::test]
async fn deleting_a_parent_with_unloaded_children_sets_their_foreign_key_to_null() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let w = author("ezz");
    w.push(Author::ARTICLES, &article("a", "A"));
    session.add(&w);
    session.commit().await.unwrap();
    let mut fresh = engine.session();
    let loaded = fresh.one(&select::<Author>()).await.unwrap();
    // In the session, but not through the relationship: it must follow too.
    let in_session = fresh.one(&select::<Article>()).await.unwrap();
    fresh.delete(&loaded);
    fresh.commit().await.unwrap();
    assert_eq!(
        committed_i32(&db, "SELECT author_id FROM articles").await,
        [None]
    );
    assert_eq!(in_session.read().author_id, None);
    assert_eq!(fresh.state(&in_session), ObjectState::Persistent);
}

// Catches: the delete cascade skipping children that were not loaded (SQLAlchemy loads them to
// delete them), which fails with a foreign key violation.
#[tokio::test]
async fn the_delete_cascade_reaches_unloaded_children() {
    let engine = engine().await;
    let db = other(&engine).await;
    let mut session = engine.session();
    let a = article("a", "A");
    a.push(Article::COMMENTS, &comment("c"));
    session.add(&a);
    session.commit().await.unwrap();
    let mut fresh = engine.session();
    let loaded = fresh.one(&select::<Article>()).await.unwrap();
    let in_session = fresh.one(&select::<Comment>()).await.unwrap();
    fresh.delete(&loaded);
    fresh.flush().await.unwrap();
    assert_eq!(fresh.state(&in_session), ObjectState::Deleted);
    fresh.commit().await.unwrap();
    assert_eq!(
        committed_i32(&db, "SELECT count(*)::int4 FROM comments").await,
        [Some(0)]
    );
    assert_eq!(fresh.state(&in_session), ObjectState::Detached);
}

// Catches: a `belongs_to` (many-to-one declared on the child, without a backref) not filling its
// foreign key, not loading its parent, or not usable in a join.
#[tokio::test]
async fn belongs_to_is_a_many_to_one_relationship() {
    let engine = engine().await;
    let mut session = engine.session();
    let w = author("ezz");
    let a = article("a", "A");
    let c = comment("c");
    c.set(Comment::ARTICLE, &a);
    c.set(Comment::COMMENTER, &w);
    session.add(&c);
    session.commit().await.unwrap();
    assert_eq!(c.read().author_id, w.read().id);
    assert_eq!(a.read().author_id, None, "another foreign key to authors");

    let mut fresh = engine.session();
    let loaded = fresh.one(&select::<Comment>()).await.unwrap();
    let commenter = fresh
        .load_parent(&loaded, Comment::COMMENTER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(commenter.read().email, "ezz@example.com");
    let article = fresh
        .load_parent(&loaded, Comment::ARTICLE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(article.read().slug, "a");
    let by_commenter = select::<Comment>()
        .join(Comment::COMMENTER)
        .filter(Author::EMAIL.eq("ezz@example.com"));
    assert!(fresh.all(&by_commenter).await.unwrap() == [loaded]);
}

// Catches: a self-referential relationship confusing its two sides (children loaded through the
// wrong column, a parent that is the node itself).
#[tokio::test]
async fn a_self_referential_relationship_loads_both_ways() {
    let engine = engine().await;
    let mut session = engine.session();
    let root = node("root");
    let left = node("left");
    let right = node("right");
    let leaf = node("leaf");
    root.push(Node::CHILDREN, &left);
    root.push(Node::CHILDREN, &right);
    left.push(Node::CHILDREN, &leaf);
    session.add(&root);
    session.commit().await.unwrap();

    let mut fresh = engine.session();
    let loaded_root = fresh
        .one(&select::<Node>().filter(Node::PARENT_ID.is_null()))
        .await
        .unwrap();
    let children = fresh.load(&loaded_root, Node::CHILDREN).await.unwrap();
    let mut names: Vec<String> = children.iter().map(|n| n.read().name.clone()).collect();
    names.sort();
    assert_eq!(names, ["left", "right"]);
    let grandchildren = fresh.load_many(&children, Node::CHILDREN).await.unwrap();
    let counts: Vec<(String, usize)> = children
        .iter()
        .zip(&grandchildren)
        .map(|(n, g)| (n.read().name.clone(), g.len()))
        .collect();
    assert!(counts.contains(&("left".to_owned(), 1)) && counts.contains(&("right".to_owned(), 0)));
    let loaded_leaf = fresh
        .one(&select::<Node>().filter(Node::NAME.eq("leaf")))
        .await
        .unwrap();
    let parent = fresh
        .load_parent(&loaded_leaf, Node::PARENT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parent.read().name, "left");
    assert!(children.contains(&parent));
    let grandparent = fresh
        .load_parent(&parent, Node::PARENT)
        .await
        .unwrap()
        .unwrap();
    assert!(grandparent == loaded_root);
    assert!(
        fresh
            .load_parent(&loaded_root, Node::PARENT)
            .await
            .unwrap()
            .is_none()
    );
}

// Catches: many-to-many links not written as association rows (or written before both sides
// have their keys), one side not listing the other in memory, the add cascade not following the
// links, loading through the association table grouping wrongly or costing more than one query,
// a link between persistent objects or an unlink not flushed, and a deleted object leaving its
// association rows behind (a foreign key violation), whether or not they were loaded.
#[tokio::test]
async fn many_to_many_through_an_association_table() {
    let engine = engine().await;
    let db = other(&engine).await;
    let pairs = || async {
        let rows = db
            .query(
                "SELECT a.slug, t.name FROM article_tags x JOIN articles a ON a.id = x.article_id \
                 JOIN tags t ON t.id = x.tag_id ORDER BY 1, 2",
                &[],
            )
            .await
            .unwrap();
        rows.iter()
            .map(|r| format!("{}:{}", r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect::<Vec<String>>()
    };
    let names = |tags: &[Obj<Tag>]| {
        let mut names: Vec<String> = tags.iter().map(|t| t.read().name.clone()).collect();
        names.sort();
        names
    };
    let mut session = engine.session();
    let rust = tag("rust");
    let sql = tag("sql");
    let a = article("a", "A");
    let b = article("b", "B");
    a.link(Article::TAGS, &rust);
    a.link(Article::TAGS, &sql);
    sql.link(Tag::ARTICLES, &b);
    assert!(a.associated(Article::TAGS) == [rust.clone(), sql.clone()]);
    assert!(sql.associated(Tag::ARTICLES) == [a.clone(), b.clone()]);
    assert!(b.associated(Article::TAGS) == [sql.clone()]);
    // Adding one article cascades to its tags, and through them to the other article.
    session.add(&a);
    assert_eq!(session.state(&b), ObjectState::Pending);
    session.commit().await.unwrap();
    assert_eq!(pairs().await, ["a:rust", "a:sql", "b:sql"]);

    // Loading from either side, one query each, through the identity map.
    let mut fresh = engine.session();
    let articles = fresh
        .all(&select::<Article>().order_by(Article::SLUG))
        .await
        .unwrap();
    let before = scans(&mut fresh, "tags").await;
    let tags = fresh
        .load_associated(&articles, Article::TAGS)
        .await
        .unwrap();
    assert_eq!(scans(&mut fresh, "tags").await - before, 1);
    assert_eq!(names(&tags[0]), ["rust", "sql"]);
    assert_eq!(names(&tags[1]), ["sql"]);
    assert!(articles[0].is_associated_loaded(Article::TAGS));
    let loaded_sql = tags[1][0].clone();
    let back = fresh
        .load_associated(std::slice::from_ref(&loaded_sql), Tag::ARTICLES)
        .await
        .unwrap();
    assert_eq!(back[0].len(), 2);
    assert!(back[0].contains(&articles[0]) && back[0].contains(&articles[1]));

    // A new tag linked to a persistent article is inserted with its row; persistent objects
    // linked and unlinked.
    let new_tag = tag("new");
    articles[1].link(Article::TAGS, &new_tag);
    let loaded_rust = tags[0]
        .iter()
        .find(|t| t.read().name == "rust")
        .unwrap()
        .clone();
    articles[1].link(Article::TAGS, &loaded_rust);
    articles[0].unlink(Article::TAGS, &loaded_rust);
    assert!(!loaded_rust.associated(Tag::ARTICLES).contains(&articles[0]));
    fresh.commit().await.unwrap();
    assert_eq!(fresh.state(&new_tag), ObjectState::Persistent);
    assert_eq!(pairs().await, ["a:sql", "b:new", "b:rust", "b:sql"]);

    // Deleting a tag whose rows are loaded, then, elsewhere, an article whose rows are not.
    fresh.delete(&loaded_sql);
    fresh.commit().await.unwrap();
    assert_eq!(pairs().await, ["b:new", "b:rust"]);
    assert!(!articles[1].associated(Article::TAGS).contains(&loaded_sql));
    let mut third = engine.session();
    let loaded_b = third
        .one(&select::<Article>().filter(Article::SLUG.eq("b")))
        .await
        .unwrap();
    third.delete(&loaded_b);
    third.commit().await.unwrap();
    assert!(pairs().await.is_empty());
    assert_eq!(
        committed_strings(&db, "SELECT name FROM tags ORDER BY name").await,
        ["new", "rust"],
        "the tags stay: only the association rows go"
    );
}
