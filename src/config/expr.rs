//! Expression evaluation over hcl-edit's syntax tree.
//!
//! hcl-rs has an evaluator, but it has no notion of values that are "known after apply" and its
//! errors carry no source spans. Evaluating hcl-edit's tree directly gives both: every error
//! points at the sub-expression at fault, and references to objects not yet created yield
//! [`Value::Unknown`], which flows through operators and functions.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use hcl_edit::expr::{BinaryOperator, Expression, ForExpr, ObjectKey, TraversalOperator, UnaryOperator};
use hcl_edit::template::{Directive, Element, Template};
use indexmap::{IndexMap, IndexSet};

use super::functions::{self, FunctionContext};
use super::value::{Value, ValueMap};
use crate::diagnostics::{Diagnostic, FileId, Span};
use crate::model::ResourceKind;

/// An evaluation error at a span of source text.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    /// The sub-expression at fault.
    pub span: Span,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when known.
    pub help: Option<String>,
}

impl EvalError {
    fn new(span: Span, message: impl Into<String>) -> EvalError {
        EvalError {
            span,
            message: message.into(),
            help: None,
        }
    }

    fn with_help(mut self, help: Option<String>) -> EvalError {
        self.help = help;
        self
    }

    /// Turns the error into a diagnostic.
    pub fn into_diagnostic(self) -> Diagnostic {
        let mut diagnostic = Diagnostic::error(self.message).at(self.span, "here");
        if let Some(help) = self.help {
            diagnostic = diagnostic.help(help);
        }
        diagnostic
    }
}

/// A resource as seen by references: every instance's attributes.
///
/// Each kind of resource holds its instances as the [`Value`] a reference sees, so that
/// `volume.data[count.index].id` borrows the one instance it names: a reference costs the same
/// whatever the number of instances (copying the list per reference made `count` and
/// `for_each` configurations quadratic).
#[derive(Debug, Clone)]
pub enum ResourceValue {
    /// A resource without `count` or `for_each`: one object.
    Single(Value),
    /// A resource with `count`: a [`Value::List`] of objects.
    Counted(Value),
    /// A resource with `for_each`: a [`Value::Map`] of objects by key.
    Keyed(Value),
    /// A resource whose instances cannot be known yet (its `count` or `for_each` is unknown, or
    /// it takes part in a cycle).
    Unknown,
}

impl ResourceValue {
    fn to_value(&self, origin: &str) -> Cow<'_, Value> {
        match self {
            ResourceValue::Single(v) | ResourceValue::Counted(v) | ResourceValue::Keyed(v) => Cow::Borrowed(v),
            ResourceValue::Unknown => Cow::Owned(Value::Unknown(origin.to_owned())),
        }
    }
}

/// Everything expressions can refer to at the top level.
#[derive(Debug, Default)]
pub struct Env {
    /// Input variables by name.
    pub vars: IndexMap<String, Value>,
    /// Local values by name.
    pub locals: IndexMap<String, Value>,
    /// Declared local names (a declared local that has no value yet is unknown).
    pub declared_locals: IndexSet<String>,
    /// Resources by kind and name, once evaluated. (`FxHash`: every reference to a resource
    /// looks its name up here.)
    pub resources: HashMap<ResourceKind, rustc_hash::FxHashMap<String, ResourceValue>>,
    /// Declared resource names per kind (evaluated or not).
    pub declared: HashMap<ResourceKind, IndexSet<String>>,
    /// Directory that `file()` and `path.module` refer to.
    pub base_dir: std::path::PathBuf,
}

/// Names bound inside an expression: `each`, `count`, and for-expression variables.
#[derive(Debug, Default, Clone)]
pub struct Scope {
    bindings: Vec<(String, Value)>,
}

impl Scope {
    /// A scope with no bindings.
    pub fn new() -> Scope {
        Scope::default()
    }

    /// Binds a name (inner bindings hide outer ones).
    pub fn bind(&mut self, name: impl Into<String>, value: Value) {
        self.bindings.push((name.into(), value));
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.bindings.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn truncate(&mut self, len: usize) {
        self.bindings.truncate(len);
    }
}

/// Evaluates expressions of one file against an environment.
pub struct Evaluator<'a> {
    env: &'a Env,
    file: FileId,
}

type Result<T> = std::result::Result<T, EvalError>;

