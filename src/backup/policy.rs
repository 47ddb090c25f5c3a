//! Backup policies: which backups are due and which chains retention prunes, at a given time.
//!
//! Pure: the caller passes the store's manifests and the time, so schedules are tested over
//! simulated weeks. A chain is a full backup and the incrementals that build on it; a policy
//! only counts and prunes the backups it took itself.

use std::collections::HashMap;

use super::manifest::{BackupMode, Manifest};
use crate::config::value::{Value, ValueMap};
use crate::model::parse_duration;

/// A policy's schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    /// The policy's back-end id, recorded in the manifests it creates.
    pub id: String,
    /// A full backup is due this long after the newest full.
    pub full_every_secs: u64,
    /// An incremental is due this long after the newest backup of the chain.
    pub incremental_every_secs: Option<u64>,
    /// Full chains to retain.
    pub keep: usize,
}

impl PolicySpec {
    /// The schedule of a `backup_policy` resource's attributes.
    pub fn from_attrs(policy_id: &str, attrs: &ValueMap) -> Result<PolicySpec, String> {
        let duration = |key: &str| -> Result<Option<u64>, String> {
            match attrs.get(key).and_then(Value::as_str) {
                None => Ok(None),
                Some(text) => parse_duration(text)
                    .map(|d| Some(d.as_secs()))
                    .map_err(|e| format!("`{key}` = {text:?}: {e}")),
            }
        };
        let full_every_secs = duration("full_every")?.ok_or("the policy has no `full_every`")?;
        let keep = attrs.get("keep").and_then(Value::as_i64).unwrap_or(1);
        Ok(PolicySpec {
            id: policy_id.to_owned(),
            full_every_secs,
            incremental_every_secs: duration("incremental_every")?,
            keep: usize::try_from(keep).unwrap_or(1).max(1),
        })
    }
}

/// The volumes a policy backs up, by back-end id (unknown ones left out).
pub fn volumes(attrs: &ValueMap) -> Vec<String> {
    attrs
        .get("volumes")
        .and_then(Value::as_list)
        .map(|list| list.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A backup that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueBackup {
    /// The volume's back-end id.
    pub volume_backend_id: String,
    /// Full or incremental.
    pub mode: BackupMode,
}

/// A backup that retention deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// The backup's id.
    pub id: String,
    /// The volume's back-end id.
    pub volume_backend_id: String,
    /// Full or incremental.
    pub mode: BackupMode,
    /// When it was taken.
    pub created_at: u64,
}

/// What a policy run does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyRun {
    /// Backups to take, one per volume at most.
    pub due: Vec<DueBackup>,
    /// Backups to delete, in an order that deletes every incremental before what it builds on.
    pub prune: Vec<Pruned>,
}

impl PolicyRun {
    /// Whether the run does nothing.
    pub fn is_empty(&self) -> bool {
        self.due.is_empty() && self.prune.is_empty()
    }
}

/// The chains of one volume taken by one policy, oldest first; each chain oldest first.
pub fn chains<'a>(policy_id: &str, volume_backend_id: &str, manifests: &'a [Manifest]) -> Vec<Vec<&'a Manifest>> {
    let mut chains: Vec<Vec<&Manifest>> = Vec::new();
    let mut chain_of: HashMap<&str, usize> = HashMap::new();
    for manifest in manifests
        .iter()
        .filter(|m| m.policy.as_deref() == Some(policy_id) && m.volume_backend_id == volume_backend_id)
    {
        let index = match manifest.parent.as_deref().and_then(|p| chain_of.get(p)) {
            Some(&index) if manifest.mode == BackupMode::Incremental => index,
            _ => {
                chains.push(Vec::new());
                chains.len() - 1
            }
        };
        chains[index].push(manifest);
        chain_of.insert(manifest.id.as_str(), index);
    }
    chains
}

