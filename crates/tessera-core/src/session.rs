//! Session lifetime rules: a sliding idle timeout inside a hard absolute timeout.

use time::{Duration, OffsetDateTime};

use crate::model::{Session, SessionKind};
use crate::secret::TokenHash;
use crate::types::{SessionId, UserId};

/// Longest user-agent string kept with a session; the rest is noise and a storage-abuse vector.
pub const USER_AGENT_MAX_CHARS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetimes {
    pub idle: Duration,
    pub absolute: Duration,
}

/// The state of the account a session belongs to, as far as a session check cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    Active,
    Locked,
}

impl Account {
    pub const fn from_locked(locked: bool) -> Self {
        if locked {
            Self::Locked
        } else {
            Self::Active
        }
    }
}

/// The answer of [`SessionLifetimes::verdict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Live,
    Expired,
    Revoked,
    Locked,
}

impl Liveness {
    pub const fn is_live(self) -> bool {
        matches!(self, Self::Live)
    }
}

/// A session with what a check needs to know about its account: the record the session caches
/// (in-process and shared) hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub session: Session,
    pub email: crate::types::Email,
    pub locked: bool,
    /// The user's roles and custom claims as of when the record was read.
    pub roles: crate::authz::Roles,
    pub claims: crate::authz::CustomClaims,
}

impl SessionRecord {
    pub fn verdict(&self, revoked: bool, now: OffsetDateTime) -> Liveness {
        SessionLifetimes::verdict(
            &self.session,
            Account::from_locked(self.locked),
            revoked,
            now,
        )
    }
}

/// Who is opening a session and from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub fn new(ip: Option<String>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent.map(|ua| {
            ua.chars()
                .filter(|c| !c.is_control())
                .take(USER_AGENT_MAX_CHARS)
                .collect()
        });
        Self { ip, user_agent }
    }
}

impl SessionLifetimes {
    /// A brand-new session: a fresh random id, never one the client suggested.
    pub fn open(
        &self,
        user_id: UserId,
        kind: SessionKind,
        secret_hash: TokenHash,
        client: ClientInfo,
        now: OffsetDateTime,
    ) -> Session {
        let expires_at = now + self.absolute;
        Session {
            id: SessionId::random(),
            user_id,
            kind,
            secret_hash,
            created_at: now,
            last_seen_at: now,
            idle_expires_at: (now + self.idle).min(expires_at),
            expires_at,
            ip: client.ip,
            user_agent: client.user_agent,
            revoked_at: None,
            scope: None,
            amr: crate::factor::Amr::PASSWORD,
            factor_at: None,
        }
    }

    pub fn is_live(session: &Session, now: OffsetDateTime) -> bool {
        session.revoked_at.is_none() && now < session.idle_expires_at && now < session.expires_at
    }

    /// Whether a check may accept `session` at `now`. Every path that asks "is this session
    /// usable" asks here, the caches included, with what it knows besides the record: whether
    /// the account is locked and whether the session is in the revoked set (a revocation this
    /// instance has heard of before its copy of the record shows it).
    pub fn verdict(
        session: &Session,
        account: Account,
        revoked: bool,
        now: OffsetDateTime,
    ) -> Liveness {
        if revoked || session.revoked_at.is_some() {
            Liveness::Revoked
        } else if account == Account::Locked {
            Liveness::Locked
        } else if now >= session.idle_expires_at || now >= session.expires_at {
            Liveness::Expired
        } else {
            Liveness::Live
        }
    }

    /// The activity write a request at `now` calls for, if any.
    ///
    /// Writes are coalesced: the stored `last_seen_at` moves only once a tenth of the idle
    /// timeout (at least one second) has passed, so a busy session costs about zero writes per
    /// request. The price is that a session may idle out up to that tenth early — never late.
    pub fn touch(&self, session: &Session, now: OffsetDateTime) -> Option<Touch> {
        let granularity = (self.idle / 10_i32).max(Duration::SECOND);
        if now - session.last_seen_at < granularity {
            return None;
        }
        Some(Touch {
            last_seen_at: now,
            idle_expires_at: (now + self.idle).min(session.expires_at),
        })
    }

    /// Seconds of absolute lifetime left: the cookie's `Max-Age`.
    pub fn max_age_seconds(session: &Session, now: OffsetDateTime) -> i64 {
        (session.expires_at - now).whole_seconds().max(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch {
    pub last_seen_at: OffsetDateTime,
    pub idle_expires_at: OffsetDateTime,
}

impl Touch {
    pub fn apply(self, session: &mut Session) {
        session.last_seen_at = self.last_seen_at;
        session.idle_expires_at = self.idle_expires_at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, TestClock};

    fn lifetimes() -> SessionLifetimes {
        SessionLifetimes {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
        }
    }

    fn open(clock: &TestClock) -> Session {
        lifetimes().open(
            UserId::random(),
            SessionKind::Cookie,
            TokenHash::of("x"),
            ClientInfo::default(),
            clock.now(),
        )
    }

    #[test]
    fn idle_timeout_slides_with_activity() {
        let clock = TestClock::starting_now();
        let mut s = open(&clock);
        clock.advance(Duration::minutes(20));
        assert!(SessionLifetimes::is_live(&s, clock.now()));
        lifetimes()
            .touch(&s, clock.now())
            .expect("20 min of silence needs a write")
            .apply(&mut s);
        clock.advance(Duration::minutes(25));
        assert!(
            SessionLifetimes::is_live(&s, clock.now()),
            "activity at 20m extends to 50m"
        );
        clock.advance(Duration::minutes(6));
        assert!(!SessionLifetimes::is_live(&s, clock.now()));
    }

    #[test]
    fn absolute_timeout_does_not_slide() {
        let clock = TestClock::starting_now();
        let mut s = open(&clock);
        for _ in 0..(12 * 4) {
            clock.advance(Duration::minutes(15));
            if let Some(t) = lifetimes().touch(&s, clock.now()) {
                t.apply(&mut s);
            }
        }
        assert!(
            !SessionLifetimes::is_live(&s, clock.now()),
            "12 h is a hard limit"
        );
        assert!(s.idle_expires_at <= s.expires_at);
    }

    #[test]
    fn touches_are_coalesced() {
        let clock = TestClock::starting_now();
        let s = open(&clock);
        clock.advance(Duration::seconds(30));
        assert_eq!(lifetimes().touch(&s, clock.now()), None);
        clock.advance(Duration::minutes(3));
        assert!(lifetimes().touch(&s, clock.now()).is_some());
    }

    #[test]
    fn revoked_session_is_dead() {
        let clock = TestClock::starting_now();
        let mut s = open(&clock);
        s.revoked_at = Some(clock.now());
        assert!(!SessionLifetimes::is_live(&s, clock.now()));
    }

    #[test]
    fn user_agent_is_truncated_and_stripped_of_controls() {
        let info = ClientInfo::new(None, Some(&format!("a\r\nb{}", "x".repeat(1000))));
        let ua = info.user_agent.unwrap();
        assert_eq!(ua.chars().count(), USER_AGENT_MAX_CHARS);
        assert!(ua.starts_with("abx"));
    }
}
