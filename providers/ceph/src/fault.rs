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

use std::fmt;
use std::io::Write;

use blockform_provider::ProviderError;

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

/// What happens at the fault's step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// The process aborts: nothing after the step runs, no cleanup either.
    Abort,
    /// The step's point returns an error.
    Fail,
    /// The worker is killed during the next call.
    KillWorker,
}

/// A fault at one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// What happens.
    pub mode: FaultMode,
    /// After which step ([`STEPS`]).
    pub step: &'static str,
}

impl Fault {
    /// Reads `abort-after:STEP` or `fail-after:STEP`.
    ///
    /// # Errors
    /// Why the text is not a fault, naming the steps.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (mode, step) = match text.split_once(':') {
            Some(("abort-after", step)) => (FaultMode::Abort, step),
            Some(("fail-after", step)) => (FaultMode::Fail, step),
            Some(("kill-worker-after", step)) => (FaultMode::KillWorker, step),
            _ => {
                return Err("it must be `abort-after:STEP`, `fail-after:STEP` or `kill-worker-after:STEP`".to_owned());
            }
        };
        let step = STEPS
            .iter()
            .find(|known| **known == step)
            .ok_or_else(|| format!("`{step}` is not a step; the steps are {}", STEPS.join(", ")))?;
        Ok(Self { mode, step })
    }

    /// The fault of the environment, if one is set.
    ///
    /// # Errors
    /// A value that is not a fault, with the reason.
    pub fn from_env() -> Result<Option<Self>, String> {
        match std::env::var(FAULT_ENV) {
            Ok(text) if text.is_empty() => Ok(None),
            Ok(text) => Self::parse(&text)
                .map(Some)
                .map_err(|reason| format!("{FAULT_ENV}={text:?}: {reason}")),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!("{FAULT_ENV} is not valid UTF-8")),
        }
    }

    /// Whether the worker is to be killed during the call after `step`; the provider, which
    /// owns the worker, does that.
    pub fn kills_worker_at(&self, step: &str) -> bool {
        self.mode == FaultMode::KillWorker && self.step == step
    }

    /// Acts at `step` when the fault is for it.
    ///
    /// # Errors
    /// The injected failure, in [`FaultMode::Fail`].
    pub fn at(&self, step: &str) -> Result<(), ProviderError> {
        if self.step != step {
            return Ok(());
        }
        match self.mode {
            FaultMode::Abort => {
                // The process ends here; stderr is how a test sees which step it stopped after.
                let _ = writeln!(std::io::stderr(), "{FAULT_ENV}: aborting after step `{step}`");
                std::process::abort();
            }
            FaultMode::Fail => Err(ProviderError::fatal(format!(
                "injected fault after step `{step}` ({self})"
            ))),
            FaultMode::KillWorker => Ok(()),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            FaultMode::Abort => "abort-after",
            FaultMode::Fail => "fail-after",
            FaultMode::KillWorker => "kill-worker-after",
        };
        write!(f, "{mode}:{}", self.step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_read_as_mode_and_step() {
        assert_eq!(
            Fault::parse("abort-after:clone").unwrap(),
            Fault {
                mode: FaultMode::Abort,
                step: "clone"
            }
        );
        let fail = Fault::parse("fail-after:qos-set").unwrap();
        assert_eq!(fail.to_string(), "fail-after:qos-set");
        assert!(fail.at("clone").is_ok());
        assert_eq!(
            fail.at("qos-set").unwrap_err().to_string(),
            "injected fault after step `qos-set` (fail-after:qos-set)"
        );
        assert_eq!(
            Fault::parse("kill:clone").unwrap_err(),
            "it must be `abort-after:STEP`, `fail-after:STEP` or `kill-worker-after:STEP`"
        );
        let kill = Fault::parse("kill-worker-after:clone").unwrap();
        assert_eq!(kill.to_string(), "kill-worker-after:clone");
        assert!(kill.kills_worker_at("clone") && !kill.kills_worker_at("flatten"));
        assert!(
            kill.at("clone").is_ok(),
            "the provider kills its worker, the step goes on"
        );
        assert!(
            Fault::parse("fail-after:clones")
                .unwrap_err()
                .starts_with("`clones` is not a step; the steps are create, import, source-snapshot")
        );
    }
}
