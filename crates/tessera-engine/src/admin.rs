//! The admin API key check.

use secrecy::ExposeSecret as _;
use tessera_core::secret::constant_time_eq;
use tessera_core::throttle::ThrottleKey;

use crate::error::{EngineError, EngineResult};
use crate::{Caller, Engine};

/// Whether `presented` is the configured admin key (`admin.api_key`; with none set, nothing
/// is). Counted against the caller's address before the comparison, so concurrent guesses
/// cannot all pass; a match is given back, and so is a request that also carries the caller's
/// own valid credential (`user_credential`): that is a user, not a guess at the key.
pub async fn is_admin_key(
    engine: &Engine,
    presented: &str,
    user_credential: bool,
    caller: &Caller,
) -> EngineResult<bool> {
    let Some(key) = &engine.settings.admin_api_key else {
        return Ok(false);
    };
    let limiter = &engine.throttles.admin_key_per_ip;
    let ticket = limiter
        .reserve(&ThrottleKey::ip(caller.ip), engine.clock.as_ref())
        .await
        .map_err(EngineError::rate_limited)?;
    let matches = constant_time_eq(presented.as_bytes(), key.expose_secret().as_bytes());
    if matches || user_credential {
        limiter.refund(ticket).await;
    }
    Ok(matches)
}
