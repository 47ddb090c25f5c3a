//! The Ceph provider as the engine's registry sees it: the kind `ceph`, the schema of its
//! blocks and their checks (including that `conf` and `keyring` exist), the back-end QoS keys
//! it enforces, and that clones kept unflattened still depend on their source.

use std::sync::Arc;

use blockform_provider::schema::{AttrSpec, AttrType};
use blockform_provider::{
    BackendQosSupport, BuildError, BuiltProvider, ConfigProblem, ProviderConfig, ProviderFactory,
};

use crate::config::{CephConfig, KIND};
use crate::provider::CephProvider;

/// The attributes of a Ceph provider block.
pub const SCHEMA: &[AttrSpec] = &[
    AttrSpec::required("pool", AttrType::String),
    AttrSpec::optional("namespace", AttrType::String),
    AttrSpec::optional("conf", AttrType::String),
    AttrSpec::optional("user", AttrType::String),
    AttrSpec::optional("keyring", AttrType::String),
    AttrSpec::optional("cluster", AttrType::String),
    AttrSpec::optional("flatten_clones", AttrType::Bool),
    AttrSpec::optional("connect_timeout", AttrType::Duration),
    AttrSpec::optional("timeout", AttrType::Duration),
    AttrSpec::optional("oversubscription", AttrType::Number),
    AttrSpec::optional("capacity_check", AttrType::String),
];

/// The factory of Ceph providers.
pub struct CephFactory;

impl ProviderFactory for CephFactory {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn schema(&self) -> &'static [AttrSpec] {
        SCHEMA
    }

    fn path_attributes(&self) -> &'static [&'static str] {
        &["conf", "keyring"]
    }

    fn problems(&self, config: &ProviderConfig) -> Vec<ConfigProblem> {
        CephConfig::problems(config, true)
    }

    fn build(&self, config: &ProviderConfig) -> Result<Option<BuiltProvider>, BuildError> {
        let provider = CephProvider::from_config(config)?;
        Ok(Some(BuiltProvider::Storage(Arc::new(provider))))
    }

    fn backend_qos(&self) -> Option<BackendQosSupport> {
        Some(crate::qos::BACKEND_QOS)
    }

    /// With `flatten_clones = false`, a clone shares data with its source until the source's
    /// snapshot is deleted, which flattens it first.
    fn clones_stay_linked(&self, attributes: &serde_json::Map<String, serde_json::Value>) -> bool {
        attributes.get("flatten_clones").and_then(serde_json::Value::as_bool) == Some(false)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_unflattened_clones_stay_linked() {
        let attributes = |value: serde_json::Value| match value {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("an object literal"),
        };
        assert!(CephFactory.clones_stay_linked(&attributes(json!({"flatten_clones": false}))));
        assert!(!CephFactory.clones_stay_linked(&attributes(json!({"flatten_clones": true}))));
        assert!(!CephFactory.clones_stay_linked(&attributes(json!({}))));
        assert_eq!(CephFactory.object_name("volume-1"), "volume-1");
    }
}
