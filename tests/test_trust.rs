//! What an operator must be able to trust, against real qcow2 files: a replacement deletes the
//! old object where it lives, the plan never deletes what blockform does not own, a volume is
//! not replaced because its source got a new id, values known after apply reach dependents of a
//! re-created object, `drift` and refresh-only agree, size rules hold for the source as it was,
//! and targeting plans only the targets. Every scenario ends with [`assert_converged`].

use std::path::Path;
use std::process::Command;

use crate::common::{Run, blockform, project};

fn ok(run: &Run) {
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
}

fn qemu_img(args: &[&str]) -> String {
    let output = Command::new("qemu-img").args(args).output().expect("qemu-img runs");
    assert!(
        output.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The text without white space (the diagnostics renderer wraps long lines, also at hyphens).
fn squashed(text: &str) -> String {
    text.split_whitespace().collect()
}

fn state(dir: &Path) -> serde_json::Value {
    let pulled = blockform(dir, &["state", "pull"]);
    ok(&pulled);
    serde_json::from_str(&pulled.stdout).unwrap()
}

fn record(dir: &Path, address: &str) -> serde_json::Value {
    state(dir)["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("{address} is in state"))
        .clone()
}

fn backend_id(dir: &Path, address: &str) -> String {
    record(dir, address)["backend_id"].as_str().unwrap().to_owned()
}

/// The volume files of a provider directory; every other file is the sidecar of one of them.
fn files(dir: &Path) -> Vec<String> {
    let mut all: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    all.sort();
    let volumes: Vec<String> = all.iter().filter(|n| n.ends_with(".qcow2")).cloned().collect();
    for other in all.iter().filter(|n| !n.ends_with(".qcow2")) {
        let volume = other.strip_suffix(".json").map(|v| format!("{v}.qcow2"));
        assert!(
            volume.is_some_and(|v| volumes.contains(&v)),
            "`{other}` in {} belongs to no volume: {all:?}",
            dir.display()
        );
    }
    volumes
}

/// After an apply: the next plan is empty and `drift` finds nothing that carries blockform's
/// marker without a state record.
pub fn assert_converged(dir: &Path) {
    let plan = blockform(dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.code, 0,
        "the plan after an apply is empty:\n{}{}",
        plan.stdout, plan.stderr
    );
    let drift = blockform(dir, &["drift", "--json"]);
    assert!(drift.code == 0 || drift.code == 2, "{}{}", drift.stdout, drift.stderr);
    let report: serde_json::Value = serde_json::from_str(&drift.stdout).unwrap();
    let owned: Vec<&serde_json::Value> = report["unmanaged"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["owned"] == true)
        .collect();
    assert!(
        owned.is_empty(),
        "objects with blockform's marker and no state: {owned:#?}"
    );
}

const TWO_BACKENDS: &str = r#"
provider "local" "dev" {
  path = "./dev"
}

provider "local" "slow" {
  path = "./slow"
}

resource "volume_type" "fast" {
  backend = "dev"
}

resource "volume_type" "cold" {
  backend = "slow"
}
"#;

#[test]
fn a_retype_to_another_back_end_deletes_the_old_volume_where_it_lives() {
    let volume = "\nresource \"volume\" \"db\" {\n  type = volume_type.fast.id\n  size = 1\n}\n";
    let dir = project(&[("main.hcl", &format!("{TWO_BACKENDS}{volume}"))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let old = backend_id(d, "volume.db");
    assert_eq!(files(&d.join("dev")), [format!("{old}.qcow2")]);

    std::fs::write(
        d.join("main.hcl"),
        format!("{TWO_BACKENDS}{}", volume.replace("fast", "cold")),
    )
    .unwrap();
    let plan = blockform(d, &["plan"]);
    assert!(plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    ok(&blockform(d, &["apply", "--auto-approve", "--allow-data-loss"]));
    let new = backend_id(d, "volume.db");
    assert_ne!(new, old, "the new volume has a name of its own");
    assert_eq!(record(d, "volume.db")["provider"], "slow");
    assert_eq!(
        files(&d.join("dev")),
        Vec::<String>::new(),
        "the old volume is deleted from the back end that held it"
    );
    assert_eq!(files(&d.join("slow")), [format!("{new}.qcow2")]);
    assert_converged(d);
}

#[test]
fn a_create_before_destroy_replacement_keeps_the_new_volume_and_deletes_the_old() {
    let config = |tag: &str| {
        format!(
            "{TWO_BACKENDS}\nresource \"volume\" \"db\" {{\n  type = volume_type.fast.id\n  size = 1\n  tags = [\"{tag}\"]\n  lifecycle {{\n    create_before_destroy = true\n  }}\n}}\n"
        )
    };
    let dir = project(&[("main.hcl", &config("a"))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let old = backend_id(d, "volume.db");
    ok(&blockform(
        d,
        &["apply", "--auto-approve", "--allow-data-loss", "--replace", "volume.db"],
    ));
    let new = backend_id(d, "volume.db");
    assert_ne!(new, old);
    assert_eq!(
        files(&d.join("dev")),
        [format!("{new}.qcow2")],
        "the recorded volume exists and the old one is gone"
    );
    assert_converged(d);
}

#[test]
fn a_clone_on_another_back_end_is_refused_by_the_plan_naming_both() {
    let base = format!(
        "{TWO_BACKENDS}\nresource \"volume\" \"src\" {{\n  type = volume_type.fast.id\n  size = 1\n}}\n\nresource \"snapshot\" \"s\" {{\n  volume = volume.src.id\n}}\n"
    );
    for source in ["{ volume = volume.src.id }", "{ snapshot = snapshot.s.id }"] {
        let clone = format!(
            "\nresource \"volume\" \"copy\" {{\n  type   = volume_type.cold.id\n  size   = 1\n  source = {source}\n}}\n"
        );
        let dir = project(&[("main.hcl", &format!("{base}{clone}"))]);
        let d = dir.path();
        let plan = blockform(d, &["plan"]);
        assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
        assert!(
            plan.stderr.contains("on back end `dev`")
                && plan.stderr.contains("puts it on")
                && plan.stderr.contains("`slow`"),
            "{}",
            plan.stderr
        );
        assert!(plan.stderr.contains("main.hcl:"), "located: {}", plan.stderr);
        // Nothing was made: a failing plan touches nothing.
        let apply = blockform(d, &["apply", "--auto-approve"]);
        assert_eq!(apply.code, 1);
        assert_eq!(files(&d.join("dev")), Vec::<String>::new());
        assert_eq!(files(&d.join("slow")), Vec::<String>::new());
    }
}

const ONE_BACKEND: &str = r#"
provider "local" "dev" {
  path = "./volumes"
}

resource "volume_type" "std" {
  backend = "dev"
}
"#;

#[test]
fn a_snapshot_taken_outside_blockform_blocks_the_delete_of_its_volume() {
    let volume = "\nresource \"volume\" \"db\" {\n  type = volume_type.std.id\n  size = 1\n}\n";
    let dir = project(&[("main.hcl", &format!("{ONE_BACKEND}{volume}"))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let file = d.join(format!("volumes/{}.qcow2", backend_id(d, "volume.db")));
    qemu_img(&["snapshot", "-c", "users-precious", file.to_str().unwrap()]);

    let plan = blockform(d, &["plan", "--destroy"]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stderr
            .contains("`volume.db` has 1 snapshot not managed by blockform: users-precious"),
        "{}",
        plan.stderr
    );
    let id = format!("dev/{}@users-precious", file.file_name().unwrap().to_string_lossy());
    assert!(
        plan.stderr.contains("blockform import") && squashed(&plan.stderr).contains(&id),
        "the hint names the ID to import: {}",
        plan.stderr
    );
    let destroy = blockform(d, &["destroy", "--auto-approve", "--allow-data-loss"]);
    assert_eq!(destroy.code, 1, "{}{}", destroy.stdout, destroy.stderr);
    assert!(file.exists(), "the volume is kept");
    assert!(
        qemu_img(&["snapshot", "-l", file.to_str().unwrap()]).contains("users-precious"),
        "the foreign snapshot is kept"
    );
    // Removing the volume from the configuration is refused the same way.
    std::fs::write(d.join("main.hcl"), ONE_BACKEND).unwrap();
    let apply = blockform(d, &["apply", "--auto-approve", "--allow-data-loss"]);
    assert_eq!(apply.code, 1, "{}{}", apply.stdout, apply.stderr);
    assert!(file.exists());

    // Once the snapshot is gone, the delete goes ahead.
    qemu_img(&["snapshot", "-d", "users-precious", file.to_str().unwrap()]);
    ok(&blockform(d, &["apply", "--auto-approve", "--allow-data-loss"]));
    assert!(!file.exists());
    assert_converged(d);
}

#[test]
fn drift_and_refresh_only_agree_on_a_snapshot_taken_outside_blockform() {
    let volume = "\nresource \"volume\" \"db\" {\n  type = volume_type.std.id\n  size = 1\n}\n";
    let dir = project(&[("main.hcl", &format!("{ONE_BACKEND}{volume}"))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let id = backend_id(d, "volume.db");
    let file = d.join(format!("volumes/{id}.qcow2"));
    qemu_img(&["snapshot", "-c", "by-hand", file.to_str().unwrap()]);

    let drift = blockform(d, &["drift", "--json"]);
    assert_eq!(drift.code, 2, "{}{}", drift.stdout, drift.stderr);
    let report: serde_json::Value = serde_json::from_str(&drift.stdout).unwrap();
    assert_eq!(
        report["summary"]["changed"], 0,
        "reported once, not also as a change: {report:#}"
    );
    assert_eq!(report["summary"]["unmanaged"], 1, "{report:#}");
    assert_eq!(report["unmanaged"][0]["id"], format!("dev/{id}.qcow2@by-hand"));

    let plan = blockform(d, &["plan", "--refresh-only", "--detailed-exitcode"]);
    assert_eq!(
        plan.code, 2,
        "refresh-only sees the same drift:\n{}{}",
        plan.stdout, plan.stderr
    );
    assert!(plan.stdout.contains("by-hand"), "{}", plan.stdout);
    ok(&blockform(d, &["apply", "--refresh-only", "--auto-approve"]));
    assert_eq!(
        record(d, "volume.db")["attributes"]["unmanaged_snapshots"],
        serde_json::json!(["by-hand"])
    );
    // Recorded: neither reports it any more.
    let drift = blockform(d, &["drift"]);
    assert_eq!(drift.code, 0, "{}{}", drift.stdout, drift.stderr);
    let plan = blockform(d, &["plan", "--refresh-only", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    // An update of the volume keeps what the refresh recorded.
    std::fs::write(
        d.join("main.hcl"),
        format!(
            "{ONE_BACKEND}{}",
            volume.replace("size = 1", "size = 1\n  tags = [\"x\"]")
        ),
    )
    .unwrap();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    assert_eq!(blockform(d, &["drift"]).code, 0);
    assert_converged(d);

    // Deleted by hand again: both see it go.
    qemu_img(&["snapshot", "-d", "by-hand", file.to_str().unwrap()]);
    let plan = blockform(d, &["plan", "--refresh-only", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    ok(&blockform(d, &["apply", "--refresh-only", "--auto-approve"]));
    assert_eq!(blockform(d, &["drift"]).code, 0);
    let plan = blockform(d, &["plan", "--refresh-only", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
}

const WITH_SNAPSHOT_COPY: &str = r#"
resource "volume" "src" {
  type = volume_type.std.id
  size = 1
}

resource "snapshot" "s" {
  volume = volume.src.id
}

resource "volume" "copy" {
  type   = volume_type.std.id
  size   = 1
  source = { snapshot = snapshot.s.id }
}
"#;

#[test]
fn a_volume_made_from_a_snapshot_is_kept_when_the_snapshot_is_made_again() {
    let dir = project(&[("main.hcl", &format!("{ONE_BACKEND}{WITH_SNAPSHOT_COPY}"))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let copy = backend_id(d, "volume.copy");
    let snapshot = backend_id(d, "snapshot.s");
    let src = d.join(format!("volumes/{}.qcow2", backend_id(d, "volume.src")));
    qemu_img(&["snapshot", "-d", &snapshot, src.to_str().unwrap()]);

    let plan = blockform(d, &["plan"]);
    assert!(!plan.stdout.contains("volume.copy"), "{}", plan.stdout);
    ok(&blockform(d, &["apply", "--auto-approve"]));
    assert_ne!(backend_id(d, "snapshot.s"), snapshot, "the snapshot was made again");
    assert_eq!(backend_id(d, "volume.copy"), copy, "the copy is the same volume");
    assert_converged(d);
}

#[test]
fn dependents_of_a_volume_made_again_get_its_new_id() {
    let src = "\nresource \"volume\" \"src\" {\n  type = volume_type.std.id\n  size = 1\n}\n";
    let dir = project(&[("main.hcl", &format!("{ONE_BACKEND}{src}"))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let old = backend_id(d, "volume.src");
    std::fs::remove_file(d.join(format!("volumes/{old}.qcow2"))).unwrap();
    std::fs::remove_file(d.join(format!("volumes/{old}.json"))).unwrap();
    let clone = "\nresource \"volume\" \"clone\" {\n  type   = volume_type.std.id\n  size   = 1\n  source = { volume = volume.src.id }\n}\n";
    std::fs::write(d.join("main.hcl"), format!("{ONE_BACKEND}{WITH_SNAPSHOT_COPY}{clone}")).unwrap();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let new = backend_id(d, "volume.src");
    assert_ne!(new, old);
    assert_eq!(record(d, "snapshot.s")["attributes"]["volume"], new.as_str());
    assert_eq!(
        record(d, "volume.clone")["attributes"]["source"]["volume"],
        new.as_str()
    );
    assert_converged(d);
}

#[test]
fn growing_a_source_keeps_validate_and_the_plan_clean_for_what_was_made_from_it() {
    let config = |size: u64| {
        format!(
            "{ONE_BACKEND}\nbackup_store \"dir\" \"nas\" {{\n  path = \"./backups\"\n}}\n\nresource \"volume\" \"src\" {{\n  type = volume_type.std.id\n  size = {size}\n}}\n\nresource \"snapshot\" \"s\" {{\n  volume = volume.src.id\n}}\n\nresource \"volume\" \"clone\" {{\n  type   = volume_type.std.id\n  size   = 1\n  source = {{ volume = volume.src.id }}\n}}\n\nresource \"volume\" \"from_snapshot\" {{\n  type   = volume_type.std.id\n  size   = 1\n  source = {{ snapshot = snapshot.s.id }}\n}}\n\nresource \"backup\" \"b\" {{\n  volume = volume.src.id\n  store  = \"nas\"\n}}\n\nresource \"volume\" \"restored\" {{\n  type   = volume_type.std.id\n  size   = 1\n  source = {{ backup = backup.b.id }}\n}}\n"
        )
    };
    let dir = project(&[("main.hcl", &config(1))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    std::fs::write(d.join("main.hcl"), config(2)).unwrap();
    ok(&blockform(d, &["validate"]));
    let plan = blockform(d, &["plan"]);
    ok(&plan);
    assert!(plan.stdout.contains("1 to change"), "only the extend: {}", plan.stdout);
    ok(&blockform(d, &["apply", "--auto-approve"]));
    ok(&blockform(d, &["validate"]));
    assert_converged(d);
}

#[test]
fn a_new_volume_smaller_than_its_source_is_refused_by_the_plan_at_its_size() {
    let cases = [
        ("{ volume = volume.src.id }", "its source `volume.src` holds 4 GiB"),
        ("{ snapshot = snapshot.s.id }", "its source `snapshot.s` holds 4 GiB"),
        ("{ backup = backup.b.id }", "its source `backup.b` holds 4 GiB"),
    ];
    for (source, message) in cases {
        let config = format!(
            "{ONE_BACKEND}\nbackup_store \"dir\" \"nas\" {{\n  path = \"./backups\"\n}}\n\nresource \"volume\" \"src\" {{\n  type = volume_type.std.id\n  size = 4\n}}\n\nresource \"snapshot\" \"s\" {{\n  volume = volume.src.id\n}}\n\nresource \"backup\" \"b\" {{\n  volume = volume.src.id\n  store  = \"nas\"\n}}\n\nresource \"volume\" \"small\" {{\n  type   = volume_type.std.id\n  size   = 2\n  source = {source}\n}}\n"
        );
        let dir = project(&[("main.hcl", &config)]);
        let d = dir.path();
        let plan = blockform(d, &["plan"]);
        assert_eq!(plan.code, 1, "{source}: {}{}", plan.stdout, plan.stderr);
        assert!(
            plan.stderr.contains(&format!("`volume.small` is 2 GiB but {message}")),
            "{source}: {}",
            plan.stderr
        );
        assert!(
            plan.stderr.contains("2 GiB is smaller than 4 GiB"),
            "at the size line: {}",
            plan.stderr
        );
        assert!(plan.stderr.contains("source size set here"), "{}", plan.stderr);
    }
}

#[test]
fn targeting_ignores_the_rules_of_what_it_does_not_plan() {
    let config = format!(
        "{ONE_BACKEND}\nresource \"volume\" \"grown\" {{\n  type = volume_type.std.id\n  size = 1\n}}\n\nresource \"volume\" \"other\" {{\n  type = volume_type.std.id\n  size = 1\n}}\n"
    );
    let dir = project(&[("main.hcl", &config)]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let grown = d.join(format!("volumes/{}.qcow2", backend_id(d, "volume.grown")));
    qemu_img(&["resize", grown.to_str().unwrap(), "2G"]);
    let targeted = blockform(d, &["plan", "--target", "volume.other"]);
    ok(&targeted);
    let whole = blockform(d, &["plan"]);
    assert_eq!(whole.code, 1, "the untargeted plan still reports the rule");
    assert!(whole.stderr.contains("cannot shrink"), "{}", whole.stderr);
    // The targeted volume's own rules still hold.
    let targeted = blockform(d, &["plan", "--target", "volume.grown"]);
    assert_eq!(targeted.code, 1);
    assert!(targeted.stderr.contains("cannot shrink"), "{}", targeted.stderr);
}
