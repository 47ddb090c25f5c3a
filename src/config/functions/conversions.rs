//! Type conversion functions: `tostring`, `tonumber`, `tobool`, and `tolist`, `toset`, `tomap`,
//! which unify the element types of a collection the way Terraform does.

use std::cmp::Ordering;

use super::arguments::{Call, FunctionError, Kind, describe, primitive_string, unknown, unknown_origin};
use super::collections::distinct_refs;
use crate::config::value::Value;

pub(super) fn tostring(call: &Call<'_>) -> Result<Value, FunctionError> {
    match &call.args[0] {
        Value::Null => Ok(Value::Null),
        Value::String(s) => Ok(Value::String(s.clone())),
        other => primitive_string(other)
            .map(|s| Value::String(s.into_owned()))
            .ok_or_else(|| call.type_error(0, Kind::Primitive.expected())),
    }
}

pub(super) fn tonumber(call: &Call<'_>) -> Result<Value, FunctionError> {
    match &call.args[0] {
        Value::Null => Ok(Value::Null),
        Value::Number(n) => Ok(Value::Number(*n)),
        Value::String(s) => parse_number(s)
            .map(Value::Number)
            .ok_or_else(|| call.error(0, format!("must be a number or a string holding one, got {s:?}"))),
        _ => Err(call.type_error(0, Kind::NumberOrString.expected())),
    }
}

/// A decimal number written the way HCL writes numbers (no spaces, no `inf` or `NaN`).
fn parse_number(s: &str) -> Option<f64> {
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

pub(super) fn tobool(call: &Call<'_>) -> Result<Value, FunctionError> {
    match &call.args[0] {
        Value::Null => Ok(Value::Null),
        Value::Bool(b) => Ok(Value::Bool(*b)),
        Value::String(s) if s == "true" => Ok(Value::Bool(true)),
        Value::String(s) if s == "false" => Ok(Value::Bool(false)),
        Value::String(s) => Err(call.error(0, format!("must be a bool or \"true\" or \"false\", got {s:?}"))),
        _ => Err(call.type_error(0, Kind::BoolOrString.expected())),
    }
}

pub(super) fn tolist(call: &Call<'_>) -> Result<Value, FunctionError> {
    let Value::List(items) = &call.args[0] else {
        return Ok(Value::Null);
    };
    Ok(Value::List(if unify(call, 0, items.iter())? {
        items.iter().map(stringify).collect()
    } else {
        items.clone()
    }))
}

pub(super) fn tomap(call: &Call<'_>) -> Result<Value, FunctionError> {
    let Value::Map(map) = &call.args[0] else {
        return Ok(Value::Null);
    };
    Ok(Value::Map(if unify(call, 0, map.values())? {
        map.iter().map(|(k, v)| (k.clone(), stringify(v))).collect()
    } else {
        map.clone()
    }))
}

/// The distinct elements in set order (strings and numbers ascending), as Terraform's sets.
pub(super) fn toset(call: &Call<'_>) -> Result<Value, FunctionError> {
    let Value::List(items) = &call.args[0] else {
        return Ok(Value::Null);
    };
    let to_strings = unify(call, 0, items.iter())?;
    if let Some(origin) = items.iter().find_map(unknown_origin) {
        return Ok(unknown(origin));
    }
    let converted: Vec<Value>;
    let items = if to_strings {
        converted = items.iter().map(stringify).collect();
        &converted
    } else {
        items
    };
    let mut refs = distinct_refs(items);
    refs.sort_by(|a, b| set_order(a, b));
    Ok(Value::List(refs.into_iter().cloned().collect()))
}

/// Whether the elements of a collection converted to one type (as `tolist`, `toset` and `tomap`
/// convert) become strings: yes when strings, numbers and bools are mixed; other mixes are errors.
fn unify<'v>(call: &Call<'_>, i: usize, items: impl Iterator<Item = &'v Value>) -> Result<bool, FunctionError> {
    let mut first: Option<&Value> = None;
    let mut to_strings = false;
    for item in items {
        if matches!(item, Value::Null | Value::Unknown(_)) {
            continue;
        }
        let Some(first) = first else {
            first = Some(item);
            continue;
        };
        if first.type_name() == item.type_name() {
            continue;
        }
        if primitive_string(first).is_some() && primitive_string(item).is_some() {
            to_strings = true;
        } else {
            return Err(call.error(
                i,
                format!(
                    "must have elements of one type, got {} and {}",
                    describe(first),
                    describe(item)
                ),
            ));
        }
    }
    Ok(to_strings)
}

/// A value converted to a string when it is a primitive, unchanged otherwise.
fn stringify(value: &Value) -> Value {
    match (value, primitive_string(value)) {
        (Value::String(_), _) | (_, None) => value.clone(),
        (_, Some(s)) => Value::String(s.into_owned()),
    }
}

