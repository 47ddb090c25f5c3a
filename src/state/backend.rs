//! The [`StateBackend`] interface: where a state lives, with its lock inside (after OpenTofu's
//! `statemgr.Locker` and `statemgr.Full`). A back end says whether its state exists, takes,
//! releases and force-removes the state lock, and opens the state for reading and committing
//! (a [`Store`], whose commits can name the serial they expect). The command line never names
//! an implementation: it describes where the state is ([`BackendChoice`]) and [`open`] picks
//! the back end, in this one place.
//!
//! Implementations: [`LocalBackend`] (the sled database with its lock file beside it) and
//! [`MemoryBackend`](super::MemoryBackend) (a state held in memory). A new back end (a remote
//! one, say) is one more implementation, one more [`BackendChoice`] variant and one more arm
//! in [`open`]; it proves itself by running the conformance suite in
//! [`conformance`](super::conformance) with `backend_conformance_tests!`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::lock::{ForceUnlocked, LockError, LockGuard, StateLock, force_unlock, lock_path};
use super::memory_store::MemoryBackend;
use super::sled_store::SledStore;
use super::store::{StateError, Store};

/// Where a state lives: a state back end and its lock.
pub trait StateBackend: Send + Sync {
    /// Where the state is, for messages (`.blockform/state`).
    fn location(&self) -> String;

    /// Whether there is a state (complete or not) to read; asking creates nothing.
    fn exists(&self) -> Result<bool, StateError>;

    /// Opens the state for reading and committing, creating it when there is none.
    fn open(&self) -> Result<Box<dyn Store>, StateError>;

    /// Takes the state lock for `operation` (`apply`, `state rm`): the lock records who takes
    /// it, their process id, the operation and since when. While someone else holds it, tries
    /// again with backoff for at most `timeout` (`--lock-timeout`; zero tries once), then
    /// fails with [`LockError::Held`] naming the holder.
    fn lock(&self, operation: &str, timeout: Duration) -> Result<LockGuard, LockError>;

    /// Lets go of a lock this back end gave (dropping the guard does the same, quietly).
    fn unlock(&self, guard: LockGuard) -> Result<(), LockError> {
        guard.release()
    }

    /// Removes the lock of a run that hangs, if `id` is its lock id; refuses another id with
    /// [`LockError::IdMismatch`] and says [`LockError::NotLocked`] when no one holds it.
    fn force_unlock(&self, id: &str) -> Result<ForceUnlocked, LockError>;
}

/// Which back end holds the state, as the command line (and later the configuration)
/// describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendChoice {
    /// The sled database at this path (relative to the configuration directory, like every
    /// path blockform reads), locked by the file `PATH.lock` beside it.
    Local {
        /// The state path (`.blockform/state`).
        path: PathBuf,
    },
    /// A state held in memory, gone with the process.
    Memory,
}

/// Opens the back end `choice` names for the configuration directory `dir`: the one place
/// that knows the implementations. Nothing is read or written yet.
pub fn open(dir: &Path, choice: &BackendChoice) -> Box<dyn StateBackend> {
    match choice {
        BackendChoice::Local { path } => Box::new(LocalBackend::new(dir.join(path))),
        BackendChoice::Memory => Box::new(MemoryBackend::new()),
    }
}

/// The local state: a sled database on disk ([`SledStore`]) and its lock file beside it
/// ([`StateLock`], `<path>.lock`). The lock is taken before the database is opened, so that a
/// second run hears who holds it rather than sled's "in use".
#[derive(Debug, Clone)]
pub struct LocalBackend {
    path: PathBuf,
}

impl LocalBackend {
    /// The local state at `path`.
    pub fn new(path: PathBuf) -> LocalBackend {
        LocalBackend { path }
    }

    /// The state path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl StateBackend for LocalBackend {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn exists(&self) -> Result<bool, StateError> {
        Ok(SledStore::exists(&self.path))
    }

    fn open(&self) -> Result<Box<dyn Store>, StateError> {
        Ok(Box::new(SledStore::open(&self.path)?))
    }

    fn lock(&self, operation: &str, timeout: Duration) -> Result<LockGuard, LockError> {
        let lock = StateLock::acquire(&self.path, operation, timeout)?;
        let info = lock.info().clone();
        Ok(LockGuard::new(
            info,
            lock_path(&self.path).display().to_string(),
            Box::new(lock),
        ))
    }

    fn force_unlock(&self, id: &str) -> Result<ForceUnlocked, LockError> {
        force_unlock(&self.path, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::conformance::backend_conformance_tests;
    use crate::state::scratch::ScratchDir;

    mod local {
        use super::*;

        backend_conformance_tests!({
            let dir = ScratchDir::new("backend-local");
            let backend = open(
                dir.path(),
                &BackendChoice::Local {
                    path: PathBuf::from(".blockform/state"),
                },
            );
            (dir, backend)
        });
    }

    mod memory {
        use super::*;

        backend_conformance_tests!(((), open(Path::new("."), &BackendChoice::Memory)));
    }

    #[test]
    fn the_local_back_end_keeps_todays_layout() {
        let dir = ScratchDir::new("backend-layout");
        let backend = open(
            dir.path(),
            &BackendChoice::Local {
                path: PathBuf::from(".blockform/state"),
            },
        );
        assert_eq!(
            backend.location(),
            dir.path().join(".blockform/state").display().to_string()
        );
        assert!(!backend.exists().unwrap());
        let guard = backend.lock("apply", Duration::ZERO).unwrap();
        assert_eq!(
            guard.location(),
            dir.path().join(".blockform/state.lock").display().to_string()
        );
        let written: crate::state::LockInfo =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(".blockform/state.lock")).unwrap()).unwrap();
        assert_eq!(&written, guard.info());
        assert!(!backend.exists().unwrap(), "the lock file alone is no state");
        let store = backend.open().unwrap();
        assert!(backend.exists().unwrap());
        assert!(dir.path().join(".blockform/state/db").is_file());
        drop(store);
        backend.unlock(guard).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".blockform/state.lock")).unwrap(),
            "",
            "an unlocked lock file is empty"
        );
    }
}
