//! The `s3` state back end ([`S3Backend`], [`S3StateStore`]): a state shared through an S3
//! bucket (AWS, Ceph RGW, `MinIO`), chosen by `blockform { backend "s3" { … } }`.
//!
//! Under the configured `key` (a prefix) it keeps:
//! - `log/SEQ.json`: an append-only log, one object per commit (or per `state push`), each
//!   created with `If-None-Match: *` under the next sequence number. Of two writers that read
//!   the same state, exactly one can create the next entry; the other is refused as stale
//!   ([`StateError::Stale`]) and writes nothing, even when a lock was broken by hand. A commit
//!   writes one small object, whatever the size of the state: no rewrite of the whole state.
//! - `snapshot/SEQ.json`: the whole state as of entry `SEQ`, written every
//!   [`SNAPSHOT_EVERY`] entries, so that opening the state reads the newest snapshot and the
//!   entries after it (found with S3's `start-after`), never the whole log. When one is
//!   written, the snapshots and log entries older than the previous snapshot are removed
//!   (folded in). A writer so far behind that its entry's place was freed that way still
//!   cannot commit: after creating its entry it checks that the entry before it is there
//!   (the entries kept are contiguous up to the newest), and finding it folded, removes its
//!   own entry and is refused as stale.
//! - `lock.json`: the state lock, created with `If-None-Match: *`, holding who / pid /
//!   operation / since like the lock file of a local state; `force-unlock` removes it.
//!
//! An opened handle keeps the state in memory and serves reads from it; each commit is
//! validated against it (the owners of objects are indexed, so that costs the same whatever
//! the state holds), appended to the log, and then applied to it.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::backend::StateBackend;
use super::lock::{Attempt, ForceUnlocked, HeldLock, LockError, LockGuard, LockInfo, acquire_with_backoff};
use super::records::{FORMAT_VERSION, Intent, Meta, OutputState, ResourceState, StateDocument};
use super::store::{
    Commit, Owners, StateError, Store, check_format_version, check_serial, check_unique_addresses, check_unique_owners,
    sort_intents,
};
use crate::s3::{Created, Patience, S3Client, S3Error, S3Location};

/// A snapshot is written after every this many log entries.
pub const SNAPSHOT_EVERY: u64 = 100;
/// Log entries read at once when a state is opened.
const PARALLEL_READS: usize = 16;

/// One entry of the log.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LogEntry {
    /// Its place in the log (0 is the entry that created the state).
    seq: u64,
    /// What it does.
    #[serde(flatten)]
    change: Change,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Change {
    /// One commit; the serial it produces.
    Commit { serial: u64, commit: LoggedCommit },
    /// The whole state replaced (`state push`, and the creation of the state).
    Replace { document: StateDocument },
}

/// A [`Commit`] as the log holds it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LoggedCommit {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    put: Vec<ResourceState>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    remove: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    put_intents: Vec<Intent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    remove_intents: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outputs: Option<BTreeMap<String, OutputState>>,
}

impl From<&Commit> for LoggedCommit {
    fn from(commit: &Commit) -> LoggedCommit {
        LoggedCommit {
            put: commit.put.clone(),
            remove: commit.remove.clone(),
            put_intents: commit.put_intents.clone(),
            remove_intents: commit.remove_intents.clone(),
            outputs: commit.outputs.clone(),
        }
    }
}

impl From<LoggedCommit> for Commit {
    fn from(logged: LoggedCommit) -> Commit {
        Commit {
            put: logged.put,
            remove: logged.remove,
            put_intents: logged.put_intents,
            remove_intents: logged.remove_intents,
            outputs: logged.outputs,
        }
    }
}

/// A snapshot: the state as of log entry `seq`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Snapshot {
    seq: u64,
    document: StateDocument,
}

fn log_name(seq: u64) -> String {
    format!("log/{seq:020}.json")
}

fn snapshot_name(seq: u64) -> String {
    format!("snapshot/{seq:020}.json")
}

/// The sequence number in a `log/SEQ.json` or `snapshot/SEQ.json` name.
fn seq_of(name: &str) -> Option<u64> {
    name.rsplit('/').next()?.strip_suffix(".json")?.parse().ok()
}

