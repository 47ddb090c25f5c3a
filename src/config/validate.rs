//! The rules of SPEC §1 that need no back end, checked on the evaluated configuration.
//!
//! Values that are known only after apply are skipped here; the plan checks them again once
//! they are known. Every rule reports at the attribute's value with a hint.
//!
//! It lives with the configuration because it reads the evaluated one (declarations, instances,
//! references, imports); the per-kind facts it checks against (schemas, QoS keys, limits) come
//! from `model`, below.

use std::collections::HashMap;

use blockform_provider::ProviderRole;

use super::eval::{BlockInstance, Desired, ImportInstance, ResourceInstance};
use super::expr::Reference;
use super::load::suggestion;
use super::value::Value;
use crate::diagnostics::{Diagnostic, Diagnostics, Span};
use crate::model::{
    AttrType, BlockSchema, QOS_CONSUMERS, QOS_KEYS, ResourceKind, SOURCE_KEYS, convert, identity, limits,
    parse_duration, resource_schema, store_schema,
};

/// Checks every rule that needs no back end, reporting all violations.
pub fn validate(desired: &Desired, diagnostics: &mut Diagnostics) {
    let mut found = Diagnostics::default();
    for (name, provider) in &desired.providers {
        if let Some(schema) = crate::registry::provider_schema(&provider.kind) {
            check_block(&format!("provider `{name}`"), provider, &schema, &mut found);
        }
        check_provider(provider, &mut found);
        check_provider_config(name, provider, &desired.base_dir, &mut found);
    }
    for (name, store) in &desired.stores {
        if let Some(schema) = store_schema(&store.kind) {
            check_block(&format!("backup store `{name}`"), store, &schema, &mut found);
        }
    }
    check_import_ids(desired, &mut found);
    let attached = attached_volumes(desired, &mut found);
    let by_address: ByAddress<'_> = desired.resources.iter().map(|r| (r.address.to_string(), r)).collect();
    for instance in &desired.resources {
        let schema = resource_schema(instance.address.kind);
        check_resource_types(instance, &schema, &mut found);
        check_resource_rules(desired, &by_address, instance, &attached, &mut found);
    }
    // Instances of one block share their source text: report each problem there once.
    let mut seen: std::collections::HashSet<(String, Option<Span>)> = std::collections::HashSet::new();
    for d in found {
        if seen.insert((d.summary.clone(), d.span.clone())) {
            diagnostics.push(d);
        }
    }
}

/// Two `import` blocks may not adopt one object: both addresses would own it, and removing
/// either block would delete what the other still manages.
fn check_import_ids(desired: &Desired, diagnostics: &mut Diagnostics) {
    let mut first: HashMap<&str, &ImportInstance> = HashMap::new();
    for import in desired.imports.iter().chain(&desired.undeclared_imports) {
        match first.get(import.id.as_str()) {
            Some(earlier) if earlier.to != import.to => diagnostics.push(
                Diagnostic::error(format!(
                    "`{}` is imported twice: as `{}` and as `{}`",
                    import.id, earlier.to, import.to
                ))
                .at(import.span.clone(), format!("imports it as `{}`", import.to))
                .related(earlier.span.clone(), format!("imports it as `{}`", earlier.to))
                .help("one object has one address: remove one of the two `import` blocks"),
            ),
            Some(_) => {}
            None => {
                first.insert(&import.id, import);
            }
        }
    }
}

fn check_block(what: &str, block: &BlockInstance, schema: &BlockSchema, diagnostics: &mut Diagnostics) {
    for spec in schema.attrs {
        match block.attrs.get(spec.name) {
            None => {
                if spec.required {
                    diagnostics.push(
                        Diagnostic::error(format!("{what} needs `{}`", spec.name))
                            .at(block.span.clone(), format!("`{}` missing", spec.name))
                            .help(format!("add `{} = …` ({})", spec.name, spec.ty.describe())),
                    );
                }
            }
            Some(value) => {
                let value = convert(value.clone(), spec.ty);
                if let Err(message) = check_type(&value, spec.ty) {
                    let span = block
                        .attr_spans
                        .get(spec.name)
                        .cloned()
                        .unwrap_or_else(|| block.span.clone());
                    diagnostics.push(
                        Diagnostic::error(type_error_summary(spec.name, what, spec.ty, &message)).at(span, message),
                    );
                }
            }
        }
    }
}

/// What the provider's own crate finds wrong with the block, at the attribute it is about;
/// attributes the checks above already reported are left out.
fn check_provider_config(name: &str, provider: &BlockInstance, dir: &std::path::Path, diagnostics: &mut Diagnostics) {
    let reported: Vec<Span> = diagnostics.iter().filter_map(|d| d.span.clone()).collect();
    for problem in crate::registry::config_problems(&provider.kind, name, &provider.attrs, dir) {
        let span = problem
            .attribute
            .as_ref()
            .and_then(|a| provider.attr_spans.get(a))
            .cloned()
            .unwrap_or_else(|| provider.span.clone());
        if problem.attribute.is_some() && reported.contains(&span) {
            continue;
        }
        let summary = match &problem.attribute {
            Some(attribute) => format!("`{attribute}` of provider `{name}` is invalid: {}", problem.message),
            None => format!("provider `{name}` is invalid: {}", problem.message),
        };
        diagnostics.push(provider_problem_diagnostic(
            summary,
            span,
            &provider.kind,
            problem.on_this_host,
        ));
    }
}

