//! The command line: clap definitions, one file per command, and the mapping of results to
//! exit codes. Only this module (through [`printer`]) writes to the terminal.

mod apply;
mod backup;
mod drift;
mod fmt;
mod force_unlock;
mod graph;
mod import;
mod init;
mod output;
mod plan;
pub mod printer;
pub mod progress;
mod show;
mod state;
mod state_args;
mod validate;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::vars::{VarArg, VarInputs};
use printer::Printer;

/// How a command ended; decides the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything worked (0).
    Success,
    /// An error, reported to the user (1).
    Failure,
    /// A plan with changes under `--detailed-exitcode`, or a syntax error for `fmt` (2).
    Changes,
    /// `fmt --check` found files to format (3).
    NeedsFormat,
    /// An interrupt stopped an apply after the running operations were recorded (130).
    Interrupted,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Changes => 2,
            ExitStatus::NeedsFormat => 3,
            ExitStatus::Interrupted => 130,
        }
    }
}

/// Declarative block storage: plan and apply volumes, snapshots and backups on Ceph, LVM and
/// local qcow2 files.
#[derive(Debug, Parser)]
#[command(name = "blockform", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Work in DIR, as if blockform had been started there.
    #[arg(long, global = true, value_name = "DIR")]
    chdir: Option<PathBuf>,

    /// Print no colours (also when `NO_COLOR` is set or output is not a terminal).
    #[arg(long, global = true)]
    no_color: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Set up the state backend the configuration names; `-migrate-state` moves the state there.
    Init(init::InitArgs),
    /// Check the configuration: syntax, references, types and every storage rule that needs no back end.
    Validate(validate::ValidateArgs),
    /// Rewrite configuration files in the canonical format.
    Fmt(fmt::FmtArgs),
    /// Show what would change: configuration × state × reality.
    Plan(plan::PlanArgs),
    /// Make the changes: plan (or read a saved plan), ask, then carry it out.
    Apply(apply::ApplyArgs),
    /// Destroy every object in state (`apply --destroy`).
    Destroy(apply::ApplyArgs),
    /// Report what changed outside blockform: changed, deleted and unmanaged objects (exit 2 on drift).
    Drift(drift::DriftArgs),
    /// Adopt an existing back-end object into state: `import volume.db dev/volume-5c0e….qcow2`.
    Import(import::ImportArgs),
    /// Show a saved plan, or the objects in state.
    Show(show::ShowArgs),
    /// Print the plan's operations and their order as DOT.
    Graph(graph::GraphArgs),
    /// Inspect and change state.
    #[command(subcommand)]
    State(state::StateCommand),
    /// Inspect backup stores: list chains, verify blocks, restore into a volume, collect garbage.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// Print output values from state.
    Output(output::OutputArgs),
    /// Remove a stale state lock left by a process that is gone.
    ForceUnlock(force_unlock::ForceUnlockArgs),
    /// Print the version.
    Version {
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff).
    Man,
}

/// Variable inputs shared by the commands that evaluate the configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct VarArgs {
    /// Set a variable: NAME=VALUE (repeatable; later ones win).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub(crate) vars: Vec<crate::config::vars::VarAssignment>,

    /// Read variable values from FILE (repeatable).
    #[arg(long = "var-file", value_name = "FILE")]
    pub(crate) var_files: Vec<PathBuf>,

    /// Ask for nothing: a variable without a value is an error. `--input=false` in CI.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub(crate) input: bool,
}

fn parse_var(text: &str) -> Result<crate::config::vars::VarAssignment, String> {
    crate::config::eval::parse_var_assignment(text)
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE (a variable name, `=`, then the value)"))
}

impl VarArgs {
    /// The variable inputs in command-line order (clap keeps the two lists apart; the indices
    /// put them back in the order they were typed, which decides which value wins).
    pub(crate) fn inputs(&self, matches: &clap::ArgMatches) -> VarInputs {
        let mut ordered: Vec<(usize, VarArg)> = Vec::new();
        let sub = matches.subcommand().map_or(matches, |(_, m)| m);
        if let Some(indices) = sub.indices_of("vars") {
            ordered.extend(indices.zip(self.vars.iter().cloned().map(VarArg::Assign)));
        }
        if let Some(indices) = sub.indices_of("var_files") {
            ordered.extend(indices.zip(self.var_files.iter().cloned().map(VarArg::File)));
        }
        ordered.sort_by_key(|(i, _)| *i);
        VarInputs::with_process_env(ordered.into_iter().map(|(_, a)| a).collect())
    }
}

