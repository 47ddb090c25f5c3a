//! `LocalProvider`: the `StorageProvider` implementation over a directory of qcow2 files.
//!
//! Changes go through `qemu-img` (create, convert, resize, snapshot, bitmap); observation reads
//! the qcow2 headers and sidecars directly, one directory listing per call; data moves through
//! `qemu-nbd`. Volumes are independent files: a volume made from a snapshot or another volume is
//! a full copy, so deleting the source never needs a flatten.
//!
//! Crash safety of `create_volume`: the sidecar (with the ownership marker) is written first,
//! the image is built under a hidden partial name and linked into place only when complete.
//! Running the same create again therefore finds either nothing, a sidecar and a leftover
//! partial file (both replaced), or the finished volume, which it adopts.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use blockform_provider::{
    Capabilities, Capacity, ChangeMarker, ChangedExtents, CommandRunner, DiskSource, ExportedImage, Extent, GIB,
    ImageExportSpec, ImageFormat, InventoryItem, ObjectKind, ObjectRef, ProviderConfig, ProviderError, ProviderKind,
    ReadTarget, Result, SnapshotSpec, SnapshotState, SnapshotStatus, StorageProvider, ValidOn, VolumeProperties,
    VolumeReader, VolumeSource, VolumeSpec, VolumeState, VolumeStatus, VolumeWriter, is_change_marker,
    validate_backend_name,
};

use blockform_provider::toolkit::{OWNER, adopt_or_conflict, conflict, invalid_state, io_failure, size_text};

use crate::capacity::{self, CapacityShortfall};
use crate::config::{CapacityCheck, ConfigError, LocalConfig};
use crate::directory::{self, DirectorySync, VOLUME_PREFIX, VolumeDirectory};
use crate::export::{Export, ExportRequest, NbdReader, NbdWriter};
use crate::fault;
use crate::inspect::{self, ImageInfo, InspectError};
use crate::nbd::{STATE_DIRTY, STATE_ZERO};
use crate::qcow2::{Header, Snapshot};
use crate::qemu::{ConvertSource, METADATA_TIMEOUT, QemuImg};
use crate::sidecar::{self, Sidecar, SidecarError};

/// Volumes larger than this cannot be turned into images (SPEC: image from a volume).
pub const MAX_IMAGE_EXPORT_BYTES: u64 = 300 * GIB;

/// The embedded default provider: qcow2 files in a directory.
#[derive(Debug)]
pub struct LocalProvider {
    name: String,
    config: LocalConfig,
    directory: VolumeDirectory,
    directory_sync: DirectorySync,
    runner: CommandRunner,
    qemu_img: QemuImg,
}

impl LocalProvider {
    /// A provider named `name` over `config.path`. A missing directory is created by the first
    /// volume made in it, not before: planning writes nothing.
    pub fn new(name: impl Into<String>, config: LocalConfig) -> Result<Self, ConfigError> {
        let name = name.into();
        config.validate(&name)?;
        let directory_error = |source: io::Error| ConfigError::Directory {
            provider: name.clone(),
            path: config.path.clone(),
            source,
        };
        // Absolute and free of symlinks: QEMU tools then never read a path as an option or a
        // `protocol:` prefix, and every message names the real place.
        let root = canonical_even_if_missing(&config.path).map_err(directory_error)?;
        if root.to_str().is_none() {
            return Err(ConfigError::PathNotUtf8 {
                provider: name,
                path: root,
            });
        }
        let runner = CommandRunner::local();
        Ok(Self {
            name,
            config,
            directory: VolumeDirectory::new(root),
            directory_sync: DirectorySync::default(),
            qemu_img: QemuImg::new(runner.clone()),
            runner,
        })
    }

    /// A provider from an evaluated `provider "local" "NAME" { ... }` block.
    pub fn from_config(config: &ProviderConfig) -> Result<Self, ConfigError> {
        let local = LocalConfig::from_provider_config(config)?;
        Self::new(config.name.clone(), local)
    }

    /// The settings it was built from.
    pub fn config(&self) -> &LocalConfig {
        &self.config
    }

    /// The directory holding the volumes, absolute and canonical.
    pub fn directory(&self) -> &Path {
        self.directory.root()
    }

    /// The file of volume `backend_name` (which need not exist).
    pub fn image_path(&self, backend_name: &str) -> Result<PathBuf> {
        validate_backend_name(backend_name)?;
        Ok(self.directory.image(backend_name))
    }

    /// Whether `requested_bytes` more would fit under the configured oversubscription, for the
    /// engine to warn about when `capacity_check = "warn"`.
    pub fn check_capacity(&self, requested_bytes: u64) -> Result<Result<(), CapacityShortfall>> {
        let capacity = self.capacity()?;
        Ok(capacity::check(capacity, requested_bytes, self.config.oversubscription))
    }

    /// Refuses `requested_bytes` that do not fit when `capacity_check = "error"`.
    fn enforce_capacity(&self, object: &ObjectRef, requested_bytes: u64) -> Result<()> {
        if self.config.capacity_check != CapacityCheck::Error {
            return Ok(());
        }
        self.check_capacity(requested_bytes)?
            .map_err(|shortfall| ProviderError::InvalidState {
                object: object.clone(),
                reason: format!(
                    "{shortfall} in `{}` (capacity_check = \"error\")",
                    self.directory.root().display()
                ),
                command: None,
            })
    }

    /// Lists the directory once.
    fn list(&self) -> Result<directory::Listing> {
        self.directory
            .list()
            .map_err(|error| io_failure(&format!("list `{}`", self.directory.root().display()), &error))
    }

