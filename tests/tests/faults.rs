//! Faults against a real server: backends terminated with `pg_terminate_backend` during a query,
//! inside a transaction (idle, mid-statement, and during COMMIT), and during COPY in and out; and
//! a private server stopped, started again and restarted (fast and immediate shutdown) under load
//! through a pool.
//!
//! What must hold: the request fails with a clear error (the server's FATAL 57P01
//! `admin_shutdown`, or a closed connection whose cause is that error), never hangs or panics;
//! the connection then reports itself closed; nothing of an interrupted transaction or COPY is
//! visible afterwards; a COMMIT whose answer was lost is reported as of unknown outcome (08007);
//! and a pool hands out a healthy connection next.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use harness::{AuthMethod, ShutdownMode, TestServer};
use pg_wire::error::report;
use pg_wire::{Client, Config, Error, ErrorKind, Pool, PoolOptions, SqlState, TransactionStatus};

/// Every test must be done within this.
const TEST_LIMIT: Duration = Duration::from_secs(60);

/// Runs a test body within [`TEST_LIMIT`]: a hang fails the test.
async fn bounded<F: std::future::Future<Output = ()>>(body: F) {
    tokio::time::timeout(TEST_LIMIT, body)
        .await
        .unwrap_or_else(|_| panic!("not done within {TEST_LIMIT:?} (a hang?)"));
}

/// A fresh database on the shared trust server: settings for the client under test (with an
/// application_name of its own) and an observer connection that terminates backends.
struct Setup {
    config: Config,
    app: String,
    observer: Client,
}

async fn setup(tcp: bool) -> Setup {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let app = TestServer::unique_name("faults");
    let conninfo = server.connection_string(server.superuser(), None, &db, tcp);
    let config: Config = format!("{conninfo} application_name={app}")
        .parse()
        .unwrap();
    let observer = Client::connect(&conninfo.parse().unwrap()).await.unwrap();
    observer
        .batch_execute(
            "CREATE TABLE items (id int4 PRIMARY KEY, payload text NOT NULL);
             CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 PERFORM pg_sleep(30);
                 RETURN NULL;
             END $$;
             CREATE TABLE slow_items (id int4 PRIMARY KEY);
             CREATE FUNCTION nap(g int4) RETURNS int4 LANGUAGE plpgsql AS $$
             BEGIN
                 PERFORM pg_sleep(0.005);
                 RETURN g;
             END $$;
             CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON slow_items
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();",
        )
        .await
        .unwrap();
    Setup {
        config,
        app,
        observer,
    }
}

impl Setup {
    async fn connect(&self) -> Client {
        Client::connect(&self.config).await.unwrap()
    }

