//! What checking a second factor costs on the CPU, beside the password check of the same login:
//! a TOTP code (open the sealed key, HMAC-SHA-1 for the step and its two neighbours, constant-time
//! compares) and a recovery code (normalise, SHA-256), against argon2id verification with the
//! recommended parameters. The store's compare-and-set is one indexed UPDATE on top (see the
//! session-check bench for what a store round trip costs).
//!
//! `cargo bench -p tessera-engine --bench second_factor -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tessera_core::factor::Factor;
use tessera_core::password::{PasswordHasher, Verification};
use tessera_core::types::Password;
use tessera_core::{FactorKind, UserId};
use tessera_engine::factors::{recovery, totp};
use tessera_token::EncryptionKey;
use time::OffsetDateTime;
use totp_rs::{Algorithm, TOTP};

fn second_factor(c: &mut Criterion) {
    let key = EncryptionKey::generate();
    let secret = tessera_core::secret::random_bytes::<{ totp::SECRET_BYTES }>();
    let (id, user) = (uuid::Uuid::new_v4(), UserId::random());
    let (sealed, secret_format) = totp::seal(Some(&key), id, user, &secret);
    let factor = Factor {
        id,
        user_id: user,
        kind: FactorKind::Totp,
        secret: sealed,
        secret_format,
        confirmed_at: None,
        last_step: None,
        created_at: OffsetDateTime::UNIX_EPOCH,
    };
    let now = 1_800_000_000_i64;
    let app = TOTP::new_unchecked(
        Algorithm::SHA1,
        6,
        1,
        30,
        secret.to_vec(),
        None,
        String::new(),
    );
    let code = app.generate(now as u64);
    c.bench_function("totp_check (open sealed key + 3 steps)", |b| {
        b.iter(|| {
            let opened = totp::open(Some(&key), black_box(&factor)).unwrap();
            black_box(totp::matching_step(&opened, black_box(&code), now))
        });
    });
    let typed = recovery::generate();
    c.bench_function("recovery_code_check (normalise + SHA-256)", |b| {
        b.iter(|| {
            black_box(recovery::hash(
                &recovery::normalize(black_box(&typed)).unwrap(),
            ))
        });
    });
    let hasher = PasswordHasher::recommended();
    let password = Password::for_login("correct horse battery staple").unwrap();
    let stored = hasher.hash(&password);
    let mut group = c.benchmark_group("baseline");
    group.sample_size(10);
    group.bench_function("password_verify (argon2id, recommended)", |b| {
        b.iter(|| {
            assert!(matches!(
                hasher.verify(black_box(&password), &stored),
                Verification::Valid { .. }
            ));
        });
    });
    group.finish();
}

criterion_group!(benches, second_factor);
criterion_main!(benches);
