//! The operation graph of a plan: which operation must finish before which may start.
//!
//! [`build`] turns every change of a [`Plan`](crate::plan::Plan) into operations (one, or two for
//! a replacement) and connects them by what they refer to and by the storage ordering rules of
//! DESIGN.md: incremental backups after their parent, backups deleted newest first, snapshots
//! and attachments gone before their volume, QoS rules around their types, types before their
//! volumes. The apply engine walks the graph; `blockform graph` prints it with [`to_dot`]. Pure:
//! no I/O, so every rule is tested on plans built by hand.

mod build;
mod dot;
#[cfg(test)]
mod fixtures;
mod order;

use std::fmt;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::Address;

pub use build::build;
pub use dot::{DotKind, to_dot};

/// An operation's position in [`OperationGraph::operations`]; operations are numbered in plan
/// order, so a lower id means earlier in the plan.
pub type OpId = usize;

/// What one operation does to its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// Create a new object.
    Create,
    /// Change the object in place.
    Update,
    /// Delete the object.
    Delete,
}

impl OpKind {
    /// The verb as people read it (`create`).
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Update => "update",
            OpKind::Delete => "delete",
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One step of the apply: a create, update or delete of one resource instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The change it carries out, as an index into `plan.changes`.
    pub change: usize,
    /// What it does.
    pub kind: OpKind,
    /// The resource instance.
    pub address: Address,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.address, self.kind)
    }
}

/// Why one operation must finish before another starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdgeReason {
    /// A value of the later one refers to the object the earlier one makes (`volume.db.id`).
    Reference,
    /// The later one's resource lists the earlier one's in its dependencies (`depends_on`, or
    /// references recorded without a value that names the instance).
    DependsOn,
    /// An object is deleted before what it depended on is deleted.
    DeleteBeforeDependencyDelete,
    /// A replacement deletes the old object before creating the new one.
    ReplaceDeleteBeforeCreate,
    /// A replacement creates the new object before deleting the old one (`create_before_destroy`).
    ReplaceCreateBeforeDelete,
    /// The old half of a `create_before_destroy` replacement waits until what depends on it has
    /// moved to the new object.
    DependentsBeforeOldDelete,
    /// An incremental backup is taken after its parent (DESIGN rule 1).
    IncrementalAfterParent,
    /// Backups of a volume are deleted newest first, a full after its incrementals (rule 2).
    NewestBackupDeletedFirst,
    /// A volume's snapshots are deleted before the volume (rule 3).
    SnapshotsBeforeVolumeDelete,
    /// A volume is detached before it is deleted, replaced, retyped or made (non-)bootable (rule 4).
    DetachBeforeVolumeChange,
    /// A QoS rule exists before the type that uses it (rule 5).
    QosBeforeType,
    /// A type lets go of its QoS rule (deleted or disassociated) before the rule is deleted (rule 5).
    TypeBeforeQosDelete,
    /// A type exists before its volumes (rule 5).
    TypeBeforeVolume,
    /// A volume lets go of its type (deleted or retyped) before the type is deleted.
    VolumeBeforeTypeDelete,
}

impl EdgeReason {
    /// The rule's name, as the apply graph labels its edges (`snapshots_before_volume_delete`).
    pub fn name(self) -> &'static str {
        match self {
            EdgeReason::Reference => "reference",
            EdgeReason::DependsOn => "depends_on",
            EdgeReason::DeleteBeforeDependencyDelete => "delete_before_dependency_delete",
            EdgeReason::ReplaceDeleteBeforeCreate => "replace_delete_before_create",
            EdgeReason::ReplaceCreateBeforeDelete => "replace_create_before_delete",
            EdgeReason::DependentsBeforeOldDelete => "dependents_before_old_delete",
            EdgeReason::IncrementalAfterParent => "incremental_after_parent",
            EdgeReason::NewestBackupDeletedFirst => "newest_backup_deleted_first",
            EdgeReason::SnapshotsBeforeVolumeDelete => "snapshots_before_volume_delete",
            EdgeReason::DetachBeforeVolumeChange => "detach_before_volume_change",
            EdgeReason::QosBeforeType => "qos_before_type",
            EdgeReason::TypeBeforeQosDelete => "type_before_qos_delete",
            EdgeReason::TypeBeforeVolume => "type_before_volume",
            EdgeReason::VolumeBeforeTypeDelete => "volume_before_type_delete",
        }
    }
}

impl fmt::Display for EdgeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors building the graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Some operations wait for each other; none of them can ever start.
    #[error("operations form a cycle: {}", order::cycle_text(.path))]
    Cycle {
        /// Every resource instance in the cycle, in the order the cycle visits them.
        members: Vec<Address>,
        /// A closed walk through every operation of the cycle, starting and ending at the same one.
        path: Vec<Operation>,
    },
}

/// The operations of a plan and the order between them: an edge A → B means A must finish
/// before B starts. Acyclic by construction ([`build`] refuses cycles).
#[derive(Debug, Clone)]
pub struct OperationGraph {
    operations: Vec<Operation>,
    /// Node `i` is operation `i`; weights live in `operations` so they can be handed out as a slice.
    graph: DiGraph<(), EdgeReason>,
    order: Vec<OpId>,
}

impl OperationGraph {
    /// Every operation, indexed by [`OpId`], in plan order.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// How many operations there are.
    pub fn len(&self) -> usize {
        self.operations.len()
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    /// The operations that must finish before `op` starts.
    pub fn dependencies(&self, op: OpId) -> impl Iterator<Item = OpId> + '_ {
        self.graph
            .neighbors_directed(NodeIndex::new(op), Direction::Incoming)
            .map(NodeIndex::index)
    }

    /// The operations that wait for `op`.
    pub fn dependents(&self, op: OpId) -> impl Iterator<Item = OpId> + '_ {
        self.graph
            .neighbors_directed(NodeIndex::new(op), Direction::Outgoing)
            .map(NodeIndex::index)
    }

    /// Why `before` must finish before `after` starts, if there is an edge between them.
    pub fn edge(&self, before: OpId, after: OpId) -> Option<EdgeReason> {
        let edge = self.graph.find_edge(NodeIndex::new(before), NodeIndex::new(after))?;
        self.graph.edge_weight(edge).copied()
    }

    /// Every edge as `(before, after, reason)`, sorted by `before` then `after`.
    pub fn edges(&self) -> Vec<(OpId, OpId, EdgeReason)> {
        let mut edges: Vec<_> = self
            .graph
            .raw_edges()
            .iter()
            .map(|e| (e.source().index(), e.target().index(), e.weight))
            .collect();
        edges.sort_unstable_by_key(|&(before, after, _)| (before, after));
        edges
    }

    /// The operations of one change (index into `plan.changes`), in the order they run: a
    /// replacement's two operations are numbered in their action's order.
    pub fn operations_of(&self, change: usize) -> std::ops::Range<OpId> {
        let start = self.operations.partition_point(|op| op.change < change);
        let end = self.operations.partition_point(|op| op.change <= change);
        start..end
    }

    /// The operation of `kind` on `address`, if the plan has one.
    pub fn find(&self, address: &Address, kind: OpKind) -> Option<OpId> {
        self.operations
            .iter()
            .position(|op| op.kind == kind && &op.address == address)
    }

    /// Every operation, each after all of its dependencies; operations free to run in either
    /// order keep their plan order.
    pub fn topological_order(&self) -> Vec<OpId> {
        self.order.clone()
    }
}
