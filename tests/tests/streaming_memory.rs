//! Iterating 5,000,000 rows through `query_raw` holds a bounded amount of memory.
//!
//! A test binary of its own, with a single test, because it measures the memory of the whole
//! process (`VmHWM`, the peak resident set, from `/proc/self/status`): another test running in the
//! same process at the same time would distort the figure.

use std::time::{Duration, Instant};

use harness::{AuthMethod, TestServer};
use pg_wire::Client;

/// A `kB` field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kb: u64 = line
        .trim_start_matches(field)
        .trim_start_matches(':')
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

const MIB: u64 = 1024 * 1024;

// Catches: a stream that reads (and buffers) the whole result ahead of the caller, or keeps the
// rows it handed out. The rows are about 90 bytes on the wire each, 5,000,000 of them about
// 450 MB: buffering even a quarter of them breaks the 100 MiB bound, while a stream that reads
// only as fast as it is consumed needs a few socket buffers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterating_five_million_rows_holds_bounded_memory() {
    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let conninfo = server.connection_string(server.superuser(), None, &db, false);
    let client = Client::connect(&conninfo.parse().unwrap()).await.unwrap();
    let sql = "SELECT g, g::int8 * 3 AS triple, repeat('m', 60) AS pad \
               FROM generate_series(1, $1::int4) g";
    // Warm up: the statement is prepared and the buffers have grown to their working size.
    let mut warm = client.query_raw(sql, &[&10_000i32]).await.unwrap();
    while let Some(row) = warm.next().await {
        row.unwrap();
    }
    drop(warm);

    // Resets VmHWM to the current resident set (Linux 4.0+); if that is not allowed, the peak
    // so far is below the baseline's own peak anyway, which only makes the bound looser.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let baseline = status_bytes("VmRSS");
    let started = Instant::now();

    let n = 5_000_000i32;
    let mut stream = client.query_raw(sql, &[&n]).await.unwrap();
    let mut count = 0i64;
    let mut sum = 0i64;
    let mut peak_rss_seen = 0u64;
    while let Some(row) = stream.next().await {
        let row = row.unwrap();
        let g: i32 = row.get(0);
        let triple: i64 = row.get(1);
        assert_eq!(triple, i64::from(g) * 3);
        assert_eq!(row.get::<_, &str>(2).len(), 60);
        count += 1;
        sum += i64::from(g);
        if count % 500_000 == 0 {
            peak_rss_seen = peak_rss_seen.max(status_bytes("VmRSS"));
        }
    }
    assert_eq!(count, i64::from(n));
    assert_eq!(sum, i64::from(n) * (i64::from(n) + 1) / 2);
    assert_eq!(stream.rows_affected(), Some(n as u64));
    drop(stream);

    let peak = status_bytes("VmHWM").max(peak_rss_seen);
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "5,000,000 rows in {:.1} s; resident before {} MiB, peak {} MiB, growth {} MiB",
        started.elapsed().as_secs_f64(),
        baseline / MIB,
        peak / MIB,
        growth / MIB
    );
    assert!(
        growth < 100 * MIB,
        "memory grew by {} MiB while streaming (resident before {} MiB, peak {} MiB)",
        growth / MIB,
        baseline / MIB,
        peak / MIB
    );

    // The connection is usable afterwards.
    let row = tokio::time::timeout(
        Duration::from_secs(10),
        client.query_one("SELECT 1::int4", &[]),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
}
