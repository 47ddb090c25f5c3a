//! The records kept in state. Plain serde types: they are what `state pull` prints and
//! `state push` reads, and what a shared (`PostgreSQL`) store will hold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The version of the state format; a store refuses a newer one.
pub const FORMAT_VERSION: u32 = 1;

/// The state's identity and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The format of the records.
    pub format_version: u32,
    /// A UUID fixed when the state is created; plans and pushes from another lineage are refused.
    pub lineage: String,
    /// Grows by one with every commit.
    pub serial: u64,
}

/// One resource instance as it exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    /// Its address, like `volume.db` or `volume.scratch["a"]`.
    pub address: String,
    /// The object's name in the back end (`volume-5c0e…`), the id other resources refer to.
    pub backend_id: String,
    /// The provider block that owns it (for backups: the store), if any.
    pub provider: Option<String>,
    /// Attributes as applied, plus those the back end set (`id`, `status`, …), as JSON.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Addresses of the resources it depends on.
    pub dependencies: Vec<String>,
    /// Cinder-style status: `available`, `in-use`, `error`, …
    pub status: String,
}

/// What a pending operation was about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentAction {
    /// Create an object with a deterministic back-end name.
    Create,
    /// Change an object in place.
    Update,
    /// Delete an object.
    Delete,
}

/// A pending operation, recorded before the back end is called, so that a run killed midway
/// can be completed: the next run refreshes `backend_id` and adopts or finishes the object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// Unique id of the intent.
    pub id: String,
    /// The resource address the operation is for.
    pub address: String,
    /// What the operation does.
    pub action: IntentAction,
    /// The deterministic back-end name of the object.
    pub backend_id: String,
    /// The provider block that owns it.
    pub provider: Option<String>,
    /// When it was recorded (RFC 3339).
    pub started_at: String,
    /// The attributes the operation was to give the object (for creates and updates).
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Addresses of the resources the object depends on (recorded when it is adopted).
    #[serde(default)]
    pub dependencies: Vec<String>,
}

/// An output value as last applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputState {
    /// The value.
    pub value: serde_json::Value,
    /// Whether it is hidden in output.
    pub sensitive: bool,
}

/// The whole state as one document: what `state pull` prints and `state push` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateDocument {
    /// Identity and version.
    #[serde(flatten)]
    pub meta: Meta,
    /// Every resource instance, sorted by address.
    pub resources: Vec<ResourceState>,
    /// Pending operations.
    pub intents: Vec<Intent>,
    /// Outputs by name.
    pub outputs: BTreeMap<String, OutputState>,
}
