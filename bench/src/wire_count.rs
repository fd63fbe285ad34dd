//! Counting what crosses the wire: a Unix-socket proxy in front of the server that forwards every
//! byte unchanged and counts the protocol messages of each direction.
//!
//! The ORM scenarios report how many round trips the ORM makes (the target: a flush of
//! 10,000 objects takes a handful, not 10,000). A round trip is the client waiting for the server,
//! and in the extended protocol the client waits at a Sync (or a simple Query): the server answers
//! each with one ReadyForQuery, so ReadyForQuery messages counted on the wire are the round trips.
//! A pipelined batch of 10,000 Parse/Bind/Execute groups with one Sync is one round trip; with a
//! Sync after each, 10,000. The statements are counted too (Bind, Execute, simple Query), so the
//! report shows both how much work went out and in how many waits.
//!
//! Counting on the wire, rather than inside the ORM or the driver, needs no hook in either and
//! sees exactly what the server sees. It costs a hop through this process, so it is used only for
//! separate counting runs, never for the timed ones. (The server log with
//! `log_min_duration_statement = 0` lists every execute but cannot show which ones shared a Sync,
//! and `pg_stat_database.xact_commit` counts transactions, not requests.)

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use crate::BoxError;

/// `SSLRequest` and `GSSENCRequest`: untyped requests the server answers with one unframed byte.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

/// Message counts, both directions, summed over every connection through the proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireCounts {
    /// Frontend: simple `Query` messages (`BEGIN`, `COMMIT` and other `batch_execute`s).
    pub queries: u64,
    /// Frontend: `Parse`, `Bind`, `Execute`, `Sync`.
    pub parses: u64,
    pub binds: u64,
    pub executes: u64,
    pub syncs: u64,
    /// Backend: `ReadyForQuery`, one per Sync or Query: the round trips.
    pub ready_for_query: u64,
    /// Bytes forwarded each way.
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
}

impl WireCounts {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &WireCounts) -> WireCounts {
        WireCounts {
            queries: self.queries - earlier.queries,
            parses: self.parses - earlier.parses,
            binds: self.binds - earlier.binds,
            executes: self.executes - earlier.executes,
            syncs: self.syncs - earlier.syncs,
            ready_for_query: self.ready_for_query - earlier.ready_for_query,
            bytes_to_server: self.bytes_to_server - earlier.bytes_to_server,
            bytes_to_client: self.bytes_to_client - earlier.bytes_to_client,
        }
    }

    /// Statements sent: extended-protocol executions plus simple queries.
    pub fn statements(&self) -> u64 {
        self.executes + self.queries
    }
}

#[derive(Default)]
struct Counters {
    queries: AtomicU64,
    parses: AtomicU64,
    binds: AtomicU64,
    executes: AtomicU64,
    syncs: AtomicU64,
    ready_for_query: AtomicU64,
    bytes_to_server: AtomicU64,
    bytes_to_client: AtomicU64,
}

/// The proxy: listens on `<dir>/.s.PGSQL.<port>` and forwards to the server's socket.
pub struct WireCounter {
    dir: PathBuf,
    port: u16,
    counters: Arc<Counters>,
    listener: JoinHandle<()>,
}

impl WireCounter {
    /// Starts the proxy in a fresh directory, forwarding to the server listening at
    /// `<server_dir>/.s.PGSQL.<port>`. Must run on a tokio runtime.
    pub fn start(server_dir: &Path, port: u16) -> Result<WireCounter, BoxError> {
        let dir = std::env::temp_dir().join(format!("pg-bench-wire-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let socket = dir.join(format!(".s.PGSQL.{port}"));
        // A leftover of an earlier bench with the same pid.
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket)?;
        let target = server_dir.join(format!(".s.PGSQL.{port}"));
        let counters = Arc::new(Counters::default());
        let shared = Arc::clone(&counters);
        let listener = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counters = Arc::clone(&shared);
                let target = target.clone();
                tokio::spawn(async move {
                    if let Err(e) = forward(client, &target, counters).await {
                        eprintln!("pg-bench: wire counter: {e}");
                    }
                });
            }
        });
        Ok(WireCounter {
            dir,
            port,
            counters,
            listener,
        })
    }

    /// A connection configuration that goes through the proxy.
    pub fn config(&self, user: &str, dbname: &str) -> pg_wire::Config {
        let mut config = pg_wire::Config::new();
        config
            .host_path(&self.dir)
            .port(self.port)
            .user(user)
            .dbname(dbname)
            .application_name("pg-bench-wire-count");
        config
    }

    /// The counts so far.
    pub fn snapshot(&self) -> WireCounts {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        WireCounts {
            queries: get(&c.queries),
            parses: get(&c.parses),
            binds: get(&c.binds),
            executes: get(&c.executes),
            syncs: get(&c.syncs),
            ready_for_query: get(&c.ready_for_query),
            bytes_to_server: get(&c.bytes_to_server),
            bytes_to_client: get(&c.bytes_to_client),
        }
    }
}

impl Drop for WireCounter {
    fn drop(&mut self) {
        self.listener.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Forwards one connection both ways until either side closes.
async fn forward(
    client: UnixStream,
    target: &Path,
    counters: Arc<Counters>,
) -> std::io::Result<()> {
    let server = UnixStream::connect(target).await?;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Replies to SSLRequest/GSSENCRequest are one unframed byte each; the frontend scanner counts
    // the requests before forwarding them, so the backend scanner knows to skip the bytes.
    let unframed_replies = Arc::new(AtomicU64::new(0));
    let up = pump(
        client_read,
        server_write,
        Scanner::frontend(Arc::clone(&counters), Arc::clone(&unframed_replies)),
    );
    let down = pump(
        server_read,
        client_write,
        Scanner::backend(counters, unframed_replies),
    );
    let (up, down) = tokio::join!(up, down);
    up.and(down)
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut scanner: Scanner,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            // Half-close: the other direction goes on until its peer closes too.
            let _ = to.shutdown().await;
            return Ok(());
        }
        // `read` returns at most the buffer's length.
        let data = &buf[..n];
        scanner.feed(data);
        to.write_all(data).await?;
    }
}

