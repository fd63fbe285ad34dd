//! A bounded soak: 200 tasks run transfer transactions between 100 accounts through a pool of 10
//! connections for 30 seconds (`PG_SOAK_SECS` to change it), with a sprinkle of cancellations
//! (futures dropped mid-way, cancel requests, query timeouts) and backends terminated with
//! `pg_terminate_backend` every few seconds.
//!
//! Each transfer moves an amount between two accounts and records itself, under a unique id, in a
//! `transfers` table, in one transaction. The client keeps the ids whose commit returned `Ok`, the
//! ids whose outcome is unknown (the commit reported [`ErrorKind::CommitOutcomeUnknown`], or the
//! future was dropped once the commit was under way), and the ids that failed before anything could
//! be committed. Afterwards:
//!
//! - the sum of all balances is unchanged, and every balance is its opening balance plus the
//!   transfers recorded in and out of it;
//! - every `Ok` id is recorded exactly once, no failed id is recorded, and every recorded id is
//!   `Ok` or unknown;
//! - no connection leaked: the server sees at most 10 backends of the pool while it is idle, and
//!   none once it is closed;
//! - the process's memory (VmRSS) did not keep growing: the second half of the run peaks at most
//!   a little above the first half.
//!
//! The random choices come from `PG_SOAK_SEED` if set, else from the clock; the seed is printed.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use harness::{AuthMethod, TestServer};
use pg_wire::{Client, Config, Error, ErrorKind, Pool, PoolOptions};

const TASKS: usize = 200;
const POOL_SIZE: usize = 10;
const ACCOUNTS: i32 = 100;
const OPENING_BALANCE: i64 = 1_000;
const DEFAULT_SECS: u64 = 30;

/// Longest a single transfer may take (checkout included) before the test calls it a hang.
const TRANSFER_LIMIT: Duration = Duration::from_secs(60);

/// A small deterministic generator (xorshift64*), so a run can be repeated from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How a transfer is disturbed.
#[derive(Debug, Clone, Copy)]
enum Flavor {
    Plain,
    /// The whole transfer future is dropped after this long.
    Drop(Duration),
    /// A cancel request is sent after this long if the transfer is still running.
    Cancel(Duration),
    /// The connection's query timeout is set to this for the transfer.
    QueryTimeout(Duration),
}

impl Flavor {
    fn pick(rng: &mut Rng) -> Flavor {
        let micros = |rng: &mut Rng, max: u64| Duration::from_micros(rng.below(max));
        match rng.below(100) {
            0..=2 => Flavor::Drop(micros(rng, 6_000)),
            3..=4 => Flavor::Cancel(micros(rng, 5_000)),
            5..=6 => Flavor::QueryTimeout(Duration::from_micros(500) + micros(rng, 3_000)),
            _ => Flavor::Plain,
        }
    }
}

/// What became of a transfer, as far as the client knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The commit returned `Ok`: the transfer must be recorded exactly once.
    Committed,
    /// The commit's outcome is unknown: recorded once or not at all.
    Unknown,
    /// It failed before anything could be committed: not recorded.
    Failed,
}

/// One transfer's transaction. `committing` is set just before COMMIT is asked for.
async fn transfer(
    client: &mut Client,
    id: i64,
    from: i32,
    to: i32,
    amount: i64,
    committing: &AtomicBool,
) -> Result<(), Error> {
    let tx = client.transaction().await?;
    // The lower account first, so two transfers never wait for each other's locks in a cycle.
    let mut moves = [(from, -amount), (to, amount)];
    moves.sort_by_key(|&(account, _)| account);
    for (account, delta) in moves {
        let updated = tx
            .execute(
                "UPDATE accounts SET balance = balance + $2 WHERE id = $1",
                &[&account, &delta],
            )
            .await?;
        assert_eq!(updated, 1);
    }
    tx.execute(
        "INSERT INTO transfers (id, src, dst, amount) VALUES ($1, $2, $3, $4)",
        &[&id, &from, &to, &amount],
    )
    .await?;
    committing.store(true, Ordering::Release);
    tx.commit().await
}

/// Counts of what the tasks did, shared by all of them.
#[derive(Default)]
struct Counters {
    drops: AtomicU64,
    cancels: AtomicU64,
    timeouts: AtomicU64,
    error_io: AtomicU64,
    error_closed: AtomicU64,
    error_db: AtomicU64,
    error_timeout: AtomicU64,
    error_rolled_back: AtomicU64,
    error_other: AtomicU64,
    /// Transfers dropped while their COMMIT was under way.
    dropped_committing: AtomicU64,
    /// Commits that reported [`ErrorKind::CommitOutcomeUnknown`].
    commit_unknown: AtomicU64,
}

