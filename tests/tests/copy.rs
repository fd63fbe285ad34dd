//! COPY against a real server: 100,000 rows in (text through `write`, CSV, binary through
//! `BinaryCopyInWriter`, a stream through `send_stream`, and `tokio::io::AsyncWrite`) and out
//! (`copy_out`) round-trip byte for byte; a failing source aborts with CopyFail and copies nothing;
//! a writer dropped without `finish` copies nothing; bad data, a statement that is not COPY, an
//! error during COPY TO; and other tasks' requests waiting for a COPY to end.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_core::Stream;
use harness::{AuthMethod, TestServer};
use pg_wire::error::report;
use pg_wire::types::Type;
use pg_wire::{BinaryCopyInWriter, Client, ErrorKind, SqlState, TransactionStatus};
use tokio::io::AsyncWriteExt;

const ROWS: usize = 100_000;

const CREATE: &str =
    "CREATE TABLE c (id int4 PRIMARY KEY, name text, score float8, flag bool, note text)";
const COPY_OUT_TEXT: &str = "COPY (SELECT * FROM c ORDER BY id) TO STDOUT";

async fn client() -> Client {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let conninfo = server.connection_string(server.superuser(), None, &db, false);
    let client = Client::connect(&conninfo.parse().unwrap()).await.unwrap();
    client.batch_execute(CREATE).await.unwrap();
    client
}

/// One generated row: every value the text, CSV and binary formats must carry exactly.
struct Row {
    id: i32,
    name: String,
    score: f64,
    flag: bool,
    note: Option<String>,
}

/// The rows: names with tabs, newlines, carriage returns, backslashes, quotes, commas and
/// non-ASCII characters; some empty strings and some NULLs.
fn rows() -> Vec<Row> {
    (0..ROWS)
        .map(|i| {
            let name = match i % 8 {
                0 => format!("plain {i}"),
                1 => format!("tab\there {i}"),
                2 => format!("line\nbreak {i}"),
                3 => format!("back\\slash {i}\r"),
                4 => format!("comma, \"quoted\" {i}"),
                5 => format!("ünïcödé 🐘 日本 {i}"),
                6 => String::new(),
                _ => format!("  spaces {i}  "),
            };
            Row {
                id: i as i32,
                name,
                score: i as f64 / 4.0 - 100.0,
                flag: i % 3 == 0,
                note: (i % 5 != 0).then(|| format!("n{}", i * 7)),
            }
        })
        .collect()
}

/// A value as COPY's text format writes it.
fn text_field(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// A value as COPY's CSV format writes it: quoted when it holds a delimiter, quote or line break,
/// or is empty (so it differs from NULL).
fn csv_field(value: &str) -> String {
    if value.is_empty() || value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn bool_text(b: bool) -> &'static str {
    if b { "t" } else { "f" }
}

/// The rows in COPY text format, exactly as `COPY ... TO STDOUT` writes them.
fn text_data(rows: &[Row]) -> Vec<u8> {
    let mut out = String::new();
    for row in rows {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            row.id,
            text_field(&row.name),
            row.score,
            bool_text(row.flag),
            row.note.as_deref().map_or("\\N".to_owned(), text_field)
        ));
    }
    out.into_bytes()
}

/// The rows in CSV format, exactly as `COPY ... TO STDOUT (FORMAT csv)` writes them.
fn csv_data(rows: &[Row]) -> Vec<u8> {
    let mut out = String::new();
    for row in rows {
        out.push_str(&format!(
            "{},{},{},{},{}\n",
            row.id,
            csv_field(&row.name),
            row.score,
            bool_text(row.flag),
            row.note.as_deref().map_or(String::new(), csv_field)
        ));
    }
    out.into_bytes()
}

