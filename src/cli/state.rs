//! `blockform state …`: look at and correct what state records without touching a back end —
//! list, show, forget (`rm`), rename (`mv`), and export/import the whole state as JSON
//! (`pull`/`push`) for inspection and recovery.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ExitStatus;
use super::output::{attribute_key, format_entries};
use super::printer::Printer;
use super::state_args::{StateArgs, open_state};
use crate::model::{Address, InstanceKey, ResourceKind};
use crate::state::{Commit, FORMAT_VERSION, Intent, Meta, ResourceState, StateDocument};

/// The `state` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum StateCommand {
    /// List the resource instances in state, sorted by address.
    List {
        /// Only these: a kind (`volume`), a resource (`volume.db`) or one instance.
        #[arg(value_name = "FILTER")]
        filter: Vec<String>,

        #[command(flatten)]
        state: StateArgs,
    },
    /// Show one resource instance as state records it.
    Show {
        /// The instance, like `volume.db` or `volume.scratch["a"]`.
        #[arg(value_name = "ADDR")]
        address: String,

        #[command(flatten)]
        state: StateArgs,
    },
    /// Forget resource instances; their objects stay in the back end, unmanaged.
    Rm {
        /// Instances, or resources (all their instances), to forget.
        #[arg(value_name = "ADDR", required = true)]
        addresses: Vec<String>,

        /// Print what would be forgotten and change nothing.
        #[arg(long)]
        dry_run: bool,

        #[command(flatten)]
        state: StateArgs,
    },
    /// Give a resource instance, or every instance of a resource, a new address.
    Mv {
        /// The current address.
        #[arg(value_name = "SRC")]
        source: String,

        /// The new address, of the same kind; nothing may be there yet.
        #[arg(value_name = "DST")]
        destination: String,

        #[command(flatten)]
        state: StateArgs,
    },
    /// Print the whole state as JSON.
    Pull {
        #[command(flatten)]
        state: StateArgs,
    },
    /// Replace the state with a JSON document from `state pull` (`-` reads standard input).
    Push {
        /// The document.
        #[arg(value_name = "FILE")]
        file: PathBuf,

        /// Push even a document of another lineage or with a lower serial.
        #[arg(long)]
        force: bool,

        #[command(flatten)]
        state: StateArgs,
    },
}

/// Runs a `state` subcommand.
pub fn run(dir: &Path, command: &StateCommand, printer: &mut Printer) -> ExitStatus {
    let result = match command {
        StateCommand::List { filter, state } => list(dir, state, filter, printer),
        StateCommand::Show { address, state } => show(dir, state, address, printer),
        StateCommand::Rm {
            addresses,
            dry_run,
            state,
        } => rm(dir, state, addresses, *dry_run, printer),
        StateCommand::Mv {
            source,
            destination,
            state,
        } => mv(dir, state, source, destination, printer),
        StateCommand::Pull { state } => pull(dir, state, printer),
        StateCommand::Push { file, force, state } => push(dir, state, file, *force, printer),
    };
    match result {
        Ok(()) => ExitStatus::Success,
        Err(message) => {
            printer.error(&message);
            ExitStatus::Failure
        }
    }
}

const ADDRESS_HELP: &str = "addresses look like `volume.db`, `volume.scratch[\"a\"]` or `snapshot.daily[2]`";
const LIST_HELP: &str = "`blockform state list` shows the addresses in state";

/// Parses an address as typed; `Err` is the message.
fn parse_address(text: &str) -> Result<Address, String> {
    Address::parse(text).ok_or_else(|| format!("`{text}` is not a resource address\n  help: {ADDRESS_HELP}"))
}