impl Counters {
    fn count_error(&self, error: &Error) {
        let counter = match error.kind() {
            ErrorKind::Io => &self.error_io,
            ErrorKind::Closed => &self.error_closed,
            ErrorKind::Db => &self.error_db,
            ErrorKind::Timeout => &self.error_timeout,
            ErrorKind::RolledBack => &self.error_rolled_back,
            ErrorKind::CommitOutcomeUnknown => &self.commit_unknown,
            _ => &self.error_other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs one transfer with its disturbance and says what became of it.
async fn run_one(pool: &Pool, rng: &mut Rng, id: i64, counters: &Counters) -> Outcome {
    let from = rng.below(ACCOUNTS as u64) as i32 + 1;
    let to = (from + rng.below(ACCOUNTS as u64 - 1) as i32) % ACCOUNTS + 1;
    let amount = rng.below(50) as i64 + 1;
    let flavor = Flavor::pick(rng);
    let committing = AtomicBool::new(false);

    let work = async {
        let mut client = pool.get().await?;
        if let Flavor::QueryTimeout(limit) = flavor {
            counters.timeouts.fetch_add(1, Ordering::Relaxed);
            client.set_query_timeout(Some(limit));
        }
        let token = client.cancel_token();
        let running = transfer(&mut client, id, from, to, amount, &committing);
        let result = match flavor {
            Flavor::Cancel(after) => {
                tokio::pin!(running);
                tokio::select! {
                    result = &mut running => result,
                    () = tokio::time::sleep(after) => {
                        counters.cancels.fetch_add(1, Ordering::Relaxed);
                        // A cancel that fails to reach the server changes nothing here.
                        let _ = token.cancel().await;
                        running.await
                    }
                }
            }
            // The transaction is dropped mid-way (its connection goes back to the pool with it).
            Flavor::Drop(after) => match tokio::time::timeout(after, running).await {
                Ok(result) => result,
                Err(_) => return Ok(None),
            },
            _ => running.await,
        };
        // The pool keeps connection settings: give the connection back as it was lent.
        client.set_query_timeout(None);
        result.map(Some)
    };
    match work.await {
        Ok(Some(())) => Outcome::Committed,
        Ok(None) => {
            counters.drops.fetch_add(1, Ordering::Relaxed);
            // Dropped before COMMIT was asked for, the transaction rolls back; after, it may
            // have committed.
            if committing.load(Ordering::Acquire) {
                counters.dropped_committing.fetch_add(1, Ordering::Relaxed);
                Outcome::Unknown
            } else {
                Outcome::Failed
            }
        }
        Err(e) => {
            counters.count_error(&e);
            if e.is_commit_outcome_unknown() {
                Outcome::Unknown
            } else {
                Outcome::Failed
            }
        }
    }
}

/// The process's resident set size in KiB, from `/proc/self/status`.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// The server's count of backends with application_name `app`.
async fn backends(observer: &Client, app: &str) -> i64 {
    observer
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .unwrap()
        .get(0)
}

/// The ids of a set of transfers, for messages.
fn sample(ids: &[i64]) -> Vec<i64> {
    ids.iter().take(10).copied().collect()
}

// Catches: lost or doubled transfers (a commit reported `Ok` that did not happen, a failed
// transaction that was committed, a retried commit), money created or destroyed, connections
// leaked by dropped or cancelled requests and terminated backends, memory growing with time, and
// hangs (every transfer is bounded) under many tasks, cancellations and terminated backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_under_cancellations_and_terminated_backends_stay_consistent() {
    let seconds = std::env::var("PG_SOAK_SECS")
        .ok()
        .map(|s| {
            s.parse::<u64>()
                .expect("PG_SOAK_SECS must be a number of seconds")
        })
        .unwrap_or(DEFAULT_SECS);
    let duration = Duration::from_secs(seconds);
    tokio::time::timeout(duration + Duration::from_secs(120), soak(duration))
        .await
        .unwrap_or_else(|_| {
            panic!("the soak did not finish within {duration:?} + 120 s (a hang?)")
        });
}

async fn soak(duration: Duration) {
    let seed = std::env::var("PG_SOAK_SEED")
        .ok()
        .map(|s| s.parse::<u64>().expect("PG_SOAK_SEED must be a number"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("soak: {duration:?}, seed {seed} (PG_SOAK_SEED to repeat it)");

    let server = TestServer::shared(AuthMethod::Trust);
    let db = server.fresh_database().await.unwrap();
    let app = TestServer::unique_name("soak");
    let conninfo = server.connection_string(server.superuser(), None, &db, false);
    let config: Config = format!("{conninfo} application_name={app}")
        .parse()
        .unwrap();
    let observer = Client::connect(&conninfo.parse().unwrap()).await.unwrap();
    observer
        .batch_execute(&format!(
            "CREATE TABLE accounts (id int4 PRIMARY KEY, balance int8 NOT NULL);
             INSERT INTO accounts SELECT g, {OPENING_BALANCE} FROM generate_series(1, {ACCOUNTS}) g;
             CREATE TABLE transfers (
                 id int8 PRIMARY KEY,
                 src int4 NOT NULL REFERENCES accounts,
                 dst int4 NOT NULL REFERENCES accounts,
                 amount int8 NOT NULL
             );"
        ))
        .await
        .unwrap();

    let pool = Pool::new(
        config,
        PoolOptions::new()
            .max_size(POOL_SIZE)
            .checkout_timeout(Duration::from_secs(30)),
    );
    let started = Instant::now();
    let deadline = started + duration;
    let next_id = Arc::new(AtomicI64::new(1));
    let counters = Arc::new(Counters::default());

    // Memory, sampled twice a second.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = Arc::clone(&sampling);
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while sampling.load(Ordering::Acquire) {
                samples.push(rss_kib());
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            samples
        })
    };

    // Terminates one or two of the pool's backends every 2 to 4 seconds.
    let terminator = {
        let app = app.clone();
        let mut rng = Rng::new(seed ^ 0x5eed);
        let observer = Client::connect(&conninfo.parse().unwrap()).await.unwrap();
        tokio::spawn(async move {
            let mut terminated = 0u64;
            loop {
                let pause = Duration::from_millis(2_000 + rng.below(2_000));
                if Instant::now() + pause >= deadline {
                    return terminated;
                }
                tokio::time::sleep(pause).await;
                let limit = 1 + rng.below(2) as i64;
                let rows = observer
                    .query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = $1 ORDER BY random() LIMIT $2",
                        &[&app, &limit],
                    )
                    .await
                    .unwrap();
                terminated += rows.iter().filter(|row| row.get::<_, bool>(0)).count() as u64;
            }
        })
    };

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let pool = pool.clone();
        let next_id = Arc::clone(&next_id);
        let counters = Arc::clone(&counters);
        let mut rng =
            Rng::new(seed.wrapping_add((task as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            while Instant::now() < deadline {
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let outcome =
                    tokio::time::timeout(TRANSFER_LIMIT, run_one(&pool, &mut rng, id, &counters))
                        .await
                        .unwrap_or_else(|_| panic!("task {task}: transfer {id} hangs"));
                outcomes.push((id, outcome));
            }
            outcomes
        }));
    }
    let mut committed = Vec::new();
    let mut unknown = Vec::new();
    let mut failed = Vec::new();
    for task in tasks {
        for (id, outcome) in task.await.unwrap() {
            match outcome {
                Outcome::Committed => committed.push(id),
                Outcome::Unknown => unknown.push(id),
                Outcome::Failed => failed.push(id),
            }
        }
    }
    let ran_for = started.elapsed();
    let terminated = terminator.await.unwrap();
    sampling.store(false, Ordering::Release);
    let samples = sampler.await.unwrap();

