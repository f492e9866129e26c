//! Signing-key maintenance: listing, rotating (with the rule that keeps verifiers working), and
//! the periodic reload that picks up rotations made elsewhere.

use std::sync::Arc;

use tessera_core::{KeyState, SigningKeyRecord};
use tessera_token::{rotation, KeyRing};
use time::Duration;

use crate::tokens::TokenSetupError;
use crate::Engine;

/// How long resource servers may cache the JWKS (`Cache-Control: max-age` of the JWKS and
/// discovery documents). A key is published as `next` one rotation before it signs, so this must
/// stay well below the time between rotations; [`rotate`] refuses to promote a key younger than
/// twice this.
pub const JWKS_MAX_AGE_SECS: u64 = 300;

/// How long a `next` key must have been published before it may start signing: two JWKS cache
/// lifetimes, so every verifier that refetches on schedule knows it first.
pub const MIN_PUBLISHED_BEFORE_SIGNING: Duration = Duration::seconds(2 * JWKS_MAX_AGE_SECS as i64);

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(
        "the next key was published {published_secs}s ago; JWKS caches may not have it yet. \
         Wait {wait_secs}s or pass --force"
    )]
    TooSoon { published_secs: i64, wait_secs: i64 },
    #[error(transparent)]
    Setup(#[from] TokenSetupError),
}

/// Every key the store holds, in every state.
pub async fn list(engine: &Engine) -> Result<Vec<SigningKeyRecord>, TokenSetupError> {
    Ok(engine.store.list_keys().await?)
}

/// `tessera keys rotate`: next → current → retired, a fresh next pre-published, expired retired
/// keys deleted. Refused while the key that would start signing (the oldest `next`; with none,
/// a brand-new key) is younger than [`MIN_PUBLISHED_BEFORE_SIGNING`], unless `force`.
/// Returns how many key records changed.
pub async fn rotate(engine: &Engine, force: bool) -> Result<usize, RotateError> {
    let now = engine.clock.now();
    let records = engine
        .store
        .list_keys()
        .await
        .map_err(TokenSetupError::from)?;
    let promoted_age = records
        .iter()
        .filter(|k| k.state == KeyState::Next)
        .map(|k| now - k.created_at)
        .max()
        .unwrap_or(Duration::ZERO);
    if promoted_age < MIN_PUBLISHED_BEFORE_SIGNING && !force {
        return Err(RotateError::TooSoon {
            published_secs: promoted_age.whole_seconds(),
            wait_secs: (MIN_PUBLISHED_BEFORE_SIGNING - promoted_age).whole_seconds(),
        });
    }
    let changes = rotation::plan_rotation(
        &records,
        &engine.tokens.cfg,
        now,
        engine.tokens.encryption_key.as_ref(),
    );
    rotation::persist(engine.store.as_ref(), &changes)
        .await
        .map_err(TokenSetupError::from)?;
    engine.tokens.reload_ring(engine.store.as_ref()).await?;
    Ok(changes.len())
}

/// Keeps the signing ring and the revoked set fresh: picks up rotations made elsewhere and
/// forgets revocations older than any live token.
pub async fn maintain(engine: &Engine) {
    let now = engine.clock.now();
    engine.tokens.verifier.revoked().prune(now);
    engine.tokens.verifier.prune_verified(now);
    if let Err(err) = engine.tokens.reload_ring(engine.store.as_ref()).await {
        tracing::warn!(error = %crate::error::chain(&err), "could not reload signing keys");
    }
    engine.revocation_stream.keys(crate::stream::published_kids(
        &engine.tokens.verifier.ring(),
    ));
}

/// The keys verifiers may use, for the JWKS endpoint.
pub fn jwks(engine: &Engine) -> Arc<KeyRing> {
    engine.tokens.verifier.ring()
}
