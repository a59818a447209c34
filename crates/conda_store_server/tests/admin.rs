//! The admin pages and the live build log against a real server on 127.0.0.1, over
//! plain HTTP: every page renders for an admin, anonymous callers are sent to the login
//! page, forms need their CSRF token and the API's permissions, and the log stream
//! sends the log so far, then what is appended, then ends.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{TestServer, client, specification_yaml, test_settings};
use conda_store_core::domain::BuildStatus;
use conda_store_test_support::{Backend, TestDatabase};
use serde_json::{Value, json};
use std::time::Duration;

/// A page: status, body, and `Location` when redirected.
struct Answer {
    status: u16,
    body: String,
    location: Option<String>,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|value| value.to_str().unwrap().to_owned());
    Answer {
        status,
        body: response.text().await.unwrap(),
        location,
    }
}

async fn page(server: &TestServer, path: &str, token: Option<&str>) -> Answer {
    let mut request = client().get(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.unwrap()).await
}

/// POSTs a form; `origin` sets the `Origin` header.
async fn submit(
    server: &TestServer,
    path: &str,
    token: Option<&str>,
    fields: &[(&str, &str)],
    origin: Option<&str>,
) -> Answer {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut request = client()
        .post(server.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    answer(request.send().await.unwrap()).await
}

/// Borrowed form fields.
fn pairs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

/// The CSRF token of the first form of `html`.
fn csrf_of(html: &str) -> String {
    let start = html.find(r#"name="csrf" value=""#).expect("a csrf field") + 19;
    html[start..].split('"').next().unwrap().to_owned()
}

async fn api(server: &TestServer, path: &str, token: &str) -> Value {
    client()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn start() -> TestServer {
    TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        test_settings("/conda-store"),
    )
    .await
}

#[tokio::test]
async fn every_page_renders_for_an_admin_and_the_openapi_document_leaves_them_out() {
    let server = start().await;
    let admin = server.admin_token();
    let build_id = server.submit(&admin, "team", "hello-env", &["hello"]).await;
    server.worker.run_until_idle().await.expect("worker");
    let token = admin;
    let admin = Some(token.as_str());

    let list = page(&server, "/admin/?search=hello", admin).await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("hello-env"), "{}", list.body);
    assert!(
        list.body
            .contains(&format!("/conda-store/api/v1/build/{build_id}/lockfile/"))
    );
    let list = page(&server, "/admin/?search=nothing-like-it", admin).await;
    assert!(!list.body.contains("hello-env"));

    let environment = page(&server, "/admin/environment/team/hello-env/", admin).await;
    assert_eq!(environment.status, 200);
    assert!(
        environment
            .body
            .contains(&format!("#{build_id}</a> (current)"))
    );
    assert!(environment.body.contains("Rebuild") && environment.body.contains("hello"));

    let build = page(&server, &format!("/admin/build/{build_id}/"), admin).await;
    assert_eq!(build.status, 200);
    for expected in [
        "COMPLETED",
        "libhello",
        "Scheduled",
        "Size",
        &format!("/conda-store/api/v1/build/{build_id}/lockfile/"),
        &format!("/conda-store/api/v1/build/{build_id}/logs/"),
        &format!("/conda-store/api/v1/build/{build_id}/archive/"),
        "micromamba create -n hello-env",
    ] {
        assert!(build.body.contains(expected), "{expected}: {}", build.body);
    }
    // The finished build's log is on the page, without a live stream.
    let log_start = build.body.find(r#"<pre id="log">"#).unwrap();
    assert!(build.body.len() > log_start + 30);
    assert!(!build.body.contains("EventSource"));

    for (path, expected) in [
        ("/admin/create/", "<option selected>admin</option>"),
        ("/admin/environment/team/hello-env/edit/", "hello-env"),
        ("/admin/namespace/", "team"),
        ("/admin/namespace/team/", "Shared with (v2)"),
        ("/admin/user/", "namespace::create"),
        ("/admin/setting/", "conda_allowed_channels"),
        ("/admin/setting/team/", "Set globally only"),
        ("/admin/setting/team/hello-env/", "conda_default_channels"),
    ] {
        let answer = page(&server, path, admin).await;
        assert_eq!(answer.status, 200, "{path}");
        assert!(answer.body.contains(expected), "{path}: {}", answer.body);
    }
    // `/admin` without the slash goes to `/admin/`.
    assert_eq!(
        page(&server, "/admin", admin).await.location.as_deref(),
        Some("/conda-store/admin/")
    );

    let document = api(&server, "/openapi.json", &token).await;
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.keys().all(|path| !path.starts_with("/admin")));
    let stream = &paths["/api/v1/build/{build_id}/logs/stream/"]["get"]["responses"]["200"];
    assert!(
        stream["content"].get("text/event-stream").is_some(),
        "{stream}"
    );
}

#[tokio::test]
async fn forms_need_their_csrf_token_and_then_act_through_the_api() {
    let server = start().await;
    let token = server.admin_token();
    let admin = Some(token.as_str());
    let first = server.submit(&token, "team", "hello-env", &["hello"]).await;
    server.worker.run_until_idle().await.expect("worker");
    let form = page(&server, "/admin/create/", admin).await;
    let csrf = csrf_of(&form.body);
    let yaml = specification_yaml(&server.channel.url(), "hello-env", &["hello", "libhello"]);
    let fields = |csrf: &'static str| {
        vec![
            ("kind", "yaml".to_owned()),
            ("namespace", "team".to_owned()),
            ("specification", yaml.clone()),
            ("csrf", csrf.to_owned()),
        ]
    };

    // No token, a wrong one, another caller's, or a cross-site origin: 403.
    let without: Vec<_> = fields("")
        .into_iter()
        .filter(|(name, _)| *name != "csrf")
        .collect();
    assert_eq!(
        submit(&server, "/admin/create/", admin, &pairs(&without), None)
            .await
            .status,
        403
    );
    let wrong = fields("99999999999.00ff");
    let wrong = submit(&server, "/admin/create/", admin, &pairs(&wrong), None).await;
    assert_eq!(wrong.status, 403);
    assert!(wrong.body.contains("CSRF"));
    let mut owned = fields("");
    owned[3].1 = csrf.clone();
    let with_token = pairs(&owned);
    let other = server.token("someone-else", &[("*/*", "admin")]);
    let other_csrf = submit(&server, "/admin/create/", Some(&other), &with_token, None).await;
    assert_eq!(
        other_csrf.status, 403,
        "a token bound to another credential"
    );
    let cross = submit(
        &server,
        "/admin/create/",
        admin,
        &with_token,
        Some("https://evil.example"),
    )
    .await;
    assert_eq!(cross.status, 403);

    // With it: the environment's new specification is queued.
    let created = submit(
        &server,
        "/admin/create/",
        admin,
        &with_token,
        Some(&server.origin),
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let location = created.location.unwrap();
    let second: i32 = location
        .trim_start_matches("/conda-store/admin/build/")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let build = api(&server, &format!("/api/v1/build/{second}/"), &token).await;
    assert_eq!(build["data"]["status"], "QUEUED");
    // A running build's page follows the log live.
    let running = page(&server, &location.replace("/conda-store", ""), admin).await;
    assert!(running.body.contains("EventSource"));
    assert!(running.body.contains(&format!(
        "/conda-store/api/v1/build/{second}/logs/stream/?offset="
    )));
    // A bad specification shows the form again with the API's message.
    let mut bad = owned.clone();
    bad[2].1 = "name: [not valid".to_owned();
    let refused = submit(&server, "/admin/create/", admin, &pairs(&bad), None).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("class=\"error\"") && refused.body.contains("name: [not valid"));

    server.worker.run_until_idle().await.expect("worker");
    let environment_path = "/api/v1/environment/team/hello-env/";
    assert_eq!(
        api(&server, environment_path, &token).await["data"]["current_build_id"],
        second
    );
    let action = async |path: String| {
        let page = page(&server, "/admin/environment/team/hello-env/", admin).await;
        submit(
            &server,
            &path,
            admin,
            &[("csrf", &csrf_of(&page.body))],
            None,
        )
        .await
    };

    // Set current, rebuild, cancel, delete.
    let current = action(format!("/admin/build/{first}/current/")).await;
    assert_eq!(current.status, 303, "{}", current.body);
    assert_eq!(
        current.location.as_deref(),
        Some("/conda-store/admin/environment/team/hello-env/")
    );
    assert_eq!(
        api(&server, environment_path, &token).await["data"]["current_build_id"],
        first
    );
    let rebuilt = action(format!("/admin/build/{first}/rebuild/")).await;
    assert_eq!(rebuilt.status, 303);
    let third: i32 = rebuilt
        .location
        .unwrap()
        .trim_start_matches("/conda-store/admin/build/")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    assert!(third > second);
    let canceled = action(format!("/admin/build/{third}/cancel/")).await;
    assert_eq!(canceled.status, 303);
    let build = api(&server, &format!("/api/v1/build/{third}/"), &token).await;
    assert_eq!(build["data"]["status"], "CANCELED");
    let deleted = action(format!("/admin/build/{third}/delete/")).await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    // Deleting the current build is the API's 400, shown as a page.
    let refused = action(format!("/admin/build/{first}/delete/")).await;
    assert_eq!(refused.status, 409);
    assert!(refused.body.contains("make another build current first"));
    let environment = page(&server, "/admin/environment/team/hello-env/", admin).await;
    assert!(
        !environment.body.contains(&format!("#{third}<")),
        "deleted builds are not listed"
    );

    // Namespaces: create, share, replace v1 mappings, delete.
    let namespaces = page(&server, "/admin/namespace/", admin).await;
    let csrf = csrf_of(&namespaces.body);
    let created = submit(
        &server,
        "/admin/namespace/",
        admin,
        &[("csrf", &csrf), ("name", "lab")],
        None,
    )
    .await;
    assert_eq!(created.status, 303);
    assert_eq!(
        created.location.as_deref(),
        Some("/conda-store/admin/namespace/lab/")
    );
    let shared = submit(
        &server,
        "/admin/namespace/lab/share/",
        admin,
        &[
            ("csrf", &csrf),
            ("other_namespace", "team"),
            ("role", "viewer"),
        ],
        None,
    )
    .await;
    assert_eq!(shared.status, 303, "{}", shared.body);
    let mappings = submit(
        &server,
        "/admin/namespace/lab/role-mappings/",
        admin,
        &[
            ("csrf", &csrf),
            ("role_mappings", r#"{"lab/*": ["viewer"]}"#),
        ],
        None,
    )
    .await;
    assert_eq!(mappings.status, 303, "{}", mappings.body);
    let lab = page(&server, "/admin/namespace/lab/", admin).await;
    assert!(
        lab.body.contains("<td>team</td><td>viewer</td>"),
        "{}",
        lab.body
    );
    assert!(
        lab.body.contains("<td>lab/*</td><td>viewer</td>"),
        "{}",
        lab.body
    );
    let deleted = submit(
        &server,
        "/admin/namespace/lab/delete/",
        admin,
        &[("csrf", &csrf)],
        None,
    )
    .await;
    assert_eq!(deleted.status, 303);
    let gone = client()
        .get(server.url("/api/v1/namespace/lab/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);

    // Settings: only changed keys are stored; a refused value shows the page again.
    let settings = page(&server, "/admin/setting/team/", admin).await;
    let csrf = csrf_of(&settings.body);
    let saved = submit(
        &server,
        "/admin/setting/team/",
        admin,
        &[
            ("csrf", &csrf),
            ("settings", r#"{"conda_default_packages": ["hello"]}"#),
        ],
        None,
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let effective = api(&server, "/api/v1/setting/team/", &token).await;
    assert_eq!(
        effective["data"]["conda_default_packages"],
        json!(["hello"])
    );
    let refused = submit(
        &server,
        "/admin/setting/team/",
        admin,
        &[
            ("csrf", &csrf),
            ("settings", r#"{"default_namespace": "x"}"#),
        ],
        None,
    )
    .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("can only be set globally"),
        "{}",
        refused.body
    );

    // A token made on the user page works on the API.
    let user = page(&server, "/admin/user/", admin).await;
    let made = submit(
        &server,
        "/admin/user/token/",
        admin,
        &[("csrf", &csrf_of(&user.body))],
        None,
    )
    .await;
    assert_eq!(made.status, 200);
    let start = made.body.find("readonly>").unwrap() + 9;
    let new_token = made.body[start..].split('<').next().unwrap();
    let permission = api(&server, "/api/v1/permission/", new_token).await;
    assert_eq!(permission["data"]["authenticated"], true);

    // Deleting the environment goes back to the list.
    let environment = page(&server, "/admin/environment/team/hello-env/", admin).await;
    let deleted = submit(
        &server,
        "/admin/environment/team/hello-env/delete/",
        admin,
        &[("csrf", &csrf_of(&environment.body))],
        None,
    )
    .await;
    assert_eq!(deleted.status, 303);
    assert_eq!(deleted.location.as_deref(), Some("/conda-store/admin/"));
}

#[tokio::test]
async fn anonymous_callers_log_in_first_and_viewers_cannot_change_builds() {
    let server = start().await;
    let token = server.admin_token();
    let build_id = server.submit(&token, "team", "hello-env", &["hello"]).await;

    // Anonymous: the list shows what anyone may see; other pages send to the login.
    assert_eq!(page(&server, "/admin/", None).await.status, 200);
    for path in [
        "/admin/user/",
        "/admin/create/",
        "/admin/environment/team/hello-env/",
        &format!("/admin/build/{build_id}/"),
        "/admin/setting/",
    ] {
        let answer = page(&server, path, None).await;
        assert_eq!(answer.status, 303, "{path}");
        let next = form_urlencoded::byte_serialize(format!("/conda-store{path}").as_bytes())
            .collect::<String>();
        assert_eq!(
            answer.location.as_deref(),
            Some(format!("/conda-store/login/?next={next}").as_str()),
            "{path}"
        );
    }

    // A viewer of the namespace reads, but cannot cancel, delete or create.
    let viewer = server.token("viewer", &[("team/*", "viewer")]);
    let build = page(&server, &format!("/admin/build/{build_id}/"), Some(&viewer)).await;
    assert_eq!(build.status, 200);
    let csrf = csrf_of(&build.body);
    for action in ["cancel", "delete", "rebuild", "current"] {
        let refused = submit(
            &server,
            &format!("/admin/build/{build_id}/{action}/"),
            Some(&viewer),
            &[("csrf", &csrf)],
            None,
        )
        .await;
        assert_eq!(refused.status, 403, "{action}");
    }
    let refused = submit(
        &server,
        "/admin/environment/team/hello-env/delete/",
        Some(&viewer),
        &[("csrf", &csrf)],
        None,
    )
    .await;
    assert_eq!(refused.status, 403);
    let yaml = specification_yaml(&server.channel.url(), "other-env", &["hello"]);
    let refused = submit(
        &server,
        "/admin/create/",
        Some(&viewer),
        &[
            ("csrf", &csrf),
            ("namespace", "team"),
            ("specification", &yaml),
        ],
        None,
    )
    .await;
    assert_eq!(refused.status, 403);
    let build = api(&server, &format!("/api/v1/build/{build_id}/"), &token).await;
    assert_eq!(build["data"]["status"], "QUEUED");
}

/// Reads server-sent events from `response` until `wanted` has been seen (or the
/// stream ends); everything read so far.
async fn read_until(response: &mut reqwest::Response, text: &mut String, wanted: &str) -> bool {
    while !text.contains(wanted) {
        let chunk = tokio::time::timeout(Duration::from_secs(20), response.chunk())
            .await
            .expect("an event within 20 s")
            .unwrap();
        match chunk {
            Some(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
            None => return false,
        }
    }
    true
}

#[tokio::test]
async fn the_log_stream_sends_the_log_so_far_then_appended_lines_then_ends() {
    let server = start().await;
    let token = server.admin_token();
    let build_id = server.submit(&token, "team", "hello-env", &["hello"]).await;
    let context = server.service.build_context(build_id).await.unwrap();
    server.service.mark_build_started(&context).await.unwrap();
    server
        .service
        .append_log(&context, "first line")
        .await
        .unwrap();
    let path = format!("/api/v1/build/{build_id}/logs/stream/");

    let anonymous = client().get(server.url(&path)).send().await.unwrap();
    assert_eq!(anonymous.status(), 403);

    let mut response = client()
        .get(server.url(&path))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut text = String::new();
    assert!(read_until(&mut response, &mut text, "data: first line\n").await);
    assert!(
        text.contains("event: log\n") && text.contains("id: 11\n"),
        "{text}"
    );

    // Lines appended while the build runs arrive; a partial line waits for its end.
    server
        .service
        .append_log(&context, "second line")
        .await
        .unwrap();
    assert!(read_until(&mut response, &mut text, "data: second line\n").await);
    let key = context
        .artifact_key(conda_store_core::domain::BuildArtifactType::Logs)
        .unwrap();
    server
        .service
        .storage()
        .append(&key, b"partial")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    server
        .service
        .mark_build_finished(build_id, BuildStatus::Failed, None)
        .await
        .unwrap();
    assert!(
        read_until(&mut response, &mut text, "event: end\ndata: FAILED\n").await,
        "{text}"
    );
    assert!(text.contains("data: partial\n"), "{text}");
    assert!(text.find("partial").unwrap() < text.find("event: end").unwrap());
    let rest = tokio::time::timeout(Duration::from_secs(5), response.chunk())
        .await
        .expect("the stream ends")
        .unwrap();
    assert!(rest.is_none(), "nothing after the end event");

    // Resuming from an offset (`Last-Event-ID` or `?offset=`) skips what was seen.
    for request in [
        client()
            .get(server.url(&path))
            .header("last-event-id", "11"),
        client().get(server.url(&format!("{path}?offset=11"))),
    ] {
        let response = request.bearer_auth(&token).send().await.unwrap();
        let text = tokio::time::timeout(Duration::from_secs(20), response.text())
            .await
            .unwrap()
            .unwrap();
        assert!(!text.contains("first line"), "{text}");
        assert!(
            text.contains("data: second line\n") && text.contains("data: FAILED"),
            "{text}"
        );
    }
    // The UI's log link keeps working.
    let logs = client()
        .get(server.url(&format!("/api/v1/build/{build_id}/logs/")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logs.status(), 307);
}

#[tokio::test]
async fn the_log_stream_of_a_canceled_build_waits_for_the_workers_closing_line() {
    let server = start().await;
    let token = server.admin_token();
    let build_id = server.submit(&token, "team", "hello-env", &["hello"]).await;
    // A worker holds the job, so canceling leaves the closing line to that worker.
    conda_store_db::queue::claim(
        server.service.database(),
        "test-worker",
        None,
        Duration::from_secs(30),
    )
    .await
    .unwrap()
    .expect("the build job");
    let context = server.service.build_context(build_id).await.unwrap();
    server.service.mark_build_started(&context).await.unwrap();
    server
        .service
        .append_log(&context, "solving")
        .await
        .unwrap();
    let mut response = client()
        .get(server.url(&format!("/api/v1/build/{build_id}/logs/stream/")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    assert!(read_until(&mut response, &mut text, "data: solving\n").await);
    // A running build is canceled; its worker writes the closing line a moment later.
    server.service.cancel_build(build_id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.service.append_canceled_line(&context).await.unwrap();
    assert!(
        read_until(&mut response, &mut text, "event: end\ndata: CANCELED\n").await,
        "{text}"
    );
    let line =
        format!("build {build_id} marked as CANCELED due to being canceled from the REST API");
    assert!(
        text.find(&line)
            .is_some_and(|at| at < text.find("event: end").unwrap()),
        "{text}"
    );
}
