//! The embedded [`Store`]: a sled database (default `.blockform/state`) with one tree per
//! record kind — `meta`, `resources` (address → instance), `intents` (id → intent), `outputs`
//! (name → value) — holding JSON values. A commit is one sled transaction across the trees
//! followed by a flush, so its cost depends on what it changes, not on the size of the state.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::records::{FORMAT_VERSION, Intent, Meta, OutputState, ResourceState, StateDocument};
use super::store::{
    Commit, Owners, StateError, Store, check_format_version, check_serial, check_unique_addresses, check_unique_owners,
    sort_intents,
};

/// The key of the one record in the `meta` tree.
const META_KEY: &str = "meta";

/// A state in a sled database on disk.
pub struct SledStore {
    path: PathBuf,
    location: String,
    db: sled::Db,
    meta: sled::Tree,
    resources: sled::Tree,
    intents: sled::Tree,
    outputs: sled::Tree,
    /// Serializes writers in this process. Replacing all outputs needs the current keys, which
    /// a sled transaction cannot list, so they are read just before it under this lock (other
    /// processes are kept out by sled's own file lock). It also holds which address owns each
    /// back-end object, read at the first commit and kept up to date by every commit after it.
    writer: Mutex<Option<Owners>>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SledStore {
    /// Whether a state database exists at `path`, complete or not: a non-empty directory
    /// (opening one creates it; this does not). An incomplete one must not be read as no state.
    pub fn exists(path: &Path) -> bool {
        path.join("db").is_file() || std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some())
    }

    /// Refuses a database directory without its `db` file: sled would open it as an empty
    /// state (or fail later with its own "Read corrupted data"), and an empty state plans to
    /// create every object again.
    fn check_complete(path: &Path, location: &str) -> Result<(), StateError> {
        let Ok(entries) = std::fs::read_dir(path) else {
            return Ok(());
        };
        let mut found: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        if found.is_empty() || found.iter().any(|name| name == "db") {
            return Ok(());
        }
        found.sort();
        let shown: Vec<String> = found.iter().take(5).map(|name| format!("`{name}`")).collect();
        let mut shown = shown.join(", ");
        if found.len() > 5 {
            shown.push_str(", …");
        }
        Err(StateError::Incomplete {
            location: location.to_owned(),
            found: shown,
        })
    }

