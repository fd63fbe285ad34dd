//! COPY: `COPY ... FROM STDIN` fed through a writer (or from a stream), and `COPY ... TO STDOUT`
//! read as a stream of chunks. Text, CSV and binary data pass through unchanged;
//! [`BinaryCopyInWriter`] encodes typed rows in the binary COPY format.
//!
//! While a COPY FROM STDIN runs, the connection's writer is its own (the server accepts nothing
//! but COPY messages then): other requests queue and go out after it ends. A writer dropped
//! without [`CopyInWriter::finish`] ends the COPY with CopyFail, so nothing is copied.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{BufMut, Bytes, BytesMut};
use futures_core::Stream;

use crate::client::{Client, next_or_db_error, unexpected};
use crate::connection::{ExclusiveWriter, Receiver};
use crate::error::Error;
use crate::proto::ProtocolError;
use crate::proto::backend::BackendMessage;
use crate::proto::frontend;
use crate::types::{BoxError, IsNull, ToSql, Type};

/// Data is sent in CopyData messages of about this size.
const CHUNK: usize = 64 * 1024;

/// The room a buffer of COPY data starts with: a chunk, its message header and the end of a row.
const BUFFER: usize = CHUNK + CHUNK / 4;

/// The data of a `COPY ... FROM STDIN`, from [`Client::copy_in`].
///
/// Write with [`CopyInWriter::write`] (or through [`tokio::io::AsyncWrite`]), or hand over a
/// stream with [`CopyInWriter::send_stream`], then call [`CopyInWriter::finish`] for the row count.
///
/// ```no_run
/// # async fn demo(client: &pg_wire::Client) -> Result<(), pg_wire::Error> {
/// let mut copy = client.copy_in("COPY items (id, name) FROM STDIN (FORMAT csv)").await?;
/// copy.write(b"1,one\n2,two\n").await?;
/// assert_eq!(copy.finish().await?, 2);
/// # Ok(()) }
/// ```
pub struct CopyInWriter<'c> {
    receiver: Receiver<'c>,
    writer: Option<ExclusiveWriter<'c>>,
    /// A CopyData message being filled: a placeholder for its tag and length, then the data not
    /// yet sent. Empty when there is no such data (see [`CopyInWriter::data`]).
    buffer: BytesMut,
}

impl std::fmt::Debug for CopyInWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyInWriter")
            .field("buffered", &self.buffered())
            .finish_non_exhaustive()
    }
}

