//! How fast the LVM provider creates volumes, against the `lvcreate`s a shell script would
//! run for the same result, in the same run: N thin volumes of 1 GiB made by the provider with
//! 10 at a time (blockform's `--parallelism 10`) over its one ssh master connection, against
//! a shell loop of the same N `lvcreate`s (with the same tags) run on the host over one ssh
//! connection. LVM takes the volume group's lock for each change, so creates on one group
//! run one after the other whatever the parallelism: the figure to watch is the time per LV.
//!
//! Also: an incremental backup of a thin volume with 5 % of it changed in scattered 64 KiB
//! writes: the bytes read over the wire against the bytes changed.
//!
//! Needs an LVM host (see `support`). `BLOCKFORM_BENCH_VOLUMES` (default 50) changes N.
//!
//!     cargo bench -p blockform-provider-lvm --bench operations

#![expect(clippy::print_stdout, reason = "a bench binary prints its figures")]

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use blockform_provider::{
    ChangeMarker, OwnershipRecord, ReadTarget, StorageProvider, VolumeProperties, VolumeSource, VolumeSpec,
};
use blockform_provider_lvm::record;

const PARALLELISM: usize = 10;

fn spec(name: &str) -> VolumeSpec {
    VolumeSpec {
        backend_name: name.to_owned(),
        properties: VolumeProperties {
            name: name.to_owned(),
            ..VolumeProperties::default()
        },
        size_gib: 1,
        volume_type: "thin".into(),
        extra_specs: BTreeMap::new(),
        source: VolumeSource::Empty,
    }
}

fn main() {
    let Some(config) = support::config() else { return };
    let volumes: usize = std::env::var("BLOCKFORM_BENCH_VOLUMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let run = std::process::id();
    let vg = config.volume_group.clone();
    let pool = config.thin_pool.clone().unwrap_or_else(|| "pool".to_owned());

    // The provider, 10 at a time, as an apply with --parallelism 10 calls it (after its
    // refresh, which is where the listing the creates start from comes from).
    let provider = support::provider(&config);
    provider.refresh(&[]).unwrap();
    let names: Vec<String> = (0..volumes).map(|i| format!("volume-bench-{run}-{i:04}")).collect();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..PARALLELISM {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = names.get(i) else { break };
                    provider.create_volume(&spec(name)).unwrap();
                }
            });
        }
    });
    let provider_time = started.elapsed();

    // The same LVs, tags included, by a shell loop over one ssh connection.
    let record = OwnershipRecord::owned(spec("x").properties, Some("thin".into()));
    let tags: String = record::all_tags(&record).iter().fold(String::new(), |mut words, tag| {
        words.push_str(" --addtag ");
        words.push_str(tag);
        words
    });
    let script = format!(
        "i=0; while [ $i -lt {volumes} ]; do lvcreate -q -q -V 1g --thinpool {vg}/{pool} -n shell-{run}-$i{tags} >/dev/null \
         || exit 1; i=$((i+1)); done"
    );
    let shell_time = support::ssh_script(&config, &script);

    #[expect(clippy::cast_precision_loss, reason = "a count for a per-LV figure")]
    let per = |duration: std::time::Duration| support::ms(duration) / volumes as f64;
    println!("create {volumes} thin volumes of 1 GiB:");
    println!(
        "  provider, 10 at a time, one ssh master   {:>8.1} ms per LV  ({:.1} s)",
        per(provider_time),
        provider_time.as_secs_f64()
    );
    println!(
        "  shell loop of lvcreate, one ssh session  {:>8.1} ms per LV  ({:.1} s)   (baseline)",
        per(shell_time),
        shell_time.as_secs_f64()
    );
    println!(
        "  provider / shell loop                    {:>8.2}x  (target at most 1.2x)",
        provider_time.as_secs_f64() / shell_time.as_secs_f64()
    );

    // An incremental backup's read of a thin volume with 5 % changed, scattered.
    let volume = &names[0];
    let size = 1_u64 << 30;
    let chunk = 64_usize << 10;
    let writes = usize::try_from(size / 20).unwrap() / chunk;
    let marker = provider
        .create_change_marker(volume, &format!("blockform-bench-{run}-a"))
        .unwrap();
    let mut volume_writer = provider.open_writer(volume).unwrap();
    let data = vec![0x5a_u8; chunk];
    // Writes on 64 KiB boundaries, the pool's chunk size: one that straddles two chunks
    // changes both.
    let stride = size / writes as u64 / chunk as u64 * chunk as u64;
    for i in 0..writes as u64 {
        volume_writer.write_all_at(i * stride, &data).unwrap();
    }
    volume_writer.finish().unwrap();
    let ChangeMarker::Snapshot { backend_name: now } = provider
        .create_change_marker(volume, &format!("blockform-bench-{run}-b"))
        .unwrap()
    else {
        unreachable!("the LVM provider's markers are snapshots")
    };
    let target = ReadTarget::snapshot(volume.as_str(), now.as_str());
    let started = Instant::now();
    let changed = provider.changed_extents(&target, Some(&marker)).unwrap();
    let delta_time = started.elapsed();
    let mut reader = provider.open_reader(&target).unwrap();
    let started = Instant::now();
    let mut read = 0_u64;
    for extent in &changed.extents {
        let mut buf = vec![0_u8; usize::try_from(extent.length).unwrap()];
        reader.read_exact_at(extent.offset, &mut buf).unwrap();
        read += extent.length;
    }
    let read_time = started.elapsed();
    drop(reader);
    let written = (writes * chunk) as u64;
    #[expect(clippy::cast_precision_loss, reason = "byte counts for display")]
    let (read_mib, written_mib) = (read as f64 / f64::from(1 << 20), written as f64 / f64::from(1 << 20));
    let ratio = read_mib / written_mib;
    println!("incremental backup read of a 1 GiB thin volume with 5 % changed ({writes} scattered 64 KiB writes):");
    println!(
        "  thin_delta ({})          {:>8.1} ms",
        changed.source,
        support::ms(delta_time)
    );
    println!(
        "  read over the wire        {:>8.1} MiB in {:.1} s, {:.2}x the {:.1} MiB changed (target at most 1.2x)",
        read_mib,
        read_time.as_secs_f64(),
        ratio,
        written_mib
    );

    drop(provider);
    for prefix in [
        format!("blockform-bench-{run}-"),
        format!("volume-bench-{run}-"),
        format!("shell-{run}-"),
    ] {
        support::ssh_script(
            &config,
            &format!("lvremove -q -q -y -S 'lv_name=~^{prefix}' {vg} >/dev/null"),
        );
    }
}
