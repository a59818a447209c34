//! `/admin/build/{id}/`: status, size, times, packages, artifact links and the log,
//! followed live through the log stream while the build runs; and the build actions
//! (set current, rebuild, cancel, delete).

use super::html::{action_button, escape, link, script_string, size, status, timestamp};
use super::{Admin, answer_data, form, page};
use crate::api::Route;
use crate::error::ApiResult;
use crate::routes::build::{self, authorized_build};
use crate::routes::environment;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use conda_store_core::authorization::Permission;
use conda_store_service::views::{BuildView, PackageView};
use conda_store_service::{LocatedBuild, PackageFilter, Page};

/// Packages shown on a build page.
const PACKAGE_LIMIT: u64 = 1000;

/// The build routes.
pub(super) fn routes() -> Vec<Route> {
    vec![
        page("/admin/build/{build_id}/", "admin_build", "A build", show),
        form(
            "/admin/build/{build_id}/current/",
            "admin_build_current",
            "Make a build current",
            set_current,
        ),
        form(
            "/admin/build/{build_id}/rebuild/",
            "admin_build_rebuild",
            "Rebuild",
            rebuild,
        ),
        form(
            "/admin/build/{build_id}/cancel/",
            "admin_build_cancel",
            "Cancel a build",
            cancel,
        ),
        form(
            "/admin/build/{build_id}/delete/",
            "admin_build_delete",
            "Delete a build",
            delete,
        ),
    ]
}

/// Whether a build with `status` may still change.
fn is_running(status: Option<&str>) -> bool {
    matches!(status, Some("QUEUED" | "BUILDING"))
}

/// The action buttons of a build: those its status allows (the API decides).
pub(super) fn actions(
    admin: &Admin,
    csrf: &str,
    build: &BuildView,
    current: Option<i32>,
) -> String {
    let button = |action: &str, label: &str| {
        action_button(
            &admin.url(&format!("/admin/build/{}/{action}/", build.id)),
            csrf,
            label,
            &[],
        )
    };
    let running = is_running(build.status.as_deref());
    let mut buttons = Vec::new();
    if build.status.as_deref() == Some("COMPLETED") && current != Some(build.id) {
        buttons.push(button("current", "Set current"));
    }
    buttons.push(button("rebuild", "Rebuild"));
    if running {
        buttons.push(button("cancel", "Cancel"));
    } else {
        buttons.push(button("delete", "Delete"));
    }
    buttons.concat()
}

/// `GET /admin/build/{id}/`.
async fn show(admin: Admin, Path(build_id): Path<String>) -> Response {
    admin.respond(build_page(&admin, &build_id).await)
}

async fn build_page(admin: &Admin, build_id: &str) -> ApiResult<Response> {
    let located = authorized_build(
        &admin.state,
        &admin.caller,
        build_id,
        &[Permission::EnvironmentRead],
    )
    .await?;
    let build = &located.build;
    let current = admin
        .state
        .service
        .environment(&located.namespace, &located.environment)
        .await?
        .and_then(|view| view.current_build_id);
    let packages = admin
        .state
        .service
        .build_packages(
            build.id,
            &PackageFilter::default(),
            &Page {
                size: PACKAGE_LIMIT,
                ..Page::default()
            },
        )
        .await?;
    let (log, offset) = log_so_far(admin, build.id).await;
    let csrf = admin.csrf();
    let body = format!(
        r#"{summary}
<p>{actions}</p>
<h2>Artifacts</h2>{artifacts}
<h2>Log</h2>
<pre id="log">{log}</pre>{live}
<h2>Packages ({count})</h2>
<table><tr><th>Name</th><th>Version</th><th>Channel</th><th>License</th><th>Summary</th></tr>{packages}</table>
<h2>Specification</h2><pre>{specification}</pre>"#,
        summary = summary(admin, &located, current),
        actions = actions(admin, &csrf, build, current),
        artifacts = artifact_links(admin, &located),
        log = escape(&log),
        live = live_log_script(admin, build, offset),
        count = packages.count,
        packages = packages.items.iter().map(package_row).collect::<String>(),
        specification = escape(
            &build
                .specification
                .as_ref()
                .and_then(|specification| serde_yaml::to_string(&specification.spec).ok())
                .unwrap_or_default()
        ),
    );
    Ok(admin.page(&format!("Build {}", build.id), &body))
}

