//! Executing a prepared statement with the extended query protocol: encoding Bind/Execute (with
//! Parse and Describe for unnamed statements, Close for one-shot ones), the response state machine
//! of one execution, and [`RowStream`], which hands rows out as they arrive.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use futures_core::Stream;

use crate::connection::{EXTENDED_COPY_IN, Receiver};
use crate::error::Error;
use crate::proto::ProtocolError;
use crate::proto::backend::{BackendMessage, DataRow, tag};
use crate::proto::frontend::{self, BindError, BindValue};
use crate::row::{Column, Row};
use crate::statement::{Statement, StatementKind};
use crate::types::{Format, IsNull, ToSql, has_binary_decoder};

/// The format in which the driver asks for a column of this type.
pub(crate) fn result_format(column_type: &crate::types::Type) -> Format {
    if has_binary_decoder(column_type) {
        Format::Binary
    } else {
        Format::Text
    }
}

/// The format codes a Bind carries for its parameters or results, in the shortest form: none
/// (all text, or nothing to format), one code for all, or one per value. The usual uniform case
/// allocates nothing.
pub(crate) enum FormatCodes {
    None,
    All([i16; 1]),
    Each(Vec<i16>),
}

impl FormatCodes {
    /// The shortest form of `codes` (see [`FormatCodes`]), in one pass over them.
    pub(crate) fn compact(mut codes: impl Iterator<Item = i16>) -> FormatCodes {
        let Some(first) = codes.next() else {
            return FormatCodes::None;
        };
        let mut same = 1;
        while let Some(code) = codes.next() {
            if code != first {
                let mut each = vec![first; same];
                each.push(code);
                each.extend(codes);
                return FormatCodes::Each(each);
            }
            same += 1;
        }
        if first == Format::Text.code() {
            FormatCodes::None
        } else {
            FormatCodes::All([first])
        }
    }

    /// The codes as the message carries them.
    pub(crate) fn as_slice(&self) -> &[i16] {
        match self {
            FormatCodes::None => &[],
            FormatCodes::All(one) => one,
            FormatCodes::Each(each) => each,
        }
    }
}

/// Checks the number of parameters and that each value can be sent as its parameter's type.
pub(crate) fn check_params(
    statement: &Statement,
    params: &[&(dyn ToSql + Sync)],
) -> Result<(), Error> {
    let types = statement.params();
    if params.len() != types.len() {
        return Err(Error::usage(format!(
            "the statement has {} parameter(s) but {} value(s) were given",
            types.len(),
            params.len()
        )));
    }
    for (i, (param, ty)) in params.iter().zip(types).enumerate() {
        if !param.accepts(ty) {
            return Err(Error::conversion(
                format!(
                    "cannot send Rust type {} as parameter ${} of SQL type {ty}",
                    param.type_name(),
                    i + 1
                ),
                None,
            ));
        }
    }
    Ok(())
}

/// One execution of a statement: which portal, how many rows at most, and whether the statement
/// is closed afterwards.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Execution<'s> {
    pub(crate) statement: &'s Statement,
    /// The portal name; empty for the unnamed portal.
    pub(crate) portal: &'s str,
    /// The row limit of Execute; 0 for all rows.
    pub(crate) max_rows: u32,
}

impl Execution<'_> {
    /// An execution of all rows in the unnamed portal.
    pub(crate) fn all(statement: &Statement) -> Execution<'_> {
        Execution {
            statement,
            portal: "",
            max_rows: 0,
        }
    }

    fn closes_statement(&self) -> bool {
        self.statement.kind() == StatementKind::OneShot
    }

    fn unnamed(&self) -> bool {
        self.statement.kind() == StatementKind::Unnamed
    }
}

