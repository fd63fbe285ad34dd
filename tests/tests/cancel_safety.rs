//! Cancellation safety: every kind of request is dropped at every point where it can be suspended.
//!
//! For each kind (a simple query, `batch_execute`, an extended query with a cached statement and
//! with one prepared on the way, `execute`, `query_one`, a `query_raw` stream read in part, COPY in,
//! COPY out read whole and in part, a transaction's `BEGIN` and its `COMMIT`), a sweep runs the
//! request again and again on one connection: the `N`th run is polled by hand `N` times, each poll
//! after the request asked to be woken (so each poll moves it to its next suspension point), and
//! is then dropped; `N` goes from 0 (dropped before its first poll) until the request completes
//! within its polls. The server side is slowed down so that requests have many suspension points:
//! `slow(g)` sleeps a millisecond and sends a NOTICE (which the server flushes at once) for each
//! row, and large rows fill the socket.
//!
//! After each drop, the connection either answers the next query with that query's own answer
//! (a fresh number, over the extended and the simple protocol) or reports itself closed; it is not
//! inside a transaction the user did not begin (seen from the client, `transaction_status`, and
//! from the server: a new simple query starts its own transaction, so `now()` equals
//! `statement_timestamp()`, and no transaction id is assigned); and what the request wrote is there
//! whole or not at all (never when it was dropped before its first poll; always when it completed).
//!
//! The same sweep runs on a pool of one connection: the request is dropped on a checked-out
//! connection, which then goes back to the pool; the next checkout must be idle, with nothing
//! pending, and answer correctly. On the pool the request is dropped right after the poll that
//! suspended it; on a plain client, after it was woken again (its answer is then waiting on the
//! socket), so both moments are covered.
//!
//! Each test prints its drop-point counts (`cargo test --test cancel_safety -- --nocapture`).

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use harness::{AuthMethod, TestServer};
use pg_wire::error::report;
use pg_wire::{Client, Config, Pool, PoolOptions, SimpleQueryMessage, TransactionStatus};
use tokio::sync::Notify;

/// How long a suspended request may go without being woken before the test calls it a hang.
const WAKE_LIMIT: Duration = Duration::from_secs(10);

/// The most polls a sweep tries before giving up (a request that never completes).
const MAX_POLLS: usize = 400;

/// Every sweep of one test must be done within this.
const TEST_LIMIT: Duration = Duration::from_secs(120);

/// Rows of the slowed-down results: each costs the server about a millisecond and a NOTICE.
const ROWS: i32 = 20;

/// Functions and tables every test database gets.
const SCHEMA: &str = "
CREATE FUNCTION slow(g int4) RETURNS int4 LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(0.001);
    RAISE NOTICE 'row %', g;
    RETURN g;
END $$;
CREATE TABLE t (n int4 NOT NULL, g int4 NOT NULL);
CREATE TABLE copied (n int4 NOT NULL, g int4 NOT NULL, payload text NOT NULL);
CREATE FUNCTION copied_slow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(0.001);
    RETURN NEW;
END $$;
CREATE TRIGGER copied_slow BEFORE INSERT ON copied FOR EACH ROW EXECUTE FUNCTION copied_slow();
CREATE TABLE committed (n int4 NOT NULL, g int4 NOT NULL);
CREATE FUNCTION at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM slow(NEW.g);
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON committed
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION at_commit();
";

/// A number no other query of the process used: the tag of a round, or the answer a check
/// expects.
fn fresh() -> i32 {
    static NEXT: AtomicI32 = AtomicI32::new(1_000);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Wakes the sweep when the request under test asks to be polled again.
struct WakeSignal(Notify);

impl Wake for WakeSignal {
    fn wake(self: Arc<Self>) {
        self.0.notify_one();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.notify_one();
    }
}

/// When a request that did not complete within its polls is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DropAt {
    /// Right after the poll that suspended it.
    Suspended,
    /// After it was woken again: what it waited for has arrived, unread.
    Woken,
}

