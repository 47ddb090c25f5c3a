//! The `blockform` binary against a real Ceph cluster: apply, a plan with nothing to do,
//! growth, changes made with `rbd` behind blockform's back, destroy, and the failures a person
//! sees when the pool is too small or the cluster does not answer. The cluster comes from
//! `BLOCKFORM_TEST_CEPH_CONF` and `BLOCKFORM_TEST_CEPH_KEYRING`, which `tests/run` exports
//! after booting one; under plain `cargo test` these tests are ignored. They came with the
//! Ceph provider (issue 6) and are named `ceph_*` for `tests/run`'s second pass.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{blockform, project};

/// The test cluster, seen through an RBD namespace of the pool that is this test's alone: tests
/// run at once, each with a state of its own, and must not see each other's volumes (a fresh
/// state finding volumes blockform made under the names it plans would take them for its own
/// lost ones). The namespace and what is left in it go when the test ends.
struct Cluster {
    conf: String,
    keyring: String,
    pool: String,
    namespace: String,
}

fn cluster() -> Cluster {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let cluster = Cluster {
        conf: std::env::var("BLOCKFORM_TEST_CEPH_CONF").expect(
            "BLOCKFORM_TEST_CEPH_CONF names the test cluster's ceph.conf; tests/run boots a cluster and sets it",
        ),
        keyring: std::env::var("BLOCKFORM_TEST_CEPH_KEYRING")
            .expect("BLOCKFORM_TEST_CEPH_KEYRING is set with the conf"),
        pool: std::env::var("BLOCKFORM_TEST_CEPH_POOL").unwrap_or_else(|_| "rbd".to_owned()),
        namespace: format!(
            "cli-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ),
    };
    let (status, _) = cluster.rbd(&[
        "namespace",
        "create",
        &format!("{}/{}", cluster.pool, cluster.namespace),
    ]);
    assert_eq!(status, 0, "rbd namespace create");
    cluster
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let within = format!("{}/{}", self.pool, self.namespace);
        let (_, listed) = self.rbd(&["ls", &within]);
        for image in listed.lines() {
            let spec = self.image(image);
            let (_, snapshots) = self.rbd(&["snap", "ls", &spec, "--format", "json"]);
            let snapshots: serde_json::Value = serde_json::from_str(&snapshots).unwrap_or_default();
            for snapshot in snapshots.as_array().into_iter().flatten() {
                if let Some(name) = snapshot["name"].as_str() {
                    let _ = self.rbd(&["snap", "unprotect", &format!("{spec}@{name}")]);
                }
            }
            let _ = self.rbd(&["snap", "purge", "--no-progress", &spec]);
            let _ = self.rbd(&["rm", "--no-progress", &spec]);
        }
        let _ = self.rbd(&["namespace", "remove", &within]);
    }
}

impl Cluster {
    fn provider_block(&self, extra: &str) -> String {
        format!(
            "provider \"ceph\" \"ssd\" {{\n  pool      = \"{}\"\n  namespace = \"{}\"\n  conf      = \"{}\"\n  user      = \"admin\"\n  keyring   = \"{}\"\n{extra}}}\n",
            self.pool, self.namespace, self.conf, self.keyring
        )
    }

