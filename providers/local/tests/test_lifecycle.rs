//! A volume's life through the provider: create, update, extend, snapshots, copies, images,
//! capacity and delete, checked with `qemu-img` and `qemu-io`.

use std::fs;
use std::path::PathBuf;

use blockform_provider::{
    DiskSource, GIB, ImageExportSpec, ImageFormat, ProviderConfig, ProviderError, ProviderKind, SnapshotSpec,
    StorageProvider, ValidOn, VolumeProperties, VolumeSource, VolumeStatus,
};
use blockform_provider_local::{CapacityCheck, LocalConfig, LocalProvider};

use crate::support::{
    TempDir, create_empty, has_pattern, properties, provider, qemu_img_info, qemu_io, run, snapshot_name, spec,
    volume_name,
};

fn snapshot(provider: &LocalProvider, volume: &str, name: &str) {
    provider
        .create_snapshot(&SnapshotSpec {
            backend_name: name.to_owned(),
            volume_backend_name: volume.to_owned(),
            name: "snap".to_owned(),
            description: None,
        })
        .unwrap();
}

#[test]
fn an_empty_volume_lives_from_create_to_delete() {
    let (provider, _dir) = provider();
    let (name, state) = create_empty(&provider, 1);
    let image = provider.image_path(&name).unwrap();
    assert_eq!(state.backend_name, name);
    assert_eq!(state.virtual_size_bytes, GIB);
    assert_eq!(state.status, VolumeStatus::Available);
    assert_eq!(state.properties, properties("data"));
    assert!(state.snapshots.is_empty());
    assert_eq!(qemu_img_info(&image)["virtual-size"], GIB);
    assert_eq!(qemu_img_info(&image)["format"], "qcow2");

    let sidecar: serde_json::Value =
        serde_json::from_slice(&fs::read(provider.directory().join(format!("{name}.json"))).unwrap()).unwrap();
    assert_eq!(
        sidecar,
        serde_json::json!({
            "managed_by": "blockform",
            "volume_type": "standard",
            "name": "data",
            "description": "the data volume",
            "bootable": false,
            "tags": ["test"],
            "metadata": {"owner": "tests"}
        })
    );

    let updated = VolumeProperties {
        name: "renamed".to_owned(),
        description: None,
        bootable: true,
        tags: vec![],
        metadata: [("k".to_owned(), "v".to_owned())].into(),
    };
    let state = provider.update_volume_metadata(&name, &updated, None).unwrap();
    assert_eq!(state.properties, updated);
    assert_eq!(
        provider.refresh(std::slice::from_ref(&name)).unwrap()[0].properties,
        updated
    );

    let state = provider.extend_volume(&name, 3).unwrap();
    assert_eq!(state.virtual_size_bytes, 3 * GIB);
    assert_eq!(state.properties, updated, "extending keeps the properties");
    assert_eq!(qemu_img_info(&image)["virtual-size"], 3 * GIB);
    assert_eq!(provider.extend_volume(&name, 3).unwrap().virtual_size_bytes, 3 * GIB);

    provider.delete_volume(&name).unwrap();
    assert!(!image.exists());
    assert!(!provider.directory().join(format!("{name}.json")).exists());
    assert_eq!(provider.refresh(std::slice::from_ref(&name)).unwrap(), []);
    provider.delete_volume(&name).unwrap();
}

#[test]
fn shrinking_is_refused_before_the_file_is_touched() {
    let (provider, _dir) = provider();
    let (name, _) = create_empty(&provider, 2);
    let image = provider.image_path(&name).unwrap();
    qemu_io(&image, "write -P 0x5a 0 64k");
    let bytes = fs::read(&image).unwrap();
    let modified = fs::metadata(&image).unwrap().modified().unwrap();

    let error = provider.extend_volume(&name, 1).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("volume `{name}` is in an invalid state: it cannot shrink from 2 GiB to 1 GiB: volumes only grow")
    );
    assert!(matches!(error, ProviderError::InvalidState { command: None, .. }));
    assert_eq!(fs::read(&image).unwrap(), bytes);
    assert_eq!(fs::metadata(&image).unwrap().modified().unwrap(), modified);
}

