//! Carrying out an approved plan: record what the refresh found and what `import` blocks adopt,
//! walk the operation graph (`crate::apply`) with retries of transient back-end failures,
//! stop scheduling on an interrupt, and record the outputs once everything is done.

use std::path::Path;
use std::sync::Arc;

use super::error::{CommandError, ErrorKind};
use super::plan::known_values;
use crate::apply::retry::RetryPolicy;
use crate::apply::{ApplyOptions, ApplyReport, Interrupt};
use crate::config::vars::VarInputs;
use crate::config::{self, EvalOptions, MissingVars};
use crate::events::{Event, EventSink};
use crate::plan::Plan;
use crate::providers::Providers;
use crate::state::{ResourceState, Store};

/// What to apply, and with what.
pub struct ApplyRequest {
    /// Variable values, for re-evaluating the configuration as objects come into existence.
    pub vars: VarInputs,
    /// The approved plan.
    pub plan: Plan,
    /// State before the plan (what the refresh found is recorded against it).
    pub prior: Vec<ResourceState>,
    /// The state, locked by the caller.
    pub store: Box<dyn Store>,
    /// The configuration's providers.
    pub providers: Providers,
    /// Operations running at once.
    pub parallelism: usize,
    /// How transient back-end failures are retried.
    pub retry: RetryPolicy,
}

/// What an apply did, and how many objects it adopted from `import` blocks.
#[derive(Debug)]
pub struct Applied {
    /// Operations done, failed and skipped.
    pub report: ApplyReport,
    /// Objects adopted.
    pub imported: usize,
    /// Why the outputs could not be recorded, when they could not (the apply itself is done).
    pub outputs_error: Option<String>,
}

/// Applies `request.plan`: `Err` only when state cannot be written or the scheduler cannot
/// start (single operations fail into the report). SIGINT/SIGTERM stop the scheduling of new
/// operations; a second one ends the process at once.
pub fn apply(dir: &Path, request: ApplyRequest, events: &Arc<dyn EventSink>) -> Result<Applied, CommandError> {
    let ApplyRequest {
        vars,
        plan,
        prior,
        store,
        providers,
        parallelism,
        retry,
    } = request;
    let graph = crate::graph::build(&plan).map_err(|e| CommandError::new(ErrorKind::Refused, e.to_string()))?;
    // State follows reality before the first operation, as the plan assumed, and adopts what
    // `import` blocks name.
    let mut first = crate::apply::drift_commit(&plan.drift, &prior);
    first.put.extend(plan.imports.iter().map(|i| i.record.clone()));
    // The state must still be the one the plan was made against: a writer that committed
    // meanwhile (possible only without the lock) is not overwritten.
    store
        .commit_at(plan.serial, &first)
        .map_err(|e| CommandError::state_while("state could not be written", &e))?;
    drop(prior);
    let imported = plan.imports.len();
    let reevaluate_dir = dir.to_path_buf();
    let reevaluate_inputs = vars.clone();
    let reevaluate: crate::apply::Reevaluate = Box::new(move |records| {
        let options = EvalOptions {
            vars: reevaluate_inputs.clone(),
            missing_vars: MissingVars::Unknown,
            known: known_values(records),
            allow_undeclared_imports: false,
        };
        match config::load(&reevaluate_dir, &options) {
            Ok(loaded) if !loaded.diagnostics.has_errors() => Ok(loaded.desired),
            _ => Err("the configuration no longer evaluates".to_owned()),
        }
    });
    let options = ApplyOptions {
        retry,
        parallelism,
        dir: dir.to_path_buf(),
        events: Arc::clone(events),
        reevaluate,
    };
    let interrupt = Interrupt::default();
    let store: Arc<dyn Store> = Arc::from(store);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .map_err(|e| CommandError::new(ErrorKind::Refused, format!("cannot start the scheduler: {e}")))?;
    let plan = Arc::new(plan);
    let report = runtime
        .block_on(async {
            let watcher = tokio::spawn(watch_signals(interrupt.clone(), Arc::clone(events)));
            let result = crate::apply::apply(
                Arc::clone(&plan),
                &graph,
                Arc::clone(&store),
                providers,
                options,
                interrupt.clone(),
            )
            .await;
            watcher.abort();
            result
        })
        .map_err(|e| CommandError::state(format!("state could not be written, the run stopped: {e}")))?;
    // Outputs are recorded once everything is done.
    let outputs_error = if report.failed.is_empty() && !report.interrupted {
        record_outputs(dir, store.as_ref(), vars).err()
    } else {
        None
    };
    Ok(Applied {
        report,
        imported,
        outputs_error,
    })
}

async fn watch_signals(interrupt: Interrupt, events: Arc<dyn EventSink>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return;
    };
    let mut count = 0;
    loop {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        count += 1;
        interrupt.trigger();
        if count == 1 {
            events.event(&Event::Notice(
                "\nInterrupt received: no new operations start; waiting for the running ones to finish and be recorded…\n",
            ));
        } else {
            events.event(&Event::Notice(
                "\nTwo interrupts received: stopping now. An operation still running may be half done; it is recorded as an intent, and the next plan or apply checks it and completes the record.\n",
            ));
            std::process::exit(130);
        }
    }
}

/// Evaluates the outputs with every object applied and records them.
fn record_outputs(dir: &Path, store: &dyn Store, inputs: VarInputs) -> Result<(), String> {
    let records = store.resources().map_err(|e| e.to_string())?;
    let options = EvalOptions {
        vars: inputs,
        missing_vars: MissingVars::Unknown,
        known: known_values(&records),
        allow_undeclared_imports: false,
    };
    let loaded = config::load(dir, &options).map_err(|_| "outputs could not be evaluated".to_owned())?;
    let outputs = loaded
        .desired
        .outputs
        .iter()
        .map(|(name, o)| {
            (
                name.clone(),
                crate::state::OutputState {
                    value: o.value.to_json(),
                    sensitive: o.sensitive,
                },
            )
        })
        .collect();
    store
        .commit(&crate::state::Commit {
            outputs: Some(outputs),
            ..crate::state::Commit::default()
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
}
