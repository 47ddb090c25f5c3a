//! Showing commands to people: quoting a word for a POSIX shell and joining an argv into a
//! command line that can be pasted into a terminal. Errors and the command runner both use it,
//! so it depends on neither.

/// Quotes a word for a POSIX shell: always single quotes, each `'` written as `'\''`.
pub fn shell_quote(word: &str) -> String {
    let mut quoted = String::with_capacity(word.len() + 2);
    quoted.push('\'');
    for character in word.chars() {
        if character == '\'' {
            quoted.push_str(r"'\''");
        } else {
            quoted.push(character);
        }
    }
    quoted.push('\'');
    quoted
}

/// Joins an argv for people to read, quoting only the words a shell would otherwise change.
pub fn command_line<S: AsRef<str>>(argv: &[S]) -> String {
    let words: Vec<String> = argv
        .iter()
        .map(|word| {
            let word = word.as_ref();
            let plain = !word.is_empty()
                && word.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | ',' | '=' | '+' | '@' | '%')
                });
            if plain { word.to_owned() } else { shell_quote(word) }
        })
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_wraps_in_single_quotes_and_escapes_quotes() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("lvs"), "'lvs'");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(shell_quote("a\nb"), "'a\nb'");
    }

    #[test]
    fn command_line_quotes_only_what_needs_it() {
        assert_eq!(
            command_line(&["rbd", "create", "--size", "10240", "volumes/volume-1"]),
            "rbd create --size 10240 volumes/volume-1"
        );
        assert_eq!(
            command_line(&["lvchange", "--addtag", "a b", "", "it's", "~/x"]),
            r"lvchange --addtag 'a b' '' 'it'\''s' '~/x'"
        );
    }
}
