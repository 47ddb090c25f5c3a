//! Property tests: whatever bytes or broken configurations the loader is given, it reports and
//! never panics or overflows the stack, and what it reports renders (and points at the source)
//! whatever the line lengths. Together about 11,000 cases per run.

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

/// Pieces that stretch a line or a key far past what a terminal shows: diagnostics on them
/// must still render (miette's widths overflow past column 65,535).
const LONG_TOKENS: [&str; 4] = ["        ", "kkkkkkkkkkkkkkkk", "\"\u{1b}[2J\r\"", "1e400"];

/// Loads `text` like `validate` does and renders its diagnostics for people and as JSON:
/// nothing panics, and every error points at source text.
fn validate_and_render(text: &str) -> Result<(), TestCaseError> {
    let (sources, diagnostics) = match load_texts(
        Path::new("/nonexistent-blockform-dir"),
        &[("main.hcl".to_owned(), text.to_owned())],
        &EvalOptions::default(),
    ) {
        Ok(loaded) => (loaded.sources, loaded.diagnostics),
        Err(failed) => failed,
    };
    let _ = blockform::diagnostics::render_human(&diagnostics, &sources, false);
    let _ = blockform::diagnostics::validate_document(&diagnostics, &sources);
    for diagnostic in diagnostics.iter().filter(|d| d.is_error()) {
        prop_assert!(
            diagnostic.span.is_some(),
            "an error without a place: {}",
            diagnostic.summary
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    /// Mutated configurations with some pieces repeated thousands of times (lines of 70,000
    /// characters and more, long keys, control characters, huge numbers) load, and their
    /// diagnostics render, without a panic; every error is located.
    #[test]
    fn diagnostics_of_mutated_configurations_render_and_are_located(
        mutations in proptest::collection::vec(mutation(), 0..4),
        long in proptest::collection::vec((any::<usize>(), 0..LONG_TOKENS.len(), 1usize..6_000), 1..3),
    ) {
        let mut text = apply(EXAMPLE, &mutations);
        for (at, token, times) in long {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.insert_str(at, &LONG_TOKENS[token].repeat(times));
        }
        validate_and_render(&text)?;
    }
}

/// The cases the fuzzing run found, kept as they were: a diagnostic past column 65,535, a
/// metadata key and an output name that long.
#[test]
fn diagnostics_past_column_65535_render() {
    let padding = " ".repeat(70_000);
    let key = "k".repeat(70_000);
    for text in [
        format!("resource \"volume\" \"x\" {{\n  size = 1{padding}nonsense\n}}\n"),
        format!("output \"{key}\" {{\n  value = 1\n}}\n"),
        format!("resource \"volume\" \"x\" {{\n  metadata = {{ {key} = 1 }}{padding}\n  size = \"x\"\n}}\n"),
    ] {
        validate_and_render(&text).unwrap();
    }
}
