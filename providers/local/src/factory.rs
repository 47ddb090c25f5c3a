//! The local provider as the engine's registry sees it: the kind `local`, the schema of its
//! blocks, their checks, and the `.qcow2` file name each volume is listed under.

use blockform_provider::schema::{AttrSpec, AttrType};
use blockform_provider::{
    BackendQosSupport, BuildError, BuiltProvider, ConfigProblem, ProviderConfig, ProviderFactory,
};
use std::sync::Arc;

use crate::config::{KIND, LocalConfig};
use crate::provider::LocalProvider;

/// The suffix of a volume's image file, which inventories, `drift` and `import` show.
const IMAGE_SUFFIX: &str = ".qcow2";

/// The attributes of a local provider block.
pub const SCHEMA: &[AttrSpec] = &[
    AttrSpec::required("path", AttrType::String),
    AttrSpec::optional("oversubscription", AttrType::Number),
    AttrSpec::optional("capacity_check", AttrType::String),
];

/// The factory of local providers.
pub struct LocalFactory;

impl ProviderFactory for LocalFactory {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn schema(&self) -> &'static [AttrSpec] {
        SCHEMA
    }

    fn path_attributes(&self) -> &'static [&'static str] {
        &["path"]
    }

    fn problems(&self, config: &ProviderConfig) -> Vec<ConfigProblem> {
        LocalConfig::problems(config)
    }

    fn build(&self, config: &ProviderConfig) -> Result<Option<BuiltProvider>, BuildError> {
        let provider = LocalProvider::from_config(config)?;
        Ok(Some(BuiltProvider::Storage(Arc::new(provider))))
    }

    fn object_name(&self, backend_name: &str) -> String {
        format!("{backend_name}{IMAGE_SUFFIX}")
    }

    fn backend_name(&self, object_name: &str) -> String {
        object_name.strip_suffix(IMAGE_SUFFIX).unwrap_or(object_name).to_owned()
    }

    /// qcow2 files have no limits: back-end QoS is only recorded, any key is accepted.
    fn backend_qos(&self) -> Option<BackendQosSupport> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_listed_by_their_file_name() {
        assert_eq!(LocalFactory.object_name("volume-1"), "volume-1.qcow2");
        assert_eq!(LocalFactory.backend_name("volume-1.qcow2"), "volume-1");
        assert_eq!(LocalFactory.backend_name("volume-1"), "volume-1");
    }
}
