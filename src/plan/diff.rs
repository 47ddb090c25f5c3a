//! The diff: desired configuration × prior state × observed reality → [`Plan`].
//!
//! Pure: no I/O. Refresh results come in as [`Observed`] values; the storage rules of SPEC §4
//! (shrink, bootable while attached, type changes across back ends, `prevent_destroy`, …) are
//! reported as diagnostics at the attribute that causes them.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use rustc_hash::{FxHashMap, FxHashSet};

use super::model::{Action, Change, Drift, OutputChange, Plan, PlanMode, Reason, StorageAction};
use crate::config::eval::{Desired, ResourceInstance};
use crate::config::value::{Value, ValueMap};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::model::kinds::{ProviderRoute, QosSpec, SourceKind, VolumeHold, VolumeSpec};
use crate::model::{Address, InstanceKey, ResourceKind, ResourceSpec, UNMANAGED_SNAPSHOTS, identity};
use crate::state::{OutputState, ResourceState};

/// What a refresh found for one object in state.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// The object exists with these attributes (only those the provider can read).
    Exists(ValueMap),
    /// The object is gone.
    Missing,
}

/// How to plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Normal, destroy or refresh-only.
    pub mode: PlanMode,
    /// `--target`: only these addresses (and what they depend on).
    pub targets: Vec<Address>,
    /// `--replace`: replace these even if nothing changed.
    pub replace: Vec<Address>,
}

/// Everything the diff looks at.
pub struct PlanInputs<'a> {
    /// The evaluated configuration (with ids of existing objects filled in from state).
    pub desired: &'a Desired,
    /// Resources in state.
    pub prior: &'a [ResourceState],
    /// Outputs in state.
    pub prior_outputs: &'a std::collections::BTreeMap<String, OutputState>,
    /// Refresh results by address (absent: not refreshed).
    pub observed: &'a HashMap<String, Observed>,
    /// State lineage and serial the plan is made against.
    pub lineage: String,
    /// See `lineage`.
    pub serial: u64,
}

