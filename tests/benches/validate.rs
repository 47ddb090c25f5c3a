//! Benchmark: `blockform validate` of N volumes and N snapshots (N = 1,000, 2,000, 4,000 and
//! 10,000), each snapshot referring to its volume, written three ways:
//!
//! - **separate blocks** (the baseline): `resource "volume" "data7"` and `volume = volume.data7.id`;
//! - **count**: one block `count = N` each, `volume = volume.data[count.index].id`;
//! - **`for_each`**: one block over a set of N keys each, `volume = volume.data[each.key].id`.
//!
//! Prints the wall time of the real binary for each, the ratio of `count` and `for_each` to the
//! baseline of the same size, and the ratio of 10,000 to 1,000 (linear is 10×).
//!
//! Run with `cargo bench --bench validate` (it builds the release binary first). Target: 10,000 in
//! ≤ 0.5 s with `count` and `for_each`, growing linearly.
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 5;
const SIZES: [usize; 4] = [1_000, 2_000, 4_000, 10_000];

#[derive(Clone, Copy)]
enum Shape {
    Separate,
    Count,
    ForEach,
}

impl Shape {
    fn label(self) -> &'static str {
        match self {
            Shape::Separate => "separate blocks",
            Shape::Count => "count.index",
            Shape::ForEach => "each.key",
        }
    }
}

fn configuration(shape: Shape, n: usize) -> String {
    let mut text = String::from(
        "provider \"local\" \"dev\" {\n  path = \"./volumes\"\n}\n\nresource \"volume_type\" \"std\" {\n  backend = \"dev\"\n}\n\n",
    );
    match shape {
        Shape::Separate => {
            for i in 0..n {
                let _ = write!(
                    text,
                    "resource \"volume\" \"data{i}\" {{\n  name = \"data-{i}\"\n  type = volume_type.std.id\n  size = 10\n}}\n\n\
                     resource \"snapshot\" \"snap{i}\" {{\n  volume = volume.data{i}.id\n}}\n\n"
                );
            }
        }
        Shape::Count => {
            let _ = write!(
                text,
                "resource \"volume\" \"data\" {{\n  count = {n}\n  name  = \"data-${{count.index}}\"\n  type  = volume_type.std.id\n  size  = 10\n}}\n\n\
                 resource \"snapshot\" \"snap\" {{\n  count  = {n}\n  volume = volume.data[count.index].id\n}}\n"
            );
        }
        Shape::ForEach => {
            // A literal set: `range` stops at 1,024 numbers.
            let names: Vec<String> = (0..n).map(|i| format!("\"d{i}\"")).collect();
            let _ = write!(
                text,
                "locals {{\n  names = toset([{}])\n}}\n\n\
                 resource \"volume\" \"data\" {{\n  for_each = local.names\n  name     = \"data-${{each.key}}\"\n  type     = volume_type.std.id\n  size     = 10\n}}\n\n\
                 resource \"snapshot\" \"snap\" {{\n  for_each = local.names\n  volume   = volume.data[each.key].id\n}}\n",
                names.join(", ")
            );
        }
    }
    text
}

fn run_validate(binary: &Path, dir: &Path) -> Duration {
    let start = Instant::now();
    let status = Command::new(binary)
        .args(["validate", "--input=false"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("blockform runs");
    let elapsed = start.elapsed();
    assert!(status.success(), "the generated configuration is valid");
    elapsed
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(binary: &Path, shape: Shape, n: usize) -> Duration {
    let dir = std::env::temp_dir().join(format!("blockform-bench-validate-{n}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary directory");
    std::fs::write(dir.join("main.hcl"), configuration(shape, n)).expect("write the configuration");
    let time = median((0..RUNS).map(|_| run_validate(binary, &dir)).collect());
    let _ = std::fs::remove_dir_all(&dir);
    time
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let built = Command::new("cargo")
        .args(["build", "--release", "--quiet", "--bin", "blockform"])
        .current_dir(&root)
        .status();
    assert!(built.is_ok_and(|s| s.success()), "the release binary builds");
    let binary = root.join("target/release/blockform");
    let shapes = [Shape::Separate, Shape::Count, Shape::ForEach];
    let mut figures = [Vec::new(), Vec::new(), Vec::new()];
    for n in SIZES {
        for (s, shape) in shapes.iter().enumerate() {
            let time = measure(&binary, *shape, n);
            // Separate blocks come first: the baseline of this size.
            let baseline = if s == 0 { time } else { figures[0][figures[s].len()] };
            println!(
                "validate, {n:>6} volumes + {n:>6} snapshots, {:<15}: {:>8.1} ms (median of {RUNS}), {:>5.2}x separate blocks",
                shape.label(),
                time.as_secs_f64() * 1e3,
                time.as_secs_f64() / baseline.as_secs_f64()
            );
            figures[s].push(time);
        }
    }
    for (s, shape) in shapes.iter().enumerate() {
        println!(
            "ratio 10,000 / 1,000, {:<15}: {:.2}x (linear is 10x)",
            shape.label(),
            figures[s][3].as_secs_f64() / figures[s][0].as_secs_f64()
        );
    }
    println!("target: 10,000 with count.index and each.key in <= 500 ms, linear");
}
