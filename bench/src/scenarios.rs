//! The scenarios, each written once for pg-wire and once for tokio-postgres, doing the same work
//! with each driver's idiomatic calls.
//!
//! A run is timed from the first request to the last reply; what only prepares the run (emptying
//! the target table) is done before the clock starts. Every value read is checked or folded into a
//! checksum, so no driver can skip decoding.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};

use crate::BoxError;

/// Round trips per run in scenarios 1 and 2.
pub const ROUND_TRIPS: u32 = 10_000;
/// Rows of the table scenario 3 fetches.
pub const FETCH_ROWS: u32 = 10_000;
/// Fetches of the whole table per run in scenario 3.
pub const FETCH_REPEAT: u32 = 10;
/// INSERTs per run (one transaction) in scenario 4.
pub const INSERTS: u32 = 10_000;
/// Queries per run in scenarios 5 and 6.
pub const PIPELINED: u32 = 10_000;
/// Requests in flight at once in scenario 5.
pub const IN_FLIGHT: usize = 64;
/// Rows per COPY in scenario 7.
pub const COPY_ROWS: u32 = 1_000_000;
/// Rows streamed in scenario 8.
pub const STREAM_ROWS: u32 = 5_000_000;

const SELECT_1: &str = "SELECT 1";
const SELECT_PARAM: &str = "SELECT $1::int4";
const FETCH: &str = "SELECT a, b, c, d, e FROM bench_fetch";
const INSERT: &str = "INSERT INTO bench_insert (a, b, c) VALUES ($1, $2, $3)";
const COPY_TEXT: &str = "COPY bench_copy (a, b, c) FROM STDIN";
const COPY_BINARY: &str = "COPY bench_copy (a, b, c) FROM STDIN (FORMAT binary)";

/// Run before each COPY, untimed: an empty table, and a checkpoint so that the 1,000,000 rows of
/// the previous run (about 60 MB of WAL) are not flushed during this one.
const COPY_RESET: [&str; 2] = ["TRUNCATE bench_copy", "CHECKPOINT"];

/// The tables, created once per bench in its fresh database, through pg-wire. Autovacuum is off for
/// them so that it does not wake up in the middle of a run.
const SETUP: &[&str] = &[
    "CREATE TABLE bench_fetch (a int4 NOT NULL, b int8 NOT NULL, c text NOT NULL, \
     d float8 NOT NULL, e timestamptz NOT NULL) WITH (autovacuum_enabled = off)",
    "INSERT INTO bench_fetch SELECT g, g::int8 * 1000003, 'row number ' || g, g::float8 / 7, \
     timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second' \
     FROM generate_series(1, 10000) AS g",
    "VACUUM ANALYZE bench_fetch",
    "CREATE TABLE bench_insert (a int4 NOT NULL, b int8 NOT NULL, c text NOT NULL) \
     WITH (autovacuum_enabled = off)",
    "CREATE TABLE bench_copy (a int4 NOT NULL, b int8 NOT NULL, c text NOT NULL) \
     WITH (autovacuum_enabled = off)",
];

/// One scenario of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Simple,
    Prepared,
    Fetch,
    Insert,
    Pipeline,
    Batch,
    BatchAtomic,
    CopyText,
    CopyBinary,
    Stream,
}

impl Scenario {
    pub const ALL: [Scenario; 10] = [
        Scenario::Simple,
        Scenario::Prepared,
        Scenario::Fetch,
        Scenario::Insert,
        Scenario::Pipeline,
        Scenario::Batch,
        Scenario::BatchAtomic,
        Scenario::CopyText,
        Scenario::CopyBinary,
        Scenario::Stream,
    ];

