//! The providers of a configuration: one live [`StorageProvider`] or [`Hypervisor`] per
//! `provider` block whose kind this build drives, built from the block's evaluated attributes
//! by its kind's factory in the [`registry`], and the configured backup stores.
//!
//! Everything kind-specific (schema, checks of the values, which attributes are paths, object
//! names, back-end QoS keys, plan notes) is asked of the factory; no provider kind is named
//! outside the registry.

pub mod registry;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use blockform_provider::schema::AttrType;
use blockform_provider::{
    AttachmentSpec, AttachmentState, BackendQosSupport, BuiltProvider, ConfigProblem, Hypervisor, ProviderConfig,
    ProviderError, ProviderFactory, ProviderKind, ProviderRole, StorageProvider,
};

use crate::backup::{Access, BackupError, BackupStore};
use crate::config::eval::{BlockInstance, Desired};
use crate::config::value::{Primitive, Value, convert_primitive};

/// The back-end QoS keys the providers of a kind (a provider block's label) enforce, as the
/// provider's crate declares them; `None` when back-end limits are only recorded (the local
/// provider: qcow2 files have no limits) or the kind is unknown, so any key is accepted.
pub fn backend_qos_support(kind: &str) -> Option<BackendQosSupport> {
    registry::factory(kind)?.backend_qos()
}

/// Whether volumes cloned on the provider of `block` keep depending on their source (Ceph
/// with `flatten_clones = false`), so that deleting the source flattens them first.
pub fn clones_stay_linked(block: &BlockInstance) -> bool {
    registry::factory(&block.kind).is_some_and(|factory| {
        let attributes = block.attrs.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        factory.clones_stay_linked(&attributes)
    })
}

/// The name of a volume's object on a provider of `kind`, as inventories, `drift` and
/// `import` show it (the local provider's `volume-1.qcow2`).
pub fn object_name(kind: &str, backend_name: &str) -> String {
    registry::factory(kind).map_or_else(|| backend_name.to_owned(), |factory| factory.object_name(backend_name))
}

/// The backend name an object name stands for on a provider of `kind` (the inverse of
/// [`object_name`]).
pub fn backend_name(kind: &str, object_name: &str) -> String {
    registry::factory(kind).map_or_else(|| object_name.to_owned(), |factory| factory.backend_name(object_name))
}

/// The known kinds of `role` as a sentence lists them: "`local`, `ceph` or `lvm`", each
/// written by `show`.
pub fn listed_kinds(role: ProviderRole, show: impl Fn(&str) -> String) -> String {
    let kinds: Vec<String> = registry::kinds_of(role).into_iter().map(show).collect();
    match kinds.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// The configuration a provider of `factory`'s kind is built from: the block's attributes
/// converted to their types (`oversubscription = "2"`), the attributes the factory says are
/// file paths made absolute relative to the configuration directory `dir` (an empty path stays
/// empty, for the provider to refuse).
pub fn provider_config(factory: &dyn ProviderFactory, name: &str, block: &BlockInstance, dir: &Path) -> ProviderConfig {
    let schema = factory.schema();
    let mut attributes: serde_json::Map<String, serde_json::Value> = block
        .attrs
        .iter()
        .map(|(k, v)| {
            let primitive = schema
                .iter()
                .find(|spec| spec.name == k)
                .and_then(|spec| match spec.ty {
                    AttrType::String => Some(Primitive::String),
                    AttrType::Integer | AttrType::Number => Some(Primitive::Number),
                    AttrType::Bool => Some(Primitive::Bool),
                    AttrType::StringList | AttrType::StringMap | AttrType::Duration => None,
                });
            let value: Value = match primitive {
                Some(primitive) => convert_primitive(v.clone(), primitive),
                None => v.clone(),
            };
            (k.clone(), value.to_json())
        })
        .collect();
    for key in factory.path_attributes() {
        if let Some(serde_json::Value::String(path)) = attributes.get_mut(*key)
            && !path.is_empty()
            && Path::new(path.as_str()).is_relative()
        {
            *path = dir.join(path.as_str()).display().to_string();
        }
    }
    ProviderConfig {
        kind: ProviderKind::from(factory.kind()),
        name: name.to_owned(),
        attributes,
    }
}

/// What is wrong with the attributes of a provider block, as its provider's crate sees it
/// (types, values, for Ceph the `conf` and `keyring` files): what `validate` reports at each
/// attribute. Kinds this build does not know are not checked.
pub fn config_problems(name: &str, block: &BlockInstance, dir: &Path) -> Vec<ConfigProblem> {
    let Some(factory) = registry::factory(&block.kind) else {
        return Vec::new();
    };
    factory.problems(&provider_config(factory, name, block, dir))
}

/// Why a volume could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// The hypervisor or the volume's storage provider is not there (with why).
    #[error("{0}")]
    Unavailable(String),
    /// The storage provider or the hypervisor refused.
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

/// Live providers by block name.
#[derive(Default, Clone)]
pub struct Providers {
    live: HashMap<String, Arc<dyn StorageProvider>>,
    /// Live hypervisors by block name.
    hypervisors: HashMap<String, Arc<dyn Hypervisor>>,
    /// Blocks whose kind has no implementation in this build, with the kind.
    unavailable: HashMap<String, String>,
    /// Backup stores by block name.
    stores: HashMap<String, StoreConfig>,
}

/// Where a `backup_store` block keeps its backups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The store's directory (absolute, or relative to the configuration directory).
    pub path: PathBuf,
    /// Whether blocks are compressed when that helps.
    pub compression: bool,
}

