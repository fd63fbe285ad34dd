//! The session: a unit of work and an identity map over one transaction at a time, as
//! SQLAlchemy's `Session`.
//!
//! # Objects and states
//!
//! Objects are [`Obj`] handles shared between the caller and the session. An object is
//! *transient* until [`Session::add`] makes it *pending*; a flush inserts it and it becomes
//! *persistent* (with its generated id); [`Session::delete`] makes it *deleted* until the next
//! flush, and *detached* after commit; [`Session::expunge`] and [`Session::close`] detach objects.
//! A detached object keeps what the session knew of its row: added again (to this session or
//! another) it is persistent, and the changes made to it in the meantime are flushed. An object is
//! in one session at a time, and a row is one object in a session: [`Session::try_add`] refuses
//! the rest.
//!
//! # The identity map
//!
//! Within a session one row is one object: a query that finds a row already in the session hands
//! back the same `Obj`, so a change made through one handle is seen through every other. The
//! session keeps, for each persistent object, a *snapshot* of its columns as the database has
//! them; a flush compares each object with its snapshot and sends an UPDATE of the changed columns
//! only (plus `onupdate` columns). A loaded object holds its snapshot itself: its fields are the
//! row's values until the first [`Obj::write`], which saves them first, so loading copies no value
//! and a flush skips, without comparing, the objects nobody wrote.
//!
//! # Transactions
//!
//! The session checks a connection out of the engine's pool and begins a transaction on first use
//! (SQLAlchemy's autobegin). [`Session::commit`] flushes, commits, returns the connection, and
//! then reloads every object it holds, so afterwards they reflect the database again (the
//! equivalent of SQLAlchemy's `expire_on_commit`, done eagerly because reading an attribute never
//! does I/O here; turn it off with [`Session::set_expire_on_commit`]). [`Session::rollback`] rolls
//! back, forgets pending objects, and restores persistent ones (deleted ones too) to their
//! database state, keys and many-to-one links. A flush or a statement that fails (a NOT NULL or
//! UNIQUE violation, a failed raw query) rolls the transaction back at once; the session then
//! refuses further work until [`Session::rollback`] is called, as SQLAlchemy does. A COMMIT the
//! server answers by rolling back is an error, never a silent success.

use std::collections::HashSet;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Weak};
use std::time::Instant;

use pg_wire::pool::PooledClient;
use pg_wire::{Row, TransactionStatus};

use crate::engine::Engine;
use crate::error::OrmError;
use crate::expr::Assignment;
use crate::model::{Model, RowRead};
use crate::obj::{self, ErasedObject, Obj, ObjectId, RowState, Snapshot};
use crate::query::{ColumnTuple, Select, SelectColumns};
use crate::relationship::{ChildRelationship, ManyToOne, OneToMany, RelationKey};
use crate::schema::Table;
use crate::sql::{SqlBuilder, as_params};
use crate::value::{ColumnType, Value};

mod flush;
mod identity;
mod stream;

use identity::{IdMap, IdentityKey, KeyMap, KeyPart, describe_key, identity_key, identity_of_pk};

pub use stream::ObjectStream;

/// The state of an object with respect to a session, by SQLAlchemy's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectState {
    /// Not in the session and not in the database.
    Transient,
    /// Added; inserted at the next flush.
    Pending,
    /// In the session and in the database.
    Persistent,
    /// Deleted in the session; the DELETE is sent at the next flush.
    Deleted,
    /// Was in the session, no longer is (expunged, deleted and committed, session closed).
    Detached,
}

/// How the session holds an object: strongly, or weakly for clean objects loaded by a stream (so
/// iterating a large table holds a bounded amount of memory).
enum Held {
    Strong(Arc<dyn ErasedObject>),
    Weak(Weak<dyn ErasedObject>),
}

impl Held {
    fn get(&self) -> Option<Arc<dyn ErasedObject>> {
        match self {
            Held::Strong(object) => Some(object.clone()),
            Held::Weak(object) => object.upgrade(),
        }
    }
}

/// The session's bookkeeping of one object.
struct Record {
    object: Held,
    state: ObjectState,
    /// The database's values as last loaded or flushed ([`Snapshot::None`] while pending, and
    /// once a flush deleted the row); a loaded object keeps them itself ([`Snapshot::Own`]).
    snapshot: Snapshot,
    /// The database's values when the transaction began; `None` if the row was inserted in it.
    /// [`Snapshot::Own`] only while the snapshot is too (the same values, kept by the object).
    committed: Option<Snapshot>,
    key: Option<IdentityKey>,
    /// Order of attachment, so flushes follow the order objects were added.
    seq: u64,
    /// The object has its detached row state already (a session being closed).
    detached: bool,
}

/// The objects of a session.
#[derive(Default)]
pub(crate) struct Store {
    records: IdMap<Record>,
    identity: KeyMap<IdentityKey, ObjectId>,
    next_seq: u64,
    /// Whether a snapshot's key may have changed since the identity map was built (a flush, a
    /// bulk update or delete): a rollback then rebuilds the map.
    rekeyed: bool,
}

impl Store {
    fn state_of(&self, id: ObjectId) -> Option<ObjectState> {
        self.records.get(&id).map(|r| r.state)
    }

    fn attach_pending(&mut self, object: Arc<dyn ErasedObject>) {
        let id = object.object_id();
        if self.records.contains_key(&id) {
            return;
        }
        self.next_seq += 1;
        self.records.insert(
            id,
            Record {
                object: Held::Strong(object),
                state: ObjectState::Pending,
                snapshot: Snapshot::None,
                committed: None,
                key: None,
                seq: self.next_seq,
                detached: false,
            },
        );
    }

    /// Records an object with a row as persistent (a detached one added again, or one whose row
    /// was read): `snapshot` is what the row holds.
    fn attach_loaded(&mut self, object: Arc<dyn ErasedObject>, snapshot: Snapshot) {
        let key = identity_key(object.table(), &snapshot.resolve(object.as_ref()));
        object.set_row_state(RowState::Stored(None));
        self.attach_keyed(object, snapshot, key, false);
    }

    /// [`Store::attach_loaded`] with the row's identity known, for an object whose row state
    /// already says a session holds it.
    fn attach_keyed(
        &mut self,
        object: Arc<dyn ErasedObject>,
        snapshot: Snapshot,
        key: IdentityKey,
        weak: bool,
    ) {
        self.next_seq += 1;
        let id = object.object_id();
        let held = if weak {
            Held::Weak(Arc::downgrade(&object))
        } else {
            Held::Strong(object)
        };
        self.identity.insert(key.clone(), id);
        self.records.insert(
            id,
            Record {
                object: held,
                state: ObjectState::Persistent,
                committed: Some(snapshot.clone()),
                snapshot,
                key: Some(key),
                seq: self.next_seq,
                detached: false,
            },
        );
    }

    /// Makes room for `additional` more objects.
    fn reserve(&mut self, additional: usize) {
        self.records.reserve(additional);
        self.identity.reserve(additional);
    }

    /// The object already in the session for this row, if any.
    fn lookup(&mut self, key: &IdentityKey) -> Option<Arc<dyn ErasedObject>> {
        let id = *self.identity.get(key)?;
        match self.records.get(&id).and_then(|r| r.object.get()) {
            Some(object) => Some(object),
            None => {
                // A weakly held object that nobody uses any more.
                self.identity.remove(key);
                self.records.remove(&id);
                None
            }
        }
    }

