//! A QoS rule: I/O limits that volume types carry to their volumes (in the back end, at the
//! hypervisor, or both). It exists only in state.

use super::{BackendObject, ProviderRoute, ResourceHandler, ResourceSpec, set_default};
use crate::model::ResourceKind;
use crate::model::schema::{AttrSpec, AttrType, BlockSchema, attr, required};
use crate::model::value::{Value, ValueMap};

/// QoS spec keys that SPEC §1 allows, as the provider contract names them.
pub use blockform_provider::QOS_KEYS;

/// QoS consumers.
pub const QOS_CONSUMERS: &[&str] = &["back-end", "front-end", "both"];

const ATTRS: &[AttrSpec] = &[
    attr("name", AttrType::String),
    attr("consumer", AttrType::String),
    required("specs", AttrType::IntegerMap),
];

/// The handler of `qos` resources.
#[derive(Debug, Clone, Copy)]
pub struct Qos;

/// A QoS rule as configured.
#[derive(Debug, Clone, Copy)]
pub struct QosSpec<'a> {
    /// Where the limits apply: `back-end` (the default), `front-end` or `both`.
    pub consumer: &'a str,
    /// The limits by key.
    pub specs: Option<&'a Value>,
}

impl<'a> QosSpec<'a> {
    /// Reads a QoS rule's attributes.
    pub fn of(attrs: &'a ValueMap) -> QosSpec<'a> {
        QosSpec {
            consumer: attrs.get("consumer").and_then(Value::as_str).unwrap_or("back-end"),
            specs: attrs.get("specs"),
        }
    }

    /// Whether the back end enforces the limits.
    pub fn in_back_end(&self) -> bool {
        self.consumer != "front-end"
    }

    /// Whether the hypervisor enforces the limits.
    pub fn at_front_end(&self) -> bool {
        self.consumer != "back-end"
    }
}

impl ResourceHandler for Qos {
    fn kind(&self) -> ResourceKind {
        ResourceKind::Qos
    }

    fn schema(&self) -> BlockSchema {
        BlockSchema {
            attrs: ATTRS,
            computed: &["id"],
        }
    }

    fn set_defaults(&self, attrs: &mut ValueMap) {
        set_default(attrs, "consumer", Value::String("back-end".into()));
    }

    fn provider_route(&self) -> ProviderRoute {
        ProviderRoute::None
    }

    fn backend_object(&self) -> BackendObject {
        BackendObject::StateOnly
    }

    fn spec<'a>(&self, attrs: &'a ValueMap) -> ResourceSpec<'a> {
        ResourceSpec::Qos(QosSpec::of(attrs))
    }
}
