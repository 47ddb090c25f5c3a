//! Benchmark: load + evaluate + validate a generated configuration of 10,000 volumes with
//! types, QoS rules and one snapshot each. Prints the figures next to a baseline measured in the
//! same run: hcl-edit parsing the same text alone (no evaluation, no checks).
//!
//! Run with `cargo bench --bench load`. Target: ≤ 300 ms on a 2-core machine.
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use blockform::config::{EvalOptions, load};

// The same allocator as the `blockform` binary, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const VOLUMES: usize = 10_000;
const TYPES: usize = 20;
const RUNS: usize = 7;

fn generate() -> String {
    let mut text = String::from("provider \"local\" \"dev\" {\n  path = \"./volumes\"\n}\n\n");
    text.push_str("variable \"default_size\" {\n  type    = number\n  default = 10\n}\n\n");
    for t in 0..TYPES {
        let _ = write!(
            text,
            "resource \"qos\" \"q{t}\" {{\n  consumer = \"back-end\"\n  specs = {{\n    total_iops_sec  = {}\n    total_bytes_sec = 104857600\n  }}\n}}\n\n\
             resource \"volume_type\" \"t{t}\" {{\n  description = \"type {t}\"\n  backend     = \"dev\"\n  qos         = qos.q{t}.id\n}}\n\n",
            1000 + t
        );
    }
    for v in 0..VOLUMES {
        let _ = write!(
            text,
            "resource \"volume\" \"v{v}\" {{\n  name        = \"vol-{v}\"\n  description = \"volume number ${{{v} + 1}}\"\n  type        = volume_type.t{}.id\n  size        = var.default_size + {}\n  tags        = [\"bench\", \"v{v}\"]\n  metadata = {{\n    owner = \"team-{}\"\n  }}\n}}\n\n\
             resource \"snapshot\" \"s{v}\" {{\n  volume      = volume.v{v}.id\n  description = \"snapshot of ${{volume.v{v}.name}}\"\n}}\n\n",
            v % TYPES,
            v % 50,
            v % 7
        );
    }
    text
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The same objects written with only what they need: a type and size per volume, a volume
/// per snapshot. Closer to the configuration the ~60 ms parse figure of the issue was taken on.
fn generate_lean() -> String {
    let mut text = String::from("provider \"local\" \"dev\" {\n  path = \"./volumes\"\n}\n\n");
    for t in 0..TYPES {
        let _ = write!(
            text,
            "resource \"qos\" \"q{t}\" {{\n  specs = {{\n    total_iops_sec = {}\n  }}\n}}\n\nresource \"volume_type\" \"t{t}\" {{\n  backend = \"dev\"\n  qos     = qos.q{t}.id\n}}\n\n",
            1000 + t
        );
    }
    for v in 0..VOLUMES {
        let _ = write!(
            text,
            "resource \"volume\" \"v{v}\" {{\n  type = volume_type.t{}.id\n  size = 10\n}}\n\nresource \"snapshot\" \"s{v}\" {{\n  volume = volume.v{v}.id\n}}\n\n",
            v % TYPES
        );
    }
    text
}

fn main() {
    measure("rich: names, descriptions, templates, tags, metadata", &generate());
    println!();
    measure("lean: type and size per volume, volume per snapshot", &generate_lean());
}

fn measure(label: &str, text: &str) {
    let dir = std::env::temp_dir().join(format!("blockform-bench-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    std::fs::write(dir.join("main.hcl"), text).expect("write the configuration");

    let mut parse = Vec::new();
    let mut full = Vec::new();
    let mut phases: [Vec<Duration>; 4] = Default::default();
    for _ in 0..RUNS {
        for (i, d) in phase_times(&dir).into_iter().enumerate() {
            phases[i].push(d);
        }
        let start = Instant::now();
        let body = hcl_edit::parser::parse_body(text).expect("the generated text parses");
        parse.push(start.elapsed());
        drop(body);

        let start = Instant::now();
        let loaded = load(&dir, &EvalOptions::default()).expect("the generated configuration loads");
        full.push(start.elapsed());
        assert!(!loaded.diagnostics.has_errors(), "the generated configuration is valid");
        assert_eq!(loaded.desired.resources.len(), 2 * TYPES + 2 * VOLUMES);
    }
    let _ = std::fs::remove_dir_all(&dir);

    let [read, collect, evaluate, validate] = phases.map(median);
    let parse = median(parse);
    let full = median(full);
    #[allow(clippy::cast_precision_loss)]
    let mib = text.len() as f64 / 1_048_576.0;
    println!(
        "configuration ({label}): {VOLUMES} volumes, {VOLUMES} snapshots, {TYPES} types, {TYPES} QoS rules ({mib:.1} MiB)"
    );
    println!(
        "baseline  hcl-edit parse only:             {:>8.1} ms (median of {RUNS})",
        parse.as_secs_f64() * 1e3
    );
    println!(
        "blockform load + evaluate + validate:      {:>8.1} ms (median of {RUNS})",
        full.as_secs_f64() * 1e3
    );
    println!(
        "ratio to the parse baseline:               {:>8.2}x",
        full.as_secs_f64() / parse.as_secs_f64()
    );
    println!("target:                                       300.0 ms");
    println!(
        "phases: read+parse {:.1} ms, collect {:.1} ms, evaluate {:.1} ms, validate {:.1} ms",
        read.as_secs_f64() * 1e3,
        collect.as_secs_f64() * 1e3,
        evaluate.as_secs_f64() * 1e3,
        validate.as_secs_f64() * 1e3
    );
}

/// The time of each stage of `load`, run one after the other.
fn phase_times(dir: &std::path::Path) -> [Duration; 4] {
    use blockform::config::{eval, load as loader};
    use blockform::diagnostics::{Diagnostics, SourceMap};
    let mut sources = SourceMap::default();
    let mut diagnostics = Diagnostics::default();
    let start = Instant::now();
    let files = loader::load_dir(dir, &mut sources, &mut diagnostics).expect("the generated configuration parses");
    let read = start.elapsed();
    let mut config = eval::collect(dir, files, &mut diagnostics);
    let collect = start.elapsed();
    let desired = eval::evaluate(&mut config, &EvalOptions::default(), &mut sources, &mut diagnostics);
    let evaluate = start.elapsed();
    blockform::config::validate::validate(&desired, &mut diagnostics);
    let validate = start.elapsed();
    [
        read,
        collect.checked_sub(read).unwrap(),
        evaluate.checked_sub(collect).unwrap(),
        validate.checked_sub(evaluate).unwrap(),
    ]
}
