//! Volumes: the spec the engine asks a back end to create, the descriptive properties it
//! updates in place, and the state a refresh observes.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::image::ImageFormat;
use crate::qos::QosSpecs;
use crate::snapshot::SnapshotState;

/// One gibibyte, the unit of volume sizes in configuration.
pub const GIB: u64 = 1 << 30;

/// The descriptive properties of a volume, all updated in place.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeProperties {
    /// The display name (1..128 characters, any text).
    pub name: String,
    /// The description.
    pub description: Option<String>,
    /// Whether the volume can boot an instance.
    pub bootable: bool,
    /// Tags, in the order the configuration lists them.
    pub tags: Vec<String>,
    /// Free-form metadata.
    pub metadata: BTreeMap<String, String>,
}

/// A request to create a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    /// The deterministic name to create it under (`volume-<uuid>`), recorded as an intent first.
    pub backend_name: String,
    /// Name, description, bootable flag, tags and metadata.
    pub properties: VolumeProperties,
    /// The size in GiB; with a snapshot, volume or image source it is at least the source's size.
    pub size_gib: u64,
    /// The name of the volume type.
    pub volume_type: String,
    /// The volume type's extra specs, for back ends that read them (thin pools, RBD features).
    pub extra_specs: BTreeMap<String, String>,
    /// What the new volume's data comes from.
    pub source: VolumeSource,
}

/// Where a new volume's data comes from.
///
/// Restoring from a backup is not a source here: the engine creates an empty volume and writes
/// the backup into it through a [`VolumeWriter`](crate::data::VolumeWriter), so every back end
/// restores the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum VolumeSource {
    /// No data: the volume reads as zeros.
    #[default]
    Empty,
    /// A snapshot of a volume on the same back end.
    Snapshot {
        /// The snapshot's volume.
        volume_backend_name: String,
        /// The snapshot.
        snapshot_backend_name: String,
    },
    /// A clone of a volume on the same back end.
    Volume {
        /// The volume to clone.
        backend_name: String,
    },
    /// An image file on the machine that runs blockform.
    ImageFile {
        /// The file.
        path: PathBuf,
        /// Its format, stated rather than probed so a raw image cannot pass for qcow2.
        format: ImageFormat,
    },
}

/// The status of a volume, as Cinder spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VolumeStatus {
    /// Being created.
    #[serde(rename = "creating")]
    Creating,
    /// Ready and detached.
    #[serde(rename = "available")]
    Available,
    /// Reserved for an attachment that has not finished.
    #[serde(rename = "reserved")]
    Reserved,
    /// Being attached.
    #[serde(rename = "attaching")]
    Attaching,
    /// Being detached.
    #[serde(rename = "detaching")]
    Detaching,
    /// Attached to an instance.
    #[serde(rename = "in-use")]
    InUse,
    /// Locked by an administrative operation.
    #[serde(rename = "maintenance")]
    Maintenance,
    /// Being deleted.
    #[serde(rename = "deleting")]
    Deleting,
    /// Waiting to be transferred to another owner.
    #[serde(rename = "awaiting-transfer")]
    AwaitingTransfer,
    /// Creation failed.
    #[serde(rename = "error")]
    Error,
    /// Deletion failed.
    #[serde(rename = "error_deleting")]
    ErrorDeleting,
    /// Being copied to a backup store.
    #[serde(rename = "backing-up")]
    BackingUp,
    /// Being written from a backup.
    #[serde(rename = "restoring-backup")]
    RestoringBackup,
    /// A backup of it failed.
    #[serde(rename = "error_backing-up")]
    ErrorBackingUp,
    /// A restore into it failed.
    #[serde(rename = "error_restoring")]
    ErrorRestoring,
    /// Growing it failed.
    #[serde(rename = "error_extending")]
    ErrorExtending,
    /// Being written from an image.
    #[serde(rename = "downloading")]
    Downloading,
    /// Being exported to an image.
    #[serde(rename = "uploading")]
    Uploading,
    /// Changing volume type.
    #[serde(rename = "retyping")]
    Retyping,
    /// Growing.
    #[serde(rename = "extending")]
    Extending,
}

impl VolumeStatus {
    /// Every status.
    pub const ALL: [Self; 20] = [
        Self::Creating,
        Self::Available,
        Self::Reserved,
        Self::Attaching,
        Self::Detaching,
        Self::InUse,
        Self::Maintenance,
        Self::Deleting,
        Self::AwaitingTransfer,
        Self::Error,
        Self::ErrorDeleting,
        Self::BackingUp,
        Self::RestoringBackup,
        Self::ErrorBackingUp,
        Self::ErrorRestoring,
        Self::ErrorExtending,
        Self::Downloading,
        Self::Uploading,
        Self::Retyping,
        Self::Extending,
    ];

    /// The status as Cinder spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Available => "available",
            Self::Reserved => "reserved",
            Self::Attaching => "attaching",
            Self::Detaching => "detaching",
            Self::InUse => "in-use",
            Self::Maintenance => "maintenance",
            Self::Deleting => "deleting",
            Self::AwaitingTransfer => "awaiting-transfer",
            Self::Error => "error",
            Self::ErrorDeleting => "error_deleting",
            Self::BackingUp => "backing-up",
            Self::RestoringBackup => "restoring-backup",
            Self::ErrorBackingUp => "error_backing-up",
            Self::ErrorRestoring => "error_restoring",
            Self::ErrorExtending => "error_extending",
            Self::Downloading => "downloading",
            Self::Uploading => "uploading",
            Self::Retyping => "retyping",
            Self::Extending => "extending",
        }
    }

    /// Whether the status records a failed operation.
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Self::Error | Self::ErrorDeleting | Self::ErrorBackingUp | Self::ErrorRestoring | Self::ErrorExtending
        )
    }
}

