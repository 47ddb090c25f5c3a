//! The operations of an attachment: the volume's storage provider says where the disk is
//! (`connect`), the hypervisor named by `host` attaches it; a hypervisor this build does not
//! drive fails with why. Removing one forgets it (detaching needs the device, which state does
//! not record yet).

use super::{Operation, Operations, Written, string};
use crate::apply::operation::OperationError;
use crate::config::value::ValueMap;
use crate::model::kinds::Attachment;

impl Operations for Attachment {
    fn create(&self, op: &Operation<'_>, after: &ValueMap, written: &mut Written) -> Result<(), OperationError> {
        let Operation { change, context, .. } = *op;
        let host = change.provider.clone().unwrap_or_default();
        context
            .providers
            .hypervisor(&host)
            .map_err(OperationError::Precondition)?;
        let volume = string(after, "volume")
            .and_then(|id| (context.by_id)(&id))
            .ok_or_else(|| {
                OperationError::Precondition(format!("the volume of `{}` is not in state", change.address))
            })?;
        let spec = blockform_provider::AttachmentSpec {
            volume_backend_name: volume.backend_id.clone(),
            instance: string(after, "instance").unwrap_or_default(),
            host: host.clone(),
            device: string(after, "device"),
        };
        let storage = volume.provider.unwrap_or_default();
        context
            .providers
            .attach(&host, &storage, &spec)
            .map_err(|error| match error {
                crate::providers::AttachError::Provider(error) => OperationError::from(error),
                crate::providers::AttachError::Unavailable(why) => OperationError::Precondition(why),
            })?;
        "attached".clone_into(&mut written.status);
        Ok(())
    }

    fn update(&self, op: &Operation<'_>, after: &ValueMap, written: &mut Written) -> Result<(), OperationError> {
        self.create(op, after, written)
    }

    fn delete(&self, _op: &Operation<'_>) -> Result<(), OperationError> {
        Ok(())
    }
}