    /// The name `--scenario` takes.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Simple => "simple",
            Scenario::Prepared => "prepared",
            Scenario::Fetch => "fetch",
            Scenario::Insert => "insert",
            Scenario::Pipeline => "pipeline",
            Scenario::Batch => "batch",
            Scenario::BatchAtomic => "batch-sync-each",
            Scenario::CopyText => "copy-text",
            Scenario::CopyBinary => "copy-binary",
            Scenario::Stream => "stream",
        }
    }

    /// The number in the list.
    pub fn number(self) -> &'static str {
        match self {
            Scenario::Simple => "1",
            Scenario::Prepared => "2",
            Scenario::Fetch => "3",
            Scenario::Insert => "4",
            Scenario::Pipeline => "5",
            Scenario::Batch => "6",
            Scenario::BatchAtomic => "6a",
            Scenario::CopyText => "7t",
            Scenario::CopyBinary => "7b",
            Scenario::Stream => "8",
        }
    }

    /// What one run does.
    pub fn description(self) -> String {
        match self {
            Scenario::Simple => {
                format!("{ROUND_TRIPS} x `SELECT 1`, simple protocol, one at a time")
            }
            Scenario::Prepared => {
                format!("{ROUND_TRIPS} x prepared `SELECT 1` (query_one), one at a time")
            }
            Scenario::Fetch => format!(
                "{FETCH_REPEAT} x fetch {FETCH_ROWS} rows x 5 columns (int4, int8, text, float8, \
                 timestamptz), prepared, every value read"
            ),
            Scenario::Insert => {
                format!(
                    "{INSERTS} x prepared single-row INSERT (int4, int8, text) in one transaction"
                )
            }
            Scenario::Pipeline => format!(
                "{PIPELINED} x prepared `SELECT $1::int4` (query_one), {IN_FLIGHT} in flight \
                 (futures-util `buffered`)"
            ),
            Scenario::Batch => format!(
                "{PIPELINED} x prepared `SELECT $1::int4`: pg-wire in one `client.batch()` (one Sync); \
                 tokio-postgres has no batch API, so it runs (5) again (implicit pipelining)"
            ),
            Scenario::BatchAtomic => "not in the issue's list: (6) with `Batch::sync_each()` (a \
                                       Sync after every statement, each its own implicit \
                                       transaction); tokio-postgres runs (5) again"
                .to_owned(),
            Scenario::CopyText => {
                format!(
                    "COPY FROM STDIN, text, {COPY_ROWS} rows (int4, int8, text), one write per line"
                )
            }
            Scenario::CopyBinary => format!(
                "COPY FROM STDIN, binary, {COPY_ROWS} rows (int4, int8, text), BinaryCopyInWriter"
            ),
            Scenario::Stream => format!(
                "stream {STREAM_ROWS} rows of generate_series with query_raw, in a child process \
                 (for its peak RSS)"
            ),
        }
    }

    /// What the throughput counts.
    pub fn unit(self) -> &'static str {
        match self {
            Scenario::Simple
            | Scenario::Prepared
            | Scenario::Pipeline
            | Scenario::Batch
            | Scenario::BatchAtomic => "queries/s",
            Scenario::Fetch
            | Scenario::Insert
            | Scenario::CopyText
            | Scenario::CopyBinary
            | Scenario::Stream => "rows/s",
        }
    }

    /// Parses a name or a number (`7` selects both COPY scenarios).
    pub fn parse(text: &str) -> Option<Vec<Scenario>> {
        if text == "7" {
            return Some(vec![Scenario::CopyText, Scenario::CopyBinary]);
        }
        if text == "copy" {
            return Some(vec![Scenario::CopyText, Scenario::CopyBinary]);
        }
        Scenario::ALL
            .into_iter()
            .find(|s| s.name() == text || s.number() == text)
            .map(|s| vec![s])
    }
}

/// The driver a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    PgWire,
    TokioPostgres,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::PgWire => "pg-wire",
            Driver::TokioPostgres => "tokio-postgres",
        }
    }

    pub fn parse(text: &str) -> Option<Driver> {
        [Driver::PgWire, Driver::TokioPostgres]
            .into_iter()
            .find(|d| d.name() == text)
    }
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    pub elapsed: Duration,
    /// Queries or rows done in `elapsed`.
    pub ops: u64,
    /// The CPU time the client's thread used (the driver, the runtime, the kernel on its behalf).
    pub client_cpu: Option<Duration>,
    /// Scenario 8: the child's peak RSS at the end, and right after connecting, in KiB.
    pub peak_rss_kib: Option<u64>,
    pub baseline_rss_kib: Option<u64>,
}

/// The wall clock and the thread's CPU clock of one run.
pub(crate) struct Timer {
    wall: Instant,
    cpu_ns: Option<u64>,
}

