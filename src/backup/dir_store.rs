//! The directory store (`backup_store "dir"`), one [`BackupStore`]: blocks appended to pack
//! files with one index file per pack, manifests beside them, and a lock file.
//!
//! ```text
//! STORE/store.json          format and block size
//! STORE/lock                shared while backing up, restoring or verifying; exclusive for gc
//! STORE/packs/P.pack        "BFPACK01", then records: hash[32] flags[1] raw_len[4] stored_len[4] bytes
//! STORE/packs/P.idx         JSON index of the pack's records; a pack without one does not count
//! STORE/backups/ID.json     one manifest per backup
//! ```
//!
//! Durability: a pack is written under a temporary name, synced, renamed, and only then gets
//! its index (temporary file, sync, rename, directory sync). A manifest is written the same way
//! after every pack it needs is sealed, so a backup is visible only once all its blocks are
//! durable. Writing packs of up to 64 MiB instead of one file per block keeps a 1 GiB backup
//! to 16 syncs, each overlapping with filling the next pack. A crash leaves at worst packs no manifest refers to, which `gc` removes.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, IoSlice, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{BackupError, Result};
use super::manifest::{MANIFEST_FORMAT, Manifest};
use super::store::{Access, BLOCK_SIZE_BYTES, BackupStore, GcReport, StoreStats};

// The store's on-disk format, shared with the `s3` store (`super::s3_store`), which keeps the
// same files as objects.
pub(super) const STORE_FORMAT: u32 = 1;
pub(super) const PACK_MAGIC: &[u8; 8] = b"BFPACK01";
pub(super) const RECORD_HEADER_BYTES: u64 = 32 + 1 + 4 + 4;
const PACK_LIMIT_BYTES: u64 = 64 << 20;
pub(super) const FLAG_ZSTD: u8 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoreFile {
    pub(super) format: u32,
    pub(super) block_size: u32,
    pub(super) hash: String,
}

/// One record of a pack index: hash, offset of the record, stored length, raw length, flags.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct IndexEntry(
    #[serde(with = "super::manifest::hex_hash")] pub(super) [u8; 32],
    pub(super) u64,
    pub(super) u32,
    pub(super) u32,
    pub(super) u8,
);

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct PackIndex {
    pub(super) format: u32,
    pub(super) entries: Vec<IndexEntry>,
}

/// Where a block's record is: its pack, offset, stored and raw lengths, flags.
#[derive(Debug, Clone, Copy)]
pub(super) struct Location {
    pub(super) pack: u32,
    pub(super) offset: u64,
    pub(super) stored: u32,
    pub(super) raw: u32,
    pub(super) flags: u8,
}

/// The block in `record` (a whole record read from the pack `pack_name` at `location`), checked
/// against `hash`; `Err` says what is wrong with it.
pub(super) fn open_record(
    record: &[u8],
    hash: &[u8; 32],
    location: &Location,
    pack_name: &str,
) -> std::result::Result<Vec<u8>, String> {
    if &record[..32] != hash {
        return Err(format!(
            "the record at byte {} of `{pack_name}.pack` is another block",
            location.offset
        ));
    }
    let body = &record[41..];
    let data = if location.flags & FLAG_ZSTD != 0 {
        zstd::bulk::decompress(body, location.raw as usize)
            .map_err(|error| format!("its block does not decompress: {error}"))?
    } else {
        body.to_vec()
    };
    if data.len() != location.raw as usize || blake3::hash(&data).as_bytes() != hash {
        return Err(format!(
            "its block (byte {} of `{pack_name}.pack`) does not match its hash",
            location.offset
        ));
    }
    Ok(data)
}

/// The block of the index entry `entry` in the whole pack `pack`, when its record is there and
/// its data matches its hash (what gc copies into a new pack).
pub(super) fn intact_block(pack: &[u8], entry: &IndexEntry) -> Option<Vec<u8>> {
    let start = usize::try_from(entry.1 + RECORD_HEADER_BYTES).unwrap_or(usize::MAX);
    let end = start.saturating_add(entry.2 as usize);
    let body = pack.get(start..end)?;
    let data = if entry.4 & FLAG_ZSTD != 0 {
        zstd::bulk::decompress(body, entry.3 as usize).unwrap_or_default()
    } else {
        body.to_vec()
    };
    (blake3::hash(&data).as_bytes() == &entry.0).then_some(data)
}

