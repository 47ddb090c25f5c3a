//! Changed extents for incremental backups: which byte ranges of a volume may differ from a
//! marker (a snapshot or a dirty bitmap), and how the back end knows.
//!
//! Without a marker the extents are the ranges that may differ from an all-zero volume (the
//! allocated ranges), so a full backup of a sparse volume also reads only what is there.
//! A back end that tracks nothing answers with the whole volume and `ChangeSource::UNKNOWN`:
//! the backup then reads and hashes every block, and stores only the blocks whose hash changed.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A byte range of a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Extent {
    /// The first byte.
    pub offset: u64,
    /// The number of bytes.
    pub length: u64,
}

impl Extent {
    /// The byte just past the range.
    pub fn end(self) -> u64 {
        self.offset.saturating_add(self.length)
    }
}

/// How a back end knows which ranges changed: a label the provider chooses (the local
/// provider's `dirty_bitmap`, Ceph's `rbd_diff`), carried as it is into backup manifests.
/// Only [`ChangeSource::UNKNOWN`] means something to the engine: no tracking, every block must
/// be read and hashed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangeSource(Cow<'static, str>);

impl ChangeSource {
    /// No tracking: every block must be read and hashed.
    pub const UNKNOWN: Self = Self::new("unknown");

    /// A provider's change source, as a constant of its crate.
    pub const fn new(label: &'static str) -> Self {
        Self(Cow::Borrowed(label))
    }

    /// The label, as manifests and JSON spell it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for ChangeSource {
    fn from(label: String) -> Self {
        Self(Cow::Owned(label))
    }
}

impl fmt::Display for ChangeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The prefix of every change marker's name: a provider whose markers are snapshots leaves
/// them out of the snapshots it reports, as they are blockform's own and not the volume's.
pub const CHANGE_MARKER_PREFIX: &str = "blockform-";

/// Whether a snapshot name is that of a change marker.
pub fn is_change_marker(snapshot_backend_name: &str) -> bool {
    snapshot_backend_name.starts_with(CHANGE_MARKER_PREFIX)
}

/// The point changes are counted from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChangeMarker {
    /// A snapshot of the volume (RBD, LVM thin).
    Snapshot {
        /// The snapshot's backend name.
        backend_name: String,
    },
    /// A persistent dirty bitmap in a qcow2 file.
    DirtyBitmap {
        /// The bitmap's name.
        name: String,
    },
}

/// The ranges of a volume that may have changed since a marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedExtents {
    /// How the ranges were found.
    pub source: ChangeSource,
    /// The size of the volume (or snapshot) the ranges belong to.
    pub volume_size_bytes: u64,
    /// The ranges, sorted, not overlapping and within the volume once normalized.
    pub extents: Vec<Extent>,
}

impl ChangedExtents {
    /// The answer of a back end that tracks nothing: the whole volume, to be hashed.
    pub fn whole_volume(volume_size_bytes: u64) -> Self {
        let extents = if volume_size_bytes == 0 {
            Vec::new()
        } else {
            vec![Extent {
                offset: 0,
                length: volume_size_bytes,
            }]
        };
        Self {
            source: ChangeSource::UNKNOWN,
            volume_size_bytes,
            extents,
        }
    }

    /// Whether every block must be read and compared by hash.
    pub fn must_hash_everything(&self) -> bool {
        self.source == ChangeSource::UNKNOWN
    }

    /// The number of bytes the extents cover (after normalizing, no byte is counted twice).
    pub fn changed_bytes(&self) -> u64 {
        self.extents
            .iter()
            .fold(0, |sum, extent| sum.saturating_add(extent.length))
    }

    /// Sorts the extents, merges overlapping and adjacent ones, and clips them to the volume.
    pub fn normalize(&mut self) {
        let size = self.volume_size_bytes;
        let mut clipped: Vec<Extent> = self
            .extents
            .iter()
            .filter(|extent| extent.offset < size)
            .map(|extent| Extent {
                offset: extent.offset,
                length: extent.end().min(size) - extent.offset,
            })
            .filter(|extent| extent.length > 0)
            .collect();
        clipped.sort_unstable();
        let mut merged: Vec<Extent> = Vec::with_capacity(clipped.len());
        for extent in clipped {
            match merged.last_mut() {
                Some(last) if extent.offset <= last.end() => {
                    last.length = last.end().max(extent.end()) - last.offset;
                }
                _ => merged.push(extent),
            }
        }
        self.extents = merged;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn extent(offset: u64, length: u64) -> Extent {
        Extent { offset, length }
    }

    #[test]
    fn round_trips_through_json() {
        let changed = ChangedExtents {
            source: ChangeSource::new("rbd_diff"),
            volume_size_bytes: 1 << 30,
            extents: vec![extent(0, 4096), extent(1 << 20, 65536)],
        };
        let json = serde_json::to_value(&changed).unwrap();
        assert_eq!(
            json,
            json!({
                "source": "rbd_diff",
                "volume_size_bytes": 1_073_741_824_u64,
                "extents": [
                    {"offset": 0, "length": 4096},
                    {"offset": 1_048_576, "length": 65536}
                ]
            })
        );
        assert_eq!(serde_json::from_value::<ChangedExtents>(json).unwrap(), changed);
    }

    #[test]
    fn markers_round_trip_through_json() {
        for marker in [
            ChangeMarker::Snapshot {
                backend_name: "backup-1".into(),
            },
            ChangeMarker::DirtyBitmap {
                name: "blockform-backup-1".into(),
            },
        ] {
            let json = serde_json::to_string(&marker).unwrap();
            assert_eq!(serde_json::from_str::<ChangeMarker>(&json).unwrap(), marker);
        }
        assert_eq!(
            serde_json::to_value(ChangeMarker::DirtyBitmap { name: "b".into() }).unwrap(),
            json!({"type": "dirty_bitmap", "name": "b"})
        );
    }

    #[test]
    fn whole_volume_means_hash_everything() {
        let changed = ChangedExtents::whole_volume(10 << 30);
        assert!(changed.must_hash_everything());
        assert_eq!(changed.extents, [extent(0, 10 << 30)]);
        assert_eq!(changed.changed_bytes(), 10 << 30);
        assert_eq!(ChangedExtents::whole_volume(0).extents, []);
    }

    #[test]
    fn normalize_sorts_merges_and_clips() {
        let mut changed = ChangedExtents {
            source: ChangeSource::new("dirty_bitmap"),
            volume_size_bytes: 1000,
            extents: vec![
                extent(500, 100),
                extent(0, 10),
                extent(5, 10),    // overlaps the first
                extent(15, 5),    // adjacent to the merged one
                extent(550, 10),  // inside another
                extent(300, 0),   // empty
                extent(990, 100), // crosses the end
                extent(1000, 50), // past the end
                extent(u64::MAX - 1, 10),
            ],
        };
        assert!(!changed.must_hash_everything());
        changed.normalize();
        assert_eq!(changed.extents, [extent(0, 20), extent(500, 100), extent(990, 10)]);
        assert_eq!(changed.changed_bytes(), 130);
    }
}
