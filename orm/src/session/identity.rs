//! The identity map's keys: a row's table and primary key values, typed (no text is formatted
//! to build one), and a cheap hasher for the session's maps keyed by object id.

use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::schema::Table;
use crate::value::Value;

/// One primary key value as the identity map compares it: as [`Value`]'s `==` for the types a key
/// has in practice, and by the value's debug text for floats, numerics and JSON (which have no
/// `Eq`), as the map's keys always did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyPart {
    Null,
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    Text(String),
    Bytes(Vec<u8>),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
    TimestampTz(DateTime<Utc>),
    Uuid(uuid::Uuid),
    /// A float, numeric or JSON value, by its debug text.
    Other(String),
}

impl KeyPart {
    /// The key part of a value.
    pub(crate) fn of(value: &Value) -> KeyPart {
        match value {
            Value::Null => KeyPart::Null,
            Value::Bool(v) => KeyPart::Bool(*v),
            Value::I16(v) => KeyPart::I16(*v),
            Value::I32(v) => KeyPart::I32(*v),
            Value::I64(v) => KeyPart::I64(*v),
            Value::Text(v) => KeyPart::Text(v.clone()),
            Value::Bytes(v) => KeyPart::Bytes(v.clone()),
            Value::Date(v) => KeyPart::Date(*v),
            Value::Timestamp(v) => KeyPart::Timestamp(*v),
            Value::TimestampTz(v) => KeyPart::TimestampTz(*v),
            Value::Uuid(v) => KeyPart::Uuid(*v),
            Value::F64(_) | Value::Numeric(_) | Value::Json(_) => {
                KeyPart::Other(format!("{value:?}"))
            }
        }
    }
}

impl KeyPart {
    /// The key part of a value, taking it.
    pub(crate) fn from_value(value: Value) -> KeyPart {
        match value {
            Value::Text(v) => KeyPart::Text(v),
            Value::Bytes(v) => KeyPart::Bytes(v),
            other => KeyPart::of(&other),
        }
    }
}

/// Hashed in as few writes as possible (the identity map hashes a key per loaded row): an integer
/// as one `i64` whatever its width (values of different variants may collide; they never compare
/// equal), text and bytes as their bytes.
impl Hash for KeyPart {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            KeyPart::Null => state.write_u8(0),
            KeyPart::Bool(v) => state.write_u8(1 + u8::from(*v)),
            KeyPart::I16(v) => state.write_i64(i64::from(*v)),
            KeyPart::I32(v) => state.write_i64(i64::from(*v)),
            KeyPart::I64(v) => state.write_i64(*v),
            KeyPart::Text(v) | KeyPart::Other(v) => v.hash(state),
            KeyPart::Bytes(v) => v.hash(state),
            KeyPart::Date(v) => v.hash(state),
            KeyPart::Timestamp(v) => v.hash(state),
            KeyPart::TimestampTz(v) => v.hash(state),
            KeyPart::Uuid(v) => state.write(v.as_bytes()),
        }
    }
}

/// A row's primary key: one value (the usual case, no allocation for an integer key), or several.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RowKey {
    One(KeyPart),
    Many(Box<[KeyPart]>),
}

impl Hash for RowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            RowKey::One(part) => part.hash(state),
            RowKey::Many(parts) => {
                for part in parts.iter() {
                    part.hash(state);
                }
            }
        }
    }
}

/// The identity of a row: its table and primary key values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdentityKey {
    table: &'static str,
    key: RowKey,
}

/// The table enters the hash by the length of its name only (equal names have equal lengths;
/// keys of tables whose names only have the same length are told apart by `==`).
impl Hash for IdentityKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.table.len());
        self.key.hash(state);
    }
}

impl IdentityKey {
    /// The key of a row of `table` from the values of its primary key columns, taking them
    /// (the usual single-column key without the iterator of [`IdentityKey::new`]).
    pub(crate) fn take(table: &'static Table, values: &mut [Value]) -> Self {
        match values {
            [one] => IdentityKey {
                table: table.name,
                key: RowKey::One(KeyPart::from_value(std::mem::replace(one, Value::Null))),
            },
            many => IdentityKey::new(
                table,
                many.iter_mut()
                    .map(|v| KeyPart::from_value(std::mem::replace(v, Value::Null))),
            ),
        }
    }

    /// The key of a row of `table` from the values of its primary key columns, in order.
    pub(crate) fn new(table: &'static Table, mut parts: impl Iterator<Item = KeyPart>) -> Self {
        let first = parts.next().unwrap_or(KeyPart::Null);
        let key = match parts.next() {
            None => RowKey::One(first),
            Some(second) => {
                let mut all = vec![first, second];
                all.extend(parts);
                RowKey::Many(all.into_boxed_slice())
            }
        };
        IdentityKey {
            table: table.name,
            key,
        }
    }
}