const LOCK_NAME: &str = "lock.json";

/// The state kept under a prefix of an S3 bucket, with its lock object.
#[derive(Debug)]
pub struct S3Backend {
    location: S3Location,
    client: Result<S3Client, S3Error>,
}

impl S3Backend {
    /// The state under `location` (its prefix is the backend block's `key`). Nothing is sent
    /// yet; a client that cannot be made (no credentials) fails every later call.
    pub fn new(location: S3Location) -> S3Backend {
        let client = S3Client::new(&location, Patience::STATE);
        S3Backend { location, client }
    }

    fn client(&self) -> Result<&S3Client, S3Error> {
        self.client.as_ref().map_err(Clone::clone)
    }

    fn lock_url(&self) -> String {
        format!("s3://{}/{}", self.location.bucket, self.location.key(LOCK_NAME))
    }

    fn lock_error(&self, action: &'static str, error: &S3Error) -> LockError {
        LockError::Remote {
            action,
            location: self.lock_url(),
            message: format!("{} failed at {}: {}", error.operation, error.endpoint, error.message),
            hint: error.hint(),
        }
    }

    /// The lock object's holder, if there is one; `Err(None)` when it does not parse.
    fn read_lock(&self, client: &S3Client) -> Result<Option<Result<LockInfo, ()>>, LockError> {
        let bytes = client.get(LOCK_NAME).map_err(|e| self.lock_error("read", &e))?;
        Ok(bytes.map(|bytes| serde_json::from_slice::<LockInfo>(&bytes).map_err(|_| ())))
    }
}

fn remote(location: &str, error: &S3Error) -> StateError {
    StateError::Remote {
        location: location.to_owned(),
        message: format!(
            "{} of `{}` at {} failed: {}",
            error.operation, error.url, error.endpoint, error.message
        ),
        hint: error.hint(),
    }
}

impl StateBackend for S3Backend {
    fn location(&self) -> String {
        self.location.url()
    }

    fn exists(&self) -> Result<bool, StateError> {
        let client = self.client().map_err(|e| remote(&self.location(), &e))?;
        client.check_bucket().map_err(|e| remote(&self.location(), &e))?;
        // The first entry goes once a snapshot folds it in.
        let created = client
            .head(&log_name(0))
            .map_err(|e| remote(&self.location(), &e))?
            .is_some();
        Ok(created
            || !client
                .list("snapshot/", None)
                .map_err(|e| remote(&self.location(), &e))?
                .is_empty())
    }

    fn open(&self) -> Result<Box<dyn Store>, StateError> {
        let client = self.client().map_err(|e| remote(&self.location(), &e))?;
        Ok(Box::new(S3StateStore::open(client.clone())?))
    }

    fn lock(&self, operation: &str, timeout: Duration) -> Result<LockGuard, LockError> {
        let client = self.client().map_err(|e| self.lock_error("take", &e))?;
        acquire_with_backoff(timeout, || {
            let info = LockInfo::for_this_process(operation);
            let body = serde_json::to_vec_pretty(&info).expect("a lock record encodes");
            match client
                .create(LOCK_NAME, Bytes::from(body))
                .map_err(|e| self.lock_error("take", &e))?
            {
                Created::Written => {
                    let held = S3Lock {
                        client: client.clone(),
                        id: info.id.clone(),
                        url: self.lock_url(),
                    };
                    Ok(Attempt::Taken(LockGuard::new(info, self.lock_url(), Box::new(held))))
                }
                Created::Exists => match self.read_lock(client)? {
                    // Released meanwhile.
                    None => Ok(Attempt::Again),
                    // A create whose answer was lost and that the client retried meets the lock
                    // it made.
                    Some(Ok(found)) if found.id == info.id => {
                        let held = S3Lock {
                            client: client.clone(),
                            id: info.id.clone(),
                            url: self.lock_url(),
                        };
                        Ok(Attempt::Taken(LockGuard::new(info, self.lock_url(), Box::new(held))))
                    }
                    Some(Ok(info)) => Ok(Attempt::Busy(Box::new(move || LockError::Held { info }))),
                    Some(Err(())) => {
                        let location = self.lock_url();
                        Ok(Attempt::Busy(Box::new(move || LockError::HeldByUnknown { location })))
                    }
                },
            }
        })
    }

