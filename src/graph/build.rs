//! From a plan to its operation graph: one operation per change (two for a replacement), then
//! the edges. The storage rules of DESIGN.md go first so that an edge carries the most specific
//! reason; then the references found in values; then the dependencies the change recorded.
//!
//! Everything is looked up through indexes (by address, by resource, by back-end id) so a plan
//! of tens of thousands of changes builds in time proportional to its size. A value that names
//! one instance (`volume.v["a"].id`) stands in for the dependency on the whole resource
//! (`volume.v`) that `depends_on` records for it; only dependencies no value explains are spread
//! over every instance.

use std::cmp::{Ordering, Reverse};
use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use petgraph::graph::{DiGraph, NodeIndex};

use super::{EdgeReason, GraphError, OpId, OpKind, Operation, OperationGraph, order};
use crate::config::value::{Value, ValueMap};
use crate::model::kinds::{Association, VolumeHold};
use crate::model::{Address, AttrType, InstanceKey, ResourceKind, resource_schema};
use crate::plan::{Action, Change, Plan, StorageAction};

/// Builds the operation graph of a plan; no-op changes have no operations.
pub fn build(plan: &Plan) -> Result<OperationGraph, GraphError> {
    let index = PlanIndex::new(plan);
    let mut builder = Builder::new(&index);
    builder.replacements();
    builder.backup_creates();
    builder.backup_deletes();
    builder.volume_dependents();
    for kind in ResourceKind::ALL {
        if let Some(association) = kind.handler().association() {
            builder.associations(kind, association);
        }
    }
    builder.references();
    builder.finish()
}

/// The changes of a plan, findable by address, by resource and by back-end id.
struct PlanIndex<'p> {
    changes: &'p [Change],
    by_address: HashMap<&'p Address, usize>,
    by_resource: HashMap<ResourceKind, HashMap<&'p str, Vec<usize>>>,
    by_backend_id: HashMap<&'p str, Vec<usize>>,
}

/// A change a value refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Through an unknown id: the object the plan makes.
    New(usize),
    /// Through a known back-end id: the object that exists now.
    Existing(usize),
}

impl Target {
    fn change(self) -> usize {
        match self {
            Target::New(c) | Target::Existing(c) => c,
        }
    }
}

