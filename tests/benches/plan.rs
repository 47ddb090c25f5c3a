//! Benchmark: a no-op `blockform plan --refresh=false` with N volumes and N snapshots in
//! configuration and state, for N = 1,000 and 10,000. Prints wall time and peak memory (RSS) of
//! the real binary, and the ratio of the two sizes (linear scaling is 10×). Then the same plan of
//! 100,000 volumes (no snapshots) with `--json`, next to the plain plan of the same directory as
//! the baseline.
//!
//! Run with `cargo bench --bench plan` (it builds the release binary first;
//! `BLOCKFORM_BENCH_KEEP=1` keeps the generated directories for a closer look;
//! `BLOCKFORM_BENCH_JSON=0` leaves out the 100,000-volume part, which takes about a minute to set
//! up). Targets: 10,000 in ≤ 0.4 s and ≤ 200 MB; time at 10,000 ≤ 11× time at 1,000; `--json` of
//! 100,000 close to the plain plan in time and memory.
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use blockform::config::{EvalOptions, load};
use blockform::diagnostics::Diagnostics;
use blockform::model::{Address, resource_schema};
use blockform::plan::{PlanInputs, PlanOptions, diff};
use blockform::state::{ResourceState, SledStore, StateDocument, Store};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUNS: usize = 5;
const JSON_RUNS: usize = 3;

fn configuration(volumes: usize, snapshots: bool) -> String {
    let mut text = String::from(
        "provider \"local\" \"dev\" {\n  path = \"./volumes\"\n}\n\nresource \"qos\" \"gold\" {\n  specs = {\n    total_iops_sec = 1000\n  }\n}\n\n\
         resource \"volume_type\" \"std\" {\n  backend = \"dev\"\n  qos     = qos.gold.id\n}\n\n",
    );
    for v in 0..volumes {
        let _ = write!(
            text,
            "resource \"volume\" \"v{v}\" {{\n  name = \"vol-{v}\"\n  type = volume_type.std.id\n  size = {}\n  tags = [\"bench\"]\n}}\n\n",
            10 + v % 50
        );
        if snapshots {
            let _ = write!(
                text,
                "resource \"snapshot\" \"s{v}\" {{\n  volume      = volume.v{v}.id\n  description = \"nightly\"\n}}\n\n"
            );
        }
    }
    text
}

/// The state apply would have recorded for the configuration: ids assigned, references resolved.
fn applied_state(dir: &Path) -> Vec<ResourceState> {
    let loaded = load(dir, &EvalOptions::default()).expect("the configuration loads");
    let outputs = std::collections::BTreeMap::new();
    let observed = std::collections::HashMap::new();
    let inputs = PlanInputs {
        desired: &loaded.desired,
        prior: &[],
        prior_outputs: &outputs,
        observed: &observed,
        lineage: String::new(),
        serial: 0,
    };
    let plan = diff(&inputs, &PlanOptions::default(), &mut Diagnostics::default());
    let mut records: Vec<ResourceState> = plan
        .changes
        .iter()
        .map(|c| ResourceState {
            address: c.address.to_string(),
            backend_id: c.backend_id.clone().unwrap_or_default(),
            provider: c.provider.clone(),
            attributes: serde_json::Map::new(),
            dependencies: c.depends_on.iter().map(ToString::to_string).collect(),
            status: "available".into(),
        })
        .collect();
    let known = records
        .iter()
        .map(|r| {
            let mut values = blockform::config::value::ValueMap::default();
            values.insert(
                "id".into(),
                blockform::config::value::Value::String(r.backend_id.clone()),
            );
            (Address::parse(&r.address).expect("an address"), values)
        })
        .collect();
    let loaded = load(
        dir,
        &EvalOptions {
            known,
            allow_undeclared_imports: false,
            ..EvalOptions::default()
        },
    )
    .expect("the configuration loads");
    let index: std::collections::HashMap<String, usize> = loaded
        .desired
        .resources
        .iter()
        .enumerate()
        .map(|(i, r)| (r.address.to_string(), i))
        .collect();
    for record in &mut records {
        let instance = &loaded.desired.resources[index[&record.address]];
        for spec in resource_schema(instance.address.kind).attrs {
            record
                .attributes
                .insert(spec.name.into(), instance.attrs[spec.name].to_json());
        }
        record
            .attributes
            .insert("id".into(), serde_json::Value::String(record.backend_id.clone()));
        record
            .attributes
            .insert("status".into(), serde_json::Value::String("available".into()));
    }
    records
}

