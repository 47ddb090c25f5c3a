//! Collection functions: building, searching and reshaping lists and maps (`concat`, `merge`,
//! `lookup`, `contains`, `flatten`, `slice`, `zipmap`, `range`, …), and the equality of values
//! that may be unknown.

use std::collections::HashSet;

use super::arguments::{Call, FunctionError, Kind, count, describe, plural, unknown, unknown_origin};
use crate::config::value::{Value, ValueMap, format_number};

/// The most values `range` produces, as in Terraform.
const RANGE_LIMIT: usize = 1024;

pub(super) fn concat(call: &Call<'_>) -> Result<Value, FunctionError> {
    let mut out = Vec::new();
    for i in 0..call.args.len() {
        out.extend_from_slice(call.list(i)?);
    }
    Ok(Value::List(out))
}

pub(super) fn merge(call: &Call<'_>) -> Result<Value, FunctionError> {
    let mut out = ValueMap::default();
    for (i, arg) in call.args.iter().enumerate() {
        match arg {
            Value::Null => {}
            Value::Map(map) => out.extend(map.iter().map(|(k, v)| (k.clone(), v.clone()))),
            _ => return Err(call.type_error(i, Kind::Map.expected())),
        }
    }
    Ok(Value::Map(out))
}

pub(super) fn lookup(call: &Call<'_>) -> Result<Value, FunctionError> {
    let key = call.string(1)?;
    if let Some(value) = call.map(0)?.get(key) {
        return Ok(value.clone());
    }
    match call.args.get(2) {
        Some(default) => Ok(default.clone()),
        None => Err(call.error(
            1,
            format!("is {key:?}, which is not a key of argument 1, and there is no default"),
        )),
    }
}

/// The keys in lexical order, as Terraform returns them.
pub(super) fn keys(call: &Call<'_>) -> Result<Value, FunctionError> {
    let mut keys: Vec<&String> = call.map(0)?.keys().collect();
    keys.sort_unstable();
    Ok(Value::List(
        keys.into_iter().map(|k| Value::String(k.clone())).collect(),
    ))
}

/// The values in the lexical order of their keys, as Terraform returns them.
pub(super) fn values(call: &Call<'_>) -> Result<Value, FunctionError> {
    let mut entries: Vec<(&String, &Value)> = call.map(0)?.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    Ok(Value::List(entries.into_iter().map(|(_, v)| v.clone()).collect()))
}

pub(super) fn contains(call: &Call<'_>) -> Result<Value, FunctionError> {
    let needle = &call.args[1];
    let mut origin = None;
    for item in call.list(0)? {
        match equal(item, needle) {
            Some(true) => return Ok(Value::Bool(true)),
            Some(false) => {}
            None => {
                origin = origin.or_else(|| unknown_origin(item).or_else(|| unknown_origin(needle)));
            }
        }
    }
    Ok(origin.map_or(Value::Bool(false), unknown))
}

pub(super) fn index(call: &Call<'_>) -> Result<Value, FunctionError> {
    let needle = &call.args[1];
    let mut origin = None;
    for (i, item) in call.list(0)?.iter().enumerate() {
        match equal(item, needle) {
            // An unknown element before the match could be the first match.
            Some(true) => return Ok(origin.map_or_else(|| count(i), unknown)),
            Some(false) => {}
            None => {
                origin = origin.or_else(|| unknown_origin(item).or_else(|| unknown_origin(needle)));
            }
        }
    }
    match origin {
        Some(origin) => Ok(unknown(origin)),
        None => Err(call.error(1, format!("is {needle}, which is not an element of argument 1"))),
    }
}

pub(super) fn coalesce(call: &Call<'_>) -> Result<Value, FunctionError> {
    for arg in call.args {
        match arg {
            // Terraform skips empty strings as well as nulls.
            Value::Null => {}
            Value::String(s) if s.is_empty() => {}
            Value::Unknown(origin) => return Ok(unknown(origin)),
            other => return Ok(other.clone()),
        }
    }
    Err(call.failure("needs an argument that is neither null nor an empty string"))
}

