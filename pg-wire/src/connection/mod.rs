//! The async shell around the protocol core: it owns the socket halves and the buffers, feeds the
//! core with what the socket delivered, and is the only place with `.await`.
//!
//! # Requests, tickets and turns
//!
//! A request encodes all of its messages into the shared *outbox* and takes a *ticket* in one step,
//! under one lock, so the order of tickets is the order of bytes on the wire (an encoding that fails
//! or panics is cut back out, so no half-written message can reach the wire). It then writes the outbox up to the end of
//! its own bytes, never beyond (a later request's large payload must not hold it up), and at the
//! same time waits for its *turn*: responses come back in request order, so only the request whose
//! ticket is being served reads from the socket, and it reads its own responses directly, without
//! any hand-off between tasks. Requests from several tasks therefore pipeline: each one's bytes go
//! out without waiting for earlier replies. Writing and waiting run together so a request whose
//! write is blocked (the server is busy sending a result nobody reads yet) can still drain what is
//! ahead of it.
//!
//! A request that is dropped half way (its future cancelled) *abandons* its ticket. The next live
//! request reads and discards the abandoned responses up to the ticket's last ReadyForQuery before
//! reading its own, so the connection never gets out of step with the server. Bytes that were
//! encoded but not yet written stay in the outbox or in the writer's in-flight buffer and are sent by
//! the next flush, so a cancelled write never leaves half a message on the wire.
//!
//! A simple query may turn into `COPY ... FROM STDIN`, after which the server accepts nothing but
//! COPY messages. So a simple query (and a COPY) takes the writer *exclusively* from its query to its
//! last reply: other requests still queue, but their bytes wait in the outbox. COPY data and a
//! CopyFail for an abandoned COPY are written through the writer's own buffer, ahead of anything
//! queued later.
//!
//! While no request is outstanding, the notification stream reads the socket itself, so LISTEN
//! notifications (and a server's FATAL error) arrive on an idle connection too.
//!
//! An I/O error or a protocol violation closes the connection: every waiting and future request
//! fails with [`ErrorKind::Closed`](crate::ErrorKind::Closed), carrying the cause.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::task::{Context, Poll, Waker, ready};

use bytes::{Buf, BytesMut};
use tokio::io::AsyncWrite;

use crate::config::Target;
use crate::error::{DbError, Error};
use crate::net::WriteHalf;
use crate::proto::backend::{BackendKeyData, BackendMessage, Notification, TransactionStatus, tag};
use crate::proto::frame::Frame;
use crate::proto::{ProtocolError, frontend, startup};

mod connect;
mod reader;

pub(crate) use connect::connect;
use reader::Reader;

/// How many bytes queued behind a request's own are written along with them.
const COALESCE: usize = 64 * 1024;

/// A callback for NoticeResponse messages (warnings and notices the server sends).
pub type NoticeHandler = Arc<dyn Fn(&DbError) + Send + Sync>;

/// Why a COPY FROM STDIN run through the extended protocol is refused.
pub(crate) const EXTENDED_COPY_IN: &str =
    "COPY ... FROM STDIN cannot run through query or execute; use Client::copy_in";

/// The default notice handler: one line on standard error, as psql prints notices.
pub(crate) fn log_notice(notice: &DbError) {
    eprintln!("{}:  {}", notice.severity(), notice.message());
}

/// The most notifications kept while nobody takes them; older ones are dropped first.
const MAX_QUEUED_NOTIFICATIONS: usize = 10_000;
/// The most bytes of channel names and payloads kept while nobody takes them; older
/// notifications are dropped first.
const MAX_QUEUED_NOTIFICATION_BYTES: usize = 16 * 1024 * 1024;

/// One open session: the socket halves, the outbox and the turn bookkeeping.
pub(crate) struct Connection {
    core: Mutex<Core>,
    writer: tokio::sync::Mutex<Writer>,
    reader: tokio::sync::Mutex<Reader>,
    /// How many outbox bytes have been written to the socket (a copy of the writer's count that can
    /// be read without its lock).
    written: AtomicU64,
    /// Signalled whenever `written` advances, so a request whose bytes another request wrote for
    /// it stops waiting for the writer.
    write_progress: tokio::sync::Notify,
    parameters: RwLock<HashMap<String, String>>,
    notice_handler: RwLock<NoticeHandler>,
    notifications: Mutex<NotificationQueue>,
    backend_key: Option<BackendKeyData>,
    protocol_minor: i32,
    target: Target,
}

