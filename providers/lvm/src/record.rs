//! blockform's record of a volume, kept in the LV's tags: LVM tags hold only
//! `[A-Za-z0-9_+.:/=!&#-]`, so the [`OwnershipRecord`] (ownership marker, volume type, name,
//! description, bootable flag, tags, metadata) is written as hex in numbered tags
//! `bf.rN:HEX`, and a snapshot blockform took carries [`SNAPSHOT_TAG`]. Descriptions and names
//! with any characters thus never reach a command line as text. The volume's own tags that are
//! valid LVM tags are also set as plain LV tags, so `lvs @TAG` finds them and `lvchange
//! --addtag`/`--deltag` made outside blockform shows up as drift.

use blockform_provider::OwnershipRecord;

/// The prefix of the tags that hold the record.
pub const RECORD_PREFIX: &str = "bf.r";

/// The tag of snapshots blockform took.
pub const SNAPSHOT_TAG: &str = "bf.snapshot";

/// The tag of an LV being built (a create that has not finished).
pub const PARTIAL_TAG: &str = "bf.partial";

/// The digits of hex.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Hex characters per record tag (LVM allows 1024 characters per tag).
const CHUNK: usize = 960;

/// The tags that hold `record`.
pub fn record_tags(record: &OwnershipRecord) -> Vec<String> {
    let hex: String = record
        .to_json()
        .bytes()
        .flat_map(|byte| [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]])
        .map(char::from)
        .collect();
    hex.as_bytes()
        .chunks(CHUNK)
        .enumerate()
        .map(|(index, chunk)| format!("{RECORD_PREFIX}{index:02}:{}", String::from_utf8_lossy(chunk)))
        .collect()
}

/// Whether a tag is one of blockform's own (record, snapshot or partial marker).
pub fn is_internal(tag: &str) -> bool {
    tag.starts_with("bf.")
}

/// Whether `tag` can be an LVM tag.
pub fn is_lvm_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 1024
        && !tag.starts_with('-')
        && tag.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '.' | '-' | '/' | '=' | '!' | ':' | '&' | '#')
        })
}

/// The record held by an LV's tags, if it has one that reads.
pub fn of(tags: &[String]) -> Option<OwnershipRecord> {
    let mut chunks: Vec<(u32, &str)> = tags
        .iter()
        .filter_map(|tag| {
            let rest = tag.strip_prefix(RECORD_PREFIX)?;
            let (index, hex) = rest.split_once(':')?;
            Some((index.parse().ok()?, hex))
        })
        .collect();
    if chunks.is_empty() {
        return None;
    }
    chunks.sort_by_key(|(index, _)| *index);
    let hex: String = chunks.into_iter().map(|(_, hex)| hex).collect();
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok())
        .collect();
    serde_json::from_slice(&bytes?).ok()
}

/// The volume's tags as blockform shows them: the record's, in its order, as far as the LV
/// still carries the valid ones, then plain tags added outside blockform, as LVM sorts them.
pub fn volume_tags(record: Option<&OwnershipRecord>, lv_tags: &[String]) -> Vec<String> {
    let recorded: &[String] = record.map_or(&[], |record| &record.properties.tags);
    let mut tags: Vec<String> = recorded
        .iter()
        .filter(|tag| !is_lvm_tag(tag) || lv_tags.contains(tag))
        .cloned()
        .collect();
    tags.extend(
        lv_tags
            .iter()
            .filter(|tag| !is_internal(tag) && !recorded.contains(tag))
            .cloned(),
    );
    tags
}

/// Every tag an LV carrying `record` has: the record's and the plain ones.
pub fn all_tags(record: &OwnershipRecord) -> Vec<String> {
    let mut tags = record_tags(record);
    for tag in &record.properties.tags {
        if is_lvm_tag(tag) && !is_internal(tag) && !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use blockform_provider::VolumeProperties;

    use super::*;

    fn record(description: &str) -> OwnershipRecord {
        OwnershipRecord::owned(
            VolumeProperties {
                name: "db; rm -rf /".into(),
                description: Some(description.into()),
                bootable: true,
                tags: vec!["prod".into(), "two words".into()],
                metadata: BTreeMap::from([("team".into(), "$(id)".into())]),
            },
            Some("ssd".into()),
        )
    }

    #[test]
    fn records_round_trip_through_tags_that_lvm_accepts() {
        let long = "x'\"`$\n".repeat(200);
        for record in [record("short"), record(&long)] {
            let tags = all_tags(&record);
            assert!(tags.iter().all(|tag| is_lvm_tag(tag)), "{tags:?}");
            let mut sorted = tags.clone();
            sorted.sort();
            assert_eq!(of(&sorted), Some(record.clone()));
            assert_eq!(volume_tags(Some(&record), &sorted), ["prod", "two words"]);
        }
        assert!(record_tags(&record(&long)).len() > 1);
        assert_eq!(of(&["prod".to_owned()]), None);
    }

    #[test]
    fn tags_changed_outside_blockform_show() {
        let record = record("d");
        let mut lv_tags: Vec<String> = record_tags(&record);
        lv_tags.push("extra".into());
        assert_eq!(volume_tags(Some(&record), &lv_tags), ["two words", "extra"]);
        assert!(!is_lvm_tag("a b") && !is_lvm_tag("-x") && is_lvm_tag("k=v"));
    }
}
