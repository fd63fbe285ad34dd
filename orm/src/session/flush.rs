//! The unit of work: what a flush sends, in which order, and in how many round trips.
//!
//! 1. INSERTs of pending objects, by *level*: an object's level is one more than the highest
//!    level of the pending objects it points to through a many-to-one link, so parents are
//!    inserted before their children and a parent's generated key fills its children's foreign
//!    keys. All INSERTs of one level go out together as one pipelined batch (one round trip per
//!    level of the foreign-key graph, however many rows), each with `RETURNING` for the columns
//!    the server generates.
//! 2. UPDATEs of persistent objects whose columns differ from their snapshot: only the changed
//!    columns, plus the `onupdate` ones; one batch.
//! 3. DELETEs, children's tables first; one batch.
//!
//! Nothing is written into the objects until every statement succeeded, so a failed flush leaves
//! them as they were.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use pg_wire::BatchResult;

use super::{ObjectState, Session, identity_key, pk_condition};
use crate::error::OrmError;
use crate::obj::{self, ErasedObject, ObjectId};
use crate::schema::Table;
use crate::sql::{SqlBuilder, as_params};
use crate::value::Value;

/// One statement of a flush, and what to do with its result.
struct Statement {
    sql: String,
    params: Vec<Value>,
    /// The object it writes, and the columns `RETURNING` gives back, in order.
    object: ObjectId,
    returning: Vec<usize>,
}

/// The values an object will have after the flush (generated keys, filled foreign keys,
/// defaults), kept apart until the flush succeeds.
type Staged = HashMap<ObjectId, Vec<Value>>;

