//! The Ceph RBD provider of blockform: volumes are RBD images in one pool,
//! `provider "ceph" "NAME" { pool = "...", conf = "...", user = "...", keyring = "..." }`.
//!
//! Image operations (create, resize, rename, snapshots, clones, flattens, image metadata and
//! QoS settings, removes, and the read-back of their result) go through one long-lived
//! worker per provider (the `worker` module): librbd through the Python binding the `ceph` command
//! is written with, over one connection, with a timeout on every call, so a step costs a
//! round trip to the cluster rather than an `rbd` process. Data streams (`rbd export`,
//! `import`, `import-diff`), changed extents (`rbd diff`) and pool usage (`ceph df`) run the
//! command-line tools with `--format json`, as argv vectors with a timeout each. The provider
//! needs a Ceph client install and a keyring, no compiled bindings. Each volume
//! `volume-<uuid>` is the image of that name carrying blockform's record in its `blockform`
//! image metadata; snapshots are RBD snapshots, clones are RBD clones (flattened by default),
//! back-end QoS limits are the image's `rbd_qos_*` settings, change markers for incremental
//! backups are snapshots read with `rbd diff`. Refresh reads the RBD header objects of the
//! whole pool in one process (librados through the same Python binding), so observing a
//! thousand volumes takes one process and a fifth of a second.

mod cli;
mod config;
mod disk;
mod factory;
pub mod fault;
mod output;
mod pool;
mod provider;
mod qos;
mod record;
mod stream;
mod worker;

pub use config::KIND;
pub use config::{CapacityCheck, CephConfig, ConfigError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
pub use disk::monitors;
pub use factory::{CephFactory, SCHEMA};
pub use provider::{CephProvider, MAX_IMAGE_EXPORT_BYTES, VOLUME_PREFIX, shortfall};
pub use qos::{BACKEND_QOS, BACKEND_QOS_KEYS, RBD_QOS_SETTINGS};
pub use record::{META_KEY, OWNER};

/// How the Ceph provider knows which ranges changed: `rbd diff` between snapshots.
pub const RBD_DIFF: blockform_provider::ChangeSource = blockform_provider::ChangeSource::new("rbd_diff");

/// The factory the engine's registry lists for `provider "ceph"` blocks.
pub static FACTORY: CephFactory = CephFactory;
