//! Answers of `GET /v1/check`, kept briefly so a busy client does not cost a round trip per
//! request. A hit is refused as soon as the stream announces its session revoked (the caller
//! consults the revoked-session set on every hit), so the cache never outlives a logout the
//! guard has heard of.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::principal::Principal;

/// Past this many entries, expired ones go; if none have, everything goes.
const CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
pub struct CheckCache {
    entries: Mutex<HashMap<Box<str>, (Principal, Instant)>>,
}

impl CheckCache {
    pub fn get(&self, key: &str, ttl: Duration) -> Option<Principal> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get(key) {
            Some((principal, at)) if at.elapsed() < ttl => Some(principal.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn insert(&self, key: &str, principal: Principal, ttl: Duration) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key.into(), (principal, Instant::now()));
    }

    pub fn prune(&self, ttl: Duration) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (_, at)| at.elapsed() < ttl);
    }
}
