//! The conformance suite of [`StateBackend`]: one body per check, run against every back end
//! (local sled, memory; a remote back end adds itself with one `backend_conformance_tests!`
//! line). It covers reading and committing through the back end, serials, the refusal of a
//! stale writer, and the lock: taken twice, released and taken again, force-removed with the
//! right id only, and waited for up to a timeout.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::backend::StateBackend;
use super::lock::{LockError, LockInfo};
use super::records::{FORMAT_VERSION, OutputState, ResourceState};
use super::store::conformance::{intent, resource};
use super::store::{Commit, StateError};

/// Generates one `#[test]` per check, each on a fresh back end made by `$fresh`: an
/// expression giving `(keep, backend)`, where `keep` (a scratch directory, say) lives as long
/// as the test and `backend` derefs to a [`StateBackend`]. `(ignored: $fresh)` marks the tests
/// `#[ignore]`, for a back end that needs a service (`tests/run` runs them).
macro_rules! backend_conformance_tests {
    ($fresh:expr) => {
        $crate::state::conformance::backend_conformance_tests!(@each $fresh;
            read_and_commit_round_trip,
            each_commit_bumps_the_serial,
            a_stale_commit_is_refused_and_writes_nothing,
            a_lock_taken_twice_names_its_holder,
            an_unlocked_state_can_be_locked_again,
            force_unlock_needs_the_lock_id,
            a_waiting_run_times_out_or_gets_the_lock
        );
    };
    (ignored: $fresh:expr) => {
        $crate::state::conformance::backend_conformance_tests!(@ignored $fresh;
            read_and_commit_round_trip,
            each_commit_bumps_the_serial,
            a_stale_commit_is_refused_and_writes_nothing,
            a_lock_taken_twice_names_its_holder,
            an_unlocked_state_can_be_locked_again,
            force_unlock_needs_the_lock_id,
            a_waiting_run_times_out_or_gets_the_lock
        );
    };
    (@each $fresh:expr; $($check:ident),+) => {
        mod backend_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $check() {
                    let (_keep, backend) = $fresh;
                    $crate::state::conformance::$check(&*backend);
                }
            )+
        }
    };
    (@ignored $fresh:expr; $($check:ident),+) => {
        mod backend_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                #[ignore = "needs the S3 service of tests/run"]
                fn $check() {
                    let (_keep, backend) = $fresh;
                    $crate::state::conformance::$check(&*backend);
                }
            )+
        }
    };
}
pub(crate) use backend_conformance_tests;

fn put(resources: Vec<ResourceState>) -> Commit {
    Commit {
        put: resources,
        ..Commit::default()
    }
}

/// What one commit writes, read back through the state the back end opens; a new state
/// starts empty at serial 0.
pub fn read_and_commit_round_trip(backend: &dyn StateBackend) {
    let store = backend.open().unwrap();
    assert!(backend.exists().unwrap(), "an opened state exists");
    let before = store.meta().unwrap();
    assert_eq!((before.format_version, before.serial), (FORMAT_VERSION, 0));
    assert!(store.resources().unwrap().is_empty());
    let outputs = BTreeMap::from([(
        "id".to_owned(),
        OutputState {
            value: serde_json::json!("volume-volume.db"),
            sensitive: false,
        },
    )]);
    let serial = store
        .commit(&Commit {
            put: vec![resource("volume.db", 10), resource("volume.logs", 1)],
            put_intents: vec![intent("i1", "volume.tmp", "2026-01-01T00:00:00Z")],
            outputs: Some(outputs.clone()),
            ..Commit::default()
        })
        .unwrap();
    assert_eq!(serial, 1);
    assert_eq!(store.resource("volume.db").unwrap(), Some(resource("volume.db", 10)));
    assert_eq!(
        store.resources().unwrap(),
        vec![resource("volume.db", 10), resource("volume.logs", 1)]
    );
    assert_eq!(
        store.intents().unwrap(),
        vec![intent("i1", "volume.tmp", "2026-01-01T00:00:00Z")]
    );
    assert_eq!(store.outputs().unwrap(), outputs);
    let document = store.export().unwrap();
    assert_eq!(document.meta.serial, 1);
    assert_eq!(document.meta.lineage, before.lineage, "a commit keeps the lineage");
    assert_eq!(document.resources.len(), 2);
}

/// Every commit, with or without an expected serial, bumps the serial by one; an empty one
/// changes nothing.
pub fn each_commit_bumps_the_serial(backend: &dyn StateBackend) {
    let store = backend.open().unwrap();
    let start = store.meta().unwrap().serial;
    assert_eq!(store.commit(&put(vec![resource("volume.a", 1)])).unwrap(), start + 1);
    assert_eq!(
        store.commit_at(start + 1, &put(vec![resource("volume.b", 1)])).unwrap(),
        start + 2
    );
    assert_eq!(
        store.commit_at(start + 2, &put(vec![resource("volume.a", 2)])).unwrap(),
        start + 3
    );
    assert_eq!(store.commit(&Commit::default()).unwrap(), start + 3);
    assert_eq!(store.meta().unwrap().serial, start + 3);
}

