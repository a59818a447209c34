//! The REST API against a real server on 127.0.0.1, on every database backend:
//! envelopes, redirects, the build flow through the API, artifact links, errors.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{TestServer, client, specification_yaml, test_settings};
use conda_store_test_support::{TestDatabase, backends};
use serde_json::{Value, json};

async fn get_json(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = client().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("get");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn send_json(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client().request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn status_is_served_under_the_prefix_with_the_envelope() {
    for prefix in ["/", "/conda-store", "/conda-store/"] {
        let server = TestServer::start(
            TestDatabase::create(conda_store_test_support::Backend::Sqlite).await,
            test_settings(prefix),
        )
        .await;
        let (status, body) = get_json(&server.url("/api/v1/"), None).await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"status": "ok", "data": {"version": conda_store_core::VERSION}, "message": null})
        );
        if server.base != server.origin {
            let (status, _) = get_json(&format!("{}/api/v1/", server.origin), None).await;
            assert_eq!(status, 404);
        }
        // FastAPI's slash redirects, both ways, keeping the query.
        let response = client()
            .get(server.url("/api/v1/build/1/lockfile?x=1"))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 307);
        assert_eq!(
            response.headers()["location"],
            format!(
                "{}/api/v1/build/1/lockfile/?x=1",
                server.base.trim_start_matches(&server.origin)
            )
            .as_str()
        );
        // The official client's filters: its slash lands at the end of the query.
        let response = client()
            .get(server.url("/api/v1/environment?status=COMPLETED&packages=hello/"))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 307);
        assert_eq!(
            response.headers()["location"],
            format!(
                "{}/api/v1/environment/?status=COMPLETED&packages=hello",
                server.base.trim_start_matches(&server.origin)
            )
            .as_str()
        );
        let response = client()
            .put(server.url("/api/v1/namespace/x/metadata/"))
            .send()
            .await
            .expect("put");
        assert_eq!(response.status(), 307);
        assert!(
            response.headers()["location"]
                .to_str()
                .unwrap()
                .ends_with("/api/v1/namespace/x/metadata")
        );
    }
}

