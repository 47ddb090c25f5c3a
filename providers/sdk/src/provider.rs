//! The `StorageProvider` trait: everything the engine asks of a storage back end (volumes,
//! snapshots, images, data access, change markers, and the [`DiskSource`] a hypervisor opens a
//! volume through). Attaching is a [`Hypervisor`](crate::Hypervisor)'s job, not a storage
//! back end's.
//!
//! The trait is synchronous; the engine calls it from `tokio::task::spawn_blocking`, so an
//! implementation may block on back-end tools. It is object safe (`Box<dyn StorageProvider>`) and
//! every argument and result is a serde message, so a plugin transport can stand in later.
//!
//! Conventions every implementation follows:
//! - every backend name is checked with [`validate_backend_name`](crate::validate_backend_name)
//!   before it reaches a command;
//! - `refresh` and `inventory` list once per pool, volume group or directory, never per volume;
//! - creating an object whose name exists fails with `Conflict` (the engine refreshes first and
//!   adopts an object it recorded an intent for), deleting an object that is already gone
//!   succeeds, so a crashed apply can simply be run again;
//! - optional operations have default bodies returning `Unsupported`, and
//!   [`Capabilities`] says which ones a provider implements.

use serde::{Deserialize, Serialize};

use crate::capacity::Capacity;
use crate::config::ProviderKind;
use crate::data::{ReadTarget, VolumeReader, VolumeWriter};
use crate::disk::DiskSource;
use crate::error::{ProviderError, Result};
use crate::extents::{ChangeMarker, ChangedExtents};
use crate::image::{ExportedImage, ImageExportSpec};
use crate::inventory::InventoryItem;
use crate::qos::QosSpecs;
use crate::snapshot::{SnapshotSpec, SnapshotState};
use crate::volume::{VolumeProperties, VolumeSpec, VolumeState};

/// Which optional operations a provider implements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent feature flags, each answering one yes/no question"
)]
pub struct Capabilities {
    /// `create_snapshot`, `delete_snapshot` and volumes from snapshots.
    pub snapshots: bool,
    /// Volumes cloned from volumes.
    pub clones: bool,
    /// `changed_extents` tracks changes (rather than answering with the whole volume) and
    /// `create_change_marker` / `delete_change_marker` work.
    pub changed_extents: bool,
    /// `apply_qos` enforces back-end limits.
    pub qos_backend: bool,
    /// `export_image` and volumes from image files.
    pub images: bool,
}

/// A storage back end that blockform plans against and applies to.
pub trait StorageProvider: Send + Sync {
    /// The back end this provider drives.
    fn kind(&self) -> ProviderKind;

    /// The name of its `provider` block, which volume types name as their `backend`.
    fn name(&self) -> &str;

    /// The optional operations it implements.
    fn capabilities(&self) -> Capabilities;

    /// Observes the named volumes with one listing per pool, omitting those that do not exist.
    fn refresh(&self, backend_names: &[String]) -> Result<Vec<VolumeState>>;

    /// Lists every volume and snapshot in the provider's pool, volume group or directory.
    fn inventory(&self) -> Result<Vec<InventoryItem>>;

    /// Reports the space of the pool, volume group or directory.
    fn capacity(&self) -> Result<Capacity>;

    /// Creates a volume under `spec.backend_name`, filled from its source.
    fn create_volume(&self, spec: &VolumeSpec) -> Result<VolumeState>;

    /// Removes what an interrupted [`create_volume`](Self::create_volume) of `backend_name`
    /// may have left besides the volume itself (an image being built, a temporary snapshot
    /// of the volume it was cloned from). Recovery calls it when a create was interrupted and
    /// the volume does not exist, before the create is planned again under a new name; a
    /// finished volume and what it needs are left alone, and nothing to remove is success.
    ///
    /// The default does nothing, for providers whose create leaves no temporary object.
    fn discard_interrupted_create(&self, backend_name: &str) -> Result<()> {
        crate::validate_backend_name(backend_name)
    }

    /// Grows a volume to `new_size_gib`; the same size is a no-op, a smaller one `InvalidState`.
    fn extend_volume(&self, backend_name: &str, new_size_gib: u64) -> Result<VolumeState>;

    /// Replaces the name, description, bootable flag, tags and metadata recorded with a volume,
    /// and its volume type when `volume_type` is given (a retype; `None` keeps the recorded one).
    fn update_volume_metadata(
        &self,
        backend_name: &str,
        properties: &VolumeProperties,
        volume_type: Option<&str>,
    ) -> Result<VolumeState>;

    /// Deletes a detached volume without snapshots; a missing volume is success.
    fn delete_volume(&self, backend_name: &str) -> Result<()>;

    /// Opens a volume or snapshot for reading, for backups.
    fn open_reader(&self, target: &ReadTarget) -> Result<Box<dyn VolumeReader>>;

    /// Opens an existing, detached volume for writing, for restores.
    fn open_writer(&self, backend_name: &str) -> Result<Box<dyn VolumeWriter>>;

