//! `blockform drift`: the report for scheduled jobs. Reads configuration, state and reality,
//! changes nothing, and exits 0 in sync, 2 on drift, 1 on errors.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::printer::Printer;
use super::state_args::StateArgs;
use super::{ExitStatus, VarArgs};
use crate::config::vars::VarInputs;
use crate::drift::{Baseline, DriftReport};
use crate::engine::{CommandError, ErrorKind};

/// Where the baseline lives unless `--baseline` says otherwise, under the configuration directory.
pub const DEFAULT_BASELINE: &str = ".blockform/drift-baseline.json";

/// Arguments of `drift`.
#[derive(Debug, Clone, clap::Args)]
#[allow(clippy::struct_excessive_bools)] // command-line switches
pub struct DriftArgs {
    /// Print the versioned JSON report (README: "Drift report").
    #[arg(long, conflicts_with = "markdown")]
    json: bool,

    /// Print the report as Markdown, for an issue or a chat message.
    #[arg(long)]
    markdown: bool,

    /// The baseline file of known drift to stay quiet about.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_BASELINE)]
    baseline: PathBuf,

    /// Report everything, ignoring the baseline.
    #[arg(long, conflicts_with = "write_baseline")]
    no_baseline: bool,

    /// Record the drift found now as known: later runs report only what differs from it.
    #[arg(long)]
    write_baseline: bool,

    #[command(flatten)]
    vars: VarArgs,

    #[command(flatten)]
    state: StateArgs,
}

impl DriftArgs {
    /// The variable arguments.
    pub(super) fn vars(&self) -> &VarArgs {
        &self.vars
    }
}

/// Runs `drift`.
pub fn run(dir: &Path, args: &DriftArgs, inputs: VarInputs, printer: &mut Printer) -> ExitStatus {
    report(dir, args, inputs, printer).unwrap_or_else(|error| super::fail(printer, &error))
}

fn report(dir: &Path, args: &DriftArgs, inputs: VarInputs, printer: &mut Printer) -> Result<ExitStatus, CommandError> {
    let engine = super::plan::engine(dir, &args.state, "drift", printer.color());
    let mut report = engine.drift(inputs)?;

    let baseline_path = if args.baseline.is_absolute() {
        args.baseline.clone()
    } else {
        dir.join(&args.baseline)
    };
    if args.write_baseline {
        report
            .to_baseline()
            .write(&baseline_path)
            .map_err(|e| CommandError::new(ErrorKind::Refused, e.to_string()))?;
        printer.out(&format!(
            "Wrote the drift baseline to {} ({} entr{}). Later runs report only drift that differs from it.\n",
            args.baseline.display(),
            report.changed.len() + report.missing.len() + report.unmanaged.len(),
            if report.changed.len() + report.missing.len() + report.unmanaged.len() == 1 {
                "y"
            } else {
                "ies"
            }
        ));
        return Ok(ExitStatus::Success);
    }
    if !args.no_baseline
        && let Some(baseline) =
            Baseline::read(&baseline_path).map_err(|e| CommandError::new(ErrorKind::Config, e.to_string()))?
    {
        report.apply_baseline(&baseline);
    }
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
        text.push('\n');
        text
    } else if args.markdown {
        render_markdown(&report)
    } else {
        render_human(&report)
    };
    printer.out(&text);
    Ok(if report.in_sync {
        ExitStatus::Success
    } else {
        ExitStatus::Changes
    })
}

fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn summary_line(report: &DriftReport) -> String {
    let counts = &report.summary;
    let mut line = format!(
        "Drift: {} changed, {} missing, {} unmanaged",
        counts.changed, counts.missing, counts.unmanaged
    );
    if counts.silenced > 0 {
        let _ = write!(line, " ({} known, silenced by the baseline)", counts.silenced);
    }
    line.push('.');
    line
}

fn size_text(bytes: u64) -> String {
    const GIB: u64 = 1 << 30;
    if bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else {
        #[allow(clippy::cast_precision_loss)]
        let gib = bytes as f64 / GIB as f64;
        format!("{gib:.2} GiB")
    }
}

