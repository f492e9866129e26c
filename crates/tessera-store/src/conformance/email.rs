//! UserStore address cases, EmailTokenStore and MailOutbox cases.

use std::collections::HashSet;
use std::sync::Arc;

use tessera_core::mail::{EmailToken, EmailTokenPurpose, MailKind, OutboxMail};
use tessera_core::store::Store;
use tessera_core::{Email, User};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::support::{assert_conflict, at, random_hash, stored_user};

fn token(user: &User, purpose: EmailTokenPurpose, created: OffsetDateTime) -> EmailToken {
    EmailToken {
        id: Uuid::new_v4(),
        user_id: user.id,
        purpose,
        token_hash: random_hash(),
        email: user.email.clone(),
        created_at: created,
        expires_at: created + Duration::minutes(30),
        used_at: None,
    }
}

fn mail(to: &User, due: OffsetDateTime) -> OutboxMail {
    OutboxMail::new(
        MailKind::PasswordReset,
        Some(to.id),
        to.email.clone(),
        None,
        due,
    )
}

pub async fn email_verified_and_address_change(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let bob = stored_user(&store).await;
    let t = at(Duration::minutes(1));
    assert!(!store
        .set_email_verified(alice.id, &bob.email, t)
        .await
        .expect("verify"));
    assert!(store
        .set_email_verified(alice.id, &alice.email, t)
        .await
        .expect("verify"));
    let later = at(Duration::minutes(2));
    assert!(store
        .set_email_verified(alice.id, &alice.email, later)
        .await
        .expect("verify again"));
    let stored = store
        .user_by_id(alice.id)
        .await
        .expect("get")
        .expect("user");
    assert_eq!(stored.email_verified_at, Some(t), "the first proof stays");

    assert_conflict(
        store.set_email(alice.id, &bob.email, later).await,
        "another account's address",
    );
    let new = Email::parse("alice-new@example.test").expect("email");
    assert!(store
        .set_email(alice.id, &new, later)
        .await
        .expect("change"));
    assert_eq!(
        store.user_by_email(&alice.email).await.expect("old"),
        None,
        "the old address is free"
    );
    let moved = store.user_by_email(&new).await.expect("new").expect("user");
    assert_eq!(moved.id, alice.id);
    assert_eq!(moved.email_verified_at, Some(later));
    let missing = tessera_core::UserId::random();
    assert!(!store
        .set_email(missing, &alice.email, later)
        .await
        .expect("unknown"));
}

pub async fn email_token_newest_wins_and_spends_once(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let first = token(&alice, EmailTokenPurpose::Reset, at(Duration::ZERO));
    store.insert_email_token(&first).await.expect("insert");
    let verify = token(&alice, EmailTokenPurpose::Verify, at(Duration::ZERO));
    store.insert_email_token(&verify).await.expect("insert");
    assert_eq!(
        store
            .email_token_by_hash(&first.token_hash)
            .await
            .expect("get")
            .as_ref(),
        Some(&first)
    );
    let second = token(&alice, EmailTokenPurpose::Reset, at(Duration::seconds(5)));
    store.insert_email_token(&second).await.expect("insert");
    let first_now = store
        .email_token_by_hash(&first.token_hash)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(first_now.used_at, Some(second.created_at), "superseded");
    let verify_now = store
        .email_token_by_hash(&verify.token_hash)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(verify_now.used_at, None, "other purposes are untouched");

    assert!(!store
        .spend_email_token(first.id, at(Duration::seconds(6)))
        .await
        .expect("spend"));
    assert!(store
        .spend_email_token(second.id, at(Duration::seconds(6)))
        .await
        .expect("spend"));
    assert!(!store
        .spend_email_token(second.id, at(Duration::seconds(7)))
        .await
        .expect("again"));
    assert!(store
        .email_token_by_hash(&random_hash())
        .await
        .expect("get")
        .is_none());

    let mut dup = token(&alice, EmailTokenPurpose::Verify, at(Duration::ZERO));
    dup.token_hash = verify.token_hash;
    assert_conflict(store.insert_email_token(&dup).await, "same hash");
}

