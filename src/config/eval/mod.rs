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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::vars::{VarArg, VarAssignment};
    use crate::config::{Loaded, load_texts};

    /// A provider and a volume type that every test configuration can build on.
    pub(super) const BASE: &str = r#"
provider "local" "dev" {
  path = "./volumes"
}

resource "volume_type" "std" {
  backend = "dev"
}
"#;

    /// Loads and evaluates `text` (after [`BASE`]) as the one file of a configuration.
    pub(super) fn evaluate_with(text: &str, options: &EvalOptions) -> Loaded {
        let files = [("main.hcl".to_owned(), format!("{BASE}{text}"))];
        load_texts(Path::new("/blockform-eval-test"), &files, options).expect("the test configuration parses")
    }

    pub(super) fn evaluate(text: &str) -> Loaded {
        evaluate_with(text, &EvalOptions::default())
    }

    /// Every diagnostic as its message and the source text it points at.
    pub(super) fn reported(loaded: &Loaded) -> Vec<(String, String)> {
        loaded
            .diagnostics
            .iter()
            .map(|d| {
                let at = d.span.as_ref().map_or_else(String::new, |span| {
                    loaded.sources.file(span.file).text[span.range.clone()].to_owned()
                });
                (d.summary.clone(), at)
            })
            .collect()
    }

    pub(super) fn pointed(message: &str, at: &str) -> (String, String) {
        (message.to_owned(), at.to_owned())
    }

    /// The attribute `name` of the resource instance at `address`.
    pub(super) fn attr<'a>(loaded: &'a Loaded, address: &str, name: &str) -> &'a Value {
        let instance = loaded
            .desired
            .resources
            .iter()
            .find(|r| r.address.to_string() == address)
            .unwrap_or_else(|| panic!("no instance {address}"));
        &instance.attrs[name]
    }

    fn string(s: &str) -> Value {
        Value::String(s.to_owned())
    }

    #[test]
    fn locals_and_outputs_are_evaluated_whatever_their_order_in_the_file() {
        let loaded = evaluate(
            r#"
output "summary" {
  value       = "${local.prefix}-${local.count}"
  description = "what was made"
  sensitive   = true
}

output "first" {
  value = local.prefix
}

locals {
  count  = length(local.names)
  prefix = upper(local.names[0])
  names  = ["db", "web"]
}
"#,
        );
        assert_eq!(reported(&loaded), []);
        let outputs = &loaded.desired.outputs;
        assert_eq!(outputs.keys().collect::<Vec<_>>(), ["first", "summary"]);
        assert_eq!(outputs["summary"].value, string("DB-2"));
        assert_eq!(outputs["summary"].description.as_deref(), Some("what was made"));
        assert!(outputs["summary"].sensitive);
        assert!(!outputs["first"].sensitive);
    }

    #[test]
    fn a_reference_cycle_is_reported_as_a_chain_in_source_order() {
        let loaded = evaluate(
            "
locals {
  a = local.b
  b = local.c
  c = local.a
}
",
        );
        assert_eq!(
            reported(&loaded),
            [pointed("dependency cycle: local.a → local.b → local.c → local.a", "a")]
        );
    }

    #[test]
    fn provider_and_store_blocks_are_evaluated_with_their_spans() {
        let loaded = evaluate(
            r#"
locals {
  root = "/srv"
  env  = "dev"
}

provider "ceph" "rbd" {
  pool           = "volumes"
  namespace      = "${local.env}-ns"
  flatten_clones = true
}

backup_store "dir" "nas" {
  path        = "${local.root}/backups"
  compression = true
}
"#,
        );
        assert_eq!(reported(&loaded), []);
        let rbd = &loaded.desired.providers["rbd"];
        assert_eq!(rbd.kind, "ceph");
        assert_eq!(rbd.attrs["namespace"], string("dev-ns"));
        assert_eq!(rbd.attrs["flatten_clones"], Value::Bool(true));
        let span = &rbd.attr_spans["namespace"];
        assert_eq!(
            &loaded.sources.file(span.file).text[span.range.clone()],
            r#""${local.env}-ns""#
        );
        let nas = &loaded.desired.stores["nas"];
        assert_eq!(nas.attrs["path"], string("/srv/backups"));
        assert_eq!(loaded.desired.providers.keys().collect::<Vec<_>>(), ["dev", "rbd"]);
    }

    #[test]
    fn an_unknown_provider_attribute_is_reported_and_left_out() {
        let loaded = evaluate(
            r#"
provider "local" "other" {
  path  = "./other"
  paht  = "./typo"
}
"#,
        );
        let reports = reported(&loaded);
        assert_eq!(
            reports,
            [pointed(
                "unknown attribute `paht` in `provider \"local\" \"other\"`",
                "paht"
            )]
        );
        let other = &loaded.desired.providers["other"];
        assert_eq!(other.attrs.keys().collect::<Vec<_>>(), ["path"]);
        let help = loaded.diagnostics.iter().next().and_then(|d| d.help.clone());
        assert_eq!(help.as_deref(), Some("did you mean `path`?"));
    }

    #[test]
    fn an_undeclared_variable_is_reported_at_the_reference() {
        let loaded = evaluate(
            r#"
variable "size" {
  type    = number
  default = 10
}

resource "volume" "db" {
  type = volume_type.std.id
  size = var.sise
}
"#,
        );
        assert_eq!(
            reported(&loaded),
            [pointed("reference to undeclared variable `var.sise`", "var.sise")]
        );
        assert_eq!(
            loaded.diagnostics.iter().next().and_then(|d| d.help.clone()).as_deref(),
            Some("did you mean `size`?")
        );
    }

    #[test]
    fn a_variable_without_a_value_is_unknown_or_an_error() {
        let text = r#"
variable "size" {
  type = number
}

resource "volume" "db" {
  type = volume_type.std.id
  size = var.size
}
"#;
        // `validate` checks the configuration, not its inputs: the value is unknown.
        let loaded = evaluate(text);
        assert_eq!(reported(&loaded), []);
        assert_eq!(loaded.desired.unset_variables, ["size"]);
        assert_eq!(
            attr(&loaded, "volume.db", "size"),
            &Value::Unknown("var.size".to_owned())
        );

        // `--input=false`: an error at the declaration.
        let options = EvalOptions {
            missing_vars: MissingVars::Error,
            ..EvalOptions::default()
        };
        let loaded = evaluate_with(text, &options);
        assert_eq!(
            reported(&loaded),
            [pointed("no value for required variable `size`", "\"size\"")]
        );

        // A value from the command line is converted to the declared type.
        let options = EvalOptions {
            missing_vars: MissingVars::Error,
            vars: VarInputs {
                args: vec![VarArg::Assign(VarAssignment {
                    name: "size".to_owned(),
                    raw: "30".to_owned(),
                })],
                env: Vec::new(),
            },
            ..EvalOptions::default()
        };
        let loaded = evaluate_with(text, &options);
        assert_eq!(reported(&loaded), []);
        assert_eq!(attr(&loaded, "volume.db", "size"), &Value::Number(30.0));
        assert_eq!(loaded.desired.variables["size"], Value::Number(30.0));
    }

    #[test]
    fn a_failed_variable_validation_points_at_its_condition() {
        let loaded = evaluate(
            r#"
variable "size" {
  type    = number
  default = 5

  validation {
    condition     = var.size >= 10
    error_message = "at least 10 GiB"
  }
}
"#,
        );
        assert_eq!(
            reported(&loaded),
            [pointed(
                "invalid value for variable `size`: at least 10 GiB",
                "var.size >= 10"
            )]
        );
    }
}
