//! The providers of a configuration: one live [`Provider`] per `provider` block whose kind this
//! build drives, built from the block's evaluated attributes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use blockform_provider::{Provider, ProviderConfig, ProviderKind};

use crate::backup::StoreKind;
use crate::config::eval::{BlockInstance, Desired};

/// The back-end QoS keys the providers of a kind (a provider block's label) enforce, as the
/// provider's crate declares them; `None` when back-end limits are only recorded (the local
/// provider: qcow2 files have no limits) or the kind is not built, so any key is accepted.
pub fn backend_qos_support(kind: &str) -> Option<blockform_provider::BackendQosSupport> {
    match ProviderKind::from_label(kind)? {
        ProviderKind::Ceph => Some(blockform_provider_ceph::BACKEND_QOS),
        ProviderKind::Local | ProviderKind::Lvm => None,
    }
}

/// The configuration a provider of `kind` is built from: the block's attributes converted to
/// their types (`oversubscription = "2"`), file paths relative to the configuration directory
/// `dir` made absolute (an empty path stays empty, for the provider to refuse).
pub fn provider_config(kind: ProviderKind, name: &str, block: &BlockInstance, dir: &Path) -> ProviderConfig {
    let schema = crate::model::provider_schema(&block.kind);
    let mut attributes: serde_json::Map<String, serde_json::Value> = block
        .attrs
        .iter()
        .map(|(k, v)| {
            let ty = schema.as_ref().and_then(|s| s.attr(k)).map(|spec| spec.ty);
            let value = match ty {
                Some(ty) => crate::model::convert(v.clone(), ty),
                None => v.clone(),
            };
            (k.clone(), value.to_json())
        })
        .collect();
    for key in ["path", "conf", "keyring"] {
        if let Some(serde_json::Value::String(path)) = attributes.get_mut(key)
            && !path.is_empty()
            && Path::new(path.as_str()).is_relative()
        {
            *path = dir.join(path.as_str()).display().to_string();
        }
    }
    ProviderConfig {
        kind,
        name: name.to_owned(),
        attributes,
    }
}

/// What is wrong with the attributes of a provider block, as its provider's crate sees it
/// (types, values, for Ceph the `conf` and `keyring` files): what `validate` reports at each
/// attribute. Kinds this build does not drive are not checked.
pub fn config_problems(name: &str, block: &BlockInstance, dir: &Path) -> Vec<blockform_provider::ConfigProblem> {
    let Some(kind) = ProviderKind::from_label(&block.kind) else {
        return Vec::new();
    };
    let config = provider_config(kind, name, block, dir);
    match kind {
        ProviderKind::Local => blockform_provider_local::LocalConfig::problems(&config),
        ProviderKind::Ceph => blockform_provider_ceph::CephConfig::problems(&config, true),
        ProviderKind::Lvm => Vec::new(),
    }
}

/// Live providers by block name.
#[derive(Default, Clone)]
pub struct Providers {
    live: HashMap<String, Arc<dyn Provider>>,
    /// Blocks whose kind has no implementation in this build, with the kind.
    unavailable: HashMap<String, String>,
    /// Backup stores by block name.
    stores: HashMap<String, StoreConfig>,
}

/// Where a `backup_store` block keeps its backups (opened by its kind in `crate::backup`).
pub use crate::backup::StoreConfig;

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("live", &self.live.keys().collect::<Vec<_>>())
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
            let Some(kind) = StoreKind::from_label(&block.kind) else {
                continue;
            };
            let Some(path) = block.attrs.get("path").and_then(crate::model::value::Value::as_str) else {
                continue;
            };
            let compression = block
                .attrs
                .get("compression")
                .and_then(crate::model::value::Value::as_bool)
                .unwrap_or(true);
            providers.stores.insert(
                name.clone(),
                StoreConfig {
                    kind,
                    // `components` drops the `.` segments of `./dir` joined to `.`.
                    path: dir.join(path).components().collect(),
                    compression,
                },
            );
        }
        for (name, block) in &desired.providers {
            let Some(kind) = ProviderKind::from_label(&block.kind) else {
                // Hypervisors (libvirt) are not storage providers.
                providers.unavailable.insert(name.clone(), block.kind.clone());
                continue;
            };
            let config = provider_config(kind, name, block, dir);
            match kind {
                ProviderKind::Local => {
                    let provider = blockform_provider_local::LocalProvider::from_config(&config)
                        .map_err(|e| format!("provider `{name}`: {e}"))?;
                    providers.live.insert(name.clone(), Arc::new(provider));
                }
                ProviderKind::Ceph => {
                    let provider = blockform_provider_ceph::CephProvider::from_config(&config)
                        .map_err(|e| format!("provider `{name}`: {e}"))?;
                    providers.live.insert(name.clone(), Arc::new(provider));
                }
                ProviderKind::Lvm => {
                    providers.unavailable.insert(name.clone(), block.kind.clone());
                }
            }
        }
        Ok(providers)
    }

    /// A live provider by block name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Provider>> {
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
        match self.unavailable.get(name) {
            Some(kind) if kind == "libvirt" => {
                format!(
                    "provider `{name}` is a libvirt hypervisor; attaching volumes is not supported by this build yet"
                )
            }
            Some(kind) => format!("the {kind} provider (`{name}`) is not supported by this build yet"),
            None => format!("no provider block is named `{name}`"),
        }
    }

    /// The same providers with each live one replaced by `wrap(provider)`: how an apply adds
    /// retries (see `crate::apply::retry`) or a test a fault.
    #[must_use]
    pub fn map_live(mut self, wrap: impl Fn(Arc<dyn Provider>) -> Arc<dyn Provider>) -> Providers {
        for provider in self.live.values_mut() {
            *provider = wrap(Arc::clone(provider));
        }
        self
    }

    /// Every live provider by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<dyn Provider>)> {
        self.live.iter()
    }
}
