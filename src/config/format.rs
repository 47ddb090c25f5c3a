//! Canonical formatting of configuration files, the engine behind `blockform fmt`.
//!
//! The rules are those of `terraform fmt` (hclwrite): two spaces of indentation per level of
//! bracket nesting, `=` aligned across consecutive single-line assignments, line comments at the
//! ends of consecutive lines aligned, one space around `=` and between the parts of a block
//! header, at most one blank line in a row and none at the start or end of a body. Everything
//! else — expression text, string contents, heredocs, the inside of comments — is kept byte for
//! byte, so formatting never changes what a file means.
//!
//! `hcl-edit` parses the file first. That rejects invalid input, and its spans tell us which
//! byte ranges are string literals, templates and heredocs (opaque to the formatter) and where
//! block headers start. The formatting itself works on lines of tokens, as hclwrite does,
//! because indentation and alignment are properties of lines. Both are derived only from the
//! tokens and the line breaks between them, neither of which formatting changes; that is what
//! makes formatting idempotent.

use std::ops::Range;

use hcl_edit::parser::{self, Error};
use hcl_edit::structure::Block;
use hcl_edit::template::{HeredocTemplate, StringTemplate};
use hcl_edit::visit::{self, Visit};
use hcl_edit::{Decorated, Span};

/// Formats HCL source text canonically. Returns the formatted text (equal to the input when it is already canonical).
pub fn format_source(source: &str) -> Result<String, Error> {
    let source = source.replace("\r\n", "\n");
    let body = parser::parse_body(&source)?;

    let mut landmarks = Landmarks::default();
    landmarks.visit_body(&body);
    landmarks.settle();

    let mut tokens = lex(&source, &landmarks.opaque);
    let partners = match_brackets(&tokens);
    space_assignments(&mut tokens);
    close_empty_brackets(&mut tokens, &partners);
    space_block_headers(&mut tokens, &landmarks.block_starts, &partners);

    let mut lines = drop_extra_blank_lines(split_lines(tokens));
    indent(&mut lines);
    align_assignments(&mut lines);
    align_comments(&mut lines);
    Ok(render(&lines))
}

/// What the parse tree tells the formatter about the source text.
#[derive(Debug, Default)]
struct Landmarks {
    /// Byte ranges of string literals, templates and heredocs: sorted, never overlapping.
    opaque: Vec<Range<usize>>,
    /// Byte offsets of block identifiers, sorted.
    block_starts: Vec<usize>,
}

impl Landmarks {
    fn add_opaque(&mut self, span: Option<Range<usize>>) {
        if let Some(span) = span {
            self.opaque.push(span);
        }
    }

    /// Sorts the landmarks and drops opaque ranges nested in others.
    fn settle(&mut self) {
        self.opaque
            .sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        let mut outermost: Vec<Range<usize>> = Vec::with_capacity(self.opaque.len());
        for range in self.opaque.drain(..) {
            if outermost.last().is_none_or(|last| range.start >= last.end) {
                outermost.push(range);
            }
        }
        self.opaque = outermost;
        self.block_starts.sort_unstable();
    }
}

impl Visit for Landmarks {
    fn visit_block(&mut self, block: &Block) {
        if let Some(span) = block.ident.span() {
            self.block_starts.push(span.start);
        }
        visit::visit_block(self, block);
    }

    // Quoted strings: attribute values, object keys and block labels alike.
    fn visit_string(&mut self, string: &Decorated<String>) {
        self.add_opaque(string.span());
    }

    // Templates are opaque as a whole, interpolated expressions included, so there is no need
    // to descend into them.
    fn visit_string_template(&mut self, template: &StringTemplate) {
        self.add_opaque(template.span());
    }

    fn visit_heredoc_template(&mut self, heredoc: &HeredocTemplate) {
        self.add_opaque(heredoc.span());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Identifiers, numbers, operators and other punctuation that needs no special treatment.
    Word,
    /// A lone `=`, which in valid HCL assigns an attribute or an object element.
    Equal,
    Open,
    Close,
    /// A `#` or `//` comment, without the line break that ends it.
    LineComment,
    BlockComment,
    /// A string literal, template or heredoc, kept as written.
    Opaque,
    Newline,
}

/// The whitespace written before a token that does not start a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gap {
    /// Whatever the author wrote.
    Keep,
    Spaces(usize),
}