pub async fn email_token_invalidate_and_sweep(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let bob = stored_user(&store).await;
    let reset = token(&alice, EmailTokenPurpose::Reset, at(Duration::ZERO));
    let change = token(&alice, EmailTokenPurpose::ChangeEmail, at(Duration::ZERO));
    let bobs = token(&bob, EmailTokenPurpose::Reset, at(Duration::ZERO));
    for t in [&reset, &change, &bobs] {
        store.insert_email_token(t).await.expect("insert");
    }
    let n = store
        .invalidate_email_tokens(
            alice.id,
            Some(EmailTokenPurpose::Reset),
            at(Duration::seconds(1)),
        )
        .await
        .expect("invalidate");
    assert_eq!(n, 1);
    let n = store
        .invalidate_email_tokens(alice.id, None, at(Duration::seconds(2)))
        .await
        .expect("invalidate");
    assert_eq!(n, 1, "only the change token was still unused");
    let bob_token = store
        .email_token_by_hash(&bobs.token_hash)
        .await
        .expect("get")
        .expect("kept");
    assert!(
        bob_token.usable(at(Duration::seconds(3))),
        "another user's token is untouched"
    );

    let swept = store
        .sweep_email_tokens(at(Duration::hours(1)))
        .await
        .expect("sweep");
    assert_eq!(swept, 3);
    assert!(store
        .email_token_by_hash(&bobs.token_hash)
        .await
        .expect("get")
        .is_none());
}

pub async fn outbox_claim_lease_retry_finish(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let now = at(Duration::ZERO);
    let first = mail(&alice, now);
    let later = mail(&alice, now + Duration::minutes(5));
    store.enqueue_mail(&first).await.expect("enqueue");
    store.enqueue_mail(&later).await.expect("enqueue");
    assert_eq!(store.pending_mail().await.expect("count"), 2);

    let lease = now + Duration::seconds(30);
    let claimed = store.claim_mail(now, lease, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1, "only the due one");
    assert_eq!(claimed[0].id, first.id);
    assert_eq!(claimed[0].attempts, 1);
    assert_eq!(claimed[0].lease_until, Some(lease));
    assert_eq!(claimed[0].recipient, alice.email);
    assert_eq!(claimed[0].kind, MailKind::PasswordReset);
    assert!(
        store
            .claim_mail(now, lease, 10)
            .await
            .expect("claim")
            .is_empty(),
        "leased rows are skipped"
    );

    let retry_at = now + Duration::seconds(10);
    assert!(store
        .retry_mail(first.id, retry_at, "421 try later")
        .await
        .expect("retry"));
    assert!(store
        .claim_mail(now, lease, 10)
        .await
        .expect("claim")
        .is_empty());
    let again = store
        .claim_mail(retry_at, retry_at + Duration::seconds(30), 10)
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].last_error.as_deref(), Some("421 try later"));

    // A lease that ran out (the sender died) makes the row claimable again.
    let expired = retry_at + Duration::seconds(31);
    let reclaimed = store
        .claim_mail(expired, expired + Duration::seconds(30), 10)
        .await
        .expect("claim");
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(reclaimed[0].id, first.id);
    assert_eq!(reclaimed[0].attempts, 3);

    let listed = store.list_mail(10).await.expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, first.id);
    assert_eq!(listed[0].attempts, 3);
    assert_eq!(listed[1].id, later.id);
    assert!(store.finish_mail(first.id).await.expect("finish"));
    assert!(!store.finish_mail(first.id).await.expect("finish again"));
    assert!(store
        .fail_mail(later.id, now, "550 no such user")
        .await
        .expect("fail"));
    assert_eq!(store.pending_mail().await.expect("count"), 0);
    assert!(store
        .claim_mail(now + Duration::hours(1), now + Duration::hours(2), 10)
        .await
        .expect("claim")
        .is_empty());
}

pub async fn outbox_concurrent_claims_are_disjoint(store: Arc<dyn Store>) {
    let alice = stored_user(&store).await;
    let now = at(Duration::ZERO);
    let mut ids = HashSet::new();
    for _ in 0..20 {
        let m = mail(&alice, now);
        ids.insert(m.id);
        store.enqueue_mail(&m).await.expect("enqueue");
    }
    let claimers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store
                        .claim_mail(now, now + Duration::minutes(1), 3)
                        .await
                        .expect("claim");
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|m| m.id));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for claimer in claimers {
        for id in claimer.await.expect("claimer") {
            assert!(seen.insert(id), "a row was claimed twice");
        }
    }
    assert_eq!(seen, ids, "every row was claimed once");
}
