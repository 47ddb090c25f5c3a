//! The LVM provider as the engine's registry sees it: the kind `lvm`, the schema of its blocks
//! and their checks (including that `identity_file` and `known_hosts` exist), and that
//! `identity_file` and `known_hosts` are paths relative to the configuration.

use std::sync::Arc;

use blockform_provider::schema::{AttrSpec, AttrType};
use blockform_provider::{BuildError, BuiltProvider, ConfigProblem, ProviderConfig, ProviderFactory};

use crate::config::{KIND, LvmConfig};
use crate::provider::LvmProvider;

/// The attributes of an LVM provider block.
pub const SCHEMA: &[AttrSpec] = &[
    AttrSpec::required("volume_group", AttrType::String),
    AttrSpec::optional("thin_pool", AttrType::String),
    AttrSpec::optional("host", AttrType::String),
    AttrSpec::optional("port", AttrType::Integer),
    AttrSpec::optional("user", AttrType::String),
    AttrSpec::optional("identity_file", AttrType::String),
    AttrSpec::optional("known_hosts", AttrType::String),
    AttrSpec::optional("sudo", AttrType::Bool),
    AttrSpec::optional("connect_timeout", AttrType::Duration),
    AttrSpec::optional("timeout", AttrType::Duration),
    AttrSpec::optional("snapshot_size", AttrType::String),
    AttrSpec::optional("volume_clear", AttrType::String),
    AttrSpec::optional("oversubscription", AttrType::Number),
    AttrSpec::optional("capacity_check", AttrType::String),
];

/// The factory of LVM providers.
pub struct LvmFactory;

impl ProviderFactory for LvmFactory {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn schema(&self) -> &'static [AttrSpec] {
        SCHEMA
    }

    fn path_attributes(&self) -> &'static [&'static str] {
        &["identity_file", "known_hosts"]
    }

    fn problems(&self, config: &ProviderConfig) -> Vec<ConfigProblem> {
        LvmConfig::problems(config, true)
    }

    fn build(&self, config: &ProviderConfig) -> Result<Option<BuiltProvider>, BuildError> {
        let provider = LvmProvider::from_config(config)?;
        Ok(Some(BuiltProvider::Storage(Arc::new(provider))))
    }

    /// Without a thin pool, snapshots are copy-on-write snapshots of `snapshot_size`, which
    /// become invalid (their data lost) when more than that is written to the volume.
    fn snapshot_warning(&self, attributes: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
        if attributes.get("thin_pool").is_some_and(|pool| !pool.is_null()) {
            return None;
        }
        let size = attributes
            .get("snapshot_size")
            .and_then(serde_json::Value::as_str)
            .unwrap_or(crate::config::DEFAULT_SNAPSHOT_SIZE);
        Some(format!(
            "they are copy-on-write snapshots of {size} of a thick volume (`snapshot_size`): once more than \
             that is written to the volume, the snapshot becomes invalid and its data is lost; use a \
             `thin_pool` or a larger `snapshot_size`"
        ))
    }

    /// A full thin pool fails every write to its volumes.
    fn warns_when_nearly_full(&self) -> bool {
        true
    }

    /// `import host1/vg0/data` names the LV with its group, as `lvs` shows it; the group is
    /// the block's, so only the LV's name is the backend name.
    fn backend_name(&self, object_name: &str) -> String {
        object_name.rsplit('/').next().unwrap_or(object_name).to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_named_by_their_lv() {
        assert_eq!(LvmFactory.object_name("volume-1"), "volume-1");
        assert_eq!(LvmFactory.backend_name("vg0/data"), "data");
        assert_eq!(LvmFactory.backend_name("data"), "data");
    }

    #[test]
    fn only_thick_snapshots_are_warned_about() {
        let attributes = |value: serde_json::Value| match value {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("an object literal"),
        };
        assert_eq!(
            LvmFactory.snapshot_warning(&attributes(
                serde_json::json!({"volume_group": "vg0", "thin_pool": "pool"})
            )),
            None
        );
        let warning = LvmFactory
            .snapshot_warning(&attributes(
                serde_json::json!({"volume_group": "vg0", "snapshot_size": "2GiB"}),
            ))
            .unwrap();
        assert!(
            warning.starts_with("they are copy-on-write snapshots of 2GiB of a thick volume"),
            "{warning}"
        );
    }
}
