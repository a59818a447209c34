//! The one policy for URLs a user makes the server fetch: specification channels,
//! lockfile package URLs, pip indexes and direct pip URLs, and the channels of a
//! remote solve.
//!
//! - Channels the operator configured (`conda_default_channels`,
//!   `conda_allowed_channels`, and anything under them) are trusted and exempt.
//! - When `conda_allowed_channels` is not empty, a channel or a conda package URL must
//!   be (under) one of them; when `pypi_allowed_urls` is not empty, so must a pip
//!   index, `--find-links` page, direct requirement or lockfile pip file be under one
//!   of those.
//! - Schemes: `https` and `http`; `file` too unless `refuse_private_addresses` is on.
//! - With `refuse_private_addresses`, a host that is, or resolves to, a loopback,
//!   link-local, private, unique-local, unspecified, CGNAT or otherwise non-public
//!   address is refused ([`is_refused_address`]). Resolution is the caller's (this crate
//!   does no IO): [`UrlPolicy::check`] says which host to resolve, and
//!   [`UrlPolicy::check_addresses`] judges the answer.

use crate::redaction::redact_credentials;
use crate::settings::Settings;
use crate::specification::normalize_channel;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a URL is for, which decides the schemes it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    /// A conda channel (already normalized with the channel alias).
    Channel,
    /// The URL of a conda package in a lockfile.
    CondaPackage,
    /// A pip index, `--find-links` page, or a pinned pip file of a lockfile.
    PipIndex,
    /// A direct `name @ https://…` pip requirement.
    PipDirect,
}

/// Why a URL is refused. Messages show the URL with its credentials redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    /// Not a URL.
    #[error("{url} is not a valid URL")]
    Invalid {
        /// The URL, redacted.
        url: String,
    },
    /// A scheme other than those allowed for its kind.
    #[error("{url}: the URL scheme `{scheme}` is not allowed here (allowed: {allowed})")]
    Scheme {
        /// The URL, redacted.
        url: String,
        /// Its scheme.
        scheme: String,
        /// The schemes allowed.
        allowed: &'static str,
    },
    /// Outside `conda_allowed_channels`.
    #[error("{url} is not under a channel of `conda_allowed_channels`")]
    NotAllowed {
        /// The URL, redacted.
        url: String,
    },
    /// A pip index, `--find-links` page, direct requirement or pinned pip file
    /// outside `pypi_allowed_urls`.
    #[error("{url} is not under a URL of `pypi_allowed_urls`")]
    NotAllowedPip {
        /// The URL, redacted.
        url: String,
    },
    /// The host is or resolves to an address that is not public.
    #[error(
        "{url}: its host is a loopback, link-local or private address, which this server refuses (`refuse_private_addresses`)"
    )]
    PrivateAddress {
        /// The URL, redacted.
        url: String,
    },
    /// The host name does not resolve.
    #[error("{url}: its host name cannot be resolved")]
    Unresolvable {
        /// The URL, redacted.
        url: String,
    },
}

/// A host the caller must resolve before the URL is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostToResolve {
    /// The host name.
    pub host: String,
    /// The port (the scheme's default when absent).
    pub port: u16,
}

/// The URL policy of one set of (effective) settings.
#[derive(Debug, Clone)]
pub struct UrlPolicy {
    allowed: Vec<String>,
    pypi_allowed: Vec<String>,
    trusted: Vec<String>,
    refuse_private_addresses: bool,
    alias: String,
}

