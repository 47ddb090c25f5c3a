//! Evaluation of a whole configuration: declarations are collected from the parsed files,
//! variables get their values, and locals, resources (expanded by `count` and `for_each`),
//! providers, stores and outputs are evaluated in dependency order. The result is the
//! *desired* configuration: every resource instance with its attribute values, and where each
//! value was written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hcl_edit::expr::{Expression, TraversalOperator};
use indexmap::IndexMap;
use petgraph::graph::{DiGraph, NodeIndex};

use super::expr::{Env, Evaluator, Reference, ResourceValue, Scope, references};
use super::load::{Attr, ParsedFile, RawBlock, suggestion};
use super::types::{TypeConstraint, parse_type};
use super::value::{Value, ValueMap};
use super::vars::{VarAssignment, VarInputs};
use crate::diagnostics::{Diagnostic, Diagnostics, FileId, SourceMap, Span};
use crate::model::{
    Address, InstanceKey, LIFECYCLE_ATTRS, ResourceKind, STORE_KINDS, limits, provider_kinds, provider_schema,
    resource_schema, store_schema,
};

/// What to do with a variable that has no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingVars {
    /// Treat it as unknown (`validate` checks the configuration, not its inputs).
    #[default]
    Unknown,
    /// Report an error naming the variable (`--input=false`).
    Error,
}

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

/// A `variable` block.
#[derive(Debug, Clone)]
pub struct VariableDecl {
    /// The variable's name.
    pub name: String,
    /// Its declared type.
    pub ty: TypeConstraint,
    /// Its description.
    pub description: Option<String>,
    /// Whether its value is hidden in output.
    pub sensitive: bool,
    /// The block.
    pub block: RawBlock,
    /// The file it is in.
    pub file: FileId,
}

/// A `resource`, `provider` or `backup_store` block with its labels.
#[derive(Debug, Clone)]
pub struct Decl {
    /// The first label (resource kind, provider kind, store kind).
    pub kind: String,
    /// The second label: the name.
    pub name: String,
    /// The block.
    pub block: RawBlock,
    /// The file it is in.
    pub file: FileId,
}

/// Everything declared in a configuration, before evaluation.
#[derive(Debug, Default)]
pub struct Config {
    /// The configuration directory.
    pub dir: PathBuf,
    /// `variable` blocks.
    pub variables: Vec<VariableDecl>,
    /// Attributes of `locals` blocks.
    pub locals: Vec<(Attr, FileId)>,
    /// `provider` blocks.
    pub providers: Vec<Decl>,
    /// `backup_store` blocks.
    pub stores: Vec<Decl>,
    /// `resource` blocks.
    pub resources: Vec<(ResourceKind, Decl)>,
    /// `output` blocks.
    pub outputs: Vec<Decl>,
    /// `import` blocks.
    pub imports: Vec<(RawBlock, FileId)>,
}

/// The `lifecycle` settings of a resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifecycle {
    /// Refuse any plan that destroys or replaces the resource.
    pub prevent_destroy: bool,
    /// Create the replacement before destroying the original.
    pub create_before_destroy: bool,
    /// Attributes whose changes are ignored after creation.
    pub ignore_changes: Vec<String>,
    /// Take a final snapshot before a destroy or replace.
    pub snapshot_before_destroy: bool,
}

/// One resource instance as the configuration wants it.
#[derive(Debug, Clone)]
pub struct ResourceInstance {
    /// Its address.
    pub address: Address,
    /// Attribute values (defaults filled in; unknown where they depend on objects not yet created).
    pub attrs: ValueMap,
    /// Where each attribute's value is written (shared by the instances of one block).
    pub attr_spans: Arc<HashMap<String, Span>>,
    /// The references each attribute's expression makes, by attribute (shared likewise).
    pub attr_refs: Arc<HashMap<String, Vec<Reference>>>,
    /// The block header (`resource "volume" "db"`).
    pub span: Span,
    /// Resources this one depends on, from references and `depends_on`.
    pub depends_on: Vec<(ResourceKind, String)>,
    /// Its lifecycle settings.
    pub lifecycle: Lifecycle,
}

/// A provider or backup store block with its evaluated attributes.
#[derive(Debug, Clone)]
pub struct BlockInstance {
    /// The kind (`local`, `ceph`, `dir`, ...).
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Evaluated attributes.
    pub attrs: ValueMap,
    /// Where each attribute's value is written.
    pub attr_spans: HashMap<String, Span>,
    /// The block header.
    pub span: Span,
}

/// An output value.
#[derive(Debug, Clone)]
pub struct OutputValue {
    /// The value.
    pub value: Value,
    /// Its description.
    pub description: Option<String>,
    /// Whether it is hidden in output.
    pub sensitive: bool,
}

/// An `import` block: adopt the back-end object `id` as `to`.
#[derive(Debug, Clone)]
pub struct ImportInstance {
    /// The address the object is adopted as.
    pub to: Address,
    /// `PROVIDER/OBJECT`.
    pub id: String,
    /// The block.
    pub span: Span,
}

