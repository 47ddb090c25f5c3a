//! Planning: configuration × state × what the back ends hold → a plan. The steps `plan`,
//! `apply`, `destroy`, `show` and `graph` share: read state while parsing, evaluate, recover an
//! interrupted run, read the objects `import` blocks name, refresh, diff, and the plan-time
//! checks (lost state, backups, capacity, the operation graph).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::Engine;
use super::error::{CommandError, ErrorKind};
use crate::config::value::{Value, ValueMap};
use crate::config::vars::{VarArg, VarAssignment, VarInputs};
use crate::config::{self, EvalOptions, Loaded, MissingVars};
use crate::diagnostics::{Diagnostics, SourceMap};
use crate::events::{Event, EventSink};
use crate::model::{Address, resource_schema};
use crate::plan::{self, Observed, Plan, PlanInputs, PlanMode, PlanOptions};
use crate::providers::Providers;
use crate::state::{LockGuard, ResourceState, Store};

/// Opens the state a plan reads (and an apply writes), with its lock: chosen by the caller.
pub type OpenState<'a> = dyn Fn() -> Result<(Box<dyn Store>, Option<LockGuard>), String> + Sync + 'a;

/// What to plan.
pub struct PlanRequest {
    /// Variable values from the command line, files and the environment.
    pub vars: VarInputs,
    /// Whether a variable without a value is asked for (`prompt`) rather than an error.
    pub interactive: bool,
    /// Plan only these resources and what they depend on.
    pub target: Vec<Address>,
    /// Replace these resources even if nothing changed.
    pub replace: Vec<Address>,
    /// A normal plan, a plan to destroy every object in state, or one that only makes state
    /// follow reality.
    pub mode: PlanMode,
    /// Read reality from the providers first.
    pub refresh: bool,
    /// Write `resource` blocks for `import` blocks without one to this file, then plan with them.
    pub generate_config_out: Option<PathBuf>,
    /// Create volumes even where a provider holds an unrecorded volume blockform made.
    pub allow_duplicates: bool,
}

/// The result of the shared planning steps.
pub struct Planned {
    /// The plan.
    pub plan: Plan,
    /// Resources in state before the plan.
    pub prior: Vec<ResourceState>,
    /// The state store, still open.
    pub store: Box<dyn Store>,
    /// The state lock, held until dropped.
    pub lock: Option<LockGuard>,
    /// The configuration's live providers.
    pub providers: Providers,
}