/// A writer that expects a serial another writer has moved past is refused with the serial it
/// met, and nothing of its commit is written.
pub fn a_stale_commit_is_refused_and_writes_nothing(backend: &dyn StateBackend) {
    let store = backend.open().unwrap();
    let read = store.meta().unwrap().serial;
    // Another writer commits after this one read the state.
    let other = store.commit(&put(vec![resource("volume.other", 1)])).unwrap();
    let before = store.export().unwrap();
    let stale = Commit {
        put: vec![resource("volume.mine", 1)],
        remove: vec!["volume.other".to_owned()],
        put_intents: vec![intent("mine", "volume.mine", "2026-01-01T00:00:00Z")],
        ..Commit::default()
    };
    let error = store.commit_at(read, &stale).unwrap_err();
    assert!(
        matches!(&error, StateError::Stale { expected, found, .. } if *expected == read && *found == other),
        "{error:?}"
    );
    assert_eq!(
        error.with_hint(),
        format!(
            "the state `{}` changed under this run: another writer committed serial {other}, but this run expected \
             serial {read}; nothing was written\n  help: run the command again to work from the state as it is now; \
             for `apply PLANFILE`, make a new plan with `blockform plan` first",
            store.location()
        )
    );
    assert!(matches!(
        store.commit_at(read, &Commit::default()),
        Err(StateError::Stale { .. })
    ));
    assert_eq!(store.export().unwrap(), before, "a refused commit writes nothing");
    // Read again, the writer may commit.
    assert_eq!(store.commit_at(other, &stale).unwrap(), other + 1);
    assert_eq!(store.resource("volume.other").unwrap(), None);
}

fn held_by(error: LockError) -> LockInfo {
    match error {
        LockError::Held { info } => info,
        other => panic!("expected a held lock, got {other:?}"),
    }
}

/// A second taker is refused with the holder's record: who, pid, operation, since, lock id.
pub fn a_lock_taken_twice_names_its_holder(backend: &dyn StateBackend) {
    let guard = backend.lock("apply", Duration::ZERO).unwrap();
    let info = guard.info().clone();
    assert_eq!(guard.id(), info.id);
    assert_eq!((info.pid, info.operation.as_str()), (std::process::id(), "apply"));
    assert!(info.who.contains('@'), "{}", info.who);
    assert!(humantime::parse_rfc3339(&info.created).is_ok(), "{}", info.created);
    assert!(uuid::Uuid::parse_str(&info.id).is_ok(), "{}", info.id);
    let error = std::thread::scope(|s| {
        s.spawn(|| backend.lock("plan", Duration::ZERO))
            .join()
            .unwrap()
            .unwrap_err()
    });
    assert_eq!(
        error.to_string(),
        format!(
            "state is locked by {} (pid {}, apply) since {}; lock id {}",
            info.who, info.pid, info.created, info.id
        )
    );
    assert_eq!(
        error.hint().unwrap(),
        format!(
            "run with `--lock-timeout=30s` to wait for it, or `blockform force-unlock {}` if that process is gone",
            info.id
        )
    );
    assert_eq!(held_by(error), info);
}

/// A released lock (by `unlock` or by dropping its guard) can be taken again.
pub fn an_unlocked_state_can_be_locked_again(backend: &dyn StateBackend) {
    let first = backend.lock("apply", Duration::ZERO).unwrap();
    backend.unlock(first).unwrap();
    let second = backend.lock("state rm", Duration::ZERO).unwrap();
    assert_eq!(second.info().operation, "state rm");
    assert_eq!(
        held_by(backend.lock("plan", Duration::ZERO).unwrap_err()),
        *second.info()
    );
    drop(second);
    let third = backend.lock("plan", Duration::ZERO).unwrap();
    assert_eq!(third.info().operation, "plan");
}

/// `force_unlock` removes the lock only with its id; the old guard, dropped later, does not
/// release the lock taken since; with no holder it says so.
pub fn force_unlock_needs_the_lock_id(backend: &dyn StateBackend) {
    let hung = backend.lock("apply", Duration::ZERO).unwrap();
    let error = backend.force_unlock("not-the-id").unwrap_err();
    assert!(
        matches!(&error, LockError::IdMismatch { given, info } if given == "not-the-id" && info == hung.info()),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("lock id `not-the-id` does not match the state lock: it is held by "),
        "{error}"
    );
    assert_eq!(
        held_by(backend.lock("plan", Duration::ZERO).unwrap_err()),
        *hung.info(),
        "a refused force-unlock leaves the lock"
    );
    let removed = backend.force_unlock(hung.id()).unwrap();
    assert_eq!((&removed.info, removed.was_held), (hung.info(), true));
    let next = backend.lock("plan", Duration::ZERO).unwrap();
    drop(hung);
    assert_eq!(
        held_by(backend.lock("plan", Duration::ZERO).unwrap_err()),
        *next.info(),
        "the old holder's release does not touch the new lock"
    );
    drop(next);
    assert!(matches!(backend.force_unlock("x"), Err(LockError::NotLocked { .. })));
}

/// A run that waits for a held lock fails after its timeout naming the holder, and gets the
/// lock once the holder lets go within it.
pub fn a_waiting_run_times_out_or_gets_the_lock(backend: &dyn StateBackend) {
    let first = backend.lock("apply", Duration::ZERO).unwrap();
    let started = Instant::now();
    let error = backend.lock("plan", Duration::from_millis(300)).unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(held_by(error), *first.info());
    let started = Instant::now();
    let second = std::thread::scope(|s| {
        let waiter = s.spawn(|| backend.lock("plan", Duration::from_secs(20)));
        std::thread::sleep(Duration::from_millis(300));
        drop(first);
        waiter.join().unwrap()
    })
    .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(second.info().operation, "plan");
}
