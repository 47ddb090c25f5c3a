//! `blockform output [NAME]`: the outputs recorded by the last apply, as `name = value` lines,
//! one value, JSON (`--json`) or a bare string for scripts (`--raw`). Also how values look
//! on the terminal, which `state show` shares.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::ExitStatus;
use super::printer::Printer;
use super::state_args::{StateArgs, open_state};

/// Arguments of `output`.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// The output to print; all of them when left out.
    pub name: Option<String>,

    /// Print JSON: the value, or every output with its `sensitive` flag.
    #[arg(long, conflicts_with = "raw")]
    pub json: bool,

    /// Print the value alone, without quotes, for scripts (strings, numbers and booleans only).
    #[arg(long)]
    pub raw: bool,

    #[command(flatten)]
    pub state: StateArgs,
}

/// Runs `output`.
pub fn run(dir: &Path, args: &OutputArgs, printer: &mut Printer) -> ExitStatus {
    let (store, _lock) = match open_state(dir, &args.state, "output", false) {
        Ok(opened) => opened,
        Err(message) => {
            printer.error(&message);
            return ExitStatus::Failure;
        }
    };
    let outputs = match store.outputs() {
        Ok(outputs) => outputs,
        Err(e) => {
            printer.error(&e.to_string());
            return ExitStatus::Failure;
        }
    };
    let Some(name) = &args.name else {
        if args.raw {
            printer.error("`--raw` prints one output: give its NAME");
            return ExitStatus::Failure;
        }
        if args.json {
            let document: serde_json::Map<String, Value> = outputs
                .iter()
                .map(|(name, output)| {
                    let entry = serde_json::json!({ "sensitive": output.sensitive, "value": output.value });
                    (name.clone(), entry)
                })
                .collect();
            printer.out(&format!("{}\n", pretty_json(&Value::Object(document))));
        } else if outputs.is_empty() {
            printer.message("No outputs found: outputs are recorded when `apply` runs.\n");
        } else {
            let mut text = String::new();
            for (name, output) in &outputs {
                let value = if output.sensitive {
                    "<sensitive>".to_owned()
                } else {
                    format_value(&output.value, 0, 2)
                };
                let _ = writeln!(text, "{name} = {value}");
            }
            printer.out(&text);
        }
        return ExitStatus::Success;
    };
    let Some(output) = outputs.get(name) else {
        let known = if outputs.is_empty() {
            "there are none; outputs are recorded when `apply` runs".to_owned()
        } else {
            let names: Vec<&str> = outputs.keys().map(String::as_str).collect();
            format!("the outputs in state are {}", names.join(", "))
        };
        printer.error(&format!("no output `{name}` in state\n  help: {known}"));
        return ExitStatus::Failure;
    };
    if args.json {
        printer.out(&format!("{}\n", pretty_json(&output.value)));
    } else if args.raw {
        let Some(text) = raw_value(&output.value) else {
            printer.error(&format!(
                "output `{name}` is {}; `--raw` prints only strings, numbers and booleans\n  help: use `--json` for it",
                describe(&output.value)
            ));
            return ExitStatus::Failure;
        };
        // Like Terraform's `-raw`: no newline, so `$(blockform output --raw id)` is exact.
        printer.out(&text);
    } else {
        printer.out(&format!("{}\n", format_value(&output.value, 0, 2)));
    }
    ExitStatus::Success
}

/// The text `--raw` prints, for a string, number or boolean.
fn raw_value(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
        Value::String(_) | Value::Number(_) | Value::Bool(_) => "a scalar",
    }
}

fn pretty_json(value: &Value) -> String {
    // Serializing a `Value` cannot fail: its map keys are strings.
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Formats `value` the way the language writes it, Terraform style: nested lists and maps on
/// their own lines, `unit` spaces deeper per level, starting at column `indent`; map keys are
/// aligned.
pub(super) fn format_value(value: &Value, indent: usize, unit: usize) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Array(items) if items.is_empty() => "[]".to_owned(),
        Value::Array(items) => {
            let inner = indent + unit;
            let mut text = String::from("[\n");
            for item in items {
                let _ = writeln!(text, "{:inner$}{},", "", format_value(item, inner, unit));
            }
            let _ = write!(text, "{:indent$}]", "");
            text
        }
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        Value::Object(map) => {
            let mut sorted: Vec<(&String, &Value)> = map.iter().collect();
            sorted.sort_by_key(|(k, _)| *k);
            let entries: Vec<(String, &Value)> = sorted.into_iter().map(|(k, v)| (attribute_key(k), v)).collect();
            format!("{{\n{}{:indent$}}}", format_entries(&entries, indent + unit, unit), "")
        }
    }
}

/// `key = value` lines at column `indent`, with the `=` aligned.
pub(super) fn format_entries(entries: &[(String, &Value)], indent: usize, unit: usize) -> String {
    let width = entries.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let mut text = String::new();
    for (k, v) in entries {
        let _ = writeln!(text, "{:indent$}{k:width$} = {}", "", format_value(v, indent, unit));
    }
    text
}

/// A map key or attribute name as written: bare if it is an identifier, quoted otherwise.
pub(super) fn attribute_key(text: &str) -> String {
    let identifier = text.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if identifier { text.to_owned() } else { quote(text) }
}

/// A string literal: JSON escapes, and `${` / `%{` doubled so the text is not a template.
fn quote(text: &str) -> String {
    let escaped = serde_json::to_string(text).unwrap_or_default();
    escaped.replace("${", "$${").replace("%{", "%%{")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_look_like_the_language() {
        assert_eq!(format_value(&json!("db \"main\""), 0, 2), r#""db \"main\"""#);
        assert_eq!(
            format_value(&json!("${not} a template"), 0, 2),
            r#""$${not} a template""#
        );
        assert_eq!(format_value(&json!(10), 0, 2), "10");
        assert_eq!(format_value(&json!(1.5), 0, 2), "1.5");
        assert_eq!(format_value(&json!(true), 0, 2), "true");
        assert_eq!(format_value(&Value::Null, 0, 2), "null");
        assert_eq!(format_value(&json!([]), 0, 2), "[]");
        assert_eq!(format_value(&json!({}), 0, 2), "{}");
    }

    #[test]
    fn collections_nest_with_aligned_keys() {
        let value = json!({"owner": "team-a", "tier": 1, "Cost Center": {"id": [1, 2]}});
        assert_eq!(
            format_value(&value, 0, 2),
            "{\n  \"Cost Center\" = {\n    id = [\n      1,\n      2,\n    ]\n  }\n  owner         = \"team-a\"\n  tier          = 1\n}"
        );
    }

    #[test]
    fn raw_prints_only_scalars() {
        assert_eq!(raw_value(&json!("volume-1")).as_deref(), Some("volume-1"));
        assert_eq!(raw_value(&json!(20)).as_deref(), Some("20"));
        assert_eq!(raw_value(&json!(false)).as_deref(), Some("false"));
        assert_eq!(raw_value(&json!(["a"])), None);
        assert_eq!(raw_value(&json!({"a": 1})), None);
        assert_eq!(raw_value(&Value::Null), None);
    }
}