/// Builds the plan. Errors (storage rules, `prevent_destroy`) are reported into `diagnostics`;
/// the plan is still returned so callers can show what was planned.
pub fn diff(inputs: &PlanInputs<'_>, options: &PlanOptions, diagnostics: &mut Diagnostics) -> Plan {
    let desired = inputs.desired;
    let mut plan = Plan {
        mode: options.mode,
        lineage: inputs.lineage.clone(),
        serial: inputs.serial,
        variables: desired.variables.clone(),
        targets: options.targets.iter().map(ToString::to_string).collect(),
        ..Plan::default()
    };
    // Maps keyed by address or id text hash with FxHash: these lookups run per resource, and
    // SipHash's resistance to crafted keys buys nothing against one's own state.
    let prior_by_address: FxHashMap<&str, &ResourceState> =
        inputs.prior.iter().map(|r| (r.address.as_str(), r)).collect();
    let by_id: FxHashMap<&str, &ResourceState> = inputs.prior.iter().map(|r| (r.backend_id.as_str(), r)).collect();
    let context = Context::new(desired, inputs.prior, &by_id);

    // Drift: state compared with what the refresh saw.
    let mut current: FxHashMap<&str, Option<ValueMap>> = FxHashMap::default();
    current.reserve(inputs.prior.len());
    for (resource, before) in inputs.prior.iter().zip(prior_values(inputs.prior)) {
        match inputs.observed.get(&resource.address) {
            Some(Observed::Missing) => {
                if let Some(address) = Address::parse(&resource.address) {
                    plan.drift.push(Drift {
                        address,
                        before,
                        after: None,
                    });
                }
                current.insert(resource.address.as_str(), None);
            }
            Some(Observed::Exists(seen)) => {
                let mut after = before.clone();
                for (k, v) in seen {
                    // A null for an attribute state never had (no unmanaged snapshots) adds nothing.
                    if matches!(v, Value::Null) && !before.contains_key(k) {
                        continue;
                    }
                    after.insert(k.clone(), v.clone());
                }
                if after != before
                    && let Some(address) = Address::parse(&resource.address)
                {
                    plan.drift.push(Drift {
                        address,
                        before,
                        after: Some(after.clone()),
                    });
                }
                current.insert(resource.address.as_str(), Some(after));
            }
            None => {
                current.insert(resource.address.as_str(), Some(before));
            }
        }
    }

    if options.mode == PlanMode::RefreshOnly {
        plan.outputs = output_changes(desired, inputs.prior_outputs);
        return plan;
    }

    plan.changes
        .reserve_exact(desired.resources.len().max(inputs.prior.len()));
    // What each change found wrong, kept apart so that targeting reports only the problems of
    // what it plans.
    let mut per_change: Vec<Diagnostics> = Vec::new();
    if options.mode == PlanMode::Normal {
        // The ids of objects this plan replaces, by resource block: a reference to one of them
        // is known only after apply (the replacement gets a new id), so what refers to it
        // changes too. Instances come dependencies first, so a replacement is known before
        // anything that refers to it is planned.
        let mut replaced: FxHashMap<(ResourceKind, &str), Vec<String>> = FxHashMap::default();
        let found_before: Vec<(Option<&ResourceState>, Option<ValueMap>)> = desired
            .resources
            .iter()
            .map(|instance| {
                let prior = prior_by_address.get(instance.address.to_string().as_str()).copied();
                (prior, prior.and_then(|p| current.remove(p.address.as_str()).flatten()))
            })
            .collect();
        // Every instance is planned against the ids as they are, in parallel (each on its own);
        // then, in order, the few that refer to an object replaced before them are planned
        // again with those ids unknown.
        let first = map_in_parallel(
            desired.resources.iter().zip(found_before).collect(),
            |(instance, (prior, before))| {
                let mut found = Diagnostics::default();
                let change = plan_instance(instance, prior, before, options, &context, &mut found);
                (prior, change, found)
            },
        );
        for (instance, (prior, mut change, mut found)) in desired.resources.iter().zip(first) {
            if !replaced.is_empty()
                && let Some(rewritten) = with_replaced_ids_unknown(instance, &replaced)
            {
                found = Diagnostics::default();
                change = plan_instance(&rewritten, prior, change.before.take(), options, &context, &mut found);
            }
            per_change.push(found);
            // A replacement, or an object deleted outside blockform that is made again: either
            // way it gets a new id, and what refers to the old one must wait for the new one.
            if change.action.creates()
                && let Some(prior) = prior
            {
                replaced
                    .entry((instance.address.kind, instance.address.name.as_str()))
                    .or_default()
                    .push(prior.backend_id.clone());
            }
            if change.is_noop() && change.before.is_some() {
                // Nothing changes: one copy of the values is enough (10,000 volumes hold tens
                // of MB of them).
                change.after = None;
            }
            plan.changes.push(change);
        }
    }
    // Objects in state that the configuration no longer has (or all of them, for destroy).
    let blocks: FxHashMap<(ResourceKind, &str), &ResourceInstance> = desired
        .resources
        .iter()
        .map(|r| ((r.address.kind, r.address.name.as_str()), r))
        .collect();
    let mut deletes: Vec<Change> = Vec::new();
    for resource in inputs.prior {
        if options.mode == PlanMode::Normal && context.by_address.contains_key(&resource.address) {
            continue;
        }
        let Some(address) = Address::parse(&resource.address) else {
            continue;
        };
        let Some(before) = current.remove(resource.address.as_str()).flatten() else {
            // Gone already: nothing to delete; the refresh drops it from state.
            continue;
        };
        let reason = if options.mode == PlanMode::Destroy {
            Reason::DeleteBecauseDestroyMode
        } else {
            let same_block = blocks.get(&(address.kind, address.name.as_str())).copied();
            match (same_block.map(|r| &r.address.key), &address.key) {
                (Some(InstanceKey::Index(_)), _) | (_, InstanceKey::Index(_)) if same_block.is_some() => {
                    Reason::DeleteBecauseCountIndex
                }
                (Some(InstanceKey::Key(_)), _) | (_, InstanceKey::Key(_)) if same_block.is_some() => {
                    Reason::DeleteBecauseEachKey
                }
                _ => Reason::DeleteBecauseNoResourceConfig,
            }
        };
        let mut found = Diagnostics::default();
        if let Some(instance) = context.by_address.get(&resource.address)
            && instance.lifecycle.prevent_destroy
        {
            found.push(prevent_destroy_error(instance, "destroy"));
        }
        per_change.push(found);
        deletes.push(Change {
            data_loss: address.kind.holds_data(),
            storage: address.kind.handler().storage_on_delete().map(StorageAction::from),
            notes: Vec::new(),
            provider: resource.provider.clone(),
            backend_id: Some(resource.backend_id.clone()),
            depends_on: resource.dependencies.iter().filter_map(|d| Address::parse(d)).collect(),
            replacement_id: None,
            prior_provider: None,
            address,
            action: Action::Delete,
            reason: Some(reason),
            before: Some(before),
            after: None,
            replace_paths: Vec::new(),
        });
    }
    plan.changes.extend(deletes);
    note_flattened_clones(&mut plan, inputs.prior, desired);

    let kept = (!options.targets.is_empty()).then(|| apply_targets(&mut plan, &options.targets));
    for (i, found) in per_change.into_iter().enumerate() {
        if kept.as_ref().is_none_or(|kept| kept.contains(&i)) {
            diagnostics.extend(found);
        }
    }
    check_unmanaged_snapshots(&mut plan, &context, diagnostics);
    check_types_in_use(&plan, &context, diagnostics);
    plan.outputs = if options.mode == PlanMode::Destroy {
        inputs
            .prior_outputs
            .iter()
            .map(|(name, o)| OutputChange {
                name: name.clone(),
                before: Some(Value::from_json(&o.value)),
                after: None,
                sensitive: o.sensitive,
            })
            .collect()
    } else {
        output_changes(desired, inputs.prior_outputs)
    };
    plan
}

/// Every state record's attributes as values, in the records' order.
fn prior_values(prior: &[ResourceState]) -> Vec<ValueMap> {
    map_in_parallel(prior.iter().collect(), state_attributes)
}

/// `f` over `items`, in their order, on every core for a long list (a plan of thousands of
/// resources); on this thread for a short one, where starting threads costs more than it saves.
fn map_in_parallel<T: Send, R: Send>(mut items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    const AT_LEAST_PER_THREAD: usize = 1_000;
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(items.len() / AT_LEAST_PER_THREAD);
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let per_thread = items.len().div_ceil(threads);
    let mut chunks = Vec::with_capacity(threads);
    while items.len() > per_thread {
        chunks.push(items.split_off(items.len() - per_thread));
    }
    chunks.push(items);
    chunks.reverse();
    let f = &f;
    std::thread::scope(|scope| {
        let running: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        running
            .into_iter()
            .flat_map(|thread| thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

/// The attributes of a state record as values.
pub fn state_attributes(resource: &ResourceState) -> ValueMap {
    resource
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), Value::from_json(v)))
        .collect()
}

/// A copy of `instance` in which every value holding the id of an object being replaced is
/// unknown, when it refers to one; `None` when it refers to none.
fn with_replaced_ids_unknown(
    instance: &ResourceInstance,
    replaced: &FxHashMap<(ResourceKind, &str), Vec<String>>,
) -> Option<ResourceInstance> {
    let mut ids: Vec<(&String, String)> = Vec::new();
    for reference in instance.attr_refs.values().flatten() {
        let (Some(kind), Some(name)) = (ResourceKind::from_name(&reference.root), reference.name.as_deref()) else {
            continue;
        };
        if let Some(old) = replaced.get(&(kind, name)) {
            ids.extend(old.iter().map(|id| (id, format!("{kind}.{name}.id"))));
        }
    }
    if ids.is_empty() {
        return None;
    }
    let mut rewritten = instance.clone();
    let mut changed = false;
    for value in rewritten.attrs.values_mut() {
        changed |= unknown_where_id(value, &ids);
    }
    changed.then_some(rewritten)
}

/// Makes unknown every string in `value` that holds one of `ids`; returns whether it did.
fn unknown_where_id(value: &mut Value, ids: &[(&String, String)]) -> bool {
    match value {
        Value::String(text) => {
            if let Some((_, origin)) = ids.iter().find(|(id, _)| text.contains(id.as_str())) {
                *value = Value::Unknown(origin.clone());
                true
            } else {
                false
            }
        }
        Value::List(items) => items.iter_mut().fold(false, |acc, v| unknown_where_id(v, ids) | acc),
        Value::Map(map) => map.values_mut().fold(false, |acc, v| unknown_where_id(v, ids) | acc),
        _ => false,
    }
}

/// Lookups the diff needs across resources.
struct Context<'a> {
    desired: &'a Desired,
    by_id: &'a FxHashMap<&'a str, &'a ResourceState>,
    /// Volumes (by identity: id or unknown origin) that an attachment attaches, in config or state.
    attached: FxHashSet<String>,
    /// Desired instances by address text.
    /// (Also what tells whether the configuration has an address.)
    by_address: FxHashMap<String, &'a ResourceInstance>,
}

