//! Adopting existing back-end objects into state: `blockform import ADDR ID` and `import`
//! blocks. An ID is `PROVIDER/OBJECT` (a snapshot: `PROVIDER/VOLUME@SNAPSHOT`), exactly as
//! `blockform drift` lists unmanaged objects, so a report line can be pasted.
//!
//! The record takes every attribute the back end reports (size, name, description, tags,
//! metadata, bootable, status) from the object itself; what only blockform knows (a volume's
//! `type` and `source`, a snapshot's name) comes from the resource block, so importing and then
//! planning shows exactly the differences between the object and its configuration.

use std::collections::HashMap;
use std::sync::Arc;

use blockform_provider::{StorageProvider, validate_backend_name};

use crate::config::eval::{Desired, ResourceInstance};
use crate::config::value::{Value, ValueMap};
use crate::model::kinds::BackendObject;
use crate::model::{Address, ResourceKind, resource_schema};
use crate::providers::Providers;
use crate::registry::backend_name;
use crate::state::ResourceState;

/// Why an object cannot be imported. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The ID is not written as an ID of that resource kind is.
    #[error("{0}")]
    BadId(String),
    /// The address, provider or store is not in the configuration.
    #[error("{0}")]
    NotConfigured(String),
    /// The address or the object is managed already.
    #[error("{0}")]
    AlreadyManaged(String),
    /// The back end or store holds no such object.
    #[error("{0}")]
    NotFound(String),
    /// The configuration and the object disagree in a way the next plan would act on.
    #[error("{0}")]
    Mismatch(String),
    /// The request itself is refused (a file that would be overwritten).
    #[error("{0}")]
    Refused(String),
    /// The back end could not be read.
    #[error("reading `{id}` from provider `{provider}`: {source}")]
    Provider {
        /// The import ID.
        id: String,
        /// The provider block.
        provider: String,
        /// The back end's error.
        source: blockform_provider::ProviderError,
    },
    /// A backup store could not be read.
    #[error("reading {what}: {source}")]
    Store {
        /// The store or backup.
        what: String,
        /// The store's error.
        source: crate::backup::BackupError,
    },
    /// Generated configuration could not be written.
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An object an `import` block names could not be read for generated configuration.
    #[error("cannot import `{address}`: {source}")]
    Generated {
        /// The address the block imports to.
        address: String,
        /// Why.
        source: Box<ImportError>,
    },
}

/// An import ID taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportId {
    /// The provider block's name.
    pub provider: String,
    /// The volume's back-end name.
    pub volume: String,
    /// The snapshot's back-end name, for a snapshot.
    pub snapshot: Option<String>,
}

/// Splits `PROVIDER/OBJECT[@SNAPSHOT]` and checks the provider exists and the names are valid.
pub fn parse_id(id: &str, providers: &Providers) -> Result<(ImportId, Arc<dyn StorageProvider>), ImportError> {
    let Some((provider_name, object)) = id.split_once('/').filter(|(p, o)| !p.is_empty() && !o.is_empty()) else {
        return Err(ImportError::BadId(format!(
            "`{id}` is not an import ID: write PROVIDER/OBJECT, the provider block's name and the object's name in the back end (as `blockform drift` lists it, like `dev/volume-5c0e….qcow2`)"
        )));
    };
    let provider = providers
        .get(provider_name)
        .ok_or_else(|| ImportError::NotConfigured(providers.missing_reason(provider_name)))?;
    let (volume_object, snapshot) = match object.split_once('@') {
        Some((volume, snapshot)) => (volume, Some(snapshot.to_owned())),
        None => (object, None),
    };
    let volume = backend_name(provider.kind().as_str(), volume_object);
    for name in std::iter::once(&volume).chain(snapshot.as_ref()) {
        validate_backend_name(name).map_err(|e| ImportError::BadId(format!("`{id}`: {e}")))?;
    }
    Ok((
        ImportId {
            provider: provider_name.to_owned(),
            volume,
            snapshot,
        },
        provider,
    ))
}

