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
/// The largest read at once; a message that declares a huge length grows the buffer only as its
/// bytes actually arrive.
const MAX_READ: usize = 64 * 1024;

/// The reading half with its buffer and frame decoder.
pub(crate) struct Reader {
    half: ReadHalf,
    buf: BytesMut,
    decoder: FrameDecoder,
}

impl Reader {
    pub(crate) fn new(half: ReadHalf, max_message_size: usize) -> Reader {
        Reader {
            half,
            buf: BytesMut::with_capacity(READ_CHUNK),
            decoder: FrameDecoder::new(max_message_size),
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
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
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
        match poll_read_buf(Pin::new(&mut self.half), cx, &mut self.buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(Error::io("could not read from the server", e))),
            Poll::Ready(Ok(0)) => Poll::Ready(Err(Error::io(
                "the server closed the connection unexpectedly",
                io::Error::new(io::ErrorKind::UnexpectedEof, "end of stream"),
            ))),
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(())),
        }
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
