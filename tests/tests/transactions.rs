//! Transactions against a real server: `BEGIN` options seen by the server (isolation level, read
//! only, deferrable) and their effect, commit and rollback seen from another connection, nested
//! savepoints in every combination, a transaction or savepoint dropped without commit, and
//! `COMMIT` of a transaction the server had already aborted.

use harness::{AuthMethod, TestServer};
use pg_wire::error::report;
use pg_wire::{Client, Config, ErrorKind, IsolationLevel, SqlState, TransactionStatus};

async fn config() -> Config {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    server
        .connection_string(server.superuser(), None, &db, false)
        .parse()
        .unwrap()
}

/// Two connections to one fresh database with a table `t (n int4)`.
async fn two_clients() -> (Client, Client) {
    let config = config().await;
    let a = Client::connect(&config).await.unwrap();
    let b = Client::connect(&config).await.unwrap();
    a.batch_execute("CREATE TABLE t (n int4)").await.unwrap();
    (a, b)
}

async fn numbers(client: &Client) -> Vec<i32> {
    client
        .query("SELECT n FROM t ORDER BY n", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn insert(client: &Client, n: i32) {
    client
        .execute("INSERT INTO t VALUES ($1)", &[&n])
        .await
        .unwrap();
}

async fn show(client: &Client, setting: &str) -> String {
    client
        .query_one(&format!("SHOW {setting}"), &[])
        .await
        .unwrap()
        .get(0)
}

// Catches: builder options that are not sent (or sent wrongly) in BEGIN: the server's view of the
// transaction must match each combination.
#[tokio::test]
async fn begin_options_are_visible_to_the_server() {
    let mut client = Client::connect(&config().await).await.unwrap();
    let cases = [
        (None, None, None, "read committed", "off", "off"),
        (
            Some(IsolationLevel::Serializable),
            Some(true),
            Some(true),
            "serializable",
            "on",
            "on",
        ),
        (
            Some(IsolationLevel::RepeatableRead),
            Some(false),
            Some(false),
            "repeatable read",
            "off",
            "off",
        ),
        (
            Some(IsolationLevel::ReadCommitted),
            Some(true),
            None,
            "read committed",
            "on",
            "off",
        ),
        (
            Some(IsolationLevel::ReadUncommitted),
            None,
            None,
            "read uncommitted",
            "off",
            "off",
        ),
        (None, None, Some(true), "read committed", "off", "on"),
    ];
    for (level, read_only, deferrable, want_level, want_ro, want_deferrable) in cases {
        let mut builder = client.build_transaction();
        if let Some(level) = level {
            builder = builder.isolation_level(level);
        }
        if let Some(read_only) = read_only {
            builder = builder.read_only(read_only);
        }
        if let Some(deferrable) = deferrable {
            builder = builder.deferrable(deferrable);
        }
        let tx = builder.start().await.unwrap();
        let what = format!("{level:?} {read_only:?} {deferrable:?}");
        assert_eq!(
            tx.transaction_status(),
            TransactionStatus::InTransaction,
            "{what}"
        );
        assert_eq!(
            show(&tx, "transaction_isolation").await,
            want_level,
            "{what}"
        );
        assert_eq!(show(&tx, "transaction_read_only").await, want_ro, "{what}");
        assert_eq!(
            show(&tx, "transaction_deferrable").await,
            want_deferrable,
            "{what}"
        );
        tx.commit().await.unwrap();
        assert_eq!(client.transaction_status(), TransactionStatus::Idle);
    }
}

// Catches: a read-only option that is only cosmetic, and an isolation level that does not take
// effect: a repeatable-read transaction must not see a row committed by another connection after
// its snapshot, while a read-committed one does.
#[tokio::test]
async fn read_only_and_isolation_levels_take_effect() {
    let (mut a, b) = two_clients().await;
    {
        let tx = a.build_transaction().read_only(true).start().await.unwrap();
        let err = tx
            .execute("INSERT INTO t VALUES (1)", &[])
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::READ_ONLY_SQL_TRANSACTION));
        tx.rollback().await.unwrap();
    }
    for (level, sees_new_row) in [
        (IsolationLevel::RepeatableRead, false),
        (IsolationLevel::ReadCommitted, true),
    ] {
        b.batch_execute("TRUNCATE t").await.unwrap();
        let tx = a
            .build_transaction()
            .isolation_level(level)
            .start()
            .await
            .unwrap();
        assert!(numbers(&tx).await.is_empty()); // takes the snapshot
        insert(&b, 7).await;
        let seen = numbers(&tx).await;
        assert_eq!(seen == [7], sees_new_row, "{level:?} saw {seen:?}");
        tx.commit().await.unwrap();
    }
}

