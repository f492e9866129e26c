//! Signing-key rotation rules, as pure functions from the stored keys and `now` to a list of
//! changes. The caller persists the changes ([`persist`]) and rebuilds the ring.
//!
//! Lifecycle: `next` (published, not signing) → `current` (signing) → `retired` (published
//! until every token it signed has expired) → deleted. A key is published as `next` before it
//! signs, so a resource server's JWKS cache knows it before the first token it signs arrives.
//!
//! Instances that share a store must reload their ring after a rotation: until they do they
//! keep signing with the key that was current when they loaded.

use tessera_core::store::{KeyStore, StoreResult};
use tessera_core::{KeyState, SigningKeyRecord};
use time::OffsetDateTime;

use crate::alg::Alg;
use crate::crypt::EncryptionKey;
use crate::keys::generate_key;
use crate::TokenConfig;

/// One step of a plan, in the order it must be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    Insert(SigningKeyRecord),
    /// The store records `at` as `activated_at` for `current` and `retired_at` for `retired`.
    SetState {
        kid: String,
        state: KeyState,
        at: OffsetDateTime,
    },
    Delete {
        kid: String,
    },
}

/// What a server runs at start: on an empty store it creates a current key and a next key.
/// Otherwise it only repairs: a missing `next` is created, and if `token.algorithm` was changed
/// the keys are rotated onto the new algorithm (the old key keeps verifying while retired).
/// Returns nothing to do when the keys are already in order, so it is safe on every start.
pub fn ensure_initial(
    records: &[SigningKeyRecord],
    cfg: &TokenConfig,
    now: OffsetDateTime,
    encryption_key: Option<&EncryptionKey>,
) -> Vec<KeyChange> {
    let alg = cfg.algorithm;
    let currents: Vec<_> = in_state(records, KeyState::Current).collect();
    if currents.is_empty() || currents.iter().any(|r| r.algorithm != alg.as_str()) {
        return plan_rotation(records, cfg, now, encryption_key);
    }
    let mut changes = drop_foreign_nexts(records, alg);
    if !in_state(records, KeyState::Next).any(|r| r.algorithm == alg.as_str()) {
        changes.insert(
            0,
            KeyChange::Insert(generate_key(alg, now, KeyState::Next, encryption_key)),
        );
    }
    changes
}

/// `tessera keys rotate`: the oldest `next` key of the configured algorithm becomes current
/// (a fresh one if there is none), the current key retires, a new `next` is pre-published, and
/// retired keys past their horizon are deleted.
///
/// Promoting a key created in the same breath (no `next` existed) means JWKS caches have not
/// seen it yet; verifiers refetch on an unknown `kid`, but the normal path never needs that.
pub fn plan_rotation(
    records: &[SigningKeyRecord],
    cfg: &TokenConfig,
    now: OffsetDateTime,
    encryption_key: Option<&EncryptionKey>,
) -> Vec<KeyChange> {
    let alg = cfg.algorithm;
    let mut changes = Vec::new();
    // Pre-publish the successor first, so no reader of the store sees a ring without a next.
    changes.push(KeyChange::Insert(generate_key(
        alg,
        now,
        KeyState::Next,
        encryption_key,
    )));
    let promoted = in_state(records, KeyState::Next)
        .filter(|r| r.algorithm == alg.as_str())
        .min_by_key(|r| r.created_at);
    match promoted {
        Some(next) => changes.push(KeyChange::SetState {
            kid: next.kid.clone(),
            state: KeyState::Current,
            at: now,
        }),
        None => changes.push(KeyChange::Insert(generate_key(
            alg,
            now,
            KeyState::Current,
            encryption_key,
        ))),
    }
    // Retire only after the successor signs: a reader in between sees two current keys (both
    // verify, the newer signs) rather than none.
    changes.extend(
        in_state(records, KeyState::Current).map(|r| KeyChange::SetState {
            kid: r.kid.clone(),
            state: KeyState::Retired,
            at: now,
        }),
    );
    changes.extend(drop_foreign_nexts(records, alg));
    changes.extend(plan_prune(records, cfg, now));
    changes
}

/// Deletes retired keys whose every token has expired: `retired_at + access_ttl + leeway` has
/// been reached. A retired key without `retired_at` is kept, since nothing says when it stopped
/// signing.
pub fn plan_prune(
    records: &[SigningKeyRecord],
    cfg: &TokenConfig,
    now: OffsetDateTime,
) -> Vec<KeyChange> {
    let horizon = cfg.token_horizon();
    in_state(records, KeyState::Retired)
        .filter(|r| r.retired_at.is_some_and(|at| at + horizon <= now))
        .map(|r| KeyChange::Delete { kid: r.kid.clone() })
        .collect()
}

/// `next` keys of another algorithm (left over from before `token.algorithm` changed) never
/// signed anything, so they can go at once.
fn drop_foreign_nexts(records: &[SigningKeyRecord], alg: Alg) -> Vec<KeyChange> {
    in_state(records, KeyState::Next)
        .filter(|r| r.algorithm != alg.as_str())
        .map(|r| KeyChange::Delete { kid: r.kid.clone() })
        .collect()
}

fn in_state(
    records: &[SigningKeyRecord],
    state: KeyState,
) -> impl Iterator<Item = &SigningKeyRecord> {
    records.iter().filter(move |r| r.state == state)
}

