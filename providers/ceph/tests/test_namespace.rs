//! Volumes in an RBD namespace of the pool (`namespace = "..."`): every operation works
//! inside it, refresh and inventory see only it, and a namespace that does not exist is an
//! error rather than an empty listing (which would make every volume look deleted).

use blockform_provider::{GIB, ProviderError, StorageProvider, VolumeSource};

use crate::support::{
    Cleanup, config, create_empty, export_bytes, provider, provider_with, rbd, rbd_status, spec, take_snapshot,
    volume_name, write_bytes,
};

/// A namespace of the test pool that exists (created when missing).
fn namespace() -> String {
    let name = "blockform-tests".to_owned();
    let provider = provider();
    let pool = config().pool;
    let (status, _, stderr) = rbd_status(
        &provider,
        &["namespace", "create", "--pool", &pool, "--namespace", &name],
    );
    assert!(
        status == Some(0) || status == Some(17),
        "rbd namespace create: {stderr}"
    );
    name
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_volumes_in_a_namespace_live_and_are_seen_only_there() {
    let namespace = namespace();
    let tenant = provider_with(|config| config.namespace = Some(namespace.clone()));
    let default = provider();
    let pool = config().pool;

    let (name, state) = create_empty(&tenant, 1);
    let copy = volume_name();
    let _cleanup = Cleanup(&tenant, vec![name.clone(), copy.clone()]);
    assert_eq!(state.virtual_size_bytes, GIB);
    let in_namespace = format!("{pool}/{namespace}/{name}");
    let data = crate::support::random_bytes(1 << 20);
    write_bytes(&tenant, &name, 0, &data);
    let snapshot = take_snapshot(&tenant, &name);
    tenant
        .create_volume(&spec(
            &copy,
            2,
            VolumeSource::Snapshot {
                snapshot_backend_name: snapshot.clone(),
                volume_backend_name: name.clone(),
            },
        ))
        .unwrap();
    tenant.extend_volume(&name, 3).unwrap();

    // The images are in the namespace, not in the pool's default one.
    let listed = rbd(&tenant, &["ls", &format!("{pool}/{namespace}")]);
    assert!(listed.lines().any(|line| line == name), "{listed}");
    assert!(!rbd(&tenant, &["ls", &pool]).lines().any(|line| line == name));
    assert!(export_bytes(&tenant, &format!("{pool}/{namespace}/{copy}"))[..data.len()] == data[..]);

    let refreshed = tenant.refresh(&[name.clone(), copy.clone()]).unwrap();
    assert_eq!(refreshed.len(), 2);
    assert_eq!(refreshed[0].virtual_size_bytes, 3 * GIB);
    assert_eq!(refreshed[0].snapshots[0].backend_name, snapshot);
    assert_eq!(refreshed[1].virtual_size_bytes, 2 * GIB);
    assert!(
        tenant
            .inventory()
            .unwrap()
            .iter()
            .any(|item| item.backend_name == copy && item.owned)
    );
    assert_eq!(default.refresh(std::slice::from_ref(&name)).unwrap(), []);
    assert!(
        !default
            .inventory()
            .unwrap()
            .iter()
            .any(|item| item.backend_name == name)
    );

    tenant.delete_snapshot(&name, &snapshot).unwrap();
    tenant.delete_volume(&copy).unwrap();
    tenant.delete_volume(&name).unwrap();
    let (status, _, _) = rbd_status(&tenant, &["info", &in_namespace]);
    assert_eq!(status, Some(2), "the image is gone");
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_a_namespace_that_does_not_exist_is_an_error_not_an_empty_pool() {
    let provider = provider_with(|config| config.namespace = Some("no-such-namespace".into()));
    for error in [
        provider.refresh(&["volume-1".to_owned()]).unwrap_err(),
        provider
            .create_volume(&spec(&volume_name(), 1, VolumeSource::Empty))
            .unwrap_err(),
    ] {
        assert!(matches!(error, ProviderError::Fatal { .. }), "{error}");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "ceph provider `ssd` (pool `{0}/no-such-namespace`): the namespace does not exist (create it with \
                 `rbd namespace create {0}/no-such-namespace`)",
                config().pool
            )),
            "{message}"
        );
    }
}
