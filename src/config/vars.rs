//! Variable values: from `--var NAME=VALUE`, `--var-file FILE`, the environment
//! (`BLOCKFORM_VAR_NAME`) and auto-loaded files, with Terraform's precedence under blockform's
//! names.
//!
//! Later sources win: environment variables, then `blockform.bfvars`, then
//! `blockform.bfvars.json`, then `*.auto.bfvars` and `*.auto.bfvars.json` in name order, then
//! every `--var` and `--var-file` in command-line order. Files hold `name = value` lines (HCL) or
//! a JSON object. Values from `--var` and the environment are literal strings for variables of
//! type string, number, bool or any, and HCL expressions for lists, maps and objects.
//!
//! A variable without a value is unknown or an error ([`MissingVars`]); once every variable
//! has its value, its `validation` blocks are checked. The declarations come from
//! [`declarations`](super::declarations); evaluation (`eval`) takes the values from here.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::declarations::{Config, VariableDecl, valid_identifier};
use super::expr::{Env, Evaluator, Reference, Scope, eval_literal, references};
use super::load::{display_name, parse_file, read_source, suggestion};
use super::types::convert;
use super::value::Value;
use crate::diagnostics::{Diagnostic, Diagnostics, SourceMap, Span};

/// What to do with a variable that has no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingVars {
    /// Treat it as unknown (`validate` checks the configuration, not its inputs).
    #[default]
    Unknown,
    /// Report an error naming the variable (`--input=false`).
    Error,
}

/// The prefix of environment variables that set variables.
pub const ENV_PREFIX: &str = "BLOCKFORM_VAR_";

/// The file loaded automatically from the configuration directory.
pub const AUTO_FILE: &str = "blockform.bfvars";

/// `NAME=VALUE` from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarAssignment {
    /// The variable's name.
    pub name: String,
    /// The value as typed.
    pub raw: String,
}

/// A single `--var` assignment, parsed.
pub fn parse_var_assignment(text: &str) -> Option<VarAssignment> {
    let (name, value) = text.split_once('=')?;
    let name = name.trim();
    valid_identifier(name).then(|| VarAssignment {
        name: name.to_owned(),
        raw: value.to_owned(),
    })
}

/// One `--var` or `--var-file` argument, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarArg {
    /// `--var NAME=VALUE`.
    Assign(VarAssignment),
    /// `--var-file FILE`.
    File(PathBuf),
}

/// Where variable values come from.
#[derive(Debug, Clone, Default)]
pub struct VarInputs {
    /// `--var` and `--var-file` arguments, in order.
    pub args: Vec<VarArg>,
    /// `(name, value)` of `BLOCKFORM_VAR_name` environment variables.
    pub env: Vec<(String, String)>,
}

impl VarInputs {
    /// Inputs from command-line arguments plus this process's environment.
    pub fn with_process_env(args: Vec<VarArg>) -> VarInputs {
        let env = std::env::vars()
            .filter_map(|(k, v)| k.strip_prefix(ENV_PREFIX).map(|name| (name.to_owned(), v)))
            .collect();
        VarInputs { args, env }
    }
}

enum Source {
    Raw {
        raw: String,
        from: String,
    },
    Value {
        value: Value,
        span: Option<Span>,
        from: String,
    },
}

/// The declared variable names, for lookups by name (a file or the command line can assign many).
fn declared_names(config: &Config) -> HashSet<&str> {
    config.variables.iter().map(|v| v.name.as_str()).collect()
}