/// A problem with a provider block, located. One about this machine (a `conf` file that is not
/// here) is only a warning under `validate`, which may run where the cluster's files are not;
/// `plan` reports it as an error.
pub fn provider_problem_diagnostic(summary: String, span: Span, kind: &str, on_this_host: bool) -> Diagnostic {
    if on_this_host {
        Diagnostic::warning(summary)
            .at(span, "not on this machine")
            .help("`plan` and `apply` need the file where they run")
    } else {
        Diagnostic::error(summary)
            .at(span, "invalid")
            .help(format!("see what a `{kind}` provider block takes in the README"))
    }
}

fn check_provider(provider: &BlockInstance, diagnostics: &mut Diagnostics) {
    let span = |key: &str| {
        provider
            .attr_spans
            .get(key)
            .cloned()
            .unwrap_or_else(|| provider.span.clone())
    };
    if let Some(Value::String(check)) = provider.attrs.get("capacity_check")
        && !["off", "warn", "error"].contains(&check.as_str())
    {
        diagnostics.push(
            Diagnostic::error(format!(
                "`capacity_check` must be \"off\", \"warn\" or \"error\", got {check:?}"
            ))
            .at(span("capacity_check"), "unknown setting"),
        );
    }
    if let Some(Value::Number(ratio)) = provider.attrs.get("oversubscription")
        && *ratio <= 0.0
    {
        diagnostics.push(
            Diagnostic::error("`oversubscription` must be greater than zero")
                .at(span("oversubscription"), "not positive")
                .help("1.0 means no more virtual size than free space; 4.0 allows four times as much for thin images"),
        );
    }
    if let Some(port) = provider.attrs.get("port").and_then(Value::as_i64)
        && !(1..=65535).contains(&port)
    {
        diagnostics.push(
            Diagnostic::error(format!("`port` must be from 1 to 65535, got {port}")).at(span("port"), "not a port"),
        );
    }
    for key in ["pool", "volume_group", "thin_pool"] {
        if let Some(Value::String(name)) = provider.attrs.get(key)
            && !valid_backend_name(name)
        {
            diagnostics.push(
                    Diagnostic::error(format!("`{key}` {name:?} is not a valid back-end name"))
                        .at(span(key), "invalid name")
                        .help("back-end names use letters, digits, `.`, `_` and `-`, do not start with `-`, and are at most 128 characters"),
                );
        }
    }
}

/// Whether an unknown value's origin is one computed attribute of one resource (`volume.db.id`,
/// `volume.scratch["a"].id`): what a reference to an object not created yet gives. (A value
/// that failed to evaluate is unknown too, named after its own attribute, which is no computed one.)
fn is_resource_attribute(origin: &str) -> bool {
    let Some((root, rest)) = origin.split_once('.') else {
        return false;
    };
    let Some(kind) = ResourceKind::from_name(root) else {
        return false;
    };
    let Some((_, attribute)) = rest.rsplit_once('.') else {
        return false;
    };
    let schema = resource_schema(kind);
    !rest.contains('*') && schema.computed.contains(&attribute) && schema.attrs.iter().all(|a| a.name != attribute)
}

