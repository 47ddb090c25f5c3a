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
use crate::state::{ResourceState, StateLock, Store};

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

    /// How many operations may run at once (used by apply).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub parallelism: usize,

    #[command(flatten)]
    pub vars: VarArgs,

    #[command(flatten)]
    pub state: StateArgs,
}

fn parse_address(text: &str) -> Result<Address, String> {
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
    pub lock: Option<StateLock>,
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
    let (store, lock) = open_state(dir, &args.state, operation, create).map_err(|message| {
        printer.error(&message);
        ExitStatus::Failure
    })?;
    let read = || -> Result<_, crate::state::StateError> { Ok((store.meta()?, store.resources()?, store.outputs()?)) };
    let (mut meta, mut prior, prior_outputs) = read().map_err(|e| {
        printer.error(&e.to_string());
        ExitStatus::Failure
    })?;
    let mut options = EvalOptions {
        vars: inputs.clone(),
        missing_vars: MissingVars::Unknown,
        known: known_values(&prior),
    };
    let interactive = args.vars.input && std::io::stdin().is_terminal();
    if !interactive {
        options.missing_vars = MissingVars::Error;
    }
    let mut loaded = load_config(dir, &options, printer)?;
    if interactive && !loaded.desired.unset_variables.is_empty() {
        for name in loaded.desired.unset_variables.clone() {
            let value = prompt(&name, &loaded, printer);
            inputs.args.push(VarArg::Assign(VarAssignment { name, raw: value }));
        }
        options.vars = inputs.clone();
        options.missing_vars = MissingVars::Error;
        loaded = load_config(dir, &options, printer)?;
    }
    // The ids of existing objects are in the evaluated configuration now.
    drop(options);

    // The syntax trees are not needed past evaluation; a large configuration frees a lot here.
    loaded.config = crate::config::Config::default();
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
        (meta, prior) = store.meta().and_then(|m| Ok((m, store.resources()?))).map_err(|e| {
            printer.error(&e.to_string());
            ExitStatus::Failure
        })?;
        let options = EvalOptions {
            vars: inputs.clone(),
            missing_vars: MissingVars::Error,
            known: known_values(&prior),
        };
        loaded = load_config(dir, &options, printer)?;
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
    let mut diagnostics = Diagnostics::default();
    let mut plan = plan::diff(&plan_inputs, &plan_options, &mut diagnostics);
    plan.config_digest = plan::saved::config_digest(&loaded.sources);
    if mode == PlanMode::Normal {
        let now = crate::backup::now_unix_secs();
        crate::backup::check_plan(&mut plan, &loaded.desired, &prior, &providers, now, &mut diagnostics);
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
        printer.error(&e.to_string());
        return Err(ExitStatus::Failure);
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

fn load_config(dir: &Path, options: &EvalOptions, printer: &mut Printer) -> Result<Loaded, ExitStatus> {
    match config::load(dir, options) {
        Ok(loaded) => {
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
        let document = crate::render::json::plan_document(plan, &planned.prior);
        printer.out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        ));
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
