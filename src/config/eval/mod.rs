//! Evaluation of a whole configuration: declarations are collected from the parsed files,
//! variables get their values, and locals, resources (expanded by `count` and `for_each`),
//! providers, stores and outputs are evaluated in dependency order. The result is the
//! *desired* configuration: every resource instance with its attribute values, and where each
//! value was written.
//!
//! The steps live apart: [`declarations`](super::declarations) collects the blocks,
//! [`vars`](super::vars) gives variables their values, this module orders locals, resources,
//! providers, stores and outputs into a dependency graph and evaluates them, `resources` expands
//! resource blocks into instances and `imports` reads `import` blocks. The result types are in
//! [`desired`](super::desired); they are re-exported here, where the rest of the engine has
//! always found them.

mod imports;
mod resources;

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use petgraph::graph::{DiGraph, NodeIndex};

pub use super::declarations::{Config, Decl, VariableDecl, check_block_attrs, collect, unknown_attribute};
pub use super::desired::{BlockInstance, Desired, ImportInstance, Lifecycle, OutputValue, ResourceInstance};
use super::expr::{Env, Evaluator, Reference, Scope, references};
use super::load::RawBlock;
use super::value::{Value, ValueMap};
use super::vars::{self, VarInputs};
pub use super::vars::{MissingVars, parse_var_assignment};
use crate::diagnostics::{Diagnostic, Diagnostics, FileId, SourceMap, Span};
use crate::model::{Address, ResourceKind, provider_schema, store_schema};
pub use imports::traversal_address;

/// The inputs of an evaluation besides the files.
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    /// Variable values from files, the environment and the command line.
    pub vars: VarInputs,
    /// What a variable without a value becomes.
    pub missing_vars: MissingVars,
    /// Attributes already known for existing objects (from state), by address.
    pub known: HashMap<Address, ValueMap>,
    /// `import` blocks may target resources no block declares (`plan --generate-config-out`);
    /// they come out in [`Desired::undeclared_imports`].
    pub allow_undeclared_imports: bool,
}

/// A node of the evaluation graph.
#[derive(Debug, Clone, Copy)]
enum Node {
    Local(usize),
    Resource(usize),
    Provider(usize),
    Store(usize),
    Output(usize),
}

/// Evaluates a configuration. Errors are collected into `diagnostics`; the result is as
/// complete as the errors allow (values in error become unknown).
pub fn evaluate(
    config: &mut Config,
    options: &EvalOptions,
    sources: &mut SourceMap,
    diagnostics: &mut Diagnostics,
) -> Desired {
    let mut env = Env {
        base_dir: config.dir.clone(),
        ..Env::default()
    };
    let mut desired = Desired {
        base_dir: config.dir.clone(),
        ..Desired::default()
    };
    env.vars = vars::resolve(
        config,
        &options.vars,
        options.missing_vars,
        sources,
        diagnostics,
        &mut desired.unset_variables,
    );
    desired.variables.clone_from(&env.vars);
    vars::check_validations(config, &env, diagnostics);
    env.declared_locals = config.locals.iter().map(|(a, _)| a.name.clone()).collect();
    for (kind, decl) in &config.resources {
        env.declared.entry(*kind).or_default().insert(decl.name.clone());
    }

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
    // Each resource's references by attribute, found once and shared by its instances.
    let resource_refs: Vec<Arc<HashMap<String, Vec<Reference>>>> = config
        .resources
        .iter()
        .map(|(_, decl)| {
            Arc::new(
                decl.block
                    .attrs
                    .values()
                    .map(|a| (a.name.clone(), references(&a.expr, decl.file)))
                    .collect(),
            )
        })
        .collect();
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

    for component in components {
        for node in component {
            match graph[node] {
                Node::Local(i) => {
                    let (attr, file) = &config.locals[i];
                    let value = Evaluator::new(&env, *file)
                        .eval(&attr.expr, &mut Scope::new())
                        .unwrap_or_else(|e| {
                            diagnostics.push(e.into_diagnostic());
                            Value::Unknown(format!("local.{}", attr.name))
                        });
                    env.locals.insert(attr.name.clone(), value);
                }
                Node::Resource(i) => {
                    let (kind, decl) = &config.resources[i];
                    let (value, instances) =
                        resources::evaluate_resource(*kind, decl, &resource_refs[i], &env, &options.known, diagnostics);
                    env.resources.entry(*kind).or_default().insert(decl.name.clone(), value);
                    desired.resources.extend(instances);
                    // The block's syntax tree is not read again: free it now, so a large
                    // configuration never holds all its trees and all its values at once.
                    let block = &mut config.resources[i].1.block;
                    block.attrs = IndexMap::new();
                    block.blocks = Vec::new();
                }
                Node::Provider(i) | Node::Store(i) => {
                    let is_provider = matches!(graph[node], Node::Provider(_));
                    let decl = if is_provider {
                        &config.providers[i]
                    } else {
                        &config.stores[i]
                    };
                    let instance = evaluate_block_instance(decl, is_provider, &env, diagnostics);
                    if is_provider {
                        desired.providers.insert(decl.name.clone(), instance);
                    } else {
                        desired.stores.insert(decl.name.clone(), instance);
                    }
                }
                Node::Output(i) => {
                    let decl = &config.outputs[i];
                    if let Some(output) = evaluate_output(decl, &env, diagnostics) {
                        desired.outputs.insert(decl.name.clone(), output);
                    }
                }
            }
        }
    }
    desired.outputs.sort_keys();
    let (declared, undeclared) = imports::evaluate_imports(config, &env, options.allow_undeclared_imports, diagnostics);
    desired.imports = declared;
    desired.undeclared_imports = undeclared;
    resources::take_instance_attrs(&mut env, &mut desired.resources);
    desired
}

