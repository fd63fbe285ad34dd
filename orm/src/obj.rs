//! Object handles: [`Obj<M>`], a shared handle to one model instance.
//!
//! The session's identity map and the user hold the same `Obj`, so a row loaded twice is one
//! object and a change made through one handle is seen through every other. Reading an attribute
//! is a lock, never I/O: `article.read().title`; writing is `article.write().title = ...`, and the
//! next flush compares the object with its snapshot to send an UPDATE of the changed columns.
//!
//! An object also carries its relationship links: the parent a many-to-one relationship points to
//! (`article.set(Article::AUTHOR, &ezz)`), and the children of one-to-many relationships that are
//! loaded or were attached. The two sides of one foreign key stay consistent in memory: setting the
//! parent of a child also lists the child in the parent's collection. A link set by the caller is
//! marked changed until the next flush: only then does the parent's key overwrite the foreign key
//! column (a link loaded from the database does not undo a foreign key set directly).
//!
//! Finally an object remembers whether it has a row, and, while no session holds it, the values a
//! session last knew that row to have: so adding a detached object again flushes the changes made
//! to it in between, as SQLAlchemy does.
//!
//! A loaded object keeps its row's values itself rather than the session copying them: its fields
//! hold them until the first [`Obj::write`], which saves them before handing out the guard (what
//! SQLAlchemy records as an attribute's committed state on its first change). Loading an object
//! thus copies nothing beyond the row's decoding, and a flush or a rollback knows an object never
//! written since from a flag.

use std::any::Any;
use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

use crate::error::OrmError;
use crate::model::Model;
use crate::relationship::{
    AssociationKey, ChildRelationship, ManyToMany, ManyToOne, OneToMany, RelationKey,
};
use crate::schema::Table;
use crate::value::Value;

/// A process-wide unique identity of an object.
pub(crate) type ObjectId = u64;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Ids a thread hands out before taking the next block of [`NEXT_ID`].
const ID_BLOCK: u64 = 1024;

thread_local! {
    /// The thread's block of ids: the next one, and the end of the block.
    static IDS: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// A new object id: unique in the process, from the thread's block (no atomic operation per
/// object, which would wait for the new object's fields to be written).
fn next_id() -> ObjectId {
    IDS.with(|ids| {
        let (next, end) = ids.get();
        if next < end {
            ids.set((next + 1, end));
            next
        } else {
            let start = NEXT_ID.fetch_add(ID_BLOCK, Ordering::Relaxed);
            ids.set((start + 1, start + ID_BLOCK));
            start
        }
    })
}

/// A shared handle to a model instance.
pub struct Obj<M: Model>(Arc<ObjCell<M>>);

/// The fields a session reads of every object it closes or flushes come first, so they share
/// the allocation's first cache lines with the reference counts.
#[repr(C)]
pub(crate) struct ObjCell<M> {
    id: ObjectId,
    /// Whether `data` holds the row's values as a session last recorded them, kept by the object
    /// ([`Pristine::Clean`]); read and changed only under `data`'s lock, so [`Obj::write`] saves
    /// the values exactly once, before the first change.
    clean: AtomicBool,
    /// The row state and the links, under one lock (a closing session takes it once per
    /// object).
    shared: Mutex<Shared>,
    data: RwLock<M>,
}

/// What an object's lock guards besides its fields: its row state and its links (the guard
/// dereferences to the links).
#[derive(Default)]
pub(crate) struct Shared {
    row: RowCell,
    links: LazyLinks,
}

impl std::ops::Deref for Shared {
    type Target = LazyLinks;

    fn deref(&self) -> &LazyLinks {
        &self.links
    }
}

impl std::ops::DerefMut for Shared {
    fn deref_mut(&mut self) -> &mut LazyLinks {
        &mut self.links
    }
}

/// What is known of an object's row apart from a session's bookkeeping.
#[derive(Debug, Clone, Default)]
pub(crate) enum RowState {
    /// No row: never flushed or loaded, or its INSERT was rolled back (transient).
    #[default]
    New,
    /// The object has a row: `None` while a session holds the object (the session keeps the
    /// row's values), else the values the last session knew the row to have.
    Stored(Option<Snapshot>),
    /// Its row was deleted.
    Deleted,
}

/// The values of an object's row as a session last knew them.
#[derive(Debug, Clone)]
pub(crate) enum Snapshot {
    /// No row: a pending object, or one whose row was deleted.
    None,
    /// The row's values, shared (a commit or a rollback copies no value).
    Values(Arc<[Value]>),
    /// The object keeps them (see [`Pristine`]).
    Own,
}

impl Snapshot {
    /// Whether there is no row.
    pub(crate) fn is_none(&self) -> bool {
        matches!(self, Snapshot::None)
    }

    /// The row's values: `object`'s own for [`Snapshot::Own`], none for [`Snapshot::None`].
    pub(crate) fn resolve(&self, object: &dyn ErasedObject) -> std::borrow::Cow<'_, [Value]> {
        match self {
            Snapshot::None => std::borrow::Cow::Borrowed(&[]),
            Snapshot::Values(values) => std::borrow::Cow::Borrowed(values),
            Snapshot::Own => std::borrow::Cow::Owned(object.pristine_values()),
        }
    }
}