/// Encodes the messages of one execution (without Sync): Parse for an unnamed statement, Bind,
/// Describe of the portal for an unnamed statement, Execute, and Close for a one-shot statement.
/// Parameters must have passed [`check_params`].
pub(crate) fn encode_execution(
    buf: &mut BytesMut,
    execution: Execution<'_>,
    params: &[&(dyn ToSql + Sync)],
) -> Result<(), Error> {
    let statement = execution.statement;
    if execution.unnamed() {
        encode_parse_unnamed(buf, statement)?;
    }
    encode_bind(buf, statement, execution.portal, params)?;
    if execution.unnamed() {
        frontend::describe(buf, frontend::Target::Portal, execution.portal)
            .map_err(Error::encode)?;
    }
    frontend::execute(buf, execution.portal, execution.max_rows).map_err(Error::encode)?;
    if execution.closes_statement() {
        frontend::close(buf, frontend::Target::Statement, statement.name())
            .map_err(Error::encode)?;
    }
    Ok(())
}

/// Encodes Parse of an unnamed statement's SQL with its described parameter types.
pub(crate) fn encode_parse_unnamed(buf: &mut BytesMut, statement: &Statement) -> Result<(), Error> {
    let oids: Vec<u32> = statement.params().iter().map(|t| t.oid()).collect();
    frontend::parse(buf, "", statement.sql(), &oids).map_err(Error::encode)
}

/// Encodes Bind of `statement` into `portal`: parameters in the formats their values choose,
/// results in the driver's formats for the column types.
pub(crate) fn encode_bind(
    buf: &mut BytesMut,
    statement: &Statement,
    portal: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<(), Error> {
    let types = statement.params();
    let param_formats = FormatCodes::compact(
        params
            .iter()
            .zip(types)
            .map(|(param, ty)| param.encode_format(ty).code()),
    );
    let result_codes = statement.columns().iter().map(|c| c.format().code());
    // An unnamed statement is parsed again at every execution and its columns may have changed
    // since it was described: one format per column makes the server refuse a Bind whose column
    // count is stale (08P01, which triggers a fresh description) instead of applying a single
    // format to columns it was not chosen for.
    let result_formats =
        if statement.kind() == StatementKind::Unnamed && !statement.columns().is_empty() {
            FormatCodes::Each(result_codes.collect())
        } else {
            FormatCodes::compact(result_codes)
        };
    let write_param = |i: usize, buf: &mut BytesMut| -> Result<BindValue, Error> {
        let (Some(param), Some(ty)) = (params.get(i), types.get(i)) else {
            return Err(Error::usage("parameter index out of range"));
        };
        match param.to_sql(ty, buf) {
            Ok(IsNull::No) => Ok(BindValue::Written),
            Ok(IsNull::Yes) => Ok(BindValue::Null),
            Err(e) => Err(Error::conversion(
                format!(
                    "could not encode parameter ${} (Rust type {} as SQL type {ty})",
                    i + 1,
                    param.type_name()
                ),
                Some(e),
            )),
        }
    };
    frontend::bind(
        buf,
        portal,
        statement.name(),
        param_formats.as_slice(),
        params.len(),
        write_param,
        result_formats.as_slice(),
    )
    .map_err(|e| match e {
        BindError::Encode(e) => Error::encode(e),
        BindError::Param { error, .. } => error,
    })
}

/// The row count of a CommandComplete body (`SELECT 5\0`), when it is a well-formed tag that
/// carries one; `None` sends the message through the general decoder.
fn command_rows(body: &[u8]) -> Option<u64> {
    let (last, text) = body.split_last()?;
    if *last != 0 {
        return None;
    }
    let space = text.iter().position(|&b| b == b' ')?;
    let (command, rest) = text.split_at(space);
    if !matches!(
        command,
        b"INSERT" | b"DELETE" | b"UPDATE" | b"SELECT" | b"MOVE" | b"FETCH" | b"COPY" | b"MERGE"
    ) {
        return None;
    }
    let start = rest.iter().rposition(|&b| b == b' ')? + 1;
    let digits = rest.get(start..)?;
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')),
    )
}

/// Whether two column lists have the same names and types.
fn same_columns(described: &[Column], cached: &[Column]) -> bool {
    described.len() == cached.len()
        && described
            .iter()
            .zip(cached)
            .all(|(a, b)| a.name() == b.name() && a.type_() == b.type_())
}

