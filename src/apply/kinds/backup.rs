//! The operations of a backup: taken once into its store when made; its name and description
//! are kept in state only; deleted from its store (see `crate::apply::backup`).

use super::{Operation, Operations, Written, id};
use crate::apply::operation::OperationError;
use crate::config::value::ValueMap;
use crate::model::kinds::Backup;
use crate::plan::Change;
use crate::state::ResourceState;

impl Operations for Backup {
    fn create(&self, op: &Operation<'_>, after: &ValueMap, written: &mut Written) -> Result<(), OperationError> {
        let manifest = crate::apply::backup::take(op.backend_id, after, op.context)?;
        crate::apply::backup::computed(&manifest, &mut written.computed);
        Ok(())
    }

    // Name and description of a backup are kept in state only.
    fn update(&self, _op: &Operation<'_>, _after: &ValueMap, _written: &mut Written) -> Result<(), OperationError> {
        Ok(())
    }

    fn delete(&self, op: &Operation<'_>) -> Result<(), OperationError> {
        crate::apply::backup::delete(op.backend_id, op.change.before.as_ref(), op.context)
    }

    fn touched_volumes(
        &self,
        _change: &Change,
        values: Option<&ValueMap>,
        _by_id: &dyn Fn(&str) -> Option<ResourceState>,
    ) -> Vec<String> {
        id(values.and_then(|v| v.get("volume"))).into_iter().collect()
    }
}