/// The row's values as the object keeps them for a session's [`Snapshot::Own`].
#[derive(Debug, Default)]
enum Pristine {
    /// Not kept: the session has them, or there is no row.
    #[default]
    Off,
    /// The object's fields hold them (nothing was written since).
    Clean,
    /// The values before the first write.
    Saved(Vec<Value>),
}

/// An object's row state and kept values, under one lock.
#[derive(Debug, Default)]
struct RowCell {
    state: RowState,
    pristine: Pristine,
}

/// A small map kept as a list: an object has few relationships, and an empty one costs nothing
/// to make (every loaded object has one per kind of link). The usual single entry (an article's
/// one parent, an author's one collection) is kept inline, without an allocation of its own.
pub(crate) struct KeyedList<K, V>(Slots<(K, V)>);

/// The entries of a [`KeyedList`]: none, one inline, or more in a vector.
enum Slots<T> {
    None,
    One(T),
    Many(Vec<T>),
}

impl<T> Slots<T> {
    fn as_slice(&self) -> &[T] {
        match self {
            Slots::None => &[],
            Slots::One(one) => std::slice::from_ref(one),
            Slots::Many(many) => many,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            Slots::None => &mut [],
            Slots::One(one) => std::slice::from_mut(one),
            Slots::Many(many) => many,
        }
    }

    fn push(&mut self, item: T) {
        match std::mem::replace(self, Slots::None) {
            Slots::None => *self = Slots::One(item),
            Slots::One(one) => *self = Slots::Many(vec![one, item]),
            Slots::Many(mut many) => {
                many.push(item);
                *self = Slots::Many(many);
            }
        }
    }

    /// Removes the entry at `at` (which must exist), keeping the others in order.
    fn remove(&mut self, at: usize) -> Option<T> {
        match std::mem::replace(self, Slots::None) {
            Slots::None => None,
            Slots::One(one) => {
                if at == 0 {
                    Some(one)
                } else {
                    *self = Slots::One(one);
                    None
                }
            }
            Slots::Many(mut many) => {
                let removed = (at < many.len()).then(|| many.remove(at));
                *self = Slots::Many(many);
                removed
            }
        }
    }
}

impl<K, V> Default for KeyedList<K, V> {
    fn default() -> Self {
        KeyedList(Slots::None)
    }
}

impl<K: PartialEq + Copy, V> KeyedList<K, V> {
    fn is_empty(&self) -> bool {
        self.0.as_slice().is_empty()
    }

    /// The entries, in the order they were inserted.
    fn as_slice(&self) -> &[(K, V)] {
        self.0.as_slice()
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.as_slice()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.0
            .as_mut_slice()
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Sets the value of `key`; returns the one it replaces.
    fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        let at = self.as_slice().iter().position(|(k, _)| k == key)?;
        self.0.remove(at).map(|(_, v)| v)
    }

    /// The value of `key`, made with `Default` if there is none (always `Some`).
    fn entry_or_default(&mut self, key: K) -> Option<&mut V>
    where
        V: Default,
    {
        if self.get(&key).is_none() {
            self.0.push((key, V::default()));
        }
        self.get_mut(&key)
    }

    fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.as_slice().iter().map(|(k, v)| (k, v))
    }

    fn keys(&self) -> impl Iterator<Item = &K> {
        self.as_slice().iter().map(|(k, _)| k)
    }

    fn values(&self) -> impl Iterator<Item = &V> {
        self.as_slice().iter().map(|(_, v)| v)
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.as_mut_slice().iter_mut().map(|(_, v)| v)
    }
}

/// An object's links, allocated with the first one (most loaded objects never have any).
#[derive(Default)]
pub(crate) struct LazyLinks(Option<Box<Links>>);

/// The links of an object without any.
static NO_LINKS: Links = Links {
    parents: KeyedList(Slots::None),
    children: KeyedList(Slots::None),
    loaded: Vec::new(),
    cascade_delete: Vec::new(),
    changed: Vec::new(),
    associated: KeyedList(Slots::None),
    pending_associations: Vec::new(),
    associated_loaded: Vec::new(),
};

impl std::ops::Deref for LazyLinks {
    type Target = Links;

    fn deref(&self) -> &Links {
        self.0.as_deref().unwrap_or(&NO_LINKS)
    }
}

impl LazyLinks {
    /// The links to change, if the object has any (for removals, which allocate nothing).
    fn existing(&mut self) -> Option<&mut Links> {
        self.0.as_deref_mut()
    }
}

/// Allocates the links: only where one is added (removals go through [`LazyLinks::existing`]).
impl std::ops::DerefMut for LazyLinks {
    fn deref_mut(&mut self) -> &mut Links {
        self.0.get_or_insert_with(Box::default)
    }
}

