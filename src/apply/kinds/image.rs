//! The operations of an image: a file exported from its volume into the configuration
//! directory (`.blockform/images/`), removed on delete.

use blockform_provider::{ImageExportSpec, ImageFormat};

use super::{Operation, Operations, Written, id, provider_for, string, volume_of};
use crate::apply::operation::OperationError;
use crate::config::value::{Value, ValueMap};
use crate::model::kinds::Image;
use crate::plan::Change;
use crate::state::ResourceState;

impl Operations for Image {
    fn create(&self, op: &Operation<'_>, after: &ValueMap, written: &mut Written) -> Result<(), OperationError> {
        let Operation {
            change,
            step,
            backend_id,
            context,
        } = *op;
        let provider = provider_for(change, step, context)?;
        let volume = volume_of(change, after)?;
        let format = if string(after, "format").as_deref() == Some("qcow2") {
            ImageFormat::Qcow2
        } else {
            ImageFormat::Raw
        };
        let extension = if format == ImageFormat::Qcow2 { "qcow2" } else { "raw" };
        let destination = context
            .dir
            .join(".blockform")
            .join("images")
            .join(format!("{backend_id}.{extension}"));
        if let Some(parent) = destination.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| OperationError::Precondition(format!("cannot create `{}`: {e}", parent.display())))?;
        }
        // A qcow2 file a running domain holds is read from an internal snapshot its QEMU takes
        // for the purpose (one point in time, not a torn read of a file being written), named
        // as a change marker so that recovery removes it should this run be killed.
        let holder = super::attachment::file_holder(provider.as_ref(), &volume, context)?;
        let frozen = format!("{}{backend_id}", blockform_provider::CHANGE_MARKER_PREFIX);
        if let Some(holder) = &holder {
            holder.take_snapshot(&frozen)?;
        }
        let exported = provider.export_image(&ImageExportSpec {
            volume_backend_name: volume,
            format,
            destination,
            snapshot_backend_name: holder.is_some().then(|| frozen.clone()),
        });
        if let Some(holder) = &holder
            && let Err(error) = holder.drop_snapshot(&frozen)
        {
            // Not recorded, so not left either.
            if let Ok(exported) = &exported {
                let _ = std::fs::remove_file(&exported.path);
            }
            return Err(error.into());
        }
        let exported = exported?;
        written
            .computed
            .insert("path".into(), Value::String(exported.path.display().to_string()));
        // In GiB, rounded up, as every other size blockform shows.
        #[allow(clippy::cast_precision_loss)]
        written.computed.insert(
            "size".into(),
            Value::Number(exported.file_size_bytes.div_ceil(blockform_provider::GIB) as f64),
        );
        Ok(())
    }

    // The file is exported again with the new values.
    fn update(&self, op: &Operation<'_>, after: &ValueMap, written: &mut Written) -> Result<(), OperationError> {
        self.create(op, after, written)
    }

    fn delete(&self, op: &Operation<'_>) -> Result<(), OperationError> {
        let before = op.change.before.as_ref();
        if let Some(path) = before.and_then(|b| string(b, "path")) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(OperationError::Precondition(format!(
                        "cannot delete the image `{path}`: {e}"
                    )));
                }
            }
        }
        Ok(())
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
