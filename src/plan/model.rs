//! The plan's data: changes with their actions, reasons, before/after values and data-loss
//! flags. Plain serde types, so a plan can be saved to a file and applied later exactly.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::config::value::{Value, ValueMap};
use crate::model::Address;
use crate::model::kinds::StorageStep;

/// What happens to one resource instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do.
    NoOp,
    /// Create a new object.
    Create,
    /// Change the object in place.
    Update,
    /// Delete the object, then create its replacement.
    DeleteThenCreate,
    /// Create the replacement, then delete the object (`create_before_destroy`).
    CreateThenDelete,
    /// Delete the object.
    Delete,
}

impl Action {
    /// The `actions` list of Terraform's JSON plan.
    pub fn terraform_actions(self) -> &'static [&'static str] {
        match self {
            Action::NoOp => &["no-op"],
            Action::Create => &["create"],
            Action::Update => &["update"],
            Action::DeleteThenCreate => &["delete", "create"],
            Action::CreateThenDelete => &["create", "delete"],
            Action::Delete => &["delete"],
        }
    }

    /// The symbol in the human plan (`+`, `~`, `-/+`, `+/-`, `-`).
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::DeleteThenCreate => "-/+",
            Action::CreateThenDelete => "+/-",
            Action::Delete => "-",
        }
    }

    /// Whether the existing object goes away (delete or replace).
    pub fn destroys(self) -> bool {
        matches!(
            self,
            Action::Delete | Action::DeleteThenCreate | Action::CreateThenDelete
        )
    }

    /// Whether a new object comes into being (create or replace).
    pub fn creates(self) -> bool {
        matches!(
            self,
            Action::Create | Action::DeleteThenCreate | Action::CreateThenDelete
        )
    }
}

/// What a change means for storage, worded as such in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StorageAction {
    /// A volume grows.
    Extend {
        /// Old size in GiB.
        from_gib: u64,
        /// New size in GiB.
        to_gib: u64,
    },
    /// A volume changes type within its back end.
    Retype {
        /// Old type (its address, or its id when it is no longer in state).
        from: String,
        /// New type (its address).
        to: String,
    },
    /// A volume is attached to an instance.
    Attach,
    /// A volume is detached from an instance.
    Detach,
    /// A backup is taken.
    Backup,
    /// A backup is pruned by retention.
    Prune,
    /// A volume is restored from a backup.
    Restore,
}

impl From<StorageStep> for StorageAction {
    fn from(step: StorageStep) -> StorageAction {
        match step {
            StorageStep::Attach => StorageAction::Attach,
            StorageStep::Detach => StorageAction::Detach,
            StorageStep::Backup => StorageAction::Backup,
            StorageStep::Restore => StorageAction::Restore,
        }
    }
}

impl StorageAction {
    /// The verb used in summaries (`extend`, `backup`, …).
    pub fn verb(&self) -> &'static str {
        match self {
            StorageAction::Extend { .. } => "extend",
            StorageAction::Retype { .. } => "retype",
            StorageAction::Attach => "attach",
            StorageAction::Detach => "detach",
            StorageAction::Backup => "backup",
            StorageAction::Prune => "prune",
            StorageAction::Restore => "restore",
        }
    }
}

/// Why a change has its action (Terraform's `action_reason` values, plus blockform's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// An attribute that cannot change in place changed.
    ReplaceBecauseCannotUpdate,
    /// `--replace ADDR` asked for it.
    ReplaceByRequest,
    /// The volume's new type lives on another back end: its data does not move.
    ReplaceBecauseBackendChanged,
    /// The object is in state but no longer in the configuration.
    DeleteBecauseNoResourceConfig,
    /// The `count` no longer includes this index.
    DeleteBecauseCountIndex,
    /// The `for_each` no longer includes this key.
    DeleteBecauseEachKey,
    /// `destroy` / `--destroy`.
    DeleteBecauseDestroyMode,
    /// The object disappeared outside blockform and is created again.
    CreateBecauseMissing,
}