/// The table of status, size and times.
fn summary(admin: &Admin, located: &LocatedBuild, current: Option<i32>) -> String {
    let build = &located.build;
    let environment = admin.url(&format!(
        "/admin/environment/{}/{}/",
        super::html::segment(&located.namespace),
        super::html::segment(&located.environment)
    ));
    let rows = [
        (
            "Environment",
            link(
                &environment,
                &format!("{}/{}", located.namespace, located.environment),
            ),
        ),
        (
            "Status",
            format!(
                r#"<span id="status">{}</span>"#,
                status(build.status.as_deref())
            ),
        ),
        (
            "Status info",
            escape(build.status_info.as_deref().unwrap_or("—")),
        ),
        (
            "Current",
            if current == Some(build.id) {
                "yes"
            } else {
                "no"
            }
            .to_owned(),
        ),
        ("Size", size(build.size)),
        ("Scheduled", timestamp(build.scheduled_on.as_ref())),
        ("Started", timestamp(build.started_on.as_ref())),
        ("Ended", timestamp(build.ended_on.as_ref())),
    ];
    let rows: String = rows
        .iter()
        .map(|(name, value)| format!("<tr><th>{name}</th><td>{value}</td></tr>"))
        .collect();
    format!("<table>{rows}</table>")
}

/// Links to the build's artifacts, through the API's routes (which check access and
/// sign the storage link).
fn artifact_links(admin: &Admin, located: &LocatedBuild) -> String {
    let build = &located.build;
    let routes = [
        ("LOGS", "logs", "Log"),
        ("LOCKFILE", "lockfile", "Lockfile"),
        ("YAML", "yaml", "environment.yaml export"),
        ("CONDA_PACK", "archive", "conda-pack archive"),
        ("CONSTRUCTOR_INSTALLER", "installer", "Installer"),
    ];
    let present = |kind: &str| {
        build
            .build_artifacts
            .iter()
            .flatten()
            .any(|artifact| artifact.artifact_type == kind)
    };
    let items: String = routes
        .iter()
        .filter(|(kind, _, _)| present(kind))
        .map(|(_, path, text)| {
            let href = admin.url(&format!("/api/v1/build/{}/{path}/", build.id));
            format!("<li>{}</li>", link(&href, text))
        })
        .collect();
    let command = present("LOCKFILE").then(|| {
        format!(
            "<p>Install it: <code>micromamba create -n {} -f {}</code></p>",
            escape(&located.environment),
            escape(&admin.url(&format!("/api/v1/build/{}/lockfile/", build.id)))
        )
    });
    if items.is_empty() {
        return "<p class=\"note\">None yet.</p>".to_owned();
    }
    format!("<ul>{items}</ul>{}", command.unwrap_or_default())
}

/// The log as stored now, and its length in bytes.
async fn log_so_far(admin: &Admin, build_id: i32) -> (String, u64) {
    let key = crate::log_stream::log_key(&admin.state.service, build_id)
        .await
        .ok()
        .flatten();
    let bytes = match key {
        Some(key) => admin
            .state
            .service
            .storage()
            .get(&key)
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let length = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    (String::from_utf8_lossy(&bytes).into_owned(), length)
}

/// While the build runs, a few lines of script appending the streamed log from
/// `offset` and reloading the page when the build ends.
fn live_log_script(admin: &Admin, build: &BuildView, offset: u64) -> String {
    if !is_running(build.status.as_deref()) {
        return String::new();
    }
    let url = admin.url(&format!(
        "/api/v1/build/{}/logs/stream/?offset={offset}",
        build.id
    ));
    format!(
        r#"<p class="note" id="live">Following the log while the build runs…</p>
<script>
const source = new EventSource({url});
const log = document.getElementById("log");
source.addEventListener("log", (event) => {{ log.textContent += event.data; log.scrollTop = log.scrollHeight; }});
source.addEventListener("end", () => {{ source.close(); window.location.reload(); }});
</script>"#,
        url = script_string(&url)
    )
}

/// One row of the packages table.
fn package_row(package: &PackageView) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        escape(&package.name),
        escape(&package.version),
        escape(&package.channel.name),
        escape(package.license.as_deref().unwrap_or_default()),
        escape(package.summary.as_deref().unwrap_or_default()),
    )
}

