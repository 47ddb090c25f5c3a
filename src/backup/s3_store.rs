//! The S3 store (`backup_store "s3"`), one [`BackupStore`]: the directory store's layout as
//! objects under a prefix of a bucket (AWS S3, Ceph RGW, `MinIO`).
//!
//! ```text
//! PREFIX/store.json              format and block size
//! PREFIX/locks/shared-ID.json    one per backup, restore or verification running
//! PREFIX/locks/exclusive.json    gc (created with If-None-Match: *)
//! PREFIX/packs/P.pack            the directory store's pack format, uploaded whole (multipart)
//! PREFIX/packs/P.idx             JSON index of the pack; a pack without one does not count
//! PREFIX/backups/ID.json         one manifest per backup
//! ```
//!
//! Durability: a pack is filled in memory and uploaded in a multipart upload (the object
//! appears only once every part is in), several packs at a time on background threads; only
//! then is its index written. A manifest is written after every pack it needs is indexed, so a
//! backup is visible only once all its blocks are stored. A process killed midway leaves at
//! worst packs no manifest refers to (and the parts of an unfinished upload, which S3 keeps
//! until the bucket's `AbortIncompleteMultipartUpload` lifecycle rule removes them); `gc`
//! removes the packs.
//!
//! Locks: shared holders each create a marker object, gc creates the exclusive one and then
//! looks for markers (each side checks the other after writing its own, so one of two racing
//! always sees the other). A marker left by a process of this host that is gone is removed.
//! Reads: blocks are read in windows of [`READ_WINDOW_BYTES`] of their pack, the last few kept,
//! so a restore or verification reads each pack in a few large requests.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::dir_store::{
    Compressors, FLAG_ZSTD, IndexEntry, Location, PACK_MAGIC, PackIndex, RECORD_HEADER_BYTES, STORE_FORMAT, StoreFile,
    intact_block, open_record, order_parents_first,
};
use super::error::{BackupError, Result};
use super::manifest::{MANIFEST_FORMAT, Manifest};
use super::store::{Access, BLOCK_SIZE_BYTES, BackupStore, GcReport, StoreStats};
use crate::s3::{Created, Patience, S3Client, S3Error, S3Location};

/// Packs are uploaded once they hold this much.
const PACK_LIMIT_BYTES: u64 = 64 << 20;
/// The part size of a pack's multipart upload.
const PART_BYTES: usize = 8 << 20;
/// Parts of one pack uploaded at once.
const PARALLEL_PARTS: usize = 8;
/// Packs uploading at once; a full one waits for the oldest beyond this.
const PACKS_IN_FLIGHT: usize = 3;
/// Blocks are read in windows of this size of their pack.
pub const READ_WINDOW_BYTES: u64 = 8 << 20;
/// Windows kept for the next reads.
const WINDOWS_KEPT: usize = 4;
/// Objects read at once (indexes, manifests).
const PARALLEL_READS: usize = 16;

/// Who holds a lock marker.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Holder {
    host: String,
    pid: u32,
    since: String,
}

impl Holder {
    fn this_process() -> Holder {
        Holder {
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            since: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        }
    }

    /// Whether the holder is a process of this host that no longer runs.
    fn is_gone(&self) -> bool {
        self.host == gethostname::gethostname().to_string_lossy()
            && self.pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

/// A pack being filled in memory.
struct OpenPack {
    name: String,
    bytes: Vec<u8>,
    entries: Vec<IndexEntry>,
}

type Sealed = Result<(String, Vec<IndexEntry>)>;

/// An open S3 store (`backup_store "s3"`).
pub struct S3Store {
    client: S3Client,
    url: String,
    block_size: u32,
    compressors: Option<Compressors>,
    lock_name: String,
    packs: Vec<String>,
    index: HashMap<[u8; 32], Location>,
    pending: HashSet<[u8; 32]>,
    open: Option<OpenPack>,
    uploading: VecDeque<mpsc::Receiver<Sealed>>,
    windows: VecDeque<((u32, u64), Bytes)>,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("url", &self.url)
            .field("blocks", &self.index.len())
            .finish_non_exhaustive()
    }
}

fn remote(url: &str, error: &S3Error) -> BackupError {
    BackupError::Remote {
        store: url.to_owned(),
        message: format!(
            "{} of `{}` at {} failed: {}",
            error.operation, error.url, error.endpoint, error.message
        ),
        hint: error.hint(),
    }
}

/// Whether a backup id is safe as an object name.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl S3Store {
    /// Whether a store was created under `location` (it holds `store.json`).
    pub fn exists(location: &S3Location) -> Result<bool> {
        let client = S3Client::new(location, Patience::BULK).map_err(|e| remote(&location.url(), &e))?;
        client.check_bucket().map_err(|e| remote(&location.url(), &e))?;
        Ok(client
            .head("store.json")
            .map_err(|e| remote(&location.url(), &e))?
            .is_some())
    }

