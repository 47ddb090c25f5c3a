//! A volume type: picks the back end (the provider block named by `backend`) and carries a QoS
//! rule. It exists only in state.

use super::{Association, BackendObject, ProviderRoute, ResourceHandler, ResourceSpec, present};
use crate::model::ResourceKind;
use crate::model::schema::{AttrSpec, AttrType, BlockSchema, attr, required};
use crate::model::value::{Value, ValueMap};

const ATTRS: &[AttrSpec] = &[
    attr("name", AttrType::String),
    attr("description", AttrType::String),
    required("backend", AttrType::String),
    attr("extra_specs", AttrType::StringMap),
    attr("qos", AttrType::Ref(ResourceKind::Qos)),
];

/// The handler of `volume_type` resources.
#[derive(Debug, Clone, Copy)]
pub struct VolumeType;

/// A volume type as configured.
#[derive(Debug, Clone, Copy)]
pub struct VolumeTypeSpec<'a> {
    /// The provider block of its volumes.
    pub backend: Option<&'a Value>,
    /// Its QoS rule (a reference), if any.
    pub qos: Option<&'a Value>,
}

impl ResourceHandler for VolumeType {
    fn kind(&self) -> ResourceKind {
        ResourceKind::VolumeType
    }

    fn schema(&self) -> BlockSchema {
        BlockSchema {
            attrs: ATTRS,
            computed: &["id"],
        }
    }

    fn backend_prefix(&self) -> &'static str {
        "type"
    }

    fn provider_route(&self) -> ProviderRoute {
        ProviderRoute::Named
    }

    fn association(&self) -> Option<Association> {
        Some(Association::QosRule)
    }

    fn backend_object(&self) -> BackendObject {
        BackendObject::StateOnly
    }

    fn spec<'a>(&self, attrs: &'a ValueMap) -> ResourceSpec<'a> {
        ResourceSpec::VolumeType(VolumeTypeSpec {
            backend: present(attrs, "backend"),
            qos: present(attrs, "qos"),
        })
    }
}
