//! The one place that hides credentials inside URLs before text is written anywhere a
//! user or an operator reads it (logs, build artifacts, `status_info`, API answers).
//!
//! Two forms are redacted: the user information of a URL
//! (`https://user:password@host/…` → `https://***@host/…`) and conda channel tokens
//! (`…/t/<token>/…` → `…/t/***/…`). The stored specification keeps its credentials: the
//! worker needs them to fetch.

use serde_json::Value;

/// What replaces a credential.
pub const REDACTED: &str = "***";

/// `text` with the credentials of every URL in it replaced by [`REDACTED`].
pub fn redact_credentials(text: &str) -> String {
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let (before, after) = rest.split_at(start + 3);
        redacted.push_str(before);
        let end = after.find(ends_url).unwrap_or(after.len());
        redacted.push_str(&redact_url_remainder(&after[..end]));
        rest = &after[end..];
    }
    redacted.push_str(rest);
    redacted
}

/// Redacts every string of a JSON value in place (keys included).
pub fn redact_json(value: &mut Value) {
    match value {
        Value::String(text) => {
            if text.contains("://") {
                *text = redact_credentials(text);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                redact_json(&mut item);
                map.insert(redact_credentials(&key), item);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Where a URL written in running text ends.
fn ends_url(character: char) -> bool {
    matches!(
        character,
        '"' | '\'' | '<' | '>' | '`' | ',' | ';' | '(' | ')' | '{' | '}'
    ) || character.is_whitespace()
        || character.is_control()
}

/// The part of a URL after `scheme://`, with its user information and any conda
/// token (`/t/<token>/`) replaced.
fn redact_url_remainder(remainder: &str) -> String {
    let authority_end = remainder.find(['/', '?', '#']).unwrap_or(remainder.len());
    let (authority, path) = remainder.split_at(authority_end);
    let mut redacted = match authority.rfind('@') {
        Some(at) if at > 0 => format!("{REDACTED}{}", &authority[at..]),
        _ => authority.to_owned(),
    };
    redacted.push_str(&redact_channel_token(path));
    redacted
}

/// A path with the token of `/t/<token>/` replaced.
fn redact_channel_token(path: &str) -> String {
    let mut redacted = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(start) = rest.find("/t/") {
        let (before, after) = rest.split_at(start + 3);
        redacted.push_str(before);
        let end = after
            .find(|character: char| {
                !(character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.'))
            })
            .unwrap_or(after.len());
        let token = &after[..end];
        if !token.is_empty() && after[end..].starts_with('/') {
            redacted.push_str(REDACTED);
        } else {
            redacted.push_str(token);
        }
        rest = &after[end..];
    }
    redacted.push_str(rest);
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_information_and_tokens_are_hidden() {
        assert_eq!(
            redact_credentials("solving from https://alice:s3cret@example.org/channel, done"),
            "solving from https://***@example.org/channel, done"
        );
        assert_eq!(
            redact_credentials("https://token@host:8080/simple/ and http://u:p@x"),
            "https://***@host:8080/simple/ and http://***@x"
        );
        assert_eq!(
            redact_credentials("https://conda.example/t/ab-12.cd_ef/conda-forge/linux-64"),
            "https://conda.example/t/***/conda-forge/linux-64"
        );
        assert_eq!(
            redact_credentials("name @ https://example.org/pkg.whl user@example.org"),
            "name @ https://example.org/pkg.whl user@example.org"
        );
        assert_eq!(redact_credentials("file:///tmp/a@b/c"), "file:///tmp/a@b/c");
        assert_eq!(
            redact_credentials("installing into /srv/t/team/envs/x"),
            "installing into /srv/t/team/envs/x"
        );
        assert_eq!(
            redact_credentials("\"https://h/t/tk-1/c\", https://v:w@h/x"),
            "\"https://h/t/***/c\", https://***@h/x"
        );
    }

    #[test]
    fn json_strings_are_redacted_in_place() {
        let mut value = serde_json::json!({
            "channels": ["https://u:pw@h/c"],
            "name": "env",
        });
        redact_json(&mut value);
        assert_eq!(value["channels"][0], "https://***@h/c");
        assert_eq!(value["name"], "env");
    }
}
