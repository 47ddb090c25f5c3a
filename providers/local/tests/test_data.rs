//! Reading and writing a volume's bytes through qemu-nbd and the provider's NBD client.

use blockform_provider::{GIB, ObjectRef, ProviderError, ReadTarget, SnapshotSpec, StorageProvider};

use crate::support::{create_empty, has_pattern, provider, qemu_io, random_bytes, start_qemu_nbd_holding_the_lock};

#[test]
fn what_the_writer_writes_the_reader_reads_back() {
    let (provider, _dir) = provider();
    let (name, _) = create_empty(&provider, 1);
    let image = provider.image_path(&name).unwrap();

    // 40 MiB is more than one NBD request carries; the odd offsets are not sector-aligned.
    let large = random_bytes(40 << 20);
    let small = random_bytes(1000);
    let mut writer = provider.open_writer(&name).unwrap();
    assert_eq!(writer.size_bytes(), GIB);
    writer.write_all_at(3, &large).unwrap();
    writer.write_all_at(GIB - 1000, &small).unwrap();
    writer.write_all_at(512 << 20, &vec![0xff; 4 << 20]).unwrap();
    writer.write_zeroes((512 << 20) + 4096, 2 << 20).unwrap();
    writer.write_zeroes(0, 0).unwrap();
    let error = writer.write_all_at(GIB - 10, &[1; 11]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "range of 11 bytes at offset 1073741814 ends past the end of the volume (1073741824 bytes)"
    );
    writer.finish().unwrap();

    let mut reader = provider.open_reader(&ReadTarget::volume(name.clone())).unwrap();
    assert_eq!(reader.size_bytes(), GIB);
    let mut buf = vec![0_u8; large.len()];
    reader.read_exact_at(3, &mut buf).unwrap();
    assert!(buf == large, "the 40 MiB read back differ");
    let mut buf = vec![0_u8; 1000];
    reader.read_exact_at(GIB - 1000, &mut buf).unwrap();
    assert_eq!(buf, small);
    let mut buf = vec![0_u8; 4 << 20];
    reader.read_exact_at(512 << 20, &mut buf).unwrap();
    assert!(buf[..4096].iter().all(|&b| b == 0xff));
    assert!(buf[4096..4096 + (2 << 20)].iter().all(|&b| b == 0));
    assert!(buf[4096 + (2 << 20)..].iter().all(|&b| b == 0xff));
    let mut head = [0xee_u8; 3];
    reader.read_exact_at(0, &mut head).unwrap();
    assert_eq!(head, [0, 0, 0]);
    assert!(reader.read_exact_at(GIB, &mut [0_u8; 1]).is_err());
    drop(reader);

    // qemu-io sees the same bytes in the file, so the writer flushed and qemu-nbd exited.
    assert!(has_pattern(&image, "qcow2", 0xff, "512M", "4k"));
    assert!(has_pattern(&image, "qcow2", 0, "516M", "1M"));
}

#[test]
fn zeroing_the_whole_volume_takes_several_requests() {
    let (provider, _dir) = provider();
    let (name, _) = create_empty(&provider, 2);
    let image = provider.image_path(&name).unwrap();
    qemu_io(&image, "write -P 0x61 1536M 1M");
    let mut writer = provider.open_writer(&name).unwrap();
    writer.write_zeroes(0, 2 * GIB).unwrap();
    writer.finish().unwrap();
    assert!(has_pattern(&image, "qcow2", 0, "1536M", "1M"));
}

#[test]
fn a_snapshot_reader_sees_the_data_of_its_time() {
    let (provider, _dir) = provider();
    let (name, _) = create_empty(&provider, 1);
    let image = provider.image_path(&name).unwrap();
    qemu_io(&image, "write -P 0xab 0 1M");
    provider
        .create_snapshot(&SnapshotSpec {
            backend_name: "snapshot-before".to_owned(),
            volume_backend_name: name.clone(),
            name: "before".to_owned(),
            description: None,
        })
        .unwrap();
    qemu_io(&image, "write -P 0xcd 0 1M");

    let mut old = provider
        .open_reader(&ReadTarget::snapshot(name.clone(), "snapshot-before"))
        .unwrap();
    let mut live = provider.open_reader(&ReadTarget::volume(name.clone())).unwrap();
    let mut buf = vec![0_u8; 1 << 20];
    old.read_exact_at(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0xab));
    live.read_exact_at(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0xcd));

    let error = provider
        .open_reader(&ReadTarget::snapshot(name.clone(), "snapshot-missing"))
        .err()
        .unwrap();
    assert_eq!(error, ProviderError::not_found(ObjectRef::snapshot("snapshot-missing")));
}

#[test]
fn an_open_writer_makes_the_volume_busy_until_it_finishes() {
    let (provider, _dir) = provider();
    let (name, _) = create_empty(&provider, 1);
    let writer = provider.open_writer(&name).unwrap();
    let error = provider.extend_volume(&name, 2).unwrap_err();
    assert!(matches!(error, ProviderError::Busy { .. }), "{error}");
    let error = provider.open_writer(&name).err().unwrap();
    assert!(matches!(error, ProviderError::Busy { .. }), "{error}");
    assert_eq!(error.command().unwrap().argv[0], "qemu-nbd");
    writer.finish().unwrap();
    assert_eq!(provider.extend_volume(&name, 2).unwrap().virtual_size_bytes, 2 * GIB);
}

/// A lock another process releases within moments (a killed run's qemu-nbd exiting) is waited
/// for by changes and by reads alike, instead of failing the operation as busy.
#[test]
fn a_lock_another_process_releases_within_moments_is_waited_for() {
    let (provider, dir) = provider();
    let (name, _) = create_empty(&provider, 1);
    let image = provider.image_path(&name).unwrap();
    for attempt in ["extend", "read"] {
        let server = start_qemu_nbd_holding_the_lock(&image, &dir.join(&format!("{attempt}.sock")));
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(1500));
            drop(server);
        });
        match attempt {
            "extend" => assert_eq!(provider.extend_volume(&name, 2).unwrap().virtual_size_bytes, 2 * GIB),
            _ => assert_eq!(
                provider
                    .open_reader(&ReadTarget::volume(name.clone()))
                    .unwrap()
                    .size_bytes(),
                2 * GIB
            ),
        }
        release.join().unwrap();
    }
}

#[test]
fn dropping_a_reader_or_writer_releases_the_volume() {
    let (provider, _dir) = provider();
    let (name, _) = create_empty(&provider, 1);
    drop(provider.open_reader(&ReadTarget::volume(name.clone())).unwrap());
    let mut writer = provider.open_writer(&name).unwrap();
    writer.write_all_at(0, &[7; 512]).unwrap();
    drop(writer);
    let mut reader = provider.open_reader(&ReadTarget::volume(name.clone())).unwrap();
    let mut buf = [0_u8; 512];
    reader.read_exact_at(0, &mut buf).unwrap();
    assert_eq!(buf, [7; 512], "a dropped writer still disconnected cleanly");
    drop(reader);
    assert_eq!(provider.extend_volume(&name, 2).unwrap().virtual_size_bytes, 2 * GIB);
}
