//! Artifact downloads: the API answers 307 to `{prefix}/storage/{key}` with an expiry
//! and an HMAC signature over both, so a client following the redirect without
//! credentials (the official client, a browser) gets the file, and nobody can fetch a
//! build's files without having been allowed to read its environment.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::params::QueryParameters;
use crate::signing::{Purpose, sign, verify};
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use conda_store_core::domain::BuildArtifactType;
use std::sync::Arc;

/// 307 to a signed link to the `artifact` of `build_id`; 404 when it has none.
pub async fn redirect_to_artifact(
    state: &AppState,
    build_id: i32,
    artifact: BuildArtifactType,
) -> ApiResult<Response> {
    let key = state
        .service
        .artifact_key(build_id, artifact)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("build {build_id} has no {artifact} artifact"))
        })?;
    let lifetime = state.service.settings().artifact_link_lifetime;
    let expires = Utc::now().timestamp() + i64::try_from(lifetime).unwrap_or(i64::MAX / 2);
    let signature = sign(
        &state.authentication.secret,
        Purpose::ArtifactLink,
        &key,
        expires,
    );
    let location = format!(
        "{}/storage/{}?expires={expires}&signature={signature}",
        state.prefix(),
        encode_path(&key)
    );
    Ok(Redirect::temporary(&location).into_response())
}

/// `GET {prefix}/storage/{key}?expires=..&signature=..`: the stored object, when the
/// link is genuine and not expired; 403 otherwise.
pub async fn serve(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let parameters = QueryParameters::parse(query.as_deref());
    let expires: i64 = parameters.integer("expires")?.unwrap_or(0);
    let signature = parameters.get("signature").unwrap_or_default();
    if expires < Utc::now().timestamp()
        || !verify(
            &state.authentication.secret,
            Purpose::ArtifactLink,
            &key,
            expires,
            &signature,
        )
    {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "this link is not valid or has expired",
        ));
    }
    let object = state
        .service
        .storage()
        .open(&key)
        .await
        .map_err(|_| ApiError::not_found("artifact not found"))?;
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(object.reader));
    let mut response = ([(header::CONTENT_TYPE, content_type(&key))], body).into_response();
    if let Some(length) = object.length {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, header::HeaderValue::from(length));
    }
    Ok(response)
}

/// Percent-encodes a storage key for a URL path, keeping `/`.
fn encode_path(key: &str) -> String {
    let mut encoded = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

fn content_type(key: &str) -> &'static str {
    if key.ends_with(".log") {
        "text/plain; charset=utf-8"
    } else if key.ends_with(".yml") || key.ends_with(".yaml") {
        "text/yaml; charset=utf-8"
    } else if key.ends_with(".tar.gz") {
        "application/gzip"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_percent_encoded_except_slashes() {
        assert_eq!(encode_path("logs/a?b c.log"), "logs/a%3Fb%20c.log");
    }
}