/// Loads the configuration against state and makes a plan: recovery of an interrupted run,
/// `import` blocks, refresh, the diff and every plan-time check. Warnings and notes go to
/// `events`; an error ends the plan, with nothing changed.
///
/// `prompt` asks for the value of a variable that has none (`name`, its description) when the
/// request is interactive.
pub fn plan(
    engine: &Engine<'_>,
    request: &PlanRequest,
    prompt: &mut dyn FnMut(&str, Option<&str>) -> String,
) -> Result<Planned, CommandError> {
    let dir = engine.dir;
    let events = engine.events.as_ref();
    let mut inputs = request.vars.clone();
    // Reading state (opening the database, decoding every record) and parsing the files need
    // nothing from each other: they run at once. Evaluation then needs both.
    let (state, parsed) = std::thread::scope(|scope| {
        let state = scope.spawn(|| -> Result<_, CommandError> {
            let (store, lock) =
                (engine.open_state)().map_err(|message| CommandError::new(ErrorKind::State, message))?;
            let (meta, prior, outputs) = (store.meta()?, store.resources()?, store.outputs()?);
            // The values references to objects in state get: made here, beside parsing.
            let known = known_values(&prior);
            Ok((store, lock, meta, prior, outputs, known))
        });
        let parsed = config::parse(dir);
        (state.join(), parsed)
    });
    let state = state.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let (store, lock, mut meta, mut prior, prior_outputs, known) = state?;
    let mut options = EvalOptions {
        vars: inputs.clone(),
        missing_vars: MissingVars::Unknown,
        known,
        allow_undeclared_imports: request.generate_config_out.is_some(),
    };
    let interactive = request.interactive;
    if !interactive {
        options.missing_vars = MissingVars::Error;
    }
    let mut loaded = checked_load(
        parsed.map(|parsed| config::evaluate(dir, parsed, &options)),
        true,
        events,
    )?;
    if interactive && !loaded.desired.unset_variables.is_empty() {
        for name in loaded.desired.unset_variables.clone() {
            let description = loaded
                .config
                .variables
                .iter()
                .find(|v| v.name == name)
                .and_then(|v| v.description.clone());
            let value = prompt(&name, description.as_deref());
            inputs.args.push(VarArg::Assign(VarAssignment { name, raw: value }));
        }
        options.vars = inputs.clone();
        options.missing_vars = MissingVars::Error;
        loaded = checked_load(config::load(dir, &options), true, events)?;
    }
    // The ids of existing objects are in the evaluated configuration now. Freeing tens of
    // thousands of small maps takes a while: another thread does it.
    let EvalOptions { known, .. } = options;
    std::thread::spawn(move || drop(known));

    // The syntax trees are not needed past evaluation; a large configuration frees a lot here.
    loaded.config = crate::config::Config::default();
    // Files a provider block names must be here to plan (`validate` only warns about them).
    let mut missing = Diagnostics::default();
    for (name, block) in &loaded.desired.providers {
        for problem in crate::registry::config_problems(&block.kind, name, &block.attrs, dir) {
            if !problem.on_this_host {
                continue;
            }
            let attribute = problem.attribute.unwrap_or_default();
            let span = block
                .attr_spans
                .get(&attribute)
                .cloned()
                .unwrap_or_else(|| block.span.clone());
            missing.push(
                crate::diagnostics::Diagnostic::error(format!(
                    "`{attribute}` of provider `{name}` is invalid: {}",
                    problem.message
                ))
                .at(span, "not on this machine")
                .help("plan where the file is, or correct the path"),
            );
        }
    }
    check(missing, &loaded.sources, events)?;
    let providers = Providers::build(&loaded.desired, dir).map_err(CommandError::provider)?;
    // A run that was killed left intents: adopt or forget their objects before planning.
    let recovery = crate::apply::recover::recover(store.as_ref(), &providers).map_err(CommandError::provider)?;
    if !recovery.is_empty() {
        for adopted in &recovery.adopted {
            events.event(&Event::Notice(&format!(
                "Recovered from an interrupted run: {adopted} exists and is now recorded.\n"
            )));
        }
        for forgotten in &recovery.forgotten {
            events.event(&Event::Notice(&format!(
                "Recovered from an interrupted run: {forgotten} was deleted; removed from state.\n"
            )));
        }
        for deleted in &recovery.deleted {
            events.event(&Event::Notice(&format!(
                "Recovered from an interrupted run: the replaced object of {deleted} is deleted, as its plan said.\n"
            )));
        }
        for pending in &recovery.pending {
            events.event(&Event::Notice(&format!(
                "Warning: the replaced object of {pending}; it stays, and the next run tries to delete it again.\n"
            )));
        }
        (meta, prior) = (store.meta()?, store.resources()?);
        loaded = reload(dir, &inputs, &prior, events)?;
    }

    // `import` blocks: read the objects they adopt; the plan then treats them as existing.
    let mut diagnostics = Diagnostics::default();
    if let Some(out) = &request.generate_config_out
        && !loaded.desired.undeclared_imports.is_empty()
    {
        let path = if out.is_absolute() { out.clone() } else { dir.join(out) };
        let written = crate::import::generate_config(&path, &loaded.desired, &prior, &providers)
            .map_err(CommandError::provider)?;
        events.event(&Event::Output(&format!(
            "Wrote configuration for {written} imported object{} to {}; review it, then keep it with the rest.\n\n",
            if written == 1 { "" } else { "s" },
            out.display()
        )));
        loaded = reload(dir, &inputs, &prior, events)?;
    }
    let mut imports = Vec::new();
    // (Without `import` blocks, nothing to read: no copy of state is made either.)
    if request.mode == PlanMode::Normal && !loaded.desired.imports.is_empty() {
        // Volumes first: a snapshot imported in the same plan finds its volume among them.
        let mut blocks: Vec<_> = loaded.desired.imports.iter().collect();
        blocks.sort_by_key(|import| import.to.kind != crate::model::ResourceKind::Volume);
        let mut known = prior.clone();
        for import in blocks {
            let address = import.to.to_string();
            if prior.iter().any(|r| r.address == address) {
                continue;
            }
            let Some(instance) = loaded.desired.resources.iter().find(|r| r.address == import.to) else {
                continue;
            };
            match crate::import::read_for(instance, &known, &providers, &import.id) {
                Ok(record) => {
                    // Two ids can name one object (`dev/volume-1.qcow2`, `dev/volume-1`).
                    let twice = imports.iter().find(|other: &&crate::plan::PlannedImport| {
                        other.record.backend_id == record.backend_id && other.record.provider == record.provider
                    });
                    if let Some(other) = twice {
                        let other_span = loaded
                            .desired
                            .imports
                            .iter()
                            .find(|i| i.id == other.id)
                            .map(|i| i.span.clone());
                        let mut d = crate::diagnostics::Diagnostic::error(format!(
                            "`{}` and `{}` import one object, `{}`",
                            other.record.address, address, import.id
                        ))
                        .at(import.span.clone(), format!("imports it as `{address}`"))
                        .help("one object has one address: remove one of the two `import` blocks");
                        if let Some(span) = other_span {
                            d = d.related(span, format!("imports it as `{}`", other.record.address));
                        }
                        diagnostics.push(d);
                        continue;
                    }
                    known.push(record.clone());
                    imports.push(crate::plan::PlannedImport {
                        id: import.id.clone(),
                        record,
                    });
                }
                Err(message) => diagnostics.push(
                    crate::diagnostics::Diagnostic::error(format!("cannot import `{address}`: {message}"))
                        .at(import.span.clone(), "this import"),
                ),
            }
        }
    }
    if !imports.is_empty() {
        prior.extend(imports.iter().map(|i| i.record.clone()));
        loaded = reload(dir, &inputs, &prior, events)?;
    }

    let mode = request.mode;
    let observed: HashMap<String, Observed> = if request.refresh {
        crate::refresh::refresh(&prior, &providers).map_err(CommandError::provider)?
    } else {
        HashMap::new()
    };
    let plan_inputs = PlanInputs {
        desired: &loaded.desired,
        prior: &prior,
        prior_outputs: &prior_outputs,
        observed: &observed,
        lineage: meta.lineage.clone(),
        serial: meta.serial,
    };
    let plan_options = PlanOptions {
        mode,
        targets: request.target.clone(),
        replace: request.replace.clone(),
    };
    let mut plan = plan::diff(&plan_inputs, &plan_options, &mut diagnostics);
    plan.imports = imports;
    plan.config_digest = plan::saved::config_digest(&loaded.sources);
    if mode == PlanMode::Normal && request.refresh && !request.allow_duplicates {
        refuse_duplicates(&plan, &prior, &loaded.desired, &providers, &mut diagnostics)
            .map_err(CommandError::provider)?;
    }
    if mode == PlanMode::Normal {
        super::attachments::check(&plan, &loaded.desired, &prior, &providers, &mut diagnostics);
        let now = crate::backup::now_unix_secs();
        crate::backup::check_plan(
            &mut plan,
            &loaded.desired,
            &prior,
            providers.backup_stores(),
            now,
            &mut diagnostics,
        );
    }
    if mode != PlanMode::RefreshOnly {
        crate::backup::lifecycle::check_plan(
            &mut plan,
            &loaded.desired,
            &prior,
            providers.backup_stores(),
            &mut diagnostics,
        );
    }
    if request.refresh {
        let shortfalls =
            crate::refresh::check_capacity(&plan, &loaded.desired, &providers).map_err(CommandError::provider)?;
        for shortfall in shortfalls {
            if shortfall.is_error {
                let span = loaded
                    .desired
                    .providers
                    .get(&shortfall.provider)
                    .map(|p| p.span.clone());
                let mut d = crate::diagnostics::Diagnostic::error(shortfall.message)
                    .help("free space, lower the sizes, raise `oversubscription` for thin images, or set `capacity_check = \"warn\"`");
                if let Some(span) = span {
                    d = d.at(span, "capacity_check = \"error\"");
                }
                diagnostics.push(d);
            } else {
                plan.warnings.push(format!("Not enough space: {}", shortfall.message));
            }
        }
    }
    snapshot_warnings(&mut plan, &loaded.desired);
    if let Err(e) = crate::graph::build(&plan) {
        events.event(&Event::DriftBeforeErrors(&plan));
        let crate::graph::GraphError::Cycle { members, .. } = &e;
        let spans: Vec<(String, crate::diagnostics::Span)> = members
            .iter()
            .filter_map(|member| {
                let instance = loaded.desired.resources.iter().find(|r| r.address == *member)?;
                Some((member.to_string(), instance.span.clone()))
            })
            .collect();
        let mut cycle = crate::diagnostics::Diagnostic::error(e.to_string())
            .help("the references and ordering rules of these resources contradict each other: often `create_before_destroy` on a resource that depends on one replaced without it (set it on both), or a `depends_on` that points back");
        if let Some(((first, span), rest)) = spans.split_first() {
            cycle = cycle.at(span.clone(), format!("{first} is part of the cycle"));
            for (member, span) in rest {
                cycle = cycle.related(span.clone(), format!("{member} is part of the cycle"));
            }
        }
        let mut cycle_report = Diagnostics::default();
        cycle_report.push(cycle);
        return Err(CommandError::diagnostics(loaded.sources, cycle_report));
    }
    if diagnostics.has_errors() {
        // What changed outside blockform often explains the error (a volume grown by hand).
        events.event(&Event::DriftBeforeErrors(&plan));
    }
    check(diagnostics, &loaded.sources, events)?;
    Ok(Planned {
        plan,
        prior,
        store,
        lock,
        providers,
    })
}

