//! Running the `blockform` binary from tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a run of `blockform` printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `blockform ARGS` in `dir` with colours off and no `BLOCKFORM_VAR_*` from the caller.
pub fn blockform(dir: &Path, args: &[&str]) -> Run {
    blockform_env(dir, args, &[])
}

/// Like [`blockform`], with extra environment variables.
pub fn blockform_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_blockform"));
    command
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("BLOCKFORM_LOG");
    for (key, _) in std::env::vars() {
        if key.starts_with("BLOCKFORM_VAR_") {
            command.env_remove(key);
        }
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("the blockform binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Fails the test, with what the run printed, unless it exited with 0.
pub fn ok(run: &Run) {
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
}

/// The state record of `address` (as `state pull` prints it) in the configuration `dir`.
pub fn state_record(dir: &Path, address: &str) -> serde_json::Value {
    let pulled = blockform(dir, &["state", "pull"]);
    ok(&pulled);
    let document: serde_json::Value = serde_json::from_str(&pulled.stdout).unwrap();
    document["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("{address} is in state"))
        .clone()
}

/// The back-end id state records for `address`.
pub fn backend_id(dir: &Path, address: &str) -> String {
    state_record(dir, address)["backend_id"].as_str().unwrap().to_owned()
}

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh temporary directory holding the given files.
pub fn project(files: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new();
    for (name, text) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// A temporary directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("blockform-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
