//! The store conformance suite: one set of cases that every backend must pass unchanged.
//!
//! Two ways to run it:
//! - [`conformance_tests!`](crate::conformance_tests) generates one `#[tokio::test]` per case
//!   from an expression that yields a fresh `Option<Fixture<S>>` (evaluated once per case;
//!   `None` skips, e.g. when Postgres is absent outside CI). The calling crate needs `tokio`
//!   with the `macros` and `rt-multi-thread` features.
//! - [`run_all`] runs every case in sequence, each on a fresh fixture from a factory.
//!
//! Every case gets its own store, so cases may assume they are alone in it.

mod audit;
mod authz;
mod email;
mod factors;
pub mod fixtures;
mod keys;
mod passkeys;
mod refresh;
mod sessions;
pub mod support;
mod users;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tessera_core::store::Store;

pub use audit::*;
pub use authz::*;
pub use email::*;
pub use factors::*;
pub use keys::*;
pub use passkeys::*;
pub use refresh::*;
pub use sessions::*;
pub use users::*;

pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Cleanup = Box<dyn FnOnce() -> BoxFuture + Send>;

/// A store made for one case, and how to dispose of whatever it lives in.
pub struct Fixture<S> {
    pub store: Arc<S>,
    cleanup: Option<Cleanup>,
}

impl<S> Fixture<S> {
    pub fn new(store: S) -> Self {
        Self {
            store: Arc::new(store),
            cleanup: None,
        }
    }

    /// `cleanup` runs after the case, whether it passed or panicked.
    pub fn with_cleanup<F, Fut>(store: S, cleanup: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            store: Arc::new(store),
            cleanup: Some(Box::new(move || Box::pin(cleanup()))),
        }
    }

    pub async fn teardown(mut self) {
        if let Some(cleanup) = self.cleanup.take() {
            cleanup().await;
        }
    }
}

impl<S> std::fmt::Debug for Fixture<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture").finish_non_exhaustive()
    }
}

/// Runs one case on the fixture `fixture` yields, then tears the fixture down. A panicking case
/// still gets its teardown (it runs in its own task), and the panic is then passed on.
pub async fn run_case<S, C, Fut>(fixture: impl Future<Output = Option<Fixture<S>>>, case: C)
where
    S: Store + 'static,
    C: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(fixture) = fixture.await else {
        return;
    };
    let store: Arc<dyn Store> = fixture.store.clone();
    let outcome = tokio::spawn(case(store)).await;
    fixture.teardown().await;
    if let Err(err) = outcome {
        match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(err) => panic!("conformance case did not finish: {err}"),
        }
    }
}

/// A named case, for [`run_all`].
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    pub run: fn(Arc<dyn Store>) -> BoxFuture,
}

/// Runs every case in order, each on a fresh fixture from `make`. Stops at the first failure,
/// naming the case. Returns how many cases ran (0 if `make` asked to skip).
pub async fn run_all<S, F, Fut>(mut make: F) -> usize
where
    S: Store + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<Fixture<S>>>,
{
    let mut ran = 0;
    for case in cases() {
        let Some(fixture) = make().await else {
            return ran;
        };
        let outcome = tokio::spawn((case.run)(fixture.store.clone())).await;
        fixture.teardown().await;
        if let Err(err) = outcome {
            eprintln!("conformance case {} failed", case.name);
            match err.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(err) => panic!("conformance case {} did not finish: {err}", case.name),
            }
        }
        ran += 1;
    }
    ran
}

/// Declares the case list once and derives from it both [`cases`] and the exported
/// `conformance_tests!` macro, so neither can miss a case. `$d` is a literal `$`, the stable way
/// for a macro to write a macro that has metavariables of its own.
macro_rules! suite {
    ($d:tt $($case:ident),* $(,)?) => {
        /// Every case of the suite, in a stable order.
        pub fn cases() -> Vec<Case> {
            vec![$(Case { name: stringify!($case), run: |store| Box::pin($case(store)) }),*]
        }

        /// Generates one `#[tokio::test]` per conformance case, each running on a fresh fixture
        /// from `$fixture` (an expression of type `impl Future<Output = Option<Fixture<S>>>`,
        /// written with absolute paths).
        #[macro_export]
        macro_rules! conformance_tests {
            ($d fixture:expr) => {
                $(
                    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        $crate::conformance::run_case($d fixture, $crate::conformance::$case).await;
                    }
                )*
            };
        }
    };
}

suite!($
    user_create_and_get,
    user_duplicate_email_conflicts,
    user_password_and_lock_updates,
    user_roles_and_claims_round_trip,
    user_replace_roles_compares_and_sets,
    user_set_claims,
    session_scope_round_trips,
    session_create_and_lookup,
    session_uniqueness_and_owner,
    session_live_list_excludes_revoked_and_expired,
    session_touch,
    session_revoke_returns_true_once,
    session_revoke_all_except_keep,
    session_revoked_since,
    session_sweep_deletes_expired_and_old_revoked,
    refresh_insert_and_lookup,
    refresh_spend_rotates_once,
    refresh_spend_unknown_is_not_found,
    refresh_revoked_cannot_be_spent,
    refresh_failed_successor_leaves_token_unspent,
    refresh_revoke_family,
    refresh_revoke_of_session,
    refresh_concurrent_spend_rotates_exactly_once,
    key_lifecycle,
    server_secret_first_writer_wins,
    client_crud,
    audit_append_and_filter,
    audit_cursor_pagination,
    timestamps_round_trip_exactly,
    store_ping_and_name,
    email_verified_and_address_change,
    email_token_newest_wins_and_spends_once,
    email_token_invalidate_and_sweep,
    outbox_claim_lease_retry_finish,
    outbox_concurrent_claims_are_disjoint,
    factor_enrol_confirm_and_replace,
    factor_step_only_moves_forward,
    recovery_codes_spend_once_and_replace,
    mfa_challenge_round_trip_and_single_use,
    session_amr_and_factor_time,
    passkey_crud_is_per_owner,
    ceremony_is_taken_once_and_swept,
);
