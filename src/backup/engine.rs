//! Taking, restoring and verifying backups through a provider's volume readers and writers.
//!
//! A backup first starts a change marker on the volume (a dirty bitmap on qcow2), then reads
//! what it must: for a full backup the allocated ranges, for an incremental the ranges changed
//! since its parent's marker. When the back end cannot say what changed (no marker, or a bitmap
//! left inconsistent by a killed writer), the incremental reads every allocated block and keeps
//! the hashes, which stores only the blocks that differ. Reading, hashing and storing run on
//! three threads, so the read of one run overlaps the hashing and writing of the ones before.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;

use blockform_provider::{
    ChangeMarker, ChangedExtents, Extent, ReadTarget, StorageProvider, VolumeReader, VolumeWriter,
};

use super::error::{BackupError, Result};
use super::manifest::{BackupMode, BlockRef, MANIFEST_FORMAT, Manifest};
use super::store::BackupStore;

/// Bytes read from a volume (or written to one) per request.
const RUN_BYTES: u64 = 4 << 20;

/// Reports progress: bytes done and bytes in total.
pub type ProgressFn<'a> = &'a mut dyn FnMut(u64, u64);

/// What to back up.
#[derive(Debug, Clone)]
pub struct BackupRequest<'a> {
    /// The backup's id (the deterministic back-end name of the operation).
    pub id: &'a str,
    /// The volume's address in the configuration.
    pub volume_address: &'a str,
    /// The volume's back-end id.
    pub volume_backend_id: &'a str,
    /// Full or incremental.
    pub mode: BackupMode,
    /// The policy taking the backup, if any.
    pub policy: Option<&'a str>,
    /// The time to record, in seconds since the Unix epoch.
    pub now_unix_secs: u64,
}

/// Who makes and removes a backup's change marker on its volume: the volume's provider, unless
/// something else holds the volume (a running domain's QEMU that has a qcow2 file open and
/// locked takes the marker itself, as an internal snapshot the backup then reads frozen).
pub trait ChangeMarkers {
    /// Starts the marker `marker_name` on `volume`.
    fn create(&self, volume: &str, marker_name: &str) -> blockform_provider::Result<ChangeMarker>;
    /// Removes a marker; a missing one is success.
    fn delete(&self, volume: &str, marker: &ChangeMarker) -> blockform_provider::Result<()>;
}

/// The markers a provider makes itself.
pub struct ProviderMarkers<'a>(pub &'a dyn StorageProvider);

impl ChangeMarkers for ProviderMarkers<'_> {
    fn create(&self, volume: &str, marker_name: &str) -> blockform_provider::Result<ChangeMarker> {
        self.0.create_change_marker(volume, marker_name)
    }

    fn delete(&self, volume: &str, marker: &ChangeMarker) -> blockform_provider::Result<()> {
        self.0.delete_change_marker(volume, marker)
    }
}

/// The name of the change marker a backup starts on its volume.
pub fn marker_name(backup_id: &str) -> String {
    format!("{}{backup_id}", blockform_provider::CHANGE_MARKER_PREFIX)
}

fn provider_error(volume: &str) -> impl FnOnce(blockform_provider::ProviderError) -> BackupError {
    let volume = volume.to_owned();
    move |source| BackupError::Provider { volume, source }
}

/// Takes a backup. Idempotent: a backup whose manifest exists is returned as it is.
pub fn create_backup(
    store: &mut dyn BackupStore,
    provider: &dyn StorageProvider,
    request: &BackupRequest<'_>,
    progress: ProgressFn<'_>,
) -> Result<Manifest> {
    create_backup_with(store, provider, &ProviderMarkers(provider), request, progress)
}

