//! A [`Store`] held in memory. It stands in for a state that does not exist yet (so `plan` in a
//! fresh directory creates nothing on disk) and is the reference the other stores are tested
//! against. [`MemoryBackend`] is the same state behind the [`StateBackend`] interface, with a
//! lock held in memory: the reference the other back ends are tested against.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::backend::StateBackend;
use super::lock::{Attempt, ForceUnlocked, HeldLock, LockError, LockGuard, LockInfo, acquire_with_backoff};

use super::records::{FORMAT_VERSION, Intent, Meta, OutputState, ResourceState, StateDocument};
use super::store::{
    Commit, Owners, StateError, Store, check_format_version, check_serial, check_unique_addresses, check_unique_owners,
    sort_intents,
};

/// A state kept in memory; nothing survives the process. Clones share one state (the
/// in-memory [`StateBackend`](super::StateBackend) hands out clones as its handles).
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Records>>,
}

#[derive(Debug)]
struct Records {
    meta: Meta,
    resources: BTreeMap<String, ResourceState>,
    intents: BTreeMap<String, Intent>,
    outputs: BTreeMap<String, OutputState>,
}

impl MemoryStore {
    /// A new state with a fresh lineage, at serial 0.
    pub fn new() -> MemoryStore {
        MemoryStore::with_lineage(uuid::Uuid::new_v4().to_string())
    }

    /// The state of a directory that has none yet: empty lineage, serial 0. A plan made
    /// against it matches the state `apply` then creates only by serial, since the lineage is
    /// chosen when the state is written.
    pub fn empty() -> MemoryStore {
        MemoryStore::with_lineage(String::new())
    }

    fn with_lineage(lineage: String) -> MemoryStore {
        MemoryStore {
            inner: Arc::new(Mutex::new(Records {
                meta: Meta {
                    format_version: FORMAT_VERSION,
                    lineage,
                    serial: 0,
                },
                resources: BTreeMap::new(),
                intents: BTreeMap::new(),
                outputs: BTreeMap::new(),
            })),
        }
    }

    /// Applies `commit`, if the state is still at `expected` when one is given.
    fn write(&self, expected: Option<u64>, commit: &Commit) -> Result<u64, StateError> {
        let mut state = self.lock();
        check_serial(LOCATION, expected, state.meta.serial)?;
        if commit.is_empty() {
            return Ok(state.meta.serial);
        }
        Owners::of(state.resources.values()).check(commit)?;
        let Records {
            resources,
            intents,
            outputs,
            ..
        } = &mut *state;
        commit.apply_to(resources, intents, outputs);
        state.meta.serial = state.meta.serial.saturating_add(1);
        Ok(state.meta.serial)
    }

    fn lock(&self) -> MutexGuard<'_, Records> {
        // Every write below completes before the guard is dropped and panics nowhere midway,
        // so a poisoned mutex still holds a consistent state.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore::new()
    }
}

impl Store for MemoryStore {
    fn location(&self) -> String {
        LOCATION.to_owned()
    }

    fn meta(&self) -> Result<Meta, StateError> {
        Ok(self.lock().meta.clone())
    }

    fn resources(&self) -> Result<Vec<ResourceState>, StateError> {
        Ok(self.lock().resources.values().cloned().collect())
    }

    fn resource(&self, address: &str) -> Result<Option<ResourceState>, StateError> {
        Ok(self.lock().resources.get(address).cloned())
    }

    fn intents(&self) -> Result<Vec<Intent>, StateError> {
        let mut intents: Vec<Intent> = self.lock().intents.values().cloned().collect();
        sort_intents(&mut intents);
        Ok(intents)
    }

    fn outputs(&self) -> Result<BTreeMap<String, OutputState>, StateError> {
        Ok(self.lock().outputs.clone())
    }

    fn commit(&self, commit: &Commit) -> Result<u64, StateError> {
        self.write(None, commit)
    }

    fn commit_at(&self, expected_serial: u64, commit: &Commit) -> Result<u64, StateError> {
        self.write(Some(expected_serial), commit)
    }

    fn export(&self) -> Result<StateDocument, StateError> {
        let state = self.lock();
        let mut intents: Vec<Intent> = state.intents.values().cloned().collect();
        sort_intents(&mut intents);
        Ok(StateDocument {
            meta: state.meta.clone(),
            resources: state.resources.values().cloned().collect(),
            intents,
            outputs: state.outputs.clone(),
        })
    }

