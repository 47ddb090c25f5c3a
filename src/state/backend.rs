//! The [`StateBackend`] interface: where a state lives, with its lock inside (after OpenTofu's
//! `statemgr.Locker` and `statemgr.Full`). A back end says whether its state exists, takes,
//! releases and force-removes the state lock, and opens the state for reading and committing
//! (a [`Store`], whose commits can name the serial they expect).
//!
//! Implementations: [`LocalBackend`](super::LocalBackend) (`local.rs`: the sled database with
//! its lock file beside it) and [`MemoryBackend`](super::MemoryBackend) (a state held in
//! memory). The command line never names one: [`open_backend`](super::open_backend)
//! (`choice.rs`) picks it from a [`BackendChoice`](super::BackendChoice), in that one place. A
//! new back end is one more implementation, one more `BackendChoice` variant and one more arm
//! there; it proves itself with the suite in `conformance.rs` (`backend_conformance_tests!`).

use std::time::Duration;

use super::lock::{ForceUnlocked, LockError, LockGuard};
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