#[tokio::test]
async fn anonymous_and_logged_in_permissions() {
    let server = TestServer::start(
        TestDatabase::create(conda_store_test_support::Backend::Sqlite).await,
        test_settings("/"),
    )
    .await;
    let (status, body) = get_json(&server.url("/api/v1/permission/"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!({
            "authenticated": false,
            "primary_namespace": "default",
            "entity_permissions": {"default/*": ["environment::read", "namespace-role-mapping::read", "namespace::read"]},
            "entity_roles": {"default/*": ["viewer"]},
            "expiration": null,
        })
    );

    // The password login sets the cookie; the cookie authenticates.
    let response = client()
        .post(server.url("/login/?next=/somewhere/"))
        .json(&json!({"username": "alice", "password": "password"}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("conda-store-auth="), "{cookie}");
    assert!(cookie.contains("HttpOnly"));
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["redirect_url"], "/somewhere/");
    let token = cookie
        .trim_start_matches("conda-store-auth=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let response = client()
        .get(server.url("/api/v1/permission/"))
        .header("cookie", format!("conda-store-auth={token}"))
        .send()
        .await
        .expect("get");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["authenticated"], true);
    assert_eq!(body["data"]["primary_namespace"], "alice");
    assert_eq!(body["data"]["entity_roles"]["*/*"], json!(["admin"]));
    assert_eq!(
        body["data"]["entity_roles"]["filesystem/*"],
        json!(["viewer"])
    );
    assert!(
        body["data"]["expiration"]
            .as_str()
            .is_some_and(|text| !text.ends_with('Z') && !text.contains('+'))
    );
    // Basic auth with the token as password works too.
    let response = client()
        .get(server.url("/api/v1/permission/"))
        .basic_auth("anyone", Some(&token))
        .send()
        .await
        .expect("get");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["authenticated"], true);

    let response = client()
        .post(server.url("/login/"))
        .json(&json!({"username": "alice", "password": "wrong"}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({"status": "error", "message": "Invalid authentication credentials"})
    );

    let response = client()
        .post(server.url("/logout/?next=/bye/"))
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/bye/");
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn an_environment_is_built_and_served_through_the_api() {
    for backend in backends() {
        let server = TestServer::start(
            TestDatabase::create(backend).await,
            test_settings("/conda-store"),
        )
        .await;
        let admin = server.admin_token();
        let build_id = server.submit(&admin, "team", "hello-env", &["hello"]).await;
        let (_, body) = get_json(
            &server.url(&format!("/api/v1/build/{build_id}/")),
            Some(&admin),
        )
        .await;
        assert_eq!(body["data"]["status"], "QUEUED");
        server.worker.run_until_idle().await.expect("worker");

        let (status, body) = get_json(
            &server.url(&format!("/api/v1/build/{build_id}/")),
            Some(&admin),
        )
        .await;
        assert_eq!(status, 200);
        let build = &body["data"];
        assert_eq!(build["status"], "COMPLETED", "{body}");
        assert_eq!(build["specification"]["name"], "hello-env");
        assert!(build["packages"].is_null());
        let kinds: Vec<&str> = build["build_artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|artifact| artifact["artifact_type"].as_str().unwrap())
            .collect();
        for kind in ["LOGS", "LOCKFILE", "YAML", "CONDA_PACK", "DIRECTORY"] {
            assert!(kinds.contains(&kind), "{kinds:?}");
        }
        let scheduled = build["scheduled_on"].as_str().unwrap();
        assert!(
            !scheduled.ends_with('Z') && !scheduled.contains('+'),
            "{scheduled}"
        );

        // Lists.
        let (_, body) = get_json(
            &server.url("/api/v1/environment/?search=hello"),
            Some(&admin),
        )
        .await;
        assert_eq!(body["count"], 1);
        assert_eq!(body["page"], 1);
        assert_eq!(body["data"][0]["namespace"]["name"], "team");
        assert_eq!(body["data"][0]["current_build_id"], build_id);
        assert!(body["data"][0]["current_build"].is_null());
        let (_, body) = get_json(
            &server.url("/api/v1/environment/?packages=hello&packages=libhello&status=COMPLETED&artifact=CONDA_PACK"),
            Some(&admin),
        )
        .await;
        assert_eq!(body["count"], 1, "{body}");
        let (_, body) = get_json(
            &server.url("/api/v1/environment/?packages=numpy"),
            Some(&admin),
        )
        .await;
        assert_eq!(body["count"], 0);
        let (_, body) = get_json(
            &server.url(
                "/api/v1/build/?namespace=team&name=hello-env&sort_by=scheduled_on&order=desc",
            ),
            Some(&admin),
        )
        .await;
        assert_eq!(body["count"], 1);
        assert!(body["data"][0]["build_artifacts"].is_null());
        let (_, body) = get_json(
            &server.url(&format!("/api/v1/build/{build_id}/packages/?sort_by=name")),
            Some(&admin),
        )
        .await;
        let names: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|package| package["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["hello", "hello-data", "libhello"]);
        assert_eq!(
            body["data"][0]["channel"]["name"]
                .as_str()
                .map(|name| name.trim_end_matches('/')),
            Some(server.channel.url().as_str())
        );
        let (_, body) = get_json(
            &server.url("/api/v1/package/?search=hello&distinct_on=name&sort_by=name"),
            None,
        )
        .await;
        assert_eq!(body["count"], 3, "{body}");
        let (_, body) = get_json(&server.url("/api/v2/environment/?limit=1"), Some(&admin)).await;
        assert_eq!(body["count"], 1);
        assert!(body.get("current_build").is_none());
        assert!(body["data"][0].get("current_build").is_none());

        // Artifacts: a signed link that works without credentials, and only as signed.
        let response = client()
            .get(server.url(&format!("/api/v1/build/{build_id}/lockfile")))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 307);
        let response = client()
            .get(server.url(&format!("/api/v1/build/{build_id}/lockfile/")))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 307);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with("/conda-store/storage/lockfile/"),
            "{location}"
        );
        let lockfile: Value = client()
            .get(format!("{}{location}", server.origin))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("conda-lock JSON");
        assert_eq!(lockfile["version"], 1);
        let tampered = location.replace("signature=", "signature=00");
        let response = client()
            .get(format!("{}{tampered}", server.origin))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 403);
        let unsigned = location.split('?').next().unwrap();
        let response = client()
            .get(format!("{}{unsigned}", server.origin))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 403);
        // Anonymous callers cannot read the team's build at all.
        let response = client()
            .get(server.url(&format!("/api/v1/build/{build_id}/logs/")))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 403);

        // Rebuild, cancel it, switch back, delete.
        let (status, body) = send_json(
            reqwest::Method::PUT,
            &server.url(&format!("/api/v1/build/{build_id}/")),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["message"], "rebuild triggered");
        let rebuilt = body["data"]["build_id"].as_i64().unwrap();
        let (status, body) = send_json(
            reqwest::Method::PUT,
            &server.url(&format!("/api/v1/build/{rebuilt}/cancel/")),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({"status": "ok", "message": format!("build {rebuilt} canceled")})
        );
        let (status, _) = send_json(
            reqwest::Method::PUT,
            &server.url("/api/v1/environment/team/hello-env/"),
            Some(&admin),
            Some(json!({"build_id": rebuilt, "description": "x"})),
        )
        .await;
        assert_eq!(status, 400, "a canceled build cannot be current");
        let (status, _) = send_json(
            reqwest::Method::PUT,
            &server.url("/api/v1/environment/team/hello-env/"),
            Some(&admin),
            Some(json!({"build_id": build_id, "description": "the hello environment"})),
        )
        .await;
        assert_eq!(status, 200);
        let (_, body) = get_json(
            &server.url("/api/v1/environment/team/hello-env/"),
            Some(&admin),
        )
        .await;
        assert_eq!(body["data"]["description"], "the hello environment");
        let (status, _) = send_json(
            reqwest::Method::DELETE,
            &server.url("/api/v1/environment/team/hello-env/"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, 200);
        let (_, body) = get_json(&server.url("/api/v1/environment/"), Some(&admin)).await;
        assert_eq!(body["count"], 0);
    }
}