    /// Opens the state at `path`, creating the directories and a new state (fresh lineage,
    /// serial 0) if there is none.
    pub fn open(path: &Path) -> Result<SledStore, StateError> {
        let location = path.display().to_string();
        if path.is_file() {
            return Err(StateError::NotADatabase { location });
        }
        SledStore::check_complete(path, &location)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StateError::CreateDir {
                location: parent.display().to_string(),
                source,
            })?;
        }
        let db = sled::Config::new()
            .path(path)
            .open()
            .map_err(|e| storage_error(&location, &e))?;
        let tree = |name: &str| db.open_tree(name).map_err(|e| storage_error(&location, &e));
        let store = SledStore {
            meta: tree("meta")?,
            resources: tree("resources")?,
            intents: tree("intents")?,
            outputs: tree("outputs")?,
            db,
            path: path.to_owned(),
            location,
            writer: Mutex::new(None),
        };
        store.initialize()?;
        Ok(store)
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks the meta record, or writes a new one into a new database.
    fn initialize(&self) -> Result<(), StateError> {
        if let Some(bytes) = self.meta.get(META_KEY).map_err(|e| self.storage(&e))? {
            decode_meta(&self.location, &bytes)?;
            return Ok(());
        }
        let holds_records = [&self.resources, &self.intents, &self.outputs]
            .iter()
            .any(|tree| !tree.is_empty());
        if holds_records {
            return Err(StateError::Corrupt {
                location: self.location.clone(),
                key: format!("meta/{META_KEY}"),
                reason: "the record is missing, but the state holds resources".to_owned(),
            });
        }
        let meta = Meta {
            format_version: FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
        };
        let bytes = encode("meta", META_KEY, &meta)?;
        self.meta.insert(META_KEY, bytes).map_err(|e| self.storage(&e))?;
        self.flush()
    }

    fn storage(&self, error: &sled::Error) -> StateError {
        storage_error(&self.location, error)
    }

    fn flush(&self) -> Result<(), StateError> {
        self.db.flush().map(drop).map_err(|e| self.storage(&e))
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Option<Owners>> {
        // The owners are replaced only after a commit succeeded, so a panic elsewhere while
        // holding the guard leaves nothing inconsistent.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every record of `tree`, decoded, in key order.
    fn scan<T: DeserializeOwned>(&self, tree: &sled::Tree, name: &str) -> Result<Vec<T>, StateError> {
        tree.iter()
            .map(|entry| {
                let (key, value) = entry.map_err(|e| self.storage(&e))?;
                decode(&self.location, name, &key, &value)
            })
            .collect()
    }

    /// The keys of `tree`.
    fn keys(&self, tree: &sled::Tree) -> Result<Vec<sled::IVec>, StateError> {
        tree.iter().keys().map(|k| k.map_err(|e| self.storage(&e))).collect()
    }

    /// Runs one transaction across the four trees, then flushes.
    fn transact<T>(
        &self,
        body: impl Fn(&Trees) -> Result<T, ConflictableTransactionError<StateError>>,
    ) -> Result<T, StateError> {
        let result = (&self.meta, &self.resources, &self.intents, &self.outputs).transaction(
            |(meta, resources, intents, outputs)| {
                body(&Trees {
                    meta,
                    resources,
                    intents,
                    outputs,
                })
            },
        );
        let value = result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => self.storage(&e),
        })?;
        self.flush()?;
        Ok(value)
    }

    /// Applies `commit` in one transaction, if the state is still at `expected` when one is
    /// given (checked inside the transaction, so nothing is written when it is not).
    fn write(&self, expected: Option<u64>, commit: &Commit) -> Result<u64, StateError> {
        let mut writer = self.writer();
        if commit.is_empty() {
            let serial = self.meta()?.serial;
            check_serial(&self.location, expected, serial)?;
            return Ok(serial);
        }
        if writer.is_none() {
            *writer = Some(Owners::of(&self.resources()?));
        }
        if let Some(owners) = writer.as_ref() {
            owners.check(commit)?;
        }
        let puts = encode_all("resources", commit.put.iter().map(|r| (r.address.as_str(), r)))?;
        let intents = encode_all("intents", commit.put_intents.iter().map(|i| (i.id.as_str(), i)))?;
        let outputs = match &commit.outputs {
            Some(outputs) => Some((
                self.keys(&self.outputs)?,
                encode_all("outputs", outputs.iter().map(|(name, o)| (name.as_str(), o)))?,
            )),
            None => None,
        };
        self.transact(|trees| {
            let mut meta = read_meta(&self.location, trees.meta)?;
            check_serial(&self.location, expected, meta.serial).map_err(ConflictableTransactionError::Abort)?;
            for address in &commit.remove {
                trees.resources.remove(address.as_str())?;
            }
            for (address, bytes) in &puts {
                trees.resources.insert(address.as_str(), bytes.as_slice())?;
            }
            for id in &commit.remove_intents {
                trees.intents.remove(id.as_str())?;
            }
            for (id, bytes) in &intents {
                trees.intents.insert(id.as_str(), bytes.as_slice())?;
            }
            if let Some((old, new)) = &outputs {
                for name in old {
                    trees.outputs.remove(name)?;
                }
                for (name, bytes) in new {
                    trees.outputs.insert(name.as_str(), bytes.as_slice())?;
                }
            }
            meta.serial = meta.serial.saturating_add(1);
            let bytes = encode("meta", META_KEY, &meta).map_err(ConflictableTransactionError::Abort)?;
            trees.meta.insert(META_KEY, bytes)?;
            Ok(meta.serial)
        })
        .inspect(|_| {
            if let Some(owners) = writer.as_mut() {
                owners.apply(commit);
            }
        })
    }
}

