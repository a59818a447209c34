//! Applies the URL policy of `conda_store_core::url_policy` with the system resolver:
//! the one place where a user-supplied URL's host name is resolved and judged.

use conda_store_core::url_policy::{UrlKind, UrlPolicy, UrlRefusal};
use std::net::IpAddr;

/// Checks every URL of `urls` against `policy`, resolving host names when the policy
/// refuses private addresses. The first refusal is returned.
pub async fn check_user_urls(
    policy: &UrlPolicy,
    urls: &[(UrlKind, String)],
) -> Result<(), UrlRefusal> {
    for (kind, url) in urls {
        if let Some(host) = policy.check(*kind, url)? {
            let addresses: Vec<IpAddr> =
                match tokio::net::lookup_host((host.host.as_str(), host.port)).await {
                    Ok(resolved) => resolved.map(|address| address.ip()).collect(),
                    Err(_) => Vec::new(),
                };
            policy.check_addresses(url, &addresses)?;
        }
    }
    Ok(())
}
