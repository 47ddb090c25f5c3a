//! Fault injection points for crash tests, where a test stops the process as a SIGKILL would
//! (no cleanup, no destructor runs) to check that the next run recovers:
//!
//! - `detach`: a detach has taken the disk away from the domain (running instance and
//!   definition), before blockform records it: the attachment is forgotten, and what the plan
//!   deleted next is deleted;
//! - `disk-snapshot`: the domain's QEMU has taken an internal snapshot (a forced snapshot, or
//!   the change marker of a backup through the domain): a marker no backup refers to is
//!   removed through the domain.
//!
//! A point does nothing unless the environment holds `BLOCKFORM_LIBVIRT_FAULT=abort-after:STEP`;
//! it is meant for tests only.

/// The environment variable a fault is read from.
pub const FAULT_ENV: &str = "BLOCKFORM_LIBVIRT_FAULT";

/// Every fault point.
pub const STEPS: [&str; 2] = ["detach", "disk-snapshot"];

/// Aborts the process when the environment asks for a fault right after `step`.
pub fn point(step: &'static str) {
    debug_assert!(STEPS.contains(&step), "{step}");
    blockform_provider::fault::abort_point(FAULT_ENV, step);
}
