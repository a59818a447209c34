//! `/admin/namespace/` (list, create, delete) and `/admin/namespace/{ns}/` (metadata,
//! v1 role mappings, v2 sharing), each form calling the API's handler.

use super::html::{action_button, escape, hidden, link, segment};
use super::{Admin, Fields, form, page};
use crate::api::Route;
use crate::error::{ApiError, ApiResult};
use crate::routes::namespace;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use conda_store_service::Page;
use conda_store_service::views::{NamespaceView, RoleMappingV2View};
use serde_json::Value;
use std::collections::BTreeMap;

/// The namespace routes.
pub(super) fn routes() -> Vec<Route> {
    const NAMESPACE: &str = "/admin/namespace/{namespace}/";
    vec![
        page("/admin/namespace/", "admin_namespaces", "Namespaces", list),
        form(
            "/admin/namespace/",
            "admin_namespace_create",
            "Create a namespace",
            create,
        ),
        page(NAMESPACE, "admin_namespace", "A namespace", show),
        form(
            "/admin/namespace/{namespace}/delete/",
            "admin_namespace_delete",
            "Delete a namespace",
            delete,
        ),
        form(
            "/admin/namespace/{namespace}/metadata/",
            "admin_namespace_metadata",
            "Replace a namespace's metadata",
            update_metadata,
        ),
        form(
            "/admin/namespace/{namespace}/role-mappings/",
            "admin_namespace_role_mappings",
            "Replace a namespace's v1 role mappings",
            update_role_mappings,
        ),
        form(
            "/admin/namespace/{namespace}/share/",
            "admin_namespace_share",
            "Share a namespace",
            share,
        ),
        form(
            "/admin/namespace/{namespace}/unshare/",
            "admin_namespace_unshare",
            "Stop sharing a namespace",
            unshare,
        ),
    ]
}

/// `GET /admin/namespace/`.
async fn list(admin: Admin) -> Response {
    admin.respond(list_page(&admin).await)
}

async fn list_page(admin: &Admin) -> ApiResult<Response> {
    let page = Page {
        size: 1000,
        ..Page::default()
    };
    let listing = admin
        .state
        .service
        .list_namespaces(&admin.caller.visibility(), &page)
        .await?;
    let csrf = admin.csrf();
    let rows: String = listing
        .items
        .iter()
        .map(|summary| {
            let name = segment(&summary.name);
            format!(
                "<tr><td>{}</td><td>{}</td></tr>",
                link(
                    &admin.url(&format!("/admin/namespace/{name}/")),
                    &summary.name
                ),
                action_button(
                    &admin.url(&format!("/admin/namespace/{name}/delete/")),
                    &csrf,
                    "Delete",
                    &[]
                ),
            )
        })
        .collect();
    let body = format!(
        r#"<form method="post" action="{}">{}<label>New namespace <input name="name" required></label> <button type="submit">Create</button></form>
<table><tr><th>Namespace</th><th>Actions</th></tr>{rows}</table>"#,
        escape(&admin.url("/admin/namespace/")),
        hidden("csrf", &csrf),
    );
    Ok(admin.page("Namespaces", &body))
}

/// `POST /admin/namespace/` with `name`: `POST /api/v1/namespace/{name}/`.
async fn create(admin: Admin, body: Bytes) -> Response {
    let result = async {
        let name = admin.fields(&body)?.value("name");
        namespace::create(
            State(admin.state.clone()),
            admin.caller.clone(),
            Path(name.clone()),
        )
        .await?;
        Ok::<_, ApiError>(admin.redirect(&format!("/admin/namespace/{}/", segment(&name))))
    }
    .await;
    admin.respond(result)
}

/// `GET /admin/namespace/{ns}/`.
async fn show(admin: Admin, Path(name): Path<String>) -> Response {
    admin.respond(namespace_page(&admin, name).await)
}

