//! Evaluation of a whole configuration: declarations are collected from the parsed files,
//! variables get their values, and locals, resources (expanded by `count` and `for_each`),
//! providers, stores and outputs are evaluated in dependency order. The result is the
//! *desired* configuration: every resource instance with its attribute values, and where each
//! value was written.
//!
//! The steps live apart: [`declarations`](super::declarations) collects the blocks,
//! [`vars`] gives variables their values, `order` sorts locals, resources,
//! providers, stores and outputs by their references (reporting cycles), this module evaluates
//! them in that order, `resources` expands resource blocks into instances and `imports` reads
//! `import` blocks. The result types are in [`desired`](super::desired); they are re-exported
//! here, where the rest of the engine has always found them.

mod imports;
mod order;
mod resources;

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;

pub use super::declarations::{Config, Decl, VariableDecl, collect};
pub use super::desired::{BlockInstance, Desired, ImportInstance, Lifecycle, OutputValue, ResourceInstance};
use super::expr::{Env, Evaluator, Reference, Scope, references};
pub use super::load::{check_block_attrs, unknown_attribute};
use super::value::{Value, ValueMap};
use super::vars::{self, VarInputs};
pub use super::vars::{MissingVars, parse_var_assignment};
use crate::diagnostics::{Diagnostic, Diagnostics, SourceMap};
use crate::model::{Address, store_schema};
use crate::registry::provider_schema;
pub use imports::traversal_address;
use order::Node;

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
    let order = order::order(config, &resource_refs, diagnostics);

    for node in order.nodes() {
        match node {
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
                let is_provider = matches!(node, Node::Provider(_));
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
    let mut attrs = ValueMap::default();
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
