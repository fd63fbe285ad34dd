//! Hostile server: a scripted fake server ([`harness::fake`]) plays a broken or malicious
//! PostgreSQL, byte by byte, over a Unix socket and over TCP; the client must end with the right
//! typed error (`pg_wire::ErrorKind`) within its timeout, with no panic, no hang (every case runs
//! under a tokio timeout, so a hang fails) and bounded memory, and must send nothing after the
//! violation except a Terminate (or the CopyFail a simple query's writer sends when dropped).
//!
//! Summary: 36 hostile cases (test functions, most with several variants), each run over the Unix
//! socket and over TCP (the current-thread SCRAM derivation case over the Unix socket only):
//!
//! - framing: 8 (lengths below 4 and negative at startup and in a result; 1 GiB and `i32::MAX`
//!   refused naming the limit; small limits of short message types; the configured limit, exact;
//!   lying lengths followed by a flood at full speed; a truncated message then end-of-stream; an
//!   unknown message type);
//! - rows: 4 (field count differing from the RowDescription; a field length past the end; a field
//!   length of -2; a RowDescription of 65,535 fields with a short body);
//! - malformed or misplaced messages: 4 (ErrorResponse and NoticeResponse without terminator;
//!   ParameterStatus with invalid UTF-8; ReadyForQuery with an unknown status; messages the
//!   current state cannot receive);
//! - SCRAM: 8 (nonce; wrong server signature; AuthenticationOk before server-final; 0 iterations;
//!   2^31 and 2^32 over the cap; the derivation off a current-thread runtime while
//!   connect_timeout fires; malformed base64; a server-final `e=` error);
//! - downgrade under `require_auth=scram-sha-256`: 2 (cleartext and MD5; no authentication);
//! - silence, stalls and a closed stream: 6 (connect_timeout; query timeout with the session's
//!   CancelRequest, cancel honoured; cancel ignored or its connection held open; endless notices
//!   against the query timeout; the server closing mid-DataRow stream; a cancel connection held
//!   open against `CancelToken::cancel`);
//! - floods and memory: 4 (notices and notifications between rows; the same while idle;
//!   ParameterStatus with ever new names; large notifications nobody takes).
//!
//! All 36 pass. (The last three found driver bugs, since fixed: ParameterStatus names kept
//! without bound, notifications queued by count but not size, and `CancelToken::cancel` waiting
//! without limit.) Besides the cases: 2 controls (a correct session and a correct SCRAM exchange against the fake server,
//! so that a refusal is the client's doing) and 2 self-tests of the fake server's SCRAM side.

#[path = "hostile/scram.rs"]
mod scram;

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::fake::{FakePeer, FakeServer, FirstPacket, Transport, msg};
use pg_wire::error::report;
use pg_wire::{Client, Config, Error, ErrorKind, Notification, SimpleQueryMessage};
use scram::{ScramServer, base64};

/// The longest any one case may take over one transport: beyond it, the case hung.
const CASE_LIMIT: Duration = Duration::from_secs(30);
/// The fake session's process id and secret key (BackendKeyData).
const PID: i32 = 4242;
const SECRET: [u8; 4] = *b"k3y!";
/// The type OID of `text`.
const TEXT_OID: u32 = 25;
/// The SQL of the fake query.
const SQL: &str = "SELECT v FROM hostile";
/// The password the fake SCRAM server knows, and how it stores it.
const PASSWORD: &str = "correct-horse-battery-staple";
const SALT: &[u8] = b"fake-server-salt";
const ITERATIONS: u32 = 4096;
/// The default limit for most messages (`pg_wire::config::DEFAULT_MAX_MESSAGE_SIZE`).
const DEFAULT_LIMIT: &str = "268435456";
/// The limit for short message types (authentication, CommandComplete, ParameterStatus, ...).
const SMALL_LIMIT: &str = "65536";
/// The limit for ErrorResponse and NoticeResponse.
const ERROR_LIMIT: &str = "16777216";

// ---- helpers ------------------------------------------------------------------------------------

/// Runs `case` over each transport, each within [`CASE_LIMIT`]: a hang is a failure.
async fn on_both(case: impl AsyncFn(Transport)) {
    for transport in Transport::ALL {
        on(transport, &case).await;
    }
}

/// Runs `case` over one transport within [`CASE_LIMIT`].
async fn on(transport: Transport, case: &impl AsyncFn(Transport)) {
    if tokio::time::timeout(CASE_LIMIT, case(transport))
        .await
        .is_err()
    {
        panic!("the case did not finish within {CASE_LIMIT:?} over {transport}: it hung");
    }
}

/// Checks an error's kind and that its report (the whole chain of causes) mentions each fragment.
#[track_caller]
fn expect_error(err: &Error, kind: ErrorKind, fragments: &[&str], what: &str) {
    let text = report(err);
    assert_eq!(err.kind(), kind, "{what}: {text}");
    for fragment in fragments {
        assert!(
            text.contains(fragment),
            "{what}: the error {text:?} does not mention {fragment:?}"
        );
    }
}

/// The type bytes of the frontend messages in `bytes` (which must hold whole messages).
fn frontend_tags(bytes: &[u8]) -> Vec<u8> {
    let mut tags = Vec::new();
    let mut rest = bytes;
    while let Some((&tag, after)) = rest.split_first() {
        let len = after
            .get(..4)
            .map(|b| i32::from_be_bytes(b.try_into().unwrap()))
            .unwrap_or_else(|| panic!("half a message header from the client: {bytes:?}"));
        let len = usize::try_from(len).unwrap();
        assert!(len >= 4 && after.len() >= len, "a cut message: {bytes:?}");
        tags.push(tag);
        rest = &after[len..];
    }
    tags
}

/// Checks that after a violation the client sent nothing but Terminate (`X`) or CopyFail (`f`):
/// no new query, no password, no SCRAM proof.
#[track_caller]
fn expect_nothing_more(rest: &[u8], what: &str) {
    let tags = frontend_tags(rest);
    assert!(
        tags.iter().all(|t| matches!(t, b'X' | b'f')),
        "{what}: the client went on sending {:?}",
        String::from_utf8_lossy(&tags)
    );
}

/// The client connects with `extra` settings (after `connect_timeout=10`) to a fake server that
/// plays `script` on the connection. Returns the client's error and what the client sent after
/// the script's last step, until it closed the connection.
async fn connect_case(
    transport: Transport,
    extra: &str,
    script: impl AsyncFnOnce(&mut FakePeer) -> io::Result<()>,
) -> (Error, Vec<u8>) {
    let server = FakeServer::bind(transport);
    let config = server.config(&format!("connect_timeout=10 {extra}"));
    connect_with(&server, &config, script).await
}

/// [`connect_case`] with a server and settings of the caller's.
async fn connect_with(
    server: &FakeServer,
    config: &Config,
    script: impl AsyncFnOnce(&mut FakePeer) -> io::Result<()>,
) -> (Error, Vec<u8>) {
    // A client that connects is dropped at once, so the script's last read ends either way.
    let client = async { Client::connect(config).await.map(drop) };
    let served = async {
        let mut peer = server.accept().await?;
        script(&mut peer).await?;
        Ok::<_, io::Error>(peer.read_to_end().await)
    };
    let (client, served) = tokio::join!(client, served);
    let transport = server.transport();
    let rest =
        served.unwrap_or_else(|e| panic!("the fake server's script failed ({transport}): {e}"));
    let err = client
        .err()
        .unwrap_or_else(|| panic!("the client connected to a hostile server ({transport})"));
    (err, rest)
}

/// A connect case that must fail with `kind`, mentioning `fragments`, with the client sending
/// nothing after the script's last step.
async fn expect_connect_failure(
    transport: Transport,
    extra: &str,
    script: impl AsyncFnOnce(&mut FakePeer) -> io::Result<()>,
    kind: ErrorKind,
    fragments: &[&str],
    what: &str,
) -> Error {
    let what = format!("{what} ({transport})");
    let (err, rest) = connect_case(transport, extra, script).await;
    expect_error(&err, kind, fragments, &what);
    expect_nothing_more(&rest, &what);
    err
}

/// How the fake query is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// `Client::simple_query`: one Query message.
    Simple,
    /// `Client::query`: a prepare round trip, then Bind, Execute, Sync.
    Extended,
}

const VIAS: [Via; 2] = [Via::Simple, Via::Extended];

/// Serves the client's query by `via` up to where the rows come: the simple Query is read, or
/// the statement is prepared (with one text column `v`) and its execution read and answered
/// BindComplete.
async fn take_query(peer: &mut FakePeer, via: Via) -> io::Result<()> {
    match via {
        Via::Simple => {
            let sql = peer.expect_query().await?;
            assert_eq!(sql, SQL);
            Ok(())
        }
        Via::Extended => {
            peer.answer_prepare(&[("v", TEXT_OID)]).await?;
            peer.expect_execute().await
        }
    }
}

/// The RowDescription a simple query's rows need first (the extended protocol had it in the
/// prepare round trip).
fn row_head(via: Via) -> Vec<u8> {
    match via {
        Via::Simple => msg::row_description(&[("v", TEXT_OID)]),
        Via::Extended => Vec::new(),
    }
}

/// A well-formed end of the fake query's result.
fn result_tail(rows: usize) -> Vec<u8> {
    let mut out = msg::command_complete(&format!("SELECT {rows}"));
    out.extend(msg::ready(b'I'));
    out
}

