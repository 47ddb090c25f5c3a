//! One handler per resource kind: everything blockform knows about a kind that needs no back
//! end, in one place instead of a `match` on the kind in every stage.
//!
//! A [`ResourceHandler`] holds the kind's schema and defaults, which attribute changes force a
//! replacement, where its provider comes from, the storage step its create or delete is shown
//! as, the objects it holds on to (for the operation graph), how an interrupted operation on it
//! is recovered, and how its evaluated attributes read as a typed [`ResourceSpec`]. The engine
//! (diff, graph, render, recovery) asks [`ResourceKind::handler`] and stays generic; a new kind
//! is a new file here and one line in [`handler`].
//!
//! Specs borrow from the evaluated attributes: converting one costs a few map lookups and no
//! copy, so the plan of tens of thousands of objects reads each attribute once.

mod attachment;
mod backup;
mod backup_policy;
mod image;
mod qos;
mod snapshot;
mod volume;
mod volume_type;

pub use attachment::{ATTACHMENT_BUSES, Attachment, AttachmentSpec};
pub use backup::{Backup, BackupSpec};
pub use backup_policy::{BackupPolicy, BackupPolicySpec};
pub use image::{Image, ImageSpec};
pub use qos::{QOS_CONSUMERS, QOS_KEYS, Qos, QosSpec};
pub use snapshot::{Snapshot, SnapshotSpec};
pub use volume::{SOURCE_KEYS, SourceKind, Volume, VolumeSource, VolumeSpec};
pub use volume_type::{VolumeType, VolumeTypeSpec};

use super::ResourceKind;
use super::schema::{BlockSchema, convert_all};
use super::value::{Value, ValueMap};

/// What blockform knows about one resource kind, without a back end.
pub trait ResourceHandler: Sync {
    /// The kind this handler is for.
    fn kind(&self) -> ResourceKind;

    /// The attributes the kind's blocks accept and the ones the back end computes.
    fn schema(&self) -> BlockSchema;

    /// The prefix of the deterministic back-end names of new objects (`volume-<uuid>`).
    fn backend_prefix(&self) -> &'static str {
        self.kind().name()
    }

    /// Sets the defaults this kind adds to the common ones (see [`fill_defaults`]).
    fn set_defaults(&self, _attrs: &mut ValueMap) {}

    /// Whether deleting or replacing an object of this kind destroys data.
    fn holds_data(&self) -> bool {
        false
    }

    /// Whether a change of `attr` needs a new object (it cannot be changed in place).
    fn forces_replacement(&self, _attr: &str) -> bool {
        false
    }

    /// Whether `attr` matters only when the object is made (changing it later does nothing).
    fn create_only(&self, _attr: &str) -> bool {
        false
    }

    /// Where the provider block that carries an object of this kind is named.
    fn provider_route(&self) -> ProviderRoute;

    /// The storage step a create of an object with these attributes is shown as, if any.
    fn storage_on_create(&self, _attrs: &ValueMap) -> Option<StorageStep> {
        None
    }

    /// The storage step a delete is shown as, if any.
    fn storage_on_delete(&self) -> Option<StorageStep> {
        None
    }

    /// What a delete (or, with `replaced`, a replacement) destroys, in one clause; `None` for
    /// kinds that hold no data of their own.
    fn destroyed_data(&self, _replaced: bool) -> Option<&'static str> {
        None
    }

    /// How an object of this kind holds on to the volume its `volume` attribute names, which
    /// orders it before that volume's delete or change.
    fn volume_hold(&self) -> Option<VolumeHold> {
        None
    }

    /// The source kind under which a volume made from an object of this kind names it, when
    /// the back end can keep that volume tied to it (a clone of a volume or of a snapshot).
    fn clone_parent(&self) -> Option<SourceKind> {
        None
    }

    /// The object of another kind this kind uses through one attribute: it exists before its
    /// users and goes after them.
    fn association(&self) -> Option<Association> {
        None
    }

    /// What an object of this kind is outside state: recovery looks it up (and deletes the old
    /// half of an interrupted replacement) accordingly.
    fn backend_object(&self) -> BackendObject;

    /// Whether an interrupted operation on an object of this kind may leave change markers
    /// (or snapshots named as such) behind that no backup refers to: recovery looks for them.
    fn leaves_markers(&self) -> bool {
        self.takes_backups()
    }

    /// Whether making or updating an object of this kind takes backups (an interrupted one
    /// leaves change markers of unfinished backups behind).
    fn takes_backups(&self) -> bool {
        false
    }

    /// Computed attributes an adopted object records besides `id` and `status`.
    fn adopted_attributes(&self, _backend_id: &str) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// The evaluated attributes as this kind's typed spec.
    fn spec<'a>(&self, attrs: &'a ValueMap) -> ResourceSpec<'a>;
}