/// The four trees inside a transaction.
struct Trees<'a> {
    meta: &'a sled::transaction::TransactionalTree,
    resources: &'a sled::transaction::TransactionalTree,
    intents: &'a sled::transaction::TransactionalTree,
    outputs: &'a sled::transaction::TransactionalTree,
}

impl Store for SledStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn meta(&self) -> Result<Meta, StateError> {
        match self.meta.get(META_KEY).map_err(|e| self.storage(&e))? {
            Some(bytes) => decode_meta(&self.location, &bytes),
            None => Err(StateError::Corrupt {
                location: self.location.clone(),
                key: format!("meta/{META_KEY}"),
                reason: "the record is missing".to_owned(),
            }),
        }
    }

    fn resources(&self) -> Result<Vec<ResourceState>, StateError> {
        self.scan(&self.resources, "resources")
    }

    fn resource(&self, address: &str) -> Result<Option<ResourceState>, StateError> {
        self.resources
            .get(address)
            .map_err(|e| self.storage(&e))?
            .map(|bytes| decode(&self.location, "resources", address.as_bytes(), &bytes))
            .transpose()
    }

    fn intents(&self) -> Result<Vec<Intent>, StateError> {
        let mut intents: Vec<Intent> = self.scan(&self.intents, "intents")?;
        sort_intents(&mut intents);
        Ok(intents)
    }

    fn outputs(&self) -> Result<BTreeMap<String, OutputState>, StateError> {
        self.outputs
            .iter()
            .map(|entry| {
                let (key, value) = entry.map_err(|e| self.storage(&e))?;
                let output = decode(&self.location, "outputs", &key, &value)?;
                Ok((String::from_utf8_lossy(&key).into_owned(), output))
            })
            .collect()
    }

    fn commit(&self, commit: &Commit) -> Result<u64, StateError> {
        self.write(None, commit)
    }

    fn commit_at(&self, expected_serial: u64, commit: &Commit) -> Result<u64, StateError> {
        self.write(Some(expected_serial), commit)
    }

    fn export(&self) -> Result<StateDocument, StateError> {
        // Holding the writer lock makes the four reads one consistent picture.
        let _writer = self.writer();
        Ok(StateDocument {
            meta: self.meta()?,
            resources: self.resources()?,
            intents: self.intents()?,
            outputs: self.outputs()?,
        })
    }

    fn replace_all(&self, document: &StateDocument) -> Result<(), StateError> {
        check_format_version(&self.location, document.meta.format_version)?;
        check_unique_addresses(document)?;
        check_unique_owners(document)?;
        let mut writer = self.writer();
        let meta = encode(
            "meta",
            META_KEY,
            &Meta {
                format_version: FORMAT_VERSION,
                ..document.meta.clone()
            },
        )?;
        let resources = encode_all("resources", document.resources.iter().map(|r| (r.address.as_str(), r)))?;
        let intents = encode_all("intents", document.intents.iter().map(|i| (i.id.as_str(), i)))?;
        let outputs = encode_all("outputs", document.outputs.iter().map(|(name, o)| (name.as_str(), o)))?;
        let old = [
            self.keys(&self.resources)?,
            self.keys(&self.intents)?,
            self.keys(&self.outputs)?,
        ];
        self.transact(|trees| {
            let [old_resources, old_intents, old_outputs] = &old;
            for (tree, old, new) in [
                (trees.resources, old_resources, &resources),
                (trees.intents, old_intents, &intents),
                (trees.outputs, old_outputs, &outputs),
            ] {
                let kept: BTreeSet<&[u8]> = new.iter().map(|(key, _)| key.as_bytes()).collect();
                for key in old.iter().filter(|key| !kept.contains(key.as_ref())) {
                    tree.remove(key)?;
                }
                for (key, bytes) in new {
                    tree.insert(key.as_str(), bytes.as_slice())?;
                }
            }
            trees.meta.insert(META_KEY, meta.as_slice())?;
            Ok(())
        })?;
        *writer = Some(Owners::of(&document.resources));
        Ok(())
    }
}

