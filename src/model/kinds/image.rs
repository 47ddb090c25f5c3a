//! An image: a file exported from a volume, reached through the volume's provider.

use super::{BackendObject, ProviderRoute, ResourceHandler, ResourceSpec, present, set_default};
use crate::model::ResourceKind;
use crate::model::schema::{AttrSpec, AttrType, BlockSchema, attr, required};
use crate::model::value::{Value, ValueMap};

const ATTRS: &[AttrSpec] = &[
    required("volume", AttrType::Ref(ResourceKind::Volume)),
    attr("name", AttrType::String),
    attr("format", AttrType::String),
    attr("min_disk", AttrType::Integer),
    attr("min_ram", AttrType::Integer),
    attr("force", AttrType::Bool),
];

/// The handler of `image` resources.
#[derive(Debug, Clone, Copy)]
pub struct Image;

/// An image as configured.
#[derive(Debug, Clone, Copy)]
pub struct ImageSpec<'a> {
    /// The volume it is exported from (a reference).
    pub volume: Option<&'a Value>,
}

impl ResourceHandler for Image {
    fn kind(&self) -> ResourceKind {
        ResourceKind::Image
    }

    fn schema(&self) -> BlockSchema {
        BlockSchema {
            attrs: ATTRS,
            computed: &["id", "status", "path", "size"],
        }
    }

    fn set_defaults(&self, attrs: &mut ValueMap) {
        set_default(attrs, "format", Value::String("raw".into()));
        set_default(attrs, "min_disk", Value::Number(0.0));
        set_default(attrs, "min_ram", Value::Number(0.0));
    }

    fn forces_replacement(&self, attr: &str) -> bool {
        matches!(attr, "volume" | "format")
    }

    fn create_only(&self, attr: &str) -> bool {
        attr == "force"
    }

    fn provider_route(&self) -> ProviderRoute {
        ProviderRoute::Through
    }

    /// The image of a qcow2 file a running domain holds is read from an internal snapshot the
    /// domain takes for it, named as a change marker.
    fn leaves_markers(&self) -> bool {
        true
    }

    fn backend_object(&self) -> BackendObject {
        BackendObject::File
    }

    fn spec<'a>(&self, attrs: &'a ValueMap) -> ResourceSpec<'a> {
        ResourceSpec::Image(ImageSpec {
            volume: present(attrs, "volume"),
        })
    }
}