    /// The object for a row: the one in the identity map, or a new persistent one.
    pub(crate) fn object_from_row<M: Model>(
        &mut self,
        row: &Row,
        weak: bool,
    ) -> Result<Obj<M>, OrmError> {
        // The row's place in the identity map, found once: the object there, or the entry the
        // new object takes (one hash of the key per row).
        let mut place: Option<(IdentityKey, Entry<'_, IdentityKey, ObjectId>)> = None;
        let identity = &mut self.identity;
        let records = &mut self.records;
        let slot = &mut place;
        let read = M::read_row(row, move |key_values| {
            let found = IdentityKey::take(M::TABLE, key_values);
            let key = found.clone();
            let entry = identity.entry(found);
            if let Entry::Occupied(occupied) = &entry {
                let id = *occupied.get();
                match records.get(&id).and_then(|r| r.object.get()) {
                    Some(object) => {
                        if let Some(object) = Obj::from_erased(object) {
                            return Some(object);
                        }
                        // Another model's object for this row: the new one takes its place.
                    }
                    None => {
                        // A weakly held object that nobody uses any more.
                        records.remove(&id);
                    }
                }
            }
            *slot = Some((key, entry));
            None
        })?;
        let model = match read {
            RowRead::Known(object) => return Ok(object),
            RowRead::New(model) => model,
        };
        let object = Obj::loaded(model);
        let id = object.id();
        let key = match place {
            Some((key, Entry::Occupied(mut occupied))) => {
                occupied.insert(id);
                key
            }
            Some((key, Entry::Vacant(vacant))) => {
                vacant.insert(id);
                key
            }
            // A model whose `read_row` did not show the key.
            None => {
                let key = identity_key(M::TABLE, &object.read().values());
                self.identity.insert(key.clone(), id);
                key
            }
        };
        self.next_seq += 1;
        let erased = object.erased();
        let held = if weak {
            Held::Weak(Arc::downgrade(&erased))
        } else {
            Held::Strong(erased)
        };
        self.records.insert(
            id,
            Record {
                object: held,
                state: ObjectState::Persistent,
                snapshot: Snapshot::Own,
                committed: Some(Snapshot::Own),
                key: Some(key),
                seq: self.next_seq,
                detached: false,
            },
        );
        Ok(object)
    }

    /// The object for a row of a relationship's children, whose model is known only to the
    /// relationship: the one in the identity map, or a new persistent one.
    fn child_from_row(
        &mut self,
        relationship: &ChildRelationship,
        row: &Row,
    ) -> Result<Arc<dyn ErasedObject>, OrmError> {
        let table = relationship.child();
        let key = row_identity(table, row)?;
        if let Some(object) = self.lookup(&key) {
            check_row(table, row)?;
            return Ok(object);
        }
        let object = relationship.new_object(row)?;
        self.attach_keyed(object.clone(), Snapshot::Own, key, false);
        Ok(object)
    }

    /// Gives a record whose object keeps its row's values ([`Snapshot::Own`]) explicit ones,
    /// before the session changes the object's fields itself or records other values for it.
    fn materialize(&mut self, id: ObjectId) {
        let Some(record) = self.records.get_mut(&id) else {
            return;
        };
        let own = matches!(record.snapshot, Snapshot::Own);
        let own_committed = matches!(record.committed, Some(Snapshot::Own));
        if !own && !own_committed {
            return;
        }
        let Some(object) = record.object.get() else {
            return;
        };
        let values: Arc<[Value]> = object.pristine_values().into();
        if own {
            record.snapshot = Snapshot::Values(values.clone());
        }
        if own_committed {
            record.committed = Some(Snapshot::Values(values));
        }
        object.drop_pristine();
    }

    /// Records that an object's fields are its row's values, now and as the transaction's
    /// starting point (after a reload), kept by the object itself.
    fn mark_clean(&mut self, id: ObjectId) {
        let Some(record) = self.records.get_mut(&id) else {
            return;
        };
        let Some(object) = record.object.get() else {
            return;
        };
        object.keep_pristine();
        record.snapshot = Snapshot::Own;
        record.committed = Some(Snapshot::Own);
    }

    /// Records in attachment order, with their live objects.
    fn ordered(&self) -> Vec<(ObjectId, Arc<dyn ErasedObject>)> {
        let mut live: Vec<(u64, ObjectId, Arc<dyn ErasedObject>)> = self
            .records
            .iter()
            .filter_map(|(id, r)| r.object.get().map(|o| (r.seq, *id, o)))
            .collect();
        live.sort_by_key(|(seq, _, _)| *seq);
        live.into_iter().map(|(_, id, o)| (id, o)).collect()
    }

    /// Removes an object's record and its identity key.
    fn remove(&mut self, id: ObjectId) -> Option<Record> {
        let record = self.records.remove(&id)?;
        if let Some(key) = &record.key
            && self.identity.get(key) == Some(&id)
        {
            self.identity.remove(key);
        }
        Some(record)
    }

    /// Takes an object out of the session (detached, or transient if it was pending). It keeps
    /// what the session knew of its row, so that adding it again, to this session or another,
    /// flushes the changes made to it in the meantime.
    fn forget(&mut self, id: ObjectId) {
        if let Some(record) = self.remove(id) {
            detach(record);
        }
    }

    /// Takes every object out of the session (see [`Store::forget`]).
    fn forget_all(&mut self) {
        // Emptied in place: the maps keep their room for the next objects.
        for (_, record) in self.records.drain() {
            detach(record);
        }
        self.identity.clear();
        self.next_seq = 0;
        self.rekeyed = false;
    }

    /// Maps every persistent object's snapshot key to it, and nothing else.
    fn rebuild_identity(&mut self) {
        self.identity.clear();
        self.records
            .retain(|_, record| record.object.get().is_some());
        for (id, record) in &mut self.records {
            if record.state != ObjectState::Persistent {
                record.key = None;
                continue;
            }
            if let Some(object) = record.object.get() {
                let key = identity_key(object.table(), &record.snapshot.resolve(object.as_ref()));
                self.identity.insert(key.clone(), *id);
                record.key = Some(key);
            }
        }
        self.rekeyed = false;
    }
}

/// The row state an object leaves a session with (see [`Store::forget`]).
fn detach(record: Record) {
    if record.detached {
        return;
    }
    let Some(object) = record.object.get() else {
        return;
    };
    let state = match record.state {
        ObjectState::Pending | ObjectState::Transient => RowState::New,
        ObjectState::Deleted if record.snapshot.is_none() => RowState::Deleted,
        _ => RowState::Stored(Some(record.snapshot)),
    };
    if matches!(state, RowState::Deleted) {
        // Values kept for a rollback that can no longer come.
        object.drop_pristine();
    }
    object.set_row_state(state);
}

/// The identity of a whole row of `table` (its columns in order), reading the columns up to the
/// last primary key column in order, so a row that cannot be read fails on the same column as
/// reading it whole.
fn row_identity(table: &'static Table, row: &Row) -> Result<IdentityKey, OrmError> {
    let (mut first, mut rest) = (None, Vec::new());
    let last = table.primary_key().max().unwrap_or(0);
    for (i, column) in table.columns.iter().enumerate().take(last + 1) {
        let value = Value::from_row(row, i, column.sql_type)?;
        if column.primary_key {
            let part = KeyPart::from_value(value);
            match first {
                None => first = Some(part),
                Some(_) => rest.push(part),
            }
        }
    }
    Ok(IdentityKey::new(table, first.into_iter().chain(rest)))
}

/// Whether the rest of a row of `table` (past its last primary key column) can be read, for a
/// row whose object the session already holds: it fails as reading it whole would.
fn check_row(table: &'static Table, row: &Row) -> Result<(), OrmError> {
    let last = table.primary_key().max().unwrap_or(0);
    for (i, column) in table.columns.iter().enumerate().skip(last + 1) {
        Value::from_row(row, i, column.sql_type)?;
    }
    Ok(())
}

/// A session: a unit of work and an identity map (see the module documentation).
pub struct Session {
    engine: Engine,
    conn: Option<PooledClient>,
    store: Store,
    autoflush: bool,
    expire_on_commit: bool,
    /// Why the session must be rolled back before further use.
    failed: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("objects", &self.store.records.len())
            .field("in_transaction", &self.conn.is_some())
            .field("autoflush", &self.autoflush)
            .finish()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A transaction left open is rolled back by the pool when the connection comes back; the
        // objects then detach with their rows as they were before it.
        if self.conn.take().is_some() {
            for record in self.store.records.values_mut() {
                match &record.committed {
                    Some(committed) => record.snapshot = committed.clone(),
                    None => record.state = ObjectState::Pending,
                }
            }
        }
        self.store.forget_all();
    }
}

