//! Relationships between models, named by the foreign key that carries them.
//!
//! One foreign key gives both directions: [`OneToMany`] from the parent (`Author::ARTICLES`) and
//! [`ManyToOne`] from the child (`Article::AUTHOR`), which are each other's backref. Both are
//! constants generated from one declaration on the parent model.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::OrmError;
use crate::model::Model;
use crate::obj::{ErasedObject, loaded_erased};
use crate::schema::Table;

/// Identifies the foreign key of a relationship: the child table and the foreign key column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RelationKey {
    /// The table holding the foreign key.
    pub child_table: &'static str,
    /// The position of the foreign key column in that table.
    pub column: usize,
}

/// The many-to-one side of a foreign key: from a child (`Article`) to its parent (`Author`).
pub struct ManyToOne<C, P> {
    name: &'static str,
    column: usize,
    _types: PhantomData<fn() -> (C, P)>,
}

/// The one-to-many side of a foreign key: from a parent (`Author`) to its children (`Article`).
pub struct OneToMany<P, C> {
    name: &'static str,
    column: usize,
    backref: &'static str,
    cascade_delete: bool,
    _types: PhantomData<fn() -> (P, C)>,
}

macro_rules! copy_debug {
    ($ty:ident) => {
        impl<A, B> Clone for $ty<A, B> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<A, B> Copy for $ty<A, B> {}

        impl<A, B> std::fmt::Debug for $ty<A, B> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($ty), self.name)
            }
        }
    };
}

copy_debug!(ManyToOne);
copy_debug!(OneToMany);

impl<C: Model, P: Model> ManyToOne<C, P> {
    /// The relationship named `name` through the child's foreign key column at `column`.
    pub const fn new(name: &'static str, column: usize) -> ManyToOne<C, P> {
        ManyToOne {
            name,
            column,
            _types: PhantomData,
        }
    }

    /// The relationship's name (`author`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The position of the foreign key column in the child's table.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The foreign key that carries the relationship.
    pub fn key(&self) -> RelationKey {
        RelationKey {
            child_table: C::TABLE.name,
            column: self.column,
        }
    }
}

impl<P: Model, C: Model> OneToMany<P, C> {
    /// The relationship named `name` through the children's foreign key column at `column`, whose
    /// reverse (many-to-one) side is named `backref`.
    pub const fn new(name: &'static str, column: usize, backref: &'static str) -> OneToMany<P, C> {
        OneToMany {
            name,
            column,
            backref,
            cascade_delete: false,
            _types: PhantomData,
        }
    }

    /// The same relationship, deleting the children with the parent (SQLAlchemy's
    /// `cascade="all, delete-orphan"`); without it, deleting a parent sets its children's foreign
    /// key to NULL (see [`Session::delete`](crate::Session::delete)).
    pub const fn cascade_delete(mut self) -> OneToMany<P, C> {
        self.cascade_delete = true;
        self
    }

    /// Whether deleting a parent deletes its children.
    pub fn cascades_delete(&self) -> bool {
        self.cascade_delete
    }

    /// The relationship's name (`articles`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The position of the foreign key column in the children's table.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The foreign key that carries the relationship.
    pub fn key(&self) -> RelationKey {
        RelationKey {
            child_table: C::TABLE.name,
            column: self.column,
        }
    }

    /// The reverse side: from a child to this parent.
    pub fn backref(&self) -> ManyToOne<C, P> {
        ManyToOne::new(self.backref, self.column)
    }

    /// The relationship as the parent model declares it in [`Model::RELATIONSHIPS`].
    pub const fn declaration(&self) -> ChildRelationship {
        ChildRelationship {
            name: self.name,
            child: C::TABLE,
            column: self.column,
            cascade_delete: self.cascade_delete,
            new_object: loaded_erased::<C>,
        }
    }
}