pub(super) async fn flush(session: &mut Session) -> Result<(), OrmError> {
    let ordered = session.store.ordered();
    let mut pending = Vec::new();
    let mut persistent = Vec::new();
    let mut deleted = Vec::new();
    for (id, object) in ordered {
        match session.store.state_of(id) {
            Some(ObjectState::Pending) => pending.push(object),
            Some(ObjectState::Persistent) => persistent.push(object),
            Some(ObjectState::Deleted)
                if session
                    .store
                    .records
                    .get(&id)
                    .is_some_and(|r| !r.snapshot.is_empty()) =>
            {
                deleted.push(object)
            }
            _ => {}
        }
    }

    let mut staged: Staged = HashMap::new();
    for object in pending.iter().chain(&persistent) {
        staged.insert(object.object_id(), object.values());
    }

    // Dirty objects, before anything is sent: a flush with nothing to do sends nothing.
    let pending_ids: Vec<ObjectId> = pending.iter().map(|o| o.object_id()).collect();
    let dirty_before: Vec<&Arc<dyn ErasedObject>> = persistent
        .iter()
        .filter(|o| {
            let mut values = o.values();
            fill_foreign_keys(o.as_ref(), &mut values, &staged, &pending_ids);
            session
                .store
                .records
                .get(&o.object_id())
                .is_some_and(|r| !same_values(&r.snapshot, &values))
        })
        .collect();
    if pending.is_empty() && dirty_before.is_empty() && deleted.is_empty() {
        return Ok(());
    }

    // 1. INSERTs, level by level.
    let levels = insert_levels(&pending)?;
    for level in levels {
        let mut statements = Vec::with_capacity(level.len());
        for object in &level {
            let id = object.object_id();
            let mut values = staged.get(&id).cloned().unwrap_or_else(|| object.values());
            fill_foreign_keys(object.as_ref(), &mut values, &staged, &[]);
            let table = object.table();
            for (i, column) in table.columns.iter().enumerate() {
                if let (Some(default), Some(value)) = (column.default, values.get_mut(i))
                    && value.is_null()
                {
                    *value = (default.make)();
                }
            }
            let statement = insert_statement(table, &values, id);
            staged.insert(id, values);
            statements.push(statement);
        }
        let results = run_batch(session, &statements).await?;
        for (statement, result) in statements.iter().zip(results) {
            apply_returning(
                &mut staged,
                statement,
                result,
                session
                    .store
                    .records
                    .get(&statement.object)
                    .and_then(|r| r.object.get()),
            )?;
        }
    }

    // 2. UPDATEs of changed columns.
    let mut updates = Vec::new();
    for object in &persistent {
        let id = object.object_id();
        let Some(record) = session.store.records.get(&id) else {
            continue;
        };
        let mut values = staged.get(&id).cloned().unwrap_or_else(|| object.values());
        fill_foreign_keys(object.as_ref(), &mut values, &staged, &[]);
        let table = object.table();
        let mut changed: Vec<usize> = (0..values.len())
            .filter(|&i| match (values.get(i), record.snapshot.get(i)) {
                (Some(a), Some(b)) => !a.same_as(b),
                (a, b) => a.is_some() != b.is_some(),
            })
            .collect();
        if changed.is_empty() {
            continue;
        }
        for (i, column) in table.columns.iter().enumerate() {
            if let Some(onupdate) = column.onupdate
                && !changed.contains(&i)
                && let Some(value) = values.get_mut(i)
            {
                *value = (onupdate.make)();
                changed.push(i);
            }
        }
        changed.sort_unstable();
        if let Some(statement) = update_statement(table, &record.snapshot, &values, &changed, id) {
            updates.push(statement);
        }
        staged.insert(id, values);
    }
    if !updates.is_empty() {
        let results = run_batch(session, &updates).await?;
        for (statement, result) in updates.iter().zip(results) {
            if result.rows_affected != 1 {
                return Err(OrmError::StaleData(format!(
                    "UPDATE of a {} row matched {} rows instead of 1",
                    session
                        .store
                        .records
                        .get(&statement.object)
                        .and_then(|r| r.object.get())
                        .map(|o| o.table().name)
                        .unwrap_or("?"),
                    result.rows_affected
                )));
            }
        }
    }

    // 3. Association rows of many-to-many relationships: deletions, then insertions, once both
    //    sides have their keys.
    let mut associations = Vec::new();
    let mut with_associations = Vec::new();
    for object in pending.iter().chain(&persistent).chain(&deleted) {
        let operations = obj::pending_associations(object.as_ref());
        if operations.is_empty() {
            continue;
        }
        with_associations.push(object.clone());
        for (key, other, add) in operations {
            if let Some(statement) =
                association_statement(key, object.as_ref(), other.as_ref(), add, &staged)
            {
                associations.push((add, statement));
            }
        }
    }
    // Deletions first, so a relation removed and added again ends up present.
    associations.sort_by_key(|(add, _)| *add);
    let associations: Vec<Statement> = associations.into_iter().map(|(_, s)| s).collect();
    if !associations.is_empty() {
        run_batch(session, &associations).await?;
    }

    // 4. DELETEs, children's tables first.
    let deletes: Vec<Statement> = order_deletes(&deleted)
        .into_iter()
        .filter_map(|object| {
            let record = session.store.records.get(&object.object_id())?;
            delete_statement(object.table(), &record.snapshot, object.object_id())
        })
        .collect();
    if !deletes.is_empty() {
        run_batch(session, &deletes).await?;
    }

    // Every statement succeeded: the objects take their new values.
    for object in pending.iter().chain(&persistent) {
        let id = object.object_id();
        let Some(values) = staged.remove(&id) else {
            continue;
        };
        let current = object.values();
        for (i, value) in values.iter().enumerate() {
            if current.get(i) != Some(value) {
                object.set_value(i, value.clone())?;
            }
        }
        obj::settle(object.as_ref());
        let key = identity_key(object.table(), &values);
        if let Some(record) = session.store.records.get_mut(&id) {
            record.state = ObjectState::Persistent;
            record.snapshot = values;
            if record.key.as_ref() != Some(&key) {
                record.key = Some(key.clone());
                session.store.identity.insert(key, id);
            }
        }
    }
    for object in &with_associations {
        obj::clear_pending_associations(object.as_ref());
    }
    for object in &deleted {
        let id = object.object_id();
        if let Some(record) = session.store.records.get_mut(&id) {
            record.snapshot.clear();
            if let Some(key) = record.key.take() {
                session.store.identity.remove(&key);
            }
        }
    }
    Ok(())
}

/// Whether two rows of values are the same for change detection (see [`Value::same_as`]).
fn same_values(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
}

/// Sets the foreign key columns from the object's many-to-one links, using the parents' staged
/// values (generated keys included). Parents listed in `skip` (not inserted yet) are left alone.
fn fill_foreign_keys(
    object: &dyn ErasedObject,
    values: &mut [Value],
    staged: &Staged,
    skip: &[ObjectId],
) {
    let table = object.table();
    for (key, parent) in obj::parent_links(object) {
        if key.child_table != table.name || skip.contains(&parent.object_id()) {
            continue;
        }
        let Some(column) = table.columns.get(key.column) else {
            continue;
        };
        let target = column.foreign_key.map(|f| f.column).unwrap_or("id");
        let parent_table = parent.table();
        let Some(target_index) = parent_table.column_index(target) else {
            continue;
        };
        let parent_values = staged
            .get(&parent.object_id())
            .cloned()
            .unwrap_or_else(|| parent.values());
        if let (Some(slot), Some(value)) =
            (values.get_mut(key.column), parent_values.get(target_index))
            && !value.is_null()
        {
            *slot = value.clone();
        }
    }
}