impl Session {
    pub(crate) fn new(engine: Engine) -> Session {
        Session {
            engine,
            conn: None,
            store: Store::default(),
            autoflush: true,
            expire_on_commit: true,
            failed: None,
        }
    }

    /// Turns autoflush (a flush before every query) on or off. Default: on.
    pub fn set_autoflush(&mut self, on: bool) {
        self.autoflush = on;
    }

    /// Whether commit reloads every object from the database afterwards. Default: on.
    pub fn set_expire_on_commit(&mut self, on: bool) {
        self.expire_on_commit = on;
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn check_usable(&self) -> Result<(), OrmError> {
        match &self.failed {
            None => Ok(()),
            Some(why) => Err(OrmError::usage(format!(
                "this session's transaction was rolled back after an error ({why}); call rollback() before using it again"
            ))),
        }
    }

    /// The connection of the current transaction, beginning one if none is open.
    async fn connection(&mut self) -> Result<&PooledClient, OrmError> {
        self.check_usable()?;
        if self.conn.is_none() {
            let client = self.engine.pool().get().await?;
            self.engine.log_event("BEGIN (implicit)");
            client.batch_execute("BEGIN").await?;
            self.conn = Some(client);
        }
        self.conn
            .as_ref()
            .ok_or_else(|| OrmError::usage("no connection"))
    }

    /// Runs a statement in the session's transaction and returns its rows. A statement the
    /// server fails aborts the transaction: the session then needs [`Session::rollback`].
    pub(crate) async fn run(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, OrmError> {
        let engine = self.engine.clone();
        let client = self.connection().await?;
        let started = Instant::now();
        let rows = client.query(sql, &as_params(params)).await;
        engine.log(sql, params, Some(started));
        match rows {
            Ok(rows) => Ok(rows),
            Err(e) => {
                self.abort_after(&e).await;
                Err(e.into())
            }
        }
    }

    /// Runs a statement whose one parameter, `$1`, is the array of `list` (`x = ANY($1)`: one
    /// parameter however many values, where `x IN ($1, ...)` stops at the protocol's 65,535) in
    /// the session's transaction, and returns its rows.
    pub(crate) async fn run_list(
        &mut self,
        sql: &str,
        list: &[Value],
    ) -> Result<Vec<Row>, OrmError> {
        let engine = self.engine.clone();
        let client = self.connection().await?;
        let started = Instant::now();
        let rows = client.query(sql, &[&list]).await;
        engine.log_list(sql, list, Some(started));
        match rows {
            Ok(rows) => Ok(rows),
            Err(e) => {
                self.abort_after(&e).await;
                Err(e.into())
            }
        }
    }

    /// After a statement of the session's transaction failed: if the server aborted the
    /// transaction (every server error inside a transaction block does, as does a lost
    /// connection), rolls it back at once and requires an explicit [`Session::rollback`], as a
    /// failed flush does. A client-side error (a parameter that could not be encoded) leaves the
    /// transaction as it was.
    async fn abort_after(&mut self, error: &pg_wire::Error) {
        let aborted = self.conn.as_ref().is_some_and(|client| {
            error.as_db_error().is_some()
                || error.is_closed()
                || client.transaction_status() != TransactionStatus::InTransaction
        });
        if aborted {
            self.abort(error.to_string()).await;
        }
    }

    /// Rolls the open transaction back now (so its locks go) and marks the session as needing
    /// [`Session::rollback`] before further use.
    async fn abort(&mut self, why: String) {
        if let Some(client) = self.conn.take() {
            self.engine.log_event("ROLLBACK");
            let _ = client.batch_execute("ROLLBACK").await;
        }
        self.failed = Some(why);
    }

    /// Sends COMMIT. PostgreSQL answers the COMMIT of a transaction an earlier error aborted
    /// with a `ROLLBACK` command tag, not an error; that is an error here, and the session then
    /// needs [`Session::rollback`] (its objects still hold what the lost transaction flushed).
    /// A connection lost while COMMIT was in flight leaves the outcome unknown: the driver's
    /// error of kind [`pg_wire::ErrorKind::CommitOutcomeUnknown`] is returned as it is, and
    /// nothing is retried.
    async fn send_commit(&mut self, client: PooledClient) -> Result<(), OrmError> {
        self.engine.log_event("COMMIT");
        match client.commit_transaction().await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == pg_wire::ErrorKind::RolledBack => {
                self.failed = Some(e.to_string());
                Err(OrmError::RolledBack(e.to_string()))
            }
            Err(e) => {
                // Not committed (a deferred constraint), or not known to be (a lost connection).
                self.failed = Some(e.to_string());
                Err(e.into())
            }
        }
    }

    // ---- objects --------------------------------------------------------------------------------

    /// The state of an object with respect to this session: an object it does not hold is
    /// detached if it has a row (it was loaded or flushed, by this session or another), transient
    /// otherwise.
    pub fn state<M: Model>(&self, object: &Obj<M>) -> ObjectState {
        match self.store.state_of(object.id()) {
            Some(state) => state,
            None => match object.erased().row_state() {
                RowState::New => ObjectState::Transient,
                RowState::Stored(_) | RowState::Deleted => ObjectState::Detached,
            },
        }
    }

    /// Adds an object: a transient one becomes pending (inserted at the next flush), along with
    /// the unsaved objects it is related to (its parents and attached children), as SQLAlchemy's
    /// save-update cascade. A detached object is attached again as persistent, and the changes
    /// made to it while it was detached are flushed.
    ///
    /// An object that cannot be added is left out: a detached object whose row the session
    /// already holds as another object, or whose row was deleted, and an object another session
    /// holds. [`Session::try_add`] says so.
    pub fn add<M: Model>(&mut self, object: &Obj<M>) {
        if let Err(e) = self.try_add(object) {
            self.engine
                .log_event(&format!("add() left an object out: {e}"));
        }
    }

    /// Adds an object as [`Session::add`] does, or says why it cannot (as SQLAlchemy raises): a
    /// detached object whose row is already in the session as another object (one row, one
    /// object), a detached object whose row was deleted, or an object another session holds
    /// (expunge it there, or close that session, first).
    pub fn try_add<M: Model>(&mut self, object: &Obj<M>) -> Result<(), OrmError> {
        let object = object.erased();
        if self.store.records.contains_key(&object.object_id()) {
            return Ok(());
        }
        if let Some(why) = self.refusal(object.as_ref()) {
            return Err(OrmError::usage(why));
        }
        self.add_erased(object);
        Ok(())
    }

    /// Adds several objects (see [`Session::add`]).
    pub fn add_all<'o, M: Model>(&mut self, objects: impl IntoIterator<Item = &'o Obj<M>>) {
        for object in objects {
            self.add(object);
        }
    }

