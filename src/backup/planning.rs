//! What the plan needs from backup stores: whether an incremental has a full to build on
//! (in the plan, in state or already in the store), and what each policy will take and prune.
//!
//! This is the one place planning reads stores; the diff itself stays pure.

use std::collections::HashMap;

use super::Stores;
use crate::backup::policy::{self, PolicyRun, PolicySpec};
use crate::backup::{Access, BackupMode, Manifest};
use crate::config::eval::Desired;
use crate::config::value::{Value, ValueMap};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::model::ResourceKind;
use crate::plan::{Action, Change, Plan, StorageAction};
use crate::state::ResourceState;

/// The manifests of each store that could be read, by store name.
pub(crate) fn read_stores(stores: &Stores) -> HashMap<String, Vec<Manifest>> {
    stores
        .iter()
        .filter_map(|(name, config)| {
            let store = config.open(Access::Shared, false).ok()?;
            Some((name.clone(), store.manifests().ok()?))
        })
        .collect()
}

fn text<'a>(values: Option<&'a ValueMap>, key: &str) -> Option<&'a str> {
    values.and_then(|v| v.get(key)).and_then(Value::as_str)
}

/// Checks incremental backups and previews policies; errors go into `diagnostics`.
pub fn check_plan(
    plan: &mut Plan,
    desired: &Desired,
    prior: &[ResourceState],
    stores: &Stores,
    now: u64,
    diagnostics: &mut Diagnostics,
) {
    check_deletes(plan, prior, diagnostics);
    let wanted = plan
        .changes
        .iter()
        .any(|c| c.address.kind.handler().takes_backups() && c.action != Action::Delete);
    if !wanted {
        return;
    }
    let manifests = read_stores(stores);
    check_incrementals(plan, desired, prior, &manifests, diagnostics);
    note_grown_volumes(plan, &manifests);
    for change in &mut plan.changes {
        if change.address.kind == ResourceKind::BackupPolicy && change.action != Action::Delete {
            preview_policy(change, stores, &manifests, prior, now);
        }
    }
}

/// A backup cannot be deleted while an incremental that stays builds on it.
fn check_deletes(plan: &Plan, prior: &[ResourceState], diagnostics: &mut Diagnostics) {
    let deleted: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| c.address.kind == ResourceKind::Backup && c.action.destroys())
        .filter_map(|c| c.backend_id.as_deref())
        .collect();
    for id in &deleted {
        let child = prior.iter().find(|r| {
            r.address.starts_with("backup.")
                && r.attributes.get("parent").and_then(serde_json::Value::as_str) == Some(*id)
                && !deleted.contains(&r.backend_id.as_str())
        });
        if let Some(child) = child {
            let address = prior
                .iter()
                .find(|r| r.backend_id == *id)
                .map_or(*id, |r| r.address.as_str());
            diagnostics.push(
                Diagnostic::error(format!(
                    "`{address}` cannot be deleted: the incremental backup `{}` builds on it and stays",
                    child.address
                ))
                .help(format!(
                    "delete `{}` as well (incrementals go first, newest first), or keep `{address}`",
                    child.address
                )),
            );
        }
    }
}

fn check_incrementals(
    plan: &Plan,
    desired: &Desired,
    prior: &[ResourceState],
    manifests: &HashMap<String, Vec<Manifest>>,
    diagnostics: &mut Diagnostics,
) {
    let creates: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.address.kind == ResourceKind::Backup && c.action.creates())
        .collect();
    for change in &creates {
        let after = change.after.as_ref();
        if text(after, "mode") != Some("incremental") {
            continue;
        }
        let volume = after.and_then(|a| a.get("volume"));
        let store = text(after, "store").unwrap_or_default();
        let full_in_plan = creates.iter().any(|other| {
            let values = other.after.as_ref();
            text(values, "mode") != Some("incremental")
                && values.and_then(|a| a.get("volume")) == volume
                && text(values, "store") == Some(store)
        });
        let volume_id = volume.and_then(Value::as_str);
        let in_state = volume_id.is_some_and(|id| {
            prior.iter().any(|r| {
                r.address.starts_with("backup.")
                    && r.attributes.get("volume").and_then(serde_json::Value::as_str) == Some(id)
                    && r.attributes.get("store").and_then(serde_json::Value::as_str) == Some(store)
            })
        });
        let in_store = volume_id.is_some_and(|id| {
            manifests
                .get(store)
                .is_some_and(|list| list.iter().any(|m| m.volume_backend_id == id))
        });
        if full_in_plan || in_state || in_store {
            continue;
        }
        let Some(instance) = desired.resources.iter().find(|r| r.address == change.address) else {
            continue;
        };
        let span = instance
            .attr_spans
            .get("mode")
            .cloned()
            .unwrap_or_else(|| instance.span.clone());
        let volume_name = instance
            .attr_refs
            .get("volume")
            .and_then(|refs| refs.first())
            .map_or_else(
                || "its volume".to_owned(),
                |r| format!("`{}.{}`", r.root, r.name.as_deref().unwrap_or_default()),
            );
        diagnostics.push(
            Diagnostic::error(format!(
                "`{}` is incremental, but store `{store}` holds no backup of {volume_name} to build on",
                change.address
            ))
            .at(span, "no full backup to build on")
            .help("add a backup of the same volume with `mode = \"full\"` (it is taken first), or make this one full"),
        );
    }
}

