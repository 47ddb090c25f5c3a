//! The order operations run in, and the error when there is none: a topological sort that
//! keeps plan order among operations free to run in either order, and a cycle report that names
//! every operation caught in the cycle.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use super::{EdgeReason, GraphError, OpId, Operation};

/// Every node after all of its predecessors, ties broken by the lower id (plan order); `None`
/// when the graph has a cycle.
pub(super) fn topological_order(graph: &DiGraph<(), EdgeReason>) -> Option<Vec<OpId>> {
    let mut waiting: Vec<usize> = graph
        .node_indices()
        .map(|n| graph.edges_directed(n, Direction::Incoming).count())
        .collect();
    let mut ready: BinaryHeap<Reverse<OpId>> = waiting
        .iter()
        .enumerate()
        .filter(|(_, w)| **w == 0)
        .map(|(op, _)| Reverse(op))
        .collect();
    let mut order = Vec::with_capacity(waiting.len());
    while let Some(Reverse(op)) = ready.pop() {
        order.push(op);
        for next in graph.neighbors_directed(NodeIndex::new(op), Direction::Outgoing) {
            let count = &mut waiting[next.index()];
            *count -= 1;
            if *count == 0 {
                ready.push(Reverse(next.index()));
            }
        }
    }
    (order.len() == waiting.len()).then_some(order)
}

/// The error for a graph that has a cycle: the strongly connected component holding the
/// earliest operation caught in one, walked so that every member shows.
pub(super) fn cycle_error(graph: &DiGraph<(), EdgeReason>, operations: &[Operation]) -> GraphError {
    let component = petgraph::algo::tarjan_scc(graph)
        .into_iter()
        .filter(|c| c.len() > 1)
        .min_by_key(|c| c.iter().map(|n| n.index()).min())
        .unwrap_or_default();
    let mut members: Vec<OpId> = component.iter().map(|n| n.index()).collect();
    members.sort_unstable();
    let walk = closed_walk(graph, &members);
    let mut addresses = Vec::new();
    for op in &walk {
        let address = &operations[*op].address;
        if !addresses.contains(address) {
            addresses.push(address.clone());
        }
    }
    GraphError::Cycle {
        members: addresses,
        path: walk.into_iter().map(|op| operations[op].clone()).collect(),
    }
}

/// A walk from the first member through every other member and back, using only edges inside
/// the component (it is strongly connected, so each leg exists).
fn closed_walk(graph: &DiGraph<(), EdgeReason>, members: &[OpId]) -> Vec<OpId> {
    let Some(&start) = members.first() else {
        return Vec::new();
    };
    let inside: HashSet<OpId> = members.iter().copied().collect();
    let mut walk = vec![start];
    let mut visited: HashSet<OpId> = HashSet::from([start]);
    let mut at = start;
    for &member in &members[1..] {
        if visited.contains(&member) {
            continue;
        }
        let leg = shortest_path(graph, &inside, at, member);
        visited.extend(leg.iter().copied());
        walk.extend(leg);
        at = member;
    }
    walk.extend(shortest_path(graph, &inside, at, start));
    walk
}

/// The nodes after `from` on a shortest path to `to` (ending with `to`), staying inside `inside`.
fn shortest_path(graph: &DiGraph<(), EdgeReason>, inside: &HashSet<OpId>, from: OpId, to: OpId) -> Vec<OpId> {
    let mut came_from: HashMap<OpId, OpId> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    while let Some(node) = queue.pop_front() {
        for next in graph
            .neighbors_directed(NodeIndex::new(node), Direction::Outgoing)
            .map(NodeIndex::index)
        {
            if !inside.contains(&next) || came_from.contains_key(&next) {
                continue;
            }
            came_from.insert(next, node);
            if next == to {
                let mut path = vec![to];
                let mut step = node;
                while step != from {
                    path.push(step);
                    match came_from.get(&step) {
                        Some(&previous) => step = previous,
                        None => break,
                    }
                }
                path.reverse();
                return path;
            }
            queue.push_back(next);
        }
    }
    Vec::new()
}

/// `volume.a (create) → volume.b (create) → volume.a`: the walk, its last step (the first one
/// again) named without its operation.
pub(super) fn cycle_text(path: &[Operation]) -> String {
    let mut text = String::new();
    for (i, op) in path.iter().enumerate() {
        if i > 0 {
            text.push_str(" → ");
        }
        if i + 1 == path.len() && i > 0 {
            text.push_str(&op.address.to_string());
        } else {
            text.push_str(&op.to_string());
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::super::build;
    use super::super::fixtures::{Shape, create, plan};
    use super::*;

    #[test]
    fn ties_keep_plan_order() {
        let plan = plan(vec![create("volume.c"), create("volume.a"), create("volume.b")]);
        let graph = build(&plan).unwrap();
        assert_eq!(graph.topological_order(), vec![0, 1, 2]);
    }

    #[test]
    fn mutual_dependencies_are_a_cycle_naming_both() {
        let plan = plan(vec![
            create("volume.a").depends("volume.b"),
            create("volume.b").depends("volume.a"),
            create("volume.c"),
        ]);
        let error = build(&plan).unwrap_err();
        let GraphError::Cycle { members, path } = &error;
        let names: Vec<String> = members.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["volume.a", "volume.b"]);
        assert_eq!(path.len(), 3);
        assert_eq!(
            error.to_string(),
            "operations form a cycle: volume.a (create) → volume.b (create) → volume.a"
        );
    }

    #[test]
    fn a_longer_cycle_names_every_member() {
        let plan = plan(vec![
            create("volume.a").depends("volume.c"),
            create("volume.b").depends("volume.a"),
            create("volume.c").depends("volume.b"),
            create("volume.d").depends("volume.c"),
        ]);
        let error = build(&plan).unwrap_err();
        assert_eq!(
            error.to_string(),
            "operations form a cycle: volume.a (create) → volume.b (create) → volume.c (create) → volume.a"
        );
    }

    #[test]
    fn two_cycles_sharing_a_member_show_both_in_one_walk() {
        // a ⇄ b and a ⇄ c: one strongly connected component; the walk returns through `a`.
        let plan = plan(vec![
            create("volume.a").depends("volume.b").depends("volume.c"),
            create("volume.b").depends("volume.a"),
            create("volume.c").depends("volume.a"),
        ]);
        let GraphError::Cycle { members, path } = build(&plan).unwrap_err();
        assert_eq!(members.len(), 3);
        let text: Vec<String> = path.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "volume.a (create)",
                "volume.b (create)",
                "volume.a (create)",
                "volume.c (create)",
                "volume.a (create)"
            ]
        );
    }
}