/// Maps a sled error to one that names the database; sled's own "could not acquire lock"
/// becomes [`StateError::InUse`].
fn storage_error(location: &str, error: &sled::Error) -> StateError {
    if let sled::Error::Io(io) = error
        && io.to_string().contains("could not acquire lock")
    {
        return StateError::InUse {
            location: location.to_owned(),
        };
    }
    if let sled::Error::Corruption { at, .. } = error {
        return StateError::Damaged {
            location: location.to_owned(),
            detail: match at {
                Some(at) => format!("sled found damaged data at {at}"),
                None => "sled found damaged data".to_owned(),
            },
        };
    }
    StateError::Storage {
        location: location.to_owned(),
        message: error.to_string(),
    }
}

/// Reads the meta record inside a transaction.
fn read_meta(
    location: &str,
    tree: &sled::transaction::TransactionalTree,
) -> Result<Meta, ConflictableTransactionError<StateError>> {
    match tree.get(META_KEY)? {
        Some(bytes) => decode_meta(location, &bytes).map_err(ConflictableTransactionError::Abort),
        None => Err(ConflictableTransactionError::Abort(StateError::Corrupt {
            location: location.to_owned(),
            key: format!("meta/{META_KEY}"),
            reason: "the record is missing".to_owned(),
        })),
    }
}