fn valid_backend_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= limits::NAME_MAX_CHARS
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The largest whole number an integer attribute takes ([`Value::as_i64`]'s limit).
const MAX_WHOLE_NUMBER: &str = "9000000000000000";

/// How the type check's label starts for a whole number beyond [`MAX_WHOLE_NUMBER`].
const TOO_LARGE: &str = "too large";

/// The summary of a type error: "must be …", or "is too large" for a whole number that is.
fn type_error_summary(name: &str, what: &str, ty: AttrType, label: &str) -> String {
    if ty == AttrType::Integer && label.starts_with(TOO_LARGE) {
        format!("`{name}` of {what} is too large")
    } else {
        format!("`{name}` of {what} must be {}", ty.describe())
    }
}

/// Checks a value against an attribute type; the error is the label shown under the value.
fn check_type(value: &Value, ty: AttrType) -> Result<(), String> {
    if let Value::Unknown(origin) = value
        && matches!(
            ty,
            AttrType::StringList
                | AttrType::RefList(_)
                | AttrType::StringMap
                | AttrType::IntegerMap
                | AttrType::Object(_)
        )
        && is_resource_attribute(origin)
    {
        // Known only after apply, but certainly one value: a resource attribute is never a
        // collection (a splat or a `for` would give a list of them).
        return Err(format!("got `{origin}`, a single value"));
    }
    if value.is_unknown() || *value == Value::Null {
        return Ok(());
    }
    let got = || format!("got {}", describe_value(value));
    match ty {
        AttrType::String | AttrType::Ref(_) => match value {
            Value::String(_) => Ok(()),
            Value::Number(_) | Value::Bool(_) if ty == AttrType::String => Ok(()),
            _ => Err(got()),
        },
        AttrType::Integer => match value {
            _ if value.as_i64().is_some() => Ok(()),
            Value::Number(n) if n.fract() == 0.0 || n.is_infinite() => Err(format!(
                "{TOO_LARGE}: whole numbers here are at most {MAX_WHOLE_NUMBER}"
            )),
            _ => Err(got()),
        },
        AttrType::Number => match value {
            Value::Number(_) => Ok(()),
            _ => Err(got()),
        },
        AttrType::Bool => match value {
            Value::Bool(_) => Ok(()),
            _ => Err(got()),
        },
        AttrType::StringList | AttrType::RefList(_) => match value {
            Value::List(items) if items.iter().all(|i| matches!(i, Value::String(_) | Value::Unknown(_))) => Ok(()),
            Value::List(items) => {
                let bad = items
                    .iter()
                    .position(|i| !matches!(i, Value::String(_) | Value::Unknown(_)))
                    .unwrap_or(0);
                Err(format!("element {bad} is {}", describe_value(&items[bad])))
            }
            _ => Err(got()),
        },
        AttrType::StringMap => match value {
            Value::Map(map) => match map
                .iter()
                .find(|(_, v)| !matches!(v, Value::String(_) | Value::Unknown(_)))
            {
                None => Ok(()),
                Some((k, v)) => Err(format!("`{k}` is {}", describe_value(v))),
            },
            _ => Err(got()),
        },
        AttrType::IntegerMap | AttrType::Object(_) => match value {
            Value::Map(_) => Ok(()),
            _ => Err(got()),
        },
        AttrType::Duration => match value {
            Value::String(s) => parse_duration(s).map(|_| ()).map_err(|e| e.to_string()),
            _ => Err(got()),
        },
    }
}

fn describe_value(value: &Value) -> String {
    match value {
        Value::List(_) | Value::Map(_) => format!("a {}", value.type_name()),
        other => format!("{} {other}", article(other.type_name())),
    }
}

fn article(word: &str) -> String {
    format!("a {word}")
}

fn check_resource_types(instance: &ResourceInstance, schema: &BlockSchema, diagnostics: &mut Diagnostics) {
    let what = resource_what(instance);
    for spec in schema.attrs {
        let value = instance.attrs.get(spec.name).unwrap_or(&Value::Null);
        let span = instance.attr_spans.get(spec.name).cloned();
        match span {
            None if spec.required => diagnostics.push(
                Diagnostic::error(format!("{what} needs `{}`", spec.name))
                    .at(instance.span.clone(), format!("`{}` missing", spec.name))
                    .help(format!("add `{} = …` ({})", spec.name, spec.ty.describe())),
            ),
            None => {}
            Some(span) => {
                if let Err(label) = check_type(value, spec.ty) {
                    // In a map written as an object literal, point at the key whose value is wrong.
                    let bad_key = match (spec.ty, value) {
                        (AttrType::StringMap, Value::Map(map)) => map
                            .iter()
                            .find(|(_, v)| !matches!(v, Value::String(_) | Value::Unknown(_)))
                            .map(|(k, _)| k),
                        _ => None,
                    };
                    let span = bad_key
                        .and_then(|k| instance.attr_spans.get(&format!("{}.{k}", spec.name)).cloned())
                        .unwrap_or(span);
                    diagnostics
                        .push(Diagnostic::error(type_error_summary(spec.name, &what, spec.ty, &label)).at(span, label));
                    continue;
                }
                match spec.ty {
                    AttrType::Ref(kind) | AttrType::RefList(kind) => {
                        check_reference_kind(&what, spec.name, spec.ty, kind, instance, &span, diagnostics);
                    }
                    _ => {}
                }
            }
        }
    }
}

fn resource_what(instance: &ResourceInstance) -> String {
    format!("`{}.{}`", instance.address.kind, instance.address.name)
}

/// A reference attribute must refer to an object of the right kind, by reference (not by a
/// literal id, which would hide the dependency from the plan).
fn check_reference_kind(
    what: &str,
    attr: &str,
    ty: AttrType,
    kind: ResourceKind,
    instance: &ResourceInstance,
    span: &Span,
    diagnostics: &mut Diagnostics,
) {
    // An empty list refers to nothing; the rules of the attribute say whether that is allowed.
    if matches!(instance.attrs.get(attr), Some(Value::List(items)) if items.is_empty()) {
        return;
    }
    let refs = instance.attr_refs.get(attr).map(Vec::as_slice).unwrap_or_default();
    let resource_refs: Vec<&Reference> = refs
        .iter()
        .filter(|r| ResourceKind::from_name(&r.root).is_some())
        .collect();
    if resource_refs.iter().any(|r| r.root == kind.name()) {
        return;
    }
    // A value computed only from variables and locals is let through: it may be an id in state.
    if resource_refs.is_empty() && refs.iter().any(|r| matches!(r.root.as_str(), "var" | "local" | "each")) {
        return;
    }
    // A backup outlives its volume: once the volume is gone, the backup names it by the id it
    // was taken from.
    if instance.address.kind == ResourceKind::Backup
        && attr == "volume"
        && refs.is_empty()
        && matches!(instance.attrs.get(attr), Some(Value::String(_)))
    {
        return;
    }
    let (label, found) = match resource_refs.first() {
        Some(other) => (format!("this refers to a {}", other.root), Some(other)),
        None => ("not a reference".to_owned(), None),
    };
    let target_span = found.map_or_else(|| span.clone(), |r| r.span.clone());
    diagnostics.push(
        Diagnostic::error(format!("`{attr}` of {what} must refer to a {kind}"))
            .at(target_span, label)
            .help(if matches!(ty, AttrType::RefList(_)) {
                format!("write `{attr} = [{kind}.NAME.id]`")
            } else {
                format!("write `{attr} = {kind}.NAME.id`")
            }),
    );
}

/// The volumes that attachments attach, keyed by the volume's identity (its id or, before
/// apply, where its id will come from). Reports volumes attached more than once.
fn attached_volumes(desired: &Desired, diagnostics: &mut Diagnostics) -> HashMap<String, Span> {
    let mut attached: HashMap<String, Span> = HashMap::new();
    for attachment in desired
        .resources
        .iter()
        .filter(|r| r.address.kind == ResourceKind::Attachment)
    {
        let Some(identity) = attachment.attrs.get("volume").and_then(identity) else {
            continue;
        };
        let span = attachment
            .attr_spans
            .get("volume")
            .cloned()
            .unwrap_or_else(|| attachment.span.clone());
        if let Some(first) = attached.get(&identity) {
            diagnostics.push(
                Diagnostic::error(format!("{} is attached more than once", volume_name(&identity)))
                    .at(span, format!("second attachment ({})", attachment.address))
                    .related(first.clone(), "first attachment")
                    .help("a volume is attached to at most one instance at a time: detach it first, or clone it"),
            );
        } else {
            attached.insert(identity, span);
        }
    }
    attached
}

fn volume_name(identity: &str) -> String {
    match identity.strip_suffix(".id") {
        Some(address) => format!("`{address}`"),
        None => format!("volume `{identity}`"),
    }
}

/// Instances by address text, to follow references.
type ByAddress<'d> = HashMap<String, &'d ResourceInstance>;

/// The instance an identity refers to (`volume.db.id` → the instance `volume.db`).
fn instance_of<'d>(by_address: &ByAddress<'d>, identity: &str) -> Option<&'d ResourceInstance> {
    by_address.get(identity.strip_suffix(".id")?).copied()
}