/// A sealed pack's name and index entries.
type SealResult = Result<(String, Vec<IndexEntry>)>;

/// A pack being written.
struct OpenPack {
    name: String,
    temp_path: PathBuf,
    file: File,
    length: u64,
    entries: Vec<IndexEntry>,
}

/// An open directory store (`backup_store "dir"`).
pub struct DirStore {
    root: PathBuf,
    block_size: u32,
    compressors: Option<Compressors>,
    _lock: File,
    packs: Vec<String>,
    index: HashMap<[u8; 32], Location>,
    pending: HashSet<[u8; 32]>,
    open: Option<OpenPack>,
    sealing: Vec<std::thread::JoinHandle<SealResult>>,
    readers: HashMap<u32, File>,
}

impl std::fmt::Debug for DirStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirStore")
            .field("root", &self.root)
            .field("blocks", &self.index.len())
            .finish_non_exhaustive()
    }
}

fn io_error(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Io { path, action, source }
}

/// Syncs a directory so renames and removals in it are durable.
fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(path, "sync the directory"))
}

/// Writes `bytes` to `path` atomically: temporary file, sync, rename, directory sync.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(error) = result {
        let _ = fs::remove_file(&temp);
        return Err(io_error(&temp, "write")(error));
    }
    if let Err(error) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(io_error(path, "rename into place")(error));
    }
    sync_dir(dir)
}

