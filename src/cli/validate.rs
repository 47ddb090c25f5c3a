//! `blockform validate`: load, evaluate and check the configuration; report every problem.

use std::path::Path;

use super::printer::Printer;
use super::{ExitStatus, VarArgs};
use crate::config::vars::VarInputs;
use crate::config::{self, EvalOptions, MissingVars};
use crate::diagnostics::{render_human, validate_document};

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Print Terraform's `validate -json` document instead of a report.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    pub(super) vars: VarArgs,
}

/// Runs `validate`.
pub fn run(dir: &Path, args: &ValidateArgs, inputs: VarInputs, printer: &mut Printer) -> ExitStatus {
    let options = EvalOptions {
        vars: inputs,
        missing_vars: if args.vars.input {
            MissingVars::Unknown
        } else {
            MissingVars::Error
        },
        known: std::collections::HashMap::new(),
        allow_undeclared_imports: false,
    };
    let (sources, diagnostics) = match config::load(dir, &options) {
        Ok(loaded) => (loaded.sources, loaded.diagnostics),
        Err((sources, diagnostics)) => (sources, diagnostics),
    };
    if args.json {
        let document = validate_document(&diagnostics, &sources);
        let text = serde_json::to_string_pretty(&document).unwrap_or_default();
        printer.out(&format!("{text}\n"));
    } else {
        printer.message(&render_human(&diagnostics, &sources, printer.color()));
        if diagnostics.has_errors() {
            let errors = diagnostics.error_count();
            printer.message(&format!("{errors} error{} found.\n", plural(errors)));
        } else {
            let warnings = diagnostics.warning_count();
            let note = if warnings == 0 {
                String::new()
            } else {
                format!(" ({warnings} warning{})", plural(warnings))
            };
            printer.out(&format!("Success! The configuration is valid{note}.\n"));
        }
    }
    if diagnostics.has_errors() {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
