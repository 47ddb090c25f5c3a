//! One operation of an apply, whatever the kind: the operations of the resource's kind
//! (`kinds`) do the provider calls for one change, and the state record that results is
//! written here. Blocking (providers run commands); the walker runs it off the async scheduler.

use super::kinds::{Operation, Written, operations};
pub use super::operation::{OperationContext, OperationError, object_id};
use crate::config::value::{Value, ValueMap};
use crate::model::{UNMANAGED_SNAPSHOTS, resource_schema};
use crate::plan::Change;
pub use crate::plan::Step;
use crate::state::ResourceState;

/// What an operation leaves in state.
#[derive(Debug)]
pub enum Outcome {
    /// The resource's new record.
    Put(ResourceState),
    /// The resource is gone.
    Removed,
}

/// Runs one operation.
pub fn execute(
    change: &Change,
    step: Step,
    after: Option<&ValueMap>,
    context: &OperationContext<'_>,
) -> Result<Outcome, OperationError> {
    let operations = operations(change.address.kind);
    let backend_id = object_id(change, step).to_owned();
    let op = Operation {
        change,
        step,
        backend_id: &backend_id,
        context,
    };
    if step == Step::Delete {
        operations.delete(&op)?;
        return Ok(Outcome::Removed);
    }
    let after =
        after.ok_or_else(|| OperationError::Precondition(format!("`{}` has no planned values", change.address)))?;
    let mut computed = ValueMap::default();
    computed.insert("id".into(), Value::String(backend_id.clone()));
    let mut written = Written {
        computed,
        status: "available".to_owned(),
    };
    if step == Step::Create {
        operations.create(&op, after, &mut written)?;
    } else {
        operations.update(&op, after, &mut written)?;
    }
    let Written { mut computed, status } = written;
    computed.insert("status".into(), Value::String(status.clone()));
    Ok(Outcome::Put(record(change, step, after, &computed, status)))
}

/// The state record of a resource after an operation.
pub fn record(change: &Change, step: Step, after: &ValueMap, computed: &ValueMap, status: String) -> ResourceState {
    let schema = resource_schema(change.address.kind);
    let mut attributes = serde_json::Map::new();
    for spec in schema.attrs {
        attributes.insert(
            spec.name.to_owned(),
            after.get(spec.name).map_or(serde_json::Value::Null, Value::to_json),
        );
    }
    for name in schema.computed {
        let value = computed
            .get(*name)
            .or_else(|| after.get(*name).filter(|v| !v.is_unknown()));
        attributes.insert(
            (*name).to_owned(),
            value.map_or(serde_json::Value::Null, Value::to_json),
        );
    }
    // What a refresh recorded about the object itself stays with it through an update.
    if step == Step::Update
        && let Some(unmanaged) = change.before.as_ref().and_then(|b| b.get(UNMANAGED_SNAPSHOTS))
    {
        attributes.insert(UNMANAGED_SNAPSHOTS.to_owned(), unmanaged.to_json());
    }
    ResourceState {
        address: change.address.to_string(),
        backend_id: object_id(change, step).to_owned(),
        provider: change.provider.clone(),
        attributes,
        dependencies: change.depends_on.iter().map(ToString::to_string).collect(),
        status,
    }
}
