//! Small HTML helpers: escaping, URL path segments, the page frame, action buttons and
//! value formatting. Every text that comes from a user or the database goes through
//! [`escape`].

use chrono::NaiveDateTime;
use conda_store_service::views::format_timestamp;

/// The inline style sheet of every page (no external assets).
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222}\
header{background:#2c3e50;padding:.6em 1em}header a{color:#fff;margin-right:1.2em;text-decoration:none}\
header .who{float:right;color:#ccc}main{padding:1em 1.5em;max-width:75em}\
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f2f2f2}pre{background:#f6f6f6;padding:.6em;overflow:auto;max-height:40em}\
textarea{width:100%;font-family:monospace}form.inline{display:inline}button{margin:.1em}\
.error{background:#fdecea;border:1px solid #e0b4b4;padding:.6em}.note{color:#666}\
.status-COMPLETED{color:#1a7f37}.status-FAILED,.status-CANCELED{color:#b42318}.status-BUILDING,.status-QUEUED{color:#9a6700}";

/// `text` with `&`, `<`, `>`, `"` and `'` escaped, safe in element content and in
/// quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// `text` percent-encoded as one URL path segment (or query value).
pub fn segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `text` as a JavaScript string literal that cannot end a `<script>` element.
pub fn script_string(text: &str) -> String {
    script_value(&serde_json::Value::String(text.to_owned()))
}

/// `value` as a JavaScript literal (JSON, pretty-printed) that cannot end a `<script>`
/// element: `<` and `>` are written as escapes.
pub fn script_value(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value)
        .unwrap_or_else(|_| "null".to_owned())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
}

/// A link to `href` (already a URL) showing `text`.
pub fn link(href: &str, text: &str) -> String {
    format!(r#"<a href="{}">{}</a>"#, escape(href), escape(text))
}

/// A one-button form that POSTs to `action` with the CSRF token and `fields`.
pub fn action_button(action: &str, csrf: &str, label: &str, fields: &[(&str, &str)]) -> String {
    let fields: String = fields
        .iter()
        .map(|(name, value)| hidden(name, value))
        .collect();
    format!(
        r#"<form class="inline" method="post" action="{}">{}{fields}<button type="submit">{}</button></form>"#,
        escape(action),
        hidden("csrf", csrf),
        escape(label)
    )
}

/// A hidden form field.
pub fn hidden(name: &str, value: &str) -> String {
    format!(
        r#"<input type="hidden" name="{}" value="{}">"#,
        escape(name),
        escape(value)
    )
}

/// A timestamp as the API writes it, or an em dash.
pub fn timestamp(value: Option<&NaiveDateTime>) -> String {
    value.map_or_else(|| "—".to_owned(), format_timestamp)
}

/// A byte count in binary units (`12.3 MiB`), or an em dash.
pub fn size(bytes: Option<i64>) -> String {
    let Some(bytes) = bytes else {
        return "—".to_owned();
    };
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// A status word, coloured by class.
pub fn status(status: Option<&str>) -> String {
    let status = status.unwrap_or("—");
    format!(r#"<span class="status-{0}">{0}</span>"#, escape(status))
}

/// The frame of every page: title, navigation (under `prefix`), who is logged in,
/// and `body` (already HTML).
pub fn layout(prefix: &str, title: &str, user: Option<&str>, body: &str) -> String {
    let navigation = [
        ("/admin/", "Environments"),
        ("/admin/create/", "Create"),
        ("/admin/namespace/", "Namespaces"),
        ("/admin/setting/", "Settings"),
        ("/admin/user/", "User"),
        ("/docs", "API"),
    ]
    .iter()
    .map(|(path, text)| link(&format!("{prefix}{path}"), text))
    .collect::<String>();
    let who = match user {
        Some(user) => format!("logged in as {}", escape(user)),
        None => link(
            &format!(
                "{prefix}/login/?next={}",
                segment(&format!("{prefix}/admin/"))
            ),
            "log in",
        ),
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · conda-store admin</title><style>{STYLE}</style></head>
<body><header>{navigation}<span class="who">{who}</span></header>
<main><h1>{title}</h1>
{body}
</main></body></html>
"#,
        title = escape(title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_cannot_break_out_of_html_urls_or_scripts() {
        assert_eq!(
            escape(r#"<b onclick="x">&'"#),
            "&lt;b onclick=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(segment("a b/c?d&e"), "a%20b%2Fc%3Fd%26e");
        assert_eq!(
            script_string("</script><x>"),
            r#""\u003c/script\u003e\u003cx\u003e""#
        );
    }

    #[test]
    fn sizes_are_written_in_binary_units() {
        assert_eq!(size(None), "—");
        assert_eq!(size(Some(512)), "512 B");
        assert_eq!(size(Some(1536)), "1.5 KiB");
        assert_eq!(size(Some(3 * 1024 * 1024)), "3.0 MiB");
    }
}