    fn replace_all(&self, document: &StateDocument) -> Result<(), StateError> {
        check_format_version(&self.location(), document.meta.format_version)?;
        check_unique_addresses(document)?;
        check_unique_owners(document)?;
        let mut state = self.lock();
        state.meta = Meta {
            format_version: FORMAT_VERSION,
            ..document.meta.clone()
        };
        state.resources = document
            .resources
            .iter()
            .map(|r| (r.address.clone(), r.clone()))
            .collect();
        state.intents = document.intents.iter().map(|i| (i.id.clone(), i.clone())).collect();
        state.outputs.clone_from(&document.outputs);
        Ok(())
    }
}

/// Where the in-memory state is, for messages.
const LOCATION: &str = "in-memory state";

/// A state held in memory with its lock: every handle [`StateBackend::open`] gives shares one
/// state, and the lock says who holds it like the lock file of a local state does.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    store: MemoryStore,
    holder: Arc<Mutex<Option<LockInfo>>>,
}

impl MemoryBackend {
    /// A new, empty state of a fresh lineage, unlocked.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    fn holder(&self) -> MutexGuard<'_, Option<LockInfo>> {
        lock_holder(&self.holder)
    }
}

/// The holder of an in-memory lock; each change is one assignment, so a poisoned mutex still
/// holds a consistent value.
fn lock_holder(holder: &Mutex<Option<LockInfo>>) -> MutexGuard<'_, Option<LockInfo>> {
    holder.lock().unwrap_or_else(PoisonError::into_inner)
}

impl StateBackend for MemoryBackend {
    fn location(&self) -> String {
        LOCATION.to_owned()
    }

    fn exists(&self) -> Result<bool, StateError> {
        Ok(true)
    }

    fn open(&self) -> Result<Box<dyn Store>, StateError> {
        Ok(Box::new(self.store.clone()))
    }

    fn lock(&self, operation: &str, timeout: Duration) -> Result<LockGuard, LockError> {
        acquire_with_backoff(timeout, || {
            let mut holder = self.holder();
            if let Some(info) = holder.as_ref() {
                let info = info.clone();
                return Ok(Attempt::Busy(Box::new(move || LockError::Held { info })));
            }
            let info = LockInfo::for_this_process(operation);
            *holder = Some(info.clone());
            let held = MemoryLock {
                holder: Arc::clone(&self.holder),
                id: info.id.clone(),
            };
            Ok(Attempt::Taken(LockGuard::new(
                info,
                LOCATION.to_owned(),
                Box::new(held),
            )))
        })
    }

    fn force_unlock(&self, id: &str) -> Result<ForceUnlocked, LockError> {
        let mut holder = self.holder();
        match holder.take() {
            None => Err(LockError::NotLocked {
                location: LOCATION.to_owned(),
            }),
            Some(info) if info.id != id.trim() => {
                let error = LockError::IdMismatch {
                    given: id.to_owned(),
                    info: info.clone(),
                };
                *holder = Some(info);
                Err(error)
            }
            // A guard that is dropped lets go of its lock at once, so one that is recorded is
            // still held by someone.
            Some(info) => Ok(ForceUnlocked { info, was_held: true }),
        }
    }
}

/// An in-memory lock as its guard holds it.
#[derive(Debug)]
struct MemoryLock {
    holder: Arc<Mutex<Option<LockInfo>>>,
    id: String,
}

impl HeldLock for MemoryLock {
    fn release(self: Box<Self>) -> Result<(), LockError> {
        let mut holder = lock_holder(&self.holder);
        // After `force_unlock`, the lock may be someone else's: leave it to them.
        if holder.as_ref().is_some_and(|info| info.id == self.id) {
            *holder = None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::state::store::store_conformance_tests!(Box::new(MemoryStore::new()) as Box<dyn Store>);

    #[test]
    fn the_empty_store_has_no_lineage_and_fresh_ones_differ() {
        assert_eq!(MemoryStore::empty().meta().unwrap().lineage, "");
        let a = MemoryStore::new().meta().unwrap().lineage;
        let b = MemoryStore::new().meta().unwrap().lineage;
        assert_ne!(a, b);
        assert!(uuid::Uuid::parse_str(&a).is_ok(), "{a}");
    }
}