impl<'p> PlanIndex<'p> {
    fn new(plan: &'p Plan) -> PlanIndex<'p> {
        let mut index = PlanIndex {
            changes: &plan.changes,
            by_address: HashMap::with_capacity(plan.changes.len()),
            by_resource: HashMap::new(),
            by_backend_id: HashMap::with_capacity(plan.changes.len()),
        };
        for (i, change) in plan.changes.iter().enumerate() {
            let address = &change.address;
            index.by_address.insert(address, i);
            index
                .by_resource
                .entry(address.kind)
                .or_default()
                .entry(address.name.as_str())
                .or_default()
                .push(i);
            if let Some(id) = change.backend_id.as_deref() {
                index.by_backend_id.entry(id).or_default().push(i);
            }
        }
        index
    }

    /// The changes an address means: the instance itself, or every instance of a resource named
    /// without a key (`volume.scratch` means `volume.scratch["a"]`, `volume.scratch["b"]`, …).
    fn instances(&self, address: &Address) -> &[usize] {
        if address.key == InstanceKey::None {
            self.by_resource
                .get(&address.kind)
                .and_then(|m| m.get(address.name.as_str()))
                .map_or(&[], Vec::as_slice)
        } else {
            self.by_address.get(address).map_or(&[], std::slice::from_ref)
        }
    }

    /// The changes an unknown value comes from: its origin is an attribute of an instance
    /// (`volume.db.id`, `volume.v["a.b"].id`).
    fn origin(&self, origin: &str) -> &[usize] {
        let address = origin
            .rsplit_once('.')
            .and_then(|(at, _)| Address::parse(at))
            .or_else(|| Address::parse(origin));
        address.map_or(&[], |a| self.instances(&a))
    }

    /// The changes whose object has this back-end id.
    fn backend_id(&self, id: &str) -> &[usize] {
        self.by_backend_id.get(id).map_or(&[], Vec::as_slice)
    }

    /// The changes a text names: an address (`backup.full`) or a back-end id.
    fn named(&self, text: &str) -> &[usize] {
        match Address::parse(text) {
            Some(address) if !self.instances(&address).is_empty() => self.instances(&address),
            _ => self.backend_id(text),
        }
    }

    /// Adds every change `value` refers to, looking inside lists and maps.
    fn targets(&self, value: &Value, out: &mut Vec<Target>) {
        match value {
            Value::Unknown(origin) => out.extend(self.origin(origin).iter().map(|c| Target::New(*c))),
            Value::String(id) => out.extend(self.backend_id(id).iter().map(|c| Target::Existing(*c))),
            Value::List(items) => items.iter().for_each(|v| self.targets(v, out)),
            Value::Map(map) => map.values().for_each(|v| self.targets(v, out)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// The changes one attribute of `values` refers to.
    fn attr_targets(&self, values: Option<&ValueMap>, name: &str) -> Vec<Target> {
        let mut out = Vec::new();
        if let Some(value) = values.and_then(|v| v.get(name)) {
            self.targets(value, &mut out);
        }
        out
    }

    /// The changes the reference attributes of `values` point at, found through known ids and
    /// unknown origins alike, and the unknown values of every other attribute.
    fn value_targets(&self, kind: ResourceKind, values: Option<&ValueMap>) -> Vec<Target> {
        let Some(values) = values else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, value) in values {
            if is_reference_attr(kind, name) {
                self.targets(value, &mut out);
            } else {
                self.unknown_targets(value, &mut out);
            }
        }
        out
    }

    /// Adds the changes the unknown values inside `value` come from.
    fn unknown_targets(&self, value: &Value, out: &mut Vec<Target>) {
        match value {
            Value::Unknown(origin) => out.extend(self.origin(origin).iter().map(|c| Target::New(*c))),
            Value::List(items) => items.iter().for_each(|v| self.unknown_targets(v, out)),
            Value::Map(map) => map.values().for_each(|v| self.unknown_targets(v, out)),
            _ => {}
        }
    }

    /// Which volume a backup is of, as one key whether the value is a known id or an unknown one.
    fn volume_key<'v>(&self, value: Option<&'v Value>) -> VolumeKey<'v> {
        let mut targets = Vec::new();
        if let Some(value) = value {
            self.targets(value, &mut targets);
        }
        let volume = targets
            .iter()
            .map(|t| t.change())
            .find(|c| self.changes[*c].address.kind == ResourceKind::Volume);
        match (volume, value) {
            (Some(change), _) => VolumeKey::Change(change),
            (None, Some(Value::String(id))) => VolumeKey::Text(id),
            (None, Some(Value::Unknown(origin))) => VolumeKey::Text(origin),
            _ => VolumeKey::Unnamed,
        }
    }
}

/// Whether the schema says `name` refers to other resources (`type`, `volume`, `source`, …).
fn is_reference_attr(kind: ResourceKind, name: &str) -> bool {
    resource_schema(kind)
        .attr(name)
        .is_some_and(|a| matches!(a.ty, AttrType::Ref(_) | AttrType::RefList(_) | AttrType::Object(_)))
}

/// The volume of a backup, for grouping backups into chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum VolumeKey<'v> {
    /// A volume in the plan.
    Change(usize),
    /// A volume outside the plan, by id or unknown origin.
    Text(&'v str),
    /// No volume given.
    Unnamed,
}

/// The backups of one volume in one store (`store`), the chain incrementals build on.
type ChainKey<'p> = (VolumeKey<'p>, &'p str);

/// The operations of one change.
#[derive(Debug, Clone, Copy, Default)]
struct ChangeOps {
    /// The create or update: what makes the object the plan wants.
    forward: Option<OpId>,
    /// The delete of the existing object.
    delete: Option<OpId>,
}

/// The reasons of one association between resources (a type's QoS rule, a volume's type).
#[derive(Debug, Clone, Copy)]
struct AssociationRule {
    /// The associated object exists before the object that uses it.
    before_user: EdgeReason,
    /// The user lets go of it before it is deleted.
    user_before_delete: EdgeReason,
}

impl AssociationRule {
    /// The edges of an association, named for the rule they follow.
    fn of(association: Association) -> AssociationRule {
        match association {
            Association::QosRule => AssociationRule {
                before_user: EdgeReason::QosBeforeType,
                user_before_delete: EdgeReason::TypeBeforeQosDelete,
            },
            Association::VolumeType => AssociationRule {
                before_user: EdgeReason::TypeBeforeVolume,
                user_before_delete: EdgeReason::VolumeBeforeTypeDelete,
            },
        }
    }
}

struct Builder<'i, 'p> {
    index: &'i PlanIndex<'p>,
    changes: &'p [Change],
    operations: Vec<Operation>,
    ops: Vec<ChangeOps>,
    graph: DiGraph<(), EdgeReason>,
    edges: HashSet<(OpId, OpId)>,
}

impl<'i, 'p> Builder<'i, 'p> {
    /// One operation per change, two for a replacement, numbered in plan order (a replacement's
    /// two in the order its action runs them).
    fn new(index: &'i PlanIndex<'p>) -> Builder<'i, 'p> {
        let changes = index.changes;
        let mut builder = Builder {
            index,
            changes,
            operations: Vec::with_capacity(changes.len()),
            ops: vec![ChangeOps::default(); changes.len()],
            graph: DiGraph::with_capacity(changes.len(), changes.len()),
            edges: HashSet::new(),
        };
        for (i, change) in changes.iter().enumerate() {
            let kinds: &[OpKind] = match change.action {
                Action::NoOp => &[],
                Action::Create => &[OpKind::Create],
                Action::Update => &[OpKind::Update],
                Action::Delete => &[OpKind::Delete],
                Action::DeleteThenCreate => &[OpKind::Delete, OpKind::Create],
                Action::CreateThenDelete => &[OpKind::Create, OpKind::Delete],
            };
            for &kind in kinds {
                let id = builder.graph.add_node(()).index();
                builder.operations.push(Operation {
                    change: i,
                    kind,
                    address: change.address.clone(),
                });
                match kind {
                    OpKind::Delete => builder.ops[i].delete = Some(id),
                    OpKind::Create | OpKind::Update => builder.ops[i].forward = Some(id),
                }
            }
        }
        builder
    }

    /// Adds `before → after` unless the pair is connected already (the first reason stays).
    fn edge(&mut self, before: Option<OpId>, after: Option<OpId>, reason: EdgeReason) {
        if let (Some(before), Some(after)) = (before, after)
            && before != after
            && self.edges.insert((before, after))
        {
            self.graph
                .add_edge(NodeIndex::new(before), NodeIndex::new(after), reason);
        }
    }

    fn kind(&self, change: usize) -> ResourceKind {
        self.changes[change].address.kind
    }

    /// The two halves of each replacement, in the order its action says.
    fn replacements(&mut self) {
        for (i, change) in self.changes.iter().enumerate() {
            let ChangeOps { forward, delete } = self.ops[i];
            match change.action {
                Action::DeleteThenCreate => self.edge(delete, forward, EdgeReason::ReplaceDeleteBeforeCreate),
                Action::CreateThenDelete => self.edge(forward, delete, EdgeReason::ReplaceCreateBeforeDelete),
                _ => {}
            }
        }
    }

