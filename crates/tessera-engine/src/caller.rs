//! Who is calling, in terms any transport can supply.

use std::net::IpAddr;

/// The caller's address (after the server applied its trusted-proxy rules) and user agent.
/// Throttles key on the address; sessions and the audit log record both.
#[derive(Debug, Clone)]
pub struct Caller {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl Caller {
    /// A command run on the server itself (the CLI): no network address to throttle or record.
    pub fn local() -> Self {
        Self {
            ip: IpAddr::from([127, 0, 0, 1]),
            user_agent: None,
        }
    }
}
