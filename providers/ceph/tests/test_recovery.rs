//! Creates that fail or were interrupted: whatever step a create fails after, it leaves no
//! image, partial image or temporary snapshot behind and can be run again; what an
//! interrupted one left is removed by `discard_interrupted_create`; and a temporary source
//! snapshot an interrupted clone left is never reused for a later clone (it holds the
//! source as it was then). Failures are injected at the provider's fault points
//! ([`blockform_provider_ceph::fault`]) on one provider, so other tests are not affected.

use blockform_provider::{ReadTarget, StorageProvider, VolumeSource};
use blockform_provider_ceph::CephProvider;
use blockform_provider_ceph::fault::{Fault, FaultMode, clone_steps};

use crate::support::{
    Cleanup, create_empty, image_spec, provider, provider_with, random_bytes, rbd, rbd_json, rbd_status, spec,
    take_snapshot, volume_name, write_bytes,
};

/// The names of the snapshots of an image.
fn snapshot_names(provider: &CephProvider, image: &str) -> Vec<String> {
    rbd_json(provider, &["snap", "ls", &image_spec(image)])
        .as_array()
        .unwrap()
        .iter()
        .map(|snapshot| snapshot["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Whether an image exists in the test pool.
fn exists(provider: &CephProvider, image: &str) -> bool {
    let (status, _, stderr) = rbd_status(provider, &["info", &image_spec(image)]);
    assert!(
        status == Some(0) || stderr.contains("No such file"),
        "rbd info {image}: {stderr}"
    );
    status == Some(0)
}

/// The first `length` bytes of a volume, read through the provider.
fn head(provider: &CephProvider, volume: &str, length: usize) -> Vec<u8> {
    let mut reader = provider.open_reader(&ReadTarget::volume(volume)).unwrap();
    let mut bytes = vec![0; length];
    reader.read_exact_at(0, &mut bytes).unwrap();
    bytes
}

/// Asserts that nothing of a create of `name` from `source` remains.
fn assert_nothing_left(provider: &CephProvider, name: &str, source: &str, context: &str) {
    assert!(!exists(provider, name), "{context}: `{name}` exists");
    assert!(
        !exists(provider, &format!("{name}.partial")),
        "{context}: `{name}.partial` exists"
    );
    let temporary = format!("{name}.source");
    assert!(
        !snapshot_names(provider, source).contains(&temporary),
        "{context}: `{source}@{temporary}` exists"
    );
}

fn fail_after(step: &'static str) -> Fault {
    Fault {
        mode: FaultMode::Fail,
        step,
    }
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_a_clone_that_fails_after_any_step_leaves_nothing_and_can_be_made_again() {
    for flatten in [true, false] {
        let steps = clone_steps(flatten);
        let provider = provider_with(|config| config.flatten_clones = flatten);
        let (source, _) = create_empty(&provider, 1);
        let mut cleanup = Cleanup(&provider, vec![source.clone()]);
        let data = random_bytes(4096);
        write_bytes(&provider, &source, 0, &data);
        for step in steps {
            let context = format!("flatten_clones = {flatten}, failing after `{step}`");
            let name = volume_name();
            cleanup.1.push(name.clone());
            let volume = spec(
                &name,
                2,
                VolumeSource::Volume {
                    backend_name: source.clone(),
                },
            );
            let failing = provider_with(|config| config.flatten_clones = flatten).with_fault(Some(fail_after(step)));
            let error = failing.create_volume(&volume).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains(&format!("injected fault after step `{step}`")),
                "{context}: {error}"
            );
            assert_nothing_left(&provider, &name, &source, &context);

            // The same create runs again from nothing.
            provider.create_volume(&volume).unwrap();
            assert!(
                head(&provider, &name, data.len()) == data,
                "{context}: the clone's data differ"
            );
            provider.delete_volume(&name).unwrap();
            assert_nothing_left(&provider, &name, &source, &format!("{context}, after the delete"));
        }
    }
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_an_empty_volume_or_a_clone_of_a_snapshot_that_fails_after_any_step_leaves_nothing() {
    let provider = provider();
    let (source, _) = create_empty(&provider, 1);
    let mut cleanup = Cleanup(&provider, vec![source.clone()]);
    let snapshot = take_snapshot(&provider, &source);
    for step in ["create", "record", "rename"] {
        let name = volume_name();
        cleanup.1.push(name.clone());
        let failing = crate::support::provider().with_fault(Some(fail_after(step)));
        failing.create_volume(&spec(&name, 1, VolumeSource::Empty)).unwrap_err();
        assert_nothing_left(&provider, &name, &source, &format!("empty, failing after `{step}`"));
    }
    for step in ["protect", "clone", "flatten", "resize", "record", "rename"] {
        let name = volume_name();
        cleanup.1.push(name.clone());
        let volume = spec(
            &name,
            2,
            VolumeSource::Snapshot {
                volume_backend_name: source.clone(),
                snapshot_backend_name: snapshot.clone(),
            },
        );
        let failing = crate::support::provider().with_fault(Some(fail_after(step)));
        failing.create_volume(&volume).unwrap_err();
        assert_nothing_left(
            &provider,
            &name,
            &source,
            &format!("from a snapshot, failing after `{step}`"),
        );
        assert_eq!(snapshot_names(&provider, &source), std::slice::from_ref(&snapshot));
    }
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_discard_interrupted_create_removes_a_partial_clone_and_its_source_snapshot_only() {
    let provider = provider();
    let (source, _) = create_empty(&provider, 1);
    let mut cleanup = Cleanup(&provider, vec![source.clone()]);

    // What a create killed after `rbd clone` leaves: a protected temporary snapshot of the
    // source and the partial image cloned from it.
    let name = volume_name();
    let temporary = format!("{}@{name}.source", image_spec(&source));
    rbd(&provider, &["snap", "create", "--no-progress", &temporary]);
    rbd(&provider, &["snap", "protect", &temporary]);
    rbd(
        &provider,
        &["clone", &temporary, &image_spec(&format!("{name}.partial"))],
    );
    provider.discard_interrupted_create(&name).unwrap();
    assert_nothing_left(&provider, &name, &source, "after discard_interrupted_create");
    // Nothing left is success.
    provider.discard_interrupted_create(&name).unwrap();

    // A finished clone kept unflattened needs its temporary snapshot: it stays.
    let unflattened = provider_with(|config| config.flatten_clones = false);
    let clone = volume_name();
    cleanup.1.push(clone.clone());
    unflattened
        .create_volume(&spec(
            &clone,
            1,
            VolumeSource::Volume {
                backend_name: source.clone(),
            },
        ))
        .unwrap();
    unflattened.discard_interrupted_create(&clone).unwrap();
    assert!(exists(&provider, &clone));
    assert_eq!(snapshot_names(&provider, &source), [format!("{clone}.source")]);
}

#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_a_clone_run_again_after_an_interruption_copies_the_source_as_it_is_now() {
    let provider = provider();
    let (source, _) = create_empty(&provider, 1);
    let mut cleanup = Cleanup(&provider, vec![source.clone()]);
    let before = random_bytes(4096);
    write_bytes(&provider, &source, 0, &before);

    // An attempt killed after it took its temporary snapshot, then the source changes.
    let name = volume_name();
    cleanup.1.push(name.clone());
    rbd(
        &provider,
        &[
            "snap",
            "create",
            "--no-progress",
            &format!("{}@{name}.source", image_spec(&source)),
        ],
    );
    let now = random_bytes(4096);
    write_bytes(&provider, &source, 0, &now);

    provider
        .create_volume(&spec(
            &name,
            1,
            VolumeSource::Volume {
                backend_name: source.clone(),
            },
        ))
        .unwrap();
    assert!(
        head(&provider, &name, now.len()) == now,
        "the clone must hold the source as it is now, not as the left snapshot holds it"
    );
    assert_eq!(snapshot_names(&provider, &source), Vec::<String>::new());
}

/// Issue 18: the worker that carries the provider's operations killed (SIGKILL, as an outside
/// kill or the OOM killer would) during the call after each step of a clone. The create fails
/// as a temporary failure that says so, its undo runs on a new worker, and the same create
/// then runs again. Only when the killed call was the rename may the finished volume exist,
/// which the next create adopts.
#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_a_worker_killed_during_any_step_of_a_clone_leaves_nothing_and_the_create_runs_again() {
    let provider = provider();
    let (source, _) = create_empty(&provider, 1);
    let mut cleanup = Cleanup(&provider, vec![source.clone()]);
    let data = random_bytes(4096);
    write_bytes(&provider, &source, 0, &data);
    // Every step but the rename, after which no call of the create is left to kill.
    let steps = clone_steps(true);
    for &step in &steps[..steps.len() - 1] {
        let context = format!("the worker killed after `{step}`");
        let name = volume_name();
        cleanup.1.push(name.clone());
        let volume = spec(
            &name,
            2,
            VolumeSource::Volume {
                backend_name: source.clone(),
            },
        );
        let killing = crate::support::provider().with_fault(Some(Fault {
            mode: FaultMode::KillWorker,
            step,
        }));
        let first = killing.create_volume(&volume);
        let killed = first.as_ref().err();
        let error = killed.unwrap_or_else(|| panic!("{context}: the create succeeded"));
        assert!(error.is_retryable(), "{context}: {error}");
        assert!(
            error
                .to_string()
                .contains("the ceph worker ended during the call, so whether it was carried out is unknown"),
            "{context}: {error}"
        );
        assert!(
            error.to_string().contains("'<blockform ceph worker>' "),
            "{context}: the call is shown, not the program: {error}"
        );
        assert!(
            !exists(&provider, &format!("{name}.partial")),
            "{context}: `{name}.partial` exists"
        );
        assert!(
            !snapshot_names(&provider, &source).contains(&format!("{name}.source")),
            "{context}: the temporary snapshot exists"
        );
        if step != "record" {
            assert!(!exists(&provider, &name), "{context}: `{name}` exists");
        }

        // The same provider goes on with a new worker; the create runs again.
        killing.with_fault(None).create_volume(&volume).unwrap();
        assert!(
            head(&provider, &name, data.len()) == data,
            "{context}: the clone's data differ"
        );
        provider.delete_volume(&name).unwrap();
        assert_nothing_left(&provider, &name, &source, &format!("{context}, after the delete"));
    }
}

/// A provider's worker ends with the provider, and a new provider starts a new one.
#[test]
#[ignore = "needs a Ceph cluster: run tests/run"]
fn ceph_the_worker_starts_on_first_use_and_ends_with_its_provider() {
    let provider = provider();
    assert_eq!(provider.worker_pid(), None, "no worker before the first operation");
    let (name, _) = create_empty(&provider, 1);
    let pid = provider.worker_pid().expect("a worker runs after an operation");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        String::from_utf8_lossy(&cmdline).contains("blockform ceph worker"),
        "process {pid} is the worker"
    );
    provider.delete_volume(&name).unwrap();
    assert_eq!(provider.worker_pid(), Some(pid), "one worker serves every operation");
    drop(provider);
    // It is killed when its provider goes; its reading thread reaps it.
    let mut waited = 0;
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && waited < 1000 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the worker {pid} outlived its provider"
    );
}
