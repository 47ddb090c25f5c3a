//! The backup operations of an apply: take or delete a `backup`, run a `backup_policy`, and
//! fill a new volume from a backup. Each runs as one operation of the walker, recorded like
//! any other (intent first, then the result).

use blockform_provider::{ChangeMarker, StorageProvider, VolumeSource, VolumeSpec, VolumeState};

use super::kinds::attachment::{Holder, file_holder_in};
use super::operation::{OperationContext, OperationError};
use crate::backup::policy::{self, PolicySpec};
use crate::backup::{
    Access, BackupError, BackupMode, BackupRequest, BackupStore, ChangeMarkers, Manifest, ProviderMarkers,
    RestoreOptions, create_backup_with, now_unix_secs, restore,
};
use crate::config::value::{Value, ValueMap};

impl From<BackupError> for OperationError {
    fn from(error: BackupError) -> Self {
        let message = match error.hint() {
            Some(hint) => format!("{error} (hint: {hint})"),
            None => error.to_string(),
        };
        OperationError::Precondition(message)
    }
}

fn string(attrs: &ValueMap, key: &str) -> Option<String> {
    attrs.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn open_store(
    name: &str,
    context: &OperationContext<'_>,
    create: bool,
) -> Result<Box<dyn BackupStore>, OperationError> {
    let config = context
        .providers
        .store(name)
        .ok_or_else(|| OperationError::Precondition(format!("no backup_store block is named `{name}`")))?;
    Ok(config.open(Access::Shared, create)?)
}

/// The provider and address of a volume in state, by back-end id.
fn volume_of(
    volume_id: &str,
    context: &OperationContext<'_>,
) -> Result<(std::sync::Arc<dyn StorageProvider>, String), OperationError> {
    let record = (context.by_id)(volume_id)
        .ok_or_else(|| OperationError::Precondition(format!("the volume `{volume_id}` is not in state")))?;
    let provider_name = record
        .provider
        .clone()
        .ok_or_else(|| OperationError::Precondition(format!("`{}` has no provider", record.address)))?;
    let provider = context
        .providers
        .get(&provider_name)
        .ok_or_else(|| OperationError::Precondition(context.providers.missing_reason(&provider_name)))?;
    Ok((provider, record.address))
}

/// The change markers of a qcow2 volume that a running domain holds open (QEMU locks the image
/// against `qemu-img`): that domain's QEMU takes them as internal snapshots, which the
/// provider then reads frozen while the domain goes on writing, so the backup is one point in
/// time (crash-consistent, as `force` says) and never a torn read.
struct DomainMarkers<'a> {
    provider: &'a dyn StorageProvider,
    holder: Holder,
}

impl ChangeMarkers for DomainMarkers<'_> {
    fn create(&self, _volume: &str, marker_name: &str) -> blockform_provider::Result<ChangeMarker> {
        self.holder.take_snapshot(marker_name)?;
        Ok(ChangeMarker::Snapshot {
            backend_name: marker_name.to_owned(),
        })
    }

    fn delete(&self, volume: &str, marker: &ChangeMarker) -> blockform_provider::Result<()> {
        match marker {
            ChangeMarker::Snapshot { backend_name } => self.holder.drop_snapshot(backend_name),
            // A dirty bitmap from a backup taken while the volume was free: QEMU keeps it
            // (in use) while the domain runs, and the provider removes it when it can.
            ChangeMarker::DirtyBitmap { .. } => self.provider.delete_change_marker(volume, marker),
        }
    }
}

/// Who makes and removes the change markers of `volume_id`: the domain that holds its qcow2
/// file open, or else its provider.
fn markers_for<'a>(
    provider: &'a dyn StorageProvider,
    volume_id: &str,
    context: &OperationContext<'_>,
) -> Result<Box<dyn ChangeMarkers + 'a>, OperationError> {
    markers_among(provider, volume_id, &(context.records)(), context.providers)
}

/// [`markers_for`] with the attachments of `records` (recovery, before any operation runs).
pub fn markers_among<'a>(
    provider: &'a dyn StorageProvider,
    volume_id: &str,
    records: &[crate::state::ResourceState],
    providers: &crate::providers::Providers,
) -> Result<Box<dyn ChangeMarkers + 'a>, OperationError> {
    Ok(match file_holder_in(provider, volume_id, records, providers)? {
        Some(holder) => Box::new(DomainMarkers { provider, holder }),
        None => Box::new(ProviderMarkers(provider)),
    })
}