/// The order of set elements: strings and numbers ascending, as Terraform orders sets.
fn set_order(a: &Value, b: &Value) -> Ordering {
    fn rank(value: &Value) -> u8 {
        match value {
            Value::Bool(_) => 0,
            Value::Number(_) => 1,
            Value::String(_) => 2,
            _ => 3,
        }
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x.total_cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{b, err, l, m, n, ok, s, strings, u};
    use super::*;

    #[test]
    fn tostring_tonumber_tobool() {
        assert_eq!(ok("tostring", &[n(5.0)]), s("5"));
        assert_eq!(ok("tostring", &[n(1.5)]), s("1.5"));
        assert_eq!(ok("tostring", &[b(true)]), s("true"));
        assert_eq!(ok("tostring", &[s("a")]), s("a"));
        assert_eq!(ok("tostring", &[Value::Null]), Value::Null);
        assert_eq!(ok("tostring", &[u("x")]), u("x"));
        assert_eq!(
            err("tostring", &[l([])]),
            "argument 1 of `tostring` must be a string, number or bool, got a list"
        );

        assert_eq!(ok("tonumber", &[s("42")]), n(42.0));
        assert_eq!(ok("tonumber", &[s("-1.5")]), n(-1.5));
        assert_eq!(ok("tonumber", &[s("1e3")]), n(1000.0));
        assert_eq!(ok("tonumber", &[n(3.0)]), n(3.0));
        assert_eq!(ok("tonumber", &[Value::Null]), Value::Null);
        assert_eq!(ok("tonumber", &[u("x")]), u("x"));
        assert_eq!(
            err("tonumber", &[s("abc")]),
            "argument 1 of `tonumber` must be a number or a string holding one, got \"abc\""
        );
        assert_eq!(
            err("tonumber", &[s(" 1")]),
            "argument 1 of `tonumber` must be a number or a string holding one, got \" 1\""
        );
        assert_eq!(
            err("tonumber", &[s("inf")]),
            "argument 1 of `tonumber` must be a number or a string holding one, got \"inf\""
        );
        assert_eq!(
            err("tonumber", &[s("")]),
            "argument 1 of `tonumber` must be a number or a string holding one, got \"\""
        );
        assert_eq!(
            err("tonumber", &[b(true)]),
            "argument 1 of `tonumber` must be a number or a string, got a bool"
        );

        assert_eq!(ok("tobool", &[s("true")]), b(true));
        assert_eq!(ok("tobool", &[s("false")]), b(false));
        assert_eq!(ok("tobool", &[b(false)]), b(false));
        assert_eq!(ok("tobool", &[Value::Null]), Value::Null);
        assert_eq!(ok("tobool", &[u("x")]), u("x"));
        assert_eq!(
            err("tobool", &[s("yes")]),
            "argument 1 of `tobool` must be a bool or \"true\" or \"false\", got \"yes\""
        );
        assert_eq!(
            err("tobool", &[n(1.0)]),
            "argument 1 of `tobool` must be a bool or a string, got a number"
        );
    }

    #[test]
    fn tolist_toset_tomap() {
        assert_eq!(
            ok("tolist", &[l([s("a"), n(1.0), b(true)])]),
            strings(&["a", "1", "true"])
        );
        assert_eq!(ok("tolist", &[l([n(1.0), u("x")])]), l([n(1.0), u("x")]));
        assert_eq!(ok("tolist", &[Value::Null]), Value::Null);
        assert_eq!(
            err("tolist", &[m([])]),
            "argument 1 of `tolist` must be a list, got a map"
        );
        assert_eq!(
            err("tolist", &[l([s("a"), l([])])]),
            "argument 1 of `tolist` must have elements of one type, got a string and a list"
        );

        assert_eq!(ok("toset", &[strings(&["b", "a", "b"])]), strings(&["a", "b"]));
        assert_eq!(
            ok("toset", &[l([n(3.0), n(1.0), n(3.0), n(-2.0)])]),
            l([n(-2.0), n(1.0), n(3.0)])
        );
        assert_eq!(ok("toset", &[l([s("b"), n(1.0), s("1")])]), strings(&["1", "b"]));
        assert_eq!(
            ok("toset", &[l([m([("a", n(1.0))]), m([("a", n(1.0))])])]),
            l([m([("a", n(1.0))])])
        );
        assert_eq!(ok("toset", &[l([s("a"), u("x")])]), u("x"));
        assert_eq!(ok("toset", &[Value::Null]), Value::Null);
        assert_eq!(
            err("toset", &[l([m([]), n(1.0)])]),
            "argument 1 of `toset` must have elements of one type, got a map and a number"
        );

        assert_eq!(
            ok("tomap", &[m([("a", n(1.0)), ("b", s("x"))])]),
            m([("a", s("1")), ("b", s("x"))])
        );
        assert_eq!(ok("tomap", &[m([("a", u("x"))])]), m([("a", u("x"))]));
        assert_eq!(
            err("tomap", &[strings(&["a"])]),
            "argument 1 of `tomap` must be a map, got a list"
        );
    }
}