/// Runs the fake query by `via`; returns the first column of each row.
async fn run_query(client: &Client, via: Via) -> Result<Vec<Option<String>>, Error> {
    match via {
        Via::Simple => Ok(client
            .simple_query(SQL)
            .await?
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_owned)),
                _ => None,
            })
            .collect()),
        Via::Extended => Ok(client
            .query(SQL, &[])
            .await?
            .iter()
            .map(|row| row.get::<_, Option<String>>(0))
            .collect()),
    }
}

/// A connected client and the task serving it.
struct Session {
    client: Client,
    server: tokio::task::JoinHandle<io::Result<Vec<u8>>>,
    what: String,
}

impl Session {
    /// Drops the client and returns what it sent after the script's last step.
    async fn finish(self) -> Vec<u8> {
        drop(self.client);
        tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .unwrap_or_else(|_| panic!("{}: the client never closed its socket", self.what))
            .unwrap()
            .unwrap_or_else(|e| panic!("{}: the fake server's script failed: {e}", self.what))
    }
}

/// Starts a session with a fake server that completes a trust startup, then plays `script` (which
/// hands the peer back), then records what the client sends until it closes. `extra` settings follow `connect_timeout=10`.
async fn start_session<F, Fut>(transport: Transport, extra: &str, script: F) -> Session
where
    F: FnOnce(Arc<FakeServer>, FakePeer) -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<FakePeer>> + Send + 'static,
{
    let server = Arc::new(FakeServer::bind(transport));
    let config = server.config(&format!("connect_timeout=10 {extra}"));
    session_with(server, &config, script).await
}

/// [`start_session`] with a server and settings of the caller's.
async fn session_with<F, Fut>(server: Arc<FakeServer>, config: &Config, script: F) -> Session
where
    F: FnOnce(Arc<FakeServer>, FakePeer) -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<FakePeer>> + Send + 'static,
{
    let what = format!("{}", server.transport());
    let task = tokio::spawn(async move {
        let mut peer = server.accept().await?;
        peer.trust(PID, SECRET).await?;
        let mut peer = script(server, peer).await?;
        Ok(peer.read_to_end().await)
    });
    let client = Client::connect(config)
        .await
        .unwrap_or_else(|e| panic!("{what}: the fake session did not start: {}", report(&e)));
    Session {
        client,
        server: task,
        what,
    }
}

/// One query by `via` answered with `reply` (after the RowDescription of a simple query or the
/// BindComplete of an extended one, which the reply must not repeat unless it means to). The
/// query must fail with `kind` mentioning `fragments`, the connection must be closed (the next
/// query fails with `Closed` at once), and the client must send nothing more.
async fn expect_query_failure(
    transport: Transport,
    via: Via,
    reply: Vec<u8>,
    kind: ErrorKind,
    fragments: &[&str],
    what: &str,
) -> Error {
    query_failure(transport, via, reply, false, kind, fragments, what).await
}

/// [`expect_query_failure`], with the server ending its side of the stream after the reply when
/// `then_eof` is set.
async fn query_failure(
    transport: Transport,
    via: Via,
    reply: Vec<u8>,
    then_eof: bool,
    kind: ErrorKind,
    fragments: &[&str],
    what: &str,
) -> Error {
    let what = format!("{what} ({transport}, {via:?})");
    let head = row_head(via);
    let session = start_session(transport, "", move |_, mut peer| async move {
        take_query(&mut peer, via).await?;
        // The client may stop reading at the violation; the rest of the reply may not fit.
        let mut bytes = head;
        bytes.extend(reply);
        let _ = peer.send(&bytes).await;
        if then_eof {
            peer.close_write().await?;
        }
        Ok(peer)
    })
    .await;
    let err = run_query(&session.client, via)
        .await
        .expect_err(&format!("{what}: the query succeeded"));
    expect_error(&err, kind, fragments, &what);
    assert!(
        session.client.is_closed(),
        "{what}: the connection stayed open"
    );
    let next = run_query(&session.client, via).await.expect_err(&format!(
        "{what}: a query on the closed connection succeeded"
    ));
    assert_eq!(next.kind(), ErrorKind::Closed, "{what}: {}", report(&next));
    let rest = session.finish().await;
    expect_nothing_more(&rest, &what);
    err
}

/// Held by the cases that measure the process's memory, so that they do not count each other's
/// allocations.
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The process's resident set size, in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("no VmRSS in /proc/self/status");
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

// ---- control: the fake server speaks the protocol correctly ---------------------------------------

#[tokio::test]
async fn control_fake_server_serves_a_correct_session() {
    on_both(async |transport| {
        for via in VIAS {
            let head = row_head(via);
            let session = start_session(transport, "", move |_, mut peer| async move {
                take_query(&mut peer, via).await?;
                let mut reply = head;
                reply.extend(msg::data_row(&[Some(b"one")]));
                reply.extend(msg::data_row(&[None]));
                reply.extend(result_tail(2));
                peer.send(&reply).await?;
                Ok(peer)
            })
            .await;
            assert_eq!(session.client.process_id(), Some(PID));
            assert_eq!(
                session.client.parameter("server_version").as_deref(),
                Some("16.0 (fake)")
            );
            let rows = run_query(&session.client, via).await.unwrap();
            assert_eq!(
                rows,
                vec![Some("one".to_owned()), None],
                "{transport} {via:?}"
            );
            let rest = session.finish().await;
            assert_eq!(frontend_tags(&rest), b"X", "{transport} {via:?}");
        }
    })
    .await;
}

// ---- framing: message lengths, truncation, unknown types --------------------------------------

#[tokio::test]
async fn length_below_four_or_negative_at_startup() {
    on_both(async |transport| {
        for len in [0, 3, -1, i32::MIN] {
            expect_connect_failure(
                transport,
                "",
                async |peer| {
                    peer.startup().await?;
                    // A few body bytes too, so only the length can be at fault.
                    let mut bytes = msg::header(b'R', len);
                    bytes.extend_from_slice(&[0; 8]);
                    peer.send(&bytes).await
                },
                ErrorKind::Protocol,
                &[&format!("declares length {len}, below the minimum of 4")],
                &format!("'R' of length {len}"),
            )
            .await;
        }
    })
    .await;
}

