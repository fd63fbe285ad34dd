//! The async shell around the protocol core: it owns the socket halves and the buffers, feeds the
//! core with what the socket delivered, and is the only place with `.await`.
//!
//! # Requests, tickets and turns
//!
//! A request encodes all of its messages into the shared *outbox* and takes a *ticket* in one step,
//! under one lock, so the order of tickets is the order of bytes on the wire. It then flushes the
//! outbox and waits for its *turn*: responses come back in request order, so only the request
//! whose ticket is being served reads from the socket, and it reads its own responses directly,
//! without any hand-off between tasks. Requests from several tasks therefore pipeline: each one's
//! bytes go out without waiting for earlier replies.
//!
//! A request that is dropped half way (its future cancelled) *abandons* its ticket. The next live
//! request reads and discards the abandoned responses up to the ticket's last ReadyForQuery before
//! reading its own, so the connection never gets out of step with the server. Bytes that were
//! encoded but not yet written stay in the outbox or in the writer's in-flight buffer and are sent by
//! the next flush, so a cancelled write never leaves half a message on the wire.
//!
//! An I/O error or a protocol violation closes the connection: every waiting and future request
//! fails with [`ErrorKind::Closed`](crate::ErrorKind::Closed), carrying the cause.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;

use crate::config::{Config, ProtocolVersion, Target};
use crate::error::{DbError, Error};
use crate::net::{self, ReadHalf, WriteHalf};
use crate::proto::backend::{BackendKeyData, BackendMessage, Notification, TransactionStatus};
use crate::proto::frame::{Frame, FrameDecoder};
use crate::proto::startup::{self, Session, Startup, StartupOptions, Step};
use crate::proto::{auth::scram, frontend};

/// A callback for NoticeResponse messages (warnings and notices the server sends).
pub type NoticeHandler = Arc<dyn Fn(&DbError) + Send + Sync>;

/// The default notice handler: one line on standard error, as psql prints notices.
pub(crate) fn log_notice(notice: &DbError) {
    eprintln!("{}:  {}", notice.severity(), notice.message());
}

/// The most notifications kept while nobody takes them; older ones are dropped first.
const MAX_QUEUED_NOTIFICATIONS: usize = 10_000;

/// One open session: the socket halves, the outbox and the turn bookkeeping.
pub(crate) struct Connection {
    core: Mutex<Core>,
    writer: tokio::sync::Mutex<Writer>,
    reader: tokio::sync::Mutex<Reader>,
    parameters: RwLock<HashMap<String, String>>,
    notice_handler: RwLock<NoticeHandler>,
    notifications: Mutex<VecDeque<Notification>>,
    backend_key: Option<BackendKeyData>,
    protocol_minor: i32,
    target: Target,
}

/// State shared by all requests, behind a short-held lock (never held across `.await`).
struct Core {
    /// Encoded messages not yet handed to the writer.
    outbox: BytesMut,
    /// The ticket the next request gets.
    next_ticket: u64,
    /// The ticket whose responses are being read; `slots[0]` belongs to it.
    serving: u64,
    slots: VecDeque<Slot>,
    /// Whether a request is draining an abandoned ticket's responses.
    draining: bool,
    /// Why the connection closed, once it has.
    closed: Option<Closed>,
    transaction_status: TransactionStatus,
}

#[derive(Clone)]
enum Closed {
    /// Closed by the client.
    ByClient,
    /// Closed by an error.
    ByError(Error),
}

impl Closed {
    fn error(&self) -> Error {
        match self {
            Closed::ByClient => Error::closed(None),
            Closed::ByError(cause) => Error::closed(Some(cause.clone())),
        }
    }
}

/// The bookkeeping of one outstanding request.
struct Slot {
    /// ReadyForQuery messages still to come for this request (one per Sync or simple Query).
    syncs_left: u32,
    /// The request's future was dropped; its responses are discarded.
    abandoned: bool,
    waker: Option<Waker>,
}

