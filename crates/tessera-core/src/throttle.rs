//! Failed-login throttling: at most `limit` failures per key in a fixed window of `period`.
//!
//! A fixed window is deliberately simple; the window restarts at the first failure after it
//! ends, so an attacker gets at most `2 × limit` tries in any span of one period. The map is
//! pruned as it grows so a spray of distinct keys cannot exhaust memory.

use std::collections::HashMap;
use std::str::FromStr;

use time::{Duration, OffsetDateTime};

use crate::error::ValidationError;

/// "N per period", written `20/min`, `5/hour`, `100/s` or `10/15m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub limit: u32,
    pub period: Duration,
}

impl FromStr for Rate {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ValidationError::new("rate", format!("{s:?} is not a rate like \"20/min\""));
        let (n, per) = s.trim().split_once('/').ok_or_else(err)?;
        let limit: u32 = n.trim().parse().map_err(|_| err())?;
        let period = match per.trim() {
            "s" | "sec" | "second" => Duration::SECOND,
            "m" | "min" | "minute" => Duration::MINUTE,
            "h" | "hour" => Duration::HOUR,
            "d" | "day" => Duration::DAY,
            other => parse_duration(other).ok_or_else(err)?,
        };
        if limit == 0 || period <= Duration::ZERO {
            return Err(err());
        }
        Ok(Self { limit, period })
    }
}

/// Parses `"90s"`, `"15m"`, `"12h"`, `"30d"` (and `"250ms"`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = s.split_at(split);
    let n: i64 = digits.parse().ok()?;
    // Checked arithmetic: an absurd value from a config file must be an error, not a panic.
    let seconds_per_unit = match unit {
        "ms" => return Some(Duration::milliseconds(n)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(seconds_per_unit).map(Duration::seconds)
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: OffsetDateTime,
    failures: u32,
}

const PRUNE_THRESHOLD: usize = 100_000;

#[derive(Debug)]
pub struct Throttle {
    rate: Rate,
    windows: HashMap<String, Window>,
}

impl Throttle {
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            windows: HashMap::new(),
        }
    }

    /// `Err(retry_after)` when `key` has used up its failures for the current window.
    pub fn check(&self, key: &str, now: OffsetDateTime) -> Result<(), Duration> {
        match self.windows.get(key) {
            Some(w) if now - w.started < self.rate.period && w.failures >= self.rate.limit => {
                Err(w.started + self.rate.period - now)
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&mut self, key: &str, now: OffsetDateTime) {
        if self.windows.len() >= PRUNE_THRESHOLD {
            let period = self.rate.period;
            self.windows.retain(|_, w| now - w.started < period);
        }
        let period = self.rate.period;
        let w = self.windows.entry(key.to_owned()).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now - w.started >= period {
            *w = Window {
                started: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }

    pub fn reset(&mut self, key: &str) {
        self.windows.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, TestClock};

    #[test]
    fn parses_rates_and_durations() {
        assert_eq!(
            "20/min".parse::<Rate>().unwrap(),
            Rate {
                limit: 20,
                period: Duration::MINUTE
            }
        );
        assert_eq!(
            "10/15m".parse::<Rate>().unwrap().period,
            Duration::minutes(15)
        );
        assert!("0/min".parse::<Rate>().is_err());
        assert!("abc".parse::<Rate>().is_err());
        assert!("5/fortnight".parse::<Rate>().is_err());
        assert_eq!(parse_duration("90s"), Some(Duration::seconds(90)));
        assert_eq!(parse_duration("30d"), Some(Duration::days(30)));
        assert_eq!(parse_duration("15"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("99999999999999999999s"), None);
    }

    #[test]
    fn blocks_after_limit_until_window_ends() {
        let clock = TestClock::starting_now();
        let mut t = Throttle::new("3/min".parse().unwrap());
        for _ in 0..3 {
            assert!(t.check("ip", clock.now()).is_ok());
            t.record_failure("ip", clock.now());
        }
        clock.advance(Duration::seconds(20));
        assert_eq!(t.check("ip", clock.now()), Err(Duration::seconds(40)));
        assert!(t.check("other", clock.now()).is_ok());
        clock.advance(Duration::seconds(40));
        assert!(t.check("ip", clock.now()).is_ok());
    }

    #[test]
    fn reset_clears_the_key() {
        let clock = TestClock::starting_now();
        let mut t = Throttle::new("1/min".parse().unwrap());
        t.record_failure("acct", clock.now());
        assert!(t.check("acct", clock.now()).is_err());
        t.reset("acct");
        assert!(t.check("acct", clock.now()).is_ok());
    }
}
