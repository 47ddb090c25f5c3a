//! What the tests share: providers over the test cluster, unique names, volume specs, and the
//! real `rbd` run directly to set up and check what the provider did.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::process::Command;

use blockform_provider::{SnapshotSpec, StorageProvider, VolumeProperties, VolumeSource, VolumeSpec, VolumeState};
use blockform_provider_ceph::{CephConfig, CephProvider};

/// The reason every cluster test gives for being ignored under plain `cargo test`.
pub const NEEDS_CLUSTER: &str = "needs a Ceph cluster: run tests/run";

/// The settings of the test cluster from the environment `tests/run` exports.
pub fn config() -> CephConfig {
    let conf = std::env::var("BLOCKFORM_TEST_CEPH_CONF")
        .expect("BLOCKFORM_TEST_CEPH_CONF names the test cluster's ceph.conf; tests/run boots a cluster and sets it");
    let mut config = CephConfig::new(std::env::var("BLOCKFORM_TEST_CEPH_POOL").unwrap_or_else(|_| "rbd".to_owned()));
    config.conf = Some(PathBuf::from(conf));
    config.keyring = std::env::var_os("BLOCKFORM_TEST_CEPH_KEYRING").map(PathBuf::from);
    config.user = Some("admin".to_owned());
    config
}

/// A provider over the test pool.
pub fn provider() -> CephProvider {
    CephProvider::new("ssd", config()).unwrap()
}

/// A provider over the test pool with other settings.
pub fn provider_with(change: impl FnOnce(&mut CephConfig)) -> CephProvider {
    let mut config = config();
    change(&mut config);
    CephProvider::new("ssd", config).unwrap()
}

/// A volume name no other test uses.
pub fn volume_name() -> String {
    format!("volume-{}", uuid::Uuid::new_v4())
}

/// A snapshot name no other test uses.
pub fn snapshot_name() -> String {
    format!("snapshot-{}", uuid::Uuid::new_v4())
}

pub fn properties(name: &str) -> VolumeProperties {
    VolumeProperties {
        name: name.to_owned(),
        description: Some(format!("the {name} volume")),
        bootable: false,
        tags: vec!["test".to_owned(), "ceph".to_owned()],
        metadata: BTreeMap::from([("owner".to_owned(), "tests".to_owned())]),
    }
}

pub fn spec(backend_name: &str, size_gib: u64, source: VolumeSource) -> VolumeSpec {
    VolumeSpec {
        backend_name: backend_name.to_owned(),
        properties: properties("data"),
        size_gib,
        volume_type: "ssd".to_owned(),
        extra_specs: BTreeMap::new(),
        source,
    }
}

/// Creates an empty volume and returns its backend name and state.
pub fn create_empty(provider: &CephProvider, size_gib: u64) -> (String, VolumeState) {
    let name = volume_name();
    let state = provider
        .create_volume(&spec(&name, size_gib, VolumeSource::Empty))
        .unwrap();
    (name, state)
}

/// Runs `rbd ARGS` against the test cluster, returning its stdout or failing with its stderr.
pub fn rbd(provider: &CephProvider, args: &[&str]) -> String {
    let (status, stdout, stderr) = rbd_status(provider, args);
    assert_eq!(status, Some(0), "rbd {args:?} failed: {stderr}");
    stdout
}

/// Runs `rbd ARGS` and returns its exit status, stdout and stderr.
pub fn rbd_status(provider: &CephProvider, words: &[&str]) -> (Option<i32>, String, String) {
    let argv = provider.rbd_argv(words);
    let output = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `rbd ARGS --format json`, parsed.
pub fn rbd_json(provider: &CephProvider, args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.extend(["--format", "json"]);
    serde_json::from_str(&rbd(provider, &args)).unwrap()
}

/// `POOL/IMAGE` in the test pool.
pub fn image_spec(image: &str) -> String {
    format!("{}/{image}", config().pool)
}

/// The bytes of an image or snapshot, exported with the real `rbd export`.
pub fn export_bytes(provider: &CephProvider, spec: &str) -> Vec<u8> {
    let path = std::env::temp_dir().join(format!("blockform-ceph-test-{}.raw", uuid::Uuid::new_v4()));
    rbd(provider, &["export", "--no-progress", spec, path.to_str().unwrap()]);
    let bytes = fs::read(&path).unwrap();
    let _ = fs::remove_file(&path);
    bytes
}

/// Takes a snapshot of a volume through the provider; returns its backend name.
pub fn take_snapshot(provider: &impl StorageProvider, volume: &str) -> String {
    let name = snapshot_name();
    provider
        .create_snapshot(&SnapshotSpec {
            backend_name: name.clone(),
            volume_backend_name: volume.to_owned(),
            name: "s".into(),
            description: None,
        })
        .unwrap();
    name
}

/// Writes `data` at `offset` through the provider's writer.
pub fn write_bytes(provider: &impl StorageProvider, volume: &str, offset: u64, data: &[u8]) {
    let mut writer = provider.open_writer(volume).unwrap();
    writer.write_all_at(offset, data).unwrap();
    writer.finish().unwrap();
}

/// Random bytes from the kernel.
pub fn random_bytes(length: usize) -> Vec<u8> {
    let mut bytes = vec![0_u8; length];
    fs::File::open("/dev/urandom").unwrap().read_exact(&mut bytes).unwrap();
    bytes
}

/// Deletes a volume when dropped, so a failing test leaves nothing behind in the pool.
pub struct Cleanup<'a>(pub &'a CephProvider, pub Vec<String>);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for name in self.1.iter().rev() {
            let _ = self.0.delete_volume(name);
        }
    }
}
