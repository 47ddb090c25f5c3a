//! The [`Store`] trait: what the engine and the `state` commands need from a state back end,
//! whether it is the embedded sled database or, later, a shared `PostgreSQL` one. Writes go
//! through [`Commit`]: one atomic change per finished operation, never a rewrite of the whole
//! state.

use std::collections::BTreeMap;

use super::records::{Intent, Meta, OutputState, ResourceState, StateDocument};

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state path names a file, not a database directory.
    #[error("`{location}` is not a state database: it is a file")]
    NotADatabase {
        /// The state path.
        location: String,
    },
    /// The directory holding the state could not be created.
    #[error("cannot create the state directory `{location}`: {source}")]
    CreateDir {
        /// The directory.
        location: String,
        /// What the file system said.
        source: std::io::Error,
    },
    /// Another process has the database open (sled allows one process at a time).
    #[error(
        "the state database `{location}` is in use by another process; it runs with `--lock=false` or its lock \
         was removed with `force-unlock`: wait for it to finish (runs with `--lock=false` must never overlap)"
    )]
    InUse {
        /// The state path.
        location: String,
    },
    /// The storage engine failed.
    #[error("the state database `{location}` failed: {message}")]
    Storage {
        /// The state path.
        location: String,
        /// What the storage engine said.
        message: String,
    },
    /// A record does not decode.
    #[error("the state record `{key}` in `{location}` is corrupt: {reason}")]
    Corrupt {
        /// The state path.
        location: String,
        /// The record, as `tree/key` (`resources/volume.db`).
        key: String,
        /// Why it does not decode.
        reason: String,
    },
    /// The state was written by a newer blockform.
    #[error(
        "the state `{location}` has format version {found}, but this blockform reads versions up to {supported}; \
         upgrade blockform to use it"
    )]
    NewerFormat {
        /// The state path, or the document's name.
        location: String,
        /// The version found.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A record could not be encoded.
    #[error("cannot encode the state record `{key}`: {reason}")]
    Encode {
        /// The record, as `tree/key`.
        key: String,
        /// Why.
        reason: String,
    },
    /// A document to store lists one address twice.
    #[error("the state document lists `{address}` more than once")]
    DuplicateAddress {
        /// The address.
        address: String,
    },
    /// Two addresses would own one back-end object: removing either would delete the object
    /// the other still manages.
    #[error(
        "`{address}` cannot be recorded as the owner of `{object}`: `{owner}` already owns it, and two addresses \
         must never manage one object"
    )]
    SharedObject {
        /// The address being recorded.
        address: String,
        /// The address that owns the object.
        owner: String,
        /// The object, as `PROVIDER/BACKEND_ID`.
        object: String,
    },
    /// The database directory lacks the file that holds the records, so it cannot be read as
    /// the state it was (reading it as empty would plan to create every object again).
    #[error(
        "the state database `{location}` is incomplete: its `db` file is missing (the directory holds only {found}); \
         blockform will not read it as an empty state"
    )]
    Incomplete {
        /// The state path.
        location: String,
        /// What the directory holds, for the message.
        found: String,
    },
    /// Another writer committed since this one read the state: writing now would overwrite
    /// what it recorded.
    #[error(
        "the state `{location}` changed under this run: another writer committed serial {found}, but this run \
         expected serial {expected}; nothing was written"
    )]
    Stale {
        /// The state path.
        location: String,
        /// The serial this writer read and expected to replace.
        expected: u64,
        /// The serial another writer committed.
        found: u64,
    },
    /// A remote state (S3) could not be reached or refused a request.
    #[error("the state `{location}` cannot be used: {message}")]
    Remote {
        /// The state's URL.
        location: String,
        /// What went wrong.
        message: String,
        /// What the user can do about it.
        hint: String,
    },
    /// The storage engine found damaged data.
    #[error("the state database `{location}` is damaged: its records cannot be read back ({detail})")]
    Damaged {
        /// The state path.
        location: String,
        /// Where sled found it, in words.
        detail: String,
    },
}

