//! `blockform plan`: load the configuration, read state, refresh what providers can see, and
//! show what would change. Also the shared planning steps `apply`, `show` and `graph` use.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::printer::Printer;
use super::state_args::{StateArgs, open_state};
use super::{ExitStatus, VarArgs};
use crate::config::value::{Value, ValueMap};
use crate::config::vars::{VarArg, VarAssignment, VarInputs};
use crate::config::{self, EvalOptions, Loaded, MissingVars};
use crate::diagnostics::{Diagnostics, render_human};
use crate::model::{Address, resource_schema};
use crate::plan::{self, Observed, Plan, PlanInputs, PlanMode, PlanOptions};
use crate::providers::Providers;
use crate::state::{LockGuard, ResourceState, Store};

/// Arguments of `plan` (and of `apply` without a plan file).
#[derive(Debug, Clone, clap::Args)]
#[allow(clippy::struct_excessive_bools)] // command-line switches
pub struct PlanArgs {
    /// Save the plan to FILE, for `apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Plan only this resource (and what it depends on); repeatable.
    #[arg(long, value_name = "ADDR", value_parser = parse_address)]
    pub target: Vec<Address>,

    /// Replace this resource even if nothing changed; repeatable.
    #[arg(long, value_name = "ADDR", value_parser = parse_address)]
    pub replace: Vec<Address>,

    /// Plan to destroy every object in state.
    #[arg(long)]
    pub destroy: bool,

    /// Only make state follow reality; change nothing in the back ends.
    #[arg(long)]
    pub refresh_only: bool,

    /// Read reality from the providers first (`--refresh=false` trusts state).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub refresh: bool,

    /// Exit with 2 when the plan has changes, 0 when it has none, 1 on errors.
    #[arg(long)]
    pub detailed_exitcode: bool,

    /// Print Terraform's JSON plan document instead of the human plan.
    #[arg(long)]
    pub json: bool,

    /// Write `resource` blocks for `import` blocks whose target has none to FILE (a new `.hcl`
    /// file in the configuration directory), then plan with them.
    #[arg(long, value_name = "FILE")]
    pub generate_config_out: Option<PathBuf>,

    /// Create volumes even where their provider holds a volume blockform made with the same
    /// name that no state records (a lost state); without it such a plan is refused.
    #[arg(long)]
    pub allow_duplicates: bool,

    /// How many operations may run at once (used by apply).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub parallelism: usize,

    #[command(flatten)]
    pub vars: VarArgs,

    #[command(flatten)]
    pub state: StateArgs,
}

