//! Encoding functions: `jsonencode` and `jsondecode`.

use super::arguments::{Call, FunctionError, unknown, unknown_origin};
use crate::config::value::Value;

// Every implementation has the signature of `Implementation`, failing or not.
#[allow(clippy::unnecessary_wraps)]
pub(super) fn jsonencode(call: &Call<'_>) -> Result<Value, FunctionError> {
    let value = &call.args[0];
    Ok(match unknown_origin(value) {
        Some(origin) => unknown(origin),
        None => Value::String(value.to_json().to_string()),
    })
}

pub(super) fn jsondecode(call: &Call<'_>) -> Result<Value, FunctionError> {
    serde_json::from_str::<serde_json::Value>(call.string(0)?)
        .map(|json| Value::from_json(&json))
        .map_err(|e| call.error(0, format!("is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{b, err, l, m, n, ok, s, u};
    use super::*;

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
}
