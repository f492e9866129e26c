//! Refresh-token rotation against a model, on every store backend: random sequences of
//! presentations (fresh, spent within and outside the grace window, expired), clock moves,
//! family revocations and concurrent pairs, each outcome compared with what the model predicts.
//!
//! The model is the rule written as plainly as possible: a family is a chain of tokens, only
//! the newest of which is unspent; presenting the unspent one rotates it; presenting a spent one
//! within the grace window, while its successor is untouched, replays that successor; any other
//! spent presentation is theft and the family dies.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tessera_core::store::Store;
use tessera_core::SecretToken;
use tessera_store::conformance::fixtures;
use tessera_store::conformance::support::{at, stored_session, stored_user};
use tessera_token::refresh::{issue_family, rotate, RefreshPolicy, RotateResult};
use time::{Duration, OffsetDateTime};

const SUCCESSOR_KEY: [u8; 32] = [42; 32];
const TTL: Duration = Duration::seconds(300);

#[derive(Debug, Clone)]
enum Op {
    /// Present the token handed out `index` rotations ago (0 = the newest), modulo the count.
    Present {
        back: usize,
    },
    /// Present the same token twice at once.
    PresentTwiceAtOnce {
        back: usize,
    },
    Advance {
        seconds: i64,
    },
    RevokeFamily,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..4).prop_map(|back| Op::Present { back }),
        1 => (0usize..3).prop_map(|back| Op::PresentTwiceAtOnce { back }),
        // Mostly the boundaries (the grace window is 30 s, a token lives 300 s), then anything.
        2 => prop_oneof![
            Just(0i64), Just(1), Just(29), Just(30), Just(31), Just(270), Just(299), Just(300)
        ]
        .prop_map(|seconds| Op::Advance { seconds }),
        1 => (0i64..400).prop_map(|seconds| Op::Advance { seconds }),
        1 => Just(Op::RevokeFamily),
    ]
}

/// One token of the chain, as the model sees it.
#[derive(Debug)]
struct ModelToken {
    secret: SecretToken,
    created_at: OffsetDateTime,
    spent_at: Option<OffsetDateTime>,
}

#[derive(Debug, PartialEq, Eq)]
enum Expected {
    Rotated,
    /// The same secret as the token after the presented one.
    Replay,
    Reused,
    Invalid,
}

#[derive(Debug)]
struct Model {
    chain: Vec<ModelToken>,
    revoked: bool,
    grace: Duration,
}

impl Model {
    fn expect(&self, index: usize, now: OffsetDateTime) -> Expected {
        let token = &self.chain[index];
        if self.revoked || now >= token.created_at + TTL {
            return Expected::Invalid;
        }
        let Some(spent_at) = token.spent_at else {
            return Expected::Rotated;
        };
        let successor = &self.chain[index + 1];
        let untouched = successor.spent_at.is_none() && now < successor.created_at + TTL;
        if self.grace > Duration::ZERO && now - spent_at <= self.grace && untouched {
            Expected::Replay
        } else {
            Expected::Reused
        }
    }
}

fn outcome(result: &RotateResult) -> Expected {
    match result {
        RotateResult::Rotated(_) => Expected::Rotated,
        RotateResult::GraceReplay(_) => Expected::Replay,
        RotateResult::Reused { .. } => Expected::Reused,
        RotateResult::Invalid => Expected::Invalid,
    }
}

