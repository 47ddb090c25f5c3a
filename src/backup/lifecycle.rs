//! Backups outlive what made them: what the plan says about the backups in the stores when a
//! volume or a backup policy goes, and the checks of a volume restored from a stored backup by
//! its id (`source = { backup = "backup-…" }`, for a backup whose volume or `backup` resource
//! is gone).
//!
//! Like `planning`, it reads the stores the configuration declares, and only when the plan
//! deletes a volume or a policy, or restores from a backup id that state does not hold.

use std::collections::{HashMap, HashSet};

use super::Stores;
use super::manifest::Manifest;
use crate::config::eval::Desired;
use crate::config::value::Value;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::model::ResourceKind;
use crate::plan::{Action, Plan};
use crate::state::ResourceState;

/// What a destroyed policy does with its backups: `on_destroy` as state records it.
pub fn deletes_its_backups(values: Option<&crate::config::value::ValueMap>) -> bool {
    values.and_then(|v| v.get("on_destroy")).and_then(Value::as_str) == Some("delete")
}

/// `N backups` / `1 backup`.
fn count(n: usize) -> String {
    if n == 1 {
        "1 backup".to_owned()
    } else {
        format!("{n} backups")
    }
}

/// Newest first, by store.
fn by_store<'a>(found: &[(&'a str, &'a Manifest)]) -> Vec<(&'a str, Vec<&'a Manifest>)> {
    let mut stores: Vec<(&str, Vec<&Manifest>)> = Vec::new();
    for (store, manifest) in found {
        match stores.iter_mut().find(|(name, _)| name == store) {
            Some((_, list)) => list.push(manifest),
            None => stores.push((store, vec![manifest])),
        }
    }
    for (_, list) in &mut stores {
        list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
    }
    stores.sort_by(|a, b| a.0.cmp(b.0));
    stores
}

/// Says in the plan what deleting volumes and policies does to their backups, and checks
/// restores from a stored backup id. Errors go into `diagnostics`.
pub fn check_plan(
    plan: &mut Plan,
    desired: &Desired,
    prior: &[ResourceState],
    stores: &Stores,
    diagnostics: &mut Diagnostics,
) {
    let in_state: HashSet<&str> = prior
        .iter()
        .filter(|r| r.address.starts_with("backup."))
        .map(|r| r.backend_id.as_str())
        .collect();
    let restores_by_id = plan
        .changes
        .iter()
        .any(|c| c.address.kind == ResourceKind::Volume && c.action.creates() && stored_backup(c, &in_state).is_some());
    let deletes = plan
        .changes
        .iter()
        .any(|c| matches!(c.address.kind, ResourceKind::Volume | ResourceKind::BackupPolicy) && c.action.destroys());
    if !restores_by_id && !deletes {
        return;
    }
    let manifests = super::planning::read_stores(stores);
    let all: Vec<(&str, &Manifest)> = manifests
        .iter()
        .flat_map(|(store, list)| list.iter().map(move |m| (store.as_str(), m)))
        .collect();
    check_restores(plan, desired, &in_state, &all, diagnostics);
    note_policy_deletes(plan, &all);
    note_volume_deletes(plan, prior, &all);
}

/// The backup id of a volume restored from a stored backup that state does not hold.
fn stored_backup<'a>(change: &'a crate::plan::Change, in_state: &HashSet<&str>) -> Option<&'a str> {
    let id = change
        .after
        .as_ref()?
        .get("source")?
        .as_map()?
        .get("backup")?
        .as_str()?;
    (!in_state.contains(id)).then_some(id)
}

fn check_restores(
    plan: &Plan,
    desired: &Desired,
    in_state: &HashSet<&str>,
    all: &[(&str, &Manifest)],
    diagnostics: &mut Diagnostics,
) {
    for change in plan
        .changes
        .iter()
        .filter(|c| c.address.kind == ResourceKind::Volume && c.action.creates())
    {
        let Some(id) = stored_backup(change, in_state) else {
            continue;
        };
        let Some(instance) = desired.resources.iter().find(|r| r.address == change.address) else {
            continue;
        };
        let span = |key: &str| {
            instance
                .attr_spans
                .get(key)
                .cloned()
                .unwrap_or_else(|| instance.span.clone())
        };
        let Some((store, manifest)) = all.iter().find(|(_, m)| m.id == id) else {
            diagnostics.push(
                Diagnostic::error(format!(
                    "`{}` is restored from backup `{id}`, which no backup store of the configuration holds",
                    change.address
                ))
                .at(span("source"), "no such backup")
                .help("`blockform backup list` lists the backups of every store"),
            );
            continue;
        };
        let size = change
            .after
            .as_ref()
            .and_then(|a| a.get("size"))
            .and_then(Value::as_i64)
            .and_then(|s| u64::try_from(s).ok());
        if let Some(size) = size
            && size.saturating_mul(blockform_provider::GIB) < manifest.size_bytes
        {
            let needed = manifest.size_bytes.div_ceil(blockform_provider::GIB);
            diagnostics.push(
                Diagnostic::error(format!(
                    "`{}` is {size} GiB but backup `{id}` (store `{store}`) holds {needed} GiB",
                    change.address
                ))
                .at(span("size"), format!("{size} GiB is smaller than {needed} GiB"))
                .help(format!(
                    "a volume restored from a backup must be at least as large as it: set `size = {needed}` or more"
                )),
            );
        }
    }
}

