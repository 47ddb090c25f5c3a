//! The `blockform { … }` block: settings of blockform itself rather than of the storage it
//! manages. Today that is where the state lives, `backend "s3" { bucket, key, endpoint,
//! region }` (no block: the local sled state in `.blockform/state`).
//!
//! The settings are read before variables and state (they say where the state is), so every
//! value is a literal string. Credentials are never accepted here: they come from the
//! environment or the AWS credential files (`crate::s3`).

use std::path::Path;

use hcl_edit::expr::Expression;

use super::load::check_block_attrs;
use super::load::{Attr, RawBlock};
use crate::diagnostics::{Diagnostic, Diagnostics, SourceMap, Span, render_human};
use crate::s3::S3Location;

/// The state back ends a `backend` block can name.
pub const BACKEND_KINDS: &[&str] = &["s3"];

/// The attributes of `backend "s3"`.
const S3_ATTRS: &[&str] = &["bucket", "key", "endpoint", "region"];

/// Attributes that would put a secret into the configuration: refused with a pointer to the
/// environment.
const CREDENTIAL_ATTRS: &[&str] = &[
    "access_key",
    "secret_key",
    "token",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "profile",
    "shared_credentials_file",
];

/// What a configuration's `blockform` block says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The state back end, when the block names one.
    pub backend: Option<BackendSettings>,
}

/// A `backend` block: where the state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSettings {
    /// The S3 bucket, key (the prefix of the state's objects), endpoint and region.
    pub location: S3Location,
    /// The block, for messages.
    pub span: Span,
}

/// Reads one `blockform` block into `settings`, reporting what is wrong with spans.
pub fn collect_settings(block: &RawBlock, settings: &mut Settings, diagnostics: &mut Diagnostics) {
    check_block_attrs(block, &[], &["backend"], diagnostics);
    for nested in block.blocks.iter().filter(|b| b.ident == "backend") {
        if nested.labels.len() != 1 {
            diagnostics.push(
                Diagnostic::error(format!(
                    "a `backend` block takes 1 label, this one has {}",
                    nested.labels.len()
                ))
                .at(nested.header_span.clone(), "wrong number of labels")
                .help("write it as `backend \"s3\" { bucket = …, key = … }`"),
            );
            continue;
        }
        if let Some(first) = &settings.backend {
            diagnostics.push(
                Diagnostic::error("the state backend is declared twice")
                    .at(nested.header_span.clone(), "declared again here")
                    .related(first.span.clone(), "first declared here")
                    .help("a configuration keeps its state in one place: remove one of the `backend` blocks"),
            );
            continue;
        }
        if let Some(backend) = backend_block(nested, diagnostics) {
            settings.backend = Some(backend);
        }
    }
}

