//! Loading: every `*.hcl` file of a directory, parsed with hcl-edit into blocks that keep their
//! source spans, so every later error can point at the text that caused it.

use std::path::{Path, PathBuf};

use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, BlockLabel, Body, Structure};
use indexmap::IndexMap;

use crate::diagnostics::{Diagnostic, Diagnostics, FileId, SourceMap, Span, did_you_mean};

/// Files larger than this are refused before parsing: a real configuration of 10,000 volumes is
/// about 2 MiB, so anything this large is a mistake (a disk image or a log named `*.hcl`).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// An attribute as written: its expression and where it is.
#[derive(Debug, Clone)]
pub struct Attr {
    /// The attribute's name.
    pub name: String,
    /// The unevaluated expression.
    pub expr: Expression,
    /// The whole `name = value` text.
    pub span: Span,
    /// The value's text.
    pub value_span: Span,
    /// The name's text.
    pub name_span: Span,
}

/// A block as written: its type, labels, attributes and nested blocks, with spans.
#[derive(Debug, Clone)]
pub struct RawBlock {
    /// The block type (`resource`, `lifecycle`, ...).
    pub ident: String,
    /// The labels, unquoted.
    pub labels: Vec<String>,
    /// The spans of the labels.
    pub label_spans: Vec<Span>,
    /// The block type and labels (`resource "volume" "db"`).
    pub header_span: Span,
    /// The whole block.
    pub span: Span,
    /// Attributes, in source order.
    pub attrs: IndexMap<String, Attr>,
    /// Nested blocks, in source order.
    pub blocks: Vec<RawBlock>,
}

impl RawBlock {
    /// The span of the last label, or of the header when there is no label.
    pub fn name_span(&self) -> Span {
        self.label_spans
            .last()
            .cloned()
            .unwrap_or_else(|| self.header_span.clone())
    }

    /// The address-like header text, for instance `resource "volume" "db"`.
    pub fn header(&self) -> String {
        use std::fmt::Write as _;
        let mut header = self.ident.clone();
        for label in &self.labels {
            let _ = write!(header, " {label:?}");
        }
        header
    }
}

/// A parsed file: its top-level attributes and blocks.
#[derive(Debug, Clone)]
pub struct ParsedFile {
    /// The file in the source map.
    pub file: FileId,
    /// Top-level attributes (none are allowed in a configuration; kept for vars files).
    pub attrs: IndexMap<String, Attr>,
    /// Top-level blocks.
    pub blocks: Vec<RawBlock>,
}

/// Lists the configuration files of a directory: every `*.hcl` file, sorted by name.
pub fn config_files(dir: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Diagnostic::error(format!(
            "cannot read the configuration directory `{}`: {e}",
            dir.display()
        ))
        .help("pass the directory that holds your *.hcl files with --chdir DIR")
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "hcl") && !path.is_dir())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(
            Diagnostic::error(format!("no configuration files in `{}`", dir.display()))
                .detail("blockform reads every *.hcl file of the working directory as one configuration")
                .help("create a main.hcl there, or point --chdir at the directory that has one"),
        );
    }
    Ok(files)
}

/// Reads and parses every `*.hcl` file of a directory. Errors of every file are reported into
/// `diagnostics`; `None` means some file could not be read or parsed.
pub fn load_dir(dir: &Path, sources: &mut SourceMap, diagnostics: &mut Diagnostics) -> Option<Vec<ParsedFile>> {
    let files = match config_files(dir) {
        Ok(files) => files,
        Err(d) => {
            diagnostics.push(d);
            return None;
        }
    };
    let mut parsed = Vec::with_capacity(files.len());
    let mut failed = false;
    for path in files {
        let name = display_name(&path, dir);
        match read_source(&path, &name) {
            Ok(text) => {
                let file = sources.add(path, name, text.as_str());
                match parse_file(file, &text, diagnostics) {
                    Ok(p) => parsed.push(p),
                    Err(d) => {
                        failed = true;
                        diagnostics.push(d);
                    }
                }
            }
            Err(d) => {
                failed = true;
                diagnostics.push(d);
            }
        }
    }
    if failed { None } else { Some(parsed) }
}