/// State shared by all requests, behind a short-held lock (never held across `.await`).
struct Core {
    /// Encoded messages not yet handed to the writer.
    outbox: BytesMut,
    /// The position of `outbox[0]` in the stream of all bytes ever queued.
    outbox_start: u64,
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
    /// The position just past the request's bytes (see [`Ticket::end`]).
    end: u64,
    /// An extended-query request (no writer held to its end): a COPY FROM STDIN it starts must
    /// be ended by whoever reads its responses.
    extended: bool,
    waker: Option<Waker>,
}

pub(crate) struct Writer {
    half: WriteHalf,
    /// Bytes taken from the outbox and being written; what a cancelled write did not send stays
    /// here for the next write.
    inflight: BytesMut,
    /// How many outbox bytes have been written (`inflight` starts there).
    written: u64,
    /// Bytes that are not part of the outbox (COPY data, a CopyFail), written after `inflight`
    /// and before anything more is taken from the outbox.
    direct: BytesMut,
}

/// Notifications received and not yet taken, and the task waiting for them.
struct NotificationQueue {
    queue: VecDeque<Notification>,
    /// The bytes of channel names and payloads in `queue`.
    bytes: usize,
    /// Whether notifications were dropped since the queue was last emptied (warned once).
    dropped: bool,
    waker: Option<Waker>,
}

impl NotificationQueue {
    /// Queues a notification, dropping the oldest ones beyond the limits of count and size.
    fn push(&mut self, notification: Notification) {
        self.bytes += notification_size(&notification);
        self.queue.push_back(notification);
        while self.queue.len() > MAX_QUEUED_NOTIFICATIONS
            || self.bytes > MAX_QUEUED_NOTIFICATION_BYTES
        {
            let Some(oldest) = self.queue.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(notification_size(&oldest));
            if !self.dropped {
                self.dropped = true;
                eprintln!(
                    "WARNING:  pg-wire: notifications arrive faster than they are taken; the oldest are dropped"
                );
            }
        }
    }

    /// Takes the oldest notification.
    fn pop(&mut self) -> Option<Notification> {
        let notification = self.queue.pop_front()?;
        self.bytes = self.bytes.saturating_sub(notification_size(&notification));
        if self.queue.is_empty() {
            self.dropped = false;
        }
        Some(notification)
    }
}

/// What a queued notification counts against [`MAX_QUEUED_NOTIFICATION_BYTES`].
fn notification_size(notification: &Notification) -> usize {
    notification.channel.len() + notification.payload.len()
}

/// Cuts the outbox back to where a request began encoding unless the request completed: on an
/// error, and on a panic in a user's conversion code (the guard runs during unwinding).
struct OutboxGuard<'a> {
    buf: &'a mut BytesMut,
    start: usize,
    keep: bool,
}

impl<'a> OutboxGuard<'a> {
    fn new(buf: &'a mut BytesMut) -> OutboxGuard<'a> {
        let start = buf.len();
        OutboxGuard {
            buf,
            start,
            keep: false,
        }
    }

    fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for OutboxGuard<'_> {
    fn drop(&mut self) {
        if !self.keep {
            self.buf.truncate(self.start);
        }
    }
}

/// A request's claim on its place in the response order. Dropping it before its responses were
/// all read abandons them to be drained by the next request.
pub(crate) struct Ticket<'c> {
    conn: &'c Connection,
    id: u64,
    /// The position just past the request's bytes in the stream of queued bytes.
    end: u64,
    finished: bool,
}

impl Ticket<'_> {
    /// The position just past the request's bytes in the stream of queued bytes.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut core = self.conn.lock_core();
        let index = self
            .id
            .checked_sub(core.serving)
            .and_then(|i| usize::try_from(i).ok());
        if let Some(slot) = index.and_then(|i| core.slots.get_mut(i)) {
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

impl Drop for Receiver<'_> {
    fn drop(&mut self) {
        // The reader is released with this receiver: an idle notification stream may read again.
        self.conn.wake_notifications();
    }
}

/// A FATAL or PANIC ErrorResponse that already arrived: reads what the socket holds (without
/// waiting), then looks through the whole messages buffered, consuming none.
fn arrived_fatal_error(reader: &mut Reader) -> Option<crate::proto::backend::ErrorFields> {
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..64 {
        if reader.poll_fill(&mut cx).is_pending() {
            break;
        }
    }
    reader.scan_fatal_error()
}