    /// Why an object the session does not hold cannot be added, if it cannot.
    fn refusal(&mut self, object: &dyn ErasedObject) -> Option<String> {
        let table = object.table();
        match object.row_state() {
            RowState::New => None,
            RowState::Deleted => Some(format!(
                "this {} object's row was deleted; it cannot be added again (a new object can \
                 insert the row again)",
                table.name
            )),
            RowState::Stored(None) => Some(format!(
                "this {} object is in another session; expunge it there or close that session \
                 first",
                table.name
            )),
            RowState::Stored(Some(snapshot)) => {
                let values = snapshot.resolve(object);
                let key = identity_key(table, &values);
                self.store.lookup(&key).map(|_| {
                    format!(
                        "another {} object with the primary key {} is already in this session; \
                         a row is one object in a session",
                        table.name,
                        describe_key(table, &values)
                    )
                })
            }
        }
    }

    /// Adds an object and, as the save-update cascade, every object it is linked to that the
    /// session does not hold yet (skipping those that cannot be added).
    fn add_erased(&mut self, object: Arc<dyn ErasedObject>) {
        let mut stack = vec![object];
        while let Some(object) = stack.pop() {
            let id = object.object_id();
            if self.store.records.contains_key(&id) || self.refusal(object.as_ref()).is_some() {
                continue;
            }
            match object.row_state() {
                // Detached: persistent again, its row as the session last knew it, so the
                // changes made in the meantime are flushed.
                RowState::Stored(Some(snapshot)) => {
                    self.store.attach_loaded(object.clone(), snapshot);
                }
                // (Refused above.)
                RowState::Stored(None) | RowState::Deleted => continue,
                RowState::New => self.store.attach_pending(object.clone()),
            }
            for (_, parent) in obj::parent_links(object.as_ref()) {
                stack.push(parent);
            }
            for child in obj::child_links(object.as_ref()) {
                stack.push(child);
            }
            for other in obj::associated_links(object.as_ref()) {
                stack.push(other);
            }
        }
    }

    /// Marks a persistent object for deletion at the next flush (a pending one is simply
    /// forgotten). Its children through the one-to-many relationships its model declares are
    /// deleted too when the relationship cascades deletes; otherwise their foreign key is set to
    /// NULL, as SQLAlchemy does by default. Loaded children are handled here; the flush loads the
    /// others first (one query per relationship). Its many-to-many association rows are deleted
    /// with it.
    pub fn delete<M: Model>(&mut self, object: &Obj<M>) {
        self.delete_erased(object.erased());
    }

    fn delete_erased(&mut self, object: Arc<dyn ErasedObject>) {
        let id = object.object_id();
        match self.store.state_of(id) {
            Some(ObjectState::Pending) => self.store.forget(id),
            Some(ObjectState::Persistent) => {
                if let Some(record) = self.store.records.get_mut(&id) {
                    record.state = ObjectState::Deleted;
                    record.object = Held::Strong(object.clone());
                }
                obj::unlink_all_associations(&object);
                for (key, child) in obj::children_with_keys(object.as_ref()) {
                    self.orphan(object.as_ref(), key, child);
                }
            }
            _ => {}
        }
    }

    /// What deleting `parent` does to one of its children through `key`: deletes it too with
    /// the delete cascade, and otherwise clears its foreign key (an UPDATE at the flush).
    fn orphan(
        &mut self,
        parent: &dyn ErasedObject,
        key: RelationKey,
        child: Arc<dyn ErasedObject>,
    ) {
        if obj::cascades_delete(parent, key) {
            self.delete_erased(child);
        } else if self.store.state_of(child.object_id()).is_some() {
            obj::unlink_parent(child.as_ref(), key);
            let _ = child.change_value(key.column, Value::Null);
        }
    }

    /// Removes an object from the session without touching the database: it becomes detached
    /// (transient if it was pending).
    pub fn expunge<M: Model>(&mut self, object: &Obj<M>) {
        self.store.forget(object.id());
    }

    /// Removes every object from the session.
    pub fn expunge_all(&mut self) {
        self.store.forget_all();
    }

    /// Reloads an object's columns from the database (discarding unflushed changes).
    pub async fn refresh<M: Model>(&mut self, object: &Obj<M>) -> Result<(), OrmError> {
        let values = object.read().values();
        let Some(condition) = pk_condition(M::TABLE, &values) else {
            return Err(OrmError::usage(
                "refresh needs an object with its primary key",
            ));
        };
        let mut out = SqlBuilder::new();
        out.push("SELECT ");
        crate::query::write_column_list::<M>(&mut out);
        out.push(" \nFROM ")
            .push_ident(M::TABLE.name)
            .push(" \nWHERE ");
        condition.write(&mut out);
        let (sql, params) = out.finish();
        let rows = self.run(&sql, &params).await?;
        let row = rows.first().ok_or_else(|| {
            OrmError::NotFound(format!("{} row of the object to refresh", M::TABLE.name))
        })?;
        let values = read_values(M::TABLE, row)?;
        self.overwrite(object.erased(), values, false)?;
        Ok(())
    }

    /// Sets an object's columns to the database's values and records them as its snapshot (and,
    /// with `committed`, as the transaction's starting point too); its many-to-one links follow
    /// the foreign keys read.
    fn overwrite(
        &mut self,
        object: Arc<dyn ErasedObject>,
        values: Vec<Value>,
        committed: bool,
    ) -> Result<(), OrmError> {
        let id = object.object_id();
        let held = self.store.records.contains_key(&id);
        if held && !committed {
            // The values the transaction began with stay the rollback's.
            self.store.materialize(id);
        }
        if !held || !committed {
            object.drop_pristine();
        }
        for (i, value) in values.into_iter().enumerate() {
            object.set_value(i, value)?;
        }
        match self.store.records.get_mut(&id) {
            Some(record) => {
                record.state = ObjectState::Persistent;
                if !committed {
                    record.snapshot = Snapshot::Values(object.values().into());
                }
            }
            None => self
                .store
                .attach_loaded(object.clone(), Snapshot::Values(object.values().into())),
        }
        if committed {
            self.store.mark_clean(id);
        }
        self.restore_links(&object);
        Ok(())
    }

    /// Makes an object's many-to-one links agree with its foreign key columns (after they were
    /// read from the database or restored by a rollback): a link to a parent that is not the row
    /// the foreign key points to is dropped, and replaced by a link to the parent that is, if the
    /// session holds it.
    fn restore_links(&mut self, object: &Arc<dyn ErasedObject>) {
        for (key, stale) in obj::stale_links(object.as_ref()) {
            obj::unlink(object.as_ref(), key);
            if let Some(parent) = self.parent_in_session(object.as_ref(), key, stale.table()) {
                obj::link_loaded(object, key, &parent);
            }
        }
        obj::clear_link_changes(object.as_ref());
    }

    /// The persistent object of `parent_table` the foreign key `key` of `child` points to, if the
    /// session holds it (a foreign key to a single-column primary key only).
    fn parent_in_session(
        &mut self,
        child: &dyn ErasedObject,
        key: RelationKey,
        parent_table: &'static Table,
    ) -> Option<Arc<dyn ErasedObject>> {
        let value = child.value(key.column)?;
        let target = child.table().columns.get(key.column)?.foreign_key?.column;
        let mut pk = parent_table.primary_key();
        let (Some(i), None) = (pk.next(), pk.next()) else {
            return None;
        };
        if value.is_null() || parent_table.columns.get(i)?.name != target {
            return None;
        }
        let parent = self.store.lookup(&identity_of_pk(parent_table, &value))?;
        (self.store.state_of(parent.object_id()) == Some(ObjectState::Persistent)).then_some(parent)
    }