/// The evaluated configuration: what the user wants.
#[derive(Debug, Default)]
pub struct Desired {
    /// The configuration directory (relative paths in values are relative to it).
    pub base_dir: PathBuf,
    /// Variable values.
    pub variables: IndexMap<String, Value>,
    /// Providers by name.
    pub providers: IndexMap<String, BlockInstance>,
    /// Backup stores by name.
    pub stores: IndexMap<String, BlockInstance>,
    /// Resource instances, in dependency order (every instance after what it refers to).
    pub resources: Vec<ResourceInstance>,
    /// Outputs by name.
    pub outputs: IndexMap<String, OutputValue>,
    /// Import blocks.
    pub imports: Vec<ImportInstance>,
    /// `import` blocks whose target no resource block declares (only with
    /// [`EvalOptions::allow_undeclared_imports`]).
    pub undeclared_imports: Vec<ImportInstance>,
    /// Variables that have no value from any source (unknown unless `MissingVars::Error`).
    pub unset_variables: Vec<String>,
}

impl Desired {
    /// The instance with this address.
    pub fn resource(&self, address: &Address) -> Option<&ResourceInstance> {
        self.resources.iter().find(|r| &r.address == address)
    }
}

/// Collects declarations from parsed files, reporting unknown and repeated blocks.
pub fn collect(dir: &Path, files: Vec<ParsedFile>, diagnostics: &mut Diagnostics) -> Config {
    let mut config = Config {
        dir: dir.to_path_buf(),
        ..Config::default()
    };
    let mut seen: HashMap<(String, String, String), Span> = HashMap::new();
    let mut check_unique =
        |section: &str, kind: &str, name: &str, span: &Span, what: String, diagnostics: &mut Diagnostics| {
            let key = (section.to_owned(), kind.to_owned(), name.to_owned());
            if let Some(first) = seen.get(&key) {
                diagnostics.push(
                    Diagnostic::error(format!("{what} is declared twice"))
                        .at(span.clone(), "declared again here")
                        .related(first.clone(), "first declared here")
                        .help("rename one of them or remove the duplicate"),
                );
                false
            } else {
                seen.insert(key, span.clone());
                true
            }
        };
    for parsed in files {
        let file = parsed.file;
        for attr in parsed.attrs.values() {
            diagnostics.push(
                Diagnostic::error(format!("unexpected attribute `{}` at the top level", attr.name))
                    .at(attr.name_span.clone(), "not inside a block")
                    .help("attributes belong inside blocks such as `locals { … }` or `resource \"volume\" \"name\" { … }`; variable values go into a blockform.bfvars file"),
            );
        }
        for block in parsed.blocks {
            let expected_labels = match block.ident.as_str() {
                "resource" | "provider" | "backup_store" => 2,
                "variable" | "output" => 1,
                "locals" | "import" => 0,
                other => {
                    let help = match other {
                        "data" => Some(
                            "blockform has no data sources; use an `import` block to adopt an existing object"
                                .to_owned(),
                        ),
                        "module" => Some("blockform has no modules; put the files into one directory".to_owned()),
                        "terraform" => Some(
                            "blockform needs no `terraform` block; state settings are command-line flags".to_owned(),
                        ),
                        _ => suggestion(
                            other,
                            [
                                "resource",
                                "provider",
                                "backup_store",
                                "variable",
                                "output",
                                "locals",
                                "import",
                            ],
                        ),
                    };
                    let mut d = Diagnostic::error(format!("unknown block type `{other}`"))
                        .at(block.header_span.clone(), "not a blockform block");
                    if let Some(help) = help {
                        d = d.help(help);
                    }
                    diagnostics.push(d);
                    continue;
                }
            };
            if block.labels.len() != expected_labels {
                let shape = match block.ident.as_str() {
                    "resource" => "resource \"KIND\" \"NAME\" { … }",
                    "provider" => "provider \"KIND\" \"NAME\" { … }",
                    "backup_store" => "backup_store \"KIND\" \"NAME\" { … }",
                    "variable" => "variable \"NAME\" { … }",
                    "output" => "output \"NAME\" { … }",
                    "locals" => "locals { … }",
                    _ => "import { to = …, id = … }",
                };
                diagnostics.push(
                    Diagnostic::error(format!(
                        "a `{}` block takes {expected_labels} label{}, this one has {}",
                        block.ident,
                        if expected_labels == 1 { "" } else { "s" },
                        block.labels.len()
                    ))
                    .at(block.header_span.clone(), "wrong number of labels")
                    .help(format!("write it as `{shape}`")),
                );
                continue;
            }
            let name_ok = block.labels.last().is_none_or(|name| valid_identifier(name));
            if !name_ok {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "`{}` is not a valid name",
                        block.labels.last().map_or("", String::as_str)
                    ))
                    .at(block.name_span(), "invalid name")
                    .help("names start with a letter or `_` and contain only letters, digits, `_` and `-`"),
                );
                continue;
            }
            match block.ident.as_str() {
                "resource" => {
                    let (kind_label, name) = (block.labels[0].clone(), block.labels[1].clone());
                    let Some(kind) = ResourceKind::from_name(&kind_label) else {
                        let mut d = Diagnostic::error(format!("unknown resource kind `{kind_label}`"))
                            .at(block.label_spans[0].clone(), "not a resource kind");
                        d = d.help(
                            suggestion(&kind_label, ResourceKind::ALL.iter().map(|k| k.name())).unwrap_or_else(|| {
                                format!("the kinds are {}", ResourceKind::ALL.map(ResourceKind::name).join(", "))
                            }),
                        );
                        diagnostics.push(d);
                        continue;
                    };
                    if check_unique(
                        "resource",
                        &kind_label,
                        &name,
                        &block.name_span(),
                        format!("resource `{kind_label}.{name}`"),
                        diagnostics,
                    ) {
                        config.resources.push((
                            kind,
                            Decl {
                                kind: kind_label,
                                name,
                                block,
                                file,
                            },
                        ));
                    }
                }
                "provider" | "backup_store" => {
                    let (kind, name) = (block.labels[0].clone(), block.labels[1].clone());
                    let is_provider = block.ident == "provider";
                    let kinds = if is_provider {
                        provider_kinds()
                    } else {
                        STORE_KINDS.to_vec()
                    };
                    if !kinds.contains(&kind.as_str()) {
                        let what = if is_provider { "provider" } else { "backup store" };
                        diagnostics.push(
                            Diagnostic::error(format!("unknown {what} kind `{kind}`"))
                                .at(block.label_spans[0].clone(), format!("not a {what} kind"))
                                .help(
                                    suggestion(&kind, kinds.iter().copied())
                                        .unwrap_or_else(|| format!("the kinds are {}", kinds.join(", "))),
                                ),
                        );
                        continue;
                    }
                    // Provider names are unique across kinds: a volume type's `backend` names one.
                    let what = if is_provider {
                        format!("provider `{name}`")
                    } else {
                        format!("backup store `{name}`")
                    };
                    if check_unique(&block.ident, "", &name, &block.name_span(), what, diagnostics) {
                        let decl = Decl {
                            kind,
                            name,
                            block,
                            file,
                        };
                        if is_provider {
                            config.providers.push(decl);
                        } else {
                            config.stores.push(decl);
                        }
                    }
                }
                "variable" => {
                    let name = block.labels[0].clone();
                    if check_unique(
                        "variable",
                        "",
                        &name,
                        &block.name_span(),
                        format!("variable `{name}`"),
                        diagnostics,
                    ) {
                        config.variables.push(variable_decl(name, block, file, diagnostics));
                    }
                }
                "output" => {
                    let name = block.labels[0].clone();
                    if check_unique(
                        "output",
                        "",
                        &name,
                        &block.name_span(),
                        format!("output `{name}`"),
                        diagnostics,
                    ) {
                        config.outputs.push(Decl {
                            kind: String::new(),
                            name,
                            block,
                            file,
                        });
                    }
                }
                "locals" => {
                    for nested in &block.blocks {
                        diagnostics.push(
                            Diagnostic::error(format!("unexpected block `{}` in `locals`", nested.ident))
                                .at(nested.header_span.clone(), "not allowed here")
                                .help("`locals` holds attributes only: `name = value`"),
                        );
                    }
                    for attr in block.attrs.into_values() {
                        if check_unique(
                            "local",
                            "",
                            &attr.name,
                            &attr.name_span,
                            format!("local value `{}`", attr.name),
                            diagnostics,
                        ) {
                            config.locals.push((attr, file));
                        }
                    }
                }
                _ => config.imports.push((block, file)),
            }
        }
    }
    config
}

fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

fn variable_decl(name: String, block: RawBlock, file: FileId, diagnostics: &mut Diagnostics) -> VariableDecl {
    check_block_attrs(
        &block,
        &["type", "default", "description", "sensitive", "nullable"],
        &["validation"],
        diagnostics,
    );
    let ty = match block.attrs.get("type") {
        Some(attr) => parse_type(&attr.expr).unwrap_or_else(|message| {
            diagnostics.push(
                Diagnostic::error(format!("invalid type for variable `{name}`: {message}"))
                    .at(attr.value_span.clone(), "not a type"),
            );
            TypeConstraint::Any
        }),
        None => TypeConstraint::Any,
    };
    let literal_string = |key: &str| block.attrs.get(key).and_then(|a| a.expr.as_str().map(str::to_owned));
    let description = literal_string("description");
    let sensitive = block
        .attrs
        .get("sensitive")
        .and_then(|a| a.expr.as_bool())
        .unwrap_or(false);
    for validation in block.blocks.iter().filter(|b| b.ident == "validation") {
        check_block_attrs(validation, &["condition", "error_message"], &[], diagnostics);
        for key in ["condition", "error_message"] {
            if !validation.attrs.contains_key(key) {
                diagnostics.push(
                    Diagnostic::error(format!("a `validation` block needs `{key}`"))
                        .at(validation.header_span.clone(), format!("`{key}` missing"))
                        .help("write `condition = <bool expression using var.NAME>` and `error_message = \"…\"`"),
                );
            }
        }
    }
    VariableDecl {
        name,
        ty,
        description,
        sensitive,
        block,
        file,
    }
}