impl Reason {
    /// Terraform's JSON spelling (`replace_because_cannot_update`, …).
    pub fn terraform_name(self) -> &'static str {
        match self {
            Reason::ReplaceBecauseCannotUpdate | Reason::ReplaceBecauseBackendChanged => {
                "replace_because_cannot_update"
            }
            Reason::ReplaceByRequest => "replace_by_request",
            Reason::DeleteBecauseNoResourceConfig | Reason::DeleteBecauseDestroyMode => {
                "delete_because_no_resource_config"
            }
            Reason::DeleteBecauseCountIndex => "delete_because_count_index",
            Reason::DeleteBecauseEachKey => "delete_because_each_key",
            Reason::CreateBecauseMissing => "create_because_missing",
        }
    }
}

/// One resource instance's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The instance.
    #[serde(with = "address_text")]
    pub address: Address,
    /// What happens to it.
    pub action: Action,
    /// What it means for storage, when it is more than a plain create/update/delete.
    pub storage: Option<StorageAction>,
    /// Why it has this action.
    pub reason: Option<Reason>,
    /// Attributes before (from state); `None` for creates.
    pub before: Option<ValueMap>,
    /// Attributes after (from configuration; unknown where known only after apply); `None` for
    /// deletes, and for no-ops, whose values are `before` (see [`Change::planned`]).
    pub after: Option<ValueMap>,
    /// Attributes whose change forces the replacement.
    pub replace_paths: Vec<String>,
    /// Whether applying it destroys data (delete or replace of a volume, snapshot or backup).
    pub data_loss: bool,
    /// Things a person should know (for instance: grow the file system inside the guest).
    pub notes: Vec<String>,
    /// The provider (or backup store) block that carries it out.
    pub provider: Option<String>,
    /// The object's name in the back end: the existing one, or the one a create will use.
    pub backend_id: Option<String>,
    /// The resources this instance depends on (from configuration, or from state for deletes).
    #[serde(with = "address_list")]
    pub depends_on: Vec<Address>,
    /// For a replacement: the back-end name its create half gives the new object (`backend_id`
    /// stays the existing object's, which the delete half removes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement_id: Option<String>,
    /// For a replacement whose new object goes to another provider (a retype across back ends):
    /// the provider that holds the existing object (`provider` is the new object's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_provider: Option<String>,
}

impl Change {
    /// The attributes the object has after the change: `after`, or for a no-op (which keeps
    /// one copy of its values, to keep large plans small) `before`.
    pub fn planned(&self) -> Option<&ValueMap> {
        match (&self.after, self.action) {
            (Some(after), _) => Some(after),
            (None, Action::NoOp) => self.before.as_ref(),
            (None, _) => None,
        }
    }

    /// The back-end name the create half of this change uses: the replacement's new name, or
    /// `backend_id`.
    pub fn create_id(&self) -> Option<&str> {
        self.replacement_id.as_deref().or(self.backend_id.as_deref())
    }

    /// The provider that holds the existing object (what updates and deletes go to).
    pub fn existing_provider(&self) -> Option<&str> {
        self.prior_provider.as_deref().or(self.provider.as_deref())
    }

    /// Whether the change does anything.
    pub fn is_noop(&self) -> bool {
        self.action == Action::NoOp
    }
}

/// A resource whose real state differs from state: changed or deleted outside blockform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// The instance.
    #[serde(with = "address_text")]
    pub address: Address,
    /// Attributes as recorded in state.
    pub before: ValueMap,
    /// Attributes as they really are; `None` when the object is gone.
    pub after: Option<ValueMap>,
}

/// An output value's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputChange {
    /// The output's name.
    pub name: String,
    /// The value in state, if any.
    pub before: Option<Value>,
    /// The value after apply (`None` when the output is removed).
    pub after: Option<Value>,
    /// Whether it is hidden in output.
    pub sensitive: bool,
}

/// What kind of plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    /// Make reality match the configuration.
    #[default]
    Normal,
    /// Destroy everything in state.
    Destroy,
    /// Only update state to match reality.
    RefreshOnly,
}