impl Timer {
    pub(crate) fn start() -> Timer {
        Timer {
            cpu_ns: crate::machine::thread_cpu_ns(),
            wall: Instant::now(),
        }
    }

    pub(crate) fn stop(&self, ops: u64) -> Measurement {
        let elapsed = self.wall.elapsed();
        let cpu = crate::machine::thread_cpu_ns()
            .zip(self.cpu_ns)
            .map(|(end, start)| Duration::from_nanos(end.saturating_sub(start)));
        Measurement {
            elapsed,
            ops,
            client_cpu: cpu,
            peak_rss_kib: None,
            baseline_rss_kib: None,
        }
    }
}

impl Measurement {
    /// Operations per second.
    pub fn throughput(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    /// The client's CPU time per operation, in nanoseconds.
    pub fn client_cpu_per_op_ns(&self) -> Option<f64> {
        Some(self.client_cpu?.as_nanos() as f64 / self.ops as f64)
    }
}

/// The statements each driver prepares once, before any run.
struct PgWireStatements {
    select_1: pg_wire::Statement,
    select_param: pg_wire::Statement,
    fetch: pg_wire::Statement,
    insert: pg_wire::Statement,
}

struct TokioStatements {
    select_1: tokio_postgres::Statement,
    select_param: tokio_postgres::Statement,
    fetch: tokio_postgres::Statement,
    insert: tokio_postgres::Statement,
}

/// Both drivers' connections to the bench database, and what scenario 8's children need.
pub struct Bench {
    pg: pg_wire::Client,
    pg_statements: PgWireStatements,
    tp: tokio_postgres::Client,
    tp_statements: TokioStatements,
    conninfo: String,
}

impl Bench {
    /// Connects both drivers over `conninfo` (a libpq key=value string both understand), creates
    /// the tables and prepares the statements. Must run on a tokio runtime (tokio-postgres's
    /// connection task is spawned on it).
    pub async fn connect(conninfo: &str) -> Result<Bench, BoxError> {
        let pg = pg_wire::connect(conninfo)
            .await
            .map_err(|e| format!("pg-wire: {}", pg_wire::error::report(&e)))?;
        for sql in SETUP {
            pg.batch_execute(sql).await?;
        }
        let tp = connect_tokio_postgres(conninfo).await?;
        let pg_statements = PgWireStatements {
            select_1: pg.prepare(SELECT_1).await?,
            select_param: pg.prepare(SELECT_PARAM).await?,
            fetch: pg.prepare(FETCH).await?,
            insert: pg.prepare(INSERT).await?,
        };
        let tp_statements = TokioStatements {
            select_1: tp.prepare(SELECT_1).await?,
            select_param: tp.prepare(SELECT_PARAM).await?,
            fetch: tp.prepare(FETCH).await?,
            insert: tp.prepare(INSERT).await?,
        };
        Ok(Bench {
            pg,
            pg_statements,
            tp,
            tp_statements,
            conninfo: conninfo.to_owned(),
        })
    }

    /// The backend process ids of the pg-wire and tokio-postgres connections.
    pub async fn backend_pids(&self) -> Result<(u32, u32), BoxError> {
        let pg: i32 = self
            .pg
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .get(0);
        let tp: i32 = self
            .tp
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .get(0);
        Ok((u32::try_from(pg)?, u32::try_from(tp)?))
    }