/// The rows in PostgreSQL's binary COPY format, encoded here independently of the driver.
fn binary_data(rows: &[Row]) -> Vec<u8> {
    let mut out = BytesMut::new();
    out.put_slice(b"PGCOPY\n\xff\r\n\0");
    out.put_i32(0);
    out.put_i32(0);
    for row in rows {
        out.put_i16(5);
        out.put_i32(4);
        out.put_i32(row.id);
        out.put_i32(row.name.len() as i32);
        out.put_slice(row.name.as_bytes());
        out.put_i32(8);
        out.put_f64(row.score);
        out.put_i32(1);
        out.put_u8(u8::from(row.flag));
        match &row.note {
            Some(note) => {
                out.put_i32(note.len() as i32);
                out.put_slice(note.as_bytes());
            }
            None => out.put_i32(-1),
        }
    }
    out.put_i16(-1);
    out.to_vec()
}

/// Everything a COPY TO STDOUT sends, concatenated; checks the row count it reports.
async fn copy_out(client: &Client, sql: &str) -> Vec<u8> {
    let mut stream = client.copy_out(sql).await.unwrap();
    let mut data = Vec::new();
    while let Some(chunk) = stream.next().await {
        data.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(stream.rows(), Some(ROWS as u64));
    data
}

async fn count(client: &Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM c", &[])
        .await
        .unwrap()
        .get(0)
}

/// Panics with a readable message when two large byte strings differ.
fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        let from = at.saturating_sub(40);
        panic!(
            "{what}: {} bytes, expected {}; first difference at {at}:\n got  {:?}\n want {:?}",
            got.len(),
            want.len(),
            String::from_utf8_lossy(&got[from..(at + 40).min(got.len())]),
            String::from_utf8_lossy(&want[from..(at + 40).min(want.len())]),
        );
    }
}

// Catches: COPY data split or framed wrongly (rows spanning write calls, CopyData boundaries),
// bytes lost or altered in either direction, and a wrong row count from finish or copy_out.
#[tokio::test]
async fn text_copy_of_100000_rows_round_trips_exactly() {
    let client = client().await;
    let data = text_data(&rows());
    let mut copy = client.copy_in("COPY c FROM STDIN").await.unwrap();
    // Odd-sized pieces, so rows and multi-byte characters span writes.
    for piece in data.chunks(4093) {
        copy.write(piece).await.unwrap();
    }
    assert_eq!(copy.finish().await.unwrap(), ROWS as u64);
    assert_eq!(count(&client).await, ROWS as i64);
    let out = copy_out(&client, COPY_OUT_TEXT).await;
    assert_same_bytes(&out, &data, "COPY TO text");
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
}

// Catches: CSV data (quoted fields with delimiters, quotes and line breaks) altered on the way in
// or out.
#[tokio::test]
async fn csv_copy_of_100000_rows_round_trips_exactly() {
    let client = client().await;
    let data = csv_data(&rows());
    let mut copy = client
        .copy_in("COPY c FROM STDIN (FORMAT csv)")
        .await
        .unwrap();
    copy.write(&data).await.unwrap();
    assert_eq!(copy.finish().await.unwrap(), ROWS as u64);
    let out = copy_out(
        &client,
        "COPY (SELECT * FROM c ORDER BY id) TO STDOUT (FORMAT csv)",
    )
    .await;
    assert_same_bytes(&out, &data, "COPY TO csv");
    // And the same rows as text.
    let text = copy_out(&client, COPY_OUT_TEXT).await;
    assert_same_bytes(&text, &text_data(&rows()), "COPY TO text after CSV in");
}