    fn force_unlock(&self, id: &str) -> Result<ForceUnlocked, LockError> {
        let client = self.client().map_err(|e| self.lock_error("read", &e))?;
        match self.read_lock(client)? {
            None => Err(LockError::NotLocked {
                location: self.lock_url(),
            }),
            Some(Ok(info)) if info.id != id.trim() => Err(LockError::IdMismatch {
                given: id.to_owned(),
                info,
            }),
            Some(Ok(info)) => {
                client.delete(LOCK_NAME).map_err(|e| self.lock_error("remove", &e))?;
                // Whether its process still runs is known only for a process of this machine.
                let host = gethostname::gethostname().to_string_lossy().into_owned();
                let gone = info.who.rsplit_once('@').is_some_and(|(_, h)| h == host)
                    && !std::path::Path::new(&format!("/proc/{}", info.pid)).exists();
                Ok(ForceUnlocked { info, was_held: !gone })
            }
            Some(Err(())) => Err(LockError::HeldByUnknown {
                location: self.lock_url(),
            }),
        }
    }
}

/// A lock object this process created, as its guard holds it.
#[derive(Debug)]
struct S3Lock {
    client: S3Client,
    id: String,
    url: String,
}

impl HeldLock for S3Lock {
    fn release(self: Box<Self>) -> Result<(), LockError> {
        let fail = |action, error: S3Error| LockError::Remote {
            action,
            location: self.url.clone(),
            message: format!("{} failed at {}: {}", error.operation, error.endpoint, error.message),
            hint: error.hint(),
        };
        let current = self.client.get(LOCK_NAME).map_err(|e| fail("read", e))?;
        // After `force-unlock`, the lock may be someone else's: leave it to them.
        let ours = current
            .and_then(|bytes| serde_json::from_slice::<LockInfo>(&bytes).ok())
            .is_some_and(|info| info.id == self.id);
        if ours {
            self.client.delete(LOCK_NAME).map_err(|e| fail("remove", e))?;
        }
        Ok(())
    }
}

/// An open S3 state: the log's newest entry this handle knows and the state as of it.
#[derive(Debug)]
pub struct S3StateStore {
    client: S3Client,
    location: String,
    inner: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    /// The newest log entry applied.
    seq: u64,
    state: Records,
}

/// The state as of a log entry, with the index of owners kept up to date commit by commit, so
/// that a commit costs the same whatever the state holds.
#[derive(Debug)]
struct Records {
    meta: Meta,
    resources: BTreeMap<String, ResourceState>,
    intents: BTreeMap<String, Intent>,
    outputs: BTreeMap<String, OutputState>,
    owners: Owners,
}

impl Records {
    /// The state `document` holds (checked by its writer).
    fn of(document: &StateDocument) -> Records {
        Records {
            meta: document.meta.clone(),
            resources: document
                .resources
                .iter()
                .map(|r| (r.address.clone(), r.clone()))
                .collect(),
            intents: document.intents.iter().map(|i| (i.id.clone(), i.clone())).collect(),
            outputs: document.outputs.clone(),
            owners: Owners::of(&document.resources),
        }
    }

    /// Applies a commit [`Owners::check`] accepted; returns the new serial.
    fn apply(&mut self, commit: &Commit) -> u64 {
        commit.apply_to(&mut self.resources, &mut self.intents, &mut self.outputs);
        self.owners.apply(commit);
        self.meta.serial = self.meta.serial.saturating_add(1);
        self.meta.serial
    }

    fn intents(&self) -> Vec<Intent> {
        let mut intents: Vec<Intent> = self.intents.values().cloned().collect();
        sort_intents(&mut intents);
        intents
    }

    fn export(&self) -> StateDocument {
        StateDocument {
            meta: self.meta.clone(),
            resources: self.resources.values().cloned().collect(),
            intents: self.intents(),
            outputs: self.outputs.clone(),
        }
    }
}