/// Reports attributes and nested blocks that a block does not accept.
pub fn check_block_attrs(block: &RawBlock, attrs: &[&str], blocks: &[&str], diagnostics: &mut Diagnostics) {
    for attr in block.attrs.values() {
        if !attrs.contains(&attr.name.as_str()) {
            diagnostics.push(unknown_attribute(&attr.name, &block.header(), &attr.name_span, attrs));
        }
    }
    for nested in &block.blocks {
        if !blocks.contains(&nested.ident.as_str()) {
            let mut d = Diagnostic::error(format!("unexpected block `{}` in `{}`", nested.ident, block.header()))
                .at(nested.header_span.clone(), "not allowed here");
            if attrs.contains(&nested.ident.as_str()) {
                d = d.help(format!("`{0}` is an attribute: write `{0} = {{ … }}`", nested.ident));
            } else if let Some(help) = suggestion(&nested.ident, blocks.iter().copied()) {
                d = d.help(help);
            }
            diagnostics.push(d);
        }
    }
}

/// The diagnostic for an attribute a block does not accept.
pub fn unknown_attribute(name: &str, header: &str, span: &Span, accepted: &[&str]) -> Diagnostic {
    Diagnostic::error(format!("unknown attribute `{name}` in `{header}`"))
        .at(span.clone(), "unknown attribute")
        .help(suggestion(name, accepted.iter().copied()).unwrap_or_else(|| {
            let mut names: Vec<&str> = accepted.to_vec();
            names.sort_unstable();
            format!("accepted attributes: {}", names.join(", "))
        }))
}

const RESOURCE_META: &[&str] = &["count", "for_each", "depends_on"];

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
    env.vars = super::vars::resolve(
        config,
        &options.vars,
        options.missing_vars,
        sources,
        diagnostics,
        &mut desired.unset_variables,
    );
    desired.variables.clone_from(&env.vars);
    check_variable_validations(config, &env, diagnostics);
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
                        evaluate_resource(*kind, decl, &resource_refs[i], &env, options, diagnostics);
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
                    check_block_attrs(
                        &decl.block,
                        &["value", "description", "sensitive", "depends_on"],
                        &[],
                        diagnostics,
                    );
                    let eval = Evaluator::new(&env, decl.file);
                    let Some(value_attr) = decl.block.attrs.get("value") else {
                        diagnostics.push(
                            Diagnostic::error(format!("output `{}` has no `value`", decl.name))
                                .at(decl.block.header_span.clone(), "`value` missing")
                                .help("add `value = <expression>`"),
                        );
                        continue;
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
                    desired.outputs.insert(
                        decl.name.clone(),
                        OutputValue {
                            value,
                            description,
                            sensitive,
                        },
                    );
                }
            }
        }
    }
    desired.outputs.sort_keys();
    let (declared, undeclared) = evaluate_imports(config, &env, options.allow_undeclared_imports, diagnostics);
    desired.imports = declared;
    desired.undeclared_imports = undeclared;
    take_instance_attrs(&mut env, &mut desired.resources);
    desired
}

