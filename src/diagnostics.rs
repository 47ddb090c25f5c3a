//! Diagnostics: what went wrong in a configuration, where, and how to fix it.
//!
//! Every stage (loading, evaluation, validation, planning) reports problems as [`Diagnostic`]s
//! that point at source text. This module is the only place that turns them into reports: a
//! miette report for people, Terraform's `validate -json` document for machines.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use miette::{LabeledSpan, NamedSource, SourceCode};
use serde::Serialize;

/// Index of a file in a [`SourceMap`].
pub type FileId = usize;

/// One loaded source file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as given on disk.
    pub path: PathBuf,
    /// The name shown to people (relative to the working directory when possible).
    pub name: String,
    /// The file's text.
    pub text: Arc<str>,
}

/// Every source file of a run, so spans can be resolved to file, line and column.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// Adds a file and returns its id.
    pub fn add(&mut self, path: PathBuf, name: String, text: impl Into<Arc<str>>) -> FileId {
        self.files.push(SourceFile {
            path,
            name,
            text: text.into(),
        });
        self.files.len() - 1
    }

    /// The file with this id.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }

    /// Every file, in the order they were added.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// The position of a byte offset in a file.
    pub fn position(&self, id: FileId, byte: usize) -> Position {
        position_in(&self.files[id].text, byte)
    }
}

/// A line (1-based), column (1-based, in characters) and byte offset (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// 0-based byte offset.
    pub byte: usize,
}

/// Computes the line and column of a byte offset in a text.
pub fn position_in(text: &str, byte: usize) -> Position {
    let mut byte = byte.min(text.len());
    while !text.is_char_boundary(byte) {
        byte -= 1;
    }
    let before = &text[..byte];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
        byte,
    }
}

/// A byte range in one source file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    /// The file the range is in.
    pub file: FileId,
    /// Byte offsets into the file's text.
    pub range: Range<usize>,
}

impl Span {
    /// A span of `range` in `file`.
    pub fn new(file: FileId, range: Range<usize>) -> Span {
        Span { file, range }
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The run cannot go on.
    Error,
    /// Worth knowing; the run goes on.
    Warning,
}

/// One problem found in a configuration, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// One line saying what is wrong.
    pub summary: String,
    /// More explanation, when there is any.
    pub detail: Option<String>,
    /// The offending source text.
    pub span: Option<Span>,
    /// The label shown under the offending text.
    pub label: Option<String>,
    /// How to fix it, when that is known.
    pub help: Option<String>,
    /// Other places that take part (the first definition of a duplicate, members of a cycle).
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    /// An error with a summary and nothing else yet.
    pub fn error(summary: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            summary: summary.into(),
            detail: None,
            span: None,
            label: None,
            help: None,
            related: Vec::new(),
        }
    }

    /// A warning with a summary and nothing else yet.
    pub fn warning(summary: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(summary)
        }
    }

    /// Points the diagnostic at source text, with a label.
    #[must_use]
    pub fn at(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.span = Some(span);
        self.label = Some(label.into());
        self
    }

    /// Adds a `help:` line.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds a detail paragraph.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Diagnostic {
        self.detail = Some(detail.into());
        self
    }

    /// Adds another place that takes part in the problem.
    #[must_use]
    pub fn related(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.related.push((span, label.into()));
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The diagnostics of a run, in the order they were found.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Adds one diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Adds every diagnostic of another list.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// The number of errors.
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    /// The number of warnings.
    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    /// Every diagnostic.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sorts by file and position, errors and warnings mixed, so reports read top to bottom.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            let key = |d: &Diagnostic| d.span.as_ref().map(|s| (s.file, s.range.start));
            key(a).cmp(&key(b))
        });
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Diagnostics {
        Diagnostics {
            items: vec![diagnostic],
        }
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// A diagnostic joined with its source text, ready for miette to draw.
#[derive(Debug)]
pub struct Report {
    summary: String,
    severity: Severity,
    help: Option<String>,
    source: Option<NamedSource<Arc<str>>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
}

impl Report {
    /// Joins a diagnostic with the files it points into.
    pub fn new(diagnostic: &Diagnostic, sources: &SourceMap) -> Report {
        let mut summary = diagnostic.summary.clone();
        if let Some(detail) = &diagnostic.detail {
            summary.push_str("\n\n");
            summary.push_str(detail);
        }
        let mut labels = Vec::new();
        let mut related = Vec::new();
        let source = diagnostic.span.as_ref().map(|span| {
            labels.push(labeled(span, diagnostic.label.clone()));
            let file = sources.file(span.file);
            NamedSource::new(file.name.clone(), Arc::clone(&file.text)).with_language("hcl")
        });
        for (span, label) in &diagnostic.related {
            match &diagnostic.span {
                Some(primary) if primary.file == span.file => labels.push(labeled(span, Some(label.clone()))),
                _ => {
                    let file = sources.file(span.file);
                    related.push(Report {
                        summary: label.clone(),
                        severity: Severity::Warning,
                        help: None,
                        source: Some(NamedSource::new(file.name.clone(), Arc::clone(&file.text))),
                        labels: vec![labeled(span, Some(label.clone()))],
                        related: Vec::new(),
                    });
                }
            }
        }
        Report {
            summary,
            severity: diagnostic.severity,
            help: diagnostic.help.clone(),
            source,
            labels,
            related,
        }
    }
}

fn labeled(span: &Span, label: Option<String>) -> LabeledSpan {
    LabeledSpan::new(label, span.range.start, span.range.end.saturating_sub(span.range.start))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)))
        }
    }
}

