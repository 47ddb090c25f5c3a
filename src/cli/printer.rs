//! The one place that writes to stdout and stderr. A closed pipe (`blockform … | head`) is not
//! an error: output simply stops.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};

/// Writes command output and messages.
#[derive(Debug)]
pub struct Printer {
    color: bool,
}

impl Printer {
    /// A printer; colours are used only when asked for and stderr is a terminal.
    pub fn new(color: bool) -> Printer {
        Printer {
            color: color && std::io::stderr().is_terminal(),
        }
    }

    /// Whether coloured output is on.
    pub fn color(&self) -> bool {
        self.color
    }

    /// Writes command output (stdout).
    pub fn out(&mut self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    /// Writes command output (stdout) as `write` produces it, through one buffer: for documents
    /// too large to build as one string first. A closed pipe simply stops the output.
    pub fn out_stream(&mut self, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
        let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        let _ = write(&mut stdout);
        let _ = stdout.flush();
    }

    /// Writes a message for people (stderr).
    pub fn message(&mut self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
    }

    /// Writes an error line (stderr).
    pub fn error(&mut self, text: &str) {
        let prefix = if self.color {
            "\u{1b}[1;31mError:\u{1b}[0m"
        } else {
            "Error:"
        };
        self.message(&format!("{prefix} {text}\n"));
    }
}
