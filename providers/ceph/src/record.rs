//! What blockform records with each volume it creates.
//!
//! Each image blockform creates carries its record in the image metadata key `blockform`
//! (`rbd image-meta get IMAGE blockform`): the ownership marker, name, description, bootable
//! flag, tags, metadata and volume type, as JSON. Its back-end QoS limits are the image's own
//! `rbd_qos_*` settings. A refresh reads both for every image of the pool at once from the
//! images' header objects (see [`crate::pool`]).

use std::collections::BTreeMap;

use blockform_provider::VolumeProperties;
use serde::{Deserialize, Serialize};

/// The image metadata key holding a volume's [`Record`].
pub const META_KEY: &str = "blockform";

/// The ownership marker's value.
pub const OWNER: &str = "blockform";

/// What blockform records with a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The ownership marker; [`OWNER`] for volumes blockform manages.
    pub managed_by: String,
    /// The name of the volume type it was created with.
    #[serde(default)]
    pub volume_type: Option<String>,
    /// Name, description, bootable flag, tags and metadata.
    #[serde(flatten)]
    pub properties: VolumeProperties,
}

impl Record {
    /// A record marking a volume as blockform's.
    pub fn owned(properties: VolumeProperties, volume_type: Option<String>) -> Self {
        Self {
            managed_by: OWNER.to_owned(),
            volume_type,
            properties,
        }
    }

    /// The record in an image's metadata, if it has one that reads.
    pub fn of(meta: &BTreeMap<String, String>) -> Option<Self> {
        meta.get(META_KEY).and_then(|json| serde_json::from_str(json).ok())
    }

    /// Whether it carries the ownership marker.
    pub fn is_owned(&self) -> bool {
        self.managed_by == OWNER
    }

    /// The JSON stored in the image metadata: compact, on one line.
    pub fn to_json(&self) -> String {
        // Serializing a struct of strings, bools and maps with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record::owned(
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
    fn records_are_compact_json_with_the_marker() {
        let json = record().to_json();
        assert!(!json.contains('\n'));
        assert!(json.starts_with(r#"{"managed_by":"blockform","volume_type":"ssd","name":"db data""#));
        let meta = BTreeMap::from([(META_KEY.to_owned(), json)]);
        let back = Record::of(&meta).unwrap();
        assert_eq!(back, record());
        assert!(back.is_owned());
    }

    #[test]
    fn metadata_without_a_readable_record_has_none() {
        assert_eq!(Record::of(&BTreeMap::new()), None);
        let meta = BTreeMap::from([(META_KEY.to_owned(), "{not json".to_owned())]);
        assert_eq!(Record::of(&meta), None);
        let someone =
            r#"{"managed_by":"someone","name":"x","description":null,"bootable":false,"tags":[],"metadata":{}}"#;
        let meta = BTreeMap::from([(META_KEY.to_owned(), someone.to_owned())]);
        assert!(!Record::of(&meta).unwrap().is_owned());
    }
}
