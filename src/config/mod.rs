//! The blockform language: loading `*.hcl` files with source spans, evaluating expressions,
//! formatting, and the function library.

pub mod eval;
pub mod expr;
pub mod format;
pub mod functions;
pub mod load;
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

/// Evaluates and validates parsed files (see [`load`]).
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
    let mut config = eval::collect(dir, files, &mut diagnostics);
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
