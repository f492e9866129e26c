//! The password-hashing pool: a fixed set of dedicated threads, each owning one argon2 memory
//! block that it reuses for every hash.
//!
//! Why not `spawn_blocking`: argon2 needs 19 MiB per hash, and running it on whichever of
//! tokio's blocking threads is free made every thread's allocator arena keep its own copy; a
//! burst of 80 logins left 450 MB resident for good. Here memory is bounded by
//! `slots × m_cost`, allocated on a thread's first hash and kept.
//!
//! Two lanes share the threads. Logins go first. Sign-up and password change (the lane that
//! anyone can fill with new accounts) may occupy at most half the slots and have a short queue
//! of their own, so a sign-up flood cannot make logins wait.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tessera_core::password::{HasherWithMemory, PasswordHasher};
use tokio::sync::oneshot;

use crate::error::EngineError;

/// A job waiting longer than this for a hashing slot is refused with 503 rather than queued
/// forever: under a flood, failing fast keeps the server responsive for everyone else.
pub const HASH_QUEUE_TIMEOUT: Duration = Duration::from_secs(10);
/// Queued logins per slot. More could not start within [`HASH_QUEUE_TIMEOUT`] anyway (a hash
/// takes tens of milliseconds); beyond it a login is refused at once.
const LOGIN_QUEUE_PER_SLOT: usize = 128;
/// Queued sign-ups and password changes per slot: short, so a flood is refused quickly.
const ACCOUNT_QUEUE_PER_SLOT: usize = 16;

/// Which budget a job is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Login,
    /// Sign-up and password change.
    AccountChange,
}

/// A job's state, shared by the caller (who may give up) and the worker (who may start it).
const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const ABANDONED: u8 = 2;

