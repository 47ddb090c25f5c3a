//! How fast the ceph provider changes a pool, against the `rbd` commands a shell script would
//! run for the same result, in the same run (issue 18): 100 volumes of 1 GiB created and
//! destroyed with 10 at a time (blockform's `--parallelism 10`) against `xargs -P10 rbd create`
//! and `xargs -P10 rbd rm`, and a snapshot and a clone of each of 20 volumes against `rbd snap
//! create`, `snap protect` and `clone` for each, 10 volumes at a time. A new provider is made
//! for every measurement, so the start of its worker is counted.
//!
//! The provider does what an apply does: its create builds `NAME.partial`, writes the
//! ownership record and renames it, its delete reads the image and removes its snapshots
//! first, and each answers with what the image is now. The clones are kept unflattened
//! (`flatten_clones = false`), as `rbd clone` leaves them.
//!
//! Needs a cluster: `BLOCKFORM_TEST_CEPH_CONF` and `BLOCKFORM_TEST_CEPH_KEYRING` (and
//! `BLOCKFORM_TEST_CEPH_POOL`, default `rbd`); without them it says so and exits. Everything
//! goes into an RBD namespace of its own, emptied and removed at the end.
//! `BLOCKFORM_BENCH_VOLUMES` (default 100), `BLOCKFORM_BENCH_CLONES` (default 20) and
//! `BLOCKFORM_BENCH_RUNS` (default 3; the medians are compared) change the sizes.
//!
//!     cargo bench -p blockform-provider-ceph --bench operations

#![expect(clippy::print_stdout, reason = "a bench binary prints its figures")]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use blockform_provider::{SnapshotSpec, StorageProvider, VolumeProperties, VolumeSource, VolumeSpec, shell_quote};
use blockform_provider_ceph::{CephConfig, CephProvider};

const PARALLELISM: usize = 10;

