//! What a user sees when the host cannot be used: unreachable, a refused key, an unknown host
//! key, a volume group or thin pool that does not exist. Each is a clear error within seconds.

use std::time::{Duration, Instant};

use blockform_provider::{StorageProvider, VolumeSource};
use blockform_provider_lvm::LvmProvider;

use crate::support::{spec, thick_config, thin_config, volume_name};

fn within_seconds(provider: &LvmProvider) -> String {
    let started = Instant::now();
    let error = provider.refresh(&["volume-1".to_owned()]).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    error.to_string()
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_an_unreachable_host_fails_within_seconds() {
    let mut config = thick_config();
    config.port = Some(1);
    let provider = LvmProvider::new("host1", config).unwrap();
    let message = within_seconds(&provider);
    assert!(message.contains("cannot be reached over ssh"), "{message}");
    assert!(message.contains("Connection refused"), "{message}");
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_a_refused_key_or_unknown_host_key_fails_within_seconds() {
    let dir = std::env::temp_dir().join(format!("blockform-lvm-key-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("other");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let mut config = thick_config();
    config.identity_file = Some(key);
    let message = within_seconds(&LvmProvider::new("host1", config).unwrap());
    assert!(message.contains("refused the ssh login"), "{message}");
    assert!(message.contains("Permission denied"), "{message}");

    let empty = dir.join("known_hosts");
    std::fs::write(&empty, "").unwrap();
    let mut config = thick_config();
    config.known_hosts = Some(empty);
    let message = within_seconds(&LvmProvider::new("host1", config).unwrap());
    assert!(message.contains("Host key verification failed"), "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_a_wrong_volume_group_or_thin_pool_is_named() {
    let mut config = thick_config();
    config.volume_group = "vg-missing".to_owned();
    let message = within_seconds(&LvmProvider::new("host1", config).unwrap());
    assert!(
        message.contains("the volume group `vg-missing` does not exist on the host (check `volume_group`"),
        "{message}"
    );
    let mut config = thin_config();
    config.thin_pool = Some("nopool".to_owned());
    let provider = LvmProvider::new("host1", config).unwrap();
    let error = provider
        .create_volume(&spec(&volume_name(), 1, VolumeSource::Empty))
        .unwrap_err();
    assert!(
        error.to_string().contains("the thin pool `vg0/nopool` does not exist"),
        "{error}"
    );
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_an_open_volume_is_busy_with_lvm_s_message() {
    use blockform_provider::ProviderError;

    use crate::support::{Cleanup, create_empty, thin};

    let provider = thin();
    let (name, _) = create_empty(&provider, 1);
    let _cleanup = Cleanup(&provider, vec![name.clone()]);
    // A process on the host holds the device open for a few seconds.
    let hold = format!("sleep 8 < /dev/vg0/{name} > /dev/null 2>&1 &");
    assert!(provider.run_on_host(&["sh", "-c", &hold]).unwrap().success());
    std::thread::sleep(Duration::from_millis(500));
    let error = provider.delete_volume(&name).unwrap_err();
    assert!(matches!(error, ProviderError::Busy { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("the LV is open on the host"), "{message}");
    assert!(message.contains("lvremove"), "the command line is shown: {message}");
    std::thread::sleep(Duration::from_secs(8));
    provider.delete_volume(&name).unwrap();
}
