//! `blockform fmt`: rewrite `*.hcl` and `*.bfvars` files in the canonical format.
//!
//! Exit codes follow `terraform fmt`: 0 done (or nothing to do), 3 with `--check` when some file
//! is not formatted, 2 when a file does not parse.

use std::path::{Path, PathBuf};

use super::ExitStatus;
use super::printer::Printer;
use crate::config::format::format_source;
use crate::config::load::{read_source, syntax_error};
use crate::diagnostics::{Diagnostics, SourceMap, render_human};

/// Arguments of `fmt`.
#[derive(Debug, clap::Args)]
#[allow(clippy::struct_excessive_bools)] // command-line switches
pub struct FmtArgs {
    /// Files or directories to format (default: the working directory).
    paths: Vec<PathBuf>,

    /// Change nothing; exit with 3 if any file is not formatted.
    #[arg(long)]
    check: bool,

    /// Show what would change as a unified diff.
    #[arg(long)]
    diff: bool,

    /// Also format files in subdirectories.
    #[arg(long)]
    recursive: bool,

    /// Write the formatted text back to the files (`--write=false` to only report).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    write: bool,

    /// List the files whose formatting changed (`--list=false` to list nothing).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    list: bool,
}

/// Runs `fmt`.
pub fn run(dir: &Path, args: &FmtArgs, printer: &mut Printer) -> ExitStatus {
    let roots: Vec<PathBuf> = if args.paths.is_empty() {
        vec![dir.to_path_buf()]
    } else {
        args.paths
            .iter()
            .map(|p| if p.is_absolute() { p.clone() } else { dir.join(p) })
            .collect()
    };
    let mut files = Vec::new();
    for root in &roots {
        if root.is_dir() {
            collect_files(root, args.recursive, &mut files);
        } else if root.is_file() {
            files.push(root.clone());
        } else {
            printer.error(&format!("`{}` does not exist", root.display()));
            return ExitStatus::Failure;
        }
    }
    let mut sources = SourceMap::default();
    let mut diagnostics = Diagnostics::default();
    let mut unformatted = false;
    let write = args.write && !args.check;
    for path in files {
        let name = crate::config::load::display_name(&path, dir);
        let text = match read_source(&path, &name) {
            Ok(t) => t,
            Err(d) => {
                diagnostics.push(d);
                continue;
            }
        };
        let formatted = match format_source(&text) {
            Ok(f) => f,
            Err(e) => {
                let file = sources.add(path.clone(), name, text.as_str());
                diagnostics.push(syntax_error(file, &text, &e));
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        unformatted = true;
        if args.list {
            printer.out(&format!("{name}\n"));
        }
        if args.diff {
            let diff = similar::TextDiff::from_lines(&text, &formatted);
            printer.out(
                &diff
                    .unified_diff()
                    .header(&format!("old/{name}"), &format!("new/{name}"))
                    .to_string(),
            );
        }
        if write && let Err(e) = write_atomically(&path, &formatted) {
            printer.error(&format!("cannot write `{name}`: {e}"));
            return ExitStatus::Failure;
        }
    }
    if !diagnostics.is_empty() {
        printer.message(&render_human(&diagnostics, &sources, printer.color()));
        return ExitStatus::Changes;
    }
    if args.check && unformatted {
        ExitStatus::NeedsFormat
    } else {
        ExitStatus::Success
    }
}

fn collect_files(dir: &Path, recursive: bool, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            // Hidden directories hold state and tool data, never configuration.
            if recursive && !name.starts_with('.') {
                collect_files(&path, recursive, files);
            }
        } else if path.extension().is_some_and(|e| e == "hcl" || e == "bfvars") {
            files.push(path);
        }
    }
}

/// Replaces a file's content so that a crash leaves either the old or the new text.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("fmt-tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, meta.permissions())?;
    }
    std::fs::rename(&tmp, path)
}