impl<'a> Evaluator<'a> {
    /// An evaluator for expressions in `file`.
    pub fn new(env: &'a Env, file: FileId) -> Evaluator<'a> {
        Evaluator { env, file }
    }

    fn span(&self, item: &impl hcl_edit::Span) -> Span {
        Span::new(self.file, item.span().unwrap_or(0..0))
    }

    /// `try(a, b, …)`: the first argument that evaluates without an error; `can(x)`: whether
    /// `x` evaluates without one. Both evaluate their arguments lazily, so an error in an
    /// argument is the answer, not a failure; a value known only after apply keeps the answer
    /// unknown. (References to undeclared names are still reported: they are not run-time errors.)
    fn eval_try_or_can(&self, call: &hcl_edit::expr::FuncCall, name_span: Span, scope: &mut Scope) -> Result<Value> {
        let name = call.name.name.as_str();
        if call.args.expand_final() {
            return Err(EvalError::new(name_span, format!("`{name}` does not take `...`")));
        }
        if name == "can" {
            let [arg] = call.args.iter().collect::<Vec<_>>()[..] else {
                return Err(EvalError::new(
                    self.span(call),
                    format!("`can` takes exactly one argument, got {}", call.args.len()),
                ));
            };
            return Ok(match self.eval(arg, scope) {
                Ok(value) if value.contains_unknown() => Value::Unknown("can(…)".to_owned()),
                Ok(_) => Value::Bool(true),
                Err(_) => Value::Bool(false),
            });
        }
        let mut last_error = None;
        for arg in &call.args {
            match self.eval(arg, scope) {
                Ok(value) => return Ok(value),
                Err(error) => last_error = Some(error),
            }
        }
        Err(match last_error {
            Some(error) => EvalError::new(
                self.span(call),
                format!(
                    "no argument of `try` could be evaluated; the last one failed: {}",
                    error.message
                ),
            )
            .with_help(Some(
                "add a last argument that always works, such as a default value".to_owned(),
            )),
            None => EvalError::new(self.span(call), "`try` needs at least one argument"),
        })
    }

    /// Evaluates an expression.
    pub fn eval(&self, expr: &Expression, scope: &mut Scope) -> Result<Value> {
        match expr {
            Expression::Null(_) => Ok(Value::Null),
            Expression::Bool(b) => Ok(Value::Bool(*b.value())),
            Expression::Number(n) => Ok(Value::Number(n.value().as_f64().unwrap_or(f64::NAN))),
            Expression::String(s) => Ok(Value::String(s.value().clone())),
            Expression::Array(array) => {
                let mut items = Vec::with_capacity(array.len());
                for item in array {
                    items.push(self.eval(item, scope)?);
                }
                Ok(Value::List(items))
            }
            Expression::Object(object) => {
                let mut map = ValueMap::with_capacity_and_hasher(object.len(), rustc_hash::FxBuildHasher);
                for (key, value) in object {
                    let key = match key {
                        ObjectKey::Ident(ident) => ident.as_str().to_owned(),
                        ObjectKey::Expression(key_expr) => match self.eval(key_expr, scope)? {
                            Value::Unknown(origin) => return Ok(Value::Unknown(origin)),
                            v => v.to_template_string().ok_or_else(|| {
                                EvalError::new(
                                    self.span(key_expr),
                                    format!("an object key must be a string, got a {}", v.type_name()),
                                )
                            })?,
                        },
                    };
                    let value = self.eval(value.expr(), scope)?;
                    map.insert(key, value);
                }
                Ok(Value::Map(map))
            }
            Expression::StringTemplate(template) => self.eval_template_elements(template.iter(), scope),
            Expression::HeredocTemplate(heredoc) => self.eval_template(&heredoc.template, scope),
            Expression::Parenthesis(inner) => self.eval(inner.inner(), scope),
            Expression::Variable(ident) => self.eval_variable(ident.as_str(), &self.span(ident), scope),
            Expression::Conditional(cond) => {
                let condition = self.eval(&cond.cond_expr, scope)?;
                match condition {
                    Value::Bool(true) => self.eval(&cond.true_expr, scope),
                    Value::Bool(false) => self.eval(&cond.false_expr, scope),
                    Value::Unknown(origin) => {
                        // Evaluate both branches for their errors; the result is unknown.
                        self.eval(&cond.true_expr, scope)?;
                        self.eval(&cond.false_expr, scope)?;
                        Ok(Value::Unknown(origin))
                    }
                    other => Err(EvalError::new(
                        self.span(&cond.cond_expr),
                        format!("the condition must be a bool, got a {}", other.type_name()),
                    )),
                }
            }
            Expression::FuncCall(call) => {
                let name_span = self.span(&call.name.name);
                if call.name.is_namespaced() {
                    return Err(EvalError::new(name_span, "namespaced functions are not supported"));
                }
                if matches!(call.name.name.as_str(), "try" | "can") {
                    return self.eval_try_or_can(call, name_span, scope);
                }
                let mut args = Vec::with_capacity(call.args.len());
                for arg in &call.args {
                    args.push(self.eval(arg, scope)?);
                }
                if call.args.expand_final() {
                    match args.pop() {
                        Some(Value::List(items)) => args.extend(items),
                        Some(Value::Unknown(origin)) => return Ok(Value::Unknown(origin)),
                        Some(other) => {
                            let last = call.args.iter().last().map_or(name_span.clone(), |a| self.span(a));
                            return Err(EvalError::new(
                                last,
                                format!("`...` expands a list, got a {}", other.type_name()),
                            ));
                        }
                        None => {}
                    }
                }
                let name = call.name.name.as_str();
                let ctx = FunctionContext {
                    base_dir: &self.env.base_dir,
                };
                functions::call(name, &args, &ctx).map_err(|e| {
                    if functions::function_names().contains(&name) {
                        let span = e
                            .argument
                            .and_then(|i| call.args.get(i))
                            .map_or_else(|| self.span(call.as_ref()), |a| self.span(a));
                        EvalError::new(span, e.message)
                    } else {
                        EvalError::new(name_span.clone(), format!("unknown function `{name}`")).with_help(
                            super::load::suggestion(name, functions::function_names().iter().copied()),
                        )
                    }
                })
            }
            Expression::Traversal(traversal) => {
                let base = match &traversal.expr {
                    Expression::Variable(root) => {
                        return self.eval_reference(root.as_str(), &self.span(root), &traversal.operators, scope);
                    }
                    other => self.eval(other, scope)?,
                };
                self.apply_operators(Cow::Owned(base), &traversal.operators, scope)
                    .map(Cow::into_owned)
            }
            Expression::UnaryOp(op) => {
                let value = self.eval(&op.expr, scope)?;
                match (op.operator.value(), value) {
                    (_, Value::Unknown(origin)) => Ok(Value::Unknown(origin)),
                    (UnaryOperator::Neg, Value::Number(n)) => Ok(Value::Number(-n)),
                    (UnaryOperator::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
                    (UnaryOperator::Neg, other) => Err(EvalError::new(
                        self.span(&op.expr),
                        format!("`-` needs a number, got a {}", other.type_name()),
                    )),
                    (UnaryOperator::Not, other) => Err(EvalError::new(
                        self.span(&op.expr),
                        format!("`!` needs a bool, got a {}", other.type_name()),
                    )),
                }
            }
            Expression::BinaryOp(op) => {
                let lhs = self.eval(&op.lhs_expr, scope)?;
                let rhs = self.eval(&op.rhs_expr, scope)?;
                Self::binary(*op.operator.value(), &lhs, &rhs, &self.span(op.as_ref()))
            }
            Expression::ForExpr(for_expr) => self.eval_for(for_expr, scope),
        }
    }

    fn binary(op: BinaryOperator, lhs: &Value, rhs: &Value, span: &Span) -> Result<Value> {
        use BinaryOperator as B;
        match op {
            B::Eq | B::NotEq => {
                if lhs.contains_unknown() || rhs.contains_unknown() {
                    return Ok(unknown_of(lhs, rhs));
                }
                let equal = lhs == rhs;
                Ok(Value::Bool(if op == B::Eq { equal } else { !equal }))
            }
            B::And | B::Or => match (lhs, rhs) {
                (Value::Bool(a), Value::Bool(b)) => Ok(Value::Bool(if op == B::And { *a && *b } else { *a || *b })),
                (Value::Bool(false), Value::Unknown(_)) if op == B::And => Ok(Value::Bool(false)),
                (Value::Bool(true), Value::Unknown(_)) if op == B::Or => Ok(Value::Bool(true)),
                (Value::Unknown(_) | Value::Bool(_), Value::Unknown(_) | Value::Bool(_)) => Ok(unknown_of(lhs, rhs)),
                _ => Err(EvalError::new(
                    span.clone(),
                    format!(
                        "`{}` needs two bools, got a {} and a {}",
                        op.as_str(),
                        lhs.type_name(),
                        rhs.type_name()
                    ),
                )),
            },
            _ => {
                let (a, b) = match (lhs, rhs) {
                    (Value::Unknown(_), _) | (_, Value::Unknown(_)) => return Ok(unknown_of(lhs, rhs)),
                    (a, b) => (to_number(a), to_number(b)),
                };
                let (Some(a), Some(b)) = (a, b) else {
                    return Err(EvalError::new(
                        span.clone(),
                        format!(
                            "`{}` needs two numbers, got a {} and a {}",
                            op.as_str(),
                            lhs.type_name(),
                            rhs.type_name()
                        ),
                    ));
                };
                Ok(match op {
                    B::Plus => Value::Number(a + b),
                    B::Minus => Value::Number(a - b),
                    B::Mul => Value::Number(a * b),
                    B::Div | B::Mod if b == 0.0 => {
                        return Err(EvalError::new(span.clone(), "division by zero"));
                    }
                    B::Div => Value::Number(a / b),
                    B::Mod => Value::Number(a % b),
                    B::Less => Value::Bool(a < b),
                    B::LessEq => Value::Bool(a <= b),
                    B::Greater => Value::Bool(a > b),
                    B::GreaterEq => Value::Bool(a >= b),
                    // Comparisons and logic are answered above.
                    B::Eq | B::NotEq | B::And | B::Or => Value::Null,
                })
            }
        }
    }

    fn eval_variable(&self, name: &str, span: &Span, scope: &Scope) -> Result<Value> {
        if let Some(v) = scope.get(name) {
            return Ok(v.clone());
        }
        self.eval_reference(name, span, &[], &mut scope.clone())
    }

    /// Evaluates a reference: a root name followed by attribute and index operators.
    fn eval_reference(
        &self,
        root: &str,
        span: &Span,
        operators: &[hcl_edit::Decorated<TraversalOperator>],
        scope: &mut Scope,
    ) -> Result<Value> {
        if let Some(bound) = scope.get(root) {
            let bound = bound.clone();
            return self
                .apply_operators(Cow::Owned(bound), operators, scope)
                .map(Cow::into_owned);
        }
        let first_attr = operators.first().and_then(|op| match op.value() {
            TraversalOperator::GetAttr(ident) => Some((ident.as_str(), self.span(ident))),
            _ => None,
        });
        let whole_span = |n: usize| {
            let end = operators
                .get(n.saturating_sub(1))
                .map_or(span.range.end, |op| self.span(op).range.end);
            Span::new(self.file, span.range.start..end)
        };
        let (base, rest): (Cow<'_, Value>, _) = match root {
            "var" | "local" => {
                let Some((name, _)) = first_attr else {
                    return Err(EvalError::new(
                        span.clone(),
                        format!("`{root}` must be followed by a name, like `{root}.example`"),
                    ));
                };
                // The declared names are looked up, and listed only for an error's suggestion:
                // listing them for every reference made many references quadratic.
                let map = if root == "var" {
                    &self.env.vars
                } else {
                    &self.env.locals
                };
                let is_declared = |name: &str| {
                    if root == "var" {
                        self.env.vars.contains_key(name)
                    } else {
                        self.env.declared_locals.contains(name)
                    }
                };
                match map.get(name) {
                    Some(v) => (Cow::Borrowed(v), &operators[1..]),
                    None if is_declared(name) => {
                        (Cow::Owned(Value::Unknown(format!("{root}.{name}"))), &operators[1..])
                    }
                    None => {
                        let declared: Vec<&str> = if root == "var" {
                            self.env.vars.keys().map(String::as_str).collect()
                        } else {
                            self.env.declared_locals.iter().map(String::as_str).collect()
                        };
                        let what = if root == "var" { "variable" } else { "local value" };
                        return Err(EvalError::new(
                            whole_span(1),
                            format!("reference to undeclared {what} `{root}.{name}`"),
                        )
                        .with_help(
                            super::load::suggestion(name, declared.iter().copied()).or_else(|| {
                                Some(if root == "var" {
                                    format!("declare it with a `variable \"{name}\" {{}}` block")
                                } else {
                                    format!("declare it in a `locals {{}}` block: `{name} = …`")
                                })
                            }),
                        ));
                    }
                }
            }
            "each" => {
                return Err(EvalError::new(
                    span.clone(),
                    "`each` can only be used in a resource that has `for_each`",
                )
                .with_help(Some(
                    "add `for_each = …` to the resource, or use a literal value".into(),
                )));
            }
            "count" => {
                return Err(EvalError::new(
                    span.clone(),
                    "`count.index` can only be used in a resource that has `count`",
                )
                .with_help(Some("add `count = N` to the resource, or use a literal value".into())));
            }
            "path" => match first_attr {
                Some(("module" | "root" | "cwd", _)) => (
                    Cow::Owned(Value::String(self.env.base_dir.display().to_string())),
                    &operators[1..],
                ),
                _ => {
                    return Err(EvalError::new(
                        whole_span(1),
                        "`path` has the attributes `module`, `root` and `cwd`",
                    ));
                }
            },
            _ => {
                if let Some(kind) = ResourceKind::from_name(root) {
                    let Some((name, _)) = first_attr else {
                        return Err(EvalError::new(
                            span.clone(),
                            format!("a reference to a {root} needs its name, like `{root}.example.id`"),
                        ));
                    };
                    if let Some(value) = self.env.resources.get(&kind).and_then(|m| m.get(name)) {
                        (value.to_value(&format!("{root}.{name}")), &operators[1..])
                    } else {
                        let declared = self.env.declared.get(&kind);
                        if declared.is_some_and(|names| names.contains(name)) {
                            (Cow::Owned(Value::Unknown(format!("{root}.{name}"))), &operators[1..])
                        } else {
                            return Err(EvalError::new(
                                whole_span(1),
                                format!("reference to undeclared resource `{root}.{name}`"),
                            )
                            .with_help(
                                super::load::suggestion(name, declared.into_iter().flatten().map(String::as_str))
                                    .or_else(|| {
                                        Some(format!("declare it with a `resource \"{root}\" \"{name}\" {{}}` block"))
                                    }),
                            ));
                        }
                    }
                } else {
                    let mut candidates: Vec<&str> = vec!["var", "local", "each", "count", "path"];
                    candidates.extend(ResourceKind::ALL.iter().map(|k| k.name()));
                    let help = match root {
                        "data" => {
                            Some("blockform has no data sources; use `import` to adopt an existing object".to_owned())
                        }
                        "module" => Some("blockform has no modules".to_owned()),
                        _ => super::load::suggestion(root, candidates),
                    };
                    return Err(EvalError::new(span.clone(), format!("unknown name `{root}`")).with_help(help));
                }
            }
        };
        self.apply_operators(base, rest, scope).map(Cow::into_owned)
    }

    fn apply_operators<'v>(
        &self,
        mut value: Cow<'v, Value>,
        operators: &[hcl_edit::Decorated<TraversalOperator>],
        scope: &mut Scope,
    ) -> Result<Cow<'v, Value>> {
        for (i, op) in operators.iter().enumerate() {
            let op_span = self.span(op);
            match op.value() {
                TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                    let items = match value.into_owned() {
                        Value::List(items) => items,
                        Value::Null => Vec::new(),
                        Value::Unknown(origin) => return Ok(Cow::Owned(Value::Unknown(origin))),
                        other => vec![other],
                    };
                    let rest = &operators[i + 1..];
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        out.push(self.apply_operators(Cow::Owned(item), rest, scope)?.into_owned());
                    }
                    return Ok(Cow::Owned(Value::List(out)));
                }
                TraversalOperator::GetAttr(ident) => {
                    let name = ident.as_str();
                    value = match value {
                        Cow::Borrowed(v) => Cow::Borrowed(get_attr(v, name, &op_span)?.unwrap_or(v)),
                        Cow::Owned(v) => match get_attr(&v, name, &op_span)? {
                            Some(inner) => Cow::Owned(inner.clone()),
                            None => Cow::Owned(v),
                        },
                    };
                }
                TraversalOperator::Index(index_expr) => {
                    let index = self.eval(index_expr, scope)?;
                    value = index_into(value, &index, &op_span)?;
                }
                TraversalOperator::LegacyIndex(index) => {
                    #[allow(clippy::cast_precision_loss)]
                    let index = Value::Number(*index.value() as f64);
                    value = index_into(value, &index, &op_span)?;
                }
            }
        }
        Ok(value)
    }

    fn eval_template(&self, template: &Template, scope: &mut Scope) -> Result<Value> {
        self.eval_template_elements(template.iter(), scope)
    }

    fn eval_template_elements<'e>(
        &self,
        elements: impl Iterator<Item = &'e Element>,
        scope: &mut Scope,
    ) -> Result<Value> {
        let mut out = String::new();
        let mut unknown: Option<String> = None;
        for element in elements {
            match element {
                Element::Literal(literal) => out.push_str(literal.value()),
                Element::Interpolation(interpolation) => match self.eval(&interpolation.expr, scope)? {
                    Value::Unknown(origin) => unknown = unknown.or(Some(origin)),
                    value => match value.to_template_string() {
                        Some(s) => out.push_str(&s),
                        None => {
                            return Err(EvalError::new(
                                self.span(&interpolation.expr),
                                format!("cannot insert a {} into a string template", value.type_name()),
                            )
                            .with_help(Some(
                                "convert it first, for instance with `join(\",\", …)` or `jsonencode(…)`".into(),
                            )));
                        }
                    },
                },
                Element::Directive(directive) => match directive.as_ref() {
                    Directive::If(if_directive) => match self.eval(&if_directive.if_expr.cond_expr, scope)? {
                        Value::Bool(true) => match self.eval_template(&if_directive.if_expr.template, scope)? {
                            Value::String(s) => out.push_str(&s),
                            Value::Unknown(origin) => unknown = unknown.or(Some(origin)),
                            _ => {}
                        },
                        Value::Bool(false) => {
                            if let Some(else_expr) = &if_directive.else_expr {
                                match self.eval_template(&else_expr.template, scope)? {
                                    Value::String(s) => out.push_str(&s),
                                    Value::Unknown(origin) => unknown = unknown.or(Some(origin)),
                                    _ => {}
                                }
                            }
                        }
                        Value::Unknown(origin) => unknown = unknown.or(Some(origin)),
                        other => {
                            return Err(EvalError::new(
                                self.span(&if_directive.if_expr.cond_expr),
                                format!("the condition must be a bool, got a {}", other.type_name()),
                            ));
                        }
                    },
                    Directive::For(for_directive) => {
                        let intro = &for_directive.for_expr;
                        let collection = self.eval(&intro.collection_expr, scope)?;
                        let pairs = match iterate(&collection) {
                            Some(pairs) => pairs,
                            None if collection.is_unknown() => {
                                unknown = unknown.or(Some(String::from("for")));
                                continue;
                            }
                            None => {
                                return Err(EvalError::new(
                                    self.span(&intro.collection_expr),
                                    format!("`for` needs a list or a map, got a {}", collection.type_name()),
                                ));
                            }
                        };
                        let mark = scope.bindings.len();
                        for (key, item) in pairs {
                            if let Some(key_var) = &intro.key_var {
                                scope.bind(key_var.as_str(), key);
                            }
                            scope.bind(intro.value_var.as_str(), item);
                            let part = self.eval_template(&intro.template, scope);
                            scope.truncate(mark);
                            match part? {
                                Value::String(s) => out.push_str(&s),
                                Value::Unknown(origin) => unknown = unknown.or(Some(origin)),
                                _ => {}
                            }
                        }
                    }
                },
            }
        }
        Ok(match unknown {
            Some(origin) => Value::Unknown(origin),
            None => Value::String(out),
        })
    }

    fn eval_for(&self, for_expr: &ForExpr, scope: &mut Scope) -> Result<Value> {
        let intro = &for_expr.intro;
        let collection = self.eval(&intro.collection_expr, scope)?;
        let Some(pairs) = iterate(&collection) else {
            if let Value::Unknown(origin) = collection {
                return Ok(Value::Unknown(origin));
            }
            return Err(EvalError::new(
                self.span(&intro.collection_expr),
                format!("`for` needs a list or a map, got a {}", collection.type_name()),
            ));
        };
        let mark = scope.bindings.len();
        let mut list = Vec::new();
        let mut map = ValueMap::default();
        let mut grouped: IndexMap<String, Vec<Value>> = IndexMap::new();
        for (key, item) in pairs {
            if let Some(key_var) = &intro.key_var {
                scope.bind(key_var.as_str(), key);
            }
            scope.bind(intro.value_var.as_str(), item);
            let step = self.eval_for_step(for_expr, scope);
            scope.truncate(mark);
            let Some((key, value)) = step? else { continue };
            match key {
                None => list.push(value),
                Some(Value::Unknown(origin)) => return Ok(Value::Unknown(origin)),
                Some(key) => {
                    let key_span = for_expr
                        .key_expr
                        .as_ref()
                        .map_or_else(|| self.span(for_expr), |k| self.span(k));
                    let Some(key) = key.to_template_string() else {
                        return Err(EvalError::new(
                            key_span,
                            format!("a map key must be a string, got a {}", key.type_name()),
                        ));
                    };
                    if for_expr.grouping {
                        grouped.entry(key).or_default().push(value);
                    } else if map.contains_key(&key) {
                        return Err(
                            EvalError::new(key_span, format!("duplicate key `{key}` in the `for` expression"))
                                .with_help(Some(
                                    "add `...` after the value to group values with the same key".into(),
                                )),
                        );
                    } else {
                        map.insert(key, value);
                    }
                }
            }
        }
        Ok(if for_expr.key_expr.is_none() {
            Value::List(list)
        } else if for_expr.grouping {
            Value::Map(grouped.into_iter().map(|(k, v)| (k, Value::List(v))).collect())
        } else {
            Value::Map(map)
        })
    }

    #[allow(clippy::type_complexity)]
    fn eval_for_step(&self, for_expr: &ForExpr, scope: &mut Scope) -> Result<Option<(Option<Value>, Value)>> {
        if let Some(cond) = &for_expr.cond {
            match self.eval(&cond.expr, scope)? {
                Value::Bool(false) => return Ok(None),
                Value::Bool(true) | Value::Unknown(_) => {}
                other => {
                    return Err(EvalError::new(
                        self.span(&cond.expr),
                        format!("the `if` condition must be a bool, got a {}", other.type_name()),
                    ));
                }
            }
        }
        let key = match &for_expr.key_expr {
            Some(k) => Some(self.eval(k, scope)?),
            None => None,
        };
        Ok(Some((key, self.eval(&for_expr.value_expr, scope)?)))
    }
}

