//! The engine: what blockform does, apart from how it is asked and how it shows it. An
//! [`Engine`] is one context: the configuration directory, how its state is opened (backend and
//! lock chosen by the caller) and where events go. Planning (plan, apply, destroy,
//! refresh-only, `import` blocks, with recovery of an interrupted run and the refresh of every
//! provider) lives in [`plan`]; carrying a plan out in [`apply`]; `drift` and `import` in
//! [`inspect`]. The engine reports progress as [`crate::events`] and ends with a typed
//! [`CommandError`]; the CLI (`crate::cli`) parses the command line, calls the engine and
//! renders both.

pub mod apply;
pub mod attachments;
pub mod error;
pub mod inspect;
pub mod plan;
pub mod unrecorded;

use std::path::Path;
use std::sync::Arc;

pub use crate::events::{Event, EventSink, Quiet};
pub use error::{CommandError, ErrorKind};
pub use plan::{PlanRequest, Planned, known_values, load_against_state};

/// One configuration, its state and where its events go: what every command runs against.
pub struct Engine<'a> {
    /// The configuration directory.
    pub dir: &'a Path,
    /// Opens the state and takes its lock.
    pub open_state: Box<plan::OpenState<'a>>,
    /// Where progress, notes and warnings go.
    pub events: Arc<dyn EventSink>,
}

impl<'a> Engine<'a> {
    /// Loads the configuration against state and makes a plan (see [`plan::plan`]).
    pub fn plan(
        &self,
        request: &PlanRequest,
        prompt: &mut dyn FnMut(&str, Option<&str>) -> String,
    ) -> Result<Planned, CommandError> {
        plan::plan(self, request, prompt)
    }

    /// Applies an approved plan (see [`apply::apply`]).
    pub fn apply(&self, request: apply::ApplyRequest) -> Result<apply::Applied, CommandError> {
        apply::apply(self.dir, request, &self.events)
    }

    /// An engine for the configuration in `dir`.
    pub fn new(dir: &'a Path, open_state: Box<plan::OpenState<'a>>, events: Arc<dyn EventSink>) -> Engine<'a> {
        Engine {
            dir,
            open_state,
            events,
        }
    }
}