    /// Runs `rbd ARGS` with the test cluster's connection; returns the exit status and stdout.
    fn rbd(&self, args: &[&str]) -> (i32, String) {
        let output = Command::new("rbd")
            .args(["--conf", &self.conf, "--keyring", &self.keyring, "--id", "admin"])
            .args(args)
            .output()
            .expect("rbd runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }

    fn rbd_json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.extend(["--format", "json"]);
        let (status, stdout) = self.rbd(&args);
        assert_eq!(status, 0, "rbd {args:?}");
        serde_json::from_str(&stdout).unwrap()
    }

    fn image(&self, name: &str) -> String {
        format!("{}/{}/{name}", self.pool, self.namespace)
    }

    /// The provider `ssd` of [`Self::provider_block`], for tests that drive it directly.
    fn provider(&self) -> blockform_provider_ceph::CephProvider {
        let mut attributes = serde_json::Map::new();
        attributes.insert("pool".into(), self.pool.clone().into());
        attributes.insert("namespace".into(), self.namespace.clone().into());
        attributes.insert("conf".into(), self.conf.clone().into());
        attributes.insert("keyring".into(), self.keyring.clone().into());
        attributes.insert("user".into(), "admin".into());
        blockform_provider_ceph::CephProvider::from_config(&blockform_provider::ProviderConfig {
            kind: blockform_provider::ProviderKind::new(blockform_provider_ceph::KIND),
            name: "ssd".into(),
            attributes,
        })
        .unwrap()
    }
}

const RESOURCES: &str = r#"
resource "qos" "gold" {
  specs = {
    total_iops_sec     = var.iops
    total_iops_sec_max = 4000
  }
}

resource "volume_type" "ssd" {
  backend = "ssd"
  qos     = qos.gold.id
}

resource "volume" "db" {
  name        = "db-data"
  description = "primary database"
  type        = volume_type.ssd.id
  size        = var.db_size
  tags        = ["db", "prod"]
}

resource "snapshot" "before" {
  volume = volume.db.id
}

resource "volume" "copy" {
  type   = volume_type.ssd.id
  size   = 2
  source = { snapshot = snapshot.before.id }
}

variable "db_size" {
  type    = number
  default = 1
}

variable "iops" {
  type    = number
  default = 2000
}
"#;

/// The image-level `rbd_qos_*` settings of an image, as `rbd config image list` shows them.
fn qos_settings(cluster: &Cluster, volume: &str) -> Vec<(String, String)> {
    let settings = cluster.rbd_json(&["config", "image", "list", &cluster.image(volume)]);
    settings
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["source"] == "image")
        .map(|entry| {
            (
                entry["name"].as_str().unwrap().to_owned(),
                entry["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The `id` of a resource in state.
fn id_of(dir: &std::path::Path, address: &str) -> String {
    let run = blockform(dir, &["state", "show", address]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("id ")?.split('"').nth(1).map(str::to_owned))
        .unwrap_or_else(|| panic!("no id in {}", run.stdout))
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_apply_plan_extend_drift_and_destroy_through_the_cli() {
    let cluster = cluster();
    let config = format!("{}{RESOURCES}", cluster.provider_block(""));
    let dir = project(&[("main.hcl", &config)]);

    let run = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("Apply complete! Resources: 5 added, 0 changed, 0 destroyed."),
        "{}",
        run.stdout
    );
    let db = id_of(dir.path(), "volume.db");
    let copy = id_of(dir.path(), "volume.copy");
    let snapshot = id_of(dir.path(), "snapshot.before");

    // The images are there with their sizes, records and the type's back-end QoS.
    assert_eq!(cluster.rbd_json(&["info", &cluster.image(&db)])["size"], 1_u64 << 30);
    assert_eq!(cluster.rbd_json(&["info", &cluster.image(&copy)])["size"], 2_u64 << 30);
    let meta = cluster.rbd_json(&["image-meta", "list", &cluster.image(&db)]);
    let record: serde_json::Value = serde_json::from_str(meta["blockform"].as_str().unwrap()).unwrap();
    assert_eq!(record["managed_by"], "blockform");
    assert_eq!(record["name"], "db-data");
    assert_eq!(record["description"], "primary database");
    assert_eq!(record["tags"], serde_json::json!(["db", "prod"]));
    for volume in [&db, &copy] {
        assert_eq!(
            qos_settings(&cluster, volume),
            [
                ("rbd_qos_iops_burst".to_owned(), "4000".to_owned()),
                ("rbd_qos_iops_limit".to_owned(), "2000".to_owned())
            ],
            "{volume}"
        );
    }
    // The copy was flattened: it does not depend on the snapshot.
    assert!(
        cluster
            .rbd_json(&["info", &cluster.image(&copy)])
            .get("parent")
            .is_none()
    );

    let run = blockform(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("No changes."), "{}", run.stdout);

    // Growing the volume is an extend, done with rbd resize.
    let run = blockform(dir.path(), &["apply", "--auto-approve", "-var", "db_size=3"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("0 added, 1 changed, 0 destroyed"), "{}", run.stdout);
    assert_eq!(cluster.rbd_json(&["info", &cluster.image(&db)])["size"], 3_u64 << 30);

    // A changed rule reaches every volume of its types.
    let run = blockform(
        dir.path(),
        &["apply", "--auto-approve", "-var", "db_size=3", "-var", "iops=3000"],
    );
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("0 added, 1 changed, 0 destroyed"), "{}", run.stdout);
    for volume in [&db, &copy] {
        assert_eq!(
            qos_settings(&cluster, volume),
            [
                ("rbd_qos_iops_burst".to_owned(), "4000".to_owned()),
                ("rbd_qos_iops_limit".to_owned(), "3000".to_owned())
            ],
            "{volume}"
        );
    }

    // A snapshot removed and a volume grown with rbd are seen by the next plan.
    let (status, _) = cluster.rbd(&[
        "snap",
        "rm",
        "--no-progress",
        &format!("{}@{snapshot}", cluster.image(&db)),
    ]);
    assert_eq!(status, 0);
    let (status, _) = cluster.rbd(&["resize", "--no-progress", "--size", "4G", &cluster.image(&db)]);
    assert_eq!(status, 0);
    let run = blockform(
        dir.path(),
        &["plan", "--detailed-exitcode", "-var", "db_size=4", "-var", "iops=3000"],
    );
    assert_eq!(run.code, 2, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("# snapshot.before has been deleted"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("# volume.db has changed"), "{}", run.stdout);
    assert!(run.stdout.contains("~ size"), "{}", run.stdout);
    assert!(
        run.stdout.contains("# snapshot.before will be created"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "{}",
        run.stdout
    );

    // Putting the snapshot back under its name leaves only the size drift, which the
    // configuration now asks for: nothing to do.
    let (status, _) = cluster.rbd(&[
        "snap",
        "create",
        "--no-progress",
        &format!("{}@{snapshot}", cluster.image(&db)),
    ]);
    assert_eq!(status, 0);
    let run = blockform(
        dir.path(),
        &["plan", "--detailed-exitcode", "-var", "db_size=4", "-var", "iops=3000"],
    );
    assert!(run.stdout.contains("No changes."), "{}", run.stdout);

    let run = blockform(
        dir.path(),
        &[
            "destroy",
            "--auto-approve",
            "--allow-data-loss",
            "-var",
            "db_size=4",
            "-var",
            "iops=3000",
        ],
    );
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    for volume in [&db, &copy] {
        let (status, _) = cluster.rbd(&["info", &cluster.image(volume)]);
        assert_eq!(status, 2, "{volume} still exists");
    }
    let run = blockform(dir.path(), &["state", "list"]);
    assert_eq!(run.stdout, "");
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_plan_refuses_a_volume_larger_than_the_pool() {
    let cluster = cluster();
    let config = format!(
        "{}{}",
        cluster.provider_block("  capacity_check = \"error\"\n"),
        r#"
resource "volume_type" "ssd" {
  backend = "ssd"
}

resource "volume" "huge" {
  type = volume_type.ssd.id
  size = 60000
}
"#
    );
    let dir = project(&[("main.hcl", &config)]);
    let run = blockform(dir.path(), &["plan", "-no-color"]);
    assert_eq!(run.code, 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("the plan adds 60000.0 GiB of volumes to provider `ssd`, which has"),
        "{}",
        run.stderr
    );
    let run = blockform(dir.path(), &["apply", "--auto-approve", "-no-color"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let run = blockform(dir.path(), &["state", "list"]);
    assert_eq!(run.stdout, "");
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_a_cluster_that_does_not_answer_or_a_wrong_conf_fail_the_plan_quickly() {
    let cluster = cluster();
    let resources = r#"
resource "volume_type" "ssd" {
  backend = "ssd"
}

resource "volume" "db" {
  type = volume_type.ssd.id
  size = 1
}
"#;
    // The test cluster's configuration with its monitors moved to ports nothing listens on.
    let text = std::fs::read_to_string(&cluster.conf).unwrap();
    let closed: String = text
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("mon_host") {
                "mon_host = [v2:127.0.0.1:1,v1:127.0.0.1:2]\n".to_owned()
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let block = format!(
        "provider \"ceph\" \"ssd\" {{\n  pool = \"{}\"\n  conf = \"closed.conf\"\n  keyring = \"{}\"\n  connect_timeout = \"3s\"\n}}\n",
        cluster.pool, cluster.keyring
    );
    let dir = project(&[("main.hcl", &format!("{block}{resources}")), ("closed.conf", &closed)]);
    let started = Instant::now();
    let run = blockform(dir.path(), &["plan", "-no-color"]);
    let elapsed = started.elapsed();
    assert_eq!(run.code, 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
    // The first read of the cluster fails (the listing of what the provider holds).
    assert!(
        run.stderr
            .contains("provider `ssd`: temporary failure: ceph provider `ssd` (pool `"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the cluster did not answer within 3s"),
        "{}",
        run.stderr
    );

    let block = format!(
        "provider \"ceph\" \"ssd\" {{\n  pool = \"{}\"\n  conf = \"missing.conf\"\n}}\n",
        cluster.pool
    );
    let dir = project(&[("main.hcl", &format!("{block}{resources}"))]);
    let run = blockform(dir.path(), &["plan", "-no-color"]);
    assert_eq!(run.code, 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    // Found before the cluster is asked, at the line that names the file.
    assert!(
        run.stderr
            .contains("`conf` of provider `ssd` is invalid: the file `./missing.conf` does not exist")
            && run.stderr.contains("main.hcl:3:10"),
        "{}",
        run.stderr
    );
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_qos_changed_with_rbd_is_drift_and_apply_sets_it_again() {
    let cluster = cluster();
    let config = format!(
        "{}{}",
        cluster.provider_block(""),
        r#"
resource "qos" "gold" {
  specs = {
    total_iops_sec = 2000
  }
}

resource "volume_type" "ssd" {
  backend = "ssd"
  qos     = qos.gold.id
}

resource "volume" "db" {
  type = volume_type.ssd.id
  size = 1
}
"#
    );
    let dir = project(&[("main.hcl", &config)]);
    let run = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let db = id_of(dir.path(), "volume.db");
    let (status, _) = cluster.rbd(&[
        "config",
        "image",
        "set",
        &cluster.image(&db),
        "rbd_qos_iops_limit",
        "50",
    ]);
    assert_eq!(status, 0);

    let run = blockform(dir.path(), &["plan", "--detailed-exitcode", "-no-color"]);
    assert_eq!(run.code, 2, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("# volume.db has changed"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("+ qos  = {\n          + total_iops_sec = 50\n        }"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("# Note: its back-end QoS limits differ from its type's rule; they are set again"),
        "{}",
        run.stdout
    );
    // The limits that are set again are known: the rule's.
    assert!(run.stdout.contains("~ total_iops_sec = 50 -> 2000"), "{}", run.stdout);
    assert!(!run.stdout.contains("(known after apply)"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{}",
        run.stdout
    );

    let run = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(
        qos_settings(&cluster, &db),
        [("rbd_qos_iops_limit".to_owned(), "2000".to_owned())]
    );
    let run = blockform(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);

    let run = blockform(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_import_adopts_an_image_made_with_rbd() {
    let cluster = cluster();
    let image = format!("legacy-{}", std::process::id());
    let (status, _) = cluster.rbd(&["create", "--no-progress", "--size", "2G", &cluster.image(&image)]);
    assert_eq!(status, 0);
    let resources = format!(
        r#"
resource "volume_type" "ssd" {{
  backend = "ssd"
}}

resource "volume" "legacy" {{
  name = "{image}"
  type = volume_type.ssd.id
  size = 2
}}
"#
    );
    let config = format!("{}{resources}", cluster.provider_block(""));
    let dir = project(&[("main.hcl", &config)]);
    // The type first, then the image is adopted with its real attributes: nothing to do.
    let run = blockform(dir.path(), &["apply", "--auto-approve", "-target", "volume_type.ssd"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let run = blockform(dir.path(), &["import", "volume.legacy", &format!("ssd/{image}")]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Import successful!"), "{}", run.stdout);
    let run = blockform(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let run = blockform(dir.path(), &["import", "volume.legacy", "ssd/no-such-image"]);
    assert_eq!(run.code, 1);

    let run = blockform(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let (status, _) = cluster.rbd(&["info", &cluster.image(&image)]);
    assert_eq!(status, 2, "the adopted image is deleted with the rest");
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_drift_reports_changes_made_with_rbd_and_refresh_only_records_them() {
    let cluster = cluster();
    let config = format!("{}{RESOURCES}", cluster.provider_block(""));
    let dir = project(&[("main.hcl", &config)]);
    let d = dir.path();
    let run = blockform(d, &["apply", "--auto-approve"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    // The pool is shared with the other tests running at the same time: their images are
    // unmanaged here, so only this state's objects are checked.
    let in_sync = |report: &serde_json::Value| {
        report["changed"].as_array().is_some_and(Vec::is_empty)
            && report["missing"].as_array().is_some_and(Vec::is_empty)
    };
    let run = blockform(d, &["drift", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(in_sync(&report), "in sync after apply: {report:#}");

    let db = id_of(d, "volume.db");
    let snapshot = id_of(d, "snapshot.before");
    let stray = format!("volume-stray-{}", std::process::id());
    // Behind blockform's back: grow the volume, drop its snapshot, change its limits, and
    // make an image of its own in the pool.
    let _ = cluster.rbd(&["snap", "unprotect", &format!("{}@{snapshot}", cluster.image(&db))]);
    for args in [
        vec!["resize", "--no-progress", "--size", "2G", &cluster.image(&db)],
        vec![
            "snap",
            "rm",
            "--no-progress",
            &format!("{}@{snapshot}", cluster.image(&db)),
        ],
        vec![
            "config",
            "image",
            "set",
            &cluster.image(&db),
            "rbd_qos_iops_limit",
            "100",
        ],
        vec!["create", "--size", "1G", &cluster.image(&stray)],
    ] {
        let (status, _) = cluster.rbd(&args);
        assert_eq!(status, 0, "rbd {args:?}");
    }

    let run = blockform(d, &["drift", "--json"]);
    let _ = cluster.rbd(&["rm", "--no-progress", &cluster.image(&stray)]);
    assert_eq!(run.code, 2, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let changed = report["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "volume.db")
        .unwrap_or_else(|| panic!("volume.db changed: {report:#}"));
    let attribute = |name: &str| {
        changed["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("{name} drift: {changed:#}"))
            .clone()
    };
    assert_eq!(
        (attribute("size")["state"].as_f64(), attribute("size")["real"].as_f64()),
        (Some(1.0), Some(2.0))
    );
    // The deleted snapshot is reported once, as missing, not also as a change of its volume.
    assert!(
        changed["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["name"] != "snapshots" && a["name"] != "unmanaged_snapshots"),
        "{changed:#}"
    );
    assert_eq!(attribute("qos")["state"]["total_iops_sec"], 2000);
    assert_eq!(attribute("qos")["real"]["total_iops_sec"], 100);
    let missing: Vec<&str> = report["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["address"].as_str().unwrap())
        .collect();
    assert_eq!(missing, ["snapshot.before"]);
    let unmanaged: Vec<&str> = report["unmanaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert!(unmanaged.contains(&format!("ssd/{stray}").as_str()), "{report:#}");

    // Recorded as it is now, the state matches reality again.
    let run = blockform(d, &["apply", "--refresh-only", "--auto-approve"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let run = blockform(d, &["drift", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(in_sync(&report), "in sync after refresh-only: {report:#}");

    let run = blockform(d, &["destroy", "--auto-approve", "--allow-data-loss"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
}

/// Exports an image with the real `rbd export` and hashes it.
fn export_hash(cluster: &Cluster, dir: &std::path::Path, image: &str) -> blake3::Hash {
    let file = dir.join(format!("{image}.raw"));
    let (status, _) = cluster.rbd(&["export", "--no-progress", &cluster.image(image), file.to_str().unwrap()]);
    assert_eq!(status, 0, "rbd export {image}");
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(&file).unwrap()).unwrap();
    std::fs::remove_file(&file).unwrap();
    hasher.finalize()
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_full_and_incremental_backups_of_an_rbd_volume_restore_byte_exact() {
    use blockform_provider::StorageProvider;

    let cluster = cluster();
    let base = format!(
        "{}\nbackup_store \"dir\" \"nas\" {{\n  path = \"./backups\"\n}}\n\nresource \"volume_type\" \"ssd\" {{\n  backend = \"ssd\"\n}}\n\nresource \"volume\" \"db\" {{\n  type = volume_type.ssd.id\n  size = 1\n}}\n",
        cluster.provider_block("")
    );
    let full = "resource \"backup\" \"base\" {\n  volume = volume.db.id\n  store  = \"nas\"\n  mode   = \"full\"\n}\n";
    let incremental =
        "resource \"backup\" \"daily\" {\n  volume = volume.db.id\n  store  = \"nas\"\n  mode   = \"incremental\"\n}\n";
    let restores = "resource \"volume\" \"from_base\" {\n  type   = volume_type.ssd.id\n  size   = 1\n  source = { backup = backup.base.id }\n}\n\nresource \"volume\" \"from_daily\" {\n  type   = volume_type.ssd.id\n  size   = 1\n  source = { backup = backup.daily.id }\n}\n";
    let dir = project(&[("main.hcl", &base)]);
    let d = dir.path();
    let apply = |text: String| {
        std::fs::write(d.join("main.hcl"), text).unwrap();
        let run = blockform(d, &["apply", "--auto-approve"]);
        assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    };
    apply(base.clone());
    let db = id_of(d, "volume.db");

    // Data written into the image through the provider (rbd import-diff underneath).
    let provider = cluster.provider();
    let pattern = |seed: u64, length: usize| -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect()
    };
    let mut writer = provider.open_writer(&db).unwrap();
    writer.write_all_at(0, &pattern(1, 24 << 20)).unwrap();
    writer.write_all_at(600 << 20, &pattern(2, 8 << 20)).unwrap();
    writer.finish().unwrap();
    apply(format!("{base}\n{full}"));
    let at_full = export_hash(&cluster, d, &db);

    // Scattered changes, and a range zeroed after the full backup.
    let mut writer = provider.open_writer(&db).unwrap();
    for i in 0..40_u64 {
        writer
            .write_all_at(i * (25 << 20) + 4096, &pattern(100 + i, 64 << 10))
            .unwrap();
    }
    writer.write_zeroes(600 << 20, 1 << 20).unwrap();
    writer.finish().unwrap();
    apply(format!("{base}\n{full}\n{incremental}"));
    let at_daily = export_hash(&cluster, d, &db);
    assert_ne!(at_full, at_daily);
    // The backups' marker snapshot on the image is blockform's own: neither a change to the
    // volume's snapshots nor an unmanaged object.
    let (status, listed) = cluster.rbd(&["snap", "ls", &cluster.image(&db)]);
    assert_eq!(status, 0);
    assert!(listed.contains("blockform-"), "{listed}");
    let run = blockform(d, &["plan", "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let run = blockform(d, &["drift", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(report["changed"].as_array().unwrap().is_empty(), "{report:#}");
    assert!(!report["unmanaged"].to_string().contains(&db), "{report:#}");

    let list = blockform(d, &["backup", "list", "--json"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let listed: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let text = listed.to_string();
    assert!(text.contains("\"incremental\""), "{text}");
    assert!(
        text.contains("\"rbd_diff\""),
        "the incremental read only what rbd diff listed: {text}"
    );

    apply(format!("{base}\n{full}\n{incremental}\n{restores}"));
    assert_eq!(export_hash(&cluster, d, &id_of(d, "volume.from_base")), at_full);
    assert_eq!(export_hash(&cluster, d, &id_of(d, "volume.from_daily")), at_daily);

    let verify = blockform(d, &["backup", "verify", "--all"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    let run = blockform(d, &["destroy", "--auto-approve", "--allow-data-loss"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_a_backup_holds_the_volume_as_it_was_when_the_backup_started() {
    use blockform::backup::{Access, BackupMode, BackupRequest, DirStore, RestoreOptions, create_backup, restore};
    use blockform_provider::{GIB, ReadTarget, StorageProvider, VolumeProperties, VolumeSource, VolumeSpec};

    let cluster = cluster();
    let provider = cluster.provider();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (source, copy_full, copy_next) = (
        format!("volume-{suffix}"),
        format!("volume-{suffix}-full"),
        format!("volume-{suffix}-next"),
    );
    let create = |name: &str| {
        provider
            .create_volume(&VolumeSpec {
                backend_name: name.to_owned(),
                properties: VolumeProperties {
                    name: name.to_owned(),
                    ..VolumeProperties::default()
                },
                size_gib: 1,
                volume_type: "ssd".into(),
                extra_specs: std::collections::BTreeMap::new(),
                source: VolumeSource::Empty,
            })
            .unwrap();
    };
    let write = |name: &str, byte: u8| {
        let mut writer = provider.open_writer(name).unwrap();
        writer.write_all_at(GIB / 2, &vec![byte; 4 << 20]).unwrap();
        writer.finish().unwrap();
    };
    let read = |name: &str| {
        let mut reader = provider.open_reader(&ReadTarget::volume(name)).unwrap();
        let mut bytes = vec![0; 4 << 20];
        reader.read_exact_at(GIB / 2, &mut bytes).unwrap();
        bytes
    };
    create(&source);
    write(&source, 0xaa);

    let dir = crate::common::TempDir::new();
    let mut store = DirStore::open(&dir.path().join("store"), Access::Shared, true, true).unwrap();
    let request = |id: &'static str, mode| BackupRequest {
        id,
        volume_address: "volume.db",
        volume_backend_id: &source,
        mode,
        policy: None,
        now_unix_secs: 1,
    };
    // Someone writes to the volume once the backup has started (its first progress report
    // comes after the change marker is made and before any byte is read).
    let mut written = false;
    let mut write_once = |_: u64, _: u64| {
        if !written {
            write(&source, 0xbb);
            written = true;
        }
    };
    let full = create_backup(
        &mut store,
        &provider,
        &request("backup-full", BackupMode::Full),
        &mut write_once,
    )
    .unwrap();
    assert!(written);
    let mut quiet = |_: u64, _: u64| {};
    let next = create_backup(
        &mut store,
        &provider,
        &request("backup-next", BackupMode::Incremental),
        &mut quiet,
    )
    .unwrap();
    assert_eq!(next.mode, BackupMode::Incremental);
    assert_eq!(next.change_source, "rbd_diff");

    for (name, manifest) in [(&copy_full, &full), (&copy_next, &next)] {
        create(name);
        let writer = provider.open_writer(name).unwrap();
        restore(
            &mut store,
            manifest,
            writer,
            name,
            RestoreOptions { target_is_zeroed: true },
            &mut quiet,
        )
        .unwrap();
    }
    let (at_full, at_next) = (read(&copy_full), read(&copy_next));
    for name in [&source, &copy_full, &copy_next] {
        provider.delete_volume(name).unwrap();
    }
    assert!(
        at_full.iter().all(|&byte| byte == 0xaa),
        "the full backup holds the data from before the write made while it ran"
    );
    assert!(
        at_next.iter().all(|&byte| byte == 0xbb),
        "the next incremental holds that write"
    );
}
