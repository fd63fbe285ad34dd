//! Rows of query results: typed rows of the extended protocol ([`Row`]) and text rows of the simple
//! protocol ([`SimpleQueryRow`]).
//!
//! Both keep the received DataRow and read values as slices of it; nothing is copied per field.

use std::fmt;
use std::sync::Arc;

use crate::error::Error;
use crate::proto::ProtocolError;
use crate::proto::backend::{DataRow, FieldDescription};
use crate::types::Format;
use crate::types::{FromSql, Type};

/// A result column of a prepared statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    name: String,
    type_: Type,
    format: Format,
    table_oid: Option<u32>,
    column_id: Option<i16>,
    type_modifier: i32,
}

impl Column {
    /// A column from its RowDescription entry, read in `format`.
    pub(crate) fn new(field: &FieldDescription, format: Format) -> Column {
        Column {
            name: field.name.clone(),
            type_: Type::from_oid(field.type_oid),
            format,
            table_oid: (field.table_oid != 0).then_some(field.table_oid),
            column_id: (field.column_id != 0).then_some(field.column_id),
            type_modifier: field.type_modifier,
        }
    }

    /// The column's name or alias.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column's SQL type.
    pub fn type_(&self) -> &Type {
        &self.type_
    }

    /// The wire format its values arrive in: binary for types the driver decodes, text otherwise.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The OID of the table the column comes from, if it is a plain table column.
    pub fn table_oid(&self) -> Option<u32> {
        self.table_oid
    }

    /// The column's attribute number in that table.
    pub fn column_id(&self) -> Option<i16> {
        self.column_id
    }

    /// The type modifier, such as a `varchar(n)`'s length plus 4; -1 when there is none.
    pub fn type_modifier(&self) -> i32 {
        self.type_modifier
    }
}

/// Checks that a DataRow has one field per column.
pub(crate) fn check_field_count(data: &DataRow, columns: usize) -> Result<(), ProtocolError> {
    if data.len() == columns {
        Ok(())
    } else {
        Err(ProtocolError::ColumnCountMismatch {
            expected: columns,
            got: data.len(),
        })
    }
}

/// A way to pick a column: its position (`usize`) or its name (`&str`).
pub trait RowIndex: sealed::Sealed + fmt::Display {
    /// The position of the column this index designates.
    /// `count` is the number of columns, `name` gives the name of column `i`.
    #[doc(hidden)]
    fn find<'c>(&self, count: usize, name: &dyn Fn(usize) -> Option<&'c str>) -> Option<usize>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for usize {}
    impl Sealed for str {}
    impl<T: ?Sized + Sealed> Sealed for &T {}
}

impl RowIndex for usize {
    fn find<'c>(&self, count: usize, _name: &dyn Fn(usize) -> Option<&'c str>) -> Option<usize> {
        (*self < count).then_some(*self)
    }
}

impl RowIndex for str {
    fn find<'c>(&self, count: usize, name: &dyn Fn(usize) -> Option<&'c str>) -> Option<usize> {
        // Exact match first, then case-insensitive, as column names are usually folded.
        (0..count)
            .find(|&i| name(i) == Some(self))
            .or_else(|| (0..count).find(|&i| name(i).is_some_and(|n| n.eq_ignore_ascii_case(self))))
    }
}

impl<T: ?Sized + RowIndex> RowIndex for &T {
    fn find<'c>(&self, count: usize, name: &dyn Fn(usize) -> Option<&'c str>) -> Option<usize> {
        (**self).find(count, name)
    }
}

/// A row returned by [`Client::query`](crate::Client::query) and friends.
#[derive(Clone)]
pub struct Row {
    columns: Arc<[Column]>,
    data: DataRow,
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Row")
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl Row {
    /// A row whose field count was checked against `columns`.
    pub(crate) fn new(columns: Arc<[Column]>, data: DataRow) -> Result<Row, ProtocolError> {
        check_field_count(&data, columns.len())?;
        Ok(Row { columns, data })
    }

    /// The columns of the row.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    fn index<I: RowIndex + ?Sized>(&self, index: &I) -> Result<usize, Error> {
        index
            .find(self.columns.len(), &|i| {
                self.columns.get(i).map(Column::name)
            })
            .ok_or_else(|| {
                Error::usage(format!(
                    "the row has no column {index} ({} columns)",
                    self.len()
                ))
            })
    }

