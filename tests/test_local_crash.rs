//! Issue 13 (4, 5): blockform killed at every step boundary of the local provider's volume
//! create and delete and of a backup's start. The kill is deterministic: the test-only fault
//! point `BLOCKFORM_LOCAL_FAULT=abort-after:STEP` aborts the process right after STEP, as a
//! SIGKILL would (no cleanup runs). The next run must recover to exactly what the
//! configuration says: no leftover file, no duplicate volume, no stray qemu-nbd, socket
//! directory or dirty bitmap, and an empty plan.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Run, TempDir, blockform, blockform_env, project};

const CONFIG: &str = r#"
provider "local" "dev" {
  path = "./volumes"
}

resource "volume_type" "std" {
  backend = "dev"
}

resource "volume" "data" {
  count = 2
  type  = volume_type.std.id
  size  = 1
}
"#;

const BACKUP: &str = r#"
backup_store "dir" "nas" {
  path = "./backups"
}

resource "backup" "full" {
  volume = volume.data[0].id
  store  = "nas"
  mode   = "full"
}
"#;

fn killed_at(dir: &Path, step: &str, args: &[&str]) -> Run {
    let fault = format!("abort-after:{step}");
    let run = blockform_env(dir, args, &[("BLOCKFORM_LOCAL_FAULT", &fault)]);
    assert_eq!(
        run.code, -1,
        "the run stops at `{step}`:\n{}\n{}",
        run.stdout, run.stderr
    );
    run
}

fn ok(dir: &Path, args: &[&str]) -> Run {
    let run = blockform(dir, args);
    assert_eq!(run.code, 0, "{args:?}:\n{}\n{}", run.stdout, run.stderr);
    run
}

/// Every file in the provider's directory, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("volumes"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The volume files the state's records name: `ID.json` and `ID.qcow2` for each.
fn recorded_files(dir: &Path) -> Vec<String> {
    let run = ok(dir, &["state", "pull"]);
    let state: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let text = state.to_string();
    let mut names = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("\"backend_id\":\"volume-") {
        let id = &rest[at + 14..];
        let id = &id[..id.find('"').unwrap()];
        names.push(format!("{id}.json"));
        names.push(format!("{id}.qcow2"));
        rest = &rest[at + 14..];
    }
    names.sort();
    names.dedup();
    names
}

fn assert_converged(dir: &Path, volumes: usize) {
    let found = files(dir);
    assert_eq!(found.len(), 2 * volumes, "no leftover, no duplicate: {found:?}");
    assert_eq!(found, recorded_files(dir), "every file belongs to a recorded volume");
    let plan = blockform(dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.code, 0,
        "the next plan is empty:\n{}\n{}",
        plan.stdout, plan.stderr
    );
    let drift = blockform(dir, &["drift", "--json"]);
    assert_eq!(drift.code, 0, "in sync:\n{}\n{}", drift.stdout, drift.stderr);
}

#[test]
fn an_apply_killed_after_each_create_step_recovers_without_leftovers_or_duplicates() {
    for step in ["sidecar", "image", "link"] {
        let dir = project(&[("main.hcl", CONFIG)]);
        killed_at(dir.path(), step, &["apply", "--auto-approve", "--parallelism", "1"]);
        ok(dir.path(), &["apply", "--auto-approve"]);
        assert_converged(dir.path(), 2);
    }
}

/// The same kills, but the configuration no longer wants the volumes when the next run comes:
/// no create of the same name replaces what the killed one left, so recovery must remove it.
#[test]
fn an_apply_killed_after_each_create_step_leaves_nothing_once_the_volumes_are_dropped() {
    for step in ["sidecar", "image", "link"] {
        let dir = project(&[("main.hcl", CONFIG)]);
        killed_at(dir.path(), step, &["apply", "--auto-approve", "--parallelism", "1"]);
        std::fs::write(dir.path().join("main.hcl"), CONFIG.replace("count = 2", "count = 0")).unwrap();
        ok(dir.path(), &["apply", "--auto-approve", "--allow-data-loss"]);
        assert_converged(dir.path(), 0);
    }
}

#[test]
fn a_destroy_killed_after_removing_an_image_leaves_no_sidecar() {
    let dir = project(&[("main.hcl", CONFIG)]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    killed_at(
        dir.path(),
        "delete-image",
        &["destroy", "--auto-approve", "--allow-data-loss", "--parallelism", "1"],
    );
    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
    assert_eq!(files(dir.path()), Vec::<String>::new(), "nothing is left");
    assert_eq!(recorded_files(dir.path()), Vec::<String>::new());
}

/// What a killed create leaves, in a directory no state owns, is listed by `drift` as
/// blockform's own: the files are copied from a real killed run into a second configuration.
#[test]
fn drift_lists_the_leftovers_of_a_killed_create_that_no_state_owns() {
    let killed = project(&[("main.hcl", CONFIG)]);
    killed_at(
        killed.path(),
        "image",
        &["apply", "--auto-approve", "--parallelism", "1"],
    );
    let left = files(killed.path());
    assert_eq!(left.len(), 2, "a sidecar and a partial image: {left:?}");

    let other = project(&[("main.hcl", "provider \"local\" \"dev\" {\n  path = \"./volumes\"\n}\n")]);
    std::fs::create_dir_all(other.path().join("volumes")).unwrap();
    for name in &left {
        std::fs::copy(
            killed.path().join("volumes").join(name),
            other.path().join("volumes").join(name),
        )
        .unwrap();
    }
    let run = blockform(other.path(), &["drift", "--json"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let mut ids: Vec<String> = report["unmanaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            assert_eq!(item["owned"], true, "{item}");
            item["id"].as_str().unwrap().to_owned()
        })
        .collect();
    ids.sort();
    let mut expected: Vec<String> = left.iter().map(|name| format!("dev/{name}")).collect();
    expected.sort();
    assert_eq!(ids, expected);
}

/// The processes whose command line names `needle`.
fn processes_naming(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            found.push(pid);
        }
    }
    found
}

