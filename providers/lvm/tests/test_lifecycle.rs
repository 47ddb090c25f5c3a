//! Volumes and snapshots on the real LVM host: create, extend, tags and record, delete, thin
//! and thick; snapshots and clones; drift after lvm commands run outside blockform; capacity.

use blockform_provider::{GIB, ProviderError, SnapshotSpec, StorageProvider, VolumeProperties, VolumeSource};

use crate::support::{
    Cleanup, NEEDS_HOST, create_empty, lv_exists, lv_tags, on_host, properties, snapshot_name, spec, thick, thin,
    volume_name,
};

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_thin_volume_lifecycle() {
    let _ = NEEDS_HOST;
    let provider = thin();
    let (name, created) = create_empty(&provider, 1);
    let _cleanup = Cleanup(&provider, vec![name.clone()]);
    assert_eq!(created.virtual_size_bytes, GIB);
    assert_eq!(created.properties, properties("data"));
    let tags = lv_tags(&provider, &name);
    assert!(
        tags.contains(&"test".to_owned()) && tags.iter().any(|tag| tag.starts_with("bf.r00:")),
        "{tags:?}"
    );
    let pool = on_host(
        &provider,
        &["lvs", "--noheadings", "-o", "pool_lv", &format!("vg0/{name}")],
    );
    assert_eq!(pool.trim(), "pool", "a thin volume of the block's pool");

    let grown = provider.extend_volume(&name, 2).unwrap();
    assert_eq!(grown.virtual_size_bytes, 2 * GIB);
    let shrink = provider.extend_volume(&name, 1).unwrap_err();
    assert!(shrink.to_string().contains("volumes only grow"), "{shrink}");

    let renamed = VolumeProperties {
        name: "renamed".into(),
        description: None,
        bootable: true,
        tags: vec!["prod".into(), "two words".into()],
        metadata: [("k".to_owned(), "v".to_owned())].into_iter().collect(),
    };
    let updated = provider.update_volume_metadata(&name, &renamed, None).unwrap();
    assert_eq!(updated.properties, renamed);
    let tags = lv_tags(&provider, &name);
    assert!(
        tags.contains(&"prod".to_owned()) && !tags.contains(&"test".to_owned()),
        "{tags:?}"
    );
    let refreshed = provider.refresh(std::slice::from_ref(&name)).unwrap();
    assert_eq!(refreshed[0].properties, renamed);
    assert_eq!(refreshed[0].size_gib(), 2);

    let inventory = provider.inventory().unwrap();
    assert!(inventory.iter().any(|item| item.backend_name == name && item.owned));

    provider.delete_volume(&name).unwrap();
    assert!(!lv_exists(&provider, &name));
    provider.delete_volume(&name).unwrap();
    assert!(provider.refresh(std::slice::from_ref(&name)).unwrap().is_empty());
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_thick_volume_lifecycle_and_capacity() {
    let provider = thick();
    let (name, created) = create_empty(&provider, 1);
    let _cleanup = Cleanup(&provider, vec![name.clone()]);
    assert_eq!(created.virtual_size_bytes, GIB);
    assert_eq!(created.allocated_bytes, None);
    let segtype = on_host(
        &provider,
        &["lvs", "--noheadings", "-o", "segtype", &format!("vg0/{name}")],
    );
    assert_eq!(segtype.trim(), "linear");
    let capacity = provider.capacity().unwrap();
    assert!(!capacity.thin_provisioned && capacity.free_bytes < capacity.total_bytes);

    // Running the same create again adopts the finished volume.
    let again = provider.create_volume(&spec(&name, 1, VolumeSource::Empty)).unwrap();
    assert_eq!(again.backend_name, name);
    // Another size is a conflict, not a second volume.
    let conflict = provider
        .create_volume(&spec(&name, 2, VolumeSource::Empty))
        .unwrap_err();
    assert!(matches!(conflict, ProviderError::Conflict { .. }), "{conflict}");

    let mut strict = crate::support::thick_config();
    strict.capacity_check = blockform_provider::CapacityCheck::Error;
    let strict = blockform_provider_lvm::LvmProvider::new("host1", strict).unwrap();
    let too_big = strict
        .create_volume(&spec(&volume_name(), 500, VolumeSource::Empty))
        .unwrap_err();
    assert!(too_big.to_string().contains("500 GiB requested but only"), "{too_big}");
    let grown = provider.extend_volume(&name, 2).unwrap();
    assert_eq!(grown.virtual_size_bytes, 2 * GIB);
    provider.delete_volume(&name).unwrap();
    assert!(!lv_exists(&provider, &name));
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_shell_metacharacters_never_reach_the_remote_shell_unquoted() {
    let provider = thin();
    let marker = format!("/tmp/pwned-{}", uuid::Uuid::new_v4());
    let hostile = format!("$(touch {marker}); `touch {marker}` ' \" ; touch {marker} # \n");
    let name = volume_name();
    let _cleanup = Cleanup(&provider, vec![name.clone()]);
    let mut volume = spec(&name, 1, VolumeSource::Empty);
    volume.properties = VolumeProperties {
        name: hostile.clone(),
        description: Some(hostile.clone()),
        bootable: false,
        tags: vec![hostile.clone(), "ok".into()],
        metadata: [(hostile.clone(), hostile.clone())].into_iter().collect(),
    };
    let created = provider.create_volume(&volume).unwrap();
    assert_eq!(created.properties, volume.properties);
    let refreshed = provider.refresh(std::slice::from_ref(&name)).unwrap();
    assert_eq!(
        refreshed[0].properties, volume.properties,
        "the record round-trips every character"
    );
    let touched = provider.run_on_host(&["test", "-e", &marker]).unwrap();
    assert_eq!(touched.status, Some(1), "nothing ran on the host");

    // A backend name with metacharacters is refused before any command.
    let error = provider
        .create_volume(&spec("volume-$(reboot)", 1, VolumeSource::Empty))
        .unwrap_err();
    assert!(matches!(error, ProviderError::InvalidName { .. }), "{error}");
    // Arguments are quoted words of one remote command line.
    let argv = provider.process_argv(&["lvs", "a b; c"]);
    assert_eq!(argv.last().unwrap(), "LC_ALL=C 'lvs' 'a b; c'");
    assert!(argv.iter().any(|word| word.starts_with("ControlPath=")), "{argv:?}");
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_thin_snapshots_and_clones_independent_of_their_source() {
    let provider = thin();
    let (name, _) = create_empty(&provider, 1);
    let snapshot = snapshot_name();
    let same = volume_name();
    let bigger = volume_name();
    let _cleanup = Cleanup(
        &provider,
        vec![name.clone(), snapshot.clone(), same.clone(), bigger.clone()],
    );
    let data = crate::support::random_bytes(1 << 20);
    crate::support::write_bytes(&provider, &name, 4096, &data);
    let taken = provider
        .create_snapshot(&SnapshotSpec {
            backend_name: snapshot.clone(),
            volume_backend_name: name.clone(),
            name: "s".into(),
            description: None,
        })
        .unwrap();
    assert_eq!(taken.size_bytes, GIB);
    crate::support::write_bytes(&provider, &name, 4096, &[0xee; 4096]);
    let state = &provider.refresh(std::slice::from_ref(&name)).unwrap()[0];
    assert_eq!(state.snapshots.len(), 1);
    assert_eq!(state.snapshots[0].backend_name, snapshot);

    let source = VolumeSource::Snapshot {
        volume_backend_name: name.clone(),
        snapshot_backend_name: snapshot.clone(),
    };
    provider.create_volume(&spec(&same, 1, source.clone())).unwrap();
    let grown = provider.create_volume(&spec(&bigger, 2, source)).unwrap();
    assert_eq!(grown.virtual_size_bytes, 2 * GIB);
    assert!(!lv_exists(&provider, &format!("{bigger}.partial")));

    // A volume with a snapshot is not deleted under it.
    let refused = provider.delete_volume(&name).unwrap_err();
    assert!(refused.to_string().contains("snapshots depend on it"), "{refused}");
    provider.delete_snapshot(&name, &snapshot).unwrap();
    provider.delete_volume(&name).unwrap();
    for clone in [&same, &bigger] {
        let read = crate::support::read_bytes(
            &provider,
            &blockform_provider::ReadTarget::volume(clone.as_str()),
            4096,
            data.len(),
        );
        assert!(
            read == data,
            "the clone keeps the snapshot's data after its source is gone"
        );
        let state = &provider.refresh(std::slice::from_ref(clone)).unwrap()[0];
        assert!(state.snapshots.is_empty());
    }
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_thick_snapshot_is_copy_on_write_and_clones_are_copies() {
    let provider = thick();
    let (name, _) = create_empty(&provider, 1);
    let snapshot = snapshot_name();
    let copy = volume_name();
    let _cleanup = Cleanup(&provider, vec![name.clone(), snapshot.clone(), copy.clone()]);
    let data = crate::support::random_bytes(1 << 20);
    crate::support::write_bytes(&provider, &name, 0, &data);
    let taken = provider
        .create_snapshot(&SnapshotSpec {
            backend_name: snapshot.clone(),
            volume_backend_name: name.clone(),
            name: "s".into(),
            description: None,
        })
        .unwrap();
    // 20 % of the origin by default, rounded to extents.
    assert!(
        taken.size_bytes >= GIB / 5 && taken.size_bytes < GIB / 4,
        "{}",
        taken.size_bytes
    );
    crate::support::write_bytes(&provider, &name, 0, &vec![0xaa; 65536]);
    let at_snapshot = crate::support::read_bytes(
        &provider,
        &blockform_provider::ReadTarget::snapshot(name.as_str(), snapshot.as_str()),
        0,
        data.len(),
    );
    assert!(at_snapshot == data, "the snapshot keeps the data as it was");
    provider
        .create_volume(&spec(
            &copy,
            1,
            VolumeSource::Snapshot {
                volume_backend_name: name.clone(),
                snapshot_backend_name: snapshot.clone(),
            },
        ))
        .unwrap();
    provider.delete_snapshot(&name, &snapshot).unwrap();
    provider.delete_volume(&name).unwrap();
    let copied = crate::support::read_bytes(
        &provider,
        &blockform_provider::ReadTarget::volume(copy.as_str()),
        0,
        data.len(),
    );
    assert!(copied == data);
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_changes_made_outside_blockform_show_in_refresh() {
    let provider = thin();
    let (name, _) = create_empty(&provider, 1);
    let outside = format!("outside-{}", uuid::Uuid::new_v4());
    let _cleanup = Cleanup(&provider, vec![name.clone(), outside.clone()]);
    let path = format!("vg0/{name}");
    on_host(&provider, &["lvresize", "-q", "-L", "2g", &path]);
    on_host(&provider, &["lvchange", "--addtag", "added-by-hand", &path]);
    on_host(&provider, &["lvcreate", "-q", "-s", "-n", &outside, &path]);
    let state = &provider.refresh(std::slice::from_ref(&name)).unwrap()[0];
    assert_eq!(state.virtual_size_bytes, 2 * GIB);
    assert_eq!(state.properties.tags, ["test", "lvm", "added-by-hand"]);
    assert_eq!(state.snapshots.len(), 1);
    assert_eq!(state.snapshots[0].backend_name, outside);
    let inventory = provider.inventory().unwrap();
    let listed = inventory.iter().find(|item| item.backend_name == outside).unwrap();
    assert!(!listed.owned, "a snapshot taken by hand is not blockform's");

    on_host(&provider, &["lvremove", "-q", "-y", &format!("vg0/{outside}")]);
    on_host(&provider, &["lvremove", "-q", "-y", &path]);
    assert!(provider.refresh(std::slice::from_ref(&name)).unwrap().is_empty());
}

/// The ssh processes whose command line mentions `needle`.
fn ssh_processes_mentioning(needle: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|line| String::from_utf8_lossy(&line).contains(needle) && line.starts_with(b"ssh\0"))
        })
        .count()
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_one_master_connection_per_provider_ends_with_it() {
    let provider = thin();
    let control = provider
        .process_argv(&["true"])
        .into_iter()
        .find_map(|word| word.strip_prefix("ControlPath=").map(str::to_owned))
        .unwrap();
    for _ in 0..3 {
        provider.refresh(&["volume-1".to_owned()]).unwrap();
    }
    provider.capacity().unwrap();
    assert_eq!(ssh_processes_mentioning(&control), 1, "one master for every command");
    drop(provider);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while ssh_processes_mentioning(&control) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the master ends with its provider"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs an LVM host: run tests/run"]
fn lvm_a_new_thick_volume_never_shows_a_deleted_lv_s_data() {
    let mut config = crate::support::thick_config();
    config.volume_clear = None;
    let provider = blockform_provider_lvm::LvmProvider::new("host1", config).unwrap();
    // An LV of someone else's, written and deleted: its extents are the first free ones.
    let stale = format!("stale-{}", uuid::Uuid::new_v4());
    on_host(
        &provider,
        &["lvcreate", "-q", "-y", "-Wn", "-Zn", "-L", "1g", "-n", &stale, "vg0"],
    );
    let ranges = |lv: &str| {
        on_host(
            &provider,
            &["lvs", "--noheadings", "-o", "seg_pe_ranges", &format!("vg0/{lv}")],
        )
    };
    let stale_ranges = ranges(&stale);
    let secret = format!("dd if=/dev/urandom of=/dev/vg0/{stale} bs=1M count=2 conv=fsync 2>/dev/null");
    on_host(&provider, &["sh", "-c", &secret]);
    on_host(&provider, &["lvremove", "-q", "-y", &format!("vg0/{stale}")]);

    let (name, _) = create_empty(&provider, 1);
    let _cleanup = Cleanup(&provider, vec![name.clone()]);
    assert_eq!(
        ranges(&name),
        stale_ranges,
        "the new volume has the deleted LV's extents"
    );
    assert!(!lv_exists(&provider, &format!("{name}.partial")));
    let read = crate::support::read_bytes(
        &provider,
        &blockform_provider::ReadTarget::volume(name.as_str()),
        0,
        2 << 20,
    );
    assert!(read.iter().all(|&byte| byte == 0), "the deleted LV's data was cleared");
}
