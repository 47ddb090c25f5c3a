//! The function library of the blockform language.
//!
//! HCL defines how a function call is written but no functions; blockform provides Terraform's
//! (same names, arguments and results) so that configurations read the way their authors expect.
//! Every function is pure except `file`, which reads a file next to the configuration.
//!
//! Unknown values ("known after apply") flow through: a function whose result depends on an
//! unknown argument returns an unknown value, one whose result does not (the `length` of a list
//! whose elements are unknown) still returns the known result. Arguments are type-checked before
//! that, so a wrong argument is reported even when another argument of the call is unknown.
//!
//! Where Terraform converts arguments silently, blockform is stricter about the arguments
//! themselves (`upper(5)` is an error) but converts list elements the way Terraform converts a
//! list of numbers to a list of strings (`join(",", [80, 443])` is `"80,443"`).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::fs;
use std::io::{self, Read as _};
use std::path::Path;
use std::sync::LazyLock;

use super::value::{Value, ValueMap, format_number};

/// The largest file `file` reads; a configuration never needs more, a bigger file is a mistake.
const FILE_LIMIT_BYTES: u64 = 16 * 1024 * 1024;

/// The most values `range` produces, as in Terraform.
const RANGE_LIMIT: usize = 1024;

/// The largest width or precision in a `format` verb, so that `%999999999d` cannot exhaust memory.
const FORMAT_WIDTH_LIMIT: usize = 1000;

/// What a function call needs from its surroundings.
#[derive(Debug, Clone, Copy)]
pub struct FunctionContext<'a> {
    /// The directory that `file()` paths are relative to.
    pub base_dir: &'a Path,
}

/// A function call that failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct FunctionError {
    /// What went wrong, as a person reads it.
    pub message: String,
    /// Index of the argument at fault, when one is.
    pub argument: Option<usize>,
}

/// Every function name, sorted (used for "did you mean" suggestions).
pub fn function_names() -> &'static [&'static str] {
    static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| FUNCTIONS.iter().map(|f| f.name).collect());
    &NAMES
}

/// Calls the function `name` with already evaluated arguments.
pub fn call(name: &str, args: &[Value], ctx: &FunctionContext<'_>) -> Result<Value, FunctionError> {
    let Ok(position) = FUNCTIONS.binary_search_by(|f| f.name.cmp(name)) else {
        return Err(FunctionError {
            message: format!("unknown function `{name}`"),
            argument: None,
        });
    };
    let function = &FUNCTIONS[position];
    function.check_arity(args.len())?;
    let call = Call {
        name: function.name,
        args,
        ctx,
    };
    let mut origin = None;
    for (i, arg) in args.iter().enumerate() {
        let Some(param) = function.param(i) else {
            continue;
        };
        match arg {
            Value::Unknown(o) => {
                if !param.unknown_ok && origin.is_none() {
                    origin = Some(o);
                }
            }
            Value::Null if param.nullable => {}
            _ if param.kind.accepts(arg) => {}
            _ => return Err(call.type_error(i, param.kind.expected())),
        }
    }
    match origin {
        Some(origin) => Ok(unknown(origin)),
        None => (function.run)(&call),
    }
}

/// What a parameter accepts.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Any,
    String,
    Number,
    List,
    Map,
    /// A string, number or bool.
    Primitive,
    NumberOrString,
    BoolOrString,
    /// Something with a length: a string, list or map.
    Measurable,
}

impl Kind {
    fn accepts(self, value: &Value) -> bool {
        match self {
            Kind::Any => true,
            Kind::String => matches!(value, Value::String(_)),
            Kind::Number => matches!(value, Value::Number(_)),
            Kind::List => matches!(value, Value::List(_)),
            Kind::Map => matches!(value, Value::Map(_)),
            Kind::Primitive => {
                matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
            }
            Kind::NumberOrString => matches!(value, Value::Number(_) | Value::String(_)),
            Kind::BoolOrString => matches!(value, Value::Bool(_) | Value::String(_)),
            Kind::Measurable => matches!(value, Value::String(_) | Value::List(_) | Value::Map(_)),
        }
    }

    /// What a value of this kind is called in "must be …" messages.
    fn expected(self) -> &'static str {
        match self {
            Kind::Any => "a value",
            Kind::String => "a string",
            Kind::Number => "a number",
            Kind::List => "a list",
            Kind::Map => "a map",
            Kind::Primitive => "a string, number or bool",
            Kind::NumberOrString => "a number or a string",
            Kind::BoolOrString => "a bool or a string",
            Kind::Measurable => "a string, list or map",
        }
    }
}

/// One parameter of a function.
#[derive(Debug, Clone, Copy)]
struct Param {
    kind: Kind,
    /// Whether `null` is accepted (otherwise it is an error, as in Terraform).
    nullable: bool,
    /// Whether the function handles an unknown argument itself (otherwise the result is unknown).
    unknown_ok: bool,
}

impl Param {
    const fn of(kind: Kind) -> Param {
        Param {
            kind,
            nullable: false,
            unknown_ok: false,
        }
    }

    const fn nullable(self) -> Param {
        Param { nullable: true, ..self }
    }

    const fn unknown_ok(self) -> Param {
        Param {
            unknown_ok: true,
            ..self
        }
    }
}

const ANY: Param = Param::of(Kind::Any);
const STRING: Param = Param::of(Kind::String);
const NUMBER: Param = Param::of(Kind::Number);
const LIST: Param = Param::of(Kind::List);
const MAP: Param = Param::of(Kind::Map);

