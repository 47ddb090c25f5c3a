//! Drift and adoption against real qcow2 files: out-of-band changes made with qemu-img appear
//! in `blockform drift` with the right class and values, `apply --refresh-only` records them,
//! a baseline silences known drift, imported objects plan clean, and an import ID of another
//! kind (or a kind that is only a record) is refused with what to do. Also plan reports that
//! need applied objects (a cycle between replacements).

use std::path::Path;
use std::process::Command;

use crate::common::{backend_id, blockform, ok, project};

const CONFIG: &str = r#"
provider "local" "dev" {
  path = "./volumes"
}

resource "volume_type" "standard" {
  backend = "dev"
}

resource "volume" "a" {
  name = "a"
  type = volume_type.standard.id
  size = 1
}

resource "volume" "b" {
  name = "b"
  type = volume_type.standard.id
  size = 1
}

resource "snapshot" "s" {
  volume = volume.a.id
  name   = "s"
}
"#;

fn qemu_img(args: &[&str]) {
    let status = Command::new("qemu-img").args(args).status().expect("qemu-img runs");
    assert!(status.success(), "qemu-img {args:?}");
}

fn drift_json(dir: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["drift", "--json"];
    args.extend_from_slice(extra);
    let run = blockform(dir, &args);
    assert!(
        run.code == 0 || run.code == 2,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    (
        run.code,
        serde_json::from_str(&run.stdout).expect("drift --json prints JSON"),
    )
}

fn applied() -> crate::common::TempDir {
    let dir = project(&[("main.hcl", CONFIG)]);
    ok(&blockform(dir.path(), &["apply", "--auto-approve"]));
    dir
}

#[test]
fn out_of_band_changes_are_reported_by_class_and_refresh_only_records_them() {
    let dir = applied();
    let d = dir.path();
    let (code, report) = drift_json(d, &[]);
    assert_eq!(code, 0, "fresh apply is in sync: {report:#}");
    assert_eq!(report["in_sync"], true);
    assert_eq!(report["format_version"], 1);

    let a = backend_id(d, "volume.a");
    let b = backend_id(d, "volume.b");
    let snapshot = backend_id(d, "snapshot.s");
    let a_file = d.join(format!("volumes/{a}.qcow2"));
    // Grow a, delete its snapshot, delete b, and drop an unmanaged volume in the directory.
    qemu_img(&["resize", a_file.to_str().unwrap(), "3G"]);
    qemu_img(&["snapshot", "-d", &snapshot, a_file.to_str().unwrap()]);
    std::fs::remove_file(d.join(format!("volumes/{b}.qcow2"))).unwrap();
    let stray = d.join("volumes/volume-stray.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", stray.to_str().unwrap(), "2G"]);

    let (code, report) = drift_json(d, &[]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["summary"]["changed"], 1);
    let changed = &report["changed"][0];
    assert_eq!(changed["address"], "volume.a");
    let attributes = changed["attributes"].as_array().unwrap();
    let size = attributes.iter().find(|x| x["name"] == "size").expect("size drift");
    assert_eq!((size["state"].as_f64(), size["real"].as_f64()), (Some(1.0), Some(3.0)));
    assert_eq!(size["config"].as_f64(), Some(1.0));
    // The deleted snapshot is reported once: missing, not also as a change of its volume.
    assert!(
        attributes.iter().all(|x| x["name"] == "size"),
        "only the size of volume.a changed: {report:#}"
    );

    let missing: Vec<&str> = report["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["address"].as_str().unwrap())
        .collect();
    assert_eq!(missing, ["snapshot.s", "volume.b"]);
    assert_eq!(report["missing"][1]["in_configuration"], true);
    assert_eq!(report["unmanaged"].as_array().unwrap().len(), 1);
    assert_eq!(report["unmanaged"][0]["id"], "dev/volume-stray.qcow2");
    assert_eq!(report["unmanaged"][0]["size_bytes"], 2_u64 << 30);

    // The human and Markdown forms say the same.
    let human = blockform(d, &["drift"]);
    assert_eq!(human.code, 2);
    assert!(human.stdout.contains("  ~ volume.a"), "{}", human.stdout);
    assert!(
        human.stdout.contains("size: 1 -> 3 (configuration: 1)"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("  - volume.b"), "{}", human.stdout);
    assert!(
        human.stdout.contains("  ? dev/volume-stray.qcow2 (volume, 2 GiB)"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("Drift: 1 changed, 2 missing, 1 unmanaged."),
        "{}",
        human.stdout
    );
    let markdown = blockform(d, &["drift", "--markdown"]);
    assert_eq!(markdown.code, 2);
    assert!(
        markdown.stdout.contains("| `volume.a` | `size` | `1` | `3` | `1` |"),
        "{}",
        markdown.stdout
    );
    assert!(
        markdown
            .stdout
            .contains("| `dev/volume-stray.qcow2` | volume | 2 GiB |"),
        "{}",
        markdown.stdout
    );

    // A refresh-only plan reports drift with exit code 2 and changes nothing.
    let plan = blockform(d, &["plan", "--refresh-only", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("# volume.b has been deleted"), "{}", plan.stdout);
    // Without approval and without a terminal, it stops.
    let refused = blockform(d, &["apply", "--refresh-only", "--input=false"]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("needs approval"), "{}", refused.stderr);
    let recorded = blockform(d, &["apply", "--refresh-only", "--auto-approve"]);
    ok(&recorded);
    assert!(
        recorded.stdout.contains("State updated: 1 changed, 2 removed."),
        "{}",
        recorded.stdout
    );
    assert!(a_file.exists(), "refresh-only touches no storage object");

    // State now follows reality: only the unmanaged file is left to report.
    let (code, report) = drift_json(d, &[]);
    assert_eq!(code, 2);
    assert_eq!(report["summary"]["changed"], 0, "{report:#}");
    assert_eq!(report["summary"]["missing"], 0, "{report:#}");
    let list = blockform(d, &["state", "list"]);
    assert_eq!(
        list.stdout.lines().collect::<Vec<_>>(),
        ["volume.a", "volume_type.standard"]
    );
    // What is left: the stray file, and the sidecar of the volume deleted by hand, which carries
    // blockform's marker and now belongs to no state.
    let mut ids: Vec<&str> = report["unmanaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [format!("dev/{b}.json"), "dev/volume-stray.qcow2".to_owned()]);
    std::fs::remove_file(&stray).unwrap();
    std::fs::remove_file(d.join(format!("volumes/{b}.json"))).unwrap();
    let (code, report) = drift_json(d, &[]);
    assert_eq!((code, &report["in_sync"]), (0, &serde_json::json!(true)), "{report:#}");
}

#[test]
fn a_baseline_silences_known_drift_and_reports_new_drift() {
    let dir = applied();
    let d = dir.path();
    let a = backend_id(d, "volume.a");
    let a_file = d.join(format!("volumes/{a}.qcow2"));
    qemu_img(&["resize", a_file.to_str().unwrap(), "2G"]);
    assert_eq!(blockform(d, &["drift"]).code, 2);

    let written = blockform(d, &["drift", "--write-baseline"]);
    ok(&written);
    assert!(d.join(".blockform/drift-baseline.json").exists());
    let quiet = blockform(d, &["drift"]);
    assert_eq!(quiet.code, 0, "{}", quiet.stdout);
    assert!(
        quiet.stdout.contains("(1 known, silenced by the baseline)"),
        "{}",
        quiet.stdout
    );
    assert_eq!(blockform(d, &["drift", "--no-baseline"]).code, 2);

    // A new change: the same attribute moving again, and a new unmanaged file.
    qemu_img(&["resize", a_file.to_str().unwrap(), "4G"]);
    let stray = d.join("volumes/volume-new.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", stray.to_str().unwrap(), "1G"]);
    let (code, report) = drift_json(d, &[]);
    assert_eq!(code, 2);
    assert_eq!(
        report["changed"][0]["attributes"][0]["real"].as_f64(),
        Some(4.0),
        "{report:#}"
    );
    assert_eq!(report["unmanaged"][0]["id"], "dev/volume-new.qcow2");
    assert_eq!(report["summary"]["silenced"], 0);

    let broken = d.join("broken.json");
    std::fs::write(&broken, "not json").unwrap();
    let failed = blockform(d, &["drift", "--baseline", broken.to_str().unwrap()]);
    assert_eq!(failed.code, 1);
    assert!(failed.stderr.contains("is not a drift baseline"), "{}", failed.stderr);
}

#[test]
fn an_imported_volume_and_snapshot_plan_no_changes() {
    let dir = applied();
    let d = dir.path();
    let a = backend_id(d, "volume.a");
    let snapshot = backend_id(d, "snapshot.s");
    // Forget both objects, as if they had been made by hand: drift lists them as unmanaged.
    ok(&blockform(d, &["state", "rm", "snapshot.s", "volume.a"]));
    let (code, report) = drift_json(d, &[]);
    assert_eq!(code, 2);
    let ids: Vec<&str> = report["unmanaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    let volume_id = format!("dev/{a}.qcow2");
    let snapshot_id = format!("dev/{a}.qcow2@{snapshot}");
    assert_eq!(
        ids,
        [volume_id.as_str()],
        "a snapshot of an unmanaged volume is part of it"
    );

    // The ID the report printed is what import takes.
    let imported = blockform(d, &["import", "volume.a", &volume_id]);
    ok(&imported);
    assert!(imported.stdout.contains("Import successful!"), "{}", imported.stdout);
    let (_, report) = drift_json(d, &[]);
    assert_eq!(report["unmanaged"][0]["id"], snapshot_id.as_str());
    ok(&blockform(d, &["import", "snapshot.s", &snapshot_id]));
    let plan = blockform(d, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.code, 0,
        "importing then planning gives no changes:\n{}{}",
        plan.stdout, plan.stderr
    );
    let (code, _) = drift_json(d, &[]);
    assert_eq!(code, 0);

    // Mistakes are named.
    let again = blockform(d, &["import", "volume.a", &volume_id]);
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("`volume.a` is already managed"),
        "{}",
        again.stderr
    );
    ok(&blockform(d, &["state", "rm", "volume.b"]));
    for (id, expected) in [
        ("volume-x", "is not an import ID"),
        ("nas/volume-x.qcow2", "no provider block is named `nas`"),
        ("dev/volume-none.qcow2", "provider `dev` has no volume `volume-none`"),
        ("dev/../etc.qcow2", "dev/../etc.qcow2"),
    ] {
        let failed = blockform(d, &["import", "volume.b", id]);
        assert_eq!(failed.code, 1, "{id}");
        assert!(failed.stderr.contains(expected), "{id}: {}", failed.stderr);
    }
    let undeclared = blockform(d, &["import", "volume.zzz", &volume_id]);
    assert_eq!(undeclared.code, 1);
    assert!(
        undeclared.stderr.contains("`volume.zzz` is not in the configuration"),
        "{}",
        undeclared.stderr
    );
}

#[test]
fn import_refuses_an_id_of_another_kind_and_kinds_that_are_only_records() {
    let dir = applied();
    let d = dir.path();
    let a = backend_id(d, "volume.a");
    let b = backend_id(d, "volume.b");
    let snapshot = backend_id(d, "snapshot.s");
    ok(&blockform(
        d,
        &["state", "rm", "snapshot.s", "volume.b", "volume_type.standard"],
    ));
    for (address, id, expected) in [
        (
            "snapshot.s",
            format!("dev/{b}.qcow2"),
            "names a volume; a snapshot's ID is PROVIDER/VOLUME@SNAPSHOT",
        ),
        (
            "volume.b",
            format!("dev/{a}.qcow2@{snapshot}"),
            "names a snapshot; import it as a `snapshot` resource",
        ),
        (
            "volume_type.standard",
            format!("dev/{b}.qcow2"),
            "only volumes, snapshots and backups can be imported; `volume_type` resources are blockform's own records",
        ),
    ] {
        let failed = blockform(d, &["import", address, &id]);
        assert_eq!(failed.code, 1, "{address} {id}: {}", failed.stdout);
        assert!(failed.stderr.contains(expected), "{address} {id}: {}", failed.stderr);
    }
}

#[test]
fn import_blocks_adopt_on_apply_and_generate_missing_configuration() {
    let dir = applied();
    let d = dir.path();
    let stray = d.join("volumes/volume-found.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", stray.to_str().unwrap(), "2G"]);
    std::fs::write(
        d.join("imports.hcl"),
        "import {\n  to = volume.found\n  id = \"dev/volume-found.qcow2\"\n}\n",
    )
    .unwrap();
    // Without a resource block the import is an error that says how to get one.
    let plan = blockform(d, &["plan"]);
    assert_eq!(plan.code, 1);
    assert!(plan.stderr.contains("--generate-config-out"), "{}", plan.stderr);

    let generated = blockform(d, &["plan", "--generate-config-out=generated.hcl"]);
    ok(&generated);
    let text = std::fs::read_to_string(d.join("generated.hcl")).unwrap();
    assert!(text.contains("resource \"volume\" \"found\" {"), "{text}");
    assert!(text.contains("type = volume_type.standard.id"), "{text}");
    assert!(text.contains("size = 2"), "{text}");
    assert!(
        generated.stdout.contains("# volume.found will be imported"),
        "{}",
        generated.stdout
    );
    assert!(
        generated.stdout.contains("Plan: 1 to import, 0 to add"),
        "{}",
        generated.stdout
    );
    let again = blockform(d, &["plan", "--generate-config-out=generated.hcl"]);
    assert_eq!(again.code, 0, "nothing left to generate: {}", again.stderr);

    let json = blockform(d, &["plan", "--json"]);
    ok(&json);
    let document: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let entry = document["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "volume.found")
        .unwrap();
    assert_eq!(entry["change"]["importing"]["id"], "dev/volume-found.qcow2");

    let applied = blockform(d, &["apply", "--auto-approve"]);
    ok(&applied);
    assert!(
        applied.stdout.contains("Resources: 1 imported, 0 added"),
        "{}",
        applied.stdout
    );
    assert_eq!(backend_id(d, "volume.found"), "volume-found");
    let plan = blockform(d, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert!(stray.exists());
}

#[test]
fn a_plan_stopped_by_a_storage_rule_shows_the_drift_that_caused_it() {
    let dir = applied();
    let d = dir.path();
    let a = backend_id(d, "volume.a");
    qemu_img(&["resize", d.join(format!("volumes/{a}.qcow2")).to_str().unwrap(), "2G"]);
    let plan = blockform(d, &["plan"]);
    assert_eq!(plan.code, 1);
    assert!(plan.stdout.contains("# volume.a has changed"), "{}", plan.stdout);
    assert!(plan.stdout.contains("~ size = 1 -> 2"), "{}", plan.stdout);
    assert!(
        plan.stderr.contains("`volume.a` cannot shrink from 2 GiB to 1 GiB"),
        "{}",
        plan.stderr
    );
}

#[test]
fn a_cycle_between_operations_names_every_member_at_its_block() {
    let config = r#"
provider "local" "dev" {
  path = "./volumes"
}

resource "volume_type" "standard" {
  backend = "dev"
}

resource "volume" "base" {
  type = volume_type.standard.id
  size = 1
}

resource "snapshot" "s" {
  volume = volume.base.id
}

resource "volume" "copy" {
  type   = volume_type.standard.id
  size   = 1
  source = { snapshot = snapshot.s.id }

  lifecycle {
    create_before_destroy = true
  }
}
"#;
    let dir = project(&[("main.hcl", config)]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    // The copy must exist before its old self goes, but its old self must go before the
    // snapshot it came from, which goes before the base is replaced: no order works.
    let plan = blockform(d, &["plan", "--replace", "volume.base", "--replace", "volume.copy"]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("operations form a cycle"), "{}", plan.stderr);
    for member in ["volume.base", "snapshot.s", "volume.copy"] {
        assert!(
            plan.stderr.contains(&format!("{member} is part of the cycle")),
            "{member}: {}",
            plan.stderr
        );
    }
    assert!(
        plan.stderr.contains("main.hcl:"),
        "the report points at the file: {}",
        plan.stderr
    );
    assert!(plan.stderr.contains("create_before_destroy"), "{}", plan.stderr);
    assert!(plan.stderr.contains("nothing was changed"), "{}", plan.stderr);
}
