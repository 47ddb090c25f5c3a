//! Refresh of 10,000 volumes: how long one `refresh` (one directory listing, one header and
//! snapshot table read and one sidecar per volume, no process) takes. Target: at most 1 s.
//!
//! The volumes are copies of one volume made by the provider (with one internal snapshot, so
//! snapshot tables are read too) and its sidecar: refresh reads headers, so copies are as good
//! as volumes made one by one, and far quicker to set up.
//!
//! Run with `cargo bench -p blockform-provider-local --bench refresh`; `BLOCKFORM_BENCH_VOLUMES`
//! changes the count.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use blockform_provider::{SnapshotSpec, StorageProvider, VolumeProperties, VolumeSource, VolumeSpec};
use blockform_provider_local::{LocalConfig, LocalProvider};

const DEFAULT_VOLUMES: usize = 10_000;
const RUNS: usize = 5;

fn main() {
    let count = std::env::var("BLOCKFORM_BENCH_VOLUMES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_VOLUMES);
    let root: PathBuf = std::env::temp_dir().join(format!("blockform-refresh-bench-{}", uuid::Uuid::new_v4().simple()));
    let provider = LocalProvider::new("bench", LocalConfig::new(root.join("volumes"))).expect("provider");

    let started = Instant::now();
    let template = format!("volume-{}", uuid::Uuid::new_v4());
    provider
        .create_volume(&VolumeSpec {
            backend_name: template.clone(),
            properties: VolumeProperties {
                name: "data".to_owned(),
                description: Some("refresh benchmark".to_owned()),
                bootable: false,
                tags: vec!["bench".to_owned()],
                metadata: BTreeMap::from([("team".to_owned(), "storage".to_owned())]),
            },
            size_gib: 10,
            volume_type: "standard".to_owned(),
            extra_specs: BTreeMap::new(),
            source: VolumeSource::Empty,
        })
        .expect("template volume");
    provider
        .create_snapshot(&SnapshotSpec {
            backend_name: format!("snapshot-{}", uuid::Uuid::new_v4()),
            volume_backend_name: template.clone(),
            name: "daily".to_owned(),
            description: None,
        })
        .expect("template snapshot");
    let directory = provider.directory().to_owned();
    let mut names = vec![template.clone()];
    for _ in 1..count {
        let name = format!("volume-{}", uuid::Uuid::new_v4());
        fs::copy(
            directory.join(format!("{template}.qcow2")),
            directory.join(format!("{name}.qcow2")),
        )
        .expect("copy image");
        fs::copy(
            directory.join(format!("{template}.json")),
            directory.join(format!("{name}.json")),
        )
        .expect("copy sidecar");
        names.push(name);
    }
    println!("set up {count} volumes in {:.1} s", started.elapsed().as_secs_f64());

    let mut timings = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let states = provider.refresh(&names).expect("refresh");
        timings.push(started.elapsed());
        assert_eq!(states.len(), count);
        assert!(
            states
                .iter()
                .all(|state| state.snapshots.len() == 1 && state.properties.name == "data")
        );
    }
    report("refresh", count, &timings);

    let mut timings = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let items = provider.inventory().expect("inventory");
        timings.push(started.elapsed());
        assert_eq!(items.len(), 2 * count);
    }
    report("inventory", count, &timings);

    fs::remove_dir_all(&root).expect("clean up");
}

fn report(what: &str, count: usize, timings: &[Duration]) {
    let first = timings[0];
    let best = timings.iter().min().copied().unwrap_or_default();
    #[expect(clippy::cast_precision_loss, reason = "a figure for people to read")]
    let per_volume_us = best.as_secs_f64() * 1e6 / count as f64;
    println!(
        "{what} of {count} volumes: first run {:.0} ms, best of {} {:.0} ms ({per_volume_us:.1} µs per volume)",
        first.as_secs_f64() * 1e3,
        timings.len(),
        best.as_secs_f64() * 1e3,
    );
}