type Implementation = fn(&Call<'_>) -> Result<Value, FunctionError>;

/// A function of the library: its signature and its implementation.
struct Function {
    name: &'static str,
    params: &'static [Param],
    /// How many arguments a call needs at least.
    required: usize,
    /// The parameter of every argument after `params`, for functions that take any number.
    variadic: Option<Param>,
    run: Implementation,
}

impl Function {
    /// A function that takes exactly `params`.
    const fn fixed(name: &'static str, params: &'static [Param], run: Implementation) -> Function {
        Function {
            name,
            params,
            required: params.len(),
            variadic: None,
            run,
        }
    }

    /// A function whose trailing parameters after the first `required` may be left out.
    const fn optional(name: &'static str, params: &'static [Param], required: usize, run: Implementation) -> Function {
        Function {
            name,
            params,
            required,
            variadic: None,
            run,
        }
    }

    /// A function that takes `params` and then any number of `variadic` arguments.
    const fn variadic(
        name: &'static str,
        params: &'static [Param],
        required: usize,
        variadic: Param,
        run: Implementation,
    ) -> Function {
        Function {
            name,
            params,
            required,
            variadic: Some(variadic),
            run,
        }
    }

    fn param(&self, i: usize) -> Option<Param> {
        self.params.get(i).copied().or(self.variadic)
    }

    fn check_arity(&self, given: usize) -> Result<(), FunctionError> {
        let max = if self.variadic.is_some() {
            None
        } else {
            Some(self.params.len())
        };
        if given >= self.required && max.is_none_or(|max| given <= max) {
            return Ok(());
        }
        let expected = match max {
            None => format!("at least {}", plural(self.required, "argument")),
            Some(max) if max == self.required => plural(max, "argument"),
            Some(max) if max == self.required + 1 => {
                format!("{} or {max} arguments", self.required)
            }
            Some(max) => format!("{} to {max} arguments", self.required),
        };
        Err(FunctionError {
            message: format!("`{}` takes {expected}, got {given}", self.name),
            // Point at the first argument too many, when there are too many.
            argument: max.filter(|&max| given > max),
        })
    }
}

/// "1 argument", "2 arguments".
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Every function, sorted by name (looked up by binary search).
static FUNCTIONS: &[Function] = &[
    Function::fixed("abs", &[NUMBER], abs),
    Function::fixed("ceil", &[NUMBER], ceil),
    Function::fixed("chunklist", &[LIST, NUMBER], chunklist),
    Function::variadic("coalesce", &[], 1, ANY.nullable().unknown_ok(), coalesce),
    Function::variadic("coalescelist", &[], 1, LIST.nullable().unknown_ok(), coalescelist),
    Function::fixed("compact", &[LIST], compact),
    Function::variadic("concat", &[], 1, LIST, concat),
    Function::fixed("contains", &[LIST, ANY.nullable()], contains),
    Function::fixed("distinct", &[LIST], distinct),
    Function::fixed("element", &[LIST, NUMBER], element),
    Function::fixed("endswith", &[STRING, STRING], endswith),
    Function::fixed("file", &[STRING], file),
    Function::fixed("flatten", &[LIST], flatten),
    Function::fixed("floor", &[NUMBER], floor),
    Function::variadic("format", &[STRING], 1, ANY.nullable().unknown_ok(), format),
    Function::variadic("formatlist", &[STRING], 1, ANY.nullable(), formatlist),
    Function::fixed("index", &[LIST, ANY.nullable()], index),
    Function::variadic("join", &[STRING], 2, LIST, join),
    Function::fixed("jsondecode", &[STRING], jsondecode),
    Function::fixed("jsonencode", &[ANY.nullable()], jsonencode),
    Function::fixed("keys", &[MAP], keys),
    Function::fixed("length", &[Param::of(Kind::Measurable)], length),
    Function::optional("lookup", &[MAP, STRING, ANY.nullable().unknown_ok()], 2, lookup),
    Function::fixed("lower", &[STRING], lower),
    Function::variadic("max", &[], 1, NUMBER, max),
    Function::variadic("merge", &[], 0, MAP.nullable(), merge),
    Function::variadic("min", &[], 1, NUMBER, min),
    Function::fixed("one", &[LIST], one),
    Function::optional("range", &[NUMBER, NUMBER, NUMBER], 1, range),
    Function::fixed("replace", &[STRING, STRING, STRING], replace),
    Function::fixed("reverse", &[LIST], reverse),
    Function::fixed("slice", &[LIST, NUMBER, NUMBER], slice),
    Function::fixed("sort", &[LIST], sort),
    Function::fixed("split", &[STRING, STRING], split),
    Function::fixed("startswith", &[STRING, STRING], startswith),
    Function::fixed("substr", &[STRING, NUMBER, NUMBER], substr),
    Function::fixed("sum", &[LIST], sum),
    Function::fixed("tobool", &[Param::of(Kind::BoolOrString).nullable()], tobool),
    Function::fixed("tolist", &[LIST.nullable()], tolist),
    Function::fixed("tomap", &[MAP.nullable()], tomap),
    Function::fixed("tonumber", &[Param::of(Kind::NumberOrString).nullable()], tonumber),
    Function::fixed("toset", &[LIST.nullable()], toset),
    Function::fixed("tostring", &[Param::of(Kind::Primitive).nullable()], tostring),
    Function::fixed("trim", &[STRING, STRING], trim),
    Function::fixed("trimprefix", &[STRING, STRING], trimprefix),
    Function::fixed("trimspace", &[STRING], trimspace),
    Function::fixed("trimsuffix", &[STRING, STRING], trimsuffix),
    Function::fixed("upper", &[STRING], upper),
    Function::fixed("values", &[MAP], values),
    Function::fixed("zipmap", &[LIST, LIST], zipmap),
];

/// One call of a function: its arguments, with accessors that report wrong ones.
struct Call<'a> {
    name: &'static str,
    args: &'a [Value],
    ctx: &'a FunctionContext<'a>,
}