/// Reads a refused statement's responses to their end (`first` is the one already read), ending
/// with CopyFail any COPY FROM STDIN the server starts (it would otherwise wait for data forever), then gives the writer back.
/// Returns `error`, or the failure of the connection if reading failed.
async fn refuse(
    mut receiver: Receiver<'_>,
    mut writer: ExclusiveWriter<'_>,
    first: &BackendMessage,
    error: Error,
) -> Error {
    if let BackendMessage::CopyInResponse(_) = first
        && let Err(e) = writer
            .end_copy(Some("the COPY statement went the other way"))
            .await
    {
        return e;
    }
    while !receiver.is_finished() {
        let step = match receiver.next().await {
            Ok(BackendMessage::CopyInResponse(_)) => {
                writer
                    .end_copy(Some("the COPY statement went the other way"))
                    .await
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = step {
            return e;
        }
    }
    writer.release();
    error
}

impl<'c> CopyInWriter<'c> {
    pub(crate) async fn start(client: &'c Client, sql: &str) -> Result<CopyInWriter<'c>, Error> {
        let conn = client.connection();
        let (ticket, writer) = conn
            .enqueue_exclusive(1, |buf| frontend::query(buf, sql).map_err(Error::encode))
            .await?;
        let mut receiver = conn.receive(ticket).await?;
        match next_or_db_error(&mut receiver).await? {
            BackendMessage::CopyInResponse(_) => {}
            other => {
                // Not a COPY FROM STDIN: read the statement to its end, then refuse.
                let error = Error::usage(format!(
                    "copy_in needs a COPY ... FROM STDIN statement; the server answered with {}",
                    other.name()
                ));
                return Err(refuse(receiver, writer, &other, error).await);
            }
        }
        Ok(CopyInWriter {
            receiver,
            writer: Some(writer),
            buffer: BytesMut::new(),
        })
    }

    fn writer(&mut self) -> Result<&mut ExclusiveWriter<'c>, Error> {
        self.writer
            .as_mut()
            .ok_or_else(|| Error::usage("the COPY has ended"))
    }

    /// The buffer to append data to, its CopyData header placeholder in place.
    fn data(&mut self) -> &mut BytesMut {
        if self.buffer.is_empty() {
            // Room for a whole message from the start. A buffer that comes back from the writer
            // (see `frame_buffer`) has its free space before its start: this moves the start back
            // while the buffer is still empty, rather than shifting the data once it fills.
            self.buffer.reserve(BUFFER);
            self.buffer.put_bytes(0, frontend::COPY_DATA_HEADER);
        }
        &mut self.buffer
    }

    /// The number of data bytes written and not yet framed.
    fn buffered(&self) -> usize {
        self.buffer.len().saturating_sub(frontend::COPY_DATA_HEADER)
    }

    /// Completes the buffered data's CopyData message and queues it, without copying it when
    /// nothing else is pending (the writer's empty buffer comes back in exchange).
    /// Ends the COPY at once, dropping what is buffered: dropping the writer sends CopyFail, and
    /// every later call (`finish` included) fails with "the COPY has ended".
    fn discard(&mut self) {
        self.buffer.clear();
        self.writer = None;
    }

    fn frame_buffer(&mut self) -> Result<(), Error> {
        if self.buffered() == 0 {
            self.buffer.clear();
            return Ok(());
        }
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::usage("the COPY has ended"))?;
        if let Err(e) = frontend::finish_copy_data(&mut self.buffer) {
            // Data already accepted by `write` cannot be sent: the COPY must not end as if it had
            // been.
            self.discard();
            return Err(Error::encode(e));
        }
        writer.queue_messages(&mut self.buffer);
        Ok(())
    }

    /// Writes data (any slicing: rows may span calls). It is sent in chunks of about 64 KiB.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        self.data().extend_from_slice(data);
        if self.buffered() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends everything written so far.
    pub async fn flush(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.poll_send(cx)).await
    }

    /// Feeds the COPY from a stream of chunks. If the stream yields an error, the COPY is aborted
    /// with CopyFail carrying the error's text, and the error is returned.
    pub async fn send_stream<S, B, E>(&mut self, mut stream: S) -> Result<(), Error>
    where
        S: Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        while let Some(item) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await
        {
            match item {
                Ok(chunk) => self.write(chunk.as_ref()).await?,
                Err(e) => {
                    let reason = format!("the COPY data source failed: {e}");
                    let error = Error::usage(reason.clone());
                    self.abort_inner(&reason).await?;
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// Ends the COPY and returns the number of rows copied.
    pub async fn finish(mut self) -> Result<u64, Error> {
        self.flush().await?;
        let writer = self.writer()?;
        if let Err(e) = writer.end_copy(None).await {
            return Err(self.receiver.explain_io_error(e));
        }
        if let Some(writer) = self.writer.take() {
            writer.release();
        }
        let rows = match next_or_db_error(&mut self.receiver).await? {
            BackendMessage::CommandComplete(complete) => complete.rows().unwrap_or(0),
            other => return Err(unexpected(&self.receiver, "CommandComplete", &other)),
        };
        match next_or_db_error(&mut self.receiver).await? {
            BackendMessage::ReadyForQuery(_) => Ok(rows),
            other => Err(unexpected(&self.receiver, "ReadyForQuery", &other)),
        }
    }

    /// Aborts the COPY with CopyFail: nothing is copied. Returns once the server has confirmed.
    pub async fn abort(mut self, reason: &str) -> Result<(), Error> {
        self.abort_inner(reason).await
    }

    async fn abort_inner(&mut self, reason: &str) -> Result<(), Error> {
        self.buffer.clear();
        let writer = self.writer()?;
        writer.end_copy(Some(reason)).await?;
        if let Some(writer) = self.writer.take() {
            writer.release();
        }
        // The server answers CopyFail with an ErrorResponse (57014) and ReadyForQuery.
        match self.receiver.next().await? {
            BackendMessage::ErrorResponse(_) => {}
            other => {
                return Err(unexpected(
                    &self.receiver,
                    "ErrorResponse after CopyFail",
                    &other,
                ));
            }
        }
        self.receiver.finish().await
    }
}

impl tokio::io::AsyncWrite for CopyInWriter<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.buffered() >= CHUNK {
            ready!(this.poll_send(cx)).map_err(std::io::Error::other)?;
        }
        this.data().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().poll_send(cx).map_err(std::io::Error::other)
    }

    /// Sends what was written; the COPY itself ends with [`CopyInWriter::finish`].
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl CopyInWriter<'_> {
    /// Frames and writes the buffered data. A write that fails because the server ended the
    /// session reports the server's reason.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.frame_buffer()?;
        match ready!(self.writer()?.poll_write_direct(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(self.receiver.explain_io_error(e))),
        }
    }
}

