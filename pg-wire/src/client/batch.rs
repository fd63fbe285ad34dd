//! The explicit batch API: many statements sent in one round trip.
//!
//! By default the batch ends with one Sync: the statements run as one implicit transaction (inside
//! an explicit transaction, as part of it), a failing statement fails its own item, and the server
//! skips the rest up to the Sync, which is reported as [`ErrorKind::Skipped`](crate::ErrorKind::Skipped)
//! (the statements before the failure are rolled back with the implicit transaction).
//! [`Batch::sync_each`] puts a Sync after every statement instead, so each runs on its own and a
//! failure affects only itself, at the cost of a ReadyForQuery per statement.
//!
//! Writing and reading run together, so a batch larger than the socket buffers cannot deadlock
//! against a server that blocks sending results nobody reads yet.

use bytes::BytesMut;

use crate::client::Client;
use crate::client::execute::{Event, Execution, ExecutionResponse, check_params, encode_execution};
use crate::error::Error;
use crate::proto::backend::BackendMessage;
use crate::proto::frontend;
use crate::row::Row;
use crate::statement::{Statement, StatementRef, ToStatement};
use crate::types::ToSql;

/// The result of one statement of a batch.
#[derive(Debug, Default)]
pub struct BatchResult {
    /// The rows it returned.
    pub rows: Vec<Row>,
    /// The row count of its command tag.
    pub rows_affected: u64,
}

/// Statements to send in one round trip, from [`Client::batch`].
///
/// ```no_run
/// # async fn demo(client: &pg_wire::Client) -> Result<(), pg_wire::Error> {
/// let insert = client.prepare("INSERT INTO log (n) VALUES ($1)").await?;
/// let values: Vec<i32> = (0..1000).collect();
/// let params: Vec<[&(dyn pg_wire::types::ToSql + Sync); 1]> = values.iter().map(|v| [v as _]).collect();
/// let mut batch = client.batch();
/// for p in &params {
///     batch.query(&insert, p);
/// }
/// for result in batch.run().await? {
///     assert_eq!(result?.rows_affected, 1);
/// }
/// # Ok(()) }
/// ```
pub struct Batch<'c, 'a> {
    client: &'c Client,
    items: Vec<(StatementRef<'a>, &'a [&'a (dyn ToSql + Sync)])>,
    sync_each: bool,
}

impl std::fmt::Debug for Batch<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("statements", &self.items.len())
            .field("sync_each", &self.sync_each)
            .finish()
    }
}

impl<'c, 'a> Batch<'c, 'a> {
    pub(crate) fn new(client: &'c Client) -> Batch<'c, 'a> {
        Batch {
            client,
            items: Vec::new(),
            sync_each: false,
        }
    }

