//! Login CSRF for the sign-in and sign-up forms, before there is a session to bind a token to.
//!
//! Signed double submit: `GET /login` (and `/signup`) sets a short-lived cookie holding a random
//! nonce and the time it was issued, `HttpOnly; SameSite=Lax; Path=/` and named
//! `__Host-tessera_login_csrf` when cookies are `Secure` (`tessera_login_csrf` otherwise). The
//! form carries `HMAC(server CSRF secret, cookie value)`. A POST must present both, the tag must
//! match in constant time, and the cookie must be younger than [`TTL`]. Another site can neither
//! read the cookie nor compute the tag; a cookie planted by a sibling subdomain (impossible with
//! the `__Host-` prefix) is useless without a tag the server made for it. The handlers also
//! apply the same-origin check, so both defences must be beaten at once.

use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use tessera_core::secret::{constant_time_eq, keyed_tag, random_bytes};
use time::Duration;

use crate::cookies;
use crate::state::AppState;

/// How long a form stays submittable after the page was served.
pub const TTL: Duration = Duration::hours(1);
/// A cookie older than this is replaced when a form is served, so every served form has at
/// least `TTL - REUSE_FOR` left. Reusing a fresh cookie keeps two open tabs working.
const REUSE_FOR: Duration = Duration::minutes(30);
const NONCE_LEN: usize = 43;

pub fn cookie_name(state: &AppState) -> &'static str {
    if state.web.cookies.secure {
        "__Host-tessera_login_csrf"
    } else {
        "tessera_login_csrf"
    }
}

/// The form token to embed, and the cookie to set when a new one was made.
#[derive(Debug)]
pub struct Issued {
    pub token: String,
    pub set_cookie: Option<HeaderValue>,
}

/// The token for a form being served: from the request's cookie when it is still fresh,
/// otherwise from a new cookie.
pub fn issue(state: &AppState, headers: &HeaderMap) -> Issued {
    let now = state.clock.now().unix_timestamp();
    if let Some(value) = cookies::read(headers, cookie_name(state)) {
        if issued_at(&value).is_some_and(|at| age_ok(now, at, REUSE_FOR)) {
            return Issued {
                token: tag(state, &value),
                set_cookie: None,
            };
        }
    }
    let nonce = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    let value = format!("{nonce}.{now}");
    Issued {
        token: tag(state, &value),
        set_cookie: Some(state.web.cookies.set(
            cookie_name(state),
            &value,
            "/",
            TTL.whole_seconds(),
        )),
    }
}

/// Whether `presented` is the tag of the request's fresh pre-session cookie.
pub fn verify(state: &AppState, headers: &HeaderMap, presented: Option<&str>) -> bool {
    let now = state.clock.now().unix_timestamp();
    let (Some(value), Some(presented)) = (cookies::read(headers, cookie_name(state)), presented)
    else {
        return false;
    };
    let fresh = issued_at(&value).is_some_and(|at| age_ok(now, at, TTL));
    // The tag is compared even for a stale cookie: the timing does not depend on freshness.
    let matches = constant_time_eq(presented.as_bytes(), tag(state, &value).as_bytes());
    fresh && matches
}

/// Expires the cookie once it has served its purpose.
pub fn clear(state: &AppState) -> HeaderValue {
    state.web.cookies.clear(cookie_name(state), "/")
}

fn tag(state: &AppState, value: &str) -> String {
    keyed_tag(
        &state.secrets.csrf,
        &[b"tessera-login-csrf-v1", value.as_bytes()],
    )
}

/// The issue time of a well-formed cookie value `nonce.unix_seconds`.
pub(crate) fn issued_at(value: &str) -> Option<i64> {
    let (nonce, at) = value.split_once('.')?;
    let well_formed = nonce.len() == NONCE_LEN
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed || at.is_empty() || !at.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    at.parse().ok()
}

/// Issued no later than a minute from now (clock skew between instances) and at most `max`
/// ago.
pub(crate) fn age_ok(now: i64, issued: i64, max: Duration) -> bool {
    let age = now - issued;
    age >= -60 && age <= max.whole_seconds()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values_must_be_well_formed() {
        let nonce = "a".repeat(NONCE_LEN);
        assert_eq!(
            issued_at(&format!("{nonce}.1700000000")),
            Some(1_700_000_000)
        );
        for bad in [
            String::new(),
            nonce.clone(),
            format!("{nonce}."),
            format!("{nonce}.-5"),
            format!("{nonce}.12x"),
            "short.1700000000".to_owned(),
            format!("{}.1700000000", "a".repeat(NONCE_LEN - 1) + "!"),
        ] {
            assert_eq!(issued_at(&bad), None, "{bad}");
        }
    }

    #[test]
    fn age_window() {
        assert!(age_ok(1000, 1000, TTL));
        assert!(age_ok(1000 + TTL.whole_seconds(), 1000, TTL));
        assert!(!age_ok(1001 + TTL.whole_seconds(), 1000, TTL));
        assert!(age_ok(1000, 1030, TTL), "small skew tolerated");
        assert!(!age_ok(1000, 1100, TTL), "issued in the future");
    }
}