/// The binary COPY signature, flags field and header extension length.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Writes typed rows in PostgreSQL's binary COPY format through a [`CopyInWriter`].
///
/// ```no_run
/// # async fn demo(client: &pg_wire::Client) -> Result<(), pg_wire::Error> {
/// use pg_wire::types::Type;
/// let copy = client.copy_in("COPY items (id, name) FROM STDIN (FORMAT binary)").await?;
/// let mut writer = pg_wire::BinaryCopyInWriter::new(copy, &[Type::INT4, Type::TEXT]);
/// writer.write(&[&1i32, &"one"]).await?;
/// assert_eq!(writer.finish().await?, 1);
/// # Ok(()) }
/// ```
///
/// Rows are encoded straight into the COPY's CopyData message (no copy per row), which goes out
/// at about 64 KiB.
#[derive(Debug)]
pub struct BinaryCopyInWriter<'c> {
    inner: CopyInWriter<'c>,
    types: Vec<Type>,
    /// The header goes out with the first row, or with the trailer if there is none.
    header_written: bool,
}

impl<'c> BinaryCopyInWriter<'c> {
    /// A writer for rows whose columns have `types`, in order.
    pub fn new(inner: CopyInWriter<'c>, types: &[Type]) -> BinaryCopyInWriter<'c> {
        BinaryCopyInWriter {
            inner,
            types: types.to_vec(),
            header_written: false,
        }
    }

    /// Writes one row; `values` must match the column types. A row that fails to encode is
    /// left out whole, and the writer stays usable.
    pub async fn write(&mut self, values: &[&(dyn ToSql + Sync)]) -> Result<(), Error> {
        self.encode_row(values)?;
        if self.inner.buffered() >= CHUNK {
            self.inner.flush().await?;
        }
        Ok(())
    }

    /// Appends one row to the COPY's buffer; on failure the buffer is as it was.
    fn encode_row(&mut self, values: &[&(dyn ToSql + Sync)]) -> Result<(), Error> {
        if values.len() != self.types.len() {
            return Err(Error::usage(format!(
                "the COPY has {} column(s) but the row has {} value(s)",
                self.types.len(),
                values.len()
            )));
        }
        let count =
            i16::try_from(values.len()).map_err(|_| Error::usage("too many columns for COPY"))?;
        let buffer = self.inner.data();
        let row_start = buffer.len();
        if !self.header_written {
            buffer.put_slice(BINARY_HEADER);
        }
        buffer.put_i16(count);
        let encoded = encode_fields(buffer, values, &self.types);
        if encoded.is_err() {
            if buffer.len() < row_start {
                // A value removed bytes of earlier rows (rows `write` accepted): they cannot be
                // restored, so the COPY is aborted rather than finished without them.
                self.inner.discard();
                return Err(Error::usage(
                    "a value removed COPY data it did not write; the COPY was aborted",
                ));
            }
            buffer.truncate(row_start);
        } else {
            self.header_written = true;
        }
        encoded
    }

    /// Writes the trailer, ends the COPY and returns the number of rows copied.
    pub async fn finish(mut self) -> Result<u64, Error> {
        if !self.header_written {
            self.inner.write(BINARY_HEADER).await?;
        }
        self.inner.write(&(-1i16).to_be_bytes()).await?;
        self.inner.finish().await
    }
}

/// Appends the fields of a row (each a length and a value) to `buffer`. On failure part of the
/// row may have been written.
fn encode_fields(
    buffer: &mut BytesMut,
    values: &[&(dyn ToSql + Sync)],
    types: &[Type],
) -> Result<(), Error> {
    for (i, (&value, ty)) in values.iter().zip(types).enumerate() {
        if !value.accepts(ty) {
            return Err(wrong_type(i, value, ty));
        }
        let len_at = buffer.len();
        buffer.put_i32(0);
        let len = match value.to_sql(ty, buffer) {
            Ok(IsNull::No) => {
                let written = buffer.len().checked_sub(len_at + 4).ok_or_else(|| {
                    Error::usage(format!(
                        "the value of column {} removed COPY data it did not write",
                        i + 1
                    ))
                })?;
                i32::try_from(written)
                    .map_err(|_| Error::usage("a COPY value is larger than 2 GiB"))?
            }
            Ok(IsNull::Yes) => {
                buffer.truncate(len_at + 4);
                -1
            }
            Err(e) => return Err(encode_failed(i, value, ty, e)),
        };
        if let Some(slot) = buffer.get_mut(len_at..len_at + 4) {
            slot.copy_from_slice(&len.to_be_bytes());
        }
    }
    Ok(())
}

/// The error for column `i` (from 0) when its value does not accept the column's type.
#[cold]
#[inline(never)]
fn wrong_type(i: usize, value: &(dyn ToSql + Sync), ty: &Type) -> Error {
    Error::conversion(
        format!(
            "cannot copy Rust type {} into column {} of SQL type {ty}",
            value.type_name(),
            i + 1
        ),
        None,
    )
}

/// The error for column `i` (from 0) when its value fails to encode.
#[cold]
#[inline(never)]
fn encode_failed(i: usize, value: &(dyn ToSql + Sync), ty: &Type, cause: BoxError) -> Error {
    Error::conversion(
        format!(
            "could not encode column {} (Rust type {} as SQL type {ty})",
            i + 1,
            value.type_name()
        ),
        Some(cause),
    )
}

/// The output of a `COPY ... TO STDOUT`, from [`Client::copy_out`]: chunks of data as the server
/// sends them (a row per chunk in text and CSV formats). Implements [`futures_core::Stream`].
pub struct CopyOutStream<'c> {
    receiver: Option<Receiver<'c>>,
    /// The writer, held to the end like any simple query's (see the module docs).
    writer: Option<ExclusiveWriter<'c>>,
    rows: Option<u64>,
    error: Option<Error>,
}

