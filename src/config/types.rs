//! Variable type constraints (`string`, `number`, `list(string)`, `map(number)`, `object({…})`)
//! and the conversions Terraform applies when a value meets its declared type.

use hcl_edit::expr::{Expression, ObjectKey};

use super::value::{Value, ValueMap};

/// A declared variable type.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeConstraint {
    /// Any value.
    Any,
    /// A string (numbers and bools convert).
    String,
    /// A number (numeric strings convert).
    Number,
    /// A bool (`"true"`/`"false"` convert).
    Bool,
    /// A list of one element type.
    List(Box<TypeConstraint>),
    /// A set of one element type (no duplicates).
    Set(Box<TypeConstraint>),
    /// A map of one element type.
    Map(Box<TypeConstraint>),
    /// A tuple of element types.
    Tuple(Vec<TypeConstraint>),
    /// An object with typed attributes; `true` marks an `optional(…)` one.
    Object(Vec<(String, TypeConstraint, bool)>),
}

impl TypeConstraint {
    /// Whether a command-line or environment value of this type is taken as a literal string
    /// rather than parsed as an expression (Terraform's rule for `-var` and `TF_VAR_`).
    pub fn takes_raw_string(&self) -> bool {
        matches!(
            self,
            TypeConstraint::Any | TypeConstraint::String | TypeConstraint::Number | TypeConstraint::Bool
        )
    }
}

/// Reads a type expression. The error says what is wrong.
pub fn parse_type(expr: &Expression) -> Result<TypeConstraint, String> {
    match expr {
        Expression::Variable(ident) => match ident.as_str() {
            "any" => Ok(TypeConstraint::Any),
            "string" => Ok(TypeConstraint::String),
            "number" => Ok(TypeConstraint::Number),
            "bool" => Ok(TypeConstraint::Bool),
            "list" => Ok(TypeConstraint::List(Box::new(TypeConstraint::Any))),
            "map" => Ok(TypeConstraint::Map(Box::new(TypeConstraint::Any))),
            "set" => Ok(TypeConstraint::Set(Box::new(TypeConstraint::Any))),
            other => Err(format!(
                "`{other}` is not a type: use string, number, bool, any, list(…), set(…), map(…), tuple([…]) or object({{…}})"
            )),
        },
        Expression::String(s) => match s.value().as_str() {
            "string" => Ok(TypeConstraint::String),
            "number" => Ok(TypeConstraint::Number),
            "bool" => Ok(TypeConstraint::Bool),
            "any" => Ok(TypeConstraint::Any),
            other => Err(format!(
                "`\"{other}\"` is not a type: write it without quotes, like `string`"
            )),
        },
        Expression::FuncCall(call) => {
            let name = call.name.name.as_str();
            let args: Vec<&Expression> = call.args.iter().collect();
            let [arg] = args.as_slice() else {
                return Err(format!("`{name}(…)` takes exactly one argument"));
            };
            match name {
                "list" => Ok(TypeConstraint::List(Box::new(parse_type(arg)?))),
                "set" => Ok(TypeConstraint::Set(Box::new(parse_type(arg)?))),
                "map" => Ok(TypeConstraint::Map(Box::new(parse_type(arg)?))),
                "tuple" => match arg {
                    Expression::Array(items) => Ok(TypeConstraint::Tuple(
                        items.iter().map(parse_type).collect::<Result<_, _>>()?,
                    )),
                    _ => Err("`tuple(…)` takes a list of types, like `tuple([string, number])`".into()),
                },
                "object" => match arg {
                    Expression::Object(object) => {
                        let mut attrs = Vec::new();
                        for (key, value) in object {
                            let key = match key {
                                ObjectKey::Ident(ident) => ident.as_str().to_owned(),
                                ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                                ObjectKey::Expression(_) => {
                                    return Err("object type attribute names must be names".into());
                                }
                            };
                            let (ty, optional) = match value.expr() {
                                Expression::FuncCall(inner) if inner.name.name.as_str() == "optional" => {
                                    let first = inner.args.iter().next().ok_or("`optional(…)` needs a type")?;
                                    (parse_type(first)?, true)
                                }
                                other => (parse_type(other)?, false),
                            };
                            attrs.push((key, ty, optional));
                        }
                        Ok(TypeConstraint::Object(attrs))
                    }
                    _ => Err("`object(…)` takes an object of types, like `object({ size = number })`".into()),
                },
                other => Err(format!(
                    "`{other}(…)` is not a type constructor: use list, set, map, tuple or object"
                )),
            }
        }
        _ => Err(
            "a type must be a type keyword (string, number, bool, any) or a type constructor like list(string)".into(),
        ),
    }
}