/// Groups pending objects by insertion level; objects keep their order within a level.
fn insert_levels(
    pending: &[Arc<dyn ErasedObject>],
) -> Result<Vec<Vec<Arc<dyn ErasedObject>>>, OrmError> {
    let ids: Vec<ObjectId> = pending.iter().map(|o| o.object_id()).collect();
    let mut level: HashMap<ObjectId, usize> = HashMap::new();
    fn level_of(
        object: &Arc<dyn ErasedObject>,
        ids: &[ObjectId],
        level: &mut HashMap<ObjectId, usize>,
        visiting: &mut Vec<ObjectId>,
    ) -> Result<usize, OrmError> {
        let id = object.object_id();
        if let Some(l) = level.get(&id) {
            return Ok(*l);
        }
        if visiting.contains(&id) {
            return Err(OrmError::usage(format!(
                "the new {} objects depend on each other in a cycle of many-to-one links; insert one side first",
                object.table().name
            )));
        }
        visiting.push(id);
        let mut mine = 0;
        for (_, parent) in obj::parent_links(object.as_ref()) {
            if ids.contains(&parent.object_id()) {
                mine = mine.max(level_of(&parent, ids, level, visiting)? + 1);
            }
        }
        visiting.pop();
        level.insert(id, mine);
        Ok(mine)
    }
    let mut levels: Vec<Vec<Arc<dyn ErasedObject>>> = Vec::new();
    for object in pending {
        let l = level_of(object, &ids, &mut level, &mut Vec::new())?;
        while levels.len() <= l {
            levels.push(Vec::new());
        }
        if let Some(group) = levels.get_mut(l) {
            group.push(object.clone());
        }
    }
    Ok(levels)
}

/// `INSERT INTO t (cols) VALUES ($1, ...) RETURNING t.generated` — columns the server generates
/// are left out while NULL, and read back.
fn insert_statement(table: &'static Table, values: &[Value], object: ObjectId) -> Statement {
    let mut out = SqlBuilder::new();
    let mut returning = Vec::new();
    let mut columns = Vec::new();
    for (i, column) in table.columns.iter().enumerate() {
        let value = values.get(i).cloned().unwrap_or(Value::Null);
        if value.is_null() && column.server_generated() {
            returning.push(i);
        } else {
            columns.push((i, value));
        }
    }
    out.push("INSERT INTO ").push_ident(table.name);
    if columns.is_empty() {
        out.push(" DEFAULT VALUES");
    } else {
        out.push(" (");
        for (n, (i, _)) in columns.iter().enumerate() {
            if n > 0 {
                out.push(", ");
            }
            out.push_ident(table.columns.get(*i).map(|c| c.name).unwrap_or(""));
        }
        out.push(") VALUES (");
        for (n, (_, value)) in columns.into_iter().enumerate() {
            if n > 0 {
                out.push(", ");
            }
            out.push_bind(value);
        }
        out.push(")");
    }
    if !returning.is_empty() {
        out.push(" RETURNING ");
        for (n, i) in returning.iter().enumerate() {
            if n > 0 {
                out.push(", ");
            }
            out.push_column(
                table.name,
                table.columns.get(*i).map(|c| c.name).unwrap_or(""),
            );
        }
    }
    let (sql, params) = out.finish();
    Statement {
        sql,
        params,
        object,
        returning,
    }
}

/// `UPDATE t SET c=$1, ... WHERE t.pk = $n` for the changed columns.
fn update_statement(
    table: &'static Table,
    snapshot: &[Value],
    values: &[Value],
    changed: &[usize],
    object: ObjectId,
) -> Option<Statement> {
    let condition = pk_condition(table, snapshot)?;
    let mut out = SqlBuilder::new();
    out.push("UPDATE ").push_ident(table.name).push(" SET ");
    for (n, i) in changed.iter().enumerate() {
        if n > 0 {
            out.push(", ");
        }
        out.push_ident(table.columns.get(*i)?.name)
            .push("=")
            .push_bind(values.get(*i)?.clone());
    }
    out.push(" WHERE ");
    condition.write(&mut out);
    let (sql, params) = out.finish();
    Some(Statement {
        sql,
        params,
        object,
        returning: Vec::new(),
    })
}

/// `DELETE FROM t WHERE t.pk = $1`.
fn delete_statement(
    table: &'static Table,
    snapshot: &[Value],
    object: ObjectId,
) -> Option<Statement> {
    let condition = pk_condition(table, snapshot)?;
    let mut out = SqlBuilder::new();
    out.push("DELETE FROM ")
        .push_ident(table.name)
        .push(" WHERE ");
    condition.write(&mut out);
    let (sql, params) = out.finish();
    Some(Statement {
        sql,
        params,
        object,
        returning: Vec::new(),
    })
}