impl<'c> Receiver<'c> {
    /// For an I/O error met while this request holds the reader (a COPY writing its data): the
    /// server's FATAL error that explains it, if one already arrived, with the I/O error as its
    /// cause; otherwise the error as it is.
    pub(crate) fn explain_io_error(&mut self, error: Error) -> Error {
        if error.kind() != crate::error::ErrorKind::Io {
            return error;
        }
        match arrived_fatal_error(&mut self.reader) {
            Some(fields) => Error::db(fields).with_cause(error),
            None => error,
        }
    }

    /// The connection this receiver reads from.
    pub(crate) fn connection(&self) -> &'c Connection {
        self.conn
    }

    /// The position just past the request's bytes in the stream of queued bytes.
    pub(crate) fn end(&self) -> u64 {
        self.ticket.end
    }

    /// The next message of this request's response. Notices, notifications and parameter changes
    /// are dispatched on the way and never returned. ReadyForQuery is returned, and the last one
    /// ends the request; reading further is an error.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<BackendMessage, Error>> {
        let frame = ready!(self.poll_next_frame(cx))?;
        Poll::Ready(
            frame
                .decode()
                .map_err(|e| self.conn.fail(Error::protocol(e))),
        )
    }

    /// The next message of this request's response, not yet decoded (the row path decodes
    /// DataRow frames itself). ReadyForQuery is counted here.
    pub(crate) fn poll_next_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<Frame, Error>> {
        if self.ticket.finished {
            return Poll::Ready(Err(Error::usage(
                "read past the end of a request's responses",
            )));
        }
        let frame = ready!(self.conn.poll_read_frame(&mut self.reader, cx))?;
        if frame.tag == tag::READY_FOR_QUERY {
            let status = match frame.body.as_ref() {
                b"I" => TransactionStatus::Idle,
                b"T" => TransactionStatus::InTransaction,
                b"E" => TransactionStatus::Failed,
                _ => match frame.clone().decode() {
                    Ok(BackendMessage::ReadyForQuery(status)) => status,
                    Ok(_) => TransactionStatus::Idle,
                    Err(e) => return Poll::Ready(Err(self.conn.fail(Error::protocol(e)))),
                },
            };
            self.ticket.finished = self.conn.ready_for_query(status);
        }
        Poll::Ready(Ok(frame))
    }

    /// The next message of this request's response (see [`Receiver::poll_next`]).
    pub(crate) async fn next(&mut self) -> Result<BackendMessage, Error> {
        poll_fn(|cx| self.poll_next(cx)).await
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
        {
            let mut core = self.0.lock_core();
            core.draining = false;
            Connection::wake_next(&mut core);
        }
        self.0.wake_notifications();
    }
}

/// The writer, held by a simple query or a COPY from its query to its end (see the module docs).
/// Dropped before [`ExclusiveWriter::release`], it queues a CopyFail first: if the server went into
/// COPY FROM STDIN mode this ends it, and otherwise the server ignores it.
pub(crate) struct ExclusiveWriter<'c> {
    conn: &'c Connection,
    writer: tokio::sync::MutexGuard<'c, Writer>,
    released: bool,
}

impl ExclusiveWriter<'_> {
    /// Ends a COPY FROM STDIN with CopyDone (`None`) or CopyFail (`Some(reason)`) and writes it.
    pub(crate) async fn end_copy(&mut self, failure: Option<&str>) -> Result<(), Error> {
        match failure {
            None => frontend::copy_done(&mut self.writer.direct),
            Some(reason) => {
                if frontend::copy_fail(&mut self.writer.direct, reason).is_err() {
                    // A reason with a NUL byte: fail with a fixed text instead.
                    let _ =
                        frontend::copy_fail(&mut self.writer.direct, "COPY aborted by the client");
                }
            }
        }
        self.write_direct().await
    }

    /// Writes the pending direct bytes.
    async fn write_direct(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.poll_write_direct(cx)).await
    }

    /// Queues complete messages without writing them, taking the bytes of `messages` and leaving
    /// it empty. When nothing else is pending the two buffers trade places instead of copying,
    /// so the caller gets an allocation back to fill next.
    pub(crate) fn queue_messages(&mut self, messages: &mut BytesMut) {
        let direct = &mut self.writer.direct;
        if direct.is_empty() {
            std::mem::swap(direct, messages);
        } else {
            direct.extend_from_slice(messages);
        }
        messages.clear();
    }

    /// Writes the pending bytes, poll by poll.
    pub(crate) fn poll_write_direct(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while !self.writer.inflight.is_empty() || !self.writer.direct.is_empty() {
            ready!(self.conn.poll_write_some(&mut self.writer, cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Gives the writer back to the other requests.
    pub(crate) fn release(mut self) {
        self.released = true;
    }
}

impl Drop for ExclusiveWriter<'_> {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let _ = frontend::copy_fail(
            &mut self.writer.direct,
            "the request was cancelled by the client",
        );
        // Best effort now; what the socket does not take is written before anything queued later.
        Connection::try_write_all(&mut self.writer);
    }
}

