//! Throttles: in-process, or shared by every instance through Redis when `cache.url` is set.
//!
//! Every throttle counts an attempt when it *admits* it, before the work it guards runs (a
//! password hash, a secret comparison): a check made first and counted only after a slow hash
//! lets any number of concurrent attempts through. An attempt that turns out not to count (a
//! successful login, for a throttle of failures) is refunded afterwards.
//!
//! With Redis, an attacker spreading guesses over N instances still gets one budget. If Redis
//! fails, the in-process counter takes over for that call (logged and counted), so an outage
//! of the cache degrades the limit to per-instance instead of turning it off.

use std::sync::{Mutex, PoisonError};

use tessera_core::throttle::{Admitted, Rate, Throttle, ThrottleKey};
use tessera_core::{Clock, StoreError};
use tessera_store::RedisThrottle;
use time::Duration;

use crate::outage::Outage;

/// One throttle. Each has its own name, and with it its own key space in Redis and its own
/// in-process map: no key of one throttle can reach another's counters.
#[derive(Debug)]
pub struct Limiter {
    local: Mutex<Throttle>,
    shared: Option<RedisThrottle>,
    outage: Outage,
}

/// Proof that an attempt was admitted, and where it was counted, for [`Limiter::refund`].
#[derive(Debug)]
#[must_use = "an admitted attempt stays counted unless it is refunded"]
pub struct Ticket {
    key: ThrottleKey,
    counted: Counted,
}

#[derive(Debug)]
enum Counted {
    Local(Admitted),
    Shared,
}

impl Limiter {
    pub fn new(name: &str, rate: Rate, cache_url: Option<&str>) -> Result<Self, StoreError> {
        let shared = cache_url
            .map(str::trim)
            .filter(|url| !url.is_empty())
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

    /// Counts one attempt for `key`; `Err(retry_after)` when its window is full.
    pub async fn reserve(&self, key: &ThrottleKey, clock: &dyn Clock) -> Result<Ticket, Duration> {
        if let Some(shared) = &self.shared {
            match shared.reserve(key).await {
                Ok(verdict) => {
                    self.recovered();
                    return verdict.map(|()| Ticket {
                        key: key.clone(),
                        counted: Counted::Shared,
                    });
                }
                Err(err) => self.degraded(&err),
            }
        }
        let admitted = self.local().reserve(key, clock.now())?;
        Ok(Ticket {
            key: key.clone(),
            counted: Counted::Local(admitted),
        })
    }

    /// Gives an admitted attempt back, where it was counted.
    pub async fn refund(&self, ticket: Ticket) {
        match ticket.counted {
            Counted::Local(admitted) => self.local().refund(&ticket.key, admitted),
            Counted::Shared => {
                if let Some(shared) = &self.shared {
                    match shared.refund(&ticket.key).await {
                        Ok(()) => self.recovered(),
                        Err(err) => self.degraded(&err),
                    }
                }
            }
        }
    }

    /// Forgets every attempt of `key`, wherever it was counted.
    pub async fn reset(&self, key: &ThrottleKey) {
        if let Some(shared) = &self.shared {
            match shared.reset(key).await {
                Ok(()) => self.recovered(),
                Err(err) => self.degraded(&err),
            }
        }
        self.local().reset(key);
    }

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

/// Counts one attempt on each `(limiter, key)` in order; all or nothing. When one refuses, the
/// attempt is given back to those that had admitted it — only attempts that go on to the work
/// the throttles guard are counted — and `Err(retry_after)` says how long the refusing one
/// needs. The tickets come back in the order given.
pub async fn reserve_all(
    steps: &[(&Limiter, &ThrottleKey)],
    clock: &dyn Clock,
) -> Result<Vec<Ticket>, Duration> {
    let mut admitted = Vec::with_capacity(steps.len());
    for (limiter, key) in steps {
        match limiter.reserve(key, clock).await {
            Ok(ticket) => admitted.push(ticket),
            Err(wait) => {
                for ((limiter, _), ticket) in steps.iter().zip(admitted) {
                    limiter.refund(ticket).await;
                }
                return Err(wait);
            }
        }
    }
    Ok(admitted)
}

/// Every throttle of the server. Each guards one kind of attempt with its own counters.
#[derive(Debug)]
pub struct Throttles {
    /// Failed logins per client address (a success refunds its attempt).
    pub login_per_ip: Limiter,
    /// Failed logins per account (a success resets the account).
    pub login_per_account: Limiter,
    /// Every login attempt per client address, successful or not: each costs a hash.
    pub login_attempts_per_ip: Limiter,
    /// Wrong current passwords per user on a password change.
    pub password_change: Limiter,
    /// Sign-up attempts per client address, and from everyone together.
    pub signup_per_ip: Limiter,
    pub signup_global: Limiter,
    /// Wrong admin API keys, and wrong client credentials, per client address.
    pub admin_key_per_ip: Limiter,
    pub client_secret_per_ip: Limiter,
    /// Password-reset requests per client address and per address asked about.
    pub password_reset_per_ip: Limiter,
    pub password_reset_per_account: Limiter,
    /// Verification mails asked for again, per address.
    pub verification_resend: Limiter,
    /// Address-change requests per user.
    pub email_change: Limiter,
    /// Second-factor codes tried per user (a success resets the user).
    pub mfa_per_user: Limiter,
}

impl Throttles {
    pub fn new(
        limits: &crate::settings::Limits,
        cache_url: Option<&str>,
    ) -> Result<Self, StoreError> {
        let limiter = |name: &str, rate: Rate| Limiter::new(name, rate, cache_url);
        Ok(Self {
            login_per_ip: limiter("login_ip", limits.login_per_ip)?,
            login_per_account: limiter("login_account", limits.login_per_account)?,
            login_attempts_per_ip: limiter("login_attempts_ip", limits.login_attempts_per_ip)?,
            password_change: limiter("password_change", limits.password_change_per_user)?,
            signup_per_ip: limiter("signup_ip", limits.signup_per_ip)?,
            signup_global: limiter("signup_global", limits.signup_global)?,
            admin_key_per_ip: limiter("admin_key_ip", limits.admin_key_per_ip)?,
            client_secret_per_ip: limiter("client_secret_ip", limits.client_secret_per_ip)?,
            password_reset_per_ip: limiter("reset_ip", limits.password_reset_per_ip)?,
            password_reset_per_account: limiter(
                "reset_account",
                limits.password_reset_per_account,
            )?,
            verification_resend: limiter("verify_resend", limits.verification_resend_per_account)?,
            email_change: limiter("email_change", limits.email_change_per_user)?,
            mfa_per_user: limiter("mfa_user", limits.mfa_per_user)?,
        })
    }
}
