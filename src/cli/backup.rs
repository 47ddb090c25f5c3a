//! `blockform backup list|verify|restore|delete|gc`: inspect the backup stores of the
//! configuration, check every stored block, restore a backup into an existing volume, delete a
//! backup no resource manages (one that outlived its volume or its policy), and collect garbage.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::path::Path;

use super::ExitStatus;
use super::plan::known_values;
use super::printer::Printer;
use super::progress::{ByteMeter, ProgressStyle, human_bytes};
use super::state_args::{StateArgs, open_state};
use crate::backup::{Access, BackupError, BackupStore, Manifest, RestoreOptions, restore, verify};
use crate::config::vars::VarInputs;
use crate::config::{self, EvalOptions, MissingVars};
use crate::providers::{Providers, StoreConfig};
use crate::state::ResourceState;

/// `backup` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BackupCommand {
    /// List backups as chains, newest first.
    List(ListArgs),
    /// Re-read and re-hash every block of backups; name the backup and offset of any damage.
    Verify(VerifyArgs),
    /// Restore a backup into an existing, detached volume (its data is overwritten).
    Restore(RestoreArgs),
    /// Delete a backup that no `backup` resource manages (one kept after its volume or its
    /// policy was destroyed); its blocks are freed by `gc`.
    Delete(DeleteArgs),
    /// Delete stored blocks that no backup refers to.
    Gc(GcArgs),
}

/// Arguments of `backup delete`.
#[derive(Debug, Clone, clap::Args)]
pub struct DeleteArgs {
    /// The backup to delete (its id, as `backup list` shows it).
    backup: String,

    /// Delete without asking for confirmation (needs --allow-data-loss as well).
    #[arg(long)]
    auto_approve: bool,

    /// With --auto-approve: confirm that the backup's data is lost.
    #[arg(long)]
    allow_data_loss: bool,

    #[command(flatten)]
    stores: StoreArgs,
}

/// Which stores a command looks at.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Only the `backup_store` block of this name [default: every store of the configuration].
    #[arg(long, value_name = "NAME")]
    store: Option<String>,

    #[command(flatten)]
    state: StateArgs,
}

/// Arguments of `backup list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Only backups of this volume (an address like `volume.db`, or a back-end id).
    #[arg(long, value_name = "ADDR")]
    volume: Option<String>,

    /// Print JSON.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    stores: StoreArgs,
}

/// Arguments of `backup verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// The backup to verify.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    id: Option<String>,

    /// Verify every backup.
    #[arg(long)]
    all: bool,

    /// Print JSON.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    stores: StoreArgs,
}

/// Arguments of `backup restore`.
#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    /// The backup to restore (its id).
    backup: String,

    /// The volume to overwrite: its address in state (`volume.db`).
    #[arg(long, value_name = "ADDR")]
    to: String,

    /// Restore without asking for confirmation (needs --allow-data-loss as well).
    #[arg(long)]
    auto_approve: bool,

    /// With --auto-approve: confirm that the volume's current data is overwritten.
    #[arg(long)]
    allow_data_loss: bool,

    #[command(flatten)]
    stores: StoreArgs,
}

/// Arguments of `backup gc`.
#[derive(Debug, Clone, clap::Args)]
pub struct GcArgs {
    #[command(flatten)]
    stores: StoreArgs,
}

/// The configuration's stores and providers, and state.
struct Context {
    providers: Providers,
    records: Vec<ResourceState>,
    lock: Option<crate::state::LockGuard>,
}

fn load(dir: &Path, args: &StoreArgs, operation: &str, printer: &mut Printer) -> Result<Context, ExitStatus> {
    let fail = |printer: &mut Printer, message: &str| {
        printer.error(message);
        ExitStatus::Failure
    };
    let (state, lock) = open_state(dir, &args.state, operation, false).map_err(|m| fail(printer, &m))?;
    let records = state.resources().map_err(|e| fail(printer, &e.to_string()))?;
    let options = EvalOptions {
        vars: VarInputs::with_process_env(Vec::new()),
        missing_vars: MissingVars::Unknown,
        known: known_values(&records),
        allow_undeclared_imports: false,
    };
    let loaded = match config::load(dir, &options) {
        Ok(loaded) if !loaded.diagnostics.has_errors() => loaded,
        _ => {
            return Err(fail(
                printer,
                "the configuration does not evaluate; `blockform validate` shows why",
            ));
        }
    };
    let providers = Providers::build(&loaded.desired, dir).map_err(|m| fail(printer, &m))?;
    if providers.stores().next().is_none() {
        return Err(fail(
            printer,
            "the configuration has no backup_store block; declare one: `backup_store \"dir\" \"NAME\" { path = \"…\" }`",
        ));
    }
    if let Some(name) = &args.store
        && providers.store(name).is_none()
    {
        return Err(fail(printer, &format!("no backup_store block is named `{name}`")));
    }
    Ok(Context {
        providers,
        records,
        lock,
    })
}

