//! The engine: what blockform does, apart from how it is asked and how it shows it. Planning
//! (plan, apply, destroy, refresh-only, import blocks) over one context of state, providers and
//! recovery lives in [`plan`]; carrying a plan out in [`apply`]. The engine reports progress as
//! [`events`] and ends with a typed [`error::CommandError`]; the CLI (`crate::cli`) parses the
//! command line, calls the engine and renders both.

pub mod apply;
pub mod error;
pub mod events;
pub mod plan;

pub use error::{CommandError, ErrorKind};
pub use events::{Event, EventSink, Quiet};
pub use plan::{PlanRequest, Planned, known_values, load_against_state, load_config, plan};
