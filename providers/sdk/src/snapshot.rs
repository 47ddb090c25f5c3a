//! Snapshots of a volume: what the engine asks for and what a back end reports, oldest first.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A request to take a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSpec {
    /// The deterministic name to create it under (`snapshot-<uuid>`).
    pub backend_name: String,
    /// The volume to snapshot.
    pub volume_backend_name: String,
    /// The display name.
    pub name: String,
    /// The description.
    pub description: Option<String>,
}

/// The status of a snapshot, as Cinder spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SnapshotStatus {
    /// Being taken.
    #[serde(rename = "creating")]
    Creating,
    /// Ready.
    #[serde(rename = "available")]
    Available,
    /// Being copied to a backup store.
    #[serde(rename = "backing-up")]
    BackingUp,
    /// Being used to restore its volume.
    #[serde(rename = "restoring")]
    Restoring,
    /// Being deleted.
    #[serde(rename = "deleting")]
    Deleting,
    /// Creation failed.
    #[serde(rename = "error")]
    Error,
    /// Deletion failed.
    #[serde(rename = "error_deleting")]
    ErrorDeleting,
}

impl SnapshotStatus {
    /// The status as Cinder spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Available => "available",
            Self::BackingUp => "backing-up",
            Self::Restoring => "restoring",
            Self::Deleting => "deleting",
            Self::Error => "error",
            Self::ErrorDeleting => "error_deleting",
        }
    }
}

impl fmt::Display for SnapshotStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot observed on the back end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotState {
    /// Its name on the back end.
    pub backend_name: String,
    /// The volume it belongs to.
    pub volume_backend_name: String,
    /// The size of the volume when the snapshot was taken.
    pub size_bytes: u64,
    /// When it was taken, in seconds since the Unix epoch.
    pub created_at_unix_secs: u64,
    /// Its status.
    pub status: SnapshotStatus,
}

impl SnapshotState {
    /// Orders snapshots oldest first; the name breaks ties between snapshots of the same second.
    pub fn cmp_by_creation(&self, other: &Self) -> Ordering {
        self.created_at_unix_secs
            .cmp(&other.created_at_unix_secs)
            .then_with(|| self.backend_name.cmp(&other.backend_name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(backend_name: &str, created_at_unix_secs: u64) -> SnapshotState {
        SnapshotState {
            backend_name: backend_name.into(),
            volume_backend_name: "volume-1".into(),
            size_bytes: 1 << 30,
            created_at_unix_secs,
            status: SnapshotStatus::Available,
        }
    }

    #[test]
    fn snapshot_messages_round_trip_through_json() {
        let spec = SnapshotSpec {
            backend_name: "snapshot-1".into(),
            volume_backend_name: "volume-1".into(),
            name: "before_upgrade".into(),
            description: Some("before the 15.2 upgrade".into()),
        };
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<SnapshotSpec>(&json).unwrap(), spec);

        let state = snapshot("snapshot-1", 1_700_000_000);
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "backend_name": "snapshot-1",
                "volume_backend_name": "volume-1",
                "size_bytes": 1_073_741_824_u64,
                "created_at_unix_secs": 1_700_000_000_u64,
                "status": "available"
            })
        );
        assert_eq!(serde_json::from_value::<SnapshotState>(json).unwrap(), state);
    }

    #[test]
    fn statuses_serialize_and_display_as_cinder_spells_them() {
        for (status, spelling) in [
            (SnapshotStatus::Creating, "creating"),
            (SnapshotStatus::Available, "available"),
            (SnapshotStatus::BackingUp, "backing-up"),
            (SnapshotStatus::Restoring, "restoring"),
            (SnapshotStatus::Deleting, "deleting"),
            (SnapshotStatus::Error, "error"),
            (SnapshotStatus::ErrorDeleting, "error_deleting"),
        ] {
            assert_eq!(status.to_string(), spelling);
            assert_eq!(serde_json::to_string(&status).unwrap(), format!("\"{spelling}\""));
        }
    }

    #[test]
    fn orders_by_creation_time_then_name() {
        let mut snapshots = [
            snapshot("snapshot-c", 20),
            snapshot("snapshot-b", 10),
            snapshot("snapshot-a", 20),
        ];
        snapshots.sort_by(SnapshotState::cmp_by_creation);
        let names: Vec<_> = snapshots.iter().map(|s| s.backend_name.as_str()).collect();
        assert_eq!(names, ["snapshot-b", "snapshot-a", "snapshot-c"]);
    }
}