/// The handler of a kind: the one place that maps a kind to its rules.
pub fn handler(kind: ResourceKind) -> &'static dyn ResourceHandler {
    match kind {
        ResourceKind::Qos => &Qos,
        ResourceKind::VolumeType => &VolumeType,
        ResourceKind::Volume => &Volume,
        ResourceKind::Attachment => &Attachment,
        ResourceKind::Snapshot => &Snapshot,
        ResourceKind::Backup => &Backup,
        ResourceKind::BackupPolicy => &BackupPolicy,
        ResourceKind::Image => &Image,
    }
}

/// The schema of a resource kind (its handler's).
pub fn resource_schema(kind: ResourceKind) -> BlockSchema {
    handler(kind).schema()
}

/// An evaluated resource read as its kind's typed spec, borrowing the values.
#[derive(Debug, Clone, Copy)]
pub enum ResourceSpec<'a> {
    /// A QoS rule.
    Qos(QosSpec<'a>),
    /// A volume type.
    VolumeType(VolumeTypeSpec<'a>),
    /// A volume.
    Volume(VolumeSpec<'a>),
    /// An attachment.
    Attachment(AttachmentSpec<'a>),
    /// A snapshot.
    Snapshot(SnapshotSpec<'a>),
    /// A backup.
    Backup(BackupSpec<'a>),
    /// A backup policy.
    BackupPolicy(BackupPolicySpec<'a>),
    /// An image.
    Image(ImageSpec<'a>),
}

impl<'a> ResourceSpec<'a> {
    /// Reads `attrs` as the spec of `kind`.
    pub fn of(kind: ResourceKind, attrs: &'a ValueMap) -> ResourceSpec<'a> {
        handler(kind).spec(attrs)
    }

    /// The volume spec, when this is one.
    pub fn as_volume(&self) -> Option<&VolumeSpec<'a>> {
        match self {
            ResourceSpec::Volume(spec) => Some(spec),
            _ => None,
        }
    }

    /// The value that names the provider block (directly or through another object), as the
    /// kind's [`ProviderRoute`] says.
    pub fn provider_value(&self) -> Option<&'a Value> {
        match self {
            ResourceSpec::Qos(_) => None,
            ResourceSpec::VolumeType(spec) => spec.backend,
            ResourceSpec::Volume(spec) => spec.volume_type,
            ResourceSpec::Attachment(spec) => spec.host,
            ResourceSpec::Snapshot(SnapshotSpec { volume }) | ResourceSpec::Image(ImageSpec { volume }) => *volume,
            ResourceSpec::Backup(spec) => spec.store,
            ResourceSpec::BackupPolicy(spec) => spec.store,
        }
    }
}

/// Where the provider block that carries an object is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderRoute {
    /// Nowhere: the object exists only in state (a QoS rule).
    None,
    /// In one of its attributes (a type's `backend`, a backup's `store`, an attachment's `host`).
    Named,
    /// Through the object one of its attributes refers to (a volume's type, a snapshot's volume).
    Through,
}

/// A storage step a create or delete is shown as, besides the plain action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageStep {
    /// An attachment is made.
    Attach,
    /// An attachment is removed.
    Detach,
    /// A backup is taken.
    Backup,
    /// A volume is filled from a backup.
    Restore,
}

/// How an object holds on to its volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeHold {
    /// It lives inside the volume: it is deleted before the volume is (snapshots).
    Inside,
    /// It connects the volume to a guest: it is removed before the volume is deleted or
    /// changed in a way that needs it detached (attachments).
    Attached,
}

/// An object of another kind that a kind uses through one attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Association {
    /// A volume type's QoS rule (`qos`).
    QosRule,
    /// A volume's type (`type`).
    VolumeType,
}

impl Association {
    /// The attribute that refers to the associated object.
    pub fn attr(self) -> &'static str {
        match self {
            Association::QosRule => "qos",
            Association::VolumeType => "type",
        }
    }

    /// The kind of the associated object.
    pub fn target(self) -> ResourceKind {
        match self {
            Association::QosRule => ResourceKind::Qos,
            Association::VolumeType => ResourceKind::VolumeType,
        }
    }
}

/// What an object is outside state, which says how recovery finds (or deletes) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendObject {
    /// Nothing: the object is blockform's own and exists only in state.
    StateOnly,
    /// A volume its provider lists by name.
    Volume,
    /// A snapshot its provider lists by name among those of its volume.
    Snapshot,
    /// A file at its recorded `path`.
    File,
    /// A manifest in its backup store.
    BackupManifest,
    /// A disk of an instance, which its hypervisor lists.
    Attachment,
}

