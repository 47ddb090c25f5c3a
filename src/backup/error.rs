//! Why a backup operation failed ([`BackupError`], with a hint for the user where one is
//! known), and the `Result` of this module.

use std::path::PathBuf;

use blockform_provider::ProviderError;

/// Why a backup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file of the store could not be read or written.
    #[error("backup store `{path}`: cannot {action}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The directory is not a store this build can use.
    #[error("`{path}` is not a usable backup store: {reason}")]
    NotAStore {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another process is using the store.
    #[error("backup store `{path}` is in use by a backup, restore or verification")]
    Busy {
        /// The store.
        path: PathBuf,
    },
    /// No backup has this id.
    #[error("no backup `{id}` in the store `{path}`")]
    NotFound {
        /// The id.
        id: String,
        /// The store.
        path: PathBuf,
    },
    /// Another backup builds on this one.
    #[error("backup `{id}` cannot be deleted: the incremental backup `{child}` builds on it")]
    HasChildren {
        /// The backup.
        id: String,
        /// The newest backup that depends on it.
        child: String,
    },
    /// A block of a backup is missing or does not hash to what its manifest says.
    #[error("backup `{id}` is damaged at offset {offset}: {reason}")]
    Damaged {
        /// The backup.
        id: String,
        /// The first byte of the damaged block.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A block turned out damaged while a restore was writing (it passed the check before the
    /// first write): the target holds part of the backup.
    #[error(
        "backup `{id}` is damaged at offset {offset}: {reason}; the volume `{volume}` is now partly overwritten (bytes 0 to {written_end} hold the backup's data, the rest its old data)"
    )]
    DamagedDuringRestore {
        /// The backup.
        id: String,
        /// The first byte of the damaged block.
        offset: u64,
        /// What is wrong.
        reason: String,
        /// The target volume.
        volume: String,
        /// The end of the range of the target already overwritten.
        written_end: u64,
    },
    /// An incremental backup was asked for where there is nothing to build on.
    #[error("volume `{volume}` has no full backup in the store for an incremental to build on")]
    NoFull {
        /// The volume.
        volume: String,
    },
    /// The restore target is smaller than the backup.
    #[error("backup `{id}` holds {backup_bytes} bytes but the volume `{volume}` only {volume_bytes}")]
    TargetTooSmall {
        /// The backup.
        id: String,
        /// The target volume.
        volume: String,
        /// The backup's volume size.
        backup_bytes: u64,
        /// The target's size.
        volume_bytes: u64,
    },
    /// The back end failed reading or writing the volume.
    #[error("volume `{volume}`: {source}")]
    Provider {
        /// The volume.
        volume: String,
        /// The back end's error.
        #[source]
        source: ProviderError,
    },
    /// An S3 store could not be reached or refused a request.
    #[error("backup store `{store}`: {message}")]
    Remote {
        /// The store, as `s3://bucket/prefix`.
        store: String,
        /// What went wrong.
        message: String,
        /// What the user can do about it.
        hint: String,
    },
    /// A manifest that cannot be read.
    #[error("manifest `{path}` is unreadable: {reason}")]
    BadManifest {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl BackupError {
    /// What a person can do about it, when something is known.
    pub fn hint(&self) -> Option<String> {
        match self {
            BackupError::NotAStore { .. } => {
                Some("check the `path` of the backup_store block; an empty directory becomes a store".to_owned())
            }
            BackupError::NotFound { .. } => Some("`blockform backup list` shows the backups in the store".to_owned()),
            BackupError::Busy { .. } => Some("run `blockform backup gc` again when it has finished".to_owned()),
            BackupError::HasChildren { child, .. } => Some(format!(
                "delete `{child}` first: incrementals are deleted newest first, then their full"
            )),
            BackupError::Damaged { .. } => Some(
                "restore from an older chain, and take a new full backup; `blockform backup verify --all` lists every damaged block"
                    .to_owned(),
            ),
            BackupError::DamagedDuringRestore { volume, .. } => Some(format!(
                "the volume `{volume}` no longer holds consistent data: restore it again from another backup"
            )),
            BackupError::NoFull { .. } => Some("take a full backup first (`mode = \"full\"`)".to_owned()),
            BackupError::TargetTooSmall { backup_bytes, .. } => Some(format!(
                "extend the volume to at least {} GiB first, or restore into a new volume",
                backup_bytes.div_ceil(1 << 30)
            )),
            BackupError::Remote { hint, .. } => (!hint.is_empty()).then(|| hint.clone()),
            BackupError::Io { .. } | BackupError::Provider { .. } | BackupError::BadManifest { .. } => None,
        }
    }
}

/// Shorthand for results of this module.
pub type Result<T, E = BackupError> = std::result::Result<T, E>;
