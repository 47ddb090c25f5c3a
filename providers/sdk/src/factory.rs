//! How the engine learns about a kind of provider: a [`ProviderFactory`] per kind, exported by
//! the provider's crate and listed once in the engine's registry. The factory holds everything
//! kind-specific the engine needs without a live provider: the kind's label and role, the
//! schema of its blocks, the checks of their values (with the attribute each problem is
//! about), which attributes are file paths, how back-end names appear as object names, which
//! back-end QoS keys it enforces, and notes the plan adds for it. `build` makes the live
//! provider.

use std::sync::Arc;

use crate::config::{ConfigProblem, ProviderConfig};
use crate::hypervisor::Hypervisor;
use crate::provider::StorageProvider;
use crate::qos::BackendQosSupport;
use crate::schema::AttrSpec;

/// Why a provider could not be built from its block, as the provider's crate says it.
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// What a kind of provider is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderRole {
    /// It stores volumes: volume types name it as their `backend`.
    Storage,
    /// It runs instances: attachments name it as their `host`.
    Hypervisor,
}

/// A live provider, as a factory builds it.
#[derive(Clone)]
pub enum BuiltProvider {
    /// A storage back end.
    Storage(Arc<dyn StorageProvider>),
    /// A hypervisor.
    Hypervisor(Arc<dyn Hypervisor>),
}

/// Everything kind-specific about one kind of provider.
pub trait ProviderFactory: Send + Sync {
    /// The kind, as the first label of its `provider` blocks.
    fn kind(&self) -> &'static str;

    /// What its providers are for.
    fn role(&self) -> ProviderRole {
        ProviderRole::Storage
    }

    /// The attributes its blocks accept.
    fn schema(&self) -> &'static [AttrSpec];

    /// The attributes whose values are file paths: a relative one is relative to the
    /// configuration directory, and the engine makes it absolute before the provider sees it.
    fn path_attributes(&self) -> &'static [&'static str] {
        &[]
    }

    /// What is wrong with the values of a block (paths already absolute), each problem with
    /// the attribute it is about; the schema's checks have run. Nothing by default.
    fn problems(&self, config: &ProviderConfig) -> Vec<ConfigProblem> {
        let _ = config;
        Vec::new()
    }

    /// Builds the live provider of a block, or `None` when this build has the kind's schema
    /// but cannot drive it yet (the engine then says so wherever the provider is needed). The
    /// error is the provider's own configuration error; the engine names the block.
    fn build(&self, config: &ProviderConfig) -> Result<Option<BuiltProvider>, BuildError>;

    /// The name of a volume's object as inventories, `drift` and `import` show it (the local
    /// provider's `volume-1.qcow2`); the backend name itself by default.
    fn object_name(&self, backend_name: &str) -> String {
        backend_name.to_owned()
    }

    /// The backend name an object name stands for: the inverse of
    /// [`object_name`](Self::object_name).
    fn backend_name(&self, object_name: &str) -> String {
        object_name.to_owned()
    }

    /// The back-end QoS keys its providers enforce, so that a rule they could not enforce is
    /// refused before anything is created; `None` when back-end limits are only recorded and
    /// any key is accepted.
    fn backend_qos(&self) -> Option<BackendQosSupport> {
        None
    }

    /// A warning the plan shows for each snapshot it takes on a provider configured with
    /// `attributes` (LVM's copy-on-write snapshots of thick volumes become invalid when they
    /// overflow); `None` by default.
    fn snapshot_warning(&self, attributes: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
        let _ = attributes;
        None
    }

    /// Whether a plan that adds volumes to its providers warns when their space is at least
    /// 95 % used although the volumes fit (a full LVM thin pool fails writes); no by default.
    fn warns_when_nearly_full(&self) -> bool {
        false
    }

    /// Whether volumes cloned on a provider configured with `attributes` keep depending on
    /// their source (Ceph with `flatten_clones = false`), so that deleting the source flattens
    /// them first and the plan says so. No by default.
    fn clones_stay_linked(&self, attributes: &serde_json::Map<String, serde_json::Value>) -> bool {
        let _ = attributes;
        false
    }
}