/// A destroyed policy keeps its backups (`on_destroy = "keep"`, the default) or deletes them
/// (`"delete"`): the plan names them either way.
fn note_policy_deletes(plan: &mut Plan, all: &[(&str, &Manifest)]) {
    for change in plan
        .changes
        .iter_mut()
        .filter(|c| c.address.kind == ResourceKind::BackupPolicy && c.action == Action::Delete)
    {
        let Some(id) = change.backend_id.as_deref() else {
            continue;
        };
        let found: Vec<(&str, &Manifest)> = all
            .iter()
            .filter(|(_, m)| m.policy.as_deref() == Some(id))
            .copied()
            .collect();
        if found.is_empty() {
            continue;
        }
        let delete = deletes_its_backups(change.before.as_ref());
        for (store, list) in by_store(&found) {
            let ids: Vec<&str> = list.iter().map(|m| m.id.as_str()).collect();
            if delete {
                change.notes.push(format!(
                    "deletes its {} from store `{store}` (on_destroy = \"delete\"): {}",
                    count(list.len()),
                    ids.join(", ")
                ));
            } else {
                change.notes.push(format!(
                    "keeps its {} in store `{store}` (on_destroy = \"keep\"): {}; restore one with \
                     `source = {{ backup = \"ID\" }}`, delete one with `blockform backup delete ID`",
                    count(list.len()),
                    ids.join(", ")
                ));
            }
        }
        if delete {
            change.data_loss = true;
        }
    }
}

/// A deleted volume's backups stay in their stores, restorable by id: the plan says which.
fn note_volume_deletes(plan: &mut Plan, prior: &[ResourceState], all: &[(&str, &Manifest)]) {
    // Backups this plan deletes: by `backup` resource, or with a policy that deletes its own.
    let mut going: HashSet<&str> = plan
        .changes
        .iter()
        .filter(|c| c.address.kind == ResourceKind::Backup && c.action.destroys())
        .filter_map(|c| c.backend_id.as_deref())
        .collect();
    let deleting_policies: HashSet<&str> = plan
        .changes
        .iter()
        .filter(|c| c.address.kind == ResourceKind::BackupPolicy && c.action == Action::Delete)
        .filter(|c| deletes_its_backups(c.before.as_ref()))
        .filter_map(|c| c.backend_id.as_deref())
        .collect();
    for (_, manifest) in all {
        if manifest
            .policy
            .as_deref()
            .is_some_and(|p| deleting_policies.contains(p))
        {
            going.insert(manifest.id.as_str());
        }
    }
    let owners: HashMap<&str, &str> = prior
        .iter()
        .filter(|r| r.address.starts_with("backup."))
        .map(|r| (r.backend_id.as_str(), r.address.as_str()))
        .collect();
    let going: HashSet<String> = going.into_iter().map(str::to_owned).collect();
    for change in plan
        .changes
        .iter_mut()
        .filter(|c| c.address.kind == ResourceKind::Volume && c.action.destroys())
    {
        let Some(volume) = change.backend_id.as_deref() else {
            continue;
        };
        let staying: Vec<(&str, &Manifest)> = all
            .iter()
            .filter(|(_, m)| m.volume_backend_id == volume && !going.contains(&m.id))
            .copied()
            .collect();
        for (store, list) in by_store(&staying) {
            let newest = list[0];
            let managed: Vec<&str> = list.iter().filter_map(|m| owners.get(m.id.as_str()).copied()).collect();
            change.notes.push(format!(
                "its {} in store `{store}` {} it{}: the newest, {} (taken {}), restores into a new volume with \
                 `source = {{ backup = \"{}\" }}`",
                count(list.len()),
                if list.len() == 1 { "outlives" } else { "outlive" },
                if managed.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", managed.join(", "))
                },
                newest.id,
                crate::model::timestamp(newest.created_at),
                newest.id
            ));
        }
    }
}
