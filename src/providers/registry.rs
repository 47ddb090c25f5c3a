//! The registry of provider kinds: the one list of the [`ProviderFactory`]s this build knows,
//! and the lookups the engine makes through it. Nothing else in the engine names a provider
//! kind; adding a provider is its crate plus one line in [`FACTORIES`].
//!
//! Two kinds have no crate yet and are listed here as schema-only entries ([`SchemaOnly`]):
//! their blocks are checked and planned against, and building one says the kind "is not
//! supported by this build yet". Each is replaced by its crate's factory when it comes (LVM,
//! then libvirt).

use std::sync::RwLock;

use blockform_provider::schema::{AttrSpec, AttrType};
use blockform_provider::{BuildError, BuiltProvider, ProviderConfig, ProviderFactory, ProviderRole};

/// Every kind of provider this build knows, in the order the documentation lists them.
pub static FACTORIES: &[&dyn ProviderFactory] = &[
    &blockform_provider_local::FACTORY,
    &blockform_provider_ceph::FACTORY,
    &LVM,
    &LIBVIRT,
];

/// Factories added while the program runs (see [`register`]), after [`FACTORIES`].
static REGISTERED: RwLock<Vec<&'static dyn ProviderFactory>> = RwLock::new(Vec::new());

/// Adds a factory to the registry for the rest of the process, for a program that links a
/// provider this build does not list (the registry's own test adds an in-memory one). A
/// kind that is known already keeps its first factory.
pub fn register(factory: &'static dyn ProviderFactory) {
    let mut registered = REGISTERED.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let kind = factory.kind();
    let known = FACTORIES
        .iter()
        .chain(registered.iter())
        .any(|known| known.kind() == kind);
    if !known {
        registered.push(factory);
    }
}

/// Every factory: the listed ones, then the registered ones.
fn all() -> Vec<&'static dyn ProviderFactory> {
    let registered = REGISTERED.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    FACTORIES.iter().copied().chain(registered.iter().copied()).collect()
}

/// The factory of a kind (a provider block's first label), if this build knows it.
pub fn factory(kind: &str) -> Option<&'static dyn ProviderFactory> {
    if let Some(listed) = FACTORIES.iter().find(|factory| factory.kind() == kind) {
        return Some(*listed);
    }
    let registered = REGISTERED.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    registered.iter().find(|factory| factory.kind() == kind).copied()
}

/// Every known kind, in registry order.
pub fn kinds() -> Vec<&'static str> {
    all().iter().map(|factory| factory.kind()).collect()
}

/// The known kinds of one role, in registry order.
pub fn kinds_of(role: ProviderRole) -> Vec<&'static str> {
    all()
        .iter()
        .filter(|factory| factory.role() == role)
        .map(|factory| factory.kind())
        .collect()
}

/// The role of a kind, if this build knows it.
pub fn role(kind: &str) -> Option<ProviderRole> {
    factory(kind).map(ProviderFactory::role)
}

/// A kind this build knows the blocks of but cannot drive yet: schema only, no checks of the
/// values beyond it, and [`build`](ProviderFactory::build) answers `None`.
pub struct SchemaOnly {
    kind: &'static str,
    role: ProviderRole,
    schema: &'static [AttrSpec],
}

impl ProviderFactory for SchemaOnly {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn role(&self) -> ProviderRole {
        self.role
    }

    fn schema(&self) -> &'static [AttrSpec] {
        self.schema
    }

    fn build(&self, config: &ProviderConfig) -> Result<Option<BuiltProvider>, BuildError> {
        let _ = config;
        Ok(None)
    }
}

/// Logical volumes in an LVM volume group, locally or over ssh. Schema only until the LVM
/// provider's crate replaces this entry.
static LVM: SchemaOnly = SchemaOnly {
    kind: "lvm",
    role: ProviderRole::Storage,
    schema: &[
        AttrSpec::required("volume_group", AttrType::String),
        AttrSpec::optional("thin_pool", AttrType::String),
        AttrSpec::optional("host", AttrType::String),
        AttrSpec::optional("port", AttrType::Integer),
        AttrSpec::optional("user", AttrType::String),
        AttrSpec::optional("identity_file", AttrType::String),
        AttrSpec::optional("sudo", AttrType::Bool),
    ],
};

/// Instances on a libvirt host, which attachments name as their `host`. Schema only until
/// the libvirt hypervisor's crate replaces this entry.
static LIBVIRT: SchemaOnly = SchemaOnly {
    kind: "libvirt",
    role: ProviderRole::Hypervisor,
    schema: &[AttrSpec::required("uri", AttrType::String)],
};
