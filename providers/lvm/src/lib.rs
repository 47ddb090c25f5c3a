//! The LVM provider of blockform: volumes are logical volumes of one volume group, thick
//! (linear) or thin (in the block's `thin_pool`), on this machine or on an LVM host driven
//! over ssh: `provider "lvm" "NAME" { volume_group = "vg0", thin_pool = "pool", host = "...",
//! user = "...", identity_file = "...", known_hosts = "...", sudo = true }`.
//!
//! Every lvm command is an argv vector run through one ssh master connection per provider
//! (see [`transport`]), each remote word quoted for the login shell and every name validated
//! before it gets there. Each volume `volume-<uuid>` is the LV of that name with blockform's
//! record in its tags ([`record`]); snapshots are thin snapshots (thin pools) or copy-on-write snapshots
//! of `snapshot_size` (thick volumes); volumes from snapshots or volumes are writable thin
//! snapshots made independent of their source's lifecycle (thin) or copies (thick). Refresh,
//! inventory and capacity read one `lvs --reportformat json` of the whole group ([`report`]).
//! Backups and restores stream the LV through the same connection ([`data`]).

mod config;
pub mod data;
mod factory;
pub mod fault;
mod provider;
pub mod record;
pub mod report;
pub mod transport;

pub use config::{
    CapacityCheck, ConfigError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_SNAPSHOT_SIZE, DEFAULT_TIMEOUT, KIND, LvmConfig,
    SnapshotSize,
};
pub use factory::{LvmFactory, SCHEMA};
pub use provider::{
    LvmProvider, MAX_IMAGE_EXPORT_BYTES, PARTIAL_SUFFIX, RESERVED_PREFIX, VOLUME_PREFIX, backend_name_of, lv_name,
    shortfall,
};

/// How the LVM provider knows which ranges of a thin volume changed: `thin_delta` between
/// thin devices of the pool.
pub const THIN_DELTA: blockform_provider::ChangeSource = blockform_provider::ChangeSource::new("thin_delta");

/// The factory the engine's registry lists for `provider "lvm"` blocks.
pub static FACTORY: LvmFactory = LvmFactory;
