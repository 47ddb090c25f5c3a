//! How the CLI draws the engine's events: on a terminal, an indicatif display with one line per
//! running operation (elapsed time, bytes of a long data operation) and an overall counter;
//! elsewhere (CI), plain timestamped lines: `volume.db: Creating…` then
//! `volume.db: Created in 0.41 s [volume-7f3c…]`. Notes and warnings go to stderr, results to
//! stdout, through the printer.
//!
//! Operation lines are command output, written here rather than through the printer because
//! they are drawn while operations run.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};

use super::printer::Printer;
use crate::apply::Step;
use crate::events::{Event, EventSink};
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

impl ProgressStyle {
    /// Live lines when stderr is a terminal, plain lines elsewhere.
    pub fn for_stderr() -> ProgressStyle {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressStyle::Terminal
        } else {
            ProgressStyle::Plain
        }
    }
}

/// The progress display of one apply.
pub struct Progress {
    style: ProgressStyle,
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<HashMap<String, ProgressBar>>,
    meters: Mutex<HashMap<String, ByteMeter>>,
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
            meters: Mutex::new(HashMap::new()),
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
        if let Ok(mut meters) = self.meters.lock() {
            meters.remove(&format!("{address}/{step:?}"));
        }
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
        let id = Some(crate::apply::object_id(change, step))
            .filter(|id| !id.is_empty())
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

    /// Bytes through a running operation, drawn on its line (its meter starts with the first).
    pub fn bytes(&self, address: &Address, step: Step, done: u64, total: u64) {
        let key = format!("{address}/{step:?}");
        let Ok(mut meters) = self.meters.lock() else { return };
        let meter = meters.entry(key).or_insert_with(|| {
            let bar = self
                .running
                .lock()
                .ok()
                .and_then(|running| running.get(&format!("{address}/{step:?}")).cloned());
            ByteMeter::new(address.to_string(), self.style, bar)
        });
        meter.update(done, total);
    }

    /// Removes the live display.
    pub fn finish(&self) {
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }
}

/// The CLI's event sink: notes and warnings through the printer, an apply's operations on a
/// [`Progress`] display made when the apply starts.
pub struct Display {
    printer: Mutex<Printer>,
    style: ProgressStyle,
    apply: Mutex<Option<std::sync::Arc<Progress>>>,
}

impl Display {
    /// A display printing with `color` (when stderr is a terminal), operations in `style`.
    pub fn new(color: bool, style: ProgressStyle) -> Display {
        Display {
            printer: Mutex::new(Printer::new(color)),
            style,
            apply: Mutex::new(None),
        }
    }

    fn progress(&self) -> Option<std::sync::Arc<Progress>> {
        self.apply.lock().ok().and_then(|p| p.clone())
    }

    fn print(&self, write: impl FnOnce(&mut Printer)) {
        if let Ok(mut printer) = self.printer.lock() {
            write(&mut printer);
        }
    }
}

impl EventSink for Display {
    fn event(&self, event: &Event<'_>) {
        match event {
            Event::Warnings { diagnostics, sources } => self.print(|printer| {
                let color = printer.color();
                printer.message(&crate::diagnostics::render_human(diagnostics, sources, color));
            }),
            Event::DriftBeforeErrors(plan) => self.print(|printer| {
                let color = printer.color();
                printer.out(&crate::render::human::render_drift(plan, color));
            }),
            Event::Notice(text) => self.print(|printer| printer.message(text)),
            Event::Output(text) => self.print(|printer| printer.out(text)),
            Event::ApplyStarted { operations } => {
                if let Ok(mut apply) = self.apply.lock() {
                    *apply = Some(std::sync::Arc::new(Progress::new(self.style, *operations)));
                }
            }
            Event::OperationStarted { change, step } => {
                if let Some(progress) = self.progress() {
                    progress.started(&change.address, *step, change);
                }
            }
            Event::Bytes {
                address,
                step,
                done,
                total,
            } => {
                if let Some(progress) = self.progress() {
                    progress.bytes(address, *step, *done, *total);
                }
            }
            Event::OperationFinished { change, step, elapsed } => {
                if let Some(progress) = self.progress() {
                    progress.finished(&change.address, *step, change, *elapsed);
                }
            }
            Event::OperationFailed { address, step, error } => {
                if let Some(progress) = self.progress() {
                    progress.failed(address, *step, error);
                }
            }
            Event::Retrying {
                provider,
                operation,
                attempt,
                attempts,
                delay,
                error,
            } => {
                let text = format!(
                    "provider `{provider}`: {operation} failed ({error}); trying again in {} (attempt {} of {attempts})",
                    blockform_provider::format_duration(*delay),
                    attempt + 1,
                );
                match self.progress() {
                    Some(progress) => progress.message(&text),
                    None => self.print(|printer| printer.message(&format!("{text}\n"))),
                }
            }
            Event::ApplyMessage(text) => {
                if let Some(progress) = self.progress() {
                    progress.message(text);
                }
            }
            Event::ApplyFinished => {
                if let Some(progress) = self.apply.lock().ok().and_then(|mut p| p.take()) {
                    progress.finish();
                }
            }
        }
    }
}

