//! A backup: a copy of a volume's data in a backup store (named by `store`, its provider).

use super::{BackendObject, ProviderRoute, ResourceHandler, ResourceSpec, StorageStep, present, set_default};
use crate::model::ResourceKind;
use crate::model::schema::{AttrSpec, AttrType, BlockSchema, attr, required};
use crate::model::value::{Value, ValueMap};

const ATTRS: &[AttrSpec] = &[
    required("volume", AttrType::Ref(ResourceKind::Volume)),
    required("store", AttrType::String),
    attr("name", AttrType::String),
    attr("description", AttrType::String),
    attr("mode", AttrType::String),
    attr("force", AttrType::Bool),
];

/// The handler of `backup` resources.
#[derive(Debug, Clone, Copy)]
pub struct Backup;

/// A backup as configured.
#[derive(Debug, Clone, Copy)]
pub struct BackupSpec<'a> {
    /// The volume it copies (a reference).
    pub volume: Option<&'a Value>,
    /// Its backup store.
    pub store: Option<&'a Value>,
    /// `full` or `incremental`.
    pub mode: Option<&'a str>,
}

impl ResourceHandler for Backup {
    fn kind(&self) -> ResourceKind {
        ResourceKind::Backup
    }

    fn schema(&self) -> BlockSchema {
        BlockSchema {
            attrs: ATTRS,
            computed: &["id", "status", "created_at", "size", "parent"],
        }
    }

    fn set_defaults(&self, attrs: &mut ValueMap) {
        set_default(attrs, "mode", Value::String("full".into()));
    }

    fn holds_data(&self) -> bool {
        true
    }

    fn forces_replacement(&self, attr: &str) -> bool {
        matches!(attr, "volume" | "store" | "mode")
    }

    fn create_only(&self, attr: &str) -> bool {
        attr == "force"
    }

    fn provider_route(&self) -> ProviderRoute {
        ProviderRoute::Named
    }

    fn storage_on_create(&self, _attrs: &ValueMap) -> Option<StorageStep> {
        Some(StorageStep::Backup)
    }

    fn destroyed_data(&self, replaced: bool) -> Option<&'static str> {
        Some(if replaced {
            "the backup is destroyed and taken again; the old copy can no longer be restored"
        } else {
            "the backup is destroyed; it can no longer be restored"
        })
    }

    fn backend_object(&self) -> BackendObject {
        BackendObject::BackupManifest
    }

    fn takes_backups(&self) -> bool {
        true
    }

    fn spec<'a>(&self, attrs: &'a ValueMap) -> ResourceSpec<'a> {
        ResourceSpec::Backup(BackupSpec {
            volume: present(attrs, "volume"),
            store: present(attrs, "store"),
            mode: attrs.get("mode").and_then(Value::as_str),
        })
    }
}
