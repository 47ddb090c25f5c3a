//! The manifest of one backup: which volume, which parent, and the hash of every block that
//! is not all zeros. A backup exists exactly when its manifest file does.

use serde::{Deserialize, Serialize};

use blockform_provider::ChangeMarker;

/// Full or incremental.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupMode {
    /// Every block read from the volume.
    Full,
    /// Only what changed since the parent read from the volume.
    Incremental,
}

impl BackupMode {
    /// `full` or `incremental`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupMode::Full => "full",
            BackupMode::Incremental => "incremental",
        }
    }
}

/// A block of the volume: where it is and which stored block holds its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRef {
    /// The first byte of the block in the volume.
    pub offset: u64,
    /// The BLAKE3 hash of the block's bytes, in hex in the file.
    #[serde(with = "hex_hash")]
    pub hash: [u8; 32],
}

/// One backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The manifest format.
    pub format: u32,
    /// The backup's id (its file name).
    pub id: String,
    /// The volume's address in the configuration, when known (`volume.db`).
    pub volume_address: String,
    /// The volume's back-end id.
    pub volume_backend_id: String,
    /// Full or incremental.
    pub mode: BackupMode,
    /// The backup this one builds on (incrementals only).
    pub parent: Option<String>,
    /// The size of the volume, in bytes.
    pub size_bytes: u64,
    /// The size of a block, in bytes.
    pub block_size: u32,
    /// When the backup was taken, in seconds since the Unix epoch.
    pub created_at: u64,
    /// The backup's place in its store's history: one more than any backup before it, so
    /// backups taken within the same second keep their order.
    #[serde(default)]
    pub sequence: u64,
    /// The policy that took it, if any.
    #[serde(default)]
    pub policy: Option<String>,
    /// What the next incremental counts changes from, if the back end tracks changes.
    #[serde(default)]
    pub change_marker: Option<ChangeMarker>,
    /// How the changed blocks were found (`dirty_bitmap`, `hashed`, `allocation`).
    pub change_source: String,
    /// Bytes read from the volume.
    pub read_bytes: u64,
    /// Bytes this backup added to the store (after compression and sharing).
    pub stored_bytes: u64,
    /// Every block that is not all zeros, by increasing offset.
    pub blocks: Vec<BlockRef>,
}

/// The manifest format written by this build.
pub const MANIFEST_FORMAT: u32 = 1;

impl Manifest {
    /// The number of bytes the backup's data covers (its non-zero blocks).
    pub fn data_bytes(&self) -> u64 {
        self.blocks
            .iter()
            .map(|block| u64::from(self.block_size).min(self.size_bytes.saturating_sub(block.offset)))
            .sum()
    }
}

/// Hex text for hashes in manifests.
pub(super) mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(hash: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&to_hex(hash))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = <&str>::deserialize(deserializer)?;
        from_hex(text).ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a 64-digit hex hash")))
    }

    /// Lowercase hex.
    pub fn to_hex(hash: &[u8; 32]) -> String {
        use std::fmt::Write;
        hash.iter().fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<[u8; 32]> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut hash = [0_u8; 32];
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
        }
        Some(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_through_hex() {
        let hash: [u8; 32] = std::array::from_fn(|i| u8::try_from(i * 7).unwrap());
        let text = hex_hash::to_hex(&hash);
        assert_eq!(text.len(), 64);
        assert_eq!(hex_hash::from_hex(&text), Some(hash));
        assert_eq!(hex_hash::from_hex("zz"), None);
        assert_eq!(hex_hash::from_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn data_bytes_counts_a_short_last_block() {
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            id: "backup-1".into(),
            volume_address: "volume.db".into(),
            volume_backend_id: "volume-1".into(),
            mode: BackupMode::Full,
            parent: None,
            size_bytes: 100_000,
            block_size: 65536,
            created_at: 0,
            sequence: 1,
            policy: None,
            change_marker: None,
            change_source: "allocation".into(),
            read_bytes: 0,
            stored_bytes: 0,
            blocks: vec![
                BlockRef {
                    offset: 0,
                    hash: [1; 32],
                },
                BlockRef {
                    offset: 65536,
                    hash: [2; 32],
                },
            ],
        };
        assert_eq!(manifest.data_bytes(), 100_000);
        let json = serde_json::to_string(&manifest).unwrap();
        assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), manifest);
    }
}
