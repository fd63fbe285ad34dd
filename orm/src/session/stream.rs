//! Lazy iteration over a query's objects.

use std::marker::PhantomData;

use pg_wire::RowStream;

use super::Store;
use crate::error::OrmError;
use crate::model::Model;
use crate::obj::Obj;

/// The objects of a query as the rows arrive, from [`Session::stream`](crate::Session::stream).
pub struct ObjectStream<'s, M> {
    rows: RowStream<'s>,
    store: &'s mut Store,
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
    pub(crate) fn new(rows: RowStream<'s>, store: &'s mut Store) -> ObjectStream<'s, M> {
        ObjectStream {
            rows,
            store,
            _model: PhantomData,
        }
    }

    /// The next object, `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Obj<M>, OrmError>> {
        let row = match self.rows.next().await? {
            Ok(row) => row,
            Err(e) => return Some(Err(e.into())),
        };
        Some(self.store.object_from_row(&row, true))
    }
}
