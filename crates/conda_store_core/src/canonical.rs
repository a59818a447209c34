//! The canonical hash of a specification, byte for byte as the Python conda-store
//! computes it (`utils.datastructure_hash`), so identical specifications deduplicate and
//! hashes (and the build keys made from them) match a Python deployment.
//!
//! Python does `sha256(json.dumps(recursive_sort(spec)))`:
//! - `recursive_sort` sorts dict keys *and list items*, by the key `str(type(v))` for
//!   containers and `f"{type(v)}-{v}"` for scalars (a stable sort);
//! - `json.dumps` uses the separators `", "` and `": "` and `ensure_ascii=True`.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// The sha256 (lower-case hex) of the canonical JSON text of `value`.
pub fn datastructure_hash(value: &Value) -> String {
    let digest = Sha256::digest(canonical_json(value).as_bytes());
    digest
        .iter()
        .fold(String::with_capacity(64), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

/// The text Python's `json.dumps(recursive_sort(value))` produces.
pub fn canonical_json(value: &Value) -> String {
    let mut text = String::new();
    write_sorted(value, &mut text);
    text
}

/// Python's sort key of a value: its type's repr, plus `-{value}` for scalars.
fn sort_key(value: &Value) -> String {
    match value {
        Value::Array(_) => "<class 'list'>".to_owned(),
        Value::Object(_) => "<class 'dict'>".to_owned(),
        Value::String(text) => format!("<class 'str'>-{text}"),
        Value::Bool(flag) => format!("<class 'bool'>-{}", if *flag { "True" } else { "False" }),
        Value::Null => "<class 'NoneType'>-None".to_owned(),
        Value::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(integer), _, _) => format!("<class 'int'>-{integer}"),
            (_, Some(integer), _) => format!("<class 'int'>-{integer}"),
            (_, _, Some(float)) => format!("<class 'float'>-{}", python_float(float)),
            _ => format!("<class 'int'>-{number}"),
        },
    }
}

fn write_sorted(value: &Value, text: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_cached_key(|key| format!("<class 'str'>-{key}"));
            text.push('{');
            for (position, key) in keys.into_iter().enumerate() {
                if position > 0 {
                    text.push_str(", ");
                }
                write_string(key, text);
                text.push_str(": ");
                if let Some(item) = map.get(key) {
                    write_sorted(item, text);
                }
            }
            text.push('}');
        }
        Value::Array(items) => {
            let mut sorted: Vec<&Value> = items.iter().collect();
            sorted.sort_by_cached_key(|item| sort_key(item));
            text.push('[');
            for (position, item) in sorted.into_iter().enumerate() {
                if position > 0 {
                    text.push_str(", ");
                }
                write_sorted(item, text);
            }
            text.push(']');
        }
        Value::String(string) => write_string(string, text),
        Value::Bool(flag) => text.push_str(if *flag { "true" } else { "false" }),
        Value::Null => text.push_str("null"),
        Value::Number(number) => match number.as_f64() {
            Some(float) if number.is_f64() => text.push_str(&python_float(float)),
            _ => text.push_str(&number.to_string()),
        },
    }
}

/// A JSON string as `json.dumps(..., ensure_ascii=True)` writes it.
fn write_string(string: &str, text: &mut String) {
    text.push('"');
    for character in string.chars() {
        match character {
            '"' => text.push_str("\\\""),
            '\\' => text.push_str("\\\\"),
            '\n' => text.push_str("\\n"),
            '\r' => text.push_str("\\r"),
            '\t' => text.push_str("\\t"),
            '\u{08}' => text.push_str("\\b"),
            '\u{0c}' => text.push_str("\\f"),
            ' '..='~' => text.push(character),
            _ => {
                let mut units = [0u16; 2];
                for unit in character.encode_utf16(&mut units) {
                    let _ = write!(text, "\\u{unit:04x}");
                }
            }
        }
    }
    text.push('"');
}

/// Python's `repr(float)`: the shortest text that reads back as the same number, in
/// positional notation for exponents from -4 to 15 and `1e+16`-style outside.
fn python_float(float: f64) -> String {
    if float.is_nan() {
        return "NaN".to_owned();
    }
    if float.is_infinite() {
        return if float > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e-7".
    let scientific = format!("{float:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..16).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        return format!(
            "{sign}{first}{fraction}e{exponent_sign}{:02}",
            exponent.abs()
        );
    }
    let point = exponent + 1;
    let positional = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    };
    format!("{sign}{positional}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_as_python_repr() {
        for (float, expected) in [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (-2.25, "-2.25"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456789.125, "123456789.125"),
            (1e15, "1000000000000000.0"),
            (0.1, "0.1"),
        ] {
            assert_eq!(python_float(float), expected);
        }
    }

    #[test]
    fn lists_and_keys_sort_like_python() {
        // Expected text printed by Python 3.11 for the same value.
        let value = json!({
            "name": "é",
            "dependencies": ["zlib", {"pip": ["b", "a"]}, "numpy", 3, true, null, 1.5e-5, "😀"],
            "channels": ["conda-forge"]
        });
        assert_eq!(
            canonical_json(&value),
            r#"{"channels": ["conda-forge"], "dependencies": [null, true, {"pip": ["a", "b"]}, 1.5e-05, 3, "numpy", "zlib", "\ud83d\ude00"], "name": "\u00e9"}"#
        );
    }
}
