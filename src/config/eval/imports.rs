//! `import` blocks: each names the resource address an existing back-end object is adopted as
//! (`to`) and the object (`id`, `PROVIDER/OBJECT`); targets no resource block declares are
//! kept apart for `plan --generate-config-out`.

use hcl_edit::expr::{Expression, TraversalOperator};

use crate::config::declarations::{Config, check_block_attrs};
use crate::config::desired::ImportInstance;
use crate::config::expr::{Env, Evaluator, Scope};
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