    /// Takes a snapshot under `spec.backend_name`.
    fn create_snapshot(&self, spec: &SnapshotSpec) -> Result<SnapshotState> {
        let _ = spec;
        Err(unsupported(self.kind(), self.name(), "create_snapshot"))
    }

    /// Deletes a snapshot, flattening dependent clones first; a missing snapshot is success.
    fn delete_snapshot(&self, volume_backend_name: &str, snapshot_backend_name: &str) -> Result<()> {
        let _ = (volume_backend_name, snapshot_backend_name);
        Err(unsupported(self.kind(), self.name(), "delete_snapshot"))
    }

    /// Sets a volume's back-end limits to exactly `specs` (empty removes them all).
    fn apply_qos(&self, backend_name: &str, specs: &QosSpecs) -> Result<()> {
        let _ = (backend_name, specs);
        Err(unsupported(self.kind(), self.name(), "apply_qos"))
    }

    /// Writes a volume's contents to an image file.
    fn export_image(&self, spec: &ImageExportSpec) -> Result<ExportedImage> {
        let _ = spec;
        Err(unsupported(self.kind(), self.name(), "export_image"))
    }

    /// The [`DiskSource`] [`connect`](Self::connect) will give for the volume
    /// `volume_backend_name`, from the provider's configuration alone (nothing is asked of the
    /// back end, and the volume need not exist yet), so that the plan refuses an attachment
    /// the hypervisor cannot make (a file of another machine, a kind of source it cannot name)
    /// before anything is made; `None` when only `connect` can tell.
    fn planned_disk(&self, volume_backend_name: &str) -> Option<DiskSource> {
        let _ = volume_backend_name;
        None
    }

    /// How a hypervisor on `host` opens the volume `volume_backend_name`, with credentials
    /// referenced rather than copied. A missing volume is `NotFound`.
    fn connect(&self, volume_backend_name: &str, host: &str) -> Result<DiskSource> {
        let _ = (volume_backend_name, host);
        Err(unsupported(self.kind(), self.name(), "connect"))
    }

    /// Starts tracking changes to a volume from now, under `marker_name`. A
    /// [`ChangeMarker::Snapshot`] must also be readable as `ReadTarget::snapshot`: a backup
    /// reads the volume as it was when its marker was made from it.
    fn create_change_marker(&self, backend_name: &str, marker_name: &str) -> Result<ChangeMarker> {
        let _ = (backend_name, marker_name);
        Err(unsupported(self.kind(), self.name(), "create_change_marker"))
    }

    /// Stops tracking changes from a marker; a missing marker is success.
    fn delete_change_marker(&self, backend_name: &str, marker: &ChangeMarker) -> Result<()> {
        let _ = (backend_name, marker);
        Err(unsupported(self.kind(), self.name(), "delete_change_marker"))
    }

    /// The change markers on a volume (those named with [`crate::CHANGE_MARKER_PREFIX`]), so
    /// recovery can remove the ones no backup refers to (left by a backup that was killed). A
    /// missing volume has none. The default lists none.
    fn change_markers(&self, backend_name: &str) -> Result<Vec<ChangeMarker>> {
        crate::validate_backend_name(backend_name)?;
        Ok(Vec::new())
    }

    /// Lists the ranges of `target` that may differ from `since` (or from zeros without it).
    ///
    /// The default answers with the whole volume and `ChangeSource::UNKNOWN`, which is always
    /// correct: the backup then hashes every block.
    fn changed_extents(&self, target: &ReadTarget, since: Option<&ChangeMarker>) -> Result<ChangedExtents> {
        let _ = since;
        let size_bytes = self.open_reader(target)?.size_bytes();
        Ok(ChangedExtents::whole_volume(size_bytes))
    }
}