/// Whether `address` is `prefix` or lies under it (`volume.db[0]` under `volume.db`, `volume.db`
/// under `volume`).
fn is_under(address: &str, prefix: &str) -> bool {
    address
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// Sorts addresses by kind, name, then instance key (`[2]` before `[10]`); addresses that do
/// not parse go last.
fn sort_addresses(addresses: &mut [String]) {
    addresses.sort_by_cached_key(|a| {
        let parsed = Address::parse(a).map(|a| (a.kind.name(), a.name, a.key));
        (parsed.is_none(), parsed, a.clone())
    });
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn list(dir: &Path, state: &StateArgs, filters: &[String], printer: &mut Printer) -> Result<(), String> {
    let mut prefixes = Vec::with_capacity(filters.len());
    for filter in filters {
        if ResourceKind::from_name(filter).is_some() {
            prefixes.push(filter.clone());
        } else {
            let address = Address::parse(filter).ok_or_else(|| {
                format!("`{filter}` is neither a resource kind nor an address\n  help: filters look like `volume` or `volume.db`")
            })?;
            prefixes.push(address.to_string());
        }
    }
    let (store, _lock) = open_state(dir, state, "state list", false)?;
    let mut addresses: Vec<String> = store
        .resources()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|r| r.address)
        .filter(|a| prefixes.is_empty() || prefixes.iter().any(|p| is_under(a, p)))
        .collect();
    sort_addresses(&mut addresses);
    let mut out = String::new();
    for address in addresses {
        out.push_str(&address);
        out.push('\n');
    }
    printer.out(&out);
    Ok(())
}

fn show(dir: &Path, state: &StateArgs, address: &str, printer: &mut Printer) -> Result<(), String> {
    let address = parse_address(address)?;
    let wanted = address.to_string();
    let (store, _lock) = open_state(dir, state, "state show", false)?;
    let Some(resource) = store.resource(&wanted).map_err(|e| e.to_string())? else {
        let mut instances: Vec<String> = store
            .resources()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|r| r.address)
            .filter(|a| is_under(a, &wanted))
            .collect();
        sort_addresses(&mut instances);
        let help = if instances.is_empty() {
            LIST_HELP.to_owned()
        } else {
            format!("show one of its instances: {}", instances.join(", "))
        };
        return Err(format!("no resource instance `{wanted}` in state\n  help: {help}"));
    };
    printer.out(&render_instance(&address, &resource));
    Ok(())
}

/// One instance the way `terraform state show` prints it: its attributes, with the back-end
/// id as `id` and the status as `status` unless the attributes carry their own.
fn render_instance(address: &Address, resource: &ResourceState) -> String {
    let id = Value::String(resource.backend_id.clone());
    let status = Value::String(resource.status.clone());
    let mut attributes: BTreeMap<&str, &Value> = resource.attributes.iter().map(|(k, v)| (k.as_str(), v)).collect();
    attributes.entry("id").or_insert(&id);
    if !resource.status.is_empty() {
        attributes.entry("status").or_insert(&status);
    }
    let entries: Vec<(String, &Value)> = attributes.into_iter().map(|(k, v)| (attribute_key(k), v)).collect();
    format!(
        "# {address}:\nresource \"{}\" \"{}\" {{\n{}}}\n",
        address.kind,
        address.name,
        format_entries(&entries, 4, 4)
    )
}

fn rm(dir: &Path, state: &StateArgs, addresses: &[String], dry_run: bool, printer: &mut Printer) -> Result<(), String> {
    let wanted: Vec<String> = addresses
        .iter()
        .map(|a| parse_address(a).map(|a| a.to_string()))
        .collect::<Result<_, _>>()?;
    let (store, _lock) = open_state(dir, state, "state rm", false)?;
    // What is removed is chosen from the state as read now: the commit expects it unchanged.
    let read = store.meta().map_err(|e| e.with_hint())?.serial;
    let present: Vec<String> = store
        .resources()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|r| r.address)
        .collect();
    let mut chosen = BTreeSet::new();
    let mut missing = Vec::new();
    for address in &wanted {
        let matched: Vec<&String> = present.iter().filter(|a| is_under(a, address)).collect();
        if matched.is_empty() {
            missing.push(format!("`{address}`"));
        }
        chosen.extend(matched.into_iter().cloned());
    }
    if !missing.is_empty() {
        return Err(format!(
            "no resource instance {} in state; nothing was removed\n  help: {LIST_HELP}",
            missing.join(", ")
        ));
    }
    let mut chosen: Vec<String> = chosen.into_iter().collect();
    sort_addresses(&mut chosen);
    let n = chosen.len();
    let mut out = String::new();
    if dry_run {
        for address in &chosen {
            let _ = writeln!(out, "Would remove {address}");
        }
        let _ = writeln!(
            out,
            "Would remove {n} resource instance{}; nothing was changed.",
            plural(n)
        );
        printer.out(&out);
        return Ok(());
    }
    store
        .commit_at(
            read,
            &Commit {
                remove: chosen.clone(),
                ..Commit::default()
            },
        )
        .map_err(|e| e.with_hint())?;
    for address in &chosen {
        let _ = writeln!(out, "Removed {address}");
    }
    let _ = writeln!(
        out,
        "Removed {n} resource instance{} from state. The objects still exist in the back end; blockform no longer \
         manages them.",
        plural(n)
    );
    printer.out(&out);
    Ok(())
}

