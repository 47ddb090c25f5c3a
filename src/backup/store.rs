//! The [`BackupStore`] interface: what backups, restores, verification, garbage collection,
//! retention policies and the `backup` commands need from a store of blocks and manifests,
//! wherever it keeps them. A store is opened with its lock taken ([`Access`]: shared for
//! backups, restores, deletes and verification, exclusive for `gc`) and holds it until dropped.
//!
//! Implementations: [`DirStore`](super::DirStore) (`dir_store.rs`, `backup_store "dir"`, a
//! directory of pack files). The store a `backup_store` block describes is opened in one
//! place, [`StoreConfig::open`](super::StoreConfig::open) (`store_config.rs`), by the block's
//! kind; a new kind is one more implementation of [`BackupStore`] and one more kind there.

use serde::Serialize;

use super::error::Result;
use super::manifest::Manifest;

/// The size of a block: the qcow2 dirty-bitmap granularity.
pub const BLOCK_SIZE_BYTES: u32 = 64 * 1024;

/// How a store is locked while open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Backups, restores, deletes and verification: many at once.
    Shared,
    /// Garbage collection: nothing else at the same time.
    Exclusive,
}

/// What `gc` did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Packs deleted because no manifest needs any of their blocks.
    pub packs_deleted: usize,
    /// Packs rewritten without their unreferenced blocks.
    pub packs_rewritten: usize,
    /// Unreferenced blocks dropped.
    pub blocks_dropped: usize,
    /// Bytes of pack files freed.
    pub bytes_freed: u64,
}

/// Sizes of the store.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Distinct blocks stored.
    pub blocks: usize,
    /// Bytes of pack files.
    pub pack_bytes: u64,
}

/// An open backup store: content-addressed blocks (stored once, found by their BLAKE3 hash)
/// and one manifest per backup. Blocks put are durable and readable only once sealed; a
/// manifest is written after every block it lists is sealed.
pub trait BackupStore: Send + std::fmt::Debug {
    /// The block size of this store.
    fn block_size(&self) -> u32;

    /// Whether the store holds a block.
    fn contains(&self, hash: &[u8; 32]) -> bool;

    /// Stores a block unless the store has it already; returns the bytes added.
    fn put(&mut self, hash: [u8; 32], data: &[u8]) -> Result<u64>;

    /// Forgets and removes every block put but not yet sealed, after a backup failed.
    fn discard_unsealed(&mut self);

    /// Makes every block put so far durable and readable.
    fn seal(&mut self) -> Result<()>;

    /// Reads a block's bytes and checks they hash to `hash`; `Ok(Err(reason))` names what is
    /// wrong with the block (missing, damaged), `Err` says the store itself cannot be read.
    fn read_block(&mut self, hash: &[u8; 32]) -> Result<Result<Vec<u8>, String>>;

    /// Whether a backup exists (its manifest is complete).
    fn has_backup(&self, id: &str) -> bool;

    /// Reads a backup's manifest.
    fn manifest(&self, id: &str) -> Result<Manifest>;

    /// Every backup, oldest first (by sequence, then time), each parent before its children.
    fn manifests(&self) -> Result<Vec<Manifest>>;

    /// Records a complete backup, durably; every block it names must have been put (and is
    /// sealed first).
    fn write_manifest(&mut self, manifest: &Manifest) -> Result<()>;

    /// Deletes a backup that no other backup builds on. Its blocks stay until `gc`.
    fn delete(&self, id: &str) -> Result<()>;

    /// Distinct blocks and pack bytes.
    fn stats(&self) -> Result<StoreStats>;

    /// Removes blocks no manifest refers to. Needs [`Access::Exclusive`].
    fn gc(&mut self) -> Result<GcReport>;
}