// Catches: BinaryCopyInWriter encoding a header, a field length, a NULL or a value wrongly (the
// binary COPY out must equal an independent encoding of the same rows), and typed values read
// back differently.
#[tokio::test]
async fn binary_copy_of_100000_rows_round_trips_exactly() {
    let client = client().await;
    let rows = rows();
    let copy = client
        .copy_in("COPY c FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    let mut writer = BinaryCopyInWriter::new(
        copy,
        &[Type::INT4, Type::TEXT, Type::FLOAT8, Type::BOOL, Type::TEXT],
    );
    for row in &rows {
        writer
            .write(&[&row.id, &row.name, &row.score, &row.flag, &row.note])
            .await
            .unwrap();
    }
    assert_eq!(writer.finish().await.unwrap(), ROWS as u64);

    let out = copy_out(
        &client,
        "COPY (SELECT * FROM c ORDER BY id) TO STDOUT (FORMAT binary)",
    )
    .await;
    assert_same_bytes(&out, &binary_data(&rows), "COPY TO binary");
    let text = copy_out(&client, COPY_OUT_TEXT).await;
    assert_same_bytes(&text, &text_data(&rows), "COPY TO text after binary in");

    // Spot checks through a query.
    let back = client
        .query(
            "SELECT id, name, score, flag, note FROM c WHERE id % 9973 = 0 ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert!(!back.is_empty());
    for r in &back {
        let row = &rows[r.get::<_, i32>(0) as usize];
        assert_eq!(r.get::<_, &str>(1), row.name);
        assert_eq!(r.get::<_, f64>(2), row.score);
        assert_eq!(r.get::<_, bool>(3), row.flag);
        assert_eq!(r.get::<_, Option<&str>>(4), row.note.as_deref());
    }

    // A row of the wrong width is refused before anything is sent.
    let copy = client
        .copy_in("COPY c FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    let mut writer = BinaryCopyInWriter::new(copy, &[Type::INT4, Type::TEXT]);
    let err = writer.write(&[&1i32]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
    drop(writer);
    assert_eq!(count(&client).await, ROWS as i64);
}

// Catches: a row that fails to encode leaving part of itself in the COPY data, or taking the
// binary header with it when it is the first row (the server would then reject the whole COPY),
// or leaving the writer unusable.
#[tokio::test]
async fn binary_copy_leaves_out_a_row_that_fails_to_encode() {
    let client = client().await;
    let copy = client
        .copy_in("COPY c (id, name) FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    let mut writer = BinaryCopyInWriter::new(copy, &[Type::INT4, Type::TEXT]);
    // The first row: the id encodes, the name (with a NUL) does not.
    let err = writer.write(&[&1i32, &"nul\0byte"]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conversion, "{}", report(&err));
    writer.write(&[&2i32, &"two"]).await.unwrap();
    // A value of the wrong Rust type, after a good field.
    let err = writer.write(&[&3i32, &3i32]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conversion, "{}", report(&err));
    writer.write(&[&4i32, &"four"]).await.unwrap();
    assert_eq!(writer.finish().await.unwrap(), 2);
    let back = client
        .query("SELECT id, name FROM c ORDER BY id", &[])
        .await
        .unwrap();
    let back: Vec<(i32, String)> = back.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(back, [(2, "two".to_owned()), (4, "four".to_owned())]);
}

/// A stream over prepared chunks, any of which may be an error.
struct Chunks(std::vec::IntoIter<Result<Bytes, std::io::Error>>);

impl Stream for Chunks {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.next())
    }
}

/// `data` cut into chunks of `size` bytes (not on row boundaries).
fn chunks(data: &[u8], size: usize) -> Vec<Result<Bytes, std::io::Error>> {
    data.chunks(size)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect()
}

// Catches: send_stream dropping, reordering or repeating chunks.
#[tokio::test]
async fn copy_from_a_stream_of_100000_rows_round_trips_exactly() {
    let client = client().await;
    let data = text_data(&rows());
    let mut copy = client.copy_in("COPY c FROM STDIN").await.unwrap();
    copy.send_stream(Chunks(chunks(&data, 10_007).into_iter()))
        .await
        .unwrap();
    assert_eq!(copy.finish().await.unwrap(), ROWS as u64);
    let out = copy_out(&client, COPY_OUT_TEXT).await;
    assert_same_bytes(&out, &data, "COPY TO after send_stream");
}

// Catches: the AsyncWrite implementation losing buffered bytes (poll_write accepting bytes it
// never sends, flush not sending, finish not flushing the rest).
#[tokio::test]
async fn copy_through_async_write_of_100000_rows_round_trips_exactly() {
    let client = client().await;
    let data = csv_data(&rows());
    let mut copy = client
        .copy_in("COPY c FROM STDIN (FORMAT csv)")
        .await
        .unwrap();
    let mut rest = &data[..];
    let mut size = 1;
    while !rest.is_empty() {
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        copy.write_all(piece).await.unwrap();
        rest = tail;
        // 1, 2, 4, ... 64 KiB, then again: pieces around and beyond the driver's chunk size.
        size = if size >= 128 * 1024 { 1 } else { size * 2 };
    }
    AsyncWriteExt::flush(&mut copy).await.unwrap();
    copy.write_all(b"").await.unwrap();
    assert_eq!(copy.finish().await.unwrap(), ROWS as u64);
    let out = copy_out(
        &client,
        "COPY (SELECT * FROM c ORDER BY id) TO STDOUT (FORMAT csv)",
    )
    .await;
    assert_same_bytes(&out, &data, "COPY TO after AsyncWrite");
}

// Catches: a failing source whose data so far is committed (the COPY must end with CopyFail, not
// CopyDone), an error that does not reach the caller, and a connection left in COPY mode.
#[tokio::test]
async fn a_source_stream_that_fails_aborts_the_copy_and_copies_nothing() {
    let client = client().await;
    let data = text_data(&rows());
    // About 300 KB of good rows (beyond the 64 KiB chunks, so some are on the wire), then an error.
    let mut items = chunks(&data[..300_000], 50_000);
    items.push(Err(std::io::Error::other("the source broke")));
    items.extend(chunks(&data[300_000..], 50_000));
    let mut copy = client.copy_in("COPY c FROM STDIN").await.unwrap();
    let err = copy
        .send_stream(Chunks(items.into_iter()))
        .await
        .unwrap_err();
    assert!(
        report(&err).contains("the source broke"),
        "{}",
        report(&err)
    );
    drop(copy);
    assert_eq!(count(&client).await, 0);
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);

    // The connection takes a new COPY.
    let mut copy = client.copy_in("COPY c FROM STDIN").await.unwrap();
    copy.write(b"1\tone\t1.5\tt\t\\N\n").await.unwrap();
    assert_eq!(copy.finish().await.unwrap(), 1);
}

// Catches: a CopyInWriter dropped without finish ending the COPY with CopyDone (committing the
// partial data) or leaving the server waiting for COPY data, so the next request hangs.
#[tokio::test]
async fn a_copy_writer_dropped_without_finish_copies_nothing() {
    let mut client = client().await;
    let data = text_data(&rows());
    for sent in [0usize, 100, 200_000, data.len()] {
        let mut copy = client.copy_in("COPY c FROM STDIN").await.unwrap();
        copy.write(&data[..sent]).await.unwrap();
        drop(copy);
        let n = tokio::time::timeout(Duration::from_secs(10), count(&client))
            .await
            .unwrap_or_else(|_| {
                panic!("the next query hangs after dropping a COPY ({sent} bytes)")
            });
        assert_eq!(n, 0, "{sent} bytes written, then dropped");
        assert_eq!(client.transaction_status(), TransactionStatus::Idle);
    }

    // abort() does the same, and inside a transaction it aborts the transaction.
    let copy = client.copy_in("COPY c FROM STDIN").await.unwrap();
    copy.abort("changed my mind").await.unwrap();
    assert_eq!(count(&client).await, 0);
    let tx = client.transaction().await.unwrap();
    let mut copy = tx.copy_in("COPY c FROM STDIN").await.unwrap();
    copy.write(&data[..1000]).await.unwrap();
    drop(copy);
    let err = tx.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
    assert_eq!(tx.commit().await.unwrap_err().kind(), ErrorKind::RolledBack);
    assert_eq!(count(&client).await, 0);
}

// Catches: bad COPY data reported as success or leaving the connection unusable, and copy_in or
// copy_out accepting a statement that is not the right COPY.
#[tokio::test]
async fn bad_data_and_wrong_statements_are_errors_and_the_connection_stays_usable() {
    let client = client().await;
    let mut copy = client.copy_in("COPY c FROM STDIN").await.unwrap();
    copy.write(b"1\tok\t1\tt\tx\nnot-a-number\tbad\t1\tt\tx\n")
        .await
        .unwrap();
    let err = copy.finish().await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INVALID_TEXT_REPRESENTATION));
    assert_eq!(count(&client).await, 0);

    let err = client.copy_in("SELECT 1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage, "{}", report(&err));
    let err = client.copy_out("SELECT 1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage, "{}", report(&err));
    let err = client.copy_out("COPY c TO STDOUT").await.map(|_| ());
    assert!(err.is_ok());
    let err = client.copy_in("COPY c TO STDOUT").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage, "{}", report(&err));
    let err = client.copy_in("COPY nope FROM STDIN").await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_TABLE));
    assert_eq!(count(&client).await, 0);
    assert_eq!(client.transaction_status(), TransactionStatus::Idle);
}

