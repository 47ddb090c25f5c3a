//! The properties blockform records with each volume, and the pool-wide index that lets one
//! refresh read them for every volume at once.
//!
//! Each image blockform creates carries its record in the image metadata key `blockform`
//! (`rbd image-meta get IMAGE blockform`): the ownership marker, name, description, bootable
//! flag, tags, metadata and volume type, as JSON. Its back-end QoS limits are the image's own
//! `rbd_qos_*` settings. Reading either takes one `rbd` process per image (about 50 ms of CPU),
//! far too slow for a thousand volumes, so every change blockform makes is also written to one
//! omap entry per image of the RADOS object `blockform.index` in the pool, together with the
//! QoS limits it set and the creation time of each snapshot. A refresh then reads the whole
//! pool with `rbd ls -l` (sizes, snapshots) plus one `rados listomapvals` (everything else),
//! and reads an image's own metadata only when the index has no entry for it (an image
//! imported into blockform, or one whose create was interrupted). The image metadata stays
//! the authority: an index entry can always be rebuilt from it.

use std::collections::HashMap;

use blockform_provider::{QosSpecs, VolumeProperties};
use serde::{Deserialize, Serialize};

/// The RADOS object holding the index, in the provider's pool.
pub const INDEX_OBJECT: &str = "blockform.index";

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
    /// The back-end QoS limits blockform set (index entries only; the image metadata holds
    /// them as `rbd_qos_*` settings).
    #[serde(default, skip_serializing_if = "QosSpecs::is_empty")]
    pub qos: QosSpecs,
}

impl Record {
    /// A record marking a volume as blockform's.
    pub fn owned(properties: VolumeProperties, volume_type: Option<String>) -> Self {
        Self {
            managed_by: OWNER.to_owned(),
            volume_type,
            properties,
            qos: QosSpecs::default(),
        }
    }

    /// Whether it carries the ownership marker.
    pub fn is_owned(&self) -> bool {
        self.managed_by == OWNER
    }

    /// The JSON stored in the image metadata (without QoS, which the image holds itself).
    pub fn meta_json(&self) -> String {
        let mut record = self.clone();
        record.qos = QosSpecs::default();
        record.to_json()
    }