#[derive(Debug, Clone)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    /// The whitespace before the token in the source, on the same line.
    space: &'a str,
    offset: usize,
    gap: Gap,
}

impl Token<'_> {
    fn bracket_change(&self) -> i32 {
        match self.kind {
            Kind::Open => 1,
            Kind::Close => -1,
            _ => 0,
        }
    }

    fn is_brace(&self) -> bool {
        self.kind == Kind::Open && self.text == "{"
    }
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r')
}

/// Splits valid HCL source into tokens; `opaque` must be sorted and non-overlapping.
fn lex<'a>(source: &'a str, opaque: &[Range<usize>]) -> Vec<Token<'a>> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut next_opaque = opaque.iter().peekable();
    let mut space_start = 0;
    let mut at = 0;

    while at < source.len() {
        while next_opaque.next_if(|range| range.end <= at).is_some() {}
        let opaque_start = next_opaque.peek().map_or(source.len(), |range| range.start);
        let rest = &source[at..];

        let (kind, len) = if opaque_start == at {
            let end = next_opaque.peek().map_or(source.len(), |range| range.end);
            (Kind::Opaque, end - at)
        } else if is_space(bytes[at]) {
            at += 1;
            continue;
        } else {
            match bytes[at] {
                b'\n' => (Kind::Newline, 1),
                b'#' => (Kind::LineComment, rest.find('\n').unwrap_or(rest.len())),
                b'/' if rest.starts_with("//") => (Kind::LineComment, rest.find('\n').unwrap_or(rest.len())),
                b'/' if rest.starts_with("/*") => {
                    (Kind::BlockComment, rest.find("*/").map_or(rest.len(), |end| end + 2))
                }
                b'(' | b'[' | b'{' => (Kind::Open, 1),
                b')' | b']' | b'}' => (Kind::Close, 1),
                b'=' if !rest.starts_with("==") && !rest.starts_with("=>") => (Kind::Equal, 1),
                _ => (Kind::Word, word_len(rest, opaque_start - at)),
            }
        };

        let mut text = &source[at..at + len];
        if kind == Kind::LineComment {
            text = text.trim_end();
        }
        tokens.push(Token {
            kind,
            text,
            space: &source[space_start..at],
            offset: at,
            gap: Gap::Keep,
        });
        at += len;
        space_start = at;
    }
    tokens
}

/// Length of the word at the start of `rest`, which must not run into an opaque range that
/// starts `limit` bytes on.
fn word_len(rest: &str, limit: usize) -> usize {
    const TWO_CHAR_OPERATORS: [&str; 5] = ["==", "=>", "<=", ">=", "!="];
    let mut len = 0;
    while len < limit {
        let tail = &rest[len..];
        if TWO_CHAR_OPERATORS.iter().any(|op| tail.starts_with(op)) {
            len += 2;
            continue;
        }
        let Some(ch) = tail.chars().next() else {
            break;
        };
        let ends_word = matches!(
            ch,
            ' ' | '\t' | '\r' | '\n' | '(' | ')' | '[' | ']' | '{' | '}' | '=' | '#'
        ) || tail.starts_with("//")
            || tail.starts_with("/*");
        if ends_word {
            break;
        }
        len += ch.len_utf8();
    }
    // The caller only asks for a word where none of the other tokens starts, so this only
    // guards against looping forever on input the parser should have rejected.
    if len == 0 {
        rest.chars().next().map_or(1, char::len_utf8)
    } else {
        len.min(rest.len())
    }
}

/// Puts exactly one space on each side of every `=`; alignment widens the space before later.
fn space_assignments(tokens: &mut [Token]) {
    for at in 0..tokens.len() {
        if tokens[at].kind != Kind::Equal {
            continue;
        }
        tokens[at].gap = Gap::Spaces(1);
        if let Some(next) = tokens.get_mut(at + 1).filter(|next| next.kind != Kind::Newline) {
            next.gap = Gap::Spaces(1);
        }
    }
}

/// Writes empty brackets as `{}`, `[]` and `()`.
fn close_empty_brackets(tokens: &mut [Token], partners: &[Option<usize>]) {
    for (open, partner) in partners.iter().enumerate() {
        if *partner == Some(open + 1) {
            tokens[open + 1].gap = Gap::Spaces(0);
        }
    }
}