impl Context {
    /// The selected stores, by name, sorted.
    fn stores<'a>(&'a self, args: &StoreArgs) -> Vec<(&'a String, &'a StoreConfig)> {
        let mut stores: Vec<_> = self
            .providers
            .stores()
            .filter(|(name, _)| args.store.as_ref().is_none_or(|s| s == *name))
            .collect();
        stores.sort_by(|a, b| a.0.cmp(b.0));
        stores
    }
}

fn report_error(printer: &mut Printer, error: &BackupError) -> ExitStatus {
    printer.error(&error.to_string());
    if let Some(hint) = error.hint() {
        printer.message(&format!("  help: {hint}\n"));
    }
    ExitStatus::Failure
}

/// Opens a store for reading; a store nothing was written to yet is empty, not an error.
fn open_existing(config: &StoreConfig, access: Access) -> Result<Option<Box<dyn BackupStore>>, BackupError> {
    match config.open(access, false) {
        Ok(store) => Ok(Some(store)),
        Err(BackupError::NotAStore { .. }) if !config.exists() => Ok(None),
        Err(error) => Err(error),
    }
}

/// Runs a `backup` subcommand.
pub fn run(dir: &Path, command: &BackupCommand, printer: &mut Printer) -> ExitStatus {
    match command {
        BackupCommand::List(args) => list(dir, args, printer),
        BackupCommand::Verify(args) => verify_command(dir, args, printer),
        BackupCommand::Restore(args) => restore_command(dir, args, printer),
        BackupCommand::Delete(args) => delete_command(dir, args, printer),
        BackupCommand::Gc(args) => gc(dir, args, printer),
    }
}

/// Asks for `yes` on the terminal; `false` (and a message) for anything else.
fn confirm(question: &str, printer: &mut Printer) -> bool {
    printer.message(&format!(
        "\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
    ));
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    line.trim() == "yes"
}

/// The store of the selected ones that holds backup `id`, with its name and the manifest.
fn find_backup(
    context: &Context,
    stores: &StoreArgs,
    id: &str,
    printer: &mut Printer,
) -> Result<(String, Box<dyn BackupStore>, Manifest), ExitStatus> {
    for (name, config) in context.stores(stores) {
        match open_existing(config, Access::Shared) {
            Ok(Some(store)) if store.has_backup(id) => match store.manifest(id) {
                Ok(manifest) => return Ok((name.clone(), store, manifest)),
                Err(error) => return Err(report_error(printer, &error)),
            },
            Ok(_) => {}
            Err(error) => return Err(report_error(printer, &error)),
        }
    }
    printer.error(&format!("no store of the configuration holds a backup `{id}`"));
    printer.message("  help: `blockform backup list` shows the backups\n");
    Err(ExitStatus::Failure)
}