/// Runs `ops` against `store` and the model; any disagreement fails the case.
async fn run_case(
    store: Arc<dyn Store>,
    grace: Duration,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let policy = RefreshPolicy { ttl: TTL, grace };
    let mut now = at(Duration::ZERO);
    let user = stored_user(&store).await;
    let session = stored_session(&store, &user, now).await;
    let first = issue_family(store.as_ref(), session.id, user.id, now, &policy)
        .await
        .expect("issue");
    let family_id = first.family_id;
    let mut model = Model {
        chain: vec![ModelToken {
            secret: first.secret,
            created_at: now,
            spent_at: None,
        }],
        revoked: false,
        grace,
    };
    for op in ops {
        match op {
            Op::Advance { seconds } => now += Duration::seconds(seconds),
            Op::RevokeFamily => {
                store
                    .revoke_refresh_family(family_id, now)
                    .await
                    .expect("revoke");
                model.revoked = true;
            }
            Op::Present { back } => {
                let index = model.chain.len() - 1 - back % model.chain.len();
                let expected = model.expect(index, now);
                let presented = model.chain[index].secret.clone();
                let got = rotate(store.as_ref(), &presented, &SUCCESSOR_KEY, now, &policy)
                    .await
                    .expect("rotate");
                prop_assert_eq!(outcome(&got), expected, "token {} at {}", index, now);
                apply(&mut model, &store, index, got, now).await?;
            }
            Op::PresentTwiceAtOnce { back } => {
                let index = model.chain.len() - 1 - back % model.chain.len();
                let expected = model.expect(index, now);
                let presented = model.chain[index].secret.clone();
                let (a, b) = tokio::join!(
                    rotate(store.as_ref(), &presented, &SUCCESSOR_KEY, now, &policy),
                    rotate(store.as_ref(), &presented, &SUCCESSOR_KEY, now, &policy),
                );
                let (a, b) = (a.expect("rotate"), b.expect("rotate"));
                let outcomes = [outcome(&a), outcome(&b)];
                if expected == Expected::Rotated {
                    // Exactly one wins; the loser sees a token spent this very instant: a
                    // replay of the same successor within grace, theft without it.
                    let loser = if grace > Duration::ZERO {
                        Expected::Replay
                    } else {
                        Expected::Reused
                    };
                    prop_assert!(
                        outcomes.contains(&Expected::Rotated) && outcomes.contains(&loser),
                        "{:?} for a fresh token presented twice",
                        outcomes
                    );
                    if let (RotateResult::Rotated(x), RotateResult::GraceReplay(y))
                    | (RotateResult::GraceReplay(y), RotateResult::Rotated(x)) = (&a, &b)
                    {
                        prop_assert_eq!(x.secret.expose(), y.secret.expose());
                    }
                    let (winner, other) = if outcome(&a) == Expected::Rotated {
                        (a, b)
                    } else {
                        (b, a)
                    };
                    apply(&mut model, &store, index, winner, now).await?;
                    apply(&mut model, &store, index, other, now).await?;
                } else {
                    prop_assert_eq!(&outcomes[0], &expected);
                    prop_assert_eq!(&outcomes[1], &expected);
                    apply(&mut model, &store, index, a, now).await?;
                    apply(&mut model, &store, index, b, now).await?;
                }
            }
        }
    }
    Ok(())
}

/// Moves the model on by one outcome, and does what the server does on theft.
async fn apply(
    model: &mut Model,
    store: &Arc<dyn Store>,
    index: usize,
    result: RotateResult,
    now: OffsetDateTime,
) -> Result<(), TestCaseError> {
    match result {
        RotateResult::Rotated(rotation) => {
            model.chain[index].spent_at = Some(now);
            model.chain.push(ModelToken {
                secret: rotation.secret,
                created_at: now,
                spent_at: None,
            });
        }
        RotateResult::GraceReplay(rotation) => {
            prop_assert_eq!(
                rotation.secret.expose(),
                model.chain[index + 1].secret.expose(),
                "a replay hands out the successor already minted"
            );
        }
        RotateResult::Reused { family_id, .. } => {
            store
                .revoke_refresh_family(family_id, now)
                .await
                .expect("revoke");
            model.revoked = true;
        }
        RotateResult::Invalid => {}
    }
    Ok(())
}

/// Runs the property on the store that `fixture` makes, one fresh store for all cases (every
/// case has its own user, session and family).
async fn check_backend<S: Store + 'static>(
    fixture: Option<tessera_store::conformance::Fixture<S>>,
    cases: u32,
) {
    let Some(fixture) = fixture else {
        return;
    };
    let store: Arc<dyn Store> = fixture.store.clone();
    let strategy = (
        prop_oneof![Just(Duration::ZERO), Just(Duration::seconds(30))],
        prop::collection::vec(op(), 1..40),
    );
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        runner.run(&strategy, |(grace, ops)| {
            handle.block_on(run_case(store.clone(), grace, ops))
        })
    })
    .await
    .expect("the property runs");
    fixture.teardown().await;
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_matches_the_model_in_memory() {
    check_backend(fixtures::memory().await, 2048).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_matches_the_model_on_sqlite() {
    check_backend(fixtures::sqlite_file().await, 64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_matches_the_model_on_postgres() {
    check_backend(fixtures::postgres().await, 64).await;
}
