//! Row streaming against a real server: rows consumed one by one from `query_raw` (also through
//! `futures_core::Stream`), a stream dropped half way (outside and inside a transaction), an error
//! after some rows, and portals inside a transaction fetched in chunks with `max_rows`.
//!
//! Iterating 5,000,000 rows with bounded memory is in `streaming_memory.rs`, a test binary of its
//! own so no other test shares the process whose memory it measures.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use harness::{AuthMethod, TestServer};
use pg_wire::error::report;
use pg_wire::{Client, ErrorKind, Row, SqlState, TransactionStatus};

async fn client() -> Client {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let conninfo = server.connection_string(server.superuser(), None, &db, false);
    Client::connect(&conninfo.parse().unwrap()).await.unwrap()
}

const MANY: &str = "SELECT g, repeat('r', 300) AS pad FROM generate_series(1, $1::int4) g";

// Catches: rows delivered out of order or lost, a wrong row count, and columns not known before
// the first row.
#[tokio::test]
async fn rows_arrive_one_by_one_in_order() {
    let client = client().await;
    let mut stream = client.query_raw(MANY, &[&20_000i32]).await.unwrap();
    let names: Vec<&str> = stream.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["g", "pad"]);
    assert_eq!(stream.rows_affected(), None, "not finished yet");
    let mut expected = 1;
    while let Some(row) = stream.next().await {
        let row = row.unwrap();
        assert_eq!(row.get::<_, i32>(0), expected);
        assert_eq!(row.get::<_, &str>(1).len(), 300);
        expected += 1;
    }
    assert_eq!(expected, 20_001);
    assert_eq!(stream.rows_affected(), Some(20_000));
    assert!(!stream.is_suspended());
    assert!(
        stream.next().await.is_none(),
        "a finished stream stays finished"
    );
}

// Catches: RowStream's futures_core::Stream implementation disagreeing with its own next().
#[tokio::test]
async fn the_stream_trait_yields_the_same_rows() {
    let client = client().await;
    let mut stream = client.query_raw(MANY, &[&1000i32]).await.unwrap();
    let mut sum = 0i64;
    let mut count = 0;
    while let Some(row) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
        sum += i64::from(row.unwrap().get::<_, i32>(0));
        count += 1;
    }
    assert_eq!(count, 1000);
    assert_eq!(sum, 1000 * 1001 / 2);
    assert_eq!(stream.rows_affected(), Some(1000));
}

// Catches: a stream dropped before its end leaving its unread rows to be taken as the next
// query's answer, leaving the connection waiting forever, or leaving it out of step.
#[tokio::test]
async fn a_stream_dropped_half_way_leaves_the_connection_usable() {
    let client = client().await;
    for read in [0usize, 1, 10, 5_000, 19_999] {
        let mut stream = client.query_raw(MANY, &[&20_000i32]).await.unwrap();
        for _ in 0..read {
            stream.next().await.unwrap().unwrap();
        }
        drop(stream);
        let row = tokio::time::timeout(
            Duration::from_secs(30),
            client.query_one("SELECT $1::int4 AS marker", &[&(read as i32)]),
        )
        .await
        .expect("the next query hangs")
        .unwrap_or_else(|e| panic!("after reading {read} rows: {}", report(&e)));
        assert_eq!(row.columns()[0].name(), "marker");
        assert_eq!(row.get::<_, i32>(0), read as i32);
        assert_eq!(client.transaction_status(), TransactionStatus::Idle);
        // The same SQL again gives the whole result.
        let rows = client.query(MANY, &[&3i32]).await.unwrap();
        let got: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(got, [1, 2, 3]);
    }
}

// Catches: a dropped stream inside a transaction ending or aborting the transaction, or its rows
// leaking into the transaction's next statement.
#[tokio::test]
async fn a_stream_dropped_inside_a_transaction_leaves_the_transaction_intact() {
    let mut client = client().await;
    client
        .batch_execute("CREATE TABLE t (n int4)")
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    tx.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    let mut stream = tx.query_raw(MANY, &[&10_000i32]).await.unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    tx.execute("INSERT INTO t VALUES (2)", &[]).await.unwrap();
    assert_eq!(tx.transaction_status(), TransactionStatus::InTransaction);
    tx.commit().await.unwrap();
    let rows = client
        .query("SELECT n FROM t ORDER BY n", &[])
        .await
        .unwrap();
    let got: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(got, [1, 2]);
}

// Catches: an error that arrives after some rows being lost (the stream just ending), reported
// before the rows that came first, or leaving the connection out of step.
#[tokio::test]
async fn an_error_after_some_rows_ends_the_stream_with_that_error() {
    let client = client().await;
    let mut stream = client
        .query_raw(
            "SELECT 10 / (5000 - g) FROM generate_series(1, 10000) g",
            &[],
        )
        .await
        .unwrap();
    let mut rows = 0;
    let err = loop {
        match stream.next().await {
            Some(Ok(_)) => rows += 1,
            Some(Err(e)) => break e,
            None => panic!("the stream ended without the error after {rows} rows"),
        }
    };
    assert_eq!(rows, 4999);
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO));
    assert!(stream.next().await.is_none());
    drop(stream);
    let row = client.query_one("SELECT 'after'::text", &[]).await.unwrap();
    assert_eq!(row.get::<_, &str>(0), "after");
}

