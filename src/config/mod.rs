//! The blockform language: loading `*.hcl` files with source spans, evaluating expressions,
//! formatting, and the function library.
//!
//! A configuration goes through these modules in this order, each importing only the ones
//! below it:
//!
//! - [`load`](mod@load) reads and parses the files of a directory into blocks and attributes with spans.
//! - [`declarations`] collects the blocks into a [`Config`] (variables, locals, providers,
//!   stores, resources, outputs, imports) and reports unknown or repeated ones; the
//!   `blockform { backend … }` block is read by [`settings`], which the state commands also use
//!   on their own (`settings::read_settings`).
//! - [`vars`] gives each declared variable its value from `--var`, `--var-file`, the
//!   environment, `*.bfvars` files or its default, and checks its `validation` blocks.
//! - [`eval`] evaluates locals, resources, providers, stores and outputs in the order of their
//!   references (`eval::order`, which reports cycles); `eval::resources` expands `count` and
//!   `for_each` into instances and records dependencies, `eval::imports` reads `import` blocks.
//!   The result is a [`Desired`] ([`desired`]), which the engine validates and plans from.
//! - Beneath them: [`expr`] evaluates one expression, [`functions`] is the function library (by
//!   family), [`types`] the variable type constraints and conversions, [`value`] the values.
//! - [`format`](mod@format) rewrites files in canonical style (`blockform fmt`); it needs none of the rest.
//!
//! The types the rest of the engine uses keep their old paths: `config::eval::{Desired, …}`
//! re-exports [`desired`] and [`declarations`], and `config::eval::parse_var_assignment` is
//! [`vars::parse_var_assignment`].

pub mod declarations;
pub mod desired;
pub mod eval;
pub mod expr;
pub mod format;
pub mod functions;
pub mod load;
pub mod settings;
pub mod types;
pub mod validate;
pub mod vars;

/// The language's runtime values live with the model, below the configuration, because
/// schemas, typed specs and state speak them too.
pub use crate::model::value;

use std::path::Path;

use crate::diagnostics::{Diagnostics, SourceMap};
pub use eval::{Config, Desired, EvalOptions, MissingVars};

/// A loaded and evaluated configuration with everything found wrong in it.
#[derive(Debug)]
pub struct Loaded {
    /// Every source file read.
    pub sources: SourceMap,
    /// The declarations.
    pub config: Config,
    /// The evaluated configuration (as complete as the errors allow).
    pub desired: Desired,
    /// Errors and warnings, sorted by position.
    pub diagnostics: Diagnostics,
}

/// Loads, evaluates and validates the configuration in `dir`.
///
/// Syntax errors stop before evaluation (a half-parsed file would only add noise); every other
/// error is collected, so one run reports all of them.
pub fn load(dir: &Path, options: &EvalOptions) -> Result<Loaded, (SourceMap, Diagnostics)> {
    parse(dir).map(|parsed| evaluate(dir, parsed, options))
}

/// The files of a configuration, read and parsed, not evaluated yet: what needs nothing from
/// state (a plan reads state meanwhile).
pub struct Parsed {
    files: Vec<load::ParsedFile>,
    sources: SourceMap,
    diagnostics: Diagnostics,
}

/// Reads and parses the `*.hcl` files of `dir`; syntax errors are the `Err`.
pub fn parse(dir: &Path) -> Result<Parsed, (SourceMap, Diagnostics)> {
    let mut sources = SourceMap::default();
    let mut diagnostics = Diagnostics::default();
    let Some(files) = load::load_dir(dir, &mut sources, &mut diagnostics) else {
        return Err((sources, diagnostics));
    };
    Ok(Parsed {
        files,
        sources,
        diagnostics,
    })
}

/// Evaluates and validates parsed files (see [`load()`]).
pub fn evaluate(dir: &Path, parsed: Parsed, options: &EvalOptions) -> Loaded {
    evaluate_files(dir, parsed.files, parsed.sources, parsed.diagnostics, options)
}

/// Loads, evaluates and validates a configuration given as texts (name, text), as if they were
/// the `*.hcl` files of `dir`.
pub fn load_texts(
    dir: &Path,
    texts: &[(String, String)],
    options: &EvalOptions,
) -> Result<Loaded, (SourceMap, Diagnostics)> {
    let mut sources = SourceMap::default();
    let mut diagnostics = Diagnostics::default();
    let mut files = Vec::with_capacity(texts.len());
    let mut failed = false;
    for (name, text) in texts {
        let file = sources.add(dir.join(name), name.clone(), text.as_str());
        match load::parse_file(file, text, &mut diagnostics) {
            Ok(parsed) => files.push(parsed),
            Err(d) => {
                failed = true;
                diagnostics.push(d);
            }
        }
    }
    if failed {
        return Err((sources, diagnostics));
    }
    Ok(evaluate_files(dir, files, sources, diagnostics, options))
}

fn evaluate_files(
    dir: &Path,
    files: Vec<load::ParsedFile>,
    mut sources: SourceMap,
    mut diagnostics: Diagnostics,
    options: &EvalOptions,
) -> Loaded {
    let mut config = declarations::collect(dir, files, &mut diagnostics);
    let desired = eval::evaluate(&mut config, options, &mut sources, &mut diagnostics);
    validate::validate(&desired, &mut diagnostics);
    diagnostics.sort();
    Loaded {
        sources,
        config,
        desired,
        diagnostics,
    }
}