/// Takes a backup whose change marker `markers` make and remove (see [`ChangeMarkers`]).
pub fn create_backup_with(
    store: &mut dyn BackupStore,
    provider: &dyn StorageProvider,
    markers: &dyn ChangeMarkers,
    request: &BackupRequest<'_>,
    progress: ProgressFn<'_>,
) -> Result<Manifest> {
    if store.has_backup(request.id) {
        return store.manifest(request.id);
    }
    let volume = request.volume_backend_id;
    let existing = store.manifests()?;
    let sequence = existing.iter().map(|m| m.sequence).max().unwrap_or(0) + 1;
    let newest = existing.into_iter().rfind(|m| m.volume_backend_id == volume);
    let parent = match request.mode {
        BackupMode::Full => None,
        BackupMode::Incremental => Some(newest.clone().ok_or_else(|| BackupError::NoFull {
            volume: request.volume_address.to_owned(),
        })?),
    };
    // Changes are counted from before the read starts, so the next incremental misses nothing.
    // A provider without markers backs up without one (the next incremental hashes); any other
    // failure fails the backup: going on would read a live volume where the provider promised
    // a frozen one, or leave the next incremental without its marker unannounced.
    let marker = match markers.create(volume, &marker_name(request.id)) {
        Ok(marker) => Some(marker),
        Err(blockform_provider::ProviderError::Unsupported { .. }) => None,
        Err(error) => return Err(provider_error(request.volume_address)(error)),
    };
    let written = read_backup(store, provider, request, marker.as_ref(), parent, sequence, progress);
    let manifest = match written {
        Ok(manifest) => manifest,
        Err(error) => {
            // Its unsealed blocks are of no use to anyone; a full disk is free again at once.
            store.discard_unsealed();
            // A marker no manifest refers to would track changes for nothing (a policy's next
            // attempt has a new id); the rerun of this backup makes its marker again.
            if let Some(marker) = &marker {
                let _ = markers.delete(volume, marker);
            }
            return Err(error);
        }
    };
    // The previous newest backup's marker is no longer what the next incremental counts from.
    if let Some(previous) = newest
        && let Some(old) = &previous.change_marker
        && Some(old) != manifest.change_marker.as_ref()
    {
        let _ = markers.delete(volume, old);
    }
    Ok(manifest)
}

/// Reads a backup's blocks into the store and writes its manifest: everything a backup does
/// after its change marker is made.
fn read_backup(
    store: &mut dyn BackupStore,
    provider: &dyn StorageProvider,
    request: &BackupRequest<'_>,
    marker: Option<&ChangeMarker>,
    mut parent: Option<Manifest>,
    sequence: u64,
    progress: ProgressFn<'_>,
) -> Result<Manifest> {
    let volume = request.volume_backend_id;
    // A marker that is a snapshot (RBD) is the volume frozen as the backup starts: reading it
    // gives one point in time however long the read takes and whatever is written meanwhile
    // (that goes into the next incremental). A dirty bitmap (qcow2) freezes nothing, so the
    // live volume is read.
    let target = match marker {
        Some(ChangeMarker::Snapshot { backend_name }) => ReadTarget::snapshot(volume, backend_name),
        Some(ChangeMarker::DirtyBitmap { .. }) | None => ReadTarget::volume(volume),
    };
    let allocated = provider
        .changed_extents(&target, None)
        .map_err(provider_error(request.volume_address))?;
    let size_bytes = allocated.volume_size_bytes;
    // A volume that grew (or changed size at all) since its parent gets a full backup.
    if parent.as_ref().is_some_and(|p| p.size_bytes != size_bytes) {
        parent = None;
    }
    let mode = if parent.is_some() {
        BackupMode::Incremental
    } else {
        BackupMode::Full
    };
    let block_size = u64::from(store.block_size());
    let (blocks, to_read, change_source) = match &parent {
        None => (BTreeMap::new(), allocated, "allocation".to_owned()),
        Some(parent) => {
            let changed = match &parent.change_marker {
                Some(since) => Some(
                    provider
                        .changed_extents(&target, Some(since))
                        .map_err(provider_error(request.volume_address))?,
                )
                .filter(|c| !c.must_hash_everything() && c.volume_size_bytes == size_bytes),
                None => None,
            };
            match changed {
                Some(changed) => {
                    let mut blocks: BTreeMap<u64, [u8; 32]> =
                        parent.blocks.iter().map(|b| (b.offset, b.hash)).collect();
                    for extent in &changed.extents {
                        let first = extent.offset / block_size * block_size;
                        let keys: Vec<u64> = blocks.range(first..extent.end()).map(|(k, _)| *k).collect();
                        for key in keys {
                            blocks.remove(&key);
                        }
                    }
                    // The provider's own label (untracked changes were filtered out above).
                    let source = changed.source.as_str().to_owned();
                    (blocks, changed, source)
                }
                None => (BTreeMap::new(), allocated, "hashed".to_owned()),
            }
        }
    };
    let mut reader = provider
        .open_reader(&target)
        .map_err(provider_error(request.volume_address))?;
    let (blocks, read_bytes, stored_bytes) = read_blocks(
        store,
        reader.as_mut(),
        &to_read,
        blocks,
        request.volume_address,
        progress,
    )?;
    drop(reader);
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        id: request.id.to_owned(),
        volume_address: request.volume_address.to_owned(),
        volume_backend_id: volume.to_owned(),
        mode,
        parent: parent.as_ref().map(|p| p.id.clone()),
        size_bytes,
        block_size: store.block_size(),
        created_at: request.now_unix_secs,
        sequence,
        policy: request.policy.map(str::to_owned),
        change_marker: marker.cloned(),
        change_source,
        read_bytes,
        stored_bytes,
        blocks: blocks
            .into_iter()
            .map(|(offset, hash)| BlockRef { offset, hash })
            .collect(),
    };
    store.write_manifest(&manifest)?;
    Ok(manifest)
}

