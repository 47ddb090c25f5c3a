//! Fault injection points for crash tests: a named point right after each step of a volume
//! create or delete and of starting a backup export, where a test stops the process as a
//! SIGKILL would (no cleanup, no destructor runs) to check that the next run recovers.
//!
//! A point does nothing unless the environment of the process holds
//! `BLOCKFORM_LOCAL_FAULT=abort-after:STEP`; it is meant for tests only. The steps ([`STEPS`]):
//!
//! - `sidecar`: a create wrote the sidecar (with the ownership marker), no image yet;
//! - `image`: the image is built under its hidden partial name;
//! - `link`: the image is in place under its name (the volume exists);
//! - `delete-image`: a delete removed the image, the sidecar is still there;
//! - `marker`: a backup added its change marker (a dirty bitmap) to the volume;
//! - `export`: `qemu-nbd` was started for a backup read, before blockform connected to it.

/// The environment variable a fault is read from.
pub const FAULT_ENV: &str = "BLOCKFORM_LOCAL_FAULT";

/// Every fault point.
pub const STEPS: [&str; 6] = ["sidecar", "image", "link", "delete-image", "marker", "export"];

/// Aborts the process when the environment asks for a fault right after `step`.
pub fn point(step: &'static str) {
    debug_assert!(STEPS.contains(&step), "{step}");
    blockform_provider::fault::abort_point(FAULT_ENV, step);
}