/// Takes the backup `backup_id` of the resource's volume; returns its manifest.
pub fn take(backup_id: &str, after: &ValueMap, context: &OperationContext<'_>) -> Result<Manifest, OperationError> {
    let missing = |what: &str| OperationError::Precondition(format!("the backup's {what} is not known"));
    let store_name = string(after, "store").ok_or_else(|| missing("store"))?;
    let volume_id = string(after, "volume").ok_or_else(|| missing("volume"))?;
    let mode = if string(after, "mode").as_deref() == Some("incremental") {
        BackupMode::Incremental
    } else {
        BackupMode::Full
    };
    let (provider, address) = volume_of(&volume_id, context)?;
    let mut store = open_store(&store_name, context, true)?;
    let request = BackupRequest {
        id: backup_id,
        volume_address: &address,
        volume_backend_id: &volume_id,
        mode,
        policy: None,
        now_unix_secs: now_unix_secs(),
    };
    let markers = markers_for(provider.as_ref(), &volume_id, context)?;
    let mut report = |done, total| (context.on_bytes)(done, total);
    Ok(create_backup_with(
        &mut *store,
        provider.as_ref(),
        markers.as_ref(),
        &request,
        &mut report,
    )?)
}

/// The computed attributes of a backup record.
pub fn computed(manifest: &Manifest, computed: &mut ValueMap) {
    computed.insert(
        "created_at".into(),
        Value::String(crate::model::timestamp(manifest.created_at)),
    );
    #[allow(clippy::cast_precision_loss)]
    computed.insert(
        "size".into(),
        Value::Number(manifest.size_bytes.div_ceil(blockform_provider::GIB) as f64),
    );
    computed.insert(
        "parent".into(),
        manifest.parent.clone().map_or(Value::Null, Value::String),
    );
}

/// The store a deleted backup or policy kept its backups in, as its record names it; `None`
/// when it names none or the store was never written (it holds nothing to delete).
fn store_of_deleted(
    before: Option<&ValueMap>,
    context: &OperationContext<'_>,
) -> Result<Option<Box<dyn BackupStore>>, OperationError> {
    let Some(store_name) = before.and_then(|b| string(b, "store")) else {
        return Ok(None);
    };
    match open_store(&store_name, context, false) {
        Err(OperationError::Precondition(message)) if message.contains("holds no `store.json`") => Ok(None),
        other => other.map(Some),
    }
}

/// Deletes a backup from its store; one another backup builds on is refused. The change
/// marker it left on its volume (the newest backup of a volume keeps one for the next
/// incremental) goes too: no backup counts from it any more.
pub fn delete(
    backup_id: &str,
    before: Option<&ValueMap>,
    context: &OperationContext<'_>,
) -> Result<(), OperationError> {
    let Some(store) = store_of_deleted(before, context)? else {
        return Ok(());
    };
    let manifest = store.manifest(backup_id).ok();
    store.delete(backup_id)?;
    if let Some(manifest) = manifest {
        remove_marker(&manifest, context);
    }
    Ok(())
}

/// Removes a deleted backup's change marker from its volume, if both are still there. A
/// marker that cannot be removed now (a volume in use) is left: it only costs the space of
/// the changes it tracks, and removing its volume removes it.
fn remove_marker(manifest: &Manifest, context: &OperationContext<'_>) {
    let Some(marker) = &manifest.change_marker else { return };
    let volume = manifest.volume_backend_id.as_str();
    if let Ok((provider, _)) = volume_of(volume, context)
        && let Ok(markers) = markers_for(provider.as_ref(), volume, context)
    {
        let _ = markers.delete(volume, marker);
    }
}

/// Finds the store holding a backup: the one its record names, or any store that has it.
fn store_with(backup_id: &str, context: &OperationContext<'_>) -> Result<Box<dyn BackupStore>, OperationError> {
    if let Some(record) = (context.by_id)(backup_id)
        && let Some(name) = record.attributes.get("store").and_then(serde_json::Value::as_str)
    {
        return open_store(name, context, false);
    }
    for (_, config) in context.providers.stores() {
        if let Ok(store) = config.open(Access::Shared, false)
            && store.has_backup(backup_id)
        {
            return Ok(store);
        }
    }
    Err(OperationError::Precondition(format!(
        "no backup store of the configuration holds the backup `{backup_id}`"
    )))
}

