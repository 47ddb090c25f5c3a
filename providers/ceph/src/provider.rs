//! `CephProvider`: the `Provider` implementation over an RBD pool.
//!
//! Every change is a call of the provider's worker (create, clone, flatten, resize, snapshot,
//! image metadata and `conf_rbd_qos_*` settings, rename, remove; see [`crate::worker`]), and
//! so is the read-back an operation answers with; refresh reads the whole pool in one process
//! (see [`crate::pool`]); data moves through `rbd import`, `rbd export` and `rbd import-diff`
//! (see [`crate::stream`]).
//!
//! Crash safety of `create_volume`: the image is built under `NAME.partial`, gets its
//! `blockform` metadata, and only then is renamed to its final name, so an image under a
//! volume's name is always complete and marked. Running the same create again finds either
//! nothing (a leftover partial image is replaced) or the finished volume, which it adopts.
//!
//! Clones: a volume made from a snapshot is an RBD clone of it (the snapshot is protected
//! first); with `flatten_clones` (the default) it is flattened at once, so it is independent
//! of its source as the SPEC requires. Without it, the clone shares its parent's data until
//! the parent snapshot or volume is deleted: deleting a snapshot flattens its clones first,
//! so deleting never breaks a volume. A volume made from a volume goes through a temporary
//! snapshot `NEW.source` of the source, removed once the clone is flattened.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use blockform_provider::{
    Capabilities, Capacity, ChangeMarker, ChangedExtents, CommandOutput, CommandRunner, ExportedImage, Extent, GIB,
    ImageExportSpec, ImageFormat, InventoryItem, ObjectKind, ObjectRef, ProviderConfig, ProviderError, ProviderKind,
    QosSpecs, ReadTarget, Result, SnapshotSpec, SnapshotState, SnapshotStatus, StorageProvider, VolumeProperties,
    VolumeReader, VolumeSource, VolumeSpec, VolumeState, VolumeStatus, VolumeWriter, is_change_marker,
    validate_backend_name,
};

use crate::cli::{Cluster, DATA_TIMEOUT, Tool};
use crate::config::{CapacityCheck, CephConfig, ConfigError};
use crate::fault::Fault;
use crate::output;
use crate::pool::{self, ListedImage, ListedSnapshot};
use crate::qos;
use blockform_provider::toolkit::{adopt_or_conflict, invalid_state, io_failure, size_text};
use blockform_provider::{DiskSource, Shortfall};

use crate::record::{self, META_KEY, OWNER, Record};
use crate::stream::{ExportReader, ImportDiffWriter};
use crate::worker::{ImageStat, Parent, Request, SnapshotChild, SnapshotInfo};

/// Volumes larger than this cannot be turned into images (SPEC: image from a volume).
pub const MAX_IMAGE_EXPORT_BYTES: u64 = 300 * GIB;

/// The prefix of the volume names blockform creates; inventory lists such images as volumes.
pub const VOLUME_PREFIX: &str = "volume-";

/// librbd's answer to unprotecting a snapshot that is not protected.
const EINVAL: i32 = 22;

/// The suffix of an image being built.
const PARTIAL_SUFFIX: &str = ".partial";

/// The suffix of the temporary snapshot a volume-from-volume clone starts from.
const SOURCE_SNAPSHOT_SUFFIX: &str = ".source";

/// The Ceph RBD provider.
#[derive(Debug)]
pub struct CephProvider {
    name: String,
    config: CephConfig,
    cluster: Cluster,
    /// The sum of the image sizes of the latest pool listing and when it was taken, so that
    /// capacity checks right after a refresh (plan) or during an apply do not list the pool
    /// again.
    provisioned: Mutex<Option<(Instant, u64)>>,
    /// A fault injected for a crash test (see [`crate::fault`]); `None` in normal use.
    fault: Option<Fault>,
}

/// How long a pool listing's provisioned total serves capacity checks.
const PROVISIONED_MAX_AGE: Duration = Duration::from_secs(60);

impl CephProvider {
    /// A provider named `name` over `config.pool`; the `conf` and `keyring` files must exist.
    pub fn new(name: impl Into<String>, config: CephConfig) -> Result<Self, ConfigError> {
        let name = name.into();
        config.validate(&name)?;
        for (attribute, path) in [("conf", &config.conf), ("keyring", &config.keyring)] {
            let Some(path) = path else { continue };
            // A missing file would only show up as a terse message from the first command.
            if let Err(source) = fs::File::open(path) {
                return Err(ConfigError::File {
                    provider: name,
                    attribute,
                    path: path.clone(),
                    source,
                });
            }
        }
        let fault = crate::fault::from_env().map_err(|reason| ConfigError::Fault {
            provider: name.clone(),
            reason,
        })?;
        let cluster = Cluster::new(&name, &config);
        Ok(Self {
            name,
            config,
            cluster,
            provisioned: Mutex::new(None),
            fault,
        })
    }

    /// The same provider with a fault injected at one step, for crash tests (see
    /// [`crate::fault`]); `None` removes one the environment set.
    #[must_use]
    pub fn with_fault(mut self, fault: Option<Fault>) -> Self {
        self.fault = fault;
        self
    }

    /// A fault injection point: does nothing unless a test injected a fault at `step`.
    fn fault_point(&self, step: &str) -> Result<()> {
        let Some(fault) = &self.fault else { return Ok(()) };
        if fault.kills_worker_at(step) {
            self.cluster.worker().kill_during_next_call();
        }
        fault.at(step)
    }

    /// The process id of the provider's worker while one runs, for tests that check it
    /// ends with its provider (see [`crate::worker`]).
    pub fn worker_pid(&self) -> Option<u32> {
        self.cluster.worker().pid()
    }

    /// A provider from an evaluated `provider "ceph" "NAME" { ... }` block.
    pub fn from_config(config: &ProviderConfig) -> Result<Self, ConfigError> {
        let ceph = CephConfig::from_provider_config(config)?;
        Self::new(config.name.clone(), ceph)
    }

    /// The settings it was built from.
    pub fn config(&self) -> &CephConfig {
        &self.config
    }

    /// The full argv of an `rbd` call with this provider's connection options, for tests and
    /// tools that check what the provider did.
    pub fn rbd_argv(&self, args: &[&str]) -> Vec<String> {
        self.cluster.argv(Tool::Rbd, args)
    }

