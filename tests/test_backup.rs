//! Block-level backups end to end (issue 5): real qcow2 volumes written with qemu-io, backups
//! through `blockform apply`, restores compared by sha256 with what was written at each point,
//! and the store's own checks (verify, gc, delete order, crash safety).

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use blockform::backup::{Access, BackupMode, BackupRequest, DirStore, RestoreOptions, create_backup, restore};
use blockform_provider::{ProviderConfig, ProviderKind, StorageProvider, VolumeProperties, VolumeSource, VolumeSpec};
use blockform_provider_local::LocalProvider;

use crate::common::{TempDir, blockform, blockform_env, project};

const GIB: u64 = 1 << 30;
pub(crate) const BLOCK: u64 = 64 * 1024;
pub(crate) const BLOCK_USIZE: usize = 64 * 1024;

const BASE: &str = r#"
provider "local" "dev" {
  path = "./volumes"
}

backup_store "dir" "nas" {
  path = "./backups"
}

resource "volume_type" "std" {
  backend = "dev"
}

resource "volume" "db" {
  type = volume_type.std.id
  size = 1
}
"#;

pub(crate) fn backup(name: &str, mode: &str) -> String {
    format!(
        "\nresource \"backup\" \"{name}\" {{\n  volume = volume.db.id\n  store  = \"nas\"\n  mode   = \"{mode}\"\n}}\n"
    )
}

pub(crate) fn restored(name: &str, from: &str, size: u64) -> String {
    format!(
        "\nresource \"volume\" \"{name}\" {{\n  type   = volume_type.std.id\n  size   = {size}\n  source = {{ backup = backup.{from}.id }}\n}}\n"
    )
}