fn mv(dir: &Path, state: &StateArgs, source: &str, destination: &str, printer: &mut Printer) -> Result<(), String> {
    let from = parse_address(source)?;
    let to = parse_address(destination)?;
    if from.kind != to.kind {
        return Err(format!(
            "cannot move `{from}` to `{to}`: a resource keeps its kind ({} is not {})",
            from.kind, to.kind
        ));
    }
    if from == to {
        return Err(format!("`{from}` is already at `{to}`: nothing to move"));
    }
    let (store, _lock) = open_state(dir, state, "state mv", false)?;
    // The move is worked out from the state as read now: the commit expects it unchanged.
    let read = store.meta().map_err(|e| e.with_hint())?.serial;
    let resources = store.resources().map_err(|e| e.to_string())?;
    let by_address: BTreeMap<&str, &ResourceState> = resources.iter().map(|r| (r.address.as_str(), r)).collect();

    // Old address → new address, for every instance that moves.
    let mut renames: BTreeMap<String, String> = BTreeMap::new();
    if by_address.contains_key(from.to_string().as_str()) {
        renames.insert(from.to_string(), to.to_string());
    } else if from.key == InstanceKey::None {
        let resource = format!("{from}[");
        for address in by_address.keys().filter(|a| a.starts_with(&resource)) {
            let Some(instance) = Address::parse(address) else {
                continue;
            };
            if to.key != InstanceKey::None {
                return Err(format!(
                    "cannot move every instance of `{from}` to the single instance `{to}`\n  help: move them one by one, \
                     or give a resource address like `{}.{}`",
                    to.kind, to.name
                ));
            }
            let target = Address {
                key: instance.key,
                ..to.clone()
            };
            renames.insert((*address).to_owned(), target.to_string());
        }
    }
    if renames.is_empty() {
        return Err(format!("no resource instance `{from}` in state\n  help: {LIST_HELP}"));
    }

    // Nothing may be at the destination, and a resource cannot mix an instance without a key
    // with instances that have one.
    let staying: Vec<&str> = by_address
        .keys()
        .copied()
        .filter(|a| !renames.contains_key(*a))
        .collect();
    for target in renames.values() {
        let target_address = Address::parse(target);
        let clash = staying.iter().find(|a| {
            **a == target.as_str()
                || Address::parse(a).zip(target_address.as_ref()).is_some_and(|(a, t)| {
                    a.kind == t.kind && a.name == t.name && (a.key == InstanceKey::None) != (t.key == InstanceKey::None)
                })
        });
        if let Some(existing) = clash {
            return Err(format!(
                "cannot move `{from}` to `{to}`: `{existing}` is already in state\n  help: pick another address, or \
                 forget that one first with `blockform state rm {existing}`"
            ));
        }
    }
    if to.key == InstanceKey::None && from.key == InstanceKey::None {
        // References to the resource as a whole follow it too.
        renames.entry(from.to_string()).or_insert_with(|| to.to_string());
    }

    let rename = |address: &str| renames.get(address).cloned().unwrap_or_else(|| address.to_owned());
    let mut commit = Commit::default();
    for resource in &resources {
        let moving = renames.contains_key(&resource.address);
        let dependencies: Vec<String> = resource.dependencies.iter().map(|d| rename(d)).collect();
        if moving || dependencies != resource.dependencies {
            if moving {
                commit.remove.push(resource.address.clone());
            }
            commit.put.push(ResourceState {
                address: rename(&resource.address),
                dependencies,
                ..resource.clone()
            });
        }
    }
    for intent in store.intents().map_err(|e| e.to_string())? {
        let dependencies: Vec<String> = intent.dependencies.iter().map(|d| rename(d)).collect();
        if renames.contains_key(&intent.address) || dependencies != intent.dependencies {
            commit.put_intents.push(Intent {
                address: rename(&intent.address),
                dependencies,
                ..intent
            });
        }
    }
    store.commit_at(read, &commit).map_err(|e| e.with_hint())?;

    let mut done: Vec<(&String, &String)> = renames
        .iter()
        .filter(|(old, _)| by_address.contains_key(old.as_str()))
        .collect();
    done.sort_by_key(|(old, _)| Address::parse(old));
    let mut out = String::new();
    for (old, new) in &done {
        let _ = writeln!(out, "Moved {old} to {new}");
    }
    let _ = writeln!(out, "Moved {} resource instance{}.", done.len(), plural(done.len()));
    printer.out(&out);
    Ok(())
}

fn pull(dir: &Path, state: &StateArgs, printer: &mut Printer) -> Result<(), String> {
    let backend = state.backend(dir)?;
    if !backend.exists().map_err(|e| e.with_hint())? {
        printer.message(&format!("No state at `{}`.\n", backend.location()));
        return Ok(());
    }
    let (store, _lock) = open_state(dir, state, "state pull", false)?;
    let document = store.export().map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(&document).map_err(|e| format!("cannot print the state as JSON: {e}"))?;
    printer.out(&format!("{json}\n"));
    Ok(())
}

