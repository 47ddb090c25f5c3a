//! The format engine behind `format` and `formatlist`: Terraform's `%` verbs (`%v %s %q %d %f
//! %t %x %X %o %b` with flags, width, precision and `%[n]` indexes) applied to values.

use std::borrow::Cow;

use super::arguments::{Call, FunctionError, describe, primitive_string, unknown, unknown_origin};
use crate::config::value::{Value, format_number};

/// The largest width or precision in a `format` verb, so that `%999999999d` cannot exhaust memory.
const FORMAT_WIDTH_LIMIT: usize = 1000;

/// Formats `values` (arguments 2, 3, … of the call) by `template`, the way Terraform's `format`
/// does; the result is unknown if a formatted value is.
pub(super) fn render(call: &Call<'_>, template: &str, values: &[&Value]) -> Result<Value, FunctionError> {
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

#[cfg(test)]
mod tests {
    use super::super::tests::{b, err, l, m, n, ok, run, s, u};
    use super::*;

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
}
