//! The `s3` backup store through the `blockform` binary, against a real S3 service (the Ceph
//! RADOS Gateway of `tests/run`, `BLOCKFORM_TEST_S3_BUCKET` and the `AWS_*` variables): full
//! and incremental backups of real qcow2 volumes restored byte for byte, verify naming the
//! backup and offset of a damaged pack object, gc after the backups are gone, a backup killed
//! midway, and the benchmark against a common S3 client. Each test keeps its store under a
//! prefix of its own; ignored under plain `cargo test`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use blockform::s3::{Patience, S3Client, S3Location};

use crate::common::{blockform, project};
use crate::test_backup::{BLOCK, Model, backup, change, image_of, qemu_io, restored, state_attr, volume_sha256};

/// A store prefix of this test's own.
pub(crate) fn location(test: &str) -> S3Location {
    S3Location {
        bucket: std::env::var("BLOCKFORM_TEST_S3_BUCKET")
            .expect("BLOCKFORM_TEST_S3_BUCKET names the test bucket; tests/run starts RGW and sets it"),
        prefix: format!("it/{test}-{}", uuid::Uuid::new_v4()),
        endpoint: None,
        region: None,
    }
}

/// A local volume of `size` GiB and the S3 store `nas` at `location`.
pub(crate) fn base(location: &S3Location, size: u64) -> String {
    format!(
        r#"
provider "local" "dev" {{
  path = "./volumes"
}}

backup_store "s3" "nas" {{
  bucket = "{}"
  prefix = "{}"
}}

resource "volume_type" "std" {{
  backend = "dev"
}}

resource "volume" "db" {{
  type = volume_type.std.id
  size = {size}
}}
"#,
        location.bucket, location.prefix
    )
}

pub(crate) fn apply(dir: &Path, config: &str) -> crate::common::Run {
    std::fs::write(dir.join("main.hcl"), config).unwrap();
    let run = blockform(dir, &["apply", "--auto-approve", "--allow-data-loss"]);
    assert_eq!(run.code, 0, "apply failed:\n{}\n{}", run.stdout, run.stderr);
    run
}

pub(crate) fn client(location: &S3Location) -> S3Client {
    S3Client::new(location, Patience::BULK).unwrap()
}

pub(crate) fn objects(location: &S3Location, dir: &str) -> Vec<(String, u64)> {
    client(location)
        .list(dir, None)
        .unwrap()
        .into_iter()
        .map(|l| (l.name, l.size))
        .collect()
}

