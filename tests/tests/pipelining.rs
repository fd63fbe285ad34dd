//! Implicit pipelining against a real server: requests issued concurrently on one connection (from
//! many tasks sharing an `Arc<Client>`, or from futures polled together in one task) each get
//! their own answer, in the order they were issued; a failing request fails alone; a request
//! dropped half way leaves the others undisturbed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use harness::{AuthMethod, TestServer};
use pg_wire::error::report;
use pg_wire::{Client, ErrorKind, SqlState, TransactionStatus};
use tokio::sync::Barrier;

async fn client() -> Client {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let conninfo = server.connection_string(server.superuser(), None, &db, false);
    Client::connect(&conninfo.parse().unwrap()).await.unwrap()
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Polls all futures together (in order, on every wake-up) until all are done; their outputs in
/// order. The first poll of each happens in order, so requests are queued in that order.
async fn join_all<'a, T>(futures: Vec<BoxFuture<'a, T>>) -> Vec<T> {
    let mut futures: Vec<Option<BoxFuture<'a, T>>> = futures.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

/// Runs the tasks' futures to completion within `limit`; a hang (a deadlock in the driver) fails
/// the test instead of blocking the suite.
async fn within<T>(limit: Duration, what: &str, tasks: Vec<tokio::task::JoinHandle<T>>) {
    tokio::time::timeout(limit, async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: not done within {limit:?} (deadlock?)"));
}

// Catches: replies handed to the wrong caller when 50 tasks issue requests at once (a response
// queue out of step with the request queue), results of different sizes (some larger than the
// socket buffers) getting mixed, and requests quietly going through several connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_tasks_on_one_connection_each_get_their_own_answers() {
    let client = Arc::new(client().await);
    let pid = client.process_id().unwrap();
    let barrier = Arc::new(Barrier::new(50));
    let mut tasks = Vec::new();
    for task in 0..50i32 {
        let client = client.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            for i in 0..20i32 {
                let n = task * 1000 + i;
                // Some results are large (up to 600 KB), most are small.
                let len = if (task + i) % 7 == 0 { 200_000 } else { i };
                let row = client
                    .query_one(
                        "SELECT $1::int4 AS n, repeat($2::text, $3::int4) AS s, pg_backend_pid() AS pid",
                        &[&n, &format!("{task}:"), &len],
                    )
                    .await
                    .unwrap_or_else(|e| panic!("task {task} query {i}: {}", report(&e)));
                assert_eq!(row.get::<_, i32>("n"), n);
                let s: &str = row.get("s");
                assert_eq!(s.len(), format!("{task}:").len() * len as usize);
                assert!(s.is_empty() || s.starts_with(&format!("{task}:")));
                assert_eq!(row.get::<_, i32>("pid"), pid);
                // execute() and a prepared statement interleaved with the others.
                let affected = client
                    .execute("SELECT generate_series(1, $1::int4)", &[&(i + 1)])
                    .await
                    .unwrap();
                assert_eq!(affected, (i + 1) as u64);
            }
        }));
    }
    within(Duration::from_secs(120), "50 tasks", tasks).await;
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
    assert!(!client.has_pending_requests());
}

// Catches: a deadlock between a simple query (which holds the writer from its Query message to
// its last reply) and an extended-protocol request queued just before it whose own write still
// waits for the writer: the extended request cannot hand out its receiver until its write
// returns, and the simple query cannot finish until the extended request has read its reply.
#[tokio::test]

async fn simple_and_extended_queries_from_concurrent_tasks_do_not_deadlock() {
    let client = Arc::new(client().await);
    let mut tasks = Vec::new();
    for task in 0..10i32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50i32 {
                if task % 2 == 0 {
                    let messages = client
                        .simple_query(&format!("SELECT {task} + {i}"))
                        .await
                        .unwrap();
                    let got = messages.iter().find_map(|m| match m {
                        pg_wire::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                        _ => None,
                    });
                    assert_eq!(got, Some((task + i).to_string()));
                } else {
                    let row = client
                        .query_one("SELECT $1::int4", &[&(task * 100 + i)])
                        .await
                        .unwrap();
                    assert_eq!(row.get::<_, i32>(0), task * 100 + i);
                }
            }
        }));
    }
    within(
        Duration::from_secs(30),
        "simple and extended queries",
        tasks,
    )
    .await;
}