    /// Waits until backend `pid` runs a statement containing `text`.
    async fn wait_until_running(&self, pid: i32, text: &str) {
        let started = Instant::now();
        loop {
            let running = self
                .observer
                .query_opt(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active' \
                     AND strpos(query, $2) > 0",
                    &[&pid, &text],
                )
                .await
                .unwrap()
                .is_some();
            if running {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "backend {pid} never ran {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Terminates backend `pid` and waits until it is gone.
    async fn terminate(&self, pid: i32) {
        let done: bool = self
            .observer
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap()
            .get(0);
        assert!(done, "pg_terminate_backend({pid}) found no such backend");
        let started = Instant::now();
        while self
            .observer
            .query_opt("SELECT 1 FROM pg_stat_activity WHERE pid = $1", &[&pid])
            .await
            .unwrap()
            .is_some()
        {
            assert!(started.elapsed() < Duration::from_secs(10));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Terminates `pid` once it runs a statement containing `text`, from another task.
    fn terminate_when_running(
        self: &Arc<Self>,
        pid: i32,
        text: &'static str,
    ) -> tokio::task::JoinHandle<()> {
        let setup = Arc::clone(self);
        tokio::spawn(async move {
            setup.wait_until_running(pid, text).await;
            setup.terminate(pid).await;
        })
    }

    /// Waits until no backend of the client under test (its application_name) is left.
    async fn wait_for_no_backends(&self) {
        let started = Instant::now();
        loop {
            let count: i64 = self
                .observer
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    &[&self.app],
                )
                .await
                .unwrap()
                .get(0);
            if count == 0 {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{count} backends left"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Rows of `table` with the given ids, seen from the observer.
    async fn count(&self, table: &str, low: i32, high: i32) -> i64 {
        self.observer
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE id BETWEEN $1 AND $2"),
                &[&low, &high],
            )
            .await
            .unwrap()
            .get(0)
    }
}

/// The SQLSTATE 57P01 (admin_shutdown) of `error`, or of an error in its chain of causes.
fn admin_shutdown_code(error: &Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(e) = e.downcast_ref::<Error>()
            && e.code() == Some(&SqlState::ADMIN_SHUTDOWN)
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// The error of a request whose backend was terminated: the server's FATAL 57P01 itself (kind
/// Db), or the connection found closed (Closed or Io) with that error in its causes.
fn assert_terminated(error: &Error, what: &str) {
    let text = report(error);
    match error.kind() {
        ErrorKind::Db => {
            assert_eq!(
                error.code(),
                Some(&SqlState::ADMIN_SHUTDOWN),
                "{what}: {text}"
            );
            let db = error.as_db_error().unwrap();
            assert_eq!(db.severity(), "FATAL", "{what}: {text}");
        }
        ErrorKind::Closed | ErrorKind::Io => assert!(
            admin_shutdown_code(error),
            "{what}: the error does not say the server ended the session: {text}"
        ),
        other => panic!("{what}: an error of kind {other:?}: {text}"),
    }
}

/// After a terminated backend: the client says it is closed, and the next request fails at once
/// with an error of kind Closed.
async fn assert_closed_afterwards(client: &Client, what: &str) {
    assert!(
        client.is_closed(),
        "{what}: the client does not know it is closed"
    );
    let error = tokio::time::timeout(Duration::from_secs(5), client.query_one("SELECT 1", &[]))
        .await
        .unwrap_or_else(|_| panic!("{what}: the next query hangs"))
        .unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::Closed,
        "{what}: {}",
        report(&error)
    );
}

// Catches: a terminated backend reported as a bare I/O error (or not at all: a hang waiting for
// the rest of the result), the FATAL error lost when the end of the stream follows it, a client
// that still thinks it is open; over the socket and TCP, extended and simple protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_whose_backend_is_terminated_fails_with_57p01_and_the_client_is_closed() {
    bounded(async {
        for tcp in [false, true] {
            let setup = Arc::new(setup(tcp).await);
            for simple in [false, true] {
                let what = format!("tcp={tcp}, simple={simple}");
                let client = setup.connect().await;
                let killer = setup.terminate_when_running(client.process_id().unwrap(), "pg_sleep");
                let result = if simple {
                    client.batch_execute("SELECT pg_sleep(30)").await
                } else {
                    client.query("SELECT pg_sleep(30)", &[]).await.map(drop)
                };
                killer.await.unwrap();
                let error = result.expect_err(&what);
                println!("{what}: {:?}: {}", error.kind(), report(&error));
                assert_terminated(&error, &what);
                assert_closed_afterwards(&client, &what).await;
            }
        }
    })
    .await;
}

// Catches: a transaction whose session ended while idle in it reported as committed, or its
// rows visible afterwards; the first statement after the termination must fail with the
// server's reason, and commit must fail as closed (nothing was sent: not "outcome unknown").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_whose_backend_is_terminated_while_idle_commits_nothing() {
    bounded(async {
        for tcp in [false, true] {
            let what = format!("tcp={tcp}");
            let setup = setup(tcp).await;
            let mut client = setup.connect().await;
            let pid = client.process_id().unwrap();
            let tx = client.transaction().await.unwrap();
            tx.execute(
                "INSERT INTO items SELECT g, 'x' FROM generate_series(1, 100) g",
                &[],
            )
            .await
            .unwrap();
            setup.terminate(pid).await;
            let error = tx
                .execute("INSERT INTO items VALUES (101, 'y')", &[])
                .await
                .expect_err(&what);
            println!("{what}: statement: {:?}: {}", error.kind(), report(&error));
            assert_terminated(&error, &what);
            let error = tx.commit().await.expect_err(&what);
            println!("{what}: commit: {:?}: {}", error.kind(), report(&error));
            assert_eq!(
                error.kind(),
                ErrorKind::Closed,
                "{what}: {}",
                report(&error)
            );
            assert!(!error.is_commit_outcome_unknown());
            assert_closed_afterwards(&client, &what).await;
            assert_eq!(setup.count("items", 1, 101).await, 0, "{what}");
        }
    })
    .await;
}

// Catches: a statement inside a transaction interrupted by the termination leaving part of the
// transaction committed, or the later commit claiming success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_whose_backend_is_terminated_mid_statement_commits_nothing() {
    bounded(async {
        let setup = Arc::new(setup(false).await);
        let mut client = setup.connect().await;
        let pid = client.process_id().unwrap();
        let tx = client.transaction().await.unwrap();
        tx.execute(
            "INSERT INTO items SELECT g, 'x' FROM generate_series(1, 100) g",
            &[],
        )
        .await
        .unwrap();
        let killer = setup.terminate_when_running(pid, "pg_sleep");
        let error = tx
            .execute(
                "INSERT INTO items SELECT g, 'y' FROM generate_series(101, 200) g, pg_sleep(30)",
                &[],
            )
            .await
            .unwrap_err();
        killer.await.unwrap();
        assert_terminated(&error, "the statement");
        let error = tx.commit().await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Closed, "{}", report(&error));
        assert_eq!(setup.count("items", 1, 200).await, 0);
        assert_closed_afterwards(&client, "after the commit").await;
    })
    .await;
}

// Catches: a COMMIT whose session ended before its answer reported as a plain error (the user
// would assume a rollback) or as success; the outcome must be "unknown" (08007), and here, as the
// backend died in the deferred trigger, nothing is committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_backend_is_terminated_reports_an_unknown_outcome_and_commits_nothing() {
    bounded(async {
        let setup = Arc::new(setup(false).await);
        let mut client = setup.connect().await;
        let pid = client.process_id().unwrap();
        let tx = client.transaction().await.unwrap();
        tx.execute("INSERT INTO slow_items SELECT generate_series(1, 3)", &[])
            .await
            .unwrap();
        tx.execute(
            "INSERT INTO items SELECT g, 'x' FROM generate_series(1, 100) g",
            &[],
        )
        .await
        .unwrap();
        let killer = setup.terminate_when_running(pid, "COMMIT");
        let error = tx.commit().await.unwrap_err();
        killer.await.unwrap();
        println!("commit: {:?}: {}", error.kind(), report(&error));
        assert!(error.is_commit_outcome_unknown(), "{}", report(&error));
        assert_eq!(error.kind(), ErrorKind::CommitOutcomeUnknown);
        assert_eq!(
            error.code(),
            Some(&SqlState::TRANSACTION_RESOLUTION_UNKNOWN)
        );
        assert!(
            admin_shutdown_code(&error),
            "the cause is lost: {}",
            report(&error)
        );
        assert_eq!(setup.count("items", 1, 100).await, 0);
        assert_eq!(setup.count("slow_items", 1, 3).await, 0);
        assert_closed_afterwards(&client, "after the commit").await;
    })
    .await;
}

/// A COPY FROM STDIN whose backend is terminated after 500 rows; the writes go on until one
/// fails, else `finish` must fail. Checks that the client is closed afterwards and that nothing
/// was copied; returns the error.
async fn copy_in_terminated(tcp: bool) -> Error {
    let what = format!("tcp={tcp}");
    let setup = setup(tcp).await;
    let client = setup.connect().await;
    let pid = client.process_id().unwrap();
    let mut copy = client
        .copy_in("COPY items (id, payload) FROM STDIN")
        .await
        .unwrap();
    let line = |id: i32| format!("{id}\t{}\n", "z".repeat(1000));
    for id in 1..=500 {
        copy.write(line(id).as_bytes()).await.unwrap();
    }
    copy.flush().await.unwrap();
    setup.wait_until_running(pid, "COPY").await;
    setup.terminate(pid).await;
    // Writing on may fail at once or only at finish (the socket takes what fits).
    let mut result = Ok(());
    for id in 501..=3000 {
        result = copy.write(line(id).as_bytes()).await;
        if result.is_err() {
            break;
        }
    }
    let error = match result {
        Err(error) => error,
        Ok(()) => copy.finish().await.expect_err(&what),
    };
    println!("copy in, {what}: {:?}: {}", error.kind(), report(&error));
    assert!(
        matches!(
            error.kind(),
            ErrorKind::Db | ErrorKind::Io | ErrorKind::Closed
        ),
        "{what}: {}",
        report(&error)
    );
    assert_closed_afterwards(&client, &what).await;
    assert_eq!(setup.count("items", 1, 3000).await, 0, "{what}");
    error
}

// Catches: a COPY FROM STDIN whose backend was terminated: a write that blocks forever or a
// finish that reports rows, rows copied in part, a client that does not know it is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_in_whose_backend_is_terminated_fails_and_copies_nothing() {
    bounded(async {
        for tcp in [false, true] {
            copy_in_terminated(tcp).await;
        }
    })
    .await;
}