/// Waits (up to 30 s, for a loaded machine) until no process names `needle`; returns those left.
fn wait_until_gone(needle: &str) -> Vec<u32> {
    let started = Instant::now();
    loop {
        let left = processes_naming(needle);
        if left.is_empty() || started.elapsed() > Duration::from_secs(30) {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (up to 30 s) until a writer can open `image` (no process holds its lock).
fn wait_until_writable(image: &Path) -> bool {
    let started = Instant::now();
    loop {
        let opened = Command::new("qemu-io")
            .args(["-f", "qcow2", "-c", "quit"])
            .arg(image)
            .output()
            .unwrap();
        if opened.status.success() {
            return true;
        }
        if started.elapsed() > Duration::from_secs(30) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

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
        .map(|list| {
            list.iter()
                .filter_map(|b| b["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn backup_image(dir: &TempDir) -> PathBuf {
    let run = ok(dir.path(), &["state", "show", "volume.data[0]"]);
    let id = run
        .stdout
        .lines()
        .find_map(|l| {
            let (key, value) = l.trim().split_once('=')?;
            (key.trim() == "id").then(|| value.trim().trim_matches('"').to_owned())
        })
        .unwrap();
    dir.path().join("volumes").join(format!("{id}.qcow2"))
}

/// The socket directories of process `pid` in the temporary directory.
fn socket_directories(pid: u32) -> Vec<PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("blockform-nbd-{pid}-")))
        })
        .collect()
}

#[test]
fn a_backup_killed_after_starting_qemu_nbd_leaves_no_server_socket_or_marker() {
    let dir = project(&[("main.hcl", CONFIG)]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    let image = backup_image(&dir);
    std::fs::write(dir.path().join("main.hcl"), format!("{CONFIG}{BACKUP}")).unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_blockform"))
        .current_dir(dir.path())
        .args(["apply", "--auto-approve"])
        .env("NO_COLOR", "1")
        .env("BLOCKFORM_LOCAL_FAULT", "abort-after:export")
        .output()
        .unwrap();
    assert_eq!(
        child.status.code(),
        None,
        "killed: {}",
        String::from_utf8_lossy(&child.stderr)
    );
    // The killed run's qemu-nbd dies with it instead of holding the image's lock. (Its command
    // line goes first, while its threads still end their I/O: the lock itself is what counts.)
    let image_text = image.display().to_string();
    assert_eq!(
        wait_until_gone(&image_text),
        Vec::<u32>::new(),
        "qemu-nbd outlived blockform"
    );
    assert!(wait_until_writable(&image), "something still holds the image's lock");
    let killed = bitmaps(&image);
    assert_eq!(killed.len(), 1, "the killed backup made its marker");

    let run = ok(dir.path(), &["apply", "--auto-approve"]);
    assert!(run.stdout.contains("backup.full: Backed up"), "{}", run.stdout);
    let id = {
        let run = ok(dir.path(), &["state", "show", "backup.full"]);
        run.stdout
            .lines()
            .find_map(|l| {
                let (key, value) = l.trim().split_once('=')?;
                (key.trim() == "id").then(|| value.trim().trim_matches('"').to_owned())
            })
            .unwrap()
    };
    assert_eq!(
        bitmaps(&image),
        [format!("blockform-{id}")],
        "only the marker of the backup that exists (the killed one made {killed:?}); the second apply said:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    let plan = blockform(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
}

#[test]
fn the_socket_directory_of_a_killed_backup_is_removed_by_the_next_one() {
    let dir = project(&[("main.hcl", CONFIG)]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    std::fs::write(dir.path().join("main.hcl"), format!("{CONFIG}{BACKUP}")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_blockform"))
        .current_dir(dir.path())
        .args(["apply", "--auto-approve"])
        .env("NO_COLOR", "1")
        .env("BLOCKFORM_LOCAL_FAULT", "abort-after:export")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let status = child.wait_with_output().unwrap().status;
    assert_eq!(status.code(), None, "killed");
    assert_eq!(
        socket_directories(pid).len(),
        1,
        "the killed run could not remove its directory"
    );
    ok(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(socket_directories(pid), Vec::<PathBuf>::new());
}

#[test]
fn a_backup_killed_after_making_its_marker_leaves_no_marker_for_a_backup_that_never_existed() {
    let dir = project(&[("main.hcl", CONFIG)]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    let image = backup_image(&dir);
    std::fs::write(dir.path().join("main.hcl"), format!("{CONFIG}{BACKUP}")).unwrap();
    killed_at(dir.path(), "marker", &["apply", "--auto-approve"]);
    assert_eq!(bitmaps(&image).len(), 1, "the killed backup made its marker");
    // Without the backup in the configuration (its store still there), recovery alone must
    // remove the marker.
    let store_only = &BACKUP[..BACKUP.find("resource").unwrap()];
    std::fs::write(dir.path().join("main.hcl"), format!("{CONFIG}{store_only}")).unwrap();
    ok(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(bitmaps(&image), Vec::<String>::new());
}