/// Decodes the meta record, refusing a newer format before reading anything else of it.
fn decode_meta(location: &str, bytes: &[u8]) -> Result<Meta, StateError> {
    let corrupt = |reason: String| StateError::Corrupt {
        location: location.to_owned(),
        key: format!("meta/{META_KEY}"),
        reason,
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    let version = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| corrupt("it has no `format_version`".to_owned()))?;
    check_format_version(location, u32::try_from(version).unwrap_or(u32::MAX))?;
    serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(location: &str, tree: &str, key: &[u8], bytes: &[u8]) -> Result<T, StateError> {
    serde_json::from_slice(bytes).map_err(|e| StateError::Corrupt {
        location: location.to_owned(),
        key: format!("{tree}/{}", String::from_utf8_lossy(key)),
        reason: e.to_string(),
    })
}

fn encode<T: Serialize>(tree: &str, key: &str, value: &T) -> Result<Vec<u8>, StateError> {
    serde_json::to_vec(value).map_err(|e| StateError::Encode {
        key: format!("{tree}/{key}"),
        reason: e.to_string(),
    })
}

fn encode_all<'a, T: Serialize + 'a>(
    tree: &str,
    records: impl Iterator<Item = (&'a str, &'a T)>,
) -> Result<Vec<(String, Vec<u8>)>, StateError> {
    records
        .map(|(key, value)| Ok((key.to_owned(), encode(tree, key, value)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::scratch::ScratchDir;
    use crate::state::store::conformance::resource;

    /// A store in its own scratch directory, removed after the store is closed.
    struct Scratch {
        store: SledStore,
        _dir: ScratchDir,
    }

    impl std::ops::Deref for Scratch {
        type Target = SledStore;
        fn deref(&self) -> &SledStore {
            &self.store
        }
    }

    fn scratch() -> Scratch {
        let dir = ScratchDir::new("sled");
        Scratch {
            store: SledStore::open(&dir.path().join(".blockform/state")).unwrap(),
            _dir: dir,
        }
    }

    crate::state::store::store_conformance_tests!(scratch());

    fn put(address: &str, size_gib: u64) -> Commit {
        Commit {
            put: vec![resource(address, size_gib)],
            ..Commit::default()
        }
    }

    #[test]
    fn opening_creates_the_directories_and_a_new_lineage() {
        let dir = ScratchDir::new("sled-create");
        let path = dir.path().join("nested/.blockform/state");
        assert!(!SledStore::exists(&path));
        let store = SledStore::open(&path).unwrap();
        assert!(SledStore::exists(&path));
        let meta = store.meta().unwrap();
        assert_eq!((meta.format_version, meta.serial), (FORMAT_VERSION, 0));
        assert!(uuid::Uuid::parse_str(&meta.lineage).is_ok(), "{}", meta.lineage);
    }

    #[test]
    fn a_reopened_state_has_everything_committed() {
        let dir = ScratchDir::new("sled-reopen");
        let path = dir.path().join("state");
        let lineage = {
            let store = SledStore::open(&path).unwrap();
            store.commit(&put("volume.db", 10)).unwrap();
            store.commit(&put("volume.logs", 5)).unwrap();
            store.meta().unwrap().lineage
        };
        let store = reopen(&path);
        let meta = store.meta().unwrap();
        assert_eq!((meta.lineage, meta.serial), (lineage, 2));
        assert_eq!(store.resource("volume.db").unwrap(), Some(resource("volume.db", 10)));
        assert_eq!(store.resources().unwrap().len(), 2);
    }

    #[test]
    fn ten_thousand_commits_each_bump_the_serial() {
        let store = scratch();
        for i in 0..10_000_u64 {
            assert_eq!(store.commit(&put(&format!("volume.v{i}"), i)).unwrap(), i + 1);
        }
        assert_eq!(store.resources().unwrap().len(), 10_000);
        assert_eq!(
            store.resource("volume.v9999").unwrap(),
            Some(resource("volume.v9999", 9999))
        );
    }

    #[test]
    fn commits_from_many_threads_are_all_kept() {
        let store = scratch();
        std::thread::scope(|s| {
            for t in 0..4 {
                let store = &*store;
                s.spawn(move || {
                    for i in 0..50 {
                        store.commit(&put(&format!("volume.t{t}_{i}"), i)).unwrap();
                    }
                });
            }
        });
        assert_eq!(store.meta().unwrap().serial, 200);
        assert_eq!(store.resources().unwrap().len(), 200);
    }

    #[test]
    fn a_second_open_is_refused_with_a_clear_message() {
        let store = scratch();
        let error = SledStore::open(store.path()).unwrap_err();
        assert!(matches!(error, StateError::InUse { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "the state database `{}` is in use by another process;",
                store.path().display()
            )),
            "{message}"
        );
        assert!(message.contains("--lock=false"), "{message}");
    }

    #[test]
    fn a_file_where_the_state_should_be_is_refused() {
        let dir = ScratchDir::new("sled-file");
        let path = dir.path().join("state");
        std::fs::write(&path, "not a database").unwrap();
        let error = SledStore::open(&path).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("`{}` is not a state database: it is a file", path.display())
        );
    }

    /// Writes `value` under `key` of `tree` behind the store's back.
    /// Opens a state a handle of this process has just dropped: sled releases its file lock
    /// once its background flusher stops, a moment later.
    fn reopen(path: &Path) -> SledStore {
        let started = std::time::Instant::now();
        loop {
            match SledStore::open(path) {
                Err(StateError::InUse { .. }) if started.elapsed() < std::time::Duration::from_secs(10) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other.unwrap(),
            }
        }
    }

    /// Like [`reopen`], for a state that must fail to open.
    fn reopen_err(path: &Path) -> StateError {
        let started = std::time::Instant::now();
        loop {
            match SledStore::open(path) {
                Err(StateError::InUse { .. }) if started.elapsed() < std::time::Duration::from_secs(10) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(error) => return error,
                Ok(_) => panic!("`{}` opened", path.display()),
            }
        }
    }

    fn tamper(path: &Path, tree: &str, key: &str, value: &[u8]) {
        let started = std::time::Instant::now();
        let db = loop {
            match sled::open(path) {
                Err(_) if started.elapsed() < std::time::Duration::from_secs(10) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other.unwrap(),
            }
        };
        db.open_tree(tree).unwrap().insert(key, value).unwrap();
        db.flush().unwrap();
    }

    #[test]
    fn a_corrupt_record_is_named() {
        let dir = ScratchDir::new("sled-corrupt");
        let path = dir.path().join("state");
        SledStore::open(&path).unwrap().commit(&put("volume.db", 1)).unwrap();
        tamper(&path, "resources", "volume.bad", b"{\"address\": 7}");
        let store = reopen(&path);
        let error = store.resources().unwrap_err();
        assert!(
            matches!(&error, StateError::Corrupt { key, .. } if key == "resources/volume.bad"),
            "{error:?}"
        );
        assert!(
            error.to_string().starts_with(&format!(
                "the state record `resources/volume.bad` in `{}` is corrupt: ",
                path.display()
            )),
            "{error}"
        );
        assert_eq!(store.resource("volume.db").unwrap(), Some(resource("volume.db", 1)));
    }

    #[test]
    fn a_newer_format_is_refused_with_a_hint() {
        let dir = ScratchDir::new("sled-newer");
        let path = dir.path().join("state");
        drop(SledStore::open(&path).unwrap());
        tamper(
            &path,
            "meta",
            META_KEY,
            br#"{"format_version": 99, "lineage": "x", "serial": 3, "new_field": true}"#,
        );
        let error = reopen_err(&path);
        assert_eq!(
            error.to_string(),
            format!(
                "the state `{}` has format version 99, but this blockform reads versions up to {FORMAT_VERSION}; \
                 upgrade blockform to use it",
                path.display()
            )
        );
    }

    #[test]
    fn a_database_without_its_db_file_is_refused_not_read_as_empty() {
        let dir = ScratchDir::new("sled-incomplete");
        let path = dir.path().join("state");
        SledStore::open(&path).unwrap().commit(&put("volume.db", 1)).unwrap();
        // Wait until sled has let go of the files, then lose the records.
        drop(reopen(&path));
        std::fs::remove_file(path.join("db")).unwrap();
        assert!(SledStore::exists(&path), "an incomplete database still exists");
        let error = reopen_err(&path);
        assert!(matches!(error, StateError::Incomplete { .. }), "{error:?}");
        let location = path.display();
        let message = error.with_hint();
        assert!(
            message.starts_with(&format!(
                "the state database `{location}` is incomplete: its `db` file is missing (the directory holds only \
                 `blobs`, `conf`"
            )),
            "{message}"
        );
        assert!(
            message.ends_with(&format!(
                "); blockform will not read it as an empty state\n  help: if you have a copy from `blockform state \
                 pull`, move `{location}` aside and run `blockform state push COPY`; without one, move it aside and \
                 adopt the existing objects with `blockform import` (`blockform drift` lists them, `owned` ones carry \
                 their address)"
            )),
            "{message}"
        );
        assert!(!path.join("db").exists(), "refusing it wrote nothing");
        // An empty directory is no state at all, and opening it makes a new one.
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(!SledStore::exists(&empty));
        assert_eq!(SledStore::open(&empty).unwrap().meta().unwrap().serial, 0);
    }

    #[test]
    fn a_damaged_database_is_named_with_a_way_out() {
        let dir = ScratchDir::new("sled-damaged");
        let path = dir.path().join("state");
        SledStore::open(&path).unwrap().commit(&put("volume.db", 1)).unwrap();
        drop(reopen(&path));
        let db = path.join("db");
        let mut bytes = std::fs::read(&db).unwrap();
        for byte in bytes.iter_mut().skip(16) {
            *byte ^= 0x5a;
        }
        std::fs::write(&db, bytes).unwrap();
        let message = match reopen_err_or_store(&path) {
            Err(error) => error.with_hint(),
            Ok(store) => store.resources().map(|_| ()).unwrap_err().with_hint(),
        };
        assert!(
            message.starts_with(&format!("the state database `{}` is damaged", path.display())),
            "{message}"
        );
        assert!(message.contains("blockform state push COPY"), "{message}");
        assert!(!message.contains("backtrace"), "{message}");
    }

    /// Like [`reopen`], for a state that may fail to open.
    fn reopen_err_or_store(path: &Path) -> Result<SledStore, StateError> {
        let started = std::time::Instant::now();
        loop {
            match SledStore::open(path) {
                Err(StateError::InUse { .. }) if started.elapsed() < std::time::Duration::from_secs(10) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    #[test]
    fn a_state_without_meta_but_with_resources_is_corrupt() {
        let dir = ScratchDir::new("sled-nometa");
        let path = dir.path().join("state");
        tamper(&path, "resources", "volume.db", b"{}");
        let error = reopen_err(&path);
        assert!(
            matches!(&error, StateError::Corrupt { key, .. } if key == "meta/meta"),
            "{error:?}"
        );
    }
}