#[test]
fn missing_volumes_are_not_found_and_bad_names_never_reach_a_command() {
    let (provider, _dir) = provider();
    let missing = volume_name();
    for error in [
        provider.extend_volume(&missing, 2).unwrap_err(),
        provider
            .update_volume_metadata(&missing, &VolumeProperties::default(), None)
            .unwrap_err(),
        provider
            .open_reader(&blockform_provider::ReadTarget::volume(missing.clone()))
            .err()
            .unwrap(),
    ] {
        assert_eq!(
            error,
            ProviderError::not_found(blockform_provider::ObjectRef::volume(&missing))
        );
    }
    for bad in ["../escape", "-rf", "a b", ""] {
        let error = provider.extend_volume(bad, 2).unwrap_err();
        assert!(matches!(error, ProviderError::InvalidName { .. }), "{bad}: {error}");
        let error = provider.refresh(&[bad.to_owned()]).unwrap_err();
        assert!(matches!(error, ProviderError::InvalidName { .. }), "{bad}: {error}");
    }
}

#[test]
fn snapshots_are_listed_in_creation_order_and_deleted_one_by_one() {
    let (provider, _dir) = provider();
    let (name, _) = create_empty(&provider, 1);
    let image = provider.image_path(&name).unwrap();
    // Names that sort differently from their creation order.
    let names = ["snapshot-c", "snapshot-a", "snapshot-b"];
    for snapshot_name in names {
        snapshot(&provider, &name, snapshot_name);
    }
    let listed = |provider: &LocalProvider| -> Vec<String> {
        provider.refresh(std::slice::from_ref(&name)).unwrap()[0]
            .snapshots
            .iter()
            .map(|s| s.backend_name.clone())
            .collect()
    };
    assert_eq!(listed(&provider), names);
    let qemu_listing = run("qemu-img", &["snapshot", "-l", image.to_str().unwrap()]);
    let qemu_order: Vec<&str> = qemu_listing
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter(|tag| tag.starts_with("snapshot-"))
        .collect();
    assert_eq!(qemu_order, names);

    // Taking a snapshot that exists returns it instead of adding a second one.
    let again = provider
        .create_snapshot(&SnapshotSpec {
            backend_name: "snapshot-a".to_owned(),
            volume_backend_name: name.clone(),
            name: "snap".to_owned(),
            description: None,
        })
        .unwrap();
    assert_eq!(again.backend_name, "snapshot-a");
    assert_eq!(again.size_bytes, GIB);
    assert_eq!(listed(&provider).len(), 3);

    let error = provider.delete_volume(&name).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "volume `{name}` is in an invalid state: it still has snapshots \
             (`snapshot-c`, `snapshot-a`, `snapshot-b`); delete them first"
        )
    );
    assert!(image.exists());

    provider.delete_snapshot(&name, "snapshot-a").unwrap();
    assert_eq!(listed(&provider), ["snapshot-c", "snapshot-b"]);
    provider.delete_snapshot(&name, "snapshot-a").unwrap();
    provider.delete_snapshot(&volume_name(), "snapshot-a").unwrap();
    provider.delete_snapshot(&name, "snapshot-c").unwrap();
    provider.delete_snapshot(&name, "snapshot-b").unwrap();
    assert_eq!(listed(&provider), Vec::<String>::new());
    provider.delete_volume(&name).unwrap();
}

