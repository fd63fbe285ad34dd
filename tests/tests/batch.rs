//! The explicit batch API against a real server: sync-each batches where a failing statement fails
//! alone, atomic batches where the statements after a failure are reported as skipped and the ones
//! before it are rolled back, a batch of 20,000 statements larger than the socket buffers in both
//! directions (no deadlock), statements that cannot be encoded, and batches inside transactions.

use std::sync::Arc;
use std::time::Duration;

use harness::{AuthMethod, TestServer};
use pg_wire::error::report;
use pg_wire::types::ToSql;
use pg_wire::{BatchResult, Client, Error, ErrorKind, SqlState, TransactionStatus};

async fn connect(tcp: bool) -> Client {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let conninfo = server.connection_string(server.superuser(), None, &db, tcp);
    Client::connect(&conninfo.parse().unwrap()).await.unwrap()
}

async fn client() -> Client {
    connect(false).await
}

async fn count(client: &Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// The server's error code of a batch item, panicking on success.
fn code(result: &Result<BatchResult, Error>) -> SqlState {
    match result {
        Ok(r) => panic!("expected an error, got {} rows", r.rows_affected),
        Err(e) => e
            .code()
            .cloned()
            .unwrap_or_else(|| panic!("not a server error: {}", report(e))),
    }
}

// Catches: a failing statement in a sync-each batch failing (or shifting the results of) the
// statements after it, and results reported out of order.
#[tokio::test]
async fn sync_each_an_error_fails_only_its_own_item() {
    let client = client().await;
    client
        .batch_execute("CREATE TABLE t (id int4 PRIMARY KEY, note text)")
        .await
        .unwrap();
    let insert = client
        .prepare("INSERT INTO t VALUES ($1, $2)")
        .await
        .unwrap();
    let ids = [1i32, 2, 2, 3, 4];
    let notes = ["a", "b", "dup", "c", "d"];
    let params: Vec<[&(dyn ToSql + Sync); 2]> = ids
        .iter()
        .zip(&notes)
        .map(|(id, note)| [id as _, note as _])
        .collect();
    let zero = 0i32;
    let zero_param: [&(dyn ToSql + Sync); 1] = [&zero];
    let mut batch = client.batch();
    batch.sync_each();
    batch.query(&insert, &params[0]);
    batch.query(&insert, &params[1]);
    batch.query(&insert, &params[2]); // duplicate key
    batch.query(&insert, &params[3]);
    batch.query("SELECT 1 / $1::int4", &zero_param);
    batch.query(&insert, &params[4]);
    batch.query("SELECT id, note FROM t ORDER BY id", &[]);
    assert_eq!(batch.len(), 7);
    let results = batch.run().await.unwrap();
    assert_eq!(results.len(), 7);
    for i in [0, 1, 3, 5] {
        let r = results[i]
            .as_ref()
            .unwrap_or_else(|e| panic!("item {i}: {}", report(e)));
        assert_eq!(r.rows_affected, 1, "item {i}");
        assert!(r.rows.is_empty());
    }
    assert_eq!(code(&results[2]), SqlState::UNIQUE_VIOLATION);
    assert_eq!(code(&results[4]), SqlState::DIVISION_BY_ZERO);
    let last = results[6].as_ref().unwrap();
    let rows: Vec<(i32, &str)> = last.rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(rows, [(1, "a"), (2, "b"), (3, "c"), (4, "d")]);
    assert_eq!(last.rows_affected, 4);
    // Each item ran in its own implicit transaction: the others are kept.
    assert_eq!(count(&client, "t").await, 4);
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
}

// Catches: a statement of the batch that the server cannot parse (syntax error, missing table)
// failing the whole batch instead of its own item; the batch API documents that the outer error
// is for connection failures and a statement's own failure is its item's error.
#[tokio::test]

async fn sync_each_a_statement_that_does_not_parse_fails_only_its_own_item() {
    let client = client().await;
    client
        .batch_execute("CREATE TABLE t (id int4)")
        .await
        .unwrap();
    let mut batch = client.batch();
    batch.sync_each();
    batch.query("INSERT INTO t VALUES (1)", &[]);
    batch.query("INSERT INTO no_such_table VALUES (2)", &[]);
    batch.query("SELEC 3", &[]);
    batch.query("INSERT INTO t VALUES (4)", &[]);
    let results = batch
        .run()
        .await
        .unwrap_or_else(|e| panic!("the whole batch failed: {}", report(&e)));
    assert_eq!(results[0].as_ref().unwrap().rows_affected, 1);
    assert_eq!(code(&results[1]), SqlState::UNDEFINED_TABLE);
    assert_eq!(code(&results[2]), SqlState::SYNTAX_ERROR);
    assert_eq!(results[3].as_ref().unwrap().rows_affected, 1);
    assert_eq!(count(&client, "t").await, 2);
}

// Catches: an atomic batch that keeps the statements before a failure (not one implicit
// transaction), that reports the skipped statements as successes or as the failure itself, or
// that loses count of results after the error.
#[tokio::test]
async fn atomic_items_after_a_failure_are_skipped_and_earlier_ones_rolled_back() {
    let client = client().await;
    client
        .batch_execute("CREATE TABLE t (id int4 PRIMARY KEY)")
        .await
        .unwrap();
    let ids: Vec<i32> = (1..=6).collect();
    let params: Vec<[&(dyn ToSql + Sync); 1]> = ids.iter().map(|id| [id as _]).collect();
    let zero = 0i32;
    let zero_param: [&(dyn ToSql + Sync); 1] = [&zero];
    let mut batch = client.batch();
    batch.query("INSERT INTO t VALUES ($1)", &params[0]);
    batch.query("INSERT INTO t VALUES ($1)", &params[1]);
    batch.query("SELECT id FROM t ORDER BY id", &[]);
    batch.query("SELECT 1 / $1::int4", &zero_param);
    batch.query("INSERT INTO t VALUES ($1)", &params[2]);
    batch.query("SELECT id FROM t ORDER BY id", &[]);
    let results = batch.run().await.unwrap();
    assert_eq!(results.len(), 6);
    // What ran before the failure completed (and is then rolled back with the batch).
    assert_eq!(results[0].as_ref().unwrap().rows_affected, 1);
    assert_eq!(results[1].as_ref().unwrap().rows_affected, 1);
    let seen: Vec<i32> = results[2]
        .as_ref()
        .unwrap()
        .rows
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(seen, [1, 2], "the batch saw its own inserts");
    assert_eq!(code(&results[3]), SqlState::DIVISION_BY_ZERO);
    for (i, result) in results.iter().enumerate().skip(4) {
        let err = result.as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Skipped, "item {i}: {}", report(err));
        assert!(err.code().is_none());
    }
    assert_eq!(
        count(&client, "t").await,
        0,
        "the earlier inserts rolled back"
    );
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);

    // Without a failure an atomic batch commits everything.
    let mut batch = client.batch();
    for p in &params {
        batch.query("INSERT INTO t VALUES ($1)", p);
    }
    for result in batch.run().await.unwrap() {
        assert_eq!(result.unwrap().rows_affected, 1);
    }
    assert_eq!(count(&client, "t").await, 6);
}

