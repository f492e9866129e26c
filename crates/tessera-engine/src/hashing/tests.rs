use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::task::Poll;

use argon2::password_hash::PasswordVerifier as _;
use tessera_core::password::Verification;
use tessera_core::Password;

use super::*;

fn cheap() -> PasswordHasher {
    PasswordHasher::with_params(argon2::Params::new(1024, 1, 1, None).unwrap())
}

fn pool(slots: usize) -> Arc<HashPool> {
    Arc::new(HashPool::new(cheap(), slots).unwrap())
}

/// Polls `fut` once, so that a submission is queued before the test goes on.
async fn poll_once<F: Future + ?Sized>(fut: &mut Pin<Box<F>>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

/// A job that reports its start, then blocks its hashing thread until released.
fn held_job(
    started: &mpsc::Sender<()>,
) -> (
    mpsc::Sender<()>,
    impl FnOnce(&mut HasherWithMemory<'_>) + Send + 'static,
) {
    let (release, wait) = mpsc::channel::<()>();
    let started = started.clone();
    let job = move |_: &mut HasherWithMemory<'_>| {
        started.send(()).unwrap();
        let _ = wait.recv();
    };
    (release, job)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_runs_more_jobs_than_slots() {
    const SLOTS: usize = 3;
    let pool = pool(SLOTS);
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    // Every job waits until SLOTS jobs run together: the pool must fill every slot, and the
    // counter shows it never runs one more.
    let together = Arc::new(Barrier::new(SLOTS));
    let mut handles = Vec::new();
    for _ in 0..SLOTS * 4 {
        let (pool, running, most, together) = (
            pool.clone(),
            running.clone(),
            most.clone(),
            together.clone(),
        );
        handles.push(tokio::spawn(async move {
            let job = move |_: &mut HasherWithMemory<'_>| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                together.wait();
                running.fetch_sub(1, Ordering::SeqCst);
            };
            pool.run(job).await
        }));
    }
    for handle in handles {
        handle.await.unwrap().unwrap();
    }
    assert_eq!(most.load(Ordering::SeqCst), SLOTS);
}

#[tokio::test]
async fn a_login_gets_a_slot_while_sign_ups_fill_their_budget() {
    let pool = pool(2);
    let (started_tx, started) = mpsc::channel();
    // The account lane holds one of the two slots, and more sign-ups queue behind it.
    let (release, job) = held_job(&started_tx);
    let mut held = Box::pin(pool.run_account_change(job));
    assert!(poll_once(&mut held).await.is_pending());
    started.recv().unwrap();
    let mut queued = Vec::new();
    for _ in 0..4 {
        let (release, job) = held_job(&started_tx);
        let mut fut = Box::pin(pool.run_account_change(job));
        assert!(poll_once(&mut fut).await.is_pending());
        queued.push((release, fut));
    }

    let login = pool
        .run(|hasher| {
            let pw = Password::for_login("correct horse").unwrap();
            let stored = hasher.hash(&pw);
            hasher.verify(&pw, &stored)
        })
        .await;
    assert_eq!(
        login.unwrap(),
        Verification::Valid {
            needs_rehash: false
        }
    );
    // The free slot went to the login, not to a second sign-up.
    assert!(started.try_recv().is_err());

    release.send(()).unwrap();
    held.await.unwrap();
    for (release, fut) in queued {
        started.recv().unwrap();
        release.send(()).unwrap();
        fut.await.unwrap();
    }
}

#[tokio::test]
async fn a_full_sign_up_queue_refuses_at_once() {
    let pool = pool(1);
    let (started_tx, started) = mpsc::channel();
    let (release, job) = held_job(&started_tx);
    let mut held = Box::pin(pool.run_account_change(job));
    assert!(poll_once(&mut held).await.is_pending());
    started.recv().unwrap();
    let mut queued = Vec::new();
    for _ in 0..ACCOUNT_QUEUE_PER_SLOT {
        let mut fut = Box::pin(pool.run_account_change(|_| ()));
        assert!(poll_once(&mut fut).await.is_pending());
        queued.push(fut);
    }

    let mut refused = Box::pin(pool.run_account_change(|_| ()));
    match poll_once(&mut refused).await {
        Poll::Ready(Err(EngineError::Unavailable(None))) => {}
        other => panic!(
            "expected an immediate 503, got {:?}",
            other.map(|r| r.is_ok())
        ),
    }
    // Logins have their own queue.
    let mut login = Box::pin(pool.run(|_| ()));
    assert!(poll_once(&mut login).await.is_pending());

    release.send(()).unwrap();
    held.await.unwrap();
    login.await.unwrap();
    for fut in queued {
        fut.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_job_left_waiting_too_long_is_refused_and_never_runs() {
    let pool = pool(1);
    let (started_tx, started) = mpsc::channel();
    let (release, job) = held_job(&started_tx);
    let mut held = Box::pin(pool.run(job));
    assert!(poll_once(&mut held).await.is_pending());
    started.recv().unwrap();

    let ran = Arc::new(AtomicUsize::new(0));
    let counted = ran.clone();
    // Paused time jumps to the timeout as soon as the runtime is idle.
    let late = pool
        .run(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .await;
    assert!(matches!(late, Err(EngineError::Unavailable(None))));

    release.send(()).unwrap();
    held.await.unwrap();
    // The worker is free now; a job queued after the abandoned one runs, the abandoned one not.
    tokio::time::resume();
    pool.run(|_| ()).await.unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_pool_hashes_what_plain_argon2_verifies() {
    let pool = pool(2);
    let stored = pool
        .run_account_change(|hasher| hasher.hash(&Password::for_login("correct horse").unwrap()))
        .await
        .unwrap();
    let parsed = argon2::password_hash::PasswordHash::new(&stored).unwrap();
    assert!(argon2::Argon2::default()
        .verify_password(b"correct horse", &parsed)
        .is_ok());
}
