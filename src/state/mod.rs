//! State: what blockform knows exists. An embedded sled database behind the [`Store`] trait,
//! a lock file that says who holds it, and the records it keeps (meta, resources, intents,
//! outputs). Every finished operation is one transaction plus a flush.

mod lock;
mod memory_store;
mod records;
#[cfg(test)]
pub(crate) mod scratch;
mod sled_store;
mod store;

pub use lock::{ForceUnlocked, LockError, LockInfo, StateLock, force_unlock, lock_path, parse_lock_timeout};
pub use memory_store::MemoryStore;
pub use records::{FORMAT_VERSION, Intent, IntentAction, Meta, OutputState, ResourceState, StateDocument};
pub use sled_store::SledStore;
pub use store::{Commit, StateError, Store};
