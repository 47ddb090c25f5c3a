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
    address: String,
    port: String,
    identity_file: String,
    known_hosts: String,
}

fn host() -> Host {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set; tests/run boots an LVM host and sets it"))
    };
    Host {
        address: var("BLOCKFORM_TEST_LVM_HOST"),
        port: var("BLOCKFORM_TEST_LVM_PORT"),
        identity_file: var("BLOCKFORM_TEST_LVM_IDENTITY_FILE"),
        known_hosts: var("BLOCKFORM_TEST_LVM_KNOWN_HOSTS"),
    }
}

impl Host {
    /// The `-var` arguments that point `examples/lvm` at the host.
    fn vars(&self) -> Vec<String> {
        [
            ("host", &self.address),
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
            .arg(format!("root@{}", self.address))
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

/// `examples/lvm`, with volume names of its own: tests run at once on one volume group, and a
/// plan refuses to create a volume whose name another state's volume has.
fn example() -> String {
    let text = std::fs::read_to_string(root().join("examples/lvm/main.hcl")).unwrap();
    let unique = uuid::Uuid::new_v4().simple().to_string();
    text.replace("name        = \"db-data\"", &format!("name        = \"db-{unique}\""))
        .replace(
            "resource \"volume\" \"db_copy\" {\n",
            &format!("resource \"volume\" \"db_copy\" {{\n  name   = \"copy-{unique}\"\n"),
        )
}

fn with_vars<'a>(args: &[&'a str], vars: &'a [String]) -> Vec<&'a str> {
    args.iter().copied().chain(vars.iter().map(String::as_str)).collect()
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_the_example_applies_plans_nothing_shows_drift_and_destroys() {
    let host = host();
    let vars = host.vars();
    let example = example();
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
    let example = example();
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

/// A thin provider over the test host, built as the engine builds it.
fn thin_provider() -> blockform_provider_lvm::LvmProvider {
    let host = host();
    let mut config = blockform_provider_lvm::LvmConfig::new("vg0");
    config.thin_pool = Some("pool".to_owned());
    config.host = Some(host.address);
    config.port = Some(host.port.parse().unwrap());
    config.user = Some("root".to_owned());
    config.identity_file = Some(host.identity_file.into());
    config.known_hosts = Some(host.known_hosts.into());
    blockform_provider_lvm::LvmProvider::new("host1", config).unwrap()
}

/// Bytes of a seeded pattern, the same for the same seed.
fn pattern(seed: u64, length: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Checks that a thin volume holds exactly `expected` (ranges written, zeros elsewhere): every
/// range the pool maps for it reads as expected, and every non-zero expected byte is mapped
/// (unmapped ranges of a thin volume read as zeros). Reading only the mapped ranges keeps this
/// to seconds where reading a whole GiB over ssh on the TCG guest would take minutes.
fn assert_holds(provider: &blockform_provider_lvm::LvmProvider, volume: &str, expected: &[(u64, Vec<u8>)]) {
    use blockform_provider::{ReadTarget, StorageProvider};
    let target = ReadTarget::volume(volume);
    let mapped = provider.changed_extents(&target, None).unwrap();
    assert_eq!(mapped.source.as_str(), "thin_delta");
    let mut reader = provider.open_reader(&target).unwrap();
    for extent in &mapped.extents {
        let mut bytes = vec![0_u8; usize::try_from(extent.length).unwrap()];
        reader.read_exact_at(extent.offset, &mut bytes).unwrap();
        assert!(
            bytes == expected_bytes(expected, extent.offset, bytes.len()),
            "{volume} differs in {extent:?}"
        );
    }
    for (offset, data) in expected {
        for index in 0..data.len() / 4096 {
            let at = offset + index as u64 * 4096;
            if expected_bytes(expected, at, 4096).iter().all(|&byte| byte == 0) {
                continue;
            }
            assert!(
                mapped
                    .extents
                    .iter()
                    .any(|extent| extent.offset <= at && at < extent.end()),
                "{volume}: the data at {at} is not mapped"
            );
        }
    }
}

/// What `expected` (ranges written in this order, zeros elsewhere) holds at `offset`.
fn expected_bytes(expected: &[(u64, Vec<u8>)], offset: u64, length: usize) -> Vec<u8> {
    let end_of = offset + length as u64;
    let mut want = vec![0_u8; length];
    for (at, data) in expected {
        let start = (*at).max(offset);
        let end = (at + data.len() as u64).min(end_of);
        if start < end {
            let from = usize::try_from(start - at).unwrap();
            let to = usize::try_from(end - at).unwrap();
            let into = usize::try_from(start - offset).unwrap();
            want[into..into + (to - from)].copy_from_slice(&data[from..to]);
        }
    }
    want
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_full_and_incremental_backups_from_thin_delta_restore_byte_exact() {
    use blockform::backup::{Access, BackupMode, BackupRequest, DirStore, RestoreOptions, create_backup, restore};
    use blockform_provider::{GIB, StorageProvider, VolumeProperties, VolumeSource, VolumeSpec};

    let provider = thin_provider();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (source, from_full, from_next) = (
        format!("volume-{suffix}"),
        format!("volume-{suffix}-full"),
        format!("volume-{suffix}-next"),
    );
    let host = host();
    let _cleanup = Cleanup(&host, vec![from_next.clone(), from_full.clone(), source.clone()]);
    let create = |name: &str| {
        provider
            .create_volume(&VolumeSpec {
                backend_name: name.to_owned(),
                properties: VolumeProperties {
                    name: name.to_owned(),
                    ..VolumeProperties::default()
                },
                size_gib: 1,
                volume_type: "thin".into(),
                extra_specs: std::collections::BTreeMap::new(),
                source: VolumeSource::Empty,
            })
            .unwrap();
    };
    create(&source);
    let at_full = vec![(0, pattern(1, 8 << 20)), (600 << 20, pattern(2, 4 << 20))];
    let mut writer = provider.open_writer(&source).unwrap();
    for (offset, data) in &at_full {
        writer.write_all_at(*offset, data).unwrap();
    }
    writer.finish().unwrap();

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
    let mut quiet = |_: u64, _: u64| {};
    let full = create_backup(
        &mut store,
        &provider,
        &request("backup-full", BackupMode::Full),
        &mut quiet,
    )
    .unwrap();
    assert_eq!(full.read_bytes, 12 << 20, "a full backup reads only what the pool maps");

    // Scattered changes of 64 KiB, one of them overwriting data with zeros.
    let mut at_next = at_full.clone();
    let mut writer = provider.open_writer(&source).unwrap();
    let mut changed = 0;
    for i in 0..40_u64 {
        let change = (i * (25 << 20) + (64 << 10), pattern(100 + i, 64 << 10));
        writer.write_all_at(change.0, &change.1).unwrap();
        changed += change.1.len() as u64;
        at_next.push(change);
    }
    let zeros = (600 << 20, vec![0_u8; 1 << 20]);
    writer.write_all_at(zeros.0, &zeros.1).unwrap();
    changed += zeros.1.len() as u64;
    at_next.push(zeros);
    writer.finish().unwrap();
    let next = create_backup(
        &mut store,
        &provider,
        &request("backup-next", BackupMode::Incremental),
        &mut quiet,
    )
    .unwrap();
    assert_eq!(next.mode, BackupMode::Incremental);
    assert_eq!(next.change_source, "thin_delta");
    assert!(
        next.read_bytes <= changed * 12 / 10,
        "an incremental reads the changed ranges only: {} read for {changed} changed",
        next.read_bytes
    );
    // The markers are the backups' own: not snapshots of the volume.
    let state = &provider.refresh(std::slice::from_ref(&source)).unwrap()[0];
    assert!(state.snapshots.is_empty(), "{:?}", state.snapshots);
    assert_eq!(provider.change_markers(&source).unwrap().len(), 1);

    for (name, manifest) in [(&from_full, &full), (&from_next, &next)] {
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
    assert_holds(&provider, &from_full, &at_full);
    assert_holds(&provider, &from_next, &at_next);
    assert_holds(&provider, &source, &at_next);
    // Restored into an existing volume that holds other data: its zeros are written too
    // (whole chunks discarded on the host), so it holds the full backup and nothing else.
    let writer = provider.open_writer(&from_next).unwrap();
    restore(
        &mut store,
        &full,
        writer,
        &from_next,
        RestoreOptions {
            target_is_zeroed: false,
        },
        &mut quiet,
    )
    .unwrap();
    assert_holds(&provider, &from_next, &at_full);
    assert_eq!(
        provider.refresh(std::slice::from_ref(&from_next)).unwrap()[0].virtual_size_bytes,
        GIB
    );
    for name in [&from_next, &from_full, &source] {
        provider.delete_volume(name).unwrap();
    }
    assert!(
        provider.change_markers(&source).unwrap().is_empty(),
        "the markers went with the volume"
    );
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_an_apply_killed_after_any_step_of_a_growing_clone_is_recovered_without_leftovers() {
    let host = host();
    let vars = host.vars();
    let example = example();
    let (base, _) = example.split_once("resource \"volume\" \"db_copy\"").unwrap();
    let dir = project(&[("main.hcl", base)]);
    let d = dir.path();
    ok(&blockform(d, &with_vars(&["apply", "--auto-approve"], &vars)));
    let db = backend_id(d, "volume.db");
    let _cleanup = Cleanup(&host, vec![db.clone()]);
    let snapshot = blockform_provider_lvm::lv_name(&backend_id(d, "snapshot.before_upgrade"));
    // The LVs made from the snapshot: the clone, and what an interrupted create left.
    let clones = || {
        let (status, listed) = host.run(&[
            "lvs",
            "--noheadings",
            "-o",
            "lv_name",
            "-S",
            &format!("origin={snapshot}"),
            "vg0",
        ]);
        assert_eq!(status, 0);
        let mut names: Vec<String> = listed.split_whitespace().map(str::to_owned).collect();
        names.sort();
        names
    };
    for step in ["partial", "extend", "rename"] {
        std::fs::write(d.join("main.hcl"), &example).unwrap();
        let fault = format!("abort-after:{step}");
        let run = crate::common::blockform_env(
            d,
            &with_vars(&["apply", "--auto-approve"], &vars),
            &[("BLOCKFORM_LVM_FAULT", &fault)],
        );
        assert!(
            run.code != 0 && run.stderr.contains(&format!("aborting after step `{step}`")),
            "the apply must stop after `{step}`: {}{}",
            run.stdout,
            run.stderr
        );
        let left = clones();
        ok(&blockform(d, &with_vars(&["apply", "--auto-approve"], &vars)));
        let copy = backend_id(d, "volume.db_copy");
        assert_eq!(
            clones(),
            std::slice::from_ref(&copy),
            "after a kill after `{step}` (which left {left:?}) and a new apply"
        );
        let planned = blockform(d, &with_vars(&["plan"], &vars));
        assert!(planned.stdout.contains("No changes."), "{}", planned.stdout);

        std::fs::write(d.join("main.hcl"), base).unwrap();
        ok(&blockform(
            d,
            &with_vars(&["apply", "--auto-approve", "--allow-data-loss"], &vars),
        ));
        assert!(clones().is_empty(), "after `{step}`");
    }
    ok(&blockform(
        d,
        &with_vars(&["destroy", "--auto-approve", "--allow-data-loss"], &vars),
    ));
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_the_plan_warns_about_thick_snapshots_and_a_nearly_full_thin_pool() {
    let host = host();
    let vars = host.vars();
    let example = example();
    let (head, _) = example.split_once("resource \"volume\" \"db_copy\"").unwrap();

    // Without a thin pool, snapshots are copy-on-write snapshots that overflow.
    let thick = head.replace("  thin_pool       = \"pool\"\n", "");
    let dir = project(&[("main.hcl", &thick)]);
    let planned = blockform(dir.path(), &with_vars(&["plan"], &vars));
    ok(&planned);
    assert!(
        planned.stdout.contains("Snapshots on provider `host1`"),
        "{}",
        planned.stdout
    );
    assert!(
        planned
            .stdout
            .contains("copy-on-write snapshots of 20% of a thick volume"),
        "{}",
        planned.stdout
    );
    let thin = blockform(project(&[("main.hcl", head)]).path(), &with_vars(&["plan"], &vars));
    ok(&thin);
    assert!(!thin.stdout.contains("copy-on-write"), "{}", thin.stdout);

    // A small thin pool of its own, 97 % written.
    let pool = format!("tp{}", uuid::Uuid::new_v4().simple());
    let filler = format!("fill-{pool}");
    assert_eq!(
        host.run(&[
            "lvcreate",
            "-q",
            "-y",
            "--type",
            "thin-pool",
            "-L",
            "8m",
            "-n",
            &pool,
            "vg0"
        ])
        .0,
        0
    );
    let _cleanup = Cleanup(&host, vec![pool.clone(), filler.clone()]);
    assert_eq!(
        host.run(&[
            "lvcreate",
            "-q",
            "-y",
            "-V",
            "1g",
            "--thinpool",
            &format!("vg0/{pool}"),
            "-n",
            &filler
        ])
        .0,
        0
    );
    let fill = format!("dd if=/dev/urandom of=/dev/vg0/{filler} bs=64k count=124 conv=fsync 2>/dev/null");
    assert_eq!(host.run(&[&fill]).0, 0);
    let config = head
        .replace(
            "  thin_pool       = \"pool\"\n",
            &format!("  thin_pool       = \"{pool}\"\n  oversubscription = 10000\n"),
        )
        .split("resource \"snapshot\"")
        .next()
        .unwrap()
        .to_owned();
    let planned = blockform(project(&[("main.hcl", &config)]).path(), &with_vars(&["plan"], &vars));
    ok(&planned);
    assert!(
        planned
            .stdout
            .contains("the thin pool of provider `host1` is 96 % full")
            || planned
                .stdout
                .contains("the thin pool of provider `host1` is 97 % full"),
        "{}",
        planned.stdout
    );
}
