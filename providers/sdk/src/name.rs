//! Validation of backend names before they reach a back end.
//!
//! Backend names become RBD image names, logical volume names and file names, and travel in
//! command lines (over ssh, through a remote shell). Restricting them to a small alphabet makes
//! every one of those uses safe regardless of quoting; `validate_backend_name` is called before
//! any name is used in a command.

use crate::error::ProviderError;

/// The longest backend name accepted, in characters.
pub const BACKEND_NAME_MAX_LEN: usize = 128;

/// Checks that a name uses only `[A-Za-z0-9._-]`, has 1 to 128 characters and does not start
/// with `-`.
pub fn validate_backend_name(name: &str) -> Result<(), ProviderError> {
    let invalid = |reason: String| ProviderError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("a backend name must not be empty".to_owned()));
    }
    if let Some(character) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(invalid(format!(
            "character `{}` is not allowed; use letters, digits, `.`, `_` and `-`",
            character.escape_debug()
        )));
    }
    // Only ASCII is left, so the byte length is the character count.
    if name.len() > BACKEND_NAME_MAX_LEN {
        return Err(invalid(format!(
            "a backend name has at most {BACKEND_NAME_MAX_LEN} characters, this one has {}",
            name.len()
        )));
    }
    if name.starts_with('-') {
        return Err(invalid(
            "a backend name must not start with `-` (tools would read it as an option)".to_owned(),
        ));
    }
    // `.` and `..` are directory entries for the local provider.
    if name == "." || name == ".." {
        return Err(invalid("`.` and `..` are not backend names".to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(name: &str) -> String {
        match validate_backend_name(name) {
            Err(ProviderError::InvalidName { name: rejected, reason }) => {
                assert_eq!(rejected, name);
                reason
            }
            other => panic!("expected `InvalidName` for {name:?}, got {other:?}"),
        }
    }

    #[test]
    fn accepts_cinder_style_and_plain_names() {
        for name in [
            "volume-0f8e3c1a-7d4e-4a8b-9c1d-2e3f4a5b6c7d",
            "snapshot-1",
            "a",
            "db_data.v2",
            "x-",
            "...",
            &"a".repeat(128),
        ] {
            assert_eq!(validate_backend_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn rejects_empty_and_too_long_names() {
        assert_eq!(reason(""), "a backend name must not be empty");
        assert_eq!(
            reason(&"a".repeat(129)),
            "a backend name has at most 128 characters, this one has 129"
        );
    }

    #[test]
    fn rejects_a_leading_dash() {
        assert_eq!(
            reason("-rf"),
            "a backend name must not start with `-` (tools would read it as an option)"
        );
    }

    #[test]
    fn rejects_dot_directories() {
        assert_eq!(reason("."), "`.` and `..` are not backend names");
        assert_eq!(reason(".."), "`.` and `..` are not backend names");
    }

    #[test]
    fn rejects_shell_path_and_control_characters() {
        for (name, character) in [
            ("a b", " "),
            ("a/b", "/"),
            ("pool@snap", "@"),
            ("$(reboot)", "$"),
            ("x'y", "\\'"),
            ("line\nbreak", "\\n"),
            ("nul\0", "\\0"),
            ("dé", "é"),
            ("a;b", ";"),
        ] {
            assert_eq!(
                reason(name),
                format!("character `{character}` is not allowed; use letters, digits, `.`, `_` and `-`"),
                "{name:?}"
            );
        }
    }

    #[test]
    fn error_message_escapes_the_name() {
        let error = validate_backend_name("a\nb").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid name `a\\nb`: character `\\n` is not allowed; use letters, digits, `.`, `_` and `-`"
        );
    }
}