impl StateError {
    /// How to get out of it, when there is a way.
    pub fn hint(&self) -> Option<String> {
        match self {
            StateError::Incomplete { location, .. } | StateError::Damaged { location, .. } => Some(format!(
                "if you have a copy from `blockform state pull`, move `{location}` aside and run `blockform state push \
                 COPY`; without one, move it aside and adopt the existing objects with `blockform import` \
                 (`blockform drift` lists them, `owned` ones carry their address)"
            )),
            StateError::Stale { .. } => Some(
                "run the command again to work from the state as it is now; for `apply PLANFILE`, make a new plan \
                 with `blockform plan` first"
                    .to_owned(),
            ),
            StateError::Remote { hint, .. } => Some(hint.clone()),
            StateError::SharedObject { .. } => Some(
                "keep one owner: `blockform state rm` the other address, or remove the duplicate `import` block"
                    .to_owned(),
            ),
            _ => None,
        }
    }

    /// The message and, on a second line, the hint: what the CLI prints.
    pub fn with_hint(&self) -> String {
        match self.hint() {
            Some(hint) => format!("{self}\n  help: {hint}"),
            None => self.to_string(),
        }
    }
}

/// Which address owns each back-end object, so a commit can refuse to give one object a second
/// owner without reading the whole state each time. Objects are keyed by provider and back-end
/// id; records without a back-end id own nothing.
#[derive(Debug, Default)]
pub(super) struct Owners {
    by_object: std::collections::HashMap<(Option<String>, String), String>,
    by_address: std::collections::HashMap<String, (Option<String>, String)>,
}

impl Owners {
    /// The owners of `resources`; the first record of an object owns it.
    pub(super) fn of<'a>(resources: impl IntoIterator<Item = &'a ResourceState>) -> Owners {
        let mut owners = Owners::default();
        for resource in resources {
            owners.insert(resource);
        }
        owners
    }

    fn key(resource: &ResourceState) -> Option<(Option<String>, String)> {
        (!resource.backend_id.is_empty()).then(|| (resource.provider.clone(), resource.backend_id.clone()))
    }

    fn insert(&mut self, resource: &ResourceState) {
        if let Some(key) = Owners::key(resource) {
            self.by_object
                .entry(key.clone())
                .or_insert_with(|| resource.address.clone());
            self.by_address.insert(resource.address.clone(), key);
        }
    }

    /// Refuses a commit after which two addresses would own one object.
    pub(super) fn check(&self, commit: &Commit) -> Result<(), StateError> {
        let replaced: std::collections::HashSet<&str> = commit
            .remove
            .iter()
            .map(String::as_str)
            .chain(commit.put.iter().map(|r| r.address.as_str()))
            .collect();
        let mut new: std::collections::HashMap<(Option<String>, String), &str> = std::collections::HashMap::new();
        for resource in &commit.put {
            let Some(key) = Owners::key(resource) else { continue };
            let existing = self
                .by_object
                .get(&key)
                .map(String::as_str)
                .filter(|owner| !replaced.contains(owner));
            if let Some(owner) = existing.or_else(|| new.get(&key).copied()) {
                return Err(shared(resource, owner));
            }
            new.insert(key, &resource.address);
        }
        Ok(())
    }

    /// Records a commit that [`Owners::check`] accepted and the store applied.
    pub(super) fn apply(&mut self, commit: &Commit) {
        for address in commit.remove.iter().chain(commit.put.iter().map(|r| &r.address)) {
            if let Some(key) = self.by_address.remove(address)
                && self.by_object.get(&key) == Some(address)
            {
                self.by_object.remove(&key);
            }
        }
        for resource in &commit.put {
            self.insert(resource);
        }
    }
}

fn shared(resource: &ResourceState, owner: &str) -> StateError {
    StateError::SharedObject {
        address: resource.address.clone(),
        owner: owner.to_owned(),
        object: match &resource.provider {
            Some(provider) => format!("{provider}/{}", resource.backend_id),
            None => resource.backend_id.clone(),
        },
    }
}

/// Refuses a document in which two addresses own one back-end object.
pub(super) fn check_unique_owners(document: &StateDocument) -> Result<(), StateError> {
    Owners::default().check(&Commit {
        put: document.resources.clone(),
        ..Commit::default()
    })
}

/// One atomic change to the state: what a finished operation (or a `state` command) writes.
/// Removals are applied before puts, so a commit can remove and re-add one address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commit {
    /// Resource instances to write (replacing any at the same address).
    pub put: Vec<ResourceState>,
    /// Addresses of resource instances to forget.
    pub remove: Vec<String>,
    /// Intents to record (replacing any with the same id).
    pub put_intents: Vec<Intent>,
    /// Ids of intents that are finished.
    pub remove_intents: Vec<String>,
    /// The new set of outputs, replacing all of them, if they changed.
    pub outputs: Option<BTreeMap<String, OutputState>>,
}

