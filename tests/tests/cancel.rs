//! Cancellation and query timeouts against real servers: a cancelled `pg_sleep(10)` returns within
//! a second with SQLSTATE 57014 and the connection works afterwards, on PostgreSQL 15 (protocol
//! 3.0, 4-byte key) and 18 (with `max_protocol_version=3.2`, so the 32-byte key is used), over the
//! Unix socket and TCP; a cancel with nothing running is harmless; the per-query timeout returns a
//! timeout error within about 1.5 s and leaves the connection usable and its next query
//! uncancelled; a timeout with other requests pipelined behind it closes the connection instead of
//! cancelling someone else's query.

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{AuthMethod, TestServer};
use pg_wire::error::report;
use pg_wire::{Client, Config, ErrorKind, SqlState, TransactionStatus};

/// Settings for a fresh database on the shared trust server of `major`, with `extra` settings.
async fn config(major: u32, tcp: bool, extra: &str) -> Config {
    let server = TestServer::shared_version(AuthMethod::Trust, major);
    let db = server.fresh_database().await.unwrap();
    format!(
        "{} {extra}",
        server.connection_string(server.superuser(), None, &db, tcp)
    )
    .parse()
    .unwrap()
}

/// The servers and settings every cancel test runs against, with the protocol version each
/// must negotiate.
fn targets() -> [(u32, &'static str, (i32, i32)); 2] {
    [(15, "", (3, 0)), (18, "max_protocol_version=3.2", (3, 2))]
}

/// Cancels a `pg_sleep(10)` on `client` from another task after `delay`; checks that it fails
/// with 57014 within a second of the cancel and that the connection works afterwards.
async fn cancel_sleep(client: &Client, what: &str, simple: bool) {
    let token = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let at = Instant::now();
        token.cancel().await.unwrap();
        at
    });
    let started = Instant::now();
    let result = if simple {
        client.batch_execute("SELECT pg_sleep(10)").await
    } else {
        client.query("SELECT pg_sleep(10)", &[]).await.map(|_| ())
    };
    let ended = Instant::now();
    let cancelled_at = canceller.await.unwrap();
    let err = result.expect_err(what);
    assert_eq!(
        err.code(),
        Some(&SqlState::QUERY_CANCELED),
        "{what}: {}",
        report(&err)
    );
    let after_cancel = ended.saturating_duration_since(cancelled_at);
    assert!(
        after_cancel < Duration::from_secs(1),
        "{what}: returned {after_cancel:?} after the cancel"
    );
    assert!(ended - started < Duration::from_secs(3), "{what}");
    assert!(!client.is_closed(), "{what}");
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
    let row = client
        .query_one("SELECT $1::int4 + 1", &[&41i32])
        .await
        .unwrap_or_else(|e| panic!("{what}: after the cancel: {}", report(&e)));
    assert_eq!(row.get::<_, i32>(0), 42);
}

// Catches: a cancel request with a wrong key or on the wrong socket (the query would sleep the
// full 10 s), the 3.2 variable-length key encoded as a 3.0 one, a cancel that returns before the
// server took it, and a connection left unusable after a cancelled query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_pg_sleep_returns_within_a_second_on_pg15_and_pg18() {
    for (major, extra, protocol) in targets() {
        for tcp in [false, true] {
            let client = Client::connect(&config(major, tcp, extra).await)
                .await
                .unwrap();
            let what = format!("PostgreSQL {major}, tcp={tcp}, {extra:?}");
            assert_eq!(client.protocol_version(), protocol, "{what}");
            assert!(
                client
                    .server_version()
                    .unwrap()
                    .starts_with(&format!("{major}.")),
                "{what}"
            );
            cancel_sleep(&client, &format!("{what}, extended"), false).await;
            cancel_sleep(&client, &format!("{what}, simple"), true).await;
        }
    }
}

// Catches: a cancel inside a transaction leaving the client believing the transaction is fine
// (the server aborted it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_inside_a_transaction_aborts_it() {
    let mut client = Client::connect(&config(18, false, "max_protocol_version=3.2").await)
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    let token = tx.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        token.cancel().await.unwrap();
    });
    let err = tx.query("SELECT pg_sleep(10)", &[]).await.unwrap_err();
    canceller.await.unwrap();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED));
    assert_eq!(tx.transaction_status(), TransactionStatus::Failed);
    assert_eq!(tx.commit().await.unwrap_err().kind(), ErrorKind::RolledBack);
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
}

// Catches: a cancel sent while nothing runs that lingers and hits the next query.
#[tokio::test]
async fn a_cancel_with_nothing_running_is_harmless() {
    for (major, extra, _) in targets() {
        let client = Client::connect(&config(major, false, extra).await)
            .await
            .unwrap();
        client.cancel_token().cancel().await.unwrap();
        let row = client
            .query_one("SELECT 7::int4 FROM pg_sleep(0.3)", &[])
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL {major}: {}", report(&e)));
        assert_eq!(row.get::<_, i32>(0), 7);
    }
}

