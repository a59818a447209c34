//! Issue 9, hole 6: with `refuse_private_addresses`, the engine's own HTTP client drops
//! non-public addresses when it resolves a host name, so a name that passed the check
//! at submission cannot be re-pointed at a private address when the worker fetches
//! (DNS rebinding). `localhost` stands for such a name here.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_build::{AddressFilter, Engine, SolveRequest};
use conda_store_core::settings::Settings;
use conda_store_core::url_policy::UrlPolicy;
use conda_store_test_support::channel::{TestChannel, standard_packages};
use conda_store_test_support::http::SlowChannelServer;
use std::time::Duration;

fn request(channel: &str) -> SolveRequest {
    SolveRequest {
        channels: vec![channel.to_owned()],
        specs: vec!["hello".to_owned()],
        platforms: vec!["linux-64".to_owned()],
        ..SolveRequest::default()
    }
}

#[tokio::test]
async fn the_fetch_itself_refuses_names_that_resolve_to_private_addresses() {
    let directory = tempfile::tempdir().expect("temp dir");
    let channel =
        TestChannel::create(&directory.path().join("channel"), &standard_packages()).await;
    let mirror = SlowChannelServer::start(channel.directory.clone(), Duration::ZERO).await;
    let by_name = mirror.url.replace("127.0.0.1", "localhost");
    let hardened = UrlPolicy::from_settings(&Settings {
        refuse_private_addresses: true,
        conda_default_channels: Vec::new(),
        ..Settings::default()
    });
    let filter = AddressFilter::from_policy(&hardened);
    assert!(filter.is_some());
    let engine = Engine::with_address_filter(&directory.path().join("filtered"), filter);
    let error = engine.lock(&request(&by_name)).await.expect_err("refused");
    assert!(error.to_string().contains("localhost"), "{error}");
    assert_eq!(mirror.downloads("/linux-64/repodata.json"), 0);

    // An operator channel on that host is trusted, and without the setting nothing is
    // filtered.
    let trusting = UrlPolicy::from_settings(&Settings {
        refuse_private_addresses: true,
        conda_default_channels: vec![by_name.clone()],
        ..Settings::default()
    });
    let engine = Engine::with_address_filter(
        &directory.path().join("trusted"),
        AddressFilter::from_policy(&trusting),
    );
    assert!(engine.lock(&request(&by_name)).await.is_ok());
    let open = UrlPolicy::from_settings(&Settings::default());
    assert!(AddressFilter::from_policy(&open).is_none());
    let engine = Engine::new(&directory.path().join("open"));
    assert!(engine.lock(&request(&by_name)).await.is_ok());
}
