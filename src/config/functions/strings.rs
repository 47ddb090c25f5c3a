//! String functions: case, trimming, searching, cutting, `split` and `join`, `length` (of a
//! string, list or map), and `format`/`formatlist`, which hand their template to the engine in
//! [`printf`](super::printf).

use super::arguments::{Call, FunctionError, Kind, count, plural, unknown};
use super::printf::render;
use crate::config::value::Value;

pub(super) fn length(call: &Call<'_>) -> Result<Value, FunctionError> {
    match &call.args[0] {
        Value::String(s) => Ok(count(s.chars().count())),
        Value::List(items) => Ok(count(items.len())),
        Value::Map(map) => Ok(count(map.len())),
        _ => Err(call.type_error(0, Kind::Measurable.expected())),
    }
}

pub(super) fn lower(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::String(call.string(0)?.to_lowercase()))
}

pub(super) fn upper(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::String(call.string(0)?.to_uppercase()))
}

pub(super) fn trimspace(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::String(call.string(0)?.trim().to_owned()))
}

pub(super) fn trim(call: &Call<'_>) -> Result<Value, FunctionError> {
    let cutset = call.string(1)?;
    Ok(Value::String(
        call.string(0)?.trim_matches(|c| cutset.contains(c)).to_owned(),
    ))
}

pub(super) fn trimprefix(call: &Call<'_>) -> Result<Value, FunctionError> {
    let s = call.string(0)?;
    Ok(Value::String(s.strip_prefix(call.string(1)?).unwrap_or(s).to_owned()))
}

pub(super) fn trimsuffix(call: &Call<'_>) -> Result<Value, FunctionError> {
    let s = call.string(0)?;
    Ok(Value::String(s.strip_suffix(call.string(1)?).unwrap_or(s).to_owned()))
}

/// Replaces every occurrence of a plain string; unlike Terraform, `/…/` is not a regular
/// expression, so device paths such as `/dev/` can be replaced as written.
pub(super) fn replace(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::String(call.string(0)?.replace(call.string(1)?, call.string(2)?)))
}

pub(super) fn startswith(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::Bool(call.string(0)?.starts_with(call.string(1)?)))
}

pub(super) fn endswith(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::Bool(call.string(0)?.ends_with(call.string(1)?)))
}

/// Characters from `offset` (negative counts from the end), `length` of them (negative: all).
pub(super) fn substr(call: &Call<'_>) -> Result<Value, FunctionError> {
    let s = call.string(0)?;
    let offset = call.integer(1)?;
    let length = call.integer(2)?;
    let start = if offset < 0 {
        s.chars()
            .count()
            .saturating_sub(usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX))
    } else {
        usize::try_from(offset).unwrap_or(usize::MAX)
    };
    let rest = s.char_indices().nth(start).map_or("", |(at, _)| &s[at..]);
    let Ok(length) = usize::try_from(length) else {
        return Ok(Value::String(rest.to_owned()));
    };
    let sub = rest.char_indices().nth(length).map_or(rest, |(at, _)| &rest[..at]);
    Ok(Value::String(sub.to_owned()))
}

pub(super) fn split(call: &Call<'_>) -> Result<Value, FunctionError> {
    let separator = call.string(0)?;
    let s = call.string(1)?;
    let parts = if separator.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(separator).map(|part| Value::String(part.to_owned())).collect()
    };
    Ok(Value::List(parts))
}

pub(super) fn join(call: &Call<'_>) -> Result<Value, FunctionError> {
    let separator = call.string(0)?;
    let mut out = String::new();
    let mut origin = None;
    let mut first = true;
    for i in 1..call.args.len() {
        for (index, item) in call.list(i)?.iter().enumerate() {
            if let Value::Unknown(o) = item {
                origin = origin.or(Some(o));
                continue;
            }
            let s = call.element_string(i, index, item)?;
            if !first {
                out.push_str(separator);
            }
            out.push_str(&s);
            first = false;
        }
    }
    Ok(origin.map_or(Value::String(out), |o| unknown(o)))
}

pub(super) fn format(call: &Call<'_>) -> Result<Value, FunctionError> {
    let values: Vec<&Value> = call.args[1..].iter().collect();
    render(call, call.string(0)?, &values)
}

