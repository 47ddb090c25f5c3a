//! A volume: a block device in the back end of its type. It may be made from a snapshot, a
//! backup, an image or another volume (`source`), which only matters when it is made.

use super::{Association, BackendObject, ProviderRoute, ResourceHandler, ResourceSpec, StorageStep, present};
use crate::model::ResourceKind;
use crate::model::schema::{AttrSpec, AttrType, BlockSchema, attr, required};
use crate::model::value::{Value, ValueMap};

/// Keys of a volume's `source` object.
pub const SOURCE_KEYS: &[&str] = &["snapshot", "backup", "image", "volume"];

const ATTRS: &[AttrSpec] = &[
    attr("name", AttrType::String),
    attr("description", AttrType::String),
    required("type", AttrType::Ref(ResourceKind::VolumeType)),
    required("size", AttrType::Integer),
    attr("source", AttrType::Object(SOURCE_KEYS)),
    attr("bootable", AttrType::Bool),
    attr("tags", AttrType::StringList),
    attr("metadata", AttrType::StringMap),
];

/// The handler of `volume` resources.
#[derive(Debug, Clone, Copy)]
pub struct Volume;

/// A volume as configured.
#[derive(Debug, Clone, Copy)]
pub struct VolumeSpec<'a> {
    /// Its size in GiB, when known and whole.
    pub size_gib: Option<i64>,
    /// Its volume type (a reference).
    pub volume_type: Option<&'a Value>,
    /// What it is made from, if anything.
    pub source: Option<VolumeSource<'a>>,
    /// Whether it boots, when known.
    pub bootable: Option<bool>,
}

/// What a volume is made from: its `source` object.
#[derive(Debug, Clone, Copy)]
pub struct VolumeSource<'a>(&'a ValueMap);

/// The kinds of object a volume can be made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A snapshot, by the back end that holds it.
    Snapshot,
    /// A backup, restored through the data path of any provider.
    Backup,
    /// An image file.
    Image,
    /// Another volume (a clone), by the back end that holds it.
    Volume,
}

impl SourceKind {
    /// The key of the `source` object that names this kind.
    pub fn key(self) -> &'static str {
        match self {
            SourceKind::Snapshot => "snapshot",
            SourceKind::Backup => "backup",
            SourceKind::Image => "image",
            SourceKind::Volume => "volume",
        }
    }
}

impl<'a> VolumeSource<'a> {
    /// The source object of this kind (a reference), when the volume names one.
    pub fn object(self, kind: SourceKind) -> Option<&'a Value> {
        self.0.get(kind.key())
    }

    /// Whether the volume is filled from a backup.
    pub fn restores(self) -> bool {
        self.0.contains_key(SourceKind::Backup.key())
    }

    /// Whether the volume is made from an image.
    pub fn from_image(self) -> bool {
        self.0.contains_key(SourceKind::Image.key())
    }
}

impl<'a> VolumeSpec<'a> {
    /// Reads a volume's attributes.
    pub fn of(attrs: &'a ValueMap) -> VolumeSpec<'a> {
        VolumeSpec {
            size_gib: attrs.get("size").and_then(Value::as_i64),
            volume_type: present(attrs, "type"),
            source: attrs.get("source").and_then(Value::as_map).map(VolumeSource),
            bootable: attrs.get("bootable").and_then(Value::as_bool),
        }
    }
}

impl ResourceHandler for Volume {
    fn kind(&self) -> ResourceKind {
        ResourceKind::Volume
    }

    fn schema(&self) -> BlockSchema {
        BlockSchema {
            attrs: ATTRS,
            computed: &["id", "status", "backend_name"],
        }
    }

    /// A volume made from an image boots unless told otherwise.
    fn set_defaults(&self, attrs: &mut ValueMap) {
        let from_image = VolumeSpec::of(attrs).source.is_some_and(VolumeSource::from_image);
        if let Some(slot) = attrs.get_mut("bootable")
            && *slot == Value::Null
        {
            *slot = Value::Bool(from_image);
        }
    }

    fn holds_data(&self) -> bool {
        true
    }

    fn forces_replacement(&self, attr: &str) -> bool {
        attr == "source"
    }

    fn provider_route(&self) -> ProviderRoute {
        ProviderRoute::Through
    }

    fn storage_on_create(&self, attrs: &ValueMap) -> Option<StorageStep> {
        VolumeSpec::of(attrs)
            .source
            .is_some_and(VolumeSource::restores)
            .then_some(StorageStep::Restore)
    }

    fn destroyed_data(&self, replaced: bool) -> Option<&'static str> {
        Some(if replaced {
            "the volume is destroyed and a new one takes its place; its data is not carried over"
        } else {
            "the volume is destroyed with all of its data"
        })
    }

    fn clone_parent(&self) -> Option<SourceKind> {
        Some(SourceKind::Volume)
    }

    fn association(&self) -> Option<Association> {
        Some(Association::VolumeType)
    }

    fn backend_object(&self) -> BackendObject {
        BackendObject::Volume
    }

    fn adopted_attributes(&self, backend_id: &str) -> Vec<(&'static str, String)> {
        vec![("backend_name", backend_id.to_owned())]
    }

    fn spec<'a>(&self, attrs: &'a ValueMap) -> ResourceSpec<'a> {
        ResourceSpec::Volume(VolumeSpec::of(attrs))
    }
}