/// Runs blockform with these arguments and returns how it ended.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitStatus {
    let args = accept_single_dash(args.into_iter().collect());
    let command = Cli::command();
    let matches = match command.try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            let status = if e.use_stderr() {
                ExitStatus::Failure
            } else {
                ExitStatus::Success
            };
            // clap prints help, version and usage errors itself.
            let _ = e.print();
            return status;
        }
    };
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitStatus::Failure;
        }
    };
    let color = !cli.no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut printer = Printer::new(color);
    let dir = match &cli.chdir {
        Some(dir) => {
            if !dir.is_dir() {
                printer.error(&format!("--chdir: `{}` is not a directory", dir.display()));
                return ExitStatus::Failure;
            }
            dir.clone()
        }
        None => PathBuf::from("."),
    };
    match cli.command {
        Command::Init(args) => init::run(&dir, &args, &mut printer),
        Command::Validate(args) => {
            let inputs = args.vars.inputs(&matches);
            validate::run(&dir, &args, inputs, &mut printer)
        }
        Command::Fmt(args) => fmt::run(&dir, &args, &mut printer),
        Command::Plan(args) => {
            let inputs = args.vars.inputs(&matches);
            plan::run(&dir, &args, inputs, &mut printer)
        }
        Command::Apply(args) => {
            let inputs = args.vars().inputs(&matches);
            apply::run(&dir, &args, false, inputs, &mut printer)
        }
        Command::Destroy(args) => {
            let inputs = args.vars().inputs(&matches);
            apply::run(&dir, &args, true, inputs, &mut printer)
        }
        Command::Drift(args) => {
            let inputs = args.vars().inputs(&matches);
            drift::run(&dir, &args, inputs, &mut printer)
        }
        Command::Import(args) => {
            let inputs = args.vars().inputs(&matches);
            import::run(&dir, &args, inputs, &mut printer)
        }
        Command::Show(args) => show::run(&dir, &args, &mut printer),
        Command::Graph(args) => {
            let inputs = args.vars().inputs(&matches);
            graph::run(&dir, &args, inputs, &mut printer)
        }
        Command::State(command) => state::run(&dir, &command, &mut printer),
        Command::Backup(command) => backup::run(&dir, &command, &mut printer),
        Command::Output(args) => output::run(&dir, &args, &mut printer),
        Command::ForceUnlock(args) => force_unlock::run(&dir, &args, &mut printer),
        Command::Version { json } => {
            let version = env!("CARGO_PKG_VERSION");
            if json {
                printer.out(&format!("{{\"blockform_version\":\"{version}\"}}\n"));
            } else {
                printer.out(&format!("blockform v{version}\n"));
            }
            ExitStatus::Success
        }
        Command::Completions { shell } => {
            let mut buffer = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "blockform", &mut buffer);
            printer.out(&String::from_utf8_lossy(&buffer));
            ExitStatus::Success
        }
        Command::Man => {
            let mut buffer = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut buffer) {
                Ok(()) => {
                    printer.out(&String::from_utf8_lossy(&buffer));
                    ExitStatus::Success
                }
                Err(e) => {
                    printer.error(&format!("cannot render the manual page: {e}"));
                    ExitStatus::Failure
                }
            }
        }
    }
}

/// Terraform users type `-chdir=DIR`, `-check`, `-json` from habit: a single-dash argument that
/// names a long option becomes its double-dash form. Short options are single letters, so a
/// longer single-dash word is never one of ours; values (after an option that takes one, or
/// after `--`) are left alone.
pub fn accept_single_dash(args: Vec<OsString>) -> Vec<OsString> {
    let long_names = long_option_names(&Cli::command());
    let mut out = Vec::with_capacity(args.len());
    let mut rest_are_values = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || rest_are_values {
            out.push(arg);
            continue;
        }
        if arg == "--" {
            rest_are_values = true;
            out.push(arg);
            continue;
        }
        let converted = arg.to_str().and_then(|text| {
            let word = text.strip_prefix('-').filter(|w| !w.starts_with('-'))?;
            let name = word.split_once('=').map_or(word, |(n, _)| n);
            (name.len() > 1 && long_names.iter().any(|l| l == name)).then(|| OsString::from(format!("-{text}")))
        });
        out.push(converted.unwrap_or(arg));
    }
    out
}

fn long_option_names(command: &clap::Command) -> Vec<String> {
    let mut names: Vec<String> = command
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect();
    names.extend(["help".to_owned(), "version".to_owned()]);
    for sub in command.get_subcommands() {
        names.extend(long_option_names(sub));
    }
    names.sort();
    names.dedup();
    names
}

/// Prints a command's error (its diagnostics with their sources, or its message) and its hints;
/// the exit status of a failed command.
pub(crate) fn fail(printer: &mut Printer, error: &crate::engine::CommandError) -> ExitStatus {
    if let Some(boxed) = &error.diagnostics {
        let (sources, diagnostics) = boxed.as_ref();
        if !diagnostics.is_empty() {
            let color = printer.color();
            printer.message(&crate::diagnostics::render_human(diagnostics, sources, color));
        }
        let errors = diagnostics.error_count();
        printer.message(&format!(
            "{errors} error{} found; nothing was changed.\n",
            if errors == 1 { "" } else { "s" }
        ));
    } else {
        printer.error(&error.message);
    }
    for hint in &error.hints {
        printer.message(&format!("{hint}\n"));
    }
    ExitStatus::Failure
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(args: &[&str]) -> Vec<String> {
        accept_single_dash(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn single_dash_long_flags_are_accepted() {
        assert_eq!(
            convert(&["blockform", "-chdir=examples/quickstart", "fmt", "-check", "-diff"]),
            ["blockform", "--chdir=examples/quickstart", "fmt", "--check", "--diff"]
        );
        assert_eq!(
            convert(&["blockform", "validate", "-json"]),
            ["blockform", "validate", "--json"]
        );
    }

    #[test]
    fn values_and_unknown_words_are_left_alone() {
        assert_eq!(
            convert(&["blockform", "validate", "--var", "x=-json"]),
            ["blockform", "validate", "--var", "x=-json"]
        );
        assert_eq!(
            convert(&["blockform", "fmt", "--", "-check"]),
            ["blockform", "fmt", "--", "-check"]
        );
        assert_eq!(convert(&["blockform", "-nonsense"]), ["blockform", "-nonsense"]);
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
