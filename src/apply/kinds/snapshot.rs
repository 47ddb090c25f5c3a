//! The operations of a snapshot: taken in its volume's back end (a qcow2 file that a running
//! domain holds open: through that domain's QEMU); its name, description and metadata are kept
//! in state only.

use blockform_provider::SnapshotSpec;

use super::{Operation, Operations, Written, id, provider_for, string, volume_of};
use crate::apply::operation::OperationError;
use crate::config::value::{Value, ValueMap};
use crate::model::kinds::Snapshot;
use crate::plan::{Change, Step};
use crate::state::ResourceState;

impl Operations for Snapshot {
    fn create(&self, op: &Operation<'_>, after: &ValueMap, written: &mut Written) -> Result<(), OperationError> {
        let Operation {
            change,
            step,
            backend_id,
            context,
        } = *op;
        let provider = provider_for(change, step, context)?;
        let volume = volume_of(change, after)?;
        let spec = SnapshotSpec {
            backend_name: backend_id.to_owned(),
            volume_backend_name: volume.clone(),
            name: string(after, "name").unwrap_or_default(),
            description: string(after, "description"),
        };
        // A qcow2 file a running domain holds is snapshotted by its QEMU (which locks the
        // image); the provider then finds the snapshot and reads it back.
        if let Some(holder) = super::attachment::file_holder(provider.as_ref(), &volume, context)? {
            holder
                .hypervisor
                .create_disk_snapshot(&holder.instance, &holder.device, backend_id)?;
        }
        let state = provider.create_snapshot(&spec)?;
        #[allow(clippy::cast_precision_loss)]
        written.computed.insert(
            "size".into(),
            Value::Number(state.size_bytes.div_ceil(blockform_provider::GIB) as f64),
        );
        written.computed.insert(
            "created_at".into(),
            Value::String(crate::model::timestamp(state.created_at_unix_secs)),
        );
        written.status = state.status.to_string();
        Ok(())
    }

    fn update(&self, op: &Operation<'_>, after: &ValueMap, _written: &mut Written) -> Result<(), OperationError> {
        let Operation {
            change, step, context, ..
        } = *op;
        // The provider and the volume must still be there, although nothing is asked of them:
        // name, description and metadata of a snapshot are kept in state only.
        provider_for(change, step, context)?;
        volume_of(change, after)?;
        Ok(())
    }

    fn delete(&self, op: &Operation<'_>) -> Result<(), OperationError> {
        let before = op.change.before.as_ref();
        let volume = before.and_then(|b| string(b, "volume")).unwrap_or_default();
        let provider = provider_for(op.change, Step::Delete, op.context)?;
        // A detach running beside this delete may take the disk away first: the file is then
        // free for the provider.
        if let Some(holder) = super::attachment::file_holder(provider.as_ref(), &volume, op.context)? {
            let _ = holder
                .hypervisor
                .delete_disk_snapshot(&holder.instance, &holder.device, op.backend_id);
        }
        Ok(provider.delete_snapshot(&volume, op.backend_id)?)
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
