//! `blockform plan`: its arguments, the call of the engine's planning steps (shared with
//! `apply`, `show` and `graph`), and the plan printed as people or tools read it.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::printer::Printer;
use super::progress::Display;
use super::state_args::{StateArgs, open_state};
use super::{ExitStatus, VarArgs};
use crate::config::vars::VarInputs;
pub use crate::engine::Planned;
pub use crate::engine::known_values;
use crate::engine::{Engine, PlanRequest};
use crate::model::Address;
use crate::plan::{self, PlanMode};

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

/// The engine a command runs: the configuration in `dir`, its state opened as `state` says
/// for `operation` (`apply`, `destroy` and `import` create it when it does not exist yet;
/// planning a new configuration writes nothing), events drawn on the terminal or as CI lines.
pub fn engine<'a>(dir: &'a Path, state: &'a StateArgs, operation: &'a str, color: bool) -> Engine<'a> {
    let create = matches!(operation, "apply" | "destroy" | "import");
    Engine::new(
        dir,
        Box::new(move || open_state(dir, state, operation, create)),
        Arc::new(Display::new(color, super::progress::ProgressStyle::for_stderr())),
    )
}

/// The planning steps of `plan`, `apply`, `destroy`, `show` and `graph` (see
/// [`crate::engine::plan`]): warnings and notes are printed as they come, an error is printed
/// and its exit status returned.
pub fn make_plan(
    engine: &Engine<'_>,
    args: &PlanArgs,
    inputs: VarInputs,
    printer: &mut Printer,
) -> Result<Planned, ExitStatus> {
    let request = PlanRequest {
        vars: inputs,
        interactive: args.vars.input && std::io::stdin().is_terminal(),
        target: args.target.clone(),
        replace: args.replace.clone(),
        mode: if args.destroy {
            PlanMode::Destroy
        } else if args.refresh_only {
            PlanMode::RefreshOnly
        } else {
            PlanMode::Normal
        },
        refresh: args.refresh,
        generate_config_out: args.generate_config_out.clone(),
        allow_duplicates: args.allow_duplicates,
    };
    let result = engine.plan(&request, &mut |name, description| prompt(name, description, printer));
    result.map_err(|error| super::fail(printer, &error))
}

/// Asks for the value of variable `name` on the terminal.
fn prompt(name: &str, description: Option<&str>, printer: &mut Printer) -> String {
    let mut text = format!("var.{name}\n");
    if let Some(description) = description {
        text.push_str("  ");
        text.push_str(description);
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

/// Runs `plan`.
pub fn run(dir: &Path, args: &PlanArgs, inputs: VarInputs, printer: &mut Printer) -> ExitStatus {
    let engine = engine(dir, &args.state, "plan", printer.color());
    let planned = match make_plan(&engine, args, inputs, printer) {
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
    let status = if args.detailed_exitcode && plan.has_changes() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    };
    // The process ends after this command: the plan and the records read from state (tens of
    // thousands of small maps for a large state) are left for it to release at once rather than
    // freed one by one. The state store and its lock are closed as usual.
    let Planned { plan, prior, .. } = planned;
    std::mem::forget((plan, prior));
    status
}
