//! The lookup cache: answers kept for a time-to-live (default 5 minutes, as the
//! reference's Caffeine cache), at most `capacity` entries (the reference's is
//! unbounded), and errors never stored so that the next lookup asks again.

use std::collections::BTreeMap;

use super::request::CacheKey;
use crate::{Duration, Timestamp};

pub const DEFAULT_TTL: Duration = Duration::from_mins(5);
pub const DEFAULT_CAPACITY: usize = 10_000;

#[derive(Debug, Clone)]
pub struct LookupCache<V> {
    ttl: Duration,
    capacity: usize,
    entries: BTreeMap<CacheKey, (Timestamp, V)>,
}

impl<V: Clone> Default for LookupCache<V> {
    fn default() -> Self {
        LookupCache::new(DEFAULT_TTL, DEFAULT_CAPACITY)
    }
}

impl<V: Clone> LookupCache<V> {
    /// A zero capacity disables caching.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        LookupCache { ttl, capacity, entries: BTreeMap::new() }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached value, if it was stored less than `ttl` before `now`.
    pub fn get(&self, key: &CacheKey, now: Timestamp) -> Option<&V> {
        let (stored, v) = self.entries.get(key)?;
        (now < *stored + self.ttl).then_some(v)
    }

    /// Records the outcome of a lookup: an `Ok` is stored (evicting the oldest entry
    /// when full), an `Err` is not stored and also drops any stale entry for the key.
    pub fn record<E>(&mut self, key: CacheKey, outcome: &Result<V, E>, now: Timestamp) {
        match outcome {
            Ok(v) => self.insert(key, v.clone(), now),
            Err(_) => {
                self.entries.remove(&key);
            }
        }
    }

    pub fn insert(&mut self, key: CacheKey, value: V, now: Timestamp) {
        if self.capacity == 0 {
            return;
        }
        self.purge_expired(now);
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            // Oldest first; ties broken by key so the choice is deterministic.
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(k, (t, _))| (*t, (*k).clone()))
                .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, (now, value));
    }

    /// Drops expired entries; the runtime may call this from a timer.
    pub fn purge_expired(&mut self, now: Timestamp) {
        let ttl = self.ttl;
        self.entries.retain(|_, (t, _)| now < *t + ttl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::request::Lookup;

    fn key(id: &str) -> CacheKey {
        Lookup::Info(id.into()).cache_key()
    }
    fn t(secs: i64) -> Timestamp {
        Timestamp::from_unix_millis(1_700_000_000_000 + secs * 1000)
    }

    #[test]
    fn hit_then_expiry_after_five_minutes() {
        let mut c: LookupCache<u32> = LookupCache::default();
        c.record::<()>(key("a"), &Ok(1), t(0));
        assert_eq!(c.get(&key("a"), t(0)), Some(&1));
        assert_eq!(c.get(&key("a"), t(299)), Some(&1));
        assert_eq!(c.get(&key("a"), t(300)), None);
        c.purge_expired(t(300));
        assert!(c.is_empty());
    }

    #[test]
    fn errors_are_not_cached_and_drop_stale_entries() {
        let mut c: LookupCache<u32> = LookupCache::default();
        c.record(key("a"), &Err::<u32, &str>("down"), t(0));
        assert_eq!(c.get(&key("a"), t(0)), None);
        c.record::<&str>(key("a"), &Ok(1), t(0));
        c.record(key("a"), &Err::<u32, &str>("down"), t(1));
        assert_eq!(c.get(&key("a"), t(1)), None);
    }

    #[test]
    fn size_bound_evicts_the_oldest() {
        let mut c: LookupCache<u32> = LookupCache::new(Duration::from_mins(5), 2);
        c.insert(key("a"), 1, t(0));
        c.insert(key("b"), 2, t(1));
        c.insert(key("c"), 3, t(2));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&key("a"), t(2)), None);
        assert_eq!(c.get(&key("b"), t(2)), Some(&2));
        assert_eq!(c.get(&key("c"), t(2)), Some(&3));
        // Refreshing an existing key does not evict anything.
        c.insert(key("b"), 22, t(3));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&key("c"), t(3)), Some(&3));
        let mut off: LookupCache<u32> = LookupCache::new(Duration::from_mins(5), 0);
        off.insert(key("a"), 1, t(0));
        assert!(off.is_empty());
    }
}