impl fmt::Display for VolumeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A volume observed on the back end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeState {
    /// Its name on the back end.
    pub backend_name: String,
    /// The properties recorded with it (RBD image metadata, LVM tags, a sidecar file).
    pub properties: VolumeProperties,
    /// The size a guest sees (RBD image size, LV size, qcow2 virtual size).
    pub virtual_size_bytes: u64,
    /// The space it occupies on the back end, when the back end reports it.
    pub allocated_bytes: Option<u64>,
    /// Its status.
    pub status: VolumeStatus,
    /// Its snapshots, oldest first (see [`SnapshotState::cmp_by_creation`]).
    pub snapshots: Vec<SnapshotState>,
    /// The back-end limits of its `qos` resource, as applied now.
    pub qos: QosSpecs,
}

impl VolumeState {
    /// The size in GiB, rounded up when the back end rounded to a smaller unit.
    pub fn size_gib(&self) -> u64 {
        self.virtual_size_bytes.div_ceil(GIB)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::snapshot::SnapshotStatus;

    fn properties() -> VolumeProperties {
        VolumeProperties {
            name: "db-data".into(),
            description: Some("primary database".into()),
            bootable: false,
            tags: vec!["db".into(), "prod".into()],
            metadata: BTreeMap::from([("team".into(), "storage".into())]),
        }
    }

    #[test]
    fn spec_round_trips_through_json_with_every_source() {
        let sources = [
            VolumeSource::Empty,
            VolumeSource::Snapshot {
                volume_backend_name: "volume-1".into(),
                snapshot_backend_name: "snapshot-1".into(),
            },
            VolumeSource::Volume {
                backend_name: "volume-1".into(),
            },
            VolumeSource::ImageFile {
                path: "/srv/images/debian.qcow2".into(),
                format: ImageFormat::Qcow2,
            },
        ];
        for source in sources {
            let spec = VolumeSpec {
                backend_name: "volume-2".into(),
                properties: properties(),
                size_gib: 100,
                volume_type: "ssd".into(),
                extra_specs: BTreeMap::from([("lvm_type".into(), "thin".into())]),
                source,
            };
            let json = serde_json::to_string(&spec).unwrap();
            assert_eq!(serde_json::from_str::<VolumeSpec>(&json).unwrap(), spec);
        }
    }

    #[test]
    fn sources_are_tagged_by_type() {
        assert_eq!(
            serde_json::to_value(VolumeSource::Empty).unwrap(),
            json!({"type": "empty"})
        );
        assert_eq!(
            serde_json::to_value(VolumeSource::Snapshot {
                volume_backend_name: "volume-1".into(),
                snapshot_backend_name: "snapshot-1".into(),
            })
            .unwrap(),
            json!({
                "type": "snapshot",
                "volume_backend_name": "volume-1",
                "snapshot_backend_name": "snapshot-1"
            })
        );
        assert_eq!(
            serde_json::to_value(VolumeSource::ImageFile {
                path: "/i.raw".into(),
                format: ImageFormat::Raw,
            })
            .unwrap(),
            json!({"type": "image_file", "path": "/i.raw", "format": "raw"})
        );
    }

    #[test]
    fn state_round_trips_through_json() {
        let state = VolumeState {
            backend_name: "volume-1".into(),
            properties: properties(),
            virtual_size_bytes: 100 * GIB,
            allocated_bytes: Some(3 * GIB),
            status: VolumeStatus::InUse,
            snapshots: vec![SnapshotState {
                backend_name: "snapshot-1".into(),
                volume_backend_name: "volume-1".into(),
                size_bytes: 100 * GIB,
                created_at_unix_secs: 1_700_000_000,
                status: SnapshotStatus::Available,
            }],
            qos: [("total_iops_sec", 2000)].into_iter().collect(),
        };
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(json["status"], "in-use");
        assert_eq!(json["qos"], json!({"total_iops_sec": 2000}));
        assert_eq!(serde_json::from_value::<VolumeState>(json).unwrap(), state);
    }

    #[test]
    fn statuses_serialize_and_display_as_cinder_spells_them() {
        let spellings: Vec<_> = VolumeStatus::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(
            spellings,
            [
                "creating",
                "available",
                "reserved",
                "attaching",
                "detaching",
                "in-use",
                "maintenance",
                "deleting",
                "awaiting-transfer",
                "error",
                "error_deleting",
                "backing-up",
                "restoring-backup",
                "error_backing-up",
                "error_restoring",
                "error_extending",
                "downloading",
                "uploading",
                "retyping",
                "extending",
            ]
        );
        for status in VolumeStatus::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{status}\""));
            assert_eq!(serde_json::from_str::<VolumeStatus>(&json).unwrap(), status);
        }
    }

    #[test]
    fn error_statuses_are_recognised() {
        let errors: Vec<_> = VolumeStatus::ALL
            .into_iter()
            .filter(|status| status.is_error())
            .map(VolumeStatus::as_str)
            .collect();
        assert_eq!(
            errors,
            [
                "error",
                "error_deleting",
                "error_backing-up",
                "error_restoring",
                "error_extending"
            ]
        );
    }

    #[test]
    fn size_in_gib_rounds_up() {
        let mut state = VolumeState {
            backend_name: "volume-1".into(),
            properties: VolumeProperties::default(),
            virtual_size_bytes: 10 * GIB,
            allocated_bytes: None,
            status: VolumeStatus::Available,
            snapshots: Vec::new(),
            qos: QosSpecs::default(),
        };
        assert_eq!(state.size_gib(), 10);
        state.virtual_size_bytes += 512;
        assert_eq!(state.size_gib(), 11);
    }
}