impl<'a> Call<'a> {
    /// An error about argument `i` (0-based), worded "argument N of `f` {detail}".
    fn error(&self, i: usize, detail: impl std::fmt::Display) -> FunctionError {
        FunctionError {
            message: format!("argument {} of `{}` {detail}", i + 1, self.name),
            argument: Some(i),
        }
    }

    /// An error about the call as a whole.
    fn failure(&self, detail: impl std::fmt::Display) -> FunctionError {
        FunctionError {
            message: format!("`{}` {detail}", self.name),
            argument: None,
        }
    }

    fn type_error(&self, i: usize, expected: &str) -> FunctionError {
        match self.args.get(i) {
            Some(Value::Null) => self.error(i, "must not be null"),
            other => self.error(
                i,
                format!("must be {expected}, got {}", other.map_or("nothing", describe)),
            ),
        }
    }

    fn string(&self, i: usize) -> Result<&'a str, FunctionError> {
        match self.args.get(i) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(self.type_error(i, Kind::String.expected())),
        }
    }

    fn number(&self, i: usize) -> Result<f64, FunctionError> {
        match self.args.get(i) {
            Some(Value::Number(n)) => Ok(*n),
            _ => Err(self.type_error(i, Kind::Number.expected())),
        }
    }

    /// A number that must be whole, such as an index.
    fn integer(&self, i: usize) -> Result<i64, FunctionError> {
        let n = self.number(i)?;
        Value::Number(n).as_i64().ok_or_else(|| {
            let problem = if n.fract() == 0.0 {
                "must not be this large"
            } else {
                "must be a whole number"
            };
            self.error(i, format!("{problem}, got {}", format_number(n)))
        })
    }

    fn list(&self, i: usize) -> Result<&'a [Value], FunctionError> {
        match self.args.get(i) {
            Some(Value::List(items)) => Ok(items),
            _ => Err(self.type_error(i, Kind::List.expected())),
        }
    }

    fn map(&self, i: usize) -> Result<&'a ValueMap, FunctionError> {
        match self.args.get(i) {
            Some(Value::Map(map)) => Ok(map),
            _ => Err(self.type_error(i, Kind::Map.expected())),
        }
    }

    /// Element `index` of the list in argument `i` as a string, converting numbers and bools the
    /// way Terraform converts a list of them to a list of strings.
    fn element_string(&self, i: usize, index: usize, item: &'a Value) -> Result<Cow<'a, str>, FunctionError> {
        primitive_string(item).ok_or_else(|| {
            self.error(
                i,
                format!("must be a list of strings, but index {index} is {}", describe(item)),
            )
        })
    }
}

/// A value's type with its article, for messages: "a string", "null".
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::List(_) => "a list",
        Value::Map(_) => "a map",
        Value::Unknown(_) => "an unknown value",
    }
}

/// The string form of a string, number or bool.
fn primitive_string(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(format_number(*n))),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// Where the first unknown value in `value` comes from, if it holds one.
fn unknown_origin(value: &Value) -> Option<&str> {
    match value {
        Value::Unknown(origin) => Some(origin),
        Value::List(items) => items.iter().find_map(unknown_origin),
        Value::Map(map) => map.values().find_map(unknown_origin),
        _ => None,
    }
}

fn unknown(origin: &str) -> Value {
    Value::Unknown(origin.to_owned())
}

/// A count as a number value.
fn count(n: usize) -> Value {
    // Lengths of in-memory collections are far below 2^53, where f64 stops being exact.
    #[allow(clippy::cast_precision_loss)]
    Value::Number(n as f64)
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

/// The first occurrence of every distinct value, in order.
fn distinct_refs(items: &[Value]) -> Vec<&Value> {
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

// ---- Strings ----

fn length(call: &Call<'_>) -> Result<Value, FunctionError> {
    match &call.args[0] {
        Value::String(s) => Ok(count(s.chars().count())),
        Value::List(items) => Ok(count(items.len())),
        Value::Map(map) => Ok(count(map.len())),
        _ => Err(call.type_error(0, Kind::Measurable.expected())),
    }
}

fn lower(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::String(call.string(0)?.to_lowercase()))
}

fn upper(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::String(call.string(0)?.to_uppercase()))
}

fn trimspace(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::String(call.string(0)?.trim().to_owned()))
}

fn trim(call: &Call<'_>) -> Result<Value, FunctionError> {
    let cutset = call.string(1)?;
    Ok(Value::String(
        call.string(0)?.trim_matches(|c| cutset.contains(c)).to_owned(),
    ))
}

fn trimprefix(call: &Call<'_>) -> Result<Value, FunctionError> {
    let s = call.string(0)?;
    Ok(Value::String(s.strip_prefix(call.string(1)?).unwrap_or(s).to_owned()))
}

fn trimsuffix(call: &Call<'_>) -> Result<Value, FunctionError> {
    let s = call.string(0)?;
    Ok(Value::String(s.strip_suffix(call.string(1)?).unwrap_or(s).to_owned()))
}

/// Replaces every occurrence of a plain string; unlike Terraform, `/…/` is not a regular
/// expression, so device paths such as `/dev/` can be replaced as written.
fn replace(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::String(call.string(0)?.replace(call.string(1)?, call.string(2)?)))
}

fn startswith(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::Bool(call.string(0)?.starts_with(call.string(1)?)))
}

fn endswith(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::Bool(call.string(0)?.ends_with(call.string(1)?)))
}

/// Characters from `offset` (negative counts from the end), `length` of them (negative: all).
fn substr(call: &Call<'_>) -> Result<Value, FunctionError> {
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

fn split(call: &Call<'_>) -> Result<Value, FunctionError> {
    let separator = call.string(0)?;
    let s = call.string(1)?;
    let parts = if separator.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(separator).map(|part| Value::String(part.to_owned())).collect()
    };
    Ok(Value::List(parts))
}