fn unknown_of(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Unknown(origin), _) | (_, Value::Unknown(origin)) => Value::Unknown(origin.clone()),
        _ => Value::Unknown(String::new()),
    }
}

fn to_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => Some(*n),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Looks up an attribute; `Ok(None)` means the value is unknown (so is the attribute).
fn get_attr<'v>(value: &'v Value, name: &str, span: &Span) -> Result<Option<&'v Value>> {
    match value {
        Value::Map(map) => match map.get(name) {
            Some(v) => Ok(Some(v)),
            None => Err(
                EvalError::new(span.clone(), format!("this object has no attribute `{name}`")).with_help(
                    super::load::suggestion(name, map.keys().map(String::as_str)).or_else(|| {
                        Some(format!(
                            "its attributes are {}",
                            quote_list(map.keys().map(String::as_str))
                        ))
                    }),
                ),
            ),
        },
        Value::Unknown(_) => Ok(None),
        Value::List(_) => Err(
            EvalError::new(span.clone(), format!("cannot read attribute `{name}` of a list")).with_help(Some(
                "pick one element first, like `[0]` or `[\"key\"]`, or use `[*]` for all".into(),
            )),
        ),
        Value::Null => Err(EvalError::new(
            span.clone(),
            format!("cannot read attribute `{name}` of null"),
        )),
        other => Err(EvalError::new(
            span.clone(),
            format!("cannot read attribute `{name}` of a {}", other.type_name()),
        )),
    }
}

