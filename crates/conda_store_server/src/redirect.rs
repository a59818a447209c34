//! Where a browser may be sent after logging in or out: the one rule for every `next`
//! (login JSON `redirect_url`, the login form, the OAuth state cookie and callback, the
//! logout `Location`).
//!
//! `next` is resolved against this server's origin the way a browser resolves a link
//! (WHATWG URL parsing by the `url` crate: backslashes are slashes, tabs and newlines
//! vanish, leading controls and spaces are dropped, dot segments are removed), and
//! accepted only when the result is on this origin (scheme, host and port) and under
//! the URL prefix. The answer is the normalized path and query of the resolved URL, so
//! what the browser follows is what was checked.

use url::Url;

/// The place to send a browser to after login or logout: `next` when, resolved
/// against `origin` (`{scheme}://{host}[:port]`), it stays on that origin and under
/// `prefix` (`""` or `/conda-store`), as its normalized path and query; else
/// `{prefix}/`.
pub fn redirect_target(origin: &str, prefix: &str, next: Option<&str>) -> String {
    let fallback = format!("{prefix}/");
    next.and_then(|next| same_origin_path(origin, prefix, next))
        .unwrap_or(fallback)
}

/// `location` (a path and query this server built, e.g. a trailing-slash redirect of
/// the request path) when a browser following it stays on this server under `prefix`,
/// as its normalized path and query; `None` for `//host/...`, `/\host/...` and the
/// like, which a browser reads as another origin.
pub fn local_location(prefix: &str, location: &str) -> Option<String> {
    same_origin_path(LOCAL_ORIGIN, prefix, location)
}

/// Any origin serves [`local_location`]: only paths are resolved against it.
const LOCAL_ORIGIN: &str = "http://conda-store.invalid";

/// The path and query of `next` resolved against `origin`, if on that origin and
/// under `prefix`.
fn same_origin_path(origin: &str, prefix: &str, next: &str) -> Option<String> {
    let base = Url::parse(&format!("{origin}/")).ok()?;
    if !matches!(base.scheme(), "http" | "https") {
        return None;
    }
    let resolved = base.join(next).ok()?;
    if resolved.origin() != base.origin() || !resolved.username().is_empty() {
        return None;
    }
    let path = resolved.path();
    // `//host` would be read as another origin when sent back as a path.
    if !path.starts_with('/') || path.starts_with("//") || !is_under_prefix(path, prefix) {
        return None;
    }
    Some(match resolved.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    })
}

/// Whether `path` is `prefix` itself or below it (every path is below `""`).
fn is_under_prefix(path: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::redirect_target;

    const ORIGIN: &str = "http://127.0.0.1:8080";

    #[test]
    fn paths_on_this_origin_under_the_prefix_are_kept_normalized() {
        for (next, expected) in [
            ("/conda-store/ui/foo?x=1", "/conda-store/ui/foo?x=1"),
            ("http://127.0.0.1:8080/conda-store/ui/", "/conda-store/ui/"),
            ("/conda-store", "/conda-store"),
            ("/conda-store/a/../ui/", "/conda-store/ui/"),
            ("/conda-store/ui/<x>", "/conda-store/ui/%3Cx%3E"),
        ] {
            assert_eq!(
                redirect_target(ORIGIN, "/conda-store", Some(next)),
                expected,
                "{next}"
            );
        }
        assert_eq!(redirect_target(ORIGIN, "", Some("/ui/?a=b")), "/ui/?a=b");
    }

    #[test]
    fn other_origins_and_escapes_from_the_prefix_fall_back() {
        for next in [
            "//evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "/\t/evil.example",
            "\n//evil.example",
            " //evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "http://127.0.0.1:8081/",
            "https://127.0.0.1:8080/",
            "http://user@127.0.0.1:8080/",
            "/./\\evil.example",
            "/.//evil.example",
            "/conda-store/../etc",
            "/conda-store/%2e%2e/x",
            "/conda-storex",
            "</script><script>alert(1)</script>",
        ] {
            assert_eq!(
                redirect_target(ORIGIN, "/conda-store", Some(next)),
                "/conda-store/",
                "{next:?}"
            );
        }
        for next in ["/.//evil.example", "//evil.example", "/\\evil.example"] {
            assert_eq!(redirect_target(ORIGIN, "", Some(next)), "/", "{next:?}");
        }
        assert_eq!(redirect_target("not a url", "", Some("/x")), "/");
        assert_eq!(redirect_target(ORIGIN, "", None), "/");
    }
}