fn check_resource_rules(
    desired: &Desired,
    by_address: &ByAddress<'_>,
    instance: &ResourceInstance,
    attached: &HashMap<String, Span>,
    diagnostics: &mut Diagnostics,
) {
    let attrs = &instance.attrs;
    let what = resource_what(instance);
    let span = |key: &str| {
        instance
            .attr_spans
            .get(key)
            .cloned()
            .unwrap_or_else(|| instance.span.clone())
    };
    if let Some(Value::String(name)) = attrs.get("name") {
        let chars = name.chars().count();
        if chars == 0 || chars > limits::NAME_MAX_CHARS {
            diagnostics.push(
                Diagnostic::error(format!(
                    "the name of {what} must be 1 to {} characters long, it has {chars}",
                    limits::NAME_MAX_CHARS
                ))
                .at(span("name"), "name length out of range")
                .help(if chars == 0 {
                    "remove `name` to use the block's label, or give a name"
                } else {
                    "names longer than 128 characters are refused by the back end"
                }),
            );
        }
    }
    match instance.address.kind {
        ResourceKind::Qos => check_qos(instance, diagnostics),
        ResourceKind::VolumeType => {
            if let Some(Value::String(backend)) = attrs.get("backend") {
                match desired.providers.get(backend) {
                    Some(p) if crate::registry::role(&p.kind) == Some(ProviderRole::Hypervisor) => {
                        diagnostics.push(
                            Diagnostic::error(format!(
                                "`backend` of {what} names `{backend}`, a hypervisor, not a storage back end"
                            ))
                            .at(span("backend"), format!("{} provider", p.kind))
                            .help(format!(
                                "name a {} provider block",
                                crate::registry::listed_kinds(ProviderRole::Storage, |kind| format!("`{kind}`"))
                            )),
                        );
                    }
                    Some(_) => {}
                    None => diagnostics.push(
                        Diagnostic::error(format!(
                            "`backend` of {what} names `{backend}`, but no provider block has that name"
                        ))
                        .at(span("backend"), "no such provider")
                        .help(
                            suggestion(backend, desired.providers.keys().map(String::as_str)).unwrap_or_else(|| {
                                format!("declare it: `provider \"local\" \"{backend}\" {{ path = \"…\" }}`")
                            }),
                        ),
                    ),
                }
            }
            check_backend_qos(desired, instance, diagnostics);
        }
        ResourceKind::Volume => check_volume(desired, instance, diagnostics),
        ResourceKind::Attachment => {
            if let Some(Value::String(host)) = attrs.get("host") {
                match desired.providers.get(host) {
                    Some(p) if crate::registry::role(&p.kind) == Some(ProviderRole::Hypervisor) => {}
                    Some(p) => diagnostics.push(
                        Diagnostic::error(format!(
                            "`host` of {what} names `{host}`, a {} provider, not a hypervisor",
                            p.kind
                        ))
                        .at(span("host"), "not a hypervisor")
                        .help(format!(
                            "name a {} block",
                            crate::registry::listed_kinds(ProviderRole::Hypervisor, |kind| format!(
                                "`provider \"{kind}\"`"
                            ))
                        )),
                    ),
                    None => diagnostics.push(
                        Diagnostic::error(format!(
                            "`host` of {what} names `{host}`, but no provider block has that name"
                        ))
                        .at(span("host"), "no such hypervisor")
                        .help(
                            suggestion(host, desired.providers.keys().map(String::as_str)).unwrap_or_else(|| {
                                format!("declare it: `provider \"libvirt\" \"{host}\" {{ uri = \"qemu:///system\" }}`")
                            }),
                        ),
                    ),
                }
            }
            if let Some(Value::String(device)) = attrs.get("device")
                && !valid_device(device)
            {
                diagnostics.push(
                    Diagnostic::error(format!("`device` {device:?} is not a disk device name"))
                        .at(span("device"), "invalid device")
                        .help("use a name like \"vdb\", \"sdc\" or \"xvdb\", without /dev/"),
                );
            }
            if let Some(Value::String(bus)) = attrs.get("bus")
                && !crate::model::kinds::ATTACHMENT_BUSES.contains(&bus.as_str())
            {
                diagnostics.push(
                    Diagnostic::error(format!("`bus` {bus:?} is not a disk bus blockform attaches on"))
                        .at(span("bus"), "unknown bus")
                        .help("use \"virtio\" (the default) or \"scsi\""),
                );
            }
            if let Some(Value::String(name)) = attrs.get("instance")
                && (name.is_empty() || name.chars().count() > limits::NAME_MAX_CHARS)
            {
                diagnostics.push(
                    Diagnostic::error("`instance` must be 1 to 128 characters long")
                        .at(span("instance"), "instance name length out of range"),
                );
            }
        }
        ResourceKind::Snapshot => check_force(instance, "volume", attached, "snapshot", diagnostics),
        ResourceKind::Backup => {
            check_store(desired, instance, diagnostics);
            if let Some(Value::String(mode)) = attrs.get("mode")
                && mode != "full"
                && mode != "incremental"
            {
                diagnostics.push(
                    Diagnostic::error(format!("`mode` must be \"full\" or \"incremental\", got {mode:?}"))
                        .at(span("mode"), "unknown mode")
                        .help(
                            suggestion(mode, ["full", "incremental"])
                                .unwrap_or_else(|| "the modes are full and incremental".into()),
                        ),
                );
            }
            check_force(instance, "volume", attached, "backup", diagnostics);
        }
        ResourceKind::BackupPolicy => {
            check_store(desired, instance, diagnostics);
            if let Some(Value::String(on_destroy)) = attrs.get("on_destroy")
                && on_destroy != "keep"
                && on_destroy != "delete"
            {
                diagnostics.push(
                    Diagnostic::error(format!("`on_destroy` must be \"keep\" or \"delete\", got {on_destroy:?}"))
                        .at(span("on_destroy"), "unknown choice")
                        .help(
                            "\"keep\" (the default) leaves the policy's backups in the store when the policy is destroyed; \"delete\" deletes them with it",
                        ),
                );
            }
            if let Some(keep) = attrs.get("keep").and_then(Value::as_i64)
                && keep < 1
            {
                diagnostics.push(
                    Diagnostic::error(format!("`keep` must be at least 1, got {keep}"))
                        .at(span("keep"), "keeps no backup")
                        .help("`keep` is the number of full backup chains to retain"),
                );
            }
            let duration = |key: &str| {
                attrs
                    .get(key)
                    .and_then(Value::as_str)
                    .and_then(|s| parse_duration(s).ok())
            };
            if let (Some(full), Some(incremental)) = (duration("full_every"), duration("incremental_every"))
                && incremental >= full
            {
                diagnostics.push(
                    Diagnostic::error("`incremental_every` must be shorter than `full_every`")
                        .at(span("incremental_every"), "no incremental would ever be due")
                        .help("for instance full_every = \"7d\" and incremental_every = \"24h\""),
                );
            }
            if let Some(Value::List(volumes)) = attrs.get("volumes") {
                if volumes.is_empty() {
                    diagnostics.push(
                        Diagnostic::error("`volumes` of a backup policy lists no volume")
                            .at(span("volumes"), "empty list")
                            .help("list the volumes to back up, like `volumes = [volume.db.id]`"),
                    );
                }
                let force = attrs.get("force").and_then(Value::as_bool).unwrap_or(false);
                for volume in volumes.iter().filter_map(identity) {
                    if !force && attached.contains_key(&volume) {
                        diagnostics.push(
                            Diagnostic::error(format!(
                                "{} is attached; backing it up needs `force = true`",
                                volume_name(&volume)
                            ))
                            .at(span("volumes"), "attached volume")
                            .related(attached[&volume].clone(), "attached here")
                            .help("add `force = true` to back up a volume in use (the backup is crash-consistent)"),
                        );
                    }
                }
            }
        }
        ResourceKind::Image => {
            if let Some(Value::String(format)) = attrs.get("format")
                && format != "raw"
                && format != "qcow2"
            {
                diagnostics.push(
                    Diagnostic::error(format!("`format` must be \"raw\" or \"qcow2\", got {format:?}"))
                        .at(span("format"), "unsupported format")
                        .help("\"raw\" is recommended"),
                );
            }
            for key in ["min_disk", "min_ram"] {
                if let Some(n) = attrs.get(key).and_then(Value::as_i64)
                    && n < 0
                {
                    diagnostics
                        .push(Diagnostic::error(format!("`{key}` cannot be negative")).at(span(key), "negative"));
                }
            }
            if let Some(volume) = attrs
                .get("volume")
                .and_then(identity)
                .and_then(|id| instance_of(by_address, &id))
                && let Some(size) = volume.attrs.get("size").and_then(Value::as_i64)
                && size > limits::IMAGE_MAX_GIB
            {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "`{}` is {size} GiB; volumes larger than {} GiB cannot be turned into images",
                        volume.address,
                        limits::IMAGE_MAX_GIB
                    ))
                    .at(span("volume"), "volume too large")
                    .related(
                        volume
                            .attr_spans
                            .get("size")
                            .cloned()
                            .unwrap_or_else(|| volume.span.clone()),
                        "size set here",
                    )
                    .help("make the image from a smaller volume, or back the volume up instead"),
                );
            }
            check_force(instance, "volume", attached, "image", diagnostics);
        }
    }
}