pub(super) fn coalescelist(call: &Call<'_>) -> Result<Value, FunctionError> {
    for arg in call.args {
        match arg {
            Value::Null => {}
            Value::List(items) if items.is_empty() => {}
            Value::Unknown(origin) => return Ok(unknown(origin)),
            other => return Ok(other.clone()),
        }
    }
    Err(call.failure("needs an argument that is neither null nor an empty list"))
}

pub(super) fn flatten(call: &Call<'_>) -> Result<Value, FunctionError> {
    /// Appends the non-list elements of `items`, at any depth; stops at an unknown element,
    /// which could be a list of any length.
    fn flatten_into<'v>(items: &'v [Value], out: &mut Vec<Value>) -> Option<&'v str> {
        for item in items {
            match item {
                Value::List(inner) => {
                    if let Some(origin) = flatten_into(inner, out) {
                        return Some(origin);
                    }
                }
                Value::Unknown(origin) => return Some(origin),
                other => out.push(other.clone()),
            }
        }
        None
    }
    let mut out = Vec::new();
    Ok(match flatten_into(call.list(0)?, &mut out) {
        Some(origin) => unknown(origin),
        None => Value::List(out),
    })
}

pub(super) fn distinct(call: &Call<'_>) -> Result<Value, FunctionError> {
    let items = call.list(0)?;
    if let Some(origin) = items.iter().find_map(unknown_origin) {
        return Ok(unknown(origin));
    }
    Ok(Value::List(distinct_refs(items).into_iter().cloned().collect()))
}

/// The element at `index`, wrapping around at the end of the list as Terraform does.
pub(super) fn element(call: &Call<'_>) -> Result<Value, FunctionError> {
    let items = call.list(0)?;
    let index = call.integer(1)?;
    let Ok(index) = usize::try_from(index) else {
        return Err(call.error(1, format!("must not be negative, got {index}")));
    };
    if items.is_empty() {
        return Err(call.error(0, "must not be an empty list"));
    }
    Ok(items[index % items.len()].clone())
}

pub(super) fn reverse(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::List(call.list(0)?.iter().rev().cloned().collect()))
}

/// The elements from `start` up to but not including `end`.
pub(super) fn slice(call: &Call<'_>) -> Result<Value, FunctionError> {
    let items = call.list(0)?;
    let start = call.integer(1)?;
    let end = call.integer(2)?;
    let Ok(start) = usize::try_from(start) else {
        return Err(call.error(1, format!("must not be negative, got {start}")));
    };
    let end = match usize::try_from(end) {
        Ok(end) if end <= items.len() => end,
        _ if end < 0 => return Err(call.error(2, format!("must not be negative, got {end}"))),
        _ => {
            return Err(call.error(
                2,
                format!(
                    "must not be greater than the length of argument 1 ({}), got {end}",
                    items.len()
                ),
            ));
        }
    };
    if start > end {
        return Err(call.error(1, format!("must not be greater than argument 3 ({end}), got {start}")));
    }
    Ok(Value::List(items[start..end].to_vec()))
}

/// The elements as strings in lexical order (numbers and bools are converted, as in Terraform).
pub(super) fn sort(call: &Call<'_>) -> Result<Value, FunctionError> {
    let mut strings = Vec::new();
    let mut origin = None;
    for (index, item) in call.list(0)?.iter().enumerate() {
        if let Value::Unknown(o) = item {
            origin = origin.or(Some(o));
        } else {
            strings.push(call.element_string(0, index, item)?);
        }
    }
    if let Some(origin) = origin {
        return Ok(unknown(origin));
    }
    strings.sort_unstable();
    Ok(Value::List(
        strings.into_iter().map(|s| Value::String(s.into_owned())).collect(),
    ))
}