fn join(call: &Call<'_>) -> Result<Value, FunctionError> {
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

fn format(call: &Call<'_>) -> Result<Value, FunctionError> {
    let values: Vec<&Value> = call.args[1..].iter().collect();
    render(call, call.string(0)?, &values)
}

/// Formats every element of the list arguments (lists must have the same length; other arguments
/// are used for every element).
fn formatlist(call: &Call<'_>) -> Result<Value, FunctionError> {
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

/// Formats `values` (arguments 2, 3, … of the call) by `template`, the way Terraform's `format`
/// does; the result is unknown if a formatted value is.
fn render(call: &Call<'_>, template: &str, values: &[&Value]) -> Result<Value, FunctionError> {
    let mut out = String::with_capacity(template.len());
    let mut next = 0;
    let mut used = 0;
    let mut origin = None;
    let mut rest = template;
    while let Some(percent) = rest.find('%') {
        out.push_str(&rest[..percent]);
        rest = &rest[percent..];
        if let Some(after) = rest.strip_prefix("%%") {
            out.push('%');
            rest = after;
            continue;
        }
        let directive = Directive::parse(rest).map_err(|detail| call.error(0, detail))?;
        rest = &rest[directive.text.len()..];
        let index = directive.index.unwrap_or(next);
        next = index + 1;
        used = used.max(next);
        let Some(&value) = values.get(index) else {
            return Err(call.error(
                0,
                format!(
                    "has `{}` for argument {}, but there {}",
                    directive.text,
                    index + 2,
                    only(values.len() + 1)
                ),
            ));
        };
        if let Some(o) = unknown_origin(value) {
            origin = origin.or(Some(o));
            continue;
        }
        directive.write(call, index + 1, value, &mut out)?;
    }
    out.push_str(rest);
    if used < values.len() {
        return Err(call.error(used + 1, "is not used by the format string"));
    }
    Ok(origin.map_or(Value::String(out), unknown))
}

/// "is only 1 argument", "are only 3 arguments".
fn only(n: usize) -> String {
    if n == 1 {
        "is only 1 argument".to_owned()
    } else {
        format!("are only {n} arguments")
    }
}

/// One `%` verb of a format string, such as `%-10s` or `%[2]05.1f`.
struct Directive<'t> {
    /// The verb as written, for messages.
    text: &'t str,
    /// Any of `-`, `+`, ` `, `0`, `#`.
    flags: &'t str,
    /// The value chosen with `%[n]`, 0-based.
    index: Option<usize>,
    width: Option<usize>,
    precision: Option<usize>,
    verb: char,
}

impl<'t> Directive<'t> {
    /// The verbs `format` knows.
    const VERBS: &'static str = "vsqtdfxXob";

    /// Parses the directive at the start of `s` (which starts with `%`).
    fn parse(s: &'t str) -> Result<Directive<'t>, String> {
        let bytes = s.as_bytes();
        let mut i = 1;
        while matches!(bytes.get(i), Some(b'-' | b'+' | b' ' | b'0' | b'#')) {
            i += 1;
        }
        let flags = &s[1..i];
        let mut index = None;
        if bytes.get(i) == Some(&b'[') {
            let (n, end) = digits(s, i + 1);
            match n {
                Some(n) if n > 0 && bytes.get(end) == Some(&b']') => {
                    index = Some(n - 1);
                    i = end + 1;
                }
                _ => {
                    let stop = end + s[end..].chars().next().map_or(0, char::len_utf8);
                    return Err(format!("has a malformed verb `{}`", &s[..stop]));
                }
            }
        }
        let (width, end) = digits(s, i);
        i = end;
        let mut precision = None;
        if bytes.get(i) == Some(&b'.') {
            let (p, end) = digits(s, i + 1);
            precision = Some(p.unwrap_or(0));
            i = end;
        }
        let Some(verb) = s[i..].chars().next() else {
            return Err(format!("ends with an incomplete verb `{s}`"));
        };
        let text = &s[..i + verb.len_utf8()];
        if width.max(precision).is_some_and(|n| n > FORMAT_WIDTH_LIMIT) {
            return Err(format!(
                "has a width or precision over {FORMAT_WIDTH_LIMIT} in `{text}`"
            ));
        }
        if !Self::VERBS.contains(verb) {
            return Err(format!(
                "has an unsupported verb `{text}`; the verbs are %v %s %q %d %f %t %x %X %o %b and %%"
            ));
        }
        Ok(Directive {
            text,
            flags,
            index,
            width,
            precision,
            verb,
        })
    }

    /// Appends `value`, argument `i` of the call, formatted by this directive.
    fn write(&self, call: &Call<'_>, i: usize, value: &Value, out: &mut String) -> Result<(), FunctionError> {
        let wrong = |expected: &str| {
            if value == &Value::Null {
                call.error(i, format!("must not be null for `{}`", self.text))
            } else {
                call.error(
                    i,
                    format!("must be {expected} for `{}`, got {}", self.text, describe(value)),
                )
            }
        };
        match self.verb {
            'v' => {
                let text = match primitive_string(value) {
                    Some(text) if !self.flags.contains('#') => text,
                    _ => Cow::Owned(value.to_json().to_string()),
                };
                self.pad(out, "", &text, false);
            }
            's' | 'q' => {
                let text = primitive_string(value).ok_or_else(|| wrong("a string, number or bool"))?;
                let text = match self.precision {
                    Some(p) => text.char_indices().nth(p).map_or(&*text, |(at, _)| &text[..at]),
                    None => &text,
                };
                if self.verb == 'q' {
                    self.pad(out, "", &serde_json::Value::String(text.to_owned()).to_string(), false);
                } else {
                    self.pad(out, "", text, false);
                }
            }
            't' => match value {
                Value::Bool(b) => self.pad(out, "", if *b { "true" } else { "false" }, false),
                _ => return Err(wrong("a bool")),
            },
            _ => {
                let Value::Number(n) = value else {
                    return Err(wrong("a number"));
                };
                let not_whole = || {
                    call.error(
                        i,
                        format!("must be a whole number for `{}`, got {}", self.text, format_number(*n)),
                    )
                };
                let digits = match self.verb {
                    'f' => format!("{:.*}", self.precision.unwrap_or(6), n.abs()),
                    'd' if n.fract() == 0.0 => format!("{:.0}", n.abs()),
                    'd' => return Err(not_whole()),
                    radix => {
                        let magnitude = value.as_i64().ok_or_else(not_whole)?.unsigned_abs();
                        match radix {
                            'x' => format!("{magnitude:x}"),
                            'X' => format!("{magnitude:X}"),
                            'o' => format!("{magnitude:o}"),
                            _ => format!("{magnitude:b}"),
                        }
                    }
                };
                let sign = if *n < 0.0 {
                    "-"
                } else if self.flags.contains('+') {
                    "+"
                } else if self.flags.contains(' ') {
                    " "
                } else {
                    ""
                };
                self.pad(out, sign, &digits, true);
            }
        }
        Ok(())
    }

    /// Appends `sign` and `body` padded to the width: with spaces on the left, on the right for
    /// `-`, or with zeros after the sign for `0` on numbers.
    fn pad(&self, out: &mut String, sign: &str, body: &str, numeric: bool) {
        let len = sign.len() + body.chars().count();
        let fill = self.width.unwrap_or(0).saturating_sub(len);
        if self.flags.contains('-') {
            out.push_str(sign);
            out.push_str(body);
            out.extend(std::iter::repeat_n(' ', fill));
        } else if numeric && self.flags.contains('0') {
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', fill));
            out.push_str(body);
        } else {
            out.extend(std::iter::repeat_n(' ', fill));
            out.push_str(sign);
            out.push_str(body);
        }
    }
}

/// The decimal number at `s[from..]` and where it ends; `None` when there are no digits, and
/// `usize::MAX` when the number does not fit.
fn digits(s: &str, from: usize) -> (Option<usize>, usize) {
    let end = from + s[from..].bytes().take_while(u8::is_ascii_digit).count();
    let n = s[from..end].parse().ok().or((end > from).then_some(usize::MAX));
    (n, end)
}

// ---- Collections ----

fn concat(call: &Call<'_>) -> Result<Value, FunctionError> {
    let mut out = Vec::new();
    for i in 0..call.args.len() {
        out.extend_from_slice(call.list(i)?);
    }
    Ok(Value::List(out))
}

fn merge(call: &Call<'_>) -> Result<Value, FunctionError> {
    let mut out = ValueMap::new();
    for (i, arg) in call.args.iter().enumerate() {
        match arg {
            Value::Null => {}
            Value::Map(map) => out.extend(map.iter().map(|(k, v)| (k.clone(), v.clone()))),
            _ => return Err(call.type_error(i, Kind::Map.expected())),
        }
    }
    Ok(Value::Map(out))
}

fn lookup(call: &Call<'_>) -> Result<Value, FunctionError> {
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
fn keys(call: &Call<'_>) -> Result<Value, FunctionError> {
    let mut keys: Vec<&String> = call.map(0)?.keys().collect();
    keys.sort_unstable();
    Ok(Value::List(
        keys.into_iter().map(|k| Value::String(k.clone())).collect(),
    ))
}

/// The values in the lexical order of their keys, as Terraform returns them.
fn values(call: &Call<'_>) -> Result<Value, FunctionError> {
    let mut entries: Vec<(&String, &Value)> = call.map(0)?.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    Ok(Value::List(entries.into_iter().map(|(_, v)| v.clone()).collect()))
}

fn contains(call: &Call<'_>) -> Result<Value, FunctionError> {
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

fn index(call: &Call<'_>) -> Result<Value, FunctionError> {
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

fn coalesce(call: &Call<'_>) -> Result<Value, FunctionError> {
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

fn coalescelist(call: &Call<'_>) -> Result<Value, FunctionError> {
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

fn flatten(call: &Call<'_>) -> Result<Value, FunctionError> {
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

fn distinct(call: &Call<'_>) -> Result<Value, FunctionError> {
    let items = call.list(0)?;
    if let Some(origin) = items.iter().find_map(unknown_origin) {
        return Ok(unknown(origin));
    }
    Ok(Value::List(distinct_refs(items).into_iter().cloned().collect()))
}

/// The element at `index`, wrapping around at the end of the list as Terraform does.
fn element(call: &Call<'_>) -> Result<Value, FunctionError> {
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

fn reverse(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::List(call.list(0)?.iter().rev().cloned().collect()))
}

/// The elements from `start` up to but not including `end`.
fn slice(call: &Call<'_>) -> Result<Value, FunctionError> {
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
fn sort(call: &Call<'_>) -> Result<Value, FunctionError> {
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

fn zipmap(call: &Call<'_>) -> Result<Value, FunctionError> {
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
    let mut out = ValueMap::with_capacity(keys.len());
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

fn sum(call: &Call<'_>) -> Result<Value, FunctionError> {
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
fn one(call: &Call<'_>) -> Result<Value, FunctionError> {
    match call.list(0)? {
        [] => Ok(Value::Null),
        [only] => Ok(only.clone()),
        items => Err(call.error(0, format!("must have at most one element, got {}", items.len()))),
    }
}

/// The non-empty strings of a list (numbers and bools become strings, nulls are dropped).
fn compact(call: &Call<'_>) -> Result<Value, FunctionError> {
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
fn chunklist(call: &Call<'_>) -> Result<Value, FunctionError> {
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
fn range(call: &Call<'_>) -> Result<Value, FunctionError> {
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

// ---- Numbers ----

fn abs(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::Number(call.number(0)?.abs()))
}

fn ceil(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::Number(call.number(0)?.ceil()))
}

fn floor(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::Number(call.number(0)?.floor()))
}

fn min(call: &Call<'_>) -> Result<Value, FunctionError> {
    let mut out = f64::INFINITY;
    for i in 0..call.args.len() {
        out = out.min(call.number(i)?);
    }
    Ok(Value::Number(out))
}

fn max(call: &Call<'_>) -> Result<Value, FunctionError> {
    let mut out = f64::NEG_INFINITY;
    for i in 0..call.args.len() {
        out = out.max(call.number(i)?);
    }
    Ok(Value::Number(out))
}

// ---- Conversions ----

fn tostring(call: &Call<'_>) -> Result<Value, FunctionError> {
    match &call.args[0] {
        Value::Null => Ok(Value::Null),
        Value::String(s) => Ok(Value::String(s.clone())),
        other => primitive_string(other)
            .map(|s| Value::String(s.into_owned()))
            .ok_or_else(|| call.type_error(0, Kind::Primitive.expected())),
    }
}

fn tonumber(call: &Call<'_>) -> Result<Value, FunctionError> {
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

fn tobool(call: &Call<'_>) -> Result<Value, FunctionError> {
    match &call.args[0] {
        Value::Null => Ok(Value::Null),
        Value::Bool(b) => Ok(Value::Bool(*b)),
        Value::String(s) if s == "true" => Ok(Value::Bool(true)),
        Value::String(s) if s == "false" => Ok(Value::Bool(false)),
        Value::String(s) => Err(call.error(0, format!("must be a bool or \"true\" or \"false\", got {s:?}"))),
        _ => Err(call.type_error(0, Kind::BoolOrString.expected())),
    }
}

fn tolist(call: &Call<'_>) -> Result<Value, FunctionError> {
    let Value::List(items) = &call.args[0] else {
        return Ok(Value::Null);
    };
    Ok(Value::List(if unify(call, 0, items.iter())? {
        items.iter().map(stringify).collect()
    } else {
        items.clone()
    }))
}

fn tomap(call: &Call<'_>) -> Result<Value, FunctionError> {
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
fn toset(call: &Call<'_>) -> Result<Value, FunctionError> {
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

// Every implementation has the signature of `Implementation`, failing or not.
#[allow(clippy::unnecessary_wraps)]
fn jsonencode(call: &Call<'_>) -> Result<Value, FunctionError> {
    let value = &call.args[0];
    Ok(match unknown_origin(value) {
        Some(origin) => unknown(origin),
        None => Value::String(value.to_json().to_string()),
    })
}

fn jsondecode(call: &Call<'_>) -> Result<Value, FunctionError> {
    serde_json::from_str::<serde_json::Value>(call.string(0)?)
        .map(|json| Value::from_json(&json))
        .map_err(|e| call.error(0, format!("is not valid JSON: {e}")))
}

// ---- Files ----

/// The contents of a UTF-8 file, relative to the configuration's directory.
fn file(call: &Call<'_>) -> Result<Value, FunctionError> {
    let path = call.ctx.base_dir.join(call.string(0)?);
    let fail = |problem: &str| call.error(0, format!("names `{}`, which {problem}", path.display()));
    let io_fail = |e: &io::Error| match e.kind() {
        io::ErrorKind::NotFound => fail("does not exist"),
        kind => fail(&format!("cannot be read: {kind}")),
    };
    let metadata = fs::metadata(&path).map_err(|e| io_fail(&e))?;
    if metadata.is_dir() {
        return Err(fail("is a directory"));
    }
    // A FIFO or a device would block the read or never end: only regular files are read.
    if !metadata.is_file() {
        return Err(fail("is not a regular file (a FIFO, socket or device)"));
    }
    let too_big = || {
        fail(&format!(
            "is larger than {} MiB, the most `file` reads",
            FILE_LIMIT_BYTES >> 20
        ))
    };
    if metadata.len() > FILE_LIMIT_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    // Read one byte more than the limit to notice files that grew or whose size is not known
    // in advance (pipes, devices).
    fs::File::open(&path)
        .and_then(|f| f.take(FILE_LIMIT_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| io_fail(&e))?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > FILE_LIMIT_BYTES) {
        return Err(too_big());
    }
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| fail("is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, args: &[Value]) -> Result<Value, FunctionError> {
        call(
            name,
            args,
            &FunctionContext {
                base_dir: Path::new("/nonexistent"),
            },
        )
    }

    fn ok(name: &str, args: &[Value]) -> Value {
        run(name, args).unwrap()
    }

    fn err(name: &str, args: &[Value]) -> String {
        run(name, args).unwrap_err().message
    }

    fn s(s: &str) -> Value {
        Value::String(s.to_owned())
    }

    fn n(n: f64) -> Value {
        Value::Number(n)
    }

    fn b(b: bool) -> Value {
        Value::Bool(b)
    }

    fn u(origin: &str) -> Value {
        Value::Unknown(origin.to_owned())
    }

    fn l<const N: usize>(items: [Value; N]) -> Value {
        Value::List(items.into())
    }

    fn strings(items: &[&str]) -> Value {
        Value::List(items.iter().map(|item| s(item)).collect())
    }

    fn m<const N: usize>(entries: [(&str, Value); N]) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    #[test]
    fn names_are_sorted_unique_and_all_callable() {
        let names = function_names();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
        let expected = "abs ceil chunklist coalesce coalescelist compact concat contains distinct element \
            endswith file flatten floor format formatlist index join jsondecode jsonencode keys length \
            lookup lower max merge min one range replace reverse slice sort split startswith substr sum \
            tobool tolist tomap tonumber toset tostring trim trimprefix trimspace trimsuffix upper \
            values zipmap";
        assert_eq!(names, expected.split_whitespace().collect::<Vec<_>>());
        for name in names {
            if let Err(error) = run(name, &[Value::Null, Value::Null, Value::Null, Value::Null]) {
                assert!(!error.message.starts_with("unknown function"), "{name}: {error}");
            }
        }
    }

    #[test]
    fn unknown_function_is_an_error() {
        let error = run("uper", &[s("a")]).unwrap_err();
        assert_eq!(
            error,
            FunctionError {
                message: "unknown function `uper`".to_owned(),
                argument: None
            }
        );
    }

    #[test]
    fn arity_is_checked() {
        let error = run("upper", &[s("a"), s("b")]).unwrap_err();
        assert_eq!(error.message, "`upper` takes 1 argument, got 2");
        assert_eq!(error.argument, Some(1));
        let error = run("lookup", &[m([])]).unwrap_err();
        assert_eq!(error.message, "`lookup` takes 2 or 3 arguments, got 1");
        assert_eq!(error.argument, None);
        assert_eq!(err("range", &[]), "`range` takes 1 to 3 arguments, got 0");
        assert_eq!(err("concat", &[]), "`concat` takes at least 1 argument, got 0");
        assert_eq!(err("join", &[s(",")]), "`join` takes at least 2 arguments, got 1");
        assert_eq!(err("zipmap", &[l([])]), "`zipmap` takes 2 arguments, got 1");
    }

    #[test]
    fn arguments_are_type_checked() {
        let error = run("upper", &[n(5.0)]).unwrap_err();
        assert_eq!(error.message, "argument 1 of `upper` must be a string, got a number");
        assert_eq!(error.argument, Some(0));
        let error = run("upper", &[Value::Null]).unwrap_err();
        assert_eq!(error.message, "argument 1 of `upper` must not be null");
        // A wrong argument is reported even when another one is unknown.
        let error = run("replace", &[u("var.x"), n(1.0), s("y")]).unwrap_err();
        assert_eq!(error.message, "argument 2 of `replace` must be a string, got a number");
        assert_eq!(error.argument, Some(1));
    }

    #[test]
    fn unknown_arguments_give_unknown_results() {
        assert_eq!(ok("upper", &[u("volume.db.id")]), u("volume.db.id"));
        assert_eq!(ok("replace", &[s("a"), u("first"), u("second")]), u("first"));
    }

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
    fn format_verbs() {
        let cases = [
            ("%s-%d", vec![s("a"), n(5.0)], "a-5"),
            ("%s %s %s", vec![n(1.5), b(true), s("x")], "1.5 true x"),
            ("%05.2f", vec![n(1.23456)], "01.23"),
            ("%f", vec![n(1.0)], "1.000000"),
            ("%.1f", vec![n(-0.25)], "-0.2"),
            ("%-5s|", vec![s("ab")], "ab   |"),
            ("%5s|", vec![s("ab")], "   ab|"),
            ("%.2s", vec![s("héllo")], "hé"),
            ("%q", vec![s("a\"b")], "\"a\\\"b\""),
            ("%q", vec![n(5.0)], "\"5\""),
            ("%v", vec![l([n(1.0), s("a")])], "[1,\"a\"]"),
            ("%v %v %v", vec![n(1.5), Value::Null, s("a")], "1.5 null a"),
            ("%#v", vec![s("a")], "\"a\""),
            ("%v", vec![m([("k", b(false))])], "{\"k\":false}"),
            ("100%%", vec![], "100%"),
            ("%[2]s %[1]s %s", vec![s("a"), s("b")], "b a b"),
            ("%+d % d %d", vec![n(5.0), n(5.0), n(-5.0)], "+5  5 -5"),
            ("%05d|%-4d|%4d", vec![n(-42.0), n(7.0), n(7.0)], "-0042|7   |   7"),
            ("%x %X %o %b", vec![n(255.0), n(255.0), n(8.0), n(5.0)], "ff FF 10 101"),
            ("%t", vec![b(true)], "true"),
            ("%d", vec![n(1e20)], "100000000000000000000"),
            ("no verbs", vec![], "no verbs"),
        ];
        for (template, values, expected) in cases {
            let mut args = vec![s(template)];
            args.extend(values);
            assert_eq!(ok("format", &args), s(expected), "{template}");
        }
    }

    #[test]
    fn format_unknowns() {
        assert_eq!(
            ok("format", &[s("%s-%s"), s("a"), u("volume.db.id")]),
            u("volume.db.id")
        );
        assert_eq!(ok("format", &[s("%v"), l([u("x")])]), u("x"));
        assert_eq!(ok("format", &[u("var.f"), s("a")]), u("var.f"));
        // The format string is still checked.
        assert_eq!(
            err("format", &[s("%s %y"), u("x")]),
            "argument 1 of `format` has an unsupported verb `%y`; the verbs are %v %s %q %d %f %t %x %X %o %b and %%"
        );
    }

    #[test]
    fn format_errors() {
        let error = run("format", &[s("%d"), n(1.5)]).unwrap_err();
        assert_eq!(
            error.message,
            "argument 2 of `format` must be a whole number for `%d`, got 1.5"
        );
        assert_eq!(error.argument, Some(1));
        assert_eq!(
            err("format", &[s("%d"), s("1")]),
            "argument 2 of `format` must be a number for `%d`, got a string"
        );
        assert_eq!(
            err("format", &[s("%x"), n(0.5)]),
            "argument 2 of `format` must be a whole number for `%x`, got 0.5"
        );
        assert_eq!(
            err("format", &[s("%s"), Value::Null]),
            "argument 2 of `format` must not be null for `%s`"
        );
        assert_eq!(
            err("format", &[s("%5s"), l([])]),
            "argument 2 of `format` must be a string, number or bool for `%5s`, got a list"
        );
        assert_eq!(
            err("format", &[s("%t"), s("x")]),
            "argument 2 of `format` must be a bool for `%t`, got a string"
        );
        assert_eq!(
            err("format", &[s("%s %s"), s("a")]),
            "argument 1 of `format` has `%s` for argument 3, but there are only 2 arguments"
        );
        assert_eq!(
            err("format", &[s("%[3]s")]),
            "argument 1 of `format` has `%[3]s` for argument 4, but there is only 1 argument"
        );
        let error = run("format", &[s("%s"), s("a"), s("b")]).unwrap_err();
        assert_eq!(error.message, "argument 3 of `format` is not used by the format string");
        assert_eq!(error.argument, Some(2));
        assert_eq!(
            err("format", &[s("abc %-")]),
            "argument 1 of `format` ends with an incomplete verb `%-`"
        );
        assert_eq!(
            err("format", &[s("%[0]s"), s("a")]),
            "argument 1 of `format` has a malformed verb `%[0]`"
        );
        assert_eq!(
            err("format", &[s("%[x]s"), s("a")]),
            "argument 1 of `format` has a malformed verb `%[x`"
        );
        assert_eq!(
            err("format", &[s("%2000d"), n(1.0)]),
            "argument 1 of `format` has a width or precision over 1000 in `%2000d`"
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
    fn numbers() {
        assert_eq!(ok("abs", &[n(-3.5)]), n(3.5));
        assert_eq!(ok("ceil", &[n(1.2)]), n(2.0));
        assert_eq!(ok("floor", &[n(-1.2)]), n(-2.0));
        assert_eq!(ok("min", &[n(3.0), n(1.0), n(2.0)]), n(1.0));
        assert_eq!(ok("max", &[n(3.0), n(1.0), n(2.0)]), n(3.0));
        assert_eq!(ok("max", &[n(3.0), u("x")]), u("x"));
        assert_eq!(ok("floor", &[u("x")]), u("x"));
        assert_eq!(
            err("abs", &[s("1")]),
            "argument 1 of `abs` must be a number, got a string"
        );
        assert_eq!(err("min", &[]), "`min` takes at least 1 argument, got 0");
        assert_eq!(
            err("min", &[n(1.0), s("a")]),
            "argument 2 of `min` must be a number, got a string"
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
    fn json() {
        let value = m([("b", l([n(1.0), s("x"), b(true), Value::Null])), ("a", n(1.5))]);
        assert_eq!(ok("jsonencode", &[value]), s(r#"{"a":1.5,"b":[1,"x",true,null]}"#));
        assert_eq!(ok("jsonencode", &[Value::Null]), s("null"));
        assert_eq!(
            ok("jsonencode", &[m([("a", l([u("volume.db.id")]))])]),
            u("volume.db.id")
        );

        assert_eq!(
            ok("jsondecode", &[s(r#"{"b": 1, "a": [true, null, "x"]}"#)]),
            m([("a", l([b(true), Value::Null, s("x")])), ("b", n(1.0))])
        );
        assert_eq!(ok("jsondecode", &[u("x")]), u("x"));
        assert_eq!(
            err("jsondecode", &[s("{")]),
            "argument 1 of `jsondecode` is not valid JSON: EOF while parsing an object at line 1 column 1"
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

    /// A directory of its own for one test, removed when dropped.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("blockform-functions-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn file_reads_utf8_relative_to_the_base_dir() {
        let scratch = Scratch::new("file");
        let dir = &scratch.0;
        fs::create_dir(dir.join("sub")).unwrap();
        fs::write(dir.join("sub/key.pub"), "ssh-ed25519 AAAA é\n").unwrap();
        fs::write(dir.join("binary"), [0xff, 0xfe]).unwrap();
        fs::File::create(dir.join("big"))
            .unwrap()
            .set_len(FILE_LIMIT_BYTES + 1)
            .unwrap();
        let ctx = FunctionContext { base_dir: dir };
        let read = |path: Value| call("file", &[path], &ctx);

        assert_eq!(read(s("sub/key.pub")), Ok(s("ssh-ed25519 AAAA é\n")));
        assert_eq!(read(u("var.path")), Ok(u("var.path")));
        let shown = |name: &str| dir.join(name).display().to_string();
        let error = read(s("missing.txt")).unwrap_err();
        assert_eq!(
            error.message,
            format!(
                "argument 1 of `file` names `{}`, which does not exist",
                shown("missing.txt")
            )
        );
        assert_eq!(error.argument, Some(0));
        assert_eq!(
            read(s("sub")).unwrap_err().message,
            format!("argument 1 of `file` names `{}`, which is a directory", shown("sub"))
        );
        assert_eq!(
            read(s("binary")).unwrap_err().message,
            format!(
                "argument 1 of `file` names `{}`, which is not UTF-8 text",
                shown("binary")
            )
        );
        assert_eq!(
            read(s("big")).unwrap_err().message,
            format!(
                "argument 1 of `file` names `{}`, which is larger than 16 MiB, the most `file` reads",
                shown("big")
            )
        );
        assert_eq!(
            read(n(1.0)).unwrap_err().message,
            "argument 1 of `file` must be a string, got a number"
        );
        // A FIFO would block the read forever; a device never ends.
        let fifo = dir.join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let error = read(s("fifo")).unwrap_err().message;
        assert_eq!(
            error,
            format!(
                "argument 1 of `file` names `{}`, which is not a regular file (a FIFO, socket or device)",
                shown("fifo")
            )
        );
        assert!(
            read(s("/dev/zero"))
                .unwrap_err()
                .message
                .contains("is not a regular file")
        );
    }
}