/// Formats every element of the list arguments (lists must have the same length; other arguments
/// are used for every element).
pub(super) fn formatlist(call: &Call<'_>) -> Result<Value, FunctionError> {
    let template = call.string(0)?;
    let mut rows: Option<(usize, usize)> = None;
    for (i, arg) in call.args.iter().enumerate().skip(1) {
        let Value::List(items) = arg else { continue };
        match rows {
            None => rows = Some((items.len(), i)),
            Some((len, first)) if len != items.len() => {
                return Err(call.error(
                    i,
                    format!(
                        "has {}, but argument {} has {len}; the lists must have the same length",
                        plural(items.len(), "element"),
                        first + 1
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    // Without any list, Terraform formats once.
    let rows = rows.map_or(1, |(len, _)| len);
    let mut out = Vec::with_capacity(rows);
    let mut values = Vec::with_capacity(call.args.len() - 1);
    for row in 0..rows {
        values.clear();
        values.extend(call.args[1..].iter().map(|arg| match arg {
            // Every list has `rows` elements, checked above.
            Value::List(items) => &items[row],
            other => other,
        }));
        out.push(render(call, template, &values)?);
    }
    Ok(Value::List(out))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{b, err, l, m, n, ok, run, s, strings, u};
    use super::*;

    #[test]
    fn length_counts_characters_elements_and_entries() {
        assert_eq!(ok("length", &[s("héllo")]), n(5.0));
        assert_eq!(ok("length", &[l([u("a"), u("b")])]), n(2.0));
        assert_eq!(ok("length", &[m([("a", u("x"))])]), n(1.0));
        assert_eq!(ok("length", &[u("x")]), u("x"));
        assert_eq!(
            err("length", &[n(1.0)]),
            "argument 1 of `length` must be a string, list or map, got a number"
        );
    }

    #[test]
    fn case_functions() {
        assert_eq!(ok("lower", &[s("ÀBC")]), s("àbc"));
        assert_eq!(ok("upper", &[s("àbc")]), s("ÀBC"));
        assert_eq!(ok("lower", &[u("x")]), u("x"));
        assert_eq!(
            err("lower", &[b(true)]),
            "argument 1 of `lower` must be a string, got a bool"
        );
    }

    #[test]
    fn formatlist_formats_each_element() {
        assert_eq!(
            ok("formatlist", &[s("%s=%s"), strings(&["a", "b"]), strings(&["1", "2"])]),
            strings(&["a=1", "b=2"])
        );
        assert_eq!(
            ok("formatlist", &[s("%s-%s"), strings(&["a", "b"]), s("x")]),
            strings(&["a-x", "b-x"])
        );
        assert_eq!(ok("formatlist", &[s("%s"), s("x")]), strings(&["x"]));
        assert_eq!(ok("formatlist", &[s("%s"), l([])]), l([]));
        assert_eq!(ok("formatlist", &[s("%s!"), l([u("x"), s("b")])]), l([u("x"), s("b!")]));
        assert_eq!(ok("formatlist", &[s("%s"), u("var.names")]), u("var.names"));
        let error = run("formatlist", &[s("%s%s"), strings(&["a"]), strings(&["b", "c"])]).unwrap_err();
        assert_eq!(
            error.message,
            "argument 3 of `formatlist` has 2 elements, but argument 2 has 1; the lists must have the same length"
        );
        assert_eq!(error.argument, Some(2));
        assert_eq!(
            err("formatlist", &[s("%d"), strings(&["a"])]),
            "argument 2 of `formatlist` must be a number for `%d`, got a string"
        );
    }

    #[test]
    fn join_and_split() {
        assert_eq!(ok("join", &[s(","), l([s("a"), n(1.0), b(true)])]), s("a,1,true"));
        assert_eq!(ok("join", &[s("-"), strings(&["a"]), strings(&["b", "c"])]), s("a-b-c"));
        assert_eq!(ok("join", &[s(","), l([])]), s(""));
        assert_eq!(ok("join", &[s(","), l([s("a"), u("volume.db.id")])]), u("volume.db.id"));
        assert_eq!(
            err("join", &[s(","), l([s("a"), Value::Null])]),
            "argument 2 of `join` must be a list of strings, but index 1 is null"
        );
        assert_eq!(
            err("join", &[s(","), strings(&[]), l([l([])])]),
            "argument 3 of `join` must be a list of strings, but index 0 is a list"
        );
        assert_eq!(
            err("join", &[s(","), s("a")]),
            "argument 2 of `join` must be a list, got a string"
        );

        assert_eq!(ok("split", &[s(","), s("a,b,,c")]), strings(&["a", "b", "", "c"]));
        assert_eq!(ok("split", &[s(","), s("")]), strings(&[""]));
        assert_eq!(ok("split", &[s(""), s("hé")]), strings(&["h", "é"]));
        assert_eq!(ok("split", &[s(","), u("x")]), u("x"));
        assert_eq!(
            err("split", &[s(","), l([])]),
            "argument 2 of `split` must be a string, got a list"
        );
    }

    #[test]
    fn trimming() {
        assert_eq!(ok("trimspace", &[s(" \ta b\n")]), s("a b"));
        assert_eq!(ok("trim", &[s("?!a?b!?"), s("!?")]), s("a?b"));
        assert_eq!(ok("trim", &[s("abc"), s("")]), s("abc"));
        assert_eq!(ok("trimprefix", &[s("helloworld"), s("hello")]), s("world"));
        assert_eq!(ok("trimprefix", &[s("helloworld"), s("world")]), s("helloworld"));
        assert_eq!(ok("trimsuffix", &[s("helloworld"), s("world")]), s("hello"));
        assert_eq!(ok("trimsuffix", &[s("hello"), s("x")]), s("hello"));
        assert_eq!(ok("trim", &[u("x"), s(" ")]), u("x"));
        assert_eq!(
            err("trimspace", &[Value::Null]),
            "argument 1 of `trimspace` must not be null"
        );
        assert_eq!(
            err("trimsuffix", &[s("a"), n(1.0)]),
            "argument 2 of `trimsuffix` must be a string, got a number"
        );
    }

    #[test]
    fn replace_is_plain() {
        assert_eq!(ok("replace", &[s("/dev/sda"), s("/dev/"), s("")]), s("sda"));
        assert_eq!(ok("replace", &[s("a.a.a"), s("."), s("-")]), s("a-a-a"));
        assert_eq!(ok("replace", &[u("x"), s("a"), s("b")]), u("x"));
        assert_eq!(
            err("replace", &[s("a"), s("b"), Value::Null]),
            "argument 3 of `replace` must not be null"
        );
    }

    #[test]
    fn substr_counts_characters() {
        assert_eq!(ok("substr", &[s("hello world"), n(1.0), n(4.0)]), s("ello"));
        assert_eq!(ok("substr", &[s("hello"), n(-3.0), n(-1.0)]), s("llo"));
        assert_eq!(ok("substr", &[s("héllo"), n(1.0), n(1.0)]), s("é"));
        assert_eq!(ok("substr", &[s("hi"), n(5.0), n(1.0)]), s(""));
        assert_eq!(ok("substr", &[s("hello"), n(-10.0), n(2.0)]), s("he"));
        assert_eq!(ok("substr", &[s("hello"), n(3.0), n(10.0)]), s("lo"));
        assert_eq!(ok("substr", &[s("hello"), u("x"), n(1.0)]), u("x"));
        assert_eq!(
            err("substr", &[s("a"), n(1.5), n(1.0)]),
            "argument 2 of `substr` must be a whole number, got 1.5"
        );
    }

    #[test]
    fn prefix_and_suffix_tests() {
        assert_eq!(ok("startswith", &[s("hello"), s("he")]), b(true));
        assert_eq!(ok("startswith", &[s("hello"), s("lo")]), b(false));
        assert_eq!(ok("endswith", &[s("hello"), s("lo")]), b(true));
        assert_eq!(ok("endswith", &[s("hello"), s("he")]), b(false));
        assert_eq!(ok("endswith", &[u("x"), s("he")]), u("x"));
        assert_eq!(
            err("startswith", &[s("a"), b(true)]),
            "argument 2 of `startswith` must be a string, got a bool"
        );
    }
}