/// Reads the object `id` names and builds the state record that adopts it as `address`.
pub fn read(
    desired: &Desired,
    prior: &[ResourceState],
    providers: &Providers,
    address: &Address,
    id: &str,
) -> Result<ResourceState, ImportError> {
    let Some(instance) = desired.resources.iter().find(|r| r.address == *address) else {
        return Err(ImportError::NotConfigured(format!(
            "`{address}` is not in the configuration: add a `resource \"{}\" \"{}\"` block first (or use an `import` block with `plan --generate-config-out=FILE`)",
            address.kind, address.name
        )));
    };
    read_for(instance, prior, providers, id)
}

/// Like [`read`], for a configured instance.
pub fn read_for(
    instance: &ResourceInstance,
    prior: &[ResourceState],
    providers: &Providers,
    id: &str,
) -> Result<ResourceState, ImportError> {
    read_object(
        &instance.address,
        &instance.attrs,
        &instance.depends_on,
        prior,
        providers,
        id,
    )
}

/// Reads the object `id` names as `address`, whose configured attributes are `configured`.
fn read_object(
    address: &Address,
    configured: &ValueMap,
    depends_on: &[(ResourceKind, String)],
    prior: &[ResourceState],
    providers: &Providers,
    id: &str,
) -> Result<ResourceState, ImportError> {
    if prior.iter().any(|r| r.address == address.to_string()) {
        return Err(ImportError::AlreadyManaged(format!(
            "`{address}` is already managed by blockform; `blockform state rm {address}` first to adopt another object as it"
        )));
    }
    // What the kind is outside state says what an import reads: a backup store's manifest, or
    // a volume or snapshot of a provider.
    let object = address.kind.handler().backend_object();
    if object == BackendObject::BackupManifest {
        return read_backup(address, configured, depends_on, prior, providers, id);
    }
    let (parsed, provider) = parse_id(id, providers)?;
    let wanted = parsed.snapshot.as_ref().unwrap_or(&parsed.volume);
    if let Some(owner) = prior
        .iter()
        .find(|r| r.backend_id == *wanted && r.provider.as_deref() == Some(&parsed.provider))
    {
        return Err(ImportError::AlreadyManaged(format!(
            "`{id}` is already managed as `{}`",
            owner.address
        )));
    }
    let observed = provider
        .refresh(std::slice::from_ref(&parsed.volume))
        .map_err(|source| ImportError::Provider {
            id: id.to_owned(),
            provider: parsed.provider.clone(),
            source,
        })?;
    let Some(volume) = observed.into_iter().find(|v| v.backend_name == parsed.volume) else {
        return Err(ImportError::NotFound(format!(
            "provider `{}` has no volume `{}`: `blockform drift` lists the objects that can be imported",
            parsed.provider, parsed.volume
        )));
    };
    // Configured values first: what only blockform knows.
    let mut attributes = configured_attributes(address.kind, configured);
    let (backend_id, status) = match (object, &parsed.snapshot) {
        (BackendObject::Volume, None) => {
            check_volume_type(address, configured, prior, &parsed.provider)?;
            for (name, value) in crate::refresh::volume_attributes(&volume) {
                attributes.insert(name, value.to_json());
            }
            attributes.insert("id".into(), serde_json::json!(volume.backend_name));
            attributes.insert("backend_name".into(), serde_json::json!(volume.backend_name));
            (volume.backend_name.clone(), volume.status.to_string())
        }
        (BackendObject::Snapshot, Some(snapshot_name)) => {
            let Some(snapshot) = volume.snapshots.iter().find(|s| s.backend_name == *snapshot_name) else {
                return Err(ImportError::NotFound(format!(
                    "volume `{}` of provider `{}` has no snapshot `{snapshot_name}`",
                    parsed.volume, parsed.provider
                )));
            };
            let Some(owner) = prior.iter().find(|r| r.backend_id == parsed.volume) else {
                return Err(ImportError::Mismatch(format!(
                    "the snapshot's volume `{}` is not managed: import the volume first",
                    parsed.volume
                )));
            };
            let configured_volume = configured.get("volume").and_then(Value::as_str);
            if configured_volume.is_some_and(|v| v != parsed.volume) {
                return Err(ImportError::Mismatch(format!(
                    "`{address}` is configured on another volume than `{}` ({}), which holds `{snapshot_name}`",
                    owner.address, parsed.volume
                )));
            }
            attributes.insert("volume".into(), serde_json::json!(parsed.volume));
            attributes.insert("id".into(), serde_json::json!(snapshot.backend_name));
            attributes.insert("status".into(), serde_json::json!(snapshot.status.to_string()));
            attributes.insert(
                "created_at".into(),
                serde_json::json!(crate::model::timestamp(snapshot.created_at_unix_secs)),
            );
            attributes.insert("size".into(), serde_json::json!(snapshot.size_bytes.div_ceil(1 << 30)));
            (snapshot.backend_name.clone(), snapshot.status.to_string())
        }
        (BackendObject::Volume, Some(_)) => {
            return Err(ImportError::BadId(format!(
                "`{id}` names a snapshot; import it as a `snapshot` resource, or drop `@…` to import the volume"
            )));
        }
        (BackendObject::Snapshot, None) => {
            return Err(ImportError::BadId(format!(
                "`{id}` names a volume; a snapshot's ID is PROVIDER/VOLUME@SNAPSHOT"
            )));
        }
        (
            BackendObject::StateOnly | BackendObject::File | BackendObject::BackupManifest | BackendObject::Attachment,
            _,
        ) => {
            let kind = address.kind;
            return Err(ImportError::BadId(format!(
                "only volumes, snapshots and backups can be imported; `{kind}` resources are blockform's own records"
            )));
        }
    };
    let dependencies = depends_on
        .iter()
        .map(|(kind, name)| Address::new(*kind, name.clone()).to_string())
        .collect();
    Ok(ResourceState {
        address: address.to_string(),
        backend_id,
        provider: Some(parsed.provider),
        attributes,
        dependencies,
        status,
    })
}

