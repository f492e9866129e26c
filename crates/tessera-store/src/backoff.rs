//! Exponential reconnect delays, shared by the feeds' listeners and the Redis link.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Reconnect delay: 100 ms doubling to a cap (5 s unless set), back to 100 ms after a success.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) const MIN: Duration = Duration::from_millis(100);
    pub(crate) const MAX: Duration = Duration::from_secs(5);

    pub(crate) fn new() -> Self {
        Self::with_max(Self::MAX)
    }

    pub(crate) fn with_max(max: Duration) -> Self {
        Self {
            next: Self::MIN,
            max: max.max(Self::MIN),
        }
    }

    pub(crate) fn reset(&mut self) {
        self.next = Self::MIN;
    }

    /// Sleeps for the current delay; false if `stop` fired meanwhile.
    pub(crate) async fn wait(&mut self, stop: &CancellationToken) -> bool {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        tokio::select! {
            () = stop.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn delays(backoff: &mut Backoff, stop: &CancellationToken, n: usize) -> Vec<u128> {
        let mut delays = Vec::new();
        for _ in 0..n {
            let start = tokio::time::Instant::now();
            assert!(backoff.wait(stop).await);
            delays.push(start.elapsed().as_millis());
        }
        delays
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_up_to_five_seconds() {
        let stop = CancellationToken::new();
        let mut backoff = Backoff::new();
        assert_eq!(
            delays(&mut backoff, &stop, 8).await,
            [100, 200, 400, 800, 1600, 3200, 5000, 5000]
        );
        backoff.reset();
        assert_eq!(delays(&mut backoff, &stop, 1).await, [100]);
        stop.cancel();
        assert!(!backoff.wait(&stop).await);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_cap_can_be_lowered() {
        let stop = CancellationToken::new();
        let mut backoff = Backoff::with_max(Duration::from_secs(2));
        assert_eq!(
            delays(&mut backoff, &stop, 6).await,
            [100, 200, 400, 800, 1600, 2000]
        );
    }
}
