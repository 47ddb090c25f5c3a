//! The sidecar file next to each volume (`volume-<uuid>.json`): the properties qcow2 has no
//! room for (name, description, tags, metadata, bootable flag, volume type) and the ownership
//! marker that tells blockform's volumes from other files in the directory.
//!
//! Sidecars are replaced atomically (temporary file, fsync, rename, fsync of the directory), so
//! a crash leaves either the old or the new one, never a torn file; a temporary file left by a
//! crash is removed by recovery. The create path writes the
//! sidecar before the image is renamed into place: a complete image without a sidecar was
//! therefore not made by blockform.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

pub use blockform_provider::toolkit::OWNER;
/// What a sidecar file holds: the provider toolkit's ownership record, pretty-printed.
pub use blockform_provider::toolkit::OwnershipRecord as Sidecar;

/// Why a sidecar could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// Reading the file failed.
    #[error("cannot read `{}`: {source}", .path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The file is not a sidecar.
    #[error("`{}` is not a valid sidecar: {source}", .path.display())]
    Json {
        /// The file.
        path: std::path::PathBuf,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
}

/// Reads a sidecar; a missing file is `None`.
pub fn read(path: &Path) -> Result<Option<Sidecar>, SidecarError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SidecarError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| SidecarError::Json {
            path: path.to_owned(),
            source,
        })
}

/// Replaces `path` with `sidecar` atomically; `temporary` is the scratch file. The content is
/// durable on return, the rename once the directory is synced (the caller's
/// [`DirectorySync`](crate::directory::DirectorySync), so parallel writers share it).
pub fn write(path: &Path, temporary: &Path, sidecar: &Sidecar) -> io::Result<()> {
    let mut json = serde_json::to_vec_pretty(sidecar).map_err(io::Error::other)?;
    json.push(b'\n');
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(temporary)
        .and_then(|mut file| {
            file.write_all(&json)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(temporary, path));
    if written.is_err() {
        let _ = fs::remove_file(temporary);
    }
    written
}

/// Flushes the directory entry changes (creations, renames, removals) of `path`'s directory.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) => File::open(parent)?.sync_all(),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use blockform_provider::VolumeProperties;

    use super::*;

    #[test]
    fn the_file_is_flat_json_with_the_marker() {
        let sidecar = Sidecar::owned(
            VolumeProperties {
                name: "db".into(),
                description: Some("primary".into()),
                bootable: true,
                tags: vec!["prod".into()],
                metadata: BTreeMap::from([("team".into(), "storage".into())]),
            },
            Some("ssd".into()),
        );
        let json = serde_json::to_value(&sidecar).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "managed_by": "blockform",
                "volume_type": "ssd",
                "name": "db",
                "description": "primary",
                "bootable": true,
                "tags": ["prod"],
                "metadata": {"team": "storage"}
            })
        );
        assert_eq!(serde_json::from_value::<Sidecar>(json).unwrap(), sidecar);
        assert!(sidecar.is_owned());
    }

    #[test]
    fn a_foreign_marker_is_not_owned() {
        let sidecar: Sidecar = serde_json::from_str(
            r#"{"managed_by":"someone-else","name":"x","description":null,"bootable":false,"tags":[],"metadata":{}}"#,
        )
        .unwrap();
        assert!(!sidecar.is_owned());
        assert_eq!(sidecar.volume_type, None);
    }
}