/// Polls `request` at most `polls` times, each poll after the previous one's wake-up, and drops
/// it (as `drop_at` says) if it has not completed: `None` then. A request that stays suspended
/// without ever being woken fails the test (it would hang).
async fn drive<F: Future>(request: F, polls: usize, drop_at: DropAt) -> Option<F::Output> {
    let signal = Arc::new(WakeSignal(Notify::new()));
    let waker = Waker::from(Arc::clone(&signal));
    let mut cx = Context::from_waker(&waker);
    let mut request = pin!(request);
    for poll in 0..polls {
        if poll > 0 {
            wait_for_wake(&signal, poll).await;
        }
        if let Poll::Ready(output) = request.as_mut().poll(&mut cx) {
            return Some(output);
        }
    }
    if polls > 0 && drop_at == DropAt::Woken {
        wait_for_wake(&signal, polls).await;
    }
    None
}

async fn wait_for_wake(signal: &WakeSignal, polls: usize) {
    tokio::time::timeout(WAKE_LIMIT, signal.0.notified())
        .await
        .unwrap_or_else(|_| {
            panic!("the request was not woken within {WAKE_LIMIT:?} after poll {polls}: it hangs")
        });
}

/// One run of a request on `client`, tagged `tag`, polled at most `polls` times: `Some` when it
/// completed (its result already checked), `None` when it was dropped.
type Round<'c> = Pin<Box<dyn Future<Output = Option<()>> + 'c>>;

/// A kind of request to sweep.
struct Kind {
    name: &'static str,
    round: for<'c> fn(&'c mut Client, usize, i32, DropAt) -> Round<'c>,
    /// The table a round writes rows tagged with its number into (column `n`), and how many rows
    /// a completed round leaves.
    writes: Option<(&'static str, i64)>,
}

/// What a sweep covered.
#[derive(Debug, Default, Clone, Copy)]
struct Coverage {
    /// Values of `N` for which the request was dropped (0 included).
    drop_points: usize,
    /// Drops after which the connection reported itself closed.
    closed: usize,
    /// Drops that left the request's writes in place (it ran to its end on the server).
    applied: usize,
}

/// A fresh database with [`SCHEMA`], and the settings to reach it.
async fn database() -> Config {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let config: Config = server
        .connection_string(server.superuser(), None, &db, false)
        .parse()
        .unwrap();
    let client = connect(&config).await;
    client.batch_execute(SCHEMA).await.unwrap();
    config
}

/// A client that ignores the server's notices (`slow` sends one per row).
async fn connect(config: &Config) -> Client {
    let client = Client::connect(config).await.unwrap();
    client.set_notice_handler(|_| {});
    client
}

/// The next queries' own answers, and no transaction left open: `Err` only when the connection
/// is closed (and says so); anything else wrong fails the test.
async fn check_next_answers(client: &Client, what: &str) -> Result<(), pg_wire::Error> {
    let n = fresh();
    let rows = match client.query("SELECT $1::int4, $1::int4 * 2", &[&n]).await {
        Ok(rows) => rows,
        Err(e) => return closed_or_panic(client, e, what),
    };
    assert_eq!(
        rows.len(),
        1,
        "{what}: the next query got {} rows",
        rows.len()
    );
    assert_eq!(
        (rows[0].get::<_, i32>(0), rows[0].get::<_, i32>(1)),
        (n, n * 2),
        "{what}: the next query got another request's answer"
    );
    assert_eq!(
        client.transaction_status(),
        TransactionStatus::Idle,
        "{what}: the connection is in a transaction the user did not begin"
    );
    // Over the simple protocol, the statement starts its own transaction unless one is open:
    // then now() (the transaction's start) is the statement's start.
    let m = fresh();
    let messages = match client
        .simple_query(&format!(
            "SELECT {m}, now() = statement_timestamp(), txid_current_if_assigned() IS NULL"
        ))
        .await
    {
        Ok(messages) => messages,
        Err(e) => return closed_or_panic(client, e, what),
    };
    let rows: Vec<Vec<Option<String>>> = messages
        .iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => {
                Some(row.values().map(|v| v.map(str::to_owned)).collect())
            }
            _ => None,
        })
        .collect();
    let expected = vec![vec![
        Some(m.to_string()),
        Some("t".to_owned()),
        Some("t".to_owned()),
    ]];
    assert_eq!(
        rows, expected,
        "{what}: the next simple query got another answer, or ran inside a transaction (now() \
         differs from statement_timestamp(), or a transaction id is assigned)"
    );
    assert_eq!(
        client.transaction_status(),
        TransactionStatus::Idle,
        "{what}"
    );
    Ok(())
}