impl<'a> Context<'a> {
    fn new(
        desired: &'a Desired,
        prior: &'a [ResourceState],
        by_id: &'a FxHashMap<&'a str, &'a ResourceState>,
    ) -> Context<'a> {
        let mut attached = FxHashSet::default();
        for r in desired
            .resources
            .iter()
            .filter(|r| r.address.kind.handler().volume_hold() == Some(VolumeHold::Attached))
        {
            if let Some(id) = r.attrs.get("volume").and_then(identity) {
                attached.insert(id);
            }
        }
        for r in prior.iter().filter(|r| r.address.starts_with("attachment.")) {
            if let Some(serde_json::Value::String(id)) = r.attributes.get("volume") {
                attached.insert(id.clone());
            }
        }
        let by_address = desired.resources.iter().map(|r| (r.address.to_string(), r)).collect();
        Context {
            desired,
            by_id,
            attached,
            by_address,
        }
    }

    /// The desired instance a reference value points at (an unknown origin or a known id).
    fn referenced(&self, value: &Value) -> Option<&'a ResourceInstance> {
        match value {
            Value::Unknown(origin) => self.by_address.get(origin.strip_suffix(".id")?).copied(),
            Value::String(id) => {
                let state = self.by_id.get(id.as_str())?;
                self.by_address.get(&state.address).copied()
            }
            _ => None,
        }
    }

    /// The provider block name that carries a resource: a volume through its type's backend,
    /// a snapshot or image through its volume, a backup through its store.
    fn provider_of(&self, instance: &ResourceInstance) -> Option<String> {
        self.provider_through(instance.address.kind, &spec_of(instance))
    }

    /// The provider block name of an object of `kind` with this spec, following its kind's
    /// provider route.
    fn provider_through(&self, kind: ResourceKind, spec: &ResourceSpec<'_>) -> Option<String> {
        let value = spec.provider_value()?;
        match kind.handler().provider_route() {
            ProviderRoute::None => None,
            ProviderRoute::Named => value.as_str().map(str::to_owned),
            ProviderRoute::Through => self.referenced(value).and_then(|r| self.provider_of(r)),
        }
    }

    /// The back-end limits a volume with these values gets from its type's QoS rule, as the
    /// configuration has them: the rule's specs, none for a front-end rule or a type without
    /// one; `None` when the type or rule is not known yet.
    fn backend_limits(&self, volume: &VolumeSpec<'_>) -> Option<Value> {
        self.type_limits(volume, false)
    }

    /// The front-end limits an attachment's disk should have, as the configuration has them:
    /// the specs of its volume's type's rule when the rule is enforced by the hypervisor, none
    /// otherwise; `None` when the volume, type or rule is not known yet.
    fn front_end_limits(&self, attachment: &ValueMap) -> Option<Value> {
        let ResourceSpec::Volume(volume) = spec_of(self.referenced(attachment.get("volume")?)?) else {
            return None;
        };
        self.type_limits(&volume, true)
    }

    /// The specs of a volume's type's QoS rule when the rule is enforced at the front end (or,
    /// with `front_end` false, in the back end), none (an empty map) when it is not or the type
    /// has no rule; `None` when the type or rule is not known yet.
    fn type_limits(&self, volume: &VolumeSpec<'_>, front_end: bool) -> Option<Value> {
        let ResourceSpec::VolumeType(volume_type) = spec_of(self.referenced(volume.volume_type?)?) else {
            return None;
        };
        let Some(rule) = volume_type.qos else {
            return Some(Value::Map(ValueMap::default()));
        };
        let ResourceSpec::Qos(rule) = spec_of(self.referenced(rule)?) else {
            return None;
        };
        let enforced = if front_end {
            rule.at_front_end()
        } else {
            rule.in_back_end()
        };
        if !enforced {
            return Some(Value::Map(ValueMap::default()));
        }
        let specs = rule.specs?;
        (!specs.contains_unknown()).then(|| specs.clone())
    }

    fn is_attached(&self, instance: &ResourceInstance, before: Option<&ValueMap>) -> bool {
        let mut ids = vec![format!("{}.id", instance.address)];
        if let Some(Value::String(id)) = before.and_then(|b| b.get("id")) {
            ids.push(id.clone());
        }
        ids.iter().any(|id| self.attached.contains(id))
    }
}