    /// Reads a volume's image; a missing file is `NotFound`.
    fn inspect_volume(&self, name: &str) -> Result<ImageInfo> {
        inspect::inspect(&self.directory.image(name)).map_err(|error| inspect_failure(&error, name))
    }

    fn read_sidecar(&self, name: &str) -> Result<Option<Sidecar>> {
        sidecar::read(&self.directory.sidecar(name)).map_err(|error| sidecar_failure(&error))
    }

    /// Replaces a sidecar, durably.
    fn write_sidecar(&self, name: &str, sidecar: &Sidecar) -> Result<()> {
        let path = self.directory.sidecar(name);
        sidecar::write(&path, &self.directory.partial_sidecar(name), sidecar)
            .map_err(|error| io_failure(&format!("write `{}`", path.display()), &error))?;
        self.sync_directory()
    }

    /// Makes the directory's entries durable (shared with parallel callers).
    fn sync_directory(&self) -> Result<()> {
        let root = self.directory.root();
        self.directory_sync
            .sync(root)
            .map_err(|error| io_failure(&format!("sync `{}`", root.display()), &error))
    }

    /// Moves a finished image from its partial name into place, never replacing a file that is
    /// there: one atomic rename where the file system supports `RENAME_NOREPLACE`, so no crash
    /// leaves both names; a hard link and an unlink elsewhere.
    fn move_into_place(&self, partial: &Path, image: &Path, object: &ObjectRef) -> Result<()> {
        let appeared = || {
            conflict(
                object,
                format!("`{}` appeared while it was being created", image.display()),
            )
        };
        let root = self.directory.root();
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            partial,
            rustix::fs::CWD,
            image,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::EXIST) => return Err(appeared()),
            // The file system has no RENAME_NOREPLACE.
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS | rustix::io::Errno::OPNOTSUPP) => {}
            Err(error) => {
                return Err(io_failure(
                    &format!("move `{}` into place in `{}`", image.display(), root.display()),
                    &io::Error::from(error),
                ));
            }
        }
        fs::hard_link(partial, image).map_err(|error| {
            if error.kind() == io::ErrorKind::AlreadyExists {
                appeared()
            } else {
                io_failure(&format!("link `{}` into place", image.display()), &error)
            }
        })?;
        directory::remove_if_exists(partial)
            .map(drop)
            .map_err(|error| io_failure(&format!("remove `{}`", partial.display()), &error))
    }

    /// Removes every file of volume `name` but its image: the partial image, the sidecar and
    /// its temporary file; returns the names of the files removed.
    fn remove_leftovers(&self, name: &str, with_sidecar: bool) -> Result<Vec<String>> {
        let mut paths = vec![self.directory.partial_image(name), self.directory.partial_sidecar(name)];
        if with_sidecar {
            paths.push(self.directory.sidecar(name));
        }
        let mut removed = Vec::new();
        for path in paths {
            if directory::remove_if_exists(&path)
                .map_err(|error| io_failure(&format!("remove `{}`", path.display()), &error))?
            {
                removed.push(
                    path.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                );
            }
        }
        if !removed.is_empty() {
            self.sync_directory()?;
        }
        Ok(removed)
    }

    /// The state of a volume whose image was just inspected.
    fn observed(&self, name: &str, info: &ImageInfo) -> Result<VolumeState> {
        let sidecar = self.read_sidecar(name)?;
        Ok(volume_state(name, info, sidecar.as_ref()))
    }

    /// Returns the finished volume of an earlier attempt at the same create, if there is one.
    fn adopt(&self, spec: &VolumeSpec, size_bytes: u64, object: &ObjectRef) -> Result<Option<VolumeState>> {
        let name = spec.backend_name.as_str();
        let image = self.directory.image(name);
        match fs::symlink_metadata(&image) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_failure(&format!("read `{}`", image.display()), &error)),
            Ok(metadata) if !metadata.is_file() => {
                return Err(conflict(object, format!("`{}` is not a regular file", image.display())));
            }
            Ok(_) => {}
        }
        let sidecar = self.read_sidecar(name)?;
        let info = adopt_or_conflict(
            object,
            sidecar.as_ref(),
            || {
                format!(
                    "`{}` exists but is not managed by blockform (no sidecar with `\"managed_by\": \"{}\"`)",
                    image.display(),
                    OWNER
                )
            },
            || self.inspect_volume(name),
            |info| info.header.size_bytes,
            size_bytes,
        )?;
        let wanted = Sidecar::owned(spec.properties.clone(), Some(spec.volume_type.clone()));
        if sidecar.as_ref() != Some(&wanted) {
            self.write_sidecar(name, &wanted)?;
        }
        Ok(Some(volume_state(name, &info, Some(&wanted))))
    }

    /// Checks a new volume's source and finds its size, before anything is written.
    fn prepare_source(&self, source: &VolumeSource, name: &str) -> Result<PreparedSource> {
        match source {
            VolumeSource::Empty => Ok(PreparedSource {
                copy_from: None,
                size_bytes: 0,
            }),
            VolumeSource::Snapshot {
                volume_backend_name,
                snapshot_backend_name,
            } => {
                validate_backend_name(volume_backend_name)?;
                validate_snapshot_name(snapshot_backend_name)?;
                let info = self.inspect_volume(volume_backend_name)?;
                let snapshot = find_snapshot(&info, snapshot_backend_name)
                    .ok_or_else(|| ProviderError::not_found(ObjectRef::snapshot(snapshot_backend_name)))?;
                Ok(PreparedSource {
                    size_bytes: snapshot_size(snapshot, &info.header),
                    copy_from: Some(CopyFrom {
                        path: self.directory.image(volume_backend_name),
                        format: ImageFormat::Qcow2,
                        snapshot: Some(snapshot_backend_name.clone()),
                    }),
                })
            }
            VolumeSource::Volume { backend_name } => {
                validate_backend_name(backend_name)?;
                if backend_name == name {
                    return Err(invalid_state(
                        &ObjectRef::volume(name),
                        "a volume cannot be cloned from itself".to_owned(),
                    ));
                }
                let info = self.inspect_volume(backend_name)?;
                Ok(PreparedSource {
                    size_bytes: info.header.size_bytes,
                    copy_from: Some(CopyFrom {
                        path: self.directory.image(backend_name),
                        format: ImageFormat::Qcow2,
                        snapshot: None,
                    }),
                })
            }
            VolumeSource::ImageFile { path, format } => {
                let path = std::path::absolute(path)
                    .map_err(|error| io_failure(&format!("resolve `{}`", path.display()), &error))?;
                let image = ObjectRef::new(ObjectKind::Image, path.display().to_string());
                match fs::metadata(&path) {
                    Ok(metadata) if metadata.is_file() => {}
                    Ok(_) => return Err(invalid_state(&image, "it is not a regular file".to_owned())),
                    Err(error) if error.kind() == io::ErrorKind::NotFound => {
                        return Err(ProviderError::not_found(image));
                    }
                    Err(error) => return Err(io_failure(&format!("read `{}`", path.display()), &error)),
                }
                let size_bytes = self.qemu_img.virtual_size(utf8(&path)?, *format, &image)?;
                Ok(PreparedSource {
                    size_bytes,
                    copy_from: Some(CopyFrom {
                        path,
                        format: *format,
                        snapshot: None,
                    }),
                })
            }
        }
    }

    /// Writes the new image at `partial`.
    fn build_image(&self, source: &PreparedSource, partial: &Path, size_bytes: u64, object: &ObjectRef) -> Result<()> {
        let partial = utf8(partial)?;
        let Some(copy_from) = &source.copy_from else {
            return self.qemu_img.create(partial, size_bytes, object);
        };
        let convert_source = ConvertSource {
            path: utf8(&copy_from.path)?,
            format: copy_from.format,
            snapshot: copy_from.snapshot.as_deref(),
        };
        self.qemu_img
            .convert(convert_source, ImageFormat::Qcow2, partial, object)?;
        if source.size_bytes < size_bytes {
            self.qemu_img.resize(partial, size_bytes, object)?;
        }
        Ok(())
    }

    /// Serves a volume or snapshot read-only and returns the ranges whose `meta_context` flags
    /// satisfy `flag_set`.
    fn status_map(
        &self,
        target: &ReadTarget,
        bitmap: Option<&str>,
        meta_context: &str,
        flag_set: impl Fn(u32) -> bool,
    ) -> Result<Vec<Extent>> {
        let image = self.directory.image(&target.volume_backend_name);
        let request = ExportRequest {
            image: utf8(&image)?,
            writable: false,
            snapshot: target.snapshot_backend_name.as_deref(),
            bitmap,
            meta_context: Some(meta_context),
        };
        let mut export = Export::start(&self.runner, request, &ObjectRef::volume(&target.volume_backend_name))?;
        let map = export.block_status_map()?;
        export.close()?;
        Ok(map
            .into_iter()
            .filter(|(_, descriptor)| flag_set(descriptor.flags))
            .map(|(offset, descriptor)| Extent {
                offset,
                length: descriptor.length,
            })
            .collect())
    }
}