    /// Rule 1: an incremental backup is taken after its parent — the backup its known `parent`
    /// names, or else every full backup of the same volume and store taken in this plan. The
    /// incrementals of one volume follow each other in plan order, so each one's parent is the
    /// newest backup before it.
    fn backup_creates(&mut self) {
        // Per volume and store: the full backups, then the incrementals, each in plan order.
        let mut chains: IndexMap<ChainKey<'p>, (Vec<usize>, Vec<usize>)> = IndexMap::new();
        for (i, change) in self.changes.iter().enumerate() {
            if change.address.kind != ResourceKind::Backup || !change.action.creates() {
                continue;
            }
            let Some(after) = change.planned() else { continue };
            let mode = after.get("mode").unwrap_or(&Value::Null);
            if let Some(parent) = after.get("parent").and_then(Value::as_str) {
                for &p in self.index.named(parent) {
                    if self.kind(p) == ResourceKind::Backup {
                        self.edge(
                            self.ops[p].forward,
                            self.ops[i].forward,
                            EdgeReason::IncrementalAfterParent,
                        );
                    }
                }
                continue;
            }
            let store = after.get("store").and_then(Value::as_str).unwrap_or_default();
            let chain = chains
                .entry((self.index.volume_key(after.get("volume")), store))
                .or_default();
            match mode {
                Value::String(m) if m == "incremental" => chain.1.push(i),
                Value::Null => chain.0.push(i),
                Value::String(m) if m == "full" => chain.0.push(i),
                _ => {}
            }
        }
        for (fulls, incrementals) in chains.into_values() {
            let mut previous: Option<usize> = None;
            for incremental in incrementals {
                let to = self.ops[incremental].forward;
                match previous {
                    None => {
                        for &full in &fulls {
                            self.edge(self.ops[full].forward, to, EdgeReason::IncrementalAfterParent);
                        }
                    }
                    Some(p) => self.edge(self.ops[p].forward, to, EdgeReason::IncrementalAfterParent),
                }
                previous = Some(incremental);
            }
        }
    }

    /// Rule 2: the backups of one volume and store are deleted newest first (by `created_at`),
    /// so a full goes after all of its incrementals; a backup is also deleted before the parent
    /// its `parent` names.
    fn backup_deletes(&mut self) {
        let mut chains: IndexMap<ChainKey<'p>, Vec<usize>> = IndexMap::new();
        for (i, change) in self.changes.iter().enumerate() {
            if change.address.kind != ResourceKind::Backup || self.ops[i].delete.is_none() {
                continue;
            }
            let Some(before) = change.before.as_ref() else { continue };
            if let Some(parent) = before.get("parent").and_then(Value::as_str) {
                for &p in self.index.named(parent) {
                    if self.kind(p) == ResourceKind::Backup {
                        self.edge(
                            self.ops[i].delete,
                            self.ops[p].delete,
                            EdgeReason::NewestBackupDeletedFirst,
                        );
                    }
                }
            }
            let store = before.get("store").and_then(Value::as_str).unwrap_or_default();
            chains
                .entry((self.index.volume_key(before.get("volume")), store))
                .or_default()
                .push(i);
        }
        for mut chain in chains.into_values() {
            chain.sort_by(|a, b| deletion_order(&self.changes[*a], *a, &self.changes[*b], *b));
            for pair in chain.windows(2) {
                self.edge(
                    self.ops[pair[0]].delete,
                    self.ops[pair[1]].delete,
                    EdgeReason::NewestBackupDeletedFirst,
                );
            }
        }
    }

    /// Rules 3 and 4: a volume's snapshots are deleted before it (also when it is replaced), and
    /// its attachments are removed before it is deleted, replaced, retyped or made (non-)bootable.
    fn volume_dependents(&mut self) {
        for (i, change) in self.changes.iter().enumerate() {
            let reason = match change.address.kind.handler().volume_hold() {
                Some(VolumeHold::Inside) => EdgeReason::SnapshotsBeforeVolumeDelete,
                Some(VolumeHold::Attached) => EdgeReason::DetachBeforeVolumeChange,
                None => continue,
            };
            let Some(delete) = self.ops[i].delete else { continue };
            for target in self.index.attr_targets(change.before.as_ref(), "volume") {
                let volume = target.change();
                if self.kind(volume) != ResourceKind::Volume {
                    continue;
                }
                if self.ops[volume].delete.is_some() {
                    self.edge(Some(delete), self.ops[volume].delete, reason);
                } else if reason == EdgeReason::DetachBeforeVolumeChange && needs_detach(&self.changes[volume]) {
                    self.edge(Some(delete), self.ops[volume].forward, reason);
                }
            }
        }
    }

    /// Rule 5 (and its twin for types): what a `user` refers to through `attr` exists before
    /// the user is created or updated, and the user lets go of it — is deleted, or updated to
    /// refer to something else — before it is deleted. Found through the values, so the order
    /// holds even when the recorded dependencies miss it.
    fn associations(&mut self, user: ResourceKind, association: Association) {
        let (attr, associated, rule) = (
            association.attr(),
            association.target(),
            AssociationRule::of(association),
        );
        for (i, change) in self.changes.iter().enumerate() {
            if change.address.kind != user {
                continue;
            }
            let ChangeOps { forward, delete } = self.ops[i];
            let wanted = self.index.attr_targets(change.planned(), attr);
            for target in &wanted {
                if self.kind(target.change()) == associated {
                    self.edge(self.ops[target.change()].forward, forward, rule.before_user);
                }
            }
            for target in self.index.attr_targets(change.before.as_ref(), attr) {
                let old = target.change();
                if self.kind(old) != associated || self.ops[old].delete.is_none() {
                    continue;
                }
                if delete.is_some() {
                    self.edge(delete, self.ops[old].delete, rule.user_before_delete);
                } else if !wanted.iter().any(|t| t.change() == old) {
                    self.edge(forward, self.ops[old].delete, rule.user_before_delete);
                }
            }
        }
    }

