//! How long the LVM provider takes to refresh 1,000 volumes: one `lvs --reportformat json` of
//! the volume group, read and matched in this process. In the same run, for comparison: the
//! bare `lvs` of the group through the same ssh master (the floor), and one `lvs VG/LV` per
//! volume (what a provider without a group listing would do; measured on 20 volumes and scaled
//! to 1,000).
//!
//! The 1,000 volumes are linear 4 MiB LVs written into the volume group's metadata at once
//! (`vgcfgbackup`, the LVs added to the text, `vgcfgrestore --force`: an `lvcreate` each
//! rewrites the whole metadata and takes seconds on the TCG guest once there are hundreds),
//! not activated, every other one carrying a blockform record in its tags like the volumes
//! blockform makes (the default 1 MiB metadata area holds about 900 records next to their LVs);
//! the metadata from before is restored at the end. Needs an LVM host with a single PV (the
//! test guest; see `support`); `BLOCKFORM_BENCH_VOLUMES` (default 1000) and
//! `BLOCKFORM_BENCH_RUNS` (default 5; medians) change the sizes.
//!
//!     cargo bench -p blockform-provider-lvm --bench refresh

#![expect(clippy::print_stdout, reason = "a bench binary prints its figures")]

mod support;

use std::fmt::Write as _;
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

    // The LVs go into the metadata text at once, on the free extents at the end of the PV.
    let record = OwnershipRecord::owned(
        VolumeProperties {
            name: "bench".into(),
            description: Some("refresh bench".into()),
            ..VolumeProperties::default()
        },
        Some("thick".into()),
    );
    let tags = record::all_tags(&record)
        .iter()
        .map(|tag| format!("\"{tag}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let backup = format!("/tmp/blockform-bench-{run}.vg");
    let probe = support::provider(&config);
    assert!(
        probe
            .run_on_host(&["vgcfgbackup", "-q", "-f", &backup, &vg])
            .unwrap()
            .success()
    );
    let text = String::from_utf8(probe.run_on_host(&["cat", &backup]).unwrap().stdout).unwrap();
    let segments = String::from_utf8(
        probe
            .run_on_host(&[
                "pvs",
                "--segments",
                "--noheadings",
                "-o",
                "pvseg_start,pvseg_size,lv_name",
                "-S",
                &format!("vg_name={vg}"),
            ])
            .unwrap()
            .stdout,
    )
    .unwrap();
    drop(probe);
    let (first_free, free) = segments
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            (words.len() == 2).then(|| (words[0].parse::<usize>().unwrap(), words[1].parse::<usize>().unwrap()))
        })
        .max_by_key(|(_, size)| *size)
        .expect("free extents on the PV");
    assert!(
        free >= volumes,
        "the PV has {free} free extents for {volumes} LVs of one extent"
    );
    let mut added = String::new();
    for (i, name) in names.iter().enumerate() {
        let id = lv_id(run, i);
        let extent = first_free + i;
        // Every other LV carries a record: the default metadata area (1 MiB, half of it usable)
        // does not hold 1,000 records of about 250 bytes next to the LVs themselves.
        let lv_tags = if i % 2 == 0 { tags.as_str() } else { "" };
        let _ = write!(
            added,
            "\t\t{name} {{\n\t\t\tid = \"{id}\"\n\t\t\tstatus = [\"READ\", \"WRITE\", \"VISIBLE\"]\n\t\t\tflags = []\n\t\t\t\
             tags = [{lv_tags}]\n\t\t\tcreation_time = 1796500000\n\t\t\tcreation_host = \"bench\"\n\t\t\tsegment_count = 1\n\n\t\t\t\
             segment1 {{\n\t\t\t\tstart_extent = 0\n\t\t\t\textent_count = 1\n\n\t\t\t\ttype = \"striped\"\n\t\t\t\t\
             stripe_count = 1\n\n\t\t\t\tstripes = [\n\t\t\t\t\t\"pv0\", {extent}\n\t\t\t\t]\n\t\t\t}}\n\t\t}}\n"
        );
    }
    let marker = "\tlogical_volumes {\n";
    let at = text.find(marker).expect("a logical_volumes section") + marker.len();
    let edited = format!("{}{added}{}", &text[..at], &text[at..]);
    let made = support::ssh_script_with_input(
        &config,
        &format!("cat > {backup}.new && lvm vgcfgrestore -q -y --force -f {backup}.new {vg} >/dev/null"),
        edited.as_bytes(),
    );
    println!(
        "setup: {volumes} LVs written into the metadata in {:.1} s",
        made.as_secs_f64()
    );

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
    let restored = support::ssh_script(
        &config,
        &format!("lvm vgcfgrestore -q -y --force -f {backup} {vg} >/dev/null && rm -f {backup} {backup}.new"),
    );
    println!(
        "cleanup: the metadata from before restored in {:.1} s",
        restored.as_secs_f64()
    );
}

/// An LV id as LVM writes them (`xxxxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxxxx`), unique per run and
/// index.
fn lv_id(run: u32, index: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut state = (u64::from(run) << 32) ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5bd1_e995;
    let mut chars = String::new();
    for group in [6, 4, 4, 4, 4, 4, 6] {
        if !chars.is_empty() {
            chars.push('-');
        }
        for _ in 0..group {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chars.push(char::from(ALPHABET[usize::try_from(state % 62).unwrap_or(0)]));
        }
    }
    chars
}
