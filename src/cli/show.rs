//! `blockform show [PLANFILE]`: a saved plan (human, `--json`, `--markdown`), or without a file
//! the objects in state.

use std::path::{Path, PathBuf};

use super::ExitStatus;
use super::printer::Printer;
use super::state_args::{StateArgs, open_state};
use crate::plan::saved;

/// Arguments of `show`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    /// A plan file saved with `plan --out FILE`.
    plan: Option<PathBuf>,

    /// Print Terraform's JSON document.
    #[arg(long, conflicts_with = "markdown")]
    json: bool,

    /// Print a Markdown summary (for pull-request comments); needs a plan file.
    #[arg(long, requires = "plan")]
    markdown: bool,

    #[command(flatten)]
    state: StateArgs,
}

/// Runs `show`.
pub fn run(dir: &Path, args: &ShowArgs, printer: &mut Printer) -> ExitStatus {
    let (store, _lock) = match open_state(dir, &args.state, "show", false) {
        Ok(opened) => opened,
        Err(message) => {
            printer.error(&message);
            return ExitStatus::Failure;
        }
    };
    let prior = match store.resources() {
        Ok(r) => r,
        Err(e) => {
            printer.error(&e.to_string());
            return ExitStatus::Failure;
        }
    };
    let Some(path) = &args.plan else {
        if args.json {
            let document = crate::render::json::state_document(&prior);
            printer.out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&document).unwrap_or_default()
            ));
        } else if prior.is_empty() {
            printer.out("The state is empty: blockform manages no objects here yet.\n");
        } else {
            for resource in &prior {
                printer.out(&crate::render::human::render_state_resource(resource));
                printer.out("\n");
            }
        }
        return ExitStatus::Success;
    };
    let path = if path.is_absolute() {
        path.clone()
    } else {
        dir.join(path)
    };
    let plan = match saved::load(&path) {
        Ok(plan) => plan,
        Err(e) => {
            printer.error(&e.to_string());
            return ExitStatus::Failure;
        }
    };
    if args.json {
        printer.out_stream(|out| crate::render::json::write_plan_document(out, &plan, &prior));
    } else if args.markdown {
        printer.out(&crate::render::markdown::plan_summary(&plan));
    } else {
        printer.out(&crate::render::human::render_plan(&plan, printer.color()));
    }
    ExitStatus::Success
}
