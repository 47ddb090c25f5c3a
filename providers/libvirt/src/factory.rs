//! The libvirt provider as the engine's registry sees it: the kind `libvirt`, a hypervisor,
//! the schema of its blocks and their checks.

use std::sync::Arc;

use blockform_provider::schema::{AttrSpec, AttrType};
use blockform_provider::{BuildError, BuiltProvider, ConfigProblem, ProviderConfig, ProviderFactory, ProviderRole};

use crate::config::{KIND, LibvirtConfig};
use crate::provider::LibvirtHypervisor;

/// The attributes of a libvirt provider block.
pub const SCHEMA: &[AttrSpec] = &[
    AttrSpec::required("uri", AttrType::String),
    AttrSpec::optional("detach_timeout", AttrType::Duration),
    AttrSpec::optional("identity_file", AttrType::String),
    AttrSpec::optional("known_hosts", AttrType::String),
];

/// The factory of libvirt hypervisors.
pub struct LibvirtFactory;

impl ProviderFactory for LibvirtFactory {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn role(&self) -> ProviderRole {
        ProviderRole::Hypervisor
    }

    fn schema(&self) -> &'static [AttrSpec] {
        SCHEMA
    }

    fn path_attributes(&self) -> &'static [&'static str] {
        &["identity_file", "known_hosts"]
    }

    fn problems(&self, config: &ProviderConfig) -> Vec<ConfigProblem> {
        LibvirtConfig::problems(config)
    }

    fn build(&self, config: &ProviderConfig) -> Result<Option<BuiltProvider>, BuildError> {
        Ok(Some(BuiltProvider::Hypervisor(Arc::new(
            LibvirtHypervisor::from_config(config)?,
        ))))
    }
}
