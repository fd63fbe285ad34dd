//! The per-connection statement cache against a real server: SQL text prepared once and reused,
//! transparent re-preparation when `ALTER TABLE` changes a cached statement's result columns (and
//! the error inside a transaction, where re-running is not safe), `DISCARD ALL`, the LRU bound
//! seen in `pg_prepared_statements`, a disabled cache, and the unnamed-statement mode for
//! PgBouncer's transaction pooling.
//!
//! The server's own view, `pg_prepared_statements`, is read with the simple query protocol, which
//! creates no prepared statement of its own.

use std::sync::Arc;

use harness::{AuthMethod, TestServer};
use pg_wire::error::report;
use pg_wire::{Client, Config, ErrorKind, SimpleQueryMessage, SqlState, TransactionStatus};

/// Settings for a fresh database on the shared trust server.
async fn config() -> Config {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    server
        .connection_string(server.superuser(), None, &db, false)
        .parse()
        .unwrap()
}

async fn connect(config: &Config) -> Client {
    Client::connect(config)
        .await
        .unwrap_or_else(|e| panic!("connect: {}", report(&e)))
}

/// The SQL text of every prepared statement the server holds for this session, sorted.
async fn server_statements(client: &Client) -> Vec<String> {
    client
        .simple_query("SELECT statement FROM pg_prepared_statements ORDER BY statement")
        .await
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row.get(0).unwrap().to_owned()),
            _ => None,
        })
        .collect()
}

/// The names of the result columns of `rows`' first row.
fn column_names(row: &pg_wire::Row) -> Vec<&str> {
    row.columns().iter().map(|c| c.name()).collect()
}

// Catches: the cache not being used (a new server statement per call, or statements leaking),
// and a cached statement answered with another statement's parameters or rows.
#[tokio::test]
async fn the_same_sql_text_is_prepared_once_and_reused() {
    let client = connect(&config().await).await;
    for i in 0..10i32 {
        let row = client
            .query_one("SELECT $1::int4 + 1 AS n", &[&i])
            .await
            .unwrap();
        assert_eq!(row.get::<_, i32>("n"), i + 1);
    }
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM generate_series(1, $1::int4)",
            &[&7i32],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 7);
    assert_eq!(
        server_statements(&client).await,
        [
            "SELECT $1::int4 + 1 AS n",
            "SELECT count(*) FROM generate_series(1, $1::int4)"
        ]
    );
}

// Catches: a cached statement whose result columns changed under it ("cached plan must not change
// result type", 0A000) reaching the caller instead of being re-prepared and re-run once, the stale
// column description being used to decode the new rows (int4 decoded where the column is now
// int8), and the stale statement staying on the server.
#[tokio::test]
async fn alter_table_between_two_runs_of_the_same_sql_re_prepares_transparently() {
    let client = connect(&config().await).await;
    client
        .batch_execute("CREATE TABLE t (a int4); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    let sql = "SELECT * FROM t";
    let row = client.query_one(sql, &[]).await.unwrap();
    assert_eq!(column_names(&row), ["a"]);
    assert_eq!(row.get::<_, i32>("a"), 1);

    client
        .batch_execute("ALTER TABLE t ADD COLUMN b text DEFAULT 'bee'")
        .await
        .unwrap();
    let row = client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("after ADD COLUMN: {}", report(&e)));
    assert_eq!(column_names(&row), ["a", "b"]);
    assert_eq!(row.get::<_, i32>("a"), 1);
    assert_eq!(row.get::<_, &str>("b"), "bee");

    // A changed column type: the new rows must be decoded with the new description.
    client
        .batch_execute("ALTER TABLE t ALTER COLUMN a TYPE int8; UPDATE t SET a = 5000000000")
        .await
        .unwrap();
    let row = client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("after ALTER COLUMN TYPE: {}", report(&e)));
    assert_eq!(row.columns()[0].type_(), &pg_wire::types::Type::INT8);
    assert_eq!(row.get::<_, i64>("a"), 5_000_000_000);

    // execute() goes through the same path.
    client
        .batch_execute("ALTER TABLE t DROP COLUMN b")
        .await
        .unwrap();
    assert_eq!(client.execute(sql, &[]).await.unwrap(), 1);
    let row = client.query_one(sql, &[]).await.unwrap();
    assert_eq!(column_names(&row), ["a"]);

    // The stale statements were closed: one statement for the text remains.
    assert_eq!(server_statements(&client).await, [sql]);
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
}

