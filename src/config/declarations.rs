//! The declarations of a configuration, before any evaluation: `variable`, `locals`,
//! `provider`, `backup_store`, `resource`, `output` and `import` blocks collected from the parsed
//! files into a [`Config`], with unknown, misshapen and repeated blocks reported. The checks
//! every block shares (unknown attributes and nested blocks) live here too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::load::{Attr, ParsedFile, RawBlock, check_block_attrs, suggestion};
use super::types::{TypeConstraint, parse_type};
use crate::diagnostics::{Diagnostic, Diagnostics, FileId, Span};
use crate::model::{ResourceKind, STORE_KINDS};
use crate::registry::provider_kinds;

/// A `variable` block.
#[derive(Debug, Clone)]
pub struct VariableDecl {
    /// The variable's name.
    pub name: String,
    /// Its declared type.
    pub ty: TypeConstraint,
    /// Its description.
    pub description: Option<String>,
    /// Whether its value is hidden in output.
    pub sensitive: bool,
    /// The block.
    pub block: RawBlock,
    /// The file it is in.
    pub file: FileId,
}

/// A `resource`, `provider` or `backup_store` block with its labels.
#[derive(Debug, Clone)]
pub struct Decl {
    /// The first label (resource kind, provider kind, store kind).
    pub kind: String,
    /// The second label: the name.
    pub name: String,
    /// The block.
    pub block: RawBlock,
    /// The file it is in.
    pub file: FileId,
}

/// Everything declared in a configuration, before evaluation.
#[derive(Debug, Default)]
pub struct Config {
    /// The configuration directory.
    pub dir: PathBuf,
    /// `variable` blocks.
    pub variables: Vec<VariableDecl>,
    /// Attributes of `locals` blocks.
    pub locals: Vec<(Attr, FileId)>,
    /// `provider` blocks.
    pub providers: Vec<Decl>,
    /// `backup_store` blocks.
    pub stores: Vec<Decl>,
    /// `resource` blocks.
    pub resources: Vec<(ResourceKind, Decl)>,
    /// `output` blocks.
    pub outputs: Vec<Decl>,
    /// `import` blocks.
    pub imports: Vec<(RawBlock, FileId)>,
    /// What the `blockform` block says (where the state lives).
    pub settings: super::settings::Settings,
}

/// Collects declarations from parsed files, reporting unknown and repeated blocks.
pub fn collect(dir: &Path, files: Vec<ParsedFile>, diagnostics: &mut Diagnostics) -> Config {
    let mut config = Config {
        dir: dir.to_path_buf(),
        ..Config::default()
    };
    let mut declared = Declared::default();
    for parsed in files {
        let file = parsed.file;
        for attr in parsed.attrs.values() {
            diagnostics.push(
                Diagnostic::error(format!("unexpected attribute `{}` at the top level", attr.name))
                    .at(attr.name_span.clone(), "not inside a block")
                    .help("attributes belong inside blocks such as `locals { … }` or `resource \"volume\" \"name\" { … }`; variable values go into a blockform.bfvars file"),
            );
        }
        for block in parsed.blocks {
            if !check_shape(&block, diagnostics) {
                continue;
            }
            match block.ident.as_str() {
                "resource" => collect_resource(&mut config, &mut declared, block, file, diagnostics),
                "provider" | "backup_store" => {
                    collect_provider_or_store(&mut config, &mut declared, block, file, diagnostics);
                }
                "variable" => {
                    let name = block.labels[0].clone();
                    if declared.first(
                        "variable",
                        "",
                        &name,
                        &block.name_span(),
                        &format!("variable `{name}`"),
                        diagnostics,
                    ) {
                        config.variables.push(variable_decl(name, block, file, diagnostics));
                    }
                }
                "output" => {
                    let name = block.labels[0].clone();
                    if declared.first(
                        "output",
                        "",
                        &name,
                        &block.name_span(),
                        &format!("output `{name}`"),
                        diagnostics,
                    ) {
                        config.outputs.push(Decl {
                            kind: String::new(),
                            name,
                            block,
                            file,
                        });
                    }
                }
                "locals" => collect_locals(&mut config, &mut declared, block, file, diagnostics),
                "blockform" => super::settings::collect_settings(&block, &mut config.settings, diagnostics),
                _ => config.imports.push((block, file)),
            }
        }
    }
    config
}

