//! A snapshot: a point-in-time copy of a volume inside its back end, reached through the
//! volume's provider.

use super::{BackendObject, ProviderRoute, ResourceHandler, ResourceSpec, SourceKind, VolumeHold, present};
use crate::model::ResourceKind;
use crate::model::schema::{AttrSpec, AttrType, BlockSchema, attr, required};
use crate::model::value::{Value, ValueMap};

const ATTRS: &[AttrSpec] = &[
    required("volume", AttrType::Ref(ResourceKind::Volume)),
    attr("name", AttrType::String),
    attr("description", AttrType::String),
    attr("force", AttrType::Bool),
    attr("metadata", AttrType::StringMap),
];

/// The handler of `snapshot` resources.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot;

/// A snapshot as configured.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotSpec<'a> {
    /// Its volume (a reference).
    pub volume: Option<&'a Value>,
}

impl ResourceHandler for Snapshot {
    fn kind(&self) -> ResourceKind {
        ResourceKind::Snapshot
    }

    fn schema(&self) -> BlockSchema {
        BlockSchema {
            attrs: ATTRS,
            computed: &["id", "status", "created_at", "size"],
        }
    }

    fn holds_data(&self) -> bool {
        true
    }

    fn forces_replacement(&self, attr: &str) -> bool {
        attr == "volume"
    }

    fn create_only(&self, attr: &str) -> bool {
        attr == "force"
    }

    fn provider_route(&self) -> ProviderRoute {
        ProviderRoute::Through
    }

    fn destroyed_data(&self, replaced: bool) -> Option<&'static str> {
        Some(if replaced {
            "the snapshot is destroyed and taken again; its point-in-time data is lost"
        } else {
            "the snapshot is destroyed; no volume can be created from it any more"
        })
    }

    fn clone_parent(&self) -> Option<SourceKind> {
        Some(SourceKind::Snapshot)
    }

    fn volume_hold(&self) -> Option<VolumeHold> {
        Some(VolumeHold::Inside)
    }

    fn backend_object(&self) -> BackendObject {
        BackendObject::Snapshot
    }

    fn spec<'a>(&self, attrs: &'a ValueMap) -> ResourceSpec<'a> {
        ResourceSpec::Snapshot(SnapshotSpec {
            volume: present(attrs, "volume"),
        })
    }
}
