//! What an operator must be able to trust, against real qcow2 files: a replacement deletes the
//! old object where it lives, the plan never deletes what blockform does not own, a volume is
//! not replaced because its source got a new id, values known after apply reach dependents of a
//! re-created object, `drift` and refresh-only agree, size rules hold for the source as it was,
//! and targeting plans only the targets. Every scenario ends with [`assert_converged`].

use std::path::Path;
use std::process::Command;

use crate::common::{Run, backend_id, blockform, blockform_env, ok, project, state_record as record};

fn qemu_img(args: &[&str]) -> String {
    let output = Command::new("qemu-img").args(args).output().expect("qemu-img runs");
    assert!(
        output.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The text without white space and the diagnostics renderer's margin (it wraps long lines,
/// also at hyphens).
fn squashed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace() && *c != '│').collect()
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
    let is_volume = |name: &&String| Path::new(name.as_str()).extension().is_some_and(|e| e == "qcow2");
    let volumes: Vec<String> = all.iter().filter(is_volume).cloned().collect();
    for other in all.iter().filter(|n| !is_volume(n)) {
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

const WITH_STORE: &str = r#"
provider "local" "dev" {
  path = "./volumes"
}

backup_store "dir" "nas" {
  path = "./backups"
}

resource "volume_type" "std" {
  backend = "dev"
}
"#;

fn qemu_io(image: &Path, command: &str) -> Run {
    let output = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", command, image.to_str().unwrap()])
        .output()
        .expect("qemu-io runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn volume_file(dir: &Path, address: &str) -> std::path::PathBuf {
    dir.join(format!("volumes/{}.qcow2", backend_id(dir, address)))
}

/// The ids of the backups `backup list --json` shows.
fn listed_backups(dir: &Path) -> Vec<String> {
    let list = blockform(dir, &["backup", "list", "--json"]);
    ok(&list);
    let mut ids = Vec::new();
    collect_ids(&serde_json::from_str(&list.stdout).unwrap(), &mut ids);
    ids.sort();
    ids.dedup();
    ids
}

fn collect_ids(value: &serde_json::Value, ids: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(id)) = map.get("id")
                && id.starts_with("backup-")
            {
                ids.push(id.clone());
            }
            map.values().for_each(|v| collect_ids(v, ids));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_ids(v, ids)),
        _ => {}
    }
}

const POLICY: &str = r#"
resource "volume" "db" {
  type = volume_type.std.id
  size = 1
}

resource "backup_policy" "nightly" {
  volumes    = [volume.db.id]
  store      = "nas"
  full_every = "7d"
  keep       = 1
}
"#;

