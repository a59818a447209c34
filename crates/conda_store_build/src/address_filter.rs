//! A DNS resolver for the engine's HTTP client that drops loopback, link-local, private
//! and other non-public addresses (`conda_store_core::url_policy::is_refused_address`)
//! for every host but those of the operator's channels, so that a host name that
//! resolved to a public address when a specification was checked cannot resolve to a
//! private one when the worker fetches (DNS rebinding). Literal IP addresses do not go
//! through a resolver: the URL policy refuses those before any fetch.

use conda_store_core::url_policy::{UrlPolicy, is_refused_address};
use rattler_reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;

/// Resolves with the system resolver, keeping public addresses only (all addresses for
/// trusted hosts).
#[derive(Debug, Clone)]
pub struct AddressFilter {
    trusted_hosts: Vec<String>,
}

impl AddressFilter {
    /// The filter `policy` calls for: `None` unless it refuses private addresses.
    pub fn from_policy(policy: &UrlPolicy) -> Option<Self> {
        policy.refuses_private_addresses().then(|| Self {
            trusted_hosts: policy.trusted_hosts(),
        })
    }

    fn is_trusted(&self, host: &str) -> bool {
        self.trusted_hosts
            .iter()
            .any(|trusted| trusted.eq_ignore_ascii_case(host))
    }
}

impl Resolve for AddressFilter {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let trusted = self.is_trusted(&host);
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| trusted || !is_refused_address(address.ip()))
                .collect();
            if addresses.is_empty() {
                return Err(format!(
                    "{host} resolves to no public address (refuse_private_addresses)"
                )
                .into());
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}