/// Where a new volume's data is copied from.
#[derive(Debug)]
struct CopyFrom {
    path: PathBuf,
    format: ImageFormat,
    snapshot: Option<String>,
}

/// A checked source and its size.
#[derive(Debug)]
struct PreparedSource {
    copy_from: Option<CopyFrom>,
    size_bytes: u64,
}

impl StorageProvider for LocalProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::new(crate::config::KIND)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            snapshots: true,
            clones: true,
            changed_extents: true,
            qos_backend: false,
            images: true,
        }
    }

    fn refresh(&self, backend_names: &[String]) -> Result<Vec<VolumeState>> {
        for name in backend_names {
            validate_backend_name(name)?;
        }
        let listing = self.list()?;
        let images: std::collections::HashSet<&str> = listing.images.iter().map(String::as_str).collect();
        let mut states = Vec::with_capacity(backend_names.len());
        for name in backend_names {
            if !images.contains(name.as_str()) {
                continue;
            }
            let info = match inspect::inspect(&self.directory.image(name)) {
                Ok(info) => info,
                // Deleted since the listing: gone, like any volume that was not listed.
                Err(error) if error.is_not_found() => continue,
                Err(error) => return Err(inspect_failure(&error, name)),
            };
            let sidecar = if listing.sidecars.contains(name) {
                self.read_sidecar(name)?
            } else {
                None
            };
            states.push(volume_state(name, &info, sidecar.as_ref()));
        }
        Ok(states)
    }

    fn inventory(&self) -> Result<Vec<InventoryItem>> {
        let listing = self.list()?;
        let mut items = Vec::new();
        for name in listing.images.iter().filter(|name| name.starts_with(VOLUME_PREFIX)) {
            // A sidecar that cannot be read carries no marker that can be trusted.
            let owned = listing.sidecars.contains(name)
                && sidecar::read(&self.directory.sidecar(name))
                    .is_ok_and(|sidecar| sidecar.is_some_and(|s| s.is_owned()));
            let path = self.directory.image(name);
            match inspect::inspect(&path) {
                Ok(info) => {
                    items.push(InventoryItem {
                        backend_name: name.clone(),
                        kind: ObjectKind::Volume,
                        volume_backend_name: None,
                        size_bytes: info.header.size_bytes,
                        owned,
                    });
                    let snapshots = info.snapshots.iter().filter(|s| !is_change_marker(&s.name));
                    items.extend(snapshots.map(|snapshot| InventoryItem {
                        backend_name: snapshot.name.clone(),
                        kind: ObjectKind::Snapshot,
                        volume_backend_name: Some(name.clone()),
                        size_bytes: snapshot_size(snapshot, &info.header),
                        owned: owned && snapshot.name.starts_with("snapshot-"),
                    }));
                }
                Err(error) if error.is_not_found() => {}
                // Not a readable qcow2 file, but drift should still see it.
                Err(_) => items.push(InventoryItem {
                    backend_name: name.clone(),
                    kind: ObjectKind::Other,
                    volume_backend_name: None,
                    size_bytes: fs::metadata(&path).map_or(0, |metadata| metadata.len()),
                    owned,
                }),
            }
        }
        // What interrupted creates, updates and deletes left: named by file, with the volume
        // they belong to, so drift lists those of volumes no state or pending operation owns.
        let leftover = |file_name: String, volume: &str, owned: bool| InventoryItem {
            size_bytes: fs::metadata(self.directory.root().join(&file_name)).map_or(0, |metadata| metadata.len()),
            backend_name: file_name,
            kind: ObjectKind::Other,
            volume_backend_name: Some(volume.to_owned()),
            owned,
        };
        for (file_name, volume) in &listing.partials {
            // Only blockform writes files under these hidden names.
            items.push(leftover(file_name.clone(), volume, true));
        }
        for volume in listing.orphan_sidecars() {
            if !volume.starts_with(VOLUME_PREFIX) {
                continue;
            }
            let owned = sidecar::read(&self.directory.sidecar(volume)).is_ok_and(|s| s.is_some_and(|s| s.is_owned()));
            items.push(leftover(format!("{volume}.json"), volume, owned));
        }
        Ok(items)
    }

    fn capacity(&self) -> Result<Capacity> {
        // A directory not made yet has the space of the file system it will be made on.
        let existing = self
            .directory
            .root()
            .ancestors()
            .find(|dir| dir.exists())
            .unwrap_or(self.directory.root());
        let root = utf8(existing)?;
        let output = self
            .runner
            .clone()
            .with_timeout(METADATA_TIMEOUT)
            .run(&capacity::df_argv(root))?;
        let (free_bytes, total_bytes) = capacity::parse_df(&output.stdout).map_err(ProviderError::fatal)?;
        let listing = self.list()?;
        let provisioned_bytes = listing
            .images
            .iter()
            .filter_map(|name| inspect::inspect(&self.directory.image(name)).ok())
            .map(|info| info.header.size_bytes)
            .fold(0_u64, u64::saturating_add);
        Ok(Capacity {
            total_bytes,
            free_bytes,
            provisioned_bytes,
            thin_provisioned: true,
        })
    }

    fn create_volume(&self, spec: &VolumeSpec) -> Result<VolumeState> {
        let name = spec.backend_name.as_str();
        validate_backend_name(name)?;
        let object = ObjectRef::volume(name);
        let size_bytes = spec
            .size_gib
            .checked_mul(GIB)
            .filter(|&bytes| bytes > 0)
            .ok_or_else(|| invalid_state(&object, format!("a volume of {} GiB cannot be created", spec.size_gib)))?;
        if let Some(state) = self.adopt(spec, size_bytes, &object)? {
            return Ok(state);
        }
        let source = self.prepare_source(&spec.source, name)?;
        if source.size_bytes > size_bytes {
            return Err(invalid_state(
                &object,
                format!(
                    "its source holds {}, more than the requested {}",
                    size_text(source.size_bytes),
                    size_text(size_bytes)
                ),
            ));
        }
        self.enforce_capacity(&object, size_bytes)?;
        let root = self.directory.root();
        fs::create_dir_all(root).map_err(|error| io_failure(&format!("create `{}`", root.display()), &error))?;

        // Ownership first: the sidecar is renamed into place before the image. Both entries
        // are made durable by one directory sync (shared with parallel creates) before this
        // returns, so before the engine records the volume. Should a power loss keep the
        // image's entry but not the sidecar's, the create's intent is still in state and
        // recovery adopts the image by its name.
        let sidecar = Sidecar::owned(spec.properties.clone(), Some(spec.volume_type.clone()));
        let sidecar_path = self.directory.sidecar(name);
        sidecar::write(&sidecar_path, &self.directory.partial_sidecar(name), &sidecar)
            .map_err(|error| io_failure(&format!("write `{}`", sidecar_path.display()), &error))?;
        fault::point("sidecar");
        let partial = self.directory.partial_image(name);
        let image = self.directory.image(name);
        let built = directory::remove_if_exists(&partial)
            .map_err(|error| io_failure(&format!("remove `{}`", partial.display()), &error))
            .and_then(|_| self.build_image(&source, &partial, size_bytes, &object))
            .inspect(|()| fault::point("image"))
            .and_then(|()| self.move_into_place(&partial, &image, &object));
        if let Err(error) = built {
            // Undo what this attempt wrote; what cannot be removed `drift` lists as blockform's
            // leftover.
            let _ = directory::remove_if_exists(&partial);
            let _ = directory::remove_if_exists(&self.directory.sidecar(name));
            return Err(error);
        }
        fault::point("link");
        // The volume exists now: a create that fails from here removes it, or it would be left
        // outside state (the engine forgets a failed create, and a retry uses a new name).
        let finished = self.sync_directory().and_then(|()| self.inspect_volume(name));
        match finished {
            Ok(info) => Ok(volume_state(name, &info, Some(&sidecar))),
            Err(error) => {
                let _ = directory::remove_if_exists(&image);
                let _ = directory::remove_if_exists(&self.directory.sidecar(name));
                Err(error)
            }
        }
    }

    fn extend_volume(&self, backend_name: &str, new_size_gib: u64) -> Result<VolumeState> {
        validate_backend_name(backend_name)?;
        let object = ObjectRef::volume(backend_name);
        let new_bytes = new_size_gib
            .checked_mul(GIB)
            .ok_or_else(|| invalid_state(&object, format!("{new_size_gib} GiB is too large")))?;
        let info = self.inspect_volume(backend_name)?;
        let current_bytes = info.header.size_bytes;
        if new_bytes < current_bytes {
            return Err(invalid_state(
                &object,
                format!(
                    "it cannot shrink from {} to {}: volumes only grow",
                    size_text(current_bytes),
                    size_text(new_bytes)
                ),
            ));
        }
        if new_bytes == current_bytes {
            return self.observed(backend_name, &info);
        }
        self.enforce_capacity(&object, new_bytes - current_bytes)?;
        let image = self.directory.image(backend_name);
        self.qemu_img.resize(utf8(&image)?, new_bytes, &object)?;
        let info = self.inspect_volume(backend_name)?;
        self.observed(backend_name, &info)
    }

    /// Also takes over a file that had no sidecar (an import): it then carries the marker.
    fn update_volume_metadata(
        &self,
        backend_name: &str,
        properties: &VolumeProperties,
        volume_type: Option<&str>,
    ) -> Result<VolumeState> {
        validate_backend_name(backend_name)?;
        let info = self.inspect_volume(backend_name)?;
        let volume_type = match volume_type {
            Some(volume_type) => Some(volume_type.to_owned()),
            None => self.read_sidecar(backend_name)?.and_then(|sidecar| sidecar.volume_type),
        };
        let sidecar = Sidecar::owned(properties.clone(), volume_type);
        self.write_sidecar(backend_name, &sidecar)?;
        Ok(volume_state(backend_name, &info, Some(&sidecar)))
    }

    /// The volume's qcow2 file in this machine's directory.
    fn planned_disk(&self, volume_backend_name: &str) -> Option<DiskSource> {
        Some(DiskSource::File {
            path: self.directory.image(volume_backend_name),
            format: ImageFormat::Qcow2,
            valid_on: ValidOn::Host(gethostname::gethostname().to_string_lossy().into_owned()),
        })
    }

    /// The volume's qcow2 file, valid on this machine only (whichever host asks: a hypervisor
    /// elsewhere refuses a source that is not valid on its host).
    fn connect(&self, volume_backend_name: &str, host: &str) -> Result<DiskSource> {
        let _ = host;
        validate_backend_name(volume_backend_name)?;
        let image = self.directory.image(volume_backend_name);
        match fs::metadata(&image) {
            Ok(metadata) if metadata.is_file() => {}
            Ok(_) => {
                return Err(invalid_state(
                    &ObjectRef::volume(volume_backend_name),
                    format!("`{}` is not a regular file", image.display()),
                ));
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(ProviderError::not_found(ObjectRef::volume(volume_backend_name)));
            }
            Err(error) => return Err(io_failure(&format!("read `{}`", image.display()), &error)),
        }
        self.planned_disk(volume_backend_name)
            .ok_or_else(|| ProviderError::not_found(ObjectRef::volume(volume_backend_name)))
    }

    fn delete_volume(&self, backend_name: &str) -> Result<()> {
        validate_backend_name(backend_name)?;
        match self.inspect_volume(backend_name) {
            // A backup's change marker goes with its volume.
            Ok(info) if info.snapshots.iter().any(|s| !is_change_marker(&s.name)) => {
                let names: Vec<String> = info
                    .snapshots
                    .iter()
                    .filter(|s| !is_change_marker(&s.name))
                    .map(|s| format!("`{}`", s.name))
                    .collect();
                return Err(invalid_state(
                    &ObjectRef::volume(backend_name),
                    format!("it still has snapshots ({}); delete them first", names.join(", ")),
                ));
            }
            // Missing, or unreadable: neither stops the files from being removed.
            _ => {}
        }
        // The image first: a sidecar left by a crash is a leftover recovery removes, while an
        // image without its sidecar would read as a file blockform does not own.
        let image = self.directory.image(backend_name);
        directory::remove_if_exists(&image)
            .map_err(|error| io_failure(&format!("remove `{}`", image.display()), &error))?;
        fault::point("delete-image");
        self.remove_leftovers(backend_name, true)?;
        self.sync_directory()
    }

    /// Removes what an interrupted create or delete of `backend_name` left: the partial image,
    /// the sidecar's temporary file, and, when there is no image, the sidecar. A finished
    /// volume keeps its image and sidecar.
    fn discard_interrupted_create(&self, backend_name: &str) -> Result<()> {
        validate_backend_name(backend_name)?;
        let image = self.directory.image(backend_name);
        let has_image = match fs::symlink_metadata(&image) {
            Ok(_) => true,
            Err(error) if error.kind() == io::ErrorKind::NotFound => false,
            Err(error) => return Err(io_failure(&format!("read `{}`", image.display()), &error)),
        };
        self.remove_leftovers(backend_name, !has_image).map(drop)
    }

    fn open_reader(&self, target: &ReadTarget) -> Result<Box<dyn VolumeReader>> {
        let name = target.volume_backend_name.as_str();
        validate_backend_name(name)?;
        let info = self.inspect_volume(name)?;
        if let Some(snapshot) = &target.snapshot_backend_name {
            validate_snapshot_name(snapshot)?;
            if find_snapshot(&info, snapshot).is_none() {
                return Err(ProviderError::not_found(ObjectRef::snapshot(snapshot)));
            }
        }
        let image = self.directory.image(name);
        let request = ExportRequest {
            image: utf8(&image)?,
            writable: false,
            snapshot: target.snapshot_backend_name.as_deref(),
            bitmap: None,
            meta_context: None,
        };
        let qemu = NbdReader::open(&self.runner, request, &ObjectRef::volume(name))?;
        // The export holds QEMU's image lock while the file is read directly.
        if target.snapshot_backend_name.is_none()
            && let Some(map) = crate::direct::ClusterMap::open(&image)?
        {
            return Ok(Box::new(crate::direct::DirectReader::new(map, Box::new(qemu))));
        }
        Ok(Box::new(qemu))
    }

    fn open_writer(&self, backend_name: &str) -> Result<Box<dyn VolumeWriter>> {
        validate_backend_name(backend_name)?;
        self.inspect_volume(backend_name)?;
        let image = self.directory.image(backend_name);
        Ok(Box::new(NbdWriter::open(
            &self.runner,
            utf8(&image)?,
            &ObjectRef::volume(backend_name),
        )?))
    }

    fn create_snapshot(&self, spec: &SnapshotSpec) -> Result<SnapshotState> {
        let volume = spec.volume_backend_name.as_str();
        let name = spec.backend_name.as_str();
        validate_backend_name(volume)?;
        validate_snapshot_name(name)?;
        let info = self.inspect_volume(volume)?;
        if let Some(snapshot) = find_snapshot(&info, name) {
            return Ok(snapshot_state(volume, snapshot, &info.header));
        }
        let image = self.directory.image(volume);
        self.qemu_img
            .create_snapshot(utf8(&image)?, name, &ObjectRef::volume(volume))?;
        let info = self.inspect_volume(volume)?;
        find_snapshot(&info, name)
            .map(|snapshot| snapshot_state(volume, snapshot, &info.header))
            .ok_or_else(|| {
                ProviderError::fatal(format!(
                    "`qemu-img snapshot -c {name}` succeeded but `{}` has no snapshot `{name}`",
                    image.display()
                ))
            })
    }

    fn delete_snapshot(&self, volume_backend_name: &str, snapshot_backend_name: &str) -> Result<()> {
        validate_backend_name(volume_backend_name)?;
        validate_snapshot_name(snapshot_backend_name)?;
        let info = match self.inspect_volume(volume_backend_name) {
            Ok(info) => info,
            Err(ProviderError::NotFound { .. }) => return Ok(()),
            Err(error) => return Err(error),
        };
        if find_snapshot(&info, snapshot_backend_name).is_none() {
            return Ok(());
        }
        let image = self.directory.image(volume_backend_name);
        self.qemu_img.delete_snapshot(
            utf8(&image)?,
            snapshot_backend_name,
            &ObjectRef::snapshot(snapshot_backend_name),
        )
    }

    /// The live volume, or one of its internal snapshots (read without the image's lock: a
    /// running domain's QEMU may hold the file, and a snapshot's clusters are frozen).
    fn export_image(&self, spec: &ImageExportSpec) -> Result<ExportedImage> {
        let name = spec.volume_backend_name.as_str();
        validate_backend_name(name)?;
        let object = ObjectRef::volume(name);
        let info = self.inspect_volume(name)?;
        let snapshot = spec.snapshot_backend_name.as_deref();
        let size_bytes = size_of(&info, snapshot)?;
        if size_bytes > MAX_IMAGE_EXPORT_BYTES {
            return Err(invalid_state(
                &object,
                format!(
                    "it holds {}; volumes larger than {} cannot be turned into images",
                    size_text(size_bytes),
                    size_text(MAX_IMAGE_EXPORT_BYTES)
                ),
            ));
        }
        let destination = std::path::absolute(&spec.destination)
            .map_err(|error| io_failure(&format!("resolve `{}`", spec.destination.display()), &error))?;
        let image_object = ObjectRef::new(ObjectKind::Image, destination.display().to_string());
        let (Some(parent), Some(file_name)) = (destination.parent(), destination.file_name()) else {
            return Err(invalid_state(&image_object, "it names no file".to_owned()));
        };
        if fs::canonicalize(parent).is_ok_and(|parent| parent == self.directory.root()) {
            return Err(conflict(
                &image_object,
                format!(
                    "images cannot be written into the provider's directory `{}`",
                    self.directory.root().display()
                ),
            ));
        }
        let partial = parent.join(format!(".{}.partial", file_name.to_string_lossy()));
        directory::remove_if_exists(&partial)
            .map_err(|error| io_failure(&format!("remove `{}`", partial.display()), &error))?;
        let source_image = self.directory.image(name);
        let source = ConvertSource {
            path: utf8(&source_image)?,
            format: ImageFormat::Qcow2,
            snapshot,
        };
        if let Err(error) = self.qemu_img.convert(source, spec.format, utf8(&partial)?, &object) {
            let _ = directory::remove_if_exists(&partial);
            return Err(error);
        }
        fs::rename(&partial, &destination)
            .and_then(|()| sidecar::sync_parent(&destination))
            .map_err(|error| io_failure(&format!("move the image to `{}`", destination.display()), &error))?;
        let file_size_bytes = fs::metadata(&destination)
            .map_err(|error| io_failure(&format!("read `{}`", destination.display()), &error))?
            .len();
        Ok(ExportedImage {
            path: destination,
            format: spec.format,
            virtual_size_bytes: size_bytes,
            file_size_bytes,
        })
    }

    fn create_change_marker(&self, backend_name: &str, marker_name: &str) -> Result<ChangeMarker> {
        validate_backend_name(backend_name)?;
        validate_backend_name(marker_name)?;
        let object = ObjectRef::volume(backend_name);
        let image = self.directory.image(backend_name);
        let (_, bitmaps) = inspect::read_bitmaps(&image).map_err(|error| inspect_failure(&error, backend_name))?;
        let marker = ChangeMarker::DirtyBitmap {
            name: marker_name.to_owned(),
        };
        match bitmaps.iter().find(|bitmap| bitmap.name == marker_name) {
            Some(bitmap) if !bitmap.in_use && bitmap.enabled => return Ok(marker),
            // Left inconsistent by a killed writer, or disabled: start over from now.
            Some(_) => self.qemu_img.remove_bitmap(utf8(&image)?, marker_name, &object)?,
            None => {}
        }
        self.qemu_img.add_bitmap(utf8(&image)?, marker_name, &object)?;
        fault::point("marker");
        Ok(marker)
    }

    /// Removes a dirty bitmap, or an internal snapshot that a running domain's QEMU took as
    /// the marker of a backup through the domain (when the domain still holds the image, the
    /// engine removes it through the domain instead).
    fn delete_change_marker(&self, backend_name: &str, marker: &ChangeMarker) -> Result<()> {
        validate_backend_name(backend_name)?;
        let name = match marker {
            ChangeMarker::DirtyBitmap { name } => name,
            ChangeMarker::Snapshot { backend_name: snapshot } => {
                return self.delete_snapshot(backend_name, snapshot);
            }
        };
        validate_backend_name(name)?;
        let image = self.directory.image(backend_name);
        let bitmaps = match inspect::read_bitmaps(&image) {
            Ok((_, bitmaps)) => bitmaps,
            Err(error) if error.is_not_found() => return Ok(()),
            Err(error) => return Err(inspect_failure(&error, backend_name)),
        };
        if !bitmaps.iter().any(|bitmap| &bitmap.name == name) {
            return Ok(());
        }
        self.qemu_img
            .remove_bitmap(utf8(&image)?, name, &ObjectRef::volume(backend_name))
    }

    /// The dirty bitmaps and internal snapshots named as change markers.
    fn change_markers(&self, backend_name: &str) -> Result<Vec<ChangeMarker>> {
        validate_backend_name(backend_name)?;
        let image = self.directory.image(backend_name);
        let bitmaps = match inspect::read_bitmaps(&image) {
            Ok((_, bitmaps)) => bitmaps,
            Err(error) if error.is_not_found() => return Ok(Vec::new()),
            Err(error) => return Err(inspect_failure(&error, backend_name)),
        };
        let snapshots = match inspect::inspect(&image) {
            Ok(info) => info.snapshots,
            Err(error) if error.is_not_found() => return Ok(Vec::new()),
            Err(error) => return Err(inspect_failure(&error, backend_name)),
        };
        let bitmaps = bitmaps
            .into_iter()
            .filter(|bitmap| is_change_marker(&bitmap.name))
            .map(|bitmap| ChangeMarker::DirtyBitmap { name: bitmap.name });
        let snapshots = snapshots
            .into_iter()
            .filter(|snapshot| is_change_marker(&snapshot.name))
            .map(|snapshot| ChangeMarker::Snapshot {
                backend_name: snapshot.name,
            });
        Ok(bitmaps.chain(snapshots).collect())
    }

    /// Without a marker: the allocated ranges (`base:allocation`, everything not reading as
    /// zeros). With a dirty bitmap: the ranges written since it was added, which for a snapshot
    /// target is a superset of what changed up to the snapshot when the snapshot was taken
    /// after the marker. A bitmap that is missing, disabled or left inconsistent by a killed
    /// writer, or a marker of another kind, gives the whole volume to be hashed.
    fn changed_extents(&self, target: &ReadTarget, since: Option<&ChangeMarker>) -> Result<ChangedExtents> {
        let name = target.volume_backend_name.as_str();
        validate_backend_name(name)?;
        let info = self.inspect_volume(name)?;
        let size_bytes = size_of(&info, target.snapshot_backend_name.as_deref())?;
        let extents = match since {
            None => self.status_map(target, None, "base:allocation", |flags| flags & STATE_ZERO == 0)?,
            Some(ChangeMarker::DirtyBitmap { name: bitmap }) => {
                validate_backend_name(bitmap)?;
                let image = self.directory.image(name);
                let (header, bitmaps) = inspect::read_bitmaps(&image).map_err(|error| inspect_failure(&error, name))?;
                let usable = header.bitmaps_consistent()
                    && bitmaps
                        .iter()
                        .any(|found| &found.name == bitmap && found.enabled && !found.in_use);
                if !usable {
                    return Ok(ChangedExtents::whole_volume(size_bytes));
                }
                let live = ReadTarget::volume(name);
                let context = format!("qemu:dirty-bitmap:{bitmap}");
                self.status_map(&live, Some(bitmap), &context, |flags| flags & STATE_DIRTY != 0)?
            }
            Some(ChangeMarker::Snapshot { .. }) => return Ok(ChangedExtents::whole_volume(size_bytes)),
        };
        let mut changed = ChangedExtents {
            // The SDK has no variant for an allocation map; both come from qcow2 metadata.
            source: crate::DIRTY_BITMAP,
            volume_size_bytes: size_bytes,
            extents,
        };
        changed.normalize();
        Ok(changed)
    }
}

