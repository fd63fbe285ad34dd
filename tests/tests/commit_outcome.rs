//! A connection cut while COMMIT is in flight: the client cannot know whether the server committed,
//! and must say so (`ErrorKind::CommitOutcomeUnknown`, SQLSTATE 08007) rather than report a
//! rollback or a success, and never retry. A TCP proxy between the client and a real server cuts
//! the connection at a chosen byte: once just before the COMMIT reaches the server (the server
//! rolls back), once just after the server answered it (the server committed). Both give the same
//! error; the data shows which outcome each really had.

use std::time::Duration;

use harness::{AuthMethod, TestServer};
use pg_wire::error::report;
use pg_wire::{Client, ErrorKind, SqlState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The simple Query message `COMMIT` as the client sends it.
const COMMIT_QUERY: &[u8] = b"Q\0\0\0\x0bCOMMIT\0";
/// The server's CommandComplete for it.
const COMMIT_COMPLETE: &[u8] = b"C\0\0\0\x0bCOMMIT\0";

/// Where the proxy cuts the connection.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// Drops the client's COMMIT: the server never sees it.
    BeforeCommitArrives,
    /// Passes the COMMIT on, then drops the server's answer: the server committed.
    AfterServerCommitted,
}

/// Position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A proxy for one connection to `server_port`; returns the port to connect to. It cuts both
/// directions as `cut` says, then closes both sockets.
async fn proxy(server_port: u16, cut: Cut) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = TcpStream::connect(("127.0.0.1", server_port))
            .await
            .unwrap();
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let (commit_sent_tx, mut commit_sent_rx) = tokio::sync::watch::channel(false);
        // Client to server. The COMMIT is a message of its own, written in one piece: a window
        // of what came before is kept in case it arrives split anyway.
        let upstream = async move {
            let mut window = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let start = window.len();
                window.extend_from_slice(&buf[..n]);
                match find(&window, COMMIT_QUERY) {
                    Some(at) => {
                        let forward_to = match cut {
                            Cut::BeforeCommitArrives => at,
                            Cut::AfterServerCommitted => window.len(),
                        };
                        let from = start.min(forward_to);
                        let _ = server_write.write_all(&window[from..forward_to]).await;
                        let _ = commit_sent_tx.send(true);
                        if let Cut::BeforeCommitArrives = cut {
                            // The session ends without COMMIT: the server rolls back.
                            return;
                        }
                        // Keep the server side open until it answered.
                        let _ = client_read.read(&mut buf).await;
                        return;
                    }
                    None => {
                        if server_write.write_all(&window[start..]).await.is_err() {
                            return;
                        }
                        let keep = window.len().saturating_sub(COMMIT_QUERY.len());
                        window.drain(..keep);
                    }
                }
            }
        };
        // Server to client: after the COMMIT was passed on, its answer is swallowed.
        let downstream = async move {
            let mut window = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match server_read.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if *commit_sent_rx.borrow_and_update() {
                    window.extend_from_slice(&buf[..n]);
                    if find(&window, COMMIT_COMPLETE).is_some() {
                        // The server committed; the client never hears of it.
                        return;
                    }
                    continue;
                }
                if client_write.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        };
        // Whichever direction ends first cuts the connection: both sockets are dropped.
        tokio::select! {
            () = upstream => {}
            () = downstream => {}
        }
    });
    port
}

/// A client through a proxy that cuts as `cut` says, in a fresh database with table `t`.
async fn setup(cut: Cut) -> (Client, Client) {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let direct = server.connection_string(server.superuser(), None, &db, false);
    let direct = Client::connect(&direct.parse().unwrap()).await.unwrap();
    direct
        .batch_execute("CREATE TABLE t (id int4 PRIMARY KEY)")
        .await
        .unwrap();
    let port = proxy(server.port(), cut).await;
    let proxied = format!(
        "host=127.0.0.1 port={port} user={} dbname={db}",
        server.superuser()
    );
    let client = Client::connect(&proxied.parse().unwrap()).await.unwrap();
    (client, direct)
}

async fn rows(direct: &Client) -> i64 {
    direct
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0)
}

/// Checks the error of a COMMIT whose connection was cut.
fn assert_outcome_unknown(error: &pg_wire::Error) {
    assert_eq!(
        error.kind(),
        ErrorKind::CommitOutcomeUnknown,
        "{}",
        report(error)
    );
    assert!(error.is_commit_outcome_unknown());
    assert_eq!(
        error.code(),
        Some(&SqlState::TRANSACTION_RESOLUTION_UNKNOWN)
    );
    assert!(
        error
            .to_string()
            .contains("may or may not have been committed"),
        "{error}"
    );
}

// Catches: a COMMIT cut before it reached the server reported as success, or as a rollback the
// client cannot actually know about, or retried by the driver on a new connection.
#[tokio::test]
async fn a_commit_cut_before_the_server_got_it_is_unknown_and_was_rolled_back() {
    let (mut client, direct) = setup(Cut::BeforeCommitArrives).await;
    let tx = client.transaction().await.unwrap();
    tx.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    let error = tokio::time::timeout(Duration::from_secs(10), tx.commit())
        .await
        .expect("a COMMIT on a cut connection hangs")
        .unwrap_err();
    assert_outcome_unknown(&error);
    assert!(client.is_closed());
    // The server ends the session without COMMIT: nothing was stored (wait until the backend
    // noticed the closed socket).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 = direct
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if left == 0 || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rows(&direct).await, 0);
}

