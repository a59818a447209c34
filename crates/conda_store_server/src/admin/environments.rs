//! `/admin/` (environment list with search), `/admin/create/` (from YAML or a
//! lockfile), `/admin/environment/{ns}/{env}/` (its builds and actions), and its
//! `edit/` and `delete/`.

use super::html::{action_button, escape, hidden, link, segment, status, timestamp};
use super::{Admin, Fields, form, page};
use crate::api::Route;
use crate::error::{ApiError, ApiResult};
use crate::params::QueryParameters;
use crate::routes::{environment, specification};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use conda_store_service::views::{BuildView, EnvironmentView};
use conda_store_service::{BuildFilter, EnvironmentFilter, Page};

/// Environments per page of the list.
const PAGE_SIZE: u64 = 50;

/// The environment routes.
pub(super) fn routes() -> Vec<Route> {
    const ENVIRONMENT: &str = "/admin/environment/{namespace}/{environment_name}/";
    vec![
        page("/admin/", "admin_environments", "Environments", list),
        page(
            "/admin/create/",
            "admin_create_form",
            "Create an environment",
            create_form,
        ),
        form(
            "/admin/create/",
            "admin_create",
            "Create an environment",
            create,
        ),
        page(ENVIRONMENT, "admin_environment", "An environment", show),
        page(
            "/admin/environment/{namespace}/{environment_name}/edit/",
            "admin_environment_edit",
            "A new specification for an environment",
            edit,
        ),
        form(
            "/admin/environment/{namespace}/{environment_name}/delete/",
            "admin_environment_delete",
            "Delete an environment",
            delete,
        ),
    ]
}

/// `GET /admin/?search=&page=`.
async fn list(admin: Admin, RawQuery(query): RawQuery) -> Response {
    admin.respond(list_page(&admin, query.as_deref()).await)
}

async fn list_page(admin: &Admin, query: Option<&str>) -> ApiResult<Response> {
    let parameters = QueryParameters::parse(query);
    let search = parameters.get("search").unwrap_or_default();
    let page = Page {
        number: parameters.integer::<u64>("page")?.unwrap_or(1).max(1),
        size: PAGE_SIZE,
        ..Page::default()
    };
    let filter = EnvironmentFilter {
        search: (!search.is_empty()).then(|| search.clone()),
        ..EnvironmentFilter::default()
    };
    let listing = admin
        .state
        .service
        .list_environments(&admin.caller.visibility(), &filter, &page)
        .await?;
    let rows: String = listing
        .items
        .iter()
        .map(|view| environment_row(admin, view))
        .collect();
    let mut body = format!(
        r#"<form method="get" action="{}"><input name="search" value="{}" placeholder="namespace or name"> <button type="submit">Search</button></form>
<p class="note">{} environments</p>
<table><tr><th>Namespace</th><th>Name</th><th>Current build</th><th>Description</th><th>Artifacts</th></tr>{rows}</table>"#,
        escape(&admin.url("/admin/")),
        escape(&search),
        listing.count,
    );
    body.push_str(&pager(admin, &search, &page, listing.count));
    Ok(admin.page("Environments", &body))
}

/// Previous/next links of the list.
fn pager(admin: &Admin, search: &str, page: &Page, count: u64) -> String {
    let number = page.number;
    let target =
        |number: u64| admin.url(&format!("/admin/?search={}&page={number}", segment(search)));
    let mut links = Vec::new();
    if number > 1 {
        links.push(link(&target(number - 1), "previous"));
    }
    if page.has_next(count) {
        links.push(link(&target(number + 1), "next"));
    }
    format!("<p>{}</p>", links.join(" "))
}

/// One row of the list.
fn environment_row(admin: &Admin, view: &EnvironmentView) -> String {
    let namespace = &view.namespace.name;
    let page = admin.url(&format!(
        "/admin/environment/{}/{}/",
        segment(namespace),
        segment(&view.name)
    ));
    let (build, artifacts) = match view.current_build_id {
        Some(id) => (
            link(
                &admin.url(&format!("/admin/build/{id}/")),
                &format!("#{id}"),
            ),
            [
                ("yaml", "YAML"),
                ("lockfile", "lockfile"),
                ("archive", "archive"),
            ]
            .iter()
            .map(|(path, text)| link(&admin.url(&format!("/api/v1/build/{id}/{path}/")), text))
            .collect::<Vec<_>>()
            .join(" "),
        ),
        None => ("—".to_owned(), String::new()),
    };
    format!(
        "<tr><td>{}</td><td>{}</td><td>{build}</td><td>{}</td><td>{artifacts}</td></tr>",
        escape(namespace),
        link(&page, &view.name),
        escape(view.description.as_deref().unwrap_or_default()),
    )
}

/// What the create form shows: the chosen namespace and the texts entered.
#[derive(Debug, Default)]
struct Draft {
    namespace: String,
    specification: String,
    lockfile: String,
    environment_name: String,
    environment_description: String,
    error: Option<String>,
}