impl Commit {
    /// Whether the commit changes nothing (it is then not written and the serial stays).
    pub fn is_empty(&self) -> bool {
        self.put.is_empty()
            && self.remove.is_empty()
            && self.put_intents.is_empty()
            && self.remove_intents.is_empty()
            && self.outputs.is_none()
    }

    /// Applies the commit to a state held in maps by address, intent id and output name
    /// (removals before puts); the caller bumps the serial.
    pub fn apply_to(
        &self,
        resources: &mut BTreeMap<String, ResourceState>,
        intents: &mut BTreeMap<String, Intent>,
        outputs: &mut BTreeMap<String, OutputState>,
    ) {
        for address in &self.remove {
            resources.remove(address);
        }
        for resource in &self.put {
            resources.insert(resource.address.clone(), resource.clone());
        }
        for id in &self.remove_intents {
            intents.remove(id);
        }
        for intent in &self.put_intents {
            intents.insert(intent.id.clone(), intent.clone());
        }
        if let Some(new) = &self.outputs {
            outputs.clone_from(new);
        }
    }
}

/// A state back end. Every write is one [`Commit`], applied atomically and durably (flushed)
/// before `commit` returns, and bumps the serial by one.
pub trait Store: Send + Sync {
    /// Where the state lives, for messages (`.blockform/state`).
    fn location(&self) -> String;

    /// The format version, lineage and serial.
    fn meta(&self) -> Result<Meta, StateError>;

    /// Every resource instance, sorted by address (byte order).
    fn resources(&self) -> Result<Vec<ResourceState>, StateError>;

    /// The resource instance at `address`, if there is one.
    fn resource(&self, address: &str) -> Result<Option<ResourceState>, StateError>;

    /// Pending operations, oldest first.
    fn intents(&self) -> Result<Vec<Intent>, StateError>;

    /// Outputs by name.
    fn outputs(&self) -> Result<BTreeMap<String, OutputState>, StateError>;

    /// Applies `commit` in one transaction and flushes it; returns the new serial (the current
    /// one, unchanged, for an empty commit). This handle's writes follow one another; a store
    /// shared with writers in other processes (a remote back end) refuses with
    /// [`StateError::Stale`] when one of them committed since this handle last read or wrote.
    fn commit(&self, commit: &Commit) -> Result<u64, StateError>;

    /// Applies `commit` like [`Store::commit`], but only if the state is still at
    /// `expected_serial` (the serial the writer read before deciding what to write); otherwise
    /// writes nothing and returns [`StateError::Stale`] naming the serial found.
    fn commit_at(&self, expected_serial: u64, commit: &Commit) -> Result<u64, StateError>;

    /// The whole state as one consistent document (`state pull`).
    fn export(&self) -> Result<StateDocument, StateError>;

    /// Replaces everything, meta included, with `document` in one transaction (`state push`).
    fn replace_all(&self, document: &StateDocument) -> Result<(), StateError>;
}

/// Refuses a format version newer than this build reads.
pub(super) fn check_format_version(location: &str, found: u32) -> Result<(), StateError> {
    if found > super::records::FORMAT_VERSION {
        return Err(StateError::NewerFormat {
            location: location.to_owned(),
            found,
            supported: super::records::FORMAT_VERSION,
        });
    }
    Ok(())
}

/// Refuses a document that lists an address twice.
pub(super) fn check_unique_addresses(document: &StateDocument) -> Result<(), StateError> {
    let mut seen = std::collections::BTreeSet::new();
    for resource in &document.resources {
        if !seen.insert(resource.address.as_str()) {
            return Err(StateError::DuplicateAddress {
                address: resource.address.clone(),
            });
        }
    }
    Ok(())
}

/// Refuses a write that expected `expected` when the state is at `found`.
pub(super) fn check_serial(location: &str, expected: Option<u64>, found: u64) -> Result<(), StateError> {
    match expected {
        Some(expected) if expected != found => Err(StateError::Stale {
            location: location.to_owned(),
            expected,
            found,
        }),
        _ => Ok(()),
    }
}