async fn namespace_page(admin: &Admin, name: String) -> ApiResult<Response> {
    let view = namespace::get(
        State(admin.state.clone()),
        admin.caller.clone(),
        Path(name.clone()),
    )
    .await?
    .data;
    // Who it is shared with needs more than reading it; without, the section says so.
    let shared = namespace::list_roles(
        State(admin.state.clone()),
        admin.caller.clone(),
        Path(name.clone()),
    )
    .await
    .map(|envelope| envelope.data);
    let csrf = admin.csrf();
    let base = format!("/admin/namespace/{}/", segment(&name));
    let metadata = serde_json::to_string_pretty(&view.metadata_.clone().unwrap_or_default())
        .unwrap_or_default();
    let body = format!(
        r#"<p>{environments} · {settings}</p>
<h2>Metadata</h2>
<form method="post" action="{metadata_action}">{csrf_field}
<textarea name="metadata" rows="6">{metadata}</textarea><button type="submit">Save metadata</button></form>
<h2>Role mappings (v1)</h2>
<p class="note">ARN patterns of this namespace's members and their roles (used with <code>role_mappings_version = 1</code>).</p>
{v1}
<h2>Shared with (v2)</h2>
<p class="note">Members of these namespaces get the role on this one (used with <code>role_mappings_version = 2</code>).</p>
{v2}
<h2>Delete</h2>{delete}"#,
        environments = link(
            &admin.url(&format!("/admin/?search={}", segment(&name))),
            "Environments"
        ),
        settings = link(
            &admin.url(&format!("/admin/setting/{}/", segment(&name))),
            "Settings"
        ),
        metadata_action = escape(&admin.url(&format!("{base}metadata/"))),
        csrf_field = hidden("csrf", &csrf),
        metadata = escape(&metadata),
        v1 = v1_section(admin, &csrf, &base, &view),
        v2 = v2_section(admin, &csrf, &base, shared),
        delete = action_button(
            &admin.url(&format!("{base}delete/")),
            &csrf,
            "Delete namespace",
            &[]
        ),
    );
    Ok(admin.page(&format!("Namespace {name}"), &body))
}

/// The v1 mappings as a table and as the JSON the form replaces them with.
fn v1_section(admin: &Admin, csrf: &str, base: &str, view: &NamespaceView) -> String {
    let rows: String = view
        .role_mappings
        .iter()
        .map(|mapping| {
            format!(
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(&mapping.entity),
                escape(&mapping.role)
            )
        })
        .collect();
    let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for mapping in &view.role_mappings {
        grouped
            .entry(&mapping.entity)
            .or_default()
            .push(&mapping.role);
    }
    let text = serde_json::to_string_pretty(&grouped).unwrap_or_default();
    format!(
        r#"<table><tr><th>Entity (ARN)</th><th>Role</th></tr>{rows}</table>
<form method="post" action="{}">{}<textarea name="role_mappings" rows="6">{}</textarea><button type="submit">Replace role mappings</button></form>"#,
        escape(&admin.url(&format!("{base}role-mappings/"))),
        hidden("csrf", csrf),
        escape(&text)
    )
}

/// The v2 sharing table with its forms, or why it cannot be shown.
fn v2_section(
    admin: &Admin,
    csrf: &str,
    base: &str,
    shared: ApiResult<Vec<RoleMappingV2View>>,
) -> String {
    let mappings = match shared {
        Ok(mappings) => mappings,
        Err(error) => return format!(r#"<p class="note">{}</p>"#, escape(&error.message)),
    };
    let unshare = admin.url(&format!("{base}unshare/"));
    let rows: String = mappings
        .iter()
        .map(|mapping| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&mapping.other_namespace),
                escape(&mapping.role),
                action_button(
                    &unshare,
                    csrf,
                    "Stop sharing",
                    &[("other_namespace", &mapping.other_namespace)]
                ),
            )
        })
        .collect();
    let roles: String = ["viewer", "editor", "admin"]
        .iter()
        .map(|role| format!("<option>{role}</option>"))
        .collect();
    format!(
        r#"<table><tr><th>Namespace</th><th>Role</th><th>Actions</th></tr>{rows}</table>
<form method="post" action="{}">{}<label>Share with namespace <input name="other_namespace" required></label>
<label>as <select name="role">{roles}</select></label> <button type="submit">Share</button></form>"#,
        escape(&admin.url(&format!("{base}share/"))),
        hidden("csrf", csrf),
    )
}