/// Gives every declared variable its value, reporting bad and missing values.
pub fn resolve(
    config: &Config,
    inputs: &VarInputs,
    missing: MissingVars,
    sources: &mut SourceMap,
    diagnostics: &mut Diagnostics,
    unset: &mut Vec<String>,
) -> IndexMap<String, Value> {
    let mut assigned: IndexMap<String, Source> = IndexMap::new();
    let declared = declared_names(config);
    for (name, raw) in &inputs.env {
        // Unknown names in the environment are ignored: the environment is shared with other tools.
        if declared.contains(name.as_str()) {
            assigned.insert(
                name.clone(),
                Source::Raw {
                    raw: raw.clone(),
                    from: format!("environment variable {ENV_PREFIX}{name}"),
                },
            );
        }
    }
    for file in auto_files(&config.dir) {
        load_vars_file(&file, &config.dir, config, false, &mut assigned, sources, diagnostics);
    }
    for arg in &inputs.args {
        match arg {
            VarArg::Assign(a) => {
                if declared.contains(a.name.as_str()) {
                    assigned.insert(
                        a.name.clone(),
                        Source::Raw {
                            raw: a.raw.clone(),
                            from: format!("--var {}", a.name),
                        },
                    );
                } else {
                    let help = suggestion(&a.name, config.variables.iter().map(|v| v.name.as_str()))
                        .unwrap_or_else(|| format!("declare it with `variable \"{}\" {{}}`", a.name));
                    diagnostics.push(
                        Diagnostic::error(format!("`--var {}=…` sets a variable that is not declared", a.name))
                            .help(help),
                    );
                }
            }
            VarArg::File(path) => load_vars_file(path, &config.dir, config, true, &mut assigned, sources, diagnostics),
        }
    }

    let mut values = IndexMap::new();
    for variable in &config.variables {
        let value = match assigned.swap_remove(&variable.name) {
            Some(source) => convert_source(variable, source, &config.dir, diagnostics),
            None => {
                if let Some(default) = variable.block.attrs.get("default") {
                    let env = Env {
                        base_dir: config.dir.clone(),
                        ..Env::default()
                    };
                    match Evaluator::new(&env, variable.file).eval(&default.expr, &mut Scope::new()) {
                        Ok(v) => convert(v, &variable.ty).unwrap_or_else(|e| {
                            diagnostics.push(
                                Diagnostic::error(format!(
                                    "the default of variable `{}` does not match its type: {e}",
                                    variable.name
                                ))
                                .at(default.value_span.clone(), "wrong type"),
                            );
                            Value::Unknown(format!("var.{}", variable.name))
                        }),
                        Err(e) => {
                            // Defaults are evaluated before anything else exists: a reference is the mistake.
                            let d = match references(&default.expr, variable.file).into_iter().next() {
                                Some(r) => Diagnostic::error(format!(
                                    "the default of variable `{}` must be a literal value, but it refers to `{}`",
                                    variable.name,
                                    reference_text(&r)
                                ))
                                .at(r.span, "a reference")
                                .help("give a fixed default, and compute derived values in a `locals` block"),
                                None => Diagnostic::error(format!(
                                    "the default of variable `{}` must be a literal value: {}",
                                    variable.name, e.message
                                ))
                                .at(e.span, "here"),
                            };
                            diagnostics.push(d);
                            Value::Unknown(format!("var.{}", variable.name))
                        }
                    }
                } else {
                    unset.push(variable.name.clone());
                    if missing == MissingVars::Error {
                        diagnostics.push(
                        Diagnostic::error(format!("no value for required variable `{}`", variable.name))
                            .at(variable.block.name_span(), "declared here without a default")
                            .help(format!(
                                "pass `--var {0}=…`, set {ENV_PREFIX}{0}, put `{0} = …` into {AUTO_FILE}, or give the variable a default",
                                variable.name
                            )),
                    );
                    }
                    Value::Unknown(format!("var.{}", variable.name))
                }
            }
        };
        values.insert(variable.name.clone(), value);
    }
    values
}

fn convert_source(variable: &VariableDecl, source: Source, dir: &Path, diagnostics: &mut Diagnostics) -> Value {
    let unknown = || Value::Unknown(format!("var.{}", variable.name));
    let (value, span, from) = match source {
        Source::Raw { raw, from } => {
            if variable.ty.takes_raw_string() {
                (Value::String(raw), None, from)
            } else {
                match eval_literal(&raw, dir) {
                    Ok(v) => (v, None, from),
                    Err(e) => {
                        diagnostics.push(
                            Diagnostic::error(format!(
                                "invalid value for variable `{}` from {from}: {e}",
                                variable.name
                            ))
                            .help("lists, maps and objects are written in HCL, like `[\"a\", \"b\"]` or `{ a = 1 }`"),
                        );
                        return unknown();
                    }
                }
            }
        }
        Source::Value { value, span, from } => (value, span, from),
    };
    match convert(value, &variable.ty) {
        Ok(v) => v,
        Err(e) => {
            let mut d = Diagnostic::error(format!(
                "invalid value for variable `{}` from {from}: {e}",
                variable.name
            ));
            if let Some(span) = span {
                d = d.at(span, "wrong type");
            }
            diagnostics.push(d);
            unknown()
        }
    }
}

fn auto_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for name in [AUTO_FILE, "blockform.bfvars.json"] {
        let path = dir.join(name);
        if path.is_file() {
            files.push(path);
        }
    }
    let mut auto: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".auto.bfvars") || n.ends_with(".auto.bfvars.json"))
        })
        .collect();
    auto.sort();
    files.extend(auto);
    files
}