fn closed_or_panic(client: &Client, e: pg_wire::Error, what: &str) -> Result<(), pg_wire::Error> {
    assert!(
        e.is_closed() && client.is_closed(),
        "{what}: the next query failed without the connection being closed: {}",
        report(&e)
    );
    Err(e)
}

/// How many rows tagged `tag` the table holds: all of a completed round's, none of one dropped
/// before its first poll, and otherwise all or none.
async fn check_writes(
    client: &Client,
    kind: &Kind,
    tag: i32,
    polls: usize,
    completed: bool,
    what: &str,
) -> bool {
    let Some((table, rows)) = kind.writes else {
        return false;
    };
    let count: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {table} WHERE n = $1"),
            &[&tag],
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: counting the rows: {}", report(&e)))
        .get(0);
    if completed {
        assert_eq!(count, rows, "{what}: the completed request's rows");
    } else if polls == 0 {
        assert_eq!(
            count, 0,
            "{what}: a request dropped before its first poll wrote rows"
        );
    } else {
        assert!(
            count == 0 || count == rows,
            "{what}: {count} of {rows} rows: a dropped request was applied in part"
        );
    }
    count == rows
}

/// Sweeps `kind` on one plain client, reconnecting when a drop closed it.
async fn sweep_client(config: &Config, kind: &Kind) -> Coverage {
    let mut coverage = Coverage::default();
    let mut client = connect(config).await;
    for polls in 0..=MAX_POLLS {
        let tag = fresh();
        let what = format!("{} on a client, dropped after {polls} poll(s)", kind.name);
        let completed = (kind.round)(&mut client, polls, tag, DropAt::Woken)
            .await
            .is_some();
        if !completed {
            coverage.drop_points += 1;
        }
        match check_next_answers(&client, &what).await {
            Ok(()) => {
                if check_writes(&client, kind, tag, polls, completed, &what).await && !completed {
                    coverage.applied += 1;
                }
            }
            Err(_) => {
                assert!(
                    !completed,
                    "{what}: a completed request closed the connection"
                );
                coverage.closed += 1;
                client = connect(config).await;
                check_writes(&client, kind, tag, polls, completed, &what).await;
            }
        }
        if completed {
            return coverage;
        }
    }
    panic!("{}: not completed within {MAX_POLLS} polls", kind.name);
}

/// Sweeps `kind` on a pool of one connection: each request is dropped on a checked-out
/// connection that then goes back; the next checkout must be idle and answer correctly.
async fn sweep_pool(config: &Config, kind: &Kind) -> Coverage {
    let mut coverage = Coverage::default();
    let pool = Pool::new(
        config.clone(),
        PoolOptions::new()
            .max_size(1)
            .checkout_timeout(Duration::from_secs(10)),
    );
    for polls in 0..=MAX_POLLS {
        let tag = fresh();
        let what = format!(
            "{} on a pooled connection, dropped after {polls} poll(s)",
            kind.name
        );
        let mut pooled = pool.get().await.unwrap();
        pooled.set_notice_handler(|_| {});
        let pid = pooled.process_id();
        let completed = (kind.round)(&mut pooled, polls, tag, DropAt::Suspended)
            .await
            .is_some();
        drop(pooled);
        if !completed {
            coverage.drop_points += 1;
        }

        let next = pool
            .get()
            .await
            .unwrap_or_else(|e| panic!("{what}: the next checkout: {}", report(&e)));
        next.set_notice_handler(|_| {});
        if next.process_id() != pid {
            coverage.closed += 1;
        }
        assert!(
            !next.is_closed(),
            "{what}: the pool handed out a closed connection"
        );
        assert!(
            !next.has_pending_requests(),
            "{what}: the pool handed out a connection with a dropped request's responses unread"
        );
        assert_eq!(
            next.transaction_status(),
            TransactionStatus::Idle,
            "{what}: the pool handed out a connection inside a transaction"
        );
        if let Err(e) = check_next_answers(&next, &what).await {
            panic!(
                "{what}: the pool handed out a broken connection: {}",
                report(&e)
            );
        }
        if check_writes(&next, kind, tag, polls, completed, &what).await && !completed {
            coverage.applied += 1;
        }
        if completed {
            pool.close().await;
            return coverage;
        }
    }
    panic!("{}: not completed within {MAX_POLLS} polls", kind.name);
}

