//! The providers of a configuration: one live [`StorageProvider`] or [`Hypervisor`] per
//! `provider` block whose kind this build drives, built from the block's evaluated attributes
//! by its kind's factory in the [`registry`], and the configured backup stores.
//!
//! Everything kind-specific (schema, checks of the values, which attributes are paths, object
//! names, back-end QoS keys, plan notes) is asked of the factory; no provider kind is named
//! outside the registry.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use blockform_provider::{
    AttachmentSpec, AttachmentState, BuiltProvider, DiskSource, Hypervisor, InstanceDisk, InstanceState, ProviderError,
    ProviderRole, StorageProvider,
};

use crate::backup::StoreKind;
use crate::config::desired::Desired;
use crate::model::value::Value;
use crate::registry;

/// Why reading what a back end holds failed (a refresh, an inventory, a capacity query).
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// A provider could not answer.
    #[error("{doing} provider `{provider}`{after}: {source}")]
    Provider {
        /// What was being done, before the provider's name (`refreshing`).
        doing: &'static str,
        /// The provider block.
        provider: String,
        /// What follows the provider's name, if anything (` holds`).
        after: &'static str,
        /// The back end's error, typed.
        source: blockform_provider::ProviderError,
    },
}

impl RefreshError {
    /// A provider's error while `doing` something to it.
    pub fn provider(
        doing: &'static str,
        provider: &str,
        after: &'static str,
        source: blockform_provider::ProviderError,
    ) -> RefreshError {
        RefreshError::Provider {
            doing,
            provider: provider.to_owned(),
            after,
            source,
        }
    }
}

/// Whether a disk source is the volume `volume` (its back-end name): the file or device named
/// after it, or the RBD image of that name. How blockform recognises a volume attached by
/// hand, which has none of blockform's serials.
pub fn names_volume(source: &DiskSource, volume: &str) -> bool {
    match source {
        DiskSource::File { path, .. } | DiskSource::Block { path, .. } => path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name == volume || name.strip_suffix(".qcow2") == Some(volume)),
        DiskSource::Rbd { image, .. } => image == volume,
    }
}

/// The serial number of a volume's disk: its id without the `volume-` prefix (the UUID, as
/// Cinder sets it), which fits the 36 characters a SCSI serial may have. A virtio-blk guest
/// reads the first 20 of them.
pub fn disk_serial(volume: &str) -> &str {
    volume.strip_prefix("volume-").unwrap_or(volume)
}

/// The disk through which `instance` holds the volume `volume`, if it does: the one with the
/// volume's serial, else one whose source is the volume.
pub fn disk_of<'a>(instances: &'a [InstanceState], instance: &str, volume: &str) -> Option<&'a InstanceDisk> {
    let instance = instances.iter().find(|i| i.name == instance)?;
    instance
        .disks
        .iter()
        .find(|disk| disk.serial.as_deref() == Some(disk_serial(volume)))
        .or_else(|| instance.disks.iter().find(|disk| names_volume(&disk.source, volume)))
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

/// Where a `backup_store` block keeps its backups (opened by its kind in `crate::backup`).
pub use crate::backup::StoreConfig;

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
            let Some(kind) = StoreKind::from_label(&block.kind) else {
                continue;
            };
            let compression = block.attrs.get("compression").and_then(Value::as_bool).unwrap_or(true);
            if kind == StoreKind::S3 {
                let text = |name: &str| block.attrs.get(name).and_then(Value::as_str).map(str::to_owned);
                let Some(bucket) = text("bucket") else { continue };
                let location = crate::s3::S3Location {
                    bucket,
                    prefix: text("prefix").unwrap_or_default().trim_matches('/').to_owned(),
                    endpoint: text("endpoint"),
                    region: text("region"),
                };
                providers.stores.insert(
                    name.clone(),
                    StoreConfig {
                        kind,
                        path: std::path::PathBuf::from(location.url()),
                        s3: Some(location),
                        compression,
                    },
                );
                continue;
            }
            let Some(path) = block.attrs.get("path").and_then(Value::as_str) else {
                continue;
            };
            providers.stores.insert(
                name.clone(),
                StoreConfig {
                    kind,
                    // `components` drops the `.` segments of `./dir` joined to `.`.
                    path: dir.join(path).components().collect(),
                    s3: None,
                    compression,
                },
            );
        }
        for (name, block) in &desired.providers {
            let Some(factory) = registry::factory(&block.kind) else {
                providers.unavailable.insert(name.clone(), block.kind.clone());
                continue;
            };
            let config = registry::provider_config(factory, name, &block.attrs, dir);
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
    /// `hypervisor` attaches that source. The request's `host` is set to the machine the
    /// hypervisor runs its instances on.
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
        let spec = AttachmentSpec {
            host: hypervisor.host(),
            ..spec.clone()
        };
        let source = storage.connect(&spec.volume_backend_name, &spec.host)?;
        Ok(hypervisor.attach(&source, &spec)?)
    }

    /// Every live hypervisor by name.
    pub fn hypervisors(&self) -> impl Iterator<Item = (&String, &Arc<dyn Hypervisor>)> {
        self.hypervisors.iter()
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

    /// Every backup store by name, as the plan's backup checks read them.
    pub fn backup_stores(&self) -> &crate::backup::Stores {
        &self.stores
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

    /// The same providers with each live one replaced by `wrap(provider)`: how an apply adds
    /// retries (see `crate::apply::retry`) or a test a fault.
    #[must_use]
    pub fn map_live(mut self, wrap: impl Fn(Arc<dyn StorageProvider>) -> Arc<dyn StorageProvider>) -> Providers {
        for provider in self.live.values_mut() {
            *provider = wrap(Arc::clone(provider));
        }
        self
    }

    /// Every live provider by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<dyn StorageProvider>)> {
        self.live.iter()
    }
}