#[tokio::test]
async fn bad_input_is_refused_with_400_and_missing_things_with_404() {
    for backend in backends() {
        let server =
            TestServer::start(TestDatabase::create(backend).await, test_settings("/")).await;
        let admin = server.admin_token();
        let post = |body: Value| {
            let url = server.url("/api/v1/specification/");
            let admin = admin.clone();
            async move { send_json(reqwest::Method::POST, &url, Some(&admin), Some(body)).await }
        };
        let (status, body) =
            post(json!({"namespace": "team", "specification": "name: [unclosed"})).await;
        assert_eq!(status, 400);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("Unable to parse. Invalid YAML"),
            "{body}"
        );
        let (status, _) = post(json!({
            "namespace": "bad/name",
            "specification": specification_yaml(&server.channel.url(), "x", &["hello"]),
        }))
        .await;
        assert_eq!(status, 400);
        let (status, _) = post(json!({
            "namespace": "team",
            "specification": specification_yaml(&server.channel.url(), "x", &["numpy >=>1"]),
        }))
        .await;
        assert_eq!(status, 400);
        let (status, body) = send_json(
            reqwest::Method::PUT,
            &server.url("/api/v1/setting/"),
            Some(&admin),
            Some(json!({"no_such_setting": 1})),
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("no_such_setting")
        );
        server.submit(&admin, "team", "env", &["hello"]).await;
        let (status, body) = send_json(
            reqwest::Method::PUT,
            &server.url("/api/v1/setting/team/"),
            Some(&admin),
            Some(json!({"storage_threshold": 1})),
        )
        .await;
        assert_eq!(status, 400, "a global key at namespace level");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("storage_threshold")
        );
        let (status, _) = send_json(
            reqwest::Method::PUT,
            &server.url("/api/v1/setting/team/"),
            Some(&admin),
            Some(json!({"conda_default_channels": "not a list"})),
        )
        .await;
        assert_eq!(status, 400);
        let (status, _) = send_json(
            reqwest::Method::POST,
            &server.url("/api/v1/namespace/other/"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, 200);
        let (status, body) = send_json(
            reqwest::Method::POST,
            &server.url("/api/v1/namespace/other/"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, 409, "{body}");
        let (status, _) = send_json(
            reqwest::Method::POST,
            &server.url("/api/v1/namespace/team/role"),
            Some(&admin),
            Some(json!({"other_namespace": "other", "role": "overlord"})),
        )
        .await;
        assert_eq!(status, 400, "invalid role");
        // 404 for an admin, 403 for anonymous callers (authorization first).
        for path in [
            "/api/v1/namespace/missing/",
            "/api/v1/environment/missing/env/",
            "/api/v1/build/999999/",
        ] {
            let (status, body) = get_json(&server.url(path), Some(&admin)).await;
            assert_eq!(status, 404, "{path}");
            assert_eq!(body["status"], "error");
        }
        let (status, _) = get_json(&server.url("/api/v1/namespace/missing/"), None).await;
        assert_eq!(status, 403);
        let (status, _) = get_json(&server.url("/api/v1/environment/missing/env/"), None).await;
        assert_eq!(status, 403);
    }
}

