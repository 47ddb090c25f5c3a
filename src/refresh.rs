//! Refresh: what really exists, read through the providers in batches (one listing per
//! provider, never one call per object), turned into [`Observed`] values for the plan.

use std::collections::HashMap;

use blockform_provider::VolumeState;

use crate::config::value::{Value, ValueMap};
use crate::model::{Address, ResourceKind};
use crate::plan::Observed;
use crate::providers::Providers;
use crate::state::ResourceState;

/// Refreshes every volume and snapshot in state whose provider is live. Errors name the
/// provider; objects of unavailable providers are left as recorded.
pub fn refresh(prior: &[ResourceState], providers: &Providers) -> Result<HashMap<String, Observed>, String> {
    // Volumes by provider; snapshots are read with their volume.
    let mut names: HashMap<&str, Vec<String>> = HashMap::new();
    for resource in prior {
        let Some(provider) = resource.provider.as_deref() else {
            continue;
        };
        if providers.get(provider).is_none() {
            continue;
        }
        if resource.address.starts_with("volume.") {
            names.entry(provider).or_default().push(resource.backend_id.clone());
        }
    }
    let mut volumes: HashMap<String, VolumeState> = HashMap::new();
    for (provider_name, backend_names) in names {
        let Some(provider) = providers.get(provider_name) else {
            continue;
        };
        let states = provider
            .refresh(&backend_names)
            .map_err(|e| format!("refreshing provider `{provider_name}`: {e}"))?;
        for state in states {
            volumes.insert(state.backend_name.clone(), state);
        }
    }
    let mut observed = HashMap::new();
    for resource in prior {
        let Some(provider) = resource.provider.as_deref() else {
            continue;
        };
        if providers.get(provider).is_none() {
            continue;
        }
        let Some(address) = Address::parse(&resource.address) else {
            continue;
        };
        match address.kind {
            ResourceKind::Volume => {
                let seen = match volumes.get(&resource.backend_id) {
                    Some(state) => Observed::Exists(volume_attributes(state)),
                    None => Observed::Missing,
                };
                observed.insert(resource.address.clone(), seen);
            }
            ResourceKind::Snapshot => {
                let volume_id = resource
                    .attributes
                    .get("volume")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                // A snapshot whose volume was not refreshed (another provider) is left alone.
                let Some(volume) = volumes.get(volume_id) else {
                    if prior.iter().any(|r| r.backend_id == volume_id) {
                        observed.insert(resource.address.clone(), Observed::Missing);
                    }
                    continue;
                };
                let exists = volume.snapshots.iter().any(|s| s.backend_name == resource.backend_id);
                observed.insert(
                    resource.address.clone(),
                    if exists {
                        Observed::Exists(ValueMap::new())
                    } else {
                        Observed::Missing
                    },
                );
            }
            _ => {}
        }
    }
    Ok(observed)
}

/// The attributes of a volume that a provider can read back, as the configuration writes them.
pub fn volume_attributes(state: &VolumeState) -> ValueMap {
    let p = &state.properties;
    let mut attrs = ValueMap::new();
    attrs.insert("name".into(), Value::String(p.name.clone()));
    attrs.insert(
        "description".into(),
        p.description.clone().map_or(Value::Null, Value::String),
    );
    #[allow(clippy::cast_precision_loss)]
    attrs.insert("size".into(), Value::Number(state.size_gib() as f64));
    attrs.insert("bootable".into(), Value::Bool(p.bootable));
    attrs.insert(
        "tags".into(),
        Value::List(p.tags.iter().cloned().map(Value::String).collect()),
    );
    attrs.insert(
        "metadata".into(),
        Value::Map(
            p.metadata
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
    );
    attrs.insert("status".into(), Value::String(state.status.to_string()));
    attrs
}