struct Writer {
    half: WriteHalf,
    /// Bytes taken from the outbox and being written; what a cancelled write did not send stays
    /// here for the next flush.
    inflight: BytesMut,
}

/// The reading half with its buffer and frame decoder.
pub(crate) struct Reader {
    half: ReadHalf,
    buf: BytesMut,
    decoder: FrameDecoder,
}

/// The smallest read buffer reservation.
const READ_CHUNK: usize = 16 * 1024;
/// The largest reservation made at once for a message still arriving; a huge declared length grows
/// the buffer only as its bytes actually come.
const MAX_RESERVE: usize = 1024 * 1024;

impl Reader {
    fn new(half: ReadHalf, max_message_size: usize) -> Reader {
        Reader {
            half,
            buf: BytesMut::with_capacity(READ_CHUNK),
            decoder: FrameDecoder::new(max_message_size),
        }
    }

    /// The next whole message, reading from the socket as needed.
    async fn next_frame(&mut self) -> Result<Frame, Error> {
        loop {
            if let Some(frame) = self
                .decoder
                .next_frame(&mut self.buf)
                .map_err(Error::protocol)?
            {
                return Ok(frame);
            }
            let needed = self
                .decoder
                .bytes_needed(&self.buf)
                .map_err(Error::protocol)?;
            self.buf.reserve(needed.clamp(READ_CHUNK, MAX_RESERVE));
            let n = self
                .half
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| Error::io("could not read from the server", e))?;
            if n == 0 {
                return Err(Error::io(
                    "the server closed the connection unexpectedly",
                    io::Error::new(io::ErrorKind::UnexpectedEof, "end of stream"),
                ));
            }
        }
    }
}

/// A request's claim on its place in the response order. Dropping it before its responses were
/// all read abandons them to be drained by the next request.
pub(crate) struct Ticket<'c> {
    conn: &'c Connection,
    id: u64,
    finished: bool,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut core = self.conn.lock_core();
        let Some(index) = self.id.checked_sub(core.serving) else {
            return;
        };
        let Ok(index) = usize::try_from(index) else {
            return;
        };
        if let Some(slot) = core.slots.get_mut(index) {
            slot.abandoned = true;
            slot.waker = None;
        }
        Connection::wake_next(&mut core);
    }
}

enum Turn {
    /// The ticket's responses are next.
    Mine,
    /// An abandoned request's responses are next, and this request drains them.
    Drain,
}

/// Reads the responses of one request, holding the reader while it does.
pub(crate) struct Receiver<'c> {
    conn: &'c Connection,
    reader: tokio::sync::MutexGuard<'c, Reader>,
    ticket: Ticket<'c>,
}

impl<'c> Receiver<'c> {
    /// The connection this receiver reads from.
    pub(crate) fn connection(&self) -> &'c Connection {
        self.conn
    }

    /// The next message of this request's response. Notices, notifications and parameter changes
    /// are dispatched on the way and never returned. ReadyForQuery is returned, and the last one
    /// ends the request; reading further is an error.
    pub(crate) async fn next(&mut self) -> Result<BackendMessage, Error> {
        if self.ticket.finished {
            return Err(Error::usage("read past the end of a request's responses"));
        }
        let message = self.conn.read_message(&mut self.reader).await?;
        if let BackendMessage::ReadyForQuery(status) = message {
            self.ticket.finished = self.conn.ready_for_query(status);
        }
        Ok(message)
    }

    /// Whether every response of the request has been read.
    pub(crate) fn is_finished(&self) -> bool {
        self.ticket.finished
    }

    /// Reads and discards messages up to the request's last ReadyForQuery.
    pub(crate) async fn finish(&mut self) -> Result<(), Error> {
        while !self.ticket.finished {
            self.next().await?;
        }
        Ok(())
    }
}

/// Resets the draining flag if a drain is cancelled.
struct DrainGuard<'c>(&'c Connection);