// Catches: a re-run inside a transaction (the failed statement aborted the transaction, so a silent
// retry would either fail with 25P02 or hide the abort), and a stale entry that stays poisoned
// after the transaction: the next run outside a transaction must be re-prepared.
#[tokio::test]
async fn inside_a_transaction_a_stale_cached_statement_is_an_error_and_recovers_afterwards() {
    let mut client = connect(&config().await).await;
    client
        .batch_execute("CREATE TABLE t (a int4); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    let sql = "SELECT * FROM t";
    assert_eq!(
        column_names(&client.query_one(sql, &[]).await.unwrap()),
        ["a"]
    );
    client
        .batch_execute("ALTER TABLE t ADD COLUMN b int4 DEFAULT 2")
        .await
        .unwrap();

    let tx = client.transaction().await.unwrap();
    let err = tx.query(sql, &[]).await.unwrap_err();
    // The driver does not retry inside a transaction: the server's error comes back as it is.
    assert_eq!(err.kind(), ErrorKind::Db, "{}", report(&err));
    assert_eq!(err.code(), Some(&SqlState::FEATURE_NOT_SUPPORTED));
    assert!(
        err.as_db_error()
            .unwrap()
            .message()
            .contains("cached plan must not change result type"),
        "{}",
        report(&err)
    );
    assert_eq!(tx.transaction_status(), TransactionStatus::Failed);
    let err = tx.commit().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RolledBack, "{}", report(&err));

    // Outside the transaction the same text is re-prepared and works.
    let row = client.query_one(sql, &[]).await.unwrap();
    assert_eq!(column_names(&row), ["a", "b"]);
    assert_eq!(row.get::<_, i32>("b"), 2);

    // The same happens when the ALTER runs inside the transaction itself.
    let tx = client.transaction().await.unwrap();
    tx.batch_execute("ALTER TABLE t DROP COLUMN b")
        .await
        .unwrap();
    let err = tx.query(sql, &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::FEATURE_NOT_SUPPORTED));
    tx.rollback().await.unwrap();
    // Rolled back: the table has both columns again and the cached statement still fits.
    let row = client.query_one(sql, &[]).await.unwrap();
    assert_eq!(column_names(&row), ["a", "b"]);
}

// Catches: statements the server forgot (DISCARD ALL, 26000 "prepared statement does not exist")
// being reported to the caller instead of re-prepared.
#[tokio::test]
async fn statements_dropped_by_discard_all_are_re_prepared() {
    let client = connect(&config().await).await;
    let sql = "SELECT $1::text || '!'";
    let row = client.query_one(sql, &[&"hi"]).await.unwrap();
    assert_eq!(row.get::<_, &str>(0), "hi!");
    client.batch_execute("DISCARD ALL").await.unwrap();
    assert!(server_statements(&client).await.is_empty());
    let row = client
        .query_one(sql, &[&"again"])
        .await
        .unwrap_or_else(|e| panic!("after DISCARD ALL: {}", report(&e)));
    assert_eq!(row.get::<_, &str>(0), "again!");
    assert_eq!(server_statements(&client).await, [sql]);
}

// Catches: an unbounded cache (every distinct SQL text kept on the server), evicted statements not
// being closed on the server, and an eviction order other than least recently used.
#[tokio::test]
async fn the_cache_is_bounded_and_evicts_the_least_recently_used_statement() {
    let mut config = config().await;
    config.statement_cache_capacity(3);
    let client = connect(&config).await;
    for i in 0..20i32 {
        let sql = format!("SELECT {i} + $1::int4");
        let row = client.query_one(&sql, &[&1i32]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), i + 1);
    }
    let held = server_statements(&client).await;
    assert_eq!(
        held,
        [
            "SELECT 17 + $1::int4",
            "SELECT 18 + $1::int4",
            "SELECT 19 + $1::int4"
        ],
        "the three most recent statements, no more"
    );

    // Least recently used, not first in: A, B, C, then A again, then D evicts B.
    config.statement_cache_capacity(3);
    let client = connect(&config).await;
    for sql in [
        "SELECT 'A'",
        "SELECT 'B'",
        "SELECT 'C'",
        "SELECT 'A'",
        "SELECT 'D'",
    ] {
        client.query(sql, &[]).await.unwrap();
    }
    assert_eq!(
        server_statements(&client).await,
        ["SELECT 'A'", "SELECT 'C'", "SELECT 'D'"]
    );

    // clear_statement_cache closes them all.
    client.clear_statement_cache();
    assert!(server_statements(&client).await.is_empty());
    assert_eq!(
        client
            .query_one("SELECT 'A'", &[])
            .await
            .unwrap()
            .get::<_, &str>(0),
        "A"
    );
}

