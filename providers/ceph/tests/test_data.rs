//! Backups' side of the provider: bytes written through `rbd import-diff`, read back through
//! `rbd export`, and the extents `rbd diff` reports as changed since a marker snapshot.

use blockform_provider::{ChangeMarker, Extent, GIB, ReadTarget, StorageProvider};

use crate::support::{Cleanup, create_empty, export_bytes, image_spec, provider, random_bytes, rbd_json};

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_what_the_writer_writes_the_reader_reads_back() {
    let provider = provider();
    let (name, _) = create_empty(&provider, 1);
    let _cleanup = Cleanup(&provider, vec![name.clone()]);

    let large = random_bytes(40 << 20);
    let small = random_bytes(1000);
    let mut writer = provider.open_writer(&name).unwrap();
    assert_eq!(writer.size_bytes(), GIB);
    writer.write_all_at(3, &large).unwrap();
    writer.write_all_at(GIB - 1000, &small).unwrap();
    writer.write_all_at(512 << 20, &vec![0xff; 4 << 20]).unwrap();
    writer.write_zeroes((512 << 20) + 4096, 2 << 20).unwrap();
    let error = writer.write_all_at(GIB - 10, &[1; 11]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "range of 11 bytes at offset 1073741814 ends past the end of the volume (1073741824 bytes)"
    );
    writer.finish().unwrap();

    // The real `rbd export` sees what was written.
    let bytes = export_bytes(&provider, &image_spec(&name));
    assert!(bytes[3..3 + large.len()] == large[..]);
    assert!(bytes[bytes.len() - 1000..] == small[..]);
    assert!(bytes[512 << 20..(512 << 20) + 4096].iter().all(|&b| b == 0xff));
    assert!(
        bytes[(512 << 20) + 4096..(512 << 20) + 4096 + (2 << 20)]
            .iter()
            .all(|&b| b == 0)
    );

    let mut reader = provider.open_reader(&ReadTarget::volume(name.clone())).unwrap();
    assert_eq!(reader.size_bytes(), GIB);
    let mut buf = vec![0_u8; large.len()];
    reader.read_exact_at(3, &mut buf).unwrap();
    assert!(buf == large);
    let mut buf = vec![0_u8; 1000];
    reader.read_exact_at(GIB - 1000, &mut buf).unwrap();
    assert_eq!(buf, small);
    // Backwards: the stream starts over.
    let mut head = [0xee_u8; 3];
    reader.read_exact_at(0, &mut head).unwrap();
    assert_eq!(head, [0, 0, 0]);
    assert!(reader.read_exact_at(GIB, &mut [0_u8; 1]).is_err());
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_changed_extents_since_a_marker_are_the_blocks_written_after_it() {
    let provider = provider();
    let (name, _) = create_empty(&provider, 1);
    let _cleanup = Cleanup(&provider, vec![name.clone()]);
    let base = random_bytes(16 << 20);
    let mut writer = provider.open_writer(&name).unwrap();
    writer.write_all_at(0, &base).unwrap();
    writer.finish().unwrap();

    // Without a marker: the allocated ranges, which cover the data written.
    let allocated = provider
        .changed_extents(&ReadTarget::volume(name.clone()), None)
        .unwrap();
    assert_eq!(allocated.source, blockform_provider_ceph::RBD_DIFF);
    assert!(
        allocated.extents.iter().any(|e| e.offset == 0 && e.length >= 16 << 20),
        "{allocated:?}"
    );
    assert!(allocated.changed_bytes() < 64 << 20);

    let marker = provider.create_change_marker(&name, "backup-1").unwrap();
    assert_eq!(
        marker,
        ChangeMarker::Snapshot {
            backend_name: "backup-1".into()
        }
    );
    assert_eq!(provider.create_change_marker(&name, "backup-1").unwrap(), marker);

    // Scattered 64 KiB writes after the marker.
    let offsets: Vec<u64> = vec![4 << 20, (100 << 20) + 65536, 700 << 20, GIB - 65536];
    let patches: Vec<Vec<u8>> = offsets.iter().map(|_| random_bytes(65536)).collect();
    let mut writer = provider.open_writer(&name).unwrap();
    for (offset, patch) in offsets.iter().zip(&patches) {
        writer.write_all_at(*offset, patch).unwrap();
    }
    writer.finish().unwrap();
    provider.create_change_marker(&name, "backup-2").unwrap();

    let changed = provider
        .changed_extents(&ReadTarget::snapshot(name.clone(), "backup-2"), Some(&marker))
        .unwrap();
    assert_eq!(changed.source, blockform_provider_ceph::RBD_DIFF);
    assert_eq!(changed.volume_size_bytes, GIB);
    // Every range written is covered, and little else: rbd may widen a range to the part of
    // an object it stores, never to the whole volume.
    for &offset in &offsets {
        assert!(
            changed
                .extents
                .iter()
                .any(|extent| extent.offset <= offset && offset + 65536 <= extent.end()),
            "{offset} is not covered by {:?}",
            changed.extents
        );
    }
    assert!(changed.changed_bytes() <= 4 * (4 << 20), "{:?}", changed.extents);
    assert!(
        !changed.extents.iter().any(|extent| extent.offset < 4 << 20),
        "{:?}",
        changed.extents
    );

    // Reading the changed extents from the newer marker gives the bytes written.
    let mut reader = provider
        .open_reader(&ReadTarget::snapshot(name.clone(), "backup-2"))
        .unwrap();
    for (&offset, patch) in offsets.iter().zip(&patches) {
        let mut buf = vec![0_u8; 65536];
        reader.read_exact_at(offset, &mut buf).unwrap();
        assert!(&buf == patch, "bytes at {offset}");
    }
    // The older marker still holds the data from before.
    let mut reader = provider
        .open_reader(&ReadTarget::snapshot(name.clone(), "backup-1"))
        .unwrap();
    let mut buf = vec![0_u8; 65536];
    reader.read_exact_at(4 << 20, &mut buf).unwrap();
    assert!(buf[..] == base[4 << 20..(4 << 20) + 65536]);

    // A marker that is gone means hashing everything.
    provider.delete_change_marker(&name, &marker).unwrap();
    provider.delete_change_marker(&name, &marker).unwrap();
    let whole = provider
        .changed_extents(&ReadTarget::volume(name.clone()), Some(&marker))
        .unwrap();
    assert!(whole.must_hash_everything());
    assert_eq!(whole.extents, [Extent { offset: 0, length: GIB }]);
    let snapshots = rbd_json(&provider, &["snap", "ls", &image_spec(&name)]);
    assert_eq!(snapshots.as_array().unwrap().len(), 1);
    assert_eq!(snapshots[0]["name"], "backup-2");
}
