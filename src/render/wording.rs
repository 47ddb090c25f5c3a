//! The words every plan renderer shares: what a change will do, why, what data it destroys, and
//! the summary line. Kept in one place so the terminal plan and the Markdown summary never say
//! different things about the same change.

use crate::config::value::Value;
use crate::model::{InstanceKey, ResourceKind};
use crate::plan::{Action, Change, Reason, StorageAction, Summary};

/// What the change will do, written after its address: `will be created`,
/// `will be extended from 10 GiB to 20 GiB`, `must be replaced`.
pub(crate) fn heading(change: &Change) -> String {
    let also_updated = |own: &str| {
        if changed_attributes(change).iter().any(|name| *name != own) {
            " and updated in-place"
        } else {
            ""
        }
    };
    match (&change.storage, change.action) {
        (Some(StorageAction::Extend { from_gib, to_gib }), Action::Update) => {
            format!(
                "will be extended from {from_gib} GiB to {to_gib} GiB{}",
                also_updated("size")
            )
        }
        (Some(StorageAction::Retype { from, to }), Action::Update) => {
            format!("will be retyped from {from} to {to}{}", also_updated("type"))
        }
        (Some(StorageAction::Attach), Action::Create) => "will be attached".to_owned(),
        (Some(StorageAction::Detach), Action::Delete) => "will be detached".to_owned(),
        (Some(StorageAction::Backup), Action::Create) => {
            let mode = change
                .after
                .as_ref()
                .and_then(|after| after.get("mode"))
                .and_then(Value::as_str);
            match mode {
                Some(mode) => format!("will be taken ({mode} backup)"),
                None => "will be taken".to_owned(),
            }
        }
        (Some(StorageAction::Prune), Action::Delete) => "will be pruned".to_owned(),
        (Some(StorageAction::Restore), Action::Create) => "will be created from a backup".to_owned(),
        (_, Action::NoOp) => "has no changes".to_owned(),
        (_, Action::Create) => "will be created".to_owned(),
        (Some(StorageAction::Backup | StorageAction::Prune), Action::Update)
            if change.address.kind == ResourceKind::BackupPolicy =>
        {
            let verb = if change.storage == Some(StorageAction::Backup) {
                "will run (take the backups that are due"
            } else {
                "will run (prune what retention drops"
            };
            let updated = if changed_attributes(change).is_empty() {
                ""
            } else {
                " and be updated in-place"
            };
            format!("{verb}){updated}")
        }
        (_, Action::Update) => "will be updated in-place".to_owned(),
        (_, Action::DeleteThenCreate | Action::CreateThenDelete) if change.reason == Some(Reason::ReplaceByRequest) => {
            "will be replaced, as requested".to_owned()
        }
        (_, Action::DeleteThenCreate | Action::CreateThenDelete) => "must be replaced".to_owned(),
        (_, Action::Delete) => "will be destroyed".to_owned(),
    }
}

/// Why the change has its action, as Terraform's `# (because …)` line; `None` where the heading
/// or the `# forces replacement` marks already say it.
pub(crate) fn reason(change: &Change) -> Option<String> {
    let text = match change.reason? {
        Reason::ReplaceBecauseCannotUpdate | Reason::ReplaceByRequest | Reason::DeleteBecauseDestroyMode => {
            return None;
        }
        Reason::ReplaceBecauseBackendChanged => "because the new type moves it to another back end".to_owned(),
        Reason::DeleteBecauseNoResourceConfig => format!("because {} is not in configuration", change.address),
        Reason::DeleteBecauseCountIndex => match &change.address.key {
            InstanceKey::Index(index) => format!("because index [{index}] is out of range for count"),
            _ => format!("because {} is not in configuration", change.address),
        },
        Reason::DeleteBecauseEachKey => match &change.address.key {
            InstanceKey::Key(key) => format!("because key [{key:?}] is not in for_each map"),
            _ => format!("because {} is not in configuration", change.address),
        },
        Reason::CreateBecauseMissing => "because it was deleted outside blockform".to_owned(),
    };
    Some(text)
}

/// What data a data-loss change destroys, in one clause.
pub(crate) fn data_loss(change: &Change) -> std::borrow::Cow<'static, str> {
    // A policy's run prunes, and a destroyed policy may delete, backups the plan names.
    if change.address.kind == ResourceKind::BackupPolicy {
        let lost: Vec<&str> = change
            .notes
            .iter()
            .filter(|note| note.starts_with("prunes ") || note.starts_with("deletes its "))
            .map(String::as_str)
            .collect();
        if !lost.is_empty() {
            let one = lost.len() == 1 && lost[0].starts_with("prunes ");
            let restorable = if one {
                "it can no longer be restored"
            } else {
                "they can no longer be restored"
            };
            return format!("{}; {restorable}", lost.join("; ")).into();
        }
    }
    if change.storage == Some(StorageAction::Prune) {
        return "retention deletes this backup; it can no longer be restored".into();
    }
    let replaced = matches!(change.action, Action::DeleteThenCreate | Action::CreateThenDelete);
    let text = change
        .address
        .kind
        .handler()
        .destroyed_data(replaced)
        .unwrap_or("its data is destroyed");
    text.into()
}

/// The hint shown wherever data loss is listed.
pub(crate) const DATA_LOSS_HINT: &str =
    "`blockform apply --auto-approve` refuses this plan unless `--allow-data-loss` is also given.";

/// `Plan: 3 to add, 1 to change, 1 to destroy; 2 to extend, 1 to back up.`
pub(crate) fn summary_line(summary: &Summary) -> String {
    let imports = if summary.import > 0 {
        format!("{} to import, ", summary.import)
    } else {
        String::new()
    };
    let mut line = format!(
        "Plan: {imports}{} to add, {} to change, {} to destroy",
        summary.add, summary.change, summary.destroy
    );
    let storage: Vec<String> = summary
        .storage
        .iter()
        .map(|(verb, count)| {
            let verb = if *verb == "backup" { "back up" } else { verb };
            format!("{count} to {verb}")
        })
        .collect();
    if !storage.is_empty() {
        line.push_str("; ");
        line.push_str(&storage.join(", "));
    }
    line.push('.');
    line
}

/// The attributes whose value differs between before and after, in display order.
fn changed_attributes(change: &Change) -> Vec<&str> {
    let (Some(before), Some(after)) = (&change.before, &change.after) else {
        return Vec::new();
    };
    attribute_names(before, after)
        .into_iter()
        .filter(|name| present(before.get(*name)) != present(after.get(*name)))
        .collect()
}

/// The names of both maps: those of `after` in order, then those only `before` has.
pub(crate) fn attribute_names<'a>(
    before: &'a crate::config::value::ValueMap,
    after: &'a crate::config::value::ValueMap,
) -> Vec<&'a str> {
    let mut names: Vec<&str> = after.keys().map(String::as_str).collect();
    names.extend(
        before
            .keys()
            .map(String::as_str)
            .filter(|name| !after.contains_key(*name)),
    );
    names
}

/// A value that is there: `null` reads as absent, as in Terraform.
pub(crate) fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !matches!(v, Value::Null))
}