/// Runs a build action after the form checks, then goes to `target(build)`.
async fn act<F>(admin: &Admin, body: &[u8], build_id: &str, action: F) -> ApiResult<Response>
where
    F: AsyncFnOnce(&Admin, String) -> ApiResult<String>,
{
    admin.fields(body)?;
    let target = action(admin, build_id.to_owned()).await?;
    Ok(admin.redirect(&target))
}

/// `POST /admin/build/{id}/current/`: `PUT /api/v1/environment/{ns}/{env}/` with the
/// build id.
async fn set_current(admin: Admin, Path(build_id): Path<String>, body: Bytes) -> Response {
    let result = act(&admin, &body, &build_id, async |admin, build_id| {
        let located = authorized_build(
            &admin.state,
            &admin.caller,
            &build_id,
            &[Permission::EnvironmentUpdate],
        )
        .await?;
        let request = serde_json::json!({ "build_id": located.build.id });
        environment::update(
            State(admin.state.clone()),
            admin.caller.clone(),
            Path((located.namespace.clone(), located.environment.clone())),
            Bytes::from(request.to_string()),
        )
        .await?;
        Ok(environment_path(&located))
    })
    .await;
    admin.respond(result)
}

/// `POST /admin/build/{id}/rebuild/`: `PUT /api/v1/build/{id}/`; shows the new build.
async fn rebuild(admin: Admin, Path(build_id): Path<String>, body: Bytes) -> Response {
    let result = act(&admin, &body, &build_id, async |admin, build_id| {
        let response = build::rebuild(
            State(admin.state.clone()),
            admin.caller.clone(),
            Path(build_id),
        )
        .await?;
        let data = answer_data(response).await?;
        let new_build = data["build_id"].as_i64().unwrap_or_default();
        Ok(format!("/admin/build/{new_build}/"))
    })
    .await;
    admin.respond(result)
}

/// `POST /admin/build/{id}/cancel/`: `PUT /api/v1/build/{id}/cancel/`.
async fn cancel(admin: Admin, Path(build_id): Path<String>, body: Bytes) -> Response {
    let result = act(&admin, &body, &build_id, async |admin, build_id| {
        build::cancel(
            State(admin.state.clone()),
            admin.caller.clone(),
            Path(build_id.clone()),
        )
        .await?;
        Ok(format!("/admin/build/{build_id}/"))
    })
    .await;
    admin.respond(result)
}

/// `POST /admin/build/{id}/delete/`: `DELETE /api/v1/build/{id}/`; back to its
/// environment.
async fn delete(admin: Admin, Path(build_id): Path<String>, body: Bytes) -> Response {
    let result = act(&admin, &body, &build_id, async |admin, build_id| {
        let located = authorized_build(
            &admin.state,
            &admin.caller,
            &build_id,
            &[Permission::BuildDelete],
        )
        .await?;
        build::delete(
            State(admin.state.clone()),
            admin.caller.clone(),
            Path(build_id),
        )
        .await?;
        Ok(environment_path(&located))
    })
    .await;
    admin.respond(result)
}

/// The admin path of a build's environment.
fn environment_path(located: &LocatedBuild) -> String {
    format!(
        "/admin/environment/{}/{}/",
        super::html::segment(&located.namespace),
        super::html::segment(&located.environment)
    )
}