// Catches: the server's reason (FATAL 57P01) lost when a COPY FROM STDIN's backend is
// terminated: the user sees only "broken pipe".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_in_whose_backend_is_terminated_reports_57p01() {
    bounded(async {
        for tcp in [false, true] {
            let error = copy_in_terminated(tcp).await;
            assert_terminated(&error, &format!("copy in, tcp={tcp}"));
        }
    })
    .await;
}

/// A COPY TO STDOUT (a row of 9 kB every 5 ms) whose backend is terminated after 20 rows were
/// read; reading on must end in an error, and nothing after it. Checks that the client is closed
/// afterwards; returns the error.
async fn copy_out_terminated(tcp: bool) -> Error {
    let what = format!("tcp={tcp}");
    let setup = Arc::new(setup(tcp).await);
    let client = setup.connect().await;
    let pid = client.process_id().unwrap();
    // Each row is flushed by the server on its own, and the backend is asleep, not blocked
    // sending, when it is terminated, so its FATAL error goes out.
    let mut stream = client
        .copy_out(
            "COPY (SELECT nap(g), repeat('x', 9000) FROM generate_series(1, 100000) g) TO STDOUT",
        )
        .await
        .unwrap();
    let mut chunks = 0u64;
    let mut killer = None;
    let error = loop {
        match stream.next().await {
            Some(Ok(_)) => chunks += 1,
            Some(Err(error)) => break error,
            None => panic!("{what}: the COPY ended without an error"),
        }
        if chunks == 20 {
            killer = Some(setup.terminate_when_running(pid, "COPY"));
        }
    };
    killer
        .expect("the COPY failed before the termination")
        .await
        .unwrap();
    println!(
        "copy out, {what}: after {chunks} chunks: {:?}: {}",
        error.kind(),
        report(&error)
    );
    assert!(
        matches!(
            error.kind(),
            ErrorKind::Db | ErrorKind::Io | ErrorKind::Closed
        ),
        "{what}: {}",
        report(&error)
    );
    assert!(
        stream.next().await.is_none(),
        "{what}: data after the error"
    );
    drop(stream);
    assert_closed_afterwards(&client, &what).await;
    error
}