#[test]
fn a_volume_from_a_snapshot_has_the_snapshot_data_and_is_independent() {
    let (provider, _dir) = provider();
    let (source, _) = create_empty(&provider, 1);
    let source_image = provider.image_path(&source).unwrap();
    qemu_io(&source_image, "write -P 0xab 0 1M");
    let snap = snapshot_name();
    snapshot(&provider, &source, &snap);
    qemu_io(&source_image, "write -P 0xcd 0 1M");

    let copy = volume_name();
    let state = provider
        .create_volume(&spec(
            &copy,
            2,
            VolumeSource::Snapshot {
                volume_backend_name: source.clone(),
                snapshot_backend_name: snap.clone(),
            },
        ))
        .unwrap();
    assert_eq!(state.virtual_size_bytes, 2 * GIB, "grown to the requested size");
    assert!(state.snapshots.is_empty());
    let copy_image = provider.image_path(&copy).unwrap();
    assert!(has_pattern(&copy_image, "qcow2", 0xab, "0", "1M"));
    assert!(has_pattern(&source_image, "qcow2", 0xcd, "0", "1M"));
    // Independent: the snapshot and its volume can go, the copy stays readable.
    assert_eq!(qemu_img_info(&copy_image).get("backing-filename"), None);
    provider.delete_snapshot(&source, &snap).unwrap();
    provider.delete_volume(&source).unwrap();
    assert!(has_pattern(&copy_image, "qcow2", 0xab, "0", "1M"));

    let error = provider
        .create_volume(&spec(
            &volume_name(),
            1,
            VolumeSource::Snapshot {
                volume_backend_name: copy.clone(),
                snapshot_backend_name: "snapshot-missing".to_owned(),
            },
        ))
        .unwrap_err();
    assert_eq!(error.to_string(), "snapshot `snapshot-missing` not found");
}

#[test]
fn a_source_larger_than_the_new_volume_is_refused() {
    let (provider, _dir) = provider();
    let (source, _) = create_empty(&provider, 2);
    let target = volume_name();
    let error = provider
        .create_volume(&spec(&target, 1, VolumeSource::Volume { backend_name: source }))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("volume `{target}` is in an invalid state: its source holds 2 GiB, more than the requested 1 GiB")
    );
    assert!(!provider.image_path(&target).unwrap().exists());
    assert!(!provider.directory().join(format!("{target}.json")).exists());
}

#[test]
fn a_clone_copies_the_volume_at_that_moment() {
    let (provider, _dir) = provider();
    let (source, _) = create_empty(&provider, 1);
    let source_image = provider.image_path(&source).unwrap();
    qemu_io(&source_image, "write -P 0x11 4M 1M");
    let clone = volume_name();
    let state = provider
        .create_volume(&spec(
            &clone,
            1,
            VolumeSource::Volume {
                backend_name: source.clone(),
            },
        ))
        .unwrap();
    assert_eq!(state.virtual_size_bytes, GIB);
    qemu_io(&source_image, "write -P 0x22 4M 1M");
    let clone_image = provider.image_path(&clone).unwrap();
    assert!(has_pattern(&clone_image, "qcow2", 0x11, "4M", "1M"));
    assert!(has_pattern(&source_image, "qcow2", 0x22, "4M", "1M"));
    assert!(has_pattern(&clone_image, "qcow2", 0, "0", "4M"));
}

#[test]
fn a_volume_from_an_image_file_has_its_data() {
    let (provider, dir) = provider();
    let raw = dir.join("disk.raw");
    run("qemu-img", &["create", "-q", "-f", "raw", raw.to_str().unwrap(), "64M"]);
    run(
        "qemu-io",
        &["-f", "raw", "-c", "write -P 0x42 1M 2M", raw.to_str().unwrap()],
    );
    let name = volume_name();
    let mut from_raw = spec(
        &name,
        1,
        VolumeSource::ImageFile {
            path: raw.clone(),
            format: ImageFormat::Raw,
        },
    );
    from_raw.properties.bootable = true;
    let state = provider.create_volume(&from_raw).unwrap();
    assert!(state.properties.bootable);
    assert_eq!(state.virtual_size_bytes, GIB);
    let image = provider.image_path(&name).unwrap();
    assert!(has_pattern(&image, "qcow2", 0x42, "1M", "2M"));
    assert!(has_pattern(&image, "qcow2", 0, "3M", "61M"));

    let qcow2 = dir.join("disk.qcow2");
    run(
        "qemu-img",
        &[
            "convert",
            "-f",
            "raw",
            "-O",
            "qcow2",
            raw.to_str().unwrap(),
            qcow2.to_str().unwrap(),
        ],
    );
    let name = volume_name();
    provider
        .create_volume(&spec(
            &name,
            1,
            VolumeSource::ImageFile {
                path: qcow2,
                format: ImageFormat::Qcow2,
            },
        ))
        .unwrap();
    assert!(has_pattern(
        &provider.image_path(&name).unwrap(),
        "qcow2",
        0x42,
        "1M",
        "2M"
    ));

    let missing = dir.join("missing.raw");
    let error = provider
        .create_volume(&spec(
            &volume_name(),
            1,
            VolumeSource::ImageFile {
                path: missing.clone(),
                format: ImageFormat::Raw,
            },
        ))
        .unwrap_err();
    assert_eq!(error.to_string(), format!("image `{}` not found", missing.display()));
}

