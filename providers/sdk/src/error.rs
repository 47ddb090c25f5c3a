//! The provider's typed error: what went wrong, whether retrying can help, and the command
//! line and stderr of the back-end tool that showed it.
//!
//! The engine decides from the variant alone: `NotFound` during refresh means the object is
//! gone, `Transient` and `TimedOut` are retried with backoff, everything else stops the
//! operation and is reported with its command context.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::ProviderKind;
use crate::object::ObjectRef;
use crate::quote;

/// The result type of provider operations.
pub type Result<T, E = ProviderError> = std::result::Result<T, E>;

/// A back-end command that failed, as the person reading the error needs to see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandContext {
    /// The program and its arguments, as the provider asked for them.
    pub argv: Vec<String>,
    /// The ssh destination (`user@host:port`) when the command ran remotely.
    pub remote: Option<String>,
    /// The exit status, or `None` when the process was killed by a signal.
    pub status: Option<i32>,
    /// What the command wrote to stderr (lossily decoded).
    pub stderr: String,
}

impl CommandContext {
    /// The command line, shell-quoted so it can be pasted into a terminal.
    pub fn command_line(&self) -> String {
        quote::command_line(&self.argv)
    }

    /// The backticked command line and, for remote commands, where it ran.
    pub fn invocation(&self) -> String {
        match &self.remote {
            Some(remote) => format!("`{}` on `{remote}`", self.command_line()),
            None => format!("`{}`", self.command_line()),
        }
    }

    /// The stderr with surrounding whitespace removed, or `None` when there was none.
    pub fn stderr_trimmed(&self) -> Option<&str> {
        Some(self.stderr.trim()).filter(|stderr| !stderr.is_empty())
    }
}

impl fmt::Display for CommandContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.invocation())?;
        match self.status {
            Some(code) => write!(f, " exited with status {code}")?,
            None => f.write_str(" was killed by a signal")?,
        }
        if let Some(stderr) = self.stderr_trimmed() {
            write!(f, ": {stderr}")?;
        }
        Ok(())
    }
}

/// An error from a provider operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProviderError {
    /// The object does not exist on the back end.
    #[error("{object} not found{}", command_suffix(.command.as_deref()))]
    NotFound {
        /// The missing object.
        object: ObjectRef,
        /// The command that reported it, if any.
        command: Option<Box<CommandContext>>,
    },
    /// The object is in use (open, attached, mapped, has dependent clones) and cannot be changed now.
    #[error("{object} is busy: {reason}{}", command_suffix(.command.as_deref()))]
    Busy {
        /// The busy object.
        object: ObjectRef,
        /// Why the back end considers it busy.
        reason: String,
        /// The command that reported it, if any.
        command: Option<Box<CommandContext>>,
    },
    /// An object of that name already exists and is not the one asked for.
    #[error("{object} conflicts with an existing object: {reason}{}", command_suffix(.command.as_deref()))]
    Conflict {
        /// The object whose name is taken.
        object: ObjectRef,
        /// What differs.
        reason: String,
        /// The command that reported it, if any.
        command: Option<Box<CommandContext>>,
    },
    /// The object is in a state that does not allow the operation (shrinking, error status...).
    #[error("{object} is in an invalid state: {reason}{}", command_suffix(.command.as_deref()))]
    InvalidState {
        /// The object in the wrong state.
        object: ObjectRef,
        /// What state it is in and what the operation needs.
        reason: String,
        /// The command that reported it, if any.
        command: Option<Box<CommandContext>>,
    },
    /// A failure that may go away by itself (connection lost, cluster not ready, lock held).
    #[error("temporary failure: {reason}{}", command_suffix(.command.as_deref()))]
    Transient {
        /// What failed.
        reason: String,
        /// The command that failed, if any.
        command: Option<Box<CommandContext>>,
    },
    /// The command did not finish within its timeout and was killed.
    #[error("{} timed out after {timeout_ms} ms{}", .command.invocation(), stderr_suffix(.command))]
    TimedOut {
        /// The command that was killed, with the stderr it wrote before.
        command: Box<CommandContext>,
        /// The timeout that expired.
        timeout_ms: u64,
    },
    /// A failure that retrying cannot fix.
    #[error("{reason}{}", command_suffix(.command.as_deref()))]
    Fatal {
        /// What failed.
        reason: String,
        /// The command that failed, if any.
        command: Option<Box<CommandContext>>,
    },
    /// A name cannot be passed to the back end.
    #[error("invalid name `{}`: {reason}", .name.escape_debug())]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// The provider does not implement an optional operation.
    #[error("provider `{provider_name}` ({provider_kind}) does not support `{operation}`")]
    Unsupported {
        /// The kind of the provider.
        provider_kind: ProviderKind,
        /// The name of the provider block.
        provider_name: String,
        /// The trait method that was called.
        operation: String,
    },
}

impl ProviderError {
    /// Whether the engine should retry the operation with backoff.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient { .. } | Self::TimedOut { .. })
    }

    /// The command that failed, when a back-end tool reported the error.
    pub fn command(&self) -> Option<&CommandContext> {
        match self {
            Self::NotFound { command, .. }
            | Self::Busy { command, .. }
            | Self::Conflict { command, .. }
            | Self::InvalidState { command, .. }
            | Self::Transient { command, .. }
            | Self::Fatal { command, .. } => command.as_deref(),
            Self::TimedOut { command, .. } => Some(command),
            Self::InvalidName { .. } | Self::Unsupported { .. } => None,
        }
    }

    /// A `NotFound` error without a command.
    pub fn not_found(object: ObjectRef) -> Self {
        Self::NotFound { object, command: None }
    }

    /// A `Fatal` error without a command.
    pub fn fatal(reason: impl Into<String>) -> Self {
        Self::Fatal {
            reason: reason.into(),
            command: None,
        }
    }

    /// A `Transient` error without a command.
    pub fn transient(reason: impl Into<String>) -> Self {
        Self::Transient {
            reason: reason.into(),
            command: None,
        }
    }
}