fn setup(volumes: usize, snapshots: bool) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("blockform-bench-plan-{volumes}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary directory");
    std::fs::write(dir.join("main.hcl"), configuration(volumes, snapshots)).expect("write the configuration");
    let records = applied_state(&dir);
    let store = SledStore::open(&dir.join(".blockform/state")).expect("open state");
    let meta = store.meta().expect("meta");
    let document = StateDocument {
        meta,
        resources: records,
        intents: Vec::new(),
        outputs: std::collections::BTreeMap::default(),
    };
    store.replace_all(&document).expect("write state");
    dir
}

/// Runs the plan once; returns wall time and peak RSS in bytes (sampled from /proc).
fn run_plan(binary: &Path, dir: &Path, extra: &[&str]) -> (Duration, u64) {
    let start = Instant::now();
    let mut child = Command::new(binary)
        .args(["plan", "--refresh=false", "--detailed-exitcode", "--input=false"])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("blockform runs");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        {
            peak = peak.max(kb * 1024);
        }
        if let Ok(Some(status)) = child.try_wait() {
            assert_eq!(status.code(), Some(0), "the plan has no changes");
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    (start.elapsed(), peak)
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
    let mut figures = Vec::new();
    for volumes in [1_000, 10_000] {
        let dir = setup(volumes, true);
        let (time, peak) = measure(&binary, &dir, &[], RUNS);
        #[allow(clippy::cast_precision_loss)]
        let mb = peak as f64 / 1_048_576.0;
        println!(
            "no-op plan, {volumes} volumes + {volumes} snapshots, --refresh=false: {:>7.1} ms (median of {RUNS}), peak RSS {mb:.0} MiB",
            time.as_secs_f64() * 1e3
        );
        figures.push(time);
        done_with(&dir);
    }
    println!(
        "ratio 10,000 / 1,000: {:.2}x (linear is 10x; target <= 11x)",
        figures[1].as_secs_f64() / figures[0].as_secs_f64()
    );
    println!("targets: 10,000 in <= 400 ms and <= 200 MB");
    if std::env::var_os("BLOCKFORM_BENCH_JSON").is_some_and(|v| v == "0") {
        return;
    }

    println!();
    let volumes = 100_000;
    let dir = setup(volumes, false);
    let (plain, plain_peak) = measure(&binary, &dir, &[], JSON_RUNS);
    let (json, json_peak) = measure(&binary, &dir, &["--json"], JSON_RUNS);
    #[allow(clippy::cast_precision_loss)]
    let mib = |bytes: u64| bytes as f64 / 1_048_576.0;
    println!(
        "baseline  no-op plan, {volumes} volumes, --refresh=false:        {:>7.1} ms (median of {JSON_RUNS}), peak RSS {:.0} MiB",
        plain.as_secs_f64() * 1e3,
        mib(plain_peak)
    );
    println!(
        "          no-op plan, {volumes} volumes, --refresh=false --json: {:>7.1} ms (median of {JSON_RUNS}), peak RSS {:.0} MiB",
        json.as_secs_f64() * 1e3,
        mib(json_peak)
    );
    #[allow(clippy::cast_precision_loss)]
    let memory = json_peak as f64 / plain_peak as f64;
    println!(
        "ratio --json / plain: {:.2}x time, {memory:.2}x peak RSS",
        json.as_secs_f64() / plain.as_secs_f64()
    );
    done_with(&dir);
}

/// Median wall time and the highest peak RSS of `runs` plans.
fn measure(binary: &Path, dir: &Path, extra: &[&str], runs: usize) -> (Duration, u64) {
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..runs {
        let (time, rss) = run_plan(binary, dir, extra);
        times.push(time);
        peak = peak.max(rss);
    }
    (median(times), peak)
}

fn done_with(dir: &Path) {
    if std::env::var_os("BLOCKFORM_BENCH_KEEP").is_some() {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}