/// Block-aligned runs of at most `RUN_BYTES` covering the extents.
fn runs(extents: &[Extent], block_size: u64, size_bytes: u64) -> Vec<Extent> {
    let mut aligned: Vec<Extent> = Vec::new();
    for extent in extents {
        let start = extent.offset / block_size * block_size;
        let end = extent
            .end()
            .div_ceil(block_size)
            .saturating_mul(block_size)
            .min(size_bytes);
        match aligned.last_mut() {
            Some(last) if start <= last.end() => last.length = last.end().max(end) - last.offset,
            _ => aligned.push(Extent {
                offset: start,
                length: end.saturating_sub(start),
            }),
        }
    }
    let mut out = Vec::new();
    for extent in aligned {
        let mut at = extent.offset;
        while at < extent.end() {
            let length = RUN_BYTES.min(extent.end() - at);
            out.push(Extent { offset: at, length });
            at += length;
        }
    }
    out
}

type ReadResult = std::result::Result<(u64, Vec<u8>), blockform_provider::ProviderError>;
/// A buffer read and the hash of each of its blocks (`None` for a block of zeros).
type HashedResult = std::result::Result<(u64, Vec<u8>, Vec<Option<[u8; 32]>>), blockform_provider::ProviderError>;

/// Reads the extents on a second thread and hashes and stores them on this one.
fn read_blocks(
    store: &mut dyn BackupStore,
    reader: &mut dyn VolumeReader,
    changed: &ChangedExtents,
    mut blocks: BTreeMap<u64, [u8; 32]>,
    volume: &str,
    progress: ProgressFn<'_>,
) -> Result<(BTreeMap<u64, [u8; 32]>, u64, u64)> {
    let block_size = u64::from(store.block_size());
    let runs = runs(&changed.extents, block_size, changed.volume_size_bytes);
    let total: u64 = runs.iter().map(|r| r.length).sum();
    let mut done = 0_u64;
    let mut stored = 0_u64;
    progress(0, total);
    let chunk_bytes = usize::try_from(block_size).unwrap_or(65536);
    // Three stages on three threads: read, hash (and spot zeros), store.
    let outcome = std::thread::scope(|scope| -> Result<()> {
        let (sender, receiver) = mpsc::sync_channel::<ReadResult>(4);
        let (to_store_sender, to_store) = mpsc::sync_channel::<HashedResult>(4);
        let (recycle_sender, recycle) = mpsc::channel::<Vec<u8>>();
        let runs_ref = &runs;
        scope.spawn(move || {
            for run in runs_ref {
                let length = usize::try_from(run.length).unwrap_or(usize::MAX);
                let mut buffer = recycle.try_recv().unwrap_or_default();
                buffer.resize(length, 0);
                let result = reader
                    .read_exact_at(run.offset, &mut buffer)
                    .map(|()| (run.offset, buffer));
                let failed = result.is_err();
                if sender.send(result).is_err() || failed {
                    return;
                }
            }
        });
        scope.spawn(move || {
            for result in receiver {
                let with_hashes = result.map(|(offset, buffer)| {
                    let block_hashes = buffer
                        .chunks(chunk_bytes)
                        .map(|chunk| (!is_zero(chunk)).then(|| *blake3::hash(chunk).as_bytes()))
                        .collect();
                    (offset, buffer, block_hashes)
                });
                let failed = with_hashes.is_err();
                if to_store_sender.send(with_hashes).is_err() || failed {
                    return;
                }
            }
        });
        for result in to_store {
            let (offset, buffer, block_hashes) = result.map_err(provider_error(volume))?;
            for (i, (chunk, hash)) in buffer.chunks(chunk_bytes).zip(block_hashes).enumerate() {
                let at = offset + i as u64 * block_size;
                match hash {
                    None => {
                        blocks.remove(&at);
                    }
                    Some(hash) => {
                        stored += store.put(hash, chunk)?;
                        blocks.insert(at, hash);
                    }
                }
            }
            done += buffer.len() as u64;
            progress(done, total);
            let _ = recycle_sender.send(buffer);
        }
        Ok(())
    });
    outcome?;
    Ok((blocks, done, stored))
}

