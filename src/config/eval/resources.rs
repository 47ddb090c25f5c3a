//! Resource blocks into instances: `count` and `for_each` expand a block into its instances,
//! each instance's attributes are evaluated with defaults and known computed values filled in,
//! and its dependencies (references and `depends_on`) and `lifecycle` settings are recorded.

use std::collections::HashMap;
use std::sync::Arc;

use hcl_edit::expr::{Expression, TraversalOperator};

use crate::config::declarations::Decl;
use crate::config::desired::{Lifecycle, ResourceInstance};
use crate::config::expr::{Env, Evaluator, Reference, ResourceValue, Scope, references};
use crate::config::load::{Attr, RawBlock, suggestion};
use crate::config::load::{check_block_attrs, unknown_attribute};
use crate::config::value::{Value, ValueMap};
use crate::diagnostics::{Diagnostic, Diagnostics, FileId, Span};
use crate::model::{Address, InstanceKey, LIFECYCLE_ATTRS, ResourceKind, fill_defaults, limits, resource_schema};

const RESOURCE_META: &[&str] = &["count", "for_each", "depends_on"];

/// Evaluates one resource block into its instances.
pub(super) fn evaluate_resource(
    kind: ResourceKind,
    decl: &Decl,
    attr_refs: &Arc<HashMap<String, Vec<Reference>>>,
    env: &Env,
    known: &HashMap<Address, ValueMap>,
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
    let mut attr_spans: HashMap<String, Span> = HashMap::with_capacity(block.attrs.len());
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
        let mut attrs =
            ValueMap::with_capacity_and_hasher(schema.attrs.len() + schema.computed.len(), rustc_hash::FxBuildHasher);
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
        fill_defaults(kind, &decl.name, &mut attrs);
        let known = known.get(&address);
        for computed in schema.computed {
            // A computed attribute that is also configured (an attachment's `device`) keeps
            // the configured value.
            if attrs.get(*computed).is_some_and(|v| *v != Value::Null) {
                continue;
            }
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
            attrs: ValueMap::default(),
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

/// Moves each instance's attributes out of the environment, which is no longer needed.
pub(super) fn take_instance_attrs(env: &mut Env, instances: &mut [ResourceInstance]) {
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

#[cfg(test)]
mod tests {
    use super::super::tests::{attr, evaluate, evaluate_with, pointed, reported};
    use super::*;
    use crate::config::EvalOptions;
    use crate::config::Loaded;

    fn addresses(loaded: &Loaded) -> Vec<String> {
        loaded.desired.resources.iter().map(|r| r.address.to_string()).collect()
    }

    fn instance<'a>(loaded: &'a Loaded, address: &str) -> &'a ResourceInstance {
        loaded
            .desired
            .resources
            .iter()
            .find(|r| r.address.to_string() == address)
            .unwrap_or_else(|| panic!("no instance {address}"))
    }

    fn string(s: &str) -> Value {
        Value::String(s.to_owned())
    }

    #[test]
    fn count_expands_into_numbered_instances() {
        let loaded = evaluate(
            r#"
resource "volume" "disk" {
  count = 3
  name  = "disk-${count.index}"
  type  = volume_type.std.id
  size  = 10 + count.index
}
"#,
        );
        assert_eq!(reported(&loaded), []);
        assert_eq!(
            addresses(&loaded),
            ["volume_type.std", "volume.disk[0]", "volume.disk[1]", "volume.disk[2]"]
        );
        assert_eq!(attr(&loaded, "volume.disk[2]", "name"), &string("disk-2"));
        assert_eq!(attr(&loaded, "volume.disk[2]", "size"), &Value::Number(12.0));
        // Computed attributes are unknown until the object exists.
        assert_eq!(
            attr(&loaded, "volume.disk[1]", "id"),
            &Value::Unknown("volume.disk[1].id".to_owned())
        );
    }

    #[test]
    fn for_each_over_a_set_makes_one_instance_per_distinct_string_in_order() {
        let loaded = evaluate(
            r#"
resource "volume" "scratch" {
  for_each = toset(["b", "a", "b"])
  name     = "scratch-${each.key}"
  type     = volume_type.std.id
  size     = 5
}
"#,
        );
        assert_eq!(reported(&loaded), []);
        assert_eq!(
            addresses(&loaded),
            ["volume_type.std", r#"volume.scratch["a"]"#, r#"volume.scratch["b"]"#]
        );
        assert_eq!(attr(&loaded, r#"volume.scratch["b"]"#, "name"), &string("scratch-b"));
    }

    #[test]
    fn for_each_over_a_map_binds_each_value_and_other_blocks_see_the_instances_by_key() {
        let loaded = evaluate(
            r#"
resource "volume" "data" {
  for_each = { small = 10, large = 100 }
  type     = volume_type.std.id
  size     = each.value
}

resource "snapshot" "large" {
  volume = volume.data["large"].id
  name   = "of-${volume.data["large"].size}"
}
"#,
        );
        assert_eq!(reported(&loaded), []);
        assert_eq!(attr(&loaded, r#"volume.data["small"]"#, "size"), &Value::Number(10.0));
        assert_eq!(attr(&loaded, r#"volume.data["large"]"#, "size"), &Value::Number(100.0));
        assert_eq!(attr(&loaded, "snapshot.large", "name"), &string("of-100"));
        assert_eq!(
            attr(&loaded, "snapshot.large", "volume"),
            &Value::Unknown(r#"volume.data["large"].id"#.to_owned())
        );
    }

    #[test]
    fn repetition_errors_point_at_the_expression() {
        let loaded = evaluate(
            r#"
resource "volume" "both" {
  count    = 1
  for_each = toset(["a"])
  type     = volume_type.std.id
  size     = 1
}

resource "volume" "late" {
  count = length(volume_type.std.id)
  type  = volume_type.std.id
  size  = 1
}

resource "volume" "numbers" {
  for_each = [1, 2]
  type     = volume_type.std.id
  size     = 1
}

resource "volume" "negative" {
  count = -1
  type  = volume_type.std.id
  size  = 1
}
"#,
        );
        assert_eq!(
            reported(&loaded),
            [
                pointed("`count` and `for_each` cannot both be set", "for_each"),
                pointed(
                    "the `count` value depends on values known only after apply",
                    "length(volume_type.std.id)"
                ),
                pointed("`for_each` over a list needs strings, got a number", "[1, 2]"),
                pointed(
                    &format!(
                        "`count` must be a whole number from 0 to {}, got -1",
                        limits::MAX_INSTANCES
                    ),
                    "-1"
                ),
            ]
        );
        // None of these blocks makes an instance.
        assert_eq!(addresses(&loaded), ["volume_type.std"]);
    }

    #[test]
    fn dependencies_are_recorded_from_references_and_depends_on_in_address_order() {
        let loaded = evaluate(
            r#"
resource "volume" "web" {
  type       = volume_type.std.id
  size       = volume.db.size
  depends_on = [qos.gold, volume.db]
}

resource "volume" "db" {
  type = volume_type.std.id
  size = 10
}

resource "qos" "gold" {
  specs = { total_iops_sec = 100 }
}
"#,
        );
        assert_eq!(reported(&loaded), []);
        let web = instance(&loaded, "volume.web");
        assert_eq!(
            web.depends_on,
            [
                (ResourceKind::Qos, "gold".to_owned()),
                (ResourceKind::Volume, "db".to_owned()),
                (ResourceKind::VolumeType, "std".to_owned()),
            ]
        );
        // Every instance comes after what it depends on.
        let position = |address: &str| addresses(&loaded).iter().position(|a| a == address);
        assert!(position("volume.db") < position("volume.web"));
        assert!(position("qos.gold") < position("volume.web"));
        assert_eq!(attr(&loaded, "volume.web", "size"), &Value::Number(10.0));
    }

    #[test]
    fn depends_on_an_undeclared_resource_is_reported() {
        let loaded = evaluate(
            r#"
resource "volume" "db" {
  type       = volume_type.std.id
  size       = 10
  depends_on = [volume.dbb]
}
"#,
        );
        assert_eq!(
            reported(&loaded),
            [pointed(
                "`depends_on` refers to undeclared resource `volume.dbb`",
                "volume.dbb"
            )]
        );
    }

    #[test]
    fn lifecycle_settings_are_read_and_checked() {
        let loaded = evaluate(
            r#"
resource "volume" "db" {
  type = volume_type.std.id
  size = 10

  lifecycle {
    prevent_destroy = true
    ignore_changes  = [size, tags, sise]
  }
}
"#,
        );
        assert_eq!(
            reported(&loaded),
            [pointed("unknown attribute `sise` in `resource \"volume\"`", "sise")]
        );
        let lifecycle = &instance(&loaded, "volume.db").lifecycle;
        assert!(lifecycle.prevent_destroy);
        assert!(!lifecycle.create_before_destroy);
        assert_eq!(lifecycle.ignore_changes, ["size", "tags"]);
    }

    #[test]
    fn computed_values_known_from_state_are_used_by_the_instance_and_its_dependents() {
        let text = r#"
resource "volume" "db" {
  type = volume_type.std.id
  size = 10
}

resource "snapshot" "db" {
  volume = volume.db.id
}
"#;
        let mut options = EvalOptions::default();
        options.known.insert(
            Address {
                kind: ResourceKind::Volume,
                name: "db".to_owned(),
                key: InstanceKey::None,
            },
            ValueMap::from_iter([("id".to_owned(), string("5c0e"))]),
        );
        let loaded = evaluate_with(text, &options);
        assert_eq!(reported(&loaded), []);
        assert_eq!(attr(&loaded, "volume.db", "id"), &string("5c0e"));
        assert_eq!(attr(&loaded, "snapshot.db", "volume"), &string("5c0e"));
        assert_eq!(
            attr(&loaded, "volume.db", "status"),
            &Value::Unknown("volume.db.status".to_owned())
        );
    }
}