/// Converts attributes to their types as Terraform does (`size = "10"`), then fills in the
/// defaults of unset ones, so plans compare complete objects.
pub fn fill_defaults(kind: ResourceKind, label: &str, attrs: &mut ValueMap) {
    let handler = handler(kind);
    convert_all(&handler.schema(), attrs);
    set_default(attrs, "name", Value::String(label.to_owned()));
    set_default(attrs, "force", Value::Bool(false));
    set_default(attrs, "tags", Value::List(Vec::new()));
    set_default(attrs, "metadata", Value::Map(ValueMap::default()));
    set_default(attrs, "extra_specs", Value::Map(ValueMap::default()));
    handler.set_defaults(attrs);
}

/// Sets `key` to `value` when the block declares it and it is null.
fn set_default(attrs: &mut ValueMap, key: &str, value: Value) {
    if let Some(slot) = attrs.get_mut(key)
        && *slot == Value::Null
    {
        *slot = value;
    }
}

/// The identity of a referenced object: its id when known, else the origin of the unknown id.
pub fn identity(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Unknown(origin) if !origin.is_empty() => Some(origin.clone()),
        _ => None,
    }
}

/// A set attribute: `None` for an absent or null one.
fn present<'a>(attrs: &'a ValueMap, key: &str) -> Option<&'a Value> {
    attrs.get(key).filter(|v| !matches!(v, Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_handler() {
        for kind in ResourceKind::ALL {
            assert_eq!(handler(kind).kind(), kind);
        }
    }

    #[test]
    fn replacement_rules_follow_what_the_back_end_cannot_change() {
        assert!(Volume.forces_replacement("source"));
        assert!(!Volume.forces_replacement("size"), "a volume grows in place");
        assert!(
            !Volume.forces_replacement("type"),
            "a retype is in place within a back end"
        );
        for attr in ["volume", "instance", "host", "device", "bus"] {
            assert!(Attachment.forces_replacement(attr));
        }
        assert!(Backup.forces_replacement("mode"));
        assert!(!Qos.forces_replacement("specs"));
        assert!(Snapshot.create_only("force") && !Volume.create_only("force"));
    }

    #[test]
    fn only_volumes_and_snapshots_are_parents_of_clones() {
        assert_eq!(Volume.clone_parent(), Some(SourceKind::Volume));
        assert_eq!(Snapshot.clone_parent(), Some(SourceKind::Snapshot));
        assert_eq!(
            Backup.clone_parent(),
            None,
            "a restored volume is independent of its backup"
        );
        assert_eq!(Image.clone_parent(), None);
    }

    #[test]
    fn a_volume_spec_reads_its_values_without_copying_them() {
        let mut attrs = ValueMap::default();
        attrs.insert("size".into(), Value::Number(20.0));
        attrs.insert("type".into(), Value::Unknown("volume_type.fast.id".into()));
        let source: ValueMap = [("backup".to_owned(), Value::String("backup-1".into()))]
            .into_iter()
            .collect();
        attrs.insert("source".into(), Value::Map(source));
        let ResourceSpec::Volume(spec) = ResourceSpec::of(ResourceKind::Volume, &attrs) else {
            panic!("a volume's spec is a volume spec");
        };
        assert_eq!(spec.size_gib, Some(20));
        assert!(std::ptr::eq(spec.volume_type.unwrap(), attrs.get("type").unwrap()));
        let source = spec.source.unwrap();
        assert!(source.restores());
        assert_eq!(
            source.object(SourceKind::Backup).and_then(Value::as_str),
            Some("backup-1")
        );
        assert_eq!(Volume.storage_on_create(&attrs), Some(StorageStep::Restore));
    }

    #[test]
    fn defaults_fill_only_what_the_kind_declares() {
        let mut attrs: ValueMap = [
            ("name".to_owned(), Value::Null),
            (
                "source".to_owned(),
                Value::Map([("image".to_owned(), Value::String("i".into()))].into_iter().collect()),
            ),
            ("bootable".to_owned(), Value::Null),
            ("size".to_owned(), Value::String("10".into())),
        ]
        .into_iter()
        .collect();
        fill_defaults(ResourceKind::Volume, "db", &mut attrs);
        assert_eq!(attrs["name"], Value::String("db".into()));
        assert_eq!(
            attrs["bootable"],
            Value::Bool(true),
            "a volume made from an image boots"
        );
        assert_eq!(attrs["size"], Value::Number(10.0));
        assert!(!attrs.contains_key("force"));
    }
}