/// Parses a JSON field; 400 naming it when it is not JSON.
fn json_field(fields: &Fields, name: &str) -> ApiResult<Value> {
    let text = fields.value(name);
    let text = if text.trim().is_empty() { "{}" } else { &text };
    serde_json::from_str(text)
        .map_err(|error| ApiError::bad_request(format!("{name} is not valid JSON: {error}")))
}

/// Runs a namespace form: checks it, calls `action` with its fields, and goes back to
/// the namespace page.
async fn namespace_form<F>(admin: &Admin, name: String, body: &[u8], action: F) -> Response
where
    F: AsyncFnOnce(&Admin, String, Fields) -> ApiResult<Response>,
{
    let result = async {
        let fields = admin.fields(body)?;
        action(admin, name.clone(), fields).await?;
        Ok::<_, ApiError>(admin.redirect(&format!("/admin/namespace/{}/", segment(&name))))
    }
    .await;
    admin.respond(result)
}

/// `POST /admin/namespace/{ns}/metadata/`: `PUT /api/v1/namespace/{ns}/metadata`.
async fn update_metadata(admin: Admin, Path(name): Path<String>, body: Bytes) -> Response {
    namespace_form(&admin, name, &body, async |admin, name, fields| {
        let metadata = json_field(&fields, "metadata")?;
        namespace::update_metadata(
            State(admin.state.clone()),
            admin.caller.clone(),
            Path(name),
            Bytes::from(metadata.to_string()),
        )
        .await
    })
    .await
}

/// `POST /admin/namespace/{ns}/role-mappings/`: `PUT /api/v1/namespace/{ns}/` with
/// `role_mappings`.
async fn update_role_mappings(admin: Admin, Path(name): Path<String>, body: Bytes) -> Response {
    namespace_form(&admin, name, &body, async |admin, name, fields| {
        let mappings = json_field(&fields, "role_mappings")?;
        let request = serde_json::json!({ "role_mappings": mappings });
        namespace::update(
            State(admin.state.clone()),
            admin.caller.clone(),
            Path(name),
            Bytes::from(request.to_string()),
        )
        .await
    })
    .await
}

/// `POST /admin/namespace/{ns}/share/`: `POST /api/v1/namespace/{ns}/role`.
async fn share(admin: Admin, Path(name): Path<String>, body: Bytes) -> Response {
    namespace_form(&admin, name, &body, async |admin, name, fields| {
        let request = serde_json::json!({
            "other_namespace": fields.value("other_namespace"),
            "role": fields.value("role"),
        });
        namespace::create_role(
            State(admin.state.clone()),
            admin.caller.clone(),
            Path(name),
            Bytes::from(request.to_string()),
        )
        .await
    })
    .await
}

/// `POST /admin/namespace/{ns}/unshare/`: `DELETE /api/v1/namespace/{ns}/role`.
async fn unshare(admin: Admin, Path(name): Path<String>, body: Bytes) -> Response {
    namespace_form(&admin, name, &body, async |admin, name, fields| {
        let request = serde_json::json!({ "other_namespace": fields.value("other_namespace") });
        namespace::delete_role(
            State(admin.state.clone()),
            admin.caller.clone(),
            Path(name),
            Bytes::from(request.to_string()),
        )
        .await
    })
    .await
}

/// `POST /admin/namespace/{ns}/delete/`: `DELETE /api/v1/namespace/{ns}/`.
async fn delete(admin: Admin, Path(name): Path<String>, body: Bytes) -> Response {
    let result = async {
        admin.fields(&body)?;
        namespace::delete(State(admin.state.clone()), admin.caller.clone(), Path(name)).await?;
        Ok::<_, ApiError>(admin.redirect("/admin/namespace/"))
    }
    .await;
    admin.respond(result)
}
