//! Fault injection points for crash tests: a named point right after each step of a volume
//! create that takes more than one LVM command, where a test can stop the process as a
//! SIGKILL would, or make the step fail as a failing `lvm` command would.
//!
//! Without a fault, a point does nothing. A fault comes from the environment of the process,
//! `BLOCKFORM_LVM_FAULT=abort-after:STEP` (the process aborts at once: no cleanup runs, like a
//! kill) or `fail-after:STEP` (the point returns an error, so the operation's own error
//! handling runs), which is how the `blockform` binary is tested; or from
//! [`LvmProvider::with_fault`](crate::LvmProvider::with_fault) for one provider, which is how
//! in-process tests do it.
//!
//! The steps ([`STEPS`]): `partial` (the LV `NAME.partial` created: a thick copy's target or
//! a thin snapshot that is to grow), `copy` (the source's data copied into it), `clear` (the
//! rest of a thick LV zeroed, see `volume_clear`), `extend`
//! (grown to the requested size), `rename` (renamed to `NAME`: the volume exists).

pub use blockform_provider::fault::{Fault, FaultMode};

/// The environment variable a fault is read from.
pub const FAULT_ENV: &str = "BLOCKFORM_LVM_FAULT";

/// Every fault point, in the order a create passes them.
pub const STEPS: [&str; 5] = ["partial", "copy", "clear", "extend", "rename"];

/// What a fault may do here.
pub const MODES: [FaultMode; 2] = [FaultMode::Abort, FaultMode::Fail];

/// The fault of the environment, if one is set.
///
/// # Errors
/// A value that is not a fault, with the reason.
pub fn from_env() -> Result<Option<Fault>, String> {
    Fault::from_env(FAULT_ENV, &STEPS, &MODES)
}