// Catches: a COPY TO STDOUT whose backend was terminated ending as if complete (a short result
// taken for the whole), or hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_out_whose_backend_is_terminated_fails() {
    bounded(async {
        for tcp in [false, true] {
            copy_out_terminated(tcp).await;
        }
    })
    .await;
}

// Catches: the server's FATAL 57P01 lost when it arrives in the middle of a COPY TO STDOUT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_out_whose_backend_is_terminated_reports_57p01() {
    bounded(async {
        for tcp in [false, true] {
            let error = copy_out_terminated(tcp).await;
            assert_terminated(&error, &format!("copy out, tcp={tcp}"));
        }
    })
    .await;
}

/// A pool on `setup`'s database, with at most `size` connections.
fn pool(setup: &Setup, size: usize, options: PoolOptions) -> Pool {
    Pool::new(
        setup.config.clone(),
        options
            .max_size(size)
            .checkout_timeout(Duration::from_secs(10)),
    )
}

/// A checkout that answers its own query, from a backend other than `dead`.
async fn assert_healthy_checkout(pool: &Pool, dead: i32, what: &str) {
    let client = pool.get().await.unwrap();
    assert!(!client.is_closed(), "{what}");
    let row = client
        .query_one("SELECT pg_backend_pid(), $1::int4 + 1", &[&41i32])
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{what}: the pool handed out a broken connection: {}",
                report(&e)
            )
        });
    assert_ne!(row.get::<_, i32>(0), dead, "{what}");
    assert_eq!(row.get::<_, i32>(1), 42, "{what}");
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
}

