//! `blockform init`: set up the state back end the configuration names (its `blockform {
//! backend "s3" { … } }` block, or the local state without one) and record it in
//! `.blockform/backend.json`, so that a changed backend block is noticed before a state is read
//! from the wrong place. When the back end changed, `init -migrate-state` copies the state from
//! the one recorded to the one configured, keeping every record, the lineage and the serial
//! (Terraform's `init -migrate-state`); `-reconfigure` starts from whatever the new one holds.

use std::fmt::Write as _;
use std::path::Path;

use super::ExitStatus;
use super::printer::Printer;
use super::state_args::{DEFAULT_STATE_PATH, StateArgs, describe, read_record, write_record};
use crate::state::{BackendChoice, StateBackend, StateDocument, open_backend};

/// Arguments of `init`.
#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// Copy the state from the back end this directory used to the one the configuration names.
    #[arg(long)]
    pub migrate_state: bool,

    /// With `-migrate-state`: overwrite a state of another lineage (or a newer one) at the destination.
    #[arg(long, requires = "migrate_state")]
    pub force_copy: bool,

    /// Use the back end the configuration names without copying any state into it.
    #[arg(long, conflicts_with = "migrate_state")]
    pub reconfigure: bool,

    #[command(flatten)]
    pub state: StateArgs,
}

/// Runs `init`.
pub fn run(dir: &Path, args: &InitArgs, printer: &mut Printer) -> ExitStatus {
    match init(dir, args, printer) {
        Ok(()) => ExitStatus::Success,
        Err(message) => {
            printer.error(&message);
            ExitStatus::Failure
        }
    }
}

fn lock_message(error: &crate::state::LockError) -> String {
    match error.hint() {
        Some(hint) => format!("{error}\n  help: {hint}"),
        None => error.to_string(),
    }
}

fn init(dir: &Path, args: &InitArgs, printer: &mut Printer) -> Result<(), String> {
    let configured = args.state.configured(dir)?;
    let recorded = read_record(dir)?.unwrap_or_else(|| args.state.local_choice());
    let target = open_backend(dir, &configured);
    // Reach the back end now, so that a wrong endpoint or missing credentials show here.
    let target_exists = target.exists().map_err(|e| e.with_hint())?;
    let same = recorded == configured
        || matches!(
            (&recorded, &configured),
            (BackendChoice::Local { .. }, BackendChoice::Local { .. })
        );
    if same || args.reconfigure {
        write_record(dir, &configured)?;
        printer.out(&format!(
            "blockform is initialized: the state is {}{}.\n",
            describe(dir, &configured),
            if target_exists {
                ""
            } else {
                " (created by the first apply)"
            }
        ));
        return Ok(());
    }
    let source = open_backend(dir, &recorded);
    if !source.exists().map_err(|e| e.with_hint())? {
        write_record(dir, &configured)?;
        printer.out(&format!(
            "blockform is initialized: the state is {}; {} held no state to copy.\n",
            describe(dir, &configured),
            describe(dir, &recorded)
        ));
        return Ok(());
    }
    if !args.migrate_state {
        return Err(format!(
            "the state backend changed from {} to {}, and the former holds a state\n  help: `blockform init \
             -migrate-state` copies it over; `blockform init -reconfigure` uses the new backend as it is",
            describe(dir, &recorded),
            describe(dir, &configured)
        ));
    }
    let copied = migrate(source.as_ref(), target.as_ref(), args)?;
    write_record(dir, &configured)?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Copied the state from {} to {}: {} resource instance{}, {} pending operation{}, lineage {}, serial {}.",
        describe(dir, &recorded),
        describe(dir, &configured),
        copied.resources.len(),
        if copied.resources.len() == 1 { "" } else { "s" },
        copied.intents.len(),
        if copied.intents.len() == 1 { "" } else { "s" },
        copied.meta.lineage,
        copied.meta.serial
    );
    let _ = writeln!(
        text,
        "{} is left as it was; blockform now uses {}.",
        describe(dir, &recorded),
        describe(dir, &configured)
    );
    if matches!(recorded, BackendChoice::Local { .. }) {
        let _ = writeln!(
            text,
            "Remove `{DEFAULT_STATE_PATH}` once you trust the new backend, so nobody applies from it by mistake."
        );
    }
    printer.out(&text);
    Ok(())
}

/// Copies the state of `source` into `target`, both locked, and checks the copy.
fn migrate(source: &dyn StateBackend, target: &dyn StateBackend, args: &InitArgs) -> Result<StateDocument, String> {
    let timeout = args.state.lock_timeout;
    let _source_lock = source
        .lock("init -migrate-state", timeout)
        .map_err(|e| lock_message(&e))?;
    let _target_lock = target
        .lock("init -migrate-state", timeout)
        .map_err(|e| lock_message(&e))?;
    let document = source
        .open()
        .and_then(|store| store.export())
        .map_err(|e| e.with_hint())?;
    let store = target.open().map_err(|e| e.with_hint())?;
    let current = store.export().map_err(|e| e.with_hint())?;
    let fresh = current.meta.serial == 0
        && current.resources.is_empty()
        && current.intents.is_empty()
        && current.outputs.is_empty();
    if !fresh && !args.force_copy {
        if current.meta.lineage != document.meta.lineage {
            return Err(format!(
                "`{}` already holds a state of another lineage (`{}`, serial {}); nothing was copied\n  help: \
                 `blockform init -migrate-state -force-copy` overwrites it with the state of lineage `{}`",
                target.location(),
                current.meta.lineage,
                current.meta.serial,
                document.meta.lineage
            ));
        }
        if current.meta.serial > document.meta.serial {
            return Err(format!(
                "`{}` already holds a newer serial ({}) of this state than `{}` (serial {}); nothing was copied\n  \
                 help: `blockform init -reconfigure` uses it as it is; `-migrate-state -force-copy` overwrites it",
                target.location(),
                current.meta.serial,
                source.location(),
                document.meta.serial
            ));
        }
    }
    store.replace_all(&document).map_err(|e| e.with_hint())?;
    let copied = store.export().map_err(|e| e.with_hint())?;
    if copied != document {
        return Err(format!(
            "the copy in `{}` does not read back as the state of `{}`; `{}` is left as it was",
            target.location(),
            source.location(),
            source.location()
        ));
    }
    Ok(copied)
}
