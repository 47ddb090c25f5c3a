//! The operations of a volume: create (empty, cloned, from an image file or restored from a
//! backup), grow and retype in place, delete; the back-end limits of its type go with it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use blockform_provider::{
    ImageFormat, QosSpecs, StorageProvider, VolumeProperties, VolumeSource, VolumeSpec, VolumeState,
};

use super::{Operation, Operations, Written, id, provider_for, string};
use crate::apply::operation::{OperationContext, OperationError};
use crate::config::value::{Value, ValueMap};
use crate::model::kinds::Volume;
use crate::plan::{Change, Step, StorageAction};
use crate::state::ResourceState;

impl Operations for Volume {
    fn create(&self, op: &Operation<'_>, after: &ValueMap, written: &mut Written) -> Result<(), OperationError> {
        let Operation {
            change,
            step,
            backend_id,
            context,
        } = *op;
        let provider = provider_for(change, step, context)?;
        let spec = volume_spec(backend_id, after, context)?;
        let state = match restore_source(after) {
            Some(backup_id) => {
                crate::apply::backup::create_restored_volume(provider.as_ref(), &spec, &backup_id, context)?
            }
            None => provider.create_volume(&spec)?,
        };
        settle(op, after, provider.as_ref(), &state, written)
    }

    fn update(&self, op: &Operation<'_>, after: &ValueMap, written: &mut Written) -> Result<(), OperationError> {
        let Operation {
            change,
            step,
            backend_id,
            context,
        } = *op;
        let provider = provider_for(change, step, context)?;
        if let Some(StorageAction::Extend { to_gib, .. }) = &change.storage {
            extend(provider.as_ref(), backend_id, *to_gib, context)?;
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
        let state = provider.update_volume_metadata(backend_id, &properties(after), type_name.as_deref())?;
        settle(op, after, provider.as_ref(), &state, written)?;
        // An attached volume's disk takes the front-end limits of its new type in place.
        if retyped {
            let limits = super::attachment::type_front_end_limits(string(after, "type").as_deref(), context.by_id);
            super::attachment::set_front_end_limits_where(context, |volume| {
                (volume.backend_id == backend_id).then(|| limits.clone())
            })?;
        }
        Ok(())
    }

    fn delete(&self, op: &Operation<'_>) -> Result<(), OperationError> {
        Ok(provider_for(op.change, Step::Delete, op.context)?.delete_volume(op.backend_id)?)
    }

    /// Its own (both halves of a replacement) and the source of a clone or of a volume made
    /// from a snapshot.
    fn touched_volumes(
        &self,
        change: &Change,
        values: Option<&ValueMap>,
        by_id: &dyn Fn(&str) -> Option<ResourceState>,
    ) -> Vec<String> {
        let mut touched = Vec::new();
        touched.extend(change.backend_id.clone());
        touched.extend(change.replacement_id.clone());
        let source = values.and_then(|v| v.get("source")).and_then(Value::as_map);
        if let Some(source) = source {
            touched.extend(id(source.get("volume")));
            if let Some(snapshot) = id(source.get("snapshot")) {
                let volume = by_id(&snapshot).and_then(|s| {
                    s.attributes
                        .get("volume")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned)
                });
                touched.extend(volume);
            }
        }
        touched
    }
}

/// What a create and an update of a volume end with: the back-end limits of its type, and the
/// computed values of the volume as the back end now has it.
fn settle(
    op: &Operation<'_>,
    after: &ValueMap,
    provider: &dyn StorageProvider,
    state: &VolumeState,
    written: &mut Written,
) -> Result<(), OperationError> {
    let Operation {
        step,
        backend_id,
        context,
        ..
    } = *op;
    // Back-end limits of the volume's type live on the volume itself (Ceph: rbd_qos_*).
    if provider.capabilities().qos_backend {
        let specs = backend_qos(after, context);
        if specs != state.qos
            && let Err(error) = provider.apply_qos(backend_id, &specs)
        {
            // A volume this step created is not recorded when the step fails: it
            // must not stay in the back end either.
            if step == Step::Create {
                let _ = provider.delete_volume(backend_id);
            }
            return Err(error.into());
        }
    }
    written
        .computed
        .insert("backend_name".into(), Value::String(state.backend_name.clone()));
    written.status = state.status.to_string();
    Ok(())
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

/// Grows a volume to `to_gib` and tells every running domain it is attached to. A qcow2 file
/// that a running QEMU holds open (and locked) is grown by that QEMU (`blockresize`); any
/// other volume grows in its back end first, then the guests are told.
fn extend(
    provider: &dyn StorageProvider,
    backend_id: &str,
    to_gib: u64,
    context: &OperationContext<'_>,
) -> Result<(), OperationError> {
    let running = super::attachment::running_holders(backend_id, context)?;
    let held_file = match running.first() {
        Some(holder) => matches!(
            provider.connect(backend_id, &holder.hypervisor.host())?,
            blockform_provider::DiskSource::File { .. }
        ),
        None => false,
    };
    if !held_file {
        provider.extend_volume(backend_id, to_gib)?;
    }
    for holder in running {
        holder
            .hypervisor
            .notify_resize(&holder.instance, &holder.device, to_gib * blockform_provider::GIB)?;
    }
    Ok(())
}