/// What refresh reports for an inspected image and its sidecar.
fn volume_state(name: &str, info: &ImageInfo, sidecar: Option<&Sidecar>) -> VolumeState {
    let properties = sidecar.map_or_else(
        || VolumeProperties {
            name: name.to_owned(),
            ..VolumeProperties::default()
        },
        |sidecar| sidecar.properties.clone(),
    );
    VolumeState {
        backend_name: name.to_owned(),
        properties,
        virtual_size_bytes: info.header.size_bytes,
        allocated_bytes: Some(info.allocated_bytes),
        status: if info.header.is_corrupt() {
            VolumeStatus::Error
        } else {
            VolumeStatus::Available
        },
        snapshots: info
            .snapshots
            .iter()
            .filter(|snapshot| !is_change_marker(&snapshot.name))
            .map(|snapshot| snapshot_state(name, snapshot, &info.header))
            .collect(),
        qos: blockform_provider::QosSpecs::default(),
    }
}

fn snapshot_state(volume: &str, snapshot: &Snapshot, header: &Header) -> SnapshotState {
    SnapshotState {
        backend_name: snapshot.name.clone(),
        volume_backend_name: volume.to_owned(),
        size_bytes: snapshot_size(snapshot, header),
        created_at_unix_secs: u64::from(snapshot.date_sec),
        status: SnapshotStatus::Available,
    }
}

