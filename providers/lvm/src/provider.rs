//! `LvmProvider`: the `StorageProvider` implementation over an LVM volume group, thick (linear
//! LVs) or thin (thin volumes of the block's `thin_pool`), on this machine or on a host
//! reached over ssh (see [`crate::transport`]).
//!
//! Each volume is the LV of its backend name, carrying blockform's record in its tags (see
//! [`crate::record`]); snapshots are LVM snapshots of it (thin snapshots in a thin pool, copy-on-write
//! snapshots of `snapshot_size` for thick volumes) tagged `bf.snapshot`. Refresh, inventory
//! and capacity read one `lvs` report of the whole volume group (and `vgs` for free space of
//! thick groups), never one call per volume, so an `lvresize`, `lvremove`, `lvcreate -s` or
//! `lvchange --addtag` made outside blockform is seen by the next refresh.
//!
//! Crash safety of `create_volume`: an empty volume, and a thin clone of its source's size,
//! are one `lvcreate` that sets the record tags with the LV, so the LV exists complete and
//! marked or not at all. Every other create builds the LV as `NAME.partial` (tagged
//! `bf.partial`: a thick copy, a clone that grows, an image written into it), and renames it
//! to `NAME` last. Running the same create again adopts a finished volume and starts a partial
//! one over.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use blockform_provider::toolkit::{adopt_or_conflict, invalid_state, size_text};
use blockform_provider::{
    Capabilities, Capacity, CommandOutput, CommandRunner, DiskSource, ExportedImage, GIB, ImageExportSpec, ImageFormat,
    InventoryItem, ObjectKind, ObjectRef, OwnershipRecord, ProviderConfig, ProviderError, ProviderKind, QosSpecs,
    ReadTarget, Result, SnapshotSpec, SnapshotState, SnapshotStatus, StorageProvider, ValidOn, VolumeProperties,
    VolumeReader, VolumeSource, VolumeSpec, VolumeState, VolumeStatus, VolumeWriter, validate_backend_name,
};

use blockform_provider::{ChangeMarker, ChangedExtents, Extent, is_change_marker};

use crate::config::{CapacityCheck, ConfigError, KIND, LvmConfig};
use crate::data::{LvReader, LvWriter};
use crate::fault::Fault;
use crate::record::{self, PARTIAL_TAG, SNAPSHOT_TAG};
use crate::report::{self, LV_FIELDS, Lv, VG_FIELDS};
use crate::transport::Host;

/// Volumes larger than this cannot be turned into images (SPEC: image from a volume).
pub const MAX_IMAGE_EXPORT_BYTES: u64 = 300 * GIB;

/// The prefix of the volume names blockform creates; inventory lists such LVs as volumes.
pub const VOLUME_PREFIX: &str = "volume-";

/// The suffix of an LV being built.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// The block size of data copies.
const COPY_BLOCK: &str = "4M";

/// How long a listing's provisioned total serves capacity checks.
const LISTING_MAX_AGE: Duration = Duration::from_secs(60);

/// The LVM provider.
#[derive(Debug)]
pub struct LvmProvider {
    name: String,
    config: LvmConfig,
    host: Arc<Host>,
    /// The latest listing of the volume group and when it was taken, for capacity checks
    /// right after a refresh (plan) or during an apply.
    listed: Mutex<Option<(Instant, Vec<Lv>)>>,
    /// A fault injected for a crash test (see [`crate::fault`]); `None` in normal use.
    fault: Option<Fault>,
    /// Held while the thin pool's metadata snapshot is reserved.
    metadata_snapshot: Mutex<()>,
}

impl LvmProvider {
    /// A provider named `name` over `config.volume_group`.
    pub fn new(name: impl Into<String>, config: LvmConfig) -> Result<Self, ConfigError> {
        let name = name.into();
        config.validate(&name)?;
        let fault = crate::fault::from_env().map_err(|reason| ConfigError::Fault {
            provider: name.clone(),
            reason,
        })?;
        let host = Arc::new(Host::new(&name, &config)?);
        Ok(Self {
            name,
            config,
            host,
            listed: Mutex::new(None),
            fault,
            metadata_snapshot: Mutex::new(()),
        })
    }

    /// A provider from an evaluated `provider "lvm" "NAME" { ... }` block.
    pub fn from_config(config: &ProviderConfig) -> Result<Self, ConfigError> {
        let lvm = LvmConfig::from_provider_config(config)?;
        Self::new(config.name.clone(), lvm)
    }

    /// The same provider with a fault injected at one step, for crash tests (see
    /// [`crate::fault`]); `None` removes one the environment set.
    #[must_use]
    pub fn with_fault(mut self, fault: Option<Fault>) -> Self {
        self.fault = fault;
        self
    }

    /// The settings it was built from.
    pub fn config(&self) -> &LvmConfig {
        &self.config
    }

    /// The argv this machine runs for an lvm command (`ssh ... -- 'lvs' ...`), for tests and
    /// tools that check what the provider runs.
    pub fn process_argv(&self, words: &[&str]) -> Vec<String> {
        self.host.process_argv(words)
    }

    /// Runs a command on the provider's host as the provider does (through its master
    /// connection), whatever its exit status: for tests that set up and check LVs.
    pub fn run_on_host(&self, words: &[&str]) -> Result<CommandOutput> {
        self.host.output(words)
    }

    fn fault_point(&self, step: &str) -> Result<()> {
        self.fault.as_ref().map_or(Ok(()), |fault| fault.at(step))
    }

    fn vg(&self) -> &str {
        &self.config.volume_group
    }

    /// `VG/LV`.
    fn path(&self, lv: &str) -> String {
        format!("{}/{lv}", self.vg())
    }

    /// The device node of an LV on its host.
    fn device(&self, lv: &str) -> String {
        format!("/dev/{}/{lv}", self.vg())
    }

    /// Runs an lvm command about `object`; a failure becomes the error its stderr says.
    fn lvm(&self, words: &[&str], object: &ObjectRef) -> Result<CommandOutput> {
        let output = self.host.output(words)?;
        if output.success() {
            return Ok(output);
        }
        Err(self.failure(self.host.argv(words), &output, object))
    }