impl UrlPolicy {
    /// The policy of the deployment's own `settings` (no runtime settings merged in).
    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(settings, settings)
    }

    /// The policy for a specification whose runtime settings (namespace and
    /// environment levels merged in) are `effective`. Only the `deployment`'s own
    /// channels are trusted, and it decides `refuse_private_addresses`: a namespace
    /// admin can change runtime settings, and must not make a channel trusted that
    /// way. The allow-list is the effective one (below the global level it can only
    /// narrow the deployment's, `conda_store_service::runtime_settings`).
    pub fn new(deployment: &Settings, effective: &Settings) -> Self {
        let normalize = |channels: &[String], alias: &str| -> Vec<String> {
            channels
                .iter()
                .map(|channel| normalize_channel(channel, alias))
                .collect()
        };
        let deployment_alias = &deployment.conda_channel_alias;
        let mut trusted = normalize(&deployment.conda_allowed_channels, deployment_alias);
        trusted.extend(normalize(
            &deployment.conda_default_channels,
            deployment_alias,
        ));
        Self {
            allowed: normalize(
                &effective.conda_allowed_channels,
                &effective.conda_channel_alias,
            ),
            trusted,
            pypi_allowed: deployment.pypi_allowed_urls.clone(),
            refuse_private_addresses: deployment.refuse_private_addresses,
            alias: effective.conda_channel_alias.clone(),
        }
    }

    /// A channel as written by a user, normalized with the channel alias.
    pub fn normalize_channel(&self, channel: &str) -> String {
        normalize_channel(channel, &self.alias)
    }

    /// Whether `url` is an operator-configured channel or lies under one.
    pub fn is_trusted(&self, url: &str) -> bool {
        self.trusted.iter().any(|channel| is_under(url, channel))
    }

    /// Checks `url` of `kind` without resolving anything. `Ok(Some(host))` means the
    /// URL is acceptable once `host` resolves only to public addresses (see
    /// [`Self::check_addresses`]).
    pub fn check(&self, kind: UrlKind, url: &str) -> Result<Option<HostToResolve>, UrlRefusal> {
        let shown = || redact_credentials(url);
        if matches!(kind, UrlKind::Channel | UrlKind::CondaPackage) {
            if self.is_trusted(url) {
                return Ok(None);
            }
            let under_allowed = self.allowed.iter().any(|channel| is_under(url, channel));
            if !self.allowed.is_empty() && !under_allowed {
                return Err(UrlRefusal::NotAllowed { url: shown() });
            }
        }
        if matches!(kind, UrlKind::PipIndex | UrlKind::PipDirect)
            && !self.pypi_allowed.is_empty()
            && !self.pypi_allowed.iter().any(|prefix| is_under(url, prefix))
        {
            return Err(UrlRefusal::NotAllowedPip { url: shown() });
        }
        let parsed = url::Url::parse(url).map_err(|_| UrlRefusal::Invalid { url: shown() })?;
        let allowed = self.schemes(kind);
        let scheme = parsed.scheme();
        let scheme_allowed = match scheme {
            "https" => true,
            "http" => kind != UrlKind::PipDirect,
            "file" => {
                matches!(kind, UrlKind::Channel | UrlKind::CondaPackage)
                    && !self.refuse_private_addresses
            }
            _ => false,
        };
        if !scheme_allowed {
            return Err(UrlRefusal::Scheme {
                url: shown(),
                scheme: scheme.to_owned(),
                allowed,
            });
        }
        if scheme == "file" || !self.refuse_private_addresses {
            return Ok(None);
        }
        let port = parsed.port_or_known_default().unwrap_or(443);
        match parsed.host() {
            None => Err(UrlRefusal::Invalid { url: shown() }),
            Some(url::Host::Ipv4(address)) => {
                refuse_if_private(IpAddr::V4(address), url).map(|()| None)
            }
            Some(url::Host::Ipv6(address)) => {
                refuse_if_private(IpAddr::V6(address), url).map(|()| None)
            }
            Some(url::Host::Domain(host)) => {
                let lower = host.to_ascii_lowercase();
                if lower == "localhost" || lower.ends_with(".localhost") {
                    return Err(UrlRefusal::PrivateAddress { url: shown() });
                }
                Ok(Some(HostToResolve {
                    host: host.to_owned(),
                    port,
                }))
            }
        }
    }

    /// Judges the addresses a host of `url` resolved to: every one must be public, and
    /// there must be at least one.
    pub fn check_addresses(&self, url: &str, addresses: &[IpAddr]) -> Result<(), UrlRefusal> {
        if addresses.is_empty() {
            return Err(UrlRefusal::Unresolvable {
                url: redact_credentials(url),
            });
        }
        addresses
            .iter()
            .try_for_each(|address| refuse_if_private(*address, url))
    }

    /// Whether addresses of user-supplied hosts are checked at all.
    pub fn refuses_private_addresses(&self) -> bool {
        self.refuse_private_addresses
    }

    /// The host names of the trusted channels (exempt from the address check when the
    /// fetch itself resolves them).
    pub fn trusted_hosts(&self) -> Vec<String> {
        self.trusted
            .iter()
            .filter_map(|channel| url::Url::parse(channel).ok())
            .filter_map(|url| url.host_str().map(str::to_owned))
            .collect()
    }

    fn schemes(&self, kind: UrlKind) -> &'static str {
        match kind {
            UrlKind::PipDirect => "https",
            UrlKind::PipIndex => "https, http",
            UrlKind::Channel | UrlKind::CondaPackage if self.refuse_private_addresses => {
                "https, http"
            }
            UrlKind::Channel | UrlKind::CondaPackage => "https, http, file",
        }
    }
}