/// Where an execution's responses are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Expecting ParseComplete (unnamed statements).
    Parse,
    /// Expecting BindComplete.
    Bind,
    /// Expecting the portal's RowDescription or NoData (unnamed statements).
    Describe,
    /// Expecting DataRow, or the end: CommandComplete, EmptyQueryResponse or PortalSuspended.
    Rows,
    /// Expecting CloseComplete (one-shot statements).
    Close,
    /// Every response of the execution arrived.
    Done,
}

/// What one response message meant.
#[derive(Debug)]
pub(crate) enum Event {
    /// Nothing for the caller (a completion message of an earlier phase).
    Nothing,
    /// A row.
    Row(Row),
    /// The statement finished; the row count of its command tag.
    Complete(u64),
    /// Execute stopped at its row limit; the portal has more rows.
    Suspended,
}

/// The response state machine of one execution (ErrorResponse and ReadyForQuery are handled by
/// the caller, as they end the whole Sync cycle).
#[derive(Debug)]
pub(crate) struct ExecutionResponse {
    phase: Phase,
    /// The portal's description differs from the statement's (its table changed since it was
    /// described): the cached description is stale.
    stale: bool,
    columns: Arc<[Column]>,
    closes_statement: bool,
    statement: Statement,
}

impl ExecutionResponse {
    pub(crate) fn new(execution: Execution<'_>) -> ExecutionResponse {
        ExecutionResponse {
            stale: false,
            phase: if execution.unnamed() {
                Phase::Parse
            } else {
                Phase::Bind
            },
            columns: execution.statement.shared_columns(),
            closes_statement: execution.closes_statement(),
            statement: execution.statement.clone(),
        }
    }

    /// The responses of an Execute of an already bound portal, whose rows have `columns`.
    pub(crate) fn for_portal(
        execution: Execution<'_>,
        columns: Arc<[Column]>,
    ) -> ExecutionResponse {
        ExecutionResponse {
            stale: false,
            phase: Phase::Rows,
            columns,
            closes_statement: false,
            statement: execution.statement.clone(),
        }
    }

    /// Whether the rows (if any) come next: the statement was bound.
    pub(crate) fn is_bound(&self) -> bool {
        self.phase >= Phase::Rows
    }

    /// Whether the statement's cached description turned out stale.
    pub(crate) fn is_stale(&self) -> bool {
        self.stale
    }

    /// The statement finished (its CommandComplete was read by the row path).
    pub(crate) fn complete(&mut self) {
        self.phase = if self.closes_statement {
            Phase::Close
        } else {
            Phase::Done
        };
    }

    /// Whether rows are expected now.
    pub(crate) fn in_rows(&self) -> bool {
        self.phase == Phase::Rows
    }

