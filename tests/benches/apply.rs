//! Benchmark: apply of 100 independent 1 GiB volume creates at `--parallelism 10`, compared in
//! the same run with `seq 100 | xargs -P10 -I{} qemu-img create -f qcow2 v{}.qcow2 1G`.
//!
//! Run with `cargo bench --bench apply` (it builds the release binary first). Target: ≤ 1.2× the
//! baseline's wall time.
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const VOLUMES: usize = 100;
const RUNS: usize = 5;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("blockform-bench-apply-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

fn baseline() -> Duration {
    let dir = fresh_dir("xargs");
    let start = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "seq {VOLUMES} | xargs -P10 -I{{}} qemu-img create -q -f qcow2 v{{}}.qcow2 1G"
        ))
        .current_dir(&dir)
        .status()
        .expect("sh runs");
    let elapsed = start.elapsed();
    assert!(status.success(), "qemu-img creates the files");
    let _ = std::fs::remove_dir_all(&dir);
    elapsed
}

fn blockform_apply(binary: &Path) -> Duration {
    let dir = fresh_dir("blockform");
    let mut config = String::from(
        "provider \"local\" \"dev\" {\n  path = \"./volumes\"\n}\n\nresource \"volume_type\" \"std\" {\n  backend = \"dev\"\n}\n\n",
    );
    let _ = write!(
        config,
        "resource \"volume\" \"v\" {{\n  count = {VOLUMES}\n  type  = volume_type.std.id\n  size  = 1\n}}\n"
    );
    std::fs::write(dir.join("main.hcl"), config).expect("write the configuration");
    let start = Instant::now();
    let status = Command::new(binary)
        .args(["apply", "--auto-approve", "--parallelism", "10"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .status()
        .expect("blockform runs");
    let elapsed = start.elapsed();
    assert!(status.success(), "the apply succeeds");
    let _ = std::fs::remove_dir_all(&dir);
    elapsed
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let built = Command::new("cargo")
        .args(["build", "--release", "--quiet", "--bin", "blockform"])
        .current_dir(&root)
        .status();
    assert!(built.is_ok_and(|s| s.success()), "the release binary builds");
    let binary = root.join("target/release/blockform");
    let (mut base, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        base.push(baseline());
        ours.push(blockform_apply(&binary));
    }
    let (base, ours) = (median(base), median(ours));
    println!(
        "baseline  xargs -P10 qemu-img create ×{VOLUMES}:  {:>7.1} ms (median of {RUNS})",
        base.as_secs_f64() * 1e3
    );
    println!(
        "blockform apply, {VOLUMES} volumes, parallelism 10: {:>7.1} ms (median of {RUNS})",
        ours.as_secs_f64() * 1e3
    );
    println!(
        "ratio: {:.2}x (target <= 1.2x)",
        ours.as_secs_f64() / base.as_secs_f64()
    );
}