/// The record's attributes as the resource block configures them (known values only).
fn configured_attributes(kind: ResourceKind, configured: &ValueMap) -> serde_json::Map<String, serde_json::Value> {
    resource_schema(kind)
        .attrs
        .iter()
        .map(|spec| {
            let value = configured
                .get(spec.name)
                .filter(|v| !v.is_unknown())
                .map_or(serde_json::Value::Null, Value::to_json);
            (spec.name.to_owned(), value)
        })
        .collect()
}

/// Adopts a backup a store holds (`STORE/BACKUP`, as `blockform backup list` shows it): one
/// whose `backup` resource was removed, or that a destroyed policy kept. Its volume, store and
/// mode come from the backup itself; configured values that disagree are refused, as they
/// would make the next plan replace (that is, delete) it.
fn read_backup(
    address: &Address,
    configured: &ValueMap,
    depends_on: &[(ResourceKind, String)],
    prior: &[ResourceState],
    providers: &Providers,
    id: &str,
) -> Result<ResourceState, ImportError> {
    let Some((store_name, backup_id)) = id.split_once('/').filter(|(s, b)| !s.is_empty() && !b.is_empty()) else {
        return Err(ImportError::BadId(format!(
            "`{id}` is not a backup's import ID: write STORE/BACKUP, the backup_store block's name and the backup's id (as `blockform backup list` shows them)"
        )));
    };
    let config = providers
        .store(store_name)
        .ok_or_else(|| ImportError::NotConfigured(format!("no backup_store block is named `{store_name}`")))?;
    if let Some(owner) = prior
        .iter()
        .find(|r| r.address.starts_with("backup.") && r.backend_id == backup_id)
    {
        return Err(ImportError::AlreadyManaged(format!(
            "`{id}` is already managed as `{}`",
            owner.address
        )));
    }
    let store = config
        .open(crate::backup::Access::Shared, false)
        .map_err(|source| ImportError::Store {
            what: format!("store `{store_name}`"),
            source,
        })?;
    if !store.has_backup(backup_id) {
        return Err(ImportError::NotFound(format!(
            "store `{store_name}` holds no backup `{backup_id}`: `blockform backup list` shows the backups"
        )));
    }
    let manifest = store.manifest(backup_id).map_err(|source| ImportError::Store {
        what: format!("backup `{backup_id}`"),
        source,
    })?;
    let disagree = |name: &str, real: &str| match configured.get(name) {
        Some(Value::String(value)) if value != real => Some(value.clone()),
        _ => None,
    };
    if let Some(volume) = disagree("volume", &manifest.volume_backend_id) {
        return Err(ImportError::Mismatch(format!(
            "`{address}` is configured on volume `{volume}`, but `{backup_id}` is a backup of `{}` ({}): set `volume` to it",
            manifest.volume_backend_id, manifest.volume_address
        )));
    }
    if disagree("store", store_name).is_some() {
        return Err(ImportError::Mismatch(format!(
            "`{address}` is configured on another store than `{store_name}`, which holds `{backup_id}`"
        )));
    }
    if disagree("mode", manifest.mode.as_str()).is_some() {
        return Err(ImportError::Mismatch(format!(
            "`{backup_id}` is a {} backup: set `mode = \"{}\"` in `{address}`",
            manifest.mode.as_str(),
            manifest.mode.as_str()
        )));
    }
    let mut attributes = configured_attributes(address.kind, configured);
    attributes.insert("volume".into(), serde_json::json!(manifest.volume_backend_id));
    attributes.insert("store".into(), serde_json::json!(store_name));
    attributes.insert("mode".into(), serde_json::json!(manifest.mode.as_str()));
    attributes.insert("id".into(), serde_json::json!(manifest.id));
    attributes.insert("status".into(), serde_json::json!("available"));
    attributes.insert(
        "created_at".into(),
        serde_json::json!(crate::model::timestamp(manifest.created_at)),
    );
    attributes.insert("size".into(), serde_json::json!(manifest.size_bytes.div_ceil(1 << 30)));
    attributes.insert("parent".into(), serde_json::json!(manifest.parent));
    Ok(ResourceState {
        address: address.to_string(),
        backend_id: manifest.id.clone(),
        provider: Some(store_name.to_owned()),
        attributes,
        dependencies: depends_on
            .iter()
            .map(|(kind, name)| Address::new(*kind, name.clone()).to_string())
            .collect(),
        status: "available".into(),
    })
}

