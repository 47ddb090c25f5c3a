//! The provider contract of blockform: the `Provider` trait every back end implements, the
//! message types it takes and returns, its typed errors, and the command runner that drives
//! back-end tools locally or over ssh.
//!
//! Three back ends are written against this crate: a local qcow2 directory (the embedded
//! default), Ceph RBD, and LVM (local or over ssh). The engine owns planning, ordering and
//! state; a provider only observes and changes objects on its back end. Every type that
//! crosses the trait is a plain serde message so an out-of-process plugin transport can be
//! added later without changing the engine.

pub mod attachment;
pub mod capacity;
pub mod command;
pub mod config;
pub mod data;
pub mod duration;
pub mod error;
pub mod extents;
pub mod image;
pub mod inventory;
pub mod name;
pub mod object;
pub mod provider;
pub mod qos;
pub mod snapshot;
pub mod volume;

pub use attachment::{AttachmentSpec, AttachmentState};
pub use capacity::{Capacity, CapacityCheck};
pub use command::{CommandOutput, CommandRunner, DEFAULT_TIMEOUT, Transport, shell_quote};
pub use config::{ConfigProblem, ProviderConfig, ProviderKind, problems_by_attribute};
pub use data::{ReadTarget, VolumeReader, VolumeWriter};
pub use duration::{DurationError, format_duration, parse_duration};
pub use error::{CommandContext, ProviderError, Result};
pub use extents::{CHANGE_MARKER_PREFIX, ChangeMarker, ChangeSource, ChangedExtents, Extent, is_change_marker};
pub use image::{ExportedImage, ImageExportSpec, ImageFormat};
pub use inventory::InventoryItem;
pub use name::{BACKEND_NAME_MAX_LEN, validate_backend_name};
pub use object::{ObjectKind, ObjectRef};
pub use provider::{Capabilities, Provider};
pub use qos::{BackendQosSupport, QOS_KEYS, QosConsumer, QosSpecs};
pub use snapshot::{SnapshotSpec, SnapshotState, SnapshotStatus};
pub use volume::{GIB, VolumeProperties, VolumeSource, VolumeSpec, VolumeState, VolumeStatus};
