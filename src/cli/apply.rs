//! `blockform apply [PLANFILE]` and `blockform destroy`: plan (or read a saved plan), ask for
//! approval, then carry the plan out and report what was done, what failed and what was skipped.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use super::ExitStatus;
use super::plan::{PlanArgs, Planned, make_plan};
use super::printer::Printer;
use crate::apply::{ApplyReport, Step};
use crate::config::vars::VarInputs;
use crate::plan::{Plan, PlanMode, saved};

/// Arguments of `apply`.
#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// A plan saved with `plan --out FILE`; applied exactly, or refused when stale.
    plan_file: Option<PathBuf>,

    /// Apply without asking for approval.
    #[arg(long)]
    auto_approve: bool,

    /// With --auto-approve: allow actions that destroy data (deleting or replacing volumes,
    /// snapshots, backups). Without it such a plan is refused.
    #[arg(long)]
    allow_data_loss: bool,

    #[command(flatten)]
    plan: PlanArgs,
}

impl ApplyArgs {
    /// The variable arguments.
    pub(super) fn vars(&self) -> &super::VarArgs {
        &self.plan.vars
    }
}

/// Runs `apply` (or `destroy`, when `destroy` is set).
pub fn run(dir: &Path, args: &ApplyArgs, destroy: bool, inputs: VarInputs, printer: &mut Printer) -> ExitStatus {
    let mut plan_args = args.plan.clone();
    plan_args.destroy |= destroy;
    // A saved plan is applied as it was made: the back ends were read then, and a plan made
    // against other state or configuration is refused below. Reading them again would only
    // cost time (and could fail on drift the saved plan already accounts for).
    if args.plan_file.is_some() {
        plan_args.refresh = false;
    }
    let operation = if destroy { "destroy" } else { "apply" };
    let engine = super::plan::engine(dir, &plan_args.state, operation, printer.color());
    let planned = match make_plan(&engine, &plan_args, inputs.clone(), printer) {
        Ok(p) => p,
        Err(status) => return status,
    };
    let Planned {
        plan,
        prior,
        store,
        lock,
        providers,
    } = planned;
    let plan = if let Some(file) = &args.plan_file {
        let file = if file.is_absolute() {
            file.clone()
        } else {
            dir.join(file)
        };
        let saved = match saved::load(&file) {
            Ok(p) => p,
            Err(e) => {
                printer.error(&e.to_string());
                return ExitStatus::Failure;
            }
        };
        let meta = match store.meta() {
            Ok(m) => m,
            Err(e) => {
                printer.error(&e.to_string());
                return ExitStatus::Failure;
            }
        };
        if let Err(e) = saved::check_current(&saved, &meta, &plan.config_digest) {
            printer.error(&e.to_string());
            printer.message("Make a new plan with `blockform plan --out FILE` and apply that.\n");
            return ExitStatus::Failure;
        }
        saved
    } else {
        printer.out(&crate::render::human::render_plan(&plan, printer.color()));
        plan
    };
    if plan.mode == PlanMode::RefreshOnly {
        return apply_refresh_only(args, &plan, &prior, store.as_ref(), printer);
    }
    if !plan.has_changes() || (plan.imports.is_empty() && plan.changes.iter().all(crate::plan::Change::is_noop)) {
        if args.plan_file.is_some() {
            printer.out("The plan has no changes.\n");
        }
        // What the refresh found is still worth keeping.
        if let Err(e) = store.commit(&crate::apply::drift_commit(&plan.drift, &prior)) {
            printer.error(&e.to_string());
            return ExitStatus::Failure;
        }
        return ExitStatus::Success;
    }
    let data_loss = plan.summary().data_loss;
    if args.plan_file.is_none() {
        if args.auto_approve {
            if data_loss > 0 && !args.allow_data_loss {
                printer.error(&format!(
                    "the plan destroys data ({data_loss} action{} marked DATA LOSS above) and --auto-approve alone does not allow that",
                    if data_loss == 1 { "" } else { "s" }
                ));
                printer.message("Add --allow-data-loss to confirm, or approve the plan interactively.\n");
                return ExitStatus::Failure;
            }
        } else if !approve(&args.plan, printer, destroy) {
            return ExitStatus::Failure;
        }
    }
    let request = crate::engine::apply::ApplyRequest {
        vars: inputs,
        plan,
        prior,
        store,
        providers,
        parallelism: args.plan.parallelism,
        retry: crate::apply::retry::RetryPolicy::default(),
    };
    let applied = match engine.apply(request) {
        Ok(applied) => applied,
        Err(e) => return super::fail(printer, &e),
    };
    if let Some(message) = &applied.outputs_error {
        printer.error(message);
    }
    drop(lock);
    summarise(&applied.report, destroy, applied.imported, printer)
}