    /// The object for a primary key: from the identity map if it is there, else loaded.
    pub async fn get<M: Model, K: ColumnType>(
        &mut self,
        key: K,
    ) -> Result<Option<Obj<M>>, OrmError> {
        let Some(pk) = M::TABLE.primary_key().next() else {
            return Err(OrmError::usage(format!(
                "{} has no primary key",
                M::TABLE.name
            )));
        };
        let identity = identity_of_pk(M::TABLE, &key.to_value());
        if let Some(object) = self.store.lookup(&identity) {
            if self.store.state_of(object.object_id()) == Some(ObjectState::Deleted) {
                return Ok(None);
            }
            return Ok(Obj::from_erased(object));
        }
        let column = M::TABLE.columns.get(pk).map(|c| c.name).unwrap_or("id");
        let query =
            crate::query::select::<M>().filter(crate::expr::Condition(crate::expr::Expr::Binary {
                op: crate::expr::BinOp::Eq,
                left: Box::new(crate::expr::Expr::Column {
                    table: M::TABLE.name,
                    column,
                }),
                right: Box::new(crate::expr::Expr::Value(key.to_value())),
            }));
        self.first(&query).await
    }

    // ---- unit of work ---------------------------------------------------------------------------

    /// Sends the pending changes: INSERTs of new objects (parents first; one round trip per
    /// level of the foreign-key graph), UPDATEs of changed columns, DELETEs (children first).
    pub async fn flush(&mut self) -> Result<(), OrmError> {
        self.check_usable()?;
        match flush::flush(self).await {
            Ok(()) => Ok(()),
            Err(e) => {
                // The transaction is aborted: roll it back now, so its locks go, and require an
                // explicit rollback() of the session as SQLAlchemy does.
                self.abort(e.to_string()).await;
                Err(e)
            }
        }
    }

    async fn autoflush(&mut self) -> Result<(), OrmError> {
        if self.autoflush {
            self.flush().await
        } else {
            self.check_usable()
        }
    }

    /// Flushes and commits the transaction, then reloads the session's objects from the database
    /// (see the module documentation).
    pub async fn commit(&mut self) -> Result<(), OrmError> {
        self.flush().await?;
        if let Some(client) = self.conn.take() {
            self.send_commit(client).await?;
        }
        // The flushed state is now the committed state; deleted objects leave the session.
        let deleted: Vec<ObjectId> = self
            .store
            .records
            .iter()
            .filter(|(_, r)| r.state == ObjectState::Deleted)
            .map(|(id, _)| *id)
            .collect();
        for id in deleted {
            self.store.forget(id);
        }
        for record in self.store.records.values_mut() {
            record.committed = Some(record.snapshot.clone());
        }
        if self.expire_on_commit {
            self.reload_all().await?;
            // The reload ran in a transaction of its own; end it.
            if let Some(client) = self.conn.take() {
                self.send_commit(client).await?;
            }
        }
        Ok(())
    }