// Catches: commit not committing (or committing before commit() is called), rollback not rolling
// back.
#[tokio::test]
async fn commit_and_rollback_are_seen_from_another_connection() {
    let (mut a, b) = two_clients().await;
    let tx = a.transaction().await.unwrap();
    insert(&tx, 1).await;
    assert_eq!(numbers(&tx).await, [1]);
    assert!(numbers(&b).await.is_empty(), "not visible before commit");
    tx.commit().await.unwrap();
    assert_eq!(numbers(&b).await, [1]);

    let tx = a.transaction().await.unwrap();
    insert(&tx, 2).await;
    tx.rollback().await.unwrap();
    assert_eq!(numbers(&b).await, [1]);
    assert_eq!(numbers(&a).await, [1]);
    assert_eq!(a.transaction_status(), TransactionStatus::Idle);
}

// Catches: savepoint commit/rollback mapped to the wrong statements (RELEASE vs ROLLBACK TO), a
// savepoint rollback that undoes the outer transaction's work, or an inner commit that survives
// the outer rollback.
#[tokio::test]
async fn nested_savepoints_commit_inner_rollback_outer_and_the_reverse() {
    let (mut a, b) = two_clients().await;

    // Commit inner, roll back outer: nothing remains.
    {
        let mut tx = a.transaction().await.unwrap();
        insert(&tx, 1).await;
        let inner = tx.transaction().await.unwrap();
        insert(&inner, 2).await;
        inner.commit().await.unwrap();
        assert_eq!(numbers(&tx).await, [1, 2]);
        tx.rollback().await.unwrap();
    }
    assert!(numbers(&b).await.is_empty());

    // Roll back inner, commit outer: the outer rows remain.
    {
        let mut tx = a.transaction().await.unwrap();
        insert(&tx, 1).await;
        let inner = tx.transaction().await.unwrap();
        insert(&inner, 2).await;
        inner.rollback().await.unwrap();
        assert_eq!(tx.transaction_status(), TransactionStatus::InTransaction);
        insert(&tx, 3).await;
        tx.commit().await.unwrap();
    }
    assert_eq!(numbers(&b).await, [1, 3]);

    // Three levels, with a named savepoint whose name needs quoting.
    b.batch_execute("TRUNCATE t").await.unwrap();
    {
        let mut tx = a.transaction().await.unwrap();
        insert(&tx, 10).await;
        let mut level2 = tx.savepoint("sp \"two\"").await.unwrap();
        insert(&level2, 20).await;
        let level3 = level2.transaction().await.unwrap();
        insert(&level3, 30).await;
        level3.rollback().await.unwrap();
        let level3 = level2.transaction().await.unwrap();
        insert(&level3, 31).await;
        level3.commit().await.unwrap();
        level2.commit().await.unwrap();
        let level2 = tx.transaction().await.unwrap();
        insert(&level2, 40).await;
        level2.rollback().await.unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(numbers(&b).await, [10, 20, 31]);
}

// Catches: a transaction dropped without commit or rollback leaving the connection inside the
// transaction (its work later committed by someone else), or its queued ROLLBACK arriving after
// the next BEGIN and undoing the next transaction.
#[tokio::test]
async fn a_dropped_transaction_rolls_back() {
    let (mut a, b) = two_clients().await;
    {
        let tx = a.transaction().await.unwrap();
        insert(&tx, 1).await;
        // dropped here
    }
    // The next query sees no transaction and no row.
    assert_eq!(numbers(&a).await, Vec::<i32>::new());
    assert_eq!(a.transaction_status(), TransactionStatus::Idle);
    assert!(numbers(&b).await.is_empty());

    // Dropped again and again, each time followed at once by a new transaction.
    for i in 0..20 {
        let tx = a.transaction().await.unwrap();
        insert(&tx, 100 + i).await;
        drop(tx);
    }
    let tx = a.transaction().await.unwrap();
    insert(&tx, 2).await;
    tx.commit().await.unwrap();
    assert_eq!(numbers(&b).await, [2]);

    // A dropped savepoint rolls back to the savepoint only.
    {
        let mut tx = a.transaction().await.unwrap();
        insert(&tx, 3).await;
        {
            let inner = tx.transaction().await.unwrap();
            insert(&inner, 4).await;
        }
        assert_eq!(numbers(&tx).await, [2, 3]);
        assert_eq!(tx.transaction_status(), TransactionStatus::InTransaction);
        tx.commit().await.unwrap();
    }
    assert_eq!(numbers(&b).await, [2, 3]);
}

// Catches: COMMIT of an aborted transaction reported as success (PostgreSQL answers it with a
// ROLLBACK tag, not an error), and the connection left in the failed transaction.
#[tokio::test]
async fn commit_after_a_failed_statement_returns_rolled_back() {
    let (mut a, b) = two_clients().await;
    let tx = a.transaction().await.unwrap();
    insert(&tx, 1).await;
    let err = tx.query("SELECT 1 / 0", &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO));
    assert_eq!(tx.transaction_status(), TransactionStatus::Failed);
    let err = tx
        .execute("INSERT INTO t VALUES (2)", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
    let err = tx.commit().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RolledBack, "{}", report(&err));
    assert_eq!(a.transaction_status(), TransactionStatus::Idle);
    assert!(numbers(&b).await.is_empty());
    assert!(numbers(&a).await.is_empty());
}