/// Whether a backup id is safe as a file name.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl DirStore {
    /// Whether a store was created at `root` (it holds `store.json`); opening one that was not
    /// fails with [`BackupError::NotAStore`] unless it is created.
    pub fn exists(root: &Path) -> bool {
        root.join("store.json").exists()
    }

    /// Opens the store at `root`, creating it when `create` is set and the directory is new or empty.
    pub fn open(root: &Path, access: Access, create: bool, compression: bool) -> Result<DirStore> {
        let store_file = root.join("store.json");
        let meta = match fs::read(&store_file) {
            Ok(bytes) => serde_json::from_slice::<StoreFile>(&bytes).map_err(|e| BackupError::NotAStore {
                path: root.to_path_buf(),
                reason: format!("`store.json` is unreadable: {e}"),
            })?,
            Err(error) if error.kind() == ErrorKind::NotFound => {
                if !create {
                    return Err(BackupError::NotAStore {
                        path: root.to_path_buf(),
                        reason: "it holds no `store.json` (no backup was taken into it yet)".to_owned(),
                    });
                }
                fs::create_dir_all(root).map_err(io_error(root, "create the directory"))?;
                let meta = StoreFile {
                    format: STORE_FORMAT,
                    block_size: BLOCK_SIZE_BYTES,
                    hash: "blake3".to_owned(),
                };
                let text = serde_json::to_vec_pretty(&meta).unwrap_or_default();
                write_atomic(&store_file, &text)?;
                meta
            }
            Err(error) => return Err(io_error(&store_file, "read")(error)),
        };
        if meta.format != STORE_FORMAT || meta.hash != "blake3" || meta.block_size == 0 {
            return Err(BackupError::NotAStore {
                path: root.to_path_buf(),
                reason: format!(
                    "format {} with {} hashes; this build reads format {STORE_FORMAT} with blake3",
                    meta.format, meta.hash
                ),
            });
        }
        for dir in ["packs", "backups"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(io_error(&path, "create the directory"))?;
        }
        let lock_path = root.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(&lock_path, "open the lock file"))?;
        match access {
            Access::Shared => lock.lock_shared().map_err(io_error(&lock_path, "lock"))?,
            // Garbage collection does not wait behind a long backup: it says so and stops.
            Access::Exclusive => match lock.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(BackupError::Busy {
                        path: root.to_path_buf(),
                    });
                }
                Err(fs::TryLockError::Error(error)) => return Err(io_error(&lock_path, "lock")(error)),
            },
        }
        let mut store = DirStore {
            root: root.to_path_buf(),
            block_size: meta.block_size,
            compressors: if compression { Compressors::new() } else { None },
            _lock: lock,
            packs: Vec::new(),
            index: HashMap::new(),
            pending: HashSet::new(),
            open: None,
            sealing: Vec::new(),
            readers: HashMap::new(),
        };
        store.load_index()?;
        Ok(store)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn packs_dir(&self) -> PathBuf {
        self.root.join("packs")
    }

    fn backups_dir(&self) -> PathBuf {
        self.root.join("backups")
    }

    /// Sealed pack names (those with an index), sorted.
    fn sealed_packs(&self) -> Result<Vec<String>> {
        let dir = self.packs_dir();
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error(&dir, "list"))? {
            let entry = entry.map_err(io_error(&dir, "list"))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".idx")
                && !stem.starts_with('.')
            {
                names.push(stem.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn read_pack_index(&self, name: &str) -> Result<PackIndex> {
        let path = self.packs_dir().join(format!("{name}.idx"));
        let bytes = fs::read(&path).map_err(io_error(&path, "read"))?;
        serde_json::from_slice(&bytes).map_err(|e| BackupError::NotAStore {
            path: self.root.clone(),
            reason: format!("the pack index `{}` is unreadable: {e}", path.display()),
        })
    }

    fn load_index(&mut self) -> Result<()> {
        for name in self.sealed_packs()? {
            let index = self.read_pack_index(&name)?;
            let pack = u32::try_from(self.packs.len()).unwrap_or(u32::MAX);
            self.packs.push(name);
            for IndexEntry(hash, offset, stored, raw, flags) in index.entries {
                self.index.entry(hash).or_insert(Location {
                    pack,
                    offset,
                    stored,
                    raw,
                    flags,
                });
            }
        }
        Ok(())
    }

    fn start_pack(&self) -> Result<OpenPack> {
        let name = uuid::Uuid::new_v4().simple().to_string();
        let temp_path = self.packs_dir().join(format!(".{name}.pack.tmp"));
        let mut file = File::create(&temp_path).map_err(io_error(&temp_path, "create"))?;
        if let Err(error) = file.write_all(PACK_MAGIC) {
            let _ = fs::remove_file(&temp_path);
            return Err(io_error(&temp_path, "write")(error));
        }
        Ok(OpenPack {
            name,
            temp_path,
            file,
            length: PACK_MAGIC.len() as u64,
            entries: Vec::new(),
        })
    }

    /// Removes the pack being filled; its blocks are no longer in the store.
    fn discard_open_pack(&mut self) {
        if let Some(open) = self.open.take() {
            for IndexEntry(hash, ..) in &open.entries {
                self.pending.remove(hash);
            }
            drop(open.file);
            let _ = fs::remove_file(&open.temp_path);
        }
    }

    /// Starts making the open pack durable on another thread, so the sync of a full pack
    /// overlaps with filling the next one; `seal` waits for it.
    fn seal_in_background(&mut self) {
        let Some(open) = self.open.take() else { return };
        let dir = self.packs_dir();
        self.sealing
            .push(std::thread::spawn(move || -> Result<(String, Vec<IndexEntry>)> {
                let file = open.file;
                if let Err(error) = file.sync_all() {
                    let _ = fs::remove_file(&open.temp_path);
                    return Err(io_error(&open.temp_path, "sync")(error));
                }
                drop(file);
                let pack_path = dir.join(format!("{}.pack", open.name));
                if let Err(error) = fs::rename(&open.temp_path, &pack_path) {
                    let _ = fs::remove_file(&open.temp_path);
                    return Err(io_error(&pack_path, "rename into place")(error));
                }
                let index = PackIndex {
                    format: STORE_FORMAT,
                    entries: open.entries,
                };
                let text = serde_json::to_vec(&index).unwrap_or_default();
                let indexed =
                    sync_dir(&dir).and_then(|()| write_atomic(&dir.join(format!("{}.idx", open.name)), &text));
                if let Err(error) = indexed {
                    // A pack without its index is read by nobody: it is this store's own scratch.
                    let _ = fs::remove_file(&pack_path);
                    return Err(error);
                }
                Ok((open.name, index.entries))
            }));
    }

    fn add_sealed(&mut self, name: String, entries: Vec<IndexEntry>) {
        let pack = u32::try_from(self.packs.len()).unwrap_or(u32::MAX);
        self.packs.push(name);
        for IndexEntry(hash, offset, stored, raw, flags) in entries {
            self.pending.remove(&hash);
            self.index.entry(hash).or_insert(Location {
                pack,
                offset,
                stored,
                raw,
                flags,
            });
        }
    }

    /// The path of a backup's manifest.
    fn manifest_path(&self, id: &str) -> Result<PathBuf> {
        if !valid_id(id) {
            return Err(BackupError::NotFound {
                id: id.to_owned(),
                path: self.root.clone(),
            });
        }
        Ok(self.backups_dir().join(format!("{id}.json")))
    }
}

impl BackupStore for DirStore {
    fn block_size(&self) -> u32 {
        self.block_size
    }

    fn contains(&self, hash: &[u8; 32]) -> bool {
        self.index.contains_key(hash) || self.pending.contains(hash)
    }

    fn put(&mut self, hash: [u8; 32], data: &[u8]) -> Result<u64> {
        if self.contains(&hash) {
            return Ok(0);
        }
        let compressed = self.compressors.as_mut().and_then(|c| c.compress(data));
        let (flags, bytes) = match &compressed {
            Some(packed) => (FLAG_ZSTD, packed.as_slice()),
            None => (0, data),
        };
        if self.open.is_none() {
            self.open = Some(self.start_pack()?);
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(0);
        };
        let raw = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let stored = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        let mut header = [0_u8; 41];
        header[..32].copy_from_slice(&hash);
        header[32] = flags;
        header[33..37].copy_from_slice(&raw.to_le_bytes());
        header[37..41].copy_from_slice(&stored.to_le_bytes());
        let offset = open.length;
        if let Err(error) = write_record(&mut open.file, &header, bytes) {
            // A pack with a torn record is no use to anyone: drop it with the blocks it held.
            let error = io_error(&open.temp_path, "write")(error);
            self.discard_open_pack();
            return Err(error);
        }
        open.length += RECORD_HEADER_BYTES + u64::from(stored);
        open.entries.push(IndexEntry(hash, offset, stored, raw, flags));
        self.pending.insert(hash);
        let added = RECORD_HEADER_BYTES + u64::from(stored);
        if open.length >= PACK_LIMIT_BYTES {
            self.seal_in_background();
        }
        Ok(added)
    }

    fn discard_unsealed(&mut self) {
        for sealing in std::mem::take(&mut self.sealing) {
            // A pack that failed to seal removed its own files; one that sealed is `gc`'s.
            if let Ok(Ok((name, entries))) = sealing.join() {
                self.add_sealed(name, entries);
            }
        }
        self.discard_open_pack();
    }

    fn seal(&mut self) -> Result<()> {
        self.seal_in_background();
        let mut first_error = None;
        for sealing in std::mem::take(&mut self.sealing) {
            let outcome = sealing
                .join()
                .unwrap_or_else(|_| Err(io_error(&self.packs_dir(), "seal a pack")(ErrorKind::Other.into())));
            match outcome {
                Ok((name, entries)) => self.add_sealed(name, entries),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn read_block(&mut self, hash: &[u8; 32]) -> Result<Result<Vec<u8>, String>> {
        let Some(location) = self.index.get(hash).copied() else {
            return Ok(Err("its block is missing from the store".to_owned()));
        };
        let name = self.packs[location.pack as usize].clone();
        let path = self.packs_dir().join(format!("{name}.pack"));
        let file = match self.readers.entry(location.pack) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => match File::open(&path) {
                Ok(file) => entry.insert(file),
                Err(error) if error.kind() == ErrorKind::NotFound => {
                    return Ok(Err(format!("the pack file `{name}.pack` is missing")));
                }
                Err(error) => return Err(io_error(&path, "open")(error)),
            },
        };
        let mut record = vec![0_u8; usize::try_from(RECORD_HEADER_BYTES).unwrap_or(41) + location.stored as usize];
        match file.read_exact_at(&mut record, location.offset) {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::UnexpectedEof => {
                return Ok(Err(format!("the pack file `{name}.pack` is truncated")));
            }
            Err(error) => return Err(io_error(&path, "read")(error)),
        }
        Ok(open_record(&record, hash, &location, &name))
    }

    fn has_backup(&self, id: &str) -> bool {
        self.manifest_path(id).is_ok_and(|path| path.is_file())
    }

    fn manifest(&self, id: &str) -> Result<Manifest> {
        let path = self.manifest_path(id)?;
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == ErrorKind::NotFound => {
                return Err(BackupError::NotFound {
                    id: id.to_owned(),
                    path: self.root.clone(),
                });
            }
            Err(error) => return Err(io_error(&path, "read")(error)),
        };
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| BackupError::BadManifest {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if manifest.format != MANIFEST_FORMAT || manifest.id != id {
            return Err(BackupError::BadManifest {
                path,
                reason: format!("format {} for id `{}`", manifest.format, manifest.id),
            });
        }
        Ok(manifest)
    }

    fn manifests(&self) -> Result<Vec<Manifest>> {
        let dir = self.backups_dir();
        let mut manifests = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error(&dir, "list"))? {
            let entry = entry.map_err(io_error(&dir, "list"))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".json")
                && valid_id(id)
            {
                manifests.push(self.manifest(id)?);
            }
        }
        manifests.sort_by(|a, b| (a.sequence, a.created_at, &a.id).cmp(&(b.sequence, b.created_at, &b.id)));
        order_parents_first(&mut manifests);
        Ok(manifests)
    }

    fn write_manifest(&mut self, manifest: &Manifest) -> Result<()> {
        self.seal()?;
        let path = self.manifest_path(&manifest.id)?;
        let text = serde_json::to_vec(manifest).unwrap_or_default();
        write_atomic(&path, &text)
    }

    fn delete(&self, id: &str) -> Result<()> {
        let path = self.manifest_path(id)?;
        if !path.is_file() {
            return Ok(());
        }
        let manifests = self.manifests()?;
        if let Some(child) = manifests.iter().rev().find(|m| m.parent.as_deref() == Some(id)) {
            return Err(BackupError::HasChildren {
                id: id.to_owned(),
                child: child.id.clone(),
            });
        }
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(io_error(&path, "delete")(error)),
        }
        sync_dir(&self.backups_dir())
    }

    fn stats(&self) -> Result<StoreStats> {
        let mut pack_bytes = 0;
        for name in &self.packs {
            let path = self.packs_dir().join(format!("{name}.pack"));
            pack_bytes += fs::metadata(&path).map_or(0, |m| m.len());
        }
        Ok(StoreStats {
            blocks: self.index.len(),
            pack_bytes,
        })
    }

    // Crash-safe: a pack's index is removed before its pack, and a rewritten pack is sealed
    // before the old one goes, so at every moment each referenced block is in a sealed pack.
    fn gc(&mut self) -> Result<GcReport> {
        self.seal()?;
        let referenced: HashSet<[u8; 32]> = self
            .manifests()?
            .iter()
            .flat_map(|m| m.blocks.iter().map(|b| b.hash))
            .collect();
        let dir = self.packs_dir();
        let mut report = GcReport::default();
        // Leftovers of interrupted writes: temporary files and packs that never got an index.
        let sealed: HashSet<String> = self.sealed_packs()?.into_iter().collect();
        for entry in fs::read_dir(&dir).map_err(io_error(&dir, "list"))? {
            let entry = entry.map_err(io_error(&dir, "list"))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let orphan = name.starts_with('.') || name.strip_suffix(".pack").is_some_and(|stem| !sealed.contains(stem));
            if orphan {
                report.bytes_freed += entry.metadata().map_or(0, |m| m.len());
                fs::remove_file(entry.path()).map_err(io_error(&entry.path(), "delete"))?;
            }
        }
        for name in self.sealed_packs()? {
            let index = self.read_pack_index(&name)?;
            let live: Vec<&IndexEntry> = index.entries.iter().filter(|e| referenced.contains(&e.0)).collect();
            let dead = index.entries.len() - live.len();
            if dead == 0 {
                continue;
            }
            let pack_path = dir.join(format!("{name}.pack"));
            let pack_bytes = fs::metadata(&pack_path).map_or(0, |m| m.len());
            let live_bytes: u64 = live.iter().map(|e| RECORD_HEADER_BYTES + u64::from(e.2)).sum();
            // Rewrite only when at least a quarter of the pack is garbage.
            if !live.is_empty() && live_bytes * 4 > pack_bytes * 3 {
                continue;
            }
            if live.is_empty() {
                report.packs_deleted += 1;
            } else {
                let mut source = File::open(&pack_path).map_err(io_error(&pack_path, "open"))?;
                let mut bytes = Vec::new();
                source.read_to_end(&mut bytes).map_err(io_error(&pack_path, "read"))?;
                // Blocks already copied to the new pack count as present; clear them so they are copied.
                for entry in &live {
                    // A damaged block is not copied; verify reports it.
                    let Some(data) = intact_block(&bytes, entry) else {
                        continue;
                    };
                    self.index.remove(&entry.0);
                    self.put(entry.0, &data)?;
                }
                self.seal()?;
                report.packs_rewritten += 1;
            }
            report.blocks_dropped += dead;
            let index_path = dir.join(format!("{name}.idx"));
            fs::remove_file(&index_path).map_err(io_error(&index_path, "delete"))?;
            sync_dir(&dir)?;
            fs::remove_file(&pack_path).map_err(io_error(&pack_path, "delete"))?;
            report.bytes_freed += pack_bytes;
        }
        sync_dir(&dir)?;
        // Reload: pack numbers changed.
        self.packs.clear();
        self.index.clear();
        self.readers.clear();
        self.load_index()?;
        Ok(report)
    }
}