    /// Reads a column into `T`.
    ///
    /// # Panics
    ///
    /// Panics if the column does not exist or its value cannot be read as `T` (including a NULL
    /// read into a type that is not an `Option`). Use [`Row::try_get`] to handle those cases.
    #[track_caller]
    // The panicking accessor is the ecosystem's convention (tokio-postgres, indexing); the
    // non-panicking one is `try_get`, which everything inside pg-wire and the ORM uses.
    #[allow(clippy::panic)]
    pub fn get<'a, I, T>(&'a self, index: I) -> T
    where
        I: RowIndex,
        T: FromSql<'a>,
    {
        match self.try_get(index) {
            Ok(value) => value,
            Err(e) => panic!("{}", crate::error::report(&e)),
        }
    }

    /// Reads a column into `T`. The error names the column, its SQL type and the Rust type.
    ///
    /// ```no_run
    /// # async fn demo(client: &pg_wire::Client) -> Result<(), pg_wire::Error> {
    /// let row = client.query_one("SELECT 1::int4 AS n, NULL::text AS t", &[]).await?;
    /// let n: i32 = row.try_get("n")?;
    /// let t: Option<String> = row.try_get(1)?;
    /// assert_eq!((n, t), (1, None));
    /// # Ok(()) }
    /// ```
    pub fn try_get<'a, I, T>(&'a self, index: I) -> Result<T, Error>
    where
        I: RowIndex,
        T: FromSql<'a>,
    {
        let i = self.index(&index)?;
        let column = self
            .columns
            .get(i)
            .ok_or_else(|| Error::usage(format!("the row has no column {index}")))?;
        let ty = column.type_();
        let rust = std::any::type_name::<T>();
        let describe = || {
            format!(
                "column \"{}\" (position {i}) of SQL type {ty}",
                column.name()
            )
        };
        let raw = self.data.get(i).flatten();
        let result = match column.format() {
            Format::Binary => {
                if !T::accepts(ty) {
                    return Err(Error::conversion(
                        format!("cannot read {} as Rust type {rust}", describe()),
                        None,
                    ));
                }
                match raw {
                    None => T::from_sql_null(ty),
                    Some(bytes) => T::from_sql(ty, bytes),
                }
            }
            Format::Text => {
                if !T::accepts_text(ty) {
                    return Err(Error::conversion(
                        format!(
                            "cannot read {} as Rust type {rust}: the driver reads this type as text; use String or &str",
                            describe()
                        ),
                        None,
                    ));
                }
                match raw {
                    None => T::from_sql_null(ty),
                    Some(bytes) => match std::str::from_utf8(bytes) {
                        Ok(text) => T::from_sql_text(ty, text),
                        Err(e) => Err(Box::new(e) as crate::types::BoxError),
                    },
                }
            }
        };
        result.map_err(|e| {
            Error::conversion(
                format!("error reading {} as Rust type {rust}", describe()),
                Some(e),
            )
        })
    }

    /// The raw bytes of a column as the server sent them (in the column's [`Column::format`]),
    /// or `None` for NULL.
    pub fn get_raw<I: RowIndex>(&self, index: I) -> Result<Option<&[u8]>, Error> {
        let i = self.index(&index)?;
        Ok(self.data.get(i).flatten())
    }
}

/// A column of a simple-query result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleColumn {
    name: String,
    type_: Type,
}

impl SimpleColumn {
    pub(crate) fn new(field: &FieldDescription) -> SimpleColumn {
        SimpleColumn {
            name: field.name.clone(),
            type_: Type::from_oid(field.type_oid),
        }
    }

    /// The column's name or alias.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column's SQL type.
    pub fn type_(&self) -> &Type {
        &self.type_
    }
}

/// A row of the simple query protocol: every value in text form.
#[derive(Clone)]
pub struct SimpleQueryRow {
    columns: Arc<[SimpleColumn]>,
    data: DataRow,
}

impl fmt::Debug for SimpleQueryRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries((0..self.len()).map(|i| self.get(i)))
            .finish()
    }
}

impl SimpleQueryRow {
    /// A row whose field count and UTF-8 were checked, so its accessors cannot fail.
    pub(crate) fn new(
        columns: Arc<[SimpleColumn]>,
        data: DataRow,
    ) -> Result<SimpleQueryRow, ProtocolError> {
        check_field_count(&data, columns.len())?;
        if data
            .iter()
            .flatten()
            .any(|value| std::str::from_utf8(value).is_err())
        {
            return Err(ProtocolError::InvalidUtf8 {
                what: "DataRow text value",
            });
        }
        Ok(SimpleQueryRow { columns, data })
    }

    /// The columns of the row.
    pub fn columns(&self) -> &[SimpleColumn] {
        &self.columns
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The text of a column (`None` for NULL or for a column that does not exist).
    pub fn get<I: RowIndex>(&self, index: I) -> Option<&str> {
        self.try_get(index).ok().flatten()
    }

    /// The text of a column, `None` for NULL; an error if the column does not exist.
    pub fn try_get<I: RowIndex>(&self, index: I) -> Result<Option<&str>, Error> {
        let i = index
            .find(self.columns.len(), &|i| {
                self.columns.get(i).map(SimpleColumn::name)
            })
            .ok_or_else(|| {
                Error::usage(format!(
                    "the row has no column {index} ({} columns)",
                    self.len()
                ))
            })?;
        // UTF-8 was checked when the row was received.
        Ok(self
            .data
            .get(i)
            .flatten()
            .and_then(|value| std::str::from_utf8(value).ok()))
    }

    /// The values in column order, `None` for NULL.
    pub fn values(&self) -> impl ExactSizeIterator<Item = Option<&str>> + '_ {
        self.data
            .iter()
            .map(|value| value.and_then(|v| std::str::from_utf8(v).ok()))
    }
}
