//! Reading and writing a volume's bytes, for block-level backups and restores.
//!
//! Backups read fixed-size chunks at increasing offsets, restores write them back; both go
//! through these two small traits so every back end (qcow2 through NBD, an LV device node, an
//! RBD image) is driven the same way. Implementations may serve sequential access faster than
//! random access, but must support both.

use serde::{Deserialize, Serialize};

use crate::error::{ProviderError, Result};

/// The data to read: a volume as it is now, or one of its snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReadTarget {
    /// The volume.
    pub volume_backend_name: String,
    /// The snapshot to read instead of the live volume, for a consistent point in time.
    pub snapshot_backend_name: Option<String>,
}

impl ReadTarget {
    /// The live volume.
    pub fn volume(volume_backend_name: impl Into<String>) -> Self {
        Self {
            volume_backend_name: volume_backend_name.into(),
            snapshot_backend_name: None,
        }
    }

    /// A snapshot of the volume.
    pub fn snapshot(volume_backend_name: impl Into<String>, snapshot_backend_name: impl Into<String>) -> Self {
        Self {
            volume_backend_name: volume_backend_name.into(),
            snapshot_backend_name: Some(snapshot_backend_name.into()),
        }
    }
}

/// Random-access reads from a volume or snapshot.
pub trait VolumeReader: Send {
    /// The number of bytes that can be read.
    fn size_bytes(&self) -> u64;

    /// Fills `buf` with the bytes starting at `offset`; the range must lie within the volume.
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()>;
}

/// Random-access writes to an existing volume, committed by `finish`.
pub trait VolumeWriter: Send {
    /// The number of bytes the volume holds.
    fn size_bytes(&self) -> u64;

    /// Writes all of `data` starting at `offset`; the range must lie within the volume.
    fn write_all_at(&mut self, offset: u64, data: &[u8]) -> Result<()>;

    /// Makes `length` bytes starting at `offset` read as zeros.
    ///
    /// The default writes zero buffers; back ends that can discard or punch holes override it.
    fn write_zeroes(&mut self, offset: u64, length: u64) -> Result<()> {
        const ZERO_CHUNK_BYTES: usize = 1 << 20;
        check_range(offset, length, self.size_bytes())?;
        let zeros = vec![0_u8; usize::try_from(length).map_or(ZERO_CHUNK_BYTES, |length| length.min(ZERO_CHUNK_BYTES))];
        let mut written = 0_u64;
        while written < length {
            let chunk = usize::try_from(length - written).map_or(zeros.len(), |left| left.min(zeros.len()));
            self.write_all_at(offset + written, &zeros[..chunk])?;
            written += chunk as u64;
        }
        Ok(())
    }

    /// Flushes everything written to stable storage and releases the volume.
    fn finish(self: Box<Self>) -> Result<()>;
}

/// Checks that `length` bytes at `offset` lie within a volume of `size_bytes`.
pub fn check_range(offset: u64, length: u64, size_bytes: u64) -> Result<()> {
    match offset.checked_add(length) {
        Some(end) if end <= size_bytes => Ok(()),
        _ => Err(ProviderError::fatal(format!(
            "range of {length} bytes at offset {offset} ends past the end of the volume ({size_bytes} bytes)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer over memory, to exercise the trait's default method without a back end.
    struct MemoryWriter {
        bytes: Vec<u8>,
        writes: usize,
    }

    impl VolumeWriter for MemoryWriter {
        fn size_bytes(&self) -> u64 {
            self.bytes.len() as u64
        }

        fn write_all_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
            check_range(offset, data.len() as u64, self.size_bytes())?;
            let start = usize::try_from(offset).unwrap();
            self.bytes[start..start + data.len()].copy_from_slice(data);
            self.writes += 1;
            Ok(())
        }

        fn finish(self: Box<Self>) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn default_write_zeroes_zeroes_exactly_the_range_in_chunks() {
        let size = (3 << 20) + 10;
        let mut writer = MemoryWriter {
            bytes: vec![0xff; size],
            writes: 0,
        };
        writer.write_zeroes(5, (2 << 20) + 3).unwrap();
        assert_eq!(writer.writes, 3);
        assert!(writer.bytes[..5].iter().all(|&b| b == 0xff));
        assert!(writer.bytes[5..5 + (2 << 20) + 3].iter().all(|&b| b == 0));
        assert!(writer.bytes[5 + (2 << 20) + 3..].iter().all(|&b| b == 0xff));

        let boxed: Box<dyn VolumeWriter> = Box::new(writer);
        boxed.finish().unwrap();
    }

    #[test]
    fn write_zeroes_past_the_end_is_refused_before_writing() {
        let mut writer = MemoryWriter {
            bytes: vec![0xff; 100],
            writes: 0,
        };
        let error = writer.write_zeroes(90, 11).unwrap_err();
        assert_eq!(
            error.to_string(),
            "range of 11 bytes at offset 90 ends past the end of the volume (100 bytes)"
        );
        assert_eq!(writer.writes, 0);
    }

    #[test]
    fn check_range_accepts_the_last_byte_and_rejects_overflow() {
        assert_eq!(check_range(0, 100, 100), Ok(()));
        assert_eq!(check_range(100, 0, 100), Ok(()));
        assert!(check_range(99, 2, 100).is_err());
        assert!(check_range(u64::MAX, 1, u64::MAX).is_err());
    }

    #[test]
    fn read_targets_round_trip_through_json() {
        for target in [
            ReadTarget::volume("volume-1"),
            ReadTarget::snapshot("volume-1", "backup-3"),
        ] {
            let json = serde_json::to_string(&target).unwrap();
            assert_eq!(serde_json::from_str::<ReadTarget>(&json).unwrap(), target);
        }
        assert_eq!(
            serde_json::to_string(&ReadTarget::snapshot("v", "s")).unwrap(),
            r#"{"volume_backend_name":"v","snapshot_backend_name":"s"}"#
        );
    }
}
