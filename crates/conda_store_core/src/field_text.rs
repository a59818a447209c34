//! The one rule for text that comes from a specification: no control characters.
//!
//! A specification's strings end up in files (requirements files, YAML and lockfile
//! artifacts, logs) and on command lines, where a carriage return, a tab, a NUL or a
//! Unicode line separator can start a new line or a new argument that was never
//! checked. Every field of every kind of specification goes through
//! [`check_field_text`].

/// Whether `character` may not appear in a specification field: any character for
/// which [`char::is_control`] holds (C0, DEL, C1 including U+0085), and the Unicode
/// line and paragraph separators U+2028 and U+2029.
pub fn is_forbidden_character(character: char) -> bool {
    character.is_control() || matches!(character, '\u{2028}' | '\u{2029}')
}

/// Checks one field of a specification. `field` names it for the error (for example
/// ``entry 2 of section `pip` of `dependencies`, line 3``). The error names the
/// character by its code point and its position (0-based, in characters) and never
/// repeats the text itself.
pub fn check_field_text(field: &str, text: &str) -> Result<(), String> {
    match text
        .chars()
        .enumerate()
        .find(|(_, character)| is_forbidden_character(*character))
    {
        None => Ok(()),
        Some((position, character)) => Err(format!(
            "{field} contains the control character U+{:04X} at position {position}: \
             control characters (including tabs, carriage returns and line separators) \
             are not allowed in a specification",
            u32::from(character)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_named_with_their_position() {
        for (text, code) in [
            ("a\rb", "U+000D"),
            ("a\tb", "U+0009"),
            ("a\0b", "U+0000"),
            ("a\u{85}b", "U+0085"),
            ("a\u{2028}b", "U+2028"),
            ("a\u{2029}b", "U+2029"),
            ("a\u{7f}b", "U+007F"),
        ] {
            let error = check_field_text("field `name`", text)
                .err()
                .unwrap_or_default();
            assert!(error.contains(code), "{error}");
            assert!(error.contains("position 1"), "{error}");
            assert!(error.starts_with("field `name`"), "{error}");
        }
        assert!(check_field_text("field", "numpy >=1.0; python_version > '3'").is_ok());
        assert!(check_field_text("field", "café ünïcode").is_ok());
    }
}
