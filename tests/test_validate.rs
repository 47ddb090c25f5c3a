//! `validate`: every rule of SPEC §1 that needs no back end has a fixture under
//! `tests/fixtures/invalid/` breaking it, and the report a person sees is snapshotted exactly.
//! Valid fixtures and the examples must validate cleanly.

use crate::common::{blockform, project, root};

/// Each invalid fixture fails with exit code 1 and the exact report in its snapshot.
#[test]
fn every_invalid_fixture_reports_its_rule() {
    insta::glob!("fixtures/invalid/*/main.hcl", |path| {
        let dir = path.parent().unwrap();
        let run = blockform(dir, &["validate", "--input=false"]);
        assert_eq!(run.code, 1, "{}: expected exit code 1\n{}", dir.display(), run.stderr);
        assert_eq!(run.stdout, "", "{}: nothing on stdout", dir.display());
        insta::assert_snapshot!(run.stderr);
    });
}

/// Each valid fixture and every example validates with exit code 0.
#[test]
fn valid_fixtures_and_examples_validate() {
    let mut dirs: Vec<std::path::PathBuf> = Vec::new();
    for parent in [root().join("tests/fixtures/valid"), root().join("examples")] {
        for entry in std::fs::read_dir(&parent).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            }
        }
    }
    assert!(dirs.len() >= 2, "fixtures and examples exist");
    for dir in dirs {
        let run = blockform(&dir, &["validate"]);
        assert_eq!(run.code, 0, "{}:\n{}", dir.display(), run.stderr);
        assert!(
            run.stdout.starts_with("Success! The configuration is valid"),
            "{}: {}",
            dir.display(),
            run.stdout
        );
    }
}

/// All errors of a run are reported, not just the first, sorted by position.
#[test]
fn all_errors_are_reported_in_one_run() {
    let dir = project(&[(
        "main.hcl",
        r#"provider "local" "dev" {
  path = "./v"
}
resource "volume_type" "std" {
  backend = "dev"
}
resource "volume" "a" {
  type = volume_type.std.id
  size = 0
}
resource "volume" "b" {
  type = volume_type.std.id
  size = 70000
}
resource "volume" "c" {
  type = volume_type.std.id
  size = 10
  colour = "red"
}
"#,
    )]);
    let run = blockform(dir.path(), &["validate"]);
    assert_eq!(run.code, 1);
    let a = run
        .stderr
        .find("`volume.a` must be from 1 to 65536 GiB, got 0")
        .expect("error for volume.a");
    let b = run
        .stderr
        .find("`volume.b` must be from 1 to 65536 GiB, got 70000")
        .expect("error for volume.b");
    let c = run
        .stderr
        .find("unknown attribute `colour`")
        .expect("error for volume.c");
    assert!(a < b && b < c, "sorted by position:\n{}", run.stderr);
    assert!(run.stderr.ends_with("3 errors found.\n"), "{}", run.stderr);
}

/// `validate --json` has the shape of Terraform's document, with ranges into the file.
#[test]
fn json_output_has_terraform_shape() {
    let dir = project(&[(
        "main.hcl",
        "provider \"local\" \"dev\" {\n  path = \"./v\"\n}\nresource \"volume_type\" \"std\" {\n  backend = \"dev\"\n}\nresource \"volume\" \"a\" {\n  type = volume_type.std.id\n  size = 0\n}\n",
    )]);
    let run = blockform(dir.path(), &["validate", "-json"]);
    assert_eq!(run.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    insta::assert_json_snapshot!(doc, @r#"
    {
      "diagnostics": [
        {
          "detail": "sizes are whole GiB",
          "range": {
            "end": {
              "byte": 155,
              "column": 11,
              "line": 9
            },
            "filename": "main.hcl",
            "start": {
              "byte": 154,
              "column": 10,
              "line": 9
            }
          },
          "severity": "error",
          "summary": "the size of `volume.a` must be from 1 to 65536 GiB, got 0"
        }
      ],
      "error_count": 1,
      "format_version": "1.0",
      "valid": false,
      "warning_count": 0
    }
    "#);
}

/// A valid configuration gives `valid: true` and no diagnostics.
#[test]
fn json_output_for_a_valid_configuration() {
    let run = blockform(&root().join("examples/quickstart"), &["validate", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["error_count"], 0);
    assert_eq!(doc["diagnostics"], serde_json::json!([]));
}
