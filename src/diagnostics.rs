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

/// Lines longer than this (in bytes) are not drawn whole under a diagnostic: only a window of
/// them around the offending text. miette formats columns with a width that must stay below
/// 65,536, and nobody reads a line of that length anyway.
const MAX_DRAWN_LINE: usize = 1_000;

/// How much of a long line is shown before the offending text, in bytes (at most).
const WINDOW_BEFORE: usize = 60;

/// How much of a long line is shown from the start of the offending text, in bytes (at most).
const WINDOW_LENGTH: usize = 240;

/// A diagnostic joined with its source text, ready for miette to draw.
#[derive(Debug)]
pub struct Report {
    summary: String,
    severity: Severity,
    help: Option<String>,
    source: Option<Source>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
}

/// The text miette draws a diagnostic over: a whole file, or a window of one long line.
#[derive(Debug)]
enum Source {
    Whole(NamedSource<Arc<str>>),
    Window(Window),
}

/// A part of one long line, drawn with the line and column numbers it has in its file.
#[derive(Debug)]
struct Window {
    name: String,
    text: Arc<str>,
    /// The byte range of the file shown.
    range: Range<usize>,
    /// 0-based line of the window.
    line: usize,
    /// 0-based column (in characters) where the window starts.
    column: usize,
}

impl SourceCode for Source {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        match self {
            Source::Whole(source) => source.read_span(span, context_lines_before, context_lines_after),
            Source::Window(window) => {
                // The window is the whole context; the column is that of the span's start, which
                // miette shows in the header.
                let start = span.offset().clamp(window.range.start, window.range.end);
                let column = window.column + window.text[window.range.start..start].chars().count();
                Ok(Box::new(miette::MietteSpanContents::new_named(
                    window.name.clone(),
                    &window.text.as_bytes()[window.range.clone()],
                    (window.range.start, window.range.len()).into(),
                    window.line,
                    column,
                    1,
                )))
            }
        }
    }
}

/// The line of `text` holding byte `at`, as a byte range without its line break.
fn line_around(text: &str, at: usize) -> Range<usize> {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    start..end
}

/// The largest char boundary of `text` at or below `at`.
fn floor_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Whether a span touches a line too long to draw whole, or has one next to it (miette draws a
/// line of context before and after).
fn on_long_line(text: &str, span: &Span) -> bool {
    let start = floor_boundary(text, span.range.start);
    let end = floor_boundary(text, span.range.end.max(start));
    let first = line_around(text, start);
    let last = line_around(text, end);
    let mut lines = vec![first.clone(), last.clone()];
    if first.start > 0 {
        lines.push(line_around(text, first.start - 1));
    }
    if last.end < text.len() {
        lines.push(line_around(text, last.end + 1));
    }
    lines.iter().any(|line| line.len() > MAX_DRAWN_LINE)
}

/// The source and label to draw `span` with: the whole file, or, on a long line, a window of it
/// around the span's start (the label cut to the window).
fn drawn(sources: &SourceMap, span: &Span, label: Option<String>) -> (Source, LabeledSpan) {
    let file = sources.file(span.file);
    let text = &file.text;
    if !on_long_line(text, span) {
        let source = NamedSource::new(file.name.clone(), Arc::clone(text)).with_language("hcl");
        return (Source::Whole(source), labeled(span, label));
    }
    let start = floor_boundary(text, span.range.start);
    let line = line_around(text, start);
    let from = floor_boundary(text, start.saturating_sub(WINDOW_BEFORE).max(line.start));
    let to = floor_boundary(text, (start + WINDOW_LENGTH).min(line.end));
    let end = floor_boundary(text, span.range.end.clamp(start, to));
    let position = position_in(text, from);
    let window = Window {
        name: file.name.clone(),
        text: Arc::clone(text),
        range: from..to,
        line: position.line - 1,
        column: position.column - 1,
    };
    let note = format!("(part of a {}-character line)", text[line].chars().count());
    let label = Some(match label {
        Some(label) => format!("{label} {note}"),
        None => note,
    });
    (Source::Window(window), LabeledSpan::new(label, start, end - start))
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
            let (source, label) = drawn(sources, span, diagnostic.label.clone());
            labels.push(label);
            source
        });
        let whole = matches!(source, Some(Source::Whole(_)));
        for (span, label) in &diagnostic.related {
            match &diagnostic.span {
                Some(primary)
                    if whole && primary.file == span.file && !on_long_line(&sources.file(span.file).text, span) =>
                {
                    labels.push(labeled(span, Some(label.clone())));
                }
                _ => {
                    let (source, drawn_label) = drawn(sources, span, Some(label.clone()));
                    related.push(Report {
                        summary: label.clone(),
                        severity: Severity::Warning,
                        help: None,
                        source: Some(source),
                        labels: vec![drawn_label],
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

    /// A diagnostic at column `column` of line 2 of a file whose line 2 is `length` long.
    fn far_right(column: usize, length: usize) -> (Diagnostics, SourceMap) {
        let mut sources = SourceMap::default();
        let line = format!("{}bad{}", "x".repeat(column - 1), "y".repeat(length - column - 2));
        let file = sources.add("main.hcl".into(), "main.hcl".into(), format!("a = 1\n{line}\nb = 2\n"));
        let start = 6 + column - 1;
        let diagnostic = Diagnostic::error("something is wrong")
            .at(Span::new(file, start..start + 3), "here")
            .related(Span::new(file, 0..1), "and here")
            .help("fix it");
        (diagnostic.into(), sources)
    }

    #[test]
    fn a_diagnostic_far_along_a_long_line_is_drawn_in_a_window_with_its_real_position() {
        for (column, length) in [(70_000, 80_000), (65_536, 65_540), (2_000, 3_000), (1, 100_000)] {
            let (diagnostics, sources) = far_right(column, length);
            let text = render_human(&diagnostics, &sources, false);
            assert!(text.contains(&format!("[main.hcl:2:{column}]")), "{column}: {text}");
            assert!(text.contains("bad"), "{text}");
            assert!(
                text.contains(&format!("here (part of a {length}-character line)")),
                "{text}"
            );
            assert!(text.contains("and here"), "the related place is still shown: {text}");
            assert!(text.contains("help: fix it"), "{text}");
            assert!(
                text.len() < 4_000,
                "the long line is not drawn whole: {} bytes",
                text.len()
            );
            let json = validate_document(&diagnostics, &sources);
            let range = json.diagnostics[0].range.as_ref().unwrap();
            assert_eq!((range.start.line, range.start.column), (2, column));
        }
        // Short lines are drawn whole, as before.
        let (diagnostics, sources) = far_right(10, 200);
        let text = render_human(&diagnostics, &sources, false);
        assert!(
            text.contains("2 │ xxxxxxxxxbad") && !text.contains("part of a"),
            "{text}"
        );
    }

    #[test]
    fn suggestions_are_close_names_only() {
        assert_eq!(did_you_mean("szie", ["size", "name", "type"]), Some("size"));
        assert_eq!(did_you_mean("colour", ["size", "name"]), None);
    }
}
