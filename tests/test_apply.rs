//! Apply on the local provider with the real qemu-img: the quickstart end to end, storage rules
//! with files untouched, ordering of deletes, failures in one branch, locks between processes,
//! and recovery after SIGKILL at several points.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{blockform, project, root};

fn volume_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("volume-") && p.extension().is_some_and(|e| e == "qcow2")
        })
        .collect();
    files.sort();
    files
}

fn state_list(dir: &Path) -> Vec<String> {
    let run = blockform(dir, &["state", "list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout.lines().map(str::to_owned).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn quickstart_applies_and_then_has_nothing_to_do() {
    let dir = project(&[]);
    copy_dir(&root().join("examples/quickstart"), dir.path());
    let run = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Apply complete! Resources:"), "{}", run.stdout);
    // db, db_copy and three scratch volumes are qcow2 files with the configured sizes.
    let files = volume_files(&dir.path().join(".blockform/volumes"));
    assert_eq!(files.len(), 5, "{files:?}");
    let info = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&files[0])
        .output()
        .unwrap();
    assert!(info.status.success());
    // The snapshot exists inside the database volume's file.
    let list = state_list(dir.path());
    assert!(list.contains(&"snapshot.before_upgrade".to_owned()), "{list:?}");
    assert!(list.contains(&"volume.scratch[\"a\"]".to_owned()), "{list:?}");
    // A second plan finds nothing to do.
    let run = blockform(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("No changes."), "{}", run.stdout);
    // Outputs are recorded.
    let run = blockform(dir.path(), &["output", "-raw", "db_id"]);
    assert!(run.stdout.starts_with("volume-"), "{}", run.stdout);
    // Destroy removes every file, snapshots before their volume.
    let run = blockform(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(
        volume_files(&dir.path().join(".blockform/volumes")),
        Vec::<PathBuf>::new()
    );
    assert_eq!(state_list(dir.path()), Vec::<String>::new());
}

const ONE_VOLUME: &str = r#"
provider "local" "dev" {
  path = "./volumes"
}

resource "volume_type" "std" {
  backend = "dev"
}

resource "volume" "db" {
  type = volume_type.std.id
  size = SIZE
}

resource "snapshot" "s" {
  volume = volume.db.id
}
"#;

#[test]
fn extend_works_and_shrink_is_refused_with_the_file_untouched() {
    let dir = project(&[("main.hcl", &ONE_VOLUME.replace("SIZE", "2"))]);
    let run = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    std::fs::write(dir.path().join("main.hcl"), ONE_VOLUME.replace("SIZE", "3")).unwrap();
    let run = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("will be extended from 2 GiB to 3 GiB") || run.stdout.contains("2 -> 3"),
        "{}",
        run.stdout
    );
    let file = &volume_files(&dir.path().join("volumes"))[0];
    let info = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(file)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["virtual-size"], 3 * 1024 * 1024 * 1024_u64);

    let before = std::fs::read(file).unwrap();
    let mtime = std::fs::metadata(file).unwrap().modified().unwrap();
    std::fs::write(dir.path().join("main.hcl"), ONE_VOLUME.replace("SIZE", "1")).unwrap();
    let run = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("`volume.db` cannot shrink from 3 GiB to 1 GiB"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert_eq!(std::fs::read(file).unwrap(), before);
    assert_eq!(std::fs::metadata(file).unwrap().modified().unwrap(), mtime);
}

#[test]
fn auto_approve_refuses_data_loss_without_allow_data_loss() {
    let dir = project(&[("main.hcl", &ONE_VOLUME.replace("SIZE", "1"))]);
    assert_eq!(blockform(dir.path(), &["apply", "--auto-approve"]).code, 0);
    std::fs::write(
        dir.path().join("main.hcl"),
        "provider \"local\" \"dev\" {\n  path = \"./volumes\"\n}\n",
    )
    .unwrap();
    let run = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("the plan destroys data"), "{}", run.stderr);
    assert_eq!(volume_files(&dir.path().join("volumes")).len(), 1, "nothing deleted");
    // Deleting a volume with a snapshot: the snapshot goes first, then the volume.
    let run = blockform(dir.path(), &["apply", "--auto-approve", "--allow-data-loss"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let snapshot_line = run.stdout.find("snapshot.s: Destroyed").expect("snapshot destroyed");
    let volume_line = run.stdout.find("volume.db: Destroyed").expect("volume destroyed");
    assert!(snapshot_line < volume_line, "{}", run.stdout);
    assert_eq!(volume_files(&dir.path().join("volumes")).len(), 0);
}

#[test]
fn a_failure_in_one_branch_leaves_the_others_applied_and_recorded() {
    let config = r#"
provider "local" "dev" {
  path = "./volumes"
}

resource "volume_type" "std" {
  backend = "dev"
}

resource "volume" "good" {
  type = volume_type.std.id
  size = 1
}

resource "volume" "bad" {
  type   = volume_type.std.id
  size   = 1
  source = { image = "broken.qcow2" }
}

resource "snapshot" "of_bad" {
  volume = volume.bad.id
}
"#;
    // Not a qcow2 image: the real `qemu-img convert` fails on it.
    let dir = project(&[("main.hcl", config), ("broken.qcow2", "this is not a disk image\n")]);
    let run = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("volume.bad"), "{}", run.stderr);
    assert!(
        run.stderr.contains("qemu-img"),
        "the back end's error is shown: {}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("Skipped because something they depend on did not finish: snapshot.of_bad"),
        "{}",
        run.stderr
    );
    let list = state_list(dir.path());
    assert_eq!(list, ["volume.good", "volume_type.std"]);
    assert_eq!(volume_files(&dir.path().join("volumes")).len(), 1);
}

fn thirty_volumes() -> String {
    let mut config = String::from(
        "provider \"local\" \"dev\" {\n  path = \"./volumes\"\n}\n\nresource \"volume_type\" \"std\" {\n  backend = \"dev\"\n}\n\n",
    );
    config.push_str("resource \"volume\" \"v\" {\n  count = 30\n  type  = volume_type.std.id\n  size  = 1\n}\n");
    config
}

/// Starts an apply and kills it with SIGKILL once `after` operations have been reported done.
fn apply_and_kill_after(dir: &Path, after: usize) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_blockform"))
        .current_dir(dir)
        .args(["apply", "--auto-approve", "--parallelism", "2"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut done = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.contains(": Created in ") {
            done += 1;
            if done >= after {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn sigkill_at_any_point_leaves_state_that_the_next_run_completes() {
    for after in [1, 5, 17] {
        let dir = project(&[("main.hcl", &thirty_volumes())]);
        apply_and_kill_after(dir.path(), after);
        let run = blockform(dir.path(), &["apply", "--auto-approve", "--parallelism", "2"]);
        assert_eq!(run.code, 0, "after {after}:\n{}\n{}", run.stdout, run.stderr);
        let files = volume_files(&dir.path().join("volumes"));
        assert_eq!(files.len(), 30, "after {after}: exactly 30 volume files");
        let list = state_list(dir.path());
        assert_eq!(
            list.iter().filter(|a| a.starts_with("volume.v[")).count(),
            30,
            "after {after}: {list:?}"
        );
        // Every file belongs to a record: no orphan.
        let pulled = blockform(dir.path(), &["state", "pull"]);
        let state: serde_json::Value = serde_json::from_str(&pulled.stdout).unwrap();
        for file in &files {
            let id = file.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(
                state["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["backend_id"] == id),
                "after {after}: {id} has a record"
            );
        }
        assert_eq!(state["intents"], serde_json::json!([]), "after {after}: no intent left");
        let run = blockform(dir.path(), &["plan", "--detailed-exitcode"]);
        assert_eq!(
            run.code, 0,
            "after {after}: plan is empty\n{}\n{}",
            run.stdout, run.stderr
        );
    }
}

#[test]
fn a_second_process_is_told_who_holds_the_lock() {
    let dir = project(&[("main.hcl", &ONE_VOLUME.replace("SIZE", "1"))]);
    assert_eq!(blockform(dir.path(), &["apply", "--auto-approve"]).code, 0);
    std::fs::write(dir.path().join("main.hcl"), ONE_VOLUME.replace("SIZE", "2")).unwrap();
    // The first apply waits at the approval prompt, holding the lock.
    let mut holder = Command::new(env!("CARGO_BIN_EXE_blockform"))
        .current_dir(dir.path())
        .args(["apply"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(holder.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("Enter a value:") {
        let mut byte = [0u8; 1];
        let n = std::io::Read::read(&mut stderr, &mut byte).unwrap();
        assert!(n > 0, "the apply asks for approval: {seen}");
        seen.push(byte[0] as char);
    }
    let run = blockform(dir.path(), &["plan"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("state is locked by "), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("(pid {}, apply) since ", holder.id())),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("; lock id "), "{}", run.stderr);
    // A plan that waits for the lock succeeds once the holder finishes.
    let waiter = Command::new(env!("CARGO_BIN_EXE_blockform"))
        .current_dir(dir.path())
        .args(["plan", "--lock-timeout=30s", "--detailed-exitcode"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut stdin = holder.stdin.take().unwrap();
    stdin.write_all(b"yes\n").unwrap();
    drop(stdin);
    assert!(holder.wait().unwrap().success());
    let finished = waiter.wait_with_output().unwrap();
    assert_eq!(
        finished.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&finished.stderr)
    );
}

#[test]
fn ctrl_c_lets_running_operations_finish_and_exits_130() {
    let dir = project(&[("main.hcl", &thirty_volumes())]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_blockform"))
        .current_dir(dir.path())
        .args(["apply", "--auto-approve", "--parallelism", "2"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains(": Created in ") {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the apply reports progress");
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{rest}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Interrupt received"), "{stderr}");
    assert!(rest.contains("Apply interrupted!"), "{rest}");
    // What finished is recorded and nothing is pending; the next apply completes the rest.
    let pulled = blockform(dir.path(), &["state", "pull"]);
    let state: serde_json::Value = serde_json::from_str(&pulled.stdout).unwrap();
    assert_eq!(state["intents"], serde_json::json!([]));
    let recorded = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["address"].as_str().unwrap().starts_with("volume.v["))
        .count();
    assert_eq!(
        recorded,
        volume_files(&dir.path().join("volumes")).len(),
        "every file recorded, every record a file"
    );
    assert!(recorded < 30, "the interrupt stopped scheduling");
    let run = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(volume_files(&dir.path().join("volumes")).len(), 30);
}

#[test]
fn images_are_exported_and_removed() {
    let config = format!(
        "{}\nresource \"image\" \"golden\" {{\n  volume = volume.db.id\n  format = \"qcow2\"\n}}\n",
        ONE_VOLUME.replace("SIZE", "1")
    );
    let dir = project(&[("main.hcl", &config)]);
    let run = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let images: Vec<PathBuf> = std::fs::read_dir(dir.path().join(".blockform/images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(images.len(), 1, "{images:?}");
    let info = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&images[0])
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual-size"], 1024 * 1024 * 1024_u64);
    let run = blockform(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(!images[0].exists(), "the image file is removed with its resource");
}

#[test]
fn capacity_is_checked_at_plan_time() {
    // No filesystem here has 60,000 GiB free: a warning by default, an error when asked.
    let config = ONE_VOLUME.replace("SIZE", "60000");
    let dir = project(&[("main.hcl", &config)]);
    let run = blockform(dir.path(), &["plan"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Not enough space"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("the plan adds 60000.0 GiB of volumes to provider `dev`"),
        "{}",
        run.stdout
    );
    std::fs::write(
        dir.path().join("main.hcl"),
        config.replace(
            "path = \"./volumes\"",
            "path = \"./volumes\"\n  capacity_check = \"error\"",
        ),
    )
    .unwrap();
    let run = blockform(dir.path(), &["plan"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("the plan adds 60000.0 GiB of volumes to provider `dev`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("capacity_check = \"error\""), "{}", run.stderr);
    // With thin images allowed far beyond the disk, it fits.
    std::fs::write(
        dir.path().join("main.hcl"),
        config.replace(
            "path = \"./volumes\"",
            "path = \"./volumes\"\n  capacity_check = \"error\"\n  oversubscription = 100000.0",
        ),
    )
    .unwrap();
    let run = blockform(dir.path(), &["plan"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}

#[test]
fn saved_plans_apply_exactly_once_and_stale_ones_are_refused() {
    let dir = project(&[("main.hcl", &ONE_VOLUME.replace("SIZE", "1"))]);
    let run = blockform(dir.path(), &["plan", "--out", "first.bfplan", "--detailed-exitcode"]);
    assert_eq!(run.code, 2, "changes give exit code 2: {}", run.stderr);
    assert!(run.stdout.contains("blockform apply first.bfplan"), "{}", run.stdout);
    let run = blockform(dir.path(), &["show", "--json", "first.bfplan"]);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        document["resource_changes"][0]["change"]["actions"],
        serde_json::json!(["create"])
    );
    let run = blockform(dir.path(), &["apply", "first.bfplan"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    // The state moved on: the same plan is now stale.
    let run = blockform(dir.path(), &["apply", "first.bfplan"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("Saved plan is stale: state serial"),
        "{}",
        run.stderr
    );
    assert_eq!(
        volume_files(&dir.path().join("volumes")).len(),
        1,
        "nothing created twice"
    );
    // A plan made against another state is refused too.
    let other = project(&[("main.hcl", &ONE_VOLUME.replace("SIZE", "1"))]);
    assert_eq!(blockform(other.path(), &["apply", "--auto-approve"]).code, 0);
    std::fs::write(other.path().join("main.hcl"), ONE_VOLUME.replace("SIZE", "2")).unwrap();
    assert_eq!(blockform(other.path(), &["plan", "--out", "other.bfplan"]).code, 0);
    std::fs::write(dir.path().join("main.hcl"), ONE_VOLUME.replace("SIZE", "2")).unwrap();
    std::fs::copy(other.path().join("other.bfplan"), dir.path().join("other.bfplan")).unwrap();
    let run = blockform(dir.path(), &["apply", "other.bfplan"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("Saved plan belongs to another state"),
        "{}",
        run.stderr
    );
}
