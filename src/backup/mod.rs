//! Block-level backups: a content-addressed store of fixed-size blocks in pack files, one
//! manifest per backup, full and incremental chains, restore, verify, garbage collection and
//! retention policies.
//!
//! A volume is cut into 64 KiB blocks: the granularity of qcow2 dirty bitmaps (so a changed
//! cluster costs one block) and small enough that scattered 64 KiB writes store about their own
//! size, while the per-block index stays small (16 Ki entries per GiB). Blocks are hashed with
//! BLAKE3, compressed with zstd when that saves space, stored once however many backups and
//! volumes hold them, and all-zero blocks are not stored at all. Every manifest lists the whole
//! volume's blocks, so a restore reads one manifest; an incremental only reads and stores what
//! changed since its parent.
//!
//! Where blocks and manifests live is behind the [`BackupStore`] trait (`store.rs`), opened
//! in one place from a `backup_store` block by its kind ([`StoreConfig::open`],
//! `store_config.rs`); the implementations are the directory store (`dir_store.rs`,
//! `backup_store "dir"`) and the S3 store (`s3_store.rs`, `backup_store "s3"`, the same packs
//! and manifests as objects in a bucket). A new kind of store is a new implementation, a
//! [`StoreKind`] variant and one arm in [`StoreConfig::open`]; the engine, policies, verify, gc
//! and restore stay as they are.

mod dir_store;
mod engine;
mod error;
pub mod lifecycle;
mod manifest;
mod planning;
pub mod policy;
mod s3_store;
mod store;
mod store_config;

pub use dir_store::DirStore;
pub use engine::{
    BackupRequest, ChangeMarkers, Damage, ProgressFn, ProviderMarkers, RestoreOptions, create_backup,
    create_backup_with, marker_name, restore, verify,
};
pub use error::{BackupError, Result};
pub use manifest::{BackupMode, BlockRef, Manifest};
pub use planning::check_plan;
pub use s3_store::S3Store;
pub use store::{Access, BLOCK_SIZE_BYTES, BackupStore, GcReport, StoreStats};
pub use store_config::{StoreConfig, StoreKind, Stores};

/// The current time as seconds since the Unix epoch, or `BLOCKFORM_NOW` when set.
///
/// `BLOCKFORM_NOW` (seconds since the epoch, or an RFC 3339 time) exists for testing schedules
/// and retention without waiting for days to pass.
pub fn now_unix_secs() -> u64 {
    if let Ok(text) = std::env::var("BLOCKFORM_NOW") {
        if let Ok(secs) = text.trim().parse::<u64>() {
            return secs;
        }
        if let Ok(time) = humantime::parse_rfc3339_weak(text.trim())
            && let Ok(since) = time.duration_since(std::time::UNIX_EPOCH)
        {
            return since.as_secs();
        }
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
