//! The operations of a backup policy: recorded; each apply takes the backups that are due and
//! prunes, and a deleted policy takes its backups with it only when it says so (`on_destroy`).

use super::{Operation, Operations, Written};
use crate::apply::operation::OperationError;
use crate::config::value::{Value, ValueMap};
use crate::model::kinds::BackupPolicy;
use crate::plan::Change;
use crate::state::ResourceState;

impl Operations for BackupPolicy {
    // A policy is recorded; each apply takes the backups that are due and prunes.
    fn create(&self, op: &Operation<'_>, after: &ValueMap, _written: &mut Written) -> Result<(), OperationError> {
        crate::apply::backup::run_policy(op.backend_id, after, op.context)?;
        Ok(())
    }

    fn update(&self, op: &Operation<'_>, after: &ValueMap, written: &mut Written) -> Result<(), OperationError> {
        self.create(op, after, written)
    }

    fn delete(&self, op: &Operation<'_>) -> Result<(), OperationError> {
        let before = op.change.before.as_ref();
        // A policy's backups stay in its store unless it says otherwise (`on_destroy`).
        if crate::backup::lifecycle::deletes_its_backups(before) {
            crate::apply::backup::delete_policy_backups(op.backend_id, before, op.context)
        } else {
            Ok(())
        }
    }

    fn touched_volumes(
        &self,
        _change: &Change,
        values: Option<&ValueMap>,
        _by_id: &dyn Fn(&str) -> Option<ResourceState>,
    ) -> Vec<String> {
        let volumes = values.and_then(|v| v.get("volumes")).and_then(Value::as_list);
        volumes
            .into_iter()
            .flatten()
            .filter_map(|v| super::id(Some(v)))
            .collect()
    }
}
