//! Issue 16: attachments through a real, private libvirtd (`tests/lv-up.sh`, which `tests/run`
//! starts and names in `BLOCKFORM_TEST_LIBVIRT_URI`). Each test defines and starts domains of
//! its own (`tests/mkdom.sh`: no guest OS, SCSI disks detach without one) and destroys them at
//! the end. What is asserted is what libvirt itself reports (`domblklist`, `dumpxml`,
//! `blkdeviotune`) and what a person sees from blockform. Named `libvirt_*` for `tests/run`'s
//! second pass; ignored under plain `cargo test`.
//!
//! The refusal of a volume the hypervisor cannot reach needs no libvirtd (the plan decides it
//! from the providers' blocks) and runs in every pass.

use std::path::Path;
use std::process::Command;

use crate::common::{Run, TempDir, blockform, blockform_env, project, state_record};

/// The private libvirtd's URI.
fn uri() -> String {
    std::env::var("BLOCKFORM_TEST_LIBVIRT_URI")
        .expect("BLOCKFORM_TEST_LIBVIRT_URI names the test libvirtd; tests/run starts one (tests/lv-up.sh) and sets it")
}

fn virsh(args: &[&str]) -> (i32, String) {
    let output = Command::new("virsh")
        .args(["-q", "-c", &uri()])
        .args(args)
        .output()
        .expect("virsh runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// A running domain without a guest OS, this test's alone; destroyed and undefined on drop.
struct Domain {
    name: String,
    work: TempDir,
}

impl Domain {
    fn start(label: &str) -> Domain {
        Self::start_with(label, &[])
    }

    /// A running domain with the tiny Linux guest of `tests/mkguest.sh` (from
    /// `BLOCKFORM_TEST_LIBVIRT_GUEST_DIR`), once the guest says it is ready.
    fn start_linux(label: &str) -> Domain {
        let guest = std::env::var("BLOCKFORM_TEST_LIBVIRT_GUEST_DIR")
            .expect("BLOCKFORM_TEST_LIBVIRT_GUEST_DIR holds the guest of tests/mkguest.sh; tests/run builds it");
        let domain = Self::start_with(label, &[("LINUX", "1"), ("GUEST_DIR", &guest)]);
        let started = std::time::Instant::now();
        while !domain.console().contains("GUEST READY") {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(180),
                "the guest did not boot: {}",
                domain.console()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        domain
    }

    /// What the guest wrote to its serial console.
    fn console(&self) -> String {
        std::fs::read_to_string(self.work.path().join(format!("{}.serial", self.name))).unwrap_or_default()
    }

    fn start_with(label: &str, env: &[(&str, &str)]) -> Domain {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let work = TempDir::new();
        let xml = Command::new("bash")
            .arg(crate::common::root().join("tests/mkdom.sh"))
            .arg(&name)
            .env("WORK", work.path())
            .envs(env.iter().copied())
            .output()
            .expect("mkdom.sh runs");
        let file = work.path().join("domain.xml");
        std::fs::write(&file, &xml.stdout).unwrap();
        let (code, text) = virsh(&["define", &file.display().to_string()]);
        assert_eq!(code, 0, "{text}");
        let (code, text) = virsh(&["start", &name]);
        assert_eq!(code, 0, "{text}");
        Domain { name, work }
    }

    /// The domain's disks as `domblklist` lists them: (target, source).
    fn disks(&self) -> Vec<(String, String)> {
        let (code, text) = virsh(&["domblklist", &self.name]);
        assert_eq!(code, 0, "{text}");
        text.lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                Some((words.next()?.to_owned(), words.next()?.to_owned()))
            })
            .collect()
    }

    /// The disks of the persistent definition: (target, source).
    fn defined_disks(&self) -> Vec<(String, String)> {
        let (code, text) = virsh(&["domblklist", &self.name, "--inactive"]);
        assert_eq!(code, 0, "{text}");
        text.lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                Some((words.next()?.to_owned(), words.next()?.to_owned()))
            })
            .collect()
    }

    /// Writes `pattern` over the first MiB of the disk at `device` through the domain's own
    /// QEMU (HMP `qemu-io` on the disk's device alias), as a guest writes to an attached disk.
    fn write_through_qemu(&self, device: &str, pattern: u8) {
        let (code, xml) = virsh(&["dumpxml", &self.name]);
        assert_eq!(code, 0, "{xml}");
        let document = roxmltree::Document::parse(&xml).unwrap();
        let alias = document
            .descendants()
            .filter(|node| node.has_tag_name("disk"))
            .find(|disk| {
                disk.children()
                    .any(|child| child.has_tag_name("target") && child.attribute("dev") == Some(device))
            })
            .and_then(|disk| disk.children().find(|child| child.has_tag_name("alias")))
            .and_then(|alias| alias.attribute("name"))
            .unwrap_or_else(|| panic!("no alias for `{device}` in {xml}"))
            .to_owned();
        let command = format!("qemu-io -d {alias} \"write -P {pattern:#x} 0 1M\"");
        // qemu-io reports to the domain's log, not to the monitor: what it wrote is checked
        // where it matters (in what the backups restore).
        let (code, text) = virsh(&["qemu-monitor-command", &self.name, "--hmp", &command]);
        assert_eq!(code, 0, "{command}: {text}");
        assert!(text.trim().is_empty(), "{command}: {text}");
    }

    /// One limit of a disk as `blkdeviotune` reads it from the running domain.
    fn limit(&self, device: &str, key: &str) -> u64 {
        let (code, text) = virsh(&["blkdeviotune", &self.name, device]);
        assert_eq!(code, 0, "{text}");
        text.lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                (name.trim() == key).then(|| value.trim().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no `{key}` in {text}"))
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        let _ = virsh(&["destroy", &self.name]);
        let _ = virsh(&["undefine", &self.name]);
    }
}