    /// Reloads every persistent object, one query per table.
    async fn reload_all(&mut self) -> Result<(), OrmError> {
        let mut by_table: Vec<(&'static Table, Vec<Arc<dyn ErasedObject>>)> = Vec::new();
        for (id, object) in self.store.ordered() {
            if self.store.state_of(id) != Some(ObjectState::Persistent) {
                continue;
            }
            let table = object.table();
            match by_table.iter_mut().find(|(t, _)| t.name == table.name) {
                Some((_, objects)) => objects.push(object),
                None => by_table.push((table, vec![object])),
            }
        }
        for (table, objects) in by_table {
            let Some(pk) = table.primary_key().next() else {
                continue;
            };
            let pk_column = table.columns.get(pk).map(|c| c.name).unwrap_or("id");
            let mut out = SqlBuilder::new();
            out.push("SELECT ");
            for (i, column) in table.columns.iter().enumerate() {
                if i > 0 {
                    out.push(", ");
                }
                out.push_column(table.name, column.name);
            }
            out.push(" \nFROM ")
                .push_ident(table.name)
                .push(" \nWHERE ");
            out.push_column(table.name, pk_column).push(" = ANY($1)");
            let (sql, _) = out.finish();
            let keys: Vec<Value> = objects
                .iter()
                .map(|object| object.value(pk).unwrap_or(Value::Null))
                .collect();
            let rows = self.run_list(&sql, &keys).await?;
            for row in &rows {
                let values = read_values(table, row)?;
                let key = identity_key(table, &values);
                if let Some(object) = self.store.lookup(&key) {
                    self.overwrite(object, values, true)?;
                }
            }
        }
        Ok(())
    }

    /// Rolls the transaction back: pending objects are forgotten (transient again), objects
    /// inserted in the transaction lose their generated columns and become transient, and
    /// persistent objects (deleted ones too) get their database values back, under their
    /// database key in the identity map, with their many-to-one links following their restored
    /// foreign keys and their collections listing only objects the session still holds (unflushed
    /// many-to-many changes are dropped; flushed ones stay listed until the collection is loaded
    /// again).
    pub async fn rollback(&mut self) -> Result<(), OrmError> {
        self.send_rollback().await?;
        self.restore_committed(false);
        Ok(())
    }

    /// Sends ROLLBACK if a transaction is open; the session is usable again.
    async fn send_rollback(&mut self) -> Result<(), OrmError> {
        if let Some(client) = self.conn.take() {
            self.engine.log_event("ROLLBACK");
            client.batch_execute("ROLLBACK").await?;
        }
        self.failed = None;
        Ok(())
    }

    /// The objects after a rollback (see [`Session::rollback`]). When `closing`, the persistent
    /// objects are given their detached row state at once (see [`Store::forget_all`]), so
    /// closing takes each object's lock once more only to restore its links, if it has any.
    fn restore_committed(&mut self, closing: bool) {
        let mut restored = Vec::new();
        let mut gone = Vec::new();
        for (&id, record) in self.store.records.iter_mut() {
            // Borrowed where the session holds it (no reference count to touch).
            let upgraded;
            let object = match &record.object {
                Held::Strong(object) => object,
                Held::Weak(object) => match object.upgrade() {
                    Some(object) => {
                        upgraded = object;
                        &upgraded
                    }
                    None => {
                        gone.push(id);
                        continue;
                    }
                },
            };
            match (&record.committed, record.state) {
                (_, ObjectState::Pending) | (None, _) => {
                    let table = object.table();
                    for (i, column) in table.columns.iter().enumerate() {
                        if column.server_generated() {
                            let _ = object.set_value(i, Value::Null);
                        }
                    }
                    gone.push(id);
                    object.set_row_state(RowState::New);
                }
                (Some(committed), state) => {
                    let committed = committed.clone();
                    match &committed {
                        // Kept by the object: written back only if it was changed since.
                        Snapshot::Own if !object.is_clean() => {
                            let _ = object.restore_pristine();
                        }
                        Snapshot::Own | Snapshot::None => {}
                        Snapshot::Values(values) => {
                            for (i, value) in values.iter().enumerate() {
                                let _ = object.set_value(i, value.clone());
                            }
                        }
                    }
                    record.state = ObjectState::Persistent;
                    if closing {
                        // Closing: the object is given its detached row state at once (restoring
                        // links below reads no row state), and one with links is restored below.
                        let linked = object
                            .set_row_state_and_has_links(RowState::Stored(Some(committed.clone())));
                        record.detached = true;
                        if linked {
                            restored.push(object.clone());
                        }
                    } else {
                        if state != ObjectState::Persistent {
                            // A persistent object's row state already says a session holds it.
                            object.set_row_state(RowState::Stored(None));
                        }
                        if obj::has_links(object.as_ref()) {
                            restored.push(object.clone());
                        }
                    }
                    record.snapshot = committed;
                }
            }
        }
        for id in gone {
            self.store.remove(id);
        }
        if self.store.rekeyed {
            self.store.rebuild_identity();
        }
        // What stays lists only what stays: not the objects the rollback dropped, nor those
        // attached since and never flushed.
        for object in &restored {
            obj::retain_related(object.as_ref(), |other| {
                self.store.records.contains_key(&other)
            });
            self.restore_links(object);
        }
    }

    /// Rolls back any open transaction and detaches every object.
    pub async fn close(&mut self) -> Result<(), OrmError> {
        let result = self.send_rollback().await;
        if result.is_ok() {
            self.restore_committed(true);
        }
        self.store.forget_all();
        result
    }

    // ---- relationships ------------------------------------------------------------------------

    /// Loads the children of a one-to-many relationship (`session.load(&author,
    /// Author::ARTICLES)`): one query; the collection is then also available through
    /// [`Obj::children`].
    pub async fn load<P: Model, C: Model>(
        &mut self,
        parent: &Obj<P>,
        relation: OneToMany<P, C>,
    ) -> Result<Vec<Obj<C>>, OrmError> {
        let loaded = self
            .load_many(std::slice::from_ref(parent), relation)
            .await?;
        Ok(loaded.into_iter().next().unwrap_or_default())
    }

    /// Loads the children of many parents in one query (SQLAlchemy's `selectinload`): a loop
    /// over 100 authors' articles costs one query, not 100. Returns each parent's children, in
    /// the parents' order.
    pub async fn load_many<P: Model, C: Model>(
        &mut self,
        parents: &[Obj<P>],
        relation: OneToMany<P, C>,
    ) -> Result<Vec<Vec<Obj<C>>>, OrmError> {
        self.autoflush().await?;
        let fk = relation.column();
        let Some(fk_column) = C::TABLE.columns.get(fk) else {
            return Err(OrmError::usage(
                "the relationship's foreign key column does not exist",
            ));
        };
        let target = fk_column.foreign_key.map(|f| f.column).unwrap_or("id");
        let target_index = P::TABLE.column_index(target).unwrap_or(0);
        let keys: Vec<Value> = parents
            .iter()
            .map(|p| p.read().value(target_index).unwrap_or(Value::Null))
            .collect();
        let parents_by_key = KeyIndex::new(&keys);
        let mut out = SqlBuilder::new();
        out.push("SELECT ");
        crate::query::write_column_list::<C>(&mut out);
        out.push(" \nFROM ")
            .push_ident(C::TABLE.name)
            .push(" \nWHERE ")
            .push_column(C::TABLE.name, fk_column.name)
            .push(" = ANY($1)");
        let (sql, _) = out.finish();
        let rows = self.run_list(&sql, parents_by_key.distinct()).await?;
        self.store.reserve(rows.len());
        let mut grouped: Vec<Vec<Obj<C>>> = vec![Vec::new(); parents.len()];
        for row in &rows {
            let child = self.object_from_row::<C>(row, false)?;
            let value = child.read().value(fk).unwrap_or(Value::Null);
            for i in parents_by_key.positions(&value) {
                if let Some(group) = grouped.get_mut(i) {
                    group.push(child.clone());
                }
            }
        }
        for (parent, children) in parents.iter().zip(&grouped) {
            parent.note_cascade(relation);
            let erased: Vec<Arc<dyn ErasedObject>> = children.iter().map(Obj::erased).collect();
            obj::set_loaded_children(&parent.erased(), relation.key(), &erased);
        }
        Ok(grouped)
    }

    /// Loads the objects related to many objects through a many-to-many relationship, in one
    /// query joining the association table. Returns each object's related objects, in the
    /// objects' order; they are then also available through [`Obj::associated`].
    pub async fn load_associated<A: Model, B: Model>(
        &mut self,
        objects: &[Obj<A>],
        relation: crate::relationship::ManyToMany<A, B>,
    ) -> Result<Vec<Vec<Obj<B>>>, OrmError> {
        self.autoflush().await?;
        let through = relation.through();
        let (Some(local), Some(remote)) = (
            through.columns.get(relation.local_column()),
            through.columns.get(relation.remote_column()),
        ) else {
            return Err(OrmError::usage("the association's columns do not exist"));
        };
        let local_target = local.foreign_key.map(|f| f.column).unwrap_or("id");
        let remote_target = remote.foreign_key.map(|f| f.column).unwrap_or("id");
        let local_index = A::TABLE.column_index(local_target).unwrap_or(0);
        let keys: Vec<Value> = objects
            .iter()
            .map(|o| o.read().value(local_index).unwrap_or(Value::Null))
            .collect();
        let objects_by_key = KeyIndex::new(&keys);
        let mut out = SqlBuilder::new();
        out.push("SELECT ");
        crate::query::write_column_list::<B>(&mut out);
        out.push(", ").push_column(through.name, local.name);
        out.push(" \nFROM ")
            .push_ident(B::TABLE.name)
            .push(" JOIN ")
            .push_ident(through.name)
            .push(" ON ");
        out.push_column(through.name, remote.name)
            .push(" = ")
            .push_column(B::TABLE.name, remote_target);
        out.push(" \nWHERE ")
            .push_column(through.name, local.name)
            .push(" = ANY($1)");
        let (sql, _) = out.finish();
        let rows = self.run_list(&sql, objects_by_key.distinct()).await?;
        let mut grouped: Vec<Vec<Obj<B>>> = vec![Vec::new(); objects.len()];
        let width = B::TABLE.columns.len();
        for row in &rows {
            let object = self.object_from_row::<B>(row, false)?;
            let owner = Value::from_row(row, width, local.sql_type)?;
            for i in objects_by_key.positions(&owner) {
                if let Some(group) = grouped.get_mut(i) {
                    group.push(object.clone());
                }
            }
        }
        for (object, related) in objects.iter().zip(&grouped) {
            let erased: Vec<Arc<dyn ErasedObject>> = related.iter().map(Obj::erased).collect();
            obj::set_loaded_associated(&object.erased(), relation.key(), &erased);
        }
        Ok(grouped)
    }

    /// The parent of a many-to-one relationship: the linked object if set, else loaded by its
    /// foreign key (from the identity map when it is there).
    pub async fn load_parent<C: Model, P: Model>(
        &mut self,
        child: &Obj<C>,
        relation: ManyToOne<C, P>,
    ) -> Result<Option<Obj<P>>, OrmError> {
        if let Some(parent) = child.related(relation) {
            return Ok(Some(parent));
        }
        let value = child
            .read()
            .values()
            .get(relation.column())
            .cloned()
            .unwrap_or(Value::Null);
        if value.is_null() {
            return Ok(None);
        }
        let parent = match self.store.lookup(&identity_of_pk(P::TABLE, &value)) {
            Some(object) => Obj::from_erased(object),
            None => {
                let column = P::TABLE
                    .primary_key()
                    .next()
                    .and_then(|i| P::TABLE.columns.get(i))
                    .map(|c| c.name)
                    .unwrap_or("id");
                let query = crate::query::select::<P>().filter(crate::expr::Condition(
                    crate::expr::Expr::Binary {
                        op: crate::expr::BinOp::Eq,
                        left: Box::new(crate::expr::Expr::Column {
                            table: P::TABLE.name,
                            column,
                        }),
                        right: Box::new(crate::expr::Expr::Value(value)),
                    },
                ));
                self.first(&query).await?
            }
        };
        if let Some(parent) = &parent {
            obj::link_loaded(&child.erased(), relation.key(), &parent.erased());
        }
        Ok(parent)
    }

    // ---- queries ----------------------------------------------------------------------------------

    /// Runs a query and returns its objects (from the identity map where already present).
    pub async fn all<M: Model>(&mut self, query: &Select<M>) -> Result<Vec<Obj<M>>, OrmError> {
        self.autoflush().await?;
        let (sql, params) = query.sql();
        let rows = self.run(&sql, &params).await?;
        self.store.reserve(rows.len());
        let mut objects = Vec::with_capacity(rows.len());
        let mut seen = HashSet::new();
        for row in &rows {
            let object = self.object_from_row::<M>(row, false)?;
            // A join repeats an object once per matching row: keep its first.
            if !query.has_joins() || seen.insert(object.id()) {
                objects.push(object);
            }
        }
        Ok(objects)
    }

    /// The first object of a query (`LIMIT 1`), or `None`.
    pub async fn first<M: Model>(&mut self, query: &Select<M>) -> Result<Option<Obj<M>>, OrmError> {
        let limited = query.clone().limit(1);
        Ok(self.all(&limited).await?.into_iter().next())
    }

    /// The object at position `index` of a query (the tutorial's `query(...)[2]`): `OFFSET index
    /// LIMIT 1`.
    pub async fn nth<M: Model>(
        &mut self,
        query: &Select<M>,
        index: i64,
    ) -> Result<Option<Obj<M>>, OrmError> {
        let offset = query.clauses.offset.unwrap_or(0) + index;
        let limited = query.clone().offset(offset).limit(1);
        Ok(self.all(&limited).await?.into_iter().next())
    }

    /// Exactly one object: an error if the query finds none or several.
    pub async fn one<M: Model>(&mut self, query: &Select<M>) -> Result<Obj<M>, OrmError> {
        self.one_or_none(query)
            .await?
            .ok_or_else(|| OrmError::NotFound(format!("one() of {}", M::TABLE.name)))
    }

    /// At most one object: an error if the query finds several.
    pub async fn one_or_none<M: Model>(
        &mut self,
        query: &Select<M>,
    ) -> Result<Option<Obj<M>>, OrmError> {
        // Two rows tell "several" from "one", unless a join can repeat one object.
        let limited = if query.has_joins() {
            query.clone()
        } else {
            query.clone().limit(2)
        };
        let mut objects = self.all(&limited).await?;
        if objects.len() > 1 {
            return Err(OrmError::MultipleRows(format!(
                "one() of {}",
                M::TABLE.name
            )));
        }
        Ok(objects.pop())
    }

    /// The number of rows the query finds.
    pub async fn count<M: Model>(&mut self, query: &Select<M>) -> Result<i64, OrmError> {
        self.autoflush().await?;
        let (sql, params) = query.count_sql();
        let rows = self.run(&sql, &params).await?;
        let row = rows
            .first()
            .ok_or_else(|| OrmError::NotFound("count".into()))?;
        row.try_get::<_, i64>(0).map_err(OrmError::Driver)
    }

    /// Whether the query finds any row.
    pub async fn exists<M: Model>(&mut self, query: &Select<M>) -> Result<bool, OrmError> {
        self.autoflush().await?;
        let (inner, params) = query.sql();
        let sql = format!("SELECT EXISTS ({inner}) AS anon_1");
        let rows = self.run(&sql, &params).await?;
        let row = rows
            .first()
            .ok_or_else(|| OrmError::NotFound("exists".into()))?;
        row.try_get::<_, bool>(0).map_err(OrmError::Driver)
    }

    /// Runs a column-subset query and returns its rows as tuples.
    pub async fn all_columns<M: Model, C: ColumnTuple<M>>(
        &mut self,
        query: &SelectColumns<M, C>,
    ) -> Result<Vec<C::Output>, OrmError> {
        self.autoflush().await?;
        let (sql, params) = query.sql();
        let rows = self.run(&sql, &params).await?;
        let types = query.columns.sql_types();
        rows.iter()
            .map(|row| {
                let values = types
                    .iter()
                    .enumerate()
                    .map(|(i, ty)| Value::from_row(row, i, *ty))
                    .collect::<Result<Vec<_>, _>>()?;
                C::from_values(values)
            })
            .collect()
    }

    /// The tuple at position `index` of a column-subset query.
    pub async fn nth_columns<M: Model, C: ColumnTuple<M> + Clone>(
        &mut self,
        query: &SelectColumns<M, C>,
        index: i64,
    ) -> Result<Option<C::Output>, OrmError> {
        let offset = query.clauses.offset.unwrap_or(0) + index;
        let limited = query.clone().offset(offset).limit(1);
        Ok(self.all_columns(&limited).await?.into_iter().next())
    }

    /// The first tuple of a column-subset query.
    pub async fn first_columns<M: Model, C: ColumnTuple<M> + Clone>(
        &mut self,
        query: &SelectColumns<M, C>,
    ) -> Result<Option<C::Output>, OrmError> {
        self.nth_columns(query, 0).await
    }

    /// The object for a row: the one in the identity map, or a new persistent one.
    fn object_from_row<M: Model>(&mut self, row: &Row, weak: bool) -> Result<Obj<M>, OrmError> {
        self.store.object_from_row(row, weak)
    }

    /// Runs a query and returns its objects one by one as the rows arrive (the connection reads
    /// only as fast as they are consumed). Objects not already in the session are held weakly, so
    /// iterating a large table holds a bounded amount of memory; keep a handle to an object you
    /// change, or its change is lost with it.
    pub async fn stream<M: Model>(
        &mut self,
        query: &Select<M>,
    ) -> Result<ObjectStream<'_, M>, OrmError> {
        self.autoflush().await?;
        let (sql, params) = query.sql();
        self.connection().await?;
        let Session {
            engine,
            conn,
            store,
            failed,
            ..
        } = self;
        let client = conn
            .as_ref()
            .ok_or_else(|| OrmError::usage("no connection"))?;
        engine.log(&sql, &params, None);
        match client.query_raw(sql.as_str(), &as_params(&params)).await {
            Ok(rows) => Ok(ObjectStream::new(
                rows,
                store,
                !query.clauses.joins.is_empty(),
            )),
            Err(e) => {
                // As `abort_after`, except that the connection stays borrowed here: the
                // transaction is rolled back by the rollback() the session now requires.
                if e.as_db_error().is_some()
                    || e.is_closed()
                    || client.transaction_status() != TransactionStatus::InTransaction
                {
                    *failed = Some(e.to_string());
                }
                Err(e.into())
            }
        }
    }