/// Writes block headers as `type "label" {`, and one-line blocks as `{ a = 1 }`.
fn space_block_headers(tokens: &mut [Token], block_starts: &[usize], partners: &[Option<usize>]) {
    for start in 0..tokens.len() {
        if block_starts.binary_search(&tokens[start].offset).is_err() {
            continue;
        }
        let mut open = start + 1;
        while open < tokens.len() && tokens[open].kind != Kind::Newline {
            tokens[open].gap = Gap::Spaces(1);
            if tokens[open].is_brace() {
                break;
            }
            open += 1;
        }
        let Some(close) = partners.get(open).copied().flatten() else {
            continue;
        };
        let one_line = tokens[open..close].iter().all(|token| token.kind != Kind::Newline);
        if one_line && close > open + 1 {
            tokens[open + 1].gap = Gap::Spaces(1);
            tokens[close].gap = Gap::Spaces(1);
        }
    }
}

/// For each opening bracket, the index of the bracket that closes it.
fn match_brackets(tokens: &[Token]) -> Vec<Option<usize>> {
    let mut partners = vec![None; tokens.len()];
    let mut open = Vec::new();
    for (at, token) in tokens.iter().enumerate() {
        match token.kind {
            Kind::Open => open.push(at),
            Kind::Close => {
                if let Some(opener) = open.pop() {
                    partners[opener] = Some(at);
                }
            }
            _ => {}
        }
    }
    partners
}

#[derive(Debug)]
struct Line<'a> {
    /// Without the line break; empty for a blank line.
    tokens: Vec<Token<'a>>,
    level: usize,
}

impl Line<'_> {
    fn bracket_change(&self) -> i32 {
        self.tokens.iter().map(Token::bracket_change).sum()
    }

    /// Whether the line ends with an opening bracket, not counting trailing comments.
    fn opens(&self) -> bool {
        self.tokens
            .iter()
            .rev()
            .find(|token| !matches!(token.kind, Kind::LineComment | Kind::BlockComment))
            .is_some_and(|token| token.kind == Kind::Open)
    }

    fn closes(&self) -> bool {
        self.tokens.first().is_some_and(|token| token.kind == Kind::Close)
    }

    /// The index of the `=` whose right-hand side is complete on this line, like hclwrite's
    /// "assign" cell; only such lines take part in alignment.
    fn assignment(&self) -> Option<usize> {
        let end = self.comment().unwrap_or(self.tokens.len());
        let tokens = &self.tokens[..end];
        let equal = (1..tokens.len()).find(|&at| tokens[at].kind == Kind::Equal)?;
        let complete = tokens[equal..].iter().map(Token::bracket_change).sum::<i32>() == 0;
        let lead_on_one_line = tokens[..equal].iter().all(|token| !token.text.contains('\n'));
        (complete && lead_on_one_line).then_some(equal)
    }

    /// The index of a line comment ending a line that has something else on it.
    fn comment(&self) -> Option<usize> {
        let last = self.tokens.len().checked_sub(1)?;
        (last > 0 && self.tokens[last].kind == Kind::LineComment).then_some(last)
    }

    /// Writes the line's indentation and its first `count` tokens.
    fn write_prefix(&self, count: usize, out: &mut String) {
        if self.tokens.is_empty() {
            return;
        }
        for _ in 0..self.level {
            out.push_str("  ");
        }
        for (at, token) in self.tokens[..count].iter().enumerate() {
            if at > 0 {
                match token.gap {
                    Gap::Keep => out.push_str(token.space),
                    Gap::Spaces(count) => out.extend(std::iter::repeat_n(' ', count)),
                }
            }
            out.push_str(token.text);
        }
    }

    /// The width of the line's first `count` tokens once written, or `None` when they span
    /// several lines (a heredoc or a block comment).
    fn prefix_width(&self, count: usize) -> Option<usize> {
        let mut prefix = String::new();
        self.write_prefix(count, &mut prefix);
        (!prefix.contains('\n')).then(|| prefix.chars().count())
    }
}

