//! Volumes, snapshots, clones and QoS through the provider API, checked with the real `rbd`.

use blockform_provider::{
    DiskSource, GIB, ImageExportSpec, ImageFormat, ProviderError, QosSpecs, ReadTarget, SecretRef, StorageProvider,
    ValidOn, VolumeProperties, VolumeSource,
};
use blockform_provider_ceph::{CapacityCheck, META_KEY};

use crate::support::{
    Cleanup, NEEDS_CLUSTER, create_empty, export_bytes, image_spec, properties, provider, provider_with, random_bytes,
    rbd, rbd_json, rbd_status, spec, take_snapshot, volume_name, write_bytes,
};

fn parent(provider: &blockform_provider_ceph::CephProvider, volume: &str) -> Option<String> {
    let info = rbd_json(provider, &["info", &image_spec(volume)]);
    info.get("parent").map(|parent| {
        format!(
            "{}@{}",
            parent["image"].as_str().unwrap(),
            parent["snapshot"].as_str().unwrap()
        )
    })
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_volume_lifecycle_create_update_extend_delete() {
    let _ = NEEDS_CLUSTER;
    let provider = provider();
    let (name, state) = create_empty(&provider, 1);
    let _cleanup = Cleanup(&provider, vec![name.clone()]);
    assert_eq!(state.virtual_size_bytes, GIB);
    assert_eq!(state.properties, properties("data"));

    // The record is in the image metadata, with the ownership marker.
    let meta = rbd_json(&provider, &["image-meta", "list", &image_spec(&name)]);
    let record: serde_json::Value = serde_json::from_str(meta[META_KEY].as_str().unwrap()).unwrap();
    assert_eq!(record["managed_by"], "blockform");
    assert_eq!(record["name"], "data");
    assert_eq!(record["tags"], serde_json::json!(["test", "ceph"]));
    assert_eq!(record["volume_type"], "ssd");

    let refreshed = provider.refresh(std::slice::from_ref(&name)).unwrap();
    assert_eq!(refreshed, std::slice::from_ref(&state));

    // Creating it again adopts it; a different size is a conflict.
    assert_eq!(
        provider.create_volume(&spec(&name, 1, VolumeSource::Empty)).unwrap(),
        state
    );
    let error = provider
        .create_volume(&spec(&name, 2, VolumeSource::Empty))
        .unwrap_err();
    assert!(matches!(error, ProviderError::Conflict { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("exists with 1 GiB instead of the requested 2 GiB"),
        "{error}"
    );

    let renamed = VolumeProperties {
        name: "db".into(),
        description: None,
        bootable: true,
        tags: vec![],
        metadata: std::collections::BTreeMap::default(),
    };
    let state = provider.update_volume_metadata(&name, &renamed, None).unwrap();
    assert_eq!(state.properties, renamed);
    assert_eq!(
        provider.refresh(std::slice::from_ref(&name)).unwrap()[0].properties,
        renamed
    );

    let state = provider.extend_volume(&name, 3).unwrap();
    assert_eq!(state.virtual_size_bytes, 3 * GIB);
    assert_eq!(rbd_json(&provider, &["info", &image_spec(&name)])["size"], 3 * GIB);
    let error = provider.extend_volume(&name, 2).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("it cannot shrink from 3 GiB to 2 GiB: volumes only grow"),
        "{error}"
    );
    assert_eq!(provider.extend_volume(&name, 3).unwrap().virtual_size_bytes, 3 * GIB);

    provider.delete_volume(&name).unwrap();
    assert_eq!(provider.refresh(std::slice::from_ref(&name)).unwrap(), []);
    let (status, _, _) = rbd_status(&provider, &["info", &image_spec(&name)]);
    assert_eq!(status, Some(2));
    provider.delete_volume(&name).unwrap();
    assert!(
        !provider
            .inventory()
            .unwrap()
            .iter()
            .any(|item| item.backend_name == name)
    );
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_qos_limits_become_rbd_image_settings() {
    let provider = provider();
    let (name, _) = create_empty(&provider, 1);
    let _cleanup = Cleanup(&provider, vec![name.clone()]);
    let specs: QosSpecs = [
        ("total_iops_sec", 2000),
        ("total_iops_sec_max", 4000),
        ("read_bytes_sec", 104_857_600),
        ("write_bytes_sec", 52_428_800),
        ("write_bytes_sec_max", 62_914_560),
    ]
    .into_iter()
    .collect();
    provider.apply_qos(&name, &specs).unwrap();

    let settings = |provider: &blockform_provider_ceph::CephProvider| -> Vec<(String, String)> {
        let list = rbd_json(provider, &["config", "image", "list", &image_spec(&name)]);
        list.as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["name"].as_str().unwrap().starts_with("rbd_qos_") && entry["source"] == "image")
            .map(|entry| {
                (
                    entry["name"].as_str().unwrap().to_owned(),
                    entry["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        settings(&provider),
        [
            ("rbd_qos_iops_burst".to_owned(), "4000".to_owned()),
            ("rbd_qos_iops_limit".to_owned(), "2000".to_owned()),
            ("rbd_qos_read_bps_limit".to_owned(), "104857600".to_owned()),
            ("rbd_qos_write_bps_burst".to_owned(), "62914560".to_owned()),
            ("rbd_qos_write_bps_limit".to_owned(), "52428800".to_owned()),
        ]
    );
    assert_eq!(provider.refresh(std::slice::from_ref(&name)).unwrap()[0].qos, specs);

    // A smaller rule removes what it no longer sets; an empty one removes everything.
    let smaller: QosSpecs = [("total_iops_sec", 500)].into_iter().collect();
    provider.apply_qos(&name, &smaller).unwrap();
    assert_eq!(
        settings(&provider),
        [("rbd_qos_iops_limit".to_owned(), "500".to_owned())]
    );
    assert_eq!(provider.refresh(std::slice::from_ref(&name)).unwrap()[0].qos, smaller);
    provider.apply_qos(&name, &QosSpecs::default()).unwrap();
    assert_eq!(settings(&provider), []);
    assert!(provider.refresh(std::slice::from_ref(&name)).unwrap()[0].qos.is_empty());

    let error = provider
        .apply_qos(&name, &[("size_iops_sec", 10)].into_iter().collect())
        .unwrap_err();
    assert!(
        error.to_string().contains("`size_iops_sec` has no RBD equivalent"),
        "{error}"
    );
    assert!(error.to_string().contains("ceph provider `ssd` (pool `"), "{error}");
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_snapshot_clone_flatten_then_delete_in_order() {
    let provider = provider();
    let (source, _) = create_empty(&provider, 1);
    let clone = volume_name();
    let _cleanup = Cleanup(&provider, vec![source.clone(), clone.clone()]);
    let data = random_bytes(5 << 20);
    write_bytes(&provider, &source, 3 << 20, &data);
    provider
        .apply_qos(&source, &[("total_iops_sec", 100)].into_iter().collect())
        .unwrap();
    let snap = take_snapshot(&provider, &source);
    let listed = provider.refresh(std::slice::from_ref(&source)).unwrap();
    assert_eq!(listed[0].snapshots.len(), 1);
    assert_eq!(listed[0].snapshots[0].backend_name, snap);
    assert!(listed[0].snapshots[0].created_at_unix_secs > 1_700_000_000);

    // Changes after the snapshot do not reach the clone.
    write_bytes(&provider, &source, 3 << 20, &[0xee; 4096]);
    let state = provider
        .create_volume(&spec(
            &clone,
            2,
            VolumeSource::Snapshot {
                volume_backend_name: source.clone(),
                snapshot_backend_name: snap.clone(),
            },
        ))
        .unwrap();
    assert_eq!(state.virtual_size_bytes, 2 * GIB);
    // `rbd clone` copies the parent's metadata; the new volume keeps its own record and starts
    // without the source's limits.
    let refreshed = provider.refresh(std::slice::from_ref(&clone)).unwrap().remove(0);
    assert!(refreshed.qos.is_empty(), "{:?}", refreshed.qos);
    assert_eq!(refreshed.properties, properties("data"));
    let meta = rbd_json(&provider, &["image-meta", "list", &image_spec(&clone)]);
    assert!(meta.get("conf_rbd_qos_iops_limit").is_none(), "{meta}");
    // Flattened at once (flatten_clones defaults to true) and the snapshot unprotected again.
    assert_eq!(parent(&provider, &clone), None);
    let snaps = rbd_json(&provider, &["snap", "ls", &image_spec(&source)]);
    assert_eq!(snaps[0]["protected"], "false");
    let bytes = export_bytes(&provider, &image_spec(&clone));
    assert_eq!(bytes.len() as u64, 2 * GIB);
    assert!(
        bytes[3 << 20..(3 << 20) + data.len()] == data[..],
        "the clone holds the snapshot's data"
    );

    // The source's snapshot, then the source go; the clone stays whole.
    provider.delete_snapshot(&source, &snap).unwrap();
    provider.delete_snapshot(&source, &snap).unwrap();
    provider.delete_volume(&source).unwrap();
    let bytes = export_bytes(&provider, &image_spec(&clone));
    assert!(bytes[3 << 20..(3 << 20) + data.len()] == data[..]);
    provider.delete_volume(&clone).unwrap();
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_deleting_a_volume_whose_snapshot_has_a_clone_flattens_the_clone_first() {
    let provider = provider_with(|config| config.flatten_clones = false);
    let (source, _) = create_empty(&provider, 1);
    let clone = volume_name();
    let _cleanup = Cleanup(&provider, vec![source.clone(), clone.clone()]);
    let data = random_bytes(1 << 20);
    write_bytes(&provider, &source, 0, &data);
    let snap = take_snapshot(&provider, &source);
    provider
        .create_volume(&spec(
            &clone,
            1,
            VolumeSource::Snapshot {
                volume_backend_name: source.clone(),
                snapshot_backend_name: snap.clone(),
            },
        ))
        .unwrap();
    assert_eq!(parent(&provider, &clone), Some(format!("{source}@{snap}")));
    // rbd alone refuses: the snapshot is protected and has a child.
    let (status, _, stderr) = rbd_status(&provider, &["snap", "rm", &format!("{}@{snap}", image_spec(&source))]);
    assert_eq!(status, Some(16), "{stderr}");

    provider.delete_volume(&source).unwrap();
    assert_eq!(provider.refresh(std::slice::from_ref(&source)).unwrap(), []);
    assert_eq!(parent(&provider, &clone), None);
    assert!(export_bytes(&provider, &image_spec(&clone))[..data.len()] == data[..]);
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_volume_from_volume_is_independent_and_leaves_no_snapshot() {
    for flatten_clones in [true, false] {
        let provider = provider_with(|config| config.flatten_clones = flatten_clones);
        let (source, _) = create_empty(&provider, 1);
        let copy = volume_name();
        let _cleanup = Cleanup(&provider, vec![source.clone(), copy.clone()]);
        let data = random_bytes(2 << 20);
        write_bytes(&provider, &source, GIB - (2 << 20), &data);
        provider
            .create_volume(&spec(
                &copy,
                1,
                VolumeSource::Volume {
                    backend_name: source.clone(),
                },
            ))
            .unwrap();
        let bytes = export_bytes(&provider, &image_spec(&copy));
        assert!(bytes[bytes.len() - (2 << 20)..] == data[..]);
        let source_snapshots = rbd_json(&provider, &["snap", "ls", &image_spec(&source)]);
        if flatten_clones {
            assert_eq!(parent(&provider, &copy), None);
            assert_eq!(source_snapshots, serde_json::json!([]));
        } else {
            assert_eq!(parent(&provider, &copy), Some(format!("{source}@{copy}.source")));
            // The temporary snapshot is blockform's own, not one of the source volume's.
            let refreshed = provider.refresh(std::slice::from_ref(&source)).unwrap();
            assert_eq!(refreshed[0].snapshots, []);
            assert!(
                !provider
                    .inventory()
                    .unwrap()
                    .iter()
                    .any(|item| item.backend_name.ends_with(".source"))
            );
            // Deleting the clone takes its temporary snapshot of the source with it.
            provider.delete_volume(&copy).unwrap();
            assert_eq!(
                rbd_json(&provider, &["snap", "ls", &image_spec(&source)]),
                serde_json::json!([])
            );
        }
    }
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_an_oversized_volume_is_refused_before_anything_is_created() {
    let provider = provider_with(|config| config.capacity_check = CapacityCheck::Error);
    let capacity = provider.capacity().unwrap();
    assert!(capacity.free_bytes > 0 && capacity.free_bytes <= capacity.total_bytes);
    assert!(capacity.thin_provisioned);
    let name = volume_name();
    let error = provider
        .create_volume(&spec(&name, 100_000, VolumeSource::Empty))
        .unwrap_err();
    assert!(matches!(error, ProviderError::InvalidState { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "volume `{name}` is in an invalid state: ceph provider `ssd` (pool `"
        )),
        "{message}"
    );
    assert!(message.contains("100000.0 GiB do not fit: the pool has"), "{message}");
    assert!(message.ends_with("(capacity_check = \"error\")"), "{message}");
    assert_eq!(provider.refresh(std::slice::from_ref(&name)).unwrap(), []);
    let (status, _, _) = rbd_status(&provider, &["info", &image_spec(&format!("{name}.partial"))]);
    assert_eq!(status, Some(2));
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_images_export_and_import_byte_for_byte() {
    let provider = provider();
    let (name, _) = create_empty(&provider, 1);
    let imported = volume_name();
    let _cleanup = Cleanup(&provider, vec![name.clone(), imported.clone()]);
    let data = random_bytes(3 << 20);
    write_bytes(&provider, &name, 7 << 20, &data);
    let dir = std::env::temp_dir().join(format!("blockform-ceph-image-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let raw = dir.join("disk.raw");
    let exported = provider
        .export_image(&ImageExportSpec {
            volume_backend_name: name.clone(),
            format: ImageFormat::Raw,
            destination: raw.clone(),
            snapshot_backend_name: None,
        })
        .unwrap();
    assert_eq!(exported.virtual_size_bytes, GIB);
    assert_eq!(exported.file_size_bytes, GIB);
    let bytes = std::fs::read(&raw).unwrap();
    assert!(bytes[7 << 20..(7 << 20) + data.len()] == data[..]);

    let state = provider
        .create_volume(&spec(
            &imported,
            2,
            VolumeSource::ImageFile {
                path: raw.clone(),
                format: ImageFormat::Raw,
            },
        ))
        .unwrap();
    assert_eq!(state.virtual_size_bytes, 2 * GIB);
    let mut reader = provider.open_reader(&ReadTarget::volume(imported.clone())).unwrap();
    let mut buf = vec![0_u8; data.len()];
    reader.read_exact_at(7 << 20, &mut buf).unwrap();
    assert!(buf == data);
    let error = provider
        .create_volume(&spec(
            &volume_name(),
            1,
            VolumeSource::ImageFile {
                path: dir.join("missing.raw"),
                format: ImageFormat::Raw,
            },
        ))
        .unwrap_err();
    assert!(matches!(error, ProviderError::NotFound { .. }), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = rbd(&provider, &["info", &image_spec(&imported)]);
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_a_create_interrupted_before_or_after_its_rename_is_finished_by_running_it_again() {
    let provider = provider();
    // Interrupted while building: a leftover partial image, with a snapshot even.
    let name = volume_name();
    let _cleanup = Cleanup(&provider, vec![name.clone()]);
    let partial = image_spec(&format!("{name}.partial"));
    rbd(&provider, &["create", "--no-progress", "--size", "3G", &partial]);
    rbd(&provider, &["snap", "create", "--no-progress", &format!("{partial}@x")]);
    let state = provider.create_volume(&spec(&name, 1, VolumeSource::Empty)).unwrap();
    assert_eq!(state.virtual_size_bytes, GIB);
    let (status, _, _) = rbd_status(&provider, &["info", &partial]);
    assert_eq!(status, Some(2), "the partial image is gone");

    // Interrupted after the rename, before the index entry: the image has its record, and
    // running the create again adopts it.
    let adopted = volume_name();
    let _cleanup_adopted = Cleanup(&provider, vec![adopted.clone()]);
    let record = serde_json::json!({
        "managed_by": "blockform", "volume_type": "ssd", "name": "data",
        "description": "the data volume", "bootable": false, "tags": ["test", "ceph"],
        "metadata": {"owner": "tests"}
    });
    rbd(
        &provider,
        &["create", "--no-progress", "--size", "1G", &image_spec(&adopted)],
    );
    rbd(
        &provider,
        &[
            "image-meta",
            "set",
            &image_spec(&adopted),
            META_KEY,
            &record.to_string(),
        ],
    );
    assert_eq!(
        provider.refresh(std::slice::from_ref(&adopted)).unwrap()[0].properties,
        properties("data")
    );
    let state = provider.create_volume(&spec(&adopted, 1, VolumeSource::Empty)).unwrap();
    assert_eq!(state.properties, properties("data"));
    assert!(
        provider
            .inventory()
            .unwrap()
            .iter()
            .any(|item| item.backend_name == adopted && item.owned)
    );
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_connect_hands_out_the_image_through_the_monitors_with_the_keyring_referenced() {
    let _ = NEEDS_CLUSTER;
    let provider = provider();
    let (name, _) = create_empty(&provider, 1);
    let _cleanup = Cleanup(&provider, vec![name.clone()]);
    let config = provider.config();
    let conf = std::fs::read_to_string(config.conf.as_ref().unwrap()).unwrap();
    let source = provider.connect(&name, "kvm1").unwrap();
    assert_eq!(
        source,
        DiskSource::Rbd {
            pool: config.pool.clone(),
            namespace: config.namespace.clone(),
            image: name.clone(),
            monitors: blockform_provider_ceph::monitors(&conf),
            user: config.user.clone().unwrap_or_else(|| "admin".into()),
            secret: SecretRef::KeyringFile {
                path: config.keyring.clone().unwrap()
            },
            valid_on: ValidOn::AnyHost,
        }
    );
    let DiskSource::Rbd { monitors, .. } = &source else {
        unreachable!()
    };
    assert!(!monitors.is_empty());
    // The key itself is never in the source.
    let keyring = std::fs::read_to_string(config.keyring.as_ref().unwrap()).unwrap();
    let key = keyring
        .lines()
        .find_map(|line| line.trim().strip_prefix("key = "))
        .unwrap();
    assert!(!serde_json::to_string(&source).unwrap().contains(key));

    let missing = provider.connect("volume-missing", "kvm1").unwrap_err();
    assert!(matches!(missing, ProviderError::NotFound { .. }), "{missing}");
}