impl Drop for DrainGuard<'_> {
    fn drop(&mut self) {
        let mut core = self.0.lock_core();
        core.draining = false;
        Connection::wake_next(&mut core);
    }
}

impl Connection {
    fn lock_core(&self) -> MutexGuard<'_, Core> {
        // A panic while holding this lock cannot leave Core inconsistent in a way that matters
        // more than failing every request, so a poisoned lock is used as it is.
        self.core
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Encodes a request into the outbox and takes its ticket, atomically. `syncs` is the number of
    /// ReadyForQuery messages the request will receive. On an encoding error nothing is queued.
    pub(crate) fn enqueue<F>(&self, syncs: u32, encode: F) -> Result<Ticket<'_>, Error>
    where
        F: FnOnce(&mut BytesMut) -> Result<(), Error>,
    {
        let mut core = self.lock_core();
        if let Some(closed) = &core.closed {
            return Err(closed.error());
        }
        let start = core.outbox.len();
        if let Err(e) = encode(&mut core.outbox) {
            core.outbox.truncate(start);
            return Err(e);
        }
        if syncs == 0 {
            // Nothing comes back for this request (CopyFail, Terminate): it needs no turn.
            return Ok(Ticket {
                conn: self,
                id: core.next_ticket,
                finished: true,
            });
        }
        let id = core.next_ticket;
        core.next_ticket += 1;
        core.slots.push_back(Slot {
            syncs_left: syncs,
            abandoned: false,
            waker: None,
        });
        Ok(Ticket {
            conn: self,
            id,
            finished: false,
        })
    }

    /// Queues a request whose responses nobody waits for (closing a statement from `Drop`). It is
    /// sent by the next flush and its responses are drained by the next request.
    pub(crate) fn enqueue_detached<F>(&self, syncs: u32, encode: F)
    where
        F: FnOnce(&mut BytesMut) -> Result<(), Error>,
    {
        if let Ok(ticket) = self.enqueue(syncs, encode) {
            drop(ticket);
        }
    }

    /// Writes everything queued so far.
    pub(crate) async fn flush(&self) -> Result<(), Error> {
        let mut writer = self.writer.lock().await;
        loop {
            if writer.inflight.is_empty() {
                let mut core = self.lock_core();
                if core.outbox.is_empty() {
                    return Ok(());
                }
                std::mem::swap(&mut writer.inflight, &mut core.outbox);
            }
            let Writer { half, inflight } = &mut *writer;
            match half.write_buf(inflight).await {
                Ok(0) => {
                    let e = Error::io(
                        "could not write to the server",
                        io::Error::new(io::ErrorKind::WriteZero, "the socket accepted no bytes"),
                    );
                    return Err(self.fail(e));
                }
                Ok(_) => {}
                Err(e) => return Err(self.fail(Error::io("could not write to the server", e))),
            }
        }
    }

    /// Waits for the ticket's turn, draining abandoned requests ahead of it, and returns a receiver
    /// for its responses.
    pub(crate) async fn receive<'c>(&'c self, ticket: Ticket<'c>) -> Result<Receiver<'c>, Error> {
        loop {
            match poll_fn(|cx| self.poll_turn(ticket.id, cx)).await? {
                Turn::Mine => {
                    let reader = self.reader.lock().await;
                    return Ok(Receiver {
                        conn: self,
                        reader,
                        ticket,
                    });
                }
                Turn::Drain => self.drain_front().await?,
            }
        }
    }

    fn poll_turn(&self, id: u64, cx: &mut Context<'_>) -> Poll<Result<Turn, Error>> {
        let mut core = self.lock_core();
        if let Some(closed) = &core.closed {
            return Poll::Ready(Err(closed.error()));
        }
        if core.serving == id {
            return Poll::Ready(Ok(Turn::Mine));
        }
        let front_abandoned = core.slots.front().is_some_and(|slot| slot.abandoned);
        if front_abandoned && !core.draining {
            core.draining = true;
            return Poll::Ready(Ok(Turn::Drain));
        }
        let index = id
            .checked_sub(core.serving)
            .and_then(|i| usize::try_from(i).ok());
        match index.and_then(|i| core.slots.get_mut(i)) {
            Some(slot) => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
            None => Poll::Ready(Err(Error::usage(
                "a request waited for a turn it does not hold",
            ))),
        }
    }

