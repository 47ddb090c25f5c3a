//! State: what blockform knows exists, and where it is kept.
//!
//! - [`StateBackend`] (`backend.rs`): where a state lives, with its lock inside — whether it
//!   exists, lock / unlock / force-unlock (`--lock-timeout` waits with backoff), and opening it
//!   for reading and committing. The command line picks a back end in one place,
//!   [`open_backend`] (`choice.rs`), from a [`BackendChoice`]; no other code names an
//!   implementation.
//! - [`Store`] (`store.rs`): reading and committing an open state. Every finished operation is
//!   one atomic [`Commit`] plus a flush and bumps the serial; [`Store::commit_at`] names the
//!   serial the writer read and refuses a stale writer ([`StateError::Stale`]).
//! - Implementations: [`LocalBackend`] (`local.rs`) — the embedded sled database ([`SledStore`],
//!   `.blockform/state`) with the lock file beside it ([`StateLock`], `lock_file.rs`,
//!   `.blockform/state.lock`)
//!   — [`S3Backend`] (`s3.rs`: an append-only log of commits, snapshots and a lock object in
//!   an S3 bucket, `blockform { backend "s3" { … } }`) — and [`MemoryBackend`] /
//!   [`MemoryStore`], a state held in memory.
//! - The records (`records.rs`: meta, resources, intents, outputs) and what every back end's
//!   lock shares (`lock.rs`: the lock record, its errors, the guard, the wait with backoff).
//!
//! A new back end (a remote one, say) implements [`StateBackend`] and [`Store`], adds a
//! [`BackendChoice`] variant and one arm in [`open_backend`], and runs the conformance suites:
//! `backend_conformance_tests!` (`conformance.rs`: reading and committing, serials, the stale
//! writer, the lock) and `store_conformance_tests!` (`store.rs`: commits and documents).

mod backend;
mod choice;
#[cfg(test)]
pub(crate) mod conformance;
mod local;
mod lock;
mod lock_file;
mod memory_store;
mod records;
mod s3;
#[cfg(test)]
pub(crate) mod scratch;
mod sled_store;
mod store;

pub use backend::StateBackend;
pub use choice::{BackendChoice, open_backend};
pub use local::LocalBackend;
pub use lock::{
    Attempt, ForceUnlocked, HeldLock, LockError, LockGuard, LockInfo, acquire_with_backoff, parse_lock_timeout,
};
pub use lock_file::{StateLock, force_unlock, lock_path};
pub use memory_store::{MemoryBackend, MemoryStore};
pub use records::{FORMAT_VERSION, Intent, IntentAction, Meta, OutputState, ResourceState, StateDocument};
pub use s3::{S3Backend, S3StateStore, SNAPSHOT_EVERY};
pub use sled_store::SledStore;
pub use store::{Commit, StateError, Store};