fn is_zero(data: &[u8]) -> bool {
    let mut words = data.chunks_exact(16);
    words
        .by_ref()
        .all(|word| u128::from_ne_bytes(word.try_into().unwrap_or([1; 16])) == 0)
        && words.remainder().iter().all(|&byte| byte == 0)
}

/// How to restore.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreOptions {
    /// The target reads as zeros already (a new volume): blocks of zeros need no write.
    pub target_is_zeroed: bool,
}

/// Writes a backup's bytes into a volume; the volume must be at least as large as the backup.
///
/// Every block of the backup is read back and checked against its hash before the first byte
/// is written, so a damaged backup is refused with the backup and offset and leaves the target
/// as it was. The write pass checks each block again; should one have been damaged in between,
/// the error says which range of the target was already overwritten.
pub fn restore(
    store: &mut dyn BackupStore,
    manifest: &Manifest,
    mut writer: Box<dyn VolumeWriter>,
    target_name: &str,
    options: RestoreOptions,
    progress: ProgressFn<'_>,
) -> Result<()> {
    let volume_bytes = writer.size_bytes();
    if volume_bytes < manifest.size_bytes {
        return Err(BackupError::TargetTooSmall {
            id: manifest.id.clone(),
            volume: target_name.to_owned(),
            backup_bytes: manifest.size_bytes,
            volume_bytes,
        });
    }
    let block_size = u64::from(manifest.block_size);
    // Progress counts the check of the stored blocks, then the write of the whole volume.
    let checked_bytes = check_blocks(store, manifest, &mut *progress)?;
    let total = checked_bytes + manifest.size_bytes;
    let mut run: Vec<u8> = Vec::with_capacity(usize::try_from(RUN_BYTES).unwrap_or(1 << 22));
    let mut run_start = 0_u64;
    let mut position = 0_u64;
    // Everything below this offset of the target has been overwritten.
    let mut written_end = 0_u64;
    let failed = |e| provider_error(target_name)(e);
    for block in &manifest.blocks {
        if block.offset != position || run.len() as u64 >= RUN_BYTES {
            if !run.is_empty() {
                writer.write_all_at(run_start, &run).map_err(failed)?;
                written_end = run_start + run.len() as u64;
                run.clear();
            }
            if block.offset > position && !options.target_is_zeroed {
                writer.write_zeroes(position, block.offset - position).map_err(failed)?;
                written_end = block.offset;
            }
            run_start = block.offset;
        }
        let data = match store.read_block(&block.hash)? {
            Ok(data) => data,
            Err(reason) if written_end == 0 => {
                return Err(BackupError::Damaged {
                    id: manifest.id.clone(),
                    offset: block.offset,
                    reason,
                });
            }
            Err(reason) => {
                return Err(BackupError::DamagedDuringRestore {
                    id: manifest.id.clone(),
                    offset: block.offset,
                    reason,
                    volume: target_name.to_owned(),
                    written_end,
                });
            }
        };
        run.extend_from_slice(&data);
        position = block.offset + block_size.min(manifest.size_bytes - block.offset);
        progress(checked_bytes + position, total);
    }
    if !run.is_empty() {
        writer.write_all_at(run_start, &run).map_err(failed)?;
    }
    if position < manifest.size_bytes && !options.target_is_zeroed {
        writer
            .write_zeroes(position, manifest.size_bytes - position)
            .map_err(failed)?;
    }
    writer.finish().map_err(failed)?;
    progress(total, total);
    Ok(())
}

