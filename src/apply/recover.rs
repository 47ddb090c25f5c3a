//! Recovery after a run that was killed: every intent left in state names an operation that
//! may or may not have reached the back end. The object is looked up by its deterministic name
//! and adopted (it exists, so it is recorded) or forgotten (it does not, so the plan makes it
//! again), and what an unfinished operation left beside it (partial files, sidecars, temporary
//! snapshots, change markers of backups that were never finished) is removed. No duplicate, no
//! orphan, no lost record.

use blockform_provider::ProviderError;
use std::collections::HashMap;

use crate::model::kinds::BackendObject;
use crate::model::{Address, ResourceKind};
use crate::providers::Providers;
use crate::state::{Commit, Intent, IntentAction, ResourceState, StateError, Store};

/// What recovery did, for the user to read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Objects found in the back end and recorded.
    pub adopted: Vec<String>,
    /// Objects whose delete had finished, removed from state.
    pub forgotten: Vec<String>,
    /// Intents dropped because the operation never reached the back end (or changed nothing lasting).
    pub dropped: Vec<String>,
    /// Replaced objects whose announced delete was finished.
    pub deleted: Vec<String>,
    /// Replaced objects whose delete could not be finished now (with why): their intent stays
    /// and a later run tries again.
    pub pending: Vec<String>,
}

impl Recovery {
    /// Whether anything was recovered.
    pub fn is_empty(&self) -> bool {
        self.adopted.is_empty()
            && self.forgotten.is_empty()
            && self.dropped.is_empty()
            && self.deleted.is_empty()
            && self.pending.is_empty()
    }
}

