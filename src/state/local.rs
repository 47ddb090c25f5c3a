//! The local state back end: the sled database on disk ([`SledStore`], `.blockform/state`)
//! and its lock file beside it ([`StateLock`], `.blockform/state.lock`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::backend::StateBackend;
use super::lock::{ForceUnlocked, LockError, LockGuard};
use super::lock_file::{StateLock, force_unlock};
use super::sled_store::SledStore;
use super::store::{StateError, Store};

/// The local state: a sled database on disk and its lock file beside it (`<path>.lock`).
/// The lock is taken before the database is opened, so that a second run hears who holds it
/// rather than sled's "in use".
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
        let (info, location) = (lock.info().clone(), lock.path().display().to_string());
        Ok(LockGuard::new(info, location, Box::new(lock)))
    }

    fn force_unlock(&self, id: &str) -> Result<ForceUnlocked, LockError> {
        force_unlock(&self.path, id)
    }
}
