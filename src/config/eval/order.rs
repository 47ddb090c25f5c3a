//! The order of evaluation: a graph with an edge from every local, resource, provider, backup
//! store and output to each one it refers to, walked dependencies first. A cycle is reported as
//! the chain of the items in it, in source order.

use std::collections::HashMap;
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::config::declarations::Config;
use crate::config::expr::{Reference, references};
use crate::config::load::RawBlock;
use crate::diagnostics::{Diagnostic, Diagnostics, FileId, Span};
use crate::model::ResourceKind;

/// A node of the evaluation graph: an item by its index in its list of the [`Config`].
#[derive(Debug, Clone, Copy)]
pub(super) enum Node {
    Local(usize),
    Resource(usize),
    Provider(usize),
    Store(usize),
    Output(usize),
}

/// The items of a configuration in the order they are evaluated.
pub(super) struct Order {
    graph: DiGraph<Node, ()>,
    /// Strongly connected components, dependencies first.
    components: Vec<Vec<NodeIndex>>,
}

impl Order {
    /// Every item, each after the items it refers to (the members of a cycle in any order).
    pub(super) fn nodes(&self) -> impl Iterator<Item = Node> + '_ {
        self.components.iter().flatten().map(|&node| self.graph[node])
    }
}

/// Orders the items of `config` by their references (`resource_refs`: each resource's
/// references by attribute), reporting cycles.
pub(super) fn order(
    config: &Config,
    resource_refs: &[Arc<HashMap<String, Vec<Reference>>>],
    diagnostics: &mut Diagnostics,
) -> Order {
    // The graph: an edge from every item to each item it refers to.
    let mut graph: DiGraph<Node, ()> = DiGraph::new();
    let mut local_nodes: HashMap<&str, NodeIndex> = HashMap::new();
    let mut resource_nodes: HashMap<(ResourceKind, &str), NodeIndex> = HashMap::new();
    // References of locals, providers, stores and outputs by node; resources keep theirs by attribute.
    let mut node_refs: Vec<Vec<Reference>> = Vec::new();
    let mut add = |graph: &mut DiGraph<Node, ()>, node: Node, refs: Vec<Reference>| {
        node_refs.push(refs);
        graph.add_node(node)
    };
    for (i, (attr, file)) in config.locals.iter().enumerate() {
        let n = add(&mut graph, Node::Local(i), references(&attr.expr, *file));
        local_nodes.insert(attr.name.as_str(), n);
    }
    for (i, (kind, decl)) in config.resources.iter().enumerate() {
        let n = add(&mut graph, Node::Resource(i), Vec::new());
        resource_nodes.insert((*kind, decl.name.as_str()), n);
    }
    for (i, decl) in config.providers.iter().enumerate() {
        add(&mut graph, Node::Provider(i), block_references(&decl.block, decl.file));
    }
    for (i, decl) in config.stores.iter().enumerate() {
        add(&mut graph, Node::Store(i), block_references(&decl.block, decl.file));
    }
    for (i, decl) in config.outputs.iter().enumerate() {
        add(&mut graph, Node::Output(i), block_references(&decl.block, decl.file));
    }
    for from in graph.node_indices() {
        let refs: Box<dyn Iterator<Item = &Reference>> = match graph[from] {
            Node::Resource(i) => Box::new(resource_refs[i].values().flatten()),
            _ => Box::new(node_refs[from.index()].iter()),
        };
        for reference in refs {
            let target = match (reference.root.as_str(), reference.name.as_deref()) {
                ("local", Some(name)) => local_nodes.get(name).copied(),
                (root, Some(name)) => {
                    ResourceKind::from_name(root).and_then(|k| resource_nodes.get(&(k, name)).copied())
                }
                _ => None,
            };
            if let Some(to) = target {
                graph.update_edge(from, to, ());
            }
        }
    }

    // Tarjan's algorithm yields components dependencies-first; a component of more than one
    // node, or a node referring to itself, is a cycle.
    let components = petgraph::algo::tarjan_scc(&graph);
    for component in &components {
        let is_cycle = component.len() > 1 || graph.contains_edge(component[0], component[0]);
        if is_cycle {
            diagnostics.push(cycle_diagnostic(config, &graph, component));
        }
    }
    Order { graph, components }
}

fn block_references(block: &RawBlock, file: FileId) -> Vec<Reference> {
    let mut refs = Vec::new();
    for attr in block.attrs.values() {
        refs.extend(references(&attr.expr, file));
    }
    for nested in &block.blocks {
        // `lifecycle.ignore_changes` names attributes; they are not references.
        if nested.ident != "lifecycle" {
            refs.extend(block_references(nested, file));
        }
    }
    refs
}

fn node_label(config: &Config, node: Node) -> (String, Span) {
    match node {
        Node::Local(i) => (
            format!("local.{}", config.locals[i].0.name),
            config.locals[i].0.name_span.clone(),
        ),
        Node::Resource(i) => {
            let (kind, decl) = &config.resources[i];
            (format!("{kind}.{}", decl.name), decl.block.header_span.clone())
        }
        Node::Provider(i) => (
            format!("provider {}", config.providers[i].name),
            config.providers[i].block.header_span.clone(),
        ),
        Node::Store(i) => (
            format!("backup_store {}", config.stores[i].name),
            config.stores[i].block.header_span.clone(),
        ),
        Node::Output(i) => (
            format!("output.{}", config.outputs[i].name),
            config.outputs[i].block.header_span.clone(),
        ),
    }
}

fn cycle_diagnostic(config: &Config, graph: &DiGraph<Node, ()>, component: &[NodeIndex]) -> Diagnostic {
    // Walk the cycle from its first member in source order so the message reads as a chain.
    let mut members: Vec<NodeIndex> = component.to_vec();
    members.sort_by_key(|n| {
        let (_, span) = node_label(config, graph[*n]);
        (span.file, span.range.start)
    });
    let mut chain = vec![members[0]];
    let mut current = members[0];
    while chain.len() < members.len() {
        let next = graph
            .neighbors(current)
            .find(|n| members.contains(n) && !chain.contains(n));
        match next {
            Some(n) => {
                chain.push(n);
                current = n;
            }
            None => break,
        }
    }
    for m in &members {
        if !chain.contains(m) {
            chain.push(*m);
        }
    }
    let labels: Vec<(String, Span)> = chain.iter().map(|n| node_label(config, graph[*n])).collect();
    let mut names: Vec<String> = labels.iter().map(|(l, _)| l.clone()).collect();
    names.push(labels[0].0.clone());
    let mut d = Diagnostic::error(format!("dependency cycle: {}", names.join(" → ")))
        .at(labels[0].1.clone(), format!("{} is part of the cycle", labels[0].0))
        .help("break the cycle: one of these must not refer to the next");
    for (label, span) in labels.iter().skip(1) {
        d = d.related(span.clone(), format!("{label} is part of the cycle"));
    }
    d
}