/// The names declared so far, to report a name declared twice.
#[derive(Default)]
struct Declared(HashMap<(String, String, String), Span>);

impl Declared {
    /// Whether `name` is the first of its section (and kind); reports a repeat, pointing at the
    /// first declaration, otherwise.
    fn first(
        &mut self,
        section: &str,
        kind: &str,
        name: &str,
        span: &Span,
        what: &str,
        diagnostics: &mut Diagnostics,
    ) -> bool {
        let key = (section.to_owned(), kind.to_owned(), name.to_owned());
        if let Some(first) = self.0.get(&key) {
            diagnostics.push(
                Diagnostic::error(format!("{what} is declared twice"))
                    .at(span.clone(), "declared again here")
                    .related(first.clone(), "first declared here")
                    .help("rename one of them or remove the duplicate"),
            );
            false
        } else {
            self.0.insert(key, span.clone());
            true
        }
    }
}

/// Whether a block is one blockform knows, with the right number of labels and a valid name;
/// reports it otherwise.
fn check_shape(block: &RawBlock, diagnostics: &mut Diagnostics) -> bool {
    let expected_labels = match block.ident.as_str() {
        "resource" | "provider" | "backup_store" => 2,
        "variable" | "output" => 1,
        "locals" | "import" | "blockform" => 0,
        other => {
            let help = match other {
                "data" => {
                    Some("blockform has no data sources; use an `import` block to adopt an existing object".to_owned())
                }
                "module" => Some("blockform has no modules; put the files into one directory".to_owned()),
                "terraform" => {
                    Some("blockform's own settings (the state backend) go into a `blockform { … }` block".to_owned())
                }
                _ => suggestion(
                    other,
                    [
                        "resource",
                        "provider",
                        "backup_store",
                        "variable",
                        "output",
                        "locals",
                        "import",
                        "blockform",
                    ],
                ),
            };
            let mut d = Diagnostic::error(format!("unknown block type `{other}`"))
                .at(block.header_span.clone(), "not a blockform block");
            if let Some(help) = help {
                d = d.help(help);
            }
            diagnostics.push(d);
            return false;
        }
    };
    if block.labels.len() != expected_labels {
        let shape = match block.ident.as_str() {
            "resource" => "resource \"KIND\" \"NAME\" { … }",
            "provider" => "provider \"KIND\" \"NAME\" { … }",
            "backup_store" => "backup_store \"KIND\" \"NAME\" { … }",
            "variable" => "variable \"NAME\" { … }",
            "output" => "output \"NAME\" { … }",
            "locals" => "locals { … }",
            "blockform" => "blockform { … }",
            _ => "import { to = …, id = … }",
        };
        diagnostics.push(
            Diagnostic::error(format!(
                "a `{}` block takes {expected_labels} label{}, this one has {}",
                block.ident,
                if expected_labels == 1 { "" } else { "s" },
                block.labels.len()
            ))
            .at(block.header_span.clone(), "wrong number of labels")
            .help(format!("write it as `{shape}`")),
        );
        return false;
    }
    let name_ok = block.labels.last().is_none_or(|name| valid_identifier(name));
    if !name_ok {
        diagnostics.push(
            Diagnostic::error(format!(
                "`{}` is not a valid name",
                block.labels.last().map_or("", String::as_str)
            ))
            .at(block.name_span(), "invalid name")
            .help("names start with a letter or `_` and contain only letters, digits, `_` and `-`"),
        );
        return false;
    }
    true
}