    // Money is neither created nor destroyed, and each balance matches the recorded transfers.
    let total: i64 = observer
        .query_one("SELECT sum(balance)::int8 FROM accounts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        total,
        OPENING_BALANCE * i64::from(ACCOUNTS),
        "money created or destroyed"
    );
    let mismatched: i64 = observer
        .query_one(
            &format!(
                "SELECT count(*) FROM accounts a WHERE balance <> {OPENING_BALANCE} \
                 + coalesce((SELECT sum(amount) FROM transfers WHERE dst = a.id), 0) \
                 - coalesce((SELECT sum(amount) FROM transfers WHERE src = a.id), 0)"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        mismatched, 0,
        "balances that do not match the recorded transfers"
    );

    // Every committed transfer exactly once, no failed one, nothing unaccounted for.
    let recorded: Vec<i64> = observer
        .query("SELECT id FROM transfers", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let recorded_set: HashSet<i64> = recorded.iter().copied().collect();
    assert_eq!(
        recorded_set.len(),
        recorded.len(),
        "a transfer recorded twice"
    );
    let missing: Vec<i64> = committed
        .iter()
        .copied()
        .filter(|id| !recorded_set.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} transfers whose commit returned Ok are missing, e.g. {:?}",
        missing.len(),
        sample(&missing)
    );
    let applied_failures: Vec<i64> = failed
        .iter()
        .copied()
        .filter(|id| recorded_set.contains(id))
        .collect();
    assert!(
        applied_failures.is_empty(),
        "{} transfers that failed were committed, e.g. {:?}",
        applied_failures.len(),
        sample(&applied_failures)
    );
    let known: HashSet<i64> = committed.iter().chain(&unknown).copied().collect();
    let strangers: Vec<i64> = recorded
        .iter()
        .copied()
        .filter(|id| !known.contains(id))
        .collect();
    assert!(
        strangers.is_empty(),
        "unaccounted transfers: {:?}",
        sample(&strangers)
    );
    let unknown_applied = unknown
        .iter()
        .filter(|id| recorded_set.contains(id))
        .count();

    // No connection leaked: at most the pool's size while it is idle, none once it is closed.
    let status = pool.status();
    assert_eq!(status.in_use, 0, "{status:?}");
    assert!(status.size <= POOL_SIZE, "{status:?}");
    let idle_backends = backends(&observer, &app).await;
    assert!(
        idle_backends <= POOL_SIZE as i64,
        "{idle_backends} backends for a pool of {POOL_SIZE}"
    );
    pool.close().await;
    let closing = Instant::now();
    loop {
        let left = backends(&observer, &app).await;
        if left == 0 {
            break;
        }
        assert!(
            closing.elapsed() < Duration::from_secs(10),
            "{left} backends left after the pool was closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Memory: the second half of the run peaks at most a little above the first half.
    assert!(samples.len() >= 4, "{} memory samples", samples.len());
    let (first, second) = samples.split_at(samples.len() / 2);
    let first_peak = *first.iter().max().unwrap();
    let second_peak = *second.iter().max().unwrap();
    let allowed = first_peak + first_peak / 4 + 8 * 1024;

    let c = &counters;
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    println!(
        "soak: {:?}, {} transfers: {} committed, {} unknown ({} reported by commit, {} dropped \
         during commit; {} of them applied), {} failed; \
         {:.0} committed/s; disturbances: {} dropped, {} cancel requests, {} query timeouts, {} \
         backends terminated; errors by kind: io {}, closed {}, db {}, timeout {}, rolled back \
         {}, other {}; VmRSS first half peak {} KiB, second half peak {} KiB (allowed {} KiB), \
         {} samples from {} to {} KiB",
        ran_for,
        committed.len() + unknown.len() + failed.len(),
        committed.len(),
        unknown.len(),
        load(&c.commit_unknown),
        load(&c.dropped_committing),
        unknown_applied,
        failed.len(),
        committed.len() as f64 / ran_for.as_secs_f64(),
        load(&c.drops),
        load(&c.cancels),
        load(&c.timeouts),
        terminated,
        load(&c.error_io),
        load(&c.error_closed),
        load(&c.error_db),
        load(&c.error_timeout),
        load(&c.error_rolled_back),
        load(&c.error_other),
        first_peak,
        second_peak,
        allowed,
        samples.len(),
        samples[0],
        samples[samples.len() - 1],
    );
    let trend: Vec<u64> = samples.iter().step_by(10).copied().collect();
    println!("soak: VmRSS every 5 s (KiB): {trend:?}");
    assert!(
        second_peak <= allowed,
        "VmRSS kept growing: first half peak {first_peak} KiB, second half {second_peak} KiB"
    );
    assert_eq!(load(&c.error_other), 0, "errors of an unexpected kind");

    // The run did what it claims: transfers went through, and every disturbance happened.
    assert!(
        committed.len() >= 100,
        "only {} transfers committed",
        committed.len()
    );
    assert!(load(&c.drops) > 0 && load(&c.cancels) > 0 && load(&c.timeouts) > 0);
    if duration >= Duration::from_secs(5) {
        assert!(terminated > 0, "no backend was terminated");
    }
}