/// The relationship links of one object.
#[derive(Default)]
pub(crate) struct Links {
    /// Many-to-one: the parent per foreign key.
    parents: KeyedList<RelationKey, Arc<dyn ErasedObject>>,
    /// One-to-many: the children per foreign key, in the order they were attached or loaded.
    children: KeyedList<RelationKey, Vec<ChildRef>>,
    /// Collections fully loaded from the database (so an empty one means "no children").
    loaded: Vec<RelationKey>,
    /// Collections whose children are deleted with the parent, as noted by `push` and `load` of
    /// a cascading [`OneToMany`] (the model's declarations are consulted too).
    cascade_delete: Vec<RelationKey>,
    /// Many-to-one links set or cleared by the caller since the last flush.
    changed: Vec<RelationKey>,
    /// Many-to-many: the related objects per association direction.
    associated: KeyedList<AssociationKey, Vec<ChildRef>>,
    /// Association rows to insert (`true`) or delete (`false`) at the next flush, from this side.
    pending_associations: Vec<(AssociationKey, Arc<dyn ErasedObject>, bool)>,
    /// Many-to-many collections fully loaded from the database.
    associated_loaded: Vec<AssociationKey>,
}

impl<M: Model> Clone for Obj<M> {
    fn clone(&self) -> Self {
        Obj(self.0.clone())
    }
}

impl<M: Model> PartialEq for Obj<M> {
    /// Two handles are equal when they are the same object.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<M: Model> Eq for Obj<M> {}

impl<M: Model + fmt::Debug> fmt::Debug for Obj<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.data.try_read() {
            Ok(data) => fmt::Debug::fmt(&*data, f),
            Err(_) => write!(f, "Obj({}, <locked>)", M::TABLE.name),
        }
    }
}

impl<M: Model> Obj<M> {
    /// A new (transient) object, not yet in any session.
    pub fn new(model: M) -> Obj<M> {
        Obj(Arc::new(ObjCell {
            id: next_id(),
            data: RwLock::new(model),
            shared: Mutex::new(Shared::default()),
            clean: AtomicBool::new(false),
        }))
    }

    /// An object just loaded from its row, keeping the row's values itself ([`Snapshot::Own`]);
    /// a session attaches it as persistent.
    pub(crate) fn loaded(model: M) -> Obj<M> {
        Obj(Arc::new(ObjCell {
            id: next_id(),
            data: RwLock::new(model),
            shared: Mutex::new(Shared {
                row: RowCell {
                    state: RowState::Stored(None),
                    pristine: Pristine::Clean,
                },
                links: LazyLinks::default(),
            }),
            clean: AtomicBool::new(true),
        }))
    }

