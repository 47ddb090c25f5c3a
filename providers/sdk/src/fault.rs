//! Fault injection for the providers' crash tests: named points right after the steps of a
//! multi-step operation, where a test stops the process as a SIGKILL would (no cleanup, no
//! destructor runs), makes the step fail, or (Ceph) kills the provider's worker, to check that
//! the next run recovers. Each provider reads its fault from an environment variable of its
//! own (`BLOCKFORM_LOCAL_FAULT=abort-after:STEP`) and names its steps; a point does nothing
//! unless the variable names it. Meant for tests only.

use std::fmt;
use std::io::Write;

use crate::error::ProviderError;

/// What happens at the fault's step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// The process aborts: nothing after the step runs, no cleanup either.
    Abort,
    /// The step's point returns an error.
    Fail,
    /// The provider's worker process is killed during the next call.
    KillWorker,
}

impl FaultMode {
    /// How the mode is written before `:STEP`.
    pub fn word(self) -> &'static str {
        match self {
            Self::Abort => "abort-after",
            Self::Fail => "fail-after",
            Self::KillWorker => "kill-worker-after",
        }
    }
}

/// A fault at one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// What happens.
    pub mode: FaultMode,
    /// After which step.
    pub step: &'static str,
}

impl Fault {
    /// Reads `MODE:STEP` for one of `modes` and one of `steps`.
    ///
    /// # Errors
    /// Why the text is not a fault, naming the modes or the steps.
    pub fn parse(text: &str, steps: &[&'static str], modes: &[FaultMode]) -> Result<Self, String> {
        let parsed = text
            .split_once(':')
            .and_then(|(word, step)| Some((*modes.iter().find(|mode| mode.word() == word)?, step)));
        let Some((mode, step)) = parsed else {
            let forms: Vec<String> = modes.iter().map(|mode| format!("`{}:STEP`", mode.word())).collect();
            let forms = match forms.split_last() {
                Some((last, [])) => last.clone(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => String::new(),
            };
            return Err(format!("it must be {forms}"));
        };
        let step = steps
            .iter()
            .find(|known| **known == step)
            .ok_or_else(|| format!("`{step}` is not a step; the steps are {}", steps.join(", ")))?;
        Ok(Self { mode, step })
    }

    /// The fault the environment variable `env` holds, if any.
    ///
    /// # Errors
    /// A value that is not a fault, with the reason.
    pub fn from_env(env: &str, steps: &[&'static str], modes: &[FaultMode]) -> Result<Option<Self>, String> {
        match std::env::var(env) {
            Ok(text) if text.is_empty() => Ok(None),
            Ok(text) => Self::parse(&text, steps, modes)
                .map(Some)
                .map_err(|reason| format!("{env}={text:?}: {reason}")),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!("{env} is not valid UTF-8")),
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
            FaultMode::Abort => abort(step),
            FaultMode::Fail => Err(ProviderError::fatal(format!(
                "injected fault after step `{step}` ({self})"
            ))),
            FaultMode::KillWorker => Ok(()),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.mode.word(), self.step)
    }
}

/// Aborts the process when the environment variable `env` holds `abort-after:STEP` for
/// `step`: the point of a provider whose faults only abort.
pub fn abort_point(env: &str, step: &str) {
    if std::env::var_os(env).is_some_and(|value| value.to_str() == Some(&format!("abort-after:{step}"))) {
        abort(step);
    }
}

fn abort(step: &str) -> ! {
    // The process ends here; stderr is how a test sees which step it stopped after.
    let _ = writeln!(std::io::stderr(), "aborting after step `{step}` (injected fault)");
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: [&str; 3] = ["copy", "extend", "rename"];

    #[test]
    fn faults_read_as_mode_and_step() {
        let modes = [FaultMode::Abort, FaultMode::Fail];
        assert_eq!(
            Fault::parse("abort-after:copy", &STEPS, &modes).unwrap(),
            Fault {
                mode: FaultMode::Abort,
                step: "copy"
            }
        );
        let fail = Fault::parse("fail-after:extend", &STEPS, &modes).unwrap();
        assert_eq!(fail.to_string(), "fail-after:extend");
        assert!(fail.at("copy").is_ok());
        assert_eq!(
            fail.at("extend").unwrap_err().to_string(),
            "injected fault after step `extend` (fail-after:extend)"
        );
        assert_eq!(
            Fault::parse("kill:copy", &STEPS, &modes).unwrap_err(),
            "it must be `abort-after:STEP` or `fail-after:STEP`"
        );
        assert_eq!(
            Fault::parse("kill-worker-after:copy", &STEPS, &modes).unwrap_err(),
            "it must be `abort-after:STEP` or `fail-after:STEP`",
            "a mode the provider does not offer"
        );
        assert_eq!(
            Fault::parse("fail-after:copies", &STEPS, &modes).unwrap_err(),
            "`copies` is not a step; the steps are copy, extend, rename"
        );
    }

    #[test]
    fn a_worker_fault_lets_the_step_go_on_and_tells_the_provider() {
        let all = [FaultMode::Abort, FaultMode::Fail, FaultMode::KillWorker];
        assert_eq!(
            Fault::parse("x:copy", &STEPS, &all).unwrap_err(),
            "it must be `abort-after:STEP`, `fail-after:STEP` or `kill-worker-after:STEP`"
        );
        let kill = Fault::parse("kill-worker-after:copy", &STEPS, &all).unwrap();
        assert_eq!(kill.to_string(), "kill-worker-after:copy");
        assert!(kill.kills_worker_at("copy") && !kill.kills_worker_at("extend"));
        assert!(kill.at("copy").is_ok());
    }
}
