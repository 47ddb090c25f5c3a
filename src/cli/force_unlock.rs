//! `blockform force-unlock ID`: remove the state lock of a run that hangs. The id must be the
//! one the "state is locked" message named, so a lock taken since is never removed by mistake.

use std::fmt::Write as _;
use std::path::Path;

use super::ExitStatus;
use super::printer::Printer;
use super::state_args::StateArgs;

/// Arguments of `force-unlock`.
#[derive(Debug, Clone, clap::Args)]
pub struct ForceUnlockArgs {
    /// The lock id, as the "state is locked" message shows it.
    #[arg(value_name = "ID")]
    pub id: String,

    #[command(flatten)]
    pub state: StateArgs,
}

/// Runs `force-unlock`.
pub fn run(dir: &Path, args: &ForceUnlockArgs, printer: &mut Printer) -> ExitStatus {
    let backend = match args.state.backend(dir) {
        Ok(backend) => backend,
        Err(message) => {
            printer.error(&message);
            return ExitStatus::Failure;
        }
    };
    match backend.force_unlock(&args.id) {
        Ok(removed) => {
            let info = &removed.info;
            let mut text = format!(
                "Removed the state lock {} of {} (pid {}, {}) taken at {}.\n",
                info.id, info.who, info.pid, info.operation, info.created
            );
            if removed.was_held {
                let _ = writeln!(
                    text,
                    "Process {} still holds the removed lock: stop it if it still runs, or it will keep other runs \
                     from opening the state.",
                    info.pid
                );
            } else {
                text.push_str("No process held it any more: its holder was gone.\n");
            }
            printer.out(&text);
            ExitStatus::Success
        }
        Err(error) => {
            let message = match error.hint() {
                Some(hint) => format!("{error}\n  help: {hint}"),
                None => error.to_string(),
            };
            printer.error(&message);
            ExitStatus::Failure
        }
    }
}