/// What a policy does for `volumes` at `now`, given every manifest of its store (parents first).
pub fn schedule(policy: &PolicySpec, volumes: &[String], manifests: &[Manifest], now: u64) -> PolicyRun {
    let mut run = PolicyRun::default();
    for volume in volumes {
        let chains = chains(&policy.id, volume, manifests);
        let newest_full = chains.last().and_then(|c| c.first().copied());
        let newest = chains.last().and_then(|c| c.last().copied());
        let full_due = newest_full.is_none_or(|f| now.saturating_sub(f.created_at) >= policy.full_every_secs);
        let mode = if full_due {
            Some(BackupMode::Full)
        } else {
            match (policy.incremental_every_secs, newest) {
                (Some(every), Some(last)) if now.saturating_sub(last.created_at) >= every => {
                    Some(BackupMode::Incremental)
                }
                _ => None,
            }
        };
        if let Some(mode) = mode {
            run.due.push(DueBackup {
                volume_backend_id: volume.clone(),
                mode,
            });
        }
        let count = chains.len() + usize::from(full_due);
        let excess = count.saturating_sub(policy.keep.max(1));
        for chain in chains.iter().take(excess).rev() {
            for manifest in chain.iter().rev() {
                run.prune.push(Pruned {
                    id: manifest.id.clone(),
                    volume_backend_id: volume.clone(),
                    mode: manifest.mode,
                    created_at: manifest.created_at,
                });
            }
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::MANIFEST_FORMAT;

    const HOUR: u64 = 3600;
    const DAY: u64 = 24 * HOUR;

    fn manifest(id: usize, mode: BackupMode, parent: Option<usize>, at: u64) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            id: format!("b{id}"),
            volume_address: "volume.db".into(),
            volume_backend_id: "volume-1".into(),
            mode,
            parent: parent.map(|p| format!("b{p}")),
            size_bytes: 1 << 30,
            block_size: 65536,
            created_at: at,
            sequence: u64::try_from(id).unwrap(),
            policy: Some("policy-1".into()),
            change_marker: None,
            change_source: "allocation".into(),
            read_bytes: 0,
            stored_bytes: 0,
            blocks: Vec::new(),
        }
    }

    fn policy(keep: usize) -> PolicySpec {
        PolicySpec {
            id: "policy-1".into(),
            full_every_secs: 7 * DAY,
            incremental_every_secs: Some(DAY),
            keep,
        }
    }

    /// Runs the policy every hour for `days`, taking what is due and pruning what it says.
    fn simulate(policy: &PolicySpec, days: u64) -> (Vec<Manifest>, Vec<String>) {
        let volumes = vec!["volume-1".to_owned()];
        let mut manifests: Vec<Manifest> = Vec::new();
        let mut pruned = Vec::new();
        let mut next = 0;
        for hour in 0..days * 24 {
            let now = 1_000_000 + hour * HOUR;
            let run = schedule(policy, &volumes, &manifests, now);
            for due in &run.due {
                let parent = manifests
                    .iter()
                    .rfind(|m| m.volume_backend_id == due.volume_backend_id)
                    .filter(|_| due.mode == BackupMode::Incremental)
                    .map(|m| m.id[1..].parse().unwrap());
                manifests.push(manifest(next, due.mode, parent, now));
                next += 1;
            }
            for prune in run.prune {
                let index = manifests.iter().position(|m| m.id == prune.id).unwrap();
                assert!(
                    !manifests.iter().any(|m| m.parent.as_deref() == Some(prune.id.as_str())),
                    "{} is pruned before the backups that build on it",
                    prune.id
                );
                manifests.remove(index);
                pruned.push(prune.id);
            }
        }
        (manifests, pruned)
    }

    #[test]
    fn the_first_run_takes_a_full_backup() {
        let run = schedule(&policy(2), &["volume-1".into()], &[], 5);
        assert_eq!(
            run.due,
            [DueBackup {
                volume_backend_id: "volume-1".into(),
                mode: BackupMode::Full
            }]
        );
        assert!(run.prune.is_empty());
    }

    #[test]
    fn incrementals_are_due_daily_and_a_full_weekly() {
        let manifests = vec![
            manifest(0, BackupMode::Full, None, 0),
            manifest(1, BackupMode::Incremental, Some(0), DAY),
        ];
        let volumes = ["volume-1".to_owned()];
        assert!(schedule(&policy(2), &volumes, &manifests, DAY + HOUR).is_empty());
        assert_eq!(
            schedule(&policy(2), &volumes, &manifests, 2 * DAY).due[0].mode,
            BackupMode::Incremental
        );
        assert_eq!(
            schedule(&policy(2), &volumes, &manifests, 7 * DAY).due[0].mode,
            BackupMode::Full
        );
    }

    #[test]
    fn four_weeks_keep_two_chains_and_prune_newest_first() {
        let (kept, pruned) = simulate(&policy(2), 28);
        let fulls: Vec<u64> = kept
            .iter()
            .filter(|m| m.mode == BackupMode::Full)
            .map(|m| m.created_at)
            .collect();
        assert_eq!(fulls.len(), 2, "two chains are kept");
        assert_eq!(kept.len(), 14, "each chain is a full and six daily incrementals");
        // The first chain (b0..b6) went when the third full was taken, newest first.
        assert_eq!(pruned[..7], ["b6", "b5", "b4", "b3", "b2", "b1", "b0"]);
        assert_eq!(pruned.len(), 14);
    }

    #[test]
    fn other_policies_and_volumes_are_left_alone() {
        let mut other = manifest(9, BackupMode::Full, None, 0);
        other.policy = Some("policy-2".into());
        let mut foreign = manifest(8, BackupMode::Full, None, 0);
        foreign.volume_backend_id = "volume-2".into();
        let run = schedule(&policy(1), &["volume-1".into()], &[other, foreign], 30 * DAY);
        assert!(run.prune.is_empty());
        assert_eq!(run.due.len(), 1);
    }
}