/// Reads and checks every distinct block a backup needs; returns the bytes the check covers.
/// The first damaged block (in volume order) is the error.
fn check_blocks(store: &mut dyn BackupStore, manifest: &Manifest, progress: ProgressFn<'_>) -> Result<u64> {
    let block_bytes = u64::from(store.block_size());
    let total = manifest.blocks.len() as u64 * block_bytes;
    let estimate = total + manifest.size_bytes;
    progress(0, estimate);
    let mut checked: std::collections::HashSet<[u8; 32]> = std::collections::HashSet::new();
    let mut done = 0_u64;
    for block in &manifest.blocks {
        if checked.insert(block.hash)
            && let Err(reason) = store.read_block(&block.hash)?
        {
            return Err(BackupError::Damaged {
                id: manifest.id.clone(),
                offset: block.offset,
                reason,
            });
        }
        done += block_bytes;
        if done.is_multiple_of(256 * block_bytes) {
            progress(done, estimate);
        }
    }
    progress(total, estimate);
    Ok(total)
}

/// A damaged block of a backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Damage {
    /// The backup.
    pub backup: String,
    /// The first byte of the block in the volume.
    pub offset: u64,
    /// What is wrong.
    pub reason: String,
}

/// Re-reads and re-hashes every block of the given backups; each distinct block is read once.
/// Progress counts the bytes the backups' blocks cover.
pub fn verify(store: &mut dyn BackupStore, manifests: &[Manifest], progress: ProgressFn<'_>) -> Result<Vec<Damage>> {
    let block_bytes = u64::from(store.block_size());
    let total: u64 = manifests.iter().map(|m| m.blocks.len() as u64 * block_bytes).sum();
    let mut checked: HashMap<[u8; 32], Option<String>> = HashMap::new();
    let mut damage = Vec::new();
    let mut done = 0;
    progress(0, total);
    for manifest in manifests {
        for block in &manifest.blocks {
            let verdict = if let Some(verdict) = checked.get(&block.hash) {
                verdict.clone()
            } else {
                let verdict = store.read_block(&block.hash)?.err();
                checked.insert(block.hash, verdict.clone());
                verdict
            };
            if let Some(reason) = verdict {
                damage.push(Damage {
                    backup: manifest.id.clone(),
                    offset: block.offset,
                    reason,
                });
            }
            done += block_bytes;
            if done % (256 * block_bytes) == 0 {
                progress(done, total);
            }
        }
    }
    progress(total, total);
    Ok(damage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extent(offset: u64, length: u64) -> Extent {
        Extent { offset, length }
    }

    #[test]
    fn runs_cover_whole_blocks_and_split_long_extents() {
        let bs = 65536;
        assert_eq!(
            runs(&[extent(100, 10), extent(70_000, 10)], bs, 1 << 30),
            [extent(0, 131_072)],
            "two extents in neighbouring blocks make one run"
        );
        assert_eq!(
            runs(&[extent(0, 10 << 20)], bs, 1 << 30),
            [extent(0, 4 << 20), extent(4 << 20, 4 << 20), extent(8 << 20, 2 << 20)]
        );
        assert_eq!(
            runs(&[extent(1000, 10)], bs, 1500),
            [extent(0, 1500)],
            "clipped to the volume"
        );
        assert_eq!(runs(&[], bs, 1 << 30), []);
    }

    #[test]
    fn zero_detection_looks_at_every_byte() {
        let mut data = vec![0_u8; 65536 + 3];
        assert!(is_zero(&data));
        data[65538] = 1;
        assert!(!is_zero(&data));
        data[65538] = 0;
        data[7] = 1;
        assert!(!is_zero(&data));
    }

    #[test]
    fn marker_names_are_derived_from_the_backup() {
        assert_eq!(marker_name("backup-1"), "blockform-backup-1");
    }
}
