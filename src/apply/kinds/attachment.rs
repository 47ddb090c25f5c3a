//! The operations of an attachment: the volume's storage provider says where the disk is
//! (`connect`), the hypervisor named by `host` attaches it with the volume's id as serial and
//! the front-end limits of the volume's type; the device it chose is recorded. Removing one
//! detaches the disk and returns only once the instance no longer holds it.

use blockform_provider::QosSpecs;

use super::{Operation, Operations, Written, string};
use crate::apply::operation::OperationError;
use crate::config::value::{Value, ValueMap};
use crate::model::kinds::Attachment;
use crate::state::ResourceState;

/// The state record of the attachment's volume.
fn volume_in_state(op: &Operation<'_>, after: &ValueMap) -> Result<ResourceState, OperationError> {
    string(after, "volume")
        .and_then(|id| (op.context.by_id)(&id))
        .ok_or_else(|| OperationError::Precondition(format!("the volume of `{}` is not in state", op.change.address)))
}

impl Operations for Attachment {
    fn create(&self, op: &Operation<'_>, after: &ValueMap, written: &mut Written) -> Result<(), OperationError> {
        let Operation { change, context, .. } = *op;
        let host = change.provider.clone().unwrap_or_default();
        context
            .providers
            .hypervisor(&host)
            .map_err(OperationError::Precondition)?;
        let volume = volume_in_state(op, after)?;
        let spec = blockform_provider::AttachmentSpec {
            volume_backend_name: volume.backend_id.clone(),
            instance: string(after, "instance").unwrap_or_default(),
            host: host.clone(),
            device: string(after, "device"),
            bus: string(after, "bus"),
            // The guest finds the disk by the volume's id under /dev/disk/by-id, whatever
            // device name it gets.
            serial: Some(crate::providers::disk_serial(&volume.backend_id).to_owned()),
            read_only: after.get("read_only").and_then(Value::as_bool).unwrap_or(false),
            live: after.get("live").and_then(Value::as_bool).unwrap_or(true),
            limits: front_end_limits(&volume, context.by_id),
        };
        let storage = volume.provider.unwrap_or_default();
        let attached = context
            .providers
            .attach(&host, &storage, &spec)
            .map_err(|error| match error {
                crate::providers::AttachError::Provider(error) => OperationError::from(error),
                crate::providers::AttachError::Unavailable(why) => OperationError::Precondition(why),
            })?;
        if let Some(device) = attached.device {
            written.computed.insert("device".into(), Value::String(device));
        }
        "attached".clone_into(&mut written.status);
        Ok(())
    }

    /// Only the front-end limits of the disk change in place (set again after they were
    /// changed behind blockform's back); every configured attribute replaces the attachment.
    fn update(&self, op: &Operation<'_>, after: &ValueMap, written: &mut Written) -> Result<(), OperationError> {
        self.create(op, after, written)?;
        let Operation { change, context, .. } = *op;
        let host = change.provider.clone().unwrap_or_default();
        let hypervisor = context
            .providers
            .hypervisor(&host)
            .map_err(OperationError::Precondition)?;
        let volume = volume_in_state(op, after)?;
        let device = written
            .computed
            .get("device")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| string(after, "device"))
            .unwrap_or_default();
        let instance = string(after, "instance").unwrap_or_default();
        hypervisor.set_front_end_limits(&instance, &device, &front_end_limits(&volume, context.by_id))?;
        Ok(())
    }

    fn delete(&self, op: &Operation<'_>) -> Result<(), OperationError> {
        let Operation { change, context, .. } = *op;
        let Some(before) = change.before.as_ref() else {
            return Ok(());
        };
        let host = change.existing_provider().unwrap_or_default();
        let hypervisor = context
            .providers
            .hypervisor(host)
            .map_err(OperationError::Precondition)?;
        let instance = string(before, "instance").unwrap_or_default();
        let volume = string(before, "volume").unwrap_or_default();
        // The device the volume is at now (as recorded, or found by its serial or source).
        let device = if let Some(device) = string(before, "device") {
            Some(device)
        } else {
            let instances = hypervisor.refresh()?;
            crate::providers::disk_of(&instances, &instance, &volume).map(|disk| disk.device.clone())
        };
        if let Some(device) = device {
            hypervisor.detach(&instance, &device)?;
        }
        Ok(())
    }
}

/// A running instance that holds a volume: the hypervisor, the instance and the device.
pub struct Holder {
    /// The hypervisor it runs on.
    pub hypervisor: std::sync::Arc<dyn blockform_provider::Hypervisor>,
    /// The instance.
    pub instance: String,
    /// The volume's device in it.
    pub device: String,
}

impl Holder {
    /// Has the instance's QEMU take the internal snapshot `name` of the volume's file, a frozen
    /// point in time to read while the instance goes on writing; one of that name left by a
    /// killed run is taken again. (Asked of QEMU, never read from the file it may be writing.)
    pub fn take_snapshot(&self, name: &str) -> blockform_provider::Result<()> {
        let Self {
            hypervisor,
            instance,
            device,
        } = self;
        if let Err(error) = hypervisor.create_disk_snapshot(instance, device, name) {
            if !error.to_string().contains("already exists") {
                return Err(error);
            }
            hypervisor.delete_disk_snapshot(instance, device, name)?;
            hypervisor.create_disk_snapshot(instance, device, name)?;
        }
        Ok(())
    }