impl Draft {
    fn from_fields(fields: &Fields) -> Self {
        Self {
            namespace: fields.value("namespace"),
            specification: fields.value("specification"),
            lockfile: fields.value("lockfile"),
            environment_name: fields.value("environment_name"),
            environment_description: fields.value("environment_description"),
            error: None,
        }
    }
}

/// `GET /admin/create/`.
async fn create_form(admin: Admin) -> Response {
    if let Some(redirect) = admin.login_required() {
        return redirect;
    }
    admin.respond(create_page(&admin, Draft::default(), StatusCode::OK).await)
}

/// `GET /admin/environment/{ns}/{env}/edit/`: the create form holding the current
/// specification.
async fn edit(admin: Admin, Path((namespace, name)): Path<(String, String)>) -> Response {
    if let Some(redirect) = admin.login_required() {
        return redirect;
    }
    admin.respond(edit_page(&admin, namespace, name).await)
}

async fn edit_page(admin: &Admin, namespace: String, name: String) -> ApiResult<Response> {
    let view = environment::get(
        State(admin.state.clone()),
        admin.caller.clone(),
        Path((namespace.clone(), name)),
    )
    .await?
    .data;
    let specification = current_specification(admin, &view).await?;
    let draft = Draft {
        namespace,
        specification: specification.unwrap_or_default(),
        ..Draft::default()
    };
    create_page(admin, draft, StatusCode::OK).await
}

/// The current build's specification as YAML.
async fn current_specification(admin: &Admin, view: &EnvironmentView) -> ApiResult<Option<String>> {
    let Some(build_id) = view.current_build_id else {
        return Ok(None);
    };
    let located = admin.state.service.build(build_id).await?;
    Ok(located
        .and_then(|located| located.build.specification)
        .and_then(|specification| serde_yaml::to_string(&specification.spec).ok()))
}

/// The namespaces offered: the caller's primary namespace first, then the visible ones.
async fn namespace_choices(admin: &Admin) -> ApiResult<Vec<String>> {
    let page = Page {
        size: admin.state.service.settings().max_page_size.max(1000),
        ..Page::default()
    };
    let listing = admin
        .state
        .service
        .list_namespaces(&admin.caller.visibility(), &page)
        .await?;
    let primary = admin.caller.token.primary_namespace.clone();
    let mut names = vec![primary.clone()];
    names.extend(
        listing
            .items
            .into_iter()
            .map(|summary| summary.name)
            .filter(|name| *name != primary),
    );
    Ok(names)
}