impl S3StateStore {
    /// Reads the state (the newest snapshot and the log after it), creating it when there is
    /// none.
    fn open(client: S3Client) -> Result<S3StateStore, StateError> {
        let location = client.location().url();
        let loaded = if let Some(loaded) = load(&client, &location)? {
            loaded
        } else {
            let document = StateDocument {
                meta: Meta {
                    format_version: FORMAT_VERSION,
                    lineage: uuid::Uuid::new_v4().to_string(),
                    serial: 0,
                },
                resources: Vec::new(),
                intents: Vec::new(),
                outputs: BTreeMap::new(),
            };
            let state = Records::of(&document);
            let entry = LogEntry {
                seq: 0,
                change: Change::Replace { document },
            };
            match append(&client, &location, &entry)? {
                Created::Written => Loaded { seq: 0, state },
                // Another run created it meanwhile.
                Created::Exists => load(&client, &location)?.ok_or_else(|| StateError::Corrupt {
                    location: location.clone(),
                    key: log_name(0),
                    reason: "it vanished while being read".to_owned(),
                })?,
            }
        };
        Ok(S3StateStore {
            client,
            location,
            inner: Mutex::new(loaded),
        })
    }

    fn inner(&self) -> MutexGuard<'_, Loaded> {
        // Every change below completes before the guard is dropped.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `change` as the entry after `loaded`'s, or refuses as stale when another
    /// writer appended it first.
    fn append_next(&self, loaded: &Loaded, change: Change) -> Result<(), StateError> {
        let entry = LogEntry {
            seq: loaded.seq + 1,
            change,
        };
        let stale = match append(&self.client, &self.location, &entry)? {
            Created::Exists => true,
            Created::Written => {
                // Entries older than the oldest snapshot kept are removed, so a writer that far
                // behind finds its place free. Its predecessor tells: the entries kept are
                // contiguous up to the newest, so a writer at the head finds the entry before
                // its own, and one whose predecessor was folded into a snapshot is behind.
                let folded = entry.seq > 0
                    && self
                        .client
                        .head(&log_name(entry.seq - 1))
                        .map_err(|e| remote(&self.location, &e))?
                        .is_none();
                if folded {
                    let _ = self.client.delete(&log_name(entry.seq));
                }
                folded
            }
        };
        if !stale {
            return Ok(());
        }
        let expected = loaded.state.meta.serial;
        let found = load(&self.client, &self.location)?.map_or(expected, |newer| newer.state.meta.serial);
        Err(StateError::Stale {
            location: self.location.clone(),
            expected,
            found,
        })
    }

    /// After entry `loaded.seq` is written: a snapshot every [`SNAPSHOT_EVERY`] entries; then
    /// the snapshots before the previous one and the log entries it folds in are removed (the
    /// previous snapshot and the entries after it stay, for readers that listed them a moment
    /// ago). Best effort: what is not removed now is removed after the next snapshot.
    fn maybe_snapshot(&self, loaded: &Loaded) {
        if !loaded.seq.is_multiple_of(SNAPSHOT_EVERY) {
            return;
        }
        let document = loaded.state.export();
        let snapshot = Snapshot {
            seq: loaded.seq,
            document,
        };
        let body = serde_json::to_vec(&snapshot).expect("a state document encodes");
        if self.client.put(&snapshot_name(loaded.seq), Bytes::from(body)).is_err() {
            return;
        }
        let Some(keep_from) = loaded.seq.checked_sub(SNAPSHOT_EVERY) else {
            return;
        };
        let mut old: Vec<String> = Vec::new();
        for dir in ["snapshot/", "log/"] {
            let Ok(listed) = self.client.list(dir, None) else {
                return;
            };
            old.extend(
                listed
                    .into_iter()
                    .filter(|o| seq_of(&o.name).is_some_and(|seq| seq < keep_from))
                    .map(|o| o.name),
            );
        }
        let _ = self
            .client
            .for_each_parallel(old, PARALLEL_READS, |client, name| async move {
                client.delete_async(&name).await
            });
    }