fn delete_command(dir: &Path, args: &DeleteArgs, printer: &mut Printer) -> ExitStatus {
    let context = match load(dir, &args.stores, "backup delete", printer) {
        Ok(c) => c,
        Err(status) => return status,
    };
    if let Some(owner) = context
        .records
        .iter()
        .find(|r| r.address.starts_with("backup.") && r.backend_id == args.backup)
    {
        printer.error(&format!("backup `{}` is managed as `{}`", args.backup, owner.address));
        printer.message(&format!(
            "  help: remove its `resource` block and apply (the plan shows what goes), or `blockform state rm {}` to stop managing it first\n",
            owner.address
        ));
        return ExitStatus::Failure;
    }
    let (store_name, store, manifest) = match find_backup(&context, &args.stores, &args.backup, printer) {
        Ok(found) => found,
        Err(status) => return status,
    };
    printer.out(&format!(
        "Backup {} ({} of {}, taken {}, {}) will be deleted from store `{store_name}`.\nDATA LOSS: it can no longer be restored.\n",
        manifest.id,
        manifest.mode.as_str(),
        manifest.volume_address,
        crate::model::timestamp(manifest.created_at),
        human_bytes(as_f64(manifest.size_bytes)),
    ));
    if args.auto_approve {
        if !args.allow_data_loss {
            printer.error("deleting a backup loses its data, and --auto-approve alone does not allow that");
            printer.message("Add --allow-data-loss to confirm, or answer the question interactively.\n");
            return ExitStatus::Failure;
        }
    } else if !confirm("Do you want to delete this backup?", printer) {
        printer.message("\nDelete cancelled.\n");
        return ExitStatus::Failure;
    }
    if let Err(error) = store.delete(&manifest.id) {
        return report_error(printer, &error);
    }
    // The change marker it left on its volume counts changes for no backup any more.
    if let Some(marker) = &manifest.change_marker
        && let Some(volume) = context
            .records
            .iter()
            .find(|r| r.address.starts_with("volume.") && r.backend_id == manifest.volume_backend_id)
        && let Some(provider) = volume.provider.as_deref().and_then(|p| context.providers.get(p))
    {
        let _ = provider.delete_change_marker(&volume.backend_id, marker);
    }
    drop(context.lock);
    printer.out(&format!(
        "Deleted backup {} from store `{store_name}`; `blockform backup gc` frees its blocks.\n",
        manifest.id
    ));
    ExitStatus::Success
}

fn list(dir: &Path, args: &ListArgs, printer: &mut Printer) -> ExitStatus {
    let context = match load(dir, &args.stores, "backup list", printer) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let volume_id = args.volume.as_ref().map(|v| {
        context
            .records
            .iter()
            .find(|r| &r.address == v)
            .map_or_else(|| v.clone(), |r| r.backend_id.clone())
    });
    let mut json_stores = Vec::new();
    let mut text = String::new();
    for (name, config) in context.stores(&args.stores) {
        let store = match open_existing(config, Access::Shared) {
            Ok(store) => store,
            Err(error) => return report_error(printer, &error),
        };
        let manifests = match store.as_ref().map(|store| store.manifests()).transpose() {
            Ok(m) => m.unwrap_or_default(),
            Err(error) => return report_error(printer, &error),
        };
        let selected: Vec<&Manifest> = manifests
            .iter()
            .filter(|m| volume_id.as_ref().is_none_or(|v| &m.volume_backend_id == v))
            .collect();
        let mut volumes: Vec<(&str, &str)> = selected
            .iter()
            .map(|m| (m.volume_backend_id.as_str(), m.volume_address.as_str()))
            .collect();
        volumes.sort_unstable();
        volumes.dedup_by(|a, b| a.0 == b.0);
        let mut json_volumes = Vec::new();
        let _ = writeln!(text, "Store {name} ({})", config.path.display());
        if selected.is_empty() {
            text.push_str("  no backups\n");
        }
        for (volume, address) in volumes {
            let _ = writeln!(text, "  {address} [{volume}]");
            let chains = chains_of(&selected, volume);
            let mut json_chains = Vec::new();
            for chain in chains.iter().rev() {
                let mut json_chain = Vec::new();
                for (i, m) in chain.iter().rev().enumerate() {
                    let lead = if i + 1 == chain.len() { "└─" } else { "├─" };
                    let _ = writeln!(
                        text,
                        "    {lead} {}  {:<11}  {}  size {}  stored {}{}",
                        m.id,
                        m.mode.as_str(),
                        crate::model::timestamp(m.created_at),
                        human_bytes(as_f64(m.size_bytes)),
                        human_bytes(as_f64(m.stored_bytes)),
                        m.parent.as_ref().map(|p| format!("  parent {p}")).unwrap_or_default()
                    );
                    json_chain.push(serde_json::json!({
                        "id": m.id,
                        "mode": m.mode.as_str(),
                        "created_at": crate::model::timestamp(m.created_at),
                        "size_bytes": m.size_bytes,
                        "stored_bytes": m.stored_bytes,
                        "read_bytes": m.read_bytes,
                        "data_bytes": m.data_bytes(),
                        "parent": m.parent,
                        "policy": m.policy,
                        "change_source": m.change_source,
                    }));
                }
                json_chains.push(serde_json::Value::Array(json_chain));
            }
            json_volumes.push(serde_json::json!({
                "volume": address,
                "volume_backend_id": volume,
                "chains": json_chains,
            }));
        }
        let stats = store.as_ref().and_then(|s| s.stats().ok()).unwrap_or_default();
        json_stores.push(serde_json::json!({
            "store": name,
            "path": config.path.display().to_string(),
            "blocks": stats.blocks,
            "pack_bytes": stats.pack_bytes,
            "volumes": json_volumes,
        }));
    }
    drop(context.lock);
    if args.json {
        let document = serde_json::json!({ "stores": json_stores });
        printer.out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        ));
    } else {
        printer.out(&text);
    }
    ExitStatus::Success
}