    /// Adds a statement (SQL text or a [`Statement`]) with its parameters.
    pub fn query<T>(&mut self, statement: &'a T, params: &'a [&'a (dyn ToSql + Sync)]) -> &mut Self
    where
        T: ?Sized + ToStatement,
    {
        self.items.push((statement.to_statement(), params));
        self
    }

    /// Puts a Sync after every statement: each runs in its own implicit transaction and a failure
    /// affects only its own item (the default is one Sync at the end; see the module docs).
    pub fn sync_each(&mut self) -> &mut Self {
        self.sync_each = true;
        self
    }

    /// The number of statements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sends every statement and reads every result, one per statement in order. The outer error
    /// is a failure of the connection; a statement's own failure is its item's error.
    /// A COPY statement cannot run in a batch: it closes the connection with a usage error.
    pub async fn run(self) -> Result<Vec<Result<BatchResult, Error>>, Error> {
        let client = self.client;
        client.with_timeout(self.run_inner()).await
    }

    async fn run_inner(self) -> Result<Vec<Result<BatchResult, Error>>, Error> {
        let client = self.client;
        let all: Vec<usize> = (0..self.items.len()).collect();
        let (mut results, statements) = self.run_once(&all).await?;
        // Cached statements the server found stale (ALTER TABLE, DISCARD ALL) are evicted, then
        // re-prepared and re-run once, where that cannot repeat committed work: every item of a
        // one-Sync batch (the failure rolled the implicit transaction back), or the stale items
        // alone of a sync-each batch. Inside a transaction the error is returned.
        let mut stale = Vec::new();
        for (i, result) in results.iter().enumerate() {
            if let (Err(e), Some((StatementRef::Sql(sql), _)), Some(Some(statement))) =
                (result, self.items.get(i), statements.get(i))
                && super::is_stale_statement(e, statement)
            {
                client.evict_cached(sql, statement);
                stale.push(i);
            }
        }
        if stale.is_empty() || client.transaction_status() != crate::TransactionStatus::Idle {
            return Ok(results);
        }
        let rerun = if self.sync_each { stale } else { all };
        let (again, _) = self.run_once(&rerun).await?;
        for (i, result) in rerun.into_iter().zip(again) {
            if let Some(slot) = results.get_mut(i) {
                *slot = result;
            }
        }
        Ok(results)
    }

    /// Prepares (or takes from the cache), sends and reads the items at `indexes`; returns their
    /// results in that order and the statements they ran.
    async fn run_once(
        &self,
        indexes: &[usize],
    ) -> Result<(Vec<Result<BatchResult, Error>>, Vec<Option<Statement>>), Error> {
        let client = self.client;
        let mut statements: Vec<Option<Statement>> = Vec::with_capacity(indexes.len());
        let mut results: Vec<Option<Result<BatchResult, Error>>> =
            Vec::with_capacity(indexes.len());
        let mut prepare_failed = false;
        for &i in indexes {
            let Some((statement, _)) = self.items.get(i) else {
                return Err(Error::usage("batch item out of range"));
            };
            match client.resolve_ref(*statement).await {
                Ok((prepared, _)) => {
                    statements.push(Some(prepared));
                    results.push(None);
                }
                // A statement the server cannot prepare fails its own item.
                Err(e) if e.as_db_error().is_some() => {
                    statements.push(None);
                    results.push(Some(Err(e)));
                    prepare_failed = true;
                }
                Err(e) => return Err(e),
            }
        }
        if prepare_failed && !self.sync_each {
            let results = results
                .into_iter()
                .map(|r| {
                    r.unwrap_or_else(|| {
                        Err(Error::skipped(
                            "not executed: another statement of the batch could not be prepared",
                        ))
                    })
                })
                .collect();
            return Ok((results, statements));
        }
        // Encode every statement; one that cannot be encoded fails alone (with sync_each) or fails the batch.
        let mut sent: Vec<(usize, &Statement)> = Vec::with_capacity(indexes.len());
        let mut encoded = BytesMut::new();
        for (n, &i) in indexes.iter().enumerate() {
            let (Some(Some(statement)), Some((_, params))) = (statements.get(n), self.items.get(i))
            else {
                continue;
            };
            let start = encoded.len();
            let item = check_params(statement, params).and_then(|()| {
                encode_execution(&mut encoded, Execution::all(statement), params)?;
                if self.sync_each {
                    frontend::sync(&mut encoded);
                }
                Ok(())
            });
            match item {
                Ok(()) => sent.push((n, statement)),
                Err(e) => {
                    encoded.truncate(start);
                    if let Some(slot) = results.get_mut(n) {
                        *slot = Some(Err(e));
                    }
                }
            }
        }
        let unsendable = results.iter().any(|r| r.is_some());
        if !self.sync_each && unsendable {
            let results = results
                .into_iter()
                .map(|r| {
                    r.unwrap_or_else(|| {
                        Err(Error::skipped(
                            "not executed: another statement of the batch could not be encoded",
                        ))
                    })
                })
                .collect();
            return Ok((results, statements));
        }
        if sent.is_empty() {
            let results = results
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Ok(BatchResult::default())))
                .collect();
            return Ok((results, statements));
        }
        let syncs = if !self.sync_each {
            frontend::sync(&mut encoded);
            1
        } else {
            u32::try_from(sent.len())
                .map_err(|_| Error::usage("too many statements in one batch"))?
        };

        let conn = client.connection();
        let ticket = conn.enqueue(syncs, |buf| {
            buf.unsplit(encoded);
            Ok(())
        })?;
        let end = ticket.end();
        let read = async {
            let mut rx = conn.receive(ticket).await?;
            let mut current = 0usize;
            let mut response = sent
                .first()
                .map(|(_, s)| ExecutionResponse::new(Execution::all(s)));
            let mut result = BatchResult::default();
            // Whether the server skips to the next Sync after an error.
            let mut skipping = false;
            while !rx.is_finished() {
                let message = rx.next().await?;
                let index = sent.get(current).map(|(i, _)| *i);
                match message {
                    BackendMessage::ErrorResponse(fields) => {
                        if let Some(slot) = index.and_then(|i| results.get_mut(i)) {
                            *slot = Some(Err(Error::db(fields)));
                        }
                        skipping = true;
                        current += 1;
                        result = BatchResult::default();
                        response = None;
                    }
                    BackendMessage::ReadyForQuery(_) => {
                        if self.sync_each && !skipping {
                            // One statement per Sync: this one is complete.
                            if let Some(slot) = index.and_then(|i| results.get_mut(i)) {
                                *slot = Some(Ok(std::mem::take(&mut result)));
                            }
                            current += 1;
                        }
                        skipping = false;
                        response = sent
                            .get(current)
                            .map(|(_, s)| ExecutionResponse::new(Execution::all(s)));
                    }
                    BackendMessage::CopyInResponse(_) | BackendMessage::CopyOutResponse(_) => {
                        // The rest of the batch is already on its way, so the server's copy mode
                        // cannot be ended cleanly: the connection is closed.
                        return Err(conn.fail(Error::usage(
                            "COPY cannot run in a batch; use Client::copy_in or Client::copy_out",
                        )));
                    }
                    other if skipping => {
                        return Err(conn.fail(Error::protocol(
                            crate::proto::ProtocolError::UnexpectedMessage {
                                expected: "ReadyForQuery after an error",
                                got: other.name(),
                            },
                        )));
                    }
                    other => {
                        let Some(state) = response.as_mut() else {
                            return Err(conn.fail(Error::protocol(
                                crate::proto::ProtocolError::UnexpectedMessage {
                                    expected: "ReadyForQuery at the end of the batch",
                                    got: other.name(),
                                },
                            )));
                        };
                        match state
                            .handle(other)
                            .map_err(|e| conn.fail(Error::protocol(e)))?
                        {
                            Event::Row(row) => result.rows.push(row),
                            Event::Complete(rows) => result.rows_affected = rows,
                            Event::Suspended | Event::Nothing => {}
                        }
                        if state.is_done() && !self.sync_each {
                            if let Some(slot) = index.and_then(|i| results.get_mut(i)) {
                                *slot = Some(Ok(std::mem::take(&mut result)));
                            }
                            current += 1;
                            response = sent
                                .get(current)
                                .map(|(_, s)| ExecutionResponse::new(Execution::all(s)));
                        }
                    }
                }
            }
            Ok::<_, Error>(())
        };
        let (written, read) = tokio::join!(conn.write_until(end), read);
        written?;
        read?;
        let results = results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::skipped(
                        "not executed: an earlier statement in the same sync group failed and the server skipped the rest",
                    ))
                })
            })
            .collect();
        Ok((results, statements))
    }
}
