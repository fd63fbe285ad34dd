//! Regression tests for the failures a review of the foundation reproduced: writes and reads that
//! waited on each other, a COPY FROM STDIN pipelined with other requests, a panicking ToSql in the
//! middle of encoding, and a server's FATAL error hidden behind an I/O error.

use std::sync::Arc;
use std::time::Duration;

use harness::{AuthMethod, TestServer};
use pg_wire::types::{BoxError, IsNull, ToSql, Type};
use pg_wire::{Client, SimpleQueryMessage, SqlState};

async fn client() -> Client {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let conninfo = server.connection_string(server.superuser(), None, &db, false);
    Client::connect(&conninfo.parse().unwrap()).await.unwrap()
}

fn first_value(messages: &[SimpleQueryMessage]) -> Option<String> {
    messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
        _ => None,
    })
}

/// Bug: a simple query that turned into COPY FROM STDIN had later requests' bytes written behind
/// it; the server, in COPY mode, ended the session. Now the COPY is refused with CopyFail and
/// the pipelined queries get their own answers.
#[tokio::test]
async fn a_copy_in_simple_query_pipelined_with_others() {
    let client = client().await;
    client
        .batch_execute("CREATE TABLE t (a int)")
        .await
        .unwrap();
    let run = async {
        tokio::join!(
            client.simple_query("COPY t FROM STDIN"),
            client.simple_query("SELECT 'one'"),
            client.simple_query("SELECT 'two'"),
        )
    };
    let (copy, one, two) = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("hung");
    assert_eq!(copy.unwrap_err().code(), Some(&SqlState::QUERY_CANCELED));
    assert_eq!(first_value(&one.unwrap()).as_deref(), Some("one"));
    assert_eq!(first_value(&two.unwrap()).as_deref(), Some("two"));
}

/// Bug: an abandoned COPY FROM STDIN left the server in COPY mode; the next query was swallowed.
#[tokio::test]
async fn a_query_after_an_abandoned_copy_in() {
    let client = client().await;
    client
        .batch_execute("CREATE TABLE t (a int)")
        .await
        .unwrap();
    for wait_ms in [0, 1, 20] {
        let stream = client.simple_query_stream("COPY t FROM STDIN");
        let _ = tokio::time::timeout(Duration::from_millis(wait_ms), stream).await;
        let result =
            tokio::time::timeout(Duration::from_secs(10), client.simple_query("SELECT 42"))
                .await
                .expect("hung after an abandoned COPY");
        assert_eq!(first_value(&result.unwrap()).as_deref(), Some("42"));
    }
    let n: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

/// Bug: the first request's flush wrote the others' bytes too; the server blocked sending the
/// second's result, whose owner waited for the writer, and the third 16 MiB write never ended.
#[tokio::test]
async fn pipelined_big_writes_and_a_big_result() {
    let client = client().await;
    let length = client.prepare("SELECT length($1::bytea)").await.unwrap();
    let big = client
        .prepare("SELECT repeat('x', 1000) FROM generate_series(1, 20000)")
        .await
        .unwrap();
    let blob = vec![7u8; 16 << 20];
    let params: [&(dyn ToSql + Sync); 1] = [&blob];
    let run = async {
        tokio::join!(
            client.query_one(&length, &params),
            client.query(&big, &[]),
            client.query_one(&length, &params),
        )
    };
    let (a, b, c) = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("deadlocked");
    assert_eq!(a.unwrap().get::<_, i32>(0), 16 << 20);
    assert_eq!(b.unwrap().len(), 20000);
    assert_eq!(c.unwrap().get::<_, i32>(0), 16 << 20);
}

/// Bug: after a big result was abandoned, a request with a big parameter blocked writing (the
/// server was blocked sending the abandoned result), and draining only started after the write.
#[tokio::test]
async fn a_big_write_after_an_abandoned_big_result() {
    let client = client().await;
    let length = client.prepare("SELECT length($1::bytea)").await.unwrap();
    let big = client
        .prepare("SELECT repeat('x', 1000) FROM generate_series(1, 200000)")
        .await
        .unwrap();
    let _ = tokio::time::timeout(Duration::from_millis(50), client.query(&big, &[])).await;
    let blob = vec![7u8; 16 << 20];
    let row = tokio::time::timeout(Duration::from_secs(60), client.query_one(&length, &[&blob]))
        .await
        .expect("hung")
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 16 << 20);
}

#[derive(Debug)]
struct Panics;

impl ToSql for Panics {
    fn to_sql(&self, _: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        out.extend_from_slice(b"partial");
        panic!("this encoder panics");
    }

    fn accepts(&self, _: &Type) -> bool {
        true
    }
}

/// Bug: a ToSql that panicked while encoding left half a Bind in the shared outbox; the next
/// request sent it and the server dropped the connection.
#[tokio::test]
async fn a_panicking_encoder_leaves_the_connection_usable() {
    let client = Arc::new(client().await);
    let statement = client.prepare("SELECT $1::int4").await.unwrap();
    let (c, s) = (client.clone(), statement.clone());
    let outcome = tokio::spawn(async move { c.query(&s, &[&Panics]).await.map(|_| ()) }).await;
    assert!(outcome.is_err(), "the task panicked");
    let row = client.query_one("SELECT 7::int4", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 7);
}

/// Bug: after pg_terminate_backend, the user saw "broken pipe" or an end of stream; the server's
/// FATAL 57P01 was lost.
#[tokio::test]
async fn a_terminated_backend_reports_the_servers_fatal_error() {
    let server = TestServer::shared(AuthMethod::Trust);
    let admin = Client::connect(
        &server
            .connection_string(server.superuser(), None, "postgres", false)
            .parse()
            .unwrap(),
    )
    .await
    .unwrap();
    for simple in [false, true] {
        let client = client().await;
        let pid = client.process_id().unwrap();
        admin
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let err = if simple {
            client.simple_query("SELECT 1").await.unwrap_err()
        } else {
            client.query("SELECT 1", &[]).await.unwrap_err()
        };
        assert_eq!(
            err.code(),
            Some(&SqlState::ADMIN_SHUTDOWN),
            "simple={simple}: {}",
            pg_wire::error::report(&err)
        );
        assert!(client.is_closed());
    }
}
