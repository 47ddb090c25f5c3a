//! The qcow2 parser against files written by the real `qemu-img`: every field it reads must
//! agree with `qemu-img info --output=json`.

use std::fs;
use std::path::Path;

use blockform_provider_local::qcow2::{self, Header};

use crate::support::{TempDir, qemu_img_info, run, start_qemu_nbd_writer};

/// Parses the header, snapshot table and bitmap directory of a small file read whole.
fn parse(path: &Path) -> (Header, Vec<qcow2::Snapshot>, Vec<qcow2::Bitmap>) {
    let bytes = fs::read(path).unwrap();
    let header = Header::parse(&bytes).unwrap();
    let offset = usize::try_from(header.snapshots_offset).unwrap();
    let snapshots = if header.nb_snapshots == 0 {
        Vec::new()
    } else {
        qcow2::parse_snapshot_table(&bytes[offset..], header.nb_snapshots).unwrap()
    };
    let bitmaps = match qcow2::find_bitmaps_extension(&bytes, &header).unwrap() {
        Some(extension) => {
            let offset = usize::try_from(extension.directory_offset).unwrap();
            qcow2::parse_bitmap_directory(&bytes[offset..], extension.nb_bitmaps).unwrap()
        }
        None => Vec::new(),
    };
    (header, snapshots, bitmaps)
}

fn assert_matches_qemu_img(path: &Path) {
    let info = qemu_img_info(path);
    let (header, snapshots, _) = parse(path);
    assert_eq!(
        header.size_bytes,
        info["virtual-size"].as_u64().unwrap(),
        "{}",
        path.display()
    );
    assert_eq!(header.cluster_bytes(), info["cluster-size"].as_u64().unwrap());
    let compat = info["format-specific"]["data"]["compat"].as_str().unwrap();
    assert_eq!(header.version, if compat == "0.10" { 2 } else { 3 });
    let expected = info["snapshots"].as_array().cloned().unwrap_or_default();
    assert_eq!(snapshots.len(), expected.len());
    for (snapshot, expected) in snapshots.iter().zip(&expected) {
        assert_eq!(snapshot.id, expected["id"].as_str().unwrap());
        assert_eq!(snapshot.name, expected["name"].as_str().unwrap());
        assert_eq!(u64::from(snapshot.date_sec), expected["date-sec"].as_u64().unwrap());
        assert_eq!(u64::from(snapshot.date_nsec), expected["date-nsec"].as_u64().unwrap());
        assert_eq!(snapshot.vm_state_size, expected["vm-state-size"].as_u64().unwrap());
    }
}

#[test]
fn headers_and_snapshot_tables_match_qemu_img_for_every_layout() {
    let dir = TempDir::new();
    for (file, options, size) in [
        ("v3.qcow2", "compat=1.1", "10G"),
        ("v2.qcow2", "compat=0.10", "3G"),
        ("small-clusters.qcow2", "cluster_size=512", "100M"),
        ("large-clusters.qcow2", "cluster_size=2M", "1T"),
        ("odd-size.qcow2", "compat=1.1", "1000000000"),
        ("extended-l2.qcow2", "extended_l2=on,cluster_size=128k", "5G"),
    ] {
        let path = dir.join(file);
        let path_str = path.to_str().unwrap();
        run(
            "qemu-img",
            &["create", "-q", "-f", "qcow2", "-o", options, path_str, size],
        );
        assert_matches_qemu_img(&path);
        // Names of every length pad entries differently.
        for name in [
            "a",
            "snapshot-1",
            "snapshot-with-a-much-longer-name-0123456789abcdef",
            "xy",
        ] {
            run("qemu-img", &["snapshot", "-c", name, path_str]);
        }
        assert_matches_qemu_img(&path);
        run("qemu-img", &["snapshot", "-d", "snapshot-1", path_str]);
        assert_matches_qemu_img(&path);
    }
}

#[test]
fn snapshot_entries_record_the_size_at_the_time() {
    let dir = TempDir::new();
    let path = dir.join("grow.qcow2");
    let path_str = path.to_str().unwrap();
    run("qemu-img", &["create", "-q", "-f", "qcow2", path_str, "1G"]);
    run("qemu-img", &["snapshot", "-c", "at-1g", path_str]);
    run("qemu-img", &["resize", "-q", path_str, "3G"]);
    run("qemu-img", &["snapshot", "-c", "at-3g", path_str]);
    let (header, snapshots, _) = parse(&path);
    assert_eq!(header.size_bytes, 3 << 30);
    let sizes: Vec<_> = snapshots.iter().map(|s| (s.name.as_str(), s.disk_size_bytes)).collect();
    assert_eq!(sizes, [("at-1g", Some(1 << 30)), ("at-3g", Some(3 << 30))]);
    assert_matches_qemu_img(&path);
}

#[test]
fn bitmaps_match_qemu_img_including_the_in_use_flag() {
    let dir = TempDir::new();
    let path = dir.join("bitmaps.qcow2");
    let path_str = path.to_str().unwrap();
    run("qemu-img", &["create", "-q", "-f", "qcow2", path_str, "1G"]);
    assert_eq!(parse(&path).2, []);
    run("qemu-img", &["bitmap", "--add", path_str, "backup-1"]);
    run(
        "qemu-img",
        &["bitmap", "--add", "--disable", "-g", "1M", path_str, "b2"],
    );
    let (header, _, bitmaps) = parse(&path);
    assert!(header.bitmaps_consistent());
    let summary: Vec<_> = bitmaps
        .iter()
        .map(|b| (b.name.as_str(), b.enabled, b.in_use, b.granularity_bytes))
        .collect();
    assert_eq!(
        summary,
        [("backup-1", true, false, 65536), ("b2", false, false, 1 << 20)]
    );
    let info = qemu_img_info(&path);
    let listed = info["format-specific"]["data"]["bitmaps"].as_array().unwrap();
    for (bitmap, expected) in bitmaps.iter().zip(listed) {
        assert_eq!(bitmap.name, expected["name"].as_str().unwrap());
        assert_eq!(bitmap.granularity_bytes, expected["granularity"].as_u64().unwrap());
        let flags: Vec<&str> = expected["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert_eq!(bitmap.enabled, flags.contains(&"auto"));
        assert_eq!(bitmap.in_use, flags.contains(&"in-use"));
    }

    // A writer killed with SIGKILL leaves its enabled bitmaps flagged in use.
    let server = start_qemu_nbd_writer(&path, &dir.join("nbd.sock"));
    let (_, _, bitmaps) = parse(&path);
    assert!(bitmaps[0].in_use, "an open writer flags its enabled bitmaps");
    drop(server);
    let (_, _, bitmaps) = parse(&path);
    assert!(bitmaps.iter().all(|bitmap| bitmap.in_use), "{bitmaps:?}");
    let info = qemu_img_info(&path);
    let flags = info["format-specific"]["data"]["bitmaps"][0]["flags"].to_string();
    assert!(flags.contains("in-use"), "{flags}");
}

#[test]
fn files_that_are_not_qcow2_are_refused() {
    let dir = TempDir::new();
    let raw = dir.join("disk.raw");
    run("qemu-img", &["create", "-q", "-f", "raw", raw.to_str().unwrap(), "1M"]);
    let error = Header::parse(&fs::read(&raw).unwrap()).unwrap_err();
    assert_eq!(
        error,
        qcow2::Qcow2Error::NotQcow2 {
            found: vec![0, 0, 0, 0]
        }
    );
}
