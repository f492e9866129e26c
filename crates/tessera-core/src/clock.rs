//! Time as an injected dependency.
//!
//! Every rule that depends on "now" takes it from a [`Clock`]. Production code uses
//! [`SystemClock`]; tests use [`TestClock`] and move it instead of sleeping.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

/// A source of the current time, truncated to whole milliseconds so that every timestamp
/// survives a round trip through any store unchanged.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        truncate_to_millis(OffsetDateTime::now_utc())
    }
}

/// A clock that only moves when told to. Clones share the same time.
#[derive(Debug, Clone)]
pub struct TestClock {
    unix_millis: Arc<AtomicI64>,
}

impl TestClock {
    /// A clock frozen at `start` (truncated to milliseconds).
    pub fn at(start: OffsetDateTime) -> Self {
        Self {
            unix_millis: Arc::new(AtomicI64::new(to_unix_millis(start))),
        }
    }

    /// A clock frozen at the current wall-clock time.
    pub fn starting_now() -> Self {
        Self::at(OffsetDateTime::now_utc())
    }

    pub fn advance(&self, by: Duration) {
        self.unix_millis
            .fetch_add(by.whole_milliseconds() as i64, Ordering::SeqCst);
    }

    pub fn set(&self, to: OffsetDateTime) {
        self.unix_millis.store(to_unix_millis(to), Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        from_unix_millis(self.unix_millis.load(Ordering::SeqCst))
    }
}

/// Milliseconds since the Unix epoch: the representation every store uses for timestamps.
pub fn to_unix_millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The inverse of [`to_unix_millis`]; out-of-range values clamp to the epoch rather than panic,
/// because they can only come from a corrupted row.
pub fn from_unix_millis(millis: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn truncate_to_millis(at: OffsetDateTime) -> OffsetDateTime {
    from_unix_millis(to_unix_millis(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_clock_moves_only_when_told_and_clones_share_time() {
        let clock = TestClock::at(OffsetDateTime::UNIX_EPOCH);
        let shared = clock.clone();
        assert_eq!(clock.now(), OffsetDateTime::UNIX_EPOCH);
        shared.advance(Duration::minutes(5));
        assert_eq!(
            clock.now(),
            OffsetDateTime::UNIX_EPOCH + Duration::minutes(5)
        );
    }

    #[test]
    fn millis_round_trip_is_exact_after_truncation() {
        let now = SystemClock.now();
        assert_eq!(from_unix_millis(to_unix_millis(now)), now);
    }
}