pub(super) fn parse_address(text: &str) -> Result<Address, String> {
    Address::parse(text)
        .ok_or_else(|| format!("`{text}` is not a resource address (like `volume.db` or `volume.scratch[\"a\"]`)"))
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

/// Loads the configuration against state and makes a plan. Errors are printed; `Err` carries
/// the exit status.
pub fn make_plan(
    dir: &Path,
    args: &PlanArgs,
    mut inputs: VarInputs,
    operation: &str,
    printer: &mut Printer,
) -> Result<Planned, ExitStatus> {
    // Only apply creates state; planning a new configuration writes nothing.
    let create = matches!(operation, "apply" | "destroy");
    // Reading state (opening the database, decoding every record) and parsing the files need
    // nothing from each other: they run at once. Evaluation then needs both.
    let (state, parsed) = std::thread::scope(|scope| {
        let state = scope.spawn(|| -> Result<_, String> {
            let (store, lock) = open_state(dir, &args.state, operation, create)?;
            let read =
                || -> Result<_, crate::state::StateError> { Ok((store.meta()?, store.resources()?, store.outputs()?)) };
            let (meta, prior, outputs) = read().map_err(|e| e.to_string())?;
            Ok((store, lock, meta, prior, outputs))
        });
        let parsed = config::parse(dir);
        (state.join(), parsed)
    });
    let state = state.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let (store, lock, mut meta, mut prior, prior_outputs) = state.map_err(|message| {
        printer.error(&message);
        ExitStatus::Failure
    })?;
    let mut options = EvalOptions {
        vars: inputs.clone(),
        missing_vars: MissingVars::Unknown,
        known: known_values(&prior),
        allow_undeclared_imports: args.generate_config_out.is_some(),
    };
    let interactive = args.vars.input && std::io::stdin().is_terminal();
    if !interactive {
        options.missing_vars = MissingVars::Error;
    }
    let mut loaded = report_loaded(
        parsed.map(|parsed| config::evaluate(dir, parsed, &options)),
        true,
        printer,
    )?;
    if interactive && !loaded.desired.unset_variables.is_empty() {
        for name in loaded.desired.unset_variables.clone() {
            let value = prompt(&name, &loaded, printer);
            inputs.args.push(VarArg::Assign(VarAssignment { name, raw: value }));
        }
        options.vars = inputs.clone();
        options.missing_vars = MissingVars::Error;
        loaded = load_to_plan(dir, &options, printer)?;
    }
    // The ids of existing objects are in the evaluated configuration now.
    drop(options);

    // The syntax trees are not needed past evaluation; a large configuration frees a lot here.
    loaded.config = crate::config::Config::default();
    // Files a provider block names must be here to plan (`validate` only warns about them).
    let mut missing = Diagnostics::default();
    for (name, block) in &loaded.desired.providers {
        for problem in crate::providers::config_problems(name, block, dir) {
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
    if report(&missing, &loaded.sources, printer) {
        return Err(ExitStatus::Failure);
    }
    let providers = Providers::build(&loaded.desired, dir).map_err(|message| {
        printer.error(&message);
        ExitStatus::Failure
    })?;
    // A run that was killed left intents: adopt or forget their objects before planning.
    let recovery = crate::apply::recover::recover(store.as_ref(), &providers).map_err(|e| {
        printer.error(&e.to_string());
        ExitStatus::Failure
    })?;
    if !recovery.is_empty() {
        for adopted in &recovery.adopted {
            printer.message(&format!(
                "Recovered from an interrupted run: {adopted} exists and is now recorded.\n"
            ));
        }
        for forgotten in &recovery.forgotten {
            printer.message(&format!(
                "Recovered from an interrupted run: {forgotten} was deleted; removed from state.\n"
            ));
        }
        for deleted in &recovery.deleted {
            printer.message(&format!(
                "Recovered from an interrupted run: the replaced object of {deleted} is deleted, as its plan said.\n"
            ));
        }
        for pending in &recovery.pending {
            printer.message(&format!(
                "Warning: the replaced object of {pending}; it stays, and the next run tries to delete it again.\n"
            ));
        }
        (meta, prior) = store.meta().and_then(|m| Ok((m, store.resources()?))).map_err(|e| {
            printer.error(&e.to_string());
            ExitStatus::Failure
        })?;
        loaded = reload(dir, &inputs, &prior, printer)?;
    }

    // `import` blocks: read the objects they adopt; the plan then treats them as existing.
    let mut diagnostics = Diagnostics::default();
    if let Some(out) = &args.generate_config_out
        && !loaded.desired.undeclared_imports.is_empty()
    {
        let path = if out.is_absolute() { out.clone() } else { dir.join(out) };
        let written =
            crate::import::generate_config(&path, &loaded.desired, &prior, &providers).map_err(|message| {
                printer.error(&message);
                ExitStatus::Failure
            })?;
        printer.out(&format!(
            "Wrote configuration for {written} imported object{} to {}; review it, then keep it with the rest.\n\n",
            if written == 1 { "" } else { "s" },
            out.display()
        ));
        loaded = reload(dir, &inputs, &prior, printer)?;
    }
    let mut imports = Vec::new();
    if !args.destroy && !args.refresh_only {
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
        loaded = reload(dir, &inputs, &prior, printer)?;
    }

    let mode = if args.destroy {
        PlanMode::Destroy
    } else if args.refresh_only {
        PlanMode::RefreshOnly
    } else {
        PlanMode::Normal
    };
    let observed: HashMap<String, Observed> = if args.refresh {
        crate::refresh::refresh(&prior, &providers).map_err(|message| {
            printer.error(&message);
            ExitStatus::Failure
        })?
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
        targets: args.target.clone(),
        replace: args.replace.clone(),
    };
    let mut plan = plan::diff(&plan_inputs, &plan_options, &mut diagnostics);
    plan.imports = imports;
    plan.config_digest = plan::saved::config_digest(&loaded.sources);
    if mode == PlanMode::Normal && args.refresh && !args.allow_duplicates {
        refuse_duplicates(&plan, &prior, &loaded.desired, &providers, &mut diagnostics).map_err(|message| {
            printer.error(&message);
            ExitStatus::Failure
        })?;
    }
    if mode == PlanMode::Normal {
        let now = crate::backup::now_unix_secs();
        crate::backup::check_plan(&mut plan, &loaded.desired, &prior, &providers, now, &mut diagnostics);
    }
    if mode != PlanMode::RefreshOnly {
        crate::backup::lifecycle::check_plan(&mut plan, &loaded.desired, &prior, &providers, &mut diagnostics);
    }
    if args.refresh {
        let shortfalls = crate::refresh::check_capacity(&plan, &loaded.desired, &providers).map_err(|message| {
            printer.error(&message);
            ExitStatus::Failure
        })?;
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
    if let Err(e) = crate::graph::build(&plan) {
        printer.out(&crate::render::human::render_drift(&plan, printer.color()));
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
        report(&cycle_report, &loaded.sources, printer);
        return Err(ExitStatus::Failure);
    }
    if diagnostics.has_errors() {
        // What changed outside blockform often explains the error (a volume grown by hand).
        printer.out(&crate::render::human::render_drift(&plan, printer.color()));
    }
    if report(&diagnostics, &loaded.sources, printer) {
        return Err(ExitStatus::Failure);
    }
    Ok(Planned {
        plan,
        prior,
        store,
        lock,
        providers,
    })
}

/// An error at each planned volume create that would duplicate a volume blockform made and no
/// state records (see [`crate::plan::unrecorded`]).
fn refuse_duplicates(
    plan: &Plan,
    prior: &[ResourceState],
    desired: &crate::config::eval::Desired,
    providers: &Providers,
    diagnostics: &mut Diagnostics,
) -> Result<(), String> {
    for found in crate::plan::unrecorded::find(plan, prior, providers)? {
        let mut d = crate::diagnostics::Diagnostic::error(found.message()).help(found.hint());
        if let Some(instance) = desired.resource(&found.address) {
            d = d.at(instance.span.clone(), "would create a second copy");
        }
        diagnostics.push(d);
    }
    Ok(())
}

/// Prints diagnostics; returns whether any is an error (then the run stops, changing nothing).
fn report(diagnostics: &Diagnostics, sources: &crate::diagnostics::SourceMap, printer: &mut Printer) -> bool {
    if !diagnostics.is_empty() {
        printer.message(&render_human(diagnostics, sources, printer.color()));
    }
    if !diagnostics.has_errors() {
        return false;
    }
    let errors = diagnostics.error_count();
    printer.message(&format!(
        "{errors} error{} found; nothing was changed.\n",
        if errors == 1 { "" } else { "s" }
    ));
    true
}

/// Evaluates the configuration again once state holds more objects (recovered or imported
/// ones, or generated blocks were written): every variable has its value by now.
fn reload(
    dir: &Path,
    inputs: &VarInputs,
    prior: &[ResourceState],
    printer: &mut Printer,
) -> Result<Loaded, ExitStatus> {
    let options = EvalOptions {
        vars: inputs.clone(),
        missing_vars: MissingVars::Error,
        known: known_values(prior),
        allow_undeclared_imports: false,
    };
    load_to_plan(dir, &options, printer)
}

pub(super) fn load_config(dir: &Path, options: &EvalOptions, printer: &mut Printer) -> Result<Loaded, ExitStatus> {
    report_loaded(config::load(dir, options), false, printer)
}

/// Loads and reports the configuration for a plan (see [`report_loaded`]).
fn load_to_plan(dir: &Path, options: &EvalOptions, printer: &mut Printer) -> Result<Loaded, ExitStatus> {
    report_loaded(config::load(dir, options), true, printer)
}

/// Prints what loading found; `Err` when it found errors. For a plan (`planning`), a file a
/// provider block names that is not on this machine is not repeated as `validate`'s warning:
/// the plan reports it as an error of its own.
fn report_loaded(
    loaded: Result<Loaded, (crate::diagnostics::SourceMap, Diagnostics)>,
    planning: bool,
    printer: &mut Printer,
) -> Result<Loaded, ExitStatus> {
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
            if report(&loaded.diagnostics, &loaded.sources, printer) {
                Err(ExitStatus::Failure)
            } else {
                Ok(loaded)
            }
        }
        Err((sources, diagnostics)) => {
            report(&diagnostics, &sources, printer);
            Err(ExitStatus::Failure)
        }
    }
}

fn prompt(name: &str, loaded: &Loaded, printer: &mut Printer) -> String {
    let description = loaded
        .config
        .variables
        .iter()
        .find(|v| v.name == name)
        .and_then(|v| v.description.clone());
    let mut text = format!("var.{name}\n");
    if let Some(description) = description {
        text.push_str("  ");
        text.push_str(&description);
        text.push('\n');
    }
    text.push_str("\n  Enter a value: ");
    printer.message(&text);
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    printer.message("\n");
    line.trim_end_matches(['\n', '\r']).to_owned()
}

/// The configuration evaluated with the values of the objects in state known, and the providers
/// it declares: what the commands that work on existing objects (`drift`, `import`) start
/// from. A variable without a value is an error, as they answer no prompts. A configuration
/// that does not evaluate has been reported to `printer`: the error is then empty.
pub(super) fn load_against_state(
    dir: &Path,
    prior: &[ResourceState],
    vars: VarInputs,
    printer: &mut Printer,
) -> Result<(Loaded, Providers), String> {
    let options = EvalOptions {
        vars,
        missing_vars: MissingVars::Error,
        known: known_values(prior),
        allow_undeclared_imports: false,
    };
    let loaded = load_config(dir, &options, printer).map_err(|_| String::new())?;
    let providers = Providers::build(&loaded.desired, dir)?;
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
        let mut values = ValueMap::new();
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

/// Runs `plan`.
pub fn run(dir: &Path, args: &PlanArgs, inputs: VarInputs, printer: &mut Printer) -> ExitStatus {
    let planned = match make_plan(dir, args, inputs, "plan", printer) {
        Ok(p) => p,
        Err(status) => return status,
    };
    let plan = &planned.plan;
    if args.json {
        printer.out_stream(|out| crate::render::json::write_plan_document(out, plan, &planned.prior));
    } else {
        printer.out(&crate::render::human::render_plan(plan, printer.color()));
    }
    if let Some(out) = &args.out {
        if let Err(e) = plan::saved::save(out, plan) {
            printer.error(&e.to_string());
            return ExitStatus::Failure;
        }
        if !args.json {
            printer.out(&format!(
                "\nSaved the plan to: {}\n\nTo perform exactly these actions, run:\n    blockform apply {}\n",
                out.display(),
                out.display()
            ));
        }
    }
    if args.detailed_exitcode && plan.has_changes() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    }
}