impl Connection {
    fn new(
        reader: Reader,
        write_half: WriteHalf,
        session: startup::Session,
        target: Target,
    ) -> Connection {
        Connection {
            core: Mutex::new(Core {
                outbox: BytesMut::with_capacity(8 * 1024),
                outbox_start: 0,
                next_ticket: 0,
                serving: 0,
                slots: VecDeque::new(),
                draining: false,
                closed: None,
                transaction_status: session.transaction_status,
            }),
            writer: tokio::sync::Mutex::new(Writer {
                half: write_half,
                inflight: BytesMut::with_capacity(8 * 1024),
                written: 0,
                direct: BytesMut::new(),
            }),
            reader: tokio::sync::Mutex::new(reader),
            written: AtomicU64::new(0),
            write_progress: tokio::sync::Notify::new(),
            parameters: RwLock::new(session.parameters),
            notice_handler: RwLock::new(Arc::new(log_notice)),
            notifications: Mutex::new(NotificationQueue {
                queue: VecDeque::new(),
                bytes: 0,
                dropped: false,
                waker: None,
            }),
            backend_key: session.backend_key,
            protocol_minor: session.protocol_minor,
            target,
        }
    }

    fn lock_core(&self) -> MutexGuard<'_, Core> {
        // A panic while holding this lock cannot leave Core inconsistent in a way that matters
        // more than failing every request, so a poisoned lock is used as it is.
        self.core
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Encodes a request and queues it with its ticket. `syncs` is the number of ReadyForQuery
    /// messages the request will receive. The messages are encoded outside the lock (conversion
    /// code of user types runs there; if it fails or panics, nothing was queued), then appended to
    /// the outbox and the ticket taken in one step.
    pub(crate) fn enqueue<F>(&self, syncs: u32, encode: F) -> Result<Ticket<'_>, Error>
    where
        F: FnOnce(&mut BytesMut) -> Result<(), Error>,
    {
        self.enqueue_as(syncs, true, encode)
    }

    /// [`Connection::enqueue`], saying whether the request is an extended-query one.
    fn enqueue_as<F>(&self, syncs: u32, extended: bool, encode: F) -> Result<Ticket<'_>, Error>
    where
        F: FnOnce(&mut BytesMut) -> Result<(), Error>,
    {
        let mut core = self.lock_core();
        if let Some(closed) = &core.closed {
            return Err(closed.error());
        }
        {
            // Encoded in place; if the encoding fails, or panics (a user's ToSql), the guard cuts
            // the outbox back so no half-written message can reach the wire.
            let mut guard = OutboxGuard::new(&mut core.outbox);
            encode(guard.buf)?;
            guard.keep();
        }
        let end = core.outbox_start + core.outbox.len() as u64;
        if syncs == 0 {
            // Nothing comes back for this request (Terminate): it needs no turn.
            return Ok(Ticket {
                conn: self,
                id: core.next_ticket,
                end,
                finished: true,
            });
        }
        let id = core.next_ticket;
        core.next_ticket += 1;
        core.slots.push_back(Slot {
            syncs_left: syncs,
            abandoned: false,
            end,
            extended,
            waker: None,
        });
        Ok(Ticket {
            conn: self,
            id,
            end,
            finished: false,
        })
    }

    /// Queues a request whose responses nobody waits for (closing a statement from `Drop`). It is
    /// written with the next request and its responses are drained by it.
    pub(crate) fn enqueue_detached<F>(&self, syncs: u32, encode: F)
    where
        F: FnOnce(&mut BytesMut) -> Result<(), Error>,
    {
        if let Ok(ticket) = self.enqueue(syncs, encode) {
            drop(ticket);
        }
    }