// Catches: a capacity of 0 still caching (or leaking one-shot statements on the server).
#[tokio::test]
async fn capacity_zero_caches_nothing_and_leaves_nothing_on_the_server() {
    let mut config = config().await;
    config.statement_cache_capacity(0);
    let client = connect(&config).await;
    for i in 0..5i64 {
        let row = client
            .query_one("SELECT $1::int8 * 2", &[&i])
            .await
            .unwrap();
        assert_eq!(row.get::<_, i64>(0), i * 2);
    }
    assert!(server_statements(&client).await.is_empty());
    // An explicitly prepared statement still lives until its handle is dropped.
    let statement = client.prepare("SELECT $1::int4").await.unwrap();
    assert_eq!(server_statements(&client).await, ["SELECT $1::int4"]);
    drop(statement);
    assert!(server_statements(&client).await.is_empty());
}

// Catches: named statements created although they are turned off (PgBouncer in transaction mode
// would route their Bind to a server that never saw their Parse), and an unnamed statement that is
// not parsed again in the same round trip as its execution (a second run, or another request in
// between, would execute the wrong SQL or fail with 26000).
#[tokio::test]
async fn unnamed_statement_mode_keeps_pg_prepared_statements_empty() {
    let mut config = config().await;
    config.named_statements(false);
    let mut client = connect(&config).await;
    client
        .batch_execute("CREATE TABLE items (id int4 PRIMARY KEY, name text)")
        .await
        .unwrap();

    for round in 0..2 {
        for id in 0..3i32 {
            let n = client
                .execute(
                    "INSERT INTO items VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = $2",
                    &[&id, &format!("item {id} round {round}")],
                )
                .await
                .unwrap();
            assert_eq!(n, 1);
        }
        let rows = client
            .query(
                "SELECT id, name FROM items WHERE id >= $1 ORDER BY id",
                &[&1i32],
            )
            .await
            .unwrap();
        let got: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        assert_eq!(
            got,
            [
                (1, format!("item 1 round {round}")),
                (2, format!("item 2 round {round}"))
            ]
        );
        assert!(server_statements(&client).await.is_empty(), "round {round}");
    }

    // An explicitly prepared statement is unnamed too and can run many times.
    let statement = client.prepare("SELECT $1::int4 * 10").await.unwrap();
    assert_eq!(statement.name(), "");
    let other = client.prepare("SELECT $1::text || '?'").await.unwrap();
    for i in 0..3i32 {
        assert_eq!(
            client
                .query_one(&statement, &[&i])
                .await
                .unwrap()
                .get::<_, i32>(0),
            i * 10
        );
        assert_eq!(
            client
                .query_one(&other, &[&"x"])
                .await
                .unwrap()
                .get::<_, &str>(0),
            "x?"
        );
    }

    // A portal inside a transaction and a batch also parse the unnamed statement.
    {
        let tx = client.transaction().await.unwrap();
        let portal = tx
            .bind("SELECT g FROM generate_series(1, $1::int4) g", &[&5i32])
            .await
            .unwrap();
        let first: Vec<i32> = tx
            .query_portal(&portal, 2)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(first, [1, 2]);
        let rest: Vec<i32> = tx
            .query_portal(&portal, 0)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(rest, [3, 4, 5]);
        drop(portal);
        tx.commit().await.unwrap();
    }
    let values = [1i32, 2, 3];
    let params: Vec<[&(dyn pg_wire::types::ToSql + Sync); 1]> =
        values.iter().map(|v| [v as _]).collect();
    let mut batch = client.batch();
    for p in &params {
        batch.query("SELECT $1::int4 + 100", p);
        batch.query("SELECT $1::int4 - 100", p);
    }
    let results = batch.run().await.unwrap();
    let got: Vec<i32> = results
        .into_iter()
        .map(|r| r.unwrap().rows[0].get(0))
        .collect();
    assert_eq!(got, [101, -99, 102, -98, 103, -97]);
    assert!(server_statements(&client).await.is_empty());
}