impl Drop for DirStore {
    /// A pack still being filled holds blocks no manifest can refer to (a manifest is written
    /// only after every pack it needs is sealed): a backup that failed or was abandoned removes
    /// it, so its space is free for the next backup at once, not only after `gc`.
    fn drop(&mut self) {
        self.discard_unsealed();
    }
}

/// Orders manifests so each parent comes before its children, keeping time order otherwise.
pub(super) fn order_parents_first(manifests: &mut Vec<Manifest>) {
    let mut placed: HashSet<String> = HashSet::new();
    let mut ordered = Vec::with_capacity(manifests.len());
    let mut rest: Vec<Manifest> = std::mem::take(manifests);
    while !rest.is_empty() {
        let before = rest.len();
        let ids: HashSet<String> = rest.iter().map(|m| m.id.clone()).collect();
        let mut next = Vec::new();
        for manifest in rest {
            let waits = manifest
                .parent
                .as_ref()
                .is_some_and(|p| ids.contains(p) && !placed.contains(p));
            if waits {
                next.push(manifest);
            } else {
                placed.insert(manifest.id.clone());
                ordered.push(manifest);
            }
        }
        if next.len() == before {
            ordered.extend(next);
            break;
        }
        rest = next;
    }
    *manifests = ordered;
}

/// Appends a record's header and body in one system call, without copying the body.
fn write_record(file: &mut File, header: &[u8], body: &[u8]) -> std::io::Result<()> {
    let written = file.write_vectored(&[IoSlice::new(header), IoSlice::new(body)])?;
    if written < header.len() {
        file.write_all(&header[written..])?;
        file.write_all(body)
    } else {
        file.write_all(&body[written - header.len()..])
    }
}