fn load_vars_file(
    path: &Path,
    dir: &Path,
    config: &Config,
    explicit: bool,
    assigned: &mut IndexMap<String, Source>,
    sources: &mut SourceMap,
    diagnostics: &mut Diagnostics,
) {
    let name = display_name(path, dir);
    let text = match read_source(path, &name) {
        Ok(t) => t,
        Err(d) => {
            diagnostics.push(d);
            return;
        }
    };
    let file = sources.add(path.to_path_buf(), name.clone(), text.as_str());
    let declared = declared_names(config);
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(map)) => {
                for (key, json) in map {
                    if declared.contains(key.as_str()) {
                        assigned.insert(
                            key,
                            Source::Value {
                                value: Value::from_json(&json),
                                span: None,
                                from: name.clone(),
                            },
                        );
                    } else {
                        diagnostics.push(undeclared_in_file(&key, &name, None, explicit));
                    }
                }
            }
            Ok(_) => diagnostics.push(Diagnostic::error(format!(
                "`{name}` must hold a JSON object of variable values"
            ))),
            Err(e) => diagnostics.push(Diagnostic::error(format!("`{name}` is not valid JSON: {e}"))),
        }
        return;
    }
    let parsed = match parse_file(file, &text, diagnostics) {
        Ok(p) => p,
        Err(d) => {
            diagnostics.push(d);
            return;
        }
    };
    for block in &parsed.blocks {
        diagnostics.push(
            Diagnostic::error(format!("`{name}` holds variable values, not blocks"))
                .at(block.header_span.clone(), "a block in a variables file")
                .help("write `name = value` lines; declarations go into *.hcl files"),
        );
    }
    let env = Env {
        base_dir: dir.to_path_buf(),
        ..Env::default()
    };
    for attr in parsed.attrs.values() {
        if !declared.contains(attr.name.as_str()) {
            diagnostics.push(undeclared_in_file(
                &attr.name,
                &name,
                Some(attr.name_span.clone()),
                explicit,
            ));
            continue;
        }
        match Evaluator::new(&env, file).eval(&attr.expr, &mut Scope::new()) {
            Ok(value) => {
                assigned.insert(
                    attr.name.clone(),
                    Source::Value {
                        value,
                        span: Some(attr.value_span.clone()),
                        from: name.clone(),
                    },
                );
            }
            Err(e) => {
                let d = match references(&attr.expr, file).into_iter().next() {
                    Some(r) => Diagnostic::error(format!(
                        "variable values must be literals, but this one refers to `{}`",
                        reference_text(&r)
                    ))
                    .at(r.span, "a reference"),
                    None => {
                        Diagnostic::error(format!("variable values must be literals: {}", e.message)).at(e.span, "here")
                    }
                };
                diagnostics.push(d.help("variables files cannot refer to other variables or resources"));
            }
        }
    }
}

/// Checks every variable's value against its `validation` blocks.
pub fn check_validations(config: &Config, env: &Env, diagnostics: &mut Diagnostics) {
    for variable in &config.variables {
        let value = env.vars.get(&variable.name).cloned().unwrap_or(Value::Null);
        for validation in variable.block.blocks.iter().filter(|b| b.ident == "validation") {
            let (Some(condition), Some(message)) =
                (validation.attrs.get("condition"), validation.attrs.get("error_message"))
            else {
                continue;
            };
            // A validation sees only its own variable.
            let own = |r: &Reference| r.root == "var" && r.name.as_deref() == Some(variable.name.as_str());
            if let Some(other) = references(&condition.expr, variable.file)
                .into_iter()
                .find(|r| !own(r) && r.root != "path")
            {
                let text = other
                    .name
                    .as_ref()
                    .map_or_else(|| other.root.clone(), |n| format!("{}.{n}", other.root));
                diagnostics.push(
                    Diagnostic::error(format!(
                        "the validation of variable `{}` can refer only to `var.{}`, not to `{text}`",
                        variable.name, variable.name
                    ))
                    .at(other.span, "another value")
                    .help("a condition checks the variable's own value: compare it with literals"),
                );
                continue;
            }
            if value.contains_unknown() {
                continue;
            }
            let mut scoped = Env {
                base_dir: env.base_dir.clone(),
                ..Env::default()
            };
            scoped.vars.insert(variable.name.clone(), value.clone());
            let eval = Evaluator::new(&scoped, variable.file);
            match eval.eval(&condition.expr, &mut Scope::new()) {
                Ok(Value::Bool(true) | Value::Unknown(_)) => {}
                Ok(Value::Bool(false)) => {
                    let text = eval
                        .eval(&message.expr, &mut Scope::new())
                        .ok()
                        .and_then(|v| v.to_template_string());
                    diagnostics.push(
                        Diagnostic::error(format!(
                            "invalid value for variable `{}`: {}",
                            variable.name,
                            text.unwrap_or_default()
                        ))
                        .at(
                            condition.value_span.clone(),
                            format!("this condition is false for {value}"),
                        ),
                    );
                }
                Ok(other) => diagnostics.push(
                    Diagnostic::error(format!(
                        "a validation condition must be a bool, got a {}",
                        other.type_name()
                    ))
                    .at(condition.value_span.clone(), "not a bool"),
                ),
                Err(e) => diagnostics.push(e.into_diagnostic()),
            }
        }
    }
}

/// A reference as written: `local.size`, `var.x`, `volume.db`.
fn reference_text(reference: &Reference) -> String {
    match &reference.name {
        Some(name) => format!("{}.{name}", reference.root),
        None => reference.root.clone(),
    }
}

fn undeclared_in_file(var: &str, file: &str, span: Option<Span>, explicit: bool) -> Diagnostic {
    // Terraform warns for auto-loaded files (they may serve several configurations) and for
    // explicit ones alike; an explicit file is more likely a typo, so it is said more firmly.
    let mut d = Diagnostic::warning(format!("`{file}` sets `{var}`, which no variable block declares"));
    if explicit {
        d = d.help(format!(
            "declare it with `variable \"{var}\" {{}}` or remove it from the file"
        ));
    }
    if let Some(span) = span {
        d = d.at(span, "not declared");
    }
    d
}
