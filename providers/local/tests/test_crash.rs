//! Running `create_volume` again after a crash: what an interrupted create leaves behind (a
//! sidecar, a partial image) is replaced, a finished volume is adopted, and files blockform did
//! not make are never taken over or removed.
//!
//! The crash states are laid out by hand, exactly as the create path would leave them at each
//! step, since killing the test process itself would end the test.

use std::fs;
use std::os::unix::fs::MetadataExt;

use blockform_provider::{GIB, ImageFormat, ProviderError, StorageProvider, VolumeSource};

use crate::support::{has_pattern, properties, provider, qemu_io, run, spec, volume_name};

#[test]
fn a_partial_image_left_by_a_killed_create_is_replaced() {
    let (provider, _dir) = provider();
    let name = volume_name();
    let directory = provider.directory().to_owned();
    // Killed during `qemu-img create`: the sidecar is there, the image only as a partial file.
    fs::write(
        directory.join(format!("{name}.json")),
        r#"{"managed_by":"blockform","volume_type":"standard","name":"data","description":null,"bootable":false,"tags":[],"metadata":{}}"#,
    )
    .unwrap();
    let partial = directory.join(format!(".{name}.qcow2.partial"));
    fs::write(&partial, b"QFI\xfbtruncated").unwrap();
    assert_eq!(
        provider.refresh(std::slice::from_ref(&name)).unwrap(),
        [],
        "a partial file is no volume"
    );

    let state = provider.create_volume(&spec(&name, 2, VolumeSource::Empty)).unwrap();
    assert_eq!(state.virtual_size_bytes, 2 * GIB);
    assert_eq!(state.properties, properties("data"));
    assert!(!partial.exists());
    let mut files: Vec<String> = fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, [format!("{name}.json"), format!("{name}.qcow2")]);
    run(
        "qemu-img",
        &["check", "-q", provider.image_path(&name).unwrap().to_str().unwrap()],
    );
}

#[test]
fn a_partial_image_without_a_sidecar_is_replaced_too() {
    let (provider, _dir) = provider();
    let name = volume_name();
    let partial = provider.directory().join(format!(".{name}.qcow2.partial"));
    fs::write(&partial, b"garbage").unwrap();
    provider.create_volume(&spec(&name, 1, VolumeSource::Empty)).unwrap();
    assert!(!partial.exists());
}

#[test]
fn a_finished_volume_is_adopted_without_being_rewritten() {
    let (provider, _dir) = provider();
    let name = volume_name();
    let first = provider.create_volume(&spec(&name, 1, VolumeSource::Empty)).unwrap();
    let image = provider.image_path(&name).unwrap();
    qemu_io(&image, "write -P 0x33 0 64k");
    let before = fs::metadata(&image).unwrap();

    let again = provider.create_volume(&spec(&name, 1, VolumeSource::Empty)).unwrap();
    assert_eq!(again.backend_name, first.backend_name);
    assert_eq!(again.virtual_size_bytes, GIB);
    let after = fs::metadata(&image).unwrap();
    assert_eq!(
        (after.ino(), after.mtime(), after.mtime_nsec()),
        (before.ino(), before.mtime(), before.mtime_nsec())
    );
    assert!(has_pattern(&image, "qcow2", 0x33, "0", "64k"), "the data is kept");

    // The retry's properties win: they are what the engine recorded in its intent.
    let mut renamed = spec(&name, 1, VolumeSource::Empty);
    renamed.properties.name = "renamed".to_owned();
    let state = provider.create_volume(&renamed).unwrap();
    assert_eq!(state.properties.name, "renamed");
    assert_eq!(
        provider.refresh(std::slice::from_ref(&name)).unwrap()[0]
            .properties
            .name,
        "renamed"
    );
}

#[test]
fn a_finished_volume_of_another_size_conflicts() {
    let (provider, _dir) = provider();
    let name = volume_name();
    provider.create_volume(&spec(&name, 1, VolumeSource::Empty)).unwrap();
    let error = provider
        .create_volume(&spec(&name, 2, VolumeSource::Empty))
        .unwrap_err();
    assert!(matches!(error, ProviderError::Conflict { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "volume `{name}` conflicts with an existing object: it exists with 1 GiB instead of the requested 2 GiB"
        )
    );
}

#[test]
fn a_file_blockform_did_not_make_is_never_taken_over() {
    let (provider, _dir) = provider();
    let name = volume_name();
    let image = provider.image_path(&name).unwrap();
    run(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", image.to_str().unwrap(), "1G"],
    );
    qemu_io(&image, "write -P 0x44 0 64k");
    let bytes = fs::read(&image).unwrap();
    let error = provider
        .create_volume(&spec(&name, 1, VolumeSource::Empty))
        .unwrap_err();
    assert!(matches!(error, ProviderError::Conflict { .. }), "{error}");
    assert!(
        error.to_string().contains("exists but is not managed by blockform"),
        "{error}"
    );
    assert_eq!(fs::read(&image).unwrap(), bytes);
    assert!(!provider.directory().join(format!("{name}.json")).exists());
}

#[test]
fn a_failed_create_leaves_nothing_behind() {
    let (provider, dir) = provider();
    // A raw file stated to be qcow2: qemu-img refuses to read it.
    let not_qcow2 = dir.join("disk.raw");
    run(
        "qemu-img",
        &["create", "-q", "-f", "raw", not_qcow2.to_str().unwrap(), "1M"],
    );
    let name = volume_name();
    let error = provider
        .create_volume(&spec(
            &name,
            1,
            VolumeSource::ImageFile {
                path: not_qcow2,
                format: ImageFormat::Qcow2,
            },
        ))
        .unwrap_err();
    let command = error.command().expect("the qemu-img failure is reported");
    assert_eq!(command.argv[..2], ["qemu-img", "info"]);
    assert!(command.stderr.contains("qcow2"), "{}", command.stderr);
    assert_eq!(fs::read_dir(provider.directory()).unwrap().count(), 0);
}

#[test]
fn a_create_whose_copy_fails_removes_its_sidecar_and_partial_image() {
    let (provider, _dir) = provider();
    let source = volume_name();
    provider.create_volume(&spec(&source, 1, VolumeSource::Empty)).unwrap();
    // An open writer holds the image's write lock, so `qemu-img convert` cannot read it.
    let writer = provider.open_writer(&source).unwrap();
    let name = volume_name();
    let error = provider
        .create_volume(&spec(
            &name,
            1,
            VolumeSource::Volume {
                backend_name: source.clone(),
            },
        ))
        .unwrap_err();
    assert!(matches!(error, ProviderError::Busy { .. }), "{error}");
    assert_eq!(error.command().unwrap().argv[..2], ["qemu-img", "convert"]);
    writer.finish().unwrap();
    let mut files: Vec<String> = fs::read_dir(provider.directory())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, [format!("{source}.json"), format!("{source}.qcow2")]);
    // Once the writer is gone the same create succeeds.
    provider
        .create_volume(&spec(&name, 1, VolumeSource::Volume { backend_name: source }))
        .unwrap();
}