/// An error at each planned volume create that would duplicate a volume blockform made and no
/// state records (see [`super::unrecorded`]).
fn refuse_duplicates(
    plan: &Plan,
    prior: &[ResourceState],
    desired: &crate::config::eval::Desired,
    providers: &Providers,
    diagnostics: &mut Diagnostics,
) -> Result<(), crate::providers::RefreshError> {
    for found in super::unrecorded::find(plan, prior, providers)? {
        let mut d = crate::diagnostics::Diagnostic::error(found.message()).help(found.hint());
        if let Some(instance) = desired.resource(&found.address) {
            d = d.at(instance.span.clone(), "would create a second copy");
        }
        diagnostics.push(d);
    }
    Ok(())
}

/// Warnings go to `events`; errors (with the warnings found beside them) end the run, changing
/// nothing.
fn check(diagnostics: Diagnostics, sources: &SourceMap, events: &dyn EventSink) -> Result<(), CommandError> {
    if diagnostics.has_errors() {
        return Err(CommandError::diagnostics(sources.clone(), diagnostics));
    }
    if !diagnostics.is_empty() {
        events.event(&Event::Warnings {
            diagnostics: &diagnostics,
            sources,
        });
    }
    Ok(())
}

/// Evaluates the configuration again once state holds more objects (recovered or imported
/// ones, or generated blocks were written): every variable has its value by now.
fn reload(
    dir: &Path,
    inputs: &VarInputs,
    prior: &[ResourceState],
    events: &dyn EventSink,
) -> Result<Loaded, CommandError> {
    let options = EvalOptions {
        vars: inputs.clone(),
        missing_vars: MissingVars::Error,
        known: known_values(prior),
        allow_undeclared_imports: false,
    };
    checked_load(config::load(dir, &options), true, events)
}

