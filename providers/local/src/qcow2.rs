//! The parts of the qcow2 format that refresh needs, parsed from bytes: the header, the
//! snapshot table and the bitmap directory (QEMU's `docs/interop/qcow2.txt`).
//!
//! Refresh must not start a process per volume, so the provider reads these structures itself;
//! everything that changes an image still goes through `qemu-img`. The functions here are pure
//! (bytes in, values out) and report how many bytes they needed when a buffer was too short, so
//! the caller can read more and try again.

use std::ops::Range;

/// The first four bytes of every qcow2 file.
pub const MAGIC: [u8; 4] = *b"QFI\xfb";

/// The length of a version 2 header, and the bytes every header starts with.
pub const HEADER_V2_BYTES: usize = 72;

/// The shortest version 3 header.
const HEADER_V3_MIN_BYTES: usize = 104;

/// QEMU refuses images with more snapshots than this.
pub const MAX_SNAPSHOTS: u32 = 65536;

/// QEMU refuses snapshot tables larger than this.
pub const MAX_SNAPSHOT_TABLE_BYTES: u64 = 64 << 20;

/// QEMU refuses snapshot entries with more extra data than this.
const MAX_SNAPSHOT_EXTRA_DATA_BYTES: u32 = 1024;

/// QEMU refuses images with more bitmaps than this.
pub const MAX_BITMAPS: u32 = 65535;

/// QEMU refuses bitmap directories larger than this.
pub const MAX_BITMAP_DIRECTORY_BYTES: u64 = 64 << 20;

/// The fixed part of a snapshot table entry.
const SNAPSHOT_ENTRY_FIXED_BYTES: usize = 40;

/// The fixed part of a bitmap directory entry.
const BITMAP_ENTRY_FIXED_BYTES: usize = 24;

/// Incompatible feature bit 1: the image is marked corrupt.
const INCOMPATIBLE_CORRUPT: u64 = 1 << 1;

/// Autoclear feature bit 0: the bitmaps extension is consistent.
const AUTOCLEAR_BITMAPS: u64 = 1 << 0;

/// Header extension type of the bitmaps extension.
const EXTENSION_BITMAPS: u32 = 0x2385_2875;

/// Bitmap directory entry flag 0: the bitmap was not saved correctly.
const BITMAP_IN_USE: u32 = 1 << 0;

/// Bitmap directory entry flag 1: the bitmap records writes (it is enabled).
const BITMAP_AUTO: u32 = 1 << 1;

/// Why bytes could not be read as a qcow2 structure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Qcow2Error {
    /// The file does not start with the qcow2 magic.
    #[error("not a qcow2 image: it starts with {found:02x?} instead of `QFI\\xfb`")]
    NotQcow2 {
        /// The first bytes found.
        found: Vec<u8>,
    },
    /// The header names a version this parser does not know.
    #[error("qcow2 version {version} is not supported (only 2 and 3 are)")]
    UnsupportedVersion {
        /// The version in the header.
        version: u32,
    },
    /// The buffer ends before the structure does.
    #[error("the {what} needs {needed} bytes but only {available} were read")]
    Truncated {
        /// Which structure was being parsed.
        what: &'static str,
        /// How many bytes the structure needs, from the start of the buffer.
        needed: usize,
        /// How many bytes the buffer had.
        available: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// Which field or structure.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// The fixed fields of a qcow2 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// 2 or 3.
    pub version: u32,
    /// Where the backing file name is stored, 0 without a backing file.
    pub backing_file_offset: u64,
    /// log2 of the cluster size.
    pub cluster_bits: u32,
    /// The virtual disk size in bytes.
    pub size_bytes: u64,
    /// 0 without encryption.
    pub crypt_method: u32,
    /// The number of internal snapshots.
    pub nb_snapshots: u32,
    /// Where the snapshot table starts.
    pub snapshots_offset: u64,
    /// Features an implementation must understand to open the image (0 for version 2).
    pub incompatible_features: u64,
    /// Features an implementation may ignore (0 for version 2).
    pub compatible_features: u64,
    /// Features whose data must be dropped by writers that do not know them (0 for version 2).
    pub autoclear_features: u64,
    /// The length of the header, where header extensions start.
    pub header_length: u32,
}

