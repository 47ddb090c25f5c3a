//! Benchmark: attach then detach 20 qcow2 volumes to one running domain at `--parallelism 10`
//! (two applies, each with its plan and refresh), compared in the same run with the same
//! `virsh attach-device --live --config` and `virsh detach-disk --live --config` commands in a
//! shell loop.
//!
//! Needs a libvirtd: `BLOCKFORM_BENCH_LIBVIRT_URI` (for example the one `tests/lv-up.sh`
//! writes to `$LV_DIR/uri`). Run with `cargo bench --bench attach` (it builds the release
//! binary first). Target: ≤ 1.2× the baseline's wall time.
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const VOLUMES: usize = 20;
const RUNS: usize = 3;

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("blockform-bench-attach-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

fn virsh(uri: &str, args: &[&str]) {
    let status = Command::new("virsh")
        .args(["-q", "-c", uri])
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("virsh runs");
    assert!(status.success(), "virsh {args:?}");
}

/// The same commands in a shell loop: attach each disk, then detach each.
fn baseline(uri: &str, domain: &str) -> Duration {
    let dir = fresh_dir("virsh");
    let mut script = String::from("set -e\n");
    for i in 0..VOLUMES {
        let file = dir.join(format!("v{i}.qcow2"));
        let status = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&file)
            .arg("1G")
            .status()
            .expect("qemu-img runs");
        assert!(status.success());
        let target = format!("sd{}", char::from(b'b' + u8::try_from(i).unwrap()));
        let xml = format!(
            "<disk type='file' device='disk'>\n  <driver name='qemu' type='qcow2' cache='none' discard='unmap'/>\n  <source file='{}'/>\n  <target dev='{target}' bus='scsi'/>\n  <serial>bench-{i}</serial>\n</disk>\n",
            file.display()
        );
        std::fs::write(dir.join(format!("d{i}.xml")), xml).unwrap();
    }
    let _ = writeln!(script, "for i in $(seq 0 {}); do", VOLUMES - 1);
    let _ = writeln!(
        script,
        "  virsh -q -c \"$URI\" attach-device \"$DOM\" d$i.xml --live --config >/dev/null"
    );
    script.push_str("done\n");
    script.push_str("for t in $(virsh -q -c \"$URI\" domblklist \"$DOM\" | awk '{print $1}'); do\n");
    script.push_str("  virsh -q -c \"$URI\" detach-disk \"$DOM\" $t --live --config >/dev/null\n");
    script.push_str("done\n");
    let start = Instant::now();
    let status = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("URI", uri)
        .env("DOM", domain)
        .current_dir(&dir)
        .status()
        .expect("bash runs");
    let elapsed = start.elapsed();
    assert!(status.success(), "the shell loop attaches and detaches");
    let _ = std::fs::remove_dir_all(&dir);
    elapsed
}

fn apply(binary: &Path, dir: &Path, extra: &[&str]) -> Duration {
    let start = Instant::now();
    let status = Command::new(binary)
        .args(["apply", "--auto-approve", "--parallelism", "10"])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .expect("blockform runs");
    let elapsed = start.elapsed();
    assert!(status.success(), "the apply succeeds");
    elapsed
}

/// blockform: the volumes exist; one apply attaches all of them, the next detaches all.
fn blockform(binary: &Path, uri: &str, domain: &str) -> Duration {
    let dir = fresh_dir("blockform");
    let volumes = format!(
        "provider \"local\" \"dev\" {{\n  path = \"./volumes\"\n}}\n\nprovider \"libvirt\" \"kvm1\" {{\n  uri = \"{uri}\"\n}}\n\n\
         resource \"volume_type\" \"std\" {{\n  backend = \"dev\"\n}}\n\n\
         resource \"volume\" \"v\" {{\n  count = {VOLUMES}\n  type  = volume_type.std.id\n  size  = 1\n}}\n"
    );
    let attachments = format!(
        "\nresource \"attachment\" \"a\" {{\n  count    = {VOLUMES}\n  volume   = volume.v[count.index].id\n  instance = \"{domain}\"\n  host     = \"kvm1\"\n  bus      = \"scsi\"\n}}\n"
    );
    std::fs::write(dir.join("main.hcl"), &volumes).unwrap();
    apply(binary, &dir, &[]);
    std::fs::write(dir.join("main.hcl"), format!("{volumes}{attachments}")).unwrap();
    let attach = apply(binary, &dir, &[]);
    std::fs::write(dir.join("main.hcl"), &volumes).unwrap();
    let detach = apply(binary, &dir, &[]);
    let _ = Command::new(binary)
        .args(["destroy", "--auto-approve", "--allow-data-loss"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(&dir);
    attach + detach
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let Ok(uri) = std::env::var("BLOCKFORM_BENCH_LIBVIRT_URI") else {
        println!(
            "attach benchmark skipped: set BLOCKFORM_BENCH_LIBVIRT_URI to a libvirtd's URI (tests/lv-up.sh starts one)"
        );
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let built = Command::new("cargo")
        .args(["build", "--release", "--quiet", "--bin", "blockform"])
        .current_dir(&root)
        .status();
    assert!(built.is_ok_and(|s| s.success()), "the release binary builds");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let binary = target.join("release/blockform");

    // One domain without a guest OS (SCSI disks detach without a guest), for both sides.
    let domain = format!("bench-attach-{}", std::process::id());
    let work = fresh_dir("domain");
    let xml = Command::new("bash")
        .arg(root.join("tests/mkdom.sh"))
        .arg(&domain)
        .env("WORK", &work)
        .output()
        .expect("mkdom.sh runs");
    std::fs::write(work.join("domain.xml"), &xml.stdout).unwrap();
    virsh(&uri, &["define", &work.join("domain.xml").display().to_string()]);
    virsh(&uri, &["start", &domain]);

    let (mut base, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        base.push(baseline(&uri, &domain));
        ours.push(blockform(&binary, &uri, &domain));
    }
    virsh(&uri, &["destroy", &domain]);
    virsh(&uri, &["undefine", &domain]);
    let _ = std::fs::remove_dir_all(&work);
    let (base, ours) = (median(base), median(ours));
    println!(
        "baseline  virsh attach-device + detach-disk ×{VOLUMES} in a shell loop: {:>7.1} ms (median of {RUNS})",
        base.as_secs_f64() * 1e3
    );
    println!(
        "blockform apply (attach) + apply (detach), {VOLUMES} volumes, parallelism 10: {:>7.1} ms (median of {RUNS})",
        ours.as_secs_f64() * 1e3
    );
    println!(
        "ratio: {:.2}x (target <= 1.2x)",
        ours.as_secs_f64() / base.as_secs_f64()
    );
}