/// Loads the configuration in `dir`: warnings go to `events`, errors end the command.
fn load_config(dir: &Path, options: &EvalOptions, events: &dyn EventSink) -> Result<Loaded, CommandError> {
    checked_load(config::load(dir, options), false, events)
}

/// What loading found: warnings go to `events`; `Err` when it found errors. For a plan
/// (`planning`), a file a provider block names that is not on this machine is not repeated as
/// `validate`'s warning: the plan reports it as an error of its own.
fn checked_load(
    loaded: Result<Loaded, (SourceMap, Diagnostics)>,
    planning: bool,
    events: &dyn EventSink,
) -> Result<Loaded, CommandError> {
    match loaded {
        Ok(mut loaded) => {
            if planning {
                let mut kept = Diagnostics::default();
                for diagnostic in std::mem::take(&mut loaded.diagnostics) {
                    let about_this_machine = diagnostic.severity == crate::diagnostics::Severity::Warning
                        && diagnostic.label.as_deref() == Some("not on this machine");
                    if !about_this_machine {
                        kept.push(diagnostic);
                    }
                }
                loaded.diagnostics = kept;
            }
            check(std::mem::take(&mut loaded.diagnostics), &loaded.sources, events)?;
            Ok(loaded)
        }
        Err((sources, diagnostics)) => Err(CommandError::diagnostics(sources, diagnostics)),
    }
}