/// Sweeps `kind` on a plain client and on a pool, within [`TEST_LIMIT`], and prints the counts.
async fn sweep_both(kind: Kind) {
    tokio::time::timeout(TEST_LIMIT, async {
        let config = database().await;
        let client = sweep_client(&config, &kind).await;
        let pooled = sweep_pool(&config, &kind).await;
        println!(
            "drop points, {}: {} on a client ({} closed it, {} applied), {} on a pooled connection \
             ({} replaced, {} applied)",
            kind.name,
            client.drop_points,
            client.closed,
            client.applied,
            pooled.drop_points,
            pooled.closed,
            pooled.applied
        );
        assert!(client.drop_points >= 2, "{}: {client:?}", kind.name);
        assert!(pooled.drop_points >= 2, "{}: {pooled:?}", kind.name);
    })
    .await
    .unwrap_or_else(|_| panic!("not done within {TEST_LIMIT:?} (a hang?)"));
}

/// Sweeps `kind` on a plain client only (see the ignored `BEGIN` test).
async fn sweep_client_only(kind: Kind) {
    tokio::time::timeout(TEST_LIMIT, async {
        let config = database().await;
        let coverage = sweep_client(&config, &kind).await;
        println!(
            "drop points, {} (client only): {} ({} closed it, {} applied)",
            kind.name, coverage.drop_points, coverage.closed, coverage.applied
        );
    })
    .await
    .unwrap_or_else(|_| panic!("not done within {TEST_LIMIT:?} (a hang?)"));
}

/// Sweeps `kind` on a pool only.
async fn sweep_pool_only(kind: Kind) {
    tokio::time::timeout(TEST_LIMIT, async {
        let config = database().await;
        let coverage = sweep_pool(&config, &kind).await;
        println!(
            "drop points, {} (pooled only): {} ({} replaced, {} applied)",
            kind.name, coverage.drop_points, coverage.closed, coverage.applied
        );
        assert!(coverage.drop_points >= 2, "{}: {coverage:?}", kind.name);
    })
    .await
    .unwrap_or_else(|_| panic!("not done within {TEST_LIMIT:?} (a hang?)"));
}

// ---- the rounds ----

/// A row of `SELECT $tag, slow(g), repeat('x', 3000)`, checked.
fn check_row(values: (i32, i32, usize), tag: i32, g: i32, what: &str) {
    assert_eq!(values, (tag, g, 3000), "{what}: row {g}");
}

fn simple_query_round(client: &mut Client, polls: usize, tag: i32, drop_at: DropAt) -> Round<'_> {
    Box::pin(async move {
        let sql = format!(
            "SELECT {tag}, slow(g), repeat('x', 3000) FROM generate_series(1, {ROWS}) g; \
             SELECT {tag} + 1"
        );
        let messages = drive(client.simple_query(&sql), polls, drop_at)
            .await?
            .unwrap();
        let rows: Vec<Vec<String>> = messages
            .iter()
            .filter_map(|message| match message {
                SimpleQueryMessage::Row(row) => {
                    Some(row.values().map(|v| v.unwrap().to_owned()).collect())
                }
                _ => None,
            })
            .collect();
        assert_eq!(rows.len(), ROWS as usize + 1);
        for (g, row) in (1..=ROWS).zip(&rows) {
            let values = (
                row[0].parse().unwrap(),
                row[1].parse().unwrap(),
                row[2].len(),
            );
            check_row(values, tag, g, "simple_query");
        }
        assert_eq!(rows[ROWS as usize], vec![(tag + 1).to_string()]);
        Some(())
    })
}

