//! The reading half of a connection: a buffer filled from the socket and split into frames by the
//! core's [`FrameDecoder`].
//!
//! Reading is poll-based so streams can be implemented without boxing a future per item. Every poll
//! either completes a step or leaves the buffer as it was, so dropping a reader's future at any
//! point never loses or duplicates bytes. Bytes are read into the buffer's spare capacity directly
//! (tokio-util's `poll_read_buf`), without zeroing it first.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use tokio_util::io::poll_read_buf;

use crate::error::Error;
use crate::net::ReadHalf;
use crate::proto::backend::{BackendMessage, ErrorFields};
use crate::proto::frame::{Frame, FrameDecoder};

/// The smallest read from the socket.
const READ_CHUNK: usize = 16 * 1024;
/// The size of a read made straight from the socket (see [`Reader::poll_fill`]): enough for the
/// answer to a typical request; a larger one continues through the event loop.
const READ_NOW: usize = 4 * 1024;
/// After this many reads straight from the socket found nothing in a row (the server answers
/// from elsewhere, later), only one attempt in [`READ_NOW_PROBE`] is made.
const READ_NOW_MISSES: u8 = 4;
const READ_NOW_PROBE: u8 = 16;
/// The largest read at once; a message that declares a huge length grows the buffer only as its
/// bytes actually arrive.
const MAX_READ: usize = 64 * 1024;

/// The reading half with its buffer and frame decoder.
pub(crate) struct Reader {
    half: ReadHalf,
    buf: BytesMut,
    decoder: FrameDecoder,
    /// The last read took all the socket held, so tokio considers the socket not readable until
    /// the event loop says otherwise.
    drained: bool,
    /// Reads straight from the socket that found nothing, in a row.
    misses: u8,
    /// Reads through the event loop since the last attempt to read straight from the socket.
    skipped: u8,
    /// Where a read straight from the socket lands before its bytes join `buf`: zeroed once, so
    /// such a read (usually of a few dozen bytes) does not zero `buf`'s spare room each time.
    scratch: Box<[u8; READ_NOW]>,
}

impl Reader {
    pub(crate) fn new(half: ReadHalf, max_message_size: usize) -> Reader {
        Reader {
            half,
            buf: BytesMut::with_capacity(READ_CHUNK),
            decoder: FrameDecoder::new(max_message_size),
            drained: true,
            misses: 0,
            skipped: 0,
            scratch: Box::new([0; READ_NOW]),
        }
    }

    /// The type byte of the next message, if its first byte has arrived.
    pub(crate) fn front_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// Whether a whole message is buffered.
    pub(crate) fn has_frame(&self) -> Result<bool, Error> {
        Ok(self
            .decoder
            .bytes_needed(&self.buf)
            .map_err(Error::protocol)?
            == 0
            && !self.buf.is_empty())
    }

    /// The next whole message, reading from the socket as needed.
    pub(crate) fn poll_next_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<Frame, Error>> {
        loop {
            if let Some(frame) = self
                .decoder
                .next_frame(&mut self.buf)
                .map_err(Error::protocol)?
            {
                return Poll::Ready(Ok(frame));
            }
            ready!(self.poll_fill(cx))?;
        }
    }

    /// Reads once from the socket into the buffer. Ready means at least one byte arrived.
    ///
    /// When the socket was drained by the last read, tokio would wait for the event loop to report
    /// it readable again before reading. A server on the same machine has usually answered by the
    /// time the request's write returns, so the socket is read straight away first; only if that
    /// finds nothing does the read wait on the event loop. Where that keeps finding nothing (a
    /// server that answers later), the attempt is made only now and then.
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.drained && self.worth_reading_now() {
            match self.half.read_now(&mut self.scratch[..]) {
                Ok(0) => return Poll::Ready(Err(end_of_stream())),
                Ok(n) => {
                    let Some(read) = self.scratch.get(..n) else {
                        return Poll::Ready(Err(Error::io(
                            "could not read from the server",
                            io::Error::other("the socket reported more bytes than asked for"),
                        )));
                    };
                    self.buf.extend_from_slice(read);
                    self.misses = 0;
                    // A full read may have left more: the event loop's readiness says.
                    self.drained = n < READ_NOW;
                    return Poll::Ready(Ok(()));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    self.misses = self.misses.saturating_add(1);
                }
                Err(e) => {
                    return Poll::Ready(Err(Error::io("could not read from the server", e)));
                }
            }
        }
        let needed = self
            .decoder
            .bytes_needed(&self.buf)
            .map_err(Error::protocol)?;
        // Room for what the current message still needs (within bounds): a message that declares
        // a huge length grows the buffer only as its bytes actually arrive.
        let want = needed.clamp(READ_CHUNK, MAX_READ);
        if self.buf.capacity() - self.buf.len() < want {
            self.buf.reserve(want);
        }
        let room = self.buf.capacity() - self.buf.len();
        match poll_read_buf(Pin::new(&mut self.half), cx, &mut self.buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(Error::io("could not read from the server", e))),
            Poll::Ready(Ok(0)) => Poll::Ready(Err(end_of_stream())),
            Poll::Ready(Ok(n)) => {
                // tokio forgets the socket's readiness after a read that did not fill the buffer.
                self.drained = n < room;
                Poll::Ready(Ok(()))
            }
        }
    }

    /// Whether to try reading straight from the socket (see [`Reader::poll_fill`]).
    fn worth_reading_now(&mut self) -> bool {
        if self.misses < READ_NOW_MISSES {
            return true;
        }
        self.skipped = self.skipped.wrapping_add(1);
        self.skipped % READ_NOW_PROBE == 0
    }

    /// The first FATAL or PANIC ErrorResponse among the whole messages buffered, without consuming
    /// anything.
    pub(crate) fn scan_fatal_error(&self) -> Option<ErrorFields> {
        let mut copy = self.buf.clone();
        while let Ok(Some(frame)) = self.decoder.next_frame(&mut copy) {
            if let Ok(BackendMessage::ErrorResponse(fields)) = frame.decode() {
                let severity = fields.get(b'V').or_else(|| fields.get(b'S'));
                if matches!(severity, Some("FATAL" | "PANIC")) {
                    return Some(fields);
                }
            }
        }
        None
    }

    /// The next whole message, for the startup exchange.
    pub(crate) async fn next_frame(&mut self) -> Result<Frame, Error> {
        std::future::poll_fn(|cx| self.poll_next_frame(cx)).await
    }
}

/// The error for a socket the server closed.
fn end_of_stream() -> Error {
    Error::io(
        "the server closed the connection unexpectedly",
        io::Error::new(io::ErrorKind::UnexpectedEof, "end of stream"),
    )
}
