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