    /// Creates and updates run after the creates and updates of what they refer to; deletes run
    /// before the deletes of what the object depended on; the old half of a
    /// `create_before_destroy` replacement waits for what moved to the new half. Values first
    /// (`Reference`), then the recorded dependencies (`DependsOn`).
    fn references(&mut self) {
        for (i, change) in self.changes.iter().enumerate() {
            let kind = change.address.kind;
            let ChangeOps { forward, delete } = self.ops[i];
            let mut wanted: Vec<usize> = self
                .index
                .value_targets(kind, change.planned())
                .into_iter()
                .map(Target::change)
                .collect();
            wanted.retain(|c| *c != i);
            // A known id in `before` is the object as it is now; an unknown one cannot be there.
            let mut had: Vec<usize> = self
                .index
                .value_targets(kind, change.before.as_ref())
                .into_iter()
                .filter_map(|t| match t {
                    Target::Existing(c) => Some(c),
                    Target::New(_) => None,
                })
                .collect();
            had.retain(|c| *c != i);
            for &dependency in &wanted {
                self.forward_edges(forward, dependency, EdgeReason::Reference);
            }
            for &dependency in &had {
                self.edge(
                    delete,
                    self.ops[dependency].delete,
                    EdgeReason::DeleteBeforeDependencyDelete,
                );
            }

            let resource = |c: &usize| (self.kind(*c), self.changes[*c].address.name.as_str());
            let wanted_resources: HashSet<(ResourceKind, &str)> = wanted.iter().map(resource).collect();
            let had_resources: HashSet<(ResourceKind, &str)> = had.iter().map(resource).collect();
            for dependency in &change.depends_on {
                let whole = dependency.key == InstanceKey::None;
                let named = (dependency.kind, dependency.name.as_str());
                let index = self.index;
                let instances = index.instances(dependency);
                if forward.is_some() && !(whole && wanted_resources.contains(&named)) {
                    for &d in instances.iter().filter(|d| **d != i) {
                        self.forward_edges(forward, d, EdgeReason::DependsOn);
                    }
                }
                if delete.is_some() && !(whole && had_resources.contains(&named)) {
                    for &d in instances.iter().filter(|d| **d != i) {
                        self.edge(delete, self.ops[d].delete, EdgeReason::DeleteBeforeDependencyDelete);
                    }
                }
            }
        }
    }

    /// The edges of `forward` (a create or update) depending on `dependency`'s object.
    fn forward_edges(&mut self, forward: Option<OpId>, dependency: usize, reason: EdgeReason) {
        let ops = self.ops[dependency];
        self.edge(ops.forward, forward, reason);
        if self.changes[dependency].action == Action::CreateThenDelete {
            self.edge(forward, ops.delete, EdgeReason::DependentsBeforeOldDelete);
        }
    }

    fn finish(self) -> Result<OperationGraph, GraphError> {
        match order::topological_order(&self.graph) {
            Some(order) => Ok(OperationGraph {
                operations: self.operations,
                graph: self.graph,
                order,
            }),
            None => Err(order::cycle_error(&self.graph, &self.operations)),
        }
    }
}

/// Whether a volume update can only happen while the volume is detached: a retype, or a
/// change of `bootable` (SPEC §1).
fn needs_detach(volume: &Change) -> bool {
    if volume.action != Action::Update {
        return false;
    }
    if matches!(volume.storage, Some(StorageAction::Retype { .. })) {
        return true;
    }
    let bootable = |values: Option<&ValueMap>| {
        values
            .and_then(|v| v.get("bootable"))
            .cloned()
            .unwrap_or(Value::Bool(false))
    };
    let (before, after) = (bootable(volume.before.as_ref()), bootable(volume.planned()));
    after.is_unknown() || before.as_bool().unwrap_or(false) != after.as_bool().unwrap_or(false)
}

/// When a backup was taken, as far as its record says.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Taken<'v> {
    /// Seconds since the epoch.
    Seconds(f64),
    /// A timestamp text (RFC 3339 sorts as text).
    Text(&'v str),
}

impl Taken<'_> {
    fn of(change: &Change) -> Option<Taken<'_>> {
        match change.before.as_ref()?.get("created_at")? {
            Value::Number(n) => Some(Taken::Seconds(*n)),
            Value::String(s) => Some(Taken::Text(s)),
            _ => None,
        }
    }

    fn cmp(self, other: Taken<'_>) -> Ordering {
        match (self, other) {
            (Taken::Seconds(a), Taken::Seconds(b)) => a.total_cmp(&b),
            (Taken::Text(a), Taken::Text(b)) => a.cmp(b),
            (Taken::Seconds(_), Taken::Text(_)) => Ordering::Less,
            (Taken::Text(_), Taken::Seconds(_)) => Ordering::Greater,
        }
    }
}