fn unsupported(provider_kind: ProviderKind, provider_name: &str, operation: &str) -> ProviderError {
    ProviderError::Unsupported {
        provider_kind,
        provider_name: provider_name.to_owned(),
        operation: operation.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extents::ChangeSource;
    use crate::object::ObjectRef;

    /// Implements only the required methods, to exercise the trait's default bodies.
    struct RequiredOnly;

    /// A reader that reports a size and reads zeros.
    struct ZeroReader(u64);

    impl VolumeReader for ZeroReader {
        fn size_bytes(&self) -> u64 {
            self.0
        }

        fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
            crate::data::check_range(offset, buf.len() as u64, self.0)?;
            buf.fill(0);
            Ok(())
        }
    }

    impl StorageProvider for RequiredOnly {
        fn kind(&self) -> ProviderKind {
            ProviderKind::new("lvm")
        }

        fn name(&self) -> &'static str {
            "host1"
        }

        fn capabilities(&self) -> Capabilities {
            Capabilities::default()
        }

        fn refresh(&self, _backend_names: &[String]) -> Result<Vec<VolumeState>> {
            Ok(Vec::new())
        }

        fn inventory(&self) -> Result<Vec<InventoryItem>> {
            Ok(Vec::new())
        }

        fn capacity(&self) -> Result<Capacity> {
            Ok(Capacity {
                total_bytes: 0,
                free_bytes: 0,
                provisioned_bytes: 0,
                thin_provisioned: false,
            })
        }

        fn create_volume(&self, spec: &VolumeSpec) -> Result<VolumeState> {
            Err(ProviderError::fatal(format!("cannot create `{}`", spec.backend_name)))
        }

        fn extend_volume(&self, backend_name: &str, _new_size_gib: u64) -> Result<VolumeState> {
            Err(ProviderError::not_found(ObjectRef::volume(backend_name)))
        }

        fn update_volume_metadata(
            &self,
            backend_name: &str,
            _properties: &VolumeProperties,
            _volume_type: Option<&str>,
        ) -> Result<VolumeState> {
            Err(ProviderError::not_found(ObjectRef::volume(backend_name)))
        }

        fn delete_volume(&self, _backend_name: &str) -> Result<()> {
            Ok(())
        }

        fn open_reader(&self, target: &ReadTarget) -> Result<Box<dyn VolumeReader>> {
            match target.volume_backend_name.as_str() {
                "volume-1" => Ok(Box::new(ZeroReader(3 << 30))),
                other => Err(ProviderError::not_found(ObjectRef::volume(other))),
            }
        }

        fn open_writer(&self, backend_name: &str) -> Result<Box<dyn VolumeWriter>> {
            Err(ProviderError::not_found(ObjectRef::volume(backend_name)))
        }
    }

    fn assert_send_sync<T: Send + Sync + ?Sized>() {}

    #[test]
    fn providers_are_shareable_trait_objects() {
        assert_send_sync::<dyn StorageProvider>();
        let provider: Box<dyn StorageProvider> = Box::new(RequiredOnly);
        assert_eq!(provider.kind(), ProviderKind::new("lvm"));
        assert_eq!(provider.name(), "host1");
    }

    #[test]
    fn optional_operations_default_to_unsupported() {
        let provider: Box<dyn StorageProvider> = Box::new(RequiredOnly);
        let errors = [
            provider
                .create_snapshot(&SnapshotSpec {
                    backend_name: "snapshot-1".into(),
                    volume_backend_name: "volume-1".into(),
                    name: "s".into(),
                    description: None,
                })
                .unwrap_err(),
            provider.delete_snapshot("volume-1", "snapshot-1").unwrap_err(),
            provider.apply_qos("volume-1", &QosSpecs::default()).unwrap_err(),
            provider
                .export_image(&ImageExportSpec {
                    volume_backend_name: "volume-1".into(),
                    format: crate::image::ImageFormat::Raw,
                    destination: "/tmp/x.raw".into(),
                    snapshot_backend_name: None,
                })
                .unwrap_err(),
            provider.connect("volume-1", "kvm1").unwrap_err(),
            provider.create_change_marker("volume-1", "m").unwrap_err(),
            provider
                .delete_change_marker("volume-1", &ChangeMarker::DirtyBitmap { name: "m".into() })
                .unwrap_err(),
        ];
        let messages: Vec<_> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "provider `host1` (lvm) does not support `create_snapshot`",
                "provider `host1` (lvm) does not support `delete_snapshot`",
                "provider `host1` (lvm) does not support `apply_qos`",
                "provider `host1` (lvm) does not support `export_image`",
                "provider `host1` (lvm) does not support `connect`",
                "provider `host1` (lvm) does not support `create_change_marker`",
                "provider `host1` (lvm) does not support `delete_change_marker`",
            ]
        );
        assert!(errors.iter().all(|error| !error.is_retryable()));
    }

    #[test]
    fn changed_extents_defaults_to_hashing_the_whole_volume() {
        let provider: Box<dyn StorageProvider> = Box::new(RequiredOnly);
        let marker = ChangeMarker::Snapshot {
            backend_name: "backup-1".into(),
        };
        let changed = provider
            .changed_extents(&ReadTarget::volume("volume-1"), Some(&marker))
            .unwrap();
        assert_eq!(changed.source, ChangeSource::UNKNOWN);
        assert_eq!(changed, ChangedExtents::whole_volume(3 << 30));

        let missing = provider
            .changed_extents(&ReadTarget::volume("volume-2"), None)
            .unwrap_err();
        assert_eq!(missing.to_string(), "volume `volume-2` not found");
    }

    #[test]
    fn capabilities_round_trip_through_json() {
        let capabilities = Capabilities {
            snapshots: true,
            clones: true,
            changed_extents: true,
            qos_backend: true,
            images: false,
        };
        let json = serde_json::to_string(&capabilities).unwrap();
        assert_eq!(
            json,
            r#"{"snapshots":true,"clones":true,"changed_extents":true,"qos_backend":true,"images":false}"#
        );
        assert_eq!(serde_json::from_str::<Capabilities>(&json).unwrap(), capabilities);
    }
}