trait Job: Send {
    /// Claims the job for running; false when its caller already gave up.
    fn start(&self) -> bool;
    fn abandoned(&self) -> bool;
    fn run(self: Box<Self>, hasher: &mut HasherWithMemory<'_>);
}

struct Pending<F, R> {
    work: F,
    reply: oneshot::Sender<R>,
    state: Arc<AtomicU8>,
}

impl<F, R> Job for Pending<F, R>
where
    F: FnOnce(&mut HasherWithMemory<'_>) -> R + Send,
    R: Send,
{
    fn start(&self) -> bool {
        !self.reply.is_closed()
            && self
                .state
                .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    fn abandoned(&self) -> bool {
        self.reply.is_closed() || self.state.load(Ordering::Acquire) == ABANDONED
    }

    fn run(self: Box<Self>, hasher: &mut HasherWithMemory<'_>) {
        let _ = self.reply.send((self.work)(hasher));
    }
}

#[derive(Default)]
struct Queues {
    login: VecDeque<Box<dyn Job>>,
    account: VecDeque<Box<dyn Job>>,
    /// Account-change jobs running now.
    account_running: usize,
    shutdown: bool,
}

struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
    slots: usize,
    account_slots: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        // Jobs run outside the lock and a panicking job is caught, so poisoning only means a
        // bug in this file; the queues themselves stay consistent.
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next job a free worker should run, or `None` to wait.
    fn next(&self, queues: &mut Queues) -> Option<(Lane, Box<dyn Job>)> {
        loop {
            let lane = if !queues.login.is_empty() {
                Lane::Login
            } else if !queues.account.is_empty() && queues.account_running < self.account_slots {
                Lane::AccountChange
            } else {
                return None;
            };
            let job = match lane {
                Lane::Login => queues.login.pop_front(),
                Lane::AccountChange => queues.account.pop_front(),
            }?;
            if job.start() {
                if lane == Lane::AccountChange {
                    queues.account_running += 1;
                }
                return Some((lane, job));
            }
        }
    }
}

/// Runs argon2 on `slots` dedicated threads; see the module documentation.
pub struct HashPool {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("slots", &self.shared.slots)
            .field("account_slots", &self.shared.account_slots)
            .finish_non_exhaustive()
    }
}

impl HashPool {
    /// Starts `slots` hashing threads (at least one).
    pub fn new(hasher: PasswordHasher, slots: usize) -> std::io::Result<Self> {
        let slots = slots.max(1);
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            ready: Condvar::new(),
            slots,
            // With one slot, sign-ups still get it when no login waits.
            account_slots: (slots / 2).max(1),
        });
        let hasher = Arc::new(hasher);
        for n in 0..slots {
            let (shared, hasher) = (shared.clone(), hasher.clone());
            std::thread::Builder::new()
                .name(format!("tessera-hash-{n}"))
                .spawn(move || work(&shared, &hasher))?;
        }
        Ok(Self { shared })
    }

    /// Runs a login's verification (and rehash). Logins are served before any other hashing.
    pub async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut HasherWithMemory<'_>) -> R + Send + 'static,
    ) -> Result<R, EngineError> {
        self.submit(Lane::Login, work).await
    }

    /// Runs a sign-up's or password change's hashing, within their smaller budget.
    pub async fn run_account_change<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut HasherWithMemory<'_>) -> R + Send + 'static,
    ) -> Result<R, EngineError> {
        self.submit(Lane::AccountChange, work).await
    }

    async fn submit<R: Send + 'static>(
        &self,
        lane: Lane,
        work: impl FnOnce(&mut HasherWithMemory<'_>) -> R + Send + 'static,
    ) -> Result<R, EngineError> {
        let (reply, mut answer) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(QUEUED));
        let job = Box::new(Pending {
            work,
            reply,
            state: state.clone(),
        });
        self.enqueue(lane, job)?;
        match tokio::time::timeout(HASH_QUEUE_TIMEOUT, &mut answer).await {
            Ok(result) => return result.map_err(EngineError::internal),
            Err(_elapsed) => {}
        }
        // Too long in the queue: give up, unless a worker started the job in the meantime.
        if state
            .compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            metrics::counter!("tessera_hash_queue_rejections_total", "reason" => "timeout")
                .increment(1);
            return Err(EngineError::Unavailable(None));
        }
        answer.await.map_err(EngineError::internal)
    }

    fn enqueue(&self, lane: Lane, job: Box<dyn Job>) -> Result<(), EngineError> {
        let mut queues = self.shared.lock();
        let (queue, bound) = match lane {
            Lane::Login => (&mut queues.login, LOGIN_QUEUE_PER_SLOT),
            Lane::AccountChange => (&mut queues.account, ACCOUNT_QUEUE_PER_SLOT),
        };
        let bound = bound * self.shared.slots;
        if queue.len() >= bound {
            // Callers that gave up still hold their place until a worker reaches them.
            queue.retain(|job| !job.abandoned());
        }
        if queue.len() >= bound {
            metrics::counter!("tessera_hash_queue_rejections_total", "reason" => "full")
                .increment(1);
            return Err(EngineError::Unavailable(None));
        }
        queue.push_back(job);
        drop(queues);
        self.shared.ready.notify_one();
        Ok(())
    }
}

impl Drop for HashPool {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.ready.notify_all();
    }
}

/// One hashing thread: takes jobs until the pool is dropped.
fn work(shared: &Shared, hasher: &PasswordHasher) {
    // Allocated on the first hash, so idle pools (and most tests) cost nothing.
    let mut memory = None;
    let mut queues = shared.lock();
    loop {
        if queues.shutdown {
            return;
        }
        let Some((lane, job)) = shared.next(&mut queues) else {
            queues = shared
                .ready
                .wait(queues)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            continue;
        };
        drop(queues);
        let memory = memory.get_or_insert_with(|| hasher.new_memory());
        // A panic drops the job's reply (its caller sees an internal error), not the thread.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
            job.run(&mut hasher.with_memory(memory));
        }));
        queues = shared.lock();
        if lane == Lane::AccountChange {
            queues.account_running -= 1;
            // A slot of the account lane came free: another worker may be waiting for it.
            shared.ready.notify_one();
        }
    }
}

#[cfg(test)]
mod tests;
