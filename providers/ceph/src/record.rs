//! What blockform records with each volume it creates.
//!
//! Each image blockform creates carries its record in the image metadata key `blockform`
//! (`rbd image-meta get IMAGE blockform`): the ownership marker, name, description, bootable
//! flag, tags, metadata and volume type, as JSON. Its back-end QoS limits are the image's own
//! `rbd_qos_*` settings. A refresh reads both for every image of the pool at once from the
//! images' header objects (see [`crate::pool`]).

use std::collections::BTreeMap;

/// The image metadata key holding a volume's [`Record`].
pub const META_KEY: &str = "blockform";

/// What blockform records with a volume: the provider toolkit's ownership record, as compact
/// JSON in the image metadata.
pub use blockform_provider::toolkit::OWNER;
pub use blockform_provider::toolkit::OwnershipRecord as Record;

/// The record in an image's metadata, if it has one that reads.
pub fn of(meta: &BTreeMap<String, String>) -> Option<Record> {
    meta.get(META_KEY).and_then(|json| serde_json::from_str(json).ok())
}

#[cfg(test)]
mod tests {
    use blockform_provider::VolumeProperties;

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
        let back = of(&meta).unwrap();
        assert_eq!(back, record());
        assert!(back.is_owned());
    }

    #[test]
    fn metadata_without_a_readable_record_has_none() {
        assert_eq!(of(&BTreeMap::new()), None);
        let meta = BTreeMap::from([(META_KEY.to_owned(), "{not json".to_owned())]);
        assert_eq!(of(&meta), None);
        let someone =
            r#"{"managed_by":"someone","name":"x","description":null,"bootable":false,"tags":[],"metadata":{}}"#;
        let meta = BTreeMap::from([(META_KEY.to_owned(), someone.to_owned())]);
        assert!(!of(&meta).unwrap().is_owned());
    }
}