/// Orders intents oldest first (RFC 3339 times in UTC sort as text), then by id.
pub(super) fn sort_intents(intents: &mut [Intent]) {
    intents.sort_by(|a, b| a.started_at.cmp(&b.started_at).then_with(|| a.id.cmp(&b.id)));
}

/// Generates one `#[test]` per conformance check, each on a fresh store made by `$fresh`
/// (an expression returning something that derefs to a [`Store`]).
#[cfg(test)]
macro_rules! store_conformance_tests {
    ($fresh:expr) => {
        $crate::state::store::store_conformance_tests!(@each $fresh;
            starts_empty,
            commit_bumps_serial,
            commit_applies_everything_at_once,
            outputs_are_replaced_as_a_set,
            listings_are_sorted,
            export_and_replace_all_round_trip,
            replace_all_refuses_bad_documents,
            one_object_never_has_two_owners
        );
    };
    (@each $fresh:expr; $($check:ident),+) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $check() {
                    let store = $fresh;
                    $crate::state::store::conformance::$check(&*store);
                }
            )+
        }
    };
}
#[cfg(test)]
pub(crate) use store_conformance_tests;

/// One test body for every [`Store`]: the in-memory store and sled must behave alike, and a
/// future shared back end runs the same checks.
#[cfg(test)]
pub(crate) mod conformance {
    use std::collections::BTreeMap;

    use super::{Commit, StateError, Store};
    use crate::state::records::{
        FORMAT_VERSION, Intent, IntentAction, Meta, OutputState, ResourceState, StateDocument,
    };

    /// A resource instance with a few attributes.
    pub fn resource(address: &str, size_gib: u64) -> ResourceState {
        let mut attributes = serde_json::Map::new();
        attributes.insert("name".into(), serde_json::json!(address.rsplit('.').next()));
        attributes.insert("size".into(), serde_json::json!(size_gib));
        attributes.insert("tags".into(), serde_json::json!(["db", "prod"]));
        ResourceState {
            address: address.to_owned(),
            backend_id: format!("volume-{address}"),
            provider: Some("local.dev".to_owned()),
            attributes,
            dependencies: vec!["volume_type.std".to_owned()],
            status: "available".to_owned(),
        }
    }

    /// An intent to create `address`.
    pub fn intent(id: &str, address: &str, started_at: &str) -> Intent {
        Intent {
            id: id.to_owned(),
            address: address.to_owned(),
            action: IntentAction::Create,
            backend_id: format!("volume-{id}"),
            provider: Some("local.dev".to_owned()),
            started_at: started_at.to_owned(),
            attributes: serde_json::Map::new(),
            dependencies: Vec::new(),
        }
    }

    fn put(resources: Vec<ResourceState>) -> Commit {
        Commit {
            put: resources,
            ..Commit::default()
        }
    }

    /// A new store is empty at serial 0 with the current format.
    pub fn starts_empty(store: &dyn Store) {
        let meta = store.meta().unwrap();
        assert_eq!(meta.serial, 0);
        assert_eq!(meta.format_version, FORMAT_VERSION);
        assert!(store.resources().unwrap().is_empty());
        assert!(store.intents().unwrap().is_empty());
        assert!(store.outputs().unwrap().is_empty());
        assert_eq!(store.resource("volume.db").unwrap(), None);
    }

    /// Each commit bumps the serial by one; an empty commit changes nothing.
    pub fn commit_bumps_serial(store: &dyn Store) {
        let before = store.meta().unwrap();
        assert_eq!(
            store.commit(&put(vec![resource("volume.db", 10)])).unwrap(),
            before.serial + 1
        );
        assert_eq!(
            store.commit(&put(vec![resource("volume.db", 20)])).unwrap(),
            before.serial + 2
        );
        assert_eq!(store.commit(&Commit::default()).unwrap(), before.serial + 2);
        let after = store.meta().unwrap();
        assert_eq!(after.serial, before.serial + 2);
        assert_eq!(after.lineage, before.lineage, "the lineage never changes on commit");
        assert_eq!(store.resource("volume.db").unwrap(), Some(resource("volume.db", 20)));
    }

