//! The operations of an attachment: no provider attaches a volume to a guest yet, so making
//! one fails with why, and removing one forgets it.

use super::{Operation, Operations, Written};
use crate::apply::operation::OperationError;
use crate::config::value::ValueMap;
use crate::model::kinds::Attachment;

impl Operations for Attachment {
    fn create(&self, op: &Operation<'_>, _after: &ValueMap, _written: &mut Written) -> Result<(), OperationError> {
        let Operation { change, context, .. } = *op;
        let host = change.provider.clone().unwrap_or_default();
        Err(OperationError::Precondition(context.providers.missing_reason(&host)))
    }

    fn update(&self, op: &Operation<'_>, after: &ValueMap, written: &mut Written) -> Result<(), OperationError> {
        self.create(op, after, written)
    }

    fn delete(&self, _op: &Operation<'_>) -> Result<(), OperationError> {
        Ok(())
    }
}
