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

use std::fmt;
use std::io::Write;

use blockform_provider::ProviderError;

/// The environment variable a fault is read from.
pub const FAULT_ENV: &str = "BLOCKFORM_LVM_FAULT";

/// Every fault point, in the order a create passes them.
pub const STEPS: [&str; 5] = ["partial", "copy", "clear", "extend", "rename"];

/// What happens at the fault's step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// The process aborts: nothing after the step runs, no cleanup either.
    Abort,
    /// The step's point returns an error.
    Fail,
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
            _ => return Err("it must be `abort-after:STEP` or `fail-after:STEP`".to_owned()),
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
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            FaultMode::Abort => "abort-after",
            FaultMode::Fail => "fail-after",
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
            Fault::parse("abort-after:copy").unwrap(),
            Fault {
                mode: FaultMode::Abort,
                step: "copy"
            }
        );
        let fail = Fault::parse("fail-after:extend").unwrap();
        assert_eq!(fail.to_string(), "fail-after:extend");
        assert!(fail.at("copy").is_ok());
        assert_eq!(
            fail.at("extend").unwrap_err().to_string(),
            "injected fault after step `extend` (fail-after:extend)"
        );
        assert_eq!(
            Fault::parse("kill:copy").unwrap_err(),
            "it must be `abort-after:STEP` or `fail-after:STEP`"
        );
        assert_eq!(
            Fault::parse("fail-after:copies").unwrap_err(),
            "`copies` is not a step; the steps are partial, copy, clear, extend, rename"
        );
    }
}