pub(super) fn zipmap(call: &Call<'_>) -> Result<Value, FunctionError> {
    let keys = call.list(0)?;
    let values = call.list(1)?;
    if keys.len() != values.len() {
        return Err(call.error(
            1,
            format!(
                "has {}, but argument 1 has {}; there must be one value per key",
                plural(values.len(), "element"),
                keys.len()
            ),
        ));
    }
    let mut out = ValueMap::with_capacity_and_hasher(keys.len(), rustc_hash::FxBuildHasher);
    let mut origin = None;
    for (index, (key, value)) in keys.iter().zip(values).enumerate() {
        if let Value::Unknown(o) = key {
            origin = origin.or(Some(o));
        } else {
            out.insert(call.element_string(0, index, key)?.into_owned(), value.clone());
        }
    }
    Ok(origin.map_or(Value::Map(out), |o| unknown(o)))
}

pub(super) fn sum(call: &Call<'_>) -> Result<Value, FunctionError> {
    let items = call.list(0)?;
    if items.is_empty() {
        return Err(call.error(0, "must not be an empty list"));
    }
    let mut total = 0.0;
    let mut origin = None;
    for (index, item) in items.iter().enumerate() {
        match item {
            Value::Number(n) => total += n,
            Value::Unknown(o) => origin = origin.or(Some(o)),
            other => {
                return Err(call.error(
                    0,
                    format!("must be a list of numbers, but index {index} is {}", describe(other)),
                ));
            }
        }
    }
    Ok(origin.map_or(Value::Number(total), |o| unknown(o)))
}

/// The only element of a list, or null for an empty list.
pub(super) fn one(call: &Call<'_>) -> Result<Value, FunctionError> {
    match call.list(0)? {
        [] => Ok(Value::Null),
        [only] => Ok(only.clone()),
        items => Err(call.error(0, format!("must have at most one element, got {}", items.len()))),
    }
}

/// The non-empty strings of a list (numbers and bools become strings, nulls are dropped).
pub(super) fn compact(call: &Call<'_>) -> Result<Value, FunctionError> {
    let items = call.list(0)?;
    let mut out = Vec::with_capacity(items.len());
    let mut origin = None;
    for (index, item) in items.iter().enumerate() {
        match item {
            Value::Null => {}
            // Whether it is empty is unknown, so the length of the result is too.
            Value::Unknown(o) => origin = origin.or(Some(o)),
            other => {
                let s = call.element_string(0, index, other)?;
                if !s.is_empty() {
                    out.push(Value::String(s.into_owned()));
                }
            }
        }
    }
    Ok(origin.map_or(Value::List(out), |o| unknown(o)))
}

/// Lists of `size` elements (the last one shorter); a size of 0 gives the whole list as one chunk.
pub(super) fn chunklist(call: &Call<'_>) -> Result<Value, FunctionError> {
    let items = call.list(0)?;
    let size = call.integer(1)?;
    let Ok(size) = usize::try_from(size) else {
        return Err(call.error(1, format!("must not be negative, got {size}")));
    };
    if size == 0 {
        return Ok(Value::List(vec![Value::List(items.to_vec())]));
    }
    Ok(Value::List(
        items.chunks(size).map(|chunk| Value::List(chunk.to_vec())).collect(),
    ))
}

/// Numbers from start (default 0) up to but not including limit, by step (default 1 or -1).
pub(super) fn range(call: &Call<'_>) -> Result<Value, FunctionError> {
    let (start, limit, step) = match call.args.len() {
        1 => {
            let limit = call.number(0)?;
            (0.0, limit, if limit < 0.0 { -1.0 } else { 1.0 })
        }
        2 => {
            let (start, limit) = (call.number(0)?, call.number(1)?);
            (start, limit, if limit < start { -1.0 } else { 1.0 })
        }
        _ => (call.number(0)?, call.number(1)?, call.number(2)?),
    };
    if step == 0.0 {
        return Err(call.error(2, "must not be zero"));
    }
    if step < 0.0 && limit > start {
        return Err(call.error(
            1,
            format!(
                "must not be greater than the start ({}) when the step is negative",
                format_number(start)
            ),
        ));
    }
    if step > 0.0 && limit < start {
        return Err(call.error(
            1,
            format!(
                "must not be less than the start ({}) when the step is positive",
                format_number(start)
            ),
        ));
    }
    let mut out = Vec::new();
    let mut steps = 0.0;
    loop {
        // Multiplying rather than adding keeps `range(0, 1, 0.1)` from collecting rounding errors.
        let n = start + steps * step;
        if (step > 0.0 && n >= limit) || (step < 0.0 && n <= limit) {
            break;
        }
        if out.len() == RANGE_LIMIT {
            return Err(call.failure(format!(
                "would produce more than {RANGE_LIMIT} numbers; use a smaller range or a larger step"
            )));
        }
        out.push(Value::Number(n));
        steps += 1.0;
    }
    Ok(Value::List(out))
}

