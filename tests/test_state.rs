//! State through the library, across processes: a run killed in the middle of its commits
//! loses none of them and leaves no half-written one, its lock does not outlive it, and a pulled
//! state pushed elsewhere is the same state.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use blockform::state::{
    Commit, Intent, IntentAction, LockError, ResourceState, SledStore, StateLock, Store, lock_path,
};

use crate::common::TempDir;

/// Set to a state path, [`commit_until_killed_helper`] commits until it is killed.
const COMMIT_ENV: &str = "BLOCKFORM_TEST_COMMIT_UNTIL_KILLED";

fn resource(i: u64) -> ResourceState {
    let mut attributes = serde_json::Map::new();
    attributes.insert("name".into(), serde_json::json!(format!("v{i}")));
    attributes.insert("size".into(), serde_json::json!(10));
    ResourceState {
        address: format!("volume.v{i}"),
        backend_id: format!("volume-{i:08}"),
        provider: Some("local.dev".to_owned()),
        attributes,
        dependencies: Vec::new(),
        status: "available".to_owned(),
    }
}

fn intent(i: u64) -> Intent {
    Intent {
        id: format!("intent-{i}"),
        address: format!("volume.v{i}"),
        action: IntentAction::Create,
        backend_id: format!("volume-{i:08}"),
        provider: Some("local.dev".to_owned()),
        started_at: "2026-01-01T00:00:00Z".to_owned(),
        attributes: serde_json::Map::new(),
        dependencies: Vec::new(),
    }
}

/// What apply commits for operation `i`: the finished object, the end of its intent and the
/// intent of the next one, in one commit.
fn operation(i: u64) -> Commit {
    Commit {
        put: vec![resource(i)],
        remove_intents: vec![format!("intent-{i}")],
        put_intents: vec![intent(i + 1)],
        ..Commit::default()
    }
}

fn progress_path(state: &Path) -> PathBuf {
    state.with_extension("progress")
}

/// Not a test: the process [`a_killed_run_loses_no_commit_and_leaves_no_half_commit`] kills.
#[test]
#[ignore = "helper process, started by another test"]
fn commit_until_killed_helper() {
    let Some(state) = std::env::var_os(COMMIT_ENV).map(PathBuf::from) else {
        return;
    };
    let _lock = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
    let store = SledStore::open(&state).unwrap();
    for i in 0..1_000_000 {
        let serial = store.commit(&operation(i)).unwrap();
        // Written only after the commit returned, so every serial reported here is durable.
        std::fs::write(progress_path(&state), serial.to_string()).unwrap();
    }
}

/// The helper process; killed and reaped when dropped.
struct Helper(Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_killed_run_loses_no_commit_and_leaves_no_half_commit() {
    let dir = TempDir::new();
    let state = dir.path().join(".blockform/state");
    let mut helper = Helper(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "test_state::commit_until_killed_helper",
                "--ignored",
                "--quiet",
            ])
            .env(COMMIT_ENV, &state)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let reported = |state: &Path| -> u64 {
        std::fs::read_to_string(progress_path(state))
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while reported(&state) < 200 {
        assert!(Instant::now() < deadline, "the helper made 200 commits within 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    helper.0.kill().unwrap();
    helper.0.wait().unwrap();
    let last_reported = reported(&state);

    // The kernel dropped the dead run's locks: no waiting, no force-unlock.
    let _lock = StateLock::acquire(&state, "plan", Duration::ZERO).unwrap();
    let store = SledStore::open(&state).unwrap();
    let serial = store.meta().unwrap().serial;
    assert!(
        serial >= last_reported,
        "serial {serial} lost commits reported durable up to {last_reported}"
    );
    // Each commit added one resource and moved the one intent forward: any other count would be
    // a commit applied in part.
    let resources = store.resources().unwrap();
    assert_eq!(resources.len() as u64, serial);
    for i in 0..serial {
        assert_eq!(store.resource(&format!("volume.v{i}")).unwrap(), Some(resource(i)));
    }
    let intents: Vec<String> = store.intents().unwrap().into_iter().map(|i| i.id).collect();
    assert_eq!(intents, [format!("intent-{serial}")]);
}

#[test]
fn a_second_opener_of_a_locked_state_is_told_who_holds_it() {
    let dir = TempDir::new();
    let state = dir.path().join(".blockform/state");
    let held = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
    assert_eq!(held.path(), lock_path(&state));
    let error = StateLock::acquire(&state, "state rm", Duration::from_millis(200)).unwrap_err();
    let LockError::Held { info } = &error else {
        panic!("expected a held lock, got {error:?}");
    };
    assert_eq!(info, held.info());
    assert_eq!(
        error.to_string(),
        format!(
            "state is locked by {} (pid {}, apply) since {}; lock id {}",
            info.who,
            std::process::id(),
            info.created,
            info.id
        )
    );
}

#[test]
fn a_pulled_state_pushed_into_another_is_the_same_state() {
    let dir = TempDir::new();
    let source = SledStore::open(&dir.path().join("a/state")).unwrap();
    for i in 0..20 {
        source.commit(&operation(i)).unwrap();
    }
    let document = source.export().unwrap();
    let json = serde_json::to_string_pretty(&document).unwrap();
    assert!(
        json.contains("\"format_version\": 1"),
        "meta is flattened into the document:\n{json}"
    );

    let target = SledStore::open(&dir.path().join("b/state")).unwrap();
    target.replace_all(&serde_json::from_str(&json).unwrap()).unwrap();
    drop(target);
    // sled releases its file lock when its background flusher has stopped, a moment after the
    // handle is dropped (another process never sees this: it opens the state once).
    let started = std::time::Instant::now();
    let reopened = loop {
        match SledStore::open(&dir.path().join("b/state")) {
            Ok(store) => break store,
            Err(e) if started.elapsed() < std::time::Duration::from_secs(10) => {
                assert!(matches!(e, blockform::state::StateError::InUse { .. }), "{e}");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("the state stays in use after its handle is dropped: {e}"),
        }
    };
    assert_eq!(reopened.export().unwrap(), document);
    assert_eq!(reopened.commit(&operation(20)).unwrap(), 21);
}