#[allow(clippy::cast_precision_loss)]
fn as_f64(bytes: u64) -> f64 {
    bytes as f64
}

/// The chains of one volume, oldest first; each chain is a full and what builds on it.
fn chains_of<'a>(manifests: &[&'a Manifest], volume: &str) -> Vec<Vec<&'a Manifest>> {
    let mut chains: Vec<Vec<&Manifest>> = Vec::new();
    let mut chain_of: HashMap<&str, usize> = HashMap::new();
    for m in manifests.iter().filter(|m| m.volume_backend_id == volume) {
        let index = if let Some(&i) = m.parent.as_deref().and_then(|p| chain_of.get(p)) {
            i
        } else {
            chains.push(Vec::new());
            chains.len() - 1
        };
        chains[index].push(m);
        chain_of.insert(m.id.as_str(), index);
    }
    chains
}

fn verify_command(dir: &Path, args: &VerifyArgs, printer: &mut Printer) -> ExitStatus {
    let context = match load(dir, &args.stores, "backup verify", printer) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let mut damage = Vec::new();
    let mut checked = 0;
    for (name, config) in context.stores(&args.stores) {
        let mut store = match open_existing(config, Access::Shared) {
            Ok(Some(store)) => store,
            Ok(None) => continue,
            Err(error) => return report_error(printer, &error),
        };
        let manifests = match &args.id {
            Some(id) if store.has_backup(id) => store.manifest(id).map(|m| vec![m]),
            Some(_) => continue,
            None => store.manifests(),
        };
        let manifests = match manifests {
            Ok(m) => m,
            Err(error) => return report_error(printer, &error),
        };
        let meter =
            ByteMeter::new(format!("verifying store {name}"), ProgressStyle::for_stderr(), None).plain_on_stderr();
        let mut on_blocks = |done, total| meter.update(done, total);
        match verify(&mut *store, &manifests, &mut on_blocks) {
            Ok(found) => damage.extend(found),
            Err(error) => return report_error(printer, &error),
        }
        checked += manifests.len();
    }
    drop(context.lock);
    if let Some(id) = &args.id
        && checked == 0
    {
        printer.error(&format!("no store of the configuration holds a backup `{id}`"));
        printer.message("  help: `blockform backup list` shows the backups\n");
        return ExitStatus::Failure;
    }
    if args.json {
        let document = serde_json::json!({ "backups_checked": checked, "damage": damage });
        printer.out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        ));
    } else if damage.is_empty() {
        printer.out(&format!(
            "Verified {checked} backup{}: every block reads back and matches its hash.\n",
            if checked == 1 { "" } else { "s" }
        ));
    } else {
        for d in &damage {
            printer.error(&format!(
                "backup `{}` is damaged at offset {}: {}",
                d.backup, d.offset, d.reason
            ));
        }
        printer.message("  help: restore from another backup and take a new full backup; `gc` never repairs damage\n");
    }
    if damage.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    }
}