    /// Has the instance's QEMU delete the internal snapshot `name`; a missing one is success.
    pub fn drop_snapshot(&self, name: &str) -> blockform_provider::Result<()> {
        self.hypervisor.delete_disk_snapshot(&self.instance, &self.device, name)
    }
}

/// The running instances that the attachments in state connect the volume `backend_id` to
/// (one refresh of each of their hypervisors).
pub fn running_holders(
    backend_id: &str,
    context: &crate::apply::operation::OperationContext<'_>,
) -> Result<Vec<Holder>, OperationError> {
    running_holders_in(backend_id, &(context.records)(), context.providers)
}

/// [`running_holders`] among `records`.
pub fn running_holders_in(
    backend_id: &str,
    records: &[ResourceState],
    providers: &crate::providers::Providers,
) -> Result<Vec<Holder>, OperationError> {
    let mut holders = Vec::new();
    for attachment in records
        .iter()
        .filter(|r| r.address.starts_with("attachment."))
        .filter(|r| r.attributes.get("volume").and_then(serde_json::Value::as_str) == Some(backend_id))
    {
        let text = |key: &str| {
            attachment
                .attributes
                .get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let (Some(host), Some(instance), Some(device)) =
            (attachment.provider.clone(), text("instance"), text("device"))
        else {
            continue;
        };
        let hypervisor = providers.hypervisor(&host).map_err(OperationError::Precondition)?;
        if hypervisor.refresh()?.iter().any(|i| i.name == instance && i.running) {
            holders.push(Holder {
                hypervisor,
                instance,
                device,
            });
        }
    }
    Ok(holders)
}

/// The running instance that holds the qcow2 file of volume `backend_id` open (QEMU locks the
/// image against any other writer, `qemu-img` included), if one does.
pub fn file_holder(
    provider: &dyn blockform_provider::StorageProvider,
    backend_id: &str,
    context: &crate::apply::operation::OperationContext<'_>,
) -> Result<Option<Holder>, OperationError> {
    file_holder_in(provider, backend_id, &(context.records)(), context.providers)
}

/// [`file_holder`] among `records`.
pub fn file_holder_in(
    provider: &dyn blockform_provider::StorageProvider,
    backend_id: &str,
    records: &[ResourceState],
    providers: &crate::providers::Providers,
) -> Result<Option<Holder>, OperationError> {
    let Some(holder) = running_holders_in(backend_id, records, providers)?.into_iter().next() else {
        return Ok(None);
    };
    let source = provider.connect(backend_id, &holder.hypervisor.host())?;
    Ok(matches!(source, blockform_provider::DiskSource::File { .. }).then_some(holder))
}

fn id_of(record: &ResourceState, key: &str) -> Option<String> {
    record
        .attributes
        .get(key)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// The front-end limits a volume's disk gets: those of its type's QoS rule when the rule's
/// consumer is `front-end` or `both`, as state records them.
pub fn front_end_limits(volume: &ResourceState, by_id: &dyn Fn(&str) -> Option<ResourceState>) -> QosSpecs {
    type_front_end_limits(id_of(volume, "type").as_deref(), by_id)
}

/// The front-end limits the disk of a volume of the type `type_id` gets (see
/// [`front_end_limits`]).
pub fn type_front_end_limits(type_id: Option<&str>, by_id: &dyn Fn(&str) -> Option<ResourceState>) -> QosSpecs {
    type_id
        .and_then(by_id)
        .and_then(|volume_type| id_of(&volume_type, "qos"))
        .and_then(|rule_id| by_id(&rule_id))
        .map(|rule| crate::refresh::front_end_limits(&rule))
        .unwrap_or_default()
}

/// Sets the front-end limits of the disks of the attachments in state, each through its
/// hypervisor (live, without a re-attach): `limits_for` gives, for an attachment's volume as
/// state records it, the limits its disk gets now, or `None` to leave the disk as it is.
pub fn set_front_end_limits_where(
    context: &crate::apply::operation::OperationContext<'_>,
    limits_for: impl Fn(&ResourceState) -> Option<QosSpecs>,
) -> Result<(), OperationError> {
    let records = (context.records)();
    for attachment in records.iter().filter(|r| r.address.starts_with("attachment.")) {
        let Some(limits) = id_of(attachment, "volume")
            .and_then(|id| records.iter().find(|r| r.backend_id == id))
            .and_then(&limits_for)
        else {
            continue;
        };
        let (Some(instance), Some(device), Some(host)) = (
            id_of(attachment, "instance"),
            id_of(attachment, "device"),
            attachment.provider.as_deref(),
        ) else {
            continue;
        };
        let hypervisor = context
            .providers
            .hypervisor(host)
            .map_err(OperationError::Precondition)?;
        hypervisor.set_front_end_limits(&instance, &device, &limits)?;
    }
    Ok(())
}