fn index_into<'v>(value: Cow<'v, Value>, index: &Value, span: &Span) -> Result<Cow<'v, Value>> {
    if let Value::Unknown(origin) = index {
        return Ok(Cow::Owned(Value::Unknown(origin.clone())));
    }
    let found = match value.as_ref() {
        Value::Unknown(_) => return Ok(value),
        Value::List(items) => {
            let Some(i) = index.as_i64() else {
                return Err(EvalError::new(
                    span.clone(),
                    format!("a list index must be a whole number, got {index}"),
                ));
            };
            let found = usize::try_from(i).ok().filter(|i| *i < items.len());
            match found {
                Some(i) => i,
                None => {
                    return Err(EvalError::new(
                        span.clone(),
                        format!("index {i} is out of range for a list of {} elements", items.len()),
                    ));
                }
            }
        }
        Value::Map(map) => {
            let Some(key) = index.to_template_string() else {
                return Err(EvalError::new(
                    span.clone(),
                    format!("a map key must be a string, got a {}", index.type_name()),
                ));
            };
            match map.get_index_of(&key) {
                Some(i) => i,
                None => {
                    return Err(
                        EvalError::new(span.clone(), format!("no element with key {key:?}")).with_help(
                            super::load::suggestion(&key, map.keys().map(String::as_str)).or_else(|| {
                                Some(format!("the keys are {}", quote_list(map.keys().map(String::as_str))))
                            }),
                        ),
                    );
                }
            }
        }
        other => {
            return Err(EvalError::new(
                span.clone(),
                format!("cannot index a {}", other.type_name()),
            ));
        }
    };
    Ok(match value {
        Cow::Borrowed(Value::List(items)) => Cow::Borrowed(&items[found]),
        Cow::Borrowed(Value::Map(map)) => Cow::Borrowed(&map[found]),
        Cow::Owned(Value::List(mut items)) => Cow::Owned(items.swap_remove(found)),
        Cow::Owned(Value::Map(mut map)) => Cow::Owned(map.swap_remove_index(found).map_or(Value::Null, |(_, v)| v)),
        other => other,
    })
}