/// The volume size a snapshot recorded; entries from before QEMU 4.2 lack it.
fn snapshot_size(snapshot: &Snapshot, header: &Header) -> u64 {
    snapshot.disk_size_bytes.unwrap_or(header.size_bytes)
}

/// The size of the image, or of its internal snapshot `snapshot` (which must exist).
fn size_of(info: &ImageInfo, snapshot: Option<&str>) -> Result<u64> {
    match snapshot {
        Some(snapshot) => {
            validate_snapshot_name(snapshot)?;
            let found =
                find_snapshot(info, snapshot).ok_or_else(|| ProviderError::not_found(ObjectRef::snapshot(snapshot)))?;
            Ok(snapshot_size(found, &info.header))
        }
        None => Ok(info.header.size_bytes),
    }
}

fn find_snapshot<'a>(info: &'a ImageInfo, name: &str) -> Option<&'a Snapshot> {
    info.snapshots.iter().find(|snapshot| snapshot.name == name)
}

/// Checks a snapshot name: a backend name that `qemu-img snapshot -d` cannot take for an ID.
fn validate_snapshot_name(name: &str) -> Result<()> {
    validate_backend_name(name)?;
    if name.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ProviderError::InvalidName {
            name: name.to_owned(),
            reason: "a snapshot name must not be all digits (qemu-img would read it as a snapshot ID)".to_owned(),
        });
    }
    Ok(())
}

