//! Reading a whole pool in one process: every image's size, snapshots and metadata.
//!
//! `rbd ls -l` opens each image (about 2.5 ms of CPU apiece), so listing a thousand volumes
//! took over two seconds. RBD keeps all a refresh needs in two kinds of RADOS objects: the
//! pool's `rbd_directory` (image names to ids) and each image's `rbd_header.ID`, whose omap
//! holds `size`, one `snapshot_<id>` entry per snapshot and one `metadata_<key>` entry per
//! image metadata key (`rbd config image set` settings are the `conf_*` keys among them).
//! [`READER`] reads them with librados through the Python binding the `ceph` command is
//! written with, many headers in flight at once, and prints the raw entries; this module
//! decodes them. A thousand volumes take one process and a fifth of a second.
//!
//! The encodings are Ceph's (`src/include/encoding.h`): little-endian integers, strings as a
//! u32 length and the bytes, and versioned structures framed by `ENCODE_START` (u8 version,
//! u8 oldest compatible version, u32 length of what follows).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

/// The Python program that reads the pool (see the module documentation).
pub const READER: &str = concat!(include_str!("rados_connect.py"), include_str!("pool_reader.py"));

/// One image of a pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedImage {
    /// The image size in bytes.
    pub size_bytes: u64,
    /// Its user snapshots, oldest first.
    pub snapshots: Vec<ListedSnapshot>,
    /// Its image metadata: the `blockform` record, `conf_*` settings and anything else.
    pub meta: BTreeMap<String, String>,
}

/// One snapshot of a pool listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSnapshot {
    /// The snapshot name.
    pub name: String,
    /// Its id, which grows with every snapshot of the image.
    pub id: u64,
    /// The image size when it was taken.
    pub size_bytes: u64,
    /// When it was taken, in seconds since the epoch (0 for snapshots older than the field).
    pub created_at_unix_secs: u64,
}

#[derive(Deserialize)]
struct Line {
    image: String,
    omap: BTreeMap<String, String>,
}

const SIZE_KEY: &str = "size";
const SNAPSHOT_PREFIX: &str = "snapshot_";
const METADATA_PREFIX: &str = "metadata_";

/// `cls::rbd::SnapshotNamespaceType::USER`: snapshots people take. Group, trash and mirror
/// snapshots are RBD's own and are left out, as `rbd snap ls` leaves them out.
const USER_NAMESPACE: u32 = 0;

/// Parses what [`READER`] prints: one JSON object per line and image.
pub fn parse(stdout: &[u8]) -> Result<HashMap<String, ListedImage>, String> {
    let text =
        std::str::from_utf8(stdout).map_err(|_| "the pool reader printed something other than UTF-8".to_owned())?;
    let mut images = HashMap::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let line: Line = serde_json::from_str(line).map_err(|error| {
            let shown: String = line.chars().take(80).collect();
            format!("the pool reader printed {shown:?}, not an image: {error}")
        })?;
        let image = decode_header(&line.omap).map_err(|reason| format!("image `{}`: {reason}", line.image))?;
        if let Some(image) = image {
            images.insert(line.image, image);
        }
    }
    Ok(images)
}

/// Decodes the wanted entries of one header object, each value in hex; `None` for a header
/// without a size, which no image can be opened from (an image half removed, say).
fn decode_header(omap: &BTreeMap<String, String>) -> Result<Option<ListedImage>, String> {
    let mut image = ListedImage::default();
    let mut has_size = false;
    for (key, hex) in omap {
        let bytes = from_hex(hex).ok_or_else(|| format!("the value of `{key}` is not hex"))?;
        if key == SIZE_KEY {
            image.size_bytes = Decoder::new(&bytes)
                .u64()
                .map_err(|reason| format!("`size`: {reason}"))?;
            has_size = true;
        } else if let Some(meta_key) = key.strip_prefix(METADATA_PREFIX) {
            image
                .meta
                .insert(meta_key.to_owned(), String::from_utf8_lossy(&bytes).into_owned());
        } else if key.starts_with(SNAPSHOT_PREFIX)
            && let Some(snapshot) = decode_snapshot(&bytes).map_err(|reason| format!("`{key}`: {reason}"))?
        {
            image.snapshots.push(snapshot);
        }
    }
    image.snapshots.sort_by_key(|snapshot| snapshot.id);
    Ok(has_size.then_some(image))
}

