//! What every operation of an apply shares: the context it looks things up in while it runs and
//! the error it fails with. The operations themselves are in `execute` (one per change of a
//! resource) and `backup` (backups, restores, policy runs), which both build on this.

use std::path::Path;

use blockform_provider::ProviderError;

use crate::providers::Providers;
use crate::state::ResourceState;

/// Why an operation failed: the back end's error stays typed (its class, command line and
/// stderr) up to the report.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OperationError {
    /// The back end refused or failed.
    #[error("{0}")]
    Provider(#[from] ProviderError),
    /// Something the operation needs is missing.
    #[error("{0}")]
    Precondition(String),
}

/// What an operation can look up while it runs.
pub struct OperationContext<'a> {
    /// Live providers.
    pub providers: &'a Providers,
    /// State records by back-end id (objects created earlier in this run included).
    pub by_id: &'a dyn Fn(&str) -> Option<ResourceState>,
    /// Every state record known so far.
    pub records: &'a dyn Fn() -> Vec<ResourceState>,
    /// The configuration directory (image paths are relative to it).
    pub dir: &'a Path,
    /// Reports bytes done and total of a long data operation (backup, restore).
    pub on_bytes: &'a (dyn Fn(u64, u64) + Sync),
}
