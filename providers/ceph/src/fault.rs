//! Fault injection points for crash tests: a named point right after each step of a volume
//! create (and after each QoS setting written), where a test can stop the process as a
//! SIGKILL would, or make the step fail as a failing `rbd` call would.
//!
//! Without a fault, a point does nothing. A fault comes from the environment of the process,
//! `BLOCKFORM_CEPH_FAULT=abort-after:STEP` (the process aborts at once: no cleanup runs, like
//! a kill), `fail-after:STEP` (the point returns an error, so the operation's own error
//! handling runs) or `kill-worker-after:STEP` (the provider's worker process, see
//! [`crate::worker`], is killed with SIGKILL during the call that follows the step, so that
//! call ends without an answer), which is how the `blockform` binary is tested; or from
//! [`CephProvider::with_fault`](crate::CephProvider::with_fault) for one provider, which is
//! how in-process tests do it (the environment is shared by every thread of a process).
//!
//! The steps, in the order a volume cloned from a volume passes them ([`STEPS`]):
//! `create` (an empty image `NAME.partial` made), `import` (an image file imported as it),
//! `source-snapshot` (the temporary snapshot `SOURCE@NAME.source` taken), `protect` (the
//! clone's parent snapshot protected), `clone` (`NAME.partial` cloned), `flatten`,
//! `unprotect` (the temporary snapshot unprotected), `source-snapshot-removed`, `resize`,
//! `record` (the `blockform` metadata written on `NAME.partial`), `rename` (the image renamed
//! to `NAME`: the volume exists), and `qos-set` (one `rbd_qos_*` setting written). One more
//! point is not part of a create: `marker` (a backup took its change-marker snapshot).

pub use blockform_provider::fault::{Fault, FaultMode};

/// The environment variable a fault is read from.
pub const FAULT_ENV: &str = "BLOCKFORM_CEPH_FAULT";

/// Every fault point, in the order a create passes them.
pub const STEPS: [&str; 13] = [
    "create",
    "import",
    "source-snapshot",
    "protect",
    "clone",
    "flatten",
    "unprotect",
    "source-snapshot-removed",
    "resize",
    "record",
    "rename",
    "qos-set",
    "marker",
];

/// The steps a volume cloned from a volume passes, in order: with `flatten_clones` (the clone
/// is flattened and the temporary snapshot removed) or without.
pub fn clone_steps(flatten: bool) -> &'static [&'static str] {
    if flatten {
        &[
            "source-snapshot",
            "protect",
            "clone",
            "flatten",
            "unprotect",
            "source-snapshot-removed",
            "resize",
            "record",
            "rename",
        ]
    } else {
        &["source-snapshot", "protect", "clone", "resize", "record", "rename"]
    }
}

/// What a fault may do here.
pub const MODES: [FaultMode; 3] = [FaultMode::Abort, FaultMode::Fail, FaultMode::KillWorker];

/// The fault of the environment, if one is set.
///
/// # Errors
/// A value that is not a fault, with the reason.
pub fn from_env() -> Result<Option<Fault>, String> {
    Fault::from_env(FAULT_ENV, &STEPS, &MODES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_and_mode_of_this_provider_reads() {
        let kill = Fault::parse("kill-worker-after:clone", &STEPS, &MODES).unwrap();
        assert!(kill.kills_worker_at("clone"));
        assert!(
            Fault::parse("fail-after:clones", &STEPS, &MODES)
                .unwrap_err()
                .starts_with("`clones` is not a step; the steps are create, import, source-snapshot")
        );
        for step in clone_steps(true).iter().chain(clone_steps(false)) {
            assert!(STEPS.contains(step), "{step}");
        }
    }
}