#[tokio::test]
async fn settings_merge_global_namespace_and_environment() {
    let server = TestServer::start(
        TestDatabase::create(conda_store_test_support::Backend::Sqlite).await,
        test_settings("/"),
    )
    .await;
    let admin = server.admin_token();
    let put = |path: &str, body: Value| {
        let url = server.url(path);
        let admin = admin.clone();
        async move { send_json(reqwest::Method::PUT, &url, Some(&admin), Some(body)).await }
    };
    let (status, body) = put("/api/v1/setting/", json!({"conda_default_channels": ["a"]})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["message"],
        "global setting keys ['conda_default_channels'] updated"
    );
    put(
        "/api/v1/setting/team/",
        json!({"conda_default_channels": ["b"]}),
    )
    .await;
    put(
        "/api/v1/setting/team/env/",
        json!({"conda_allowed_channels": ["c"]}),
    )
    .await;
    let (_, global) = get_json(&server.url("/api/v1/setting/"), Some(&admin)).await;
    let (_, namespace) = get_json(&server.url("/api/v1/setting/team/"), Some(&admin)).await;
    let (_, environment) = get_json(&server.url("/api/v1/setting/team/env/"), Some(&admin)).await;
    assert_eq!(global["data"]["conda_default_channels"], json!(["a"]));
    assert_eq!(namespace["data"]["conda_default_channels"], json!(["b"]));
    assert_eq!(environment["data"]["conda_default_channels"], json!(["b"]));
    assert_eq!(environment["data"]["conda_allowed_channels"], json!(["c"]));
    assert_eq!(global["data"]["conda_allowed_channels"], json!([]));
    assert!(global["data"].get("secret").is_none());
    assert!(global["data"].get("database_url").is_none());
}

#[tokio::test]
async fn a_token_survives_a_restart_with_a_generated_secret() {
    let settings = conda_store_core::settings::Settings {
        secret: None,
        ..test_settings("/")
    };
    let mut server = TestServer::start(
        TestDatabase::create(conda_store_test_support::Backend::Sqlite).await,
        settings,
    )
    .await;
    let response = client()
        .post(server.url("/login/"))
        .json(&json!({"username": "alice", "password": "password"}))
        .send()
        .await
        .expect("login");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let token = cookie
        .trim_start_matches("conda-store-auth=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (_, body) = send_json(
        reqwest::Method::POST,
        &server.url("/api/v1/token/"),
        Some(&token),
        None,
    )
    .await;
    let issued = body["data"]["token"].as_str().unwrap().to_owned();
    server.restart().await;
    for token in [&token, &issued] {
        let (_, body) = get_json(&server.url("/api/v1/permission/"), Some(token)).await;
        assert_eq!(body["data"]["authenticated"], true, "{body}");
        assert_eq!(body["data"]["primary_namespace"], "alice");
    }
}