/// Runs `pg_sleep(10)` on a client whose query timeout is 500 ms; checks the timeout error and its
/// timing, then that the connection is in step and its next (slow) query is not cancelled.
async fn timeout_then_next_query(client: &Client, what: &str) {
    assert_eq!(client.query_timeout(), Some(Duration::from_millis(500)));
    let started = Instant::now();
    let err = client
        .query("SELECT pg_sleep(10)", &[])
        .await
        .expect_err(what);
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{what}: {}", report(&err));
    assert!(err.is_timeout());
    assert!(
        elapsed >= Duration::from_millis(450) && elapsed < Duration::from_millis(1500),
        "{what}: the timeout took {elapsed:?}"
    );
    assert!(!client.is_closed(), "{what}: the connection was closed");
    // Within the limit: must succeed, not be hit by a late cancel.
    let row = client
        .query_one("SELECT 1::int4 FROM pg_sleep(0.3)", &[])
        .await
        .unwrap_or_else(|e| panic!("{what}: the next query: {}", report(&e)));
    assert_eq!(row.get::<_, i32>(0), 1);
    // Without a limit, a longer query runs to its end.
    client.set_query_timeout(None);
    let row = client
        .query_one("SELECT 2::int4 FROM pg_sleep(1)", &[])
        .await
        .unwrap_or_else(|e| panic!("{what}: a query without limit: {}", report(&e)));
    assert_eq!(row.get::<_, i32>(0), 2);
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
    client.set_query_timeout(Some(Duration::from_millis(500)));
}

// Catches: a timeout that does not cancel the server's work (the connection would stay busy for
// the full 10 s, so the next query would wait or the connection be closed), that returns late, or
// whose cancel reaches the server after the next query started and cancels it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_timeout_returns_quickly_and_the_connection_stays_usable() {
    for (major, extra, _) in targets() {
        let mut config = config(major, false, extra).await;
        config.query_timeout(Duration::from_millis(500));
        let client = Client::connect(&config).await.unwrap();
        let what = format!("PostgreSQL {major}, Config::query_timeout");
        timeout_then_next_query(&client, &what).await;
        // Again on the same connection, through execute and a simple query.
        let err = client
            .execute("SELECT pg_sleep(10)", &[])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{what}: {}", report(&err));
        let err = client
            .batch_execute("SELECT pg_sleep(10)")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{what}: {}", report(&err));
        timeout_then_next_query(&client, &what).await;

        // set_query_timeout on a client connected without one.
        let client = Client::connect(&self::config(major, true, extra).await)
            .await
            .unwrap();
        assert_eq!(client.query_timeout(), None);
        client.set_query_timeout(Some(Duration::from_millis(500)));
        timeout_then_next_query(
            &client,
            &format!("PostgreSQL {major}, set_query_timeout, tcp"),
        )
        .await;
    }
}

// Catches: a timeout inside a transaction reported while the client still believes the
// transaction usable.
#[tokio::test]
async fn a_query_timeout_inside_a_transaction_aborts_it() {
    let mut config = config(15, false, "").await;
    config.query_timeout(Duration::from_millis(500));
    let mut client = Client::connect(&config).await.unwrap();
    let tx = client.transaction().await.unwrap();
    let err = tx.query("SELECT pg_sleep(10)", &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(tx.transaction_status(), TransactionStatus::Failed);
    assert_eq!(tx.commit().await.unwrap_err().kind(), ErrorKind::RolledBack);
    let n: i32 = client
        .query_one("SELECT 3::int4", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
}

// Catches: a timeout that sends a cancel while another request is queued behind the slow one: the
// cancel could hit that other request instead. The connection must be closed, the slow request
// get the timeout error, and the queued one fail without being cancelled by the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_with_requests_pipelined_behind_it_closes_the_connection() {
    let mut config = config(18, false, "max_protocol_version=3.2").await;
    config.query_timeout(Duration::from_millis(500));
    let client = Arc::new(Client::connect(&config).await.unwrap());
    let slow = {
        let client = client.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = client.query("SELECT pg_sleep(10)", &[]).await;
            (result.map(|_| ()), started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let queued = {
        let client = client.clone();
        tokio::spawn(async move { client.query_one("SELECT 1::int4", &[]).await })
    };
    let (slow, elapsed) = slow.await.unwrap();
    let err = slow.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{}", report(&err));
    assert!(elapsed < Duration::from_millis(2500), "took {elapsed:?}");
    let queued = tokio::time::timeout(Duration::from_secs(5), queued)
        .await
        .expect("the queued request hangs")
        .unwrap();
    let err = queued.expect_err("the queued request cannot have run");
    assert_ne!(
        err.code(),
        Some(&SqlState::QUERY_CANCELED),
        "the cancel hit the queued request"
    );
    assert!(
        matches!(err.kind(), ErrorKind::Closed | ErrorKind::Timeout),
        "{}",
        report(&err)
    );
    assert!(client.is_closed());
    assert!(client.query("SELECT 1", &[]).await.unwrap_err().is_closed());
}

// Catches: the race at the edge of the timeout: a query that finishes just as its timeout fires
// must either succeed or time out, and the cancel sent for it must never reach the next query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_finishing_at_the_timeout_never_leave_a_cancel_for_the_next_query() {
    let mut config = config(15, false, "").await;
    config.query_timeout(Duration::from_millis(300));
    let client = Client::connect(&config).await.unwrap();
    let mut outcomes = (0, 0);
    for i in 0..20 {
        // 270 to 330 ms: some finish before the limit, some after.
        let sleep = 0.27 + f64::from(i % 7) * 0.01;
        match client
            .query(&format!("SELECT pg_sleep({sleep})"), &[])
            .await
        {
            Ok(_) => outcomes.0 += 1,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Timeout, "{}", report(&e));
                outcomes.1 += 1;
            }
        }
        assert!(!client.is_closed(), "iteration {i}");
        let row = client
            .query_one("SELECT 1::int4 FROM pg_sleep(0.1)", &[])
            .await
            .unwrap_or_else(|e| panic!("iteration {i}: the next query: {}", report(&e)));
        assert_eq!(row.get::<_, i32>(0), 1);
    }
    eprintln!("{} finished, {} timed out", outcomes.0, outcomes.1);
}