// Catches: copy_out given a COPY FROM STDIN: the server waits for COPY data, so the driver must
// end the COPY (CopyFail) before reading to ReadyForQuery, or it waits forever.
#[tokio::test]
async fn copy_out_of_a_copy_from_stdin_is_an_error_not_a_hang() {
    let client = client().await;
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        client.copy_out("COPY c FROM STDIN"),
    )
    .await
    .expect("copy_out of COPY FROM STDIN hangs");
    let err = result.map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage, "{}", report(&err));
    assert_eq!(count(&client).await, 0);
}

// Catches: a COPY statement run through the extended protocol (query/execute) closing the
// connection with "protocol violation by the server": the server did nothing wrong, the statement
// belongs to the COPY API. batch_execute already answers this case with an error and keeps the
// connection; query and execute should too.
#[tokio::test]
async fn copy_through_execute_is_an_error_and_the_connection_stays_usable() {
    let client = client().await;
    for sql in ["COPY c FROM STDIN", "COPY c TO STDOUT"] {
        let err = tokio::time::timeout(Duration::from_secs(10), client.execute(sql, &[]))
            .await
            .expect("execute of COPY hangs")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage, "{sql}: {}", report(&err));
        assert!(err.to_string().contains("copy_"), "{sql}: {}", report(&err));
        assert!(!client.is_closed(), "{sql}: the connection was closed");
        assert_eq!(count(&client).await, 0);
        let err = tokio::time::timeout(Duration::from_secs(10), client.query(sql, &[]))
            .await
            .expect("query of COPY hangs")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage, "{sql}: {}", report(&err));
        assert_eq!(count(&client).await, 0);
    }
}