fn batch_execute_round(client: &mut Client, polls: usize, tag: i32, drop_at: DropAt) -> Round<'_> {
    Box::pin(async move {
        let sql = format!(
            "INSERT INTO t SELECT {tag}, slow(g) FROM generate_series(1, {ROWS}) g; \
             SELECT slow(g) FROM generate_series(1, 5) g"
        );
        drive(client.batch_execute(&sql), polls, drop_at)
            .await?
            .unwrap();
        Some(())
    })
}

const ROWS_SQL: &str = "SELECT $1::int4, slow(g), repeat('x', 3000) FROM generate_series(1, 20) g";

fn check_rows(rows: &[pg_wire::Row], tag: i32, what: &str) {
    assert_eq!(rows.len(), ROWS as usize, "{what}");
    for (g, row) in (1..=ROWS).zip(rows) {
        let values = (row.get(0), row.get(1), row.get::<_, &str>(2).len());
        check_row(values, tag, g, what);
    }
}

fn query_cached_round(client: &mut Client, polls: usize, tag: i32, drop_at: DropAt) -> Round<'_> {
    Box::pin(async move {
        let rows = drive(client.query(ROWS_SQL, &[&tag]), polls, drop_at)
            .await?
            .unwrap();
        check_rows(&rows, tag, "query");
        Some(())
    })
}

fn query_prepared_round(client: &mut Client, polls: usize, tag: i32, drop_at: DropAt) -> Round<'_> {
    Box::pin(async move {
        // New SQL text every round: the statement is prepared (Parse, Describe) on the way.
        let sql = format!("{ROWS_SQL} /* {tag} */");
        let rows = drive(client.query(sql.as_str(), &[&tag]), polls, drop_at)
            .await?
            .unwrap();
        check_rows(&rows, tag, "query (prepared)");
        Some(())
    })
}

fn execute_round(client: &mut Client, polls: usize, tag: i32, drop_at: DropAt) -> Round<'_> {
    Box::pin(async move {
        let sql = "INSERT INTO t SELECT $1::int4, slow(g) FROM generate_series(1, 20) g";
        let n = drive(client.execute(sql, &[&tag]), polls, drop_at)
            .await?
            .unwrap();
        assert_eq!(n, ROWS as u64);
        Some(())
    })
}

fn query_one_round(client: &mut Client, polls: usize, tag: i32, drop_at: DropAt) -> Round<'_> {
    Box::pin(async move {
        let sql = "SELECT ($1::int4 + sum(slow(g)))::int4 FROM generate_series(1, 20) g";
        let row = drive(client.query_one(sql, &[&tag]), polls, drop_at)
            .await?
            .unwrap();
        assert_eq!(row.get::<_, i32>(0), tag + ROWS * (ROWS + 1) / 2);
        Some(())
    })
}

/// Reads 15 rows of a 40-row stream, then drops the stream with the rest unread.
fn query_raw_partly_round(
    client: &mut Client,
    polls: usize,
    tag: i32,
    drop_at: DropAt,
) -> Round<'_> {
    Box::pin(async move {
        let client = &*client;
        let read = async move {
            let sql = "SELECT $1::int4, slow(g), repeat('x', 3000) FROM generate_series(1, 40) g";
            let mut rows = client.query_raw(sql, &[&tag]).await?;
            let mut seen = Vec::new();
            while seen.len() < 15 {
                let row = rows.next().await.expect("the stream ended early")?;
                seen.push((
                    row.get::<_, i32>(0),
                    row.get::<_, i32>(1),
                    row.get::<_, &str>(2).len(),
                ));
            }
            Ok::<_, pg_wire::Error>(seen)
        };
        let seen = drive(read, polls, drop_at).await?.unwrap();
        for (g, values) in (1..).zip(seen) {
            check_row(values, tag, g, "query_raw");
        }
        Some(())
    })
}

/// Rows a COPY FROM STDIN sends: 1.3 MB, more than the socket buffers hold, to a server that
/// takes a millisecond per row, so the writes wait for the server.
const COPY_ROWS: i32 = 40;

/// One row of COPY text for `copied`: `tag`, `g`, and 32 KiB of payload.
fn copy_line(tag: i32, g: i32) -> String {
    format!("{tag}\t{g}\t{}\n", "y".repeat(32 * 1024))
}