    /// The JSON stored in the index: compact, so it never contains a newline.
    pub fn to_json(&self) -> String {
        // Serializing a struct of strings, bools and maps with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What the index holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    /// Records by image name.
    pub records: HashMap<String, Record>,
    /// Snapshot creation times by `(image, snapshot)`.
    pub snapshot_times: HashMap<(String, String), u64>,
}

/// The index key of a snapshot's creation time.
pub fn snapshot_key(image: &str, snapshot: &str) -> String {
    format!("{image}@{snapshot}")
}

/// Reads the index from what `rados listomapvals blockform.index` prints: for each key, the
/// key on a line, `value (N bytes) :`, then a hex dump of the value (`%08x`, up to 16 hex
/// bytes, then the bytes as text between `|`) ending with the offset after the last byte.
/// Entries that do not parse are left out, so a damaged entry only costs a per-image read.
pub fn parse_listing(stdout: &[u8]) -> Result<Index, String> {
    let text = String::from_utf8_lossy(stdout);
    let mut index = Index::default();
    let mut lines = text.lines().peekable();
    while let Some(key) = lines.next() {
        if key.trim().is_empty() {
            continue;
        }
        let header = lines
            .next()
            .ok_or_else(|| format!("`rados listomapvals` printed key `{key}` without a value"))?;
        let length: usize = header
            .strip_prefix("value (")
            .and_then(|rest| rest.strip_suffix(" bytes) :"))
            .and_then(|number| number.parse().ok())
            .ok_or_else(|| format!("`rados listomapvals` printed {header:?} where a value header belongs"))?;
        let mut value = Vec::with_capacity(length);
        while value.len() < length {
            let line = lines
                .next()
                .ok_or_else(|| format!("`rados listomapvals` cut the value of `{key}` short"))?;
            let wanted = (length - value.len()).min(16);
            for word in line.split_whitespace().skip(1).take(wanted) {
                let byte = u8::from_str_radix(word, 16)
                    .map_err(|_| format!("`rados listomapvals` printed {line:?} in the value of `{key}`"))?;
                value.push(byte);
            }
        }
        // The closing offset line.
        if lines
            .peek()
            .is_some_and(|line| line.len() == 8 && line.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            lines.next();
        }
        add_entry(&mut index, key, &value);
    }
    Ok(index)
}

fn add_entry(index: &mut Index, key: &str, value: &[u8]) {
    if let Some((image, snapshot)) = key.split_once('@') {
        if let Some(seconds) = std::str::from_utf8(value).ok().and_then(|text| text.parse().ok()) {
            index
                .snapshot_times
                .insert((image.to_owned(), snapshot.to_owned()), seconds);
        }
    } else if let Ok(record) = serde_json::from_slice::<Record>(value) {
        index.records.insert(key.to_owned(), record);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fmt::Write;

    use super::*;

    fn record() -> Record {
        let mut record = Record::owned(
            VolumeProperties {
                name: "db data".into(),
                description: Some("line one\nline two".into()),
                bootable: true,
                tags: vec!["db".into()],
                metadata: BTreeMap::from([("team".into(), "storage".into())]),
            },
            Some("ssd".into()),
        );
        record.qos = [("total_iops_sec", 2000)].into_iter().collect();
        record
    }

    /// What `rados listomapvals` prints for `value`, as `hexdump -C` lays it out.
    fn dump(key: &str, value: &[u8]) -> String {
        let mut text = format!("{key}\nvalue ({} bytes) :\n", value.len());
        for (row, chunk) in value.chunks(16).enumerate() {
            let mut hex = String::new();
            for (i, byte) in chunk.iter().enumerate() {
                if i == 8 {
                    hex.push(' ');
                }
                let _ = write!(hex, "{byte:02x} ");
            }
            let shown: String = chunk
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() || b == b' ' {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            let _ = writeln!(text, "{:08x}  {hex:<49} |{shown}|", row * 16);
        }
        let _ = write!(text, "{:08x}\n\n", value.len());
        text
    }

    #[test]
    fn records_are_compact_json_with_the_marker() {
        let json = record().to_json();
        assert!(!json.contains('\n'));
        assert!(json.starts_with(r#"{"managed_by":"blockform","volume_type":"ssd","name":"db data""#));
        assert!(json.contains(r#""qos":{"total_iops_sec":2000}"#));
        assert!(!record().meta_json().contains("qos"));
        let back: Record = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record());
        assert!(back.is_owned());
    }

    #[test]
    fn the_listing_reads_records_and_snapshot_times() {
        let json = record().to_json();
        let text = format!(
            "{}{}{}{}",
            dump("volume-1", json.as_bytes()),
            dump("volume-1@snapshot-1", b"1795766455"),
            dump("garbage", b"{not json"),
            dump(
                "volume-2",
                br#"{"managed_by":"someone","name":"x","description":null,"bootable":false,"tags":[],"metadata":{}}"#
            ),
        );
        let index = parse_listing(text.as_bytes()).unwrap();
        assert_eq!(index.records.len(), 2);
        assert_eq!(index.records["volume-1"], record());
        assert!(!index.records["volume-2"].is_owned());
        assert_eq!(
            index.snapshot_times[&("volume-1".to_owned(), "snapshot-1".to_owned())],
            1_795_766_455
        );
        assert_eq!(parse_listing(b"").unwrap(), Index::default());
    }

    #[test]
    fn the_listing_of_a_real_rados_run_parses() {
        // Copied from `rados -p rbd listomapvals blockform.index` on Ceph 16.2.15.
        let text = "k2\nvalue (21 bytes) :\n00000000  7b 22 61 22 3a 22 6d 75  6c 74 69 0a 6c 69 6e 65  |{\"a\":\"multi.line|\n00000010  20 c3 a9 22 7d                                    | ..\"}|\n00000015\n\nvolume-a@s\nvalue (3 bytes) :\n00000000  31 32 33                                          |123|\n00000003\n\n";
        let index = parse_listing(text.as_bytes()).unwrap();
        assert!(index.records.is_empty());
        assert_eq!(index.snapshot_times[&("volume-a".to_owned(), "s".to_owned())], 123);
    }

    #[test]
    fn a_truncated_listing_is_an_error() {
        let error = parse_listing(b"volume-1\nvalue (40 bytes) :\n00000000  7b 22\n").unwrap_err();
        assert_eq!(error, "`rados listomapvals` cut the value of `volume-1` short");
        let error = parse_listing(b"volume-1\nsomething else\n").unwrap_err();
        assert_eq!(
            error,
            "`rados listomapvals` printed \"something else\" where a value header belongs"
        );
    }
}