/// The report for a terminal or a job log.
pub fn render_human(report: &DriftReport) -> String {
    let mut out = String::new();
    if report.in_sync {
        out.push_str("No drift: the storage objects match the state.\n");
    }
    if !report.changed.is_empty() {
        out.push_str("\nChanged outside blockform:\n");
        for object in &report.changed {
            let _ = writeln!(
                out,
                "  ~ {} ({}, {})",
                object.address, object.provider, object.backend_id
            );
            for attribute in &object.attributes {
                let _ = write!(
                    out,
                    "      {}: {} -> {}",
                    attribute.name,
                    value_text(&attribute.state),
                    value_text(&attribute.real)
                );
                if let Some(config) = &attribute.config {
                    let _ = write!(out, " (configuration: {})", value_text(config));
                }
                out.push('\n');
            }
        }
    }
    if !report.missing.is_empty() {
        out.push_str("\nDeleted outside blockform:\n");
        for object in &report.missing {
            let _ = writeln!(
                out,
                "  - {} ({}, {}){}",
                object.address,
                object.provider,
                object.backend_id,
                if object.in_configuration {
                    ": the next apply creates it again, empty"
                } else {
                    ""
                }
            );
        }
    }
    if !report.unmanaged.is_empty() {
        out.push_str("\nNot managed by this state:\n");
        for object in &report.unmanaged {
            let _ = writeln!(
                out,
                "  ? {} ({}, {}{})",
                object.id,
                object.kind,
                size_text(object.size_bytes),
                if object.owned {
                    ", carries blockform's marker"
                } else {
                    ""
                }
            );
        }
        if report.unmanaged.iter().any(|o| o.kind == "volume") {
            out.push_str("  Adopt a volume with `blockform import volume.NAME ID`, or delete it.\n");
        }
    }
    for (provider, reason) in &report.unchecked_providers {
        let _ = writeln!(out, "\nWarning: provider `{provider}` was not checked: {reason}");
    }
    out.push('\n');
    out.push_str(&summary_line(report));
    out.push('\n');
    out
}

fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The report as Markdown tables.
pub fn render_markdown(report: &DriftReport) -> String {
    let mut out = String::from("## blockform drift report\n\n");
    let _ = writeln!(out, "{} ({})\n", summary_line(report), report.generated_at);
    if !report.changed.is_empty() {
        out.push_str("### Changed outside blockform\n\n| Resource | Attribute | State | Real | Configuration |\n|---|---|---|---|---|\n");
        for object in &report.changed {
            for attribute in &object.attributes {
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` | `{}` | `{}` | {} |",
                    markdown_cell(&object.address),
                    attribute.name,
                    markdown_cell(&value_text(&attribute.state)),
                    markdown_cell(&value_text(&attribute.real)),
                    attribute
                        .config
                        .as_ref()
                        .map_or_else(String::new, |c| format!("`{}`", markdown_cell(&value_text(c))))
                );
            }
        }
        out.push('\n');
    }
    if !report.missing.is_empty() {
        out.push_str("### Deleted outside blockform\n\n| Resource | Provider | Back-end name | Still configured |\n|---|---|---|---|\n");
        for object in &report.missing {
            let _ = writeln!(
                out,
                "| `{}` | {} | `{}` | {} |",
                markdown_cell(&object.address),
                object.provider,
                object.backend_id,
                if object.in_configuration { "yes" } else { "no" }
            );
        }
        out.push('\n');
    }
    if !report.unmanaged.is_empty() {
        out.push_str("### Not managed by this state\n\n| ID | Kind | Size |\n|---|---|---|\n");
        for object in &report.unmanaged {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                markdown_cell(&object.id),
                object.kind,
                size_text(object.size_bytes)
            );
        }
        out.push('\n');
    }
    for (provider, reason) in &report.unchecked_providers {
        let _ = writeln!(out, "> **Warning:** provider `{provider}` was not checked: {reason}\n");
    }
    out
}