fn valid_device(device: &str) -> bool {
    let letters = ["vd", "sd", "hd", "xvd"]
        .iter()
        .find_map(|prefix| device.strip_prefix(prefix));
    letters.is_some_and(|rest| (1..=2).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_lowercase()))
}

fn check_store(desired: &Desired, instance: &ResourceInstance, diagnostics: &mut Diagnostics) {
    let Some(Value::String(store)) = instance.attrs.get("store") else {
        return;
    };
    if desired.stores.contains_key(store) {
        return;
    }
    let span = instance
        .attr_spans
        .get("store")
        .cloned()
        .unwrap_or_else(|| instance.span.clone());
    diagnostics.push(
        Diagnostic::error(format!(
            "`store` of {} names `{store}`, but no backup_store block has that name",
            resource_what(instance)
        ))
        .at(span, "no such backup store")
        .help(
            suggestion(store, desired.stores.keys().map(String::as_str))
                .unwrap_or_else(|| format!("declare it: `backup_store \"dir\" \"{store}\" {{ path = \"…\" }}`")),
        ),
    );
}

fn check_force(
    instance: &ResourceInstance,
    attr: &str,
    attached: &HashMap<String, Span>,
    action: &str,
    diagnostics: &mut Diagnostics,
) {
    let force = instance.attrs.get("force").and_then(Value::as_bool).unwrap_or(false);
    let Some(volume) = instance.attrs.get(attr).and_then(identity) else {
        return;
    };
    let Some(attachment) = attached.get(&volume) else {
        return;
    };
    let span = instance
        .attr_spans
        .get(attr)
        .cloned()
        .unwrap_or_else(|| instance.span.clone());
    if force {
        if action == "image" {
            diagnostics.push(
                Diagnostic::warning(format!(
                    "{} is attached: the image will not capture the running instance's memory",
                    volume_name(&volume)
                ))
                .at(span, "attached volume"),
            );
        }
        return;
    }
    let (verb, note) = match action {
        "snapshot" => ("snapshotting", "I/O slows down while the snapshot is taken"),
        "backup" => ("backing it up", "the backup is crash-consistent"),
        _ => ("making an image of it", "the running instance's memory is not captured"),
    };
    diagnostics.push(
        Diagnostic::error(format!(
            "{} is attached; {verb} needs `force = true`",
            volume_name(&volume)
        ))
        .at(span, "attached volume")
        .related(attachment.clone(), "attached here")
        .help(format!("add `force = true` ({note}), or detach the volume first")),
    );
}