fn restore_command(dir: &Path, args: &RestoreArgs, printer: &mut Printer) -> ExitStatus {
    let context = match load(dir, &args.stores, "backup restore", printer) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let Some(target) = context.records.iter().find(|r| r.address == args.to) else {
        printer.error(&format!("`{}` is not in state", args.to));
        printer.message("  help: restore into a volume blockform manages (`blockform state list`), or make a new one with `source = { backup = … }`\n");
        return ExitStatus::Failure;
    };
    if !target.address.starts_with("volume.") {
        printer.error(&format!("`{}` is not a volume", args.to));
        return ExitStatus::Failure;
    }
    let attached: Vec<&str> = context
        .records
        .iter()
        .filter(|r| r.address.starts_with("attachment."))
        .filter(|r| r.attributes.get("volume").and_then(serde_json::Value::as_str) == Some(target.backend_id.as_str()))
        .map(|r| r.address.as_str())
        .collect();
    if !attached.is_empty() {
        printer.error(&format!(
            "`{}` is attached ({}); a restore overwrites it and needs it detached",
            args.to,
            attached.join(", ")
        ));
        printer.message("  help: remove the attachment from the configuration and apply, then restore\n");
        return ExitStatus::Failure;
    }
    let (_, mut store, manifest) = match find_backup(&context, &args.stores, &args.backup, printer) {
        Ok(found) => found,
        Err(status) => return status,
    };
    let Some(provider) = target.provider.as_deref().and_then(|p| context.providers.get(p)) else {
        printer.error(&format!("the provider of `{}` is not available", args.to));
        return ExitStatus::Failure;
    };
    let writer = match provider.open_writer(&target.backend_id) {
        Ok(w) => w,
        Err(error) => {
            printer.error(&format!("volume `{}`: {error}", args.to));
            return ExitStatus::Failure;
        }
    };
    if writer.size_bytes() < manifest.size_bytes {
        let error = BackupError::TargetTooSmall {
            id: manifest.id.clone(),
            volume: args.to.clone(),
            backup_bytes: manifest.size_bytes,
            volume_bytes: writer.size_bytes(),
        };
        return report_error(printer, &error);
    }
    printer.out(&format!(
        "Backup {} ({} of {}, taken {}) will overwrite every byte of `{}` up to {}.\nDATA LOSS: the volume's current data is replaced.\n",
        manifest.id,
        manifest.mode.as_str(),
        manifest.volume_address,
        crate::model::timestamp(manifest.created_at),
        args.to,
        human_bytes(as_f64(manifest.size_bytes)),
    ));
    if args.auto_approve {
        if !args.allow_data_loss {
            printer.error("a restore overwrites the volume, and --auto-approve alone does not allow that");
            printer.message("Add --allow-data-loss to confirm, or answer the question interactively.\n");
            return ExitStatus::Failure;
        }
    } else {
        printer.message("\nDo you want to restore?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        if line.trim() != "yes" {
            printer.message("\nRestore cancelled.\n");
            return ExitStatus::Failure;
        }
    }
    let meter = ByteMeter::new(format!("restoring {}", args.to), ProgressStyle::for_stderr(), None).plain_on_stderr();
    let mut on_bytes = |done, total| meter.update(done, total);
    let started = std::time::Instant::now();
    let options = RestoreOptions {
        target_is_zeroed: false,
    };
    if let Err(error) = restore(&mut *store, &manifest, writer, &args.to, options, &mut on_bytes) {
        return report_error(printer, &error);
    }
    drop(context.lock);
    printer.out(&format!(
        "Restored {} into {} in {:.2} s.\n",
        manifest.id,
        args.to,
        started.elapsed().as_secs_f64()
    ));
    ExitStatus::Success
}

fn gc(dir: &Path, args: &GcArgs, printer: &mut Printer) -> ExitStatus {
    let context = match load(dir, &args.stores, "backup gc", printer) {
        Ok(c) => c,
        Err(status) => return status,
    };
    for (name, config) in context.stores(&args.stores) {
        let mut store = match open_existing(config, Access::Exclusive) {
            Ok(Some(store)) => store,
            Ok(None) => continue,
            Err(error) => return report_error(printer, &error),
        };
        match store.gc() {
            Ok(report) => printer.out(&format!(
                "Store {name}: {} unreferenced block{} dropped, {} pack{} deleted, {} rewritten, {} freed.\n",
                report.blocks_dropped,
                if report.blocks_dropped == 1 { "" } else { "s" },
                report.packs_deleted,
                if report.packs_deleted == 1 { "" } else { "s" },
                report.packs_rewritten,
                human_bytes(as_f64(report.bytes_freed)),
            )),
            Err(error) => return report_error(printer, &error),
        }
    }
    drop(context.lock);
    ExitStatus::Success
}