    /// One run of `scenario` with `driver`.
    pub async fn run(
        &mut self,
        driver: Driver,
        scenario: Scenario,
    ) -> Result<Measurement, BoxError> {
        match (scenario, driver) {
            (Scenario::Simple, Driver::PgWire) => self.pg_simple().await,
            (Scenario::Simple, Driver::TokioPostgres) => self.tp_simple().await,
            (Scenario::Prepared, Driver::PgWire) => self.pg_prepared().await,
            (Scenario::Prepared, Driver::TokioPostgres) => self.tp_prepared().await,
            (Scenario::Fetch, Driver::PgWire) => self.pg_fetch().await,
            (Scenario::Fetch, Driver::TokioPostgres) => self.tp_fetch().await,
            (Scenario::Insert, Driver::PgWire) => self.pg_insert().await,
            (Scenario::Insert, Driver::TokioPostgres) => self.tp_insert().await,
            (Scenario::Pipeline, Driver::PgWire) => self.pg_pipeline().await,
            (
                Scenario::Pipeline | Scenario::Batch | Scenario::BatchAtomic,
                Driver::TokioPostgres,
            ) => self.tp_pipeline().await,
            (Scenario::Batch, Driver::PgWire) => self.pg_batch(false).await,
            (Scenario::BatchAtomic, Driver::PgWire) => self.pg_batch(true).await,
            (Scenario::CopyText, Driver::PgWire) => self.pg_copy_text().await,
            (Scenario::CopyText, Driver::TokioPostgres) => self.tp_copy_text().await,
            (Scenario::CopyBinary, Driver::PgWire) => self.pg_copy_binary().await,
            (Scenario::CopyBinary, Driver::TokioPostgres) => self.tp_copy_binary().await,
            (Scenario::Stream, driver) => stream_in_child(driver, &self.conninfo),
        }
    }

    // (1) SELECT 1, simple protocol.

    async fn pg_simple(&mut self) -> Result<Measurement, BoxError> {
        let start = Timer::start();
        for _ in 0..ROUND_TRIPS {
            let messages = self.pg.simple_query(SELECT_1).await?;
            let one = messages.iter().any(
                |m| matches!(m, pg_wire::SimpleQueryMessage::Row(row) if row.get(0) == Some("1")),
            );
            check(one, "SELECT 1 did not return 1")?;
        }
        Ok(start.stop(ROUND_TRIPS.into()))
    }

    async fn tp_simple(&mut self) -> Result<Measurement, BoxError> {
        let start = Timer::start();
        for _ in 0..ROUND_TRIPS {
            let messages = self.tp.simple_query(SELECT_1).await?;
            let one = messages.iter().any(|m| {
                matches!(m, tokio_postgres::SimpleQueryMessage::Row(row) if row.get(0) == Some("1"))
            });
            check(one, "SELECT 1 did not return 1")?;
        }
        Ok(start.stop(ROUND_TRIPS.into()))
    }

    // (2) SELECT 1, prepared once.

    async fn pg_prepared(&mut self) -> Result<Measurement, BoxError> {
        let statement = &self.pg_statements.select_1;
        let start = Timer::start();
        for _ in 0..ROUND_TRIPS {
            let row = self.pg.query_one(statement, &[]).await?;
            check(row.get::<_, i32>(0) == 1, "SELECT 1 did not return 1")?;
        }
        Ok(start.stop(ROUND_TRIPS.into()))
    }

    async fn tp_prepared(&mut self) -> Result<Measurement, BoxError> {
        let statement = &self.tp_statements.select_1;
        let start = Timer::start();
        for _ in 0..ROUND_TRIPS {
            let row = self.tp.query_one(statement, &[]).await?;
            check(row.get::<_, i32>(0) == 1, "SELECT 1 did not return 1")?;
        }
        Ok(start.stop(ROUND_TRIPS.into()))
    }

    // (3) 10,000 rows x 5 columns.

    async fn pg_fetch(&mut self) -> Result<Measurement, BoxError> {
        let statement = &self.pg_statements.fetch;
        let start = Timer::start();
        let mut checksum = 0i64;
        for _ in 0..FETCH_REPEAT {
            let rows = self.pg.query(statement, &[]).await?;
            check(rows.len() == FETCH_ROWS as usize, "wrong row count")?;
            for row in &rows {
                let a: i32 = row.get(0);
                let b: i64 = row.get(1);
                let c: &str = row.get(2);
                let d: f64 = row.get(3);
                let e: DateTime<Utc> = row.get(4);
                checksum = fold(checksum, a, b, c, d, e);
            }
        }
        black_box(checksum);
        Ok(start.stop(u64::from(FETCH_REPEAT * FETCH_ROWS)))
    }

    async fn tp_fetch(&mut self) -> Result<Measurement, BoxError> {
        let statement = &self.tp_statements.fetch;
        let start = Timer::start();
        let mut checksum = 0i64;
        for _ in 0..FETCH_REPEAT {
            let rows = self.tp.query(statement, &[]).await?;
            check(rows.len() == FETCH_ROWS as usize, "wrong row count")?;
            for row in &rows {
                let a: i32 = row.get(0);
                let b: i64 = row.get(1);
                let c: &str = row.get(2);
                let d: f64 = row.get(3);
                let e: DateTime<Utc> = row.get(4);
                checksum = fold(checksum, a, b, c, d, e);
            }
        }
        black_box(checksum);
        Ok(start.stop(u64::from(FETCH_REPEAT * FETCH_ROWS)))
    }

