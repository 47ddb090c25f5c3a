//! One operation of an apply: the provider calls for one change of one resource, and the state
//! record that results. Blocking (providers run commands); the walker runs it off the async
//! scheduler.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use blockform_provider::{
    ImageExportSpec, ImageFormat, QosSpecs, SnapshotSpec, StorageProvider, VolumeProperties, VolumeSource, VolumeSpec,
};

pub use super::operation::{OperationContext, OperationError};
use crate::config::value::{Value, ValueMap};
use crate::model::{ResourceKind, UNMANAGED_SNAPSHOTS, resource_schema};
pub use crate::plan::Step;
use crate::plan::{Change, StorageAction};
use crate::state::ResourceState;

/// What an operation leaves in state.
#[derive(Debug)]
pub enum Outcome {
    /// The resource's new record.
    Put(ResourceState),
    /// The resource is gone.
    Removed,
}

/// The back-end name an operation works on: the new object's for a create (a replacement's
/// new name), the existing object's otherwise.
pub fn object_id(change: &Change, step: Step) -> &str {
    if step == Step::Create {
        change.create_id()
    } else {
        change.backend_id.as_deref()
    }
    .unwrap_or_default()
}

/// The provider block an operation goes to: the new object's for a create, the one that holds
/// the existing object otherwise (for a retype across back ends, not the new object's).
pub(super) fn object_provider(change: &Change, step: Step) -> Option<&str> {
    if step == Step::Create {
        change.provider.as_deref()
    } else {
        change.existing_provider()
    }
}

fn provider_for(
    change: &Change,
    step: Step,
    context: &OperationContext<'_>,
) -> Result<Arc<dyn StorageProvider>, OperationError> {
    let name = object_provider(change, step)
        .ok_or_else(|| OperationError::Precondition(format!("`{}` has no provider", change.address)))?;
    context
        .providers
        .get(name)
        .ok_or_else(|| OperationError::Precondition(context.providers.missing_reason(name)))
}

fn string(attrs: &ValueMap, key: &str) -> Option<String> {
    attrs.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn gib(attrs: &ValueMap, key: &str) -> Option<u64> {
    attrs
        .get(key)
        .and_then(Value::as_i64)
        .and_then(|n| u64::try_from(n).ok())
}

fn properties(attrs: &ValueMap) -> VolumeProperties {
    VolumeProperties {
        name: string(attrs, "name").unwrap_or_default(),
        description: string(attrs, "description"),
        bootable: attrs.get("bootable").and_then(Value::as_bool).unwrap_or(false),
        tags: attrs
            .get("tags")
            .and_then(Value::as_list)
            .map(|l| l.iter().filter_map(Value::to_template_string).collect())
            .unwrap_or_default(),
        metadata: attrs
            .get("metadata")
            .and_then(Value::as_map)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.to_template_string()?)))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Runs one operation.