impl StoreConfig {
    /// Opens the store, creating it on first use when `create` is set.
    pub fn open(&self, access: Access, create: bool) -> Result<BackupStore, BackupError> {
        BackupStore::open(&self.path, access, create, self.compression)
    }
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("live", &self.live.keys().collect::<Vec<_>>())
            .field("hypervisors", &self.hypervisors.keys().collect::<Vec<_>>())
            .field("unavailable", &self.unavailable)
            .field("stores", &self.stores)
            .finish()
    }
}

impl Providers {
    /// Builds every storage provider of the configuration. Relative paths are relative to the
    /// configuration directory. A block that cannot be built is an error naming it.
    pub fn build(desired: &Desired, dir: &Path) -> Result<Providers, String> {
        let mut providers = Providers::default();
        for (name, block) in &desired.stores {
            let Some(path) = block.attrs.get("path").and_then(crate::config::value::Value::as_str) else {
                continue;
            };
            let compression = block
                .attrs
                .get("compression")
                .and_then(crate::config::value::Value::as_bool)
                .unwrap_or(true);
            providers.stores.insert(
                name.clone(),
                StoreConfig {
                    // `components` drops the `.` segments of `./dir` joined to `.`.
                    path: dir.join(path).components().collect(),
                    compression,
                },
            );
        }
        for (name, block) in &desired.providers {
            let Some(factory) = registry::factory(&block.kind) else {
                providers.unavailable.insert(name.clone(), block.kind.clone());
                continue;
            };
            let config = provider_config(factory, name, block, dir);
            match factory.build(&config).map_err(|e| format!("provider `{name}`: {e}"))? {
                Some(BuiltProvider::Storage(provider)) => {
                    providers.live.insert(name.clone(), provider);
                }
                Some(BuiltProvider::Hypervisor(hypervisor)) => {
                    providers.hypervisors.insert(name.clone(), hypervisor);
                }
                None => {
                    providers.unavailable.insert(name.clone(), block.kind.clone());
                }
            }
        }
        Ok(providers)
    }

    /// A live hypervisor by block name, or why there is none (for error messages).
    pub fn hypervisor(&self, name: &str) -> Result<Arc<dyn Hypervisor>, String> {
        self.hypervisors
            .get(name)
            .cloned()
            .ok_or_else(|| self.missing_reason(name))
    }

    /// Attaches a volume to an instance: the volume's storage provider `storage` says how the
    /// hypervisor's host reaches it ([`StorageProvider::connect`]), and the hypervisor
    /// `hypervisor` attaches that source.
    pub fn attach(
        &self,
        hypervisor: &str,
        storage: &str,
        spec: &AttachmentSpec,
    ) -> Result<AttachmentState, AttachError> {
        let hypervisor = self.hypervisor(hypervisor).map_err(AttachError::Unavailable)?;
        let storage = self
            .get(storage)
            .ok_or_else(|| AttachError::Unavailable(self.missing_reason(storage)))?;
        let source = storage.connect(&spec.volume_backend_name, &spec.host)?;
        Ok(hypervisor.attach(&source, spec)?)
    }

    /// A live provider by block name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn StorageProvider>> {
        self.live.get(name).cloned()
    }

    /// A backup store by block name.
    pub fn store(&self, name: &str) -> Option<&StoreConfig> {
        self.stores.get(name)
    }

    /// Every backup store by name.
    pub fn stores(&self) -> impl Iterator<Item = (&String, &StoreConfig)> {
        self.stores.iter()
    }

    /// Why a provider is not there: for error messages.
    pub fn missing_reason(&self, name: &str) -> String {
        if self.hypervisors.contains_key(name) {
            return format!("provider `{name}` is a hypervisor, not a storage back end");
        }
        if self.live.contains_key(name) {
            return format!("provider `{name}` is a storage back end, not a hypervisor");
        }
        match self.unavailable.get(name) {
            Some(kind) if registry::role(kind) == Some(ProviderRole::Hypervisor) => {
                format!(
                    "provider `{name}` is a {kind} hypervisor; attaching volumes is not supported by this build yet"
                )
            }
            Some(kind) => format!("the {kind} provider (`{name}`) is not supported by this build yet"),
            None => format!("no provider block is named `{name}`"),
        }
    }

    /// Every live provider by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<dyn StorageProvider>)> {
        self.live.iter()
    }
}
