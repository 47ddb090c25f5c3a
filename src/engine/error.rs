//! The one error a command ends with: what kind of failure it is (which decides nothing about
//! the exit code today, all are 1, but lets front ends and tests tell a configuration mistake
//! from a back end that failed), the message, the hints that tell the user what to do next, and
//! for configuration errors the diagnostics with their source spans.
//!
//! Messages never carry their hints glued into the text: a hint is a line of its own, printed
//! after the error.

use crate::diagnostics::{Diagnostics, SourceMap};

/// What failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The configuration (or a command-line value) is wrong; diagnostics point at it.
    Config,
    /// State could not be read, locked or written.
    State,
    /// A back end refused or failed.
    Provider,
    /// A saved plan does not fit, a plan needs approval that was not given, and other refusals
    /// of the request itself.
    Refused,
}

/// A command's error.
#[derive(Debug)]
pub struct CommandError {
    /// What failed.
    pub kind: ErrorKind,
    /// One line saying what went wrong; empty when the diagnostics say it all.
    pub message: String,
    /// What the user can do, one line each.
    pub hints: Vec<String>,
    /// Diagnostics with source spans (configuration errors), and the files they point into.
    pub diagnostics: Option<Box<(SourceMap, Diagnostics)>>,
}

impl CommandError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CommandError {
        CommandError {
            kind,
            message: message.into(),
            hints: Vec::new(),
            diagnostics: None,
        }
    }

    /// A configuration error made of diagnostics (at least one of them an error).
    pub fn diagnostics(sources: SourceMap, diagnostics: Diagnostics) -> CommandError {
        CommandError {
            kind: ErrorKind::Config,
            message: String::new(),
            hints: Vec::new(),
            diagnostics: Some(Box::new((sources, diagnostics))),
        }
    }

    /// A state error.
    pub fn state(error: impl std::fmt::Display) -> CommandError {
        CommandError::new(ErrorKind::State, error.to_string())
    }

    /// A back-end error.
    pub fn provider(error: impl std::fmt::Display) -> CommandError {
        CommandError::new(ErrorKind::Provider, error.to_string())
    }

    /// The same error with one more hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> CommandError {
        self.hints.push(hint.into());
        self
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.message.is_empty() {
            f.write_str(&self.message)?;
        } else if let Some(boxed) = &self.diagnostics {
            let (_, diagnostics) = boxed.as_ref();
            let errors = diagnostics.error_count();
            write!(f, "{errors} error{} found", if errors == 1 { "" } else { "s" })?;
        }
        for hint in &self.hints {
            write!(f, "\n{hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CommandError {}

impl CommandError {
    /// A state error whose message says what was being done (`state could not be written`),
    /// with the state's own hint.
    pub fn state_while(doing: &str, error: &crate::state::StateError) -> CommandError {
        CommandError::state(format!("{doing}: {error}")).with_state_hint(error)
    }

    fn with_state_hint(mut self, error: &crate::state::StateError) -> CommandError {
        self.hints.extend(error.hint());
        self
    }
}

impl From<crate::state::StateError> for CommandError {
    fn from(error: crate::state::StateError) -> CommandError {
        CommandError::state(&error).with_state_hint(&error)
    }
}

impl From<crate::import::ImportError> for CommandError {
    fn from(error: crate::import::ImportError) -> CommandError {
        use crate::import::ImportError;
        let kind = match &error {
            ImportError::Provider { .. } | ImportError::Store { .. } => ErrorKind::Provider,
            ImportError::Write { .. } | ImportError::Refused(_) | ImportError::AlreadyManaged(_) => ErrorKind::Refused,
            _ => ErrorKind::Config,
        };
        CommandError::new(kind, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_follow_the_message_on_lines_of_their_own() {
        let error = CommandError::new(ErrorKind::Refused, "the saved plan is stale")
            .hint("Make a new plan with `blockform plan --out FILE` and apply that.");
        assert_eq!(
            error.to_string(),
            "the saved plan is stale\nMake a new plan with `blockform plan --out FILE` and apply that."
        );
        assert_eq!(error.kind, ErrorKind::Refused);
    }
}