/// Whether a volume's recorded source and its configured one name the same object: the same
/// kind of source, and the same resource (by block), even if that resource's id changed. The
/// recorded id's resource comes from state, or, when state no longer has that id (the source
/// was made again), from the volume's recorded dependencies.
fn same_source(old: &Value, new: &Value, prior: &ResourceState, context: &Context<'_>) -> bool {
    let (Some(old), Some(new)) = (old.as_map(), new.as_map()) else {
        return false;
    };
    if old.len() != 1 || new.len() != 1 {
        return false;
    }
    let (Some((old_key, old_value)), Some((new_key, new_value))) = (old.iter().next(), new.iter().next()) else {
        return false;
    };
    old_key == new_key
        && matches!(old_key.as_str(), "snapshot" | "volume" | "backup")
        && same_object(old_value, new_value, prior, context)
}

/// Whether a recorded id and a configured reference name the same resource (by block), even if
/// that resource's id changed: the recorded id's resource comes from state, or, when state no
/// longer has that id, from the recorded dependencies of the object that holds the reference.
fn same_object(old: &Value, new: &Value, prior: &ResourceState, context: &Context<'_>) -> bool {
    let block_of = |address: &str| Address::parse(address).map(|a| (a.kind, a.name));
    let new_block = match new {
        Value::Unknown(origin) => origin.strip_suffix(".id").and_then(block_of),
        Value::String(id) => context.by_id.get(id.as_str()).and_then(|r| block_of(&r.address)),
        _ => None,
    };
    let Some(new_block) = new_block else {
        return false;
    };
    match old {
        Value::String(id) => match context.by_id.get(id.as_str()) {
            Some(record) => block_of(&record.address) == Some(new_block),
            None => prior
                .dependencies
                .iter()
                .filter_map(|d| block_of(d))
                .any(|block| block == new_block),
        },
        _ => false,
    }
}

/// A new deterministic back-end name for an object of this kind (`volume-<uuid>`).
pub fn new_backend_id(kind: ResourceKind) -> String {
    format!("{}-{}", kind.handler().backend_prefix(), uuid::Uuid::new_v4())
}

/// An evaluated resource read as its kind's typed spec.
fn spec_of(instance: &ResourceInstance) -> ResourceSpec<'_> {
    ResourceSpec::of(instance.address.kind, &instance.attrs)
}

fn plan_instance(
    instance: &ResourceInstance,
    prior: Option<&ResourceState>,
    before: Option<ValueMap>,
    options: &PlanOptions,
    context: &Context<'_>,
    diagnostics: &mut Diagnostics,
) -> Change {
    let kind = instance.address.kind;
    let handler = kind.handler();
    let spec = spec_of(instance);
    let provider = context
        .provider_through(kind, &spec)
        .or_else(|| prior.and_then(|p| p.provider.clone()));
    let depends_on: Vec<Address> = instance
        .depends_on
        .iter()
        .map(|(k, n)| Address::new(*k, n.clone()))
        .collect();
    let mut change = Change {
        address: instance.address.clone(),
        action: Action::NoOp,
        storage: None,
        reason: None,
        before: None,
        after: None,
        replace_paths: Vec::new(),
        data_loss: false,
        notes: Vec::new(),
        provider,
        backend_id: None,
        depends_on,
        replacement_id: None,
        prior_provider: None,
    };
    let schema = handler.schema();
    let Some(before) = before else {
        // New (or gone outside blockform and created again).
        change.action = Action::Create;
        if prior.is_some() {
            change.reason = Some(Reason::CreateBecauseMissing);
        }
        change.backend_id = Some(new_backend_id(kind));
        let mut after = instance.attrs.clone();
        for computed in schema.computed {
            // A computed attribute that is also configured (an attachment's `device`) keeps
            // its configured value.
            if configured_computed(&schema, computed, &after) {
                continue;
            }
            after.insert(
                (*computed).to_owned(),
                Value::Unknown(format!("{}.{computed}", instance.address)),
            );
        }
        change.after = Some(after);
        change.storage = handler.storage_on_create(&instance.attrs).map(StorageAction::from);
        if let ResourceSpec::Volume(volume) = &spec {
            check_source_size(instance, volume, context, diagnostics);
            check_source_backend(instance, volume, change.provider.as_deref(), context, diagnostics);
        }
        return change;
    };
    let prior = prior.expect("a before value comes from a prior record");
    change.backend_id = Some(prior.backend_id.clone());
    let replace_requested = options.replace.iter().any(|r| r == &instance.address);
    if !replace_requested && unchanged(instance, prior, &before, &spec, context) {
        // Most instances of a large configuration: compared without a copy of their values.
        change.before = Some(before);
        return change;
    }

    // The desired attributes, with what lifecycle.ignore_changes keeps and computed ones from state.
    let mut after = instance.attrs.clone();
    for name in &instance.lifecycle.ignore_changes {
        if let Some(old) = before.get(name) {
            after.insert(name.clone(), old.clone());
        }
    }
    for computed in schema.computed {
        if let Some(old) = before.get(*computed)
            && after
                .get(*computed)
                .is_none_or(|v| matches!(v, Value::Null | Value::Unknown(_)))
        {
            after.insert((*computed).to_owned(), old.clone());
        }
    }
    // A volume's source matters only when it is made (the volume is independent of it): a new
    // id of the same source (re-created, or replaced in this plan) changes nothing.
    if matches!(spec, ResourceSpec::Volume(_))
        && let (Some(old), Some(new)) = (before.get("source"), after.get("source"))
        && old != new
        && same_source(old, new, prior, context)
    {
        after.insert("source".to_owned(), old.clone());
    }
    // Likewise a backup holds its volume's data as it was when it was taken: a volume made
    // again or replaced does not make the backup go (backups outlive their volume).
    if matches!(spec, ResourceSpec::Backup(_))
        && let (Some(old), Some(new)) = (before.get("volume"), after.get("volume"))
        && old != new
        && same_object(old, new, prior, context)
    {
        after.insert("volume".to_owned(), old.clone());
    }
    let mut changed: Vec<&str> = schema
        .attrs
        .iter()
        .map(|a| a.name)
        .filter(|name| !handler.create_only(name))
        .filter(|name| after.get(*name).unwrap_or(&Value::Null) != before.get(*name).unwrap_or(&Value::Null))
        .collect();
    // Refresh reports `qos` only when a volume's back-end limits differ from its type's rule
    // (changed behind blockform's back): an update sets them again.
    if matches!(spec, ResourceSpec::Volume(_)) && before.contains_key("qos") {
        let limits = context
            .backend_limits(&VolumeSpec::of(&after))
            .unwrap_or_else(|| Value::Unknown(format!("{}.qos", instance.address)));
        after.insert("qos".to_owned(), limits);
        changed.push("qos");
        change
            .notes
            .push("its back-end QoS limits differ from its type's rule; they are set again".to_owned());
    }

    // Refresh reports an attachment's `limits` only when its disk's front-end limits differ
    // from its volume's type's rule (changed behind blockform's back): an update sets them.
    if matches!(spec, ResourceSpec::Attachment(_)) && before.contains_key("limits") {
        let limits = context
            .front_end_limits(&after)
            .unwrap_or_else(|| Value::Unknown(format!("{}.limits", instance.address)));
        after.insert("limits".to_owned(), limits);
        changed.push("limits");
        change.notes.push(
            "the front-end limits of its disk differ from its volume's type's rule; they are set again in place"
                .to_owned(),
        );
    }

    let mut replace = replace_requested;
    if replace_requested {
        change.reason = Some(Reason::ReplaceByRequest);
    }
    for name in &changed {
        if handler.forces_replacement(name) {
            replace = true;
            change.replace_paths.push((*name).to_owned());
            change.reason.get_or_insert(Reason::ReplaceBecauseCannotUpdate);
        }
    }
    if matches!(spec, ResourceSpec::Volume(_)) {
        plan_volume_update(
            instance,
            &before,
            &after,
            &changed,
            context,
            &mut change,
            &mut replace,
            diagnostics,
        );
    }
    if matches!(spec, ResourceSpec::Qos(_)) {
        plan_qos_update(&before, &after, &changed, &mut change);
    }
    change.before = Some(before);
    change.after = Some(after);
    if replace {
        change.action = if instance.lifecycle.create_before_destroy {
            Action::CreateThenDelete
        } else {
            Action::DeleteThenCreate
        };
        change.data_loss = handler.holds_data();
        change.storage = None;
        // The new object gets a name of its own: with create_before_destroy both exist at
        // once, and a retype across back ends puts it on another provider.
        change.replacement_id = Some(new_backend_id(kind));
        if prior.provider != change.provider {
            change.prior_provider.clone_from(&prior.provider);
        }
        if instance.lifecycle.prevent_destroy {
            diagnostics.push(prevent_destroy_error(instance, "replace"));
        }
        // The replacement is a new object with a new name; the old one is deleted.
        if let Some(after) = change.after.as_mut() {
            for computed in schema.computed {
                if configured_computed(&schema, computed, &instance.attrs) {
                    continue;
                }
                after.insert(
                    (*computed).to_owned(),
                    Value::Unknown(format!("{}.{computed}", instance.address)),
                );
            }
        }
    } else if !changed.is_empty() {
        change.action = Action::Update;
    }
    change
}

