//! How long the LVM provider takes to refresh 1,000 volumes: one `lvs --reportformat json` of
//! the volume group, read and matched in this process. In the same run, for comparison: the
//! bare `lvs` of the group through the same ssh master (the floor), and one `lvs VG/LV` per
//! volume (what a provider without a group listing would do; measured on 20 volumes and scaled
//! to 1,000).
//!
//! The 1,000 volumes are linear 4 MiB LVs made with one `lvm` shell on the host (activation
//! off), carrying a blockform record in their tags like the volumes blockform makes, and
//! removed at the end. Needs an LVM host (see `support`); `BLOCKFORM_BENCH_VOLUMES` (default
//! 1000) and `BLOCKFORM_BENCH_RUNS` (default 5; medians) change the sizes.
//!
//!     cargo bench -p blockform-provider-lvm --bench refresh

#![expect(clippy::print_stdout, reason = "a bench binary prints its figures")]

mod support;

use std::time::{Duration, Instant};

use blockform_provider::{OwnershipRecord, StorageProvider, VolumeProperties};
use blockform_provider_lvm::record;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let Some(config) = support::config() else { return };
    let volumes = env_number("BLOCKFORM_BENCH_VOLUMES", 1000);
    let runs = env_number("BLOCKFORM_BENCH_RUNS", 5).max(1);
    let run = std::process::id();
    let names: Vec<String> = (0..volumes).map(|i| format!("bench-{run}-{i:05}")).collect();
    let vg = config.volume_group.clone();

    // One lvm shell makes every LV (an `lvcreate` process per LV would take minutes here).
    let record = OwnershipRecord::owned(
        VolumeProperties {
            name: "bench".into(),
            description: Some("refresh bench".into()),
            ..VolumeProperties::default()
        },
        Some("thick".into()),
    );
    let tags: String = record::all_tags(&record).iter().fold(String::new(), |mut words, tag| {
        words.push_str(" --addtag ");
        words.push_str(tag);
        words
    });
    let script = format!(
        "i=0; while [ $i -lt {volumes} ]; do printf 'lvcreate -q -q -an -Zn -L 4m -n bench-{run}-%05d{tags} {vg}\\n' $i; \
         i=$((i+1)); done | lvm >/dev/null"
    );
    let made = support::ssh_script(&config, &script);
    println!("setup: {volumes} LVs made in {:.1} s", made.as_secs_f64());

    let provider = support::provider(&config);
    provider.refresh(&names[..1]).unwrap();
    let mut refresh = Vec::new();
    let mut bare = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let states = provider.refresh(&names).unwrap();
        refresh.push(started.elapsed());
        assert_eq!(states.len(), volumes);
        let started = Instant::now();
        let output = provider
            .run_on_host(&[
                "lvs",
                "--reportformat",
                "json",
                "--units",
                "b",
                "--nosuffix",
                "-o",
                blockform_provider_lvm::report::LV_FIELDS,
                &vg,
            ])
            .unwrap();
        bare.push(started.elapsed());
        assert!(output.success());
    }
    let sample = names.len().min(20);
    let started = Instant::now();
    for name in &names[..sample] {
        let path = format!("{vg}/{name}");
        assert!(
            provider
                .run_on_host(&["lvs", "--reportformat", "json", &path])
                .unwrap()
                .success()
        );
    }
    #[expect(clippy::cast_precision_loss, reason = "counts for a scale factor")]
    let per_volume = started.elapsed().as_secs_f64() / sample as f64 * volumes as f64;

    let (refresh, bare) = (median(refresh), median(bare));
    println!("refresh of {volumes} volumes (one lvs of the group), median of {runs}:");
    println!("  provider refresh            {:>9.1} ms", support::ms(refresh));
    println!(
        "  bare lvs of the group       {:>9.1} ms   (baseline: the same listing, not parsed)",
        support::ms(bare)
    );
    println!(
        "  one lvs per volume          {:>9.1} ms   (baseline: {sample} measured, scaled to {volumes})",
        per_volume * 1000.0
    );
    println!(
        "  refresh / bare lvs          {:>9.2}x",
        refresh.as_secs_f64() / bare.as_secs_f64()
    );
    drop(provider);
    let removed = support::ssh_script(
        &config,
        &format!("lvremove -q -q -y -S 'lv_name=~^bench-{run}-' {vg} >/dev/null"),
    );
    println!("cleanup: removed in {:.1} s", removed.as_secs_f64());
}