/// Bytes done of one long data operation (a backup or restore): throughput and time left, on a
/// terminal line, or in CI a plain line every quarter of the way.
pub struct ByteMeter {
    label: String,
    style: ProgressStyle,
    bar: Option<ProgressBar>,
    started: Instant,
    printed_quarters: Mutex<u64>,
    plain_on_stderr: bool,
}

impl ByteMeter {
    /// A meter for `label`, drawn on `bar` when there is one.
    pub fn new(label: String, style: ProgressStyle, bar: Option<ProgressBar>) -> ByteMeter {
        ByteMeter {
            label,
            style,
            bar,
            started: Instant::now(),
            printed_quarters: Mutex::new(0),
            plain_on_stderr: false,
        }
    }

    /// Writes plain lines to stderr, for commands whose stdout is their result.
    #[must_use]
    pub fn plain_on_stderr(mut self) -> ByteMeter {
        self.plain_on_stderr = true;
        self
    }

    /// Records that `done` of `total` bytes are through.
    pub fn update(&self, done: u64, total: u64) {
        let text = describe_bytes(done, total, self.started.elapsed());
        match (self.style, &self.bar) {
            (ProgressStyle::Terminal, Some(bar)) => bar.set_message(format!("{}: {text}", self.label)),
            (ProgressStyle::Terminal, None) => {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{}: {text}", self.label);
                if done >= total {
                    let _ = writeln!(err);
                }
                let _ = err.flush();
            }
            (ProgressStyle::Plain, _) => {
                let quarter = done.saturating_mul(4).checked_div(total).unwrap_or(4);
                let Ok(mut printed) = self.printed_quarters.lock() else {
                    return;
                };
                if quarter > *printed && done > 0 {
                    *printed = quarter;
                    let line = format!("[{}] {}: {text}\n", clock(), self.label);
                    if self.plain_on_stderr {
                        let _ = std::io::stderr().lock().write_all(line.as_bytes());
                    } else {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(line.as_bytes());
                        let _ = out.flush();
                    }
                }
            }
        }
    }
}

/// `512.0 MiB of 1.0 GiB (50 %), 310.2 MiB/s, 2 s left`.
pub fn describe_bytes(done: u64, total: u64, elapsed: Duration) -> String {
    #[allow(clippy::cast_precision_loss)]
    let (done_f, total_f) = (done as f64, total as f64);
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 { done_f / seconds } else { 0.0 };
    let percent = if total == 0 { 100.0 } else { done_f * 100.0 / total_f };
    let left = if rate > 0.0 && done < total {
        format!(", {:.0} s left", (total_f - done_f) / rate)
    } else {
        String::new()
    };
    format!(
        "{} of {} ({percent:.0} %), {}/s{left}",
        human_bytes(done_f),
        human_bytes(total_f),
        human_bytes(rate)
    )
}

/// Bytes in binary units with one decimal.
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod byte_tests {
    use super::*;

    #[test]
    fn bytes_read_with_rate_and_time_left() {
        assert_eq!(
            describe_bytes(512 << 20, 1 << 30, Duration::from_secs(2)),
            "512.0 MiB of 1.0 GiB (50 %), 256.0 MiB/s, 2 s left"
        );
        assert_eq!(
            describe_bytes(10, 10, Duration::from_secs(1)),
            "10 B of 10 B (100 %), 10 B/s"
        );
        assert_eq!(describe_bytes(0, 0, Duration::ZERO), "0 B of 0 B (100 %), 0 B/s");
    }
}