/// Converts a value to a type as Terraform does, or says why it cannot.
pub fn convert(value: Value, ty: &TypeConstraint) -> Result<Value, String> {
    if matches!(value, Value::Unknown(_) | Value::Null) || *ty == TypeConstraint::Any {
        return Ok(value);
    }
    match ty {
        TypeConstraint::Any => Ok(value),
        TypeConstraint::String => match value {
            Value::String(_) => Ok(value),
            Value::Number(_) | Value::Bool(_) => Ok(Value::String(value.to_template_string().unwrap_or_default())),
            other => Err(format!("a string is required, got a {}", other.type_name())),
        },
        TypeConstraint::Number => match value {
            Value::Number(_) => Ok(value),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(Value::Number)
                .ok_or_else(|| format!("a number is required, got {s:?}")),
            other => Err(format!("a number is required, got a {}", other.type_name())),
        },
        TypeConstraint::Bool => match value {
            Value::Bool(_) => Ok(value),
            Value::String(s) if s == "true" => Ok(Value::Bool(true)),
            Value::String(s) if s == "false" => Ok(Value::Bool(false)),
            other => Err(format!("a bool is required, got {other}")),
        },
        TypeConstraint::List(inner) | TypeConstraint::Set(inner) => {
            let Value::List(items) = value else {
                return Err(format!("a list is required, got a {}", value.type_name()));
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                out.push(convert(item, inner).map_err(|e| format!("element {i}: {e}"))?);
            }
            if matches!(ty, TypeConstraint::Set(_)) {
                let mut unique: Vec<Value> = Vec::with_capacity(out.len());
                for item in out {
                    if !unique.contains(&item) {
                        unique.push(item);
                    }
                }
                out = unique;
            }
            Ok(Value::List(out))
        }
        TypeConstraint::Map(inner) => {
            let Value::Map(map) = value else {
                return Err(format!("a map is required, got a {}", value.type_name()));
            };
            let mut out = ValueMap::with_capacity_and_hasher(map.len(), rustc_hash::FxBuildHasher);
            for (k, v) in map {
                let v = convert(v, inner).map_err(|e| format!("key {k:?}: {e}"))?;
                out.insert(k, v);
            }
            Ok(Value::Map(out))
        }
        TypeConstraint::Tuple(types) => {
            let Value::List(items) = value else {
                return Err(format!("a tuple is required, got a {}", value.type_name()));
            };
            if items.len() != types.len() {
                return Err(format!(
                    "a tuple of {} elements is required, got {}",
                    types.len(),
                    items.len()
                ));
            }
            items
                .into_iter()
                .zip(types)
                .enumerate()
                .map(|(i, (item, t))| convert(item, t).map_err(|e| format!("element {i}: {e}")))
                .collect::<Result<_, _>>()
                .map(Value::List)
        }
        TypeConstraint::Object(attrs) => {
            let Value::Map(mut map) = value else {
                return Err(format!("an object is required, got a {}", value.type_name()));
            };
            if let Some(extra) = map.keys().find(|k| !attrs.iter().any(|(name, _, _)| name == *k)) {
                return Err(format!("attribute `{extra}` is not part of the object type"));
            }
            let mut out = ValueMap::with_capacity_and_hasher(attrs.len(), rustc_hash::FxBuildHasher);
            for (name, t, optional) in attrs {
                match map.swap_remove(name) {
                    Some(v) => {
                        out.insert(
                            name.clone(),
                            convert(v, t).map_err(|e| format!("attribute `{name}`: {e}"))?,
                        );
                    }
                    None if *optional => {
                        out.insert(name.clone(), Value::Null);
                    }
                    None => return Err(format!("attribute `{name}` is required")),
                }
            }
            Ok(Value::Map(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(text: &str) -> TypeConstraint {
        parse_type(&hcl_edit::parser::parse_expr(text).unwrap()).unwrap()
    }

    #[test]
    fn type_expressions_parse() {
        assert_eq!(ty("number"), TypeConstraint::Number);
        assert_eq!(
            ty("list(string)"),
            TypeConstraint::List(Box::new(TypeConstraint::String))
        );
        assert_eq!(
            ty("object({ size = number, tags = optional(list(string)) })"),
            TypeConstraint::Object(vec![
                ("size".into(), TypeConstraint::Number, false),
                (
                    "tags".into(),
                    TypeConstraint::List(Box::new(TypeConstraint::String)),
                    true
                ),
            ])
        );
        assert!(
            parse_type(&hcl_edit::parser::parse_expr("integer").unwrap())
                .unwrap_err()
                .contains("not a type")
        );
    }

    #[test]
    fn values_convert_like_terraform() {
        assert_eq!(
            convert(Value::String("100".into()), &TypeConstraint::Number),
            Ok(Value::Number(100.0))
        );
        assert_eq!(
            convert(Value::Number(5.0), &TypeConstraint::String),
            Ok(Value::String("5".into()))
        );
        assert_eq!(
            convert(Value::String("ten".into()), &TypeConstraint::Number),
            Err("a number is required, got \"ten\"".into())
        );
        assert_eq!(
            convert(
                Value::List(vec![Value::String("a".into()), Value::String("a".into())]),
                &TypeConstraint::Set(Box::new(TypeConstraint::String))
            ),
            Ok(Value::List(vec![Value::String("a".into())]))
        );
    }
}