// Catches: a value that cannot be encoded (a Rust type the parameter does not accept) failing a
// sync-each batch whole, or being sent in an atomic batch whose other statements then commit.
#[tokio::test]
async fn an_item_that_cannot_be_encoded_fails_alone_or_skips_the_atomic_batch() {
    let client = client().await;
    client
        .batch_execute("CREATE TABLE t (id int4)")
        .await
        .unwrap();
    let good = 1i32;
    let wrong = true; // a bool where an int4 goes
    let good_param: [&(dyn ToSql + Sync); 1] = [&good];
    let wrong_param: [&(dyn ToSql + Sync); 1] = [&wrong];
    let insert = client.prepare("INSERT INTO t VALUES ($1)").await.unwrap();

    let mut batch = client.batch();
    batch.sync_each();
    batch.query(&insert, &good_param);
    batch.query(&insert, &wrong_param);
    batch.query(&insert, &good_param);
    let results = batch.run().await.unwrap();
    assert_eq!(results[0].as_ref().unwrap().rows_affected, 1);
    assert_eq!(
        results[1].as_ref().unwrap_err().kind(),
        ErrorKind::Conversion
    );
    assert_eq!(results[2].as_ref().unwrap().rows_affected, 1);
    assert_eq!(count(&client, "t").await, 2);

    let mut batch = client.batch();
    batch.query(&insert, &good_param);
    batch.query(&insert, &wrong_param);
    batch.query(&insert, &good_param);
    let results = batch.run().await.unwrap();
    assert_eq!(
        results[1].as_ref().unwrap_err().kind(),
        ErrorKind::Conversion
    );
    for i in [0, 2] {
        assert_eq!(
            results[i].as_ref().unwrap_err().kind(),
            ErrorKind::Skipped,
            "item {i}"
        );
    }
    assert_eq!(
        count(&client, "t").await,
        2,
        "nothing of the atomic batch ran"
    );
}

