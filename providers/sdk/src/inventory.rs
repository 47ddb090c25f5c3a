//! Everything a back end holds in blockform's pool, volume group or directory, owned or not,
//! so drift can report objects nobody manages.

use serde::{Deserialize, Serialize};

use crate::object::ObjectKind;

/// One object found by `inventory()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryItem {
    /// Its name on the back end.
    pub backend_name: String,
    /// What it is.
    pub kind: ObjectKind,
    /// For a snapshot, the volume it belongs to.
    pub volume_backend_name: Option<String>,
    /// Its size (a volume's virtual size, a snapshot's volume size at the time).
    pub size_bytes: u64,
    /// Whether it carries blockform's ownership marker (name prefix, tag or image metadata).
    pub owned: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        let item = InventoryItem {
            backend_name: "snapshot-1".into(),
            kind: ObjectKind::Snapshot,
            volume_backend_name: Some("volume-1".into()),
            size_bytes: 1 << 30,
            owned: true,
        };
        let json = serde_json::to_string(&item).unwrap();
        assert_eq!(
            json,
            r#"{"backend_name":"snapshot-1","kind":"snapshot","volume_backend_name":"volume-1","size_bytes":1073741824,"owned":true}"#
        );
        assert_eq!(serde_json::from_str::<InventoryItem>(&json).unwrap(), item);
    }
}