/// Moves each instance's attributes out of the environment, which is no longer needed.
fn take_instance_attrs(env: &mut Env, instances: &mut [ResourceInstance]) {
    for instance in instances {
        let Some(resource) = env
            .resources
            .get_mut(&instance.address.kind)
            .and_then(|m| m.get_mut(&instance.address.name))
        else {
            continue;
        };
        let slot = match (resource, &instance.address.key) {
            (ResourceValue::Single(v), InstanceKey::None) => Some(v),
            (ResourceValue::Counted(Value::List(items)), InstanceKey::Index(i)) => items.get_mut(*i),
            (ResourceValue::Keyed(Value::Map(map)), InstanceKey::Key(k)) => map.get_mut(k),
            _ => None,
        };
        if let Some(Value::Map(attrs)) = slot.map(std::mem::take) {
            instance.attrs = attrs;
        }
    }
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

/// Evaluates one resource block into its instances.
fn evaluate_resource(
    kind: ResourceKind,
    decl: &Decl,
    attr_refs: &Arc<HashMap<String, Vec<Reference>>>,
    env: &Env,
    options: &EvalOptions,
    diagnostics: &mut Diagnostics,
) -> (ResourceValue, Vec<ResourceInstance>) {
    let schema = resource_schema(kind);
    let block = &decl.block;
    let mut accepted: Vec<&str> = schema.attrs.iter().map(|a| a.name).collect();
    accepted.extend(RESOURCE_META);
    check_block_attrs(block, &accepted, &["lifecycle"], diagnostics);
    let eval = Evaluator::new(env, decl.file);
    let lifecycle = lifecycle(block, kind, diagnostics);
    let depends_on = depends_on(block, decl.file, diagnostics, env);

    if block.attrs.contains_key("count") && block.attrs.contains_key("for_each") {
        diagnostics.push(
            Diagnostic::error("`count` and `for_each` cannot both be set")
                .at(block.attrs["for_each"].name_span.clone(), "second repetition argument")
                .help("keep one: `for_each` for named instances, `count` for numbered ones"),
        );
        return (ResourceValue::Unknown, Vec::new());
    }

    // The instance keys, each with the bindings its expressions see.
    let mut keys: Vec<(InstanceKey, Scope)> = Vec::new();
    if let Some(count_attr) = block.attrs.get("count") {
        let count = match eval.eval(&count_attr.expr, &mut Scope::new()) {
            Ok(v) => v,
            Err(e) => {
                diagnostics.push(e.into_diagnostic());
                return (ResourceValue::Unknown, Vec::new());
            }
        };
        let n = match count {
            Value::Unknown(_) => {
                diagnostics.push(unknown_repetition("count", count_attr));
                return (ResourceValue::Unknown, Vec::new());
            }
            ref v => match v.as_i64().and_then(|n| usize::try_from(n).ok()) {
                Some(n) if n <= limits::MAX_INSTANCES => n,
                _ => {
                    diagnostics.push(
                        Diagnostic::error(format!(
                            "`count` must be a whole number from 0 to {}, got {v}",
                            limits::MAX_INSTANCES
                        ))
                        .at(count_attr.value_span.clone(), "invalid count"),
                    );
                    return (ResourceValue::Unknown, Vec::new());
                }
            },
        };
        for i in 0..n {
            let mut scope = Scope::new();
            #[allow(clippy::cast_precision_loss)]
            scope.bind(
                "count",
                Value::Map(ValueMap::from_iter([("index".to_owned(), Value::Number(i as f64))])),
            );
            keys.push((InstanceKey::Index(i), scope));
        }
    } else if let Some(for_each_attr) = block.attrs.get("for_each") {
        let collection = match eval.eval(&for_each_attr.expr, &mut Scope::new()) {
            Ok(v) => v,
            Err(e) => {
                diagnostics.push(e.into_diagnostic());
                return (ResourceValue::Unknown, Vec::new());
            }
        };
        if collection.contains_unknown() && !matches!(&collection, Value::Map(m) if !m.is_empty())
            || collection.is_unknown()
        {
            diagnostics.push(unknown_repetition("for_each", for_each_attr));
            return (ResourceValue::Unknown, Vec::new());
        }
        let pairs: Vec<(String, Value)> = match collection {
            Value::Map(map) => map.into_iter().collect(),
            Value::List(items) => {
                let mut pairs = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => pairs.push((s.clone(), Value::String(s))),
                        other => {
                            diagnostics.push(
                                Diagnostic::error(format!(
                                    "`for_each` over a list needs strings, got a {}",
                                    other.type_name()
                                ))
                                .at(for_each_attr.value_span.clone(), "not a set of strings")
                                .help("use `toset([...])` of strings, or a map"),
                            );
                            return (ResourceValue::Unknown, Vec::new());
                        }
                    }
                }
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
                pairs.dedup_by(|a, b| a.0 == b.0);
                pairs
            }
            other => {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "`for_each` needs a map or a set of strings, got a {}",
                        other.type_name()
                    ))
                    .at(for_each_attr.value_span.clone(), "not a map or set")
                    .help("use a map, or `toset([\"a\", \"b\"])`"),
                );
                return (ResourceValue::Unknown, Vec::new());
            }
        };
        if pairs.len() > limits::MAX_INSTANCES {
            diagnostics.push(
                Diagnostic::error(format!(
                    "`for_each` makes {} instances; the limit is {}",
                    pairs.len(),
                    limits::MAX_INSTANCES
                ))
                .at(for_each_attr.value_span.clone(), "too many instances"),
            );
            return (ResourceValue::Unknown, Vec::new());
        }
        for (key, value) in pairs {
            let mut scope = Scope::new();
            scope.bind(
                "each",
                Value::Map(ValueMap::from_iter([
                    ("key".to_owned(), Value::String(key.clone())),
                    ("value".to_owned(), value),
                ])),
            );
            keys.push((InstanceKey::Key(key), scope));
        }
    } else {
        keys.push((InstanceKey::None, Scope::new()));
    }

    let mut instances = Vec::with_capacity(keys.len());
    let mut values = Vec::with_capacity(keys.len());
    let mut attr_spans: HashMap<String, Span> = HashMap::new();
    for attr in block.attrs.values() {
        attr_spans.insert(attr.name.clone(), attr.value_span.clone());
        // Keys of an object literal (`specs = { … }`) get their own spans, so a bad key is
        // pointed at rather than the whole object.
        if let Expression::Object(object) = &attr.expr {
            for (key, _) in object {
                let text = match key {
                    hcl_edit::expr::ObjectKey::Ident(ident) => ident.as_str().to_owned(),
                    hcl_edit::expr::ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                    hcl_edit::expr::ObjectKey::Expression(_) => continue,
                };
                let range = hcl_edit::Span::span(key).unwrap_or(0..0);
                attr_spans.insert(format!("{}.{text}", attr.name), Span::new(decl.file, range));
            }
        }
    }
    let attr_spans = Arc::new(attr_spans);
    let mut deps: Vec<(ResourceKind, String)> = Vec::new();
    for reference in attr_refs.values().flatten() {
        if let (Some(k), Some(name)) = (ResourceKind::from_name(&reference.root), &reference.name)
            && !deps.iter().any(|(dk, dn)| *dk == k && dn == name)
        {
            deps.push((k, name.clone()));
        }
    }
    for dep in depends_on {
        if !deps.contains(&dep) {
            deps.push(dep);
        }
    }
    // By address, so that state and plans list dependencies in the same order on every run.
    deps.sort_by(|(ak, an), (bk, bn)| (ak.name(), an).cmp(&(bk.name(), bn)));
    let mut reported: Vec<Span> = Vec::new();
    for (key, mut scope) in keys {
        let address = Address {
            kind,
            name: decl.name.clone(),
            key,
        };
        let origin = address.to_string();
        let mut attrs = ValueMap::with_capacity(schema.attrs.len() + schema.computed.len());
        for spec in schema.attrs {
            let value = match block.attrs.get(spec.name) {
                Some(attr) => eval.eval(&attr.expr, &mut scope).unwrap_or_else(|e| {
                    // The same expression fails the same way for every instance: report it once.
                    if !reported.contains(&e.span) {
                        reported.push(e.span.clone());
                        diagnostics.push(e.into_diagnostic());
                    }
                    Value::Unknown(format!("{origin}.{}", spec.name))
                }),
                None => Value::Null,
            };
            attrs.insert(spec.name.to_owned(), value);
        }
        crate::model::fill_defaults(kind, &decl.name, &mut attrs);
        let known = options.known.get(&address);
        for computed in schema.computed {
            let value = known
                .and_then(|k| k.get(*computed).cloned())
                .unwrap_or_else(|| Value::Unknown(format!("{origin}.{computed}")));
            attrs.insert((*computed).to_owned(), value);
        }
        values.push(Value::Map(attrs));
        // The attributes live in the environment while later resources refer to them; they
        // are moved into the instance when evaluation ends (see `take_instance_attrs`).
        instances.push(ResourceInstance {
            address,
            attrs: ValueMap::new(),
            attr_spans: Arc::clone(&attr_spans),
            attr_refs: Arc::clone(attr_refs),
            span: block.header_span.clone(),
            depends_on: deps.clone(),
            lifecycle: lifecycle.clone(),
        });
    }
    let value = if block.attrs.contains_key("count") {
        ResourceValue::Counted(Value::List(values))
    } else if block.attrs.contains_key("for_each") {
        ResourceValue::Keyed(Value::Map(
            instances
                .iter()
                .zip(values)
                .map(|(i, v)| {
                    (
                        if let InstanceKey::Key(k) = &i.address.key {
                            k.clone()
                        } else {
                            String::new()
                        },
                        v,
                    )
                })
                .collect(),
        ))
    } else {
        ResourceValue::Single(values.pop().unwrap_or(Value::Null))
    };
    (value, instances)
}

