//! The operations of an apply, one implementation per resource kind: what a create, an update
//! and a delete of an object of that kind call in its back end (or record only), and which
//! volumes such an operation reads or writes.
//!
//! These need providers and the apply's context, so they live here rather than with the pure
//! per-kind facts of [`crate::model::kinds`]; the same unit struct of a kind carries both.
//! `execute` and the walker ask [`operations`] and stay generic: a new kind is a new file here
//! and one line in [`operations`].

pub(crate) mod attachment;
mod backup;
mod backup_policy;
mod image;
mod qos;
mod snapshot;
mod volume;
mod volume_type;

use std::sync::Arc;

use blockform_provider::StorageProvider;

use super::operation::{OperationContext, OperationError, object_provider};
use crate::config::value::{Value, ValueMap};
use crate::model::ResourceKind;
use crate::model::kinds::{Attachment, Backup, BackupPolicy, Image, Qos, Snapshot, Volume, VolumeType};
use crate::plan::{Change, Step};
use crate::state::ResourceState;

/// One operation on one object: the change it comes from, its step, the back-end name it works
/// on and what it can look up while it runs.
#[derive(Clone, Copy)]
pub struct Operation<'a> {
    /// The planned change of the resource.
    pub change: &'a Change,
    /// Create, update or delete.
    pub step: Step,
    /// The back-end name of the object (see [`super::operation::object_id`]).
    pub backend_id: &'a str,
    /// Providers and state records.
    pub context: &'a OperationContext<'a>,
}

/// What a create or update leaves besides the configured values: the computed attributes
/// (`id` already in) and the object's status.
pub struct Written {
    /// Computed attributes by name.
    pub computed: ValueMap,
    /// The object's status (`available` unless the back end says otherwise).
    pub status: String,
}

/// What an apply does to an object of one kind.
pub trait Operations: Sync {
    /// Makes the object with the values `after`.
    fn create(&self, op: &Operation<'_>, after: &ValueMap, written: &mut Written) -> Result<(), OperationError>;

    /// Changes the object in place to the values `after`.
    fn update(&self, op: &Operation<'_>, after: &ValueMap, written: &mut Written) -> Result<(), OperationError>;

    /// Removes the object (its recorded values are the change's `before`).
    fn delete(&self, op: &Operation<'_>) -> Result<(), OperationError>;

    /// The back-end volumes an operation on an object with the values `values` reads or writes,
    /// beside its own; `by_id` looks up the records known so far.
    fn touched_volumes(
        &self,
        _change: &Change,
        _values: Option<&ValueMap>,
        _by_id: &dyn Fn(&str) -> Option<ResourceState>,
    ) -> Vec<String> {
        Vec::new()
    }
}

/// The operations of a kind: the one place that maps a kind to what an apply does with it.
pub fn operations(kind: ResourceKind) -> &'static dyn Operations {
    match kind {
        ResourceKind::Qos => &Qos,
        ResourceKind::VolumeType => &VolumeType,
        ResourceKind::Volume => &Volume,
        ResourceKind::Attachment => &Attachment,
        ResourceKind::Snapshot => &Snapshot,
        ResourceKind::Backup => &Backup,
        ResourceKind::BackupPolicy => &BackupPolicy,
        ResourceKind::Image => &Image,
    }
}

/// The live provider an operation goes to (see [`object_provider`]).
fn provider_for(
    change: &Change,
    step: Step,
    context: &OperationContext<'_>,
) -> Result<Arc<dyn StorageProvider>, OperationError> {
    let name = object_provider(change, step)
        .ok_or_else(|| OperationError::Precondition(format!("`{}` has no provider", change.address)))?;
    context
        .providers
        .get(name)
        .ok_or_else(|| OperationError::Precondition(context.providers.missing_reason(name)))
}

/// The volume an object lives on (a snapshot's, an image's), which its values must name.
fn volume_of(change: &Change, after: &ValueMap) -> Result<String, OperationError> {
    string(after, "volume").ok_or_else(|| OperationError::Precondition(format!("`{}` has no volume", change.address)))
}

fn string(attrs: &ValueMap, key: &str) -> Option<String> {
    attrs.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The id a reference holds, if it is known.
fn id(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Address;
    use crate::plan::Action;

    fn change(kind: ResourceKind, backend_id: Option<&str>, replacement_id: Option<&str>) -> Change {
        Change {
            address: Address::new(kind, "x"),
            action: Action::Update,
            storage: None,
            reason: None,
            before: None,
            after: None,
            replace_paths: Vec::new(),
            data_loss: false,
            notes: Vec::new(),
            provider: Some("dev".to_owned()),
            backend_id: backend_id.map(str::to_owned),
            depends_on: Vec::new(),
            replacement_id: replacement_id.map(str::to_owned),
            prior_provider: None,
        }
    }

    fn values(pairs: &[(&str, Value)]) -> ValueMap {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    fn snapshot_record(backend_id: &str, volume: &str) -> ResourceState {
        ResourceState {
            address: "snapshot.s".to_owned(),
            backend_id: backend_id.to_owned(),
            provider: Some("dev".to_owned()),
            attributes: [("volume".to_owned(), serde_json::json!(volume))].into_iter().collect(),
            dependencies: Vec::new(),
            status: "available".to_owned(),
        }
    }

    fn touched(kind: ResourceKind, change: &Change, values: &ValueMap) -> Vec<String> {
        let by_id = |id: &str| (id == "snapshot-1").then(|| snapshot_record("snapshot-1", "volume-src"));
        operations(kind).touched_volumes(change, Some(values), &by_id)
    }

    #[test]
    fn a_volume_touches_both_halves_of_its_replacement_and_the_volume_under_its_source() {
        let replaced = change(ResourceKind::Volume, Some("volume-old"), Some("volume-new"));
        let from_snapshot = values(&[(
            "source",
            Value::Map(values(&[("snapshot", Value::String("snapshot-1".into()))])),
        )]);
        assert_eq!(
            touched(ResourceKind::Volume, &replaced, &from_snapshot),
            ["volume-old", "volume-new", "volume-src"]
        );
        let clone = values(&[(
            "source",
            Value::Map(values(&[("volume", Value::String("volume-parent".into()))])),
        )]);
        let new = change(ResourceKind::Volume, None, None);
        assert_eq!(touched(ResourceKind::Volume, &new, &clone), ["volume-parent"]);
    }

    #[test]
    fn what_lives_in_a_volume_touches_it_and_records_touch_nothing() {
        let on_volume = values(&[("volume", Value::String("volume-a".into()))]);
        for kind in [ResourceKind::Snapshot, ResourceKind::Image, ResourceKind::Backup] {
            let change = change(kind, Some("own-id"), None);
            assert_eq!(touched(kind, &change, &on_volume), ["volume-a"], "{kind}");
        }
        let policy = values(&[(
            "volumes",
            Value::List(vec![Value::String("volume-a".into()), Value::String("volume-b".into())]),
        )]);
        let change_of_policy = change(ResourceKind::BackupPolicy, Some("policy-1"), None);
        assert_eq!(
            touched(ResourceKind::BackupPolicy, &change_of_policy, &policy),
            ["volume-a", "volume-b"]
        );
        for kind in [ResourceKind::Qos, ResourceKind::VolumeType, ResourceKind::Attachment] {
            let change = change(kind, Some("own-id"), None);
            assert!(touched(kind, &change, &on_volume).is_empty(), "{kind}");
        }
    }
}
