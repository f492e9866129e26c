//! Throttling: at most `limit` attempts per key in a fixed window of `period`.
//!
//! A fixed window is deliberately simple; the window restarts at the first attempt after it
//! ends, so an attacker gets at most `2 × limit` tries in any span of one period. The map is
//! bounded so a spray of distinct keys cannot exhaust memory.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use time::{Duration, OffsetDateTime};

use crate::error::ValidationError;
use crate::types::{Email, UserId};

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

/// The longest duration [`parse_duration`] accepts: 100 years. Every configured duration is
/// added to a date at some point (a session's expiry, a throttle window's end), and a date
/// past the year 9999 is a panic, not an error.
pub const MAX_DURATION: Duration = Duration::days(36_500);

/// Parses `"90s"`, `"15m"`, `"12h"`, `"30d"` (and `"250ms"`), up to [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = s.split_at(split);
    let n: i64 = digits.parse().ok()?;
    // Checked arithmetic: an absurd value from a config file must be an error, not a panic.
    let seconds_per_unit = match unit {
        "ms" => return Some(Duration::milliseconds(n)).filter(|d| *d <= MAX_DURATION),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(seconds_per_unit)
        .map(Duration::seconds)
        .filter(|d| *d <= MAX_DURATION)
}

/// The block of addresses one client is counted as: an IPv4 address itself (also when it comes
/// IPv4-mapped in IPv6), an IPv6 address's /64 — the smallest block a site is usually given, so
/// one host cannot get a fresh budget (or connection allowance) per address.
pub fn client_block(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// What a throttle counts against: built only from typed values, so no user input can name a
/// key another throttle — or another kind of key in the same throttle — uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ThrottleKey(String);

impl ThrottleKey {
    /// A client address, by its [`client_block`].
    pub fn ip(ip: IpAddr) -> Self {
        Self(match client_block(ip) {
            IpAddr::V4(v4) => format!("ip:{v4}"),
            IpAddr::V6(v6) => format!("ip:{v6}/64"),
        })
    }

    /// An account named by its normalised address, so every spelling that reaches the account
    /// (case, Unicode normalisation, surrounding space) shares one budget.
    pub fn account(email: &Email) -> Self {
        Self(format!("account:{}", email.as_str()))
    }

    /// An existing user, by id.
    pub fn user(id: UserId) -> Self {
        Self(format!("user:{id}"))
    }

    /// The one key of a throttle that counts everyone together.
    pub fn global() -> Self {
        Self("global".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An attempt a throttle let through. Give it back with [`Throttle::refund`] when it turns
/// out not to count (a success, for a throttle of failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    window_started: OffsetDateTime,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: OffsetDateTime,
    attempts: u32,
}

/// Beyond this many keys, windows that have ended are dropped; if that is not enough, the
/// oldest tenth goes, so a spray of distinct keys cannot exhaust memory. Evicting a key only
/// gives it back the rest of its window.
const MAX_KEYS: usize = 100_000;

/// In-process counters. Attempts are counted when they are admitted, *before* the work they
/// guard (a password hash, a key comparison) runs, so concurrent attempts cannot all pass a
/// check that is only counted afterwards.
#[derive(Debug)]
pub struct Throttle {
    rate: Rate,
    windows: HashMap<ThrottleKey, Window>,
}

impl Throttle {
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            windows: HashMap::new(),
        }
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Counts one attempt for `key` if the window has room for it; `Err(retry_after)` when it
    /// is full. A refused attempt is not counted.
    pub fn reserve(
        &mut self,
        key: &ThrottleKey,
        now: OffsetDateTime,
    ) -> Result<Admitted, Duration> {
        let period = self.rate.period;
        if !self.windows.contains_key(key) && self.windows.len() >= MAX_KEYS {
            self.make_room(now);
        }
        let window = self.windows.entry(key.clone()).or_insert(Window {
            started: now,
            attempts: 0,
        });
        if now - window.started >= period {
            *window = Window {
                started: now,
                attempts: 0,
            };
        }
        if window.attempts >= self.rate.limit {
            return Err(window.started + period - now);
        }
        window.attempts += 1;
        Ok(Admitted {
            window_started: window.started,
        })
    }

    /// Gives an admitted attempt back, if its window is still the current one.
    pub fn refund(&mut self, key: &ThrottleKey, admitted: Admitted) {
        if let Some(window) = self.windows.get_mut(key) {
            if window.started == admitted.window_started {
                window.attempts = window.attempts.saturating_sub(1);
            }
        }
    }

    /// Forgets every attempt of `key`.
    pub fn reset(&mut self, key: &ThrottleKey) {
        self.windows.remove(key);
    }

    fn make_room(&mut self, now: OffsetDateTime) {
        let period = self.rate.period;
        self.windows.retain(|_, w| now - w.started < period);
        if self.windows.len() >= MAX_KEYS {
            let mut starts: Vec<OffsetDateTime> =
                self.windows.values().map(|w| w.started).collect();
            let cut = starts.len() / 10;
            let (_, oldest_kept, _) = starts.select_nth_unstable(cut);
            let oldest_kept = *oldest_kept;
            self.windows.retain(|_, w| w.started >= oldest_kept);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.windows.len()
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
        assert_eq!(parse_duration("36500d"), Some(MAX_DURATION));
        // Fit in an i64 of seconds but not after a date: found while writing the `config_toml`
        // fuzz target's oracle (session expiry at login panicked past the year 9999).
        for too_long in [
            "36501d",
            "3000000d",
            "9223372036854775807s",
            "9223372036854775807ms",
        ] {
            assert_eq!(parse_duration(too_long), None, "{too_long}");
        }
        assert!("1/36501d".parse::<Rate>().is_err());
    }

    fn key(name: &str) -> ThrottleKey {
        ThrottleKey::account(&Email::parse(&format!("{name}@example.test")).unwrap())
    }

    #[test]
    fn admits_up_to_the_limit_then_refuses_until_the_window_ends() {
        let clock = TestClock::starting_now();
        let mut t = Throttle::new("3/min".parse().unwrap());
        for _ in 0..3 {
            assert!(t.reserve(&key("a"), clock.now()).is_ok());
        }
        clock.advance(Duration::seconds(20));
        assert_eq!(
            t.reserve(&key("a"), clock.now()),
            Err(Duration::seconds(40))
        );
        // A refused attempt is not counted: the window still ends on time.
        assert!(t.reserve(&key("b"), clock.now()).is_ok());
        clock.advance(Duration::seconds(40));
        assert!(t.reserve(&key("a"), clock.now()).is_ok());
    }

    #[test]
    fn a_refund_gives_back_one_attempt_of_the_same_window_only() {
        let clock = TestClock::starting_now();
        let mut t = Throttle::new("2/min".parse().unwrap());
        let first = t.reserve(&key("a"), clock.now()).unwrap();
        t.reserve(&key("a"), clock.now()).unwrap();
        assert!(t.reserve(&key("a"), clock.now()).is_err());
        t.refund(&key("a"), first);
        assert!(t.reserve(&key("a"), clock.now()).is_ok());
        assert!(t.reserve(&key("a"), clock.now()).is_err());

        // A refund from a window that has ended does not touch the new one.
        let old = first;
        clock.advance(Duration::MINUTE);
        t.reserve(&key("a"), clock.now()).unwrap();
        t.reserve(&key("a"), clock.now()).unwrap();
        t.refund(&key("a"), old);
        assert!(t.reserve(&key("a"), clock.now()).is_err());
    }

    #[test]
    fn reset_clears_the_key() {
        let clock = TestClock::starting_now();
        let mut t = Throttle::new("1/min".parse().unwrap());
        t.reserve(&key("acct"), clock.now()).unwrap();
        assert!(t.reserve(&key("acct"), clock.now()).is_err());
        t.reset(&key("acct"));
        assert!(t.reserve(&key("acct"), clock.now()).is_ok());
    }

    #[test]
    fn a_spray_of_distinct_keys_stays_bounded() {
        let clock = TestClock::starting_now();
        let mut t = Throttle::new("5/hour".parse().unwrap());
        for n in 0..(MAX_KEYS + 5_000) {
            clock.advance(Duration::milliseconds(1));
            let ip = IpAddr::from((n as u32).to_be_bytes());
            assert!(t.reserve(&ThrottleKey::ip(ip), clock.now()).is_ok());
        }
        assert!(t.len() <= MAX_KEYS);
        // The newest keys are still counted.
        let last = IpAddr::from(((MAX_KEYS + 4_999) as u32).to_be_bytes());
        for _ in 0..4 {
            t.reserve(&ThrottleKey::ip(last), clock.now()).unwrap();
        }
        assert!(t.reserve(&ThrottleKey::ip(last), clock.now()).is_err());
    }

    #[test]
    fn ipv6_is_keyed_on_its_64_and_mapped_ipv4_on_the_ipv4_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ThrottleKey::ip(a), ThrottleKey::ip(b));
        assert_ne!(ThrottleKey::ip(a), ThrottleKey::ip(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(ThrottleKey::ip(mapped), ThrottleKey::ip(v4));
        assert_ne!(
            ThrottleKey::ip(v4),
            ThrottleKey::ip("192.0.2.8".parse().unwrap())
        );
    }

    #[test]
    fn every_spelling_of_an_address_is_one_account_key() {
        let nfc = Email::parse("jos\u{e9}@example.test").unwrap();
        let nfd = Email::parse(" JOSE\u{301}@Example.test ").unwrap();
        assert_eq!(ThrottleKey::account(&nfc), ThrottleKey::account(&nfd));
    }

    #[test]
    fn key_kinds_never_collide() {
        let id = UserId::random();
        // Whatever an address spells, it stays inside the account keys.
        let tricky = Email::parse(&format!("user.{id}@example.test")).unwrap();
        assert!(ThrottleKey::account(&tricky)
            .as_str()
            .starts_with("account:"));
        assert_ne!(ThrottleKey::account(&tricky), ThrottleKey::user(id));
        assert_ne!(ThrottleKey::account(&tricky), ThrottleKey::global());
    }
}