fn check_qos(instance: &ResourceInstance, diagnostics: &mut Diagnostics) {
    let span = instance
        .attr_spans
        .get("specs")
        .cloned()
        .unwrap_or_else(|| instance.span.clone());
    if let Some(Value::String(consumer)) = instance.attrs.get("consumer")
        && !QOS_CONSUMERS.contains(&consumer.as_str())
    {
        diagnostics.push(
            Diagnostic::error(format!(
                "`consumer` must be \"back-end\", \"front-end\" or \"both\", got {consumer:?}"
            ))
            .at(
                instance
                    .attr_spans
                    .get("consumer")
                    .cloned()
                    .unwrap_or_else(|| instance.span.clone()),
                "unknown consumer",
            )
            .help(
                suggestion(consumer, QOS_CONSUMERS.iter().copied()).unwrap_or_else(|| {
                    "back-end limits are set in the storage, front-end ones by the hypervisor".into()
                }),
            ),
        );
    }
    let Some(Value::Map(specs)) = instance.attrs.get("specs") else {
        return;
    };
    if specs.is_empty() {
        diagnostics.push(
            Diagnostic::error("`specs` of a QoS rule sets no limit")
                .at(span.clone(), "empty")
                .help("set at least one limit, like `total_iops_sec = 1000`"),
        );
    }
    for (key, value) in specs {
        let key_span = instance
            .attr_spans
            .get(&format!("specs.{key}"))
            .cloned()
            .unwrap_or_else(|| span.clone());
        if !QOS_KEYS.contains(&key.as_str()) {
            diagnostics.push(
                Diagnostic::error(format!("unknown QoS key `{key}`"))
                    .at(key_span, "unknown key")
                    .help(
                        suggestion(key, QOS_KEYS.iter().copied())
                            .unwrap_or_else(|| format!("the keys are {}", QOS_KEYS.join(", "))),
                    ),
            );
            continue;
        }
        match value {
            Value::Unknown(_) => {}
            v => match v.as_i64() {
                Some(n) if n > 0 => {}
                _ => diagnostics.push(
                    Diagnostic::error(format!("QoS limit `{key}` must be a positive whole number, got {v}"))
                        .at(key_span, "not a positive whole number"),
                ),
            },
        }
    }
    for unit in ["bytes_sec", "iops_sec", "bytes_sec_max", "iops_sec_max"] {
        let total = format!("total_{unit}");
        if !specs.contains_key(&total) {
            continue;
        }
        for side in ["read", "write"] {
            let other = format!("{side}_{unit}");
            if specs.contains_key(&other) {
                let at = |key: &str| {
                    instance
                        .attr_spans
                        .get(&format!("specs.{key}"))
                        .cloned()
                        .unwrap_or_else(|| span.clone())
                };
                diagnostics.push(
                    Diagnostic::error(format!("QoS keys `{total}` and `{other}` cannot be combined"))
                        .at(at(&other), format!("conflicts with `{total}`"))
                        .related(at(&total), "set here")
                        .help(format!("set either `{total}` or `read_{unit}`/`write_{unit}`")),
                );
            }
        }
    }
}