/// Creates a volume and fills it from a backup; a volume that could not be filled is deleted.
pub fn create_restored_volume(
    provider: &dyn StorageProvider,
    spec: &VolumeSpec,
    backup_id: &str,
    context: &OperationContext<'_>,
) -> Result<VolumeState, OperationError> {
    let mut store = store_with(backup_id, context)?;
    let manifest = store.manifest(backup_id)?;
    if spec.size_gib.saturating_mul(blockform_provider::GIB) < manifest.size_bytes {
        return Err(BackupError::TargetTooSmall {
            id: backup_id.to_owned(),
            volume: spec.backend_name.clone(),
            backup_bytes: manifest.size_bytes,
            volume_bytes: spec.size_gib.saturating_mul(blockform_provider::GIB),
        }
        .into());
    }
    let empty = VolumeSpec {
        source: VolumeSource::Empty,
        ..spec.clone()
    };
    let state = provider.create_volume(&empty)?;
    let filled = (|| -> Result<(), OperationError> {
        let writer = provider.open_writer(&spec.backend_name)?;
        let mut report = |done, total| (context.on_bytes)(done, total);
        restore(
            &mut *store,
            &manifest,
            writer,
            &spec.backend_name,
            RestoreOptions { target_is_zeroed: true },
            &mut report,
        )?;
        Ok(())
    })();
    if let Err(error) = filled {
        let _ = provider.delete_volume(&spec.backend_name);
        return Err(error);
    }
    Ok(state)
}

/// Runs a policy: takes the backups that are due, then prunes what retention drops. Prunes
/// wait for every due backup to succeed, so a failed full never costs an old chain.
pub fn run_policy(policy_id: &str, after: &ValueMap, context: &OperationContext<'_>) -> Result<(), OperationError> {
    let spec = PolicySpec::from_attrs(policy_id, after).map_err(OperationError::Precondition)?;
    let store_name = string(after, "store")
        .ok_or_else(|| OperationError::Precondition("the policy's store is not known".to_owned()))?;
    let mut store = open_store(&store_name, context, true)?;
    let now = now_unix_secs();
    let run = policy::schedule(&spec, &policy::volumes(after), &store.manifests()?, now);
    for due in &run.due {
        let (provider, address) = volume_of(&due.volume_backend_id, context)?;
        let id = crate::plan::new_backend_id(crate::model::ResourceKind::Backup);
        let request = BackupRequest {
            id: &id,
            volume_address: &address,
            volume_backend_id: &due.volume_backend_id,
            mode: due.mode,
            policy: Some(policy_id),
            now_unix_secs: now,
        };
        let markers = markers_for(provider.as_ref(), &due.volume_backend_id, context)?;
        let mut report = |done, total| (context.on_bytes)(done, total);
        create_backup_with(&mut *store, provider.as_ref(), markers.as_ref(), &request, &mut report)?;
    }
    for pruned in &run.prune {
        let manifest = store.manifest(&pruned.id).ok();
        store.delete(&pruned.id)?;
        if let Some(manifest) = manifest {
            remove_marker(&manifest, context);
        }
    }
    Ok(())
}

/// Deletes every backup a policy took from its store, incrementals before what they build on
/// (a destroyed policy with `on_destroy = "delete"`). Their change markers go with them.
pub fn delete_policy_backups(
    policy_id: &str,
    before: Option<&ValueMap>,
    context: &OperationContext<'_>,
) -> Result<(), OperationError> {
    let Some(store) = store_of_deleted(before, context)? else {
        return Ok(());
    };
    let mut left: Vec<Manifest> = store
        .manifests()?
        .into_iter()
        .filter(|m| m.policy.as_deref() == Some(policy_id))
        .collect();
    // Newest first: an incremental always comes after its parent.
    left.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.sequence.cmp(&a.sequence))
    });
    for manifest in &left {
        store.delete(&manifest.id)?;
        remove_marker(manifest, context);
    }
    left.clear();
    Ok(())
}
