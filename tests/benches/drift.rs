//! Benchmark: `blockform drift` over N local qcow2 volumes that match state (N = 1,000 and
//! 10,000): one batched refresh and one inventory per provider, no process per volume. Prints the
//! wall time of the real binary next to a `plan --refresh=false` of the same configuration and
//! state (loading alone, the baseline), and the ratio of the two sizes.
//!
//! Run with `cargo bench --bench drift` (it builds the release binary first;
//! `BLOCKFORM_BENCH_KEEP=1` keeps the generated directories). Target: 10,000
//! volumes in ≤ 2 s.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use blockform::state::{ResourceState, SledStore, StateDocument, Store};
use blockform_provider::{StorageProvider, VolumeProperties, VolumeSource, VolumeSpec};
use blockform_provider_local::{LocalConfig, LocalProvider};

const RUNS: usize = 5;

fn configuration(volumes: usize) -> String {
    let mut text = String::from(
        "provider \"local\" \"dev\" {\n  path = \"./volumes\"\n}\n\nresource \"volume_type\" \"std\" {\n  backend = \"dev\"\n}\n\n",
    );
    for v in 0..volumes {
        let _ = write!(
            text,
            "resource \"volume\" \"v{v}\" {{\n  name        = \"data\"\n  description = \"drift benchmark\"\n  type        = volume_type.std.id\n  size        = 10\n  tags        = [\"bench\"]\n  metadata    = {{ team = \"storage\" }}\n}}\n\n"
        );
    }
    text
}

fn record(address: &str, backend_id: &str, provider: Option<&str>, attributes: serde_json::Value) -> ResourceState {
    let serde_json::Value::Object(mut attributes) = attributes else {
        unreachable!("attributes are an object")
    };
    attributes.insert("id".into(), serde_json::json!(backend_id));
    ResourceState {
        address: address.to_owned(),
        backend_id: backend_id.to_owned(),
        provider: provider.map(str::to_owned),
        attributes,
        dependencies: Vec::new(),
        status: "available".to_owned(),
    }
}

/// A configuration, a state and N qcow2 files (copies of one the provider made, sidecar
/// included) that all agree.
fn setup(volumes: usize) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("blockform-bench-drift-{volumes}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary directory");
    std::fs::write(dir.join("main.hcl"), configuration(volumes)).expect("write the configuration");
    let provider = LocalProvider::new("dev", LocalConfig::new(dir.join("volumes"))).expect("provider");
    let template = "volume-template";
    provider
        .create_volume(&VolumeSpec {
            backend_name: template.to_owned(),
            properties: VolumeProperties {
                name: "data".to_owned(),
                description: Some("drift benchmark".to_owned()),
                bootable: false,
                tags: vec!["bench".to_owned()],
                metadata: BTreeMap::from([("team".to_owned(), "storage".to_owned())]),
            },
            size_gib: 10,
            volume_type: "std".to_owned(),
            extra_specs: BTreeMap::new(),
            source: VolumeSource::Empty,
        })
        .expect("template volume");
    let volumes_dir = dir.join("volumes");
    let type_id = "type-bench";
    let mut records = vec![record(
        "volume_type.std",
        type_id,
        Some("dev"),
        serde_json::json!({ "backend": "dev", "name": "std", "description": null, "extra_specs": {}, "qos": null }),
    )];
    for v in 0..volumes {
        let name = format!("volume-{}", uuid::Uuid::new_v4());
        for extension in ["qcow2", "json"] {
            std::fs::copy(
                volumes_dir.join(format!("{template}.{extension}")),
                volumes_dir.join(format!("{name}.{extension}")),
            )
            .expect("copy the template");
        }
        let mut volume = record(
            &format!("volume.v{v}"),
            &name,
            Some("dev"),
            serde_json::json!({
                "name": "data", "description": "drift benchmark", "type": type_id, "size": 10,
                "bootable": false, "tags": ["bench"], "metadata": { "team": "storage" }, "source": null,
                "status": "available", "backend_name": name,
            }),
        );
        volume.dependencies.push("volume_type.std".to_owned());
        records.push(volume);
    }
    for extension in ["qcow2", "json"] {
        std::fs::remove_file(volumes_dir.join(format!("{template}.{extension}"))).expect("drop the template");
    }
    let store = SledStore::open(&dir.join(".blockform/state")).expect("open state");
    let meta = store.meta().expect("meta");
    store
        .replace_all(&StateDocument {
            meta,
            resources: records,
            intents: Vec::new(),
            outputs: BTreeMap::new(),
        })
        .expect("write state");
    dir
}

fn time(binary: &Path, dir: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let output = Command::new(binary)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("blockform runs");
    let elapsed = start.elapsed();
    assert_eq!(
        output.status.code(),
        Some(0),
        "`blockform {}` finds everything in sync: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
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
    let mut figures = Vec::new();
    for volumes in [1_000, 10_000] {
        let started = Instant::now();
        let dir = setup(volumes);
        println!("set up {volumes} volumes in {:.1} s", started.elapsed().as_secs_f64());
        let drift = median(
            (0..RUNS)
                .map(|_| time(&binary, &dir, &["drift", "--json", "--input=false"]))
                .collect(),
        );
        let plan = median(
            (0..RUNS)
                .map(|_| {
                    time(
                        &binary,
                        &dir,
                        &["plan", "--refresh=false", "--detailed-exitcode", "--input=false"],
                    )
                })
                .collect(),
        );
        println!(
            "drift, {volumes} volumes: {:>7.1} ms (median of {RUNS}); baseline plan --refresh=false: {:>7.1} ms; reading the back end adds {:>6.1} ms",
            drift.as_secs_f64() * 1e3,
            plan.as_secs_f64() * 1e3,
            (drift.as_secs_f64() - plan.as_secs_f64()) * 1e3
        );
        figures.push(drift);
        if std::env::var_os("BLOCKFORM_BENCH_KEEP").is_some() {
            println!("kept {}", dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    println!(
        "ratio 10,000 / 1,000: {:.2}x (linear is 10x)",
        figures[1].as_secs_f64() / figures[0].as_secs_f64()
    );
    println!("target: 10,000 volumes in <= 2000 ms");
}
