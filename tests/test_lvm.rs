//! The `blockform` binary against a real LVM host (a TCG guest with device-mapper LVM, reached
//! over ssh): the example applies, a plan after it has nothing to do, changes made with lvm
//! commands behind blockform's back show in `drift`, `import` adopts an LV made with
//! `lvcreate`, and destroy removes every LV. The host comes from `BLOCKFORM_TEST_LVM_HOST`,
//! `_PORT`, `_IDENTITY_FILE` and `_KNOWN_HOSTS`, which `tests/run` exports after booting it;
//! under plain `cargo test` these tests are ignored. They are named `lvm_*` for `tests/run`'s
//! second pass.

use std::process::Command;

use crate::common::{backend_id, blockform, ok, project, root};

/// The test host's connection, from the environment `tests/run` sets.
struct Host {
    host: String,
    port: String,
    identity_file: String,
    known_hosts: String,
}

fn host() -> Host {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set; tests/run boots an LVM host and sets it"))
    };
    Host {
        host: var("BLOCKFORM_TEST_LVM_HOST"),
        port: var("BLOCKFORM_TEST_LVM_PORT"),
        identity_file: var("BLOCKFORM_TEST_LVM_IDENTITY_FILE"),
        known_hosts: var("BLOCKFORM_TEST_LVM_KNOWN_HOSTS"),
    }
}

impl Host {
    /// The `-var` arguments that point `examples/lvm` at the host.
    fn vars(&self) -> Vec<String> {
        [
            ("host", &self.host),
            ("port", &self.port),
            ("identity_file", &self.identity_file),
            ("known_hosts", &self.known_hosts),
        ]
        .into_iter()
        .flat_map(|(name, value)| ["-var".to_owned(), format!("{name}={value}")])
        .collect()
    }

    /// Runs a command on the host with the real ssh client; returns its exit status and stdout.
    fn run(&self, words: &[&str]) -> (i32, String) {
        let output = Command::new("ssh")
            .args(["-p", &self.port, "-i", &self.identity_file, "-o", "BatchMode=yes"])
            .args(["-o", &format!("UserKnownHostsFile={}", self.known_hosts)])
            .arg(format!("root@{}", self.host))
            .arg("--")
            .arg(words.join(" "))
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }
}

/// Removes the LVs of volumes (and their snapshots) when dropped, so a failing test leaves
/// nothing behind for the next one to find.
struct Cleanup<'a>(&'a Host, Vec<String>);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for lv in &self.1 {
            let _ = self
                .0
                .run(&["lvremove", "-q", "-y", "-S", &format!("origin={lv}"), "vg0"]);
            let _ = self.0.run(&["lvremove", "-q", "-y", &format!("vg0/{lv}")]);
        }
    }
}

fn with_vars<'a>(args: &[&'a str], vars: &'a [String]) -> Vec<&'a str> {
    args.iter().copied().chain(vars.iter().map(String::as_str)).collect()
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_the_example_applies_plans_nothing_shows_drift_and_destroys() {
    let host = host();
    let vars = host.vars();
    let example = std::fs::read_to_string(root().join("examples/lvm/main.hcl")).unwrap();
    let dir = project(&[("main.hcl", &example)]);
    let d = dir.path();
    ok(&blockform(d, &with_vars(&["apply", "--auto-approve"], &vars)));
    let db = backend_id(d, "volume.db");
    let copy = backend_id(d, "volume.db_copy");
    let _cleanup = Cleanup(&host, vec![copy.clone(), db.clone()]);
    let (status, listed) = host.run(&[
        "lvs",
        "--noheadings",
        "-o",
        "lv_name,lv_size,pool_lv",
        "--units",
        "g",
        "vg0",
    ]);
    assert_eq!(status, 0);
    assert!(listed.contains(&db) && listed.contains(&copy), "{listed}");

    let planned = blockform(d, &with_vars(&["plan"], &vars));
    ok(&planned);
    assert!(planned.stdout.contains("No changes."), "{}", planned.stdout);

    // Changes made with lvm commands, as an operator would on the host.
    assert_eq!(
        host.run(&["lvchange", "--addtag", "by-hand", &format!("vg0/{db}")]).0,
        0
    );
    assert_eq!(host.run(&["lvresize", "-q", "-L", "3g", &format!("vg0/{copy}")]).0, 0);
    let drift = blockform(d, &with_vars(&["drift"], &vars));
    assert!(drift.stdout.contains("~ volume.db (host1,"), "{}", drift.stdout);
    assert!(
        drift.stdout.contains(r#"tags: ["db"] -> ["db","by-hand"]"#),
        "{}",
        drift.stdout
    );
    assert!(drift.stdout.contains("~ volume.db_copy (host1,"), "{}", drift.stdout);
    assert!(
        drift.stdout.contains("size: 2 -> 3 (configuration: 2)"),
        "{}",
        drift.stdout
    );

    let destroyed = blockform(
        d,
        &with_vars(&["destroy", "--auto-approve", "--allow-data-loss"], &vars),
    );
    ok(&destroyed);
    let (_, listed) = host.run(&["lvs", "--noheadings", "-o", "lv_name", "vg0"]);
    assert!(!listed.contains(&db) && !listed.contains(&copy), "{listed}");
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_import_adopts_an_lv_made_with_lvcreate() {
    let host = host();
    let vars = host.vars();
    let legacy = format!("legacy-{}", uuid::Uuid::new_v4());
    let (status, _) = host.run(&["lvcreate", "-q", "-V", "1g", "--thinpool", "vg0/pool", "-n", &legacy]);
    assert_eq!(status, 0);
    let _cleanup = Cleanup(&host, vec![legacy.clone()]);
    let example = std::fs::read_to_string(root().join("examples/lvm/main.hcl")).unwrap();
    let config = format!(
        "{}\nresource \"volume\" \"legacy\" {{\n  type = volume_type.thin.id\n  size = 1\n}}\n",
        example.split("resource \"volume\" \"db\"").next().unwrap()
    );
    let dir = project(&[("main.hcl", &config)]);
    let d = dir.path();
    ok(&blockform(
        d,
        &with_vars(&["apply", "--auto-approve", "-target", "volume_type.thin"], &vars),
    ));
    let imported = blockform(
        d,
        &with_vars(&["import", "volume.legacy", &format!("host1/vg0/{legacy}")], &vars),
    );
    ok(&imported);
    assert_eq!(backend_id(d, "volume.legacy"), legacy);
    let missing = blockform(
        d,
        &with_vars(&["import", "volume.legacy", "host1/vg0/no-such-lv"], &vars),
    );
    assert_ne!(missing.code, 0);
}