pub fn execute(
    change: &Change,
    step: Step,
    after: Option<&ValueMap>,
    context: &OperationContext<'_>,
) -> Result<Outcome, OperationError> {
    let kind = change.address.kind;
    let backend_id = object_id(change, step).to_owned();
    if step == Step::Delete {
        delete(change, &backend_id, context)?;
        return Ok(Outcome::Removed);
    }
    let after =
        after.ok_or_else(|| OperationError::Precondition(format!("`{}` has no planned values", change.address)))?;
    let mut computed = ValueMap::new();
    computed.insert("id".into(), Value::String(backend_id.clone()));
    let mut status = "available".to_owned();
    match kind {
        // A changed rule's back-end limits go to every volume of the types that use it.
        ResourceKind::Qos if step == Step::Update => push_rule(&backend_id, after, context)?,
        // Rules and types are blockform's own objects: recorded, not created anywhere.
        ResourceKind::Qos | ResourceKind::VolumeType => {}
        // A policy is recorded; each apply takes the backups that are due and prunes.
        ResourceKind::BackupPolicy => {
            super::backup::run_policy(&backend_id, after, context)?;
        }
        ResourceKind::Volume => {
            let provider = provider_for(change, step, context)?;
            let state = if step == Step::Create {
                let spec = volume_spec(&backend_id, after, context)?;
                match restore_source(after) {
                    Some(backup_id) => {
                        super::backup::create_restored_volume(provider.as_ref(), &spec, &backup_id, context)?
                    }
                    None => provider.create_volume(&spec)?,
                }
            } else {
                if let Some(StorageAction::Extend { to_gib, .. }) = &change.storage {
                    provider.extend_volume(&backend_id, *to_gib)?;
                }
                // A retype records the new type's name with the volume (sidecar, image-meta).
                let retyped = change
                    .before
                    .as_ref()
                    .and_then(|before| before.get("type"))
                    .is_some_and(|old| Some(old) != after.get("type"));
                let type_name = retyped
                    .then(|| string(after, "type").and_then(|id| (context.by_id)(&id)))
                    .flatten()
                    .map(|volume_type| type_name(&volume_type));
                provider.update_volume_metadata(&backend_id, &properties(after), type_name.as_deref())?
            };
            // Back-end limits of the volume's type live on the volume itself (Ceph: rbd_qos_*).
            if provider.capabilities().qos_backend {
                let specs = backend_qos(after, context);
                if specs != state.qos
                    && let Err(error) = provider.apply_qos(&backend_id, &specs)
                {
                    // A volume this step created is not recorded when the step fails: it
                    // must not stay in the back end either.
                    if step == Step::Create {
                        let _ = provider.delete_volume(&backend_id);
                    }
                    return Err(error.into());
                }
            }
            computed.insert("backend_name".into(), Value::String(state.backend_name.clone()));
            status = state.status.to_string();
        }
        ResourceKind::Snapshot => {
            let provider = provider_for(change, step, context)?;
            let volume = string(after, "volume")
                .ok_or_else(|| OperationError::Precondition(format!("`{}` has no volume", change.address)))?;
            if step == Step::Create {
                let spec = SnapshotSpec {
                    backend_name: backend_id.clone(),
                    volume_backend_name: volume.clone(),
                    name: string(after, "name").unwrap_or_default(),
                    description: string(after, "description"),
                };
                let state = provider.create_snapshot(&spec)?;
                #[allow(clippy::cast_precision_loss)]
                computed.insert(
                    "size".into(),
                    Value::Number(state.size_bytes.div_ceil(blockform_provider::GIB) as f64),
                );
                computed.insert(
                    "created_at".into(),
                    Value::String(crate::model::timestamp(state.created_at_unix_secs)),
                );
                status = state.status.to_string();
            }
            // Name, description and metadata of a snapshot are kept in state only.
        }
        ResourceKind::Image => {
            let provider = provider_for(change, step, context)?;
            let volume = string(after, "volume")
                .ok_or_else(|| OperationError::Precondition(format!("`{}` has no volume", change.address)))?;
            let format = if string(after, "format").as_deref() == Some("qcow2") {
                ImageFormat::Qcow2
            } else {
                ImageFormat::Raw
            };
            let extension = if format == ImageFormat::Qcow2 { "qcow2" } else { "raw" };
            let destination = context
                .dir
                .join(".blockform")
                .join("images")
                .join(format!("{backend_id}.{extension}"));
            if let Some(parent) = destination.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| OperationError::Precondition(format!("cannot create `{}`: {e}", parent.display())))?;
            }
            let exported = provider.export_image(&ImageExportSpec {
                volume_backend_name: volume,
                format,
                destination,
            })?;
            computed.insert("path".into(), Value::String(exported.path.display().to_string()));
            // In GiB, rounded up, as every other size blockform shows.
            #[allow(clippy::cast_precision_loss)]
            computed.insert(
                "size".into(),
                Value::Number(exported.file_size_bytes.div_ceil(blockform_provider::GIB) as f64),
            );
        }
        ResourceKind::Attachment => {
            let host = change.provider.clone().unwrap_or_default();
            context
                .providers
                .hypervisor(&host)
                .map_err(OperationError::Precondition)?;
            let volume = string(after, "volume")
                .and_then(|id| (context.by_id)(&id))
                .ok_or_else(|| {
                    OperationError::Precondition(format!("the volume of `{}` is not in state", change.address))
                })?;
            let spec = blockform_provider::AttachmentSpec {
                volume_backend_name: volume.backend_id.clone(),
                instance: string(after, "instance").unwrap_or_default(),
                host: host.clone(),
                device: string(after, "device"),
            };
            let storage = volume.provider.unwrap_or_default();
            context
                .providers
                .attach(&host, &storage, &spec)
                .map_err(|error| match error {
                    crate::providers::AttachError::Provider(error) => OperationError::from(error),
                    crate::providers::AttachError::Unavailable(why) => OperationError::Precondition(why),
                })?;
            "attached".clone_into(&mut status);
        }
        ResourceKind::Backup => {
            if step == Step::Create {
                let manifest = super::backup::take(&backend_id, after, context)?;
                super::backup::computed(&manifest, &mut computed);
            }
            // Name and description of a backup are kept in state only.
        }
    }
    computed.insert("status".into(), Value::String(status.clone()));
    Ok(Outcome::Put(record(change, step, after, &computed, status)))
}