// Catches: pipelined requests reordered on the wire (the server must see them in the order they
// were issued) and rows returned to the wrong future when many are in flight from one task.
#[tokio::test]
async fn futures_polled_together_are_sent_in_order_and_each_gets_its_rows() {
    let client = client().await;
    client
        .batch_execute("CREATE TABLE log (id serial PRIMARY KEY, n int4)")
        .await
        .unwrap();
    let insert = client
        .prepare("INSERT INTO log (n) VALUES ($1) RETURNING id, n")
        .await
        .unwrap();
    let values: Vec<i32> = (0..200).collect();
    let futures: Vec<BoxFuture<'_, Result<pg_wire::Row, pg_wire::Error>>> = values
        .iter()
        .map(|n| Box::pin(async { client.query_one(&insert, &[n]).await }) as BoxFuture<'_, _>)
        .collect();
    let rows = join_all(futures).await;
    for (n, row) in values.iter().zip(rows) {
        let row = row.unwrap();
        assert_eq!(row.get::<_, i32>("n"), *n);
        // ids follow issue order: the server received the INSERTs in the order issued.
        assert_eq!(row.get::<_, i32>("id"), n + 1);
    }
}

// Catches: an error in one pipelined request failing (or desynchronizing) the requests queued
// around it: a runtime error, a Parse error of a new statement, a constraint violation and a bad
// text value, each in the middle of successful requests.
#[tokio::test]
async fn an_error_inside_a_pipeline_fails_only_its_own_request() {
    let client = &client().await;
    client
        .batch_execute("CREATE TABLE u (id int4 PRIMARY KEY); INSERT INTO u VALUES (1)")
        .await
        .unwrap();
    let ok_values: Vec<i32> = (0..40).collect();
    let one = 1i32;
    let bad = "not a number";
    let mut futures: Vec<BoxFuture<'_, Result<i32, pg_wire::Error>>> = Vec::new();
    let mut expected: Vec<Result<i32, SqlState>> = Vec::new();
    for (k, n) in ok_values.iter().enumerate() {
        futures.push(Box::pin(async move {
            client
                .query_one("SELECT $1::int4 + 1", &[n])
                .await
                .map(|r| r.get(0))
        }));
        expected.push(Ok(n + 1));
        let (future, code): (BoxFuture<'_, _>, SqlState) = match k % 4 {
            0 => (
                Box::pin(async {
                    client
                        .query_one("SELECT 1 / ($1::int4 - 1)", &[&one])
                        .await
                        .map(|r| r.get(0))
                }),
                SqlState::DIVISION_BY_ZERO,
            ),
            1 => (
                Box::pin(async {
                    client
                        .query_one("SELEC 1", &[])
                        .await
                        .map(|r| r.get::<_, i32>(0))
                }),
                SqlState::SYNTAX_ERROR,
            ),
            2 => (
                Box::pin(async {
                    client
                        .execute("INSERT INTO u VALUES ($1)", &[&one])
                        .await
                        .map(|n| n as i32)
                }),
                SqlState::UNIQUE_VIOLATION,
            ),
            _ => (
                Box::pin(async {
                    client
                        .query_one("SELECT $1::text::int4", &[&bad])
                        .await
                        .map(|r| r.get(0))
                }),
                SqlState::INVALID_TEXT_REPRESENTATION,
            ),
        };
        futures.push(future);
        expected.push(Err(code));
    }
    let results = join_all(futures).await;
    for (i, (result, expected)) in results.iter().zip(&expected).enumerate() {
        match (result, expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "request {i}"),
            (Err(e), Err(code)) => {
                assert_eq!(e.kind(), ErrorKind::Db, "request {i}: {}", report(e));
                assert_eq!(e.code(), Some(code), "request {i}: {}", report(e));
            }
            (got, want) => panic!(
                "request {i}: got {:?}, expected {want:?}",
                got.as_ref().map_err(|e| report(e))
            ),
        }
    }
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
    let n: i64 = client
        .query_one("SELECT count(*) FROM u", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

// Catches: a request cancelled (its future dropped) while others are queued behind it leaving
// its unread responses to be taken as theirs, or stalling them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_dropped_in_the_middle_of_a_pipeline_leaves_the_others_correct() {
    let client = Arc::new(client().await);
    let mut tasks = Vec::new();
    for task in 0..20i32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10i32 {
                if (task + i) % 3 == 0 {
                    // A large result abandoned after a moment.
                    let _ = tokio::time::timeout(
                        Duration::from_millis(1),
                        client.query(
                            "SELECT g, repeat('y', 500) FROM generate_series(1, 5000) g",
                            &[],
                        ),
                    )
                    .await;
                } else {
                    let n = task * 100 + i;
                    let row = client
                        .query_one("SELECT $1::int4, $2::text", &[&n, &format!("t{task}")])
                        .await
                        .unwrap_or_else(|e| panic!("task {task} query {i}: {}", report(&e)));
                    assert_eq!(row.get::<_, i32>(0), n);
                    assert_eq!(row.get::<_, &str>(1), format!("t{task}"));
                }
            }
        }));
    }
    within(Duration::from_secs(60), "20 tasks", tasks).await;
    let row = client.query_one("SELECT 42::int4", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
}