/// A one-to-many relationship as its parent model declares it (see [`Model::RELATIONSHIPS`]):
/// the session uses it when a parent is deleted, to find its children that are not loaded and to
/// know, whichever side they were attached from, whether they are deleted with it.
#[derive(Clone, Copy)]
pub struct ChildRelationship {
    name: &'static str,
    child: &'static Table,
    column: usize,
    cascade_delete: bool,
    /// Makes a child object from a row of `child` (the children's model is not known here).
    new_object: NewObject,
}

/// Makes a loaded object of a model known only to the function from a whole row of its table.
type NewObject = fn(&pg_wire::Row) -> Result<Arc<dyn ErasedObject>, OrmError>;

impl std::fmt::Debug for ChildRelationship {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildRelationship")
            .field("name", &self.name)
            .field("child", &self.child.name)
            .field("column", &self.column)
            .field("cascade_delete", &self.cascade_delete)
            .finish()
    }
}

impl ChildRelationship {
    /// The relationship's name (`articles`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The children's table.
    pub fn child(&self) -> &'static Table {
        self.child
    }

    /// The position of the foreign key column in the children's table.
    pub fn column(&self) -> usize {
        self.column
    }

    /// Whether deleting a parent deletes its children.
    pub fn cascades_delete(&self) -> bool {
        self.cascade_delete
    }

    /// The foreign key that carries the relationship.
    pub fn key(&self) -> RelationKey {
        RelationKey {
            child_table: self.child.name,
            column: self.column,
        }
    }

    pub(crate) fn new_object(&self, row: &pg_wire::Row) -> Result<Arc<dyn ErasedObject>, OrmError> {
        (self.new_object)(row)
    }
}

/// Identifies one direction of a many-to-many relationship: the association table and its two
/// foreign key columns (this side's, then the other side's).
#[derive(Debug, Clone, Copy)]
pub struct AssociationKey {
    /// The association table.
    pub through: &'static crate::schema::Table,
    /// The position of the column pointing to this side.
    pub local: usize,
    /// The position of the column pointing to the other side.
    pub remote: usize,
}

impl PartialEq for AssociationKey {
    fn eq(&self, other: &Self) -> bool {
        self.through.name == other.through.name
            && self.local == other.local
            && self.remote == other.remote
    }
}

impl Eq for AssociationKey {}

impl std::hash::Hash for AssociationKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.through.name.hash(state);
        self.local.hash(state);
        self.remote.hash(state);
    }
}

impl AssociationKey {
    /// The same association seen from the other side.
    pub fn reverse(self) -> AssociationKey {
        AssociationKey {
            through: self.through,
            local: self.remote,
            remote: self.local,
        }
    }
}

/// A many-to-many relationship through an association table (SQLAlchemy's `secondary`): from `A`
/// (`Article::TAGS`) to `B`.
pub struct ManyToMany<A, B> {
    name: &'static str,
    through: &'static crate::schema::Table,
    local: usize,
    remote: usize,
    _types: PhantomData<fn() -> (A, B)>,
}

impl<A, B> Clone for ManyToMany<A, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, B> Copy for ManyToMany<A, B> {}

impl<A, B> std::fmt::Debug for ManyToMany<A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ManyToMany({} through {})", self.name, self.through.name)
    }
}

impl<A: Model, B: Model> ManyToMany<A, B> {
    /// The relationship named `name` through the association table `through`, whose column at
    /// `local` points to `A` and at `remote` to `B`.
    pub const fn new(
        name: &'static str,
        through: &'static crate::schema::Table,
        local: usize,
        remote: usize,
    ) -> ManyToMany<A, B> {
        ManyToMany {
            name,
            through,
            local,
            remote,
            _types: PhantomData,
        }
    }

    /// The relationship's name (`tags`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The association table.
    pub fn through(&self) -> &'static crate::schema::Table {
        self.through
    }

    /// The association and its direction.
    pub const fn key(&self) -> AssociationKey {
        AssociationKey {
            through: self.through,
            local: self.local,
            remote: self.remote,
        }
    }

    /// The column of the association table pointing to `A`.
    pub fn local_column(&self) -> usize {
        self.local
    }

    /// The column of the association table pointing to `B`.
    pub fn remote_column(&self) -> usize {
        self.remote
    }
}