    /// Reads the object. Do not hold the guard across an `.await` of the session.
    pub fn read(&self) -> RwLockReadGuard<'_, M> {
        self.0
            .data
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes the object; the next flush sends the changed columns. Do not hold the guard across
    /// an `.await` of the session.
    pub fn write(&self) -> RwLockWriteGuard<'_, M> {
        self.0.write_tracked()
    }

    pub(crate) fn id(&self) -> ObjectId {
        self.0.id
    }

    pub(crate) fn erased(&self) -> Arc<dyn ErasedObject> {
        self.0.clone()
    }

    /// The typed handle of an erased object of this model.
    pub(crate) fn from_erased(object: Arc<dyn ErasedObject>) -> Option<Obj<M>> {
        object.into_any().downcast::<ObjCell<M>>().ok().map(Obj)
    }

    /// Sets the parent of a many-to-one relationship (`article.set(Article::AUTHOR, &ezz)`); the
    /// foreign key is filled from the parent's primary key at flush. The parent's collection of
    /// the same foreign key lists this object too.
    pub fn set<P: Model>(&self, relation: ManyToOne<M, P>, parent: &Obj<P>) {
        let key = relation.key();
        let previous = {
            let mut links = self.0.lock_links();
            links.mark_changed(key);
            links.parents.insert(key, parent.erased())
        };
        if let Some(previous) = previous {
            previous.lock_links_erased().remove_child(key, self.0.id);
        }
        parent
            .0
            .lock_links()
            .add_child(key, ChildRef::Strong(self.erased()));
    }

    /// Clears the parent of a many-to-one relationship; the foreign key is set to NULL at flush.
    pub fn unset<P: Model>(&self, relation: ManyToOne<M, P>) {
        let key = relation.key();
        let previous = {
            let mut links = self.0.lock_links();
            links.mark_changed(key);
            links.parents.remove(&key)
        };
        if let Some(previous) = previous {
            previous.lock_links_erased().remove_child(key, self.0.id);
        }
        let _ = self.0.write_tracked().set_value(key.column, Value::Null);
    }

    /// The parent of a many-to-one relationship, if it is set or was loaded.
    pub fn related<P: Model>(&self, relation: ManyToOne<M, P>) -> Option<Obj<P>> {
        let parent = self.0.lock_links().parents.get(&relation.key()).cloned()?;
        Obj::from_erased(parent)
    }

    /// Attaches a child to a one-to-many relationship (`author.push(Author::ARTICLES, &a)`): the
    /// same as setting the child's parent.
    pub fn push<C: Model>(&self, relation: OneToMany<M, C>, child: &Obj<C>) {
        self.note_cascade(relation);
        child.set(relation.backref(), self);
    }

    /// Remembers whether a collection cascades deletes, for [`Session::delete`](crate::Session::delete).
    pub(crate) fn note_cascade<C: Model>(&self, relation: OneToMany<M, C>) {
        if relation.cascades_delete() {
            let mut links = self.0.lock_links();
            if !links.cascade_delete.contains(&relation.key()) {
                links.cascade_delete.push(relation.key());
            }
        }
    }

    /// The children of a one-to-many relationship attached or loaded so far (see
    /// [`Session::load`](crate::Session::load) to load them from the database).
    pub fn children<C: Model>(&self, relation: OneToMany<M, C>) -> Vec<Obj<C>> {
        let links = self.0.lock_links();
        links
            .children
            .get(&relation.key())
            .map(|children| {
                children
                    .iter()
                    .filter_map(ChildRef::upgrade)
                    .filter_map(Obj::from_erased)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Relates this object to `other` through a many-to-many relationship
    /// (`article.link(Article::TAGS, &tag)`): both sides list each other, and the association row
    /// is inserted at the next flush.
    pub fn link<B: Model>(&self, relation: ManyToMany<M, B>, other: &Obj<B>) {
        let key = relation.key();
        let other_erased = other.erased();
        {
            let mut links = self.0.lock_links();
            links.add_associated(key, ChildRef::Strong(other_erased.clone()));
            let id = other_erased.object_id();
            let cancelled = links.cancel_pending(key, id, false);
            if !cancelled {
                links.pending_associations.push((key, other_erased, true));
            }
        }
        other
            .0
            .lock_links()
            .add_associated(key.reverse(), ChildRef::Strong(self.erased()));
    }

    /// Removes a many-to-many relation; the association row is deleted at the next flush.
    pub fn unlink<B: Model>(&self, relation: ManyToMany<M, B>, other: &Obj<B>) {
        let key = relation.key();
        let other_erased = other.erased();
        {
            let mut links = self.0.lock_links();
            links.remove_associated(key, other.id());
            if !links.cancel_pending(key, other.id(), true) {
                links.pending_associations.push((key, other_erased, false));
            }
        }
        other
            .0
            .lock_links()
            .remove_associated(key.reverse(), self.id());
    }

    /// The objects related through a many-to-many relationship, as attached or loaded (see
    /// [`Session::load_associated`](crate::Session::load_associated)).
    pub fn associated<B: Model>(&self, relation: ManyToMany<M, B>) -> Vec<Obj<B>> {
        let links = self.0.lock_links();
        links
            .associated
            .get(&relation.key())
            .map(|list| {
                list.iter()
                    .filter_map(ChildRef::upgrade)
                    .filter_map(Obj::from_erased)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether a many-to-many collection was loaded from the database.
    pub fn is_associated_loaded<B: Model>(&self, relation: ManyToMany<M, B>) -> bool {
        self.0
            .lock_links()
            .associated_loaded
            .contains(&relation.key())
    }

    /// Whether the children of a one-to-many relationship were loaded from the database.
    pub fn is_loaded<C: Model>(&self, relation: OneToMany<M, C>) -> bool {
        self.0.lock_links().loaded.contains(&relation.key())
    }
}

impl<M> ObjCell<M> {
    /// The links (and the row state): see [`Shared`].
    fn lock_links(&self) -> MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_data(&self) -> RwLockWriteGuard<'_, M> {
        self.data
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read_data(&self) -> RwLockReadGuard<'_, M> {
        self.data
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<M: Model> ObjCell<M> {
    /// The write guard of a change on the user's behalf: the first one after a session recorded
    /// the row's values in the object saves them.
    fn write_tracked(&self) -> RwLockWriteGuard<'_, M> {
        let data = self.write_data();
        // Under the write lock (as every change of the flag): no other write can come between
        // the check and the save.
        if self.clean.load(Ordering::Acquire) {
            let mut shared = self.lock_links();
            if matches!(shared.row.pristine, Pristine::Clean) {
                shared.row.pristine = Pristine::Saved(data.values());
            }
            self.clean.store(false, Ordering::Release);
        }
        data
    }
}

impl Links {
    fn is_empty(&self) -> bool {
        self.parents.is_empty()
            && self.children.is_empty()
            && self.loaded.is_empty()
            && self.cascade_delete.is_empty()
            && self.changed.is_empty()
            && self.associated.is_empty()
            && self.pending_associations.is_empty()
            && self.associated_loaded.is_empty()
    }

    fn mark_changed(&mut self, key: RelationKey) {
        if !self.changed.contains(&key) {
            self.changed.push(key);
        }
    }

    fn add_child(&mut self, key: RelationKey, child: ChildRef) {
        let Some(id) = child.upgrade().map(|c| c.object_id()) else {
            return;
        };
        if let Some(children) = self.children.entry_or_default(key)
            && !children.iter().any(|c| c.is(id))
        {
            children.push(child);
        }
    }

    fn remove_child(&mut self, key: RelationKey, id: ObjectId) {
        if let Some(children) = self.children.get_mut(&key) {
            children.retain(|c| c.upgrade().is_some_and(|c| c.object_id() != id));
        }
    }

    fn add_associated(&mut self, key: AssociationKey, other: ChildRef) {
        let Some(id) = other.upgrade().map(|o| o.object_id()) else {
            return;
        };
        if let Some(list) = self.associated.entry_or_default(key)
            && !list.iter().any(|o| o.is(id))
        {
            list.push(other);
        }
    }

    fn remove_associated(&mut self, key: AssociationKey, id: ObjectId) {
        if let Some(list) = self.associated.get_mut(&key) {
            list.retain(|o| o.upgrade().is_some_and(|o| o.object_id() != id));
        }
    }

    /// Drops a pending association operation of the given kind for `id`; whether there was one.
    fn cancel_pending(&mut self, key: AssociationKey, id: ObjectId, add: bool) -> bool {
        let before = self.pending_associations.len();
        self.pending_associations
            .retain(|(k, o, a)| !(*k == key && o.object_id() == id && *a == add));
        self.pending_associations.len() != before
    }

    /// Holds a child weakly from now on.
    fn settle_child(&mut self, key: RelationKey, id: ObjectId) {
        if let Some(children) = self.children.get_mut(&key) {
            for child in children.iter_mut() {
                if let ChildRef::Strong(strong) = child
                    && strong.object_id() == id
                {
                    *child = ChildRef::Weak(Arc::downgrade(strong));
                }
            }
        }
    }
}

/// A child in a parent's collection: held strongly while it is unsaved (so adding the parent
/// cascades to it even when nothing else holds it), weakly once it is in the database (the session
/// and the caller hold it then; a strong reference both ways would never be freed).
pub(crate) enum ChildRef {
    Strong(Arc<dyn ErasedObject>),
    Weak(Weak<dyn ErasedObject>),
}

impl ChildRef {
    fn upgrade(&self) -> Option<Arc<dyn ErasedObject>> {
        match self {
            ChildRef::Strong(child) => Some(child.clone()),
            ChildRef::Weak(child) => child.upgrade(),
        }
    }

    fn is(&self, id: ObjectId) -> bool {
        self.upgrade().is_some_and(|c| c.object_id() == id)
    }

    /// The address of the object referred to (a weak reference keeps the allocation, so no
    /// other object can have it while this one exists).
    fn address(&self) -> *const () {
        match self {
            ChildRef::Strong(child) => Arc::as_ptr(child).cast::<()>(),
            ChildRef::Weak(child) => child.as_ptr().cast::<()>(),
        }
    }

    /// Whether this refers to `object` (which is alive, so a reference to a dropped object
    /// never matches), without upgrading.
    fn points_to(&self, object: &Arc<dyn ErasedObject>) -> bool {
        std::ptr::eq(self.address(), Arc::as_ptr(object).cast::<()>())
    }
}

/// What the session needs of an object whatever its model.
pub(crate) trait ErasedObject: Send + Sync {
    fn object_id(&self) -> ObjectId;
    fn table(&self) -> &'static Table;
    fn values(&self) -> Vec<Value>;
    /// The value of one column (see [`Model::value`]).
    fn value(&self, index: usize) -> Option<Value>;
    fn set_value(&self, index: usize, value: Value) -> Result<(), OrmError>;
    fn lock_links_erased(&self) -> MutexGuard<'_, Shared>;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// The one-to-many relationships the object's model declares.
    fn relationships(&self) -> &'static [ChildRelationship];
    /// The many-to-many relationships the object's model declares.
    fn associations(&self) -> &'static [AssociationKey];
    fn row_state(&self) -> RowState;
    fn set_row_state(&self, state: RowState);
    /// Sets the row state and tells whether the object has links (see [`has_links`]), under
    /// one lock.
    fn set_row_state_and_has_links(&self, state: RowState) -> bool;
    /// Sets a column as a change on the user's behalf (see [`Obj::write`]), where
    /// [`ErasedObject::set_value`] is the session writing what the database has.
    fn change_value(&self, index: usize, value: Value) -> Result<(), OrmError>;
    /// The row's values the object keeps ([`Snapshot::Own`]): saved before the first write, or
    /// the fields if nothing was written since.
    fn pristine_values(&self) -> Vec<Value>;
    /// Whether the object keeps its row's values and nothing was written since.
    fn is_clean(&self) -> bool;
    /// From now on the object's fields are its row's values, and the object keeps them.
    fn keep_pristine(&self);
    /// The object no longer keeps its row's values (the session records them).
    fn drop_pristine(&self);
    /// Writes back the kept row's values over the changes made since, and keeps them again.
    fn restore_pristine(&self) -> Result<(), OrmError>;
}

impl<M: Model> ErasedObject for ObjCell<M> {
    fn object_id(&self) -> ObjectId {
        self.id
    }

    fn table(&self) -> &'static Table {
        M::TABLE
    }

    fn values(&self) -> Vec<Value> {
        self.data
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
    }

    fn value(&self, index: usize) -> Option<Value> {
        self.read_data().value(index)
    }

    fn set_value(&self, index: usize, value: Value) -> Result<(), OrmError> {
        self.data
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .set_value(index, value)
    }

    fn lock_links_erased(&self) -> MutexGuard<'_, Shared> {
        self.lock_links()
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn relationships(&self) -> &'static [ChildRelationship] {
        M::RELATIONSHIPS
    }

    fn associations(&self) -> &'static [AssociationKey] {
        M::ASSOCIATIONS
    }

    fn row_state(&self) -> RowState {
        self.lock_links().row.state.clone()
    }

    fn set_row_state(&self, state: RowState) {
        self.lock_links().row.state = state;
    }

    fn set_row_state_and_has_links(&self, state: RowState) -> bool {
        let mut shared = self.lock_links();
        shared.row.state = state;
        shared
            .links
            .0
            .as_deref()
            .is_some_and(|links| !links.is_empty())
    }

    fn change_value(&self, index: usize, value: Value) -> Result<(), OrmError> {
        self.write_tracked().set_value(index, value)
    }

    fn pristine_values(&self) -> Vec<Value> {
        let data = self.read_data();
        match &self.lock_links().row.pristine {
            Pristine::Saved(values) => values.clone(),
            Pristine::Clean | Pristine::Off => data.values(),
        }
    }

    fn is_clean(&self) -> bool {
        self.clean.load(Ordering::Acquire)
    }

    fn keep_pristine(&self) {
        let _data = self.write_data();
        self.lock_links().row.pristine = Pristine::Clean;
        self.clean.store(true, Ordering::Release);
    }

    fn drop_pristine(&self) {
        let _data = self.write_data();
        self.lock_links().row.pristine = Pristine::Off;
        self.clean.store(false, Ordering::Release);
    }

    fn restore_pristine(&self) -> Result<(), OrmError> {
        let mut data = self.write_data();
        let mut shared = self.lock_links();
        let row = &mut shared.row;
        if let Pristine::Saved(values) = std::mem::take(&mut row.pristine) {
            for (i, value) in values.into_iter().enumerate() {
                data.set_value(i, value)?;
            }
        }
        row.pristine = Pristine::Clean;
        self.clean.store(true, Ordering::Release);
        Ok(())
    }
}

/// A new persistent object of model `M` from its row (for [`ChildRelationship`]), keeping the
/// row's values itself.
pub(crate) fn loaded_erased<M: Model>(
    row: &pg_wire::Row,
) -> Result<Arc<dyn ErasedObject>, OrmError> {
    Ok(Obj::loaded(M::from_row(row)?).erased())
}

/// The parents an object's many-to-one links point to, with the foreign key column each fills.
pub(crate) fn parent_links(object: &dyn ErasedObject) -> Vec<(RelationKey, Arc<dyn ErasedObject>)> {
    object
        .lock_links_erased()
        .parents
        .iter()
        .map(|(key, parent)| (*key, parent.clone()))
        .collect()
}

/// The live children attached to an object's one-to-many collections.
pub(crate) fn child_links(object: &dyn ErasedObject) -> Vec<Arc<dyn ErasedObject>> {
    children_with_keys(object)
        .into_iter()
        .map(|(_, child)| child)
        .collect()
}

/// The live children of an object, with the foreign key of each collection.
pub(crate) fn children_with_keys(
    object: &dyn ErasedObject,
) -> Vec<(RelationKey, Arc<dyn ErasedObject>)> {
    let links = object.lock_links_erased();
    links
        .children
        .iter()
        .flat_map(|(key, children)| {
            children
                .iter()
                .filter_map(ChildRef::upgrade)
                .map(|c| (*key, c))
        })
        .collect()
}

/// Whether deleting the parent deletes the children of this collection: the model declares the
/// relationship with `cascade_delete` (whichever side the children were attached from), or a
/// cascading [`OneToMany`] was used to push or load them.
pub(crate) fn cascades_delete(object: &dyn ErasedObject, key: RelationKey) -> bool {
    object
        .relationships()
        .iter()
        .any(|r| r.key() == key && r.cascades_delete())
        || object.lock_links_erased().cascade_delete.contains(&key)
}

/// Whether a one-to-many collection was loaded from the database.
pub(crate) fn is_collection_loaded(object: &dyn ErasedObject, key: RelationKey) -> bool {
    object.lock_links_erased().loaded.contains(&key)
}

/// Drops a child's many-to-one link (its parent is being deleted).
pub(crate) fn unlink_parent(child: &dyn ErasedObject, key: RelationKey) {
    if let Some(links) = child.lock_links_erased().existing() {
        links.parents.remove(&key);
    }
}

/// Drops a child's many-to-one link on both sides.
pub(crate) fn unlink(child: &dyn ErasedObject, key: RelationKey) {
    let parent = child
        .lock_links_erased()
        .existing()
        .and_then(|links| links.parents.remove(&key));
    if let Some(parent) = parent {
        parent
            .lock_links_erased()
            .remove_child(key, child.object_id());
    }
}

/// Whether the caller set or cleared this many-to-one link since the last flush.
pub(crate) fn is_link_changed(object: &dyn ErasedObject, key: RelationKey) -> bool {
    object.lock_links_erased().changed.contains(&key)
}

/// The parents of the many-to-one links the caller set since the last flush.
pub(crate) fn changed_parent_links(object: &dyn ErasedObject) -> Vec<Arc<dyn ErasedObject>> {
    let links = object.lock_links_erased();
    links
        .changed
        .iter()
        .filter_map(|key| links.parents.get(key).cloned())
        .collect()
}

/// Forgets which links changed (they were flushed, or the database's state was restored).
pub(crate) fn clear_link_changes(object: &dyn ErasedObject) {
    if let Some(links) = object.lock_links_erased().existing() {
        links.changed.clear();
    }
}

/// The children attached to the object and not saved since (held strongly, see [`ChildRef`]).
pub(crate) fn unsaved_children(object: &dyn ErasedObject) -> Vec<Arc<dyn ErasedObject>> {
    let links = object.lock_links_erased();
    links
        .children
        .values()
        .flatten()
        .filter_map(|child| match child {
            ChildRef::Strong(child) => Some(child.clone()),
            ChildRef::Weak(_) => None,
        })
        .collect()
}

/// The value of the column a child's foreign key `key` references, in `parent_values` (a row of
/// the parent's table).
pub(crate) fn referenced_value(
    child_table: &'static Table,
    key: RelationKey,
    parent_table: &'static Table,
    parent_values: &[Value],
) -> Option<Value> {
    let column = child_table.columns.get(key.column)?;
    let target = column.foreign_key.map(|f| f.column).unwrap_or("id");
    parent_values
        .get(parent_table.column_index(target)?)
        .cloned()
}

/// The many-to-one links whose parent is not the row the object's foreign key column points to
/// (a foreign key set directly, reloaded, or restored by a rollback).
pub(crate) fn stale_links(object: &dyn ErasedObject) -> Vec<(RelationKey, Arc<dyn ErasedObject>)> {
    // The usual single parent is taken without a list (nothing allocated when it is current).
    let single = {
        let links = object.lock_links_erased();
        match links.parents.as_slice() {
            [] => return Vec::new(),
            [(key, parent)] => Some((*key, parent.clone())),
            _ => None,
        }
    };
    if let Some((key, parent)) = single {
        return if is_stale(object, key, parent.as_ref()) {
            vec![(key, parent)]
        } else {
            Vec::new()
        };
    }
    parent_links(object)
        .into_iter()
        .filter(|(key, parent)| is_stale(object, *key, parent.as_ref()))
        .collect()
}

/// Whether `parent` is not the row the object's foreign key `key` points to. Only the two
/// columns compared are read (not whole rows, whose text would be copied).
fn is_stale(object: &dyn ErasedObject, key: RelationKey, parent: &dyn ErasedObject) -> bool {
    let own = object.value(key.column).filter(|v| !v.is_null());
    let theirs = referenced_value_of(object.table(), key, parent);
    match (own, theirs) {
        (Some(own), Some(theirs)) => !own.same_as(&theirs),
        _ => true,
    }
}

/// [`referenced_value`] read from the parent object itself (its current fields).
fn referenced_value_of(
    child_table: &'static Table,
    key: RelationKey,
    parent: &dyn ErasedObject,
) -> Option<Value> {
    let column = child_table.columns.get(key.column)?;
    let target = column.foreign_key.map(|f| f.column).unwrap_or("id");
    parent.value(parent.table().column_index(target)?)
}

/// Whether the object has a many-to-one link, or one set or cleared since the last flush.
pub(crate) fn has_parent_links(object: &dyn ErasedObject) -> bool {
    let links = object.lock_links_erased();
    !links.parents.is_empty() || !links.changed.is_empty()
}

/// Whether the object has any relationship link, loaded collection or pending association.
pub(crate) fn has_links(object: &dyn ErasedObject) -> bool {
    object
        .lock_links_erased()
        .existing()
        .is_some_and(|links| !links.is_empty())
}

/// Keeps in the object's collections (one-to-many and many-to-many) only the objects `keep`
/// selects, and forgets its unflushed association rows: after a rollback, a collection lists
/// what the database has (as SQLAlchemy's expired collection would, reloaded). The children
/// taken out keep their own links, so adding them again links them as before.
pub(crate) fn retain_related(object: &dyn ErasedObject, keep: impl Fn(ObjectId) -> bool) {
    let mut guard = object.lock_links_erased();
    let Some(links) = guard.existing() else {
        return;
    };
    for children in links.children.values_mut() {
        children.retain(|c| c.upgrade().is_some_and(|c| keep(c.object_id())));
    }
    for others in links.associated.values_mut() {
        others.retain(|o| o.upgrade().is_some_and(|o| keep(o.object_id())));
    }
    links.pending_associations.clear();
}

/// The objects related to `object` through many-to-many links (for the save-update cascade).
pub(crate) fn associated_links(object: &dyn ErasedObject) -> Vec<Arc<dyn ErasedObject>> {
    let links = object.lock_links_erased();
    links
        .associated
        .values()
        .flat_map(|list| list.iter().filter_map(ChildRef::upgrade))
        .collect()
}

/// The many-to-many relationships of an object: those its model declares, and those it was
/// linked or loaded through (the backrefs other models declare).
pub(crate) fn association_keys(object: &dyn ErasedObject) -> Vec<AssociationKey> {
    let mut keys = object.associations().to_vec();
    let links = object.lock_links_erased();
    for key in links.associated.keys() {
        if !keys.contains(key) {
            keys.push(*key);
        }
    }
    keys
}

/// The association rows `object` has to insert or delete at the next flush.
pub(crate) fn pending_associations(
    object: &dyn ErasedObject,
) -> Vec<(AssociationKey, Arc<dyn ErasedObject>, bool)> {
    object.lock_links_erased().pending_associations.clone()
}

/// Forgets the pending association operations after a successful flush.
pub(crate) fn clear_pending_associations(object: &dyn ErasedObject) {
    if let Some(links) = object.lock_links_erased().existing() {
        links.pending_associations.clear();
    }
}

/// Schedules the deletion of every association row of a deleted object (loaded or attached).
pub(crate) fn unlink_all_associations(object: &Arc<dyn ErasedObject>) {
    let entries: Vec<(AssociationKey, Arc<dyn ErasedObject>)> = {
        let links = object.lock_links_erased();
        links
            .associated
            .iter()
            .flat_map(|(key, list)| list.iter().filter_map(ChildRef::upgrade).map(|o| (*key, o)))
            .collect()
    };
    let id = object.object_id();
    for (key, other) in entries {
        {
            let mut links = object.lock_links_erased();
            links.remove_associated(key, other.object_id());
            if !links.cancel_pending(key, other.object_id(), true) {
                links.pending_associations.push((key, other.clone(), false));
            }
        }
        other
            .lock_links_erased()
            .remove_associated(key.reverse(), id);
    }
}

/// Records loaded many-to-many relations and marks the collection loaded.
pub(crate) fn set_loaded_associated(
    object: &Arc<dyn ErasedObject>,
    key: AssociationKey,
    others: &[Arc<dyn ErasedObject>],
) {
    for other in others {
        other
            .lock_links_erased()
            .add_associated(key.reverse(), ChildRef::Weak(Arc::downgrade(object)));
    }
    let mut links = object.lock_links_erased();
    for other in others {
        links.add_associated(key, ChildRef::Weak(Arc::downgrade(other)));
    }
    if !links.associated_loaded.contains(&key) {
        links.associated_loaded.push(key);
    }
}

/// Once an object is in the database, its parents hold it weakly (see [`ChildRef`]).
pub(crate) fn settle(object: &dyn ErasedObject) {
    let id = object.object_id();
    for (key, parent) in parent_links(object) {
        parent.lock_links_erased().settle_child(key, id);
    }
}

/// Records a loaded parent link (child row's foreign key pointed at `parent`).
pub(crate) fn link_loaded(
    child: &Arc<dyn ErasedObject>,
    key: RelationKey,
    parent: &Arc<dyn ErasedObject>,
) {
    child
        .lock_links_erased()
        .parents
        .insert(key, parent.clone());
    parent
        .lock_links_erased()
        .add_child(key, ChildRef::Weak(Arc::downgrade(child)));
}

/// Marks a collection as loaded and records its children.
pub(crate) fn set_loaded_children(
    parent: &Arc<dyn ErasedObject>,
    key: RelationKey,
    children: &[Arc<dyn ErasedObject>],
) {
    for child in children {
        child
            .lock_links_erased()
            .parents
            .insert(key, parent.clone());
    }
    let mut links = parent.lock_links_erased();
    if let Some(list) = links.children.entry_or_default(key) {
        list.reserve(children.len());
        if list.len() + children.len() <= 32 {
            for child in children {
                if !list.iter().any(|c| c.points_to(child)) {
                    list.push(ChildRef::Weak(Arc::downgrade(child)));
                }
            }
        } else {
            // A long collection: the children listed already, by address.
            let mut listed: HashSet<*const ()> = list.iter().map(ChildRef::address).collect();
            for child in children {
                if listed.insert(Arc::as_ptr(child).cast::<()>()) {
                    list.push(ChildRef::Weak(Arc::downgrade(child)));
                }
            }
        }
    }
    if !links.loaded.contains(&key) {
        links.loaded.push(key);
    }
}

#[cfg(test)]
mod tests {
    use super::KeyedList;

    // Catches: the inline single entry lost or duplicated when a second one spills the list to
    // a vector, removals out of order, or a removal of a missing key taking another entry.
    #[test]
    fn keyed_list_keeps_entries_in_order_across_its_shapes() {
        let mut list: KeyedList<u8, &str> = KeyedList::default();
        assert!(list.is_empty());
        assert_eq!(list.insert(1, "a"), None);
        assert_eq!(list.get(&1), Some(&"a"));
        assert_eq!(list.insert(1, "b"), Some("a"));
        assert_eq!(list.remove(&2), None);
        assert_eq!(list.insert(2, "c"), None);
        assert_eq!(list.insert(3, "d"), None);
        assert_eq!(list.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(list.remove(&2), Some("c"));
        assert_eq!(
            list.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
            [(1, "b"), (3, "d")]
        );
        for value in list.values_mut() {
            *value = "e";
        }
        assert_eq!(list.values().copied().collect::<Vec<_>>(), ["e", "e"]);
        assert_eq!(list.remove(&1), Some("e"));
        assert_eq!(list.remove(&3), Some("e"));
        assert!(list.is_empty());
        *list.entry_or_default(4).unwrap_or(&mut "") = "f";
        assert_eq!(list.as_slice(), [(4, "f")]);
    }
}