async fn create_page(admin: &Admin, draft: Draft, status: StatusCode) -> ApiResult<Response> {
    let options: String = namespace_choices(admin)
        .await?
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let chosen = *name == draft.namespace || (draft.namespace.is_empty() && index == 0);
            let selected = if chosen { " selected" } else { "" };
            format!(r#"<option{selected}>{}</option>"#, escape(name))
        })
        .collect();
    let error = draft
        .error
        .as_deref()
        .map(|error| format!(r#"<p class="error">{}</p>"#, escape(error)))
        .unwrap_or_default();
    let action = escape(&admin.url("/admin/create/"));
    let csrf = hidden("csrf", &admin.csrf());
    let namespace =
        format!(r#"<label>Namespace <select name="namespace">{options}</select></label>"#);
    let body = format!(
        r#"{error}
<h2>From an environment.yaml</h2>
<form method="post" action="{action}">{csrf}{hidden_kind}
<p>{namespace}</p>
<p><textarea name="specification" rows="16" placeholder="name: example&#10;channels:&#10;  - conda-forge&#10;dependencies:&#10;  - python">{specification}</textarea></p>
<p><button type="submit">Create</button></p></form>
<h2>From a lockfile</h2>
<form method="post" action="{action}">{csrf}{hidden_lockfile}
<p>{namespace}</p>
<p><label>Environment name <input name="environment_name" value="{environment_name}"></label>
<label>Description <input name="environment_description" value="{environment_description}"></label></p>
<p><label>Lockfile (conda-lock YAML or JSON) <input type="file" id="lockfile-file" accept=".yml,.yaml,.json,.lock"></label></p>
<p><textarea name="lockfile" id="lockfile" rows="12">{lockfile}</textarea></p>
<p><button type="submit">Create</button></p></form>
<script>
document.getElementById("lockfile-file").addEventListener("change", async (event) => {{
  const file = event.target.files[0];
  if (file) {{ document.getElementById("lockfile").value = await file.text(); }}
}});
</script>"#,
        hidden_kind = hidden("kind", "yaml"),
        hidden_lockfile = hidden("kind", "lockfile"),
        specification = escape(&draft.specification),
        environment_name = escape(&draft.environment_name),
        environment_description = escape(&draft.environment_description),
        lockfile = escape(&draft.lockfile),
    );
    Ok(admin.page_with_status(status, "Create an environment", &body))
}

/// `POST /admin/create/`: registers the specification through the API's handler and
/// shows the queued build; a rejected specification shows the form again.
async fn create(admin: Admin, body: Bytes) -> Response {
    let result = async {
        let fields = admin.fields(&body)?;
        let draft = Draft::from_fields(&fields);
        let request = if fields.value("kind") == "lockfile" {
            serde_json::json!({
                "namespace": draft.namespace,
                "specification": draft.lockfile,
                "is_lockfile": true,
                "environment_name": draft.environment_name,
                "environment_description": draft.environment_description,
            })
        } else {
            serde_json::json!({
                "namespace": draft.namespace,
                "specification": draft.specification,
            })
        };
        let outcome = specification::create(
            State(admin.state.clone()),
            admin.caller.clone(),
            Bytes::from(request.to_string()),
        )
        .await;
        match outcome {
            Ok(envelope) => {
                let build_id = envelope.data["build_id"].as_i64().unwrap_or_default();
                Ok(admin.redirect(&format!("/admin/build/{build_id}/")))
            }
            Err(error) if error.status != StatusCode::FORBIDDEN => {
                let draft = Draft {
                    error: Some(error.message),
                    ..draft
                };
                create_page(&admin, draft, error.status).await
            }
            Err(error) => Err(error),
        }
    }
    .await;
    admin.respond(result)
}

/// `GET /admin/environment/{ns}/{env}/`.
async fn show(admin: Admin, Path((namespace, name)): Path<(String, String)>) -> Response {
    admin.respond(environment_page(&admin, namespace, name).await)
}

async fn environment_page(admin: &Admin, namespace: String, name: String) -> ApiResult<Response> {
    let view = environment::get(
        State(admin.state.clone()),
        admin.caller.clone(),
        Path((namespace.clone(), name.clone())),
    )
    .await?
    .data;
    let builds = admin
        .state
        .service
        .list_builds(
            &admin.caller.visibility(),
            &BuildFilter {
                environment_id: Some(view.id),
                exclude_deleted: true,
                ..BuildFilter::default()
            },
            &Page {
                size: 200,
                descending: true,
                ..Page::default()
            },
        )
        .await?;
    let csrf = admin.csrf();
    let rows: String = builds
        .items
        .iter()
        .map(|build| build_row(admin, &csrf, build, view.current_build_id))
        .collect();
    let base = format!("/{}/{}/", segment(&namespace), segment(&name));
    let specification = current_specification(admin, &view)
        .await?
        .unwrap_or_default();
    let body = format!(
        r#"<p>Namespace {namespace_link} · description: {description}</p>
<p>{edit} · {settings} · {lockfile} · {delete}</p>
<h2>Builds</h2>
<table><tr><th>Build</th><th>Status</th><th>Scheduled</th><th>Ended</th><th>Size</th><th>Actions</th></tr>{rows}</table>
<h2>Current specification</h2><pre>{specification}</pre>"#,
        namespace_link = link(
            &admin.url(&format!("/admin/namespace/{}/", segment(&namespace))),
            &namespace
        ),
        description = escape(view.description.as_deref().unwrap_or("—")),
        edit = link(
            &admin.url(&format!("/admin/environment{base}edit/")),
            "Edit (new specification)"
        ),
        settings = link(&admin.url(&format!("/admin/setting{base}")), "Settings"),
        lockfile = link(
            &admin.url(&format!("/api/v1/environment{base}lockfile/")),
            "Current lockfile"
        ),
        delete = action_button(
            &admin.url(&format!("/admin/environment{base}delete/")),
            &csrf,
            "Delete environment",
            &[]
        ),
        specification = escape(&specification),
    );
    Ok(admin.page(&format!("{namespace}/{name}"), &body))
}

/// One build of the environment page, with its actions.
fn build_row(admin: &Admin, csrf: &str, build: &BuildView, current: Option<i32>) -> String {
    let mark = if Some(build.id) == current {
        " (current)"
    } else {
        ""
    };
    format!(
        "<tr><td>{}{mark}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        link(
            &admin.url(&format!("/admin/build/{}/", build.id)),
            &format!("#{}", build.id)
        ),
        status(build.status.as_deref()),
        timestamp(build.scheduled_on.as_ref()),
        timestamp(build.ended_on.as_ref()),
        super::html::size(build.size),
        super::builds::actions(admin, csrf, build, current),
    )
}

/// `POST /admin/environment/{ns}/{env}/delete/`.
async fn delete(
    admin: Admin,
    Path((namespace, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let result = async {
        admin.fields(&body)?;
        environment::delete(
            State(admin.state.clone()),
            admin.caller.clone(),
            Path((namespace, name)),
        )
        .await?;
        Ok::<_, ApiError>(admin.redirect("/admin/"))
    }
    .await;
    admin.respond(result)
}