// Catches: two streams from different tasks interleaving their rows, or the second one starting
// before the first is consumed and stealing its rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_from_two_tasks_each_see_their_own_rows() {
    let client = Arc::new(client().await);
    let mut tasks = Vec::new();
    for task in 0..4i32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = client
                .query_raw(
                    "SELECT $1::int4 AS task, g FROM generate_series(1, 3000) g",
                    &[&task],
                )
                .await
                .unwrap();
            let mut expected = 1;
            while let Some(row) = stream.next().await {
                let row = row.unwrap();
                assert_eq!(row.get::<_, i32>("task"), task);
                assert_eq!(row.get::<_, i32>("g"), expected);
                expected += 1;
                if expected % 500 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            assert_eq!(expected, 3001);
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

fn numbers(rows: &[Row]) -> Vec<i32> {
    rows.iter().map(|r| r.get(0)).collect()
}

// Catches: Execute with a row limit ignoring the limit, re-running the portal from the start,
// losing the rows between chunks, or is_suspended not telling whether the portal has more.
#[tokio::test]
async fn portals_inside_a_transaction_return_rows_in_chunks() {
    let mut client = client().await;
    let tx = client.transaction().await.unwrap();
    let portal = tx
        .bind(
            "SELECT g, 'row ' || g AS label FROM generate_series(1, $1::int4) g",
            &[&10i32],
        )
        .await
        .unwrap();
    let names: Vec<&str> = portal.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["g", "label"]);

    let mut chunks = Vec::new();
    let mut suspended = Vec::new();
    loop {
        let mut stream = tx.query_portal_raw(&portal, 3).await.unwrap();
        let mut chunk = Vec::new();
        while let Some(row) = stream.next().await {
            let row = row.unwrap();
            assert_eq!(
                row.get::<_, String>(1),
                format!("row {}", row.get::<_, i32>(0))
            );
            chunk.push(row.get::<_, i32>(0));
        }
        suspended.push(stream.is_suspended());
        let done = !stream.is_suspended();
        chunks.push(chunk);
        if done {
            break;
        }
        assert!(chunks.len() < 10, "the portal never ends");
    }
    assert_eq!(
        chunks,
        [vec![1, 2, 3], vec![4, 5, 6], vec![7, 8, 9], vec![10]]
    );
    assert_eq!(suspended, [true, true, true, false]);

    // Two portals side by side keep their own positions; query_portal collects a chunk.
    let a = tx
        .bind("SELECT g FROM generate_series(1, 100) g", &[])
        .await
        .unwrap();
    let b = tx
        .bind("SELECT g FROM generate_series(1001, 1100) g", &[])
        .await
        .unwrap();
    assert_eq!(numbers(&tx.query_portal(&a, 2).await.unwrap()), [1, 2]);
    assert_eq!(
        numbers(&tx.query_portal(&b, 3).await.unwrap()),
        [1001, 1002, 1003]
    );
    assert_eq!(numbers(&tx.query_portal(&a, 2).await.unwrap()), [3, 4]);
    // A chunk stream dropped half way: the rest of that chunk is gone, the portal moves on.
    let mut stream = tx.query_portal_raw(&b, 10).await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap().get::<_, i32>(0), 1004);
    drop(stream);
    assert_eq!(
        numbers(&tx.query_portal(&b, 2).await.unwrap()),
        [1014, 1015]
    );
    // 0 fetches everything that remains.
    let rest = tx.query_portal(&a, 0).await.unwrap();
    assert_eq!(numbers(&rest), (5..=100).collect::<Vec<_>>());
    assert!(tx.query_portal(&a, 5).await.unwrap().is_empty());
    drop(a);
    drop(b);
    drop(portal);

    // Other statements of the transaction run between chunks.
    let statement = tx
        .prepare("SELECT g FROM generate_series(1, $1::int4) g")
        .await
        .unwrap();
    let c = tx.bind(&statement, &[&5i32]).await.unwrap();
    assert_eq!(numbers(&tx.query_portal(&c, 2).await.unwrap()), [1, 2]);
    let n: i32 = tx.query_one("SELECT 77::int4", &[]).await.unwrap().get(0);
    assert_eq!(n, 77);
    assert_eq!(numbers(&tx.query_portal(&c, 0).await.unwrap()), [3, 4, 5]);
    drop(c);
    tx.commit().await.unwrap();
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
}

// Catches: a dropped portal not being closed on the server (portals would pile up for the rest
// of the transaction), and a portal's bind error not being reported as the statement's error.
#[tokio::test]
async fn dropped_portals_are_closed_and_bind_errors_are_reported() {
    let mut client = client().await;
    let tx = client.transaction().await.unwrap();
    let cursors = "SELECT count(*) FROM pg_cursors";
    let before: i64 = tx.query_one(cursors, &[]).await.unwrap().get(0);
    let portals = {
        let mut portals = Vec::new();
        for _ in 0..5 {
            portals.push(
                tx.bind("SELECT g FROM generate_series(1, 10) g", &[])
                    .await
                    .unwrap(),
            );
        }
        portals
    };
    let open: i64 = tx.query_one(cursors, &[]).await.unwrap().get(0);
    assert_eq!(open, before + 5, "five portals open on the server");
    drop(portals);
    let after: i64 = tx.query_one(cursors, &[]).await.unwrap().get(0);
    assert_eq!(after, before, "dropped portals were closed");

    // A parameter the server cannot read fails in Bind: the error is the bind's.
    let err = tx
        .bind("SELECT $1::int4", &[&"not a number"])
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Db, "{}", report(&err));
    assert_eq!(err.code(), Some(&SqlState::INVALID_TEXT_REPRESENTATION));
    assert_eq!(tx.transaction_status(), TransactionStatus::Failed);
    drop(tx);
    assert_eq!(
        client
            .query_one("SELECT 1::int4", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        1
    );
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
}