/// The state record of a resource after an operation.
pub fn record(change: &Change, step: Step, after: &ValueMap, computed: &ValueMap, status: String) -> ResourceState {
    let schema = resource_schema(change.address.kind);
    let mut attributes = serde_json::Map::new();
    for spec in schema.attrs {
        attributes.insert(
            spec.name.to_owned(),
            after.get(spec.name).map_or(serde_json::Value::Null, Value::to_json),
        );
    }
    for name in schema.computed {
        let value = computed
            .get(*name)
            .or_else(|| after.get(*name).filter(|v| !v.is_unknown()));
        attributes.insert(
            (*name).to_owned(),
            value.map_or(serde_json::Value::Null, Value::to_json),
        );
    }
    // What a refresh recorded about the object itself stays with it through an update.
    if step == Step::Update
        && let Some(unmanaged) = change.before.as_ref().and_then(|b| b.get(UNMANAGED_SNAPSHOTS))
    {
        attributes.insert(UNMANAGED_SNAPSHOTS.to_owned(), unmanaged.to_json());
    }
    ResourceState {
        address: change.address.to_string(),
        backend_id: object_id(change, step).to_owned(),
        provider: change.provider.clone(),
        attributes,
        dependencies: change.depends_on.iter().map(ToString::to_string).collect(),
        status,
    }
}