/// Whether the object of an intent exists in its back end; `None` when it cannot be told
/// (provider unavailable).
fn exists(
    intent: &Intent,
    kind: ResourceKind,
    prior: &[ResourceState],
    providers: &Providers,
) -> Result<Option<bool>, CheckError> {
    let provider = intent.provider.as_deref().and_then(|p| providers.get(p));
    match kind.handler().backend_object() {
        // blockform's own objects exist only in state.
        BackendObject::StateOnly => Ok(Some(false)),
        // An attach that may not have finished is made again by the plan (attaching what is
        // attached already finds it); a detach that may not have finished is finished only
        // once the instance no longer holds the disk.
        BackendObject::Attachment => {
            if intent.action == IntentAction::Create {
                return Ok(Some(false));
            }
            let Some(hypervisor) = intent.provider.as_deref().and_then(|p| providers.hypervisor(p).ok()) else {
                return Ok(None);
            };
            let recorded = prior.iter().find(|r| r.address == intent.address);
            let text = |key: &str| {
                intent
                    .attributes
                    .get(key)
                    .or_else(|| recorded.and_then(|r| r.attributes.get(key)))
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let instances = hypervisor.refresh()?;
            Ok(Some(
                crate::providers::disk_of(&instances, &text("instance"), &text("volume")).is_some(),
            ))
        }
        BackendObject::Volume => {
            let Some(provider) = provider else { return Ok(None) };
            let found = provider.refresh(std::slice::from_ref(&intent.backend_id))?;
            let exists = found.iter().any(|v| v.backend_name == intent.backend_id);
            if intent.action != IntentAction::Create {
                return Ok(Some(exists));
            }
            // A volume being filled from a backup may hold part of the data: it is deleted and
            // made again rather than adopted.
            let restoring = intent
                .attributes
                .get("source")
                .and_then(|s| s.get("backup"))
                .is_some_and(serde_json::Value::is_string);
            if exists && !restoring {
                return Ok(Some(true));
            }
            if exists {
                provider.delete_volume(&intent.backend_id)?;
            }
            // The plan makes the volume again under a new name: what the unfinished create
            // left (Ceph: the image being built, a snapshot of the cloned volume) would stay
            // forever.
            provider.discard_interrupted_create(&intent.backend_id)?;
            Ok(Some(false))
        }
        BackendObject::Snapshot => {
            let Some(provider) = provider else { return Ok(None) };
            let volume = intent
                .attributes
                .get("volume")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .or_else(|| {
                    prior.iter().find(|r| r.address == intent.address).and_then(|r| {
                        r.attributes
                            .get("volume")
                            .and_then(serde_json::Value::as_str)
                            .map(str::to_owned)
                    })
                });
            let Some(volume) = volume else { return Ok(Some(false)) };
            let found = provider.refresh(&[volume])?;
            Ok(Some(found.iter().any(|v| {
                v.snapshots.iter().any(|s| s.backend_name == intent.backend_id)
            })))
        }
        BackendObject::File => {
            let path = intent.attributes.get("path").and_then(serde_json::Value::as_str);
            Ok(Some(path.is_some_and(|p| std::path::Path::new(p).exists())))
        }
        // A backup exists once its manifest does; blocks of an unfinished one are left to `gc`.
        BackendObject::BackupManifest => {
            let store = intent
                .attributes
                .get("store")
                .and_then(serde_json::Value::as_str)
                .and_then(|name| providers.store(name));
            let Some(store) = store else { return Ok(None) };
            match store.open(crate::backup::Access::Shared, false) {
                Ok(store) => Ok(Some(store.has_backup(&intent.backend_id))),
                Err(crate::backup::BackupError::NotAStore { .. }) => Ok(Some(false)),
                Err(error) => Err(CheckError::Store(error)),
            }
        }
    }
}

/// Resolves every intent left in state.
pub fn recover(store: &dyn Store, providers: &Providers) -> Result<Recovery, RecoverError> {
    let intents = store.intents()?;
    let mut recovery = Recovery::default();
    if intents.is_empty() {
        return Ok(recovery);
    }
    let prior = store.resources()?;
    let by_address: HashMap<&str, &ResourceState> = prior.iter().map(|r| (r.address.as_str(), r)).collect();
    let mut backups_interrupted = false;
    for intent in intents {
        let Some(address) = Address::parse(&intent.address) else {
            store.commit(&Commit {
                remove_intents: vec![intent.id.clone()],
                ..Commit::default()
            })?;
            continue;
        };
        let found = exists(&intent, address.kind, &prior, providers).map_err(|source| RecoverError::Check {
            address: intent.address.clone(),
            source,
        })?;
        let Some(found) = found else {
            // The provider is not available: keep the intent for a run that has it.
            continue;
        };
        // A delete that did not finish may have left the volume's other files (the local
        // provider's sidecar) once the volume itself is gone.
        if address.kind.handler().backend_object() == BackendObject::Volume
            && intent.action == IntentAction::Delete
            && !found
            && let Some(provider) = intent.provider.as_deref().and_then(|p| providers.get(p))
        {
            provider
                .discard_interrupted_create(&intent.backend_id)
                .map_err(|source| RecoverError::Check {
                    address: intent.address.clone(),
                    source: CheckError::Provider(source),
                })?;
        }
        backups_interrupted |= address.kind.handler().leaves_markers();
        let mut commit = Commit {
            remove_intents: vec![intent.id.clone()],
            ..Commit::default()
        };
        match (intent.action, found) {
            (IntentAction::Create, true) => {
                // The new half of a create-before-destroy replacement: state still records the
                // old object under the address. The plan that was approved deletes it once the
                // new one exists, so recovery does (first, then records the new one: killed in
                // between, the next recovery adopts the new one again and finds the old gone).
                if let Some(old) = by_address
                    .get(intent.address.as_str())
                    .filter(|r| r.backend_id != intent.backend_id)
                {
                    let volume = old.attributes.get("volume").and_then(serde_json::Value::as_str);
                    match delete_object(
                        address.kind,
                        &old.backend_id,
                        old.provider.as_deref(),
                        volume,
                        providers,
                    ) {
                        Ok(()) => recovery
                            .deleted
                            .push(format!("{} [{}]", intent.address, old.backend_id)),
                        // Not now (the old object is busy, its provider answers no): an intent
                        // to delete it stays, and a later run tries again.
                        Err(message) => {
                            commit.put_intents.push(Intent {
                                id: format!("deposed-{}", old.backend_id),
                                address: intent.address.clone(),
                                action: IntentAction::Delete,
                                backend_id: old.backend_id.clone(),
                                provider: old.provider.clone(),
                                started_at: intent.started_at.clone(),
                                attributes: old.attributes.clone(),
                                dependencies: old.dependencies.clone(),
                            });
                            recovery
                                .pending
                                .push(format!("{} [{}]: {message}", intent.address, old.backend_id));
                        }
                    }
                }
                commit.put.push(adopted_record(&intent, address.kind));
                recovery
                    .adopted
                    .push(format!("{} [{}]", intent.address, intent.backend_id));
            }
            (IntentAction::Delete, false)
                if by_address
                    .get(intent.address.as_str())
                    .is_some_and(|r| r.backend_id == intent.backend_id) =>
            {
                commit.remove.push(intent.address.clone());
                recovery.forgotten.push(intent.address.clone());
            }
            // The old object of a replacement whose new object is already recorded: no state
            // record names it any more, so the delete the plan announced is finished here
            // rather than leaving an orphan.
            (IntentAction::Delete, true)
                if by_address
                    .get(intent.address.as_str())
                    .is_none_or(|r| r.backend_id != intent.backend_id) =>
            {
                match finish_delete(&intent, address.kind, providers) {
                    Ok(()) => recovery
                        .deleted
                        .push(format!("{} [{}]", intent.address, intent.backend_id)),
                    // The intent stays: a later run tries again; nothing else waits for it.
                    Err(message) => {
                        commit.remove_intents.clear();
                        recovery
                            .pending
                            .push(format!("{} [{}]: {message}", intent.address, intent.backend_id));
                    }
                }
            }
            _ => recovery.dropped.push(intent.address.clone()),
        }
        store.commit(&commit)?;
    }
    if backups_interrupted {
        remove_orphan_markers(&prior, providers);
    }
    Ok(recovery)
}

/// Removes the change markers no backup refers to from the volumes in state: a backup killed
/// after it made its marker leaves one that tracks changes for a backup that never existed.
/// Nothing is removed when a store cannot be read (which backups exist is then not known);
/// a marker that cannot be removed now (its volume in use) is left for the next recovery.
fn remove_orphan_markers(prior: &[ResourceState], providers: &Providers) {
    let mut stores = Vec::new();
    for (_, config) in providers.stores() {
        match config.open(crate::backup::Access::Shared, false) {
            Ok(store) => stores.push(store),
            Err(crate::backup::BackupError::NotAStore { .. }) => {}
            Err(_) => return,
        }
    }
    for record in prior.iter().filter(|r| r.address.starts_with("volume.")) {
        let Some(provider) = record.provider.as_deref().and_then(|p| providers.get(p)) else {
            continue;
        };
        let Ok(markers) = provider.change_markers(&record.backend_id) else {
            continue;
        };
        // A volume a running domain holds has its markers removed through that domain.
        let Ok(remover) = (!markers.is_empty())
            .then(|| crate::apply::backup::markers_among(provider.as_ref(), &record.backend_id, prior, providers))
            .transpose()
        else {
            continue;
        };
        for marker in markers {
            let name = match &marker {
                blockform_provider::ChangeMarker::DirtyBitmap { name } => name,
                blockform_provider::ChangeMarker::Snapshot { backend_name } => backend_name,
            };
            let Some(backup_id) = name.strip_prefix(blockform_provider::CHANGE_MARKER_PREFIX) else {
                continue;
            };
            if !stores.iter().any(|store| store.has_backup(backup_id))
                && let Some(remover) = &remover
            {
                let _ = remover.delete(&record.backend_id, &marker);
            }
        }
    }
}

/// Deletes the replaced object an intent names (a volume or a snapshot; blockform's own
/// objects exist only in state, and a replaced backup or image stays for `backup gc` or the
/// user).
fn finish_delete(intent: &Intent, kind: ResourceKind, providers: &Providers) -> Result<(), ProviderError> {
    let volume = intent.attributes.get("volume").and_then(serde_json::Value::as_str);
    delete_object(kind, &intent.backend_id, intent.provider.as_deref(), volume, providers)
}

/// Deletes a volume, or a snapshot of `volume`, through its provider.
fn delete_object(
    kind: ResourceKind,
    backend_id: &str,
    provider: Option<&str>,
    volume: Option<&str>,
    providers: &Providers,
) -> Result<(), ProviderError> {
    let Some(provider) = provider.and_then(|p| providers.get(p)) else {
        return Ok(());
    };
    match kind.handler().backend_object() {
        BackendObject::Volume => provider.delete_volume(backend_id),
        BackendObject::Snapshot => provider.delete_snapshot(volume.unwrap_or_default(), backend_id),
        BackendObject::StateOnly | BackendObject::File | BackendObject::BackupManifest | BackendObject::Attachment => {
            Ok(())
        }
    }
}

fn adopted_record(intent: &Intent, kind: ResourceKind) -> ResourceState {
    let handler = kind.handler();
    let schema = handler.schema();
    let mut attributes = serde_json::Map::new();
    for spec in schema.attrs {
        attributes.insert(
            spec.name.to_owned(),
            intent
                .attributes
                .get(spec.name)
                .cloned()
                .unwrap_or(serde_json::Value::Null),
        );
    }
    for name in schema.computed {
        attributes.insert((*name).to_owned(), serde_json::Value::Null);
    }
    attributes.insert("id".into(), serde_json::Value::String(intent.backend_id.clone()));
    attributes.insert("status".into(), serde_json::Value::String("available".into()));
    for (name, value) in handler.adopted_attributes(&intent.backend_id) {
        attributes.insert(name.into(), serde_json::Value::String(value));
    }
    ResourceState {
        address: intent.address.clone(),
        backend_id: intent.backend_id.clone(),
        provider: intent.provider.clone(),
        attributes,
        dependencies: intent.dependencies.clone(),
        status: "available".into(),
    }
}

/// Why recovery could not finish.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// State could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A provider or store could not be asked whether the object of an intent exists.
    #[error("cannot check `{address}` after an interrupted run: {source}")]
    Check {
        /// The resource of the intent.
        address: String,
        /// What failed.
        source: CheckError,
    },
}

/// Why recovery could not tell whether an interrupted operation's object exists.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The back end's error, typed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The backup store's error.
    #[error(transparent)]
    Store(crate::backup::BackupError),
}
