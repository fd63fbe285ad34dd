//! Lazy iteration over a query's objects.

use std::collections::HashSet;
use std::marker::PhantomData;

use pg_wire::RowStream;

use super::{IdentityKey, Store, identity_key};
use crate::error::OrmError;
use crate::model::Model;
use crate::obj::Obj;

/// The objects of a query as the rows arrive, from [`Session::stream`](crate::Session::stream).
pub struct ObjectStream<'s, M> {
    rows: RowStream<'s>,
    store: &'s mut Store,
    /// The objects handed out so far, for a query with joins (whose rows can repeat an object).
    seen: Option<HashSet<IdentityKey>>,
    _model: PhantomData<fn() -> M>,
}

impl<M> std::fmt::Debug for ObjectStream<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStream")
            .field("rows", &self.rows)
            .finish()
    }
}

impl<'s, M: Model> ObjectStream<'s, M> {
    /// A stream of the query's rows as objects; with `dedupe`, an object comes once, at its
    /// first row.
    pub(crate) fn new(
        rows: RowStream<'s>,
        store: &'s mut Store,
        dedupe: bool,
    ) -> ObjectStream<'s, M> {
        ObjectStream {
            rows,
            store,
            seen: dedupe.then(HashSet::new),
            _model: PhantomData,
        }
    }

    /// The next object, `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Obj<M>, OrmError>> {
        loop {
            let row = match self.rows.next().await? {
                Ok(row) => row,
                Err(e) => return Some(Err(e.into())),
            };
            let object = match self.store.object_from_row::<M>(&row, true) {
                Ok(object) => object,
                Err(e) => return Some(Err(e)),
            };
            if let Some(seen) = &mut self.seen
                && !seen.insert(identity_key(M::TABLE, &object.read().values()))
            {
                continue;
            }
            return Some(Ok(object));
        }
    }
}