    /// The error of a failed command: what lvm's (or ssh's, or sudo's) message says.
    fn failure(&self, argv: Vec<String>, output: &CommandOutput, object: &ObjectRef) -> ProviderError {
        let stderr = output.stderr.as_str();
        let command = Some(Box::new(self.host.context(argv, output)));
        let here = self.location();
        if self.host.remote().is_some() && output.status == Some(255) {
            return ProviderError::Transient {
                reason: format!("lvm provider `{}`: the LVM host cannot be reached over ssh", self.name),
                command,
            };
        }
        if stderr.contains("a password is required") || stderr.contains("sudo:") {
            return ProviderError::Fatal {
                reason: format!(
                    "lvm provider `{}` ({here}): sudo refused to run lvm without a password (allow the user `NOPASSWD` \
                     for the lvm commands, or log in as root)",
                    self.name
                ),
                command,
            };
        }
        if stderr.contains("Permission denied")
            || stderr.contains("must be root")
            || stderr.contains("Running as a non-root user")
        {
            return ProviderError::Fatal {
                reason: format!(
                    "lvm provider `{}` ({here}): permission denied (set `sudo = true` or log in as root)",
                    self.name
                ),
                command,
            };
        }
        if stderr.contains(&format!("Volume group \"{}\" not found", self.vg())) {
            return ProviderError::Fatal {
                reason: format!(
                    "lvm provider `{}`: the volume group `{}` does not exist on the host (check `volume_group`; `vgs` lists the groups)",
                    self.name,
                    self.vg()
                ),
                command,
            };
        }
        if stderr.contains("Failed to find logical volume") || stderr.contains("not found") {
            return ProviderError::NotFound {
                object: object.clone(),
                command,
            };
        }
        if stderr.contains("already exists") {
            return ProviderError::Conflict {
                object: object.clone(),
                reason: "an LV of that name exists".to_owned(),
                command,
            };
        }
        if stderr.contains("Insufficient free space")
            || stderr.contains("free space in thin pool")
            || stderr.contains("Insufficient suitable allocatable extents")
            || stderr.contains("thin pool") && stderr.contains("full")
        {
            return ProviderError::InvalidState {
                object: object.clone(),
                reason: format!("lvm provider `{}` ({here}): not enough free space", self.name),
                command,
            };
        }
        if stderr.contains("in use") || stderr.contains("open logical volume") || stderr.contains("is open") {
            return ProviderError::Busy {
                object: object.clone(),
                reason: format!("lvm provider `{}` ({here}): the LV is open on the host", self.name),
                command,
            };
        }
        ProviderError::Fatal {
            reason: format!("lvm provider `{}` ({here}): command failed", self.name),
            command,
        }
    }

    fn location(&self) -> String {
        self.config.location()
    }

    /// An error about output the provider could not read.
    fn unreadable(&self, message: &str) -> ProviderError {
        ProviderError::fatal(format!("lvm provider `{}` ({}): {message}", self.name, self.location()))
    }