    /// Takes the writer, then queues a request and writes everything up to its end; the writer
    /// stays taken until the returned guard is released or dropped (simple queries and COPY).
    pub(crate) async fn enqueue_exclusive<F>(
        &self,
        syncs: u32,
        encode: F,
    ) -> Result<(Ticket<'_>, ExclusiveWriter<'_>), Error>
    where
        F: FnOnce(&mut BytesMut) -> Result<(), Error>,
    {
        let writer = self.writer.lock().await;
        // Its writer guard ends any COPY FROM STDIN itself.
        let ticket = self.enqueue_as(syncs, false, encode)?;
        let mut exclusive = ExclusiveWriter {
            conn: self,
            writer,
            released: false,
        };
        self.write_locked(&mut exclusive.writer, ticket.end, 0)
            .await?;
        // The query is out whole: until the server says otherwise, nothing needs a CopyFail.
        Ok((ticket, exclusive))
    }

    /// Writes queued bytes until everything up to `end` is on the socket. Bytes queued after
    /// `end` are left to their own requests.
    pub(crate) async fn write_until(&self, end: u64) -> Result<(), Error> {
        if self.written.load(Ordering::Acquire) >= end {
            return Ok(());
        }
        // Uncontended (the usual case): write straight away.
        if let Ok(mut writer) = self.writer.try_lock() {
            return self.write_locked(&mut writer, end, COALESCE).await;
        }
        loop {
            // Registered before the check, so progress made in between is not missed.
            let progress = self.write_progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            if self.written.load(Ordering::Acquire) >= end {
                return Ok(());
            }
            tokio::select! {
                biased;
                mut writer = self.writer.lock() => return self.write_locked(&mut writer, end, COALESCE).await,
                () = &mut progress => {}
            }
        }
    }

    /// Writes up to `end`. What is queued right behind it is taken along in the same write, up to
    /// `coalesce` bytes, so pipelined requests share system calls; a write never waits for bytes
    /// beyond `end`, so a large payload queued later cannot hold this request up.
    async fn write_locked(
        &self,
        writer: &mut Writer,
        end: u64,
        coalesce: usize,
    ) -> Result<(), Error> {
        while writer.written < end {
            if writer.inflight.is_empty() && writer.direct.is_empty() {
                let mut core = self.lock_core();
                let wanted =
                    usize::try_from(end.saturating_sub(core.outbox_start)).unwrap_or(usize::MAX);
                let take = wanted.max(coalesce).min(core.outbox.len());
                if take == 0 {
                    // Nothing queued up to `end` remains: it was all taken by an earlier write.
                    break;
                }
                writer.inflight = core.outbox.split_to(take);
                core.outbox_start += take as u64;
            }
            self.write_some(writer).await?;
        }
        Ok(())
    }