/// Deterministic bytes that do not compress (xorshift).
pub(crate) fn random_bytes(seed: u64, length: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(length + 8);
    while out.len() < length {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(length);
    out
}

/// The volume's bytes as the test wrote them: blocks by offset (absent = zeros).
#[derive(Clone, Default)]
pub(crate) struct Model {
    blocks: BTreeMap<u64, Vec<u8>>,
}

impl Model {
    /// The sha256 of the whole volume as the model says it is.
    pub(crate) fn sha256(&self, size: u64, dir: &Path) -> String {
        let path = dir.join("model.raw");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(size).unwrap();
        for (offset, data) in &self.blocks {
            file.write_all_at(data, *offset).unwrap();
        }
        drop(file);
        let sum = sha256_file(&path);
        std::fs::remove_file(&path).unwrap();
        sum
    }
}

pub(crate) fn sha256_file(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum runs");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The sha256 of a qcow2 volume's virtual bytes.
pub(crate) fn volume_sha256(image: &Path, scratch: &Path) -> String {
    let raw = scratch.join("export.raw");
    let out = Command::new("qemu-img")
        .args(["convert", "-f", "qcow2", "-O", "raw"])
        .arg(image)
        .arg(&raw)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sum = sha256_file(&raw);
    std::fs::remove_file(&raw).unwrap();
    sum
}

pub(crate) fn qemu_io(image: &Path, commands: &[String]) {
    let mut command = Command::new("qemu-io");
    command.args(["-f", "qcow2"]);
    for c in commands {
        command.args(["-c", c]);
    }
    let out = command.arg(image).output().unwrap();
    assert!(
        out.status.success(),
        "qemu-io: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes random blocks at the given block numbers and zeroes others, in the volume and the model.
pub(crate) fn change(image: &Path, model: &mut Model, scratch: &Path, seed: u64, write: &[u64], zero: &[u64]) {
    let mut commands = Vec::new();
    for (i, block) in write.iter().enumerate() {
        let data = random_bytes(seed * 1000 + i as u64, BLOCK_USIZE);
        let file = scratch.join(format!("pattern-{seed}-{i}"));
        std::fs::write(&file, &data).unwrap();
        commands.push(format!("write -s {} {} {BLOCK}", file.display(), block * BLOCK));
        model.blocks.insert(block * BLOCK, data);
    }
    for block in zero {
        commands.push(format!("write -z {} {BLOCK}", block * BLOCK));
        model.blocks.remove(&(block * BLOCK));
    }
    qemu_io(image, &commands);
    for entry in std::fs::read_dir(scratch).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("pattern-") {
            std::fs::remove_file(path).unwrap();
        }
    }
}

pub(crate) fn state_attr(dir: &Path, address: &str, attr: &str) -> String {
    let run = blockform(dir, &["state", "show", address]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
        .lines()
        .find_map(|l| {
            let (key, value) = l.trim().split_once('=')?;
            (key.trim() == attr).then(|| value.trim().trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| panic!("no `{attr}` in {}", run.stdout))
}

pub(crate) fn image_of(dir: &Path, address: &str) -> PathBuf {
    dir.join("volumes")
        .join(format!("{}.qcow2", state_attr(dir, address, "id")))
}

fn apply(dir: &Path, config: &str) -> crate::common::Run {
    std::fs::write(dir.join("main.hcl"), config).unwrap();
    let run = blockform(dir, &["apply", "--auto-approve"]);
    assert_eq!(run.code, 0, "apply failed:\n{}\n{}", run.stdout, run.stderr);
    run
}

#[test]
fn every_backup_point_restores_exactly_including_zeroed_blocks() {
    let dir = project(&[]);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let mut config = BASE.to_owned();
    apply(dir.path(), &config);
    let image = image_of(dir.path(), "volume.db");
    let mut model = Model::default();
    let mut points = Vec::new();

    // Point 0: 64 scattered random blocks, and one run of 2 MiB; then a full backup.
    let first: Vec<u64> = (0..64).map(|i| i * 211 + 3).chain(4096..4128).collect();
    change(&image, &mut model, &scratch, 1, &first, &[]);
    config.push_str(&backup("full", "full"));
    apply(dir.path(), &config);
    points.push(("full", model.sha256(GIB, &scratch)));

    // Three incrementals: some blocks rewritten, some zeroed, some new.
    let steps: [(&[u64], &[u64]); 3] = [
        (&[3, 214, 9000, 12000], &[425, 4100]),
        (&[425, 15000, 16383], &[3, 9000]),
        (&[0, 1, 2, 4100], &[16383, 4096, 4097]),
    ];
    for (i, (write, zero)) in steps.iter().enumerate() {
        change(&image, &mut model, &scratch, i as u64 + 2, write, zero);
        let name = format!("inc{}", i + 1);
        config.push_str(&backup(&name, "incremental"));
        apply(dir.path(), &config);
        let expected = model.sha256(GIB, &scratch);
        assert_eq!(
            volume_sha256(&image, &scratch),
            expected,
            "the model matches the volume"
        );
        let name: &'static str = Box::leak(name.into_boxed_str());
        points.push((name, expected));
    }

    // An incremental read only what changed (the dirty bitmap) and stored about that much.
    let listed = blockform(dir.path(), &["backup", "list", "--json"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let document: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let chain = &document["stores"][0]["volumes"][0]["chains"][0];
    assert_eq!(
        chain.as_array().unwrap().len(),
        4,
        "one chain of a full and three incrementals"
    );
    assert_eq!(chain[0]["mode"], "incremental", "newest first");
    assert_eq!(chain[3]["mode"], "full");
    for incremental in &chain.as_array().unwrap()[..3] {
        assert_eq!(incremental["change_source"], "dirty_bitmap");
        assert!(
            incremental["read_bytes"].as_u64().unwrap() <= 8 * BLOCK,
            "{incremental}"
        );
        assert!(
            incremental["stored_bytes"].as_u64().unwrap() <= 4 * (BLOCK + 64),
            "{incremental}"
        );
    }

    // Every point restores into a new volume with exactly the bytes it had.
    for (name, _) in &points {
        config.push_str(&restored(&format!("from_{name}"), name, 1));
    }
    apply(dir.path(), &config);
    for (name, expected) in &points {
        let image = image_of(dir.path(), &format!("volume.from_{name}"));
        assert_eq!(&volume_sha256(&image, &scratch), expected, "restore of backup.{name}");
    }

    // Restore into an existing volume: the oldest point over the newest copy.
    let full_id = state_attr(dir.path(), "backup.full", "id");
    let run = blockform(
        dir.path(),
        &[
            "backup",
            "restore",
            &full_id,
            "--to",
            "volume.from_inc3",
            "--auto-approve",
            "--allow-data-loss",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("DATA LOSS"), "{}", run.stdout);
    let image = image_of(dir.path(), "volume.from_inc3");
    assert_eq!(volume_sha256(&image, &scratch), points[0].1);

    // Without --allow-data-loss, --auto-approve alone refuses and changes nothing.
    let inc3_id = state_attr(dir.path(), "backup.inc3", "id");
    let run = blockform(
        dir.path(),
        &[
            "backup",
            "restore",
            &inc3_id,
            "--to",
            "volume.from_inc3",
            "--auto-approve",
        ],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("--auto-approve alone does not allow that"),
        "{}",
        run.stderr
    );
    assert_eq!(volume_sha256(&image, &scratch), points[0].1);

    let run = blockform(dir.path(), &["backup", "verify", "--all"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "Verified 4 backups: every block reads back and matches its hash.\n"
    );
    assert!(
        run.stderr.contains("verifying store nas: "),
        "progress goes to stderr: {}",
        run.stderr
    );
}

#[test]
fn restores_need_a_volume_at_least_as_large_as_the_backup() {
    let dir = project(&[]);
    let mut config = BASE.replace("size = 1", "size = 2");
    config.push_str(&backup("full", "full"));
    config.push_str("\nresource \"volume\" \"small\" {\n  type = volume_type.std.id\n  size = 1\n}\n");
    apply(dir.path(), &config);

    // At plan time for a new volume.
    let mut too_small = config.clone();
    too_small.push_str(&restored("copy", "full", 1));
    std::fs::write(dir.path().join("main.hcl"), &too_small).unwrap();
    let run = blockform(dir.path(), &["plan"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr.contains("is 1 GiB but its source `backup.full` holds 2 GiB"),
        "{}",
        run.stderr
    );

    // Into an existing volume, before anything is written.
    let id = state_attr(dir.path(), "backup.full", "id");
    std::fs::write(dir.path().join("main.hcl"), &config).unwrap();
    let run = blockform(
        dir.path(),
        &[
            "backup",
            "restore",
            &id,
            "--to",
            "volume.small",
            "--auto-approve",
            "--allow-data-loss",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!(
            "backup `{id}` holds 2147483648 bytes but the volume `volume.small` only 1073741824"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("extend the volume to at least 2 GiB"),
        "{}",
        run.stderr
    );

    // A larger volume is fine.
    let mut larger = config.clone();
    larger.push_str(&restored("big", "full", 3));
    apply(dir.path(), &larger);
}

#[test]
fn incrementals_need_a_full_and_fulls_go_after_their_incrementals() {
    let dir = project(&[]);
    // An incremental with no full anywhere is a plan-time error.
    std::fs::write(
        dir.path().join("main.hcl"),
        format!("{BASE}{}", backup("inc", "incremental")),
    )
    .unwrap();
    let run = blockform(dir.path(), &["plan"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("`backup.inc` is incremental, but store `nas` holds no backup of `volume.db` to build on"),
        "{}",
        run.stderr
    );

    // With a full in the same plan, the full is taken first.
    let config = format!("{BASE}{}{}", backup("inc", "incremental"), backup("full", "full"));
    let run = apply(dir.path(), &config);
    let full_at = run.stdout.find("backup.full: Backed up").unwrap();
    let inc_at = run.stdout.find("backup.inc: Backing up").unwrap();
    assert!(full_at < inc_at, "{}", run.stdout);
    assert_eq!(
        state_attr(dir.path(), "backup.inc", "parent"),
        state_attr(dir.path(), "backup.full", "id")
    );

    // Removing only the full is refused at plan time.
    std::fs::write(
        dir.path().join("main.hcl"),
        format!("{BASE}{}", backup("inc", "incremental")),
    )
    .unwrap();
    let run = blockform(dir.path(), &["plan"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("`backup.full` cannot be deleted: the incremental backup `backup.inc` builds on it and stays"),
        "{}",
        run.stderr
    );

    // Removing both deletes the incremental first.
    std::fs::write(dir.path().join("main.hcl"), BASE).unwrap();
    let run = blockform(dir.path(), &["apply", "--auto-approve", "--allow-data-loss"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let inc_gone = run.stdout.find("backup.inc: Destroyed").unwrap();
    let full_gone = run.stdout.find("backup.full: Destroying").unwrap();
    assert!(inc_gone < full_gone, "{}", run.stdout);
    let listed = blockform(dir.path(), &["backup", "list"]);
    assert!(listed.stdout.contains("no backups"), "{}", listed.stdout);
}

#[test]
fn verify_names_the_backup_and_offset_of_a_flipped_byte_and_gc_keeps_what_is_used() {
    let dir = project(&[]);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    apply(dir.path(), BASE);
    let image = image_of(dir.path(), "volume.db");
    let mut model = Model::default();
    change(&image, &mut model, &scratch, 7, &[5], &[]);
    let config = format!("{BASE}{}", backup("full", "full"));
    apply(dir.path(), &config);
    let id = state_attr(dir.path(), "backup.full", "id");

    // gc with everything referenced drops nothing.
    let run = blockform(dir.path(), &["backup", "gc"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("Store nas: 0 unreferenced blocks dropped"),
        "{}",
        run.stdout
    );

    // Flip one byte in the middle of the only stored block.
    let packs = dir.path().join("backups").join("packs");
    let pack = std::fs::read_dir(&packs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&pack, &bytes).unwrap();

    let run = blockform(dir.path(), &["backup", "verify", "--all"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr
            .contains(&format!("backup `{id}` is damaged at offset {}: its block", 5 * BLOCK)),
        "{}",
        run.stderr
    );
    let run = blockform(dir.path(), &["backup", "verify", &id, "--json"]);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(document["damage"][0]["offset"], 5 * BLOCK);

    // A restore of damaged data stops with the same words instead of writing it.
    let mut with_copy = config.clone();
    with_copy.push_str(&restored("copy", "full", 1));
    std::fs::write(dir.path().join("main.hcl"), &with_copy).unwrap();
    let run = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!("is damaged at offset {}", 5 * BLOCK)),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("volumes"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "qcow2"))
            .count(),
        1,
        "the half-restored volume is removed"
    );

    // Unreferenced blocks go once their backup is deleted.
    std::fs::write(dir.path().join("main.hcl"), BASE).unwrap();
    let run = blockform(dir.path(), &["apply", "--auto-approve", "--allow-data-loss"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = blockform(dir.path(), &["backup", "gc"]);
    assert!(
        run.stdout
            .starts_with("Store nas: 1 unreferenced block dropped, 1 pack deleted"),
        "{}",
        run.stdout
    );
}

#[test]
fn sigkill_during_a_backup_leaves_no_complete_looking_backup_and_the_rerun_succeeds() {
    let dir = project(&[]);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    apply(dir.path(), BASE);
    let image = image_of(dir.path(), "volume.db");
    // 768 MiB of random data so the backup takes a while.
    let random = scratch.join("random");
    let out = Command::new("head")
        .args(["-c", "256M", "/dev/urandom"])
        .output()
        .unwrap();
    std::fs::write(&random, &out.stdout).unwrap();
    let commands: Vec<String> = (0..3)
        .map(|i| format!("write -s {} {}M 256M", random.display(), i * 256))
        .collect();
    qemu_io(&image, &commands);
    std::fs::remove_file(&random).unwrap();
    let expected = volume_sha256(&image, &scratch);
    let config = format!("{BASE}{}", backup("full", "full"));
    std::fs::write(dir.path().join("main.hcl"), &config).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_blockform"))
        .current_dir(dir.path())
        .args(["apply", "--auto-approve"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if line.unwrap().contains("backup.full: Backing up") {
                return true;
            }
        }
        false
    });
    assert!(reader.join().unwrap(), "the backup started");
    // Let it write some packs, then kill it without warning.
    let packs = dir.path().join("backups").join("packs");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let written = std::fs::read_dir(&packs).map_or(0, |d| {
            d.filter_map(Result::ok)
                .map(|e| e.metadata().map_or(0, |m| m.len()))
                .sum::<u64>()
        });
        if written > 64 << 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let manifests = std::fs::read_dir(dir.path().join("backups").join("backups"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
        .count();
    assert_eq!(manifests, 0, "no backup claims to be complete");
    let listed = blockform(dir.path(), &["backup", "list"]);
    assert!(listed.stdout.contains("no backups"), "{}", listed.stdout);

    // The rerun takes the backup (blocks the killed run sealed are reused) and it restores exactly.
    let run = apply(dir.path(), &config);
    assert!(run.stdout.contains("backup.full: Backed up"), "{}", run.stdout);
    let mut with_copy = config.clone();
    with_copy.push_str(&restored("copy", "full", 1));
    apply(dir.path(), &with_copy);
    assert_eq!(volume_sha256(&image_of(dir.path(), "volume.copy"), &scratch), expected);
    let run = blockform(dir.path(), &["backup", "verify", "--all"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // What the killed run left is garbage to collect, and collecting it keeps the backup whole.
    let run = blockform(dir.path(), &["backup", "gc"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = blockform(dir.path(), &["backup", "verify", "--all"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn a_policy_takes_what_is_due_and_prunes_chains_beyond_keep_over_simulated_days() {
    let dir = project(&[]);
    let policy = r#"
resource "backup_policy" "nightly" {
  volumes           = [volume.db.id]
  store             = "nas"
  full_every        = "7d"
  incremental_every = "24h"
  keep              = 1
}
"#;
    let config = format!("{BASE}{policy}");
    std::fs::write(dir.path().join("main.hcl"), &config).unwrap();
    let day = 24 * 3600_u64;
    let t0 = 1_800_000_000_u64;
    let at = |days: u64| (t0 + days * day).to_string();
    let run_at = |args: &[&str], days: u64| blockform_env(dir.path(), args, &[("BLOCKFORM_NOW", &at(days))]);

    let run = run_at(&["apply", "--auto-approve"], 0);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let count = |mode: &str| {
        let listed = blockform(dir.path(), &["backup", "list", "--json"]);
        listed.stdout.matches(&format!("\"mode\": \"{mode}\"")).count()
    };
    assert_eq!((count("full"), count("incremental")), (1, 0));

    // Nothing is due an hour later.
    let run = blockform_env(
        dir.path(),
        &["plan", "--detailed-exitcode"],
        &[("BLOCKFORM_NOW", &(t0 + 3600).to_string())],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);

    // A day later the plan shows an incremental, and apply takes it.
    let run = run_at(&["plan"], 1);
    assert!(
        run.stdout.contains("takes an incremental backup of volume.db"),
        "{}",
        run.stdout
    );
    let run = run_at(&["apply", "--auto-approve"], 1);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!((count("full"), count("incremental")), (1, 1));

    // A week later: a new full, and the old chain goes beyond keep = 1, incremental first.
    let run = run_at(&["plan"], 7);
    assert!(
        run.stdout.contains("takes a full backup of volume.db"),
        "{}",
        run.stdout
    );
    let prune_inc = run.stdout.find("prunes incremental backup").unwrap();
    let prune_full = run.stdout.find("prunes full backup").unwrap();
    assert!(prune_inc < prune_full, "{}", run.stdout);
    let run = run_at(&["apply", "--auto-approve"], 7);
    assert_eq!(run.code, 1, "pruning is data loss and needs --allow-data-loss");
    let run = run_at(&["apply", "--auto-approve", "--allow-data-loss"], 7);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!((count("full"), count("incremental")), (1, 0));
    let run = blockform(dir.path(), &["backup", "verify", "--all"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// A local provider keeping its volumes in `path`, for tests that drive the library.
fn local_provider(path: &Path) -> LocalProvider {
    let mut attributes = serde_json::Map::new();
    attributes.insert("path".into(), serde_json::Value::String(path.display().to_string()));
    LocalProvider::from_config(&ProviderConfig {
        kind: ProviderKind::new(blockform_provider_local::KIND),
        name: "dev".into(),
        attributes,
    })
    .unwrap()
}

/// An empty 1 GiB volume of that back-end name.
fn empty_volume(name: &str) -> VolumeSpec {
    VolumeSpec {
        backend_name: name.to_owned(),
        properties: VolumeProperties {
            name: name.to_owned(),
            ..VolumeProperties::default()
        },
        size_gib: 1,
        volume_type: "std".into(),
        extra_specs: BTreeMap::new(),
        source: VolumeSource::Empty,
    }
}

/// A local provider in a scratch directory with the 1 GiB volume `volume-src`, random data
/// written in the blocks given, and the model of its content.
struct Source {
    dir: TempDir,
    scratch: PathBuf,
    provider: LocalProvider,
    image: PathBuf,
    model: Model,
}

fn source_volume(blocks: &[u64]) -> Source {
    let dir = TempDir::new();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let provider = local_provider(&dir.path().join("volumes"));
    provider.create_volume(&empty_volume("volume-src")).unwrap();
    let image = provider.image_path("volume-src").unwrap();
    let mut model = Model::default();
    change(&image, &mut model, &scratch, 1, blocks, &[]);
    Source {
        dir,
        scratch,
        provider,
        image,
        model,
    }
}

/// The library path: a qcow2 bitmap left in use by a writer killed with SIGKILL is not trusted, and the
/// incremental falls back to hashing every block, still restoring exactly.
#[test]
fn a_bitmap_left_by_a_killed_writer_means_a_hashed_incremental_not_a_wrong_one() {
    let Source {
        dir,
        scratch,
        provider,
        image,
        mut model,
    } = source_volume(&[1, 2, 3, 100]);

    let mut store = DirStore::open(&dir.path().join("store"), Access::Shared, true, true).unwrap();
    let request = |id: &'static str, mode| BackupRequest {
        id,
        volume_address: "volume.src",
        volume_backend_id: "volume-src",
        mode,
        policy: None,
        now_unix_secs: 1,
    };
    let mut quiet = |_: u64, _: u64| {};
    let full = create_backup(
        &mut store,
        &provider,
        &request("backup-a", BackupMode::Full),
        &mut quiet,
    )
    .unwrap();
    assert_eq!(full.blocks.len(), 4);

    // A writer through qemu-nbd changes a block and is killed with SIGKILL.
    let socket = scratch.join("w.sock");
    // `--persistent`: without it qemu-nbd exits cleanly (storing the bitmaps) when the client
    // disconnects, and the kill would find nothing to interrupt.
    let mut server = Command::new("qemu-nbd")
        .args(["-f", "qcow2", "--persistent", "-k"])
        .arg(&socket)
        .arg(&image)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !socket.exists() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let data = random_bytes(99, BLOCK_USIZE);
    let pattern = scratch.join("p");
    std::fs::write(&pattern, &data).unwrap();
    let uri = format!("nbd+unix:///?socket={}", socket.display());
    let out = Command::new("qemu-io")
        .args([
            "-f",
            "raw",
            "-c",
            &format!("write -s {} {} {BLOCK}", pattern.display(), 2 * BLOCK),
        ])
        .arg(&uri)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    model.blocks.insert(2 * BLOCK, data);
    server.kill().unwrap();
    server.wait().unwrap();

    let incremental = create_backup(
        &mut store,
        &provider,
        &request("backup-b", BackupMode::Incremental),
        &mut quiet,
    )
    .unwrap();
    assert_eq!(incremental.change_source, "hashed", "the in-use bitmap is not trusted");
    assert_eq!(incremental.mode, BackupMode::Incremental);
    assert_eq!(incremental.stored_bytes, BLOCK + 41, "only the changed block is stored");

    provider.create_volume(&empty_volume("volume-copy")).unwrap();
    let writer = provider.open_writer("volume-copy").unwrap();
    restore(
        &mut store,
        &incremental,
        writer,
        "volume-copy",
        RestoreOptions { target_is_zeroed: true },
        &mut quiet,
    )
    .unwrap();
    let copy = provider.image_path("volume-copy").unwrap();
    assert_eq!(volume_sha256(&copy, &scratch), model.sha256(GIB, &scratch));
}

#[test]
fn a_volume_that_grew_since_its_parent_gets_a_full_backup() {
    let dir = project(&[]);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    apply(dir.path(), BASE);
    let image = image_of(dir.path(), "volume.db");
    let mut model = Model::default();
    change(&image, &mut model, &scratch, 3, &[0, 9], &[]);
    apply(dir.path(), &format!("{BASE}{}", backup("full", "full")));

    // The volume grows to 2 GiB and gets data past the old end; the next backup asks for an
    // incremental but takes a full one.
    let grown = BASE.replace("size = 1", "size = 2");
    apply(dir.path(), &format!("{grown}{}", backup("full", "full")));
    change(&image, &mut model, &scratch, 4, &[20_000], &[]);
    let config = format!("{grown}{}{}", backup("full", "full"), backup("after", "incremental"));
    std::fs::write(dir.path().join("main.hcl"), &config).unwrap();
    let plan = blockform(dir.path(), &["plan"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout
            .contains("taken as a full backup: the volume is 2 GiB and its newest backup"),
        "the plan says the incremental becomes a full one:\n{}",
        plan.stdout
    );
    apply(dir.path(), &config);
    assert_eq!(state_attr(dir.path(), "backup.after", "parent"), "null");
    let listed = blockform(dir.path(), &["backup", "list", "--json"]);
    let document: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let chains = document["stores"][0]["volumes"][0]["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 2, "the grown volume starts a new chain");
    assert_eq!(chains[0][0]["mode"], "full");
    assert_eq!(chains[0][0]["size_bytes"], 2 * GIB);

    apply(dir.path(), &format!("{config}{}", restored("copy", "after", 2)));
    let copy = image_of(dir.path(), "volume.copy");
    assert_eq!(volume_sha256(&copy, &scratch), model.sha256(2 * GIB, &scratch));
}

/// The names of the persistent dirty bitmaps of a qcow2 file.
fn bitmaps(image: &Path) -> Vec<String> {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json", "-U"])
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    info["format-specific"]["data"]["bitmaps"]
        .as_array()
        .map(|bitmaps| {
            bitmaps
                .iter()
                .filter_map(|bitmap| bitmap["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn deleting_the_newest_backup_removes_its_change_marker_from_the_volume() {
    let dir = project(&[]);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let mut model = Model::default();
    let with_full = format!("{BASE}{}", backup("full", "full"));
    apply(dir.path(), &with_full);
    let image = image_of(dir.path(), "volume.db");
    let full_id = state_attr(dir.path(), "backup.full", "id");
    assert_eq!(bitmaps(&image), [format!("blockform-{full_id}")]);

    // The newest backup's marker follows the chain: an incremental replaces it with its own.
    change(&image, &mut model, &scratch, 1, &[1, 2], &[]);
    let with_both = format!("{with_full}{}", backup("daily", "incremental"));
    apply(dir.path(), &with_both);
    let daily_id = state_attr(dir.path(), "backup.daily", "id");
    assert_eq!(bitmaps(&image), [format!("blockform-{daily_id}")]);

    // Deleting that backup leaves no marker tracking changes for nothing.
    std::fs::write(dir.path().join("main.hcl"), &with_full).unwrap();
    let run = blockform(dir.path(), &["apply", "--auto-approve", "--allow-data-loss"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(bitmaps(&image), Vec::<String>::new());
    // The next incremental then reads and hashes the volume, and is right.
    change(&image, &mut model, &scratch, 2, &[3], &[]);
    apply(dir.path(), &with_both);
    let listed = blockform(dir.path(), &["backup", "list", "--json"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed.stdout.contains("\"hashed\""), "{}", listed.stdout);
    let run = apply(dir.path(), &format!("{with_both}{}", restored("copy", "daily", 1)));
    assert!(run.stdout.contains("Apply complete!"), "{}", run.stdout);
    assert_eq!(
        volume_sha256(&image_of(dir.path(), "volume.copy"), &scratch),
        model.sha256(GIB, &scratch)
    );
}

#[test]
fn a_backup_that_fails_leaves_no_change_marker_and_its_rerun_succeeds() {
    let Source {
        dir, provider, image, ..
    } = source_volume(&[1, 2, 3]);

    let root = dir.path().join("store");
    let mut store = DirStore::open(&root, Access::Shared, true, true).unwrap();
    let request = BackupRequest {
        id: "backup-a",
        volume_address: "volume.src",
        volume_backend_id: "volume-src",
        mode: BackupMode::Full,
        policy: None,
        now_unix_secs: 1,
    };
    let mut quiet = |_: u64, _: u64| {};
    // The blocks cannot be stored: a file stands where the store keeps its packs.
    let packs = root.join("packs");
    let kept = root.join("packs.kept");
    std::fs::rename(&packs, &kept).unwrap();
    std::fs::write(&packs, b"in the way").unwrap();
    let error = create_backup(&mut store, &provider, &request, &mut quiet).unwrap_err();
    assert!(!error.to_string().is_empty());
    assert_eq!(
        bitmaps(&image),
        Vec::<String>::new(),
        "the failed backup's marker is gone"
    );

    std::fs::remove_file(&packs).unwrap();
    std::fs::rename(&kept, &packs).unwrap();
    let full = create_backup(&mut store, &provider, &request, &mut quiet).unwrap();
    assert_eq!(full.blocks.len(), 3);
    assert_eq!(bitmaps(&image), ["blockform-backup-a"]);
}

/// Issue 13 (3): a restore refused for a damaged block must not have written anything. The
/// damaged block sits late in the backup (past the first 4 MiB write run), so a restore that
/// checked blocks only as it wrote them would already have overwritten the target's start.
#[test]
fn a_restore_refused_for_a_damaged_block_leaves_the_target_untouched() {
    let dir = project(&[]);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let with_other = format!("{BASE}\nresource \"volume\" \"other\" {{\n  type = volume_type.std.id\n  size = 1\n}}\n");
    apply(dir.path(), &with_other);
    let image = image_of(dir.path(), "volume.db");
    let blocks: Vec<u64> = (0..160).collect();
    change(&image, &mut Model::default(), &scratch, 3, &blocks, &[]);
    let config = format!("{with_other}{}", backup("full", "full"));
    apply(dir.path(), &config);
    let id = state_attr(dir.path(), "backup.full", "id");

    // The target holds other data, whose checksum must survive the refused restore.
    let target = image_of(dir.path(), "volume.other");
    change(
        &target,
        &mut Model::default(),
        &scratch,
        9,
        &(0..200).collect::<Vec<_>>(),
        &[],
    );
    let before = volume_sha256(&target, &scratch);

    // Flip a byte three quarters into the only pack: a block about 7.5 MiB into the volume.
    let packs = dir.path().join("backups").join("packs");
    let pack = std::fs::read_dir(&packs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    let at = bytes.len() * 3 / 4;
    bytes[at] ^= 0x01;
    std::fs::write(&pack, &bytes).unwrap();

    let run = blockform(
        dir.path(),
        &[
            "backup",
            "restore",
            &id,
            "--to",
            "volume.other",
            "--auto-approve",
            "--allow-data-loss",
        ],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!("backup `{id}` is damaged at offset ")),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("partly overwritten"), "{}", run.stderr);
    assert_eq!(
        volume_sha256(&target, &scratch),
        before,
        "the refused restore wrote nothing into the target"
    );
}

/// A tmpfs mounted for the life of a test, as a small real file system that runs out of space.
struct SmallFs(PathBuf);

impl SmallFs {
    fn mount(path: &Path, size: &str) -> SmallFs {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a {size} tmpfs to fill it, which needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallFs(path.to_owned())
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Issue 13 (6): a backup that fails for a full store removes its temporary pack, so the next
/// small backup fits. The full disk is real: the store is an 8 MiB tmpfs and the volume holds
/// 24 MiB of data that does not compress, so writing the pack fails with ENOSPC.
#[test]
fn a_backup_that_fills_the_store_removes_its_temporary_pack_and_the_next_one_fits() {
    let dir = project(&[]);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let store = SmallFs::mount(&dir.path().join("backups"), "8M");
    let with_small = format!("{BASE}\nresource \"volume\" \"small\" {{\n  type = volume_type.std.id\n  size = 1\n}}\n");
    apply(dir.path(), &with_small);
    let blocks: Vec<u64> = (0..384).collect();
    change(
        &image_of(dir.path(), "volume.db"),
        &mut Model::default(),
        &scratch,
        4,
        &blocks,
        &[],
    );
    change(
        &image_of(dir.path(), "volume.small"),
        &mut Model::default(),
        &scratch,
        5,
        &[0],
        &[],
    );

    std::fs::write(
        dir.path().join("main.hcl"),
        format!("{with_small}{}", backup("big", "full")),
    )
    .unwrap();
    let run = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("No space left on device"), "{}", run.stderr);
    let leftovers: Vec<String> = std::fs::read_dir(store.0.join("packs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.') || Path::new(name).extension().is_some_and(|e| e == "tmp"))
        .collect();
    assert_eq!(
        leftovers,
        Vec::<String>::new(),
        "the failed backup's temporary pack is gone"
    );

    let small =
        "\nresource \"backup\" \"small\" {\n  volume = volume.small.id\n  store  = \"nas\"\n  mode   = \"full\"\n}\n";
    let run = apply(dir.path(), &format!("{with_small}{small}"));
    assert!(run.stdout.contains("backup.small: Backed up"), "{}", run.stdout);
}
