//! The operations of a volume type: blockform's own record, not created anywhere.

use super::{Operation, Operations, Written};
use crate::apply::operation::OperationError;
use crate::config::value::ValueMap;
use crate::model::kinds::VolumeType;

impl Operations for VolumeType {
    // Types are blockform's own objects: recorded, not created anywhere.
    fn create(&self, _op: &Operation<'_>, _after: &ValueMap, _written: &mut Written) -> Result<(), OperationError> {
        Ok(())
    }

    fn update(&self, _op: &Operation<'_>, _after: &ValueMap, _written: &mut Written) -> Result<(), OperationError> {
        Ok(())
    }

    fn delete(&self, _op: &Operation<'_>) -> Result<(), OperationError> {
        Ok(())
    }
}