fn copy_in_round(client: &mut Client, polls: usize, tag: i32, drop_at: DropAt) -> Round<'_> {
    Box::pin(async move {
        let client = &*client;
        let copy = async move {
            let mut writer = client
                .copy_in("COPY copied (n, g, payload) FROM STDIN")
                .await?;
            for g in 1..=COPY_ROWS {
                writer.write(copy_line(tag, g).as_bytes()).await?;
                writer.flush().await?;
            }
            writer.finish().await
        };
        let n = drive(copy, polls, drop_at).await?.unwrap();
        assert_eq!(n, COPY_ROWS as u64);
        Some(())
    })
}

/// `COPY ... TO STDOUT` of the slowed-down rows; reads `chunks` chunks (all with `None`).
async fn copy_out_chunks(
    client: &Client,
    tag: i32,
    chunks: Option<usize>,
) -> Result<Vec<u8>, pg_wire::Error> {
    let sql = format!(
        "COPY (SELECT {tag}, slow(g), repeat('x', 3000) FROM generate_series(1, {ROWS}) g) TO STDOUT"
    );
    let mut stream = client.copy_out(&sql).await?;
    let mut data = Vec::new();
    let mut read = 0;
    while chunks.is_none_or(|chunks| read < chunks) {
        match stream.next().await {
            Some(chunk) => data.extend_from_slice(&chunk?),
            None => break,
        }
        read += 1;
    }
    Ok(data)
}

fn check_copy_lines(data: &[u8], tag: i32, lines: usize, what: &str) {
    let text = std::str::from_utf8(data).unwrap();
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(got.len(), lines, "{what}");
    for (g, line) in (1..).zip(got) {
        assert_eq!(
            line,
            format!("{tag}\t{g}\t{}", "x".repeat(3000)),
            "{what}: line {g}"
        );
    }
}

fn copy_out_round(client: &mut Client, polls: usize, tag: i32, drop_at: DropAt) -> Round<'_> {
    Box::pin(async move {
        let data = drive(copy_out_chunks(client, tag, None), polls, drop_at)
            .await?
            .unwrap();
        check_copy_lines(&data, tag, ROWS as usize, "copy_out");
        Some(())
    })
}

/// Reads 5 chunks (one row each) of the COPY, then drops the stream.
fn copy_out_partly_round(
    client: &mut Client,
    polls: usize,
    tag: i32,
    drop_at: DropAt,
) -> Round<'_> {
    Box::pin(async move {
        let data = drive(copy_out_chunks(client, tag, Some(5)), polls, drop_at)
            .await?
            .unwrap();
        check_copy_lines(&data, tag, 5, "copy_out read in part");
        Some(())
    })
}

/// `client.transaction()` (BEGIN); once it completed, the transaction is rolled back.
fn begin_round(client: &mut Client, polls: usize, _tag: i32, drop_at: DropAt) -> Round<'_> {
    Box::pin(async move {
        let tx = drive(client.transaction(), polls, drop_at).await?.unwrap();
        assert_eq!(tx.transaction_status(), TransactionStatus::InTransaction);
        tx.rollback().await.unwrap();
        Some(())
    })
}

/// A transaction writing 10 rows into `committed` (whose deferred trigger makes COMMIT slow),
/// then `tx.commit()` polled `polls` times.
fn commit_round(client: &mut Client, polls: usize, tag: i32, drop_at: DropAt) -> Round<'_> {
    Box::pin(async move {
        let tx = client.transaction().await.unwrap();
        let sql = "INSERT INTO committed SELECT $1::int4, g FROM generate_series(1, 10) g";
        assert_eq!(tx.execute(sql, &[&tag]).await.unwrap(), 10);
        drive(tx.commit(), polls, drop_at).await?.unwrap();
        Some(())
    })
}

// ---- the tests ----

// Catches: a simple query dropped half way whose rows (or CommandComplete) reach the next request,
// a CopyFail from the dropped query's writer guard breaking the next query, a hang draining it.
#[tokio::test]
async fn simple_query_dropped_at_every_suspension_point() {
    sweep_both(Kind {
        name: "simple_query",
        round: simple_query_round,
        writes: None,
    })
    .await;
}