    // (4) 10,000 prepared INSERTs in one transaction.

    async fn pg_insert(&mut self) -> Result<Measurement, BoxError> {
        self.pg.batch_execute("TRUNCATE bench_insert").await?;
        let statement = self.pg_statements.insert.clone();
        let mut text = String::new();
        let start = Timer::start();
        let transaction = self.pg.transaction().await?;
        for i in 0..INSERTS as i32 {
            row_text(&mut text, i);
            let n = transaction
                .execute(&statement, &[&i, &(i64::from(i) * 3), &text])
                .await?;
            check(n == 1, "INSERT did not insert one row")?;
        }
        transaction.commit().await?;
        Ok(start.stop(INSERTS.into()))
    }

    async fn tp_insert(&mut self) -> Result<Measurement, BoxError> {
        self.tp.batch_execute("TRUNCATE bench_insert").await?;
        let statement = self.tp_statements.insert.clone();
        let mut text = String::new();
        let start = Timer::start();
        let transaction = self.tp.transaction().await?;
        for i in 0..INSERTS as i32 {
            row_text(&mut text, i);
            let n = transaction
                .execute(&statement, &[&i, &(i64::from(i) * 3), &text])
                .await?;
            check(n == 1, "INSERT did not insert one row")?;
        }
        transaction.commit().await?;
        Ok(start.stop(INSERTS.into()))
    }

    // (5) 10,000 prepared queries, 64 in flight: implicit pipelining of concurrent futures.

    async fn pg_pipeline(&mut self) -> Result<Measurement, BoxError> {
        let client = &self.pg;
        let statement = &self.pg_statements.select_param;
        let start = Timer::start();
        let mut replies = futures_util::stream::iter(0..PIPELINED as i32)
            .map(|i| async move {
                let row = client.query_one(statement, &[&i]).await?;
                Ok::<_, pg_wire::Error>(row.get::<_, i32>(0))
            })
            .buffered(IN_FLIGHT);
        let mut expected = 0;
        while let Some(value) = replies.next().await {
            check(value? == expected, "a pipelined reply is out of order")?;
            expected += 1;
        }
        check(expected == PIPELINED as i32, "missing replies")?;
        Ok(start.stop(PIPELINED.into()))
    }

    async fn tp_pipeline(&mut self) -> Result<Measurement, BoxError> {
        let client = &self.tp;
        let statement = &self.tp_statements.select_param;
        let start = Timer::start();
        let mut replies = futures_util::stream::iter(0..PIPELINED as i32)
            .map(|i| async move {
                let row = client.query_one(statement, &[&i]).await?;
                Ok::<_, tokio_postgres::Error>(row.get::<_, i32>(0))
            })
            .buffered(IN_FLIGHT);
        let mut expected = 0;
        while let Some(value) = replies.next().await {
            check(value? == expected, "a pipelined reply is out of order")?;
            expected += 1;
        }
        check(expected == PIPELINED as i32, "missing replies")?;
        Ok(start.stop(PIPELINED.into()))
    }

    // (6) the same 10,000 queries in one explicit batch (pg-wire only), one Sync at the end;
    // `sync_each`: a Sync after every statement instead.

    async fn pg_batch(&mut self, sync_each: bool) -> Result<Measurement, BoxError> {
        let statement = &self.pg_statements.select_param;
        let start = Timer::start();
        let values: Vec<i32> = (0..PIPELINED as i32).collect();
        let params: Vec<[&(dyn pg_wire::types::ToSql + Sync); 1]> =
            values.iter().map(|v| [v as _]).collect();
        let mut batch = self.pg.batch();
        for p in &params {
            batch.query(statement, p);
        }
        if sync_each {
            batch.sync_each();
        }
        let results = batch.run().await?;
        check(results.len() == values.len(), "missing batch results")?;
        for (result, expected) in results.into_iter().zip(&values) {
            let result = result?;
            let row = result.rows.first().ok_or("a batch result has no row")?;
            check(row.get::<_, i32>(0) == *expected, "a batch reply is wrong")?;
        }
        Ok(start.stop(PIPELINED.into()))
    }