/// The identity of a row of `table` whose columns hold `values` (a whole row, in column order).
pub(crate) fn identity_key(table: &'static Table, values: &[Value]) -> IdentityKey {
    IdentityKey::new(
        table,
        table
            .primary_key()
            .filter_map(|i| values.get(i))
            .map(KeyPart::of),
    )
}

/// The identity of the row of `table` whose first primary key column holds `value` (and any
/// other primary key column NULL, which matches no row).
pub(crate) fn identity_of_pk(table: &'static Table, value: &Value) -> IdentityKey {
    IdentityKey::new(
        table,
        table.primary_key().enumerate().map(|(n, _)| match n {
            0 => KeyPart::of(value),
            _ => KeyPart::Null,
        }),
    )
}

/// The primary key of a row as error messages show it.
pub(crate) fn describe_key(table: &'static Table, values: &[Value]) -> String {
    let key: Vec<&Value> = table.primary_key().filter_map(|i| values.get(i)).collect();
    format!("{key:?}")
}

/// A hasher for the session's maps keyed by object id: ids are handed out by the process in
/// sequence, never chosen by the database or the user, so a multiplication spreads them well
/// enough, at a fraction of SipHash's cost.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

/// An odd constant with well mixed bits (2^64 divided by the golden ratio).
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(26) ^ n).wrapping_mul(SPREAD);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by object id.
pub(crate) type IdMap<V> = std::collections::HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// A map keyed by row values (the identity map, a relationship load's parents by key).
pub(crate) type KeyMap<K, V> = std::collections::HashMap<K, V, KeyState>;

/// The seeds of a [`KeyMap`]'s hasher, random per map (from the standard library's
/// [`RandomState`](std::collections::hash_map::RandomState)): keys come from the database and
/// so possibly from users, and without the seeds which keys collide cannot be known in advance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyState {
    start: u64,
    factor: u64,
}

impl Default for KeyState {
    fn default() -> Self {
        let random = std::collections::hash_map::RandomState::new();
        KeyState {
            start: random.hash_one(0x6b65_795f_7374_6172_u64),
            factor: random.hash_one(0x6b65_795f_6661_6374_u64) | 1,
        }
    }
}

impl BuildHasher for KeyState {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher {
            acc: self.start,
            factor: self.factor,
        }
    }
}

/// A keyed multiply-fold hasher (the 128-bit product of the state and a seed, its halves xored):
/// a key of a few integers costs a few multiplications where SipHash costs dozens of rounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyHasher {
    acc: u64,
    factor: u64,
}

/// The 128-bit product's halves xored: every bit of the result depends on every bit of `a`.
fn fold_mul(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    // Truncations meant: the low and the high half.
    (product as u64) ^ ((product >> 64) as u64)
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length tells "ab" from "ab\0".
            self.write_u64(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.acc = fold_mul(self.acc ^ n, self.factor);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        // One more round, so the last word written is spread over every bit as well.
        fold_mul(self.acc, SPREAD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use crate::test_models::{Article, Composite};

    #[test]
    fn keys_compare_by_table_and_typed_value() {
        let mut row = Article::default().values();
        row[0] = Value::I32(7);
        let key = identity_key(Article::TABLE, &row);
        assert_eq!(key, identity_of_pk(Article::TABLE, &Value::I32(7)));
        assert_ne!(key, identity_of_pk(Article::TABLE, &Value::I64(7)));
        assert_ne!(key, identity_of_pk(Composite::TABLE, &Value::I32(7)));
        assert_eq!(describe_key(Article::TABLE, &row), "[I32(7)]");
        let mut composite = Composite::default().values();
        composite[0] = Value::I32(1);
        composite[1] = Value::I32(2);
        let two = identity_key(Composite::TABLE, &composite);
        assert_ne!(two, identity_of_pk(Composite::TABLE, &Value::I32(1)));
        assert_eq!(two.clone(), two);
        assert_eq!(
            KeyPart::of(&Value::F64(f64::NAN)),
            KeyPart::of(&Value::F64(f64::NAN))
        );
        assert_ne!(
            KeyPart::of(&Value::F64(0.0)),
            KeyPart::of(&Value::F64(-0.0))
        );
    }

    #[test]
    fn key_hashes_are_stable_per_map_and_tell_text_lengths_apart() {
        let state = KeyState::default();
        let key = identity_of_pk(Article::TABLE, &Value::I32(7));
        assert_eq!(state.hash_one(&key), state.hash_one(key.clone()));
        assert_ne!(
            state.hash_one(b"ab".as_slice()),
            state.hash_one(b"ab\0".as_slice())
        );
        let mut map: KeyMap<KeyPart, usize> = KeyMap::default();
        for i in 0..1000 {
            map.insert(KeyPart::I64(i), 0);
            map.insert(KeyPart::Text(format!("row {i}")), 0);
        }
        assert_eq!(map.len(), 2000);
    }
}