impl std::fmt::Debug for CopyOutStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyOutStream")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl<'c> CopyOutStream<'c> {
    pub(crate) async fn start(client: &'c Client, sql: &str) -> Result<CopyOutStream<'c>, Error> {
        let conn = client.connection();
        let (ticket, writer) = conn
            .enqueue_exclusive(1, |buf| frontend::query(buf, sql).map_err(Error::encode))
            .await?;

        let mut receiver = conn.receive(ticket).await?;

        match next_or_db_error(&mut receiver).await? {
            BackendMessage::CopyOutResponse(_) => Ok(CopyOutStream {
                receiver: Some(receiver),
                writer: Some(writer),
                rows: None,
                error: None,
            }),
            other => {
                let error = Error::usage(format!(
                    "copy_out needs a COPY ... TO STDOUT statement; the server answered with {}",
                    other.name()
                ));
                Err(refuse(receiver, writer, &other, error).await)
            }
        }
    }

    /// The number of rows copied, once the stream has ended.
    pub fn rows(&self) -> Option<u64> {
        self.rows
    }

    /// The next chunk, `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Bytes, Error>> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        loop {
            let Some(receiver) = self.receiver.as_mut() else {
                return Poll::Ready(None);
            };
            let message = match ready!(receiver.poll_next(cx)) {
                Ok(message) => message,
                Err(e) => {
                    self.receiver = None;
                    // A FATAL error comes right before the end of the stream: report it, with
                    // the end of the stream as its cause.
                    let error = match self.error.take() {
                        Some(server_error) => server_error.with_cause(e),
                        None => e,
                    };
                    return Poll::Ready(Some(Err(error)));
                }
            };
            match message {
                BackendMessage::CopyData(data) => return Poll::Ready(Some(Ok(data))),
                BackendMessage::CopyDone => {}
                BackendMessage::CommandComplete(complete) => self.rows = complete.rows(),
                BackendMessage::ErrorResponse(fields) => self.error = Some(Error::db(fields)),
                BackendMessage::ReadyForQuery(_) if receiver.is_finished() => {
                    self.receiver = None;
                    if let Some(writer) = self.writer.take() {
                        writer.release();
                    }
                    return Poll::Ready(self.error.take().map(Err));
                }
                BackendMessage::ReadyForQuery(_) => {}
                other => {
                    let error = receiver.connection().fail(Error::protocol(
                        ProtocolError::UnexpectedMessage {
                            expected: "CopyData, CopyDone or CommandComplete",
                            got: other.name(),
                        },
                    ));
                    self.receiver = None;
                    return Poll::Ready(Some(Err(error)));
                }
            }
        }
    }
}

impl Stream for CopyOutStream<'_> {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_chunk(cx)
    }
}
