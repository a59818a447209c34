//! `/admin/user/`: who the caller is, their role bindings and permissions, usage per
//! namespace, and a button creating a token (`POST /api/v1/token/` with no body).

use super::html::{action_button, escape, size};
use super::{Admin, form, page};
use crate::api::Route;
use crate::error::ApiResult;
use crate::routes;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use conda_store_service::views::format_timestamp;

/// The user routes.
pub(super) fn routes() -> Vec<Route> {
    vec![
        page("/admin/user/", "admin_user", "The user", show),
        form(
            "/admin/user/token/",
            "admin_user_token",
            "Create a token",
            create_token,
        ),
    ]
}

/// `GET /admin/user/`: anonymous callers log in first.
async fn show(admin: Admin) -> Response {
    if let Some(redirect) = admin.login_required() {
        return redirect;
    }
    admin.respond(user_page(&admin, None).await)
}

/// `POST /admin/user/token/`: the user page showing a new token.
async fn create_token(admin: Admin, body: Bytes) -> Response {
    let result = async {
        admin.fields(&body)?;
        let envelope = routes::create_token(
            State(admin.state.clone()),
            admin.caller.clone(),
            Bytes::new(),
        )
        .await?;
        let token = envelope.data["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        user_page(&admin, Some(&token)).await
    }
    .await;
    admin.respond(result)
}

async fn user_page(admin: &Admin, token: Option<&str>) -> ApiResult<Response> {
    let caller = &admin.caller;
    let usage = admin.state.service.usage(&caller.visibility()).await?;
    let permissions: String = caller
        .bindings
        .entity_permissions()
        .iter()
        .map(|(arn, permissions)| {
            format!(
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                escape(arn.as_str()),
                escape(&conda_store_core::authorization::permission_list(
                    permissions
                ))
            )
        })
        .collect();
    let roles: String = caller
        .bindings
        .iter()
        .map(|(arn, roles)| {
            let names: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
            format!(
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                escape(arn.as_str()),
                escape(&names.join(", "))
            )
        })
        .collect();
    let usage: String = usage
        .iter()
        .map(|(namespace, figures)| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(namespace),
                figures.num_environments,
                figures.num_builds,
                size(figures.storage)
            )
        })
        .collect();
    let token = token
        .map(|token| {
            format!(
                r#"<p>Your new token (shown once; it carries your permissions until it expires):</p><p><textarea rows="4" readonly>{}</textarea></p>"#,
                escape(token)
            )
        })
        .unwrap_or_default();
    let expiration = caller
        .expiration()
        .map(|exp| format_timestamp(&exp.naive_utc()))
        .unwrap_or_default();
    let body = format!(
        r#"<p>Primary namespace <code>{namespace}</code> · login expires {expiration} UTC</p>
<form class="inline" method="post" action="{logout}"><button type="submit">Log out</button></form>
<h2>Token</h2>{token}{create}
<h2>Role bindings</h2><table><tr><th>ARN</th><th>Roles</th></tr>{roles}</table>
<h2>Permissions</h2><table><tr><th>ARN</th><th>Permissions</th></tr>{permissions}</table>
<h2>Usage</h2><table><tr><th>Namespace</th><th>Environments</th><th>Builds</th><th>Storage</th></tr>{usage}</table>"#,
        namespace = escape(&caller.token.primary_namespace),
        expiration = escape(&expiration),
        logout = escape(&admin.url(&format!(
            "/logout/?next={}",
            super::html::segment(&admin.url("/admin/"))
        ))),
        create = action_button(
            &admin.url("/admin/user/token/"),
            &admin.csrf(),
            "Create token",
            &[]
        ),
    );
    Ok(admin.page("User", &body))
}