// Catches: a COMMIT the server carried out but whose answer was lost reported as a failure the
// user would retry (a duplicate transfer), instead of as an unknown outcome.
#[tokio::test]
async fn a_commit_cut_after_the_server_committed_is_unknown_and_was_committed() {
    let (mut client, direct) = setup(Cut::AfterServerCommitted).await;
    let tx = client.transaction().await.unwrap();
    tx.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    let error = tokio::time::timeout(Duration::from_secs(10), tx.commit())
        .await
        .expect("a COMMIT on a cut connection hangs")
        .unwrap_err();
    assert_outcome_unknown(&error);
    assert_eq!(rows(&direct).await, 1);
}

// Catches: the same for a transaction begun by hand and committed with commit_transaction.
#[tokio::test]
async fn commit_transaction_reports_both_cuts_as_unknown() {
    for (cut, stored) in [
        (Cut::BeforeCommitArrives, None),
        (Cut::AfterServerCommitted, Some(1)),
    ] {
        let (client, direct) = setup(cut).await;
        client.batch_execute("BEGIN").await.unwrap();
        client
            .execute("INSERT INTO t VALUES (1)", &[])
            .await
            .unwrap();
        let error = tokio::time::timeout(Duration::from_secs(10), client.commit_transaction())
            .await
            .expect("a COMMIT on a cut connection hangs")
            .unwrap_err();
        assert_outcome_unknown(&error);
        if let Some(stored) = stored {
            assert_eq!(rows(&direct).await, stored, "{cut:?}");
        }
    }
}

// Catches: a connection already closed before COMMIT reported as an unknown outcome (nothing was
// sent, so the transaction was certainly not committed), and an ordinary server error at COMMIT
// (a deferred constraint) reported as unknown instead of as the server's error.
#[tokio::test]
async fn known_commit_failures_are_not_reported_as_unknown() {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let conninfo = server.connection_string(server.superuser(), None, &db, false);
    let client = Client::connect(&conninfo.parse().unwrap()).await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE p (id int4 PRIMARY KEY);
             CREATE TABLE c (p int4 REFERENCES p DEFERRABLE INITIALLY DEFERRED)",
        )
        .await
        .unwrap();
    client.batch_execute("BEGIN").await.unwrap();
    client
        .execute("INSERT INTO c VALUES (1)", &[])
        .await
        .unwrap();
    let error = client.commit_transaction().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Db, "{}", report(&error));
    assert_eq!(error.code(), Some(&SqlState::FOREIGN_KEY_VIOLATION));

    client.batch_execute("BEGIN").await.unwrap();
    let killer = Client::connect(&conninfo.parse().unwrap()).await.unwrap();
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    killer
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    // The FATAL error arrives with the next request, which then fails as Closed or Db.
    let _ = client.query_one("SELECT 1", &[]).await;
    assert!(client.is_closed());
    let error = client.commit_transaction().await.unwrap_err();
    assert_ne!(
        error.kind(),
        ErrorKind::CommitOutcomeUnknown,
        "{}",
        report(&error)
    );
}

#[derive(orm::Model, Debug, Clone, Default, PartialEq)]
#[orm(table = "notes")]
struct Note {
    #[orm(primary_key)]
    id: Option<i32>,
    #[orm(length = 100)]
    text: String,
}

// Catches: the ORM's commit turning a lost COMMIT into a plain failure (the user would add the
// object again: a duplicate) or retrying it; the driver's unknown-outcome error must reach the
// user as it is.
#[tokio::test]
async fn an_orm_commit_cut_after_the_server_committed_is_unknown() {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let direct = server.connection_string(server.superuser(), None, &db, false);
    let direct = Client::connect(&direct.parse().unwrap()).await.unwrap();
    direct
        .batch_execute("CREATE TABLE notes (id SERIAL PRIMARY KEY, text VARCHAR(100) NOT NULL)")
        .await
        .unwrap();
    let port = proxy(server.port(), Cut::AfterServerCommitted).await;
    let url = format!("postgresql://{}@127.0.0.1:{port}/{db}", server.superuser());
    let engine = orm::create_engine(&url).unwrap();
    let mut session = engine.session();
    session.add(&orm::Obj::new(Note {
        id: None,
        text: "once".into(),
    }));
    let error = tokio::time::timeout(Duration::from_secs(10), session.commit())
        .await
        .expect("an ORM commit on a cut connection hangs")
        .unwrap_err();
    match &error {
        orm::OrmError::Driver(e) => assert_outcome_unknown(e),
        other => panic!("expected the driver's unknown-outcome error, got {other}"),
    }
    let stored: i64 = direct
        .query_one("SELECT count(*) FROM notes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1, "committed once, not retried");
}