    /// Updates the rows a query finds (`UPDATE ... SET ... WHERE ...`, one statement), and brings
    /// the objects of those rows in the identity map up to date (SQLAlchemy's
    /// `synchronize_session`). `onupdate` columns are set too. Returns the number of rows.
    pub async fn update<M: Model>(
        &mut self,
        query: &Select<M>,
        assignments: &[Assignment<M>],
    ) -> Result<u64, OrmError> {
        self.autoflush().await?;
        if assignments.is_empty() {
            return Ok(0);
        }
        let mut sets: Vec<(usize, Value)> = assignments
            .iter()
            .map(|a| (a.column, a.value.clone()))
            .collect();
        for (i, column) in M::TABLE.columns.iter().enumerate() {
            if let Some(onupdate) = column.onupdate
                && !sets.iter().any(|(c, _)| *c == i)
            {
                sets.push((i, (onupdate.make)()));
            }
        }
        let mut out = SqlBuilder::new();
        out.push("UPDATE ").push_ident(M::TABLE.name).push(" SET ");
        for (n, (i, value)) in sets.iter().enumerate() {
            if n > 0 {
                out.push(", ");
            }
            let name = M::TABLE.columns.get(*i).map(|c| c.name).unwrap_or("");
            out.push_ident(name).push("=").push_bind(value.clone());
        }
        query.clauses.write_bulk(" FROM ", &mut out);
        out.push(" RETURNING ");
        let pk: Vec<usize> = M::TABLE.primary_key().collect();
        for (n, i) in pk.iter().enumerate() {
            if n > 0 {
                out.push(", ");
            }
            out.push_column(
                M::TABLE.name,
                M::TABLE.columns.get(*i).map(|c| c.name).unwrap_or(""),
            );
        }
        let (sql, params) = out.finish();
        let rows = self.run(&sql, &params).await?;
        for row in &rows {
            let mut key_values = vec![Value::Null; M::TABLE.columns.len()];
            for (n, i) in pk.iter().enumerate() {
                if let (Some(slot), Some(column)) =
                    (key_values.get_mut(*i), M::TABLE.columns.get(*i))
                {
                    *slot = Value::from_row(row, n, column.sql_type)?;
                }
            }
            let key = identity_key(M::TABLE, &key_values);
            if let Some(object) = self.store.lookup(&key) {
                let id = object.object_id();
                // The transaction's starting values stay the rollback's.
                self.store.materialize(id);
                self.store.rekeyed = true;
                for (i, value) in &sets {
                    object.set_value(*i, value.clone())?;
                    if let Some(record) = self.store.records.get_mut(&id)
                        && let Snapshot::Values(snapshot) = &mut record.snapshot
                        && let Some(slot) = Arc::make_mut(snapshot).get_mut(*i)
                    {
                        *slot = value.clone();
                    }
                }
            }
        }
        Ok(rows.len() as u64)
    }