    /// Lists every LV of the volume group in one `lvs`.
    fn list(&self) -> Result<Vec<Lv>> {
        let vg = ObjectRef::new(ObjectKind::VolumeGroup, self.vg());
        let output = self.lvm(
            &[
                "lvs",
                "--reportformat",
                "json",
                "--units",
                "b",
                "--nosuffix",
                "-o",
                LV_FIELDS,
                self.vg(),
            ],
            &vg,
        )?;
        let lvs = report::parse_lvs(&output.stdout).map_err(|message| self.unreadable(&message))?;
        *self.listed.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), lvs.clone()));
        Ok(lvs)
    }

    /// One LV, or `None` when it does not exist.
    fn find(&self, lv: &str) -> Result<Option<Lv>> {
        Ok(self.list()?.into_iter().find(|listed| listed.name == lv))
    }

    /// A recent listing, or a new one.
    fn recent(&self) -> Result<Vec<Lv>> {
        if let Some((taken, lvs)) = self.listed.lock().unwrap_or_else(PoisonError::into_inner).as_ref()
            && taken.elapsed() <= LISTING_MAX_AGE
        {
            return Ok(lvs.clone());
        }
        self.list()
    }

    /// Adds an LV this provider just created to the recent listing.
    fn note_created(&self, lv: Lv) {
        if let Some((_, lvs)) = self.listed.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
            lvs.push(lv);
        }
    }

    /// Forgets the listing after a change, so the next capacity check lists again.
    fn changed(&self) {
        *self.listed.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The thin pool of the block, checked to exist in `lvs`.
    fn thin_pool<'a>(&'a self, lvs: &[Lv]) -> Result<Option<&'a str>> {
        let Some(pool) = self.config.thin_pool.as_deref() else {
            return Ok(None);
        };
        if lvs.iter().any(|lv| lv.name == pool && lv.is_thin_pool()) {
            Ok(Some(pool))
        } else {
            Err(ProviderError::Fatal {
                reason: format!(
                    "lvm provider `{}`: the thin pool `{}` does not exist in the volume group (check `thin_pool`; `lvs {}` lists the LVs)",
                    self.name,
                    self.path(pool),
                    self.vg()
                ),
                command: None,
            })
        }
    }

    /// Refuses `requested_bytes` that do not fit when `capacity_check = "error"`.
    fn enforce_capacity(&self, object: &ObjectRef, requested_bytes: u64) -> Result<()> {
        if self.config.capacity_check != CapacityCheck::Error {
            return Ok(());
        }
        let capacity = self.capacity()?;
        if let Some(shortfall) = shortfall(&capacity, requested_bytes, self.oversubscription()) {
            return Err(invalid_state(
                object,
                format!(
                    "lvm provider `{}` ({}): {shortfall} (capacity_check = \"error\")",
                    self.name,
                    self.location()
                ),
            ));
        }
        Ok(())
    }

    /// The ratio thin pools may be promised beyond their size; thick groups promise nothing.
    fn oversubscription(&self) -> f64 {
        if self.config.thin_pool.is_some() {
            self.config.oversubscription
        } else {
            1.0
        }
    }

    /// The state of a volume from a listing of its group.
    fn volume_state(lv: &Lv, lvs: &[Lv]) -> VolumeState {
        let record = record::of(&lv.tags);
        let mut properties = record.as_ref().map_or_else(
            || VolumeProperties {
                name: lv.name.clone(),
                ..VolumeProperties::default()
            },
            |record| record.properties.clone(),
        );
        properties.tags = record::volume_tags(record.as_ref(), &lv.tags);
        let mut snapshots: Vec<SnapshotState> = lvs
            .iter()
            .filter(|other| is_snapshot_of(other, &lv.name))
            .map(|snapshot| snapshot_state(&lv.name, snapshot))
            .collect();
        snapshots.sort_by_key(|snapshot| (snapshot.created_at_unix_secs, snapshot.backend_name.clone()));
        VolumeState {
            backend_name: lv.name.clone(),
            properties,
            virtual_size_bytes: lv.size_bytes,
            allocated_bytes: lv.allocated_bytes(),
            status: VolumeStatus::Available,
            snapshots,
            qos: QosSpecs::default(),
        }
    }

    /// Observes one volume with a new listing.
    fn observe(&self, name: &str) -> Result<VolumeState> {
        let lvs = self.list()?;
        let lv = lvs
            .iter()
            .find(|lv| lv.name == name)
            .ok_or_else(|| ProviderError::not_found(ObjectRef::volume(name)))?;
        Ok(Self::volume_state(lv, &lvs))
    }

    /// The source LV of a create and whether it is a thin volume, checked to exist.
    fn source_lv(source: &VolumeSource, name: &str, lvs: &[Lv]) -> Result<Option<Lv>> {
        let (lv, object) = match source {
            VolumeSource::Empty | VolumeSource::ImageFile { .. } => return Ok(None),
            VolumeSource::Snapshot {
                volume_backend_name,
                snapshot_backend_name,
            } => {
                validate_backend_name(volume_backend_name)?;
                validate_backend_name(snapshot_backend_name)?;
                (
                    lv_name(snapshot_backend_name),
                    ObjectRef::snapshot(snapshot_backend_name),
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
                (backend_name.clone(), ObjectRef::volume(backend_name))
            }
        };
        let found = lvs.iter().find(|listed| listed.name == lv).cloned();
        let found = found.ok_or_else(|| ProviderError::not_found(object.clone()))?;
        if found.is_invalid_snapshot() {
            return Err(invalid_state(
                &object,
                "the copy-on-write snapshot overflowed and is invalid; its data is lost (give thick snapshots a larger `snapshot_size`)"
                    .to_owned(),
            ));
        }
        Ok(Some(found))
    }

    /// Returns the finished volume of an earlier attempt at the same create, if there is one.
    fn adopt(&self, spec: &VolumeSpec, size_bytes: u64, lvs: &[Lv]) -> Result<Option<VolumeState>> {
        let name = spec.backend_name.as_str();
        let Some(lv) = lvs.iter().find(|lv| lv.name == name) else {
            return Ok(None);
        };
        let object = ObjectRef::volume(name);
        adopt_or_conflict(
            &object,
            record::of(&lv.tags).as_ref(),
            || {
                format!(
                    "the LV `{}` exists but is not managed by blockform (it has no `bf.r00:` record tag)",
                    self.path(name)
                )
            },
            || Ok(lv.size_bytes),
            |size| *size,
            size_bytes,
        )?;
        let record = OwnershipRecord::owned(spec.properties.clone(), Some(spec.volume_type.clone()));
        self.retag(name, &lv.tags, &record::all_tags(&record))?;
        self.observe(name).map(Some)
    }

    /// Makes an LV's tags `wanted` (snapshot markers stay) in one `lvchange`.
    fn retag(&self, lv: &str, current: &[String], wanted: &[String]) -> Result<()> {
        let mut words: Vec<String> = vec!["lvchange".to_owned()];
        for tag in current {
            if !wanted.contains(tag) && tag != SNAPSHOT_TAG {
                words.extend(["--deltag".to_owned(), tag.clone()]);
            }
        }
        for tag in wanted {
            if !current.contains(tag) {
                words.extend(["--addtag".to_owned(), tag.clone()]);
            }
        }
        if words.len() == 1 {
            return Ok(());
        }
        words.push(self.path(lv));
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        self.lvm(&words, &ObjectRef::volume(lv))?;
        self.changed();
        Ok(())
    }

    /// `lvcreate` of an empty LV `lv` of `size_bytes` with `tags`: thin in the pool or linear.
    fn create_empty(&self, lv: &str, size_bytes: u64, tags: &[String], pool: Option<&str>) -> Result<()> {
        let size = format!("{size_bytes}b");
        let mut words: Vec<String> = ["lvcreate", "-q", "-y", "-n", lv].map(str::to_owned).to_vec();
        match pool {
            Some(pool) => words.extend(["-V".to_owned(), size, "--thinpool".to_owned(), self.path(pool)]),
            None => words.extend(["-L".to_owned(), size, "-Wy".to_owned(), "-Zy".to_owned()]),
        }
        for tag in tags {
            words.extend(["--addtag".to_owned(), tag.clone()]);
        }
        if pool.is_none() {
            words.push(self.vg().to_owned());
        }
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        self.lvm(&words, &ObjectRef::volume(lv))?;
        // The listing other creates start from learns of it without listing again.
        self.note_created(Lv {
            name: lv.to_owned(),
            size_bytes,
            tags: tags.to_vec(),
            attr: if pool.is_some() { "Vwi-a-tz--" } else { "-wi-a-----" }.to_owned(),
            origin: None,
            pool: pool.map(str::to_owned),
            data_percent: pool.map(|_| 0.0),
            created_at_unix_secs: 0,
            segtype: if pool.is_some() { "thin" } else { "linear" }.to_owned(),
            thin_id: None,
            chunk_bytes: None,
            discards: String::new(),
        });
        Ok(())
    }

    /// A writable thin snapshot `lv` of the thin LV `source`, active and without the
    /// activation skip flag, carrying `tags`.
    fn thin_clone(&self, source: &str, lv: &str, tags: &[String]) -> Result<()> {
        let mut words: Vec<String> = ["lvcreate", "-q", "-y", "-s", "-kn", "-ay", "-n", lv]
            .map(str::to_owned)
            .to_vec();
        for tag in tags {
            words.extend(["--addtag".to_owned(), tag.clone()]);
        }
        words.push(self.path(source));
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        self.lvm(&words, &ObjectRef::volume(lv))?;
        self.changed();
        Ok(())
    }

    /// Activates an LV for reading (thin snapshots skip activation unless told `-K`).
    fn activate(&self, lv: &Lv, object: &ObjectRef) -> Result<()> {
        // Thick LVs (and snapshots of them) are active from their creation; changing a CoW
        // snapshot's activation would ask about its origin.
        if !lv.is_thin() || lv.attr.chars().nth(4) == Some('a') {
            return Ok(());
        }
        self.lvm(&["lvchange", "-ay", "-K", &self.path(&lv.name)], object)
            .map(drop)
    }

    /// Copies the whole of `source` into the start of `target` on the host.
    fn copy(&self, source: &Lv, target: &str) -> Result<()> {
        self.activate(source, &ObjectRef::volume(&source.name))?;
        let words = [
            "dd".to_owned(),
            format!("if={}", self.device(&source.name)),
            format!("of={}", self.device(target)),
            format!("bs={COPY_BLOCK}"),
            "conv=fsync".to_owned(),
        ];
        let output = self.host.data_output(&words)?;
        if !output.success() {
            return Err(self.failure(self.host.argv(&words), &output, &ObjectRef::volume(target)));
        }
        Ok(())
    }

    /// The machine the volume group is on, named as hypervisors name theirs: the block's `host`,
    /// or this machine's host name.
    fn lvm_host(&self) -> ValidOn {
        ValidOn::Host(
            self.config
                .host
                .clone()
                .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned()),
        )
    }

    /// Zeros `length` bytes of an LV at `offset` on the host: `blkdiscard -z` where the host's
    /// has it (the device zeroes), else zeros written by `dd` from `/dev/zero`.
    fn clear(&self, lv: &str, offset: u64, length: u64) -> Result<()> {
        let device = self.device(lv);
        let script = format!(
            "blkdiscard -z -o {offset} -l {length} {device} 2>/dev/null || \
             dd if=/dev/zero of={device} bs=4M iflag=count_bytes oflag=seek_bytes seek={offset} count={length} \
             conv=notrunc,fsync 2>/dev/null"
        );
        let words = ["sh".to_owned(), "-c".to_owned(), script];
        let output = self.host.data_output(&words)?;
        if !output.success() {
            return Err(self.failure(self.host.argv(&words), &output, &ObjectRef::volume(lv)));
        }
        Ok(())
    }

    /// Removes an LV; a missing one is success.
    fn remove(&self, lv: &str, object: &ObjectRef) -> Result<()> {
        let removed = self.lvm(&["lvremove", "-q", "-y", &self.path(lv)], object);
        self.changed();
        match removed {
            Ok(_) | Err(ProviderError::NotFound { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Writes an image file into the start of `lv` (raw as it is, qcow2 converted first).
    fn write_image(&self, path: &Path, format: ImageFormat, lv: &str) -> Result<()> {
        let converted;
        let raw = match format {
            ImageFormat::Raw => path,
            ImageFormat::Qcow2 => {
                converted = std::env::temp_dir().join(format!("blockform-lvm-{lv}.raw"));
                CommandRunner::local()
                    .with_timeout(crate::transport::DATA_TIMEOUT)
                    .run(&[
                        "qemu-img",
                        "convert",
                        "-f",
                        "qcow2",
                        "-O",
                        "raw",
                        utf8(path)?,
                        utf8(&converted)?,
                    ])?;
                converted.as_path()
            }
        };
        let file = fs::File::open(raw)
            .map_err(|error| ProviderError::fatal(format!("cannot open `{}`: {error}", raw.display())));
        let result = file.and_then(|file| {
            let words = [
                "dd".to_owned(),
                format!("of={}", self.device(lv)),
                format!("bs={COPY_BLOCK}"),
                "iflag=fullblock".to_owned(),
                "conv=fsync".to_owned(),
            ];
            let (mut command, argv) = self.host.command(&words)?;
            let output = command
                .stdin(Stdio::from(file))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .map_err(|error| ProviderError::fatal(format!("cannot start `ssh` to write the image: {error}")))?;
            let output = CommandOutput {
                stdout: Vec::new(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
                status: output.status.code(),
            };
            if output.success() {
                Ok(())
            } else {
                Err(self.failure(argv, &output, &ObjectRef::volume(lv)))
            }
        });
        if format == ImageFormat::Qcow2 {
            let _ = fs::remove_file(raw);
        }
        result
    }

    /// Builds `NAME.partial` from the spec's source, `size_bytes` long, tagged with the
    /// record and the partial marker.
    fn build_partial(
        &self,
        spec: &VolumeSpec,
        source: Option<&Lv>,
        size_bytes: u64,
        pool: Option<&str>,
        tags: &[String],
        source_bytes: u64,
    ) -> Result<()> {
        let partial = format!("{}{PARTIAL_SUFFIX}", spec.backend_name);
        let mut tags = tags.to_vec();
        tags.push(PARTIAL_TAG.to_owned());
        match source {
            Some(source) if source.is_thin() && pool.is_some_and(|pool| source.pool.as_deref() == Some(pool)) => {
                self.thin_clone(&source.name, &partial, &tags)?;
                self.fault_point("partial")?;
            }
            Some(source) => {
                self.create_empty(&partial, size_bytes, &tags, pool)?;
                self.fault_point("partial")?;
                self.copy(source, &partial)?;
                self.fault_point("copy")?;
            }
            None => {
                self.create_empty(&partial, size_bytes, &tags, pool)?;
                self.fault_point("partial")?;
                if let VolumeSource::ImageFile { path, format } = &spec.source {
                    self.write_image(path, *format, &partial)?;
                    self.fault_point("copy")?;
                }
            }
        }
        if pool.is_none() && self.config.clears_thick_volumes() && source_bytes < size_bytes {
            self.clear(&partial, source_bytes, size_bytes - source_bytes)?;
            self.fault_point("clear")?;
        }
        let built = self
            .find(&partial)?
            .ok_or_else(|| ProviderError::not_found(ObjectRef::volume(&partial)))?;
        if built.size_bytes < size_bytes {
            self.lvm(
                &["lvextend", "-q", "-L", &format!("{size_bytes}b"), &self.path(&partial)],
                &ObjectRef::volume(&spec.backend_name),
            )?;
            self.fault_point("extend")?;
        }
        self.lvm(
            &["lvchange", "--deltag", PARTIAL_TAG, &self.path(&partial)],
            &ObjectRef::volume(&spec.backend_name),
        )?;
        self.lvm(
            &["lvrename", "-q", self.vg(), &partial, &spec.backend_name],
            &ObjectRef::volume(&spec.backend_name),
        )?;
        self.changed();
        self.fault_point("rename")
    }

    /// The ranges that differ between two thin devices of `pool` (or the mapped ranges of one
    /// device compared with itself), from `thin_delta` on a metadata snapshot of the pool,
    /// reserved before and released after in the same remote command. Backups of one provider
    /// take turns: a pool has one metadata snapshot.
    fn thin_delta(&self, pool: &str, from: u64, to: u64, object: &ObjectRef) -> Result<Vec<(u64, u64)>> {
        let _turn = self.metadata_snapshot.lock().unwrap_or_else(PoisonError::into_inner);
        let tpool = format!("/dev/mapper/{}-tpool", dm_name(self.vg(), pool));
        let tmeta = format!("/dev/mapper/{}_tmeta", dm_name(self.vg(), pool));
        // The pool has one metadata snapshot: another process's backup holds it for about a
        // second, so a busy reservation is tried again for ten seconds; one still held then was
        // left by a process that was killed, and is released before a new one is taken.
        let script = format!(
            "tries=0; until dmsetup message {tpool} 0 reserve_metadata_snap 2>/dev/null; do \
             tries=$((tries+1)); if [ $tries -ge 10 ]; then \
             dmsetup message {tpool} 0 release_metadata_snap; dmsetup message {tpool} 0 reserve_metadata_snap || exit 1; \
             break; fi; sleep 1; done; \
             thin_delta -m --snap1 {from} --snap2 {to} {tmeta}; status=$?; \
             dmsetup message {tpool} 0 release_metadata_snap; exit $status"
        );
        let output = self.lvm(&["sh", "-c", &script], object)?;
        report::parse_thin_delta(&output.stdout, from != to).map_err(|message| self.unreadable(&message))
    }

    /// Writes the mapped ranges of a thin LV into `file` at their offsets, the file as long as
    /// the LV.
    fn export_mapped(&self, lv: &Lv, mut file: fs::File, object: &ObjectRef) -> Result<()> {
        use std::io::{Seek, SeekFrom, Write};
        let io = |error: std::io::Error| ProviderError::fatal(format!("cannot write the image of {object}: {error}"));
        file.set_len(lv.size_bytes).map_err(io)?;
        let mapped = self.changed_extents(&ReadTarget::volume(lv.name.as_str()), None)?;
        let mut reader = LvReader::new(
            Arc::clone(&self.host),
            self.device(&lv.name),
            object.clone(),
            lv.size_bytes,
        );
        let mut buf = vec![0_u8; 4 << 20];
        for extent in &mapped.extents {
            let mut at = extent.offset;
            while at < extent.end() {
                let length = usize::try_from((extent.end() - at).min(buf.len() as u64)).unwrap_or(buf.len());
                reader.read_exact_at(at, &mut buf[..length])?;
                file.seek(SeekFrom::Start(at)).map_err(io)?;
                file.write_all(&buf[..length]).map_err(io)?;
                at += length as u64;
            }
        }
        file.sync_all().map_err(io)
    }

    /// Converts a raw export to qcow2 when asked, and describes the image.
    fn finish_export(spec: &ImageExportSpec, raw_path: &Path, size_bytes: u64) -> Result<ExportedImage> {
        if spec.format == ImageFormat::Qcow2 {
            let converted = blockform_provider::toolkit::raw_to_qcow2(
                utf8(raw_path)?,
                utf8(&spec.destination)?,
                crate::transport::DATA_TIMEOUT,
            );
            let _ = fs::remove_file(raw_path);
            converted?;
        }
        let file_size_bytes = fs::metadata(&spec.destination).map_or(0, |metadata| metadata.len());
        Ok(ExportedImage {
            path: spec.destination.clone(),
            format: spec.format,
            virtual_size_bytes: size_bytes,
            file_size_bytes,
        })
    }

    /// The snapshot state of an LV just created.
    fn snapshot_observed(&self, volume: &str, snapshot: &str) -> Result<SnapshotState> {
        let lv = self
            .find(&lv_name(snapshot))?
            .ok_or_else(|| ProviderError::not_found(ObjectRef::snapshot(snapshot)))?;
        Ok(snapshot_state(volume, &lv))
    }
}

/// The prefix LVs of snapshots named `snapshot…` get: LVM reserves LV names starting with
/// `snapshot`.
pub const RESERVED_PREFIX: &str = "bf-";

/// The LV name of an object's backend name (`snapshot-1` is the LV `bf-snapshot-1`).
pub fn lv_name(backend_name: &str) -> String {
    if backend_name.starts_with("snapshot") {
        format!("{RESERVED_PREFIX}{backend_name}")
    } else {
        backend_name.to_owned()
    }
}

/// The backend name of an LV (the inverse of [`lv_name`]).
pub fn backend_name_of(lv: &str) -> &str {
    match lv.strip_prefix(RESERVED_PREFIX) {
        Some(name) if name.starts_with("snapshot") => name,
        _ => lv,
    }
}

/// Whether `lv` is a snapshot of the volume `volume`: its origin, and not a volume (a thin
/// clone names its source as origin too, but carries a record).
fn is_snapshot_of(lv: &Lv, volume: &str) -> bool {
    is_derived_from(lv, volume) && !is_change_marker(&lv.name)
}

/// Whether `lv` is a snapshot or change marker of the volume `volume`.
fn is_derived_from(lv: &Lv, volume: &str) -> bool {
    lv.origin.as_deref() == Some(volume) && record::of(&lv.tags).is_none() && !lv.name.ends_with(PARTIAL_SUFFIX)
}

fn snapshot_state(volume: &str, lv: &Lv) -> SnapshotState {
    SnapshotState {
        backend_name: backend_name_of(&lv.name).to_owned(),
        volume_backend_name: volume.to_owned(),
        size_bytes: lv.size_bytes,
        created_at_unix_secs: lv.created_at_unix_secs,
        status: if lv.is_invalid_snapshot() {
            SnapshotStatus::Error
        } else {
            SnapshotStatus::Available
        },
    }
}

/// Why `requested_bytes` do not fit, for messages; `None` when they do.
pub fn shortfall(capacity: &Capacity, requested_bytes: u64, oversubscription: f64) -> Option<String> {
    let found = capacity.shortfall(requested_bytes, oversubscription)?;
    Some(match found {
        blockform_provider::Shortfall::Free { allowed_bytes } => format!(
            "{} requested but only {} free{}",
            size_text(requested_bytes),
            size_text(allowed_bytes),
            if capacity.thin_provisioned {
                format!(" with oversubscription {oversubscription}")
            } else {
                String::new()
            }
        ),
        blockform_provider::Shortfall::Provisioned { allowed_bytes } => format!(
            "{} requested but {} of {} allowed are provisioned already",
            size_text(requested_bytes),
            size_text(capacity.provisioned_bytes),
            size_text(allowed_bytes)
        ),
    })
}

/// The device-mapper name of an LV: `-` doubled in each part, joined by `-`.
fn dm_name(vg: &str, lv: &str) -> String {
    format!("{}-{}", vg.replace('-', "--"), lv.replace('-', "--"))
}

fn utf8(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| ProviderError::fatal(format!("the path `{}` is not valid UTF-8", path.display())))
}

impl StorageProvider for LvmProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::new(KIND)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            snapshots: true,
            clones: true,
            changed_extents: self.config.thin_pool.is_some(),
            qos_backend: false,
            images: true,
        }
    }

    /// One `lvs` of the volume group: sizes, tags (the record), origins and times of every LV.
    fn refresh(&self, backend_names: &[String]) -> Result<Vec<VolumeState>> {
        for name in backend_names {
            validate_backend_name(name)?;
        }
        let lvs = self.list()?;
        Ok(backend_names
            .iter()
            .filter_map(|name| {
                let lv = lvs.iter().find(|lv| &lv.name == name && !lv.is_thin_pool())?;
                Some(Self::volume_state(lv, &lvs))
            })
            .collect())
    }

    /// LVs that carry blockform's record or the `volume-` prefix, with their snapshots.
    fn inventory(&self) -> Result<Vec<InventoryItem>> {
        let mut lvs = self.list()?;
        lvs.sort_by(|a, b| a.name.cmp(&b.name));
        let mut items = Vec::new();
        for lv in &lvs {
            let owned = record::of(&lv.tags).is_some_and(|record| record.is_owned());
            let volume_like = lv.name.starts_with(VOLUME_PREFIX) && !lv.name.ends_with(PARTIAL_SUFFIX);
            let is_volume = record::of(&lv.tags).is_some() || lv.origin.is_none();
            if lv.is_thin_pool() || !is_volume || !(owned || volume_like) {
                continue;
            }
            items.push(InventoryItem {
                backend_name: lv.name.clone(),
                kind: ObjectKind::Volume,
                volume_backend_name: None,
                size_bytes: lv.size_bytes,
                owned,
            });
            items.extend(
                lvs.iter()
                    .filter(|other| is_snapshot_of(other, &lv.name))
                    .map(|snapshot| InventoryItem {
                        backend_name: backend_name_of(&snapshot.name).to_owned(),
                        kind: ObjectKind::Snapshot,
                        volume_backend_name: Some(lv.name.clone()),
                        size_bytes: snapshot.size_bytes,
                        owned: owned && snapshot.tags.iter().any(|tag| tag == SNAPSHOT_TAG),
                    }),
            );
        }
        Ok(items)
    }

    /// A thin pool: its data size, what is not written yet, and the thin volumes' sizes; a
    /// thick group: `vgs` size and free space.
    fn capacity(&self) -> Result<Capacity> {
        let lvs = self.recent()?;
        if let Some(pool) = self.thin_pool(&lvs)? {
            let pool_lv = lvs
                .iter()
                .find(|lv| lv.name == pool)
                .ok_or_else(|| self.unreadable("the thin pool vanished"))?;
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "a percentage of a byte count"
            )]
            let used = (pool_lv.size_bytes as f64 * pool_lv.data_percent.unwrap_or(0.0) / 100.0) as u64;
            let provisioned_bytes = lvs
                .iter()
                .filter(|lv| lv.pool.as_deref() == Some(pool))
                .map(|lv| lv.size_bytes)
                .fold(0_u64, u64::saturating_add);
            return Ok(Capacity {
                total_bytes: pool_lv.size_bytes,
                free_bytes: pool_lv.size_bytes.saturating_sub(used),
                provisioned_bytes,
                thin_provisioned: true,
            });
        }
        let vg = ObjectRef::new(ObjectKind::VolumeGroup, self.vg());
        let output = self.lvm(
            &[
                "vgs",
                "--reportformat",
                "json",
                "--units",
                "b",
                "--nosuffix",
                "-o",
                VG_FIELDS,
                self.vg(),
            ],
            &vg,
        )?;
        let vg = report::parse_vgs(&output.stdout).map_err(|message| self.unreadable(&message))?;
        Ok(Capacity {
            total_bytes: vg.size_bytes,
            free_bytes: vg.free_bytes,
            provisioned_bytes: vg.size_bytes.saturating_sub(vg.free_bytes),
            thin_provisioned: false,
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
        // An empty volume starts from the listing of the refresh before (or of the previous
        // create): an LV of the name made since then makes `lvcreate` fail with a conflict,
        // which lists again below. A volume with a source looks the source up in a new one.
        let lvs = if matches!(spec.source, VolumeSource::Empty) {
            self.recent()?
        } else {
            self.list()?
        };
        if lvs.iter().any(|lv| lv.name == name)
            && let Some(state) = self.adopt(spec, size_bytes, &self.list()?)?
        {
            return Ok(state);
        }
        let pool = self.thin_pool(&lvs)?;
        let source = Self::source_lv(&spec.source, name, &lvs)?;
        let source_bytes = match (&source, &spec.source) {
            (Some(source), _) => source.size_bytes,
            (None, VolumeSource::ImageFile { path, format }) => image_file_size(path, *format)?,
            (None, _) => 0,
        };
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
        let record = OwnershipRecord::owned(spec.properties.clone(), Some(spec.volume_type.clone()));
        let tags = record::all_tags(&record);
        // A partial LV is what an interrupted attempt left behind: start over.
        let partial = format!("{name}{PARTIAL_SUFFIX}");
        if lvs.iter().any(|lv| lv.name == partial) {
            self.remove(&partial, &object)?;
        }
        let one_step_clone = source.as_ref().is_some_and(|source| {
            source.is_thin()
                && pool.is_some_and(|pool| source.pool.as_deref() == Some(pool))
                && source.size_bytes == size_bytes
        });
        let built = match (&spec.source, &source) {
            // A thick LV may hold a deleted LV's data: it is cleared as `NAME.partial` first.
            (VolumeSource::Empty, _) if pool.is_none() && self.config.clears_thick_volumes() => {
                self.build_partial(spec, None, size_bytes, pool, &tags, 0)
            }
            (VolumeSource::Empty, _) => self.create_empty(name, size_bytes, &tags, pool),
            (_, Some(source)) if one_step_clone => self.thin_clone(&source.name, name, &tags),
            _ => self.build_partial(spec, source.as_ref(), size_bytes, pool, &tags, source_bytes),
        };
        match built {
            Ok(()) if matches!(spec.source, VolumeSource::Empty) => Ok(VolumeState {
                backend_name: name.to_owned(),
                properties: spec.properties.clone(),
                virtual_size_bytes: size_bytes,
                allocated_bytes: pool.map(|_| 0),
                status: VolumeStatus::Available,
                snapshots: Vec::new(),
                qos: QosSpecs::default(),
            }),
            Ok(()) => self.observe(name),
            // Made since the listing this create started from: adopted when it is this one.
            Err(ProviderError::Conflict { .. }) if self.find(name)?.is_some() => self
                .adopt(spec, size_bytes, &self.list()?)?
                .ok_or_else(|| invalid_state(&object, "it vanished while it was being adopted".to_owned())),
            Err(error) => {
                // Undo what this attempt made: no partial LV stays.
                let _ = self.remove(&partial, &object);
                Err(error)
            }
        }
    }

    fn discard_interrupted_create(&self, backend_name: &str) -> Result<()> {
        validate_backend_name(backend_name)?;
        let partial = format!("{backend_name}{PARTIAL_SUFFIX}");
        if self.find(&partial)?.is_some() {
            self.remove(&partial, &ObjectRef::volume(backend_name))?;
        }
        Ok(())
    }

    /// `lvextend` to the new size; never a reduce.
    fn extend_volume(&self, backend_name: &str, new_size_gib: u64) -> Result<VolumeState> {
        validate_backend_name(backend_name)?;
        let object = ObjectRef::volume(backend_name);
        let new_bytes = new_size_gib
            .checked_mul(GIB)
            .ok_or_else(|| invalid_state(&object, format!("{new_size_gib} GiB is too large")))?;
        let lv = self
            .find(backend_name)?
            .ok_or_else(|| ProviderError::not_found(object.clone()))?;
        if new_bytes < lv.size_bytes {
            return Err(invalid_state(
                &object,
                format!(
                    "it cannot shrink from {} to {}: volumes only grow",
                    size_text(lv.size_bytes),
                    size_text(new_bytes)
                ),
            ));
        }
        if new_bytes > lv.size_bytes {
            self.enforce_capacity(&object, new_bytes - lv.size_bytes)?;
            self.lvm(
                &[
                    "lvextend",
                    "-q",
                    "-L",
                    &format!("{new_bytes}b"),
                    &self.path(backend_name),
                ],
                &object,
            )?;
            self.changed();
            // The new extents of a thick LV may hold a deleted LV's data.
            if !lv.is_thin() && self.config.clears_thick_volumes() {
                self.clear(backend_name, lv.size_bytes, new_bytes - lv.size_bytes)?;
            }
        }
        self.observe(backend_name)
    }

    /// Rewrites the record tags (and the plain tags) in one `lvchange`; also takes over an LV
    /// that had no record (an import): it then carries the marker.
    fn update_volume_metadata(
        &self,
        backend_name: &str,
        properties: &VolumeProperties,
        volume_type: Option<&str>,
    ) -> Result<VolumeState> {
        validate_backend_name(backend_name)?;
        let object = ObjectRef::volume(backend_name);
        let lv = self
            .find(backend_name)?
            .ok_or_else(|| ProviderError::not_found(object))?;
        let volume_type = match volume_type {
            Some(volume_type) => Some(volume_type.to_owned()),
            None => record::of(&lv.tags).and_then(|record| record.volume_type),
        };
        let record = OwnershipRecord::owned(properties.clone(), volume_type);
        self.retag(backend_name, &lv.tags, &record::all_tags(&record))?;
        self.observe(backend_name)
    }

    /// Removes the LV; one that snapshots still depend on is refused (a copy-on-write origin would take
    /// them with it), the snapshots are deleted first.
    fn delete_volume(&self, backend_name: &str) -> Result<()> {
        validate_backend_name(backend_name)?;
        let object = ObjectRef::volume(backend_name);
        let lvs = self.list()?;
        if !lvs.iter().any(|lv| lv.name == backend_name) {
            return Ok(());
        }
        let snapshots: Vec<&str> = lvs
            .iter()
            .filter(|lv| is_snapshot_of(lv, backend_name))
            .map(|lv| lv.name.as_str())
            .collect();
        if !snapshots.is_empty() {
            return Err(invalid_state(
                &object,
                format!(
                    "lvm provider `{}`: snapshots depend on it ({}); delete them first",
                    self.name,
                    snapshots.join(", ")
                ),
            ));
        }
        // The change markers of its backups go with it.
        for marker in lvs
            .iter()
            .filter(|lv| is_derived_from(lv, backend_name) && is_change_marker(&lv.name))
        {
            self.remove(&marker.name, &ObjectRef::new(ObjectKind::ChangeMarker, &marker.name))?;
        }
        self.remove(backend_name, &object)
    }

    /// Device nodes of the LVM host: only a hypervisor on that host opens them.
    fn planned_disk(&self, volume_backend_name: &str) -> Option<DiskSource> {
        Some(DiskSource::Block {
            path: PathBuf::from(self.device(volume_backend_name)),
            valid_on: self.lvm_host(),
        })
    }

    /// The LV's device node, on the LVM host only.
    fn connect(&self, volume_backend_name: &str, host: &str) -> Result<DiskSource> {
        let _ = host;
        validate_backend_name(volume_backend_name)?;
        self.find(volume_backend_name)?
            .ok_or_else(|| ProviderError::not_found(ObjectRef::volume(volume_backend_name)))?;
        self.planned_disk(volume_backend_name)
            .ok_or_else(|| ProviderError::not_found(ObjectRef::volume(volume_backend_name)))
    }

    fn open_reader(&self, target: &ReadTarget) -> Result<Box<dyn VolumeReader>> {
        validate_backend_name(&target.volume_backend_name)?;
        let (lv, object) = match &target.snapshot_backend_name {
            Some(snapshot) => {
                validate_backend_name(snapshot)?;
                (lv_name(snapshot), ObjectRef::snapshot(snapshot))
            }
            None => (
                target.volume_backend_name.clone(),
                ObjectRef::volume(&target.volume_backend_name),
            ),
        };
        let listed = self
            .find(&lv)?
            .ok_or_else(|| ProviderError::not_found(object.clone()))?;
        self.activate(&listed, &object)?;
        Ok(Box::new(LvReader::new(
            Arc::clone(&self.host),
            self.device(&lv),
            object,
            listed.size_bytes,
        )))
    }

    fn open_writer(&self, backend_name: &str) -> Result<Box<dyn VolumeWriter>> {
        validate_backend_name(backend_name)?;
        let object = ObjectRef::volume(backend_name);
        let lvs = self.list()?;
        let listed = lvs
            .iter()
            .find(|lv| lv.name == backend_name)
            .ok_or_else(|| ProviderError::not_found(object.clone()))?;
        self.activate(listed, &object)?;
        // Whole chunks of zeros are discarded on a pool that passes discards on.
        let discard_chunk = listed
            .pool
            .as_deref()
            .and_then(|pool| lvs.iter().find(|lv| lv.name == pool))
            .filter(|pool| pool.discards != "ignore")
            .and_then(|pool| pool.chunk_bytes);
        Ok(Box::new(LvWriter::new(
            Arc::clone(&self.host),
            self.device(backend_name),
            object,
            listed.size_bytes,
            discard_chunk,
        )))
    }

    /// A thin snapshot in a thin pool, a copy-on-write snapshot of `snapshot_size` of a thick volume.
    fn create_snapshot(&self, spec: &SnapshotSpec) -> Result<SnapshotState> {
        validate_backend_name(&spec.backend_name)?;
        validate_backend_name(&spec.volume_backend_name)?;
        let object = ObjectRef::snapshot(&spec.backend_name);
        let snapshot_lv = lv_name(&spec.backend_name);
        let lvs = self.list()?;
        let volume = lvs
            .iter()
            .find(|lv| lv.name == spec.volume_backend_name)
            .ok_or_else(|| ProviderError::not_found(ObjectRef::volume(&spec.volume_backend_name)))?;
        if let Some(existing) = lvs.iter().find(|lv| lv.name == snapshot_lv) {
            if is_snapshot_of(existing, &spec.volume_backend_name)
                && existing.tags.iter().any(|tag| tag == SNAPSHOT_TAG)
            {
                return Ok(snapshot_state(&spec.volume_backend_name, existing));
            }
            return Err(invalid_state(
                &object,
                format!("the LV `{}` exists already", self.path(&snapshot_lv)),
            ));
        }
        let mut words: Vec<String> = ["lvcreate", "-q", "-y", "-s", "-n", snapshot_lv.as_str()]
            .map(str::to_owned)
            .to_vec();
        if !volume.is_thin() {
            words.extend(self.config.snapshot_size().lvcreate_args());
        }
        words.extend(["--addtag".to_owned(), SNAPSHOT_TAG.to_owned(), self.path(&volume.name)]);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        self.lvm(&words, &object)?;
        self.changed();
        self.snapshot_observed(&spec.volume_backend_name, &spec.backend_name)
    }

    /// `lvremove` of the snapshot; volumes cloned from a thin snapshot are thin volumes of
    /// their own and stay.
    fn delete_snapshot(&self, volume_backend_name: &str, snapshot_backend_name: &str) -> Result<()> {
        validate_backend_name(volume_backend_name)?;
        validate_backend_name(snapshot_backend_name)?;
        let object = ObjectRef::snapshot(snapshot_backend_name);
        let snapshot_lv = lv_name(snapshot_backend_name);
        let Some(lv) = self.find(&snapshot_lv)? else {
            return Ok(());
        };
        if record::of(&lv.tags).is_some() {
            return Err(invalid_state(&object, "it is a volume, not a snapshot".to_owned()));
        }
        self.remove(&snapshot_lv, &object)
    }

    /// Streams the LV through the ssh connection into a raw file.
    fn export_image(&self, spec: &ImageExportSpec) -> Result<ExportedImage> {
        validate_backend_name(&spec.volume_backend_name)?;
        if spec.snapshot_backend_name.is_some() {
            return Err(ProviderError::Unsupported {
                provider_kind: self.kind(),
                provider_name: self.name.clone(),
                operation: "export_image of a snapshot".to_owned(),
            });
        }
        let object = ObjectRef::volume(&spec.volume_backend_name);
        let lv = self
            .find(&spec.volume_backend_name)?
            .ok_or_else(|| ProviderError::not_found(object.clone()))?;
        if lv.size_bytes > MAX_IMAGE_EXPORT_BYTES {
            return Err(invalid_state(
                &object,
                format!(
                    "it holds {}; images are made of volumes up to 300 GiB",
                    size_text(lv.size_bytes)
                ),
            ));
        }
        self.activate(&lv, &object)?;
        let raw_path = match spec.format {
            ImageFormat::Raw => spec.destination.clone(),
            ImageFormat::Qcow2 => spec.destination.with_extension("partial.raw"),
        };
        let file = fs::File::create(&raw_path)
            .map_err(|error| ProviderError::fatal(format!("cannot create `{}`: {error}", raw_path.display())))?;
        if lv.is_thin() {
            // Only the ranges the pool maps cross the wire; the rest of the file stays a hole.
            let written = self.export_mapped(&lv, file, &object);
            if written.is_err() {
                let _ = fs::remove_file(&raw_path);
            }
            written?;
            return Self::finish_export(spec, &raw_path, lv.size_bytes);
        }
        let words = [
            "dd".to_owned(),
            format!("if={}", self.device(&lv.name)),
            format!("bs={COPY_BLOCK}"),
        ];
        let (mut command, argv) = self.host.command(&words)?;
        let output = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::piped())
            .output()
            .map_err(|error| ProviderError::fatal(format!("cannot start `ssh` to read the volume: {error}")))?;
        let output = CommandOutput {
            stdout: Vec::new(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            status: output.status.code(),
        };
        if !output.success() {
            let _ = fs::remove_file(&raw_path);
            return Err(self.failure(argv, &output, &object));
        }
        Self::finish_export(spec, &raw_path, lv.size_bytes)
    }

    /// A thin snapshot `marker_name` of a thin volume (the volume frozen as the backup starts);
    /// thick volumes have none (a copy-on-write snapshot would slow every write while it
    /// exists), so their backups hash every block.
    fn create_change_marker(&self, backend_name: &str, marker_name: &str) -> Result<ChangeMarker> {
        validate_backend_name(backend_name)?;
        validate_backend_name(marker_name)?;
        let object = ObjectRef::new(ObjectKind::ChangeMarker, marker_name);
        let lvs = self.list()?;
        let volume = lvs
            .iter()
            .find(|lv| lv.name == backend_name)
            .ok_or_else(|| ProviderError::not_found(ObjectRef::volume(backend_name)))?;
        if !volume.is_thin() {
            return Err(ProviderError::Unsupported {
                provider_kind: self.kind(),
                provider_name: self.name.clone(),
                operation: "create_change_marker (thick volume)".to_owned(),
            });
        }
        let marker = ChangeMarker::Snapshot {
            backend_name: marker_name.to_owned(),
        };
        let marker_lv = lv_name(marker_name);
        if lvs
            .iter()
            .any(|lv| lv.name == marker_lv && is_derived_from(lv, backend_name))
        {
            return Ok(marker);
        }
        self.lvm(
            &[
                "lvcreate",
                "-q",
                "-y",
                "-s",
                "-n",
                &marker_lv,
                "--addtag",
                SNAPSHOT_TAG,
                &self.path(backend_name),
            ],
            &object,
        )?;
        self.changed();
        Ok(marker)
    }

    fn delete_change_marker(&self, backend_name: &str, marker: &ChangeMarker) -> Result<()> {
        validate_backend_name(backend_name)?;
        // This provider only makes snapshots; any other marker was never created here.
        let ChangeMarker::Snapshot { backend_name: snapshot } = marker else {
            return Ok(());
        };
        self.delete_snapshot(backend_name, snapshot)
    }

    fn change_markers(&self, backend_name: &str) -> Result<Vec<ChangeMarker>> {
        validate_backend_name(backend_name)?;
        Ok(self
            .list()?
            .iter()
            .filter(|lv| is_derived_from(lv, backend_name) && is_change_marker(&lv.name))
            .map(|lv| ChangeMarker::Snapshot {
                backend_name: backend_name_of(&lv.name).to_owned(),
            })
            .collect())
    }

    /// Thin volumes: `thin_delta` on a metadata snapshot of the pool, between the marker's
    /// thin device and the target's (or the target's mapped ranges, without a marker). Thick
    /// volumes: the whole volume, hashed.
    fn changed_extents(&self, target: &ReadTarget, since: Option<&ChangeMarker>) -> Result<ChangedExtents> {
        validate_backend_name(&target.volume_backend_name)?;
        let (lv, object) = match &target.snapshot_backend_name {
            Some(snapshot) => {
                validate_backend_name(snapshot)?;
                (lv_name(snapshot), ObjectRef::snapshot(snapshot))
            }
            None => (
                target.volume_backend_name.clone(),
                ObjectRef::volume(&target.volume_backend_name),
            ),
        };
        let lvs = self.list()?;
        let listed = lvs
            .iter()
            .find(|listed| listed.name == lv)
            .ok_or_else(|| ProviderError::not_found(object.clone()))?;
        let size_bytes = listed.size_bytes;
        let (Some(pool), Some(target_id)) = (listed.pool.as_deref(), listed.thin_id) else {
            return Ok(ChangedExtents::whole_volume(size_bytes));
        };
        let since_id = match since {
            None => target_id,
            Some(ChangeMarker::Snapshot { backend_name: marker }) => {
                validate_backend_name(marker)?;
                let marker_lv = lv_name(marker);
                match lvs
                    .iter()
                    .find(|lv| lv.name == marker_lv)
                    .and_then(|lv| lv.thin_id.filter(|_| lv.pool.as_deref() == Some(pool)))
                {
                    Some(id) => id,
                    None => return Ok(ChangedExtents::whole_volume(size_bytes)),
                }
            }
            Some(ChangeMarker::DirtyBitmap { .. }) => return Ok(ChangedExtents::whole_volume(size_bytes)),
        };
        let ranges = self.thin_delta(pool, since_id, target_id, &object)?;
        let mut changed = ChangedExtents {
            source: crate::THIN_DELTA,
            volume_size_bytes: size_bytes,
            extents: ranges
                .into_iter()
                .map(|(offset, length)| Extent { offset, length })
                .collect(),
        };
        changed.normalize();
        Ok(changed)
    }
}

/// The size of the disk in an image file.
fn image_file_size(path: &Path, format: ImageFormat) -> Result<u64> {
    match format {
        ImageFormat::Raw => fs::metadata(path)
            .map(|metadata| metadata.len())
            .map_err(|error| ProviderError::fatal(format!("cannot read the image `{}`: {error}", path.display()))),
        ImageFormat::Qcow2 => {
            let output = CommandRunner::local().run(&["qemu-img", "info", "--output=json", utf8(path)?])?;
            let info: serde_json::Value = serde_json::from_slice(&output.stdout)
                .map_err(|error| ProviderError::fatal(format!("cannot read `qemu-img info`: {error}")))?;
            info["virtual-size"].as_u64().ok_or_else(|| {
                ProviderError::fatal(format!("`qemu-img info` of `{}` has no virtual size", path.display()))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_avoid_the_prefix_lvm_reserves() {
        assert_eq!(lv_name("snapshot-1"), "bf-snapshot-1");
        assert_eq!(backend_name_of("bf-snapshot-1"), "snapshot-1");
        assert_eq!(lv_name("volume-1"), "volume-1");
        assert_eq!(backend_name_of("volume-1"), "volume-1");
        assert_eq!(backend_name_of("bf-other"), "bf-other");
    }
}
