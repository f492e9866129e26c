//! Failed-login throttles: in-process, or shared by every instance through Redis when
//! `cache.url` is set.
//!
//! With Redis, an attacker spreading guesses over N instances still gets one budget. If Redis
//! fails, the in-process counter takes over for that call (logged and counted), so an outage
//! of the cache degrades the limit to per-instance instead of turning it off.

use std::sync::{Mutex, PoisonError};

use tessera_core::throttle::{Rate, Throttle};
use tessera_core::{Clock, StoreError};
use tessera_store::RedisThrottle;

use crate::telemetry::Outage;
use time::Duration;

#[derive(Debug)]
pub struct LoginThrottle {
    local: Mutex<Throttle>,
    shared: Option<RedisThrottle>,
    outage: Outage,
}

impl LoginThrottle {
    pub fn new(name: &str, rate: Rate, cache_url: Option<&str>) -> Result<Self, StoreError> {
        let shared = cache_url
            .map(|url| RedisThrottle::new(url, name, rate))
            .transpose()?;
        Ok(Self {
            local: Mutex::new(Throttle::new(rate)),
            shared,
            outage: Outage::default(),
        })
    }

    fn local(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Err(retry_after)` while `key` is over its limit.
    pub async fn check(&self, key: &str, clock: &dyn Clock) -> Result<(), Duration> {
        if let Some(shared) = &self.shared {
            match shared.check(key).await {
                Ok(verdict) => {
                    self.recovered();
                    return verdict;
                }
                Err(err) => self.degraded(&err),
            }
        }
        self.local().check(key, clock.now())
    }

    pub async fn record_failure(&self, key: &str, clock: &dyn Clock) {
        if let Some(shared) = &self.shared {
            match shared.record_failure(key).await {
                Ok(_) => {
                    self.recovered();
                    return;
                }
                Err(err) => self.degraded(&err),
            }
        }
        self.local().record_failure(key, clock.now());
    }

    pub async fn reset(&self, key: &str) {
        if let Some(shared) = &self.shared {
            match shared.reset(key).await {
                Ok(()) => self.recovered(),
                Err(err) => self.degraded(&err),
            }
        }
        self.local().reset(key);
    }
}

impl LoginThrottle {
    fn degraded(&self, err: &StoreError) {
        self.outage.failed(
            "cache",
            err,
            "shared throttle unavailable; using the local one",
        );
    }

    fn recovered(&self) {
        self.outage.answered("shared throttle available again");
    }
}