/// The order backups of one chain are deleted in: newest first. Undated incrementals count as
/// the newest and undated fulls as the oldest, so a full always goes after its incrementals;
/// ties go to the later change in the plan (state lists backups in the order they were taken).
fn deletion_order(a: &Change, a_index: usize, b: &Change, b_index: usize) -> Ordering {
    let incremental =
        |c: &Change| c.before.as_ref().and_then(|v| v.get("mode")).and_then(Value::as_str) == Some("incremental");
    let class = |c: &Change| match (Taken::of(c), incremental(c)) {
        (None, true) => 0,
        (Some(_), _) => 1,
        (None, false) => 2,
    };
    class(a)
        .cmp(&class(b))
        .then_with(|| match (Taken::of(a), Taken::of(b)) {
            (Some(x), Some(y)) => y.cmp(x),
            _ => Ordering::Equal,
        })
        .then_with(|| Reverse(incremental(a)).cmp(&Reverse(incremental(b))))
        .then_with(|| b_index.cmp(&a_index))
}

#[cfg(test)]
mod tests {
    use super::super::OpKind::{Create, Delete, Update};
    use super::super::fixtures::{Shape, address, change, create, delete, id, new_ref, old_ref, plan, s, update};
    use super::*;

    fn op(graph: &OperationGraph, at: &str, kind: OpKind) -> OpId {
        graph
            .find(&address(at), kind)
            .unwrap_or_else(|| panic!("no {kind} of {at}"))
    }

    fn position(graph: &OperationGraph, op: OpId) -> usize {
        graph
            .topological_order()
            .iter()
            .position(|o| *o == op)
            .expect("every operation is in the order")
    }

    /// Asserts that `first` runs before `then` because of a direct edge with `reason`.
    #[track_caller]
    fn assert_edge(graph: &OperationGraph, first: (&str, OpKind), then: (&str, OpKind), reason: EdgeReason) {
        let (a, b) = (op(graph, first.0, first.1), op(graph, then.0, then.1));
        assert_eq!(
            graph.edge(a, b),
            Some(reason),
            "edge {} → {}",
            graph.operations()[a],
            graph.operations()[b]
        );
        assert!(
            position(graph, a) < position(graph, b),
            "{} runs before {}",
            graph.operations()[a],
            graph.operations()[b]
        );
    }

    /// The topological order as `address (kind)` texts.
    fn order(graph: &OperationGraph) -> Vec<String> {
        graph
            .topological_order()
            .into_iter()
            .map(|o| graph.operations()[o].to_string())
            .collect()
    }

    #[test]
    fn no_op_changes_have_no_operations() {
        let graph = build(&plan(vec![change("volume.a", Action::NoOp), create("volume.b")])).unwrap();
        assert_eq!(graph.len(), 1);
        assert_eq!(graph.operations()[0].change, 1);
        assert!(build(&plan(vec![change("volume.a", Action::NoOp)])).unwrap().is_empty());
    }

    #[test]
    fn delete_then_create_deletes_first() {
        let graph = build(&plan(vec![
            create("volume.a"),
            change("volume.db", Action::DeleteThenCreate),
        ]))
        .unwrap();
        assert_eq!(graph.len(), 3);
        assert_eq!(graph.operations_of(1), 1..3);
        assert_edge(
            &graph,
            ("volume.db", Delete),
            ("volume.db", Create),
            EdgeReason::ReplaceDeleteBeforeCreate,
        );
    }

    #[test]
    fn create_before_destroy_creates_first() {
        let graph = build(&plan(vec![change("volume.db", Action::CreateThenDelete)])).unwrap();
        assert_eq!(order(&graph), ["volume.db (create)", "volume.db (delete)"]);
        assert_edge(
            &graph,
            ("volume.db", Create),
            ("volume.db", Delete),
            EdgeReason::ReplaceCreateBeforeDelete,
        );
    }

    #[test]
    fn creates_follow_the_unknown_values_they_refer_to() {
        // Listed backwards, with no recorded dependencies: the values alone give the order.
        let plan = plan(vec![
            create("snapshot.s").set("volume", new_ref("volume.db")),
            create("volume.db").set("type", new_ref("volume_type.ssd")),
            create("volume_type.ssd"),
        ]);
        let graph = build(&plan).unwrap();
        assert_edge(
            &graph,
            ("volume_type.ssd", Create),
            ("volume.db", Create),
            EdgeReason::TypeBeforeVolume,
        );
        assert_edge(
            &graph,
            ("volume.db", Create),
            ("snapshot.s", Create),
            EdgeReason::Reference,
        );
        assert_eq!(
            order(&graph),
            ["volume_type.ssd (create)", "volume.db (create)", "snapshot.s (create)"]
        );
    }

    #[test]
    fn creates_follow_updates_of_existing_objects_they_refer_to() {
        let plan = plan(vec![
            create("attachment.db").set("volume", old_ref("volume.db")),
            update("volume.db").storage(StorageAction::Extend {
                from_gib: 10,
                to_gib: 20,
            }),
        ]);
        let graph = build(&plan).unwrap();
        assert_edge(
            &graph,
            ("volume.db", Update),
            ("attachment.db", Create),
            EdgeReason::Reference,
        );
    }

    #[test]
    fn depends_on_orders_creates() {
        let plan = plan(vec![create("volume.a").depends("volume.b"), create("volume.b")]);
        let graph = build(&plan).unwrap();
        assert_edge(
            &graph,
            ("volume.b", Create),
            ("volume.a", Create),
            EdgeReason::DependsOn,
        );
        let (a, b) = (op(&graph, "volume.a", Create), op(&graph, "volume.b", Create));
        assert_eq!(graph.dependencies(a).collect::<Vec<_>>(), [b]);
        assert_eq!(graph.dependents(b).collect::<Vec<_>>(), [a]);
        assert_eq!(graph.dependencies(b).count(), 0);
        assert_eq!(graph.edges(), [(b, a, EdgeReason::DependsOn)]);
    }