/// A plan: every change, the drift found, and what it was made against.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Plan {
    /// Normal, destroy or refresh-only.
    pub mode: PlanMode,
    /// One change per resource instance in configuration or state, no-ops included, in
    /// dependency order.
    pub changes: Vec<Change>,
    /// Objects changed outside blockform.
    pub drift: Vec<Drift>,
    /// Output changes.
    pub outputs: Vec<OutputChange>,
    /// Warnings to show with the plan.
    pub warnings: Vec<String>,
    /// The state lineage the plan was made against.
    pub lineage: String,
    /// The state serial the plan was made against.
    pub serial: u64,
    /// A digest of the configuration files the plan was made from.
    pub config_digest: String,
    /// Variable values used.
    pub variables: IndexMap<String, Value>,
    /// `--target` addresses, if any.
    pub targets: Vec<String>,
    /// Existing objects that `import` blocks adopt: recorded in state when the plan is applied.
    #[serde(default)]
    pub imports: Vec<PlannedImport>,
}

/// An object an `import` block adopts, read from its back end at plan time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedImport {
    /// The `PROVIDER/OBJECT` ID.
    pub id: String,
    /// The state record that adopts it.
    pub record: crate::state::ResourceState,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Creates (replacements included).
    pub add: usize,
    /// In-place updates.
    pub change: usize,
    /// Deletes (replacements included).
    pub destroy: usize,
    /// Storage actions by verb, in a fixed order.
    pub storage: Vec<(&'static str, usize)>,
    /// Changes marked as data loss.
    pub data_loss: usize,
    /// Objects adopted by `import` blocks.
    pub import: usize,
}

impl Plan {
    /// The import ID of the object an `import` block adopts as `address`.
    pub fn import_id(&self, address: &Address) -> Option<&str> {
        let address = address.to_string();
        self.imports
            .iter()
            .find(|i| i.record.address == address)
            .map(|i| i.id.as_str())
    }

    /// Whether the plan changes anything (resources or outputs) — or, for refresh-only plans,
    /// whether it found drift.
    pub fn has_changes(&self) -> bool {
        match self.mode {
            PlanMode::RefreshOnly => !self.drift.is_empty(),
            _ => {
                !self.imports.is_empty()
                    || self.changes.iter().any(|c| !c.is_noop())
                    || self.outputs.iter().any(|o| o.before != o.after)
            }
        }
    }

    /// The counts of the summary line.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            import: self.imports.len(),
            ..Summary::default()
        };
        let mut storage: IndexMap<&'static str, usize> =
            ["extend", "retype", "attach", "detach", "backup", "prune", "restore"]
                .into_iter()
                .map(|v| (v, 0))
                .collect();
        for change in &self.changes {
            if change.action.creates() {
                summary.add += 1;
            }
            if change.action == Action::Update {
                summary.change += 1;
            }
            if change.action.destroys() {
                summary.destroy += 1;
            }
            if let Some(action) = &change.storage {
                *storage.entry(action.verb()).or_default() += 1;
            }
            if change.data_loss {
                summary.data_loss += 1;
            }
        }
        summary.storage = storage.into_iter().filter(|(_, n)| *n > 0).collect();
        summary
    }
}

/// Addresses are written as their text (`volume.scratch["a"]`).
mod address_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::model::Address;

    pub fn serialize<S: Serializer>(address: &Address, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(address)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        let text = String::deserialize(deserializer)?;
        Address::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a resource address")))
    }
}

mod address_list {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::model::Address;

    pub fn serialize<S: Serializer>(addresses: &[Address], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(addresses.iter().map(ToString::to_string))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Address>, D::Error> {
        let texts = Vec::<String>::deserialize(deserializer)?;
        texts
            .into_iter()
            .map(|t| {
                Address::parse(&t).ok_or_else(|| serde::de::Error::custom(format!("`{t}` is not a resource address")))
            })
            .collect()
    }
}
