//! What every provider repeats, written once: the ownership record blockform keeps with each
//! volume it creates, the check that decides whether an existing object of a create's name is
//! adopted or a conflict, and the small error constructors. The capacity rule lives with
//! [`Capacity`](crate::Capacity).

use std::io;

use serde::{Deserialize, Serialize};

use crate::error::{ProviderError, Result};
use crate::object::ObjectRef;
use crate::volume::{GIB, VolumeProperties};

/// The value of `managed_by` in the records blockform writes.
pub const OWNER: &str = "blockform";

/// What blockform records with a volume it creates (the local provider's sidecar file, the
/// `blockform` metadata of a Ceph image): the ownership marker that tells blockform's volumes
/// from others, the volume type, and the properties the back end has no room for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnershipRecord {
    /// The ownership marker; [`OWNER`] for volumes blockform manages.
    pub managed_by: String,
    /// The name of the volume type the volume was created with.
    #[serde(default)]
    pub volume_type: Option<String>,
    /// Name, description, bootable flag, tags and metadata.
    #[serde(flatten)]
    pub properties: VolumeProperties,
}

impl OwnershipRecord {
    /// A record marking a volume as blockform's.
    pub fn owned(properties: VolumeProperties, volume_type: Option<String>) -> Self {
        Self {
            managed_by: OWNER.to_owned(),
            volume_type,
            properties,
        }
    }

    /// Whether it carries blockform's ownership marker.
    pub fn is_owned(&self) -> bool {
        self.managed_by == OWNER
    }

    /// The record as compact JSON, on one line.
    pub fn to_json(&self) -> String {
        // Serializing a struct of strings, bools and maps with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Whether an object found under the name a create asked for is the finished volume of an
/// earlier attempt at the same create (then the provider adopts it): it must carry blockform's
/// ownership record and, once `observe`d, have the requested size. Otherwise a `Conflict` on
/// `object`, saying `not_owned` (where the provider looked for the record) or how the sizes
/// differ. An object that is not blockform's is not observed further. Returns what `observe`
/// returned.
pub fn adopt_or_conflict<T>(
    object: &ObjectRef,
    record: Option<&OwnershipRecord>,
    not_owned: impl FnOnce() -> String,
    observe: impl FnOnce() -> Result<T>,
    size_bytes: impl FnOnce(&T) -> u64,
    requested_bytes: u64,
) -> Result<T> {
    if !record.is_some_and(OwnershipRecord::is_owned) {
        return Err(conflict(object, not_owned()));
    }
    let observed = observe()?;
    let existing_bytes = size_bytes(&observed);
    if existing_bytes != requested_bytes {
        return Err(conflict(
            object,
            format!(
                "it exists with {} instead of the requested {}",
                size_text(existing_bytes),
                size_text(requested_bytes)
            ),
        ));
    }
    Ok(observed)
}

/// A size for messages: whole GiB when it is, else bytes.
pub fn size_text(bytes: u64) -> String {
    if bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// A `Fatal` error for a failed file operation: "cannot {what}: {error}".
pub fn io_failure(what: &str, error: &io::Error) -> ProviderError {
    ProviderError::fatal(format!("cannot {what}: {error}"))
}

/// An `InvalidState` error without a command.
pub fn invalid_state(object: &ObjectRef, reason: String) -> ProviderError {
    ProviderError::InvalidState {
        object: object.clone(),
        reason,
        command: None,
    }
}

/// A `Conflict` error without a command.
pub fn conflict(object: &ObjectRef, reason: String) -> ProviderError {
    ProviderError::Conflict {
        object: object.clone(),
        reason,
        command: None,
    }
}

/// Writes the raw image file `raw` as the qcow2 file `destination` with this machine's
/// `qemu-img`, within `timeout`: how a provider whose back end gives raw data (`rbd export`,
/// an LV read over ssh) makes a qcow2 image.
pub fn raw_to_qcow2(raw: &str, destination: &str, timeout: std::time::Duration) -> Result<()> {
    crate::command::CommandRunner::local()
        .with_timeout(timeout)
        .run(&["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, destination])
        .map(drop)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn record() -> OwnershipRecord {
        OwnershipRecord::owned(
            VolumeProperties {
                name: "db data".into(),
                description: Some("line one\nline two".into()),
                bootable: true,
                tags: vec!["db".into()],
                metadata: BTreeMap::from([("team".into(), "storage".into())]),
            },
            Some("ssd".into()),
        )
    }

    #[test]
    fn records_are_flat_compact_json_with_the_marker() {
        let json = record().to_json();
        assert!(!json.contains('\n'));
        assert!(json.starts_with(r#"{"managed_by":"blockform","volume_type":"ssd","name":"db data""#));
        let back: OwnershipRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record());
        assert!(back.is_owned());
        let someone: OwnershipRecord = serde_json::from_str(
            r#"{"managed_by":"someone","name":"x","description":null,"bootable":false,"tags":[],"metadata":{}}"#,
        )
        .unwrap();
        assert!(!someone.is_owned());
    }

    #[test]
    fn only_an_owned_object_of_the_requested_size_is_adopted() {
        let object = ObjectRef::volume("volume-1");
        let not_owned = || "not ours".to_owned();
        let size = |bytes: &u64| *bytes;
        assert_eq!(
            adopt_or_conflict(&object, Some(&record()), not_owned, || Ok(GIB), size, GIB),
            Ok(GIB)
        );
        let never = || -> Result<u64> { panic!("an object that is not blockform's is not observed") };
        assert_eq!(
            adopt_or_conflict(&object, None, not_owned, never, size, GIB)
                .unwrap_err()
                .to_string(),
            "volume `volume-1` conflicts with an existing object: not ours"
        );
        assert_eq!(
            adopt_or_conflict(&object, Some(&record()), not_owned, || Ok(2 * GIB), size, GIB + 1)
                .unwrap_err()
                .to_string(),
            "volume `volume-1` conflicts with an existing object: it exists with 2 GiB instead of the requested 1073741825 bytes"
        );
    }
}
