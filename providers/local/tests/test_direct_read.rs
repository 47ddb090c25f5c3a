//! Backups read plain qcow2 clusters straight from the file: what they read must be exactly
//! what QEMU reads, for every kind of cluster (data, zero-flagged, discarded, unallocated,
//! copied on write after a snapshot, past a resize, compressed, unaligned ranges).

use std::io::Read;
use std::path::Path;

use blockform_provider::{ReadTarget, SnapshotSpec, StorageProvider};

use crate::support::{create_empty, provider, qemu_io, run};

/// Compares what the provider's reader returns, in pieces of `piece` bytes starting at `skew`,
/// with the raw bytes `qemu-img convert` writes for the same image.
fn assert_reads_like_qemu(provider: &blockform_provider_local::LocalProvider, name: &str, piece: usize, skew: u64) {
    let image = provider.image_path(name).unwrap();
    let raw = image.with_extension("raw");
    run(
        "qemu-img",
        &[
            "convert",
            "-U",
            "-O",
            "raw",
            image.to_str().unwrap(),
            raw.to_str().unwrap(),
        ],
    );
    let mut expected = std::fs::File::open(&raw).unwrap();
    let mut reader = provider.open_reader(&ReadTarget::volume(name.to_owned())).unwrap();
    let size = reader.size_bytes();
    assert_eq!(size, std::fs::metadata(&raw).unwrap().len());
    let mut skipped = vec![0_u8; usize::try_from(skew).unwrap()];
    expected.read_exact(&mut skipped).unwrap();
    let mut offset = skew;
    let mut got = vec![0_u8; piece];
    let mut want = vec![0_u8; piece];
    while offset < size {
        let length = usize::try_from((size - offset).min(piece as u64)).unwrap();
        reader.read_exact_at(offset, &mut got[..length]).unwrap();
        expected.read_exact(&mut want[..length]).unwrap();
        assert!(
            got[..length] == want[..length],
            "{name}: bytes differ in {length} bytes at {offset}"
        );
        offset += length as u64;
    }
    // Backwards and across the whole range once more, in one odd-sized read.
    let mut head = vec![0_u8; 3 * 65_536 + 17];
    reader.read_exact_at(65_536 - 7, &mut head).unwrap();
    let mut expected = std::fs::File::open(&raw).unwrap();
    let mut want = vec![0_u8; head.len()];
    std::io::Seek::seek(&mut expected, std::io::SeekFrom::Start(65_536 - 7)).unwrap();
    expected.read_exact(&mut want).unwrap();
    assert!(head == want, "{name}: an unaligned read across clusters differs");
    std::fs::remove_file(raw).unwrap();
}

fn write(image: &Path, commands: &[&str]) {
    for command in commands {
        qemu_io(image, command);
    }
}

#[test]
fn every_kind_of_cluster_reads_as_qemu_reads_it() {
    let (provider, _dir) = provider();
    let (name, _) = create_empty(&provider, 1);
    let image = provider.image_path(&name).unwrap();
    write(
        &image,
        &[
            "write -P 0x11 0 3M",
            "write -P 0x22 100M 64k",
            "write -P 0x33 200M 1M",
            "write -z 200M 64k",
            "discard 209846272 64k",
            "write -P 0x44 1023M 1M",
            "write -P 0x55 535826432 8k",
        ],
    );
    provider
        .create_snapshot(&SnapshotSpec {
            backend_name: "snapshot-1".to_owned(),
            volume_backend_name: name.clone(),
            name: "s".to_owned(),
            description: None,
        })
        .unwrap();
    // Copied on write after the snapshot, and grown past the old end.
    write(&image, &["write -P 0x66 1M 128k", "write -z 100M 64k"]);
    provider.extend_volume(&name, 2).unwrap();
    write(&image, &["write -P 0x77 1536M 64k", "write -P 0x78 2047M 1M"]);
    assert_reads_like_qemu(&provider, &name, 1 << 20, 0);
    assert_reads_like_qemu(&provider, &name, 4 << 20, 12_345);

    // The snapshot itself still reads its own bytes (through QEMU).
    let mut reader = provider
        .open_reader(&ReadTarget::snapshot(name.clone(), "snapshot-1"))
        .unwrap();
    let mut bytes = vec![0_u8; 65_536];
    reader.read_exact_at(1 << 20, &mut bytes).unwrap();
    assert!(
        bytes.iter().all(|&b| b == 0x11),
        "the snapshot keeps the bytes before the overwrite"
    );
}

#[test]
fn compressed_clusters_are_read_through_qemu() {
    let (provider, _dir) = provider();
    let (name, _) = create_empty(&provider, 1);
    let image = provider.image_path(&name).unwrap();
    write(&image, &["write -P 0x12 0 2M", "write -P 0x34 700M 256k"]);
    // Rewrite the volume with compressed clusters, then write plain ones over part of it.
    let compressed = image.with_extension("compressed");
    run(
        "qemu-img",
        &[
            "convert",
            "-c",
            "-O",
            "qcow2",
            image.to_str().unwrap(),
            compressed.to_str().unwrap(),
        ],
    );
    std::fs::rename(&compressed, &image).unwrap();
    write(&image, &["write -P 0x56 1M 64k"]);
    assert_reads_like_qemu(&provider, &name, 1 << 20, 0);
}