/// The name of a file as shown in messages: relative to the configuration directory.
pub fn display_name(path: &Path, dir: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

/// Reads a source file, refusing ones that are too large or not UTF-8.
pub fn read_source(path: &Path, name: &str) -> Result<String, Diagnostic> {
    let unreadable = |e: std::io::Error| {
        Diagnostic::error(format!("cannot read `{name}`: {e}"))
            .help("check that the file exists and that you may read it")
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if meta.len() > MAX_FILE_BYTES {
        #[allow(clippy::cast_precision_loss)]
        let mib = meta.len() as f64 / 1_048_576.0;
        return Err(Diagnostic::error(format!(
            "`{name}` is too large to be a configuration file ({mib:.1} MiB; the limit is 16 MiB)"
        ))
        .help("split the configuration into several files, or move this file out of the configuration directory"));
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let prefix = String::from_utf8_lossy(&bytes[..valid]);
        let line = prefix.matches('\n').count() + 1;
        let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Diagnostic::error(format!(
            "`{name}` is not valid UTF-8: invalid byte 0x{:02x} at line {line}, column {column} (byte {valid})",
            bytes[valid]
        ))
        .help("save the file as UTF-8")
    })
}

/// Parses one file's text into blocks; repeated attributes are reported into `diagnostics`.
pub fn parse_file(file: FileId, text: &str, diagnostics: &mut Diagnostics) -> Result<ParsedFile, Diagnostic> {
    let body = hcl_edit::parser::parse_body(text).map_err(|e| syntax_error(file, text, &e))?;
    let (attrs, blocks) = convert_body(file, body, diagnostics);
    Ok(ParsedFile { file, attrs, blocks })
}

/// Turns an hcl-edit parse error into a diagnostic at the error's position.
pub fn syntax_error(file: FileId, text: &str, error: &hcl_edit::parser::Error) -> Diagnostic {
    let location = error.location();
    let start = line_col_to_byte(text, location.line(), location.column()).min(text.len());
    let end = text[start..].chars().next().map_or(start, |c| start + c.len_utf8());
    let message = error.message();
    // hcl-edit refuses a repeated attribute while parsing; say it the way the rest of the tool does.
    if message.contains("redefined attribute") {
        let name: String = text[start..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-'))
            .collect();
        if !name.is_empty() {
            return Diagnostic::error(format!("attribute `{name}` is set twice"))
                .at(Span::new(file, start..start + name.len()), "set again here")
                .help("remove one of the two");
        }
    }
    if let Some(literal) = number_out_of_range(text, start) {
        return Diagnostic::error(format!("the number `{}` is out of range", &text[literal.clone()]))
            .at(Span::new(file, literal), "too large for a number")
            .help("numbers go up to about 1.8e308; sizes are whole GiB, at most 65536");
    }
    let mut diagnostic = Diagnostic::error(format!("syntax error: {message}")).at(Span::new(file, start..end), "here");
    if message.contains("nesting") || message.contains("depth") {
        diagnostic = diagnostic.help("flatten the expression: blocks and expressions nest at most 64 levels deep");
    }
    diagnostic
}

/// The numeric literal around byte `at` when it is too large for a number (`1e400`): the parser
/// stops inside it and reports a syntax error at its exponent.
fn number_out_of_range(text: &str, at: usize) -> Option<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let numeric = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-');
    let mut start = at.min(bytes.len());
    while start > 0 && numeric(bytes[start - 1]) {
        start -= 1;
    }
    while start < at && !bytes[start].is_ascii_digit() {
        start += 1;
    }
    let mut end = at.min(bytes.len());
    while end < bytes.len() && numeric(bytes[end]) {
        end += 1;
    }
    let literal = text.get(start..end)?;
    literal
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_infinite())
        .map(|_| start..end)
}

fn line_col_to_byte(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = &text[line_start.min(text.len())..];
    let offset: usize = rest.chars().take(column.saturating_sub(1)).map(char::len_utf8).sum();
    line_start + offset
}

/// The longest block label (a resource, output or variable name), in characters.
const MAX_LABEL_CHARS: usize = crate::model::limits::NAME_MAX_CHARS;

fn span_of(file: FileId, item: &impl hcl_edit::Span) -> Span {
    Span::new(file, item.span().unwrap_or(0..0))
}