// Catches: a COPY FROM STDIN started by an extended-query request that was dropped, or that has
// requests pipelined behind it, leaving the server waiting for copy data (a hang) or the
// connection out of step (another request's answer). Closing the connection is allowed there.
#[tokio::test]
async fn copy_through_execute_behind_or_dropped_never_hangs() {
    let client = client().await;
    // Pipelined with a query behind it.
    let (copy, other) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(
            client.execute("COPY c FROM STDIN", &[]),
            client.query_one("SELECT 7::int4", &[])
        )
    })
    .await
    .expect("a pipelined COPY through execute hangs");
    assert!(copy.is_err());
    match other {
        Ok(row) => assert_eq!(row.get::<_, i32>(0), 7),
        Err(e) => assert!(client.is_closed(), "{}", report(&e)),
    }
    // Dropped after it was sent.
    let client = self::client().await;
    {
        let request = client.execute("COPY c FROM STDIN", &[]);
        tokio::pin!(request);
        std::future::poll_fn(|cx| {
            let _ = request.as_mut().poll(cx);
            std::task::Poll::Ready(())
        })
        .await;
    }
    let next = tokio::time::timeout(
        Duration::from_secs(10),
        client.query_one("SELECT 8::int4", &[]),
    )
    .await
    .expect("the request after a dropped COPY through execute hangs");
    match next {
        Ok(row) => assert_eq!(row.get::<_, i32>(0), 8),
        Err(e) => assert!(client.is_closed(), "{}", report(&e)),
    }
}