fn ok(dir: &Path, args: &[&str]) -> Run {
    let run = blockform(dir, args);
    assert_eq!(run.code, 0, "{args:?}:\n{}\n{}", run.stdout, run.stderr);
    run
}

fn config(domain: &str, attachments: &str) -> String {
    format!(
        r#"
provider "local" "dev" {{
  path = "./volumes"
}}

provider "libvirt" "kvm1" {{
  uri            = "{uri}"
  detach_timeout = "3s"
}}

resource "qos" "guest" {{
  consumer = "front-end"
  specs = {{
    total_iops_sec     = 500
    total_iops_sec_max = 1000
    read_bytes_sec     = 10485760
  }}
}}

resource "volume_type" "limited" {{
  backend = "dev"
  qos     = qos.guest.id
}}

resource "volume_type" "plain" {{
  backend = "dev"
}}

resource "volume" "data" {{
  type = volume_type.limited.id
  size = 1
}}

resource "volume" "logs" {{
  type = volume_type.plain.id
  size = 1
}}

locals {{
  domain = "{domain}"
}}
{attachments}"#,
        uri = uri()
    )
}

const TWO_ON_SCSI: &str = r#"
resource "attachment" "data" {
  volume   = volume.data.id
  instance = local.domain
  host     = "kvm1"
  bus      = "scsi"
}

resource "attachment" "logs" {
  volume   = volume.logs.id
  instance = local.domain
  host     = "kvm1"
  bus      = "scsi"
  device   = "sdc"
}
"#;

/// `volume.data` attached on the default bus (virtio), its device chosen by blockform.
const VIRTIO_DATA: &str = r#"
resource "attachment" "data" {
  volume   = volume.data.id
  instance = local.domain
  host     = "kvm1"
}
"#;

fn volume_file(dir: &Path, address: &str) -> String {
    let id = crate::common::backend_id(dir, address);
    dir.join("volumes").join(format!("{id}.qcow2")).display().to_string()
}

#[test]
#[ignore = "needs a libvirtd: tests/run starts one"]
fn libvirt_attach_records_device_serial_and_limits_and_destroy_detaches_before_deleting() {
    let domain = Domain::start("attach");
    let dir = project(&[("main.hcl", &config(&domain.name, TWO_ON_SCSI))]);
    let applied = ok(dir.path(), &["apply", "--auto-approve"]);
    assert!(
        applied.stdout.contains("attachment.data: Attached"),
        "{}",
        applied.stdout
    );

    // The device chosen for `data` is recorded; `logs` is where the configuration put it.
    let data = state_record(dir.path(), "attachment.data");
    assert_eq!(data["attributes"]["device"], "sdb", "{data}");
    let data_file = volume_file(dir.path(), "volume.data");
    let logs_file = volume_file(dir.path(), "volume.logs");
    assert_eq!(
        domain.disks(),
        [
            ("sdb".to_owned(), data_file.clone()),
            ("sdc".to_owned(), logs_file.clone())
        ]
    );
    assert_eq!(
        domain.defined_disks(),
        domain.disks(),
        "the definition has them too (live = true)"
    );

    // Serial: the volume's UUID, for /dev/disk/by-id.
    let (_, xml) = virsh(&["dumpxml", &domain.name]);
    let data_id = crate::common::backend_id(dir.path(), "volume.data");
    assert!(
        xml.contains(&format!("<serial>{}</serial>", data_id.trim_start_matches("volume-"))),
        "{xml}"
    );
    // Front-end limits of `data`'s type, read back from the running domain; none on `logs`.
    assert_eq!(domain.limit("sdb", "total_iops_sec"), 500);
    assert_eq!(domain.limit("sdb", "total_iops_sec_max"), 1000);
    assert_eq!(domain.limit("sdb", "read_bytes_sec"), 10_485_760);
    assert_eq!(domain.limit("sdc", "total_iops_sec"), 0);

    let plan = blockform(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.code, 0,
        "the next plan is empty:\n{}\n{}",
        plan.stdout, plan.stderr
    );

    // Destroy: each detach comes before its volume's delete, and nothing is left.
    let destroyed = ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
    let at = |what: &str| {
        destroyed
            .stdout
            .find(what)
            .unwrap_or_else(|| panic!("`{what}` in:\n{}", destroyed.stdout))
    };
    assert!(at("attachment.data: Detached") < at("volume.data: Destroying"));
    assert!(at("attachment.logs: Detached") < at("volume.logs: Destroying"));
    assert!(domain.disks().is_empty());
    assert!(domain.defined_disks().is_empty());
    assert!(!Path::new(&data_file).exists() && !Path::new(&logs_file).exists());
}

