//! The storage objects of blockform and their rules (SPEC §1): the resource kinds, one handler
//! per kind (`kinds`: schema, defaults, replacement rules, provider route, typed specs), the
//! values every layer speaks, addresses and limits.
//!
//! The bottom of the engine: it depends on no other part of it. The configuration evaluates
//! into these values and checks them against these schemas; plan, graph, render and apply ask
//! the handlers instead of matching on the kind.

mod address;
pub mod kinds;
mod schema;
pub mod value;

pub use address::{Address, InstanceKey};

/// A time as blockform writes it in state and output: RFC 3339 in UTC, to the second
/// (`2026-12-05T16:16:37Z`).
pub fn timestamp(unix_secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix_secs)).to_string()
}

/// A volume attribute that refresh fills in and state keeps, but no configuration sets: the
/// names of the volume's snapshots that no state record owns (taken outside blockform). The
/// plan refuses to delete a volume that has any: blockform deletes only what it owns.
pub const UNMANAGED_SNAPSHOTS: &str = "unmanaged_snapshots";

/// The attribute under which a refreshed volume lists the instance disks that hold it without
/// an attachment of blockform's (attached by hand): `DOMAIN:DEVICE on HYPERVISOR`, sorted.
pub const UNMANAGED_ATTACHMENTS: &str = "unmanaged_attachments";
pub use blockform_provider::{DurationError, parse_duration};
pub use kinds::{
    QOS_CONSUMERS, QOS_KEYS, ResourceHandler, ResourceSpec, SOURCE_KEYS, fill_defaults, handler, identity,
    resource_schema,
};
pub use schema::{AttrSpec, AttrType, BlockSchema, LIFECYCLE_ATTRS, STORE_KINDS, convert, store_schema};

use std::fmt;

/// The kinds of resource a configuration declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A QoS rule: I/O limits attached to volume types.
    Qos,
    /// A volume type: picks the back end and carries a QoS rule.
    VolumeType,
    /// A block volume.
    Volume,
    /// A volume attached to an instance on a hypervisor.
    Attachment,
    /// A point-in-time snapshot of a volume, inside its back end.
    Snapshot,
    /// A copy of a volume's data in a backup store.
    Backup,
    /// A schedule of backups with retention.
    BackupPolicy,
    /// An image file exported from a volume.
    Image,
}

impl ResourceKind {
    /// Every kind, in the order they are created.
    pub const ALL: [ResourceKind; 8] = [
        ResourceKind::Qos,
        ResourceKind::VolumeType,
        ResourceKind::Volume,
        ResourceKind::Attachment,
        ResourceKind::Snapshot,
        ResourceKind::Backup,
        ResourceKind::BackupPolicy,
        ResourceKind::Image,
    ];

    /// The kind's name in the language (`volume_type`).
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::Qos => "qos",
            ResourceKind::VolumeType => "volume_type",
            ResourceKind::Volume => "volume",
            ResourceKind::Attachment => "attachment",
            ResourceKind::Snapshot => "snapshot",
            ResourceKind::Backup => "backup",
            ResourceKind::BackupPolicy => "backup_policy",
            ResourceKind::Image => "image",
        }
    }

    /// The kind with this name in the language.
    pub fn from_name(name: &str) -> Option<ResourceKind> {
        ResourceKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The handler that holds this kind's rules.
    pub fn handler(self) -> &'static dyn ResourceHandler {
        kinds::handler(self)
    }

    /// Whether deleting or replacing an object of this kind destroys data.
    pub fn holds_data(self) -> bool {
        self.handler().holds_data()
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The limits of SPEC §1.
pub mod limits {
    /// Longest name of any object, in characters.
    pub const NAME_MAX_CHARS: usize = 128;
    /// Smallest volume, in GiB.
    pub const SIZE_MIN_GIB: i64 = 1;
    /// Largest volume, in GiB.
    pub const SIZE_MAX_GIB: i64 = 65536;
    /// Largest volume that can be turned into an image, in GiB.
    pub const IMAGE_MAX_GIB: i64 = 300;
    /// Most instances a `count` or `for_each` may create.
    pub const MAX_INSTANCES: usize = 100_000;
}