    /// Whether every response of the execution arrived.
    pub(crate) fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Takes one message of this execution.
    pub(crate) fn handle(&mut self, message: BackendMessage) -> Result<Event, ProtocolError> {
        let expected = match self.phase {
            Phase::Parse => "ParseComplete",
            Phase::Bind => "BindComplete",
            Phase::Describe => "RowDescription or NoData",
            Phase::Rows => "DataRow, CommandComplete, EmptyQueryResponse or PortalSuspended",
            Phase::Close => "CloseComplete",
            Phase::Done => "ReadyForQuery",
        };
        let event = match (self.phase, message) {
            (Phase::Parse, BackendMessage::ParseComplete) => {
                self.phase = Phase::Bind;
                Event::Nothing
            }
            (Phase::Bind, BackendMessage::BindComplete) => {
                self.phase = if self.statement.kind() == StatementKind::Unnamed {
                    Phase::Describe
                } else {
                    Phase::Rows
                };
                Event::Nothing
            }
            (Phase::Describe, BackendMessage::RowDescription(description)) => {
                // The portal's own description: the formats the server will really use.
                self.columns = description
                    .fields
                    .iter()
                    .map(|field| {
                        let format = if field.format == 1 {
                            Format::Binary
                        } else {
                            Format::Text
                        };
                        Column::new(field, format)
                    })
                    .collect();
                self.stale = !same_columns(&self.columns, self.statement.columns());
                self.phase = Phase::Rows;
                Event::Nothing
            }
            (Phase::Describe, BackendMessage::NoData) => {
                self.stale = !self.statement.columns().is_empty();
                self.columns = Arc::from(Vec::new());
                self.phase = Phase::Rows;
                Event::Nothing
            }
            (Phase::Rows, BackendMessage::DataRow(data)) => {
                Event::Row(Row::new(self.columns.clone(), data)?)
            }
            (Phase::Rows, BackendMessage::CommandComplete(complete)) => {
                self.phase = if self.closes_statement {
                    Phase::Close
                } else {
                    Phase::Done
                };
                Event::Complete(complete.rows().unwrap_or(0))
            }
            (Phase::Rows, BackendMessage::EmptyQueryResponse) => {
                self.phase = if self.closes_statement {
                    Phase::Close
                } else {
                    Phase::Done
                };
                Event::Complete(0)
            }
            (Phase::Rows, BackendMessage::PortalSuspended) => {
                self.phase = if self.closes_statement {
                    Phase::Close
                } else {
                    Phase::Done
                };
                Event::Suspended
            }
            (Phase::Close, BackendMessage::CloseComplete) => {
                self.statement.mark_closed();
                self.phase = Phase::Done;
                Event::Nothing
            }
            (_, other) => {
                return Err(ProtocolError::UnexpectedMessage {
                    expected,
                    got: other.name(),
                });
            }
        };
        Ok(event)
    }

    /// The columns rows are decoded with.
    pub(crate) fn columns(&self) -> &Arc<[Column]> {
        &self.columns
    }
}

/// The rows of a query, read from the connection as they are consumed.
///
/// The connection reads only as fast as the stream is polled, so a large result holds a bounded
/// amount of memory. Dropping the stream early is fine: the rest of the result is discarded by the
/// next request on the connection. `RowStream` implements [`futures_core::Stream`]; without a
/// stream library, use [`RowStream::next`].
///
/// ```no_run
/// # async fn demo(client: &pg_wire::Client) -> Result<(), pg_wire::Error> {
/// let mut rows = client.query_raw("SELECT g FROM generate_series(1, 1000000) g", &[]).await?;
/// let mut sum = 0i64;
/// while let Some(row) = rows.next().await {
///     sum += i64::from(row?.get::<_, i32>(0));
/// }
/// assert_eq!(rows.rows_affected(), Some(1_000_000));
/// # Ok(()) }
/// ```
pub struct RowStream<'c> {
    receiver: Option<Receiver<'c>>,
    response: ExecutionResponse,
    rows_affected: Option<u64>,
    suspended: bool,
    error: Option<Error>,
    /// The statement was a COPY, which this path cannot run: why, reported at its end.
    refused_copy: Option<&'static str>,
}

impl std::fmt::Debug for RowStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStream")
            .field("columns", self.response.columns())
            .field("rows_affected", &self.rows_affected)
            .field("finished", &self.receiver.is_none())
            .finish()
    }
}

impl<'c> RowStream<'c> {
    pub(crate) fn new(receiver: Receiver<'c>, response: ExecutionResponse) -> RowStream<'c> {
        RowStream {
            receiver: Some(receiver),
            response,
            rows_affected: None,
            suspended: false,
            error: None,
            refused_copy: None,
        }
    }

    /// The columns of the rows.
    pub fn columns(&self) -> &[Column] {
        self.response.columns()
    }

    /// The row count of the command tag, once the statement finished (`None` before).
    pub fn rows_affected(&self) -> Option<u64> {
        self.rows_affected
    }

    /// Whether the portal stopped at its row limit and has more rows (portals only).
    pub fn is_suspended(&self) -> bool {
        self.suspended
    }

    /// The next row, `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Row, Error>> {
        std::future::poll_fn(|cx| self.poll_row(cx)).await
    }

