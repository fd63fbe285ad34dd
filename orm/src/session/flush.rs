//! The unit of work: what a flush sends, in which order, and in how many round trips.
//!
//! First the flush completes the session, as SQLAlchemy's does along relationships:
//!
//! - *save-update cascade*: an object linked since the last flush to one the session holds (a
//!   child pushed onto a persistent parent, a new parent set on a persistent child, a new object
//!   linked many-to-many) joins the session;
//! - *deleted parents*: the children of a deleted object's one-to-many relationships that are not
//!   loaded are loaded (one query per relationship and round), then deleted with the delete
//!   cascade (round after round, down the relationships) or given a NULL foreign key.
//!
//! Then it sends:
//!
//! 1. INSERTs of pending objects, by *level*. Tables are ordered by their foreign keys (a table
//!    after the tables it references; tables referencing each other in a cycle form one group),
//!    and only within a group, such as a self-referential table, are objects ordered among
//!    themselves, parents first. So the rows of one table go in the order they were added, and a
//!    parent's generated key fills its children's foreign keys. All INSERTs of one level go out
//!    together as one pipelined batch (one round trip per level, however many rows), each with
//!    `RETURNING` for the columns the server generates.
//! 2. UPDATEs of persistent objects whose columns differ from their snapshot: only the changed
//!    columns, plus the `onupdate` ones; one batch.
//! 3. Association rows of many-to-many relationships.
//! 4. DELETEs in the reverse order: tables that reference others first, and within a group, rows
//!    that reference other deleted rows first (children before parents); one batch.
//!
//! Nothing is written into the objects until every statement succeeded, so a failed flush leaves
//! them as they were (the deleted parents' children excepted: they are updated in memory when
//! found, as [`Session::delete`] does for loaded children).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use pg_wire::BatchResult;

use super::identity::KeyPart;
use super::{KeyIndex, ObjectState, Session, identity_key, pk_condition};
use crate::error::OrmError;
use crate::obj::{self, ErasedObject, ObjectId, RowState, Snapshot};
use crate::relationship::{AssociationKey, ChildRelationship};
use crate::schema::Table;
use crate::sql::{SqlBuilder, as_params};
use crate::value::Value;

/// One statement of a flush, and what to do with its result.
struct Statement {
    sql: String,
    params: Vec<Value>,
    /// Whether `params` are bound as one array parameter, `$1` (`= ANY($1)`).
    list: bool,
    /// The object it writes, and the columns `RETURNING` gives back, in order.
    object: ObjectId,
    returning: Vec<usize>,
}

/// The values an object will have after the flush (generated keys, filled foreign keys,
/// defaults), kept apart until the flush succeeds.
type Staged = HashMap<ObjectId, Vec<Value>>;