/// Decodes a `cls_rbd_snap`; `None` for a snapshot outside the user namespace.
///
/// Version 8 (Nautilus and later, oldest compatible 8) dropped two legacy fields that older
/// encodings carry after the size: the image features (u64) and the parent (a framed
/// structure). The fields after them came one version at a time: protection status (3),
/// flags (4), namespace (5), timestamp (6).
fn decode_snapshot(bytes: &[u8]) -> Result<Option<ListedSnapshot>, String> {
    let mut outer = Decoder::new(bytes);
    let (version, compat, mut decoder) = outer.framed()?;
    let id = decoder.u64()?;
    let name = decoder.string()?;
    let size_bytes = decoder.u64()?;
    if compat < 8 {
        decoder.u64()?;
        if version >= 2 {
            decoder.framed()?;
        }
    }
    if version >= 3 {
        // The protection status: the provider reads it with `rbd snap ls` where it matters.
        decoder.u8()?;
    }
    if version >= 4 {
        decoder.u64()?;
    }
    let namespace = if version >= 5 {
        let (_, _, mut namespace) = decoder.framed()?;
        namespace.u32()?
    } else {
        USER_NAMESPACE
    };
    let created_at_unix_secs = if version >= 6 { u64::from(decoder.u32()?) } else { 0 };
    Ok((namespace == USER_NAMESPACE).then_some(ListedSnapshot {
        name,
        id,
        size_bytes,
        created_at_unix_secs,
    }))
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|at| hex.get(at..at + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect()
}

/// Reads Ceph's encoding from the front of a byte slice.
struct Decoder<'a> {
    bytes: &'a [u8],
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < count {
            return Err(format!(
                "cut short: {count} more bytes expected, {} left",
                self.bytes.len()
            ));
        }
        let (taken, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn string(&mut self) -> Result<String, String> {
        let length = usize::try_from(self.u32()?).map_err(|_| "a string longer than memory".to_owned())?;
        Ok(String::from_utf8_lossy(self.take(length)?).into_owned())
    }

    /// A structure framed by `ENCODE_START`: its version, oldest compatible version, and a
    /// decoder over its body; the body is skipped in this decoder whatever is read of it.
    fn framed(&mut self) -> Result<(u8, u8, Decoder<'a>), String> {
        let version = self.u8()?;
        let compat = self.u8()?;
        let length = usize::try_from(self.u32()?).map_err(|_| "a structure longer than memory".to_owned())?;
        Ok((version, compat, Decoder::new(self.take(length)?)))
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use super::*;

    /// A header read from a Ceph 16.2.15 cluster after `rbd create --size 1G`, `image-meta set
    /// IMAGE blockform {"x":1}`, `config image set IMAGE rbd_qos_iops_limit 100`, `snap create
    /// @s1`, `snap protect @s1`, `resize --size 2G`, `snap create @s2`.
    const REAL: &str = r#"{"image":"proto1","omap":{"metadata_blockform":"7b2278223a317d","metadata_conf_rbd_qos_iops_limit":"313030","size":"0000008000000000","snapshot_0000000000000005":"0808360000000500000000000000020000007332000000800000000000000000000000000001010400000000000000e45a096b70fe1f350000000000","snapshot_0000000000000004":"0808360000000400000000000000020000007331000000400000000002000000000000000001010400000000000000e35a096b38b737350000000000"}}"#;

    #[test]
    fn a_real_header_gives_size_snapshots_and_metadata() {
        let images = parse(format!("{REAL}\n\n").as_bytes()).unwrap();
        let image = &images["proto1"];
        assert_eq!(image.size_bytes, 2 << 30);
        assert_eq!(
            image.snapshots,
            [
                ListedSnapshot {
                    name: "s1".to_owned(),
                    id: 4,
                    size_bytes: 1 << 30,
                    created_at_unix_secs: 0x6b09_5ae3,
                },
                ListedSnapshot {
                    name: "s2".to_owned(),
                    id: 5,
                    size_bytes: 2 << 30,
                    created_at_unix_secs: 0x6b09_5ae4,
                },
            ]
        );
        assert_eq!(image.meta["blockform"], r#"{"x":1}"#);
        assert_eq!(image.meta["conf_rbd_qos_iops_limit"], "100");
        assert!(parse(b"").unwrap().is_empty());
    }

    /// Encodes a snapshot the way releases before Nautilus did (version 6, compatible with 1).
    fn legacy_snapshot(namespace: u32) -> String {
        let mut body = Vec::new();
        body.extend(7_u64.to_le_bytes());
        body.extend(3_u32.to_le_bytes());
        body.extend(b"old");
        body.extend((5_u64 << 30).to_le_bytes());
        body.extend(1_u64.to_le_bytes()); // features
        let parent = [1_u8, 1, 4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        body.extend(parent);
        body.push(0); // unprotected
        body.extend(0_u64.to_le_bytes()); // flags
        body.extend([1_u8, 1, 4, 0, 0, 0]);
        body.extend(namespace.to_le_bytes());
        body.extend(1_600_000_000_u32.to_le_bytes());
        body.extend(0_u32.to_le_bytes());
        let mut bytes = vec![6_u8, 1];
        bytes.extend(u32::try_from(body.len()).unwrap().to_le_bytes());
        bytes.extend(body);
        bytes.iter().fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
    }

    #[test]
    fn older_snapshot_encodings_and_other_namespaces_are_read() {
        let line = format!(
            r#"{{"image":"old","omap":{{"size":"0000404001000000","snapshot_7":"{}","snapshot_8":"{}"}}}}"#,
            legacy_snapshot(USER_NAMESPACE),
            legacy_snapshot(2)
        );
        let images = parse(line.as_bytes()).unwrap();
        let image = &images["old"];
        assert_eq!(image.size_bytes, 0x0001_4040_0000);
        assert_eq!(image.snapshots.len(), 1, "the trash snapshot is left out");
        assert_eq!(image.snapshots[0].name, "old");
        assert_eq!(image.snapshots[0].size_bytes, 5 << 30);
        assert_eq!(image.snapshots[0].created_at_unix_secs, 1_600_000_000);
    }

    #[test]
    fn damaged_output_is_an_error_naming_the_image_and_key() {
        assert_eq!(
            parse(br#"{"image":"a","omap":{"size":"0000"}}"#).unwrap_err(),
            "image `a`: `size`: cut short: 8 more bytes expected, 2 left"
        );
        assert_eq!(
            parse(br#"{"image":"a","omap":{"size":"zz00000000000000"}}"#).unwrap_err(),
            "image `a`: the value of `size` is not hex"
        );
        assert_eq!(
            parse(br#"{"image":"a","omap":{"size":"0000000000000000","snapshot_1":"0808ff000000"}}"#).unwrap_err(),
            "image `a`: `snapshot_1`: cut short: 255 more bytes expected, 0 left"
        );
        assert!(parse(br#"{"image":"a","omap":{}}"#).unwrap().is_empty());
        assert!(
            parse(b"Traceback (most recent call last):")
                .unwrap_err()
                .starts_with("the pool reader printed \"Traceback (most recent call last):\", not an image")
        );
    }
}