/// The (key, value) pairs a `for` walks: index and element of a list, key and value of a map.
fn iterate(collection: &Value) -> Option<Vec<(Value, Value)>> {
    match collection {
        #[allow(clippy::cast_precision_loss)]
        Value::List(items) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Number(i as f64), v.clone()))
                .collect(),
        ),
        Value::Map(map) => Some(map.iter().map(|(k, v)| (Value::String(k.clone()), v.clone())).collect()),
        _ => None,
    }
}

fn quote_list<'s>(names: impl Iterator<Item = &'s str>) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// A reference found in an expression without evaluating it: `volume.db.id` has the root
/// `volume` and the name `db`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// The first name (`var`, `local`, `volume`, ...).
    pub root: String,
    /// The attribute after the root, when there is one.
    pub name: Option<String>,
    /// The whole reference's text (root and name).
    pub span: Span,
}

/// Lists the references of an expression, skipping names bound by `for` inside it.
pub fn references(expr: &Expression, file: FileId) -> Vec<Reference> {
    let mut out = Vec::new();
    let mut bound = Vec::new();
    collect_references(expr, file, &mut bound, &mut out);
    out
}

fn collect_references(expr: &Expression, file: FileId, bound: &mut Vec<String>, out: &mut Vec<Reference>) {
    let span_of = |item: &dyn hcl_edit::Span| Span::new(file, item.span().unwrap_or(0..0));
    match expr {
        Expression::Null(_) | Expression::Bool(_) | Expression::Number(_) | Expression::String(_) => {}
        Expression::Array(array) => array.iter().for_each(|e| collect_references(e, file, bound, out)),
        Expression::Object(object) => {
            for (key, value) in object {
                if let ObjectKey::Expression(k) = key {
                    collect_references(k, file, bound, out);
                }
                collect_references(value.expr(), file, bound, out);
            }
        }
        Expression::StringTemplate(t) => t.iter().for_each(|e| collect_template_element(e, file, bound, out)),
        Expression::HeredocTemplate(h) => h
            .template
            .iter()
            .for_each(|e| collect_template_element(e, file, bound, out)),
        Expression::Parenthesis(p) => collect_references(p.inner(), file, bound, out),
        Expression::Variable(v) => {
            if !bound.iter().any(|b| b == v.as_str()) {
                out.push(Reference {
                    root: v.as_str().to_owned(),
                    name: None,
                    span: span_of(v),
                });
            }
        }
        Expression::Conditional(c) => {
            collect_references(&c.cond_expr, file, bound, out);
            collect_references(&c.true_expr, file, bound, out);
            collect_references(&c.false_expr, file, bound, out);
        }
        Expression::FuncCall(f) => f.args.iter().for_each(|a| collect_references(a, file, bound, out)),
        Expression::Traversal(t) => {
            if let Expression::Variable(root) = &t.expr {
                if !bound.iter().any(|b| b == root.as_str()) {
                    let first = t.operators.first().and_then(|op| match op.value() {
                        TraversalOperator::GetAttr(ident) => Some((ident.as_str().to_owned(), span_of(op))),
                        _ => None,
                    });
                    let root_span = span_of(root);
                    let (name, span) = match first {
                        Some((name, op_span)) => {
                            (Some(name), Span::new(file, root_span.range.start..op_span.range.end))
                        }
                        None => (None, root_span),
                    };
                    out.push(Reference {
                        root: root.as_str().to_owned(),
                        name,
                        span,
                    });
                }
            } else {
                collect_references(&t.expr, file, bound, out);
            }
            for op in &t.operators {
                if let TraversalOperator::Index(index) = op.value() {
                    collect_references(index, file, bound, out);
                }
            }
        }
        Expression::UnaryOp(op) => collect_references(&op.expr, file, bound, out),
        Expression::BinaryOp(op) => {
            collect_references(&op.lhs_expr, file, bound, out);
            collect_references(&op.rhs_expr, file, bound, out);
        }
        Expression::ForExpr(f) => {
            collect_references(&f.intro.collection_expr, file, bound, out);
            let mark = bound.len();
            if let Some(k) = &f.intro.key_var {
                bound.push(k.as_str().to_owned());
            }
            bound.push(f.intro.value_var.as_str().to_owned());
            if let Some(k) = &f.key_expr {
                collect_references(k, file, bound, out);
            }
            collect_references(&f.value_expr, file, bound, out);
            if let Some(c) = &f.cond {
                collect_references(&c.expr, file, bound, out);
            }
            bound.truncate(mark);
        }
    }
}

