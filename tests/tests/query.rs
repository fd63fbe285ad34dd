//! Simple and extended queries against a real server: several statements in one string, empty
//! queries, errors in the middle, prepared statements with parameter and column types, server
//! errors with every field, and pipelined requests on one connection.

use std::sync::Arc;

use harness::{AuthMethod, TestServer};
use pg_wire::error::{ErrorPosition, report};
use pg_wire::types::Type;
use pg_wire::{Client, ErrorKind, SimpleQueryMessage, SqlState};

async fn client() -> Client {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let conninfo = server.connection_string(server.superuser(), None, &db, false);
    Client::connect(&conninfo.parse().unwrap()).await.unwrap()
}

/// The simple query results as lines: rows as tab-separated values, else the command tag.
fn lines(messages: &[SimpleQueryMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|m| match m {
            SimpleQueryMessage::Row(row) => row
                .values()
                .map(|v| v.unwrap_or("<null>"))
                .collect::<Vec<_>>()
                .join("\t"),
            SimpleQueryMessage::CommandComplete(tag) => tag.to_string(),
            SimpleQueryMessage::EmptyQuery => "<empty>".into(),
            SimpleQueryMessage::RowDescription(columns) => columns
                .iter()
                .map(|c| c.name().to_owned())
                .collect::<Vec<_>>()
                .join(","),
            SimpleQueryMessage::CopyData(data) => String::from_utf8_lossy(data).into_owned(),
        })
        .collect()
}

#[tokio::test]
async fn several_statements_in_one_simple_query() {
    let client = client().await;
    let messages = client
        .simple_query(
            "CREATE TABLE t (a int4, b text); INSERT INTO t VALUES (1, 'x'), (2, NULL); \
             SELECT a, b FROM t ORDER BY a; UPDATE t SET a = a + 1; SELECT count(*) AS n FROM t WHERE a > 10",
        )
        .await
        .unwrap();
    assert_eq!(
        lines(&messages),
        [
            "CREATE TABLE",
            "INSERT 0 2",
            "a,b",
            "1\tx",
            "2\t<null>",
            "SELECT 2",
            "UPDATE 2",
            "n",
            "0",
            "SELECT 1",
        ]
    );
    let SimpleQueryMessage::CommandComplete(tag) = &messages[1] else {
        panic!("not a tag")
    };
    assert_eq!(tag.rows(), Some(2));
}

#[tokio::test]
async fn empty_queries() {
    let client = client().await;
    assert_eq!(lines(&client.simple_query("").await.unwrap()), ["<empty>"]);
    assert_eq!(
        lines(&client.simple_query("  ;  ; ").await.unwrap()),
        ["<empty>"]
    );
    assert_eq!(client.execute("", &[]).await.unwrap(), 0);
}

#[tokio::test]
async fn an_error_in_the_middle_ends_the_batch_and_the_connection_stays_usable() {
    let client = client().await;
    client
        .batch_execute("CREATE TABLE log (n int4)")
        .await
        .unwrap();
    let mut stream = client
        .simple_query_stream("INSERT INTO log VALUES (1); SELECT 1/0; INSERT INTO log VALUES (2)")
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert!(
        matches!(first, SimpleQueryMessage::CommandComplete(ref t) if t.as_str() == "INSERT 0 1")
    );
    let err = loop {
        match stream.next().await.unwrap() {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(stream.next().await.is_none());
    drop(stream);
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO));
    // The whole string ran as one implicit transaction: nothing was kept.
    let n: i64 = client
        .query_one("SELECT count(*) FROM log", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    assert_eq!(
        client.transaction_status(),
        pg_wire::TransactionStatus::Idle
    );
}

#[tokio::test]
async fn prepared_statements_describe_parameters_and_columns() {
    let client = client().await;
    let statement = client
        .prepare("SELECT $1::int8 + $2 AS total, $3::text AS label, now() AS at")
        .await
        .unwrap();
    assert_eq!(statement.params(), &[Type::INT8, Type::INT8, Type::TEXT]);
    let columns: Vec<(&str, &Type)> = statement
        .columns()
        .iter()
        .map(|c| (c.name(), c.type_()))
        .collect();
    assert_eq!(
        columns,
        [
            ("total", &Type::INT8),
            ("label", &Type::TEXT),
            ("at", &Type::TIMESTAMPTZ)
        ]
    );
    for i in 0..3i64 {
        let row = client
            .query_one(&statement, &[&i, &10i64, &"x"])
            .await
            .unwrap();
        assert_eq!(row.get::<_, i64>("total"), i + 10);
        assert_eq!(row.get::<_, &str>("label"), "x");
    }
    // Explicit parameter types.
    let typed = client
        .prepare_typed("SELECT $1", &[Type::INT2])
        .await
        .unwrap();
    assert_eq!(typed.params(), &[Type::INT2]);
    assert_eq!(
        client
            .query_one(&typed, &[&7i16])
            .await
            .unwrap()
            .get::<_, i16>(0),
        7
    );
    // A statement without result columns.
    let insert = client
        .prepare("CREATE TEMP TABLE x (a int4)")
        .await
        .unwrap();
    assert!(insert.columns().is_empty());
    // Wrong number of parameters.
    let err = client.query(&statement, &[&1i64]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
}

#[tokio::test]
async fn execute_returns_row_counts_and_query_opt_one() {
    let client = client().await;
    client
        .batch_execute("CREATE TABLE items (id int4 PRIMARY KEY, name text)")
        .await
        .unwrap();
    let insert = client
        .prepare("INSERT INTO items VALUES ($1, $2)")
        .await
        .unwrap();
    for id in 0..5i32 {
        assert_eq!(
            client
                .execute(&insert, &[&id, &format!("item {id}")])
                .await
                .unwrap(),
            1
        );
    }
    assert_eq!(
        client
            .execute(
                "UPDATE items SET name = upper(name) WHERE id < $1",
                &[&3i32]
            )
            .await
            .unwrap(),
        3
    );
    assert!(
        client
            .query_opt("SELECT 1 FROM items WHERE id = $1", &[&99i32])
            .await
            .unwrap()
            .is_none()
    );
    assert!(client.query_one("SELECT 1 FROM items", &[]).await.is_err());
    let rows = client
        .query("SELECT id, name FROM items ORDER BY id", &[])
        .await
        .unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.get("name")).collect();
    assert_eq!(names, ["ITEM 0", "ITEM 1", "ITEM 2", "item 3", "item 4"]);
}

#[tokio::test]
async fn unique_violation_reports_sqlstate_and_constraint() {
    let client = client().await;
    client
        .batch_execute("CREATE TABLE users (id serial PRIMARY KEY, email text CONSTRAINT users_email_key UNIQUE)")
        .await
        .unwrap();
    client
        .execute("INSERT INTO users (email) VALUES ($1)", &[&"a@example.com"])
        .await
        .unwrap();
    let err = client
        .execute("INSERT INTO users (email) VALUES ($1)", &[&"a@example.com"])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Db);
    assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION));
    let db = err.as_db_error().unwrap();
    assert_eq!(db.constraint(), Some("users_email_key"));
    assert_eq!(db.table(), Some("users"));
    assert_eq!(db.schema(), Some("public"));
    assert_eq!(db.severity(), "ERROR");
    assert!(db.detail().unwrap().contains("a@example.com"));
    assert!(db.routine().is_some() && db.file().is_some() && db.line().is_some());
    // The connection stays usable.
    let n: i64 = client
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[tokio::test]
async fn syntax_errors_carry_the_position() {
    let client = client().await;
    let err = client.simple_query("SELECT * FROM").await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::SYNTAX_ERROR));
    assert_eq!(
        err.as_db_error().unwrap().position(),
        Some(ErrorPosition::Original(14))
    );
    let err = client
        .prepare("SELECT nope FROM pg_class")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_COLUMN));
    assert!(report(&err).contains("nope"));
}

