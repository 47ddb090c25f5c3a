//! What the tests share: temporary directories, providers over them, volume specs, and the
//! QEMU tools run directly to set up and check what the provider did.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use blockform_provider::{StorageProvider, VolumeProperties, VolumeSource, VolumeSpec, VolumeState};
use blockform_provider_local::{LocalConfig, LocalProvider};

/// A directory removed when the test ends.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("blockform-local-test-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A provider over `<dir>/volumes` and the directory itself.
/// A provider over a new, existing directory (tests put files in it before any create).
pub fn provider() -> (LocalProvider, TempDir) {
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.join("volumes")).unwrap();
    let provider = LocalProvider::new("default", LocalConfig::new(dir.join("volumes"))).unwrap();
    (provider, dir)
}

pub fn volume_name() -> String {
    format!("volume-{}", uuid::Uuid::new_v4())
}

pub fn snapshot_name() -> String {
    format!("snapshot-{}", uuid::Uuid::new_v4())
}

pub fn properties(name: &str) -> VolumeProperties {
    VolumeProperties {
        name: name.to_owned(),
        description: Some(format!("the {name} volume")),
        bootable: false,
        tags: vec!["test".to_owned()],
        metadata: BTreeMap::from([("owner".to_owned(), "tests".to_owned())]),
    }
}

pub fn spec(backend_name: &str, size_gib: u64, source: VolumeSource) -> VolumeSpec {
    VolumeSpec {
        backend_name: backend_name.to_owned(),
        properties: properties("data"),
        size_gib,
        volume_type: "standard".to_owned(),
        extra_specs: BTreeMap::new(),
        source,
    }
}

/// Creates an empty volume and returns its backend name and state.
pub fn create_empty(provider: &LocalProvider, size_gib: u64) -> (String, VolumeState) {
    let name = volume_name();
    let state = provider
        .create_volume(&spec(&name, size_gib, VolumeSource::Empty))
        .unwrap();
    (name, state)
}

/// Runs a program and returns its stdout, failing the test with its stderr otherwise.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs one `qemu-io` command on a qcow2 file.
pub fn qemu_io(path: &Path, command: &str) -> String {
    run("qemu-io", &["-f", "qcow2", "-c", command, path.to_str().unwrap()])
}

/// Whether `qemu-io -r -c "read -P PATTERN OFFSET LENGTH"` finds the pattern.
pub fn has_pattern(path: &Path, format: &str, pattern: u8, offset: &str, length: &str) -> bool {
    let command = format!("read -P {pattern:#x} {offset} {length}");
    let output = Command::new("qemu-io")
        .args(["-f", format, "-r", "-c", &command, path.to_str().unwrap()])
        .output()
        .unwrap();
    // qemu-io exits 0 even when the pattern differs; it says so on stdout.
    let stdout = String::from_utf8_lossy(&output.stdout);
    output.status.success() && stdout.contains("read ") && !stdout.contains("Pattern verification failed")
}

/// `qemu-img info --output=json` of a file.
pub fn qemu_img_info(path: &Path) -> serde_json::Value {
    serde_json::from_str(&run(
        "qemu-img",
        &["info", "-U", "--output=json", path.to_str().unwrap()],
    ))
    .unwrap()
}

/// Random bytes from the kernel.
pub fn random_bytes(length: usize) -> Vec<u8> {
    let mut bytes = vec![0_u8; length];
    fs::File::open("/dev/urandom").unwrap().read_exact(&mut bytes).unwrap();
    bytes
}

/// Polls `condition` until it holds, failing the test after 10 s.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !condition() {
        assert!(started.elapsed().as_secs() < 10, "timed out waiting until {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A child process killed with SIGKILL when dropped, also when the test fails first.
pub struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a writable `qemu-nbd` on `image` and waits until it has the image open (its enabled
/// bitmaps are then flagged in use); dropping the result kills it with SIGKILL.
pub fn start_qemu_nbd_writer(image: &Path, socket: &Path) -> Killed {
    let server = Command::new("qemu-nbd")
        .args([
            "-f",
            "qcow2",
            "--socket",
            socket.to_str().unwrap(),
            image.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = Killed(server);
    wait_until("qemu-nbd has the image open", || {
        qemu_img_info(image)["format-specific"]["data"]["bitmaps"][0]["flags"]
            .to_string()
            .contains("in-use")
    });
    server
}

/// Starts a writable `qemu-nbd` on `image` and waits until it holds the image's lock (even
/// `qemu-img info` would be refused); dropping the result kills it with SIGKILL.
pub fn start_qemu_nbd_holding_the_lock(image: &Path, socket: &Path) -> Killed {
    let log = socket.with_extension("log");
    let server = Command::new("qemu-nbd")
        .args(["-f", "qcow2", "--socket", socket.to_str().unwrap()])
        .arg(image)
        .stdout(std::process::Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut server = Killed(server);
    // Watched in /proc/locks: a probe that opened the image (`qemu-img info`) would take a
    // lock of its own and could make qemu-nbd's open fail.
    let inode = format!(
        ":{} ",
        std::os::unix::fs::MetadataExt::ino(&fs::metadata(image).unwrap())
    );
    wait_until("qemu-nbd holds the image's lock", || {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!(
                "qemu-nbd exited ({status}): {}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        }
        fs::read_to_string("/proc/locks")
            .unwrap()
            .lines()
            .any(|line| line.contains("OFDLCK") && line.contains(&inode))
    });
    // QEMU takes its lock bytes one after another as it opens the image.
    std::thread::sleep(std::time::Duration::from_millis(100));
    server
}