    /// Reads up to the first row without consuming one: a server error in Parse or Bind is
    /// returned here, before any row.
    pub(crate) async fn bind(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.poll_bind(cx)).await
    }

    fn poll_bind(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        while !self.response.is_bound() && self.receiver.is_some() {
            if let Some(Err(e)) = ready!(self.poll_event(cx, true)) {
                return Poll::Ready(Err(e));
            }
        }
        if self.response.is_stale() {
            // The rows would not match what the statement promised: read them to the end, then
            // report the statement stale (the caller re-describes it and runs it again).
            while let Some(event) = ready!(self.poll_event(cx, false)) {
                event?;
            }
            return Poll::Ready(Err(Error::stale_statement()));
        }
        Poll::Ready(Ok(()))
    }

    fn poll_row(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Row, Error>>> {
        loop {
            match ready!(self.poll_event(cx, false)) {
                None => return Poll::Ready(None),
                Some(Ok(Some(row))) => return Poll::Ready(Some(Ok(row))),
                Some(Ok(None)) => {}
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
            }
        }
    }

    /// Handles one message: a row, nothing, the end (`None`) or an error. With `until_bound`,
    /// stops without reading once the statement is bound.
    fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
        until_bound: bool,
    ) -> Poll<Option<Result<Option<Row>, Error>>> {
        if until_bound && self.response.is_bound() {
            return Poll::Ready(Some(Ok(None)));
        }
        let Some(receiver) = self.receiver.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = match ready!(receiver.poll_next_frame(cx)) {
            Ok(frame) => frame,
            Err(e) => {
                self.receiver = None;
                // A FATAL ErrorResponse comes right before the end of the stream: report it.
                let error = match self.error.take() {
                    Some(server_error) => server_error.with_cause(e),
                    None => e,
                };
                return Poll::Ready(Some(Err(error)));
            }
        };
        // The row path: a DataRow goes straight to a Row, without the general message enum.
        if frame.tag == tag::DATA_ROW && self.response.in_rows() {
            let row = DataRow::parse(frame.body)
                .and_then(|data| Row::new(self.response.columns().clone(), data));
            return Poll::Ready(Some(match row {
                Ok(row) => Ok(Some(row)),
                Err(e) => {
                    let error = receiver.connection().fail(Error::protocol(e));
                    self.receiver = None;
                    Err(error)
                }
            }));
        }
        // ReadyForQuery was decoded and counted by the receiver; only its place matters here.
        let message = if frame.tag == tag::READY_FOR_QUERY {
            BackendMessage::ReadyForQuery(crate::TransactionStatus::Idle)
        } else if frame.tag == tag::COMMAND_COMPLETE && self.response.in_rows() {
            // The row count straight from the tag's bytes, without building the tag string.
            match command_rows(&frame.body) {
                Some(rows) => {
                    self.response.complete();
                    self.rows_affected = Some(rows);
                    return Poll::Ready(Some(Ok(None)));
                }
                None => match frame.decode() {
                    Ok(message) => message,
                    Err(e) => {
                        let error = receiver.connection().fail(Error::protocol(e));
                        self.receiver = None;
                        return Poll::Ready(Some(Err(error)));
                    }
                },
            }
        } else {
            match frame.decode() {
                Ok(message) => message,
                Err(e) => {
                    let error = receiver.connection().fail(Error::protocol(e));
                    self.receiver = None;
                    return Poll::Ready(Some(Err(error)));
                }
            }
        };
        let event = match message {
            BackendMessage::ErrorResponse(fields) => {
                // The server skips to the Sync; the error is reported after ReadyForQuery so the
                // connection is in step when the caller sees it.
                self.error = Some(Error::db(fields));
                return Poll::Ready(Some(Ok(None)));
            }
            BackendMessage::ReadyForQuery(_) => {
                if !receiver.is_finished() {
                    return Poll::Ready(Some(Ok(None)));
                }
                let conn = receiver.connection();
                self.receiver = None;
                if let Some(why) = self.refused_copy {
                    // The server's own error (the failed copy) is a consequence, not the cause.
                    self.error = None;
                    return Poll::Ready(Some(Err(Error::usage(why))));
                }
                return Poll::Ready(match self.error.take() {
                    Some(e) => Some(Err(e)),
                    None if self.response.is_done() => None,
                    None => Some(Err(conn.fail(Error::protocol(
                        ProtocolError::UnexpectedMessage {
                            expected: "the end of the statement's results",
                            got: "ReadyForQuery",
                        },
                    )))),
                });
            }
            BackendMessage::CopyInResponse(_) => {
                // The server waits for data this request does not have: end the copy, or close
                // the connection if requests behind this one already reached the server.
                let conn = receiver.connection();
                if conn.end_extended_copy_in(receiver.end()) {
                    self.refused_copy = Some(EXTENDED_COPY_IN);
                    return Poll::Ready(Some(Ok(None)));
                }
                self.receiver = None;
                return Poll::Ready(Some(Err(conn.fail(Error::usage(EXTENDED_COPY_IN)))));
            }
            BackendMessage::CopyOutResponse(_) => {
                self.refused_copy = Some(
                    "COPY ... TO STDOUT cannot run through query or execute; use Client::copy_out",
                );
                return Poll::Ready(Some(Ok(None)));
            }
            BackendMessage::CopyData(_) | BackendMessage::CopyDone
                if self.refused_copy.is_some() =>
            {
                return Poll::Ready(Some(Ok(None)));
            }
            other => self.response.handle(other),
        };
        match event {
            Ok(Event::Row(row)) => Poll::Ready(Some(Ok(Some(row)))),
            Ok(Event::Complete(rows)) => {
                self.rows_affected = Some(rows);
                Poll::Ready(Some(Ok(None)))
            }
            Ok(Event::Suspended) => {
                self.suspended = true;
                Poll::Ready(Some(Ok(None)))
            }
            Ok(Event::Nothing) => Poll::Ready(Some(Ok(None))),
            Err(e) => {
                let error = receiver.connection().fail(Error::protocol(e));
                self.receiver = None;
                Poll::Ready(Some(Err(error)))
            }
        }
    }

    /// Reads every remaining row into a vector.
    pub(crate) async fn collect_rows(mut self) -> Result<Vec<Row>, Error> {
        let mut rows = Vec::new();
        while let Some(row) = self.next().await {
            rows.push(row?);
        }
        Ok(rows)
    }

    /// Reads to the end, discarding rows; returns the row count of the command tag.
    pub(crate) async fn finish(mut self) -> Result<u64, Error> {
        while let Some(row) = self.next().await {
            row?;
        }
        Ok(self.rows_affected.unwrap_or(0))
    }
}

impl Stream for RowStream<'_> {
    type Item = Result<Row, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_row(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_counts_from_command_tags() {
        assert_eq!(command_rows(b"SELECT 5\0"), Some(5));
        assert_eq!(command_rows(b"INSERT 0 12\0"), Some(12));
        assert_eq!(command_rows(b"CREATE TABLE\0"), None);
        assert_eq!(command_rows(b"SELECT 5"), None);
        assert_eq!(command_rows(b"SELECT x\0"), None);
        assert_eq!(command_rows(b"SELECT 99999999999999999999\0"), None);
    }

    #[test]
    fn formats_are_compacted() {
        let compact = |codes: &[i16]| {
            FormatCodes::compact(codes.iter().copied())
                .as_slice()
                .to_vec()
        };
        assert_eq!(compact(&[]), Vec::<i16>::new());
        assert_eq!(compact(&[0, 0]), Vec::<i16>::new());
        assert_eq!(compact(&[1, 1, 1]), vec![1]);
        assert_eq!(compact(&[1, 0]), vec![1, 0]);
        assert_eq!(compact(&[0, 1, 1]), vec![0, 1, 1]);
    }
}