    /// Puts, removals, intents and outputs of one commit land together; removals come first.
    pub fn commit_applies_everything_at_once(store: &dyn Store) {
        store
            .commit(&Commit {
                put: vec![resource("volume.a", 1), resource("volume.b", 2)],
                put_intents: vec![intent("i1", "volume.c", "2026-01-01T00:00:00Z")],
                outputs: Some(BTreeMap::from([(
                    "a_id".to_owned(),
                    OutputState {
                        value: serde_json::json!("volume-a"),
                        sensitive: false,
                    },
                )])),
                ..Commit::default()
            })
            .unwrap();
        // The move of `volume.a` to `volume.c`, finishing the intent: one commit.
        let serial = store
            .commit(&Commit {
                put: vec![resource("volume.c", 1), resource("volume.b", 3)],
                remove: vec!["volume.a".to_owned(), "volume.b".to_owned()],
                remove_intents: vec!["i1".to_owned()],
                put_intents: vec![intent("i2", "volume.d", "2026-01-01T00:00:01Z")],
                outputs: Some(BTreeMap::new()),
            })
            .unwrap();
        assert_eq!(serial, store.meta().unwrap().serial);
        let addresses: Vec<String> = store.resources().unwrap().into_iter().map(|r| r.address).collect();
        assert_eq!(addresses, ["volume.b", "volume.c"]);
        assert_eq!(store.resource("volume.b").unwrap(), Some(resource("volume.b", 3)));
        let intents: Vec<String> = store.intents().unwrap().into_iter().map(|i| i.id).collect();
        assert_eq!(intents, ["i2"]);
        assert!(store.outputs().unwrap().is_empty(), "`Some(empty)` clears the outputs");
    }

    /// `None` outputs leave them alone; `Some` replaces the whole set.
    pub fn outputs_are_replaced_as_a_set(store: &dyn Store) {
        let output = |v: &str, sensitive| OutputState {
            value: serde_json::json!(v),
            sensitive,
        };
        store
            .commit(&Commit {
                outputs: Some(BTreeMap::from([
                    ("a".to_owned(), output("1", false)),
                    ("b".to_owned(), output("2", true)),
                ])),
                ..Commit::default()
            })
            .unwrap();
        store.commit(&put(vec![resource("volume.x", 1)])).unwrap();
        assert_eq!(store.outputs().unwrap().len(), 2);
        store
            .commit(&Commit {
                outputs: Some(BTreeMap::from([("c".to_owned(), output("3", false))])),
                ..Commit::default()
            })
            .unwrap();
        assert_eq!(
            store.outputs().unwrap(),
            BTreeMap::from([("c".to_owned(), output("3", false))])
        );
    }

    /// Resources come back sorted by address, intents oldest first.
    pub fn listings_are_sorted(store: &dyn Store) {
        store
            .commit(&Commit {
                put: vec![
                    resource("volume.z", 1),
                    resource("qos.gold", 1),
                    resource("volume.a[\"x\"]", 1),
                    resource("volume.a", 1),
                ],
                put_intents: vec![
                    intent("b", "volume.n", "2026-01-01T00:00:02Z"),
                    intent("a", "volume.m", "2026-01-01T00:00:03Z"),
                    intent("c", "volume.o", "2026-01-01T00:00:01Z"),
                ],
                ..Commit::default()
            })
            .unwrap();
        let addresses: Vec<String> = store.resources().unwrap().into_iter().map(|r| r.address).collect();
        assert_eq!(addresses, ["qos.gold", "volume.a", "volume.a[\"x\"]", "volume.z"]);
        let intents: Vec<String> = store.intents().unwrap().into_iter().map(|i| i.id).collect();
        assert_eq!(intents, ["c", "b", "a"]);
    }

    /// `export` then `replace_all` round-trips, and `replace_all` drops what the document lacks.
    pub fn export_and_replace_all_round_trip(store: &dyn Store) {
        store
            .commit(&Commit {
                put: vec![resource("volume.old", 1)],
                put_intents: vec![intent("old", "volume.old", "2026-01-01T00:00:00Z")],
                outputs: Some(BTreeMap::from([(
                    "old".to_owned(),
                    OutputState {
                        value: serde_json::json!(1),
                        sensitive: false,
                    },
                )])),
                ..Commit::default()
            })
            .unwrap();
        let mut document = store.export().unwrap();
        assert_eq!(document.resources, vec![resource("volume.old", 1)]);
        assert_eq!(document.meta, store.meta().unwrap());

        document.meta.lineage = "another-lineage".to_owned();
        document.meta.serial = 42;
        document.resources = vec![resource("volume.a", 1), resource("volume.b", 2)];
        document.intents = vec![intent("new", "volume.c", "2026-01-01T00:00:00Z")];
        document.outputs = BTreeMap::from([(
            "new".to_owned(),
            OutputState {
                value: serde_json::json!({"k": [1, 2]}),
                sensitive: true,
            },
        )]);
        store.replace_all(&document).unwrap();
        assert_eq!(store.export().unwrap(), document);
        assert_eq!(store.resource("volume.old").unwrap(), None);
        assert_eq!(store.commit(&put(vec![resource("volume.d", 1)])).unwrap(), 43);
    }