/// The back-end limits of a type's QoS rule must be ones its back end enforces, as the
/// provider's crate declares them (RBD has no per-GiB limit): otherwise apply would fail
/// only after the volume is created. Reported at the key in the rule's `specs`.
fn check_backend_qos(desired: &Desired, instance: &ResourceInstance, diagnostics: &mut Diagnostics) {
    let Some(Value::String(backend)) = instance.attrs.get("backend") else {
        return;
    };
    let Some(provider) = desired.providers.get(backend) else {
        return;
    };
    let Some(support) = crate::registry::backend_qos_support(&provider.kind) else {
        return;
    };
    let what = resource_what(instance);
    let qos_span = instance
        .attr_spans
        .get("qos")
        .cloned()
        .unwrap_or_else(|| instance.span.clone());
    let refs = instance.attr_refs.get("qos").map(Vec::as_slice).unwrap_or_default();
    let rules = refs
        .iter()
        .filter(|reference| reference.root == ResourceKind::Qos.name())
        .filter_map(|reference| reference.name.as_deref())
        .flat_map(|name| {
            desired
                .resources
                .iter()
                .filter(move |rule| rule.address.kind == ResourceKind::Qos && rule.address.name == name)
        });
    for rule in rules {
        if rule.attrs.get("consumer").and_then(Value::as_str) == Some("front-end") {
            continue;
        }
        let Some(Value::Map(specs)) = rule.attrs.get("specs") else {
            continue;
        };
        let specs_span = rule
            .attr_spans
            .get("specs")
            .cloned()
            .unwrap_or_else(|| rule.span.clone());
        // Unknown keys are reported by the rule's own check.
        for key in specs.keys().filter(|key| QOS_KEYS.contains(&key.as_str())) {
            let Some(reason) = support.refusal_of(key) else {
                continue;
            };
            let key_span = rule
                .attr_spans
                .get(&format!("specs.{key}"))
                .cloned()
                .unwrap_or_else(|| specs_span.clone());
            diagnostics.push(
                Diagnostic::error(format!(
                    "QoS key `{key}` of {} cannot be enforced by the {} provider `{backend}` that {what} uses",
                    resource_what(rule),
                    provider.kind
                ))
                .at(key_span, format!("{} cannot enforce `{key}`", provider.kind))
                .related(qos_span.clone(), format!("{what} applies this rule on `{backend}`"))
                .help(format!(
                    "{reason}; the back-end keys a {} provider enforces are {}",
                    provider.kind,
                    support.keys.join(", ")
                )),
            );
        }
    }
}

