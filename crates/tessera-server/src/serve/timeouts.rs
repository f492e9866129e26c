//! Per-connection deadlines: a request head must arrive within `header_read_timeout` and an idle
//! connection is closed after `keep_alive_timeout`. A client that opens a connection and sends
//! its head a byte at a time (Slowloris) otherwise holds a descriptor forever.
//!
//! hyper has one timer for both (it starts the head timer as soon as the connection goes idle),
//! which would force the keep-alive time down to the head time; a reverse proxy that pools
//! connections for a minute then races our close. So the connection's phase is tracked here: the
//! socket reports the first byte of each head, the service reports requests starting and ending.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Accepted, no request yet: the head timer runs from the accept.
    Opened(Instant),
    /// Between requests: the keep-alive timer runs until a byte arrives, then the head timer.
    Idle {
        since: Instant,
        first_byte: Option<Instant>,
    },
    /// Requests being answered: no deadline here (handlers bound their own waits).
    Busy(usize),
}

#[derive(Debug)]
pub struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
    header_read: Duration,
    keep_alive: Duration,
}

impl Activity {
    pub fn new(header_read: Duration, keep_alive: Duration) -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::Opened(Instant::now())),
            changed: Notify::new(),
            header_read,
            keep_alive,
        })
    }

    /// Resolves when the connection has overstayed its current deadline.
    pub async fn expired(&self) {
        loop {
            let deadline = self.deadline();
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return;
            }
            // A phase change may bring the deadline forward (the first byte of a head after a
            // long idle), so wake on change as well as on the deadline.
            let changed = self.changed.notified();
            match deadline {
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    /// Marks a request as being answered until the guard is dropped.
    pub fn request(self: &Arc<Self>) -> RequestGuard {
        self.update(|phase| match phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Opened(_) | Phase::Idle { .. } => Phase::Busy(1),
        });
        RequestGuard(self.clone())
    }

    fn bytes_read(&self) {
        let mut phase = self.lock();
        if let Phase::Idle {
            since,
            first_byte: None,
        } = *phase
        {
            *phase = Phase::Idle {
                since,
                first_byte: Some(Instant::now()),
            };
            drop(phase);
            self.changed.notify_one();
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match *self.lock() {
            Phase::Opened(at)
            | Phase::Idle {
                first_byte: Some(at),
                ..
            } => Some(at + self.header_read),
            Phase::Idle {
                since,
                first_byte: None,
            } => Some(since + self.keep_alive),
            Phase::Busy(_) => None,
        }
    }

    fn update(&self, change: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.lock();
        *phase = change(*phase);
        drop(phase);
        self.changed.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug)]
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.update(|phase| match phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle {
                since: Instant::now(),
                first_byte: None,
            },
        });
    }
}

/// The socket, reporting reads to its [`Activity`].
#[derive(Debug)]
pub struct TrackedIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> TrackedIo<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(75);

    // Paused time: the deadlines are checked against tokio's clock, not the wall.
    #[tokio::test(start_paused = true)]
    async fn phases_choose_their_deadline() {
        let activity = Activity::new(HEAD, IDLE);
        let opened = Instant::now();
        assert_eq!(activity.deadline(), Some(opened + HEAD));

        let guard = activity.request();
        assert_eq!(
            activity.deadline(),
            None,
            "a busy connection has no deadline"
        );
        tokio::time::advance(Duration::from_secs(30)).await;
        drop(guard);
        let idle = Instant::now();
        assert_eq!(activity.deadline(), Some(idle + IDLE));

        tokio::time::advance(Duration::from_secs(5)).await;
        activity.bytes_read();
        assert_eq!(activity.deadline(), Some(Instant::now() + HEAD));
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_byte_brings_the_deadline_forward() {
        let activity = Activity::new(HEAD, IDLE);
        drop(activity.request());
        let idle = Instant::now();
        let watcher = {
            let activity = activity.clone();
            tokio::spawn(async move {
                activity.expired().await;
                Instant::now()
            })
        };
        tokio::time::advance(Duration::from_secs(1)).await;
        activity.bytes_read();
        // The paused clock jumps straight to the next timer, so this is the deadline used.
        let expired_at = watcher.await.unwrap();
        assert!(
            expired_at < idle + IDLE,
            "the head timer, not the idle one, ran"
        );
        assert!(expired_at >= idle + Duration::from_secs(1) + HEAD);
    }
}
