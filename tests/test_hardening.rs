//! What a fault-injection and fuzzing run found, each as a person would meet it: a state that
//! lost its database file, a lost state whose volumes are still there, two `import` blocks for
//! one object, diagnostics on very long lines, control characters in values, provider blocks
//! with wrong values, and the smaller messages that said the wrong thing.

use std::path::Path;
use std::process::Command;

use crate::common::{Run, blockform, ok, project};

const CONFIG: &str = r#"
provider "local" "dev" {
  path = "./volumes"
}

resource "volume_type" "standard" {
  backend = "dev"
}

resource "volume" "a" {
  type = volume_type.standard.id
  size = 1
}

resource "volume" "b" {
  type = volume_type.standard.id
  size = 1
}
"#;

fn failed(run: &Run) {
    assert_eq!(run.code, 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
}

fn qcow2_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir.join("volumes"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| std::path::Path::new(name).extension().is_some_and(|e| e == "qcow2"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn applied() -> crate::common::TempDir {
    let dir = project(&[("main.hcl", CONFIG)]);
    ok(&blockform(dir.path(), &["apply", "--auto-approve"]));
    dir
}

/// Waits for the sled database of `dir` to be released and its files complete (the previous
/// process exited, so this is immediate), then removes its `db` file.
fn lose_db_file(dir: &Path) {
    std::fs::remove_file(dir.join(".blockform/state/db")).unwrap();
}

#[test]
fn a_state_without_its_db_file_is_refused_by_every_command() {
    let dir = applied();
    let d = dir.path();
    let before = qcow2_files(d);
    lose_db_file(d);
    for args in [
        &["state", "list"][..],
        &["state", "pull"],
        &["plan"],
        &["apply", "--auto-approve"],
        &["drift"],
        &["output"],
        &["show"],
        &["import", "volume.a", "dev/volume-x.qcow2"],
    ] {
        let run = blockform(d, args);
        failed(&run);
        assert!(
            run.stderr.contains("is incomplete: its `db` file is missing")
                && run.stderr.contains("will not read it as an empty state")
                && run.stderr.contains("blockform state push COPY"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("corrupted"), "{args:?}: {}", run.stderr);
    }
    assert_eq!(qcow2_files(d), before, "no volume was created");
    assert!(
        !d.join(".blockform/state/db").exists(),
        "nothing recreated the database"
    );
}

#[test]
fn a_lost_state_does_not_create_second_copies_of_owned_volumes() {
    let dir = applied();
    let d = dir.path();
    let before = qcow2_files(d);
    assert_eq!(before.len(), 2);
    std::fs::remove_dir_all(d.join(".blockform")).unwrap();

    let plan = blockform(d, &["plan"]);
    failed(&plan);
    for address in ["volume.a", "volume.b"] {
        assert!(
            plan.stderr.contains(&format!(
                "`{address}` would be created, but provider `dev` already holds `volume-"
            )),
            "{}",
            plan.stderr
        );
    }
    assert!(
        plan.stderr.contains("made by blockform and recorded in no"),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr.contains("blockform import volume.a dev/volume-"),
        "{}",
        plan.stderr
    );
    failed(&blockform(d, &["apply", "--auto-approve"]));
    assert_eq!(qcow2_files(d), before, "the refused apply created nothing");

    // Adopting them, as the hint says, leaves nothing to create (their type must exist first).
    ok(&blockform(
        d,
        &["apply", "--auto-approve", "--target", "volume_type.standard"],
    ));
    for address in ["volume.a", "volume.b"] {
        let hint = plan
            .stderr
            .split(&format!("blockform import {address} "))
            .nth(1)
            .unwrap()
            .split('`')
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<String>();
        ok(&blockform(d, &["import", address, &hint]));
    }
    let plan = blockform(d, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert_eq!(qcow2_files(d), before);

    // Told to, it creates a new volume beside an old one.
    std::fs::remove_dir_all(d.join(".blockform")).unwrap();
    let apply = blockform(d, &["apply", "--auto-approve", "--allow-duplicates"]);
    ok(&apply);
    assert_eq!(qcow2_files(d).len(), 4);
}

#[test]
fn two_import_blocks_for_one_object_are_refused() {
    let dir = applied();
    let d = dir.path();
    let stray = d.join("volumes/volume-found.qcow2");
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", stray.to_str().unwrap(), "1G"])
        .status()
        .unwrap();
    assert!(status.success());
    let resources = "resource \"volume\" \"c\" {\n  type = volume_type.standard.id\n  size = 1\n}\n\
                     resource \"volume\" \"d\" {\n  type = volume_type.standard.id\n  size = 1\n}\n";
    // The same id twice: an error at validate time naming both blocks.
    std::fs::write(
        d.join("imports.hcl"),
        format!(
            "{resources}import {{\n  to = volume.c\n  id = \"dev/volume-found.qcow2\"\n}}\n\nimport {{\n  to = \
             volume.d\n  id = \"dev/volume-found.qcow2\"\n}}\n"
        ),
    )
    .unwrap();
    let validate = blockform(d, &["validate"]);
    failed(&validate);
    assert!(
        validate
            .stderr
            .contains("`dev/volume-found.qcow2` is imported twice: as `volume.c` and as `volume.d`"),
        "{}",
        validate.stderr
    );
    assert!(validate.stderr.contains(" 9 │ import {"), "{}", validate.stderr);
    assert!(validate.stderr.contains(" 14 │ import {"), "{}", validate.stderr);
    assert!(
        validate.stderr.contains("imports it as `volume.c`"),
        "{}",
        validate.stderr
    );
    assert!(
        validate.stderr.contains("imports it as `volume.d`"),
        "{}",
        validate.stderr
    );
    failed(&blockform(d, &["apply", "--auto-approve"]));

    // Two spellings of one object: refused when the plan reads them.
    std::fs::write(
        d.join("imports.hcl"),
        format!(
            "{resources}import {{\n  to = volume.c\n  id = \"dev/volume-found.qcow2\"\n}}\n\nimport {{\n  to = \
             volume.d\n  id = \"dev/volume-found\"\n}}\n"
        ),
    )
    .unwrap();
    let plan = blockform(d, &["plan"]);
    failed(&plan);
    assert!(
        plan.stderr
            .contains("`volume.c` and `volume.d` import one object, `dev/volume-found`")
            || plan
                .stderr
                .contains("cannot import `volume.d`: `dev/volume-found` is already managed as `volume.c`"),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("[imports.hcl:14:1]"), "{}", plan.stderr);
    let list = blockform(d, &["state", "list"]);
    assert!(!list.stdout.contains("volume.c"), "{}", list.stdout);
}

#[test]
fn provider_blocks_and_values_are_checked_by_validate_at_their_line() {
    let config = r#"
provider "local" "dev" {
  path             = ""
  oversubscription = "2"
}

provider "ceph" "c" {
  pool = "volumes"
  user = "client.admin"
  conf = "missing.conf"
}

resource "volume_type" "standard" {
  backend = "dev"
}

resource "volume" "numeric_string" {
  type = volume_type.standard.id
  size = "10"
}

resource "volume" "huge" {
  type = volume_type.standard.id
  size = 18446744073709551616
}

resource "volume" "device" {
  type   = volume_type.standard.id
  size   = 1
  source = { image = "/dev/zero" }
}
"#;
    let dir = project(&[("main.hcl", config)]);
    let run = blockform(dir.path(), &["validate"]);
    failed(&run);
    let e = &run.stderr;
    for (message, at) in [
        (
            "`path` of provider `dev` is invalid: it must name a directory, not be empty",
            "[main.hcl:3:22]",
        ),
        (
            "`user` of provider `c` is invalid: it cannot be `client.admin`: give the user without",
            "[main.hcl:9:10]",
        ),
        ("`conf` of provider `c` is invalid: the file", "[main.hcl:10:10]"),
        ("`size` of `volume.huge` is too large", "[main.hcl:24:10]"),
        ("image `/dev/zero` is not a regular file", "[main.hcl:30:12]"),
    ] {
        assert!(e.contains(message), "{message}: {e}");
        assert!(e.contains(at), "{message} at {at}: {e}");
    }
    assert!(
        !e.contains("`oversubscription` of provider"),
        "\"2\" is the number 2: {e}"
    );
    assert!(
        !e.contains("`size` of `volume.numeric_string`"),
        "\"10\" is the number 10: {e}"
    );
    // A number too large for a number is one, not a syntax error.
    let dir2 = project(&[("main.hcl", "locals {\n  x = 1e400\n}\n")]);
    let run = blockform(dir2.path(), &["validate"]);
    failed(&run);
    assert!(
        run.stderr.contains("the number `1e400` is out of range"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("[main.hcl:2:7]"), "{}", run.stderr);
    // `plan` refuses what `validate` only warns about: a file missing on this machine.
    let dir = project(&[(
        "main.hcl",
        "provider \"ceph\" \"c\" {\n  pool = \"volumes\"\n  conf = \"missing.conf\"\n}\n",
    )]);
    let validate = blockform(dir.path(), &["validate"]);
    ok(&validate);
    assert!(validate.stderr.contains("does not exist"), "{}", validate.stderr);
    let plan = blockform(dir.path(), &["plan"]);
    failed(&plan);
    assert!(plan.stderr.contains("[main.hcl:3:10]"), "{}", plan.stderr);
}