#[test]
#[ignore = "needs a libvirtd: tests/run starts one"]
fn libvirt_a_front_end_qos_change_is_applied_live_without_a_re_attach() {
    let domain = Domain::start("qos");
    let dir = project(&[("main.hcl", &config(&domain.name, TWO_ON_SCSI))]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(domain.limit("sdb", "total_iops_sec"), 500);
    let disks = domain.disks();

    let changed = config(&domain.name, TWO_ON_SCSI).replace("total_iops_sec     = 500", "total_iops_sec     = 300");
    std::fs::write(dir.path().join("main.hcl"), &changed).unwrap();
    let plan = blockform(dir.path(), &["plan"]);
    assert!(
        plan.stdout.contains("# qos.guest will be updated in-place"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("limits change in place"), "{}", plan.stdout);
    assert!(
        !plan.stdout.contains("attachment."),
        "no attachment changes: {}",
        plan.stdout
    );
    ok(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(domain.limit("sdb", "total_iops_sec"), 300);
    assert_eq!(domain.limit("sdb", "total_iops_sec_max"), 1000);
    assert_eq!(domain.limit("sdb", "read_bytes_sec"), 10_485_760);
    assert_eq!(domain.limit("sdc", "total_iops_sec"), 0, "`logs` has another type");
    assert_eq!(domain.disks(), disks, "the same disks, never detached");
    assert_plan_is_empty(dir.path());

    // Limits changed by hand are drift, and the next apply sets them again in place.
    let (code, text) = virsh(&[
        "blkdeviotune",
        &domain.name,
        "sdb",
        "--live",
        "--config",
        "--total-iops-sec",
        "77",
    ]);
    assert_eq!(code, 0, "{text}");
    let drift = blockform(dir.path(), &["drift", "--json"]);
    assert_eq!(drift.code, 2, "{}\n{}", drift.stdout, drift.stderr);
    let report: serde_json::Value = serde_json::from_str(&drift.stdout).unwrap();
    assert_eq!(report["changed"][0]["address"], "attachment.data", "{report}");
    assert_eq!(
        report["changed"][0]["attributes"][0]["real"]["total_iops_sec"], 77,
        "{report}"
    );
    let plan = blockform(dir.path(), &["plan"]);
    assert!(
        plan.stdout.contains("# attachment.data will be updated in-place"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("they are set again in place"), "{}", plan.stdout);
    ok(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(domain.limit("sdb", "total_iops_sec"), 300);
    assert_eq!(domain.disks(), disks);
    assert_plan_is_empty(dir.path());

    // A retype of an attached volume to a type with a front-end rule sets the rule's limits on
    // its disk in the same apply (and back to none), again without a re-attach.
    let retyped = changed.replace(
        "resource \"volume\" \"logs\" {\n  type = volume_type.plain.id",
        "resource \"volume\" \"logs\" {\n  type = volume_type.limited.id",
    );
    assert_ne!(retyped, changed);
    for (text, iops) in [(&retyped, 300), (&changed, 0)] {
        std::fs::write(dir.path().join("main.hcl"), text).unwrap();
        let plan = blockform(dir.path(), &["plan"]);
        assert!(
            words(&plan.stdout).contains(
                "`volume.logs` is attached: its disk takes the front-end limits of the new type's rule in place"
            ),
            "{}",
            plan.stdout
        );
        ok(dir.path(), &["apply", "--auto-approve"]);
        assert_eq!(domain.limit("sdc", "total_iops_sec"), iops);
        assert_eq!(domain.disks(), disks);
        let plan = blockform(dir.path(), &["plan", "--detailed-exitcode"]);
        assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    }
    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
}

#[test]
#[ignore = "needs a libvirtd: tests/run starts one"]
fn libvirt_an_attached_qcow2_grows_through_its_domain_which_sees_the_new_size() {
    let domain = Domain::start("grow");
    let dir = project(&[("main.hcl", &config(&domain.name, TWO_ON_SCSI))]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    let capacity = |device: &str| {
        let (code, text) = virsh(&["domblkinfo", &domain.name, device]);
        assert_eq!(code, 0, "{text}");
        text.lines()
            .find_map(|line| line.strip_prefix("Capacity:").map(|v| v.trim().parse::<u64>().unwrap()))
            .unwrap()
    };
    assert_eq!(capacity("sdb"), 1 << 30);
    let grown = config(&domain.name, TWO_ON_SCSI).replacen("size = 1", "size = 2", 1);
    std::fs::write(dir.path().join("main.hcl"), grown).unwrap();
    let plan = blockform(dir.path(), &["plan"]);
    assert!(
        plan.stdout.contains("grow the file system inside the guest"),
        "{}",
        plan.stdout
    );
    ok(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(capacity("sdb"), 2 << 30, "the running domain sees the new size");
    let (_, info) = virsh(&["domblklist", &domain.name]);
    assert!(info.contains("sdb"), "still attached: {info}");
    assert_plan_is_empty(dir.path());
    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
}

#[test]
#[ignore = "needs a libvirtd: tests/run starts one"]
fn libvirt_a_snapshot_of_an_attached_qcow2_needs_force_and_is_taken_through_its_domain() {
    let domain = Domain::start("snap");
    let dir = project(&[("main.hcl", &config(&domain.name, TWO_ON_SCSI))]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    let snapshot = "\nresource \"snapshot\" \"before\" {\n  volume = volume.data.id\n}\n";
    write_config(dir.path(), &domain, snapshot);
    let refused = blockform(dir.path(), &["plan"]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        words(&refused.stderr).contains("is attached; snapshotting needs `force = true`"),
        "{}",
        refused.stderr
    );

    let forced = snapshot.replace("volume.data.id\n", "volume.data.id\n  force  = true\n");
    write_config(dir.path(), &domain, &forced);
    ok(dir.path(), &["apply", "--auto-approve"]);
    // In the image, under its id, while the domain still runs with the disk.
    let id = crate::common::backend_id(dir.path(), "snapshot.before");
    let listed = Command::new("qemu-img")
        .args(["snapshot", "-l", "-U", &volume_file(dir.path(), "volume.data")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&id), "{listed:?}");
    assert_eq!(domain.disks().len(), 2);
    assert_plan_is_empty(dir.path());
    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
    assert!(domain.disks().is_empty());
}

/// Checks that the first MiB of the qcow2 file `image` holds `pattern` (read without its lock);
/// the error says what qemu-io found.
fn first_mib_holds(image: &str, pattern: u8) -> Result<(), String> {
    let read = Command::new("qemu-io")
        .args([
            "-r",
            "-U",
            "-f",
            "qcow2",
            "-c",
            &format!("read -P {pattern:#x} 0 1M"),
            image,
        ])
        .output()
        .unwrap();
    if read.status.success() && !String::from_utf8_lossy(&read.stdout).contains("Pattern verification failed") {
        Ok(())
    } else {
        Err(format!("{image} does not hold {pattern:#x} in its first MiB: {read:?}"))
    }
}

/// The internal snapshots of the qcow2 file `image`, by name.
fn internal_snapshots(image: &str) -> Vec<String> {
    let listed = Command::new("qemu-img")
        .args(["snapshot", "-l", "-U", image])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{listed:?}");
    String::from_utf8_lossy(&listed.stdout)
        .lines()
        .skip(2)
        .filter_map(|line| line.split_whitespace().nth(1).map(str::to_owned))
        .collect()
}

/// Writes the configuration with the two SCSI attachments to `domain` and `extra` blocks.
fn write_config(dir: &Path, domain: &Domain, extra: &str) {
    std::fs::write(
        dir.join("main.hcl"),
        config(&domain.name, &format!("{TWO_ON_SCSI}{extra}")),
    )
    .unwrap();
}

/// Runs an apply that is killed right after a domain's QEMU took an internal snapshot.
fn apply_killed_after_disk_snapshot(dir: &Path) {
    let killed = blockform_env(
        dir,
        &["apply", "--auto-approve"],
        &[("BLOCKFORM_LIBVIRT_FAULT", "abort-after:disk-snapshot")],
    );
    assert_eq!(killed.code, -1, "{}\n{}", killed.stdout, killed.stderr);
}

/// The next plan changes nothing.
fn assert_plan_is_empty(dir: &Path) {
    let plan = blockform(dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
}

#[test]
#[ignore = "needs a libvirtd: tests/run starts one"]
fn libvirt_a_forced_backup_of_an_attached_qcow2_is_taken_through_its_domain_at_one_point_in_time() {
    let domain = Domain::start("backup");
    let store = "\nbackup_store \"dir\" \"nas\" {\n  path = \"./backups\"\n}\n";
    let backup = |name: &str, mode: &str| {
        format!(
            "\nresource \"backup\" \"{name}\" {{\n  volume = volume.data.id\n  store  = \"nas\"\n  mode   = \"{mode}\"\n  force  = true\n}}\n"
        )
    };
    let dir = project(&[("main.hcl", &config(&domain.name, &format!("{TWO_ON_SCSI}{store}")))]);
    let set = |extra: &str| write_config(dir.path(), &domain, &format!("{store}{extra}"));
    ok(dir.path(), &["apply", "--auto-approve"]);
    let image = volume_file(dir.path(), "volume.data");

    // The domain writes, a full backup is taken while it holds the image, then it writes again
    // and an incremental follows, all without a detach.
    domain.write_through_qemu("sdb", 0x11);
    let full = backup("full", "full");
    set(&full);
    let run = ok(dir.path(), &["apply", "--auto-approve"]);
    assert!(run.stdout.contains("backup.full: Backed up"), "{}", run.stdout);
    domain.write_through_qemu("sdb", 0x22);
    let next = format!("{full}{}", backup("next", "incremental"));
    set(&next);
    ok(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(domain.disks().len(), 2, "never detached");

    // Each backup holds the volume as it was when it was taken.
    let restored = "\nresource \"volume\" \"from_full\" {\n  type   = volume_type.plain.id\n  size   = 1\n  source = { backup = backup.full.id }\n}\n\nresource \"volume\" \"from_next\" {\n  type   = volume_type.plain.id\n  size   = 1\n  source = { backup = backup.next.id }\n}\n";
    set(&format!("{next}{restored}"));
    ok(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(
        first_mib_holds(&volume_file(dir.path(), "volume.from_full"), 0x11),
        Ok(())
    );
    assert_eq!(
        first_mib_holds(&volume_file(dir.path(), "volume.from_next"), 0x22),
        Ok(())
    );

    // Only the newest backup's marker stays in the image (the full's went through the domain),
    // and it is not a snapshot of the volume's: the next plan is empty.
    let next_id = crate::common::backend_id(dir.path(), "backup.next");
    assert_eq!(internal_snapshots(&image), [format!("blockform-{next_id}")]);
    assert_plan_is_empty(dir.path());

    // The marker goes with its volume.
    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
    assert!(domain.disks().is_empty());
    let left: Vec<_> = std::fs::read_dir(dir.path().join("volumes"))
        .unwrap()
        .flatten()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
#[ignore = "needs a libvirtd: tests/run starts one"]
fn libvirt_a_backup_through_a_domain_killed_after_its_marker_leaves_no_snapshot_behind() {
    let domain = Domain::start("backup-kill");
    let store = "\nbackup_store \"dir\" \"nas\" {\n  path = \"./backups\"\n}\n";
    let dir = project(&[("main.hcl", &config(&domain.name, &format!("{TWO_ON_SCSI}{store}")))]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    let image = volume_file(dir.path(), "volume.data");
    let backup = "\nresource \"backup\" \"full\" {\n  volume = volume.data.id\n  store  = \"nas\"\n  mode   = \"full\"\n  force  = true\n}\n";
    write_config(dir.path(), &domain, &format!("{store}{backup}"));
    apply_killed_after_disk_snapshot(dir.path());
    let left = internal_snapshots(&image);
    assert_eq!(left.len(), 1, "the killed run's marker: {left:?}");

    // The next run removes it through the domain (QEMU still holds the image) and takes the
    // backup again, with a marker of its own.
    let run = ok(dir.path(), &["apply", "--auto-approve"]);
    assert!(run.stdout.contains("backup.full: Backed up"), "{}", run.stdout);
    let id = crate::common::backend_id(dir.path(), "backup.full");
    assert_eq!(
        internal_snapshots(&image),
        [format!("blockform-{id}")],
        "the killed run left {left:?}"
    );
    assert_eq!(domain.disks().len(), 2);
    assert_plan_is_empty(dir.path());
    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
}

#[test]
#[ignore = "needs a libvirtd: tests/run starts one"]
fn libvirt_a_forced_image_of_an_attached_qcow2_is_read_from_a_snapshot_its_domain_takes() {
    let domain = Domain::start("image");
    let dir = project(&[("main.hcl", &config(&domain.name, TWO_ON_SCSI))]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    let image = volume_file(dir.path(), "volume.data");
    domain.write_through_qemu("sdb", 0x44);
    let forced =
        "\nresource \"image\" \"golden\" {\n  volume = volume.data.id\n  format = \"qcow2\"\n  force  = true\n}\n";
    write_config(dir.path(), &domain, forced);

    // Killed once the domain's QEMU took the snapshot the image is read from: the next run
    // removes it through the domain and makes the image.
    apply_killed_after_disk_snapshot(dir.path());
    assert_eq!(internal_snapshots(&image).len(), 1, "the killed run's snapshot");
    ok(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(internal_snapshots(&image), Vec::<String>::new());
    let record = state_record(dir.path(), "image.golden");
    let path = record["attributes"]["path"].as_str().unwrap().to_owned();
    assert_eq!(first_mib_holds(&path, 0x44), Ok(()));
    assert_eq!(domain.disks().len(), 2, "never detached");
    assert_plan_is_empty(dir.path());
    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
    assert!(!Path::new(&path).exists(), "the image goes with destroy");
}

#[test]
#[ignore = "needs a libvirtd: tests/run starts one"]
fn libvirt_deleting_an_attached_volume_with_its_attachment_detaches_first_in_one_apply() {
    let domain = Domain::start("order");
    let dir = project(&[("main.hcl", &config(&domain.name, TWO_ON_SCSI))]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    let logs_file = volume_file(dir.path(), "volume.logs");
    let only_data = r#"
resource "attachment" "data" {
  volume   = volume.data.id
  instance = local.domain
  host     = "kvm1"
  bus      = "scsi"
}
"#;
    let without_logs = config(&domain.name, only_data).replace(
        "resource \"volume\" \"logs\" {\n  type = volume_type.plain.id\n  size = 1\n}\n",
        "",
    );
    assert!(!without_logs.contains("volume\" \"logs"));
    std::fs::write(dir.path().join("main.hcl"), without_logs).unwrap();
    let applied = ok(dir.path(), &["apply", "--auto-approve", "--allow-data-loss"]);
    let detached = applied.stdout.find("attachment.logs: Detached").expect("detached");
    let deleting = applied.stdout.find("volume.logs: Destroying").expect("deleted");
    assert!(detached < deleting, "{}", applied.stdout);
    assert_eq!(domain.disks().len(), 1);
    assert!(!Path::new(&logs_file).exists());
    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
}

#[test]
#[ignore = "needs a libvirtd: tests/run starts one"]
fn libvirt_a_virtio_disk_reaches_a_linux_guest_with_its_serial_and_leaves_it_on_detach() {
    let domain = Domain::start_linux("linux");
    let dir = project(&[("main.hcl", &config(&domain.name, VIRTIO_DATA))]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(domain.disks()[0].0, "vdb");
    // The guest sees the disk, with the volume's UUID as serial (virtio-blk: 20 characters),
    // under a name of its own choosing (its first disk: `vda`), which is why the serial is set.
    let uuid = crate::common::backend_id(dir.path(), "volume.data")
        .trim_start_matches("volume-")
        .to_owned();
    let seen = format!("DISK ADD vda serial={}", &uuid[..20]);
    let started = std::time::Instant::now();
    while !domain.console().contains(&seen) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "`{seen}` not in {}",
            domain.console()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Detached live: the guest acknowledges the unplug and blockform waits for it.
    std::fs::write(dir.path().join("main.hcl"), config(&domain.name, "")).unwrap();
    ok(dir.path(), &["apply", "--auto-approve"]);
    assert!(domain.disks().is_empty());
    assert!(domain.defined_disks().is_empty());
    assert!(domain.console().contains("DISK REMOVE vda"), "{}", domain.console());
    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
}

#[test]
#[ignore = "needs a libvirtd: tests/run starts one"]
fn libvirt_live_false_attaches_to_the_definition_only_and_read_only_reaches_the_xml() {
    let domain = Domain::start("config");
    let cold = r#"
resource "attachment" "data" {
  volume    = volume.data.id
  instance  = local.domain
  host      = "kvm1"
  bus       = "scsi"
  live      = false
  read_only = true
}
"#;
    let dir = project(&[("main.hcl", &config(&domain.name, cold))]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    assert!(domain.disks().is_empty(), "the running domain does not get it");
    assert_eq!(domain.defined_disks().len(), 1, "its definition does");
    let (_, xml) = virsh(&["dumpxml", "--inactive", &domain.name]);
    assert!(xml.contains("<readonly/>"), "{xml}");
    assert_plan_is_empty(dir.path());
    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
    assert!(domain.defined_disks().is_empty());
}

#[test]
#[ignore = "needs a libvirtd: tests/run starts one"]
fn libvirt_a_domain_that_disappeared_shows_its_attachments_as_deleted() {
    let domain = Domain::start("gone");
    let dir = project(&[("main.hcl", &config(&domain.name, TWO_ON_SCSI))]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    let (code, text) = virsh(&["destroy", &domain.name]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = virsh(&["undefine", &domain.name]);
    assert_eq!(code, 0, "{text}");

    let drift = blockform(dir.path(), &["drift", "--json"]);
    assert_eq!(drift.code, 2, "{}\n{}", drift.stdout, drift.stderr);
    let report: serde_json::Value = serde_json::from_str(&drift.stdout).unwrap();
    let missing: Vec<&str> = report["missing"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["address"].as_str())
        .collect();
    assert_eq!(missing, ["attachment.data", "attachment.logs"], "{report}");
    let plan = blockform(dir.path(), &["plan"]);
    assert!(
        plan.stdout.contains("# attachment.data has been deleted"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("# attachment.logs has been deleted"),
        "{}",
        plan.stdout
    );
    // Nothing holds the volumes any more: they go without a detach.
    std::fs::write(dir.path().join("main.hcl"), config(&domain.name, "")).unwrap();
    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
}

#[test]
#[ignore = "needs a libvirtd: tests/run starts one"]
fn libvirt_a_disk_detached_by_hand_shows_in_drift_and_plan_and_is_attached_again() {
    let domain = Domain::start("drift");
    let dir = project(&[("main.hcl", &config(&domain.name, TWO_ON_SCSI))]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    let (code, text) = virsh(&["detach-disk", &domain.name, "sdc", "--live", "--config"]);
    assert_eq!(code, 0, "{text}");
    // libvirt removes a SCSI disk at once, but let the unplug finish before reading.
    for _ in 0..50 {
        if domain.disks().len() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let drift = blockform(dir.path(), &["drift", "--json"]);
    assert_eq!(drift.code, 2, "{}\n{}", drift.stdout, drift.stderr);
    let report: serde_json::Value = serde_json::from_str(&drift.stdout).unwrap();
    assert_eq!(report["missing"][0]["address"], "attachment.logs", "{report}");
    assert_eq!(report["missing"].as_array().unwrap().len(), 1, "{report}");

    let plan = blockform(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}\n{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.contains("# attachment.logs has been deleted"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("# attachment.logs will be attached"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("attachment.data"), "{}", plan.stdout);

    ok(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(domain.disks().len(), 2);
    assert_plan_is_empty(dir.path());
    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
}

#[test]
#[ignore = "needs a libvirtd: tests/run starts one"]
fn libvirt_a_virtio_detach_without_a_guest_os_times_out_and_state_keeps_the_attachment() {
    let domain = Domain::start("virtio");
    let dir = project(&[("main.hcl", &config(&domain.name, VIRTIO_DATA))]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(
        state_record(dir.path(), "attachment.data")["attributes"]["device"],
        "vdb"
    );
    assert_eq!(domain.disks()[0].0, "vdb");

    // The configuration drops the attachment: the guest (none) never acknowledges the unplug.
    std::fs::write(dir.path().join("main.hcl"), config(&domain.name, "")).unwrap();
    let applied = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(applied.code, 1, "{}\n{}", applied.stdout, applied.stderr);
    let shown = format!("{}{}", applied.stdout, applied.stderr);
    assert!(
        shown.contains("did not release `vdb` within 3 s"),
        "a clear timeout error:\n{shown}"
    );
    // Not recorded as detached: the next plan still detaches it.
    assert_eq!(
        state_record(dir.path(), "attachment.data")["attributes"]["device"],
        "vdb"
    );
    let plan = blockform(dir.path(), &["plan"]);
    assert!(
        plan.stdout.contains("# attachment.data will be detached"),
        "{}",
        plan.stdout
    );
    // Stopping the domain releases the disk; the detach then completes.
    let (code, text) = virsh(&["destroy", &domain.name]);
    assert_eq!(code, 0, "{text}");
    ok(dir.path(), &["apply", "--auto-approve"]);
    assert!(domain.defined_disks().is_empty());
    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
}

#[test]
#[ignore = "needs a libvirtd: tests/run starts one"]
fn libvirt_a_volume_attached_out_of_band_is_seen_and_not_attached_elsewhere() {
    let first = Domain::start("oob-a");
    let second = Domain::start("oob-b");
    let dir = project(&[("main.hcl", &config(&first.name, ""))]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    // Someone attaches `data` to the second domain by hand.
    let data_file = volume_file(dir.path(), "volume.data");
    let (code, text) = virsh(&[
        "attach-disk",
        &second.name,
        &data_file,
        "sdb",
        "--targetbus",
        "scsi",
        "--subdriver",
        "qcow2",
        "--live",
    ]);
    assert_eq!(code, 0, "{text}");

    let drift = blockform(dir.path(), &["drift", "--json"]);
    assert_eq!(drift.code, 2, "{}\n{}", drift.stdout, drift.stderr);
    let report: serde_json::Value = serde_json::from_str(&drift.stdout).unwrap();
    let changed = &report["changed"][0];
    assert_eq!(changed["address"], "volume.data", "{report}");
    assert_eq!(
        changed["attributes"][0]["real"],
        serde_json::json!([format!("{}:sdb on kvm1", second.name)]),
        "{report}"
    );

    // Attaching it to the first domain is refused at plan time, naming where it is.
    let attach = r#"
resource "attachment" "data" {
  volume   = volume.data.id
  instance = local.domain
  host     = "kvm1"
  bus      = "scsi"
}
"#;
    std::fs::write(dir.path().join("main.hcl"), config(&first.name, attach)).unwrap();
    let plan = blockform(dir.path(), &["plan"]);
    assert_eq!(plan.code, 1, "{}\n{}", plan.stdout, plan.stderr);
    assert!(
        words(&plan.stderr).contains(&format!(
            "`volume.data` is already attached outside blockform ({}:sdb on kvm1)",
            second.name
        )),
        "{}",
        plan.stderr
    );
    assert!(first.disks().is_empty());
    let (code, text) = virsh(&["detach-disk", &second.name, "sdb", "--live"]);
    assert_eq!(code, 0, "{text}");
}

#[test]
#[ignore = "needs a libvirtd: tests/run starts one"]
fn libvirt_a_destroy_killed_between_detach_and_delete_converges_on_the_next_run() {
    let domain = Domain::start("kill");
    let dir = project(&[("main.hcl", &config(&domain.name, TWO_ON_SCSI))]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    let killed = blockform_env(
        dir.path(),
        &["destroy", "--auto-approve", "--allow-data-loss", "--parallelism", "1"],
        &[("BLOCKFORM_LIBVIRT_FAULT", "abort-after:detach")],
    );
    assert_eq!(
        killed.code, -1,
        "killed right after a detach:\n{}\n{}",
        killed.stdout, killed.stderr
    );
    assert_eq!(domain.disks().len(), 1, "one disk was detached before the kill");

    let again = ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
    let shown = format!("{}{}", again.stdout, again.stderr);
    assert!(
        shown.contains("Recovered from an interrupted run: attachment.")
            && shown.contains(" was deleted; removed from state."),
        "{shown}"
    );
    assert!(domain.disks().is_empty() && domain.defined_disks().is_empty());
    let files: Vec<_> = std::fs::read_dir(dir.path().join("volumes")).unwrap().collect();
    assert!(files.is_empty(), "no volume left: {files:?}");
    let state = ok(dir.path(), &["state", "list"]);
    assert_eq!(state.stdout.trim(), "", "nothing left in state");
}

/// A local volume lives in a directory of this machine; a hypervisor reached over ssh runs its
/// domains on another: the plan says so before anything is made (no libvirtd needed).
#[test]
fn a_volume_the_hypervisor_cannot_reach_is_refused_at_plan_time() {
    let config = r#"
provider "local" "dev" {
  path = "./volumes"
}

provider "libvirt" "remote" {
  uri = "qemu+ssh://root@kvm9.example/system"
}

resource "volume_type" "plain" {
  backend = "dev"
}

resource "volume" "data" {
  type = volume_type.plain.id
  size = 1
}

resource "attachment" "data" {
  volume   = volume.data.id
  instance = "db-1"
  host     = "remote"
}
"#;
    let dir = project(&[("main.hcl", config)]);
    let plan = blockform(dir.path(), &["plan"]);
    assert_eq!(plan.code, 1, "{}\n{}", plan.stdout, plan.stderr);
    let host = gethostname_text();
    assert!(
        words(&plan.stderr).contains(&format!(
            "`volume.data` cannot be attached through `remote`: its disk is on `{host}` only (provider `dev`), and `remote` runs its instances on `kvm9.example`"
        )),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr.contains("main.hcl:"),
        "points at the configuration: {}",
        plan.stderr
    );
    assert!(!dir.path().join("volumes").exists(), "nothing was made");
}

#[test]
fn an_lvm_volume_is_attached_only_through_a_hypervisor_on_its_lvm_host() {
    // Block devices exist on the LVM host alone: a hypervisor elsewhere is refused at plan time,
    // before either host is contacted (the plan does not read the back ends: -refresh=false).
    let config = r#"
provider "lvm" "host1" {
  volume_group = "vg0"
  thin_pool    = "pool"
  host         = "lvm1.example"
}

provider "libvirt" "kvm" {
  uri = "qemu+ssh://root@kvm9.example/system"
}

resource "volume_type" "thin" {
  backend = "host1"
}

resource "volume" "data" {
  type = volume_type.thin.id
  size = 1
}

resource "attachment" "data" {
  volume   = volume.data.id
  instance = "db-1"
  host     = "kvm"
}
"#;
    // The same volume through a hypervisor on the LVM host plans.
    refused_then_planned(
        &[("main.hcl", config)],
        "`volume.data` cannot be attached through `kvm`: its disk is on `lvm1.example` only (provider `host1`), and `kvm` runs its instances on `kvm9.example`",
        &config.replace("root@kvm9.example", "root@lvm1.example"),
    );
}

/// Plans the project of `files` without reading the back ends (`-refresh=false`): refused with
/// `message`, pointing at `main.hcl`; then, with `main.hcl` replaced by `fixed`, planned with
/// its attachment.
fn refused_then_planned(files: &[(&str, &str)], message: &str, fixed: &str) {
    let dir = project(files);
    let plan = blockform(dir.path(), &["plan", "-refresh=false"]);
    assert_eq!(plan.code, 1, "{}\n{}", plan.stdout, plan.stderr);
    assert!(words(&plan.stderr).contains(message), "{}", plan.stderr);
    assert!(
        plan.stderr.contains("main.hcl:"),
        "points at the configuration: {}",
        plan.stderr
    );
    std::fs::write(dir.path().join("main.hcl"), fixed).expect("write main.hcl");
    let plan = blockform(dir.path(), &["plan", "-refresh=false"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("attachment.data"), "{}", plan.stdout);
}

#[test]
fn an_rbd_volume_in_a_namespace_is_refused_at_plan_time_by_a_libvirt_that_cannot_name_it() {
    // libvirt's RBD disks name `pool/image` only: QEMU would open an image of the default
    // namespace. The plan refuses it from the providers' blocks, before any host is contacted.
    let config = r#"
provider "ceph" "ssd" {
  pool      = "rbd"
  namespace = "team-a"
  conf      = "./ceph.conf"
}

provider "libvirt" "kvm" {
  uri = "qemu+ssh://root@kvm9.example/system"
}

resource "volume_type" "rbd" {
  backend = "ssd"
}

resource "volume" "data" {
  type = volume_type.rbd.id
  size = 1
}

resource "attachment" "data" {
  volume   = volume.data.id
  instance = "db-1"
  host     = "kvm"
}
"#;
    // Without the namespace it plans: any host reaches the cluster.
    refused_then_planned(
        &[
            ("main.hcl", config),
            ("ceph.conf", "[global]\nmon_host = 192.0.2.10:6789\n"),
        ],
        "`volume.data` cannot be attached through `kvm`: it is in the RBD namespace `rbd/team-a`, which the disks of libvirt cannot name (provider `ssd`)",
        &config.replace("  namespace = \"team-a\"\n", ""),
    );
}

/// The words of a diagnostic, which wraps at the terminal's width, joined by single spaces.
fn words(text: &str) -> String {
    text.split_whitespace()
        .filter(|word| *word != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

fn gethostname_text() -> String {
    let output = Command::new("hostname").output().expect("hostname runs");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The test Ceph cluster (`BLOCKFORM_TEST_CEPH_*`, which `tests/run` sets with the libvirtd).
struct Ceph {
    conf: String,
    keyring: String,
    pool: String,
}

impl Ceph {
    fn from_env() -> Ceph {
        Ceph {
            conf: std::env::var("BLOCKFORM_TEST_CEPH_CONF")
                .expect("BLOCKFORM_TEST_CEPH_CONF names the test cluster; tests/run boots one with the libvirtd"),
            keyring: std::env::var("BLOCKFORM_TEST_CEPH_KEYRING")
                .expect("BLOCKFORM_TEST_CEPH_KEYRING is set with the conf"),
            pool: std::env::var("BLOCKFORM_TEST_CEPH_POOL").unwrap_or_else(|_| "rbd".to_owned()),
        }
    }

    fn rbd(&self, args: &[&str]) -> (i32, String) {
        let output = Command::new("rbd")
            .args(["--conf", &self.conf, "--keyring", &self.keyring, "--id", "admin"])
            .args(args)
            .output()
            .expect("rbd runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }
}

/// The images a test's state records, removed from the pool when the test ends however it
/// ends (the libvirt disks of this libvirt cannot name an RBD namespace, so these tests use
/// the pool's default one, where image names are unique UUIDs).
struct Images<'a> {
    ceph: &'a Ceph,
    dir: &'a Path,
}

impl Drop for Images<'_> {
    fn drop(&mut self) {
        let state = blockform(self.dir, &["state", "pull"]);
        let Ok(state) = serde_json::from_str::<serde_json::Value>(&state.stdout) else {
            return;
        };
        for record in state["resources"].as_array().into_iter().flatten() {
            if record["address"].as_str().is_some_and(|a| a.starts_with("volume."))
                && let Some(id) = record["backend_id"].as_str()
            {
                let spec = format!("{}/{id}", self.ceph.pool);
                let _ = self.ceph.rbd(&["snap", "purge", "--no-progress", &spec]);
                let _ = self.ceph.rbd(&["rm", "--no-progress", &spec]);
            }
        }
    }
}

#[test]
#[ignore = "needs a libvirtd and a Ceph cluster: tests/run starts both"]
fn libvirt_ceph_an_rbd_volume_is_attached_with_a_cephx_secret_grown_snapshotted_and_detached() {
    let ceph = Ceph::from_env();
    let domain = Domain::start("rbd");
    let hcl = |size: u32, extra: &str| {
        format!(
            r#"
provider "ceph" "ssd" {{
  pool    = "{pool}"
  conf    = "{conf}"
  user    = "admin"
  keyring = "{keyring}"
}}

provider "libvirt" "kvm1" {{
  uri = "{uri}"
}}

resource "qos" "guest" {{
  consumer = "front-end"
  specs    = {{ total_iops_sec = 400 }}
}}

resource "volume_type" "rbd" {{
  backend = "ssd"
  qos     = qos.guest.id
}}

resource "volume" "db" {{
  type = volume_type.rbd.id
  size = {size}
}}

resource "attachment" "db" {{
  volume   = volume.db.id
  instance = "{domain}"
  host     = "kvm1"
  bus      = "scsi"
}}
{extra}"#,
            pool = ceph.pool,
            conf = ceph.conf,
            keyring = ceph.keyring,
            uri = uri(),
            domain = domain.name,
        )
    };
    let dir = project(&[("main.hcl", &hcl(1, ""))]);
    let _images = Images {
        ceph: &ceph,
        dir: dir.path(),
    };
    ok(dir.path(), &["apply", "--auto-approve"]);
    let image = crate::common::backend_id(dir.path(), "volume.db");
    let spec = format!("{}/{image}", ceph.pool);
    assert_eq!(domain.disks(), [("sdb".to_owned(), spec.clone())]);
    let (_, xml) = virsh(&["dumpxml", &domain.name]);
    assert!(xml.contains("<auth username='admin'>"), "{xml}");
    let (_, secrets) = virsh(&["secret-list"]);
    assert!(secrets.contains("ceph blockform client.admin "), "{secrets}");
    assert!(!xml.contains("AQ"), "no key in the domain XML");
    assert_eq!(domain.limit("sdb", "total_iops_sec"), 400);
    let (_, status) = ceph.rbd(&["status", &spec, "--format", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(
        status["watchers"].as_array().unwrap().len(),
        1,
        "QEMU has the image open: {status}"
    );

    // Grown in the cluster, then told to the domain; a forced snapshot is taken by rbd.
    let snapshot = "\nresource \"snapshot\" \"s\" {\n  volume = volume.db.id\n  force  = true\n}\n";
    std::fs::write(dir.path().join("main.hcl"), hcl(2, snapshot)).unwrap();
    ok(dir.path(), &["apply", "--auto-approve"]);
    let (_, info) = virsh(&["domblkinfo", &domain.name, "sdb"]);
    assert!(info.contains(&format!("Capacity:       {}", 2u64 << 30)), "{info}");
    let snapshot_id = crate::common::backend_id(dir.path(), "snapshot.s");
    let (_, snapshots) = ceph.rbd(&["snap", "ls", &spec]);
    assert!(snapshots.contains(&snapshot_id), "{snapshots}");
    assert_plan_is_empty(dir.path());

    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
    assert!(domain.disks().is_empty() && domain.defined_disks().is_empty());
    let (_, listed) = ceph.rbd(&["ls", &ceph.pool]);
    assert!(!listed.lines().any(|l| l == image), "the image is gone");
}
