//! Data through the ssh connection: a volume from an image file, read back byte-exact.

use blockform_provider::{ImageFormat, ReadTarget, StorageProvider, VolumeSource};

use crate::support::{Cleanup, random_bytes, read_bytes, spec, thin, volume_name};

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_images_in_and_out_are_byte_exact() {
    let provider = thin();
    let dir = std::env::temp_dir().join(format!("blockform-lvm-image-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("in.raw");
    let data = random_bytes(4 << 20);
    std::fs::write(&image, &data).unwrap();
    let name = volume_name();
    let _cleanup = Cleanup(&provider, vec![name.clone()]);
    let created = provider
        .create_volume(&spec(
            &name,
            1,
            VolumeSource::ImageFile {
                path: image.clone(),
                format: ImageFormat::Raw,
            },
        ))
        .unwrap();
    assert_eq!(created.virtual_size_bytes, 1 << 30);
    assert!(read_bytes(&provider, &ReadTarget::volume(name.as_str()), 0, data.len()) == data);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_an_image_of_a_thin_volume_holds_its_data_and_only_its_mapped_ranges_cross_the_wire() {
    use std::os::unix::fs::MetadataExt;

    let provider = thin();
    let dir = std::env::temp_dir().join(format!("blockform-lvm-export-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let name = volume_name();
    let _cleanup = Cleanup(&provider, vec![name.clone()]);
    provider.create_volume(&spec(&name, 1, VolumeSource::Empty)).unwrap();
    let data = random_bytes(3 << 20);
    crate::support::write_bytes(&provider, &name, 100 << 20, &data);
    let image = dir.join("out.raw");
    let exported = provider
        .export_image(&blockform_provider::ImageExportSpec {
            volume_backend_name: name.clone(),
            format: ImageFormat::Raw,
            destination: image.clone(),
            snapshot_backend_name: None,
        })
        .unwrap();
    assert_eq!(exported.virtual_size_bytes, 1 << 30);
    let metadata = std::fs::metadata(&image).unwrap();
    assert_eq!(metadata.len(), 1 << 30);
    assert!(
        metadata.blocks() * 512 < 8 << 20,
        "a sparse file: {} bytes allocated",
        metadata.blocks() * 512
    );
    let bytes = std::fs::read(&image).unwrap();
    assert!(bytes[100 << 20..(100 << 20) + data.len()] == data[..]);
    assert!(bytes[..100 << 20].iter().all(|&byte| byte == 0));
    assert!(bytes[(100 << 20) + data.len()..].iter().all(|&byte| byte == 0));
    let _ = std::fs::remove_dir_all(&dir);
}