#[test]
fn a_destroyed_policy_keeps_its_backups_restorable_by_id_and_backup_delete_removes_one() {
    let dir = project(&[("main.hcl", &format!("{WITH_STORE}{POLICY}"))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let written = qemu_io(&volume_file(d, "volume.db"), "write -P 0xab 0 1M");
    assert_eq!(written.code, 0, "{}", written.stderr);
    // A second run of the policy is not due for 7 days: replace the policy's backup with one
    // of the written volume by destroying and making the policy again.
    std::fs::write(
        d.join("main.hcl"),
        format!(
            "{WITH_STORE}{}",
            POLICY.replace("keep       = 1", "keep       = 1\n  on_destroy = \"delete\"")
        ),
    )
    .unwrap();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    std::fs::write(
        d.join("main.hcl"),
        format!(
            "{WITH_STORE}{}",
            &POLICY[..POLICY.find("resource \"backup_policy\"").unwrap()]
        ),
    )
    .unwrap();
    let plan = blockform(d, &["plan"]);
    assert!(
        plan.stdout.contains("deletes its 1 backup from store `nas`"),
        "{}",
        plan.stdout
    );
    ok(&blockform(d, &["apply", "--auto-approve", "--allow-data-loss"]));
    assert_eq!(
        listed_backups(d),
        Vec::<String>::new(),
        "on_destroy = \"delete\" deleted it"
    );

    // Made again, with the data written; destroyed with the default: the backup stays.
    std::fs::write(d.join("main.hcl"), format!("{WITH_STORE}{POLICY}")).unwrap();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let backups = listed_backups(d);
    assert_eq!(backups.len(), 1, "{backups:?}");
    let backup = backups[0].clone();
    let volume_only = &POLICY[..POLICY.find("resource \"backup_policy\"").unwrap()];
    std::fs::write(d.join("main.hcl"), format!("{WITH_STORE}{volume_only}")).unwrap();
    let plan = blockform(d, &["plan"]);
    assert!(
        plan.stdout.contains(&format!(
            "keeps its 1 backup in store `nas` (on_destroy = \"keep\"): {backup}"
        )),
        "{}",
        plan.stdout
    );
    ok(&blockform(d, &["apply", "--auto-approve"]));
    assert_eq!(listed_backups(d), std::slice::from_ref(&backup));

    // The volume goes too: the plan says its backup outlives it.
    std::fs::write(d.join("main.hcl"), WITH_STORE).unwrap();
    let plan = blockform(d, &["plan"]);
    assert!(
        squashed(&plan.stdout).contains(&squashed(&format!(
            "its 1 backup in store `nas` outlives it: the newest, {backup}"
        ))),
        "{}",
        plan.stdout
    );
    ok(&blockform(d, &["apply", "--auto-approve", "--allow-data-loss"]));

    // Restored by its id into a new volume: the bytes are back.
    let restored = format!(
        "{WITH_STORE}\nresource \"volume\" \"back\" {{\n  type   = volume_type.std.id\n  size   = 1\n  source = {{ backup = \"{backup}\" }}\n}}\n"
    );
    std::fs::write(d.join("main.hcl"), &restored).unwrap();
    ok(&blockform(d, &["validate"]));
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let read = qemu_io(&volume_file(d, "volume.back"), "read -P 0xab 0 1M");
    assert!(
        read.code == 0 && !read.stdout.contains("Pattern verification failed"),
        "{}{}",
        read.stdout,
        read.stderr
    );
    assert_converged(d);

    // An id no store holds, or a volume too small for the backup: plan-time errors.
    let missing = restored.replace(&backup, "backup-00000000-0000-0000-0000-000000000000");
    std::fs::write(d.join("main.hcl"), missing.replace("\"back\"", "\"other\"")).unwrap();
    let plan = blockform(d, &["plan"]);
    assert_eq!(plan.code, 1);
    assert!(
        squashed(&plan.stderr).contains("whichnobackupstoreoftheconfigurationholds"),
        "{}",
        plan.stderr
    );
    std::fs::write(d.join("main.hcl"), &restored).unwrap();

    // `backup delete` deletes a backup nothing manages.
    let refused = blockform(d, &["backup", "delete", &backup, "--auto-approve"]);
    assert_eq!(refused.code, 1, "--auto-approve alone is not enough");
    ok(&blockform(
        d,
        &["backup", "delete", &backup, "--auto-approve", "--allow-data-loss"],
    ));
    assert_eq!(listed_backups(d), Vec::<String>::new());
}

#[test]
fn a_kept_backup_is_imported_and_a_managed_one_cannot_be_deleted_by_hand() {
    let dir = project(&[("main.hcl", &format!("{WITH_STORE}{POLICY}"))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let backup = listed_backups(d)[0].clone();
    let volume = backend_id(d, "volume.db");
    let volume_only = &POLICY[..POLICY.find("resource \"backup_policy\"").unwrap()];
    let adopted = format!(
        "{WITH_STORE}{volume_only}\nresource \"backup\" \"kept\" {{\n  volume = volume.db.id\n  store  = \"nas\"\n}}\n"
    );
    std::fs::write(d.join("main.hcl"), &adopted).unwrap();
    ok(&blockform(d, &["state", "rm", "backup_policy.nightly"]));
    let import = blockform(d, &["import", "backup.kept", &format!("nas/{backup}")]);
    ok(&import);
    assert_eq!(backend_id(d, "backup.kept"), backup);
    assert_eq!(record(d, "backup.kept")["attributes"]["volume"], volume.as_str());
    assert_converged(d);
    let refused = blockform(d, &["backup", "delete", &backup, "--auto-approve", "--allow-data-loss"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("is managed as `backup.kept`"),
        "{}",
        refused.stderr
    );
    assert_eq!(listed_backups(d), [backup]);
}

#[test]
fn a_volume_and_its_snapshot_are_imported_by_blocks_in_one_plan() {
    let dir = project(&[(
        "main.hcl",
        &format!("{ONE_BACKEND}\nresource \"volume\" \"seed\" {{\n  type = volume_type.std.id\n  size = 1\n}}\n"),
    )]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let id = backend_id(d, "volume.seed");
    let file = volume_file(d, "volume.seed");
    qemu_img(&["snapshot", "-c", "golden", file.to_str().unwrap()]);
    ok(&blockform(d, &["state", "rm", "volume.seed"]));
    let imports = format!(
        "{ONE_BACKEND}\nimport {{\n  to = volume.adopted\n  id = \"dev/{id}.qcow2\"\n}}\n\nimport {{\n  to = snapshot.golden_copy\n  id = \"dev/{id}.qcow2@golden\"\n}}\n"
    );
    std::fs::write(d.join("main.hcl"), &imports).unwrap();
    let plan = blockform(d, &["plan", "--generate-config-out=generated.hcl"]);
    ok(&plan);
    let generated = std::fs::read_to_string(d.join("generated.hcl")).unwrap();
    assert!(
        generated.contains("name   = \"golden\""),
        "the snapshot's real name: {generated}"
    );
    ok(&blockform(d, &["apply", "--auto-approve"]));
    assert_eq!(backend_id(d, "volume.adopted"), id);
    assert_eq!(backend_id(d, "snapshot.golden_copy"), "golden");
    assert_converged(d);
}

#[test]
fn switching_a_rule_to_front_end_says_that_back_end_limits_go() {
    let config = |consumer: &str| {
        format!(
            "{ONE_BACKEND}\nresource \"qos\" \"gold\" {{\n  consumer = \"{consumer}\"\n  specs = {{\n    total_iops_sec = 500\n  }}\n}}\n\nresource \"volume_type\" \"limited\" {{\n  backend = \"dev\"\n  qos     = qos.gold.id\n}}\n"
        )
    };
    let dir = project(&[("main.hcl", &config("back-end"))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    std::fs::write(d.join("main.hcl"), config("front-end")).unwrap();
    let plan = blockform(d, &["plan"]);
    ok(&plan);
    assert!(
        squashed(&plan.stdout).contains(&squashed("its limits are removed from the back end of every volume")),
        "{}",
        plan.stdout
    );
    ok(&blockform(d, &["apply", "--auto-approve"]));
    assert_converged(d);
}

#[test]
fn a_create_before_destroy_replacement_killed_at_either_half_is_finished_by_the_next_run() {
    let config = format!(
        "{ONE_BACKEND}\nresource \"volume\" \"db\" {{\n  type = volume_type.std.id\n  size = 1\n  lifecycle {{\n    create_before_destroy = true\n  }}\n}}\n"
    );
    // `link`: the new volume is in place, the old one not yet deleted; `delete-image`: the old
    // volume's image is gone, its sidecar not yet.
    for step in ["link", "delete-image"] {
        let dir = project(&[("main.hcl", &config)]);
        let d = dir.path();
        ok(&blockform(d, &["apply", "--auto-approve"]));
        let old = backend_id(d, "volume.db");
        let fault = format!("abort-after:{step}");
        let killed = blockform_env(
            d,
            &["apply", "--auto-approve", "--allow-data-loss", "--replace", "volume.db"],
            &[("BLOCKFORM_LOCAL_FAULT", &fault)],
        );
        assert_eq!(
            killed.code, -1,
            "{step}: the run stops:\n{}{}",
            killed.stdout, killed.stderr
        );
        let plan = blockform(d, &["plan", "--detailed-exitcode"]);
        assert_eq!(
            plan.code, 0,
            "{step}: recovered, nothing left to do:\n{}{}",
            plan.stdout, plan.stderr
        );
        let new = backend_id(d, "volume.db");
        assert_ne!(new, old, "{step}");
        assert_eq!(
            files(&d.join("volumes")),
            [format!("{new}.qcow2")],
            "{step}: the old volume is deleted as the plan said, the new one is recorded"
        );
        assert_converged(d);
    }
}

#[test]
fn a_retype_records_the_new_type_with_the_volume() {
    let config = |ty: &str| {
        format!(
            "{ONE_BACKEND}\nresource \"volume_type\" \"gold\" {{\n  name    = \"gold\"\n  backend = \"dev\"\n}}\n\nresource \"volume\" \"db\" {{\n  type = volume_type.{ty}.id\n  size = 1\n}}\n"
        )
    };
    let dir = project(&[("main.hcl", &config("std"))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let sidecar = || -> serde_json::Value {
        let path = d.join(format!("volumes/{}.json", backend_id(d, "volume.db")));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    assert_eq!(sidecar()["volume_type"], "std");
    std::fs::write(d.join("main.hcl"), config("gold")).unwrap();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    assert_eq!(
        sidecar()["volume_type"],
        "gold",
        "the back end's own record follows the retype"
    );
    assert_converged(d);
}

#[test]
fn plans_and_state_show_times_sizes_types_and_policy_runs_in_plain_terms() {
    let config = |ty: &str| {
        format!(
            "{WITH_STORE}\nresource \"volume_type\" \"gold\" {{\n  backend = \"dev\"\n}}\n\nresource \"volume\" \"db\" {{\n  type = volume_type.{ty}.id\n  size = 1\n}}\n\nresource \"snapshot\" \"s\" {{\n  volume = volume.db.id\n}}\n\nresource \"image\" \"img\" {{\n  volume = volume.db.id\n}}\n\nresource \"backup_policy\" \"nightly\" {{\n  volumes    = [volume.db.id]\n  store      = \"nas\"\n  full_every = \"1s\"\n  keep       = 1\n}}\n"
        )
    };
    let dir = project(&[("main.hcl", &config("std"))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let created = record(d, "snapshot.s")["attributes"]["created_at"].clone();
    let text = created.as_str().unwrap_or_default();
    assert!(
        text.len() == 20 && text.ends_with('Z') && text.as_bytes()[10] == b'T',
        "RFC 3339: {created}"
    );
    assert_eq!(record(d, "image.img")["attributes"]["size"], 1, "GiB, as volumes");
    let backup = listed_backups(d)[0].clone();

    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(d.join("main.hcl"), config("gold")).unwrap();
    let plan = blockform(d, &["plan"]);
    ok(&plan);
    assert!(
        plan.stdout
            .contains("# volume.db will be retyped from volume_type.std to volume_type.gold"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("# backup_policy.nightly will run (take the backups that are due)"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains(&format!("# DATA LOSS: prunes full backup {backup} of volume.db")),
        "the data loss names the backup: {}",
        plan.stdout
    );
}

#[test]
fn planning_a_new_configuration_writes_nothing() {
    let volume = "\nresource \"volume\" \"db\" {\n  type = volume_type.std.id\n  size = 1\n}\n";
    let dir = project(&[("main.hcl", &format!("{ONE_BACKEND}{volume}"))]);
    let d = dir.path();
    for args in [&["plan", "--refresh=false"][..], &["plan"], &["validate"], &["drift"]] {
        let run = blockform(d, args);
        assert!(run.code == 0 || run.code == 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(!d.join("volumes").exists(), "{args:?} made the provider's directory");
    }
    ok(&blockform(d, &["apply", "--auto-approve"]));
    assert_eq!(files(&d.join("volumes")).len(), 1);
    assert_converged(d);
}

#[test]
fn a_backup_is_kept_when_its_volume_is_replaced_or_made_again() {
    let config = format!(
        "{WITH_STORE}\nresource \"volume\" \"db\" {{\n  type = volume_type.std.id\n  size = 1\n}}\n\nresource \"backup\" \"b\" {{\n  volume = volume.db.id\n  store  = \"nas\"\n}}\n"
    );
    let dir = project(&[("main.hcl", &config)]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let backup = backend_id(d, "backup.b");
    let plan = blockform(d, &["plan", "--replace", "volume.db"]);
    ok(&plan);
    assert!(!plan.stdout.contains("# backup.b"), "the backup stays: {}", plan.stdout);
    assert!(
        plan.stdout
            .contains("its 1 backup in store `nas` outlives it (backup.b)"),
        "{}",
        plan.stdout
    );
    ok(&blockform(
        d,
        &["apply", "--auto-approve", "--allow-data-loss", "--replace", "volume.db"],
    ));
    // Deleted outside blockform, made again: the backup stays too.
    let file = volume_file(d, "volume.db");
    std::fs::remove_file(&file).unwrap();
    std::fs::remove_file(file.with_extension("json")).unwrap();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    assert_eq!(backend_id(d, "backup.b"), backup);
    assert_eq!(listed_backups(d), [backup]);
    assert_converged(d);
}

#[test]
fn a_replaced_volume_that_cannot_be_deleted_yet_does_not_block_the_next_runs() {
    let config = format!(
        "{ONE_BACKEND}\nresource \"volume\" \"db\" {{\n  type = volume_type.std.id\n  size = 1\n  lifecycle {{\n    create_before_destroy = true\n  }}\n}}\n"
    );
    let dir = project(&[("main.hcl", &config)]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let old = volume_file(d, "volume.db");
    let killed = blockform_env(
        d,
        &["apply", "--auto-approve", "--allow-data-loss", "--replace", "volume.db"],
        &[("BLOCKFORM_LOCAL_FAULT", "abort-after:link")],
    );
    assert_eq!(killed.code, -1, "{}{}", killed.stdout, killed.stderr);
    // Someone snapshots the old volume meanwhile: the local provider refuses to delete it.
    qemu_img(&["snapshot", "-c", "hold", old.to_str().unwrap()]);
    let plan = blockform(d, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "the plan goes on:\n{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stderr.contains("the next run tries to delete it again"),
        "{}",
        plan.stderr
    );
    assert!(old.exists());
    assert_ne!(volume_file(d, "volume.db"), old, "the new volume is recorded");
    // Once the snapshot is gone, the next run finishes the delete.
    qemu_img(&["snapshot", "-d", "hold", old.to_str().unwrap()]);
    let plan = blockform(d, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert!(!old.exists(), "{}", plan.stderr);
    assert_eq!(files(&d.join("volumes")).len(), 1);
    assert_converged(d);
}
