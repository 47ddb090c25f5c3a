//! A backup policy: a schedule of full and incremental backups of some volumes, with
//! retention. It exists in state; its backups live in its store.

use super::{BackendObject, ProviderRoute, ResourceHandler, ResourceSpec, present};
use crate::model::ResourceKind;
use crate::model::schema::{AttrSpec, AttrType, BlockSchema, attr, required};
use crate::model::value::{Value, ValueMap};

const ATTRS: &[AttrSpec] = &[
    required("volumes", AttrType::RefList(ResourceKind::Volume)),
    required("store", AttrType::String),
    required("full_every", AttrType::Duration),
    attr("incremental_every", AttrType::Duration),
    required("keep", AttrType::Integer),
    attr("force", AttrType::Bool),
    attr("on_destroy", AttrType::String),
];

/// The handler of `backup_policy` resources.
#[derive(Debug, Clone, Copy)]
pub struct BackupPolicy;

/// A backup policy as configured.
#[derive(Debug, Clone, Copy)]
pub struct BackupPolicySpec<'a> {
    /// The volumes it backs up (references).
    pub volumes: &'a [Value],
    /// Its backup store.
    pub store: Option<&'a Value>,
}

impl ResourceHandler for BackupPolicy {
    fn kind(&self) -> ResourceKind {
        ResourceKind::BackupPolicy
    }

    fn schema(&self) -> BlockSchema {
        BlockSchema {
            attrs: ATTRS,
            computed: &["id"],
        }
    }

    fn backend_prefix(&self) -> &'static str {
        "policy"
    }

    fn provider_route(&self) -> ProviderRoute {
        ProviderRoute::Named
    }

    fn backend_object(&self) -> BackendObject {
        BackendObject::StateOnly
    }

    fn takes_backups(&self) -> bool {
        true
    }

    fn spec<'a>(&self, attrs: &'a ValueMap) -> ResourceSpec<'a> {
        ResourceSpec::BackupPolicy(BackupPolicySpec {
            volumes: attrs.get("volumes").and_then(Value::as_list).unwrap_or_default(),
            store: present(attrs, "store"),
        })
    }
}