fn main() {
    let (Some(conf), Some(keyring)) = (
        std::env::var_os("BLOCKFORM_TEST_CEPH_CONF"),
        std::env::var_os("BLOCKFORM_TEST_CEPH_KEYRING"),
    ) else {
        println!(
            "operations bench skipped: it needs a Ceph cluster; set BLOCKFORM_TEST_CEPH_CONF and \
             BLOCKFORM_TEST_CEPH_KEYRING (tests/ceph-up.sh boots one)"
        );
        return;
    };
    let number = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or(default)
    };
    let volumes = number("BLOCKFORM_BENCH_VOLUMES", 100);
    let clones = number("BLOCKFORM_BENCH_CLONES", 20);
    let runs = number("BLOCKFORM_BENCH_RUNS", 3).max(1);
    let pool = std::env::var("BLOCKFORM_TEST_CEPH_POOL").unwrap_or_else(|_| "rbd".to_owned());
    let namespace = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let mut config = CephConfig::new(pool.clone());
    config.conf = Some(PathBuf::from(conf));
    config.keyring = Some(PathBuf::from(keyring));
    config.user = Some("admin".to_owned());
    config.namespace = Some(namespace.clone());
    config.flatten_clones = false;
    let new_provider = || CephProvider::new("bench", config.clone()).expect("the bench's provider block is valid");
    let bench = Bench {
        rbd: new_provider().rbd_argv(&[]),
        location: format!("{pool}/{namespace}"),
        pool,
        namespace,
    };
    if let Err(error) = bench.rbd(&[
        "namespace",
        "create",
        "--pool",
        &bench.pool,
        "--namespace",
        &bench.namespace,
    ]) {
        println!("operations bench skipped: cannot create its namespace: {error}");
        return;
    }

    let mut figures: BTreeMap<&str, (Vec<Duration>, Vec<Duration>)> = BTreeMap::new();
    for run in 0..runs {
        let names = |what: &str, count: usize| -> Vec<String> {
            (0..count).map(|i| format!("volume-{what}-{run}-{i:04}")).collect()
        };
        // Creates.
        let ours = names("bf", volumes);
        let theirs = names("sh", volumes);
        let provider = new_provider();
        let took = timed(|| parallel(&ours, |name| provider.create_volume(&volume(name, VolumeSource::Empty))));
        let baseline = timed(|| bench.xargs(&theirs, &["create", "--no-progress", "--size", "1G"]));
        drop(provider);
        figures.entry("create").or_default().0.push(took);
        figures.entry("create").or_default().1.push(baseline);

        // Snapshots and clones of the first volumes.
        let provider = new_provider();
        let took = timed(|| {
            parallel(&ours[..clones.min(volumes)], |name| {
                let snapshot = format!("snapshot-{name}");
                provider.create_snapshot(&SnapshotSpec {
                    backend_name: snapshot.clone(),
                    volume_backend_name: name.to_owned(),
                    name: "s".to_owned(),
                    description: None,
                })?;
                provider.create_volume(&volume(
                    &format!("{name}-clone"),
                    VolumeSource::Snapshot {
                        volume_backend_name: name.to_owned(),
                        snapshot_backend_name: snapshot,
                    },
                ))
            });
        });
        drop(provider);
        let rbd = bench
            .rbd
            .iter()
            .map(|word| shell_quote(word))
            .collect::<Vec<_>>()
            .join(" ");
        let script = format!(
            "{rbd} snap create --no-progress \"$1@snapshot\" && {rbd} snap protect \"$1@snapshot\" && \
             {rbd} clone \"$1@snapshot\" \"$1-clone\""
        );
        let baseline = timed(|| bench.xargs_shell(&theirs[..clones.min(volumes)], &script));
        figures.entry("snapshot + clone").or_default().0.push(took);
        figures.entry("snapshot + clone").or_default().1.push(baseline);
        // The clones and snapshots go before the measured deletes, which delete plain volumes.
        let provider = new_provider();
        parallel(&ours[..clones.min(volumes)], |name| {
            provider.delete_volume(&format!("{name}-clone"))?;
            provider.delete_snapshot(name, &format!("snapshot-{name}"))
        });
        drop(provider);
        let clone_names: Vec<String> = theirs[..clones.min(volumes)]
            .iter()
            .map(|name| format!("{name}-clone"))
            .collect();
        bench.xargs(&clone_names, &["rm", "--no-progress"]);
        let snapshots: Vec<String> = theirs[..clones.min(volumes)]
            .iter()
            .map(|name| format!("{name}@snapshot"))
            .collect();
        bench.xargs(&snapshots, &["snap", "unprotect"]);
        bench.xargs(&snapshots, &["snap", "rm", "--no-progress"]);

        // Deletes.
        let provider = new_provider();
        let took = timed(|| parallel(&ours, |name| provider.delete_volume(name)));
        let baseline = timed(|| bench.xargs(&theirs, &["rm", "--no-progress"]));
        drop(provider);
        figures.entry("destroy").or_default().0.push(took);
        figures.entry("destroy").or_default().1.push(baseline);
    }

    println!(
        "{volumes} volumes of 1 GiB ({clones} for snapshot + clone), {PARALLELISM} at a time, {runs} runs, \
         in the namespace {}:",
        bench.location
    );
    for (what, (ours, theirs)) in &mut figures {
        let (ours, theirs) = (median(ours), median(theirs));
        let baseline = match *what {
            "create" => "xargs -P10 rbd create",
            "destroy" => "xargs -P10 rbd rm",
            _ => "xargs -P10 sh -c 'rbd snap create; rbd snap protect; rbd clone'",
        };
        println!(
            "  {what:<17} blockform {:>6.2} s   {baseline}: {:>6.2} s   ratio {:.2}x",
            ours.as_secs_f64(),
            theirs.as_secs_f64(),
            ours.as_secs_f64() / theirs.as_secs_f64()
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average after measuring: {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    bench.remove_everything();
}

/// The cluster as the bench's shell commands reach it.
struct Bench {
    /// `rbd` with the provider's connection options.
    rbd: Vec<String>,
    pool: String,
    namespace: String,
    /// `POOL/NAMESPACE`.
    location: String,
}

impl Bench {
    fn rbd(&self, words: &[&str]) -> Result<String, String> {
        let output = Command::new(&self.rbd[0])
            .args(&self.rbd[1..])
            .args(words)
            .output()
            .map_err(|error| error.to_string())?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// `xargs -P10 -n1 rbd WORDS` over the images or snapshots `names` of the namespace.
    fn xargs(&self, names: &[String], words: &[&str]) {
        let mut command = Command::new("xargs");
        command
            .args(["-P", &PARALLELISM.to_string(), "-n", "1"])
            .args(&self.rbd)
            .args(words);
        self.feed(command, names);
    }

    /// `xargs -P10 -n1 sh -c SCRIPT sh` over the images `names` of the namespace.
    fn xargs_shell(&self, names: &[String], script: &str) {
        let mut command = Command::new("xargs");
        command
            .args(["-P", &PARALLELISM.to_string(), "-n", "1"])
            .args(["sh", "-c", script, "sh"]);
        self.feed(command, names);
    }

    fn feed(&self, mut command: Command, names: &[String]) {
        let specs = names.iter().fold(String::new(), |mut specs, name| {
            let _ = writeln!(specs, "{}/{name}", self.location);
            specs
        });
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("xargs runs");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(specs.as_bytes());
        }
        let status = child.wait().expect("xargs runs");
        if !status.success() {
            println!(
                "`xargs ... {}` failed: {status}",
                names.first().map_or("", String::as_str)
            );
        }
    }

    /// Removes what a failed run may have left, then the namespace.
    fn remove_everything(&self) {
        let listed = self
            .rbd(&["ls", "--pool", &self.pool, "--namespace", &self.namespace])
            .unwrap_or_default();
        let images: Vec<String> = listed.lines().map(str::to_owned).collect();
        for image in &images {
            let _ = self.rbd(&["flatten", "--no-progress", &format!("{}/{image}", self.location)]);
        }
        for image in &images {
            let _ = self.rbd(&["snap", "unprotect", &format!("{}/{image}@snapshot", self.location)]);
            let _ = self.rbd(&["snap", "purge", "--no-progress", &format!("{}/{image}", self.location)]);
            let _ = self.rbd(&["rm", "--no-progress", &format!("{}/{image}", self.location)]);
        }
        match self.rbd(&[
            "namespace",
            "remove",
            "--pool",
            &self.pool,
            "--namespace",
            &self.namespace,
        ]) {
            Ok(_) => println!("removed the namespace {}", self.location),
            Err(error) => println!("could not remove the namespace {}: {error}", self.location),
        }
    }
}

fn volume(name: &str, source: VolumeSource) -> VolumeSpec {
    VolumeSpec {
        backend_name: name.to_owned(),
        properties: VolumeProperties {
            name: name.to_owned(),
            description: Some("operations bench".to_owned()),
            bootable: false,
            tags: vec!["bench".to_owned()],
            metadata: BTreeMap::new(),
        },
        size_gib: 1,
        volume_type: "bench".to_owned(),
        extra_specs: BTreeMap::new(),
        source,
    }
}

/// Runs `work` on every name, [`PARALLELISM`] at a time; the first failure is printed.
fn parallel<T, E: std::fmt::Display>(names: &[String], work: impl Fn(&str) -> Result<T, E> + Sync) {
    let next = AtomicUsize::new(0);
    let failures = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..PARALLELISM {
            scope.spawn(|| {
                while let Some(name) = names.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if let Err(error) = work(name)
                        && failures.fetch_add(1, Ordering::Relaxed) == 0
                    {
                        println!("`{name}` failed: {error}");
                    }
                }
            });
        }
    });
}

fn timed(work: impl FnOnce()) -> Duration {
    let started = Instant::now();
    work();
    started.elapsed()
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}
