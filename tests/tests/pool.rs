//! The connection pool against a real server: the bound on open connections under 100 concurrent
//! tasks (seen from the client and from `pg_stat_activity`), the checkout timeout and fair
//! waiting, the reset of connections returned mid-transaction or with a dropped request, the
//! replacement of broken connections, the lifetime and idle limits, detach and close.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use harness::{AuthMethod, TestServer};
use pg_wire::{Client, Config, ErrorKind, Pool, PoolOptions, TransactionStatus};
use tokio::sync::Mutex;

/// A fresh database, the settings to reach it with an application_name unique to the test
/// (to find the pool's backends in `pg_stat_activity`), and a separate observer client.
struct Setup {
    config: Config,
    app: String,
    observer: Client,
}

async fn setup() -> Setup {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let app = TestServer::unique_name("pool");
    let conninfo = server.connection_string(server.superuser(), None, &db, false);
    let config: Config = format!("{conninfo} application_name={app}")
        .parse()
        .unwrap();
    let observer = Client::connect(&conninfo.parse().unwrap()).await.unwrap();
    Setup {
        config,
        app,
        observer,
    }
}

impl Setup {
    /// The server's count of backends with the pool's application_name.
    async fn backends(&self) -> i64 {
        self.observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&self.app],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// Waits until the server counts `n` backends for the pool (backends exit asynchronously).
    async fn wait_for_backends(&self, n: i64) {
        let started = Instant::now();
        loop {
            let count = self.backends().await;
            if count == n {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "still {count} backends, expected {n}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Terminates the backend `pid` and waits until it is gone.
    async fn terminate(&self, pid: i32) {
        let done: bool = self
            .observer
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap()
            .get(0);
        assert!(done);
        let started = Instant::now();
        while self
            .observer
            .query_opt("SELECT 1 FROM pg_stat_activity WHERE pid = $1", &[&pid])
            .await
            .unwrap()
            .is_some()
        {
            assert!(started.elapsed() < Duration::from_secs(10));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn pid(client: &Client) -> i32 {
    client.process_id().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pool_of_4_serving_100_concurrent_tasks_never_opens_more_than_4_connections() {
    let setup = Arc::new(setup().await);
    let pool = Pool::new(setup.config.clone(), PoolOptions::new().max_size(4));

    // Watches the server's view and the pool's while the tasks run.
    let running = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (setup, pool, running) = (Arc::clone(&setup), pool.clone(), Arc::clone(&running));
        tokio::spawn(async move {
            let (mut most_backends, mut most_size, mut samples) = (0, 0, 0);
            while running.load(Ordering::Acquire) {
                most_backends = most_backends.max(setup.backends().await);
                let status = pool.status();
                assert_eq!(status.size, status.idle + status.in_use);
                most_size = most_size.max(status.size);
                samples += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (most_backends, most_size, samples)
        })
    };

    let pids = Arc::new(Mutex::new(Vec::new()));
    let concurrent = Arc::new(AtomicUsize::new(0));
    let most_concurrent = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..100i32 {
        let (pool, pids) = (pool.clone(), Arc::clone(&pids));
        let (concurrent, most_concurrent) = (Arc::clone(&concurrent), Arc::clone(&most_concurrent));
        tasks.push(tokio::spawn(async move {
            let client = pool.get().await.unwrap();
            let now = concurrent.fetch_add(1, Ordering::SeqCst) + 1;
            most_concurrent.fetch_max(now, Ordering::SeqCst);
            let row = client
                .query_one(
                    "SELECT pg_backend_pid(), $1::int4 * 2, pg_sleep(0.01)::text",
                    &[&i],
                )
                .await
                .unwrap();
            assert_eq!(row.get::<_, i32>(1), i * 2);
            pids.lock().await.push(row.get::<_, i32>(0));
            concurrent.fetch_sub(1, Ordering::SeqCst);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    running.store(false, Ordering::Release);
    let (most_backends, most_size, samples) = watcher.await.unwrap();

    let pids = pids.lock().await;
    assert_eq!(pids.len(), 100);
    let distinct: HashSet<i32> = pids.iter().copied().collect();
    assert_eq!(distinct.len(), 4, "backend pids: {distinct:?}");
    assert!(samples > 1);
    assert!(most_backends <= 4, "pg_stat_activity saw {most_backends}");
    assert!(most_backends >= 1);
    assert!(most_size <= 4, "the pool reported {most_size} connections");
    assert!(most_concurrent.load(Ordering::SeqCst) <= 4);
    assert_eq!(most_concurrent.load(Ordering::SeqCst), 4);

    let status = pool.status();
    assert_eq!((status.size, status.idle, status.in_use), (4, 4, 0));
    assert_eq!(setup.backends().await, 4);
    pool.close().await;
    setup.wait_for_backends(0).await;
}

#[tokio::test]
async fn checkout_times_out_when_every_connection_is_held() {
    let setup = setup().await;
    let pool = Pool::new(
        setup.config.clone(),
        PoolOptions::new()
            .max_size(2)
            .checkout_timeout(Duration::from_millis(200)),
    );
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    let started = Instant::now();
    let error = pool.get().await.unwrap_err();
    let waited = started.elapsed();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert!(error.is_timeout());
    assert!(error.to_string().contains("exhausted for 0.2 s"), "{error}");
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    assert_eq!(pool.status().in_use, 2);

    // A returned connection ends the wait of the next checkout, and is reused.
    let a_pid = pid(&a);
    drop(a);
    let c = pool.get().await.unwrap();
    assert_eq!(pid(&c), a_pid);
    drop((b, c));
    assert_eq!(setup.backends().await, 2);
}

#[tokio::test]
async fn waiting_checkouts_are_served_in_arrival_order() {
    let setup = setup().await;
    let pool = Pool::new(setup.config.clone(), PoolOptions::new().max_size(1));
    let held = pool.get().await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut waiters = Vec::new();
    for i in 0..5 {
        let (pool, order) = (pool.clone(), Arc::clone(&order));
        waiters.push(tokio::spawn(async move {
            let client = pool.get().await.unwrap();
            order.lock().await.push(i);
            client.batch_execute("SELECT 1").await.unwrap();
        }));
        // Let this waiter join the line before the next one.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(held);
    for waiter in waiters {
        waiter.await.unwrap();
    }
    assert_eq!(*order.lock().await, [0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn a_connection_returned_mid_transaction_is_rolled_back_before_the_next_checkout() {
    let setup = setup().await;
    let pool = Pool::new(setup.config.clone(), PoolOptions::new().max_size(1));
    let client = pool.get().await.unwrap();
    client
        .batch_execute("CREATE TABLE t (id int4)")
        .await
        .unwrap();
    let first_pid = pid(&client);

    // An open transaction with an uncommitted row.
    client
        .batch_execute("BEGIN; INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    assert_eq!(
        client.transaction_status(),
        TransactionStatus::InTransaction
    );
    drop(client);
    assert_eq!(pool.status().idle, 1);

    let client = pool.get().await.unwrap();
    assert_eq!(
        pid(&client),
        first_pid,
        "the connection is reused, not replaced"
    );
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
    let count: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "the uncommitted row is gone");

    // A failed transaction.
    client.batch_execute("BEGIN").await.unwrap();
    let error = client.batch_execute("SELECT 1/0").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Db);
    assert_eq!(client.transaction_status(), TransactionStatus::Failed);
    drop(client);

    let client = pool.get().await.unwrap();
    assert_eq!(pid(&client), first_pid);
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
    client
        .batch_execute("INSERT INTO t VALUES (2)")
        .await
        .unwrap();
    drop(client);

    let client = pool.get().await.unwrap();
    let count: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1, "autocommit works after the reset");
}

#[tokio::test]
async fn a_connection_returned_with_a_dropped_request_is_drained_and_rolled_back() {
    let setup = setup().await;
    let pool = Pool::new(setup.config.clone(), PoolOptions::new().max_size(1));
    let client = pool.get().await.unwrap();
    client
        .batch_execute("CREATE TABLE t (id int4)")
        .await
        .unwrap();
    let first_pid = pid(&client);

    // The request opens a transaction, then is dropped while the server still sleeps: the
    // last ReadyForQuery the client saw said idle, but the server is about to say otherwise.
    let cut = tokio::time::timeout(
        Duration::from_millis(100),
        client.batch_execute("BEGIN; INSERT INTO t VALUES (1); SELECT pg_sleep(0.4)"),
    )
    .await;
    assert!(cut.is_err(), "the request was cut short");
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
    assert!(client.has_pending_requests());
    drop(client);

    let client = pool.get().await.unwrap();
    assert_eq!(pid(&client), first_pid);
    assert!(!client.has_pending_requests());
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
    let count: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        count, 0,
        "the dropped request's transaction was rolled back"
    );
}

#[tokio::test]
async fn a_connection_returned_broken_is_replaced() {
    let setup = setup().await;
    let pool = Pool::new(setup.config.clone(), PoolOptions::new().max_size(2));
    let client = pool.get().await.unwrap();
    let first_pid = pid(&client);
    setup.terminate(first_pid).await;
    client.batch_execute("SELECT 1").await.unwrap_err();
    assert!(client.is_closed());
    drop(client);
    let status = pool.status();
    assert_eq!(
        (status.size, status.idle),
        (0, 0),
        "the broken one is discarded"
    );

    let client = pool.get().await.unwrap();
    assert_ne!(pid(&client), first_pid);
    client.batch_execute("SELECT 1").await.unwrap();
    assert_eq!(pool.status().size, 1);
}

#[tokio::test]
async fn a_connection_broken_while_idle_is_tested_and_replaced_on_checkout() {
    let setup = setup().await;
    let pool = Pool::new(
        setup.config.clone(),
        PoolOptions::new()
            .max_size(2)
            .test_on_checkout(true)
            .test_after_idle(Duration::ZERO),
    );
    let client = pool.get().await.unwrap();
    let first_pid = pid(&client);
    drop(client);
    setup.terminate(first_pid).await;

    // The checkout finds out, discards it and opens another: the user sees no error.
    let client = pool.get().await.unwrap();
    assert_ne!(pid(&client), first_pid);
    client.batch_execute("SELECT 1").await.unwrap();
    let status = pool.status();
    assert_eq!((status.size, status.in_use), (1, 1));
}

#[tokio::test]
async fn an_idle_connection_used_moments_ago_is_reused_unless_the_server_ended_it() {
    let setup = setup().await;
    let pool = Pool::new(
        setup.config.clone(),
        PoolOptions::new()
            .max_size(1)
            .test_after_idle(Duration::from_secs(60)),
    );
    let client = pool.get().await.unwrap();
    let first_pid = pid(&client);
    drop(client);
    let client = pool.get().await.unwrap();
    assert_eq!(
        pid(&client),
        first_pid,
        "a healthy idle connection is reused"
    );
    drop(client);
    setup.terminate(first_pid).await;

    // Not tested with a round trip (used moments ago), but the server's FATAL error and the end
    // of the stream are already in the socket: the checkout reads them and opens a fresh one.
    let client = pool.get().await.unwrap();
    assert_ne!(pid(&client), first_pid);
    client.batch_execute("SELECT 1").await.unwrap();
    let status = pool.status();
    assert_eq!((status.size, status.in_use), (1, 1));
}

#[tokio::test]
async fn max_lifetime_retires_old_connections() {
    let setup = setup().await;
    let lifetime = Duration::from_millis(300);
    let pool = Pool::new(
        setup.config.clone(),
        PoolOptions::new().max_size(2).max_lifetime(lifetime),
    );

    // Found idle past its lifetime: closed, and a new one is opened.
    let client = pool.get().await.unwrap();
    let first_pid = pid(&client);
    drop(client);
    let client = pool.get().await.unwrap();
    assert_eq!(pid(&client), first_pid, "still young: reused");
    drop(client);
    tokio::time::sleep(lifetime + Duration::from_millis(50)).await;
    let client = pool.get().await.unwrap();
    let second_pid = pid(&client);
    assert_ne!(second_pid, first_pid);
    assert!(client.opened_at().elapsed() < lifetime);

    // Returned past its lifetime: closed on the spot, never idle.
    tokio::time::sleep(lifetime + Duration::from_millis(50)).await;
    client.batch_execute("SELECT 1").await.unwrap();
    drop(client);
    let status = pool.status();
    assert_eq!((status.size, status.idle), (0, 0));
    setup.wait_for_backends(0).await;
}

#[tokio::test]
async fn idle_timeout_closes_connections_that_sat_idle() {
    let setup = setup().await;
    let pool = Pool::new(
        setup.config.clone(),
        PoolOptions::new()
            .max_size(2)
            .idle_timeout(Duration::from_millis(200)),
    );
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    let (a_pid, b_pid) = (pid(&a), pid(&b));
    drop(a);
    drop(b);
    assert_eq!(pool.status().idle, 2);

    // Last in, first out: the most recently returned connection is reused.
    let client = pool.get().await.unwrap();
    assert_eq!(pid(&client), b_pid);
    drop(client);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = pool.get().await.unwrap();
    let pid_now = pid(&client);
    assert_ne!(pid_now, a_pid);
    assert_ne!(pid_now, b_pid);
    let status = pool.status();
    assert_eq!((status.size, status.idle, status.in_use), (1, 0, 1));
    drop(client);
    setup.wait_for_backends(1).await;
}

#[tokio::test]
async fn detach_frees_the_slot() {
    let setup = setup().await;
    let pool = Pool::new(
        setup.config.clone(),
        PoolOptions::new()
            .max_size(1)
            .checkout_timeout(Duration::from_millis(200)),
    );
    let pooled = pool.get().await.unwrap();
    let detached_pid = pid(&pooled);
    let detached: Client = pooled.detach();
    let status = pool.status();
    assert_eq!((status.size, status.idle, status.in_use), (0, 0, 0));

    // The slot is free at once, for a new connection.
    let client = pool.get().await.unwrap();
    assert_ne!(pid(&client), detached_pid);
    assert_eq!(pool.status().size, 1);

    // The detached client is the caller's: still open, and dropping it does not touch the pool.
    detached.batch_execute("SELECT 1").await.unwrap();
    drop(detached);
    assert_eq!(pool.status().size, 1);
    drop(client);
    assert_eq!(pool.status().idle, 1);
    setup.wait_for_backends(1).await;
}

#[tokio::test]
async fn close_closes_idle_connections_and_refuses_checkouts() {
    let setup = setup().await;
    let pool = Pool::new(setup.config.clone(), PoolOptions::new().max_size(2));
    let kept = pool.get().await.unwrap();
    let returned = pool.get().await.unwrap();
    drop(returned);
    assert_eq!(pool.status().idle, 1);

    // A checkout waiting in line when the pool closes fails too.
    let other = pool.get().await.unwrap();
    let blocked = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(drop) })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    pool.close().await;
    assert!(pool.is_closed());
    let error = blocked.await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Closed);
    let error = pool.get().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Closed);
    assert!(error.to_string().contains("pool is closed"), "{error}");

    // Checked-out connections keep working, and close when they come back.
    assert_eq!(pool.status().idle, 0);
    kept.batch_execute("SELECT 1").await.unwrap();
    setup.wait_for_backends(2).await;
    drop(kept);
    drop(other);
    let status = pool.status();
    assert_eq!((status.size, status.idle, status.in_use), (0, 0, 0));
    setup.wait_for_backends(0).await;
}