fn refuse_if_private(address: IpAddr, url: &str) -> Result<(), UrlRefusal> {
    if is_refused_address(address) {
        Err(UrlRefusal::PrivateAddress {
            url: redact_credentials(url),
        })
    } else {
        Ok(())
    }
}

/// Whether `url` is `channel` or a path under it (`{channel}/…`), both read as a
/// fetcher reads them: parsed, so `..`, `%2e%2e` and a host's case cannot step out of
/// the prefix. A URL that does not parse is under nothing.
fn is_under(url: &str, channel: &str) -> bool {
    let (Ok(url), Ok(channel)) = (url::Url::parse(url), url::Url::parse(channel)) else {
        return false;
    };
    let url = url.as_str();
    let channel = channel.as_str().trim_end_matches('/');
    url == channel
        || url
            .strip_prefix(channel)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether `address` is one a user-supplied URL may not reach when
/// `refuse_private_addresses` is on: unspecified, loopback, link-local, private
/// (RFC 1918), unique-local (fc00::/7), CGNAT (100.64.0.0/10), broadcast, multicast,
/// documentation and benchmarking ranges, and IPv4-mapped or IPv4-compatible IPv6
/// forms of those.
pub fn is_refused_address(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(address) => is_refused_ipv4(address),
        IpAddr::V6(address) => is_refused_ipv6(address),
    }
}

fn is_refused_ipv4(address: Ipv4Addr) -> bool {
    let [first, second, ..] = address.octets();
    address.is_unspecified()
        || address.is_loopback()
        || address.is_private()
        || address.is_link_local()
        || address.is_broadcast()
        || address.is_multicast()
        || address.is_documentation()
        || first == 0
        || (first == 100 && (64..128).contains(&second))
        || (first == 198 && (18..20).contains(&second))
        || first >= 240
}

