//! What every function implementation works with: the call's arguments and the accessors that
//! report a wrong one, the error a call fails with, and the wording and unknown-value helpers
//! that the families share.

use std::borrow::Cow;
use std::path::Path;

use crate::config::value::{Value, ValueMap, format_number};

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

/// What a parameter accepts.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
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
    pub(super) fn accepts(self, value: &Value) -> bool {
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
    pub(super) fn expected(self) -> &'static str {
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

/// One call of a function: its arguments, with accessors that report wrong ones.
pub(super) struct Call<'a> {
    pub(super) name: &'static str,
    pub(super) args: &'a [Value],
    pub(super) ctx: &'a FunctionContext<'a>,
}

impl<'a> Call<'a> {
    /// An error about argument `i` (0-based), worded "argument N of `f` {detail}".
    pub(super) fn error(&self, i: usize, detail: impl std::fmt::Display) -> FunctionError {
        FunctionError {
            message: format!("argument {} of `{}` {detail}", i + 1, self.name),
            argument: Some(i),
        }
    }

    /// An error about the call as a whole.
    pub(super) fn failure(&self, detail: impl std::fmt::Display) -> FunctionError {
        FunctionError {
            message: format!("`{}` {detail}", self.name),
            argument: None,
        }
    }

    pub(super) fn type_error(&self, i: usize, expected: &str) -> FunctionError {
        match self.args.get(i) {
            Some(Value::Null) => self.error(i, "must not be null"),
            other => self.error(
                i,
                format!("must be {expected}, got {}", other.map_or("nothing", describe)),
            ),
        }
    }

    pub(super) fn string(&self, i: usize) -> Result<&'a str, FunctionError> {
        match self.args.get(i) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(self.type_error(i, Kind::String.expected())),
        }
    }

    pub(super) fn number(&self, i: usize) -> Result<f64, FunctionError> {
        match self.args.get(i) {
            Some(Value::Number(n)) => Ok(*n),
            _ => Err(self.type_error(i, Kind::Number.expected())),
        }
    }

    /// A number that must be whole, such as an index.
    pub(super) fn integer(&self, i: usize) -> Result<i64, FunctionError> {
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

    pub(super) fn list(&self, i: usize) -> Result<&'a [Value], FunctionError> {
        match self.args.get(i) {
            Some(Value::List(items)) => Ok(items),
            _ => Err(self.type_error(i, Kind::List.expected())),
        }
    }

    pub(super) fn map(&self, i: usize) -> Result<&'a ValueMap, FunctionError> {
        match self.args.get(i) {
            Some(Value::Map(map)) => Ok(map),
            _ => Err(self.type_error(i, Kind::Map.expected())),
        }
    }

    /// Element `index` of the list in argument `i` as a string, converting numbers and bools the
    /// way Terraform converts a list of them to a list of strings.
    pub(super) fn element_string(
        &self,
        i: usize,
        index: usize,
        item: &'a Value,
    ) -> Result<Cow<'a, str>, FunctionError> {
        primitive_string(item).ok_or_else(|| {
            self.error(
                i,
                format!("must be a list of strings, but index {index} is {}", describe(item)),
            )
        })
    }
}

/// A value's type with its article, for messages: "a string", "null".
pub(super) fn describe(value: &Value) -> &'static str {
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
pub(super) fn primitive_string(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(format_number(*n))),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// Where the first unknown value in `value` comes from, if it holds one.
pub(super) fn unknown_origin(value: &Value) -> Option<&str> {
    match value {
        Value::Unknown(origin) => Some(origin),
        Value::List(items) => items.iter().find_map(unknown_origin),
        Value::Map(map) => map.values().find_map(unknown_origin),
        _ => None,
    }
}

pub(super) fn unknown(origin: &str) -> Value {
    Value::Unknown(origin.to_owned())
}

/// A count as a number value.
pub(super) fn count(n: usize) -> Value {
    // Lengths of in-memory collections are far below 2^53, where f64 stops being exact.
    #[allow(clippy::cast_precision_loss)]
    Value::Number(n as f64)
}

/// "1 argument", "2 arguments".
pub(super) fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