fn collect_template_element(element: &Element, file: FileId, bound: &mut Vec<String>, out: &mut Vec<Reference>) {
    match element {
        Element::Literal(_) => {}
        Element::Interpolation(i) => collect_references(&i.expr, file, bound, out),
        Element::Directive(d) => match d.as_ref() {
            Directive::If(i) => {
                collect_references(&i.if_expr.cond_expr, file, bound, out);
                i.if_expr
                    .template
                    .iter()
                    .for_each(|e| collect_template_element(e, file, bound, out));
                if let Some(e) = &i.else_expr {
                    e.template
                        .iter()
                        .for_each(|e| collect_template_element(e, file, bound, out));
                }
            }
            Directive::For(f) => {
                collect_references(&f.for_expr.collection_expr, file, bound, out);
                let mark = bound.len();
                if let Some(k) = &f.for_expr.key_var {
                    bound.push(k.as_str().to_owned());
                }
                bound.push(f.for_expr.value_var.as_str().to_owned());
                f.for_expr
                    .template
                    .iter()
                    .for_each(|e| collect_template_element(e, file, bound, out));
                bound.truncate(mark);
            }
        },
    }
}

/// Evaluates a standalone expression text (a `--var` value) with no references allowed.
pub fn eval_literal(text: &str, base_dir: &Path) -> std::result::Result<Value, String> {
    let expr = hcl_edit::parser::parse_expr(text).map_err(|e| e.message().to_owned())?;
    let env = Env {
        base_dir: base_dir.to_path_buf(),
        ..Env::default()
    };
    Evaluator::new(&env, 0)
        .eval(&expr, &mut Scope::new())
        .map_err(|e| e.message)
}