fn split_lines(tokens: Vec<Token>) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut current = Vec::new();
    for token in tokens {
        if token.kind == Kind::Newline {
            lines.push(Line {
                tokens: std::mem::take(&mut current),
                level: 0,
            });
        } else {
            current.push(token);
        }
    }
    if !current.is_empty() {
        lines.push(Line {
            tokens: current,
            level: 0,
        });
    }
    lines
}

/// Keeps at most one blank line in a row, and none at the start or end of the file or of a
/// bracketed body.
fn drop_extra_blank_lines(lines: Vec<Line>) -> Vec<Line> {
    let mut kept: Vec<Line> = Vec::with_capacity(lines.len());
    for line in lines {
        if line.tokens.is_empty() {
            let after_content = kept
                .last()
                .is_some_and(|previous| !previous.tokens.is_empty() && !previous.opens());
            if after_content {
                kept.push(line);
            }
        } else {
            if line.closes() && kept.last().is_some_and(|previous| previous.tokens.is_empty()) {
                kept.pop();
            }
            kept.push(line);
        }
    }
    if kept.last().is_some_and(|line| line.tokens.is_empty()) {
        kept.pop();
    }
    kept
}

/// Sets each line's indentation level from bracket nesting, as hclwrite does: a line that opens
/// more brackets than it closes indents what follows by one level, however many it opens, and a
/// line that closes them returns to the level of the line that opened them.
fn indent(lines: &mut [Line]) {
    let mut opened: Vec<i32> = Vec::new();
    for line in lines.iter_mut().filter(|line| !line.tokens.is_empty()) {
        let change = line.bracket_change();
        if change > 0 {
            line.level = opened.len();
            opened.push(change);
            continue;
        }
        let mut closed = -change;
        while closed > 0 {
            let Some(last) = opened.last_mut() else {
                break;
            };
            if closed >= *last {
                closed -= *last;
                opened.pop();
            } else {
                *last -= closed;
                closed = 0;
            }
        }
        line.level = opened.len();
    }
}

/// Aligns the `=` of consecutive lines that each hold a complete single-line assignment.
fn align_assignments(lines: &mut [Line]) {
    let mut run: Vec<(usize, usize, usize)> = Vec::new();
    for at in 0..lines.len() {
        let cell = lines[at]
            .assignment()
            .and_then(|equal| Some((at, equal, lines[at].prefix_width(equal)?)));
        match cell {
            Some(cell) => run.push(cell),
            None => pad_run(lines, &mut run),
        }
    }
    pad_run(lines, &mut run);
}

/// Aligns the comments that end consecutive lines.
fn align_comments(lines: &mut [Line]) {
    let mut run: Vec<(usize, usize, usize)> = Vec::new();
    for at in 0..lines.len() {
        let Some(comment) = lines[at].comment() else {
            pad_run(lines, &mut run);
            continue;
        };
        if let Some(width) = lines[at].prefix_width(comment) {
            run.push((at, comment, width));
        } else {
            pad_run(lines, &mut run);
            lines[at].tokens[comment].gap = Gap::Spaces(1);
        }
    }
    pad_run(lines, &mut run);
}

/// Pads the tokens of a run, given as (line, token, width before the token), to one column.
fn pad_run(lines: &mut [Line], run: &mut Vec<(usize, usize, usize)>) {
    let column = run.iter().map(|&(_, _, width)| width).max().unwrap_or(0);
    for (line, token, width) in run.drain(..) {
        lines[line].tokens[token].gap = Gap::Spaces(column - width + 1);
    }
}