impl Header {
    /// Parses a header from the start of an image file.
    pub fn parse(bytes: &[u8]) -> Result<Self, Qcow2Error> {
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
            return Err(Qcow2Error::NotQcow2 {
                found: bytes[..bytes.len().min(MAGIC.len())].to_vec(),
            });
        }
        let fields = Fields::new(bytes, "qcow2 header");
        let version = fields.u32(4)?;
        if !(2..=3).contains(&version) {
            return Err(Qcow2Error::UnsupportedVersion { version });
        }
        let cluster_bits = fields.u32(20)?;
        // 512 bytes to 2 MiB: the range the format and QEMU allow.
        if !(9..=21).contains(&cluster_bits) {
            return Err(invalid("cluster_bits", format!("{cluster_bits} is outside 9..=21")));
        }
        let mut header = Self {
            version,
            backing_file_offset: fields.u64(8)?,
            cluster_bits,
            size_bytes: fields.u64(24)?,
            crypt_method: fields.u32(32)?,
            nb_snapshots: fields.u32(60)?,
            snapshots_offset: fields.u64(64)?,
            incompatible_features: 0,
            compatible_features: 0,
            autoclear_features: 0,
            header_length: 72,
        };
        if version >= 3 {
            header.incompatible_features = fields.u64(72)?;
            header.compatible_features = fields.u64(80)?;
            header.autoclear_features = fields.u64(88)?;
            header.header_length = fields.u32(100)?;
            if (header.header_length as usize) < HEADER_V3_MIN_BYTES || !header.header_length.is_multiple_of(8) {
                return Err(invalid(
                    "header_length",
                    format!(
                        "{} is not a multiple of 8 of at least {HEADER_V3_MIN_BYTES}",
                        header.header_length
                    ),
                ));
            }
        }
        if header.nb_snapshots > MAX_SNAPSHOTS {
            return Err(invalid(
                "nb_snapshots",
                format!("{} is more than {MAX_SNAPSHOTS}", header.nb_snapshots),
            ));
        }
        if header.nb_snapshots > 0 && !header.snapshots_offset.is_multiple_of(header.cluster_bytes()) {
            return Err(invalid(
                "snapshots_offset",
                format!("{} is not aligned to a cluster", header.snapshots_offset),
            ));
        }
        Ok(header)
    }

    /// The cluster size in bytes.
    pub fn cluster_bytes(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// Whether QEMU marked the image corrupt; it then refuses to write to it.
    pub fn is_corrupt(&self) -> bool {
        self.incompatible_features & INCOMPATIBLE_CORRUPT != 0
    }

    /// Whether the bitmaps extension, if there is one, may be trusted.
    pub fn bitmaps_consistent(&self) -> bool {
        self.autoclear_features & AUTOCLEAR_BITMAPS != 0
    }
}

/// One entry of the snapshot table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The unique ID QEMU gave it ("1", "2", ...).
    pub id: String,
    /// Its name (`qemu-img snapshot -c NAME`).
    pub name: String,
    /// When it was taken: seconds since the Unix epoch.
    pub date_sec: u32,
    /// When it was taken: the nanoseconds within the second.
    pub date_nsec: u32,
    /// How long the guest had been running, in nanoseconds (0 for disk-only snapshots).
    pub vm_clock_nsec: u64,
    /// The size of the saved VM state (0 for disk-only snapshots).
    pub vm_state_size: u64,
    /// The virtual disk size when the snapshot was taken, when the entry records it.
    pub disk_size_bytes: Option<u64>,
}

/// Parses `count` snapshot table entries from the start of `bytes`, in table order.
///
/// QEMU appends new snapshots to the table and deletes by removing entries in place, so
/// table order is creation order.
pub fn parse_snapshot_table(bytes: &[u8], count: u32) -> Result<Vec<Snapshot>, Qcow2Error> {
    const WHAT: &str = "snapshot table";
    let mut snapshots = Vec::with_capacity(count.min(1024) as usize);
    let mut offset = 0_usize;
    for _ in 0..count {
        let fields = Fields::at(bytes, offset, WHAT);
        let id_size = usize::from(fields.u16(12)?);
        let name_size = usize::from(fields.u16(14)?);
        let seconds = fields.u32(16)?;
        let nanoseconds = fields.u32(20)?;
        let vm_clock_nsec = fields.u64(24)?;
        let vm_state_size_small = fields.u32(32)?;
        let extra_size = fields.u32(36)?;
        if extra_size > MAX_SNAPSHOT_EXTRA_DATA_BYTES {
            return Err(invalid(
                "snapshot extra data size",
                format!("{extra_size} is more than {MAX_SNAPSHOT_EXTRA_DATA_BYTES}"),
            ));
        }
        let extra_size = extra_size as usize;
        let extra = fields.range(SNAPSHOT_ENTRY_FIXED_BYTES, extra_size)?;
        let (vm_state_size, disk_size_bytes) = if extra_size >= 16 {
            let extra_fields = Fields::at(bytes, offset + SNAPSHOT_ENTRY_FIXED_BYTES, WHAT);
            (extra_fields.u64(0)?, Some(extra_fields.u64(8)?))
        } else {
            (u64::from(vm_state_size_small), None)
        };
        let id_start = extra.end - offset;
        let id = fields.string(id_start, id_size)?;
        let name = fields.string(id_start + id_size, name_size)?;
        let entry_bytes = (SNAPSHOT_ENTRY_FIXED_BYTES + extra_size + id_size + name_size).next_multiple_of(8);
        snapshots.push(Snapshot {
            id,
            name,
            date_sec: seconds,
            date_nsec: nanoseconds,
            vm_clock_nsec,
            vm_state_size,
            disk_size_bytes,
        });
        offset += entry_bytes;
    }
    Ok(snapshots)
}

