//! Benchmark: block-level backups of a 1 GiB qcow2 volume of random data, compared in the same
//! run with `qemu-img convert` of the volume and with restic (`restic backup --stdin` of the
//! same raw bytes).
//!
//! 1. full backup (throughput against `qemu-img convert -O qcow2` of the same volume, with and
//!    without a final flush; the best of three runs of each, since the machine is shared);
//! 2. 5 % of the volume changed as 820 scattered 64 KiB writes;
//! 3. incremental backup (stored bytes against the changed bytes; wall time against restic's
//!    second backup).
//!
//! Run with `cargo bench --bench backup`. Targets: the incremental stores ≤ 1.2× the changed
//! bytes and takes less wall time than restic's incremental; the full backup reaches ≥ 1/1.5 of
//! `qemu-img convert`'s throughput. restic comes from Debian (`apt-get install restic`); the
//! bench installs it when it runs as root and it is missing, and otherwise says it is missing.
#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use blockform::backup::{Access, BackupMode, BackupRequest, DirStore, create_backup};
use blockform_provider::{ProviderConfig, ProviderKind, StorageProvider, VolumeProperties, VolumeSource, VolumeSpec};
use blockform_provider_local::LocalProvider;

const SIZE: u64 = 1 << 30;
const WRITES: usize = 820;
const WRITE_BYTES: u64 = 64 * 1024;
/// Runs of the full copy and the full backup; the best counts.
const RUNS: usize = 3;

