//! The trust scenarios of `test_trust` against a real Ceph cluster: a retype from local qcow2
//! files to RBD deletes the old file, snapshots and clones made with `rbd` on a managed image
//! block its delete, a volume made from a snapshot survives the snapshot being made again,
//! dependents of an image made again get its new id, and `drift` agrees with refresh-only.
//! Each test works in an RBD namespace of its own (so `drift` sees only its images) and removes
//! it at the end. Ignored under plain `cargo test`; `tests/run` runs them with the cluster.

use std::process::Command;

use crate::common::{backend_id, blockform, blockform_env, ok, project};
use crate::test_trust::assert_converged;

/// A namespace of the test pool for one test; its images and the namespace go on drop.
struct Namespace {
    conf: String,
    keyring: String,
    pool: String,
    name: String,
}

impl Namespace {
    fn new(test: &str) -> Namespace {
        let namespace = Namespace {
            conf: std::env::var("BLOCKFORM_TEST_CEPH_CONF").expect("BLOCKFORM_TEST_CEPH_CONF names the test cluster"),
            keyring: std::env::var("BLOCKFORM_TEST_CEPH_KEYRING").expect("BLOCKFORM_TEST_CEPH_KEYRING is set"),
            pool: std::env::var("BLOCKFORM_TEST_CEPH_POOL").unwrap_or_else(|_| "rbd".to_owned()),
            name: format!("trust-{test}-{}", std::process::id()),
        };
        namespace.purge();
        let (status, _, stderr) = namespace.rbd(&[
            "namespace",
            "create",
            "--pool",
            &namespace.pool,
            "--namespace",
            &namespace.name,
        ]);
        assert_eq!(status, 0, "rbd namespace create: {stderr}");
        namespace
    }

