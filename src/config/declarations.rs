//! The declarations of a configuration, before any evaluation: `variable`, `locals`,
//! `provider`, `backup_store`, `resource`, `output` and `import` blocks collected from the parsed
//! files into a [`Config`], with unknown, misshapen and repeated blocks reported. The checks
//! every block shares (unknown attributes and nested blocks) live here too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::load::{Attr, ParsedFile, RawBlock, suggestion};
use super::types::{TypeConstraint, parse_type};
use crate::diagnostics::{Diagnostic, Diagnostics, FileId, Span};
use crate::model::{PROVIDER_KINDS, ResourceKind, STORE_KINDS};

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
}

/// Collects declarations from parsed files, reporting unknown and repeated blocks.
pub fn collect(dir: &Path, files: Vec<ParsedFile>, diagnostics: &mut Diagnostics) -> Config {
    let mut config = Config {
        dir: dir.to_path_buf(),
        ..Config::default()
    };
    let mut seen: HashMap<(String, String, String), Span> = HashMap::new();
    let mut check_unique =
        |section: &str, kind: &str, name: &str, span: &Span, what: String, diagnostics: &mut Diagnostics| {
            let key = (section.to_owned(), kind.to_owned(), name.to_owned());
            if let Some(first) = seen.get(&key) {
                diagnostics.push(
                    Diagnostic::error(format!("{what} is declared twice"))
                        .at(span.clone(), "declared again here")
                        .related(first.clone(), "first declared here")
                        .help("rename one of them or remove the duplicate"),
                );
                false
            } else {
                seen.insert(key, span.clone());
                true
            }
        };
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
            let expected_labels = match block.ident.as_str() {
                "resource" | "provider" | "backup_store" => 2,
                "variable" | "output" => 1,
                "locals" | "import" => 0,
                other => {
                    let help = match other {
                        "data" => Some(
                            "blockform has no data sources; use an `import` block to adopt an existing object"
                                .to_owned(),
                        ),
                        "module" => Some("blockform has no modules; put the files into one directory".to_owned()),
                        "terraform" => Some(
                            "blockform needs no `terraform` block; state settings are command-line flags".to_owned(),
                        ),
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
                            ],
                        ),
                    };
                    let mut d = Diagnostic::error(format!("unknown block type `{other}`"))
                        .at(block.header_span.clone(), "not a blockform block");
                    if let Some(help) = help {
                        d = d.help(help);
                    }
                    diagnostics.push(d);
                    continue;
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
                continue;
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
                continue;
            }
            match block.ident.as_str() {
                "resource" => {
                    let (kind_label, name) = (block.labels[0].clone(), block.labels[1].clone());
                    let Some(kind) = ResourceKind::from_name(&kind_label) else {
                        let mut d = Diagnostic::error(format!("unknown resource kind `{kind_label}`"))
                            .at(block.label_spans[0].clone(), "not a resource kind");
                        d = d.help(
                            suggestion(&kind_label, ResourceKind::ALL.iter().map(|k| k.name())).unwrap_or_else(|| {
                                format!("the kinds are {}", ResourceKind::ALL.map(ResourceKind::name).join(", "))
                            }),
                        );
                        diagnostics.push(d);
                        continue;
                    };
                    if check_unique(
                        "resource",
                        &kind_label,
                        &name,
                        &block.name_span(),
                        format!("resource `{kind_label}.{name}`"),
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
                "provider" | "backup_store" => {
                    let (kind, name) = (block.labels[0].clone(), block.labels[1].clone());
                    let is_provider = block.ident == "provider";
                    let kinds = if is_provider { PROVIDER_KINDS } else { STORE_KINDS };
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
                        continue;
                    }
                    // Provider names are unique across kinds: a volume type's `backend` names one.
                    let what = if is_provider {
                        format!("provider `{name}`")
                    } else {
                        format!("backup store `{name}`")
                    };
                    if check_unique(&block.ident, "", &name, &block.name_span(), what, diagnostics) {
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
                "variable" => {
                    let name = block.labels[0].clone();
                    if check_unique(
                        "variable",
                        "",
                        &name,
                        &block.name_span(),
                        format!("variable `{name}`"),
                        diagnostics,
                    ) {
                        config.variables.push(variable_decl(name, block, file, diagnostics));
                    }
                }
                "output" => {
                    let name = block.labels[0].clone();
                    if check_unique(
                        "output",
                        "",
                        &name,
                        &block.name_span(),
                        format!("output `{name}`"),
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
                "locals" => {
                    for nested in &block.blocks {
                        diagnostics.push(
                            Diagnostic::error(format!("unexpected block `{}` in `locals`", nested.ident))
                                .at(nested.header_span.clone(), "not allowed here")
                                .help("`locals` holds attributes only: `name = value`"),
                        );
                    }
                    for attr in block.attrs.into_values() {
                        if check_unique(
                            "local",
                            "",
                            &attr.name,
                            &attr.name_span,
                            format!("local value `{}`", attr.name),
                            diagnostics,
                        ) {
                            config.locals.push((attr, file));
                        }
                    }
                }
                _ => config.imports.push((block, file)),
            }
        }
    }
    config
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
