//! Protection of the admin forms against cross-site request forgery.
//!
//! Every form carries a hidden `csrf` field `{expires}.{signature}`: an HMAC-SHA256
//! (keyed by the server's secret, [`crate::signing`]) over the credential the request
//! presented (login cookie, bearer or basic token; `anonymous` without one) and the
//! expiry. Another site cannot read the pages, so it cannot learn a signature for the
//! victim's credential. A POST is also refused when its `Origin` (or, without one, its
//! `Referer`) names another host than the request's.

use crate::auth::{Caller, presented_credential};
use crate::signing::{Purpose, sign, verify};
use axum::http::{HeaderMap, header};

/// Seconds a form stays valid after the page was rendered.
pub const LIFETIME: i64 = 8 * 3600;

/// What a token is bound to: the presented credential, or `anonymous`.
fn subject(headers: &HeaderMap, caller: &Caller) -> String {
    let credential = caller
        .authenticated
        .then(|| presented_credential(headers))
        .flatten();
    match credential {
        Some(credential) => format!("csrf\n{credential}"),
        None => "csrf\nanonymous".to_owned(),
    }
}

/// A fresh token for the forms of a page rendered at `now` (Unix seconds).
pub fn token(secret: &[u8], headers: &HeaderMap, caller: &Caller, now: i64) -> String {
    let expires = now + LIFETIME;
    let signature = sign(secret, Purpose::Csrf, &subject(headers, caller), expires);
    format!("{expires}.{signature}")
}

/// Whether `token` was made by [`token`] for this caller and has not expired.
pub fn is_valid(
    secret: &[u8],
    headers: &HeaderMap,
    caller: &Caller,
    token: &str,
    now: i64,
) -> bool {
    let Some((expires, signature)) = token.split_once('.') else {
        return false;
    };
    let Ok(expires) = expires.parse::<i64>() else {
        return false;
    };
    expires >= now
        && verify(
            secret,
            Purpose::Csrf,
            &subject(headers, caller),
            expires,
            signature,
        )
}

/// The `host[:port]` of an absolute URL (`Origin` or `Referer`).
fn authority(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    rest.split(['/', '?', '#']).next()
}

/// Whether the request comes from a page of this server: its `Origin`, else its
/// `Referer`, names the host it was sent to (`X-Forwarded-Host` too when `behind_proxy`).
/// A request with neither header (not a browser's cross-site form) passes; the CSRF
/// token still applies.
pub fn is_same_origin(headers: &HeaderMap, behind_proxy: bool) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|value| value.to_str().ok());
    let source = match (text(header::ORIGIN), text(header::REFERER)) {
        (Some(origin), _) => origin,
        (None, Some(referer)) => referer,
        (None, None) => return true,
    };
    let Some(source) = authority(source) else {
        return false;
    };
    let mut hosts = vec![text(header::HOST)];
    if behind_proxy {
        hosts.push(
            headers
                .get("x-forwarded-host")
                .and_then(|value| value.to_str().ok()),
        );
    }
    hosts
        .into_iter()
        .flatten()
        .any(|host| host.eq_ignore_ascii_case(source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use conda_store_core::authorization::RoleBindings;
    use conda_store_core::token::AuthenticationToken;

    fn caller(authenticated: bool) -> Caller {
        Caller {
            authenticated,
            token: AuthenticationToken::default_at(chrono::Utc::now()),
            bindings: RoleBindings::new(),
        }
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(
                name.clone(),
                HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static("")),
            );
        }
        headers
    }

    #[test]
    fn a_token_is_bound_to_the_credential_and_expires() {
        let alice = headers(&[(header::AUTHORIZATION, "Bearer alice")]);
        let bob = headers(&[(header::AUTHORIZATION, "Bearer bob")]);
        let token = token(b"secret", &alice, &caller(true), 1000);
        assert!(is_valid(b"secret", &alice, &caller(true), &token, 1000));
        assert!(!is_valid(b"secret", &bob, &caller(true), &token, 1000));
        assert!(!is_valid(b"other", &alice, &caller(true), &token, 1000));
        assert!(!is_valid(
            b"secret",
            &alice,
            &caller(true),
            &token,
            1001 + LIFETIME
        ));
        assert!(!is_valid(b"secret", &alice, &caller(true), "", 1000));
        assert!(!is_valid(b"secret", &alice, &caller(true), "1.zz", 0));
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let host = (header::HOST, "example.org:8080");
        assert!(is_same_origin(&headers(std::slice::from_ref(&host)), false));
        assert!(is_same_origin(
            &headers(&[host.clone(), (header::ORIGIN, "http://example.org:8080")]),
            false
        ));
        assert!(!is_same_origin(
            &headers(&[host.clone(), (header::ORIGIN, "https://evil.example")]),
            false
        ));
        assert!(!is_same_origin(
            &headers(&[host.clone(), (header::ORIGIN, "null")]),
            false
        ));
        assert!(is_same_origin(
            &headers(&[
                host.clone(),
                (header::REFERER, "http://example.org:8080/admin/")
            ]),
            false
        ));
        assert!(!is_same_origin(
            &headers(&[host, (header::REFERER, "http://evil.example/admin/")]),
            false
        ));
    }
}
