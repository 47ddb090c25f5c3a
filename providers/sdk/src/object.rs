//! What a back-end object is and how it is named in messages: shared by errors, which say
//! which object failed, and the inventory, which lists what a back end holds.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kind of a back-end object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A volume: an RBD image, a logical volume or a qcow2 file.
    Volume,
    /// A snapshot of a volume.
    Snapshot,
    /// An image file exported from a volume.
    Image,
    /// The record that a volume is attached to an instance.
    Attachment,
    /// A marker that changed-extent tracking starts from (a snapshot or a dirty bitmap).
    ChangeMarker,
    /// A Ceph pool.
    Pool,
    /// An LVM volume group.
    VolumeGroup,
    /// A directory of the local provider.
    Directory,
    /// Anything else found on the back end.
    Other,
}

impl ObjectKind {
    /// The kind as people read it in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Volume => "volume",
            Self::Snapshot => "snapshot",
            Self::Image => "image",
            Self::Attachment => "attachment",
            Self::ChangeMarker => "change marker",
            Self::Pool => "pool",
            Self::VolumeGroup => "volume group",
            Self::Directory => "directory",
            Self::Other => "object",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object on a back end, named by its backend name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// What the object is.
    pub kind: ObjectKind,
    /// Its name on the back end (`volume-<uuid>`, a pool, a volume group...).
    pub name: String,
}

impl ObjectRef {
    /// Names an object of any kind.
    pub fn new(kind: ObjectKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
        }
    }

    /// Names a volume.
    pub fn volume(name: impl Into<String>) -> Self {
        Self::new(ObjectKind::Volume, name)
    }

    /// Names a snapshot.
    pub fn snapshot(name: impl Into<String>) -> Self {
        Self::new(ObjectKind::Snapshot, name)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`", self.kind, self.name.escape_debug())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_kind_and_backticked_name() {
        assert_eq!(
            ObjectRef::new(ObjectKind::VolumeGroup, "vg-ssd").to_string(),
            "volume group `vg-ssd`"
        );
        assert_eq!(ObjectRef::volume("volume-1").to_string(), "volume `volume-1`");
    }

    #[test]
    fn control_characters_in_names_are_escaped() {
        assert_eq!(ObjectRef::volume("a\nb").to_string(), "volume `a\\nb`");
    }

    #[test]
    fn round_trips_through_json() {
        let object = ObjectRef::new(ObjectKind::ChangeMarker, "backup-7");
        let json = serde_json::to_string(&object).unwrap();
        assert_eq!(json, r#"{"kind":"change_marker","name":"backup-7"}"#);
        assert_eq!(serde_json::from_str::<ObjectRef>(&json).unwrap(), object);
    }
}
