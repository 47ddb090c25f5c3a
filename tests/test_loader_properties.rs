//! Property tests: whatever bytes or broken configurations the loader is given, it reports and
//! never panics or overflows the stack. Together more than 10,000 cases per run.

use std::path::Path;

use blockform::config::{EvalOptions, load_texts};
use proptest::prelude::*;

const EXAMPLE: &str = include_str!("../examples/quickstart/main.hcl");

/// Tokens that make mutations interesting: HCL punctuation, keywords, references, functions.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "${",
    "%{",
    "=",
    "==",
    "?",
    ":",
    "...",
    ",",
    ".",
    "*",
    "\n",
    "#",
    "/*",
    "*/",
    "<<EOT\n",
    "EOT\n",
    "for",
    "in",
    "if",
    "null",
    "true",
    "-1",
    "0",
    "1e308",
    "65537",
    "volume",
    "volume.db",
    "var.db_size",
    "local.x",
    "each.key",
    "count.index",
    "upper(",
    "length(",
    "range(1000000)",
    "toset(",
    "resource \"volume\" \"x\" {",
    "lifecycle {",
    "variable \"v\" {",
    "\u{0}",
    "é",
    "\r\n",
];

fn load(text: &str) {
    // The result does not matter; only that loading returns.
    let _ = load_texts(
        Path::new("/nonexistent-blockform-dir"),
        &[("main.hcl".to_owned(), text.to_owned())],
        &EvalOptions::default(),
    );
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, usize),
    Duplicate(usize, usize),
    Replace(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, t)| Mutation::Insert(at, t)),
        (any::<usize>(), 1usize..200).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, t)| Mutation::Replace(at, t)),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut out = text.to_owned();
    for m in mutations {
        // A position anywhere in the text (wrapping), and an end no further than the text.
        let clamp = |at: usize, s: &str| {
            let mut i = at % (s.len() + 1);
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let end_at = |at: usize, s: &str| {
            let mut i = at.min(s.len());
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        match m {
            Mutation::Delete(at, len) => {
                let start = clamp(*at, &out);
                let end = end_at(start + len, &out);
                out.replace_range(start..end, "");
            }
            Mutation::Insert(at, t) => {
                let at = clamp(*at, &out);
                out.insert_str(at, TOKENS[*t]);
            }
            Mutation::Duplicate(at, len) => {
                let start = clamp(*at, &out);
                let end = end_at(start + len, &out);
                let piece = out[start..end].to_owned();
                out.insert_str(end, &piece);
            }
            Mutation::Replace(at, t) => {
                let start = clamp(*at, &out);
                let end = out[start..].chars().next().map_or(start, |c| start + c.len_utf8());
                out.replace_range(start..end, TOKENS[*t]);
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Mutated versions of the quickstart never panic the loader.
    #[test]
    fn mutated_configurations_never_panic(mutations in proptest::collection::vec(mutation(), 1..6)) {
        load(&apply(EXAMPLE, &mutations));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary text never panics the loader.
    #[test]
    fn arbitrary_text_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        load(&String::from_utf8_lossy(&bytes));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes on disk (mostly not UTF-8) give an error naming the file, never a panic.
    #[test]
    fn arbitrary_files_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let dir = crate::common::project(&[]);
        std::fs::write(dir.path().join("main.hcl"), &bytes).unwrap();
        let result = blockform::config::load(dir.path(), &EvalOptions::default());
        if std::str::from_utf8(&bytes).is_err() {
            let (_, diagnostics) = result.expect_err("invalid UTF-8 is an error");
            prop_assert!(diagnostics.iter().any(|d| d.summary.starts_with("`main.hcl` is not valid UTF-8")));
        }
    }
}