/// Reusable zstd contexts: making one per block would cost more than compressing.
pub(super) struct Compressors {
    sample: zstd::bulk::Compressor<'static>,
    block: zstd::bulk::Compressor<'static>,
}

impl Compressors {
    pub(super) fn new() -> Option<Compressors> {
        Some(Compressors {
            sample: zstd::bulk::Compressor::new(1).ok()?,
            block: zstd::bulk::Compressor::new(3).ok()?,
        })
    }

    /// zstd when it saves at least an eighth; a 4 KiB sample first, so random data costs little.
    pub(super) fn compress(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        const SAMPLE: usize = 4096;
        if data.len() >= 2 * SAMPLE {
            let sample = self.sample.compress(&data[..SAMPLE]).ok()?;
            if sample.len() * 10 > SAMPLE * 9 {
                return None;
            }
        }
        let packed = self.block.compress(data).ok()?;
        (packed.len() * 8 < data.len() * 7).then_some(packed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("blockform-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn block(seed: u8) -> (Vec<u8>, [u8; 32]) {
        // Random-looking bytes that do not compress.
        let mut data = vec![0_u8; 65536];
        blake3::Hasher::new().update(&[seed]).finalize_xof().fill(&mut data);
        let hash = *blake3::hash(&data).as_bytes();
        (data, hash)
    }

    fn manifest(id: &str, blocks: &[[u8; 32]]) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            id: id.to_owned(),
            volume_address: "volume.v".into(),
            volume_backend_id: "volume-1".into(),
            mode: super::super::BackupMode::Full,
            parent: None,
            size_bytes: 1 << 20,
            block_size: BLOCK_SIZE_BYTES,
            created_at: 1,
            sequence: 0,
            policy: None,
            change_marker: None,
            change_source: "allocation".into(),
            read_bytes: 0,
            stored_bytes: 0,
            blocks: blocks
                .iter()
                .enumerate()
                .map(|(i, hash)| super::super::BlockRef {
                    offset: i as u64 * 65536,
                    hash: *hash,
                })
                .collect(),
        }
    }