// Catches: in unnamed mode, concurrent (pipelined) requests whose Parse of the unnamed statement
// is separated from their Bind/Execute by another request's Parse, which would run the other SQL.
#[tokio::test]
async fn unnamed_statement_mode_is_safe_under_pipelining() {
    let mut config = config().await;
    config.named_statements(false);
    let client = Arc::new(connect(&config).await);
    let mut tasks = Vec::new();
    for task in 0..20i32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20i32 {
                // A different SQL text (and column type) per task.
                let sql = format!("SELECT $1::int4 + {task} AS t{task}");
                let row = client.query_one(&sql, &[&i]).await.unwrap();
                assert_eq!(row.columns()[0].name(), format!("t{task}"));
                assert_eq!(row.get::<_, i32>(0), i + task);
                let text: String = client
                    .query_one("SELECT $1::text || '-' || $2::int4", &[&"v", &i])
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(text, format!("v-{i}"));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(server_statements(&client).await.is_empty());
}

// Catches: in unnamed mode the cached description of a statement (with its result formats) being
// reused after ALTER TABLE changed the columns: Bind would ask for result formats that no longer
// match (08P01 "bind message has 2 result formats but query has 3 columns"), or rows would be
// decoded with the old types.
#[tokio::test]

async fn unnamed_statement_mode_follows_alter_table() {
    let mut config = config().await;
    config.named_statements(false);
    let client = connect(&config).await;
    // point has no binary decoder, so the columns are fetched in mixed formats.
    client
        .batch_execute("CREATE TABLE t (a int4, p point); INSERT INTO t VALUES (1, '(1,2)')")
        .await
        .unwrap();
    let sql = "SELECT * FROM t";
    let row = client.query_one(sql, &[]).await.unwrap();
    assert_eq!(column_names(&row), ["a", "p"]);
    client
        .batch_execute("ALTER TABLE t ADD COLUMN c int8 DEFAULT 7")
        .await
        .unwrap();
    let row = client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("after ADD COLUMN: {}", report(&e)));
    assert_eq!(column_names(&row), ["a", "p", "c"]);
    assert_eq!(row.get::<_, i32>("a"), 1);
    assert_eq!(row.get::<_, i64>("c"), 7);

    // All columns binary, then a column of a type the driver reads as text only: the stale
    // single result format would fetch it in binary, unreadable as text.
    client
        .batch_execute("CREATE TABLE u (a int4); INSERT INTO u VALUES (1)")
        .await
        .unwrap();
    client.query("SELECT * FROM u", &[]).await.unwrap();
    client
        .batch_execute("ALTER TABLE u ADD COLUMN p point DEFAULT '(3,4)'")
        .await
        .unwrap();
    let row = client.query_one("SELECT * FROM u", &[]).await.unwrap();
    assert_eq!(
        row.try_get::<_, &str>("p")
            .unwrap_or_else(|e| panic!("{}", report(&e))),
        "(3,4)"
    );
    assert!(server_statements(&client).await.is_empty());
}

// Catches: the explicit batch API using a stale cached statement without re-preparing it, so a
// batch fails where the same query alone succeeds.
#[tokio::test]

async fn a_batch_after_alter_table_re_prepares_cached_statements() {
    let client = connect(&config().await).await;
    client
        .batch_execute("CREATE TABLE t (a int4); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    let sql = "SELECT * FROM t";
    client.query(sql, &[]).await.unwrap();
    client
        .batch_execute("ALTER TABLE t ADD COLUMN b int4 DEFAULT 2")
        .await
        .unwrap();
    let mut batch = client.batch();
    batch.query(sql, &[]);
    let results = batch.run().await.unwrap();
    let result = results
        .into_iter()
        .next()
        .unwrap()
        .unwrap_or_else(|e| panic!("batch after ALTER TABLE: {}", report(&e)));
    assert_eq!(column_names(&result.rows[0]), ["a", "b"]);
}

// Catches: races in the cache when many tasks use the same texts at once: a statement prepared
// twice and both copies kept on the server, an evicted statement closed while another task still
// executes it (26000), or the bound exceeded under concurrency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tasks_share_the_cache_without_leaks_or_early_closes() {
    for capacity in [256usize, 2] {
        let mut config = config().await;
        config.statement_cache_capacity(capacity);
        let client = Arc::new(connect(&config).await);
        let mut tasks = Vec::new();
        for task in 0..20i32 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..50i32 {
                    let k = (task + i) % 5;
                    let sql = format!("SELECT $1::int4 + {k}");
                    let row = client
                        .query_one(&sql, &[&i])
                        .await
                        .unwrap_or_else(|e| panic!("capacity {capacity}: {}", report(&e)));
                    assert_eq!(row.get::<_, i32>(0), i + k);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let held = server_statements(&client).await;
        let mut unique = held.clone();
        unique.dedup();
        assert_eq!(unique, held, "capacity {capacity}: a text prepared twice");
        if capacity == 2 {
            assert_eq!(held.len(), 2, "capacity 2: {held:?}");
        } else {
            assert_eq!(
                held,
                (0..5)
                    .map(|k| format!("SELECT $1::int4 + {k}"))
                    .collect::<Vec<_>>()
            );
        }
    }
}