fn is_refused_ipv6(address: Ipv6Addr) -> bool {
    if let Some(mapped) = address.to_ipv4_mapped() {
        return is_refused_ipv4(mapped);
    }
    let segments = address.segments();
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) forms.
    if segments[..6] == [0, 0, 0, 0, 0, 0] && !address.is_loopback() && !address.is_unspecified()
        || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
    {
        let [.., a, b, c, d] = address.octets();
        return is_refused_ipv4(Ipv4Addr::new(a, b, c, d));
    }
    address.is_unspecified()
        || address.is_loopback()
        || address.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00
        || (segments[0] & 0xffc0) == 0xfe80
        || (segments[0] & 0xffc0) == 0xfec0
        || segments[0] == 0x2001 && segments[1] == 0x0db8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(refuse: bool, allowed: &[&str]) -> UrlPolicy {
        UrlPolicy::from_settings(&Settings {
            refuse_private_addresses: refuse,
            conda_allowed_channels: allowed.iter().map(|text| (*text).to_owned()).collect(),
            conda_default_channels: vec!["file:///srv/channel".to_owned()],
            ..Settings::default()
        })
    }

    #[test]
    fn private_addresses_are_refused_in_every_form() {
        for text in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            let address: IpAddr = text.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            assert!(is_refused_address(address), "{text}");
        }
        for text in ["1.1.1.1", "151.101.0.223", "2606:4700::1111"] {
            let address: IpAddr = text.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            assert!(!is_refused_address(address), "{text}");
        }
    }

    #[test]
    fn schemes_allow_list_and_trusted_channels() {
        let open = policy(false, &[]);
        assert_eq!(
            open.check(UrlKind::Channel, "http://127.0.0.1:1/c"),
            Ok(None)
        );
        assert_eq!(open.check(UrlKind::Channel, "file:///tmp/c"), Ok(None));
        assert!(open.check(UrlKind::Channel, "s3://bucket/c").is_err());
        assert!(
            open.check(UrlKind::PipDirect, "http://x.example/a.whl")
                .is_err()
        );
        assert!(open.check(UrlKind::PipIndex, "file:///srv").is_err());

        let hardened = policy(true, &[]);
        assert!(hardened.check(UrlKind::Channel, "file:///tmp/c").is_err());
        assert_eq!(
            hardened.check(UrlKind::Channel, "file:///srv/channel"),
            Ok(None)
        );
        assert!(matches!(
            hardened.check(UrlKind::Channel, "http://127.0.0.1:1/c"),
            Err(UrlRefusal::PrivateAddress { .. })
        ));
        assert!(
            hardened
                .check(UrlKind::PipIndex, "http://[::ffff:7f00:1]/")
                .is_err()
        );
        assert!(
            hardened
                .check(UrlKind::PipIndex, "http://localhost:80/")
                .is_err()
        );
        assert!(matches!(
            hardened.check(UrlKind::Channel, "https://conda.example/c"),
            Ok(Some(HostToResolve { port: 443, .. }))
        ));
        assert!(
            hardened
                .check_addresses(
                    "https://conda.example/c",
                    &["10.0.0.1"
                        .parse()
                        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))]
                )
                .is_err()
        );

        let listed = policy(false, &["https://allowed.example/c"]);
        for escape in [
            "https://allowed.example/c/../other/linux-64/a.conda",
            "https://allowed.example/c/%2e%2e/other/linux-64/a.conda",
            "https://allowed.example/cc/linux-64/a.conda",
            "https://user:pw@allowed.example/c/linux-64/a.conda",
        ] {
            assert!(
                matches!(
                    listed.check(UrlKind::CondaPackage, escape),
                    Err(UrlRefusal::NotAllowed { .. })
                ),
                "{escape}"
            );
        }
        assert_eq!(
            listed.check(UrlKind::Channel, "https://ALLOWED.example/c/"),
            Ok(None)
        );
        let pypi = UrlPolicy::from_settings(&Settings {
            pypi_allowed_urls: vec!["https://pypi.example/simple".to_owned()],
            ..Settings::default()
        });
        assert_eq!(
            pypi.check(UrlKind::PipIndex, "https://pypi.example/simple/"),
            Ok(None)
        );
        assert!(matches!(
            pypi.check(UrlKind::PipIndex, "https://evil.example/simple"),
            Err(UrlRefusal::NotAllowedPip { .. })
        ));
        assert!(matches!(
            pypi.check(UrlKind::PipDirect, "https://pypi.example/other/a.whl"),
            Err(UrlRefusal::NotAllowedPip { .. })
        ));
        assert_eq!(
            listed.check(
                UrlKind::CondaPackage,
                "https://allowed.example/c/linux-64/a.conda"
            ),
            Ok(None)
        );
        assert!(matches!(
            listed.check(
                UrlKind::CondaPackage,
                "https://allowed.example/cx/linux-64/a.conda"
            ),
            Err(UrlRefusal::NotAllowed { .. })
        ));
        assert!(matches!(
            listed.check(UrlKind::Channel, "https://u:secret@other.example/c"),
            Err(UrlRefusal::NotAllowed { url }) if !url.contains("secret")
        ));
    }
}
