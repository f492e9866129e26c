//! Failed-login throttling shared by every instance through Redis, with the same fixed-window
//! rule as [`tessera_core::throttle::Throttle`]: at most `limit` failures per key in a window of
//! `period` that starts at the first failure.
//!
//! Every call can fail with [`StoreError::Unavailable`]; callers then fall back to their
//! in-process throttle, which still bounds guessing per instance.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use tessera_core::throttle::Rate;
use tessera_core::StoreError;
use time::Duration;

use crate::redis_link::RedisLink;

#[derive(Debug)]
pub struct RedisThrottle {
    link: RedisLink,
    prefix: String,
    rate: Rate,
}

impl RedisThrottle {
    /// A throttle called `name` (e.g. `login_ip`, `login_account`: instances with the same
    /// name share counters) on the Redis at `url`. Does not connect yet.
    pub fn new(url: &str, name: &str, rate: Rate) -> Result<Self, StoreError> {
        Ok(Self {
            link: RedisLink::new(url)?,
            prefix: format!("tessera:throttle:{name}:"),
            rate,
        })
    }

    /// `Ok(Err(retry_after))` when `key` has used up its failures for the current window.
    pub async fn check(&self, key: &str) -> Result<Result<(), Duration>, StoreError> {
        let redis_key = self.redis_key(key);
        let (failures, ttl_ms): (Option<u64>, i64) = self
            .link
            .pipe(
                redis::pipe()
                    .cmd("GET")
                    .arg(&redis_key)
                    .cmd("PTTL")
                    .arg(&redis_key),
            )
            .await?;
        Ok(match failures {
            Some(n) if n >= u64::from(self.rate.limit) => Err(match ttl_ms {
                ms if ms > 0 => Duration::milliseconds(ms),
                // Gone since the GET: the window just ended.
                -2 => return Ok(Ok(())),
                // No expiry cannot happen (set atomically with the first INCR); if someone
                // tampered with the key, a whole period is the safe answer.
                _ => self.rate.period,
            }),
            _ => Ok(()),
        })
    }

    /// Counts one failure for `key`, opening a window if none is open; returns the failures
    /// counted in the window so far.
    pub async fn record_failure(&self, key: &str) -> Result<u64, StoreError> {
        let redis_key = self.redis_key(key);
        let period_ms = self.rate.period.whole_milliseconds().max(1);
        // Atomic, so a crash between the two can never leave a counter without an expiry.
        let (failures, _): (u64, i64) = self
            .link
            .pipe(
                redis::pipe()
                    .atomic()
                    .cmd("INCR")
                    .arg(&redis_key)
                    .cmd("PEXPIRE")
                    .arg(&redis_key)
                    .arg(i64::try_from(period_ms).unwrap_or(i64::MAX))
                    .arg("NX"),
            )
            .await?;
        Ok(failures)
    }

    /// Forgets `key`'s failures (after a successful login).
    pub async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.link
            .cmd::<i64>(redis::cmd("DEL").arg(self.redis_key(key)))
            .await
            .map(drop)
    }

    /// Hashed, so that emails and addresses are not kept in Redis in clear.
    fn redis_key(&self, key: &str) -> String {
        let digest = Sha256::digest(key.as_bytes());
        let mut redis_key = String::with_capacity(self.prefix.len() + 64);
        redis_key.push_str(&self.prefix);
        for byte in digest {
            let _ = write!(redis_key, "{byte:02x}");
        }
        redis_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_and_hashed() {
        let rate = Rate {
            limit: 3,
            period: Duration::MINUTE,
        };
        let throttle = RedisThrottle::new("redis://127.0.0.1:1/", "login_ip", rate).unwrap();
        let key = throttle.redis_key("alice@example.test");
        assert_eq!(key.len(), "tessera:throttle:login_ip:".len() + 64);
        assert!(key.starts_with("tessera:throttle:login_ip:"));
        assert!(!key.contains("alice"));
        assert_ne!(key, throttle.redis_key("bob@example.test"));
    }
}
