//! `fmt`: canonical formatting, `--check` (exit 3), `--diff`, `--recursive`, `--write=false`,
//! exit 2 on a syntax error, and idempotence over every example and fixture.

use std::path::{Path, PathBuf};

use blockform::config::format::format_source;

use crate::common::{blockform, project, root};

const UNFORMATTED: &str = "resource \"volume\" \"db\" {\nname = \"db\"\n    size=10 # GiB\n  tags = [\"a\"]\n\n\n\n  lifecycle {\n  prevent_destroy = true\n  }\n}\n";
const FORMATTED: &str = "resource \"volume\" \"db\" {\n  name = \"db\"\n  size = 10 # GiB\n  tags = [\"a\"]\n\n  lifecycle {\n    prevent_destroy = true\n  }\n}\n";

#[test]
fn fmt_rewrites_files_and_lists_them() {
    let dir = project(&[("main.hcl", UNFORMATTED), ("ok.hcl", FORMATTED)]);
    let run = blockform(dir.path(), &["fmt"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "main.hcl\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("main.hcl")).unwrap(), FORMATTED);
    // A second run has nothing to do.
    let run = blockform(dir.path(), &["fmt"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""));
}

#[test]
fn check_exits_3_and_changes_nothing() {
    let dir = project(&[("main.hcl", UNFORMATTED)]);
    let run = blockform(dir.path(), &["fmt", "-check"]);
    assert_eq!(run.code, 3);
    assert_eq!(run.stdout, "main.hcl\n");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("main.hcl")).unwrap(),
        UNFORMATTED
    );
}

#[test]
fn diff_shows_the_change_without_writing_when_asked() {
    let dir = project(&[("main.hcl", UNFORMATTED)]);
    let run = blockform(dir.path(), &["fmt", "--diff", "--write=false", "--list=false"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.starts_with("--- old/main.hcl\n+++ new/main.hcl\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("\n-    size=10 # GiB\n"), "{}", run.stdout);
    assert!(run.stdout.contains("\n+  size = 10 # GiB\n"), "{}", run.stdout);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("main.hcl")).unwrap(),
        UNFORMATTED
    );
}

#[test]
fn recursive_descends_into_subdirectories() {
    let dir = project(&[
        ("main.hcl", FORMATTED),
        ("envs/prod/main.hcl", UNFORMATTED),
        ("envs/prod/prod.bfvars", "size=10\n"),
    ]);
    let run = blockform(dir.path(), &["fmt", "--check"]);
    assert_eq!(run.code, 0, "without --recursive only the top directory is read");
    let run = blockform(dir.path(), &["fmt", "--check", "--recursive"]);
    assert_eq!(run.code, 3);
    assert_eq!(run.stdout, "envs/prod/main.hcl\nenvs/prod/prod.bfvars\n");
}

#[test]
fn a_syntax_error_exits_2_with_its_position() {
    let dir = project(&[("main.hcl", "resource \"volume\" \"db\" {\n  size = \n}\n")]);
    let run = blockform(dir.path(), &["fmt"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("syntax error"), "{}", run.stderr);
    assert!(run.stderr.contains("main.hcl:"), "{}", run.stderr);
}

fn hcl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            hcl_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "hcl") {
            out.push(path);
        }
    }
}

/// Formatting a formatted file changes nothing, for every example and fixture that parses;
/// the examples are kept formatted.
#[test]
fn formatting_is_idempotent_over_examples_and_fixtures() {
    let mut files = Vec::new();
    hcl_files(&root().join("examples"), &mut files);
    hcl_files(&root().join("tests/fixtures"), &mut files);
    assert!(files.len() > 10);
    let mut checked = 0;
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(once) = format_source(&text) else { continue };
        let twice = format_source(&once).unwrap();
        assert_eq!(once, twice, "{} is not stable under fmt", path.display());
        if path.starts_with(root().join("examples")) {
            assert_eq!(text, once, "{} is not formatted", path.display());
        }
        checked += 1;
    }
    assert!(checked > 10);
}