fn convert_body(file: FileId, body: Body, diagnostics: &mut Diagnostics) -> (IndexMap<String, Attr>, Vec<RawBlock>) {
    let mut attrs = IndexMap::new();
    let mut blocks = Vec::new();
    for structure in body {
        match structure {
            Structure::Attribute(attr) => {
                let span = span_of(file, &attr);
                let name_span = span_of(file, &attr.key);
                let value_span = span_of(file, &attr.value);
                let name = attr.key.as_str().to_owned();
                if let Some(first) = attrs.get(&name) {
                    let first: &Attr = first;
                    diagnostics.push(
                        Diagnostic::error(format!("attribute `{name}` is set twice"))
                            .at(name_span, "set again here")
                            .related(first.name_span.clone(), "first set here")
                            .help("remove one of the two"),
                    );
                    continue;
                }
                attrs.insert(
                    name.clone(),
                    Attr {
                        name,
                        expr: attr.value,
                        span,
                        value_span,
                        name_span,
                    },
                );
            }
            Structure::Block(block) => blocks.push(convert_block(file, block, diagnostics)),
        }
    }
    (attrs, blocks)
}

fn convert_block(file: FileId, block: Block, diagnostics: &mut Diagnostics) -> RawBlock {
    let span = span_of(file, &block);
    let ident_span = span_of(file, &block.ident);
    let label_spans: Vec<Span> = block.labels.iter().map(|l| span_of(file, l)).collect();
    let header_end = label_spans.last().map_or(ident_span.range.end, |s| s.range.end);
    let labels: Vec<String> = block
        .labels
        .iter()
        .map(|label| match label {
            BlockLabel::Ident(ident) => ident.as_str().to_owned(),
            BlockLabel::String(string) => string.value().clone(),
        })
        .collect();
    for (label, span) in labels.iter().zip(&label_spans) {
        let length = label.chars().count();
        if length > MAX_LABEL_CHARS {
            diagnostics.push(
                Diagnostic::error(format!(
                    "a `{}` block label has {length} characters; names have at most {MAX_LABEL_CHARS}",
                    block.ident.as_str()
                ))
                .at(span.clone(), "too long")
                .help("use a shorter name"),
            );
        }
    }
    let ident = block.ident.as_str().to_owned();
    let (attrs, blocks) = convert_body(file, block.body, diagnostics);
    RawBlock {
        ident,
        labels,
        label_spans,
        header_span: Span::new(file, ident_span.range.start..header_end),
        span,
        attrs,
        blocks,
    }
}

/// Suggests a name for a misspelt identifier, as a `help:` line.
pub fn suggestion<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    did_you_mean(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Reports attributes and nested blocks that a block does not accept.
pub fn check_block_attrs(block: &RawBlock, attrs: &[&str], blocks: &[&str], diagnostics: &mut Diagnostics) {
    for attr in block.attrs.values() {
        if !attrs.contains(&attr.name.as_str()) {
            diagnostics.push(unknown_attribute(&attr.name, &block.header(), &attr.name_span, attrs));
        }
    }
    for nested in &block.blocks {
        if !blocks.contains(&nested.ident.as_str()) {
            let mut d = Diagnostic::error(format!("unexpected block `{}` in `{}`", nested.ident, block.header()))
                .at(nested.header_span.clone(), "not allowed here");
            if attrs.contains(&nested.ident.as_str()) {
                d = d.help(format!("`{0}` is an attribute: write `{0} = {{ … }}`", nested.ident));
            } else if let Some(help) = suggestion(&nested.ident, blocks.iter().copied()) {
                d = d.help(help);
            }
            diagnostics.push(d);
        }
    }
}

/// The diagnostic for an attribute a block does not accept.
pub fn unknown_attribute(name: &str, header: &str, span: &Span, accepted: &[&str]) -> Diagnostic {
    Diagnostic::error(format!("unknown attribute `{name}` in `{header}`"))
        .at(span.clone(), "unknown attribute")
        .help(suggestion(name, accepted.iter().copied()).unwrap_or_else(|| {
            let mut names: Vec<&str> = accepted.to_vec();
            names.sort_unstable();
            format!("accepted attributes: {}", names.join(", "))
        }))
}
