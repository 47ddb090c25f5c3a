//! The registry of provider kinds: the one list of the [`ProviderFactory`]s this build knows,
//! and the lookups the engine makes through it. Nothing else in the engine names a provider
//! kind; adding a provider is its crate plus one line in [`FACTORIES`].

use std::path::Path;
use std::sync::RwLock;

use blockform_provider::schema::AttrType;
use blockform_provider::{
    BackendQosSupport, ConfigProblem, ProviderConfig, ProviderFactory, ProviderKind, ProviderRole,
};

use crate::model::value::{Primitive, Value, ValueMap, convert_primitive};
use crate::model::{AttrSpec as EngineAttrSpec, AttrType as EngineAttrType, BlockSchema};

/// Every kind of provider this build knows, in the order the documentation lists them.
pub static FACTORIES: &[&dyn ProviderFactory] = &[
    &blockform_provider_local::FACTORY,
    &blockform_provider_ceph::FACTORY,
    &blockform_provider_lvm::FACTORY,
    &blockform_provider_libvirt::FACTORY,
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

/// The back-end QoS keys the providers of a kind (a provider block's label) enforce, as the
/// provider's crate declares them; `None` when back-end limits are only recorded (the local
/// provider: qcow2 files have no limits) or the kind is unknown, so any key is accepted.
pub fn backend_qos_support(kind: &str) -> Option<BackendQosSupport> {
    factory(kind)?.backend_qos()
}

/// Whether volumes cloned on a provider of `kind` configured with `attrs` keep depending on
/// their source (Ceph with `flatten_clones = false`), so that deleting the source flattens
/// them first.
pub fn clones_stay_linked(kind: &str, attrs: &ValueMap) -> bool {
    factory(kind).is_some_and(|factory| {
        let attributes = attrs.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        factory.clones_stay_linked(&attributes)
    })
}

/// The warning the plan shows for a snapshot taken on a provider of `kind` configured with
/// `attrs`, if its kind has one (LVM's copy-on-write snapshots of thick volumes).
pub fn snapshot_warning(kind: &str, attrs: &ValueMap) -> Option<String> {
    factory(kind).and_then(|factory| {
        let attributes = attrs.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        factory.snapshot_warning(&attributes)
    })
}

/// The name of a volume's object on a provider of `kind`, as inventories, `drift` and
/// `import` show it (the local provider's `volume-1.qcow2`).
pub fn object_name(kind: &str, backend_name: &str) -> String {
    factory(kind).map_or_else(|| backend_name.to_owned(), |factory| factory.object_name(backend_name))
}

/// The backend name an object name stands for on a provider of `kind` (the inverse of
/// [`object_name`]).
pub fn backend_name(kind: &str, object_name: &str) -> String {
    factory(kind).map_or_else(|| object_name.to_owned(), |factory| factory.backend_name(object_name))
}

/// The known kinds of `role` as a sentence lists them: "`local`, `ceph` or `lvm`", each
/// written by `show`.
pub fn listed_kinds(role: ProviderRole, show: impl Fn(&str) -> String) -> String {
    let kinds: Vec<String> = kinds_of(role).into_iter().map(show).collect();
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
pub fn provider_config(factory: &dyn ProviderFactory, name: &str, attrs: &ValueMap, dir: &Path) -> ProviderConfig {
    let schema = factory.schema();
    let mut attributes: serde_json::Map<String, serde_json::Value> = attrs
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
pub fn config_problems(kind: &str, name: &str, attrs: &ValueMap, dir: &Path) -> Vec<ConfigProblem> {
    let Some(factory) = factory(kind) else {
        return Vec::new();
    };
    factory.problems(&provider_config(factory, name, attrs, dir))
}

/// Every provider kind this build knows, in the registry's order.
pub fn provider_kinds() -> Vec<&'static str> {
    kinds()
}

/// The schema of a provider block, as the factory of its kind declares it, or `None` for an
/// unknown kind.
pub fn provider_schema(kind: &str) -> Option<BlockSchema> {
    let factory = factory(kind)?;
    Some(BlockSchema {
        attrs: provider_attrs(factory),
        computed: &[],
    })
}

/// A factory's attributes in the engine's schema types, converted once per kind for the rest
/// of the process (kinds are few and fixed, so the converted lists are kept, not freed).
fn provider_attrs(factory: &'static dyn blockform_provider::ProviderFactory) -> &'static [EngineAttrSpec] {
    use blockform_provider::schema::AttrType as Declared;
    static CONVERTED: std::sync::Mutex<Vec<(&'static str, &'static [EngineAttrSpec])>> =
        std::sync::Mutex::new(Vec::new());
    let mut converted = CONVERTED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, attrs)) = converted.iter().find(|(kind, _)| *kind == factory.kind()) {
        return attrs;
    }
    let attrs: Vec<EngineAttrSpec> = factory
        .schema()
        .iter()
        .map(|spec| EngineAttrSpec {
            name: spec.name,
            ty: match spec.ty {
                Declared::String => EngineAttrType::String,
                Declared::Integer => EngineAttrType::Integer,
                Declared::Number => EngineAttrType::Number,
                Declared::Bool => EngineAttrType::Bool,
                Declared::StringList => EngineAttrType::StringList,
                Declared::StringMap => EngineAttrType::StringMap,
                Declared::Duration => EngineAttrType::Duration,
            },
            required: spec.required,
        })
        .collect();
    let attrs: &'static [EngineAttrSpec] = Vec::leak(attrs);
    converted.push((factory.kind(), attrs));
    attrs
}

/// The ID `import` takes for a volume, or one of its snapshots: `PROVIDER/OBJECT[@SNAPSHOT]`
/// (`dev/volume-5c0e….qcow2@before`), as `drift` lists it; the object is named as the
/// provider's kind names it.
pub fn import_id(provider: &str, kind: &str, volume: &str, snapshot: Option<&str>) -> String {
    let object = object_name(kind, volume);
    match snapshot {
        Some(snapshot) => format!("{provider}/{object}@{snapshot}"),
        None => format!("{provider}/{object}"),
    }
}