fn push(dir: &Path, state: &StateArgs, file: &Path, force: bool, printer: &mut Printer) -> Result<(), String> {
    let (name, text) = if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        ("standard input".to_owned(), text)
    } else {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
        (format!("`{}`", file.display()), text)
    };
    let mut document: StateDocument = serde_json::from_str(&text).map_err(|e| {
        format!("{name} is not a state document: {e}\n  help: push what `blockform state pull` printed")
    })?;
    if document.meta.format_version > FORMAT_VERSION {
        return Err(format!(
            "{name} has state format version {}, but this blockform reads versions up to {FORMAT_VERSION}\n  help: \
             upgrade blockform to push it",
            document.meta.format_version
        ));
    }
    let (store, _lock) = open_state(dir, state, "state push", true)?;
    let current = store.export().map_err(|e| e.to_string())?;
    let fresh = current.meta.serial == 0
        && current.resources.is_empty()
        && current.intents.is_empty()
        && current.outputs.is_empty();
    let lineage = if document.meta.lineage.is_empty() {
        current.meta.lineage.clone()
    } else {
        document.meta.lineage.clone()
    };
    if !force && !fresh {
        if lineage != current.meta.lineage {
            return Err(format!(
                "cannot push {name}: its lineage `{lineage}` is not the state's lineage `{}`, so it belongs to \
                 another state\n  help: `--force` replaces this state with it anyway",
                current.meta.lineage
            ));
        }
        if document.meta.serial < current.meta.serial {
            return Err(format!(
                "cannot push {name}: its serial {} is lower than the state's serial {}, so the state changed since \
                 it was pulled\n  help: pull the state again and redo the change, or `--force` to overwrite it",
                document.meta.serial, current.meta.serial
            ));
        }
    }
    document.resources.sort_by(|a, b| a.address.cmp(&b.address));
    document
        .intents
        .sort_by(|a, b| a.started_at.cmp(&b.started_at).then_with(|| a.id.cmp(&b.id)));
    if lineage == current.meta.lineage
        && document.resources == current.resources
        && document.intents == current.intents
        && document.outputs == current.outputs
    {
        printer.out(&format!(
            "The state already holds what {name} holds; nothing to push.\n"
        ));
        return Ok(());
    }
    // The serial always grows, so plans saved against the replaced state are stale.
    let serial = document.meta.serial.max(current.meta.serial.saturating_add(1));
    document.meta = Meta {
        format_version: FORMAT_VERSION,
        lineage,
        serial,
    };
    store.replace_all(&document).map_err(|e| e.to_string())?;
    let n = document.resources.len();
    printer.out(&format!(
        "Pushed {name}: {n} resource instance{}, serial {serial}.\n",
        plural(n)
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(address: &str) -> ResourceState {
        let mut attributes = serde_json::Map::new();
        attributes.insert("name".into(), serde_json::json!("db"));
        attributes.insert("size".into(), serde_json::json!(20));
        attributes.insert("metadata".into(), serde_json::json!({"owner": "team-a"}));
        ResourceState {
            address: address.to_owned(),
            backend_id: "volume-5c0e".to_owned(),
            provider: Some("local.dev".to_owned()),
            attributes,
            dependencies: Vec::new(),
            status: "available".to_owned(),
        }
    }

    #[test]
    fn show_prints_the_instance_like_terraform() {
        let address = Address::parse("volume.scratch[\"a\"]").unwrap();
        assert_eq!(
            render_instance(&address, &resource("volume.scratch[\"a\"]")),
            "# volume.scratch[\"a\"]:\n\
             resource \"volume\" \"scratch\" {\n    \
                 id       = \"volume-5c0e\"\n    \
                 metadata = {\n        \
                     owner = \"team-a\"\n    \
                 }\n    \
                 name     = \"db\"\n    \
                 size     = 20\n    \
                 status   = \"available\"\n\
             }\n"
        );
    }

    #[test]
    fn filters_match_whole_address_parts() {
        assert!(is_under("volume.db", "volume"));
        assert!(is_under("volume.db", "volume.db"));
        assert!(is_under("volume.db[0]", "volume.db"));
        assert!(!is_under("volume_type.std", "volume"));
        assert!(!is_under("volume.dbx", "volume.db"));
        assert!(!is_under("volume.db", "volume.db[0]"));
    }

    #[test]
    fn addresses_sort_by_kind_name_and_key() {
        let mut addresses: Vec<String> = [
            "volume.b[10]",
            "volume.b[2]",
            "qos.q",
            "volume.a",
            "volume.b[\"x\"]",
            "weird",
        ]
        .map(str::to_owned)
        .to_vec();
        sort_addresses(&mut addresses);
        assert_eq!(
            addresses,
            [
                "qos.q",
                "volume.a",
                "volume.b[2]",
                "volume.b[10]",
                "volume.b[\"x\"]",
                "weird"
            ]
        );
    }
}