// Catches: a savepoint that cannot recover a transaction after an error (its rollback must
// return the transaction to a usable state), and a savepoint "commit" after an error that hides
// the failure.
#[tokio::test]
async fn a_savepoint_rolled_back_after_an_error_recovers_the_transaction() {
    let (mut a, b) = two_clients().await;
    {
        let mut tx = a.transaction().await.unwrap();
        insert(&tx, 1).await;
        let inner = tx.transaction().await.unwrap();
        insert(&inner, 2).await;
        inner.query("SELECT 1 / 0", &[]).await.unwrap_err();
        assert_eq!(inner.transaction_status(), TransactionStatus::Failed);
        inner.rollback().await.unwrap();
        assert_eq!(tx.transaction_status(), TransactionStatus::InTransaction);
        // Dropped after an error: the same recovery.
        {
            let inner = tx.transaction().await.unwrap();
            inner.query("SELECT 1 / 0", &[]).await.unwrap_err();
        }
        insert(&tx, 3).await;
        tx.commit().await.unwrap();
    }
    assert_eq!(numbers(&b).await, [1, 3]);

    // Releasing a savepoint whose work failed is refused; the whole transaction is then lost.
    b.batch_execute("TRUNCATE t").await.unwrap();
    let mut tx = a.transaction().await.unwrap();
    insert(&tx, 1).await;
    let inner = tx.transaction().await.unwrap();
    inner.query("SELECT 1 / 0", &[]).await.unwrap_err();
    let err = inner.commit().await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::IN_FAILED_SQL_TRANSACTION),
        "{}",
        report(&err)
    );
    let err = tx.commit().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RolledBack, "{}", report(&err));
    assert!(numbers(&b).await.is_empty());
    assert_eq!(a.transaction_status(), TransactionStatus::Idle);
}
