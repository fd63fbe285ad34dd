//! The per-connection statement cache: SQL text to prepared [`Statement`], least recently used
//! evicted first.
//!
//! An evicted statement is closed on the server when its last handle is dropped (see
//! [`Statement`]). The capacity is small (hundreds), so eviction scans for the oldest entry instead
//! of keeping a linked list.

use std::collections::HashMap;

use crate::statement::Statement;

/// A bounded map from SQL text to prepared statement.
#[derive(Debug)]
pub(crate) struct StatementCache {
    capacity: usize,
    entries: HashMap<String, Entry>,
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    statement: Statement,
    last_used: u64,
}

impl StatementCache {
    pub(crate) fn new(capacity: usize) -> StatementCache {
        StatementCache {
            capacity,
            entries: HashMap::new(),
            clock: 0,
        }
    }

    /// The cached statement for `sql`, marked as just used.
    pub(crate) fn get(&mut self, sql: &str) -> Option<Statement> {
        self.clock += 1;
        let entry = self.entries.get_mut(sql)?;
        entry.last_used = self.clock;
        Some(entry.statement.clone())
    }

    /// Caches `statement` for `sql`, evicting the least recently used entry when full.
    pub(crate) fn insert(&mut self, sql: &str, statement: Statement) {
        if self.capacity == 0 {
            return;
        }
        if !self.entries.contains_key(sql) && self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(sql, _)| sql.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.clock += 1;
        self.entries.insert(
            sql.to_owned(),
            Entry {
                statement,
                last_used: self.clock,
            },
        );
    }

    /// Forgets the statement for `sql` if it is `statement` (another task may have replaced it).
    pub(crate) fn remove(&mut self, sql: &str, statement: &Statement) {
        if self
            .entries
            .get(sql)
            .is_some_and(|entry| entry.statement.same(statement))
        {
            self.entries.remove(sql);
        }
    }

    /// Forgets every statement.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Weak};

    use super::*;
    use crate::statement::StatementKind;

    fn statement(name: &str) -> Statement {
        Statement::new(
            Weak::new(),
            name.into(),
            Arc::from("SELECT 1"),
            vec![],
            vec![],
            StatementKind::Named,
        )
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let mut cache = StatementCache::new(2);
        cache.insert("a", statement("s1"));
        cache.insert("b", statement("s2"));
        assert!(cache.get("a").is_some());
        cache.insert("c", statement("s3"));
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert_eq!(
            cache.get("a").map(|s| s.name().to_owned()).as_deref(),
            Some("s1")
        );
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn zero_capacity_caches_nothing_and_remove_checks_identity() {
        let mut cache = StatementCache::new(0);
        cache.insert("a", statement("s1"));
        assert!(cache.get("a").is_none());

        let mut cache = StatementCache::new(4);
        let s2 = statement("s2");
        cache.insert("a", s2.clone());
        cache.remove("a", &statement("s2"));
        assert!(
            cache.get("a").is_some(),
            "another statement of the same name is not the cached one"
        );
        cache.remove("a", &s2);
        assert!(cache.get("a").is_none());
    }
}