    #[test]
    fn keyed_instances_depending_on_a_whole_resource_wait_for_every_instance() {
        let plan = plan(vec![
            create("snapshot.s[0]").depends("volume.v"),
            create("snapshot.s[1]").depends("volume.v"),
            create("volume.v[\"a\"]"),
            create("volume.v[\"b\"]"),
            create("volume.other"),
        ]);
        let graph = build(&plan).unwrap();
        for snapshot in ["snapshot.s[0]", "snapshot.s[1]"] {
            for volume in ["volume.v[\"a\"]", "volume.v[\"b\"]"] {
                assert_edge(&graph, (volume, Create), (snapshot, Create), EdgeReason::DependsOn);
            }
            assert_eq!(
                graph.edge(op(&graph, "volume.other", Create), op(&graph, snapshot, Create)),
                None
            );
        }
        assert_eq!(graph.edges().len(), 4);
    }

    #[test]
    fn a_value_naming_one_instance_narrows_a_whole_resource_dependency() {
        let plan = plan(vec![
            create("volume.v[\"a\"]"),
            create("volume.v[\"b\"]"),
            create("snapshot.s[\"a\"]")
                .set("volume", new_ref("volume.v[\"a\"]"))
                .depends("volume.v"),
        ]);
        let graph = build(&plan).unwrap();
        assert_edge(
            &graph,
            ("volume.v[\"a\"]", Create),
            ("snapshot.s[\"a\"]", Create),
            EdgeReason::Reference,
        );
        assert_eq!(graph.edges().len(), 1);
    }

    #[test]
    fn deletes_run_in_reverse_dependency_order() {
        // Plan order is creation order; the deletes must run the other way round.
        let plan = plan(vec![
            delete("qos.gold"),
            delete("volume_type.ssd")
                .set("qos", old_ref("qos.gold"))
                .depends("qos.gold"),
            delete("volume.db")
                .set("type", old_ref("volume_type.ssd"))
                .depends("volume_type.ssd"),
            delete("snapshot.s")
                .set("volume", old_ref("volume.db"))
                .depends("volume.db"),
            delete("image.img").depends("volume.db"),
        ]);
        let graph = build(&plan).unwrap();
        assert_edge(
            &graph,
            ("snapshot.s", Delete),
            ("volume.db", Delete),
            EdgeReason::SnapshotsBeforeVolumeDelete,
        );
        assert_edge(
            &graph,
            ("volume.db", Delete),
            ("volume_type.ssd", Delete),
            EdgeReason::VolumeBeforeTypeDelete,
        );
        assert_edge(
            &graph,
            ("volume_type.ssd", Delete),
            ("qos.gold", Delete),
            EdgeReason::TypeBeforeQosDelete,
        );
        assert_edge(
            &graph,
            ("image.img", Delete),
            ("volume.db", Delete),
            EdgeReason::DeleteBeforeDependencyDelete,
        );
        assert_eq!(
            order(&graph),
            [
                "snapshot.s (delete)",
                "image.img (delete)",
                "volume.db (delete)",
                "volume_type.ssd (delete)",
                "qos.gold (delete)"
            ]
        );
    }

    #[test]
    fn a_replaced_dependency_waits_for_its_replaced_dependents_to_be_deleted() {
        let plan = plan(vec![
            change("volume.db", Action::DeleteThenCreate),
            change("attachment.db", Action::DeleteThenCreate)
                .set_before("volume", old_ref("volume.db"))
                .set_after("volume", new_ref("volume.db"))
                .depends("volume.db"),
            change("image.db", Action::DeleteThenCreate).depends("volume.db"),
        ]);
        let graph = build(&plan).unwrap();
        assert_edge(
            &graph,
            ("attachment.db", Delete),
            ("volume.db", Delete),
            EdgeReason::DetachBeforeVolumeChange,
        );
        assert_edge(
            &graph,
            ("image.db", Delete),
            ("volume.db", Delete),
            EdgeReason::DeleteBeforeDependencyDelete,
        );
        assert_edge(
            &graph,
            ("volume.db", Create),
            ("attachment.db", Create),
            EdgeReason::Reference,
        );
        assert_edge(
            &graph,
            ("volume.db", Create),
            ("image.db", Create),
            EdgeReason::DependsOn,
        );
        assert_eq!(
            order(&graph),
            [
                "attachment.db (delete)",
                "image.db (delete)",
                "volume.db (delete)",
                "volume.db (create)",
                "attachment.db (create)",
                "image.db (create)"
            ]
        );
    }

    #[test]
    fn the_old_half_of_create_before_destroy_outlives_what_moves_to_the_new_half() {
        let plan = plan(vec![
            change("volume_type.ssd", Action::CreateThenDelete),
            update("volume.db")
                .set_before("type", old_ref("volume_type.ssd"))
                .set_after("type", new_ref("volume_type.ssd"))
                .storage(StorageAction::Retype {
                    from: id("volume_type.ssd"),
                    to: "new".to_owned(),
                }),
            create("snapshot.s").depends("volume_type.ssd"),
        ]);
        let graph = build(&plan).unwrap();
        assert_edge(
            &graph,
            ("volume_type.ssd", Create),
            ("volume.db", Update),
            EdgeReason::TypeBeforeVolume,
        );
        assert_edge(
            &graph,
            ("volume.db", Update),
            ("volume_type.ssd", Delete),
            EdgeReason::DependentsBeforeOldDelete,
        );
        assert_edge(
            &graph,
            ("snapshot.s", Create),
            ("volume_type.ssd", Delete),
            EdgeReason::DependentsBeforeOldDelete,
        );
        assert_eq!(
            order(&graph),
            [
                "volume_type.ssd (create)",
                "volume.db (update)",
                "snapshot.s (create)",
                "volume_type.ssd (delete)"
            ]
        );
    }