/// The name a volume type is recorded under in the back end (its `name`).
fn type_name(volume_type: &ResourceState) -> String {
    volume_type
        .attributes
        .get("name")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

fn volume_spec(
    backend_id: &str,
    after: &ValueMap,
    context: &OperationContext<'_>,
) -> Result<VolumeSpec, OperationError> {
    let missing = |what: &str| OperationError::Precondition(format!("the volume's {what} is not in state"));
    let type_id = string(after, "type").ok_or_else(|| missing("type"))?;
    let volume_type = (context.by_id)(&type_id).ok_or_else(|| missing("type"))?;
    let type_name = type_name(&volume_type);
    let extra_specs: BTreeMap<String, String> = volume_type
        .attributes
        .get("extra_specs")
        .and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let source = match after.get("source").and_then(Value::as_map) {
        None => VolumeSource::Empty,
        Some(source) => {
            if let Some(Value::String(snapshot_id)) = source.get("snapshot") {
                let snapshot = (context.by_id)(snapshot_id).ok_or_else(|| missing("source snapshot"))?;
                let volume = snapshot
                    .attributes
                    .get("volume")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                VolumeSource::Snapshot {
                    volume_backend_name: volume,
                    snapshot_backend_name: snapshot.backend_id,
                }
            } else if let Some(Value::String(volume_id)) = source.get("volume") {
                VolumeSource::Volume {
                    backend_name: volume_id.clone(),
                }
            } else if let Some(Value::String(path)) = source.get("image") {
                let path = PathBuf::from(path);
                let path = if path.is_absolute() {
                    path
                } else {
                    context.dir.join(path)
                };
                let format = if path.extension().is_some_and(|e| e == "qcow2") {
                    ImageFormat::Qcow2
                } else {
                    ImageFormat::Raw
                };
                VolumeSource::ImageFile { path, format }
            } else {
                VolumeSource::Empty
            }
        }
    };
    Ok(VolumeSpec {
        backend_name: backend_id.to_owned(),
        properties: properties(after),
        size_gib: gib(after, "size").ok_or_else(|| missing("size"))?,
        volume_type: type_name,
        extra_specs,
        source,
    })
}

/// Applies a rule's new back-end limits to every volume whose type uses the rule, on the
/// providers that enforce back-end QoS.
fn push_rule(rule_id: &str, after: &ValueMap, context: &OperationContext<'_>) -> Result<(), OperationError> {
    let consumer = string(after, "consumer").unwrap_or_else(|| "back-end".to_owned());
    let specs: QosSpecs = if consumer == "front-end" {
        QosSpecs::default()
    } else {
        after
            .get("specs")
            .and_then(Value::as_map)
            .map(|specs| {
                specs
                    .iter()
                    .filter_map(|(key, value)| Some((key.clone(), u64::try_from(value.as_i64()?).ok()?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let records = (context.records)();
    let types: std::collections::HashSet<&str> = records
        .iter()
        .filter(|record| record.address.starts_with("volume_type."))
        .filter(|record| record.attributes.get("qos").and_then(serde_json::Value::as_str) == Some(rule_id))
        .map(|record| record.backend_id.as_str())
        .collect();
    for volume in records.iter().filter(|record| {
        record.address.starts_with("volume.")
            && record
                .attributes
                .get("type")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|type_id| types.contains(type_id))
    }) {
        let Some(provider) = volume.provider.as_deref().and_then(|name| context.providers.get(name)) else {
            continue;
        };
        if provider.capabilities().qos_backend {
            provider.apply_qos(&volume.backend_id, &specs)?;
        }
    }
    Ok(())
}

/// The back-end QoS limits of a volume's type: its rule's specs when the rule's consumer is
/// `back-end` or `both`, no limits otherwise.
fn backend_qos(after: &ValueMap, context: &OperationContext<'_>) -> QosSpecs {
    let rule = string(after, "type")
        .and_then(|type_id| (context.by_id)(&type_id))
        .and_then(|volume_type| {
            volume_type
                .attributes
                .get("qos")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        })
        .and_then(|qos_id| (context.by_id)(&qos_id));
    rule.map(|rule| crate::refresh::backend_limits(&rule))
        .unwrap_or_default()
}

/// The backup a new volume is restored from, if any.
fn restore_source(after: &ValueMap) -> Option<String> {
    after
        .get("source")
        .and_then(Value::as_map)
        .and_then(|source| source.get("backup"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn delete(change: &Change, backend_id: &str, context: &OperationContext<'_>) -> Result<(), OperationError> {
    let before = change.before.as_ref();
    match change.address.kind {
        // A policy's backups stay in its store unless it says otherwise (`on_destroy`).
        ResourceKind::BackupPolicy if crate::backup::lifecycle::deletes_its_backups(before) => {
            super::backup::delete_policy_backups(backend_id, before, context)
        }
        ResourceKind::Qos | ResourceKind::VolumeType | ResourceKind::BackupPolicy | ResourceKind::Attachment => Ok(()),
        ResourceKind::Volume => Ok(provider_for(change, Step::Delete, context)?.delete_volume(backend_id)?),
        ResourceKind::Snapshot => {
            let volume = before.and_then(|b| string(b, "volume")).unwrap_or_default();
            Ok(provider_for(change, Step::Delete, context)?.delete_snapshot(&volume, backend_id)?)
        }
        ResourceKind::Image => {
            if let Some(path) = before.and_then(|b| string(b, "path")) {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(OperationError::Precondition(format!(
                            "cannot delete the image `{path}`: {e}"
                        )));
                    }
                }
            }
            Ok(())
        }
        ResourceKind::Backup => super::backup::delete(backend_id, before, context),
    }
}