    /// A document from a newer blockform, or with an address listed twice, is refused untouched.
    pub fn replace_all_refuses_bad_documents(store: &dyn Store) {
        store.commit(&put(vec![resource("volume.keep", 1)])).unwrap();
        let before = store.export().unwrap();
        let newer = StateDocument {
            meta: Meta {
                format_version: FORMAT_VERSION + 1,
                ..before.meta.clone()
            },
            ..before.clone()
        };
        assert!(matches!(
            store.replace_all(&newer),
            Err(StateError::NewerFormat { found, .. }) if found == FORMAT_VERSION + 1
        ));
        let twice = StateDocument {
            resources: vec![resource("volume.a", 1), resource("volume.a", 2)],
            ..before.clone()
        };
        assert!(matches!(
            store.replace_all(&twice),
            Err(StateError::DuplicateAddress { address }) if address == "volume.a"
        ));
        assert_eq!(store.export().unwrap(), before);
    }

    /// No commit or document may give one back-end object a second address: removing either
    /// would delete what the other still manages. Moving an object (remove and put in one
    /// commit) and rewriting a record in place stay possible.
    pub fn one_object_never_has_two_owners(store: &dyn Store) {
        let owning = |address: &str, backend_id: &str| ResourceState {
            backend_id: backend_id.to_owned(),
            ..resource(address, 1)
        };
        store.commit(&put(vec![owning("volume.a", "volume-1")])).unwrap();
        let before = store.export().unwrap();
        let error = store.commit(&put(vec![owning("volume.b", "volume-1")])).unwrap_err();
        assert!(
            matches!(&error, StateError::SharedObject { address, owner, object }
                if address == "volume.b" && owner == "volume.a" && object == "local.dev/volume-1"),
            "{error:?}"
        );
        assert_eq!(
            error.with_hint(),
            "`volume.b` cannot be recorded as the owner of `local.dev/volume-1`: `volume.a` already owns it, and two \
             addresses must never manage one object\n  help: keep one owner: `blockform state rm` the other address, \
             or remove the duplicate `import` block"
        );
        // Two new records of one object in one commit.
        assert!(matches!(
            store.commit(&put(vec![
                owning("volume.c", "volume-2"),
                owning("volume.d", "volume-2")
            ])),
            Err(StateError::SharedObject { .. })
        ));
        assert_eq!(store.export().unwrap(), before, "a refused commit writes nothing");
        // The same id on another provider is another object.
        let elsewhere = ResourceState {
            provider: Some("local.other".to_owned()),
            ..owning("volume.e", "volume-1")
        };
        store.commit(&put(vec![elsewhere])).unwrap();
        // A move frees the object for its new address; a rewrite keeps it.
        store
            .commit(&Commit {
                put: vec![owning("volume.moved", "volume-1")],
                remove: vec!["volume.a".to_owned()],
                ..Commit::default()
            })
            .unwrap();
        store.commit(&put(vec![owning("volume.moved", "volume-1")])).unwrap();
        store.commit(&put(vec![owning("volume.a", "volume-3")])).unwrap();
        assert!(matches!(
            store.commit(&put(vec![owning("volume.a", "volume-1")])),
            Err(StateError::SharedObject { owner, .. }) if owner == "volume.moved"
        ));
        // Once its owner is forgotten, an object can be recorded again.
        store
            .commit(&Commit {
                remove: vec!["volume.moved".to_owned()],
                ..Commit::default()
            })
            .unwrap();
        store.commit(&put(vec![owning("volume.a", "volume-1")])).unwrap();
        // A pushed document is held to the same rule.
        let mut document = store.export().unwrap();
        document.resources.push(owning("volume.z", "volume-1"));
        assert!(matches!(
            store.replace_all(&document),
            Err(StateError::SharedObject { .. })
        ));
    }
}