    fn rbd(&self, args: &[&str], object: &ObjectRef) -> Result<CommandOutput> {
        self.cluster.run(Tool::Rbd, args, object)
    }

    /// Runs one operation through the worker (see [`crate::worker`]).
    fn call(&self, request: &Request<'_>, object: &ObjectRef) -> Result<()> {
        self.cluster.call(request, object).map(|_| ())
    }

    /// An image's size, snapshots (oldest first) and parent, with its metadata when `meta`.
    fn stat(&self, image: &str, meta: bool) -> Result<ImageStat> {
        let mut stat: ImageStat = self.cluster.call_for(
            &Request::Stat {
                image,
                snapshot: None,
                meta,
            },
            &ObjectRef::volume(image),
        )?;
        stat.snapshots.sort_by_key(|snapshot| snapshot.id);
        Ok(stat)
    }

    fn rbd_data(&self, args: &[&str], object: &ObjectRef) -> Result<CommandOutput> {
        self.cluster.run_data(Tool::Rbd, args, object)
    }

    /// An error about output the provider could not read.
    fn unreadable(&self, message: &str) -> ProviderError {
        ProviderError::fatal(format!(
            "ceph provider `{}` (pool `{}`): {message}",
            self.name,
            self.cluster.location()
        ))
    }

    /// Reads the whole pool at once: every image with its size, snapshots and metadata. An
    /// image removed while the pool is read is left out.
    fn list_pool(&self) -> Result<HashMap<String, ListedImage>> {
        let pool = ObjectRef::new(ObjectKind::Pool, self.cluster.location());
        let output = self.cluster.read_pool(&pool)?;
        let listing = pool::parse(&output.stdout).map_err(|message| self.unreadable(&message))?;
        let provisioned = listing
            .values()
            .map(|image| image.size_bytes)
            .fold(0_u64, u64::saturating_add);
        *self.provisioned.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), provisioned));
        Ok(listing)
    }

    /// The provisioned total of a recent listing, or of a new one.
    fn provisioned_bytes(&self) -> Result<u64> {
        let recent = *self.provisioned.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((taken, bytes)) = recent
            && taken.elapsed() <= PROVISIONED_MAX_AGE
        {
            return Ok(bytes);
        }
        self.list_pool()?;
        Ok(self
            .provisioned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map_or(0, |(_, bytes)| bytes))
    }

    /// Counts bytes this provider just added to the pool in the recent listing's total.
    fn add_provisioned(&self, bytes: u64) {
        if let Some((_, total)) = self.provisioned.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
            *total = total.saturating_add(bytes);
        }
    }

    /// Reads an image's metadata: the `blockform` record and the `conf_*` settings.
    fn image_meta(&self, image: &str) -> Result<BTreeMap<String, String>> {
        self.stat(image, true).map(|stat| stat.meta)
    }

    fn set_record_meta(&self, image: &str, record: &Record) -> Result<()> {
        self.call(
            &Request::MetaSet {
                image,
                key: META_KEY,
                value: &record.to_json(),
            },
            &ObjectRef::volume(image),
        )
    }

    fn snapshots(&self, image: &str) -> Result<Vec<SnapshotInfo>> {
        self.stat(image, false).map(|stat| stat.snapshots)
    }

    /// The size of an image, or of one of its snapshots; a missing one is `NotFound` for
    /// `object`.
    fn size_of(&self, image: &str, snapshot: Option<&str>, object: &ObjectRef) -> Result<u64> {
        let stat: ImageStat = self.cluster.call_for(
            &Request::Stat {
                image,
                snapshot,
                meta: false,
            },
            object,
        )?;
        Ok(stat.size)
    }

    /// Observes one volume in one read through the worker, for the answer of an operation
    /// on it.
    fn observe(&self, name: &str) -> Result<VolumeState> {
        let stat = self.stat(name, true)?;
        let snapshots = stat
            .snapshots
            .into_iter()
            .map(|snapshot| ListedSnapshot {
                id: snapshot.id,
                size_bytes: snapshot.size,
                created_at_unix_secs: snapshot.created_at_unix_secs,
                name: snapshot.name,
            })
            .collect();
        Ok(volume_state(
            name,
            &ListedImage {
                size_bytes: stat.size,
                snapshots,
                meta: stat.meta,
            },
        ))
    }

    /// Refuses `requested_bytes` that do not fit when `capacity_check = "error"`.
    fn enforce_capacity(&self, object: &ObjectRef, requested_bytes: u64) -> Result<()> {
        if self.config.capacity_check != CapacityCheck::Error {
            return Ok(());
        }
        let capacity = self.capacity()?;
        if let Some(shortfall) = shortfall(&capacity, requested_bytes, self.config.oversubscription) {
            return Err(ProviderError::InvalidState {
                object: object.clone(),
                reason: format!(
                    "ceph provider `{}` (pool `{}`): {shortfall} (capacity_check = \"error\")",
                    self.name,
                    self.cluster.location()
                ),
                command: None,
            });
        }
        Ok(())
    }

    /// Removes an image and everything that keeps it from being removed: its snapshots, after
    /// flattening their clones and unprotecting them. A missing image is success.
    fn remove_image(&self, image: &str) -> Result<()> {
        let snapshots = match self.snapshots(image) {
            Ok(snapshots) => snapshots,
            Err(ProviderError::NotFound { .. }) => return Ok(()),
            Err(error) => return Err(error),
        };
        self.remove_image_with(image, &snapshots)
    }

    /// [`Self::remove_image`] of an image whose snapshots were just read.
    fn remove_image_with(&self, image: &str, snapshots: &[SnapshotInfo]) -> Result<()> {
        for snapshot in snapshots {
            self.remove_snapshot(image, &snapshot.name, snapshot.protected)?;
        }
        let spec = self.cluster.image_spec(image);
        match self.call(&Request::Remove { image }, &ObjectRef::volume(image)) {
            Ok(()) | Err(ProviderError::NotFound { .. }) => Ok(()),
            Err(ProviderError::Busy { object, command, .. }) => Err(ProviderError::Busy {
                object,
                reason: format!(
                    "ceph provider `{}` (pool `{}`): a client still has it open (see `rbd status {spec}`)",
                    self.name,
                    self.cluster.location()
                ),
                command,
            }),
            Err(error) => Err(error),
        }
    }

    /// Removes a snapshot: flattens its clones and unprotects it first when it is protected.
    fn remove_snapshot(&self, image: &str, snapshot: &str, protected: bool) -> Result<()> {
        let object = ObjectRef::snapshot(snapshot);
        if protected {
            self.flatten_children(image, snapshot)?;
            self.unprotect(image, snapshot)?;
        }
        match self.call(&Request::SnapRemove { image, snapshot }, &object) {
            Ok(()) | Err(ProviderError::NotFound { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Flattens every clone of a snapshot, so the snapshot can go without breaking them.
    fn flatten_children(&self, image: &str, snapshot: &str) -> Result<()> {
        for child in self.children(image, snapshot)? {
            let child_spec = child.spec();
            self.cluster
                .call_data(
                    &Request::Flatten {
                        image: &child.image,
                        pool: Some(&child.pool),
                        namespace: Some(&child.pool_namespace),
                    },
                    &ObjectRef::volume(&child.image),
                )
                .map_err(|error| match error {
                    ProviderError::Fatal { reason, command } => ProviderError::Fatal {
                        reason: format!(
                            "{reason}; snapshot `{snapshot}` of `{image}` cannot be deleted while its clone `{child_spec}` depends on it"
                        ),
                        command,
                    },
                    other => other,
                })?;
        }
        Ok(())
    }

    /// The clones of a snapshot.
    fn children(&self, image: &str, snapshot: &str) -> Result<Vec<SnapshotChild>> {
        self.cluster
            .call_for(&Request::Children { image, snapshot }, &ObjectRef::snapshot(snapshot))
    }

    /// Checks a new volume's source and returns its size in bytes.
    fn source_size(&self, source: &VolumeSource, name: &str) -> Result<u64> {
        match source {
            VolumeSource::Empty => Ok(0),
            VolumeSource::Snapshot {
                volume_backend_name,
                snapshot_backend_name,
            } => {
                validate_backend_name(volume_backend_name)?;
                validate_backend_name(snapshot_backend_name)?;
                self.size_of(
                    volume_backend_name,
                    Some(snapshot_backend_name),
                    &ObjectRef::snapshot(snapshot_backend_name),
                )
            }
            VolumeSource::Volume { backend_name } => {
                validate_backend_name(backend_name)?;
                if backend_name == name {
                    return Err(invalid_state(
                        &ObjectRef::volume(name),
                        "a volume cannot be cloned from itself".to_owned(),
                    ));
                }
                self.size_of(backend_name, None, &ObjectRef::volume(backend_name))
            }
            VolumeSource::ImageFile { path, format } => image_file_size(path, *format),
        }
    }

    /// Writes the new image under `partial`, `size_bytes` long, from its source. What it made
    /// before a failure is left for [`Self::discard_interrupted`], which the caller runs.
    fn build_image(&self, spec: &VolumeSpec, partial: &str, size_bytes: u64, source_bytes: u64) -> Result<()> {
        let object = ObjectRef::volume(&spec.backend_name);
        match &spec.source {
            VolumeSource::Empty => {
                self.call(
                    &Request::Create {
                        image: partial,
                        size: size_bytes,
                    },
                    &object,
                )?;
                return self.fault_point("create");
            }
            VolumeSource::Snapshot {
                volume_backend_name,
                snapshot_backend_name,
            } => self.clone_snapshot(volume_backend_name, snapshot_backend_name, partial, false)?,
            VolumeSource::Volume { backend_name } => {
                let snapshot = source_snapshot(&spec.backend_name);
                let take = || {
                    self.call(
                        &Request::SnapCreate {
                            image: backend_name,
                            snapshot: &snapshot,
                        },
                        &object,
                    )
                };
                match take() {
                    Ok(()) => {}
                    // Left by an interrupted attempt: it holds the source as it was then, so
                    // it is replaced (after the image cloned from it).
                    Err(ProviderError::Conflict { .. }) => {
                        self.remove_image(partial)?;
                        self.remove_snapshot(backend_name, &snapshot, true)?;
                        take()?;
                    }
                    Err(error) => return Err(error),
                }
                self.fault_point("source-snapshot")?;
                self.clone_snapshot(backend_name, &snapshot, partial, true)?;
            }
            VolumeSource::ImageFile { path, format } => {
                self.import_image_file(path, *format, partial, &object)?;
                self.fault_point("import")?;
            }
        }
        if matches!(spec.source, VolumeSource::Snapshot { .. } | VolumeSource::Volume { .. }) {
            // `rbd clone` copies the parent's metadata, its QoS settings included; a new volume
            // starts without limits until its type's rule is applied.
            self.write_qos(partial, &QosSpecs::default())?;
        }
        if source_bytes < size_bytes {
            self.call(
                &Request::Resize {
                    image: partial,
                    size: size_bytes,
                },
                &object,
            )?;
            self.fault_point("resize")?;
        }
        Ok(())
    }

    /// Clones `image@snapshot` as `partial`, protecting the snapshot first; with
    /// `flatten_clones`, flattens the clone and then removes the snapshot when it is a
    /// `temporary` one, or unprotects it when this clone protected it and no other needs it.
    fn clone_snapshot(&self, image: &str, snapshot: &str, partial: &str, temporary: bool) -> Result<()> {
        let snapshot_object = ObjectRef::snapshot(snapshot);
        let entry = self
            .snapshots(image)?
            .into_iter()
            .find(|entry| entry.name == snapshot)
            .ok_or_else(|| ProviderError::not_found(snapshot_object.clone()))?;
        if !entry.protected {
            self.call(&Request::SnapProtect { image, snapshot }, &snapshot_object)?;
        }
        self.fault_point("protect")?;
        self.call(
            &Request::Clone {
                image,
                snapshot,
                to: partial,
            },
            &ObjectRef::volume(partial),
        )?;
        self.fault_point("clone")?;
        if !self.config.flatten_clones {
            return Ok(());
        }
        self.cluster.call_data(
            &Request::Flatten {
                image: partial,
                pool: None,
                namespace: None,
            },
            &ObjectRef::volume(partial),
        )?;
        self.fault_point("flatten")?;
        if temporary {
            self.unprotect(image, snapshot)?;
            self.fault_point("unprotect")?;
            match self.call(&Request::SnapRemove { image, snapshot }, &snapshot_object) {
                Ok(()) | Err(ProviderError::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
            self.fault_point("source-snapshot-removed")?;
        } else if !entry.protected {
            // Unprotect only what this clone protected, and only when no other clone needs it.
            if self.children(image, snapshot)?.is_empty() {
                self.call(&Request::SnapUnprotect { image, snapshot }, &snapshot_object)?;
            }
        }
        Ok(())
    }

    /// Unprotects a snapshot; one that is not protected (EINVAL) is success.
    fn unprotect(&self, image: &str, snapshot: &str) -> Result<()> {
        match self.call(
            &Request::SnapUnprotect { image, snapshot },
            &ObjectRef::snapshot(snapshot),
        ) {
            Err(error) if error.command().is_none_or(|command| command.status != Some(EINVAL)) => Err(error),
            _ => Ok(()),
        }
    }

    /// The parent snapshot of an image, `None` for an image that is not a clone or does not
    /// exist.
    fn parent_of(&self, image: &str) -> Result<Option<Parent>> {
        match self.stat(image, false) {
            Ok(stat) => Ok(stat.parent),
            Err(ProviderError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Whether `parent` is the temporary source snapshot of `name` in this pool (namespace).
    fn is_own_source_snapshot(&self, parent: &Parent, name: &str) -> bool {
        parent.pool == self.cluster.pool()
            && parent.pool_namespace == self.cluster.namespace().unwrap_or_default()
            && parent.snapshot == source_snapshot(name)
    }

    /// Removes what an unfinished create of `name` left behind: the image `NAME.partial` being
    /// built and the temporary snapshot `NAME.source` of the volume it was cloned from (on
    /// `source` when the caller knows it, otherwise wherever the pool listing finds one). A
    /// temporary snapshot that a finished `NAME` still has as its parent (a clone kept
    /// unflattened) belongs to that volume and stays. Nothing to remove is success.
    fn discard_interrupted(&self, name: &str, source: Option<&str>) -> Result<()> {
        // The partial image first: it is the clone that would keep the snapshot protected.
        self.remove_image(&format!("{name}{PARTIAL_SUFFIX}"))?;
        let snapshot = source_snapshot(name);
        let holders: Vec<String> = match source {
            Some(source) => vec![source.to_owned()],
            None => self
                .list_pool()?
                .into_iter()
                .filter(|(_, image)| image.snapshots.iter().any(|listed| listed.name == snapshot))
                .map(|(holder, _)| holder)
                .collect(),
        };
        if holders.is_empty() {
            return Ok(());
        }
        let kept = self
            .parent_of(name)?
            .filter(|parent| self.is_own_source_snapshot(parent, name))
            .map(|parent| parent.image);
        for holder in holders {
            if kept.as_deref() == Some(holder.as_str()) {
                continue;
            }
            let snapshots = match self.snapshots(&holder) {
                Ok(snapshots) => snapshots,
                Err(ProviderError::NotFound { .. }) => continue,
                Err(error) => return Err(error),
            };
            if let Some(entry) = snapshots.iter().find(|entry| entry.name == snapshot) {
                self.remove_snapshot(&holder, &snapshot, entry.protected)?;
            }
        }
        Ok(())
    }

    /// Undoes a create that failed: the volume when this attempt had already renamed it into
    /// place, then everything [`Self::discard_interrupted`] removes. Returns the create's
    /// error, saying what could not be removed when the undo failed too.
    fn undo_create(&self, name: &str, source: &VolumeSource, renamed: bool, error: ProviderError) -> ProviderError {
        let source = match source {
            VolumeSource::Volume { backend_name } => Some(backend_name.as_str()),
            _ => None,
        };
        let undone = if renamed { self.delete_volume(name) } else { Ok(()) }
            .and_then(|()| self.discard_interrupted(name, source));
        let Err(cleanup) = undone else { return error };
        let note = format!(
            "what this attempt made of `{name}` could not all be removed ({cleanup}); the next create of \
             `{name}` or `blockform drift` finds what is left"
        );
        match error {
            ProviderError::Busy {
                object,
                reason,
                command,
            } => ProviderError::Busy {
                object,
                reason: format!("{reason}; {note}"),
                command,
            },
            ProviderError::Conflict {
                object,
                reason,
                command,
            } => ProviderError::Conflict {
                object,
                reason: format!("{reason}; {note}"),
                command,
            },
            ProviderError::InvalidState {
                object,
                reason,
                command,
            } => ProviderError::InvalidState {
                object,
                reason: format!("{reason}; {note}"),
                command,
            },
            ProviderError::Transient { reason, command } => ProviderError::Transient {
                reason: format!("{reason}; {note}"),
                command,
            },
            ProviderError::Fatal { reason, command } => ProviderError::Fatal {
                reason: format!("{reason}; {note}"),
                command,
            },
            other => ProviderError::fatal(format!("{other}; {note}")),
        }
    }

    /// Imports an image file as `partial`; qcow2 files are converted to raw first.
    fn import_image_file(&self, path: &Path, format: ImageFormat, partial: &str, object: &ObjectRef) -> Result<()> {
        let partial_spec = self.cluster.image_spec(partial);
        match format {
            ImageFormat::Raw => {
                let path = utf8(path)?;
                self.rbd_data(
                    &["import", "--no-progress", "--image-format", "2", path, &partial_spec],
                    object,
                )?;
            }
            ImageFormat::Qcow2 => {
                let raw = std::env::temp_dir().join(format!("blockform-{partial}.raw"));
                let converted = CommandRunner::local().with_timeout(DATA_TIMEOUT).run(&[
                    "qemu-img",
                    "convert",
                    "-f",
                    "qcow2",
                    "-O",
                    "raw",
                    utf8(path)?,
                    utf8(&raw)?,
                ]);
                let imported = converted.and_then(|_| {
                    self.rbd_data(
                        &[
                            "import",
                            "--no-progress",
                            "--image-format",
                            "2",
                            utf8(&raw)?,
                            &partial_spec,
                        ],
                        object,
                    )
                });
                let _ = fs::remove_file(&raw);
                imported?;
            }
        }
        Ok(())
    }

    /// Makes an image's `rbd_qos_*` settings exactly `specs`.
    fn write_qos(&self, image: &str, specs: &QosSpecs) -> Result<()> {
        let object = ObjectRef::volume(image);
        let settings = qos::to_settings(specs).map_err(|reason| {
            invalid_state(
                &object,
                format!(
                    "ceph provider `{}` (pool `{}`): {reason}",
                    self.name,
                    self.cluster.location()
                ),
            )
        })?;
        let meta = self.image_meta(image)?;
        for (_, setting) in qos::RBD_QOS_SETTINGS {
            // `rbd config image set` stores a setting as the image metadata `conf_SETTING`,
            // which librbd checks and applies.
            let key = format!("{}{setting}", qos::CONFIG_META_PREFIX);
            let current = meta.get(&key).map(String::as_str);
            match settings.get(setting) {
                Some(value) => {
                    let value = value.to_string();
                    if current != Some(value.as_str()) {
                        self.call(
                            &Request::MetaSet {
                                image,
                                key: &key,
                                value: &value,
                            },
                            &object,
                        )?;
                        self.fault_point("qos-set")?;
                    }
                }
                None if current.is_some() => match self.call(&Request::MetaRemove { image, key: &key }, &object) {
                    Ok(()) | Err(ProviderError::NotFound { .. }) => {}
                    Err(error) => return Err(error),
                },
                None => {}
            }
        }
        Ok(())
    }

    /// Returns the finished volume of an earlier attempt at the same create, if there is one.
    fn adopt(&self, spec: &VolumeSpec, size_bytes: u64, object: &ObjectRef) -> Result<Option<VolumeState>> {
        let name = spec.backend_name.as_str();
        let stat = match self.stat(name, true) {
            Ok(stat) => stat,
            Err(ProviderError::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        adopt_or_conflict(
            object,
            record::of(&stat.meta).as_ref(),
            || {
                format!(
                    "image `{}` exists but is not managed by blockform (no `{META_KEY}` image metadata with \
                     `\"managed_by\": \"{}\"`)",
                    self.cluster.image_spec(name),
                    OWNER
                )
            },
            || Ok(stat.size),
            |size| *size,
            size_bytes,
        )?;
        let record = Record::owned(spec.properties.clone(), Some(spec.volume_type.clone()));
        self.set_record_meta(name, &record)?;
        self.observe(name).map(Some)
    }
}

impl StorageProvider for CephProvider {
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
            qos_backend: true,
            images: true,
        }
    }

    /// One read of the whole pool (see [`crate::pool`]): sizes, snapshots with their times,
    /// the `blockform` record and the `rbd_qos_*` settings of every image, so a change made
    /// with `rbd` outside blockform (`resize`, `snap rm`, `image-meta set`, `config image
    /// set`) is seen like any other.
    fn refresh(&self, backend_names: &[String]) -> Result<Vec<VolumeState>> {
        for name in backend_names {
            validate_backend_name(name)?;
        }
        let listing = self.list_pool()?;
        Ok(backend_names
            .iter()
            .filter_map(|name| Some(volume_state(name, listing.get(name)?)))
            .collect())
    }

    /// Images that carry blockform's marker or the `volume-` prefix, with their snapshots
    /// (Cinder names its images `volume-` too: they are listed, as not owned). An image whose
    /// create was interrupted after its rename is owned once the create is run again.
    fn inventory(&self) -> Result<Vec<InventoryItem>> {
        let listing = self.list_pool()?;
        let mut names: Vec<&String> = listing.keys().collect();
        names.sort();
        let mut items = Vec::new();
        for name in names {
            let listed = &listing[name];
            let owned = record::of(&listed.meta).is_some_and(|record| record.is_owned());
            let volume_like = name.starts_with(VOLUME_PREFIX) && !name.ends_with(PARTIAL_SUFFIX);
            if !owned && !volume_like {
                continue;
            }
            items.push(InventoryItem {
                backend_name: name.clone(),
                kind: ObjectKind::Volume,
                volume_backend_name: None,
                size_bytes: listed.size_bytes,
                owned,
            });
            items.extend(
                listed
                    .snapshots
                    .iter()
                    .filter(|s| !is_internal_snapshot(&s.name))
                    .map(|snapshot| InventoryItem {
                        backend_name: snapshot.name.clone(),
                        kind: ObjectKind::Snapshot,
                        volume_backend_name: Some(name.clone()),
                        size_bytes: snapshot.size_bytes,
                        owned: owned && snapshot.name.starts_with("snapshot-"),
                    }),
            );
        }
        Ok(items)
    }

    /// The pool's `max_avail` from `ceph df` is what can still be written; the images' sizes
    /// are what is promised (images are thin).
    fn capacity(&self) -> Result<Capacity> {
        let pool = ObjectRef::new(ObjectKind::Pool, self.cluster.pool());
        let output = self.cluster.run(Tool::Ceph, &["df", "--format", "json"], &pool)?;
        let usage = output::parse_pool_usage(&output.stdout, self.cluster.pool())
            .map_err(|message| self.unreadable(&message))?
            .ok_or_else(|| self.unreadable("the pool does not exist (`ceph df` does not list it)"))?;
        let provisioned_bytes = self.provisioned_bytes()?;
        Ok(Capacity {
            total_bytes: usage.bytes_used.saturating_add(usage.max_avail),
            free_bytes: usage.max_avail,
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
        let source_bytes = self.source_size(&spec.source, name)?;
        if source_bytes > size_bytes {
            return Err(invalid_state(
                &object,
                format!(
                    "its source holds {}, more than the requested {}",
                    size_text(source_bytes),
                    size_text(size_bytes)
                ),
            ));
        }
        self.enforce_capacity(&object, size_bytes)?;

        let partial = format!("{name}{PARTIAL_SUFFIX}");
        let record = Record::owned(spec.properties.clone(), Some(spec.volume_type.clone()));
        let source_volume = match &spec.source {
            VolumeSource::Volume { backend_name } => Some(backend_name.as_str()),
            _ => None,
        };
        let built = match self.build_image(spec, &partial, size_bytes, source_bytes) {
            // A partial image is what an interrupted attempt left behind: start over.
            Err(ProviderError::Conflict { .. }) => self
                .discard_interrupted(name, source_volume)
                .and_then(|()| self.build_image(spec, &partial, size_bytes, source_bytes)),
            built => built,
        };
        let built = built
            .and_then(|()| self.set_record_meta(&partial, &record))
            .and_then(|()| self.fault_point("record"))
            .and_then(|()| {
                let rename = Request::Rename {
                    image: &partial,
                    to: name,
                };
                self.call(&rename, &object).map_err(|error| match error {
                    ProviderError::Conflict { object, command, .. } => ProviderError::Conflict {
                        object,
                        reason: "an image of that name appeared while it was being created".to_owned(),
                        command,
                    },
                    other => other,
                })
            });
        if let Err(error) = built {
            // Undo what this attempt made: no partial image, no temporary snapshot stays.
            return Err(self.undo_create(name, &spec.source, false, error));
        }
        if let Err(error) = self.fault_point("rename") {
            return Err(self.undo_create(name, &spec.source, true, error));
        }
        self.add_provisioned(size_bytes);
        Ok(VolumeState {
            backend_name: name.to_owned(),
            properties: spec.properties.clone(),
            virtual_size_bytes: size_bytes,
            allocated_bytes: None,
            status: VolumeStatus::Available,
            snapshots: Vec::new(),
            qos: QosSpecs::default(),
        })
    }

    /// `rbd resize` to the new size, never with `--allow-shrink`.
    fn extend_volume(&self, backend_name: &str, new_size_gib: u64) -> Result<VolumeState> {
        validate_backend_name(backend_name)?;
        let object = ObjectRef::volume(backend_name);
        let new_bytes = new_size_gib
            .checked_mul(GIB)
            .ok_or_else(|| invalid_state(&object, format!("{new_size_gib} GiB is too large")))?;
        let current_bytes = self.size_of(backend_name, None, &object)?;
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
        if new_bytes > current_bytes {
            self.enforce_capacity(&object, new_bytes - current_bytes)?;
            self.call(
                &Request::Resize {
                    image: backend_name,
                    size: new_bytes,
                },
                &object,
            )?;
            self.add_provisioned(new_bytes - current_bytes);
        }
        self.observe(backend_name)
    }

    /// Also takes over an image that had no record (an import): it then carries the marker.
    fn update_volume_metadata(
        &self,
        backend_name: &str,
        properties: &VolumeProperties,
        volume_type: Option<&str>,
    ) -> Result<VolumeState> {
        validate_backend_name(backend_name)?;
        let volume_type = match volume_type {
            Some(volume_type) => Some(volume_type.to_owned()),
            None => record::of(&self.image_meta(backend_name)?).and_then(|record| record.volume_type),
        };
        self.set_record_meta(backend_name, &Record::owned(properties.clone(), volume_type))?;
        self.observe(backend_name)
    }

    /// RBD images, which any host that reaches the cluster opens.
    fn planned_disk(&self, volume_backend_name: &str) -> Option<DiskSource> {
        crate::disk::rbd_source(&self.config, volume_backend_name).ok()
    }

    /// The RBD image, reached through the monitors of the cluster configuration with the
    /// keyring referenced, valid on any host.
    fn connect(&self, volume_backend_name: &str, host: &str) -> Result<DiskSource> {
        let _ = host;
        validate_backend_name(volume_backend_name)?;
        self.stat(volume_backend_name, false)?;
        crate::disk::rbd_source(&self.config, volume_backend_name)
    }

    /// Deletes the image after its snapshots (protected ones are unprotected after their
    /// clones are flattened); a clone's temporary source snapshot goes with it.
    fn delete_volume(&self, backend_name: &str) -> Result<()> {
        validate_backend_name(backend_name)?;
        // A clone made with flatten_clones = false from a volume keeps a temporary snapshot of
        // its source, which goes with it.
        let stat = match self.stat(backend_name, false) {
            Ok(stat) => stat,
            Err(ProviderError::NotFound { .. }) => return Ok(()),
            Err(error) => return Err(error),
        };
        self.remove_image_with(backend_name, &stat.snapshots)?;
        if let Some(parent) = stat.parent
            && self.is_own_source_snapshot(&parent, backend_name)
        {
            self.remove_snapshot(&parent.image, &parent.snapshot, true)?;
        }
        Ok(())
    }

    /// Removes the image `NAME.partial` an interrupted create was building and the temporary
    /// snapshot `NAME.source` it took of the volume it cloned, wherever in the pool that is.
    fn discard_interrupted_create(&self, backend_name: &str) -> Result<()> {
        validate_backend_name(backend_name)?;
        self.discard_interrupted(backend_name, None)
    }

    fn open_reader(&self, target: &ReadTarget) -> Result<Box<dyn VolumeReader>> {
        let name = target.volume_backend_name.as_str();
        validate_backend_name(name)?;
        let (spec, object) = match &target.snapshot_backend_name {
            Some(snapshot) => {
                validate_backend_name(snapshot)?;
                (
                    self.cluster.snapshot_spec(name, snapshot),
                    ObjectRef::snapshot(snapshot),
                )
            }
            None => (self.cluster.image_spec(name), ObjectRef::volume(name)),
        };
        let size_bytes = self.size_of(name, target.snapshot_backend_name.as_deref(), &object)?;
        Ok(Box::new(ExportReader::new(
            self.cluster.clone(),
            spec,
            object,
            size_bytes,
        )))
    }

    fn open_writer(&self, backend_name: &str) -> Result<Box<dyn VolumeWriter>> {
        validate_backend_name(backend_name)?;
        let object = ObjectRef::volume(backend_name);
        let spec = self.cluster.image_spec(backend_name);
        let size_bytes = self.size_of(backend_name, None, &object)?;
        Ok(Box::new(ImportDiffWriter::open(
            self.cluster.clone(),
            spec,
            object,
            size_bytes,
        )?))
    }

    fn create_snapshot(&self, spec: &SnapshotSpec) -> Result<SnapshotState> {
        let volume = spec.volume_backend_name.as_str();
        let name = spec.backend_name.as_str();
        validate_backend_name(volume)?;
        validate_backend_name(name)?;
        let find = |snapshots: Vec<SnapshotInfo>| {
            snapshots
                .into_iter()
                .find(|snapshot| snapshot.name == name)
                .map(|snapshot| snapshot_state(volume, snapshot.name, snapshot.size, snapshot.created_at_unix_secs))
        };
        if let Some(state) = find(self.snapshots(volume)?) {
            return Ok(state);
        }
        self.call(
            &Request::SnapCreate {
                image: volume,
                snapshot: name,
            },
            &ObjectRef::snapshot(name),
        )?;
        find(self.snapshots(volume)?).ok_or_else(|| {
            self.unreadable(&format!(
                "snapshot `{}` was created but the image does not list it",
                self.cluster.snapshot_spec(volume, name)
            ))
        })
    }

    /// Flattens the snapshot's clones and unprotects it first when it is protected.
    fn delete_snapshot(&self, volume_backend_name: &str, snapshot_backend_name: &str) -> Result<()> {
        validate_backend_name(volume_backend_name)?;
        validate_backend_name(snapshot_backend_name)?;
        let snapshots = match self.snapshots(volume_backend_name) {
            Ok(snapshots) => snapshots,
            Err(ProviderError::NotFound { .. }) => Vec::new(),
            Err(error) => return Err(error),
        };
        if let Some(snapshot) = snapshots.iter().find(|s| s.name == snapshot_backend_name) {
            self.remove_snapshot(volume_backend_name, snapshot_backend_name, snapshot.protected)?;
        }
        Ok(())
    }

    /// Sets exactly the `rbd_qos_*` settings `specs` asks for and removes the others.
    fn apply_qos(&self, backend_name: &str, specs: &QosSpecs) -> Result<()> {
        validate_backend_name(backend_name)?;
        self.write_qos(backend_name, specs)
    }

    fn export_image(&self, spec: &ImageExportSpec) -> Result<ExportedImage> {
        let name = spec.volume_backend_name.as_str();
        validate_backend_name(name)?;
        if spec.snapshot_backend_name.is_some() {
            return Err(ProviderError::Unsupported {
                provider_kind: self.kind(),
                provider_name: self.name().to_owned(),
                operation: "export_image of a snapshot".to_owned(),
            });
        }
        let object = ObjectRef::volume(name);
        let image_spec = self.cluster.image_spec(name);
        let size_bytes = self.size_of(name, None, &object)?;
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
        let partial = parent.join(format!(".{}.partial", file_name.to_string_lossy()));
        let raw = match spec.format {
            ImageFormat::Raw => partial.clone(),
            ImageFormat::Qcow2 => parent.join(format!(".{}.raw.partial", file_name.to_string_lossy())),
        };
        for path in [&partial, &raw] {
            remove_file_if_exists(path)?;
        }
        let exported = self
            .rbd_data(&["export", "--no-progress", &image_spec, utf8(&raw)?], &object)
            .and_then(|_| match spec.format {
                ImageFormat::Raw => Ok(()),
                ImageFormat::Qcow2 => {
                    blockform_provider::toolkit::raw_to_qcow2(utf8(&raw)?, utf8(&partial)?, DATA_TIMEOUT)
                }
            });
        if spec.format == ImageFormat::Qcow2 {
            let _ = remove_file_if_exists(&raw);
        }
        if let Err(error) = exported {
            let _ = remove_file_if_exists(&partial);
            return Err(error);
        }
        fs::rename(&partial, &destination)
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

    /// A snapshot named `marker_name`; taking it again is a no-op.
    fn create_change_marker(&self, backend_name: &str, marker_name: &str) -> Result<ChangeMarker> {
        validate_backend_name(backend_name)?;
        validate_backend_name(marker_name)?;
        let marker = ChangeMarker::Snapshot {
            backend_name: marker_name.to_owned(),
        };
        if self.snapshots(backend_name)?.iter().any(|s| s.name == marker_name) {
            return Ok(marker);
        }
        self.call(
            &Request::SnapCreate {
                image: backend_name,
                snapshot: marker_name,
            },
            &ObjectRef::new(ObjectKind::ChangeMarker, marker_name),
        )?;
        self.fault_point("marker")?;
        Ok(marker)
    }

    fn delete_change_marker(&self, backend_name: &str, marker: &ChangeMarker) -> Result<()> {
        // This provider only makes snapshots; any other marker was never created here.
        let ChangeMarker::Snapshot { backend_name: snapshot } = marker else {
            validate_backend_name(backend_name)?;
            return Ok(());
        };
        self.delete_snapshot(backend_name, snapshot)
    }

    /// The backup markers among the image's snapshots (`blockform-BACKUP_ID`), so recovery can
    /// remove those of backups that were killed before they existed; a missing image has none.
    fn change_markers(&self, backend_name: &str) -> Result<Vec<ChangeMarker>> {
        validate_backend_name(backend_name)?;
        let snapshots = match self.snapshots(backend_name) {
            Ok(snapshots) => snapshots,
            Err(ProviderError::NotFound { .. }) => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        Ok(snapshots
            .into_iter()
            .filter(|snapshot| is_change_marker(&snapshot.name))
            .map(|snapshot| ChangeMarker::Snapshot {
                backend_name: snapshot.name,
            })
            .collect())
    }

    /// `rbd diff --format json [--from-snap MARKER] IMAGE[@SNAPSHOT]`: without a marker, the
    /// allocated ranges; with a snapshot marker, the ranges written since it. A marker that is
    /// gone, or of another kind, gives the whole volume to be hashed.
    fn changed_extents(&self, target: &ReadTarget, since: Option<&ChangeMarker>) -> Result<ChangedExtents> {
        let name = target.volume_backend_name.as_str();
        validate_backend_name(name)?;
        let (spec, object) = match &target.snapshot_backend_name {
            Some(snapshot) => {
                validate_backend_name(snapshot)?;
                (
                    self.cluster.snapshot_spec(name, snapshot),
                    ObjectRef::snapshot(snapshot),
                )
            }
            None => (self.cluster.image_spec(name), ObjectRef::volume(name)),
        };
        let size_bytes = self.size_of(name, target.snapshot_backend_name.as_deref(), &object)?;
        let mut args = vec!["diff", "--format", "json"];
        match since {
            None => {}
            Some(ChangeMarker::Snapshot { backend_name: marker }) => {
                validate_backend_name(marker)?;
                if !self.snapshots(name)?.iter().any(|s| &s.name == marker) {
                    return Ok(ChangedExtents::whole_volume(size_bytes));
                }
                args.extend(["--from-snap", marker.as_str()]);
            }
            Some(ChangeMarker::DirtyBitmap { .. }) => return Ok(ChangedExtents::whole_volume(size_bytes)),
        }
        args.push(&spec);
        let output = self.rbd(&args, &object)?;
        let entries = output::parse_diff(&output.stdout).map_err(|message| self.unreadable(&message))?;
        let mut changed = ChangedExtents {
            source: crate::RBD_DIFF,
            volume_size_bytes: size_bytes,
            extents: entries
                .into_iter()
                .map(|entry| Extent {
                    offset: entry.offset,
                    length: entry.length,
                })
                .collect(),
        };
        changed.normalize();
        Ok(changed)
    }
}

/// The temporary snapshot of its source a volume cloned from a volume is made from.
fn source_snapshot(name: &str) -> String {
    format!("{name}{SOURCE_SNAPSHOT_SUFFIX}")
}

/// The properties refresh reports: the record's, or just the image name without one.
fn properties_of(name: &str, record: Option<&Record>) -> VolumeProperties {
    record.map_or_else(
        || VolumeProperties {
            name: name.to_owned(),
            ..VolumeProperties::default()
        },
        |record| record.properties.clone(),
    )
}

/// What a volume is, from its image: size, record, snapshots (blockform's own left out) and
/// QoS settings.
fn volume_state(name: &str, image: &ListedImage) -> VolumeState {
    VolumeState {
        backend_name: name.to_owned(),
        properties: properties_of(name, record::of(&image.meta).as_ref()),
        virtual_size_bytes: image.size_bytes,
        allocated_bytes: None,
        status: VolumeStatus::Available,
        snapshots: image
            .snapshots
            .iter()
            .filter(|snapshot| !is_internal_snapshot(&snapshot.name))
            .map(|snapshot| {
                snapshot_state(
                    name,
                    snapshot.name.clone(),
                    snapshot.size_bytes,
                    snapshot.created_at_unix_secs,
                )
            })
            .collect(),
        qos: qos::from_image_meta(&image.meta),
    }
}

/// Whether a snapshot is blockform's own rather than one of the volume's: a backup's change
/// marker, or the temporary source of a volume cloned from a volume. Refresh, observation and
/// inventory leave these out (deleting the volume removes them with it).
fn is_internal_snapshot(name: &str) -> bool {
    is_change_marker(name) || name.ends_with(SOURCE_SNAPSHOT_SUFFIX)
}

fn snapshot_state(volume: &str, name: String, size_bytes: u64, created_at_unix_secs: u64) -> SnapshotState {
    SnapshotState {
        backend_name: name,
        volume_backend_name: volume.to_owned(),
        size_bytes,
        created_at_unix_secs,
        status: SnapshotStatus::Available,
    }
}

/// Why `requested_bytes` do not fit, or `None` when they do: at most the free space times
/// the ratio, and with what is provisioned at most the total times the ratio.
pub fn shortfall(capacity: &Capacity, requested_bytes: u64, oversubscription: f64) -> Option<String> {
    #[expect(clippy::cast_precision_loss, reason = "a rounded figure for people to read")]
    let gib = |bytes: u64| format!("{:.1} GiB", bytes as f64 / 1_073_741_824.0);
    let message = match capacity.shortfall(requested_bytes, oversubscription)? {
        Shortfall::Free { .. } => format!(
            "{} do not fit: the pool has {} available (`ceph df` max_avail), with an oversubscription of {oversubscription}",
            gib(requested_bytes),
            gib(capacity.free_bytes)
        ),
        Shortfall::Provisioned { .. } => format!(
            "{} do not fit: {} are already provisioned of {}, with an oversubscription of {oversubscription}",
            gib(requested_bytes),
            gib(capacity.provisioned_bytes),
            gib(capacity.total_bytes)
        ),
    };
    Some(message)
}

/// The size of an image file: its length for raw, its virtual size for qcow2.
fn image_file_size(path: &Path, format: ImageFormat) -> Result<u64> {
    let path =
        std::path::absolute(path).map_err(|error| io_failure(&format!("resolve `{}`", path.display()), &error))?;
    let image = ObjectRef::new(ObjectKind::Image, path.display().to_string());
    let metadata = match fs::metadata(&path) {
        Ok(metadata) if metadata.is_file() => metadata,
        Ok(_) => return Err(invalid_state(&image, "it is not a regular file".to_owned())),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(ProviderError::not_found(image)),
        Err(error) => return Err(io_failure(&format!("read `{}`", path.display()), &error)),
    };
    match format {
        ImageFormat::Raw => Ok(metadata.len()),
        ImageFormat::Qcow2 => {
            let output =
                CommandRunner::local().run(&["qemu-img", "info", "--output", "json", "-f", "qcow2", utf8(&path)?])?;
            serde_json::from_slice::<serde_json::Value>(&output.stdout)
                .ok()
                .and_then(|info| info.get("virtual-size").and_then(serde_json::Value::as_u64))
                .ok_or_else(|| invalid_state(&image, "`qemu-img info` reports no virtual size".to_owned()))
        }
    }
}

fn remove_file_if_exists(path: &PathBuf) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_failure(&format!("remove `{}`", path.display()), &error)),
    }
}

/// A size for messages: whole GiB when it is a multiple, bytes otherwise.
fn utf8(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| ProviderError::InvalidName {
        name: path.to_string_lossy().into_owned(),
        reason: "a path passed to rbd must be valid UTF-8".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_markers_and_temporary_clone_sources_are_not_volume_snapshots() {
        assert!(is_internal_snapshot("blockform-backup-1"));
        assert!(is_internal_snapshot("volume-2.source"));
        assert!(!is_internal_snapshot("snapshot-1"));
        assert!(!is_internal_snapshot("nightly"));
    }

    #[test]
    fn sizes_read_as_gib_when_whole() {
        assert_eq!(size_text(3 * GIB), "3 GiB");
        assert_eq!(size_text(GIB + 1), "1073741825 bytes");
    }

    #[test]
    fn shortfalls_compare_against_max_avail_and_the_provisioned_total() {
        let capacity = Capacity {
            total_bytes: 10 * GIB,
            free_bytes: 9 * GIB,
            provisioned_bytes: 5 * GIB,
            thin_provisioned: true,
        };
        assert_eq!(shortfall(&capacity, 4 * GIB, 1.0), None);
        assert_eq!(
            shortfall(&capacity, 100 * GIB, 1.0).unwrap(),
            "100.0 GiB do not fit: the pool has 9.0 GiB available (`ceph df` max_avail), with an oversubscription of 1"
        );
        assert_eq!(
            shortfall(&capacity, 6 * GIB, 1.0).unwrap(),
            "6.0 GiB do not fit: 5.0 GiB are already provisioned of 10.0 GiB, with an oversubscription of 1"
        );
        assert_eq!(shortfall(&capacity, 100 * GIB, 20.0), None);
    }

    #[test]
    fn a_missing_conf_file_is_refused_when_the_provider_is_built() {
        let mut config = CephConfig::new("rbd");
        config.conf = Some("/nonexistent/ceph.conf".into());
        let error = CephProvider::new("ssd", config).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the `conf` file `/nonexistent/ceph.conf` of ceph provider `ssd` cannot be read: No such file or directory (os error 2)"
        );
    }
}
