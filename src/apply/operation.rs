//! What every operation of an apply shares: the context it looks things up in while it runs,
//! the error it fails with, and which object and provider block it works on. The operations
//! themselves are in `kinds` (one implementation per resource kind), run by `execute`, and
//! `backup` (backups, restores, policy runs), which all build on this.

use std::path::Path;

use blockform_provider::ProviderError;

use crate::plan::{Change, Step};
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

/// The back-end name an operation works on: the new object's for a create (a replacement's
/// new name), the existing object's otherwise.
pub fn object_id(change: &Change, step: Step) -> &str {
    if step == Step::Create {
        change.create_id()
    } else {
        change.backend_id.as_deref()
    }
    .unwrap_or_default()
}

/// The provider block an operation goes to: the new object's for a create, the one that holds
/// the existing object otherwise (for a retype across back ends, not the new object's).
pub(super) fn object_provider(change: &Change, step: Step) -> Option<&str> {
    if step == Step::Create {
        change.provider.as_deref()
    } else {
        change.existing_provider()
    }
}