fn check_volume(desired: &Desired, instance: &ResourceInstance, diagnostics: &mut Diagnostics) {
    let what = resource_what(instance);
    let span = |key: &str| {
        instance
            .attr_spans
            .get(key)
            .cloned()
            .unwrap_or_else(|| instance.span.clone())
    };
    let size = instance.attrs.get("size").and_then(Value::as_i64);
    if let Some(size) = size
        && !(limits::SIZE_MIN_GIB..=limits::SIZE_MAX_GIB).contains(&size)
    {
        diagnostics.push(
            Diagnostic::error(format!(
                "the size of {what} must be from {} to {} GiB, got {size}",
                limits::SIZE_MIN_GIB,
                limits::SIZE_MAX_GIB
            ))
            .at(span("size"), "size out of range")
            .help("sizes are whole GiB"),
        );
    }
    let Some(Value::Map(source)) = instance.attrs.get("source") else {
        return;
    };
    for key in source.keys() {
        if !SOURCE_KEYS.contains(&key.as_str()) {
            diagnostics.push(
                Diagnostic::error(format!("unknown source kind `{key}`"))
                    .at(span(&format!("source.{key}")), "unknown key")
                    .help(
                        suggestion(key, SOURCE_KEYS.iter().copied())
                            .unwrap_or_else(|| format!("a source is one of {}", SOURCE_KEYS.join(", "))),
                    ),
            );
        }
    }
    let given: Vec<&String> = source.keys().filter(|k| SOURCE_KEYS.contains(&k.as_str())).collect();
    if given.len() > 1 {
        diagnostics.push(
            Diagnostic::error(format!("{what} has {} sources; a volume has at most one", given.len()))
                .at(
                    span("source"),
                    format!(
                        "{} given",
                        given.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" and ")
                    ),
                )
                .help("keep one of snapshot, backup, image or volume"),
        );
        return;
    }
    let Some(key) = given.first() else { return };
    let value = &source[key.as_str()];
    let refs = instance.attr_refs.get("source").map(Vec::as_slice).unwrap_or_default();
    let expected = match key.as_str() {
        "snapshot" => Some(ResourceKind::Snapshot),
        "backup" => Some(ResourceKind::Backup),
        "volume" => Some(ResourceKind::Volume),
        _ => None,
    };
    if let Some(kind) = expected {
        let resource_refs: Vec<&Reference> = refs
            .iter()
            .filter(|r| ResourceKind::from_name(&r.root).is_some())
            .collect();
        let by_variable =
            resource_refs.is_empty() && refs.iter().any(|r| matches!(r.root.as_str(), "var" | "local" | "each"));
        // A backup in a store, by its id (`blockform backup list`): it may have outlived its
        // volume and its `backup` resource; the plan checks that a store holds it.
        let stored_backup = key.as_str() == "backup" && refs.is_empty() && matches!(value, Value::String(_));
        if !by_variable && !stored_backup && !resource_refs.iter().any(|r| r.root == kind.name()) {
            diagnostics.push(
                Diagnostic::error(format!("`source.{key}` of {what} must refer to a {kind}"))
                    .at(
                        resource_refs.first().map_or_else(|| span("source"), |r| r.span.clone()),
                        "wrong reference",
                    )
                    .help(format!("write `source = {{ {key} = {kind}.NAME.id }}`")),
            );
            return;
        }
    }
    // The size rule (a volume made from a snapshot, backup or volume is at least as large as
    // its source) depends on the source as it is when the volume is made, which state knows:
    // the plan checks it, for creates only (src/plan/diff.rs).
    if key.as_str() == "image" {
        match value {
            Value::String(path) => {
                let full = desired_dir_path(desired, path);
                let problem = match std::fs::metadata(&full) {
                    Ok(metadata) if metadata.is_file() => None,
                    Ok(_) => Some((
                        format!("image `{path}` is not a regular file"),
                        "not a file",
                        "an image is a file (raw or qcow2), not a directory, device or FIFO",
                    )),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some((
                        format!("image file `{path}` does not exist"),
                        "no such file",
                        "paths are relative to the configuration directory",
                    )),
                    Err(e) => Some((
                        format!("image file `{path}` cannot be read: {e}"),
                        "unreadable",
                        "check the file's permissions",
                    )),
                };
                if let Some((summary, label, help)) = problem {
                    diagnostics.push(Diagnostic::error(summary).at(span("source"), label).help(help));
                }
            }
            Value::Unknown(_) => {}
            other => diagnostics.push(
                Diagnostic::error(format!(
                    "`source.image` must be the path of an image file, got {}",
                    describe_value(other)
                ))
                .at(span("source"), "not a path"),
            ),
        }
    }
}

fn desired_dir_path(desired: &Desired, path: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(path);
    if path.is_absolute() {
        return path.to_path_buf();
    }
    desired.base_dir.join(path)
}
