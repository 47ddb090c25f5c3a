//! The commands that work on existing objects without a plan: `drift` (configuration × state ×
//! reality, changing nothing) and `import` (adopt one back-end object into state).

use crate::config::vars::VarInputs;
use crate::drift::DriftReport;
use crate::model::Address;
use crate::state::{Commit, ResourceState};

use super::Engine;
use super::error::{CommandError, ErrorKind};
use super::plan::load_against_state;

impl Engine<'_> {
    /// The drift report of the configuration: what changed, went missing or appeared outside
    /// blockform. Reads state (with its lock while reading) and the back ends; writes nothing.
    pub fn drift(&self, vars: VarInputs) -> Result<DriftReport, CommandError> {
        let (store, lock) = (self.open_state)().map_err(|message| CommandError::new(ErrorKind::State, message))?;
        let prior = store.resources()?;
        let intents = store.intents()?;
        let (loaded, providers) = load_against_state(self.dir, &prior, vars, self.events.as_ref())?;
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let report =
            crate::drift::check(&loaded.desired, &prior, &intents, &providers, &now).map_err(CommandError::provider)?;
        drop(lock);
        Ok(report)
    }

    /// Adopts the back-end object `id` (`PROVIDER/OBJECT`) as `address`, reading its real
    /// attributes, and records it: the record it wrote.
    pub fn import(&self, vars: VarInputs, address: &Address, id: &str) -> Result<ResourceState, CommandError> {
        let (store, _lock) = (self.open_state)().map_err(|message| CommandError::new(ErrorKind::State, message))?;
        let prior = store.resources()?;
        let (loaded, providers) = load_against_state(self.dir, &prior, vars, self.events.as_ref())?;
        self.events.event(&crate::events::Event::Output(&format!(
            "{address}: Importing from ID \"{id}\"...\n"
        )));
        let record =
            crate::import::read(&loaded.desired, &prior, &providers, address, id).map_err(CommandError::from)?;
        store
            .commit(&Commit {
                put: vec![record.clone()],
                ..Commit::default()
            })
            .map_err(|e| CommandError::state(format!("state could not be written: {e}")))?;
        Ok(record)
    }
}