pub(super) async fn flush(session: &mut Session) -> Result<(), OrmError> {
    resolve_deleted_children(session).await?;
    cascade_saves(session);
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
                    .is_some_and(|r| !r.snapshot.is_none()) =>
            {
                deleted.push(object)
            }
            _ => {}
        }
    }

    // Every object that may be written, with its values. A persistent object that keeps its
    // row's values, unwritten since and with no many-to-one link, is its row: it is left out.
    let mut staged: Staged = HashMap::new();
    for object in &pending {
        staged.insert(object.object_id(), object.values());
    }
    for object in &persistent {
        let unchanged = session
            .store
            .records
            .get(&object.object_id())
            .is_some_and(|r| matches!(r.snapshot, Snapshot::Own))
            && object.is_clean()
            && !obj::has_parent_links(object.as_ref());
        if !unchanged {
            staged.insert(object.object_id(), object.values());
        }
    }

    // Dirty objects, before anything is sent: a flush with nothing to do sends nothing.
    let pending_ids: HashSet<ObjectId> = pending.iter().map(|o| o.object_id()).collect();
    let none = HashSet::new();
    let dirty_before = persistent.iter().any(|o| {
        let Some(mut values) = staged.get(&o.object_id()).cloned() else {
            return false;
        };
        fill_foreign_keys(o.as_ref(), &mut values, &staged, &pending_ids, &pending_ids);
        session
            .store
            .records
            .get(&o.object_id())
            .is_some_and(|r| !same_values(&r.snapshot.resolve(o.as_ref()), &values))
    });
    let associations_pending = pending
        .iter()
        .chain(&persistent)
        .chain(&deleted)
        .any(|o| !obj::pending_associations(o.as_ref()).is_empty());
    if pending.is_empty() && !dirty_before && deleted.is_empty() && !associations_pending {
        return Ok(());
    }
    // Keys may change from here on (a rollback rebuilds the identity map).
    session.store.rekeyed = true;

    // 1. INSERTs, level by level.
    let levels = insert_levels(&pending)?;
    for level in levels {
        let mut statements = Vec::with_capacity(level.len());
        for object in &level {
            let id = object.object_id();
            let mut values = staged.get(&id).cloned().unwrap_or_else(|| object.values());
            fill_foreign_keys(object.as_ref(), &mut values, &staged, &pending_ids, &none);
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
        let Some(mut values) = staged.get(&id).cloned() else {
            // Unchanged (see above).
            continue;
        };
        fill_foreign_keys(object.as_ref(), &mut values, &staged, &pending_ids, &none);
        let table = object.table();
        let snapshot = record.snapshot.resolve(object.as_ref());
        let mut changed: Vec<usize> = (0..values.len())
            .filter(|&i| match (values.get(i), snapshot.get(i)) {
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
        if let Some(statement) = update_statement(table, &snapshot, &values, &changed, id) {
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
    let deleted_ids: HashSet<ObjectId> = deleted.iter().map(|o| o.object_id()).collect();
    for object in pending.iter().chain(&persistent).chain(&deleted) {
        let operations = obj::pending_associations(object.as_ref());
        if operations.is_empty() {
            continue;
        }
        with_associations.push(object.clone());
        for (key, other, add) in operations {
            // A relation to an object deleted in this flush goes with it (see the purges).
            if add && deleted_ids.contains(&other.object_id()) {
                continue;
            }
            if let Some(statement) =
                association_statement(key, object.as_ref(), other.as_ref(), add, &staged)
            {
                associations.push((add, statement));
            }
        }
    }
    // The association rows of deleted objects, loaded or not: one DELETE per association.
    let mut purges: Vec<(AssociationKey, Vec<Value>)> = Vec::new();
    for object in &deleted {
        let Some(record) = session.store.records.get(&object.object_id()) else {
            continue;
        };
        for key in obj::association_keys(object.as_ref()) {
            let snapshot = record.snapshot.resolve(object.as_ref());
            let Some(value) = association_value(key, object.table(), &snapshot) else {
                continue;
            };
            match purges.iter_mut().find(|(k, _)| *k == key) {
                Some((_, values)) => values.push(value),
                None => purges.push((key, vec![value])),
            }
        }
    }
    for (key, values) in purges {
        if let Some(statement) = association_purge(key, values) {
            associations.push((false, statement));
        }
    }
    // Deletions first, so a relation removed and added again ends up present.
    associations.sort_by_key(|(add, _)| *add);
    let associations: Vec<Statement> = associations.into_iter().map(|(_, s)| s).collect();
    if !associations.is_empty() {
        run_batch(session, &associations).await?;
    }

    // 4. DELETEs, rows that reference others first.
    let doomed: Vec<(Arc<dyn ErasedObject>, Vec<Value>)> = deleted
        .iter()
        .filter_map(|object| {
            let record = session.store.records.get(&object.object_id())?;
            let snapshot = record.snapshot.resolve(object.as_ref()).into_owned();
            Some((object.clone(), snapshot))
        })
        .collect();
    let deletes: Vec<Statement> = order_deletes(&doomed)
        .into_iter()
        .filter_map(|(object, snapshot)| {
            delete_statement(object.table(), snapshot, object.object_id())
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
        // The values the transaction began with stay the rollback's.
        session.store.materialize(id);
        let current = object.values();
        for (i, value) in values.iter().enumerate() {
            if current.get(i) != Some(value) {
                object.set_value(i, value.clone())?;
            }
        }
        obj::settle(object.as_ref());
        obj::clear_link_changes(object.as_ref());
        if pending_ids.contains(&id) {
            object.set_row_state(RowState::Stored(None));
        }
        let key = identity_key(object.table(), &values);
        if let Some(record) = session.store.records.get_mut(&id) {
            record.state = ObjectState::Persistent;
            record.snapshot = Snapshot::Values(values.into());
            if record.key.as_ref() != Some(&key) {
                // A changed primary key: the row is known by its new key only.
                if let Some(old) = record.key.replace(key.clone())
                    && session.store.identity.get(&old) == Some(&id)
                {
                    session.store.identity.remove(&old);
                }
                session.store.identity.insert(key, id);
            }
        }
    }
    // Links the flush did not decide (a foreign key set directly over a loaded link) no longer
    // describe the rows: drop them.
    let written: HashSet<ObjectId> = updates.iter().map(|u| u.object).collect();
    for object in pending.iter().chain(&persistent) {
        if written.contains(&object.object_id()) {
            for (key, _) in obj::stale_links(object.as_ref()) {
                obj::unlink(object.as_ref(), key);
            }
        }
    }
    for object in &with_associations {
        obj::clear_pending_associations(object.as_ref());
    }
    for object in &deleted {
        let id = object.object_id();
        object.set_row_state(RowState::Deleted);
        if let Some(record) = session.store.records.get_mut(&id) {
            record.snapshot = Snapshot::None;
            if let Some(key) = record.key.take() {
                session.store.identity.remove(&key);
            }
        }
    }
    Ok(())
}

/// The save-update cascade at flush time: objects linked since the last flush to objects the
/// session holds (parents set, children attached, many-to-many relations added) join the session,
/// with everything linked to them (see [`Session::add`]).
fn cascade_saves(session: &mut Session) {
    let mut found = Vec::new();
    for (id, object) in session.store.ordered() {
        if !matches!(
            session.store.state_of(id),
            Some(ObjectState::Pending | ObjectState::Persistent)
        ) {
            continue;
        }
        found.extend(obj::changed_parent_links(object.as_ref()));
        found.extend(obj::unsaved_children(object.as_ref()));
        found.extend(
            obj::pending_associations(object.as_ref())
                .into_iter()
                .filter(|(_, _, add)| *add)
                .map(|(_, other, _)| other),
        );
    }
    for object in found {
        if !session.store.records.contains_key(&object.object_id()) {
            session.add_erased(object);
        }
    }
}

/// Loads the children of deleted objects' relationships that are not loaded, then deletes them
/// or clears their foreign key (see [`Session::delete`]); repeated while the delete cascade finds
/// more deleted objects with unloaded relationships.
async fn resolve_deleted_children(session: &mut Session) -> Result<(), OrmError> {
    loop {
        let any_deleted = session
            .store
            .records
            .values()
            .any(|r| r.state == ObjectState::Deleted && !r.snapshot.is_none());
        if !any_deleted {
            return Ok(());
        }
        // The relationships to load, each with the deleted parents it is not loaded for.
        let mut work: Vec<(ChildRelationship, Vec<Arc<dyn ErasedObject>>)> = Vec::new();
        for (id, object) in session.store.ordered() {
            let unflushed_delete = session
                .store
                .records
                .get(&id)
                .is_some_and(|r| r.state == ObjectState::Deleted && !r.snapshot.is_none());
            if !unflushed_delete {
                continue;
            }
            for relationship in object.relationships() {
                if obj::is_collection_loaded(object.as_ref(), relationship.key()) {
                    continue;
                }
                match work.iter_mut().find(|(r, parents)| {
                    r.key() == relationship.key()
                        && parents
                            .first()
                            .is_some_and(|p| p.table().name == object.table().name)
                }) {
                    Some((_, parents)) => parents.push(object.clone()),
                    None => work.push((*relationship, vec![object.clone()])),
                }
            }
        }
        if work.is_empty() {
            return Ok(());
        }
        for (relationship, parents) in work {
            let children = load_children(session, &relationship, &parents).await?;
            let key = relationship.key();
            for (parent, children) in parents.iter().zip(children) {
                obj::set_loaded_children(parent, key, &children);
                for child in children {
                    session.orphan(parent.as_ref(), key, child);
                }
            }
        }
    }
}

/// The children of `parents` (deleted, so their snapshot holds their row's key) through
/// `relationship`, from the database through the identity map, grouped by parent. Children
/// already deleted, or moved to another parent in memory, are left out.
async fn load_children(
    session: &mut Session,
    relationship: &ChildRelationship,
    parents: &[Arc<dyn ErasedObject>],
) -> Result<Vec<Vec<Arc<dyn ErasedObject>>>, OrmError> {
    let key = relationship.key();
    let table = relationship.child();
    let Some(column) = table.columns.get(key.column) else {
        return Err(OrmError::usage(format!(
            "the relationship {} names a column {} that {} does not have",
            relationship.name(),
            key.column,
            table.name
        )));
    };
    let keys: Vec<Value> = parents
        .iter()
        .map(|parent| {
            session
                .store
                .records
                .get(&parent.object_id())
                .and_then(|r| {
                    let snapshot = r.snapshot.resolve(parent.as_ref());
                    obj::referenced_value(table, key, parent.table(), &snapshot)
                })
                .unwrap_or(Value::Null)
        })
        .collect();
    let mut grouped = vec![Vec::new(); parents.len()];
    let parents_by_key = KeyIndex::new(&keys);
    if parents_by_key.distinct().is_empty() {
        return Ok(grouped);
    }
    let mut out = SqlBuilder::new();
    out.push("SELECT ");
    for (i, c) in table.columns.iter().enumerate() {
        if i > 0 {
            out.push(", ");
        }
        out.push_column(table.name, c.name);
    }
    out.push(" \nFROM ")
        .push_ident(table.name)
        .push(" \nWHERE ")
        .push_column(table.name, column.name)
        .push(" = ANY($1)");
    let (sql, _) = out.finish();
    let rows = session.run_list(&sql, parents_by_key.distinct()).await?;
    for row in &rows {
        let child = session.store.child_from_row(relationship, row)?;
        if session.store.state_of(child.object_id()) != Some(ObjectState::Persistent) {
            continue;
        }
        let Some(value) = child.value(key.column) else {
            continue;
        };
        for i in parents_by_key.positions(&value) {
            if let Some(group) = grouped.get_mut(i) {
                group.push(child.clone());
            }
        }
    }
    Ok(grouped)
}

/// Whether two rows of values are the same for change detection (see [`Value::same_as`]).
fn same_values(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
}

/// Sets the foreign key columns the object's many-to-one links decide, from the parents' staged
/// values (generated keys included): every link of a new object; for a persistent object, the
/// links set since the last flush and those to a parent this flush inserts (`new`). A link loaded
/// from the database does not undo a foreign key column set directly. Parents in `unsent` (not
/// inserted yet) are left alone.
fn fill_foreign_keys(
    object: &dyn ErasedObject,
    values: &mut [Value],
    staged: &Staged,
    new: &HashSet<ObjectId>,
    unsent: &HashSet<ObjectId>,
) {
    let table = object.table();
    let is_new = new.contains(&object.object_id());
    for (key, parent) in obj::parent_links(object) {
        let parent_id = parent.object_id();
        if key.child_table != table.name || unsent.contains(&parent_id) {
            continue;
        }
        if !is_new && !new.contains(&parent_id) && !obj::is_link_changed(object, key) {
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

/// The tables of one flush ordered by their foreign keys. Tables that reference each other,
/// directly or through others, form one *group* (a self-referential table is a group of its own
/// whose rows need ordering among themselves); a group's *level* is one more than the highest
/// level of the groups it references.
struct TableOrder {
    names: Vec<&'static str>,
    /// Per table: the index of the first table of its group.
    group: Vec<usize>,
    /// Per table: its group's level.
    level: Vec<usize>,
}

impl TableOrder {
    /// The order of `tables`, by their foreign keys and the `links` (child table, parent table)
    /// between their objects.
    fn new(tables: &[&'static Table], links: &[(&'static str, &'static str)]) -> TableOrder {
        let names: Vec<&'static str> = tables.iter().map(|t| t.name).collect();
        let n = names.len();
        let index = |name: &str| names.iter().position(|t| *t == name);
        // edges[i]: the tables table i references (itself excluded).
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
        let references = tables
            .iter()
            .enumerate()
            .flat_map(|(i, table)| table.references().filter_map(move |r| Some((i, index(r)?))));
        let linked = links
            .iter()
            .filter_map(|(child, parent)| Some((index(child)?, index(parent)?)));
        for (i, j) in references.chain(linked) {
            if let Some(out) = edges.get_mut(i)
                && i != j
                && !out.contains(&j)
            {
                out.push(j);
            }
        }
        // reach[i][j]: table i references table j, directly or not.
        let reach: Vec<Vec<bool>> = (0..n)
            .map(|start| {
                let mut seen = vec![false; n];
                let mut stack = vec![start];
                while let Some(i) = stack.pop() {
                    for &j in edges.get(i).into_iter().flatten() {
                        if let Some(slot) = seen.get_mut(j)
                            && !*slot
                        {
                            *slot = true;
                            stack.push(j);
                        }
                    }
                }
                seen
            })
            .collect();
        let reaches =
            |i: usize, j: usize| reach.get(i).and_then(|r| r.get(j)).copied() == Some(true);
        let group: Vec<usize> = (0..n)
            .map(|i| {
                (0..n)
                    .find(|&j| j == i || (reaches(i, j) && reaches(j, i)))
                    .unwrap_or(i)
            })
            .collect();
        // Levels by longest path: groups referenced by no group still to place come first. The
        // groups form no cycle, so every round places at least one.
        let mut level = vec![0; n];
        let mut placed = vec![false; n];
        for round in 0..n {
            let ready: Vec<usize> = (0..n)
                .filter(|&i| {
                    !placed.get(i).copied().unwrap_or(true)
                        && (0..n).all(|j| {
                            group.get(j) == group.get(i)
                                || !reaches(i, j)
                                || placed.get(j).copied().unwrap_or(false)
                        })
                })
                .collect();
            if ready.is_empty() {
                break;
            }
            for &i in &ready {
                if let Some(slot) = level.get_mut(i) {
                    *slot = round;
                }
            }
            // Placed only after the whole round, so a group's tables share its level.
            for i in ready {
                if let Some(slot) = placed.get_mut(i) {
                    *slot = true;
                }
            }
        }
        TableOrder {
            names,
            group,
            level,
        }
    }

    /// The group and level of a table.
    fn of(&self, table: &str) -> (usize, usize) {
        let i = self.names.iter().position(|t| *t == table).unwrap_or(0);
        (
            self.group.get(i).copied().unwrap_or(i),
            self.level.get(i).copied().unwrap_or(0),
        )
    }
}

/// The distinct tables of some objects, in the order they first appear.
fn tables_of<'a>(objects: impl Iterator<Item = &'a Arc<dyn ErasedObject>>) -> Vec<&'static Table> {
    let mut tables: Vec<&'static Table> = Vec::new();
    for object in objects {
        let table = object.table();
        if !tables.iter().any(|t| t.name == table.name) {
            tables.push(table);
        }
    }
    tables
}

/// Groups pending objects into INSERT batches: by table level, then, within a group of tables
/// (a self-referential table), by how many new parents of the group an object has above it.
/// Objects keep the order they were added in within a batch, so a table's rows are inserted in
/// that order.
fn insert_levels(
    pending: &[Arc<dyn ErasedObject>],
) -> Result<Vec<Vec<Arc<dyn ErasedObject>>>, OrmError> {
    let ids: HashSet<ObjectId> = pending.iter().map(|o| o.object_id()).collect();
    let mut links = Vec::new();
    for object in pending {
        for (_, parent) in obj::parent_links(object.as_ref()) {
            if ids.contains(&parent.object_id()) {
                links.push((object.table().name, parent.table().name));
            }
        }
    }
    let order = TableOrder::new(&tables_of(pending.iter()), &links);

    /// The object's rank among the new objects of its table group: 0 without a new parent in
    /// the group, else one more than its highest such parent.
    fn rank(
        object: &Arc<dyn ErasedObject>,
        ids: &HashSet<ObjectId>,
        order: &TableOrder,
        ranks: &mut HashMap<ObjectId, usize>,
        visiting: &mut Vec<ObjectId>,
    ) -> Result<usize, OrmError> {
        let id = object.object_id();
        if let Some(r) = ranks.get(&id) {
            return Ok(*r);
        }
        if visiting.contains(&id) {
            return Err(OrmError::usage(format!(
                "the new {} objects depend on each other in a cycle of many-to-one links; insert one side first",
                object.table().name
            )));
        }
        visiting.push(id);
        let (group, _) = order.of(object.table().name);
        let mut mine = 0;
        for (_, parent) in obj::parent_links(object.as_ref()) {
            if ids.contains(&parent.object_id()) && order.of(parent.table().name).0 == group {
                mine = mine.max(rank(&parent, ids, order, ranks, visiting)? + 1);
            }
        }
        visiting.pop();
        ranks.insert(id, mine);
        Ok(mine)
    }

    let mut ranks = HashMap::new();
    let mut batches: BTreeMap<(usize, usize), Vec<Arc<dyn ErasedObject>>> = BTreeMap::new();
    for object in pending {
        let r = rank(object, &ids, &order, &mut ranks, &mut Vec::new())?;
        let (_, level) = order.of(object.table().name);
        batches.entry((level, r)).or_default().push(object.clone());
    }
    Ok(batches.into_values().collect())
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
        list: false,
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
        list: false,
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
        list: false,
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
        list: false,
        object: object.object_id(),
        returning: Vec::new(),
    })
}

/// The value the association's column pointing to `table` takes for a row of it.
fn association_value(
    key: AssociationKey,
    table: &'static Table,
    values: &[Value],
) -> Option<Value> {
    let column = key.through.columns.get(key.local)?;
    let target = column.foreign_key.map(|f| f.column).unwrap_or("id");
    values
        .get(table.column_index(target)?)
        .cloned()
        .filter(|v| !v.is_null())
}

/// `DELETE FROM through WHERE through.local = ANY($1)`: every association row of some deleted
/// objects.
fn association_purge(key: AssociationKey, values: Vec<Value>) -> Option<Statement> {
    let through = key.through;
    let local = through.columns.get(key.local)?;
    let mut out = SqlBuilder::new();
    out.push("DELETE FROM ")
        .push_ident(through.name)
        .push(" WHERE ")
        .push_column(through.name, local.name)
        .push(" = ANY($1)");
    let (sql, _) = out.finish();
    Some(Statement {
        sql,
        params: values,
        list: true,
        object: 0,
        returning: Vec::new(),
    })
}

/// Deleted objects (with their rows' values) ordered so rows that reference others go first:
/// tables by level, highest first; within a group of tables (a self-referential table), a row
/// before the deleted rows it references, by the values of its foreign keys. Otherwise in the
/// order they were deleted.
fn order_deletes(
    deleted: &[(Arc<dyn ErasedObject>, Vec<Value>)],
) -> Vec<&(Arc<dyn ErasedObject>, Vec<Value>)> {
    let order = TableOrder::new(&tables_of(deleted.iter().map(|(o, _)| o)), &[]);
    // The deleted rows by the value of each column some foreign key references.
    let mut by_value: HashMap<(&str, &str, KeyPart), Vec<usize>> = HashMap::new();
    let referenced: HashSet<(&str, &str)> = deleted
        .iter()
        .flat_map(|(o, _)| o.table().columns.iter())
        .filter_map(|c| c.foreign_key.map(|f| (f.table, f.column)))
        .collect();
    for (n, (object, values)) in deleted.iter().enumerate() {
        let table = object.table();
        for (column, value) in table.columns.iter().zip(values) {
            if !value.is_null() && referenced.contains(&(table.name, column.name)) {
                by_value
                    .entry((table.name, column.name, KeyPart::of(value)))
                    .or_default()
                    .push(n);
            }
        }
    }
    // What each deleted row references among the deleted rows of its own group.
    let references: Vec<Vec<usize>> = deleted
        .iter()
        .enumerate()
        .map(|(n, (object, values))| {
            let table = object.table();
            let (group, _) = order.of(table.name);
            let mut out = Vec::new();
            for (column, value) in table.columns.iter().zip(values) {
                let Some(fk) = column.foreign_key else {
                    continue;
                };
                if value.is_null() || order.of(fk.table).0 != group {
                    continue;
                }
                let found = by_value.get(&(fk.table, fk.column, KeyPart::of(value)));
                out.extend(found.into_iter().flatten().filter(|&&m| m != n));
            }
            out
        })
        .collect();
    /// How deep a row is below the deleted rows it references (a cycle counts as the top).
    fn depth(
        n: usize,
        references: &[Vec<usize>],
        depths: &mut HashMap<usize, usize>,
        visiting: &mut Vec<usize>,
    ) -> usize {
        if let Some(d) = depths.get(&n) {
            return *d;
        }
        if visiting.contains(&n) {
            return 0;
        }
        visiting.push(n);
        let mut d = 0;
        for &m in references.get(n).into_iter().flatten() {
            d = d.max(depth(m, references, depths, visiting) + 1);
        }
        visiting.pop();
        depths.insert(n, d);
        d
    }
    let mut depths = HashMap::new();
    let mut keyed: Vec<(usize, usize, usize)> = (0..deleted.len())
        .map(|n| {
            let level = deleted
                .get(n)
                .map(|(o, _)| order.of(o.table().name).1)
                .unwrap_or(0);
            (
                level,
                depth(n, &references, &mut depths, &mut Vec::new()),
                n,
            )
        })
        .collect();
    keyed.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    keyed
        .into_iter()
        .filter_map(|(_, _, n)| deleted.get(n))
        .collect()
}

/// Sends statements as one pipelined batch in the session's transaction.
async fn run_batch(
    session: &mut Session,
    statements: &[Statement],
) -> Result<Vec<BatchResult>, OrmError> {
    let engine = session.engine.clone();
    let client = session.connection().await?;
    let params: Vec<Vec<&(dyn pg_wire::types::ToSql + Sync)>> = statements
        .iter()
        .map(|s| match s.list {
            true => vec![&s.params as &(dyn pg_wire::types::ToSql + Sync)],
            false => as_params(&s.params),
        })
        .collect();
    let mut batch = client.batch();
    for (statement, params) in statements.iter().zip(&params) {
        batch.query(statement.sql.as_str(), params);
    }
    let started = Instant::now();
    let results = batch.run().await?;
    for statement in statements {
        match statement.list {
            true => engine.log_list(&statement.sql, &statement.params, Some(started)),
            false => engine.log(&statement.sql, &statement.params, Some(started)),
        }
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