fn render(lines: &[Line]) -> String {
    let mut out = String::new();
    for line in lines {
        line.write_prefix(line.tokens.len(), &mut out);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcl_edit::expr::{Array, FuncArgs, Object};
    use hcl_edit::structure::Body;
    use hcl_edit::visit_mut::{self, VisitMut};

    /// Forgets the whitespace before closing brackets, the only layout that the parse tree
    /// compares, so that two trees compare equal when they mean the same.
    struct ForgetLayout;

    impl VisitMut for ForgetLayout {
        fn visit_array_mut(&mut self, array: &mut Array) {
            array.set_trailing("");
            visit_mut::visit_array_mut(self, array);
        }

        fn visit_object_mut(&mut self, object: &mut Object) {
            object.set_trailing("");
            visit_mut::visit_object_mut(self, object);
        }

        fn visit_func_args_mut(&mut self, args: &mut FuncArgs) {
            args.set_trailing("");
            visit_mut::visit_func_args_mut(self, args);
        }
    }

    fn meaning(source: &str) -> Body {
        let mut body = parser::parse_body(source).expect("should be valid HCL");
        ForgetLayout.visit_body_mut(&mut body);
        body
    }

    fn format(source: &str) -> String {
        format_source(source).expect("test input should be valid HCL")
    }

    /// Formats `source`, checking that the result means the same, parses, and is stable.
    fn format_checked(source: &str) -> String {
        let formatted = format(source);
        assert_eq!(
            meaning(source),
            meaning(&formatted),
            "formatting changed the meaning of:\n{source}"
        );
        assert_eq!(
            format(&formatted),
            formatted,
            "formatting is not idempotent on:\n{source}"
        );
        formatted
    }

    const REALISTIC: &str = r#"variable "db_size" {
  type    = number
  default = 100
}

resource "qos" "gold" {
  consumer = "back-end"
  specs = {
    total_iops_sec = 2000
    read_bytes_sec = 104857600
  }
}

resource "volume" "db" {
  name = "db-data"
  type = volume_type.ssd.id
  size = var.db_size # GiB
  tags = ["db", "prod"]
  lifecycle {
    prevent_destroy = true
  }
}
"#;

    #[test]
    fn aligns_equals_in_a_run_of_attributes() {
        let source =
            "resource \"volume\" \"db\" {\nname=\"db-data\"\n  size   =   10\n  description = \"primary\"\n}\n";
        assert_eq!(
            format_checked(source),
            "resource \"volume\" \"db\" {\n  name        = \"db-data\"\n  size        = 10\n  description = \"primary\"\n}\n"
        );
    }

    #[test]
    fn runs_are_broken_by_blank_lines_blocks_comments_and_multi_line_values() {
        let source = r"a = 1
bbbb = 2

cc = 3
# note
dddddd = 4
eee = {
  x = 1
}
f = 5
block {
}
gggggg = 6
";
        let expected = r"a    = 1
bbbb = 2

cc = 3
# note
dddddd = 4
eee = {
  x = 1
}
f = 5
block {
}
gggggg = 6
";
        assert_eq!(format_checked(source), expected);
    }

    #[test]
    fn formats_the_realistic_example_and_keeps_it_stable() {
        let source = r#"variable "db_size" {
  type    = number
  default = 100
}

resource "qos" "gold" {
  consumer = "back-end"
  specs = {
    total_iops_sec  = 2000
    read_bytes_sec  = 104857600
  }
}

resource "volume" "db" {
  name = "db-data"
  type = volume_type.ssd.id
  size = var.db_size # GiB
  tags = ["db", "prod"]
  lifecycle {
    prevent_destroy = true
  }
}
"#;
        assert_eq!(format_checked(source), REALISTIC);
        assert_eq!(format(REALISTIC), REALISTIC);
    }

    #[test]
    fn indents_nested_blocks() {
        let source = r#"resource "volume" "db" {
        size = 10
    lifecycle {
prevent_destroy = true
        ignore_changes = [tags]
          }
}
variable "size" {
type = number
	validation {
	condition = var.size > 0
	error_message = "The size must be positive."
	}
}
"#;
        let expected = r#"resource "volume" "db" {
  size = 10
  lifecycle {
    prevent_destroy = true
    ignore_changes  = [tags]
  }
}
variable "size" {
  type = number
  validation {
    condition     = var.size > 0
    error_message = "The size must be positive."
  }
}
"#;
        assert_eq!(format_checked(source), expected);
    }

    #[test]
    fn keeps_leading_line_comments_indented_with_their_item() {
        let source = "# file comment\n// another\nresource \"volume\" \"db\" {\n      # size in GiB\n// really\n  size = 10\n    # dangling at the end\n}\n";
        let expected = "# file comment\n// another\nresource \"volume\" \"db\" {\n  # size in GiB\n  // really\n  size = 10\n  # dangling at the end\n}\n";
        assert_eq!(format_checked(source), expected);
    }

    #[test]
    fn aligns_trailing_comments_of_consecutive_lines() {
        let source = "resource \"volume\" \"db\" { # the database\n  size = 10      # GiB\n  name = \"db-data\"   // its name\n\n  format = \"raw\"    # alone\n}\n";
        let expected = "resource \"volume\" \"db\" { # the database\n  size = 10              # GiB\n  name = \"db-data\"       // its name\n\n  format = \"raw\" # alone\n}\n";
        assert_eq!(format_checked(source), expected);
    }

    #[test]
    fn keeps_block_comments() {
        let source = "/* header\n   spanning lines */\nresource \"volume\" \"db\" {\n    /* inline */ size = 10 /* after */\n\n  name = /* before value */ \"db\"\n      /*\n        indented as written\n      */\n}\n";
        let expected = "/* header\n   spanning lines */\nresource \"volume\" \"db\" {\n  /* inline */ size = 10 /* after */\n\n  name = /* before value */ \"db\"\n  /*\n        indented as written\n      */\n}\n";
        assert_eq!(format_checked(source), expected);
    }

    #[test]
    fn collapses_blank_lines_and_trims_body_edges() {
        let source =
            "\n\n\nvariable \"a\" {\n\n\n  default = 1\n\n\n\n  type = number\n\n}\n\n\n\nvariable \"b\" {}\n\n\n";
        let expected = "variable \"a\" {\n  default = 1\n\n  type = number\n}\n\nvariable \"b\" {}\n";
        assert_eq!(format_checked(source), expected);
    }

    #[test]
    fn trims_blank_lines_at_the_edges_of_lists_and_objects() {
        let source = "x = [\n\n  1,\n\n\n  2,\n\n]\ny = {\n\n  a = 1\n\n}\n";
        let expected = "x = [\n  1,\n\n  2,\n]\ny = {\n  a = 1\n}\n";
        assert_eq!(format_checked(source), expected);
    }

    #[test]
    fn removes_trailing_whitespace_and_ends_with_one_newline() {
        assert_eq!(format_checked("a = 1   \nb = 2\t"), "a = 1\nb = 2\n");
        assert_eq!(format_checked("a = 1 # note   \n\n\n"), "a = 1 # note\n");
        assert_eq!(format_checked(""), "");
        assert_eq!(format_checked("\n\n  \n"), "");
        assert_eq!(format_checked("# only a comment"), "# only a comment\n");
    }

    #[test]
    fn normalises_crlf_line_endings() {
        assert_eq!(
            format_checked("a = 1\r\nblock {\r\n    b = 2\r\n}\r\n"),
            "a = 1\nblock {\n  b = 2\n}\n"
        );
    }

    #[test]
    fn normalises_block_headers() {
        let source = "resource   \"volume\"    \"db\"{\n}\nterraform{\n}\nempty \"x\" \"y\" {   }\nstill \"empty\" {}\noneline {a=1}\nspaced   label   {   b   =   2   }\n";
        let expected = "resource \"volume\" \"db\" {\n}\nterraform {\n}\nempty \"x\" \"y\" {}\nstill \"empty\" {}\noneline { a = 1 }\nspaced label { b = 2 }\n";
        assert_eq!(format_checked(source), expected);
    }

    #[test]
    fn spaces_equals_and_closes_empty_brackets_in_expressions() {
        let source = "x = {a=1, \"b c\"   =   2}\ny = [{ k   = \"v\" }]\nz = [ {  } , [ ], ( { } ) ]\n";
        let expected = "x = {a = 1, \"b c\" = 2}\ny = [{ k = \"v\" }]\nz = [ {} , [], ( {} ) ]\n";
        assert_eq!(format_checked(source), expected);
    }

    #[test]
    fn aligns_multi_line_object_entries() {
        let source = r#"resource "qos" "gold" {
  specs = {
      total_iops_sec = 2000
    read_bytes_sec=104857600
    nested = {
      a = 1
      bbb = 2
    }
    "quoted key" = true
    iops : 3
  }
}
"#;
        let expected = r#"resource "qos" "gold" {
  specs = {
    total_iops_sec = 2000
    read_bytes_sec = 104857600
    nested = {
      a   = 1
      bbb = 2
    }
    "quoted key" = true
    iops : 3
  }
}
"#;
        assert_eq!(format_checked(source), expected);
    }

    #[test]
    fn indents_multi_line_lists_calls_and_conditionals() {
        let source = r#"locals {
names = [
"a",
      "b",
]
merged = merge(
var.base,
{
extra = true
},
)
pick = (
var.enabled
? "on"
: "off"
)
nested = [[
1, 2,
], [
3,
]]
}
"#;
        let expected = r#"locals {
  names = [
    "a",
    "b",
  ]
  merged = merge(
    var.base,
    {
      extra = true
    },
  )
  pick = (
    var.enabled
    ? "on"
    : "off"
  )
  nested = [[
    1, 2,
    ], [
    3,
  ]]
}
"#;
        assert_eq!(format_checked(source), expected);
    }

    /// Cases from hclwrite's own format tests, with the spacing inside expressions (which
    /// hclwrite rewrites and we keep) already canonical.
    #[test]
    fn lays_out_lines_like_hclwrite() {
        let cases = [
            ("x = [\n[\na\n]\n]\n", "x = [\n  [\n    a\n  ]\n]\n"),
            ("x = [[\na\n]]\n", "x = [[\n  a\n]]\n"),
            ("x = [[\n[\na\n]\n]]\n", "x = [[\n  [\n    a\n  ]\n]]\n"),
            // Degenerate, asymmetrical brackets.
            ("x = [[\n[\na\n]]\n]\n", "x = [[\n  [\n    a\n  ]]\n]\n"),
            ("b {a = 1}\n", "b { a = 1 }\n"),
            ("a = 1 # foo\nbungle = 2\n", "a      = 1 # foo\nbungle = 2\n"),
            (
                "# here we go\na = 1 # foo\nbungle = \"bonce\" # baz\n",
                "# here we go\na      = 1       # foo\nbungle = \"bonce\" # baz\n",
            ),
            (
                "foo {} # here we go\na = 1 # foo\nbungle = \"bonce\" # baz\n",
                "foo {}           # here we go\na      = 1       # foo\nbungle = \"bonce\" # baz\n",
            ),
            (
                "a = 1 # foo\nbungle = (\n    \"bonce\"\n) # baz\nzebra = \"striped\" # baz\n",
                "a = 1 # foo\nbungle = (\n  \"bonce\"\n)                 # baz\nzebra = \"striped\" # baz\n",
            ),
            (
                "a=\"apple\"# foo\nbungle=(# woo parens\n\"bonce\"\n)# baz\nzebra=\"striped\"# baz\n",
                "a = \"apple\" # foo\nbungle = (  # woo parens\n  \"bonce\"\n)                 # baz\nzebra = \"striped\" # baz\n",
            ),
            ("foo = [{\n# ...\n}]\n", "foo = [{\n  # ...\n}]\n"),
            (
                "module \"foo\" {\nfoo = <<EOF\n5\nEOF\n}\n\nmodule \"x\" {\na = \"b\"\nabcde = \"456\"\n}",
                "module \"foo\" {\n  foo = <<EOF\n5\nEOF\n}\n\nmodule \"x\" {\n  a     = \"b\"\n  abcde = \"456\"\n}\n",
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(format_checked(source), expected, "input:\n{source}");
        }
    }

    #[test]
    fn leaves_strings_and_templates_alone() {
        let source = "a   =   \"x  =  y # not a comment // nor this /* or this */\"\nb = \"${var.a}-${ join(\",\", [\"{\", \"[\"]) }\"\nc = \"%{ if var.on }on%{ else }off%{ endif }\"\nd = \"tab\\there\\u00e9\"\n";
        let expected = "a = \"x  =  y # not a comment // nor this /* or this */\"\nb = \"${var.a}-${ join(\",\", [\"{\", \"[\"]) }\"\nc = \"%{ if var.on }on%{ else }off%{ endif }\"\nd = \"tab\\there\\u00e9\"\n";
        assert_eq!(format_checked(source), expected);
    }

    #[test]
    fn leaves_heredocs_alone() {
        let source = "block {\n      script = <<EOT\n   #!/bin/sh\n{\n  echo ${var.name}   \n\nEOT\n  other = 1\n  indented = <<-EOT\n      keep\n        these\n      EOT\n}\n";
        let expected = "block {\n  script   = <<EOT\n   #!/bin/sh\n{\n  echo ${var.name}   \n\nEOT\n  other    = 1\n  indented = <<-EOT\n      keep\n        these\n      EOT\n}\n";
        assert_eq!(format_checked(source), expected);
    }

    #[test]
    fn keeps_expression_text_as_written() {
        let source = "x = var.a+var.b*  2\ny = [for  v in var.list : upper(v) if v != \"\"]\nz = {for k, v in var.map : k => v...}\nw = !var.on && -1 < 2\n";
        assert_eq!(format_checked(source), source);
    }

    #[test]
    fn leaves_canonical_text_unchanged() {
        for source in SAMPLES {
            let formatted = format_checked(source);
            assert_eq!(format(&formatted), formatted);
        }
        assert_eq!(format(REALISTIC), REALISTIC);
    }

    #[test]
    fn rejects_invalid_syntax() {
        assert!(format_source("resource \"volume\" {").is_err());
        assert!(format_source("a = = 1").is_err());
        assert!(format_source("a = [1, 2").is_err());
        assert!(format_source("a = \"unterminated\n").is_err());
        assert!(format_source("a = 1\na = 2\n").is_err());
    }

    const SAMPLES: &[&str] = &[
        REALISTIC,
        r#"resource "volume" "replica" {
  for_each = toset(["a", "b"])
  name     = "replica-${each.key}"
  size     = var.sizes[each.key] * 1024
  depends_on = [
    volume.db,
  ]
}
"#,
        r#"locals {
  script = <<-EOT
    #!/bin/sh
    echo "${var.name}"
  EOT
  raw = <<EOT
no indentation { here
EOT
  after = 1
}
"#,
        r#"variable "tier" {
  type = object({
    name = string
    iops = optional(number, 100)
  })
  default = {
    name = "gold", iops = 2000
  }
  validation {
    condition     = contains(["gold", "silver"], var.tier.name)
    error_message = "Tier must be gold or silver."
  }
}
"#,
        r#"output "ids" {
  value = {
    for name, vol in volume.all :
    name => vol.id
    if vol.size > 0
  }
  description = var.verbose ? "all volumes" : (
    var.short ? "ids" : "volume ids"
  )
}
"#,
        r#"/* a file
   header */
