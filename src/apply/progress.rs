//! Progress of an apply: on a terminal, an indicatif display with one line per running
//! operation (elapsed time) and an overall counter; elsewhere (CI), plain timestamped lines:
//! `volume.db: Creating…` then `volume.db: Created in 0.41 s [volume-7f3c…]`.
//!
//! This is command output, written here rather than through the CLI printer because it is drawn
//! while operations run.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};

use super::Step;
use crate::model::Address;
use crate::plan::{Change, StorageAction};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// Live lines on a terminal.
    Terminal,
    /// Plain timestamped lines (CI, pipes).
    Plain,
}

/// The progress display of one apply.
pub struct Progress {
    style: ProgressStyle,
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<HashMap<String, ProgressBar>>,
}

fn verbs(step: Step, change: &Change) -> (&'static str, &'static str) {
    match (step, &change.storage) {
        (Step::Update, Some(StorageAction::Extend { .. })) => ("Extending", "Extended"),
        (Step::Update, Some(StorageAction::Retype { .. })) => ("Retyping", "Retyped"),
        (Step::Update, _) => ("Modifying", "Modified"),
        (Step::Create, Some(StorageAction::Attach)) => ("Attaching", "Attached"),
        (Step::Create, Some(StorageAction::Backup)) => ("Backing up", "Backed up"),
        (Step::Create, Some(StorageAction::Restore)) => ("Restoring", "Restored"),
        (Step::Create, _) => ("Creating", "Created"),
        (Step::Delete, Some(StorageAction::Detach)) => ("Detaching", "Detached"),
        (Step::Delete, _) => ("Destroying", "Destroyed"),
    }
}

fn clock() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    // `2026-11-27T05:30:13Z` → `05:30:13`
    now.get(11..19).unwrap_or(&now).to_owned()
}

impl Progress {
    /// A display for `total` operations.
    pub fn new(style: ProgressStyle, total: usize) -> Progress {
        let multi = MultiProgress::with_draw_target(match style {
            ProgressStyle::Terminal => ProgressDrawTarget::stderr(),
            ProgressStyle::Plain => ProgressDrawTarget::hidden(),
        });
        let overall = multi.add(ProgressBar::new(total as u64));
        if let Ok(template) = indicatif::ProgressStyle::with_template("{pos}/{len} operations [{elapsed}] {wide_bar}") {
            overall.set_style(template);
        }
        Progress {
            style,
            multi,
            overall,
            running: Mutex::new(HashMap::new()),
        }
    }

    fn line(&self, text: &str) {
        match self.style {
            ProgressStyle::Terminal => {
                let _ = self.multi.println(text);
            }
            ProgressStyle::Plain => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "[{}] {text}", clock());
                let _ = out.flush();
            }
        }
    }

    /// An operation started.
    pub fn started(&self, address: &Address, step: Step, change: &Change) {
        let (doing, _) = verbs(step, change);
        match self.style {
            ProgressStyle::Terminal => {
                let bar = self.multi.insert_before(&self.overall, ProgressBar::new_spinner());
                if let Ok(template) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                    bar.set_style(template);
                }
                bar.set_message(format!("{address}: {doing}…"));
                bar.enable_steady_tick(Duration::from_millis(120));
                if let Ok(mut running) = self.running.lock() {
                    running.insert(format!("{address}/{step:?}"), bar);
                }
            }
            ProgressStyle::Plain => self.line(&format!("{address}: {doing}…")),
        }
    }

    fn stop(&self, address: &Address, step: Step) {
        if let Ok(mut running) = self.running.lock()
            && let Some(bar) = running.remove(&format!("{address}/{step:?}"))
        {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    /// An operation finished.
    pub fn finished(&self, address: &Address, step: Step, change: &Change, elapsed: Duration) {
        self.stop(address, step);
        self.overall.inc(1);
        let (_, done) = verbs(step, change);
        let id = change
            .backend_id
            .as_deref()
            .map(|id| format!(" [{id}]"))
            .unwrap_or_default();
        self.line(&format!("{address}: {done} in {:.2} s{id}", elapsed.as_secs_f64()));
    }

    /// An operation failed.
    pub fn failed(&self, address: &Address, step: Step, error: &str) {
        self.stop(address, step);
        self.overall.inc(1);
        let what = match step {
            Step::Create => "creating",
            Step::Update => "changing",
            Step::Delete => "destroying",
        };
        self.line(&format!("{address}: failed {what}: {error}"));
    }

    /// A message between the operation lines.
    pub fn message(&self, text: &str) {
        self.line(text);
    }

    /// Removes the live display.
    pub fn finish(&self) {
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }
}
