//! The Ceph RBD provider of blockform: volumes are RBD images in one pool,
//! `provider "ceph" "NAME" { pool = "...", conf = "...", user = "...", keyring = "..." }`.
//!
//! Everything goes through the `rbd`, `rados` and `ceph` command-line tools with
//! `--format json`, as argv vectors with a timeout each, so the provider needs a Ceph client
//! install and a keyring, not librbd bindings. Each volume `volume-<uuid>` is the image of
//! that name carrying blockform's record in its `blockform` image metadata; snapshots are RBD
//! snapshots, clones are RBD clones (flattened by default), back-end QoS limits are the
//! image's `rbd_qos_*` settings, change markers for incremental backups are snapshots read
//! with `rbd diff`. Refresh lists the pool once and reads one index object, so observing a
//! thousand volumes starts two processes.

mod cli;
mod config;
mod index;
mod output;
mod provider;
mod qos;
mod stream;

pub use config::{CapacityCheck, CephConfig, ConfigError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
pub use index::{INDEX_OBJECT, META_KEY, OWNER};
pub use provider::{CephProvider, MAX_IMAGE_EXPORT_BYTES, VOLUME_PREFIX, shortfall};
pub use qos::RBD_QOS_SETTINGS;
