//! Numeric functions: `abs`, `ceil`, `floor`, `min` and `max`.

use super::arguments::{Call, FunctionError};
use crate::config::value::Value;

pub(super) fn abs(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::Number(call.number(0)?.abs()))
}

pub(super) fn ceil(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::Number(call.number(0)?.ceil()))
}

pub(super) fn floor(call: &Call<'_>) -> Result<Value, FunctionError> {
    Ok(Value::Number(call.number(0)?.floor()))
}

pub(super) fn min(call: &Call<'_>) -> Result<Value, FunctionError> {
    let mut out = f64::INFINITY;
    for i in 0..call.args.len() {
        out = out.min(call.number(i)?);
    }
    Ok(Value::Number(out))
}

pub(super) fn max(call: &Call<'_>) -> Result<Value, FunctionError> {
    let mut out = f64::NEG_INFINITY;
    for i in 0..call.args.len() {
        out = out.max(call.number(i)?);
    }
    Ok(Value::Number(out))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{err, n, ok, s, u};

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
}
