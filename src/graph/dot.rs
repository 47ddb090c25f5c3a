//! The graph as Graphviz DOT text, for `blockform graph` (as `terraform graph` prints it): the
//! plan graph has one node per change, the apply graph one per operation with each edge labelled
//! by the rule that put it there. Nodes and edges come in plan order, so the text is the same
//! for the same plan.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};

use super::{OpKind, OperationGraph};
use crate::plan::{Action, Change, Plan, StorageAction};

/// Which graph to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DotKind {
    /// One node per change, labelled with its action.
    Plan,
    /// One node per operation (a replacement is two), edges labelled with their rule.
    Apply,
}

/// The graph as DOT text; an edge A → B means A finishes before B starts.
pub fn to_dot(graph: &OperationGraph, plan: &Plan, kind: DotKind) -> String {
    let mut out = String::new();
    // Writing into a `String` cannot fail.
    let _ = write_dot(&mut out, graph, plan, kind);
    out
}

fn write_dot(out: &mut String, graph: &OperationGraph, plan: &Plan, kind: DotKind) -> fmt::Result {
    writeln!(out, "digraph {{")?;
    writeln!(out, "\tnode [shape = \"box\"]")?;
    match kind {
        DotKind::Plan => plan_graph(out, graph, plan)?,
        DotKind::Apply => apply_graph(out, graph, plan)?,
    }
    writeln!(out, "}}")
}

fn plan_graph(out: &mut String, graph: &OperationGraph, plan: &Plan) -> fmt::Result {
    let operations = graph.operations();
    let mut drawn = BTreeSet::new();
    for op in operations {
        if drawn.insert(op.change) {
            let change = &plan.changes[op.change];
            let node = change.address.to_string();
            writeln!(
                out,
                "\t{} [label = {}]",
                quote(&node),
                label(&node, &change_words(change))
            )?;
        }
    }
    let pairs: BTreeSet<(usize, usize)> = graph
        .edges()
        .into_iter()
        .map(|(before, after, _)| (operations[before].change, operations[after].change))
        .filter(|(before, after)| before != after)
        .collect();
    for (before, after) in pairs {
        let (before, after) = (&plan.changes[before].address, &plan.changes[after].address);
        writeln!(out, "\t{} -> {}", quote(&before.to_string()), quote(&after.to_string()))?;
    }
    Ok(())
}

fn apply_graph(out: &mut String, graph: &OperationGraph, plan: &Plan) -> fmt::Result {
    let operations = graph.operations();
    for op in operations {
        let words = operation_words(&plan.changes[op.change], op.kind);
        writeln!(
            out,
            "\t{} [label = {}]",
            quote(&op.to_string()),
            label(&op.address.to_string(), &words)
        )?;
    }
    for (before, after, reason) in graph.edges() {
        let (before, after) = (operations[before].to_string(), operations[after].to_string());
        writeln!(
            out,
            "\t{} -> {} [label = {}]",
            quote(&before),
            quote(&after),
            quote(reason.name())
        )?;
    }
    Ok(())
}

/// `"volume.db\n(create)"`: the address over what happens to it.
fn label(address: &str, words: &str) -> String {
    format!("\"{}\\n({})\"", escape(address), escape(words))
}

/// What a change does, in words: its action and, if any, its storage action (`update, extend`).
fn change_words(change: &Change) -> String {
    let action = match change.action {
        Action::NoOp => "no-op",
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
        Action::DeleteThenCreate => "replace, delete first",
        Action::CreateThenDelete => "replace, create first",
    };
    match &change.storage {
        Some(storage) => format!("{action}, {}", storage.verb()),
        None => action.to_owned(),
    }
}

/// What one operation does, with the storage action it carries out (`delete, detach`).
fn operation_words(change: &Change, kind: OpKind) -> String {
    let storage = change.storage.as_ref().filter(|s| storage_step(s) == kind);
    match storage {
        Some(storage) => format!("{kind}, {}", storage.verb()),
        None => kind.name().to_owned(),
    }
}

/// The operation that carries out a storage action.
fn storage_step(action: &StorageAction) -> OpKind {
    match action {
        StorageAction::Attach | StorageAction::Backup | StorageAction::Restore => OpKind::Create,
        StorageAction::Extend { .. } | StorageAction::Retype { .. } => OpKind::Update,
        StorageAction::Detach | StorageAction::Prune => OpKind::Delete,
    }
}

fn quote(text: &str) -> String {
    format!("\"{}\"", escape(text))
}

/// Escapes a DOT string's quotes and backslashes (instance keys may hold either).
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::super::build;
    use super::super::fixtures::{Shape, change, create, delete, new_ref, old_ref, plan};
    use super::*;

    fn small_plan() -> Plan {
        plan(vec![
            create("volume_type.ssd"),
            change("volume.db", Action::DeleteThenCreate).set_after("type", new_ref("volume_type.ssd")),
            create("attachment.db[\"vm-1\"]")
                .set("volume", new_ref("volume.db"))
                .storage(StorageAction::Attach),
            delete("snapshot.old").set("volume", old_ref("volume.db")),
            change("volume.logs", Action::NoOp),
        ])
    }

    #[test]
    fn plan_graph_has_one_node_per_change() {
        let plan = small_plan();
        let dot = to_dot(&build(&plan).unwrap(), &plan, DotKind::Plan);
        insta::assert_snapshot!(dot, @r#"
        digraph {
        	node [shape = "box"]
        	"volume_type.ssd" [label = "volume_type.ssd\n(create)"]
        	"volume.db" [label = "volume.db\n(replace, delete first)"]
        	"attachment.db[\"vm-1\"]" [label = "attachment.db[\"vm-1\"]\n(create, attach)"]
        	"snapshot.old" [label = "snapshot.old\n(delete)"]
        	"volume_type.ssd" -> "volume.db"
        	"volume.db" -> "attachment.db[\"vm-1\"]"
        	"snapshot.old" -> "volume.db"
        }
        "#);
    }

    #[test]
    fn apply_graph_has_one_node_per_operation_and_labels_edges_with_their_rule() {
        let plan = small_plan();
        let dot = to_dot(&build(&plan).unwrap(), &plan, DotKind::Apply);
        insta::assert_snapshot!(dot, @r#"
        digraph {
        	node [shape = "box"]
        	"volume_type.ssd (create)" [label = "volume_type.ssd\n(create)"]
        	"volume.db (delete)" [label = "volume.db\n(delete)"]
        	"volume.db (create)" [label = "volume.db\n(create)"]
        	"attachment.db[\"vm-1\"] (create)" [label = "attachment.db[\"vm-1\"]\n(create, attach)"]
        	"snapshot.old (delete)" [label = "snapshot.old\n(delete)"]
        	"volume_type.ssd (create)" -> "volume.db (create)" [label = "type_before_volume"]
        	"volume.db (delete)" -> "volume.db (create)" [label = "replace_delete_before_create"]
        	"volume.db (create)" -> "attachment.db[\"vm-1\"] (create)" [label = "reference"]
        	"snapshot.old (delete)" -> "volume.db (delete)" [label = "snapshots_before_volume_delete"]
        }
        "#);
    }

    #[test]
    fn an_empty_plan_is_an_empty_graph() {
        let plan = plan(Vec::new());
        assert_eq!(
            to_dot(&build(&plan).unwrap(), &plan, DotKind::Apply),
            "digraph {\n\tnode [shape = \"box\"]\n}\n"
        );
    }
}
