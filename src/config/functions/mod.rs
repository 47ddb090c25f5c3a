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
//!
//! The registry here (`FUNCTIONS`, with every signature) checks arity and argument types and
//! lets unknown arguments through before a call reaches its implementation; the
//! implementations live by family: `strings` (with the `printf` engine behind `format`),
//! `collections`, `numeric`, `conversions`, `encoding` and `filesystem`. What an
//! implementation works with (the call's arguments, the error type) is in `arguments`.

use std::sync::LazyLock;

mod arguments;
mod collections;
mod conversions;
mod encoding;
mod filesystem;
mod numeric;
mod printf;
mod strings;

use crate::config::value::Value;
use arguments::{Call, Kind, plural, unknown};
pub use arguments::{FunctionContext, FunctionError};

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

/// Every function, sorted by name (looked up by binary search).
static FUNCTIONS: &[Function] = &[
    Function::fixed("abs", &[NUMBER], numeric::abs),
    Function::fixed("ceil", &[NUMBER], numeric::ceil),
    Function::fixed("chunklist", &[LIST, NUMBER], collections::chunklist),
    Function::variadic("coalesce", &[], 1, ANY.nullable().unknown_ok(), collections::coalesce),
    Function::variadic(
        "coalescelist",
        &[],
        1,
        LIST.nullable().unknown_ok(),
        collections::coalescelist,
    ),
    Function::fixed("compact", &[LIST], collections::compact),
    Function::variadic("concat", &[], 1, LIST, collections::concat),
    Function::fixed("contains", &[LIST, ANY.nullable()], collections::contains),
    Function::fixed("distinct", &[LIST], collections::distinct),
    Function::fixed("element", &[LIST, NUMBER], collections::element),
    Function::fixed("endswith", &[STRING, STRING], strings::endswith),
    Function::fixed("file", &[STRING], filesystem::file),
    Function::fixed("flatten", &[LIST], collections::flatten),
    Function::fixed("floor", &[NUMBER], numeric::floor),
    Function::variadic("format", &[STRING], 1, ANY.nullable().unknown_ok(), strings::format),
    Function::variadic("formatlist", &[STRING], 1, ANY.nullable(), strings::formatlist),
    Function::fixed("index", &[LIST, ANY.nullable()], collections::index),
    Function::variadic("join", &[STRING], 2, LIST, strings::join),
    Function::fixed("jsondecode", &[STRING], encoding::jsondecode),
    Function::fixed("jsonencode", &[ANY.nullable()], encoding::jsonencode),
    Function::fixed("keys", &[MAP], collections::keys),
    Function::fixed("length", &[Param::of(Kind::Measurable)], strings::length),
    Function::optional(
        "lookup",
        &[MAP, STRING, ANY.nullable().unknown_ok()],
        2,
        collections::lookup,
    ),
    Function::fixed("lower", &[STRING], strings::lower),
    Function::variadic("max", &[], 1, NUMBER, numeric::max),
    Function::variadic("merge", &[], 0, MAP.nullable(), collections::merge),
    Function::variadic("min", &[], 1, NUMBER, numeric::min),
    Function::fixed("one", &[LIST], collections::one),
    Function::optional("range", &[NUMBER, NUMBER, NUMBER], 1, collections::range),
    Function::fixed("replace", &[STRING, STRING, STRING], strings::replace),
    Function::fixed("reverse", &[LIST], collections::reverse),
    Function::fixed("slice", &[LIST, NUMBER, NUMBER], collections::slice),
    Function::fixed("sort", &[LIST], collections::sort),
    Function::fixed("split", &[STRING, STRING], strings::split),
    Function::fixed("startswith", &[STRING, STRING], strings::startswith),
    Function::fixed("substr", &[STRING, NUMBER, NUMBER], strings::substr),
    Function::fixed("sum", &[LIST], collections::sum),
    Function::fixed(
        "tobool",
        &[Param::of(Kind::BoolOrString).nullable()],
        conversions::tobool,
    ),
    Function::fixed("tolist", &[LIST.nullable()], conversions::tolist),
    Function::fixed("tomap", &[MAP.nullable()], conversions::tomap),
    Function::fixed(
        "tonumber",
        &[Param::of(Kind::NumberOrString).nullable()],
        conversions::tonumber,
    ),
    Function::fixed("toset", &[LIST.nullable()], conversions::toset),
    Function::fixed(
        "tostring",
        &[Param::of(Kind::Primitive).nullable()],
        conversions::tostring,
    ),
    Function::fixed("trim", &[STRING, STRING], strings::trim),
    Function::fixed("trimprefix", &[STRING, STRING], strings::trimprefix),
    Function::fixed("trimspace", &[STRING], strings::trimspace),
    Function::fixed("trimsuffix", &[STRING, STRING], strings::trimsuffix),
    Function::fixed("upper", &[STRING], strings::upper),
    Function::fixed("values", &[MAP], collections::values),
    Function::fixed("zipmap", &[LIST, LIST], collections::zipmap),
];

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    pub(super) fn run(name: &str, args: &[Value]) -> Result<Value, FunctionError> {
        call(
            name,
            args,
            &FunctionContext {
                base_dir: Path::new("/nonexistent"),
            },
        )
    }

    pub(super) fn ok(name: &str, args: &[Value]) -> Value {
        run(name, args).unwrap()
    }

    pub(super) fn err(name: &str, args: &[Value]) -> String {
        run(name, args).unwrap_err().message
    }

    pub(super) fn s(s: &str) -> Value {
        Value::String(s.to_owned())
    }

    pub(super) fn n(n: f64) -> Value {
        Value::Number(n)
    }

    pub(super) fn b(b: bool) -> Value {
        Value::Bool(b)
    }

    pub(super) fn u(origin: &str) -> Value {
        Value::Unknown(origin.to_owned())
    }

    pub(super) fn l<const N: usize>(items: [Value; N]) -> Value {
        Value::List(items.into())
    }

    pub(super) fn strings(items: &[&str]) -> Value {
        Value::List(items.iter().map(|item| s(item)).collect())
    }

    pub(super) fn m<const N: usize>(entries: [(&str, Value); N]) -> Value {
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
}