terraform {
  required_providers {
    ceph = { source = "blockform/ceph" } # pinned below
  }
}

# trailing file comment
"#,
        "resource \"a\" \"b\" {\n  list = [{\n    a = 1\n    }, {\n    b = 2\n  }]\n  calls = concat(\n    [1],\n    [2], # two\n    [3], # three\n  )\n}\n",
        "x = [\n  <<EOT\nin a list\nEOT\n  ,\n  \"after\",\n]\ny = provider::ceph::pool_id(\"rbd\")\n",
    ];

    /// A tiny deterministic generator, so the perturbation test needs no dependency.
    struct XorShift(u64);

    impl XorShift {
        fn below(&mut self, bound: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            usize::try_from(self.0 % u64::try_from(bound).expect("small bound")).expect("below a usize bound")
        }

        fn whitespace(&mut self) -> String {
            let choices = ["", " ", "  ", "\t", "    ", " \t "];
            (0..self.below(3)).map(|_| choices[self.below(choices.len())]).collect()
        }
    }

    #[test]
    fn restores_canonical_text_after_whitespace_perturbations() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        // Samples without heredocs or multi-line comments, whose line starts and ends are all
        // outside opaque text.
        let plain: Vec<&str> = SAMPLES
            .iter()
            .copied()
            .filter(|sample| !sample.contains("<<") && !sample.contains("/*"))
            .collect();
        for sample in plain {
            for _ in 0..200 {
                let mut perturbed = String::new();
                for line in sample.lines() {
                    perturbed.push_str(&rng.whitespace());
                    let line = line.trim_start();
                    if rng.below(2) == 0 {
                        perturbed.push_str(&line.replacen(
                            " = ",
                            &format!("{}={}", rng.whitespace(), rng.whitespace()),
                            1,
                        ));
                    } else {
                        perturbed.push_str(line);
                    }
                    perturbed.push_str(&rng.whitespace());
                    perturbed.push_str(if rng.below(4) == 0 { "\r\n" } else { "\n" });
                    if line.is_empty() {
                        for _ in 0..rng.below(3) {
                            perturbed.push_str(&rng.whitespace());
                            perturbed.push('\n');
                        }
                    }
                }
                assert_eq!(format(&perturbed), sample, "perturbed input:\n{perturbed}");
            }
        }
    }
}