fn run(command: &mut Command) -> Duration {
    let started = Instant::now();
    let out = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("command runs");
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

fn dir_bytes(path: &Path) -> u64 {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    for entry in entries.flatten() {
        let meta = entry.metadata().expect("metadata");
        total += if meta.is_dir() {
            dir_bytes(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

fn urandom(bytes: usize) -> Vec<u8> {
    let mut data = vec![0_u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut data))
        .expect("/dev/urandom");
    data
}

fn mib(bytes: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let value = bytes as f64 / f64::from(1 << 20);
    value
}

fn restic_available() -> bool {
    if Command::new("restic")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return true;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if root {
        println!("restic is missing: installing it with apt-get");
        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-qq", "restic"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    }
    Command::new("restic")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Sequence of 820 distinct 64 KiB-aligned offsets, from a fixed seed.
fn scattered_offsets() -> Vec<u64> {
    let slots = SIZE / WRITE_BYTES;
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut chosen = HashSet::new();
    let mut offsets = Vec::new();
    while offsets.len() < WRITES {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let slot = state % slots;
        if chosen.insert(slot) {
            offsets.push(slot * WRITE_BYTES);
        }
    }
    offsets
}

struct Restic {
    repo: PathBuf,
    cache: PathBuf,
}

impl Restic {
    fn command(&self) -> Command {
        let mut command = Command::new("restic");
        command
            .env("RESTIC_PASSWORD", "bench")
            .env("RESTIC_REPOSITORY", &self.repo)
            .env("RESTIC_CACHE_DIR", &self.cache);
        command
    }

    fn backup(&self, raw: &Path) -> Duration {
        let file = std::fs::File::open(raw).expect("raw file");
        run(self
            .command()
            .args(["backup", "--stdin", "--stdin-filename", "vol.raw"])
            .stdin(Stdio::from(file)))
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("blockform-bench-backup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary directory");

    // The volume: 1 GiB of random data, written into a new qcow2 volume of the local provider.
    let mut attributes = serde_json::Map::new();
    attributes.insert(
        "path".into(),
        serde_json::Value::String(dir.join("volumes").display().to_string()),
    );
    let provider = LocalProvider::from_config(&ProviderConfig {
        kind: ProviderKind::new(blockform_provider_local::KIND),
        name: "bench".into(),
        attributes,
    })
    .expect("provider");
    provider
        .create_volume(&VolumeSpec {
            backend_name: "volume-bench".into(),
            properties: VolumeProperties::default(),
            size_gib: 1,
            volume_type: "bench".into(),
            extra_specs: BTreeMap::new(),
            source: VolumeSource::Empty,
        })
        .expect("volume");
    let image = provider.image_path("volume-bench").expect("image path");
    let raw = dir.join("vol.raw");
    std::fs::write(&raw, urandom(usize::try_from(SIZE).expect("size"))).expect("raw data");
    run(Command::new("qemu-img")
        .args(["convert", "-n", "-f", "raw", "-O", "qcow2"])
        .arg(&raw)
        .arg(&image));

    // Baselines: qemu-img convert of the same volume into a new qcow2 file (best of three, as
    // for the full backup: the machine is shared). By default convert writes its target with
    // cache=unsafe and never flushes it; with `-t writeback` it flushes at the end, so the copy
    // is on disk when it returns, as a backup is.
    let convert = |cache: &str| {
        (0..RUNS)
            .map(|_| {
                let mut command = Command::new("qemu-img");
                command.args(["convert", "-f", "qcow2", "-O", "qcow2"]);
                if !cache.is_empty() {
                    command.args(["-t", cache]);
                }
                let time = run(command.arg(&image).arg(dir.join("copy.qcow2")));
                std::fs::remove_file(dir.join("copy.qcow2")).expect("remove copy");
                time
            })
            .min()
            .expect("runs")
    };
    let convert_unsafe_time = convert("");
    let convert_time = convert("writeback");

    // Full backup.
    let store_path = dir.join("store");
    let mut quiet = |_: u64, _: u64| {};
    let request = |id: &'static str, mode| BackupRequest {
        id,
        volume_address: "volume.bench",
        volume_backend_id: "volume-bench",
        mode,
        policy: None,
        now_unix_secs: 1,
    };
    let mut full_time = Duration::MAX;
    let mut full = None;
    let mut store = None;
    for _ in 0..RUNS {
        let _ = std::fs::remove_dir_all(&store_path);
        let mut fresh = DirStore::open(&store_path, Access::Shared, true, true).expect("store");
        let started = Instant::now();
        let manifest = create_backup(
            &mut fresh,
            &provider,
            &request("backup-full", BackupMode::Full),
            &mut quiet,
        )
        .expect("full backup");
        full_time = full_time.min(started.elapsed());
        full = Some(manifest);
        store = Some(fresh);
    }
    let (Some(full), Some(mut store)) = (full, store) else {
        return;
    };
    let after_full = dir_bytes(&store_path);

    // restic's first backup of the same bytes.
    let restic = if restic_available() {
        let restic = Restic {
            repo: dir.join("restic-repo"),
            cache: dir.join("restic-cache"),
        };
        run(restic.command().arg("init"));
        let time = restic.backup(&raw);
        Some((restic, time, dir_bytes(&dir.join("restic-repo"))))
    } else {
        println!("restic is missing: install Debian's `restic` to compare (apt-get install restic)");
        None
    };

    // 5 % changed: 820 scattered 64 KiB writes, the same bytes in the volume and the raw file.
    let offsets = scattered_offsets();
    let patterns = dir.join("patterns");
    std::fs::create_dir_all(&patterns).expect("patterns dir");
    let raw_file = std::fs::OpenOptions::new().write(true).open(&raw).expect("raw file");
    let mut commands = Command::new("qemu-io");
    commands.args(["-f", "qcow2"]);
    for (i, offset) in offsets.iter().enumerate() {
        let data = urandom(usize::try_from(WRITE_BYTES).expect("write size"));
        raw_file.write_all_at(&data, *offset).expect("raw write");
        let pattern = patterns.join(i.to_string());
        std::fs::write(&pattern, &data).expect("pattern");
        commands.args([
            "-c",
            &format!("write -q -s {} {offset} {WRITE_BYTES}", pattern.display()),
        ]);
    }
    drop(raw_file);
    run(commands.arg(&image));
    let changed_bytes = WRITE_BYTES * WRITES as u64;

    // Incremental backup.
    let started = Instant::now();
    let incremental = create_backup(
        &mut store,
        &provider,
        &request("backup-incremental", BackupMode::Incremental),
        &mut quiet,
    )
    .expect("incremental backup");
    let incremental_time = started.elapsed();
    let added = dir_bytes(&store_path) - after_full;
    drop(store);

    let seconds = |d: Duration| d.as_secs_f64();
    let throughput = |d: Duration| mib(SIZE) / d.as_secs_f64();
    println!("backup benchmark: 1 GiB qcow2 volume of random data, then 820 scattered 64 KiB writes (5 %)");
    println!("{:<44} {:>9} {:>11} {:>12}", "step", "seconds", "MiB/s", "stored MiB");
    println!(
        "{:<44} {:>9.2} {:>11.0} {:>12}",
        "qemu-img convert -O qcow2 (no flush)",
        seconds(convert_unsafe_time),
        throughput(convert_unsafe_time),
        "-"
    );
    println!(
        "{:<44} {:>9.2} {:>11.0} {:>12}",
        "qemu-img convert -O qcow2 -t writeback",
        seconds(convert_time),
        throughput(convert_time),
        "-"
    );
    println!(
        "{:<44} {:>9.2} {:>11.0} {:>12.1}",
        "blockform full backup",
        seconds(full_time),
        throughput(full_time),
        mib(after_full)
    );
    println!(
        "{:<44} {:>9.2} {:>11} {:>12.1}",
        format!("blockform incremental ({})", incremental.change_source),
        seconds(incremental_time),
        "-",
        mib(added)
    );
    let mut restic_incremental = None;
    if let Some((restic, full_time, full_bytes)) = &restic {
        let time = restic.backup(&raw);
        let total = dir_bytes(&restic.repo);
        println!(
            "{:<44} {:>9.2} {:>11.0} {:>12.1}",
            "restic backup --stdin (first)",
            seconds(*full_time),
            throughput(*full_time),
            mib(*full_bytes)
        );
        println!(
            "{:<44} {:>9.2} {:>11} {:>12.1}",
            "restic backup --stdin (after the change)",
            seconds(time),
            "-",
            mib(total - full_bytes)
        );
        restic_incremental = Some(time);
    }
    #[allow(clippy::cast_precision_loss)]
    let ratio = added as f64 / changed_bytes as f64;
    println!();
    println!(
        "incremental stored {:.1} MiB for {:.1} MiB changed: {ratio:.3}x (target <= 1.2x) {}",
        mib(added),
        mib(changed_bytes),
        if ratio <= 1.2 { "ok" } else { "MISSED" }
    );
    let relative = convert_time.as_secs_f64() / full_time.as_secs_f64();
    let relative_unsafe = convert_unsafe_time.as_secs_f64() / full_time.as_secs_f64();
    println!(
        "full backup throughput is {relative:.2} of qemu-img convert -t writeback's (target >= 0.67) {}; {relative_unsafe:.2} of convert without a flush",
        if relative >= 1.0 / 1.5 { "ok" } else { "MISSED" }
    );
    match restic_incremental {
        Some(time) => println!(
            "incremental took {:.2} s, restic's {:.2} s (target: less) {}",
            seconds(incremental_time),
            seconds(time),
            if incremental_time < time { "ok" } else { "MISSED" }
        ),
        None => println!("restic is missing: no comparison of incremental wall time"),
    }
    println!(
        "full backup read {:.1} MiB and stored {} blocks; incremental read {:.1} MiB",
        mib(full.read_bytes),
        full.blocks.len(),
        mib(incremental.read_bytes)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