fn collect_resource(
    config: &mut Config,
    declared: &mut Declared,
    block: RawBlock,
    file: FileId,
    diagnostics: &mut Diagnostics,
) {
    let (kind_label, name) = (block.labels[0].clone(), block.labels[1].clone());
    let Some(kind) = ResourceKind::from_name(&kind_label) else {
        let mut d = Diagnostic::error(format!("unknown resource kind `{kind_label}`"))
            .at(block.label_spans[0].clone(), "not a resource kind");
        d = d.help(
            suggestion(&kind_label, ResourceKind::ALL.iter().map(|k| k.name()))
                .unwrap_or_else(|| format!("the kinds are {}", ResourceKind::ALL.map(ResourceKind::name).join(", "))),
        );
        diagnostics.push(d);
        return;
    };
    if declared.first(
        "resource",
        &kind_label,
        &name,
        &block.name_span(),
        &format!("resource `{kind_label}.{name}`"),
        diagnostics,
    ) {
        config.resources.push((
            kind,
            Decl {
                kind: kind_label,
                name,
                block,
                file,
            },
        ));
    }
}

fn collect_provider_or_store(
    config: &mut Config,
    declared: &mut Declared,
    block: RawBlock,
    file: FileId,
    diagnostics: &mut Diagnostics,
) {
    let (kind, name) = (block.labels[0].clone(), block.labels[1].clone());
    let is_provider = block.ident == "provider";
    let kinds = if is_provider {
        provider_kinds()
    } else {
        STORE_KINDS.to_vec()
    };
    if !kinds.contains(&kind.as_str()) {
        let what = if is_provider { "provider" } else { "backup store" };
        diagnostics.push(
            Diagnostic::error(format!("unknown {what} kind `{kind}`"))
                .at(block.label_spans[0].clone(), format!("not a {what} kind"))
                .help(
                    suggestion(&kind, kinds.iter().copied())
                        .unwrap_or_else(|| format!("the kinds are {}", kinds.join(", "))),
                ),
        );
        return;
    }
    // Provider names are unique across kinds: a volume type's `backend` names one.
    let what = if is_provider {
        format!("provider `{name}`")
    } else {
        format!("backup store `{name}`")
    };
    if declared.first(&block.ident, "", &name, &block.name_span(), &what, diagnostics) {
        let decl = Decl {
            kind,
            name,
            block,
            file,
        };
        if is_provider {
            config.providers.push(decl);
        } else {
            config.stores.push(decl);
        }
    }
}

fn collect_locals(
    config: &mut Config,
    declared: &mut Declared,
    block: RawBlock,
    file: FileId,
    diagnostics: &mut Diagnostics,
) {
    for nested in &block.blocks {
        diagnostics.push(
            Diagnostic::error(format!("unexpected block `{}` in `locals`", nested.ident))
                .at(nested.header_span.clone(), "not allowed here")
                .help("`locals` holds attributes only: `name = value`"),
        );
    }
    for attr in block.attrs.into_values() {
        if declared.first(
            "local",
            "",
            &attr.name,
            &attr.name_span,
            &format!("local value `{}`", attr.name),
            diagnostics,
        ) {
            config.locals.push((attr, file));
        }
    }
}

pub(super) fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