/// Whether two values are equal, or `None` when that depends on unknown values.
fn equal(a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (Value::Unknown(_), _) | (_, Value::Unknown(_)) => None,
        (Value::List(x), Value::List(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            all_equal(x.iter().zip(y))
        }
        (Value::Map(x), Value::Map(y)) => {
            if x.len() != y.len() || x.keys().any(|k| !y.contains_key(k)) {
                return Some(false);
            }
            all_equal(x.iter().filter_map(|(k, v)| Some((v, y.get(k)?))))
        }
        _ => Some(a == b),
    }
}

fn all_equal<'v>(pairs: impl Iterator<Item = (&'v Value, &'v Value)>) -> Option<bool> {
    let mut known = true;
    for (a, b) in pairs {
        match equal(a, b) {
            Some(false) => return Some(false),
            Some(true) => {}
            None => known = false,
        }
    }
    known.then_some(true)
}

/// The first occurrence of every distinct value, in order.
pub(super) fn distinct_refs(items: &[Value]) -> Vec<&Value> {
    if items.iter().all(|v| matches!(v, Value::String(_))) {
        let mut seen = HashSet::with_capacity(items.len());
        return items.iter().filter(|v| seen.insert(v.as_str())).collect();
    }
    let mut out: Vec<&Value> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{b, err, l, m, n, ok, run, s, strings, u};
    use super::*;

    #[test]
    fn concat_and_merge() {
        assert_eq!(
            ok("concat", &[l([n(1.0)]), l([n(2.0), u("x")])]),
            l([n(1.0), n(2.0), u("x")])
        );
        assert_eq!(ok("concat", &[l([n(1.0)]), u("var.more")]), u("var.more"));
        assert_eq!(
            err("concat", &[l([]), s("a")]),
            "argument 2 of `concat` must be a list, got a string"
        );
        assert_eq!(err("concat", &[Value::Null]), "argument 1 of `concat` must not be null");

        assert_eq!(
            ok(
                "merge",
                &[m([("a", n(1.0)), ("b", n(2.0))]), m([("b", n(3.0))]), Value::Null]
            ),
            m([("a", n(1.0)), ("b", n(3.0))])
        );
        assert_eq!(ok("merge", &[]), m([]));
        assert_eq!(ok("merge", &[m([]), u("x")]), u("x"));
        assert_eq!(ok("merge", &[m([("a", u("x"))])]), m([("a", u("x"))]));
        assert_eq!(
            err("merge", &[m([]), l([])]),
            "argument 2 of `merge` must be a map, got a list"
        );
    }

    #[test]
    fn lookup_with_and_without_default() {
        let map = m([("a", n(1.0)), ("b", u("volume.b.id"))]);
        assert_eq!(ok("lookup", &[map.clone(), s("a")]), n(1.0));
        assert_eq!(ok("lookup", &[map.clone(), s("b")]), u("volume.b.id"));
        assert_eq!(ok("lookup", &[map.clone(), s("c"), s("d")]), s("d"));
        assert_eq!(ok("lookup", &[map.clone(), s("a"), u("x")]), n(1.0));
        assert_eq!(ok("lookup", &[map.clone(), s("c"), u("x")]), u("x"));
        assert_eq!(ok("lookup", &[map.clone(), u("k")]), u("k"));
        let error = run("lookup", &[map, s("c")]).unwrap_err();
        assert_eq!(
            error.message,
            "argument 2 of `lookup` is \"c\", which is not a key of argument 1, and there is no default"
        );
        assert_eq!(error.argument, Some(1));
    }

    #[test]
    fn keys_and_values_are_in_key_order() {
        let map = m([("b", n(1.0)), ("a", u("x"))]);
        assert_eq!(ok("keys", std::slice::from_ref(&map)), strings(&["a", "b"]));
        assert_eq!(ok("values", &[map]), l([u("x"), n(1.0)]));
        assert_eq!(ok("keys", &[u("x")]), u("x"));
        assert_eq!(err("keys", &[l([])]), "argument 1 of `keys` must be a map, got a list");
        assert_eq!(err("values", &[Value::Null]), "argument 1 of `values` must not be null");
    }

    #[test]
    fn contains_and_index() {
        let list = strings(&["a", "b"]);
        assert_eq!(ok("contains", &[list.clone(), s("b")]), b(true));
        assert_eq!(ok("contains", &[list.clone(), s("c")]), b(false));
        assert_eq!(ok("contains", &[l([n(1.0)]), s("1")]), b(false));
        assert_eq!(ok("contains", &[l([u("x"), s("a")]), s("a")]), b(true));
        assert_eq!(ok("contains", &[l([u("x")]), s("a")]), u("x"));
        assert_eq!(ok("contains", &[list.clone(), u("y")]), u("y"));
        assert_eq!(
            ok("contains", &[l([l([n(1.0), u("x")])]), l([n(2.0), n(3.0)])]),
            b(false)
        );
        assert_eq!(
            err("contains", &[s("ab"), s("a")]),
            "argument 1 of `contains` must be a list, got a string"
        );

        assert_eq!(ok("index", &[list.clone(), s("b")]), n(1.0));
        assert_eq!(ok("index", &[l([s("a"), u("x")]), s("a")]), n(0.0));
        assert_eq!(ok("index", &[l([u("x"), s("a")]), s("a")]), u("x"));
        assert_eq!(ok("index", &[l([u("x")]), s("c")]), u("x"));
        let error = run("index", &[list, s("c")]).unwrap_err();
        assert_eq!(
            error.message,
            "argument 2 of `index` is \"c\", which is not an element of argument 1"
        );
        assert_eq!(error.argument, Some(1));
    }

    #[test]
    fn coalesce_skips_nulls_and_empty_values() {
        assert_eq!(ok("coalesce", &[Value::Null, s(""), s("a"), s("b")]), s("a"));
        assert_eq!(ok("coalesce", &[n(0.0), s("b")]), n(0.0));
        assert_eq!(ok("coalesce", &[s("a"), u("x")]), s("a"));
        assert_eq!(ok("coalesce", &[Value::Null, u("x"), s("a")]), u("x"));
        let error = run("coalesce", &[Value::Null, s("")]).unwrap_err();
        assert_eq!(
            error.message,
            "`coalesce` needs an argument that is neither null nor an empty string"
        );
        assert_eq!(error.argument, None);

        assert_eq!(
            ok("coalescelist", &[l([]), Value::Null, strings(&["a"])]),
            strings(&["a"])
        );
        assert_eq!(ok("coalescelist", &[strings(&["x"]), u("y")]), strings(&["x"]));
        assert_eq!(ok("coalescelist", &[l([]), u("y")]), u("y"));
        assert_eq!(
            err("coalescelist", &[l([]), l([])]),
            "`coalescelist` needs an argument that is neither null nor an empty list"
        );
        assert_eq!(
            err("coalescelist", &[s("a")]),
            "argument 1 of `coalescelist` must be a list, got a string"
        );
    }

    #[test]
    fn range_counts() {
        assert_eq!(ok("range", &[n(3.0)]), l([n(0.0), n(1.0), n(2.0)]));
        assert_eq!(ok("range", &[n(-2.0)]), l([n(0.0), n(-1.0)]));
        assert_eq!(ok("range", &[n(0.0)]), l([]));
        assert_eq!(ok("range", &[n(1.0), n(4.0)]), l([n(1.0), n(2.0), n(3.0)]));
        assert_eq!(ok("range", &[n(4.0), n(1.0)]), l([n(4.0), n(3.0), n(2.0)]));
        assert_eq!(
            ok("range", &[n(0.0), n(1.0), n(0.25)]),
            l([n(0.0), n(0.25), n(0.5), n(0.75)])
        );
        assert_eq!(
            ok("range", &[n(0.0), n(1.0), n(0.1)]).as_list().map(<[Value]>::len),
            Some(10)
        );
        assert_eq!(ok("range", &[n(10.0), n(0.0), n(-4.0)]), l([n(10.0), n(6.0), n(2.0)]));
        assert_eq!(ok("range", &[n(1024.0)]).as_list().map(<[Value]>::len), Some(1024));
        assert_eq!(ok("range", &[n(1.0), u("x")]), u("x"));
        let error = run("range", &[n(1_000_000.0)]).unwrap_err();
        assert_eq!(
            error.message,
            "`range` would produce more than 1024 numbers; use a smaller range or a larger step"
        );
        assert_eq!(
            err("range", &[n(0.0), n(5.0), n(0.0)]),
            "argument 3 of `range` must not be zero"
        );
        assert_eq!(
            err("range", &[n(0.0), n(5.0), n(-1.0)]),
            "argument 2 of `range` must not be greater than the start (0) when the step is negative"
        );
        assert_eq!(
            err("range", &[n(5.0), n(0.0), n(1.0)]),
            "argument 2 of `range` must not be less than the start (5) when the step is positive"
        );
    }

    #[test]
    fn list_functions() {
        assert_eq!(
            ok("flatten", &[l([l([n(1.0), l([n(2.0)])]), n(3.0), l([]), m([])])]),
            l([n(1.0), n(2.0), n(3.0), m([])])
        );
        assert_eq!(ok("flatten", &[l([l([n(1.0)]), u("x")])]), u("x"));
        assert_eq!(
            err("flatten", &[s("a")]),
            "argument 1 of `flatten` must be a list, got a string"
        );

        assert_eq!(
            ok("distinct", &[l([n(1.0), n(2.0), n(1.0), s("1")])]),
            l([n(1.0), n(2.0), s("1")])
        );
        assert_eq!(ok("distinct", &[strings(&["b", "a", "b"])]), strings(&["b", "a"]));
        assert_eq!(ok("distinct", &[l([s("a"), u("x")])]), u("x"));

        assert_eq!(
            ok("reverse", &[l([n(1.0), n(2.0), u("x")])]),
            l([u("x"), n(2.0), n(1.0)])
        );
        assert_eq!(ok("reverse", &[u("x")]), u("x"));
        assert_eq!(
            err("reverse", &[m([])]),
            "argument 1 of `reverse` must be a list, got a map"
        );

        assert_eq!(ok("sort", &[strings(&["b", "a", "c"])]), strings(&["a", "b", "c"]));
        assert_eq!(ok("sort", &[l([n(10.0), n(9.0)])]), strings(&["10", "9"]));
        assert_eq!(ok("sort", &[l([s("a"), u("x")])]), u("x"));
        assert_eq!(
            err("sort", &[l([Value::Null])]),
            "argument 1 of `sort` must be a list of strings, but index 0 is null"
        );
    }

    #[test]
    fn element_and_slice() {
        let list = strings(&["a", "b"]);
        assert_eq!(ok("element", &[list.clone(), n(1.0)]), s("b"));
        assert_eq!(ok("element", &[list.clone(), n(3.0)]), s("b"));
        assert_eq!(ok("element", &[l([u("x")]), n(0.0)]), u("x"));
        assert_eq!(ok("element", &[list.clone(), u("i")]), u("i"));
        assert_eq!(
            err("element", &[l([]), n(0.0)]),
            "argument 1 of `element` must not be an empty list"
        );
        assert_eq!(
            err("element", &[list.clone(), n(-1.0)]),
            "argument 2 of `element` must not be negative, got -1"
        );
        assert_eq!(
            err("element", &[list.clone(), n(1e20)]),
            "argument 2 of `element` must not be this large, got 100000000000000000000"
        );
        assert_eq!(
            err("element", &[list, n(0.5)]),
            "argument 2 of `element` must be a whole number, got 0.5"
        );

        let list = l([n(1.0), n(2.0), n(3.0), n(4.0)]);
        assert_eq!(ok("slice", &[list.clone(), n(1.0), n(3.0)]), l([n(2.0), n(3.0)]));
        assert_eq!(ok("slice", &[list.clone(), n(4.0), n(4.0)]), l([]));
        assert_eq!(ok("slice", &[list.clone(), n(0.0), u("x")]), u("x"));
        assert_eq!(
            err("slice", &[list.clone(), n(-1.0), n(2.0)]),
            "argument 2 of `slice` must not be negative, got -1"
        );
        assert_eq!(
            err("slice", &[list.clone(), n(0.0), n(-2.0)]),
            "argument 3 of `slice` must not be negative, got -2"
        );
        assert_eq!(
            err("slice", &[list.clone(), n(0.0), n(5.0)]),
            "argument 3 of `slice` must not be greater than the length of argument 1 (4), got 5"
        );
        assert_eq!(
            err("slice", &[list, n(3.0), n(2.0)]),
            "argument 2 of `slice` must not be greater than argument 3 (2), got 3"
        );
    }

    #[test]
    fn zipmap_pairs_keys_and_values() {
        assert_eq!(
            ok("zipmap", &[strings(&["a", "b"]), l([n(1.0), u("x")])]),
            m([("a", n(1.0)), ("b", u("x"))])
        );
        assert_eq!(ok("zipmap", &[l([n(1.0)]), strings(&["one"])]), m([("1", s("one"))]));
        assert_eq!(ok("zipmap", &[l([s("a"), u("k")]), l([n(1.0), n(2.0)])]), u("k"));
        let error = run("zipmap", &[strings(&["a", "b"]), l([n(1.0)])]).unwrap_err();
        assert_eq!(
            error.message,
            "argument 2 of `zipmap` has 1 element, but argument 1 has 2; there must be one value per key"
        );
        assert_eq!(error.argument, Some(1));
        assert_eq!(
            err("zipmap", &[l([l([])]), l([n(1.0)])]),
            "argument 1 of `zipmap` must be a list of strings, but index 0 is a list"
        );
    }

    #[test]
    fn sum_one_compact_chunklist() {
        assert_eq!(ok("sum", &[l([n(1.0), n(2.0), n(3.5)])]), n(6.5));
        assert_eq!(ok("sum", &[l([n(1.0), u("x")])]), u("x"));
        assert_eq!(err("sum", &[l([])]), "argument 1 of `sum` must not be an empty list");
        assert_eq!(
            err("sum", &[l([n(1.0), s("a")])]),
            "argument 1 of `sum` must be a list of numbers, but index 1 is a string"
        );

        assert_eq!(ok("one", &[l([])]), Value::Null);
        assert_eq!(ok("one", &[l([u("x")])]), u("x"));
        assert_eq!(ok("one", &[strings(&["a"])]), s("a"));
        assert_eq!(
            err("one", &[l([n(1.0), n(2.0)])]),
            "argument 1 of `one` must have at most one element, got 2"
        );

        assert_eq!(
            ok("compact", &[l([s("a"), s(""), Value::Null, n(1.0)])]),
            strings(&["a", "1"])
        );
        assert_eq!(ok("compact", &[l([s("a"), u("x")])]), u("x"));
        assert_eq!(
            err("compact", &[l([l([])])]),
            "argument 1 of `compact` must be a list of strings, but index 0 is a list"
        );

        let list = l([n(1.0), n(2.0), n(3.0)]);
        assert_eq!(
            ok("chunklist", &[list.clone(), n(2.0)]),
            l([l([n(1.0), n(2.0)]), l([n(3.0)])])
        );
        assert_eq!(ok("chunklist", &[list.clone(), n(0.0)]), l([list.clone()]));
        assert_eq!(ok("chunklist", &[l([]), n(2.0)]), l([]));
        assert_eq!(ok("chunklist", &[l([u("x")]), n(1.0)]), l([l([u("x")])]));
        assert_eq!(
            err("chunklist", &[list, n(-1.0)]),
            "argument 2 of `chunklist` must not be negative, got -1"
        );
    }
}