fn command_suffix(command: Option<&CommandContext>) -> String {
    command.map_or_else(String::new, |command| format!(": {command}"))
}

fn stderr_suffix(command: &CommandContext) -> String {
    command
        .stderr_trimmed()
        .map_or_else(String::new, |stderr| format!(": {stderr}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rbd_info_failure() -> CommandContext {
        CommandContext {
            argv: vec!["rbd".into(), "info".into(), "volumes/volume-1".into()],
            remote: None,
            status: Some(2),
            stderr: "rbd: error opening image volume-1: (2) No such file or directory\n".into(),
        }
    }

    #[test]
    fn not_found_names_the_object_the_command_and_its_stderr() {
        let error = ProviderError::NotFound {
            object: ObjectRef::volume("volume-1"),
            command: Some(Box::new(rbd_info_failure())),
        };
        assert_eq!(
            error.to_string(),
            "volume `volume-1` not found: `rbd info volumes/volume-1` exited with status 2: \
             rbd: error opening image volume-1: (2) No such file or directory"
        );
        assert_eq!(error.command().unwrap().status, Some(2));
        assert!(!error.is_retryable());
    }

    #[test]
    fn remote_commands_say_where_they_ran_and_quote_arguments() {
        let command = CommandContext {
            argv: vec!["lvchange".into(), "--addtag".into(), "owner=blockform x".into()],
            remote: Some("root@host1:22".into()),
            status: Some(5),
            stderr: String::new(),
        };
        assert_eq!(
            command.to_string(),
            "`lvchange --addtag 'owner=blockform x'` on `root@host1:22` exited with status 5"
        );
    }

    #[test]
    fn timeout_message_shows_the_stderr_written_before_the_kill() {
        let error = ProviderError::TimedOut {
            command: Box::new(CommandContext {
                argv: vec!["rbd".into(), "ls".into()],
                remote: None,
                status: None,
                stderr: "connecting to monitors\n".into(),
            }),
            timeout_ms: 200,
        };
        assert_eq!(
            error.to_string(),
            "`rbd ls` timed out after 200 ms: connecting to monitors"
        );
        assert!(error.is_retryable());
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        assert!(ProviderError::transient("cluster not ready").is_retryable());
        assert!(!ProviderError::fatal("bad").is_retryable());
        assert!(!ProviderError::not_found(ObjectRef::volume("v")).is_retryable());
        let busy = ProviderError::Busy {
            object: ObjectRef::volume("v"),
            reason: "image has watchers".into(),
            command: None,
        };
        assert!(!busy.is_retryable());
        assert_eq!(busy.to_string(), "volume `v` is busy: image has watchers");
    }

    #[test]
    fn messages_without_commands_have_no_suffix() {
        assert_eq!(
            ProviderError::fatal("volume group has no free extents").to_string(),
            "volume group has no free extents"
        );
        assert_eq!(
            ProviderError::transient("connection reset").to_string(),
            "temporary failure: connection reset"
        );
        let invalid = ProviderError::InvalidName {
            name: "bad\nname".into(),
            reason: "character `\\n` is not allowed".into(),
        };
        assert_eq!(
            invalid.to_string(),
            "invalid name `bad\\nname`: character `\\n` is not allowed"
        );
        let unsupported = ProviderError::Unsupported {
            provider_kind: ProviderKind::new("lvm"),
            provider_name: "host1".into(),
            operation: "export_image".into(),
        };
        assert_eq!(
            unsupported.to_string(),
            "provider `host1` (lvm) does not support `export_image`"
        );
        assert_eq!(unsupported.command(), None);
    }

    #[test]
    fn every_variant_round_trips_through_json() {
        let object = ObjectRef::volume("volume-1");
        let errors = vec![
            ProviderError::NotFound {
                object: object.clone(),
                command: Some(Box::new(rbd_info_failure())),
            },
            ProviderError::Busy {
                object: object.clone(),
                reason: "open".into(),
                command: None,
            },
            ProviderError::Conflict {
                object: object.clone(),
                reason: "size differs".into(),
                command: Some(Box::new(rbd_info_failure())),
            },
            ProviderError::InvalidState {
                object,
                reason: "status is `error`".into(),
                command: None,
            },
            ProviderError::transient("lock held"),
            ProviderError::TimedOut {
                command: Box::new(rbd_info_failure()),
                timeout_ms: 1000,
            },
            ProviderError::fatal("boom"),
            ProviderError::InvalidName {
                name: "-x".into(),
                reason: "starts with `-`".into(),
            },
            ProviderError::Unsupported {
                provider_kind: ProviderKind::new("ceph"),
                provider_name: "ssd".into(),
                operation: "attach_volume".into(),
            },
        ];
        for error in errors {
            let json = serde_json::to_string(&error).unwrap();
            assert_eq!(serde_json::from_str::<ProviderError>(&json).unwrap(), error);
        }
    }

    #[test]
    fn wire_shape_is_tagged_by_type() {
        let json = serde_json::to_value(ProviderError::fatal("boom")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "fatal", "reason": "boom", "command": null})
        );
    }
}
