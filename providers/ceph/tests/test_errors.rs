//! Failures a person must be able to act on: a wrong configuration file, a cluster that does
//! not answer, a missing pool, names that must never reach a command.

use std::time::{Duration, Instant};

use blockform_provider::{ProviderError, StorageProvider, VolumeSource};
use blockform_provider_ceph::{CephConfig, CephProvider};

use crate::support::{config, provider, provider_with, spec};

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_a_wrong_conf_path_is_refused_at_once() {
    let mut config = config();
    config.conf = Some("/nonexistent/ceph.conf".into());
    let started = Instant::now();
    let error = CephProvider::new("ssd", config).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        error.to_string(),
        "the `conf` file `/nonexistent/ceph.conf` of ceph provider `ssd` cannot be read: No such file or directory (os error 2)"
    );
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_a_cluster_that_does_not_answer_fails_within_the_connect_timeout() {
    // The test cluster's configuration with its monitors moved to ports nothing listens on.
    let real = config();
    let text = std::fs::read_to_string(real.conf.as_ref().unwrap()).unwrap();
    let closed: String = text
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("mon_host") {
                "mon_host = [v2:127.0.0.1:1,v1:127.0.0.1:2]".to_owned()
            } else {
                line.to_owned()
            }
        })
        .map(|line| line + "\n")
        .collect();
    let path = std::env::temp_dir().join(format!("blockform-closed-{}.conf", uuid::Uuid::new_v4()));
    std::fs::write(&path, closed).unwrap();
    let mut config: CephConfig = real;
    config.conf = Some(path.clone());
    config.connect_timeout = Some(Duration::from_secs(3));
    let provider = CephProvider::new("ssd", config).unwrap();

    let started = Instant::now();
    let error = provider.refresh(&["volume-1".to_owned()]).unwrap_err();
    let elapsed = started.elapsed();
    let _ = std::fs::remove_file(&path);
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert!(error.is_retryable(), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with(
            "temporary failure: ceph provider `ssd` (pool `rbd`): the cluster did not answer within 3s \
             (is it running, and are `conf`, `user` and `keyring` right?): `"
        ),
        "{message}"
    );
    // The pool reader, shown by name rather than by its program text.
    assert!(message.contains(" -c '<blockform pool reader>' --conf "), "{message}");
    assert!(message.contains(" rbd` exited with status 110"), "{message}");
    assert!(message.contains("couldn't connect to the cluster"), "{message}");
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_a_missing_pool_is_named() {
    let provider = provider_with(|config| config.pool = "no-such-pool".into());
    let error = provider.refresh(&["volume-1".to_owned()]).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("ceph provider `ssd` (pool `no-such-pool`): the pool does not exist: `"),
        "{message}"
    );
    assert!(message.contains("error opening pool 'no-such-pool'"), "{message}");
    let error = provider.capacity().unwrap_err();
    assert!(error.to_string().contains("the pool does not exist"), "{error}");
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_names_are_checked_before_any_command_runs() {
    let provider = provider();
    for name in ["-rf", "a/b", "x@y", "$(reboot)", ""] {
        let error = provider.create_volume(&spec(name, 1, VolumeSource::Empty)).unwrap_err();
        assert!(matches!(error, ProviderError::InvalidName { .. }), "{name}: {error}");
        assert!(matches!(
            provider.delete_snapshot("volume-1", name).unwrap_err(),
            ProviderError::InvalidName { .. }
        ));
    }
    let error = provider.refresh(&["ok".to_owned(), "not ok".to_owned()]).unwrap_err();
    assert!(matches!(error, ProviderError::InvalidName { .. }), "{error}");
}