#[test]
#[ignore = "needs the S3 service of tests/run"]
fn s3_full_and_incremental_backups_restore_exactly_verify_finds_damage_and_gc_collects() {
    let store = location("chain");
    let dir = project(&[]);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let base = base(&store, 1);
    apply(dir.path(), &base);
    let image = image_of(dir.path(), "volume.db");
    let mut model = Model::default();
    change(&image, &mut model, &scratch, 1, &[0, 1, 2, 100, 4000, 16383], &[]);
    let at_full = model.sha256(1 << 30, &scratch);
    let mut config = format!("{base}{}", backup("full", "full"));
    apply(dir.path(), &config);
    change(&image, &mut model, &scratch, 2, &[1, 5000], &[2]);
    let at_first = model.sha256(1 << 30, &scratch);
    config.push_str(&backup("inc1", "incremental"));
    apply(dir.path(), &config);
    change(&image, &mut model, &scratch, 3, &[6000], &[0, 100]);
    let at_second = model.sha256(1 << 30, &scratch);
    config.push_str(&backup("inc2", "incremental"));
    apply(dir.path(), &config);
    assert_eq!(volume_sha256(&image, &scratch), at_second);
    assert!(objects(&store, "backups/").len() == 3, "three manifests");

    for (name, from, expected) in [
        ("r0", "full", &at_full),
        ("r1", "inc1", &at_first),
        ("r2", "inc2", &at_second),
    ] {
        config.push_str(&restored(name, from, 1));
        apply(dir.path(), &config);
        let address = format!("volume.{name}");
        assert_eq!(
            &volume_sha256(&image_of(dir.path(), &address), &scratch),
            expected,
            "{from} restores exactly"
        );
    }
    let run = blockform(dir.path(), &["backup", "verify", "--all"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    // Flip one byte of the block at offset 5000 * 64 KiB (written for inc1 only).
    let inc1 = state_attr(dir.path(), "backup.inc1", "id");
    let client = client(&store);
    let packs: Vec<String> = objects(&store, "packs/")
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| Path::new(name).extension().is_some_and(|e| e == "pack"))
        .collect();
    let mut damaged = false;
    let marker = crate::test_backup::random_bytes(2000 + 1, 64);
    for pack in &packs {
        let mut bytes = client.get(pack).unwrap().unwrap().to_vec();
        if let Some(at) = bytes.windows(marker.len()).position(|w| w == marker.as_slice()) {
            bytes[at + 1000] ^= 0x01;
            client.put(pack, bytes.into()).unwrap();
            damaged = true;
            break;
        }
    }
    assert!(damaged, "the block written at 5000 is in a pack");
    let run = blockform(dir.path(), &["backup", "verify", "--all"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!(
            "backup `{inc1}` is damaged at offset {}: its block",
            5000 * BLOCK
        )),
        "{}",
        run.stderr
    );

    // Gone backups leave garbage that gc collects; the store ends empty of packs.
    apply(dir.path(), &base);
    let run = blockform(dir.path(), &["backup", "gc"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("Store nas: "), "{}", run.stdout);
    assert!(objects(&store, "backups/").is_empty());
    assert!(objects(&store, "packs/").is_empty(), "{:?}", objects(&store, "packs/"));
    assert!(objects(&store, "locks/").is_empty(), "no lock left behind");
}

#[test]
#[ignore = "needs the S3 service of tests/run"]
fn s3_a_backup_killed_midway_leaves_a_usable_store() {
    let store = location("killed");
    let dir = project(&[]);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let base = base(&store, 1);
    apply(dir.path(), &base);
    let image = image_of(dir.path(), "volume.db");
    let random = scratch.join("random");
    let out = Command::new("head")
        .args(["-c", "384M", "/dev/urandom"])
        .output()
        .unwrap();
    std::fs::write(&random, &out.stdout).unwrap();
    qemu_io(&image, &[format!("write -s {} 0 384M", random.display())]);
    std::fs::remove_file(&random).unwrap();
    let expected = volume_sha256(&image, &scratch);
    let config = format!("{base}{}", backup("full", "full"));
    std::fs::write(dir.path().join("main.hcl"), &config).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_blockform"))
        .current_dir(dir.path())
        .args(["apply", "--auto-approve"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some packs are in, without warning.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if objects(&store, "packs/")
            .iter()
            .filter(|(n, _)| Path::new(n).extension().is_some_and(|e| e == "idx"))
            .count()
            >= 2
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        objects(&store, "backups/").is_empty(),
        "no backup claims to be complete"
    );
    let listed = blockform(dir.path(), &["backup", "list"]);
    assert!(listed.stdout.contains("no backups"), "{}", listed.stdout);

    // The rerun (its shared lock marker is from a process that is gone) takes the backup.
    let run = apply(dir.path(), &config);
    assert!(run.stdout.contains("backup.full: Backed up"), "{}", run.stdout);
    let mut with_copy = config.clone();
    with_copy.push_str(&restored("copy", "full", 1));
    apply(dir.path(), &with_copy);
    assert_eq!(volume_sha256(&image_of(dir.path(), "volume.copy"), &scratch), expected);
    let run = blockform(dir.path(), &["backup", "gc"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = blockform(dir.path(), &["backup", "verify", "--all"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    apply(dir.path(), &base);
    let run = blockform(dir.path(), &["backup", "gc"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(objects(&store, "packs/").is_empty());
}

#[test]
#[ignore = "needs the S3 service of tests/run"]
fn s3_a_policy_takes_what_is_due_and_prunes_chains_beyond_keep_over_simulated_days() {
    let store = location("policy");
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
    let base = base(&store, 1);
    std::fs::write(dir.path().join("main.hcl"), format!("{base}{policy}")).unwrap();
    let day = 24 * 3600_u64;
    let t0 = 1_800_000_000_u64;
    let run_at = |args: &[&str], days: u64| {
        crate::common::blockform_env(dir.path(), args, &[("BLOCKFORM_NOW", &(t0 + days * day).to_string())])
    };
    let count = |mode: &str| {
        let listed = blockform(dir.path(), &["backup", "list", "--json"]);
        listed.stdout.matches(&format!("\"mode\": \"{mode}\"")).count()
    };
    let run = run_at(&["apply", "--auto-approve"], 0);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!((count("full"), count("incremental")), (1, 0));
    let run = run_at(&["apply", "--auto-approve"], 1);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!((count("full"), count("incremental")), (1, 1));
    // A week later: a new full, and the old chain (beyond keep = 1) is pruned from the bucket.
    let run = run_at(&["apply", "--auto-approve", "--allow-data-loss"], 7);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!((count("full"), count("incremental")), (1, 0));
    assert_eq!(objects(&store, "backups/").len(), 1);
    let run = blockform(dir.path(), &["backup", "verify", "--all"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    apply(dir.path(), &base);
    let run = blockform(dir.path(), &["backup", "gc"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}
