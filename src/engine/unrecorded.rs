//! Volumes blockform made whose state record is gone. After a state is lost (the state
//! directory deleted, a state file from the wrong checkout), every configured volume looks new
//! and a plan would create a second copy of each beside the old one. The old ones still carry
//! blockform's ownership marker and the `name` they were given; a planned create whose name
//! matches such a volume, on the provider it would be created on, is almost certainly the same
//! volume, and the plan says so instead of creating a duplicate (`import` adopts the old one).
//! Only a state that records no volume on that provider is checked (a lost state records
//! none): states that share a pool or directory each keep volumes of their own.

use crate::providers::RefreshError;
use std::collections::{BTreeMap, HashSet};

use blockform_provider::ObjectKind;

use crate::model::{Address, ResourceKind};
use crate::plan::{Action, Plan};
use crate::providers::Providers;
use crate::state::ResourceState;

/// A planned volume create that matches an owned volume no state records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecorded {
    /// The address the plan would create.
    pub address: Address,
    /// The provider block it would be created on, which holds the old volume.
    pub provider: String,
    /// The old volume's back-end name.
    pub backend_name: String,
    /// Its name (the `name` attribute it was created with, which the create has too).
    pub name: String,
    /// Its size in GiB.
    pub size_gib: u64,
    /// The id `import` takes for it (`dev/volume-5c0e….qcow2`).
    pub import_id: String,
}

impl Unrecorded {
    /// One line for an error: what would be duplicated.
    pub fn message(&self) -> String {
        format!(
            "`{}` would be created, but provider `{}` already holds `{}` named {:?} ({} GiB), made by blockform and \
             recorded in no state",
            self.address, self.provider, self.backend_name, self.name, self.size_gib
        )
    }

    /// How to adopt the old volume instead.
    pub fn hint(&self) -> String {
        // `volume.scratch["a"]` needs quotes in a shell.
        let address = self.address.to_string();
        let address = if address.contains(['[', '"']) {
            format!("'{address}'")
        } else {
            address
        };
        format!(
            "if the state was lost, adopt the volume: `blockform import {} {}` (or an `import` block); to create a \
             second volume beside it anyway, plan with `--allow-duplicates`",
            address, self.import_id
        )
    }
}

/// The planned volume creates that would duplicate an owned but unrecorded volume: one
/// inventory (and one refresh of the unrecorded volumes) per provider that creates volumes.
/// Each old volume matches one create at most.
pub fn find(plan: &Plan, prior: &[ResourceState], providers: &Providers) -> Result<Vec<Unrecorded>, RefreshError> {
    let mut creates: BTreeMap<&str, Vec<(&Address, &str)>> = BTreeMap::new();
    for change in &plan.changes {
        if change.action != Action::Create || change.address.kind != ResourceKind::Volume {
            continue;
        }
        let (Some(provider), Some(name)) = (
            change.provider.as_deref(),
            change
                .after
                .as_ref()
                .and_then(|a| a.get("name"))
                .and_then(|n| n.as_str()),
        ) else {
            continue;
        };
        creates.entry(provider).or_default().push((&change.address, name));
    }
    let mut found = Vec::new();
    for (provider_name, wanted) in creates {
        let Some(provider) = providers.get(provider_name) else {
            continue;
        };
        // A state that records volumes on this provider was not lost: another state sharing the
        // pool or directory may own volumes of the same names, and they are not duplicates.
        if prior
            .iter()
            .any(|r| r.address.starts_with("volume.") && r.provider.as_deref() == Some(provider_name))
        {
            continue;
        }
        let candidates: Vec<String> = provider
            .inventory()
            .map_err(|source| RefreshError::provider("listing the objects of", provider_name, "", source))?
            .into_iter()
            // No volume on this provider is recorded: every owned one is unrecorded.
            .filter(|item| item.kind == ObjectKind::Volume && item.owned)
            .map(|item| item.backend_name)
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let mut volumes = provider
            .refresh(&candidates)
            .map_err(|source| RefreshError::provider("reading the unrecorded volumes of", provider_name, "", source))?;
        volumes.sort_by(|a, b| a.backend_name.cmp(&b.backend_name));
        let kind = provider.kind();
        let mut taken = HashSet::new();
        for (address, name) in wanted {
            let Some(volume) = volumes
                .iter()
                .find(|v| v.properties.name == name && !taken.contains(&v.backend_name))
            else {
                continue;
            };
            taken.insert(volume.backend_name.clone());
            found.push(Unrecorded {
                address: address.clone(),
                provider: provider_name.to_owned(),
                backend_name: volume.backend_name.clone(),
                name: name.to_owned(),
                size_gib: volume.size_gib(),
                import_id: crate::registry::import_id(provider_name, kind.as_str(), &volume.backend_name, None),
            });
        }
    }
    Ok(found)
}