    /// Reads and discards the responses of the abandoned request at the front.
    async fn drain_front(&self) -> Result<(), Error> {
        let _guard = DrainGuard(self);
        let mut reader = self.reader.lock().await;
        loop {
            let front_abandoned = {
                let core = self.lock_core();
                core.slots.front().is_some_and(|slot| slot.abandoned)
            };
            if !front_abandoned {
                return Ok(());
            }
            match self.read_message(&mut reader).await? {
                BackendMessage::ReadyForQuery(status) => {
                    self.ready_for_query(status);
                }
                BackendMessage::CopyInResponse(_) | BackendMessage::CopyBothResponse(_) => {
                    // The server waits for COPY data that will never come: end the COPY.
                    self.enqueue_detached(0, |buf| {
                        frontend::copy_fail(buf, "the request was cancelled").map_err(Error::encode)
                    });
                    self.flush().await?;
                }
                _ => {}
            }
        }
    }

    /// Counts a ReadyForQuery for the request being served; returns whether that was its last.
    fn ready_for_query(&self, status: TransactionStatus) -> bool {
        let mut core = self.lock_core();
        core.transaction_status = status;
        let Some(front) = core.slots.front_mut() else {
            return true;
        };
        front.syncs_left = front.syncs_left.saturating_sub(1);
        if front.syncs_left > 0 {
            return false;
        }
        core.slots.pop_front();
        core.serving += 1;
        Connection::wake_next(&mut core);
        true
    }

    /// Wakes the request that must act next: the first one not abandoned (it either reads its own
    /// responses or drains abandoned ones ahead of it).
    fn wake_next(core: &mut Core) {
        if let Some(slot) = core.slots.iter_mut().find(|slot| !slot.abandoned)
            && let Some(waker) = slot.waker.take()
        {
            waker.wake();
        }
    }

    /// Closes the connection because of `error`: every waiting request is woken and fails.
    /// Returns the error for the caller to report.
    pub(crate) fn fail(&self, error: Error) -> Error {
        let mut core = self.lock_core();
        if core.closed.is_none() {
            core.closed = Some(Closed::ByError(error.clone()));
        }
        for slot in core.slots.iter_mut() {
            if let Some(waker) = slot.waker.take() {
                waker.wake();
            }
        }
        error
    }

    /// Reads the next message addressed to a request, dispatching notices, notifications and
    /// parameter changes. Any read error closes the connection.
    async fn read_message(&self, reader: &mut Reader) -> Result<BackendMessage, Error> {
        loop {
            let message = match reader
                .next_frame()
                .await
                .and_then(|f| f.decode().map_err(Error::protocol))
            {
                Ok(message) => message,
                Err(e) => return Err(self.fail(e)),
            };
            match message {
                BackendMessage::NoticeResponse(fields) => {
                    let notice = DbError::from_fields(fields);
                    let handler = self
                        .notice_handler
                        .read()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .clone();
                    handler(&notice);
                }
                BackendMessage::NotificationResponse(notification) => {
                    let mut queue = self
                        .notifications
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    if queue.len() >= MAX_QUEUED_NOTIFICATIONS {
                        queue.pop_front();
                    }
                    queue.push_back(notification);
                }
                BackendMessage::ParameterStatus(status) => {
                    if let Err(e) = startup::check_parameter(&status.name, &status.value) {
                        return Err(self.fail(Error::protocol(e)));
                    }
                    self.parameters
                        .write()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .insert(status.name, status.value);
                }
                other => return Ok(other),
            }
        }
    }