// Catches: a pool taking back a connection whose backend was terminated during a query (or a
// transaction) and handing it out again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_replaces_a_connection_terminated_during_a_query_or_a_transaction() {
    bounded(async {
        let setup = Arc::new(setup(false).await);
        let pool = pool(&setup, 2, PoolOptions::new());
        // During a query.
        let client = pool.get().await.unwrap();
        let pid = client.process_id().unwrap();
        let killer = setup.terminate_when_running(pid, "pg_sleep");
        let error = client.query("SELECT pg_sleep(30)", &[]).await.unwrap_err();
        killer.await.unwrap();
        assert_terminated(&error, "query");
        drop(client);
        assert_healthy_checkout(&pool, pid, "after a query").await;

        // Inside a transaction.
        let mut client = pool.get().await.unwrap();
        let pid = client.process_id().unwrap();
        let tx = client.transaction().await.unwrap();
        tx.execute("INSERT INTO items VALUES (1, 'a')", &[])
            .await
            .unwrap();
        setup.terminate(pid).await;
        assert!(
            tx.execute("INSERT INTO items VALUES (2, 'b')", &[])
                .await
                .is_err()
        );
        drop(tx);
        drop(client);
        assert_healthy_checkout(&pool, pid, "after a transaction").await;
        assert_eq!(setup.count("items", 1, 2).await, 0);
        pool.close().await;
        setup.wait_for_no_backends().await;
    })
    .await;
}

// Catches: a pool handing out a connection whose backend was terminated while it sat idle in the
// pool (the server's FATAL error and end of stream are already in the socket) when it is tested
// on checkout (test_after_idle = 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_testing_every_checkout_replaces_a_connection_terminated_while_idle() {
    bounded(async {
        let setup = setup(false).await;
        let pool = pool(
            &setup,
            1,
            PoolOptions::new().test_after_idle(Duration::ZERO),
        );
        let pid = pool.get().await.unwrap().process_id().unwrap();
        setup.terminate(pid).await;
        assert_healthy_checkout(&pool, pid, "tested on checkout").await;
        pool.close().await;
    })
    .await;
}

// Catches: a pool with default settings handing out a connection whose backend was terminated
// while it sat idle, though the server had already said so (FATAL 57P01, end of stream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_replaces_a_connection_terminated_while_idle() {
    bounded(async {
        let setup = setup(false).await;
        let pool = pool(&setup, 1, PoolOptions::new());
        let pid = pool.get().await.unwrap().process_id().unwrap();
        setup.terminate(pid).await;
        assert_healthy_checkout(&pool, pid, "default settings").await;
        pool.close().await;
    })
    .await;
}

/// How the requests of a load fared.
#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    io: u64,
    closed: u64,
    db: u64,
    /// Checkouts and queries that succeeded after the server was back.
    ok_after: u64,
}

