//! What the tests share: providers over the test host (thin and thick), unique names, volume
//! specs, and lvm commands run on the host directly to set up and check what the provider did.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::PathBuf;

use blockform_provider::{StorageProvider, VolumeProperties, VolumeSource, VolumeSpec, VolumeState};
use blockform_provider_lvm::{LvmConfig, LvmProvider};

/// The reason every host test gives for being ignored under plain `cargo test`.
pub const NEEDS_HOST: &str = "needs an LVM host: run tests/run";

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set; tests/run boots an LVM host and sets it"))
}

/// The settings of the test host, thick (no thin pool).
pub fn thick_config() -> LvmConfig {
    let mut config = LvmConfig::new(std::env::var("BLOCKFORM_TEST_LVM_VG").unwrap_or_else(|_| "vg0".to_owned()));
    config.host = Some(var("BLOCKFORM_TEST_LVM_HOST"));
    config.port = Some(var("BLOCKFORM_TEST_LVM_PORT").parse().expect("a port number"));
    config.user = Some("root".to_owned());
    config.identity_file = Some(PathBuf::from(var("BLOCKFORM_TEST_LVM_IDENTITY_FILE")));
    config.known_hosts = Some(PathBuf::from(var("BLOCKFORM_TEST_LVM_KNOWN_HOSTS")));
    // Zeroing a GiB takes the TCG guest half a minute: one test checks it, the others skip it.
    config.volume_clear = Some("none".to_owned());
    config
}

/// The settings of the test host's thin pool.
pub fn thin_config() -> LvmConfig {
    let mut config = thick_config();
    config.thin_pool = Some(std::env::var("BLOCKFORM_TEST_LVM_THIN_POOL").unwrap_or_else(|_| "pool".to_owned()));
    config
}

/// A provider over the thin pool.
pub fn thin() -> LvmProvider {
    LvmProvider::new("host1", thin_config()).unwrap()
}

/// A provider of thick volumes.
pub fn thick() -> LvmProvider {
    LvmProvider::new("host1", thick_config()).unwrap()
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
        tags: vec!["test".to_owned(), "lvm".to_owned()],
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
pub fn create_empty(provider: &LvmProvider, size_gib: u64) -> (String, VolumeState) {
    let name = volume_name();
    let state = provider
        .create_volume(&spec(&name, size_gib, VolumeSource::Empty))
        .unwrap();
    (name, state)
}

/// Runs a command on the host, returning its stdout or failing with its stderr.
pub fn on_host(provider: &LvmProvider, words: &[&str]) -> String {
    let output = provider.run_on_host(words).unwrap();
    assert!(output.success(), "{words:?} failed: {}", output.stderr);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The tags of an LV, as `lvs` shows them.
pub fn lv_tags(provider: &LvmProvider, lv: &str) -> Vec<String> {
    let path = format!("{}/{lv}", provider.config().volume_group);
    on_host(provider, &["lvs", "--noheadings", "-o", "lv_tags", &path])
        .trim()
        .split(',')
        .filter(|tag| !tag.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether an LV exists.
pub fn lv_exists(provider: &LvmProvider, lv: &str) -> bool {
    let path = format!("{}/{lv}", provider.config().volume_group);
    provider.run_on_host(&["lvs", &path]).unwrap().success()
}

/// Writes `data` at `offset` through the provider's writer.
pub fn write_bytes(provider: &impl StorageProvider, volume: &str, offset: u64, data: &[u8]) {
    let mut writer = provider.open_writer(volume).unwrap();
    writer.write_all_at(offset, data).unwrap();
    writer.finish().unwrap();
}

/// Reads `length` bytes at `offset` through the provider's reader.
pub fn read_bytes(
    provider: &impl StorageProvider,
    target: &blockform_provider::ReadTarget,
    offset: u64,
    length: usize,
) -> Vec<u8> {
    let mut reader = provider.open_reader(target).unwrap();
    let mut bytes = vec![0_u8; length];
    reader.read_exact_at(offset, &mut bytes).unwrap();
    bytes
}

/// Random bytes from the kernel.
pub fn random_bytes(length: usize) -> Vec<u8> {
    let mut bytes = vec![0_u8; length];
    fs::File::open("/dev/urandom").unwrap().read_exact(&mut bytes).unwrap();
    bytes
}

/// Removes LVs when dropped (snapshots first, as listed), so a failing test leaves nothing
/// behind in the volume group.
pub struct Cleanup<'a>(pub &'a LvmProvider, pub Vec<String>);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for name in self.1.iter().rev() {
            let path = format!(
                "{}/{}",
                self.0.config().volume_group,
                blockform_provider_lvm::lv_name(name)
            );
            let _ = self.0.run_on_host(&["lvremove", "-q", "-y", &path]);
        }
    }
}