/// Splits one direction's byte stream into messages (by their headers; bodies are skipped) and
/// counts the ones of interest.
struct Scanner {
    frontend: bool,
    /// Frontend: still in the untyped startup phase (length, then a request code).
    untyped: bool,
    header: Vec<u8>,
    /// Bytes of the current message's body still to pass.
    skip: usize,
    counters: Arc<Counters>,
    unframed_replies: Arc<AtomicU64>,
}

impl Scanner {
    fn frontend(counters: Arc<Counters>, unframed_replies: Arc<AtomicU64>) -> Scanner {
        Scanner {
            frontend: true,
            untyped: true,
            header: Vec::with_capacity(8),
            skip: 0,
            counters,
            unframed_replies,
        }
    }

    fn backend(counters: Arc<Counters>, unframed_replies: Arc<AtomicU64>) -> Scanner {
        Scanner {
            frontend: false,
            untyped: false,
            header: Vec::with_capacity(5),
            skip: 0,
            counters,
            unframed_replies,
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        let bytes = if self.frontend {
            &self.counters.bytes_to_server
        } else {
            &self.counters.bytes_to_client
        };
        bytes.fetch_add(data.len() as u64, Ordering::SeqCst);
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            if !self.frontend && self.header.is_empty() {
                // An unframed answer to SSLRequest/GSSENCRequest ('N', 'S' or 'G').
                let pending = self.unframed_replies.load(Ordering::SeqCst);
                if pending > 0 {
                    self.unframed_replies.fetch_sub(1, Ordering::SeqCst);
                    data = &data[1..];
                    continue;
                }
            }
            let header_len = if self.untyped { 8 } else { 5 };
            let n = (header_len - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.header.len() < header_len {
                continue;
            }
            self.message();
            self.header.clear();
        }
    }

    /// A complete header is in `self.header`.
    fn message(&mut self) {
        let be32 = |bytes: &[u8]| u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if self.untyped {
            let length = be32(&self.header[0..4]) as usize;
            let code = be32(&self.header[4..8]);
            self.skip = length.saturating_sub(8);
            if code == SSL_REQUEST || code == GSSENC_REQUEST {
                self.unframed_replies.fetch_add(1, Ordering::SeqCst);
            } else {
                // StartupMessage (or CancelRequest): typed messages from now on.
                self.untyped = false;
                self.header = Vec::with_capacity(5);
            }
            return;
        }
        let kind = self.header[0];
        let length = be32(&self.header[1..5]) as usize;
        self.skip = length.saturating_sub(4);
        let c = &self.counters;
        let counter = match (self.frontend, kind) {
            (true, b'Q') => &c.queries,
            (true, b'P') => &c.parses,
            (true, b'B') => &c.binds,
            (true, b'E') => &c.executes,
            (true, b'S') => &c.syncs,
            (false, b'Z') => &c.ready_for_query,
            _ => return,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn counts_frontend_messages_across_arbitrary_splits() {
        let mut stream = Vec::new();
        // SSLRequest, then StartupMessage.
        stream.extend_from_slice(&8u32.to_be_bytes());
        stream.extend_from_slice(&SSL_REQUEST.to_be_bytes());
        let startup_body = b"user\0me\0\0";
        stream.extend_from_slice(&(8 + startup_body.len() as u32).to_be_bytes());
        stream.extend_from_slice(&196_608u32.to_be_bytes());
        stream.extend_from_slice(startup_body);
        stream.extend(typed(b'Q', b"BEGIN\0"));
        for _ in 0..3 {
            stream.extend(typed(b'B', &[0; 20]));
            stream.extend(typed(b'E', &[0; 5]));
        }
        stream.extend(typed(b'S', &[]));
        for chunk in [1, 3, 7, 64] {
            let counters = Arc::new(Counters::default());
            let replies = Arc::new(AtomicU64::new(0));
            let mut scanner = Scanner::frontend(Arc::clone(&counters), Arc::clone(&replies));
            for piece in stream.chunks(chunk) {
                scanner.feed(piece);
            }
            let c = &counters;
            assert_eq!(c.queries.load(Ordering::SeqCst), 1, "chunk {chunk}");
            assert_eq!(c.binds.load(Ordering::SeqCst), 3);
            assert_eq!(c.executes.load(Ordering::SeqCst), 3);
            assert_eq!(c.syncs.load(Ordering::SeqCst), 1);
            assert_eq!(replies.load(Ordering::SeqCst), 1);
        }
    }

    #[test]
    fn counts_ready_for_query_after_an_unframed_ssl_refusal() {
        let mut stream = vec![b'N'];
        stream.extend(typed(b'R', &0u32.to_be_bytes()));
        stream.extend(typed(b'Z', b"I"));
        stream.extend(typed(b'D', &[0; 30]));
        stream.extend(typed(b'Z', b"T"));
        let counters = Arc::new(Counters::default());
        let replies = Arc::new(AtomicU64::new(1));
        let mut scanner = Scanner::backend(Arc::clone(&counters), Arc::clone(&replies));
        for piece in stream.chunks(2) {
            scanner.feed(piece);
        }
        assert_eq!(counters.ready_for_query.load(Ordering::SeqCst), 2);
        assert_eq!(replies.load(Ordering::SeqCst), 0);
    }
}