// Catches: an error in the middle of COPY TO being lost (the stream just ending early) or the
// connection left out of step afterwards.
#[tokio::test]
async fn an_error_during_copy_to_ends_the_stream_with_the_error() {
    let client = client().await;
    let mut stream = client
        .copy_out("COPY (SELECT 10 / (50000 - g) FROM generate_series(1, 100000) g) TO STDOUT")
        .await
        .unwrap();
    let mut chunks = 0;
    let err = loop {
        match stream.next().await {
            Some(Ok(_)) => chunks += 1,
            Some(Err(e)) => break e,
            None => panic!("the COPY ended without its error after {chunks} chunks"),
        }
    };
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO));
    assert!(stream.next().await.is_none());
    drop(stream);
    assert_eq!(count(&client).await, 0);

    // A COPY TO stream dropped half way: the connection is usable and in step.
    client
        .batch_execute(
            "INSERT INTO c SELECT g, 'x', 0, true, NULL FROM generate_series(1, 100000) g",
        )
        .await
        .unwrap();
    let mut stream = client.copy_out(COPY_OUT_TEXT).await.unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    let n = tokio::time::timeout(Duration::from_secs(10), count(&client))
        .await
        .expect("the next query hangs after dropping a COPY TO stream");
    assert_eq!(n, ROWS as i64);
}

// Catches: other tasks' requests slipping their messages into the COPY data stream (the server
// would fail the COPY) or being answered before the COPY ends; they must wait and then succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_from_other_tasks_during_a_copy_wait_and_then_succeed() {
    let client = Arc::new(client().await);
    let data = text_data(&rows());
    let half = data.len() / 2;
    let mut copy = client.copy_in("COPY c FROM STDIN").await.unwrap();
    copy.write(&data[..half]).await.unwrap();
    copy.flush().await.unwrap();

    let mut tasks = Vec::new();
    for task in 0..5i32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let n: i64 = client
                .query_one("SELECT count(*) FROM c", &[])
                .await
                .unwrap()
                .get(0);
            let echo: i32 = client
                .query_one("SELECT $1::int4", &[&task])
                .await
                .unwrap()
                .get(0);
            (n, echo)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tasks.iter().all(|t| !t.is_finished()),
        "a request was answered while the COPY was running"
    );
    copy.write(&data[half..]).await.unwrap();
    assert_eq!(copy.finish().await.unwrap(), ROWS as u64);
    for (task, handle) in tasks.into_iter().enumerate() {
        let (n, echo) = tokio::time::timeout(Duration::from_secs(30), handle)
            .await
            .expect("a request queued behind the COPY never finished")
            .unwrap();
        assert_eq!(n, ROWS as i64, "the query ran after the COPY");
        assert_eq!(echo, task as i32);
    }
    let out = copy_out(&client, COPY_OUT_TEXT).await;
    assert_same_bytes(&out, &data, "COPY TO after concurrent requests");
}