/// The configuration evaluated with the values of the objects in state known, and the providers
/// it declares: what the commands that work on existing objects (`drift`, `import`) start
/// from. A variable without a value is an error, as they answer no prompts.
pub fn load_against_state(
    dir: &Path,
    prior: &[ResourceState],
    vars: VarInputs,
    events: &dyn EventSink,
) -> Result<(Loaded, Providers), CommandError> {
    let options = EvalOptions {
        vars,
        missing_vars: MissingVars::Error,
        known: known_values(prior),
        allow_undeclared_imports: false,
    };
    let loaded = load_config(dir, &options, events)?;
    let providers = Providers::build(&loaded.desired, dir).map_err(CommandError::provider)?;
    Ok((loaded, providers))
}

/// The values that objects in state give references: their ids and other computed attributes.
pub fn known_values(prior: &[ResourceState]) -> HashMap<Address, ValueMap> {
    let mut known = HashMap::with_capacity(prior.len());
    for resource in prior {
        let Some(address) = Address::parse(&resource.address) else {
            continue;
        };
        let schema = resource_schema(address.kind);
        let mut values = ValueMap::default();
        values.insert("id".to_owned(), Value::String(resource.backend_id.clone()));
        for computed in schema.computed.iter().filter(|c| **c != "id") {
            if let Some(v) = resource.attributes.get(*computed) {
                values.insert((*computed).to_owned(), Value::from_json(v));
            }
        }
        known.insert(address, values);
    }
    known
}

/// The warnings of the providers the plan takes snapshots on (LVM's copy-on-write snapshots
/// of thick volumes), once per provider.
fn snapshot_warnings(plan: &mut crate::plan::Plan, desired: &crate::config::eval::Desired) {
    let mut warned: Vec<&str> = Vec::new();
    for change in &plan.changes {
        if change.address.kind != crate::model::ResourceKind::Snapshot || !change.action.creates() {
            continue;
        }
        let Some(name) = change.provider.as_deref() else {
            continue;
        };
        if warned.contains(&name) {
            continue;
        }
        let Some(block) = desired.providers.get(name) else {
            continue;
        };
        if let Some(warning) = crate::registry::snapshot_warning(&block.kind, &block.attrs) {
            plan.warnings.push(format!("Snapshots on provider `{name}`: {warning}"));
        }
        warned.push(name);
    }
}