    fn write(&self, expected: Option<u64>, commit: &Commit) -> Result<u64, StateError> {
        let mut loaded = self.inner();
        let current = loaded.state.meta.serial;
        check_serial(&self.location, expected, current)?;
        if commit.is_empty() {
            return Ok(current);
        }
        loaded.state.owners.check(commit)?;
        let serial = current.saturating_add(1);
        self.append_next(
            &loaded,
            Change::Commit {
                serial,
                commit: LoggedCommit::from(commit),
            },
        )?;
        loaded.state.apply(commit);
        loaded.seq += 1;
        self.maybe_snapshot(&loaded);
        Ok(serial)
    }
}

/// Writes `entry` if its place in the log is free.
fn append(client: &S3Client, location: &str, entry: &LogEntry) -> Result<Created, StateError> {
    let body = serde_json::to_vec(entry).map_err(|e| StateError::Encode {
        key: log_name(entry.seq),
        reason: e.to_string(),
    })?;
    let name = log_name(entry.seq);
    match client
        .create(&name, Bytes::from(body.clone()))
        .map_err(|e| remote(location, &e))?
    {
        Created::Written => Ok(Created::Written),
        // A create whose answer was lost and that the client retried meets its own entry.
        Created::Exists => match client.get(&name).map_err(|e| remote(location, &e))? {
            Some(found) if found.as_ref() == body.as_slice() => Ok(Created::Written),
            _ => Ok(Created::Exists),
        },
    }
}

/// Reads the state: the newest snapshot, then every log entry after it, in order. `None` when
/// there is no state.
fn load(client: &S3Client, location: &str) -> Result<Option<Loaded>, StateError> {
    let corrupt = |key: String, reason: String| StateError::Corrupt {
        location: location.to_owned(),
        key,
        reason,
    };
    let snapshots = client.list("snapshot/", None).map_err(|e| remote(location, &e))?;
    let newest = snapshots.iter().filter_map(|s| seq_of(&s.name)).max();
    let (state, mut seq) = match newest {
        Some(seq) => {
            let name = snapshot_name(seq);
            let Some(bytes) = client.get(&name).map_err(|e| remote(location, &e))? else {
                // Removed by a writer that wrote a newer one meanwhile.
                return load(client, location);
            };
            let snapshot: Snapshot =
                serde_json::from_slice(&bytes).map_err(|e| corrupt(name.clone(), e.to_string()))?;
            check_format_version(location, snapshot.document.meta.format_version)?;
            (Some(Records::of(&snapshot.document)), Some(seq))
        }
        None => (None, None),
    };
    let after = seq.map(log_name);
    let names: Vec<String> = client
        .list("log/", after.as_deref())
        .map_err(|e| remote(location, &e))?
        .into_iter()
        .map(|listed| listed.name)
        .collect();
    let bodies = client
        .for_each_parallel(names.clone(), PARALLEL_READS, |client, name| async move {
            client.get_async(&name).await
        })
        .map_err(|e| remote(location, &e))?;
    let mut state = state;
    for (name, body) in names.into_iter().zip(bodies) {
        let Some(body) = body else {
            return Err(corrupt(name, "the log entry vanished while being read".to_owned()));
        };
        let entry: LogEntry = serde_json::from_slice(&body).map_err(|e| corrupt(name.clone(), e.to_string()))?;
        let expected = seq.map_or(0, |s| s + 1);
        if entry.seq != expected || seq_of(&name) != Some(entry.seq) {
            return Err(corrupt(
                name,
                format!("the log has a gap: entry {} follows entry {expected}", entry.seq),
            ));
        }
        match entry.change {
            Change::Replace { document } => {
                check_format_version(location, document.meta.format_version)?;
                state = Some(Records::of(&document));
            }
            Change::Commit { serial, commit } => {
                let Some(current) = &mut state else {
                    return Err(corrupt(
                        name,
                        "the log does not start with the state's creation".to_owned(),
                    ));
                };
                let applied = current.apply(&Commit::from(commit));
                if applied != serial {
                    return Err(corrupt(
                        name,
                        format!("the entry makes serial {serial}, but applying it gives {applied}"),
                    ));
                }
            }
        }
        seq = Some(entry.seq);
    }
    Ok(match (state, seq) {
        (Some(state), Some(seq)) => Some(Loaded { seq, state }),
        _ => None,
    })
}