/// A size for messages: whole GiB when it is a multiple, bytes otherwise.
/// A path as a command-line argument; the root was checked to be UTF-8 and backend names are
/// ASCII, so only user-supplied image paths can fail here.
fn utf8(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| ProviderError::InvalidName {
        name: path.to_string_lossy().into_owned(),
        reason: "a path passed to qemu-img must be valid UTF-8".to_owned(),
    })
}

fn inspect_failure(error: &InspectError, name: &str) -> ProviderError {
    if error.is_not_found() {
        ProviderError::not_found(ObjectRef::volume(name))
    } else {
        ProviderError::fatal(error.to_string())
    }
}

fn sidecar_failure(error: &SidecarError) -> ProviderError {
    ProviderError::fatal(error.to_string())
}

/// `path` made absolute and free of symlinks, whether or not it exists yet: its nearest existing
/// ancestor canonicalized, with the rest (which cannot hold a symlink) joined to it.
fn canonical_even_if_missing(path: &Path) -> io::Result<PathBuf> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let mut missing = Vec::new();
    let mut existing = absolute.as_path();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                missing.push(name.to_owned());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut canonical = fs::canonicalize(existing)?;
    for name in missing.iter().rev() {
        canonical.push(name);
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_gib_when_whole() {
        assert_eq!(size_text(3 * GIB), "3 GiB");
        assert_eq!(size_text(GIB + 1), "1073741825 bytes");
        assert_eq!(size_text(0), "0 GiB");
    }

    #[test]
    fn snapshot_names_that_qemu_img_would_read_as_ids_are_refused() {
        assert!(validate_snapshot_name("snapshot-1").is_ok());
        assert!(validate_snapshot_name("1a").is_ok());
        assert_eq!(
            validate_snapshot_name("12").unwrap_err().to_string(),
            "invalid name `12`: a snapshot name must not be all digits (qemu-img would read it as a snapshot ID)"
        );
        assert!(matches!(
            validate_snapshot_name("-x").unwrap_err(),
            ProviderError::InvalidName { .. }
        ));
    }
}