    /// Sends Terminate and shuts the socket's write side; the connection is closed afterwards.
    pub(crate) async fn close(&self) -> Result<(), Error> {
        {
            let mut core = self.lock_core();
            if core.closed.is_some() {
                return Ok(());
            }
            frontend::terminate(&mut core.outbox);
        }
        let flushed = self.flush().await;
        {
            let mut core = self.lock_core();
            core.closed = Some(Closed::ByClient);
            for slot in core.slots.iter_mut() {
                if let Some(waker) = slot.waker.take() {
                    waker.wake();
                }
            }
        }
        let mut writer = self.writer.lock().await;
        // The server may already have closed its side; there is nothing left to report then.
        let _ = writer.half.shutdown().await;
        flushed
    }

    /// Best-effort Terminate for `Drop`: queues it and writes whatever the socket takes right now,
    /// without waiting.
    pub(crate) fn close_without_waiting(&self) {
        let mut core = self.lock_core();
        if core.closed.is_some() {
            return;
        }
        frontend::terminate(&mut core.outbox);
        core.closed = Some(Closed::ByClient);
        if let Ok(writer) = self.writer.try_lock() {
            let mut pending = writer.inflight.clone();
            pending.extend_from_slice(&core.outbox);
            // Errors are irrelevant: the socket is closed right after.
            let _ = writer.half.try_write(&pending);
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock_core().closed.is_some()
    }

    pub(crate) fn transaction_status(&self) -> TransactionStatus {
        self.lock_core().transaction_status
    }

    /// Whether requests are outstanding (sent or queued, responses not all read).
    pub(crate) fn has_pending_requests(&self) -> bool {
        !self.lock_core().slots.is_empty()
    }

    pub(crate) fn parameter(&self, name: &str) -> Option<String> {
        self.parameters
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(name)
            .cloned()
    }

    pub(crate) fn parameters(&self) -> HashMap<String, String> {
        self.parameters
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(crate) fn backend_key(&self) -> Option<&BackendKeyData> {
        self.backend_key.as_ref()
    }

    pub(crate) fn protocol_minor(&self) -> i32 {
        self.protocol_minor
    }

    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    pub(crate) fn set_notice_handler(&self, handler: NoticeHandler) {
        *self
            .notice_handler
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = handler;
    }

    pub(crate) fn take_notifications(&self) -> Vec<Notification> {
        self.notifications
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .drain(..)
            .collect()
    }
}

/// Opens a session: tries each target in turn (hosts times ports), each attempt bounded by
/// `connect_timeout` from the socket to the first ReadyForQuery.
pub(crate) async fn connect(config: &Config) -> Result<Connection, Error> {
    let ssl_mode = config.get_ssl_mode();
    if ssl_mode.requires_tls() {
        return Err(Error::unsupported_setting(format!(
            "sslmode={ssl_mode} needs TLS, which pg-wire does not support yet; use sslmode=prefer or disable"
        )));
    }
    let targets = config.targets().map_err(Error::config)?;
    let mut last_error = None;
    for target in targets {
        let attempt = connect_target(config, target.clone());
        let result = match config.effective_connect_timeout() {
            Some(limit) => tokio::time::timeout(limit, attempt)
                .await
                .unwrap_or_else(|_| {
                    Err(Error::timeout(format!(
                        "timed out after {} s connecting to {}",
                        limit.as_secs_f64(),
                        target.display_name()
                    )))
                }),
            None => attempt.await,
        };
        match result {
            Ok(connection) => return Ok(connection),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error
        .unwrap_or_else(|| Error::usage("the connection settings name no host to connect to")))
}

async fn connect_target(config: &Config, target: Target) -> Result<Connection, Error> {
    let user = config.effective_user().map_err(Error::config)?;
    let database = config.effective_dbname().map_err(Error::config)?;
    let (read_half, mut write_half) = net::connect(&target).await?;
    let mut reader = Reader::new(read_half, config.get_max_message_size());

    let requested_minor = minor_of(config.get_max_protocol_version());
    let mut params: Vec<(&str, &str)> = vec![
        ("user", &user),
        ("database", &database),
        ("client_encoding", "UTF8"),
    ];
    if let Some(name) = config.effective_application_name() {
        params.push(("application_name", name));
    }
    if let Some(options) = config.get_options() {
        params.push(("options", options));
    }
    let mut out = BytesMut::new();
    frontend::startup_message(&mut out, (3 << 16) | requested_minor, &params)
        .map_err(Error::encode)?;

    let mut startup = Startup::new(StartupOptions {
        user: user.clone(),
        password: config.password_for(&target),
        require_auth: *config.get_require_auth(),
        max_scram_iterations: scram::DEFAULT_MAX_ITERATIONS,
        requested_minor,
        min_minor: minor_of(config.get_min_protocol_version()),
        scram_nonce: startup::scram_nonce(random_nonce()?),
    });
    let context = format!("connecting to {}", target.display_name());
    loop {
        write_all(&mut write_half, &mut out).await?;
        let frame = reader.next_frame().await.map_err(|e| e.context(&context))?;
        let message = frame
            .decode()
            .map_err(|e| Error::protocol(e).context(&context))?;
        match startup.handle(message, &mut out).map_err(Error::startup)? {
            Step::Continue => {}
            Step::Notice(fields) => log_notice(&DbError::from_fields(fields)),
            Step::DeriveKey(derivation) => {
                // PBKDF2 takes real CPU time: keep it off the runtime's worker threads.
                let salted = tokio::task::spawn_blocking(move || derivation.derive())
                    .await
                    .map_err(|e| {
                        Error::usage(format!("the SCRAM key derivation task failed: {e}"))
                    })?
                    .map_err(|e| Error::startup(e.into()))?;
                startup
                    .key_derived(&salted, &mut out)
                    .map_err(Error::startup)?;
            }
            Step::Ready => break,
        }
    }
    let Some(Session {
        parameters,
        backend_key,
        transaction_status,
        protocol_minor,
        ..
    }) = startup.finish()
    else {
        return Err(Error::usage("startup ended without a session"));
    };
    Ok(Connection {
        core: Mutex::new(Core {
            outbox: BytesMut::with_capacity(8 * 1024),
            next_ticket: 0,
            serving: 0,
            slots: VecDeque::new(),
            draining: false,
            closed: None,
            transaction_status,
        }),
        writer: tokio::sync::Mutex::new(Writer {
            half: write_half,
            inflight: BytesMut::with_capacity(8 * 1024),
        }),
        reader: tokio::sync::Mutex::new(reader),
        parameters: RwLock::new(parameters),
        notice_handler: RwLock::new(Arc::new(log_notice)),
        notifications: Mutex::new(VecDeque::new()),
        backend_key,
        protocol_minor,
        target,
    })
}

fn minor_of(version: ProtocolVersion) -> i32 {
    match version {
        ProtocolVersion::V3_0 => 0,
        ProtocolVersion::V3_2 => 2,
    }
}

/// 18 bytes from the operating system's random source, for the SCRAM nonce.
fn random_nonce() -> Result<[u8; 18], Error> {
    let mut nonce = [0u8; 18];
    getrandom::fill(&mut nonce).map_err(|e| {
        Error::io(
            "could not get random bytes for the SCRAM nonce",
            io::Error::other(e.to_string()),
        )
    })?;
    Ok(nonce)
}

async fn write_all(half: &mut WriteHalf, buf: &mut BytesMut) -> Result<(), Error> {
    while !buf.is_empty() {
        let n = half
            .write_buf(buf)
            .await
            .map_err(|e| Error::io("could not write to the server", e))?;
        if n == 0 {
            return Err(Error::io(
                "could not write to the server",
                io::Error::new(io::ErrorKind::WriteZero, "the socket accepted no bytes"),
            ));
        }
    }
    Ok(())
}
