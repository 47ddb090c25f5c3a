//! Benchmark: durable state commits, one resource each, as apply makes them: 1,000 and then
//! 10,000 commits, each into a fresh sled state in a temporary directory. Prints the wall time
//! of each run and their ratio: a commit writes what it changes, not the whole state, so 10×
//! the commits should take about 10× the time (linear), never 100× (quadratic).
//!
//! Run with `cargo bench --bench commit`. Target: ratio ≤ 10×.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use blockform::state::{Commit, ResourceState, SledStore, Store};

// The same allocator as the `blockform` binary, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A volume as apply records it after creating it.
fn volume(i: usize) -> ResourceState {
    let mut attributes = serde_json::Map::new();
    attributes.insert("name".into(), serde_json::json!(format!("vol-{i}")));
    attributes.insert("description".into(), serde_json::json!(format!("volume number {i}")));
    attributes.insert("size".into(), serde_json::json!(10 + i % 50));
    attributes.insert("type".into(), serde_json::json!(format!("t{}", i % 20)));
    attributes.insert("bootable".into(), serde_json::json!(false));
    attributes.insert("tags".into(), serde_json::json!(["bench", format!("v{i}")]));
    attributes.insert(
        "metadata".into(),
        serde_json::json!({ "owner": format!("team-{}", i % 7) }),
    );
    attributes.insert("id".into(), serde_json::json!(format!("volume-{i:08x}")));
    ResourceState {
        address: format!("volume.v{i}"),
        backend_id: format!("volume-{i:08x}"),
        provider: Some("local.dev".to_owned()),
        attributes,
        dependencies: vec![format!("volume_type.t{}", i % 20)],
        status: "available".to_owned(),
    }
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How many times each size runs; the median is printed.
const RUNS: usize = 3;
/// The commits timed at each end of a run, to compare an empty state with a full one.
const WINDOW: usize = 1_000;

/// One run's figures.
struct Timing {
    total: Duration,
    /// The first [`WINDOW`] commits.
    first: Duration,
    /// The last [`WINDOW`] commits.
    last: Duration,
}

/// Commits `n` single-resource transactions into a fresh state.
fn run(n: usize) -> Timing {
    let scratch = Scratch(std::env::temp_dir().join(format!("blockform-bench-commit-{}-{n}", std::process::id())));
    let _ = std::fs::remove_dir_all(&scratch.0);
    let store = match SledStore::open(&scratch.0.join("state")) {
        Ok(store) => store,
        Err(e) => panic!("cannot open the bench state: {e}"),
    };
    let commits: Vec<Commit> = (0..n)
        .map(|i| Commit {
            put: vec![volume(i)],
            ..Commit::default()
        })
        .collect();
    let mut marks = Vec::with_capacity(n + 1);
    let started = Instant::now();
    marks.push(started);
    for commit in &commits {
        if let Err(e) = store.commit(commit) {
            panic!("commit failed: {e}");
        }
        marks.push(Instant::now());
    }
    match store.meta() {
        Ok(meta) => assert_eq!(meta.serial, n as u64, "every commit bumped the serial"),
        Err(e) => panic!("cannot read the bench state: {e}"),
    }
    Timing {
        total: marks[n] - marks[0],
        first: marks[WINDOW] - marks[0],
        last: marks[n] - marks[n - WINDOW],
    }
}

/// The run with the median total time of [`RUNS`].
fn median_run(n: usize) -> Timing {
    let mut runs: Vec<Timing> = (0..RUNS).map(|_| run(n)).collect();
    runs.sort_by_key(|t| t.total);
    runs.swap_remove(RUNS / 2)
}

fn micros_per_commit(time: Duration, n: usize) -> f64 {
    time.as_secs_f64() * 1e6 / f64::from(u32::try_from(n).unwrap_or(u32::MAX))
}

fn main() {
    let small = median_run(1_000);
    let large = median_run(10_000);
    println!(
        "median of {RUNS} runs, each into a fresh state in {}",
        std::env::temp_dir().display()
    );
    for (n, timing) in [(1_000, &small), (10_000, &large)] {
        println!(
            "{n:>6} commits: {:>8.1} ms  ({:.0} µs per commit)",
            timing.total.as_secs_f64() * 1e3,
            micros_per_commit(timing.total, n)
        );
    }
    println!(
        "ratio 10,000 / 1,000: {:.2}× (linear is 10×; target ≤ 10×)",
        large.total.as_secs_f64() / small.total.as_secs_f64()
    );
    println!(
        "within the 10,000 run: first {WINDOW} commits {:.0} µs each, last {WINDOW} {:.0} µs each",
        micros_per_commit(large.first, WINDOW),
        micros_per_commit(large.last, WINDOW)
    );
}