/// An incremental of a volume whose size changed since its newest backup is taken as a full
/// one (its blocks cannot be laid over the parent's); the plan says so.
fn note_grown_volumes(plan: &mut Plan, manifests: &HashMap<String, Vec<Manifest>>) {
    const GIB: f64 = 1_073_741_824.0;
    let sizes: HashMap<String, f64> = plan
        .changes
        .iter()
        .filter(|c| c.address.kind == ResourceKind::Volume)
        .filter_map(|c| {
            let Value::Number(size) = c.planned()?.get("size")? else {
                return None;
            };
            Some((c.backend_id.clone()?, *size))
        })
        .collect();
    for change in plan
        .changes
        .iter_mut()
        .filter(|c| c.address.kind == ResourceKind::Backup && c.action.creates())
    {
        let after = change.after.as_ref();
        if text(after, "mode") != Some("incremental") {
            continue;
        }
        let (Some(volume), Some(store)) = (text(after, "volume"), text(after, "store")) else {
            continue;
        };
        let newest = manifests.get(store).and_then(|list| {
            list.iter()
                .filter(|m| m.volume_backend_id == volume)
                .max_by_key(|m| m.sequence)
        });
        let (Some(newest), Some(&size_gib)) = (newest, sizes.get(volume)) else {
            continue;
        };
        #[allow(clippy::cast_precision_loss)]
        let parent_gib = newest.size_bytes as f64 / GIB;
        if (size_gib - parent_gib).abs() > f64::EPSILON {
            change.notes.push(format!(
                "taken as a full backup: the volume is {size_gib} GiB and its newest backup {} is of {parent_gib} GiB",
                newest.id
            ));
        }
    }
}

fn preview_policy(
    change: &mut Change,
    stores: &Stores,
    manifests: &HashMap<String, Vec<Manifest>>,
    prior: &[ResourceState],
    now: u64,
) {
    // A policy that did not change is a no-op, whose values are `before`.
    let Some(after) = change.planned().cloned() else { return };
    let Some(store_name) = text(Some(&after), "store").filter(|s| stores.contains_key(*s)) else {
        return;
    };
    let id = change.backend_id.clone().unwrap_or_default();
    let known = after
        .get("volumes")
        .and_then(Value::as_list)
        .is_some_and(|list| list.iter().all(|v| v.as_str().is_some()));
    if !known {
        change
            .notes
            .push("takes a full backup of each volume once the volumes exist".to_owned());
        change.storage = Some(StorageAction::Backup);
        return;
    }
    let spec = match PolicySpec::from_attrs(&id, &after) {
        Ok(spec) => spec,
        Err(message) => {
            change.notes.push(message);
            return;
        }
    };
    let existing = manifests.get(store_name).map_or(&[][..], Vec::as_slice);
    let run: PolicyRun = policy::schedule(&spec, &policy::volumes(&after), existing, now);
    if run.is_empty() {
        return;
    }
    let name_of = |volume_id: &str| {
        prior
            .iter()
            .find(|r| r.backend_id == volume_id)
            .map_or_else(|| volume_id.to_owned(), |r| r.address.clone())
    };
    for due in &run.due {
        change.notes.push(format!(
            "takes {} backup of {}",
            if due.mode == BackupMode::Full {
                "a full"
            } else {
                "an incremental"
            },
            name_of(&due.volume_backend_id)
        ));
    }
    for pruned in &run.prune {
        change.notes.push(format!(
            "prunes {} backup {} of {} taken {} (beyond keep)",
            pruned.mode.as_str(),
            pruned.id,
            name_of(&pruned.volume_backend_id),
            crate::model::timestamp(pruned.created_at)
        ));
    }
    if !run.prune.is_empty() {
        change.data_loss = true;
    }
    change.storage = Some(if run.due.is_empty() {
        StorageAction::Prune
    } else {
        StorageAction::Backup
    });
    if change.action == Action::NoOp {
        change.action = Action::Update;
        change.after = Some(after);
    }
}
