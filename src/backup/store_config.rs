//! Which store a `backup_store` block describes ([`StoreConfig`]: its kind, [`StoreKind`], and
//! what that kind needs), and [`StoreConfig::open`], the one place that opens the
//! implementation of a kind. A new kind of store adds a variant and an arm here.

use std::path::PathBuf;

use super::dir_store::DirStore;
use super::error::{BackupError, Result};
use super::store::{Access, BackupStore};

/// The kinds of backup store, by the label of their block (`backup_store "dir" "nas"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A directory of pack files and manifests: [`DirStore`].
    Dir,
}

impl StoreKind {
    /// The kind a block label names, if this build has it.
    pub fn from_label(label: &str) -> Option<StoreKind> {
        match label {
            "dir" => Some(StoreKind::Dir),
            _ => None,
        }
    }
}

/// Where a `backup_store` block keeps its backups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Which implementation holds the store.
    pub kind: StoreKind,
    /// The store's directory (absolute, or relative to the configuration directory).
    pub path: PathBuf,
    /// Whether blocks are compressed when that helps.
    pub compression: bool,
}

impl StoreConfig {
    /// Opens the store with its lock taken, creating it on first use when `create` is set: the
    /// one place that picks the implementation.
    pub fn open(&self, access: Access, create: bool) -> Result<Box<dyn BackupStore>, BackupError> {
        match self.kind {
            StoreKind::Dir => Ok(Box::new(DirStore::open(&self.path, access, create, self.compression)?)),
        }
    }
}