/// Whether the plan leaves an existing object as it is: the values [`plan_instance`] would
/// compare (the configuration's, with what `ignore_changes` keeps and computed ones from state,
/// unless configured, and a volume's source or a backup's volume that names the same object) all
/// equal the state's, and refresh reported no limits to set again. Reads the values in place.
fn unchanged(
    instance: &ResourceInstance,
    prior: &ResourceState,
    before: &ValueMap,
    spec: &ResourceSpec<'_>,
    context: &Context<'_>,
) -> bool {
    let handler = instance.address.kind.handler();
    let schema = handler.schema();
    // Limits refresh found different from the rule are set again.
    if matches!(spec, ResourceSpec::Volume(_)) && before.contains_key("qos")
        || matches!(spec, ResourceSpec::Attachment(_)) && before.contains_key("limits")
    {
        return false;
    }
    let kept_from_state = |name: &str| {
        instance.lifecycle.ignore_changes.iter().any(|kept| kept == name)
            || schema.computed.contains(&name)
                && instance
                    .attrs
                    .get(name)
                    .is_none_or(|v| matches!(v, Value::Null | Value::Unknown(_)))
    };
    schema
        .attrs
        .iter()
        .map(|a| a.name)
        .filter(|name| !handler.create_only(name))
        .all(|name| {
            let old = before.get(name);
            let new = if kept_from_state(name) {
                old.or_else(|| instance.attrs.get(name))
            } else {
                instance.attrs.get(name)
            };
            if new.unwrap_or(&Value::Null) == old.unwrap_or(&Value::Null) {
                return true;
            }
            let (Some(old), Some(new)) = (old, new) else {
                return false;
            };
            match (spec, name) {
                (ResourceSpec::Volume(_), "source") => same_source(old, new, prior, context),
                (ResourceSpec::Backup(_), "volume") => same_object(old, new, prior, context),
                _ => false,
            }
        })
}

/// Whether `computed` is also a configured attribute (an attachment's `device`) that `attrs`
/// sets: its configured value stands.
fn configured_computed(schema: &crate::model::BlockSchema, computed: &str, attrs: &ValueMap) -> bool {
    schema.attrs.iter().any(|a| a.name == computed) && attrs.get(computed).is_some_and(|v| *v != Value::Null)
}