/// Renders diagnostics for people: miette's graphical report, with colours or without.
pub fn render_human(diagnostics: &Diagnostics, sources: &SourceMap, color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let report = Report::new(diagnostic, sources);
        // Writing into a String cannot fail.
        let _ = handler.render_report(&mut out, &report);
        out.push('\n');
    }
    out
}

/// Terraform's `validate -json` document.
#[derive(Debug, Serialize)]
pub struct ValidateDocument {
    format_version: &'static str,
    valid: bool,
    error_count: usize,
    warning_count: usize,
    diagnostics: Vec<JsonDiagnostic>,
}

#[derive(Debug, Serialize)]
struct JsonDiagnostic {
    severity: Severity,
    summary: String,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    range: Option<JsonRange>,
}

#[derive(Debug, Serialize)]
struct JsonRange {
    filename: String,
    start: Position,
    end: Position,
}

/// Builds the `validate -json` document for a list of diagnostics.
pub fn validate_document(diagnostics: &Diagnostics, sources: &SourceMap) -> ValidateDocument {
    ValidateDocument {
        format_version: "1.0",
        valid: !diagnostics.has_errors(),
        error_count: diagnostics.error_count(),
        warning_count: diagnostics.warning_count(),
        diagnostics: diagnostics
            .iter()
            .map(|d| {
                let mut detail = d.detail.clone().unwrap_or_default();
                if let Some(help) = &d.help {
                    if !detail.is_empty() {
                        detail.push(' ');
                    }
                    detail.push_str(help);
                }
                JsonDiagnostic {
                    severity: d.severity,
                    summary: d.summary.clone(),
                    detail,
                    range: d.span.as_ref().map(|span| JsonRange {
                        filename: sources.file(span.file).name.clone(),
                        start: sources.position(span.file, span.range.start),
                        end: sources.position(span.file, span.range.end),
                    }),
                }
            })
            .collect(),
    }
}

/// Suggests the candidate closest to a misspelt name, if one is close enough.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(distance, c)| *distance <= 2.max(c.len() / 3) && *distance < c.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(
            position_in(text, 0),
            Position {
                line: 1,
                column: 1,
                byte: 0
            }
        );
        assert_eq!(
            position_in(text, 6),
            Position {
                line: 2,
                column: 1,
                byte: 6
            }
        );
        // `=` after a two-byte character is the fourth character of the line.
        assert_eq!(
            position_in(text, 10),
            Position {
                line: 2,
                column: 4,
                byte: 10
            }
        );
    }

    #[test]
    fn suggestions_are_close_names_only() {
        assert_eq!(did_you_mean("szie", ["size", "name", "type"]), Some("size"));
        assert_eq!(did_you_mean("colour", ["size", "name"]), None);
    }
}
