//! What the engine reports while it works, as a stream of events: the CLI draws them (live
//! bars on a terminal, timestamped lines in CI), a test or another front end may collect them.
//! The engine itself never writes to stdout or stderr. This vocabulary sits below the engine
//! and apply (both emit events), above the plan whose changes they name.

use std::time::Duration;

use crate::diagnostics::{Diagnostics, SourceMap};
use crate::model::Address;
use crate::plan::{Change, Plan, Step};

/// One thing that happened.
#[derive(Debug)]
pub enum Event<'a> {
    /// Warnings found while loading or planning (errors end the run as a `CommandError`).
    Warnings {
        /// The warnings.
        diagnostics: &'a Diagnostics,
        /// The files they point into.
        sources: &'a SourceMap,
    },
    /// What changed outside blockform, shown before the errors of a plan it may explain.
    DriftBeforeErrors(&'a Plan),
    /// A note for people about the run (recovery of an interrupted run, a warning).
    Notice(&'a str),
    /// A result line for the command's output (stdout), such as a file the run wrote.
    Output(&'a str),
    /// An apply starts `operations` operations.
    ApplyStarted {
        /// How many.
        operations: usize,
    },
    /// An operation started.
    OperationStarted {
        /// The change it belongs to.
        change: &'a Change,
        /// Which half.
        step: Step,
    },
    /// Bytes through a long data operation (a backup, a restore).
    Bytes {
        /// The resource.
        address: &'a Address,
        /// Which half.
        step: Step,
        /// Bytes done.
        done: u64,
        /// Bytes in all.
        total: u64,
    },
    /// An operation finished.
    OperationFinished {
        /// The change it belongs to.
        change: &'a Change,
        /// Which half.
        step: Step,
        /// How long it took.
        elapsed: Duration,
    },
    /// An operation failed.
    OperationFailed {
        /// The resource.
        address: &'a Address,
        /// Which half.
        step: Step,
        /// Why.
        error: &'a str,
    },
    /// A back-end call failed with a transient error and is tried again after a wait.
    Retrying {
        /// The provider block.
        provider: &'a str,
        /// The provider operation (`create_volume`).
        operation: &'a str,
        /// The call that failed (1-based).
        attempt: u32,
        /// Calls allowed in all.
        attempts: u32,
        /// How long until the next call.
        delay: Duration,
        /// The failure.
        error: &'a str,
    },
    /// A message between the operation lines of an apply.
    ApplyMessage(&'a str),
    /// The apply's operations are over (finished, failed or skipped).
    ApplyFinished,
}

/// Receives events; called from the engine's threads, so it is shared.
pub trait EventSink: Send + Sync {
    /// Takes one event.
    fn event(&self, event: &Event<'_>);
}

/// Drops every event: for callers that only want the result.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl EventSink for Quiet {
    fn event(&self, _event: &Event<'_>) {}
}