fn unknown_repetition(what: &str, attr: &Attr) -> Diagnostic {
    Diagnostic::error(format!("the `{what}` value depends on values known only after apply"))
        .at(attr.value_span.clone(), "known only after apply")
        .help(format!("`{what}` decides which objects exist, so it must be known when planning: derive it from variables or literals"))
}

fn lifecycle(block: &RawBlock, kind: ResourceKind, diagnostics: &mut Diagnostics) -> Lifecycle {
    let mut lifecycle = Lifecycle::default();
    let accepted: Vec<&str> = LIFECYCLE_ATTRS.iter().map(|a| a.name).collect();
    let schema = resource_schema(kind);
    for nested in block.blocks.iter().filter(|b| b.ident == "lifecycle") {
        check_block_attrs(nested, &accepted, &[], diagnostics);
        for attr in nested.attrs.values() {
            let flag = |diagnostics: &mut Diagnostics| {
                if let Some(b) = attr.expr.as_bool() {
                    b
                } else {
                    diagnostics.push(
                        Diagnostic::error(format!("`{}` must be `true` or `false`", attr.name))
                            .at(attr.value_span.clone(), "not a literal bool")
                            .help("lifecycle settings are read before evaluation: write a literal"),
                    );
                    false
                }
            };
            match attr.name.as_str() {
                "prevent_destroy" => lifecycle.prevent_destroy = flag(diagnostics),
                "create_before_destroy" => lifecycle.create_before_destroy = flag(diagnostics),
                "snapshot_before_destroy" => lifecycle.snapshot_before_destroy = flag(diagnostics),
                "ignore_changes" => {
                    let items: Vec<&Expression> = match &attr.expr {
                        Expression::Array(array) => array.iter().collect(),
                        Expression::Variable(v) if v.as_str() == "all" => {
                            lifecycle.ignore_changes = schema.attrs.iter().map(|a| a.name.to_owned()).collect();
                            continue;
                        }
                        _ => {
                            diagnostics.push(
                                Diagnostic::error("`ignore_changes` must be a list of attribute names or `all`")
                                    .at(attr.value_span.clone(), "not a list")
                                    .help("write `ignore_changes = [size, tags]`"),
                            );
                            continue;
                        }
                    };
                    for item in items {
                        let name = match item {
                            Expression::Variable(v) => Some(v.as_str().to_owned()),
                            Expression::String(s) => Some(s.value().clone()),
                            Expression::Traversal(t) => {
                                match (&t.expr, t.operators.first().map(hcl_edit::Decorated::value)) {
                                    (
                                        Expression::Variable(v),
                                        Some(TraversalOperator::Index(_) | TraversalOperator::GetAttr(_)),
                                    ) => Some(v.as_str().to_owned()),
                                    _ => None,
                                }
                            }
                            _ => None,
                        };
                        let span = Span::new(nested.span.file, hcl_edit::Span::span(item).unwrap_or(0..0));
                        match name {
                            Some(name) if schema.attr(&name).is_some() => lifecycle.ignore_changes.push(name),
                            Some(name) => diagnostics.push(unknown_attribute(
                                &name,
                                &format!("resource \"{kind}\""),
                                &span,
                                &schema.attrs.iter().map(|a| a.name).collect::<Vec<_>>(),
                            )),
                            None => diagnostics.push(
                                Diagnostic::error("`ignore_changes` lists attribute names")
                                    .at(span, "not an attribute name")
                                    .help("write `ignore_changes = [size, tags]`"),
                            ),
                        }
                    }
                }
                _ => {}
            }
        }
    }
    lifecycle
}