#[test]
fn volumes_export_to_raw_and_qcow2_images() {
    let (provider, dir) = provider();
    let (name, _) = create_empty(&provider, 1);
    qemu_io(&provider.image_path(&name).unwrap(), "write -P 0x77 8M 1M");

    let raw = provider
        .export_image(&ImageExportSpec {
            volume_backend_name: name.clone(),
            format: ImageFormat::Raw,
            destination: dir.join("out.raw"),
            snapshot_backend_name: None,
        })
        .unwrap();
    assert_eq!(raw.path, dir.join("out.raw"));
    assert_eq!(raw.virtual_size_bytes, GIB);
    assert_eq!(raw.file_size_bytes, GIB);
    assert_eq!(qemu_img_info(&raw.path)["format"], "raw");
    assert!(has_pattern(&raw.path, "raw", 0x77, "8M", "1M"));

    let qcow2 = provider
        .export_image(&ImageExportSpec {
            volume_backend_name: name.clone(),
            format: ImageFormat::Qcow2,
            destination: dir.join("out.qcow2"),
            snapshot_backend_name: None,
        })
        .unwrap();
    assert_eq!(qemu_img_info(&qcow2.path)["format"], "qcow2");
    assert_eq!(qemu_img_info(&qcow2.path)["virtual-size"], GIB);
    assert!(qcow2.file_size_bytes < 16 << 20, "sparse: {}", qcow2.file_size_bytes);
    assert!(has_pattern(&qcow2.path, "qcow2", 0x77, "8M", "1M"));
    // No partial file is left next to the images.
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["out.qcow2", "out.raw", "volumes"]);

    let error = provider
        .export_image(&ImageExportSpec {
            volume_backend_name: name.clone(),
            format: ImageFormat::Raw,
            destination: provider.directory().join("image.raw"),
            snapshot_backend_name: None,
        })
        .unwrap_err();
    assert!(matches!(error, ProviderError::Conflict { .. }), "{error}");
}

#[test]
fn volumes_above_300_gib_cannot_become_images() {
    let (provider, dir) = provider();
    // qcow2 is sparse: a 301 GiB volume takes a few hundred KiB.
    let (name, _) = create_empty(&provider, 301);
    let destination: PathBuf = dir.join("big.raw");
    let error = provider
        .export_image(&ImageExportSpec {
            volume_backend_name: name.clone(),
            format: ImageFormat::Raw,
            destination: destination.clone(),
            snapshot_backend_name: None,
        })
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "volume `{name}` is in an invalid state: it holds 301 GiB; \
             volumes larger than 300 GiB cannot be turned into images"
        )
    );
    assert!(!destination.exists());
}

