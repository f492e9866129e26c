//! Throttling shared by every instance through Redis, with the same fixed-window rule as
//! [`tessera_core::throttle::Throttle`]: at most `limit` attempts per key in a window of
//! `period` that starts at the first attempt, counted when admitted.
//!
//! Every call can fail with [`StoreError::Unavailable`]; callers then fall back to their
//! in-process throttle, which still bounds guessing per instance.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use tessera_core::throttle::{Rate, ThrottleKey};
use tessera_core::StoreError;
use time::Duration;

use crate::redis_link::RedisLink;

/// KEYS[1] the counter, ARGV[1] the limit, ARGV[2] the period in ms → `{1, count}` when
/// admitted, `{0, pttl}` when the window is full. A counter found without an expiry (which
/// only tampering can cause) gets one, so it can never block a key forever.
const RESERVE: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
  return {0, ttl}
end
n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {1, n}
";

/// KEYS[1] the counter → what is left after taking one back, never below zero.
const REFUND: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0
";

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

    /// Counts one attempt for `key` if its window has room (opening a window if none is open);
    /// `Ok(Err(retry_after))` when it is full. Check and count are one Lua script, so
    /// concurrent attempts on any number of instances can never all pass a check together.
    pub async fn reserve(&self, key: &ThrottleKey) -> Result<Result<(), Duration>, StoreError> {
        let period_ms =
            i64::try_from(self.rate.period.whole_milliseconds().max(1)).unwrap_or(i64::MAX);
        let (admitted, ttl_ms): (i64, i64) = self
            .link
            .cmd(
                redis::cmd("EVAL")
                    .arg(RESERVE)
                    .arg(1)
                    .arg(self.redis_key(key))
                    .arg(self.rate.limit)
                    .arg(period_ms),
            )
            .await?;
        Ok(if admitted == 1 {
            Ok(())
        } else {
            Err(match ttl_ms {
                ms if ms > 0 => Duration::milliseconds(ms),
                // The window ended in the same instant; the next attempt opens a new one.
                _ => Duration::milliseconds(1),
            })
        })
    }

    /// Gives back one admitted attempt of `key` (never below zero; the window keeps its end).
    pub async fn refund(&self, key: &ThrottleKey) -> Result<(), StoreError> {
        self.link
            .cmd::<i64>(
                redis::cmd("EVAL")
                    .arg(REFUND)
                    .arg(1)
                    .arg(self.redis_key(key)),
            )
            .await
            .map(drop)
    }

    /// Forgets `key`'s attempts (after a successful login).
    pub async fn reset(&self, key: &ThrottleKey) -> Result<(), StoreError> {
        self.link
            .cmd::<i64>(redis::cmd("DEL").arg(self.redis_key(key)))
            .await
            .map(drop)
    }

    /// Hashed, so that emails and addresses are not kept in Redis in clear.
    fn redis_key(&self, key: &ThrottleKey) -> String {
        let digest = Sha256::digest(key.as_str().as_bytes());
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
        let alice =
            ThrottleKey::account(&tessera_core::Email::parse("alice@example.test").unwrap());
        let bob = ThrottleKey::account(&tessera_core::Email::parse("bob@example.test").unwrap());
        let key = throttle.redis_key(&alice);
        assert_eq!(key.len(), "tessera:throttle:login_ip:".len() + 64);
        assert!(key.starts_with("tessera:throttle:login_ip:"));
        assert!(!key.contains("alice"));
        assert_ne!(key, throttle.redis_key(&bob));
    }
}