// Catches: a COPY started while other tasks' extended-protocol requests are in flight deadlocking
// with them (the COPY holds the writer from its query to its end; a request queued just before it
// whose write still waits for the writer never hands out its reply).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_while_other_tasks_query_do_not_deadlock() {
    let client = Arc::new(client().await);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for task in 0..4i32 {
        let client = client.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = 0i32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let row = client
                    .query_one("SELECT $1::int4", &[&(task * 1_000_000 + i)])
                    .await
                    .unwrap();
                assert_eq!(row.get::<_, i32>(0), task * 1_000_000 + i);
                i += 1;
            }
        }));
    }
    let copies = async {
        for round in 0..20i32 {
            let mut copy = client.copy_in("COPY c FROM STDIN").await.unwrap();
            copy.write(format!("{round}\tr\t0\tt\t\\N\n").as_bytes())
                .await
                .unwrap();
            assert_eq!(copy.finish().await.unwrap(), 1);
            let mut out = client.copy_out("COPY c TO STDOUT").await.unwrap();
            while let Some(chunk) = out.next().await {
                chunk.unwrap();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), copies)
        .await
        .expect("COPY and concurrent queries deadlocked");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    tokio::time::timeout(Duration::from_secs(30), async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await
    .expect("the querying tasks never finished");
}

// Review: message boundaries of the in-place CopyData framing. A first row that fills the buffer
// to exactly 64 KiB, a row larger than a chunk, a row that fails after a field larger than a
// chunk was written (it must be removed whole), rows around it, and NULLs.
#[tokio::test]
async fn binary_copy_rows_at_and_beyond_the_chunk_size() {
    let client = client().await;
    let copy = client
        .copy_in("COPY c (id, name, note) FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    let mut writer = BinaryCopyInWriter::new(copy, &[Type::INT4, Type::TEXT, Type::TEXT]);
    // header 19 + count 2 + (4 + 4) + (4 + L) + (4 + 0, NULL) = 65536.
    let exact = "e".repeat(65536 - 19 - 2 - 8 - 4 - 4);
    let big = "b".repeat(200_000);
    let mut want: Vec<(i32, usize, Option<usize>)> = Vec::new();
    writer.write(&[&1i32, &exact, &None::<&str>]).await.unwrap();
    want.push((1, exact.len(), None));
    writer.write(&[&2i32, &"small", &"n"]).await.unwrap();
    want.push((2, 5, Some(1)));
    writer.write(&[&3i32, &big, &big]).await.unwrap();
    want.push((3, big.len(), Some(big.len())));
    writer.write(&[&4i32, &"x", &"y"]).await.unwrap();
    want.push((4, 1, Some(1)));
    // Fails after 200 KB of its own were written.
    let err = writer.write(&[&5i32, &big, &"nul\0"]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conversion);
    writer
        .write(&[&6i32, &"after", &None::<&str>])
        .await
        .unwrap();
    want.push((6, 5, None));
    for id in 7..2000 {
        let name = "m".repeat((id as usize * 37) % 1500);
        writer.write(&[&id, &name, &"z"]).await.unwrap();
        want.push((id, name.len(), Some(1)));
    }
    assert_eq!(writer.finish().await.unwrap(), want.len() as u64);
    let back = client
        .query(
            "SELECT id, length(name), length(note) FROM c ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let back: Vec<(i32, usize, Option<usize>)> = back
        .iter()
        .map(|r| {
            (
                r.get::<_, i32>(0),
                r.get::<_, i32>(1) as usize,
                r.get::<_, Option<i32>>(2).map(|n| n as usize),
            )
        })
        .collect();
    assert_eq!(back, want);
}

/// A ToSql that misbehaves: it empties the buffer it is given (it treats `out` as its own).
#[derive(Debug)]
struct Clears;

impl pg_wire::types::ToSql for Clears {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<pg_wire::types::IsNull, pg_wire::types::BoxError> {
        out.clear();
        Ok(pg_wire::types::IsNull::No)
    }

    fn accepts(&self, _ty: &Type) -> bool {
        true
    }
}

// Review: a value that removes bytes it did not write (earlier rows' bytes) must not make the
// COPY end without rows whose write returned Ok: either they are copied or finish fails.
// Before 729c135 each row had a buffer of its own, so a ToSql could only damage its own row.
#[tokio::test]
async fn a_value_that_clears_the_buffer_does_not_silently_lose_earlier_rows() {
    let client = client().await;
    for flushed_first in [false, true] {
        client.batch_execute("TRUNCATE c").await.unwrap();
        let copy = client
            .copy_in("COPY c (id, name) FROM STDIN (FORMAT binary)")
            .await
            .unwrap();
        let mut writer = BinaryCopyInWriter::new(copy, &[Type::INT4, Type::TEXT]);
        let mut acknowledged = Vec::new();
        if flushed_first {
            // More than a chunk: the header and this row go out before the rest.
            writer.write(&[&0i32, &"x".repeat(70_000)]).await.unwrap();
            acknowledged.push(0);
        }
        writer.write(&[&1i32, &"one"]).await.unwrap();
        writer.write(&[&2i32, &"two"]).await.unwrap();
        acknowledged.extend([1, 2]);
        assert!(writer.write(&[&3i32, &Clears]).await.is_err());
        let later = writer.write(&[&4i32, &"four"]).await;
        if later.is_ok() {
            acknowledged.push(4);
        }
        let copied = writer.finish().await;
        let back = client
            .query("SELECT id FROM c ORDER BY id", &[])
            .await
            .unwrap();
        let back: Vec<i32> = back.iter().map(|r| r.get(0)).collect();
        match copied {
            Ok(n) => assert_eq!(
                (n as usize, back),
                (acknowledged.len(), acknowledged),
                "flushed_first {flushed_first}: finish succeeded without acknowledged rows"
            ),
            Err(_) => assert_eq!(back, Vec::<i32>::new(), "flushed_first {flushed_first}"),
        }
    }
}