#[test]
fn capacity_reports_the_file_system_and_the_provisioned_sizes() {
    let (provider, _dir) = provider();
    create_empty(&provider, 1);
    create_empty(&provider, 2);
    let capacity = provider.capacity().unwrap();
    assert_eq!(capacity.provisioned_bytes, 3 * GIB);
    assert!(capacity.thin_provisioned);
    let df = run("df", &["--output=size", "-B1", provider.directory().to_str().unwrap()]);
    let total: u64 = df.lines().nth(1).unwrap().trim().parse().unwrap();
    assert_eq!(capacity.total_bytes, total);
    assert!(capacity.free_bytes > 0 && capacity.free_bytes <= capacity.total_bytes);
    assert_eq!(provider.check_capacity(GIB).unwrap(), Ok(()));
    assert!(provider.check_capacity(capacity.total_bytes).unwrap().is_err());
}

#[test]
fn capacity_check_error_refuses_volumes_that_do_not_fit_before_writing() {
    let dir = TempDir::new();
    let config = LocalConfig {
        capacity_check: CapacityCheck::Error,
        ..LocalConfig::new(dir.join("volumes"))
    };
    let provider = LocalProvider::new("strict", config).unwrap();
    let total_gib = provider.capacity().unwrap().total_bytes / GIB;
    let name = volume_name();
    let error = provider
        .create_volume(&spec(&name, total_gib + 1, VolumeSource::Empty))
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "volume `{name}` is in an invalid state: {}.0 GiB do not fit: ",
            total_gib + 1
        )),
        "{message}"
    );
    assert!(message.ends_with("(capacity_check = \"error\")"), "{message}");
    assert!(
        !provider.directory().exists(),
        "nothing was written, not even the directory"
    );

    let (small, _) = create_empty(&provider, 1);
    let error = provider.extend_volume(&small, total_gib + 2).unwrap_err();
    assert!(matches!(error, ProviderError::InvalidState { .. }), "{error}");
    assert_eq!(provider.refresh(&[small]).unwrap()[0].virtual_size_bytes, GIB);
}

#[test]
fn a_provider_block_configures_the_provider_whose_first_volume_creates_its_directory() {
    let dir = TempDir::new();
    let path = dir.join("deep/er/volumes");
    let serde_json::Value::Object(attributes) = serde_json::json!({
        "path": path,
        "oversubscription": 2.0,
        "capacity_check": "off"
    }) else {
        unreachable!()
    };
    let provider = LocalProvider::from_config(&ProviderConfig {
        kind: ProviderKind::new(blockform_provider_local::KIND),
        name: "fast".to_owned(),
        attributes,
    })
    .unwrap();
    // Building it (as `plan` does) writes nothing; reading an empty place is fine.
    assert!(!path.exists());
    assert!(provider.refresh(&[volume_name()]).unwrap().is_empty());
    assert!(provider.inventory().unwrap().is_empty());
    assert!(provider.capacity().unwrap().total_bytes > 0);
    create_empty(&provider, 1);
    assert!(path.is_dir());
    assert_eq!(provider.name(), "fast");
    assert_eq!(provider.kind().as_str(), "local");
    assert_eq!(provider.directory(), fs::canonicalize(&path).unwrap());
    assert_eq!(provider.config().capacity_check, CapacityCheck::Off);
    let capabilities = provider.capabilities();
    assert!(capabilities.snapshots && capabilities.clones && capabilities.images && capabilities.changed_extents);
    assert!(!capabilities.qos_backend);
}

#[test]
fn connect_hands_out_the_qcow2_file_valid_on_this_host() {
    let (provider, _dir) = provider();
    let (name, _) = create_empty(&provider, 1);
    let source = provider.connect(&name, "kvm1").unwrap();
    let this_host = gethostname::gethostname().to_string_lossy().into_owned();
    assert_eq!(
        source,
        DiskSource::File {
            path: provider.directory().join(format!("{name}.qcow2")),
            format: ImageFormat::Qcow2,
            valid_on: ValidOn::Host(this_host.clone()),
        }
    );
    assert!(source.valid_on().includes(&this_host));
    let missing = provider.connect("volume-missing", "kvm1").unwrap_err();
    assert!(matches!(missing, ProviderError::NotFound { .. }), "{missing}");
}
