//! How long the ceph provider takes to refresh many volumes: one pool reader process that
//! reads every image's header object, whatever the number of volumes. As a baseline, the same
//! run times `rbd ls -l --format json` of the pool (which opens every image), the listing the
//! provider used before.
//!
//! Needs a cluster: `BLOCKFORM_TEST_CEPH_CONF` and `BLOCKFORM_TEST_CEPH_KEYRING` (as tests/run
//! exports them, or from `tests/ceph-up.sh`); without them it says so and exits.
//! `BLOCKFORM_BENCH_VOLUMES` sets the number of volumes (default 1000). The volumes go into a
//! pool of their own, `blockform-bench`, created and removed by the bench;
//! `BLOCKFORM_BENCH_KEEP=1` keeps the pool (and reuses the volumes it finds there next time).
//!
//!     cargo bench -p blockform-provider-ceph --bench refresh

#![expect(clippy::print_stdout, reason = "a bench binary prints its figures")]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use blockform_provider::{StorageProvider, VolumeProperties, VolumeSource, VolumeSpec};
use blockform_provider_ceph::{CephConfig, CephProvider};

const POOL: &str = "blockform-bench";
const CREATORS: usize = 4;
const RUNS: usize = 5;

fn main() {
    let (Some(conf), Some(keyring)) = (
        std::env::var_os("BLOCKFORM_TEST_CEPH_CONF"),
        std::env::var_os("BLOCKFORM_TEST_CEPH_KEYRING"),
    ) else {
        println!(
            "refresh bench skipped: it needs a Ceph cluster; set BLOCKFORM_TEST_CEPH_CONF and \
             BLOCKFORM_TEST_CEPH_KEYRING (tests/ceph-up.sh boots one)"
        );
        return;
    };
    let count: usize = std::env::var("BLOCKFORM_BENCH_VOLUMES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1000);
    let conf = PathBuf::from(conf);
    let keyring = PathBuf::from(keyring);
    let ceph = |args: &[&str]| {
        let status = Command::new("ceph")
            .arg("--conf")
            .arg(&conf)
            .arg("--keyring")
            .arg(&keyring)
            .args(args)
            .output()
            .map(|output| output.status.success());
        matches!(status, Ok(true))
    };
    let keep = std::env::var("BLOCKFORM_BENCH_KEEP").is_ok_and(|value| value == "1");
    let remove_pool = || ceph(&["osd", "pool", "rm", POOL, POOL, "--yes-i-really-really-mean-it"]);
    if !keep {
        remove_pool();
    }
    if !(ceph(&["osd", "pool", "create", POOL, "8", "8", "replicated"])
        && ceph(&["osd", "pool", "application", "enable", POOL, "rbd"]))
    {
        println!("refresh bench skipped: cannot create the pool `{POOL}` (mon_allow_pool_delete and caps needed)");
        return;
    }
    let _ = ceph(&["osd", "pool", "set", POOL, "size", "1", "--yes-i-really-mean-it"]);

    let mut config = CephConfig::new(POOL);
    config.conf = Some(conf.clone());
    config.keyring = Some(keyring.clone());
    config.user = Some("admin".to_owned());
    let provider = match CephProvider::new("bench", config) {
        Ok(provider) => provider,
        Err(error) => {
            println!("refresh bench skipped: {error}");
            remove_pool();
            return;
        }
    };

    let names: Vec<String> = (0..count).map(|i| format!("volume-bench-{i:06}")).collect();
    let existing: std::collections::HashSet<String> = provider
        .refresh(&names)
        .map(|states| states.into_iter().map(|state| state.backend_name).collect())
        .unwrap_or_default();
    if !existing.is_empty() {
        println!("reusing {} volumes already in the pool", existing.len());
    }
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failures = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..CREATORS {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = names.get(i) else { break };
                    if existing.contains(name) {
                        continue;
                    }
                    let spec = VolumeSpec {
                        backend_name: name.clone(),
                        properties: VolumeProperties {
                            name: format!("bench {i}"),
                            description: Some("refresh bench".to_owned()),
                            bootable: false,
                            tags: vec!["bench".to_owned()],
                            metadata: BTreeMap::new(),
                        },
                        size_gib: 1,
                        volume_type: "bench".to_owned(),
                        extra_specs: BTreeMap::new(),
                        source: VolumeSource::Empty,
                    };
                    if let Err(error) = provider.create_volume(&spec)
                        && failures.fetch_add(1, Ordering::Relaxed) == 0
                    {
                        println!("creating `{name}` failed: {error}");
                    }
                }
            });
        }
    });
    let setup = started.elapsed();
    let created = names.iter().filter(|name| !existing.contains(*name)).count();
    if created > 0 {
        let per_volume = setup * u32::try_from(CREATORS).unwrap_or(1) / u32::try_from(created).unwrap_or(u32::MAX);
        println!(
            "created {created} volumes with {CREATORS} threads in {:.1} s ({:.0} ms per volume per thread), {} failed",
            setup.as_secs_f64(),
            per_volume.as_secs_f64() * 1000.0,
            failures.load(Ordering::Relaxed)
        );
    }

    let mut refreshes = Vec::with_capacity(RUNS);
    let mut cpu = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let cpu_before = children_cpu();
        let started = Instant::now();
        match provider.refresh(&names) {
            Ok(states) => {
                refreshes.push(started.elapsed());
                cpu.push(children_cpu().saturating_sub(cpu_before));
                assert_eq!(states.len(), count - failures.load(Ordering::Relaxed));
            }
            Err(error) => {
                println!("refresh failed: {error}");
                break;
            }
        }
    }
    report("refresh", count, &mut refreshes);
    // The CPU the reader process used does not depend on what else the machine runs.
    report(
        "CPU time (user + system) of the commands of one refresh",
        count,
        &mut cpu,
    );
    let mut listings = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let listed = Command::new("rbd")
            .arg("--conf")
            .arg(&conf)
            .arg("--keyring")
            .arg(&keyring)
            .args(["ls", "-l", "--format", "json", POOL])
            .output()
            .is_ok_and(|output| output.status.success());
        if listed {
            listings.push(started.elapsed());
        }
    }
    let median = |times: &[Duration]| times.get(times.len() / 2).copied().unwrap_or_default();
    report("baseline: `rbd ls -l` of the pool", count, &mut listings);
    if !refreshes.is_empty() && !listings.is_empty() {
        println!(
            "refresh is {:.1}x faster than the baseline (medians)",
            median(&listings).as_secs_f64() / median(&refreshes).as_secs_f64()
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average while measuring: {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let mut inventories = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        if provider.inventory().is_ok() {
            inventories.push(started.elapsed());
        }
    }
    report("inventory", count, &mut inventories);

    if keep {
        println!("kept the pool `{POOL}` (BLOCKFORM_BENCH_KEEP=1)");
    } else {
        let started = Instant::now();
        remove_pool();
        println!("removed the pool in {:.1} s", started.elapsed().as_secs_f64());
    }
}

/// The user + system CPU time of the finished child processes, from `/proc/self/stat`
/// (`cutime` and `cstime`, in clock ticks of 1/100 s on Linux).
fn children_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name may hold spaces; the fields after it are space-separated.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [13, 14]
        .iter()
        .filter_map(|&index| fields.get(index)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

fn report(what: &str, count: usize, times: &mut [Duration]) {
    if times.is_empty() {
        return;
    }
    times.sort();
    println!(
        "{what} of {count} volumes: min {:.2} s, median {:.2} s, max {:.2} s ({} runs)",
        times[0].as_secs_f64(),
        times[times.len() / 2].as_secs_f64(),
        times[times.len() - 1].as_secs_f64(),
        times.len()
    );
}
