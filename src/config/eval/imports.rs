//! `import` blocks: each names the resource address an existing back-end object is adopted as
//! (`to`) and the object (`id`, `PROVIDER/OBJECT`); targets no resource block declares are
//! kept apart for `plan --generate-config-out`.

use hcl_edit::expr::{Expression, TraversalOperator};

use crate::config::declarations::Config;
use crate::config::desired::ImportInstance;
use crate::config::expr::{Env, Evaluator, Scope};
use crate::config::load::check_block_attrs;
use crate::config::value::Value;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::model::{Address, InstanceKey, ResourceKind};

pub(super) fn evaluate_imports(
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

#[cfg(test)]
mod tests {
    use super::super::tests::{evaluate, evaluate_with, pointed, reported};
    use crate::config::EvalOptions;
    use crate::config::desired::ImportInstance;

    const VOLUMES: &str = r#"
resource "volume" "db" {
  type = volume_type.std.id
  size = 10
}

resource "volume" "data" {
  for_each = toset(["a", "b"])
  type     = volume_type.std.id
  size     = 10
}
"#;

    fn shown(imports: &[ImportInstance]) -> Vec<(String, String)> {
        imports.iter().map(|i| (i.to.to_string(), i.id.clone())).collect()
    }

    #[test]
    fn import_blocks_name_the_instance_and_the_back_end_object() {
        let loaded = evaluate(&format!(
            r#"{VOLUMES}
locals {{
  provider = "dev"
}}

import {{
  to = volume.db
  id = "${{local.provider}}/volume-5c0e.qcow2"
}}

import {{
  to = volume.data["b"]
  id = "dev/volume-b.qcow2"
}}
"#
        ));
        assert_eq!(reported(&loaded), []);
        assert_eq!(
            shown(&loaded.desired.imports),
            [
                ("volume.db".to_owned(), "dev/volume-5c0e.qcow2".to_owned()),
                (r#"volume.data["b"]"#.to_owned(), "dev/volume-b.qcow2".to_owned()),
            ]
        );
        assert!(loaded.desired.undeclared_imports.is_empty());
    }

    #[test]
    fn an_import_of_an_undeclared_resource_is_an_error_unless_config_is_generated() {
        let text = r#"
import {
  to = volume.logs
  id = "dev/logs.qcow2"
}
"#;
        let loaded = evaluate(text);
        assert_eq!(
            reported(&loaded),
            [pointed(
                "`import` targets `volume.logs`, which no resource block declares",
                "volume.logs"
            )]
        );
        assert!(loaded.desired.imports.is_empty());

        // `plan --generate-config-out` writes the block: the import is kept apart.
        let options = EvalOptions {
            allow_undeclared_imports: true,
            ..EvalOptions::default()
        };
        let loaded = evaluate_with(text, &options);
        assert_eq!(reported(&loaded), []);
        assert!(loaded.desired.imports.is_empty());
        assert_eq!(
            shown(&loaded.desired.undeclared_imports),
            [("volume.logs".to_owned(), "dev/logs.qcow2".to_owned())]
        );
    }

    #[test]
    fn malformed_import_blocks_are_reported_where_they_are_wrong() {
        let loaded = evaluate(&format!(
            r#"{VOLUMES}
import {{
  to = volume.db
  id = "volume-5c0e.qcow2"
}}

import {{
  to = "volume.db"
  id = "dev/x"
}}

import {{
  to = volume.db
}}
"#
        ));
        assert_eq!(
            reported(&loaded),
            [
                pointed(
                    r#"an import `id` is `PROVIDER/OBJECT`, got "volume-5c0e.qcow2""#,
                    r#""volume-5c0e.qcow2""#
                ),
                pointed("`to` must be a resource address, like `volume.db`", r#""volume.db""#),
                pointed("an `import` block needs `to` and `id`", "import"),
            ]
        );
        assert!(loaded.desired.imports.is_empty());
    }
}