/// A volume's configured type must live on the provider the ID names.
fn check_volume_type(
    address: &Address,
    configured: &ValueMap,
    prior: &[ResourceState],
    provider: &str,
) -> Result<(), ImportError> {
    let Some(type_value) = configured.get("type") else {
        return Ok(());
    };
    let Some(type_id) = type_value.as_str() else {
        return Err(ImportError::Mismatch(format!(
            "`{address}`'s volume type does not exist yet: apply it first, then import"
        )));
    };
    let by_id: HashMap<&str, &ResourceState> = prior.iter().map(|r| (r.backend_id.as_str(), r)).collect();
    let Some(volume_type) = by_id.get(type_id) else {
        return Ok(());
    };
    let backend = volume_type
        .attributes
        .get("backend")
        .and_then(serde_json::Value::as_str);
    match backend {
        Some(backend) if backend != provider => Err(ImportError::Mismatch(format!(
            "`{address}` uses type `{}`, which lives on provider `{backend}`, but the object is in provider `{provider}`",
            volume_type.address
        ))),
        _ => Ok(()),
    }
}

/// Writes `resource` blocks for the `import` blocks whose target no block declares, from the
/// objects' real attributes, to a new file. Returns how many blocks it wrote.
pub fn generate_config(
    path: &std::path::Path,
    desired: &Desired,
    prior: &[ResourceState],
    providers: &Providers,
) -> Result<usize, ImportError> {
    use std::fmt::Write as _;
    if path.exists() {
        return Err(ImportError::Refused(format!(
            "`{}` already exists; --generate-config-out writes a new file only (move it away or name another)",
            path.display()
        )));
    }
    let mut text = String::new();
    let mut count = 0;
    // Volumes first: a snapshot imported with its volume finds it among them.
    let mut imports: Vec<_> = desired.undeclared_imports.iter().collect();
    imports.sort_by_key(|import| import.to.kind.handler().backend_object() != BackendObject::Volume);
    let mut known = prior.to_vec();
    for import in imports {
        let address = &import.to;
        let record =
            read_object(address, &ValueMap::default(), &[], &known, providers, &import.id).map_err(|source| {
                ImportError::Generated {
                    address: address.to_string(),
                    source: Box::new(source),
                }
            })?;
        known.push(record.clone());
        let prior = known.as_slice();
        let attribute = |name: &str| record.attributes.get(name).filter(|v| !v.is_null());
        let _ = writeln!(
            text,
            "# Generated by blockform from \"{}\": review before applying.",
            import.id
        );
        let _ = writeln!(text, "resource \"{}\" \"{}\" {{", address.kind, address.name);
        match address.kind.handler().backend_object() {
            BackendObject::Volume => {
                let provider = record.provider.as_deref().unwrap_or_default();
                let types: Vec<&str> = desired
                    .resources
                    .iter()
                    .filter(|r| r.address.kind == ResourceKind::VolumeType)
                    .filter(|r| r.attrs.get("backend").and_then(Value::as_str) == Some(provider))
                    .map(|r| r.address.name.as_str())
                    .collect();
                if let Some(name) = attribute("name") {
                    let _ = writeln!(text, "  name = {}", hcl(name));
                }
                if let Some(description) = attribute("description") {
                    let _ = writeln!(text, "  description = {}", hcl(description));
                }
                match types.as_slice() {
                    [only] => {
                        let _ = writeln!(text, "  type = volume_type.{only}.id");
                    }
                    [] => {
                        return Err(ImportError::Mismatch(format!(
                            "no volume type uses provider `{provider}`: add a `volume_type` with `backend = \"{provider}\"` so `{address}` can name it"
                        )));
                    }
                    [first, ..] => {
                        let _ = writeln!(
                            text,
                            "  # Types on provider `{provider}`: {}; pick the one this volume has.",
                            types.join(", ")
                        );
                        let _ = writeln!(text, "  type = volume_type.{first}.id");
                    }
                }
                if let Some(size) = attribute("size") {
                    let _ = writeln!(text, "  size = {size}");
                }
                if attribute("bootable").is_some_and(|b| b.as_bool() == Some(true)) {
                    text.push_str("  bootable = true\n");
                }
                if let Some(tags) = attribute("tags").filter(|t| t.as_array().is_some_and(|a| !a.is_empty())) {
                    let _ = writeln!(text, "  tags = {}", hcl(tags));
                }
                if let Some(metadata) = attribute("metadata")
                    .and_then(serde_json::Value::as_object)
                    .filter(|m| !m.is_empty())
                {
                    text.push_str("  metadata = {\n");
                    for (key, value) in metadata {
                        let _ = writeln!(
                            text,
                            "    {} = {}",
                            hcl(&serde_json::Value::String(key.clone())),
                            hcl(value)
                        );
                    }
                    text.push_str("  }\n");
                }
            }
            BackendObject::Snapshot => {
                let volume = attribute("volume")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                let owner = prior
                    .iter()
                    .find(|r| r.backend_id == volume)
                    .map_or_else(|| format!("\"{volume}\""), |r| format!("{}.id", r.address));
                let _ = writeln!(text, "  volume = {owner}");
                // The snapshot's own name in the back end, not the block's label.
                let _ = writeln!(
                    text,
                    "  name = {}",
                    hcl(&serde_json::Value::String(record.backend_id.clone()))
                );
            }
            BackendObject::StateOnly
            | BackendObject::File
            | BackendObject::BackupManifest
            | BackendObject::Attachment => {}
        }
        text.push_str("}\n\n");
        count += 1;
    }
    let text = crate::config::format::format_source(&text).unwrap_or(text);
    std::fs::write(path, text).map_err(|source| ImportError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(count)
}

/// A JSON value written as HCL: strings quoted with template sequences (`${`, `%{`) escaped.
fn hcl(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => serde_json::Value::String(s.clone())
            .to_string()
            .replace("${", "$${")
            .replace("%{", "%%{"),
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(hcl).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::hcl;

    #[test]
    fn generated_strings_cannot_start_templates() {
        assert_eq!(hcl(&serde_json::json!("a ${b} %{c}")), r#""a $${b} %%{c}""#);
        assert_eq!(hcl(&serde_json::json!(["x", "y\"z"])), r#"["x", "y\"z"]"#);
        assert_eq!(hcl(&serde_json::json!(21)), "21");
    }
}