    fn backup(at: &str, action: Action, volume: &str, store: &str, mode: &str) -> Change {
        let reference = if action == Action::Delete {
            old_ref(volume)
        } else {
            new_ref(volume)
        };
        change(at, action)
            .set("volume", reference)
            .set("store", s(store))
            .set("mode", s(mode))
    }

    #[test]
    fn an_incremental_backup_is_taken_after_the_full_backup_of_its_volume() {
        let plan = plan(vec![
            backup("backup.inc1", Action::Create, "volume.db", "nfs", "incremental"),
            backup("backup.inc2", Action::Create, "volume.db", "nfs", "incremental"),
            backup("backup.full", Action::Create, "volume.db", "nfs", "full"),
            backup("backup.logs_full", Action::Create, "volume.logs", "nfs", "full"),
            backup("backup.offsite_inc", Action::Create, "volume.db", "s3", "incremental"),
            create("volume.db"),
            create("volume.logs"),
        ]);
        let graph = build(&plan).unwrap();
        assert_edge(
            &graph,
            ("backup.full", Create),
            ("backup.inc1", Create),
            EdgeReason::IncrementalAfterParent,
        );
        assert_edge(
            &graph,
            ("backup.inc1", Create),
            ("backup.inc2", Create),
            EdgeReason::IncrementalAfterParent,
        );
        let unrelated = [
            ("backup.logs_full", "backup.inc1"),
            ("backup.full", "backup.offsite_inc"),
        ];
        for (full, incremental) in unrelated {
            assert_eq!(
                graph.edge(op(&graph, full, Create), op(&graph, incremental, Create)),
                None
            );
        }
        assert_edge(
            &graph,
            ("volume.db", Create),
            ("backup.full", Create),
            EdgeReason::Reference,
        );
    }

    #[test]
    fn an_incremental_backup_with_a_known_parent_waits_for_that_parent() {
        let plan = plan(vec![
            backup("backup.inc", Action::Create, "volume.db", "nfs", "incremental").set("parent", s("backup.base")),
            backup("backup.by_id", Action::Create, "volume.db", "nfs", "incremental")
                .set("parent", s(&id("backup.other"))),
            backup("backup.base", Action::Create, "volume.db", "nfs", "full"),
            backup("backup.other", Action::Create, "volume.logs", "nfs", "full"),
        ]);
        let graph = build(&plan).unwrap();
        assert_edge(
            &graph,
            ("backup.base", Create),
            ("backup.inc", Create),
            EdgeReason::IncrementalAfterParent,
        );
        assert_edge(
            &graph,
            ("backup.other", Create),
            ("backup.by_id", Create),
            EdgeReason::IncrementalAfterParent,
        );
        // The known parent is the parent: not every full of the volume.
        assert_eq!(
            graph.edge(op(&graph, "backup.base", Create), op(&graph, "backup.by_id", Create)),
            None
        );
    }

    #[test]
    fn backups_are_deleted_newest_first() {
        let taken = |change: Change, seconds: f64| change.set("created_at", Value::Number(seconds));
        let plan = plan(vec![
            taken(
                backup("backup.full1", Action::Delete, "volume.db", "nfs", "full"),
                100.0,
            ),
            taken(
                backup("backup.inc1", Action::Delete, "volume.db", "nfs", "incremental"),
                200.0,
            ),
            taken(
                backup("backup.full2", Action::Delete, "volume.db", "nfs", "full"),
                300.0,
            ),
            taken(
                backup("backup.inc2", Action::Delete, "volume.db", "nfs", "incremental"),
                400.0,
            ),
            taken(
                backup("backup.logs", Action::Delete, "volume.logs", "nfs", "full"),
                500.0,
            ),
        ]);
        let graph = build(&plan).unwrap();
        let reason = EdgeReason::NewestBackupDeletedFirst;
        assert_edge(&graph, ("backup.inc2", Delete), ("backup.full2", Delete), reason);
        assert_edge(&graph, ("backup.full2", Delete), ("backup.inc1", Delete), reason);
        assert_edge(&graph, ("backup.inc1", Delete), ("backup.full1", Delete), reason);
        assert_eq!(
            graph.edges().len(),
            3,
            "backups of another volume are a chain of their own"
        );
        assert_eq!(
            order(&graph),
            [
                "backup.inc2 (delete)",
                "backup.full2 (delete)",
                "backup.inc1 (delete)",
                "backup.full1 (delete)",
                "backup.logs (delete)"
            ]
        );
    }

    #[test]
    fn a_full_backup_is_deleted_after_its_incrementals_when_times_are_missing_or_text() {
        let plan = plan(vec![
            backup("backup.full", Action::Delete, "volume.db", "nfs", "full"),
            backup("backup.inc1", Action::Delete, "volume.db", "nfs", "incremental"),
            backup("backup.inc2", Action::Delete, "volume.db", "nfs", "incremental")
                .set("parent", s(&id("backup.inc1"))),
            backup("backup.text_old", Action::Delete, "volume.logs", "nfs", "full")
                .set("created_at", s("2024-01-02T03:04:05Z")),
            backup("backup.text_new", Action::Delete, "volume.logs", "nfs", "incremental")
                .set("created_at", s("2024-02-02T03:04:05Z")),
        ]);
        let graph = build(&plan).unwrap();
        let reason = EdgeReason::NewestBackupDeletedFirst;
        assert_edge(&graph, ("backup.inc2", Delete), ("backup.inc1", Delete), reason);
        assert_edge(&graph, ("backup.inc1", Delete), ("backup.full", Delete), reason);
        assert_edge(&graph, ("backup.text_new", Delete), ("backup.text_old", Delete), reason);
    }