#[tokio::test]
async fn notices_go_to_the_handler() {
    let client = client().await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    client.set_notice_handler(move |notice| sink.lock().unwrap().push(notice.message().to_owned()));
    let row = client
        .query_one("SELECT 1::int4 FROM (SELECT pg_catalog.set_config('client_min_messages', 'notice', false)) s", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    client
        .batch_execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$")
        .await
        .unwrap();
    assert_eq!(seen.lock().unwrap().as_slice(), ["hello 42"]);
}

#[tokio::test]
async fn concurrent_requests_on_one_connection_each_get_their_answer() {
    let client = Arc::new(client().await);
    let mut tasks = Vec::new();
    for task in 0..20i32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20i32 {
                let n = task * 100 + i;
                let row = client
                    .query_one("SELECT $1::int4 * 2", &[&n])
                    .await
                    .unwrap();
                assert_eq!(row.get::<_, i32>(0), n * 2);
                if i % 5 == 0 {
                    let err = client
                        .query_one("SELECT 1/($1::int4 - $1)", &[&n])
                        .await
                        .unwrap_err();
                    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO));
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn a_request_dropped_half_way_leaves_the_connection_in_step() {
    let client = client().await;
    for polls in 0..6 {
        // Start a query and drop it after a few polls.
        let fut = client.query(
            "SELECT g, repeat('x', 1000) FROM generate_series(1, 2000) g",
            &[],
        );
        let mut fut = Box::pin(fut);
        for _ in 0..polls {
            if futures_poll_once(fut.as_mut()).await {
                break;
            }
        }
        drop(fut);
        let row = client
            .query_one("SELECT $1::int4", &[&polls])
            .await
            .unwrap();
        assert_eq!(row.get::<_, i32>(0), polls);
    }
}

/// Polls a future once, yielding to the runtime in between so I/O can progress.
async fn futures_poll_once<F: std::future::Future + ?Sized>(
    mut fut: std::pin::Pin<&mut F>,
) -> bool {
    let ready =
        std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx).is_ready())).await;
    tokio::task::yield_now().await;
    ready
}

#[tokio::test]
async fn a_fatal_error_closes_the_connection_with_the_cause() {
    let client = client().await;
    let pid = client.process_id().unwrap();
    let server = TestServer::shared(AuthMethod::Trust);
    let admin = Client::connect(
        &server
            .connection_string(server.superuser(), None, "postgres", false)
            .parse()
            .unwrap(),
    )
    .await
    .unwrap();
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let err = client.query("SELECT 1", &[]).await.unwrap_err();
    // The server's FATAL error (57P01), not the broken pipe or end of stream that followed it.
    assert_eq!(
        err.code(),
        Some(&SqlState::ADMIN_SHUTDOWN),
        "{}",
        report(&err)
    );
    assert!(client.is_closed());
    assert!(client.query("SELECT 1", &[]).await.unwrap_err().is_closed());
}