impl Store for S3StateStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn meta(&self) -> Result<Meta, StateError> {
        Ok(self.inner().state.meta.clone())
    }

    fn resources(&self) -> Result<Vec<ResourceState>, StateError> {
        Ok(self.inner().state.resources.values().cloned().collect())
    }

    fn resource(&self, address: &str) -> Result<Option<ResourceState>, StateError> {
        Ok(self.inner().state.resources.get(address).cloned())
    }

    fn intents(&self) -> Result<Vec<Intent>, StateError> {
        Ok(self.inner().state.intents())
    }

    fn outputs(&self) -> Result<BTreeMap<String, OutputState>, StateError> {
        Ok(self.inner().state.outputs.clone())
    }

    fn commit(&self, commit: &Commit) -> Result<u64, StateError> {
        self.write(None, commit)
    }

    fn commit_at(&self, expected_serial: u64, commit: &Commit) -> Result<u64, StateError> {
        self.write(Some(expected_serial), commit)
    }

    fn export(&self) -> Result<StateDocument, StateError> {
        Ok(self.inner().state.export())
    }

    fn replace_all(&self, document: &StateDocument) -> Result<(), StateError> {
        check_format_version(&self.location, document.meta.format_version)?;
        check_unique_addresses(document)?;
        check_unique_owners(document)?;
        let document = StateDocument {
            meta: Meta {
                format_version: FORMAT_VERSION,
                ..document.meta.clone()
            },
            ..document.clone()
        };
        let mut loaded = self.inner();
        self.append_next(
            &loaded,
            Change::Replace {
                document: document.clone(),
            },
        )?;
        loaded.state = Records::of(&document);
        loaded.seq += 1;
        self.maybe_snapshot(&loaded);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::conformance::resource;

    fn backend(name: &str) -> S3Backend {
        S3Backend::new(S3Location {
            bucket: std::env::var("BLOCKFORM_TEST_S3_BUCKET")
                .expect("BLOCKFORM_TEST_S3_BUCKET names the test bucket (tests/run sets it)"),
            prefix: format!("unit/{name}-{}", uuid::Uuid::new_v4()),
            endpoint: None,
            region: None,
        })
    }

    fn put(address: &str, size: u64) -> Commit {
        Commit {
            put: vec![resource(address, size)],
            ..Commit::default()
        }
    }

    /// 250 commits fold the log into snapshots (what opening reads stays small), and a writer
    /// that read the state before all of them, whose entry's place was freed, is still refused.
    #[test]
    #[ignore = "needs the S3 service of tests/run"]
    fn s3_the_log_folds_into_snapshots_and_a_writer_far_behind_is_refused() {
        let backend = backend("fold");
        let behind = backend.open().unwrap();
        let ahead = backend.open().unwrap();
        for n in 0..250 {
            ahead.commit(&put(&format!("volume.v{n}"), 1)).unwrap();
        }
        let client = backend.client().unwrap();
        let log = client.list("log/", None).unwrap();
        let snapshots = client.list("snapshot/", None).unwrap();
        assert_eq!(
            snapshots.iter().filter_map(|s| seq_of(&s.name)).collect::<Vec<_>>(),
            [100, 200]
        );
        assert_eq!(
            log.first().and_then(|l| seq_of(&l.name)),
            Some(100),
            "entries before 100 are folded in"
        );
        assert_eq!(log.len(), 151);
        assert!(
            backend.exists().unwrap(),
            "a state whose first entry is folded in still exists"
        );

        let before = ahead.export().unwrap();
        let error = behind.commit(&put("volume.stale", 1)).unwrap_err();
        assert!(
            matches!(
                error,
                StateError::Stale {
                    expected: 0,
                    found: 250,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(client.head(&log_name(1)).unwrap(), None, "the refused entry is removed");
        let reopened = backend.open().unwrap();
        assert_eq!(
            reopened.export().unwrap(),
            before,
            "nothing of the stale writer is read"
        );
        assert_eq!(reopened.resources().unwrap().len(), 250);
    }
}