/// Where the bitmap directory is, from the bitmaps header extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitmapsExtension {
    /// The number of bitmaps.
    pub nb_bitmaps: u32,
    /// The size of the directory in bytes.
    pub directory_bytes: u64,
    /// Where the directory starts.
    pub directory_offset: u64,
}

/// Finds the bitmaps extension among the header extensions that follow the header.
///
/// `bytes` starts at the beginning of the file and must reach the end of the extension area
/// (the first cluster is always enough).
pub fn find_bitmaps_extension(bytes: &[u8], header: &Header) -> Result<Option<BitmapsExtension>, Qcow2Error> {
    const WHAT: &str = "header extension area";
    let end_of_area = usize::try_from(header.cluster_bytes()).unwrap_or(usize::MAX);
    let mut offset = header.header_length as usize;
    loop {
        if offset + 8 > end_of_area {
            return Err(invalid(
                WHAT,
                "it runs past the first cluster without an end marker".to_owned(),
            ));
        }
        let fields = Fields::at(bytes, offset, WHAT);
        let kind = fields.u32(0)?;
        let length = fields.u32(4)? as usize;
        if kind == 0 {
            return Ok(None);
        }
        if kind == EXTENSION_BITMAPS {
            if length < 24 {
                return Err(invalid("bitmaps extension", format!("it has {length} bytes, not 24")));
            }
            let extension = BitmapsExtension {
                nb_bitmaps: fields.u32(8)?,
                directory_bytes: fields.u64(16)?,
                directory_offset: fields.u64(24)?,
            };
            if extension.nb_bitmaps > MAX_BITMAPS || extension.directory_bytes > MAX_BITMAP_DIRECTORY_BYTES {
                return Err(invalid(
                    "bitmaps extension",
                    format!(
                        "{} bitmaps in {} bytes exceed QEMU's limits",
                        extension.nb_bitmaps, extension.directory_bytes
                    ),
                ));
            }
            return Ok(Some(extension));
        }
        offset += 8 + length.next_multiple_of(8);
    }
}

/// One persistent dirty bitmap from the bitmap directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitmap {
    /// Its name.
    pub name: String,
    /// Whether it was not saved correctly (its writer was killed) and cannot be trusted.
    pub in_use: bool,
    /// Whether it records writes.
    pub enabled: bool,
    /// The number of bytes one bit stands for.
    pub granularity_bytes: u64,
}

/// Parses `count` bitmap directory entries from the start of `bytes`.
pub fn parse_bitmap_directory(bytes: &[u8], count: u32) -> Result<Vec<Bitmap>, Qcow2Error> {
    const WHAT: &str = "bitmap directory";
    let mut bitmaps = Vec::with_capacity(count.min(1024) as usize);
    let mut offset = 0_usize;
    for _ in 0..count {
        let fields = Fields::at(bytes, offset, WHAT);
        let flags = fields.u32(12)?;
        let granularity_bits = fields.u8(17)?;
        if granularity_bits > 63 {
            return Err(invalid("bitmap granularity", format!("{granularity_bits} bits")));
        }
        let name_size = usize::from(fields.u16(18)?);
        let extra_size = fields.u32(20)? as usize;
        let name = fields.string(BITMAP_ENTRY_FIXED_BYTES + extra_size, name_size)?;
        bitmaps.push(Bitmap {
            name,
            in_use: flags & BITMAP_IN_USE != 0,
            enabled: flags & BITMAP_AUTO != 0,
            granularity_bytes: 1 << granularity_bits,
        });
        offset += (BITMAP_ENTRY_FIXED_BYTES + extra_size + name_size).next_multiple_of(8);
    }
    Ok(bitmaps)
}