/// Evaluates an `output` block; `None` when it has no `value`.
fn evaluate_output(decl: &Decl, env: &Env, diagnostics: &mut Diagnostics) -> Option<OutputValue> {
    check_block_attrs(
        &decl.block,
        &["value", "description", "sensitive", "depends_on"],
        &[],
        diagnostics,
    );
    let eval = Evaluator::new(env, decl.file);
    let Some(value_attr) = decl.block.attrs.get("value") else {
        diagnostics.push(
            Diagnostic::error(format!("output `{}` has no `value`", decl.name))
                .at(decl.block.header_span.clone(), "`value` missing")
                .help("add `value = <expression>`"),
        );
        return None;
    };
    let value = eval.eval(&value_attr.expr, &mut Scope::new()).unwrap_or_else(|e| {
        diagnostics.push(e.into_diagnostic());
        Value::Unknown(format!("output.{}", decl.name))
    });
    let description = decl
        .block
        .attrs
        .get("description")
        .and_then(|a| a.expr.as_str().map(str::to_owned));
    let sensitive = decl
        .block
        .attrs
        .get("sensitive")
        .and_then(|a| a.expr.as_bool())
        .unwrap_or(false);
    Some(OutputValue {
        value,
        description,
        sensitive,
    })
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

fn evaluate_block_instance(decl: &Decl, is_provider: bool, env: &Env, diagnostics: &mut Diagnostics) -> BlockInstance {
    let schema = if is_provider {
        provider_schema(&decl.kind)
    } else {
        store_schema(&decl.kind)
    };
    let accepted: Vec<&str> = schema
        .map(|s| s.attrs.iter().map(|a| a.name).collect())
        .unwrap_or_default();
    check_block_attrs(&decl.block, &accepted, &[], diagnostics);
    let eval = Evaluator::new(env, decl.file);
    let mut attrs = ValueMap::new();
    let mut attr_spans = HashMap::new();
    for attr in decl
        .block
        .attrs
        .values()
        .filter(|a| accepted.contains(&a.name.as_str()))
    {
        let value = eval.eval(&attr.expr, &mut Scope::new()).unwrap_or_else(|e| {
            diagnostics.push(e.into_diagnostic());
            Value::Unknown(String::new())
        });
        attrs.insert(attr.name.clone(), value);
        attr_spans.insert(attr.name.clone(), attr.value_span.clone());
    }
    BlockInstance {
        kind: decl.kind.clone(),
        name: decl.name.clone(),
        attrs,
        attr_spans,
        span: decl.block.header_span.clone(),
    }
}
