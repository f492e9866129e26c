//! Counting and logging the failures of an optional dependency.

/// The state of an optional dependency that Tessera works around when it fails (Redis): every
/// failure is counted in `tessera_degraded_total`, but an outage is logged once, when it
/// starts, and once more when it ends — not once per request.
#[derive(Debug, Default)]
pub struct Outage {
    failing: std::sync::atomic::AtomicBool,
}

impl Outage {
    /// Records a failure; logs `what` with the cause if this starts an outage.
    pub fn failed(&self, dependency: &'static str, err: &dyn std::error::Error, what: &str) {
        metrics::counter!("tessera_degraded_total", "dependency" => dependency).increment(1);
        if !self
            .failing
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(error = %crate::error::chain(err), "{what}");
        }
    }

    /// Records a success; returns true (and logs `what`) if it ends an outage.
    pub fn answered(&self, what: &str) -> bool {
        let ended = self.failing.load(std::sync::atomic::Ordering::Relaxed)
            && self
                .failing
                .swap(false, std::sync::atomic::Ordering::Relaxed);
        if ended {
            tracing::info!("{what}");
        }
        ended
    }
}