    #[test]
    fn snapshots_are_deleted_before_their_volume_even_when_it_is_replaced() {
        for action in [Action::Delete, Action::DeleteThenCreate, Action::CreateThenDelete] {
            let plan = plan(vec![
                change("volume.db", action),
                delete("snapshot.s").set("volume", old_ref("volume.db")),
                delete("snapshot.other").set("volume", old_ref("volume.logs")),
                change("volume.logs", Action::NoOp),
            ]);
            let graph = build(&plan).unwrap();
            assert_edge(
                &graph,
                ("snapshot.s", Delete),
                ("volume.db", Delete),
                EdgeReason::SnapshotsBeforeVolumeDelete,
            );
            assert_eq!(graph.dependents(op(&graph, "snapshot.other", Delete)).count(), 0);
        }
    }

    #[test]
    fn a_volume_is_detached_before_it_is_deleted_replaced_retyped_or_made_bootable() {
        let retype = StorageAction::Retype {
            from: "type-a".to_owned(),
            to: "type-b".to_owned(),
        };
        let cases = [
            (delete("volume.db"), Some(Delete)),
            (change("volume.db", Action::DeleteThenCreate), Some(Delete)),
            (change("volume.db", Action::CreateThenDelete), Some(Delete)),
            (update("volume.db").storage(retype), Some(Update)),
            (
                update("volume.db")
                    .set_before("bootable", Value::Bool(false))
                    .set_after("bootable", Value::Bool(true)),
                Some(Update),
            ),
            (
                update("volume.db")
                    .set("bootable", Value::Bool(true))
                    .storage(StorageAction::Extend { from_gib: 1, to_gib: 2 }),
                None,
            ),
        ];
        for (volume, step) in cases {
            let plan = plan(vec![
                volume,
                delete("attachment.db").set("volume", old_ref("volume.db")),
            ]);
            let graph = build(&plan).unwrap();
            match step {
                Some(step) => {
                    assert_edge(
                        &graph,
                        ("attachment.db", Delete),
                        ("volume.db", step),
                        EdgeReason::DetachBeforeVolumeChange,
                    );
                }
                None => assert!(graph.edges().is_empty(), "an extend works on an attached volume"),
            }
        }
    }

    #[test]
    fn a_qos_rule_is_created_before_its_type_and_deleted_after_it() {
        // No recorded dependencies: the `qos` values alone give the order.
        let plan = plan(vec![
            create("volume_type.fast").set("qos", new_ref("qos.fast")),
            create("qos.fast"),
            delete("qos.old"),
            delete("volume_type.old").set("qos", old_ref("qos.old")),
            delete("qos.dropped"),
            update("volume_type.kept")
                .set_before("qos", old_ref("qos.dropped"))
                .set_after("qos", Value::Null),
        ]);
        let graph = build(&plan).unwrap();
        assert_edge(
            &graph,
            ("qos.fast", Create),
            ("volume_type.fast", Create),
            EdgeReason::QosBeforeType,
        );
        assert_edge(
            &graph,
            ("volume_type.old", Delete),
            ("qos.old", Delete),
            EdgeReason::TypeBeforeQosDelete,
        );
        assert_edge(
            &graph,
            ("volume_type.kept", Update),
            ("qos.dropped", Delete),
            EdgeReason::TypeBeforeQosDelete,
        );
    }

    #[test]
    fn a_type_is_created_before_its_volumes_and_deleted_after_they_leave_it() {
        let retype = StorageAction::Retype {
            from: id("volume_type.old"),
            to: id("volume_type.new"),
        };
        let plan = plan(vec![
            create("volume.db").set("type", old_ref("volume_type.new")),
            update("volume_type.new"),
            update("volume.logs")
                .set_before("type", old_ref("volume_type.old"))
                .set_after("type", old_ref("volume_type.new"))
                .storage(retype),
            delete("volume_type.old"),
        ]);
        let graph = build(&plan).unwrap();
        assert_edge(
            &graph,
            ("volume_type.new", Update),
            ("volume.db", Create),
            EdgeReason::TypeBeforeVolume,
        );
        assert_edge(
            &graph,
            ("volume_type.new", Update),
            ("volume.logs", Update),
            EdgeReason::TypeBeforeVolume,
        );
        assert_edge(
            &graph,
            ("volume.logs", Update),
            ("volume_type.old", Delete),
            EdgeReason::VolumeBeforeTypeDelete,
        );
    }

    #[test]
    fn twenty_thousand_deletes_build_without_comparing_every_pair() {
        let count = 10_000;
        let mut changes = Vec::with_capacity(2 * count);
        for i in 0..count {
            changes.push(delete(&format!("volume.v[{i}]")));
        }
        for i in 0..count {
            // State records the whole resource as the dependency; the value names the instance.
            let snapshot = delete(&format!("snapshot.s[{i}]")).set("volume", old_ref(&format!("volume.v[{i}]")));
            changes.push(snapshot.depends("volume.v"));
        }
        let plan = plan(changes);
        let graph = build(&plan).unwrap();
        assert_eq!(graph.len(), 2 * count);
        assert_eq!(graph.edges().len(), count);
        for i in [0, 4_321, count - 1] {
            let (volume, snapshot) = (graph.operations_of(i).start, graph.operations_of(count + i).start);
            assert_eq!(
                graph.edge(snapshot, volume),
                Some(EdgeReason::SnapshotsBeforeVolumeDelete)
            );
        }
        let order = graph.topological_order();
        assert_eq!(order.len(), 2 * count);
        assert_eq!(order[0], count, "the first snapshot delete is ready first");
    }
}