fn depends_on(block: &RawBlock, file: FileId, diagnostics: &mut Diagnostics, env: &Env) -> Vec<(ResourceKind, String)> {
    let Some(attr) = block.attrs.get("depends_on") else {
        return Vec::new();
    };
    let Expression::Array(array) = &attr.expr else {
        diagnostics.push(
            Diagnostic::error("`depends_on` must be a list of resources")
                .at(attr.value_span.clone(), "not a list")
                .help("write `depends_on = [volume.db]`"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in array {
        let refs = references(item, file);
        let resource = refs
            .first()
            .and_then(|r| Some((ResourceKind::from_name(&r.root)?, r.name.clone()?, r.span.clone())));
        match resource {
            Some((kind, name, span)) => {
                if env
                    .declared
                    .get(&kind)
                    .is_some_and(|names| names.contains(name.as_str()))
                {
                    out.push((kind, name));
                } else {
                    diagnostics.push(
                        Diagnostic::error(format!("`depends_on` refers to undeclared resource `{kind}.{name}`"))
                            .at(span, "not declared")
                            .help(
                                suggestion(&name, env.declared.get(&kind).into_iter().flatten().map(String::as_str))
                                    .unwrap_or_else(|| "declare the resource or remove it from the list".into()),
                            ),
                    );
                }
            }
            None => diagnostics.push(Diagnostic::error("`depends_on` lists resources, like `volume.db`").at(
                Span::new(file, hcl_edit::Span::span(item).unwrap_or(0..0)),
                "not a resource reference",
            )),
        }
    }
    out
}

fn check_variable_validations(config: &Config, env: &Env, diagnostics: &mut Diagnostics) {
    for variable in &config.variables {
        let value = env.vars.get(&variable.name).cloned().unwrap_or(Value::Null);
        for validation in variable.block.blocks.iter().filter(|b| b.ident == "validation") {
            let (Some(condition), Some(message)) =
                (validation.attrs.get("condition"), validation.attrs.get("error_message"))
            else {
                continue;
            };
            // A validation sees only its own variable.
            let own = |r: &Reference| r.root == "var" && r.name.as_deref() == Some(variable.name.as_str());
            if let Some(other) = references(&condition.expr, variable.file)
                .into_iter()
                .find(|r| !own(r) && r.root != "path")
            {
                let text = other
                    .name
                    .as_ref()
                    .map_or_else(|| other.root.clone(), |n| format!("{}.{n}", other.root));
                diagnostics.push(
                    Diagnostic::error(format!(
                        "the validation of variable `{}` can refer only to `var.{}`, not to `{text}`",
                        variable.name, variable.name
                    ))
                    .at(other.span, "another value")
                    .help("a condition checks the variable's own value: compare it with literals"),
                );
                continue;
            }
            if value.contains_unknown() {
                continue;
            }
            let mut scoped = Env {
                base_dir: env.base_dir.clone(),
                ..Env::default()
            };
            scoped.vars.insert(variable.name.clone(), value.clone());
            let eval = Evaluator::new(&scoped, variable.file);
            match eval.eval(&condition.expr, &mut Scope::new()) {
                Ok(Value::Bool(true) | Value::Unknown(_)) => {}
                Ok(Value::Bool(false)) => {
                    let text = eval
                        .eval(&message.expr, &mut Scope::new())
                        .ok()
                        .and_then(|v| v.to_template_string());
                    diagnostics.push(
                        Diagnostic::error(format!(
                            "invalid value for variable `{}`: {}",
                            variable.name,
                            text.unwrap_or_default()
                        ))
                        .at(
                            condition.value_span.clone(),
                            format!("this condition is false for {value}"),
                        ),
                    );
                }
                Ok(other) => diagnostics.push(
                    Diagnostic::error(format!(
                        "a validation condition must be a bool, got a {}",
                        other.type_name()
                    ))
                    .at(condition.value_span.clone(), "not a bool"),
                ),
                Err(e) => diagnostics.push(e.into_diagnostic()),
            }
        }
    }
}

fn evaluate_imports(
    config: &Config,
    env: &Env,
    allow_undeclared: bool,
    diagnostics: &mut Diagnostics,
) -> (Vec<ImportInstance>, Vec<ImportInstance>) {
    let mut out = Vec::new();
    let mut undeclared = Vec::new();
    for (block, file) in &config.imports {
        check_block_attrs(block, &["to", "id"], &[], diagnostics);
        let (Some(to), Some(id)) = (block.attrs.get("to"), block.attrs.get("id")) else {
            diagnostics.push(
                Diagnostic::error("an `import` block needs `to` and `id`")
                    .at(block.header_span.clone(), "incomplete import")
                    .help("write `import { to = volume.db, id = \"PROVIDER/OBJECT\" }`"),
            );
            continue;
        };
        let Some(address) = traversal_address(&to.expr) else {
            diagnostics.push(
                Diagnostic::error("`to` must be a resource address, like `volume.db`")
                    .at(to.value_span.clone(), "not a resource address"),
            );
            continue;
        };
        let is_declared = env
            .declared
            .get(&address.kind)
            .is_some_and(|names| names.contains(address.name.as_str()));
        if !is_declared && !allow_undeclared {
            diagnostics.push(
                Diagnostic::error(format!(
                    "`import` targets `{address}`, which no resource block declares"
                ))
                .at(to.value_span.clone(), "not declared")
                .help(format!(
                    "add a `resource \"{}\" \"{}\"` block, or let `plan --generate-config-out=FILE` write one",
                    address.kind, address.name
                )),
            );
            continue;
        }
        let id_value = Evaluator::new(env, *file).eval(&id.expr, &mut Scope::new());
        match id_value {
            Ok(Value::String(s)) if s.split_once('/').is_some_and(|(p, o)| !p.is_empty() && !o.is_empty()) => {
                let import = ImportInstance { to: address, id: s, span: block.header_span.clone() };
                if is_declared {
                    out.push(import);
                } else {
                    undeclared.push(import);
                }
            }
            Ok(other) => diagnostics.push(
                Diagnostic::error(format!("an import `id` is `PROVIDER/OBJECT`, got {other}"))
                    .at(id.value_span.clone(), "not PROVIDER/OBJECT")
                    .help("write the provider block's name and the back-end object's name, like \"dev/volume-5c0e….qcow2\""),
            ),
            Err(e) => diagnostics.push(e.into_diagnostic()),
        }
    }
    (out, undeclared)
}

/// Reads a resource address from a traversal expression (`volume.db`, `volume.x["a"]`).
pub fn traversal_address(expr: &Expression) -> Option<Address> {
    let Expression::Traversal(t) = expr else { return None };
    let Expression::Variable(root) = &t.expr else {
        return None;
    };
    let kind = ResourceKind::from_name(root.as_str())?;
    let mut ops = t.operators.iter().map(hcl_edit::Decorated::value);
    let Some(TraversalOperator::GetAttr(name)) = ops.next() else {
        return None;
    };
    let key = match ops.next() {
        None => InstanceKey::None,
        Some(TraversalOperator::Index(Expression::String(s))) => InstanceKey::Key(s.value().clone()),
        Some(TraversalOperator::Index(Expression::Number(n))) => {
            InstanceKey::Index(usize::try_from(n.value().as_u64()?).ok()?)
        }
        Some(TraversalOperator::LegacyIndex(i)) => InstanceKey::Index(usize::try_from(*i.value()).ok()?),
        Some(_) => return None,
    };
    if ops.next().is_some() {
        return None;
    }
    Some(Address {
        kind,
        name: name.as_str().to_owned(),
        key,
    })
}

/// A single `--var` assignment, parsed.
pub fn parse_var_assignment(text: &str) -> Option<VarAssignment> {
    let (name, value) = text.split_once('=')?;
    let name = name.trim();
    valid_identifier(name).then(|| VarAssignment {
        name: name.to_owned(),
        raw: value.to_owned(),
    })
}