    /// One write to the socket: in-flight outbox bytes first, then direct bytes.
    async fn write_some(&self, writer: &mut Writer) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.poll_write_some(writer, cx)).await
    }

    fn poll_write_some(
        &self,
        writer: &mut Writer,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error>> {
        let Writer {
            half,
            inflight,
            written,
            direct,
        } = writer;
        let from_outbox = !inflight.is_empty();
        let buf = if from_outbox { inflight } else { direct };
        match ready!(std::pin::Pin::new(half).poll_write(cx, buf)) {
            Ok(0) => Poll::Ready(Err(self.fail(Error::io(
                "could not write to the server",
                io::Error::new(io::ErrorKind::WriteZero, "the socket accepted no bytes"),
            )))),
            Ok(n) => {
                buf.advance(n);
                if from_outbox {
                    *written += n as u64;
                    self.written.store(*written, Ordering::Release);
                    self.write_progress.notify_waiters();
                }
                Poll::Ready(Ok(()))
            }
            Err(e) => Poll::Ready(Err(self.write_failed(e))),
        }
    }

    /// Writes whatever the socket takes right now without waiting, for `Drop`, which cannot
    /// await: the writer's pending bytes, then the whole outbox. The rest stays queued.
    pub(crate) fn flush_now(&self) {
        let Ok(mut writer) = self.writer.try_lock() else {
            return;
        };
        loop {
            let all_written = Connection::try_write_all(&mut writer);
            self.written.store(writer.written, Ordering::Release);
            if !all_written {
                return;
            }
            let mut core = self.lock_core();
            if core.outbox.is_empty() {
                return;
            }
            let take = core.outbox.len();
            writer.inflight = core.outbox.split_to(take);
            core.outbox_start += take as u64;
        }
    }

    /// Writes the writer's pending bytes without waiting; whether they all went out.
    fn try_write_all(writer: &mut Writer) -> bool {
        loop {
            let Writer {
                half,
                inflight,
                written,
                direct,
            } = &mut *writer;
            let from_outbox = !inflight.is_empty();
            let buf = if from_outbox { inflight } else { direct };
            if buf.is_empty() {
                return true;
            }
            match half.try_write(buf) {
                Ok(n) if n > 0 => {
                    buf.advance(n);
                    if from_outbox {
                        *written += n as u64;
                    }
                }
                _ => return false,
            }
        }
    }

    /// Writes the request's bytes while waiting for its turn (draining what is ahead of it), and
    /// returns a receiver for its responses once both are done.
    pub(crate) async fn send<'c>(&'c self, ticket: Ticket<'c>) -> Result<Receiver<'c>, Error> {
        let end = ticket.end;
        if self.others_outstanding(ticket.id) {
            // Requests are in flight, so this one waits for their answers anyway: let the other
            // tasks that are about to issue requests queue theirs first, so that one write
            // carries them all (many tasks pipelining on one connection would otherwise make one
            // system call per request). A lone request is written at once.
            tokio::task::yield_now().await;
        }
        let (written, received) = tokio::join!(self.write_until(end), self.receive(ticket));
        written?;
        received
    }

    /// Whether requests other than ticket `id` are waiting for answers.
    fn others_outstanding(&self, id: u64) -> bool {
        let core = self.lock_core();
        core.slots.len() > 1 || core.serving != id
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

    /// Reads and discards the responses of the abandoned requests at the front.
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
            // An abandoned simple query's COPY FROM STDIN was already ended with CopyFail by its
            // writer guard; an extended one's is ended here.
            match poll_fn(|cx| self.poll_read_message(&mut reader, cx)).await? {
                BackendMessage::ReadyForQuery(status) => {
                    self.ready_for_query(status);
                }
                BackendMessage::CopyInResponse(_) => {
                    let front = {
                        let core = self.lock_core();
                        core.slots.front().map(|slot| (slot.extended, slot.end))
                    };
                    if let Some((true, end)) = front
                        && !self.end_extended_copy_in(end)
                    {
                        return Err(self.fail(Error::usage(EXTENDED_COPY_IN)));
                    }
                }
                _ => {}
            }
        }
    }

    /// Ends a COPY FROM STDIN that an extended-query request started (the server waits for data
    /// the request will never send) with CopyFail, and Sync for the one the server ignored while
    /// copying. Only possible while nothing queued after the request (`end`) reached the server:
    /// in copy mode the server would take those bytes as a failed copy and skip them. Returns
    /// whether the copy was ended; if not, the connection cannot be brought back in step.
    pub(crate) fn end_extended_copy_in(&self, end: u64) -> bool {
        let Ok(mut writer) = self.writer.try_lock() else {
            return false;
        };
        if writer.written != end || !writer.inflight.is_empty() || !writer.direct.is_empty() {
            return false;
        }
        if frontend::copy_fail(&mut writer.direct, EXTENDED_COPY_IN).is_err() {
            return false;
        }
        frontend::sync(&mut writer.direct);
        // A few dozen bytes to a server that is reading: the socket takes them at once.
        Connection::try_write_all(&mut writer)
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
        let idle = core.slots.is_empty();
        drop(core);
        if idle {
            self.wake_notifications();
        }
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

    /// Closes the connection because of `error`: every waiting request is woken and fails, and
    /// the server is told (Terminate, if the socket takes it at once) so it does not keep the
    /// session and its locks. Returns the error for the caller to report.
    pub(crate) fn fail(&self, error: Error) -> Error {
        self.mark_closed(Closed::ByError(error.clone()));
        if let Ok(mut writer) = self.writer.try_lock() {
            // Half-written messages must not be completed by a Terminate: only when nothing is
            // pending is it safe to add one.
            if writer.inflight.is_empty() && writer.direct.is_empty() {
                frontend::terminate(&mut writer.direct);
                Connection::try_write_all(&mut writer);
            }
        }
        error
    }

    /// The error for a failed write. A server that ends a session (administrator shutdown,
    /// terminated backend) sends a FATAL ErrorResponse before closing; when it is already in the
    /// read buffer or the socket, that error is what the user sees, with the I/O error as its
    /// cause.
    fn write_failed(&self, e: io::Error) -> Error {
        let io_error = Error::io("could not write to the server", e);
        let fatal = self.pending_fatal_error();
        self.fail(match fatal {
            Some(fields) => Error::db(fields).with_cause(io_error),
            None => io_error,
        })
    }

    /// A FATAL or PANIC ErrorResponse that already arrived, read without waiting.
    fn pending_fatal_error(&self) -> Option<crate::proto::backend::ErrorFields> {
        let mut reader = self.reader.try_lock().ok()?;
        arrived_fatal_error(&mut reader)
    }

    /// Decodes the next frame; a read or decode error closes the connection.
    fn poll_frame(
        &self,
        reader: &mut Reader,
        cx: &mut Context<'_>,
    ) -> Poll<Result<BackendMessage, Error>> {
        let result = ready!(reader.poll_next_frame(cx))
            .and_then(|frame| frame.decode().map_err(Error::protocol));
        Poll::Ready(result.map_err(|e| self.fail(e)))
    }

    /// Reads the next frame addressed to a request, dispatching notices, notifications and
    /// parameter changes (recognised by their type byte, so other frames are not decoded here).
    /// Any read error closes the connection.
    fn poll_read_frame(
        &self,
        reader: &mut Reader,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Frame, Error>> {
        loop {
            let frame = match ready!(reader.poll_next_frame(cx)) {
                Ok(frame) => frame,
                Err(e) => return Poll::Ready(Err(self.fail(e))),
            };
            if !matches!(
                frame.tag,
                tag::NOTICE_RESPONSE | tag::NOTIFICATION_RESPONSE | tag::PARAMETER_STATUS
            ) {
                return Poll::Ready(Ok(frame));
            }
            let message = frame.decode().map_err(|e| self.fail(Error::protocol(e)))?;
            self.dispatch_async(message)?;
        }
    }

    /// Reads the next message addressed to a request (see [`Connection::poll_read_frame`]).
    fn poll_read_message(
        &self,
        reader: &mut Reader,
        cx: &mut Context<'_>,
    ) -> Poll<Result<BackendMessage, Error>> {
        let frame = ready!(self.poll_read_frame(reader, cx))?;
        Poll::Ready(frame.decode().map_err(|e| self.fail(Error::protocol(e))))
    }

    /// Handles a message that may arrive at any time; returns the others.
    fn dispatch_async(&self, message: BackendMessage) -> Result<Option<BackendMessage>, Error> {
        match message {
            BackendMessage::NoticeResponse(fields) => {
                let notice = DbError::from_fields(fields);
                let handler = self
                    .notice_handler
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .clone();
                handler(&notice);
                Ok(None)
            }
            BackendMessage::NotificationResponse(notification) => {
                let mut notifications = self.lock_notifications();
                notifications.push(notification);
                if let Some(waker) = notifications.waker.take() {
                    waker.wake();
                }
                Ok(None)
            }
            BackendMessage::ParameterStatus(status) => {
                let recorded = startup::record_parameter(
                    &mut self
                        .parameters
                        .write()
                        .unwrap_or_else(|poisoned| poisoned.into_inner()),
                    status.name,
                    status.value,
                );
                match recorded {
                    Ok(()) => Ok(None),
                    Err(e) => Err(self.fail(Error::protocol(e))),
                }
            }
            other => Ok(Some(other)),
        }
    }

    fn lock_notifications(&self) -> MutexGuard<'_, NotificationQueue> {
        self.notifications
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wake_notifications(&self) {
        if let Some(waker) = self.lock_notifications().waker.take() {
            waker.wake();
        }
    }

    /// The next notification: from the queue, or read from the socket while no request is
    /// outstanding. `None` once the connection is closed and the queue is empty.
    pub(crate) fn poll_notification(&self, cx: &mut Context<'_>) -> Poll<Option<Notification>> {
        loop {
            {
                let mut notifications = self.lock_notifications();
                if let Some(notification) = notifications.pop() {
                    return Poll::Ready(Some(notification));
                }
                // Registered before checking the socket, so a notification dispatched by a
                // request in between wakes this task.
                notifications.waker = Some(cx.waker().clone());
            }
            match self.poll_idle_read(cx) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(_)) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Reads messages that arrive while no request is outstanding: notifications, notices,
    /// parameter changes, and a FATAL error or end of stream that closes the connection. Ready
    /// when at least one message was handled; an error once the connection is closed.
    /// Reads, without waiting, what the server sent while the connection is idle: notifications
    /// are queued, and a FATAL error or the end of the stream closes the connection.
    pub(crate) fn read_idle_input(&self) {
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..64 {
            if !matches!(self.poll_idle_read(&mut cx), Poll::Ready(Ok(()))) {
                break;
            }
        }
        // The read above registered a no-op waker with the socket: a notification stream
        // waiting on it polls again to register its own.
        self.wake_notifications();
    }

    fn poll_idle_read(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        {
            let core = self.lock_core();
            if let Some(closed) = &core.closed {
                return Poll::Ready(Err(closed.error()));
            }
            if !core.slots.is_empty() {
                // A request reads; it dispatches notifications and wakes this task when done.
                return Poll::Pending;
            }
        }
        let Ok(mut reader) = self.reader.try_lock() else {
            return Poll::Pending;
        };
        loop {
            if reader.has_frame()? {
                let asynchronous = matches!(
                    reader.front_tag(),
                    Some(tag::NOTICE_RESPONSE | tag::NOTIFICATION_RESPONSE | tag::PARAMETER_STATUS)
                );
                // Anything else is only ours if no request is outstanding (a request's response
                // cannot arrive before the request), so it was sent unprompted.
                let unprompted = !asynchronous && self.lock_core().slots.is_empty();
                if !asynchronous && !unprompted {
                    return Poll::Pending;
                }
                let message = ready!(self.poll_frame(&mut reader, cx))?;
                return Poll::Ready(match self.dispatch_async(message)? {
                    None => Ok(()),
                    Some(BackendMessage::ErrorResponse(fields)) => {
                        Err(self.fail(Error::db(fields)))
                    }
                    Some(other) => {
                        Err(self.fail(Error::protocol(ProtocolError::UnexpectedMessage {
                            expected: "no message while idle",
                            got: other.name(),
                        })))
                    }
                });
            }
            match reader.poll_fill(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(self.fail(e))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Sends Terminate and shuts the socket's write side; the connection is closed afterwards.
    pub(crate) async fn close(&self) -> Result<(), Error> {
        let ticket = {
            if self.lock_core().closed.is_some() {
                return Ok(());
            }
            self.enqueue(0, |buf| {
                frontend::terminate(buf);
                Ok(())
            })?
        };
        let written = self.write_until(ticket.end).await;
        self.mark_closed(Closed::ByClient);
        let mut writer = self.writer.lock().await;
        // The server may already have closed its side; there is nothing left to report then.
        let _ = writer.half.shutdown().await;
        written
    }

    /// Records why the connection closed and wakes everyone waiting on it.
    fn mark_closed(&self, why: Closed) {
        {
            let mut core = self.lock_core();
            if core.closed.is_none() {
                core.closed = Some(why);
            }
            for slot in core.slots.iter_mut() {
                if let Some(waker) = slot.waker.take() {
                    waker.wake();
                }
            }
        }
        self.wake_notifications();
    }

    /// Best-effort Terminate for `Drop`: queues it and writes whatever the socket takes right now,
    /// without waiting.
    pub(crate) fn close_without_waiting(&self) {
        if self.lock_core().closed.is_some() {
            return;
        }
        let _ = self.enqueue(0, |buf| {
            frontend::terminate(buf);
            Ok(())
        });
        self.mark_closed(Closed::ByClient);
        self.flush_now();
    }

    /// Whether the only outstanding request is an abandoned one (a request that timed out), so a
    /// cancel can only hit it as long as nothing new is written.
    pub(crate) fn only_abandoned_outstanding(&self) -> bool {
        let core = self.lock_core();
        core.slots.len() == 1 && core.slots.front().is_some_and(|slot| slot.abandoned)
    }

    /// Whether no request is outstanding.
    pub(crate) fn is_idle(&self) -> bool {
        self.lock_core().slots.is_empty()
    }

    /// Takes the writer, so nothing new is written while it is held (for a cancel that must not
    /// hit a later query).
    pub(crate) async fn hold_writer(&self) -> tokio::sync::MutexGuard<'_, Writer> {
        self.writer.lock().await
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock_core().closed.is_some()
    }

    /// The error requests get once the connection is closed, if it is.
    pub(crate) fn closed_error(&self) -> Option<Error> {
        self.lock_core().closed.as_ref().map(Closed::error)
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
        let mut notifications = self.lock_notifications();
        notifications.bytes = 0;
        notifications.dropped = false;
        notifications.queue.drain(..).collect()
    }
}
