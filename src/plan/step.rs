//! The halves of a change that apply runs as operations.

/// Which half of a change an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Create the object (or its replacement).
    Create,
    /// Change it in place.
    Update,
    /// Delete it (or the object being replaced).
    Delete,
}
