//! An attachment: a volume connected to an instance on a hypervisor host. Every configured
//! attribute names the connection, so any change makes a new one; the device the hypervisor
//! chose when none was configured is recorded and is not a difference afterwards.

use super::{BackendObject, ProviderRoute, ResourceHandler, ResourceSpec, StorageStep, VolumeHold, present};
use crate::model::ResourceKind;
use crate::model::schema::{AttrSpec, AttrType, BlockSchema, attr, required};
use crate::model::value::{Value, ValueMap};

const ATTRS: &[AttrSpec] = &[
    required("volume", AttrType::Ref(ResourceKind::Volume)),
    required("instance", AttrType::String),
    required("host", AttrType::String),
    attr("device", AttrType::String),
    attr("bus", AttrType::String),
    attr("read_only", AttrType::Bool),
    attr("live", AttrType::Bool),
];

/// The buses a disk can be attached on.
pub const ATTACHMENT_BUSES: &[&str] = &["virtio", "scsi"];

/// The handler of `attachment` resources.
#[derive(Debug, Clone, Copy)]
pub struct Attachment;

/// An attachment as configured.
#[derive(Debug, Clone, Copy)]
pub struct AttachmentSpec<'a> {
    /// The attached volume (a reference).
    pub volume: Option<&'a Value>,
    /// The instance it is attached to.
    pub instance: Option<&'a Value>,
    /// The hypervisor's provider block.
    pub host: Option<&'a Value>,
    /// The device name in the guest.
    pub device: Option<&'a Value>,
    /// The bus (`virtio`, `scsi`).
    pub bus: Option<&'a Value>,
}

impl ResourceHandler for Attachment {
    fn kind(&self) -> ResourceKind {
        ResourceKind::Attachment
    }

    fn schema(&self) -> BlockSchema {
        BlockSchema {
            attrs: ATTRS,
            // `device` is also computed: chosen by the hypervisor when not configured.
            computed: &["id", "status", "device"],
        }
    }

    fn set_defaults(&self, attrs: &mut ValueMap) {
        for (key, value) in [
            ("bus", Value::String("virtio".into())),
            ("read_only", Value::Bool(false)),
            ("live", Value::Bool(true)),
        ] {
            if let Some(slot) = attrs.get_mut(key)
                && *slot == Value::Null
            {
                *slot = value;
            }
        }
    }

    fn forces_replacement(&self, attr: &str) -> bool {
        matches!(
            attr,
            "volume" | "instance" | "host" | "device" | "bus" | "read_only" | "live"
        )
    }

    fn provider_route(&self) -> ProviderRoute {
        ProviderRoute::Named
    }

    fn storage_on_create(&self, _attrs: &ValueMap) -> Option<StorageStep> {
        Some(StorageStep::Attach)
    }

    fn storage_on_delete(&self) -> Option<StorageStep> {
        Some(StorageStep::Detach)
    }

    fn volume_hold(&self) -> Option<VolumeHold> {
        Some(VolumeHold::Attached)
    }

    fn backend_object(&self) -> BackendObject {
        BackendObject::Attachment
    }

    fn spec<'a>(&self, attrs: &'a ValueMap) -> ResourceSpec<'a> {
        ResourceSpec::Attachment(AttachmentSpec {
            volume: present(attrs, "volume"),
            instance: present(attrs, "instance"),
            host: present(attrs, "host"),
            device: present(attrs, "device"),
            bus: present(attrs, "bus"),
        })
    }
}
