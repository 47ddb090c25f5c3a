//! State: what blockform knows exists. An embedded sled database behind the [`Store`] trait,
//! a lock file that says who holds it, and the records it keeps (meta, resources, intents,
//! outputs). Every finished operation is one transaction plus a flush.

mod records;

pub use records::{Intent, IntentAction, Meta, OutputState, ResourceState, StateDocument, FORMAT_VERSION};
