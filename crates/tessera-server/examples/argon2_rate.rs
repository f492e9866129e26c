//! The floor for password logins: raw argon2id verifications per second, with the parameters
//! Tessera hashes with (`PasswordHasher::recommended`) and as many threads as Tessera has
//! hashing slots by default (one per CPU), each reusing its own memory block as the slots do.
//! No HTTP, no store: what a login could at best reach on this machine.
//!
//! `cargo run --release --example argon2_rate -- [seconds] [threads]`
//! prints `argon2_verify <n> verifies/s (<threads> threads, <seconds>s)`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_core::password::{PasswordHasher, Verification};
use tessera_core::Password;

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let threads: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get));
    let hasher = Arc::new(PasswordHasher::recommended());
    let password = Password::for_login("correct horse battery").expect("a short password");
    let stored = Arc::new(hasher.hash(&password));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (hasher, stored, stop, done) =
                (hasher.clone(), stored.clone(), stop.clone(), done.clone());
            let password = Password::for_login("correct horse battery").expect("a short password");
            std::thread::spawn(move || {
                let mut memory = hasher.new_memory();
                let mut bound = hasher.with_memory(&mut memory);
                while !stop.load(Ordering::Relaxed) {
                    let verdict = bound.verify(&password, &stored);
                    assert!(matches!(verdict, Verification::Valid { .. }));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Let every thread allocate its block before counting, as a warmed-up server has.
    std::thread::sleep(Duration::from_millis(300));
    let before = done.load(Ordering::Relaxed);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let counted = done.load(Ordering::Relaxed) - before;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = counted as f64 / elapsed;
    println!("argon2_verify {rate:.1} verifies/s ({threads} threads, {seconds}s)");
}