#[tokio::test]
async fn cors_answers_a_configured_origin_with_credentials_and_metrics_are_prometheus_text() {
    let server = TestServer::start(
        TestDatabase::create(conda_store_test_support::Backend::Sqlite).await,
        conda_store_core::settings::Settings {
            cors_allow_origins: vec!["http://jupyter.example".to_owned()],
            ..test_settings("/")
        },
    )
    .await;
    let response = client()
        .request(reqwest::Method::OPTIONS, server.url("/api/v1/environment/"))
        .header("origin", "http://jupyter.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .expect("preflight");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://jupyter.example"
    );
    assert_eq!(
        response.headers()["access-control-allow-credentials"],
        "true"
    );
    let response = client()
        .get(server.url("/api/v1/environment/"))
        .header("origin", "http://jupyter.example")
        .send()
        .await
        .expect("get");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://jupyter.example"
    );
    assert_eq!(response.headers()["deprecation"], "True");
    assert_eq!(
        response.headers()["sunset"],
        "Mon, 17 Mar 2025 00:00:00 UTC"
    );

    server
        .service
        .update_storage_metrics()
        .await
        .expect("metrics");
    let text = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("# TYPE conda_store_disk_free gauge\nconda_store_disk_free "),
        "{text}"
    );
    assert!(text.contains("conda_store_environments 0"), "{text}");
}

/// Found by schemathesis: a page or v2 limit past `i64::MAX` rows panicked in the SQLite
/// binding (the connection dropped); it is an empty page, or every row.
#[tokio::test]
async fn huge_pages_and_limits_are_empty_pages_not_crashes() {
    let server = TestServer::start(
        TestDatabase::create(conda_store_test_support::Backend::Sqlite).await,
        test_settings("/conda-store"),
    )
    .await;
    let admin = server.admin_token();
    for path in [
        "/api/v1/build/?page=92233720368547760",
        "/api/v1/environment/?page=18446744073709551615&size=100",
        "/api/v1/package/?page=9223372036854775807&distinct_on=name",
        "/api/v2/environment/?limit=18446744073709551615",
    ] {
        let (status, body) = get_json(&server.url(path), Some(&admin)).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["data"], json!([]), "{path}");
    }
}

#[tokio::test]
async fn predefined_tokens_authenticate_service_accounts() {
    let settings = conda_store_core::settings::Settings {
        predefined_tokens: std::collections::BTreeMap::from([(
            "robot-token".to_owned(),
            json!({"primary_namespace": "robots", "role_bindings": {"robots/*": ["editor"]}}),
        )]),
        ..test_settings("/")
    };
    let server = TestServer::start(
        TestDatabase::create(conda_store_test_support::Backend::Sqlite).await,
        settings,
    )
    .await;
    let (_, body) = get_json(&server.url("/api/v1/permission/"), Some("robot-token")).await;
    assert_eq!(body["data"]["authenticated"], true);
    assert_eq!(body["data"]["primary_namespace"], "robots");
    assert_eq!(
        body["data"]["entity_roles"]["robots/*"],
        json!(["developer"])
    );
    let (status, _) = get_json(&server.url("/api/v1/permission/"), Some("not-a-token")).await;
    assert_eq!(status, 200, "an unknown token is anonymous, not an error");
    // The login form page is served for browsers.
    let page = client()
        .get(server.url("/login/?next=/ui/"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(page.contains("<form id=\"login\">"), "{page}");
}

#[tokio::test]
async fn the_api_and_metrics_can_be_turned_off() {
    let settings = conda_store_core::settings::Settings {
        enable_api: false,
        enable_metrics: false,
        ..test_settings("/")
    };
    let server = TestServer::start(
        TestDatabase::create(conda_store_test_support::Backend::Sqlite).await,
        settings,
    )
    .await;
    for path in ["/api/v1/", "/api/v1/environment/", "/metrics"] {
        let response = client().get(server.url(path)).send().await.expect("get");
        assert_eq!(response.status(), 404, "{path}");
    }
    let response = client()
        .get(server.url("/login/"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200, "logging in stays possible");
}