/// `INSERT INTO through (local, remote) VALUES ($1, $2)`, or `DELETE FROM through WHERE local = $1
/// AND remote = $2`.
fn association_statement(
    key: crate::relationship::AssociationKey,
    object: &dyn ErasedObject,
    other: &dyn ErasedObject,
    add: bool,
    staged: &Staged,
) -> Option<Statement> {
    let through = key.through;
    let local = through.columns.get(key.local)?;
    let remote = through.columns.get(key.remote)?;
    let value_of = |side: &dyn ErasedObject, column: &crate::schema::ColumnDef| -> Option<Value> {
        let target = column.foreign_key.map(|f| f.column).unwrap_or("id");
        let index = side.table().column_index(target)?;
        let values = staged
            .get(&side.object_id())
            .cloned()
            .unwrap_or_else(|| side.values());
        values.get(index).cloned().filter(|v| !v.is_null())
    };
    let (local_value, remote_value) = (value_of(object, local)?, value_of(other, remote)?);
    let mut out = SqlBuilder::new();
    if add {
        out.push("INSERT INTO ").push_ident(through.name).push(" (");
        out.push_ident(local.name)
            .push(", ")
            .push_ident(remote.name)
            .push(") VALUES (");
        out.push_bind(local_value)
            .push(", ")
            .push_bind(remote_value)
            .push(")");
    } else {
        out.push("DELETE FROM ")
            .push_ident(through.name)
            .push(" WHERE ");
        out.push_column(through.name, local.name)
            .push(" = ")
            .push_bind(local_value);
        out.push(" AND ")
            .push_column(through.name, remote.name)
            .push(" = ")
            .push_bind(remote_value);
    }
    let (sql, params) = out.finish();
    Some(Statement {
        sql,
        params,
        object: object.object_id(),
        returning: Vec::new(),
    })
}

/// Deleted objects ordered so rows that reference others go first.
fn order_deletes(deleted: &[Arc<dyn ErasedObject>]) -> Vec<Arc<dyn ErasedObject>> {
    let tables: Vec<&'static Table> = deleted.iter().map(|o| o.table()).collect();
    fn depth(
        table: &'static Table,
        tables: &[&'static Table],
        seen: &mut Vec<&'static str>,
    ) -> usize {
        if seen.contains(&table.name) {
            return 0;
        }
        seen.push(table.name);
        let d = table
            .references()
            .filter_map(|name| tables.iter().find(|t| t.name == name))
            .map(|t| depth(t, tables, seen) + 1)
            .max()
            .unwrap_or(0);
        seen.pop();
        d
    }
    let mut keyed: Vec<(usize, usize, Arc<dyn ErasedObject>)> = deleted
        .iter()
        .enumerate()
        .map(|(n, o)| (depth(o.table(), &tables, &mut Vec::new()), n, o.clone()))
        .collect();
    // Deepest (most dependent) tables first; the order objects were deleted in otherwise.
    keyed.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    keyed.into_iter().map(|(_, _, o)| o).collect()
}

/// Sends statements as one pipelined batch in the session's transaction.
async fn run_batch(
    session: &mut Session,
    statements: &[Statement],
) -> Result<Vec<BatchResult>, OrmError> {
    let engine = session.engine.clone();
    let client = session.connection().await?;
    let params: Vec<Vec<&(dyn pg_wire::types::ToSql + Sync)>> =
        statements.iter().map(|s| as_params(&s.params)).collect();
    let mut batch = client.batch();
    for (statement, params) in statements.iter().zip(&params) {
        batch.query(statement.sql.as_str(), params);
    }
    let started = Instant::now();
    let results = batch.run().await?;
    for statement in statements {
        engine.log(&statement.sql, &statement.params, Some(started));
    }
    let mut out = Vec::with_capacity(results.len());
    let mut first_error = None;
    for result in results {
        match result {
            Ok(result) => out.push(result),
            Err(e) if e.kind() == pg_wire::ErrorKind::Skipped => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(OrmError::Driver(e)),
        None => Ok(out),
    }
}

/// Writes the columns an INSERT's `RETURNING` gave back into the staged values.
fn apply_returning(
    staged: &mut Staged,
    statement: &Statement,
    result: BatchResult,
    object: Option<Arc<dyn ErasedObject>>,
) -> Result<(), OrmError> {
    if statement.returning.is_empty() {
        return Ok(());
    }
    let Some(object) = object else {
        return Ok(());
    };
    let table = object.table();
    let row = result
        .rows
        .first()
        .ok_or_else(|| OrmError::usage(format!("INSERT INTO {} returned no row", table.name)))?;
    let values = staged
        .entry(statement.object)
        .or_insert_with(|| object.values());
    for (n, i) in statement.returning.iter().enumerate() {
        let column = table
            .columns
            .get(*i)
            .ok_or_else(|| OrmError::usage("RETURNING column out of range"))?;
        let value = Value::from_row(row, n, column.sql_type)?;
        if let Some(slot) = values.get_mut(*i) {
            *slot = value;
        }
    }
    Ok(())
}
