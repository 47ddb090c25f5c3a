//! Plans: what would change, and why. `diff` compares the desired configuration with state
//! (and, where providers can tell, reality) and produces a [`Plan`]; the storage rules that no
//! anchor enforces (SPEC §4) are checked here, before anything is touched.

mod diff;
mod model;
pub mod saved;
mod step;

pub use diff::{Observed, PlanInputs, PlanOptions, diff, new_backend_id, state_attributes};
pub use model::{Action, Change, Drift, OutputChange, Plan, PlanMode, PlannedImport, Reason, StorageAction, Summary};
pub use step::Step;