/// Applies a plan to an in-memory list the way a store applies it, e.g. to build the new ring
/// without listing the keys again.
pub fn apply(records: &mut Vec<SigningKeyRecord>, changes: &[KeyChange]) {
    for change in changes {
        match change {
            KeyChange::Insert(record) => records.push(record.clone()),
            KeyChange::SetState { kid, state, at } => {
                if let Some(record) = records.iter_mut().find(|r| &r.kid == kid) {
                    record.state = *state;
                    match state {
                        KeyState::Current => record.activated_at = Some(*at),
                        KeyState::Retired => record.retired_at = Some(*at),
                        KeyState::Next => {}
                    }
                }
            }
            KeyChange::Delete { kid } => records.retain(|r| &r.kid != kid),
        }
    }
}

/// Applies a plan to the store, in order.
pub async fn persist(store: &dyn KeyStore, changes: &[KeyChange]) -> StoreResult<()> {
    for change in changes {
        match change {
            KeyChange::Insert(record) => store.insert_key(record).await?,
            KeyChange::SetState { kid, state, at } => {
                store.set_key_state(kid, *state, *at).await?;
            }
            KeyChange::Delete { kid } => {
                store.delete_key(kid).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;

    fn cfg(alg: Alg) -> TokenConfig {
        TokenConfig {
            algorithm: alg,
            ..TokenConfig::new("https://issuer.test", "tessera")
        }
    }

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
    }

    fn kids(records: &[SigningKeyRecord], state: KeyState) -> Vec<String> {
        in_state(records, state).map(|r| r.kid.clone()).collect()
    }

    #[test]
    fn first_start_creates_current_and_next_then_is_idempotent() {
        let cfg = cfg(Alg::EdDSA);
        let mut records = Vec::new();
        let changes = ensure_initial(&records, &cfg, t0(), None);
        apply(&mut records, &changes);
        assert_eq!(kids(&records, KeyState::Current).len(), 1);
        assert_eq!(kids(&records, KeyState::Next).len(), 1);
        assert!(kids(&records, KeyState::Retired).is_empty());
        assert!(ensure_initial(&records, &cfg, t0(), None).is_empty());
    }

    #[test]
    fn rotation_promotes_next_retires_current_and_prepublishes() {
        let cfg = cfg(Alg::EdDSA);
        let mut records = Vec::new();
        let changes = ensure_initial(&records, &cfg, t0(), None);
        apply(&mut records, &changes);
        let old_current = kids(&records, KeyState::Current);
        let old_next = kids(&records, KeyState::Next);

        let at = t0() + Duration::days(1);
        let changes = plan_rotation(&records, &cfg, at, None);
        apply(&mut records, &changes);
        assert_eq!(kids(&records, KeyState::Current), old_next);
        assert_eq!(kids(&records, KeyState::Retired), old_current);
        let new_next = kids(&records, KeyState::Next);
        assert_eq!(new_next.len(), 1);
        assert!(!old_next.contains(&new_next[0]) && !old_current.contains(&new_next[0]));
        let current = records
            .iter()
            .find(|r| r.state == KeyState::Current)
            .unwrap();
        assert_eq!(current.activated_at, Some(at));
        let retired = records
            .iter()
            .find(|r| r.state == KeyState::Retired)
            .unwrap();
        assert_eq!(retired.retired_at, Some(at));
    }

    #[test]
    fn rotation_without_next_still_leaves_current_and_next() {
        let cfg = cfg(Alg::ES256);
        let records = vec![generate_key(Alg::ES256, t0(), KeyState::Current, None)];
        let mut after = records.clone();
        apply(&mut after, &plan_rotation(&records, &cfg, t0(), None));
        assert_eq!(kids(&after, KeyState::Current).len(), 1);
        assert_eq!(kids(&after, KeyState::Next).len(), 1);
        assert_eq!(
            kids(&after, KeyState::Retired),
            kids(&records, KeyState::Current)
        );
    }

    #[test]
    fn retired_key_is_pruned_only_after_ttl_plus_leeway() {
        let cfg = cfg(Alg::EdDSA);
        let mut records = Vec::new();
        let changes = ensure_initial(&records, &cfg, t0(), None);
        apply(&mut records, &changes);
        let changes = plan_rotation(&records, &cfg, t0(), None);
        apply(&mut records, &changes);
        let retired = kids(&records, KeyState::Retired);
        let horizon = cfg.access_ttl + cfg.leeway;
        let almost = t0() + horizon - Duration::milliseconds(1);
        assert!(plan_prune(&records, &cfg, almost).is_empty());
        let due = plan_prune(&records, &cfg, t0() + horizon);
        assert_eq!(
            due,
            vec![KeyChange::Delete {
                kid: retired[0].clone()
            }]
        );
        apply(&mut records, &due);
        assert!(kids(&records, KeyState::Retired).is_empty());
        assert_eq!(records.len(), 2);
    }

    #[test]
    fn algorithm_change_rotates_on_start() {
        let mut records = Vec::new();
        let changes = ensure_initial(&records, &cfg(Alg::EdDSA), t0(), None);
        apply(&mut records, &changes);
        let (ed_current, ed_next) = (
            kids(&records, KeyState::Current),
            kids(&records, KeyState::Next),
        );
        let rs = cfg(Alg::ES256);
        let changes = ensure_initial(&records, &rs, t0(), None);
        apply(&mut records, &changes);
        let current = records
            .iter()
            .find(|r| r.state == KeyState::Current)
            .unwrap();
        assert_eq!(current.algorithm, "ES256");
        assert!(records
            .iter()
            .filter(|r| r.state == KeyState::Next)
            .all(|r| r.algorithm == "ES256"));
        // The EdDSA current key retires (still verifies); its unused next is gone.
        assert_eq!(kids(&records, KeyState::Retired), ed_current);
        assert!(!records.iter().any(|r| r.kid == ed_next[0]));
        assert!(ensure_initial(&records, &rs, t0(), None).is_empty());
    }
}