fn variable_decl(name: String, block: RawBlock, file: FileId, diagnostics: &mut Diagnostics) -> VariableDecl {
    check_block_attrs(
        &block,
        &["type", "default", "description", "sensitive", "nullable"],
        &["validation"],
        diagnostics,
    );
    let ty = match block.attrs.get("type") {
        Some(attr) => parse_type(&attr.expr).unwrap_or_else(|message| {
            diagnostics.push(
                Diagnostic::error(format!("invalid type for variable `{name}`: {message}"))
                    .at(attr.value_span.clone(), "not a type"),
            );
            TypeConstraint::Any
        }),
        None => TypeConstraint::Any,
    };
    let literal_string = |key: &str| block.attrs.get(key).and_then(|a| a.expr.as_str().map(str::to_owned));
    let description = literal_string("description");
    let sensitive = block
        .attrs
        .get("sensitive")
        .and_then(|a| a.expr.as_bool())
        .unwrap_or(false);
    for validation in block.blocks.iter().filter(|b| b.ident == "validation") {
        check_block_attrs(validation, &["condition", "error_message"], &[], diagnostics);
        for key in ["condition", "error_message"] {
            if !validation.attrs.contains_key(key) {
                diagnostics.push(
                    Diagnostic::error(format!("a `validation` block needs `{key}`"))
                        .at(validation.header_span.clone(), format!("`{key}` missing"))
                        .help("write `condition = <bool expression using var.NAME>` and `error_message = \"…\"`"),
                );
            }
        }
    }
    VariableDecl {
        name,
        ty,
        description,
        sensitive,
        block,
        file,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::load::parse_file;
    use crate::diagnostics::SourceMap;

    /// Collects the declarations of `text`; the diagnostics as (message, the text pointed at,
    /// the text of the related span), each text followed by `@` and its line.
    fn collected(text: &str) -> (Config, Vec<(String, String, Option<String>)>) {
        let mut sources = SourceMap::default();
        let mut diagnostics = Diagnostics::default();
        let file = sources.add("main.hcl".into(), "main.hcl".to_owned(), text);
        let parsed = parse_file(file, text, &mut diagnostics).expect("the test text parses");
        let config = collect(Path::new("."), vec![parsed], &mut diagnostics);
        let show = |span: &Span| {
            let line = 1 + text[..span.range.start].matches('\n').count();
            format!("{}@{line}", &text[span.range.clone()])
        };
        let reported = diagnostics
            .iter()
            .map(|d| {
                (
                    d.summary.clone(),
                    d.span.as_ref().map(show).unwrap_or_default(),
                    d.related.first().map(|(span, _)| show(span)),
                )
            })
            .collect();
        (config, reported)
    }

    #[test]
    fn blocks_are_collected_by_what_they_declare() {
        let (config, reported) = collected(
            r#"
variable "size" {}
locals {
  a = 1
  b = 2
}
provider "local" "dev" {}
backup_store "dir" "nas" {}
resource "volume" "db" {}
output "id" {}
import {}
"#,
        );
        assert_eq!(reported, []);
        assert_eq!(config.variables[0].name, "size");
        let locals: Vec<&str> = config.locals.iter().map(|(a, _)| a.name.as_str()).collect();
        assert_eq!(locals, ["a", "b"]);
        assert_eq!(
            (config.providers[0].kind.as_str(), config.providers[0].name.as_str()),
            ("local", "dev")
        );
        assert_eq!(config.stores[0].name, "nas");
        assert_eq!(config.resources[0].0, ResourceKind::Volume);
        assert_eq!(config.outputs[0].name, "id");
        assert_eq!(config.imports.len(), 1);
    }

    #[test]
    fn repeated_misshapen_and_unknown_blocks_are_reported() {
        let (config, reported) = collected(
            r#"
resource "volume" "db" {}
resource "volume" "db" {}
provider "local" "main" {}
provider "ceph" "main" {}
data "volume" "x" {}
output "a" "b" {}
resource "volum" "x" {}
variable "9lives" {}
size = 1
"#,
        );
        let entry = |message: &str, at: &str, related: Option<&str>| {
            (message.to_owned(), at.to_owned(), related.map(str::to_owned))
        };
        assert_eq!(
            reported,
            [
                entry("unexpected attribute `size` at the top level", "size@10", None),
                entry("resource `volume.db` is declared twice", "\"db\"@3", Some("\"db\"@2")),
                entry("provider `main` is declared twice", "\"main\"@5", Some("\"main\"@4")),
                entry("unknown block type `data`", "data \"volume\" \"x\"@6", None),
                entry(
                    "a `output` block takes 1 label, this one has 2",
                    "output \"a\" \"b\"@7",
                    None
                ),
                entry("unknown resource kind `volum`", "\"volum\"@8", None),
                entry("`9lives` is not a valid name", "\"9lives\"@9", None),
            ]
        );
        // The first of each repeated pair is kept.
        assert_eq!(config.resources.len(), 1);
        assert_eq!(config.providers[0].kind, "local");
        assert!(config.variables.is_empty());
    }
}
