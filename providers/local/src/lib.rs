//! The embedded default provider of blockform: volumes are qcow2 files in a directory,
//! `provider "local" "NAME" { path = "...", oversubscription = 1.0, capacity_check = "warn" }`.
//!
//! Each volume `volume-<uuid>` is the image `volume-<uuid>.qcow2` plus the sidecar
//! `volume-<uuid>.json` holding its properties and blockform's ownership marker. Snapshots are
//! qcow2 internal snapshots, change markers are persistent dirty bitmaps. Everything that
//! changes an image runs the real `qemu-img`; refresh reads the qcow2 headers itself so that
//! observing thousands of volumes starts no process; reads and writes for backups go through
//! `qemu-nbd` and a small NBD client.

mod capacity;
mod config;
mod direct;
mod directory;
mod export;
mod factory;
pub mod fault;
mod inspect;
mod nbd;
mod provider;
pub mod qcow2;
mod qemu;
mod sidecar;

pub use capacity::CapacityShortfall;
pub use config::KIND;
pub use config::{CapacityCheck, ConfigError, LocalConfig};
pub use factory::{LocalFactory, SCHEMA};
pub use provider::{LocalProvider, MAX_IMAGE_EXPORT_BYTES};

/// How the local provider knows which ranges changed: persistent qcow2 dirty bitmaps.
pub const DIRTY_BITMAP: blockform_provider::ChangeSource = blockform_provider::ChangeSource::new("dirty_bitmap");
pub use sidecar::OWNER as SIDECAR_OWNER;

/// The factory the engine's registry lists for `provider "local"` blocks.
pub static FACTORY: LocalFactory = LocalFactory;