    #[test]
    fn blocks_are_stored_once_and_read_back_after_reopening() {
        let dir = temp_dir("roundtrip");
        let (a, ha) = block(1);
        let text = vec![b'x'; 65536];
        let ht = *blake3::hash(&text).as_bytes();
        {
            let mut store = DirStore::open(&dir, Access::Shared, true, true).unwrap();
            assert!(store.put(ha, &a).unwrap() > 65536);
            assert_eq!(store.put(ha, &a).unwrap(), 0, "a block is stored once");
            let added = store.put(ht, &text).unwrap();
            assert!(added < 1000, "a repetitive block is compressed ({added} bytes)");
            store.write_manifest(&manifest("backup-a", &[ha, ht])).unwrap();
        }
        let mut store = DirStore::open(&dir, Access::Shared, false, true).unwrap();
        assert_eq!(store.read_block(&ha).unwrap(), Ok(a));
        assert_eq!(store.read_block(&ht).unwrap(), Ok(text));
        assert_eq!(store.manifests().unwrap().len(), 1);
        assert_eq!(
            store.read_block(&[9; 32]).unwrap(),
            Err("its block is missing from the store".to_owned())
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_without_a_store_is_refused_unless_creating() {
        let dir = temp_dir("absent");
        let error = DirStore::open(&dir, Access::Shared, false, true).unwrap_err();
        assert!(error.to_string().contains("holds no `store.json`"), "{error}");
        assert!(!dir.exists());
    }

    #[test]
    fn gc_keeps_referenced_blocks_and_drops_the_rest() {
        let dir = temp_dir("gc");
        let (a, ha) = block(1);
        let (b, hb) = block(2);
        let (c, hc) = block(3);
        {
            let mut store = DirStore::open(&dir, Access::Shared, true, true).unwrap();
            store.put(ha, &a).unwrap();
            store.put(hb, &b).unwrap();
            store.write_manifest(&manifest("backup-keep", &[ha])).unwrap();
            store.put(hc, &c).unwrap();
            store.seal().unwrap();
            // A pack that was never sealed, as a crash leaves it.
            fs::write(dir.join("packs").join(".dead.pack.tmp"), b"partial").unwrap();
        }
        let mut store = DirStore::open(&dir, Access::Exclusive, false, true).unwrap();
        let report = store.gc().unwrap();
        assert_eq!(report.blocks_dropped, 2);
        assert_eq!(report.packs_deleted, 1);
        assert_eq!(report.packs_rewritten, 1);
        assert_eq!(store.read_block(&ha).unwrap(), Ok(a));
        assert!(store.read_block(&hb).unwrap().is_err());
        assert!(store.read_block(&hc).unwrap().is_err());
        assert!(!dir.join("packs").join(".dead.pack.tmp").exists());
        assert_eq!(store.gc().unwrap().blocks_dropped, 0, "a second gc finds nothing");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gc_does_not_wait_behind_a_running_backup() {
        let dir = temp_dir("busy");
        let backup = DirStore::open(&dir, Access::Shared, true, true).unwrap();
        let error = DirStore::open(&dir, Access::Exclusive, false, true).unwrap_err();
        assert!(matches!(error, BackupError::Busy { .. }), "{error}");
        drop(backup);
        DirStore::open(&dir, Access::Exclusive, false, true).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_parent_cannot_be_deleted_before_its_child() {
        let dir = temp_dir("delete");
        let mut store = DirStore::open(&dir, Access::Shared, true, true).unwrap();
        let full = manifest("backup-full", &[]);
        let mut child = manifest("backup-inc", &[]);
        child.parent = Some("backup-full".into());
        child.created_at = 2;
        child.sequence = 1;
        store.write_manifest(&full).unwrap();
        store.write_manifest(&child).unwrap();
        let error = store.delete("backup-full").unwrap_err();
        assert_eq!(
            error.to_string(),
            "backup `backup-full` cannot be deleted: the incremental backup `backup-inc` builds on it"
        );
        store.delete("backup-inc").unwrap();
        store.delete("backup-full").unwrap();
        assert!(store.manifests().unwrap().is_empty());
        assert!(matches!(store.manifest("../x"), Err(BackupError::NotFound { .. })));
        fs::remove_dir_all(&dir).unwrap();
    }
}
