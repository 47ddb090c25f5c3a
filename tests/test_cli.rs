//! The command line: bad input gets a clear error naming the file and exit code 1 (never a
//! panic), Terraform-style single-dash flags work, and the helper commands print what they say.

use crate::common::{TempDir, blockform, project, root};

const TYPE_AND_PROVIDER: &str =
    "provider \"local\" \"dev\" {\n  path = \"./v\"\n}\n\nresource \"volume_type\" \"std\" {\n  backend = \"dev\"\n}\n";

fn assert_clean_failure(run: &crate::common::Run) {
    assert_eq!(run.code, 1, "exit code 1:\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "no panic:\n{}", run.stderr);
    assert!(
        !run.stderr.contains("RUST_BACKTRACE"),
        "no backtrace hint:\n{}",
        run.stderr
    );
}

#[test]
fn invalid_utf8_names_the_file_and_position() {
    let dir = TempDir::new();
    std::fs::write(
        dir.path().join("main.hcl"),
        b"variable \"x\" {\n  default = \"caf\xe9\"\n}\n",
    )
    .unwrap();
    let run = blockform(dir.path(), &["validate"]);
    assert_clean_failure(&run);
    assert!(
        run.stderr
            .contains("`main.hcl` is not valid UTF-8: invalid byte 0xe9 at line 2, column 17 (byte 31)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("help: save the file as UTF-8"), "{}", run.stderr);
}

#[test]
fn a_directory_without_configuration_is_an_error() {
    let dir = project(&[("notes.txt", "nothing here")]);
    let run = blockform(dir.path(), &["validate"]);
    assert_clean_failure(&run);
    assert!(run.stderr.contains("no configuration files in `.`"), "{}", run.stderr);
    assert!(run.stderr.contains("help: create a main.hcl there"), "{}", run.stderr);
}

#[test]
fn an_unreadable_file_is_named() {
    let dir = project(&[("main.hcl", TYPE_AND_PROVIDER)]);
    std::os::unix::fs::symlink("/nonexistent/blockform/file.hcl", dir.path().join("broken.hcl")).unwrap();
    let run = blockform(dir.path(), &["validate"]);
    assert_clean_failure(&run);
    assert!(
        run.stderr
            .contains("cannot read `broken.hcl`: No such file or directory"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_huge_file_is_refused_before_parsing() {
    let dir = project(&[("main.hcl", TYPE_AND_PROVIDER)]);
    let big = "# padding\n".repeat(5 * 1024 * 1024); // 50 MiB
    std::fs::write(dir.path().join("huge.hcl"), big).unwrap();
    let run = blockform(dir.path(), &["validate"]);
    assert_clean_failure(&run);
    assert!(
        run.stderr
            .contains("`huge.hcl` is too large to be a configuration file (50.0 MiB; the limit is 16 MiB)"),
        "{}",
        run.stderr
    );
}

#[test]
fn deep_nesting_is_a_syntax_error_not_a_stack_overflow() {
    let nested = format!("locals {{\n  x = {}1{}\n}}\n", "[".repeat(10_000), "]".repeat(10_000));
    let dir = project(&[("main.hcl", &nested)]);
    let run = blockform(dir.path(), &["validate"]);
    assert_clean_failure(&run);
    assert!(run.stderr.contains("syntax error"), "{}", run.stderr);
    assert!(run.stderr.contains("main.hcl:2:"), "points at the line: {}", run.stderr);
    assert!(run.stderr.contains("nest at most 64 levels"), "{}", run.stderr);
}

#[test]
fn duplicate_labels_point_at_both_blocks() {
    let text = format!("{TYPE_AND_PROVIDER}\nresource \"volume_type\" \"std\" {{\n  backend = \"dev\"\n}}\n");
    let dir = project(&[("main.hcl", &text)]);
    let run = blockform(dir.path(), &["validate"]);
    assert_clean_failure(&run);
    assert!(
        run.stderr.contains("resource `volume_type.std` is declared twice"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("first declared here"), "{}", run.stderr);
    assert!(run.stderr.contains("declared again here"), "{}", run.stderr);
}

#[test]
fn a_variable_without_value_under_input_false_is_an_error() {
    let text = format!(
        "{TYPE_AND_PROVIDER}\nvariable \"size\" {{\n  type = number\n}}\n\nresource \"volume\" \"v\" {{\n  type = volume_type.std.id\n  size = var.size\n}}\n"
    );
    let dir = project(&[("main.hcl", &text)]);
    let run = blockform(dir.path(), &["validate", "-input=false"]);
    assert_clean_failure(&run);
    assert!(
        run.stderr.contains("no value for required variable `size`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("main.hcl:9:10"), "{}", run.stderr);
    assert!(
        run.stderr.contains("pass `--var size=…`, set BLOCKFORM_VAR_size"),
        "{}",
        run.stderr
    );
    // Given a value, the same configuration is valid.
    let run = blockform(dir.path(), &["validate", "-input=false", "-var", "size=10"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Interactive validate treats it as unknown, as Terraform does.
    let run = blockform(dir.path(), &["validate"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn a_bad_var_argument_is_a_usage_error() {
    let dir = project(&[("main.hcl", TYPE_AND_PROVIDER)]);
    let run = blockform(dir.path(), &["validate", "--var", "novalue"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("`novalue` is not NAME=VALUE"), "{}", run.stderr);
    let run = blockform(dir.path(), &["validate", "--var", "nosuch=1"]);
    assert_clean_failure(&run);
    assert!(
        run.stderr
            .contains("`--var nosuch=…` sets a variable that is not declared"),
        "{}",
        run.stderr
    );
}

#[test]
fn chdir_accepts_terraform_spelling_and_rejects_missing_directories() {
    let run = blockform(&root(), &["-chdir=examples/quickstart", "validate"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = blockform(&root(), &["--chdir", "examples/quickstart", "validate", "-json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("\"valid\": true"));
    let run = blockform(&root(), &["--chdir", "no/such/dir", "validate"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr, "Error: --chdir: `no/such/dir` is not a directory\n");
}

#[test]
fn version_completions_and_man_page() {
    let run = blockform(&root(), &["version"]);
    assert_eq!(run.stdout, format!("blockform v{}\n", env!("CARGO_PKG_VERSION")));
    let run = blockform(&root(), &["version", "-json"]);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["blockform_version"], env!("CARGO_PKG_VERSION"));
    let run = blockform(&root(), &["completions", "bash"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("_blockform()"), "a bash completion function");
    assert!(run.stdout.contains("validate"));
    let run = blockform(&root(), &["man"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains(".TH blockform"), "a roff manual page");
}

#[test]
fn no_color_means_no_escape_sequences() {
    let dir = project(&[("main.hcl", "resource \"volume\" \"v\" {\n  size = 0\n}\n")]);
    let run = blockform(dir.path(), &["--no-color", "validate"]);
    assert_eq!(run.code, 1);
    assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
}