    /// Opens the store under `location` with its lock taken, creating it when `create` is set.
    pub fn open(location: &S3Location, access: Access, create: bool, compression: bool) -> Result<S3Store> {
        let url = location.url();
        let client = S3Client::new(location, Patience::BULK).map_err(|e| remote(&url, &e))?;
        client.check_bucket().map_err(|e| remote(&url, &e))?;
        let meta = if let Some(bytes) = client.get("store.json").map_err(|e| remote(&url, &e))? {
            serde_json::from_slice::<StoreFile>(&bytes).map_err(|e| BackupError::NotAStore {
                path: PathBuf::from(&url),
                reason: format!("`store.json` is unreadable: {e}"),
            })?
        } else {
            if !create {
                return Err(BackupError::NotAStore {
                    path: PathBuf::from(&url),
                    reason: "it holds no `store.json` (no backup was taken into it yet)".to_owned(),
                });
            }
            let meta = StoreFile {
                format: STORE_FORMAT,
                block_size: BLOCK_SIZE_BYTES,
                hash: "blake3".to_owned(),
            };
            let text = serde_json::to_vec_pretty(&meta).unwrap_or_default();
            // Two first backups at once write the same file: either is fine.
            client
                .create("store.json", Bytes::from(text))
                .map_err(|e| remote(&url, &e))?;
            meta
        };
        if meta.format != STORE_FORMAT || meta.hash != "blake3" || meta.block_size == 0 {
            return Err(BackupError::NotAStore {
                path: PathBuf::from(&url),
                reason: format!(
                    "format {} with {} hashes; this build reads format {STORE_FORMAT} with blake3",
                    meta.format, meta.hash
                ),
            });
        }
        let lock_name = take_lock(&client, &url, access)?;
        let mut store = S3Store {
            client,
            url,
            block_size: meta.block_size,
            compressors: if compression { Compressors::new() } else { None },
            lock_name,
            packs: Vec::new(),
            index: HashMap::new(),
            pending: HashSet::new(),
            open: None,
            uploading: VecDeque::new(),
            windows: VecDeque::new(),
        };
        if let Err(error) = store.load_index() {
            let _ = store.client.delete(&store.lock_name);
            store.lock_name.clear();
            return Err(error);
        }
        Ok(store)
    }

    /// Sealed pack names (those with an index), sorted, and every object under `packs/`.
    fn pack_objects(&self) -> Result<(Vec<String>, Vec<crate::s3::Listed>)> {
        let listed = self.client.list("packs/", None).map_err(|e| remote(&self.url, &e))?;
        let mut sealed: Vec<String> = listed
            .iter()
            .filter_map(|l| l.name.strip_prefix("packs/")?.strip_suffix(".idx").map(str::to_owned))
            .collect();
        sealed.sort();
        Ok((sealed, listed))
    }

    fn read_indexes(&self, names: &[String]) -> Result<Vec<PackIndex>> {
        let keys: Vec<String> = names.iter().map(|n| format!("packs/{n}.idx")).collect();
        let bodies = self
            .client
            .for_each_parallel(keys.clone(), PARALLEL_READS, |client, key| async move {
                client.get_async(&key).await
            })
            .map_err(|e| remote(&self.url, &e))?;
        keys.iter()
            .zip(bodies)
            .map(|(key, body)| {
                let body = body.ok_or_else(|| BackupError::NotAStore {
                    path: PathBuf::from(&self.url),
                    reason: format!("the pack index `{key}` vanished while being read"),
                })?;
                serde_json::from_slice(&body).map_err(|e| BackupError::NotAStore {
                    path: PathBuf::from(&self.url),
                    reason: format!("the pack index `{key}` is unreadable: {e}"),
                })
            })
            .collect()
    }