fn invalid(what: &'static str, reason: String) -> Qcow2Error {
    Qcow2Error::Invalid { what, reason }
}

/// Big-endian fields of one structure, at offsets relative to where it starts in a buffer.
struct Fields<'a> {
    bytes: &'a [u8],
    start: usize,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self::at(bytes, 0, what)
    }

    fn at(bytes: &'a [u8], start: usize, what: &'static str) -> Self {
        Self { bytes, start, what }
    }

    /// The absolute range of `length` bytes at `offset`, if the buffer holds them.
    fn range(&self, offset: usize, length: usize) -> Result<Range<usize>, Qcow2Error> {
        let begin = self.start + offset;
        let end = begin + length;
        if end > self.bytes.len() {
            return Err(Qcow2Error::Truncated {
                what: self.what,
                needed: end,
                available: self.bytes.len(),
            });
        }
        Ok(begin..end)
    }

    fn array<const N: usize>(&self, offset: usize) -> Result<[u8; N], Qcow2Error> {
        let range = self.range(offset, N)?;
        let mut array = [0_u8; N];
        array.copy_from_slice(&self.bytes[range]);
        Ok(array)
    }

    fn u8(&self, offset: usize) -> Result<u8, Qcow2Error> {
        Ok(self.array::<1>(offset)?[0])
    }

    fn u16(&self, offset: usize) -> Result<u16, Qcow2Error> {
        self.array(offset).map(u16::from_be_bytes)
    }

    fn u32(&self, offset: usize) -> Result<u32, Qcow2Error> {
        self.array(offset).map(u32::from_be_bytes)
    }

    fn u64(&self, offset: usize) -> Result<u64, Qcow2Error> {
        self.array(offset).map(u64::from_be_bytes)
    }

    /// A string field; names written by other tools may not be UTF-8, so it is decoded lossily.
    fn string(&self, offset: usize, length: usize) -> Result<String, Qcow2Error> {
        let range = self.range(offset, length)?;
        Ok(String::from_utf8_lossy(&self.bytes[range]).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a version 3 header of 112 bytes (QEMU's current length) with the given fields.
    fn header_bytes(size: u64, nb_snapshots: u32, snapshots_offset: u64) -> Vec<u8> {
        let mut bytes = vec![0_u8; 112];
        bytes[..4].copy_from_slice(&MAGIC);
        bytes[4..8].copy_from_slice(&3_u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&16_u32.to_be_bytes());
        bytes[24..32].copy_from_slice(&size.to_be_bytes());
        bytes[60..64].copy_from_slice(&nb_snapshots.to_be_bytes());
        bytes[64..72].copy_from_slice(&snapshots_offset.to_be_bytes());
        bytes[96..100].copy_from_slice(&4_u32.to_be_bytes());
        bytes[100..104].copy_from_slice(&112_u32.to_be_bytes());
        bytes
    }

    fn snapshot_entry(id: &str, name: &str, date_sec: u32, disk_size: Option<u64>) -> Vec<u8> {
        let extra: Vec<u8> = match disk_size {
            Some(size) => [0_u64.to_be_bytes(), size.to_be_bytes(), 0_u64.to_be_bytes()].concat(),
            None => Vec::new(),
        };
        let mut entry = Vec::new();
        entry.extend_from_slice(&0x3_0000_u64.to_be_bytes());
        entry.extend_from_slice(&2_u32.to_be_bytes());
        entry.extend_from_slice(&u16::try_from(id.len()).unwrap().to_be_bytes());
        entry.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
        entry.extend_from_slice(&date_sec.to_be_bytes());
        entry.extend_from_slice(&500_u32.to_be_bytes());
        entry.extend_from_slice(&7_u64.to_be_bytes());
        entry.extend_from_slice(&4096_u32.to_be_bytes());
        entry.extend_from_slice(&u32::try_from(extra.len()).unwrap().to_be_bytes());
        entry.extend_from_slice(&extra);
        entry.extend_from_slice(id.as_bytes());
        entry.extend_from_slice(name.as_bytes());
        entry.resize(entry.len().next_multiple_of(8), 0);
        entry
    }

    #[test]
    fn parses_a_version_3_header() {
        let header = Header::parse(&header_bytes(10 << 30, 2, 0x5_0000)).unwrap();
        assert_eq!(
            header,
            Header {
                version: 3,
                backing_file_offset: 0,
                cluster_bits: 16,
                size_bytes: 10 << 30,
                crypt_method: 0,
                nb_snapshots: 2,
                snapshots_offset: 0x5_0000,
                incompatible_features: 0,
                compatible_features: 0,
                autoclear_features: 0,
                header_length: 112,
            }
        );
        assert_eq!(header.cluster_bytes(), 65536);
        assert!(!header.is_corrupt());
        assert!(!header.bitmaps_consistent());
    }

    #[test]
    fn a_version_2_header_has_72_bytes_and_no_feature_fields() {
        let mut bytes = header_bytes(1 << 20, 0, 0);
        bytes[4..8].copy_from_slice(&2_u32.to_be_bytes());
        let header = Header::parse(&bytes[..HEADER_V2_BYTES]).unwrap();
        assert_eq!(header.version, 2);
        assert_eq!(header.header_length, 72);
        assert_eq!(header.size_bytes, 1 << 20);
    }

    #[test]
    fn feature_bits_are_read() {
        let mut bytes = header_bytes(1 << 20, 0, 0);
        bytes[72..80].copy_from_slice(&0b10_u64.to_be_bytes());
        bytes[88..96].copy_from_slice(&1_u64.to_be_bytes());
        let header = Header::parse(&bytes).unwrap();
        assert!(header.is_corrupt());
        assert!(header.bitmaps_consistent());
    }

    #[test]
    fn other_files_are_not_qcow2() {
        assert_eq!(
            Header::parse(b"\0\0\0\0rest").unwrap_err().to_string(),
            "not a qcow2 image: it starts with [00, 00, 00, 00] instead of `QFI\\xfb`"
        );
        assert_eq!(
            Header::parse(b"QF").unwrap_err(),
            Qcow2Error::NotQcow2 { found: b"QF".to_vec() }
        );
    }

    #[test]
    fn unknown_versions_and_bad_fields_are_refused() {
        let mut bytes = header_bytes(1 << 20, 0, 0);
        bytes[4..8].copy_from_slice(&4_u32.to_be_bytes());
        assert_eq!(
            Header::parse(&bytes).unwrap_err(),
            Qcow2Error::UnsupportedVersion { version: 4 }
        );

        let mut bytes = header_bytes(1 << 20, 0, 0);
        bytes[20..24].copy_from_slice(&30_u32.to_be_bytes());
        assert_eq!(
            Header::parse(&bytes).unwrap_err().to_string(),
            "invalid cluster_bits: 30 is outside 9..=21"
        );

        let bytes = header_bytes(1 << 20, 1, 0x1234);
        assert_eq!(
            Header::parse(&bytes).unwrap_err().to_string(),
            "invalid snapshots_offset: 4660 is not aligned to a cluster"
        );

        let bytes = header_bytes(1 << 20, MAX_SNAPSHOTS + 1, 0x10000);
        assert!(matches!(
            Header::parse(&bytes).unwrap_err(),
            Qcow2Error::Invalid {
                what: "nb_snapshots",
                ..
            }
        ));
    }

    #[test]
    fn a_short_header_says_how_much_it_needs() {
        let bytes = header_bytes(1 << 20, 0, 0);
        assert_eq!(
            Header::parse(&bytes[..90]).unwrap_err(),
            Qcow2Error::Truncated {
                what: "qcow2 header",
                needed: 96,
                available: 90
            }
        );
    }

    #[test]
    fn parses_snapshot_entries_in_table_order() {
        let table = [
            snapshot_entry("1", "snapshot-b", 200, Some(1 << 30)),
            snapshot_entry("2", "snapshot-a", 100, Some(2 << 30)),
            snapshot_entry("3", "no-extra-data", 300, None),
        ]
        .concat();
        let snapshots = parse_snapshot_table(&table, 3).unwrap();
        let summary: Vec<_> = snapshots
            .iter()
            .map(|s| (s.id.as_str(), s.name.as_str(), s.date_sec, s.disk_size_bytes))
            .collect();
        assert_eq!(
            summary,
            [
                ("1", "snapshot-b", 200, Some(1 << 30)),
                ("2", "snapshot-a", 100, Some(2 << 30)),
                ("3", "no-extra-data", 300, None),
            ]
        );
        assert_eq!(snapshots[0].date_nsec, 500);
        assert_eq!(snapshots[0].vm_clock_nsec, 7);
        // With extra data the 64-bit VM state size wins; without it the 32-bit one is used.
        assert_eq!(snapshots[0].vm_state_size, 0);
        assert_eq!(snapshots[2].vm_state_size, 4096);
    }

    #[test]
    fn entries_are_padded_to_eight_bytes() {
        // 40 + 24 + 1 + 5 = 70 bytes, padded to 72.
        let first = snapshot_entry("1", "abcde", 1, Some(1));
        assert_eq!(first.len(), 72);
        let table = [first, snapshot_entry("22", "x", 2, Some(2))].concat();
        let snapshots = parse_snapshot_table(&table, 2).unwrap();
        assert_eq!(snapshots[1].id, "22");
        assert_eq!(snapshots[1].name, "x");
    }

    #[test]
    fn a_short_snapshot_table_says_how_much_it_needs() {
        let table = [
            snapshot_entry("1", "a", 1, Some(1)),
            snapshot_entry("2", "b", 2, Some(2)),
        ]
        .concat();
        let error = parse_snapshot_table(&table[..100], 2).unwrap_err();
        assert_eq!(
            error,
            Qcow2Error::Truncated {
                what: "snapshot table",
                needed: 104,
                available: 100
            }
        );
        assert_eq!(parse_snapshot_table(&table, 2).unwrap().len(), 2);
    }

    #[test]
    fn oversized_extra_data_is_refused() {
        let mut entry = snapshot_entry("1", "a", 1, None);
        entry[36..40].copy_from_slice(&4096_u32.to_be_bytes());
        assert!(matches!(
            parse_snapshot_table(&entry, 1).unwrap_err(),
            Qcow2Error::Invalid {
                what: "snapshot extra data size",
                ..
            }
        ));
    }

    #[test]
    fn finds_the_bitmaps_extension_after_other_extensions() {
        let mut bytes = header_bytes(1 << 20, 0, 0);
        // A feature name table with one 48-byte entry, then the bitmaps extension, then the end.
        bytes.extend_from_slice(&0x6803_f857_u32.to_be_bytes());
        bytes.extend_from_slice(&48_u32.to_be_bytes());
        bytes.extend_from_slice(&[0_u8; 48]);
        bytes.extend_from_slice(&EXTENSION_BITMAPS.to_be_bytes());
        bytes.extend_from_slice(&24_u32.to_be_bytes());
        bytes.extend_from_slice(&2_u32.to_be_bytes());
        bytes.extend_from_slice(&0_u32.to_be_bytes());
        bytes.extend_from_slice(&80_u64.to_be_bytes());
        bytes.extend_from_slice(&0x7_0000_u64.to_be_bytes());
        bytes.extend_from_slice(&[0_u8; 8]);
        let header = Header::parse(&bytes).unwrap();
        assert_eq!(
            find_bitmaps_extension(&bytes, &header).unwrap(),
            Some(BitmapsExtension {
                nb_bitmaps: 2,
                directory_bytes: 80,
                directory_offset: 0x7_0000,
            })
        );

        let mut plain = header_bytes(1 << 20, 0, 0);
        plain.extend_from_slice(&[0_u8; 8]);
        assert_eq!(find_bitmaps_extension(&plain, &header).unwrap(), None);
    }

    #[test]
    fn parses_bitmap_directory_entries() {
        let entry = |flags: u32, granularity_bits: u8, name: &str| {
            let mut entry = Vec::new();
            entry.extend_from_slice(&0x8_0000_u64.to_be_bytes());
            entry.extend_from_slice(&1_u32.to_be_bytes());
            entry.extend_from_slice(&flags.to_be_bytes());
            entry.push(1);
            entry.push(granularity_bits);
            entry.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
            entry.extend_from_slice(&0_u32.to_be_bytes());
            entry.extend_from_slice(name.as_bytes());
            entry.resize(entry.len().next_multiple_of(8), 0);
            entry
        };
        let directory = [entry(0b10, 16, "backup-1"), entry(0b11, 20, "b2")].concat();
        let bitmaps = parse_bitmap_directory(&directory, 2).unwrap();
        assert_eq!(
            bitmaps,
            [
                Bitmap {
                    name: "backup-1".into(),
                    in_use: false,
                    enabled: true,
                    granularity_bytes: 65536,
                },
                Bitmap {
                    name: "b2".into(),
                    in_use: true,
                    enabled: true,
                    granularity_bytes: 1 << 20,
                },
            ]
        );
    }
}
