//! Which store a `backup_store` block describes ([`StoreConfig`]: its kind, [`StoreKind`], and
//! what that kind needs), and [`StoreConfig::open`], the one place that opens the
//! implementation of a kind. A new kind of store adds a variant and an arm here.

use std::path::PathBuf;

use super::dir_store::DirStore;
use super::error::{BackupError, Result};
use super::s3_store::S3Store;
use super::store::{Access, BackupStore};
use crate::s3::S3Location;

/// The backup stores of a configuration, by `backup_store` block name.
pub type Stores = std::collections::HashMap<String, StoreConfig>;

/// The kinds of backup store, by the label of their block (`backup_store "dir" "nas"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A directory of pack files and manifests: [`DirStore`].
    Dir,
    /// The same packs and manifests as objects in an S3 bucket: [`S3Store`].
    S3,
}

impl StoreKind {
    /// The kind a block label names, if this build has it.
    pub fn from_label(label: &str) -> Option<StoreKind> {
        match label {
            "dir" => Some(StoreKind::Dir),
            "s3" => Some(StoreKind::S3),
            _ => None,
        }
    }
}

/// Where a `backup_store` block keeps its backups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Which implementation holds the store.
    pub kind: StoreKind,
    /// The store's directory (absolute, or relative to the configuration directory); for an S3
    /// store, its URL (`s3://bucket/prefix`), for messages.
    pub path: PathBuf,
    /// The bucket, prefix, endpoint and region of an S3 store.
    pub s3: Option<S3Location>,
    /// Whether blocks are compressed when that helps.
    pub compression: bool,
}

impl StoreConfig {
    /// Opens the store with its lock taken, creating it on first use when `create` is set: the
    /// one place that picks the implementation.
    /// Whether the store was created (something was written to it); one that was not holds no
    /// backups and is created by the first one.
    pub fn exists(&self) -> bool {
        match (self.kind, &self.s3) {
            (StoreKind::S3, Some(location)) => S3Store::exists(location).unwrap_or(false),
            _ => DirStore::exists(&self.path),
        }
    }

    pub fn open(&self, access: Access, create: bool) -> Result<Box<dyn BackupStore>, BackupError> {
        match (self.kind, &self.s3) {
            (StoreKind::S3, Some(location)) => Ok(Box::new(S3Store::open(location, access, create, self.compression)?)),
            _ => Ok(Box::new(DirStore::open(&self.path, access, create, self.compression)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dir_block_opens_a_directory_store_created_by_the_first_write() {
        let path = std::env::temp_dir().join(format!("blockform-store-config-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        let config = StoreConfig {
            kind: StoreKind::from_label("dir").unwrap(),
            path: path.clone(),
            s3: None,
            compression: true,
        };
        assert_eq!(StoreKind::from_label("tape"), None, "a kind this build lacks");
        assert!(!config.exists());
        assert!(matches!(
            config.open(Access::Shared, false),
            Err(BackupError::NotAStore { .. })
        ));
        let mut store = config.open(Access::Shared, true).unwrap();
        assert!(config.exists());
        assert!(path.join("store.json").is_file() && path.join("packs").is_dir() && path.join("backups").is_dir());
        let data = vec![7_u8; 4096];
        let hash = *blake3::hash(&data).as_bytes();
        store.put(hash, &data).unwrap();
        store.seal().unwrap();
        assert_eq!(store.read_block(&hash).unwrap(), Ok(data));
        drop(store);
        let _ = std::fs::remove_dir_all(&path);
    }
}
