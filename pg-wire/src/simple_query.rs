//! The simple query protocol: one string of one or more statements, results in text form.

use std::sync::Arc;

use bytes::Bytes;

use crate::connection::{ExclusiveWriter, Receiver};
use crate::error::Error;
use crate::proto::ProtocolError;
use crate::proto::backend::{BackendMessage, rows_of_tag};
use crate::row::{SimpleColumn, SimpleQueryRow};

/// The command tag of a finished statement, such as `INSERT 0 2` or `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTag(String);

impl CommandTag {
    pub(crate) fn new(tag: String) -> CommandTag {
        CommandTag(tag)
    }

    /// The tag as the server sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number of rows affected or returned, for the commands whose tags carry one.
    pub fn rows(&self) -> Option<u64> {
        rows_of_tag(&self.0)
    }
}

impl std::fmt::Display for CommandTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One event of a simple query's results, in the order the server sent them.
#[derive(Debug, Clone)]
pub enum SimpleQueryMessage {
    /// The columns of the rows the current statement returns.
    RowDescription(Arc<[SimpleColumn]>),
    /// A row of the current statement.
    Row(SimpleQueryRow),
    /// The current statement finished.
    CommandComplete(CommandTag),
    /// The query string (or one statement of it) was empty.
    EmptyQuery,
    /// A chunk of `COPY ... TO STDOUT` output (a statement's CommandComplete follows the last).
    CopyData(Bytes),
}

/// The results of a simple query, read message by message (see
/// [`Client::simple_query_stream`](crate::Client::simple_query_stream)).
///
/// A server error does not end the stream at once: the messages of the statements before it come
/// first, then the error as the last item, once the connection is ready for the next query.
/// Dropping the stream early is fine: the rest of the results is discarded by the next request.
pub struct SimpleQueryStream<'c> {
    receiver: Option<Receiver<'c>>,
    /// The writer, held until the query's last reply (see `Connection::enqueue_exclusive`).
    writer: Option<ExclusiveWriter<'c>>,
    columns: Option<Arc<[SimpleColumn]>>,
    error: Option<Error>,
    in_copy_out: bool,
}

impl<'c> SimpleQueryStream<'c> {
    pub(crate) fn new(
        receiver: Receiver<'c>,
        writer: ExclusiveWriter<'c>,
    ) -> SimpleQueryStream<'c> {
        SimpleQueryStream {
            receiver: Some(receiver),
            writer: Some(writer),
            columns: None,
            error: None,
            in_copy_out: false,
        }
    }

    /// The next message, `None` when the query is over.
    pub async fn next(&mut self) -> Option<Result<SimpleQueryMessage, Error>> {
        loop {
            let receiver = self.receiver.as_mut()?;
            let message = match receiver.next().await {
                Ok(message) => message,
                Err(e) => {
                    self.receiver = None;
                    // A FATAL ErrorResponse comes right before the end of the stream: report it.
                    let error = match self.error.take() {
                        Some(server_error) => server_error.with_cause(e),
                        None => e,
                    };
                    return Some(Err(error));
                }
            };
            match message {
                BackendMessage::RowDescription(description) => {
                    let columns: Arc<[SimpleColumn]> =
                        description.fields.iter().map(SimpleColumn::new).collect();
                    self.columns = Some(columns.clone());
                    return Some(Ok(SimpleQueryMessage::RowDescription(columns)));
                }
                BackendMessage::DataRow(data) => {
                    let Some(columns) = &self.columns else {
                        return Some(Err(self.violation(ProtocolError::UnexpectedMessage {
                            expected: "RowDescription before DataRow",
                            got: "DataRow",
                        })));
                    };
                    return Some(match SimpleQueryRow::new(columns.clone(), data) {
                        Ok(row) => Ok(SimpleQueryMessage::Row(row)),
                        Err(e) => Err(self.violation(e)),
                    });
                }
                BackendMessage::CommandComplete(complete) => {
                    self.columns = None;
                    self.in_copy_out = false;
                    return Some(Ok(SimpleQueryMessage::CommandComplete(CommandTag::new(
                        complete.tag,
                    ))));
                }
                BackendMessage::EmptyQueryResponse => {
                    return Some(Ok(SimpleQueryMessage::EmptyQuery));
                }
                BackendMessage::ErrorResponse(fields) => {
                    // The server skips the remaining statements; the error is reported after
                    // ReadyForQuery so the connection is in step when the caller sees it.
                    self.error = Some(Error::db(fields));
                }
                BackendMessage::ReadyForQuery(_) => {
                    if receiver.is_finished() {
                        self.receiver = None;
                        if let Some(writer) = self.writer.take() {
                            writer.release();
                        }
                        return self.error.take().map(Err);
                    }
                }
                BackendMessage::CopyInResponse(_) => {
                    // There is no data to send in a simple query: end the COPY with an error,
                    // which the server reports back as this statement's failure.
                    if let Err(e) = self.fail_copy_in().await {
                        return Some(Err(e));
                    }
                }
                BackendMessage::CopyOutResponse(_) => self.in_copy_out = true,
                BackendMessage::CopyData(data) if self.in_copy_out => {
                    return Some(Ok(SimpleQueryMessage::CopyData(data)));
                }
                BackendMessage::CopyDone if self.in_copy_out => {}
                other => {
                    return Some(Err(self.violation(ProtocolError::UnexpectedMessage {
                        expected: "a simple query response",
                        got: other.name(),
                    })));
                }
            }
        }
    }

    async fn fail_copy_in(&mut self) -> Result<(), Error> {
        match &mut self.writer {
            Some(writer) => {
                writer
                    .end_copy(Some(
                        "COPY FROM STDIN is not supported in a simple query; use the COPY API",
                    ))
                    .await
            }
            None => Ok(()),
        }
    }

    /// Closes the connection after a protocol violation and returns the error.
    fn violation(&mut self, e: ProtocolError) -> Error {
        let error = match &self.receiver {
            Some(receiver) => receiver.connection().fail(Error::protocol(e)),
            None => Error::protocol(e),
        };
        self.receiver = None;
        error
    }

    /// Reads every remaining message into a vector; the first error ends it.
    pub async fn collect(mut self) -> Result<Vec<SimpleQueryMessage>, Error> {
        let mut out = Vec::new();
        while let Some(message) = self.next().await {
            out.push(message?);
        }
        Ok(out)
    }
}