/// What a change of a QoS rule's consumer or limits does to the volumes of its types.
fn plan_qos_update(before: &ValueMap, after: &ValueMap, changed: &[&str], change: &mut Change) {
    let (old, new) = (QosSpec::of(before), QosSpec::of(after));
    if changed.contains(&"consumer") && !changed.contains(&"specs") {
        if old.in_back_end() && !new.in_back_end() {
            change.notes.push(
                "its limits are removed from the back end of every volume of the types that use this rule \
                 (and their front-end limits are set in place on the attached ones)"
                    .to_owned(),
            );
        } else if !old.in_back_end() && new.in_back_end() {
            change
                .notes
                .push("its limits are set in the back end of every volume of the types that use this rule".to_owned());
        }
    }
    if changed.contains(&"specs") {
        if new.at_front_end() {
            change
                .notes
                .push("limits change in place: the new front-end limits are set on every attached volume of the types that use this rule, without a re-attach".to_owned());
        }
        if new.in_back_end() {
            change
                .notes
                .push("the new back-end limits are pushed to every volume of the types that use this rule".to_owned());
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn plan_volume_update(
    instance: &ResourceInstance,
    before: &ValueMap,
    after: &ValueMap,
    changed: &[&str],
    context: &Context<'_>,
    change: &mut Change,
    replace: &mut bool,
    diagnostics: &mut Diagnostics,
) {
    let span = |key: &str| {
        instance
            .attr_spans
            .get(key)
            .cloned()
            .unwrap_or_else(|| instance.span.clone())
    };
    let attached = context.is_attached(instance, Some(before));
    let (before_spec, after_spec) = (VolumeSpec::of(before), VolumeSpec::of(after));
    if changed.contains(&"size")
        && let (Some(old), Some(new)) = (before_spec.size_gib, after_spec.size_gib)
    {
        if new < old {
            diagnostics.push(
                Diagnostic::error(format!(
                    "`{}` cannot shrink from {old} GiB to {new} GiB",
                    instance.address
                ))
                .at(span("size"), format!("{new} GiB is smaller than the current {old} GiB"))
                .help(format!(
                    "volumes only grow; keep `size = {old}` or more, or create a new, smaller volume and copy the data"
                )),
            );
        } else {
            change.storage = Some(StorageAction::Extend {
                from_gib: u64::try_from(old).unwrap_or(0),
                to_gib: u64::try_from(new).unwrap_or(0),
            });
            if attached {
                change.notes.push(format!(
                    "`{}` is attached: grow the file system inside the guest to use the new space",
                    instance.address
                ));
            }
        }
    }
    if changed.contains(&"bootable") && attached {
        diagnostics.push(
            Diagnostic::error(format!(
                "`bootable` of `{}` cannot change while the volume is attached",
                instance.address
            ))
            .at(span("bootable"), "volume is attached")
            .help("detach the volume first (remove its attachment), apply, then change `bootable`"),
        );
    }
    if changed.contains(&"type") {
        let old_type = before_spec.volume_type.unwrap_or(&Value::Null);
        let new_type = after_spec.volume_type.unwrap_or(&Value::Null);
        let old_backend = old_type
            .as_str()
            .and_then(|id| context.by_id.get(id))
            .and_then(|t| t.provider.clone());
        let new_backend = context.referenced(new_type).and_then(|t| context.provider_of(t));
        if old_backend.is_some() && new_backend.is_some() && old_backend != new_backend {
            *replace = true;
            change.reason = Some(Reason::ReplaceBecauseBackendChanged);
            change.replace_paths.push("type".to_owned());
            change.notes.push(format!(
                "the new type lives on back end `{}`, the volume on `{}`: its data does not move",
                new_backend.unwrap_or_default(),
                old_backend.unwrap_or_default()
            ));
        } else if change.storage.is_none() {
            // Said with the types' addresses: their ids mean nothing to a reader.
            let from = old_type
                .as_str()
                .and_then(|id| context.by_id.get(id))
                .map(|t| t.address.clone())
                .or_else(|| old_type.to_template_string())
                .unwrap_or_default();
            let to = context
                .referenced(new_type)
                .map(|t| t.address.to_string())
                .or_else(|| new_type.to_template_string())
                .unwrap_or_else(|| new_type.to_string());
            change.storage = Some(StorageAction::Retype { from, to });
        }
        if attached && !*replace && context.type_limits(&before_spec, true) != context.type_limits(&after_spec, true) {
            change.notes.push(format!(
                "`{}` is attached: its disk takes the front-end limits of the new type's rule in place, without a re-attach",
                instance.address
            ));
        }
    }
}

/// Deleting (or replacing) a snapshot or volume that Ceph clones still depend on, because
/// their provider keeps clones unflattened (`flatten_clones = false`), flattens those clones
/// first: a copy of their data the plan says in advance. Clones deleted by the same plan are
/// not counted. The provider's current setting stands for the one the clone was made under.
fn note_flattened_clones(plan: &mut Plan, prior: &[ResourceState], desired: &Desired) {
    let linked: HashSet<&str> = desired
        .providers
        .iter()
        .filter(|(_, block)| crate::registry::clones_stay_linked(&block.kind, &block.attrs))
        .map(|(name, _)| name.as_str())
        .collect();
    let keeps_clones = |provider: &str| linked.contains(provider);
    let destroyed: HashSet<&str> = plan
        .changes
        .iter()
        .filter(|change| change.action.destroys())
        .filter_map(|change| change.backend_id.as_deref())
        .collect();
    let clones: Vec<(&str, &str, &str, &str)> = prior
        .iter()
        .filter(|r| r.address.starts_with("volume.") && !destroyed.contains(r.backend_id.as_str()))
        .filter_map(|r| {
            let provider = r.provider.as_deref().filter(|p| keeps_clones(p))?;
            let source = r.attributes.get("source")?.as_object()?;
            let (kind, id) = source.iter().next()?;
            Some((r.address.as_str(), kind.as_str(), id.as_str()?, provider))
        })
        .collect();
    for change in plan.changes.iter_mut().filter(|change| change.action.destroys()) {
        let Some(kind) = change.address.kind.handler().clone_parent().map(SourceKind::key) else {
            continue;
        };
        let Some(id) = change.backend_id.as_deref() else {
            continue;
        };
        let dependent: Vec<(&str, &str)> = clones
            .iter()
            .filter(|(_, source_kind, source_id, _)| *source_kind == kind && *source_id == id)
            .map(|(address, _, _, provider)| (*address, *provider))
            .collect();
        if let Some((_, provider)) = dependent.first() {
            let addresses: Vec<String> = dependent.iter().map(|(address, _)| format!("`{address}`")).collect();
            change.notes.push(format!(
                "{} still {} on it (provider `{provider}` has `flatten_clones = false`): {} flattened first, \
                 which copies {} data",
                addresses.join(", "),
                if dependent.len() == 1 { "depends" } else { "depend" },
                if dependent.len() == 1 { "it is" } else { "they are" },
                if dependent.len() == 1 { "its" } else { "their" },
            ));
        }
    }
}

/// Deleting a volume deletes its snapshots with it (RBD, qcow2), and clones made from them
/// lose their parent. Snapshots blockform does not own are not its to delete: the plan names
/// them and refuses (the guide's rule: no volume delete while snapshots exist).
fn check_unmanaged_snapshots(plan: &mut Plan, context: &Context<'_>, diagnostics: &mut Diagnostics) {
    for change in plan
        .changes
        .iter_mut()
        .filter(|c| c.address.kind == ResourceKind::Volume && c.action.destroys())
    {
        let Some(Value::List(names)) = change.before.as_ref().and_then(|b| b.get(UNMANAGED_SNAPSHOTS)) else {
            continue;
        };
        let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
        if names.is_empty() {
            continue;
        }
        let listed = names.join(", ");
        // The words that change with the number of snapshots.
        let (count, it, those, s) = if names.len() == 1 {
            ("1 snapshot".to_owned(), "it", "that snapshot", "")
        } else {
            (format!("{} snapshots", names.len()), "them", "those snapshots", "s")
        };
        let what = if change.action == Action::Delete {
            "deleting"
        } else {
            "replacing"
        };
        change.notes.push(format!(
            "`{}` has {count} not managed by blockform: {listed}; {what} it would delete {it}",
            change.address
        ));
        let provider = change.existing_provider().unwrap_or_default().to_owned();
        // The IDs `import` takes, as `drift` lists them.
        let volume = change.backend_id.as_deref().unwrap_or_default();
        let kind = context
            .desired
            .providers
            .get(&provider)
            .map_or("", |block| block.kind.as_str());
        let ids: Vec<String> = names
            .iter()
            .map(|name| crate::registry::import_id(&provider, kind, volume, Some(name)))
            .collect();
        let mut diagnostic = Diagnostic::error(format!(
            "`{}` has {count} not managed by blockform: {listed}",
            change.address
        ))
        .detail(format!(
            "{what} the volume would delete {those} with it (and flatten or orphan any clone made from {it}); \
             blockform deletes only what it owns"
        ))
        .help(format!(
            "delete the snapshot{s} in the back end yourself if {it} can go, or adopt {it} \
             (`blockform import snapshot.NAME ID`, ID: {ids}) so the plan deletes {it} as a managed object",
            ids = ids.join(", "),
        ));
        if let Some(instance) = context.by_address.get(&change.address.to_string()) {
            diagnostic = diagnostic.at(
                instance.span.clone(),
                "this volume has snapshots blockform does not own",
            );
        }
        diagnostics.push(diagnostic);
    }
}

/// A new volume made from a snapshot, backup or volume must be at least as large as its source
/// as it is when the volume is made: the size a snapshot or backup recorded when it was taken,
/// an existing volume's size now, or the configured size of a source this plan creates. Only
/// creates are checked: growing a source later does not make a volume made from it wrong.
fn check_source_size(
    instance: &ResourceInstance,
    volume: &VolumeSpec<'_>,
    context: &Context<'_>,
    diagnostics: &mut Diagnostics,
) {
    let (Some(size), Some(source)) = (volume.size_gib, volume.source) else {
        return;
    };
    let configured_size = |volume: &ResourceInstance| {
        let size = VolumeSpec::of(&volume.attrs).size_gib?;
        let span = volume
            .attr_spans
            .get("size")
            .cloned()
            .unwrap_or_else(|| volume.span.clone());
        Some((size, Some(span)))
    };
    for source_kind in [SourceKind::Snapshot, SourceKind::Backup, SourceKind::Volume] {
        let Some(value) = source.object(source_kind) else {
            continue;
        };
        let found = match value {
            Value::String(id) => context.by_id.get(id.as_str()).and_then(|state| {
                let size = state.attributes.get("size").and_then(serde_json::Value::as_i64)?;
                Some((state.address.clone(), size, None))
            }),
            Value::Unknown(_) => context.referenced(value).and_then(|source_instance| {
                let origin = if source_kind == SourceKind::Volume {
                    Some(source_instance)
                } else {
                    source_instance.attrs.get("volume").and_then(|v| context.referenced(v))
                };
                let (size, span) = configured_size(origin?)?;
                Some((source_instance.address.to_string(), size, span))
            }),
            _ => None,
        };
        let Some((source_address, source_size, source_span)) = found else {
            continue;
        };
        if size < source_size {
            let span = instance
                .attr_spans
                .get("size")
                .cloned()
                .unwrap_or_else(|| instance.span.clone());
            let mut diagnostic = Diagnostic::error(format!(
                "`{}` is {size} GiB but its source `{source_address}` holds {source_size} GiB",
                instance.address
            ))
            .at(span, format!("{size} GiB is smaller than {source_size} GiB"))
            .help(format!(
                "a volume made from a {} must be at least as large as it: set `size = {source_size}` or more",
                source_kind.key()
            ));
            if let Some(source_span) = source_span {
                diagnostic = diagnostic.related(source_span, "source size set here");
            }
            diagnostics.push(diagnostic);
        }
    }
}

/// A clone or a volume made from a snapshot is made by the back end that holds its source: a
/// type on another back end cannot be served (a backup can: it is restored through the data
/// path of any provider).
fn check_source_backend(
    instance: &ResourceInstance,
    volume: &VolumeSpec<'_>,
    provider: Option<&str>,
    context: &Context<'_>,
    diagnostics: &mut Diagnostics,
) {
    let (Some(provider), Some(source)) = (provider, volume.source) else {
        return;
    };
    for source_kind in [SourceKind::Snapshot, SourceKind::Volume] {
        let Some(value) = source.object(source_kind) else {
            continue;
        };
        let found = match value {
            Value::String(id) => context
                .by_id
                .get(id.as_str())
                .and_then(|r| Some((r.address.clone(), r.provider.clone()?))),
            Value::Unknown(_) => context
                .referenced(value)
                .and_then(|r| Some((r.address.to_string(), context.provider_of(r)?))),
            _ => None,
        };
        let Some((source_address, source_provider)) = found else {
            continue;
        };
        if source_provider != provider {
            let span = instance
                .attr_spans
                .get("source")
                .cloned()
                .unwrap_or_else(|| instance.span.clone());
            diagnostics.push(
                Diagnostic::error(format!(
                    "`{}` would be made from `{source_address}` on back end `{source_provider}`, but its type puts it on `{provider}`",
                    instance.address
                ))
                .at(span, format!("the source is on `{source_provider}`"))
                .detail(format!(
                    "a {} is made by the back end that holds its source; `{provider}` cannot read `{source_provider}`'s objects",
                    if source_kind == SourceKind::Snapshot { "volume from a snapshot" } else { "clone" }
                ))
                .help(format!(
                    "give the volume a type on `{source_provider}`, or back up `{source_address}` and restore the \
                     backup with `source = {{ backup = backup.NAME.id }}` (backups cross back ends)"
                )),
            );
        }
    }
}

fn prevent_destroy_error(instance: &ResourceInstance, what: &str) -> Diagnostic {
    Diagnostic::error(format!(
        "`{}` has `lifecycle.prevent_destroy` set, but this plan would {what} it",
        instance.address
    ))
    .at(instance.span.clone(), "prevent_destroy = true")
    .help(
        "change the configuration so the object is kept, or remove `prevent_destroy` if you really mean to destroy it",
    )
}

/// A type's `backend` and `extra_specs` cannot change while volumes use it.
fn check_types_in_use(plan: &Plan, context: &Context<'_>, diagnostics: &mut Diagnostics) {
    for change in plan
        .changes
        .iter()
        .filter(|c| c.address.kind == ResourceKind::VolumeType && c.action == Action::Update)
    {
        let (Some(before), Some(after)) = (&change.before, &change.after) else {
            continue;
        };
        let locked: Vec<&str> = ["backend", "extra_specs"]
            .into_iter()
            .filter(|k| before.get(*k) != after.get(*k))
            .collect();
        if locked.is_empty() {
            continue;
        }
        let type_id = change.backend_id.clone().unwrap_or_default();
        let users: Vec<String> = context
            .desired
            .resources
            .iter()
            .filter(|r| r.address.kind == ResourceKind::Volume)
            .filter(|r| VolumeSpec::of(&r.attrs).volume_type.and_then(Value::as_str) == Some(type_id.as_str()))
            .map(|r| format!("`{}`", r.address))
            .collect();
        if users.is_empty() {
            continue;
        }
        let Some(instance) = context.by_address.get(&change.address.to_string()) else {
            continue;
        };
        let span = instance
            .attr_spans
            .get(locked[0])
            .cloned()
            .unwrap_or_else(|| instance.span.clone());
        diagnostics.push(
            Diagnostic::error(format!(
                "`{}` cannot change `{}` while volumes use it: {}",
                change.address,
                locked.join("` and `"),
                users.join(", ")
            ))
            .at(span, "type in use")
            .help("create a new volume type and move the volumes to it (a retype), then change or remove this one"),
        );
    }
}

fn output_changes(desired: &Desired, prior: &std::collections::BTreeMap<String, OutputState>) -> Vec<OutputChange> {
    let mut out: Vec<OutputChange> = desired
        .outputs
        .iter()
        .map(|(name, o)| OutputChange {
            name: name.clone(),
            before: prior.get(name).map(|p| Value::from_json(&p.value)),
            after: Some(o.value.clone()),
            sensitive: o.sensitive,
        })
        .collect();
    for (name, o) in prior {
        if !desired.outputs.contains_key(name) {
            out.push(OutputChange {
                name: name.clone(),
                before: Some(Value::from_json(&o.value)),
                after: None,
                sensitive: o.sensitive,
            });
        }
    }
    out
}

/// Keeps only the targeted changes and what they depend on (transitively); the rest become
/// no-ops that are left out of the plan. Returns the indices of the kept changes.
fn apply_targets(plan: &mut Plan, targets: &[Address]) -> HashSet<usize> {
    let matches = |address: &Address, target: &Address| {
        address.kind == target.kind
            && address.name == target.name
            && (target.key == InstanceKey::None || address.key == target.key)
    };
    let mut keep: HashSet<usize> = HashSet::new();
    let mut queue: Vec<usize> = plan
        .changes
        .iter()
        .enumerate()
        .filter(|(_, c)| targets.iter().any(|t| matches(&c.address, t)))
        .map(|(i, _)| i)
        .collect();
    let mut by_block: IndexMap<(ResourceKind, String), Vec<usize>> = IndexMap::new();
    for (i, c) in plan.changes.iter().enumerate() {
        by_block
            .entry((c.address.kind, c.address.name.clone()))
            .or_default()
            .push(i);
    }
    while let Some(i) = queue.pop() {
        if !keep.insert(i) {
            continue;
        }
        for dep in &plan.changes[i].depends_on {
            if let Some(indices) = by_block.get(&(dep.kind, dep.name.clone())) {
                queue.extend(indices.iter().copied().filter(|j| !keep.contains(j)));
            }
        }
    }
    let mut index = 0;
    plan.changes.retain(|_| {
        let kept = keep.contains(&index);
        index += 1;
        kept
    });
    plan.warnings.push(
        "resource targeting is in effect: the plan may be incomplete; use --target only to recover from mistakes, not routinely"
            .to_owned(),
    );
    keep
}