fn backend_block(block: &RawBlock, diagnostics: &mut Diagnostics) -> Option<BackendSettings> {
    let kind = &block.labels[0];
    if !BACKEND_KINDS.contains(&kind.as_str()) {
        diagnostics.push(
            Diagnostic::error(format!("unknown state backend `{kind}`"))
                .at(block.label_spans[0].clone(), "not a state backend")
                .help(format!(
                    "the backends are {}; without a `backend` block the state is the local database in \
                     `.blockform/state`",
                    BACKEND_KINDS.join(", ")
                )),
        );
        return None;
    }
    let mut ok = true;
    for attr in block.attrs.values() {
        if CREDENTIAL_ATTRS.contains(&attr.name.as_str()) {
            diagnostics.push(
                Diagnostic::error(format!("`{}` does not belong in the configuration", attr.name))
                    .at(attr.name_span.clone(), "credentials are not read from here")
                    .help(
                        "credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, \
                         AWS_SESSION_TOKEN, AWS_PROFILE) or ~/.aws/credentials, so they never land in files or \
                         state",
                    ),
            );
            ok = false;
        } else if !S3_ATTRS.contains(&attr.name.as_str()) {
            diagnostics.push(super::load::unknown_attribute(
                &attr.name,
                &block.header(),
                &attr.name_span,
                S3_ATTRS,
            ));
            ok = false;
        }
    }
    for nested in &block.blocks {
        diagnostics.push(
            Diagnostic::error(format!("unexpected block `{}` in `{}`", nested.ident, block.header()))
                .at(nested.header_span.clone(), "not allowed here")
                .help(format!(
                    "`{}` accepts the attributes {}",
                    block.header(),
                    S3_ATTRS.join(", ")
                )),
        );
        ok = false;
    }
    let mut text = |name: &str| -> Option<String> {
        let attr = block.attrs.get(name)?;
        let value = literal(attr);
        if value.is_none() {
            diagnostics.push(
                Diagnostic::error(format!("`{name}` of the state backend must be a literal string"))
                    .at(attr.value_span.clone(), "not a literal string")
                    .help(
                        "the backend is read before variables and state exist, so its settings cannot refer to \
                         anything: write the value in quotes",
                    ),
            );
            ok = false;
        }
        value
    };
    let bucket = text("bucket");
    let key = text("key");
    let endpoint = text("endpoint");
    let region = text("region");
    for (name, value) in [("bucket", &bucket), ("key", &key)] {
        if value.is_none() && !block.attrs.contains_key(name) {
            diagnostics.push(
                Diagnostic::error(format!("the s3 backend needs `{name}`"))
                    .at(block.header_span.clone(), format!("`{name}` is missing"))
                    .help(if name == "bucket" {
                        "name the bucket that holds the state: `bucket = \"blockform-state\"` (it must exist)"
                    } else {
                        "name the prefix of this configuration's state in the bucket: `key = \"prod/storage\"`"
                    }),
            );
            ok = false;
        }
    }
    if let (Some(value), Some(attr)) = (&bucket, block.attrs.get("bucket"))
        && !valid_bucket(value)
    {
        diagnostics.push(
            Diagnostic::error(format!("`{value}` is not a valid bucket name"))
                .at(attr.value_span.clone(), "invalid bucket name")
                .help("bucket names are 3 to 63 lowercase letters, digits, `.` and `-`"),
        );
        ok = false;
    }
    if let (Some(value), Some(attr)) = (&key, block.attrs.get("key"))
        && (value.trim_matches('/').is_empty() || value.contains("//"))
    {
        diagnostics.push(
            Diagnostic::error(format!("`{value}` is not a usable state key"))
                .at(attr.value_span.clone(), "empty or with an empty path segment")
                .help("a key is a prefix like `prod/storage`"),
        );
        ok = false;
    }
    if let (Some(value), Some(attr)) = (&endpoint, block.attrs.get("endpoint"))
        && !(value.starts_with("http://") || value.starts_with("https://"))
    {
        diagnostics.push(
            Diagnostic::error(format!("`{value}` is not an endpoint URL"))
                .at(attr.value_span.clone(), "not an http:// or https:// URL")
                .help("write the endpoint as a URL, like `https://rgw.example:7480`"),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(BackendSettings {
        location: S3Location {
            bucket: bucket?,
            prefix: key?.trim_matches('/').to_owned(),
            endpoint,
            region,
        },
        span: block.span.clone(),
    })
}

/// The value of an attribute written as a literal string.
fn literal(attr: &Attr) -> Option<String> {
    match &attr.expr {
        Expression::String(s) => Some(s.value().clone()),
        _ => None,
    }
}

fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// The settings of the configuration in `dir`, read from its `blockform` blocks only (the
/// rest of the configuration is not evaluated); `Err` is the rendered diagnostics.
pub fn read_settings(dir: &Path) -> Result<Settings, String> {
    let mut sources = SourceMap::default();
    let mut diagnostics = Diagnostics::default();
    // A directory without configuration files (`state` commands on a bare state) has no
    // settings.
    let Ok(files) = super::load::config_files(dir) else {
        return Ok(Settings::default());
    };
    let mut settings = Settings::default();
    for path in files {
        let name = super::load::display_name(&path, dir);
        let text = super::load::read_source(&path, &name).map_err(|d| {
            diagnostics.push(d);
            render_human(&diagnostics, &sources, false)
        })?;
        // Every command that opens state comes here first, `plan` of a large configuration
        // too: only a file that can hold a `blockform` block is parsed.
        if !may_hold_settings(&text) {
            continue;
        }
        let file = sources.add(path, name, text.as_str());
        let parsed = super::load::parse_file(file, &text, &mut diagnostics).map_err(|d| {
            diagnostics.push(d);
            render_human(&diagnostics, &sources, false)
        })?;
        for block in parsed.blocks.iter().filter(|b| b.ident == "blockform") {
            collect_settings(block, &mut settings, &mut diagnostics);
        }
    }
    if diagnostics.has_errors() {
        diagnostics.sort();
        return Err(render_human(&diagnostics, &sources, false));
    }
    Ok(settings)
}

/// Whether `text` can have a top-level `blockform { … }` block: the word followed, on its line,
/// by the block's opening brace (HCL puts it on the header's line). A file where the words appear
/// in some other place (a heredoc) is parsed for nothing, never skipped wrongly.
fn may_hold_settings(text: &str) -> bool {
    text.match_indices("blockform")
        .any(|(at, word)| text[at + word.len()..].trim_start_matches([' ', '\t']).starts_with('{'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::parse_file;

    #[test]
    fn only_a_file_that_can_hold_the_block_is_parsed() {
        assert!(may_hold_settings("blockform {\n}\n"));
        assert!(may_hold_settings("# state\n  blockform\t{\n  backend \"s3\" {}\n}\n"));
        assert!(!may_hold_settings(
            "resource \"volume\" \"blockform\" {\n  size = 1\n}\n"
        ));
        assert!(!may_hold_settings("# blockform keeps its state in .blockform\n"));
    }

    #[test]
    fn a_syntax_error_in_a_file_without_settings_does_not_hide_them() {
        let dir = std::env::temp_dir().join(format!("blockform-settings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        std::fs::write(
            dir.join("a.hcl"),
            "blockform {\n  backend \"s3\" {\n    bucket = \"state\"\n    key    = \"k\"\n  }\n}\n",
        )
        .expect("write a.hcl");
        std::fs::write(dir.join("b.hcl"), "resource \"volume\" {{{\n").expect("write b.hcl");
        let settings = read_settings(&dir).expect("the settings are read");
        assert!(settings.backend.is_some());
        std::fs::write(dir.join("a.hcl"), "blockform {\n  backend \"s3\" {\n").expect("write a.hcl");
        let error = read_settings(&dir).expect_err("a broken blockform block is an error");
        assert!(error.contains("a.hcl"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The settings of `text` and the diagnostics, each as (message, the text pointed at).
    fn read(text: &str) -> (Settings, Vec<(String, String)>) {
        let mut sources = SourceMap::default();
        let mut diagnostics = Diagnostics::default();
        let file = sources.add("main.hcl".into(), "main.hcl".to_owned(), text);
        let parsed = parse_file(file, text, &mut diagnostics).expect("the test text parses");
        let mut settings = Settings::default();
        for block in parsed.blocks.iter().filter(|b| b.ident == "blockform") {
            collect_settings(block, &mut settings, &mut diagnostics);
        }
        let reported = diagnostics
            .iter()
            .map(|d| {
                (
                    d.summary.clone(),
                    d.span
                        .as_ref()
                        .map(|s| text[s.range.clone()].to_owned())
                        .unwrap_or_default(),
                )
            })
            .collect();
        (settings, reported)
    }

    #[test]
    fn an_s3_backend_block_names_bucket_key_endpoint_and_region() {
        let (settings, reported) = read(
            "blockform {\n  backend \"s3\" {\n    bucket   = \"blockform-state\"\n    key      = \"prod/storage/\"\n    \
             endpoint = \"https://rgw.example:7480\"\n    region   = \"eu-1\"\n  }\n}\n",
        );
        assert!(reported.is_empty(), "{reported:?}");
        let backend = settings.backend.unwrap();
        assert_eq!(
            backend.location,
            S3Location {
                bucket: "blockform-state".to_owned(),
                prefix: "prod/storage".to_owned(),
                endpoint: Some("https://rgw.example:7480".to_owned()),
                region: Some("eu-1".to_owned()),
            }
        );
        assert_eq!(settings_default_backend(), None);
    }

    fn settings_default_backend() -> Option<BackendSettings> {
        read("blockform {\n}\n").0.backend
    }

    #[test]
    fn bad_backend_blocks_are_reported_where_they_are_written() {
        let (settings, reported) = read(
            "blockform {\n  backend \"s3\" {\n    bucket     = var.bucket\n    secret_key = \"x\"\n    \
             endpont    = \"http://a\"\n  }\n}\n",
        );
        assert_eq!(settings.backend, None);
        let messages: Vec<(&str, &str)> = reported.iter().map(|(m, s)| (m.as_str(), s.as_str())).collect();
        assert_eq!(
            messages,
            [
                ("`secret_key` does not belong in the configuration", "secret_key"),
                ("unknown attribute `endpont` in `backend \"s3\"`", "endpont"),
                ("`bucket` of the state backend must be a literal string", "var.bucket"),
                ("the s3 backend needs `key`", "backend \"s3\""),
            ]
        );
        let (_, reported) = read("blockform {\n  backend \"consul\" {\n  }\n}\n");
        assert_eq!(reported[0].0, "unknown state backend `consul`");
        assert_eq!(reported[0].1, "\"consul\"");
        let (_, reported) = read(
            "blockform {\n  backend \"s3\" {\n    bucket = \"Bad_Bucket\"\n    key = \"k\"\n    endpoint = \
             \"rgw:7480\"\n  }\n}\n",
        );
        let messages: Vec<&str> = reported.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(
            messages,
            [
                "`Bad_Bucket` is not a valid bucket name",
                "`rgw:7480` is not an endpoint URL"
            ]
        );
        let (_, reported) = read(
            "blockform {\n  backend \"s3\" {\n    bucket = \"b-1\"\n    key = \"k\"\n  }\n  backend \"s3\" {\n    \
             bucket = \"b-2\"\n    key = \"k\"\n  }\n}\n",
        );
        assert_eq!(reported[0].0, "the state backend is declared twice");
    }
}