#[tokio::test]
async fn length_below_four_or_negative_in_a_result() {
    on_both(async |transport| {
        for via in VIAS {
            for len in [0, 1, 3, -4, i32::MIN] {
                let mut reply = msg::header(b'D', len);
                reply.extend_from_slice(&[0; 16]);
                expect_query_failure(
                    transport,
                    via,
                    reply,
                    ErrorKind::Protocol,
                    &[&format!(
                        "'D' declares length {len}, below the minimum of 4"
                    )],
                    &format!("DataRow of length {len}"),
                )
                .await;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn length_of_a_gibibyte_or_more_is_refused_naming_the_limit() {
    on_both(async |transport| {
        // At startup, an authentication request and an error of 1 GiB.
        for (tag, limit) in [(b'R', SMALL_LIMIT), (b'E', ERROR_LIMIT)] {
            expect_connect_failure(
                transport,
                "",
                async |peer| {
                    peer.startup().await?;
                    peer.send(&msg::header(tag, 1 << 30)).await
                },
                ErrorKind::Protocol,
                &[&format!("above the limit of {limit} bytes")],
                &format!("'{}' of 1 GiB at startup", char::from(tag)),
            )
            .await;
        }
        // In a result: rows, notices and notifications of 1 GiB and of i32::MAX.
        for via in VIAS {
            for (tag, limit) in [
                (b'D', DEFAULT_LIMIT),
                (b'A', SMALL_LIMIT),
                (b'N', ERROR_LIMIT),
            ] {
                for len in [1 << 30, i32::MAX] {
                    expect_query_failure(
                        transport,
                        via,
                        msg::header(tag, len),
                        ErrorKind::Protocol,
                        &[&format!(
                            "'{}' declares length {len}, above the limit of {limit} bytes",
                            char::from(tag)
                        )],
                        &format!("'{}' of length {len}", char::from(tag)),
                    )
                    .await;
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn short_message_types_have_small_limits() {
    on_both(async |transport| {
        // Authentication, ParameterStatus and BackendKeyData at startup, just over 64 KiB.
        for (tag, authenticated) in [(b'R', false), (b'S', true), (b'K', true)] {
            expect_connect_failure(
                transport,
                "",
                async |peer| {
                    peer.startup().await?;
                    if authenticated {
                        peer.send(&msg::auth_ok()).await?;
                    }
                    peer.send(&msg::header(tag, 65_537)).await
                },
                ErrorKind::Protocol,
                &[&format!(
                    "declares length 65537, above the limit of {SMALL_LIMIT} bytes"
                )],
                &format!("'{}' of 65537 bytes", char::from(tag)),
            )
            .await;
        }
        // ReadyForQuery has exactly one status byte: length 5.
        expect_connect_failure(
            transport,
            "",
            async |peer| {
                peer.startup().await?;
                let mut bytes = msg::auth_ok();
                bytes.extend(msg::header(b'Z', 6));
                bytes.extend_from_slice(b"II");
                peer.send(&bytes).await
            },
            ErrorKind::Protocol,
            &["'Z' declares length 6, above the limit of 5 bytes"],
            "ReadyForQuery of length 6",
        )
        .await;
        for via in VIAS {
            // CommandComplete of 100 kB.
            expect_query_failure(
                transport,
                via,
                msg::header(b'C', 100_000),
                ErrorKind::Protocol,
                &[&format!(
                    "'C' declares length 100000, above the limit of {SMALL_LIMIT} bytes"
                )],
                "CommandComplete of 100 kB",
            )
            .await;
        }
        // An empty message with a body: BindComplete of length 5.
        let mut reply = msg::header(b'2', 5);
        reply.push(0);
        expect_query_failure(
            transport,
            Via::Extended,
            reply,
            ErrorKind::Protocol,
            &["'2' declares length 5, above the limit of 4 bytes"],
            "BindComplete of length 5",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn configured_message_limit_is_exact() {
    const LIMIT: usize = 1024 * 1024;
    on_both(async |transport| {
        for via in VIAS {
            // A row of exactly the limit (the length counts itself) is taken whole...
            let value = vec![b'x'; LIMIT - 4 - 2 - 4];
            let row = msg::data_row(&[Some(&value)]);
            assert_eq!(row.len(), LIMIT + 1);
            let server = Arc::new(FakeServer::bind(transport));
            let mut config = server.config("connect_timeout=10");
            config.max_message_size(LIMIT);
            let head = row_head(via);
            let session = session_with(server, &config, move |_, mut peer| async move {
                take_query(&mut peer, via).await?;
                let mut reply = head;
                reply.extend(row);
                reply.extend(result_tail(1));
                peer.send(&reply).await?;
                Ok(peer)
            })
            .await;
            let rows = run_query(&session.client, via).await.unwrap_or_else(|e| {
                panic!(
                    "{transport} {via:?}: a row of exactly the limit: {}",
                    report(&e)
                )
            });
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].as_deref().map(str::len), Some(value.len()));
            session.finish().await;

            // ... one byte more is refused at its header, naming the configured limit.
            let server = Arc::new(FakeServer::bind(transport));
            let mut config = server.config("connect_timeout=10");
            config.max_message_size(LIMIT);
            let head = row_head(via);
            let session = session_with(server, &config, move |_, mut peer| async move {
                take_query(&mut peer, via).await?;
                let mut reply = head;
                reply.extend(msg::header(b'D', i32::try_from(LIMIT + 1).unwrap()));
                let _ = peer.send(&reply).await;
                Ok(peer)
            })
            .await;
            let err = run_query(&session.client, via).await.unwrap_err();
            expect_error(
                &err,
                ErrorKind::Protocol,
                &["'D' declares length 1048577, above the limit of 1048576 bytes"],
                &format!("{transport} {via:?}"),
            );
            assert!(session.client.is_closed());
            session.finish().await;
        }
    })
    .await;
}

/// What the fake server does before its header and flood.
#[derive(Debug, Clone, Copy)]
enum FloodAt {
    /// Right after the StartupMessage.
    Startup,
    /// In the result of a simple query, after the RowDescription.
    Result,
}

/// A header that lies about its length, then zero bytes at full speed. The client must refuse the
/// header (or, within `limit`, the message once it is whole) and stop reading: the bytes the
/// server could write before the client closed (what the kernel's socket buffers hold, and
/// whatever the client read) stay far below the claim, and so does the process's memory growth.
async fn flood_case(
    transport: Transport,
    at: FloodAt,
    limit: Option<usize>,
    header: Vec<u8>,
    fragment: &str,
) {
    const BOUND: u64 = 64 * 1024 * 1024;
    let _measuring = MEASURING.lock().await;
    let what = format!("{at:?} {header:?}, limit {limit:?} ({transport})");
    let server = Arc::new(FakeServer::bind(transport));
    let mut config = server.config("connect_timeout=10");
    if let Some(limit) = limit {
        config.max_message_size(limit);
    }
    let written = Arc::new(AtomicU64::new(0));
    let flood = tokio::spawn({
        let server = server.clone();
        let written = written.clone();
        async move {
            let mut peer = server.accept().await?;
            match at {
                FloodAt::Startup => {
                    peer.startup().await?;
                }
                FloodAt::Result => {
                    peer.trust(PID, SECRET).await?;
                    peer.expect_query().await?;
                    peer.send(&msg::row_description(&[("v", TEXT_OID)])).await?;
                }
            }
            // Stops at 4 GiB if the client read everything: far over the bound.
            Ok::<_, io::Error>(peer.flood(&header, &written, 4 << 30).await)
        }
    });
    let rss_before = rss_bytes();
    let err = match at {
        FloodAt::Startup => Client::connect(&config).await.map(drop).unwrap_err(),
        FloodAt::Result => {
            let client = Client::connect(&config).await.unwrap();
            let err = client.simple_query(SQL).await.unwrap_err();
            // The connection stays open until the client is dropped: the server's writes block.
            tokio::time::sleep(Duration::from_millis(200)).await;
            err
        }
    };
    let growth = rss_bytes().saturating_sub(rss_before);
    let at_error = written.load(Ordering::Relaxed);
    expect_error(&err, ErrorKind::Protocol, &[fragment], &what);
    let end = tokio::time::timeout(Duration::from_secs(10), flood)
        .await
        .unwrap_or_else(|_| panic!("{what}: the flood never stopped: the client kept reading"))
        .unwrap()
        .unwrap();
    let total = written.load(Ordering::Relaxed);
    assert!(
        end.is_some(),
        "{what}: the client read the whole 4 GiB flood"
    );
    assert!(
        total < BOUND,
        "{what}: the server wrote {total} bytes before the client closed (at the error: {at_error})"
    );
    assert!(
        growth < BOUND,
        "{what}: the process grew by {growth} bytes while the client read the flood"
    );
}

#[tokio::test]
async fn lying_lengths_then_a_flood_at_full_speed_keep_memory_bounded() {
    on_both(async |transport| {
        flood_case(
            transport,
            FloodAt::Startup,
            None,
            msg::header(b'R', 1 << 30),
            &format!("above the limit of {SMALL_LIMIT} bytes"),
        )
        .await;
        flood_case(
            transport,
            FloodAt::Startup,
            None,
            msg::header(b'R', -1),
            "below the minimum of 4",
        )
        .await;
        for len in [1 << 30, i32::MAX] {
            flood_case(
                transport,
                FloodAt::Result,
                None,
                msg::header(b'D', len),
                &format!("above the limit of {DEFAULT_LIMIT} bytes"),
            )
            .await;
        }
        for len in [-1, 2] {
            flood_case(
                transport,
                FloodAt::Result,
                None,
                msg::header(b'D', len),
                "below the minimum of 4",
            )
            .await;
        }
        // A length within a configured limit of 8 MiB: the client takes the message whole, then
        // refuses its zero-filled body; what it read is bounded by the limit.
        flood_case(
            transport,
            FloodAt::Result,
            Some(8 << 20),
            msg::header(b'D', 8 << 20),
            "DataRow has 8388602 unexpected trailing byte(s)",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn truncated_message_then_end_of_stream() {
    on_both(async |transport| {
        // At startup: an AuthenticationOk cut inside its body, and a header cut short.
        for cut in [7, 3] {
            expect_connect_failure(
                transport,
                "",
                async |peer| {
                    peer.startup().await?;
                    peer.send(&msg::auth_ok()[..cut]).await?;
                    peer.close_write().await
                },
                ErrorKind::Io,
                &["closed the connection unexpectedly"],
                &format!("AuthenticationOk cut after {cut} bytes"),
            )
            .await;
        }
        // In a result: a row cut inside a value, and a header cut short.
        for via in VIAS {
            for cut in [12, 2] {
                let row = msg::data_row(&[Some(b"a value")]);
                let mut reply = msg::data_row(&[Some(b"whole")]);
                reply.extend_from_slice(&row[..cut]);
                query_failure(
                    transport,
                    via,
                    reply,
                    true,
                    ErrorKind::Io,
                    &["closed the connection unexpectedly"],
                    &format!("DataRow cut after {cut} bytes"),
                )
                .await;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn unknown_message_type() {
    on_both(async |transport| {
        for tag in [b'x', 0, 0xff] {
            expect_connect_failure(
                transport,
                "",
                async |peer| {
                    peer.startup().await?;
                    peer.send(&msg::message(tag, b"\0\0\0\0")).await
                },
                ErrorKind::Protocol,
                &["unknown backend message type"],
                &format!("type {tag:#04x} at startup"),
            )
            .await;
            for via in VIAS {
                let mut reply = msg::data_row(&[Some(b"fine")]);
                reply.extend(msg::message(tag, b"\0\0\0\0"));
                reply.extend(result_tail(1));
                expect_query_failure(
                    transport,
                    via,
                    reply,
                    ErrorKind::Protocol,
                    &["unknown backend message type"],
                    &format!("type {tag:#04x} in a result"),
                )
                .await;
            }
        }
    })
    .await;
}

// ---- rows -----------------------------------------------------------------------------------------

/// A DataRow body from a field count and raw field bytes.
fn raw_row(count: i16, fields: &[u8]) -> Vec<u8> {
    let mut body = count.to_be_bytes().to_vec();
    body.extend_from_slice(fields);
    msg::message(b'D', &body)
}

#[tokio::test]
async fn data_row_field_count_differs_from_the_row_description() {
    on_both(async |transport| {
        for via in VIAS {
            for fields in [
                vec![],
                vec![Some(&b"a"[..]), Some(b"b")],
                vec![None, None, None],
            ] {
                let mut reply = msg::data_row(&[Some(b"fine")]);
                reply.extend(msg::data_row(&fields));
                reply.extend(result_tail(2));
                expect_query_failure(
                    transport,
                    via,
                    reply,
                    ErrorKind::Protocol,
                    &[&format!(
                        "DataRow has {} field(s) but the RowDescription has 1 column(s)",
                        fields.len()
                    )],
                    &format!("DataRow of {} fields", fields.len()),
                )
                .await;
            }
            // A count far beyond what the message holds.
            let mut reply = raw_row(i16::MAX, &[0, 0, 0, 1, b'a']);
            reply.extend(result_tail(1));
            expect_query_failure(
                transport,
                via,
                reply,
                ErrorKind::Protocol,
                &["DataRow fields: count 32767 cannot fit"],
                "DataRow claiming 32767 fields",
            )
            .await;
        }
    })
    .await;
}

#[tokio::test]
async fn data_row_field_length_past_the_end_of_the_message() {
    on_both(async |transport| {
        for via in VIAS {
            for len in [6i32, 1000, i32::MAX] {
                let mut fields = len.to_be_bytes().to_vec();
                fields.extend_from_slice(b"abcde");
                let mut reply = raw_row(1, &fields);
                reply.extend(result_tail(1));
                expect_query_failure(
                    transport,
                    via,
                    reply,
                    ErrorKind::Protocol,
                    &["message ends inside DataRow field value"],
                    &format!("field length {len} with 5 bytes"),
                )
                .await;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn data_row_field_length_of_minus_two() {
    on_both(async |transport| {
        for via in VIAS {
            for len in [-2i32, i32::MIN] {
                let mut reply = raw_row(1, &len.to_be_bytes());
                reply.extend(result_tail(1));
                expect_query_failure(
                    transport,
                    via,
                    reply,
                    ErrorKind::Protocol,
                    &[&format!("invalid DataRow field length: {len}")],
                    &format!("field length {len}"),
                )
                .await;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn row_description_claiming_65535_fields_with_a_short_body() {
    on_both(async |transport| {
        // 65,535 is -1 as the protocol's signed Int16; 32,767 is the largest count it allows.
        for (count, fragment) in [
            (65_535u16, "invalid RowDescription field count: -1"),
            (
                32_767,
                "RowDescription fields: count 32767 cannot fit in the 20 byte(s) left",
            ),
        ] {
            let what = format!("RowDescription of {count} fields ({transport})");
            // One real field description follows the count; the others are missing.
            let one = msg::row_description(&[("v", TEXT_OID)]);
            let mut body = count.to_be_bytes().to_vec();
            body.extend_from_slice(&one[7..]);
            let bad = msg::message(b'T', &body);
            // A simple query's result starts with it.
            let mut reply = bad.clone();
            reply.extend(result_tail(0));
            let session = start_session(transport, "", move |_, mut peer| async move {
                peer.expect_query().await?;
                let _ = peer.send(&reply).await;
                Ok(peer)
            })
            .await;
            let err = session.client.simple_query(SQL).await.unwrap_err();
            expect_error(&err, ErrorKind::Protocol, &[fragment], &what);
            assert!(session.client.is_closed(), "{what}");
            expect_nothing_more(&session.finish().await, &what);
            // A prepared statement's description.
            let session = start_session(transport, "", move |_, mut peer| async move {
                peer.read_until_sync().await?;
                let mut reply = msg::parse_complete();
                reply.extend(msg::parameter_description(&[]));
                reply.extend(bad);
                reply.extend(msg::ready(b'I'));
                let _ = peer.send(&reply).await;
                Ok(peer)
            })
            .await;
            let err = session.client.prepare(SQL).await.unwrap_err();
            expect_error(&err, ErrorKind::Protocol, &[fragment], &what);
            assert!(session.client.is_closed(), "{what}");
            expect_nothing_more(&session.finish().await, &what);
        }
    })
    .await;
}

// ---- malformed messages -----------------------------------------------------------------------

#[tokio::test]
async fn error_and_notice_responses_without_their_terminator() {
    on_both(async |transport| {
        // The last field complete but no final zero byte; the last field cut before its NUL.
        let fields = b"SERROR\0VERROR\0C42000\0Mhostile".to_vec();
        let no_final_zero = [&fields[..], b"\0"].concat();
        for (body, fragment) in [
            (no_final_zero, "message ends inside"),
            (fields, "has no NUL terminator"),
        ] {
            for tag in [b'E', b'N'] {
                let name = if tag == b'E' {
                    "ErrorResponse"
                } else {
                    "NoticeResponse"
                };
                let message = msg::message(tag, &body);
                expect_connect_failure(
                    transport,
                    "",
                    async |peer| {
                        peer.startup().await?;
                        let mut bytes = msg::auth_ok();
                        bytes.extend(&message);
                        bytes.extend(msg::after_auth(PID, SECRET));
                        peer.send(&bytes).await
                    },
                    ErrorKind::Protocol,
                    &[name, fragment],
                    &format!("{name} without terminator at startup"),
                )
                .await;
                for via in VIAS {
                    let mut reply = msg::data_row(&[Some(b"fine")]);
                    reply.extend(&message);
                    reply.extend(result_tail(1));
                    expect_query_failure(
                        transport,
                        via,
                        reply,
                        ErrorKind::Protocol,
                        &[name, fragment],
                        &format!("{name} without terminator in a result"),
                    )
                    .await;
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn parameter_status_with_invalid_utf8() {
    on_both(async |transport| {
        for (name, value) in [
            ("TimeZone", &b"Europe/\xffaris"[..]),
            ("server_version", b"\xc3"),
        ] {
            let message = msg::parameter_status(name, value);
            expect_connect_failure(
                transport,
                "",
                async |peer| {
                    peer.startup().await?;
                    let mut bytes = msg::auth_ok();
                    bytes.extend(&message);
                    bytes.extend(msg::after_auth(PID, SECRET));
                    peer.send(&bytes).await
                },
                ErrorKind::Protocol,
                &["not valid UTF-8"],
                &format!("ParameterStatus {name} at startup"),
            )
            .await;
            for via in VIAS {
                let mut reply = msg::data_row(&[Some(b"fine")]);
                reply.extend(&message);
                reply.extend(result_tail(1));
                expect_query_failure(
                    transport,
                    via,
                    reply,
                    ErrorKind::Protocol,
                    &["not valid UTF-8"],
                    &format!("ParameterStatus {name} in a result"),
                )
                .await;
            }
        }
        // An invalid name, too.
        expect_connect_failure(
            transport,
            "",
            async |peer| {
                peer.startup().await?;
                let mut bytes = msg::auth_ok();
                bytes.extend(msg::message(b'S', b"Time\xfeZone\0UTC\0"));
                bytes.extend(msg::after_auth(PID, SECRET));
                peer.send(&bytes).await
            },
            ErrorKind::Protocol,
            &["not valid UTF-8"],
            "ParameterStatus with an invalid name",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn ready_for_query_with_an_unknown_status() {
    on_both(async |transport| {
        for status in [b'X', b'i', 0] {
            expect_connect_failure(
                transport,
                "",
                async |peer| {
                    peer.startup().await?;
                    let mut bytes = msg::auth_ok();
                    bytes.extend(msg::backend_key_data(PID, SECRET));
                    bytes.extend(msg::ready(status));
                    peer.send(&bytes).await
                },
                ErrorKind::Protocol,
                &[&format!("invalid ReadyForQuery status: {status}")],
                &format!("ReadyForQuery {status} at startup"),
            )
            .await;
            for via in VIAS {
                let mut reply = msg::data_row(&[Some(b"fine")]);
                reply.extend(msg::command_complete("SELECT 1"));
                reply.extend(msg::ready(status));
                expect_query_failure(
                    transport,
                    via,
                    reply,
                    ErrorKind::Protocol,
                    &[&format!("invalid ReadyForQuery status: {status}")],
                    &format!("ReadyForQuery {status} after a result"),
                )
                .await;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn messages_the_current_state_cannot_receive() {
    on_both(async |transport| {
        // At startup: a row, ReadyForQuery before authentication, a SCRAM final message without
        // SCRAM, a second authentication request after AuthenticationOk.
        for (bytes, got) in [
            (msg::data_row(&[Some(b"x")]), "DataRow"),
            (msg::ready(b'I'), "ReadyForQuery"),
            (msg::auth_sasl_final(b"v=AAAA"), "AuthenticationSASLFinal"),
            (
                [msg::auth_ok(), msg::auth_cleartext()].concat(),
                "AuthenticationCleartextPassword",
            ),
            (
                [
                    msg::auth_ok(),
                    msg::message(b'v', &[0, 3, 0, 0, 0, 0, 0, 0]),
                ]
                .concat(),
                "NegotiateProtocolVersion",
            ),
        ] {
            expect_connect_failure(
                transport,
                "password=secret",
                async |peer| {
                    peer.startup().await?;
                    peer.send(&bytes).await
                },
                ErrorKind::Protocol,
                &["expected", &format!("received {got}")],
                &format!("{got} at startup"),
            )
            .await;
        }
        // In results: messages of another flow.
        for via in VIAS {
            for (bytes, got) in [
                (msg::parse_complete(), "ParseComplete"),
                (msg::auth_ok(), "AuthenticationOk"),
                (msg::backend_key_data(1, *b"evil"), "BackendKeyData"),
                (msg::message(b'd', b"copy data"), "CopyData"),
            ] {
                let mut reply = msg::data_row(&[Some(b"fine")]);
                reply.extend(bytes);
                reply.extend(result_tail(1));
                expect_query_failure(
                    transport,
                    via,
                    reply,
                    ErrorKind::Protocol,
                    &[got],
                    &format!("{got} in a result"),
                )
                .await;
            }
        }
        // While idle: a row nobody asked for. The notification stream, reading the idle socket,
        // ends; the next query fails as closed, with the violation as its cause.
        let session = start_session(transport, "", move |_, mut peer| async move {
            peer.send(&msg::data_row(&[Some(b"unprompted")])).await?;
            Ok(peer)
        })
        .await;
        let next = tokio::time::timeout(
            Duration::from_secs(10),
            session.client.notifications().next(),
        )
        .await
        .expect("the notification stream did not end after an unprompted row");
        assert_eq!(next, None);
        let err = session.client.simple_query(SQL).await.unwrap_err();
        expect_error(
            &err,
            ErrorKind::Closed,
            &["received DataRow"],
            &format!("unprompted DataRow ({transport})"),
        );
        expect_nothing_more(&session.finish().await, "unprompted DataRow");
    })
    .await;
}

// ---- SCRAM ------------------------------------------------------------------------------------------

/// Settings for a SCRAM session: the password the fake server knows, SCRAM required.
fn scram_settings() -> String {
    format!("password={PASSWORD} require_auth=scram-sha-256")
}

/// Offers SCRAM-SHA-256 and reads the client-first message into `scram`.
async fn scram_begin(peer: &mut FakePeer, scram: &mut ScramServer) -> io::Result<()> {
    peer.startup().await?;
    peer.send(&msg::auth_sasl(&["SCRAM-SHA-256"])).await?;
    let initial = peer.expect(b'p').await?;
    scram.client_first(&initial).map_err(io::Error::other)
}

/// Sends `server_first`, reads the client-final message and checks its proof; returns the
/// server signature and the client-final message.
async fn scram_middle(
    peer: &mut FakePeer,
    scram: &ScramServer,
    server_first: &str,
) -> io::Result<([u8; 32], Vec<u8>)> {
    peer.send(&msg::auth_sasl_continue(server_first.as_bytes()))
        .await?;
    let response = peer.expect(b'p').await?;
    let signature = scram.client_final(&response).map_err(io::Error::other)?;
    Ok((signature, response))
}

/// A new exchange with the fake server's stored password.
fn scram_server() -> ScramServer {
    ScramServer::new(PASSWORD, SALT, ITERATIONS)
}

#[tokio::test]
async fn control_a_correct_scram_exchange_succeeds() {
    on_both(async |transport| {
        let server = Arc::new(FakeServer::bind(transport));
        let mut config = server.config(&format!("connect_timeout=10 {}", scram_settings()));
        // The cap is inclusive: the fake server's own count is accepted.
        config.max_scram_iterations(ITERATIONS);
        let script = tokio::spawn({
            let server = server.clone();
            async move {
                let mut peer = server.accept().await?;
                let mut scram = scram_server();
                scram_begin(&mut peer, &mut scram).await?;
                let first = scram.server_first();
                let (signature, _) = scram_middle(&mut peer, &scram, &first).await?;
                let final_message = format!("v={}", base64(&signature));
                peer.send(&msg::auth_sasl_final(final_message.as_bytes()))
                    .await?;
                peer.send(&msg::session_start(PID, SECRET)).await?;
                take_query(&mut peer, Via::Simple).await?;
                let mut reply = row_head(Via::Simple);
                reply.extend(msg::data_row(&[Some(b"authenticated")]));
                reply.extend(result_tail(1));
                peer.send(&reply).await?;
                Ok::<_, io::Error>(peer.read_to_end().await)
            }
        });
        let client = Client::connect(&config)
            .await
            .unwrap_or_else(|e| panic!("{transport}: {}", report(&e)));
        let rows = run_query(&client, Via::Simple).await.unwrap();
        assert_eq!(rows, vec![Some("authenticated".to_owned())]);
        drop(client);
        let rest = script.await.unwrap().unwrap();
        assert_eq!(frontend_tags(&rest), b"X");
    })
    .await;
}

#[tokio::test]
async fn scram_server_nonce_must_extend_the_clients() {
    on_both(async |transport| {
        for variant in [
            "another nonce",
            "the client's nonce alone",
            "a prefix of it",
        ] {
            expect_connect_failure(
                transport,
                &scram_settings(),
                async |peer| {
                    let mut scram = scram_server();
                    scram_begin(peer, &mut scram).await?;
                    let client_nonce = scram.client_nonce().to_owned();
                    let nonce = match variant {
                        "another nonce" => "c2VydmVyLWNob3Nlbi1ub25jZQ".to_owned(),
                        "the client's nonce alone" => client_nonce,
                        _ => client_nonce[..client_nonce.len() - 1].to_owned(),
                    };
                    let first = scram.custom_server_first(&nonce, &base64(SALT), "4096");
                    // The client must stop here: no client-final message.
                    peer.send(&msg::auth_sasl_continue(first.as_bytes())).await
                },
                ErrorKind::Authentication,
                &["nonce does not extend the client's nonce"],
                &format!("server nonce: {variant}"),
            )
            .await;
        }
    })
    .await;
}

#[tokio::test]
async fn scram_wrong_server_signature_stops_the_client() {
    on_both(async |transport| {
        for variant in ["one bit flipped", "another key's", "empty", "too short"] {
            expect_connect_failure(
                transport,
                &scram_settings(),
                async |peer| {
                    let mut scram = scram_server();
                    scram_begin(peer, &mut scram).await?;
                    let first = scram.server_first();
                    let (signature, response) = scram_middle(peer, &scram, &first).await?;
                    let forged: Vec<u8> = match variant {
                        "one bit flipped" => {
                            let mut s = signature.to_vec();
                            s[31] ^= 1;
                            s
                        }
                        // What a server that stored another password would send.
                        "another key's" => {
                            scram.signature_with_password("wrong", &response).to_vec()
                        }
                        "empty" => Vec::new(),
                        _ => signature[..31].to_vec(),
                    };
                    let final_message = format!("v={}", base64(&forged));
                    // An impostor goes on as if authentication had succeeded.
                    let mut bytes = msg::auth_sasl_final(final_message.as_bytes());
                    bytes.extend(msg::session_start(PID, SECRET));
                    peer.send(&bytes).await
                },
                ErrorKind::Authentication,
                &["signature is wrong"],
                &format!("server signature: {variant}"),
            )
            .await;
        }
    })
    .await;
}

#[tokio::test]
async fn scram_authentication_ok_before_the_server_final_message_is_refused() {
    on_both(async |transport| {
        for after_client_final in [true, false] {
            expect_connect_failure(
                transport,
                &scram_settings(),
                async |peer| {
                    let mut scram = scram_server();
                    scram_begin(peer, &mut scram).await?;
                    if after_client_final {
                        let first = scram.server_first();
                        scram_middle(peer, &scram, &first).await?;
                    }
                    // AuthenticationOk without the server ever proving it knows the password.
                    peer.send(&msg::session_start(PID, SECRET)).await
                },
                ErrorKind::Authentication,
                &["before proving it knows the password"],
                &format!("AuthenticationOk (client-final sent: {after_client_final})"),
            )
            .await;
        }
    })
    .await;
}

/// A fake server that answers the client-first message with a server-first message carrying
/// `iterations` as given; the client must refuse it without sending its final message.
async fn refuse_iterations(
    transport: Transport,
    iterations: &str,
    cap: Option<u32>,
    fragment: &str,
) {
    let what = format!("i={iterations}, cap {cap:?} ({transport})");
    let server = FakeServer::bind(transport);
    let mut config = server.config(&format!("connect_timeout=10 {}", scram_settings()));
    if let Some(cap) = cap {
        config.max_scram_iterations(cap);
    }
    let started = Instant::now();
    let (err, rest) = connect_with(&server, &config, async |peer| {
        let mut scram = scram_server();
        scram_begin(peer, &mut scram).await?;
        let nonce = format!("{}srv", scram.client_nonce());
        let first = scram.custom_server_first(&nonce, &base64(SALT), iterations);
        peer.send(&msg::auth_sasl_continue(first.as_bytes())).await
    })
    .await;
    let elapsed = started.elapsed();
    expect_error(&err, ErrorKind::Authentication, &[fragment], &what);
    expect_nothing_more(&rest, &what);
    // Refused before any key derivation: a derivation of 2^31 iterations takes minutes.
    assert!(
        elapsed < Duration::from_secs(2),
        "{what}: refused only after {elapsed:?}"
    );
}

#[tokio::test]
async fn scram_iteration_count_of_zero_is_refused() {
    on_both(async |transport| {
        for cap in [None, Some(u32::MAX)] {
            refuse_iterations(transport, "0", cap, "asked for 0 SCRAM iterations").await;
        }
    })
    .await;
}

#[tokio::test]
async fn scram_iteration_counts_above_the_cap_are_refused_at_once() {
    on_both(async |transport| {
        for (iterations, cap) in [
            ("2147483648", None),
            ("4294967296", None),
            ("4294967296", Some(u32::MAX)),
            ("4097", Some(4096)),
            ("99999999999999999999999999", Some(u32::MAX)),
        ] {
            refuse_iterations(
                transport,
                iterations,
                cap,
                "SCRAM iterations; accepted range is 1 to",
            )
            .await;
        }
    })
    .await;
}

#[test]
fn scram_key_derivation_leaves_a_current_thread_runtime_free_and_connect_timeout_fires() {
    // The case runs on a current-thread runtime in a thread of its own: if the derivation blocked
    // that thread, neither its timers nor the case's own timeout could fire, so the test thread
    // waits for it with a deadline of its own.
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(derivation_case())
        }));
        let _ = done.send(result);
        // The abandoned derivation (2^31 iterations) keeps a blocking thread busy for a long
        // time: do not wait for it.
        runtime.shutdown_background();
    });
    match outcome.recv_timeout(CASE_LIMIT) {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the current-thread runtime was blocked for {CASE_LIMIT:?}"),
    }
}

async fn derivation_case() {
    let server = FakeServer::bind(Transport::Unix);
    let mut config = server.config(&format!("connect_timeout=2 {}", scram_settings()));
    config.max_scram_iterations(u32::MAX);
    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            let mut interval = tokio::time::interval(Duration::from_millis(50));
            loop {
                interval.tick().await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let started = Instant::now();
    let (err, rest) = connect_with(&server, &config, async |peer| {
        let mut scram = scram_server();
        scram_begin(peer, &mut scram).await?;
        let nonce = format!("{}srv", scram.client_nonce());
        let first = scram.custom_server_first(&nonce, &base64(SALT), "2147483648");
        peer.send(&msg::auth_sasl_continue(first.as_bytes())).await
    })
    .await;
    let elapsed = started.elapsed();
    let ticks = ticks.load(Ordering::Relaxed);
    ticker.abort();
    // Accepted (the cap allows it), so the derivation ran until connect_timeout stopped waiting.
    expect_error(
        &err,
        ErrorKind::Timeout,
        &["timed out after 2 s"],
        "2^31 iterations",
    );
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(6),
        "connect_timeout of 2 s fired after {elapsed:?}"
    );
    // About 40 ticks of 50 ms in 2 s: the runtime's only thread stayed free.
    assert!(
        ticks >= 25,
        "{ticks} timer ticks of 50 ms in {elapsed:?}: the runtime was blocked"
    );
    assert!(
        rest.is_empty(),
        "the derivation of 2^31 iterations finished?"
    );
}

#[tokio::test]
async fn scram_malformed_base64_is_refused() {
    on_both(async |transport| {
        for salt in ["@@@@", "QUJD=", "QU=D", "Zm8=Zm8="] {
            expect_connect_failure(
                transport,
                &scram_settings(),
                async |peer| {
                    let mut scram = scram_server();
                    scram_begin(peer, &mut scram).await?;
                    let nonce = format!("{}srv", scram.client_nonce());
                    let first = scram.custom_server_first(&nonce, salt, "4096");
                    peer.send(&msg::auth_sasl_continue(first.as_bytes())).await
                },
                ErrorKind::Authentication,
                &["salt is not valid base64"],
                &format!("salt {salt:?}"),
            )
            .await;
        }
        for signature in [
            "@@@@",
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",
            "AA=A",
        ] {
            expect_connect_failure(
                transport,
                &scram_settings(),
                async |peer| {
                    let mut scram = scram_server();
                    scram_begin(peer, &mut scram).await?;
                    let first = scram.server_first();
                    scram_middle(peer, &scram, &first).await?;
                    let mut bytes = msg::auth_sasl_final(format!("v={signature}").as_bytes());
                    bytes.extend(msg::session_start(PID, SECRET));
                    peer.send(&bytes).await
                },
                ErrorKind::Authentication,
                &["signature is not valid base64"],
                &format!("signature {signature:?}"),
            )
            .await;
        }
    })
    .await;
}

#[tokio::test]
async fn scram_server_final_error_reaches_the_user() {
    on_both(async |transport| {
        for error in ["invalid-proof", "other-error"] {
            expect_connect_failure(
                transport,
                &scram_settings(),
                async |peer| {
                    let mut scram = scram_server();
                    scram_begin(peer, &mut scram).await?;
                    let first = scram.server_first();
                    scram_middle(peer, &scram, &first).await?;
                    let mut bytes = msg::auth_sasl_final(format!("e={error}").as_bytes());
                    bytes.extend(msg::session_start(PID, SECRET));
                    peer.send(&bytes).await
                },
                ErrorKind::Authentication,
                &[&format!("the server rejected the SCRAM exchange: {error}")],
                &format!("e={error}"),
            )
            .await;
        }
    })
    .await;
}

// ---- downgrade --------------------------------------------------------------------------------------

#[tokio::test]
async fn downgrade_to_a_password_is_refused_without_sending_it() {
    on_both(async |transport| {
        for (request, method) in [
            (msg::auth_cleartext(), "password"),
            (msg::auth_md5(*b"salt"), "md5"),
        ] {
            // The client must not answer with the password (or its hash): nothing at all.
            expect_connect_failure(
                transport,
                &scram_settings(),
                async |peer| {
                    peer.startup().await?;
                    peer.send(&request).await
                },
                ErrorKind::Authentication,
                &[&format!(
                    "authentication method \"{method}\", which require_auth=scram-sha-256 does not allow"
                )],
                &format!("downgrade to {method}"),
            )
            .await;
        }
    })
    .await;
}

#[tokio::test]
async fn downgrade_to_no_authentication_is_refused() {
    on_both(async |transport| {
        expect_connect_failure(
            transport,
            &scram_settings(),
            async |peer| {
                peer.startup().await?;
                peer.send(&msg::session_start(PID, SECRET)).await
            },
            ErrorKind::Authentication,
            &["authentication method \"none\", which require_auth=scram-sha-256 does not allow"],
            "AuthenticationOk straight away",
        )
        .await;
        // A SASL offer without SCRAM-SHA-256 (only the channel-binding variant) is no way round.
        expect_connect_failure(
            transport,
            &scram_settings(),
            async |peer| {
                peer.startup().await?;
                peer.send(&msg::auth_sasl(&["SCRAM-SHA-256-PLUS"])).await
            },
            ErrorKind::Authentication,
            &["SCRAM-SHA-256-PLUS"],
            "SASL without SCRAM-SHA-256",
        )
        .await;
    })
    .await;
}

// ---- silence, stalls and a closed stream ----------------------------------------------------------

#[tokio::test]
async fn silent_server_connect_timeout_fires() {
    on_both(async |transport| {
        for stall in [
            "before reading the startup",
            "after the startup",
            "after AuthenticationOk",
            "sending ParameterStatus without end",
        ] {
            let what = format!("silent {stall} ({transport})");
            let started = Instant::now();
            let (err, rest) = connect_case(transport, "connect_timeout=2", async |peer| {
                match stall {
                    "before reading the startup" => {}
                    "after the startup" => {
                        peer.startup().await?;
                    }
                    "sending ParameterStatus without end" => {
                        // A startup that never ends: a parameter every 10 ms until the client
                        // hangs up.
                        peer.startup().await?;
                        peer.send(&msg::auth_ok()).await?;
                        for i in 0u64.. {
                            let bytes = msg::parameter_status(
                                "application_name",
                                format!("p{i}").as_bytes(),
                            );
                            if peer.send(&bytes).await.is_err() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                    _ => {
                        peer.startup().await?;
                        let mut bytes = msg::auth_ok();
                        bytes.extend(msg::parameter_status("client_encoding", b"UTF8"));
                        peer.send(&bytes).await?;
                    }
                }
                Ok(())
            })
            .await;
            let elapsed = started.elapsed();
            expect_error(&err, ErrorKind::Timeout, &["timed out after 2 s"], &what);
            assert!(
                elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(6),
                "{what}: connect_timeout of 2 s fired after {elapsed:?}"
            );
            if stall != "before reading the startup" && !stall.contains("without end") {
                expect_nothing_more(&rest, &what);
            }
        }
    })
    .await;
}

/// What the stalled server does with the client's CancelRequest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnCancel {
    /// Closes the cancel connection and ends the query with 57014.
    Honour,
    /// Closes the cancel connection and goes on stalling.
    Ignore,
    /// Keeps the cancel connection open, saying nothing, and goes on stalling.
    HoldOpen,
}

/// The query stalls after its first row. The query timeout must fire and the client must send a
/// CancelRequest carrying the session's BackendKeyData on a new connection. When the server
/// honours it and ends the query (57014), the connection must stay usable; otherwise the client
/// must give up after its grace period and close the connection.
async fn stalled_result(transport: Transport, via: Via, on_cancel: OnCancel) {
    let honour = on_cancel == OnCancel::Honour;
    let what = format!("stalled result ({transport}, {via:?}, cancel: {on_cancel:?})");
    let server = Arc::new(FakeServer::bind(transport));
    let mut config = server.config("connect_timeout=10");
    config.query_timeout(Duration::from_millis(500));
    let session = session_with(server, &config, move |server, mut peer| async move {
        take_query(&mut peer, via).await?;
        let mut first = row_head(via);
        first.extend(msg::data_row(&[Some(b"first")]));
        peer.send(&first).await?;
        // The stall: the next connection must be the cancel request.
        let mut canceller = tokio::time::timeout(Duration::from_secs(5), server.accept())
            .await
            .map_err(|_| io::Error::other("no cancel request came within 5 s"))??;
        let packet = canceller.first_packet().await?;
        if on_cancel == OnCancel::HoldOpen {
            // Far longer than the client may wait.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(20)).await;
                drop(canceller);
            });
        } else {
            drop(canceller);
        }
        let mut expected = 16i32.to_be_bytes().to_vec();
        expected.extend_from_slice(&80_877_102i32.to_be_bytes());
        expected.extend_from_slice(&PID.to_be_bytes());
        expected.extend_from_slice(&SECRET);
        match packet {
            FirstPacket::Cancel {
                process_id,
                secret,
                raw,
            } if process_id == PID && secret == SECRET && raw == expected => {}
            other => {
                return Err(io::Error::other(format!(
                    "not the session's CancelRequest: {other:?}"
                )));
            }
        }
        if honour {
            let mut reply = msg::error_response(&[
                (b'S', "ERROR"),
                (b'V', "ERROR"),
                (b'C', "57014"),
                (b'M', "canceling statement due to user request"),
            ]);
            reply.extend(msg::ready(b'I'));
            peer.send(&reply).await?;
            // The client brings the connection back in step with a Sync (a simple query's
            // dropped writer sends a CopyFail first, which a server outside COPY ignores).
            loop {
                match peer.read_message().await? {
                    Some(m) if m.tag == b'f' => {}
                    Some(m) if m.tag == b'S' => break,
                    other => {
                        return Err(io::Error::other(format!(
                            "expected Sync after the cancel, got {other:?}"
                        )));
                    }
                }
            }
            peer.send(&msg::ready(b'I')).await?;
            take_query(&mut peer, Via::Simple).await?;
            let mut reply = row_head(Via::Simple);
            reply.extend(msg::data_row(&[Some(b"after")]));
            reply.extend(result_tail(1));
            peer.send(&reply).await?;
        }
        Ok(peer)
    })
    .await;
    let started = Instant::now();
    let err = run_query(&session.client, via)
        .await
        .expect_err(&format!("{what}: the stalled query succeeded"));
    let elapsed = started.elapsed();
    expect_error(
        &err,
        ErrorKind::Timeout,
        &["did not finish within 0.5 s"],
        &what,
    );
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(4),
        "{what}: the query timeout of 0.5 s fired after {elapsed:?}"
    );
    if honour {
        assert!(
            !session.client.is_closed(),
            "{what}: closed after a clean cancel"
        );
        let rows = run_query(&session.client, Via::Simple)
            .await
            .unwrap_or_else(|e| panic!("{what}: the next query: {}", report(&e)));
        assert_eq!(rows, vec![Some("after".to_owned())], "{what}");
    } else {
        expect_error(
            &err,
            ErrorKind::Timeout,
            &["the connection was closed"],
            &what,
        );
        assert!(session.client.is_closed(), "{what}: still open");
    }
    let rest = session.finish().await;
    if honour {
        expect_nothing_more(&rest, &what);
    } else {
        // The Sync that was to bring the connection back in step (never answered; not sent
        // while the cancel connection is held open), then the Terminate: no new request.
        let tags: Vec<u8> = frontend_tags(&rest)
            .into_iter()
            .filter(|&t| t != b'f')
            .collect();
        let expected: [&[u8]; 2] = match on_cancel {
            OnCancel::HoldOpen => [b"X", b""],
            _ => [b"SX", b"S"],
        };
        assert!(
            expected.contains(&&tags[..]),
            "{what}: the client sent {:?} after the cancel",
            String::from_utf8_lossy(&tags)
        );
    }
}

#[tokio::test]
async fn stalled_result_query_timeout_sends_the_sessions_cancel_request() {
    on_both(async |transport| {
        for via in VIAS {
            stalled_result(transport, via, OnCancel::Honour).await;
        }
    })
    .await;
}

#[tokio::test]
async fn stalled_result_that_ignores_or_holds_the_cancel_gets_the_connection_closed() {
    on_both(async |transport| {
        for via in VIAS {
            stalled_result(transport, via, OnCancel::Ignore).await;
            stalled_result(transport, via, OnCancel::HoldOpen).await;
        }
    })
    .await;
}

#[tokio::test]
async fn server_closing_in_the_middle_of_a_data_row_stream() {
    const ROWS: usize = 50;
    on_both(async |transport| {
        for via in VIAS {
            let what = format!("closed mid-stream ({transport}, {via:?})");
            let session = start_session(transport, "", move |_, mut peer| async move {
                take_query(&mut peer, via).await?;
                let mut reply = row_head(via);
                for i in 0..ROWS {
                    reply.extend(msg::data_row(&[Some(format!("row {i}").as_bytes())]));
                }
                let last = msg::data_row(&[Some(b"never complete")]);
                reply.extend_from_slice(&last[..last.len() / 2]);
                peer.send(&reply).await?;
                peer.close_write().await?;
                Ok(peer)
            })
            .await;
            let mut rows = Vec::new();
            let err = match via {
                Via::Simple => {
                    let mut stream = session.client.simple_query_stream(SQL).await.unwrap();
                    loop {
                        match stream.next().await {
                            Some(Ok(SimpleQueryMessage::Row(row))) => {
                                rows.push(row.get(0).unwrap().to_owned())
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => break e,
                            None => panic!("{what}: the stream ended without an error"),
                        }
                    }
                }
                Via::Extended => {
                    let mut stream = session.client.query_raw(SQL, &[]).await.unwrap();
                    loop {
                        match stream.next().await {
                            Some(Ok(row)) => rows.push(row.get::<_, String>(0)),
                            Some(Err(e)) => break e,
                            None => panic!("{what}: the stream ended without an error"),
                        }
                    }
                }
            };
            let expected: Vec<String> = (0..ROWS).map(|i| format!("row {i}")).collect();
            assert_eq!(rows, expected, "{what}");
            expect_error(
                &err,
                ErrorKind::Io,
                &["closed the connection unexpectedly"],
                &what,
            );
            assert!(session.client.is_closed(), "{what}");
            let next = run_query(&session.client, via).await.unwrap_err();
            assert_eq!(next.kind(), ErrorKind::Closed, "{what}: {}", report(&next));
            let rest = session.finish().await;
            expect_nothing_more(&rest, &what);
        }
    })
    .await;
}

// ---- floods of asynchronous messages ----------------------------------------------------------------

/// The notice of the flood's gap `i`, number `j`: texts of varied length, with non-ASCII letters.
fn flood_notice(i: usize, j: usize) -> (String, String) {
    let message = format!("notice {i}.{j} ünïcödé {}", "~".repeat((i * 7 + j) % 300));
    (message, format!("gap {i}"))
}

/// The notification of the flood's gap `i`, number `j`.
fn flood_notification(i: usize, j: usize) -> Notification {
    Notification {
        process_id: PID + 1 + i32::try_from(j).unwrap(),
        channel: format!("chan_{j}"),
        payload: format!("payload {i}.{j} {}", "é".repeat(i % 40)),
    }
}

/// `per_gap` notices and notifications for gap `i`, interleaved, with what they must arrive as.
fn flood_gap(
    i: usize,
    per_gap: usize,
    bytes: &mut Vec<u8>,
    notices: &mut Vec<(String, String)>,
    notifications: &mut Vec<Notification>,
) {
    for j in 0..per_gap {
        let (message, detail) = flood_notice(i, j);
        bytes.extend(msg::notice_response(&[
            (b'S', "NOTICE"),
            (b'V', "NOTICE"),
            (b'C', "00000"),
            (b'M', &message),
            (b'D', &detail),
        ]));
        notices.push((message, detail));
        let notification = flood_notification(i, j);
        bytes.extend(msg::notification(
            notification.process_id,
            &notification.channel,
            &notification.payload,
        ));
        notifications.push(notification);
    }
}

/// Collects the notices the client's handler receives.
fn capture_notices(client: &Client) -> Arc<Mutex<Vec<(String, String)>>> {
    let notices = Arc::new(Mutex::new(Vec::new()));
    let sink = notices.clone();
    client.set_notice_handler(move |notice| {
        assert_eq!(notice.severity(), "NOTICE");
        assert_eq!(notice.code().code(), "00000");
        sink.lock().unwrap().push((
            notice.message().to_owned(),
            notice.detail().unwrap_or_default().to_owned(),
        ));
    });
    notices
}

/// Takes `count` notifications from the client's stream, or fewer if it ends.
async fn take_notifications(client: &Client, count: usize) -> Vec<Notification> {
    let mut stream = client.notifications();
    let mut got = Vec::new();
    while got.len() < count {
        match stream.next().await {
            Some(notification) => got.push(notification),
            None => break,
        }
    }
    got
}

#[tokio::test]
async fn notice_and_notification_flood_between_rows_arrives_intact() {
    const ROWS: usize = 200;
    const PER_GAP: usize = 5;
    on_both(async |transport| {
        for via in VIAS {
            let what = format!("flood between rows ({transport}, {via:?})");
            let mut reply = row_head(via);
            let mut notices = Vec::new();
            let mut notifications = Vec::new();
            let mut rows = Vec::new();
            for i in 0..ROWS {
                flood_gap(i, PER_GAP, &mut reply, &mut notices, &mut notifications);
                let value = format!("row {i}");
                reply.extend(msg::data_row(&[Some(value.as_bytes())]));
                rows.push(Some(value));
            }
            flood_gap(ROWS, PER_GAP, &mut reply, &mut notices, &mut notifications);
            reply.extend(msg::command_complete(&format!("SELECT {ROWS}")));
            flood_gap(
                ROWS + 1,
                PER_GAP,
                &mut reply,
                &mut notices,
                &mut notifications,
            );
            reply.extend(msg::ready(b'I'));
            let session = start_session(transport, "", move |_, mut peer| async move {
                take_query(&mut peer, via).await?;
                peer.send(&reply).await?;
                Ok(peer)
            })
            .await;
            let got_notices = capture_notices(&session.client);
            // Notifications are taken as they come, while the query runs.
            let (got_rows, got_notifications) = tokio::join!(
                run_query(&session.client, via),
                tokio::time::timeout(
                    Duration::from_secs(10),
                    take_notifications(&session.client, notifications.len())
                )
            );
            let got_rows = got_rows.unwrap_or_else(|e| panic!("{what}: {}", report(&e)));
            assert_eq!(got_rows, rows, "{what}");
            let got_notifications = got_notifications
                .unwrap_or_else(|_| panic!("{what}: notifications missing after the query"));
            assert_eq!(got_notifications.len(), notifications.len(), "{what}");
            assert!(
                got_notifications == notifications,
                "{what}: notifications altered"
            );
            let got_notices = got_notices.lock().unwrap().clone();
            assert_eq!(got_notices.len(), notices.len(), "{what}");
            assert!(got_notices == notices, "{what}: notices altered");
            assert!(!session.client.is_closed());
            session.finish().await;
        }
    })
    .await;
}

#[tokio::test]
async fn notice_and_notification_flood_while_idle_arrives_intact() {
    const GAPS: usize = 500;
    const PER_GAP: usize = 4;
    on_both(async |transport| {
        let what = format!("flood while idle ({transport})");
        let mut flood = Vec::new();
        let mut notices = Vec::new();
        let mut notifications = Vec::new();
        for i in 0..GAPS {
            flood_gap(i, PER_GAP, &mut flood, &mut notices, &mut notifications);
        }
        let session = start_session(transport, "", move |_, mut peer| async move {
            peer.send(&flood).await?;
            take_query(&mut peer, Via::Simple).await?;
            let mut reply = row_head(Via::Simple);
            reply.extend(msg::data_row(&[Some(b"after the flood")]));
            reply.extend(result_tail(1));
            peer.send(&reply).await?;
            Ok(peer)
        })
        .await;
        let got_notices = capture_notices(&session.client);
        let got_notifications = tokio::time::timeout(
            Duration::from_secs(10),
            take_notifications(&session.client, notifications.len()),
        )
        .await
        .unwrap_or_else(|_| panic!("{what}: notifications missing"));
        assert_eq!(got_notifications.len(), notifications.len(), "{what}");
        assert!(
            got_notifications == notifications,
            "{what}: notifications altered"
        );
        // Each notice came just before a notification, so all of them were handled by now.
        let got_notices = got_notices.lock().unwrap().clone();
        assert_eq!(got_notices.len(), notices.len(), "{what}");
        assert!(got_notices == notices, "{what}: notices altered");
        let rows = run_query(&session.client, Via::Simple).await.unwrap();
        assert_eq!(rows, vec![Some("after the flood".to_owned())], "{what}");
        session.finish().await;
    })
    .await;
}

#[tokio::test]
async fn endless_notices_in_a_result_do_not_hold_off_the_query_timeout() {
    on_both(async |transport| {
        let what = format!("endless notices ({transport})");
        let server = Arc::new(FakeServer::bind(transport));
        let mut config = server.config("connect_timeout=10");
        config.query_timeout(Duration::from_millis(500));
        let cancels = Arc::new(AtomicU64::new(0));
        let counted = cancels.clone();
        let session = session_with(server, &config, move |server, mut peer| async move {
            take_query(&mut peer, Via::Simple).await?;
            // Cancel requests are taken (and ignored) beside the flood.
            let canceller = tokio::spawn(async move {
                while let Ok(mut cancel) = server.accept().await {
                    if let Ok(FirstPacket::Cancel {
                        process_id: PID, ..
                    }) = cancel.first_packet().await
                    {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            let mut first = row_head(Via::Simple);
            first.extend(msg::data_row(&[Some(b"first")]));
            peer.send(&first).await?;
            let notice =
                msg::notice_response(&[(b'S', "NOTICE"), (b'C', "00000"), (b'M', "still working")]);
            let notices = notice.repeat(64);
            // As fast as the client reads, until it hangs up.
            while peer.send(&notices).await.is_ok() {}
            canceller.abort();
            Ok(peer)
        })
        .await;
        let notices = Arc::new(AtomicU64::new(0));
        let seen = notices.clone();
        session.client.set_notice_handler(move |_| {
            seen.fetch_add(1, Ordering::Relaxed);
        });
        let started = Instant::now();
        let err = run_query(&session.client, Via::Simple)
            .await
            .expect_err(&format!("{what}: the endless query succeeded"));
        let elapsed = started.elapsed();
        expect_error(
            &err,
            ErrorKind::Timeout,
            &["did not finish within 0.5 s"],
            &what,
        );
        // 0.5 s, then up to 1 s for the cancel to take effect, then the connection is closed.
        assert!(
            elapsed < Duration::from_secs(4),
            "{what}: the query timeout of 0.5 s fired after {elapsed:?}"
        );
        assert!(session.client.is_closed(), "{what}: still open");
        assert!(
            notices.load(Ordering::Relaxed) > 0,
            "{what}: no notice was read, so the flood was not met"
        );
        session.finish().await;
        assert_eq!(
            cancels.load(Ordering::Relaxed),
            1,
            "{what}: cancel requests"
        );
    })
    .await;
}

/// 100,000 distinct parameters of 1 kB each, at startup or in the middle of a result: 100 MB that
/// a client keeping every reported parameter would hold for the life of the connection. The
/// client may refuse the flood (a protocol error) or take it, but must not keep it.
async fn parameter_flood(transport: Transport, at_startup: bool) {
    const PARAMETERS: usize = 100_000;
    const BOUND: u64 = 64 * 1024 * 1024;
    let _measuring = MEASURING.lock().await;
    let what = format!("ParameterStatus flood (at startup: {at_startup}, {transport})");
    let flood = move || {
        let value = vec![b'v'; 1000];
        (0..PARAMETERS).map(move |i| msg::parameter_status(&format!("hostile.p{i}"), &value))
    };
    let server = Arc::new(FakeServer::bind(transport));
    let config = server.config("connect_timeout=10");
    let script = tokio::spawn({
        let server = server.clone();
        async move {
            let mut peer = server.accept().await?;
            peer.startup().await?;
            if at_startup {
                peer.send(&msg::auth_ok()).await?;
                for message in flood() {
                    peer.send(&message).await?;
                }
                peer.send(&msg::after_auth(PID, SECRET)).await?;
            } else {
                peer.send(&msg::session_start(PID, SECRET)).await?;
            }
            take_query(&mut peer, Via::Simple).await?;
            let mut bytes = row_head(Via::Simple);
            bytes.extend(msg::data_row(&[Some(b"first")]));
            peer.send(&bytes).await?;
            if !at_startup {
                for message in flood() {
                    peer.send(&message).await?;
                }
            }
            peer.send(&result_tail(1)).await?;
            Ok::<_, io::Error>(peer.read_to_end().await)
        }
    });
    let rss_before = rss_bytes();
    let result = match Client::connect(&config).await {
        Ok(client) => match run_query(&client, Via::Simple).await {
            Ok(_) => Ok(client),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let growth = rss_bytes().saturating_sub(rss_before);
    let kept = result
        .as_ref()
        .map_or(0, |client| client.parameters().len());
    if let Err(e) = &result {
        assert_eq!(e.kind(), ErrorKind::Protocol, "{what}: {}", report(e));
    }
    assert!(
        growth < BOUND,
        "{what}: the process grew by {} MiB; the client keeps {kept} parameters",
        growth >> 20
    );
    drop(result);
    // The script may have failed writing to a client that refused the flood.
    let _ = tokio::time::timeout(Duration::from_secs(10), script).await;
}

#[tokio::test]
async fn parameter_status_flood_with_new_names_keeps_memory_bounded() {
    on_both(async |transport| {
        parameter_flood(transport, true).await;
        parameter_flood(transport, false).await;
    })
    .await;
}

#[tokio::test]
async fn notification_flood_nobody_takes_keeps_memory_bounded() {
    const NOTIFICATIONS: usize = 2_000;
    const BOUND: u64 = 64 * 1024 * 1024;
    on_both(async |transport| {
        let _measuring = MEASURING.lock().await;
        let what = format!("large notifications nobody takes ({transport})");
        let session = start_session(transport, "", move |_, mut peer| async move {
            take_query(&mut peer, Via::Simple).await?;
            let mut bytes = row_head(Via::Simple);
            bytes.extend(msg::data_row(&[Some(b"first")]));
            peer.send(&bytes).await?;
            let payload = "p".repeat(64 * 1024);
            for i in 0..NOTIFICATIONS {
                let message = msg::notification(PID, &format!("chan_{i}"), &payload);
                if peer.send(&message).await.is_err() {
                    return Ok(peer);
                }
            }
            let _ = peer.send(&result_tail(1)).await;
            Ok(peer)
        })
        .await;
        let rss_before = rss_bytes();
        let result = run_query(&session.client, Via::Simple).await;
        let growth = rss_bytes().saturating_sub(rss_before);
        if let Err(e) = &result {
            assert_eq!(e.kind(), ErrorKind::Protocol, "{what}: {}", report(e));
        }
        let kept = session.client.take_notifications().len();
        assert!(
            growth < BOUND,
            "{what}: the process grew by {} MiB; {kept} notifications were kept",
            growth >> 20
        );
        session.finish().await;
    })
    .await;
}

#[tokio::test]
async fn cancel_token_gives_up_on_a_server_that_holds_the_cancel_connection() {
    on_both(async |transport| {
        let what = format!("held cancel connection ({transport})");
        let session = start_session(
            transport,
            "connect_timeout=2",
            move |server, peer| async move {
                let mut canceller = server.accept().await?;
                canceller.first_packet().await?;
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(20)).await;
                    drop(canceller);
                });
                Ok(peer)
            },
        )
        .await;
        let started = Instant::now();
        let outcome = tokio::time::timeout(
            Duration::from_secs(10),
            session.client.cancel_token().cancel(),
        )
        .await;
        let elapsed = started.elapsed();
        let result =
            outcome.unwrap_or_else(|_| panic!("{what}: cancel() still waiting after {elapsed:?}"));
        // Sent, then given up waiting: success or a timeout, not any other failure.
        if let Err(e) = &result {
            assert_eq!(e.kind(), ErrorKind::Timeout, "{what}: {}", report(e));
        }
        session.finish().await;
    })
    .await;
}
