//! Access tokens and the revoked-session set. Filled in by the token-auth work.

use tessera_core::SessionId;
use time::OffsetDateTime;

use crate::auth::Principal;
use crate::state::AppState;

pub fn access_principal(_state: &AppState, _token: &str, _from_cookie: bool) -> Option<Principal> {
    None
}

pub fn is_revoked(_state: &AppState, _id: SessionId) -> bool {
    false
}

pub fn mark_revoked(_state: &AppState, _id: SessionId, _at: OffsetDateTime) {}
