//! Refresh and inventory read qcow2 headers and sidecars themselves; these tests hold what
//! they report against `qemu-img info` on real files.

use std::fs;
use std::thread;

use blockform_provider::{GIB, InventoryItem, ObjectKind, SnapshotSpec, StorageProvider, VolumeProperties};

use crate::support::{create_empty, provider, qemu_img_info, run, volume_name};

#[test]
fn refresh_of_200_volumes_matches_qemu_img_info() {
    let (provider, _dir) = provider();
    let mut names = Vec::new();
    for index in 0..200_u64 {
        let (name, _) = create_empty(&provider, 1 + index % 5);
        if index % 10 == 0 {
            for snapshot in 0..=(index % 3) {
                provider
                    .create_snapshot(&SnapshotSpec {
                        backend_name: format!("snapshot-{index}-{snapshot}"),
                        volume_backend_name: name.clone(),
                        name: "s".to_owned(),
                        description: None,
                    })
                    .unwrap();
            }
            if index % 20 == 0 {
                // A snapshot records the size the volume had when it was taken.
                provider.extend_volume(&name, 6 + index % 5).unwrap();
            }
        }
        names.push(name);
    }
    let mut asked = names.clone();
    asked.push(volume_name());
    let states = provider.refresh(&asked).unwrap();
    assert_eq!(states.len(), 200, "the missing volume is left out");

    // 200 `qemu-img info` calls, spread over a few threads.
    let images: Vec<_> = names.iter().map(|name| provider.image_path(name).unwrap()).collect();
    let infos: Vec<serde_json::Value> = thread::scope(|scope| {
        let handles: Vec<_> = images
            .chunks(50)
            .map(|chunk| scope.spawn(move || chunk.iter().map(|image| qemu_img_info(image)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|handle| handle.join().unwrap()).collect()
    });
    let mut with_snapshots = 0;
    for ((state, info), name) in states.iter().zip(&infos).zip(&names) {
        assert_eq!(&state.backend_name, name);
        assert_eq!(
            state.virtual_size_bytes,
            info["virtual-size"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(state.properties.name, "data");
        let expected: Vec<(String, u64)> = info["snapshots"]
            .as_array()
            .map(|snapshots| {
                snapshots
                    .iter()
                    .map(|s| (s["name"].as_str().unwrap().to_owned(), s["date-sec"].as_u64().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        let observed: Vec<(String, u64)> = state
            .snapshots
            .iter()
            .map(|s| (s.backend_name.clone(), s.created_at_unix_secs))
            .collect();
        assert_eq!(observed, expected, "{name}");
        if !expected.is_empty() {
            with_snapshots += 1;
        }
    }
    assert_eq!(with_snapshots, 20);
    // Volume 0 had one snapshot at 1 GiB, then grew to 6 GiB.
    assert_eq!(states[0].virtual_size_bytes, 6 * GIB);
    assert_eq!(states[0].snapshots[0].size_bytes, GIB);
    assert!(
        states
            .iter()
            .all(|state| state.allocated_bytes.is_some_and(|bytes| bytes > 0))
    );
}

#[test]
fn refresh_keeps_the_order_asked_for() {
    let (provider, _dir) = provider();
    let (first, _) = create_empty(&provider, 1);
    let (second, _) = create_empty(&provider, 2);
    let states = provider.refresh(&[second.clone(), first.clone()]).unwrap();
    let names: Vec<_> = states.iter().map(|state| state.backend_name.clone()).collect();
    assert_eq!(names, [second, first]);
}

#[test]
fn refresh_reports_a_file_without_sidecar_under_its_own_name() {
    let (provider, _dir) = provider();
    let name = volume_name();
    let image = provider.image_path(&name).unwrap();
    run(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", image.to_str().unwrap(), "3G"],
    );
    let states = provider.refresh(std::slice::from_ref(&name)).unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].virtual_size_bytes, 3 * GIB);
    assert_eq!(
        states[0].properties,
        VolumeProperties {
            name: name.clone(),
            ..VolumeProperties::default()
        }
    );
}

#[test]
fn inventory_lists_owned_and_unmanaged_files() {
    let (provider, _dir) = provider();
    let (owned, _) = create_empty(&provider, 1);
    provider
        .create_snapshot(&SnapshotSpec {
            backend_name: "snapshot-1".to_owned(),
            volume_backend_name: owned.clone(),
            name: "s".to_owned(),
            description: None,
        })
        .unwrap();
    let directory = provider.directory().to_owned();
    let foreign = directory.join("volume-foreign.qcow2");
    run(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", foreign.to_str().unwrap(), "2G"],
    );
    run("qemu-img", &["snapshot", "-c", "manual", foreign.to_str().unwrap()]);
    fs::write(directory.join("volume-garbage.qcow2"), b"not an image").unwrap();
    // Someone else's sidecar does not make a file blockform's.
    let claimed = directory.join("volume-claimed.qcow2");
    run(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", claimed.to_str().unwrap(), "1G"],
    );
    fs::write(
        directory.join("volume-claimed.json"),
        r#"{"managed_by":"other-tool","name":"x","description":null,"bootable":false,"tags":[],"metadata":{}}"#,
    )
    .unwrap();
    // Files that are not volumes by name are not listed.
    run(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            directory.join("debian.qcow2").to_str().unwrap(),
            "1G",
        ],
    );
    // What an interrupted create left is listed by file, with its volume, as blockform's own.
    fs::write(directory.join(".volume-x.qcow2.partial"), b"").unwrap();

    let mut items = provider.inventory().unwrap();
    items.sort_by(|a, b| a.backend_name.cmp(&b.backend_name));
    let item = |backend_name: &str, kind, volume: Option<&str>, size_bytes, owned| InventoryItem {
        backend_name: backend_name.to_owned(),
        kind,
        volume_backend_name: volume.map(str::to_owned),
        size_bytes,
        owned,
    };
    let mut expected = vec![
        item("manual", ObjectKind::Snapshot, Some("volume-foreign"), 2 * GIB, false),
        item("snapshot-1", ObjectKind::Snapshot, Some(&owned), GIB, true),
        item(&owned, ObjectKind::Volume, None, GIB, true),
        item("volume-claimed", ObjectKind::Volume, None, GIB, false),
        item("volume-foreign", ObjectKind::Volume, None, 2 * GIB, false),
        item("volume-garbage", ObjectKind::Other, None, 12, false),
        item(".volume-x.qcow2.partial", ObjectKind::Other, Some("volume-x"), 0, true),
    ];
    expected.sort_by(|a, b| a.backend_name.cmp(&b.backend_name));
    assert_eq!(items, expected);
    assert_eq!(qemu_img_info(&foreign)["snapshots"][0]["name"], "manual");
}