    // (7) COPY FROM STDIN, text and binary.

    async fn pg_copy_text(&mut self) -> Result<Measurement, BoxError> {
        for sql in COPY_RESET {
            self.pg.batch_execute(sql).await?;
        }
        let mut line = String::new();
        let start = Timer::start();
        let mut copy = self.pg.copy_in(COPY_TEXT).await?;
        for i in 0..COPY_ROWS as i32 {
            text_line(&mut line, i);
            copy.write(line.as_bytes()).await?;
        }
        let copied = copy.finish().await?;
        check(
            copied == u64::from(COPY_ROWS),
            "COPY copied a wrong row count",
        )?;
        Ok(start.stop(COPY_ROWS.into()))
    }

    async fn tp_copy_text(&mut self) -> Result<Measurement, BoxError> {
        for sql in COPY_RESET {
            self.tp.batch_execute(sql).await?;
        }
        let mut line = String::new();
        let start = Timer::start();
        let sink = self.tp.copy_in::<_, Bytes>(COPY_TEXT).await?;
        let mut sink = std::pin::pin!(sink);
        for i in 0..COPY_ROWS as i32 {
            text_line(&mut line, i);
            // The sink takes owned buffers; it copies small ones into its own 4 KiB buffer.
            sink.feed(Bytes::copy_from_slice(line.as_bytes())).await?;
        }
        let copied = sink.as_mut().finish().await?;
        check(
            copied == u64::from(COPY_ROWS),
            "COPY copied a wrong row count",
        )?;
        Ok(start.stop(COPY_ROWS.into()))
    }

    async fn pg_copy_binary(&mut self) -> Result<Measurement, BoxError> {
        use pg_wire::types::Type;
        for sql in COPY_RESET {
            self.pg.batch_execute(sql).await?;
        }
        let mut text = String::new();
        let start = Timer::start();
        let copy = self.pg.copy_in(COPY_BINARY).await?;
        let mut writer =
            pg_wire::BinaryCopyInWriter::new(copy, &[Type::INT4, Type::INT8, Type::TEXT]);
        for i in 0..COPY_ROWS as i32 {
            row_text(&mut text, i);
            writer.write(&[&i, &(i64::from(i) * 3), &text]).await?;
        }
        let copied = writer.finish().await?;
        check(
            copied == u64::from(COPY_ROWS),
            "COPY copied a wrong row count",
        )?;
        Ok(start.stop(COPY_ROWS.into()))
    }

    async fn tp_copy_binary(&mut self) -> Result<Measurement, BoxError> {
        use tokio_postgres::types::Type;
        for sql in COPY_RESET {
            self.tp.batch_execute(sql).await?;
        }
        let mut text = String::new();
        let start = Timer::start();
        let sink = self.tp.copy_in(COPY_BINARY).await?;
        let writer = tokio_postgres::binary_copy::BinaryCopyInWriter::new(
            sink,
            &[Type::INT4, Type::INT8, Type::TEXT],
        );
        let mut writer = std::pin::pin!(writer);
        for i in 0..COPY_ROWS as i32 {
            row_text(&mut text, i);
            writer
                .as_mut()
                .write(&[&i, &(i64::from(i) * 3), &text])
                .await?;
        }
        let copied = writer.as_mut().finish().await?;
        check(
            copied == u64::from(COPY_ROWS),
            "COPY copied a wrong row count",
        )?;
        Ok(start.stop(COPY_ROWS.into()))
    }
}

/// Connects tokio-postgres and spawns its connection task on the current runtime.
async fn connect_tokio_postgres(conninfo: &str) -> Result<tokio_postgres::Client, BoxError> {
    let (client, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("tokio-postgres: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("tokio-postgres connection error: {e}");
        }
    });
    Ok(client)
}

pub(crate) fn check(condition: bool, what: &str) -> Result<(), BoxError> {
    if condition { Ok(()) } else { Err(what.into()) }
}