// Catches: a batch inside an explicit transaction committing on its own (a sync-each batch must
// not end the transaction), and an atomic failure not aborting the surrounding transaction.
#[tokio::test]
async fn batches_inside_a_transaction_belong_to_it() {
    let mut client = client().await;
    client
        .batch_execute("CREATE TABLE t (id int4 PRIMARY KEY)")
        .await
        .unwrap();
    let ids: Vec<i32> = (1..=3).collect();
    let params: Vec<[&(dyn ToSql + Sync); 1]> = ids.iter().map(|id| [id as _]).collect();
    {
        let tx = client.transaction().await.unwrap();
        let mut batch = tx.batch();
        batch.sync_each();
        for p in &params {
            batch.query("INSERT INTO t VALUES ($1)", p);
        }
        for result in batch.run().await.unwrap() {
            result.unwrap();
        }
        assert_eq!(tx.transaction_status(), TransactionStatus::InTransaction);
        tx.rollback().await.unwrap();
    }
    assert_eq!(
        count(&client, "t").await,
        0,
        "rolled back with the transaction"
    );

    {
        let tx = client.transaction().await.unwrap();
        let mut batch = tx.batch();
        batch.sync_each();
        batch.query("INSERT INTO t VALUES ($1)", &params[0]);
        batch.query("INSERT INTO t VALUES ($1)", &params[0]); // duplicate
        batch.query("INSERT INTO t VALUES ($1)", &params[1]);
        let results = batch.run().await.unwrap();
        assert!(results[0].is_ok());
        assert_eq!(code(&results[1]), SqlState::UNIQUE_VIOLATION);
        // The transaction is aborted: the server rejects what follows until it ends.
        assert_eq!(code(&results[2]), SqlState::IN_FAILED_SQL_TRANSACTION);
        assert_eq!(tx.transaction_status(), TransactionStatus::Failed);
        let err = tx.commit().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RolledBack);
    }
    assert_eq!(count(&client, "t").await, 0);
}

/// Runs a batch of `n` statements, each sending a parameter and getting a 200-byte row back,
/// within a time limit (a deadlock would hang); checks every result in order.
async fn large_batch(client: &Client, n: i32, atomic: bool) {
    let values: Vec<i32> = (0..n).collect();
    let params: Vec<[&(dyn ToSql + Sync); 1]> = values.iter().map(|v| [v as _]).collect();
    let statement = client
        .prepare("SELECT $1::int4 AS n, repeat('z', 200) AS pad")
        .await
        .unwrap();
    let mut batch = client.batch();
    if !atomic {
        batch.sync_each();
    }
    for p in &params {
        batch.query(&statement, p);
    }
    let results = tokio::time::timeout(Duration::from_secs(120), batch.run())
        .await
        .unwrap_or_else(|_| panic!("a batch of {n} statements did not finish: deadlock?"))
        .unwrap();
    assert_eq!(results.len(), n as usize);
    for (i, result) in results.into_iter().enumerate() {
        let result = result.unwrap_or_else(|e| panic!("item {i}: {}", report(&e)));
        assert_eq!(result.rows.len(), 1);
        assert_eq!(result.rows[0].get::<_, i32>("n"), i as i32);
        assert_eq!(result.rows[0].get::<_, &str>("pad").len(), 200);
    }
}