/// `apply --refresh-only`: after approval, record the drift in state; change nothing else.
fn apply_refresh_only(
    args: &ApplyArgs,
    plan: &Plan,
    prior: &[crate::state::ResourceState],
    store: &dyn crate::state::Store,
    printer: &mut Printer,
) -> ExitStatus {
    if plan.drift.is_empty() {
        printer.out("\nApply complete! Resources: 0 added, 0 changed, 0 destroyed.\n");
        return ExitStatus::Success;
    }
    if args.plan_file.is_none() && !args.auto_approve {
        if !args.plan.vars.input {
            printer.error("updating state needs approval, but input is disabled (--input=false)");
            printer.message("Pass --auto-approve to record the changes without asking.\n");
            return ExitStatus::Failure;
        }
        if !ask_yes(
            "\nWould you like to update the blockform state to reflect these detected changes?\n  blockform will write these changes to the state without modifying any real storage objects.\n  Only 'yes' will be accepted to confirm.\n\n  Enter a value: ",
            printer,
        ) {
            return ExitStatus::Failure;
        }
    }
    if let Err(e) = store.commit(&crate::apply::drift_commit(&plan.drift, prior)) {
        printer.error(&format!("state could not be written: {e}"));
        return ExitStatus::Failure;
    }
    let deleted = plan.drift.iter().filter(|d| d.after.is_none()).count();
    printer.out(&format!(
        "\nApply complete! Resources: 0 added, 0 changed, 0 destroyed. State updated: {} changed, {deleted} removed.\n",
        plan.drift.len() - deleted
    ));
    ExitStatus::Success
}

fn approve(args: &PlanArgs, printer: &mut Printer, destroy: bool) -> bool {
    // Like Terraform, the answer is read from standard input even when it is not a terminal.
    if !args.vars.input {
        printer.error("the plan needs approval, but input is disabled (--input=false)");
        printer.message(
            "Pass --auto-approve to apply without asking, or save the plan with `plan --out FILE` and apply that.\n",
        );
        return false;
    }
    let question = if destroy {
        "\nDo you really want to destroy all objects?\n  blockform will destroy everything in state. There is no undo. Only 'yes' will be accepted.\n\n  Enter a value: "
    } else {
        "\nDo you want to perform these actions?\n  blockform will perform the actions described above. Only 'yes' will be accepted to approve.\n\n  Enter a value: "
    };
    let approved = ask_yes(question, printer);
    if approved {
        printer.message("\n");
    }
    approved
}

/// Asks `question` and reads the answer from standard input (like Terraform, also when it is
/// not a terminal); anything but `yes` cancels.
fn ask_yes(question: &str, printer: &mut Printer) -> bool {
    printer.message(question);
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if line.trim() == "yes" {
        true
    } else {
        printer.message("\nApply cancelled.\n");
        false
    }
}

fn summarise(report: &ApplyReport, destroy: bool, imported: usize, printer: &mut Printer) -> ExitStatus {
    let count = |step: Step| report.done.iter().filter(|d| d.step == step).count();
    let (added, changed, destroyed) = (count(Step::Create), count(Step::Update), count(Step::Delete));
    if !report.failed.is_empty() {
        printer.message("\n");
        for failed in &report.failed {
            printer.error(&format!("{}: {}", failed.address, failed.error));
        }
    }
    if !report.skipped.is_empty() {
        let names: Vec<String> = report.skipped.iter().map(|(a, _)| a.to_string()).collect();
        printer.message(&format!(
            "\nSkipped because something they depend on did not finish: {}\n",
            names.join(", ")
        ));
    }
    let what = if destroy { "Destroy" } else { "Apply" };
    let status = if report.interrupted {
        "interrupted"
    } else if report.failed.is_empty() {
        "complete"
    } else {
        "failed"
    };
    printer.out(&format!(
        "\n{what} {status}! Resources: {}{added} added, {changed} changed, {destroyed} destroyed{}.\n",
        if imported > 0 {
            format!("{imported} imported, ")
        } else {
            String::new()
        },
        if report.failed.is_empty() {
            String::new()
        } else {
            format!(", {} failed", report.failed.len())
        }
    ));
    if report.interrupted {
        ExitStatus::Interrupted
    } else if report.failed.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    }
}