/// Folds one fetched row into a checksum.
pub(crate) fn fold(sum: i64, a: i32, b: i64, c: &str, d: f64, e: DateTime<Utc>) -> i64 {
    sum.wrapping_add(i64::from(a))
        .wrapping_add(b)
        .wrapping_add(c.len() as i64)
        .wrapping_add(d as i64)
        .wrapping_add(e.timestamp_micros())
}

/// The text column of row `i`.
pub(crate) fn row_text(text: &mut String, i: i32) {
    text.clear();
    // Writing to a String cannot fail.
    let _ = write!(text, "row number {i}");
}

/// Row `i` as a line of COPY's text format.
fn text_line(line: &mut String, i: i32) {
    line.clear();
    // Writing to a String cannot fail.
    let _ = writeln!(line, "{i}\t{}\trow number {i}", i64::from(i) * 3);
}

// (8) streaming, in a child process so that its peak RSS is the driver's alone.

/// The query scenario 8 streams.
fn stream_sql() -> String {
    format!("SELECT g FROM generate_series(1, {STREAM_ROWS}) AS g")
}

/// Runs scenario 8 for `driver` in a child process (this binary with `--child-stream`) and reads
/// its report line.
fn stream_in_child(driver: Driver, conninfo: &str) -> Result<Measurement, BoxError> {
    let exe: PathBuf = std::env::current_exe()?;
    let output = Command::new(exe)
        .args(["--child-stream", driver.name(), "--conninfo", conninfo])
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "the {} streaming child failed ({}): {}",
            driver.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|line| line.starts_with("stream "))
        .ok_or_else(|| format!("no report from the streaming child: {stdout}"))?;
    let field = |name: &str| -> Result<u64, BoxError> {
        let value = line
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .ok_or_else(|| format!("no {name} in {line:?}"))?;
        Ok(value.parse()?)
    };
    Ok(Measurement {
        elapsed: Duration::from_nanos(field("elapsed_ns")?),
        ops: field("rows")?,
        client_cpu: Some(Duration::from_nanos(field("cpu_ns")?)),
        peak_rss_kib: Some(field("peak_rss_kib")?),
        baseline_rss_kib: Some(field("baseline_rss_kib")?),
    })
}

/// The child's side of scenario 8: connect, stream every row, print one report line with the
/// row count, the time and this process's peak RSS (`VmHWM`) after connecting and at the end.
pub fn child_stream(driver: Driver, conninfo: &str) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sql = stream_sql();
        let (rows, sum, measured, baseline) = match driver {
            Driver::PgWire => {
                let client = pg_wire::connect(conninfo).await?;
                let baseline = crate::machine::own_peak_rss_kib()?;
                let start = Timer::start();
                let mut stream = client.query_raw(sql.as_str(), &[]).await?;
                let (mut rows, mut sum) = (0u64, 0i64);
                while let Some(row) = stream.next().await {
                    sum += i64::from(row?.get::<_, i32>(0));
                    rows += 1;
                }
                (rows, sum, start.stop(rows), baseline)
            }
            Driver::TokioPostgres => {
                let client = connect_tokio_postgres(conninfo).await?;
                let baseline = crate::machine::own_peak_rss_kib()?;
                let start = Timer::start();
                let no_params: [&(dyn tokio_postgres::types::ToSql + Sync); 0] = [];
                let stream = client.query_raw(sql.as_str(), no_params).await?;
                let mut stream = std::pin::pin!(stream);
                let (mut rows, mut sum) = (0u64, 0i64);
                while let Some(row) = stream.next().await {
                    sum += i64::from(row?.get::<_, i32>(0));
                    rows += 1;
                }
                (rows, sum, start.stop(rows), baseline)
            }
        };
        let n = i64::from(STREAM_ROWS);
        check(rows == u64::from(STREAM_ROWS), "wrong streamed row count")?;
        check(sum == n * (n + 1) / 2, "wrong streamed sum")?;
        let peak = crate::machine::own_peak_rss_kib()?;
        println!(
            "stream rows={rows} elapsed_ns={} cpu_ns={} baseline_rss_kib={baseline} \
             peak_rss_kib={peak}",
            measured.elapsed.as_nanos(),
            measured.client_cpu.unwrap_or_default().as_nanos()
        );
        Ok(())
    })
}