// Catches: batch_execute dropped half way leaving an INSERT half applied or the connection in the
// implicit transaction of a multi-statement query.
#[tokio::test]
async fn batch_execute_dropped_at_every_suspension_point() {
    sweep_both(Kind {
        name: "batch_execute",
        round: batch_execute_round,
        writes: Some(("t", ROWS as i64)),
    })
    .await;
}

// Catches: an extended query (cached statement) dropped half way: rows of the dropped query
// returned to the next one, a Sync lost so the next query waits forever.
#[tokio::test]
async fn query_with_a_cached_statement_dropped_at_every_suspension_point() {
    sweep_both(Kind {
        name: "query (cached statement)",
        round: query_cached_round,
        writes: None,
    })
    .await;
}

// Catches: a query dropped while its statement is being prepared (Parse/Describe in flight):
// the next query getting ParseComplete or a ParameterDescription that are not its own.
#[tokio::test]
async fn query_with_a_statement_prepared_on_the_way_dropped_at_every_suspension_point() {
    sweep_both(Kind {
        name: "query (statement prepared on the way)",
        round: query_prepared_round,
        writes: None,
    })
    .await;
}

// Catches: execute dropped half way applying its INSERT in part, or its CommandComplete counted
// for the next request.
#[tokio::test]
async fn execute_dropped_at_every_suspension_point() {
    sweep_both(Kind {
        name: "execute",
        round: execute_round,
        writes: Some(("t", ROWS as i64)),
    })
    .await;
}

// Catches: query_one dropped half way, its single row handed to the next query_one.
#[tokio::test]
async fn query_one_dropped_at_every_suspension_point() {
    sweep_both(Kind {
        name: "query_one",
        round: query_one_round,
        writes: None,
    })
    .await;
}

// Catches: a row stream dropped with rows unread (and its requests dropped at every point before
// that): the unread rows handed to the next query.
#[tokio::test]
async fn query_raw_read_in_part_dropped_at_every_suspension_point() {
    sweep_both(Kind {
        name: "query_raw read in part",
        round: query_raw_partly_round,
        writes: None,
    })
    .await;
}

// Catches: a COPY FROM STDIN dropped half way: the server left waiting for data (a hang), half a
// CopyData message followed by another request's bytes, rows copied in part.
#[tokio::test]
async fn copy_in_dropped_at_every_suspension_point() {
    sweep_both(Kind {
        name: "copy_in",
        round: copy_in_round,
        writes: Some(("copied", COPY_ROWS as i64)),
    })
    .await;
}

// Catches: a COPY TO STDOUT dropped half way: CopyData handed to the next query.
#[tokio::test]
async fn copy_out_dropped_at_every_suspension_point() {
    sweep_both(Kind {
        name: "copy_out",
        round: copy_out_round,
        writes: None,
    })
    .await;
}

// Catches: a COPY TO STDOUT stream dropped with data unread.
#[tokio::test]
async fn copy_out_read_in_part_dropped_at_every_suspension_point() {
    sweep_both(Kind {
        name: "copy_out read in part",
        round: copy_out_partly_round,
        writes: None,
    })
    .await;
}

// Catches: a pooled connection whose BEGIN was dropped after it was sent going back to the pool
// and out again inside the transaction.
#[tokio::test]
async fn begin_dropped_on_a_pooled_connection_never_comes_back_in_a_transaction() {
    sweep_pool_only(Kind {
        name: "transaction() (BEGIN)",
        round: begin_round,
        writes: None,
    })
    .await;
}

// Catches: a plain client whose `transaction()` future was dropped after BEGIN was sent staying
// inside that transaction (the user never got a Transaction to roll back).
#[tokio::test]
async fn begin_dropped_on_a_client_never_leaves_it_in_a_transaction() {
    sweep_client_only(Kind {
        name: "transaction() (BEGIN)",
        round: begin_round,
        writes: None,
    })
    .await;
}

// Catches: a COMMIT dropped half way committing in part, leaving the connection in the
// transaction, or (dropped before its first poll) committing a transaction that must roll back.
#[tokio::test]
async fn commit_dropped_at_every_suspension_point() {
    sweep_both(Kind {
        name: "tx.commit()",
        round: commit_round,
        writes: Some(("committed", 10)),
    })
    .await;
}