    fn load_index(&mut self) -> Result<()> {
        let (names, _) = self.pack_objects()?;
        let indexes = self.read_indexes(&names)?;
        for (name, index) in names.into_iter().zip(indexes) {
            self.add_sealed(name, index.entries);
        }
        Ok(())
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

    /// Starts uploading the open pack on another thread; waits for the oldest upload when
    /// [`PACKS_IN_FLIGHT`] are under way.
    fn upload_in_background(&mut self) -> Result<()> {
        let Some(open) = self.open.take() else { return Ok(()) };
        while self.uploading.len() >= PACKS_IN_FLIGHT {
            self.finish_oldest()?;
        }
        let client = self.client.clone();
        let url = self.url.clone();
        let (sender, receiver) = mpsc::sync_channel(1);
        std::thread::spawn(move || {
            let _ = sender.send(upload_pack(&client, &url, open));
        });
        self.uploading.push_back(receiver);
        Ok(())
    }

    fn finish_oldest(&mut self) -> Result<()> {
        let Some(receiver) = self.uploading.pop_front() else {
            return Ok(());
        };
        let sealed = receiver.recv().unwrap_or_else(|_| {
            Err(BackupError::Remote {
                store: self.url.clone(),
                message: "a pack upload stopped without a result".to_owned(),
                hint: String::new(),
            })
        });
        let (name, entries) = sealed?;
        self.add_sealed(name, entries);
        Ok(())
    }

    fn manifest_name(&self, id: &str) -> Result<String> {
        if !valid_id(id) {
            return Err(BackupError::NotFound {
                id: id.to_owned(),
                path: PathBuf::from(&self.url),
            });
        }
        Ok(format!("backups/{id}.json"))
    }

    /// The bytes `start..end` of pack `pack`, from a window read for it.
    fn pack_bytes(&mut self, pack: u32, start: u64, end: u64) -> Result<std::result::Result<Bytes, String>> {
        let name = format!("packs/{}.pack", self.packs[pack as usize]);
        let window = start / READ_WINDOW_BYTES;
        if end > (window + 1) * READ_WINDOW_BYTES {
            // A record across two windows: read it on its own.
            return match self.client.get_range(&name, start..end) {
                Ok(bytes) if bytes.len() as u64 == end - start => Ok(Ok(bytes)),
                Ok(_) => Ok(Err(format!("the pack `{name}` is truncated"))),
                Err(error) if error.message.contains("not found") || error.message.contains("NoSuchKey") => {
                    Ok(Err(format!("the pack `{name}` is missing")))
                }
                Err(error) => Err(remote(&self.url, &error)),
            };
        }
        let cached = self
            .windows
            .iter()
            .find(|(key, _)| *key == (pack, window))
            .map(|(_, b)| b.clone());
        let bytes = if let Some(bytes) = cached {
            bytes
        } else {
            let from = window * READ_WINDOW_BYTES;
            let bytes = match self.read_window(&name, from)? {
                Ok(bytes) => bytes,
                Err(reason) => return Ok(Err(reason)),
            };
            if self.windows.len() >= WINDOWS_KEPT {
                self.windows.pop_front();
            }
            self.windows.push_back(((pack, window), bytes.clone()));
            bytes
        };
        let from = window * READ_WINDOW_BYTES;
        let (a, b) = (
            usize::try_from(start - from).unwrap_or(usize::MAX),
            usize::try_from(end - from).unwrap_or(usize::MAX),
        );
        if b > bytes.len() {
            return Ok(Err(format!("the pack `{name}` is truncated")));
        }
        Ok(Ok(bytes.slice(a..b)))
    }

    fn read_window(&self, name: &str, from: u64) -> Result<std::result::Result<Bytes, String>> {
        let Some(size) = self.client.head(name).map_err(|e| remote(&self.url, &e))? else {
            return Ok(Err(format!("the pack `{name}` is missing")));
        };
        if from >= size {
            return Ok(Err(format!("the pack `{name}` is truncated")));
        }
        let to = (from + READ_WINDOW_BYTES).min(size);
        self.client
            .get_range(name, from..to)
            .map(Ok)
            .map_err(|e| remote(&self.url, &e))
    }

    fn release_lock(&mut self) {
        if !self.lock_name.is_empty() {
            let _ = self.client.delete(&self.lock_name);
            self.lock_name.clear();
        }
    }
}

/// Uploads a pack, then its index; on failure removes what it wrote.
fn upload_pack(client: &S3Client, url: &str, open: OpenPack) -> Sealed {
    let pack_name = format!("packs/{}.pack", open.name);
    let bytes = Bytes::from(open.bytes);
    let parts: Vec<Bytes> = (0..bytes.len())
        .step_by(PART_BYTES)
        .map(|at| bytes.slice(at..(at + PART_BYTES).min(bytes.len())))
        .collect();
    let uploaded = if parts.len() > 1 {
        client.put_multipart(&pack_name, parts, PARALLEL_PARTS)
    } else {
        client.put(&pack_name, bytes)
    };
    uploaded.map_err(|e| remote(url, &e))?;
    let index = PackIndex {
        format: STORE_FORMAT,
        entries: open.entries,
    };
    let text = serde_json::to_vec(&index).unwrap_or_default();
    if let Err(error) = client.put(&format!("packs/{}.idx", open.name), Bytes::from(text)) {
        // A pack without its index is read by nobody.
        let _ = client.delete(&pack_name);
        return Err(remote(url, &error));
    }
    Ok((open.name, index.entries))
}

/// Takes the store lock: a shared marker of its own, or the exclusive one.
fn take_lock(client: &S3Client, url: &str, access: Access) -> Result<String> {
    let holder = serde_json::to_vec(&Holder::this_process()).unwrap_or_default();
    let busy = || BackupError::Busy {
        path: PathBuf::from(url),
    };
    // Markers of processes of this host that are gone are removed; others count.
    let live = |prefix: &str| -> Result<Vec<String>> {
        let mut live = Vec::new();
        for listed in client.list("locks/", None).map_err(|e| remote(url, &e))? {
            if !listed.name.starts_with(prefix) {
                continue;
            }
            let holder = client
                .get(&listed.name)
                .map_err(|e| remote(url, &e))?
                .and_then(|b| serde_json::from_slice::<Holder>(&b).ok());
            if holder.is_some_and(|h| h.is_gone()) {
                let _ = client.delete(&listed.name);
            } else {
                live.push(listed.name);
            }
        }
        Ok(live)
    };
    match access {
        Access::Shared => {
            let name = format!("locks/shared-{}.json", uuid::Uuid::new_v4().simple());
            client.put(&name, Bytes::from(holder)).map_err(|e| remote(url, &e))?;
            // Wait (like the directory store's shared lock) while gc runs.
            let started = std::time::Instant::now();
            loop {
                if live("locks/exclusive")?.is_empty() {
                    return Ok(name);
                }
                if started.elapsed() > std::time::Duration::from_secs(600) {
                    let _ = client.delete(&name);
                    return Err(busy());
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        }
        Access::Exclusive => {
            let name = "locks/exclusive.json".to_owned();
            loop {
                match client
                    .create(&name, Bytes::from(holder.clone()))
                    .map_err(|e| remote(url, &e))?
                {
                    Created::Written => break,
                    Created::Exists => {
                        if live("locks/exclusive")?.is_empty() {
                            continue;
                        }
                        return Err(busy());
                    }
                }
            }
            if !live("locks/shared-")?.is_empty() {
                let _ = client.delete(&name);
                return Err(busy());
            }
            Ok(name)
        }
    }
}

impl BackupStore for S3Store {
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
        let open = self.open.get_or_insert_with(|| {
            let mut bytes = Vec::with_capacity(usize::try_from(PACK_LIMIT_BYTES).unwrap_or(0) + (1 << 20));
            bytes.extend_from_slice(PACK_MAGIC);
            OpenPack {
                name: uuid::Uuid::new_v4().simple().to_string(),
                bytes,
                entries: Vec::new(),
            }
        });
        let raw = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let stored = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        let offset = open.bytes.len() as u64;
        open.bytes.extend_from_slice(&hash);
        open.bytes.push(flags);
        open.bytes.extend_from_slice(&raw.to_le_bytes());
        open.bytes.extend_from_slice(&stored.to_le_bytes());
        open.bytes.extend_from_slice(bytes);
        open.entries.push(IndexEntry(hash, offset, stored, raw, flags));
        self.pending.insert(hash);
        if open.bytes.len() as u64 >= PACK_LIMIT_BYTES {
            self.upload_in_background()?;
        }
        Ok(RECORD_HEADER_BYTES + u64::from(stored))
    }

    fn discard_unsealed(&mut self) {
        while !self.uploading.is_empty() {
            // An upload that finished is `gc`'s; one that failed removed its own objects.
            let _ = self.finish_oldest();
        }
        if let Some(open) = self.open.take() {
            for IndexEntry(hash, ..) in &open.entries {
                self.pending.remove(hash);
            }
        }
    }

    fn seal(&mut self) -> Result<()> {
        self.upload_in_background()?;
        let mut first_error = None;
        while !self.uploading.is_empty() {
            if let Err(error) = self.finish_oldest() {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn read_block(&mut self, hash: &[u8; 32]) -> Result<std::result::Result<Vec<u8>, String>> {
        let Some(location) = self.index.get(hash).copied() else {
            return Ok(Err("its block is missing from the store".to_owned()));
        };
        let name = self.packs[location.pack as usize].clone();
        let end = location.offset + RECORD_HEADER_BYTES + u64::from(location.stored);
        let record = match self.pack_bytes(location.pack, location.offset, end)? {
            Ok(record) => record,
            Err(reason) => return Ok(Err(reason)),
        };
        Ok(open_record(&record, hash, &location, &name))
    }

    fn has_backup(&self, id: &str) -> bool {
        self.manifest_name(id)
            .ok()
            .and_then(|name| self.client.head(&name).ok())
            .flatten()
            .is_some()
    }

    fn manifest(&self, id: &str) -> Result<Manifest> {
        let name = self.manifest_name(id)?;
        let Some(bytes) = self.client.get(&name).map_err(|e| remote(&self.url, &e))? else {
            return Err(BackupError::NotFound {
                id: id.to_owned(),
                path: PathBuf::from(&self.url),
            });
        };
        parse_manifest(&self.url, &name, id, &bytes)
    }

    fn manifests(&self) -> Result<Vec<Manifest>> {
        let names: Vec<String> = self
            .client
            .list("backups/", None)
            .map_err(|e| remote(&self.url, &e))?
            .into_iter()
            .map(|l| l.name)
            .filter(|name| {
                name.strip_prefix("backups/")
                    .and_then(|n| n.strip_suffix(".json"))
                    .is_some_and(valid_id)
            })
            .collect();
        let bodies = self
            .client
            .for_each_parallel(names.clone(), PARALLEL_READS, |client, name| async move {
                client.get_async(&name).await
            })
            .map_err(|e| remote(&self.url, &e))?;
        let mut manifests = Vec::new();
        for (name, body) in names.iter().zip(bodies) {
            // Deleted meanwhile.
            let Some(body) = body else { continue };
            let id = name
                .strip_prefix("backups/")
                .and_then(|n| n.strip_suffix(".json"))
                .unwrap_or_default();
            manifests.push(parse_manifest(&self.url, name, id, &body)?);
        }
        manifests.sort_by(|a, b| (a.sequence, a.created_at, &a.id).cmp(&(b.sequence, b.created_at, &b.id)));
        order_parents_first(&mut manifests);
        Ok(manifests)
    }

    fn write_manifest(&mut self, manifest: &Manifest) -> Result<()> {
        self.seal()?;
        let name = self.manifest_name(&manifest.id)?;
        let text = serde_json::to_vec(manifest).unwrap_or_default();
        self.client
            .put(&name, Bytes::from(text))
            .map_err(|e| remote(&self.url, &e))
    }

    fn delete(&self, id: &str) -> Result<()> {
        let name = self.manifest_name(id)?;
        if !self.has_backup(id) {
            return Ok(());
        }
        let manifests = self.manifests()?;
        if let Some(child) = manifests.iter().rev().find(|m| m.parent.as_deref() == Some(id)) {
            return Err(BackupError::HasChildren {
                id: id.to_owned(),
                child: child.id.clone(),
            });
        }
        self.client.delete(&name).map_err(|e| remote(&self.url, &e))
    }

    fn stats(&self) -> Result<StoreStats> {
        let (_, listed) = self.pack_objects()?;
        let sealed: HashSet<&str> = self.packs.iter().map(String::as_str).collect();
        let pack_bytes = listed
            .iter()
            .filter(|l| {
                l.name
                    .strip_prefix("packs/")
                    .and_then(|n| n.strip_suffix(".pack"))
                    .is_some_and(|stem| sealed.contains(stem))
            })
            .map(|l| l.size)
            .sum();
        Ok(StoreStats {
            blocks: self.index.len(),
            pack_bytes,
        })
    }

    // Crash-safe like the directory store's: a pack's index is removed before its pack, and a
    // rewritten pack is sealed before the old one goes.
    fn gc(&mut self) -> Result<GcReport> {
        self.seal()?;
        let referenced: HashSet<[u8; 32]> = self
            .manifests()?
            .iter()
            .flat_map(|m| m.blocks.iter().map(|b| b.hash))
            .collect();
        let mut report = GcReport::default();
        let (sealed, listed) = self.pack_objects()?;
        let sealed_set: HashSet<&str> = sealed.iter().map(String::as_str).collect();
        // Packs of interrupted backups: uploaded but never indexed.
        for object in &listed {
            let orphan = object
                .name
                .strip_prefix("packs/")
                .and_then(|n| n.strip_suffix(".pack"))
                .is_some_and(|stem| !sealed_set.contains(stem));
            if orphan {
                report.bytes_freed += object.size;
                self.client.delete(&object.name).map_err(|e| remote(&self.url, &e))?;
            }
        }
        let sizes: HashMap<&str, u64> = listed.iter().map(|l| (l.name.as_str(), l.size)).collect();
        let indexes = self.read_indexes(&sealed)?;
        for (name, index) in sealed.iter().zip(indexes) {
            let live: Vec<&IndexEntry> = index.entries.iter().filter(|e| referenced.contains(&e.0)).collect();
            let dead = index.entries.len() - live.len();
            if dead == 0 {
                continue;
            }
            let pack_name = format!("packs/{name}.pack");
            let pack_bytes = sizes.get(pack_name.as_str()).copied().unwrap_or(0);
            let live_bytes: u64 = live.iter().map(|e| RECORD_HEADER_BYTES + u64::from(e.2)).sum();
            // Rewrite only when at least a quarter of the pack is garbage.
            if !live.is_empty() && live_bytes * 4 > pack_bytes * 3 {
                continue;
            }
            if live.is_empty() {
                report.packs_deleted += 1;
            } else {
                let bytes = self
                    .client
                    .get(&pack_name)
                    .map_err(|e| remote(&self.url, &e))?
                    .unwrap_or_default();
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
            self.client
                .delete(&format!("packs/{name}.idx"))
                .map_err(|e| remote(&self.url, &e))?;
            self.client.delete(&pack_name).map_err(|e| remote(&self.url, &e))?;
            report.bytes_freed += pack_bytes;
        }
        // Reload: pack numbers changed.
        self.packs.clear();
        self.index.clear();
        self.windows.clear();
        self.load_index()?;
        Ok(report)
    }
}

impl Drop for S3Store {
    /// A pack still being filled holds blocks no manifest can refer to: it is dropped, uploads
    /// under way are waited for (a finished one is `gc`'s), and the lock is let go.
    fn drop(&mut self) {
        self.discard_unsealed();
        self.release_lock();
    }
}

fn parse_manifest(url: &str, name: &str, id: &str, bytes: &[u8]) -> Result<Manifest> {
    let path = PathBuf::from(format!("{url}/{name}"));
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| BackupError::BadManifest {
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