    fn rbd(&self, args: &[&str]) -> (i32, String, String) {
        let output = Command::new("rbd")
            .args(["--conf", &self.conf, "--keyring", &self.keyring, "--id", "admin"])
            .args(args)
            .output()
            .expect("rbd runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn must(&self, args: &[&str]) -> String {
        let (status, stdout, stderr) = self.rbd(args);
        assert_eq!(status, 0, "rbd {args:?}: {stderr}");
        stdout
    }

    /// `POOL/NAMESPACE`, or `POOL/NAMESPACE/IMAGE` with an image.
    fn spec(&self, image: &str) -> String {
        if image.is_empty() {
            format!("{}/{}", self.pool, self.name)
        } else {
            format!("{}/{}/{image}", self.pool, self.name)
        }
    }

    fn images(&self) -> Vec<String> {
        let mut images: Vec<String> = self.rbd(&["ls", &self.spec("")]).1.lines().map(str::to_owned).collect();
        images.sort();
        images
    }

    fn snapshots(&self, image: &str) -> String {
        self.must(&["snap", "ls", &self.spec(image)])
    }

    fn provider_block(&self) -> String {
        format!(
            "provider \"ceph\" \"ssd\" {{\n  pool      = \"{}\"\n  namespace = \"{}\"\n  conf      = \"{}\"\n  user      = \"admin\"\n  keyring   = \"{}\"\n}}\n\nresource \"volume_type\" \"ssd\" {{\n  backend = \"ssd\"\n}}\n",
            self.pool, self.name, self.conf, self.keyring
        )
    }

    /// Removes every image (children first, snapshots unprotected) and the namespace.
    fn purge(&self) {
        for _ in 0..3 {
            for image in self.images() {
                let spec = self.spec(&image);
                let (_, snaps, _) = self.rbd(&["snap", "ls", &spec, "--format", "json"]);
                let snaps: serde_json::Value = serde_json::from_str(&snaps).unwrap_or_default();
                for snap in snaps.as_array().into_iter().flatten() {
                    if let Some(name) = snap["name"].as_str() {
                        let _ = self.rbd(&["snap", "unprotect", &format!("{spec}@{name}")]);
                    }
                }
                let _ = self.rbd(&["snap", "purge", &spec]);
                let _ = self.rbd(&["rm", &spec]);
            }
        }
        let _ = self.rbd(&["namespace", "remove", "--pool", &self.pool, "--namespace", &self.name]);
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        self.purge();
    }
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_a_retype_from_local_files_to_rbd_deletes_the_old_file() {
    let ns = Namespace::new("retype");
    let local = "provider \"local\" \"dev\" {\n  path = \"./dev\"\n}\n\nresource \"volume_type\" \"local\" {\n  backend = \"dev\"\n}\n";
    let volume = |ty: &str| format!("\nresource \"volume\" \"db\" {{\n  type = volume_type.{ty}.id\n  size = 1\n}}\n");
    let base = format!("{}{local}", ns.provider_block());
    let dir = project(&[("main.hcl", &format!("{base}{}", volume("local")))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let old = backend_id(d, "volume.db");
    assert!(d.join(format!("dev/{old}.qcow2")).exists());

    std::fs::write(d.join("main.hcl"), format!("{base}{}", volume("ssd"))).unwrap();
    ok(&blockform(d, &["apply", "--auto-approve", "--allow-data-loss"]));
    let new = backend_id(d, "volume.db");
    assert_ne!(new, old);
    assert!(!d.join(format!("dev/{old}.qcow2")).exists(), "the old file is deleted");
    assert!(!d.join(format!("dev/{old}.json")).exists(), "with its sidecar");
    assert_eq!(ns.images(), [new]);

    // And back: the RBD image is deleted from the pool.
    std::fs::write(d.join("main.hcl"), format!("{base}{}", volume("local"))).unwrap();
    ok(&blockform(d, &["apply", "--auto-approve", "--allow-data-loss"]));
    assert_eq!(ns.images(), Vec::<String>::new(), "the image left the pool");
    assert_converged(d);
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_a_snapshot_and_clone_made_with_rbd_block_the_delete_of_their_image() {
    let ns = Namespace::new("foreign");
    let volume = "\nresource \"volume\" \"db\" {\n  type = volume_type.ssd.id\n  size = 1\n}\n";
    let dir = project(&[("main.hcl", &format!("{}{volume}", ns.provider_block()))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let image = backend_id(d, "volume.db");
    let snap = format!("{}@users-precious", ns.spec(&image));
    ns.must(&["snap", "create", &snap]);
    ns.must(&["snap", "protect", &snap]);
    ns.must(&["clone", &snap, &ns.spec("users-clone")]);

    let plan = blockform(d, &["plan", "--destroy"]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stderr
            .contains("`volume.db` has 1 snapshot not managed by blockform: users-precious"),
        "{}",
        plan.stderr
    );
    let destroy = blockform(d, &["destroy", "--auto-approve", "--allow-data-loss"]);
    assert_eq!(destroy.code, 1, "{}{}", destroy.stdout, destroy.stderr);
    assert!(ns.snapshots(&image).contains("users-precious"), "the snapshot is kept");
    let clone = ns.must(&["info", &ns.spec("users-clone"), "--format", "json"]);
    assert!(clone.contains("\"parent\""), "the clone is not flattened: {clone}");

    // Gone by hand: the destroy goes ahead and leaves what blockform never owned.
    ns.must(&["flatten", &ns.spec("users-clone")]);
    ns.must(&["snap", "unprotect", &snap]);
    ns.must(&["snap", "rm", &snap]);
    ok(&blockform(d, &["destroy", "--auto-approve", "--allow-data-loss"]));
    assert_eq!(ns.images(), ["users-clone"]);
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_a_volume_from_a_snapshot_is_kept_when_the_snapshot_is_made_again() {
    let ns = Namespace::new("resnap");
    let resources = "\nresource \"volume\" \"src\" {\n  type = volume_type.ssd.id\n  size = 1\n}\n\nresource \"snapshot\" \"s\" {\n  volume = volume.src.id\n}\n\nresource \"volume\" \"copy\" {\n  type   = volume_type.ssd.id\n  size   = 1\n  source = { snapshot = snapshot.s.id }\n}\n";
    let dir = project(&[("main.hcl", &format!("{}{resources}", ns.provider_block()))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let copy = backend_id(d, "volume.copy");
    let snapshot = backend_id(d, "snapshot.s");
    let src = backend_id(d, "volume.src");
    let snap = format!("{}@{snapshot}", ns.spec(&src));
    let _ = ns.rbd(&["snap", "unprotect", &snap]);
    ns.must(&["snap", "rm", &snap]);

    let plan = blockform(d, &["plan"]);
    assert!(!plan.stdout.contains("volume.copy"), "{}", plan.stdout);
    ok(&blockform(d, &["apply", "--auto-approve"]));
    assert_ne!(backend_id(d, "snapshot.s"), snapshot);
    assert_eq!(backend_id(d, "volume.copy"), copy);
    assert_converged(d);
    ok(&blockform(d, &["destroy", "--auto-approve", "--allow-data-loss"]));
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_dependents_of_an_image_made_again_get_its_new_id() {
    let ns = Namespace::new("remake");
    let src = "\nresource \"volume\" \"src\" {\n  type = volume_type.ssd.id\n  size = 1\n}\n";
    let dir = project(&[("main.hcl", &format!("{}{src}", ns.provider_block()))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let old = backend_id(d, "volume.src");
    ns.must(&["rm", &ns.spec(&old)]);
    let more = "\nresource \"snapshot\" \"s\" {\n  volume = volume.src.id\n}\n\nresource \"volume\" \"clone\" {\n  type   = volume_type.ssd.id\n  size   = 1\n  source = { volume = volume.src.id }\n}\n";
    std::fs::write(d.join("main.hcl"), format!("{}{src}{more}", ns.provider_block())).unwrap();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let new = backend_id(d, "volume.src");
    assert_ne!(new, old);
    assert!(ns.snapshots(&new).contains(&backend_id(d, "snapshot.s")));
    assert_converged(d);
    ok(&blockform(d, &["destroy", "--auto-approve", "--allow-data-loss"]));
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_drift_and_refresh_only_agree_on_a_snapshot_made_with_rbd() {
    let ns = Namespace::new("drift");
    let volume = "\nresource \"volume\" \"db\" {\n  type = volume_type.ssd.id\n  size = 1\n}\n";
    let dir = project(&[("main.hcl", &format!("{}{volume}", ns.provider_block()))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let image = backend_id(d, "volume.db");
    ns.must(&["snap", "create", &format!("{}@by-hand", ns.spec(&image))]);

    let drift = blockform(d, &["drift", "--json"]);
    assert_eq!(drift.code, 2, "{}{}", drift.stdout, drift.stderr);
    let report: serde_json::Value = serde_json::from_str(&drift.stdout).unwrap();
    assert_eq!(report["summary"]["changed"], 0, "{report:#}");
    assert_eq!(report["summary"]["unmanaged"], 1, "{report:#}");
    assert_eq!(report["unmanaged"][0]["kind"], "snapshot");
    let plan = blockform(d, &["plan", "--refresh-only", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    ok(&blockform(d, &["apply", "--refresh-only", "--auto-approve"]));
    assert_eq!(blockform(d, &["drift"]).code, 0);
    let plan = blockform(d, &["plan", "--refresh-only", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert_converged(d);
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_a_retype_records_the_new_type_in_the_image_meta() {
    let ns = Namespace::new("retype-meta");
    let config = |ty: &str| {
        format!(
            "{}\nresource \"volume_type\" \"gold\" {{\n  name    = \"gold\"\n  backend = \"ssd\"\n}}\n\nresource \"volume\" \"db\" {{\n  type = volume_type.{ty}.id\n  size = 1\n}}\n",
            ns.provider_block()
        )
    };
    let dir = project(&[("main.hcl", &config("ssd"))]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let image = backend_id(d, "volume.db");
    let record = || -> serde_json::Value {
        let text = ns.must(&["image-meta", "get", &ns.spec(&image), "blockform"]);
        serde_json::from_str(text.trim()).unwrap()
    };
    assert_eq!(record()["volume_type"], "ssd");
    std::fs::write(d.join("main.hcl"), config("gold")).unwrap();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    assert_eq!(record()["volume_type"], "gold");
    assert_converged(d);
    ok(&blockform(d, &["destroy", "--auto-approve", "--allow-data-loss"]));
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_a_backup_killed_after_its_marker_leaves_no_marker_behind() {
    let ns = Namespace::new("marker");
    let config = format!(
        "{}\nbackup_store \"dir\" \"nas\" {{\n  path = \"./backups\"\n}}\n\nresource \"volume\" \"db\" {{\n  type = volume_type.ssd.id\n  size = 1\n}}\n",
        ns.provider_block()
    );
    let backup = "\nresource \"backup\" \"b\" {\n  volume = volume.db.id\n  store  = \"nas\"\n}\n";
    let dir = project(&[("main.hcl", &config)]);
    let d = dir.path();
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let image = backend_id(d, "volume.db");
    std::fs::write(d.join("main.hcl"), format!("{config}{backup}")).unwrap();
    let killed = blockform_env(
        d,
        &["apply", "--auto-approve"],
        &[("BLOCKFORM_CEPH_FAULT", "abort-after:marker")],
    );
    assert_eq!(killed.code, -1, "the run stops:\n{}{}", killed.stdout, killed.stderr);
    assert!(
        ns.snapshots(&image).contains("blockform-"),
        "the marker of the backup that never finished is there"
    );
    // The next run removes it, then takes the backup (with a marker of its own).
    let plan = blockform(d, &["plan"]);
    ok(&plan);
    assert!(!ns.snapshots(&image).contains("blockform-"), "{}", ns.snapshots(&image));
    ok(&blockform(d, &["apply", "--auto-approve"]));
    let marker = format!("blockform-{}", backend_id(d, "backup.b"));
    let snapshots = ns.snapshots(&image);
    assert_eq!(snapshots.matches("blockform-").count(), 1, "{snapshots}");
    assert!(snapshots.contains(&marker), "{snapshots}");
    assert_converged(d);
    ok(&blockform(d, &["destroy", "--auto-approve", "--allow-data-loss"]));
}