// Catches: a batch writer that sends everything before reading anything: with 20,000 statements
// the requests (~1 MB) and the results (~5 MB) both exceed the socket buffers, so the server
// blocks writing results nobody reads while the client blocks writing requests nobody reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_20000_statements_larger_than_the_socket_buffers_completes() {
    for tcp in [false, true] {
        let client = connect(tcp).await;
        large_batch(&client, 20_000, false).await;
        large_batch(&client, 20_000, true).await;
        // The connection is in step afterwards.
        let row = client.query_one("SELECT 7::int4", &[]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), 7);
    }

    // And 20,000 INSERTs with their data, sync-each, all kept.
    let client = client().await;
    client
        .batch_execute("CREATE TABLE t (id int4, payload text)")
        .await
        .unwrap();
    let ids: Vec<i32> = (0..20_000).collect();
    let payload = "p".repeat(100);
    let params: Vec<[&(dyn ToSql + Sync); 2]> =
        ids.iter().map(|id| [id as _, &payload as _]).collect();
    let mut batch = client.batch();
    batch.sync_each();
    for p in &params {
        batch.query("INSERT INTO t VALUES ($1, $2)", p);
    }
    let results = tokio::time::timeout(Duration::from_secs(120), batch.run())
        .await
        .expect("deadlock?")
        .unwrap();
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().unwrap().rows_affected == 1)
    );
    let row = client
        .query_one("SELECT count(*), sum(id)::int8 FROM t", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 20_000);
    assert_eq!(row.get::<_, i64>(1), (0..20_000i64).sum::<i64>());
}

// Catches: a batch's results being mixed with the replies of requests other tasks pipeline on the
// same connection at the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_and_queries_from_concurrent_tasks_each_get_their_own_results() {
    let client = Arc::new(client().await);
    let mut tasks = Vec::new();
    for task in 0..8i32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..10i32 {
                if task % 2 == 0 {
                    let values: Vec<i32> =
                        (0..50).map(|i| task * 10_000 + round * 100 + i).collect();
                    let params: Vec<[&(dyn ToSql + Sync); 1]> =
                        values.iter().map(|v| [v as _]).collect();
                    let mut batch = client.batch();
                    batch.sync_each();
                    for p in &params {
                        batch.query("SELECT $1::int4 * 2", p);
                    }
                    let results = batch.run().await.unwrap();
                    for (v, r) in values.iter().zip(results) {
                        assert_eq!(r.unwrap().rows[0].get::<_, i32>(0), v * 2);
                    }
                } else {
                    let n = task * 10_000 + round;
                    let row = client
                        .query_one("SELECT $1::int4 + 1", &[&n])
                        .await
                        .unwrap();
                    assert_eq!(row.get::<_, i32>(0), n + 1);
                }
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await
    .expect("deadlock?");
}

// Catches: an empty batch sending a stray Sync or failing.
#[tokio::test]
async fn an_empty_batch_returns_no_results() {
    let client = client().await;
    let batch = client.batch();
    assert!(batch.is_empty());
    assert!(batch.run().await.unwrap().is_empty());
    let mut batch = client.batch();
    batch.sync_each();
    assert!(batch.run().await.unwrap().is_empty());
    assert_eq!(
        client
            .query_one("SELECT 1::int4", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        1
    );
}

// Catches: a COPY FROM STDIN in a batch leaving the server waiting for copy data (a hang), or
// its messages mistaken for a server protocol violation: it is a usage error, and the connection,
// which cannot be brought back in step with the rest of the batch on the wire, is closed.
#[tokio::test]
async fn a_copy_in_a_batch_is_a_usage_error_not_a_hang() {
    for last in [true, false] {
        let client = client().await;
        client
            .batch_execute("CREATE TABLE c (x int4)")
            .await
            .unwrap();
        let mut batch = client.batch();
        batch.sync_each();
        batch.query("SELECT 1", &[]);
        batch.query("COPY c FROM STDIN", &[]);
        if !last {
            batch.query("SELECT 2", &[]);
        }
        let err = tokio::time::timeout(Duration::from_secs(10), batch.run())
            .await
            .expect("a batch with COPY hangs")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage, "{}", report(&err));
        assert!(client.is_closed());
    }
}
