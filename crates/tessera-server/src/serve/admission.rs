//! Which accepted connections may stay open: at most `max_connections` in all and
//! `max_connections_per_ip` per client address, so one client cannot take every file
//! descriptor by opening connections and never finishing a request on them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use ipnet::IpNet;

/// Counts open connections. The map holds only addresses with a connection open, so it never
/// has more than `max_total` entries.
#[derive(Debug)]
pub struct Admission {
    max_total: usize,
    max_per_ip: usize,
    uncapped: Vec<IpNet>,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was turned away; also a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Total,
    PerIp,
}

impl Refused {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Total => "max_connections",
            Self::PerIp => "max_connections_per_ip",
        }
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
    key: Option<IpAddr>,
}

impl Admission {
    /// `uncapped` peers (trusted proxies, which carry many clients' connections) count toward
    /// the total only.
    pub fn new(max_total: usize, max_per_ip: usize, uncapped: Vec<IpNet>) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            uncapped,
            open: Mutex::new(Open::default()),
        })
    }

    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Permit, Refused> {
        let peer = peer.to_canonical();
        let key = (!self.uncapped.iter().any(|net| net.contains(&peer)))
            .then(|| tessera_core::throttle::client_block(peer));
        let mut open = self.lock();
        if open.total >= self.max_total {
            return Err(Refused::Total);
        }
        if let Some(key) = key {
            let count = open.per_ip.entry(key).or_insert(0);
            if *count >= self.max_per_ip {
                return Err(Refused::PerIp);
            }
            *count += 1;
        }
        open.total += 1;
        metrics::gauge!("tessera_connections_open").increment(1.0);
        Ok(Permit {
            admission: self.clone(),
            key,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        // The counts stay consistent under a panic elsewhere: every change is one statement.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.admission.lock();
        open.total -= 1;
        if let Some(key) = self.key {
            if let Some(count) = open.per_ip.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    open.per_ip.remove(&key);
                }
            }
        }
        metrics::gauge!("tessera_connections_open").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_ip_cap_frees_a_place_when_a_connection_closes() {
        let admission = Admission::new(10, 2, Vec::new());
        let first = admission.admit(ip("192.0.2.1")).unwrap();
        let _second = admission.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(
            admission.admit(ip("192.0.2.1")).unwrap_err(),
            Refused::PerIp
        );
        let _other = admission.admit(ip("192.0.2.2")).unwrap();
        drop(first);
        let _again = admission.admit(ip("192.0.2.1")).unwrap();
    }

    #[test]
    fn total_cap_holds_across_addresses_and_the_map_empties() {
        let admission = Admission::new(2, 5, Vec::new());
        let a = admission.admit(ip("192.0.2.1")).unwrap();
        let b = admission.admit(ip("192.0.2.2")).unwrap();
        assert_eq!(
            admission.admit(ip("192.0.2.3")).unwrap_err(),
            Refused::Total
        );
        drop((a, b));
        assert!(admission.lock().per_ip.is_empty());
        assert_eq!(admission.lock().total, 0);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let admission = Admission::new(10, 1, Vec::new());
        let _a = admission.admit(ip("2001:db8:1:2::1")).unwrap();
        assert!(admission.admit(ip("2001:db8:1:2:ffff::9")).is_err());
        let _b = admission.admit(ip("2001:db8:1:3::1")).unwrap();
        let _c = admission.admit(ip("192.0.2.1")).unwrap();
        assert!(admission.admit(ip("::ffff:192.0.2.1")).is_err());
    }

    #[test]
    fn trusted_proxies_are_bounded_by_the_total_only() {
        let admission = Admission::new(3, 1, vec!["10.0.0.0/8".parse().unwrap()]);
        let _a = admission.admit(ip("10.1.2.3")).unwrap();
        let _b = admission.admit(ip("10.1.2.3")).unwrap();
        let _c = admission.admit(ip("10.1.2.3")).unwrap();
        assert_eq!(admission.admit(ip("10.1.2.3")).unwrap_err(), Refused::Total);
    }
}