/// `tasks` tasks querying through `pool` until `stop`: each request bounded (a hang fails the
/// test), each answer checked, each error of kind Io, Closed or Db (a server error saying the
/// server is shutting down, starting up, or ended the session).
fn load(
    pool: &Pool,
    tasks: i32,
    stop: &Arc<AtomicBool>,
    back: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Tally>> {
    (0..tasks)
        .map(|task| {
            let (pool, stop, back) = (pool.clone(), Arc::clone(stop), Arc::clone(back));
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut i = 0;
                while !stop.load(Ordering::Acquire) {
                    i += 1;
                    let n = task * 1_000_000 + i;
                    let after = back.load(Ordering::Acquire);
                    let request = async {
                        let client = pool.get().await?;
                        // An immediate shutdown sends a WARNING before it cuts the session.
                        client.set_notice_handler(|_| {});
                        let row = client
                            .query_one("SELECT $1::int4 FROM pg_sleep(0.002)", &[&n])
                            .await?;
                        Ok::<i32, Error>(row.get(0))
                    };
                    let result = tokio::time::timeout(Duration::from_secs(20), request)
                        .await
                        .unwrap_or_else(|_| panic!("task {task}: a request hangs"));
                    match result {
                        Ok(answer) => {
                            assert_eq!(answer, n, "task {task}: another request's answer");
                            tally.ok += 1;
                            if after {
                                tally.ok_after += 1;
                            }
                        }
                        Err(e) => {
                            match e.kind() {
                                ErrorKind::Io => tally.io += 1,
                                ErrorKind::Closed => tally.closed += 1,
                                ErrorKind::Db => {
                                    let code = e.code().unwrap();
                                    assert!(
                                        [
                                            SqlState::ADMIN_SHUTDOWN,
                                            SqlState::CRASH_SHUTDOWN,
                                            SqlState::CANNOT_CONNECT_NOW
                                        ]
                                        .contains(code),
                                        "task {task}: {}",
                                        report(&e)
                                    );
                                    tally.db += 1;
                                }
                                other => {
                                    panic!(
                                        "task {task}: an error of kind {other:?}: {}",
                                        report(&e)
                                    )
                                }
                            }
                            // Not a busy loop while the server is down.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                tally
            })
        })
        .collect()
}

/// A private server under the load of 8 tasks through a pool of 4, hit by `fault` (run on a
/// blocking thread) after a second of load; the load goes on for a second after the server is
/// back. Every request succeeds or fails cleanly; afterwards, 4 checkouts at once all work.
async fn under_load(what: &str, fault: impl FnOnce(Arc<TestServer>) + Send + 'static) {
    let server = Arc::new(
        tokio::task::spawn_blocking(|| TestServer::start(AuthMethod::Trust))
            .await
            .unwrap()
            .unwrap(),
    );
    let config: Config = server
        .connection_string(server.superuser(), None, "postgres", false)
        .parse()
        .unwrap();
    let pool = Pool::new(
        config,
        PoolOptions::new()
            .max_size(4)
            .checkout_timeout(Duration::from_secs(15)),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let back = Arc::new(AtomicBool::new(false));
    let tasks = load(&pool, 8, &stop, &back);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let faulted = Arc::clone(&server);
    tokio::task::spawn_blocking(move || fault(faulted))
        .await
        .unwrap();
    let down = started.elapsed();
    back.store(true, Ordering::Release);
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Release);
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await.unwrap();
        total.ok += tally.ok;
        total.io += tally.io;
        total.closed += tally.closed;
        total.db += tally.db;
        total.ok_after += tally.ok_after;
    }
    println!("{what}: the fault took {down:?}; {total:?}");
    let failed = total.io + total.closed + total.db;
    assert!(
        failed > 0,
        "{what}: no request noticed the fault: {total:?}"
    );
    assert!(
        total.ok_after > 0,
        "{what}: nothing succeeded once the server was back: {total:?}"
    );

    // Once the server is back, every connection the pool hands out works.
    let clients: Vec<_> = {
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(pool.get().await.unwrap());
        }
        clients
    };
    for (i, client) in (0i32..).zip(&clients) {
        let row = client
            .query_one("SELECT $1::int4 * 3", &[&i])
            .await
            .unwrap_or_else(|e| panic!("{what}: checkout {i} after the fault: {}", report(&e)));
        assert_eq!(row.get::<_, i32>(0), i * 3);
    }
    drop(clients);
    pool.close().await;
}

// Catches: requests that hang or panic when the server shuts down fast (sessions terminated
// with 57P01) and comes back, errors of an unexpected kind, a pool that keeps handing out dead
// connections afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_restart_under_load_fails_requests_cleanly_and_the_pool_recovers() {
    bounded(under_load("restart -m fast", |server| {
        server.restart(ShutdownMode::Fast).unwrap();
    }))
    .await;
}

// Catches: the same with an immediate shutdown (processes killed, crash recovery on restart):
// sessions cut without a clean goodbye.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immediate_restart_under_load_fails_requests_cleanly_and_the_pool_recovers() {
    bounded(under_load("restart -m immediate", |server| {
        server.restart(ShutdownMode::Immediate).unwrap();
    }))
    .await;
}

// Catches: requests while the server is down waiting (or hanging) instead of failing at once,
// and the pool not reconnecting once the server is started again on the same port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_for_a_while_under_load_fails_requests_cleanly_and_the_pool_recovers() {
    bounded(under_load("stop -m fast, 1 s down, start", |server| {
        server.stop(ShutdownMode::Fast).unwrap();
        assert!(!server.is_running());
        std::thread::sleep(Duration::from_secs(1));
        server.start_again().unwrap();
        assert!(server.is_running());
    }))
    .await;
}
