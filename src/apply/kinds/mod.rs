//! The operations of an apply, one implementation per resource kind: what a create, an update
//! and a delete of an object of that kind call in its back end (or record only), and which
//! volumes such an operation reads or writes.
//!
//! These need providers and the apply's context, so they live here rather than with the pure
//! per-kind facts of [`crate::model::kinds`]; the same unit struct of a kind carries both.
//! `execute` and the walker ask [`operations`] and stay generic: a new kind is a new file here
//! and one line in [`operations`].

mod attachment;
mod backup;
mod backup_policy;
mod image;
mod qos;
mod snapshot;
mod volume;
mod volume_type;

use std::sync::Arc;

use blockform_provider::Provider;

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
) -> Result<Arc<dyn Provider>, OperationError> {
    let name = object_provider(change, step)
        .ok_or_else(|| OperationError::Precondition(format!("`{}` has no provider", change.address)))?;
    context
        .providers
        .get(name)
        .ok_or_else(|| OperationError::Precondition(context.providers.missing_reason(name)))
}

fn string(attrs: &ValueMap, key: &str) -> Option<String> {
    attrs.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The id a reference holds, if it is known.
fn id(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_owned)
}