    /// Deletes the rows a query finds (one statement); their objects in the identity map are
    /// marked deleted. Returns the number of rows.
    pub async fn delete_where<M: Model>(&mut self, query: &Select<M>) -> Result<u64, OrmError> {
        self.autoflush().await?;
        let mut out = SqlBuilder::new();
        out.push("DELETE FROM ").push_ident(M::TABLE.name);
        query.clauses.write_bulk(" USING ", &mut out);
        out.push(" RETURNING ");
        let pk: Vec<usize> = M::TABLE.primary_key().collect();
        for (n, i) in pk.iter().enumerate() {
            if n > 0 {
                out.push(", ");
            }
            out.push_column(
                M::TABLE.name,
                M::TABLE.columns.get(*i).map(|c| c.name).unwrap_or(""),
            );
        }
        let (sql, params) = out.finish();
        let rows = self.run(&sql, &params).await?;
        for row in &rows {
            let mut key_values = vec![Value::Null; M::TABLE.columns.len()];
            for (n, i) in pk.iter().enumerate() {
                if let (Some(slot), Some(column)) =
                    (key_values.get_mut(*i), M::TABLE.columns.get(*i))
                {
                    *slot = Value::from_row(row, n, column.sql_type)?;
                }
            }
            let key = identity_key(M::TABLE, &key_values);
            if let Some(id) = self.store.identity.get(&key).copied()
                && let Some(record) = self.store.records.get_mut(&id)
            {
                // Gone from the database already: nothing left to flush for it.
                record.state = ObjectState::Deleted;
                record.snapshot = Snapshot::None;
                self.store.rekeyed = true;
                if let Some(object) = record.object.get() {
                    object.set_row_state(RowState::Deleted);
                }
                self.store.identity.remove(&key);
            }
        }
        Ok(rows.len() as u64)
    }

    /// Runs SQL with bound parameters in the session's transaction (the escape hatch) and
    /// returns the driver's rows.
    pub async fn execute_raw(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, OrmError> {
        self.autoflush().await?;
        self.run(sql, params).await
    }

    /// Runs SQL with bound parameters whose rows are whole rows of `M`'s table (all columns, in
    /// table order), and returns them as objects through the identity map.
    pub async fn query_raw<M: Model>(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Obj<M>>, OrmError> {
        let rows = self.execute_raw(sql, params).await?;
        rows.iter()
            .map(|row| self.object_from_row::<M>(row, false))
            .collect()
    }
}

/// The positions of some keys (the parents of a relationship load) by value, to group the loaded
/// rows in one pass: NULL keys match nothing, and a key given several times gets every match at
/// each of its positions.
pub(crate) struct KeyIndex {
    /// The first position of each distinct key.
    first: KeyMap<KeyPart, usize>,
    /// The next position with the same key as this one.
    next: Vec<Option<usize>>,
    /// The distinct non-NULL keys, in order of first appearance.
    distinct: Vec<Value>,
}

impl KeyIndex {
    pub(crate) fn new(keys: &[Value]) -> KeyIndex {
        let mut first: KeyMap<KeyPart, usize> =
            KeyMap::with_capacity_and_hasher(keys.len(), Default::default());
        let mut next = vec![None; keys.len()];
        for (i, key) in keys.iter().enumerate().rev() {
            if key.is_null() {
                continue;
            }
            if let Some(later) = first.insert(KeyPart::of(key), i)
                && let Some(slot) = next.get_mut(i)
            {
                *slot = Some(later);
            }
        }
        let distinct = keys
            .iter()
            .enumerate()
            .filter(|(i, key)| !key.is_null() && first.get(&KeyPart::of(key)) == Some(i))
            .map(|(_, key)| key.clone())
            .collect();
        KeyIndex {
            first,
            next,
            distinct,
        }
    }

    /// The distinct non-NULL keys, for `= ANY($1)`.
    pub(crate) fn distinct(&self) -> &[Value] {
        &self.distinct
    }

    /// The positions of the keys equal to `value`, in order.
    pub(crate) fn positions(&self, value: &Value) -> impl Iterator<Item = usize> + '_ {
        let start = if value.is_null() {
            None
        } else {
            self.first.get(&KeyPart::of(value)).copied()
        };
        std::iter::successors(start, |&i| self.next.get(i).copied().flatten())
    }
}

/// Reads a whole row of `table` (its columns in order).
pub(crate) fn read_values(table: &'static Table, row: &Row) -> Result<Vec<Value>, OrmError> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| Value::from_row(row, i, column.sql_type))
        .collect()
}

/// `pk1 = $1 AND pk2 = $2` for an object's primary key values.
pub(crate) fn pk_condition(table: &'static Table, values: &[Value]) -> Option<crate::expr::Expr> {
    let mut condition: Option<crate::expr::Expr> = None;
    for i in table.primary_key() {
        let column = table.columns.get(i)?;
        let value = values.get(i)?.clone();
        if value.is_null() {
            return None;
        }
        let term = crate::expr::Expr::Binary {
            op: crate::expr::BinOp::Eq,
            left: Box::new(crate::expr::Expr::Column {
                table: table.name,
                column: column.name,
            }),
            right: Box::new(crate::expr::Expr::Value(value)),
        };
        condition = Some(match condition {
            None => term,
            Some(previous) => crate::expr::Expr::Binary {
                op: crate::expr::BinOp::And,
                left: Box::new(previous),
                right: Box::new(term),
            },
        });
    }
    condition
}

#[cfg(test)]
mod tests;
