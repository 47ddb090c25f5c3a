//! The provider contract of blockform, by role: the `StorageProvider` trait every storage back
//! end implements (volumes, snapshots, images, data access, change markers, and the
//! `DiskSource` a hypervisor opens a volume through), the `Hypervisor` trait of hosts that
//! attach volumes to instances, and the `ProviderFactory` through which a provider's crate
//! tells the engine its kind, schema, config checks and object naming. Around them: the
//! message types the traits take and return, their typed errors, the toolkit of what every
//! provider repeats (ownership record, adopt-or-conflict, error constructors, the capacity
//! rule), and the command runner that drives back-end tools locally or over ssh.
//!
//! Kinds are open: a provider crate names its own kind and change source, and the engine
//! lists its factories in one registry. The engine owns planning, ordering and
//! state; a provider only observes and changes objects on its back end. Every type that
//! crosses the trait is a plain serde message so an out-of-process plugin transport can be
//! added later without changing the engine.

pub mod attachment;
pub mod capacity;
pub mod command;
pub mod config;
pub mod data;
pub mod disk;
pub mod duration;
pub mod error;
pub mod extents;
pub mod factory;
pub mod fault;
pub mod hypervisor;
pub mod image;
pub mod inventory;
pub mod name;
pub mod object;
pub mod provider;
pub mod qos;
pub mod quote;
pub mod schema;
pub mod snapshot;
pub mod toolkit;
pub mod volume;

pub use attachment::{AttachmentSpec, AttachmentState};
pub use capacity::{Capacity, CapacityCheck, Shortfall};
pub use command::{CommandOutput, CommandRunner, DEFAULT_TIMEOUT, Transport};
pub use config::{ConfigProblem, ProviderConfig, ProviderKind, problems_by_attribute};
pub use data::{ReadTarget, VolumeReader, VolumeWriter};
pub use disk::{DiskSource, SecretRef, ValidOn};
pub use duration::{DurationError, format_duration, parse_duration};
pub use error::{CommandContext, ProviderError, Result};
pub use extents::{CHANGE_MARKER_PREFIX, ChangeMarker, ChangeSource, ChangedExtents, Extent, is_change_marker};
pub use factory::{BuildError, BuiltProvider, ProviderFactory, ProviderRole};
pub use hypervisor::{Hypervisor, InstanceDisk, InstanceState};
pub use image::{ExportedImage, ImageExportSpec, ImageFormat};
pub use inventory::InventoryItem;
pub use name::{BACKEND_NAME_MAX_LEN, validate_backend_name};
pub use object::{ObjectKind, ObjectRef};
pub use provider::{Capabilities, StorageProvider};
pub use qos::{BackendQosSupport, QOS_KEYS, QosConsumer, QosSpecs};
pub use quote::{command_line, shell_quote};
pub use schema::{AttrSpec, AttrType};
pub use snapshot::{SnapshotSpec, SnapshotState, SnapshotStatus};
pub use toolkit::{OWNER, OwnershipRecord, adopt_or_conflict};
pub use volume::{GIB, VolumeProperties, VolumeSource, VolumeSpec, VolumeState, VolumeStatus};
